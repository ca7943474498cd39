package pagetable

import "github.com/mmvm/mmvm/arch"

// Bits of a paging-structure entry (Intel SDM Vol. 3A, Tables 4-14 to 4-20).
const (
	entryPresent  uint64 = 1 << 0
	entryWrite    uint64 = 1 << 1
	entryUser     uint64 = 1 << 2
	entryAccessed uint64 = 1 << 5
	entryDirty    uint64 = 1 << 6
	// entryHuge is PS: in a PDPTE or PDE the entry maps a 1 GiB or 2 MiB
	// page instead of referencing a table.
	entryHuge   uint64 = 1 << 7
	entryGlobal uint64 = 1 << 8
	// entryNoExec is XD; it needs EFER.NXE, else the bit is reserved.
	entryNoExec uint64 = 1 << 63

	// entryAddrMask selects the physical address in bits 51:12 (the widest
	// MAXPHYADDR the architecture allows).
	entryAddrMask uint64 = 0x000f_ffff_ffff_f000

	// entryAD are the bits the processor itself may set in a leaf; a change
	// in them alone does not change the translation.
	entryAD = entryAccessed | entryDirty

	// countShift and countMask place, in an entry that references a table,
	// the number of present entries of that table. Bits 62:52 are ignored
	// by the processor in entries that reference a table, so the hardware
	// never sees the count.
	countShift        = 52
	countOne   uint64 = 1 << countShift
	countMask  uint64 = 0x3ff << countShift

	// entryBelowGlobal, also ignored by the processor in an entry that
	// references a table, is set once a global leaf has been installed
	// somewhere below; it tells Unmap that freeing the subtree unseen
	// may drop a global translation. It is sticky until the table is freed.
	entryBelowGlobal uint64 = 1 << 62

	// tableEntryBits are the flags of an entry referencing a table: present,
	// writable, user and accessed (set up front so the processor need not
	// write it); the leaf decides the real permissions.
	tableEntryBits = entryPresent | entryWrite | entryUser | entryAccessed

	// maxPhys bounds physical addresses: MAXPHYADDR is at most 52.
	maxPhys uint64 = 1 << 52
)

// Geometry of the 4-level hierarchy. Level 4 is the PML4 (the root), level 3
// the PDPT, level 2 the page directory, level 1 the page table.
const (
	entriesPerTable = 512
	indexMask       = entriesPerTable - 1
	levelBits       = 9
	rootLevel       = 4
)

// levelShift returns log2 of the span of one entry of a level-l table.
func levelShift(l int) uint { return arch.PageShift + levelBits*uint(l-1) }

// leafBits encodes o as the flags of a leaf entry (without PS). Accessed is
// set, and dirty with write, so the processor never has to write a leaf back,
// unless o.Untouched asks for both clear.
func leafBits(o MapOpts) uint64 {
	b := entryPresent | entryAccessed
	if o.Access.Write {
		b |= entryWrite | entryDirty
	}
	if o.Untouched {
		b &^= entryAD
	}
	if !o.Access.Execute {
		b |= entryNoExec
	}
	if o.User {
		b |= entryUser
	}
	if o.Global {
		b |= entryGlobal
	}
	return b
}

// leafOpts decodes the permissions of a present leaf entry. Every present
// translation is readable on x86-64.
func leafOpts(e uint64) MapOpts {
	return MapOpts{
		Access: arch.AccessType{
			Read:    true,
			Write:   e&entryWrite != 0,
			Execute: e&entryNoExec == 0,
		},
		User:   e&entryUser != 0,
		Global: e&entryGlobal != 0,
	}
}

// isTable reports whether the present entry e of a level-l table references
// a table of level l-1 (rather than mapping a page).
func isTable(e uint64, l int) bool { return l > 1 && e&entryHuge == 0 }

// liveCount returns the number of present entries of the table that the
// table-referencing entry e points to.
func liveCount(e uint64) uint64 { return (e & countMask) >> countShift }
