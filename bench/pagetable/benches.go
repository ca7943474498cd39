package main

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// A comparison is one operation done by each side. Every benchmark
// iteration covers the whole GiB; leaves is how many leaves that is.
type comparison struct {
	name          string
	leaves        int
	ours, theirs  func(b *testing.B)
	tables        bool // report table pages per GiB after the map
	oursT, theirT *int // filled with table pages when tables is set
}

var oursTables4K, theirTables4K, oursTables2M, theirTables2M int

var comparisons = []comparison{
	{"map 1 GiB as 4 KiB, one call", benchPages, oursMapOneCall4K, theirsMapOneCall4K, true, &oursTables4K, &theirTables4K},
	{"map 1 GiB as 4 KiB, call per page", benchPages, oursMapPerPage4K, theirsMapPerPage4K, false, nil, nil},
	{"map 1 GiB as 2 MiB, one call", gib / arch.HugePageSize, oursMapOneCall2M, theirsMapOneCall2M, true, &oursTables2M, &theirTables2M},
	{"unmap 1 GiB of 4 KiB, one call", benchPages, oursUnmapOneCall, theirsUnmapOneCall, false, nil, nil},
	{"unmap 1 GiB of 4 KiB, page by page", benchPages, oursUnmapPerPage, theirsUnmapPerPage, false, nil, nil},
	{"lookup 1 GiB of 4 KiB, in order", benchPages, oursLookupSeq, theirsLookupSeq, false, nil, nil},
	{"lookup 1 GiB of 4 KiB, random order", benchPages, oursLookupRandom, theirsLookupRandom, false, nil, nil},
	{"protect 1 GiB of 4 KiB, one call", benchPages, oursProtect, theirsProtect, false, nil, nil},
}

func oursMapOneCall4K(b *testing.B) { oursMapOneCall(b, phys4K, &oursTables4K) }
func oursMapOneCall2M(b *testing.B) { oursMapOneCall(b, phys2M, &oursTables2M) }

func oursMapOneCall(b *testing.B, pa uint64, tables *int) {
	o := newOurs()
	for range b.N {
		check(o.pt.Map(ourRange(benchVA, gib), pa, oursRW))
		b.StopTimer()
		*tables = o.pt.TablePages()
		check(o.pt.Unmap(ourRange(benchVA, gib)))
		b.StartTimer()
	}
}

func theirsMapOneCall4K(b *testing.B) { theirsMapOneCall(b, phys4K, &theirTables4K) }
func theirsMapOneCall2M(b *testing.B) { theirsMapOneCall(b, phys2M, &theirTables2M) }

func theirsMapOneCall(b *testing.B, pa uint64, tables *int) {
	t := newTheirs()
	for range b.N {
		t.pt.Map(benchVA, gib, theirRW, uintptr(pa))
		b.StopTimer()
		*tables = t.alloc.live
		t.unmapAll()
		b.StartTimer()
	}
}

func oursMapPerPage4K(b *testing.B) {
	o := newOurs()
	for range b.N {
		for va := uint64(benchVA); va < benchVA+gib; va += arch.PageSize {
			check(o.pt.Map(ourRange(va, arch.PageSize), va-benchVA+phys4K, oursRW))
		}
		b.StopTimer()
		check(o.pt.Unmap(ourRange(benchVA, gib)))
		b.StartTimer()
	}
}

func theirsMapPerPage4K(b *testing.B) {
	t := newTheirs()
	for range b.N {
		for va := uintptr(benchVA); va < benchVA+gib; va += arch.PageSize {
			t.pt.Map(hostarch.Addr(va), arch.PageSize, theirRW, va-benchVA+phys4K)
		}
		b.StopTimer()
		t.unmapAll()
		b.StartTimer()
	}
}

func oursUnmapOneCall(b *testing.B) {
	o := newOurs()
	for range b.N {
		b.StopTimer()
		check(o.pt.Map(ourRange(benchVA, gib), phys4K, oursRW))
		b.StartTimer()
		check(o.pt.Unmap(ourRange(benchVA, gib)))
	}
}

