package syscalls

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// flatMemory is guest memory of one readable, writable range starting at
// base; everything else faults.
type flatMemory struct {
	base arch.Addr
	mem  []byte
}

func (m *flatMemory) span(addr arch.Addr, n int) (int, error) {
	if addr < m.base || addr >= m.base+arch.Addr(len(m.mem)) {
		return 0, unix.EFAULT
	}
	avail := int(m.base + arch.Addr(len(m.mem)) - addr)
	if avail < n {
		return avail, unix.EFAULT
	}
	return n, nil
}

func (m *flatMemory) CopyIn(addr arch.Addr, dst []byte) (int, error) {
	n, err := m.span(addr, len(dst))
	if n > 0 {
		copy(dst[:n], m.mem[addr-m.base:])
	}
	return n, err
}

func (m *flatMemory) CopyOut(addr arch.Addr, src []byte) (int, error) {
	n, err := m.span(addr, len(src))
	if n > 0 {
		copy(m.mem[addr-m.base:], src[:n])
	}
	return n, err
}

const base = 0x10000

func newTestProcess(t *testing.T) (*Process, *flatMemory, *bytes.Buffer) {
	t.Helper()
	mem := &flatMemory{base: base, mem: make([]byte, 1<<16)}
	var out bytes.Buffer
	p := NewProcess(Config{
		Memory: mem, Stdout: &out, Stderr: &out,
		StdioFDs: [3]int{-1, -1, -1}, PID: 42,
		Now:    func() time.Time { return time.Unix(1700000000, 123456789) },
		Random: func(b []byte) { copy(b, bytes.Repeat([]byte{0xab}, len(b))) },
		Limits: map[int]Limit{unix.RLIMIT_STACK: {8 << 20, 1 << 30}},
	})
	return p, mem, &out
}

func neg(e unix.Errno) uint64 { return errno(e) }

func TestWriteAndWritev(t *testing.T) {
	p, mem, out := newTestProcess(t)
	copy(mem.mem, "hello, world\n")
	if r := p.Syscall(unix.SYS_WRITE, [6]uint64{1, base, 13}); r != 13 {
		t.Fatalf("write returned %d", int64(r))
	}
	// writev of two pieces described by an iovec array at base+0x100.
	iov := mem.mem[0x100:]
	binary.LittleEndian.PutUint64(iov[0:], base)
	binary.LittleEndian.PutUint64(iov[8:], 5)
	binary.LittleEndian.PutUint64(iov[16:], base+12)
	binary.LittleEndian.PutUint64(iov[24:], 1)
	if r := p.Syscall(unix.SYS_WRITEV, [6]uint64{2, base + 0x100, 2}); r != 6 {
		t.Fatalf("writev returned %d", int64(r))
	}
	if got := out.String(); got != "hello, world\nhello\n" {
		t.Errorf("output %q", got)
	}
	for _, tc := range []struct {
		name string
		nr   uint64
		args [6]uint64
		want uint64
	}{
		{"write to stdin", unix.SYS_WRITE, [6]uint64{0, base, 1}, neg(unix.EBADF)},
		{"write to fd 7", unix.SYS_WRITE, [6]uint64{7, base, 1}, neg(unix.EBADF)},
		{"write from unmapped", unix.SYS_WRITE, [6]uint64{1, 0x1000, 1}, neg(unix.EFAULT)},
		{"write of zero bytes", unix.SYS_WRITE, [6]uint64{1, 0, 0}, 0},
		{"writev bad iov", unix.SYS_WRITEV, [6]uint64{1, 0x1000, 1}, neg(unix.EFAULT)},
		{"writev too many", unix.SYS_WRITEV, [6]uint64{1, base, 1025}, neg(unix.EINVAL)},
	} {
		if got := p.Syscall(tc.nr, tc.args); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, int64(got), int64(tc.want))
		}
	}
	// A write that runs off the end of guest memory writes what it can.
	out.Reset()
	if r := p.Syscall(unix.SYS_WRITE, [6]uint64{1, base + 1<<16 - 3, 10}); r != 3 {
		t.Errorf("partial write returned %d, want 3", int64(r))
	}
	// writev with a negative length is EINVAL before anything is written.
	binary.LittleEndian.PutUint64(iov[8:], 1<<63)
	out.Reset()
	if r := p.Syscall(unix.SYS_WRITEV, [6]uint64{1, base + 0x100, 2}); r != neg(unix.EINVAL) || out.Len() != 0 {
		t.Errorf("writev with negative length: %d, wrote %d bytes", int64(r), out.Len())
	}
}

