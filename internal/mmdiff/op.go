package mmdiff

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind says which call an Op makes.
type Kind uint8

// The operations the differential test knows.
const (
	KindMMap Kind = iota
	KindMUnmap
	KindMRemap
	KindMProtect
	KindMadvise
	KindMLock
	KindMUnlock
	KindMSync
	KindMinCore
	KindWrite
	KindRead
	KindZero
	numKinds
)

var kindNames = [...]string{"MMap", "MUnmap", "MRemap", "MProtect", "Madvise", "MLock", "MUnlock", "MSync", "MinCore", "Write", "Read", "Zero"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Op is one call with its raw Linux arguments. Which fields matter depends
// on Kind; the constructors below (named after the calls) fill them, and
// String prints an Op as the constructor call that rebuilds it.
type Op struct {
	Kind Kind
	// Addr and Len are the first two arguments of every call (for MRemap,
	// old_address and old_size; for Write, Read and Zero, the guest range).
	Addr, Len uint64
	// NewLen and NewAddr are mremap's new_size and new_address.
	NewLen, NewAddr uint64
	// Prot is mmap's or mprotect's prot.
	Prot int
	// Flags is mmap's or mremap's flags, madvise's advice, mlock2's or
	// msync's flags.
	Flags int
	// FD and Off are mmap's fd and offset.
	FD  int
	Off uint64
	// Seed picks the byte pattern a Write stores.
	Seed uint64
}

// MMap is mmap(addr, length, prot, flags, fd, off).
func MMap(addr, length uint64, prot, flags, fd int, off uint64) Op {
	return Op{Kind: KindMMap, Addr: addr, Len: length, Prot: prot, Flags: flags, FD: fd, Off: off}
}

// MUnmap is munmap(addr, length).
func MUnmap(addr, length uint64) Op { return Op{Kind: KindMUnmap, Addr: addr, Len: length} }

// MRemap is mremap(oldAddr, oldLen, newLen, flags, newAddr).
func MRemap(oldAddr, oldLen, newLen uint64, flags int, newAddr uint64) Op {
	return Op{Kind: KindMRemap, Addr: oldAddr, Len: oldLen, NewLen: newLen, Flags: flags, NewAddr: newAddr}
}

// MProtect is mprotect(addr, length, prot).
func MProtect(addr, length uint64, prot int) Op {
	return Op{Kind: KindMProtect, Addr: addr, Len: length, Prot: prot}
}

// Madvise is madvise(addr, length, advice).
func Madvise(addr, length uint64, advice int) Op {
	return Op{Kind: KindMadvise, Addr: addr, Len: length, Flags: advice}
}

// GuardInstall is madvise(addr, length, MADV_GUARD_INSTALL): the pages
// become guard pages (Linux 6.13+), which every access, the kernel's
// copies included, faults on, without a change to the vmas.
func GuardInstall(addr, length uint64) Op {
	return Madvise(addr, length, unix.MADV_GUARD_INSTALL)
}

// GuardRemove is madvise(addr, length, MADV_GUARD_REMOVE): guard pages
// become empty pages again.
func GuardRemove(addr, length uint64) Op {
	return Madvise(addr, length, unix.MADV_GUARD_REMOVE)
}

// MLock is mlock2(addr, length, flags); flags 0 is plain mlock.
func MLock(addr, length uint64, flags int) Op {
	return Op{Kind: KindMLock, Addr: addr, Len: length, Flags: flags}
}

// MUnlock is munlock(addr, length).
func MUnlock(addr, length uint64) Op { return Op{Kind: KindMUnlock, Addr: addr, Len: length} }

// MSync is msync(addr, length, flags).
func MSync(addr, length uint64, flags int) Op {
	return Op{Kind: KindMSync, Addr: addr, Len: length, Flags: flags}
}

// MinCore is mincore(addr, length, vec) with vec in the tester's memory.
func MinCore(addr, length uint64) Op { return Op{Kind: KindMinCore, Addr: addr, Len: length} }

// Write stores length bytes of the pattern chosen by seed at addr as a
// system call's copy to user memory does (read(2) into a buffer): it grows
// a grows-down vma whose hole it reaches and stops at the first page that
// does not allow writing.
func Write(addr, length, seed uint64) Op {
	return Op{Kind: KindWrite, Addr: addr, Len: length, Seed: seed}
}

// Read loads length bytes at addr as a system call's copy from user memory
// does (write(2) from a buffer) and compares them.
func Read(addr, length uint64) Op { return Op{Kind: KindRead, Addr: addr, Len: length} }

// Zero clears length bytes at addr as the kernel's copies of zeros to user
// memory do (read(2) of a file's hole into a buffer): like Write, it grows
// a grows-down vma whose hole it reaches and stops at the first page it
// cannot write.
func Zero(addr, length uint64) Op { return Op{Kind: KindZero, Addr: addr, Len: length} }

// Pattern returns the length bytes a Write with seed stores: never all
// zero, so that a written page is told apart from a fresh one.
func Pattern(seed, length uint64) []byte {
	b := make([]byte, length)
	x := seed*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x) | 1
	}
	return b
}

