package mm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// uffdMM maps n pages of private anonymous memory and registers them
// with a fresh context (UFFDIO_API with features) in MISSING mode.
func uffdMM(t *testing.T, n uint64, features uint64) (*MemoryManager, *UserFaultFD, arch.Addr) {
	t.Helper()
	m, _, _ := testMM(t)
	a := anon(t, m, 0, n*page, unix.PROT_READ|unix.PROT_WRITE)
	u := m.NewUserFaultFD(false, nil)
	if _, err := u.API(features); err != nil {
		t.Fatalf("API: %v", err)
	}
	ioctls, err := u.Register(uint64(a), n*page, UffdRegisterModeMissing)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if ioctls != uffdRangeIoctls {
		t.Errorf("Register's ioctls %#x, want %#x", ioctls, uffdRangeIoctls)
	}
	t.Cleanup(u.Release)
	return m, u, a
}

func ready(w *UserFaultWait) bool {
	select {
	case <-w.Ready():
		return true
	default:
		return false
	}
}

func TestUserFaultMissingCopyWakes(t *testing.T) {
	m, u, a := uffdMM(t, 4, UffdFeatureThreadID)
	err := m.HandleThreadFault(a+page+5, arch.Write, 77)
	w, ok := UserFaultWaitOf(err)
	if !ok {
		t.Fatalf("fault on a missing registered page: %v, want a UserFaultWait", err)
	}
	if !errors.Is(err, unix.EFAULT) {
		t.Errorf("a UserFaultWait is not EFAULT to callers that do not wait")
	}
	if ready(w) {
		t.Fatal("the wait is ready before any fill")
	}
	ev, arg, _, ok := u.ReadMessage()
	if !ok || ev != UffdEventPagefault || arg[0] != UffdPagefaultFlagWrite || arg[1] != uint64(a+page) || arg[2] != 77 {
		t.Fatalf("message %v %#x %v, want a write fault at %#x by thread 77", ev, arg, ok, a+page)
	}
	if _, _, _, ok := u.ReadMessage(); ok {
		t.Fatal("a second message for one fault")
	}
	// The source: another mapping's page, filled with a pattern.
	src := anon(t, m, 0, page, unix.PROT_READ|unix.PROT_WRITE)
	pattern := bytes.Repeat([]byte{0xA5}, int(page))
	if _, err := m.CopyOut(src, pattern, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	n, err := u.Copy(uint64(a+page), uint64(src), page, 0, nil)
	if n != int64(page) || err != nil {
		t.Fatalf("Copy: %d, %v", n, err)
	}
	if !ready(w) {
		t.Fatal("Copy did not wake the fault on its page")
	}
	if err := m.HandleUserFault(a+page+5, arch.Write); err != nil {
		t.Fatalf("the fault retried: %v", err)
	}
	got := make([]byte, page)
	if _, err := m.CopyIn(a+page, got, IOOpts{}); err != nil || !bytes.Equal(got, pattern) {
		t.Fatalf("the copied page reads %v (%x...)", err, got[:4])
	}
	// The page is there: a second copy is EEXIST with nothing done.
	if n, err := u.Copy(uint64(a+page), uint64(src), page, 0, nil); n != 0 || !errors.Is(err, unix.EEXIST) {
		t.Errorf("Copy onto a present page: %d, %v, want EEXIST", n, err)
	}
	// Fault-around filled no neighbour: the next page still faults.
	if _, ok := UserFaultWaitOf(m.HandleUserFault(a+2*page, arch.Read)); !ok {
		t.Error("the neighbour of a copied page was filled")
	}
}

func TestUserFaultCopyPartialAndZeroPage(t *testing.T) {
	m, u, a := uffdMM(t, 4, 0)
	src := anon(t, m, 0, 4*page, unix.PROT_READ|unix.PROT_WRITE)
	if n, err := u.ZeroPage(uint64(a+2*page), page, 0); n != int64(page) || err != nil {
		t.Fatalf("ZeroPage: %d, %v", n, err)
	}
	// Pages 0 and 1 copy, page 2 exists: the count is short, no error.
	n, err := u.Copy(uint64(a), uint64(src), 4*page, UffdCopyModeDontWake, nil)
	if n != int64(2*page) || err != nil {
		t.Fatalf("Copy over a present page: %d, %v, want %d", n, err, 2*page)
	}
	if n, err := u.Copy(uint64(a), uint64(src), page, 1<<5, nil); n != -1 || !errors.Is(err, unix.EINVAL) {
		t.Errorf("Copy with an unknown mode: %d, %v, want EINVAL", n, err)
	}
	if n, err := u.Copy(uint64(a), uint64(src), page, UffdCopyModeWP, nil); n != 0 || !errors.Is(err, unix.EINVAL) {
		t.Errorf("Copy MODE_WP into a range without WP: %d, %v, want EINVAL", n, err)
	}
	// Past the registered vma: ENOENT.
	if n, err := u.Copy(uint64(a+3*page), uint64(src), 2*page, 0, nil); n != 0 || !errors.Is(err, unix.ENOENT) {
		t.Errorf("Copy past the vma: %d, %v, want ENOENT", n, err)
	}
	// The zero page reads as zeros, and a write to it breaks copy-on-write
	// without a message.
	if err := m.HandleUserFault(a+2*page, arch.Write); err != nil {
		t.Fatalf("write to the zero page: %v", err)
	}
	if u.Pending() {
		t.Error("a write to a UFFDIO_ZEROPAGE page queued a message")
	}
}

func TestUserFaultWakeAndDontWake(t *testing.T) {
	m, u, a := uffdMM(t, 2, 0)
	w, ok := UserFaultWaitOf(m.HandleUserFault(a, arch.Read))
	if !ok {
		t.Fatal("no wait")
	}
	if n, err := u.ZeroPage(uint64(a), page, UffdZeropageModeDontWake); n != int64(page) || err != nil {
		t.Fatalf("ZeroPage: %d, %v", n, err)
	}
	if ready(w) {
		t.Fatal("ZEROPAGE_MODE_DONTWAKE woke the fault")
	}
	if err := u.Wake(uint64(a+page), page); err != nil || ready(w) {
		t.Fatalf("Wake of another page: %v, woke %v", err, ready(w))
	}
	if err := u.Wake(uint64(a), page); err != nil || !ready(w) {
		t.Fatalf("Wake of its page: %v, woke %v", err, ready(w))
	}
	// The woken fault's unread message went with it.
	if u.Pending() {
		t.Error("a woken fault's message is still queued")
	}
}

func TestUserFaultReleaseAndCancel(t *testing.T) {
	m, u, a := uffdMM(t, 2, 0)
	w, _ := UserFaultWaitOf(m.HandleUserFault(a, arch.Read))
	w2, _ := UserFaultWaitOf(m.HandleUserFault(a+page, arch.Read))
	if w == nil || w2 == nil {
		t.Fatal("no waits")
	}
	w2.Cancel()
	if _, arg, _, _ := u.ReadMessage(); arg[1] != uint64(a) {
		t.Errorf("first message at %#x, want %#x", arg[1], a)
	}
	if u.Pending() {
		t.Error("a cancelled fault's message is still queued")
	}
	u.Release()
	if !ready(w) {
		t.Fatal("Release did not wake a read fault")
	}
	if err := m.HandleUserFault(a, arch.Read); err != nil {
		t.Fatalf("fault after release: %v", err)
	}
	if _, err := m.NewUserFaultFD(false, nil).Register(uint64(a), 2*page, UffdRegisterModeMissing); err != nil {
		t.Errorf("a released context's range is still registered: %v", err)
	}
}

func TestUserFaultCopyInWaits(t *testing.T) {
	m, u, a := uffdMM(t, 2, 0)
	if n, err := u.ZeroPage(uint64(a), page, 0); n != int64(page) || err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*page)
	n, err := m.CopyIn(a+10, buf, IOOpts{})
	if n != int(page-10) || !errors.Is(err, unix.EFAULT) || u.Pending() {
		t.Fatalf("CopyIn without UserFaults: %d, %v (pending %v), want the first page and EFAULT", n, err, u.Pending())
	}
	n, err = m.CopyIn(a+10, buf, IOOpts{UserFaults: true})
	w, ok := UserFaultWaitOf(err)
	if n != int(page-10) || !ok {
		t.Fatalf("CopyIn with UserFaults: %d, %v, want the first page and a wait", n, err)
	}
	if _, arg, _, _ := u.ReadMessage(); arg[1] != uint64(a+page) || arg[0] != 0 {
		t.Errorf("message %#x, want a read at %#x", arg, a+page)
	}
	u.ZeroPage(uint64(a+page), page, 0)
	if !ready(w) {
		t.Fatal("not woken")
	}
	if n, err := m.CopyIn(a+page, buf[:page], IOOpts{UserFaults: true}); n != int(page) || err != nil {
		t.Fatalf("the rest: %d, %v", n, err)
	}
}

