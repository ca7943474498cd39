package syscalls

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/mmvm/mmvm/internal/cfacts"

	"golang.org/x/sys/unix"
)

// frameFacts are the signal frame's layout as the uapi headers give it
// (asm/sigcontext.h, asm/ucontext.h, asm/siginfo.h) next to ours. The
// rt_sigframe itself is not in uapi: it is the return address, the
// ucontext and the siginfo, in that order (signal_64.c).
var frameFacts = []struct {
	c   string
	goV uint64
}{
	{"sizeof(struct sigcontext)", sigcontextSize},
	{"offsetof(struct sigcontext, r8)", scR8},
	{"offsetof(struct sigcontext, r9)", scR9},
	{"offsetof(struct sigcontext, r10)", scR10},
	{"offsetof(struct sigcontext, r11)", scR11},
	{"offsetof(struct sigcontext, r12)", scR12},
	{"offsetof(struct sigcontext, r13)", scR13},
	{"offsetof(struct sigcontext, r14)", scR14},
	{"offsetof(struct sigcontext, r15)", scR15},
	{"offsetof(struct sigcontext, rdi)", scRDI},
	{"offsetof(struct sigcontext, rsi)", scRSI},
	{"offsetof(struct sigcontext, rbp)", scRBP},
	{"offsetof(struct sigcontext, rbx)", scRBX},
	{"offsetof(struct sigcontext, rdx)", scRDX},
	{"offsetof(struct sigcontext, rax)", scRAX},
	{"offsetof(struct sigcontext, rcx)", scRCX},
	{"offsetof(struct sigcontext, rsp)", scRSP},
	{"offsetof(struct sigcontext, rip)", scRIP},
	{"offsetof(struct sigcontext, eflags)", scEFLAGS},
	{"offsetof(struct sigcontext, cs)", scCS},
	{"offsetof(struct sigcontext, gs)", scGS},
	{"offsetof(struct sigcontext, fs)", scFS},
	{"offsetof(struct sigcontext, ss)", scSS},
	{"offsetof(struct sigcontext, err)", scErr},
	{"offsetof(struct sigcontext, trapno)", scTrapNo},
	{"offsetof(struct sigcontext, oldmask)", scOldMask},
	{"offsetof(struct sigcontext, cr2)", scCR2},
	{"offsetof(struct sigcontext, fpstate)", scFPState},
	{"offsetof(struct sigcontext, reserved1)", scRestored},
	{"sizeof(struct ucontext)", ucSize},
	{"offsetof(struct ucontext, uc_flags)", ucFlags},
	{"offsetof(struct ucontext, uc_link)", ucLink},
	{"offsetof(struct ucontext, uc_stack)", ucStack},
	{"offsetof(struct ucontext, uc_mcontext)", ucMcontext},
	{"offsetof(struct ucontext, uc_sigmask)", ucSigmask},
	{"sizeof(stack_t)", stackTSize},
	{"sizeof(siginfo_t)", siginfoSize},
	{"offsetof(siginfo_t, si_code)", 8},
	{"offsetof(siginfo_t, si_addr)", 16},
	{"offsetof(siginfo_t, si_pid)", 16},
	{"offsetof(siginfo_t, si_uid)", 20},
	{"sizeof(struct _fpstate_64)", fxsaveSize},
	{"offsetof(struct _fpstate_64, mxcsr)", fxsaveMXCSR},
	{"offsetof(struct _fpstate_64, mxcsr_mask)", fxsaveMXCSRMask},
	{"offsetof(struct _fpstate_64, sw_reserved)", 464},
	{"8 + sizeof(struct ucontext)", frameInfo},
	{"8 + sizeof(struct ucontext) + sizeof(siginfo_t)", rtSigframeSize},
	{"UC_SIGCONTEXT_SS", ucSigcontextSS},
	{"UC_STRICT_RESTORE_SS", ucStrictRestoreSS},
	{"SA_RESTORER", saRestorer},
	{"SA_ONSTACK", saOnStack},
	{"SA_RESTART", saRestart},
	{"SA_NODEFER", saNoDefer},
	{"SA_RESETHAND", saResetHand},
	{"SA_SIGINFO", saSiginfo},
}

