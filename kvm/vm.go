package kvm

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// VM is one KVM virtual machine: its memory slots and its vCPUs.
type VM struct {
	h       fdHandle
	runSize int // KVM_GET_VCPU_MMAP_SIZE, from the System
	// maxSlots is KVM_CAP_NR_MEMSLOTS; slot numbers must be below it.
	maxSlots uint32
	// syncRegs is KVM_CAP_SYNC_REGS: the register sets a vCPU can sync.
	syncRegs SyncSet

	mu sync.Mutex
	// vcpus are the vCPUs created and not yet closed, closed by Close.
	// Guarded by mu.
	vcpus map[*VCPU]struct{}
}

// CreateVM creates a VM (KVM_CREATE_VM, default machine type).
func (s *System) CreateVM() (*VM, error) {
	fd, err := s.h.ioctl("KVM_CREATE_VM", reqCreateVM, 0)
	if err != nil {
		return nil, err
	}
	vm := &VM{h: fdHandle{fd: int(fd)}, runSize: s.runSize, vcpus: map[*VCPU]struct{}{}}
	unix.CloseOnExec(int(fd))
	slots, err := vm.CheckExtension(CapNrMemslots)
	if err != nil {
		vm.Close()
		return nil, err
	}
	vm.maxSlots = uint32(slots)
	if sync, err := vm.CheckExtension(CapSyncRegs); err == nil && sync > 0 {
		vm.syncRegs = SyncSet(sync)
	}
	return vm, nil
}

// CheckExtension is KVM_CHECK_EXTENSION on the VM (some answers, like the
// slot count, may differ per VM).
func (vm *VM) CheckExtension(c Capability) (int, error) {
	r, err := vm.h.ioctl("KVM_CHECK_EXTENSION("+c.String()+")", reqCheckExtension, uintptr(c))
	return int(r), err
}

// MaxMemorySlots is the number of memory slots the VM accepts.
func (vm *VM) MaxMemorySlots() uint32 { return vm.maxSlots }

// SyncRegsSupported is the set of register sets KVM_CAP_SYNC_REGS offers
// (0 when it is absent: read registers with GetRegs/GetSregs instead).
func (vm *VM) SyncRegsSupported() SyncSet { return vm.syncRegs }

// MemoryFlags are KVM_MEM_* flags of a memory slot.
type MemoryFlags uint32

// Memory slot flags.
const (
	MemLogDirtyPages MemoryFlags = 1 << 0
	MemReadonly      MemoryFlags = 1 << 1
)

// MemorySlot maps Size bytes of host memory at HostAddr to guest-physical
// GuestPhys. The host memory must stay mapped for as long as the slot
// exists (the MemoryFile's mapping, for mmvm).
type MemorySlot struct {
	Slot      uint32
	Flags     MemoryFlags
	GuestPhys uint64
	Size      uint64
	HostAddr  uintptr
}

// checkSlot is SetMemorySlot's argument check.
func (vm *VM) checkSlot(m MemorySlot) error {
	switch {
	case m.Slot >= vm.maxSlots:
		return fmt.Errorf("kvm: memory slot %d: the VM has %d slots: %w", m.Slot, vm.maxSlots, unix.EINVAL)
	case m.Flags&^(MemLogDirtyPages|MemReadonly) != 0:
		return fmt.Errorf("kvm: memory slot %d: unknown flags %#x: %w", m.Slot, uint32(m.Flags), unix.EINVAL)
	case m.Size == 0:
		return fmt.Errorf("kvm: memory slot %d: size 0 (use DeleteMemorySlot): %w", m.Slot, unix.EINVAL)
	case m.GuestPhys%pageSize != 0 || m.Size%pageSize != 0 || uint64(m.HostAddr)%pageSize != 0:
		return fmt.Errorf("kvm: memory slot %d: guest-physical %#x, size %#x and host address %#x must be page-aligned: %w",
			m.Slot, m.GuestPhys, m.Size, m.HostAddr, unix.EINVAL)
	case m.GuestPhys+m.Size < m.GuestPhys || uint64(m.HostAddr)+m.Size < uint64(m.HostAddr):
		return fmt.Errorf("kvm: memory slot %d: range overflows: %w", m.Slot, unix.EINVAL)
	}
	return nil
}

// SetMemorySlot creates or changes a memory slot (KVM_SET_USER_MEMORY_REGION).
// Errors wrap the errno (EEXIST: overlaps another slot; EINVAL: bad
// arguments).
func (vm *VM) SetMemorySlot(m MemorySlot) error {
	if err := vm.checkSlot(m); err != nil {
		return err
	}
	r := userspaceMemoryRegion{slot: m.Slot, flags: uint32(m.Flags), guestPhysAddr: m.GuestPhys,
		memorySize: m.Size, userspaceAddr: uint64(m.HostAddr)}
	if _, err := vm.h.ioctlPtr("KVM_SET_USER_MEMORY_REGION", reqSetUserMemoryRegion, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("memory slot %d (guest-physical [%#x, %#x) at host %#x): %w",
			m.Slot, m.GuestPhys, m.GuestPhys+m.Size, m.HostAddr, err)
	}
	return nil
}

// DeleteMemorySlot removes a memory slot; guest accesses to its range then
// exit with KVM_EXIT_MMIO.
func (vm *VM) DeleteMemorySlot(slot uint32) error {
	r := userspaceMemoryRegion{slot: slot}
	if _, err := vm.h.ioctlPtr("KVM_SET_USER_MEMORY_REGION", reqSetUserMemoryRegion, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("deleting memory slot %d: %w", slot, err)
	}
	return nil
}

// SetTSSAddr sets the guest-physical address of the three pages Intel VMX
// needs for real-mode emulation on CPUs without unrestricted guest
// (KVM_SET_TSS_ADDR). Harmless elsewhere; the range must not overlap a slot.
func (vm *VM) SetTSSAddr(addr uint64) error {
	_, err := vm.h.ioctl("KVM_SET_TSS_ADDR", reqSetTSSAddr, uintptr(addr))
	return err
}

// NewVCPU creates vCPU number id and maps its run structure.
func (vm *VM) NewVCPU(id int) (*VCPU, error) {
	fd, err := vm.h.ioctl("KVM_CREATE_VCPU", reqCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("vCPU %d: %w", id, err)
	}
	unix.CloseOnExec(int(fd))
	mem, err := unix.Mmap(int(fd), 0, vm.runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("kvm: vCPU %d: mapping the run structure: %w", id, err)
	}
	c := &VCPU{h: fdHandle{fd: int(fd)}, id: id, vm: vm, mem: mem,
		run: (*runData)(unsafe.Pointer(&mem[0])), syncSupported: vm.syncRegs}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.vcpus == nil {
		c.Close()
		return nil, ErrClosed
	}
	vm.vcpus[c] = struct{}{}
	return c, nil
}

// Close closes every vCPU still open (kicking any that runs and waiting for
// its Run to return), then the VM.
func (vm *VM) Close() error {
	vm.mu.Lock()
	vcpus := vm.vcpus
	vm.vcpus = nil
	vm.mu.Unlock()
	var errs []error
	for c := range vcpus {
		errs = append(errs, c.close())
	}
	errs = append(errs, vm.h.close())
	return errors.Join(errs...)
}

// forget drops c from the VM's set when c is closed on its own.
func (vm *VM) forget(c *VCPU) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	delete(vm.vcpus, c)
}
