package rangeset

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const maxK = ^key(0)

// newOffsetSet returns a set with offsetOps holding segs, inserted without
// merging.
func newOffsetSet(t *testing.T, segs ...mseg) *Set[key, val] {
	t.Helper()
	s := New(offsetOps(t))
	for _, ms := range segs {
		gap := s.FindGap(ms.r.Start)
		if !gap.Ok() {
			t.Fatalf("setup: %v overlaps", ms.r)
		}
		s.InsertWithoutMerging(gap, ms.r, ms.v)
	}
	return s
}

func contents[K ~uint64, V any](s *Set[K, V]) []string {
	var out []string
	for r, v := range s.All() {
		out = append(out, fmt.Sprintf("%v %v", r, v))
	}
	return out
}

func ms(start, end key, off uint64) mseg { return mseg{kr(start, end), val{off: off}} }

func TestEmptySetGapsSpanKeySpace(t *testing.T) {
	s := New(Ops[key, int]{})
	if !s.IsEmpty() || s.Len() != 0 || s.Span() != 0 {
		t.Fatalf("new set: IsEmpty %v Len %d Span %d", s.IsEmpty(), s.Len(), s.Span())
	}
	all := kr(0, maxK)
	for _, k := range []key{0, 1, 1 << 47, maxK - 1, maxK} {
		seg, gap := s.Find(k)
		if seg.Ok() || !gap.Ok() || gap.Range() != all {
			t.Errorf("Find(%#x) = %v, %v; want the one gap %v", uint64(k), seg.Ok(), gap.Range(), all)
		}
	}
	for _, g := range []Gap[key, int]{s.FirstGap(), s.LastGap(), s.LowerBoundGap(5), s.UpperBoundGap(maxK)} {
		if !g.Ok() || g.Range() != all || g.IsEmpty() {
			t.Errorf("gap %v; want %v", g.Range(), all)
		}
		if g.NextSegment().Ok() || g.PrevSegment().Ok() || g.NextGap().Ok() || g.PrevGap().Ok() {
			t.Errorf("the only gap has neighbours")
		}
	}
	if s.FirstSegment().Ok() || s.LastSegment().Ok() || s.LowerBoundSegment(0).Ok() || s.UpperBoundSegment(maxK).Ok() {
		t.Error("empty set returned a segment")
	}
	if s.SplitAt(3) {
		t.Error("SplitAt in an empty set split")
	}
	var terminal Gap[key, int]
	if terminal.Ok() || terminal.NextSegment().Ok() || terminal.PrevSegment().Ok() {
		t.Error("zero Gap is not terminal")
	}
	if got := s.String(); got != "{}" {
		t.Errorf("String() = %q", got)
	}
}

func TestGapsAtKeySpaceEdges(t *testing.T) {
	for _, tc := range []struct {
		name            string
		segs            []mseg
		first, last     Range[key]
		findMax         Range[key] // gap reported for the largest key
		firstSegHasPrev bool
	}{
		{"segment at 0", []mseg{ms(0, 5, 0)}, kr(0, 0), kr(5, maxK), kr(5, maxK), false},
		{"segment ending at max", []mseg{ms(maxK-5, maxK, 0)}, kr(0, maxK-5), kr(maxK, maxK), kr(maxK, maxK), false},
		{"both ends", []mseg{ms(0, 1, 0), ms(maxK-1, maxK, 9)}, kr(0, 0), kr(maxK, maxK), kr(maxK, maxK), false},
		{"middle", []mseg{ms(10, 20, 0)}, kr(0, 10), kr(20, maxK), kr(20, maxK), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newOffsetSet(t, tc.segs...)
			first, last := s.FirstGap(), s.LastGap()
			if first.Range() != tc.first || last.Range() != tc.last {
				t.Fatalf("FirstGap %v, LastGap %v; want %v, %v", first.Range(), last.Range(), tc.first, tc.last)
			}
			if first.IsEmpty() != tc.first.Empty() || last.IsEmpty() != tc.last.Empty() {
				t.Error("IsEmpty disagrees with the range")
			}
			if first.PrevSegment().Ok() || first.PrevGap().Ok() || last.NextSegment().Ok() || last.NextGap().Ok() {
				t.Error("edge gaps have outer neighbours")
			}
			if got := first.NextSegment(); got.Range() != tc.segs[0].r {
				t.Errorf("FirstGap.NextSegment = %v", got.Range())
			}
			if got := last.PrevSegment(); got.Range() != tc.segs[len(tc.segs)-1].r {
				t.Errorf("LastGap.PrevSegment = %v", got.Range())
			}
			if seg, gap := s.Find(maxK); seg.Ok() || gap.Range() != tc.findMax {
				t.Errorf("Find(max) = %v, gap %v; want gap %v", seg.Ok(), gap.Range(), tc.findMax)
			}
			if got := s.FindSegment(tc.segs[0].r.Start); got.Range() != tc.segs[0].r {
				t.Errorf("FindSegment(first start) = %v", got.Range())
			}
			if got := s.FindSegment(tc.segs[len(tc.segs)-1].r.End - 1); got.Range() != tc.segs[len(tc.segs)-1].r {
				t.Errorf("FindSegment(last end-1) = %v", got.Range())
			}
		})
	}
}

