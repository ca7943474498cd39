package memmap

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// MappingIdentity is what keeps a mapped object alive and names it in
// /proc/pid/maps. It is separate from Mappable because several identities
// (open files) may map one Mappable (inode), as in Linux. A vma holds one
// reference on its identity.
type MappingIdentity interface {
	// IncRef takes a reference. Precondition: the caller holds one.
	IncRef()

	// DecRef drops a reference; the last one releases the object and its
	// Mappable. Precondition: the caller holds the reference it drops.
	DecRef()

	// MappedName is the path shown in /proc/pid/maps.
	MappedName() string

	// DeviceID is the device number shown in /proc/pid/maps.
	DeviceID() uint64

	// InodeID is the inode number shown in /proc/pid/maps.
	InodeID() uint64

	// Msync writes back the object's data for offsets fr (msync(MS_SYNC)
	// of a shared mapping). Precondition: fr is page-aligned.
	Msync(fr MappableRange) error
}

// MLockMode is a mapping's memory-locking behaviour. The order matters: a
// larger mode is "more locked", so mm can combine modes with max.
type MLockMode int

const (
	// MLockNone: not locked. The zero value.
	MLockNone MLockMode = iota

	// MLockEager: locked as by mlock(2) (Linux's VM_LOCKED): every page
	// is made resident at once and kept resident.
	MLockEager

	// MLockLazy: locked as by mlock2(MLOCK_ONFAULT) (Linux's VM_LOCKED |
	// VM_LOCKONFAULT): pages are kept resident once faulted in, but not
	// faulted in ahead of use.
	MLockLazy
)

// String names the mode.
func (m MLockMode) String() string {
	switch m {
	case MLockNone:
		return "none"
	case MLockEager:
		return "eager"
	case MLockLazy:
		return "lazy"
	}
	return fmt.Sprintf("MLockMode(%d)", int(m))
}

// MMapOpts is one request to create a mapping, as the mmap syscall (or the
// loader) hands it to mm. mm validates it; the fields here only say what
// they mean.
type MMapOpts struct {
	// Length is the mapping's length in bytes; mm rounds it up to pages
	// and rejects zero.
	Length uint64

	// MappingIdentity keeps Mappable alive and names the mapping; nil for
	// anonymous mappings. A successful MMap takes a reference on it.
	MappingIdentity MappingIdentity

	// Mappable is the object mapped; nil for an anonymous mapping, whose
	// pages come from the MemoryFile. Must stay valid while a reference on
	// MappingIdentity is held.
	Mappable Mappable

	// Offset is the offset into Mappable of the mapping's first byte;
	// page-aligned. Ignored when Mappable is nil.
	Offset uint64

	// Addr is the requested address: a hint, or the address itself when
	// Fixed.
	Addr arch.Addr

	// Fixed requires the mapping to be placed exactly at Addr (MAP_FIXED
	// or MAP_FIXED_NOREPLACE).
	Fixed bool

	// Unmap lets the mapping replace what is already mapped at its range
	// (MAP_FIXED); without it, an overlap fails with EEXIST
	// (MAP_FIXED_NOREPLACE). Requires Fixed.
	Unmap bool

	// Map32Bit places the mapping below 2 GiB (MAP_32BIT): every address
	// in it, but not its end, fits in 31 bits. Ignored when Fixed.
	Map32Bit bool

	// Perms are the mapping's initial permissions (PROT_*).
	Perms arch.AccessType

	// MaxPerms bound the permissions mprotect may ever grant (a read-only
	// file cannot be made writable through a shared mapping). Must be an
	// effective access type (see arch.AccessType.Effective).
	MaxPerms arch.AccessType

	// Private makes writes go to a copy private to this address space
	// (MAP_PRIVATE) rather than to the mapped object (MAP_SHARED).
	Private bool

	// GrowsDown makes the mapping grow downwards on faults just below it
	// (MAP_GROWSDOWN, stacks).
	GrowsDown bool

	// Precommit asks mm to back and map the whole mapping at once
	// (MAP_POPULATE) rather than on fault.
	Precommit bool

	// MLockMode is the mapping's locking behaviour (MAP_LOCKED gives
	// MLockEager).
	MLockMode MLockMode

	// Hint names the mapping in /proc/pid/maps when it has no identity,
	// e.g. "[heap]" or "[stack]".
	Hint string
}
