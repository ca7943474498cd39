package mm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/rangeset"
)

type (
	pmaSet = rangeset.Set[arch.Addr, pma]
	pmaSeg = rangeset.Seg[arch.Addr, pma]
)

// pma is a platform mapping area: a range of addresses backed by one
// contiguous range of one File. pmas are stored by value in
// MemoryManager.pmas and guarded by activeMu.
type pma struct {
	// file backs the pma; off is the file offset of the pma's first byte.
	// The pma holds one reference on every page it maps.
	file memmap.File
	off  uint64

	// translatePerms are what the Mappable's Translation allowed;
	// arch.AnyAccess for private memory.
	translatePerms arch.AccessType

	// effectivePerms are what the AddressSpace may map the pma with: the
	// vma's effectivePerms ∩ translatePerms, without Write while needCOW.
	// maxPerms are the same for accesses that ignore permissions (the
	// vma's maxPerms). Both are refreshed when the vma changes.
	effectivePerms arch.AccessType
	maxPerms       arch.AccessType

	// needCOW: a write must first copy the pages (a private mapping of a
	// Mappable, or private memory shared with a fork).
	needCOW bool

	// private: the pages are this address space's own memory from the
	// MemoryFile, counted in privateRefs, rather than a translation
	// cached from a Mappable. Invalidate without InvalidatePrivate keeps
	// private pmas.
	private bool

	// guard: the pma is a guard region (MADV_GUARD_INSTALL), Linux's
	// guard PTE markers: no memory backs it, and any access to it, by
	// the program or by a system call's copy, fails (SIGSEGV with
	// SEGV_MAPERR, EFAULT). Invariant: a guard pma has file == nil, off
	// 0, no permissions, needCOW and private false; it holds no
	// reference, is not in RSS and is never mapped into the
	// AddressSpace. It is per page, not per vma, so vmas are never split
	// for it. Only GUARD_REMOVE, unmapping (munmap, MAP_FIXED over it,
	// mremap's shrink) and GUARD_INSTALL's own re-install remove it;
	// DONTNEED, MADV_REMOVE, Invalidate, mprotect and mlock keep it;
	// mremap moves it with the pages and fork copies it.
	guard bool

	// untouched: fresh private anonymous memory that a fault allocated
	// around the faulting page and that the program may never use.
	// Linux allocates anonymous memory a page at a time as it is touched
	// (no THP outside MADV_HUGEPAGE on the hosts we follow), so such a
	// page is resident (smaps' Rss, mincore, pagemap, VmRSS) only once
	// the AddressSpace reports it accessed; settleLocked turns what was
	// accessed into touched pmas. Invariant: an untouched pma is private
	// and not zero, is mapped only with MapOpts.Untouched, and is not in
	// RSS; its accessed pages are settled before its AddressSpace
	// mappings go (except by zaps, which drop the pma too).
	untouched bool

	// uffdWP: the pages are write-protected by a userfaultfd (Linux's
	// uffd-wp pte bit): a write first reports a fault to the context and
	// waits (getUnguardedPMAsLocked). Invariant: set only within a vma
	// registered in WP mode, never on a guard pma; effectivePerms and
	// maxPerms then lack Write, as while needCOW.
	uffdWP bool

	// zero: the pma maps part of the MemoryFile's zero chunk for private
	// anonymous memory never written (Linux's zero page). Invariant: a
	// zero pma has file == the MemoryFile, needCOW set, private unset; it
	// holds references like any pma but is not in RSS or privateRefs and
	// gave its vma no anon_vma. A write copies it (breakCOWLocked) into
	// fresh private memory; zaps drop it like private memory.
	zero bool
}

func newPMASet() *pmaSet {
	return rangeset.New(rangeset.Ops[arch.Addr, pma]{Merge: mergePMAs, Split: splitPMA})
}

