package kvm

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KickSignal is the signal Kick sends to a vCPU's thread to interrupt
// KVM_RUN. Go's runtime already sends SIGURG to its own threads to preempt
// goroutines and treats an unexpected one as harmless, so it is safe to
// send to any Go thread at any time (programs must not os/signal.Notify it).
const KickSignal = unix.SIGURG

// VCPU is one virtual CPU: its fd and its mapped run structure.
//
// Run must be called from a single goroutine locked to its OS thread (call
// BindThread first, from that goroutine): KVM expects a vCPU to stay on one
// thread (moving it costs an RCU grace period per move), and Kick signals
// that thread. Every other method may be called from any goroutine, but
// register and exit-data accessors only make sense while Run is not
// running.
type VCPU struct {
	h  fdHandle
	id int
	vm *VM
	// mem is the mapping of the vCPU fd: struct kvm_run, then the PIO data
	// page and the coalesced MMIO ring. Unmapped by close.
	mem []byte
	// run points at mem[0]. ImmediateExit is written concurrently by Kick
	// (atomically) and by Run; the kernel reads it on entry.
	run *runData
	// tid is the OS thread bound by BindThread (0: unbound). Read by Kick
	// from other goroutines, hence atomic.
	tid atomic.Int32
	// syncSupported is the VM's KVM_CAP_SYNC_REGS mask.
	syncSupported SyncSet
	// rawRun selects RawSyscall for KVM_RUN (see SetRawRun). Only the
	// running goroutine touches it.
	rawRun bool
}

// BindThread locks the calling goroutine to its OS thread (LockOSThread)
// and records that thread as the one that runs this vCPU and that Kick
// signals. Call it once, from the goroutine that will call Run; undo with
// UnbindThread from the same goroutine.
func (c *VCPU) BindThread() {
	runtime.LockOSThread()
	c.tid.Store(int32(unix.Gettid()))
}

// UnbindThread reverses BindThread.
func (c *VCPU) UnbindThread() {
	c.tid.Store(0)
	runtime.UnlockOSThread()
}

// SetRawRun makes Run enter KVM_RUN with RawSyscall instead of Syscall.
// RawSyscall does not tell the Go scheduler the thread is blocked, which
// roughly halves the cost of an exit round trip under QEMU's emulation, but
// keeps the thread's P for the whole time the guest runs; other goroutines
// then wait for a preemption signal (which interrupts KVM_RUN) to be
// scheduled, and after one the call goes on through Syscall. Use it when
// the guest exits often.
func (c *VCPU) SetRawRun(raw bool) { c.rawRun = raw }

// immediateExitWord is the aligned 32-bit word holding immediate_exit
// (byte 1 on little-endian x86), so that Kick can set it atomically
// without disturbing request_interrupt_window (byte 0).
func (c *VCPU) immediateExitWord() *uint32 { return (*uint32)(unsafe.Pointer(c.run)) }

const immediateExitBit = 1 << 8

// Kick makes the vCPU leave guest mode: its current or next Run returns
// ExitIntr (and no error). Safe from any goroutine, at any time; a kick
// that arrives while Run is not in KVM_RUN is kept for the next Run. It
// sets immediate_exit in the run structure (so a Run that is about to enter
// returns at once) and signals the bound thread (so a Run already in the
// guest is interrupted).
func (c *VCPU) Kick() error {
	if _, err := c.h.get(); err != nil {
		return err
	}
	defer c.h.mu.RUnlock()
	atomic.OrUint32(c.immediateExitWord(), immediateExitBit)
	tid := c.tid.Load()
	if tid == 0 {
		return nil
	}
	if err := unix.Tgkill(unix.Getpid(), int(tid), KickSignal); err != nil && err != unix.ESRCH {
		return fmt.Errorf("kvm: kicking vCPU %d: %w", c.id, err)
	}
	return nil
}

// consumeKick clears a pending kick and reports whether there was one.
func (c *VCPU) consumeKick() bool {
	old := atomic.AndUint32(c.immediateExitWord(), ^uint32(immediateExitBit))
	return old&immediateExitBit != 0
}

// Run enters the guest until it exits to user space and returns why.
// EINTR from a signal that was not a kick (Go's preemption signal, for one)
// is retried; a kick returns ExitIntr. Exits that need the host's help
// (ExitIO, ExitMMIO, ...) are the caller's to handle before the next Run;
// ExitShutdown, ExitFailEntry and ExitInternalError are returned as exits
// too: turn them into errors with UnexpectedExit.
func (c *VCPU) Run() (ExitReason, error) {
	if c.tid.Load() == 0 {
		return 0, ErrNotBound
	}
	fd, err := c.h.get()
	if err != nil {
		return 0, err
	}
	defer c.h.mu.RUnlock()
	raw := c.rawRun
	for {
		var e unix.Errno
		if raw {
			_, _, e = unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), reqRun, 0)
		} else {
			_, _, e = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), reqRun, 0)
		}
		switch e {
		case 0:
			return ExitReason(c.run.ExitReason), nil
		case unix.EINTR:
			if c.consumeKick() {
				return ExitIntr, nil
			}
			if raw {
				// The signal was most likely the runtime asking this
				// goroutine to yield; RawSyscall and this loop have no
				// preemption point, so yield here or a kick's timer may
				// never get to run. The guest ran long enough to be
				// preempted: go on through the scheduler, which does
				// not interrupt a call it knows is blocked.
				runtime.Gosched()
				raw = false
			}
			continue
		case unix.EAGAIN:
			// A vCPU woken from a halt-like state with nothing to do; Linux
			// asks user space to try again.
			continue
		}
		return 0, &IoctlError{Op: fmt.Sprintf("KVM_RUN (vCPU %d)", c.id), Err: e}
	}
}

