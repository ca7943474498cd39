package ring0

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/x86enc"
	"github.com/mmvm/mmvm/x86enc/x86enctest"
	"golang.org/x/arch/x86/x86asm"
)

// cpu is a model of the parts of an x86-64 CPU the protocol relies on:
// exception delivery through the IDT and TSS, SYSCALL/SYSRET through the
// MSRs, and the few instructions the stubs contain. It reads the kernel
// state from guest memory, as the hardware would, so it checks what New
// wrote rather than what Layout claims.
type cpu struct {
	t    testing.TB
	k    *Kernel
	mem  []byte
	msrs map[uint32]uint64

	rip, rsp, rflags, rcx, r11 uint64
	cs, ss                     uint16
}

func newCPU(t testing.TB, k *Kernel, mem []byte) *cpu {
	c := &cpu{t: t, k: k, mem: mem, msrs: map[uint32]uint64{}}
	for _, m := range k.MSRs() {
		c.msrs[m.Index] = m.Value
	}
	return c
}

// off translates a kernel virtual address into a region offset.
func (c *cpu) off(va uint64) uint64 {
	l := c.k.Layout()
	if va < uint64(l.Virt) || va-uint64(l.Virt) >= RegionSize {
		c.t.Fatalf("kernel access at %#x outside the region", va)
	}
	return va - uint64(l.Virt)
}

func (c *cpu) push(v uint64) {
	c.rsp -= 8
	binary.LittleEndian.PutUint64(c.mem[c.off(c.rsp):], v)
}

func (c *cpu) pop() uint64 {
	v := binary.LittleEndian.Uint64(c.mem[c.off(c.rsp):])
	c.rsp += 8
	return v
}

// deliver raises exception v (with errCode if the vector has one): SDM vol.
// 3A, 6.14, interrupt delivery in 64-bit mode.
func (c *cpu) deliver(v Vector, errCode uint64) {
	idtr := c.k.UserSpecialRegisters(0).IDT
	if uint64(v)*16+15 > uint64(idtr.Limit) {
		c.t.Fatalf("vector %d beyond the IDT limit", v)
	}
	g := c.off(idtr.Base) + uint64(v)*16
	lo, hi := binary.LittleEndian.Uint64(c.mem[g:]), binary.LittleEndian.Uint64(c.mem[g+8:])
	if lo>>47&1 == 0 || lo>>40&0xF != 0xE {
		c.t.Fatalf("vector %d: gate not a present interrupt gate", v)
	}
	tss := c.off(c.k.UserSpecialRegisters(0).TR.Base)
	newRSP := c.rsp
	if ist := lo >> 32 & 7; ist != 0 {
		newRSP = binary.LittleEndian.Uint64(c.mem[tss+36+8*(ist-1):])
	} else if c.cs&3 != 0 {
		newRSP = binary.LittleEndian.Uint64(c.mem[tss+4:])
	}
	oldSS, oldRSP := uint64(c.ss), c.rsp
	c.rsp = newRSP &^ 15
	c.push(oldSS)
	c.push(oldRSP)
	c.push(c.rflags)
	c.push(uint64(c.cs))
	c.push(c.rip)
	if v.HasErrorCode() {
		c.push(errCode)
	}
	c.cs, c.ss = uint16(lo>>16), 0
	c.rip = lo&0xFFFF | (lo>>48)<<16 | hi<<32
	c.rflags &^= RFLAGSIF | RFLAGSTF | RFLAGSNT | RFLAGSRF
}

// syscall executes SYSCALL (SDM vol. 2B).
func (c *cpu) syscall() {
	c.rcx = c.rip + 2
	c.r11 = c.rflags
	star := c.msrs[MSRStar]
	c.cs, c.ss = uint16(star>>32), uint16(star>>32)+8
	c.rip = c.msrs[MSRLStar]
	c.rflags &^= c.msrs[MSRSyscallMask]
}

