package kvm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// GetRegs reads the general-purpose registers (KVM_GET_REGS).
func (c *VCPU) GetRegs(r *Regs) error {
	_, err := c.h.ioctlPtr("KVM_GET_REGS", reqGetRegs, unsafe.Pointer(r))
	return err
}

// SetRegs writes the general-purpose registers (KVM_SET_REGS).
func (c *VCPU) SetRegs(r *Regs) error {
	_, err := c.h.ioctlPtr("KVM_SET_REGS", reqSetRegs, unsafe.Pointer(r))
	return err
}

// GetSregs reads the special registers (KVM_GET_SREGS).
func (c *VCPU) GetSregs(s *Sregs) error {
	_, err := c.h.ioctlPtr("KVM_GET_SREGS", reqGetSregs, unsafe.Pointer(s))
	return err
}

// SetSregs writes the special registers (KVM_SET_SREGS).
func (c *VCPU) SetSregs(s *Sregs) error {
	_, err := c.h.ioctlPtr("KVM_SET_SREGS", reqSetSregs, unsafe.Pointer(s))
	return err
}

// GetFPU reads the x87/SSE state (KVM_GET_FPU). KVM leaves MXCSR out of
// what it returns (it is in GetXSave's area); SetFPU does write it.
func (c *VCPU) GetFPU(f *FPU) error {
	_, err := c.h.ioctlPtr("KVM_GET_FPU", reqGetFPU, unsafe.Pointer(f))
	return err
}

// SetFPU writes the x87/SSE state (KVM_SET_FPU).
func (c *VCPU) SetFPU(f *FPU) error {
	_, err := c.h.ioctlPtr("KVM_SET_FPU", reqSetFPU, unsafe.Pointer(f))
	return err
}

// xsaveSize is the size of the XSAVE area KVM moves: KVM_CAP_XSAVE2's
// answer when it exceeds the legacy 4 KiB.
func (c *VCPU) xsaveSize() (int, error) {
	n, err := c.vm.CheckExtension(CapXSave2)
	if err != nil || n <= xsaveLegacySize {
		return xsaveLegacySize, nil
	}
	return n, nil
}

// GetXSave returns the vCPU's XSAVE area (KVM_GET_XSAVE, or KVM_GET_XSAVE2
// when the area is larger than 4 KiB).
func (c *VCPU) GetXSave() ([]byte, error) {
	size, _ := c.xsaveSize()
	buf := make([]uint32, size/4)
	req, op := reqGetXSave, "KVM_GET_XSAVE"
	if size > xsaveLegacySize {
		req, op = reqGetXSave2, "KVM_GET_XSAVE2"
	}
	if _, err := c.h.ioctlPtr(op, req, unsafe.Pointer(&buf[0])); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), size), nil
}

// SetXSave writes an XSAVE area as GetXSave returned it (KVM_SET_XSAVE).
func (c *VCPU) SetXSave(area []byte) error {
	size, _ := c.xsaveSize()
	if len(area) != size {
		return fmt.Errorf("kvm: XSAVE area of %d bytes, KVM wants %d: %w", len(area), size, unix.EINVAL)
	}
	buf := make([]uint32, size/4)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), size), area)
	_, err := c.h.ioctlPtr("KVM_SET_XSAVE", reqSetXSave, unsafe.Pointer(&buf[0]))
	return err
}

// GetXCRs reads the extended control registers (KVM_GET_XCRS).
func (c *VCPU) GetXCRs(x *XCRs) error {
	_, err := c.h.ioctlPtr("KVM_GET_XCRS", reqGetXCRs, unsafe.Pointer(x))
	return err
}

// msrBuffer is struct kvm_msrs with its entries, 8-byte aligned.
func msrBuffer(msrs []MSR) []uint64 {
	b := make([]uint64, 1+2*len(msrs))
	*(*uint32)(unsafe.Pointer(&b[0])) = uint32(len(msrs))
	copy(unsafe.Slice((*MSR)(unsafe.Pointer(&b[1])), len(msrs)), msrs)
	return b
}

