package mm

import (
	"math"
	"slices"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// hostile is one call with hostile arguments that Linux rejects without
// side effects, so it can run on the host too.
type hostile struct {
	name string
	nr   uintptr
	args [6]uint64
	// run performs the same call on mm.
	run func(m *MemoryManager, a [6]uint64) error
}

const maxU = math.MaxUint64

func hostileCalls() []hostile {
	mmap := func(m *MemoryManager, a [6]uint64) error {
		_, err := m.MMap(a[0], a[1], a[2], a[3], nil, a[5])
		return err
	}
	munmap := func(m *MemoryManager, a [6]uint64) error { return m.MUnmap(a[0], a[1]) }
	mprotect := func(m *MemoryManager, a [6]uint64) error { return m.MProtect(a[0], a[1], a[2]) }
	mremap := func(m *MemoryManager, a [6]uint64) error {
		_, err := m.MRemap(a[0], a[1], a[2], a[3], a[4])
		return err
	}
	madvise := func(m *MemoryManager, a [6]uint64) error { return m.Madvise(a[0], a[1], a[2]) }
	mlock2 := func(m *MemoryManager, a [6]uint64) error { return m.MLock2(a[0], a[1], a[2]) }
	msync := func(m *MemoryManager, a [6]uint64) error { return m.MSync(a[0], a[1], a[2]) }
	mlockall := func(m *MemoryManager, a [6]uint64) error { return m.MLockAll(a[0]) }
	const anonP = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	const W = 0x7e00_0000_0000 // never mapped in the test process
	return []hostile{
		{"mmap zero length", unix.SYS_MMAP, [6]uint64{0, 0, rw, anonP, maxU, 0}, mmap},
		{"mmap length overflows on rounding", unix.SYS_MMAP, [6]uint64{0, maxU - 10, rw, anonP, maxU, 0}, mmap},
		{"mmap length beyond user space", unix.SYS_MMAP, [6]uint64{0, 1 << 48, rw, anonP, maxU, 0}, mmap},
		{"mmap unaligned offset", unix.SYS_MMAP, [6]uint64{0, page, rw, anonP, maxU, 1}, mmap},
		{"mmap no type", unix.SYS_MMAP, [6]uint64{0, page, rw, unix.MAP_ANONYMOUS, maxU, 0}, mmap},
		{"mmap type 0xf", unix.SYS_MMAP, [6]uint64{0, page, rw, unix.MAP_ANONYMOUS | 0xf, maxU, 0}, mmap},
		{"mmap anon shared_validate", unix.SYS_MMAP, [6]uint64{0, page, rw, unix.MAP_ANONYMOUS | unix.MAP_SHARED_VALIDATE, maxU, 0}, mmap},
		{"mmap bad fd", unix.SYS_MMAP, [6]uint64{0, page, rw, unix.MAP_PRIVATE, maxU, 0}, mmap},
		{"mmap fixed unaligned", unix.SYS_MMAP, [6]uint64{W + 1, page, rw, anonP | unix.MAP_FIXED, maxU, 0}, mmap},
		{"mmap fixed past user space", unix.SYS_MMAP, [6]uint64{0x7ffffffff000, 2 * page, rw, anonP | unix.MAP_FIXED, maxU, 0}, mmap},
		{"mmap fixed kernel address", unix.SYS_MMAP, [6]uint64{0xffff800000000000, page, rw, anonP | unix.MAP_FIXED, maxU, 0}, mmap},
		{"mmap fixed at -1 reads as EPERM", unix.SYS_MMAP, [6]uint64{maxU, 8 * page, rw, unix.MAP_FIXED | unix.MAP_ANONYMOUS, maxU, 0}, mmap},
		{"mmap fixed at -ENOMEM", unix.SYS_MMAP, [6]uint64{maxU - 11, page, rw, unix.MAP_FIXED | anonP, maxU, 0}, mmap},
		{"mmap shared growsdown", unix.SYS_MMAP, [6]uint64{0, page, rw, unix.MAP_SHARED | unix.MAP_ANONYMOUS | unix.MAP_GROWSDOWN, maxU, 0}, mmap},
		{"mmap hugetlb bad size", unix.SYS_MMAP, [6]uint64{0, page, rw, anonP | unix.MAP_HUGETLB | 13<<unix.MAP_HUGE_SHIFT, maxU, 0}, mmap},
		{"munmap zero", unix.SYS_MUNMAP, [6]uint64{W, 0}, munmap},
		{"munmap unaligned", unix.SYS_MUNMAP, [6]uint64{W + 1, page}, munmap},
		{"munmap overflow", unix.SYS_MUNMAP, [6]uint64{W, maxU}, munmap},
		{"munmap kernel", unix.SYS_MUNMAP, [6]uint64{0xffff800000000000, page}, munmap},
		{"mprotect unaligned", unix.SYS_MPROTECT, [6]uint64{W + 1, page, rw}, mprotect},
		{"mprotect overflow", unix.SYS_MPROTECT, [6]uint64{W, maxU - page, rw}, mprotect},
		{"mprotect bad prot", unix.SYS_MPROTECT, [6]uint64{W, page, 0x40}, mprotect},
		{"mprotect both grows", unix.SYS_MPROTECT, [6]uint64{W, page, rw | unix.PROT_GROWSDOWN | unix.PROT_GROWSUP}, mprotect},
		{"mprotect unmapped", unix.SYS_MPROTECT, [6]uint64{W, page, rw}, mprotect},
		{"mprotect growsdown unmapped", unix.SYS_MPROTECT, [6]uint64{W, page, rw | unix.PROT_GROWSDOWN}, mprotect},
		{"mremap bad flags", unix.SYS_MREMAP, [6]uint64{W, page, page, 8, 0}, mremap},
		{"mremap unaligned", unix.SYS_MREMAP, [6]uint64{W + 1, page, page, 0, 0}, mremap},
		{"mremap zero new", unix.SYS_MREMAP, [6]uint64{W, page, 0, 0, 0}, mremap},
		{"mremap new overflows", unix.SYS_MREMAP, [6]uint64{W, page, maxU, 0, 0}, mremap},
		{"mremap new too big", unix.SYS_MREMAP, [6]uint64{W, page, 1 << 48, 0, 0}, mremap},
		{"mremap fixed without maymove", unix.SYS_MREMAP, [6]uint64{W, page, page, unix.MREMAP_FIXED, W + 0x100000}, mremap},
		{"mremap fixed unaligned", unix.SYS_MREMAP, [6]uint64{W, page, page, unix.MREMAP_FIXED | unix.MREMAP_MAYMOVE, W + 0x100001}, mremap},
		{"mremap fixed overlap", unix.SYS_MREMAP, [6]uint64{W, 2 * page, 2 * page, unix.MREMAP_FIXED | unix.MREMAP_MAYMOVE, W + page}, mremap},
		{"mremap fixed past top", unix.SYS_MREMAP, [6]uint64{W, page, 2 * page, unix.MREMAP_FIXED | unix.MREMAP_MAYMOVE, 0x7ffffffff000}, mremap},
		{"mremap dontunmap resize", unix.SYS_MREMAP, [6]uint64{W, page, 2 * page, unix.MREMAP_DONTUNMAP | unix.MREMAP_MAYMOVE, 0}, mremap},
		{"mremap dontunmap without maymove", unix.SYS_MREMAP, [6]uint64{W, page, page, unix.MREMAP_DONTUNMAP, 0}, mremap},
		{"mremap unmapped", unix.SYS_MREMAP, [6]uint64{W, page, 2 * page, unix.MREMAP_MAYMOVE, 0}, mremap},
		{"mremap move unmapped", unix.SYS_MREMAP, [6]uint64{W, page, page, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, W + 0x100000}, mremap},
		{"madvise unknown", unix.SYS_MADVISE, [6]uint64{W, page, 999}, madvise},
		{"madvise unaligned", unix.SYS_MADVISE, [6]uint64{W + 1, page, unix.MADV_DONTNEED}, madvise},
		{"madvise len rounds to zero", unix.SYS_MADVISE, [6]uint64{W, maxU, unix.MADV_DONTNEED}, madvise},
		{"madvise overflow", unix.SYS_MADVISE, [6]uint64{W, maxU - 2*page, unix.MADV_DONTNEED}, madvise},
		{"madvise unmapped", unix.SYS_MADVISE, [6]uint64{W, page, unix.MADV_DONTNEED}, madvise},
		{"madvise populate unmapped", unix.SYS_MADVISE, [6]uint64{W, page, unix.MADV_POPULATE_READ}, madvise},
		{"madvise advice truncated to int", unix.SYS_MADVISE, [6]uint64{W, page, 1<<32 | 999}, madvise},
		{"mlock2 bad flags", unix.SYS_MLOCK2, [6]uint64{W, page, 2}, mlock2},
		{"mlock2 unmapped", unix.SYS_MLOCK2, [6]uint64{W, page, 0}, mlock2},
		{"mlockall zero", unix.SYS_MLOCKALL, [6]uint64{0}, mlockall},
		{"mlockall onfault only", unix.SYS_MLOCKALL, [6]uint64{unix.MCL_ONFAULT}, mlockall},
		{"mlockall bad flags", unix.SYS_MLOCKALL, [6]uint64{16}, mlockall},
		{"msync bad flags", unix.SYS_MSYNC, [6]uint64{W, page, 8}, msync},
		{"msync unaligned", unix.SYS_MSYNC, [6]uint64{W + 1, page, 0}, msync},
		{"msync async and sync", unix.SYS_MSYNC, [6]uint64{W, page, unix.MS_ASYNC | unix.MS_SYNC}, msync},
		{"msync overflow", unix.SYS_MSYNC, [6]uint64{W, maxU - page, 0}, msync},
		{"msync unmapped", unix.SYS_MSYNC, [6]uint64{W, page, unix.MS_SYNC}, msync},
		{"msync unmapped async", unix.SYS_MSYNC, [6]uint64{W, page, unix.MS_ASYNC}, msync},
	}
}

// TestHostileArgumentsMatchHost runs calls with hostile arguments on the
// host kernel and on mm and requires the same errno from both.
func TestHostileArgumentsMatchHost(t *testing.T) {
	m, _, _ := testMM(t, withLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: 8 << 20, Stack: 8 << 20, MaxMapCount: DefaultMaxMapCount, CapIPCLock: true}))
	for _, h := range hostileCalls() {
		a := h.args
		r, _, hostErr := unix.Syscall6(h.nr, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		if hostErr == 0 {
			t.Fatalf("%s: the host accepted the call (returned %#x); the table must hold only failing calls", h.name, r)
		}
		if got := errnoOf(h.run(m, a)); got != hostErr {
			t.Errorf("%s: mm gave %v (%d), the host %v (%d)", h.name, got, got, hostErr, hostErr)
		}
	}
	if n := len(m.VMAs()); n != 0 {
		t.Errorf("failed calls left %d vmas", n)
	}
}

