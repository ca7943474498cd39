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
	// was mapped there. precommit: the mapping will be used soon, so map
	// it eagerly. addr and fr are page-aligned and of equal length.
	MapFile(addr arch.Addr, f memmap.File, fr memmap.FileRange, at arch.AccessType, precommit bool) error

	// Unmap removes every mapping in ar; it must be invisible to the
	// guest (TLB flushed) before the guest next runs in user mode.
	Unmap(ar arch.AddrRange)

	// Release frees the AddressSpace; mm makes no further calls.
	Release()
}
