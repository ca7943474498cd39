package loader

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/rangeset"
)

// MemoryFile is what ImageFile needs of the MemoryFile: pages to cache the
// image in. *memfile.MemoryFile implements it.
type MemoryFile interface {
	memmap.File
	// Allocate returns length bytes of zeroed pages holding one reference
	// each, or an error wrapping unix.ENOMEM.
	Allocate(length uint64, opts memfile.AllocOpts) (memmap.FileRange, error)
}

// ErrImageClosed is wrapped by errors from an ImageFile after Close.
var ErrImageClosed = errors.New("loader: image file closed")

// readaheadPages is how many pages around a fault Translate reads at once
// (within the optional range): a static binary's text is read in 64 KiB
// pieces rather than page by page.
const readaheadPages = 16

// imagePerms are the accesses translations of the image allow: never
// Write, so that mm copies a page before the program writes it (private
// mappings are copy-on-write) and the cached page stays the file's bytes.
var imagePerms = arch.AccessType{Read: true, Execute: true}

// ImageIdentity names an image in /proc/pid/maps.
type ImageIdentity struct {
	Name   string // the path shown
	Device uint64 // st_dev
	Inode  uint64 // st_ino
}

// ImageFile is a read-only host file as a memmap.Mappable and
// memmap.MappingIdentity: the object the VM maps each PT_LOAD segment's
// FilePages from, privately, and what a guest's mmap of a file in a --dir
// view maps (privately, or shared and read-only: the file is never written).
// Pages of the file are read into the MemoryFile on first use and cached,
// one cached page serving every mapping of that file page; translations
// are read-only, so a write makes mm copy the page and the cache keeps the
// file's bytes. Bytes past the end of the file in its last page read as
// zero; translating a page wholly past the end fails with a BusError, as
// Linux delivers SIGBUS there. A cached page is released when no mapping
// covers it any more, and all of them when the last reference is dropped
// or on Close.
//
// Lock order: ImageFile.mu, then the MemoryFile's lock.
type ImageFile struct {
	mf   MemoryFile
	src  io.ReaderAt
	size uint64 // bytes in src
	id   ImageIdentity

	// refs counts MappingIdentity references; the creator holds one.
	refs atomic.Int64

	mu sync.Mutex
	// cache maps a page-aligned file offset to the MemoryFile offset of
	// the page holding its bytes; each such page holds one reference
	// owned by the cache. Every cached page lies below the file's
	// page-rounded size and within a mapped range. Guarded by mu.
	cache map[uint64]uint64
	// mapped counts, for each offset of the image, the mappings that
	// cover it (AddMapping and CopyMapping add, RemoveMapping
	// subtracts); offsets no mapping covers are gaps. Values are >= 1.
	// Guarded by mu.
	mapped *rangeset.Set[uint64, int]
	// closed is set by Close (or the last DecRef); afterwards the cache
	// is empty and src is closed. Guarded by mu.
	closed bool
}

var (
	_ memmap.Mappable        = (*ImageFile)(nil)
	_ memmap.MappingIdentity = (*ImageFile)(nil)
)

// NewImageFile returns an ImageFile over the size bytes of src, caching
// pages in mf, holding one reference for the caller. It takes ownership of
// src: if src is an io.Closer it is closed when the ImageFile is released.
func NewImageFile(mf MemoryFile, src io.ReaderAt, size int64, id ImageIdentity) (*ImageFile, error) {
	if mf == nil || src == nil || size < 0 {
		return nil, fmt.Errorf("loader: NewImageFile(%v, %v, %d): %w", mf, src, size, unix.EINVAL)
	}
	f := &ImageFile{
		mf:    mf,
		src:   src,
		size:  uint64(size),
		id:    id,
		cache: make(map[uint64]uint64),
		mapped: rangeset.New(rangeset.Ops[uint64, int]{
			Merge: func(_ memmap.MappableRange, a int, _ memmap.MappableRange, b int) (int, bool) { return a, a == b },
		}),
	}
	f.refs.Store(1)
	return f, nil
}

