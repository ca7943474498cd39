package pagetable

import (
	"reflect"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// touch sets the accessed bit of the leaf mapping va, as the processor
// does at the first access.
func touch(t *testing.T, pt *PageTables, va uint64) {
	t.Helper()
	tab := pt.root
	for l := rootLevel; l >= 1; l-- {
		e := &tab[(va>>levelShift(l))&indexMask]
		if *e&entryPresent == 0 {
			t.Fatalf("%#x not mapped", va)
		}
		if !isTable(*e, l) {
			*e |= entryAccessed
			return
		}
		tab = pt.alloc.TableAt(*e & entryAddrMask)
	}
}

func accessedRuns(pt *PageTables, va arch.AddrRange) []arch.AddrRange {
	var runs []arch.AddrRange
	pt.Accessed(va, func(r arch.AddrRange) { runs = append(runs, r) })
	return runs
}

// TestAccessed: leaves mapped Untouched report only the pages the
// processor marked accessed, remapping the same translation keeps the
// mark, and leaves mapped without Untouched count as accessed.
func TestAccessed(t *testing.T) {
	pt, _ := newTables(t, false, 64)
	untouched := MapOpts{Access: arch.ReadWrite, User: true, Untouched: true}
	const base = 0x40000000
	if _, err := pt.Map(rng(base, base+8*arch.PageSize), 0x100000, untouched); err != nil {
		t.Fatal(err)
	}
	if runs := accessedRuns(pt, rng(base, base+8*arch.PageSize)); runs != nil {
		t.Fatalf("fresh untouched leaves report %v accessed", runs)
	}
	touch(t, pt, base+arch.PageSize)
	touch(t, pt, base+2*arch.PageSize)
	touch(t, pt, base+5*arch.PageSize)
	want := []arch.AddrRange{rng(base+arch.PageSize, base+3*arch.PageSize), rng(base+5*arch.PageSize, base+6*arch.PageSize)}
	if runs := accessedRuns(pt, rng(base, base+8*arch.PageSize)); !reflect.DeepEqual(runs, want) {
		t.Fatalf("accessed %v, want %v", runs, want)
	}
	// A fault remaps its fault-around unit: what was used stays used.
	if _, err := pt.Map(rng(base, base+8*arch.PageSize), 0x100000, untouched); err != nil {
		t.Fatal(err)
	}
	if runs := accessedRuns(pt, rng(base, base+8*arch.PageSize)); !reflect.DeepEqual(runs, want) {
		t.Fatalf("after remapping: accessed %v, want %v", runs, want)
	}
	// Another page there is a new translation, untouched again.
	if _, err := pt.Map(rng(base+arch.PageSize, base+2*arch.PageSize), 0x900000, untouched); err != nil {
		t.Fatal(err)
	}
	want[0].Start = base + 2*arch.PageSize
	if runs := accessedRuns(pt, rng(base, base+8*arch.PageSize)); !reflect.DeepEqual(runs, want) {
		t.Fatalf("after a new translation: accessed %v, want %v", runs, want)
	}
	// Ordinary mappings, huge leaves included, are accessed from the start.
	if _, err := pt.Map(rng(base+arch.HugePageSize, base+2*arch.HugePageSize), 0x200000, rw); err != nil {
		t.Fatal(err)
	}
	if runs := accessedRuns(pt, rng(base+arch.HugePageSize-arch.PageSize, base+2*arch.HugePageSize)); !reflect.DeepEqual(runs, []arch.AddrRange{rng(base+arch.HugePageSize, base+2*arch.HugePageSize)}) {
		t.Fatalf("ordinary huge leaf: accessed %v", runs)
	}
}
