package mm

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

const (
	guardInstall = unix.MADV_GUARD_INSTALL
	guardRemove  = unix.MADV_GUARD_REMOVE
)

func guard(addr, length uint64) hop { return sys(unix.SYS_MADVISE, addr, length, guardInstall) }
func unguard(addr, length uint64) hop {
	return sys(unix.SYS_MADVISE, addr, length, guardRemove)
}

// TestGuardRegionsMatchHost runs guard-region scenarios on the host kernel
// (6.13+; file-backed and read-only vmas since 6.15) and on mm and
// compares every result (errnos, bytes a kernel copy moved, mincore, byte
// values) and the final vmas line for line, with their smaps VmFlags:
// guards never split a vma, and mark the whole vma "gu" for good.
func TestGuardRegionsMatchHost(t *testing.T) {
	const W, P = win, page
	if !hostHasGuards() {
		t.Skip("the host kernel has no MADV_GUARD_INSTALL")
	}
	shared := func(addr, length uint64) hop {
		return sys(unix.SYS_MMAP, addr, length, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, maxU, 0)
	}
	fixedMove := uint64(unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED)
	scenarios := []struct {
		name string
		ops  []hop
	}{
		{"install discards and faults every copy", []hop{mapAnon(W, 4*P, rw), wr(W, 1), wr(W+P, 2), wr(W+2*P, 3), guard(W+P, P),
			kread(W+P, 8), kwrite(W+P, 8), kread(W, 2*P), kwrite(W+P/2, P), kread(W+2*P-4, 16), rd(W), rd(W + 2*P), mincore(W, 4*P)}},
		{"dontneed and free keep guards", []hop{mapAnon(W, 4*P, rw), guard(W+P, 2*P), sys(unix.SYS_MADVISE, W, 4*P, unix.MADV_DONTNEED),
			kread(W+P, 1), sys(unix.SYS_MADVISE, W, 4*P, unix.MADV_FREE), kwrite(W+2*P, 1), sys(unix.SYS_MADVISE, W, 4*P, unix.MADV_DONTNEED_LOCKED), kread(W, 4*P)}},
		{"populate stops at a guard", []hop{mapAnon(W, 4*P, rw), guard(W+2*P, P), sys(unix.SYS_MADVISE, W, 4*P, unix.MADV_POPULATE_READ),
			sys(unix.SYS_MADVISE, W, 4*P, unix.MADV_POPULATE_WRITE), mincore(W, 2*P)}},
		{"remove gives zeros back", []hop{mapAnon(W, 2*P, rw), wr(W, 7), wr(W+P, 8), guard(W, P), unguard(W, 2*P), rd(W), rd(W + P), kread(W, 2*P), unguard(W, P)}},
		{"install twice", []hop{mapAnon(W, 2*P, rw), guard(W, P), guard(W, 2*P), kread(W, 2*P), unguard(W+P, P), kread(W, 2*P), kread(W+P, P)}},
		{"arguments", []hop{mapAnon(W, 4*P, rw), guard(W+1, P), guard(W, 0), unguard(W+1, P), unguard(W, 0), guard(W+P, 1), kread(W+P, 1), kread(W+2*P, 1),
			sys(unix.SYS_MADVISE, W, P, 104), guard(W, ^uint64(0)), guard(W+3*P, P+1)}},
		{"locked vmas refuse install, not remove", []hop{mapAnon(W, 4*P, rw), guard(W+P, P), sys(unix.SYS_MLOCK2, W+2*P, 2*P, 0), guard(W+2*P, P), unguard(W, 4*P),
			sys(unix.SYS_MLOCK2, W, P, unix.MLOCK_ONFAULT), guard(W, P), guard(W, 2*P), sys(unix.SYS_MADVISE, W, 4*P, unix.MADV_DONTNEED_LOCKED)}},
		{"mlock over a guard", []hop{mapAnon(W, 4*P, rw), guard(W+2*P, P), sys(unix.SYS_MLOCK2, W, 4*P, 0), mincore(W, 4*P), sys(unix.SYS_MUNLOCK, W, 4*P),
			sys(unix.SYS_MLOCK2, W, 4*P, unix.MLOCK_ONFAULT), unguard(W+2*P, P), kwrite(W+2*P, 1)}},
		{"mprotect keeps guards", []hop{mapAnon(W, 4*P, rw), guard(W+P, P), sys(unix.SYS_MPROTECT, W, 4*P, unix.PROT_READ), kread(W+P, 1),
			sys(unix.SYS_MPROTECT, W, 4*P, unix.PROT_NONE), guard(W+2*P, P), sys(unix.SYS_MPROTECT, W, 4*P, rw), kwrite(W, 4*P)}},
		{"mremap moves guards", []hop{mapAnon(W, 4*P, rw), wr(W, 1), guard(W+P, P), sys(unix.SYS_MREMAP, W, 4*P, 4*P, fixedMove, W+0x100000),
			kread(W+0x100000, 4*P), rd(W + 0x100000), sys(unix.SYS_MREMAP, W+0x100000, 4*P, 8*P, 0, 0), kread(W+0x100000+P, 1),
			sys(unix.SYS_MREMAP, W+0x100000, 2*P, 2*P, fixedMove|unix.MREMAP_DONTUNMAP, W+0x200000), kread(W+0x100000, 2*P), kread(W+0x200000, 2*P),
			sys(unix.SYS_MREMAP, W+0x100000, 8*P, 2*P, 0, 0), sys(unix.SYS_MREMAP, W+0x100000, 2*P, 8*P, 0, 0), kread(W+0x100000, 8*P)}},
		{"munmap and mmap over drop guards", []hop{mapAnon(W, 4*P, rw), guard(W, 4*P), sys(unix.SYS_MUNMAP, W+P, P), mapAnon(W+P, P, rw), mapAnon(W+2*P, P, rw), kread(W, 4*P), kread(W+P, 3*P)}},
		{"holes are ENOMEM after the rest", []hop{mapAnon(W, P, rw), mapAnon(W+2*P, P, rw), guard(W, 3*P), kread(W+2*P, 1), unguard(W, 3*P), kread(W, 1), kread(W+2*P, 1), guard(W+4*P, P)}},
		{"read-only and inaccessible vmas", []hop{mapAnon(W, 2*P, unix.PROT_READ), mapAnon(W+2*P, 2*P, unix.PROT_NONE), guard(W, 4*P), kread(W, 1), kread(W+P, 1), kread(W+2*P, 1), unguard(W, 4*P), kread(W, 2*P)}},
		{"shared memory keeps its contents", []hop{shared(W, 2*P), wr(W, 3), wr(W+P, 4), sys(unix.SYS_MREMAP, W, 0, 2*P, fixedMove, W+0x100000), guard(W, P), kread(W, 1),
			rd(W + 0x100000), sys(unix.SYS_MADVISE, W, 2*P, unix.MADV_REMOVE), kread(W, 1), wr(W+0x100000, 5), mincore(W, 2*P), unguard(W, P), rd(W), rd(W + P)}},
		{"gu stays after remove and keeps no neighbour apart", []hop{mapAnon(W, 2*P, rw), guard(W+P, P), unguard(W, 2*P), mapAnon(W+2*P, P, rw),
			mapAnon(W+4*P, P, rw), mapAnon(W+5*P, P, rw), guard(W+5*P, P), mapAnon(W+3*P, P, rw), mapAnon(W+6*P, P, rw)}},
		{"guards do not split vmas", []hop{mapAnon(W, 8*P, rw), guard(W+2*P, P), guard(W+5*P, 2*P), mapAnon(W+8*P, P, rw), unguard(W+5*P, P)}},
		{"install gives an unfaulted vma an anon_vma", []hop{mapAnon(W, 2*P, rw), guard(W, P), sys(unix.SYS_MPROTECT, W, 2*P, unix.PROT_READ), mapAnon(W+2*P, P, unix.PROT_READ),
			mapAnon(W+0x10000, P, rw), guard(W+0x10000, P), sys(unix.SYS_MREMAP, W+0x10000, P, P, fixedMove, W+0x20000), mapAnon(W+0x21000, P, rw)}},
	}
	for _, s := range scenarios {
		compareWithHost(t, s.name, s.ops)
	}
}

