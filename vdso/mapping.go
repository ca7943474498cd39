package vdso

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// Mapping is one part of the image as mm maps it, named as Linux names it
// in /proc/pid/maps ("[vvar]", "[vdso]"): a memmap.Mappable and
// memmap.MappingIdentity over a fixed run of File pages that it holds one
// reference on for its whole life. Its translations never allow Write, so a
// private mapping that a program makes writable (as a debugger does to set
// a breakpoint in the vDSO) copies the page and the shared one stays as the
// host wrote it. A Mapping may be longer than its pages: an access past
// them is SIGBUS, as Linux's special mappings give for a page they have
// nothing to put in.
type Mapping struct {
	name string
	file memmap.File
	fr   memmap.FileRange
	// length is the mapping's size, fr.Length() or more.
	length uint64
	perms  arch.AccessType
	// refs counts MappingIdentity references; the creator holds one, each
	// vma another. The last DecRef drops the pages.
	refs atomic.Int64
}

var (
	_ memmap.Mappable        = (*Mapping)(nil)
	_ memmap.MappingIdentity = (*Mapping)(nil)
)

// NewMapping returns a Mapping named name of length bytes whose first
// fr.Length() bytes are fr of file (file may be nil where fr is empty),
// translating with perms (Write is dropped), holding the caller's
// reference on fr, which it gives back when the last reference to the
// Mapping is dropped.
func NewMapping(name string, file memmap.File, fr memmap.FileRange, length uint64, perms arch.AccessType) *Mapping {
	perms.Write = false
	m := &Mapping{name: name, file: file, fr: fr, length: max(length, fr.Length()), perms: perms}
	m.refs.Store(1)
	return m
}

// Length is the mapping's size in bytes.
func (m *Mapping) Length() uint64 { return m.length }

// IncRef implements memmap.MappingIdentity.
func (m *Mapping) IncRef() {
	if m.refs.Add(1) <= 1 {
		panic("vdso: Mapping.IncRef on a released mapping")
	}
}

// DecRef implements memmap.MappingIdentity.
func (m *Mapping) DecRef() {
	switch n := m.refs.Add(-1); {
	case n == 0:
		if m.fr.Length() != 0 {
			m.file.DecRef(m.fr)
		}
	case n < 0:
		panic("vdso: Mapping.DecRef without a reference")
	}
}

// MappedName implements memmap.MappingIdentity.
func (m *Mapping) MappedName() string { return m.name }

// DeviceID implements memmap.MappingIdentity: no device, as Linux shows.
func (m *Mapping) DeviceID() uint64 { return 0 }

// InodeID implements memmap.MappingIdentity: no inode.
func (m *Mapping) InodeID() uint64 { return 0 }

// Msync implements memmap.MappingIdentity: there is nothing to write back.
func (m *Mapping) Msync(memmap.MappableRange) error { return nil }

// AddMapping implements memmap.Mappable: the pages never change, so no
// mapping needs invalidating and none is recorded.
func (m *Mapping) AddMapping(memmap.MappingSpace, arch.AddrRange, uint64, bool) error { return nil }

// RemoveMapping implements memmap.Mappable.
func (m *Mapping) RemoveMapping(memmap.MappingSpace, arch.AddrRange, uint64, bool) {}

// CopyMapping implements memmap.Mappable.
func (m *Mapping) CopyMapping(memmap.MappingSpace, arch.AddrRange, arch.AddrRange, uint64, bool) error {
	return nil
}

// InvalidateUnsavable implements memmap.Mappable: the pages are MemoryFile
// pages, saved with it.
func (m *Mapping) InvalidateUnsavable() error { return nil }

// Translate implements memmap.Mappable: optional, clipped to the pages, in
// one translation. Offsets past the pages get SIGBUS (the rest of a longer
// mapping, or a mapping made larger by mremap), as Linux gives for a
// special mapping's missing page; a Write translation is refused, so
// private mappings copy.
func (m *Mapping) Translate(required, optional memmap.MappableRange, at arch.AccessType) ([]memmap.Translation, error) {
	if at.Write {
		return nil, fmt.Errorf("vdso: %s: write translation of a read-only page: %w", m.name, unix.EACCES)
	}
	size := m.fr.Length()
	if required.Start >= size {
		return nil, &memmap.BusError{Err: fmt.Errorf("vdso: %s: offset %#x past its %#x bytes", m.name, required.Start, size)}
	}
	src := memmap.MappableRange{Start: optional.Start, End: min(optional.End, size)}
	ts := []memmap.Translation{{Source: src, File: m.file, Offset: m.fr.Start + src.Start, Perms: m.perms}}
	if required.End > size {
		return ts, &memmap.BusError{Err: fmt.Errorf("vdso: %s: offset %#x past its %#x bytes", m.name, size, size)}
	}
	return ts, nil
}
