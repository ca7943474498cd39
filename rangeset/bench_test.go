package rangeset

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// The benchmarks hold benchSegs segments [2i*unit, (2i+1)*unit) with gaps
// of one unit between them; offsets do not continue across segments, so
// nothing merges unless a benchmark splits a segment first. Each operation
// has a sorted-slice baseline (binary search; insertion and removal shift
// the tail) measured in the same run, for ratios.
const (
	benchSegs = 100_000
	unit      = 4096
)

func benchSet(b *testing.B) *Set[key, val] { return benchSetIndexed(b, false) }

// benchSetIndexed is benchSet, with the gap index if gapIndex.
func benchSetIndexed(b *testing.B, gapIndex bool) *Set[key, val] {
	ops := offsetOps(b)
	ops.GapIndex = gapIndex
	s := New(ops)
	for i := range key(benchSegs) {
		r := kr(2*i*unit, (2*i+1)*unit)
		s.InsertWithoutMerging(s.LastGap(), r, val{off: uint64(i) << 32})
	}
	return s
}

func benchSlice() []mseg {
	out := make([]mseg, 0, benchSegs)
	for i := range key(benchSegs) {
		out = append(out, mseg{kr(2*i*unit, (2*i+1)*unit), val{off: uint64(i) << 32}})
	}
	return out
}

// sliceFind returns the index of the entry holding k, or -1.
func sliceFind(segs []mseg, k key) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].r.End > k })
	if i < len(segs) && segs[i].r.Start <= k {
		return i
	}
	return -1
}

func randKeys(n int) []key {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]key, n)
	for i := range keys {
		keys[i] = key(rng.Uint64N(2 * benchSegs * unit))
	}
	return keys
}

func BenchmarkFind(b *testing.B) {
	keys := randKeys(1 << 16)
	b.Run("btree", func(b *testing.B) {
		s := benchSet(b)
		b.ResetTimer()
		for i := range b.N {
			s.Find(keys[i&(len(keys)-1)])
		}
	})
	b.Run("sortedslice", func(b *testing.B) {
		segs := benchSlice()
		b.ResetTimer()
		for i := range b.N {
			sliceFind(segs, keys[i&(len(keys)-1)])
		}
	})
}

// BenchmarkInsertRemove inserts a segment into a random gap and removes it.
func BenchmarkInsertRemove(b *testing.B) {
	keys := randKeys(1 << 16)
	gapOf := func(k key) Range[key] {
		i := k / (2 * unit)
		return kr((2*i+1)*unit, (2*i+1)*unit+unit/2)
	}
	for _, gapIndex := range []bool{false, true} {
		name := "btree"
		if gapIndex {
			name = "btree+gapindex"
		}
		b.Run(name, func(b *testing.B) {
			s := benchSetIndexed(b, gapIndex)
			b.ResetTimer()
			for i := range b.N {
				r := gapOf(keys[i&(len(keys)-1)])
				seg := s.Insert(s.FindGap(r.Start), r, val{off: 1})
				s.Remove(seg)
			}
			if s.Len() != benchSegs {
				b.Fatalf("Len %d", s.Len())
			}
		})
	}
	b.Run("sortedslice", func(b *testing.B) {
		segs := benchSlice()
		b.ResetTimer()
		for i := range b.N {
			r := gapOf(keys[i&(len(keys)-1)])
			j := sort.Search(len(segs), func(j int) bool { return segs[j].r.Start >= r.End })
			segs = slices.Insert(segs, j, mseg{r, val{off: 1}})
			segs = slices.Delete(segs, j, j+1)
		}
	})
}

// BenchmarkIterate walks all 10^5 segments once per op.
func BenchmarkIterate(b *testing.B) {
	b.Run("All", func(b *testing.B) {
		s := benchSet(b)
		b.ResetTimer()
		for range b.N {
			n := 0
			for range s.All() {
				n++
			}
			if n != benchSegs {
				b.Fatal(n)
			}
		}
	})
	b.Run("Segments", func(b *testing.B) {
		s := benchSet(b)
		b.ResetTimer()
		for range b.N {
			n := 0
			for range s.Segments(kr(0, maxK)) {
				n++
			}
			if n != benchSegs {
				b.Fatal(n)
			}
		}
	})
	b.Run("NextSegment", func(b *testing.B) {
		s := benchSet(b)
		b.ResetTimer()
		for range b.N {
			n := 0
			for seg := s.FirstSegment(); seg.Ok(); seg = seg.NextSegment() {
				n++
			}
			if n != benchSegs {
				b.Fatal(n)
			}
		}
	})
	b.Run("sortedslice", func(b *testing.B) {
		segs := benchSlice()
		b.ResetTimer()
		for range b.N {
			n := 0
			for range segs {
				n++
			}
			if n != benchSegs {
				b.Fatal(n)
			}
		}
	})
}

// BenchmarkIsolateMerge cuts the middle out of a random segment (two
// splits) and merges the three pieces back, as mprotect of part of a vma
// followed by its undo does.
func BenchmarkIsolateMerge(b *testing.B) {
	keys := randKeys(1 << 16)
	s := benchSet(b)
	b.ResetTimer()
	for i := range b.N {
		k := keys[i&(len(keys)-1)]
		start := k / (2 * unit) * (2 * unit)
		r := kr(start+unit/4, start+unit/2)
		seg := s.FindSegment(r.Start)
		if !seg.Ok() {
			continue
		}
		s.Isolate(seg, r)
		s.MergeAdjacent(r)
	}
	if s.Len() != benchSegs {
		b.Fatalf("Len %d after isolate+merge; want %d", s.Len(), benchSegs)
	}
}

// BenchmarkLastGapAtLeast asks for a gap of two units below the last
// segment, where every gap is one unit: the index answers "none" in
// O(log n); the baseline, the fastest linear scan (the Gaps iterator),
// reads all 10^5 gaps.
func BenchmarkLastGapAtLeast(b *testing.B) {
	r := kr(0, (2*benchSegs-1)*unit)
	b.Run("gapindex", func(b *testing.B) {
		s := benchSetIndexed(b, true)
		b.ResetTimer()
		for range b.N {
			if s.LastGapAtLeast(r, 2*unit).Ok() {
				b.Fatal("found a gap of two units")
			}
		}
	})
	b.Run("linear", func(b *testing.B) {
		s := benchSet(b)
		b.ResetTimer()
		for range b.N {
			var last Gap[key, val]
			for g := range s.Gaps(r) {
				if g.Range().Intersect(r).Length() >= 2*unit {
					last = g
				}
			}
			if last.Ok() {
				b.Fatal("found a gap of two units")
			}
		}
	})
}