// step runs one instruction at RIP from the region; it reports the exit
// port when the instruction is the `out` that exits to the host.
func (c *cpu) step() (port uint16, exited bool) {
	if c.cs&3 != 0 {
		c.t.Fatalf("step in user mode at %#x", c.rip)
	}
	in, err := x86asm.Decode(c.mem[c.off(c.rip):], 64)
	if err != nil {
		c.t.Fatalf("decode at %#x: %v", c.rip, err)
	}
	next := c.rip + uint64(in.Len)
	switch {
	case in.Op == x86asm.OUT && in.Args[1] == x86asm.AL:
		c.rip = next
		return uint16(in.Args[0].(x86asm.Imm)), true
	case in.Op == x86asm.ADD && in.Args[0] == x86asm.RSP:
		c.rsp += uint64(in.Args[1].(x86asm.Imm))
		c.rip = next
	case in.Op == x86asm.IRETQ:
		c.rip = c.pop()
		c.cs = uint16(c.pop())
		c.rflags = c.pop()
		rsp := c.pop()
		c.ss = uint16(c.pop())
		c.rsp = rsp
	case in.Op == x86asm.SYSRET && x86enctest.HasREXW(in):
		star := c.msrs[MSRStar]
		c.rip = c.rcx
		c.rflags = c.r11&0x3C7FD7 | 2
		c.cs, c.ss = uint16(star>>48)+16|3, uint16(star>>48)+8|3
	default:
		c.t.Fatalf("unexpected ring-0 instruction %v at %#x", in, c.rip)
	}
	return 0, false
}

// runStub steps until the exit; then, if resume is set, until user mode.
func (c *cpu) runToExit() (port uint16, steps int) {
	for steps = 1; steps < 10; steps++ {
		if p, ok := c.step(); ok {
			return p, steps
		}
	}
	c.t.Fatalf("no exit within 10 instructions")
	return 0, 0
}

func (c *cpu) runToUser() (steps int) {
	for steps = 1; c.cs&3 == 0; steps++ {
		if steps > 10 {
			c.t.Fatalf("not back in user mode within 10 instructions")
		}
		if _, ok := c.step(); ok {
			c.t.Fatalf("second exit while resuming")
		}
	}
	return steps - 1
}

func (c *cpu) exit(port uint16, cr2 uint64) Exit {
	return Exit{Port: port, RSP: c.rsp, RCX: c.rcx, R11: c.r11, CR2: cr2}
}

var testUser = UserContext{RIP: 0x40_1234, RSP: 0x7fff_ffff_e000 - 0x38, RFLAGS: UserRFLAGS | RFLAGSCF}

func (c *cpu) enterUser(u UserContext) {
	c.rip, c.rsp, c.rflags = u.RIP, u.RSP, u.RFLAGS
	c.cs, c.ss = UserCodeSelector, UserDataSelector
}

func TestDecodeEveryVectorFromUser(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	for v := Vector(0); v < NumVectors; v++ {
		c := newCPU(t, k, mem)
		c.enterUser(testUser)
		const errCode, cr2 = 0x15, 0x1234_5000
		c.deliver(v, errCode)
		port, steps := c.runToExit()
		if steps != 1 || port != VectorPort(v) {
			t.Fatalf("%v: exit on port %#x after %d instructions", v, port, steps)
		}
		ev, err := k.Decode(c.exit(port, cr2))
		if err != nil {
			t.Fatalf("%v: Decode: %v", v, err)
		}
		want := Event{
			Kind: EventException, Port: VectorPort(v), Vector: v, User: true,
			CS: UserCodeSelector, SS: UserDataSelector, Context: testUser,
			StubResumes: true, DirectResumes: v != NMI,
		}
		if v.HasErrorCode() {
			want.ErrorCode = errCode
		}
		if v == PageFault {
			want.FaultAddr = cr2
		}
		if ev != want {
			t.Errorf("%v: event\n%+v\nwant\n%+v", v, ev, want)
		}
		// Letting the stub run returns to exactly the interrupted context.
		n := c.runToUser()
		wantSteps := 1
		if v.HasErrorCode() {
			wantSteps = 2
		}
		if n != wantSteps {
			t.Errorf("%v: %d ring-0 instructions after the exit, want %d", v, n, wantSteps)
		}
		got := UserContext{RIP: c.rip, RSP: c.rsp, RFLAGS: c.rflags}
		if got != ev.Context || c.cs != ev.CS || c.ss != ev.SS {
			t.Errorf("%v: stub resumed to %+v cs %#x ss %#x, event says %+v", v, got, c.cs, c.ss, ev.Context)
		}
	}
}

