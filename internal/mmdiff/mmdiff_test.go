package mmdiff

import (
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

func TestParseMapsRoundTrip(t *testing.T) {
	for _, m := range []Mapping{
		{Start: Base, End: Base + 3*pageSize, Perms: arch.ReadWrite},
		{Start: Base + pageSize, End: Base + 2*pageSize, Perms: arch.NoAccess, Shared: true, Offset: 0x5000, Inode: 1234, Name: "/dev/zero (deleted)"},
		{Start: 0x7f00_0000_0000, End: 0x7f00_0001_0000, Perms: arch.AccessType{Read: true, Execute: true}, Name: "/usr/lib/x86_64-linux-gnu/libc.so.6"},
	} {
		got, err := ParseMaps([]byte(m.String()+"\n"), 0, 1<<63)
		if err != nil || len(got) != 1 || got[0] != m {
			t.Errorf("ParseMaps(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
}

func TestParseMapsClipsToWindow(t *testing.T) {
	text := "" +
		"41fffffff000-420000002000 rw-s 00001000 00:01 77 /dev/zero (deleted)\n" +
		"420000003000-420000004000 r--p 00000000 00:00 0\n" +
		"42000ffff000-420010001000 ---p 00000000 00:00 0\n" +
		"7ffe41806000-7ffe41827000 rw-p 00000000 00:00 0 [stack]\n"
	got, err := ParseMaps([]byte(text), Base, Base+Size)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{Start: Base, End: Base + 2*pageSize, Perms: arch.ReadWrite, Shared: true, Offset: 0x2000, Inode: 77, Name: "/dev/zero (deleted)"},
		{Start: Base + 3*pageSize, End: Base + 4*pageSize, Perms: arch.Read},
		{Start: Base + Size - pageSize, End: Base + Size},
	}
	if !equalLayouts(got, want) {
		t.Errorf("got\n%swant\n%s", FormatLayout(got), FormatLayout(want))
	}
	for _, bad := range []string{"zzz rw-p 0 00:00 0", "1000-2000 rw 0 00:00 0", "2000-1000 rw-p 0 00:00 0", "1000-2000 rw-p"} {
		if _, err := ParseMaps([]byte(bad), 0, 1<<63); err == nil {
			t.Errorf("ParseMaps(%q) accepted a bad line", bad)
		}
	}
}

func TestCoalesce(t *testing.T) {
	p := func(s, e uint64, perms arch.AccessType) Mapping { return Mapping{Start: s, End: e, Perms: perms} }
	sh := func(s, e, off, ino uint64) Mapping {
		return Mapping{Start: s, End: e, Perms: arch.ReadWrite, Shared: true, Offset: off, Inode: ino}
	}
	in := []Mapping{
		p(0x1000, 0x2000, arch.ReadWrite), p(0x2000, 0x3000, arch.ReadWrite), // merge
		p(0x3000, 0x4000, arch.Read),                            // perms differ
		p(0x5000, 0x6000, arch.Read),                            // gap
		sh(0x6000, 0x7000, 0, 9), sh(0x7000, 0x8000, 0x1000, 9), // same object, contiguous
		sh(0x8000, 0x9000, 0x5000, 9), // not contiguous
		sh(0x9000, 0xa000, 0x6000, 8), // other object
	}
	got := Coalesce(in, true)
	want := []Mapping{p(0x1000, 0x3000, arch.ReadWrite), p(0x3000, 0x4000, arch.Read), p(0x5000, 0x6000, arch.Read),
		sh(0x6000, 0x8000, 0, 9), sh(0x8000, 0x9000, 0x5000, 9), sh(0x9000, 0xa000, 0x6000, 8)}
	if !equalLayouts(got, want) {
		t.Errorf("with objects: got\n%swant\n%s", FormatLayout(got), FormatLayout(want))
	}
	if got := Coalesce(in, false); len(got) != 4 || got[3] != (Mapping{Start: 0x6000, End: 0xa000, Perms: arch.ReadWrite, Shared: true}) {
		t.Errorf("without objects: got\n%s", FormatLayout(got))
	}
}

func newTestHost(t *testing.T) *Host {
	t.Helper()
	h, err := NewHost()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := h.Reset(); err != nil {
		t.Fatal(err)
	}
	return h
}

const anon = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS

func TestHostErrno(t *testing.T) {
	h := newTestHost(t)
	rw := unix.PROT_READ | unix.PROT_WRITE
	if a, e := h.MMap(Base+0x10000, 2*pageSize, rw, anon|unix.MAP_FIXED, -1, 0); e != 0 || a != Base+0x10000 {
		t.Fatalf("mmap fixed = %#x, %v", a, e)
	}
	for _, tc := range []struct {
		op   Op
		want unix.Errno
	}{
		{MMap(Base, pageSize, rw, unix.MAP_PRIVATE, -1, 0), unix.EBADF},
		{MMap(Base, pageSize, rw, unix.MAP_ANONYMOUS, -1, 0), unix.EINVAL},
		{MMap(Base+1, pageSize, rw, anon|unix.MAP_FIXED, -1, 0), unix.EINVAL},
		{MMap(Base+0x10000, pageSize, rw, anon|unix.MAP_FIXED_NOREPLACE, -1, 0), unix.EEXIST},
		{MMap(Base, 0, rw, anon|unix.MAP_FIXED, -1, 0), unix.EINVAL},
		{MUnmap(Base+1, pageSize), unix.EINVAL},
		{MUnmap(1<<47, pageSize), unix.EINVAL},
		{MRemap(Base+0x10000, pageSize, 2*pageSize, 8, 0), unix.EINVAL},
		{MRemap(Base+0x20000, pageSize, 2*pageSize, 0, 0), unix.EFAULT},
		{MProtect(Base+0x20000, pageSize, unix.PROT_READ), unix.ENOMEM},
		{MProtect(Base+0x10000, pageSize, unix.PROT_GROWSUP), unix.EINVAL},
		{Madvise(Base+0x10000, pageSize, 99), unix.EINVAL},
		{Madvise(Base+0x10000, 3*pageSize, unix.MADV_DONTNEED), unix.ENOMEM},
		{MSync(Base+0x10000, pageSize, unix.MS_ASYNC|unix.MS_SYNC), unix.EINVAL},
		{MLock(Base+0x10000, pageSize, 2), unix.EINVAL},
		{MinCore(Base+0x20000, pageSize), unix.ENOMEM},
		{MinCore(Base+0x10001, pageSize), unix.EINVAL},
	} {
		var e unix.Errno
		switch op := tc.op; op.Kind {
		case KindMMap:
			_, e = h.MMap(op.Addr, op.Len, op.Prot, op.Flags, op.FD, op.Off)
		case KindMUnmap:
			e = h.MUnmap(op.Addr, op.Len)
		case KindMRemap:
			_, e = h.MRemap(op.Addr, op.Len, op.NewLen, op.Flags, op.NewAddr)
		case KindMProtect:
			e = h.MProtect(op.Addr, op.Len, op.Prot)
		case KindMadvise:
			e = h.Madvise(op.Addr, op.Len, op.Flags)
		case KindMSync:
			e = h.MSync(op.Addr, op.Len, op.Flags)
		case KindMLock:
			e = h.MLock(op.Addr, op.Len, op.Flags)
		case KindMinCore:
			e = h.MinCore(op.Addr, op.Len, make([]byte, VecLen(op.Addr, op.Len)))
		}
		if e != tc.want {
			t.Errorf("%v = %s, want %s", tc.op, errName(e), errName(tc.want))
		}
	}
}

func TestHostLayoutAndContents(t *testing.T) {
	h := newTestHost(t)
	rw := unix.PROT_READ | unix.PROT_WRITE
	a := Base + 0x40000
	if _, e := h.MMap(a, 4*pageSize, rw, anon|unix.MAP_FIXED, -1, 0); e != 0 {
		t.Fatal(e)
	}
	if e := h.MProtect(a+pageSize, pageSize, unix.PROT_READ); e != 0 {
		t.Fatal(e)
	}
	if _, e := h.MMap(a+8*pageSize, pageSize, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, -1, 0); e != 0 {
		t.Fatal(e)
	}
	ms, err := h.Layout()
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{Start: a, End: a + pageSize, Perms: arch.ReadWrite},
		{Start: a + pageSize, End: a + 2*pageSize, Perms: arch.Read},
		{Start: a + 2*pageSize, End: a + 4*pageSize, Perms: arch.ReadWrite},
		{Start: a + 8*pageSize, End: a + 9*pageSize, Perms: arch.ReadWrite, Shared: true},
	}
	if got := Coalesce(ms, false); !equalLayouts(got, want) {
		t.Fatalf("layout\n%swant\n%s", FormatLayout(got), FormatLayout(want))
	}
	// A write stops at the read-only page, as a copy to user memory does.
	data := Pattern(7, 2*pageSize)
	if n, e := h.CopyOut(a+pageSize/2, data); n != pageSize/2 || e != unix.EFAULT {
		t.Errorf("CopyOut across a read-only page = %d, %v", n, e)
	}
	got := make([]byte, pageSize)
	if n, e := h.CopyIn(a, got); n != pageSize || e != 0 || string(got[pageSize/2:]) != string(data[:pageSize/2]) {
		t.Errorf("CopyIn = %d, %v, data mismatch", n, e)
	}
	// DONTNEED zeroes private anonymous memory, not shared.
	h.CopyOut(a+8*pageSize, data[:pageSize])
	if e := h.Madvise(a, 9*pageSize, unix.MADV_DONTNEED); e != unix.ENOMEM {
		t.Errorf("madvise over a hole = %v, want ENOMEM", e)
	}
	h.CopyIn(a, got)
	if !allZero(got) {
		t.Error("private page not zero after MADV_DONTNEED")
	}
	h.CopyIn(a+8*pageSize, got)
	if string(got) != string(data[:pageSize]) {
		t.Error("shared page lost its contents after MADV_DONTNEED")
	}
	if n, e := h.CopyIn(a+4*pageSize, got); n != 0 || e != unix.EFAULT {
		t.Errorf("CopyIn of an unmapped page = %d, %v", n, e)
	}
	if n, e := h.CopyIn(Base-pageSize, got); n != 0 || e != unix.EFAULT {
		t.Errorf("CopyIn outside the window = %d, %v", n, e)
	}
}

// Reads and writes are the kernel's copies: one into the hole below a
// MAP_GROWSDOWN mapping grows it, one beyond the stack guard gap of a
// mapping below does not, and a copy stopping part way reports the bytes
// copied with EFAULT.
func TestHostCopiesGrowStacks(t *testing.T) {
	h := newTestHost(t)
	rw := unix.PROT_READ | unix.PROT_WRITE
	s := Base + 0x800000
	if _, e := h.MMap(s, 2*pageSize, rw, anon|unix.MAP_FIXED|unix.MAP_GROWSDOWN, -1, 0); e != 0 {
		t.Fatal(e)
	}
	data := Pattern(5, 3*pageSize)
	a := s - 2*pageSize + 100
	if n, e := h.CopyOut(a, data); n != len(data) || e != 0 {
		t.Fatalf("CopyOut below the grows-down mapping = %d, %v", n, e)
	}
	got := make([]byte, len(data))
	if n, e := h.CopyIn(a, got); n != len(data) || e != 0 || string(got) != string(data) {
		t.Errorf("CopyIn of what was written = %d, %v, equal %v", n, e, string(got) == string(data))
	}
	if ms, want := layoutOf(t, h), (Mapping{Start: s - 2*pageSize, End: s + 2*pageSize, Perms: arch.ReadWrite}); len(ms) != 1 || Coalesce(ms, false)[0] != want {
		t.Errorf("after the copy below it:\n%swant\n\t%s", FormatLayout(ms), want)
	}
	// A mapping a page below that, within the guard gap: the hole below it
	// is no stack's to grow into, and a read from the mapping into the
	// hole stops at the hole.
	low := s - 4*pageSize
	if _, e := h.MMap(low, pageSize, rw, anon|unix.MAP_FIXED, -1, 0); e != 0 {
		t.Fatal(e)
	}
	if n, e := h.CopyIn(low+pageSize-10, got); n != 10 || e != unix.EFAULT {
		t.Errorf("CopyIn from a mapping into the guard gap = %d, %v; want 10, EFAULT", n, e)
	}
	if n, e := h.CopyIn(low+pageSize, got); n != 0 || e != unix.EFAULT {
		t.Errorf("CopyIn in the guard gap = %d, %v; want 0, EFAULT", n, e)
	}
	ms := layoutOf(t, h)
	if len(ms) != 2 {
		t.Errorf("the guard gap was grown into:\n%s", FormatLayout(ms))
	}
	if !covered(ms, s-2*pageSize, 4*pageSize) || covered(ms, low, 2*pageSize) {
		t.Error("covered disagrees with the layout")
	}
}

func layoutOf(t *testing.T, h *Host) []Mapping {
	t.Helper()
	ms, err := h.Layout()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestHostRelocateAndLock(t *testing.T) {
	h := newTestHost(t)
	r, e := h.MMap(0, 3*pageSize, unix.PROT_READ|unix.PROT_WRITE, anon, -1, 0)
	if e != 0 {
		t.Fatal(e)
	}
	if inWindow(r, 3*pageSize) {
		t.Fatalf("hint-less mmap landed in the window at %#x", r)
	}
	h.CopyOut(Base, nil)
	hostAccess(r, Pattern(3, 8), true)
	to := Base + Size - 3*pageSize
	if err := h.Relocate(r, 3*pageSize, to); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	if n, e := h.CopyIn(to, got); n != 8 || e != 0 || string(got) != string(Pattern(3, 8)) {
		t.Errorf("relocated contents = %x, %d, %v", got, n, e)
	}
	before := h.VmLck()
	if e := h.MLock(to, 2*pageSize, 0); e != 0 {
		t.Fatal(e)
	}
	if after := h.VmLck(); after != before+2*pageSize {
		t.Errorf("VmLck %#x -> %#x after locking two pages", before, after)
	}
	if n, ok := h.LockedBytes(); n != 2*pageSize || !ok {
		t.Errorf("locked vmas in the window: %#x, %v; want two pages", n, ok)
	}
	if e := h.MSync(to, pageSize, unix.MS_INVALIDATE); e != unix.EBUSY {
		t.Errorf("msync(MS_INVALIDATE) of locked memory = %v, want EBUSY", e)
	}
	if err := h.Reset(); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.LockedBytes(); n != 0 {
		t.Errorf("locked vmas in the window after reset: %#x", n)
	}
}

func TestSafe(t *testing.T) {
	rw := unix.PROT_READ | unix.PROT_WRITE
	for _, tc := range []struct {
		op   Op
		safe bool
	}{
		{MUnmap(Base, Size), true},
		{MUnmap(Base, Size+pageSize), false},
		{MUnmap(Base+Size-pageSize, pageSize+1), false},
		{MProtect(Base, 1<<63, 0), false},
		{Madvise(Base, ^uint64(0), unix.MADV_DONTNEED), true},
		{Madvise(Base+pageSize, ^uint64(0)-Base, unix.MADV_DONTNEED), true},
		{Madvise(Base+pageSize, ^uint64(0)-Base-2*pageSize, unix.MADV_DONTNEED), false},
		{Madvise(Base, pageSize, unix.MADV_HWPOISON), false},
		{MLock(0x1000, 0x2000, 0), true},
		{MLock(0x1000, lowLimit, 0), false},
		{MProtect(0x400000, pageSize, 0), false},
		{MUnmap(1<<47, 1<<40), true},
		{MMap(0, 1<<30, rw, anon, -1, 0), true},
		{MMap(Base+Size-pageSize, pageSize, rw, anon, -1, 0), true},
		{MMap(0x1000, pageSize, rw, anon|unix.MAP_FIXED, -1, 0), false},
		{MMap(0x400000, pageSize, rw, anon|unix.MAP_FIXED_NOREPLACE, -1, 0), false},
		{MMap(Base, pageSize, rw, unix.MAP_PRIVATE, 0, 0), false},
		{MRemap(Base, pageSize, pageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, 0x400000), false},
		{MRemap(Base, pageSize, pageSize, unix.MREMAP_MAYMOVE, 0x400000), true},
		{Write(Base+Size-1, 1, 0), true},
		{Write(Base+Size-1, 2, 0), false},
		{Read(Base-1, 1), false},
	} {
		if got := Safe(tc.op) == nil; got != tc.safe {
			t.Errorf("Safe(%v) = %v, want %v", tc.op, got, tc.safe)
		}
	}
}

func TestGeneratorIsSafeAndDeterministic(t *testing.T) {
	ms := []Mapping{{Start: Base + 0x10000, End: Base + 0x20000, Perms: arch.ReadWrite}, {Start: Base + Size - 0x3000, End: Base + Size, Perms: arch.Read}}
	a, b := NewGen(NewRandSource(5)), NewGen(NewRandSource(5))
	kinds, advice := map[Kind]int{}, map[int]int{}
	for range 20000 {
		op := a.Next(ms, 0)
		if op != b.Next(ms, 0) {
			t.Fatal("same seed, different operations")
		}
		if err := Safe(op); err != nil {
			t.Fatalf("generated %v: %v", op, err)
		}
		kinds[op.Kind]++
		if op.Kind == KindMadvise {
			advice[op.Flags]++
		}
	}
	for k := KindMMap; k < numKinds; k++ {
		if kinds[k] < 100 {
			t.Errorf("only %d %v operations in 20000", kinds[k], k)
		}
	}
	for _, a := range []int{unix.MADV_GUARD_INSTALL, unix.MADV_GUARD_REMOVE} {
		if advice[a] < 100 {
			t.Errorf("only %d madvise(%s) in 20000", advice[a], adviceExpr(a))
		}
	}
	bs := NewByteSource([]byte{1, 2, 3})
	g := NewGen(bs)
	for !bs.Exhausted() {
		if err := Safe(g.Next(ms, 0)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListingIsGo(t *testing.T) {
	ops := []Op{
		MMap(Base+0x1000, 0x3000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED_VALIDATE|unix.MAP_ANONYMOUS|0x200000, -1, 0),
		MRemap(Base, 0x1000, 0x2000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, Base+0x8000),
		Madvise(1<<47, 0, 99),
		MProtect(Base, 0x1000, unix.PROT_NONE),
		GuardInstall(Base+0x2000, 0x1000),
		GuardRemove(Base, 0x3000),
	}
	got := Listing(ops)
	for _, want := range []string{
		"mmdiff.MMap(mmdiff.Base+0x1000, 0x3000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED_VALIDATE|unix.MAP_ANONYMOUS|0x200000, -1, 0x0),",
		"mmdiff.MRemap(mmdiff.Base, 0x1000, 0x2000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, mmdiff.Base+0x8000),",
		"mmdiff.Madvise(0x800000000000, 0x0, 99),",
		"mmdiff.MProtect(mmdiff.Base, 0x1000, unix.PROT_NONE),",
		"mmdiff.GuardInstall(mmdiff.Base+0x2000, 0x1000),",
		"mmdiff.GuardRemove(mmdiff.Base, 0x3000),",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("listing lacks %q:\n%s", want, got)
		}
	}
}

func TestHostAgreesWithModel(t *testing.T) {
	h := newTestHost(t)
	cfg := Config{NewSystem: func() (System, error) { return newModel(), nil }, Seed: 11, Ops: 2000, Accept: modelAccepts}
	res, err := Run(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Report())
	if res.Divergence != nil || res.Ops < 2000 {
		t.Errorf("%s", res.Report())
	}
}

func TestShrinkFindsPlantedBug(t *testing.T) {
	h := newTestHost(t)
	cfg := Config{
		NewSystem: func() (System, error) { m := newModel(); m.brokenProtect = true; return m, nil },
		Seed:      12, Ops: 3000, Accept: modelAccepts,
	}
	res, err := Run(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Report())
	if res.Divergence == nil {
		t.Fatal("the planted mprotect bug went unnoticed")
	}
	if len(res.Reproducer) == 0 || len(res.Reproducer) > 3 || res.Reproducer[len(res.Reproducer)-1].Kind != KindMProtect && res.ReproDivergence.Index >= 0 {
		t.Errorf("reproducer not minimal: %s", res.Report())
	}
	// The reproducer replays to a divergence; without the bug it does not.
	if d, err := Replay(h, cfg, res.Reproducer); d == nil || err != nil {
		t.Errorf("reproducer replays to %v, %v", d, err)
	}
	cfg.NewSystem = func() (System, error) { return newModel(), nil }
	if d, err := Replay(h, cfg, res.Reproducer); d != nil || err != nil {
		t.Errorf("reproducer diverges on a correct model: %v, %v", d, err)
	}
}
