package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// BrkSetup sets the heap's start (and its end) to addr, unmapping any
// previous heap; dataSeg is the loader's data segment, which counts
// towards RLIMIT_DATA with the heap.
func (mm *MemoryManager) BrkSetup(addr arch.Addr, dataSeg arch.AddrRange) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if mm.brk.Length() != 0 {
		if end, ok := mm.brk.End.RoundUp(); ok {
			mm.unmapLocked(arch.AddrRange{Start: mm.brk.Start.RoundDown(), End: end})
		}
	}
	mm.brk = arch.AddrRange{Start: addr, End: addr}
	mm.dataSeg = dataSeg
}

// SetCode records the program's code, [start_code, end_code), which
// /proc/pid/status's VmExe measures.
func (mm *MemoryManager) SetCode(code arch.AddrRange) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.code = code
}

// Brk implements brk(2): it returns the new break, or the old one (with
// the reason as error) when the request fails; the syscall returns the
// address either way.
func (mm *MemoryManager) Brk(addr uint64) (arch.Addr, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	old := mm.brk.End
	newBrk := arch.Addr(addr)
	if newBrk < mm.brk.Start {
		return old, unix.EINVAL
	}
	if mm.limits.Data != Unlimited && uint64(newBrk-mm.brk.Start)+mm.dataSeg.Length() > mm.limits.Data {
		return old, unix.ENOMEM
	}
	newPage, ok := newBrk.RoundUp()
	if !ok {
		return old, unix.ENOMEM
	}
	oldPage := old.MustRoundUp()
	switch {
	case newPage == oldPage:
		mm.brk.End = newBrk
		return newBrk, nil
	case newBrk <= old:
		return mm.shrinkBrkLocked(newBrk, newPage, oldPage)
	default:
		return mm.growBrkLocked(newBrk, newPage, oldPage)
	}
}

// shrinkBrkLocked lowers the break, unmapping [newPage, oldPage); as in
// Linux it fails if no vma is left there.
func (mm *MemoryManager) shrinkBrkLocked(newBrk, newPage, oldPage arch.Addr) (arch.Addr, error) {
	ar := arch.AddrRange{Start: newPage, End: oldPage}
	if !mm.overlapsVMALocked(ar) {
		return mm.brk.End, unix.ENOMEM
	}
	if err := mm.checkUnmapSplitLocked(ar); err != nil {
		return mm.brk.End, err
	}
	mm.brk.End = newBrk
	mm.unmapLocked(ar)
	return newBrk, nil
}

// growBrkLocked raises the break, mapping [oldPage, newPage) as heap.
func (mm *MemoryManager) growBrkLocked(newBrk, newPage, oldPage arch.Addr) (arch.Addr, error) {
	old := mm.brk.End
	// The heap must stay a page plus a stack guard gap below whatever
	// comes next.
	if next := mm.vmas.LowerBoundSegment(oldPage); next.Ok() && uint64(newPage)+arch.PageSize > uint64(vmaStartGap(next)) {
		return old, unix.ENOMEM
	}
	if newPage > mm.layout.TopOfUser {
		return old, unix.ENOMEM
	}
	v := vma{
		off: uint64(oldPage), realPerms: arch.ReadWrite, effectivePerms: arch.ReadWrite,
		maxPerms: arch.AnyAccess, private: true, mlockMode: mm.defMLockMode, flags: vmaAccount,
	}
	ar := arch.AddrRange{Start: oldPage, End: newPage}
	if !mm.mayExpandLocked(&v, ar.Length()) || mm.vmas.Len() > mm.limits.MaxMapCount {
		return old, unix.ENOMEM
	}
	if !mm.mlockFutureOKLocked(v.mlockMode, ar.Length()) || !mm.enoughMemoryLocked(ar.Length()) {
		return old, unix.ENOMEM
	}
	vseg := mm.insertBrkVMALocked(ar, v)
	mm.brk.End = newBrk
	if v.mlockMode == memmap.MLockEager {
		_ = mm.populateLocked(vseg, ar) // errors surface on access, as in Linux
	}
	return newBrk, nil
}

// insertBrkVMALocked inserts v at ar, the pages the heap grows by, as
// Linux's do_brk_flags: merged into the vma below only where that vma is
// the heap's own (it reaches above start_brk), never into the data
// segment's bss below start_brk, nor into the vma above.
//
// Preconditions: mm.mappingMu is locked for writing; ar is free.
func (mm *MemoryManager) insertBrkVMALocked(ar arch.AddrRange, v vma) vmaSeg {
	mm.addVMAStatsLocked(&v, ar.Length())
	vseg := mm.vmas.InsertWithoutMerging(mm.vmas.FindGap(ar.Start), ar, v)
	if prev := vseg.PrevSegment(); prev.Ok() && prev.End() == ar.Start && prev.End() > mm.brk.Start {
		if merged, ok := mm.vmas.Merge(prev, vseg); ok {
			return merged
		}
	}
	return vseg
}

// BrkRange returns the heap: [start_brk, brk).
func (mm *MemoryManager) BrkRange() arch.AddrRange {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	return mm.brk
}
