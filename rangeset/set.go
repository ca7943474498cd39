package rangeset

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/mmvm/mmvm/arch"
	"github.com/tidwall/btree"
)

// Range is the half-open key range a segment or gap covers.
type Range[K ~uint64] = arch.Range[K]

// ErrInvalidRange is wrapped by errors about ill-formed or empty ranges.
var ErrInvalidRange = errors.New("invalid range")

// ErrOverlap is wrapped by errors about a range that overlaps a segment
// already in the set.
var ErrOverlap = errors.New("range overlaps an existing segment")

// Ops configure a Set: the value-defined operations, and whether it keeps a
// gap index.
type Ops[K ~uint64, V any] struct {
	// Merge returns the value for the union of two adjacent segments r1
	// (left) and r2 (right), or ok=false if they must stay apart. It must
	// not mutate the set. nil: segments never merge.
	Merge func(r1 arch.Range[K], v1 V, r2 arch.Range[K], v2 V) (V, bool)
	// Split returns the values of [r.Start, at) and [at, r.End), where
	// r.Start < at < r.End. It is called before the set changes and must
	// not mutate it. nil: both halves get a copy of v.
	Split func(r arch.Range[K], v V, at K) (V, V)
	// GapIndex keeps an index of the gaps' lengths so that
	// FirstGapAtLeast and LastGapAtLeast cost O(log n); without it they
	// panic. It adds O(log n) expected work to every insertion, removal,
	// split and merge (gapindex.go).
	GapIndex bool
}

// entry is one segment. The tree points to it, so handles reach it in O(1).
type entry[K ~uint64, V any] struct {
	r Range[K] // non-empty; disjoint from every other entry's
	v V
	// gapLinks place the entry in the set's gap index, if it has one.
	gapLinks[K, V]
}

// slot is the tree's item: a segment's start, copied so that searches
// compare keys without touching the entries (one cache miss fewer per
// comparison), and the segment. For items in the tree start == e.r.Start
// always; a search probe has e == nil.
type slot[K ~uint64, V any] struct {
	start K
	e     *entry[K, V]
}

func slotLess[K ~uint64, V any](a, b slot[K, V]) bool { return a.start < b.start }

// Set is an ordered map from non-overlapping, non-empty ranges of K to
// values of V. Create it with New; the zero value is not usable.
type Set[K ~uint64, V any] struct {
	// ops is fixed at New.
	ops Ops[K, V]
	// tree holds every segment, ordered by start; segments never overlap
	// and are never empty.
	tree *btree.BTreeG[slot[K, V]]
	// span is the sum of the lengths of all segments.
	span uint64
	// iters recycles tree iterators for point lookups, which would
	// otherwise allocate one each (the library's iterator points into
	// itself and so escapes).
	iters sync.Pool
	// gapRoot is the root of the gap index (gapindex.go): a treap of every
	// entry, by start, if ops.GapIndex; nil otherwise.
	gapRoot *entry[K, V]
	// gen counts structural changes (insert, remove, split, merge) so that
	// the range-over-func iterators notice mutation in their loop bodies.
	gen uint64
}

// New returns an empty set whose values merge and split through ops.
func New[K ~uint64, V any](ops Ops[K, V]) *Set[K, V] {
	return &Set[K, V]{
		ops:  ops,
		tree: btree.NewBTreeGOptions(slotLess[K, V], btree.Options{NoLocks: true}),
	}
}

// maxKey is the largest K: the end of the last gap.
func maxKey[K ~uint64]() K { return ^K(0) }

// Len returns the number of segments.
func (s *Set[K, V]) Len() int { return s.tree.Len() }

// IsEmpty reports whether the set has no segments.
func (s *Set[K, V]) IsEmpty() bool { return s.tree.Len() == 0 }

// Span returns the total length of all segments.
func (s *Set[K, V]) Span() uint64 { return s.span }

// SpanRange returns how many keys of r lie in segments.
func (s *Set[K, V]) SpanRange(r Range[K]) uint64 {
	var n uint64
	for seg := range s.Segments(r) {
		n += seg.Range().Intersect(r).Length()
	}
	return n
}

// RemoveAll removes every segment.
func (s *Set[K, V]) RemoveAll() {
	s.tree.Clear()
	s.gapRoot = nil
	s.span = 0
	s.gen++
}

// String formats the set as {[start, end) value, ...} for debugging.
func (s *Set[K, V]) String() string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for r, v := range s.All() {
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%v %v", r, v)
	}
	b.WriteByte('}')
	return b.String()
}

// getIter returns an iterator over s.tree from the pool.
func (s *Set[K, V]) getIter() *btree.IterG[slot[K, V]] {
	it, _ := s.iters.Get().(*btree.IterG[slot[K, V]])
	if it == nil {
		it = new(btree.IterG[slot[K, V]])
	}
	it.Init(s.tree, false)
	return it
}

