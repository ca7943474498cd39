package ring0_test

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/ring0/ring0test"
	"github.com/mmvm/mmvm/x86enc"
)

// These tests boot a vCPU straight into user mode over ring0's kernel state
// on a real KVM (they skip without /dev/kvm, and fail instead under
// MMVM_REQUIRE_KVM), with page tables built by hand, and check that each
// exit decodes as the protocol says and that both ways of resuming work.

// Guest-physical layout of the test VM: one 4 MiB slot at 0.
const (
	memSize    = 4 << 20
	pml4Phys   = 0x1000
	pdptLoPhys = 0x2000 // user half
	pdLoPhys   = 0x3000
	ptLoPhys   = 0x4000
	pdptHiPhys = 0x5000 // kernel half
	pdHiPhys   = 0x6000
	ptHiPhys   = 0x7000
	kernelPhys = 0x10000
	codePhys   = 0x20000
	stackPhys  = 0x21000
	dataPhys   = 0x22000

	kernelVirt = arch.Addr(0xffff_ffff_8000_0000)
	codeVirt   = 0x40_0000
	stackVirt  = 0x40_1000 // one page; RSP starts at its top
	dataVirt   = 0x40_3000 // unmapped until the first fault on it

)

type guest struct {
	t      *testing.T
	cpu    *kvm.VCPU
	mem    []byte
	k      *ring0.Kernel
	synced bool // registers come from KVM_CAP_SYNC_REGS
}

// boot creates a VM running code at CPL 3 at codeVirt with RSP at the top
// of the stack page and RDI = dataVirt.
func boot(t *testing.T, code []byte, userPorts bool) *guest {
	t.Helper()
	sys, vm := kvmtest.NewVM(t)
	mem, err := unix.Mmap(-1, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() {
		vm.DeleteMemorySlot(0)
		unix.Munmap(mem)
	})
	if err := vm.SetMemorySlot(kvm.MemorySlot{Slot: 0, Size: memSize, HostAddr: uintptr(unsafe.Pointer(&mem[0]))}); err != nil {
		t.Fatalf("SetMemorySlot: %v", err)
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatalf("NewVCPU: %v", err)
	}
	cpuid, err := sys.SupportedCPUID()
	if err != nil {
		t.Fatalf("SupportedCPUID: %v", err)
	}
	if err := cpu.SetCPUID(cpuid); err != nil {
		t.Fatalf("SetCPUID: %v", err)
	}
	l1, _ := kvm.FindCPUID(cpuid, 1, 0)
	l7, _ := kvm.FindCPUID(cpuid, 7, 0)
	l0, _ := kvm.FindCPUID(cpuid, 0, 0)
	features := ring0.FeaturesFromCPUID(l1.ECX, l7.EBX, l7.ECX)
	amd := ring0.IsAMD(l0.EBX, l0.ECX, l0.EDX)
	t.Logf("CPU features: %+v, AMD %v", features, amd)

	// On AMD an available TSS lets QEMU's emulated I/O check honour the
	// bitmap (see Config.AvailableTSS); elsewhere TR stays busy.
	k, err := ring0.New(ring0.Config{Mem: mem[kernelPhys : kernelPhys+ring0.RegionSize], Phys: kernelPhys, Virt: kernelVirt,
		Features: features, UserPorts: userPorts, AvailableTSS: amd})
	if err != nil {
		t.Fatalf("ring0.New: %v", err)
	}
	g := &guest{t: t, cpu: cpu, mem: mem, k: k}
	g.buildPageTables()
	copy(mem[codePhys:], code)

	sregs := k.UserSpecialRegisters(pml4Phys)
	ks := kvm.Sregs{
		CS: ring0test.KVMSegment(sregs.CS), DS: ring0test.KVMSegment(sregs.DS), ES: ring0test.KVMSegment(sregs.ES), FS: ring0test.KVMSegment(sregs.FS),
		GS: ring0test.KVMSegment(sregs.GS), SS: ring0test.KVMSegment(sregs.SS), TR: ring0test.KVMSegment(sregs.TR), LDT: ring0test.KVMSegment(sregs.LDT),
		GDT: kvm.DTable{Base: sregs.GDT.Base, Limit: sregs.GDT.Limit}, IDT: kvm.DTable{Base: sregs.IDT.Base, Limit: sregs.IDT.Limit},
		CR0: sregs.CR0, CR3: sregs.CR3, CR4: sregs.CR4, EFER: sregs.EFER,
	}
	var cur kvm.Sregs
	if err := cpu.GetSregs(&cur); err != nil {
		t.Fatalf("GetSregs: %v", err)
	}
	ks.APICBase = cur.APICBase
	if err := cpu.SetSregs(&ks); err != nil {
		t.Fatalf("SetSregs: %v", err)
	}
	var msrs []kvm.MSR
	for _, m := range k.MSRs() {
		msrs = append(msrs, kvm.MSR{Index: m.Index, Data: m.Value})
	}
	if err := cpu.SetMSRs(msrs); err != nil {
		t.Fatalf("SetMSRs: %v", err)
	}
	regs := kvm.Regs{RIP: codeVirt, RSP: stackVirt + arch.PageSize, RFLAGS: ring0.UserRFLAGS, RDI: dataVirt}
	if err := cpu.SetRegs(&regs); err != nil {
		t.Fatalf("SetRegs: %v", err)
	}
	if vm.SyncRegsSupported()&(kvm.SyncRegsGPR|kvm.SyncRegsSregs) == kvm.SyncRegsGPR|kvm.SyncRegsSregs {
		if err := cpu.SetSyncRegs(kvm.SyncRegsGPR | kvm.SyncRegsSregs); err != nil {
			t.Fatalf("SetSyncRegs: %v", err)
		}
		g.synced = true
	}
	cpu.BindThread()
	t.Cleanup(cpu.UnbindThread)
	return g
}

