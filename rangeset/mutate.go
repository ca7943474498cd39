package rangeset

import "fmt"

// checkInsert panics unless r is a non-empty range inside gap.
func checkInsert[K ~uint64, V any](gap Gap[K, V], r Range[K]) {
	if !gap.Ok() {
		panic(fmt.Sprintf("rangeset: insert of %v into a terminal gap", r))
	}
	if r.Start >= r.End {
		panic(fmt.Sprintf("rangeset: insert of empty or ill-formed range %v", r))
	}
	if !gap.r.IsSupersetOf(r) {
		panic(fmt.Sprintf("rangeset: insert of %v outside its gap %v", r, gap.r))
	}
}

// merge asks Ops.Merge for the value of r1 ∪ r2.
func (s *Set[K, V]) merge(r1 Range[K], v1 V, r2 Range[K], v2 V) (V, bool) {
	if s.ops.Merge == nil {
		var zero V
		return zero, false
	}
	return s.ops.Merge(r1, v1, r2, v2)
}

// Insert puts r with value v into gap, which must be current and contain r,
// and merges the new segment with the segments on either side when r
// touches them and Ops.Merge agrees. It returns the segment now holding r.
// It panics if r is empty or not within gap.
func (s *Set[K, V]) Insert(gap Gap[K, V], r Range[K], v V) Seg[K, V] {
	checkInsert(gap, r)
	var prev, next *entry[K, V]
	if r.Start == gap.r.Start {
		prev = gap.PrevSegment().e
	}
	if r.End == gap.r.End {
		next = gap.NextSegment().e
	}
	if prev != nil {
		if mv, ok := s.merge(prev.r, prev.v, r, v); ok {
			s.span += r.Length()
			prev.r.End = r.End
			prev.v = mv
			s.gen++
			s.indexGap(Range[K]{Start: r.End, End: gap.r.End})
			if next != nil {
				s.mergeEntries(prev, next)
			}
			return s.seg(prev)
		}
	}
	if next != nil {
		if mv, ok := s.merge(r, v, next.r, next.v); ok {
			// next now starts at r.Start: re-key it in the tree. The
			// gap index keys it in place, as no entry lies between.
			s.tree.Delete(slot[K, V]{start: next.r.Start})
			next.r.Start = r.Start
			next.v = mv
			s.tree.Set(slot[K, V]{start: r.Start, e: next})
			s.span += r.Length()
			s.gen++
			s.indexGap(Range[K]{Start: gap.r.Start, End: r.Start})
			return s.seg(next)
		}
	}
	return s.insertEntry(gap, r, v)
}

// InsertWithoutMerging puts r with value v into gap, which must be current
// and contain r, and returns the new segment. It panics if r is empty or not
// within gap.
func (s *Set[K, V]) InsertWithoutMerging(gap Gap[K, V], r Range[K], v V) Seg[K, V] {
	checkInsert(gap, r)
	return s.insertEntry(gap, r, v)
}

// insertEntry adds a segment within gap, which it splits in two.
func (s *Set[K, V]) insertEntry(gap Gap[K, V], r Range[K], v V) Seg[K, V] {
	e := &entry[K, V]{r: r, v: v}
	s.tree.Set(slot[K, V]{start: r.Start, e: e})
	s.span += r.Length()
	s.gen++
	s.indexEntry(e, uint64(r.Start-gap.r.Start))
	s.indexGap(Range[K]{Start: r.End, End: gap.r.End})
	return s.seg(e)
}

// InsertRange inserts r with value v, merging like Insert. It returns an
// error wrapping ErrInvalidRange if r is empty or ill-formed, or ErrOverlap
// if r overlaps a segment.
func (s *Set[K, V]) InsertRange(r Range[K], v V) (Seg[K, V], error) {
	if r.Start >= r.End {
		return Seg[K, V]{}, fmt.Errorf("rangeset: insert %v: %w", r, ErrInvalidRange)
	}
	seg, gap := s.Find(r.Start)
	if !gap.Ok() {
		return Seg[K, V]{}, fmt.Errorf("rangeset: insert %v: segment %v: %w", r, seg.Range(), ErrOverlap)
	}
	if gap.r.End < r.End {
		return Seg[K, V]{}, fmt.Errorf("rangeset: insert %v: segment %v: %w", r, gap.NextSegment().Range(), ErrOverlap)
	}
	return s.Insert(gap, r, v), nil
}

// Remove removes seg and returns the gap now where it was (merged with the
// gaps on either side).
func (s *Set[K, V]) Remove(seg Seg[K, V]) Gap[K, V] {
	if !seg.Ok() {
		panic("rangeset: remove of a terminal segment")
	}
	start := seg.e.r.Start
	s.deleteEntry(seg.e)
	le, gt := s.around(start)
	gap := s.gapBetween(le, gt)
	s.indexGap(gap.r)
	return gap
}

