package rangeset

import "math/rand/v2"

// The gap index (Ops.GapIndex) answers "which is the first or last gap of at
// least this length in a range of keys" in O(log n), which a walk over the
// gaps answers in O(n): mm asks it on every mmap that lets the kernel choose
// the address, as Linux asks its maple tree, whose nodes keep the largest gap
// below them. The B-tree cannot carry such a per-subtree summary, so the
// index is a second ordered structure over the same entries: a treap keyed
// by segment start, whose nodes are the entries themselves (gapLinks), each
// holding the length of the gap just before its segment and the largest such
// length in its subtree. Every structural change of the set keeps it in step
// with O(log n) expected work; sets without GapIndex pay nothing but the
// unused fields.

// gapLinks are an entry's place in its set's gap index. They are zero and
// unused in a set without the index, and in an entry not in the set.
type gapLinks[K ~uint64, V any] struct {
	// left and right are the subtrees of the segments starting before and
	// after this one (nil if empty).
	left, right *entry[K, V]
	// prio is random and no child's prio is larger (a max-heap), which
	// keeps the treap's expected depth O(log n) whatever order segments
	// come in.
	prio uint64
	// gap is the length of the gap just before this segment: its start
	// minus the end of the segment before it, or minus 0 if it is the
	// first. The last gap, after the last segment, has no entry; queries
	// look at it through the B-tree.
	gap uint64
	// maxGap is the largest gap in the subtree rooted here (this entry's
	// included).
	maxGap uint64
}

// gapOf returns the gap just before e, as its gap field says.
func gapOf[K ~uint64, V any](e *entry[K, V]) Range[K] {
	return Range[K]{Start: e.r.Start - K(e.gap), End: e.r.Start}
}

// subtreeMaxGap returns t's maxGap, or 0 for an empty subtree.
func subtreeMaxGap[K ~uint64, V any](t *entry[K, V]) uint64 {
	if t == nil {
		return 0
	}
	return t.maxGap
}

// pull recomputes e.maxGap after a change to e's gap or children.
func (e *entry[K, V]) pull() {
	e.maxGap = max(e.gap, subtreeMaxGap(e.left), subtreeMaxGap(e.right))
}

// gapSplit splits treap t into the entries starting before k and the rest.
func gapSplit[K ~uint64, V any](t *entry[K, V], k K) (lo, hi *entry[K, V]) {
	if t == nil {
		return nil, nil
	}
	if t.r.Start < k {
		t.right, hi = gapSplit(t.right, k)
		t.pull()
		return t, hi
	}
	lo, t.left = gapSplit(t.left, k)
	t.pull()
	return lo, t
}

// gapJoin joins treaps a and b, where every entry of a starts before every
// entry of b.
func gapJoin[K ~uint64, V any](a, b *entry[K, V]) *entry[K, V] {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.prio > b.prio {
		a.right = gapJoin(a.right, b)
		a.pull()
		return a
	}
	b.left = gapJoin(a, b.left)
	b.pull()
	return b
}

// gapInsert adds e, whose gap is set and whose start no entry of t has, to
// treap t and returns the new root.
func gapInsert[K ~uint64, V any](t, e *entry[K, V]) *entry[K, V] {
	if t == nil || e.prio > t.prio {
		e.left, e.right = gapSplit(t, e.r.Start)
		e.pull()
		return e
	}
	if e.r.Start < t.r.Start {
		t.left = gapInsert(t.left, e)
	} else {
		t.right = gapInsert(t.right, e)
	}
	t.pull()
	return t
}

// gapDelete removes the entry starting at k, which must be in treap t, and
// returns the new root.
func gapDelete[K ~uint64, V any](t *entry[K, V], k K) *entry[K, V] {
	switch {
	case k < t.r.Start:
		t.left = gapDelete(t.left, k)
	case k > t.r.Start:
		t.right = gapDelete(t.right, k)
	default:
		root := gapJoin(t.left, t.right)
		t.gapLinks = gapLinks[K, V]{}
		return root
	}
	t.pull()
	return t
}

// gapSet sets the gap of the entry starting at k in treap t, if there is
// one, and updates the maxGaps above it.
func gapSet[K ~uint64, V any](t *entry[K, V], k K, gap uint64) {
	switch {
	case t == nil:
		return
	case k < t.r.Start:
		gapSet(t.left, k, gap)
	case k > t.r.Start:
		gapSet(t.right, k, gap)
	default:
		t.gap = gap
	}
	t.pull()
}