// buildPageTables maps the user code (read, execute), the user stack
// (read/write, no-execute) and the kernel region with ring0's permissions,
// supervisor-only and global.
func (g *guest) buildPageTables() {
	const user = ring0test.PTEPresent | ring0test.PTEWrite | ring0test.PTEUser
	t := ring0test.Tables(g.mem)
	t.Link(codeVirt, user, pml4Phys, pdptLoPhys, pdLoPhys, ptLoPhys)
	t.Set(ptLoPhys, codeVirt>>12&511, codePhys|ring0test.PTEPresent|ring0test.PTEUser)
	t.Set(ptLoPhys, stackVirt>>12&511, stackPhys|user|ring0test.PTENX)
	t.MapKernel(g.k.Layout(), pml4Phys, pdptHiPhys, pdHiPhys, ptHiPhys)
}

// state returns the registers at the last exit: from the run structure
// when synced, else by ioctl.
func (g *guest) state() (*kvm.Regs, *kvm.Sregs) {
	if g.synced {
		s := g.cpu.Sync()
		return &s.Regs, &s.Sregs
	}
	var r kvm.Regs
	var s kvm.Sregs
	if err := g.cpu.GetRegs(&r); err != nil {
		g.t.Fatalf("GetRegs: %v", err)
	}
	if err := g.cpu.GetSregs(&s); err != nil {
		g.t.Fatalf("GetSregs: %v", err)
	}
	return &r, &s
}

// next runs the vCPU to its next exit, which must be a protocol exit, and
// decodes it.
func (g *guest) next() (ring0.Event, kvm.IOExit) {
	g.t.Helper()
	reason, err := g.cpu.Run()
	if err != nil {
		g.t.Fatalf("Run: %v", err)
	}
	if reason != kvm.ExitIO {
		g.t.Fatalf("exit: %v", g.cpu.UnexpectedExit(reason))
	}
	io, ok := g.cpu.IO()
	if !ok || io.Direction != kvm.IOOut || io.Size != 1 || io.Count != 1 {
		g.t.Fatalf("IO exit %+v, want a one-byte out", io)
	}
	regs, sregs := g.state()
	ev, err := g.k.Decode(ring0.Exit{Port: io.Port, RSP: regs.RSP, RCX: regs.RCX, R11: regs.R11, CR2: sregs.CR2})
	if err != nil {
		g.t.Fatalf("Decode: %v", err)
	}
	return ev, io
}

// resumeDirect loads the event's user context into the vCPU through the
// sync registers, skipping the rest of the stub.
func (g *guest) resumeDirect(ev ring0.Event) {
	g.t.Helper()
	if !ev.DirectResumes {
		g.t.Fatalf("event %+v cannot be resumed directly", ev)
	}
	s := g.cpu.Sync()
	s.Regs.RIP, s.Regs.RSP, s.Regs.RFLAGS = ev.Context.RIP, ev.Context.RSP, ev.Context.RFLAGS
	s.Sregs.CS, s.Sregs.SS = ring0test.KVMSegment(ring0.UserCodeSegment()), ring0test.KVMSegment(ring0.UserDataSegment())
	s.Sregs.TR = ring0test.KVMSegment(g.k.TaskRegister())
	if err := g.cpu.MarkSyncDirty(kvm.SyncRegsGPR | kvm.SyncRegsSregs); err != nil {
		g.t.Fatal(err)
	}
}