// around returns the last segment starting at or before k and the first
// segment starting after k; either may be nil.
func (s *Set[K, V]) around(k K) (le, gt *entry[K, V]) {
	it := s.getIter()
	defer s.iters.Put(it)
	if !it.Seek(slot[K, V]{start: k}) {
		if last, ok := s.tree.Max(); ok {
			le = last.e
		}
		return le, nil
	}
	at := it.Item().e
	if at.r.Start == k {
		if it.Next() {
			gt = it.Item().e
		}
		return at, gt
	}
	if it.Prev() {
		le = it.Item().e
	}
	return le, at
}

// ceil returns the first segment starting at or after k, or nil.
func (s *Set[K, V]) ceil(k K) *entry[K, V] {
	it := s.getIter()
	defer s.iters.Put(it)
	if !it.Seek(slot[K, V]{start: k}) {
		return nil
	}
	return it.Item().e
}

// floor returns the last segment starting at or before k, or nil.
func (s *Set[K, V]) floor(k K) *entry[K, V] {
	le, _ := s.around(k)
	return le
}

// next returns the segment after e, or nil.
func (s *Set[K, V]) next(e *entry[K, V]) *entry[K, V] { return s.ceil(e.r.End) }

// prev returns the segment before e, or nil.
func (s *Set[K, V]) prev(e *entry[K, V]) *entry[K, V] {
	if e.r.Start == 0 {
		return nil
	}
	return s.floor(e.r.Start - 1)
}

// seg wraps e (possibly nil) in a handle.
func (s *Set[K, V]) seg(e *entry[K, V]) Seg[K, V] {
	if e == nil {
		return Seg[K, V]{}
	}
	return Seg[K, V]{s: s, e: e}
}

// gapBetween returns the gap after prev and before next, where nil prev
// means the start of the key space and nil next its end.
func (s *Set[K, V]) gapBetween(prev, next *entry[K, V]) Gap[K, V] {
	g := Gap[K, V]{s: s, r: Range[K]{Start: 0, End: maxKey[K]()}}
	if prev != nil {
		g.r.Start = prev.r.End
	}
	if next != nil {
		g.r.End = next.r.Start
	}
	return g
}

// Find returns the segment holding k, or else the gap holding k; exactly one
// of the two handles is Ok. The largest K, which no half-open range can
// hold, is reported in the last gap.
func (s *Set[K, V]) Find(k K) (Seg[K, V], Gap[K, V]) {
	le, gt := s.around(k)
	if le != nil && k < le.r.End {
		return s.seg(le), Gap[K, V]{}
	}
	return Seg[K, V]{}, s.gapBetween(le, gt)
}

// FindSegment returns the segment holding k, or a terminal handle if k is in
// a gap.
func (s *Set[K, V]) FindSegment(k K) Seg[K, V] {
	seg, _ := s.Find(k)
	return seg
}

// FindGap returns the gap holding k, or a terminal handle if k is in a
// segment.
func (s *Set[K, V]) FindGap(k K) Gap[K, V] {
	_, gap := s.Find(k)
	return gap
}

// LowerBoundSegment returns the first segment with End > k: the one holding
// k, or else the first one after k.
func (s *Set[K, V]) LowerBoundSegment(k K) Seg[K, V] {
	le, gt := s.around(k)
	if le != nil && k < le.r.End {
		return s.seg(le)
	}
	return s.seg(gt)
}

// UpperBoundSegment returns the last segment with Start <= k: the one
// holding k, or else the last one before k.
func (s *Set[K, V]) UpperBoundSegment(k K) Seg[K, V] {
	return s.seg(s.floor(k))
}

// LowerBoundGap returns the first gap with End > k: the gap holding k, or
// else the gap after the segment holding k. Like Find, it reports the
// largest K in the last gap.
func (s *Set[K, V]) LowerBoundGap(k K) Gap[K, V] {
	seg, gap := s.Find(k)
	if gap.Ok() {
		return gap
	}
	return seg.NextGap()
}

// UpperBoundGap returns the last gap with Start <= k: the gap holding k, or
// else the gap before the segment holding k.
func (s *Set[K, V]) UpperBoundGap(k K) Gap[K, V] {
	seg, gap := s.Find(k)
	if gap.Ok() {
		return gap
	}
	return seg.PrevGap()
}

// FirstSegment returns the first segment, or a terminal handle if the set is
// empty.
func (s *Set[K, V]) FirstSegment() Seg[K, V] {
	first, ok := s.tree.Min()
	if !ok {
		return Seg[K, V]{}
	}
	return s.seg(first.e)
}

// LastSegment returns the last segment, or a terminal handle if the set is
// empty.
func (s *Set[K, V]) LastSegment() Seg[K, V] {
	last, ok := s.tree.Max()
	if !ok {
		return Seg[K, V]{}
	}
	return s.seg(last.e)
}

// FirstGap returns the gap starting at key 0 (empty if a segment starts
// there).
func (s *Set[K, V]) FirstGap() Gap[K, V] {
	return s.gapBetween(nil, s.FirstSegment().e)
}

// LastGap returns the gap ending at the largest K (empty if a segment ends
// there).
func (s *Set[K, V]) LastGap() Gap[K, V] {
	return s.gapBetween(s.LastSegment().e, nil)
}
