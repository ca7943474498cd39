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
func (s *sharedAnon) AddMapping(memmap.MappingSpace, arch.AddrRange, uint64, bool) error {
	return nil
}

// RemoveMapping implements memmap.Mappable.
func (s *sharedAnon) RemoveMapping(memmap.MappingSpace, arch.AddrRange, uint64, bool) {}

// CopyMapping implements memmap.Mappable.
func (s *sharedAnon) CopyMapping(memmap.MappingSpace, arch.AddrRange, arch.AddrRange, uint64, bool) error {
	return nil
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

// punch frees the pages in mr (MADV_REMOVE); they read as zero again.
func (s *sharedAnon) punch(mr memmap.MappableRange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for off := mr.Start; off < mr.End; off += arch.PageSize {
		if fo, ok := s.pages[off]; ok {
			s.mf.DecRef(memmap.FileRange{Start: fo, End: fo + arch.PageSize})
			delete(s.pages, off)
		}
	}
}
