package syscalls

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The terminals the program was given on stdio, as the guest sees them. A
// terminal behind fd 0, 1 or 2 is one device whatever fds show it: it has
// a node in the guest's /dev (/dev/pts/N for a pseudo-terminal, N the
// host's), which stat shows as fstat of the fd does, and which
// /proc/self/fd's links name; /dev/tty opens the controlling terminal.
// Reads and writes go through the stdio calls (a terminal's reading fd is
// stdin's, its writing fd stdout's or stderr's), and the terminal
// settings are the host terminal's (TCGETS, TCSETS): the user gave the
// program the terminal. The session and process-group side is the
// guest's own: the terminal is the controlling terminal of the session
// the program starts in where it is mmvm's, with the program's process
// group in the foreground, and TIOCGPGRP, TIOCSPGRP, TIOCGSID, TIOCSCTTY
// and TIOCNOTTY change the guest's record of that, never the host
// terminal's (whose foreground group is mmvm's).

// Terminal is a terminal behind one of the program's stdio fds.
type Terminal struct {
	// Path is its node in the guest's /dev: /dev/pts/N for the
	// pseudo-terminal N.
	Path string
	// Rdev is its device number (major 136 upwards for /dev/pts/N).
	Rdev uint64
	// Mode is its node's permission bits (0620 where zero), Gid its
	// group: the host node's (devpts gives the tty group, 5, where
	// mounted with gid=5, as systemd mounts it).
	Mode, Gid uint32
	// Controlling says it is the controlling terminal of the session the
	// program starts in, as a shell's foreground job has it.
	Controlling bool
}

// ptsMajor is the first of Linux's eight majors of /dev/pts
// (UNIX98_PTY_SLAVE_MAJOR); ttyGID is the group of /dev/tty (the tty
// group, as udev makes it).
const (
	ptsMajor = 136
	ttyGID   = 5
)

// HostTerminal describes the terminal behind host descriptor fd: nil if it
// is none (TCGETS fails). Its path is the host's name for it where that
// is a node of /dev, else the name its device number has on Linux (for
// one opened through /dev/tty or /dev/console, the device TIOCGDEV
// names, with devpts' usual mode 0620 and group 5);
// Controlling is true where it is this process's controlling terminal
// (TIOCGSID answers).
func HostTerminal(fd int) *Terminal {
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return nil
	}
	t := &Terminal{Rdev: st.Rdev, Mode: st.Mode & 0o7777, Gid: st.Gid}
	if unix.Major(st.Rdev) == 5 {
		// Opened as /dev/tty or /dev/console: the terminal is the one
		// TIOCGDEV names, not that node.
		dev, err := unix.IoctlGetUint32(fd, unix.TIOCGDEV)
		if err != nil {
			return nil
		}
		t.Rdev = decodeDev(dev)
		t.Path, t.Mode, t.Gid = terminalPath(t.Rdev), 0o620, ttyGID
	} else if name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && strings.HasPrefix(name, "/dev/") && !strings.HasSuffix(name, ")") {
		t.Path = name
	} else {
		t.Path = terminalPath(st.Rdev)
	}
	_, err := unix.IoctlGetInt(fd, unix.TIOCGSID)
	t.Controlling = err == nil
	return t
}

// decodeDev is the device number Linux's new_encode_dev encoded as dev
// (TIOCGDEV's answer, /proc's tty_nr).
func decodeDev(dev uint32) uint64 {
	return unix.Mkdev(dev>>8&0xfff, dev&0xff|dev>>12&0xfff00)
}

// terminalPath is the /dev name Linux gives terminal device rdev.
func terminalPath(rdev uint64) string {
	major, minor := unix.Major(rdev), unix.Minor(rdev)
	switch {
	case major >= ptsMajor && major < ptsMajor+8:
		return "/dev/pts/" + strconv.Itoa(int((major-ptsMajor)<<8|minor))
	case major == 4 && minor < 64:
		return "/dev/tty" + strconv.Itoa(int(minor))
	case major == 4:
		return "/dev/ttyS" + strconv.Itoa(int(minor-64))
	case major == 5 && minor == 1:
		return "/dev/console"
	}
	return "/dev/tty" + strconv.FormatUint(rdev, 16)
}

