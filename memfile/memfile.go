package memfile

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/rangeset"
)

// Options configure a MemoryFile.
type Options struct {
	// Limit is the most bytes that may be allocated at once, and the size
	// of the memfd. Must be a positive multiple of the page size.
	Limit uint64

	// GuestPhysBase is the guest-physical address of file offset 0. Must be
	// 2 MiB-aligned, so that 2 MiB-aligned allocations are 2 MiB-aligned
	// guest-physical memory. Default 0.
	GuestPhysBase uint64

	// Name names the memfd in the host's /proc/pid/maps and /proc/pid/fd
	// (as "memfd:Name"). Default "mmvm-memory".
	Name string
}

// Region is one contiguous piece of guest-physical memory backed by the
// host mapping: what one KVM memory slot registers.
type Region struct {
	GuestPhys uint64  // guest-physical address of the region's first byte
	HostAddr  uintptr // host virtual address of the same byte
	Size      uint64  // bytes
}

// ErrClosed is wrapped by errors from a MemoryFile that was closed.
var ErrClosed = errors.New("memory file closed")

// ErrNotAllocated is wrapped by errors about a range that includes pages no
// one holds a reference on.
var ErrNotAllocated = errors.New("pages not allocated")

// Error is the error type of MemoryFile operations: Op failed on Range
// because of Err (unix.ENOMEM, unix.EINVAL, ErrNotAllocated, ErrClosed, or an
// error from the host).
type Error struct {
	Op    string
	Range memmap.FileRange
	Err   error
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("memfile: %s %v: %v", e.Op, e.Range, e.Err) }

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// pageInfo is what the MemoryFile knows about each allocated page.
type pageInfo struct {
	refs uint64 // > 0: pages with no reference are not in the set
	kind Kind
}

// MemoryFile is the host memory behind a VM's guest-physical memory. Create
// it with New; it implements memmap.File.
type MemoryFile struct {
	// fd is the memfd; fixed from New until Close.
	fd int
	// mapping is the whole memfd mapped shared, read-write; fixed from New
	// until Close; len(mapping) == limit.
	mapping []byte
	// limit is the memfd's size; page-aligned; fixed.
	limit uint64
	// base is the guest-physical address of offset 0; 2 MiB-aligned; fixed.
	base uint64

	mu sync.Mutex
	// pages maps every allocated page to its reference count and kind;
	// its gaps within [0, limit) are the free pages, which the memfd holds
	// no memory for (they were never touched, or their hole was punched).
	// Adjacent segments with equal values are merged. Guarded by mu.
	pages *rangeset.Set[uint64, pageInfo]
	// byKind[k] is the bytes allocated for kind k; their sum is
	// pages.Span(). Guarded by mu.
	byKind [NumKinds]uint64
	// peak is the largest pages.Span() ever reached. Guarded by mu.
	peak uint64
	// freeFloor and chunkFloor are where searches for free space start:
	// every page below freeFloor is allocated, and no wholly free 2 MiB-
	// aligned chunk starts below chunkFloor. They only make searches
	// shorter (a guest faulting page after page would otherwise walk every
	// allocated segment on each allocation); where an allocation goes does
	// not depend on them. Freeing pages lowers them. Guarded by mu.
	freeFloor, chunkFloor uint64
	// wholeChunks has bit i set when PopulateChunks backed the 2 MiB
	// chunk i whole and nothing in it was punched out since; releases
	// counts the punches (see PopulateChunks). Guarded by mu.
	wholeChunks []uint64
	releases    uint64
	// freeCeiling is where the top-down search for kernel memory starts:
	// every page at or above it is allocated. Freeing pages raises it.
	// Guarded by mu.
	freeCeiling uint64
	// closed is set by Close; afterwards fd and mapping are invalid.
	// Guarded by mu.
	closed bool
}

// New creates a MemoryFile: a memfd of opts.Limit bytes, sparse, mapped into
// the host once. Its descriptor is close-on-exec.
func New(opts Options) (*MemoryFile, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "mmvm-memory"
	}
	whole := memmap.FileRange{Start: 0, End: opts.Limit}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, &Error{Op: "memfd_create", Range: whole, Err: err}
	}
	if err := unix.Ftruncate(fd, int64(opts.Limit)); err != nil {
		unix.Close(fd)
		return nil, &Error{Op: "ftruncate", Range: whole, Err: err}
	}
	m, err := mapHugeAligned(fd, opts.Limit)
	if err != nil {
		unix.Close(fd)
		return nil, &Error{Op: "mmap", Range: whole, Err: err}
	}
	f := &MemoryFile{
		fd:      fd,
		mapping: m,
		limit:   opts.Limit,
		base:    opts.GuestPhysBase,
		pages:   rangeset.New(rangeset.Ops[uint64, pageInfo]{Merge: mergePageInfo}),

		freeCeiling: opts.Limit,
		wholeChunks: make([]uint64, (opts.Limit/arch.HugePageSize+64)/64),
	}
	return f, nil
}