// hostHasGuards reports whether the host kernel knows MADV_GUARD_INSTALL:
// on an unmapped page it then fails with ENOMEM, not EINVAL.
func hostHasGuards() bool {
	_, e := runHost(guard(win+winSize-page, page))
	return e == unix.ENOMEM
}

// TestGuardFault checks the signal a user fault on a guard page gets:
// SIGSEGV with SEGV_MAPERR, as x86-64 reports Linux's VM_FAULT_SIGSEGV
// (checked on the host with a C program's SA_SIGINFO handler: si_code 1),
// unless the vma forbids the access first (SEGV_ACCERR).
func TestGuardFault(t *testing.T) {
	m, as, _ := testMM(t, withFaultAround(16*page))
	W := anon(t, m, 0x10000000, 16*page, rw)
	ro := anon(t, m, 0x20000000, 2*page, unix.PROT_NONE)
	for _, a := range []arch.Addr{W + 3*page, ro} {
		if err := m.Madvise(uint64(a), page, guardInstall); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		addr arch.Addr
		at   arch.AccessType
		code int // 0: the fault succeeds
	}{
		{W + 3*page, arch.Read, segvMapErr},
		{W + 3*page + 123, arch.Write, segvMapErr},
		{W + 3*page, arch.Execute, segvAccErr}, // rw-: exec is forbidden first
		{W + 2*page, arch.Write, 0},
		{W + 4*page, arch.Read, 0},
		{ro, arch.Read, segvAccErr},
	} {
		err := m.HandleUserFault(tc.addr, tc.at)
		var fe *FaultError
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("fault %v %v: %v", tc.addr, accessName(tc.at), err)
		case tc.code != 0 && (!errors.As(err, &fe) || fe.Signal != unix.SIGSEGV || fe.Code != tc.code || !errors.Is(err, unix.EFAULT)):
			t.Errorf("fault %v %v: %v, want SIGSEGV code %d", tc.addr, accessName(tc.at), err, tc.code)
		case tc.code == segvMapErr && fe.VMA == nil:
			t.Errorf("fault %v: no vma in the report", tc.addr)
		}
	}
	// The fault around the guard mapped its neighbours, never the guard.
	if as.Access(W+3*page, arch.Read) || !as.Access(W+2*page, arch.Write) || !as.Access(W+4*page, arch.Read) {
		t.Errorf("address space around the guard: %v", as.Mapped())
	}
	// The write's unit below the guard is memory, resident only where
	// written; the read's unit above it maps the zero page, which is
	// resident but not RSS; the guard is neither.
	if got := m.Stats().RSS; got != page {
		t.Errorf("RSS %#x, want the written page", got)
	}
	for _, v := range m.VMAs() {
		if v.Range.Start == W && v.Resident != page {
			t.Errorf("resident %#x, want the written page", v.Resident)
		}
	}
	vec := make([]byte, 16)
	if err := m.MinCore(uint64(W), 16*page, vec); err != nil {
		t.Fatal(err)
	}
	for i, b := range vec {
		// Pages 0 and 1 were never touched, page 3 is the guard.
		want := byte(1)
		if i < 2 || i == 3 {
			want = 0
		}
		if b != want {
			t.Errorf("mincore page %d = %d, want %d (page 2 written, the guard is page 3)", i, b, want)
		}
	}
	check(t, m)
}

