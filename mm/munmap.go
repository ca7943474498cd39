package mm

import (
	"slices"

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
// for UFFD_EVENT_UNMAP, once, that ar is being unmapped: by munmap,
// mmap(MAP_FIXED) over it, or mremap's shrink or fixed destination
// (userfaultfd_unmap_prep, and _complete as the call returns).
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) userfaultUnmapLocked(ar arch.AddrRange) {
	mm.queueUnmapEventsLocked(mm.userfaultUnmapTargetsLocked(ar))
}

// unmapEvent is an UFFD_EVENT_UNMAP to queue: the context told and the
// range unmapped.
type unmapEvent struct {
	ctx *UserFaultFD
	ar  arch.AddrRange
}

// userfaultUnmapTargetsLocked returns the UNMAP events unmapping ar makes,
// for a caller that queues them later (mremap delivers the unmaps of its
// source after its REMAP event).
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) userfaultUnmapTargetsLocked(ar arch.AddrRange) []unmapEvent {
	var evs []unmapEvent
	for vseg := range mm.vmas.Segments(ar) {
		u := vseg.ValuePtr().uffd
		if u == nil || !u.wantsEvent(UffdFeatureEventUnmap) ||
			slices.ContainsFunc(evs, func(e unmapEvent) bool { return e.ctx == u }) {
			continue
		}
		evs = append(evs, unmapEvent{u, ar})
	}
	return evs
}

// queueUnmapEventsLocked queues evs.
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) queueUnmapEventsLocked(evs []unmapEvent) {
	for _, e := range evs {
		mm.queueEventLocked(e.ctx, UffdFeatureEventUnmap, UffdEventUnmap, [3]uint64{uint64(e.ar.Start), uint64(e.ar.End)}, nil)
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
