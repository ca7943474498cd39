package pagetable

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

func newTables(t testing.TB, giant bool, maxTables int) (*PageTables, *HeapAllocator) {
	t.Helper()
	alloc := NewHeapAllocator(maxTables)
	pt, err := New(alloc, Features{GiantPages: giant})
	if err != nil {
		t.Fatal(err)
	}
	return pt, alloc
}

func rng(start, end uint64) arch.AddrRange {
	return arch.AddrRange{Start: arch.Addr(start), End: arch.Addr(end)}
}

var rw = MapOpts{Access: arch.ReadWrite, User: true}

// leafSizes returns the page size of each leaf across [va, end), in order,
// run-length encoded as "size×count".
func leafSizes(t *testing.T, pt *PageTables, giant bool, va, end uint64) string {
	t.Helper()
	var out string
	var last, n uint64
	flush := func() {
		if n > 0 {
			out += fmt.Sprintf("%s×%d ", sizeName(last), n)
		}
	}
	for va < end {
		r, err := sdmWalk(pt.alloc, pt.Root(), va, giant)
		if err != nil {
			t.Fatal(err)
		}
		size := r.span
		if !r.present {
			size = 0 // counted in non-present entries of any level
		}
		if size != last {
			flush()
			last, n = size, 0
		}
		n++
		va = (va | (r.span - 1)) + 1
	}
	flush()
	return out
}

func sizeName(s uint64) string {
	switch s {
	case 0:
		return "none"
	case arch.PageSize:
		return "4K"
	case arch.HugePageSize:
		return "2M"
	case arch.GiantPageSize:
		return "1G"
	}
	return fmt.Sprintf("%#x", s)
}

// TestLeafChoice checks that Map picks the largest leaf that the alignment
// of both addresses and the CPU allow, and holds only the architectural
// minimum of tables for it.
func TestLeafChoice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		giant  bool
		va, pa uint64
		length uint64
		leaves string
		tables int
	}{
		{"1G giant", true, gib, 5 * gib, gib, "1G×1 ", 2},
		{"1G no giant", false, gib, 5 * gib, gib, "2M×512 ", 3},
		{"1G pa 2M-aligned only", true, gib, 5*gib + 2*mib, gib, "2M×512 ", 3},
		{"1G pa 4K-aligned only", true, gib, 5*gib + 4096, gib, "4K×262144 ", 515},
		{"2M", true, 2 * mib, 6 * mib, 2 * mib, "2M×1 ", 4 - 1},
		{"2M misaligned va", true, 2*mib + 4096, 6*mib + 4096, 2 * mib, "4K×512 ", 5},
		{"ragged edges", false, 2*mib - 8192, 6*mib - 8192, 4*mib + 12288, "4K×2 2M×2 4K×1 ", 5},
		{"giant with edges", true, gib - 4096, 9*gib - 4096, gib + 2*mib + 8192, "4K×1 1G×1 2M×1 4K×1 ", 4 + 2},
		{"across PML4 entries", false, 512*gib - 2*mib, 2 * mib, 4 * mib, "2M×2 ", 1 + 2 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, alloc := newTables(t, tc.giant, 1<<12)
			r := rng(tc.va, tc.va+tc.length)
			if _, err := pt.Map(r, tc.pa, rw); err != nil {
				t.Fatal(err)
			}
			if got := leafSizes(t, pt, tc.giant, tc.va, tc.va+tc.length); got != tc.leaves {
				t.Errorf("leaves %q, want %q", got, tc.leaves)
			}
			if got := checkStructure(t, pt, alloc.InUse()); got != tc.tables {
				t.Errorf("%d table pages, want %d", got, tc.tables)
			}
			w := newWindow(tc.va, tc.length, true)
			w.apply("map", tc.va, tc.va+tc.length, tc.pa, rw)
			verify(t, alloc, pt, tc.giant, w, tc.va, tc.va+tc.length)
			if _, err := pt.Unmap(r); err != nil {
				t.Fatal(err)
			}
			if got := checkStructure(t, pt, alloc.InUse()); got != 1 {
				t.Errorf("%d table pages after Unmap, want 1", got)
			}
		})
	}
}