// ExitReason is the reason of the last exit, as the run structure holds it.
func (c *VCPU) ExitReason() ExitReason { return ExitReason(c.run.ExitReason) }

func exitData[T any](c *VCPU) *T { return (*T)(unsafe.Pointer(&c.run.Exit[0])) }

// IO returns the details of a KVM_EXIT_IO. Valid only right after Run
// returned ExitIO; ok is false for another exit or a malformed one.
func (c *VCPU) IO() (IOExit, bool) {
	if c.ExitReason() != ExitIO {
		return IOExit{}, false
	}
	d := exitData[ioExitData](c)
	n := uint64(d.Size) * uint64(d.Count)
	if d.DataOffset > uint64(len(c.mem)) || n > uint64(len(c.mem))-d.DataOffset {
		return IOExit{}, false
	}
	return IOExit{Direction: IODirection(d.Direction), Port: d.Port, Size: d.Size, Count: d.Count,
		Data: c.mem[d.DataOffset : d.DataOffset+n : d.DataOffset+n]}, true
}

// MMIO returns the details of a KVM_EXIT_MMIO (see IO).
func (c *VCPU) MMIO() (MMIOExit, bool) {
	if c.ExitReason() != ExitMMIO {
		return MMIOExit{}, false
	}
	d := exitData[mmioExitData](c)
	if d.Len > uint32(len(d.Data)) {
		return MMIOExit{}, false
	}
	return MMIOExit{PhysAddr: d.PhysAddr, IsWrite: d.IsWrite != 0, Data: d.Data[:d.Len:d.Len]}, true
}

// UnexpectedExit builds the error for an exit its caller cannot handle:
// the reason, RIP and CPL (from the synced registers when they are there,
// else by ioctl) and the reason-specific details.
func (c *VCPU) UnexpectedExit(reason ExitReason) error {
	e := &ExitError{Reason: reason}
	switch reason {
	case ExitFailEntry:
		e.HardwareReason = exitData[failEntryData](c).HardwareEntryFailureReason
	case ExitUnknown:
		e.HardwareReason = exitData[hwExitData](c).HardwareExitReason
	case ExitException:
		d := exitData[exceptionData](c)
		e.Data = []uint64{uint64(d.Exception), uint64(d.ErrorCode)}
	case ExitInternalError:
		d := exitData[internalErrorData](c)
		e.Suberror = d.Suberror
		e.Data = append([]uint64(nil), d.Data[:min(d.NData, uint32(len(d.Data)))]...)
	}
	regs, sregs, err := c.stateForError()
	if err != nil {
		e.StateErr = err
		return e
	}
	e.RIP = regs.RIP
	e.CPL = CPL(sregs)
	return e
}

func (c *VCPU) stateForError() (*Regs, *Sregs, error) {
	valid := SyncSet(c.run.ValidRegs)
	if valid&(SyncRegsGPR|SyncRegsSregs) == SyncRegsGPR|SyncRegsSregs {
		return &c.run.Sync.Regs, &c.run.Sync.Sregs, nil
	}
	var regs Regs
	var sregs Sregs
	if err := c.GetRegs(&regs); err != nil {
		return nil, nil, err
	}
	if err := c.GetSregs(&sregs); err != nil {
		return nil, nil, err
	}
	return &regs, &sregs, nil
}

// CPL is the current privilege level the special registers describe: 0 in
// real mode, else SS.DPL (which both VMX and SVM keep equal to the CPL).
func CPL(s *Sregs) uint8 {
	if s.CR0&1 == 0 {
		return 0
	}
	return s.SS.DPL
}

// Close unmaps the run structure and closes the vCPU fd, kicking the vCPU
// first and waiting for a running Run to return.
func (c *VCPU) Close() error {
	err := c.close()
	c.vm.forget(c)
	return err
}

// close unmaps the run structure and closes the fd in one critical
// section: Kick and Run hold the read lock from seeing an open fd to their
// last use of the run structure, so none of them can find the fd open and
// the run structure gone.
func (c *VCPU) close() error {
	c.Kick()
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if c.h.fd < 0 {
		return nil
	}
	c.run = nil
	err := unix.Munmap(c.mem)
	c.mem = nil
	if cerr := unix.Close(c.h.fd); err == nil {
		err = cerr
	}
	c.h.fd = -1
	return err
}
