package mm

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// The scenarios below run on the host kernel (inside a window of this
// test process's address space that nothing else uses) and on mm, and
// compare every result and the final layout of the window.
const (
	win     = 0x7e10_0000_0000
	winSize = 0x1000_0000
)

// hop is one operation of a scenario: a system call, or (nr == opWrite /
// opRead) a one-byte write or read at a[0], which the scenario guarantees
// the program may make.
type hop struct {
	nr uintptr
	a  [6]uint64
}

const (
	opWrite = ^uintptr(0)
	opRead  = ^uintptr(1)
	// opKRead and opKWrite copy a[1] bytes at a[0] with the kernel's own
	// copies from and to user memory (pwrite and pread between a memfd and
	// the range; CopyIn and CopyOut on mm) and return the bytes copied,
	// with EFAULT if that is short. opMinCore returns mincore's vector of
	// [a[0], a[0]+a[1]) as a bit mask (at most 64 pages).
	opKRead   = ^uintptr(2)
	opKWrite  = ^uintptr(3)
	opMinCore = ^uintptr(4)
)

func kread(addr, n uint64) hop  { return hop{nr: opKRead, a: [6]uint64{addr, n}} }
func kwrite(addr, n uint64) hop { return hop{nr: opKWrite, a: [6]uint64{addr, n}} }
func mincore(addr, n uint64) hop {
	return hop{nr: opMinCore, a: [6]uint64{addr, n}}
}

// kernelCopy runs pread (into the range) or pwrite (from it) on a fresh
// memfd holding n bytes of 0x5a, as mmdiff's host does.
func kernelCopy(nr uintptr, addr, n uint64) (uint64, unix.Errno) {
	fd, err := unix.MemfdCreate("guard-copy", unix.MFD_CLOEXEC)
	if err != nil {
		return 0, err.(unix.Errno)
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, bytes.Repeat([]byte{0x5a}, int(n)), 0); err != nil {
		return 0, err.(unix.Errno)
	}
	r, _, e := unix.Syscall6(nr, uintptr(fd), uintptr(addr), uintptr(n), 0, 0, 0)
	switch {
	case e != 0:
		return 0, e
	case uint64(r) < n:
		return uint64(r), unix.EFAULT
	}
	return uint64(r), 0
}

func mincoreMask(vec []byte) uint64 {
	var mask uint64
	for i, b := range vec {
		mask |= uint64(b&1) << i
	}
	return mask
}

func sys(nr uintptr, a ...uint64) hop {
	var h hop
	h.nr = nr
	copy(h.a[:], a)
	return h
}

func wr(addr uint64, b byte) hop { return hop{nr: opWrite, a: [6]uint64{addr, uint64(b)}} }
func rd(addr uint64) hop         { return hop{nr: opRead, a: [6]uint64{addr}} }

func mapAnon(addr, length, prot uint64) hop {
	return sys(unix.SYS_MMAP, addr, length, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, maxU, 0)
}

// runHost performs h on the host, returning the result and errno.
func runHost(h hop) (uint64, unix.Errno) {
	switch h.nr {
	case opKRead:
		return kernelCopy(unix.SYS_PWRITE64, h.a[0], h.a[1])
	case opKWrite:
		return kernelCopy(unix.SYS_PREAD64, h.a[0], h.a[1])
	case opMinCore:
		vec := make([]byte, (h.a[1]+page-1)/page)
		_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(h.a[0]), uintptr(h.a[1]), uintptr(unsafe.Pointer(&vec[0])))
		if e != 0 {
			return 0, e
		}
		return mincoreMask(vec), 0
	case opWrite, opRead:
		// Through /proc/self/mem, so that a scenario's mistake is an
		// error rather than a crash of the test.
		fd, err := unix.Open("/proc/self/mem", unix.O_RDWR, 0)
		if err != nil {
			return 0, err.(unix.Errno)
		}
		defer unix.Close(fd)
		b := []byte{byte(h.a[1])}
		if h.nr == opWrite {
			_, err = unix.Pwrite(fd, b, int64(h.a[0]))
		} else {
			_, err = unix.Pread(fd, b, int64(h.a[0]))
		}
		if err != nil {
			return 0, unix.EFAULT
		}
		if h.nr == opRead {
			return uint64(b[0]), 0
		}
		return 0, 0
	}
	r, _, e := unix.Syscall6(h.nr, uintptr(h.a[0]), uintptr(h.a[1]), uintptr(h.a[2]), uintptr(h.a[3]), uintptr(h.a[4]), uintptr(h.a[5]))
	if e != 0 {
		return 0, e
	}
	return uint64(r), 0
}

