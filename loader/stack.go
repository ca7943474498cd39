package loader

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// AuxType is the type of an auxiliary vector entry (the AT_* constants of
// <elf.h>).
type AuxType uint64

// The auxiliary vector entries BuildStack writes.
const (
	AuxNull        AuxType = 0  // AT_NULL: ends the vector
	AuxPhdr        AuxType = 3  // AT_PHDR: program headers in memory
	AuxPhent       AuxType = 4  // AT_PHENT: size of one program header
	AuxPhnum       AuxType = 5  // AT_PHNUM: number of program headers
	AuxPagesz      AuxType = 6  // AT_PAGESZ: page size
	AuxBase        AuxType = 7  // AT_BASE: interpreter base (0: none)
	AuxFlags       AuxType = 8  // AT_FLAGS: always 0
	AuxEntryPoint  AuxType = 9  // AT_ENTRY: program entry point
	AuxUID         AuxType = 11 // AT_UID
	AuxEUID        AuxType = 12 // AT_EUID
	AuxGID         AuxType = 13 // AT_GID
	AuxEGID        AuxType = 14 // AT_EGID
	AuxPlatform    AuxType = 15 // AT_PLATFORM: address of "x86_64"
	AuxHWCap       AuxType = 16 // AT_HWCAP: CPUID.1:EDX
	AuxClkTck      AuxType = 17 // AT_CLKTCK: times() ticks per second
	AuxSecure      AuxType = 23 // AT_SECURE: 1 for setuid-like programs
	AuxRandom      AuxType = 25 // AT_RANDOM: address of 16 random bytes
	AuxHWCap2      AuxType = 26 // AT_HWCAP2
	AuxExecFn      AuxType = 31 // AT_EXECFN: address of the executed path
	AuxSysinfoEHdr AuxType = 33 // AT_SYSINFO_EHDR: address of the vDSO's ELF header
)

// AuxEntry is one auxiliary vector entry.
type AuxEntry struct {
	Type  AuxType
	Value uint64
}

const (
	// maxArgStrLen bounds one argument or environment string, with its
	// NUL, as Linux's MAX_ARG_STRLEN (32 pages).
	maxArgStrLen = 32 * arch.PageSize
	// minArgSpace and maxArgSpace bound the space argv, envp and their
	// strings may take, as Linux's bprm_stack_limits: a quarter of the
	// stack limit, at most 3/4 of 8 MiB, at least ARG_MAX (32 pages).
	minArgSpace = 32 * arch.PageSize
	maxArgSpace = 6 << 20
	// DefaultStackLimit is RLIMIT_STACK when StackSpec.StackLimit is 0.
	DefaultStackLimit = 8 << 20
	// defaultClkTck is Linux's USER_HZ.
	defaultClkTck = 100
	// platform is the AT_PLATFORM string on x86-64.
	platform = "x86_64"
)

// StackSpec is what the initial stack holds beyond what the Plan says.
type StackSpec struct {
	// Argv are the program's arguments. An empty Argv gets one empty
	// string, as Linux does (argc is never 0).
	Argv []string
	// Envv is the environment, "KEY=VALUE" strings.
	Envv []string
	// ExecFn is the path the program was executed as (AT_EXECFN); empty
	// means Argv[0].
	ExecFn string
	// Random are the 16 bytes AT_RANDOM points to (libc seeds its stack
	// protector and pointer guard from them).
	Random [16]byte
	// HWCap and HWCap2 are AT_HWCAP (CPUID.1:EDX on x86-64) and
	// AT_HWCAP2; AT_HWCAP2 is written only when non-zero.
	HWCap, HWCap2 uint64
	// UID, EUID, GID, EGID are the credentials the auxv reports.
	UID, EUID, GID, EGID uint32
	// Secure sets AT_SECURE.
	Secure bool
	// ClkTck is AT_CLKTCK; 0 means 100.
	ClkTck uint64
	// StackLimit is RLIMIT_STACK in bytes; 0 means DefaultStackLimit. It
	// bounds the space argv and envp may take, as on Linux.
	StackLimit uint64
	// SysinfoEHdr is where the vDSO's ELF header is mapped
	// (AT_SYSINFO_EHDR, the vector's first entry as on x86-64 Linux); 0
	// leaves the entry out, as Linux does with the vDSO disabled.
	SysinfoEHdr arch.Addr
}

