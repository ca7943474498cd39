package machine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/pagetable"
	"github.com/mmvm/mmvm/ring0"
)

// StopKind says why Run returned.
type StopKind int

// Reasons Run returns.
const (
	// StopExit: the program called exit or exit_group.
	StopExit StopKind = iota + 1
	// StopSignal: the program was killed by a signal, as Linux would kill
	// it (a fault mm refused, an illegal instruction, ...).
	StopSignal
	// StopUserPort: user mode ran `out` to a user port (Config.UserPorts).
	StopUserPort
	// StopDeadline: Run's context ended first.
	StopDeadline
)

func (k StopKind) String() string {
	switch k {
	case StopExit:
		return "exit"
	case StopSignal:
		return "signal"
	case StopUserPort:
		return "user port"
	case StopDeadline:
		return "deadline"
	}
	return fmt.Sprintf("StopKind(%d)", int(k))
}

// Stop is how a Run ended.
type Stop struct {
	Kind StopKind
	// ExitCode is the program's exit status (StopExit).
	ExitCode int
	// Signal is the killing signal (StopSignal), Reason the one-line report
	// of why: the address, the access, RIP and the vma or its absence.
	Signal unix.Signal
	Reason string
	// Port and Value are the user port and AL (StopUserPort).
	Port  uint16
	Value byte
}

// Status is the exit status a shell would report: ExitCode, or 128+signal.
func (s Stop) Status() int {
	switch s.Kind {
	case StopExit:
		return s.ExitCode
	case StopSignal:
		return 128 + int(s.Signal)
	}
	return 0
}

// Run runs the program until it exits, is killed, executes a user-port `out`
// (only with Config.UserPorts) or ctx ends. Run may be called again after a
// StopUserPort or StopDeadline to continue. An error means mmvm itself
// could not go on (KVM failed, or the guest's kernel state broke), not that
// the program misbehaved.
func (m *Machine) Run(ctx context.Context) (Stop, error) {
	if m.boot == nil {
		return Stop{}, errors.New("machine: Run on a closed machine")
	}
	m.Process.SetContext(ctx) // ctx's end interrupts the calls being served too
	m.startRun(ctx)
	stop, err := m.boot.run(ctx)
	return m.finishRun(ctx, stop, err)
}

// Internal reasons a vCPU's run returns, never returned by Run.
const (
	// stopThreadExit: the vCPU's thread ended, the program goes on.
	stopThreadExit StopKind = -1 - iota
	// stopParked: Run is returning; the thread waits for the next Run.
	stopParked
)

