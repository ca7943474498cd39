package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// populateStep is how much of a range one step of a populate backs before
// asking Options.Interrupted whether to go on: a populate can cover all of
// the guest's memory, and a deadline must end it within milliseconds.
const populateStep = 16 << 20

// populateStopped reports whether the populate under way must stop before
// its next step.
func (mm *MemoryManager) populateStopped() bool {
	return mm.interrupted != nil && mm.interrupted()
}

// populateSteps calls f on ar cut at multiples of populateStep, stopping at
// f's first error or with EINTR when populateStopped says so.
func (mm *MemoryManager) populateSteps(ar arch.AddrRange, f func(arch.AddrRange) error) error {
	for start := ar.Start; start < ar.End; {
		if mm.populateStopped() {
			return unix.EINTR
		}
		end := ar.End
		if next := (start + populateStep) &^ (populateStep - 1); next > start && next < end {
			end = next
		}
		if err := f(arch.AddrRange{Start: start, End: end}); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// populateLocked backs and maps the vma vseg within ar, as MAP_POPULATE
// and mlock do, in populateSteps; it returns the first error Linux's
// populate would report (callers translate or ignore it). Inaccessible
// vmas fail with EFAULT; lazily locked ones are skipped.
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
	return mm.populateSteps(ar, func(step arch.AddrRange) error {
		mm.activeMu.Lock()
		defer mm.activeMu.Unlock()
		err := mm.getPMAsLocked(vseg, step, step, at)
		mm.touchObtainedLocked(step)
		if err != nil {
			return err
		}
		return mm.mapASLocked(step, MapOpts{Precommit: true})
	})
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
