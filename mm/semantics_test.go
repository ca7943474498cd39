package mm

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// testFile returns a Mappable with contents: a shared anonymous object,
// which translates to MemoryFile pages like a file in memory would.
func testFile(t *testing.T, m *MemoryManager, size uint64, fill byte) *MappedFile {
	t.Helper()
	sa, err := newSharedAnon(m.mf, size)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := sa.Translate(memmap.MappableRange{Start: 0, End: size}, memmap.MappableRange{Start: 0, End: size}, arch.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		b, err := tr.File.MapInternal(tr.FileRange(), arch.Write)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = fill
		}
	}
	t.Cleanup(sa.DecRef)
	return &MappedFile{Mappable: sa, Identity: sa, Readable: true, Writable: true}
}

func readByte(t *testing.T, m *MemoryManager, a arch.Addr) byte {
	t.Helper()
	b := []byte{0}
	if _, err := m.CopyIn(a, b, IOOpts{}); err != nil {
		t.Fatalf("read %v: %v", a, err)
	}
	return b[0]
}

func TestCopyOnWritePrivateFile(t *testing.T) {
	m, as, _ := testMM(t, withFaultAround(page))
	f := testFile(t, m, 4*page, 'f')
	priv, err := m.MMap(0, 4*page, rw, unix.MAP_PRIVATE, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := m.MMap(0, 4*page, rw, unix.MAP_SHARED, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A read fault maps the file's page read-only.
	if err := m.HandleUserFault(priv, arch.Read); err != nil {
		t.Fatal(err)
	}
	if pte, ok := as.Lookup(priv); !ok || pte.Perms.Write {
		t.Fatalf("private file page after a read fault: %+v %v; want read-only", pte, ok)
	}
	// A write fault copies it: the private mapping sees the write, the file
	// (through the shared mapping) does not.
	if err := m.HandleUserFault(priv, arch.Write); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(priv, []byte{'p'}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	if got := readByte(t, m, priv); got != 'p' {
		t.Errorf("private mapping reads %q after its write", got)
	}
	if got := readByte(t, m, shared); got != 'f' {
		t.Errorf("file reads %q after a private write; copy-on-write leaked", got)
	}
	// Writes through the shared mapping reach pages the private mapping has
	// not copied.
	if _, err := m.CopyOut(shared+page, []byte{'s'}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	if got := readByte(t, m, priv+page); got != 's' {
		t.Errorf("private mapping of an uncopied page reads %q, want the file's 's'", got)
	}
	// MADV_DONTNEED on the private mapping reverts to the file.
	if err := m.Madvise(uint64(priv), page, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if got := readByte(t, m, priv); got != 'f' {
		t.Errorf("after DONTNEED the private page reads %q, want the file's 'f'", got)
	}
	check(t, m)
}

func TestIgnorePermissionsBreaksCOW(t *testing.T) {
	m, _, _ := testMM(t)
	f := testFile(t, m, page, 'f')
	a, err := m.MMap(0, page, unix.PROT_READ, unix.MAP_PRIVATE, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(a, []byte{'x'}, IOOpts{}); errnoOf(err) != unix.EFAULT {
		t.Errorf("CopyOut to read-only: %v, want EFAULT", err)
	}
	if _, err := m.CopyOut(a, []byte{'x'}, IOOpts{IgnorePermissions: true}); err != nil {
		t.Fatalf("loader write: %v", err)
	}
	if got := readByte(t, m, a); got != 'x' {
		t.Errorf("read %q after a loader write", got)
	}
	b := make([]byte, 1)
	sa := f.Mappable.(*SharedMemory)
	ts, _ := sa.Translate(memmap.MappableRange{Start: 0, End: page}, memmap.MappableRange{Start: 0, End: page}, arch.Read)
	fb, _ := ts[0].File.MapInternal(ts[0].FileRange(), arch.Read)
	copy(b, fb)
	if b[0] != 'f' {
		t.Errorf("the file changed to %q through a private mapping", b[0])
	}
	check(t, m)
}

func TestForkCopyOnWrite(t *testing.T) {
	m, pas, _ := testMM(t)
	const W = 0x1000_0000
	anon(t, m, W, 4*page, rw)
	shared, err := m.MMap(0, page, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	dontfork := anon(t, m, W+0x100000, page, rw)
	if err := m.Madvise(uint64(dontfork), page, unix.MADV_DONTFORK); err != nil {
		t.Fatal(err)
	}
	wipe := anon(t, m, W+0x200000, page, rw)
	m.CopyOut(wipe, []byte{'w'}, IOOpts{})
	if err := m.Madvise(uint64(wipe), page, unix.MADV_WIPEONFORK); err != nil {
		t.Fatal(err)
	}
	if err := m.MLock(W, page); err != nil {
		t.Fatal(err)
	}
	m.CopyOut(W, []byte{'a'}, IOOpts{})
	m.CopyOut(shared, []byte{'s'}, IOOpts{})
	cas := NewFakeAddressSpace()
	c, err := m.Fork(cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if pas.Access(W, arch.Write) {
		t.Error("parent still maps forked private memory writable")
	}
	if got := readByte(t, c, W); got != 'a' {
		t.Errorf("child reads %q", got)
	}
	c.CopyOut(W, []byte{'c'}, IOOpts{})
	if got := readByte(t, m, W); got != 'a' {
		t.Errorf("parent reads %q after the child's write", got)
	}
	m.CopyOut(W+1, []byte{'p'}, IOOpts{})
	if got := readByte(t, c, W+1); got != 0 {
		t.Errorf("child reads %q after the parent's write", got)
	}
	c.CopyOut(shared, []byte{'S'}, IOOpts{})
	if got := readByte(t, m, shared); got != 'S' {
		t.Errorf("shared memory not shared after fork: parent reads %q", got)
	}
	for _, v := range c.VMAs() {
		if v.Range.Start == dontfork {
			t.Error("MADV_DONTFORK vma was copied")
		}
		if v.MLockMode != memmap.MLockNone {
			t.Error("memory lock inherited by the child")
		}
	}
	if got := readByte(t, c, wipe); got != 0 {
		t.Errorf("MADV_WIPEONFORK memory reads %q in the child", got)
	}
	if err := c.CheckInvariants(); err != nil {
		t.Error(err)
	}
	check(t, m)
	// After the child goes, the parent owns its pages again and writes
	// without copying.
	c.Release()
	before := m.Stats().RSS
	m.CopyOut(W+2, []byte{'q'}, IOOpts{})
	if m.Stats().RSS != before {
		t.Error("RSS changed on a write to memory the parent owns alone")
	}
}

func TestMLockLimits(t *testing.T) {
	m, _, _ := testMM(t, withLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: 4 * page, Stack: 8 << 20, MaxMapCount: 100}))
	const W = 0x1000_0000
	anon(t, m, W, 16*page, rw)
	if err := m.MLock(W, 4*page); err != nil {
		t.Fatal(err)
	}
	if err := m.MLock(W+4*page, page); errnoOf(err) != unix.ENOMEM {
		t.Errorf("mlock past RLIMIT_MEMLOCK: %v, want ENOMEM", err)
	}
	// Relocking locked pages does not count twice.
	if err := m.MLock(W, 4*page); err != nil {
		t.Errorf("relock: %v", err)
	}
	if got := m.Stats().LockedSize; got != 4*page {
		t.Errorf("locked %#x", got)
	}
	if err := m.MLockAll(unix.MCL_CURRENT); errnoOf(err) != unix.ENOMEM {
		t.Errorf("mlockall past the limit: %v", err)
	}
	if _, err := m.MMap(0, 8*page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_LOCKED, nil, 0); errnoOf(err) != unix.EAGAIN {
		t.Errorf("MAP_LOCKED past the limit: %v, want EAGAIN", err)
	}
	if err := m.MSync(W, page, unix.MS_INVALIDATE); errnoOf(err) != unix.EBUSY {
		t.Errorf("msync MS_INVALIDATE of locked memory: %v, want EBUSY", err)
	}
	if err := m.Madvise(W, page, unix.MADV_DONTNEED); errnoOf(err) != unix.EINVAL {
		t.Errorf("DONTNEED of locked memory: %v", err)
	}
	if err := m.MUnlockAll(); err != nil || m.Stats().LockedSize != 0 {
		t.Errorf("munlockall: %v, %#x locked", err, m.Stats().LockedSize)
	}
	m.SetLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: 0, Stack: 8 << 20, MaxMapCount: 100})
	if err := m.MLock(W, page); errnoOf(err) != unix.EPERM {
		t.Errorf("mlock with RLIMIT_MEMLOCK 0: %v, want EPERM", err)
	}
	check(t, m)
}

func TestMLockAllFuture(t *testing.T) {
	m, _, _ := testMM(t)
	if err := m.MLockAll(unix.MCL_FUTURE); err != nil {
		t.Fatal(err)
	}
	a := anon(t, m, 0, 2*page, rw)
	st := m.Stats()
	if st.LockedSize != 2*page || st.RSS < 2*page {
		t.Errorf("after MCL_FUTURE, mmap: locked %#x, RSS %#x", st.LockedSize, st.RSS)
	}
	if err := m.MUnlock(uint64(a), 2*page); err != nil || m.Stats().LockedSize != 0 {
		t.Errorf("munlock: %v", err)
	}
}

// TestMLockAllFutureDroppable: a MAP_DROPPABLE mapping made under
// mlockall(MCL_FUTURE) is not locked, as Linux (the mm selftest
// mlock2-tests' test_mlockall_future_droppable).
func TestMLockAllFutureDroppable(t *testing.T) {
	m, _, _ := testMM(t)
	if err := m.MLockAll(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
		t.Fatal(err)
	}
	a, err := m.MMap(0, 2*page, rw, unix.MAP_DROPPABLE|unix.MAP_ANONYMOUS, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.VMAs() {
		if v.Range.Start == a && (v.MLockMode != memmap.MLockNone || strings.Contains(v.Flags, "lo ")) {
			t.Errorf("droppable vma under MCL_FUTURE: mlock mode %v, VmFlags %q", v.MLockMode, v.Flags)
		}
	}
	if st := m.Stats(); st.LockedSize != 0 {
		t.Errorf("locked %#x bytes, want 0", st.LockedSize)
	}
}

// TestPageoutDropsDroppable: MADV_PAGEOUT discards a MAP_DROPPABLE
// mapping's pages, written ones included, which then read as zeros, as
// Linux's reclaim does (the mm selftest droppable); a private mapping's
// pages stay, as on a host without swap.
func TestPageoutDropsDroppable(t *testing.T) {
	m, _, _ := testMM(t)
	d, err := m.MMap(0, 2*page, rw, unix.MAP_DROPPABLE|unix.MAP_ANONYMOUS, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := anon(t, m, 0, 2*page, rw)
	for _, a := range []arch.Addr{d, p} {
		if _, err := m.CopyOut(a+page+5, []byte{'A'}, IOOpts{}); err != nil {
			t.Fatal(err)
		}
		if err := m.Madvise(uint64(a), 2*page, unix.MADV_PAGEOUT); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 1)
	for a, want := range map[arch.Addr]byte{d: 0, p: 'A'} {
		if _, err := m.CopyIn(a+page+5, b, IOOpts{}); err != nil || b[0] != want {
			t.Errorf("after MADV_PAGEOUT at %v: %q (%v), want %q", a, b[0], err, want)
		}
	}
	check(t, m)
}

func TestLimitsAS(t *testing.T) {
	m, _, _ := testMM(t, withLimits(Limits{AS: 16 * page, Data: 8 * page, MemLock: 0, Stack: 8 << 20, MaxMapCount: 5}))
	if _, err := m.MMap(0, 17*page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0); errnoOf(err) != unix.ENOMEM {
		t.Errorf("mmap past RLIMIT_AS: %v", err)
	}
	if _, err := m.MMap(0, 9*page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0); errnoOf(err) != unix.ENOMEM {
		t.Errorf("writable mmap past RLIMIT_DATA: %v", err)
	}
	a, err := m.MMap(0, 9*page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
	if err != nil {
		t.Fatalf("read-only mmap within RLIMIT_AS: %v", err)
	}
	if err := m.MProtect(uint64(a), 9*page, rw); errnoOf(err) != unix.ENOMEM {
		t.Errorf("mprotect making data past RLIMIT_DATA: %v", err)
	}
	// The map count: splitting past it fails.
	for i := uint64(0); i < 4; i += 2 {
		if err := m.MProtect(uint64(a)+i*page, page, unix.PROT_NONE); err != nil {
			t.Fatalf("split %d: %v", i, err)
		}
	}
	if err := m.MProtect(uint64(a)+6*page, page, unix.PROT_NONE); errnoOf(err) != unix.ENOMEM {
		t.Errorf("split past the map count: %v (%d vmas)", err, len(m.VMAs()))
	}
	check(t, m)
}

// The heap is a vma of its own above the data segment's bss, as Linux's
// do_brk_flags leaves it: its first pages do not merge into the bss vma
// ending at start_brk, later ones extend the heap, and only the heap is
// [heap] (vma_is_initial_heap: it must reach above start_brk and start
// below brk), not the bss, even while the heap is empty.
func TestBrkAboveBSS(t *testing.T) {
	m, _, _ := testMM(t)
	const base = 0x60_0000
	anon(t, m, base-2*page, 2*page, rw) // the bss
	m.BrkSetup(base, arch.AddrRange{})
	if vs := m.VMAs(); len(vs) != 1 || vs[0].Name != "" {
		t.Errorf("empty heap: %v, want the bss unnamed", vs)
	}
	for _, brk := range []uint64{base + page + 5, base + 3*page} {
		if got, err := m.Brk(brk); err != nil || got != arch.Addr(brk) {
			t.Fatalf("brk(%#x): %v, %v", brk, got, err)
		}
	}
	vs := m.VMAs()
	if len(vs) != 2 || vs[0].Range != (arch.AddrRange{Start: base - 2*page, End: base}) || vs[0].Name != "" ||
		vs[1].Range != (arch.AddrRange{Start: base, End: base + 3*page}) || vs[1].Name != "[heap]" {
		t.Errorf("bss and heap: %v", vs)
	}
	check(t, m)
}

// VmExe is the pages from start_code to end_code, VmLib the rest of the
// executable, not writable, non-stack vmas (exec_vm), as Linux's
// task_mem: mprotect moves a vma in and out of exec_vm.
func TestCodeAndLibSize(t *testing.T) {
	m, _, _ := testMM(t)
	const text = 0x40_1000
	anon(t, m, text, 4*page, unix.PROT_READ|unix.PROT_EXEC)
	m.SetCode(arch.AddrRange{Start: text + 0x10, End: text + 3*page + 1})
	lib := anon(t, m, 0, 2*page, unix.PROT_READ|unix.PROT_EXEC)
	if s := m.Stats(); s.CodeSize != 4*page || s.LibSize != 2*page {
		t.Errorf("VmExe %#x VmLib %#x, want 4 pages and 2", s.CodeSize, s.LibSize)
	}
	if err := m.MProtect(uint64(lib), page, rw); err != nil {
		t.Fatal(err)
	}
	if err := m.MProtect(text, 2*page, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	// exec_vm is 3 pages now: VmExe is no more than that, VmLib nothing.
	if s := m.Stats(); s.CodeSize != 3*page || s.LibSize != 0 {
		t.Errorf("after mprotect: VmExe %#x VmLib %#x, want 3 pages and none", s.CodeSize, s.LibSize)
	}
	check(t, m)
}

func TestBrk(t *testing.T) {
	m, _, _ := testMM(t, withLimits(Limits{AS: Unlimited, Data: 64 * page, MemLock: 0, Stack: 8 << 20, MaxMapCount: DefaultMaxMapCount}))
	const base = 0x60_0000
	m.BrkSetup(base, arch.AddrRange{})
	if got, err := m.Brk(0); got != base || err == nil {
		t.Errorf("brk(0) = %v, %v; want the break and an error", got, err)
	}
	got, err := m.Brk(base + 3*page + 5)
	if err != nil || got != base+3*page+5 {
		t.Fatalf("brk grow: %v, %v", got, err)
	}
	if vs := m.VMAs(); len(vs) != 1 || vs[0].Range != (arch.AddrRange{Start: base, End: base + 4*page}) || vs[0].Name != "[heap]" {
		t.Errorf("heap: %v", vs)
	}
	if _, err := m.CopyOut(base+3*page+4, []byte{1}, IOOpts{}); err != nil {
		t.Errorf("write to the heap: %v", err)
	}
	if got, _ := m.Brk(base + 100*page); got != base+3*page+5 {
		t.Errorf("brk past RLIMIT_DATA moved the break to %v", got)
	}
	if got, err := m.Brk(base + page); err != nil || got != base+page {
		t.Errorf("brk shrink: %v, %v", got, err)
	}
	if got, err := m.Brk(base + 2*page); err != nil || got != base+2*page || readByte(t, m, base+page+4) != 0 {
		t.Errorf("regrown heap: %v, %v, not zero", got, err)
	}
	// A mapping in the way (within a page and a guard gap) stops growth.
	anon(t, m, base+0x200000, page, rw)
	if got, _ := m.Brk(base + 0x200000 - page); got != base+2*page {
		t.Errorf("brk ran into a mapping: %v", got)
	}
	check(t, m)
}

func TestMadviseAndMinCore(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(page))
	const W = 0x1000_0000
	anon(t, m, W, 4*page, rw)
	vec := make([]byte, 4)
	if err := m.MinCore(W, 4*page, vec); err != nil || !bytes.Equal(vec, []byte{0, 0, 0, 0}) {
		t.Errorf("mincore before touching: %v %v", vec, err)
	}
	m.CopyOut(W+page, []byte{1}, IOOpts{})
	if err := m.Madvise(W+2*page, 2*page, unix.MADV_POPULATE_WRITE); err != nil {
		t.Fatal(err)
	}
	if err := m.MinCore(W, 4*page, vec); err != nil || !bytes.Equal(vec, []byte{0, 1, 1, 1}) {
		t.Errorf("mincore after touching: %v %v", vec, err)
	}
	if err := m.MinCore(W, 5*page, make([]byte, 5)); errnoOf(err) != unix.ENOMEM {
		t.Errorf("mincore past the mapping: %v", err)
	}
	if err := m.MinCore(W, 4*page, make([]byte, 3)); errnoOf(err) != unix.EFAULT {
		t.Errorf("mincore with a short vector: %v", err)
	}
	if err := m.Madvise(W, 4*page, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if m.Stats().RSS != 0 {
		t.Errorf("RSS %#x after DONTNEED", m.Stats().RSS)
	}
	if err := m.Madvise(W, 4*page, unix.MADV_WILLNEED); err != nil {
		t.Error(err)
	}
	check(t, m)
}

func TestMempolicy(t *testing.T) {
	m, _, _ := testMM(t)
	const W = 0x1000_0000
	anon(t, m, W, 4*page, rw)
	if err := m.MBind(W+page, page, unix.MPOL_BIND, []uint64{1}, 2, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(m.VMAs()); n != 3 {
		t.Errorf("mbind split into %d vmas, want 3", n)
	}
	mode, mask, err := m.GetMempolicy(W+page, unix.MPOL_F_ADDR, 64, true, TaskMempolicy{})
	if err != nil || mode != unix.MPOL_BIND || mask != 1 {
		t.Errorf("get_mempolicy: %d %v %v", mode, mask, err)
	}
	for _, tc := range []struct {
		name        string
		mode        uint64
		mask        []uint64
		addr, len   uint64
		flags, want uint64
	}{
		{"node 1 does not exist", unix.MPOL_BIND, []uint64{2}, W, page, 0, uint64(unix.EINVAL)},
		{"default with nodes", unix.MPOL_DEFAULT, []uint64{1}, W, page, 0, uint64(unix.EINVAL)},
		{"bad mode", 99, []uint64{1}, W, page, 0, uint64(unix.EINVAL)},
		{"bad flags", unix.MPOL_BIND, []uint64{1}, W, page, 64, uint64(unix.EINVAL)},
		{"hole", unix.MPOL_BIND, []uint64{1}, W, 8 * page, 0, uint64(unix.EFAULT)},
		{"unaligned", unix.MPOL_BIND, []uint64{1}, W + 1, page, 0, uint64(unix.EINVAL)},
		{"preferred empty is local", unix.MPOL_PREFERRED, nil, W, page, 0, 0},
		{"back to default", unix.MPOL_DEFAULT, nil, W, 4 * page, 0, 0},
	} {
		if got := errnoOf(m.MBind(tc.addr, tc.len, tc.mode, tc.mask, 64, tc.flags)); uint64(got) != tc.want {
			t.Errorf("mbind %s: %v, want %v", tc.name, got, unix.Errno(tc.want))
		}
	}
	if n := len(m.VMAs()); n != 1 {
		t.Errorf("after resetting the policy: %d vmas, want 1", n)
	}
	if _, _, err := m.GetMempolicy(W+8*page, unix.MPOL_F_ADDR, 64, true, TaskMempolicy{}); errnoOf(err) != unix.EFAULT {
		t.Errorf("get_mempolicy of nothing: %v", err)
	}
}

// TestMempolicyHomeNode checks set_mempolicy_home_node: a vma with no
// policy is passed over (ENOENT when none has one), a BIND vma gets the
// home node split off at the range's ends, an INTERLEAVE one is
// EOPNOTSUPP, and mbind's reset to the default merges them all back.
func TestMempolicyHomeNode(t *testing.T) {
	m, _, _ := testMM(t)
	const W = 0x1000_0000
	anon(t, m, W, 4*page, rw)
	if err := m.SetHomeNode(W, 4*page, 0, 0); errnoOf(err) != unix.ENOENT {
		t.Errorf("home node with no policy: %v, want ENOENT", err)
	}
	if err := m.MBind(W, 2*page, unix.MPOL_BIND, []uint64{1}, 2, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.SetHomeNode(W+page, 3*page, 0, 0); err != nil {
		t.Errorf("home node on a BIND vma: %v", err)
	}
	if n := len(m.VMAs()); n != 3 {
		t.Errorf("home node split into %d vmas, want 3 (BIND, BIND with home, default)", n)
	}
	for _, tc := range []struct {
		name                string
		addr, len, node, fl uint64
	}{
		{"node 1", W, page, 1, 0},
		{"flags", W, page, 0, 1},
		{"unaligned", W + 1, page, 0, 0},
	} {
		if err := m.SetHomeNode(tc.addr, tc.len, tc.node, tc.fl); errnoOf(err) != unix.EINVAL {
			t.Errorf("%s: %v, want EINVAL", tc.name, err)
		}
	}
	if err := m.MBind(W+3*page, page, unix.MPOL_INTERLEAVE, []uint64{1}, 2, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.SetHomeNode(W+3*page, page, 0, 0); errnoOf(err) != unix.EOPNOTSUPP {
		t.Errorf("home node on an INTERLEAVE vma: %v, want EOPNOTSUPP", err)
	}
	if err := m.MBind(W, 4*page, unix.MPOL_DEFAULT, nil, 0, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(m.VMAs()); n != 1 {
		t.Errorf("after resetting the policy: %d vmas, want 1", n)
	}
}

// TestPageNodes checks move_pages' query: a mapped page is on node 0, a
// page of a vma with none mapped -ENOENT, an address in no vma -EFAULT.
func TestPageNodes(t *testing.T) {
	m, _, _ := testMM(t)
	const W = 0x1000_0000
	anon(t, m, W, 4*page, rw)
	if _, err := m.CopyOut(W+5, []byte{1}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	addrs := []uint64{W + 5, W + 3*page, W + 8*page}
	status := make([]int32, len(addrs))
	m.PageNodes(addrs, status)
	want := []int32{0, 0, -int32(unix.EFAULT)}
	if m.Stats().RSS < 4*page {
		want[1] = -int32(unix.ENOENT) // not faulted around with the first page
	}
	if !slices.Equal(status, want) {
		t.Errorf("status %v, want %v", status, want)
	}
	if err := m.Madvise(W, 4*page, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	m.PageNodes(addrs[:1], status)
	if status[0] != -int32(unix.ENOENT) {
		t.Errorf("after MADV_DONTNEED: %d, want -ENOENT", status[0])
	}
}

func TestCopyPartial(t *testing.T) {
	m, _, _ := testMM(t)
	const W = 0x1000_0000
	anon(t, m, W, 2*page, rw)
	n, err := m.CopyOut(W+page+page-2, []byte{1, 2, 3, 4}, IOOpts{})
	if n != 2 || errnoOf(err) != unix.EFAULT {
		t.Errorf("CopyOut across the end: %d, %v", n, err)
	}
	n, err = m.CopyIn(arch.Addr(maxU-1), make([]byte, 4), IOOpts{})
	if n != 0 || errnoOf(err) != unix.EFAULT {
		t.Errorf("CopyIn at the top of memory: %d, %v", n, err)
	}
	if n, err := m.ZeroOut(W, 2*page, IOOpts{}); n != 2*page || err != nil {
		t.Errorf("ZeroOut: %d %v", n, err)
	}
}

func TestMapsFormat(t *testing.T) {
	m, _, _ := testMM(t)
	anon(t, m, 0x1000_0000, page, unix.PROT_READ|unix.PROT_EXEC)
	m.MMap(0x2000_0000, page, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0)
	got := m.Maps()
	want := "10000000-10001000 r-xp 00000000 00:00 0 \n"
	if !bytes.HasPrefix([]byte(got), []byte(want[:len(want)-2])) {
		t.Errorf("maps:\n%s", got)
	}
	if !bytes.Contains([]byte(got), []byte("rw-s 00000000 00:01")) || !bytes.Contains([]byte(got), []byte("/dev/zero (deleted)")) {
		t.Errorf("shared anonymous line missing:\n%s", got)
	}
	if s := m.SMaps(); !bytes.Contains([]byte(s), []byte("Rss:")) {
		t.Errorf("smaps:\n%s", s)
	}
}

// A file without VM_MAYWRITE (NoMayWrite, as Linux's [vvar]) maps
// privately read-only and can never be made writable: mmap and mprotect
// asking for PROT_WRITE get EACCES, and the mapping stays private.
func TestNoMayWriteFile(t *testing.T) {
	m, _, _ := testMM(t)
	f := testFile(t, m, page, 'v')
	f.Writable, f.NoMayWrite = false, true
	if _, err := m.MMap(0, page, rw, unix.MAP_PRIVATE, f, 0); err != unix.EACCES {
		t.Errorf("mmap PROT_WRITE: %v, want EACCES", err)
	}
	a, err := m.MMap(0, page, unix.PROT_READ, unix.MAP_PRIVATE, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.MProtect(uint64(a), page, rw); err != unix.EACCES {
		t.Errorf("mprotect PROT_WRITE: %v, want EACCES", err)
	}
	if err := m.MProtect(uint64(a), page, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Errorf("mprotect PROT_EXEC: %v", err)
	}
	if got := readByte(t, m, a); got != 'v' {
		t.Errorf("read %q", got)
	}
	if vs := m.VMAs(); len(vs) != 1 || vs[0].Shared || vs[0].MaxPerms.Write {
		t.Errorf("vmas %+v", vs)
	}
}

// A special mapping of pages with no struct page behind them (SpecialPFN,
// as [vvar]) is resident but counts for nothing in smaps' Rss, as Linux's
// page walk skips them.
func TestPFNMapNotResident(t *testing.T) {
	m, _, _ := testMM(t)
	f := testFile(t, m, page, 'v')
	f.Writable, f.NoMayWrite, f.Special = false, true, SpecialPFN
	a, err := m.MMap(0, page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_POPULATE, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := readByte(t, m, a); got != 'v' {
		t.Errorf("read %q", got)
	}
	if vs := m.VMAs(); len(vs) != 1 || vs[0].Resident != 0 || !strings.Contains(vs[0].Flags, "pf ") {
		t.Errorf("vmas %+v, want one VM_PFNMAP vma with nothing resident", vs)
	}
}

// TestMLockOnFaultFaultsOnePage: a fault in a vma locked with
// MLOCK_ONFAULT makes only its own page resident, not the fault-around
// unit, so smaps' Rss (and Locked) count the touched page alone, as on
// Linux (the mm selftest mlock2-tests' test_mlock_onfault).
func TestMLockOnFaultFaultsOnePage(t *testing.T) {
	m, _, _ := testMM(t)
	a := anon(t, m, 0, 4*page, rw)
	if err := m.MLock2(uint64(a), 4*page, unix.MLOCK_ONFAULT); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleUserFault(a+page, arch.Write); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(a+2*page, []byte{1}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	for _, v := range m.VMAs() {
		if v.Range.Start == a && v.Resident != 2*page {
			t.Errorf("resident after touching 2 of 4 lazily locked pages: %#x, want %#x", v.Resident, 2*page)
		}
	}
}
