package syscalls

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The tests of fd.go, pipe.go, signal_default.go, sleep.go and
// procinfo.go. Where a call is harmless on the host, the host kernel's
// answer to the same arguments is the expected one.

// sc makes a guest call and returns RAX as a signed value.
func sc(p *Process, nr uint64, args ...uint64) int64 {
	var a [6]uint64
	copy(a[:], args)
	return int64(p.Syscall(nr, a))
}

// hostRet makes a host call and returns its result as the kernel does in
// RAX: the value or -errno.
func hostRet(nr uintptr, args ...uintptr) int64 {
	var a [6]uintptr
	copy(a[:], args)
	r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return -int64(e)
	}
	return int64(r)
}

// putStr writes s with a NUL at guest offset off and returns its address.
func putStr(mem *flatMemory, off int, s string) uint64 {
	copy(mem.mem[off:], s+"\x00")
	return uint64(base + off)
}

// cstr returns a NUL-terminated host copy of s.
func cstr(s string) uintptr {
	b := hostMem(len(s) + 1)
	copy(b, s)
	return hostAddr(b)
}

// hostPipe returns a host pipe made with flags, closed at the end.
func hostPipe(t *testing.T, flags int) [2]int {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], flags|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds
}

// guardPage returns a host address whose page is unmapped, for EFAULT.
func guardPage(t *testing.T) uintptr {
	t.Helper()
	b, err := unix.Mmap(-1, 0, pg, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return uintptr(unsafe.Pointer(&b[0]))
}

// sameAsHost is one call made on the host and in mmvm that must return the
// same value or errno.
type sameAsHost struct {
	name  string
	host  func() int64
	guest func() int64
}

func checkSameAsHost(t *testing.T, cases []sameAsHost) {
	t.Helper()
	for _, tc := range cases {
		if h, g := tc.host(), tc.guest(); h != g {
			t.Errorf("%s: mmvm %d, the host %d", tc.name, g, h)
		}
	}
}

func TestPipeMatchesHost(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	at := uint64(base + 0x100)
	if r := sc(p, unix.SYS_PIPE2, at, unix.O_NONBLOCK); r != 0 {
		t.Fatalf("pipe2 = %d", r)
	}
	rfd, wfd := uint64(binary.LittleEndian.Uint32(mem.mem[0x100:])), uint64(binary.LittleEndian.Uint32(mem.mem[0x104:]))
	if rfd != 3 || wfd != 4 {
		t.Fatalf("pipe2 fds %d, %d, want the lowest free, 3 and 4", rfd, wfd)
	}
	h := hostPipe(t, unix.O_NONBLOCK)
	hr, hw := uintptr(h[0]), uintptr(h[1])
	hbuf := hostAddr(hostMem(1 << 17))
	data := uint64(base + 0x1000)
	guard := guardPage(t)
	checkSameAsHost(t, []sameAsHost{
		{"F_GETFL read end", func() int64 { return hostRet(unix.SYS_FCNTL, hr, unix.F_GETFL) }, func() int64 { return sc(p, unix.SYS_FCNTL, rfd, unix.F_GETFL) }},
		{"F_GETFL write end", func() int64 { return hostRet(unix.SYS_FCNTL, hw, unix.F_GETFL) }, func() int64 { return sc(p, unix.SYS_FCNTL, wfd, unix.F_GETFL) }},
		{"F_GETPIPE_SZ", func() int64 { return hostRet(unix.SYS_FCNTL, hw, fGetPipeSz) }, func() int64 { return sc(p, unix.SYS_FCNTL, wfd, fGetPipeSz) }},
		{"read of an empty O_NONBLOCK pipe", func() int64 { return hostRet(unix.SYS_READ, hr, hbuf, 10) }, func() int64 { return sc(p, unix.SYS_READ, rfd, data, 10) }},
		{"read from the write end", func() int64 { return hostRet(unix.SYS_READ, hw, hbuf, 10) }, func() int64 { return sc(p, unix.SYS_READ, wfd, data, 10) }},
		{"write to the read end", func() int64 { return hostRet(unix.SYS_WRITE, hr, hbuf, 10) }, func() int64 { return sc(p, unix.SYS_WRITE, rfd, data, 10) }},
		{"write of nothing", func() int64 { return hostRet(unix.SYS_WRITE, hw, hbuf, 0) }, func() int64 { return sc(p, unix.SYS_WRITE, wfd, data, 0) }},
		{"write from an unmapped buffer", func() int64 { return hostRet(unix.SYS_WRITE, hw, guard, 10) }, func() int64 { return sc(p, unix.SYS_WRITE, wfd, 0x1000, 10) }},
		{"write 5", func() int64 { return hostRet(unix.SYS_WRITE, hw, hbuf, 5) }, func() int64 { return sc(p, unix.SYS_WRITE, wfd, data, 5) }},
		{"FIONREAD", func() int64 {
			n := hostMem(4)
			hostRet(unix.SYS_IOCTL, hr, unix.TIOCINQ, hostAddr(n))
			return int64(int32(binary.LittleEndian.Uint32(n)))
		}, func() int64 {
			sc(p, unix.SYS_IOCTL, rfd, unix.TIOCINQ, at)
			return int64(binary.LittleEndian.Uint32(mem.mem[0x100:]))
		}},
		{"TCGETS on a pipe", func() int64 { return hostRet(unix.SYS_IOCTL, hr, unix.TCGETS, hbuf) }, func() int64 { return sc(p, unix.SYS_IOCTL, rfd, unix.TCGETS, data) }},
		{"read 3 of 5", func() int64 { return hostRet(unix.SYS_READ, hr, hbuf, 3) }, func() int64 { return sc(p, unix.SYS_READ, rfd, data, 3) }},
		{"read the other 2 into an unmapped buffer", func() int64 { return hostRet(unix.SYS_READ, hr, guard, 3) }, func() int64 { return sc(p, unix.SYS_READ, rfd, 0x1000, 3) }},
		{"read the other 2", func() int64 { return hostRet(unix.SYS_READ, hr, hbuf, 100) }, func() int64 { return sc(p, unix.SYS_READ, rfd, data, 100) }},
		// Fill the pipe: 60000 bytes, then an atomic write that does not
		// fit (EAGAIN), then a large one that fills what is left.
		{"write 60000", func() int64 { return hostRet(unix.SYS_WRITE, hw, hbuf, 60000) }, func() int64 { return sc(p, unix.SYS_WRITE, wfd, base, 60000) }},
		{"atomic write of 4096 into 5536", func() int64 { return hostRet(unix.SYS_WRITE, hw, hbuf, 4096) }, func() int64 { return sc(p, unix.SYS_WRITE, wfd, base, 4096) }},
		{"write 10000 into 5536", func() int64 { return hostRet(unix.SYS_WRITE, hw, hbuf, 10000) }, func() int64 { return sc(p, unix.SYS_WRITE, wfd, base, 10000) }},
		{"write 1 into a full pipe", func() int64 { return hostRet(unix.SYS_WRITE, hw, hbuf, 1) }, func() int64 { return sc(p, unix.SYS_WRITE, wfd, base, 1) }},
		{"F_SETPIPE_SZ below the content", func() int64 { return hostRet(unix.SYS_FCNTL, hw, fSetPipeSz, 4096) }, func() int64 { return sc(p, unix.SYS_FCNTL, wfd, fSetPipeSz, 4096) }},
		{"F_GETPIPE_SZ on stdio", func() int64 { return -int64(unix.EBADF) }, func() int64 { return sc(p, unix.SYS_FCNTL, 1, fGetPipeSz) }},
	})
	// The pipe's bytes are the ones written, in order.
	copy(mem.mem[0x1000:], "hello")
	p2, _, _ := newTestProcess(t)
	p2.cfg.Memory = mem
	sc(p2, unix.SYS_PIPE2, at, 0)
	sc(p2, unix.SYS_WRITE, 4, data, 5)
	if r := sc(p2, unix.SYS_READ, 3, data+16, 5); r != 5 || string(mem.mem[0x1010:0x1015]) != "hello" {
		t.Errorf("read back %d %q", r, mem.mem[0x1010:0x1015])
	}
	// fstat: a FIFO.
	var hst unix.Stat_t
	if err := unix.Fstat(h[0], &hst); err != nil {
		t.Fatal(err)
	}
	if r := sc(p, unix.SYS_FSTAT, rfd, at); r != 0 || binary.LittleEndian.Uint32(mem.mem[0x100+24:]) != hst.Mode {
		t.Errorf("fstat of a pipe: %d, mode %#o, the host's %#o", r, binary.LittleEndian.Uint32(mem.mem[0x100+24:]), hst.Mode)
	}
	// Closing the write end: the reader drains, then sees end of file.
	unix.Close(h[1])
	h[1] = -1
	checkSameAsHost(t, []sameAsHost{
		{"close the write end", func() int64 { return 0 }, func() int64 { return sc(p, unix.SYS_CLOSE, wfd) }},
		{"drain", func() int64 { return hostRet(unix.SYS_READ, hr, hbuf, 1<<17) }, func() int64 { return sc(p, unix.SYS_READ, rfd, base, 1<<16) }},
		{"end of file", func() int64 { return hostRet(unix.SYS_READ, hr, hbuf, 10) }, func() int64 { return sc(p, unix.SYS_READ, rfd, data, 10) }},
		{"close it again", func() int64 { return hostRet(unix.SYS_CLOSE, 0x7ffffff0) }, func() int64 { return sc(p, unix.SYS_CLOSE, wfd) }},
	})
}

func TestPipeWithoutReaderRaisesSIGPIPE(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	sc(p, unix.SYS_PIPE2, base, 0)
	sc(p, unix.SYS_CLOSE, 3)
	// With SIGPIPE ignored, EPIPE, as the host answers (Go ignores
	// SIGPIPE on fds other than 1 and 2).
	h := hostPipe(t, 0)
	unix.Close(h[0])
	h[0] = -1
	act := mem.mem[0x200:0x220]
	clear(act)
	binary.LittleEndian.PutUint64(act, sigIGN)
	if r := sc(p, unix.SYS_RT_SIGACTION, uint64(unix.SIGPIPE), base+0x200, 0, sigsetSize); r != 0 {
		t.Fatal(r)
	}
	hr := hostRet(unix.SYS_WRITE, uintptr(h[1]), cstr("x"), 1)
	if r := sc(p, unix.SYS_WRITE, 4, base, 1); r != hr || r != -int64(unix.EPIPE) {
		t.Errorf("write with no reader: mmvm %d, the host %d", r, hr)
	}
	if _, _, killed := p.Signaled(); killed {
		t.Error("an ignored SIGPIPE killed the program")
	}
	// With the default action, the program is killed: status 141.
	binary.LittleEndian.PutUint64(act, sigDFL)
	sc(p, unix.SYS_RT_SIGACTION, uint64(unix.SIGPIPE), base+0x200, 0, sigsetSize)
	sc(p, unix.SYS_WRITE, 4, base, 1)
	if sig, why, killed := p.Signaled(); !killed || sig != unix.SIGPIPE {
		t.Errorf("Signaled = %v %q %v, want SIGPIPE", sig, why, killed)
	}
}

func TestDupAndFcntl(t *testing.T) {
	p, mem, out := newTestProcess(t)
	p.cfg.Limits[unix.RLIMIT_NOFILE] = Limit{8, 8}
	copy(mem.mem, "ab")
	hostOut := uintptr(1) // the test binary's stdout exists; only errors are compared
	checkSameAsHost(t, []sameAsHost{
		{"fcntl of a closed fd", func() int64 { return hostRet(unix.SYS_FCNTL, 0x7ffffff0, unix.F_GETFD) }, func() int64 { return sc(p, unix.SYS_FCNTL, 7, unix.F_GETFD) }},
		{"fcntl unknown command", func() int64 { return hostRet(unix.SYS_FCNTL, hostOut, 9999) }, func() int64 { return sc(p, unix.SYS_FCNTL, 1, 9999) }},
		{"dup3 to itself", func() int64 { return hostRet(unix.SYS_DUP3, hostOut, hostOut, 0) }, func() int64 { return sc(p, unix.SYS_DUP3, 1, 1, 0) }},
		{"dup3 bad flags", func() int64 { return hostRet(unix.SYS_DUP3, hostOut, 0x7ffffff0, 1) }, func() int64 { return sc(p, unix.SYS_DUP3, 1, 5, 1) }},
		{"dup2 to itself", func() int64 { return hostRet(unix.SYS_DUP2, hostOut, hostOut) }, func() int64 { return sc(p, unix.SYS_DUP2, 1, 1) }},
		{"dup2 of a closed fd to itself", func() int64 { return hostRet(unix.SYS_DUP2, 0x7ffffff0, 0x7ffffff0) }, func() int64 { return sc(p, unix.SYS_DUP2, 6, 6) }},
		{"dup2 past RLIMIT_NOFILE", func() int64 { return hostRet(unix.SYS_DUP2, hostOut, 1<<30) }, func() int64 { return sc(p, unix.SYS_DUP2, 1, 8) }},
		{"F_DUPFD past RLIMIT_NOFILE", func() int64 { return hostRet(unix.SYS_FCNTL, hostOut, unix.F_DUPFD, 1<<30) }, func() int64 { return sc(p, unix.SYS_FCNTL, 1, unix.F_DUPFD, 8) }},
		{"pipe2 bad flags", func() int64 { return hostRet(unix.SYS_PIPE2, hostAddr(hostMem(8)), 1) }, func() int64 { return sc(p, unix.SYS_PIPE2, base, 1) }},
	})
	// dup gives the lowest free fd, without close-on-exec; writes through
	// it reach stdout; closing fd 1 leaves the dup working.
	if r := sc(p, unix.SYS_DUP, 1); r != 3 {
		t.Fatalf("dup(1) = %d", r)
	}
	if r := sc(p, unix.SYS_CLOSE, 1); r != 0 {
		t.Fatal(r)
	}
	if r := sc(p, unix.SYS_WRITE, 1, base, 2); r != -int64(unix.EBADF) {
		t.Errorf("write to a closed fd 1 = %d", r)
	}
	if r := sc(p, unix.SYS_WRITE, 3, base, 2); r != 2 || out.String() != "ab" {
		t.Errorf("write through the dup = %d, output %q", r, out.String())
	}
	if r := sc(p, unix.SYS_DUP, 3); r != 1 {
		t.Errorf("dup(3) after closing 1 = %d, want 1", r)
	}
	if r := sc(p, unix.SYS_FSTAT, 3, base+0x100); r != 0 {
		t.Errorf("fstat through the dup = %d", r)
	}
	// Close-on-exec is the fd's; status flags are the description's.
	if r := sc(p, unix.SYS_FCNTL, 3, unix.F_SETFD, unix.FD_CLOEXEC); r != 0 {
		t.Fatal(r)
	}
	if a, b := sc(p, unix.SYS_FCNTL, 3, unix.F_GETFD), sc(p, unix.SYS_FCNTL, 1, unix.F_GETFD); a != 1 || b != 0 {
		t.Errorf("F_GETFD: %d, %d, want 1, 0", a, b)
	}
	if r := sc(p, unix.SYS_FCNTL, 1, unix.F_SETFL, unix.O_NONBLOCK|unix.O_RDWR); r != 0 {
		t.Fatal(r)
	}
	if r := sc(p, unix.SYS_FCNTL, 3, unix.F_GETFL); r != unix.O_WRONLY|unix.O_NONBLOCK {
		t.Errorf("F_GETFL through the other fd = %#x, want O_WRONLY|O_NONBLOCK (F_SETFL changes no access mode)", r)
	}
	if r := sc(p, unix.SYS_FCNTL, 1, unix.F_DUPFD_CLOEXEC, 5); r != 5 || sc(p, unix.SYS_FCNTL, 5, unix.F_GETFD) != 1 {
		t.Errorf("F_DUPFD_CLOEXEC from 5 = %d", r)
	}
	if r := sc(p, unix.SYS_DUP3, 0, 5, unix.O_CLOEXEC); r != 5 || sc(p, unix.SYS_FCNTL, 5, unix.F_GETFL) != unix.O_RDONLY {
		t.Errorf("dup3 onto an open fd = %d", r)
	}
	// pipe2 into an unwritable array makes no fd; with fds 0-3 and 5-7
	// of 8 taken, a pipe finds one fd and then EMFILE.
	if r := sc(p, unix.SYS_PIPE2, 0x1000, 0); r != -int64(unix.EFAULT) {
		t.Errorf("pipe2 to an unmapped array = %d", r)
	}
	if a, b := sc(p, unix.SYS_DUP2, 0, 7), sc(p, unix.SYS_DUP2, 0, 6); a != 7 || b != 6 {
		t.Fatal(a, b)
	}
	if r := sc(p, unix.SYS_PIPE2, base, 0); r != -int64(unix.EMFILE) {
		t.Errorf("pipe2 with one free fd = %d", r)
	}
	if r := sc(p, unix.SYS_DUP, 0); r != 4 {
		t.Errorf("dup after the failed pipe2s = %d, want 4", r)
	}
	if r := sc(p, unix.SYS_DUP, 0); r != -int64(unix.EMFILE) {
		t.Errorf("dup with no free fd = %d", r)
	}
}

func TestPollPipe(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	sc(p, unix.SYS_PIPE2, base, 0)
	put := func(i int, fd int32, events uint16) {
		binary.LittleEndian.PutUint32(mem.mem[0x100+8*i:], uint32(fd))
		binary.LittleEndian.PutUint16(mem.mem[0x100+8*i+4:], events)
	}
	revents := func(i int) uint16 { return binary.LittleEndian.Uint16(mem.mem[0x100+8*i+6:]) }
	put(0, 3, unix.POLLIN)
	put(1, 4, unix.POLLOUT)
	if r := sc(p, unix.SYS_POLL, base+0x100, 2, 0); r != 1 || revents(0) != 0 || revents(1) != unix.POLLOUT {
		t.Errorf("empty pipe: %d, revents %#x %#x", r, revents(0), revents(1))
	}
	sc(p, unix.SYS_WRITE, 4, base, 1)
	sc(p, unix.SYS_CLOSE, 4)
	if r := sc(p, unix.SYS_POLL, base+0x100, 2, 0); r != 2 || revents(0) != unix.POLLIN|unix.POLLHUP || revents(1) != unix.POLLNVAL {
		t.Errorf("a byte, writer closed: %d, revents %#x %#x", r, revents(0), revents(1))
	}
}

func TestSelfSignals(t *testing.T) {
	pid := uint64(42)
	for _, tc := range []struct {
		name   string
		nr     uint64
		args   []uint64
		want   int64
		killed unix.Signal
	}{
		{"tgkill SIGABRT", unix.SYS_TGKILL, []uint64{pid, pid, uint64(unix.SIGABRT)}, 0, unix.SIGABRT},
		{"tkill SIGTERM", unix.SYS_TKILL, []uint64{pid, uint64(unix.SIGTERM)}, 0, unix.SIGTERM},
		{"kill own pid SIGKILL", unix.SYS_KILL, []uint64{pid, uint64(unix.SIGKILL)}, 0, unix.SIGKILL},
		{"kill group 0 SIGUSR1", unix.SYS_KILL, []uint64{0, uint64(unix.SIGUSR1)}, 0, unix.SIGUSR1},
		{"kill own group SIGRTMIN", unix.SYS_KILL, []uint64{uint64(-int64(pid)), 34}, 0, 34},
		{"SIGCHLD is ignored", unix.SYS_KILL, []uint64{pid, uint64(unix.SIGCHLD)}, 0, 0},
		{"SIGWINCH is ignored", unix.SYS_TGKILL, []uint64{pid, pid, uint64(unix.SIGWINCH)}, 0, 0},
		{"SIGURG is ignored", unix.SYS_TKILL, []uint64{pid, uint64(unix.SIGURG)}, 0, 0},
		{"signal 0 probes", unix.SYS_KILL, []uint64{pid, 0}, 0, 0},
		{"kill another pid", unix.SYS_KILL, []uint64{7, uint64(unix.SIGTERM)}, -int64(unix.ESRCH), 0},
		{"kill -1 reaches no other process", unix.SYS_KILL, []uint64{uint64(1<<64 - 1), uint64(unix.SIGTERM)}, -int64(unix.ESRCH), 0},
		{"kill signal 65", unix.SYS_KILL, []uint64{pid, 65}, -int64(unix.EINVAL), 0},
		{"kill signal -1", unix.SYS_KILL, []uint64{pid, 1<<32 - 1}, -int64(unix.EINVAL), 0},
		{"tkill tid 0", unix.SYS_TKILL, []uint64{0, uint64(unix.SIGTERM)}, -int64(unix.EINVAL), 0},
		{"tgkill tgid -1", unix.SYS_TGKILL, []uint64{1<<32 - 1, pid, uint64(unix.SIGTERM)}, -int64(unix.EINVAL), 0},
		{"tgkill another tid", unix.SYS_TGKILL, []uint64{pid, 7, uint64(unix.SIGTERM)}, -int64(unix.ESRCH), 0},
	} {
		p, _, _ := newTestProcess(t)
		if r := sc(p, tc.nr, tc.args...); r != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, r, tc.want)
		}
		if sig, _, _ := p.Signaled(); sig != tc.killed {
			t.Errorf("%s: killed by %v, want %v", tc.name, sig, tc.killed)
		}
	}
	// The errors the host gives for the same arguments (signal 0 and
	// invalid signals only: nothing is sent).
	self := uintptr(unix.Getpid())
	p, _, _ := newTestProcess(t)
	checkSameAsHost(t, []sameAsHost{
		{"kill signal 65", func() int64 { return hostRet(unix.SYS_KILL, self, 65) }, func() int64 { return sc(p, unix.SYS_KILL, 42, 65) }},
		{"kill probe", func() int64 { return hostRet(unix.SYS_KILL, self, 0) }, func() int64 { return sc(p, unix.SYS_KILL, 42, 0) }},
		{"tkill tid 0", func() int64 { return hostRet(unix.SYS_TKILL, 0, 0) }, func() int64 { return sc(p, unix.SYS_TKILL, 0, 0) }},
		{"tgkill tid -5", func() int64 { return hostRet(unix.SYS_TGKILL, self, 1<<32-5, 0) }, func() int64 { return sc(p, unix.SYS_TGKILL, 42, 1<<32-5, 0) }},
		{"rt_sigpending size 16", func() int64 { return hostRet(unix.SYS_RT_SIGPENDING, cstr("0123456789abcdef"), 16) }, func() int64 { return sc(p, unix.SYS_RT_SIGPENDING, base, 16) }},
	})
}