func TestUserFaultSigbusAndUserModeOnly(t *testing.T) {
	m, u, a := uffdMM(t, 1, UffdFeatureSigbus)
	var fe *FaultError
	if err := m.HandleUserFault(a, arch.Read); !errors.As(err, &fe) || fe.Signal != unix.SIGBUS || fe.Code != busAdrErr {
		t.Errorf("UFFD_FEATURE_SIGBUS fault: %v, want SIGBUS BUS_ADRERR", err)
	}
	if u.Pending() {
		t.Error("a SIGBUS fault queued a message")
	}
	m2, _, _ := testMM(t)
	b := anon(t, m2, 0, page, unix.PROT_READ|unix.PROT_WRITE)
	u2 := m2.NewUserFaultFD(true, nil)
	u2.API(0)
	if _, err := u2.Register(uint64(b), page, UffdRegisterModeMissing); err != nil {
		t.Fatal(err)
	}
	defer u2.Release()
	if _, err := m2.CopyIn(b, make([]byte, 8), IOOpts{UserFaults: true}); !errors.Is(err, unix.EFAULT) || u2.Pending() {
		t.Errorf("kernel copy under UFFD_USER_MODE_ONLY: %v, want EFAULT and no message", err)
	}
	if _, ok := UserFaultWaitOf(m2.HandleUserFault(b, arch.Read)); !ok {
		t.Error("user fault under UFFD_USER_MODE_ONLY does not wait")
	}
}

