package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// MSync implements msync(2): MS_SYNC writes shared file mappings back
// through their identity; MS_INVALIDATE fails with EBUSY on locked vmas;
// unmapped parts give ENOMEM (at once for plain MS_ASYNC).
func (mm *MemoryManager) MSync(addr, length, flags uint64) error {
	f := uint32(flags) // an int in Linux's prototype
	switch {
	case f&^(unix.MS_ASYNC|unix.MS_INVALIDATE|unix.MS_SYNC) != 0:
		return unix.EINVAL
	case addr&arch.PageMask != 0:
		return unix.EINVAL
	case f&unix.MS_ASYNC != 0 && f&unix.MS_SYNC != 0:
		return unix.EINVAL
	}
	alen := arch.PageAlign(length)
	start := arch.Addr(addr)
	end := start + arch.Addr(alen)
	if end < start {
		return unix.ENOMEM
	}
	if end == start {
		return nil
	}
	var unmapped error
	mm.mappingMu.RLock()
	for {
		vseg := mm.vmas.LowerBoundSegment(start)
		if !vseg.Ok() {
			mm.mappingMu.RUnlock()
			return unix.ENOMEM
		}
		if start < vseg.Start() {
			if f == unix.MS_ASYNC {
				mm.mappingMu.RUnlock()
				return unix.ENOMEM
			}
			start = vseg.Start()
			if start >= end {
				mm.mappingMu.RUnlock()
				return unix.ENOMEM
			}
			unmapped = unix.ENOMEM
		}
		v := vseg.ValuePtr()
		if f&unix.MS_INVALIDATE != 0 && v.mlockMode != memmap.MLockNone {
			mm.mappingMu.RUnlock()
			return unix.EBUSY
		}
		r := arch.AddrRange{Start: start, End: min(end, vseg.End())}
		start = vseg.End()
		if f&unix.MS_SYNC != 0 && v.id != nil && !v.private {
			// Msync may take locks that precede mappingMu.
			id, mr := v.id, mappableRangeOf(vseg, r)
			id.IncRef()
			mm.mappingMu.RUnlock()
			err := id.Msync(mr)
			id.DecRef()
			if err != nil {
				return err
			}
			if start >= end {
				return unmapped
			}
			mm.mappingMu.RLock()
			continue
		}
		if start >= end {
			mm.mappingMu.RUnlock()
			return unmapped
		}
	}
}
