package pagetable

import "github.com/mmvm/mmvm/arch"

// Protect gives every translation in va the permissions o, keeping its
// physical address; addresses without a translation stay without one. Huge
// leaves that va cuts are split. An o without any access unmaps va (x86-64
// has no present-but-inaccessible entry).
//
// Only splitting can fail (wrapping ErrNoTableMemory): then a prefix of va
// has the new permissions and the rest is as it was.
func (pt *PageTables) Protect(va arch.AddrRange, o MapOpts) (Flush, error) {
	if err := pt.checkArgs("protect", va, 0, o.User); err != nil {
		return Flush{}, err
	}
	if !o.Access.Any() {
		return pt.unmapChecked("protect", va)
	}
	var fl Flush
	start, end := uint64(va.Start), uint64(va.End)
	bits := leafBits(o)
	if bits&entryGlobal == 0 && oneLeafTable(start, end) {
		if t, _ := pt.leafTable(start); t != nil {
			pt.protectLeaves(t, start, end, bits, &fl)
			return fl, nil
		}
	}
	if err := pt.protectIn(pt.root, &pt.rootEntry, rootLevel, start, end, bits, &fl); err != nil {
		return fl, tableMemoryError("protect", va, err)
	}
	return fl, nil
}

// protectIn sets the leaf flags bits on the translations of [va, end) within
// the level-l table t, whose parent entry is *pe.
func (pt *PageTables) protectIn(t *[512]uint64, pe *uint64, l int, va, end, bits uint64, fl *Flush) error {
	shift := levelShift(l)
	size := uint64(1) << shift
	for va < end {
		next := entryEnd(va, end, shift)
		e := &t[(va>>shift)&indexMask]
		old := *e
		switch {
		case old&entryPresent == 0:
		case isTable(old, l) || next-va != size:
			child, err := pt.childFor(e, l)
			if err != nil {
				return err
			}
			if bits&entryGlobal != 0 {
				*e |= entryBelowGlobal
			}
			if l == 2 {
				pt.protectLeaves(child, va, next, bits, fl)
			} else if err := pt.protectIn(child, e, l-1, va, next, bits, fl); err != nil {
				return err
			}
		default:
			leaf := old&(entryAddrMask|entryHuge) | bits
			*e = leaf
			if (old^leaf)&^entryAD != 0 {
				fl.add(va, next, old&entryGlobal != 0)
				pt.rewritten(e, 1)
			}
			if bits&entryGlobal != 0 {
				*pe |= entryBelowGlobal
			}
		}
		va = next
	}
	return nil
}

// protectLeaves sets the leaf flags bits on the present level-1 entries of
// t for [va, end).
func (pt *PageTables) protectLeaves(t *[512]uint64, va, end, bits uint64, fl *Flush) {
	_, ents := leafSpan(t, va, end)
	lo, hi := -1, -1
	global := false
	for j, old := range ents {
		if old&entryPresent == 0 {
			continue
		}
		leaf := old&entryAddrMask | bits
		if (old^leaf)&^entryAD != 0 {
			if lo < 0 {
				lo = j
			}
			hi = j
			global = global || old&entryGlobal != 0
		}
		ents[j] = leaf
	}
	if lo >= 0 {
		fl.add(va+uint64(lo)<<arch.PageShift, va+uint64(hi+1)<<arch.PageShift, global)
		pt.rewritten(&ents[lo], hi-lo+1)
	}
}
