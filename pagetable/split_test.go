package pagetable

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// TestSplitHugeLeaves cuts 1 GiB and 2 MiB leaves with Unmap, Protect and
// Map and checks the leaves, the tables and every translation.
func TestSplitHugeLeaves(t *testing.T) {
	base := uint64(3 * gib)
	ro := MapOpts{Access: arch.Read, User: true}
	rx := MapOpts{Access: arch.AnyAccess, User: true}
	type step struct {
		op         string
		start, end uint64 // offsets from base
		pa         uint64
		o          MapOpts
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		leaves string // over [base, base+1 GiB)
		tables int
	}{
		{"unmap one page of a 1G leaf", []step{
			{"map", 0, gib, 7 * gib, rw},
			{"unmap", 5*mib + 4096, 5*mib + 8192, 0, rw},
		}, "2M×2 4K×257 none×1 4K×254 2M×509 ", 4},
		{"protect one page of a 1G leaf", []step{
			{"map", 0, gib, 7 * gib, rw},
			{"protect", gib - 4096, gib, 0, ro},
		}, "2M×511 4K×512 ", 4},
		{"map one page over a 2M leaf", []step{
			{"map", 0, gib, 7*gib + 2*mib, rw},
			{"map", 2 * mib, 2*mib + 4096, 99 * gib, rx},
		}, "2M×1 4K×512 2M×510 ", 4},
		{"protect 2M of a 1G leaf", []step{
			{"map", 0, gib, 7 * gib, rw},
			{"protect", 4 * mib, 6 * mib, 0, rx},
		}, "2M×512 ", 3},
		{"unmap a 1G leaf with 2M in the middle", []step{
			{"map", 0, gib, 7 * gib, rw},
			{"unmap", 0, gib/2 - 2*mib, 0, rw},
			{"unmap", gib / 2, gib, 0, rw},
		}, "none×255 2M×1 none×256 ", 3},
		{"remap whole merges back", []step{
			{"map", 0, gib, 7 * gib, rw},
			{"unmap", 12288, 16384, 0, rw},
			{"protect", 8 * mib, 8*mib + 4096, 0, ro},
			{"map", 0, gib, 7 * gib, rx},
		}, "1G×1 ", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, alloc := newTables(t, true, 64)
			w := newWindow(base, gib, true)
			for _, s := range tc.steps {
				do(t, pt, w, s.op, base+s.start, base+s.end, s.pa, s.o)
				verify(t, alloc, pt, true, w, base, base+gib)
			}
			if got := leafSizes(t, pt, true, base, base+gib); got != tc.leaves {
				t.Errorf("leaves %q, want %q", got, tc.leaves)
			}
			if got := checkStructure(t, pt, alloc.InUse()); got != tc.tables {
				t.Errorf("%d tables, want %d", got, tc.tables)
			}
		})
	}
}

// TestFreeEmptiedPieceByPiece unmaps a 2 MiB leaf and a 1 GiB leaf page by
// page: the split happens once, and the tables go away with the last page.
func TestFreeEmptiedPieceByPiece(t *testing.T) {
	pt, alloc := newTables(t, true, 512)
	va := uint64(6 * mib)
	if _, err := pt.Map(rng(va, va+2*mib), 2*mib, rw); err != nil {
		t.Fatal(err)
	}
	for off := uint64(0); off < 2*mib; off += arch.PageSize {
		if _, err := pt.Unmap(rng(va+off, va+off+arch.PageSize)); err != nil {
			t.Fatal(err)
		}
		want := 4 // PML4, PDPT, PD and the PT of the split
		if off == 2*mib-arch.PageSize {
			want = 1
		}
		if got := checkStructure(t, pt, alloc.InUse()); got != want {
			t.Fatalf("after unmapping %#x: %d tables, want %d", va+off, got, want)
		}
	}
	if alloc.Peak() != 4 {
		t.Errorf("peak %d tables: the split allocated more than one table", alloc.Peak())
	}

	// A 1 GiB leaf, unmapped 2 MiB then 4 KiB at a time in random order.
	if _, err := pt.Map(rng(gib, 2*gib), 0, rw); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	order := r.Perm(512)
	for k, i := range order {
		lo := gib + uint64(i)*2*mib
		if k%2 == 0 {
			for off := uint64(0); off < 2*mib; off += 64 * arch.PageSize {
				if _, err := pt.Unmap(rng(lo+off, lo+off+64*arch.PageSize)); err != nil {
					t.Fatal(err)
				}
			}
		} else if _, err := pt.Unmap(rng(lo, lo+2*mib)); err != nil {
			t.Fatal(err)
		}
		checkStructure(t, pt, alloc.InUse())
	}
	if got := checkStructure(t, pt, alloc.InUse()); got != 1 {
		t.Errorf("%d tables after unmapping all of the 1 GiB leaf", got)
	}

	// Small pages scattered over several PML4 entries, unmapped in random
	// order one by one.
	var pages []uint64
	for i := range 64 {
		pages = append(pages, uint64(i%4)*512*gib+uint64(i/4)*gib+uint64(i)*arch.PageSize)
	}
	for _, p := range pages {
		if _, err := pt.Map(rng(p, p+arch.PageSize), p, rw); err != nil {
			t.Fatal(err)
		}
	}
	r.Shuffle(len(pages), func(i, j int) { pages[i], pages[j] = pages[j], pages[i] })
	for _, p := range pages {
		if _, err := pt.Unmap(rng(p, p+arch.PageSize)); err != nil {
			t.Fatal(err)
		}
		checkStructure(t, pt, alloc.InUse())
	}
	if got := checkStructure(t, pt, alloc.InUse()); got != 1 {
		t.Errorf("%d tables after unmapping scattered pages", got)
	}
}