// run runs the vCPU's thread until it or the program ends, the thread
// executes a user-port `out`, ctx ends or Run returns (stopParked).
func (c *cpu) run(ctx context.Context) (Stop, error) {
	if c.vcpu == nil {
		return Stop{}, errors.New("machine: Run on a closed machine")
	}
	if stop, done := c.ended(); done {
		return stop, nil
	}
	c.inRun.Store(true)
	defer c.inRun.Store(false)
	defer func() {
		// An exec whose program never ran: its old memory goes now.
		if old := c.retired; old != nil {
			c.retired = nil
			old.release()
		}
	}()
	c.vcpu.BindThread()
	defer c.vcpu.UnbindThread()
	// The thread's CPU time is this host thread's while it runs it.
	c.task.StartCPUClock()
	defer c.task.StopCPUClock()
	stopKick := context.AfterFunc(ctx, func() { _ = c.vcpu.Kick() })
	defer stopKick()

	if !c.started {
		if err := c.loadUserContext(); err != nil {
			return Stop{}, err
		}
		c.started = true
	}
	defer c.vcpu.SetRawRun(false)
	rec := newFaultRecorder(c.m.trace)
	sync := c.vcpu.Sync()
	st := &c.stats
	short := true // the last KVM_RUN returned quickly: see rawRunWithin
	for {
		if err := c.enterGuest(); err != nil {
			return Stop{}, err
		}
		enter := time.Now()
		if st.faultPending {
			st.faultLatency.Record(enter.Sub(st.faultStart))
			st.faultPending = false
		}
		rec.entering(enter)
		c.vcpu.SetRawRun(c.m.fast.RawRun && short)
		reason, err := c.vcpu.Run()
		c.leftGuest()
		c.loadedCR3 = sync.Sregs.CR3
		c.ran = true
		if old := c.retired; old != nil {
			c.retired = nil
			old.release()
		}
		if err != nil {
			return Stop{}, fmt.Errorf("machine: %w", err)
		}
		c.m.vcpuRan.Store(true)
		c.outRIP = 0
		exit := time.Now()
		rec.exited(exit)
		short = exit.Sub(enter) < rawRunWithin
		switch reason {
		case kvm.ExitIO:
			io, _ := c.vcpu.IO()
			c.outRIP, c.outPort = sync.Regs.RIP, io.Port
			ev, err := c.kernel.Decode(c.exitOf(io.Port))
			if err != nil {
				return Stop{}, fmt.Errorf("machine: exit at rip %#x: %w", sync.Regs.RIP, err)
			}
			rec.decodedExit()
			switch ev.Kind {
			case ring0.EventException:
				if stop, done, err := c.handleException(&ev, exit, rec); done || err != nil {
					return stop, err
				}
			case ring0.EventSyscall:
				c.repeat.reset()
				if stop, done := c.handleSyscall(&ev); done {
					return stop, nil
				}
				if stop, done := c.ended(); done {
					return stop, nil
				}
				if ctx.Err() != nil {
					// The deadline ended the call (EINTR); the program
					// runs no further, as the kick would have stopped it.
					return Stop{Kind: StopDeadline, Reason: ctx.Err().Error()}, nil
				}
			case ring0.EventUserPort:
				if c != c.m.boot {
					return Stop{}, errThreadUserPort
				}
				c.repeat.reset()
				st.exits[exitUserPort]++
				var v byte
				if len(io.Data) > 0 {
					v = io.Data[0]
				}
				return Stop{Kind: StopUserPort, Port: io.Port, Value: v}, nil
			default:
				return Stop{}, fmt.Errorf("machine: unknown ring-0 event %v", ev.Kind)
			}
		case kvm.ExitIntr:
			st.exits[exitInterrupt]++
			if ctx.Err() != nil {
				return Stop{Kind: StopDeadline, Reason: ctx.Err().Error()}, nil
			}
			if stop, done := c.ended(); done {
				return stop, nil
			}
			if c.m.parking() {
				return Stop{Kind: stopParked}, nil
			}
			if err := c.takeSignals(); err != nil {
				return Stop{}, err
			}
		default:
			return Stop{}, c.vcpu.UnexpectedExit(reason)
		}
	}
}

// rawRunWithin is how short a KVM_RUN must have been for FastPath.RawRun
// to enter the next one raw. A raw KVM_RUN keeps the thread's P, so the
// runtime interrupts one that runs for 10 ms with a preemption signal, and
// each such interruption costs a whole exit and entry; after a long run
// (a guest computing rather than faulting) the next entry goes through the
// scheduler, which lets the guest run undisturbed.
const rawRunWithin = time.Millisecond

