package rangeset

// Seg is a handle to one segment of a Set, or the terminal handle (!Ok()),
// on which only Ok may be called.
// See the package comment for when handles become invalid.
type Seg[K ~uint64, V any] struct {
	s *Set[K, V]
	e *entry[K, V] // nil for the terminal handle
}

// Ok reports whether seg refers to a segment.
func (seg Seg[K, V]) Ok() bool { return seg.e != nil }

// Range returns the segment's range.
func (seg Seg[K, V]) Range() Range[K] { return seg.e.r }

// Start returns the segment's first key.
func (seg Seg[K, V]) Start() K { return seg.e.r.Start }

// End returns the key just past the segment.
func (seg Seg[K, V]) End() K { return seg.e.r.End }

// Value returns the segment's value.
func (seg Seg[K, V]) Value() V { return seg.e.v }

// ValuePtr returns a pointer to the segment's value. It stays valid until the
// segment is removed, split or merged. Writes through it must not make the
// set inconsistent with what its owner expects of Ops (callers re-merge with
// MergeAdjacent if a write makes neighbours mergeable).
func (seg Seg[K, V]) ValuePtr() *V { return &seg.e.v }

// SetValue replaces the segment's value. It does not invalidate handles.
func (seg Seg[K, V]) SetValue(v V) { seg.e.v = v }

// NextSegment returns the segment after seg, or a terminal handle.
func (seg Seg[K, V]) NextSegment() Seg[K, V] { return seg.s.seg(seg.s.next(seg.e)) }

// PrevSegment returns the segment before seg, or a terminal handle.
func (seg Seg[K, V]) PrevSegment() Seg[K, V] { return seg.s.seg(seg.s.prev(seg.e)) }

// NextGap returns the (possibly empty) gap just after seg.
func (seg Seg[K, V]) NextGap() Gap[K, V] { return seg.s.gapBetween(seg.e, seg.s.next(seg.e)) }

// PrevGap returns the (possibly empty) gap just before seg.
func (seg Seg[K, V]) PrevGap() Gap[K, V] { return seg.s.gapBetween(seg.s.prev(seg.e), seg.e) }

// Gap is a handle to one gap of a Set, or the terminal handle (!Ok()). A gap
// is the space between two neighbouring segments, before the first or after
// the last; it is empty when they touch. A Set of n segments has n+1 gaps.
type Gap[K ~uint64, V any] struct {
	s *Set[K, V] // nil for the terminal handle
	r Range[K]   // computed when the handle was made
}

// Ok reports whether gap refers to a gap.
func (gap Gap[K, V]) Ok() bool { return gap.s != nil }

// Range returns the gap's range.
func (gap Gap[K, V]) Range() Range[K] { return gap.r }

// Start returns the gap's first key (the end of the segment before it, or 0).
func (gap Gap[K, V]) Start() K { return gap.r.Start }

// End returns the key just past the gap (the start of the segment after it,
// or the largest K).
func (gap Gap[K, V]) End() K { return gap.r.End }

// IsEmpty reports whether the gap holds no keys.
func (gap Gap[K, V]) IsEmpty() bool { return gap.r.Start == gap.r.End }

// isLast reports whether gap is the last gap: only the last one ends at the
// largest K, since no non-empty segment can start there.
func (gap Gap[K, V]) isLast() bool { return gap.r.End == maxKey[K]() }

// NextSegment returns the segment just after gap, or a terminal handle.
func (gap Gap[K, V]) NextSegment() Seg[K, V] {
	if !gap.Ok() || gap.isLast() {
		return Seg[K, V]{}
	}
	return gap.s.seg(gap.s.ceil(gap.r.End))
}

// PrevSegment returns the segment just before gap, or a terminal handle.
func (gap Gap[K, V]) PrevSegment() Seg[K, V] {
	// Only the first gap starts at 0: a segment cannot end there.
	if !gap.Ok() || gap.r.Start == 0 {
		return Seg[K, V]{}
	}
	return gap.s.seg(gap.s.floor(gap.r.Start - 1))
}

// NextGap returns the gap after the segment after gap, or a terminal handle.
func (gap Gap[K, V]) NextGap() Gap[K, V] {
	seg := gap.NextSegment()
	if !seg.Ok() {
		return Gap[K, V]{}
	}
	return seg.NextGap()
}

// PrevGap returns the gap before the segment before gap, or a terminal
// handle.
func (gap Gap[K, V]) PrevGap() Gap[K, V] {
	seg := gap.PrevSegment()
	if !seg.Ok() {
		return Gap[K, V]{}
	}
	return seg.PrevGap()
}
