package mm

import (
	"encoding/binary"
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
