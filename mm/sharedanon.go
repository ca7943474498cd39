package mm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// SharedMemory is a shmem object: the one behind a MAP_SHARED|MAP_ANONYMOUS
// mapping (Linux's "/dev/zero (deleted)"), a memfd (memfd.go) or a file of
// the guest's tmpfs (NewTmpfsFile). Its pages
// are pages of the MemoryFile, allocated on first use and shared by every
// mapping of it, including those of forks, and by the memfd's reads and
// writes. It is its own MappingIdentity; the last reference frees its
// pages.
type SharedMemory struct {
	mf MemoryFile
	// dev and inode are the device and inode number /proc/self/maps
	// shows: shmem's device 00:01 and a number of mm's own, or a tmpfs
	// file's as its stat shows them. Fixed at creation.
	dev, inode uint64
	refs       atomic.Int64
	// name is what /proc/self/maps names the object by; nil for shared
	// anonymous memory ("/dev/zero (deleted)"). A tmpfs file's changes
	// when it is renamed or unlinked (SetMappedName).
	name atomic.Pointer[string]

	mu sync.Mutex
	// size is the object's size in bytes: page-aligned and fixed for
	// shared anonymous memory, a memfd's file size. Pages at or past it
	// rounded up to a page are never backed, and a mapping's access to
	// them is SIGBUS. Guarded by mu.
	size uint64
	// seals are a memfd's F_SEAL_* bits. Guarded by mu.
	seals uint32
	// pages maps object offsets to the MemoryFile offset backing them;
	// each backed page holds one reference owned by the object. Guarded
	// by mu.
	pages map[uint64]uint64
	// unwritten are the offsets of pages fallocate backed that nothing
	// has faulted or written since (shmem's !Uptodate fallocated
	// folios): they count in the object's blocks but mincore reports
	// them absent. Guarded by mu.
	unwritten map[uint64]struct{}
	// mappings are the address ranges that map the object: what
	// AddMapping and CopyMapping recorded less what RemoveMapping took
	// away, so that punch reaches every mapping (another vma of the same
	// MemoryManager after mremap, a fork's). Guarded by mu.
	mappings []sharedAnonMapping
}

// sharedAnonMapping is one range of addresses of a MappingSpace mapping
// the object from offset off.
type sharedAnonMapping struct {
	ms  memmap.MappingSpace
	ar  arch.AddrRange
	off uint64
	// writable: the mapping may write the object (shared, VM_MAYWRITE),
	// which a memfd's F_SEAL_WRITE refuses to coexist with.
	writable bool
}

// offsets returns the object offsets m maps.
func (m sharedAnonMapping) offsets() memmap.MappableRange {
	return memmap.MappableRange{Start: m.off, End: m.off + m.ar.Length()}
}

// sameMapping reports whether m maps ar of ms from off with the same
// address-to-offset correspondence, so that ar can be cut out of it.
func (m sharedAnonMapping) sameMapping(ms memmap.MappingSpace, ar arch.AddrRange, off uint64) bool {
	return m.ms == ms && uint64(m.ar.Start)-m.off == uint64(ar.Start)-off && m.ar.Overlaps(ar)
}

var sharedAnonInodes atomic.Uint64

func newSharedAnon(mf MemoryFile, size uint64) (*SharedMemory, error) {
	s := &SharedMemory{mf: mf, size: size, dev: shmemDev, inode: sharedAnonInodes.Add(1), pages: make(map[uint64]uint64)}
	s.refs.Store(1)
	return s, nil
}

// IncRef implements memmap.MappingIdentity.
func (s *SharedMemory) IncRef() { s.refs.Add(1) }

// DecRef implements memmap.MappingIdentity; the last reference frees the
// pages.
func (s *SharedMemory) DecRef() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, off := range s.pages {
		s.mf.DecRef(memmap.FileRange{Start: off, End: off + arch.PageSize})
	}
	s.pages = nil
}

// shmemDev is the device shared anonymous memory and memfds show, 00:01.
const shmemDev = 1

// MappedName implements memmap.MappingIdentity.
func (s *SharedMemory) MappedName() string {
	if name := s.name.Load(); name != nil {
		return *name
	}
	return "/dev/zero (deleted)"
}

// SetMappedName sets what /proc/self/maps names the object by from now on.
func (s *SharedMemory) SetMappedName(name string) { s.name.Store(&name) }

