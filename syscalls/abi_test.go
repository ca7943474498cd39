package syscalls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a fresh pseudo-terminal, with a window
// size set, or skips the test where the host has none.
func openPTY(t *testing.T) (master, slave int) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal on the host: %v", err)
	}
	t.Cleanup(func() { unix.Close(m) })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("opening the pty's slave: %v", err)
	}
	t.Cleanup(func() { unix.Close(s) })
	if err := unix.IoctlSetWinsize(s, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80, Xpixel: 640, Ypixel: 480}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// canaries fill a buffer before a call, so that the bytes the call wrote
// are those that differ from both fillings.
var canaries = []byte{0xaa, 0x55}

// extentSlack is how much room past the expected size a buffer leaves, to
// see writes beyond it.
const extentSlack = 512

// written runs call twice on buf, filled with each canary, and returns how
// far into buf it wrote (the index after the last byte it changed) and what
// it wrote in the first run.
func written(t *testing.T, buf []byte, call func() error) (int, []byte) {
	t.Helper()
	extent := 0
	var first []byte
	for i, c := range canaries {
		for j := range buf {
			buf[j] = c
		}
		if err := call(); err != nil {
			t.Fatalf("call with canary %#x: %v", c, err)
		}
		for j := len(buf) - 1; j >= extent; j-- {
			if buf[j] != c {
				extent = j + 1
				break
			}
		}
		if i == 0 {
			first = bytes.Clone(buf)
		}
	}
	return extent, first[:extent]
}

// rawCall makes a host system call; a failure becomes its errno.
func rawCall(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

// guestCall makes a guest system call; a negative result becomes its
// errno.
func guestCall(p *Process, nr uint64, args ...uint64) error {
	var a [6]uint64
	copy(a[:], args)
	if r := p.Syscall(nr, a); int64(r) < 0 && int64(r) > -4096 {
		return unix.Errno(-int64(r))
	}
	return nil
}

// outCase is one structure a system call copies out: what the host kernel
// writes and what mmvm writes for the same call.
type outCase struct {
	name string
	size int // its Linux x86-64 size
	// host makes the call on the host into buf.
	host func(buf unsafe.Pointer) error
	// guest makes mmvm's call into guest memory at addr.
	guest func(p *Process, addr uint64) error
	// same says the host's and mmvm's bytes must be equal, not only as
	// many; check, if set, checks the layout of each answer.
	same  bool
	check func(t *testing.T, b []byte)
}

// TestABIOut checks every structure mmvm copies out to the guest against
// the host kernel: the same number of bytes written into a buffer full of
// canaries (never a Go type's size by accident), and, where the answer is
// the host's, the same bytes.
// runOutCases runs each case on the host and in mmvm, the guest's buffer
// being guest at guest address addr, and compares what each wrote.
func runOutCases(t *testing.T, p *Process, guest []byte, addr uint64, cases []outCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hbuf := make([]byte, tc.size+extentSlack)
			hn, hb := written(t, hbuf, func() error { return tc.host(unsafe.Pointer(&hbuf[0])) })
			gbuf := guest[:tc.size+extentSlack]
			gn, gb := written(t, gbuf, func() error { return tc.guest(p, addr) })
			if hn != tc.size {
				t.Errorf("the host wrote %d bytes, the test expects Linux's %d", hn, tc.size)
			}
			if gn != hn {
				t.Errorf("mmvm wrote %d bytes, the host %d", gn, hn)
			}
			if tc.same && !bytes.Equal(gb, hb) {
				t.Errorf("mmvm wrote\n%x\nthe host\n%x", gb, hb)
			}
			if tc.check != nil {
				tc.check(t, hb)
				tc.check(t, gb)
			}
		})
	}
}

