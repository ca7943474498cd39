package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
)

// # The zero page
//
// As in Linux, a read (or execute) fault on private anonymous memory that
// was never written takes no memory: it maps a shared read-only page of
// zeros, and gives the vma no anon_vma, so mappings that Linux merges stay
// mergeable. The first write copies it: breakCOWLocked allocates fresh
// (already zero) pages, and only then does the memory count in RSS and the
// vma get its anon_vma. mincore reports zero-page memory resident, smaps'
// Rss does not count it, DONTNEED and munmap drop it, mremap moves it and
// fork shares it, all as Linux does.
//
// mm keeps one 2 MiB chunk of zeroed MemoryFile pages, 2 MiB-aligned,
// allocated at the first such fault: an address maps the chunk's page at
// its own offset within its 2 MiB unit, so a whole 2 MiB fault-around unit
// maps the chunk with one 2 MiB leaf (Linux's huge zero page) and smaller
// units map single pages of it. Zero pmas are never writable (needCOW), so
// the chunk stays zero.

// zeroChunkLocked returns the zero chunk, allocating it first if need be;
// ok is false if the MemoryFile has no 2 MiB left for it, and the caller
// then allocates as without a zero page.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) zeroChunkLocked() (memmap.FileRange, bool) {
	if mm.zeroChunk.Length() == 0 {
		fr, err := mm.mf.Allocate(arch.HugePageSize, memfile.AllocOpts{Kind: memfile.User})
		if err != nil || fr.Start%arch.HugePageSize != 0 {
			if err == nil {
				mm.mf.DecRef(fr)
			}
			return memmap.FileRange{}, false
		}
		mm.zeroChunk = fr
	}
	return mm.zeroChunk, true
}

// zeroPMAsLocked backs ar, a gap in pmas within the private anonymous vma
// vseg, with the zero chunk: one read-only, copy-on-write pma per 2 MiB
// unit ar touches.
//
// Preconditions: mm.activeMu is locked; ar is page-aligned and non-empty.
func (mm *MemoryManager) zeroPMAsLocked(vseg vmaSeg, ar arch.AddrRange) error {
	chunk, ok := mm.zeroChunkLocked()
	if !ok {
		return mm.allocatePMAsLocked(vseg, ar, mm.as != nil)
	}
	v := vseg.ValuePtr()
	eff, maxp := pmaPermsFor(v, arch.AnyAccess, true)
	for start := ar.Start; start < ar.End; {
		end := min(start.AlignDown(arch.HugePageSize)+arch.HugePageSize, ar.End)
		if end <= start { // the last 2 MiB unit below 2^64
			end = ar.End
		}
		off := chunk.Start + uint64(start)%arch.HugePageSize
		fr := memmap.FileRange{Start: off, End: off + uint64(end-start)}
		mm.mf.IncRef(fr)
		mm.pmas.Insert(mm.pmas.FindGap(start), arch.AddrRange{Start: start, End: end}, pma{
			file: mm.mf, off: off, translatePerms: arch.AnyAccess,
			effectivePerms: eff, maxPerms: maxp, needCOW: true, zero: true,
		})
		start = end
	}
	return nil
}
