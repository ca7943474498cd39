package pagetable

import (
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// The model: every 4 KiB page of a window maps to a physical page with
// permissions, or to nothing. Tests apply each operation to the model and to
// the page tables, then compare what sdmWalk sees with the model.

// Model permission bits; 0 means no translation.
const (
	mPresent uint8 = 1 << iota
	mWrite
	mExec
	mUser
	mGlobal
)

type mpage struct {
	pa   uint64
	perm uint8
}

// modelPerm is what a present translation made with o allows: x86-64 has
// no unreadable present page, so any access at all means present.
func modelPerm(o MapOpts) uint8 {
	if !o.Access.Any() {
		return 0
	}
	p := mPresent
	if o.Access.Write {
		p |= mWrite
	}
	if o.Access.Execute {
		p |= mExec
	}
	if o.User {
		p |= mUser
	}
	if o.Global {
		p |= mGlobal
	}
	return p
}

// window is a modelled stretch of virtual addresses.
type window struct {
	base  uint64
	pages []mpage
	user  bool // user mappings allowed here
}

func newWindow(base, size uint64, user bool) *window {
	return &window{base: base, pages: make([]mpage, size>>arch.PageShift), user: user}
}

func (w *window) end() uint64 { return w.base + uint64(len(w.pages))<<arch.PageShift }

// change records what a model operation did to translations that existed:
// the span of pages whose translation went away or changed, and whether any
// of those was global.
type change struct {
	lo, hi uint64 // [lo, hi) in bytes; lo == hi when nothing changed
	global bool
}

func (c *change) note(va uint64, old mpage) {
	if c.lo == c.hi {
		c.lo = va
	}
	c.hi = va + arch.PageSize
	c.global = c.global || old.perm&mGlobal != 0
}

// set gives page i the value nv, noting a change to a present translation.
func (w *window) set(i int, nv mpage, c *change) {
	old := w.pages[i]
	if old.perm != 0 && old != nv {
		c.note(w.base+uint64(i)<<arch.PageShift, old)
	}
	w.pages[i] = nv
}

// apply performs op on the model over [va, end) and reports the change.
func (w *window) apply(op string, va, end, pa uint64, o MapOpts) change {
	var c change
	first := int((va - w.base) >> arch.PageShift)
	last := int((end - w.base) >> arch.PageShift)
	perm := modelPerm(o)
	for i := first; i < last; i++ {
		switch {
		case op == "unmap" || perm == 0:
			w.set(i, mpage{}, &c)
		case op == "map":
			w.set(i, mpage{pa: pa + uint64(i-first)<<arch.PageShift, perm: perm}, &c)
		case op == "protect" && w.pages[i].perm != 0:
			w.set(i, mpage{pa: w.pages[i].pa, perm: perm}, &c)
		}
	}
	return c
}

// do runs op on pt and on w and checks the reported Flush against the
// model's change.
func do(t testing.TB, pt *PageTables, w *window, op string, va, end, pa uint64, o MapOpts) {
	t.Helper()
	r := arch.AddrRange{Start: arch.Addr(va), End: arch.Addr(end)}
	var fl Flush
	var err error
	switch op {
	case "map":
		fl, err = pt.Map(r, pa, o)
	case "unmap":
		fl, err = pt.Unmap(r)
	case "protect":
		fl, err = pt.Protect(r, o)
	}
	if err != nil {
		t.Fatalf("%s %v pa %#x %+v: %v", op, r, pa, o, err)
	}
	c := w.apply(op, va, end, pa, o)
	checkFlush(t, op, r, fl, c)
}

// checkFlush asserts fl covers every changed translation, reports global
// ones, and stays within the operation's range.
func checkFlush(t testing.TB, op string, r arch.AddrRange, fl Flush, c change) {
	t.Helper()
	if c.lo != c.hi {
		if fl.Empty() || uint64(fl.Range.Start) > c.lo || uint64(fl.Range.End) < c.hi {
			t.Fatalf("%s %v: flush %v does not cover changed [%#x, %#x)", op, r, fl.Range, c.lo, c.hi)
		}
		if c.global && !fl.Global {
			t.Fatalf("%s %v: a global translation changed but Flush.Global is false", op, r)
		}
	}
	if !fl.Empty() && !r.IsSupersetOf(fl.Range) {
		t.Fatalf("%s %v: flush %v reaches outside the operation", op, r, fl.Range)
	}
}

// verify compares the tables with the model over [va, end) ⊆ w, leaf by
// leaf through sdmWalk, and checks Lookup at each leaf.
func verify(t testing.TB, a Allocator, pt *PageTables, giant bool, w *window, va, end uint64) {
	t.Helper()
	for va < end {
		r, err := sdmWalk(a, pt.Root(), va, giant)
		if err != nil {
			t.Fatal(err)
		}
		stop := min((va|(r.span-1))+1, end)
		if stop == 0 {
			stop = end
		}
		first := int((va - w.base) >> arch.PageShift)
		last := int((stop - w.base) >> arch.PageShift)
		if !r.present {
			for i := first; i < last; i++ {
				if w.pages[i].perm != 0 {
					t.Fatalf("page %#x: model maps it to %#x, the MMU finds nothing", w.base+uint64(i)<<arch.PageShift, w.pages[i].pa)
				}
			}
			if _, _, _, ok := pt.Lookup(arch.Addr(va)); ok {
				t.Fatalf("Lookup(%#x) found a translation the MMU does not", va)
			}
			va = stop
			continue
		}
		perm := mPresent
		if r.write {
			perm |= mWrite
		}
		if r.exec {
			perm |= mExec
		}
		if r.user {
			perm |= mUser
		}
		if r.global {
			perm |= mGlobal
		}
		pa := r.pa
		for i := first; i < last; i++ {
			if m := w.pages[i]; m.perm != perm || m.pa != pa {
				t.Fatalf("page %#x: model %#x perm %05b, MMU %#x perm %05b (page size %#x)",
					w.base+uint64(i)<<arch.PageShift, m.pa, m.perm, pa, perm, r.span)
			}
			pa += arch.PageSize
		}
		lpa, size, o, ok := pt.Lookup(arch.Addr(va))
		if !ok || lpa != r.pa || size != r.span || modelPerm(o) != perm || !o.Access.Read {
			t.Fatalf("Lookup(%#x) = %#x, %#x, %+v, %v; MMU says %+v", va, lpa, size, o, ok, r)
		}
		va = stop
	}
}

// checkStructure walks every table and asserts the bookkeeping: each
// table-referencing entry counts exactly the present entries below it and
// flags global leaves below it, no table but the root is empty, non-present
// entries are zero, intermediate entries are permissive, and the number of
// tables matches TablePages and the allocator's. It returns the table count.
func checkStructure(t testing.TB, pt *PageTables, inUse int) int {
	t.Helper()
	n, _ := checkTable(t, pt, pt.rootEntry, rootLevel, 0)
	if n != pt.TablePages() || n != inUse {
		t.Fatalf("found %d tables, TablePages says %d, allocator %d", n, pt.TablePages(), inUse)
	}
	return n
}

func checkTable(t testing.TB, pt *PageTables, e uint64, l int, va uint64) (tables int, global bool) {
	t.Helper()
	tables = 1
	tbl := pt.alloc.TableAt(e & entryAddrMask)
	present := 0
	for i, c := range tbl {
		cva := va | uint64(i)<<levelShift(l)
		if c&entryPresent == 0 {
			if c != 0 {
				t.Fatalf("level %d entry for %#x is not present but holds %#x", l, cva, c)
			}
			continue
		}
		present++
		if !isTable(c, l) {
			global = global || c&entryGlobal != 0
			continue
		}
		if c&^(entryAddrMask|countMask|entryBelowGlobal) != tableEntryBits {
			t.Fatalf("level %d entry for %#x references a table with flags %#x", l, cva, c&^entryAddrMask)
		}
		if liveCount(c) == 0 {
			t.Fatalf("level %d entry for %#x references an empty table", l, cva)
		}
		n, g := checkTable(t, pt, c, l-1, cva)
		tables += n
		global = global || g
	}
	if uint64(present) != liveCount(e) {
		t.Fatalf("level %d table for %#x has %d present entries, its parent counts %d", l, va, present, liveCount(e))
	}
	if global && l != rootLevel && e&entryBelowGlobal == 0 {
		t.Fatalf("level %d table for %#x holds a global leaf, its parent does not say so", l, va)
	}
	return tables, global
}
