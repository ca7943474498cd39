// Package ring0test does for tests and benchmarks that run ring 0 on a bare
// KVM guest (no machine, no package pagetable) what package machine does for
// a program: it writes the guest's x86-64 page tables by hand (the paths to
// the few user pages they map and ring 0's kernel region with its
// permissions) and converts ring 0's segments to KVM's form.
package ring0test

import (
	"encoding/binary"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/ring0"
)

// The bits of an x86-64 page-table entry these guests use.
const (
	PTEPresent = 1 << 0
	PTEWrite   = 1 << 1
	PTEUser    = 1 << 2
	PTEHuge    = 1 << 7 // a 2 MiB leaf in a PD
	PTEGlobal  = 1 << 8
	PTENX      = 1 << 63
)

// Tables is guest memory that holds page-table pages, each addressed by its
// guest-physical address, which is its offset in the slice.
type Tables []byte

// Set stores entry at index of the table page at table.
func (t Tables) Set(table, index, entry uint64) {
	binary.LittleEndian.PutUint64(t[table+index*8:], entry)
}

// Link sets the entries that lead to va's leaf in the page table at pt:
// pml4's to pdpt, pdpt's to pd and pd's to pt, each with bits.
func (t Tables) Link(va, bits, pml4, pdpt, pd, pt uint64) {
	t.Set(pml4, va>>39&511, pdpt|bits)
	t.Set(pdpt, va>>30&511, pd|bits)
	t.Set(pd, va>>21&511, pt|bits)
}

// MapKernel maps ring 0's kernel region (l.Mappings) through the table pages
// pdpt, pd and pt below pml4: each page with ring 0's permissions,
// supervisor-only and global. The region must lie within one 2 MiB page
// table, as ring0's layout keeps it.
func (t Tables) MapKernel(l ring0.Layout, pml4, pdpt, pd, pt uint64) {
	t.Link(uint64(l.Virt), PTEPresent|PTEWrite, pml4, pdpt, pd, pt)
	for _, m := range l.Mappings() {
		for off := m.Offset; off < m.Offset+m.Size; off += arch.PageSize {
			e := l.PhysOf(off) | PTEPresent | PTEGlobal
			if m.Access.Write {
				e |= PTEWrite
			}
			if !m.Access.Execute {
				e |= PTENX
			}
			t.Set(pt, uint64(l.VirtOf(off))>>12&511, e)
		}
	}
}

// KVMSegment converts a ring 0 segment to the form KVM_SET_SREGS takes.
func KVMSegment(s ring0.Segment) kvm.Segment {
	b := func(v bool) uint8 {
		if v {
			return 1
		}
		return 0
	}
	return kvm.Segment{Base: s.Base, Limit: s.Limit, Selector: s.Selector, Type: s.Type, Present: b(s.Present),
		DPL: s.DPL, DB: b(s.DB), S: b(s.S), L: b(s.L), G: b(s.G), AVL: b(s.AVL), Unusable: b(s.Unusable)}
}
