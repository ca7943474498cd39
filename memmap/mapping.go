package memmap

import (
	"fmt"
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

// SeparateMappings is a MappingIdentity whose mappings are counted one
// by one, each vma on its own: mm never merges two vmas of it, as Linux
// never merges vmas whose vm_ops have a close hook (System V shared
// memory counts its attaches that way).
type SeparateMappings interface {
	MappingIdentity
	// SeparateMappings marks the identity; it does nothing.
	SeparateMappings()
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
