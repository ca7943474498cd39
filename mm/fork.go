package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// Fork returns a copy-on-write duplicate of mm, as fork(2) makes: the
// child maps the same objects, shares shared memory, and shares private
// memory until either side writes it. vmas marked MADV_DONTFORK are left
// out, MADV_WIPEONFORK ones come up empty, and memory locks are not
// inherited. as is the child's AddressSpace (nil for none); interrupted
// is the child's Options.Interrupted (nil for none): the child's
// populates stop when the child is killed, not the parent.
func (mm *MemoryManager) Fork(as AddressSpace, interrupted func() bool) (*MemoryManager, error) {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	child := &MemoryManager{
		mf: mm.mf, faultAround: mm.faultAround, layout: mm.layout, zeroPage: mm.zeroPage,
		interrupted: interrupted, privateRefs: mm.privateRefs, vmas: newVMASet(), pmas: newPMASet(),
		as: as, limits: mm.limits, brk: mm.brk, dataSeg: mm.dataSeg,
		stackStart: mm.stackStart, code: mm.code, flags: mm.flags.inherited(),
	}
	anonIDs := map[uint64]uint64{}
	uffdCtxs := map[*UserFaultFD]*UserFaultFD{}
	for vseg := mm.vmas.FirstSegment(); vseg.Ok(); vseg = vseg.NextSegment() {
		v := vseg.Value()
		if v.flags&vmaDontFork != 0 {
			continue
		}
		v.mlockMode = memmap.MLockNone
		mm.forkUserFaultLocked(child, &v, uffdCtxs)
		if v.anonVMA != 0 && v.flags&vmaWipeOnFork == 0 {
			if anonIDs[v.anonVMA] == 0 {
				child.nextAnonVMA++
				anonIDs[v.anonVMA] = child.nextAnonVMA
			}
			v.anonVMA = anonIDs[v.anonVMA]
		} else {
			v.anonVMA = 0
		}
		if v.id != nil {
			v.id.IncRef()
		}
		if v.mappable != nil {
			if err := v.mappable.AddMapping(child, vseg.Range(), v.off, v.canWriteMappable()); err != nil {
				if v.id != nil {
					v.id.DecRef()
				}
				child.Release()
				return nil, err
			}
		}
		child.addVMAStatsLocked(&v, vseg.Range().Length())
		// Like Linux's dup_mmap, copy vmas one for one, without merging.
		child.vmas.InsertWithoutMerging(child.vmas.FindGap(vseg.Start()), vseg.Range(), v)
	}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	for cseg := child.vmas.FirstSegment(); cseg.Ok(); cseg = cseg.NextSegment() {
		if cseg.ValuePtr().flags&vmaWipeOnFork != 0 {
			continue
		}
		mm.forkPMAsLocked(child, cseg)
	}
	child.maxRSS = child.curRSS
	return child, nil
}

// forkPMAsLocked gives child the pmas of mm in the vma cseg: shared and
// guard pmas are copied as they are; private ones become copy-on-write on
// both sides, so mm's writable mappings of them are removed.
//
// Preconditions: mm.mappingMu and mm.activeMu are locked.
func (mm *MemoryManager) forkPMAsLocked(child *MemoryManager, cseg vmaSeg) {
	cv := cseg.ValuePtr()
	r := cseg.Range()
	unmapped := false
	mm.settleLocked(r)
	for pseg := range mm.pmas.Segments(r) {
		pseg = mm.pmas.Isolate(pseg, r)
		p := pseg.ValuePtr()
		if p.guard {
			// Linux's fork copies guard markers (the vma has an
			// anon_vma, or VM_MAYBE_GUARD, so its page tables are
			// copied).
			child.pmas.Insert(child.pmas.FindGap(pseg.Start()), pseg.Range(), *p)
			child.guardBytes += pseg.Range().Length()
			continue
		}
		if cv.private {
			if !p.needCOW && p.effectivePerms.Write && !unmapped {
				mm.unmapASLocked(r)
				unmapped = true
			}
			p.needCOW = true
			p.effectivePerms.Write = false
			p.maxPerms.Write = false
		}
		cp := *p
		if cv.uffdModes&UffdRegisterModeWP == 0 {
			// The child's vma kept no WP registration (no
			// UFFD_FEATURE_EVENT_FORK): its pages are not
			// write-protected, as copy_present_pte clears uffd-wp.
			// needCOW still keeps Write off.
			cp.uffdWP = false
		}
		fr := fileRangeOf(pseg, pseg.Range())
		cp.file.IncRef(fr)
		if cp.private {
			mm.privateRefs.inc(fr)
		}
		child.pmas.Insert(child.pmas.FindGap(pseg.Start()), pseg.Range(), cp)
		if !cp.zero && !cp.untouched {
			child.addRSSLocked(pseg.Range().Length())
		}
	}
	mm.pmas.MergeRange(r)
	mm.pmas.MergeAdjacent(r)
}

// Invalidate implements memmap.MappingSpace: the Mappable's translations
// for ar are gone, so the pmas caching them (and, with InvalidatePrivate,
// private copies made from them) are dropped.
func (mm *MemoryManager) Invalidate(ar arch.AddrRange, opts memmap.InvalidateOpts) {
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	mm.invalidateLocked(ar, opts.InvalidatePrivate, true)
}
