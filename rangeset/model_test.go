package rangeset

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// key is a named key type, to exercise K ~uint64 rather than uint64 itself.
type key uint64

// val is a test value shaped like a pma's: off is the file offset of the
// segment's first key, so the offset of key k is off + (k - Start). Two
// segments merge when their offsets continue and their tags agree.
type val struct {
	off uint64
	tag uint8
}

// offsetOps merges contiguous offsets with equal tags and splits by offset,
// failing t if the set passes ranges that cannot be right.
func offsetOps(t testing.TB) Ops[key, val] {
	return Ops[key, val]{
		Merge: func(r1 Range[key], v1 val, r2 Range[key], v2 val) (val, bool) {
			if r1.End != r2.Start || r1.Empty() || r2.Empty() {
				t.Errorf("Merge called with %v and %v: not adjacent non-empty ranges", r1, r2)
			}
			if v1.tag != v2.tag || v1.off+r1.Length() != v2.off {
				return val{}, false
			}
			return v1, true
		},
		Split: func(r Range[key], v val, at key) (val, val) {
			if !r.CanSplitAt(at) {
				t.Errorf("Split called with %v at %#x: not strictly inside", r, uint64(at))
			}
			return v, val{off: v.off + uint64(at-r.Start), tag: v.tag}
		},
	}
}

// modelUnits is the number of keys the model tracks.
const modelUnits = 64

// model is the naive reference: per key of a window [base, base+modelUnits),
// which segment (by id, 0 = none) holds it and its offset and tag. A segment
// is a maximal run of keys with one id.
type model struct {
	base key
	id   [modelUnits]int
	off  [modelUnits]uint64
	tag  [modelUnits]uint8
	ids  int
}

// kr returns [start, end).
func kr(start, end key) Range[key] { return Range[key]{Start: start, End: end} }

type mseg struct {
	r Range[key]
	v val
}

// segs returns the model's segments in order.
func (m *model) segs() []mseg {
	var out []mseg
	for i := 0; i < modelUnits; {
		if m.id[i] == 0 {
			i++
			continue
		}
		j := i
		for j < modelUnits && m.id[j] == m.id[i] {
			j++
		}
		out = append(out, mseg{kr(m.base+key(i), m.base+key(j)), val{m.off[i], m.tag[i]}})
		i = j
	}
	return out
}

// gaps returns the model's n+1 gaps in order.
func gapsOf(segs []mseg) []Range[key] {
	var out []Range[key]
	var start key
	for _, s := range segs {
		out = append(out, kr(start, s.r.Start))
		start = s.r.End
	}
	return append(out, kr(start, ^key(0)))
}

func (m *model) newID() int { m.ids++; return m.ids }

// relabelRun gives the run holding unit i the id to.
func (m *model) relabelRun(i, to int) {
	from := m.id[i]
	for j := i; j >= 0 && m.id[j] == from; j-- {
		m.id[j] = to
	}
	for j := i + 1; j < modelUnits && m.id[j] == from; j++ {
		m.id[j] = to
	}
}

// split makes unit i start its run, if a run crosses it.
func (m *model) split(i int) bool {
	if i <= 0 || i >= modelUnits || m.id[i] == 0 || m.id[i-1] != m.id[i] {
		return false
	}
	from, to := m.id[i], m.newID()
	for j := i; j < modelUnits && m.id[j] == from; j++ {
		m.id[j] = to
	}
	return true
}

// mergeable reports whether the run ending at unit i-1 and the run starting
// at unit i touch and may merge.
func (m *model) mergeable(i int) bool {
	return i > 0 && i < modelUnits && m.id[i-1] != 0 && m.id[i] != 0 && m.id[i-1] != m.id[i] &&
		m.tag[i-1] == m.tag[i] && m.off[i-1]+1 == m.off[i]
}

// tryMerge merges the runs meeting at unit i if they may.
func (m *model) tryMerge(i int) bool {
	if !m.mergeable(i) {
		return false
	}
	m.relabelRun(i, m.id[i-1])
	return true
}

func (m *model) insert(a, b int, v val, merge bool) {
	id := m.newID()
	for i := a; i < b; i++ {
		m.id[i], m.off[i], m.tag[i] = id, v.off+uint64(i-a), v.tag
	}
	if merge {
		m.tryMerge(a)
		m.tryMerge(b)
	}
}

func (m *model) remove(a, b int) {
	if a >= b {
		return
	}
	m.split(a)
	m.split(b)
	for i := a; i < b; i++ {
		m.id[i] = 0
	}
}

