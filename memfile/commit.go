package memfile

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// populateWrite pre-faults b writable in bulk; a variable so that tests can
// play a kernel without MADV_POPULATE_WRITE (before Linux 5.14).
var populateWrite = func(b []byte) error { return unix.Madvise(b, unix.MADV_POPULATE_WRITE) }

// populateUnsupported is set once the kernel has refused
// MADV_POPULATE_WRITE, so later calls go straight to the fallback.
var populateUnsupported atomic.Bool

// Populate backs every page of fr with host memory now, in bulk, and maps it
// into the host mapping writable, so that later first touches (by Go or by
// the guest through KVM) take no host page fault. Contents are unchanged.
// fr must be page-aligned, within the file and allocated. Errors wrap
// unix.EINVAL, ErrNotAllocated, ErrClosed or the host's error (unix.ENOMEM
// when the host is out of memory).
//
// It uses madvise(MADV_POPULATE_WRITE); on kernels without it, it falls back
// to fallocate on the memfd, which backs the pages without writing to them
// (but leaves the host page tables to be filled on first touch).
func (f *MemoryFile) Populate(fr memmap.FileRange) error {
	if err := f.checkRange("populate", fr, true); err != nil {
		return err
	}
	f.mu.Lock()
	if err := f.checkAllocatedLocked("populate", fr); err != nil {
		f.mu.Unlock()
		return err
	}
	view, fd := f.mapping[fr.Start:fr.End:fr.End], f.fd
	f.mu.Unlock()
	// The caller holds references on fr, so it stays allocated without
	// f.mu; faulting in memory can take long and need not block others.
	return populateView(view, fd, fr)
}

// populateView backs view, the host mapping of fr, in bulk: with
// MADV_POPULATE_WRITE, or with fallocate where the kernel lacks it.
func populateView(view []byte, fd int, fr memmap.FileRange) error {
	if !populateUnsupported.Load() {
		err := retryEINTR(func() error { return populateWrite(view) })
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return &Error{Op: "populate", Range: fr, Err: err}
		}
		populateUnsupported.Store(true)
	}
	err := retryEINTR(func() error { return unix.Fallocate(fd, 0, int64(fr.Start), int64(fr.Length())) })
	if err != nil {
		return &Error{Op: "populate", Range: fr, Err: err}
	}
	return nil
}

// PopulateChunks backs with host memory, in one call each, the whole
// 2 MiB-aligned chunks of the file that fr touches, unless they were backed
// whole that way and nothing in them was freed or decommitted since. It is
// Populate for memory handed out in pieces smaller than a chunk (single
// pages faulted one at a time): the first piece pays for the chunk, in
// bulk, and the next ones find their memory backed, so the guest's first
// touches take no host fault. The chunk's free pages are backed too: they
// read as zeros all the same, and stay backed (counted in Stats.Backed)
// until they are allocated and freed again, decommitted, or the file is
// closed, so the host keeps about as many chunks as were ever touched this
// way, within the limit. Punching them whenever a neighbour is freed would
// make a program that maps, touches and unmaps one page in a loop back and
// punch a whole chunk each time. fr must be page-aligned, within the file
// and allocated; errors are Populate's.
func (f *MemoryFile) PopulateChunks(fr memmap.FileRange) error {
	if err := f.checkRange("populate", fr, true); err != nil {
		return err
	}
	f.mu.Lock()
	err := f.checkAllocatedLocked("populate", fr)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	// The caller holds references on fr: it stays allocated (and the file
	// open) while f.mu is released below.
	for c := fr.Start &^ arch.HugePageMask; c < fr.End; c += arch.HugePageSize {
		chunk := memmap.FileRange{Start: c, End: min(c+arch.HugePageSize, f.limit)}
		f.mu.Lock()
		i := c / arch.HugePageSize
		if f.wholeChunks[i/64]&(1<<(i%64)) != 0 {
			f.mu.Unlock()
			continue
		}
		view, fd, releases := f.mapping[chunk.Start:chunk.End:chunk.End], f.fd, f.releases
		f.mu.Unlock()
		if err := populateView(view, fd, chunk); err != nil {
			return err
		}
		f.mu.Lock()
		// If anything was punched out meanwhile, the chunk may have a
		// hole again: leave its bit clear, so a later call backs it
		// again (the bit only ever saves a call).
		if f.releases == releases && !f.closed {
			f.wholeChunks[i/64] |= 1 << (i % 64)
		}
		f.mu.Unlock()
	}
	return nil
}

// Decommit returns the memory behind fr to the host: afterwards fr reads as
// zeros and the host backs none of it until it is touched again. Reference
// counts do not change. fr must be page-aligned and within the file; it may
// include free pages (they are already decommitted). Errors wrap unix.EINVAL
// or ErrClosed.
func (f *MemoryFile) Decommit(fr memmap.FileRange) error {
	if err := f.checkRange("decommit", fr, true); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &Error{Op: "decommit", Range: fr, Err: ErrClosed}
	}
	f.releaseLocked(fr)
	return nil
}

// punchHole frees the memfd's memory behind [off, off+length); a variable so
// that tests can make it fail.
var punchHole = func(fd int, off, length int64) error {
	return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, length)
}

// releaseLocked returns fr's memory to the host and guarantees fr reads as
// zeros. If the host refuses to punch the hole (it never should for a
// memfd), fr is zeroed by hand instead: its memory stays committed, but no
// stale contents survive.
//
// Preconditions: f.mu is held; f is open; fr is page-aligned and within the
// file.
func (f *MemoryFile) releaseLocked(fr memmap.FileRange) {
	f.releases++
	for i := fr.Start / arch.HugePageSize; i*arch.HugePageSize < fr.End; i++ {
		f.wholeChunks[i/64] &^= 1 << (i % 64)
	}
	if err := retryEINTR(func() error { return punchHole(f.fd, int64(fr.Start), int64(fr.Length())) }); err != nil {
		clear(f.mapping[fr.Start:fr.End])
	}
}

// retryEINTR calls op until it returns anything but EINTR or EAGAIN.
func retryEINTR(op func() error) error {
	for {
		err := op()
		if err != unix.EINTR && err != unix.EAGAIN {
			return err
		}
	}
}
