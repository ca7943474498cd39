package kvm

import "strconv"

// capability_names.go was generated from Linux 6.1's <linux/kvm.h> with
//
//	grep -E '^#define KVM_CAP_[A-Z0-9_]+[[:space:]]+[0-9]+' /usr/include/linux/kvm.h |
//		awk '{printf "\t%s: \"%s\",\n", $3, $2}' | sort -t: -k1,1n -u
//
// wrapped in a map literal and gofmt'ed.

// Capability is a KVM_CAP_* number, asked about with KVM_CHECK_EXTENSION.
type Capability uint32

// The capabilities mmvm asks about. Every other number still has a name
// (String) from the kernel's list.
const (
	CapHLT              Capability = 1
	CapUserMemory       Capability = 3
	CapSetTSSAddr       Capability = 4
	CapExtCPUID         Capability = 7
	CapNrVCPUs          Capability = 9
	CapNrMemslots       Capability = 10
	CapSyncMMU          Capability = 16
	CapSetIdentityMap   Capability = 37
	CapVCPUEvents       Capability = 41
	CapXSave            Capability = 55
	CapXCRs             Capability = 56
	CapMaxVCPUs         Capability = 66
	CapOneReg           Capability = 70
	CapSyncRegs         Capability = 74
	CapReadonlyMem      Capability = 81
	CapMaxVCPUID        Capability = 128
	CapImmediateExit    Capability = 136
	CapGetMSRFeatures   Capability = 153
	CapX86UserSpaceMSR  Capability = 188
	CapXSave2           Capability = 208
	CapX86TripleFaultEv Capability = 218
)

// RequiredCapabilities are the capabilities Open insists on: memory slots
// from user memory, KVM_GET_SUPPORTED_CPUID, and immediate_exit (which
// Kick relies on to stop a vCPU without a race).
var RequiredCapabilities = []Capability{CapUserMemory, CapExtCPUID, CapImmediateExit}

// String returns the kernel's name for c, or KVM_CAP_(n) when unknown.
func (c Capability) String() string {
	if name, ok := capabilityNames[c]; ok {
		return name
	}
	return "KVM_CAP_(" + strconv.FormatUint(uint64(c), 10) + ")"
}