func TestBlockedSignalStaysPending(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	setMask := func(how uint64, m uint64) {
		binary.LittleEndian.PutUint64(mem.mem[0x100:], m)
		if r := sc(p, unix.SYS_RT_SIGPROCMASK, how, base+0x100, 0, sigsetSize); r != 0 {
			t.Fatal(r)
		}
	}
	pending := func() uint64 {
		if r := sc(p, unix.SYS_RT_SIGPENDING, base+0x200, sigsetSize); r != 0 {
			t.Fatal(r)
		}
		return binary.LittleEndian.Uint64(mem.mem[0x200:])
	}
	// musl's raise: block everything, tkill, restore the mask.
	setMask(unix.SIG_BLOCK, ^uint64(0))
	sc(p, unix.SYS_TKILL, 42, uint64(unix.SIGUSR1))
	sc(p, unix.SYS_TKILL, 42, uint64(unix.SIGCHLD)) // blocked: pending even though ignored
	if _, _, killed := p.Signaled(); killed {
		t.Fatal("a blocked signal killed the program")
	}
	if got := pending(); got != sigBit(unix.SIGUSR1)|sigBit(unix.SIGCHLD) {
		t.Errorf("pending %#x", got)
	}
	if s := p.SignalStats(); len(s.Pending) != 2 {
		t.Errorf("SignalStats pending %v", s.Pending)
	}
	// Ignoring SIGUSR1 discards it; unblocking SIGCHLD drops it.
	act := mem.mem[0x300:0x320]
	binary.LittleEndian.PutUint64(act, sigIGN)
	sc(p, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), base+0x300, 0, sigsetSize)
	if got := pending(); got != sigBit(unix.SIGCHLD) {
		t.Errorf("pending after SIG_IGN %#x", got)
	}
	setMask(unix.SIG_SETMASK, 0)
	if _, _, killed := p.Signaled(); killed || pending() != 0 {
		t.Errorf("after unblocking: killed %v, pending %#x", killed, pending())
	}
	// abort's second raise, with SIG_DFL, kills when unblocked.
	setMask(unix.SIG_BLOCK, sigBit(unix.SIGABRT))
	binary.LittleEndian.PutUint64(act, sigDFL)
	sc(p, unix.SYS_RT_SIGACTION, uint64(unix.SIGABRT), base+0x300, 0, sigsetSize)
	sc(p, unix.SYS_TGKILL, 42, 42, uint64(unix.SIGABRT))
	if _, _, killed := p.Signaled(); killed {
		t.Error("a blocked SIGABRT killed the program")
	}
	setMask(unix.SIG_UNBLOCK, sigBit(unix.SIGABRT))
	if sig, why, _ := p.Signaled(); sig != unix.SIGABRT || why != "SIGABRT (sent by the program itself with tgkill)" {
		t.Errorf("Signaled = %v %q", sig, why)
	}
}

