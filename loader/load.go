package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mmvm/mmvm/arch"
)

const (
	// DefaultDynBase is where Load puts the lowest page of a static-PIE
	// (ET_DYN) image when Options.DynBase is 0: Linux's ELF_ET_DYN_BASE on
	// x86-64 with address randomisation off (two thirds of the 47-bit user
	// half, page-aligned). A fixed base keeps runs reproducible.
	DefaultDynBase arch.Addr = 0x5555_5555_4000

	// MinAddr is the lowest address a segment may occupy: Linux's default
	// vm.mmap_min_addr. It keeps page 0 unmapped so that null pointer
	// dereferences fault.
	MinAddr arch.Addr = 0x10000

	// ehdrSize and phentSize are the sizes of Elf64_Ehdr and Elf64_Phdr.
	ehdrSize  = 64
	phentSize = 56
	// maxPhdrTable bounds the program header table as Linux does (64 KiB).
	maxPhdrTable = 64 << 10
	// maxInterpLen bounds how much of PT_INTERP is read for the message.
	maxInterpLen = 4096
)

// Options modify Load.
type Options struct {
	// DynBase is the page-aligned address of a static-PIE's lowest page;
	// 0 means DefaultDynBase. Load raises it to the segments' largest
	// power-of-two p_align. Ignored for ET_EXEC.
	DynBase arch.Addr
}

// LoadFile opens path and returns Load's plan for it; errors carry the path.
func LoadFile(path string, opts Options) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Kind: KindIO, Segment: -1, Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Error{Path: path, Kind: KindIO, Segment: -1, Err: err}
	}
	p, err := Load(f, fi.Size(), opts)
	if err != nil {
		var le *Error
		if errors.As(err, &le) {
			le.Path = path
		}
		return nil, err
	}
	return p, nil
}

// Load reads the ELF headers of the size-byte file r and returns the plan
// for loading it, or an *Error naming the first thing wrong with it. Load
// reads only the ELF header, the program header table and PT_INTERP; section
// headers are ignored, as the kernel ignores them.
func Load(r io.ReaderAt, size int64, opts Options) (*Plan, error) {
	if size < 0 {
		return nil, fail(KindIO, "negative file size %d", size)
	}
	if !arch.Addr(opts.DynBase).IsPageAligned() {
		return nil, fail(KindSegmentAddress, "load base %v is not page-aligned", opts.DynBase)
	}
	hdr, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	phdrs, err := readProgramHeaders(r, size, hdr)
	if err != nil {
		return nil, err
	}
	if err := checkInterp(r, size, phdrs); err != nil {
		return nil, err
	}
	loads, err := checkLoads(phdrs, uint64(size))
	if err != nil {
		return nil, err
	}
	p := &Plan{
		Type:     elf.Type(hdr.Type),
		PhEnt:    phentSize,
		PhNum:    uint64(len(phdrs)),
		FileSize: uint64(size),
	}
	if p.Type == elf.ET_DYN {
		p.Bias = dynBias(loads, opts.DynBase)
	}
	if err := placeSegments(p, loads); err != nil {
		return nil, err
	}
	if err := placeEntry(p, hdr.Entry); err != nil {
		return nil, err
	}
	p.Phdr = findPhdr(p.Bias, hdr.Phoff, phdrs)
	for _, ph := range phdrs {
		if elf.ProgType(ph.Type) == elf.PT_GNU_STACK {
			p.ExecStack = elf.ProgFlag(ph.Flags)&elf.PF_X != 0
		}
	}
	return p, nil
}

