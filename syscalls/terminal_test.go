package syscalls

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ttyTest is a process whose stdio is one pseudo-terminal of the host,
// shown to it as ctty says.
type ttyTest struct {
	t      *testing.T
	p      *Process
	mem    *flatMemory
	master int
	out    *bytes.Buffer
}

func newTTYTest(t *testing.T, term *Terminal) *ttyTest {
	t.Helper()
	master, slave := openPTY(t)
	mem := &flatMemory{base: base, mem: make([]byte, 1<<16)}
	var out bytes.Buffer
	cfg := Config{
		Memory: mem, Stdin: os.NewFile(uintptr(slave), "slave"), Stdout: &out, Stderr: &out,
		StdioFDs: [3]int{slave, slave, slave}, PID: 42,
		Now: func() time.Time { return time.Unix(1700000000, 0) },
	}
	for i := range cfg.Terminals {
		cfg.Terminals[i] = term
	}
	return &ttyTest{t: t, p: NewProcess(cfg), mem: mem, master: master, out: &out}
}

// str puts s, NUL-terminated, at offset off of guest memory and returns
// its address.
func (w *ttyTest) str(off uint64, s string) uint64 {
	copy(w.mem.mem[off:], s+"\x00")
	return base + off
}

func (w *ttyTest) call(nr uint64, a ...uint64) uint64 {
	var args [6]uint64
	copy(args[:], a)
	return w.p.Syscall(nr, args)
}

// stat is stat(path), or fstat(fd) where path is "".
func (w *ttyTest) stat(path string, fd uint64) unix.Stat_t {
	w.t.Helper()
	var r uint64
	if path == "" {
		r = w.call(unix.SYS_FSTAT, fd, base+0x1000)
	} else {
		r = w.call(unix.SYS_STAT, w.str(0x100, path), base+0x1000)
	}
	if r != 0 {
		w.t.Fatalf("stat %q / fstat %d: %d", path, fd, int64(r))
	}
	return *(*unix.Stat_t)(unsafe.Pointer(&w.mem.mem[0x1000]))
}

func (w *ttyTest) readFile(path string) string {
	w.t.Helper()
	fd := w.call(unix.SYS_OPEN, w.str(0x100, path), unix.O_RDONLY)
	if int64(fd) < 0 {
		w.t.Fatalf("open %s: %d", path, int64(fd))
	}
	defer w.call(unix.SYS_CLOSE, fd)
	n := w.call(unix.SYS_READ, fd, base+0x2000, 4096)
	if int64(n) < 0 {
		w.t.Fatalf("read %s: %d", path, int64(n))
	}
	return string(w.mem.mem[0x2000 : 0x2000+n])
}

func (w *ttyTest) readlink(path string) string {
	n := w.call(unix.SYS_READLINK, w.str(0x100, path), base+0x2000, 256)
	if int64(n) < 0 {
		return fmt.Sprintf("errno %d", -int64(n))
	}
	return string(w.mem.mem[0x2000 : 0x2000+n])
}

// statFields are /proc/self/stat's tty_nr and tpgid.
func (w *ttyTest) statFields() (ttyNr, tpgid string) {
	s := w.readFile("/proc/self/stat")
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	return f[4], f[5]
}

// ioctlInt is an ioctl whose argument points to an int: the result and
// the int after.
func (w *ttyTest) ioctlInt(fd, req uint64, in int32) (uint64, int32) {
	putU32(w.mem.mem[0x3000:], uint32(in))
	r := w.call(unix.SYS_IOCTL, fd, req, base+0x3000)
	return r, int32(uint32(w.mem.mem[0x3000]) | uint32(w.mem.mem[0x3001])<<8 | uint32(w.mem.mem[0x3002])<<16 | uint32(w.mem.mem[0x3003])<<24)
}