// mergePMAs merges two adjacent pmas backed by contiguous ranges of one
// file with the same properties.
func mergePMAs(r1 arch.AddrRange, p1 pma, _ arch.AddrRange, p2 pma) (pma, bool) {
	if p1.guard || p2.guard {
		return p1, p1.guard && p2.guard
	}
	if p1.file != p2.file || p1.off+r1.Length() != p2.off ||
		p1.translatePerms != p2.translatePerms || p1.effectivePerms != p2.effectivePerms ||
		p1.maxPerms != p2.maxPerms || p1.needCOW != p2.needCOW || p1.private != p2.private || p1.zero != p2.zero ||
		p1.untouched != p2.untouched || p1.uffdWP != p2.uffdWP {
		return pma{}, false
	}
	return p1, true
}

func splitPMA(r arch.AddrRange, p pma, at arch.Addr) (pma, pma) {
	p2 := p
	if p.guard {
		return p, p2 // no file offset to advance
	}
	p2.off += uint64(at - r.Start)
	return p, p2
}

// fileRangeOf returns the file range that ar, within pseg, maps.
func fileRangeOf(pseg pmaSeg, ar arch.AddrRange) memmap.FileRange {
	start := pseg.ValuePtr().off + uint64(ar.Start-pseg.Start())
	return memmap.FileRange{Start: start, End: start + ar.Length()}
}

// pmaPermsFor returns the permissions a pma may be mapped with under v.
func pmaPermsFor(v *vma, translatePerms arch.AccessType, needCOW bool) (effective, max arch.AccessType) {
	effective = v.effectivePerms.Intersect(translatePerms)
	max = v.maxPerms.Intersect(translatePerms)
	if needCOW {
		effective.Write = false
		max.Write = false
	}
	return effective, max
}

// privateRefs counts the pmas that share each page of private memory,
// across a MemoryManager and its forks. A count of one means the pma owns
// the page outright and may write it without copying.
type privateRefs struct {
	mu sync.Mutex
	// refs maps MemoryFile ranges to their count; ranges absent have no
	// private owner. Guarded by mu.
	refs *rangeset.Set[uint64, int32]
	// check, if set, checks that shared pages do not change
	// (Options.CopyOnWriteChanged). Guarded by mu.
	check *sharedPageCheck
}

func newPrivateRefs(check *sharedPageCheck) *privateRefs {
	return &privateRefs{check: check, refs: rangeset.New(rangeset.Ops[uint64, int32]{
		Merge: func(_ memmap.FileRange, a int32, _ memmap.FileRange, b int32) (int32, bool) { return a, a == b },
	})}
}

// inc adds one owner to every page of fr.
func (p *privateRefs) inc(fr memmap.FileRange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pos := fr.Start
	shared := false
	for pos < fr.End {
		seg, gap := p.refs.Find(pos)
		if seg.Ok() {
			seg = p.refs.Isolate(seg, memmap.FileRange{Start: pos, End: fr.End})
			if seg.Value() == 1 && p.check != nil {
				p.check.shared(seg.Range())
			}
			seg.SetValue(seg.Value() + 1)
			pos = seg.End()
			shared = true
			continue
		}
		r := gap.Range().Intersect(fr)
		r.Start = pos
		// Insert merges with an equal neighbour in place: on the fault
		// path (fresh pages next to fresh pages) no entry is allocated.
		end := r.End
		p.refs.Insert(gap, r, 1)
		pos = end
	}
	if shared {
		// Only counts that changed in place can now equal a
		// neighbour's; insertions merged as they went.
		p.refs.MergeRange(fr)
		p.refs.MergeAdjacent(fr)
	}
}

// dec removes one owner from every page of fr.
func (p *privateRefs) dec(fr memmap.FileRange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seg := p.refs.LowerBoundSegment(fr.Start)
	for seg.Ok() && seg.Start() < fr.End {
		seg = p.refs.Isolate(seg, fr)
		if n := seg.Value(); n <= 2 && p.check != nil {
			p.check.unshared(seg.Range())
		}
		if n := seg.Value(); n <= 1 {
			seg = p.refs.Remove(seg).NextSegment()
		} else {
			seg.SetValue(n - 1)
			seg = seg.NextSegment()
		}
	}
	p.refs.MergeAdjacent(fr)
}

// soleOwner reports whether every page of fr has exactly one owner.
func (p *privateRefs) soleOwner(fr memmap.FileRange) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for seg := range p.refs.Segments(fr) {
		if seg.Value() != 1 {
			return false
		}
	}
	return p.refs.SpanRange(fr) == fr.Length()
}

