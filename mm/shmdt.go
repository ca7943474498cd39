package mm

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// ShmDetach implements shmdt(addr) as Linux's ksys_shmdt does, for the
// identities segment recognizes as System V shared memory segments
// (returning the segment's size): the first vma at or above addr that
// maps a segment at the offset its distance from addr gives is unmapped
// whole, which names the segment and its size; then every later vma of
// that segment, at its own offset from addr, that ends within the
// segment's size (rounded up to pages) of addr, is unmapped too: the
// pieces mprotect or munmap made of one attach. EINVAL if addr is not
// page-aligned or no vma matched.
func (mm *MemoryManager) ShmDetach(addr uint64, segment func(memmap.MappingIdentity) (uint64, bool)) error {
	if addr&arch.PageMask != 0 {
		return unix.EINVAL
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	start := arch.Addr(addr)
	// attachedAt says vseg maps a segment as an attach at addr would:
	// its offset is its distance from addr.
	attachedAt := func(vseg vmaSeg) (uint64, bool) {
		v := vseg.ValuePtr()
		if v.id == nil || vseg.Start() < start || uint64(vseg.Start()-start) != v.off {
			return 0, false
		}
		return segment(v.id)
	}
	vseg := mm.vmas.LowerBoundSegment(start)
	var id memmap.MappingIdentity
	var size uint64
	for ; vseg.Ok(); vseg = vseg.NextSegment() {
		if sz, ok := attachedAt(vseg); ok {
			id, size = vseg.ValuePtr().id, sz
			break
		}
	}
	if id == nil {
		return unix.EINVAL
	}
	// Unmapping changes the set: collect the ranges first, then unmap
	// each. A sealed vma stays, as Linux ignores the unmap's failure.
	limit := arch.PageAlign(size)
	ranges := []arch.AddrRange{vseg.Range()}
	for vseg = vseg.NextSegment(); vseg.Ok() && uint64(vseg.End()-start) <= limit; vseg = vseg.NextSegment() {
		if _, ok := attachedAt(vseg); ok && vseg.ValuePtr().id == id {
			ranges = append(ranges, vseg.Range())
		}
	}
	for _, r := range ranges {
		if !mm.sealedInLocked(r) {
			mm.unmapLocked(r)
		}
	}
	return nil
}
