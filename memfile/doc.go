// Package memfile implements the MemoryFile: the host memory behind all of
// one VM's guest-physical memory. It is a single memfd, sized to its limit up
// front but sparse, and mapped once into the host so that every view Go needs
// of guest memory (MapInternal, Slice, Mapping) is a slice of that one
// mapping, never a copy; the same mapping is what KVM memory slots register,
// so guest-physical address GuestPhysBase+off is file offset off.
//
// The MemoryFile hands out page ranges (Allocate) and keeps a reference
// count per page (IncRef, DecRef; it implements memmap.File). When a page's
// count reaches zero the page is freed and its memory returned to the host by
// punching a hole in the memfd, so a freed page reads back as zeros and the
// host's memory use falls (free pages that PopulateChunks backed ahead stay
// backed; see there). Allocations of 2 MiB or more start 2 MiB-aligned in
// the file (and so in guest-physical space), so that the host and KVM can
// back them with huge pages; smaller allocations are placed, where possible,
// so as not to break up free 2 MiB-aligned chunks, user memory from the
// bottom and kernel memory (page tables) from the top. Nothing past the
// limit is ever allocated: Allocate fails with an error wrapping unix.ENOMEM
// instead.
//
// # Placement cost
//
// The bookkeeping is a rangeset of allocated pages (count and kind per
// segment; equal neighbours merge), and the free ranges are its gaps within
// the limit. Finding room scans those gaps in address order from floors
// below which nothing is free (from a ceiling down, for kernel memory), so
// Allocate is O(free gaps above the floor) in the worst case (a request that
// fits nowhere early) and O(log n) when memory is handed out in order;
// lookups and reference-count changes are O(log n). A guest's memory is a few large
// runs in practice; if fragmentation grows, a size-indexed free list is the
// next step.
//
// # Concurrency
//
// Every method may be called from any goroutine. One mutex (MemoryFile.mu)
// guards the bookkeeping; it is held across the hole punch that frees pages,
// so that a page is zero before anyone can allocate it again, but not across
// Populate or Stats' host queries. The mapping and the descriptor never
// change between New and Close. Close must not race with other use: slices
// handed out earlier become invalid at Close.
package memfile
