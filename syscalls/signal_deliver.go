package syscalls

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Signal delivery, as Linux's x86-64 does it on the way back to user mode
// (arch/x86/kernel/signal.c, signal_64.c): each deliverable signal whose
// action is a handler gets an rt_sigframe on the user stack (or the
// alternate stack) and the user context becomes the handler's entry; the
// handler's return runs sa_restorer, which calls rt_sigreturn, which
// restores the context from the frame.

// The restart codes a call that a signal interrupted returns; they never
// reach the program (returnToUser turns them into EINTR or a restart).
const (
	errRestartSys          = 512 // ERESTARTSYS: restart with SA_RESTART
	errRestartNoIntr       = 513 // ERESTARTNOINTR: always restart
	errRestartNoHand       = 514 // ERESTARTNOHAND: EINTR if a handler runs
	errRestartRestartBlock = 516 // ERESTART_RESTARTBLOCK: EINTR if a handler runs
)

// syscallInsnLen is the length of SYSCALL: a restart moves RIP back over it.
const syscallInsnLen = 2

// RFLAGS bits a signal frame deals with.
const (
	rflagsTF = 1 << 8
	rflagsDF = 1 << 10
	rflagsRF = 1 << 16
	// rflagsRestorable are the bits rt_sigreturn takes from the frame
	// (Linux's FIX_EFLAGS on x86-64): AC, OF, DF, TF, SF, ZF, AF, PF, CF
	// and RF; the rest keep the values they had at the call.
	rflagsRestorable = 1<<18 | 1<<11 | rflagsDF | rflagsTF | 1<<7 | 1<<6 | 1<<4 | 1<<2 | 1<<0 | rflagsRF
)

// returnToUser takes the signals due before the program returns to user
// mode with regs, as Linux's exit_to_user_mode_loop does: every deliverable
// signal in turn, each handler's frame on top of the previous one (so the
// last one set up runs first). nr is the system call being finished when
// fromSyscall is set: a restart code it returned becomes EINTR or a
// restart, by the handler's SA_RESTART. A RIP the vCPU could not return to
// (non-canonical) raises SIGSEGV, as the failed IRET does under Linux.
// First it looks at the CPU timers whose host timer is late
// (pollCPUTimers), as Linux's tick looks at the running thread's.
func (t *Task) returnToUser(regs *UserRegs, nr uint64, fromSyscall bool) {
	t.pollCPUTimers()
	for !t.Exited() {
		if !arch.Addr(regs.RIP).IsCanonical() {
			t.force(unix.SIGSEGV, sigInfo{code: siKernel, why: fmt.Sprintf("return to non-canonical rip %#x", regs.RIP)})
		}
		sig, info, ok := t.dequeue()
		if !ok {
			break
		}
		act := t.actionOf(sig)
		switch act.handler {
		case sigIGN:
			continue
		case sigDFL:
			t.actDefault(sig, &info)
			continue
		}
		if act.flags&saResetHand != 0 {
			t.resetHandler(sig)
		}
		if fromSyscall {
			restartForHandler(regs, nr, act.flags)
			fromSyscall = false
		}
		if !t.setupFrame(regs, sig, &info, &act) {
			// Linux's force_sigsegv: a SIGSEGV handler that cannot be
			// given a frame is dropped, so that the next one kills.
			if sig == unix.SIGSEGV {
				t.resetHandler(unix.SIGSEGV)
			}
			t.force(unix.SIGSEGV, sigInfo{code: siKernel, why: fmt.Sprintf("no room for the %s handler's signal frame below rsp %#x", unix.SignalName(sig), regs.RSP)})
		}
	}
	if fromSyscall && !t.Exited() {
		t.restartWithoutHandler(regs, nr)
	}
	if t.tsig.restoreMask {
		t.tsig.restoreMask = false
		t.sigmask = t.tsig.savedMask
	}
}

// restartForHandler finishes a call a signal with a handler interrupted:
// EINTR, or a restart for ERESTARTSYS under SA_RESTART and for
// ERESTARTNOINTR (Linux's handle_signal).
func restartForHandler(regs *UserRegs, nr, flags uint64) {
	switch int64(regs.RAX) {
	case -errRestartRestartBlock, -errRestartNoHand:
		regs.RAX = errno(unix.EINTR)
	case -errRestartSys:
		if flags&saRestart == 0 {
			regs.RAX = errno(unix.EINTR)
			return
		}
		regs.RAX, regs.RIP = nr, regs.RIP-syscallInsnLen
	case -errRestartNoIntr:
		regs.RAX, regs.RIP = nr, regs.RIP-syscallInsnLen
	}
}

