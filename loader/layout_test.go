package loader

import (
	"bytes"
	"debug/elf"
	"fmt"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
)

// faultArounds are the fault-around units mmvm run accepts at both ends
// and in between: Translate sees optional ranges of these sizes.
var faultArounds = []uint64{arch.PageSize, 64 << 10, arch.HugePageSize}

// layoutSeg is one PT_LOAD of a synthetic layout.
type layoutSeg struct {
	flags         elf.ProgFlag
	off, vaddr    uint64
	filesz, memsz uint64
	align         uint64 // 0 means 0x1000
	name          string // what the linker puts there
	entry         bool   // e_entry is this segment's first byte
}

// layout is a static ELF layout as a linker produces it.
type layout struct {
	name  string
	typ   elf.Type
	size  int // file size
	loads []layoutSeg
}

// layouts are the ways real linkers lay out a static executable, reduced
// to their PT_LOAD headers (addresses and offsets as they link them).
var layouts = []layout{
	{
		// GNU ld (bfd) -z separate-code: four segments, the data one
		// starting mid-page, its bss starting in the last file page.
		name: "GNU ld", typ: elf.ET_EXEC, size: 0xa6270,
		loads: []layoutSeg{
			{flags: elf.PF_R, off: 0, vaddr: 0x400000, filesz: 0x518, memsz: 0x518, name: "headers"},
			{flags: elf.PF_R | elf.PF_X, off: 0x1000, vaddr: 0x401000, filesz: 0x77bf1, memsz: 0x77bf1, name: "text", entry: true},
			{flags: elf.PF_R, off: 0x79000, vaddr: 0x479000, filesz: 0x26f7e, memsz: 0x26f7e, name: "rodata"},
			{flags: elf.PF_R | elf.PF_W, off: 0xa06d8, vaddr: 0x4a06d8, filesz: 0x5b98, memsz: 0xb3c8, name: "data+bss"},
		},
	},
	{
		// gold: text from the file's start, data mid-page with bss.
		name: "gold", typ: elf.ET_EXEC, size: 0xa6300,
		loads: []layoutSeg{
			{flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0x400000, filesz: 0x9fa9c, memsz: 0x9fa9c, name: "text", entry: true},
			{flags: elf.PF_R | elf.PF_W, off: 0xa06a0, vaddr: 0x4a16a0, filesz: 0x5bd0, memsz: 0xb400, name: "data+bss"},
		},
	},
	{
		// lld: text mid-page; the RELRO segment padded to a page end in
		// memory, and the data segment starting on the next page of
		// memory but in the same file page as RELRO's last bytes.
		name: "lld", typ: elf.ET_EXEC, size: 0xa5000,
		loads: []layoutSeg{
			{flags: elf.PF_R, off: 0, vaddr: 0x200000, filesz: 0x27570, memsz: 0x27570, name: "rodata"},
			{flags: elf.PF_R | elf.PF_X, off: 0x27580, vaddr: 0x228580, filesz: 0x77c80, memsz: 0x77c80, name: "text", entry: true},
			{flags: elf.PF_R | elf.PF_W, off: 0x9f200, vaddr: 0x2a1200, filesz: 0x3970, memsz: 0x3e00, name: "relro"},
			{flags: elf.PF_R | elf.PF_W, off: 0xa2b80, vaddr: 0x2a5b80, filesz: 0x22a8, memsz: 0x7ab8, name: "data+bss"},
		},
	},
	{
		// rustc +crt-static (rust-lld, static-PIE): as lld, linked at 0.
		name: "rust-lld static-pie", typ: elf.ET_DYN, size: 0x12a100,
		loads: []layoutSeg{
			{flags: elf.PF_R, off: 0, vaddr: 0, filesz: 0x46da8, memsz: 0x46da8, name: "rodata"},
			{flags: elf.PF_R | elf.PF_X, off: 0x46dc0, vaddr: 0x47dc0, filesz: 0xda620, memsz: 0xda620, name: "text", entry: true},
			{flags: elf.PF_R | elf.PF_W, off: 0x1213e0, vaddr: 0x1233e0, filesz: 0x6000, memsz: 0x6c20, name: "relro"},
			{flags: elf.PF_R | elf.PF_W, off: 0x1273e0, vaddr: 0x12a3e0, filesz: 0x2c70, memsz: 0x9108, name: "data+bss"},
		},
	},
	{
		// A small program whose bss fits in the last file page, whose
		// data ends exactly at the end of the file, and whose bss-only
		// segment (p_filesz 0) starts mid-page.
		name: "bss in the last file page", typ: elf.ET_EXEC, size: 0x3230,
		loads: []layoutSeg{
			{flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0x400000, filesz: 0x1800, memsz: 0x1800, name: "text", entry: true},
			{flags: elf.PF_R | elf.PF_W, off: 0x2010, vaddr: 0x402010, filesz: 0x1220, memsz: 0x1400, name: "data+bss"},
			{flags: elf.PF_R | elf.PF_W, off: 0x3100, vaddr: 0x405100, filesz: 0, memsz: 0x2100, name: "bss only"},
		},
	},
}