func TestEmptyGapBetweenAdjacentSegments(t *testing.T) {
	s := newOffsetSet(t, ms(10, 20, 0), ms(20, 30, 500)) // offsets do not continue: no merge
	a := s.FindSegment(15)
	g := a.NextGap()
	if !g.Ok() || !g.IsEmpty() || g.Range() != kr(20, 20) {
		t.Fatalf("gap between touching segments = %v ok=%v", g.Range(), g.Ok())
	}
	if g.PrevSegment().Range() != kr(10, 20) || g.NextSegment().Range() != kr(20, 30) {
		t.Errorf("empty gap's neighbours: %v, %v", g.PrevSegment().Range(), g.NextSegment().Range())
	}
	if g.NextGap().Range() != kr(30, maxK) || g.PrevGap().Range() != kr(0, 10) {
		t.Errorf("empty gap's gap neighbours: %v, %v", g.NextGap().Range(), g.PrevGap().Range())
	}
	if s.FindGap(20).Ok() {
		t.Error("FindGap(20) found the empty gap; 20 is in a segment")
	}
	if got := s.LowerBoundGap(15); got.Range() != kr(20, 20) {
		t.Errorf("LowerBoundGap(15) = %v; want the empty gap", got.Range())
	}
	if got := s.UpperBoundGap(25); got.Range() != kr(20, 20) {
		t.Errorf("UpperBoundGap(25) = %v; want the empty gap", got.Range())
	}
	var gaps []Range[key]
	for gap := range s.Gaps(kr(0, maxK)) {
		gaps = append(gaps, gap.Range())
	}
	if want := []Range[key]{kr(0, 10), kr(30, maxK)}; !slices.Equal(gaps, want) {
		t.Errorf("Gaps skipped no empty gap: %v; want %v", gaps, want)
	}
}

