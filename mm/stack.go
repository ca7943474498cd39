package mm

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// initialStackSize is how much of the stack MapStack maps up front; the
// rest grows on demand, up to RLIMIT_STACK (Linux's stack_expand).
const initialStackSize = 128 << 10

// MapStack maps the initial grows-down stack, ending at Layout.StackTop,
// and returns its range.
func (mm *MemoryManager) MapStack() (arch.AddrRange, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	size := min(uint64(initialStackSize), mm.limits.Stack&^arch.PageMask)
	if size == 0 {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: RLIMIT_STACK %#x is below a page: %w", mm.limits.Stack, unix.ENOMEM)
	}
	top := mm.layout.StackTop
	ar := arch.AddrRange{Start: top - arch.Addr(size), End: top}
	if mm.overlapsVMALocked(ar) {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: %v is already mapped: %w", ar, unix.EEXIST)
	}
	v := vma{
		off: uint64(ar.Start), realPerms: arch.ReadWrite, effectivePerms: arch.ReadWrite,
		maxPerms: arch.AnyAccess, private: true, growsDown: true, mlockMode: mm.defMLockMode,
		flags: vmaAccount,
	}
	if !mm.mayExpandLocked(&v, size) {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: RLIMIT_AS: %w", unix.ENOMEM)
	}
	mm.insertVMALocked(ar, v)
	mm.stackStart = top - arch.PageSize
	return ar, nil
}