func TestMMapFlags(t *testing.T) {
	m, _, _ := testMM(t)
	const W = 0x2000_0000
	anon(t, m, W, 4*page, rw)
	// MAP_FIXED_NOREPLACE over a mapping: EEXIST; in a hole: fine.
	_, err := m.MMap(W+page, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, nil, 0)
	if errnoOf(err) != unix.EEXIST {
		t.Errorf("NOREPLACE over a mapping: %v, want EEXIST", err)
	}
	if a, err := m.MMap(W+8*page, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, nil, 0); err != nil || a != W+8*page {
		t.Errorf("NOREPLACE in a hole: %v, %v", a, err)
	}
	// Unknown flags are ignored by mmap.
	if _, err := m.MMap(0, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|0x40000000, nil, 0); err != nil {
		t.Errorf("unknown flag: %v", err)
	}
	// A hint that is free is used; one that is taken is not.
	if a, err := m.MMap(W+16*page+5, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0); err != nil || a != W+16*page {
		t.Errorf("free hint: got %v, %v", a, err)
	}
	if a, err := m.MMap(W, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0); err != nil || a == W {
		t.Errorf("taken hint: got %v, %v", a, err)
	}
	// MAP_FIXED replaces, and the replaced memory is gone.
	if _, err := m.CopyOut(W, []byte{1, 2, 3}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	anon(t, m, W, page, unix.PROT_READ)
	buf := make([]byte, 3)
	if _, err := m.CopyIn(W, buf, IOOpts{}); err != nil || !slices.Equal(buf, []byte{0, 0, 0}) {
		t.Errorf("after MAP_FIXED replace read %v, %v; want zeros", buf, err)
	}
	// MAP_POPULATE backs everything at once; MAP_NORESERVE splits vmas.
	before := m.Stats().RSS
	if _, err := m.MMap(0, 8*page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE, nil, 0); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().RSS - before; got < 8*page {
		t.Errorf("MAP_POPULATE backed %#x bytes", got)
	}
	// 2 MiB-multiple anonymous mappings are 2 MiB-aligned, as with THP.
	if a, err := m.MMap(0, 4<<20, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0); err != nil || !a.IsHugePageAligned() {
		t.Errorf("4 MiB mapping at %v, %v: want 2 MiB-aligned", a, err)
	}
	// MAP_32BIT stays below 2 GiB.
	if a, err := m.MMap(0, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_32BIT, nil, 0); err != nil || a >= 0x80000000 || a < 0x40000000 {
		t.Errorf("MAP_32BIT at %v, %v", a, err)
	}
	check(t, m)
}

func TestMMapTopDownAndMerge(t *testing.T) {
	m, _, _ := testMM(t)
	a := anon(t, m, 0, page, rw)
	b := anon(t, m, 0, page, rw)
	if b != a-page {
		t.Errorf("second mapping at %v, want just below %v", b, a)
	}
	if n := len(m.VMAs()); n != 1 {
		t.Errorf("two adjacent identical anonymous mappings: %d vmas, want 1 (merged)", n)
	}
	c := anon(t, m, 0, page, unix.PROT_READ)
	if n := len(m.VMAs()); n != 2 || c != b-page {
		t.Errorf("different permissions: %d vmas at %v", n, c)
	}
	check(t, m)
}

func TestMProtectSplitMerge(t *testing.T) {
	m, as, _ := testMM(t)
	const W = 0x3000_0000
	anon(t, m, W, 8*page, rw)
	if _, err := m.CopyOut(W, make([]byte, 8*page), IOOpts{}); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleUserFault(W, arch.Write); err != nil {
		t.Fatal(err)
	}
	if err := m.MProtect(W+2*page, 2*page, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	want := []string{
		arch.AddrRange{Start: W, End: W + 2*page}.String() + " rw-p",
		arch.AddrRange{Start: W + 2*page, End: W + 4*page}.String() + " r--p",
		arch.AddrRange{Start: W + 4*page, End: W + 8*page}.String() + " rw-p",
	}
	if got := layout(m); !slices.Equal(got, want) {
		t.Errorf("after mprotect: %v, want %v", got, want)
	}
	if as.Access(W+2*page, arch.Write) {
		t.Error("page made read-only is still writable in the address space")
	}
	check(t, m)
	if err := m.MProtect(W+2*page, 2*page, rw); err != nil {
		t.Fatal(err)
	}
	if n := len(m.VMAs()); n != 1 {
		t.Errorf("after restoring permissions: %d vmas, want 1", n)
	}
	// A hole stops mprotect with ENOMEM after changing what came before.
	if err := m.MUnmap(W+4*page, page); err != nil {
		t.Fatal(err)
	}
	if err := m.MProtect(W, 8*page, unix.PROT_READ); errnoOf(err) != unix.ENOMEM {
		t.Errorf("mprotect across a hole: %v, want ENOMEM", err)
	}
	if v := m.VMAs()[0]; v.Perms != arch.Read || v.Range.End != W+4*page {
		t.Errorf("vma before the hole: %v, want read-only", v)
	}
	// PROT_GROWSDOWN needs a grows-down vma.
	if err := m.MProtect(W, page, unix.PROT_READ|unix.PROT_GROWSDOWN); errnoOf(err) != unix.EINVAL {
		t.Errorf("PROT_GROWSDOWN on a normal vma: %v, want EINVAL", err)
	}
	check(t, m)
}

func TestMProtectGrowsDown(t *testing.T) {
	m, _, _ := testMM(t)
	const W = 0x4000_0000
	if _, err := m.MMap(W, 4*page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_GROWSDOWN, nil, 0); err != nil {
		t.Fatal(err)
	}
	// PROT_GROWSDOWN extends the change down to the vma's start.
	if err := m.MProtect(W+2*page, page, unix.PROT_READ|unix.PROT_GROWSDOWN); err != nil {
		t.Fatal(err)
	}
	vs := m.VMAs()
	if len(vs) != 2 || vs[0].Range != (arch.AddrRange{Start: W, End: W + 3*page}) || vs[0].Perms != arch.Read {
		t.Errorf("after PROT_GROWSDOWN: %v", layout(m))
	}
}

// The initial stack covers the argument strings' pages and 128 KiB more
// (setup_arg_pages' stack_expand), or RLIMIT_STACK in all where that is
// less.
func TestMapStackArgs(t *testing.T) {
	for _, c := range []struct {
		name      string
		stack     uint64
		argsBelow arch.Addr // how far below the top the strings begin
		want      uint64
	}{
		{"no strings", 8 << 20, 0, 128 << 10},
		{"a page of strings", 8 << 20, 100, 132 << 10},
		{"three pages", 8 << 20, 2*page + 1, 140 << 10},
		{"RLIMIT_STACK below", 64 << 10, 100, 64 << 10},
		{"RLIMIT_STACK just above the strings", 6 * page, 2*page + 1, 6 * page},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := DefaultLimits()
			l.Stack = c.stack
			m, _, _ := testMM(t, withLimits(l))
			top := m.Layout().StackTop
			st, err := m.MapStackArgs(top - c.argsBelow)
			if err != nil {
				t.Fatal(err)
			}
			if st.End != top || st.Length() != c.want {
				t.Errorf("stack %v (%d KiB), want %d KiB ending at %v", st, st.Length()>>10, c.want>>10, top)
			}
		})
	}
}