// Stack is the initial stack image: Image is to be written at [SP, Top)
// and RSP set to SP before entering the program.
type Stack struct {
	// Top is the stack top the image was built under.
	Top arch.Addr
	// SP is the initial RSP: 16-byte aligned, pointing at argc.
	SP arch.Addr
	// Image holds the bytes of [SP, Top).
	Image []byte
	// StringsStart is where the lowest string (the first argument) begins:
	// Linux's bprm->p once exec has copied the strings, below which the
	// stack grows by stack_expand at exec (mm.MapStackArgs).
	StringsStart arch.Addr
	// ArgvAddr, EnvpAddr and AuxvAddr are where the argv and envp pointer
	// arrays and the auxiliary vector begin.
	ArgvAddr, EnvpAddr, AuxvAddr arch.Addr
	// Auxv is the auxiliary vector written, ending with AuxNull.
	Auxv []AuxEntry
}

// BuildStack lays out the initial process stack the SysV x86-64 ABI
// prescribes, ending at top, for a program loaded by plan. From top down:
// an 8-byte zero end marker; the strings (argv, then envp, then AT_EXECFN's
// path, lowest first); the AT_PLATFORM string and the 16 AT_RANDOM bytes,
// 16-byte aligned; then, from SP upward, argc, the argv pointers and NULL,
// the envp pointers and NULL, and the auxiliary vector ending in AT_NULL.
// SP is 16-byte aligned, as _start expects.
//
// Arguments that do not fit return an *Error of KindArgs wrapping
// unix.E2BIG (a string longer than 128 KiB, or argv and envp together over
// a quarter of the stack limit); a string with a NUL byte returns KindArgs
// wrapping unix.EINVAL; a top that cannot hold the image returns KindStack.
func BuildStack(plan *Plan, spec StackSpec, top arch.Addr) (*Stack, error) {
	argv := spec.Argv
	if len(argv) == 0 {
		argv = []string{""}
	}
	execFn := spec.ExecFn
	if execFn == "" {
		execFn = argv[0]
	}
	if err := checkArgs(argv, spec.Envv, execFn, spec.StackLimit); err != nil {
		return nil, err
	}
	if top&15 != 0 || top > arch.MaxUserAddr {
		return nil, fail(KindStack, "stack top %v must be 16-byte aligned and at most %v", top, arch.MaxUserAddr)
	}
	b := stackBuilder{top: top}
	b.layout(plan, spec, argv, execFn)
	if uint64(b.size) > uint64(top) || top-arch.Addr(b.size) < MinAddr {
		return nil, fail(KindStack, "the %d-byte initial stack does not fit below top %v", b.size, top)
	}
	return b.write(), nil
}

// checkArgs applies execve's limits to the strings.
func checkArgs(argv, envv []string, execFn string, stackLimit uint64) error {
	if stackLimit == 0 {
		stackLimit = DefaultStackLimit
	}
	limit := max(min(uint64(maxArgSpace), stackLimit/4), minArgSpace)
	// Pointer space counts against the limit, as on Linux.
	total := uint64(len(argv)+len(envv)) * 8
	for i, list := range [][]string{argv, envv, {execFn}} {
		for j, s := range list {
			what := [...]string{"argv", "envp", "execfn"}[i]
			if strings.IndexByte(s, 0) >= 0 {
				return &Error{Kind: KindArgs, Segment: -1, Detail: fmt.Sprintf("%s[%d] contains a NUL byte", what, j), Err: unix.EINVAL}
			}
			if uint64(len(s))+1 > maxArgStrLen {
				return &Error{Kind: KindArgs, Segment: -1, Detail: fmt.Sprintf("%s[%d] is %d bytes, over the %d-byte limit for one string", what, j, len(s), maxArgStrLen-1), Err: unix.E2BIG}
			}
			total += uint64(len(s)) + 1
			if total > limit {
				return &Error{Kind: KindArgs, Segment: -1, Detail: fmt.Sprintf("arguments and environment exceed %d bytes (a quarter of the %d-byte stack limit)", limit, stackLimit), Err: unix.E2BIG}
			}
		}
	}
	return nil
}

// stackBuilder computes the addresses of every part of the image before
// writing it.
type stackBuilder struct {
	top  arch.Addr
	size uint64 // bytes of [sp, top)

	sp               arch.Addr
	argc             uint64
	argvAt, envpAt   arch.Addr // the pointer arrays
	auxvAt           arch.Addr
	auxv             []AuxEntry
	argv, envp       []arch.Addr // string addresses
	execFn, platform arch.Addr
	random           arch.Addr
	randomBytes      [16]byte
	strs             []string // all strings in address order, lowest first
	strStart         arch.Addr
}