func TestBounds(t *testing.T) {
	s := newOffsetSet(t, ms(10, 20, 0), ms(30, 40, 0))
	for _, tc := range []struct {
		k              key
		lbSeg, ubSeg   Range[key] // zero range: terminal
		lbGap, ubGap   Range[key]
		findSegOk      bool
		lbSegOk, ubSOk bool
	}{
		{0, kr(10, 20), Range[key]{}, kr(0, 10), kr(0, 10), false, true, false},
		{10, kr(10, 20), kr(10, 20), kr(20, 30), kr(0, 10), true, true, true},
		{19, kr(10, 20), kr(10, 20), kr(20, 30), kr(0, 10), true, true, true},
		{20, kr(30, 40), kr(10, 20), kr(20, 30), kr(20, 30), false, true, true},
		{35, kr(30, 40), kr(30, 40), kr(40, maxK), kr(20, 30), true, true, true},
		{40, Range[key]{}, kr(30, 40), kr(40, maxK), kr(40, maxK), false, false, true},
		{maxK, Range[key]{}, kr(30, 40), kr(40, maxK), kr(40, maxK), false, false, true},
	} {
		lb, ub := s.LowerBoundSegment(tc.k), s.UpperBoundSegment(tc.k)
		if lb.Ok() != tc.lbSegOk || (lb.Ok() && lb.Range() != tc.lbSeg) {
			t.Errorf("LowerBoundSegment(%d) = %v", tc.k, segStr(lb))
		}
		if ub.Ok() != tc.ubSOk || (ub.Ok() && ub.Range() != tc.ubSeg) {
			t.Errorf("UpperBoundSegment(%d) = %v", tc.k, segStr(ub))
		}
		if got := s.LowerBoundGap(tc.k).Range(); got != tc.lbGap {
			t.Errorf("LowerBoundGap(%d) = %v; want %v", tc.k, got, tc.lbGap)
		}
		if got := s.UpperBoundGap(tc.k).Range(); got != tc.ubGap {
			t.Errorf("UpperBoundGap(%d) = %v; want %v", tc.k, got, tc.ubGap)
		}
		if s.FindSegment(tc.k).Ok() != tc.findSegOk || s.FindGap(tc.k).Ok() == tc.findSegOk {
			t.Errorf("FindSegment/FindGap(%d) disagree with %v", tc.k, tc.findSegOk)
		}
	}
}

func segStr[K ~uint64, V any](seg Seg[K, V]) string {
	if !seg.Ok() {
		return "<terminal>"
	}
	return seg.Range().String()
}

// mergeLog is an offsetOps that records the ranges Merge and Split see.
type mergeLog struct {
	merges, splits []string
}

func (l *mergeLog) ops(t *testing.T) Ops[key, val] {
	inner := offsetOps(t)
	return Ops[key, val]{
		Merge: func(r1 Range[key], v1 val, r2 Range[key], v2 val) (val, bool) {
			l.merges = append(l.merges, fmt.Sprintf("%v+%v", r1, r2))
			return inner.Merge(r1, v1, r2, v2)
		},
		Split: func(r Range[key], v val, at key) (val, val) {
			l.splits = append(l.splits, fmt.Sprintf("%v@%#x", r, uint64(at)))
			return inner.Split(r, v, at)
		},
	}
}