func TestDecodeSyscall(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	for _, tc := range []struct {
		name   string
		rflags uint64
	}{
		{"plain", UserRFLAGS},
		{"flags the mask clears", UserRFLAGS | RFLAGSTF | RFLAGSDF | RFLAGSAC | RFLAGSCF},
	} {
		c := newCPU(t, k, mem)
		u := testUser
		u.RFLAGS = tc.rflags
		c.enterUser(u)
		c.syscall()
		if c.cs != KernelCodeSelector || c.ss != KernelDataSelector {
			t.Fatalf("%s: SYSCALL loaded cs %#x ss %#x", tc.name, c.cs, c.ss)
		}
		if c.rflags&(RFLAGSIF|RFLAGSTF|RFLAGSDF|RFLAGSAC) != 0 {
			t.Errorf("%s: ring 0 runs with rflags %#x", tc.name, c.rflags)
		}
		port, steps := c.runToExit()
		if port != PortSyscall || steps != 1 {
			t.Fatalf("%s: exit on %#x after %d", tc.name, port, steps)
		}
		ev, err := k.Decode(c.exit(port, 0))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		wantCtx := UserContext{RIP: u.RIP + 2, RSP: u.RSP, RFLAGS: u.RFLAGS}
		if ev.Kind != EventSyscall || !ev.User || ev.Context != wantCtx || !ev.StubResumes || !ev.DirectResumes || ev.CS != UserCodeSelector || ev.SS != UserDataSelector {
			t.Errorf("%s: event %+v, want context %+v", tc.name, ev, wantCtx)
		}
		if n := c.runToUser(); n != 1 {
			t.Errorf("%s: %d instructions after the exit, want 1", tc.name, n)
		}
		got := UserContext{RIP: c.rip, RSP: c.rsp, RFLAGS: c.rflags}
		if got != ev.Context || c.cs != UserCodeSelector || c.ss != UserDataSelector {
			t.Errorf("%s: sysret to %+v cs %#x ss %#x, event says %+v", tc.name, got, c.cs, c.ss, ev.Context)
		}
	}
}

func TestSyscallNonCanonicalReturn(t *testing.T) {
	k, _ := newTestKernel(t, false, CPUFeatures{})
	for _, tc := range []struct {
		rcx  uint64
		stub bool
	}{
		{0x7fff_ffff_effe, true},
		{uint64(arch.MaxUserAddr) - 1, true},
		{uint64(arch.MaxUserAddr), false},
		{0xffff_8000_0000_0000, false},
	} {
		ev, err := k.Decode(Exit{Port: PortSyscall, RCX: tc.rcx, R11: UserRFLAGS})
		if err != nil || ev.StubResumes != tc.stub || ev.DirectResumes != tc.stub {
			t.Errorf("rcx %#x: %+v %v, want StubResumes and DirectResumes %v", tc.rcx, ev, err, tc.stub)
		}
	}
}

func TestSysretRFLAGS(t *testing.T) {
	for _, tc := range []struct{ r11, want uint64 }{
		{0x202, 0x202},
		{0, 0x2},
		{0x202 | RFLAGSRF | RFLAGSVM, 0x202},
		{^uint64(0), 0x3C7FD7 | 2},
	} {
		if got := SysretRFLAGS(tc.r11); got != tc.want {
			t.Errorf("SysretRFLAGS(%#x) = %#x, want %#x", tc.r11, got, tc.want)
		}
	}
}

// An exception while the CPU is in ring 0 (an NMI inside the syscall stub)
// decodes as not from user mode and may not be resumed from the host.
func TestDecodeKernelModeException(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	for _, v := range []Vector{NMI, MachineCheck, Debug, DoubleFault} {
		c := newCPU(t, k, mem)
		c.enterUser(testUser)
		c.syscall()
		c.deliver(v, 0)
		port, _ := c.runToExit()
		ev, err := k.Decode(c.exit(port, 0))
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		if ev.User || ev.DirectResumes || ev.CS != KernelCodeSelector || ev.Context.RIP != uint64(k.Layout().SyscallEntry) {
			t.Errorf("%v in ring 0: %+v", v, ev)
		}
	}
	// #GP in ring 0 without an IST lands on the current stack; here the
	// RSP0 stack, as if iretq itself had faulted.
	c := newCPU(t, k, mem)
	c.enterUser(testUser)
	c.deliver(InvalidOpcode, 0)
	c.runToExit()
	c.deliver(GeneralProtection, 0)
	port, _ := c.runToExit()
	ev, err := k.Decode(c.exit(port, 0))
	if err != nil || ev.User || ev.Vector != GeneralProtection || ev.DirectResumes {
		t.Errorf("nested #GP: %+v %v", ev, err)
	}
}