// OpenImage opens the ELF executable at path, plans its loading and
// returns the plan with an ImageFile over it (holding one reference for
// the caller, who maps each segment's FilePages from it).
func OpenImage(path string, mf MemoryFile, opts Options) (*ImageFile, *Plan, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, &Error{Path: path, Kind: KindIO, Segment: -1, Err: err}
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, nil, &Error{Path: path, Kind: KindIO, Segment: -1, Err: err}
	}
	plan, err := Load(file, fi.Size(), opts)
	if err != nil {
		file.Close()
		var le *Error
		if errors.As(err, &le) {
			le.Path = path
		}
		return nil, nil, err
	}
	id := ImageIdentity{Name: path}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Device, id.Inode = st.Dev, st.Ino
	}
	img, err := NewImageFile(mf, file, fi.Size(), id)
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	return img, plan, nil
}

// SetIdentity renames the image in /proc/pid/maps (its path, device and
// inode as the guest sees them, which need not be the host's).
//
// Preconditions: the image is not mapped yet and no other method runs
// concurrently (the identity is read without a lock afterwards).
func (f *ImageFile) SetIdentity(id ImageIdentity) { f.id = id }

// Size returns the image's size in bytes.
func (f *ImageFile) Size() uint64 { return f.size }

// CachedPages returns how many pages of the image are cached in the
// MemoryFile.
func (f *ImageFile) CachedPages() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.cache)
}

// IncRef implements memmap.MappingIdentity.
func (f *ImageFile) IncRef() {
	if f.refs.Add(1) <= 1 {
		panic("loader: ImageFile.IncRef on a released image")
	}
}

// DecRef implements memmap.MappingIdentity: the last reference releases
// the cached pages and closes the source.
func (f *ImageFile) DecRef() {
	switch n := f.refs.Add(-1); {
	case n == 0:
		f.Close()
	case n < 0:
		panic("loader: ImageFile.DecRef without a reference")
	}
}

// MappedName implements memmap.MappingIdentity.
func (f *ImageFile) MappedName() string { return f.id.Name }

// DeviceID implements memmap.MappingIdentity.
func (f *ImageFile) DeviceID() uint64 { return f.id.Device }

// InodeID implements memmap.MappingIdentity.
func (f *ImageFile) InodeID() uint64 { return f.id.Inode }

// Msync implements memmap.MappingIdentity: the image is never written, so
// there is nothing to write back.
func (f *ImageFile) Msync(memmap.MappableRange) error { return nil }