func TestSigaltstack(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	stack := func(off int, sp uint64, flags uint32, size uint64) uint64 {
		b := mem.mem[off:]
		clear(b[:stackTSize])
		binary.LittleEndian.PutUint64(b, sp)
		binary.LittleEndian.PutUint32(b[8:], flags)
		binary.LittleEndian.PutUint64(b[16:], size)
		return uint64(base + off)
	}
	old := func() (uint64, uint32, uint64) {
		b := mem.mem[0x800:]
		return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint64(b[16:])
	}
	if r := sc(p, unix.SYS_SIGALTSTACK, 0, base+0x800); r != 0 {
		t.Fatal(r)
	}
	if sp, fl, sz := old(); sp != 0 || fl != ssDisable || sz != 0 {
		t.Errorf("initial stack %#x %#x %d", sp, fl, sz)
	}
	if r := sc(p, unix.SYS_SIGALTSTACK, stack(0x100, 0x7000, ssAutoDisarm, 8192), 0); r != 0 {
		t.Fatal(r)
	}
	if r := sc(p, unix.SYS_SIGALTSTACK, stack(0x100, 0, 0, 8192), 0x1000); r != -int64(unix.EFAULT) {
		t.Errorf("unwritable oss = %d", r)
	}
	sc(p, unix.SYS_SIGALTSTACK, 0, base+0x800)
	if sp, fl, sz := old(); sp != 0x7000 || fl != ssAutoDisarm || sz != 8192 {
		t.Errorf("stack after set %#x %#x %d (an EFAULT on oss changes nothing)", sp, fl, sz)
	}
	sc(p, unix.SYS_SIGALTSTACK, stack(0x100, 0x9000, ssDisable, 0), 0)
	sc(p, unix.SYS_SIGALTSTACK, 0, base+0x800)
	if sp, fl, sz := old(); sp != 0 || fl != ssDisable || sz != 0 {
		t.Errorf("disabled stack %#x %#x %d", sp, fl, sz)
	}
	// The failures, as the host reports them (a failed call changes
	// nothing on the host either).
	hostStack := func(flags uint32, size uint64) uintptr {
		b := hostMem(stackTSize)
		binary.LittleEndian.PutUint64(b, 0x7000)
		binary.LittleEndian.PutUint32(b[8:], flags)
		binary.LittleEndian.PutUint64(b[16:], size)
		return hostAddr(b)
	}
	checkSameAsHost(t, []sameAsHost{
		{"bad flags", func() int64 { return hostRet(unix.SYS_SIGALTSTACK, hostStack(5, 8192), 0) }, func() int64 { return sc(p, unix.SYS_SIGALTSTACK, stack(0x100, 0x7000, 5, 8192), 0) }},
		{"below MINSIGSTKSZ", func() int64 { return hostRet(unix.SYS_SIGALTSTACK, hostStack(0, minSigStackSize-1), 0) }, func() int64 {
			return sc(p, unix.SYS_SIGALTSTACK, stack(0x100, 0x7000, 0, minSigStackSize-1), 0)
		}},
		{"unreadable ss", func() int64 { return hostRet(unix.SYS_SIGALTSTACK, guardPage(t), 0) }, func() int64 { return sc(p, unix.SYS_SIGALTSTACK, 0x1000, 0) }},
	})
}

