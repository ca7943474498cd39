package machine

import (
	"fmt"
	"unsafe"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/pagetable"
)

// tableAllocator gives pagetable its table pages from the MemoryFile, as
// Kernel allocations: each table is one zeroed page the guest's MMU reads at
// its guest-physical address and the host writes through its own mapping.
// Table pages are never mapped into the guest's virtual address space, so
// the program can neither read nor write its own page tables.
//
// A freed table stays allocated until no vCPU can walk it: with a journal
// (TableSyncReplay) on the journal's list until the replay has dropped
// KVM's shadow of it, otherwise on held until the addressSpace's shootdown
// has run. Without either (tests) it goes back at once.
type tableAllocator struct {
	mf      *memfile.MemoryFile
	journal *tableJournal
	held    *heldTables
}

var _ pagetable.Allocator = tableAllocator{}

func (a tableAllocator) AllocTable() (uint64, *[512]uint64, error) {
	fr, err := a.mf.Allocate(arch.PageSize, memfile.AllocOpts{Kind: memfile.Kernel})
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", pagetable.ErrNoTableMemory, err)
	}
	return a.mf.GuestPhysical(fr.Start), a.table(fr.Start), nil
}

func (a tableAllocator) FreeTable(phys uint64) {
	off, ok := a.mf.FileOffset(phys)
	if !ok {
		panic(fmt.Sprintf("machine: freeing table at %#x outside the MemoryFile", phys))
	}
	if a.journal != nil && !a.journal.off {
		a.journal.freed = append(a.journal.freed, phys)
		return
	}
	if a.held != nil {
		a.held.phys = append(a.held.phys, phys)
		return
	}
	a.mf.DecRef(memmap.FileRange{Start: off, End: off + arch.PageSize})
}

func (a tableAllocator) TableAt(phys uint64) *[512]uint64 {
	off, ok := a.mf.FileOffset(phys)
	if !ok {
		panic(fmt.Sprintf("machine: table at %#x outside the MemoryFile", phys))
	}
	return a.table(off)
}

func (a tableAllocator) table(off uint64) *[512]uint64 {
	b := a.mf.Slice(memmap.FileRange{Start: off, End: off + arch.PageSize})
	return (*[512]uint64)(unsafe.Pointer(&b[0]))
}

// LeafCounts walks the user page tables over ar and counts the present
// leaves by size: 4 KiB, 2 MiB and 1 GiB entries (for statistics and the
// benchmarks' check that 2 MiB fault-around installs 2 MiB leaves).
func (m *Machine) LeafCounts(ar arch.AddrRange) (small, huge, giant uint64) {
	for va := ar.Start; va < ar.End; {
		_, size, _, ok := m.first.mem.Load().pt.Lookup(va)
		if !ok {
			va += arch.PageSize
			continue
		}
		switch size {
		case arch.PageSize:
			small++
		case arch.HugePageSize:
			huge++
		default:
			giant++
		}
		next := va.AlignDown(size) + arch.Addr(size)
		if next <= va {
			break
		}
		va = next
	}
	return small, huge, giant
}