// loadUserContext loads the user context of SetUserContext by ioctl: the
// run structure's register copies are only valid after a first exit.
func (c *cpu) loadUserContext() error {
	sync := c.vcpu.Sync()
	if !c.ran {
		// The run structure's copies are only filled at an exit; the
		// replay below starts from them.
		if err := c.vcpu.GetRegs(&sync.Regs); err != nil {
			return fmt.Errorf("machine: reading registers: %w", err)
		}
		if err := c.vcpu.GetSregs(&sync.Sregs); err != nil {
			return fmt.Errorf("machine: reading special registers: %w", err)
		}
	}
	// The journal is replayed (or, before the first run, dropped) in the
	// state of the last exit, which the sync registers hold; the ioctls
	// below then load the new context over whatever the replay left, and
	// no sync-register write may override them on entry. Shadows are
	// the VM's, not the vCPU's: a new thread's vCPU must not start on
	// them before they are replayed either. The replay runs on the kernel
	// tables: the tables the vCPU last ran on may be an ended process's,
	// released since. An event the vCPU was delivering for the thread it
	// ran before (kicked while it vectored a fault) is dropped: it
	// belongs to that thread's context, not to the one loaded here.
	sync.Sregs.CR3 = c.mem().pt.Root()
	if c.ran {
		var ev kvm.VCPUEvents
		if err := c.vcpu.GetVCPUEvents(&ev); err != nil {
			return fmt.Errorf("machine: reading the vCPU's events: %w", err)
		}
		if ev.Delivering() {
			ev.Drop()
			if err := c.vcpu.SetVCPUEvents(&ev); err != nil {
				return fmt.Errorf("machine: dropping the vCPU's events: %w", err)
			}
		}
	}
	// The generation is read before the replay: a shootdown after this
	// read may have journaled stores the replay misses, and leaves the
	// vCPU behind it, to flush again before it enters.
	gen := c.m.flushGen.Load()
	c.m.as.mu.Lock()
	err := c.replayTables()
	c.m.as.mu.Unlock()
	if err != nil {
		return err
	}
	c.vcpu.ClearSyncDirty()
	c.outRIP = 0
	regs := kvm.Regs{RIP: c.user.RIP, RSP: c.user.RSP, RFLAGS: c.user.RFLAGS}
	if r := c.threadRegs; r != nil {
		// A clone's child starts with its parent's registers.
		regs = kvm.Regs{R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
			RDI: r.RDI, RSI: r.RSI, RBP: r.RBP, RBX: r.RBX, RDX: r.RDX, RAX: r.RAX, RCX: r.RCX,
			RSP: r.RSP, RIP: r.RIP, RFLAGS: ring0.TrampolineRFLAGS(r.RFLAGS)}
		c.threadRegs = nil
	}
	if err := c.vcpu.SetRegs(&regs); err != nil {
		return fmt.Errorf("machine: setting user registers: %w", err)
	}
	var s kvm.Sregs
	if err := c.vcpu.GetSregs(&s); err != nil {
		return fmt.Errorf("machine: reading special registers: %w", err)
	}
	c.loadedCR3 = s.CR3
	applySregs(&s, c.kernel.UserSpecialRegisters(c.mem().pt.Root()))
	if fs, _ := c.task.FSBase(); fs != 0 {
		s.FS.Base = fs
	}
	// The load below flushes the TLB only if it changes CR3 (KVM resets
	// the MMU for a new value only), and a vCPU an ended thread ran may
	// hold translations shot down since: make CR3 differ (see reloadCR3),
	// and the load flushes every change made up to the replay above.
	s.CR3 = c.reloadCR3(c.mem().pt.Root())
	c.flushedGen = gen
	if err := c.vcpu.SetSregs(&s); err != nil {
		return fmt.Errorf("machine: setting special registers: %w", err)
	}
	c.loadedCR3 = s.CR3
	// What the ioctls loaded becomes the run structure's copies too, so
	// that a flush before the first exit (reloadCR3, markSregsDirty)
	// writes this context back, not the last exit's.
	sync.Regs, sync.Sregs = regs, s
	return nil
}

// cr3PWT is CR3's page-level write-through bit: toggling it changes CR3's
// value without changing the page tables it names.
const cr3PWT = 1 << 3

