package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// populateLocked backs and maps the vma vseg within ar, as MAP_POPULATE
// and mlock do; it returns the first error Linux's populate would report
// (callers translate or ignore it). Inaccessible vmas fail with EFAULT;
// lazily locked ones are skipped.
//
// Preconditions: mm.mappingMu is locked; vseg ⊇ ar.
func (mm *MemoryManager) populateLocked(vseg vmaSeg, ar arch.AddrRange) error {
	v := vseg.ValuePtr()
	if v.mlockMode == memmap.MLockLazy {
		return nil
	}
	if !v.effectivePerms.Any() {
		return unix.EFAULT
	}
	at := arch.Read
	if v.realPerms.Write && v.private {
		at = arch.Write
	}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if err := mm.getPMAsLocked(vseg, ar, ar, at); err != nil {
		return err
	}
	return mm.mapASLocked(ar, true)
}

// populateRangeLocked populates every vma in ar (__mm_populate); it stops
// at the first error and returns it.
func (mm *MemoryManager) populateRangeLocked(ar arch.AddrRange) error {
	for vseg := range mm.vmas.Segments(ar) {
		if err := mm.populateLocked(vseg, vseg.Range().Intersect(ar)); err != nil {
			return err
		}
	}
	return nil
}
