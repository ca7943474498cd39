package kvm

import (
	"fmt"
	"strconv"
)

// ExitReason is why KVM_RUN returned to user space (KVM_EXIT_*).
type ExitReason uint32

// Every exit reason the kernel defines, in the kernel's numbering. Most can
// never happen on x86 without a feature we never enable; they are named so
// that an unexpected one reads as what it is.
const (
	ExitUnknown         ExitReason = 0
	ExitException       ExitReason = 1
	ExitIO              ExitReason = 2
	ExitHypercall       ExitReason = 3
	ExitDebug           ExitReason = 4
	ExitHLT             ExitReason = 5
	ExitMMIO            ExitReason = 6
	ExitIRQWindowOpen   ExitReason = 7
	ExitShutdown        ExitReason = 8
	ExitFailEntry       ExitReason = 9
	ExitIntr            ExitReason = 10
	ExitSetTPR          ExitReason = 11
	ExitTPRAccess       ExitReason = 12
	ExitS390SIEIC       ExitReason = 13
	ExitS390Reset       ExitReason = 14
	ExitDCR             ExitReason = 15
	ExitNMI             ExitReason = 16
	ExitInternalError   ExitReason = 17
	ExitOSI             ExitReason = 18
	ExitPAPRHcall       ExitReason = 19
	ExitS390UControl    ExitReason = 20
	ExitWatchdog        ExitReason = 21
	ExitS390TSCH        ExitReason = 22
	ExitEPR             ExitReason = 23
	ExitSystemEvent     ExitReason = 24
	ExitS390STSI        ExitReason = 25
	ExitIOAPICEOI       ExitReason = 26
	ExitHyperV          ExitReason = 27
	ExitARMNISV         ExitReason = 28
	ExitX86RDMSR        ExitReason = 29
	ExitX86WRMSR        ExitReason = 30
	ExitDirtyRingFull   ExitReason = 31
	ExitAPResetHold     ExitReason = 32
	ExitX86BusLock      ExitReason = 33
	ExitXen             ExitReason = 34
	ExitRISCVSBI        ExitReason = 35
	ExitRISCVCSR        ExitReason = 36
	ExitNotify          ExitReason = 37
	ExitLoongArchIOCSR  ExitReason = 38
	ExitMemoryFault     ExitReason = 39
	ExitTDX             ExitReason = 40
	numKnownExitReasons            = 41
)

var exitReasonNames = [numKnownExitReasons]string{
	"KVM_EXIT_UNKNOWN", "KVM_EXIT_EXCEPTION", "KVM_EXIT_IO", "KVM_EXIT_HYPERCALL",
	"KVM_EXIT_DEBUG", "KVM_EXIT_HLT", "KVM_EXIT_MMIO", "KVM_EXIT_IRQ_WINDOW_OPEN",
	"KVM_EXIT_SHUTDOWN", "KVM_EXIT_FAIL_ENTRY", "KVM_EXIT_INTR", "KVM_EXIT_SET_TPR",
	"KVM_EXIT_TPR_ACCESS", "KVM_EXIT_S390_SIEIC", "KVM_EXIT_S390_RESET", "KVM_EXIT_DCR",
	"KVM_EXIT_NMI", "KVM_EXIT_INTERNAL_ERROR", "KVM_EXIT_OSI", "KVM_EXIT_PAPR_HCALL",
	"KVM_EXIT_S390_UCONTROL", "KVM_EXIT_WATCHDOG", "KVM_EXIT_S390_TSCH", "KVM_EXIT_EPR",
	"KVM_EXIT_SYSTEM_EVENT", "KVM_EXIT_S390_STSI", "KVM_EXIT_IOAPIC_EOI", "KVM_EXIT_HYPERV",
	"KVM_EXIT_ARM_NISV", "KVM_EXIT_X86_RDMSR", "KVM_EXIT_X86_WRMSR", "KVM_EXIT_DIRTY_RING_FULL",
	"KVM_EXIT_AP_RESET_HOLD", "KVM_EXIT_X86_BUS_LOCK", "KVM_EXIT_XEN", "KVM_EXIT_RISCV_SBI",
	"KVM_EXIT_RISCV_CSR", "KVM_EXIT_NOTIFY", "KVM_EXIT_LOONGARCH_IOCSR", "KVM_EXIT_MEMORY_FAULT",
	"KVM_EXIT_TDX",
}

