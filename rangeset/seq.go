package rangeset

import (
	"iter"

	"github.com/tidwall/btree"
)

// walker steps through the tree's entries in order with a B-tree iterator,
// O(1) amortised per step, and re-seeks by key when the set changed while
// the caller's loop body ran.
type walker[K ~uint64, V any] struct {
	s *Set[K, V]
	// it comes from the set's iterator pool (so that a walk allocates
	// nothing) and goes back with done.
	it  *btree.IterG[slot[K, V]]
	ok  bool
	gen uint64
}

// startAt positions w at the first entry starting at or after k.
func (w *walker[K, V]) startAt(s *Set[K, V], k K) {
	w.s = s
	w.it = s.getIter()
	w.seek(k)
}

// done returns the walker's iterator to the pool.
func (w *walker[K, V]) done() {
	if w.it != nil {
		w.it.Release()
		w.s.iters.Put(w.it)
		w.it = nil
	}
}

func (w *walker[K, V]) seek(k K) {
	w.ok = w.it.Seek(slot[K, V]{start: k})
	w.gen = w.s.gen
}

// entry returns the current entry, or nil past the end.
func (w *walker[K, V]) entry() *entry[K, V] {
	if !w.ok {
		return nil
	}
	return w.it.Item().e
}

// advance moves to the first entry starting at or after k, the end of the
// entry or gap just yielded: one step if the set is unchanged, else a seek.
func (w *walker[K, V]) advance(k K) {
	if w.s.gen != w.gen {
		w.seek(k)
		return
	}
	w.ok = w.it.Next()
}

// Segments returns an iterator over the segments overlapping r, in order.
// The loop body may mutate the set: the walk then goes on with the first
// segment starting at or after the end the yielded segment had.
func (s *Set[K, V]) Segments(r Range[K]) iter.Seq[Seg[K, V]] {
	return func(yield func(Seg[K, V]) bool) {
		if r.Start >= r.End {
			return
		}
		first := s.LowerBoundSegment(r.Start)
		if !first.Ok() {
			return
		}
		var w walker[K, V]
		w.startAt(s, first.e.r.Start)
		defer w.done()
		for e := w.entry(); e != nil && e.r.Start < r.End; e = w.entry() {
			end := e.r.End
			if !yield(s.seg(e)) {
				return
			}
			w.advance(end)
		}
	}
}

// Gaps returns an iterator over the non-empty gaps overlapping r, in order.
// The loop body may mutate the set: the walk then goes on with the gap after
// the segment that holds (or else follows) the end the yielded gap had.
func (s *Set[K, V]) Gaps(r Range[K]) iter.Seq[Gap[K, V]] {
	return func(yield func(Gap[K, V]) bool) {
		if r.Start >= r.End {
			return
		}
		var w walker[K, V]
		var start K // start of the current gap
		if le := s.floor(r.Start); le != nil {
			start = le.r.End
			w.startAt(s, le.r.End)
		} else {
			w.startAt(s, 0)
		}
		defer w.done()
		for start < r.End {
			// The walker is at the segment after the current gap.
			end := maxKey[K]()
			if e := w.entry(); e != nil {
				end = e.r.Start
			}
			if start < end {
				if !yield(Gap[K, V]{s: s, r: Range[K]{Start: start, End: end}}) {
					return
				}
				if s.gen != w.gen {
					// Resume at the segment holding end, or else the
					// first one after it.
					k := end
					if seg := s.LowerBoundSegment(end); seg.Ok() {
						k = seg.Start()
					}
					w.seek(k)
				}
			}
			e := w.entry()
			if e == nil {
				return
			}
			start = e.r.End
			w.advance(start)
		}
	}
}

// All returns an iterator over every segment's range and value, in order.
// The loop body may mutate the set, as for Segments.
func (s *Set[K, V]) All() iter.Seq2[Range[K], V] {
	return func(yield func(Range[K], V) bool) {
		var w walker[K, V]
		w.startAt(s, 0)
		defer w.done()
		for e := w.entry(); e != nil; e = w.entry() {
			end := e.r.End
			if !yield(e.r, e.v) {
				return
			}
			w.advance(end)
		}
	}
}