// TestGuardCopies checks the system call copies at a guard: they stop at
// its first byte with the bytes before it, also when permissions are
// ignored (the loader, ptrace: Linux's get_user_pages faults on the
// marker and gets EFAULT).
func TestGuardCopies(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(page))
	W := anon(t, m, 0x10000000, 4*page, rw)
	if err := m.Madvise(uint64(W+2*page), page, guardInstall); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3*page)
	for _, tc := range []struct {
		name string
		f    func() (int, error)
		want int
	}{
		{"CopyIn", func() (int, error) { return m.CopyIn(W+page, buf, IOOpts{}) }, page},
		{"CopyOut", func() (int, error) { return m.CopyOut(W+100, buf, IOOpts{}) }, 2*page - 100},
		{"ZeroOut", func() (int, error) { n, err := m.ZeroOut(W, 3*page, IOOpts{}); return int(n), err }, 2 * page},
		{"CopyIn at the guard", func() (int, error) { return m.CopyIn(W+2*page+5, buf[:1], IOOpts{}) }, 0},
		{"CopyOut ignoring permissions", func() (int, error) { return m.CopyOut(W+page, buf, IOOpts{IgnorePermissions: true}) }, page},
		{"CopyIn after the guard", func() (int, error) { return m.CopyIn(W+3*page, buf[:page], IOOpts{}) }, page},
	} {
		n, err := tc.f()
		wantErr := tc.want < len(buf) && tc.name != "CopyIn after the guard"
		if n != tc.want || (err != nil) != wantErr || (err != nil && !errors.Is(err, unix.EFAULT)) {
			t.Errorf("%s = %d, %v; want %d (EFAULT %v)", tc.name, n, err, tc.want, wantErr)
		}
	}
}

