package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sync"
)

// Layout of the image, in bytes from its start, as Linux 6.18 lays out
// x86-64's: [vvar] (four pages, the first of which is the data page the
// code reads at a fixed negative offset, vdso.asm's VVAR), [vvar_vclock]
// (two pages), then the ELF object, so these are part of vdso.asm's
// contract too. Only the data page has contents: the rest of [vvar] and
// all of [vvar_vclock] (Linux's paravirtual clock pages) are SIGBUS, as on
// Linux for pages it has nothing to put in (no time namespace, no pvclock).
const (
	pageSize = 4096
	// VVarOffset and VVarSize: [vvar]; VVarDataSize: its data page, at
	// its start.
	VVarOffset   = 0
	VVarSize     = 4 * pageSize
	VVarDataSize = pageSize
	// VClockOffset and VClockSize: [vvar_vclock].
	VClockOffset = VVarOffset + VVarSize
	VClockSize   = 2 * pageSize
	// ELFOffset is where the ELF object begins (AT_SYSINFO_EHDR points
	// there); ELFSize is its length: a page of headers and tables, then a
	// page of code.
	ELFOffset = VClockOffset + VClockSize
	ELFSize   = 2 * pageSize
	// TextOffset is where the code lies within the ELF object.
	TextOffset = pageSize
	// Size is the whole image: [vvar], [vvar_vclock] and the ELF object.
	Size = ELFOffset + ELFSize
)

// SOName is the object's DT_SONAME, and Version the version every symbol
// is defined with, as on Linux.
const (
	SOName  = "linux-vdso.so.1"
	Version = "LINUX_2.6"
)

// function is one global function of vdso.asm: its name, offset in code
// and length.
type function struct {
	name   string
	offset uint64
	size   uint64
}

// aliases are the weak unprefixed names Linux's vDSO also defines.
var aliases = map[string]string{
	"__vdso_clock_gettime": "clock_gettime",
	"__vdso_gettimeofday":  "gettimeofday",
	"__vdso_time":          "time",
	"__vdso_clock_getres":  "clock_getres",
	"__vdso_getcpu":        "getcpu",
}

var (
	imageOnce sync.Once
	image     []byte
	imageErr  error
)

// ELF returns the ELF object, ELFSize bytes (shared: callers must not
// modify it).
func ELF() []byte {
	imageOnce.Do(func() { image, imageErr = buildELF() })
	if imageErr != nil {
		// buildELF depends only on code.go; TestELF runs it.
		panic(imageErr)
	}
	return image
}

// Symbol returns the offset, within the ELF object, of the function name
// (a __vdso_ name or its alias).
func Symbol(name string) (uint64, bool) {
	for _, f := range functions {
		if f.name == name || aliases[f.name] == name {
			return TextOffset + f.offset, true
		}
	}
	return 0, false
}

// dynSymbol is one entry of .dynsym before encoding.
type dynSymbol struct {
	name        string
	info        byte
	shndx       uint16
	value, size uint64
}

// Section indexes of the object (see buildELF).
const (
	shNull = iota
	shHash
	shGNUHash
	shDynsym
	shDynstr
	shVersym
	shVerdef
	shDynamic
	shNote
	shText
	shShstrtab
	numSections
)

