package pagetable

import "github.com/mmvm/mmvm/arch"

// Unmap removes every translation in va, splitting huge leaves that va
// cuts, and frees each table that empties. A table that va covers whole is
// freed without clearing its entries.
//
// Only splitting can fail (wrapping ErrNoTableMemory): then a prefix of va
// is unmapped and the rest is as it was; the returned Flush covers what was
// removed.
func (pt *PageTables) Unmap(va arch.AddrRange) (Flush, error) {
	if err := pt.checkArgs("unmap", va, 0, false); err != nil {
		return Flush{}, err
	}
	return pt.unmapChecked("unmap", va)
}

// unmapChecked is Unmap after its arguments passed checkArgs.
func (pt *PageTables) unmapChecked(op string, va arch.AddrRange) (Flush, error) {
	var fl Flush
	start, end := uint64(va.Start), uint64(va.End)
	if oneLeafTable(start, end) {
		if t, pde := pt.leafTable(start); t != nil {
			pt.unmapLeaves(t, pde, start, end, &fl)
			if liveCount(*pde) != 0 {
				return fl, nil
			}
			// The table emptied: the walk below frees it and any
			// table above that empties with it.
		}
	}
	if err := pt.unmapIn(pt.root, &pt.rootEntry, rootLevel, start, end, &fl); err != nil {
		return fl, tableMemoryError(op, va, err)
	}
	return fl, nil
}

// unmapIn removes the translations of [va, end) within the level-l table t,
// whose parent entry is *pe.
func (pt *PageTables) unmapIn(t *[512]uint64, pe *uint64, l int, va, end uint64, fl *Flush) error {
	shift := levelShift(l)
	size := uint64(1) << shift
	for va < end {
		next := entryEnd(va, end, shift)
		e := &t[(va>>shift)&indexMask]
		old := *e
		switch {
		case old&entryPresent == 0:
		case next-va == size:
			if isTable(old, l) {
				pt.freeTable(old, l-1)
				fl.add(va, next, old&entryBelowGlobal != 0)
			} else {
				fl.add(va, next, old&entryGlobal != 0)
			}
			*e = 0
			*pe -= countOne
			pt.rewritten(e, 1)
		default:
			if err := pt.unmapBelow(e, pe, l, va, next, fl); err != nil {
				return err
			}
		}
		va = next
	}
	return nil
}

// unmapBelow removes [va, next), part of the span of the present level-l
// entry *e, through the table below it.
func (pt *PageTables) unmapBelow(e, pe *uint64, l int, va, next uint64, fl *Flush) error {
	child, err := pt.childFor(e, l)
	if err != nil {
		return err
	}
	if l == 2 {
		pt.unmapLeaves(child, e, va, next, fl)
	} else {
		err = pt.unmapIn(child, e, l-1, va, next, fl)
	}
	pt.dropIfEmpty(e, pe)
	return err
}

// unmapLeaves clears the level-1 entries of t for [va, end); *pe is the
// entry referencing t.
func (pt *PageTables) unmapLeaves(t *[512]uint64, pe *uint64, va, end uint64, fl *Flush) {
	_, ents := leafSpan(t, va, end)
	var removed uint64
	lo, hi := -1, -1
	global := false
	for j, old := range ents {
		if old&entryPresent == 0 {
			continue
		}
		removed++
		if lo < 0 {
			lo = j
		}
		hi = j
		global = global || old&entryGlobal != 0
		ents[j] = 0
	}
	*pe -= removed << countShift
	if lo >= 0 {
		fl.add(va+uint64(lo)<<arch.PageShift, va+uint64(hi+1)<<arch.PageShift, global)
		pt.rewritten(&ents[lo], hi-lo+1)
	}
}