// gapLast returns the last entry of treap t that starts before k and has a
// gap of at least need, or nil. It visits O(depth) entries: off the search
// path for k it enters a subtree only when its maxGap promises an answer.
func gapLast[K ~uint64, V any](t *entry[K, V], k K, need uint64) *entry[K, V] {
	for t != nil && t.maxGap >= need {
		if t.r.Start >= k {
			t = t.left
			continue
		}
		if found := gapLast(t.right, k, need); found != nil {
			return found
		}
		if t.gap >= need {
			return t
		}
		t = t.left
	}
	return nil
}

// gapFirst returns the first entry of treap t that starts after k and has a
// gap of at least need, or nil, in O(depth) like gapLast.
func gapFirst[K ~uint64, V any](t *entry[K, V], k K, need uint64) *entry[K, V] {
	for t != nil && t.maxGap >= need {
		if t.r.Start <= k {
			t = t.right
			continue
		}
		if found := gapFirst(t.left, k, need); found != nil {
			return found
		}
		if t.gap >= need {
			return t
		}
		t = t.right
	}
	return nil
}

// indexEntry adds e, new in the tree, to the gap index with the gap before
// it (before is e's start minus the end of the segment before it).
func (s *Set[K, V]) indexEntry(e *entry[K, V], before uint64) {
	if !s.ops.GapIndex {
		return
	}
	e.prio = rand.Uint64()
	e.gap = before
	s.gapRoot = gapInsert(s.gapRoot, e)
}

// unindexEntry takes e, still keyed by its start, out of the gap index.
func (s *Set[K, V]) unindexEntry(e *entry[K, V]) {
	if s.ops.GapIndex {
		s.gapRoot = gapDelete(s.gapRoot, e.r.Start)
	}
}

// indexGap records that g is now a whole gap: the segment starting at g.End,
// if any (the last gap has none), gets g's length as its gap.
func (s *Set[K, V]) indexGap(g Range[K]) {
	if s.ops.GapIndex {
		gapSet(s.gapRoot, g.End, g.Length())
	}
}

// mustIndexGaps panics unless s keeps a gap index.
func (s *Set[K, V]) mustIndexGaps(method string) {
	if !s.ops.GapIndex {
		panic("rangeset: " + method + " needs a set made with Ops.GapIndex")
	}
}

// LastGapAtLeast returns the last gap whose part inside r holds at least
// length keys (and at least one), or a terminal handle if no gap's does. It
// costs O(log n); the set must have been made with Ops.GapIndex (else it
// panics).
func (s *Set[K, V]) LastGapAtLeast(r Range[K], length uint64) Gap[K, V] {
	s.mustIndexGaps("LastGapAtLeast")
	if r.Start >= r.End {
		return Gap[K, V]{}
	}
	need := max(length, 1)
	// The gap holding r.End-1, or the one before the segment holding it,
	// is the last that can overlap r, and r may cut it short.
	top := s.UpperBoundGap(r.End - 1)
	if top.r.Intersect(r).Length() >= need {
		return top
	}
	// Below it, the last gap long enough on its own is the answer if r
	// holds enough of it: every gap above it is too short even whole, and
	// every gap below it ends before its start, so only it can straddle
	// r.Start.
	e := gapLast(s.gapRoot, top.r.End, need)
	if e == nil || gapOf(e).Intersect(r).Length() < need {
		return Gap[K, V]{}
	}
	return Gap[K, V]{s: s, r: gapOf(e)}
}

// FirstGapAtLeast returns the first gap whose part inside r holds at least
// length keys (and at least one), or a terminal handle if no gap's does. It
// costs O(log n); the set must have been made with Ops.GapIndex (else it
// panics).
func (s *Set[K, V]) FirstGapAtLeast(r Range[K], length uint64) Gap[K, V] {
	s.mustIndexGaps("FirstGapAtLeast")
	if r.Start >= r.End {
		return Gap[K, V]{}
	}
	need := max(length, 1)
	// The gap holding r.Start, or the one after the segment holding it, is
	// the first that can overlap r, and r may cut it short.
	bottom := s.LowerBoundGap(r.Start)
	if bottom.r.Intersect(r).Length() >= need {
		return bottom
	}
	// Above it, the first gap long enough on its own is the answer if r
	// holds enough of it, as in LastGapAtLeast. If no indexed gap is long
	// enough, only the last gap (which has no entry) is left to try; if
	// bottom is the last gap, that fails again.
	var g Range[K]
	if e := gapFirst(s.gapRoot, bottom.r.End, need); e != nil {
		g = gapOf(e)
	} else {
		g = s.LastGap().r
	}
	if g.Intersect(r).Length() < need {
		return Gap[K, V]{}
	}
	return Gap[K, V]{s: s, r: g}
}