// GetMSRs fills in Data for each MSR by Index (KVM_GET_MSRS). An MSR KVM
// does not know is an error naming it.
func (c *VCPU) GetMSRs(msrs []MSR) error {
	if len(msrs) == 0 {
		return nil
	}
	b := msrBuffer(msrs)
	n, err := c.h.ioctlPtr("KVM_GET_MSRS", reqGetMSRs, unsafe.Pointer(&b[0]))
	if err != nil {
		return err
	}
	copy(msrs, unsafe.Slice((*MSR)(unsafe.Pointer(&b[1])), len(msrs)))
	if int(n) < len(msrs) {
		return fmt.Errorf("kvm: KVM_GET_MSRS: MSR %#x not readable: %w", msrs[n].Index, unix.EINVAL)
	}
	return nil
}

// MSRTSC is IA32_TIME_STAMP_COUNTER: read through KVM_GET_MSRS it is the
// guest's TSC now, what the guest's RDTSC would return.
const MSRTSC = 0x10

// TSC returns the guest's time-stamp counter now (KVM_GET_MSRS of MSRTSC),
// ticking at TSCKHz whether or not the vCPU runs.
func (c *VCPU) TSC() (uint64, error) {
	m := [1]MSR{{Index: MSRTSC}}
	if err := c.GetMSRs(m[:]); err != nil {
		return 0, err
	}
	return m[0].Data, nil
}

// TSCKHz returns the frequency of the guest's TSC in kHz (KVM_GET_TSC_KHZ),
// or an error where KVM cannot tell (KVM_CAP_GET_TSC_KHZ missing, or a host
// without a stable TSC).
func (c *VCPU) TSCKHz() (uint32, error) {
	n, err := c.h.ioctl("KVM_GET_TSC_KHZ", reqGetTSCKHz, 0)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("kvm: KVM_GET_TSC_KHZ: no TSC frequency: %w", unix.ENODEV)
	}
	return uint32(n), nil
}

// SetMSRs writes the MSRs (KVM_SET_MSRS). KVM stops at the first one it
// refuses; the error names it.
func (c *VCPU) SetMSRs(msrs []MSR) error {
	if len(msrs) == 0 {
		return nil
	}
	b := msrBuffer(msrs)
	n, err := c.h.ioctlPtr("KVM_SET_MSRS", reqSetMSRs, unsafe.Pointer(&b[0]))
	if err != nil {
		return err
	}
	if int(n) < len(msrs) {
		return fmt.Errorf("kvm: KVM_SET_MSRS: MSR %#x = %#x refused: %w", msrs[n].Index, msrs[n].Data, unix.EINVAL)
	}
	return nil
}

// SetCPUID sets what CPUID returns in the guest (KVM_SET_CPUID2). Start
// from System.SupportedCPUID. Must be called before the first Run.
func (c *VCPU) SetCPUID(entries []CPUIDEntry) error {
	if len(entries) == 0 {
		return fmt.Errorf("kvm: SetCPUID: no entries: %w", unix.EINVAL)
	}
	b := cpuidBufferOf(entries)
	_, err := c.h.ioctlPtr("KVM_SET_CPUID2", reqSetCPUID2, b.ptr())
	return err
}

// GetCPUID returns the CPUID entries set on the vCPU (KVM_GET_CPUID2).
// KVM (as of Linux 6.1) writes the entries but not their count back on
// success, so the buffer is pre-filled with a sentinel that marks its end.
func (c *VCPU) GetCPUID() ([]CPUIDEntry, error) {
	sentinel := CPUIDEntry{Function: ^uint32(0), Index: ^uint32(0), Flags: ^uint32(0)}
	for n := 64; n <= 1<<14; n *= 2 {
		fill := make([]CPUIDEntry, n)
		for i := range fill {
			fill[i] = sentinel
		}
		b := cpuidBufferOf(fill)
		_, err := c.h.ioctlPtr("KVM_GET_CPUID2", reqGetCPUID2, b.ptr())
		if ie, ok := err.(*IoctlError); ok && ie.Err == unix.E2BIG {
			continue
		}
		if err != nil {
			return nil, err
		}
		all := b.entries()
		for i, e := range all {
			if e == sentinel {
				return all[:i], nil
			}
		}
		return all, nil
	}
	return nil, &IoctlError{Op: "KVM_GET_CPUID2", Err: unix.E2BIG}
}