// DeviceID implements memmap.MappingIdentity.
func (s *SharedMemory) DeviceID() uint64 { return s.dev }

// InodeID implements memmap.MappingIdentity.
func (s *SharedMemory) InodeID() uint64 { return s.inode }

// Msync implements memmap.MappingIdentity: memory has nothing to write
// back.
func (s *SharedMemory) Msync(memmap.MappableRange) error { return nil }

// AddMapping implements memmap.Mappable.
func (s *SharedMemory) AddMapping(ms memmap.MappingSpace, ar arch.AddrRange, off uint64, writable bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mappings = append(s.mappings, sharedAnonMapping{ms: ms, ar: ar, off: off, writable: writable})
	return nil
}

// RemoveMapping implements memmap.Mappable: ar is cut out of the records
// of the mapping that recorded it, once, whose remaining parts (if ar was a
// sub-range) stay. Two records can cover the same addresses with the same
// offsets for a moment (mmap MAP_FIXED over a mapping of the same pages
// adds the new before it removes the old), so each address of ar is taken
// from one record only.
func (s *SharedMemory) RemoveMapping(ms memmap.MappingSpace, ar arch.AddrRange, off uint64, _ bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// left are the parts of ar not yet cut out of a record.
	left := []arch.AddrRange{ar}
	// A new slice: cutting ar out of the middle of a mapping leaves two.
	kept := make([]sharedAnonMapping, 0, len(s.mappings)+1)
	for _, m := range s.mappings {
		if len(left) == 0 || !m.sameMapping(ms, ar, off) {
			kept = append(kept, m)
			continue
		}
		parts := []sharedAnonMapping{m}
		var stillLeft []arch.AddrRange
		for _, l := range left {
			cut := m.ar.Intersect(l)
			if cut.Length() == 0 {
				stillLeft = append(stillLeft, l)
				continue
			}
			if l.Start < cut.Start {
				stillLeft = append(stillLeft, arch.AddrRange{Start: l.Start, End: cut.Start})
			}
			if cut.End < l.End {
				stillLeft = append(stillLeft, arch.AddrRange{Start: cut.End, End: l.End})
			}
			parts = cutMappings(parts, cut)
		}
		left = stillLeft
		kept = append(kept, parts...)
	}
	s.mappings = kept
}

// cutMappings returns ms with the addresses of cut taken out, each part at
// its own offset.
func cutMappings(ms []sharedAnonMapping, cut arch.AddrRange) []sharedAnonMapping {
	var out []sharedAnonMapping
	for _, m := range ms {
		if !m.ar.Overlaps(cut) {
			out = append(out, m)
			continue
		}
		if m.ar.Start < cut.Start {
			out = append(out, sharedAnonMapping{ms: m.ms, ar: arch.AddrRange{Start: m.ar.Start, End: cut.Start}, off: m.off, writable: m.writable})
		}
		if cut.End < m.ar.End {
			out = append(out, sharedAnonMapping{ms: m.ms, ar: arch.AddrRange{Start: cut.End, End: m.ar.End}, off: m.off + uint64(cut.End-m.ar.Start), writable: m.writable})
		}
	}
	return out
}

// CopyMapping implements memmap.Mappable as AddMapping of dstAR.
func (s *SharedMemory) CopyMapping(ms memmap.MappingSpace, _, dstAR arch.AddrRange, off uint64, writable bool) error {
	return s.AddMapping(ms, dstAR, off, writable)
}

// Translate implements memmap.Mappable: each page of required is backed
// (allocated zeroed on first use). Offsets past the object's size fail
// with a BusError, as a shmem mapping past its end does.
func (s *SharedMemory) Translate(required, optional memmap.MappableRange, at arch.AccessType) ([]memmap.Translation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []memmap.Translation
	for off := required.Start; off < required.End; off += arch.PageSize {
		if off >= pageRoundUp(s.size) {
			return ts, &memmap.BusError{Err: fmt.Errorf("mm: offset %#x past the end (%#x) of a shared memory object", off, s.size)}
		}
		fo, err := s.pageLocked(off)
		if err != nil {
			return ts, err
		}
		delete(s.unwritten, off)
		src := memmap.MappableRange{Start: off, End: off + arch.PageSize}
		if n := len(ts); n > 0 && ts[n-1].Source.End == off && ts[n-1].Offset+ts[n-1].Source.Length() == fo {
			ts[n-1].Source.End = src.End
			continue
		}
		ts = append(ts, memmap.Translation{Source: src, File: s.mf, Offset: fo, Perms: arch.AnyAccess})
	}
	return ts, nil
}