// unit converts a key in the window to a unit index.
func (m *model) unit(k key) int { return int(k - m.base) }

// modelTest drives a Set and the model with the same random operations.
type modelTest struct {
	t   *testing.T
	rng *rand.Rand
	s   *Set[key, val]
	m   model
	// last holds the most recent operations, for failure messages.
	last []string
}

// randVal returns a value whose offsets often continue a neighbour's.
func (mt *modelTest) randVal(a int) val {
	return val{off: uint64(a) + 1000*uint64(mt.rng.IntN(2)), tag: uint8(mt.rng.IntN(4) / 3)}
}

// randRange returns a <= b within the window.
func (mt *modelTest) randRange() (int, int) {
	a, b := mt.rng.IntN(modelUnits+1), mt.rng.IntN(modelUnits+1)
	if a > b {
		a, b = b, a
	}
	return a, b
}

func (mt *modelTest) kr(a, b int) Range[key] {
	return kr(mt.m.base+key(a), mt.m.base+key(b))
}

// randKey returns a key usually inside the window, sometimes at its edges
// or the ends of the key space.
func (mt *modelTest) randKey() key {
	switch mt.rng.IntN(10) {
	case 0:
		return []key{0, ^key(0), mt.m.base - 1, mt.m.base + modelUnits, mt.m.base}[mt.rng.IntN(5)]
	default:
		return mt.m.base + key(mt.rng.IntN(modelUnits))
	}
}