// budgetAllocator fails every allocation once its budget is spent.
type budgetAllocator struct {
	*HeapAllocator
	left int
}

func (b *budgetAllocator) AllocTable() (uint64, *[512]uint64, error) {
	if b.left == 0 {
		return 0, nil, ErrNoTableMemory
	}
	b.left--
	return b.HeapAllocator.AllocTable()
}

// TestExhaustion fails the n-th table allocation of operations that need
// many tables, for every n, and checks that the operation stopped at a
// clean point: the model with the operation applied to a prefix of the
// range matches, no empty table is left, counts are right, and the Flush
// covers what changed.
func TestExhaustion(t *testing.T) {
	base := uint64(512*gib - 8*mib)
	size := uint64(16 * mib)
	type op struct {
		name string
		op   string
		r    [2]uint64 // offsets from base
		pa   uint64
	}
	// Each scenario starts from the same premapped state: a 2 MiB leaf and
	// a few small pages, so the operations must both allocate and split.
	setup := func(t *testing.T, pt *PageTables, w *window) {
		do(t, pt, w, "map", base+2*mib, base+4*mib, 10*gib, rw)
		do(t, pt, w, "map", base+10*mib, base+12*mib, 20*gib, rw)
		do(t, pt, w, "map", base+9*mib, base+9*mib+8192, 30*gib, rw)
	}
	for _, tc := range []op{
		{"map small pages across boundaries", "map", [2]uint64{4096, size - 4096}, 40*gib + 4096},
		{"map cutting 2M leaves", "map", [2]uint64{3 * mib, 11 * mib}, 50*gib + 4096},
		{"unmap cutting 2M leaves", "unmap", [2]uint64{3*mib + 4096, 11*mib - 4096}, 0},
		{"protect cutting 2M leaves", "protect", [2]uint64{3*mib - 4096, 11*mib + 4096}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for budget := 0; ; budget++ {
				heap := NewHeapAllocator(1 << 10)
				alloc := &budgetAllocator{HeapAllocator: heap, left: 1 << 10}
				pt, err := New(alloc, Features{})
				if err != nil {
					t.Fatal(err)
				}
				w := newWindow(base, size, true)
				setup(t, pt, w)
				alloc.left = budget
				va, end := base+tc.r[0], base+tc.r[1]
				o := MapOpts{Access: arch.Read, Global: true}
				r := rng(va, end)
				var fl Flush
				switch tc.op {
				case "map":
					fl, err = pt.Map(r, tc.pa, o)
				case "unmap":
					fl, err = pt.Unmap(r)
				case "protect":
					fl, err = pt.Protect(r, o)
				}
				checkStructure(t, pt, heap.InUse())
				if err == nil {
					c := w.apply(tc.op, va, end, tc.pa, o)
					checkFlush(t, tc.op, r, fl, c)
					verify(t, heap, pt, false, w, base, base+size)
					if budget == 0 {
						t.Fatal("needed no table at all: the scenario tests nothing")
					}
					return
				}
				if !errors.Is(err, ErrNoTableMemory) {
					t.Fatalf("budget %d: %v", budget, err)
				}
				// Find the prefix that was done: the longest one whose
				// model matches the tables.
				done := -1
				for p := va; p <= end; p += arch.PageSize {
					m := newWindow(base, size, true)
					copy(m.pages, w.pages)
					c := m.apply(tc.op, va, p, tc.pa, o)
					if tablesMatch(heap, pt, m) {
						checkFlush(t, tc.op, r, fl, c)
						done = int((p - va) >> arch.PageShift)
						break
					}
				}
				if done < 0 {
					t.Fatalf("budget %d: the tables match no prefix of %s %v", budget, tc.op, r)
				}
			}
		})
	}
}

// tablesMatch reports whether the tables translate all of w as w says.
func tablesMatch(a Allocator, pt *PageTables, w *window) bool {
	ok := true
	ft := &failT{}
	func() {
		defer func() {
			if recover() != nil {
				ok = false
			}
		}()
		verify(ft, a, pt, false, w, w.base, w.end())
	}()
	return ok && !ft.failed
}

// failT is a testing.TB whose Fatal records and unwinds.
type failT struct {
	testing.TB
	failed bool
}

func (f *failT) Helper() {}
func (f *failT) Fatalf(string, ...any) {
	f.failed = true
	panic(f)
}
func (f *failT) Fatal(...any) {
	f.failed = true
	panic(f)
}
