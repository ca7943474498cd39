package syscalls

import "encoding/binary"

// sigchld is SIGCHLD's number.
const sigchld = 17

// The x86-64 signal frame, as Linux's x64_setup_rt_frame builds it on the
// user stack (arch/x86/kernel/signal_64.c) and rt_sigreturn reads it back.
// Each layout is written out field by field; signal_frame_test.go checks
// every offset against the host's uapi headers.
//
//	struct rt_sigframe {               offset  size
//		char *pretcode;                     0     8  sa_restorer: the handler's return address
//		struct ucontext uc;                 8   304
//		struct siginfo info;              312   128
//	};                                        440
//	struct ucontext {
//		unsigned long uc_flags;             0     8
//		struct ucontext *uc_link;           8     8
//		stack_t uc_stack;                  16    24
//		struct sigcontext uc_mcontext;     40   256
//		sigset_t uc_sigmask;              296     8  the kernel's 64-bit sigset
//	};
//
// The FPU state (an FXSAVE image: the guest has no XSAVE) lies above the
// frame, 64-byte aligned, and sigcontext.fpstate points at it.
const (
	rtSigframeSize = 440
	framePretcode  = 0
	frameUC        = 8
	frameInfo      = 312

	ucFlags    = 0
	ucLink     = 8
	ucStack    = 16
	ucMcontext = 40
	ucSigmask  = 296
	ucSize     = 304

	// struct sigcontext, from uc_mcontext.
	scR8      = 0
	scR9      = 8
	scR10     = 16
	scR11     = 24
	scR12     = 32
	scR13     = 40
	scR14     = 48
	scR15     = 56
	scRDI     = 64
	scRSI     = 72
	scRBP     = 80
	scRBX     = 88
	scRDX     = 96
	scRAX     = 104
	scRCX     = 112
	scRSP     = 120
	scRIP     = 128
	scEFLAGS  = 136
	scCS      = 144
	scGS      = 146
	scFS      = 148
	scSS      = 150
	scErr     = 152
	scTrapNo  = 160
	scOldMask = 168
	scCR2     = 176
	scFPState = 184
	// scRestored is how much of sigcontext rt_sigreturn reads: every
	// field before reserved1[8].
	scRestored     = 192
	sigcontextSize = 256

	siginfoSize = 128

	// fxsaveSize is the FXSAVE image (struct fxregs_state), and
	// fpstateAlign the alignment Linux gives it on the stack.
	fxsaveSize   = 512
	fpstateAlign = 64
	// fxsaveMXCSR and fxsaveMXCSRMask are where the image keeps MXCSR and
	// the mask of its bits the CPU supports.
	fxsaveMXCSR     = 24
	fxsaveMXCSRMask = 28

	// redZone is the System V ABI's red zone below RSP, which a frame
	// must not overwrite.
	redZone = 128
)

// uc_flags bits (asm/ucontext.h). Linux sets UC_FP_XSTATE only where the
// CPU has XSAVE, which the guest's does not.
const (
	ucSigcontextSS    = 0x2
	ucStrictRestoreSS = 0x4
)

// UserRegs is the program's user context at a return to user mode, as
// Linux's pt_regs holds it: the general-purpose registers, RIP, RSP and
// RFLAGS. After a system call, RCX and R11 hold what SYSCALL left in them
// (the return address and the flags).
type UserRegs struct {
	R8, R9, R10, R11, R12, R13, R14, R15 uint64
	RDI, RSI, RBP, RBX, RDX, RAX, RCX    uint64
	RSP, RIP, RFLAGS                     uint64
}

// FPU is the vCPU's x87 and SSE state, moved as the 512-byte FXSAVE image
// (struct fxregs_state). The machine implements it with KVM's XSAVE calls.
type FPU interface {
	SaveFPU(dst *[fxsaveSize]byte) error
	// RestoreFPU loads an image whose MXCSR the caller checked against
	// the CPU's mask.
	RestoreFPU(src *[fxsaveSize]byte) error
}