// flushTLB makes pending page-table changes visible to the guest before it
// runs again. Writing CR3 through the special registers with a different
// value makes KVM load a new paging root, which flushes the guest's
// non-global translations; toggling the PWT bit gives a different value
// naming the same tables (PWT only affects how the PML4 itself is cached).
//
// Under TableSyncReplay the journaled stores are replayed first (see
// replayTables): the flush alone does not reach a shadowing KVM. Whichever
// vCPU flushes first after a shootdown replays; the others find the
// journal empty.
//
// It returns false, having done nothing, while the vCPU is delivering an
// event (errEventInDelivery): the delivery enters ring 0, which exits at
// once without running user code, and the flush is made before the entry
// after that exit.
func (c *cpu) flushTLB() (bool, error) {
	as := c.mem().as
	as.mu.Lock()
	err := c.replayTables()
	if errors.Is(err, errEventInDelivery) {
		as.mu.Unlock()
		return false, nil
	}
	fl := as.flush
	as.flush = pagetable.Flush{}
	as.mu.Unlock()
	if err != nil {
		return false, err
	}
	if fl.Global {
		return false, fmt.Errorf("machine: a global (kernel) translation changed at run time: %v", fl.Range)
	}
	c.vcpu.Sync().Sregs.CR3 = c.reloadCR3(c.mem().pt.Root())
	c.stats.tlbFlushes++
	return true, c.markSregsDirty(0)
}

// reloadCR3 returns the CR3 that makes the vCPU's next entry load the
// tables at root afresh (root is the tables the vCPU runs on, or, for a
// process that exec'ed, its new ones): root itself, or with PWT set where
// root is what KVM has loaded (loadedCR3). It is chosen against what KVM
// has, not against the last value written: two flushes between the same
// two entries (a shootdown during the first) must not flip the bit back
// to the loaded value, which KVM would take for no change at all.
func (c *cpu) reloadCR3(root uint64) uint64 {
	return reloadedCR3(root, c.loadedCR3)
}

// reloadedCR3 is reloadCR3's choice for a KVM that has loaded loaded.
func reloadedCR3(root, loaded uint64) uint64 {
	if root == loaded {
		return root | cr3PWT
	}
	return root
}

// markSregsDirty makes the next entry load the special registers (and the
// sets in also) from the run structure. KVM on AMD reports TR as busy
// whatever it was loaded as; TR is put back as ring 0 set it, since an
// available TSS is what QEMU's I/O permission check needs (ring0.Config's
// AvailableTSS).
func (c *cpu) markSregsDirty(also kvm.SyncSet) error {
	c.vcpu.Sync().Sregs.TR = c.taskRegister
	return c.vcpu.MarkSyncDirty(kvm.SyncRegsSregs | also)
}

// isIntN reports whether the user instruction at rip is `int imm8` (CD ib).
func (c *cpu) isIntN(rip uint64) bool {
	var b [1]byte
	n, _ := c.mem().mm.CopyIn(arch.Addr(rip), b[:], mm.IOOpts{IgnorePermissions: true})
	return n == 1 && b[0] == 0xCD
}

// handleException serves an exception vector: a user page fault goes to mm;
// anything else, or a fault mm refuses, sends the program Linux's signal,
// which runs its handler or kills it. done reports that Run must return
// stop.
func (c *cpu) handleException(ev *ring0.Event, exit time.Time, rec *faultRecorder) (stop Stop, done bool, err error) {
	st := &c.stats
	if !ev.User {
		return Stop{}, true, fmt.Errorf("machine: %v in ring 0 at rip %#x (error code %#x, cr2 %#x): the guest kernel state is broken",
			ev.Vector, ev.Context.RIP, ev.ErrorCode, ev.FaultAddr)
	}
	if ev.Vector != ring0.PageFault {
		c.repeat.reset()
		st.exits[exitException]++
		if ev.Vector == ring0.InvalidOpcode && c.isIntN(ev.Context.RIP) {
			// PVM raises #UD for `int n` where hardware raises #GP
			// (no gate, or a gate above the caller's privilege);
			// Linux kills with SIGSEGV either way.
			ev.Vector = ring0.GeneralProtection
		}
		return c.deliverFault(ev, faultOf(ev, vcpuFPU{c}.image))
	}
	st.exits[exitPageFault]++
	pf := ring0.PageFaultError(ev.ErrorCode)
	if isVsyscallCall(ev, pf) && c.m.vsyscall() == VsyscallXOnly {
		return c.emulateVsyscall(ev)
	}
	if c.repeat.observe(ev) {
		c.repeat.reset()
		return c.deliverFault(ev, repeatedFault(ev))
	}
	st.faultStart = exit
	st.faultPending = true
	// PVM reports some user accesses to the kernel half with the
	// reserved bit set (../shared/pvm-kvm.md); only a user address's
	// fault walked mmvm's own user tables.
	if pf.Has(ring0.PFReserved) && ring0.IsUserAddress(ev.FaultAddr) {
		return Stop{}, true, fmt.Errorf("machine: reserved bit set in a page-table entry for %#x (rip %#x): mmvm's page tables are corrupt", ev.FaultAddr, ev.Context.RIP)
	}
	mem := c.mem()
	mem.as.beginFault(&c.mapped)
	ferr := mem.mm.HandleThreadFault(arch.Addr(ev.FaultAddr), pf.Access(), int32(c.task.TID()))
	mapped := mem.as.takeMapped(&c.mapped)
	if w, ok := mm.UserFaultWaitOf(ferr); ok {
		st.faultPending = false
		return c.waitUserFault(ev, w)
	}
	if ferr == nil {
		st.faults++
		var pages uint64
		for _, fr := range mapped {
			pages += fr.Length() / arch.PageSize
		}
		return Stop{}, false, c.afterFault(ev, pf.Access(), pages, mapped, rec)
	}
	st.faultPending = false
	if fe, ok := faultErrorOf(ferr); ok {
		return c.deliverFault(ev, pageFaultOf(ev, fe))
	}
	return Stop{}, true, fmt.Errorf("machine: page fault at %#x (rip %#x): %w", ev.FaultAddr, ev.Context.RIP, ferr)
}

