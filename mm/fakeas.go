package mm

import (
	"fmt"
	"sort"
	"sync"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// FakeAddressSpace is an AddressSpace for tests: it records the mapping of
// every page, like a page table would, and counts calls. Together with
// MemoryManager.CheckInvariants it checks that mm never maps anything
// outside a pma or beyond the vma's permissions.
type FakeAddressSpace struct {
	mu sync.Mutex
	// pages maps page addresses to what is mapped there. Guarded by mu.
	pages map[arch.Addr]FakePTE
	// MapCalls, UnmapCalls and MappedPages count calls and pages mapped.
	// Guarded by mu; read them with Counts.
	mapCalls, unmapCalls, mappedPages uint64
	released                          bool
}

// FakePTE is one page's mapping in a FakeAddressSpace.
type FakePTE struct {
	File   memmap.File
	Offset uint64
	Perms  arch.AccessType
	// Accessed is the page table's accessed bit: set by a MapFile
	// without Untouched, or by Touch.
	Accessed bool
}

// NewFakeAddressSpace returns an empty FakeAddressSpace.
func NewFakeAddressSpace() *FakeAddressSpace {
	return &FakeAddressSpace{pages: make(map[arch.Addr]FakePTE)}
}

// MapFile implements AddressSpace.
func (f *FakeAddressSpace) MapFile(addr arch.Addr, file memmap.File, fr memmap.FileRange, at arch.AccessType, opts MapOpts) error {
	if !addr.IsPageAligned() || !fr.IsPageAligned() || fr.Length() == 0 {
		return fmt.Errorf("fake address space: MapFile(%v, %v) not page-aligned", addr, fr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released {
		return fmt.Errorf("fake address space: MapFile after Release")
	}
	f.mapCalls++
	for off := uint64(0); off < fr.Length(); off += arch.PageSize {
		a := addr + arch.Addr(off)
		pte := FakePTE{File: file, Offset: fr.Start + off, Perms: at, Accessed: !opts.Untouched || opts.Used.Contains(a)}
		if old, ok := f.pages[addr+arch.Addr(off)]; ok && old.File == file && old.Offset == pte.Offset && old.Perms == at {
			pte.Accessed = pte.Accessed || old.Accessed // the same translation
		}
		f.pages[addr+arch.Addr(off)] = pte
		f.mappedPages++
	}
	return nil
}

// Touch sets the accessed bit of the page holding addr, as the program's
// access would; it reports whether a mapping was there.
func (f *FakeAddressSpace) Touch(addr arch.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	pte, ok := f.pages[addr.RoundDown()]
	if ok {
		pte.Accessed = true
		f.pages[addr.RoundDown()] = pte
	}
	return ok
}

// Accessed implements AddressSpace.
func (f *FakeAddressSpace) Accessed(ar arch.AddrRange, fn func(arch.AddrRange)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var run arch.AddrRange
	for a := ar.Start.RoundDown(); a < ar.End; a += arch.PageSize {
		if pte, ok := f.pages[a]; ok && pte.Accessed {
			if run.End == a && !run.Empty() {
				run.End = a + arch.PageSize
				continue
			}
			if !run.Empty() {
				fn(run)
			}
			run = arch.AddrRange{Start: a, End: a + arch.PageSize}
		}
	}
	if !run.Empty() {
		fn(run)
	}
}

// Unmap implements AddressSpace.
func (f *FakeAddressSpace) Unmap(ar arch.AddrRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unmapCalls++
	if ar.Length()>>arch.PageShift > uint64(len(f.pages)) {
		for a := range f.pages {
			if ar.Contains(a) {
				delete(f.pages, a)
			}
		}
		return
	}
	for a := ar.Start.RoundDown(); a < ar.End; a += arch.PageSize {
		delete(f.pages, a)
	}
}

// Release implements AddressSpace.
func (f *FakeAddressSpace) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = true
	clear(f.pages)
}

// Lookup returns the mapping of the page holding addr.
func (f *FakeAddressSpace) Lookup(addr arch.Addr) (FakePTE, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pte, ok := f.pages[addr.RoundDown()]
	return pte, ok
}

// Access reports whether the hardware would allow access at to addr
// without faulting.
func (f *FakeAddressSpace) Access(addr arch.Addr, at arch.AccessType) bool {
	pte, ok := f.Lookup(addr)
	return ok && pte.Perms.Effective().SupersetOf(at)
}

// Counts returns the number of MapFile and Unmap calls and of pages
// mapped so far.
func (f *FakeAddressSpace) Counts() (mapCalls, unmapCalls, mappedPages uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mapCalls, f.unmapCalls, f.mappedPages
}

// Mapped returns the addresses of mapped pages, in order.
func (f *FakeAddressSpace) Mapped() []arch.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]arch.Addr, 0, len(f.pages))
	for a := range f.pages {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// CheckInvariants checks mm's internal consistency: vmas and pmas are
// page-aligned and in range, every pma lies in a vma and permits no more
// than it, the accounting matches the sets, and, if the AddressSpace is a
// FakeAddressSpace, every page it maps is backed by the pma at that
// address with no more than the pma's permissions.
func (mm *MemoryManager) CheckInvariants() error {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if err := mm.checkVMAsLocked(); err != nil {
		return err
	}
	if err := mm.checkPMAsLocked(); err != nil {
		return err
	}
	fake, ok := mm.as.(*FakeAddressSpace)
	if !ok {
		return nil
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for a, pte := range fake.pages {
		pseg := mm.pmas.FindSegment(a)
		if !pseg.Ok() {
			return fmt.Errorf("page %v is mapped but has no pma", a)
		}
		p := pseg.ValuePtr()
		if p.guard {
			return fmt.Errorf("guard page %v is mapped", a)
		}
		fr := fileRangeOf(pseg, arch.AddrRange{Start: a, End: a + arch.PageSize})
		if pte.File != p.file || pte.Offset != fr.Start {
			return fmt.Errorf("page %v maps file offset %#x, pma says %#x", a, pte.Offset, fr.Start)
		}
		if !p.effectivePerms.SupersetOf(pte.Perms) {
			return fmt.Errorf("page %v is mapped %v beyond its pma's %v", a, pte.Perms, p.effectivePerms)
		}
		if v := mm.vmas.FindSegment(a); !v.Ok() || !v.ValuePtr().effectivePerms.SupersetOf(pte.Perms) {
			return fmt.Errorf("page %v is mapped %v beyond its vma", a, pte.Perms)
		}
	}
	return nil
}

func (mm *MemoryManager) checkVMAsLocked() error {
	var usage, locked, data, exec uint64
	for vseg := mm.vmas.FirstSegment(); vseg.Ok(); vseg = vseg.NextSegment() {
		r, v := vseg.Range(), vseg.ValuePtr()
		if !r.IsPageAligned() || r.Empty() || r.End > mm.layout.TopOfUser {
			return fmt.Errorf("vma %v is unaligned, empty or out of range", r)
		}
		if v.effectivePerms != v.realPerms.Effective() || !v.maxPerms.SupersetOf(v.effectivePerms) {
			return fmt.Errorf("vma %v has inconsistent permissions %v/%v/%v", r, v.realPerms, v.effectivePerms, v.maxPerms)
		}
		if v.growsDown && v.mappable != nil {
			return fmt.Errorf("vma %v grows down but maps an object", r)
		}
		usage += r.Length()
		if v.mlockMode != memmap.MLockNone {
			locked += r.Length()
		}
		if v.isData() {
			data += r.Length()
		}
		if v.isExec() {
			exec += r.Length()
		}
	}
	if usage != mm.usageAS || locked != mm.lockedAS || data != mm.dataAS || exec != mm.execAS {
		return fmt.Errorf("accounting: usage %#x/%#x locked %#x/%#x data %#x/%#x exec %#x/%#x (counted/kept)", usage, mm.usageAS, locked, mm.lockedAS, data, mm.dataAS, exec, mm.execAS)
	}
	return nil
}

func (mm *MemoryManager) checkPMAsLocked() error {
	var rss, guards uint64
	for pseg := mm.pmas.FirstSegment(); pseg.Ok(); pseg = pseg.NextSegment() {
		r, p := pseg.Range(), pseg.ValuePtr()
		if !r.IsPageAligned() {
			return fmt.Errorf("pma %v is unaligned", r)
		}
		if mm.vmas.SpanRange(r) != r.Length() {
			return fmt.Errorf("pma %v is not covered by vmas", r)
		}
		if p.guard {
			if p.file != nil || p.off != 0 || p.effectivePerms.Any() || p.maxPerms.Any() || p.translatePerms.Any() || p.needCOW || p.private {
				return fmt.Errorf("guard pma %v has backing or permissions: %+v", r, *p)
			}
			guards += r.Length()
			continue
		}
		for vseg := range mm.vmas.Segments(r) {
			v := vseg.ValuePtr()
			if !v.effectivePerms.SupersetOf(p.effectivePerms) {
				return fmt.Errorf("pma %v permits %v beyond its vma's %v", r, p.effectivePerms, v.effectivePerms)
			}
			if p.needCOW && p.effectivePerms.Write {
				return fmt.Errorf("copy-on-write pma %v is writable", r)
			}
			if p.uffdWP && (p.effectivePerms.Write || p.maxPerms.Write || v.uffdModes&UffdRegisterModeWP == 0) {
				return fmt.Errorf("write-protected pma %v is writable or outside a WP registration", r)
			}
		}
		if p.zero {
			// A fork's zero pmas may view its parent's chunk: check
			// the shape, within one 2 MiB chunk.
			if !p.needCOW || p.private || p.file != memmap.File(mm.mf) || p.off%arch.HugePageSize+r.Length() > arch.HugePageSize {
				return fmt.Errorf("zero pma %v is not a copy-on-write view of a zero chunk: %+v", r, *p)
			}
			continue
		}
		if p.untouched {
			if !p.private || p.zero {
				return fmt.Errorf("untouched pma %v is not private memory: %+v", r, *p)
			}
			continue
		}
		rss += r.Length()
	}
	if rss != mm.curRSS {
		return fmt.Errorf("RSS %#x, pmas span %#x", mm.curRSS, rss)
	}
	if guards != mm.guardBytes {
		return fmt.Errorf("guard bytes %#x, guard pmas span %#x", mm.guardBytes, guards)
	}
	return nil
}