func TestClockNanosleep(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	ts := func(off int, sec, nsec int64) uint64 {
		binary.LittleEndian.PutUint64(mem.mem[off:], uint64(sec))
		binary.LittleEndian.PutUint64(mem.mem[off+8:], uint64(nsec))
		return uint64(base + off)
	}
	hts := func(sec, nsec int64) uintptr {
		b := hostMem(16)
		binary.LittleEndian.PutUint64(b, uint64(sec))
		binary.LittleEndian.PutUint64(b[8:], uint64(nsec))
		return hostAddr(b)
	}
	var cases []sameAsHost
	// Every clock, with a zero relative time: the same answer as the host,
	// but for CLOCK_TAI (11), which mmvm does not serve, and the alarm
	// clocks (8, 9), whose answer on the host depends on its RTC.
	for _, clock := range []uint64{0, 1, 2, 3, 4, 5, 6, 7, 10, 12, 100} {
		cases = append(cases, sameAsHost{"clock " + string(rune('0'+clock%10)),
			func() int64 { return hostRet(unix.SYS_CLOCK_NANOSLEEP, uintptr(clock), 0, hts(0, 0), 0) },
			func() int64 { return sc(p, unix.SYS_CLOCK_NANOSLEEP, clock, 0, ts(0x100, 0, 0), 0) }})
	}
	cases = append(cases,
		sameAsHost{"unknown flag bits are ignored", func() int64 { return hostRet(unix.SYS_CLOCK_NANOSLEEP, 1, 0xfe, hts(0, 0), 0) },
			func() int64 { return sc(p, unix.SYS_CLOCK_NANOSLEEP, 1, 0xfe, ts(0x100, 0, 0), 0) }},
		sameAsHost{"tv_nsec 1e9", func() int64 { return hostRet(unix.SYS_CLOCK_NANOSLEEP, 1, 0, hts(0, 1e9), 0) },
			func() int64 { return sc(p, unix.SYS_CLOCK_NANOSLEEP, 1, 0, ts(0x100, 0, 1e9), 0) }},
		sameAsHost{"negative tv_sec", func() int64 { return hostRet(unix.SYS_CLOCK_NANOSLEEP, 1, 0, hts(-1, 0), 0) },
			func() int64 { return sc(p, unix.SYS_CLOCK_NANOSLEEP, 1, 0, ts(0x100, -1, 0), 0) }},
		sameAsHost{"unreadable request", func() int64 { return hostRet(unix.SYS_CLOCK_NANOSLEEP, 1, 0, guardPage(t), 0) },
			func() int64 { return sc(p, unix.SYS_CLOCK_NANOSLEEP, 1, 0, 0x1000, 0) }},
		sameAsHost{"bad clock before the request", func() int64 { return hostRet(unix.SYS_CLOCK_NANOSLEEP, 100, 0, guardPage(t), 0) },
			func() int64 { return sc(p, unix.SYS_CLOCK_NANOSLEEP, 100, 0, 0x1000, 0) }},
		sameAsHost{"absolute realtime in the past", func() int64 { return hostRet(unix.SYS_CLOCK_NANOSLEEP, 0, timerAbstime, hts(1, 0), 0) },
			func() int64 { return sc(p, unix.SYS_CLOCK_NANOSLEEP, 0, timerAbstime, ts(0x100, 1, 0), 0) }},
	)
	checkSameAsHost(t, cases)
	// An absolute monotonic deadline 30ms ahead is slept until.
	now := p.cfg.Monotonic() + 30*time.Millisecond
	start := time.Now()
	if r := sc(p, unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, timerAbstime, ts(0x100, int64(now/time.Second), int64(now%time.Second)), 0); r != 0 {
		t.Errorf("absolute sleep = %d", r)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("absolute sleep took %v", d)
	}
	// The run's end interrupts a relative sleep and writes the time left.
	ctx, cancel := context.WithCancel(context.Background())
	p.SetContext(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if r := sc(p, unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_REALTIME, 0, ts(0x100, 10, 0), ts(0x200, -1, -1)); r != -int64(unix.EINTR) {
		t.Errorf("interrupted sleep = %d", r)
	}
	if sec, nsec := int64(binary.LittleEndian.Uint64(mem.mem[0x200:])), int64(binary.LittleEndian.Uint64(mem.mem[0x208:])); sec < 8 || sec > 9 || nsec < 0 || nsec >= 1e9 {
		t.Errorf("remaining %d.%09d, want about 9.98s", sec, nsec)
	}
	if r := sc(p, unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_REALTIME, 0, ts(0x100, 10, 0), 0x1000); r != -int64(unix.EFAULT) {
		t.Errorf("interrupted sleep with an unwritable rem = %d", r)
	}
	ts(0x200, -1, -1)
	if r := sc(p, unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, timerAbstime, ts(0x100, 1<<40, 0), base+0x200); r != -int64(unix.EINTR) ||
		binary.LittleEndian.Uint64(mem.mem[0x200:]) != 1<<64-1 {
		t.Errorf("interrupted absolute sleep = %d, rem written %#x", r, binary.LittleEndian.Uint64(mem.mem[0x200:]))
	}
}

func TestProcessInformation(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.SetExecutable("/work/out/guest/a-long-program-name", "")
	p.cfg.MemoryLimit = 256 << 20
	p.cfg.Usage = func() Usage { return Usage{RSS: 3 << 20, PeakRSS: 5 << 20, Faults: 77} }
	le := binary.LittleEndian
	hbuf := hostMem(256)
	hb := hostAddr(hbuf)
	checkSameAsHost(t, []sameAsHost{
		{"sched_getaffinity len 0", func() int64 { return hostRet(unix.SYS_SCHED_GETAFFINITY, 0, 0, hb) }, func() int64 { return sc(p, unix.SYS_SCHED_GETAFFINITY, 0, 0, base) }},
		{"sched_getaffinity len 4", func() int64 { return hostRet(unix.SYS_SCHED_GETAFFINITY, 0, 4, hb) }, func() int64 { return sc(p, unix.SYS_SCHED_GETAFFINITY, 0, 4, base) }},
		{"sched_getaffinity len 12", func() int64 { return hostRet(unix.SYS_SCHED_GETAFFINITY, 0, 12, hb) }, func() int64 { return sc(p, unix.SYS_SCHED_GETAFFINITY, 0, 12, base) }},
		{"sched_getaffinity another pid", func() int64 { return hostRet(unix.SYS_SCHED_GETAFFINITY, 0x3ffffff0, 8, hb) }, func() int64 { return sc(p, unix.SYS_SCHED_GETAFFINITY, 7, 8, base) }},
		{"sched_getaffinity unwritable", func() int64 { return hostRet(unix.SYS_SCHED_GETAFFINITY, 0, 8, guardPage(t)) }, func() int64 { return sc(p, unix.SYS_SCHED_GETAFFINITY, 0, 8, 0x1000) }},
		{"sched_setaffinity empty mask", func() int64 { return hostRet(unix.SYS_SCHED_SETAFFINITY, 0, 8, hostAddr(hostMem(8))) }, func() int64 {
			le.PutUint64(mem.mem[0x100:], 0)
			return sc(p, unix.SYS_SCHED_SETAFFINITY, 0, 8, base+0x100)
		}},
		{"sched_setaffinity unreadable", func() int64 { return hostRet(unix.SYS_SCHED_SETAFFINITY, 0, 8, guardPage(t)) }, func() int64 { return sc(p, unix.SYS_SCHED_SETAFFINITY, 0, 8, 0x1000) }},
		{"getcpu nulls", func() int64 { return hostRet(unix.SYS_GETCPU, 0, 0, 0) }, func() int64 { return sc(p, unix.SYS_GETCPU, 0, 0, 0) }},
		{"getcpu both", func() int64 { return hostRet(unix.SYS_GETCPU, hb, hb+4, 0) }, func() int64 { return sc(p, unix.SYS_GETCPU, base, base+4, 0) }},
		{"getcpu unwritable cpu", func() int64 { return hostRet(unix.SYS_GETCPU, guardPage(t), hb, 0) }, func() int64 { return sc(p, unix.SYS_GETCPU, 0x1000, base, 0) }},
		{"getcpu unwritable node", func() int64 { return hostRet(unix.SYS_GETCPU, hb, guardPage(t), 0) }, func() int64 { return sc(p, unix.SYS_GETCPU, base, 0x1000, 0) }},
		{"getcwd size 1", func() int64 { return hostRet(unix.SYS_GETCWD, hb, 1) }, func() int64 { return sc(p, unix.SYS_GETCWD, base, 1) }},
		{"getrusage bad who", func() int64 { return hostRet(unix.SYS_GETRUSAGE, 5, hb) }, func() int64 { return sc(p, unix.SYS_GETRUSAGE, 5, base) }},
		{"prctl unknown option", func() int64 { return hostRet(unix.SYS_PRCTL, 9999, 0) }, func() int64 { return sc(p, unix.SYS_PRCTL, 9999, 0) }},
		{"PR_SET_PDEATHSIG 65", func() int64 { return hostRet(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, 65) }, func() int64 { return sc(p, unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, 65) }},
		{"PR_GET_NO_NEW_PRIVS with an argument", func() int64 { return hostRet(unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 1) }, func() int64 { return sc(p, unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 1) }},
		{"PR_SET_DUMPABLE 2", func() int64 { return hostRet(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 2) }, func() int64 { return sc(p, unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 2) }},
		{"PR_GET_NAME unwritable", func() int64 { return hostRet(unix.SYS_PRCTL, unix.PR_GET_NAME, guardPage(t)) }, func() int64 { return sc(p, unix.SYS_PRCTL, unix.PR_GET_NAME, 0x1000) }},
		{"PR_SET_KEEPCAPS 2", func() int64 { return hostRet(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 2) }, func() int64 { return sc(p, unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 2) }},
		{"PR_GET_KEEPCAPS", func() int64 { return hostRet(unix.SYS_PRCTL, unix.PR_GET_KEEPCAPS) }, func() int64 { return sc(p, unix.SYS_PRCTL, unix.PR_GET_KEEPCAPS) }},
		{"PR_GET_TIMERSLACK", func() int64 { return hostRet(unix.SYS_PRCTL, unix.PR_GET_TIMERSLACK) }, func() int64 { return sc(p, unix.SYS_PRCTL, unix.PR_GET_TIMERSLACK) }},
		{"readlink bufsiz 0", func() int64 { return hostRet(unix.SYS_READLINK, cstr("/proc/self/exe"), hb, 0) }, func() int64 { return sc(p, unix.SYS_READLINK, putStr(mem, 0x100, "/proc/self/exe"), base, 0) }},
		{"readlink empty path", func() int64 { return hostRet(unix.SYS_READLINK, cstr(""), hb, 100) }, func() int64 { return sc(p, unix.SYS_READLINK, putStr(mem, 0x100, ""), base, 100) }},
		{"readlink unreadable path", func() int64 { return hostRet(unix.SYS_READLINK, guardPage(t), hb, 100) }, func() int64 { return sc(p, unix.SYS_READLINK, 0x1000, base, 100) }},
		{"readlink too long a path", func() int64 { return hostRet(unix.SYS_READLINK, cstr(strings.Repeat("a", 5000)), hb, 100) }, func() int64 {
			for i := range 5000 {
				mem.mem[0x2000+i] = 'a'
			}
			mem.mem[0x2000+5000] = 0
			return sc(p, unix.SYS_READLINK, base+0x2000, base, 100)
		}},
		{"readlinkat relative to a closed fd", func() int64 { return hostRet(unix.SYS_READLINKAT, 0x3ffffff0, cstr("x"), hb, 100) }, func() int64 { return sc(p, unix.SYS_READLINKAT, 99, putStr(mem, 0x100, "x"), base, 100) }},
		{"readlinkat relative to a pipe", func() int64 { return hostRet(unix.SYS_READLINKAT, uintptr(hostPipe(t, 0)[0]), cstr("x"), hb, 100) }, func() int64 {
			sc(p, unix.SYS_PIPE2, base+0x300, 0)
			return sc(p, unix.SYS_READLINKAT, 3, putStr(mem, 0x100, "x"), base, 100)
		}},
		{"open a missing file", func() int64 { return hostRet(unix.SYS_OPEN, cstr("/nonexistent/mmvm"), unix.O_RDONLY) }, func() int64 { return sc(p, unix.SYS_OPEN, putStr(mem, 0x100, "/nonexistent/mmvm"), unix.O_RDONLY) }},
		{"openat unreadable path", func() int64 { return hostRet(unix.SYS_OPENAT, uintptr(1<<32+unix.AT_FDCWD), guardPage(t), 0) }, func() int64 { return sc(p, unix.SYS_OPENAT, atFDCWD, 0x1000, 0) }},
		{"access bad mode", func() int64 { return hostRet(unix.SYS_ACCESS, cstr("/"), 8) }, func() int64 { return sc(p, unix.SYS_ACCESS, putStr(mem, 0x100, "/"), 8) }},
		{"faccessat2 bad flags", func() int64 { return hostRet(unix.SYS_FACCESSAT2, uintptr(1<<32+unix.AT_FDCWD), cstr("/"), 0, 1) }, func() int64 {
			return sc(p, unix.SYS_FACCESSAT2, atFDCWD, putStr(mem, 0x100, "/"), 0, 1)
		}},
	})
	// The answers of a process alone on one CPU.
	if r := sc(p, unix.SYS_SCHED_GETAFFINITY, 0, 128, base+0x100); r != 8 || le.Uint64(mem.mem[0x100:]) != 1 {
		t.Errorf("sched_getaffinity = %d, mask %#x", r, le.Uint64(mem.mem[0x100:]))
	}
	le.PutUint64(mem.mem[0x100:], 3)
	if r := sc(p, unix.SYS_SCHED_SETAFFINITY, 42, 8, base+0x100); r != 0 {
		t.Errorf("sched_setaffinity with CPU 0 = %d", r)
	}
	if r := sc(p, unix.SYS_GETCWD, base+0x100, 100); r != 2 || string(mem.mem[0x100:0x102]) != "/\x00" {
		t.Errorf("getcwd = %d %q", r, mem.mem[0x100:0x102])
	}
	if a, b := sc(p, unix.SYS_UMASK, 0o1777), sc(p, unix.SYS_UMASK, 0o22); a != 0o22 || b != 0o777 {
		t.Errorf("umask = %#o, %#o", a, b)
	}
	if r := sc(p, unix.SYS_SYSINFO, base+0x100); r != 0 ||
		le.Uint64(mem.mem[0x100+sysinfoTotalRAM:]) != 256<<20 || le.Uint64(mem.mem[0x100+sysinfoFreeRAM:]) != 253<<20 ||
		le.Uint16(mem.mem[0x100+sysinfoProcs:]) != 1 || le.Uint32(mem.mem[0x100+sysinfoMemUnit:]) != 1 {
		t.Errorf("sysinfo = %d: %x", r, mem.mem[0x100:0x100+sysinfoSize])
	}
	if r := sc(p, unix.SYS_GETRUSAGE, uint64(1<<64-1), base+0x100); r != 0 || le.Uint64(mem.mem[0x100+rusageMaxRSS:]) != 0 {
		t.Errorf("getrusage RUSAGE_CHILDREN = %d", r)
	}
	if r := sc(p, unix.SYS_GETRUSAGE, 0, base+0x100); r != 0 || le.Uint64(mem.mem[0x100+rusageMaxRSS:]) != 5<<10 || le.Uint64(mem.mem[0x100+rusageMinflt:]) != 77 {
		t.Errorf("getrusage RUSAGE_SELF = %d, maxrss %d, minflt %d", r, le.Uint64(mem.mem[0x100+rusageMaxRSS:]), le.Uint64(mem.mem[0x100+rusageMinflt:]))
	}
	// prctl: the task name is the program's, truncated to 15 bytes.
	name := func() string {
		clear(mem.mem[0x200:0x220])
		if r := sc(p, unix.SYS_PRCTL, unix.PR_GET_NAME, base+0x200); r != 0 {
			t.Fatal(r)
		}
		return string(mem.mem[0x200:0x210])
	}
	if got := name(); got != "a-long-program-\x00" {
		t.Errorf("initial name %q", got)
	}
	sc(p, unix.SYS_PRCTL, unix.PR_SET_NAME, putStr(mem, 0x100, "worker"))
	if got := name(); got != "worker\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Errorf("name after PR_SET_NAME %q", got)
	}
	// A name that ends at the end of guest memory without a NUL faults
	// only if its 15 bytes are not all readable.
	copy(mem.mem[len(mem.mem)-4:], "abcd")
	if r := sc(p, unix.SYS_PRCTL, unix.PR_SET_NAME, uint64(base+len(mem.mem)-4)); r != -int64(unix.EFAULT) {
		t.Errorf("PR_SET_NAME running off guest memory = %d", r)
	}
	mem.mem[len(mem.mem)-1] = 0
	if r := sc(p, unix.SYS_PRCTL, unix.PR_SET_NAME, uint64(base+len(mem.mem)-4)); r != 0 || name()[:4] != "abc\x00" {
		t.Errorf("PR_SET_NAME ending at the last byte = %d, %q", r, name())
	}
	sc(p, unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uint64(unix.SIGTERM))
	if r := sc(p, unix.SYS_PRCTL, unix.PR_GET_PDEATHSIG, base+0x100); r != 0 || le.Uint32(mem.mem[0x100:]) != uint32(unix.SIGTERM) {
		t.Errorf("PR_GET_PDEATHSIG = %d, %d", r, le.Uint32(mem.mem[0x100:]))
	}
	if r := sc(p, unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1); r != 0 || sc(p, unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS) != 1 {
		t.Errorf("no_new_privs = %d", r)
	}
	// readlink: /proc/self/exe, however it is spelled, and nothing else.
	for _, tc := range []struct {
		dirfd  uint64
		path   string
		bufsiz uint64
		want   int64
		text   string
	}{
		{atFDCWD, "/proc/self/exe", 100, 35, "/work/out/guest/a-long-program-name"},
		{atFDCWD, "/proc/42/exe", 100, 35, "/work/out/guest/a-long-program-name"},
		{atFDCWD, "proc//self/./exe", 100, 35, "/work/out/guest/a-long-program-name"},
		{1, "/proc/self/exe", 5, 5, "/work"},
		{atFDCWD, "/proc/self/cwd", 100, 1, "/"},
		{atFDCWD, "/proc/self/ns/pid", 100, -int64(unix.ENOENT), ""},
		{atFDCWD, "/etc/passwd", 100, -int64(unix.ENOENT), ""},
	} {
		clear(mem.mem[0x400:0x500])
		if r := sc(p, unix.SYS_READLINKAT, tc.dirfd, putStr(mem, 0x100, tc.path), base+0x400, tc.bufsiz); r != tc.want || (r > 0 && string(mem.mem[0x400:0x400+r]) != tc.text) || mem.mem[0x400+max(r, 0)] != 0 {
			t.Errorf("readlinkat %q = %d %q", tc.path, r, mem.mem[0x400:0x400+max(r, 0)+1])
		}
	}
	if r := sc(p, unix.SYS_READLINK, putStr(mem, 0x100, "/proc/self/exe"), 0x1000, 100); r != -int64(unix.EFAULT) {
		t.Errorf("readlink into an unwritable buffer = %d", r)
	}
	if r := sc(p, unix.SYS_FACCESSAT2, 1, putStr(mem, 0x100, ""), unix.W_OK, unix.AT_EMPTY_PATH); r != 0 {
		t.Errorf("faccessat2 of fd 1 itself = %d", r)
	}
	for _, nr := range []uint64{unix.SYS_OPEN, unix.SYS_ACCESS} {
		if r := sc(p, nr, putStr(mem, 0x100, "/proc/self/exe"), 0); r != -int64(unix.ENOENT) {
			t.Errorf("%s /proc/self/exe = %d", Name(nr), r)
		}
	}
}