// restartWithoutHandler restarts a call that returned a restart code when
// no handler ran (the signal was ignored): the program re-executes its
// SYSCALL. ERESTART_RESTARTBLOCK restarts the same call too (mmvm has no
// restart_syscall; its callers return it only where the call can run again
// as it was).
func (t *Task) restartWithoutHandler(regs *UserRegs, nr uint64) {
	switch int64(regs.RAX) {
	case -errRestartSys, -errRestartNoIntr, -errRestartNoHand, -errRestartRestartBlock:
		regs.RAX, regs.RIP = nr, regs.RIP-syscallInsnLen
		t.tsig.redirected = true
	}
}

// frameAt is where a handler's frame goes: below the red zone of the
// interrupted stack, or at the top of the alternate stack when the action
// asks for it and the program is not on it already; the FPU image
// 64-byte aligned at the top, the rt_sigframe below it with RSP+8 16-byte
// aligned, as a function's entry expects (Linux's get_sigframe). ok is
// false when a frame on the alternate stack would overflow it.
func (t *Task) frameAt(rsp uint64, act *sigaction) (frame, fpstate uint64, ok bool) {
	sp := rsp - redZone
	onAlt := t.onSigStack(rsp)
	if act.flags&saOnStack != 0 && t.sasFlags(sp) == 0 {
		sp = t.tsig.altSP + t.tsig.altSize
		onAlt = true
	}
	fpstate = alignDown(sp-fxsaveSize, fpstateAlign)
	frame = alignDown(fpstate-rtSigframeSize, 16) - 8
	if onAlt && !t.withinSigStack(frame) {
		return 0, 0, false
	}
	return frame, fpstate, true
}

// setupFrame builds sig's frame for act and points regs at the handler:
// RDI the signal, RSI the siginfo, RDX the ucontext, RAX 0, RSP the frame
// (whose first word, the return address, is sa_restorer), DF, RF and TF
// clear; the handler starts with a fresh FPU, and runs with sa_mask and
// (unless SA_NODEFER) sig blocked. It returns false, having changed
// nothing the program sees but stack memory, when the frame cannot be
// written or the action has no SA_RESTORER (x86-64 Linux requires one).
func (t *Task) setupFrame(regs *UserRegs, sig unix.Signal, info *sigInfo, act *sigaction) bool {
	if act.flags&saRestorer == 0 {
		return false
	}
	frame, fpstate, ok := t.frameAt(regs.RSP, act)
	if !ok {
		return false
	}
	fx := initFPU
	if t.fpu != nil {
		if err := t.fpu.SaveFPU(&fx); err != nil {
			return false
		}
	}
	// Bytes 464-511 are the software-reserved ones, which Linux fills
	// with its XSAVE description only where the CPU has XSAVE.
	clear(fx[464:])
	mask := t.sigmask
	if t.tsig.restoreMask {
		mask = t.tsig.savedMask
	}
	var head [frameUC + ucMcontext + scRestored]byte
	le := binary.LittleEndian
	le.PutUint64(head[framePretcode:], act.restorer)
	le.PutUint64(head[frameUC+ucFlags:], ucSigcontextSS|ucStrictRestoreSS)
	st := stackT(t.tsig.altSP, t.sasFlags(regs.RSP)|t.tsig.altFlags, t.tsig.altSize)
	copy(head[frameUC+ucStack:], st[:])
	sc := sigcontextOf(regs, t.cfg.UserCS, t.cfg.UserSS, &t.tsig.trap, mask, fpstate)
	copy(head[frameUC+ucMcontext:], sc[:])
	var m [8]byte
	le.PutUint64(m[:], mask)
	// What Linux writes, and no more: reserved1 and, without SA_SIGINFO,
	// the siginfo keep whatever the stack held.
	writes := []guestWrite{{fpstate, fx[:]}, {frame, head[:]}, {frame + frameUC + ucSigmask, m[:]}}
	if act.flags&saSiginfo != 0 {
		si := info.encode()
		writes = append(writes, guestWrite{frame + frameInfo, si[:]})
	}
	for _, w := range writes {
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(w.at), w.b); err != nil {
			return false
		}
	}
	if t.tsig.altFlags&ssAutoDisarm != 0 {
		t.tsig.altSP, t.tsig.altSize, t.tsig.altFlags = 0, 0, 0
	}
	if t.fpu != nil {
		fresh := initFPU
		if err := t.fpu.RestoreFPU(&fresh); err != nil {
			return false
		}
	}
	regs.RDI, regs.RSI, regs.RDX, regs.RAX = uint64(sig), frame+frameInfo, frame+frameUC, 0
	regs.RIP, regs.RSP = act.handler, frame
	regs.RFLAGS &^= rflagsDF | rflagsRF | rflagsTF
	t.tsig.restoreMask = false
	t.sigmask |= act.mask
	if act.flags&saNoDefer == 0 {
		t.sigmask |= sigBit(sig)
	}
	t.sigmask &^= unblockable
	t.tsig.redirected = true
	t.statsMu.Lock()
	if t.sig.handled == nil {
		t.sig.handled = make(map[unix.Signal]uint64)
	}
	t.sig.handled[sig]++
	t.statsMu.Unlock()
	return true
}

