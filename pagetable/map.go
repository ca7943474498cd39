package pagetable

import "github.com/mmvm/mmvm/arch"

// Map maps va to the physical range starting at pa with permissions o,
// replacing whatever va mapped before. It uses the largest leaves that the
// alignment of both va and pa allows (1 GiB ones only with
// Features.GiantPages). An o without any access unmaps va.
//
// On an allocation failure (wrapping ErrNoTableMemory) a prefix of va is
// mapped and the rest is as it was; the returned Flush covers the
// translations already changed, and no empty table is left behind.
func (pt *PageTables) Map(va arch.AddrRange, pa uint64, o MapOpts) (Flush, error) {
	if err := pt.checkArgs("map", va, pa, o.User); err != nil {
		return Flush{}, err
	}
	if !o.Access.Any() {
		return pt.unmapChecked("map", va)
	}
	var fl Flush
	start, end := uint64(va.Start), uint64(va.End)
	bits := leafBits(o)
	if bits&entryGlobal == 0 && oneLeafTable(start, end) {
		// Fast path: the level-1 table exists, nothing to allocate.
		// (Global leaves take the walk, which flags every level.)
		if t, pde := pt.leafTable(start); t != nil {
			pt.mapLeaves(t, pde, start, end, pa-start, bits, &fl)
			return fl, nil
		}
	}
	if err := pt.mapIn(pt.root, &pt.rootEntry, rootLevel, start, end, pa-start, bits, &fl); err != nil {
		return fl, tableMemoryError("map", va, err)
	}
	return fl, nil
}

// mapIn maps [va, end) within the level-l table t, whose parent entry is
// *pe; the physical address of each va is va+delta (mod 2^64).
func (pt *PageTables) mapIn(t *[512]uint64, pe *uint64, l int, va, end, delta, bits uint64, fl *Flush) error {
	shift := levelShift(l)
	size := uint64(1) << shift
	leafOK := l == 2 || (l == 3 && pt.giant)
	for va < end {
		next := entryEnd(va, end, shift)
		e := &t[(va>>shift)&indexMask]
		if leafOK && next-va == size && (va+delta)&(size-1) == 0 {
			pt.setHugeLeaf(e, pe, l, va, next, (va+delta)|bits|entryHuge, fl)
		} else if err := pt.mapBelow(e, pe, l, va, next, delta, bits, fl); err != nil {
			return err
		}
		va = next
	}
	return nil
}

// setHugeLeaf installs leaf in the level-l entry *e for [va, next), freeing
// any table that was below it.
func (pt *PageTables) setHugeLeaf(e, pe *uint64, l int, va, next, leaf uint64, fl *Flush) {
	old := *e
	switch {
	case old&entryPresent == 0:
		*pe += countOne
	case isTable(old, l):
		pt.freeTable(old, l-1)
		fl.add(va, next, old&entryBelowGlobal != 0)
		pt.rewritten(e, 1)
	case (old^leaf)&^entryAD != 0:
		fl.add(va, next, old&entryGlobal != 0)
		pt.rewritten(e, 1)
	default:
		// The same translation: what the processor recorded stays.
		leaf |= old & entryAD
	}
	*e = leaf
	if leaf&entryGlobal != 0 {
		*pe |= entryBelowGlobal
	}
}

// mapBelow maps [va, next) through the table below the level-l entry *e,
// allocating that table or splitting a huge leaf as needed.
func (pt *PageTables) mapBelow(e, pe *uint64, l int, va, next, delta, bits uint64, fl *Flush) error {
	var child *[512]uint64
	if *e&entryPresent == 0 {
		phys, t, err := pt.alloc.AllocTable()
		if err != nil {
			return err
		}
		pt.tables++
		*e = phys | tableEntryBits
		*pe += countOne
		child = t
	} else {
		t, err := pt.childFor(e, l)
		if err != nil {
			return err
		}
		child = t
	}
	if bits&entryGlobal != 0 {
		// Before descending: a failure below may leave global leaves.
		*e |= entryBelowGlobal
	}
	if l == 2 {
		pt.mapLeaves(child, e, va, next, delta, bits, fl)
	} else if err := pt.mapIn(child, e, l-1, va, next, delta, bits, fl); err != nil {
		// A table allocated above for nothing must not stay.
		pt.dropIfEmpty(e, pe)
		return err
	}
	return nil
}

// mapLeaves fills the level-1 entries of t for [va, end); *pe is the entry
// referencing t. This is the loop that small-page mappings spend their time
// in, so it keeps its bookkeeping in locals.
func (pt *PageTables) mapLeaves(t *[512]uint64, pe *uint64, va, end, delta, bits uint64, fl *Flush) {
	_, ents := leafSpan(t, va, end)
	leaf := (va + delta) | bits
	var added uint64
	lo, hi := -1, -1
	global := false
	for j, old := range ents {
		if old&entryPresent == 0 {
			added++
		} else if (old^leaf)&^entryAD != 0 {
			if lo < 0 {
				lo = j
			}
			hi = j
			global = global || old&entryGlobal != 0
		} else {
			// The same translation: what the processor recorded
			// stays.
			ents[j] = leaf | old&entryAD
			leaf += arch.PageSize
			continue
		}
		ents[j] = leaf
		leaf += arch.PageSize
	}
	*pe += added << countShift
	if lo >= 0 {
		fl.add(va+uint64(lo)<<arch.PageShift, va+uint64(hi+1)<<arch.PageShift, global)
		pt.rewritten(&ents[lo], hi-lo+1)
	}
}
