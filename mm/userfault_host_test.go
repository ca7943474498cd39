package mm

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// hostUffd is a userfaultfd of this test process, on the host kernel.
type hostUffd int

func newHostUffd(t *testing.T) hostUffd {
	t.Helper()
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if e != 0 {
		t.Skipf("host userfaultfd: %v", e)
	}
	t.Cleanup(func() { unix.Close(int(fd)) })
	return hostUffd(fd)
}

// ioctl makes the request on words (the struct, as 64-bit words) and
// returns the errno and the words after.
func (h hostUffd) ioctl(req uintptr, words ...uint64) (unix.Errno, []uint64) {
	b := make([]byte, 8*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(h), req, uintptr(unsafe.Pointer(&b[0])))
	out := make([]uint64, len(words))
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return e, out
}

// TestUserFaultMatchesHost makes the same UFFDIO calls on the host kernel,
// over a native mapping, and on mm, over one laid out alike (four pages,
// the last unmapped), and compares errors and counts.
func TestUserFaultMatchesHost(t *testing.T) {
	const (
		apiReq   = 0xC018AA3F
		regReq   = 0xC020AA00
		unregReq = 0x8010AA01
		wakeReq  = 0x8010AA02
		copyReq  = 0xC028AA03
		zeroReq  = 0xC020AA04
	)
	h := newHostUffd(t)
	var ioctlsWord uint64 = UffdAPIIoctls
	apiIoctls := int64(ioctlsWord)
	hmem, err := unix.Mmap(-1, 0, 5*int(page), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(hmem)
	hbase := uint64(uintptr(unsafe.Pointer(&hmem[0])))
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(hbase+4*page), uintptr(page), 0); e != 0 {
		t.Fatal(e)
	}
	hsrc := make([]byte, 4*page+page)
	hsrcAddr := (uint64(uintptr(unsafe.Pointer(&hsrc[0]))) + page - 1) &^ (page - 1)

	m, _, _ := testMM(t)
	base := uint64(anon(t, m, 0, 5*page, unix.PROT_READ|unix.PROT_WRITE))
	if err := m.MUnmap(base+4*page, page); err != nil {
		t.Fatal(err)
	}
	src := uint64(anon(t, m, 0, 4*page, unix.PROT_READ|unix.PROT_WRITE))
	u := m.NewUserFaultFD(false, nil)
	defer u.Release()

	type step struct {
		name string
		host func() (unix.Errno, int64)
		mm   func() (unix.Errno, int64)
	}
	// off is an offset from the mapping's start; the same on both sides.
	reg := func(off, length, mode uint64) step {
		return step{"register", func() (unix.Errno, int64) {
			e, _ := h.ioctl(regReq, hbase+off, length, mode, 0)
			return e, 0
		}, func() (unix.Errno, int64) {
			_, err := u.Register(base+off, length, mode)
			return errnoOf(err), 0
		}}
	}
	unreg := func(off, length uint64) step {
		return step{"unregister", func() (unix.Errno, int64) {
			e, _ := h.ioctl(unregReq, hbase+off, length)
			return e, 0
		}, func() (unix.Errno, int64) { return errnoOf(u.Unregister(base+off, length)), 0 }}
	}
	cp := func(off, soff, length, mode uint64) step {
		return step{"copy", func() (unix.Errno, int64) {
			e, w := h.ioctl(copyReq, hbase+off, hsrcAddr+soff, length, mode, 0)
			return e, int64(w[4])
		}, func() (unix.Errno, int64) {
			n, err := u.Copy(base+off, src+soff, length, mode, nil)
			e := errnoOf(err)
			switch {
			case n < 0:
				n = 0 // the field is not written
			case e != 0:
				n = -int64(e)
			case uint64(n) != length:
				e = unix.EAGAIN
			}
			return e, n
		}}
	}
	zero := func(off, length, mode uint64) step {
		return step{"zeropage", func() (unix.Errno, int64) {
			e, w := h.ioctl(zeroReq, hbase+off, length, mode, 0)
			return e, int64(w[3])
		}, func() (unix.Errno, int64) {
			n, err := u.ZeroPage(base+off, length, mode)
			e := errnoOf(err)
			switch {
			case n < 0:
				n = 0 // the field is not written
			case e != 0:
				n = -int64(e)
			case uint64(n) != length:
				e = unix.EAGAIN
			}
			return e, n
		}}
	}
	wake := func(off, length uint64) step {
		return step{"wake", func() (unix.Errno, int64) {
			e, _ := h.ioctl(wakeReq, hbase+off, length)
			return e, 0
		}, func() (unix.Errno, int64) { return errnoOf(u.Wake(base+off, length)), 0 }}
	}
	api := func(features uint64) step {
		return step{"api", func() (unix.Errno, int64) {
			e, w := h.ioctl(apiReq, 0xAA, features, 0)
			return e, int64(w[2])
		}, func() (unix.Errno, int64) {
			_, err := u.API(features)
			var ioctls int64
			if err == nil {
				ioctls = apiIoctls
			}
			return errnoOf(err), ioctls
		}}
	}
	steps := []step{
		api(1 << 31), api(1 << 30), api(0),
		reg(0, page, 0), reg(0, page, 8), reg(1, page, 1), reg(0, page+1, 1), reg(0, 0, 1),
		reg(4*page, page, 1),
		reg(0, 5*page, 1), reg(page, page, 1),
		cp(0, 0, page, 0), cp(0, 0, page, 0), cp(page, 8, page, 0), cp(0, 0, page, 4),
		cp(2*page, 0, 3*page, 0), cp(page, 0, 3*page, 1),
		zero(0, page, 0), zero(3*page, page, 2), zero(1, page, 0),
		wake(0, page), wake(1, page), wake(0, 0),
		unreg(0, 4*page), unreg(4*page, page), unreg(0, 5*page), cp(3*page, 0, page, 0),
	}
	for i, s := range steps {
		he, hn := s.host()
		me, mn := s.mm()
		if he != me || hn != mn {
			t.Errorf("step %d %s: host %v (%d), mm %v (%d)", i, s.name, he, hn, me, mn)
		}
	}
	_ = arch.PageSize
}

