package machine

import (
	"sync"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/pagetable"
)

func newTestAS(t *testing.T, limit uint64) (*addressSpace, *memfile.MemoryFile) {
	t.Helper()
	mf, err := memfile.New(memfile.Options{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	pt, err := pagetable.New(tableAllocator{mf: mf}, pagetable.Features{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pt.Release)
	return &addressSpace{mf: mf, pt: pt, mu: new(sync.Mutex)}, mf
}

// TestAddressSpaceMapsMemoryFilePages checks that a mapping points at the
// MemoryFile's guest-physical pages with the given permissions, that
// unmapping leaves a flush behind, and that table pages come from (and go
// back to) the MemoryFile.
func TestAddressSpaceMapsMemoryFilePages(t *testing.T) {
	as, mf := newTestAS(t, 64<<20)
	fr, err := mf.Allocate(arch.HugePageSize, memfile.AllocOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.DecRef(fr)
	const va = 0x4000_0000
	if err := as.MapFile(va, mf, fr, arch.ReadWrite, mm.MapOpts{}); err != nil {
		t.Fatal(err)
	}
	pa, size, o, ok := as.pt.Lookup(va + 0x1234)
	if !ok || pa != mf.GuestPhysical(fr.Start)+0x1234 || size != arch.HugePageSize || !o.User || !o.Access.Write || o.Access.Execute {
		t.Fatalf("Lookup = %#x size %#x %+v %v", pa, size, o, ok)
	}
	if as.mappedPages != 512 {
		t.Errorf("mappedPages = %d, want 512", as.mappedPages)
	}
	if f := as.takeFlush(); !f.Empty() {
		t.Errorf("a new mapping left a flush: %+v", f)
	}
	kernelBytes := mf.Stats().ByKind[memfile.Kernel]
	if kernelBytes != 3*arch.PageSize { // PML4, PDPT, PD holding the 2 MiB leaf
		t.Errorf("table pages hold %d bytes of the MemoryFile, want 3 pages", kernelBytes)
	}
	// Unmapping one page splits the 2 MiB leaf and must be flushed.
	as.Unmap(arch.AddrRange{Start: va + arch.PageSize, End: va + 2*arch.PageSize})
	f := as.takeFlush()
	if f.Empty() || !f.Range.Contains(va+arch.PageSize) {
		t.Errorf("flush after unmap = %+v", f)
	}
	if _, _, _, ok := as.pt.Lookup(va + arch.PageSize); ok {
		t.Error("unmapped page still translates")
	}
	if _, _, _, ok := as.pt.Lookup(va); !ok {
		t.Error("neighbour of the unmapped page lost")
	}
	as.Release()
	if _, _, _, ok := as.pt.Lookup(va); ok {
		t.Error("Release left a mapping")
	}
	if got := mf.Stats().ByKind[memfile.Kernel]; got != arch.PageSize {
		t.Errorf("after Release, table pages hold %d bytes, want only the root's page", got)
	}
}

// TestAddressSpaceRefusesOtherFiles checks that only MemoryFile memory can
// reach the guest.
func TestAddressSpaceRefusesOtherFiles(t *testing.T) {
	as, _ := newTestAS(t, 8<<20)
	other, _ := newTestAS(t, 8<<20)
	if err := as.MapFile(0x10000, other.mf, memmap.FileRange{Start: 0, End: arch.PageSize}, arch.Read, mm.MapOpts{}); err == nil {
		t.Error("mapping another file's pages succeeded")
	}
}

// TestAddressSpaceUnmapWithoutTableMemory checks that an Unmap that cannot
// split a huge leaf (no table page left) drops the whole leaf instead.
func TestAddressSpaceUnmapWithoutTableMemory(t *testing.T) {
	as, mf := newTestAS(t, 4<<20)
	fr, err := mf.Allocate(arch.HugePageSize, memfile.AllocOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.DecRef(fr)
	const va = 0x4000_0000
	if err := as.MapFile(va, mf, fr, arch.Read, mm.MapOpts{}); err != nil {
		t.Fatal(err)
	}
	// Use up every remaining page so the split has no table.
	var hog []memmap.FileRange
	for {
		r, err := mf.Allocate(arch.PageSize, memfile.AllocOpts{})
		if err != nil {
			break
		}
		hog = append(hog, r)
	}
	defer func() {
		for _, r := range hog {
			mf.DecRef(r)
		}
	}()
	as.Unmap(arch.AddrRange{Start: va, End: va + arch.PageSize})
	for _, a := range []arch.Addr{va, va + arch.HugePageSize - arch.PageSize} {
		if _, _, _, ok := as.pt.Lookup(a); ok {
			t.Errorf("%#x still mapped after an unsplittable unmap", uint64(a))
		}
	}
	if f := as.takeFlush(); !f.Range.IsSupersetOf(arch.AddrRange{Start: va, End: va + arch.HugePageSize}) {
		t.Errorf("flush %+v does not cover the dropped leaf", f)
	}
}

// TestAddressSpaceRecordsWhatAFaultMaps checks what the fault path backs
// with host memory: the ranges MapFile mapped between beginFault and
// takeMapped, adjacent ones joined, nothing outside a fault; and that a
// precommitted mapping (MAP_POPULATE, mlock) is backed at once.
func TestAddressSpaceRecordsWhatAFaultMaps(t *testing.T) {
	as, mf := newTestAS(t, 64<<20)
	fr, err := mf.Allocate(8*arch.PageSize, memfile.AllocOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.DecRef(fr)
	page := func(i uint64) memmap.FileRange {
		return memmap.FileRange{Start: fr.Start + i*arch.PageSize, End: fr.Start + (i+1)*arch.PageSize}
	}
	const va = 0x4000_0000
	mapPage := func(i uint64, precommit bool) {
		t.Helper()
		if err := as.MapFile(va+arch.Addr(i*arch.PageSize), mf, page(i), arch.ReadWrite, mm.MapOpts{Precommit: precommit}); err != nil {
			t.Fatal(err)
		}
	}
	mapPage(0, false) // outside a fault: not recorded
	var rec faultRecord
	as.beginFault(&rec)
	mapPage(1, false)
	mapPage(2, false) // joins page 1
	mapPage(5, false)
	got := as.takeMapped(&rec)
	want := []memmap.FileRange{{Start: page(1).Start, End: page(2).End}, page(5)}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("recorded %v, want %v", got, want)
	}
	mapPage(6, false) // recording stopped
	if got := as.takeMapped(&rec); len(got) != 2 {
		t.Errorf("MapFile after takeMapped was recorded: %v", got)
	}
	before := mf.Stats().Backed
	mapPage(7, true)
	if after := mf.Stats().Backed; after < before+arch.PageSize {
		t.Errorf("a precommitted page was not backed: %d -> %d bytes", before, after)
	}
}

// TestAddressSpaceAccessed: an Untouched mapping reports as accessed only
// the pages its fault is for (Used) until the program touches others; an
// ordinary mapping reports every page.
func TestAddressSpaceAccessed(t *testing.T) {
	as, mf := newTestAS(t, 64<<20)
	fr, err := mf.Allocate(16*arch.PageSize, memfile.AllocOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.DecRef(fr)
	const va = 0x4000_0000
	r := func(start, end arch.Addr) arch.AddrRange { return arch.AddrRange{Start: start, End: end} }
	used := r(va+3*arch.PageSize, va+4*arch.PageSize)
	if err := as.MapFile(va, mf, memmap.FileRange{Start: fr.Start, End: fr.Start + 8*arch.PageSize}, arch.ReadWrite, mm.MapOpts{Untouched: true, Used: used}); err != nil {
		t.Fatal(err)
	}
	if err := as.MapFile(va+8*arch.PageSize, mf, memmap.FileRange{Start: fr.Start + 8*arch.PageSize, End: fr.End}, arch.ReadWrite, mm.MapOpts{}); err != nil {
		t.Fatal(err)
	}
	var got []arch.AddrRange
	as.Accessed(r(va, va+16*arch.PageSize), func(ar arch.AddrRange) { got = append(got, ar) })
	want := []arch.AddrRange{used, r(va+8*arch.PageSize, va+16*arch.PageSize)}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("accessed %v, want %v", got, want)
	}
}