// layout assigns addresses, working down from top with wrapping arithmetic
// on a possibly too-small top; BuildStack checks size before write.
func (b *stackBuilder) layout(plan *Plan, spec StackSpec, argv []string, execFn string) {
	p := b.top - 8 // end marker
	b.strs = append(append(append([]string{}, argv...), spec.Envv...), execFn)
	var strLen uint64
	for _, s := range b.strs {
		strLen += uint64(len(s)) + 1
	}
	p -= arch.Addr(strLen)
	b.strStart = p
	q := p
	for i, s := range b.strs {
		switch {
		case i < len(argv):
			b.argv = append(b.argv, q)
		case i < len(argv)+len(spec.Envv):
			b.envp = append(b.envp, q)
		default:
			b.execFn = q
		}
		q += arch.Addr(len(s)) + 1
	}
	p &^= 15
	p -= arch.Addr(len(platform) + 1)
	b.platform = p
	p &^= 15
	p -= 16
	b.random = p
	b.randomBytes = spec.Random

	b.auxv = auxvFor(plan, spec, b.execFn, b.platform, b.random)
	words := 1 + uint64(len(argv)) + 1 + uint64(len(spec.Envv)) + 1 + 2*uint64(len(b.auxv))
	b.sp = (p - arch.Addr(8*words)) &^ 15
	b.argc = uint64(len(argv))
	b.argvAt = b.sp + 8
	b.envpAt = b.argvAt + arch.Addr(8*(len(argv)+1))
	b.auxvAt = b.envpAt + arch.Addr(8*(len(spec.Envv)+1))
	b.size = uint64(b.top - b.sp)
	// Wrapped arithmetic on a tiny top shows up as a huge size.
	if b.sp > b.top {
		b.size = ^uint64(0)
	}
}

// auxvFor returns the auxiliary vector, in the order Linux writes it.
func auxvFor(plan *Plan, spec StackSpec, execFn, platform, random arch.Addr) []AuxEntry {
	clk := spec.ClkTck
	if clk == 0 {
		clk = defaultClkTck
	}
	secure := uint64(0)
	if spec.Secure {
		secure = 1
	}
	var v []AuxEntry
	if spec.SysinfoEHdr != 0 {
		v = append(v, AuxEntry{AuxSysinfoEHdr, uint64(spec.SysinfoEHdr)})
	}
	v = append(v, []AuxEntry{
		{AuxHWCap, spec.HWCap},
		{AuxPagesz, arch.PageSize},
		{AuxClkTck, clk},
		{AuxPhdr, uint64(plan.Phdr)},
		{AuxPhent, plan.PhEnt},
		{AuxPhnum, plan.PhNum},
		{AuxBase, 0},
		{AuxFlags, 0},
		{AuxEntryPoint, uint64(plan.Entry)},
		{AuxUID, uint64(spec.UID)},
		{AuxEUID, uint64(spec.EUID)},
		{AuxGID, uint64(spec.GID)},
		{AuxEGID, uint64(spec.EGID)},
		{AuxSecure, secure},
		{AuxRandom, uint64(random)},
	}...)
	if spec.HWCap2 != 0 {
		v = append(v, AuxEntry{AuxHWCap2, spec.HWCap2})
	}
	return append(v,
		AuxEntry{AuxExecFn, uint64(execFn)},
		AuxEntry{AuxPlatform, uint64(platform)},
		AuxEntry{AuxNull, 0},
	)
}

// write produces the image from the layout.
func (b *stackBuilder) write() *Stack {
	img := make([]byte, b.size)
	at := func(a arch.Addr) []byte { return img[a-b.sp:] }
	le := binary.LittleEndian
	le.PutUint64(at(b.sp), b.argc)
	for i, a := range b.argv {
		le.PutUint64(at(b.argvAt+arch.Addr(8*i)), uint64(a))
	}
	for i, a := range b.envp {
		le.PutUint64(at(b.envpAt+arch.Addr(8*i)), uint64(a))
	}
	for i, e := range b.auxv {
		le.PutUint64(at(b.auxvAt+arch.Addr(16*i)), uint64(e.Type))
		le.PutUint64(at(b.auxvAt+arch.Addr(16*i+8)), e.Value)
	}
	copy(at(b.random), b.randomBytes[:])
	copy(at(b.platform), platform) // the NUL is already there
	q := b.strStart
	for _, s := range b.strs {
		copy(at(q), s)
		q += arch.Addr(len(s)) + 1
	}
	return &Stack{
		Top:          b.top,
		SP:           b.sp,
		Image:        img,
		StringsStart: b.strStart,
		ArgvAddr:     b.argvAt,
		EnvpAddr:     b.envpAt,
		AuxvAddr:     b.auxvAt,
		Auxv:         b.auxv,
	}
}
