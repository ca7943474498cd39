package mm

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mmvm/mmvm/arch"
)

// Overcommit modes, as /proc/sys/vm/overcommit_memory names them.
const (
	OvercommitGuess  = 0 // heuristic: refuse one request larger than all memory
	OvercommitAlways = 1 // never refuse
	OvercommitNever  = 2 // strict: commit no more than the commit limit
)

// Overcommit is the policy mmap and brk follow for memory they commit
// (private writable mappings: VM_ACCOUNT), Linux's __vm_enough_memory,
// weighed against Memory instead of the host's RAM. The zero value checks
// nothing.
type Overcommit struct {
	// Mode is one of the Overcommit* modes.
	Mode int
	// Memory is the memory requests are weighed against: the guest's, which
	// has no swap. 0 turns the check off.
	Memory uint64
	// Ratio (percent of Memory) and KBytes (when not 0, instead of Ratio)
	// make the commit limit of OvercommitNever, as vm.overcommit_ratio and
	// vm.overcommit_kbytes do.
	Ratio  uint64
	KBytes uint64
}

// HostOvercommit returns the host's policy, from /proc/sys/vm, applied to
// memory bytes.
func HostOvercommit(memory uint64) (Overcommit, error) {
	o := Overcommit{Memory: memory}
	for _, f := range []struct {
		name string
		v    *uint64
	}{{"overcommit_ratio", &o.Ratio}, {"overcommit_kbytes", &o.KBytes}} {
		v, err := readProcVM(f.name)
		if err != nil {
			return Overcommit{}, err
		}
		*f.v = v
	}
	mode, err := readProcVM("overcommit_memory")
	if err != nil {
		return Overcommit{}, err
	}
	if mode > OvercommitNever {
		return Overcommit{}, fmt.Errorf("mm: /proc/sys/vm/overcommit_memory reads %d, not a mode Linux knows", mode)
	}
	o.Mode = int(mode)
	return o, nil
}

func readProcVM(name string) (uint64, error) {
	b, err := os.ReadFile("/proc/sys/vm/" + name)
	if err != nil {
		return 0, fmt.Errorf("mm: the host's overcommit policy: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("mm: /proc/sys/vm/%s: %w", name, err)
	}
	return v, nil
}

// commitLimit is the most memory OvercommitNever lets the guest commit
// (vm_commit_limit, with no swap and no huge pages).
func (o Overcommit) commitLimit() uint64 {
	if o.KBytes != 0 {
		return o.KBytes << 10
	}
	return o.Memory / 100 * o.Ratio
}

// accountable reports whether a vma of v's kind commits memory under o:
// private writable memory, and under OvercommitNever even MAP_NORESERVE
// (accountable_mapping and the NORESERVE exception in mmap_region).
func (o Overcommit) accountable(v *vma) bool {
	if !v.private || !v.realPerms.Write {
		return false
	}
	return v.flags&vmaNoReserve == 0 || o.Mode == OvercommitNever
}

// enoughMemoryLocked reports whether n more bytes may be committed
// (__vm_enough_memory): under OvercommitGuess n must not exceed all of
// Memory; under OvercommitNever the private writable memory already
// mapped plus n must stay within the commit limit. The guest runs as root,
// so no admin or user reserve is held back.
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) enoughMemoryLocked(n uint64) bool {
	o := mm.limits.Overcommit
	if o.Memory == 0 {
		return true
	}
	switch o.Mode {
	case OvercommitGuess:
		return n>>arch.PageShift <= o.Memory>>arch.PageShift
	case OvercommitNever:
		committed := mm.dataAS + mm.stackAS
		return committed <= o.commitLimit() && n <= o.commitLimit()-committed
	}
	return true
}
