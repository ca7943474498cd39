package pagetable

import (
	"math/rand/v2"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

const (
	mib = 1 << 20
	gib = 1 << 30
)

var accessChoices = []arch.AccessType{
	arch.NoAccess, arch.Read, arch.Write, arch.Execute, arch.ReadWrite,
	{Read: true, Execute: true}, {Write: true, Execute: true}, arch.AnyAccess,
}

// randomOpts draws permissions; no access at all is rare (it unmaps).
func randomOpts(rng *rand.Rand, user bool) MapOpts {
	a := accessChoices[1+rng.IntN(len(accessChoices)-1)]
	if rng.IntN(20) == 0 {
		a = arch.NoAccess
	}
	return MapOpts{Access: a, User: user && rng.IntN(4) != 0, Global: rng.IntN(5) == 0}
}

// randomSpan draws [first, first+n) pages of a window of np pages: mostly
// short runs, some long ones, and whole 2 MiB (or with align, 1 GiB) runs,
// sometimes nudged a page off so that they cut huge leaves.
func randomSpan(rng *rand.Rand, np int, align int) (first, n int) {
	switch k := rng.IntN(10); {
	case k < 4:
		n = 1 + rng.IntN(8)
	case k < 7:
		n = 1 + rng.IntN(128)
	case k < 9:
		units := np / align
		a := rng.IntN(units)
		b := a + 1 + rng.IntN(min(2, units-a))
		first, n = a*align, (b-a)*align
		switch rng.IntN(4) {
		case 0:
			if first > 0 {
				first--
			}
		case 1:
			n--
		}
		return first, max(n, 1)
	default:
		n = 1 + rng.IntN(np/2)
	}
	return rng.IntN(np - n + 1), n
}

// randomPhys draws a physical address for va: usually congruent with va
// modulo align, so that huge leaves can be used, sometimes any page.
func randomPhys(rng *rand.Rand, va uint64, align uint64) uint64 {
	if rng.IntN(4) == 0 {
		return uint64(rng.IntN(1<<26)) << arch.PageShift
	}
	return uint64(rng.IntN(1<<10))*align + va&(align-1)
}

// runRandom applies ops random operations over windows, checking every one
// against the model, and the whole structure every checkEvery operations.
func runRandom(t *testing.T, seed uint64, giant bool, windows []*window, ops, spanAlign int, physAlign uint64, checkEvery int) {
	rng := rand.New(rand.NewPCG(seed, 0x9e37))
	alloc := NewHeapAllocator(1 << 20)
	pt, err := New(alloc, Features{GiantPages: giant})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		w := windows[rng.IntN(len(windows))]
		first, n := randomSpan(rng, len(w.pages), spanAlign)
		va := w.base + uint64(first)<<arch.PageShift
		end := va + uint64(n)<<arch.PageShift
		var op string
		switch k := rng.IntN(20); {
		case k < 9:
			op = "map"
		case k < 15:
			op = "unmap"
		default:
			op = "protect"
		}
		pa := randomPhys(rng, va, physAlign)
		do(t, pt, w, op, va, end, pa, randomOpts(rng, w.user))
		verify(t, alloc, pt, giant, w, max(va-arch.PageSize, w.base), min(end+arch.PageSize, w.end()))
		if (i+1)%checkEvery == 0 {
			for _, w := range windows {
				verify(t, alloc, pt, giant, w, w.base, w.end())
			}
			checkStructure(t, pt, alloc.InUse())
		}
	}
	for _, w := range windows {
		do(t, pt, w, "unmap", w.base, w.end(), 0, MapOpts{})
		verify(t, alloc, pt, giant, w, w.base, w.end())
	}
	if n := checkStructure(t, pt, alloc.InUse()); n != 1 {
		t.Fatalf("%d tables left after unmapping everything, want only the root", n)
	}
	pt.Release()
	if alloc.InUse() != 0 {
		t.Fatalf("%d tables in use after Release", alloc.InUse())
	}
}

// TestRandomOps runs 10^5 random Map, Unmap and Protect calls (10^4 with
// -short) over three 8 MiB windows: one across a PML4 and PDPT boundary in
// the lower half, one at the top of the lower half and one in the kernel
// half, with and without 1 GiB pages.
func TestRandomOps(t *testing.T) {
	ops := 50_000
	if testing.Short() {
		ops = 5_000
	}
	for _, giant := range []bool{false, true} {
		t.Run(map[bool]string{false: "4K-2M", true: "giant"}[giant], func(t *testing.T) {
			t.Parallel()
			windows := []*window{
				newWindow(512*gib-4*mib, 8*mib, true),
				newWindow(uint64(arch.MaxUserAddr)-8*mib, 8*mib, true),
				newWindow(uint64(arch.KernelBase)+gib-4*mib, 8*mib, false),
			}
			runRandom(t, 1, giant, windows, ops, 512, 2*mib, 2_000)
		})
	}
}

// TestRandomGiantOps does the same at 1 GiB scale: a 4 GiB window across a
// PML4 boundary, spans cut at 1 GiB, 2 MiB or 4 KiB boundaries.
func TestRandomGiantOps(t *testing.T) {
	ops := 120
	if testing.Short() {
		ops = 30
	}
	windows := []*window{newWindow(510*gib, 4*gib, true)}
	runRandom(t, 2, true, windows, ops, 1<<18, gib, 50)
}