func (mt *modelTest) step(op int) string {
	t, s, m := mt.t, mt.s, &mt.m
	switch op {
	case 0: // InsertRange
		a, b := mt.randRange()
		v := mt.randVal(a)
		seg, err := s.InsertRange(mt.kr(a, b), v)
		overlap := false
		for i := a; i < b; i++ {
			overlap = overlap || m.id[i] != 0
		}
		switch {
		case a == b:
			if !errors.Is(err, ErrInvalidRange) {
				t.Fatalf("InsertRange(empty %v) = %v; want ErrInvalidRange", mt.kr(a, b), err)
			}
		case overlap:
			if !errors.Is(err, ErrOverlap) {
				t.Fatalf("InsertRange(%v) over a segment = %v; want ErrOverlap", mt.kr(a, b), err)
			}
		default:
			if err != nil {
				t.Fatalf("InsertRange(%v): %v", mt.kr(a, b), err)
			}
			m.insert(a, b, v, true)
			mt.checkSegIs(seg, a)
		}
		return fmt.Sprintf("InsertRange(%v, %v)", mt.kr(a, b), v)
	case 1: // Insert or InsertWithoutMerging into a found gap
		k := mt.randKey()
		gap := s.FindGap(k)
		if !gap.Ok() {
			return "FindGap(in segment)"
		}
		lo, hi := max(gap.Start(), m.base), min(gap.End(), m.base+modelUnits)
		if lo >= hi {
			return "gap outside window"
		}
		a := m.unit(lo) + mt.rng.IntN(int(hi-lo))
		b := a + 1 + mt.rng.IntN(m.unit(hi)-a)
		v := mt.randVal(a)
		merge := mt.rng.IntN(2) == 0
		var seg Seg[key, val]
		if merge {
			seg = s.Insert(gap, mt.kr(a, b), v)
		} else {
			seg = s.InsertWithoutMerging(gap, mt.kr(a, b), v)
		}
		m.insert(a, b, v, merge)
		mt.checkSegIs(seg, a)
		return fmt.Sprintf("Insert(merge=%v, %v, %v)", merge, mt.kr(a, b), v)
	case 2: // Remove
		seg := s.FindSegment(mt.randKey())
		if !seg.Ok() {
			return "FindSegment(in gap)"
		}
		r := seg.Range()
		gap := s.Remove(seg)
		m.remove(m.unit(r.Start), m.unit(r.End))
		mt.checkGapIs(gap, r.Start)
		return fmt.Sprintf("Remove(%v)", r)
	case 3: // RemoveRange
		a, b := mt.randRange()
		gap := s.RemoveRange(mt.kr(a, b))
		m.remove(a, b)
		if a < b || gap.Ok() {
			mt.checkGapIs(gap, mt.kr(a, b).Start)
		}
		return fmt.Sprintf("RemoveRange(%v)", mt.kr(a, b))
	case 4: // Isolate
		seg := s.FindSegment(mt.randKey())
		if !seg.Ok() {
			return "FindSegment(in gap)"
		}
		sr := seg.Range()
		// A random range overlapping seg: one key of seg plus random slack.
		in := m.unit(sr.Start) + mt.rng.IntN(int(sr.Length()))
		a, b := mt.rng.IntN(in+1), in+1+mt.rng.IntN(modelUnits-in)
		got := s.Isolate(seg, mt.kr(a, b))
		// Only seg is split; a and b may lie in other segments.
		if a > m.unit(sr.Start) {
			m.split(a)
		}
		if b < m.unit(sr.End) {
			m.split(b)
		}
		if want := sr.Intersect(mt.kr(a, b)); got.Range() != want {
			t.Fatalf("Isolate(%v, %v) = %v; want %v", sr, mt.kr(a, b), got.Range(), want)
		}
		mt.checkSegIs(got, in)
		return fmt.Sprintf("Isolate(%v, %v)", sr, mt.kr(a, b))
	case 5: // SplitAt
		k := mt.randKey()
		got := s.SplitAt(k)
		want := k >= m.base && k < m.base+modelUnits && m.split(m.unit(k))
		if got != want {
			t.Fatalf("SplitAt(%#x) = %v; want %v", uint64(k), got, want)
		}
		return fmt.Sprintf("SplitAt(%#x)", uint64(k))
	case 6: // MergeRange
		a, b := mt.randRange()
		r := mt.kr(a, b)
		s.MergeRange(r)
		for i := a + 1; i < b; i++ {
			m.tryMerge(i)
		}
		// What must hold whatever the model says: no mergeable touching
		// pair left with both segments overlapping r.
		var prev Seg[key, val]
		for seg := range s.Segments(r) {
			if prev.Ok() && prev.End() == seg.Start() {
				if _, ok := offsetOps(t).Merge(prev.Range(), prev.Value(), seg.Range(), seg.Value()); ok {
					t.Fatalf("after MergeRange(%v), %v and %v still mergeable", r, prev.Range(), seg.Range())
				}
			}
			prev = seg
		}
		return fmt.Sprintf("MergeRange(%v)", r)
	case 7: // MergeAdjacent
		a, b := mt.randRange()
		s.MergeAdjacent(mt.kr(a, b))
		if a < b {
			if m.id[a] != 0 {
				// Merge the run holding a with the run before it.
				i := a
				for i > 0 && m.id[i-1] == m.id[a] {
					i--
				}
				m.tryMerge(i)
			}
			if m.id[b-1] != 0 {
				i := b - 1
				for i < modelUnits && m.id[i] == m.id[b-1] {
					i++
				}
				m.tryMerge(i)
			}
		}
		return fmt.Sprintf("MergeAdjacent(%v)", mt.kr(a, b))
	case 8: // Merge of a segment and its successor
		seg := s.FindSegment(mt.randKey())
		if !seg.Ok() {
			return "FindSegment(in gap)"
		}
		sr, next := seg.Range(), seg.NextSegment()
		want := next.Ok() && next.Start() == sr.End && m.mergeable(m.unit(sr.End))
		got, ok := s.Merge(seg, next)
		if ok != want {
			t.Fatalf("Merge(%v, next) = %v; want %v", sr, ok, want)
		}
		if ok {
			m.tryMerge(m.unit(sr.End))
		}
		mt.checkSegIs(got, m.unit(sr.Start))
		return fmt.Sprintf("Merge(%v, next)", sr)
	case 9: // SetValue or ValuePtr
		seg := s.FindSegment(mt.randKey())
		if !seg.Ok() {
			return "FindSegment(in gap)"
		}
		a := m.unit(seg.Start())
		v := mt.randVal(a)
		if mt.rng.IntN(2) == 0 {
			seg.SetValue(v)
		} else {
			*seg.ValuePtr() = v
		}
		for i := a; i < m.unit(seg.End()); i++ {
			m.off[i], m.tag[i] = v.off+uint64(i-a), v.tag
		}
		return fmt.Sprintf("SetValue(%v, %v)", seg.Range(), v)
	case 10: // RemoveAll, rarely
		s.RemoveAll()
		m.remove(0, modelUnits)
		return "RemoveAll"
	}
	return "queries only"
}