func TestDecodeUserPort(t *testing.T) {
	k, _ := newTestKernel(t, true, CPUFeatures{})
	for p := uint16(PortUserFirst); p <= PortUserLast; p++ {
		ev, err := k.Decode(Exit{Port: p})
		if err != nil || ev.Kind != EventUserPort || ev.Port != p || !ev.User {
			t.Errorf("port %#x: %+v %v", p, ev, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	k, _ := newTestKernel(t, false, CPUFeatures{})
	l := k.Layout()
	for _, p := range []uint16{0, PortVectorBase - 1, PortSyscall + 1, PortUserFirst - 1, PortUserLast + 1, 0x3F8, 0xFFFF} {
		if _, err := k.Decode(Exit{Port: p}); !errors.Is(err, ErrUnknownPort) {
			t.Errorf("port %#x: %v, want ErrUnknownPort", p, err)
		}
	}
	stacksLo := uint64(l.VirtOf(l.Stacks.Offset))
	stacksHi := stacksLo + l.Stacks.Size
	for _, tc := range []struct {
		name string
		v    Vector
		rsp  uint64
		ok   bool
	}{
		{"user RSP", DivideError, testUser.RSP, false},
		{"zero", DivideError, 0, false},
		{"below stacks", DivideError, stacksLo - 8, false},
		{"lowest frame", DivideError, stacksLo, true},
		{"last whole frame", DivideError, stacksHi - frameSize, true},
		{"frame runs past", DivideError, stacksHi - frameSize + 8, false},
		{"error-code frame runs past", PageFault, stacksHi - frameSize, false},
		{"last whole error-code frame", PageFault, stacksHi - frameSize - errorCodeSize, true},
		{"at the end", DivideError, stacksHi, false},
		{"wraps", DivideError, ^uint64(0) - 7, false},
		{"GDT", DivideError, uint64(l.VirtOf(l.GDT.Offset)), false},
	} {
		_, err := k.Decode(Exit{Port: VectorPort(tc.v), RSP: tc.rsp})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadFrame)) {
			t.Errorf("%s (rsp %#x): %v, want ok=%v", tc.name, tc.rsp, err, tc.ok)
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	c := newCPU(t, k, mem)
	c.enterUser(testUser)
	c.deliver(PageFault, 6)
	port, _ := c.runToExit()
	e := c.exit(port, 0x1000)
	var ev Event
	allocs := testing.AllocsPerRun(100, func() {
		ev, _ = k.Decode(e)
		ev, _ = k.Decode(Exit{Port: PortSyscall, RCX: 1, R11: 2})
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %.1f times per call", allocs)
	}
	_ = ev
}

func TestPageFaultError(t *testing.T) {
	for _, tc := range []struct {
		code   PageFaultError
		access arch.AccessType
		str    string
	}{
		{0x4, arch.Read, "user read not-present"},
		{0x6, arch.Write, "user write not-present"},
		{0x7, arch.Write, "user write protection"},
		{0x15, arch.Execute, "user fetch protection"},
		{0x14, arch.Execute, "user fetch not-present"},
		{0x0, arch.Read, "supervisor read not-present"},
		{0xD, arch.Read, "user read protection reserved-bit"},
		{0x25, arch.Read, "user read protection pkey"},
		{0x47, arch.Write, "user write protection shadow-stack"},
	} {
		if tc.code.Access() != tc.access || tc.code.String() != tc.str {
			t.Errorf("%#x: access %v %q, want %v %q", uint64(tc.code), tc.code.Access(), tc.code.String(), tc.access, tc.str)
		}
	}
	if !PageFaultError(7).Has(PFPresent|PFWrite) || PageFaultError(6).Has(PFPresent|PFWrite) {
		t.Errorf("Has")
	}
}

// BenchmarkDecode measures the host's decoding of a #PF exit, the step the
// fault path adds to every fault.
func BenchmarkDecode(b *testing.B) {
	mem := make([]byte, RegionSize)
	k, err := New(Config{Mem: mem, Phys: testPhys, Virt: testVirt})
	if err != nil {
		b.Fatal(err)
	}
	c := newCPU(b, k, mem)
	c.enterUser(testUser)
	c.deliver(PageFault, 6)
	port, _ := c.runToExit()
	e := c.exit(port, 0x1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Decode(e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeSyscallPaths checks where a PortSyscall exit is believed: from
// ring 0 always (the stub), from user mode only at the trampoline's `out`
// with SyscallInUser; any other user-mode exit on that port is the #GP that
// `out` would raise without the bitmap's permission.
func TestDecodeSyscallPaths(t *testing.T) {
	k, _ := newTestKernel(t, false, CPUFeatures{})
	l := k.Layout()
	tramp := uint64(l.UserSyscallEntry)
	for _, tc := range []struct {
		name string
		path SyscallPath
		exit Exit
		want EventKind
	}{
		{"ring-0 stub", SyscallToRing0, Exit{Port: PortSyscall, CPL: 0, RIP: uint64(l.SyscallEntry), RCX: 0x401000}, EventSyscall},
		{"trampoline", SyscallInUser, Exit{Port: PortSyscall, CPL: 3, RIP: tramp, RCX: 0x401000}, EventSyscall},
		{"trampoline without SyscallInUser", SyscallToRing0, Exit{Port: PortSyscall, CPL: 3, RIP: tramp, RCX: 0x401000}, EventException},
		{"user out elsewhere", SyscallInUser, Exit{Port: PortSyscall, CPL: 3, RIP: 0x401000, RCX: 0x401000}, EventException},
		{"user out just past the trampoline", SyscallInUser, Exit{Port: PortSyscall, CPL: 3, RIP: tramp + 2, RCX: 0x401000}, EventException},
	} {
		k.SetSyscallPath(tc.path)
		ev, err := k.Decode(tc.exit)
		if err != nil || ev.Kind != tc.want || !ev.User {
			t.Errorf("%s: %+v %v, want a user %v", tc.name, ev, err, tc.want)
			continue
		}
		switch ev.Kind {
		case EventSyscall:
			if ev.Context.RIP != tc.exit.RCX || !ev.DirectResumes || ev.StubResumes != (tc.exit.CPL == 0) {
				t.Errorf("%s: %+v", tc.name, ev)
			}
		case EventException:
			if ev.Vector != GeneralProtection || ev.Context.RIP != tc.exit.RIP {
				t.Errorf("%s: %+v, want #GP at the out", tc.name, ev)
			}
		}
	}
	if ev, err := k.Decode(Exit{Port: PortReplay, CPL: 3}); err == nil {
		t.Errorf("a user-mode exit on the replay port decoded as %+v", ev)
	}
	if ev, err := k.Decode(Exit{Port: PortReplay, CPL: 0}); err != nil || ev.Kind != EventReplay {
		t.Errorf("replay exit: %+v %v", ev, err)
	}
}

// TestSyscallPathSetsLSTARAndBitmap checks what SetSyscallPath changes: LSTAR
// moves to the trampoline and user mode may reach PortSyscall, and back.
func TestSyscallPathSetsLSTARAndBitmap(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	l := k.Layout()
	lstar := func() uint64 {
		for _, m := range k.MSRs() {
			if m.Index == MSRLStar {
				return m.Value
			}
		}
		t.Fatal("no LSTAR")
		return 0
	}
	for _, p := range []SyscallPath{SyscallInUser, SyscallToRing0} {
		k.SetSyscallPath(p)
		wantLSTAR, wantAllowed := uint64(l.SyscallEntry), false
		if p == SyscallInUser {
			wantLSTAR, wantAllowed = uint64(l.UserSyscallEntry), true
		}
		if got := lstar(); got != wantLSTAR {
			t.Errorf("%v: LSTAR %#x, want %#x", p, got, wantLSTAR)
		}
		if got := ioAllowed(mem, l.TSS.Offset, l.TSSLimit, PortSyscall, 1); got != wantAllowed {
			t.Errorf("%v: user out to PortSyscall allowed=%v", p, got)
		}
		for _, port := range []uint16{PortVectorBase + uint16(PageFault), PortReplay, PortUserFirst} {
			if ioAllowed(mem, l.TSS.Offset, l.TSSLimit, port, 1) {
				t.Errorf("%v: user out to %#x allowed", p, port)
			}
		}
	}
	// The trampoline page: the exit at its entry, the probe's syscall,
	// int3 everywhere else; it lies outside every program's address space.
	page := mem[l.Trampoline.Offset : l.Trampoline.Offset+l.Trampoline.Size]
	if !bytes.Equal(page[:2], []byte{0xE6, PortSyscall}) || !bytes.Equal(page[0x10:0x12], []byte{0x0F, 0x05}) {
		t.Errorf("trampoline page starts % x, probe % x", page[:4], page[0x10:0x12])
	}
	probe := x86enc.Assemble(tableProbe()...)
	if !bytes.Equal(page[0x20:0x20+len(probe)], probe) {
		t.Errorf("table probe % x, want % x", page[0x20:0x20+len(probe)], probe)
	}
	x86enctest.CheckDecodes(t, "table probe", tableProbe())
	for i, b := range page {
		if (i >= 2 && i < 0x10 || i >= 0x12 && i < 0x20 || i >= 0x20+len(probe)) && b != 0xCC {
			t.Fatalf("trampoline byte %#x = %#x, want int3", i, b)
		}
	}
	if l.UserSyscallEntry != TrampolineVirt || TrampolineVirt+arch.PageSize != arch.MaxUserAddr {
		t.Errorf("trampoline at %v", l.UserSyscallEntry)
	}
}

// TestReplayStubCost pins the replay stub's instructions: every one is
// emulated on PVM, so a new one must be a deliberate change here.
func TestReplayStubCost(t *testing.T) {
	s := replayStub()
	x86enctest.CheckDecodes(t, s.Name, s.Code)
	got := strings.Join(mnemonics(t, s), " ")
	want := "test jz mov mov mov rep add dec jnz test jz mov mov mov add dec jnz out"
	if got != want {
		t.Errorf("replay stub: %s\nwant %s", got, want)
	}
	l := Layout{Virt: testVirt}
	if l.ReplayExitRIP() != l.ReplayEntry()+arch.Addr(s.Size()-2) {
		t.Errorf("replay exit rip %v, entry %v, size %d", l.ReplayExitRIP(), l.ReplayEntry(), s.Size())
	}
	if s.Offset+uint64(s.Size()) > stubsOffset+arch.PageSize || s.Offset < syscallStub().Offset+uint64(syscallStub().Size()) {
		t.Errorf("replay stub at %#x+%d overlaps", s.Offset, s.Size())
	}
}

// TestTrampolineRFLAGS checks that a syscall through the trampoline, whose
// R11 user code chose, resumes with only the flags user code may set:
// never IOPL 3, NT or VM, never interrupts off.
func TestTrampolineRFLAGS(t *testing.T) {
	k, _ := newTestKernel(t, false, CPUFeatures{})
	k.SetSyscallPath(SyscallInUser)
	for _, tc := range []struct{ r11, want uint64 }{
		{UserRFLAGS, UserRFLAGS},
		{UserRFLAGS | RFLAGSCF | RFLAGSDF, UserRFLAGS | RFLAGSCF | RFLAGSDF},
		{RFLAGSIOPL | RFLAGSNT | RFLAGSVM | RFLAGSRF, UserRFLAGS},
		{0, UserRFLAGS},
		{^uint64(0), userFlagsMask | UserRFLAGS},
	} {
		ev, err := k.Decode(Exit{Port: PortSyscall, CPL: 3, RIP: uint64(k.Layout().UserSyscallEntry), RCX: 0x401000, R11: tc.r11})
		if err != nil || ev.Kind != EventSyscall || ev.Context.RFLAGS != tc.want {
			t.Errorf("r11 %#x: %+v %v, want rflags %#x", tc.r11, ev, err, tc.want)
		}
		if ev.Context.RFLAGS&(RFLAGSIOPL|RFLAGSNT|RFLAGSVM) != 0 || ev.Context.RFLAGS&RFLAGSIF == 0 {
			t.Errorf("r11 %#x: resumes with %#x", tc.r11, ev.Context.RFLAGS)
		}
	}
}
