package machine

import (
	"context"
	"sync/atomic"

	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/syscalls"
)

// cpu is one vCPU and the guest thread it runs: its own ring-0 region
// (stacks and TSS, so that an exception on one vCPU never lands on
// another's stack), its own registers and run-loop state. Everything here
// is used only by the goroutine that runs the vCPU (bound to its OS
// thread while it runs), except where a field says otherwise.
type cpu struct {
	m *Machine
	// index is the vCPU's id, and where its ring-0 region lies
	// (kernelVirtOf).
	index int
	vcpu  *kvm.VCPU
	// kernel is the vCPU's ring 0, laid out in kernelRegion.
	kernel       *ring0.Kernel
	kernelRegion memmap.FileRange

	// task is the guest thread the vCPU runs, nil while it is idle;
	// thread is the same, for other goroutines (Interrupt) to find it.
	// threadRegs, when set, are all the registers a clone's child starts
	// with (loadUserContext).
	task       *syscalls.Task
	thread     atomic.Pointer[syscalls.Task]
	threadRegs *syscalls.UserRegs
	// start hands the vCPU's goroutine (cpuLoop) each thread to run, as
	// the context of the Run it starts in; nil for the boot vCPU, which
	// runs in Run's goroutine.
	start chan context.Context

	// ran says the vCPU has exited at least once: its run structure's
	// register copies are valid.
	ran bool

	// user is the user context run starts from (SetUserContext); started
	// says the vCPU has run it already.
	user    ring0.UserContext
	started bool
	// taskRegister is TR as ring 0 loads it (see markSregsDirty).
	taskRegister kvm.Segment
	// loadedCR3 is the CR3 KVM has loaded: what the last KVM_RUN exited
	// with, or what the last KVM_SET_SREGS set. A flush must write a
	// different value (reloadCR3): KVM resets its MMU, and so flushes the
	// guest's TLB and resyncs its shadows, only for a CR3 that differs
	// from the loaded one.
	loadedCR3 uint64
	// outRIP is the address of the `out` the vCPU last stopped at, and
	// outPort its port: KVM completes it on the next entry only if RIP is
	// still there, so a replay that moves RIP in between must put it back
	// past the `out` (outLength). Zero once the host has moved RIP itself.
	outRIP  uint64
	outPort uint16
	// repeat watches for a page fault that repeats without progress.
	repeat faultRepeat
	// stats is what this vCPU's run loop counts; Stats sums them.
	stats statsCollector
	// mapped records what the fault being served mapped (see
	// addressSpace.beginFault).
	mapped faultRecord

	// flushedGen is the Machine's flushGen this vCPU last flushed its
	// TLB for (shootdown.go).
	flushedGen uint64
	// inGuest is set while the vCPU is in, or about to enter, KVM_RUN;
	// exits counts the KVM_RUNs that returned. Both are read by other
	// vCPUs' shootdowns.
	inGuest atomic.Bool
	exits   atomic.Uint64
	// retired is the memory an exec on this vCPU replaced, released
	// after the vCPU's first exit on the new memory's tables.
	retired *processMemory
	// inRun is set while the vCPU's run loop (run) runs a thread: exec
	// waits for the other threads' to stop (waitOthersStopped).
	inRun atomic.Bool
}

// mem is the memory of the process whose thread the vCPU runs.
func (c *cpu) mem() *processMemory { return processOf(c.task).mem.Load() }

// allCPUs returns every vCPU made so far, boot first (none before New has
// made the first).
func (m *Machine) allCPUs() []*cpu {
	if p := m.cpus.Load(); p != nil {
		return *p
	}
	return nil
}
