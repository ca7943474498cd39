package mm

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// Guard regions (madvise MADV_GUARD_INSTALL and MADV_GUARD_REMOVE, Linux
// 6.13; any vma but locked, hugetlb and special ones since 6.15) make
// pages fault on every access without splitting vmas. Linux keeps them as
// guard PTE markers in the page tables; mm keeps them as guard pmas (see
// pma.guard), which no memory backs, so they move, fork and survive
// DONTNEED as Linux's markers do and cost nothing while there are none
// (MemoryManager.guardBytes).

// errGuardPage is what obtaining pmas over a guard page returns: Linux's
// VM_FAULT_SIGSEGV, which a user fault turns into SIGSEGV with SEGV_MAPERR
// and a copy to or from user memory, or populating, into EFAULT.
var errGuardPage = fmt.Errorf("mm: guard page (MADV_GUARD_INSTALL): %w", unix.EFAULT)

// firstGuardLocked returns the start of the first guard page in ar, if
// any.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) firstGuardLocked(ar arch.AddrRange) (arch.Addr, bool) {
	if mm.guardBytes == 0 {
		return 0, false
	}
	for pseg := range mm.pmas.Segments(ar) {
		if pseg.ValuePtr().guard {
			return max(pseg.Start(), ar.Start), true
		}
	}
	return 0, false
}

// madviseGuardInstallLocked implements MADV_GUARD_INSTALL on ar within
// the vma vseg (madvise_guard_install): a locked vma is refused; an
// anonymous one gets an anon_vma (its pages are no longer empty, so fork
// must copy them); the pages in ar are dropped and every page becomes a
// guard page. Installing over a guard page is a no-op for that page.
//
// Preconditions: mm.mappingMu is locked for writing; vseg ⊇ ar.
func (mm *MemoryManager) madviseGuardInstallLocked(vseg vmaSeg, ar arch.AddrRange) error {
	if vseg.ValuePtr().mlockMode != memmap.MLockNone {
		return unix.EINVAL // VM_LOCKED, with or without MLOCK_ONFAULT
	}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if vseg.ValuePtr().isAnonymous() {
		mm.ensureAnonVMALocked(vseg)
	}
	mm.invalidateLocked(ar, true, true)
	for gap := range mm.pmas.Gaps(ar) {
		gr := gap.Range().Intersect(ar)
		if gr.Empty() {
			continue
		}
		mm.pmas.Insert(gap, gr, pma{guard: true})
		mm.guardBytes += gr.Length()
	}
	return nil
}

// madviseGuardRemoveLocked implements MADV_GUARD_REMOVE on ar within one
// vma: the guard pages in it become ordinary empty pages again (anonymous
// memory reads as zero, a file's pages as the file). Locked vmas are
// allowed: removing a guard destroys nothing.
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) madviseGuardRemoveLocked(ar arch.AddrRange) {
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	mm.removeGuardsLocked(ar)
}

// removeGuardsLocked removes the guard pmas in ar.
//
// Preconditions: mm.activeMu is locked; ar is page-aligned.
func (mm *MemoryManager) removeGuardsLocked(ar arch.AddrRange) {
	if mm.guardBytes == 0 {
		return
	}
	pseg := mm.pmas.LowerBoundSegment(ar.Start)
	for pseg.Ok() && pseg.Start() < ar.End {
		if !pseg.ValuePtr().guard {
			pseg = pseg.NextSegment()
			continue
		}
		pseg = mm.pmas.Isolate(pseg, ar)
		mm.releasePMALocked(pseg)
		pseg = mm.pmas.Remove(pseg).NextSegment()
	}
}

// residentLocked returns the bytes of ar backed by memory of its own: its
// pmas other than guard pages and the zero page (Linux's Rss does not
// count the zero page either).
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) residentLocked(ar arch.AddrRange) uint64 {
	n := mm.pmas.SpanRange(ar)
	for pseg := range mm.pmas.Segments(ar) {
		if p := pseg.ValuePtr(); p.guard || p.zero {
			n -= pseg.Range().Intersect(ar).Length()
		}
	}
	return n
}
