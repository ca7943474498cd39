package pagetable

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// MapOpts are the permissions of a mapping.
type MapOpts struct {
	// Access is what the mapping allows. x86-64 cannot express write or
	// execute without read, so a present mapping is always readable; an
	// Access without any permission means "not present".
	Access arch.AccessType
	// User makes the mapping reachable from ring 3; user mappings must lie
	// in the lower canonical half.
	User bool
	// Global keeps the translation across CR3 loads (with CR4.PGE).
	Global bool
	// Untouched leaves the new leaves' accessed and dirty bits clear, so
	// that the processor sets them at the first access and Accessed can
	// tell which pages the program has used. A leaf that already
	// translated the same page with the same rights keeps its bits.
	Untouched bool
}

// Features are what the guest's CPU supports.
type Features struct {
	// GiantPages allows 1 GiB leaves (CPUID 80000001H:EDX.Page1GB).
	GiantPages bool
}

// Flush says which translations the guest's TLB may still hold after a
// change: every entry that was present and was removed or changed lies in
// Range. A new entry over a non-present one needs no flush (processors do
// not cache non-present translations).
type Flush struct {
	// Range covers every changed translation (it may also cover unchanged
	// ones between them); empty when nothing needs invalidating.
	Range arch.AddrRange
	// Global is set when a dropped or changed translation may have been
	// global: reloading CR3 does not drop those, INVLPG or toggling
	// CR4.PGE does.
	Global bool
}

// Empty reports whether nothing needs invalidating.
func (f Flush) Empty() bool { return f.Range.Empty() }

// Merge returns a Flush covering both f and o, for callers that batch
// several changes before the guest runs again.
func (f Flush) Merge(o Flush) Flush {
	switch {
	case o.Empty():
		return f
	case f.Empty():
		return o
	}
	return Flush{
		Range:  arch.AddrRange{Start: min(f.Range.Start, o.Range.Start), End: max(f.Range.End, o.Range.End)},
		Global: f.Global || o.Global,
	}
}

// add widens f to cover [start, end).
func (f *Flush) add(start, end uint64, global bool) {
	if f.Range.Empty() {
		f.Range = arch.AddrRange{Start: arch.Addr(start), End: arch.Addr(end)}
	} else {
		f.Range.Start = min(f.Range.Start, arch.Addr(start))
		f.Range.End = max(f.Range.End, arch.Addr(end))
	}
	f.Global = f.Global || global
}

// PageTables is one x86-64 address space: a PML4 and the tables below it.
// Not safe for concurrent use.
type PageTables struct {
	// alloc supplies and views table pages; immutable.
	alloc Allocator
	// giant allows 1 GiB leaves; immutable.
	giant bool

	// rootEntry references the PML4 the way a PML4E references a PDPT:
	// physical address and live-entry count in bits 61:52 (entryBelowGlobal
	// is not kept here: nothing frees the root unseen but Release).
	// It lets every level keep its count in its parent entry. Zero after
	// Release.
	rootEntry uint64
	// root is the host view of the PML4; nil after Release.
	root *[512]uint64
	// tables counts the table pages held, the root included.
	tables int
	// journal, if set, is told of every store that changed or removed a
	// present translation (see Journal).
	journal Journal
	// sharesKernel says the root's kernel-half entries are another
	// PageTables' (NewSharingKernel): they are not counted in rootEntry,
	// never changed through pt, and never freed by it. Immutable.
	sharesKernel bool

	// lastKey, lastPT and lastPDE cache the level-1 table that the last
	// operation confined to one 2 MiB span walked to, and the level-2
	// entry referencing it, so that page-by-page work skips the walk.
	// lastKey is the span's va>>21 with cacheValid set, or 0 when the
	// cache is empty; anything that frees a table empties it.
	lastKey uint64
	lastPT  *[512]uint64
	lastPDE *uint64
}

// cacheValid marks lastKey as holding a span (va>>21 never reaches bit 63).
const cacheValid = 1 << 63

// leafTable returns the level-1 table that maps va and the level-2 entry
// referencing it, or nil if va has no such table (no table on the way, or
// a huge leaf).
func (pt *PageTables) leafTable(va uint64) (*[512]uint64, *uint64) {
	key := va>>arch.HugePageShift | cacheValid
	if key == pt.lastKey {
		return pt.lastPT, pt.lastPDE
	}
	t := pt.root
	for l := rootLevel; l > 1; l-- {
		e := &t[(va>>levelShift(l))&indexMask]
		if *e&entryPresent == 0 || !isTable(*e, l) {
			return nil, nil
		}
		t = pt.alloc.TableAt(*e & entryAddrMask)
		if l == 2 {
			pt.lastKey, pt.lastPT, pt.lastPDE = key, t, e
			return t, e
		}
	}
	return nil, nil
}

// oneLeafTable reports whether [va, end) lies within one 2 MiB span without
// covering all of it, so that one level-1 table holds all of it and no 2 MiB
// leaf could replace that table.
func oneLeafTable(va, end uint64) bool {
	return va < end && va>>arch.HugePageShift == (end-1)>>arch.HugePageShift && end-va < arch.HugePageSize
}

// New allocates the root table of an empty address space.
func New(a Allocator, f Features) (*PageTables, error) {
	phys, root, err := a.AllocTable()
	if err != nil {
		return nil, fmt.Errorf("pagetable: allocating the root table: %w", err)
	}
	return &PageTables{
		alloc:     a,
		giant:     f.GiantPages,
		rootEntry: phys | tableEntryBits,
		root:      root,
		tables:    1,
	}, nil
}

