package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// testImage is an ELF file under construction: a header, a program header
// table at Phoff, and bytes placed at file offsets. Tests start from
// minimalStatic or minimalPIE and break one thing.
type testImage struct {
	hdr   elf.Header64
	progs []elf.Prog64
	// size is the file's length; bytes beyond what is written are zero.
	size int
	// blobs are extra bytes to place at file offsets.
	blobs map[int][]byte
}

// Layout of the minimal images:
//
//	file 0x0000: ELF header, program headers (4 of them)
//	file 0x1000: code "mov $60,%eax; xor %edi,%edi; syscall" (exit(0))
//	file 0x2010: 0x20 bytes of data; the segment's memsz is 0x3000 (bss)
const (
	testTextVaddr = 0x400000
	testDataOff   = 0x2010
	testDataVaddr = 0x403010
	testFileSize  = 0x2030
)

var testCode = []byte{0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}

// minimalStatic returns a valid ET_EXEC image: r-x text containing the
// headers and the code, rw- data with a bss tail, and PT_GNU_STACK rw-.
func minimalStatic() *testImage {
	t := &testImage{size: testFileSize, blobs: map[int][]byte{0x1000: testCode}}
	copy(t.hdr.Ident[:], elf.ELFMAG)
	t.hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	t.hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	t.hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	t.hdr.Type = uint16(elf.ET_EXEC)
	t.hdr.Machine = uint16(elf.EM_X86_64)
	t.hdr.Version = uint32(elf.EV_CURRENT)
	t.hdr.Entry = testTextVaddr + 0x1000
	t.hdr.Phoff = 64
	t.hdr.Ehsize = 64
	t.hdr.Phentsize = 56
	t.progs = []elf.Prog64{
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: 0, Vaddr: testTextVaddr, Paddr: testTextVaddr,
			Filesz: 0x1000 + uint64(len(testCode)), Memsz: 0x1000 + uint64(len(testCode)), Align: 0x1000},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W), Off: testDataOff, Vaddr: testDataVaddr, Paddr: testDataVaddr,
			Filesz: 0x20, Memsz: 0x3000, Align: 0x1000},
		{Type: uint32(elf.PT_GNU_STACK), Flags: uint32(elf.PF_R | elf.PF_W), Align: 16},
		{Type: uint32(elf.PT_NOTE), Flags: uint32(elf.PF_R), Off: 0x1000, Vaddr: testTextVaddr + 0x1000, Filesz: 4, Memsz: 4, Align: 4},
	}
	data := make([]byte, 0x20)
	for i := range data {
		data[i] = byte(0xa0 + i)
	}
	t.blobs[testDataOff] = data
	return t
}

// minimalPIE returns minimalStatic linked at 0 as ET_DYN.
func minimalPIE() *testImage {
	t := minimalStatic()
	t.hdr.Type = uint16(elf.ET_DYN)
	t.hdr.Entry -= testTextVaddr
	for i := range t.progs {
		if t.progs[i].Vaddr != 0 {
			t.progs[i].Vaddr -= testTextVaddr
			t.progs[i].Paddr = t.progs[i].Vaddr
		}
	}
	return t
}

// bytes serialises the image. The header's Phnum is len(progs) unless the
// test set it already (phnumSet).
func (t *testImage) bytes() []byte {
	if t.hdr.Phnum == 0 {
		t.hdr.Phnum = uint16(len(t.progs))
	}
	var hb, pb bytes.Buffer
	binary.Write(&hb, binary.LittleEndian, &t.hdr)
	binary.Write(&pb, binary.LittleEndian, t.progs)
	out := make([]byte, t.size)
	copy(out, hb.Bytes())
	if t.hdr.Phoff < uint64(len(out)) {
		copy(out[t.hdr.Phoff:], pb.Bytes())
	}
	for off, b := range t.blobs {
		if off < len(out) {
			copy(out[off:], b)
		}
	}
	return out
}
