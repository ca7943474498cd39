package memfile

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/rangeset"
)

// Kind says what an allocation is for. It feeds statistics, and places
// small allocations: user memory fills the file from the bottom, kernel
// memory (page tables, mostly) from the top, so that a page table never
// lands between two pieces of user memory, which then stay one contiguous
// range (one pma, one reference-count entry) however many tables the
// guest's mappings need.
type Kind int

const (
	// User memory backs the guest program's mappings.
	User Kind = iota
	// Kernel memory backs the VM's own structures (page tables, the ring-0
	// stub).
	Kernel
	// NumKinds is the number of kinds.
	NumKinds
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case User:
		return "user"
	case Kernel:
		return "kernel"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// AllocOpts modify Allocate.
type AllocOpts struct {
	// Kind is what the memory is for, counted in Stats.ByKind.
	Kind Kind
	// Populate backs the whole range with host memory at once, in bulk,
	// rather than page by page on first touch.
	Populate bool
}

// Allocate returns a free range of length bytes, each page holding one
// reference. length must be a positive multiple of the page size; if it is
// at least 2 MiB the range starts 2 MiB-aligned. The pages read as zeros.
// It fails with an error wrapping unix.ENOMEM if the limit leaves no free
// range that fits, and unix.EINVAL for a bad length or kind.
func (f *MemoryFile) Allocate(length uint64, opts AllocOpts) (memmap.FileRange, error) {
	if err := f.checkAllocate(length, opts); err != nil {
		return memmap.FileRange{}, err
	}
	fr, err := f.allocate(length, opts.Kind)
	if err != nil {
		return memmap.FileRange{}, err
	}
	if opts.Populate {
		if err := f.Populate(fr); err != nil {
			f.DecRef(fr)
			return memmap.FileRange{}, err
		}
	}
	return fr, nil
}

// checkAllocate validates Allocate's arguments.
func (f *MemoryFile) checkAllocate(length uint64, opts AllocOpts) error {
	bad := func(errno error, why string) error {
		return &Error{Op: "allocate", Range: memmap.FileRange{End: length}, Err: fmt.Errorf("%w: %s", errno, why)}
	}
	switch {
	case length == 0:
		return bad(unix.EINVAL, "zero length")
	case !arch.IsPageAlignedLength(length):
		return bad(unix.EINVAL, "length not a multiple of the page size")
	case opts.Kind < 0 || opts.Kind >= NumKinds:
		return bad(unix.EINVAL, fmt.Sprintf("unknown kind %d", int(opts.Kind)))
	case length > f.limit:
		return bad(unix.ENOMEM, fmt.Sprintf("length exceeds the limit %#x", f.limit))
	}
	return nil
}

// allocate finds room for length bytes and records it as allocated.
func (f *MemoryFile) allocate(length uint64, kind Kind) (memmap.FileRange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return memmap.FileRange{}, &Error{Op: "allocate", Range: memmap.FileRange{End: length}, Err: ErrClosed}
	}
	if f.pages.Span()+length > f.limit {
		return memmap.FileRange{}, &Error{Op: "allocate", Range: memmap.FileRange{End: length},
			Err: fmt.Errorf("%w: %#x bytes allocated of limit %#x", unix.ENOMEM, f.pages.Span(), f.limit)}
	}
	fr, ok := f.findFreeLocked(length, kind)
	if !ok {
		return memmap.FileRange{}, &Error{Op: "allocate", Range: memmap.FileRange{End: length},
			Err: fmt.Errorf("%w: no free range of %#x bytes (fragmented)", unix.ENOMEM, length)}
	}
	f.pages.Insert(f.pages.FindGap(fr.Start), fr, pageInfo{refs: 1, kind: kind})
	f.raiseFloorsLocked(fr)
	f.byKind[kind] += length
	f.peak = max(f.peak, f.pages.Span())
	return fr, nil
}

