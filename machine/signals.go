package machine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/syscalls"
)

// vcpuFPU moves the vCPU's x87 and SSE state for signal frames through
// KVM's XSAVE area, whose first 512 bytes are the FXSAVE image (KVM_GET_FPU
// leaves MXCSR out). The guest has no XSAVE, so x87 and SSE are all of its
// FPU state.
type vcpuFPU struct{ c *cpu }

// xstateBV is where the XSAVE header's XSTATE_BV lies in the area, and
// xstateFPSSE its x87 and SSE bits: set, XRSTOR loads those components
// from the image rather than their initial state.
const (
	xstateBV    = 512
	xstateFPSSE = 0x3
	// fxsaveSWReserved is where the FXSAVE image's software-reserved
	// bytes begin, which the processor neither reads nor writes.
	fxsaveSWReserved = 464
)

func (f vcpuFPU) SaveFPU(dst *[512]byte) error {
	area, err := f.c.vcpu.GetXSave()
	if err != nil {
		return err
	}
	copy(dst[:], area)
	return nil
}

func (f vcpuFPU) RestoreFPU(src *[512]byte) error {
	area, err := f.c.vcpu.GetXSave()
	if err != nil {
		return err
	}
	copy(area[:fxsaveSWReserved], src[:fxsaveSWReserved])
	bv := binary.LittleEndian.Uint64(area[xstateBV:])
	binary.LittleEndian.PutUint64(area[xstateBV:], bv|xstateFPSSE)
	return f.c.vcpu.SetXSave(area)
}

// image reads the FXSAVE image of the vCPU's FPU.
func (f vcpuFPU) image() ([512]byte, error) {
	var fx [512]byte
	err := f.SaveFPU(&fx)
	return fx, err
}

// userRegsOf is the user context of an exit: every general-purpose
// register as the vCPU holds it (the stubs change none but RSP), with RIP,
// RSP and RFLAGS from the decoded context.
func userRegsOf(r *kvm.Regs, ctx ring0.UserContext) syscalls.UserRegs {
	return syscalls.UserRegs{
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
		RDI: r.RDI, RSI: r.RSI, RBP: r.RBP, RBX: r.RBX, RDX: r.RDX, RAX: r.RAX, RCX: r.RCX,
		RSP: ctx.RSP, RIP: ctx.RIP, RFLAGS: ctx.RFLAGS,
	}
}

// resumeWith makes the next entry resume user mode at regs, all of them
// (a signal handler's entry, or what rt_sigreturn restored), directly from
// the host: only the RFLAGS bits user code may set come from regs.
func (c *cpu) resumeWith(regs *syscalls.UserRegs) error {
	r := &c.vcpu.Sync().Regs
	r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15 = regs.R8, regs.R9, regs.R10, regs.R11, regs.R12, regs.R13, regs.R14, regs.R15
	r.RDI, r.RSI, r.RBP, r.RBX, r.RDX, r.RAX, r.RCX = regs.RDI, regs.RSI, regs.RBP, regs.RBX, regs.RDX, regs.RAX, regs.RCX
	return c.resumeDirect(ring0.UserContext{RIP: regs.RIP, RSP: regs.RSP, RFLAGS: ring0.TrampolineRFLAGS(regs.RFLAGS)})
}

// Linux's si_codes for the faults the run loop sees (asm-generic/siginfo.h).
const (
	siKernel  = 0x80
	illIllOpn = 2
	fpeIntDiv = 1
	fpeFltDiv = 3
	fpeFltOvf = 4
	fpeFltUnd = 5
	fpeFltRes = 6
	fpeFltInv = 7
	busAdrAln = 1
	trapTrace = 2
)