// With ClockNanos set, clock_gettime answers the ids it serves from it,
// exactly (the vDSO's clocks), and the others as before; getcpu writes CPU
// 0 and node 0.
func TestClockNanosAndGetcpu(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.ClockNanos = func(id int) (int64, bool) {
		if id == unix.CLOCK_MONOTONIC_COARSE {
			return 5*1e9 + 4e6, true
		}
		return 0, false
	}
	le := binary.LittleEndian
	if r := sc(p, unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC_COARSE, base); r != 0 ||
		le.Uint64(mem.mem[0:]) != 5 || le.Uint64(mem.mem[8:]) != 4e6 {
		t.Errorf("served clock: %d, %d.%09d", r, le.Uint64(mem.mem[0:]), le.Uint64(mem.mem[8:]))
	}
	if r := sc(p, unix.SYS_CLOCK_GETTIME, unix.CLOCK_REALTIME, base); r != 0 || le.Uint64(mem.mem[0:]) != 1700000000 {
		t.Errorf("clock not served by ClockNanos: %d, %d s", r, le.Uint64(mem.mem[0:]))
	}
	clear(mem.mem[:16])
	if r := sc(p, unix.SYS_CLOCK_GETTIME, 1<<32|unix.CLOCK_MONOTONIC_COARSE, base); r != 0 || le.Uint64(mem.mem[0:]) != 5 {
		t.Errorf("clockid_t is 32 bits: %d, %d s", r, le.Uint64(mem.mem[0:]))
	}
	le.PutUint64(mem.mem[0x300:], ^uint64(0))
	if r := sc(p, unix.SYS_GETCPU, base+0x300, base+0x304, 0); r != 0 || le.Uint64(mem.mem[0x300:]) != 0 {
		t.Errorf("getcpu: %d, cpu and node %#x", r, le.Uint64(mem.mem[0x300:]))
	}
}