// ParseTerminal parses the form FormatTerminal writes.
func ParseTerminal(s string) (*Terminal, bool) {
	f := strings.Split(s, ":")
	if len(f) < 5 || len(f) > 6 || !strings.HasPrefix(f[0], "/dev/") {
		return nil, false
	}
	major, e1 := strconv.ParseUint(f[1], 10, 32)
	minor, e2 := strconv.ParseUint(f[2], 10, 32)
	mode, e3 := strconv.ParseUint(f[3], 8, 32)
	gid, e4 := strconv.ParseUint(f[4], 10, 32)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil || mode > 0o7777 || len(f) == 6 && f[5] != "ctty" {
		return nil, false
	}
	return &Terminal{Path: f[0], Rdev: unix.Mkdev(uint32(major), uint32(minor)), Mode: uint32(mode), Gid: uint32(gid),
		Controlling: len(f) == 6}, true
}

// FormatTerminal writes t as PATH:MAJOR:MINOR:MODE:GID[:ctty] (MODE in
// octal), for the mmvm inside QEMU.
func FormatTerminal(t *Terminal) string {
	s := t.Path + ":" + strconv.Itoa(int(unix.Major(t.Rdev))) + ":" + strconv.Itoa(int(unix.Minor(t.Rdev))) + ":" +
		strconv.FormatUint(uint64(t.Mode), 8) + ":" + strconv.Itoa(int(t.Gid))
	if t.Controlling {
		s += ":ctty"
	}
	return s
}

// noSession is a terminal's session while it is nobody's controlling
// terminal.
const noSession = -1

// tty is one terminal of the VM. Guarded by the tree lock.
type tty struct {
	Terminal
	// ino is its node's inode number: N+3 for /dev/pts/N, as devpts
	// numbers them.
	ino uint64
	// stdio is the lowest stdio index it is behind; reader the stdio
	// index that reads it (0) or -1, writer the one that writes it (1
	// or 2) or -1.
	stdio, reader, writer int
	// session is the id of the session it is the controlling terminal
	// of (0: the one outside the VM the program starts in), or
	// noSession; fgPgrp its foreground process group then.
	session, fgPgrp int
}

// setupTerminals records the terminals behind stdio (cfg.Terminals, else
// what the host says of StdioFDs); the first controlling one becomes the
// controlling terminal of root's session, with root's group in the
// foreground. tr is not yet shared.
func (tr *processTree) setupTerminals(root *Process) {
	cfg := &root.cfg
	for i, hfd := range cfg.StdioFDs {
		if hfd < 0 {
			continue
		}
		term := cfg.Terminals[i]
		if term == nil {
			if term = HostTerminal(hfd); term == nil {
				continue
			}
		} else if _, err := unix.IoctlGetTermios(hfd, unix.TCGETS); err != nil {
			continue // the terminal ioctls would not work on it
		}
		var t *tty
		for _, o := range tr.stdioTTY {
			if o != nil && o.Rdev == term.Rdev {
				t = o
			}
		}
		if t == nil {
			t = &tty{Terminal: *term, stdio: i, reader: -1, writer: -1, session: noSession}
			if t.Mode == 0 {
				t.Mode = 0o620
			}
			if n, ok := ptsNumber(t.Path); ok {
				t.ino = n + 3
			}
		}
		t.Controlling = t.Controlling || term.Controlling
		if i == 0 {
			t.reader = 0
		} else if t.writer < 0 {
			t.writer = i
		}
		tr.stdioTTY[i] = t
	}
	for _, t := range tr.stdioTTY {
		if t != nil && t.Controlling && root.family.ctty == nil {
			t.session, t.fgPgrp = root.family.sid, root.family.pgid
			root.family.ctty = t
		}
	}
}