func TestABIOut(t *testing.T) {
	_, pty := openPTY(t)
	p, mem, _ := newTestProcess(t)
	p.cfg.StdioFDs = [3]int{-1, pty, -1}
	var stack unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &stack); err != nil {
		t.Fatal(err)
	}
	p.cfg.Limits = map[int]Limit{unix.RLIMIT_STACK: {stack.Cur, stack.Max}}
	p.cfg.Now = time.Now
	const at = 0x1000 // where in guest memory the structure goes
	addr := uint64(base + at)
	copy(mem.mem, "\x00") // an empty path at base, for newfstatat
	near := func(sec uint64) bool {
		return int64(sec) > time.Now().Unix()-86400 && int64(sec) < time.Now().Unix()+86400
	}
	u := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	cases := []outCase{
		{name: "ioctl TCGETS (struct termios)", size: termiosSize, same: true,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_IOCTL, uintptr(pty), unix.TCGETS, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_IOCTL, 1, unix.TCGETS, a) }},
		{name: "ioctl TIOCGWINSZ (struct winsize)", size: winsizeSize, same: true,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_IOCTL, uintptr(pty), unix.TIOCGWINSZ, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_IOCTL, 1, unix.TIOCGWINSZ, a) },
			check: func(t *testing.T, b []byte) {
				if r, c := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]); r != 24 || c != 80 {
					t.Errorf("ws_row %d, ws_col %d, want 24, 80", r, c)
				}
			}},
		// struct stat: mmvm shows its own device, inode, owner and times
		// (no host facts), so the layout is compared by size and by the
		// file type in st_mode (offset 24), not byte for byte.
		{name: "fstat (struct stat)", size: 144, check: statIsCharDevice,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_FSTAT, uintptr(pty), u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_FSTAT, 1, a) }},
		{name: "newfstatat AT_EMPTY_PATH (struct stat)", size: 144, check: statIsCharDevice,
			host: func(b unsafe.Pointer) error {
				empty := []byte{0}
				return rawCall(unix.SYS_NEWFSTATAT, uintptr(pty), u(unsafe.Pointer(&empty[0])), u(b), unix.AT_EMPTY_PATH)
			},
			guest: func(p *Process, a uint64) error {
				return guestCall(p, unix.SYS_NEWFSTATAT, 1, base, a, unix.AT_EMPTY_PATH)
			}},
		{name: "uname (struct new_utsname)", size: 6 * 65,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_UNAME, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_UNAME, a) },
			check: func(t *testing.T, b []byte) {
				if string(b[:6]) != "Linux\x00" || string(b[4*65:4*65+7]) != "x86_64\x00" {
					t.Errorf("sysname %q, machine %q", b[:6], b[4*65:4*65+7])
				}
			}},
		{name: "getrlimit (struct rlimit)", size: 16, same: true,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_GETRLIMIT, unix.RLIMIT_STACK, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_GETRLIMIT, unix.RLIMIT_STACK, a) }},
		{name: "prlimit64 old (struct rlimit64)", size: 16, same: true,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_STACK, 0, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_STACK, 0, a) }},
		{name: "clock_gettime (struct timespec)", size: timespecSize,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_REALTIME, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_CLOCK_GETTIME, unix.CLOCK_REALTIME, a) },
			check: func(t *testing.T, b []byte) {
				if s, ns := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]); !near(s) || ns >= 1e9 {
					t.Errorf("tv_sec %d, tv_nsec %d", s, ns)
				}
			}},
		{name: "clock_getres (struct timespec)", size: timespecSize, same: true,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_CLOCK_GETRES, unix.CLOCK_MONOTONIC, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_CLOCK_GETRES, unix.CLOCK_MONOTONIC, a) }},
		{name: "clock_getres coarse (struct timespec)", size: timespecSize, same: true,
			host: func(b unsafe.Pointer) error { return rawCall(unix.SYS_CLOCK_GETRES, unix.CLOCK_REALTIME_COARSE, u(b)) },
			guest: func(p *Process, a uint64) error {
				return guestCall(p, unix.SYS_CLOCK_GETRES, unix.CLOCK_REALTIME_COARSE, a)
			}},
		{name: "gettimeofday tv (struct timeval)", size: timespecSize,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_GETTIMEOFDAY, u(b), 0) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_GETTIMEOFDAY, a, 0) },
			check: func(t *testing.T, b []byte) {
				if s, us := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]); !near(s) || us >= 1e6 {
					t.Errorf("tv_sec %d, tv_usec %d", s, us)
				}
			}},
		{name: "gettimeofday tz (struct timezone)", size: 8,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_GETTIMEOFDAY, 0, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_GETTIMEOFDAY, 0, a) }},
		{name: "time (time_t)", size: 8,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_TIME, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_TIME, a) },
			check: func(t *testing.T, b []byte) {
				if !near(binary.LittleEndian.Uint64(b)) {
					t.Errorf("time %d", binary.LittleEndian.Uint64(b))
				}
			}},
		{name: "rt_sigaction old (struct sigaction, kernel layout)", size: sigactionSize,
			host: func(b unsafe.Pointer) error {
				return rawCall(unix.SYS_RT_SIGACTION, uintptr(unix.SIGUSR1), 0, u(b), sigsetSize)
			},
			guest: func(p *Process, a uint64) error {
				return guestCall(p, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), 0, a, sigsetSize)
			}},
		{name: "rt_sigprocmask old (sigset_t)", size: sigsetSize,
			host: func(b unsafe.Pointer) error {
				return rawCall(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, u(b), sigsetSize)
			},
			guest: func(p *Process, a uint64) error {
				return guestCall(p, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, a, sigsetSize)
			}},
		{name: "arch_prctl ARCH_GET_FS (unsigned long)", size: 8,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_ARCH_PRCTL, archGetFS, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_ARCH_PRCTL, archGetFS, a) }},
		{name: "getrandom (24 bytes asked)", size: 24,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_GETRANDOM, u(b), 24, 0) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_GETRANDOM, a, 24, 0) }},
	}
	runOutCases(t, p, mem.mem[at:], addr, cases)
}