func TestStackGrowth(t *testing.T) {
	m, _, _ := testMM(t)
	st, err := m.MapStack()
	if err != nil {
		t.Fatal(err)
	}
	// A fault just below the stack grows it.
	if err := m.HandleUserFault(st.Start-page, arch.Write); err != nil {
		t.Fatalf("fault below the stack: %v", err)
	}
	if vs := m.VMAs(); len(vs) != 1 || vs[0].Range.Start != st.Start-page || vs[0].Name != "[stack]" {
		t.Errorf("after growth: %v", vs)
	}
	// Far below, within RLIMIT_STACK, still grows.
	far := st.End - 4<<20
	if err := m.HandleUserFault(far, arch.Read); err != nil {
		t.Errorf("fault 4 MiB down: %v", err)
	}
	// Beyond RLIMIT_STACK: SIGSEGV with SEGV_MAPERR.
	err = m.HandleUserFault(st.End-9<<20, arch.Read)
	var fe *FaultError
	if !asFault(err, &fe) || fe.Signal != unix.SIGSEGV || fe.Code != segvMapErr {
		t.Errorf("fault beyond RLIMIT_STACK: %v", err)
	}
	// The guard gap: a mapping within 256 pages below stops growth.
	guard := far - 0x80000
	anon(t, m, uint64(guard-page), page, rw)
	if err := m.HandleUserFault(far-page, arch.Read); err == nil {
		t.Error("stack grew to within the guard gap of the mapping below")
	}
	check(t, m)
}