// checkSegIs fails unless seg is the model's segment holding unit i.
func (mt *modelTest) checkSegIs(seg Seg[key, val], i int) {
	mt.t.Helper()
	k := mt.m.base + key(i)
	for _, ms := range mt.m.segs() {
		if ms.r.Contains(k) {
			if !seg.Ok() || seg.Range() != ms.r || seg.Value() != ms.v {
				mt.t.Fatalf("returned segment %v; want %v %v", segString(seg), ms.r, ms.v)
			}
			return
		}
	}
	mt.t.Fatalf("model has no segment at %#x (returned %v)", uint64(k), segString(seg))
}

// checkGapIs fails unless gap is the model's gap holding k.
func (mt *modelTest) checkGapIs(gap Gap[key, val], k key) {
	mt.t.Helper()
	for _, g := range gapsOf(mt.m.segs()) {
		if g.Start <= k && k < g.End {
			if !gap.Ok() || gap.Range() != g {
				mt.t.Fatalf("returned gap %v (ok=%v); want %v", gap.Range(), gap.Ok(), g)
			}
			return
		}
	}
	mt.t.Fatalf("model has no gap at %#x", uint64(k))
}

func segString(seg Seg[key, val]) string {
	if !seg.Ok() {
		return "<terminal>"
	}
	return fmt.Sprintf("%v %v", seg.Range(), seg.Value())
}

// checkAll compares every view of the set with the model.
func (mt *modelTest) checkAll() {
	t, s := mt.t, mt.s
	t.Helper()
	want := mt.m.segs()
	var got []mseg
	for r, v := range s.All() {
		got = append(got, mseg{r, v})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("set %v\nmodel %v\nrecent ops %v", got, want, mt.last)
	}
	var span uint64
	for i, ms := range want {
		span += ms.r.Length()
		if i > 0 && want[i-1].r.End > ms.r.Start {
			t.Fatalf("model overlaps: %v", want)
		}
	}
	if s.Len() != len(want) || s.Span() != span || s.IsEmpty() != (len(want) == 0) {
		t.Fatalf("Len, Span, IsEmpty = %d, %d, %v; want %d, %d", s.Len(), s.Span(), s.IsEmpty(), len(want), span)
	}
	// Handle walks, both ways, segments and gaps interleaved.
	gaps := gapsOf(want)
	i := 0
	for seg := s.FirstSegment(); seg.Ok(); seg = seg.NextSegment() {
		if seg.Range() != want[i].r || seg.PrevGap().Range() != gaps[i] || seg.NextGap().Range() != gaps[i+1] {
			t.Fatalf("forward walk at %d: %v, gaps %v %v", i, seg.Range(), seg.PrevGap().Range(), seg.NextGap().Range())
		}
		i++
	}
	if i != len(want) {
		t.Fatalf("forward walk saw %d segments; want %d", i, len(want))
	}
	for seg := s.LastSegment(); seg.Ok(); seg = seg.PrevSegment() {
		i--
		if seg.Range() != want[i].r {
			t.Fatalf("backward walk at %d: %v", i, seg.Range())
		}
	}
	j := 0
	for gap := s.FirstGap(); gap.Ok(); gap = gap.NextGap() {
		if gap.Range() != gaps[j] || gap.IsEmpty() != gaps[j].Empty() {
			t.Fatalf("gap walk at %d: %v; want %v", j, gap.Range(), gaps[j])
		}
		if ns := gap.NextSegment(); ns.Ok() != (j < len(want)) || (ns.Ok() && ns.Range() != want[j].r) {
			t.Fatalf("gap %v NextSegment = %v", gap.Range(), segString(ns))
		}
		if ps := gap.PrevSegment(); ps.Ok() != (j > 0) || (ps.Ok() && ps.Range() != want[j-1].r) {
			t.Fatalf("gap %v PrevSegment = %v", gap.Range(), segString(ps))
		}
		j++
	}
	if j != len(gaps) {
		t.Fatalf("gap walk saw %d gaps; want %d", j, len(gaps))
	}
	for gap := s.LastGap(); gap.Ok(); gap = gap.PrevGap() {
		j--
		if gap.Range() != gaps[j] {
			t.Fatalf("backward gap walk at %d: %v; want %v", j, gap.Range(), gaps[j])
		}
	}
}