// addRSSLocked and removeRSSLocked track RSS as pmas come and go.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) addRSSLocked(n uint64) {
	mm.curRSS += n
	if mm.curRSS > mm.maxRSS {
		mm.maxRSS = mm.curRSS
	}
}

func (mm *MemoryManager) removeRSSLocked(n uint64) { mm.curRSS -= n }

// releasePMALocked drops the references pseg's pma holds.
//
// Preconditions: mm.activeMu is locked; no AddressSpace mapping of pseg
// remains.
func (mm *MemoryManager) releasePMALocked(pseg pmaSeg) {
	p := pseg.ValuePtr()
	if p.guard {
		mm.guardBytes -= pseg.Range().Length()
		return
	}
	fr := fileRangeOf(pseg, pseg.Range())
	if p.private {
		mm.privateRefs.dec(fr)
	}
	p.file.DecRef(fr)
	if !p.zero && !p.untouched {
		mm.removeRSSLocked(pseg.Range().Length())
	}
}

// invalidateLocked removes the pmas in ar (private ones if private, the
// others if shared) and their AddressSpace mappings. Guard pmas stay, as
// Linux's zaps keep guard markers (only unmapping drops them:
// removeGuardsLocked).
//
// Preconditions: mm.activeMu is locked; ar is page-aligned.
func (mm *MemoryManager) invalidateLocked(ar arch.AddrRange, private, shared bool) {
	if private {
		mm.notePeakLocked(ar)
	}
	unmapped := false
	pseg := mm.pmas.LowerBoundSegment(ar.Start)
	for pseg.Ok() && pseg.Start() < ar.End {
		p := pseg.ValuePtr()
		// Zero pmas are the private anonymous memory's, dropped with it.
		isPrivate := p.private || p.zero
		if p.guard || (isPrivate && !private) || (!isPrivate && !shared) {
			pseg = pseg.NextSegment()
			continue
		}
		if !unmapped {
			// The guest must stop seeing the pages before their
			// references go.
			mm.unmapASLocked(ar)
			unmapped = true
		}
		pseg = mm.pmas.Isolate(pseg, ar)
		mm.releasePMALocked(pseg)
		pseg = mm.pmas.Remove(pseg).NextSegment()
	}
}

// unmapASLocked removes AddressSpace mappings in ar.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) unmapASLocked(ar arch.AddrRange) {
	if mm.as != nil && !ar.Empty() {
		mm.as.Unmap(ar)
	}
}

// mapASLocked maps every pma in ar into the AddressSpace with its
// effective permissions; pmas permitting nothing are left unmapped.
// opts.Untouched is each pma's own; opts.Used is what the caller is
// about to access.
//
// Preconditions: mm.activeMu is locked; ar is page-aligned.
func (mm *MemoryManager) mapASLocked(ar arch.AddrRange, opts MapOpts) error {
	if mm.as == nil {
		return nil
	}
	for pseg := range mm.pmas.Segments(ar) {
		p := pseg.ValuePtr()
		if !p.effectivePerms.Any() {
			continue
		}
		mr := pseg.Range().Intersect(ar)
		mm.mapCalls++
		opts.Untouched = p.untouched
		if err := mm.as.MapFile(mr.Start, p.file, fileRangeOf(pseg, mr), p.effectivePerms, opts); err != nil {
			return fmt.Errorf("mm: mapping %v into the address space: %w", mr, err)
		}
	}
	return nil
}

// faultAroundVMA returns what a fault on ar in the vma vseg may fill: the
// fault-around unit (faultAroundRange) within faultAroundBound (grewFrom
// is the stack's start before the fault grew it, 0 if it grew none), but
// only ar in a vma locked with MLOCK_ONFAULT, whose pages are locked one
// by one as they are touched: faulting neighbours in would lock memory the
// program never used, and show in smaps' Rss and Locked, where Linux has
// only the touched pages.
func (mm *MemoryManager) faultAroundVMA(ar arch.AddrRange, vseg vmaSeg, grewFrom arch.Addr) arch.AddrRange {
	// A userfaultfd's handler fills each missing page itself.
	if v := vseg.ValuePtr(); v.mlockMode == memmap.MLockLazy || v.gapsGoToHandler() {
		return ar
	}
	return mm.faultAroundRange(ar, mm.faultAroundBound(vseg, ar, grewFrom))
}

