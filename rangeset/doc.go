// Package rangeset is a generic ordered map from non-overlapping, non-empty
// half-open ranges of keys to values: the structure under mm's vmas and pmas
// and memfile's bookkeeping. Values decide, through Ops, whether two touching
// segments may become one (Merge) and what each half of a split segment holds
// (Split). Every key is either in exactly one segment or in the gap between
// two segments (gaps may be empty and together cover the whole key space), and
// both are reached through small handles, Seg and Gap.
//
// # Structure
//
// Segments live in a B-tree from github.com/tidwall/btree (BTreeG, degree 32,
// locking off). A well-kept B-tree gives O(log n) lookup, insertion and
// removal with few cache misses; what a hand-written tree (gVisor's generated
// segment sets) would add is O(1) handle steps, and we judged that not worth
// owning and testing a balanced tree for. The tree's items are small
// (start, *entry) pairs: searches compare the copied start without touching
// the entry, and each segment is a heap-allocated entry that the tree points
// to, so a Seg handle reads and writes its range and value in O(1) and
// ValuePtr stays valid while the segment is neither removed, split nor
// merged. Point lookups borrow the library's seekable iterators from a
// per-set pool, because each one would otherwise be a heap allocation.
//
// # Handles and their invalidation
//
// Seg and Gap are small values holding the set and where they point. Stepping
// from a handle (NextSegment, PrevGap, ...) searches the tree by key, so each
// step costs O(log n). Any mutation of the set other than SetValue or writes
// through ValuePtr invalidates every handle except the one the mutating call
// returns; using an invalidated handle gives unspecified (but memory-safe)
// results. On a terminal handle only Ok may be called. The range-over-func
// iterators (Segments, Gaps, All) walk the tree directly, O(1) amortised per
// step, and tolerate mutation in the loop body: if the set changed, the walk
// re-seeks by key and goes on past the end the last yielded segment or gap
// had when it was yielded (each iterator's comment says exactly where).
//
// # Complexity
//
// Find, bounds, handle steps, Insert, Remove, Isolate, SplitAt, Merge and
// InsertRange are O(log n). RemoveRange, MergeRange and SpanRange are
// O((k+1) log n) for the k segments they touch; Span and Len are O(1).
//
// # Gap index
//
// A set made with Ops.GapIndex also keeps its gaps' lengths in a treap over
// the same entries whose nodes carry their subtree's largest gap (the
// per-subtree summary the B-tree library cannot hold; gapindex.go), so that
// FirstGapAtLeast and LastGapAtLeast find the first or last gap with enough
// room in a range in O(log n) rather than by walking the gaps: mm's choice
// of address for mmap. Every insertion, removal, split and merge then costs
// O(log n) expected more; sets that never ask pay nothing.
//
// # Concurrency
//
// A Set is not safe for concurrent mutation; its owner's lock guards it.
// Concurrent reads (lookups, handle reads, iteration) are safe when no
// goroutine mutates.
//
// # Errors and panics
//
// InsertRange checks its arguments and returns errors wrapping ErrInvalidRange
// or ErrOverlap. The handle-based calls (Insert, Remove, Isolate, ...) take
// ranges their caller already validated against the set; a violated
// precondition there is a bug in the caller and panics with a message naming
// the ranges.
package rangeset
