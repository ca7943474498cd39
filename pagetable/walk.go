package pagetable

import "github.com/mmvm/mmvm/arch"

// entryEnd returns the end of the span of the entry (of 1<<shift bytes) that
// holds va, clipped to end. The last entry of the address space ends at 2^64,
// which wraps to 0; end is the answer there too.
func entryEnd(va, end uint64, shift uint) uint64 {
	next := (va | (1<<shift - 1)) + 1
	if next > end || next == 0 {
		return end
	}
	return next
}

// leafSpan returns the index of the first level-1 entry holding va and the
// entries of t that [va, end) covers; [va, end) lies within t's 2 MiB.
func leafSpan(t *[512]uint64, va, end uint64) (first uint64, ents []uint64) {
	first = (va >> arch.PageShift) & indexMask
	return first, t[first : first+(end-va)>>arch.PageShift]
}

// childFor returns the table below the present level-l entry *e, splitting
// *e first if it is a huge leaf.
func (pt *PageTables) childFor(e *uint64, l int) (*[512]uint64, error) {
	if isTable(*e, l) {
		return pt.alloc.TableAt(*e & entryAddrMask), nil
	}
	return pt.split(e, l)
}

// split replaces the huge leaf *e of a level-l table (l is 2 or 3) with a
// full table of level l-1 holding the same translations with the same
// permissions. The translations do not change, so the TLB need not drop
// anything (SDM Vol. 3A, 4.10.2.3: only a change of page size together with
// frame or attributes is ambiguous). On failure *e is left as it was.
func (pt *PageTables) split(e *uint64, l int) (*[512]uint64, error) {
	old := *e
	phys, t, err := pt.alloc.AllocTable()
	if err != nil {
		return nil, err
	}
	pt.tables++
	size := uint64(1) << levelShift(l)
	step := uint64(1) << levelShift(l-1)
	flags := old &^ entryAddrMask
	if l-1 == 1 {
		flags &^= entryHuge // bit 7 of a 4 KiB entry is PAT
	}
	next := old&entryAddrMask&^(size-1) | flags
	for i := range t {
		t[i] = next
		next += step
	}
	ne := phys | tableEntryBits | entriesPerTable<<countShift
	if old&entryGlobal != 0 {
		ne |= entryBelowGlobal
	}
	*e = ne
	pt.rewritten(e, 1)
	return t, nil
}

// dropIfEmpty frees the table below the level-l entry *e once it holds no
// present entry, and clears *e in its table, whose parent entry is *pe.
func (pt *PageTables) dropIfEmpty(e, pe *uint64) {
	if liveCount(*e) != 0 {
		return
	}
	pt.alloc.FreeTable(*e & entryAddrMask)
	pt.tables--
	pt.lastKey = 0
	*e = 0
	*pe -= countOne
	pt.rewritten(e, 1)
}

// Accessed calls fn for each maximal run of va's user pages whose leaves
// have their accessed bit set, in address order: the pages the processor
// has used since a Map with Untouched (a huge leaf counts as a whole).
// Pages not mapped are not reported.
func (pt *PageTables) Accessed(va arch.AddrRange, fn func(arch.AddrRange)) {
	if pt.root == nil || va.Empty() {
		return
	}
	var run arch.AddrRange
	pt.accessedIn(pt.root, rootLevel, uint64(va.Start), uint64(va.End), &run, fn)
	if !run.Empty() {
		fn(run)
	}
}

// accessedIn is Accessed within the level-l table t; run is the run being
// gathered, reported once a page breaks it.
func (pt *PageTables) accessedIn(t *[512]uint64, l int, va, end uint64, run *arch.AddrRange, fn func(arch.AddrRange)) {
	shift := levelShift(l)
	for va < end {
		next := entryEnd(va, end, shift)
		e := t[(va>>shift)&indexMask]
		switch {
		case e&entryPresent == 0:
		case isTable(e, l):
			pt.accessedIn(pt.alloc.TableAt(e&entryAddrMask), l-1, va, next, run, fn)
		case e&entryAccessed != 0:
			if uint64(run.End) == va && !run.Empty() {
				run.End = arch.Addr(next)
			} else {
				if !run.Empty() {
					fn(*run)
				}
				*run = arch.AddrRange{Start: arch.Addr(va), End: arch.Addr(next)}
			}
		}
		va = next
	}
}

// MarkAccessed sets the accessed bit of the leaves mapping va's pages, as
// the processor's first access would; pages not mapped are skipped.
func (pt *PageTables) MarkAccessed(va arch.AddrRange) {
	for a := uint64(va.Start); a < uint64(va.End); {
		t := pt.root
		next := uint64(va.End)
		for l := rootLevel; t != nil && l >= 1; l-- {
			shift := levelShift(l)
			e := &t[(a>>shift)&indexMask]
			next = entryEnd(a, uint64(va.End), shift)
			switch {
			case *e&entryPresent == 0:
				t = nil
			case isTable(*e, l):
				t = pt.alloc.TableAt(*e & entryAddrMask)
			default:
				*e |= entryAccessed
				t = nil
			}
		}
		a = next
	}
}