// faultOf is the signal Linux sends for an exception vector other than a
// page fault taken in user mode (arch/x86/kernel/traps.c): si_code and
// si_addr as its handlers give them, the faulting RIP as si_addr where
// they report one. fpu is the FPU's FXSAVE image, read for the
// floating-point exceptions only; a floating-point exception the FPU shows
// no cause for is spurious and sends nothing (Signal 0), as under Linux.
func faultOf(ev *ring0.Event, fpu func() ([512]byte, error)) syscalls.Fault {
	f := syscalls.Fault{Code: siKernel, TrapNo: uint64(ev.Vector), ErrorCode: ev.ErrorCode}
	switch ev.Vector {
	case ring0.DivideError:
		f.Signal, f.Code, f.Addr = unix.SIGFPE, fpeIntDiv, ev.Context.RIP
	case ring0.X87FloatingPoint, ring0.SIMDFloatingPoint:
		fx, err := fpu()
		if err != nil {
			f.Signal = unix.SIGFPE // the cause unknown: still an error
			break
		}
		f.Signal, f.Code, f.Addr, f.ErrorCode = unix.SIGFPE, floatExceptionCode(ev.Vector, &fx), ev.Context.RIP, 0
		if f.Code == 0 {
			f.Signal = 0
		}
	case ring0.Debug:
		// A user #DB is the single step of RFLAGS.TF (user code cannot
		// set breakpoints): TRAP_TRACE at the next instruction.
		f.Signal, f.Code, f.Addr = unix.SIGTRAP, trapTrace, ev.Context.RIP
	case ring0.Breakpoint:
		// int3 is do_int3_user's force_sig(SIGTRAP): SI_KERNEL.
		f.Signal = unix.SIGTRAP
	case ring0.InvalidOpcode:
		f.Signal, f.Code, f.Addr = unix.SIGILL, illIllOpn, ev.Context.RIP
	case ring0.SegmentNotPresent, ring0.StackSegmentFault:
		f.Signal = unix.SIGBUS
	case ring0.AlignmentCheck:
		f.Signal, f.Code = unix.SIGBUS, busAdrAln
	default:
		f.Signal = unix.SIGSEGV
	}
	f.Why = fmt.Sprintf("%s: %v at rip %#x (error code %#x)", unix.SignalName(f.Signal), ev.Vector, ev.Context.RIP, ev.ErrorCode)
	return f
}

// floatExceptionCode is Linux's fpu__exception_code: the first unmasked
// exception the FPU reports, from the x87 status and control words for
// #MF and from MXCSR for #XM; 0 when there is none.
func floatExceptionCode(v ring0.Vector, fx *[512]byte) int32 {
	le := binary.LittleEndian
	var pending uint32
	if v == ring0.X87FloatingPoint {
		cwd, swd := uint32(le.Uint16(fx[0:])), uint32(le.Uint16(fx[2:]))
		pending = swd &^ cwd
	} else {
		mxcsr := le.Uint32(fx[24:])
		pending = mxcsr &^ (mxcsr >> 7)
	}
	switch {
	case pending&0x01 != 0:
		return fpeFltInv
	case pending&0x04 != 0:
		return fpeFltDiv
	case pending&0x08 != 0:
		return fpeFltOvf
	case pending&0x12 != 0:
		return fpeFltUnd
	case pending&0x20 != 0:
		return fpeFltRes
	}
	return 0
}

// pageFaultOf is the signal for a page fault mm refused, with the error
// code Linux records for it (set_signal_archinfo: always a user access,
// and a protection fault on a kernel address).
func pageFaultOf(ev *ring0.Event, fe *mm.FaultError) syscalls.Fault {
	code := ring0.PageFaultError(ev.ErrorCode) | ring0.PFUser
	if !ring0.IsUserAddress(ev.FaultAddr) {
		code |= ring0.PFPresent
	}
	return syscalls.Fault{Signal: fe.Signal, Code: int32(fe.Code), Addr: ev.FaultAddr, TrapNo: uint64(ring0.PageFault),
		ErrorCode: uint64(code), PageFault: true, Why: fmt.Sprintf("%v, rip %#x", fe, ev.Context.RIP)}
}

