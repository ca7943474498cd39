package arch

import "fmt"

// Range is the half-open range [Start, End) of addresses or offsets. One
// generic type serves guest-virtual ranges (AddrRange), file ranges and
// guest-physical ranges alike. A range is well-formed when Start <= End;
// every method assumes it is.
type Range[K ~uint64] struct {
	Start K
	End   K
}

// AddrRange is a range of virtual addresses.
type AddrRange = Range[Addr]

// String formats r as [start, end).
func (r Range[K]) String() string {
	return fmt.Sprintf("[%#x, %#x)", uint64(r.Start), uint64(r.End))
}

// WellFormed reports whether r.Start <= r.End.
func (r Range[K]) WellFormed() bool { return r.Start <= r.End }

// Length returns the number of bytes in r.
func (r Range[K]) Length() uint64 { return uint64(r.End - r.Start) }

// Empty reports whether r holds nothing.
func (r Range[K]) Empty() bool { return r.Start == r.End }

// Contains reports whether a is in r.
func (r Range[K]) Contains(a K) bool { return r.Start <= a && a < r.End }

// Overlaps reports whether r and o share at least one address; an empty
// range overlaps nothing.
func (r Range[K]) Overlaps(o Range[K]) bool {
	return r.Start < o.End && o.Start < r.End && r.Start < r.End && o.Start < o.End
}

// IsSupersetOf reports whether every address of o is in r. An empty o is a
// subset of r only if it lies within r's bounds.
func (r Range[K]) IsSupersetOf(o Range[K]) bool { return r.Start <= o.Start && o.End <= r.End }

// Intersect returns the addresses in both r and o; if they do not overlap
// the result is empty (Start == End), located at the nearer bound.
func (r Range[K]) Intersect(o Range[K]) Range[K] {
	if r.Start < o.Start {
		r.Start = o.Start
	}
	if r.End > o.End {
		r.End = o.End
	}
	if r.End < r.Start {
		r.End = r.Start
	}
	return r
}

// CanSplitAt reports whether a lies strictly inside r, so that splitting r
// at a leaves two non-empty ranges.
func (r Range[K]) CanSplitAt(a K) bool { return r.Start < a && a < r.End }

// IsPageAligned reports whether both bounds are page-aligned.
func (r Range[K]) IsPageAligned() bool { return (r.Start|r.End)&PageMask == 0 }

// IsUser reports whether r lies entirely within the user half of the
// virtual address space.
func (r Range[K]) IsUser() bool { return uint64(r.End) <= uint64(MaxUserAddr) }