func TestUserFaultRegisterChecks(t *testing.T) {
	m, _, _ := testMM(t)
	a := anon(t, m, 0, 4*page, unix.PROT_READ|unix.PROT_WRITE)
	u := m.NewUserFaultFD(false, nil)
	defer u.Release()
	u2 := m.NewUserFaultFD(false, nil)
	defer u2.Release()
	if _, err := u.API(1 << 31); !errors.Is(err, unix.EINVAL) {
		t.Errorf("API with an unknown feature: %v", err)
	}
	if f, err := u.API(0); err != nil || f != UffdFeatures {
		t.Errorf("API: %#x, %v", f, err)
	}
	if _, err := u.API(0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("a second API: %v, want EINVAL", err)
	}
	for _, c := range []struct {
		name             string
		start, len, mode uint64
		want             error
	}{
		{"mode 0", uint64(a), page, 0, unix.EINVAL},
		{"unknown mode", uint64(a), page, 8, unix.EINVAL},
		{"unaligned start", uint64(a) + 1, page, 1, unix.EINVAL},
		{"unaligned length", uint64(a), page + 1, 1, unix.EINVAL},
		{"empty", uint64(a), 0, 1, unix.EINVAL},
		{"below mmap_min_addr", 0x1000, page, 1, unix.EINVAL},
		{"past user space", uint64(DefaultTopOfUser), page, 1, unix.EINVAL},
		{"no vma", uint64(a) + 8*page, page, 1, unix.EINVAL},
	} {
		if _, err := u.Register(c.start, c.len, c.mode); !errors.Is(err, c.want) {
			t.Errorf("Register %s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := u.Register(uint64(a+page), page, UffdRegisterModeMissing); err != nil {
		t.Fatal(err)
	}
	if got := vmaCount(m); got != 3 {
		t.Errorf("registering the middle page left %d vmas, want 3", got)
	}
	if _, err := u2.Register(uint64(a), 2*page, UffdRegisterModeMissing); !errors.Is(err, unix.EBUSY) {
		t.Errorf("Register over another context's range: %v, want EBUSY", err)
	}
	// A hole in the range is allowed.
	if err := m.MUnmap(uint64(a+3*page), page); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Register(uint64(a), 4*page, UffdRegisterModeMissing); err != nil {
		t.Errorf("Register over a hole: %v", err)
	}
	if err := u2.Unregister(uint64(a), 4*page); err != nil {
		t.Errorf("Unregister: %v", err)
	}
	if got := vmaCount(m); got != 1 {
		t.Errorf("unregistering left %d vmas, want 1 merged", got)
	}
	// Fork: the child's vmas are not registered.
	if _, err := u.Register(uint64(a), 3*page, UffdRegisterModeMissing); err != nil {
		t.Fatal(err)
	}
	child, err := m.Fork(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	if err := child.HandleUserFault(a, arch.Write); err != nil {
		t.Errorf("fault in the child of a registered range: %v", err)
	}
}

func vmaCount(m *MemoryManager) int {
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	return m.vmas.Len()
}

// TestUserFaultShmem: MISSING on a memfd's shared and private mappings:
// a page the object lacks faults to the handler, one it holds does not;
// COPY into the shared mapping fills the object, into the private one a
// private page; a read-only shared mapping cannot be registered.
func TestUserFaultShmem(t *testing.T) {
	m, _, mf := testMM(t)
	s := NewMemfd(mf, "uffd", 0)
	defer s.DecRef()
	if err := s.Truncate(4 * page); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt([]byte("held"), 2*page); err != nil {
		t.Fatal(err)
	}
	file := &MappedFile{Mappable: s, Identity: s, Readable: true, Writable: true}
	shared, err := m.MMap(0, 4*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, file, 0)
	if err != nil {
		t.Fatal(err)
	}
	private, err := m.MMap(0, 4*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE, file, 0)
	if err != nil {
		t.Fatal(err)
	}
	u := m.NewUserFaultFD(false, nil)
	defer u.Release()
	u.API(UffdFeatureMissingShmem)
	for _, a := range []arch.Addr{shared, private} {
		if _, err := u.Register(uint64(a), 4*page, UffdRegisterModeMissing); err != nil {
			t.Fatalf("Register: %v", err)
		}
		if err := m.HandleUserFault(a+2*page, arch.Read); err != nil {
			t.Errorf("fault on a page the object holds: %v", err)
		}
		if _, ok := UserFaultWaitOf(m.HandleUserFault(a, arch.Read)); !ok {
			t.Errorf("fault on a page the object lacks does not wait")
		}
	}
	src := anon(t, m, 0, page, unix.PROT_READ|unix.PROT_WRITE)
	m.CopyOut(src, []byte("copied"), IOOpts{})
	if n, err := u.Copy(uint64(shared), uint64(src), page, 0, nil); n != int64(page) || err != nil {
		t.Fatalf("Copy into the shared mapping: %d, %v", n, err)
	}
	got := make([]byte, 6)
	if _, err := s.ReadAt(got, 0); err != nil || string(got) != "copied" {
		t.Errorf("the object reads %q, %v after COPY", got, err)
	}
	if n, err := u.Copy(uint64(shared+2*page), uint64(src), page, 0, nil); n != 0 || !errors.Is(err, unix.EEXIST) {
		t.Errorf("Copy onto a page the object holds: %d, %v, want EEXIST", n, err)
	}
	// The private mapping now reads the object's page: no fault.
	if err := m.HandleUserFault(private, arch.Read); err != nil {
		t.Errorf("private fault after the object was filled: %v", err)
	}
	if n, err := u.ZeroPage(uint64(private+page), page, 0); n != int64(page) || err != nil {
		t.Errorf("ZeroPage into the private mapping: %d, %v", n, err)
	}
	if s.hasPage(page) {
		t.Error("ZeroPage into a private mapping filled the object")
	}
	ro := &MappedFile{Mappable: s, Identity: s, Readable: true}
	rodata, err := m.MMap(0, page, unix.PROT_READ, unix.MAP_SHARED, ro, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Register(uint64(rodata), page, UffdRegisterModeMissing); !errors.Is(err, unix.EPERM) {
		t.Errorf("Register of a read-only shared mapping: %v, want EPERM", err)
	}
}

// TestUserFaultEvents: with the event features, fork gives the child a
// context of its own, registered where the parent's was; mremap keeps the
// registration and reports the move; MADV_DONTNEED and munmap report
// their ranges. Each producer's wait ends when its message is read, and
// faults are read before events.
func TestUserFaultEvents(t *testing.T) {
	m, u, a := uffdMM(t, 4, UffdFeatureEventFork|UffdFeatureEventRemap|UffdFeatureEventRemove|UffdFeatureEventUnmap)
	child, err := m.Fork(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	ws := m.TakeEventWaits()
	if len(ws) != 1 || ready(ws[0]) {
		t.Fatalf("fork queued %d event waits", len(ws))
	}
	if _, ok := UserFaultWaitOf(m.HandleUserFault(a, arch.Read)); !ok {
		t.Fatal("parent fault does not wait")
	}
	if ev, arg, _, ok := u.ReadMessage(); ev != UffdEventPagefault || !ok || arg[1] != uint64(a) {
		t.Fatalf("first message %#x %#x, want the fault before the fork event", ev, arg)
	}
	ev, arg, cctx, ok := u.ReadMessage()
	if !ok || ev != UffdEventFork || cctx == nil || !ready(ws[0]) {
		t.Fatalf("fork event %#x %v %v, ready %v", ev, arg, cctx, ready(ws[0]))
	}
	defer cctx.Release()
	w, ok := UserFaultWaitOf(child.HandleUserFault(a+page, arch.Write))
	if !ok || w.ctx != cctx {
		t.Fatalf("child fault: %v, want a wait on the child's context", w)
	}
	if u.Pending() || !cctx.Pending() {
		t.Error("the child's fault went to the parent's context")
	}
	// The monitor fills the child's page from its own memory: a mapping
	// the child does not have.
	src := anon(t, m, 0, page, unix.PROT_READ|unix.PROT_WRITE)
	m.CopyOut(src, []byte("parent"), IOOpts{})
	fromParent := func(addr uint64, b []byte) error {
		_, err := m.CopyIn(arch.Addr(addr), b, IOOpts{})
		return err
	}
	if n, err := cctx.Copy(uint64(a+page), uint64(src), page, 0, fromParent); n != int64(page) || err != nil || !ready(w) {
		t.Fatalf("Copy into the child from the monitor's memory: %d, %v", n, err)
	}
	got := make([]byte, 6)
	if _, err := child.CopyIn(a+page, got, IOOpts{}); err != nil || string(got) != "parent" {
		t.Errorf("the child's page reads %q, %v", got, err)
	}
	// mremap moves the registration.
	to, err := m.MRemap(uint64(a+2*page), 2*page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, uint64(a+64*page))
	if err != nil {
		t.Fatal(err)
	}
	if ev, arg, _, _ := u.ReadMessage(); ev != UffdEventRemap || arg != [3]uint64{uint64(a + 2*page), uint64(to), 2 * page} {
		t.Errorf("remap event %#x %#x", ev, arg)
	}
	// Unmapping the source tells its context too (6.18).
	if ev, arg, _, _ := u.ReadMessage(); ev != UffdEventUnmap || arg != [3]uint64{uint64(a + 2*page), uint64(a + 4*page)} {
		t.Errorf("the move's unmap event %#x %#x", ev, arg)
	}
	if _, ok := UserFaultWaitOf(m.HandleUserFault(to, arch.Read)); !ok {
		t.Error("the moved range is not registered")
	}
	u.Wake(uint64(to), page)
	if err := m.Madvise(uint64(a), page, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if ev, arg, _, _ := u.ReadMessage(); ev != UffdEventRemove || arg != [3]uint64{uint64(a), uint64(a + page)} {
		t.Errorf("remove event %#x %#x", ev, arg)
	}
	if err := m.MUnmap(uint64(a), 2*page); err != nil {
		t.Fatal(err)
	}
	if ev, arg, _, _ := u.ReadMessage(); ev != UffdEventUnmap || arg != [3]uint64{uint64(a), uint64(a + 2*page)} {
		t.Errorf("unmap event %#x %#x", ev, arg)
	}
	if ws := m.TakeEventWaits(); len(ws) != 4 || !ready(ws[0]) || !ready(ws[3]) {
		t.Errorf("%d event waits after four events read", len(ws))
	}
}

// TestUserFaultChecksAllocateNothing checks that asking whether a fault's
// or a copy's result is a userfault costs no allocation when it is not
// one: every fault asks, and machine's benchmark holds a fault to 0.01
// Go allocations (errors.As's target escapes to the heap).
func TestUserFaultChecksAllocateNothing(t *testing.T) {
	fe := error(&FaultError{Signal: unix.SIGSEGV, Err: unix.EFAULT})
	for _, err := range []error{nil, fe} {
		if n := testing.AllocsPerRun(100, func() { UserFaultWaitOf(err) }); n != 0 {
			t.Errorf("UserFaultWaitOf(%v): %v allocations", err, n)
		}
		if n := testing.AllocsPerRun(100, func() { userFaultOf(err) }); n != 0 {
			t.Errorf("userFaultOf(%v): %v allocations", err, n)
		}
	}
}

// TestUserFaultWriteProtect: a program's write to a write-protected page
// reports a WP fault and waits; unprotecting wakes it and lets it write;
// protecting unmaps the page's writable mapping; reads go on meanwhile.
// A fork without UFFD_FEATURE_EVENT_FORK and a move without
// UFFD_FEATURE_EVENT_REMAP leave the pages unprotected.
func TestUserFaultWriteProtect(t *testing.T) {
	m, as, _ := testMM(t, withFaultAround(page))
	a := anon(t, m, 0, 4*page, unix.PROT_READ|unix.PROT_WRITE)
	u := m.NewUserFaultFD(false, nil)
	t.Cleanup(u.Release)
	if _, err := u.API(UffdFeaturePagefaultWP | UffdFeatureThreadID); err != nil {
		t.Fatal(err)
	}
	for p := a; p < a+4*page; p += page {
		if err := m.HandleUserFault(p, arch.Write); err != nil {
			t.Fatal(err)
		}
	}
	if ioctls, err := u.Register(uint64(a), 4*page, UffdRegisterModeWP); err != nil || ioctls != uffdRangeIoctls|uffdWPIoctl {
		t.Fatalf("Register WP: %#x, %v", ioctls, err)
	}
	if err := u.WriteProtect(uint64(a), 2*page, UffdWriteProtectModeWP); err != nil {
		t.Fatal(err)
	}
	if pte, ok := as.Lookup(a); ok && pte.Perms.Write {
		t.Errorf("a protected page is still mapped writable: %v", pte.Perms)
	}
	if err := m.HandleUserFault(a+8, arch.Read); err != nil {
		t.Errorf("read of a protected page: %v", err)
	}
	if err := m.HandleUserFault(a+2*page, arch.Write); err != nil {
		t.Errorf("write of an unprotected page: %v", err)
	}
	w, ok := UserFaultWaitOf(m.HandleThreadFault(a+page+8, arch.Write, 9))
	if !ok {
		t.Fatal("write of a protected page does not wait")
	}
	ev, arg, _, ok := u.ReadMessage()
	if !ok || ev != UffdEventPagefault || arg[0] != UffdPagefaultFlagWrite|UffdPagefaultFlagWP || arg[1] != uint64(a+page) || arg[2] != 9 {
		t.Fatalf("message %#x %#x %v, want a WP write fault at %#x", ev, arg, ok, a+page)
	}
	// Protecting again does not wake; unprotecting with DONTWAKE
	// neither; a plain unprotect does.
	if err := u.WriteProtect(uint64(a+page), page, UffdWriteProtectModeDontWake); err != nil || ready(w) {
		t.Fatalf("unprotect with DONTWAKE: %v, woken %v", err, ready(w))
	}
	if err := u.WriteProtect(uint64(a+page), page, UffdWriteProtectModeWP); err != nil || ready(w) {
		t.Fatalf("protect: %v, woken %v", err, ready(w))
	}
	if err := u.WriteProtect(uint64(a+page), page, 0); err != nil || !ready(w) {
		t.Fatalf("unprotect: %v, woken %v", err, ready(w))
	}
	if err := m.HandleUserFault(a+page+8, arch.Write); err != nil {
		t.Fatalf("the write retried: %v", err)
	}
	if pte, ok := as.Lookup(a + page); !ok || !pte.Perms.Write {
		t.Errorf("the unprotected page is not mapped writable after its write fault")
	}

	// A fork without EVENT_FORK: the child's page is not protected, the
	// parent's still is.
	child, err := m.Fork(NewFakeAddressSpace(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	e := make([]uint64, 1)
	if child.Pagemap(a, e); e[0]&PagemapUffdWP != 0 {
		t.Errorf("the child's page is protected: %#x", e[0])
	}
	if err := child.CheckInvariants(); err != nil {
		t.Error(err)
	}
	if err := child.HandleUserFault(a+8, arch.Write); err != nil {
		t.Errorf("the child's write of a page protected in the parent: %v", err)
	}
	if _, ok := UserFaultWaitOf(m.HandleUserFault(a+8, arch.Write)); !ok {
		t.Errorf("the parent's page is no longer protected after the fork")
	}
	for {
		if _, _, _, ok := u.ReadMessage(); !ok {
			break
		}
	}
	u.Wake(uint64(a), 4*page)

	// A move without EVENT_REMAP takes the pages out of the registration
	// and their protection with them.
	dst := anon(t, m, 0, 4*page, unix.PROT_READ)
	if _, err := m.MRemap(uint64(a), 4*page, 4*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, uint64(dst)); err != nil {
		t.Fatal(err)
	}
	if m.Pagemap(dst, e); e[0]&PagemapUffdWP != 0 {
		t.Errorf("a moved page keeps its protection: %#x", e[0])
	}
	if err := m.HandleUserFault(dst+8, arch.Write); err != nil {
		t.Errorf("write of a moved page: %v", err)
	}
}
