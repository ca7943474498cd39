package mm

import (
	"errors"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// MLock implements mlock(2).
func (mm *MemoryManager) MLock(addr, length uint64) error {
	return mm.mlock(addr, length, memmap.MLockEager)
}

// MLock2 implements mlock2(2); flags may hold MLOCK_ONFAULT.
func (mm *MemoryManager) MLock2(addr, length, flags uint64) error {
	f := uint32(flags) // an int in Linux's prototype
	if f&^unix.MLOCK_ONFAULT != 0 {
		return unix.EINVAL
	}
	mode := memmap.MLockEager
	if f&unix.MLOCK_ONFAULT != 0 {
		mode = memmap.MLockLazy
	}
	return mm.mlock(addr, length, mode)
}

// MUnlock implements munlock(2).
func (mm *MemoryManager) MUnlock(addr, length uint64) error {
	start, alen := lockRange(addr, length)
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	return mm.applyLockModeLocked(start, alen, memmap.MLockNone)
}

// lockRange widens [addr, addr+length) to pages as mlock does; the length
// may wrap, as in Linux, and is caught by applyLockModeLocked.
func lockRange(addr, length uint64) (arch.Addr, uint64) {
	alen := arch.PageAlign(length + addr&arch.PageMask)
	return arch.Addr(addr).RoundDown(), alen
}

// mlock implements do_mlock: the RLIMIT_MEMLOCK check (not counting pages
// already locked), the lock itself, then populating.
func (mm *MemoryManager) mlock(addr, length uint64, mode memmap.MLockMode) error {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if !mm.canMLockLocked() {
		return unix.EPERM
	}
	start, alen := lockRange(addr, length)
	limit := mm.limits.MemLock >> arch.PageShift
	locked := alen>>arch.PageShift + mm.lockedAS>>arch.PageShift
	if locked > limit && !mm.limits.CapIPCLock {
		locked -= mm.lockedBytesInLocked(arch.AddrRange{Start: start, End: start + arch.Addr(alen)}) >> arch.PageShift
	}
	if locked > limit && !mm.limits.CapIPCLock {
		return unix.ENOMEM
	}
	if err := mm.applyLockModeLocked(start, alen, mode); err != nil {
		return err
	}
	if alen == 0 {
		return nil
	}
	err := mm.populateRangeLocked(arch.AddrRange{Start: start, End: start + arch.Addr(alen)})
	return mlockPopulateError(err)
}

// mlockPopulateError converts a populate failure as
// __mlock_posix_error_return does; an interrupted populate stays EINTR.
func mlockPopulateError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOMEM):
		return unix.EAGAIN
	case errors.Is(err, unix.EINTR):
		return unix.EINTR
	}
	return unix.ENOMEM
}

// lockedBytesInLocked counts the bytes of locked vmas in ar.
func (mm *MemoryManager) lockedBytesInLocked(ar arch.AddrRange) uint64 {
	if ar.End < ar.Start {
		return 0
	}
	var n uint64
	for vseg := range mm.vmas.Segments(ar) {
		if vseg.ValuePtr().mlockMode != memmap.MLockNone {
			n += vseg.Range().Intersect(ar).Length()
		}
	}
	return n
}

// applyLockModeLocked sets the lock mode of every vma in [start,
// start+alen), which must be fully mapped (apply_vma_lock_flags).
func (mm *MemoryManager) applyLockModeLocked(start arch.Addr, alen uint64, mode memmap.MLockMode) error {
	end := start + arch.Addr(alen)
	if end < start {
		return unix.EINVAL
	}
	if end == start {
		return nil
	}
	ar := arch.AddrRange{Start: start, End: end}
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	pos := start
	for pos < end {
		vseg := mm.vmas.FindSegment(pos)
		if !vseg.Ok() {
			return unix.ENOMEM
		}
		next := min(end, vseg.End())
		if err := mm.setLockModeLocked(vseg, arch.AddrRange{Start: pos, End: next}, mode); err != nil {
			return err
		}
		pos = next
	}
	return nil
}

// setLockModeLocked sets the lock mode of ar within vseg (mlock_fixup).
// Droppable vmas are never locked.
func (mm *MemoryManager) setLockModeLocked(vseg vmaSeg, ar arch.AddrRange, mode memmap.MLockMode) error {
	v := vseg.ValuePtr()
	if v.mlockMode == mode || v.flags&vmaDroppable != 0 {
		return nil
	}
	vseg, err := mm.isolateVMALocked(ar)
	if err != nil {
		return err
	}
	v = vseg.ValuePtr()
	mm.removeVMAStatsLocked(v, ar.Length())
	v.mlockMode = mode
	mm.addVMAStatsLocked(v, ar.Length())
	return nil
}

// MLockAll implements mlockall(2).
func (mm *MemoryManager) MLockAll(flags uint64) error {
	f := uint32(flags)
	if f == 0 || f&^(unix.MCL_CURRENT|unix.MCL_FUTURE|unix.MCL_ONFAULT) != 0 || f == unix.MCL_ONFAULT {
		return unix.EINVAL
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if !mm.canMLockLocked() {
		return unix.EPERM
	}
	if f&unix.MCL_CURRENT != 0 && !mm.limits.CapIPCLock && mm.usageAS>>arch.PageShift > mm.limits.MemLock>>arch.PageShift {
		return unix.ENOMEM
	}
	mm.applyMLockAllLocked(f)
	if f&unix.MCL_CURRENT != 0 {
		for vseg := mm.vmas.FirstSegment(); vseg.Ok(); vseg = vseg.NextSegment() {
			// mm_populate ignores errors, but not an interruption.
			if err := mm.populateLocked(vseg, vseg.Range()); errors.Is(err, unix.EINTR) {
				break
			}
		}
	}
	return nil
}

// MUnlockAll implements munlockall(2).
func (mm *MemoryManager) MUnlockAll() error {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.applyMLockAllLocked(0)
	return nil
}

// applyMLockAllLocked sets the default lock mode from MCL_FUTURE and, with
// MCL_CURRENT (or flags 0, for munlockall), every vma's.
func (mm *MemoryManager) applyMLockAllLocked(f uint32) {
	mode := memmap.MLockEager
	if f&unix.MCL_ONFAULT != 0 {
		mode = memmap.MLockLazy
	}
	mm.defMLockMode = memmap.MLockNone
	if f&unix.MCL_FUTURE != 0 {
		mm.defMLockMode = mode
		if f&unix.MCL_CURRENT == 0 {
			return
		}
	}
	if f&unix.MCL_CURRENT == 0 {
		mode = memmap.MLockNone
	}
	for vseg := mm.vmas.FirstSegment(); vseg.Ok(); {
		r := vseg.Range()
		_ = mm.setLockModeLocked(vseg, r, mode) // errors are ignored, as in Linux
		vseg = mm.vmas.LowerBoundSegment(r.End)
	}
	all := arch.AddrRange{Start: 0, End: mm.layout.TopOfUser}
	mm.vmas.MergeRange(all)
}
