package machine

import (
	"runtime"
	"time"

	"github.com/mmvm/mmvm/syscalls"
)

// # TLB shootdown
//
// A host write that removes or narrows a translation reaches a vCPU only
// when it next flushes (flushTLB: a CR3 reload, after a replay where KVM
// shadows the tables); a vCPU in guest mode meanwhile keeps using what its
// TLB and KVM's shadow hold. So the change's writer, still inside mm's
// call and before mm lets go of the old pages, shoots it down: it moves
// the machine's flush generation on, kicks every vCPU in guest mode out of
// KVM_RUN and waits until each has left. A vCPU flushes before any entry
// that finds the generation moved past the one it last flushed for.
//
// The entry side (cpu.enterGuest) marks the vCPU in guest mode, then
// reads the generation; the writer moves the generation, then reads the
// marks. Both are sequentially consistent atomics, so either the writer
// sees the mark and kicks, or the vCPU sees the new generation and
// flushes first. A kick that lands before KVM_RUN makes it return at once
// (kvm.VCPU.Kick sets immediate_exit), so the window between the check
// and the entry is covered too.

// shootdown makes a narrowing page-table change visible to every vCPU
// before it runs user code again; see the top of this file. It is the
// addressSpace's narrowed hook, called with the addressSpace's lock held.
func (m *Machine) shootdown() {
	m.flushGen.Add(1)
	cpus := m.allCPUs()
	if len(cpus) > 1 {
		m.shootdowns.Add(1)
	}
	for _, c := range cpus {
		if c.kickOut() {
			m.shootdownKicks.Add(1)
		}
	}
}

// kickOut makes the vCPU leave guest mode if it is in it and waits until
// it has (KVM_RUN returned); it says whether it kicked. A vCPU that
// enters again after that has passed a VM exit since the call began.
func (c *cpu) kickOut() bool {
	if !c.inGuest.Load() {
		return false
	}
	exits := c.exits.Load()
	if err := c.vcpu.Kick(); err != nil {
		return false // closed: it runs no more
	}
	for spins := 0; c.inGuest.Load() && c.exits.Load() == exits; spins++ {
		// A kicked vCPU leaves within a signal's delivery; a few
		// yields cover it on an idle host, short sleeps after that
		// keep the waiting thread off the CPU the kicked one needs.
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
	return true
}

// barrier is syscalls.Config.Barrier (membarrier's expedited commands):
// every vCPU running a thread which picks, but self's, is kicked out of
// guest mode and waited for. A VM exit is serializing and orders the
// vCPU's earlier memory accesses before the host's, as Linux's IPI
// does; a vCPU not in guest mode enters it again only through KVM_RUN,
// which is as good.
func (m *Machine) barrier(self *syscalls.Task, which func(*syscalls.Task) bool) {
	for _, c := range m.allCPUs() {
		if t := c.thread.Load(); t != nil && t != self && which(t) {
			c.kickOut()
		}
	}
}

// enterGuest marks the vCPU in guest mode, flushing first if a shootdown
// has happened since its last flush; the caller enters KVM_RUN next and
// calls leftGuest as soon as it returns.
func (c *cpu) enterGuest() error {
	for {
		c.inGuest.Store(true)
		gen := c.m.flushGen.Load()
		if gen == c.flushedGen {
			return nil
		}
		c.inGuest.Store(false)
		flushed, err := c.flushTLB()
		if err != nil {
			return err
		}
		if !flushed {
			// The vCPU finishes delivering an event into ring 0 and
			// exits; the next entry flushes (see flushTLB).
			c.inGuest.Store(true)
			return nil
		}
		c.flushedGen = gen
	}
}

// leftGuest records that KVM_RUN returned.
func (c *cpu) leftGuest() {
	c.exits.Add(1)
	c.inGuest.Store(false)
}