// TestSignalFrameAgainstHeaders compiles a C program that prints each fact
// as the host's uapi headers define it and compares it with ours.
func TestSignalFrameAgainstHeaders(t *testing.T) {
	if !cfacts.HaveGCC() {
		t.Skip("gcc not found; TestSignalFrameFixedNumbers still checks the layout")
	}
	exprs := make([]string, len(frameFacts))
	for i, f := range frameFacts {
		exprs[i] = f.c
	}
	prelude := "#include <asm/signal.h>\n#include <asm/sigcontext.h>\n#include <asm/ucontext.h>\n#include <asm/siginfo.h>\n" +
		"#ifndef UC_SIGCONTEXT_SS\n#define UC_SIGCONTEXT_SS 0x2\n#define UC_STRICT_RESTORE_SS 0x4\n#endif\n"
	vals, err := cfacts.Eval(t.TempDir(), prelude, exprs)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frameFacts {
		if v := vals[i]; f.goV != v {
			t.Errorf("%s: the headers say %d, mmvm has %d", f.c, v, f.goV)
		}
	}
}

// TestSignalFrameFixedNumbers pins the sizes to the x86-64 ABI's numbers,
// so that they are checked where gcc is missing too.
func TestSignalFrameFixedNumbers(t *testing.T) {
	if sigcontextSize != 256 || ucSize != 304 || siginfoSize != 128 || rtSigframeSize != 440 || fxsaveSize != 512 {
		t.Errorf("sizes: sigcontext %d ucontext %d siginfo %d rt_sigframe %d fxsave %d", sigcontextSize, ucSize, siginfoSize, rtSigframeSize, fxsaveSize)
	}
	if frameUC+ucSize != frameInfo || frameInfo+siginfoSize != rtSigframeSize || ucMcontext+sigcontextSize != ucSigmask {
		t.Error("the frame's parts do not follow one another")
	}
}

// sameFPU compares two FXSAVE images as FXRSTOR sees them: without the
// MXCSR mask (the CPU's, which restoring puts back) and the software bytes.
func sameFPU(a, b *[fxsaveSize]byte) bool {
	return bytes.Equal(a[:fxsaveMXCSRMask], b[:fxsaveMXCSRMask]) && bytes.Equal(a[fxsaveMXCSRMask+4:464], b[fxsaveMXCSRMask+4:464])
}

// fakeFPU is an FPU held in memory.
type fakeFPU struct{ state [fxsaveSize]byte }

func (f *fakeFPU) SaveFPU(dst *[fxsaveSize]byte) error    { *dst = f.state; return nil }
func (f *fakeFPU) RestoreFPU(src *[fxsaveSize]byte) error { f.state = *src; return nil }

const (
	testUserCS   = 0x23
	testUserSS   = 0x1b
	testHandler  = 0x401000
	testRestorer = 0x402000
)

// newSignalProcess is a test process with an FPU, the user selectors and a
// SIGUSR1 handler installed with flags and sa_mask.
func newSignalProcess(t *testing.T, flags, mask uint64) (*Process, *flatMemory, *fakeFPU) {
	p, mem, _ := newTestProcess(t)
	fpu := &fakeFPU{}
	for i := range fpu.state {
		fpu.state[i] = byte(i*7 + 1)
	}
	binary.LittleEndian.PutUint32(fpu.state[fxsaveMXCSR:], 0x1f80|0x2000)
	binary.LittleEndian.PutUint32(fpu.state[fxsaveMXCSRMask:], 0xffff)
	p.main.SetFPU(fpu)
	p.cfg.UserCS, p.cfg.UserSS = testUserCS, testUserSS
	act := mem.mem[0x100:0x120]
	le := binary.LittleEndian
	le.PutUint64(act[0:], testHandler)
	le.PutUint64(act[8:], flags|saRestorer)
	le.PutUint64(act[16:], testRestorer)
	le.PutUint64(act[24:], mask)
	if r := p.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{uint64(unix.SIGUSR1), base + 0x100, 0, sigsetSize}); r != 0 {
		t.Fatalf("rt_sigaction = %d", int64(r))
	}
	return p, mem, fpu
}

// callerRegs is a user context about to call kill(42, SIGUSR1), every
// register distinct.
func callerRegs() UserRegs {
	return UserRegs{
		R8: 0x808, R9: 0x909, R10: 0x1010, R11: 0x246 | rflagsDF, R12: 0x1212, R13: 0x1313, R14: 0x1414, R15: 0x1515,
		RDI: 42, RSI: uint64(unix.SIGUSR1), RBP: 0xb0b0, RBX: 0xb1b1, RDX: 0xd0d0, RAX: unix.SYS_KILL, RCX: 0x400123,
		RSP: base + 0xc003, RIP: 0x400123, RFLAGS: 0x246 | rflagsDF,
	}
}

