package kvm

import "unsafe"

// This file mirrors the x86-64 kernel ABI of <linux/kvm.h> and <asm/kvm.h>:
// the structures passed to ioctls and the layout of the shared run
// structure. Every size and offset here is checked against the kernel's
// headers by abi_test.go (which compiles a C program when gcc is present)
// and against fixed numbers when it is not.

// APIVersion is the only KVM API version this package speaks (KVM_GET_API_VERSION).
const APIVersion = 12

// ioctl request encoding (<asm-generic/ioctl.h>).
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	kvmIO = 0xAE
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | kvmIO<<8 | nr }

// Ioctl request numbers. The sizes come from the Go mirrors of the kernel
// structures so that a layout mistake shows up as ENOTTY, never as silent
// corruption (and abi_test.go compares each number with the kernel's).
var (
	reqGetAPIVersion       = ioc(iocNone, 0x00, 0)
	reqCreateVM            = ioc(iocNone, 0x01, 0)
	reqGetMSRIndexList     = ioc(iocRead|iocWrite, 0x02, 4)
	reqCheckExtension      = ioc(iocNone, 0x03, 0)
	reqGetVCPUMmapSize     = ioc(iocNone, 0x04, 0)
	reqGetSupportedCPUID   = ioc(iocRead|iocWrite, 0x05, 8)
	reqCreateVCPU          = ioc(iocNone, 0x41, 0)
	reqSetUserMemoryRegion = ioc(iocWrite, 0x46, unsafe.Sizeof(userspaceMemoryRegion{}))
	reqSetTSSAddr          = ioc(iocNone, 0x47, 0)
	reqSetIdentityMapAddr  = ioc(iocWrite, 0x48, 8)
	reqRun                 = ioc(iocNone, 0x80, 0)
	reqGetRegs             = ioc(iocRead, 0x81, unsafe.Sizeof(Regs{}))
	reqSetRegs             = ioc(iocWrite, 0x82, unsafe.Sizeof(Regs{}))
	reqGetSregs            = ioc(iocRead, 0x83, unsafe.Sizeof(Sregs{}))
	reqSetSregs            = ioc(iocWrite, 0x84, unsafe.Sizeof(Sregs{}))
	reqTranslate           = ioc(iocRead|iocWrite, 0x85, unsafe.Sizeof(Translation{}))
	reqGetMSRs             = ioc(iocRead|iocWrite, 0x88, 8)
	reqSetMSRs             = ioc(iocWrite, 0x89, 8)
	reqGetFPU              = ioc(iocRead, 0x8c, unsafe.Sizeof(FPU{}))
	reqSetFPU              = ioc(iocWrite, 0x8d, unsafe.Sizeof(FPU{}))
	reqSetCPUID2           = ioc(iocWrite, 0x90, 8)
	reqGetCPUID2           = ioc(iocRead|iocWrite, 0x91, 8)
	reqGetVCPUEvents       = ioc(iocRead, 0x9f, unsafe.Sizeof(VCPUEvents{}))
	reqSetVCPUEvents       = ioc(iocWrite, 0xa0, unsafe.Sizeof(VCPUEvents{}))
	reqGetTSCKHz           = ioc(iocNone, 0xa3, 0)
	reqGetXSave            = ioc(iocRead, 0xa4, xsaveLegacySize)
	reqSetXSave            = ioc(iocWrite, 0xa5, xsaveLegacySize)
	reqGetXCRs             = ioc(iocRead, 0xa6, unsafe.Sizeof(XCRs{}))
	reqSetXCRs             = ioc(iocWrite, 0xa7, unsafe.Sizeof(XCRs{}))
	reqGetXSave2           = ioc(iocRead, 0xcf, xsaveLegacySize)
)

// xsaveLegacySize is sizeof(struct kvm_xsave): the XSAVE area KVM_GET_XSAVE
// moves. KVM_CAP_XSAVE2 reports a larger size when the guest may use more.
const xsaveLegacySize = 4096

// Regs is struct kvm_regs: the general-purpose registers, RIP and RFLAGS.
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment is struct kvm_segment: a segment register in its unpacked form.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is struct kvm_dtable: the GDTR or IDTR.
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs is struct kvm_sregs: segment, descriptor-table and control registers.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	// InterruptBitmap has one bit per pending external interrupt vector.
	InterruptBitmap [4]uint64
}

// FPU is struct kvm_fpu: the legacy x87 and SSE state.
type FPU struct {
	FPR        [8][16]uint8
	FCW        uint16
	FSW        uint16
	FTWX       uint8
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]uint8
	MXCSR      uint32
	_          uint32
}

// MSR is struct kvm_msr_entry: one model-specific register and its value.
type MSR struct {
	Index uint32
	_     uint32
	Data  uint64
}

// CPUIDEntry is struct kvm_cpuid_entry2: the result of CPUID for one
// (Function, Index) pair.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	// Flags holds CPUIDFlagSignificantIndex and friends.
	Flags              uint32
	EAX, EBX, ECX, EDX uint32
	_                  [3]uint32
}