// checkQueries compares lookups at a few keys and ranges with the model.
func (mt *modelTest) checkQueries() {
	t, s := mt.t, mt.s
	want := mt.m.segs()
	gaps := gapsOf(want)
	for range 8 {
		k := mt.randKey()
		seg, gap := s.Find(k)
		var inSeg *mseg
		for i := range want {
			if want[i].r.Contains(k) {
				inSeg = &want[i]
			}
		}
		if inSeg != nil {
			if !seg.Ok() || gap.Ok() || seg.Range() != inSeg.r || s.FindGap(k).Ok() || s.FindSegment(k).Range() != inSeg.r {
				t.Fatalf("Find(%#x) = %v, gap ok %v; want %v", uint64(k), segString(seg), gap.Ok(), inSeg.r)
			}
		} else {
			var g Range[key]
			for _, gr := range gaps {
				if gr.Contains(k) || (k == ^key(0) && gr.End == k) {
					g = gr
				}
			}
			if seg.Ok() || !gap.Ok() || gap.Range() != g || s.FindSegment(k).Ok() || s.FindGap(k).Range() != g {
				t.Fatalf("Find(%#x) = %v, gap %v; want gap %v", uint64(k), segString(seg), gap.Range(), g)
			}
		}
		// Bounds, from their definitions.
		lbs, ubs := -1, -1
		for i := range want {
			if lbs < 0 && want[i].r.End > k {
				lbs = i
			}
			if want[i].r.Start <= k {
				ubs = i
			}
		}
		if got := s.LowerBoundSegment(k); got.Ok() != (lbs >= 0) || (got.Ok() && got.Range() != want[lbs].r) {
			t.Fatalf("LowerBoundSegment(%#x) = %v; want #%d", uint64(k), segString(got), lbs)
		}
		if got := s.UpperBoundSegment(k); got.Ok() != (ubs >= 0) || (got.Ok() && got.Range() != want[ubs].r) {
			t.Fatalf("UpperBoundSegment(%#x) = %v; want #%d", uint64(k), segString(got), ubs)
		}
		lbg, ubg := len(gaps)-1, -1 // the largest key counts as in the last gap
		for i := len(gaps) - 1; i >= 0; i-- {
			if gaps[i].End > k {
				lbg = i
			}
		}
		for i := range gaps {
			if gaps[i].Start <= k {
				ubg = i
			}
		}
		if got := s.LowerBoundGap(k); !got.Ok() || got.Range() != gaps[lbg] {
			t.Fatalf("LowerBoundGap(%#x) = %v; want %v", uint64(k), got.Range(), gaps[lbg])
		}
		if got := s.UpperBoundGap(k); !got.Ok() || got.Range() != gaps[ubg] {
			t.Fatalf("UpperBoundGap(%#x) = %v; want %v", uint64(k), got.Range(), gaps[ubg])
		}
	}
	// Range views.
	a, b := mt.randRange()
	r := mt.kr(a, b)
	if a == b {
		return
	}
	if mt.rng.IntN(8) == 0 {
		r = kr(0, ^key(0))
	}
	var wantSpan uint64
	var wantSegs []Range[key]
	for _, ms := range want {
		if ms.r.Overlaps(r) {
			wantSegs = append(wantSegs, ms.r)
			wantSpan += ms.r.Intersect(r).Length()
		}
	}
	var wantGaps []Range[key]
	for _, g := range gaps {
		if !g.Empty() && g.Overlaps(r) {
			wantGaps = append(wantGaps, g)
		}
	}
	var gotSegs, gotGaps []Range[key]
	for seg := range s.Segments(r) {
		gotSegs = append(gotSegs, seg.Range())
	}
	for gap := range s.Gaps(r) {
		gotGaps = append(gotGaps, gap.Range())
	}
	if !slices.Equal(gotSegs, wantSegs) || !slices.Equal(gotGaps, wantGaps) || s.SpanRange(r) != wantSpan {
		t.Fatalf("over %v: Segments %v, Gaps %v, SpanRange %d; want %v, %v, %d", r, gotSegs, gotGaps, s.SpanRange(r), wantSegs, wantGaps, wantSpan)
	}
}