// deliverFault sends the program f, taken at ev, and resumes it at the
// handler Linux would run, or stops it as the signal's default action
// does.
func (c *cpu) deliverFault(ev *ring0.Event, f syscalls.Fault) (Stop, bool, error) {
	if f.Signal == 0 {
		return Stop{}, false, nil // spurious: the program goes on
	}
	if f.Signal == unix.SIGKILL || !ev.DirectResumes {
		// No handler can run: the process ends, every thread of it.
		c.task.Kill(f.Signal, f.Why)
		if stop, done := c.ended(); done && stop.Kind != stopThreadExit {
			return stop, true, nil
		}
		return Stop{Kind: stopThreadExit}, true, nil
	}
	regs := userRegsOf(&c.vcpu.Sync().Regs, ev.Context)
	redirected := c.task.HandleFault(&regs, f)
	if stop, done := c.ended(); done {
		if stop.Signal == f.Signal {
			stop.Reason = f.Why
		}
		return stop, true, nil
	}
	if !redirected {
		return Stop{}, false, nil
	}
	if err := c.resumeWith(&regs); err != nil {
		return Stop{}, true, err
	}
	return Stop{}, false, nil
}

// ended says whether the vCPU's thread must stop: the program ended, or the
// thread did (stopThreadExit).
func (c *cpu) ended() (Stop, bool) {
	if stop, done := c.m.processEnded(); done {
		return stop, true
	}
	if c.task.Exited() {
		return Stop{Kind: stopThreadExit}, true
	}
	return Stop{}, false
}

// takeSignals delivers, at an interrupt exit, a signal pending for the
// thread that it does not block (another thread sent it, and kicked this
// vCPU), as Linux does on a return to user mode. Only a vCPU stopped in
// user mode can be redirected; one stopped in a ring-0 stub exits again
// within a few instructions, and the signal is taken then.
func (c *cpu) takeSignals() error {
	sync := c.vcpu.Sync()
	if kvm.CPL(&sync.Sregs) != 3 {
		return nil
	}
	r := &sync.Regs
	regs := userRegsOf(r, ring0.UserContext{RIP: r.RIP, RSP: r.RSP, RFLAGS: r.RFLAGS})
	if !c.task.TakeSignals(&regs) {
		return nil
	}
	return c.resumeWith(&regs)
}

// processEnded says whether the program exited or was killed by a signal.
func (m *Machine) processEnded() (Stop, bool) {
	if exited, code := m.Process.Exited(); exited {
		return Stop{Kind: StopExit, ExitCode: code}, true
	}
	if sig, why, killed := m.Process.Signaled(); killed {
		return Stop{Kind: StopSignal, Signal: sig, Reason: why}, true
	}
	return Stop{}, false
}

// faultErrorOf unwraps mm's account of a refused fault.
func faultErrorOf(err error) (*mm.FaultError, bool) {
	var fe *mm.FaultError
	ok := errors.As(err, &fe)
	return fe, ok
}

// waitUserFault blocks the thread on a fault a userfaultfd's handler must
// resolve (syscalls' Task.WaitUserFault), then takes the signals due to
// it at the faulting context, as Linux's fault returns to user mode to
// deliver them; the faulting instruction then runs again and faults anew
// if the page is still missing. A wait is no repeated fault: the repeat
// detector starts over.
func (c *cpu) waitUserFault(ev *ring0.Event, w *mm.UserFaultWait) (Stop, bool, error) {
	c.task.WaitUserFault(w)
	c.repeat.reset()
	if stop, done := c.ended(); done {
		return stop, true, nil
	}
	if !ev.DirectResumes {
		return Stop{}, false, nil
	}
	regs := userRegsOf(&c.vcpu.Sync().Regs, ev.Context)
	if !c.task.TakeSignals(&regs) {
		if stop, done := c.ended(); done {
			return stop, true, nil
		}
		return Stop{}, false, nil
	}
	if stop, done := c.ended(); done {
		return stop, true, nil
	}
	if err := c.resumeWith(&regs); err != nil {
		return Stop{}, true, err
	}
	return Stop{}, false, nil
}