// CPUID entry flags (KVM_CPUID_FLAG_*).
const (
	// CPUIDFlagSignificantIndex: the entry applies to this Index only.
	CPUIDFlagSignificantIndex = 1 << 0
)

// XCR is struct kvm_xcr: one extended control register (XCR0 is index 0).
type XCR struct {
	XCR   uint32
	_     uint32
	Value uint64
}

// XCRs is struct kvm_xcrs.
type XCRs struct {
	NrXCRs uint32
	Flags  uint32
	XCRs   [16]XCR
	_      [16]uint64
}

// VCPUEvents is struct kvm_vcpu_events: pending and injected exceptions,
// interrupts and NMIs, and the interrupt shadow.
type VCPUEvents struct {
	Exception struct {
		Injected     uint8
		Nr           uint8
		HasErrorCode uint8
		Pending      uint8
		ErrorCode    uint32
	}
	Interrupt struct {
		Injected uint8
		Nr       uint8
		Soft     uint8
		Shadow   uint8
	}
	NMI struct {
		Injected uint8
		Pending  uint8
		Masked   uint8
		_        uint8
	}
	SIPIVector uint32
	Flags      uint32
	SMI        struct {
		SMM          uint8
		Pending      uint8
		SMMInsideNMI uint8
		LatchedInit  uint8
	}
	TripleFaultPending  uint8
	_                   [26]uint8
	ExceptionHasPayload uint8
	ExceptionPayload    uint64
}

// Translation is struct kvm_translation (KVM_TRANSLATE).
type Translation struct {
	LinearAddress   uint64
	PhysicalAddress uint64
	Valid           uint8
	Writeable       uint8
	Usermode        uint8
	_               [5]uint8
}

// userspaceMemoryRegion is struct kvm_userspace_memory_region.
type userspaceMemoryRegion struct {
	slot          uint32
	flags         uint32
	guestPhysAddr uint64
	memorySize    uint64
	userspaceAddr uint64
}

// SyncRegs is struct kvm_sync_regs on x86: the register sets KVM copies into
// the run structure on every exit (those requested with VCPU.SetSyncRegs)
// and copies back on entry (those marked with VCPU.MarkSyncDirty).
type SyncRegs struct {
	Regs   Regs
	Sregs  Sregs
	Events VCPUEvents
}

// SyncSet is a set of KVM_SYNC_X86_* register sets.
type SyncSet uint64

// The register sets KVM_CAP_SYNC_REGS can carry.
const (
	SyncRegsGPR    SyncSet = 1 << 0 // KVM_SYNC_X86_REGS: Regs
	SyncRegsSregs  SyncSet = 1 << 1 // KVM_SYNC_X86_SREGS: Sregs (CR2 included)
	SyncRegsEvents SyncSet = 1 << 2 // KVM_SYNC_X86_EVENTS: VCPUEvents
)

// runExitOffset is where the per-exit union starts in struct kvm_run.
const runExitOffset = 32

// runData is the fixed part of struct kvm_run, the structure shared with
// the kernel through the vCPU fd's mapping. Exit is the union of per-exit
// data; its members are read through the *Exit types below.
type runData struct {
	RequestInterruptWindow     uint8
	ImmediateExit              uint8
	_                          [6]uint8
	ExitReason                 uint32
	ReadyForInterruptInjection uint8
	IFFlag                     uint8
	Flags                      uint16
	CR8                        uint64
	APICBase                   uint64
	Exit                       [256]byte
	ValidRegs                  uint64
	DirtyRegs                  uint64
	Sync                       SyncRegs
	_                          [2048 - unsafe.Sizeof(SyncRegs{})]byte
}

// ioExitData is the io member of kvm_run's exit union (KVM_EXIT_IO).
type ioExitData struct {
	Direction  uint8
	Size       uint8
	Port       uint16
	Count      uint32
	DataOffset uint64
}

// mmioExitData is the mmio member (KVM_EXIT_MMIO).
type mmioExitData struct {
	PhysAddr uint64
	Data     [8]uint8
	Len      uint32
	IsWrite  uint8
	_        [3]uint8
}

// failEntryData is the fail_entry member (KVM_EXIT_FAIL_ENTRY).
type failEntryData struct {
	HardwareEntryFailureReason uint64
	CPU                        uint32
	_                          uint32
}

// internalErrorData is the internal member (KVM_EXIT_INTERNAL_ERROR).
type internalErrorData struct {
	Suberror uint32
	NData    uint32
	Data     [16]uint64
}

// exceptionData is the ex member (KVM_EXIT_EXCEPTION).
type exceptionData struct {
	Exception uint32
	ErrorCode uint32
}

// systemEventData is the system_event member (KVM_EXIT_SYSTEM_EVENT).
type systemEventData struct {
	Type  uint32
	NData uint32
	Data  [16]uint64
}

// hwExitData is the hw member (KVM_EXIT_UNKNOWN).
type hwExitData struct {
	HardwareExitReason uint64
}

// msrExitData is the msr member (KVM_EXIT_X86_RDMSR, KVM_EXIT_X86_WRMSR).
type msrExitData struct {
	Error  uint8
	_      [7]uint8
	Reason uint32
	Index  uint32
	Data   uint64
}