// guestWrite is bytes to copy out to the guest at an address.
type guestWrite struct {
	at uint64
	b  []byte
}

// sysRtSigreturn restores the context a handler's frame saved, as Linux's
// rt_sigreturn: the frame is at RSP-8 (the handler's ret popped the return
// address), the mask (never with SIGKILL or SIGSTOP), the registers, the
// flags the program may set, the FPU and the alternate stack come from
// it. A frame that cannot be read, a CS other than the program's, an SS
// other than its own under UC_STRICT_RESTORE_SS, or an FPU image the CPU
// would refuse (misaligned, or MXCSR with reserved bits) is a bad frame:
// SIGSEGV, with whatever had been restored by then, as Linux leaves it.
func sysRtSigreturn(t *Task, _ *[6]uint64) uint64 {
	regs := t.regs
	frame := regs.RSP - 8
	if bad := t.restoreFrame(regs, frame); bad != "" {
		t.force(unix.SIGSEGV, sigInfo{code: siKernel, why: fmt.Sprintf("rt_sigreturn with a bad frame at %#x: %s", frame, bad)})
	}
	t.tsig.redirected = true
	return regs.RAX
}

// restoreFrame is rt_sigreturn's work, in Linux's order; it returns what
// was wrong with the frame, or "".
func (t *Task) restoreFrame(regs *UserRegs, frame uint64) string {
	if frame+rtSigframeSize < frame || frame+rtSigframeSize > uint64(arch.MaxUserAddr) {
		return "outside the user address space"
	}
	var uc [ucSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(frame+frameUC), uc[:]); err != nil {
		return "unreadable"
	}
	le := binary.LittleEndian
	flags := le.Uint64(uc[ucFlags:])
	t.sigmask = le.Uint64(uc[ucSigmask:]) &^ unblockable
	sc := uc[ucMcontext : ucMcontext+sigcontextSize]
	cur := regs.RFLAGS
	restoreRegs(sc, regs)
	regs.RFLAGS = cur&^rflagsRestorable | le.Uint64(sc[scEFLAGS:])&rflagsRestorable
	if cs := le.Uint16(sc[scCS:]) | 3; cs != t.cfg.UserCS {
		return fmt.Sprintf("cs %#x", cs)
	}
	if ss := le.Uint16(sc[scSS:]) | 3; flags&ucStrictRestoreSS != 0 && ss != t.cfg.UserSS {
		return fmt.Sprintf("ss %#x", ss)
	}
	if bad := t.restoreFPU(le.Uint64(sc[scFPState:])); bad != "" {
		return bad
	}
	st := uc[ucStack : ucStack+stackTSize]
	// Linux ignores every refusal of the saved alternate stack but EFAULT,
	// which cannot arise here: the frame was read whole.
	_ = t.setAltStack(le.Uint64(st[0:]), le.Uint32(st[8:]), le.Uint64(st[16:]), regs.RSP)
	return ""
}

// restoreFPU loads the FXSAVE image at fpstate (0: the initial state), as
// Linux's fpu__restore_sig: FXRSTOR needs it 16-byte aligned and MXCSR
// within the CPU's mask.
func (t *Task) restoreFPU(fpstate uint64) string {
	fx := initFPU
	if fpstate != 0 {
		if fpstate%16 != 0 {
			return fmt.Sprintf("fpstate %#x misaligned", fpstate)
		}
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(fpstate), fx[:]); err != nil {
			return fmt.Sprintf("fpstate %#x unreadable", fpstate)
		}
	}
	if t.fpu == nil {
		return ""
	}
	var cur [fxsaveSize]byte
	if err := t.fpu.SaveFPU(&cur); err != nil {
		return "the FPU could not be read: " + err.Error()
	}
	mask := binary.LittleEndian.Uint32(cur[fxsaveMXCSRMask:])
	if mask == 0 {
		mask = defaultMXCSRMask
	}
	binary.LittleEndian.PutUint32(fx[fxsaveMXCSRMask:], mask)
	if mxcsr := binary.LittleEndian.Uint32(fx[fxsaveMXCSR:]); mxcsr&^mask != 0 {
		return fmt.Sprintf("mxcsr %#x has reserved bits", mxcsr)
	}
	if err := t.fpu.RestoreFPU(&fx); err != nil {
		return "the FPU refused the image: " + err.Error()
	}
	return ""
}

