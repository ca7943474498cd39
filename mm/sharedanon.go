package mm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
)

// sharedAnon is the object behind a MAP_SHARED|MAP_ANONYMOUS mapping
// (Linux's shmem file "/dev/zero (deleted)"): pages of the MemoryFile,
// allocated on first use and shared by every mapping of it, including
// those of forks. It is its own MappingIdentity; the last reference
// frees its pages.
type sharedAnon struct {
	mf    MemoryFile
	size  uint64
	inode uint64
	refs  atomic.Int64

	mu sync.Mutex
	// pages maps object offsets to the MemoryFile offset backing them;
	// each backed page holds one reference owned by sharedAnon. Guarded
	// by mu.
	pages map[uint64]uint64
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

func newSharedAnon(mf MemoryFile, size uint64) (*sharedAnon, error) {
	s := &sharedAnon{mf: mf, size: size, inode: sharedAnonInodes.Add(1), pages: make(map[uint64]uint64)}
	s.refs.Store(1)
	return s, nil
}

// IncRef implements memmap.MappingIdentity.
func (s *sharedAnon) IncRef() { s.refs.Add(1) }

// DecRef implements memmap.MappingIdentity; the last reference frees the
// pages.
func (s *sharedAnon) DecRef() {
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

// MappedName implements memmap.MappingIdentity.
func (s *sharedAnon) MappedName() string { return "/dev/zero (deleted)" }

// DeviceID implements memmap.MappingIdentity (shmem's device 00:01).
func (s *sharedAnon) DeviceID() uint64 { return 1 }

// InodeID implements memmap.MappingIdentity.
func (s *sharedAnon) InodeID() uint64 { return s.inode }

// Msync implements memmap.MappingIdentity: memory has nothing to write
// back.
func (s *sharedAnon) Msync(memmap.MappableRange) error { return nil }

// AddMapping implements memmap.Mappable.
func (s *sharedAnon) AddMapping(ms memmap.MappingSpace, ar arch.AddrRange, off uint64, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mappings = append(s.mappings, sharedAnonMapping{ms: ms, ar: ar, off: off})
	return nil
}

// RemoveMapping implements memmap.Mappable: ar is cut out of the mapping
// that recorded it, whose remaining parts (if ar was a sub-range) stay.
func (s *sharedAnon) RemoveMapping(ms memmap.MappingSpace, ar arch.AddrRange, off uint64, _ bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A new slice: cutting ar out of the middle of a mapping leaves two.
	kept := make([]sharedAnonMapping, 0, len(s.mappings)+1)
	for _, m := range s.mappings {
		if !m.sameMapping(ms, ar, off) {
			kept = append(kept, m)
			continue
		}
		if m.ar.Start < ar.Start {
			kept = append(kept, sharedAnonMapping{ms: ms, ar: arch.AddrRange{Start: m.ar.Start, End: ar.Start}, off: m.off})
		}
		if ar.End < m.ar.End {
			kept = append(kept, sharedAnonMapping{ms: ms, ar: arch.AddrRange{Start: ar.End, End: m.ar.End}, off: m.off + uint64(ar.End-m.ar.Start)})
		}
	}
	s.mappings = kept
}

// CopyMapping implements memmap.Mappable as AddMapping of dstAR.
func (s *sharedAnon) CopyMapping(ms memmap.MappingSpace, _, dstAR arch.AddrRange, off uint64, writable bool) error {
	return s.AddMapping(ms, dstAR, off, writable)
}

// Translate implements memmap.Mappable: each page of required is backed
// (allocated zeroed on first use). Offsets past the object's size fail
// with a BusError, as a shmem mapping past its end does.
func (s *sharedAnon) Translate(required, optional memmap.MappableRange, at arch.AccessType) ([]memmap.Translation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []memmap.Translation
	for off := required.Start; off < required.End; off += arch.PageSize {
		if off >= s.size {
			return ts, &memmap.BusError{Err: fmt.Errorf("mm: offset %#x past the end (%#x) of a shared anonymous mapping", off, s.size)}
		}
		fo, ok := s.pages[off]
		if !ok {
			fr, err := s.mf.Allocate(arch.PageSize, memfile.AllocOpts{Kind: memfile.User})
			if err != nil {
				return ts, err
			}
			fo = fr.Start
			s.pages[off] = fo
		}
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
func (s *sharedAnon) InvalidateUnsavable() error { return nil }

// resident reports whether the page at off is backed.
func (s *sharedAnon) resident(off uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pages[off]
	return ok
}

// punch frees the pages in mr (MADV_REMOVE), so that they read as zero
// again through every mapping, as shmem's hole punching does: each
// mapping of mr is invalidated once the pages are gone (a pma holds its
// own reference, so until then it still reads the old page, never a freed
// one).
//
// Preconditions: the caller holds no MemoryManager's activeMu (Invalidate
// takes it) and not s.mu.
func (s *sharedAnon) punch(mr memmap.MappableRange) {
	for _, m := range s.punchPages(mr) {
		m.ms.Invalidate(m.ar, memmap.InvalidateOpts{})
	}
}

// punchPages frees the pages in mr and returns the parts of the mappings
// that map mr.
func (s *sharedAnon) punchPages(mr memmap.MappableRange) []sharedAnonMapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	for off := mr.Start; off < mr.End; off += arch.PageSize {
		if fo, ok := s.pages[off]; ok {
			s.mf.DecRef(memmap.FileRange{Start: fo, End: fo + arch.PageSize})
			delete(s.pages, off)
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