func TestReadStdin(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.Stdin = strings.NewReader("input")
	if r := p.Syscall(unix.SYS_READ, [6]uint64{0, base + 8, 100}); r != 5 {
		t.Fatalf("read returned %d", int64(r))
	}
	if string(mem.mem[8:13]) != "input" {
		t.Errorf("read wrote %q", mem.mem[8:13])
	}
	if r := p.Syscall(unix.SYS_READ, [6]uint64{0, base, 100}); r != 0 {
		t.Errorf("read at EOF returned %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_READ, [6]uint64{3, base, 1}); r != neg(unix.EBADF) {
		t.Errorf("read from fd 3 returned %d", int64(r))
	}
}

func TestProcessCalls(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	if r := p.Syscall(unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 0x7000_0000}); r != 0 {
		t.Fatalf("ARCH_SET_FS returned %d", int64(r))
	}
	if fs, dirty := p.main.FSBase(); fs != 0x7000_0000 || !dirty {
		t.Errorf("FSBase = %#x, %v", fs, dirty)
	}
	if _, dirty := p.main.FSBase(); dirty {
		t.Error("FSBase stayed dirty after it was read")
	}
	if r := p.Syscall(unix.SYS_ARCH_PRCTL, [6]uint64{archGetFS, base}); r != 0 || binary.LittleEndian.Uint64(mem.mem) != 0x7000_0000 {
		t.Errorf("ARCH_GET_FS: %d, %#x", int64(r), binary.LittleEndian.Uint64(mem.mem))
	}
	if r := p.Syscall(unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, uint64(arch.KernelBase)}); r != neg(unix.EPERM) {
		t.Errorf("ARCH_SET_FS to the kernel half returned %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_ARCH_PRCTL, [6]uint64{0x9999}); r != neg(unix.EINVAL) {
		t.Errorf("unknown arch_prctl returned %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_GETPID, [6]uint64{}); r != 42 {
		t.Errorf("getpid = %d", r)
	}
	if r := p.Syscall(unix.SYS_SET_TID_ADDRESS, [6]uint64{base}); r != 42 {
		t.Errorf("set_tid_address = %d", r)
	}
	if r := p.Syscall(unix.SYS_UNAME, [6]uint64{base}); r != 0 || string(mem.mem[:5]) != "Linux" || string(mem.mem[4*utsField:4*utsField+6]) != "x86_64" {
		t.Errorf("uname: %d %q", int64(r), mem.mem[:8])
	}
	if r := p.Syscall(unix.SYS_CLOCK_GETTIME, [6]uint64{unix.CLOCK_REALTIME, base}); r != 0 ||
		binary.LittleEndian.Uint64(mem.mem) != 1700000000 || binary.LittleEndian.Uint64(mem.mem[8:]) != 123456789 {
		t.Errorf("clock_gettime: %d %v", int64(r), mem.mem[:16])
	}
	if r := p.Syscall(unix.SYS_CLOCK_GETTIME, [6]uint64{99, base}); r != neg(unix.EINVAL) {
		t.Errorf("clock_gettime of a bad clock = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_TIME, [6]uint64{0}); r != 1700000000 {
		t.Errorf("time = %d", r)
	}
	if r := p.Syscall(unix.SYS_GETRANDOM, [6]uint64{base, 16, 0}); r != 16 || mem.mem[15] != 0xab {
		t.Errorf("getrandom = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_GETRANDOM, [6]uint64{base, 16, 0x80}); r != neg(unix.EINVAL) {
		t.Errorf("getrandom with bad flags = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_PRLIMIT64, [6]uint64{0, unix.RLIMIT_STACK, 0, base}); r != 0 ||
		binary.LittleEndian.Uint64(mem.mem) != 8<<20 || binary.LittleEndian.Uint64(mem.mem[8:]) != 1<<30 {
		t.Errorf("prlimit64: %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_PRLIMIT64, [6]uint64{0, unix.RLIMIT_STACK, base, 0}); r != 0 {
		t.Errorf("prlimit64 set to the same = %d", int64(r))
	}
	binary.LittleEndian.PutUint64(mem.mem, 4<<20)
	if r := p.Syscall(unix.SYS_PRLIMIT64, [6]uint64{0, unix.RLIMIT_STACK, base, 0}); r != 0 {
		t.Errorf("prlimit64 lowering the stack limit = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_GETRLIMIT, [6]uint64{unix.RLIMIT_STACK, base + 16}); r != 0 || binary.LittleEndian.Uint64(mem.mem[16:]) != 4<<20 {
		t.Errorf("getrlimit after lowering the stack limit: %d, %d", int64(r), binary.LittleEndian.Uint64(mem.mem[16:]))
	}
	if r := p.Syscall(unix.SYS_GETRLIMIT, [6]uint64{unix.RLIMIT_NOFILE, base}); r != 0 || binary.LittleEndian.Uint64(mem.mem) != rlimInfinity {
		t.Errorf("getrlimit: %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_GETRLIMIT, [6]uint64{rlimNLimits, base}); r != neg(unix.EINVAL) {
		t.Errorf("getrlimit past the last resource: %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_IOCTL, [6]uint64{1, unix.TCGETS, base}); r != neg(unix.ENOTTY) {
		t.Errorf("TCGETS on a non-terminal = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_FSTAT, [6]uint64{1, base}); r != 0 || binary.LittleEndian.Uint32(mem.mem[24:])&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("fstat: %d mode %#o", int64(r), binary.LittleEndian.Uint32(mem.mem[24:]))
	}
	if r := p.Syscall(unix.SYS_FSTAT, [6]uint64{5, base}); r != neg(unix.EBADF) {
		t.Errorf("fstat of fd 5 = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_RT_SIGPROCMASK, [6]uint64{unix.SIG_BLOCK, 0, base, 4}); r != neg(unix.EINVAL) {
		t.Errorf("rt_sigprocmask with a bad size = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{uint64(unix.SIGKILL), base, 0, 8}); r != neg(unix.EINVAL) {
		t.Errorf("rt_sigaction on SIGKILL = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_RSEQ, [6]uint64{}); r != neg(unix.ENOSYS) {
		t.Errorf("rseq = %d", int64(r))
	}
	if r := p.Syscall(9999, [6]uint64{}); r != neg(unix.ENOSYS) {
		t.Errorf("syscall 9999 = %d", int64(r))
	}
	calls, unknown := p.Stats()
	if unknown[9999] != 1 || len(unknown) != 1 {
		t.Errorf("unknown calls = %v", unknown)
	}
	found := false
	for _, c := range calls {
		if c.Name == "arch_prctl" && c.Count == 4 {
			found = true
		}
	}
	if !found {
		t.Errorf("arch_prctl not counted 4 times: %v", calls)
	}
	if r := p.Syscall(unix.SYS_EXIT_GROUP, [6]uint64{0x1ff}); r != 0 {
		t.Fatal("exit_group returned non-zero")
	}
	if exited, code := p.Exited(); !exited || code != 0xff {
		t.Errorf("Exited = %v, %d", exited, code)
	}
}

func TestNanosleepInterrupted(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	ctx, cancel := context.WithCancel(context.Background())
	p.SetContext(ctx)
	binary.LittleEndian.PutUint64(mem.mem, 3600) // an hour
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	if r := p.Syscall(unix.SYS_NANOSLEEP, [6]uint64{base, 0}); r != neg(unix.EINTR) {
		t.Errorf("interrupted nanosleep = %d", int64(r))
	}
	if time.Since(start) > 10*time.Second {
		t.Error("nanosleep was not interrupted")
	}
	binary.LittleEndian.PutUint64(mem.mem[8:], 1e9)
	if r := p.Syscall(unix.SYS_NANOSLEEP, [6]uint64{base, 0}); r != neg(unix.EINVAL) {
		t.Errorf("nanosleep with tv_nsec 1e9 = %d", int64(r))
	}
}

// TestNames checks the name table against x/sys's numbers and the
// handlers' own names, and that every number has a name to print.
func TestNames(t *testing.T) {
	for nr, e := range table {
		if got := Name(nr); got != e.name {
			t.Errorf("Name(%d) = %q, the handler is named %q", nr, got, e.name)
		}
		if !Implemented(nr) {
			t.Errorf("Implemented(%d) = false for %s", nr, e.name)
		}
	}
	for _, tc := range []struct {
		nr   uint64
		want string
	}{
		{unix.SYS_READ, "read"}, {unix.SYS_OPEN, "open"}, {unix.SYS_OPENAT, "openat"},
		{unix.SYS_CLOSE, "close"}, {unix.SYS_POLL, "poll"}, {unix.SYS_FUTEX, "futex"},
		{unix.SYS_SIGALTSTACK, "sigaltstack"}, {unix.SYS_SCHED_GETAFFINITY, "sched_getaffinity"},
		{unix.SYS__SYSCTL, "_sysctl"}, {unix.SYS_RSEQ, "rseq"}, {unix.SYS_PIDFD_SEND_SIGNAL, "pidfd_send_signal"},
		{unix.SYS_CLONE3, "clone3"}, {unix.SYS_STATX, "statx"}, {unix.SYS_FUTEX_WAITV, "futex_waitv"},
		{unix.SYS_MSEAL, "mseal"}, {unix.SYS_RSEQ_SLICE_YIELD, "rseq_slice_yield"},
		{400, "syscall_400"}, {uint64(len(names)), fmt.Sprintf("syscall_%d", len(names))}, {9999, "syscall_9999"},
	} {
		if got := Name(tc.nr); got != tc.want {
			t.Errorf("Name(%d) = %q, want %q", tc.nr, got, tc.want)
		}
	}
	for nr := uint64(0); nr < uint64(len(names)); nr++ {
		if (nr < 337 || nr >= 424) != (names[nr] != "") {
			t.Errorf("names[%d] = %q: x86-64 numbers 0-336 and 424 on have names, the others none", nr, names[nr])
		}
	}
	if Implemented(unix.SYS_FUTEX_WAITV) {
		t.Error("futex_waitv is implemented: pick another unimplemented call for this test")
	}
}

// TestPoll checks poll's answers for stdio, closed and skipped fds, as a
// Linux process whose fds 0-2 are open and nothing else is.
func TestPoll(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	put := func(i int, fd int32, events uint16) {
		binary.LittleEndian.PutUint32(mem.mem[8*i:], uint32(fd))
		binary.LittleEndian.PutUint16(mem.mem[8*i+4:], events)
		binary.LittleEndian.PutUint16(mem.mem[8*i+6:], 0xffff)
	}
	revents := func(i int) uint16 { return binary.LittleEndian.Uint16(mem.mem[8*i+6:]) }
	// Rust's start-up check: fds 0-2, no events, timeout 0.
	for i := range 3 {
		put(i, int32(i), 0)
	}
	if r := p.Syscall(unix.SYS_POLL, [6]uint64{base, 3, 0}); r != 0 || revents(0) != 0 || revents(1) != 0 || revents(2) != 0 {
		t.Errorf("poll of stdio with no events = %d, revents %#x %#x %#x", int64(r), revents(0), revents(1), revents(2))
	}
	put(0, 0, unix.POLLIN|unix.POLLOUT)
	put(1, 1, unix.POLLIN|unix.POLLOUT)
	put(2, 7, unix.POLLIN)
	put(3, -1, unix.POLLIN)
	if r := p.Syscall(unix.SYS_POLL, [6]uint64{base, 4, ^uint64(0)}); r != 3 ||
		revents(0) != unix.POLLIN || revents(1) != unix.POLLOUT || revents(2) != unix.POLLNVAL || revents(3) != 0 {
		t.Errorf("poll = %d, revents %#x %#x %#x %#x", int64(r), revents(0), revents(1), revents(2), revents(3))
	}
	if r := p.Syscall(unix.SYS_POLL, [6]uint64{0x1000, 1, 0}); r != neg(unix.EFAULT) {
		t.Errorf("poll of an unmapped array = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_POLL, [6]uint64{base, maxPollFDs + 1, 0}); r != neg(unix.EINVAL) {
		t.Errorf("poll of too many fds = %d", int64(r))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.SetContext(ctx)
	cancel()
	if r := p.Syscall(unix.SYS_POLL, [6]uint64{0, 0, ^uint64(0)}); r != neg(unix.EINTR) {
		t.Errorf("poll with nothing to wait for, interrupted = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_POLL, [6]uint64{0, 0, 1}); r != 0 && r != neg(unix.EINTR) {
		t.Errorf("poll(NULL, 0, 1ms) = %d", int64(r))
	}
}

// TestUnameIsTheHosts compares the guest's struct utsname with the host
// kernel's, byte for byte: a program sees the system it runs on named as
// it is natively. Config.Uname replaces it (the mmvm inside QEMU passes
// the outer host's).
func TestUnameIsTheHosts(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	var host unix.Utsname
	if err := unix.Uname(&host); err != nil {
		t.Fatal(err)
	}
	want := (*[6 * utsField]byte)(unsafe.Pointer(&host))[:]
	if r := p.Syscall(unix.SYS_UNAME, [6]uint64{base}); r != 0 || !bytes.Equal(mem.mem[:6*utsField], want) {
		t.Errorf("uname = %d\n%q\nthe host's\n%q", int64(r), mem.mem[:6*utsField], want)
	}
	p.cfg.Uname = Uname{"Linux", "outer", "6.18.44", "#1 SMP", "x86_64", "(none)"}
	if r := p.Syscall(unix.SYS_UNAME, [6]uint64{base}); r != 0 || string(mem.mem[utsField:utsField+6]) != "outer\x00" || string(mem.mem[2*utsField:2*utsField+8]) != "6.18.44\x00" {
		t.Errorf("uname with Config.Uname = %d %q", int64(r), mem.mem[:3*utsField])
	}
}