// String returns the kernel's name for r, or KVM_EXIT_(n) for a number this
// package does not know.
func (r ExitReason) String() string {
	if r < numKnownExitReasons {
		return exitReasonNames[r]
	}
	return "KVM_EXIT_(" + strconv.FormatUint(uint64(r), 10) + ")"
}

// IODirection says whether a port I/O exit is an IN or an OUT.
type IODirection uint8

// KVM_EXIT_IO_IN and KVM_EXIT_IO_OUT.
const (
	IOIn  IODirection = 0
	IOOut IODirection = 1
)

func (d IODirection) String() string {
	switch d {
	case IOIn:
		return "in"
	case IOOut:
		return "out"
	}
	return "IODirection(" + strconv.Itoa(int(d)) + ")"
}

// IOExit describes a KVM_EXIT_IO: the guest executed IN/OUT (or a string
// form, Count > 1) on Port.
type IOExit struct {
	Direction IODirection
	Port      uint16
	// Size is the width of one access: 1, 2 or 4 bytes.
	Size uint8
	// Count is the number of accesses (1 unless REP INS/OUTS).
	Count uint32
	// Data is Size*Count bytes inside the vCPU's run mapping: for an OUT,
	// what the guest wrote; for an IN, where the host puts what the guest
	// will read before the next Run. It is valid until the next Run.
	Data []byte
}

// MMIOExit describes a KVM_EXIT_MMIO: an access to guest-physical memory
// that no memory slot backs.
type MMIOExit struct {
	PhysAddr uint64
	IsWrite  bool
	// Data is the access's bytes inside the run mapping (len 1 to 8): what
	// was written, or where the host puts what a read returns.
	Data []byte
}

// ExitError reports a vCPU exit that its caller did not expect, with the
// state needed to tell why: where the guest was and, where the exit has
// one, the hardware's own reason.
type ExitError struct {
	Reason ExitReason
	RIP    uint64
	CPL    uint8
	// HardwareReason is the VMX/SVM exit or entry-failure code for
	// KVM_EXIT_FAIL_ENTRY and KVM_EXIT_UNKNOWN; 0 otherwise.
	HardwareReason uint64
	// Suberror and Data are KVM_EXIT_INTERNAL_ERROR's details; for
	// KVM_EXIT_EXCEPTION, Data is the vector and the error code.
	Suberror uint32
	Data     []uint64
	// StateErr is set when the registers could not be read; RIP and CPL
	// are then zero.
	StateErr error
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("kvm: unexpected exit %v at RIP %#x (CPL %d)", e.Reason, e.RIP, e.CPL)
	switch e.Reason {
	case ExitFailEntry:
		s += fmt.Sprintf(": hardware entry failure reason %#x", e.HardwareReason)
	case ExitUnknown:
		s += fmt.Sprintf(": hardware exit reason %#x", e.HardwareReason)
	case ExitException:
		if len(e.Data) == 2 {
			s += fmt.Sprintf(": exception vector %d, error code %#x", e.Data[0], e.Data[1])
		}
	case ExitInternalError:
		s += fmt.Sprintf(": suberror %d (%s), data %#x", e.Suberror, internalErrorName(e.Suberror), e.Data)
	}
	if e.StateErr != nil {
		s += fmt.Sprintf(" (registers unreadable: %v)", e.StateErr)
	}
	return s
}

// internalErrorName names KVM_INTERNAL_ERROR_* suberrors.
func internalErrorName(sub uint32) string {
	switch sub {
	case 1:
		return "emulation failure"
	case 2:
		return "simultaneous exceptions"
	case 3:
		return "exit while delivering an event"
	case 4:
		return "unexpected hardware exit reason"
	}
	return "unknown"
}