// A controlling terminal behind stdio is one device: its /dev/pts node,
// the fds' fstat and links, /dev/tty, /proc/self/stat and the job
// control requests agree, as on Linux for a shell's foreground job.
func TestTerminalIsOneDevice(t *testing.T) {
	w := newTTYTest(t, &Terminal{Path: "/dev/pts/7", Rdev: unix.Mkdev(136, 7), Mode: 0o620, Gid: 5, Controlling: true})
	node := w.stat("/dev/pts/7", 0)
	if node.Mode != unix.S_IFCHR|0o620 || node.Rdev != unix.Mkdev(136, 7) || node.Gid != 5 || node.Ino != 10 {
		t.Errorf("/dev/pts/7: mode %o rdev %d,%d gid %d ino %d; want 20620, 136,7, 5, 10", node.Mode, unix.Major(node.Rdev), unix.Minor(node.Rdev), node.Gid, node.Ino)
	}
	for fd := range uint64(3) {
		st := w.stat("", fd)
		if st.Dev != node.Dev || st.Ino != node.Ino || st.Mode != node.Mode || st.Rdev != node.Rdev {
			t.Errorf("fstat(%d) %+v differs from stat of the node %+v", fd, st, node)
		}
		if l := w.readlink("/proc/self/fd/" + strconv.Itoa(int(fd))); l != "/dev/pts/7" {
			t.Errorf("/proc/self/fd/%d links to %q", fd, l)
		}
	}
	if dir := w.stat("/dev/pts", 0); dir.Mode&unix.S_IFMT != unix.S_IFDIR || dir.Dev != node.Dev {
		t.Errorf("/dev/pts: mode %o dev %#x, want a directory on the node's device %#x", dir.Mode, dir.Dev, node.Dev)
	}
	if nr, tpgid := w.statFields(); nr != "34823" || tpgid != "42" {
		t.Errorf("tty_nr %s tpgid %s, want 34823 (136,7) and 42", nr, tpgid)
	}
	fd := w.call(unix.SYS_OPEN, w.str(0x100, "/dev/tty"), unix.O_RDWR)
	if int64(fd) < 0 {
		t.Fatalf("open /dev/tty: %d", int64(fd))
	}
	if st, dev := w.stat("", fd), w.stat("/dev/tty", 0); st != dev || st.Rdev != unix.Mkdev(5, 0) {
		t.Errorf("fstat of /dev/tty's fd: %+v, want /dev/tty's node %+v (5,0), as Linux", st, dev)
	}
	if l := w.readlink("/proc/self/fd/" + strconv.Itoa(int(fd))); l != "/dev/tty" {
		t.Errorf("/dev/tty's fd links to %q", l)
	}
	if r, pg := w.ioctlInt(fd, unix.TIOCGPGRP, 0); r != 0 || pg != 42 {
		t.Errorf("TIOCGPGRP: %d, %d; want 0, 42", int64(r), pg)
	}
	if r, sid := w.ioctlInt(0, unix.TIOCGSID, -5); r != 0 || sid != 0 {
		t.Errorf("TIOCGSID: %d, %d; want 0 and the session outside the VM, 0", int64(r), sid)
	}
	for _, tc := range []struct {
		pgrp int32
		want uint64
	}{{-1, neg(unix.EINVAL)}, {4242, neg(unix.ESRCH)}, {42, 0}} {
		if r, _ := w.ioctlInt(1, unix.TIOCSPGRP, tc.pgrp); r != tc.want {
			t.Errorf("TIOCSPGRP %d: %d, want %d", tc.pgrp, int64(r), int64(tc.want))
		}
	}
	// Writes to stdin's fd and to /dev/tty's reach the terminal, as
	// stdout's do.
	copy(w.mem.mem[0x400:], "ab")
	if r := w.call(unix.SYS_WRITE, 0, base+0x400, 1); r != 1 {
		t.Errorf("write to fd 0 on the terminal: %d", int64(r))
	}
	if r := w.call(unix.SYS_WRITE, fd, base+0x401, 1); r != 1 {
		t.Errorf("write to /dev/tty: %d", int64(r))
	}
	if w.out.String() != "ab" {
		t.Errorf("the terminal got %q, want \"ab\"", w.out.String())
	}
	// Bytes typed on the terminal are read through fd 2 and /dev/tty as
	// through fd 0.
	unix.Write(w.master, []byte("x\ny\n"))
	for _, rfd := range []uint64{2, fd} {
		if r := w.call(unix.SYS_READ, rfd, base+0x500, 100); int64(r) != 2 {
			t.Errorf("read of fd %d on the terminal: %d", rfd, int64(r))
		}
	}
	if r, _ := w.ioctlInt(0, unix.TIOCSTI, 'z'); r != neg(unix.ENOTTY) {
		t.Errorf("TIOCSTI: %d, want ENOTTY: the host terminal's input is not the guest's to fill", int64(r))
	}
	// TIOCNOTTY by a process that leads no session drops its terminal.
	if r := w.call(unix.SYS_IOCTL, 0, unix.TIOCNOTTY, 0); r != 0 {
		t.Errorf("TIOCNOTTY: %d", int64(r))
	}
	if r, _ := w.ioctlInt(0, unix.TIOCGPGRP, 0); r != neg(unix.ENOTTY) {
		t.Errorf("TIOCGPGRP after TIOCNOTTY: %d, want ENOTTY", int64(r))
	}
	if r := w.call(unix.SYS_OPEN, w.str(0x100, "/dev/tty"), unix.O_RDWR); r != neg(unix.ENXIO) {
		t.Errorf("open /dev/tty with no controlling terminal: %d, want ENXIO", int64(r))
	}
	if nr, tpgid := w.statFields(); nr != "0" || tpgid != "-1" {
		t.Errorf("after TIOCNOTTY tty_nr %s tpgid %s, want 0 and -1", nr, tpgid)
	}
}