// TestTablePagesPerGiB states the table memory for 1 GiB mapped with each
// leaf size under one PML4 entry: PML4 + PDPT + PD + 512 PTs = 515 for
// 4 KiB pages, PML4 + PDPT + PD = 3 for 2 MiB, PML4 + PDPT = 2 for 1 GiB,
// whether mapped in one call or page by page.
func TestTablePagesPerGiB(t *testing.T) {
	for _, tc := range []struct {
		leaf  uint64
		giant bool
		want  int
	}{{arch.PageSize, false, 515}, {arch.HugePageSize, false, 3}, {arch.GiantPageSize, true, 2}} {
		for _, perCall := range []bool{false, true} {
			pt, alloc := newTables(t, tc.giant, 1<<12)
			va := uint64(64 * gib)
			step := uint64(gib)
			if perCall {
				step = tc.leaf
			}
			for off := uint64(0); off < gib; off += step {
				// The physical address is aligned only to the leaf size.
				if _, err := pt.Map(rng(va+off, va+off+step), tc.leaf+off, rw); err != nil {
					t.Fatal(err)
				}
			}
			if got := checkStructure(t, pt, alloc.InUse()); got != tc.want {
				t.Errorf("%s leaves, one call per %s: %d table pages, want %d", sizeName(tc.leaf), sizeName(step), got, tc.want)
			}
		}
	}
}

// TestTopOfLowerHalf maps the very last user page and checks the edges of
// the canonical halves.
func TestTopOfLowerHalf(t *testing.T) {
	pt, alloc := newTables(t, true, 64)
	top := uint64(0x7fff_ffff_f000)
	if _, err := pt.Map(rng(top, top+arch.PageSize), 0x1234_5000, rw); err != nil {
		t.Fatal(err)
	}
	pa, size, o, ok := pt.Lookup(arch.Addr(top + 0xabc))
	if !ok || pa != 0x1234_5abc || size != arch.PageSize || o != (MapOpts{Access: arch.ReadWrite, User: true}) {
		t.Errorf("Lookup(top page) = %#x, %#x, %+v, %v", pa, size, o, ok)
	}
	r, err := sdmWalk(alloc, pt.Root(), top, true)
	if err != nil || !r.present || !r.user || !r.write || r.exec || r.pa != 0x1234_5000 {
		t.Errorf("MMU sees %+v, %v", r, err)
	}
	if _, _, _, ok := pt.Lookup(arch.MaxUserAddr); ok {
		t.Error("Lookup of the first non-canonical address succeeded")
	}
	if _, err := pt.Unmap(rng(top, top+arch.PageSize)); err != nil {
		t.Fatal(err)
	}
	if n := checkStructure(t, pt, alloc.InUse()); n != 1 {
		t.Errorf("%d tables after unmapping the top page", n)
	}
	// The last page of the kernel half that a half-open range can name.
	last := uint64(0xffff_ffff_ffff_e000)
	if _, err := pt.Map(rng(last, last+arch.PageSize), 0x5000, MapOpts{Access: arch.Read, Global: true}); err != nil {
		t.Fatal(err)
	}
	if r, err := sdmWalk(alloc, pt.Root(), last, true); err != nil || !r.present || r.user || !r.global || r.write {
		t.Errorf("MMU sees %+v, %v at the top of the kernel half", r, err)
	}
}