// inCase is one structure a system call copies in from the guest.
type inCase struct {
	name string
	size int // its Linux x86-64 size
	// prepare writes the structure to b, len(b) == size.
	prepare func(b []byte)
	// host makes the call on the host with the structure at s; nil when
	// the call would change the test process itself.
	host  func(s unsafe.Pointer) error
	guest func(p *Process, addr uint64) error
}

// TestABIIn checks that mmvm reads exactly Linux's size for every
// structure it copies in: the call succeeds with the structure ending at
// the last readable byte and fails with EFAULT when its last byte is
// unreadable. Where the call is harmless, the host kernel is checked the
// same way, against a guard page.
func TestABIIn(t *testing.T) {
	_, pty := openPTY(t)
	p, mem, _ := newTestProcess(t)
	p.cfg.StdioFDs = [3]int{-1, pty, -1}
	termios, err := unix.IoctlGetTermios(pty, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(devnull)
	u := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	cases := []inCase{
		{name: "ioctl TCSETS (struct termios)", size: termiosSize,
			prepare: func(b []byte) { e := encodeTermios(termios); copy(b, e[:]) },
			host:    func(s unsafe.Pointer) error { return rawCall(unix.SYS_IOCTL, uintptr(pty), unix.TCSETS, u(s)) },
			guest:   func(p *Process, a uint64) error { return guestCall(p, unix.SYS_IOCTL, 1, unix.TCSETS, a) }},
		{name: "ioctl TCSETSW (struct termios)", size: termiosSize,
			prepare: func(b []byte) { e := encodeTermios(termios); copy(b, e[:]) },
			host:    func(s unsafe.Pointer) error { return rawCall(unix.SYS_IOCTL, uintptr(pty), unix.TCSETSW, u(s)) },
			guest:   func(p *Process, a uint64) error { return guestCall(p, unix.SYS_IOCTL, 1, unix.TCSETSW, a) }},
		{name: "nanosleep (struct timespec)", size: timespecSize,
			prepare: func(b []byte) { clear(b) },
			host:    func(s unsafe.Pointer) error { return rawCall(unix.SYS_NANOSLEEP, u(s), 0) },
			guest:   func(p *Process, a uint64) error { return guestCall(p, unix.SYS_NANOSLEEP, a, 0) }},
		{name: "rt_sigprocmask set (sigset_t)", size: sigsetSize,
			prepare: func(b []byte) { clear(b) },
			host: func(s unsafe.Pointer) error {
				return rawCall(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, u(s), 0, sigsetSize)
			},
			guest: func(p *Process, a uint64) error {
				return guestCall(p, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, a, 0, sigsetSize)
			}},
		{name: "writev (struct iovec)", size: 16,
			prepare: func(b []byte) { clear(b) }, // one empty piece
			host:    func(s unsafe.Pointer) error { return rawCall(unix.SYS_WRITEV, uintptr(devnull), u(s), 1) },
			guest:   func(p *Process, a uint64) error { return guestCall(p, unix.SYS_WRITEV, 1, a, 1) }},
		{name: "rt_sigaction act (struct sigaction, kernel layout)", size: sigactionSize,
			prepare: func(b []byte) { clear(b) }, // SIG_DFL
			guest: func(p *Process, a uint64) error {
				return guestCall(p, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR2), a, 0, sigsetSize)
			}},
	}
	// Two host pages, the second a guard page.
	host, err := unix.Mmap(-1, 0, 2*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(host)
	if err := unix.Mprotect(host[pg:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, short := range []int{0, 1} {
				want := error(nil)
				if short == 1 {
					want = unix.EFAULT
				}
				// The structure's last byte is the last readable one, or
				// one past it.
				off := len(mem.mem) - tc.size + short
				tc.prepare(mem.mem[off-short : off-short+tc.size])
				copy(mem.mem[off:], mem.mem[off-short:off-short+tc.size-short])
				if err := tc.guest(p, uint64(base+off)); err != want {
					t.Errorf("mmvm with %d of %d bytes readable: %v, want %v", tc.size-short, tc.size, err, want)
				}
				if tc.host == nil {
					continue
				}
				hoff := pg - tc.size + short
				tc.prepare(host[hoff-short : hoff-short+tc.size])
				copy(host[hoff:pg], host[hoff-short:hoff-short+tc.size-short])
				if err := tc.host(unsafe.Pointer(&host[hoff])); err != want {
					t.Errorf("the host with %d of %d bytes readable: %v, want %v (the test's size is not Linux's)", tc.size-short, tc.size, err, want)
				}
			}
		})
	}
}

const pg = 4096

// statIsCharDevice checks that a struct stat holds a character device's
// st_mode at Linux's offset (24): the terminal the test stats.
func statIsCharDevice(t *testing.T, b []byte) {
	t.Helper()
	if mode := binary.LittleEndian.Uint32(b[24:]); mode&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("st_mode %#o at offset 24, want a character device", mode)
	}
}