// InvalidateUnsavable implements memmap.Mappable: all pages are saved.
func (s *SharedMemory) InvalidateUnsavable() error { return nil }

// pageLocked returns the MemoryFile offset of the page at off, allocating
// it zeroed if it is not backed yet.
//
// Preconditions: s.mu is locked; off is page-aligned.
func (s *SharedMemory) pageLocked(off uint64) (uint64, error) {
	if fo, ok := s.pages[off]; ok {
		return fo, nil
	}
	fr, err := s.mf.Allocate(arch.PageSize, memfile.AllocOpts{Kind: memfile.User})
	if err != nil {
		return 0, err
	}
	s.pages[off] = fr.Start
	return fr.Start, nil
}

// pageRoundUp rounds n up to a page; n is at most a file's largest size.
func pageRoundUp(n uint64) uint64 { return (n + arch.PageMask) &^ arch.PageMask }

// resident reports whether the page at off is backed.
func (s *SharedMemory) resident(off uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pages[off]
	_, unwritten := s.unwritten[off]
	return ok && !unwritten
}

// punch frees the pages in mr (MADV_REMOVE), so that they read as zero
// again through every mapping, as shmem's hole punching does: each
// mapping of mr is invalidated once the pages are gone (a pma holds its
// own reference, so until then it still reads the old page, never a freed
// one).
//
// Preconditions: the caller holds no MemoryManager's activeMu (Invalidate
// takes it) and not s.mu.
func (s *SharedMemory) punch(mr memmap.MappableRange) {
	s.invalidate(s.punchPages(mr), memmap.InvalidateOpts{})
}

// invalidate invalidates the mapped ranges ms.
//
// Preconditions: the caller holds no MemoryManager's activeMu and not s.mu.
func (s *SharedMemory) invalidate(ms []sharedAnonMapping, opts memmap.InvalidateOpts) {
	for _, m := range ms {
		m.ms.Invalidate(m.ar, opts)
	}
}

// punchPages frees the pages in mr and returns the parts of the mappings
// that map mr.
func (s *SharedMemory) punchPages(mr memmap.MappableRange) []sharedAnonMapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.punchPagesLocked(mr)
}

// punchPagesLocked is punchPages with s.mu locked.
func (s *SharedMemory) punchPagesLocked(mr memmap.MappableRange) []sharedAnonMapping {
	// By the pages backed, not the offsets of mr, which may reach the
	// largest file size.
	for off, fo := range s.pages {
		if mr.Contains(off) {
			s.mf.DecRef(memmap.FileRange{Start: fo, End: fo + arch.PageSize})
			delete(s.pages, off)
			delete(s.unwritten, off)
		}
	}
	var hit []sharedAnonMapping
	for _, m := range s.mappings {
		o := m.offsets().Intersect(mr)
		if o.Empty() {
			continue
		}
		start := m.ar.Start + arch.Addr(o.Start-m.off)
		hit = append(hit, sharedAnonMapping{ms: m.ms, ar: arch.AddrRange{Start: start, End: start + arch.Addr(o.Length())}, off: o.Start})
	}
	return hit
}

// hasPage reports whether the page at off is in the object (Linux's page
// cache holds a folio there, fallocated or not): a MISSING userfault is
// reported only where it is not.
func (s *SharedMemory) hasPage(off uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pages[off]
	return ok
}

// fillPage puts a page with data (zeros if nil) at off, which must hold
// none (EEXIST) and lie within the object (EFAULT), as
// shmem_mfill_atomic_pte does for UFFDIO_COPY and UFFDIO_ZEROPAGE.
func (s *SharedMemory) fillPage(off uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off >= pageRoundUp(s.size) {
		return unix.EFAULT
	}
	if _, ok := s.pages[off]; ok {
		return unix.EEXIST
	}
	fo, err := s.pageLocked(off)
	if err != nil {
		return err
	}
	if data != nil {
		b, err := s.mf.MapInternal(memmap.FileRange{Start: fo, End: fo + arch.PageSize}, arch.Write)
		if err != nil {
			return err
		}
		copy(b, data)
	}
	return nil
}