// String prints op as the Go expression that rebuilds it, with addresses
// inside the window written relative to Base.
func (op Op) String() string {
	a, l := addrExpr(op.Addr), hex(op.Len)
	switch op.Kind {
	case KindMMap:
		return fmt.Sprintf("mmdiff.MMap(%s, %s, %s, %s, %d, %s)", a, l, protExpr(op.Prot), flagsExpr(op.Flags, mapFlagNames), op.FD, hex(op.Off))
	case KindMUnmap:
		return fmt.Sprintf("mmdiff.MUnmap(%s, %s)", a, l)
	case KindMRemap:
		return fmt.Sprintf("mmdiff.MRemap(%s, %s, %s, %s, %s)", a, l, hex(op.NewLen), flagsExpr(op.Flags, mremapFlagNames), addrExpr(op.NewAddr))
	case KindMProtect:
		return fmt.Sprintf("mmdiff.MProtect(%s, %s, %s)", a, l, protExpr(op.Prot))
	case KindMadvise:
		switch op.Flags {
		case unix.MADV_GUARD_INSTALL:
			return fmt.Sprintf("mmdiff.GuardInstall(%s, %s)", a, l)
		case unix.MADV_GUARD_REMOVE:
			return fmt.Sprintf("mmdiff.GuardRemove(%s, %s)", a, l)
		}
		return fmt.Sprintf("mmdiff.Madvise(%s, %s, %s)", a, l, adviceExpr(op.Flags))
	case KindMLock:
		return fmt.Sprintf("mmdiff.MLock(%s, %s, %s)", a, l, flagsExpr(op.Flags, mlockFlagNames))
	case KindMUnlock:
		return fmt.Sprintf("mmdiff.MUnlock(%s, %s)", a, l)
	case KindMSync:
		return fmt.Sprintf("mmdiff.MSync(%s, %s, %s)", a, l, flagsExpr(op.Flags, msyncFlagNames))
	case KindMinCore:
		return fmt.Sprintf("mmdiff.MinCore(%s, %s)", a, l)
	case KindWrite:
		return fmt.Sprintf("mmdiff.Write(%s, %s, %d)", a, l, op.Seed)
	case KindRead:
		return fmt.Sprintf("mmdiff.Read(%s, %s)", a, l)
	case KindZero:
		return fmt.Sprintf("mmdiff.Zero(%s, %s)", a, l)
	}
	return fmt.Sprintf("mmdiff.Op{Kind: %d}", op.Kind)
}

// Listing prints ops one per line as a Go slice literal body.
func Listing(ops []Op) string {
	var b strings.Builder
	for _, op := range ops {
		b.WriteString("\t")
		b.WriteString(op.String())
		b.WriteString(",\n")
	}
	return b.String()
}

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }

func addrExpr(a uint64) string {
	if a >= Base && a <= Base+Size {
		if a == Base {
			return "mmdiff.Base"
		}
		return fmt.Sprintf("mmdiff.Base+%#x", a-Base)
	}
	return hex(a)
}

type flagName struct {
	bit  int
	name string
}

