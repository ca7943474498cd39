package mm

import "github.com/mmvm/mmvm/arch"

// /proc/pid/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	PagemapPFNMask   = 1<<55 - 1
	PagemapExclusive = 1 << 56 // PM_MMAP_EXCLUSIVE: the page is mapped once
	PagemapUffdWP    = 1 << 57 // PM_UFFD_WP: write-protected by a userfaultfd
	PagemapGuard     = 1 << 58 // PM_GUARD_REGION: a guard page (6.15+)
	PagemapFile      = 1 << 61 // PM_FILE: a file or shared-memory page
	PagemapPresent   = 1 << 63 // PM_PRESENT
)

// pagemapPFNBase is added to a page's frame in the MemoryFile to make the
// frame number pagemap shows: a page's "physical" frame is where mm keeps
// it, never 0.
const pagemapPFNBase = 1 << 20

// Pagemap fills entries with /proc/pid/pagemap's entries for the pages
// from start on (pagemap_read), as Linux shows them to a privileged reader
// of a kernel without soft-dirty tracking:
//   - no memory (no vma, or a page never faulted in): 0;
//   - a guard page: PagemapGuard;
//   - the zero page of a private anonymous page only read: present, with
//     one frame number for every such page;
//   - private memory the vma owns: present and exclusive, or present only
//     while a fork shares it (copy on write);
//   - a file's or shared memory's page: present, PagemapFile and exclusive
//     (mm does not count a shared page's mappings);
//   - a page write-protected by a userfaultfd has PagemapUffdWP too.
//
// Frame numbers are the page's place in mm's memory, so two addresses
// show the same frame exactly when they map the same page. Pages that
// fault-around allocated show as present only once the program touched
// them, as Linux faults them in then.
func (mm *MemoryManager) Pagemap(start arch.Addr, entries []uint64) {
	clear(entries)
	if len(entries) == 0 {
		return
	}
	end := start + arch.Addr(len(entries))*arch.PageSize
	if end < start {
		end = ^arch.Addr(0) &^ arch.PageMask
	}
	ar := arch.AddrRange{Start: start, End: end}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	mm.settleLocked(ar)
	for pseg := range mm.pmas.Segments(ar) {
		p := pseg.ValuePtr()
		r := pseg.Range().Intersect(ar)
		if r.Empty() || p.untouched || !mm.vmas.FindSegment(r.Start).Ok() {
			continue
		}
		for a := r.Start; a < r.End; a += arch.PageSize {
			var e uint64
			switch {
			case p.guard:
				e = PagemapGuard
			case p.zero:
				e = PagemapPresent | (uint64(mm.zeroChunk.Start)>>arch.PageShift+pagemapPFNBase)&PagemapPFNMask
			default:
				off := p.off + uint64(a-pseg.Start())
				e = PagemapPresent | (off>>arch.PageShift+pagemapPFNBase)&PagemapPFNMask
				switch {
				case !p.private:
					e |= PagemapFile | PagemapExclusive
				case !p.needCOW:
					e |= PagemapExclusive
				}
			}
			if p.uffdWP {
				e |= PagemapUffdWP
			}
			entries[(a-start)>>arch.PageShift] = e
		}
	}
}