// SetSyncRegs asks KVM to copy the register sets in want into the run
// structure on every exit (KVM_CAP_SYNC_REGS), so that Sync can read them
// with no ioctl: on a page fault, CR2 and RIP cost nothing to read.
func (c *VCPU) SetSyncRegs(want SyncSet) error {
	if want&^c.syncSupported != 0 {
		return fmt.Errorf("kvm: sync register sets %#x not supported (KVM offers %#x): %w",
			uint64(want), uint64(c.syncSupported), unix.EINVAL)
	}
	c.run.ValidRegs = uint64(want)
	return nil
}

// Sync returns the register sets KVM copied into the run structure at the
// last exit (those requested with SetSyncRegs). Changes made
// through the pointer reach the vCPU at the next Run only for the sets
// marked with MarkSyncDirty; an ioctl such as SetRegs made after the exit
// is not reflected here. Valid until Close.
func (c *VCPU) Sync() *SyncRegs { return &c.run.Sync }

// MarkSyncDirty tells KVM to load the given sets from Sync() at the next
// Run (replacing a SetRegs/SetSregs ioctl). KVM clears the marks as it
// loads them.
func (c *VCPU) MarkSyncDirty(sets SyncSet) error {
	if sets&^c.syncSupported != 0 {
		return fmt.Errorf("kvm: sync register sets %#x not supported: %w", uint64(sets), unix.EINVAL)
	}
	c.run.DirtyRegs |= uint64(sets)
	return nil
}

// ClearSyncDirty withdraws every MarkSyncDirty since the last Run, so that
// registers set by ioctl since are not overwritten from Sync() on entry.
func (c *VCPU) ClearSyncDirty() { c.run.DirtyRegs = 0 }

// GetVCPUEvents reads the pending and injected events (KVM_GET_VCPU_EVENTS).
func (c *VCPU) GetVCPUEvents(e *VCPUEvents) error {
	_, err := c.h.ioctlPtr("KVM_GET_VCPU_EVENTS", reqGetVCPUEvents, unsafe.Pointer(e))
	return err
}

// SetVCPUEvents writes them (KVM_SET_VCPU_EVENTS).
func (c *VCPU) SetVCPUEvents(e *VCPUEvents) error {
	_, err := c.h.ioctlPtr("KVM_SET_VCPU_EVENTS", reqSetVCPUEvents, unsafe.Pointer(e))
	return err
}

// Delivering reports whether an exception, interrupt or NMI is pending or
// being delivered: an exit that interrupted an event's delivery (a kick
// while the processor vectored a page fault, say) leaves it to be
// injected again on the next entry, whatever registers the host loads.
func (e *VCPUEvents) Delivering() bool {
	return e.Exception.Injected != 0 || e.Exception.Pending != 0 ||
		e.Interrupt.Injected != 0 || e.NMI.Injected != 0 || e.NMI.Pending != 0
}

// Drop forgets every pending and injected exception, interrupt and NMI,
// keeping the rest (the interrupt shadow, NMI masking, SMM state).
func (e *VCPUEvents) Drop() {
	e.Exception = struct {
		Injected     uint8
		Nr           uint8
		HasErrorCode uint8
		Pending      uint8
		ErrorCode    uint32
	}{}
	e.Interrupt.Injected, e.Interrupt.Nr, e.Interrupt.Soft = 0, 0, 0
	e.NMI.Injected, e.NMI.Pending = 0, 0
	e.ExceptionHasPayload, e.ExceptionPayload = 0, 0
}