// deleteEntry takes e out of the tree.
func (s *Set[K, V]) deleteEntry(e *entry[K, V]) {
	if _, ok := s.tree.Delete(slot[K, V]{start: e.r.Start}); !ok {
		panic(fmt.Sprintf("rangeset: segment %v is not in the set (stale handle)", e.r))
	}
	s.unindexEntry(e)
	s.span -= e.r.Length()
	s.gen++
}

// RemoveRange removes every key of r from the set, splitting the segments at
// r's edges (through Ops.Split), and returns the gap that now holds r. For an
// empty r nothing changes and the result is FindGap(r.Start). It panics if r
// is ill-formed.
func (s *Set[K, V]) RemoveRange(r Range[K]) Gap[K, V] {
	if r.Start > r.End {
		panic(fmt.Sprintf("rangeset: remove of ill-formed range %v", r))
	}
	if r.Start == r.End {
		return s.FindGap(r.Start)
	}
	seg := s.LowerBoundSegment(r.Start)
	gap := Gap[K, V]{}
	for seg.Ok() && seg.Start() < r.End {
		seg = s.Isolate(seg, r)
		gap = s.Remove(seg)
		seg = gap.NextSegment()
	}
	if !gap.Ok() {
		// Nothing overlapped r: it already lies in one gap.
		return s.FindGap(r.Start)
	}
	return gap
}

// Isolate splits seg, through Ops.Split, at whichever of r's bounds lie
// strictly inside it, and returns the part of seg within r. It panics if r
// is empty or does not overlap seg.
func (s *Set[K, V]) Isolate(seg Seg[K, V], r Range[K]) Seg[K, V] {
	if !seg.Ok() || r.Start >= r.End || !seg.e.r.Overlaps(r) {
		panic(fmt.Sprintf("rangeset: isolate of %v does not overlap the segment", r))
	}
	e := seg.e
	if e.r.Start < r.Start {
		_, e = s.split(e, r.Start)
	}
	if r.End < e.r.End {
		e, _ = s.split(e, r.End)
	}
	return s.seg(e)
}

// SplitAt splits the segment holding k into [Start, k) and [k, End) through
// Ops.Split. It reports whether it split: false if k is in a gap or starts
// its segment.
func (s *Set[K, V]) SplitAt(k K) bool {
	seg := s.FindSegment(k)
	if !seg.Ok() || !seg.e.r.CanSplitAt(k) {
		return false
	}
	s.split(seg.e, k)
	return true
}

// split cuts e at at, which must lie strictly inside it, returning both
// halves; the left half stays in e.
func (s *Set[K, V]) split(e *entry[K, V], at K) (left, right *entry[K, V]) {
	lv, rv := e.v, e.v
	if s.ops.Split != nil {
		lv, rv = s.ops.Split(e.r, e.v, at)
	}
	right = &entry[K, V]{r: Range[K]{Start: at, End: e.r.End}, v: rv}
	e.r.End = at
	e.v = lv
	s.tree.Set(slot[K, V]{start: at, e: right})
	s.gen++
	s.indexEntry(right, 0)
	return e, right
}

// Merge merges the adjacent segments a and b (a.End() == b.Start()) into one
// if Ops.Merge agrees, and returns it. Otherwise, or if they do not touch, it
// returns a, false and changes nothing.
func (s *Set[K, V]) Merge(a, b Seg[K, V]) (Seg[K, V], bool) {
	if !a.Ok() || !b.Ok() || a.e.r.End != b.e.r.Start {
		return a, false
	}
	return a, s.mergeEntries(a.e, b.e)
}

// mergeEntries merges b into a, which it touches, if Ops.Merge agrees.
func (s *Set[K, V]) mergeEntries(a, b *entry[K, V]) bool {
	mv, ok := s.merge(a.r, a.v, b.r, b.v)
	if !ok {
		return false
	}
	s.deleteEntry(b)
	s.span += b.r.Length()
	a.r.End = b.r.End
	a.v = mv
	return true
}

// MergeRange merges every pair of touching segments that both overlap r and
// that Ops.Merge lets merge, so that no such pair is left.
func (s *Set[K, V]) MergeRange(r Range[K]) {
	if r.Start >= r.End {
		return
	}
	seg := s.LowerBoundSegment(r.Start)
	for seg.Ok() && seg.e.r.End < r.End {
		next := seg.NextSegment()
		if !next.Ok() {
			return
		}
		if merged, ok := s.Merge(seg, next); ok {
			seg = merged
		} else {
			seg = next
		}
	}
}

// MergeAdjacent merges the segment holding r.Start with the one before it,
// and the segment holding r.End-1 with the one after it, where they touch
// and Ops.Merge agrees. Use it after changing the values of the segments in
// r, whose outside neighbours may now merge with them.
func (s *Set[K, V]) MergeAdjacent(r Range[K]) {
	if r.Start >= r.End {
		return
	}
	if first := s.FindSegment(r.Start); first.Ok() {
		s.Merge(first.PrevSegment(), first)
	}
	if last := s.FindSegment(r.End - 1); last.Ok() {
		s.Merge(last, last.NextSegment())
	}
}