func theirsUnmapOneCall(b *testing.B) {
	t := newTheirs()
	for range b.N {
		b.StopTimer()
		t.alloc.Recycle()
		t.pt.Map(benchVA, gib, theirRW, phys4K)
		b.StartTimer()
		t.pt.Unmap(benchVA, gib)
	}
}

func oursUnmapPerPage(b *testing.B) {
	o := newOurs()
	for range b.N {
		b.StopTimer()
		check(o.pt.Map(ourRange(benchVA, gib), phys4K, oursRW))
		b.StartTimer()
		for va := uint64(benchVA); va < benchVA+gib; va += arch.PageSize {
			check(o.pt.Unmap(ourRange(va, arch.PageSize)))
		}
	}
}

func theirsUnmapPerPage(b *testing.B) {
	t := newTheirs()
	for range b.N {
		b.StopTimer()
		t.alloc.Recycle()
		t.pt.Map(benchVA, gib, theirRW, phys4K)
		b.StartTimer()
		for va := uintptr(benchVA); va < benchVA+gib; va += arch.PageSize {
			t.pt.Unmap(hostarch.Addr(va), arch.PageSize)
		}
	}
}

// lookupOrder lists the page indices of the mapped GiB in a fixed random
// order, for lookups that cannot ride on locality.
var lookupOrder = func() []uint32 {
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]uint32, benchPages)
	for i, p := range rng.Perm(benchPages) {
		order[i] = uint32(p)
	}
	return order
}()

func oursLookupSeq(b *testing.B) {
	o := newOurs()
	check(o.pt.Map(ourRange(benchVA, gib), phys4K, oursRW))
	b.ResetTimer()
	var sum uint64
	for range b.N {
		for va := uint64(benchVA); va < benchVA+gib; va += arch.PageSize {
			pa, _, _, _ := o.pt.Lookup(arch.Addr(va))
			sum += pa
		}
	}
	runtime.KeepAlive(sum)
}

func theirsLookupSeq(b *testing.B) {
	t := newTheirs()
	t.pt.Map(benchVA, gib, theirRW, phys4K)
	b.ResetTimer()
	var sum uintptr
	for range b.N {
		for va := uintptr(benchVA); va < benchVA+gib; va += arch.PageSize {
			_, pa, _, _ := t.pt.Lookup(hostarch.Addr(va), false)
			sum += pa
		}
	}
	runtime.KeepAlive(sum)
}

func oursLookupRandom(b *testing.B) {
	o := newOurs()
	check(o.pt.Map(ourRange(benchVA, gib), phys4K, oursRW))
	b.ResetTimer()
	var sum uint64
	for range b.N {
		for _, p := range lookupOrder {
			pa, _, _, _ := o.pt.Lookup(arch.Addr(benchVA + uint64(p)<<arch.PageShift))
			sum += pa
		}
	}
	runtime.KeepAlive(sum)
}

func theirsLookupRandom(b *testing.B) {
	t := newTheirs()
	t.pt.Map(benchVA, gib, theirRW, phys4K)
	b.ResetTimer()
	var sum uintptr
	for range b.N {
		for _, p := range lookupOrder {
			_, pa, _, _ := t.pt.Lookup(hostarch.Addr(benchVA+uintptr(p)<<arch.PageShift), false)
			sum += pa
		}
	}
	runtime.KeepAlive(sum)
}

func oursProtect(b *testing.B) {
	o := newOurs()
	check(o.pt.Map(ourRange(benchVA, gib), phys4K, oursRW))
	b.ResetTimer()
	for i := range b.N {
		opts := oursRW
		if i%2 == 0 {
			opts = oursRO
		}
		check(o.pt.Protect(ourRange(benchVA, gib), opts))
	}
}

// theirsProtect remaps in place with new permissions: gVisor's page tables
// have no protect operation, its users call Map again over the range.
func theirsProtect(b *testing.B) {
	t := newTheirs()
	t.pt.Map(benchVA, gib, theirRW, phys4K)
	b.ResetTimer()
	for i := range b.N {
		opts := theirRW
		if i%2 == 0 {
			opts = theirRO
		}
		t.pt.Map(benchVA, gib, opts, phys4K)
	}
}