// TestAgainstModel runs thousands of random operations on a Set and on the
// naive per-key model, comparing every view after each. The window sits at
// the bottom and at the top of the key space, so gaps bounded by 0 and by
// the largest key are both exercised.
func TestAgainstModel(t *testing.T) {
	steps := 2500
	if testing.Short() {
		steps = 500
	}
	for _, base := range []key{0, 1 << 40, ^key(0) - modelUnits} {
		for seed := range uint64(4) {
			// Odd seeds run with the gap index, checked after each step.
			indexed := seed%2 == 1
			t.Run(fmt.Sprintf("base=%#x/seed=%d/gapindex=%v", uint64(base), seed, indexed), func(t *testing.T) {
				mt := &modelTest{t: t, rng: rand.New(rand.NewPCG(seed, uint64(base))), m: model{base: base}}
				ops := offsetOps(t)
				ops.GapIndex = indexed
				mt.s = New(ops)
				for n := range steps {
					op := mt.rng.IntN(11)
					if op == 10 && mt.rng.IntN(20) != 0 {
						op = 0
					}
					mt.last = append(mt.last, mt.step(op))
					if len(mt.last) > 8 {
						mt.last = mt.last[1:]
					}
					if t.Failed() {
						t.Fatalf("after step %d; recent ops: %v", n, mt.last)
					}
					mt.checkAll()
					mt.checkQueries()
					if indexed {
						mt.checkGapIndex()
						mt.checkGapQueries()
					}
				}
			})
		}
	}
}

// checkGapIndexInvariants checks every invariant of s's gap index
// (gapLinks): an in-order walk of the treap gives every segment of the
// B-tree in order, each with the gap before it; every maxGap is its
// subtree's largest gap; no child's prio exceeds its parent's.
func checkGapIndexInvariants(t testing.TB, s *Set[key, val]) {
	t.Helper()
	var inOrder []*entry[key, val]
	var walk func(e *entry[key, val]) uint64
	walk = func(e *entry[key, val]) uint64 {
		if e == nil {
			return 0
		}
		for _, c := range []*entry[key, val]{e.left, e.right} {
			if c != nil && c.prio > e.prio {
				t.Fatalf("gap index: child %v has prio above its parent %v", c.r, e.r)
			}
		}
		m := walk(e.left)
		inOrder = append(inOrder, e)
		m = max(m, e.gap, walk(e.right))
		if e.maxGap != m {
			t.Fatalf("gap index: %v has maxGap %d; its subtree's largest gap is %d", e.r, e.maxGap, m)
		}
		return m
	}
	walk(s.gapRoot)
	i := 0
	for seg := s.FirstSegment(); seg.Ok(); seg = seg.NextSegment() {
		if i >= len(inOrder) {
			t.Fatalf("gap index holds %d segments; the set more", len(inOrder))
		}
		if e := inOrder[i]; e != seg.e || gapOf(e) != seg.PrevGap().Range() {
			t.Fatalf("gap index entry %d: %v after gap %v; want %v after %v", i, e.r, gapOf(e), seg.Range(), seg.PrevGap().Range())
		}
		i++
	}
	if i != len(inOrder) {
		t.Fatalf("gap index holds %d segments; the set %d", len(inOrder), i)
	}
}

// checkGapIndex checks the gap index after a model step (checkAll has
// already compared the set with the model).
func (mt *modelTest) checkGapIndex() {
	mt.t.Helper()
	if mt.t.Failed() {
		return
	}
	checkGapIndexInvariants(mt.t, mt.s)
	if mt.t.Failed() {
		mt.t.Fatalf("recent ops %v", mt.last)
	}
}

// checkGapQueries compares FirstGapAtLeast and LastGapAtLeast, over random
// ranges and lengths, with a scan of the model's gaps.
func (mt *modelTest) checkGapQueries() {
	t, s := mt.t, mt.s
	t.Helper()
	gaps := gapsOf(mt.m.segs())
	for range 8 {
		var r Range[key]
		switch mt.rng.IntN(8) {
		case 0:
			r = kr(0, ^key(0))
		case 1:
			r = kr(mt.randKey(), mt.randKey())
		default:
			r = mt.kr(mt.randRange())
		}
		length := uint64(mt.rng.IntN(modelUnits/4 + 1))
		if mt.rng.IntN(16) == 0 {
			length = ^uint64(0)
		}
		need := max(length, 1)
		first, last := -1, -1
		for i, g := range gaps {
			if g.Intersect(r).Length() >= need {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		for _, q := range []struct {
			name string
			got  Gap[key, val]
			want int
		}{
			{"FirstGapAtLeast", s.FirstGapAtLeast(r, length), first},
			{"LastGapAtLeast", s.LastGapAtLeast(r, length), last},
		} {
			if q.got.Ok() != (q.want >= 0) || (q.got.Ok() && q.got.Range() != gaps[q.want]) {
				t.Fatalf("%s(%v, %d) = %v (ok=%v); want gap #%d of %v; recent ops %v",
					q.name, r, length, q.got.Range(), q.got.Ok(), q.want, gaps, mt.last)
			}
		}
	}
}