// initFPU is the FXSAVE image of the FPU's initial state, which Linux gives
// a handler (fpu__clear_user_states) and a sigreturn with no fpstate: FCW
// 0x37f (all exceptions masked, 64-bit precision), MXCSR 0x1f80, all
// registers zero, every x87 tag empty (0 in the abridged tag word).
var initFPU = func() (b [fxsaveSize]byte) {
	binary.LittleEndian.PutUint16(b[0:], 0x37f)
	binary.LittleEndian.PutUint32(b[fxsaveMXCSR:], 0x1f80)
	return b
}()

// defaultMXCSRMask is the MXCSR mask of a CPU whose FXSAVE image reports
// 0 (those without DAZ), as the SDM defines it.
const defaultMXCSRMask = 0xffbf

// sigcontextOf lays out regs as struct sigcontext, with the selectors the
// program runs with, the fault's trap number, error code and CR2, the
// signal mask as oldmask and the fpstate pointer. gs, fs and reserved1 are
// zero: Linux writes 0 to gs and fs and leaves reserved1 alone, and mmvm
// writes only the fields before reserved1 (scRestored bytes).
func sigcontextOf(regs *UserRegs, cs, ss uint16, t *trapInfo, mask, fpstate uint64) [scRestored]byte {
	var b [scRestored]byte
	le := binary.LittleEndian
	for _, f := range []struct {
		off int
		v   uint64
	}{
		{scR8, regs.R8}, {scR9, regs.R9}, {scR10, regs.R10}, {scR11, regs.R11},
		{scR12, regs.R12}, {scR13, regs.R13}, {scR14, regs.R14}, {scR15, regs.R15},
		{scRDI, regs.RDI}, {scRSI, regs.RSI}, {scRBP, regs.RBP}, {scRBX, regs.RBX},
		{scRDX, regs.RDX}, {scRAX, regs.RAX}, {scRCX, regs.RCX}, {scRSP, regs.RSP},
		{scRIP, regs.RIP}, {scEFLAGS, regs.RFLAGS},
		{scErr, t.errorCode}, {scTrapNo, t.trapNo}, {scOldMask, mask}, {scCR2, t.cr2},
		{scFPState, fpstate},
	} {
		le.PutUint64(b[f.off:], f.v)
	}
	le.PutUint16(b[scCS:], cs)
	le.PutUint16(b[scSS:], ss)
	return b
}

// restoreRegs reads the registers of a struct sigcontext image into regs:
// every general-purpose register, RSP and RIP; RFLAGS is left to the
// caller, which keeps the bits the program may not set.
func restoreRegs(b []byte, regs *UserRegs) {
	le := binary.LittleEndian
	for _, f := range []struct {
		off int
		r   *uint64
	}{
		{scR8, &regs.R8}, {scR9, &regs.R9}, {scR10, &regs.R10}, {scR11, &regs.R11},
		{scR12, &regs.R12}, {scR13, &regs.R13}, {scR14, &regs.R14}, {scR15, &regs.R15},
		{scRDI, &regs.RDI}, {scRSI, &regs.RSI}, {scRBP, &regs.RBP}, {scRBX, &regs.RBX},
		{scRDX, &regs.RDX}, {scRAX, &regs.RAX}, {scRCX, &regs.RCX}, {scRSP, &regs.RSP},
		{scRIP, &regs.RIP},
	} {
		*f.r = le.Uint64(b[f.off:])
	}
}

// si_code values (asm-generic/siginfo.h) that mmvm sends.
const (
	siUser     = 0
	siKernel   = 0x80
	siTkill    = -6
	segvMapErr = 1
	segvAccErr = 2
	busAdrErr  = 2
	illIllOpn  = 2
	fpeIntDiv  = 1
	trapBrkpt  = 1
)