func TestInsertMerging(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segs    []mseg
		r       Range[key]
		v       val
		noMerge bool
		ret     Range[key]
		merges  []string // Merge calls, in order
	}{
		{"left", []mseg{ms(0, 10, 100)}, kr(10, 20), val{off: 110}, false,
			kr(0, 20), []string{"[0x0, 0xa)+[0xa, 0x14)"}},
		{"right", []mseg{ms(20, 30, 120)}, kr(10, 20), val{off: 110}, false,
			kr(10, 30), []string{"[0xa, 0x14)+[0x14, 0x1e)"}},
		{"both", []mseg{ms(0, 10, 100), ms(20, 30, 120)}, kr(10, 20), val{off: 110}, false,
			kr(0, 30), []string{"[0x0, 0xa)+[0xa, 0x14)", "[0x0, 0x14)+[0x14, 0x1e)"}},
		{"refused by offsets", []mseg{ms(0, 10, 100), ms(20, 30, 500)}, kr(10, 20), val{off: 300}, false,
			kr(10, 20), []string{"[0x0, 0xa)+[0xa, 0x14)", "[0xa, 0x14)+[0x14, 0x1e)"}},
		{"refused by tag", []mseg{ms(0, 10, 100)}, kr(10, 20), val{off: 110, tag: 1}, false,
			kr(10, 20), []string{"[0x0, 0xa)+[0xa, 0x14)"}},
		{"left only, right refused", []mseg{ms(0, 10, 100), ms(20, 30, 999)}, kr(10, 20), val{off: 110}, false,
			kr(0, 20), []string{"[0x0, 0xa)+[0xa, 0x14)", "[0x0, 0x14)+[0x14, 0x1e)"}},
		{"not touching: not asked", []mseg{ms(0, 10, 100), ms(20, 30, 120)}, kr(11, 19), val{off: 111}, false,
			kr(11, 19), nil},
		{"without merging", []mseg{ms(0, 10, 100), ms(20, 30, 120)}, kr(10, 20), val{off: 110}, true,
			kr(10, 20), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log mergeLog
			s := New(log.ops(t))
			for _, m := range tc.segs {
				s.InsertWithoutMerging(s.FindGap(m.r.Start), m.r, m.v)
			}
			gap := s.FindGap(tc.r.Start)
			var seg Seg[key, val]
			if tc.noMerge {
				seg = s.InsertWithoutMerging(gap, tc.r, tc.v)
			} else {
				seg = s.Insert(gap, tc.r, tc.v)
			}
			if seg.Range() != tc.ret {
				t.Errorf("returned %v; want %v", seg.Range(), tc.ret)
			}
			if !slices.Equal(log.merges, tc.merges) {
				t.Errorf("Merge calls %q; want %q", log.merges, tc.merges)
			}
			var span uint64
			for _, m := range tc.segs {
				span += m.r.Length()
			}
			if s.Span() != span+tc.r.Length() {
				t.Errorf("Span %d; want %d", s.Span(), span+tc.r.Length())
			}
			// Offsets of every key are what was inserted, merged or not.
			for k := key(0); k < 30; k++ {
				seg := s.FindSegment(k)
				if !seg.Ok() {
					continue
				}
				got := seg.Value().off + uint64(k-seg.Start())
				var want uint64
				for _, m := range append(tc.segs, mseg{tc.r, tc.v}) {
					if m.r.Contains(k) {
						want = m.v.off + uint64(k-m.r.Start)
					}
				}
				if got != want {
					t.Errorf("offset of %d = %d; want %d", k, got, want)
				}
			}
		})
	}
}

func TestNilOpsNeverMergeAndCopyOnSplit(t *testing.T) {
	s := New(Ops[key, string]{})
	a, _ := s.InsertRange(kr(0, 10), "x")
	b, err := s.InsertRange(kr(10, 20), "x")
	if err != nil || s.Len() != 2 || a.Range() == b.Range() {
		t.Fatalf("nil Merge merged: %v, %v", contents(s), err)
	}
	if _, ok := s.Merge(s.FindSegment(0), s.FindSegment(10)); ok {
		t.Error("Merge with nil Ops.Merge merged")
	}
	s.MergeRange(kr(0, 20))
	if s.Len() != 2 {
		t.Error("MergeRange with nil Ops.Merge merged")
	}
	if !s.SplitAt(5) {
		t.Fatal("SplitAt(5) did not split")
	}
	want := []string{"[0x0, 0x5) x", "[0x5, 0xa) x", "[0xa, 0x14) x"}
	if got := contents(s); !slices.Equal(got, want) {
		t.Errorf("after split: %q; want %q", got, want)
	}
}