// faultAroundRange returns the fault-around unit holding ar, clipped to
// bound.
func (mm *MemoryManager) faultAroundRange(ar, bound arch.AddrRange) arch.AddrRange {
	start := ar.Start.AlignDown(mm.faultAround)
	end, ok := ar.End.AlignUp(mm.faultAround)
	if !ok {
		end = ar.End
	}
	return arch.AddrRange{Start: start, End: end}.Intersect(bound)
}

// getPMAsLocked makes sure pmas cover ar, which lies within the vma vseg;
// if at.Write and the vma is private, it also breaks copy-on-write in ar.
// optional is a superset of ar (within the vma) over which pmas may be
// created too: private anonymous memory is allocated for all of it, and it
// is offered to Mappable.Translate as its optional range.
//
// A guard page in ar stops it there: the pages before the guard are
// obtained as above, then it returns errGuardPage, as Linux's fault
// handling, populating and copies stop at the first guard marker.
//
// Preconditions: mm.mappingMu is locked; mm.activeMu is locked; ar and
// optional are page-aligned; vseg.Range() ⊇ optional ⊇ ar; ar non-empty.
func (mm *MemoryManager) getPMAsLocked(vseg vmaSeg, ar, optional arch.AddrRange, at arch.AccessType) error {
	guardAt, guarded := mm.firstGuardLocked(ar)
	if guarded {
		ar.End = guardAt
		if ar.Empty() {
			return errGuardPage
		}
	}
	if err := mm.getUnguardedPMAsLocked(vseg, ar, optional, at); err != nil {
		return err
	}
	if guarded {
		return errGuardPage
	}
	return nil
}

// getUnguardedPMAsLocked is getPMAsLocked for an ar holding no guard pma.
func (mm *MemoryManager) getUnguardedPMAsLocked(vseg vmaSeg, ar, optional arch.AddrRange, at arch.AccessType) error {
	v := vseg.ValuePtr()
	for gap := range mm.pmas.Gaps(ar) {
		gr := gap.Range().Intersect(ar)
		if gr.Empty() {
			continue
		}
		var missing error
		if v.gapsGoToHandler() {
			if a, reason, ok := mm.firstUserFaultLocked(vseg, gr); ok {
				missing = &errUserFault{ctx: v.uffd, addr: a, reason: reason}
				if a == gr.Start {
					return missing
				}
				gr.End = a // back what is there, then report the hole
			}
		}
		opt := gap.Range().Intersect(optional)
		if missing != nil {
			opt = gr
		}
		var err error
		switch {
		case v.isAnonymous() && !at.Write && mm.zeroPage:
			err = mm.zeroPMAsLocked(vseg, opt)
		case v.isAnonymous():
			err = mm.allocatePMAsLocked(vseg, opt, mm.as != nil)
		default:
			err = mm.translatePMAsLocked(vseg, gr, opt, at)
		}
		if err != nil {
			return err
		}
		if missing != nil {
			return missing
		}
	}
	if at.Write && v.uffdModes&UffdRegisterModeWP != 0 {
		// A write to a write-protected page goes to the handler
		// before any copy-on-write (do_wp_page's userfaultfd_pte_wp).
		if a, ok := mm.firstWriteProtectedLocked(ar); ok {
			if a > ar.Start && v.private {
				if err := mm.breakCOWLocked(vseg, arch.AddrRange{Start: ar.Start, End: a}); err != nil {
					return err
				}
			}
			return &errUserFault{ctx: v.uffd, addr: a, reason: UffdPagefaultFlagWP}
		}
	}
	if at.Write && v.private {
		return mm.breakCOWLocked(vseg, ar)
	}
	return nil
}

// firstWriteProtectedLocked returns the first write-protected page in ar.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) firstWriteProtectedLocked(ar arch.AddrRange) (arch.Addr, bool) {
	for pseg := range mm.pmas.Segments(ar) {
		if pseg.ValuePtr().uffdWP {
			return max(pseg.Start(), ar.Start), true
		}
	}
	return 0, false
}

