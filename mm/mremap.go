package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// mremapArgs are mremap's arguments after page alignment.
type mremapArgs struct {
	addr    arch.Addr
	oldLen  uint64
	newLen  uint64
	flags   uint64
	newAddr arch.Addr
}

// impliesNewAddr reports whether the flags name a destination.
func (a *mremapArgs) impliesNewAddr() bool {
	return a.flags&(unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP) != 0
}

// MRemap implements mremap(2) with Linux 6.18's semantics: in-place
// shrinking and growing, moves (MREMAP_MAYMOVE), moves to a fixed address
// (MREMAP_FIXED, which may move several vmas at once when the size is
// unchanged), and MREMAP_DONTUNMAP.
//
// Behaviour by sizes (old = 0 duplicates a shared mapping):
//
//	flags         | old < new            | old = new  | old > new
//	none          | grow in place/ENOMEM | no-op      | shrink in place
//	MAYMOVE       | grow in place or move| no-op      | shrink in place
//	MAYMOVE|FIXED | move and grow        | move       | shrink, then move
func (mm *MemoryManager) MRemap(oldAddr, oldSize, newSize, flags, newAddr uint64) (arch.Addr, error) {
	a := mremapArgs{
		addr:    arch.Addr(oldAddr),
		oldLen:  arch.PageAlign(oldSize),
		newLen:  arch.PageAlign(newSize),
		flags:   flags,
		newAddr: arch.Addr(newAddr),
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if err := mm.checkMRemapArgsLocked(&a); err != nil {
		return 0, err
	}
	if a.flags&unix.MREMAP_FIXED != 0 && a.oldLen == a.newLen {
		return mm.mremapMoveOnlyLocked(a)
	}
	vseg := mm.vmas.FindSegment(a.addr)
	if err := mm.checkMRemapVMALocked(vseg, &a); err != nil {
		return 0, err
	}
	if a.impliesNewAddr() {
		return mm.mremapToLocked(a)
	}
	return mm.mremapAtLocked(vseg, a)
}

// checkMRemapArgsLocked holds every check of mremap's arguments that needs
// no vma, in the order Linux applies them (check_mremap_params).
func (mm *MemoryManager) checkMRemapArgsLocked(a *mremapArgs) error {
	top := uint64(mm.layout.TopOfUser)
	switch {
	case a.flags&^(unix.MREMAP_FIXED|unix.MREMAP_MAYMOVE|unix.MREMAP_DONTUNMAP) != 0:
		return unix.EINVAL
	case !a.addr.IsPageAligned():
		return unix.EINVAL
	case a.newLen == 0: // zero, or so large that it rounded up to zero
		return unix.EINVAL
	case a.newLen > top:
		return unix.EINVAL
	case !a.impliesNewAddr():
		return nil
	case uint64(a.newAddr) > top-a.newLen:
		return unix.EINVAL
	case !a.newAddr.IsPageAligned():
		return unix.EINVAL
	case a.flags&unix.MREMAP_MAYMOVE == 0:
		return unix.EINVAL
	case a.flags&unix.MREMAP_DONTUNMAP != 0 && a.oldLen != a.newLen:
		return unix.EINVAL
	case a.addr+arch.Addr(a.oldLen) > a.newAddr && a.newAddr+arch.Addr(a.newLen) > a.addr:
		return unix.EINVAL
	case mm.vmas.Len()+2 >= mm.limits.MaxMapCount-3:
		return unix.ENOMEM
	}
	return nil
}

// checkMRemapVMALocked checks the vma at the old address (check_prep_vma).
func (mm *MemoryManager) checkMRemapVMALocked(vseg vmaSeg, a *mremapArgs) error {
	if !vseg.Ok() {
		return unix.EFAULT
	}
	if vseg.ValuePtr().flags&vmaSealed != 0 {
		return unix.EPERM
	}
	if !a.impliesNewAddr() {
		a.newAddr = a.addr
	}
	if a.newLen <= a.oldLen && !a.impliesNewAddr() {
		return nil // shrinking or no-op in place: nothing new is mapped
	}
	v := vseg.ValuePtr()
	if a.oldLen == 0 && v.private {
		return unix.EINVAL // duplicating a private mapping makes no sense
	}
	oldLen := a.oldLen
	if a.newLen < oldLen {
		oldLen = a.newLen // a shrink may cross vma boundaries
	}
	if oldLen > uint64(vseg.End()-a.addr) {
		return unix.EFAULT
	}
	if a.newLen == oldLen {
		return nil
	}
	delta := a.newLen - oldLen
	off := v.off + uint64(a.addr-vseg.Start())
	if off>>arch.PageShift+a.newLen>>arch.PageShift < off>>arch.PageShift {
		return unix.EINVAL
	}
	if !mm.mlockFutureOKLocked(v.mlockMode, delta) {
		return unix.EAGAIN
	}
	if !mm.mayExpandLocked(v, delta) {
		return unix.ENOMEM
	}
	return nil
}

// mremapAtLocked resizes without a destination: no-op, shrink, or grow in
// place or else (with MREMAP_MAYMOVE) by moving.
func (mm *MemoryManager) mremapAtLocked(vseg vmaSeg, a mremapArgs) (arch.Addr, error) {
	switch {
	case a.newLen == a.oldLen:
		return a.addr, nil
	case a.newLen < a.oldLen:
		late, err := mm.shrinkLocked(a)
		if err != nil {
			return 0, err
		}
		mm.queueUnmapEventsLocked(late)
		return a.addr, nil
	}
	if a.oldLen == uint64(vseg.End()-a.addr) && mm.expandableLocked(vseg, a.newLen-a.oldLen) {
		return mm.expandInPlaceLocked(vseg, a)
	}
	if a.flags&unix.MREMAP_MAYMOVE == 0 {
		return 0, unix.ENOMEM
	}
	dst, err := mm.mremapDestinationLocked(vseg, a)
	if err != nil {
		return 0, err
	}
	return mm.moveVMALocked(a, dst, nil)
}

// shrinkLocked unmaps the tail [addr+newLen, addr+oldLen). It returns
// the UFFD_EVENT_UNMAP events of the tail for the caller to queue: mremap
// delivers them last, after a move's REMAP.
func (mm *MemoryManager) shrinkLocked(a mremapArgs) ([]unmapEvent, error) {
	ar := arch.AddrRange{Start: a.addr + arch.Addr(a.newLen), End: a.addr + arch.Addr(a.oldLen)}
	if ar.End < ar.Start || ar.End > mm.layout.TopOfUser {
		return nil, unix.EINVAL
	}
	if err := mm.checkUnmapSplitLocked(ar); err != nil {
		return nil, err
	}
	late := mm.userfaultUnmapTargetsLocked(ar)
	mm.unmapLocked(ar)
	return late, nil
}

// expandableLocked reports whether the vma vseg can grow by delta in
// place (vma_expandable): the space after it is free and in range.
func (mm *MemoryManager) expandableLocked(vseg vmaSeg, delta uint64) bool {
	end, ok := vseg.End().AddLength(delta)
	if !ok || end > mm.layout.TopOfUser {
		return false
	}
	return !mm.overlapsVMALocked(arch.AddrRange{Start: vseg.End(), End: end})
}

// expandInPlaceLocked grows the vma at its end by newLen-oldLen.
func (mm *MemoryManager) expandInPlaceLocked(vseg vmaSeg, a mremapArgs) (arch.Addr, error) {
	delta := a.newLen - a.oldLen
	v := vseg.Value()
	ext := arch.AddrRange{Start: vseg.End(), End: vseg.End() + arch.Addr(delta)}
	v.off += uint64(vseg.Range().Length())
	if v.id != nil {
		v.id.IncRef()
	}
	if v.mappable != nil {
		if err := v.mappable.AddMapping(mm, ext, v.off, v.canWriteMappable()); err != nil {
			if v.id != nil {
				v.id.DecRef()
			}
			return 0, err
		}
	}
	mm.insertVMALocked(ext, v)
	if v.mlockMode == memmap.MLockEager {
		_ = mm.populateLocked(mm.vmas.FindSegment(ext.Start), ext)
	}
	return a.addr, nil
}

// mremapDestinationLocked chooses where a moved mapping goes: the fixed
// address, or a search seeded with the given hint.
func (mm *MemoryManager) mremapDestinationLocked(vseg vmaSeg, a mremapArgs) (arch.Addr, error) {
	v := vseg.ValuePtr()
	fixed := a.flags&unix.MREMAP_FIXED != 0
	return mm.getUnmappedAreaLocked(a.newAddr, a.newLen, fixed, false, false, v.isAnonymous())
}

// mremapToLocked moves [addr, addr+oldLen) to newAddr (mremap_to):
// unmapping the destination first if it is fixed, shrinking first if the
// new size is smaller.
func (mm *MemoryManager) mremapToLocked(a mremapArgs) (arch.Addr, error) {
	if a.flags&unix.MREMAP_FIXED != 0 {
		dst := arch.AddrRange{Start: a.newAddr, End: a.newAddr + arch.Addr(a.newLen)}
		if err := mm.checkUnmapSplitLocked(dst); err != nil {
			return 0, err
		}
		mm.userfaultUnmapLocked(dst)
		mm.unmapLocked(dst)
	}
	vseg := mm.vmas.FindSegment(a.addr)
	if !vseg.Ok() {
		return 0, unix.EFAULT
	}
	var late []unmapEvent
	if a.newLen < a.oldLen {
		var err error
		if late, err = mm.shrinkLocked(a); err != nil {
			return 0, err
		}
		a.oldLen = a.newLen
		vseg = mm.vmas.FindSegment(a.addr)
	}
	if a.flags&unix.MREMAP_DONTUNMAP != 0 && !mm.mayExpandLocked(vseg.ValuePtr(), a.oldLen) {
		return 0, unix.ENOMEM
	}
	dst, err := mm.mremapDestinationLocked(vseg, a)
	if err != nil {
		return 0, err
	}
	return mm.moveVMALocked(a, dst, late)
}

// mremapMoveOnlyLocked moves every vma in [addr, addr+oldLen) without
// resizing (Linux 6.17's remap_move). The range must start in a vma; each
// vma's part of it is moved by mremapToLocked, the first to newAddr and
// each next one to where the last one landed plus the gap that separated
// them, so the gaps are kept. It returns where the first part went. An
// error stops the walk where it arose; parts already moved stay moved, as
// on Linux.
func (mm *MemoryManager) mremapMoveOnlyLocked(a mremapArgs) (arch.Addr, error) {
	if !mm.vmas.FindSegment(a.addr).Ok() {
		return 0, unix.EFAULT
	}
	end := a.addr + arch.Addr(a.oldLen)
	var first arch.Addr
	target := a.newAddr // where the part at pos would go with no gap
	for pos := a.addr; pos < end; {
		piece, ok := mm.nextMovePieceLocked(pos, end, a)
		if !ok {
			break
		}
		piece.newAddr = target + (piece.addr - pos)
		if mm.vmas.FindSegment(piece.addr).ValuePtr().flags&vmaSealed != 0 {
			return 0, unix.EPERM // check_prep_vma, for each vma moved
		}
		dst, err := mm.mremapToLocked(piece)
		if err != nil {
			return 0, err
		}
		if pos == a.addr {
			first = dst
		}
		target = dst + arch.Addr(piece.oldLen)
		pos = piece.addr + arch.Addr(piece.oldLen)
	}
	return first, nil
}

// nextMovePieceLocked returns the part of [pos, end) in the first vma at
// or after pos, as the arguments of a move of it (newAddr left to the
// caller), or false if no vma remains in the range. The vma left behind
// by MREMAP_DONTUNMAP keeps its bounds, so the walk never sees a part
// twice.
func (mm *MemoryManager) nextMovePieceLocked(pos, end arch.Addr, a mremapArgs) (mremapArgs, bool) {
	vseg := mm.vmas.LowerBoundSegment(pos)
	if !vseg.Ok() || vseg.Start() >= end {
		return mremapArgs{}, false
	}
	start := max(vseg.Start(), pos)
	n := uint64(min(end, vseg.End()) - start)
	return mremapArgs{addr: start, oldLen: n, newLen: n, flags: a.flags}, true
}

// moveVMALocked moves [addr, addr+oldLen), within one vma, to a new vma
// of newLen bytes at dst (move_vma): the pages go with it; the source is
// unmapped unless MREMAP_DONTUNMAP, which leaves it mapped but empty and
// unlocked. late are the UFFD_EVENT_UNMAP events of a shrink before the
// move, queued after its REMAP event, as mremap delivers them.
func (mm *MemoryManager) moveVMALocked(a mremapArgs, dst arch.Addr, late []unmapEvent) (arch.Addr, error) {
	if mm.vmas.Len() >= mm.limits.MaxMapCount-3 {
		return 0, unix.ENOMEM
	}
	oldAR := arch.AddrRange{Start: a.addr, End: a.addr + arch.Addr(a.oldLen)}
	newAR := arch.AddrRange{Start: dst, End: dst + arch.Addr(a.newLen)}
	vseg := mm.vmas.FindSegment(a.addr)
	nv := vseg.Value()
	nv.off += uint64(a.addr - vseg.Start())
	// The moved vma keeps its registration only for a context that
	// asked for UFFD_EVENT_REMAP, which is told (mremap_userfaultfd_prep
	// and _complete).
	droppedWP := false
	if nv.uffd != nil {
		if nv.uffd.wantsEvent(UffdFeatureEventRemap) {
			mm.queueEventLocked(nv.uffd, UffdFeatureEventRemap, UffdEventRemap, [3]uint64{uint64(a.addr), uint64(dst), a.oldLen}, nil)
		} else {
			droppedWP = nv.uffdModes&UffdRegisterModeWP != 0
			nv.uffd, nv.uffdModes = nil, 0
		}
	}
	if nv.isAnonymous() && nv.anonVMA == 0 {
		// Never faulted: like Linux's copy_vma, take the offset of the
		// new place, so that it merges there.
		nv.off = uint64(dst)
	}
	if nv.id != nil {
		nv.id.IncRef()
	}
	if nv.mappable != nil {
		if err := nv.mappable.CopyMapping(mm, oldAR, newAR, nv.off, nv.canWriteMappable()); err != nil {
			if nv.id != nil {
				nv.id.DecRef()
			}
			return 0, err
		}
	}
	mm.insertVMALocked(newAR, nv)
	if a.oldLen != 0 {
		mm.activeMu.Lock()
		mm.movePMAsLocked(oldAR, newAR)
		if droppedWP {
			// The pages leave their WP registration behind
			// (move_ptes clears uffd-wp for such a vma).
			mm.writeProtectPMAsLocked(&nv, newAR, false)
		}
		mm.activeMu.Unlock()
		if a.flags&unix.MREMAP_DONTUNMAP != 0 {
			mm.queueUnmapEventsLocked(late)
			mm.clearMovedSourceLocked(a.addr, a.oldLen)
		} else {
			// Unmapping the source tells its context, whether or
			// not the moved vma kept the registration (as 6.18).
			late = append(late, mm.userfaultUnmapTargetsLocked(oldAR)...)
			mm.queueUnmapEventsLocked(late)
			mm.removeVMAsLocked(oldAR)
		}
	}
	if nv.mlockMode == memmap.MLockEager && a.newLen > a.oldLen {
		grown := arch.AddrRange{Start: dst + arch.Addr(a.oldLen), End: newAR.End}
		_ = mm.populateRangeLocked(grown)
	}
	return dst, nil
}

// clearMovedSourceLocked finishes MREMAP_DONTUNMAP on the vma left behind
// at [addr, addr+n), as Linux's dontunmap_complete does: the whole vma
// loses its lock mode (its pages are gone), and if the move took all of
// it, its anon_vma too, so that it may merge, or drop VM_ACCOUNT under
// mprotect, like a vma never faulted. It keeps VM_ACCOUNT (the memory is
// still committed) and is not merged with its neighbours: Linux changes
// its flags in place, so later calls (a multi-vma move going on past it,
// mremap's one-vma checks) see the boundaries Linux kept.
func (mm *MemoryManager) clearMovedSourceLocked(addr arch.Addr, n uint64) {
	vseg := mm.vmas.FindSegment(addr)
	if !vseg.Ok() {
		return
	}
	v := vseg.ValuePtr()
	vr := vseg.Range()
	mm.removeVMAStatsLocked(v, vr.Length())
	v.mlockMode = memmap.MLockNone
	if vr == (arch.AddrRange{Start: addr, End: addr + arch.Addr(n)}) {
		v.anonVMA = 0
	}
	mm.addVMAStatsLocked(v, vr.Length())
}