// buildELF lays out the ELF object: page 0 holds the ELF header, program
// headers, .hash, .gnu.hash, .dynsym, .dynstr, .gnu.version,
// .gnu.version_d, .dynamic, .note, .shstrtab and the section headers;
// page 1 holds .text. One PT_LOAD maps both pages at vaddr 0 (the image's
// addresses are offsets, like Linux's vDSO).
func buildELF() ([]byte, error) {
	if len(code) > ELFSize-TextOffset {
		return nil, fmt.Errorf("vdso: %d bytes of code do not fit in a page", len(code))
	}
	syms := []dynSymbol{{}}
	for _, f := range functions {
		syms = append(syms,
			dynSymbol{f.name, byte(elf.STB_GLOBAL)<<4 | byte(elf.STT_FUNC), shText, TextOffset + f.offset, f.size},
			dynSymbol{aliases[f.name], byte(elf.STB_WEAK)<<4 | byte(elf.STT_FUNC), shText, TextOffset + f.offset, f.size})
	}
	// The version's own symbol, as ld defines it.
	syms = append(syms, dynSymbol{Version, byte(elf.STB_GLOBAL)<<4 | byte(elf.STT_OBJECT), uint16(elf.SHN_ABS), 0, 0})

	var dynstr strtab
	dynstr.add("")
	soname := dynstr.add(SOName)
	version := dynstr.add(Version)
	nameOff := make([]uint32, len(syms))
	for i, s := range syms[1:] {
		nameOff[i+1] = dynstr.add(s.name)
	}

	le := binary.LittleEndian
	var w sectionWriter
	w.buf.Write(make([]byte, 64+3*56)) // ELF header and program headers, filled last
	secs := make([]elf.Section64, numSections)

	hash := w.begin(8)
	w.words32(sysvHash(syms))
	secs[shHash] = w.end(hash, elf.SHT_HASH, shDynsym, 0, 8, 4)

	gnuHash := w.begin(8)
	w.buf.Write(gnuHashTable(syms))
	secs[shGNUHash] = w.end(gnuHash, elf.SHT_GNU_HASH, shDynsym, 0, 8, 0)

	dynsym := w.begin(8)
	for i, s := range syms {
		var e [24]byte
		le.PutUint32(e[0:], nameOff[i])
		e[4] = s.info
		le.PutUint16(e[6:], s.shndx)
		le.PutUint64(e[8:], s.value)
		le.PutUint64(e[16:], s.size)
		w.buf.Write(e[:])
	}
	// sh_info: one past the last local symbol (only the null one).
	secs[shDynsym] = w.end(dynsym, elf.SHT_DYNSYM, shDynstr, 1, 8, 24)

	strs := w.begin(1)
	w.buf.Write(dynstr.b)
	secs[shDynstr] = w.end(strs, elf.SHT_STRTAB, 0, 0, 1, 0)

	versym := w.begin(2)
	for i := range syms {
		v := uint16(2) // LINUX_2.6
		if i == 0 {
			v = 0 // VER_NDX_LOCAL
		}
		w.buf.Write(le.AppendUint16(nil, v))
	}
	secs[shVersym] = w.end(versym, elf.SHT_GNU_VERSYM, shDynsym, 0, 2, 2)

	verdef := w.begin(8)
	for i, d := range []struct {
		flags uint16
		name  string
		off   uint32
	}{{1 /* VER_FLG_BASE */, SOName, soname}, {0, Version, version}} {
		next := uint32(28)
		if i == 1 {
			next = 0
		}
		var e [28]byte
		le.PutUint16(e[0:], 1) // VER_DEF_CURRENT
		le.PutUint16(e[2:], d.flags)
		le.PutUint16(e[4:], uint16(i+1)) // vd_ndx
		le.PutUint16(e[6:], 1)           // vd_cnt
		le.PutUint32(e[8:], elfHash(d.name))
		le.PutUint32(e[12:], 20) // vd_aux: the Verdaux follows
		le.PutUint32(e[16:], next)
		le.PutUint32(e[20:], d.off) // vda_name
		le.PutUint32(e[24:], 0)     // vda_next
		w.buf.Write(e[:])
	}
	secs[shVerdef] = w.end(verdef, elf.SHT_GNU_VERDEF, shDynstr, 2, 8, 0)

	dynamic := w.begin(8)
	for _, d := range []struct {
		tag elf.DynTag
		val uint64
	}{
		{elf.DT_SONAME, uint64(soname)},
		{elf.DT_HASH, secs[shHash].Addr},
		{elf.DT_GNU_HASH, secs[shGNUHash].Addr},
		{elf.DT_STRTAB, secs[shDynstr].Addr},
		{elf.DT_SYMTAB, secs[shDynsym].Addr},
		{elf.DT_STRSZ, secs[shDynstr].Size},
		{elf.DT_SYMENT, 24},
		{elf.DT_VERDEF, secs[shVerdef].Addr},
		{elf.DT_VERDEFNUM, 2},
		{elf.DT_FLAGS, uint64(elf.DF_SYMBOLIC | elf.DF_BIND_NOW)},
		{elf.DT_FLAGS_1, uint64(elf.DF_1_NOW)},
		{elf.DT_VERSYM, secs[shVersym].Addr},
		{elf.DT_NULL, 0},
	} {
		w.buf.Write(le.AppendUint64(le.AppendUint64(nil, uint64(d.tag)), d.val))
	}
	secs[shDynamic] = w.end(dynamic, elf.SHT_DYNAMIC, shDynstr, 0, 8, 16)
	secs[shDynamic].Flags |= uint64(elf.SHF_WRITE) // as ld marks it

	note := w.begin(4)
	w.buf.Write(linuxVersionNote())
	secs[shNote] = w.end(note, elf.SHT_NOTE, 0, 0, 4, 0)

	var shstr strtab
	shstr.add("")
	names := []string{"", ".hash", ".gnu.hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".note", ".text", ".shstrtab"}
	nameOffs := make([]uint32, numSections)
	for i, n := range names[1:] {
		nameOffs[i+1] = shstr.add(n)
	}
	shs := w.begin(1)
	w.buf.Write(shstr.b)
	secs[shShstrtab] = w.end(shs, elf.SHT_STRTAB, 0, 0, 1, 0)
	secs[shShstrtab].Flags = 0 // not loaded
	secs[shShstrtab].Addr = 0

	shoff := w.begin(8)
	if shoff+numSections*64 > TextOffset {
		return nil, fmt.Errorf("vdso: headers and tables end at %#x, past the code at %#x", shoff+numSections*64, TextOffset)
	}
	secs[shText] = elf.Section64{Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC | elf.SHF_EXECINSTR),
		Addr: TextOffset, Off: TextOffset, Size: uint64(len(code)), Addralign: 16}
	for i, s := range secs {
		s.Name = nameOffs[i]
		if err := binary.Write(&w.buf, le, s); err != nil {
			return nil, err
		}
	}

	img := make([]byte, ELFSize)
	copy(img, w.buf.Bytes())
	copy(img[TextOffset:], code)
	hdr := elf.Header64{
		Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: 64, Shoff: uint64(shoff), Ehsize: 64, Phentsize: 56, Phnum: 3,
		Shentsize: 64, Shnum: numSections, Shstrndx: shShstrtab,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	progs := []elf.Prog64{
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Filesz: ELFSize, Memsz: ELFSize, Align: pageSize},
		{Type: uint32(elf.PT_DYNAMIC), Flags: uint32(elf.PF_R), Off: secs[shDynamic].Off, Vaddr: secs[shDynamic].Addr,
			Paddr: secs[shDynamic].Addr, Filesz: secs[shDynamic].Size, Memsz: secs[shDynamic].Size, Align: 8},
		{Type: uint32(elf.PT_NOTE), Flags: uint32(elf.PF_R), Off: secs[shNote].Off, Vaddr: secs[shNote].Addr,
			Paddr: secs[shNote].Addr, Filesz: secs[shNote].Size, Memsz: secs[shNote].Size, Align: 4},
	}
	var head bytes.Buffer
	if err := binary.Write(&head, le, hdr); err != nil {
		return nil, err
	}
	if err := binary.Write(&head, le, progs); err != nil {
		return nil, err
	}
	copy(img, head.Bytes())
	return img, nil
}

