package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// AddressSpace is the hardware view of the guest's memory that mm
// programs: on mmvm, x86-64 page tables in guest memory. mm calls it with
// activeMu held, so implementations must not call back into mm.
type AddressSpace interface {
	// MapFile maps fr of f at addr with permissions at, replacing what
	// was mapped there. addr and fr are page-aligned and of equal length.
	MapFile(addr arch.Addr, f memmap.File, fr memmap.FileRange, at arch.AccessType, opts MapOpts) error

	// Accessed calls fn, in address order, for each run of ar's pages
	// that the program has accessed since MapFile mapped them with
	// Untouched; pages mapped without it count as accessed, pages not
	// mapped as not.
	Accessed(ar arch.AddrRange, fn func(arch.AddrRange))

	// Unmap removes every mapping in ar; it must be invisible to the
	// guest (TLB flushed) before the guest next runs in user mode.
	Unmap(ar arch.AddrRange)

	// Release frees the AddressSpace; mm makes no further calls.
	Release()
}

// MapOpts are how MapFile maps.
type MapOpts struct {
	// Precommit: the mapping will be used soon, so map it eagerly.
	Precommit bool
	// Untouched: the program has not used these pages yet; the
	// AddressSpace records its first access of each (the page tables'
	// accessed bits) for Accessed.
	Untouched bool
	// Used are the pages of an Untouched mapping that count as accessed
	// already: those the fault being served is for.
	Used arch.AddrRange
}
