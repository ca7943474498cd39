// Package kvmtest decides, for tests that need a real KVM, whether to run,
// skip or fail: with /dev/kvm usable they run; without it they skip with
// the reason, unless MMVM_REQUIRE_KVM is set (as `make test-kvm` and the
// QEMU runner set it), in which case a missing KVM fails the test so that a
// KVM test can never pass by skipping in CI. Under LaterEnv (set by `make
// test-unit`) they skip even where /dev/kvm works, because `make test-kvm`
// runs them next, on every KVM kind it can reach, with what they need.
package kvmtest

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvm"
)

// RequireEnv is the environment variable that turns a skip into a failure.
const RequireEnv = "MMVM_REQUIRE_KVM"

// LaterEnv is the environment variable that defers KVM tests to the KVM
// stage of `make test`.
const LaterEnv = "MMVM_KVM_TESTS_LATER"

// Open returns an open /dev/kvm, closed when the test ends, or skips (or
// fails, under RequireEnv) the test with the reason.
func Open(t testing.TB) *kvm.System {
	t.Helper()
	if os.Getenv(LaterEnv) != "" && os.Getenv(RequireEnv) == "" {
		t.Skip("KVM tests run in `make test-kvm`, on every KVM kind it can reach")
	}
	s, err := kvm.Open()
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("%s is set but KVM is unusable: %v", RequireEnv, err)
		}
		t.Skipf("needs KVM: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewVM opens KVM and creates a VM, both closed when the test ends.
func NewVM(t testing.TB) (*kvm.System, *kvm.VM) {
	t.Helper()
	s := Open(t)
	vm, err := s.CreateVM()
	if err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("closing the VM: %v", err)
		}
	})
	return s, vm
}

// RealModeCodeAddr is where RealModeVCPU loads guest code.
const RealModeCodeAddr = 0x1000

// RealModeMemSize is the guest memory RealModeVCPU maps at guest-physical 0.
const RealModeMemSize = 64 << 10

// RealModeVCPU gives vm 64 KiB of memory at guest-physical 0 (slot 0),
// copies code to RealModeCodeAddr and returns vCPU 0 set to run it in
// 16-bit real mode (all segments 0), with the guest memory's host view.
// The memory is unmapped when the test ends, after the VM is closed.
func RealModeVCPU(t testing.TB, vm *kvm.VM, code []byte) (*kvm.VCPU, []byte) {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, RealModeMemSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	// Cleanups run last-registered first: this one runs before NewVM's
	// vm.Close, so it deletes the slot before unmapping what it points at.
	t.Cleanup(func() {
		vm.DeleteMemorySlot(0)
		unix.Munmap(mem)
	})
	copy(mem[RealModeCodeAddr:], code)
	if err := vm.SetTSSAddr(0xfffbd000); err != nil {
		t.Fatalf("SetTSSAddr: %v", err)
	}
	if err := vm.SetMemorySlot(kvm.MemorySlot{Slot: 0, GuestPhys: 0, Size: RealModeMemSize,
		HostAddr: uintptr(unsafe.Pointer(&mem[0]))}); err != nil {
		t.Fatalf("SetMemorySlot: %v", err)
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatalf("NewVCPU: %v", err)
	}
	var sregs kvm.Sregs
	if err := cpu.GetSregs(&sregs); err != nil {
		t.Fatalf("GetSregs: %v", err)
	}
	for _, s := range []*kvm.Segment{&sregs.CS, &sregs.DS, &sregs.ES, &sregs.FS, &sregs.GS, &sregs.SS} {
		s.Base, s.Selector = 0, 0
	}
	if err := cpu.SetSregs(&sregs); err != nil {
		t.Fatalf("SetSregs: %v", err)
	}
	regs := kvm.Regs{RIP: RealModeCodeAddr, RFLAGS: 2, RSP: 0xf000}
	if err := cpu.SetRegs(&regs); err != nil {
		t.Fatalf("SetRegs: %v", err)
	}
	return cpu, mem
}