var mapFlagNames = []flagName{
	{unix.MAP_SHARED_VALIDATE, "unix.MAP_SHARED_VALIDATE"},
	{unix.MAP_SHARED, "unix.MAP_SHARED"},
	{unix.MAP_PRIVATE, "unix.MAP_PRIVATE"},
	{unix.MAP_FIXED, "unix.MAP_FIXED"},
	{unix.MAP_ANONYMOUS, "unix.MAP_ANONYMOUS"},
	{unix.MAP_GROWSDOWN, "unix.MAP_GROWSDOWN"},
	{unix.MAP_LOCKED, "unix.MAP_LOCKED"},
	{unix.MAP_NORESERVE, "unix.MAP_NORESERVE"},
	{unix.MAP_POPULATE, "unix.MAP_POPULATE"},
	{unix.MAP_STACK, "unix.MAP_STACK"},
	{unix.MAP_FIXED_NOREPLACE, "unix.MAP_FIXED_NOREPLACE"},
}

var mremapFlagNames = []flagName{
	{unix.MREMAP_MAYMOVE, "unix.MREMAP_MAYMOVE"},
	{unix.MREMAP_FIXED, "unix.MREMAP_FIXED"},
	{unix.MREMAP_DONTUNMAP, "unix.MREMAP_DONTUNMAP"},
}

var mlockFlagNames = []flagName{{unix.MLOCK_ONFAULT, "unix.MLOCK_ONFAULT"}}

var msyncFlagNames = []flagName{
	{unix.MS_ASYNC, "unix.MS_ASYNC"},
	{unix.MS_INVALIDATE, "unix.MS_INVALIDATE"},
	{unix.MS_SYNC, "unix.MS_SYNC"},
}

var protNames = []flagName{
	{unix.PROT_READ, "unix.PROT_READ"},
	{unix.PROT_WRITE, "unix.PROT_WRITE"},
	{unix.PROT_EXEC, "unix.PROT_EXEC"},
	{unix.PROT_GROWSDOWN, "unix.PROT_GROWSDOWN"},
	{unix.PROT_GROWSUP, "unix.PROT_GROWSUP"},
}

// flagsExpr names the bits of v it knows; a name whose bits are all set is
// taken whole (MAP_SHARED_VALIDATE before MAP_SHARED), the rest is hex.
func flagsExpr(v int, names []flagName) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	rest := v
	for _, n := range names {
		if rest&n.bit == n.bit {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(parts, "|")
}

func protExpr(p int) string {
	if p == 0 {
		return "unix.PROT_NONE"
	}
	return flagsExpr(p, protNames)
}

var adviceNames = map[int]string{
	unix.MADV_NORMAL: "unix.MADV_NORMAL", unix.MADV_RANDOM: "unix.MADV_RANDOM",
	unix.MADV_SEQUENTIAL: "unix.MADV_SEQUENTIAL", unix.MADV_WILLNEED: "unix.MADV_WILLNEED",
	unix.MADV_DONTNEED: "unix.MADV_DONTNEED", unix.MADV_FREE: "unix.MADV_FREE",
	unix.MADV_REMOVE: "unix.MADV_REMOVE", unix.MADV_DONTFORK: "unix.MADV_DONTFORK",
	unix.MADV_DOFORK: "unix.MADV_DOFORK", unix.MADV_HUGEPAGE: "unix.MADV_HUGEPAGE",
	unix.MADV_NOHUGEPAGE: "unix.MADV_NOHUGEPAGE", unix.MADV_DONTDUMP: "unix.MADV_DONTDUMP",
	unix.MADV_DODUMP: "unix.MADV_DODUMP", unix.MADV_WIPEONFORK: "unix.MADV_WIPEONFORK",
	unix.MADV_KEEPONFORK: "unix.MADV_KEEPONFORK", unix.MADV_COLD: "unix.MADV_COLD",
	unix.MADV_POPULATE_READ: "unix.MADV_POPULATE_READ", unix.MADV_POPULATE_WRITE: "unix.MADV_POPULATE_WRITE",
	unix.MADV_PAGEOUT: "unix.MADV_PAGEOUT", unix.MADV_DONTNEED_LOCKED: "unix.MADV_DONTNEED_LOCKED",
	unix.MADV_GUARD_INSTALL: "unix.MADV_GUARD_INSTALL", unix.MADV_GUARD_REMOVE: "unix.MADV_GUARD_REMOVE",
}

func adviceExpr(a int) string {
	if n, ok := adviceNames[a]; ok {
		return n
	}
	return fmt.Sprintf("%d", a)
}