func (g *guest) setRAX(v uint64) {
	if g.synced {
		g.cpu.Sync().Regs.RAX = v
		if err := g.cpu.MarkSyncDirty(kvm.SyncRegsGPR); err != nil {
			g.t.Fatal(err)
		}
		return
	}
	r, _ := g.state()
	r.RAX = v
	if err := g.cpu.SetRegs(r); err != nil {
		g.t.Fatal(err)
	}
}

func TestKVMSyscallAndPageFault(t *testing.T) {
	probe := ring0.SyscallTouchProbe(39)
	code := x86enc.Assemble(probe...)
	// The store to [rdi] is the fourth instruction.
	storeRIP := uint64(codeVirt + len(x86enc.Assemble(probe[:3]...)))
	syscallNext := uint64(codeVirt + len(x86enc.Assemble(probe[:2]...)))
	for _, direct := range []bool{false, true} {
		name := "via stub"
		if direct {
			name = "direct from host"
		}
		t.Run(name, func(t *testing.T) {
			g := boot(t, code, true)
			if direct && !g.synced {
				t.Skip("KVM_CAP_SYNC_REGS lacks regs+sregs here")
			}
			resume := func(ev ring0.Event) {
				if direct {
					g.resumeDirect(ev)
				} else if !ev.StubResumes {
					t.Fatalf("event %+v cannot resume through its stub", ev)
				}
			}

			// 1. The syscall exits through the SYSCALL entry.
			ev, _ := g.next()
			regs, _ := g.state()
			wantCtx := ring0.UserContext{RIP: syscallNext, RSP: stackVirt + arch.PageSize, RFLAGS: ring0.UserRFLAGS}
			if ev.Kind != ring0.EventSyscall || regs.RAX != 39 || ev.Context != wantCtx || !ev.User {
				t.Fatalf("syscall exit: %+v RAX %d; want context %+v, RAX 39", ev, regs.RAX, wantCtx)
			}
			if regs.RIP != uint64(g.k.Layout().SyscallEntry) {
				t.Errorf("syscall exit at RIP %#x, want the entry %v", regs.RIP, g.k.Layout().SyscallEntry)
			}
			g.setRAX(4242)
			resume(ev)

			// 2. The store faults: #PF, user write to a not-present page.
			ev, _ = g.next()
			pf := ring0.PageFaultError(ev.ErrorCode)
			if ev.Kind != ring0.EventException || ev.Vector != ring0.PageFault || ev.FaultAddr != dataVirt || !ev.User ||
				pf.Access() != arch.Write || pf.Has(ring0.PFPresent) || !pf.Has(ring0.PFUser) {
				t.Fatalf("fault exit: %+v (%v)", ev, pf)
			}
			if ev.Context.RIP != storeRIP || ev.Context.RSP != stackVirt+arch.PageSize || ev.CS != ring0.UserCodeSelector || ev.SS != ring0.UserDataSelector || ev.Context.RFLAGS&ring0.RFLAGSIF == 0 {
				t.Errorf("fault frame %+v cs %#x ss %#x, want RIP %#x", ev.Context, ev.CS, ev.SS, storeRIP)
			}
			ring0test.Tables(g.mem).Set(ptLoPhys, dataVirt>>12&511, dataPhys|ring0test.PTEPresent|ring0test.PTEWrite|ring0test.PTEUser|ring0test.PTENX)
			resume(ev)

			// 3. The store completes, and the probe exits from user mode
			// with the byte it read back; the syscall's result is in RBX.
			ev, io := g.next()
			regs, sregs := g.state()
			if ev.Kind != ring0.EventUserPort || io.Data[0] != 1 || g.mem[dataPhys] != 1 || regs.RBX != 4242 || kvm.CPL(sregs) != 3 {
				t.Fatalf("final exit: %+v data %v, memory %d, RBX %d, CPL %d", ev, io.Data, g.mem[dataPhys], regs.RBX, kvm.CPL(sregs))
			}
			// RCX and R11 hold what SYSCALL left there, as under Linux.
			if regs.RCX != syscallNext || regs.R11&^uint64(ring0.RFLAGSRF) != ring0.UserRFLAGS {
				t.Errorf("RCX %#x R11 %#x after the syscall", regs.RCX, regs.R11)
			}
			// 4. Resumed, the probe exits again: the user-port exit is
			// complete and repeatable.
			if ev, _ = g.next(); ev.Kind != ring0.EventUserPort {
				t.Fatalf("second user exit: %+v", ev)
			}
		})
	}
}

