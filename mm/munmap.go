package mm

import (
	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// MUnmap implements munmap(2).
func (mm *MemoryManager) MUnmap(addr, length uint64) error {
	top := uint64(mm.layout.TopOfUser)
	if addr&arch.PageMask != 0 || addr > top || length > top-addr {
		return unix.EINVAL
	}
	alen, _ := arch.PageRoundUp(length)
	if alen == 0 {
		return unix.EINVAL
	}
	ar := arch.AddrRange{Start: arch.Addr(addr), End: arch.Addr(addr + alen)}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if err := mm.checkUnmapSplitLocked(ar); err != nil {
		return err
	}
	mm.userfaultUnmapLocked(ar)
	mm.unmapLocked(ar)
	return nil
}

// userfaultUnmapLocked tells each userfaultfd registered in ar that asked
// for UFFD_EVENT_UNMAP, once, that munmap removes ar
// (userfaultfd_unmap_prep).
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) userfaultUnmapLocked(ar arch.AddrRange) {
	told := map[*UserFaultFD]bool{}
	for vseg := range mm.vmas.Segments(ar) {
		if u := vseg.ValuePtr().uffd; u != nil && !told[u] {
			told[u] = true
			mm.queueEventLocked(u, UffdFeatureEventUnmap, UffdEventUnmap, [3]uint64{uint64(ar.Start), uint64(ar.End)}, nil)
		}
	}
}

// checkUnmapSplitLocked holds the checks of unmapping ar, whether by
// munmap, mmap(MAP_FIXED) or mremap (vms_gather_munmap_vmas): ENOMEM if
// it would split one vma in two while the map count is at its limit,
// EPERM if a vma in it is sealed.
func (mm *MemoryManager) checkUnmapSplitLocked(ar arch.AddrRange) error {
	vseg := mm.vmas.LowerBoundSegment(ar.Start)
	if vseg.Ok() && vseg.Start() < ar.Start && ar.End < vseg.End() && mm.vmas.Len() >= mm.limits.MaxMapCount {
		return unix.ENOMEM
	}
	if mm.sealedInLocked(ar) {
		return unix.EPERM
	}
	return nil
}