// hostPagemap returns the host's pagemap entries of n pages at addr.
func hostPagemap(t *testing.T, addr uint64, n int) []uint64 {
	t.Helper()
	fd, err := unix.Open("/proc/self/pagemap", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	b := make([]byte, 8*n)
	if _, err := unix.Pread(fd, b, int64(addr/page*8)); err != nil {
		t.Fatal(err)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

// waitMsg waits up to a second for a message on the host context.
func (h hostUffd) waitMsg(t *testing.T) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(h), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 1000); n != 1 || err != nil {
		t.Fatalf("host userfaultfd: no message (%d, %v)", n, err)
	}
}

// readMsg waits for the host context's next message and returns its
// event and argument words.
func (h hostUffd) readMsg(t *testing.T) (uint8, [3]uint64) {
	t.Helper()
	h.waitMsg(t)
	var b [32]byte
	if n, err := unix.Read(int(h), b[:]); n != 32 || err != nil {
		t.Fatalf("host userfaultfd read: %d, %v", n, err)
	}
	le := binary.LittleEndian
	return b[0], [3]uint64{le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])}
}

// TestUserFaultWPMatchesHost write-protects private anonymous memory
// (UFFDIO_REGISTER_MODE_WP, UFFDIO_WRITEPROTECT, UFFDIO_COPY_MODE_WP) on
// the host kernel and on mm, at the same addresses, and compares the
// ioctls' answers, the VmFlags, pagemap's present and uffd-wp bits, the
// message of a kernel write to a protected page, and EAGAIN while an
// event is unread.
func TestUserFaultWPMatchesHost(t *testing.T) {
	const (
		apiReq   = 0xC018AA3F
		regReq   = 0xC020AA00
		unregReq = 0x8010AA01
		copyReq  = 0xC028AA03
		zeroReq  = 0xC020AA04
		wpReq    = 0xC018AA06
		features = UffdFeaturePagefaultWP | UffdFeatureEventRemove
	)
	h := newHostUffd(t)
	if e, _ := h.ioctl(apiReq, 0xAA, features, 0); e != 0 {
		t.Skipf("host UFFDIO_API with WP: %v", e)
	}
	if got := hostLayout(t); len(got) != 0 {
		t.Fatalf("the host window is not empty: %v", got)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, win, winSize, 0)
	m, _, _ := testMM(t, withFaultAround(page)) // each page faults in alone, as Linux's anonymous memory
	u := m.NewUserFaultFD(false, nil)
	defer u.Release()
	if _, err := u.API(features); err != nil {
		t.Fatal(err)
	}
	both := func(ops ...hop) {
		t.Helper()
		for _, op := range ops {
			hr, he := runHost(op)
			mr, me := runMM(m, op)
			if hr != mr || he != me {
				t.Fatalf("op %d %#x: host %#x %v, mm %#x %v", op.nr, op.a, hr, he, mr, me)
			}
		}
	}
	src := uint64(win + 8*page) // a source page for UFFDIO_COPY on both
	both(mapAnon(win, 4*page, unix.PROT_READ|unix.PROT_WRITE), mapAnon(src, page, unix.PROT_READ|unix.PROT_WRITE),
		wr(win, 1), wr(win+page, 2), wr(src, 3))

	const known = uffdRangeIoctls | uffdWPIoctl
	type answer struct {
		errno unix.Errno
		word  int64
	}
	step := func(name string, host func() answer, mmSide func() answer) {
		t.Helper()
		if ha, ma := host(), mmSide(); ha != ma {
			t.Errorf("%s: host %v, mm %v", name, ha, ma)
		}
	}
	wp := func(off, length, mode uint64) {
		t.Helper()
		step(fmt.Sprintf("writeprotect(%#x, %#x, %d)", off, length, mode), func() answer {
			e, _ := h.ioctl(wpReq, win+off, length, mode)
			return answer{e, 0}
		}, func() answer { return answer{errnoOf(u.WriteProtect(win+off, length, mode)), 0} })
	}
	reg := func(off, length, mode uint64) {
		t.Helper()
		step(fmt.Sprintf("register(%#x, %#x, %d)", off, length, mode), func() answer {
			e, w := h.ioctl(regReq, win+off, length, mode, 0)
			return answer{e, int64(w[3] & known)}
		}, func() answer {
			ioctls, err := u.Register(win+off, length, mode)
			return answer{errnoOf(err), int64(ioctls)}
		})
	}
	cp := func(off, length, mode uint64) {
		t.Helper()
		step(fmt.Sprintf("copy(%#x, %#x, %d)", off, length, mode), func() answer {
			e, w := h.ioctl(copyReq, win+off, src, length, mode, 0)
			return answer{e, int64(w[4])}
		}, func() answer {
			n, err := u.Copy(win+off, src, length, mode, nil)
			e := errnoOf(err)
			if e != 0 {
				n = -int64(e)
			}
			return answer{e, n}
		})
	}
	pagemap := func(when string) {
		t.Helper()
		const bits = PagemapPresent | PagemapUffdWP
		hp := hostPagemap(t, win, 4)
		mp := make([]uint64, 4)
		m.Pagemap(win, mp)
		for i := range hp {
			if hp[i]&bits != mp[i]&bits {
				t.Errorf("%s: page %d: host pagemap %#x, mm %#x", when, i, hp[i]&bits, mp[i]&bits)
			}
		}
	}
	vmflags := func(when string) {
		t.Helper()
		if hf, mf := hostVMFlags(t), mmVMFlags(m); !slices.Equal(hf, mf) {
			t.Errorf("%s: VmFlags differ:\nhost %s\nmm   %s", when, strings.Join(hf, "\n     "), strings.Join(mf, "\n     "))
		}
	}

	wp(0, page, 1) // not registered
	reg(0, 4*page, UffdRegisterModeWP)
	vmflags("registered WP")
	reg(0, 4*page, UffdRegisterModeWP|UffdRegisterModeMissing)
	vmflags("registered MISSING|WP")
	wp(0, page, 3)
	wp(0, page, 4)
	wp(1, page, 1)
	wp(0, 0, 1)
	wp(4*page, page, 1) // no vma
	wp(0, 2*page, 1)
	pagemap("after protecting pages 0 and 1")
	cp(2*page, page, UffdCopyModeWP)
	cp(3*page, page, 0)
	pagemap("after copies")
	wp(page, page, 0)
	wp(0, 8*page, 1) // the vma and the hole after it
	wp(0, 9*page, 1) // on into the source's vma: ENOENT, the first protected
	pagemap("after unprotecting page 1 and protecting all")
	wp(page, 3*page, 0)
	pagemap("after unprotecting pages 1-3")

	// A kernel write to a protected page: a WP message, and the write
	// goes on once the page is unprotected.
	done := make(chan answer, 1)
	go func() {
		n, e := kernelCopy(unix.SYS_PREAD64, win, 8)
		done <- answer{e, int64(n)}
	}()
	hev, harg := h.readMsg(t)
	n, err := m.CopyOut(win, make([]byte, 8), IOOpts{UserFaults: true})
	w, ok := UserFaultWaitOf(err)
	if n != 0 || !ok {
		t.Fatalf("mm CopyOut to a protected page: %d, %v", n, err)
	}
	mev, marg, _, _ := u.ReadMessage()
	if hev != mev || harg[0] != marg[0] || harg[1] != marg[1] {
		t.Errorf("write fault message: host %#x %#x, mm %#x %#x", hev, harg[:2], mev, marg[:2])
	}
	wp(0, page, 0)
	if ha := <-done; ha != (answer{0, 8}) {
		t.Errorf("host pread after the wake: %v", ha)
	}
	if !ready(w) {
		t.Errorf("mm: the write's wait is not woken by unprotecting")
	}
	if n, err := m.CopyOut(win, make([]byte, 8), IOOpts{UserFaults: true}); n != 8 || err != nil {
		t.Errorf("mm CopyOut after the wake: %d, %v", n, err)
	}

	// While an event is unread the handler is refused (mmap_changing).
	wp(0, page, 1)
	go func() {
		_, e := runHost(sys(unix.SYS_MADVISE, win+3*page, page, unix.MADV_DONTNEED))
		done <- answer{e, 0}
	}()
	h.waitMsg(t)
	if err := m.Madvise(win+3*page, page, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	wp(0, page, 0)
	cp(3*page, page, 0)
	step("zeropage while an event is unread", func() answer {
		e, w := h.ioctl(zeroReq, win+3*page, page, 0, 0)
		return answer{e, int64(w[3])}
	}, func() answer {
		n, err := u.ZeroPage(win+3*page, page, 0)
		return answer{errnoOf(err), -int64(errnoOf(err)) + n}
	})
	hev, harg = h.readMsg(t)
	mev, marg, _, _ = u.ReadMessage()
	if hev != mev || harg != marg {
		t.Errorf("remove event: host %#x %#x, mm %#x %#x", hev, harg, mev, marg)
	}
	<-done
	m.TakeEventWaits()
	wp(0, page, 0)
	pagemap("after the event")

	// Unregistering drops the protection.
	wp(0, 4*page, 1)
	step("unregister", func() answer {
		e, _ := h.ioctl(unregReq, win, 4*page)
		return answer{e, 0}
	}, func() answer { return answer{errnoOf(u.Unregister(win, 4*page)), 0} })
	pagemap("after unregistering")
	vmflags("after unregistering")
}

// TestUserFaultMinorMatchesHost registers a memfd's shared and private
// mappings in MINOR mode on the host kernel and on mm, at the same
// addresses, and compares the ioctls' answers, the VmFlags, the messages
// of kernel reads of a page the file holds (minor) and lacks (missing),
// and UFFDIO_CONTINUE's answers.
func TestUserFaultMinorMatchesHost(t *testing.T) {
	const (
		apiReq   = 0xC018AA3F
		regReq   = 0xC020AA00
		contReq  = 0xC020AA07
		features = UffdFeatureMinorShmem | UffdFeatureMissingShmem
	)
	h := newHostUffd(t)
	if e, _ := h.ioctl(apiReq, 0xAA, features, 0); e != 0 {
		t.Skipf("host UFFDIO_API with MINOR_SHMEM: %v", e)
	}
	if got := hostLayout(t); len(got) != 0 {
		t.Fatalf("the host window is not empty: %v", got)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, win, winSize, 0)
	hfd, err := unix.MemfdCreate("uffd-minor", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hfd)
	m, _, mf := testMM(t, withFaultAround(page))
	s := NewMemfd(mf, "uffd-minor", 0)
	defer s.DecRef()
	// Four pages, the first two held.
	if err := unix.Ftruncate(hfd, 4*int64(page)); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(4 * page); err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < 2*int64(page); off += int64(page) {
		unix.Pwrite(hfd, []byte("held"), off)
		s.WriteAt([]byte("held"), uint64(off))
	}
	file := &MappedFile{Mappable: s, Identity: s, Readable: true, Writable: true}
	shared, private := uint64(win), uint64(win+8*page)
	for _, a := range []struct {
		addr  uint64
		flags uint64
	}{{shared, unix.MAP_SHARED}, {private, unix.MAP_PRIVATE}} {
		if _, _, e := unix.Syscall6(unix.SYS_MMAP, uintptr(a.addr), uintptr(4*page), unix.PROT_READ|unix.PROT_WRITE, uintptr(a.flags|unix.MAP_FIXED), uintptr(hfd), 0); e != 0 {
			t.Fatal(e)
		}
		if _, err := m.MMap(a.addr, 4*page, unix.PROT_READ|unix.PROT_WRITE, a.flags|unix.MAP_FIXED, file, 0); err != nil {
			t.Fatal(err)
		}
	}
	anonAt := uint64(win + 16*page)
	hr, he := runHost(mapAnon(anonAt, page, unix.PROT_READ|unix.PROT_WRITE))
	if mr, me := runMM(m, mapAnon(anonAt, page, unix.PROT_READ|unix.PROT_WRITE)); hr != mr || he != me {
		t.Fatalf("anonymous mmap: host %#x %v, mm %#x %v", hr, he, mr, me)
	}
	u := m.NewUserFaultFD(false, nil)
	defer u.Release()
	if _, err := u.API(features); err != nil {
		t.Fatal(err)
	}
	const known = uffdRangeIoctls | uffdWPIoctl | uffdContinueIoctl
	type answer struct {
		errno unix.Errno
		word  int64
	}
	step := func(name string, host func() answer, mmSide func() answer) {
		t.Helper()
		if ha, ma := host(), mmSide(); ha != ma {
			t.Errorf("%s: host %v, mm %v", name, ha, ma)
		}
	}
	reg := func(addr, length, mode uint64) {
		t.Helper()
		step(fmt.Sprintf("register(%#x, %#x, %d)", addr, length, mode), func() answer {
			e, w := h.ioctl(regReq, addr, length, mode, 0)
			return answer{e, int64(w[3] & known)}
		}, func() answer {
			ioctls, err := u.Register(addr, length, mode)
			return answer{errnoOf(err), int64(ioctls)}
		})
	}
	cont := func(addr, length, mode uint64) {
		t.Helper()
		step(fmt.Sprintf("continue(%#x, %#x, %d)", addr, length, mode), func() answer {
			e, w := h.ioctl(contReq, addr, length, mode, 0)
			return answer{e, int64(w[3])}
		}, func() answer {
			n, err := u.Continue(addr, length, mode)
			e := errnoOf(err)
			switch {
			case n < 0:
				n = 0 // the field is not written
			case e != 0:
				n = -int64(e)
			case uint64(n) != length:
				e = unix.EAGAIN
			}
			return answer{e, n}
		})
	}
	// A kernel read of the page at addr: the message on both sides,
	// then cont(addr) lets the host's read finish.
	kread := func(addr uint64, resolve func()) {
		t.Helper()
		done := make(chan answer, 1)
		go func() {
			n, e := kernelCopy(unix.SYS_PWRITE64, addr, 8)
			done <- answer{e, int64(n)}
		}()
		hev, harg := h.readMsg(t)
		n, err := m.CopyIn(arch.Addr(addr), make([]byte, 8), IOOpts{UserFaults: true})
		w, ok := UserFaultWaitOf(err)
		if n != 0 || !ok {
			t.Fatalf("mm CopyIn at %#x: %d, %v", addr, n, err)
		}
		mev, marg, _, _ := u.ReadMessage()
		if hev != mev || harg[0] != marg[0] || harg[1] != marg[1] {
			t.Errorf("read fault message at %#x: host %#x %#x, mm %#x %#x", addr, hev, harg[:2], mev, marg[:2])
		}
		resolve()
		if ha := <-done; ha != (answer{0, 8}) {
			t.Errorf("host read at %#x after the wake: %v", addr, ha)
		}
		if !ready(w) {
			t.Errorf("mm: the read's wait at %#x is not woken", addr)
		}
		if n, err := m.CopyIn(arch.Addr(addr), make([]byte, 8), IOOpts{UserFaults: true}); n != 8 || err != nil {
			t.Errorf("mm CopyIn at %#x after the wake: %d, %v", addr, n, err)
		}
	}

	reg(anonAt, page, UffdRegisterModeMinor)
	reg(shared, 4*page, UffdRegisterModeMinor)
	reg(private, 4*page, UffdRegisterModeMinor|UffdRegisterModeMissing)
	if hf, mf := hostVMFlags(t), mmVMFlags(m); !slices.Equal(hf, mf) {
		t.Errorf("VmFlags differ:\nhost %s\nmm   %s", strings.Join(hf, "\n     "), strings.Join(mf, "\n     "))
	}
	cont(shared, page, 4)
	cont(shared, page, UffdContinueModeWP) // no WP registration
	cont(anonAt, page, 0)
	cont(shared+2*page, page, 0) // a page the file lacks
	cont(shared, page, 0)
	cont(shared, page, 0) // mapped now
	cont(private, 2*page, UffdContinueModeDontWake)
	kread(shared+page, func() { cont(shared+page, page, 0) })
	kread(private+3*page, func() { // MISSING: the file lacks it
		step("zeropage", func() answer {
			e, w := h.ioctl(0xC020AA04, private+3*page, page, 0, 0)
			return answer{e, int64(w[3])}
		}, func() answer {
			n, err := u.ZeroPage(private+3*page, page, 0)
			return answer{errnoOf(err), n}
		})
	})
	// A page the shared mapping filled is a minor fault in the other.
	unix.Pwrite(hfd, []byte("late"), 2*int64(page))
	s.WriteAt([]byte("late"), 2*page)
	kread(private+2*page, func() { cont(private+2*page, page, 0) })
}

// TestUserFaultUnmapEventsMatchHost compares the UFFD_EVENT_UNMAP and
// _REMAP events of mmap(MAP_FIXED) over a registered range, of mremap's
// shrink, of a move onto a registered destination, and of a shrinking
// move of a range whose context asked for REMAP, with the host kernel's.
func TestUserFaultUnmapEventsMatchHost(t *testing.T) {
	const apiReq, regReq = 0xC018AA3F, 0xC020AA00
	if got := hostLayout(t); len(got) != 0 {
		t.Fatalf("the host window is not empty: %v", got)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, win, winSize, 0)
	m, _, _ := testMM(t, withFaultAround(page))
	for _, c := range []struct {
		name     string
		features uint64
		setup    []hop // mappings, each registered whole
		op       hop
	}{
		{"mmap MAP_FIXED", UffdFeatureEventUnmap, []hop{mapAnon(win, 4*page, unix.PROT_READ)},
			mapAnon(win+3*page, page, unix.PROT_READ)},
		{"mremap shrink", UffdFeatureEventUnmap, []hop{mapAnon(win, 4*page, unix.PROT_READ)},
			sys(unix.SYS_MREMAP, win, 3*page, page, 0, 0)},
		{"mremap onto a registered range", UffdFeatureEventUnmap,
			[]hop{mapAnon(win, 2*page, unix.PROT_READ), mapAnon(win+8*page, 2*page, unix.PROT_READ)},
			sys(unix.SYS_MREMAP, win, 2*page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, win+8*page)},
		{"shrinking move with REMAP", UffdFeatureEventUnmap | UffdFeatureEventRemap,
			[]hop{mapAnon(win, 4*page, unix.PROT_READ)},
			sys(unix.SYS_MREMAP, win, 4*page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, win+16*page)},
	} {
		h := newHostUffd(t)
		if e, _ := h.ioctl(apiReq, 0xAA, c.features, 0); e != 0 {
			t.Fatalf("%s: host UFFDIO_API: %v", c.name, e)
		}
		u := m.NewUserFaultFD(false, nil)
		if _, err := u.API(c.features); err != nil {
			t.Fatal(err)
		}
		for _, op := range c.setup {
			runHost(op)
			runMM(m, op)
			if e, _ := h.ioctl(regReq, op.a[0], op.a[1], UffdRegisterModeMissing, 0); e != 0 {
				t.Fatalf("%s: host register: %v", c.name, e)
			}
			if _, err := u.Register(op.a[0], op.a[1], UffdRegisterModeMissing); err != nil {
				t.Fatalf("%s: register: %v", c.name, err)
			}
		}
		done := make(chan unix.Errno, 1)
		go func() {
			_, e := runHost(c.op)
			done <- e
		}()
		var hostEvs, mmEvs []string
		var he unix.Errno
	read:
		for {
			select {
			case he = <-done:
				break read
			default:
			}
			fds := []unix.PollFd{{Fd: int32(h), Events: unix.POLLIN}}
			if n, _ := unix.Poll(fds, 100); n != 1 {
				continue
			}
			var b [32]byte
			if n, _ := unix.Read(int(h), b[:]); n == 32 {
				le := binary.LittleEndian
				hostEvs = append(hostEvs, fmt.Sprintf("%#x %#x", b[0], [3]uint64{le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])}))
			}
		}
		_, me := runMM(m, c.op)
		for {
			ev, arg, _, ok := u.ReadMessage()
			if !ok {
				break
			}
			mmEvs = append(mmEvs, fmt.Sprintf("%#x %#x", ev, arg))
		}
		m.TakeEventWaits()
		if he != me || !slices.Equal(hostEvs, mmEvs) {
			t.Errorf("%s: host %v %v, mm %v %v", c.name, he, hostEvs, me, mmEvs)
		}
		u.Release()
		unix.Syscall(unix.SYS_IOCTL, uintptr(h), 0x8010AA01, uintptr(unsafe.Pointer(&[2]uint64{win, winSize}))) // unregister
		runHost(sys(unix.SYS_MUNMAP, win, winSize))
		runMM(m, sys(unix.SYS_MUNMAP, win, winSize))
	}
}