// runMM performs h on m.
func runMM(m *MemoryManager, h hop) (uint64, unix.Errno) {
	a := h.a
	var r arch.Addr
	var err error
	switch h.nr {
	case opKRead, opKWrite:
		var n int
		if h.nr == opKRead {
			n, err = m.CopyIn(arch.Addr(a[0]), make([]byte, a[1]), IOOpts{})
		} else {
			n, err = m.CopyOut(arch.Addr(a[0]), bytes.Repeat([]byte{0x5a}, int(a[1])), IOOpts{})
		}
		r = arch.Addr(n)
	case opMinCore:
		vec := make([]byte, (a[1]+page-1)/page)
		if err = m.MinCore(a[0], a[1], vec); err == nil {
			r = arch.Addr(mincoreMask(vec))
		}
	case opWrite:
		_, err = m.CopyOut(arch.Addr(a[0]), []byte{byte(a[1])}, IOOpts{})
	case opRead:
		b := []byte{0}
		_, err = m.CopyIn(arch.Addr(a[0]), b, IOOpts{})
		r = arch.Addr(b[0])
	case unix.SYS_MMAP:
		r, err = m.MMap(a[0], a[1], a[2], a[3], nil, a[5])
	case unix.SYS_MUNMAP:
		err = m.MUnmap(a[0], a[1])
	case unix.SYS_MPROTECT:
		err = m.MProtect(a[0], a[1], a[2])
	case unix.SYS_MREMAP:
		r, err = m.MRemap(a[0], a[1], a[2], a[3], a[4])
	case unix.SYS_MADVISE:
		err = m.Madvise(a[0], a[1], a[2])
	case unix.SYS_MLOCK2:
		err = m.MLock2(a[0], a[1], a[2])
	case unix.SYS_MUNLOCK:
		err = m.MUnlock(a[0], a[1])
	case unix.SYS_MSYNC:
		err = m.MSync(a[0], a[1], a[2])
	case unix.SYS_MSEAL:
		err = m.MSeal(a[0], a[1], a[2])
	case unix.SYS_PRCTL:
		var v uint64
		switch a[0] {
		case unix.PR_SET_MDWE:
			err = m.SetMDWE(a[1], [3]uint64{a[2], a[3], a[4]})
		case unix.PR_SET_MDWE + 1: // PR_GET_MDWE
			v, err = m.MDWE([4]uint64{a[1], a[2], a[3], a[4]})
		case unix.PR_SET_THP_DISABLE:
			err = m.SetTHPDisable(a[1], a[2], [2]uint64{a[3], a[4]})
		case unix.PR_GET_THP_DISABLE:
			v, err = m.THPDisable([4]uint64{a[1], a[2], a[3], a[4]})
		default:
			panic(fmt.Sprintf("no such prctl %d", a[0]))
		}
		r = arch.Addr(v)
	default:
		panic(fmt.Sprintf("no such op %d", h.nr))
	}
	if err != nil {
		if h.nr == opKRead || h.nr == opKWrite {
			return uint64(r), errnoOf(err) // a short count
		}
		return 0, errnoOf(err)
	}
	return uint64(r), 0
}

// hostLayout returns the host's mappings within the window.
func hostLayout(t *testing.T) []string { return hostLayoutIn(t, win, win+winSize) }

func mmLayout(m *MemoryManager) []string {
	var out []string
	for _, v := range m.VMAs() {
		s := "p"
		if v.Shared {
			s = "s"
		}
		out = append(out, fmt.Sprintf("%x-%x %s%s", uint64(v.Range.Start), uint64(v.Range.End), v.Perms, s))
	}
	return out
}