// readHeader reads and checks the ELF header.
func readHeader(r io.ReaderAt, size int64) (*elf.Header64, error) {
	if size < ehdrSize {
		return nil, fail(KindNotELF, "file is %d bytes, shorter than an ELF header (%d)", size, ehdrSize)
	}
	var buf [ehdrSize]byte
	if _, err := r.ReadAt(buf[:], 0); err != nil {
		return nil, &Error{Kind: KindIO, Segment: -1, Detail: "reading the ELF header", Err: err}
	}
	if !bytes.Equal(buf[:4], []byte(elf.ELFMAG)) {
		return nil, fail(KindNotELF, "bad magic %q", buf[:4])
	}
	if c := elf.Class(buf[elf.EI_CLASS]); c != elf.ELFCLASS64 {
		return nil, fail(KindClass, "%v, want ELFCLASS64", c)
	}
	if d := elf.Data(buf[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return nil, fail(KindClass, "%v, want ELFDATA2LSB (little-endian)", d)
	}
	var hdr elf.Header64
	if err := binary.Read(bytes.NewReader(buf[:]), binary.LittleEndian, &hdr); err != nil {
		return nil, &Error{Kind: KindIO, Segment: -1, Detail: "decoding the ELF header", Err: err}
	}
	if m := elf.Machine(hdr.Machine); m != elf.EM_X86_64 {
		return nil, fail(KindMachine, "%v, want EM_X86_64", m)
	}
	if t := elf.Type(hdr.Type); t != elf.ET_EXEC && t != elf.ET_DYN {
		return nil, fail(KindType, "%v, want ET_EXEC or ET_DYN (static-PIE)", t)
	}
	return &hdr, nil
}

// readProgramHeaders reads and decodes the program header table.
func readProgramHeaders(r io.ReaderAt, size int64, hdr *elf.Header64) ([]elf.Prog64, error) {
	if hdr.Phnum == 0 {
		return nil, fail(KindNoLoad, "the file has no program headers")
	}
	if hdr.Phentsize != phentSize {
		return nil, fail(KindProgramHeaders, "e_phentsize is %d, want %d", hdr.Phentsize, phentSize)
	}
	tableLen := uint64(hdr.Phnum) * phentSize
	if tableLen > maxPhdrTable {
		return nil, fail(KindProgramHeaders, "%d program headers exceed the %d-byte limit", hdr.Phnum, maxPhdrTable)
	}
	end := hdr.Phoff + tableLen
	if end < hdr.Phoff || end > uint64(size) {
		return nil, fail(KindProgramHeaders, "table [%#x, %#x) runs past the end of the %d-byte file", hdr.Phoff, hdr.Phoff+tableLen, size)
	}
	buf := make([]byte, tableLen)
	if _, err := r.ReadAt(buf, int64(hdr.Phoff)); err != nil {
		return nil, &Error{Kind: KindIO, Segment: -1, Detail: "reading the program headers", Err: err}
	}
	phdrs := make([]elf.Prog64, hdr.Phnum)
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, phdrs); err != nil {
		return nil, &Error{Kind: KindIO, Segment: -1, Detail: "decoding the program headers", Err: err}
	}
	return phdrs, nil
}

// checkInterp fails if the file asks for a dynamic interpreter, naming it
// when it can be read.
func checkInterp(r io.ReaderAt, size int64, phdrs []elf.Prog64) error {
	for i, ph := range phdrs {
		if elf.ProgType(ph.Type) != elf.PT_INTERP {
			continue
		}
		what := "PT_INTERP"
		n := min(ph.Filesz, maxInterpLen)
		if end := ph.Off + n; end >= ph.Off && end <= uint64(size) && n > 0 {
			buf := make([]byte, n)
			if _, err := r.ReadAt(buf, int64(ph.Off)); err == nil {
				name, _, _ := strings.Cut(string(buf), "\x00")
				what = "PT_INTERP " + name
			}
		}
		return failSeg(KindDynamic, i, "the program needs the dynamic linker (%s): build it with -static", what)
	}
	return nil
}

// checkLoads returns the non-empty PT_LOAD headers (with their indexes) in
// increasing p_vaddr order, after checking each one's sizes, file range and
// alignment on its own. Address checks need the bias and come later.
func checkLoads(phdrs []elf.Prog64, size uint64) ([]indexedProg, error) {
	var loads []indexedProg
	for i, ph := range phdrs {
		if elf.ProgType(ph.Type) != elf.PT_LOAD {
			continue
		}
		if ph.Filesz > ph.Memsz {
			return nil, failSeg(KindSegmentSize, i, "p_filesz %#x exceeds p_memsz %#x", ph.Filesz, ph.Memsz)
		}
		if ph.Memsz == 0 {
			continue // maps nothing, as on Linux
		}
		if end := ph.Off + ph.Filesz; end < ph.Off || end > size {
			return nil, failSeg(KindFileRange, i, "file bytes [%#x, %#x+%#x) end past the %d-byte file", ph.Off, ph.Off, ph.Filesz, size)
		}
		if ph.Off&arch.PageMask != ph.Vaddr&arch.PageMask {
			return nil, failSeg(KindSegmentAlign, i, "p_offset %#x and p_vaddr %#x differ modulo the page size", ph.Off, ph.Vaddr)
		}
		if _, ok := arch.Addr(ph.Vaddr).AddLength(ph.Memsz); !ok {
			return nil, failSeg(KindSegmentAddress, i, "p_vaddr %#x + p_memsz %#x overflows", ph.Vaddr, ph.Memsz)
		}
		loads = append(loads, indexedProg{i, ph})
	}
	if len(loads) == 0 {
		return nil, fail(KindNoLoad, "none of the %d program headers is a non-empty PT_LOAD", len(phdrs))
	}
	slices.SortStableFunc(loads, func(a, b indexedProg) int {
		switch {
		case a.Vaddr < b.Vaddr:
			return -1
		case a.Vaddr > b.Vaddr:
			return 1
		}
		return 0
	})
	return loads, nil
}

// indexedProg is a program header and its index in the table.
type indexedProg struct {
	index int
	elf.Prog64
}

// dynBias returns the bias that moves the lowest page of loads (sorted) to
// base (or DefaultDynBase), aligned to the largest power-of-two p_align. The
// result is used with wrapping arithmetic; placeSegments checks every
// biased address.
func dynBias(loads []indexedProg, base arch.Addr) arch.Addr {
	if base == 0 {
		base = DefaultDynBase
	}
	align := uint64(arch.PageSize)
	for _, l := range loads {
		if a := l.Align; a > align && a&(a-1) == 0 && a <= 1<<30 {
			align = a
		}
	}
	if b, ok := base.AlignUp(align); ok {
		base = b
	}
	lowest := arch.Addr(loads[0].Vaddr).RoundDown()
	return base - lowest
}