// A program that walks its stack down a page at a time grows it at every
// fault. Each such fault maps only the page it added, not the fault-around
// unit above it again, which is the stack the program already touched:
// 1 MiB walked down a page at a time maps 256 pages, not 256 times up to
// a 2 MiB unit.
func TestStackGrowthMapsOnlyTheExtension(t *testing.T) {
	m, as, _ := testMM(t, withFaultAround(2<<20))
	st, err := m.MapStack()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleUserFault(st.End-page, arch.Write); err != nil {
		t.Fatal(err)
	}
	_, _, before := as.Counts()
	const walked = 256
	for i := 1; i <= walked; i++ {
		addr := st.Start - arch.Addr(i)*page
		if err := m.HandleUserFault(addr, arch.Write); err != nil {
			t.Fatalf("fault %d pages below the stack: %v", i, err)
		}
		if !as.Access(addr, arch.Write) {
			t.Fatalf("page %#x not mapped writable after its fault", addr)
		}
	}
	if _, _, after := as.Counts(); after-before != walked {
		t.Errorf("walking the stack down %d pages mapped %d pages, want %d", walked, after-before, walked)
	}
	check(t, m)
}

// Growth only moves the stack vma's start, as Linux's expand_downwards:
// it does not merge the stack with a grows-down vma it reaches, and the
// stack gets an anon_vma of its own first, so a later mprotect of both
// keeps them apart too (seen on Linux 6.18).
func TestStackGrowthKeepsVMABelow(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(page))
	const W = 0x4000_0000
	gd := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED | unix.MAP_GROWSDOWN)
	for _, a := range []uint64{W, W + 3*page} {
		if _, err := m.MMap(a, 2*page, rw, gd, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.HandleUserFault(W+page, arch.Write); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleUserFault(W+2*page, arch.Read); err != nil {
		t.Fatalf("fault in the hole below the upper stack: %v", err)
	}
	want := []arch.AddrRange{{Start: W, End: W + 2*page}, {Start: W + 2*page, End: W + 5*page}}
	ranges := func() []arch.AddrRange {
		var rs []arch.AddrRange
		for _, v := range m.VMAs() {
			rs = append(rs, v.Range)
		}
		return rs
	}
	if got := ranges(); !slices.Equal(got, want) {
		t.Errorf("after growth: %v, want %v", layout(m), want)
	}
	if err := m.MProtect(W, 5*page, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if got := ranges(); !slices.Equal(got, want) {
		t.Errorf("after mprotect of both: %v, want %v", layout(m), want)
	}
	check(t, m)
}

func asFault(err error, fe **FaultError) bool {
	f, ok := err.(*FaultError)
	*fe = f
	return ok
}

func TestFaultErrors(t *testing.T) {
	m, _, _ := testMM(t)
	const W = 0x5000_0000
	anon(t, m, W, page, unix.PROT_READ)
	var fe *FaultError
	if err := m.HandleUserFault(W, arch.Write); !asFault(err, &fe) || fe.Code != segvAccErr || fe.VMA == nil {
		t.Errorf("write to read-only: %v", err)
	}
	if err := m.HandleUserFault(W, arch.Execute); !asFault(err, &fe) || fe.Code != segvAccErr {
		t.Errorf("exec of read-only: %v", err)
	}
	if err := m.HandleUserFault(W+page, arch.Read); !asFault(err, &fe) || fe.Code != segvMapErr || fe.VMA != nil {
		t.Errorf("read of nothing: %v", err)
	}
	if err := m.HandleUserFault(arch.Addr(0xffff_8000_0000_0000), arch.Read); !asFault(err, &fe) || fe.Signal != unix.SIGSEGV {
		t.Errorf("kernel address: %v", err)
	}
	// Write-only memory is readable, as on x86.
	anon(t, m, W+2*page, page, unix.PROT_WRITE)
	if err := m.HandleUserFault(W+2*page, arch.Read); err != nil {
		t.Errorf("read of write-only: %v", err)
	}
	// A shared anonymous mapping faulted past its object's end: SIGBUS.
	a, err := m.MMap(0, 2*page, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.MRemap(uint64(a), 2*page, 4*page, unix.MREMAP_MAYMOVE, 0); err != nil {
		t.Fatal(err)
	}
	for _, v := range m.VMAs() {
		if v.Shared && v.Range.Length() == 4*page {
			if err := m.HandleUserFault(v.Range.Start+3*page, arch.Read); !asFault(err, &fe) || fe.Signal != unix.SIGBUS {
				t.Errorf("fault past the object's end: %v, want SIGBUS", err)
			}
			if err := m.HandleUserFault(v.Range.Start, arch.Write); err != nil {
				t.Errorf("fault within the object: %v", err)
			}
		}
	}
	if s := fe.Error(); s == "" {
		t.Error("empty crash report")
	}
	check(t, m)
}