// writeProtectPMAsLocked sets (wp) or clears the userfaultfd write
// protection of the present pages in ar, within the vma v (uffd_wp_range
// for private anonymous memory: change_protection with MM_CP_UFFD_WP or
// _RESOLVE). Protecting unmaps the pages' writable AddressSpace mappings,
// so that no vCPU writes them again before the next fault; clearing only
// lets the next write fault map them writable (or break copy-on-write).
//
// Preconditions: mm.activeMu is locked; v ⊇ ar; wp only where v is
// registered in WP mode.
func (mm *MemoryManager) writeProtectPMAsLocked(v *vma, ar arch.AddrRange, wp bool) {
	if wp {
		// Protecting unmaps: what the program touched must be known
		// first (untouched).
		mm.settleLocked(ar)
	}
	changed := false
	pseg := mm.pmas.LowerBoundSegment(ar.Start)
	for pseg.Ok() && pseg.Start() < ar.End {
		if p := pseg.ValuePtr(); p.guard || p.uffdWP == wp {
			pseg = pseg.NextSegment()
			continue
		}
		changed = true
		pseg = mm.pmas.Isolate(pseg, ar)
		p := pseg.ValuePtr()
		p.uffdWP = wp
		eff, maxp := pmaPermsFor(v, p.translatePerms, p.needCOW || wp)
		if !eff.SupersetOf(p.effectivePerms) {
			mm.unmapASLocked(pseg.Range())
		}
		p.effectivePerms, p.maxPerms = eff, maxp
		pseg = pseg.NextSegment()
	}
	if changed {
		mm.pmas.MergeRange(ar)
		mm.pmas.MergeAdjacent(ar)
	}
}

// allocatePMAsLocked backs ar, a gap in pmas within the private anonymous
// vma vseg, with fresh memory, untouched if asked: the memory is then
// resident only as the program uses it, and callers that use it on the
// program's behalf (copies, populating) touch it (touchLocked).
func (mm *MemoryManager) allocatePMAsLocked(vseg vmaSeg, ar arch.AddrRange, untouched bool) error {
	fr, err := mm.mf.Allocate(ar.Length(), memfile.AllocOpts{Kind: memfile.User})
	if err != nil {
		return err
	}
	mm.ensureAnonVMALocked(vseg)
	mm.privateRefs.inc(fr)
	v := vseg.ValuePtr()
	eff, maxp := pmaPermsFor(v, arch.AnyAccess, false)
	mm.pmas.Insert(mm.pmas.FindGap(ar.Start), ar, pma{
		file: mm.mf, off: fr.Start, translatePerms: arch.AnyAccess,
		effectivePerms: eff, maxPerms: maxp, private: true, untouched: untouched,
	})
	if !untouched {
		mm.addRSSLocked(ar.Length())
	}
	return nil
}

// settleLocked makes the untouched pmas in ar that the program has
// accessed, as the AddressSpace reports, touched pmas (in RSS), before
// their AddressSpace mappings and the record they keep go, or before
// residency is reported.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) settleLocked(ar arch.AddrRange) {
	if mm.as == nil {
		return
	}
	var used []arch.AddrRange
	for pseg := range mm.pmas.Segments(ar) {
		if pseg.ValuePtr().untouched {
			mm.as.Accessed(pseg.Range().Intersect(ar), func(r arch.AddrRange) { used = append(used, r) })
		}
	}
	for _, r := range used {
		mm.touchLocked(r)
	}
}

// notePeakLocked raises the peak RSS to what it is with the accessed pages
// of the untouched pmas in ar counted, before a zap drops them unsettled
// (Linux's update_hiwater_rss before unmapping).
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) notePeakLocked(ar arch.AddrRange) {
	if mm.as == nil {
		return
	}
	var used uint64
	for pseg := range mm.pmas.Segments(ar) {
		if pseg.ValuePtr().untouched {
			mm.as.Accessed(pseg.Range().Intersect(ar), func(r arch.AddrRange) { used += r.Length() })
		}
	}
	mm.maxRSS = max(mm.maxRSS, mm.curRSS+used)
}

