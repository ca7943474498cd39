package syscalls

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// ioc is Linux's _IOC on x86-64.
func ioc(dir, typ, nr, size uint32) uint32 { return dir<<30 | size<<16 | typ<<8 | nr }

// TestUserfaultfdABI: the ioctl numbers are _IOWR/_IOR of the structs'
// sizes, and struct uffd_msg is 32 bytes with its argument at 8.
func TestUserfaultfdABI(t *testing.T) {
	const rw, r = 3, 2
	for _, c := range []struct {
		name      string
		got, want uint32
	}{
		{"UFFDIO_API", uffdioAPIReq, ioc(rw, 0xAA, 0x3F, 24)},
		{"UFFDIO_REGISTER", uffdioRegisterReq, ioc(rw, 0xAA, 0x00, 32)},
		{"UFFDIO_UNREGISTER", uffdioUnregisterReq, ioc(r, 0xAA, 0x01, 16)},
		{"UFFDIO_WAKE", uffdioWakeReq, ioc(r, 0xAA, 0x02, 16)},
		{"UFFDIO_COPY", uffdioCopyReq, ioc(rw, 0xAA, 0x03, 40)},
		{"UFFDIO_ZEROPAGE", uffdioZeropageReq, ioc(rw, 0xAA, 0x04, 32)},
		{"UFFDIO_WRITEPROTECT", uffdioWriteProtReq, ioc(rw, 0xAA, 0x06, 24)},
		{"UFFDIO_CONTINUE", uffdioContinueReq, ioc(rw, 0xAA, 0x07, 32)},
		{"USERFAULTFD_IOC_NEW", userfaultfdIOCNew, ioc(0, 0xAA, 0x00, 0)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// The C layout, as Go lays out the same fields.
	type pagefault struct {
		Flags, Address uint64
		Ptid           uint32
		_              uint32
	}
	type uffdMsg struct {
		Event     uint8
		Reserved1 uint8
		Reserved2 uint16
		Reserved3 uint32
		Arg       pagefault
	}
	var m uffdMsg
	if unsafe.Sizeof(m) != uffdMsgSize || unsafe.Offsetof(m.Arg) != 8 ||
		unsafe.Offsetof(m.Arg)+unsafe.Offsetof(m.Arg.Address) != 16 || unsafe.Offsetof(m.Arg)+unsafe.Offsetof(m.Arg.Ptid) != 24 {
		t.Fatalf("the reference layout is not Linux's")
	}
	b := encodeUffdMsg(0x12, [3]uint64{1, 0x7f0000001000, 77})
	if b[0] != 0x12 || binary.LittleEndian.Uint64(b[8:]) != 1 || binary.LittleEndian.Uint64(b[16:]) != 0x7f0000001000 ||
		binary.LittleEndian.Uint32(b[24:]) != 77 || b[1] != 0 || binary.LittleEndian.Uint32(b[4:]) != 0 {
		t.Errorf("uffd_msg encoded as %x", b)
	}
}

// fakeUffd is a context that answers as told and queues what msgs holds.
type fakeUffd struct {
	initialized bool
	msgs        [][3]uint64
	released    bool
	copied      int64
	copyErr     error
}

func (f *fakeUffd) API(features uint64) (uint64, error) {
	if f.initialized || features != 0 {
		return 0, unix.EINVAL
	}
	f.initialized = true
	return 0x980, nil
}
func (f *fakeUffd) Initialized() bool                                   { return f.initialized }
func (f *fakeUffd) Register(start, length, mode uint64) (uint64, error) { return 0x1c, nil }
func (f *fakeUffd) Unregister(start, length uint64) error               { return nil }
func (f *fakeUffd) Wake(start, length uint64) error                     { return nil }
func (f *fakeUffd) Copy(dst, src, length, mode uint64, _ func(uint64, []byte) error) (int64, error) {
	return f.copied, f.copyErr
}
func (f *fakeUffd) ZeroPage(start, length, mode uint64) (int64, error) { return f.copied, f.copyErr }
func (f *fakeUffd) WriteProtect(start, length, mode uint64) error      { return f.copyErr }
func (f *fakeUffd) Continue(start, length, mode uint64) (int64, error) { return f.copied, f.copyErr }
func (f *fakeUffd) Pending() bool                                      { return len(f.msgs) > 0 }
func (f *fakeUffd) ReadMessage() (uint8, [3]uint64, UserFaultContext, bool) {
	if len(f.msgs) == 0 {
		return 0, [3]uint64{}, nil, false
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return 0x12, m, nil, true
}
func (f *fakeUffd) SetNotify(func()) {}
func (f *fakeUffd) Release()         { f.released = true }

type uffdCalls struct {
	MemoryCalls
	ctx *fakeUffd
}

func (c *uffdCalls) NewUserFault(bool, func()) UserFaultContext { return c.ctx }
func (c *uffdCalls) TakeEventWaits() []UserFaultWait            { return nil }

// TestUserfaultfdFile: the file's flags, read, poll and ioctl framing as
// Linux's fs/userfaultfd.c has them, over a fake context.
func TestUserfaultfdFile(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	ctx := &fakeUffd{}
	p.cfg.Calls = &uffdCalls{ctx: ctx}
	le := binary.LittleEndian
	if got := p.Syscall(unix.SYS_USERFAULTFD, [6]uint64{0x10}); got != neg(unix.EINVAL) {
		t.Errorf("userfaultfd(0x10) = %d, want EINVAL", int64(got))
	}
	fd := p.Syscall(unix.SYS_USERFAULTFD, [6]uint64{unix.O_NONBLOCK})
	if int64(fd) < 0 {
		t.Fatalf("userfaultfd: %d", int64(fd))
	}
	if got := p.Syscall(unix.SYS_FCNTL, [6]uint64{fd, unix.F_GETFL}); got != unix.O_NONBLOCK {
		t.Errorf("F_GETFL = %#x, want O_RDONLY|O_NONBLOCK", got)
	}
	if got := p.Syscall(unix.SYS_READ, [6]uint64{fd, base, 64}); got != neg(unix.EINVAL) {
		t.Errorf("read before UFFDIO_API = %d, want EINVAL", int64(got))
	}
	if got := p.Syscall(unix.SYS_IOCTL, [6]uint64{fd, uffdioRegisterReq, base}); got != neg(unix.EINVAL) {
		t.Errorf("UFFDIO_REGISTER before UFFDIO_API = %d, want EINVAL", int64(got))
	}
	if m, _, _ := p.readiness(fd); uint32(m)&epollErr == 0 {
		t.Errorf("poll before UFFDIO_API = %#x, want EPOLLERR", m)
	}
	api := mem.mem[:24]
	le.PutUint64(api, 0xAB)
	le.PutUint64(api[16:], 5)
	if got := p.Syscall(unix.SYS_IOCTL, [6]uint64{fd, uffdioAPIReq, base}); got != neg(unix.EINVAL) || le.Uint64(api[16:]) != 0 {
		t.Errorf("UFFDIO_API with api 0xAB = %d, struct %x: want EINVAL and zeroed", int64(got), api)
	}
	le.PutUint64(api, 0xAA)
	if got := p.Syscall(unix.SYS_IOCTL, [6]uint64{fd, uffdioAPIReq, base}); got != 0 || le.Uint64(api[8:]) != 0x980 || le.Uint64(api[16:]) != uffdAPIIoctls {
		t.Errorf("UFFDIO_API = %d, struct %x", int64(got), api)
	}
	if got := p.Syscall(unix.SYS_READ, [6]uint64{fd, base, 64}); got != neg(unix.EAGAIN) {
		t.Errorf("read with nothing queued = %d, want EAGAIN", int64(got))
	}
	if m, _, _ := p.readiness(fd); m != 0 {
		t.Errorf("poll with nothing queued = %#x", m)
	}
	ctx.msgs = [][3]uint64{{1, 0x1000, 0}, {0, 0x2000, 0}, {0, 0x3000, 0}}
	if m, _, _ := p.readiness(fd); uint32(m) != epollIn {
		t.Errorf("poll with messages = %#x, want EPOLLIN", m)
	}
	if got := p.Syscall(unix.SYS_READ, [6]uint64{fd, base, 31}); got != neg(unix.EINVAL) {
		t.Errorf("read of 31 bytes = %d, want EINVAL", int64(got))
	}
	if got := p.Syscall(unix.SYS_READ, [6]uint64{fd, base, 70}); got != 64 || le.Uint64(mem.mem[16:]) != 0x1000 || le.Uint64(mem.mem[48:]) != 0x2000 {
		t.Errorf("read of 70 bytes = %d, want two messages", int64(got))
	}
	if got := p.Syscall(unix.SYS_WRITE, [6]uint64{fd, base, 32}); got != neg(unix.EBADF) {
		t.Errorf("write = %d, want EBADF", int64(got))
	}
	// UFFDIO_COPY writes .copy back; a short copy is EAGAIN; a refusal
	// before it began leaves .copy alone.
	cp := mem.mem[:40]
	le.PutUint64(cp[16:], 2*arch.PageSize)
	for _, c := range []struct {
		n        int64
		err      error
		want     uint64
		wantCopy int64
	}{
		{2 * arch.PageSize, nil, 0, 2 * arch.PageSize},
		{arch.PageSize, nil, neg(unix.EAGAIN), arch.PageSize},
		{0, unix.EEXIST, neg(unix.EEXIST), -int64(unix.EEXIST)},
		{-1, unix.EINVAL, neg(unix.EINVAL), 99},
	} {
		le.PutUint64(cp[32:], 99)
		ctx.copied, ctx.copyErr = c.n, c.err
		if got := p.Syscall(unix.SYS_IOCTL, [6]uint64{fd, uffdioCopyReq, base}); got != c.want || int64(le.Uint64(cp[32:])) != c.wantCopy {
			t.Errorf("UFFDIO_COPY of %d, %v = %d, .copy %d; want %d, %d", c.n, c.err, int64(got), int64(le.Uint64(cp[32:])), int64(c.want), c.wantCopy)
		}
	}
	if got := p.Syscall(unix.SYS_IOCTL, [6]uint64{fd, 0xC018AA3E, base}); got != neg(unix.EINVAL) {
		t.Errorf("an unknown ioctl = %d, want EINVAL", int64(got))
	}
	if got := p.Syscall(unix.SYS_CLOSE, [6]uint64{fd}); got != 0 || !ctx.released {
		t.Errorf("close = %d, released %v", int64(got), ctx.released)
	}
	// A blocking file polls EPOLLERR (read may block however poll answers).
	ctx2 := &fakeUffd{initialized: true}
	p.cfg.Calls = &uffdCalls{ctx: ctx2}
	fd = p.Syscall(unix.SYS_USERFAULTFD, [6]uint64{0})
	if m, _, _ := p.readiness(fd); uint32(m) != epollErr {
		t.Errorf("poll of a blocking userfaultfd = %#x, want EPOLLERR", m)
	}
	if got := p.Syscall(unix.SYS_USERFAULTFD, [6]uint64{1}); int64(got) < 0 {
		t.Errorf("userfaultfd(UFFD_USER_MODE_ONLY) = %d", int64(got))
	}
}
