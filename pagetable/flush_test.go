package pagetable

import (
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// TestFlush checks what each kind of change reports for invalidation.
func TestFlush(t *testing.T) {
	ro := MapOpts{Access: arch.Read, User: true}
	g := MapOpts{Access: arch.Read, Global: true}
	for _, tc := range []struct {
		name   string
		setup  func(pt *PageTables) error
		change func(pt *PageTables) (Flush, error)
		want   Flush
	}{
		{"map over nothing", nil,
			func(pt *PageTables) (Flush, error) { return pt.Map(rng(0x1000, 0x9000), 0, rw) },
			Flush{}},
		{"same mapping again", func(pt *PageTables) error { _, err := pt.Map(rng(0x1000, 0x9000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) { return pt.Map(rng(0x1000, 0x9000), 0, rw) },
			Flush{}},
		{"remap middle elsewhere", func(pt *PageTables) error { _, err := pt.Map(rng(0x1000, 0x9000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) { return pt.Map(rng(0, 0x10000), 0x3000-0x1000, rw) },
			Flush{Range: rng(0x1000, 0x9000)}},
		{"only execute changes", func(pt *PageTables) error { _, err := pt.Map(rng(0x1000, 0x9000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) {
				return pt.Map(rng(0x1000, 0x9000), 0, MapOpts{Access: arch.AnyAccess, User: true})
			},
			Flush{Range: rng(0x1000, 0x9000)}},
		{"protect part", func(pt *PageTables) error { _, err := pt.Map(rng(0x1000, 0x9000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) { return pt.Protect(rng(0x4000, 0x20000), ro) },
			Flush{Range: rng(0x4000, 0x9000)}},
		{"unmap around", func(pt *PageTables) error { _, err := pt.Map(rng(0x3000, 0x5000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) { return pt.Unmap(rng(0x2000, 2*mib)) },
			Flush{Range: rng(0x3000, 0x5000)}},
		// Tables that the range covers whole are freed unread, so the
		// flush is their whole span (still within the range).
		{"unmap a whole table", func(pt *PageTables) error { _, err := pt.Map(rng(0x3000, 0x5000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) { return pt.Unmap(rng(0, gib)) },
			Flush{Range: rng(0, gib)}},
		{"unmap nothing", nil,
			func(pt *PageTables) (Flush, error) { return pt.Unmap(rng(0, gib)) },
			Flush{}},
		{"unmap a global page", func(pt *PageTables) error { _, err := pt.Map(rng(0x3000, 0x4000), 0, g); return err },
			func(pt *PageTables) (Flush, error) { return pt.Unmap(rng(0x3000, 0x4000)) },
			Flush{Range: rng(0x3000, 0x4000), Global: true}},
		{"free a table holding a global page", func(pt *PageTables) error { _, err := pt.Map(rng(0x3000, 0x4000), 0, g); return err },
			func(pt *PageTables) (Flush, error) { return pt.Unmap(rng(0, 2*mib)) },
			Flush{Range: rng(0, 2*mib), Global: true}},
		{"huge leaf over a table", func(pt *PageTables) error { _, err := pt.Map(rng(0x3000, 0x4000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) { return pt.Map(rng(0, 2*mib), 0, rw) },
			Flush{Range: rng(0, 2*mib)}},
		{"no access unmaps", func(pt *PageTables) error { _, err := pt.Map(rng(0x3000, 0x4000), 0, rw); return err },
			func(pt *PageTables) (Flush, error) { return pt.Protect(rng(0, 0x10000), MapOpts{}) },
			Flush{Range: rng(0x3000, 0x4000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, alloc := newTables(t, true, 64)
			if tc.setup != nil {
				if err := tc.setup(pt); err != nil {
					t.Fatal(err)
				}
			}
			got, err := tc.change(pt)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("flush %+v, want %+v", got, tc.want)
			}
			checkStructure(t, pt, alloc.InUse())
		})
	}
	a := Flush{Range: rng(0x1000, 0x2000)}
	b := Flush{Range: rng(0x8000, 0x9000), Global: true}
	if m := a.Merge(b); m != (Flush{Range: rng(0x1000, 0x9000), Global: true}) || a.Merge(Flush{}) != a || (Flush{}).Merge(b) != b {
		t.Errorf("Merge wrong: %+v", m)
	}
}

// TestNoAllocations checks the hot paths allocate nothing on the Go heap
// once the tables they need exist.
func TestNoAllocations(t *testing.T) {
	pt, _ := newTables(t, false, 64)
	r := rng(0x40_0000, 0x40_1000)
	if _, err := pt.Map(rng(0x40_0000, 0x60_0000), 0, rw); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"map":     func() { _, _ = pt.Map(r, 0x1000, rw) },
		"lookup":  func() { _, _, _, _ = pt.Lookup(0x40_0123) },
		"protect": func() { _, _ = pt.Protect(r, MapOpts{Access: arch.Read}) },
		"unmap+map": func() {
			_, _ = pt.Unmap(rng(0x40_1000, 0x40_2000))
			_, _ = pt.Map(rng(0x40_1000, 0x40_2000), 0, rw)
		},
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

// TestRelease frees every table.
func TestRelease(t *testing.T) {
	pt, alloc := newTables(t, true, 1<<12)
	for _, r := range []arch.AddrRange{rng(0, gib+4096), rng(600*gib, 602*gib-4096), rng(uint64(arch.KernelBase), uint64(arch.KernelBase)+8*mib)} {
		if _, err := pt.Map(r, 4096, MapOpts{Access: arch.Read}); err != nil {
			t.Fatal(err)
		}
	}
	if alloc.InUse() < 10 {
		t.Fatalf("only %d tables: the test maps too little", alloc.InUse())
	}
	pt.Release()
	pt.Release()
	if alloc.InUse() != 0 || pt.TablePages() != 0 {
		t.Errorf("%d tables in use after Release (pt says %d)", alloc.InUse(), pt.TablePages())
	}
}

// TestWalkCache checks that the cached level-1 table never outlives the
// table: each step frees the table the previous one cached, then works in
// the same 2 MiB span.
func TestWalkCache(t *testing.T) {
	pt, alloc := newTables(t, false, 64)
	w := newWindow(0x20_0000, 2*mib, true)
	a, b := uint64(0x20_1000), uint64(0x20_5000)
	steps := []struct {
		op     string
		va, pa uint64
	}{
		{"map", a, 0x1000},    // allocates the table
		{"unmap", a, 0},       // caches it, empties and frees it
		{"map", b, 0x2000},    // must allocate a new one
		{"protect", b, 0},     // caches it
		{"unmap", b, 0},       // frees it
		{"protect", a, 0},     // nothing there
		{"map", a, 0x3000},    // new table again
		{"map", 0x20_0000, 0}, // whole span: a 2 MiB leaf replaces the table
		{"map", b, 0x9000},    // splits the leaf
	}
	for _, s := range steps {
		end := s.va + arch.PageSize
		if s.va == 0x20_0000 {
			end = s.va + 2*mib
		}
		do(t, pt, w, s.op, s.va, end, s.pa, MapOpts{Access: arch.Read, User: true})
		verify(t, alloc, pt, false, w, w.base, w.end())
		checkStructure(t, pt, alloc.InUse())
		if _, _, _, ok := pt.Lookup(arch.Addr(s.va)); ok != (w.pages[(s.va-w.base)>>arch.PageShift].perm != 0) {
			t.Fatalf("after %s %#x: Lookup disagrees with the model", s.op, s.va)
		}
	}
}