func TestSplitCalls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     func(s *Set[key, val]) Range[key] // returns the range of what it returns, if any
		ret    Range[key]
		splits []string
		after  []string
	}{
		{"isolate inside", func(s *Set[key, val]) Range[key] {
			return s.Isolate(s.FindSegment(50), kr(10, 20)).Range()
		}, kr(10, 20), []string{"[0x0, 0x64)@0xa", "[0xa, 0x64)@0x14"},
			[]string{"[0x0, 0xa) {1000 0}", "[0xa, 0x14) {1010 0}", "[0x14, 0x64) {1020 0}"}},
		{"isolate left edge", func(s *Set[key, val]) Range[key] {
			return s.Isolate(s.FindSegment(50), kr(0, 20)).Range()
		}, kr(0, 20), []string{"[0x0, 0x64)@0x14"},
			[]string{"[0x0, 0x14) {1000 0}", "[0x14, 0x64) {1020 0}"}},
		{"isolate overhanging right", func(s *Set[key, val]) Range[key] {
			return s.Isolate(s.FindSegment(50), kr(90, 200)).Range()
		}, kr(90, 100), []string{"[0x0, 0x64)@0x5a"},
			[]string{"[0x0, 0x5a) {1000 0}", "[0x5a, 0x64) {1090 0}"}},
		{"isolate superset", func(s *Set[key, val]) Range[key] {
			return s.Isolate(s.FindSegment(50), kr(0, maxK)).Range()
		}, kr(0, 100), nil, []string{"[0x0, 0x64) {1000 0}"}},
		{"split at start", func(s *Set[key, val]) Range[key] {
			if s.SplitAt(0) || s.SplitAt(100) || s.SplitAt(maxK) {
				return kr(1, 1)
			}
			return Range[key]{}
		}, Range[key]{}, nil, []string{"[0x0, 0x64) {1000 0}"}},
		{"remove range middle", func(s *Set[key, val]) Range[key] {
			return s.RemoveRange(kr(40, 60)).Range()
		}, kr(40, 60), []string{"[0x0, 0x64)@0x28", "[0x28, 0x64)@0x3c"},
			[]string{"[0x0, 0x28) {1000 0}", "[0x3c, 0x64) {1060 0}"}},
		{"remove range all", func(s *Set[key, val]) Range[key] {
			return s.RemoveRange(kr(0, 100)).Range()
		}, kr(0, maxK), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log mergeLog
			s := New(log.ops(t))
			if _, err := s.InsertRange(kr(0, 100), val{off: 1000}); err != nil {
				t.Fatal(err)
			}
			if got := tc.op(s); got != tc.ret {
				t.Errorf("returned %v; want %v", got, tc.ret)
			}
			if !slices.Equal(log.splits, tc.splits) {
				t.Errorf("Split calls %q; want %q", log.splits, tc.splits)
			}
			if got := contents(s); !slices.Equal(got, tc.after) {
				t.Errorf("contents %q; want %q", got, tc.after)
			}
		})
	}
}

func TestRemoveRangeAcrossSegments(t *testing.T) {
	s := newOffsetSet(t, ms(0, 10, 0), ms(10, 20, 100), ms(30, 40, 300), ms(50, 60, 500))
	gap := s.RemoveRange(kr(5, 55))
	if gap.Range() != kr(5, 55) {
		t.Errorf("RemoveRange returned %v; want [5, 55)", gap.Range())
	}
	want := []string{"[0x0, 0x5) {0 0}", "[0x37, 0x3c) {505 0}"}
	if got := contents(s); !slices.Equal(got, want) || s.Span() != 10 {
		t.Errorf("contents %q span %d; want %q, 10", got, s.Span(), want)
	}
	if got := s.RemoveRange(kr(20, 30)); got.Range() != kr(5, 55) {
		t.Errorf("RemoveRange of a gap returned %v", got.Range())
	}
	if got := s.RemoveRange(kr(2, 2)); got.Ok() {
		t.Errorf("RemoveRange of empty range inside a segment returned gap %v", got.Range())
	}
	if got := s.RemoveRange(kr(30, 30)); got.Range() != kr(5, 55) {
		t.Errorf("RemoveRange of empty range in a gap returned %v", got.Range())
	}
}

func TestInsertRangeErrors(t *testing.T) {
	s := newOffsetSet(t, ms(10, 20, 0), ms(30, 40, 0))
	for _, tc := range []struct {
		r    Range[key]
		want error
	}{
		{kr(5, 5), ErrInvalidRange},
		{kr(6, 5), ErrInvalidRange},
		{kr(15, 25), ErrOverlap},
		{kr(5, 11), ErrOverlap},
		{kr(0, maxK), ErrOverlap},
		{kr(20, 31), ErrOverlap},
		{kr(10, 20), ErrOverlap},
		{kr(20, 30), nil},
	} {
		_, err := s.InsertRange(tc.r, val{off: 1 << 20})
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("InsertRange(%v) = %v; want %v", tc.r, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), tc.r.String()) {
			t.Errorf("error %q does not name the range", err)
		}
	}
}