// findFreeLocked picks where to put an allocation of length bytes.
//
// Ranges of 2 MiB or more take the first 2 MiB-aligned fit. Smaller ones
// first look for room in the parts of free gaps that are not whole free
// 2 MiB-aligned chunks (a gap's unaligned head and tail), placed against the
// gap's allocated neighbour, so that whole chunks stay free for huge
// allocations; only if none fits do they take the first fit anywhere.
//
// A tail counts only below user memory: the tail under the kernel memory at
// the top of the file is not fragmentation but the user memory's room to
// grow up into. Smaller kernel allocations take the highest fit instead
// (see Kind).
//
// Preconditions: f.mu is held; length is a positive multiple of the page
// size no larger than the limit.
func (f *MemoryFile) findFreeLocked(length uint64, kind Kind) (memmap.FileRange, bool) {
	if length >= arch.HugePageSize {
		return f.firstFitLocked(length, arch.HugePageSize)
	}
	if kind == Kernel {
		return f.lastFitLocked(length)
	}
	// One pass finds both the preferred place and the first fit, the
	// fallback.
	var firstFit memmap.FileRange
	free := memmap.FileRange{Start: f.freeFloor, End: f.limit}
	for gap := range f.pages.Gaps(free) {
		g := gap.Range().Intersect(free)
		head, tail := fragmentedEnds(g)
		if head.Length() >= length {
			return memmap.FileRange{Start: head.Start, End: head.Start + length}, true
		}
		if tail.Length() >= length && userAbove(gap) {
			return memmap.FileRange{Start: tail.End - length, End: tail.End}, true
		}
		if firstFit.Empty() && g.Length() >= length {
			firstFit = memmap.FileRange{Start: g.Start, End: g.Start + length}
		}
	}
	return firstFit, !firstFit.Empty()
}

// userAbove reports whether the segment just above gap is user memory.
func userAbove(gap rangeset.Gap[uint64, pageInfo]) bool {
	next := gap.NextSegment()
	return next.Ok() && next.ValuePtr().kind == User
}

// lastFitLocked returns the highest free range of length bytes, ending at
// the end of the highest gap that holds it: a walk down the gaps from
// freeCeiling.
//
// Preconditions: f.mu is held.
func (f *MemoryFile) lastFitLocked(length uint64) (memmap.FileRange, bool) {
	// freeCeiling > 0: a full file was refused before any search. The
	// walk ends at the gap starting at 0, which always exists.
	for gap := f.pages.UpperBoundGap(f.freeCeiling - 1); ; gap = gap.PrevGap() {
		g := gap.Range().Intersect(memmap.FileRange{Start: 0, End: f.freeCeiling})
		if g.Length() >= length {
			return memmap.FileRange{Start: g.End - length, End: g.End}, true
		}
		if g.Start == 0 {
			return memmap.FileRange{}, false
		}
	}
}

// raiseFloorsLocked moves the search floors past fr, just allocated: if fr
// starts at freeFloor, the pages up to its end are all allocated now; a
// huge allocation is the first fit from chunkFloor, so no whole free chunk
// remains below its end (for a single chunk), or it started at chunkFloor.
//
// Preconditions: f.mu is held.
func (f *MemoryFile) raiseFloorsLocked(fr memmap.FileRange) {
	if fr.End == f.freeCeiling {
		f.freeCeiling = fr.Start
	}
	if fr.Start == f.freeFloor {
		f.freeFloor = fr.End
	}
	if fr.Length() == arch.HugePageSize || fr.Start == f.chunkFloor {
		f.chunkFloor = max(f.chunkFloor, fr.End)
	}
}

// lowerFloorsLocked moves the search floors down to cover fr, just freed.
//
// Preconditions: f.mu is held.
func (f *MemoryFile) lowerFloorsLocked(fr memmap.FileRange) {
	f.freeFloor = min(f.freeFloor, fr.Start)
	f.freeCeiling = max(f.freeCeiling, fr.End)
	f.chunkFloor = min(f.chunkFloor, fr.Start&^arch.HugePageMask)
}

// fragmentedEnds returns the parts of free range g outside the whole 2 MiB-
// aligned chunks it contains: head from g.Start, tail up to g.End. If g holds
// no whole chunk, head is all of g and tail is empty.
func fragmentedEnds(g memmap.FileRange) (head, tail memmap.FileRange) {
	firstChunk := (g.Start + arch.HugePageMask) &^ arch.HugePageMask
	lastChunkEnd := g.End &^ arch.HugePageMask
	if firstChunk < g.Start || firstChunk >= lastChunkEnd {
		// No whole chunk (or rounding overflowed, which only the last
		// gap of the key space could do, and it is clipped to the limit).
		return g, memmap.FileRange{Start: g.End, End: g.End}
	}
	return memmap.FileRange{Start: g.Start, End: firstChunk}, memmap.FileRange{Start: lastChunkEnd, End: g.End}
}