// mapHugeAligned maps the memfd shared, read-write, at a 2 MiB-aligned
// host address, and asks for transparent huge pages there. Where the host
// gives shmem huge pages (HostHugePages), a populated 2 MiB chunk is then
// one host page, and KVM, which maps a guest page huge only if the host
// address is aligned as the guest-physical one is (both 2 MiB here), can
// map it with one 2 MiB entry; elsewhere the advice does nothing. MAP_NORESERVE:
// the host commits memory only for pages that are touched, and the limit
// bounds how many can be.
func mapHugeAligned(fd int, length uint64) ([]byte, error) {
	// Reserve length plus 2 MiB of address space, place the memfd at the
	// first aligned address within, and give back the rest.
	span := uintptr(length + arch.HugePageSize)
	res, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	head := -uintptr(res) & arch.HugePageMask
	aligned := unsafe.Add(res, head)
	p, err := unix.MmapPtr(fd, 0, aligned, uintptr(length), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED|unix.MAP_NORESERVE|unix.MAP_FIXED)
	if err != nil {
		_ = unix.MunmapPtr(res, span)
		return nil, err
	}
	if head > 0 {
		_ = unix.MunmapPtr(res, head)
	}
	if tail := span - head - uintptr(length); tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(aligned, length), tail)
	}
	m := unsafe.Slice((*byte)(p), length)
	// Advice only: refused where the kernel has no transparent huge
	// pages, and a no-op where shmem's are off.
	_ = unix.Madvise(m, unix.MADV_HUGEPAGE)
	return m, nil
}

// HostHugePages reports how the host gives transparent huge pages to
// shared memory such as the MemoryFile's memfd: the selected mode of
// /sys/kernel/mm/transparent_hugepage/shmem_enabled ("never", "advise",
// "always", "within_size", "deny", "force"), or "" if the host does not
// say. Under "advise" the MemoryFile's mapping gets them; under "never"
// (Debian's default) every host page is 4 KiB whatever mmvm asks.
func HostHugePages() string {
	b, err := os.ReadFile(shmemTHPPath)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return ""
}

// shmemTHPPath is where HostHugePages looks; a variable for tests.
var shmemTHPPath = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

// mergePageInfo lets adjacent pages with the same count and kind share a
// segment.
func mergePageInfo(_ memmap.FileRange, a pageInfo, _ memmap.FileRange, b pageInfo) (pageInfo, bool) {
	return a, a == b
}

// checkOptions validates New's options.
func checkOptions(opts Options) error {
	whole := memmap.FileRange{Start: 0, End: opts.Limit}
	bad := func(why string) error {
		return &Error{Op: "new", Range: whole, Err: fmt.Errorf("%w: %s", unix.EINVAL, why)}
	}
	switch {
	case opts.Limit == 0:
		return bad("zero limit")
	case !arch.IsPageAlignedLength(opts.Limit):
		return bad("limit not a multiple of the page size")
	case opts.Limit > math.MaxInt64 || uint64(int(opts.Limit)) != opts.Limit:
		return bad("limit too large for the host")
	case opts.GuestPhysBase&arch.HugePageMask != 0:
		return bad(fmt.Sprintf("guest-physical base %#x not 2 MiB-aligned", opts.GuestPhysBase))
	case opts.GuestPhysBase+opts.Limit < opts.GuestPhysBase:
		return bad("guest-physical range overflows")
	}
	return nil
}

// checkRange validates fr as an argument of op: non-empty, well-formed,
// within the file and, if aligned, page-aligned. Errors wrap unix.EINVAL.
func (f *MemoryFile) checkRange(op string, fr memmap.FileRange, aligned bool) error {
	bad := func(why string) error {
		return &Error{Op: op, Range: fr, Err: fmt.Errorf("%w: %s", unix.EINVAL, why)}
	}
	switch {
	case !fr.WellFormed() || fr.Length() == 0:
		return bad("empty or malformed range")
	case aligned && !fr.IsPageAligned():
		return bad("range not page-aligned")
	case fr.End > f.limit:
		return bad(fmt.Sprintf("range past the end of the file (%#x)", f.limit))
	}
	return nil
}