// TestHandlerFrameAndSigreturn raises SIGUSR1 with kill and checks the
// handler's entry and every field of its frame, then returns through
// rt_sigreturn and checks that the caller's context, mask and FPU are back.
func TestHandlerFrameAndSigreturn(t *testing.T) {
	p, mem, fpu := newSignalProcess(t, saSiginfo, sigBit(unix.SIGUSR2))
	before := fpu.state
	regs := callerRegs()
	caller := regs
	caller.RAX = 0 // kill's result
	if !p.main.HandleSyscall(&regs) {
		t.Fatal("kill to itself set up no handler")
	}
	frame := regs.RSP
	u64 := func(a uint64) uint64 { return binary.LittleEndian.Uint64(mem.mem[a-base:]) }
	u32 := func(a uint64) uint32 { return binary.LittleEndian.Uint32(mem.mem[a-base:]) }
	u16 := func(a uint64) uint16 { return binary.LittleEndian.Uint16(mem.mem[a-base:]) }
	if (frame+8)%16 != 0 || frame+rtSigframeSize > caller.RSP-redZone {
		t.Errorf("frame at %#x: want RSP+8 16-byte aligned, below the red zone of %#x", frame, caller.RSP)
	}
	if regs.RIP != testHandler || regs.RDI != uint64(unix.SIGUSR1) || regs.RSI != frame+frameInfo || regs.RDX != frame+frameUC || regs.RAX != 0 || regs.RFLAGS&rflagsDF != 0 {
		t.Errorf("handler entry: %+v", regs)
	}
	if u64(frame) != testRestorer {
		t.Errorf("return address %#x, want sa_restorer", u64(frame))
	}
	sc := frame + frameUC + ucMcontext
	for _, f := range []struct {
		name string
		off  uint64
		want uint64
	}{
		{"r8", scR8, caller.R8}, {"r9", scR9, caller.R9}, {"r10", scR10, caller.R10}, {"r11", scR11, caller.R11},
		{"r12", scR12, caller.R12}, {"r13", scR13, caller.R13}, {"r14", scR14, caller.R14}, {"r15", scR15, caller.R15},
		{"rdi", scRDI, caller.RDI}, {"rsi", scRSI, caller.RSI}, {"rbp", scRBP, caller.RBP}, {"rbx", scRBX, caller.RBX},
		{"rdx", scRDX, caller.RDX}, {"rax", scRAX, 0}, {"rcx", scRCX, caller.RCX}, {"rsp", scRSP, caller.RSP},
		{"rip", scRIP, caller.RIP}, {"eflags", scEFLAGS, caller.RFLAGS}, {"oldmask", scOldMask, 0},
		{"uc_flags", frame + frameUC + ucFlags - sc, ucSigcontextSS | ucStrictRestoreSS},
		{"uc_sigmask", frame + frameUC + ucSigmask - sc, 0},
	} {
		if got := u64(sc + f.off); got != f.want {
			t.Errorf("sigcontext %s = %#x, want %#x", f.name, got, f.want)
		}
	}
	if u16(sc+scCS) != testUserCS || u16(sc+scSS) != testUserSS {
		t.Errorf("cs %#x ss %#x", u16(sc+scCS), u16(sc+scSS))
	}
	fpstate := u64(sc + scFPState)
	if fpstate%fpstateAlign != 0 || fpstate < frame+rtSigframeSize || fpstate+fxsaveSize > caller.RSP-redZone {
		t.Errorf("fpstate at %#x: want 64-byte aligned between the frame (%#x) and the red zone", fpstate, frame)
	}
	if !bytes.Equal(mem.mem[fpstate-base:fpstate-base+464], before[:464]) {
		t.Error("the frame's FXSAVE image is not the caller's FPU")
	}
	if u32(frame+frameInfo) != uint32(unix.SIGUSR1) || u32(frame+frameInfo+8) != siUser || u32(frame+frameInfo+16) != 42 {
		t.Errorf("siginfo signo %d code %d pid %d", u32(frame+frameInfo), int32(u32(frame+frameInfo+8)), u32(frame+frameInfo+16))
	}
	if fpu.state != initFPU {
		t.Error("the handler does not start with a fresh FPU")
	}
	if want := sigBit(unix.SIGUSR1) | sigBit(unix.SIGUSR2); p.main.sigmask != want {
		t.Errorf("mask in the handler %#x, want %#x", p.main.sigmask, want)
	}

	// The handler clobbers the FPU and returns into the restorer.
	fpu.state[200] ^= 0xff
	ret := UserRegs{RSP: frame + 8, RAX: unix.SYS_RT_SIGRETURN, RIP: testRestorer + 9, RFLAGS: 0x202}
	if !p.main.HandleSyscall(&ret) {
		t.Fatal("rt_sigreturn did not redirect")
	}
	if _, _, killed := p.Signaled(); killed {
		t.Fatal("rt_sigreturn of a good frame killed")
	}
	if ret != caller {
		t.Errorf("restored %+v\nwant     %+v", ret, caller)
	}
	if p.main.sigmask != 0 {
		t.Errorf("mask after sigreturn %#x", p.main.sigmask)
	}
	if !sameFPU(&fpu.state, &before) {
		t.Error("rt_sigreturn did not restore the FPU")
	}
}