// A session leader with no controlling terminal takes the terminal with
// TIOCSCTTY only where no session holds it, unless it steals it (arg 1,
// CAP_SYS_ADMIN); opening the node without O_NOCTTY takes a free one.
func TestTerminalSessions(t *testing.T) {
	w := newTTYTest(t, &Terminal{Path: "/dev/pts/3", Rdev: unix.Mkdev(136, 3), Controlling: true})
	// As a forked child in its parent's group is: setsid refuses a
	// group's leader.
	w.p.family.pgid = 7
	if r := w.call(unix.SYS_SETSID); r != 42 {
		t.Fatalf("setsid: %d", int64(r))
	}
	if nr, _ := w.statFields(); nr != "0" {
		t.Errorf("after setsid tty_nr %s, want 0", nr)
	}
	if r := w.call(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0); r != neg(unix.EPERM) {
		t.Errorf("TIOCSCTTY of the outer session's terminal: %d, want EPERM", int64(r))
	}
	if r := w.call(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 1); r != 0 {
		t.Errorf("TIOCSCTTY 1 (steal, CAP_SYS_ADMIN): %d", int64(r))
	}
	if r, sid := w.ioctlInt(0, unix.TIOCGSID, 0); r != 0 || sid != 42 {
		t.Errorf("TIOCGSID after TIOCSCTTY: %d, %d; want 0, 42", int64(r), sid)
	}
	// The leader gives it up: nobody's, and open without O_NOCTTY takes
	// it again. Its foreground group, the leader's own, gets SIGHUP,
	// which would end it.
	copy(w.mem.mem[0x600:], make([]byte, 32))
	w.mem.mem[0x600] = 1 // SIG_IGN
	if r := w.call(unix.SYS_RT_SIGACTION, uint64(unix.SIGHUP), base+0x600, 0, 8); r != 0 {
		t.Fatalf("rt_sigaction: %d", int64(r))
	}
	if r := w.call(unix.SYS_IOCTL, 0, unix.TIOCNOTTY, 0); r != 0 {
		t.Fatalf("TIOCNOTTY: %d", int64(r))
	}
	if r, _ := w.ioctlInt(0, unix.TIOCGSID, 0); r != neg(unix.ENOTTY) {
		t.Errorf("TIOCGSID with no controlling terminal: %d, want ENOTTY", int64(r))
	}
	if fd := w.call(unix.SYS_OPEN, w.str(0x100, "/dev/pts/3"), unix.O_RDWR|unix.O_NOCTTY); int64(fd) < 0 {
		t.Fatalf("open O_NOCTTY: %d", int64(fd))
	}
	if nr, _ := w.statFields(); nr != "0" {
		t.Errorf("after an O_NOCTTY open tty_nr %s, want 0", nr)
	}
	if fd := w.call(unix.SYS_OPEN, w.str(0x100, "/dev/pts/3"), unix.O_RDWR); int64(fd) < 0 {
		t.Fatalf("open: %d", int64(fd))
	}
	if nr, tpgid := w.statFields(); nr != "34819" || tpgid != "42" {
		t.Errorf("after the leader's open tty_nr %s tpgid %s, want 34819 and 42", nr, tpgid)
	}
}

// A terminal that is not the controlling one (a pty the test's process
// does not control) shows its node, the host's number, and no job
// control: the requests are ENOTTY, /proc's tty_nr 0.
func TestHostTerminalNotControlling(t *testing.T) {
	w := newTTYTest(t, nil)
	st := w.stat("", 1)
	path := terminalPath(st.Rdev)
	if !strings.HasPrefix(path, "/dev/pts/") {
		t.Fatalf("the host's pty %d,%d named %s", unix.Major(st.Rdev), unix.Minor(st.Rdev), path)
	}
	var host unix.Stat_t
	if err := unix.Fstat(w.p.cfg.StdioFDs[1], &host); err != nil {
		t.Fatal(err)
	}
	if st.Rdev != host.Rdev || st.Mode != host.Mode {
		t.Errorf("fstat: rdev %#x mode %o, the host's node %#x %o", st.Rdev, st.Mode, host.Rdev, host.Mode)
	}
	if node := w.stat(path, 0); node.Ino != st.Ino || node.Rdev != st.Rdev {
		t.Errorf("stat %s: ino %d rdev %#x; fstat ino %d rdev %#x", path, node.Ino, node.Rdev, st.Ino, st.Rdev)
	}
	if l := w.readlink("/proc/self/fd/0"); l != path {
		t.Errorf("/proc/self/fd/0 links to %q, want %q", l, path)
	}
	if nr, tpgid := w.statFields(); nr != "0" || tpgid != "-1" {
		t.Errorf("tty_nr %s tpgid %s, want 0 and -1", nr, tpgid)
	}
	if r, _ := w.ioctlInt(0, unix.TIOCGPGRP, 0); r != neg(unix.ENOTTY) {
		t.Errorf("TIOCGPGRP: %d, want ENOTTY", int64(r))
	}
	if r := w.call(unix.SYS_OPEN, w.str(0x100, "/dev/tty"), unix.O_RDWR); r != neg(unix.ENXIO) {
		t.Errorf("open /dev/tty: %d, want ENXIO", int64(r))
	}
}