func TestMergeOperations(t *testing.T) {
	// Offsets continue across every boundary except 30 (tag) and the gap
	// at [50, 60).
	build := func(t *testing.T) *Set[key, val] {
		return newOffsetSet(t, ms(0, 10, 0), ms(10, 20, 10), ms(20, 30, 20),
			mseg{kr(30, 40), val{off: 30, tag: 1}}, mseg{kr(40, 50), val{off: 40, tag: 1}}, mseg{kr(60, 70), val{off: 60, tag: 1}})
	}
	for _, tc := range []struct {
		name string
		op   func(s *Set[key, val])
		want []Range[key]
	}{
		{"MergeRange all", func(s *Set[key, val]) { s.MergeRange(kr(0, 100)) },
			[]Range[key]{kr(0, 30), kr(30, 50), kr(60, 70)}},
		{"MergeRange inner pair only", func(s *Set[key, val]) { s.MergeRange(kr(12, 25)) },
			[]Range[key]{kr(0, 10), kr(10, 30), kr(30, 40), kr(40, 50), kr(60, 70)}},
		{"MergeRange one segment", func(s *Set[key, val]) { s.MergeRange(kr(12, 18)) },
			[]Range[key]{kr(0, 10), kr(10, 20), kr(20, 30), kr(30, 40), kr(40, 50), kr(60, 70)}},
		{"MergeRange empty", func(s *Set[key, val]) { s.MergeRange(kr(10, 10)) },
			[]Range[key]{kr(0, 10), kr(10, 20), kr(20, 30), kr(30, 40), kr(40, 50), kr(60, 70)}},
		{"MergeAdjacent", func(s *Set[key, val]) { s.MergeAdjacent(kr(10, 20)) },
			[]Range[key]{kr(0, 30), kr(30, 40), kr(40, 50), kr(60, 70)}},
		{"MergeAdjacent refused and gap", func(s *Set[key, val]) { s.MergeAdjacent(kr(30, 50)) },
			[]Range[key]{kr(0, 10), kr(10, 20), kr(20, 30), kr(30, 40), kr(40, 50), kr(60, 70)}},
		{"MergeAdjacent empty", func(s *Set[key, val]) { s.MergeAdjacent(kr(10, 10)) },
			[]Range[key]{kr(0, 10), kr(10, 20), kr(20, 30), kr(30, 40), kr(40, 50), kr(60, 70)}},
		{"Merge pair", func(s *Set[key, val]) {
			if m, ok := s.Merge(s.FindSegment(30), s.FindSegment(40)); !ok || m.Range() != kr(30, 50) {
				panic("Merge refused")
			}
		}, []Range[key]{kr(0, 10), kr(10, 20), kr(20, 30), kr(30, 50), kr(60, 70)}},
		{"Merge across a gap refused", func(s *Set[key, val]) {
			if m, ok := s.Merge(s.FindSegment(40), s.FindSegment(60)); ok || m.Range() != kr(40, 50) {
				panic("Merge across a gap")
			}
			if _, ok := s.Merge(s.FindSegment(60), s.FindSegment(40)); ok {
				panic("Merge out of order")
			}
			if _, ok := s.Merge(s.FindSegment(60), s.FindSegment(75)); ok {
				panic("Merge with terminal")
			}
		}, []Range[key]{kr(0, 10), kr(10, 20), kr(20, 30), kr(30, 40), kr(40, 50), kr(60, 70)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t)
			tc.op(s)
			var got []Range[key]
			for seg := range s.Segments(kr(0, maxK)) {
				got = append(got, seg.Range())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("segments %v; want %v", got, tc.want)
			}
			if s.Span() != 60 {
				t.Errorf("Span %d; want 60", s.Span())
			}
		})
	}
}

