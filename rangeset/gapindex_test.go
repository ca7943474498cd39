package rangeset

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// newGapIndexedSet returns a set with offsetOps and the gap index holding
// segs, inserted without merging.
func newGapIndexedSet(t testing.TB, segs ...Range[key]) *Set[key, val] {
	t.Helper()
	ops := offsetOps(t)
	ops.GapIndex = true
	s := New(ops)
	for i, r := range segs {
		gap := s.FindGap(r.Start)
		if !gap.Ok() {
			t.Fatalf("setup: %v overlaps", r)
		}
		s.InsertWithoutMerging(gap, r, val{off: uint64(i) << 32})
	}
	return s
}

// none stands for a terminal gap handle in expected results: no gap has an
// ill-formed range.
var none = kr(1, 0)

// gapResult returns a gap handle's range, or none.
func gapResult(g Gap[key, val]) Range[key] {
	if !g.Ok() {
		return none
	}
	return g.Range()
}

// TestGapAtLeast pins the queries' definition on a hand-made layout: gaps
// [0,10) [20,22) [30,35) [40,41) [50,max) around segments at 10, 22, 35, 41.
// A gap counts by the part of it inside the range, so the range may cut the
// gaps at its ends short.
func TestGapAtLeast(t *testing.T) {
	s := newGapIndexedSet(t, kr(10, 20), kr(22, 30), kr(35, 40), kr(41, 50))
	for _, tc := range []struct {
		r           Range[key]
		length      uint64
		first, last Range[key]
	}{
		{kr(0, maxK), 5, kr(0, 10), kr(50, maxK)},
		{kr(0, maxK), 11, kr(50, maxK), kr(50, maxK)},
		{kr(0, 50), 5, kr(0, 10), kr(30, 35)},
		{kr(0, 50), 6, kr(0, 10), kr(0, 10)},
		{kr(0, 50), 11, none, none},
		{kr(5, 50), 6, none, none},            // [0,10) cut to 5 keys
		{kr(5, 50), 5, kr(0, 10), kr(30, 35)}, // both ends found
		{kr(31, 55), 5, kr(50, maxK), kr(50, maxK)},
		{kr(31, 54), 5, none, none}, // [30,35) cut to 4, [50,...) to 4
		{kr(31, 54), 4, kr(30, 35), kr(50, maxK)},
		{kr(0, 60), 0, kr(0, 10), kr(50, maxK)}, // length 0 asks for one key
		{kr(20, 22), 0, kr(20, 22), kr(20, 22)},
		{kr(22, 30), 1, none, none},             // inside a segment
		{kr(12, 21), 1, kr(20, 22), kr(20, 22)}, // starts in a segment
		{kr(21, 36), 1, kr(20, 22), kr(30, 35)}, // ends in a segment
		{kr(40, 41), 1, kr(40, 41), kr(40, 41)},
		{kr(40, 40), 0, none, none}, // empty range
		{kr(41, 40), 0, none, none}, // ill-formed range
		{kr(0, maxK), ^uint64(0), none, none},
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.r, tc.length), func(t *testing.T) {
			if got := gapResult(s.FirstGapAtLeast(tc.r, tc.length)); got != tc.first {
				t.Errorf("FirstGapAtLeast = %v; want %v", got, tc.first)
			}
			if got := gapResult(s.LastGapAtLeast(tc.r, tc.length)); got != tc.last {
				t.Errorf("LastGapAtLeast = %v; want %v", got, tc.last)
			}
		})
	}
	// With no segments the one gap is the whole key space.
	empty := newGapIndexedSet(t)
	if got := gapResult(empty.LastGapAtLeast(kr(5, 9), 4)); got != kr(0, maxK) {
		t.Errorf("empty set: LastGapAtLeast = %v", got)
	}
	if got := gapResult(empty.FirstGapAtLeast(kr(5, 9), 5)); got != none {
		t.Errorf("empty set: FirstGapAtLeast of 5 keys in 4 = %v", got)
	}
}

// linearGapAtLeast is the queries' reference: a scan of the set's gaps.
func linearGapAtLeast(gaps []Range[key], r Range[key], length uint64) (first, last Range[key]) {
	first, last = none, none
	need := max(length, 1)
	for _, g := range gaps {
		if g.Intersect(r).Length() >= need {
			if first == none {
				first = g
			}
			last = g
		}
	}
	return first, last
}

// TestGapIndexAtScale drives a set of thousands of segments, with a deep
// gap index, through random insertions, removals, splits and merges, and
// after each batch compares random queries with a scan of every gap and
// checks the index's invariants (the model test's window holds too few
// segments for a deep treap).
func TestGapIndexAtScale(t *testing.T) {
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	const span = 1 << 16
	rng := rand.New(rand.NewPCG(7, 11))
	s := newGapIndexedSet(t)
	for round := range rounds {
		for range 400 {
			k := key(rng.IntN(span))
			switch rng.IntN(6) {
			case 0, 1, 2: // insert (merging half the time) into the gap at k
				if gap := s.FindGap(k); gap.Ok() {
					end := min(gap.End(), k+1+key(rng.IntN(8)))
					v := val{off: uint64(k), tag: uint8(rng.IntN(2))}
					if rng.IntN(2) == 0 {
						s.Insert(gap, kr(k, end), v)
					} else {
						s.InsertWithoutMerging(gap, kr(k, end), v)
					}
				}
			case 3:
				s.RemoveRange(kr(k, k+key(rng.IntN(16))))
			case 4:
				s.SplitAt(k)
			case 5:
				s.MergeRange(kr(k, k+64))
			}
		}
		checkGapIndexInvariants(t, s)
		var gaps []Range[key]
		for g := range s.Gaps(kr(0, maxK)) {
			gaps = append(gaps, g.Range())
		}
		for range 200 {
			a, b := key(rng.IntN(span+64)), key(rng.IntN(span+64))
			r := kr(min(a, b), max(a, b))
			length := uint64(rng.IntN(24))
			wantFirst, wantLast := linearGapAtLeast(gaps, r, length)
			if got := gapResult(s.FirstGapAtLeast(r, length)); got != wantFirst {
				t.Fatalf("round %d: FirstGapAtLeast(%v, %d) = %v; want %v", round, r, length, got, wantFirst)
			}
			if got := gapResult(s.LastGapAtLeast(r, length)); got != wantLast {
				t.Fatalf("round %d: LastGapAtLeast(%v, %d) = %v; want %v", round, r, length, got, wantLast)
			}
		}
	}
	if s.Len() < 1000 {
		t.Errorf("only %d segments at the end; the test wants thousands", s.Len())
	}
	s.RemoveAll()
	if s.gapRoot != nil || gapResult(s.LastGapAtLeast(kr(0, 10), 10)) != kr(0, maxK) {
		t.Errorf("RemoveAll left the gap index %v", s.gapRoot)
	}
}