// TestGuardForkAndFiles covers what the host scenarios cannot: fork copies
// guards of anonymous, shared and file vmas but not of MADV_WIPEONFORK
// ones (checked on the host with a C program), and file mappings get
// their pages back from the file after GUARD_REMOVE.
func TestGuardForkAndFiles(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(page))
	f := testFile(t, m, 2*page, 'f')
	priv := anon(t, m, 0x10000000, 2*page, rw)
	wipe := anon(t, m, 0x10100000, 2*page, rw)
	shr, err := m.MMap(0x10200000, 2*page, rw, unix.MAP_SHARED|unix.MAP_FIXED, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	fpriv, err := m.MMap(0x10300000, 2*page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_FIXED, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Madvise(uint64(wipe), 2*page, unix.MADV_WIPEONFORK); err != nil {
		t.Fatal(err)
	}
	m.CopyOut(priv, []byte{'p'}, IOOpts{IgnorePermissions: true})
	if _, err := m.CopyOut(fpriv, []byte{'c'}, IOOpts{IgnorePermissions: true}); err != nil {
		t.Fatal(err) // a private copy of the file's page
	}
	for _, a := range []arch.Addr{priv, wipe, shr, fpriv} {
		if err := m.Madvise(uint64(a), page, guardInstall); err != nil {
			t.Fatalf("install at %v: %v", a, err)
		}
	}
	if got := readByte(t, m, shr+page); got != 'f' {
		t.Errorf("shared page beside the guard reads %q", got)
	}
	c, err := m.Fork(NewFakeAddressSpace(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	for _, tc := range []struct {
		a     arch.Addr
		guard bool
	}{{priv, true}, {wipe, false}, {shr, true}, {fpriv, true}, {priv + page, false}} {
		_, err := c.CopyIn(tc.a, []byte{0}, IOOpts{})
		if (err != nil) != tc.guard {
			t.Errorf("child at %v: %v, want a guard %v", tc.a, err, tc.guard)
		}
	}
	if err := c.CheckInvariants(); err != nil {
		t.Error(err)
	}
	// Removing the guards: the file's pages are the file's again (the
	// private copy was discarded by the install), anonymous ones zero.
	for _, tc := range []struct {
		a    arch.Addr
		want byte
	}{{priv, 0}, {shr, 'f'}, {fpriv, 'f'}} {
		if err := m.Madvise(uint64(tc.a), page, guardRemove); err != nil {
			t.Fatal(err)
		}
		if got := readByte(t, m, tc.a); got != tc.want {
			t.Errorf("after GUARD_REMOVE %v reads %q, want %q", tc.a, got, tc.want)
		}
	}
	// The child still has its own.
	if _, err := c.CopyIn(priv, []byte{0}, IOOpts{}); err == nil {
		t.Error("the parent's GUARD_REMOVE removed the child's guard")
	}
	check(t, m)
}

// TestGuardAccounting checks that guards never count as memory and that
// the pma set keeps them merged and apart from backed pmas across
// installs, removals, moves and unmaps.
func TestGuardAccounting(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(page))
	W := anon(t, m, 0x10000000, 16*page, rw)
	steps := []struct {
		name        string
		advice      int
		off, n      uint64
		rss, guards uint64 // pages after the step
	}{
		{"touch all", -1, 0, 16, 16, 0},
		{"install middle", guardInstall, 4, 4, 12, 4},
		{"install overlapping", guardInstall, 6, 4, 10, 6},
		{"install adjacent", guardInstall, 10, 1, 9, 7},
		{"remove inside", guardRemove, 5, 1, 9, 6},
		{"dontneed all", unix.MADV_DONTNEED, 0, 16, 0, 6},
		{"remove all", guardRemove, 0, 16, 0, 0},
	}
	for _, s := range steps {
		if s.advice < 0 {
			if _, err := m.ZeroOut(W, 16*page, IOOpts{}); err != nil {
				t.Fatal(err)
			}
		} else if err := m.Madvise(uint64(W)+s.off*page, s.n*page, uint64(s.advice)); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		check(t, m)
		m.activeMu.Lock()
		guards := m.guardBytes
		m.activeMu.Unlock()
		if rss := m.Stats().RSS; rss != s.rss*page || guards != s.guards*page {
			t.Errorf("%s: RSS %d pages, guards %d pages; want %d, %d", s.name, rss/page, guards/page, s.rss, s.guards)
		}
	}
	if err := m.Madvise(uint64(W), 3*page, guardInstall); err != nil {
		t.Fatal(err)
	}
	if _, err := m.MRemap(uint64(W), 16*page, 16*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, 0x20000000); err != nil {
		t.Fatal(err)
	}
	if err := m.MUnmap(0x20000000, page); err != nil {
		t.Fatal(err)
	}
	m.activeMu.Lock()
	guards := m.guardBytes
	m.activeMu.Unlock()
	if guards != 2*page {
		t.Errorf("guards after the move and unmap: %d pages, want 2", guards/page)
	}
	if len(m.VMAs()) != 1 {
		t.Errorf("vmas: %v", layout(m))
	}
}

// TestGuardFaultSignalMatchesHost checks mm's si_code for a user fault on
// a guard page against the host's: a child process (this test binary,
// TestGuardFaultHostChild) touches a guard page and dies of the fault, and
// the Go runtime's crash report names the signal's code.
func TestGuardFaultSignalMatchesHost(t *testing.T) {
	if !hostHasGuards() {
		t.Skip("the host kernel has no MADV_GUARD_INSTALL")
	}
	m, _, _ := testMM(t, withFaultAround(page))
	for _, tc := range []struct {
		child string
		prot  uint64
		at    arch.AccessType
	}{
		{"read", rw, arch.Read},
		{"write", rw, arch.Write},
		{"protnone", unix.PROT_NONE, arch.Read},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGuardFaultHostChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MM_GUARD_CHILD="+tc.child)
		out, err := cmd.CombinedOutput()
		match := regexp.MustCompile(`signal SIGSEGV: segmentation violation code=(0x[0-9a-f]+)`).FindSubmatch(out)
		if err == nil || match == nil {
			t.Fatalf("%s: the child did not die of SIGSEGV (%v):\n%s", tc.child, err, out)
		}
		hostCode, _ := strconv.ParseInt(string(match[1]), 0, 64)
		a, err := m.MMap(0, page, tc.prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Madvise(uint64(a), page, guardInstall); err != nil {
			t.Fatal(err)
		}
		var fe *FaultError
		if err := m.HandleUserFault(a, tc.at); !errors.As(err, &fe) || fe.Signal != unix.SIGSEGV || int64(fe.Code) != hostCode {
			t.Errorf("%s: mm: %v; the host's si_code is %d", tc.child, err, hostCode)
		}
	}
}

// TestGuardFaultHostChild is TestGuardFaultSignalMatchesHost's child: with
// MM_GUARD_CHILD set it touches a host guard page and crashes.
func TestGuardFaultHostChild(t *testing.T) {
	what := os.Getenv("MM_GUARD_CHILD")
	if what == "" {
		t.Skip("run by TestGuardFaultSignalMatchesHost")
	}
	prot := unix.PROT_READ | unix.PROT_WRITE
	if what == "protnone" {
		prot = unix.PROT_NONE
	}
	b, err := unix.Mmap(-1, 0, page, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Madvise(b, guardInstall); err != nil {
		t.Fatal(err)
	}
	if what == "write" {
		b[0] = 1
	}
	t.Logf("read %d", b[0]) // the fault kills the process
}