func TestTerminalFormatRoundTrip(t *testing.T) {
	for _, term := range []Terminal{
		{Path: "/dev/pts/300", Rdev: unix.Mkdev(137, 44), Mode: 0o620, Gid: 5, Controlling: true},
		{Path: "/dev/ttyS0", Rdev: unix.Mkdev(4, 64), Mode: 0o660},
	} {
		s := FormatTerminal(&term)
		got, ok := ParseTerminal(s)
		if !ok || *got != term {
			t.Errorf("%+v went as %q, came back %+v %v", term, s, got, ok)
		}
	}
	for _, bad := range []string{"", "/dev/pts/1:136:1:620", "pts/1:136:1:620:5", "/dev/pts/1:136:1:620:5:x", "/dev/pts/1:a:1:620:5"} {
		if _, ok := ParseTerminal(bad); ok {
			t.Errorf("ParseTerminal(%q) took it", bad)
		}
	}
	for _, rdev := range []uint64{unix.Mkdev(136, 0), unix.Mkdev(137, 44), unix.Mkdev(4, 64), unix.Mkdev(300, 70000)} {
		w := &ttyTest{p: &Process{}}
		w.p.family.ctty = &tty{Terminal: Terminal{Rdev: rdev}}
		if nr, _ := w.p.ttyNr(); decodeDev(uint32(nr)) != rdev {
			t.Errorf("%d,%d encodes as %#x, which decodes as %#x", unix.Major(rdev), unix.Minor(rdev), nr, decodeDev(uint32(nr)))
		}
	}
	if p := terminalPath(unix.Mkdev(137, 44)); p != "/dev/pts/300" {
		t.Errorf("terminalPath(137,44) = %s", p)
	}
}

// A change of the terminal's settings is made on the host terminal and
// told to Config.TerminalSet; a failed one is not.
func TestTerminalSetIsTold(t *testing.T) {
	w := newTTYTest(t, nil)
	var told []int
	w.p.cfg.TerminalSet = func(i int) { told = append(told, i) }
	if r := w.call(unix.SYS_IOCTL, 2, unix.TCGETS, base+0x800); r != 0 {
		t.Fatalf("TCGETS: %d", int64(r))
	}
	w.mem.mem[0x800+12] &^= byte(unix.ECHO) // c_lflag's low byte
	if r := w.call(unix.SYS_IOCTL, 2, unix.TCSETS, base+0x800); r != 0 {
		t.Fatalf("TCSETS: %d", int64(r))
	}
	if tio, err := unix.IoctlGetTermios(w.p.cfg.StdioFDs[2], unix.TCGETS); err != nil || tio.Lflag&unix.ECHO != 0 {
		t.Errorf("the host terminal's lflag %#x, %v: want ECHO off", tio.Lflag, err)
	}
	if r := w.call(unix.SYS_IOCTL, 2, unix.TCSETS, 0x10); r != neg(unix.EFAULT) {
		t.Errorf("TCSETS from a bad address: %d", int64(r))
	}
	if len(told) != 1 || told[0] != 2 {
		t.Errorf("TerminalSet told %v, want [2]", told)
	}
}

// Each of stdout and stderr on the terminal keeps its own writer; stdin,
// which has none, writes through stdout's.
func TestTerminalWritesKeepTheirStream(t *testing.T) {
	w := newTTYTest(t, nil)
	var errOut bytes.Buffer
	w.p.cfg.Stderr = &errOut
	copy(w.mem.mem[0x400:], "012")
	for fd := range uint64(3) {
		if r := w.call(unix.SYS_WRITE, fd, base+0x400+fd, 1); r != 1 {
			t.Errorf("write to fd %d: %d", fd, int64(r))
		}
	}
	if w.out.String() != "01" || errOut.String() != "2" {
		t.Errorf("stdout got %q, stderr %q; want \"01\" and \"2\"", w.out.String(), errOut.String())
	}
}