// spacedMemoryFile is a MemoryFile whose allocations never abut: a page
// is taken before each one, as the VM's other allocations (page tables,
// the stack, anonymous memory) take pages between the image's reads, so
// that pages read at different times never merge into one translation.
type spacedMemoryFile struct{ *memfile.MemoryFile }

func (m spacedMemoryFile) Allocate(length uint64, opts memfile.AllocOpts) (memmap.FileRange, error) {
	if _, err := m.MemoryFile.Allocate(arch.PageSize, opts); err != nil {
		return memmap.FileRange{}, err
	}
	return m.MemoryFile.Allocate(length, opts)
}

// newSpacedImage returns an ImageFile over file in a spacedMemoryFile.
func newSpacedImage(t *testing.T, file []byte, name string) *ImageFile {
	t.Helper()
	mf := newMemoryFile(t, 64<<20)
	img, err := NewImageFile(spacedMemoryFile{mf}, bytes.NewReader(file), int64(len(file)), ImageIdentity{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(img.DecRef)
	return img
}

// bytes serialises l: an ELF header and program headers at the start,
// then bytes with no zero among them, so that zero-fill shows.
func (l layout) bytes() []byte {
	img := &testImage{size: l.size, blobs: map[int][]byte{}}
	base := minimalStatic()
	img.hdr = base.hdr
	img.hdr.Type = uint16(l.typ)
	for _, s := range l.loads {
		align := s.align
		if align == 0 {
			align = 0x1000
		}
		img.progs = append(img.progs, elf.Prog64{
			Type: uint32(elf.PT_LOAD), Flags: uint32(s.flags), Off: s.off, Vaddr: s.vaddr, Paddr: s.vaddr,
			Filesz: s.filesz, Memsz: s.memsz, Align: align,
		})
		if s.entry {
			img.hdr.Entry = s.vaddr
		}
	}
	img.progs = append(img.progs, elf.Prog64{Type: uint32(elf.PT_GNU_STACK), Flags: uint32(elf.PF_R | elf.PF_W), Align: 16})
	headers := 64 + 56*len(img.progs)
	img.blobs[headers] = randomBytes(l.size-headers, uint64(l.size))
	return img.bytes()
}

// linuxImage is what Linux's binfmt_elf leaves in memory for the PT_LOAD
// headers of file (sorted by p_vaddr), biased by bias, page by page: each
// segment maps its file pages (the later segment winning a page two
// share), zeroes the rest of its last file page when it has bss, and maps
// zero pages for the rest of its bss.
func linuxImage(t *testing.T, file []byte, bias arch.Addr) map[arch.Addr][]byte {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	pages := map[arch.Addr][]byte{}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		vaddr := arch.Addr(p.Vaddr) + bias
		start := vaddr.RoundDown()
		fileEnd := vaddr + arch.Addr(p.Filesz)
		end := (vaddr + arch.Addr(p.Memsz)).MustRoundUp()
		off := p.Off &^ arch.PageMask
		for a := start; a < end; a += arch.PageSize {
			page := make([]byte, arch.PageSize)
			if p.Filesz > 0 && a < fileEnd {
				o := off + uint64(a-start)
				if o < uint64(len(file)) {
					copy(page, file[o:])
				}
				if p.Memsz > p.Filesz && fileEnd < a+arch.PageSize {
					clear(page[fileEnd-a:])
				}
			}
			pages[a] = page
		}
	}
	return pages
}

// planImage applies plan to a model address space as the VM does
// (machine.LoadProgram): each segment's FilePages a private mapping of
// img, its ZeroTail zeroed through that mapping (a write fault), its Anon
// zero pages. Then it faults first, and afterwards every other page in
// address order, by read faults whose optional range is the fault-around
// unit within the mapping, as mm asks. Every Translate result is checked
// against the contract. It returns the contents of every mapped page.
func planImage(t *testing.T, plan *Plan, img *ImageFile, faultAround uint64, first arch.Addr) map[arch.Addr][]byte {
	t.Helper()
	type fileMapping struct {
		ar  arch.AddrRange
		off uint64
	}
	var maps []fileMapping
	pages := map[arch.Addr][]byte{} // pages backed so far: copies or translations
	anon := map[arch.Addr]bool{}
	fault := func(a arch.Addr) {
		t.Helper()
		a = a.RoundDown()
		if _, ok := pages[a]; ok {
			return
		}
		if anon[a] {
			pages[a] = make([]byte, arch.PageSize)
			return
		}
		for _, m := range maps {
			if !m.ar.Contains(a) {
				continue
			}
			unit := arch.AddrRange{Start: a.AlignDown(faultAround), End: a.AlignDown(faultAround) + arch.Addr(faultAround)}.Intersect(m.ar)
			// Only the gap around a in what is backed is optional.
			for s := a; s > unit.Start; s -= arch.PageSize {
				if _, ok := pages[s-arch.PageSize]; ok {
					unit.Start = s
					break
				}
			}
			for e := a + arch.PageSize; e < unit.End; e += arch.PageSize {
				if _, ok := pages[e]; ok {
					unit.End = e
					break
				}
			}
			mro := func(r arch.AddrRange) memmap.MappableRange {
				s := m.off + uint64(r.Start-m.ar.Start)
				return memmap.MappableRange{Start: s, End: s + r.Length()}
			}
			req := mro(arch.AddrRange{Start: a, End: a + arch.PageSize})
			opt := mro(unit)
			ts, err := img.Translate(req, opt, arch.Read)
			if cerr := memmap.CheckTranslateResult(req, opt, arch.Read, ts, err); cerr != nil {
				t.Fatalf("fault at %v (fault-around %#x): Translate(%v, %v): %v", a, faultAround, req, opt, cerr)
			}
			if err != nil {
				t.Fatalf("fault at %v: Translate(%v, %v): %v", a, req, opt, err)
			}
			for _, tr := range ts {
				b, err := tr.File.MapInternal(tr.FileRange(), arch.Read)
				if err != nil {
					t.Fatal(err)
				}
				for o := uint64(0); o < tr.Source.Length(); o += arch.PageSize {
					va := m.ar.Start + arch.Addr(tr.Source.Start+o-m.off)
					if _, ok := pages[va]; !ok {
						pages[va] = bytes.Clone(b[o : o+arch.PageSize])
					}
				}
			}
			return
		}
		t.Fatalf("fault at %v: nothing mapped there", a)
	}
	unmap := func(r arch.AddrRange) {
		for a := r.Start; a < r.End; a += arch.PageSize {
			delete(pages, a)
			delete(anon, a)
		}
		kept := maps[:0]
		for _, m := range maps {
			if !m.ar.Overlaps(r) {
				kept = append(kept, m)
				continue
			}
			if m.ar.Start < r.Start {
				kept = append(kept, fileMapping{arch.AddrRange{Start: m.ar.Start, End: r.Start}, m.off})
			}
			if m.ar.End > r.End {
				kept = append(kept, fileMapping{arch.AddrRange{Start: r.End, End: m.ar.End}, m.off + uint64(r.End-m.ar.Start)})
			}
		}
		maps = kept
	}
	for _, s := range plan.Segments {
		if !s.FilePages.Empty() {
			unmap(s.FilePages)
			if err := img.AddMapping(noSpace{t}, s.FilePages, s.Offset, false); err != nil {
				t.Fatal(err)
			}
			maps = append(maps, fileMapping{s.FilePages, s.Offset})
		}
		if !s.ZeroTail.Empty() {
			fault(s.ZeroTail.Start)
			page := pages[s.ZeroTail.Start.RoundDown()]
			clear(page[s.ZeroTail.Start-s.ZeroTail.Start.RoundDown():])
		}
		unmap(s.Anon)
		for a := s.Anon.Start; a < s.Anon.End; a += arch.PageSize {
			anon[a] = true
		}
	}
	fault(first)
	for _, s := range plan.Segments {
		for a := s.Mapped.Start; a < s.Mapped.End; a += arch.PageSize {
			fault(a)
		}
	}
	return pages
}

// TestLayouts loads each linker's layout and checks, at every fault-around
// unit and whichever page the program touches first, that the pages the
// plan and the image give the program hold what Linux would put there.
func TestLayouts(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			file := l.bytes()
			plan, err := load(t, file, Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkPlanInvariants(t, plan)
			want := linuxImage(t, file, plan.Bias)
			for _, fa := range faultArounds {
				for _, s := range plan.Segments {
					for _, first := range firstTouches(s.Mapped) {
						t.Run(fmt.Sprintf("fault-around %#x first %v", fa, first), func(t *testing.T) {
							got := planImage(t, plan, newSpacedImage(t, file, l.name), fa, first)
							comparePages(t, got, want)
						})
						if t.Failed() {
							return
						}
					}
				}
			}
		})
	}
}

// firstTouches are the pages of r a test faults first: its two first and
// two last pages and one in the middle, where fault-around units and
// readahead windows meet the segment's ends differently.
func firstTouches(r arch.AddrRange) []arch.Addr {
	var out []arch.Addr
	for _, a := range []arch.Addr{r.Start, r.Start + arch.PageSize, (r.Start + arch.Addr(r.Length()/2)).RoundDown(), r.End - 2*arch.PageSize, r.End - arch.PageSize} {
		if r.Contains(a) && (len(out) == 0 || a > out[len(out)-1]) {
			out = append(out, a)
		}
	}
	return out
}

// comparePages reports the first difference between two page images.
func comparePages(t *testing.T, got, want map[arch.Addr][]byte) {
	t.Helper()
	for a, w := range want {
		g, ok := got[a]
		if !ok {
			t.Errorf("page %v: not mapped, want it", a)
			continue
		}
		if i := firstDiff(g, w); i >= 0 {
			t.Errorf("page %v: byte %#x is %#x, want %#x", a, i, g[i], w[i])
		}
	}
	for a := range got {
		if _, ok := want[a]; !ok {
			t.Errorf("page %v: mapped, Linux maps nothing there", a)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
