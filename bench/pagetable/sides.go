package main

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/pagetable"
	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/ring0/pagetables"
)

// Every operation works on 1 GiB at benchVA, under one PML4 entry, so the
// architectural minimum of tables is PML4 + PDPT + PD + 512 PTs = 515 for
// 4 KiB leaves and 3 for 2 MiB leaves. The physical addresses are aligned to
// the leaf size only, so neither side can use a larger leaf.
const (
	gib        = 1 << 30
	benchVA    = 64 * gib
	benchPages = gib / arch.PageSize
	phys4K     = 8*gib + arch.PageSize
	phys2M     = 8*gib + arch.HugePageSize
)

func init() {
	// gVisor's page tables read the host's CPUID (for LA57) when built.
	cpuid.Initialize()
	// Compare 4-level tables with 4-level tables even on an LA57 host.
	pagetables.DisableLA57()
}

// ours is mmvm's side.
type ours struct {
	alloc *pagetable.HeapAllocator
	pt    *pagetable.PageTables
}

var oursRW = pagetable.MapOpts{Access: arch.ReadWrite, User: true}
var oursRO = pagetable.MapOpts{Access: arch.Read, User: true}

func newOurs() *ours {
	alloc := pagetable.NewHeapAllocator(1 << 12)
	pt, err := pagetable.New(alloc, pagetable.Features{GiantPages: true})
	if err != nil {
		panic(err)
	}
	return &ours{alloc: alloc, pt: pt}
}

func ourRange(va, length uint64) arch.AddrRange {
	return arch.AddrRange{Start: arch.Addr(va), End: arch.Addr(va + length)}
}

func check(_ pagetable.Flush, err error) {
	if err != nil {
		panic(err)
	}
}

// theirs is gVisor's side, its allocator wrapped to count live tables.
type theirs struct {
	alloc *countingAllocator
	pt    *pagetables.PageTables
}

var theirRW = pagetables.MapOpts{AccessType: hostarch.ReadWrite, User: true}
var theirRO = pagetables.MapOpts{AccessType: hostarch.Read, User: true}

type countingAllocator struct {
	*pagetables.RuntimeAllocator
	live int
}

func (c *countingAllocator) NewPTEs() *pagetables.PTEs {
	c.live++
	return c.RuntimeAllocator.NewPTEs()
}

func (c *countingAllocator) FreePTEs(p *pagetables.PTEs) {
	c.live--
	c.RuntimeAllocator.FreePTEs(p)
}

func newTheirs() *theirs {
	a := &countingAllocator{RuntimeAllocator: pagetables.NewRuntimeAllocator()}
	return &theirs{alloc: a, pt: pagetables.New(a)}
}

// unmapAll empties gVisor's tables and makes the freed tables reusable, as
// its users do between address-space changes.
func (t *theirs) unmapAll() {
	t.pt.Unmap(benchVA, gib)
	t.alloc.Recycle()
}

// checkSides asserts that both sides translate the same 1 GiB the same way
// after mapping it, so the benchmarks compare equal work.
func checkSides() error {
	o, t := newOurs(), newTheirs()
	check(o.pt.Map(ourRange(benchVA, gib), phys4K, oursRW))
	t.pt.Map(benchVA, gib, theirRW, phys4K)
	for i := uint64(0); i < benchPages; i += 4099 {
		va := benchVA + i*arch.PageSize + 0x123
		pa, size, _, ok := o.pt.Lookup(arch.Addr(va))
		_, tpa, tsize, _ := t.pt.Lookup(hostarch.Addr(va), false) // page base
		if !ok || pa&^(size-1) != uint64(tpa) || size != uint64(tsize) {
			return fmt.Errorf("at %#x mmvm has %#x (%#x), gVisor %#x (%#x)", va, pa, size, tpa, tsize)
		}
	}
	return nil
}