// TestSigreturnBadFrames corrupts a frame as a program could and checks
// what Linux's rt_sigreturn does: SIGSEGV for a frame it cannot use,
// sanitised values where it corrects them.
func TestSigreturnBadFrames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(mem []byte, sc, uc int)
		killed  bool
		check   func(t *testing.T, p *Process, r *UserRegs)
	}{
		{name: "intact"},
		{name: "cs", corrupt: func(m []byte, sc, _ int) { binary.LittleEndian.PutUint16(m[sc+scCS:], 0x08) }, killed: true},
		{name: "ss with strict restore", corrupt: func(m []byte, sc, _ int) { binary.LittleEndian.PutUint16(m[sc+scSS:], 0x10) }, killed: true},
		{name: "ss without strict restore", corrupt: func(m []byte, sc, uc int) {
			binary.LittleEndian.PutUint16(m[sc+scSS:], 0x10)
			binary.LittleEndian.PutUint64(m[uc+ucFlags:], ucSigcontextSS)
		}},
		{name: "fpstate misaligned", corrupt: func(m []byte, sc, _ int) {
			binary.LittleEndian.PutUint64(m[sc+scFPState:], binary.LittleEndian.Uint64(m[sc+scFPState:])+8)
		}, killed: true},
		{name: "fpstate unmapped", corrupt: func(m []byte, sc, _ int) { binary.LittleEndian.PutUint64(m[sc+scFPState:], 0x1000) }, killed: true},
		{name: "mxcsr reserved bits", corrupt: func(m []byte, sc, _ int) {
			fp := int(binary.LittleEndian.Uint64(m[sc+scFPState:]) - base)
			binary.LittleEndian.PutUint32(m[fp+fxsaveMXCSR:], 0x10000)
		}, killed: true},
		{name: "null fpstate", corrupt: func(m []byte, sc, _ int) { binary.LittleEndian.PutUint64(m[sc+scFPState:], 0) },
			check: func(t *testing.T, p *Process, _ *UserRegs) {
				if init := initFPU; !sameFPU(&p.main.fpu.(*fakeFPU).state, &init) {
					t.Error("a null fpstate does not reset the FPU")
				}
			}},
		{name: "mask with SIGKILL and SIGSTOP", corrupt: func(m []byte, _, uc int) {
			binary.LittleEndian.PutUint64(m[uc+ucSigmask:], ^uint64(0))
		}, check: func(t *testing.T, p *Process, _ *UserRegs) {
			if p.main.sigmask != ^uint64(0)&^unblockable {
				t.Errorf("mask %#x", p.main.sigmask)
			}
		}},
		{name: "eflags with IOPL, NT and IF clear", corrupt: func(m []byte, sc, _ int) {
			binary.LittleEndian.PutUint64(m[sc+scEFLAGS:], 0x3000|1<<14|1|rflagsTF)
		}, check: func(t *testing.T, _ *Process, r *UserRegs) {
			if want := uint64(0x202 | 1 | rflagsTF); r.RFLAGS != want {
				t.Errorf("rflags %#x, want %#x: only the restorable bits come from the frame", r.RFLAGS, want)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, mem, _ := newSignalProcess(t, saSiginfo, 0)
			regs := callerRegs()
			p.main.HandleSyscall(&regs)
			frame := regs.RSP
			uc := int(frame + frameUC - base)
			if tc.corrupt != nil {
				tc.corrupt(mem.mem, uc+ucMcontext, uc)
			}
			ret := UserRegs{RSP: frame + 8, RAX: unix.SYS_RT_SIGRETURN, RIP: testRestorer + 9, RFLAGS: 0x202}
			p.main.HandleSyscall(&ret)
			sig, why, killed := p.Signaled()
			if killed != tc.killed || killed && sig != unix.SIGSEGV {
				t.Fatalf("killed %v by %v (%s), want killed %v by SIGSEGV", killed, sig, why, tc.killed)
			}
			if tc.check != nil {
				tc.check(t, p, &ret)
			}
		})
	}
	// A frame outside memory is SIGSEGV too.
	p, _, _ := newSignalProcess(t, saSiginfo, 0)
	ret := UserRegs{RSP: 0x2000, RAX: unix.SYS_RT_SIGRETURN, RIP: testRestorer, RFLAGS: 0x202}
	p.main.HandleSyscall(&ret)
	if sig, _, killed := p.Signaled(); !killed || sig != unix.SIGSEGV {
		t.Errorf("rt_sigreturn with an unreadable frame: killed %v by %v", killed, sig)
	}
}