// hostVMFlags is each host vma in the window with its smaps VmFlags, sd
// (soft-dirty, a kernel build option mm does not model) left out.
func hostVMFlags(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		var start, end uint64
		if _, err := fmt.Sscanf(line, "%x-%x ", &start, &end); err == nil && strings.Contains(line, " ") && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			cur = ""
			if start < win+winSize && end > win {
				cur = fmt.Sprintf("%x-%x", start, end)
			}
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags: "); ok && cur != "" {
			out = append(out, cur+" "+strings.Replace(flags, "sd ", "", 1))
		}
	}
	return out
}

func mmVMFlags(m *MemoryManager) []string {
	var out []string
	for _, v := range m.VMAs() {
		out = append(out, fmt.Sprintf("%x-%x %s", uint64(v.Range.Start), uint64(v.Range.End), v.Flags))
	}
	return out
}

func compareWithHost(t *testing.T, name string, ops []hop) {
	t.Helper()
	if got := hostLayout(t); len(got) != 0 {
		t.Fatalf("%s: the host window is not empty: %v", name, got)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, win, winSize, 0)
	m, _, _ := testMM(t, withFaultAround(page), withLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: 8 << 20, Stack: 8 << 20, MaxMapCount: DefaultMaxMapCount, CapIPCLock: true}))
	for i, h := range ops {
		hr, he := runHost(h)
		mr, me := runMM(m, h)
		if hr != mr || he != me {
			t.Errorf("%s: op %d (%d %#x): host %#x %v, mm %#x %v", name, i, h.nr, h.a, hr, he, mr, me)
		}
		if err := m.CheckInvariants(); err != nil {
			t.Fatalf("%s: op %d: %v", name, i, err)
		}
	}
	if h, g := hostLayout(t), mmLayout(m); !slices.Equal(h, g) {
		t.Errorf("%s: layouts differ:\nhost %s\nmm   %s", name, strings.Join(h, "\n     "), strings.Join(g, "\n     "))
	} else if h, g := hostVMFlags(t), mmVMFlags(m); !slices.Equal(h, g) {
		t.Errorf("%s: VmFlags differ:\nhost %s\nmm   %s", name, strings.Join(h, "\n     "), strings.Join(g, "\n     "))
	}
}

