package pagetable

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// The benchmarks map 1 GiB under one PML4 entry and report ns per leaf
// (ns/page) and table pages per GiB mapped. The physical addresses are
// aligned to the leaf size only, so no larger leaf can be used.
const (
	benchVA    = 64 * gib
	benchPages = gib / arch.PageSize
)

var benchRange = rng(benchVA, benchVA+gib)

func benchTables(b *testing.B) *PageTables {
	pt, err := New(NewHeapAllocator(1<<12), Features{GiantPages: true})
	if err != nil {
		b.Fatal(err)
	}
	return pt
}

// must returns a function that fails b on the error of a Flush-returning
// call, so that calls read must(b)(pt.Map(...)).
func must(b *testing.B) func(Flush, error) {
	return func(_ Flush, err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
}

func perPage(b *testing.B, leaves int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(leaves), "ns/page")
}

func BenchmarkMap4KOneCall(b *testing.B) {
	pt := benchTables(b)
	for range b.N {
		must(b)(pt.Map(benchRange, 8*gib+arch.PageSize, rw))
		b.StopTimer()
		b.ReportMetric(float64(pt.TablePages()), "tables/GiB")
		must(b)(pt.Unmap(benchRange))
		b.StartTimer()
	}
	perPage(b, benchPages)
}

func BenchmarkMap4KPerPage(b *testing.B) {
	pt := benchTables(b)
	for range b.N {
		for va := uint64(benchVA); va < benchVA+gib; va += arch.PageSize {
			must(b)(pt.Map(rng(va, va+arch.PageSize), va, rw))
		}
		b.StopTimer()
		b.ReportMetric(float64(pt.TablePages()), "tables/GiB")
		must(b)(pt.Unmap(benchRange))
		b.StartTimer()
	}
	perPage(b, benchPages)
}

func BenchmarkMap2MOneCall(b *testing.B) {
	pt := benchTables(b)
	for range b.N {
		must(b)(pt.Map(benchRange, 8*gib+arch.HugePageSize, rw))
		b.StopTimer()
		b.ReportMetric(float64(pt.TablePages()), "tables/GiB")
		must(b)(pt.Unmap(benchRange))
		b.StartTimer()
	}
	perPage(b, gib/arch.HugePageSize)
}

func BenchmarkUnmap4KOneCall(b *testing.B) {
	pt := benchTables(b)
	for range b.N {
		b.StopTimer()
		must(b)(pt.Map(benchRange, 8*gib+arch.PageSize, rw))
		b.StartTimer()
		must(b)(pt.Unmap(benchRange))
	}
	perPage(b, benchPages)
}

func BenchmarkUnmap4KPerPage(b *testing.B) {
	pt := benchTables(b)
	for range b.N {
		b.StopTimer()
		must(b)(pt.Map(benchRange, 8*gib+arch.PageSize, rw))
		b.StartTimer()
		for va := uint64(benchVA); va < benchVA+gib; va += arch.PageSize {
			must(b)(pt.Unmap(rng(va, va+arch.PageSize)))
		}
	}
	perPage(b, benchPages)
}

func BenchmarkLookup4K(b *testing.B) {
	pt := benchTables(b)
	must(b)(pt.Map(benchRange, 8*gib+arch.PageSize, rw))
	var sum uint64
	for i := range b.N {
		pa, _, _, _ := pt.Lookup(arch.Addr(benchVA + uint64(i%benchPages)<<arch.PageShift))
		sum += pa
	}
	runtime.KeepAlive(sum)
}

func BenchmarkProtect4KOneCall(b *testing.B) {
	pt := benchTables(b)
	must(b)(pt.Map(benchRange, 8*gib+arch.PageSize, rw))
	ro := MapOpts{Access: arch.Read, User: true}
	for i := range b.N {
		o := rw
		if i%2 == 0 {
			o = ro
		}
		must(b)(pt.Protect(benchRange, o))
	}
	perPage(b, benchPages)
}

// BenchmarkLookup4KRandom looks pages up in a random order, so neither the
// walk cache nor the processor's prefetching helps; ns/op is per lookup.
func BenchmarkLookup4KRandom(b *testing.B) {
	pt := benchTables(b)
	must(b)(pt.Map(benchRange, 8*gib+arch.PageSize, rw))
	order := rand.New(rand.NewPCG(1, 2)).Perm(benchPages)
	b.ResetTimer()
	var sum uint64
	for i := range b.N {
		pa, _, _, _ := pt.Lookup(arch.Addr(benchVA + uint64(order[i%benchPages])<<arch.PageShift))
		sum += pa
	}
	runtime.KeepAlive(sum)
}
