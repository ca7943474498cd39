package kvm_test

// Tests named TestKVM* need a real KVM; `make test-kvm` runs exactly these
// from this package (on /dev/kvm, or inside the QEMU guest).

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/kvm/kvmtest"
)

func TestKVMOpenAndCapabilities(t *testing.T) {
	s := kvmtest.Open(t)
	for _, c := range kvm.RequiredCapabilities {
		if n, err := s.CheckExtension(c); err != nil || n <= 0 {
			t.Errorf("%v = %d, %v; Open should have refused", c, n, err)
		}
	}
	_, vm := kvmtest.NewVM(t)
	if vm.MaxMemorySlots() < 32 {
		t.Errorf("MaxMemorySlots = %d, want at least 32", vm.MaxMemorySlots())
	}
	if got := vm.SyncRegsSupported(); got&(kvm.SyncRegsGPR|kvm.SyncRegsSregs) != kvm.SyncRegsGPR|kvm.SyncRegsSregs {
		t.Errorf("KVM_CAP_SYNC_REGS = %#x, want regs and sregs (mmvm reads CR2 from the run structure)", uint64(got))
	}
}

func TestKVMSupportedCPUIDRoundTrip(t *testing.T) {
	s, vm := kvmtest.NewVM(t)
	entries, err := s.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	leaf0, ok := kvm.FindCPUID(entries, 0, 0)
	if !ok || leaf0.EAX == 0 {
		t.Fatalf("no CPUID leaf 0 in %d entries", len(entries))
	}
	vendor := string(unsafe.Slice((*byte)(unsafe.Pointer(&[3]uint32{leaf0.EBX, leaf0.EDX, leaf0.ECX})), 12))
	if vendor != "AuthenticAMD" && vendor != "GenuineIntel" && vendor != "HygonGenuine" {
		t.Logf("unusual CPU vendor %q", vendor)
	}
	if _, ok := kvm.FindCPUID(entries, 1, 0); !ok {
		t.Fatal("no CPUID leaf 1")
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetCPUID(entries); err != nil {
		t.Fatalf("SetCPUID(%d supported entries): %v", len(entries), err)
	}
	back, err := cpu.GetCPUID()
	if err != nil {
		t.Fatal(err)
	}
	// PVM drops leaves 0x1d, 0x1e and 0x24 as it stores them
	// (../shared/pvm-kvm.md); every other leaf set must come back.
	pvmDrops := map[uint32]bool{0x1d: true, 0x1e: true, 0x24: true}
	for _, e := range entries {
		if _, ok := kvm.FindCPUID(back, e.Function, e.Index); !ok {
			if kvm.Implementation() == "kvm_pvm" && pvmDrops[e.Function] {
				t.Logf("PVM dropped leaf %#x.%d", e.Function, e.Index)
				continue
			}
			t.Errorf("leaf %#x.%d was set but GetCPUID does not return it", e.Function, e.Index)
		}
	}
	// KVM adjusts some registers (APIC ID, OSXSAVE, XSAVE sizes) as it
	// stores them; the leaves themselves must all come back.
	for i := range back {
		if _, ok := kvm.FindCPUID(entries, back[i].Function, back[i].Index); !ok {
			t.Errorf("GetCPUID entry %+v was never set", back[i])
		}
	}
	if got, _ := kvm.FindCPUID(back, 0, 0); got.EAX != leaf0.EAX {
		t.Errorf("max basic leaf read back %#x, set %#x", got.EAX, leaf0.EAX)
	}
	t.Logf("vendor %s, %d CPUID entries, max leaf %#x", vendor, len(entries), leaf0.EAX)
}

func TestKVMRegisterRoundTrips(t *testing.T) {
	s, vm := kvmtest.NewVM(t)
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	regs := kvm.Regs{RAX: 1, RBX: 2, R15: 0xfeedface, RIP: 0x1234, RFLAGS: 0x202, RSP: 0x8000}
	if err := cpu.SetRegs(&regs); err != nil {
		t.Fatal(err)
	}
	var got kvm.Regs
	if err := cpu.GetRegs(&got); err != nil {
		t.Fatal(err)
	}
	if got != regs {
		t.Errorf("GetRegs = %+v, want %+v", got, regs)
	}

	var sregs kvm.Sregs
	if err := cpu.GetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	sregs.GDT = kvm.DTable{Base: 0x5000, Limit: 0x7f}
	sregs.CR3 = 0x9000
	if err := cpu.SetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	var sgot kvm.Sregs
	if err := cpu.GetSregs(&sgot); err != nil {
		t.Fatal(err)
	}
	if sgot.GDT.Base != 0x5000 || sgot.GDT.Limit != 0x7f || sgot.CR3 != 0x9000 {
		t.Errorf("GetSregs: GDT %+v CR3 %#x, want base 0x5000 limit 0x7f, CR3 0x9000", sgot.GDT, sgot.CR3)
	}

	var fpu kvm.FPU
	if err := cpu.GetFPU(&fpu); err != nil {
		t.Fatal(err)
	}
	fpu.XMM[3][0] = 0xab
	fpu.FCW = 0x27f
	if err := cpu.SetFPU(&fpu); err != nil {
		t.Fatal(err)
	}
	var fgot kvm.FPU
	if err := cpu.GetFPU(&fgot); err != nil {
		t.Fatal(err)
	}
	if fgot.XMM[3][0] != 0xab || fgot.FCW != 0x27f {
		t.Errorf("FPU round trip: XMM3[0] %#x FCW %#x, want 0xab 0x27f", fgot.XMM[3][0], fgot.FCW)
	}

	area, err := cpu.GetXSave()
	if err != nil {
		t.Fatal(err)
	}
	if len(area) < 4096 {
		t.Fatalf("XSAVE area %d bytes, want >= 4096", len(area))
	}
	if err := cpu.SetXSave(area); err != nil {
		t.Errorf("SetXSave(GetXSave()): %v", err)
	}
	if err := cpu.SetXSave(area[:100]); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SetXSave(short) = %v, want EINVAL", err)
	}
	var xcrs kvm.XCRs
	if err := cpu.GetXCRs(&xcrs); err != nil {
		t.Fatal(err)
	}
	if xcrs.NrXCRs < 1 || xcrs.XCRs[0].XCR != 0 || xcrs.XCRs[0].Value&1 == 0 {
		t.Errorf("XCR0 = %+v, want x87 enabled", xcrs)
	}

	const msrStar, msrLstar, msrBogus = 0xc0000081, 0xc0000082, 0xdeadbeef
	msrs := []kvm.MSR{{Index: msrStar, Data: 0x0023001000000000}, {Index: msrLstar, Data: 0xffff800000001000}}
	if err := cpu.SetMSRs(msrs); err != nil {
		t.Fatal(err)
	}
	read := []kvm.MSR{{Index: msrStar}, {Index: msrLstar}}
	if err := cpu.GetMSRs(read); err != nil {
		t.Fatal(err)
	}
	if read[0].Data != msrs[0].Data || read[1].Data != msrs[1].Data {
		t.Errorf("MSRs read back %+v, want %+v", read, msrs)
	}
	err = cpu.GetMSRs([]kvm.MSR{{Index: msrStar}, {Index: msrBogus}})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "0xdeadbeef") {
		t.Errorf("GetMSRs(bogus) = %v, want EINVAL naming 0xdeadbeef", err)
	}
	list, err := s.MSRIndexList()
	if err != nil || len(list) == 0 {
		t.Errorf("MSRIndexList = %d entries, %v", len(list), err)
	}
}