func TestScenariosMatchHost(t *testing.T) {
	const W, P = win, page
	fixedMove := uint64(unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED)
	scenarios := []struct {
		name string
		ops  []hop
	}{
		{"merge adjacent anonymous", []hop{mapAnon(W, P, rw), mapAnon(W+P, P, rw), mapAnon(W+3*P, P, rw), mapAnon(W+2*P, P, rw)}},
		{"mprotect split and merge", []hop{mapAnon(W, 8*P, rw), wr(W, 1), sys(unix.SYS_MPROTECT, W+P, 2*P, unix.PROT_READ), sys(unix.SYS_MPROTECT, W+P, P, rw), sys(unix.SYS_MPROTECT, W+2*P, P, rw)}},
		{"mprotect written then read-only keeps account", []hop{mapAnon(W, P, rw), wr(W, 7), sys(unix.SYS_MPROTECT, W, P, unix.PROT_READ), mapAnon(W+P, P, unix.PROT_READ)}},
		{"mprotect unwritten drops account", []hop{mapAnon(W, P, rw), sys(unix.SYS_MPROTECT, W, P, unix.PROT_READ), mapAnon(W+P, P, unix.PROT_READ)}},
		{"mprotect across hole", []hop{mapAnon(W, 2*P, rw), mapAnon(W+3*P, P, rw), sys(unix.SYS_MPROTECT, W, 4*P, unix.PROT_READ)}},
		{"mremap grow in place", []hop{mapAnon(W, 2*P, rw), wr(W, 3), sys(unix.SYS_MREMAP, W, 2*P, 4*P, 0, 0), rd(W)}},
		{"mremap grow blocked", []hop{mapAnon(W, 2*P, rw), mapAnon(W+3*P, P, rw), sys(unix.SYS_MREMAP, W, 2*P, 4*P, 0, 0)}},
		{"mremap grow not at end", []hop{mapAnon(W, 4*P, rw), sys(unix.SYS_MREMAP, W, 2*P, 3*P, 0, 0)}},
		{"mremap shrink", []hop{mapAnon(W, 4*P, rw), sys(unix.SYS_MREMAP, W, 4*P, P, 0, 0)}},
		{"mremap shrink across vmas", []hop{mapAnon(W, 2*P, rw), mapAnon(W+2*P, 2*P, unix.PROT_READ), sys(unix.SYS_MREMAP, W, 4*P, P, 0, 0)}},
		{"mremap no-op", []hop{mapAnon(W, 2*P, rw), sys(unix.SYS_MREMAP, W, 2*P, 2*P, 0, 0)}},
		{"mremap grow across vma end", []hop{mapAnon(W, 2*P, rw), mapAnon(W+2*P, P, unix.PROT_READ), sys(unix.SYS_MREMAP, W, 3*P, 4*P, unix.MREMAP_MAYMOVE, 0)}},
		{"mremap fixed move keeps contents", []hop{mapAnon(W, 2*P, rw), wr(W+P, 9), sys(unix.SYS_MREMAP, W, 2*P, 2*P, fixedMove, W+0x100000), rd(W + 0x100000 + P)}},
		{"mremap fixed grow over mapping", []hop{mapAnon(W, 2*P, rw), mapAnon(W+0x100000, 8*P, unix.PROT_READ), sys(unix.SYS_MREMAP, W, 2*P, 4*P, fixedMove, W+0x100000)}},
		{"mremap fixed shrink", []hop{mapAnon(W, 4*P, rw), wr(W, 5), sys(unix.SYS_MREMAP, W, 4*P, 2*P, fixedMove, W+0x100000), rd(W + 0x100000)}},
		{"mremap moved does not merge", []hop{mapAnon(W, P, rw), sys(unix.SYS_MREMAP, W, P, P, fixedMove, W+0x100000), mapAnon(W+0x100000+P, P, rw)}},
		{"mremap moved faulted does not merge", []hop{mapAnon(W, P, rw), wr(W, 1), sys(unix.SYS_MREMAP, W, P, P, fixedMove, W+0x100000), mapAnon(W+0x100000+P, P, rw), wr(W+0x100000+P, 2)}},
		{"mremap move back merges", []hop{mapAnon(W, 2*P, rw), sys(unix.SYS_MREMAP, W+P, P, P, fixedMove, W+0x100000), sys(unix.SYS_MREMAP, W+0x100000, P, P, fixedMove, W+P)}},
		{"mremap multi-vma move", []hop{mapAnon(W, P, rw), mapAnon(W+2*P, P, unix.PROT_READ), mapAnon(W+3*P, P, rw), sys(unix.SYS_MREMAP, W, 4*P, 4*P, fixedMove, W+0x200000)}},
		{"mremap multi-vma move gap first", []hop{mapAnon(W+P, P, rw), sys(unix.SYS_MREMAP, W, 2*P, 2*P, fixedMove, W+0x200000)}},
		{"mremap dontunmap fixed", []hop{mapAnon(W, 2*P, rw), wr(W, 4), sys(unix.SYS_MREMAP, W, 2*P, 2*P, fixedMove|unix.MREMAP_DONTUNMAP, W+0x100000), rd(W), rd(W + 0x100000)}},
		{"mremap dontunmap fixed inside a vma", []hop{mapAnon(W, 8*P, rw), wr(W+2*P, 4), sys(unix.SYS_MREMAP, W+2*P, 2*P, 2*P, fixedMove|unix.MREMAP_DONTUNMAP, W+0x100000), rd(W + 0x100000)}},
		{"mremap old size zero private", []hop{mapAnon(W, 2*P, rw), sys(unix.SYS_MREMAP, W, 0, P, fixedMove, W+0x100000)}},
		{"mremap shared duplicate", []hop{sys(unix.SYS_MMAP, W, 2*P, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, maxU, 0), wr(W, 8), sys(unix.SYS_MREMAP, W, 0, 2*P, fixedMove, W+0x100000), rd(W + 0x100000), wr(W+0x100000+1, 6), rd(W + 1)}},
		{"munmap middle", []hop{mapAnon(W, 4*P, rw), sys(unix.SYS_MUNMAP, W+P, 2*P), sys(unix.SYS_MUNMAP, W+0x100000, P)}},
		{"madvise dontneed zeroes", []hop{mapAnon(W, 2*P, rw), wr(W, 1), sys(unix.SYS_MADVISE, W, 2*P, unix.MADV_DONTNEED), rd(W)}},
		{"madvise flags split", []hop{mapAnon(W, 6*P, rw), sys(unix.SYS_MADVISE, W+P, P, unix.MADV_DONTFORK), sys(unix.SYS_MADVISE, W+3*P, P, unix.MADV_HUGEPAGE), sys(unix.SYS_MADVISE, W+P, P, unix.MADV_DOFORK), sys(unix.SYS_MADVISE, W+4*P, 2*P, unix.MADV_RANDOM)}},
		{"madvise across hole", []hop{mapAnon(W, P, rw), mapAnon(W+2*P, P, rw), sys(unix.SYS_MADVISE, W, 3*P, unix.MADV_DONTFORK)}},
		{"madvise wipeonfork shared", []hop{sys(unix.SYS_MMAP, W, P, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, maxU, 0), sys(unix.SYS_MADVISE, W, P, unix.MADV_WIPEONFORK), sys(unix.SYS_MADVISE, W, P, unix.MADV_FREE)}},
		{"madvise populate write read-only", []hop{mapAnon(W, P, unix.PROT_READ), sys(unix.SYS_MADVISE, W, P, unix.MADV_POPULATE_WRITE), sys(unix.SYS_MADVISE, W, P, unix.MADV_POPULATE_READ), mapAnon(W+P, P, unix.PROT_NONE), sys(unix.SYS_MADVISE, W+P, P, unix.MADV_POPULATE_READ)}},
		{"mlock split and dontneed", []hop{mapAnon(W, 4*P, rw), sys(unix.SYS_MLOCK2, W+P, P, 0), sys(unix.SYS_MADVISE, W, 4*P, unix.MADV_DONTNEED), sys(unix.SYS_MSYNC, W, 4*P, unix.MS_INVALIDATE), sys(unix.SYS_MUNLOCK, W, 4*P)}},
		{"mlock onfault", []hop{mapAnon(W, 4*P, rw), sys(unix.SYS_MLOCK2, W, 2*P, unix.MLOCK_ONFAULT), sys(unix.SYS_MLOCK2, W+2*P, 2*P, 0)}},
		{"mlock prot none", []hop{mapAnon(W, P, unix.PROT_NONE), sys(unix.SYS_MLOCK2, W, P, 0)}},
		{"mlock hole", []hop{mapAnon(W, P, rw), sys(unix.SYS_MLOCK2, W, 2*P, 0), sys(unix.SYS_MUNLOCK, W, 2*P)}},
		{"msync hole", []hop{mapAnon(W, P, rw), mapAnon(W+2*P, P, rw), sys(unix.SYS_MSYNC, W, 3*P, unix.MS_SYNC), sys(unix.SYS_MSYNC, W, 3*P, unix.MS_ASYNC), sys(unix.SYS_MSYNC, W+P, P, 0)}},
		{"growsdown mprotect", []hop{sys(unix.SYS_MMAP, W+0x100000, 4*P, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_GROWSDOWN, maxU, 0), sys(unix.SYS_MPROTECT, W+0x100000+2*P, P, unix.PROT_READ|unix.PROT_GROWSDOWN), sys(unix.SYS_MPROTECT, W+0x100000-P, 2*P, unix.PROT_READ|unix.PROT_GROWSDOWN)}},
		{"map stack flag", []hop{mapAnon(W, P, rw), sys(unix.SYS_MMAP, W+P, P, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_STACK, maxU, 0), sys(unix.SYS_MMAP, W+2*P, P, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE, maxU, 0)}},
		{"fixed noreplace", []hop{mapAnon(W, 2*P, rw), sys(unix.SYS_MMAP, W+P, 2*P, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, maxU, 0), sys(unix.SYS_MMAP, W+2*P, 2*P, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, maxU, 0)}},
	}
	for _, s := range scenarios {
		compareWithHost(t, s.name, s.ops)
	}
}