// touchObtainedLocked touches what populating ar obtained, which stops at
// the first guard page, as Linux's populate faults pages in up to it.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) touchObtainedLocked(ar arch.AddrRange) {
	if guardAt, guarded := mm.firstGuardLocked(ar); guarded {
		ar.End = guardAt
	}
	mm.touchLocked(ar)
}

// touchLocked makes the untouched pmas in ar touched: the program, or mm
// on its behalf, has used those pages.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) touchLocked(ar arch.AddrRange) {
	changed := false
	pseg := mm.pmas.LowerBoundSegment(ar.Start)
	for pseg.Ok() && pseg.Start() < ar.End {
		if !pseg.ValuePtr().untouched {
			pseg = pseg.NextSegment()
			continue
		}
		changed = true
		pseg = mm.pmas.Isolate(pseg, ar)
		pseg.ValuePtr().untouched = false
		mm.addRSSLocked(pseg.Range().Length())
		pseg = pseg.NextSegment()
	}
	if changed {
		mm.pmas.MergeRange(ar)
		mm.pmas.MergeAdjacent(ar)
	}
}

// translatePMAsLocked caches the Mappable's translations of at least
// required (at most optional) as pmas.
func (mm *MemoryManager) translatePMAsLocked(vseg vmaSeg, required, optional arch.AddrRange, at arch.AccessType) error {
	v := vseg.ValuePtr()
	perms := v.maxPerms
	if v.private {
		// A private mapping never writes to the object: it reads a
		// translation and copies it on write.
		perms.Write = false
		at.Write = false
	}
	at.Execute = false
	ts, terr := v.mappable.Translate(mappableRangeOf(vseg, required), mappableRangeOf(vseg, optional), at)
	if err := memmap.CheckTranslateResult(mappableRangeOf(vseg, required), mappableRangeOf(vseg, optional), at, ts, terr); err != nil {
		return fmt.Errorf("mm: %w", err)
	}
	for _, t := range ts {
		ar := addrRangeOf(vseg, t.Source)
		gap := mm.pmas.FindGap(ar.Start)
		if !gap.Ok() || gap.End() < ar.End {
			// Already backed (cannot happen: Translate was asked
			// only about a gap); skip rather than corrupt the set.
			continue
		}
		tp := t.Perms.Intersect(perms)
		eff, maxp := pmaPermsFor(v, tp, v.private)
		t.File.IncRef(t.FileRange())
		mm.pmas.Insert(gap, ar, pma{
			file: t.File, off: t.Offset, translatePerms: tp,
			effectivePerms: eff, maxPerms: maxp, needCOW: v.private,
		})
		mm.addRSSLocked(ar.Length())
	}
	if terr != nil {
		if covered := mm.pmas.SpanRange(required); covered == required.Length() {
			return nil
		}
		return terr
	}
	return nil
}

// breakCOWLocked makes the pmas in ar writable private memory: a pma that
// is the only owner of its private pages just stops being copy-on-write;
// any other is copied.
//
// Preconditions: mm.activeMu is locked; pmas cover ar; vseg ⊇ ar.
func (mm *MemoryManager) breakCOWLocked(vseg vmaSeg, ar arch.AddrRange) error {
	v := vseg.ValuePtr()
	changed := false
	pseg := mm.pmas.FindSegment(ar.Start)
	for pseg.Ok() && pseg.Start() < ar.End {
		p := pseg.ValuePtr()
		if !p.needCOW {
			pseg = pseg.NextSegment()
			continue
		}
		changed = true
		pseg = mm.pmas.Isolate(pseg, ar)
		p = pseg.ValuePtr()
		fr := fileRangeOf(pseg, pseg.Range())
		if p.private && mm.privateRefs.soleOwner(fr) {
			p.needCOW = false
			p.effectivePerms, p.maxPerms = pmaPermsFor(v, p.translatePerms, false)
			pseg = pseg.NextSegment()
			continue
		}
		var nfr memmap.FileRange
		var err error
		if p.zero {
			// Fresh MemoryFile pages are zero: nothing to copy.
			nfr, err = mm.mf.Allocate(fr.Length(), memfile.AllocOpts{Kind: memfile.User})
		} else {
			nfr, err = mm.copyPagesLocked(p.file, fr)
		}
		if err != nil {
			return err
		}
		if p.zero || p.untouched {
			mm.addRSSLocked(fr.Length())
		}
		// Stop the guest from reading the old pages through a stale
		// mapping before they change under it.
		mm.unmapASLocked(pseg.Range())
		if p.private {
			mm.privateRefs.dec(fr)
		}
		p.file.DecRef(fr)
		mm.ensureAnonVMALocked(vseg)
		mm.privateRefs.inc(nfr)
		*p = pma{file: mm.mf, off: nfr.Start, translatePerms: arch.AnyAccess, private: true}
		p.effectivePerms, p.maxPerms = pmaPermsFor(v, arch.AnyAccess, false)
		pseg = pseg.NextSegment()
	}
	if changed {
		// Untouched pmas were merged already; only what was isolated
		// and rewritten can have become equal to a neighbour.
		mm.pmas.MergeRange(ar)
		mm.pmas.MergeAdjacent(ar)
	}
	return nil
}

