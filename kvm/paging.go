package kvm

import (
	"os"
	"path/filepath"
	"strings"
)

// Paging is how a KVM translates the guest's virtual addresses, which
// decides what the VMM must do after changing a guest page-table entry.
type Paging uint8

// Ways of paging.
const (
	// PagingUnknown: /dev/kvm's module or its parameters could not be read.
	PagingUnknown Paging = iota
	// PagingNested: the processor walks the guest's tables itself (Intel
	// EPT, AMD NPT); a host write to an entry and a TLB flush are enough.
	PagingNested
	// PagingShadow: KVM builds shadow tables from the guest's (PVM always;
	// kvm_intel with ept=N, kvm_amd with npt=N) and keeps its copy of a
	// present entry until the guest itself stores to it.
	PagingShadow
)

func (p Paging) String() string {
	switch p {
	case PagingNested:
		return "nested paging"
	case PagingShadow:
		return "shadow paging"
	}
	return "paging unknown"
}

// MMUPaging reports how this machine's KVM pages, from the module behind
// /dev/kvm (Implementation) and its parameters, and the fact it went by
// (such as "kvm_amd npt=Y").
func MMUPaging() (Paging, string) {
	impl := Implementation()
	param := map[string]string{"kvm_intel": "ept", "kvm_amd": "npt"}[impl]
	switch {
	case impl == "":
		return PagingUnknown, "no KVM module found"
	case impl == "kvm_pvm":
		return PagingShadow, "kvm_pvm"
	case param == "":
		return PagingUnknown, impl
	}
	b, err := os.ReadFile(filepath.Join(sysModuleDir, impl, "parameters", param))
	if err != nil {
		return PagingUnknown, impl + " " + param + " unreadable"
	}
	v := strings.TrimSpace(string(b))
	fact := impl + " " + param + "=" + v
	switch v {
	case "Y", "y", "1":
		return PagingNested, fact
	case "N", "n", "0":
		return PagingShadow, fact
	}
	return PagingUnknown, fact
}