// sectionWriter appends sections to page 0; offsets are addresses.
type sectionWriter struct{ buf bytes.Buffer }

// begin aligns the buffer and returns the section's offset.
func (w *sectionWriter) begin(align int) int {
	for w.buf.Len()%align != 0 {
		w.buf.WriteByte(0)
	}
	return w.buf.Len()
}

// end describes the section written since begin returned start.
func (w *sectionWriter) end(start int, typ elf.SectionType, link, info uint32, align, entsize uint64) elf.Section64 {
	return elf.Section64{Type: uint32(typ), Flags: uint64(elf.SHF_ALLOC), Addr: uint64(start), Off: uint64(start),
		Size: uint64(w.buf.Len() - start), Link: link, Info: info, Addralign: align, Entsize: entsize}
}

func (w *sectionWriter) words32(v []uint32) {
	for _, x := range v {
		w.buf.Write(binary.LittleEndian.AppendUint32(nil, x))
	}
}

// strtab is an ELF string table being built.
type strtab struct{ b []byte }

// add appends s and returns its offset; "" is offset 0 once added first.
func (t *strtab) add(s string) uint32 {
	off := uint32(len(t.b))
	t.b = append(append(t.b, s...), 0)
	return off
}

// elfHash is the System V ABI's symbol hash (DT_HASH, vd_hash).
func elfHash(name string) uint32 {
	var h uint32
	for _, c := range []byte(name) {
		h = h<<4 + uint32(c)
		g := h & 0xf000_0000
		h ^= g >> 24
		h &^= g
	}
	return h
}