// TestKVMUserCannotReachRing0 runs user code that tries to enter or read the
// kernel: each attempt must come back as the right exception, decoded from a
// real frame.
func TestKVMUserCannotReachRing0(t *testing.T) {
	gdt := uint64(kernelVirt) // the GDT is at the start of the region
	movRAX := func(v uint64) []byte {
		b := []byte{0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint64(b[2:], v)
		return b
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		code    []byte
		vector  ring0.Vector
		errCode uint64
		ripOff  uint64 // offset of the RIP the frame must hold
		cr2     uint64
	}{
		{"out to the syscall port", []byte{0xE6, ring0.PortSyscall}, ring0.GeneralProtection, 0, 0, 0},
		{"out to the #PF port", []byte{0xE6, byte(ring0.VectorPort(ring0.PageFault))}, ring0.GeneralProtection, 0, 0, 0},
		{"out to a user port without UserPorts", []byte{0xE6, ring0.PortUserFirst}, ring0.GeneralProtection, 0, 0, 0},
		{"ud2", []byte{0x0F, 0x0B}, ring0.InvalidOpcode, 0, 0, 0},
		{"int3", []byte{0xCC}, ring0.Breakpoint, 0, 1, 0},
		{"int 14 (gate DPL 0)", []byte{0xCD, 0x0E}, ring0.GeneralProtection, 14<<3 | 2, 0, 0},
		{"int 0x80 (no gate)", []byte{0xCD, 0x80}, ring0.GeneralProtection, 0x80<<3 | 2, 0, 0},
		{"divide by zero", []byte{0x31, 0xC9, 0xF7, 0xF1}, ring0.DivideError, 0, 2, 0}, // xor ecx,ecx; div ecx
		// The LDT is null and unusable: a TI=1 selector is #GP(selector),
		// not a descriptor read from guest address 0.
		{"load an LDT selector", []byte{0xB8, 0x04, 0, 0, 0, 0x8E, 0xD8}, ring0.GeneralProtection, 0x4, 5, 0}, // mov eax, 4; mov ds, eax
		{"read the GDT", cat(movRAX(gdt), []byte{0x8A, 0x00}), ring0.PageFault, 0x5, 10, gdt},
		{"write the kernel stacks", cat(movRAX(gdt+2*arch.PageSize), []byte{0x88, 0x00}), ring0.PageFault, 0x7, 10, gdt + 2*arch.PageSize},
		{"execute the stack", cat(movRAX(stackVirt), []byte{0xFF, 0xE0}), ring0.PageFault, 0x15, 0, stackVirt},
		{"jump into a stub", cat(movRAX(gdt+arch.PageSize), []byte{0xFF, 0xE0}), ring0.PageFault, 0x15, 0, gdt + arch.PageSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := boot(t, tc.code, false)
			ev, _ := g.next()
			wantRIP := codeVirt + tc.ripOff
			if tc.cr2 == stackVirt || tc.cr2 == gdt+arch.PageSize {
				wantRIP = tc.cr2 // a fetch fault reports the target
			}
			errCode := ev.ErrorCode
			if tc.errCode&2 != 0 && errCode == (tc.errCode>>3)<<4|2 {
				// An IDT-referencing #GP carries the vector as the
				// descriptor index (vector*8+2) on hardware; QEMU's
				// emulation (which runs kvmhost's nested guests)
				// reports vector*16+2. Either names the vector.
				t.Logf("#GP error code %#x: QEMU's vector*16 form", errCode)
				errCode = tc.errCode
			}
			rip := ev.Context.RIP
			if tc.code[0] == 0xCD && rip == wantRIP+uint64(len(tc.code)) {
				// `int n` refused by the gate's DPL faults at the
				// instruction on hardware; QEMU reports the next one.
				t.Logf("#GP from int n at RIP %#x: QEMU's next-instruction form", rip)
				rip = wantRIP
			}
			if tc.code[0] == 0xCD && ev.Vector == ring0.InvalidOpcode && kvm.Implementation() == "kvm_pvm" {
				// PVM raises #UD for every `int n` but int3
				// (../shared/pvm-kvm.md); machine turns it back into
				// the #GP's SIGSEGV.
				t.Logf("int n on PVM: #UD")
				return
			}
			if ev.Kind != ring0.EventException || ev.Vector != tc.vector || errCode != tc.errCode || !ev.User || rip != wantRIP || ev.FaultAddr != tc.cr2 {
				t.Fatalf("event %+v; want %v error %#x at RIP %#x, CR2 %#x", ev, tc.vector, tc.errCode, wantRIP, tc.cr2)
			}
			if !ev.StubResumes || !ev.DirectResumes {
				t.Errorf("user exception not resumable: %+v", ev)
			}
		})
	}
}
