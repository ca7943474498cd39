package pagetable

import (
	"errors"
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// ErrNoTableMemory is wrapped by every error that arises because the
// Allocator could not supply a table page.
var ErrNoTableMemory = errors.New("pagetable: no memory for a table page")

// Allocator supplies the 4 KiB pages that hold page tables. The VM backs it
// with a kernel region of the MemoryFile; tests use a HeapAllocator.
type Allocator interface {
	// AllocTable returns a zeroed 4 KiB table page: its guest-physical
	// address (4 KiB aligned, below 2^52) and the host's view of its 512
	// entries. Exhaustion returns an error wrapping ErrNoTableMemory.
	AllocTable() (phys uint64, table *[512]uint64, err error)
	// FreeTable returns a table page obtained from AllocTable. The page
	// may still hold stale entries: PageTables frees whole subtrees
	// without clearing them, which is why AllocTable must zero.
	FreeTable(phys uint64)
	// TableAt returns the host view of an allocated table page.
	TableAt(phys uint64) *[512]uint64
}

// heapBase is the guest-physical address a HeapAllocator hands out first;
// 1 MiB keeps its tables clear of the real-mode area, as a VM's would be.
const heapBase uint64 = 0x10_0000

// heapChunk is how many table pages a HeapAllocator takes from the Go heap
// at once, so that growing costs one allocation per 64 tables.
const heapChunk = 64

// HeapAllocator is an Allocator over Go memory for tests and benchmarks. It
// hands out fake guest-physical addresses from heapBase upwards, reuses freed
// pages, and panics on TableAt or FreeTable of a page it did not hand out (a
// bug in the caller, never guest input). It is not safe for concurrent use.
type HeapAllocator struct {
	max int // most table pages live at once; immutable

	// pages[i] backs guest-physical heapBase+i*PageSize; every page once
	// handed out stays here for reuse.
	pages []*[512]uint64
	// live[i] is pages[i] while handed out, nil while free.
	live []*[512]uint64
	// free lists indices of pages that are not live (reused last-in
	// first-out, so a hot page stays in cache).
	free []int
	// inUse counts live pages; peak is the most ever live at once.
	inUse, peak int
}

// NewHeapAllocator returns a HeapAllocator holding at most maxTables table
// pages at once; past that AllocTable fails with ErrNoTableMemory.
func NewHeapAllocator(maxTables int) *HeapAllocator {
	return &HeapAllocator{max: maxTables}
}

// AllocTable implements Allocator.AllocTable.
func (h *HeapAllocator) AllocTable() (uint64, *[512]uint64, error) {
	if h.inUse >= h.max {
		return 0, nil, fmt.Errorf("heap allocator: all %d table pages in use: %w", h.max, ErrNoTableMemory)
	}
	if len(h.free) == 0 {
		h.grow()
	}
	i := h.free[len(h.free)-1]
	h.free = h.free[:len(h.free)-1]
	t := h.pages[i]
	clear(t[:])
	h.live[i] = t
	h.inUse++
	h.peak = max(h.peak, h.inUse)
	return heapBase + uint64(i)<<arch.PageShift, t, nil
}

// grow adds a chunk of fresh (zero) pages to the free list.
func (h *HeapAllocator) grow() {
	chunk := make([][512]uint64, heapChunk)
	for j := range chunk {
		h.pages = append(h.pages, &chunk[j])
		h.live = append(h.live, nil)
	}
	for i := len(h.pages) - 1; i >= len(h.pages)-heapChunk; i-- {
		h.free = append(h.free, i)
	}
}

// index returns the page index of phys, panicking unless it is live.
func (h *HeapAllocator) index(phys uint64) int {
	i := (phys - heapBase) >> arch.PageShift
	if phys&arch.PageMask != 0 || i >= uint64(len(h.live)) || h.live[i] == nil {
		panic(fmt.Sprintf("pagetable: heap allocator: %#x is not a live table page", phys))
	}
	return int(i)
}

// FreeTable implements Allocator.FreeTable.
func (h *HeapAllocator) FreeTable(phys uint64) {
	i := h.index(phys)
	h.live[i] = nil
	h.free = append(h.free, i)
	h.inUse--
}

// TableAt implements Allocator.TableAt.
func (h *HeapAllocator) TableAt(phys uint64) *[512]uint64 {
	i := (phys - heapBase) >> arch.PageShift
	if i < uint64(len(h.live)) {
		if t := h.live[i]; t != nil {
			return t
		}
	}
	h.index(phys) // panics with the reason
	return nil
}

// InUse returns how many table pages are handed out now.
func (h *HeapAllocator) InUse() int { return h.inUse }

// Peak returns the most table pages ever handed out at once.
func (h *HeapAllocator) Peak() int { return h.peak }
