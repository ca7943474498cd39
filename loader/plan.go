package loader

import (
	"debug/elf"

	"github.com/mmvm/mmvm/arch"
)

// Plan is everything the VM needs to lay out a program's image in a fresh
// address space, computed from the ELF headers alone. It does not depend on
// mm: the VM applies it, segment by segment, in this order:
//
//  1. map FilePages privately from the image (ImageFile) at Offset, with
//     Perms (copy-on-write: the program's writes never reach the file);
//  2. write zeros over ZeroTail (the rest of the last file page after the
//     file bytes end: those bytes belong to the bss and must read as zero,
//     even though the file has other data there) — this is a write through
//     the private mapping even when Perms lacks Write, so the page gets its
//     own private copy;
//  3. map Anon as private anonymous zero-filled memory with Perms;
//
// then set brk to BrkStart, create the stack (executable only if ExecStack)
// and build the initial stack with BuildStack.
type Plan struct {
	// Type is elf.ET_EXEC (static) or elf.ET_DYN (static-PIE).
	Type elf.Type
	// Bias is added to every p_vaddr and to e_entry: 0 for ET_EXEC, and
	// for ET_DYN the distance from the lowest segment page to the load base.
	Bias arch.Addr
	// Entry is the biased entry point (AT_ENTRY, the initial RIP).
	Entry arch.Addr
	// Segments are the non-empty PT_LOAD segments in increasing address
	// order; their Mapped ranges are pairwise disjoint.
	Segments []Segment
	// ExecStack is true if PT_GNU_STACK asks for an executable stack. With
	// no PT_GNU_STACK the stack is not executable (Linux on x86-64).
	ExecStack bool
	// BrkStart is the page-rounded end of the highest segment: where the
	// program break starts.
	BrkStart arch.Addr
	// Phdr is the address of the program header table in the image
	// (AT_PHDR): computed from the first PT_LOAD whose file bytes contain
	// e_phoff, else PT_PHDR's address, else Bias (as Linux, which reports
	// an unmapped table that way).
	Phdr arch.Addr
	// PhEnt is the size of one program header (AT_PHENT, always 56).
	PhEnt uint64
	// PhNum is the number of program headers (AT_PHNUM).
	PhNum uint64
	// FileSize is the size of the ELF file in bytes.
	FileSize uint64
}

// Segment is one PT_LOAD segment, biased and split into page ranges. The
// three ranges FilePages, Anon and (inside FilePages) ZeroTail describe how
// Mapped is filled:
//
//	Mapped:    [--------------------------------------------------)
//	FilePages: [---------------------)                               from the file, at Offset
//	ZeroTail:              [---------)                               zeroed after mapping
//	Anon:                            [-------------------------------) zero pages
//
// All ranges except ZeroTail are page-aligned.
type Segment struct {
	// Index is the program header's index in the file.
	Index int
	// Perms are the segment's permissions from p_flags.
	Perms arch.AccessType
	// Mapped is the page-aligned range the segment occupies:
	// [RoundDown(VAddr), RoundUp(VAddr+MemSize)).
	Mapped arch.AddrRange
	// FilePages is the prefix of Mapped backed by file pages:
	// [Mapped.Start, RoundUp(VAddr+FileSize)), empty (at Mapped.Start) when
	// FileSize is 0. Its last page may extend past the end of the file;
	// bytes there read as zero.
	FilePages arch.AddrRange
	// Offset is the (page-aligned) file offset that FilePages.Start maps.
	Offset uint64
	// ZeroTail is [VAddr+FileSize, FilePages.End) when MemSize > FileSize:
	// the bss bytes sharing the last file page, which must be zeroed
	// explicitly. Empty otherwise (bytes past the segment in its last page
	// then show the file's contents, as on Linux).
	ZeroTail arch.AddrRange
	// Anon is [FilePages.End, Mapped.End): the rest of the bss, in whole
	// zero-filled anonymous pages. Possibly empty.
	Anon arch.AddrRange
	// VAddr, FileSize and MemSize are the segment's biased p_vaddr, its
	// p_filesz and its p_memsz.
	VAddr    arch.Addr
	FileSize uint64
	MemSize  uint64
}
