package loader

import (
	"fmt"
	"strings"
)

// Kind names one class of loader failure. Kind implements error so that
// callers can write errors.Is(err, loader.KindDynamic); *Error.Is matches a
// Kind target against its own Kind.
type Kind int

// The kinds of loader failure. Each names exactly one thing that is wrong.
const (
	// KindIO: reading the file failed (the underlying error is wrapped).
	KindIO Kind = iota + 1
	// KindNotELF: too short for an ELF header, bad magic, or unknown ELF
	// version.
	KindNotELF
	// KindClass: not ELFCLASS64 little-endian.
	KindClass
	// KindMachine: not EM_X86_64.
	KindMachine
	// KindType: neither ET_EXEC nor ET_DYN (a relocatable object, a core
	// file, ...).
	KindType
	// KindDynamic: the file names a dynamic interpreter (PT_INTERP); only
	// static executables run.
	KindDynamic
	// KindProgramHeaders: the program header table is malformed (wrong
	// entry size, too many entries, or past the end of the file).
	KindProgramHeaders
	// KindNoLoad: no PT_LOAD segment.
	KindNoLoad
	// KindSegmentSize: a segment's p_filesz exceeds its p_memsz.
	KindSegmentSize
	// KindSegmentAddress: a segment's addresses overflow, leave the user
	// half of the address space, or start below MinAddr.
	KindSegmentAddress
	// KindSegmentAlign: p_offset and p_vaddr differ modulo the page size,
	// or p_align is not a power of two.
	KindSegmentAlign
	// KindSegmentOverlap: two PT_LOAD segments share a page.
	KindSegmentOverlap
	// KindFileRange: a segment's file bytes lie past the end of the file.
	KindFileRange
	// KindEntry: the entry point lies in no executable PT_LOAD segment.
	KindEntry
	// KindArgs: argv and envp do not fit (E2BIG, as execve(2)) or a string
	// contains a NUL byte (EINVAL).
	KindArgs
	// KindStack: the stack top cannot hold the initial stack (not 16-byte
	// aligned, outside the user half, or too low for the image).
	KindStack
)

var kindNames = map[Kind]string{
	KindIO:             "cannot read the file",
	KindNotELF:         "not an ELF file",
	KindClass:          "wrong ELF class",
	KindMachine:        "wrong machine",
	KindType:           "not an executable",
	KindDynamic:        "dynamically linked",
	KindProgramHeaders: "bad program headers",
	KindNoLoad:         "no loadable segment",
	KindSegmentSize:    "oversized segment",
	KindSegmentAddress: "bad segment address",
	KindSegmentAlign:   "misaligned segment",
	KindSegmentOverlap: "overlapping segments",
	KindFileRange:      "segment past the end of the file",
	KindEntry:          "bad entry point",
	KindArgs:           "bad arguments",
	KindStack:          "bad initial stack",
}

// String returns a short description of the kind.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("loader.Kind(%d)", int(k))
}

// Error implements error, so that a Kind can be an errors.Is target.
func (k Kind) Error() string { return "loader: " + k.String() }

// Error is the one error Load and BuildStack return. It says what is wrong
// (Kind), where (Segment, the index of the program header at fault, or -1)
// and, in Detail, the values involved and what to do about it.
type Error struct {
	// Path is the file's name, when known (set by Open).
	Path string
	// Kind classifies the failure.
	Kind Kind
	// Segment is the index of the offending program header, or -1.
	Segment int
	// Detail says what exactly is wrong, with the numbers involved.
	Detail string
	// Err is the underlying error, if any (an I/O error, unix.E2BIG,
	// unix.EINVAL).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("loader: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.Segment >= 0 {
		fmt.Fprintf(&b, " (program header %d)", e.Segment)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// fail returns an *Error about the file as a whole.
func fail(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Segment: -1, Detail: fmt.Sprintf(format, args...)}
}

// failSeg returns an *Error about program header i.
func failSeg(k Kind, i int, format string, args ...any) *Error {
	return &Error{Kind: k, Segment: i, Detail: fmt.Sprintf(format, args...)}
}
