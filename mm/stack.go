package mm

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// stackExpand is how much more than the arguments' pages MapStackArgs maps
// up front; the rest grows on demand, up to RLIMIT_STACK (Linux's
// stack_expand in setup_arg_pages).
const stackExpand = 128 << 10

// MapStack maps the initial grows-down stack for a program with no
// argument strings: MapStackArgs(Layout.StackTop).
func (mm *MemoryManager) MapStack() (arch.AddrRange, error) {
	return mm.MapStackArgs(mm.layout.StackTop)
}

// MapStackArgs maps the initial grows-down stack, ending at
// Layout.StackTop, as Linux's setup_arg_pages leaves it: the pages of the
// argument strings, from argStart (the lowest of them, Linux's bprm->p)
// up, and stackExpand more below, or RLIMIT_STACK in all where that is
// less. It returns the stack's range.
func (mm *MemoryManager) MapStackArgs(argStart arch.Addr) (arch.AddrRange, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	top := mm.layout.StackTop
	if argStart > top {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: arguments at %v above the stack top %v: %w", argStart, top, unix.EINVAL)
	}
	args := uint64(top - argStart.RoundDown())
	limit := mm.limits.Stack &^ arch.PageMask
	size := args + stackExpand
	if size > limit {
		size = max(limit, args)
	}
	if size == 0 {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: RLIMIT_STACK %#x is below a page: %w", mm.limits.Stack, unix.ENOMEM)
	}
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