// kernelHalf is the index of the root's first kernel-half entry.
const kernelHalf = entriesPerTable / 2

// NewSharingKernel returns an empty address space whose kernel half is
// kernel's: its root's upper 256 entries are copies of kernel's, naming the
// same tables, so that a translation kernel adds later under one of them
// reaches this address space too, while the user half is its own. Map,
// Unmap and Protect of the result refuse the kernel half
// (ErrKernelAddress), and Release frees only its own tables. kernel must
// keep every kernel-half root entry it has now (nothing here removes one)
// and gain none that the result should see; both must use the same
// Allocator's memory.
func NewSharingKernel(a Allocator, f Features, kernel *PageTables) (*PageTables, error) {
	if kernel.root == nil {
		return nil, fmt.Errorf("pagetable: sharing the kernel half of released page tables: %w", ErrReleased)
	}
	pt, err := New(a, f)
	if err != nil {
		return nil, err
	}
	// The copies are not counted in rootEntry: the root's walks (Release,
	// dropIfEmpty) see only its own entries, all below kernelHalf.
	copy(pt.root[kernelHalf:], kernel.root[kernelHalf:])
	pt.sharesKernel = true
	return pt, nil
}

// Journal learns of the stores that change or remove a present
// translation: the entries [first, first+n) of one table were rewritten in
// place and hold their new values. A processor that walks the tables itself
// needs only the TLB flush that Flush describes; a hypervisor that shadows
// the guest's page tables (KVM without nested paging, or PVM) keeps its
// copy of a present entry until it sees the guest itself store to it, so a
// VM there has the guest repeat these stores (see machine). Stores that
// add a translation over a non-present entry, or that change only bits the
// processor ignores (the live-entry counts), are not journaled: shadowing
// hypervisors walk the tables again on the fault such an entry causes.
//
// A table freed by the same change may have been journaled before it was
// freed; the Allocator must not hand it out again before the journal has
// been acted on.
type Journal interface {
	Rewritten(first *uint64, n int)
}

// SetJournal makes pt report rewritten entries to j (nil for none).
func (pt *PageTables) SetJournal(j Journal) { pt.journal = j }

// rewritten journals the n entries from first, if there is a journal.
func (pt *PageTables) rewritten(first *uint64, n int) {
	if pt.journal != nil {
		pt.journal.Rewritten(first, n)
	}
}

// Root returns the physical address of the PML4, the value to load in CR3
// (with no PCID and no cache-control bits); 0 after Release.
func (pt *PageTables) Root() uint64 { return pt.rootEntry & entryAddrMask }

// TablePages returns how many table pages pt holds, the root included: 1
// for an empty address space.
func (pt *PageTables) TablePages() int { return pt.tables }

// Release frees every table page, the root included. pt must not be loaded
// in any CR3 afterwards; later calls fail with ErrReleased.
func (pt *PageTables) Release() {
	if pt.root == nil {
		return
	}
	pt.freeTable(pt.rootEntry, rootLevel)
	pt.rootEntry, pt.root, pt.lastPT, pt.lastPDE = 0, nil, nil, nil
}

// Lookup translates va as the MMU would: the physical address va maps to,
// the size of the page that maps it and its permissions.
func (pt *PageTables) Lookup(va arch.Addr) (pa uint64, size uint64, o MapOpts, ok bool) {
	if pt.root == nil || !va.IsCanonical() {
		return 0, 0, MapOpts{}, false
	}
	if uint64(va)>>arch.HugePageShift|cacheValid == pt.lastKey {
		if e := pt.lastPT[(uint64(va)>>arch.PageShift)&indexMask]; e&entryPresent != 0 {
			return e&entryAddrMask | uint64(va)&arch.PageMask, arch.PageSize, leafOpts(e), true
		}
		return 0, 0, MapOpts{}, false
	}
	t := pt.root
	for l := rootLevel; ; l-- {
		shift := levelShift(l)
		ep := &t[(uint64(va)>>shift)&indexMask]
		e := *ep
		if e&entryPresent == 0 {
			return 0, 0, MapOpts{}, false
		}
		if !isTable(e, l) {
			size = 1 << shift
			pa = e&entryAddrMask&^(size-1) | uint64(va)&(size-1)
			return pa, size, leafOpts(e), true
		}
		t = pt.alloc.TableAt(e & entryAddrMask)
		if l == 2 {
			pt.lastKey, pt.lastPT, pt.lastPDE = uint64(va)>>arch.HugePageShift|cacheValid, t, ep
		}
	}
}

// freeTable returns to the allocator the level-l table that e references
// and every table below it, without clearing any entry: nothing references
// them any more. A level-1 table is freed without a visit, which is what
// makes unmapping whole 2 MiB spans of small pages cheap.
func (pt *PageTables) freeTable(e uint64, l int) {
	phys := e & entryAddrMask
	if l > 1 {
		left := liveCount(e)
		t := pt.alloc.TableAt(phys)
		for i := 0; left > 0 && i < entriesPerTable; i++ {
			c := t[i]
			if c&entryPresent == 0 {
				continue
			}
			left--
			if isTable(c, l) {
				pt.freeTable(c, l-1)
			}
		}
	}
	pt.alloc.FreeTable(phys)
	pt.tables--
	pt.lastKey = 0
}
