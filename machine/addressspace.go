package machine

import (
	"fmt"

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
// mm calls it with its own locks held, from the vCPU goroutine (faults,
// syscalls) or from Go code using mm while the vCPU is stopped; the machine
// never runs the vCPU concurrently with mm calls, so no lock is needed here.
type addressSpace struct {
	mf *memfile.MemoryFile
	pt *pagetable.PageTables

	// flush accumulates the translations the guest's TLB may still hold;
	// the run loop flushes before the next entry to user mode and clears it.
	flush pagetable.Flush

	// mappedPages counts 4 KiB pages mapped by MapFile (fault-around
	// statistics); it only grows.
	mappedPages uint64

	// mapped are the MemoryFile ranges MapFile mapped while recording
	// (between beginFault and takeMapped), physically adjacent ones
	// joined, so that the fault path can back exactly those with host
	// memory. Its capacity is kept.
	mapped    []memmap.FileRange
	recording bool
}

var _ mm.AddressSpace = (*addressSpace)(nil)

// MapFile implements mm.AddressSpace.MapFile. Only MemoryFile ranges can be
// mapped: every page the guest can reach is MemoryFile memory.
func (as *addressSpace) MapFile(addr arch.Addr, f memmap.File, fr memmap.FileRange, at arch.AccessType, precommit bool) error {
	if f != memmap.File(as.mf) {
		return fmt.Errorf("machine: mapping a file other than the MemoryFile at %v", addr)
	}
	end, ok := addr.AddLength(fr.Length())
	if !ok {
		return fmt.Errorf("machine: mapping at %v overflows", addr)
	}
	fl, err := as.pt.Map(arch.AddrRange{Start: addr, End: end}, as.mf.GuestPhysical(fr.Start), pagetable.MapOpts{Access: at, User: true})
	as.flush = as.flush.Merge(fl)
	if err != nil {
		return err
	}
	as.mappedPages += fr.Length() / arch.PageSize
	if n := len(as.mapped); !as.recording {
	} else if n > 0 && as.mapped[n-1].End == fr.Start {
		as.mapped[n-1].End = fr.End
	} else {
		as.mapped = append(as.mapped, fr)
	}
	if precommit {
		// mm commits the range (MAP_POPULATE, MADV_POPULATE_*, mlock):
		// back it with host memory now, as Linux faults it in. A
		// failure leaves the guest's first touches to fault host pages,
		// which then fail the way they would have.
		_ = as.mf.Populate(fr)
	}
	return nil
}

// beginFault starts recording what MapFile maps.
func (as *addressSpace) beginFault() {
	as.mapped = as.mapped[:0]
	as.recording = true
}

// takeMapped stops recording and returns what MapFile mapped since
// beginFault; the slice is valid until the next beginFault.
func (as *addressSpace) takeMapped() []memmap.FileRange {
	as.recording = false
	return as.mapped
}

// Unmap implements mm.AddressSpace.Unmap. Unmapping may need a table page to
// split a huge entry that ar cuts; if none is left, the whole huge entry goes
// instead. That is always safe: what mm still backs is mapped again on the
// next fault.
func (as *addressSpace) Unmap(ar arch.AddrRange) {
	fl, err := as.pt.Unmap(ar)
	as.flush = as.flush.Merge(fl)
	if err == nil {
		return
	}
	wide := arch.AddrRange{Start: ar.Start.AlignDown(arch.GiantPageSize)}
	var ok bool
	if wide.End, ok = ar.End.AlignUp(arch.GiantPageSize); !ok {
		wide.End = arch.MaxUserAddr
	}
	fl, err = as.pt.Unmap(wide)
	as.flush = as.flush.Merge(fl)
	if err != nil {
		// Unmapping whole 1 GiB-aligned ranges splits nothing.
		panic(fmt.Sprintf("machine: unmapping %v: %v", wide, err))
	}
}

// Release implements mm.AddressSpace.Release: every mapping mm made goes.
// The syscall trampoline above mm's top of user memory stays: it is the
// VM's, not the program's.
func (as *addressSpace) Release() {
	as.Unmap(arch.AddrRange{Start: 0, End: ring0.TrampolineVirt})
}

// takeFlush returns and clears the pending flush.
func (as *addressSpace) takeFlush() pagetable.Flush {
	f := as.flush
	as.flush = pagetable.Flush{}
	return f
}
