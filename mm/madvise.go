package mm

import (
	"errors"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// madviseSupported are the advice values Madvise accepts; others get
// EINVAL (see the differences table in doc.go for the few Linux has that
// mm does not).
var madviseSupported = map[int32]bool{
	unix.MADV_NORMAL: true, unix.MADV_RANDOM: true, unix.MADV_SEQUENTIAL: true,
	unix.MADV_WILLNEED: true, unix.MADV_DONTNEED: true, unix.MADV_FREE: true,
	unix.MADV_REMOVE: true, unix.MADV_DONTFORK: true, unix.MADV_DOFORK: true,
	unix.MADV_MERGEABLE: true, unix.MADV_UNMERGEABLE: true,
	unix.MADV_HUGEPAGE: true, unix.MADV_NOHUGEPAGE: true,
	unix.MADV_DONTDUMP: true, unix.MADV_DODUMP: true,
	unix.MADV_WIPEONFORK: true, unix.MADV_KEEPONFORK: true,
	unix.MADV_COLD: true, unix.MADV_PAGEOUT: true,
	unix.MADV_POPULATE_READ: true, unix.MADV_POPULATE_WRITE: true,
	unix.MADV_DONTNEED_LOCKED: true, unix.MADV_GUARD_INSTALL: true, unix.MADV_GUARD_REMOVE: true,
}

// pageRangeOf is the range of whole pages madvise and mseal act on:
// addr to addr+length rounded up to a page. An unaligned addr or a range
// that wraps is EINVAL; ok is false then, and for an empty range, on
// which both succeed doing nothing (err nil).
func pageRangeOf(addr, length uint64) (ar arch.AddrRange, ok bool, err error) {
	if addr&arch.PageMask != 0 {
		return ar, false, unix.EINVAL
	}
	alen := arch.PageAlign(length)
	if length != 0 && alen == 0 {
		return ar, false, unix.EINVAL
	}
	end := arch.Addr(addr + alen)
	if end < arch.Addr(addr) {
		return ar, false, unix.EINVAL
	}
	return arch.AddrRange{Start: arch.Addr(addr), End: end}, end > arch.Addr(addr), nil
}

// Madvise implements madvise(2). As in Linux, unmapped parts of the range
// are skipped and reported as ENOMEM at the end, while an error in a vma
// stops at once.
func (mm *MemoryManager) Madvise(addr, length, advice uint64) error {
	behavior := int32(advice) // an int in Linux's prototype
	if !madviseSupported[behavior] {
		return unix.EINVAL
	}
	ar, ok, err := pageRangeOf(addr, length)
	if !ok {
		return err
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	switch behavior {
	case unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE:
		return mm.madvisePopulateLocked(ar, behavior == unix.MADV_POPULATE_WRITE)
	}
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	var unmapped error
	pos := ar.Start
	for pos < ar.End {
		vseg := mm.vmas.LowerBoundSegment(pos)
		if !vseg.Ok() || vseg.Start() >= ar.End {
			return unix.ENOMEM
		}
		if pos < vseg.Start() {
			unmapped = unix.ENOMEM
			pos = vseg.Start()
		}
		next := min(ar.End, vseg.End())
		if err := mm.madviseVMALocked(vseg, arch.AddrRange{Start: pos, End: next}, behavior); err != nil {
			return err
		}
		pos = next
	}
	return unmapped
}

// madviseVMALocked applies advice to ar within one vma.
func (mm *MemoryManager) madviseVMALocked(vseg vmaSeg, ar arch.AddrRange, behavior int32) error {
	v := vseg.ValuePtr()
	if v.flags&vmaSealed != 0 && madviseDiscards(behavior) && v.isAnonymous() && !v.realPerms.Write {
		return unix.EPERM // can_madvise_modify
	}
	locked := v.mlockMode != memmap.MLockNone
	switch behavior {
	case unix.MADV_WILLNEED:
		return nil
	case unix.MADV_DONTNEED, unix.MADV_DONTNEED_LOCKED:
		if locked && behavior == unix.MADV_DONTNEED {
			return unix.EINVAL
		}
		mm.userfaultRemoveLocked(v, ar)
		mm.zapLocked(ar)
		return nil
	case unix.MADV_FREE:
		if locked {
			return unix.EINVAL
		}
		if !v.isAnonymous() {
			return unix.EINVAL
		}
		// Linux frees the pages lazily, only under memory pressure;
		// until then they keep their contents, which is what mm does.
		return nil
	case unix.MADV_REMOVE:
		mm.userfaultRemoveLocked(v, ar)
		return mm.madviseRemoveLocked(vseg, ar)
	case unix.MADV_GUARD_INSTALL:
		return mm.madviseGuardInstallLocked(vseg, ar)
	case unix.MADV_GUARD_REMOVE:
		mm.madviseGuardRemoveLocked(ar)
		return nil
	case unix.MADV_COLD, unix.MADV_PAGEOUT:
		if locked {
			return unix.EINVAL
		}
		if behavior == unix.MADV_PAGEOUT && v.flags&vmaDroppable != 0 {
			// Reclaim discards a droppable vma's pages, dirty or
			// not, where it would swap others (shrink_folio_list);
			// they read as zeros again. Without swap, which mm has
			// none of, other pages stay.
			mm.zapLocked(ar)
		}
		return nil
	}
	flags := v.flags
	switch behavior {
	case unix.MADV_NORMAL:
		flags &^= vmaRandRead | vmaSeqRead
	case unix.MADV_RANDOM:
		flags = flags&^vmaSeqRead | vmaRandRead
	case unix.MADV_SEQUENTIAL:
		flags = flags&^vmaRandRead | vmaSeqRead
	case unix.MADV_DONTFORK:
		flags |= vmaDontFork
	case unix.MADV_DOFORK:
		flags &^= vmaDontFork
	case unix.MADV_DONTDUMP:
		flags |= vmaDontDump
	case unix.MADV_DODUMP:
		flags &^= vmaDontDump
	case unix.MADV_WIPEONFORK:
		if !v.isAnonymous() || !v.private {
			return unix.EINVAL
		}
		flags |= vmaWipeOnFork
	case unix.MADV_KEEPONFORK:
		flags &^= vmaWipeOnFork
	case unix.MADV_HUGEPAGE:
		flags = flags&^vmaNoHugePage | vmaHugePage
	case unix.MADV_NOHUGEPAGE:
		flags = flags&^vmaHugePage | vmaNoHugePage
	case unix.MADV_MERGEABLE:
		if !v.private || v.flags&vmaDroppable != 0 {
			return nil // KSM ignores the advice for these
		}
		flags |= vmaMergeable
	case unix.MADV_UNMERGEABLE:
		flags &^= vmaMergeable
	}
	if flags == v.flags {
		return nil
	}
	vseg, err := mm.isolateVMALocked(ar)
	if err != nil {
		return err
	}
	vseg.ValuePtr().flags = flags
	return nil
}

// zapLocked drops the pmas in ar (MADV_DONTNEED): private anonymous memory
// reads as zero afterwards, private file pages revert to the file, shared
// pages are simply refaulted. Guard pages stay guard pages.
func (mm *MemoryManager) zapLocked(ar arch.AddrRange) {
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	mm.invalidateLocked(ar, true, true)
}

// madviseRemoveLocked implements MADV_REMOVE: free the backing of a shared
// writable mapping's range.
func (mm *MemoryManager) madviseRemoveLocked(vseg vmaSeg, ar arch.AddrRange) error {
	v := vseg.ValuePtr()
	if v.mlockMode != memmap.MLockNone {
		return unix.EINVAL
	}
	if v.mappable == nil {
		return unix.EINVAL
	}
	if v.private || !v.maxPerms.Write {
		return unix.EACCES
	}
	sa, ok := v.mappable.(*SharedMemory)
	if !ok {
		return unix.EOPNOTSUPP
	}
	// punch invalidates every mapping of the range, this one included.
	sa.punch(mappableRangeOf(vseg, ar))
	return nil
}

// madvisePopulateLocked implements MADV_POPULATE_READ/WRITE: fault in
// every page of ar as a read or write would, stopping at the first hole
// (ENOMEM) or vma that forbids the access (EINVAL), or with EINTR when
// Options.Interrupted says so between steps.
func (mm *MemoryManager) madvisePopulateLocked(ar arch.AddrRange, write bool) error {
	pos := ar.Start
	for pos < ar.End {
		vseg := mm.vmas.FindSegment(pos)
		if !vseg.Ok() {
			return unix.ENOMEM
		}
		v := vseg.ValuePtr()
		at := arch.Read
		if write {
			at = arch.Write
		}
		if (write && !v.realPerms.Write) || (!write && !v.realPerms.Read) {
			return unix.EINVAL
		}
		r := arch.AddrRange{Start: pos, End: min(ar.End, vseg.End())}
		err := mm.populateSteps(r, func(step arch.AddrRange) error {
			mm.activeMu.Lock()
			defer mm.activeMu.Unlock()
			err := mm.getPMAsLocked(vseg, step, step, at)
			mm.touchObtainedLocked(step)
			if err != nil {
				return err
			}
			return mm.mapASLocked(step, MapOpts{})
		})
		switch {
		case err == nil:
		case errors.Is(err, unix.EINTR):
			return unix.EINTR
		case errors.Is(err, unix.ENOMEM):
			return unix.ENOMEM
		default:
			return unix.EFAULT
		}
		pos = r.End
	}
	return nil
}

// userfaultRemoveLocked tells v's userfaultfd, if it asked for
// UFFD_EVENT_REMOVE, that MADV_DONTNEED or MADV_REMOVE drops ar's pages
// (userfaultfd_remove).
func (mm *MemoryManager) userfaultRemoveLocked(v *vma, ar arch.AddrRange) {
	if v.uffd != nil {
		mm.queueEventLocked(v.uffd, UffdFeatureEventRemove, UffdEventRemove, [3]uint64{uint64(ar.Start), uint64(ar.End)}, nil)
	}
}
