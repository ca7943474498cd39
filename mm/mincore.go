package mm

import (
	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// MinCore implements mincore(2): vec receives one byte per page, 1 if the
// page is resident. vec must hold a byte for every page of the range
// (EFAULT otherwise, as for an unwritable vector).
func (mm *MemoryManager) MinCore(addr, length uint64, vec []byte) error {
	if addr&arch.PageMask != 0 {
		return unix.EINVAL
	}
	// The same check as the syscall layer's (syscalls' sysMincore), against
	// this address space's top.
	if end, ok := arch.Addr(addr).AddLength(length); !ok || end > mm.layout.TopOfUser {
		return unix.ENOMEM
	}
	pages := arch.PageAlign(length) >> arch.PageShift
	if uint64(len(vec)) < pages {
		return unix.EFAULT
	}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	ar := arch.AddrRange{Start: arch.Addr(addr), End: arch.Addr(addr + pages<<arch.PageShift)}
	clear(vec[:pages])
	mm.settleLocked(ar)
	pos := ar.Start
	for vseg := range mm.vmas.Segments(ar) {
		if vseg.Start() > pos {
			return unix.ENOMEM
		}
		vr := vseg.Range().Intersect(ar)
		mm.minCoreVMALocked(vseg, vr, vec[(vr.Start-ar.Start)>>arch.PageShift:])
		pos = vr.End
	}
	if pos < ar.End {
		return unix.ENOMEM
	}
	return nil
}

// minCoreVMALocked sets vec[i] to 1 for each resident page i of vr, a
// range within vseg: one with a pma (not a guard), or a page a shared
// anonymous object holds. It walks the pmas rather than the pages, so a
// huge range with few pmas costs little.
//
// Preconditions: mm.mappingMu and mm.activeMu are locked; vec is zero.
func (mm *MemoryManager) minCoreVMALocked(vseg vmaSeg, vr arch.AddrRange, vec []byte) {
	for pseg := range mm.pmas.Segments(vr) {
		if p := pseg.ValuePtr(); p.guard || p.untouched {
			continue
		}
		pr := pseg.Range().Intersect(vr)
		for i := (pr.Start - vr.Start) >> arch.PageShift; i < (pr.End-vr.Start)>>arch.PageShift; i++ {
			vec[i] = 1
		}
	}
	sa, ok := vseg.ValuePtr().mappable.(*SharedMemory)
	if !ok {
		return
	}
	for i, a := 0, vr.Start; a < vr.End; i, a = i+1, a+arch.PageSize {
		if vec[i] == 0 && sa.resident(mappableRangeOf(vseg, arch.AddrRange{Start: a, End: a + arch.PageSize}).Start) {
			vec[i] = 1
		}
	}
}