// firstFitLocked returns the lowest free range of length bytes starting at a
// multiple of align (a power of two), if any. It scans the free gaps in
// order: O(gaps) (see the package comment).
//
// Preconditions: f.mu is held.
func (f *MemoryFile) firstFitLocked(length, align uint64) (memmap.FileRange, bool) {
	from := memmap.FileRange{Start: f.freeFloor, End: f.limit}
	if align == arch.HugePageSize {
		from.Start = max(from.Start, f.chunkFloor)
	}
	for gap := range f.pages.Gaps(from) {
		g := gap.Range().Intersect(from)
		start := (g.Start + align - 1) &^ (align - 1)
		if start < g.Start || start > g.End {
			continue
		}
		if g.End-start >= length {
			return memmap.FileRange{Start: start, End: start + length}, true
		}
	}
	return memmap.FileRange{}, false
}

// IncRef adds a reference to every page of fr. It panics if fr is empty,
// unaligned, past the file or includes a free page (a bug in the caller:
// see TryIncRef for the checked form); after Close it does nothing.
// Implements memmap.File.
func (f *MemoryFile) IncRef(fr memmap.FileRange) {
	if err := f.TryIncRef(fr); err != nil && !isClosed(err) {
		panic(err.Error())
	}
}

// TryIncRef is IncRef returning an error, wrapping unix.EINVAL,
// ErrNotAllocated or ErrClosed, instead of panicking. On error nothing
// changed.
func (f *MemoryFile) TryIncRef(fr memmap.FileRange) error {
	if err := f.checkRange("incref", fr, true); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkAllocatedLocked("incref", fr); err != nil {
		return err
	}
	for seg := f.pages.LowerBoundSegment(fr.Start); seg.Ok() && seg.Start() < fr.End; seg = seg.NextSegment() {
		seg = f.pages.Isolate(seg, fr)
		seg.ValuePtr().refs++
	}
	f.remergeLocked(fr)
	return nil
}

// DecRef drops a reference from every page of fr, freeing the pages whose
// count reaches zero: their memory goes back to the host and they read as
// zeros when allocated again. It panics if fr is empty, unaligned, past the
// file or includes a free page (a reference dropped twice; see TryDecRef);
// after Close it does nothing. Implements memmap.File.
func (f *MemoryFile) DecRef(fr memmap.FileRange) {
	if err := f.TryDecRef(fr); err != nil && !isClosed(err) {
		panic(err.Error())
	}
}

// TryDecRef is DecRef returning an error, wrapping unix.EINVAL,
// ErrNotAllocated or ErrClosed, instead of panicking. On error nothing
// changed.
func (f *MemoryFile) TryDecRef(fr memmap.FileRange) error {
	if err := f.checkRange("decref", fr, true); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkAllocatedLocked("decref", fr); err != nil {
		return err
	}
	var freed []memmap.FileRange
	seg := f.pages.LowerBoundSegment(fr.Start)
	for seg.Ok() && seg.Start() < fr.End {
		seg = f.pages.Isolate(seg, fr)
		info := seg.ValuePtr()
		info.refs--
		if info.refs > 0 {
			seg = seg.NextSegment()
			continue
		}
		r := seg.Range()
		f.byKind[info.kind] -= r.Length()
		f.lowerFloorsLocked(r)
		if n := len(freed); n > 0 && freed[n-1].End == r.Start {
			freed[n-1].End = r.End
		} else {
			freed = append(freed, r)
		}
		seg = f.pages.Remove(seg).NextSegment()
	}
	f.remergeLocked(fr)
	// Punch before unlocking: once f.mu is released the pages can be
	// allocated again, and must read as zeros by then.
	for _, r := range freed {
		f.releaseLocked(r)
	}
	return nil
}

// remergeLocked merges segments within and at the edges of fr that became
// equal after a change of counts.
//
// Preconditions: f.mu is held.
func (f *MemoryFile) remergeLocked(fr memmap.FileRange) {
	f.pages.MergeRange(fr)
	f.pages.MergeAdjacent(fr)
}

// isClosed reports whether err says the file was closed.
func isClosed(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Err == ErrClosed
}