// TestArgumentErrors checks that bad ranges are refused with a testable
// reason and change nothing.
func TestArgumentErrors(t *testing.T) {
	kernel := uint64(arch.KernelBase)
	top := uint64(arch.MaxUserAddr)
	for _, tc := range []struct {
		op   string
		r    arch.AddrRange
		pa   uint64
		user bool
		want error
	}{
		{"map", rng(0x2000, 0x1000), 0, false, ErrMalformed},
		{"map", rng(0x1001, 0x2000), 0, false, ErrUnaligned},
		{"map", rng(0x1000, 0x2001), 0, false, ErrUnaligned},
		{"map", rng(0x1000, 0x2000), 0x10, false, ErrUnaligned},
		{"map", rng(top-0x1000, top+0x1000), 0, false, ErrNonCanonical},
		{"map", rng(top, top+0x1000), 0, false, ErrNonCanonical},
		{"map", rng(kernel-0x1000, kernel), 0, false, ErrNonCanonical},
		{"map", rng(0x1000, kernel+0x1000), 0, false, ErrNonCanonical},
		{"map", rng(kernel, kernel+0x1000), 0, true, ErrKernelAddress},
		{"map", rng(0x1000, 0x3000), maxPhys - 0x1000, false, ErrPhysRange},
		{"map", rng(0x1000, 0x2000), maxPhys, false, ErrPhysRange},
		{"protect", rng(kernel, kernel+0x1000), 0, true, ErrKernelAddress},
		{"protect", rng(0x1800, 0x2000), 0, false, ErrUnaligned},
		{"unmap", rng(top, top+0x1000), 0, false, ErrNonCanonical},
		{"unmap", rng(0x3000, 0x1000), 0, false, ErrMalformed},
	} {
		pt, alloc := newTables(t, false, 64)
		o := MapOpts{Access: arch.Read, User: tc.user}
		var err error
		var fl Flush
		switch tc.op {
		case "map":
			fl, err = pt.Map(tc.r, tc.pa, o)
		case "protect":
			fl, err = pt.Protect(tc.r, o)
		case "unmap":
			fl, err = pt.Unmap(tc.r)
		}
		var re *RangeError
		if !errors.Is(err, tc.want) || !errors.As(err, &re) || re.Op != tc.op || re.Range != tc.r {
			t.Errorf("%s %v pa %#x user %v: err %v, want a *RangeError for %v", tc.op, tc.r, tc.pa, tc.user, err, tc.want)
		}
		if !fl.Empty() || checkStructure(t, pt, alloc.InUse()) != 1 {
			t.Errorf("%s %v: refused but changed something", tc.op, tc.r)
		}
	}
	// Kernel mappings may use the lower half; empty ranges are no-ops.
	pt, _ := newTables(t, false, 64)
	if _, err := pt.Map(rng(0x1000, 0x2000), 0, MapOpts{Access: arch.Read}); err != nil {
		t.Errorf("kernel mapping in the lower half: %v", err)
	}
	if fl, err := pt.Map(rng(top, top), 0, rw); err != nil || !fl.Empty() {
		t.Errorf("empty map: %v, %v", fl, err)
	}
	pt.Release()
	if _, err := pt.Map(rng(0x1000, 0x2000), 0, rw); !errors.Is(err, ErrReleased) {
		t.Errorf("map after Release: %v", err)
	}
	if _, _, _, ok := pt.Lookup(0x1000); ok || pt.Root() != 0 {
		t.Error("Lookup or Root after Release")
	}
}

// TestEntryEncoding checks the raw leaf bits for every permission
// combination against the SDM's layout, and what the MMU makes of them.
func TestEntryEncoding(t *testing.T) {
	for _, a := range accessChoices[1:] {
		for _, user := range []bool{false, true} {
			for _, global := range []bool{false, true} {
				o := MapOpts{Access: a, User: user, Global: global}
				pt, alloc := newTables(t, false, 8)
				if _, err := pt.Map(rng(0x40_0000, 0x40_1000), 0xabc_d000, o); err != nil {
					t.Fatal(err)
				}
				want := uint64(0xabc_d000 | sdmP | sdmA)
				if a.Write {
					want |= sdmRW | sdmD
				}
				if user {
					want |= sdmUS
				}
				if global {
					want |= sdmG
				}
				if !a.Execute {
					want |= sdmXD
				}
				// Walk by hand: PML4[0] -> PDPT[0] -> PD[2] -> PT[0].
				pml4 := alloc.TableAt(pt.Root())
				pdpt := alloc.TableAt(pml4[0] & sdmAddr)
				pd := alloc.TableAt(pdpt[0] & sdmAddr)
				pte := alloc.TableAt(pd[2] & sdmAddr)[0]
				if pte != want {
					t.Errorf("%+v: PTE %#x, want %#x", o, pte, want)
				}
				for _, e := range []uint64{pml4[0], pdpt[0], pd[2]} {
					if e&0xfff != sdmP|sdmRW|sdmUS|sdmA || e&sdmXD != 0 {
						t.Errorf("%+v: intermediate entry %#x not permissive", o, e)
					}
				}
				r, err := sdmWalk(alloc, pt.Root(), 0x40_0123, false)
				if err != nil || !r.present || r.pa != 0xabc_d123 || r.write != a.Write || r.exec != a.Execute || r.user != user || r.global != global {
					t.Errorf("%+v: MMU sees %+v, %v", o, r, err)
				}
				_, _, got, _ := pt.Lookup(0x40_0000)
				if got != (MapOpts{Access: a.Effective(), User: user, Global: global}) {
					t.Errorf("Lookup opts %+v, want %+v", got, o)
				}
			}
		}
	}
}