// placeSegments biases loads (sorted by p_vaddr), checks that each lies in
// the user half above MinAddr and that no two share a page, and fills in
// p.Segments and p.BrkStart.
func placeSegments(p *Plan, loads []indexedProg) error {
	lowest := arch.Addr(loads[0].Vaddr).RoundDown()
	base := lowest + p.Bias
	for _, l := range loads {
		s, err := placeSegment(base, lowest, l)
		if err != nil {
			return err
		}
		if n := len(p.Segments); n > 0 && p.Segments[n-1].Mapped.End > s.Mapped.Start {
			prev := p.Segments[n-1]
			return failSeg(KindSegmentOverlap, l.index, "pages %v overlap pages %v of program header %d", s.Mapped, prev.Mapped, prev.Index)
		}
		p.Segments = append(p.Segments, s)
		p.BrkStart = s.Mapped.End
	}
	return nil
}

// placeSegment moves one PT_LOAD from its linked address to base +
// (p_vaddr - lowest) and cuts it into page ranges. lowest <= p_vaddr.
func placeSegment(base, lowest arch.Addr, l indexedProg) (Segment, error) {
	vaddr, ok := base.AddLength(l.Vaddr - uint64(lowest))
	if !ok {
		return Segment{}, failSeg(KindSegmentAddress, l.index, "p_vaddr %#x moved to load base %v overflows", l.Vaddr, base)
	}
	end, ok := vaddr.AddLength(l.Memsz)
	if !ok {
		return Segment{}, failSeg(KindSegmentAddress, l.index, "address %v + p_memsz %#x overflows", vaddr, l.Memsz)
	}
	pageEnd, ok := end.RoundUp()
	if !ok || pageEnd > arch.MaxUserAddr {
		return Segment{}, failSeg(KindSegmentAddress, l.index, "[%v, %v) extends past the user half (%v)", vaddr, end, arch.MaxUserAddr)
	}
	if vaddr.RoundDown() < MinAddr {
		return Segment{}, failSeg(KindSegmentAddress, l.index, "starts at %v, below the lowest mappable address %v", vaddr, MinAddr)
	}
	fileEnd := vaddr + arch.Addr(l.Filesz) // <= end: Filesz <= Memsz
	s := Segment{
		Index:    l.index,
		Perms:    permsOf(elf.ProgFlag(l.Flags)),
		Mapped:   arch.AddrRange{Start: vaddr.RoundDown(), End: pageEnd},
		Offset:   l.Off &^ arch.PageMask,
		VAddr:    vaddr,
		FileSize: l.Filesz,
		MemSize:  l.Memsz,
	}
	s.FilePages = arch.AddrRange{Start: s.Mapped.Start, End: s.Mapped.Start}
	if l.Filesz > 0 {
		s.FilePages.End = fileEnd.MustRoundUp() // <= pageEnd
	}
	s.ZeroTail = arch.AddrRange{Start: s.FilePages.End, End: s.FilePages.End}
	if l.Memsz > l.Filesz && l.Filesz > 0 {
		s.ZeroTail.Start = fileEnd
	}
	s.Anon = arch.AddrRange{Start: s.FilePages.End, End: s.Mapped.End}
	return s, nil
}

// permsOf converts p_flags to an access type.
func permsOf(f elf.ProgFlag) arch.AccessType {
	return arch.AccessType{Read: f&elf.PF_R != 0, Write: f&elf.PF_W != 0, Execute: f&elf.PF_X != 0}
}

// placeEntry biases e_entry and checks that it lies in an executable
// segment.
func placeEntry(p *Plan, entry uint64) error {
	p.Entry = arch.Addr(entry) + p.Bias
	for _, s := range p.Segments {
		if s.Perms.Execute && s.VAddr <= p.Entry && uint64(p.Entry-s.VAddr) < s.MemSize {
			return nil
		}
	}
	return fail(KindEntry, "entry point %v (e_entry %#x) lies in no executable PT_LOAD segment", p.Entry, entry)
}

// findPhdr returns AT_PHDR: where the program header table appears in the
// image. Like Linux, it uses the first PT_LOAD (in table order) whose file
// bytes contain e_phoff; failing that it trusts PT_PHDR, and failing that
// reports the table at the bias, as Linux does.
func findPhdr(bias arch.Addr, phoff uint64, phdrs []elf.Prog64) arch.Addr {
	for _, ph := range phdrs {
		if elf.ProgType(ph.Type) == elf.PT_LOAD && ph.Off <= phoff && phoff-ph.Off < ph.Filesz {
			return arch.Addr(phoff-ph.Off+ph.Vaddr) + bias
		}
	}
	for _, ph := range phdrs {
		if elf.ProgType(ph.Type) == elf.PT_PHDR {
			return arch.Addr(ph.Vaddr) + bias
		}
	}
	return bias
}