func TestKVMMemorySlotErrors(t *testing.T) {
	_, vm := kvmtest.NewVM(t)
	mem, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	host := uintptr(unsafe.Pointer(&mem[0]))
	t.Cleanup(func() {
		vm.Close()
		unix.Munmap(mem)
	})
	ok := kvm.MemorySlot{Slot: 1, GuestPhys: 0x100000, Size: 1 << 20, HostAddr: host}
	if err := vm.SetMemorySlot(ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		m    kvm.MemorySlot
		want error
	}{
		{"misaligned guest", kvm.MemorySlot{Slot: 2, GuestPhys: 0x300001, Size: 4096, HostAddr: host}, unix.EINVAL},
		{"misaligned host", kvm.MemorySlot{Slot: 2, GuestPhys: 0x300000, Size: 4096, HostAddr: host + 8}, unix.EINVAL},
		{"zero size", kvm.MemorySlot{Slot: 2, GuestPhys: 0x300000, HostAddr: host}, unix.EINVAL},
		{"slot beyond max", kvm.MemorySlot{Slot: vm.MaxMemorySlots(), GuestPhys: 0x300000, Size: 4096, HostAddr: host}, unix.EINVAL},
		{"bad flags", kvm.MemorySlot{Slot: 2, Flags: 1 << 7, GuestPhys: 0x300000, Size: 4096, HostAddr: host}, unix.EINVAL},
		{"overlap", kvm.MemorySlot{Slot: 2, GuestPhys: 0x180000, Size: 1 << 20, HostAddr: host}, unix.EEXIST},
	} {
		if err := vm.SetMemorySlot(tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: SetMemorySlot = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := vm.DeleteMemorySlot(1); err != nil {
		t.Fatal(err)
	}
	ok.Slot = 2
	ok.GuestPhys = 0x180000
	if err := vm.SetMemorySlot(ok); err != nil {
		t.Errorf("re-adding at a freed range: %v", err)
	}
}

// TestKVMSyncRegs reads registers from the run structure after exits and
// writes one back through it, with no register ioctl.
func TestKVMSyncRegs(t *testing.T) {
	code := []byte{
		0xb8, 0x34, 0x12, // mov ax, 0x1234
		0xf4,             // hlt
		0xba, 0x80, 0x00, // mov dx, 0x80
		0xef, // out dx, ax
		0xf4, // hlt
	}
	_, vm := kvmtest.NewVM(t)
	cpu, _ := kvmtest.RealModeVCPU(t, vm, code)
	if err := cpu.SetSyncRegs(kvm.SyncRegsGPR | kvm.SyncRegsSregs); err != nil {
		t.Fatal(err)
	}
	cpu.BindThread()
	defer cpu.UnbindThread()
	if r, err := cpu.Run(); err != nil || r != kvm.ExitHLT {
		t.Fatalf("Run = %v, %v; want HLT", r, err)
	}
	sync := cpu.Sync()
	if sync.Regs.RAX&0xffff != 0x1234 || sync.Regs.RIP != kvmtest.RealModeCodeAddr+4 {
		t.Errorf("synced RAX %#x RIP %#x, want 0x1234 at %#x", sync.Regs.RAX, sync.Regs.RIP, kvmtest.RealModeCodeAddr+4)
	}
	if sync.Sregs.CR0&1 != 0 || sync.Sregs.CS.Selector != 0 {
		t.Errorf("synced sregs CR0 %#x CS %#x, want real mode", sync.Sregs.CR0, sync.Sregs.CS.Selector)
	}
	sync.Regs.RAX = 0xbeef
	if err := cpu.MarkSyncDirty(kvm.SyncRegsGPR); err != nil {
		t.Fatal(err)
	}
	if r, err := cpu.Run(); err != nil || r != kvm.ExitIO {
		t.Fatalf("Run = %v, %v; want IO", r, err)
	}
	io, _ := cpu.IO()
	if got := uint16(io.Data[0]) | uint16(io.Data[1])<<8; io.Port != 0x80 || got != 0xbeef {
		t.Errorf("guest wrote %#x to %#x, want 0xbeef (set through sync regs) to 0x80", got, io.Port)
	}
	if err := cpu.SetSyncRegs(1 << 40); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SetSyncRegs(unknown) = %v, want EINVAL", err)
	}
}

// TestKVMShutdownError: a triple fault (INT3 with an empty real-mode IDT)
// exits with SHUTDOWN, and UnexpectedExit says where.
func TestKVMShutdownError(t *testing.T) {
	_, vm := kvmtest.NewVM(t)
	cpu, _ := kvmtest.RealModeVCPU(t, vm, []byte{0x90, 0xcc}) // nop; int3
	var sregs kvm.Sregs
	if err := cpu.GetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	sregs.IDT = kvm.DTable{Base: 0, Limit: 0}
	if err := cpu.SetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	cpu.BindThread()
	defer cpu.UnbindThread()
	r, err := cpu.Run()
	if err != nil {
		t.Fatal(err)
	}
	if r != kvm.ExitShutdown {
		t.Fatalf("exit %v, want KVM_EXIT_SHUTDOWN", cpu.UnexpectedExit(r))
	}
	var ee *kvm.ExitError
	if err := cpu.UnexpectedExit(r); !errors.As(err, &ee) || ee.Reason != kvm.ExitShutdown ||
		!strings.Contains(err.Error(), "KVM_EXIT_SHUTDOWN at RIP") {
		t.Errorf("UnexpectedExit = %v", err)
	}
}

// TestKVMMMIOExit: a write where no slot is exits with MMIO data.
func TestKVMMMIOExit(t *testing.T) {
	code := []byte{
		0xb8, 0x00, 0x20, // mov ax, 0x2000
		0x8e, 0xc0, // mov es, ax
		0x26, 0xc6, 0x06, 0x10, 0x00, 0x77, // mov byte [es:0x10], 0x77
		0xf4, // hlt
	}
	_, vm := kvmtest.NewVM(t)
	cpu, _ := kvmtest.RealModeVCPU(t, vm, code)
	cpu.BindThread()
	defer cpu.UnbindThread()
	r, err := cpu.Run()
	if err != nil || r != kvm.ExitMMIO {
		t.Fatalf("Run = %v, %v; want MMIO", r, err)
	}
	m, ok := cpu.MMIO()
	if !ok || !m.IsWrite || m.PhysAddr != 0x20010 || len(m.Data) != 1 || m.Data[0] != 0x77 {
		t.Errorf("MMIO = %+v, want a 1-byte write of 0x77 at 0x20010", m)
	}
	if _, ok := cpu.IO(); ok {
		t.Error("IO() ok on an MMIO exit")
	}
}

func TestKVMRunUnboundAndClosed(t *testing.T) {
	_, vm := kvmtest.NewVM(t)
	cpu, _ := kvmtest.RealModeVCPU(t, vm, []byte{0xf4})
	if _, err := cpu.Run(); !errors.Is(err, kvm.ErrNotBound) {
		t.Errorf("Run unbound = %v, want ErrNotBound", err)
	}
	if err := cpu.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cpu.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	cpu.BindThread()
	defer cpu.UnbindThread()
	if _, err := cpu.Run(); !errors.Is(err, kvm.ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if err := cpu.Kick(); !errors.Is(err, kvm.ErrClosed) {
		t.Errorf("Kick after Close = %v, want ErrClosed", err)
	}
	var regs kvm.Regs
	if err := cpu.GetRegs(&regs); !errors.Is(err, kvm.ErrClosed) {
		t.Errorf("GetRegs after Close = %v, want ErrClosed", err)
	}
}

// TestKVMKickRacesClose: Kick is safe from any goroutine at any time, also
// while the vCPU is being closed (a context's deadline kicks from a
// goroutine of its own, which may run late). Close must never leave a
// window where the fd is open and the run structure is gone.
func TestKVMKickRacesClose(t *testing.T) {
	s := kvmtest.Open(t)
	for i := 0; i < 100; i++ {
		vm, err := s.CreateVM()
		if err != nil {
			t.Fatal(err)
		}
		cpu, err := vm.NewVCPU(0)
		if err != nil {
			vm.Close()
			t.Fatal(err)
		}
		start := make(chan struct{})
		done := make(chan struct{})
		var kickers sync.WaitGroup
		for range 2 {
			kickers.Add(1)
			go func() {
				defer kickers.Done()
				<-start
				for {
					select {
					case <-done:
						return
					default:
					}
					if err := cpu.Kick(); err != nil && !errors.Is(err, kvm.ErrClosed) {
						t.Errorf("Kick: %v", err)
					}
				}
			}()
		}
		close(start)
		if err := cpu.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		close(done)
		kickers.Wait()
		if err := vm.Close(); err != nil {
			t.Fatalf("closing the VM: %v", err)
		}
	}
}
