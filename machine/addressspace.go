package machine

import (
	"fmt"
	"sync"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/pagetable"
	"github.com/mmvm/mmvm/ring0"
)

// addressSpace is mm's AddressSpace on x86-64 page tables: a user mapping is
// a range of leaf entries pointing at the MemoryFile's guest-physical pages.
//
// mm calls it with its activeMu held, from whichever vCPU goroutine takes a
// fault or serves a memory call; the vCPUs' run loops use it too (flushes,
// replays, fault records). mu guards the page tables and every field below
// it; it is the Machine's tablesMu, one lock for the address spaces of all
// processes, since they share the kernel half's tables and the replay
// journal. Lock order: mm's activeMu, then mu, then the MemoryFile's
// locks. A shootdown runs with mu held: it waits only for vCPUs to leave
// guest mode, which takes no lock.
type addressSpace struct {
	mf *memfile.MemoryFile
	pt *pagetable.PageTables
	// narrowed is the TLB shootdown (Machine.shootdown): called with mu
	// held after a host write removed or narrowed translations, before
	// MapFile or Unmap return, and so before mm drops the old pages'
	// references. It must leave every vCPU out of guest mode or bound to
	// flush before its next entry. nil runs nothing (tests without a VM).
	narrowed func()
	// held are the table pages pagetable freed during the current call,
	// kept allocated until the shootdown has run: a vCPU may walk a
	// freed table through its paging-structure caches until it flushes.
	// Shared with the tableAllocator (which appends to it).
	held *heldTables

	mu *sync.Mutex
	// flush accumulates the translations changed since takeFlush: the
	// run loop reads it to catch a change of a global (ring-0)
	// translation, which no flush reaches.
	flush pagetable.Flush

	// mappedPages counts 4 KiB pages mapped by MapFile (fault-around
	// statistics); it only grows.
	mappedPages uint64

	// recording are the records of the faults being served (beginFault
	// to takeMapped): MapFile adds what it maps to each of them, so that
	// the fault path can back exactly those ranges with host memory. A
	// fault served at the same time on another vCPU may add its ranges
	// to this one's record: backing them twice costs a call, not
	// correctness.
	recording []*faultRecord
}

// faultRecord is what MapFile mapped during one fault: MemoryFile ranges,
// physically adjacent ones joined. Each vCPU keeps one, its capacity
// reused.
type faultRecord struct {
	ranges []memmap.FileRange
}

// heldTables are freed table pages waiting for a shootdown.
type heldTables struct {
	phys []uint64
}

var _ mm.AddressSpace = (*addressSpace)(nil)

// newAddressSpace returns the addressSpace over pt, whose allocator puts
// freed tables on held.
func (m *Machine) newAddressSpace(pt *pagetable.PageTables, held *heldTables) *addressSpace {
	return &addressSpace{mf: m.mf, pt: pt, held: held, narrowed: m.shootdown, mu: &m.tablesMu}
}

