package mm

import (
	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// MSeal implements mseal(2) (Linux 6.10+, as of 6.18): every vma in
// [addr, addr+length) is sealed (VM_SEALED, "sl" in smaps), split off where
// the range ends inside one. A sealed vma cannot be unmapped, replaced by
// mmap(MAP_FIXED), moved, resized or made the destination of a move
// (munmap, mmap and mremap fail with EPERM and change nothing), nor have
// its protection changed (mprotect fails with EPERM at the first sealed
// vma, as mprotect_fixup does, after changing those before it), and
// madvise may not discard the pages of a sealed private anonymous vma the
// program cannot write (MADV_DONTNEED and the other discards of
// can_madvise_modify). Sealing is for good; sealing a sealed vma again
// does nothing.
func (mm *MemoryManager) MSeal(addr, length, flags uint64) error {
	if flags != 0 {
		return unix.EINVAL
	}
	ar, ok, err := pageRangeOf(addr, length)
	if !ok {
		return err
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if mm.vmas.SpanRange(ar) != ar.Length() {
		return unix.ENOMEM // a hole: nothing is sealed
	}
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	for pos := ar.Start; pos < ar.End; {
		vseg := mm.vmas.FindSegment(pos)
		next := min(ar.End, vseg.End())
		if vseg.ValuePtr().flags&vmaSealed == 0 {
			vseg, err := mm.isolateVMALocked(arch.AddrRange{Start: pos, End: next})
			if err != nil {
				return err
			}
			vseg.ValuePtr().flags |= vmaSealed
		}
		pos = next
	}
	return nil
}

// sealedInLocked reports whether a vma in ar is sealed.
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) sealedInLocked(ar arch.AddrRange) bool {
	for vseg := range mm.vmas.Segments(ar) {
		if vseg.ValuePtr().flags&vmaSealed != 0 {
			return true
		}
	}
	return false
}

// madviseDiscards reports whether advice discards a vma's data
// (is_discard): what a sealed vma refuses where the program cannot write.
func madviseDiscards(behavior int32) bool {
	switch behavior {
	case unix.MADV_FREE, unix.MADV_DONTNEED, unix.MADV_DONTNEED_LOCKED, unix.MADV_REMOVE,
		unix.MADV_DONTFORK, unix.MADV_WIPEONFORK, unix.MADV_GUARD_INSTALL:
		return true
	}
	return false
}
