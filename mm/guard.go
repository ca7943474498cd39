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
// (MemoryManager.guardBytes). As on the host kernel (6.18):
//
//   - Install is refused (EINVAL) on a locked vma (mlock, MLOCK_ONFAULT,
//     MAP_LOCKED) and accepted on anonymous, shared, file-backed,
//     read-only and PROT_NONE vmas. The range's pages are dropped (private
//     contents are gone; a shared object keeps its pages, which other
//     mappings still see) and an anonymous vma gets an anon_vma, so that
//     it no longer drops VM_ACCOUNT under mprotect nor merges after a
//     move. Installing over a guard is a no-op. The arguments are checked
//     as every madvise's: an unaligned start is EINVAL, length 0 is 0, the
//     length is rounded up to pages, holes give ENOMEM after the rest is
//     done. vmas never split.
//   - A user fault on a guard is SIGSEGV with SEGV_MAPERR (x86-64 reports
//     VM_FAULT_SIGSEGV so), after the vma's own check (SEGV_ACCERR on a
//     PROT_NONE vma). CopyIn, CopyOut and ZeroOut stop at the guard's
//     first byte with the bytes before it and EFAULT, with
//     IgnorePermissions too (get_user_pages faults on the marker).
//     MADV_POPULATE_* return EFAULT; mlock populates up to the guard,
//     keeps the lock and fails with ENOMEM (EFAULT from populate). mincore
//     reports a guard as not resident.
//   - Guards are kept by MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE,
//     MADV_REMOVE, Invalidate, mprotect and mlock; moved with the pages by
//     mremap (and by MREMAP_DONTUNMAP, leaving the source without); copied
//     by fork except in MADV_WIPEONFORK vmas; dropped by munmap, a mapping
//     over them and mremap's shrink. MADV_GUARD_REMOVE (allowed on locked
//     vmas) turns them back into empty pages: zeros for anonymous memory,
//     the object's pages otherwise.

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
// guard page. Installing over a guard page is a no-op for that page. The
// whole vma, not only ar, is marked as maybe holding guards
// (VM_MAYBE_GUARD, "gu" in smaps): Linux sets the flag without splitting.
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
	vseg.ValuePtr().flags |= vmaMaybeGuard
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
// pmas other than guard pages, the zero page (Linux's Rss does not count
// the zero page either) and untouched memory (settled by the caller).
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) residentLocked(ar arch.AddrRange) uint64 {
	n := mm.pmas.SpanRange(ar)
	for pseg := range mm.pmas.Segments(ar) {
		if p := pseg.ValuePtr(); p.guard || p.zero || p.untouched {
			n -= pseg.Range().Intersect(ar).Length()
		}
	}
	return n
}