func TestValuePtrAndSetValue(t *testing.T) {
	s := newOffsetSet(t, ms(0, 10, 0))
	seg := s.FindSegment(3)
	p := seg.ValuePtr()
	// Other segments come and go; p stays the segment's value.
	for i := range key(100) {
		if _, err := s.InsertRange(kr(100+2*i, 101+2*i), val{off: 7}); err != nil {
			t.Fatal(err)
		}
	}
	s.RemoveRange(kr(100, 150))
	p.off = 42
	if got := s.FindSegment(9).Value().off; got != 42 {
		t.Errorf("write through ValuePtr lost: %d", got)
	}
	seg = s.FindSegment(0)
	seg.SetValue(val{off: 43})
	if got := s.FindSegment(5).Value().off; got != 43 {
		t.Errorf("SetValue lost: %d", got)
	}
	if seg.Start() != 0 || seg.End() != 10 {
		t.Errorf("Start, End = %d, %d", seg.Start(), seg.End())
	}
}

func TestSpanRange(t *testing.T) {
	s := newOffsetSet(t, ms(10, 20, 0), ms(20, 30, 100), ms(40, 50, 0), ms(maxK-5, maxK, 0))
	for _, tc := range []struct {
		r    Range[key]
		want uint64
	}{
		{kr(0, maxK), 35},
		{kr(15, 45), 20},
		{kr(30, 40), 0},
		{kr(25, 25), 0},
		{kr(maxK-2, maxK), 2},
	} {
		if got := s.SpanRange(tc.r); got != tc.want {
			t.Errorf("SpanRange(%v) = %d; want %d", tc.r, got, tc.want)
		}
	}
	if s.Span() != 35 {
		t.Errorf("Span = %d", s.Span())
	}
	s.RemoveAll()
	if !s.IsEmpty() || s.Span() != 0 || s.FirstGap().Range() != kr(0, maxK) {
		t.Errorf("after RemoveAll: %v", s)
	}
}

func TestIterationToleratesMutation(t *testing.T) {
	s := newOffsetSet(t, ms(0, 10, 0), ms(20, 30, 0), ms(40, 50, 0), ms(60, 70, 0))
	// Remove every segment while walking them.
	var seen []Range[key]
	for seg := range s.Segments(kr(0, maxK)) {
		seen = append(seen, seg.Range())
		s.Remove(seg)
	}
	if want := []Range[key]{kr(0, 10), kr(20, 30), kr(40, 50), kr(60, 70)}; !slices.Equal(seen, want) || !s.IsEmpty() {
		t.Errorf("removing walk saw %v, left %v", seen, s)
	}
	// Fill every gap of [0, 100) while walking the gaps.
	s = newOffsetSet(t, ms(10, 20, 10), ms(30, 40, 30))
	var gaps []Range[key]
	for gap := range s.Gaps(kr(0, 100)) {
		gaps = append(gaps, gap.Range())
		r := gap.Range().Intersect(kr(0, 100))
		s.Insert(gap, r, val{off: uint64(r.Start)})
	}
	if want := []Range[key]{kr(0, 10), kr(20, 30), kr(40, maxK)}; !slices.Equal(gaps, want) {
		t.Errorf("filling walk saw %v; want %v", gaps, want)
	}
	if got := contents(s); !slices.Equal(got, []string{"[0x0, 0x64) {0 0}"}) {
		t.Errorf("after filling: %q", got)
	}
	// Split segments while walking All: pieces after the yielded end are
	// not revisited, later segments are.
	s = newOffsetSet(t, ms(0, 10, 0), ms(20, 30, 20))
	var all []Range[key]
	for r := range s.All() {
		all = append(all, r)
		s.SplitAt(r.Start + 5)
	}
	if want := []Range[key]{kr(0, 10), kr(20, 30)}; !slices.Equal(all, want) || s.Len() != 4 {
		t.Errorf("splitting walk saw %v, Len %d", all, s.Len())
	}
}