// ptsNumber is N of the path /dev/pts/N.
func ptsNumber(p string) (uint64, bool) {
	s, ok := strings.CutPrefix(p, "/dev/pts/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil
}

// terminals are the VM's distinct terminals, in stdio order.
func (tr *processTree) terminals() []*tty {
	var out []*tty
	for i, t := range tr.stdioTTY {
		if t != nil && t.stdio == i {
			out = append(out, t)
		}
	}
	return out
}

// stdioTerminal is the terminal behind stdio description i, or nil.
func (p *Process) stdioTerminal(i int) *tty {
	if i < 0 || i > 2 {
		return nil
	}
	return p.tree.stdioTTY[i]
}

// ttyStat is the struct stat of terminal t's node, which fstat of any fd
// on it shows too.
func (p *Process) ttyStat(t *tty) unix.Stat_t {
	ts := unix.NsecToTimespec(p.start.UnixNano())
	st := unix.Stat_t{Dev: devptsDev, Ino: t.ino, Nlink: 1, Mode: unix.S_IFCHR | t.Mode, Rdev: t.Rdev, Blksize: 1024,
		Uid: guestID, Gid: t.Gid, Atim: ts, Mtim: ts, Ctim: ts}
	if !pathWithin(t.Path, "/dev/pts") {
		st.Dev = devDev
	}
	return st
}

// addTerminals adds /dev/pts, /dev/tty and each terminal's node to fs.
func (fs *fileSystem) addTerminals(tr *processTree) {
	dev := fs.mkdirAll("/dev")
	tty := fs.newNode(nodeDevice)
	tty.device = devTTY
	dev.children["tty"] = tty
	fs.mkdirAll("/dev/pts")
	for _, t := range tr.terminals() {
		n := fs.newNode(nodeTerminal)
		n.tty = t
		if t.ino == 0 {
			t.ino = n.ino
		}
		fs.add(t.Path, n)
	}
}

// openTerminal opens terminal t (its node, or /dev/tty) as a new open
// file description served by the stdio calls. A session leader with no
// controlling terminal that opens one that is nobody's without O_NOCTTY
// makes it its own, as Linux's tty_open_proc_set_tty.
func (p *Process) openTerminal(t *tty, flags, status uint32) *openFile {
	if flags&unix.O_NOCTTY == 0 && p.sessionLeader() && p.family.ctty == nil && t.session == noSession {
		p.setCtty(t)
	}
	return &openFile{stdio: t.stdio, flags: status}
}

// setCtty makes t the controlling terminal of p's session, p's group in
// the foreground (Linux's __proc_set_tty).
func (p *Process) setCtty(t *tty) {
	t.session, t.fgPgrp = p.family.sid, p.family.pgid
	p.family.ctty = t
}

// openDevTTY opens /dev/tty (node n): the caller's controlling terminal,
// ENXIO without one. As on Linux, the description is the terminal's but
// its file is /dev/tty's node (fstat, ttyname).
func (p *Process) openDevTTY(n *node, status uint32) (*openFile, unix.Errno) {
	t := p.family.ctty
	if t == nil {
		return nil, unix.ENXIO
	}
	return &openFile{stdio: t.stdio, devTTY: n, flags: status}, 0
}

// ttyNr is /proc/PID/stat's tty_nr and tpgid: the controlling terminal's
// device number (Linux's new_encode_dev) and its foreground group; 0 and
// -1 without one.
func (p *Process) ttyNr() (nr uint64, tpgid int) {
	t := p.family.ctty
	if t == nil {
		return 0, -1
	}
	major, minor := uint64(unix.Major(t.Rdev)), uint64(unix.Minor(t.Rdev))
	return minor&0xff | major<<8 | (minor&^0xff)<<12, t.fgPgrp
}

// dropCtty clears the controlling terminal of every process of session
// sid (Linux's session_clear_tty).
func (tr *processTree) dropCtty(sid int) {
	for _, o := range tr.procs {
		if o.family.sid == sid {
			o.family.ctty = nil
		}
	}
}

// ttyJobIoctl serves the requests about terminal t's session and
// foreground group, as Linux's tty_jobctrl_ioctl: ok false for any other
// request.
func (t *Task) ttyJobIoctl(term *tty, req uint64, arg arch.Addr, readable bool) (r uint64, ok bool) {
	ours := t.family.ctty == term
	switch req {
	case unix.TIOCGPGRP:
		if !ours {
			return errno(unix.ENOTTY), true
		}
		return t.putInt32(arg, int32(term.fgPgrp)), true
	case unix.TIOCGSID:
		if !ours || term.session == noSession {
			return errno(unix.ENOTTY), true
		}
		return t.putInt32(arg, int32(term.session)), true
	case unix.TIOCSPGRP:
		return t.ttySetPgrp(term, arg), true
	case unix.TIOCSCTTY:
		return t.ttySetCtty(term, uint64(arg), readable), true
	case unix.TIOCNOTTY:
		if !ours {
			return errno(unix.ENOTTY), true
		}
		if t.sessionLeader() {
			t.disassociateCtty(term)
		} else {
			t.family.ctty = nil
		}
		return 0, true
	}
	return 0, false
}

// ttySetPgrp is TIOCSPGRP: a background group's check (ttyCheckChange,
// its EIO ENOTTY), then ENOTTY unless term is the caller's
// controlling terminal, EFAULT, EINVAL for a negative group, ESRCH for
// one that does not exist, EPERM for one of another session.
func (t *Task) ttySetPgrp(term *tty, arg arch.Addr) uint64 {
	switch e := t.ttyCheckChange(term, unix.SIGTTOU); e {
	case 0:
	case unix.EIO:
		return errno(unix.ENOTTY)
	default:
		return errno(e)
	}
	if t.family.ctty != term || term.session != t.family.sid {
		return errno(unix.ENOTTY)
	}
	var b [4]byte
	if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	pgrp := int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	if pgrp < 0 {
		return errno(unix.EINVAL)
	}
	found, same := false, false
	for _, o := range t.tree.procs {
		if o.family.pgid == int(pgrp) && !o.isZombie() {
			found = true
			same = same || o.family.sid == t.family.sid
		}
	}
	if !found {
		return errno(unix.ESRCH)
	}
	if !same {
		return errno(unix.EPERM)
	}
	term.fgPgrp = int(pgrp)
	return 0
}

// ttySetCtty is TIOCSCTTY: 0 where term already is the caller's session's
// controlling terminal; EPERM unless the caller leads its session and has
// none; a terminal another session holds is taken from it only with arg
// 1 and CAP_SYS_ADMIN (else EPERM); one the caller cannot read, only
// with CAP_SYS_ADMIN.
func (t *Task) ttySetCtty(term *tty, arg uint64, readable bool) uint64 {
	leader := t.sessionLeader()
	if leader && term.session == t.family.sid {
		return 0
	}
	if !leader || t.family.ctty != nil {
		return errno(unix.EPERM)
	}
	admin := t.cred.capable(unix.CAP_SYS_ADMIN)
	if term.session != noSession {
		if arg != 1 || !admin {
			return errno(unix.EPERM)
		}
		t.tree.dropCtty(term.session)
	}
	if !readable && !admin {
		return errno(unix.EPERM)
	}
	t.setCtty(term)
	return 0
}

// disassociateCtty is TIOCNOTTY by a session leader (Linux's
// disassociate_ctty): the foreground group gets SIGHUP and SIGCONT, and
// no process of the session keeps the terminal.
func (t *Task) disassociateCtty(term *tty) {
	fg := term.fgPgrp
	t.tree.dropCtty(term.session)
	term.session, term.fgPgrp = noSession, 0
	for _, sig := range []unix.Signal{unix.SIGHUP, unix.SIGCONT} {
		for _, o := range t.killTargets(-int32(fg)) {
			if !o.isZombie() {
				_ = o.sendToProcess(t, sig, sigInfo{code: siKernel, why: "its terminal was hung up"})
			}
		}
	}
}

// putInt32 writes v at addr: 0, or EFAULT.
func (p *Process) putInt32(addr arch.Addr, v int32) uint64 {
	var b [4]byte
	putU32(b[:], uint32(v))
	return p.copyOutAll(addr, b[:])
}

// openTerminalNode opens n where it is a terminal's node or /dev/tty (ok
// true), as openTerminal and openDevTTY; O_PATH opens neither.
func (p *Process) openTerminalNode(n *node, flags, status uint32) (f *openFile, ok bool, e unix.Errno) {
	if n == nil || flags&unix.O_PATH != 0 {
		return nil, false, 0
	}
	switch {
	case n.kind == nodeTerminal:
		return p.openTerminal(n.tty, flags, status), true, 0
	case n.kind == nodeDevice && n.device == devTTY:
		f, e := p.openDevTTY(n, status)
		return f, true, e
	}
	return nil, false, 0
}

// installNew installs f at the lowest free fd and returns the fd, or
// EMFILE.
func (p *Process) installNew(f *openFile, cloexec bool) uint64 {
	fd, e := p.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	p.install(fd, f, cloexec)
	return uint64(fd)
}

// ttyCheckChange is Linux's __tty_check_change for a call of t on its
// terminal term that a background process group may not make freely: a
// read (sig SIGTTIN), or a write under TOSTOP, a settings change or
// TIOCSPGRP (SIGTTOU). Where term is t's controlling terminal and t's
// group is not its foreground group, the call is refused: with sig
// ignored or blocked, SIGTTOU lets it go on and SIGTTIN makes it EIO; in
// an orphaned group it is EIO; else t's group gets sig, which stops it by
// default, and the call ends with ERESTARTSYS, to be made again after
// SIGCONT (or EINTR, under a handler without SA_RESTART).
func (t *Task) ttyCheckChange(term *tty, sig unix.Signal) unix.Errno {
	if t.family.ctty != term || term.fgPgrp == 0 || t.family.pgid == term.fgPgrp {
		return 0
	}
	if t.sigmask&sigBit(sig) != 0 || t.handlerOf(sig) == sigIGN {
		if sig == unix.SIGTTIN {
			return unix.EIO
		}
		return 0
	}
	if t.tree.groupOrphaned(t.family.pgid) {
		return unix.EIO
	}
	for _, o := range t.killTargets(-int32(t.family.pgid)) {
		if !o.isZombie() {
			_ = o.sendToProcess(t, sig, sigInfo{code: siKernel, why: "a background group used its terminal"})
		}
	}
	return errRestartSys
}

// groupOrphaned says process group pgid is orphaned (Linux's
// will_become_orphaned_pgrp): no member has a live parent in another
// group of its session. The root's parent is outside the VM, in the
// session the root starts in (a shell's), so the root's group is not.
func (tr *processTree) groupOrphaned(pgid int) bool {
	for _, p := range tr.procs {
		if p.family.pgid != pgid || p.isZombie() {
			continue
		}
		parent := p.family.parent
		if parent == nil && p == tr.root && p.family.sid == 0 {
			return false
		}
		if parent != nil && !parent.isZombie() && parent.family.pgid != pgid && parent.family.sid == p.family.sid {
			return false
		}
	}
	return true
}

// ttyWriteCheck is ttyCheckChange's SIGTTOU for a write to term under
// TOSTOP, which the host terminal's settings (behind hfd) say.
func (t *Task) ttyWriteCheck(term *tty, hfd int) unix.Errno {
	if t.family.ctty != term || t.family.pgid == term.fgPgrp || hfd < 0 {
		return 0
	}
	if tio, err := unix.IoctlGetTermios(hfd, unix.TCGETS); err != nil || tio.Lflag&unix.TOSTOP == 0 {
		return 0
	}
	return t.ttyCheckChange(term, unix.SIGTTOU)
}

// ttyIoctlCheck is the background group's check (ttyCheckChange,
// SIGTTOU) of the requests that change the terminal, as Linux's
// tty_ioctl and tty_mode_ioctl make it.
func (t *Task) ttyIoctlCheck(term *tty, req uint64) unix.Errno {
	switch req {
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF, unix.TCFLSH, unix.TCXONC, unix.TCSBRK, unix.TCSBRKP:
		return t.ttyCheckChange(term, unix.SIGTTOU)
	}
	return 0
}