// MapFile implements mm.AddressSpace.MapFile. Only MemoryFile ranges can be
// mapped: every page the guest can reach is MemoryFile memory.
func (as *addressSpace) MapFile(addr arch.Addr, f memmap.File, fr memmap.FileRange, at arch.AccessType, opts mm.MapOpts) error {
	if f != memmap.File(as.mf) {
		return fmt.Errorf("machine: mapping a file other than the MemoryFile at %v", addr)
	}
	end, ok := addr.AddLength(fr.Length())
	if !ok {
		return fmt.Errorf("machine: mapping at %v overflows", addr)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	ar := arch.AddrRange{Start: addr, End: end}
	fl, err := as.pt.Map(ar, as.mf.GuestPhysical(fr.Start), pagetable.MapOpts{Access: at, User: true, Untouched: opts.Untouched})
	as.changed(fl)
	if err != nil {
		return err
	}
	if opts.Untouched {
		as.pt.MarkAccessed(ar.Intersect(opts.Used))
	}
	as.mappedPages += fr.Length() / arch.PageSize
	for _, r := range as.recording {
		if n := len(r.ranges); n > 0 && r.ranges[n-1].End == fr.Start {
			r.ranges[n-1].End = fr.End
		} else {
			r.ranges = append(r.ranges, fr)
		}
	}
	if opts.Precommit {
		// mm commits the range (MAP_POPULATE, MADV_POPULATE_*, mlock):
		// back it with host memory now, as Linux faults it in. A
		// failure leaves the guest's first touches to fault host pages,
		// which then fail the way they would have.
		_ = as.mf.Populate(fr)
	}
	return nil
}

// changed takes in what a page-table change returned: a change that removed
// or narrowed translations is shot down before the caller returns, and the
// tables it freed go back after that.
//
// Preconditions: as.mu is locked.
func (as *addressSpace) changed(fl pagetable.Flush) {
	if !fl.Empty() {
		as.flush = as.flush.Merge(fl)
		if as.narrowed != nil {
			as.narrowed()
		}
	}
	as.releaseHeld()
}

// releaseHeld returns the held table pages to the MemoryFile: no vCPU can
// walk them any more.
func (as *addressSpace) releaseHeld() {
	if as.held == nil {
		return
	}
	for _, phys := range as.held.phys {
		off, _ := as.mf.FileOffset(phys)
		as.mf.DecRef(memmap.FileRange{Start: off, End: off + arch.PageSize})
	}
	as.held.phys = as.held.phys[:0]
}

// beginFault starts recording into r what MapFile maps.
func (as *addressSpace) beginFault(r *faultRecord) {
	as.mu.Lock()
	defer as.mu.Unlock()
	r.ranges = r.ranges[:0]
	as.recording = append(as.recording, r)
}

// takeMapped stops recording into r and returns what MapFile mapped since
// beginFault; the slice is valid until r's next beginFault.
func (as *addressSpace) takeMapped(r *faultRecord) []memmap.FileRange {
	as.mu.Lock()
	defer as.mu.Unlock()
	for i, x := range as.recording {
		if x == r {
			as.recording = append(as.recording[:i], as.recording[i+1:]...)
			break
		}
	}
	return r.ranges
}

// pagesMapped returns mappedPages.
func (as *addressSpace) pagesMapped() uint64 {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.mappedPages
}

// Unmap implements mm.AddressSpace.Unmap. Unmapping may need a table page to
// split a huge entry that ar cuts; if none is left, the whole huge entry goes
// instead. That is always safe: what mm still backs is mapped again on the
// next fault.
func (as *addressSpace) Unmap(ar arch.AddrRange) {
	as.mu.Lock()
	defer as.mu.Unlock()
	fl, err := as.pt.Unmap(ar)
	if err == nil {
		as.changed(fl)
		return
	}
	wide := arch.AddrRange{Start: ar.Start.AlignDown(arch.GiantPageSize)}
	var ok bool
	if wide.End, ok = ar.End.AlignUp(arch.GiantPageSize); !ok {
		wide.End = arch.MaxUserAddr
	}
	fl2, err := as.pt.Unmap(wide)
	as.changed(fl.Merge(fl2))
	if err != nil {
		// Unmapping whole 1 GiB-aligned ranges splits nothing.
		panic(fmt.Sprintf("machine: unmapping %v: %v", wide, err))
	}
}

// Accessed implements mm.AddressSpace.Accessed with the leaves' accessed
// bits, which the processor (or KVM's shadow paging, walking the same
// tables) sets at the first access.
func (as *addressSpace) Accessed(ar arch.AddrRange, fn func(arch.AddrRange)) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.pt.Accessed(ar, fn)
}

// Release implements mm.AddressSpace.Release: every mapping mm made goes.
// The syscall trampoline above mm's top of user memory stays: it is the
// VM's, not the program's.
func (as *addressSpace) Release() {
	as.Unmap(arch.AddrRange{Start: 0, End: ring0.TrampolineVirt})
}

// takeFlush returns and clears the pending flush.
func (as *addressSpace) takeFlush() pagetable.Flush {
	as.mu.Lock()
	defer as.mu.Unlock()
	f := as.flush
	as.flush = pagetable.Flush{}
	return f
}