func TestIterationStopsEarly(t *testing.T) {
	s := newOffsetSet(t, ms(0, 10, 0), ms(20, 30, 0), ms(40, 50, 0))
	n := 0
	for range s.Segments(kr(0, maxK)) {
		n++
		break
	}
	for range s.Gaps(kr(0, maxK)) {
		n++
		break
	}
	for range s.All() {
		n++
		break
	}
	if n != 3 {
		t.Errorf("early break ran %d bodies", n)
	}
	for range s.Segments(kr(5, 5)) {
		t.Error("Segments of an empty range yielded")
	}
	for range s.Gaps(kr(5, 5)) {
		t.Error("Gaps of an empty range yielded")
	}
	for range s.Segments(kr(60, 70)) {
		t.Error("Segments past the last yielded")
	}
	var gaps []Range[key]
	for g := range s.Gaps(kr(25, 45)) {
		gaps = append(gaps, g.Range())
	}
	if want := []Range[key]{kr(30, 40)}; !slices.Equal(gaps, want) {
		t.Errorf("Gaps([25,45)) = %v", gaps)
	}
}

func TestString(t *testing.T) {
	s := New(Ops[key, string]{})
	s.InsertRange(kr(0x10, 0x20), "a")
	s.InsertRange(kr(0x30, 0x40), "b")
	if got, want := s.String(), "{[0x10, 0x20) a, [0x30, 0x40) b}"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestPreconditionPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(s *Set[key, val])
		msg  string
	}{
		{"insert outside gap", func(s *Set[key, val]) { s.Insert(s.FindGap(0), kr(5, 15), val{}) }, "outside its gap"},
		{"insert empty", func(s *Set[key, val]) { s.Insert(s.FindGap(0), kr(5, 5), val{}) }, "empty"},
		{"insert terminal gap", func(s *Set[key, val]) { s.InsertWithoutMerging(s.FindGap(15), kr(5, 6), val{}) }, "terminal gap"},
		{"isolate disjoint", func(s *Set[key, val]) { s.Isolate(s.FindSegment(15), kr(0, 10)) }, "does not overlap"},
		{"isolate empty", func(s *Set[key, val]) { s.Isolate(s.FindSegment(15), kr(15, 15)) }, "does not overlap"},
		{"remove terminal", func(s *Set[key, val]) { s.Remove(s.FindSegment(0)) }, "terminal"},
		{"remove twice", func(s *Set[key, val]) {
			seg := s.FindSegment(15)
			s.Remove(seg)
			s.Remove(seg)
		}, "stale handle"},
		{"remove ill-formed range", func(s *Set[key, val]) { s.RemoveRange(kr(5, 4)) }, "ill-formed"},
		{"first gap without index", func(s *Set[key, val]) { s.FirstGapAtLeast(kr(0, 100), 1) }, "FirstGapAtLeast needs a set made with Ops.GapIndex"},
		{"last gap without index", func(s *Set[key, val]) { s.LastGapAtLeast(kr(0, 100), 1) }, "LastGapAtLeast needs a set made with Ops.GapIndex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newOffsetSet(t, ms(10, 20, 0))
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.msg) {
					t.Errorf("panic %v; want one mentioning %q", r, tc.msg)
				}
			}()
			tc.op(s)
		})
	}
}

// TestConcurrentReaders backs the package comment's promise that lookups
// and iteration may run in parallel when nothing mutates (run with -race).
func TestConcurrentReaders(t *testing.T) {
	s := New(offsetOps(t))
	for i := range key(1000) {
		s.InsertWithoutMerging(s.LastGap(), kr(3*i, 3*i+2), val{off: uint64(i) << 20})
	}
	read := func(g int) uint64 {
		var sum uint64
		for i := range key(2000) {
			k := (i*7 + key(g)) % 2997
			if seg, gap := s.Find(k); seg.Ok() {
				sum += uint64(seg.Start())
			} else {
				sum += uint64(gap.End())
			}
			sum += uint64(s.LowerBoundSegment(k).End())
		}
		for r := range s.All() {
			sum += uint64(r.Start)
		}
		return sum
	}
	var want [4]uint64
	for g := range want {
		want[g] = read(g)
	}
	var got [4]chan uint64
	for g := range got {
		got[g] = make(chan uint64, 1)
		go func() { got[g] <- read(g) }()
	}
	for g := range got {
		if sum := <-got[g]; sum != want[g] {
			t.Errorf("reader %d: %d; read alone %d", g, sum, want[g])
		}
	}
}
