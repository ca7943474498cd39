package pagetable

import (
	"fmt"
)

// This file is a software MMU written from the Intel SDM (Vol. 3A, 4.5,
// "4-level paging") for tests only. It deliberately shares no code with the
// package: it decodes raw entries with its own constants, so that a wrong
// bit in the package's encoding shows up as a mismatch.

const (
	sdmP    = 1 << 0
	sdmRW   = 1 << 1
	sdmUS   = 1 << 2
	sdmA    = 1 << 5
	sdmD    = 1 << 6
	sdmPS   = 1 << 7
	sdmG    = 1 << 8
	sdmXD   = 1 << 63
	sdmAddr = 0x000f_ffff_ffff_f000 // bits 51:12, MAXPHYADDR taken as 52
)

// sdmResult is the MMU's view of one linear address.
type sdmResult struct {
	present bool
	// span is the size of the page mapping the address when present, else
	// of the region the first non-present entry covers.
	span uint64
	pa   uint64
	// Rights after combining every level: a write needs R/W set at all
	// levels, user access U/S at all levels, execution XD clear at all.
	write, user, exec, global bool
}

// sdmLevels describes the four levels of the walk.
var sdmLevels = [...]struct {
	name     string
	shift    uint
	psOK     bool   // may PS=1 map a page here (PDPTE: with 1 GiB pages)
	reserved uint64 // reserved bits of a page-mapping entry besides 51:M
}{
	{"PML4E", 39, false, 0},
	{"PDPTE", 30, true, 0x3fff_e000}, // bits 29:13
	{"PDE", 21, true, 0x1f_e000},     // bits 20:13
	{"PTE", 12, true, 0},
}

// sdmWalk translates va under CR3=cr3 with CR4.PAE, EFER.LME, EFER.NXE and
// CR4.PGE set, CR4.PKE and CR4.LA57 clear. giant says whether the CPU
// supports 1 GiB pages. It fails on what the MMU would refuse (#GP for a
// non-canonical address, #PF with RSVD for reserved bits) and on what the
// package promises never to write: leaves without A (or writable ones
// without D), PAT bits, bits 62:52 in a leaf, junk in non-present entries.
func sdmWalk(a Allocator, cr3, va uint64, giant bool) (sdmResult, error) {
	if top := va >> 47; top != 0 && top != 0x1ffff {
		return sdmResult{}, fmt.Errorf("%#x is not canonical (#GP)", va)
	}
	r := sdmResult{write: true, user: true, exec: true}
	table := a.TableAt(cr3 & sdmAddr)
	for i := range sdmLevels {
		lv := &sdmLevels[i]
		e := table[(va>>lv.shift)&511]
		if e&sdmP == 0 {
			if e != 0 {
				return r, fmt.Errorf("%s for %#x not present but holds %#x", lv.name, va, e)
			}
			r.span = 1 << lv.shift
			return r, nil
		}
		r.write = r.write && e&sdmRW != 0
		r.user = r.user && e&sdmUS != 0
		r.exec = r.exec && e&sdmXD == 0
		leaf := lv.shift == 12 || e&sdmPS != 0
		if !leaf {
			// Bits 62:52 of an entry referencing a table are ignored;
			// bit 7 of a PML4E is reserved, of a table-referencing
			// PDPTE or PDE it is PS=0.
			if e&sdmA == 0 {
				return r, fmt.Errorf("%s for %#x references a table without A", lv.name, va)
			}
			table = a.TableAt(e & sdmAddr)
			continue
		}
		if !lv.psOK || (lv.shift == 30 && !giant) {
			return r, fmt.Errorf("%s for %#x has PS set where it is reserved (#PF RSVD)", lv.name, va)
		}
		if e&lv.reserved != 0 {
			return r, fmt.Errorf("%s for %#x has reserved bits %#x set (#PF RSVD)", lv.name, va, e&lv.reserved)
		}
		pat := uint64(1) << 12 // PAT of a 1 GiB or 2 MiB page
		if lv.shift == 12 {
			pat = sdmPS // bit 7 of a PTE is PAT
		}
		if e&pat != 0 || e&(1<<3|1<<4) != 0 {
			return r, fmt.Errorf("%s for %#x selects a non-write-back memory type", lv.name, va)
		}
		if e&0x7ff0_0000_0000_0000 != 0 {
			return r, fmt.Errorf("%s for %#x uses bits 62:52 of a leaf: %#x", lv.name, va, e)
		}
		if e&sdmA == 0 || (e&sdmRW != 0 && e&sdmD == 0) {
			return r, fmt.Errorf("%s for %#x lacks A or D: %#x", lv.name, va, e)
		}
		r.present = true
		r.span = 1 << lv.shift
		r.pa = e&sdmAddr&^(r.span-1) | va&(r.span-1)
		r.global = e&sdmG != 0
		return r, nil
	}
	panic("unreachable")
}