// sigInfo is what a pending signal carries into its handler's siginfo_t.
type sigInfo struct {
	signo, code int32
	// pid and uid are the sender's (SI_USER, SI_TKILL); addr is the
	// fault's si_addr (a fault's si_code).
	pid, uid uint32
	addr     uint64
	// timerID, overrun and value are a POSIX timer's (SI_TIMER):
	// si_timerid, si_overrun and si_value.
	timerID, overrun int32
	value            uint64
	// status is a SIGCHLD's si_status (with pid, the child's): its exit
	// code or the signal that killed it.
	status int32
	// raw, when not nil, is a siginfo the program wrote itself
	// (rt_sigqueueinfo), bytes 4 to 48 of it: what encode lays out,
	// whatever its si_code, as Linux keeps the caller's kernel_siginfo.
	// The fields above then hold what signalfd reads of it.
	raw *[siginfoKernelSize - 4]byte
	// why says, for --stats and a kill's report, who sent it.
	why string
}

// fromTimer says si is a POSIX timer's own signal, not one a program
// queued with SI_TIMER.
func (si *sigInfo) fromTimer() bool { return si.code == siTimer && si.raw == nil }

// isFault says the si_code is one of a fault's own (positive and below
// SI_KERNEL), which Linux lays out with si_addr (siginfo_layout's SIL_FAULT).
func (si *sigInfo) isFault() bool { return si.code > 0 && si.code < siKernel }

// isChild says si is a SIGCHLD about a child (si_code CLD_*), which Linux
// lays out with si_pid, si_uid, si_status, si_utime and si_stime
// (siginfo_layout's SIL_CHLD).
func (si *sigInfo) isChild() bool {
	return si.signo == sigchld && si.code > 0 && si.code < siKernel
}

// encode lays si out as siginfo_t: si_signo, si_errno, si_code, then at 16
// either si_pid, si_uid and at 24 si_status (a child's; si_utime and
// si_stime at 32 and 40 stay 0), si_addr (a fault), si_timerid,
// si_overrun and si_value (a POSIX timer), or si_pid and si_uid; the rest
// is zero, as Linux writes the whole 128 bytes.
func (si *sigInfo) encode() [siginfoSize]byte {
	var b [siginfoSize]byte
	le := binary.LittleEndian
	if si.raw != nil {
		copy(b[4:], si.raw[:])
		le.PutUint32(b[0:], uint32(si.signo))
		return b
	}
	le.PutUint32(b[0:], uint32(si.signo))
	le.PutUint32(b[8:], uint32(si.code))
	switch {
	case si.isChild():
		le.PutUint32(b[16:], si.pid)
		le.PutUint32(b[20:], si.uid)
		le.PutUint32(b[24:], uint32(si.status))
	case si.isFault():
		le.PutUint64(b[16:], si.addr)
	case si.code == siMesgq:
		le.PutUint32(b[16:], si.pid)
		le.PutUint32(b[20:], si.uid)
		le.PutUint64(b[24:], si.value)
	case si.code == siTimer:
		le.PutUint32(b[16:], uint32(si.timerID))
		le.PutUint32(b[20:], uint32(si.overrun))
		le.PutUint64(b[24:], si.value)
	default:
		le.PutUint32(b[16:], si.pid)
		le.PutUint32(b[20:], si.uid)
	}
	return b
}

// trapInfo is what Linux keeps per thread about the last fault
// (thread.trap_nr, error_code, cr2) and writes into every sigcontext.
type trapInfo struct {
	trapNo, errorCode, cr2 uint64
}

// stackT lays out a stack_t: ss_sp, ss_flags (int, then 4 bytes of
// padding), ss_size.
func stackT(sp uint64, flags uint32, size uint64) [stackTSize]byte {
	var b [stackTSize]byte
	binary.LittleEndian.PutUint64(b[0:], sp)
	binary.LittleEndian.PutUint32(b[8:], flags)
	binary.LittleEndian.PutUint64(b[16:], size)
	return b
}

// alignDown rounds a down to a multiple of the power of two n.
func alignDown(a, n uint64) uint64 { return a &^ (n - 1) }