// Close releases every cached page and closes the source (if it is an
// io.Closer), whatever references remain; later Translate and AddMapping
// calls fail with ErrImageClosed. Pages mm already maps stay valid: mm
// holds its own references on them. Close is idempotent.
func (f *ImageFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	for _, fo := range f.cache {
		f.mf.DecRef(memmap.FileRange{Start: fo, End: fo + arch.PageSize})
	}
	f.cache = nil
	f.mapped.RemoveAll()
	if c, ok := f.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// AddMapping implements memmap.Mappable. The image is read-only: a shared
// writable mapping is refused with EACCES, as Linux refuses one of a file
// opened read-only.
func (f *ImageFile) AddMapping(_ memmap.MappingSpace, ar arch.AddrRange, offset uint64, writable bool) error {
	if writable {
		return fmt.Errorf("loader: %s: shared writable mapping of the executable image: %w", f.id.Name, unix.EACCES)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("loader: AddMapping: %w", ErrImageClosed)
	}
	f.addMappedLocked(memmap.MappableRange{Start: offset, End: offset + ar.Length()})
	return nil
}

// RemoveMapping implements memmap.Mappable; cached pages no mapping covers
// any more are released.
func (f *ImageFile) RemoveMapping(_ memmap.MappingSpace, ar arch.AddrRange, offset uint64, _ bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	for _, mr := range f.removeMappedLocked(memmap.MappableRange{Start: offset, End: offset + ar.Length()}) {
		f.releaseLocked(mr)
	}
}

// CopyMapping implements memmap.Mappable: the copy is a new mapping.
func (f *ImageFile) CopyMapping(ms memmap.MappingSpace, _, dstAR arch.AddrRange, offset uint64, writable bool) error {
	return f.AddMapping(ms, dstAR, offset, writable)
}

// InvalidateUnsavable implements memmap.Mappable: the cache lives in the
// MemoryFile, which is saved.
func (f *ImageFile) InvalidateUnsavable() error { return nil }

// Translate implements memmap.Mappable. It returns read-only translations
// (Perms Read and Execute) of required, extended within optional to a
// readahead window of readaheadPages, reading pages not yet cached from the
// file; the first translation holds required.Start (pages read ahead below
// it are returned only when they share that translation). A Write access is refused: private mappings copy instead. Offsets
// in pages wholly past the end of the file fail with a *memmap.BusError; a
// read error does too (SIGBUS, as Linux). Running out of memory returns an
// error wrapping unix.ENOMEM.
func (f *ImageFile) Translate(required, optional memmap.MappableRange, at arch.AccessType) ([]memmap.Translation, error) {
	if at.Write {
		return nil, fmt.Errorf("loader: %s: write translation of the read-only image: %w", f.id.Name, unix.EACCES)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("loader: Translate: %w", ErrImageClosed)
	}
	fileEnd := f.pageEnd()
	if required.Start >= fileEnd {
		return nil, f.pastEOF(required.Start)
	}
	want := memmap.MappableRange{Start: required.Start, End: min(required.End, fileEnd)}
	window := readaheadWindow(required, optional, fileEnd)
	if err := f.fillLocked(window); err != nil {
		// Readahead is best effort; only required must be read.
		if err := f.fillLocked(want); err != nil {
			return nil, err
		}
		window = want
	}
	ts := f.translationsLocked(window)
	// Pages read ahead below required.Start come back only inside the
	// translation that holds required.Start: the contract wants the first
	// translation to contain it. Those pages were cached apart from the
	// rest where another mapping of the same file page (two segments
	// sharing a file page, as lld links them) cached them earlier; they
	// stay cached for a later fault.
	for len(ts) > 0 && ts[0].Source.End <= required.Start {
		ts = ts[1:]
	}
	if required.End > fileEnd {
		return ts, f.pastEOF(fileEnd)
	}
	return ts, nil
}

// pageEnd returns the end of the last page holding file bytes.
func (f *ImageFile) pageEnd() uint64 {
	end, _ := arch.PageRoundUp(f.size) // size < 2^63: cannot overflow
	return end
}

// pastEOF returns the BusError for a page wholly past the file's end.
func (f *ImageFile) pastEOF(off uint64) error {
	return &memmap.BusError{Err: fmt.Errorf("loader: %s: offset %#x is past the end of the %d-byte file", f.id.Name, off, f.size)}
}

// readaheadWindow returns required extended to the readaheadPages-aligned
// window around it, clipped to optional and to the file's pages.
func readaheadWindow(required, optional memmap.MappableRange, fileEnd uint64) memmap.MappableRange {
	const span = readaheadPages * arch.PageSize
	w := memmap.MappableRange{Start: required.Start &^ (span - 1), End: required.End}
	if end, ok := arch.Addr(required.End).AlignUp(span); ok {
		w.End = uint64(end)
	}
	w = w.Intersect(optional)
	w.End = min(w.End, fileEnd)
	return w
}

// fillLocked makes every page of mr cached, reading each run of missing
// pages into one fresh MemoryFile range.
func (f *ImageFile) fillLocked(mr memmap.MappableRange) error {
	for off := mr.Start; off < mr.End; {
		if _, ok := f.cache[off]; ok {
			off += arch.PageSize
			continue
		}
		run := memmap.MappableRange{Start: off, End: off + arch.PageSize}
		for run.End < mr.End {
			if _, ok := f.cache[run.End]; ok {
				break
			}
			run.End += arch.PageSize
		}
		if err := f.readRunLocked(run); err != nil {
			return err
		}
		off = run.End
	}
	return nil
}

// readRunLocked reads the uncached pages mr of the file into fresh
// MemoryFile pages and caches them.
func (f *ImageFile) readRunLocked(mr memmap.MappableRange) error {
	fr, err := f.mf.Allocate(mr.Length(), memfile.AllocOpts{Kind: memfile.User})
	if err != nil {
		return fmt.Errorf("loader: %s: caching image pages %v: %w", f.id.Name, mr, err)
	}
	buf, err := f.mf.MapInternal(fr, arch.Write)
	if err != nil {
		f.mf.DecRef(fr)
		return fmt.Errorf("loader: %s: caching image pages %v: %w", f.id.Name, mr, err)
	}
	// Fresh pages read as zero, so the tail past the end of the file
	// needs no clearing.
	n := min(mr.Length(), f.size-mr.Start)
	if got, err := f.src.ReadAt(buf[:n], int64(mr.Start)); uint64(got) != n {
		f.mf.DecRef(fr)
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return &memmap.BusError{Err: fmt.Errorf("loader: %s: reading %d bytes at %#x: %w", f.id.Name, n, mr.Start, err)}
	}
	for off := mr.Start; off < mr.End; off += arch.PageSize {
		f.cache[off] = fr.Start + (off - mr.Start)
	}
	return nil
}

// translationsLocked returns translations of mr, all of whose pages are
// cached, merging pages that are contiguous in the MemoryFile too.
func (f *ImageFile) translationsLocked(mr memmap.MappableRange) []memmap.Translation {
	var ts []memmap.Translation
	for off := mr.Start; off < mr.End; off += arch.PageSize {
		fo := f.cache[off]
		if n := len(ts); n > 0 && ts[n-1].Offset+ts[n-1].Source.Length() == fo {
			ts[n-1].Source.End += arch.PageSize
			continue
		}
		ts = append(ts, memmap.Translation{
			Source: memmap.MappableRange{Start: off, End: off + arch.PageSize},
			File:   f.mf,
			Offset: fo,
			Perms:  imagePerms,
		})
	}
	return ts
}

// releaseLocked drops the cache's references on the cached pages in mr.
func (f *ImageFile) releaseLocked(mr memmap.MappableRange) {
	end := min(mr.End, f.pageEnd())
	for off := mr.Start; off < end; off += arch.PageSize {
		if fo, ok := f.cache[off]; ok {
			f.mf.DecRef(memmap.FileRange{Start: fo, End: fo + arch.PageSize})
			delete(f.cache, off)
		}
	}
}

// addMappedLocked counts one more mapping over mr.
func (f *ImageFile) addMappedLocked(mr memmap.MappableRange) {
	if mr.Empty() {
		return
	}
	var gaps []memmap.MappableRange
	for gap := range f.mapped.Gaps(mr) {
		if g := gap.Range().Intersect(mr); !g.Empty() {
			gaps = append(gaps, g)
		}
	}
	for seg := f.mapped.LowerBoundSegment(mr.Start); seg.Ok() && seg.Start() < mr.End; seg = seg.NextSegment() {
		seg = f.mapped.Isolate(seg, mr)
		*seg.ValuePtr()++
	}
	for _, g := range gaps {
		f.mapped.Insert(f.mapped.FindGap(g.Start), g, 1)
	}
	f.mapped.MergeRange(mr)
	f.mapped.MergeAdjacent(mr)
}

// removeMappedLocked counts one mapping less over mr and returns the
// ranges no mapping covers any more.
func (f *ImageFile) removeMappedLocked(mr memmap.MappableRange) []memmap.MappableRange {
	if mr.Empty() {
		return nil
	}
	var unmapped []memmap.MappableRange
	seg := f.mapped.LowerBoundSegment(mr.Start)
	for seg.Ok() && seg.Start() < mr.End {
		seg = f.mapped.Isolate(seg, mr)
		v := seg.ValuePtr()
		*v--
		if *v > 0 {
			seg = seg.NextSegment()
			continue
		}
		unmapped = append(unmapped, seg.Range())
		seg = f.mapped.Remove(seg).NextSegment()
	}
	f.mapped.MergeRange(mr)
	f.mapped.MergeAdjacent(mr)
	return unmapped
}