// checkAllocatedLocked returns an error wrapping ErrNotAllocated unless
// every page of fr holds a reference, or ErrClosed if f is closed.
//
// Preconditions: f.mu is held; fr passed checkRange.
func (f *MemoryFile) checkAllocatedLocked(op string, fr memmap.FileRange) error {
	if f.closed {
		return &Error{Op: op, Range: fr, Err: ErrClosed}
	}
	pages := memmap.FileRange{Start: fr.Start &^ arch.PageMask, End: (fr.End + arch.PageMask) &^ arch.PageMask}
	if f.pages.SpanRange(pages) != pages.Length() {
		return &Error{Op: op, Range: fr, Err: ErrNotAllocated}
	}
	return nil
}

// FD returns the memfd. It belongs to f: do not close it. Implements
// memmap.File.
func (f *MemoryFile) FD() int { return f.fd }

// Limit returns the file's size: the most bytes that can be allocated.
func (f *MemoryFile) Limit() uint64 { return f.limit }

// MapInternal returns the host's view of fr (need not be page-aligned), for
// reading and writing without a copy. It fails, wrapping ErrNotAllocated,
// if any page of fr is free, and wrapping unix.EINVAL if fr is empty or past
// the file. at is not enforced: the host mapping is always read-write.
// Implements memmap.File.
func (f *MemoryFile) MapInternal(fr memmap.FileRange, at arch.AccessType) ([]byte, error) {
	if err := f.checkRange("map internal", fr, false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkAllocatedLocked("map internal", fr); err != nil {
		return nil, err
	}
	return f.mapping[fr.Start:fr.End:fr.End], nil
}

// Slice returns the host's view of fr without checking that its pages are
// allocated: the fast path for callers (page tables, mm) that know they hold
// references. It panics if fr is malformed or past the file.
func (f *MemoryFile) Slice(fr memmap.FileRange) []byte {
	if !fr.WellFormed() || fr.End > f.limit {
		panic(fmt.Sprintf("memfile: Slice(%v) outside the file [0, %#x)", fr, f.limit))
	}
	return f.mapping[fr.Start:fr.End:fr.End]
}

// Mapping returns the whole host mapping, offset 0 first. It is valid until
// Close.
func (f *MemoryFile) Mapping() []byte { return f.mapping }

// GuestPhysical returns the guest-physical address of file offset off.
// Precondition: off <= Limit() (the end of the file is allowed, for ranges).
func (f *MemoryFile) GuestPhysical(off uint64) uint64 { return f.base + off }

// FileOffset returns the file offset of guest-physical address gpa; ok is
// false if gpa is not backed by the file.
func (f *MemoryFile) FileOffset(gpa uint64) (off uint64, ok bool) {
	if gpa < f.base || gpa-f.base >= f.limit {
		return 0, false
	}
	return gpa - f.base, true
}

// Regions returns the guest-physical regions the file backs, for KVM memory
// slots: today one region covering the whole file.
func (f *MemoryFile) Regions() []Region {
	return []Region{{
		GuestPhys: f.base,
		HostAddr:  uintptr(unsafe.Pointer(unsafe.SliceData(f.mapping))),
		Size:      f.limit,
	}}
}

// Close unmaps the file and closes the memfd, returning all its memory to
// the host. Slices handed out earlier become invalid. Afterwards Allocate,
// MapInternal, Populate and Decommit fail with ErrClosed, IncRef and DecRef
// do nothing, and a second Close returns an error wrapping ErrClosed.
func (f *MemoryFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	whole := memmap.FileRange{Start: 0, End: f.limit}
	if f.closed {
		return &Error{Op: "close", Range: whole, Err: ErrClosed}
	}
	f.closed = true
	f.pages.RemoveAll()
	f.byKind = [NumKinds]uint64{}
	errUnmap := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(f.mapping)), uintptr(len(f.mapping)))
	f.mapping = nil
	errClose := unix.Close(f.fd)
	f.fd = -1
	if err := errors.Join(errUnmap, errClose); err != nil {
		return &Error{Op: "close", Range: whole, Err: err}
	}
	return nil
}

var _ memmap.File = (*MemoryFile)(nil)