// TestAltStackAndFaults checks SA_ONSTACK (the frame on the alternate
// stack, SS_ONSTACK reported in uc_stack), SS_AUTODISARM, an overflow of
// the alternate stack, and that a fault whose signal is blocked kills.
func TestAltStackAndFaults(t *testing.T) {
	p, mem, _ := newSignalProcess(t, saSiginfo|saOnStack, 0)
	const altSP, altSize = base + 0x4000, 0x2000
	st := stackT(altSP, 0, altSize)
	copy(mem.mem[0x200:], st[:])
	if r := p.Syscall(unix.SYS_SIGALTSTACK, [6]uint64{base + 0x200, 0}); r != 0 {
		t.Fatalf("sigaltstack = %d", int64(r))
	}
	regs := callerRegs()
	p.main.HandleSyscall(&regs)
	if regs.RSP <= altSP || regs.RSP >= altSP+altSize {
		t.Fatalf("frame at %#x, not on the alternate stack [%#x, %#x)", regs.RSP, altSP, altSP+altSize)
	}
	// A second signal in the handler nests on the alternate stack, and
	// uc_stack says it interrupted code on it.
	inner := regs
	inner.RAX, inner.RDI, inner.RSI = unix.SYS_KILL, 42, uint64(unix.SIGUSR1)
	p.main.sigmask = 0
	p.main.HandleSyscall(&inner)
	if inner.RSP >= regs.RSP || inner.RSP <= altSP {
		t.Errorf("nested frame at %#x, want below %#x on the alternate stack", inner.RSP, regs.RSP)
	}
	if f := binary.LittleEndian.Uint32(mem.mem[inner.RSP+frameUC+ucStack+8-base:]); f != ssOnStack {
		t.Errorf("nested uc_stack.ss_flags %d, want SS_ONSTACK", f)
	}
	// Changing the alternate stack while running on it: EPERM.
	change := UserRegs{RAX: unix.SYS_SIGALTSTACK, RDI: base + 0x200, RSP: inner.RSP, RIP: 0x400123, RFLAGS: 0x202}
	if p.main.HandleSyscall(&change); change.RAX != neg(unix.EPERM) {
		t.Errorf("sigaltstack on the alternate stack = %d, want EPERM", int64(change.RAX))
	}
	// Filling the alternate stack with nested frames ends in SIGSEGV.
	for i := 0; i < altSize/(rtSigframeSize+fxsaveSize)+2; i++ {
		p.main.sigmask = 0
		next := inner
		next.RAX, next.RDI, next.RSI = unix.SYS_KILL, 42, uint64(unix.SIGUSR1)
		p.main.HandleSyscall(&next)
		if _, _, killed := p.Signaled(); killed {
			if inner.RSP-altSP > rtSigframeSize+fxsaveSize+redZone+64 {
				t.Errorf("killed with %#x bytes of the alternate stack left", inner.RSP-altSP)
			}
			break
		}
		inner = next
	}
	if sig, _, killed := p.Signaled(); !killed || sig != unix.SIGSEGV {
		t.Errorf("overflowing the alternate stack: killed %v by %v, want SIGSEGV", killed, sig)
	}

	// A fault with its signal blocked: the handler cannot run, SIGSEGV kills.
	q, qmem, _ := newSignalProcess(t, saSiginfo, 0)
	act := qmem.mem[0x100:0x120]
	binary.LittleEndian.PutUint64(act[0:], testHandler)
	q.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{uint64(unix.SIGSEGV), base + 0x100, 0, sigsetSize})
	q.main.sigmask = sigBit(unix.SIGSEGV)
	r := callerRegs()
	if q.main.HandleFault(&r, Fault{Signal: unix.SIGSEGV, Code: segvMapErr, Addr: 0x10, TrapNo: 14, ErrorCode: 6, PageFault: true, Why: "null"}) {
		t.Error("a blocked SIGSEGV ran its handler")
	}
	if sig, _, killed := q.Signaled(); !killed || sig != unix.SIGSEGV {
		t.Errorf("blocked SIGSEGV: killed %v by %v", killed, sig)
	}
	// Unblocked, the handler runs with si_addr and the trap in the frame.
	q2, q2mem, _ := newSignalProcess(t, saSiginfo, 0)
	copy(q2mem.mem[0x100:0x120], act)
	q2.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{uint64(unix.SIGSEGV), base + 0x100, 0, sigsetSize})
	r = callerRegs()
	if !q2.main.HandleFault(&r, Fault{Signal: unix.SIGSEGV, Code: segvAccErr, Addr: 0x7777, TrapNo: 14, ErrorCode: 7, PageFault: true}) {
		t.Fatal("SIGSEGV ran no handler")
	}
	get := func(off uint64) uint64 { return binary.LittleEndian.Uint64(q2mem.mem[off-base:]) }
	sc := r.RSP + frameUC + ucMcontext
	if get(r.RSI+16) != 0x7777 || int32(get(r.RSI+8)) != segvAccErr || get(sc+scTrapNo) != 14 || get(sc+scErr) != 7 || get(sc+scCR2) != 0x7777 {
		t.Errorf("si_addr %#x si_code %d trapno %d err %d cr2 %#x", get(r.RSI+16), int32(get(r.RSI+8)), get(sc+scTrapNo), get(sc+scErr), get(sc+scCR2))
	}
}

