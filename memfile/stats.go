package memfile

import "golang.org/x/sys/unix"

// Stats is a snapshot of a MemoryFile's memory use.
type Stats struct {
	// Allocated is the bytes of pages holding at least one reference.
	Allocated uint64
	// ByKind splits Allocated by AllocOpts.Kind.
	ByKind [NumKinds]uint64
	// Backed is the bytes of the memfd the host actually holds memory for
	// (resident or swapped out), from fstat's st_blocks: pages touched or
	// populated and not yet freed or decommitted. Reading a page through
	// the host mapping also backs it (shmem allocates on read faults), so
	// Go code should not read memory it does not need. It can be below
	// Allocated (allocated but untouched pages cost nothing), and above it
	// only by the free pages of chunks that PopulateChunks backed whole
	// (which stay backed, see there): freed pages are returned at once.
	Backed uint64
	// Peak is the largest Allocated ever reached.
	Peak uint64
	// Limit is the most that can be allocated.
	Limit uint64
}

// Stats returns the current statistics. After Close, Backed is zero and the
// rest describes the file as it was when closed (nothing allocated).
func (f *MemoryFile) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Stats{Allocated: f.pages.Span(), ByKind: f.byKind, Peak: f.peak, Limit: f.limit}
	if f.closed {
		return s
	}
	// fstat of a descriptor we own cannot fail short of memory corruption;
	// if it somehow does, Backed stays zero rather than guessing.
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err == nil {
		// st_blocks counts 512-byte units whatever the block size.
		s.Backed = uint64(st.Blocks) * 512
	}
	return s
}