// gnuHash is the GNU hash function (DT_GNU_HASH): djb2.
func gnuHash(name string) uint32 {
	h := uint32(5381)
	for _, c := range []byte(name) {
		h = h*33 + uint32(c)
	}
	return h
}

// sysvHashBuckets is the bucket count of .hash.
const sysvHashBuckets = 3

// sysvHash returns the DT_HASH table of syms: nbucket, nchain, the buckets,
// then the chains, each chain linking the symbols of one bucket.
func sysvHash(syms []dynSymbol) []uint32 {
	buckets := make([]uint32, sysvHashBuckets)
	chains := make([]uint32, len(syms))
	for i := len(syms) - 1; i >= 1; i-- {
		b := elfHash(syms[i].name) % sysvHashBuckets
		chains[i] = buckets[b]
		buckets[b] = uint32(i)
	}
	return append(append([]uint32{sysvHashBuckets, uint32(len(syms))}, buckets...), chains...)
}

// gnuHashTable returns the DT_GNU_HASH table of syms with one bucket, so
// that .dynsym needs no sorting: every symbol but the null one is in it,
// and the Bloom filter (one 64-bit word) has both bits of each set.
func gnuHashTable(syms []dynSymbol) []byte {
	const shift = 6
	le := binary.LittleEndian
	var bloom uint64
	chain := make([]uint32, 0, len(syms)-1)
	for i, s := range syms[1:] {
		h := gnuHash(s.name)
		bloom |= 1<<(h%64) | 1<<((h>>shift)%64)
		v := h &^ 1
		if i == len(syms)-2 {
			v |= 1 // the bucket's last symbol
		}
		chain = append(chain, v)
	}
	var b []byte
	b = le.AppendUint32(b, 1) // nbuckets
	b = le.AppendUint32(b, 1) // symoffset
	b = le.AppendUint32(b, 1) // bloom words
	b = le.AppendUint32(b, shift)
	b = le.AppendUint64(b, bloom)
	b = le.AppendUint32(b, 1) // bucket 0: the first hashed symbol
	for _, v := range chain {
		b = le.AppendUint32(b, v)
	}
	return b
}

// LinuxVersion is the kernel version the image's note announces, the one
// uname reports to the guest (6.1.0).
const LinuxVersion = 6<<16 | 1<<8

// linuxVersionNote is the "Linux" note Linux's vDSO carries: type 0, the
// version code as a 32-bit word.
func linuxVersionNote() []byte {
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, 6) // namesz: "Linux\0"
	b = le.AppendUint32(b, 4) // descsz
	b = le.AppendUint32(b, 0) // type
	b = append(b, "Linux\x00\x00\x00"...)
	return le.AppendUint32(b, LinuxVersion)
}