// copyPagesLocked copies fr of f into fresh MemoryFile pages.
func (mm *MemoryManager) copyPagesLocked(f memmap.File, fr memmap.FileRange) (memmap.FileRange, error) {
	src, err := f.MapInternal(fr, arch.Read)
	if err != nil {
		return memmap.FileRange{}, &memmap.BusError{Err: err}
	}
	nfr, err := mm.mf.Allocate(fr.Length(), memfile.AllocOpts{Kind: memfile.User})
	if err != nil {
		return memmap.FileRange{}, err
	}
	dst, err := mm.mf.MapInternal(nfr, arch.Write)
	if err != nil {
		mm.mf.DecRef(nfr)
		return memmap.FileRange{}, err
	}
	copy(dst, src)
	return nfr, nil
}

// movePMAsLocked moves the pmas in oldAR to the same offsets from
// newAR.Start, unmapping oldAR from the AddressSpace.
//
// Preconditions: mm.activeMu is locked; no pmas in newAR; both
// page-aligned; oldAR.Length() <= newAR.Length().
func (mm *MemoryManager) movePMAsLocked(oldAR, newAR arch.AddrRange) {
	type moved struct {
		r arch.AddrRange
		p pma
	}
	var ms []moved
	mm.settleLocked(oldAR)
	pseg := mm.pmas.LowerBoundSegment(oldAR.Start)
	for pseg.Ok() && pseg.Start() < oldAR.End {
		// Guard pmas move too, as mremap moves Linux's guard markers
		// with the page tables.
		pseg = mm.pmas.Isolate(pseg, oldAR)
		ms = append(ms, moved{pseg.Range(), pseg.Value()})
		pseg = mm.pmas.Remove(pseg).NextSegment()
	}
	mm.unmapASLocked(oldAR)
	for _, m := range ms {
		r := arch.AddrRange{Start: m.r.Start - oldAR.Start + newAR.Start, End: m.r.End - oldAR.Start + newAR.Start}
		mm.pmas.Insert(mm.pmas.FindGap(r.Start), r, m.p)
	}
}

// refreshPMAPermsLocked recomputes the permissions of the pmas in ar from
// the vma vseg, unmapping them from the AddressSpace where they shrink.
//
// Preconditions: mm.activeMu is locked; vseg ⊇ ar.
func (mm *MemoryManager) refreshPMAPermsLocked(vseg vmaSeg, ar arch.AddrRange) {
	v := vseg.ValuePtr()
	mm.settleLocked(ar)
	pseg := mm.pmas.LowerBoundSegment(ar.Start)
	for pseg.Ok() && pseg.Start() < ar.End {
		pseg = mm.pmas.Isolate(pseg, ar)
		p := pseg.ValuePtr()
		eff, maxp := pmaPermsFor(v, p.translatePerms, p.needCOW || p.uffdWP)
		if !eff.SupersetOf(p.effectivePerms) {
			mm.unmapASLocked(pseg.Range())
		}
		p.effectivePerms, p.maxPerms = eff, maxp
		pseg = pseg.NextSegment()
	}
	mm.pmas.MergeRange(ar)
	mm.pmas.MergeAdjacent(ar)
}

// errIsBus reports whether err should reach the program as SIGBUS.
func errIsBus(err error) bool {
	var be *memmap.BusError
	return errors.As(err, &be)
}