// TestRestartCodes checks how a call interrupted by a signal that runs a
// handler ends (Linux's handle_signal): EINTR, or the SYSCALL re-executed
// (RAX the call's number again, RIP back over the instruction) for
// ERESTARTSYS under SA_RESTART and ERESTARTNOINTR always.
func TestRestartCodes(t *testing.T) {
	const nr, rip = unix.SYS_READ, 0x401002
	for _, tc := range []struct {
		ret     int64
		flags   uint64
		restart bool
	}{
		{-errRestartSys, 0, false},
		{-errRestartSys, saRestart, true},
		{-errRestartNoIntr, 0, true},
		{-errRestartNoHand, saRestart, false},
		{-errRestartRestartBlock, saRestart, false},
		{-int64(unix.EAGAIN), saRestart, false},
	} {
		regs := UserRegs{RAX: uint64(tc.ret), RIP: rip}
		restartForHandler(&regs, nr, tc.flags)
		switch {
		case tc.restart && (regs.RAX != nr || regs.RIP != rip-syscallInsnLen):
			t.Errorf("%d with flags %#x: rax %d rip %#x, want the call restarted", tc.ret, tc.flags, int64(regs.RAX), regs.RIP)
		case !tc.restart && tc.ret <= -errRestartSys && regs.RAX != neg(unix.EINTR):
			t.Errorf("%d with flags %#x: rax %d, want EINTR", tc.ret, tc.flags, int64(regs.RAX))
		case !tc.restart && tc.ret > -errRestartSys && regs.RAX != uint64(tc.ret):
			t.Errorf("%d: rax %d, want it unchanged", tc.ret, int64(regs.RAX))
		case !tc.restart && regs.RIP != rip:
			t.Errorf("%d with flags %#x: rip moved to %#x", tc.ret, tc.flags, regs.RIP)
		}
	}
}