// Fault is a synchronous fault of the program, as the signal Linux sends
// for it.
type Fault struct {
	Signal unix.Signal
	// Code is the si_code, Addr si_addr (for a fault's own codes).
	Code int32
	Addr uint64
	// TrapNo and ErrorCode are the vector and its error code as Linux
	// records them for sigcontext; a page fault (PageFault) also sets
	// cr2 to Addr.
	TrapNo, ErrorCode uint64
	PageFault         bool
	// Why is the one-line account a kill reports.
	Why string
}

// HandleFault sends the program the signal of fault f, taken in user
// context regs, as Linux's force_sig_fault does (a handler that is blocked
// or ignored cannot take it: the default action kills), and delivers it.
// It returns true when regs changed (a handler's entry) and the vCPU must
// load them whole; Signaled says whether the program was killed instead.
func (t *Task) HandleFault(regs *UserRegs, f Fault) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Exited() {
		return false
	}
	t.tsig.redirected = false
	t.tsig.trap.trapNo, t.tsig.trap.errorCode = f.TrapNo, f.ErrorCode
	if f.PageFault {
		t.tsig.trap.cr2 = f.Addr
	}
	t.force(f.Signal, sigInfo{code: f.Code, addr: f.Addr, why: f.Why})
	t.returnToUser(regs, 0, false)
	return t.tsig.redirected
}

// onSigStack says rsp is on the alternate stack (Linux's on_sig_stack,
// which says no for an SS_AUTODISARM stack: it is disarmed while in use).
func (t *Task) onSigStack(rsp uint64) bool {
	return t.tsig.altFlags&ssAutoDisarm == 0 && t.withinSigStack(rsp)
}

// withinSigStack says sp lies on the alternate stack, which grows down
// from altSP+altSize (Linux's __on_sig_stack).
func (t *Task) withinSigStack(sp uint64) bool {
	return sp > t.tsig.altSP && sp-t.tsig.altSP <= t.tsig.altSize
}

// sasFlags is Linux's sas_ss_flags: SS_DISABLE without an alternate stack,
// SS_ONSTACK while running on it, else 0.
func (t *Task) sasFlags(rsp uint64) uint32 {
	switch {
	case t.tsig.altSize == 0:
		return ssDisable
	case t.onSigStack(rsp):
		return ssOnStack
	}
	return 0
}

// sysRtSigsuspend replaces the mask with the given one until a signal
// that has a handler is taken (the handler's frame records the old mask,
// and the call returns EINTR) or one kills the program; the run's end
// interrupts the wait.
func sysRtSigsuspend(t *Task, a *[6]uint64) uint64 {
	if a[1] != sigsetSize {
		return errno(unix.EINVAL)
	}
	var b [8]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[0]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	t.tsig.savedMask, t.tsig.restoreMask = t.sigmask, true
	t.sigmask = binary.LittleEndian.Uint64(b[:]) &^ unblockable
	return t.waitForSignal()
}

// sysPause waits until a signal is taken.
func sysPause(t *Task, _ *[6]uint64) uint64 { return t.waitForSignal() }

// waitForSignal waits until a signal is deliverable to the thread: one
// pending on it or on the process and not blocked (another thread's kill
// or tgkill wakes it). It returns ERESTARTNOHAND, which becomes EINTR if
// a handler runs; a signal that is ignored is dropped and the wait goes
// on. The end of the thread or run interrupts it with EINTR.
func (t *Task) waitForSignal() uint64 {
	for {
		ready := (t.tsig.pending | t.sig.pending) &^ t.sigmask
		if ready&^t.ignoredSet() != 0 {
			return errno(errRestartNoHand)
		}
		if ready != 0 {
			// Only ignored signals: drop them, as get_signal does.
			t.discard(ready)
			continue
		}
		if t.waitForInterruption() == wokeEnd {
			return errno(unix.EINTR)
		}
	}
}

// ignoredSet is the set of signals whose action ignores them.
func (p *Process) ignoredSet() uint64 {
	var s uint64
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if p.ignored(sig) {
			s |= sigBit(sig)
		}
	}
	return s
}