// handleSyscall serves a system call through the Process and resumes the
// program through the stub's sysretq with the result in RAX, or directly
// where the call changed more than RAX (a signal handler's entry, or
// rt_sigreturn).
func (c *cpu) handleSyscall(ev *ring0.Event) (Stop, bool) {
	c.stats.exits[exitSyscall]++
	sync := c.vcpu.Sync()
	r := &sync.Regs
	regs := userRegsOf(r, ev.Context)
	redirected := c.task.HandleSyscall(&regs)
	c.m.refreshClock()
	if stop, done := c.ended(); done {
		return stop, true
	}
	fs, fsChanged := c.task.FSBase()
	if fsChanged {
		sync.Sregs.FS.Base = fs
	}
	var err error
	switch {
	case redirected:
		err = c.resumeWith(&regs)
	case !ev.DirectResumes:
		// SYSRET to a non-canonical RIP would fault in ring 0; Linux
		// kills such a task with SIGSEGV on its way out.
		return Stop{Kind: StopSignal, Signal: unix.SIGSEGV, Reason: fmt.Sprintf("SIGSEGV: syscall returning to non-canonical rip %#x", ev.Context.RIP)}, true
	case !ev.StubResumes || c.m.fast.DirectResume:
		// The trampoline (SyscallInUser) has no way back but this one.
		r.RAX = regs.RAX
		err = c.resumeDirect(ev.Context)
	case fsChanged:
		r.RAX = regs.RAX
		err = c.markSregsDirty(kvm.SyncRegsGPR)
	default:
		r.RAX = regs.RAX
		err = c.vcpu.MarkSyncDirty(kvm.SyncRegsGPR)
	}
	if err != nil {
		return Stop{Kind: StopSignal, Signal: unix.SIGKILL, Reason: err.Error()}, true
	}
	return Stop{}, false
}

// afterFault finishes a page fault mm resolved: it populates what the fault
// mapped (FastPath.Populate), records the breakdown (FaultTrace) and sets up
// a direct resume (FastPath.DirectResume).
func (c *cpu) afterFault(ev *ring0.Event, at arch.AccessType, pages uint64, mapped []memmap.FileRange, rec *faultRecorder) error {
	rec.handledFault()
	if c.m.fast.Populate {
		c.m.populateMapped(mapped)
	}
	rec.populatedFault(ev, at, pages)
	if c.m.fast.DirectResume && ev.DirectResumes {
		return c.resumeDirect(ev.Context)
	}
	return nil
}
