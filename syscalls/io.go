package syscalls

import (
	"encoding/binary"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// maxIO bounds one read or write, as Linux's MAX_RW_COUNT does, so a wild
// length cannot make the host allocate without bound.
const maxIO = 0x7ffff000

// ioChunk is how much guest memory one copy step moves.
const ioChunk = 64 << 10

// output is a guest fd that writes go to: the Writer, and the host
// descriptor behind it (-1 for none) if a write to it may wait.
type output struct {
	w   io.Writer
	hfd int
}

func (p *Process) stdout(fd uint64) (output, bool) {
	if t := p.stdioTerminal(int(fd)); fd == 0 && t != nil && t.writer >= 0 {
		fd = uint64(t.writer) // stdin's terminal is written through stdout or stderr
	}
	switch fd {
	case 1:
		return output{p.cfg.Stdout, p.waitable[1]}, p.cfg.Stdout != nil
	case 2:
		return output{p.cfg.Stderr, p.waitable[2]}, p.cfg.Stderr != nil
	}
	return output{}, false
}

// pipeAtomicWrite is PIPE_BUF: a pipe that polls writable takes this many bytes
// without blocking.
const pipeAtomicWrite = 4096

// write writes b to o. Where a write may block (the host descriptor is a
// pipe, socket or terminal), it writes pieces of pipeAtomicWrite, each once the
// descriptor polls writable, so that the end of the run's context stops it
// within milliseconds. It returns the bytes written and EINTR, EIO or 0.
func (t *Task) write(o output, b []byte) (int, unix.Errno) {
	if o.hfd < 0 {
		if _, err := o.w.Write(b); err != nil {
			return 0, unix.EIO
		}
		return len(b), 0
	}
	done := 0
	for done < len(b) {
		if e := t.waitHostFD(o.hfd, unix.POLLOUT); e != 0 {
			return done, e
		}
		n := min(len(b)-done, pipeAtomicWrite)
		if _, err := o.w.Write(b[done : done+n]); err != nil {
			return done, unix.EIO
		}
		done += n
	}
	return done, 0
}

// waitableFDs returns, for each of guest fds 0, 1 and 2, the host
// descriptor behind it if reads or writes of it may wait (anything but a
// regular file or a block device), else -1.
func waitableFDs(fds [3]int) (w [3]int) {
	for i, hfd := range fds {
		w[i] = -1
		var st unix.Stat_t
		if hfd < 0 || unix.Fstat(hfd, &st) != nil {
			continue
		}
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFBLK {
			w[i] = hfd
		}
	}
	return w
}

// writeFrom copies length bytes at addr from guest memory to o in chunks.
// It returns the bytes written, or an errno if none were.
func (t *Task) writeFrom(o output, addr arch.Addr, length uint64) (uint64, unix.Errno) {
	if length > maxIO {
		length = maxIO
	}
	var done uint64
	buf := make([]byte, min(length, ioChunk))
	for done < length {
		n := min(length-done, ioChunk)
		got, err := t.cfg.Memory.CopyIn(addr+arch.Addr(done), buf[:n])
		if got > 0 {
			wrote, werr := t.write(o, buf[:got])
			done += uint64(wrote)
			if werr != 0 {
				if done == 0 {
					return 0, werr
				}
				return done, 0
			}
		}
		if err != nil {
			if done == 0 {
				return 0, unix.EFAULT
			}
			return done, 0
		}
	}
	return done, 0
}

func sysWrite(t *Task, a *[6]uint64) uint64 {
	w, ok := t.stdout(a[0])
	if !ok {
		return errno(unix.EBADF)
	}
	if e := t.stdioWriteCheck(a[0]); e != 0 {
		return errno(e)
	}
	n, e := t.writeFrom(w, arch.Addr(a[1]), a[2])
	if e != 0 {
		return errno(e)
	}
	return n
}

// stdioWriteCheck is a background group's check before it writes to the
// terminal behind stdio fd (ttyWriteCheck), 0 for any other file.
func (t *Task) stdioWriteCheck(fd uint64) unix.Errno {
	if term := t.stdioTerminal(int(fd)); term != nil {
		return t.ttyWriteCheck(term, t.cfg.StdioFDs[fd])
	}
	return 0
}

// readIOVec reads the iovec array of a writev-like call (iovcnt entries of
// 16 bytes at iovAddr) and adds up its lengths, with Linux's checks, before
// anything is written: EINVAL past UIO_MAXIOV or for a negative length or
// total (as ssize_t), EFAULT for an unreadable array. A total past maxIO is
// the caller's to truncate.
func (p *Process) readIOVec(iovAddr arch.Addr, iovcnt uint64) (iov []byte, total uint64, e unix.Errno) {
	if iovcnt > 1024 { // UIO_MAXIOV
		return nil, 0, unix.EINVAL
	}
	iov = make([]byte, 16*iovcnt)
	if _, err := p.cfg.Memory.CopyIn(iovAddr, iov); err != nil {
		return nil, 0, unix.EFAULT
	}
	for i := uint64(0); i < iovcnt; i++ {
		length := binary.LittleEndian.Uint64(iov[16*i+8:])
		total += length
		if int64(length) < 0 || int64(total) < 0 {
			return nil, 0, unix.EINVAL
		}
	}
	return iov, total, 0
}

func sysWritev(t *Task, a *[6]uint64) uint64 {
	w, ok := t.stdout(a[0])
	if !ok {
		return errno(unix.EBADF)
	}
	if e := t.stdioWriteCheck(a[0]); e != 0 {
		return errno(e)
	}
	iov, _, e := t.readIOVec(arch.Addr(a[1]), a[2])
	if e != 0 {
		return errno(e)
	}
	return eachIOVec(iov, a[2], func(base, length, _ uint64) uint64 {
		n, e := t.writeFrom(w, arch.Addr(base), length)
		return result(n, errOrNil(e))
	})
}

// sysRead reads stdin, which stdout or stderr on the same terminal read
// too. The guest buffer is checked first, as Linux's
// copy to it fails before the bytes leave the pipe or terminal: only as
// many bytes are read as the buffer's writable start holds, and a buffer
// with none is EFAULT with nothing consumed. A read that waits for input
// ends with EINTR when the run's context ends.
func sysRead(t *Task, a *[6]uint64) uint64 {
	if term := t.stdioTerminal(int(a[0])); a[0] != 0 && (term == nil || term.reader != 0) {
		return errno(unix.EBADF) // only stdin is readable, and the terminal it is
	}
	if term := t.stdioTerminal(int(a[0])); term != nil {
		if e := t.ttyCheckChange(term, unix.SIGTTIN); e != 0 {
			return errno(e)
		}
	}
	if t.cfg.Stdin == nil {
		return 0 // end of file
	}
	length := min(a[2], maxIO, ioChunk)
	if length == 0 {
		return 0
	}
	buf := make([]byte, length)
	n := t.writablePrefix(arch.Addr(a[1]), buf)
	if n == 0 {
		return errno(unix.EFAULT)
	}
	if hfd := t.waitable[0]; hfd >= 0 {
		if e := t.waitHostFD(hfd, unix.POLLIN); e != 0 {
			return errno(e)
		}
	}
	got, err := t.cfg.Stdin.Read(buf[:n])
	if got == 0 {
		if err == io.EOF || err == nil {
			return 0
		}
		return errno(unix.EIO)
	}
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[1]), buf[:got]); err != nil {
		return errno(unix.EFAULT)
	}
	return uint64(got)
}

// writablePrefix returns how many bytes at addr, up to len(scratch), the
// guest could have written to it: it copies them in and back out
// unchanged, faulting pages as the write would.
func (p *Process) writablePrefix(addr arch.Addr, scratch []byte) int {
	got, _ := p.cfg.Memory.CopyIn(addr, scratch)
	wrote, _ := p.cfg.Memory.CopyOut(addr, scratch[:got])
	return wrote
}

// statSize is sizeof(struct stat) on x86-64; unix.Stat_t has that layout.
const statSize = int(unsafe.Sizeof(unix.Stat_t{}))

// guestID is the user and group the guest runs as: what getuid, geteuid,
// getgid and getegid report.
const guestID = 0

// stdioDev is the device number the guest's stdio descriptors report: an
// anonymous one (major 0), as pipefs and devpts are on Linux.
var stdioDev = unix.Mkdev(0, 0x10)

// stdioStat answers fstat for guest fd with mmvm's own view, not the
// host's: a terminal's node's (ttyStat), else the kind of file behind it on the host (a terminal or other
// character device keeps its device number, anything else that is not a
// regular file reads as a pipe, a regular file keeps its size), with a
// synthetic device and inode (fds behind the same host file share one),
// the guest's own user and group, and mmvm's start for every time. With no
// host descriptor behind fd it is a character device.
func (p *Process) stdioStat(fd uint64) (unix.Stat_t, unix.Errno) {
	if fd > 2 {
		return unix.Stat_t{}, unix.EBADF
	}
	if t := p.stdioTerminal(int(fd)); t != nil {
		p.fs() // numbers t's node
		return p.ttyStat(t), 0
	}
	st := unix.Stat_t{Mode: unix.S_IFCHR | 0o620, Nlink: 1, Blksize: 1024}
	var host unix.Stat_t
	if hfd := p.cfg.StdioFDs[fd]; hfd >= 0 && unix.Fstat(hfd, &host) == nil {
		switch host.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			st.Rdev = host.Rdev
		case unix.S_IFREG:
			st.Mode = unix.S_IFREG | 0o644
			st.Size, st.Blksize = host.Size, 4096
			st.Blocks = (host.Size + 511) / 512
		default:
			st.Mode = unix.S_IFIFO | 0o600
			st.Blksize = 4096
		}
	}
	st.Dev, st.Ino = stdioDev, p.stdioIno(fd, &host)
	st.Uid, st.Gid = guestID, guestID
	ts := unix.NsecToTimespec(p.start.UnixNano())
	st.Atim, st.Mtim, st.Ctim = ts, ts, ts
	return st, 0
}

// stdioIno is guest fd's synthetic inode number: 1 plus the lowest guest
// fd behind the same host file (host, as fstat found it; zero for none),
// so that a program comparing its stdout and stderr sees what it would on
// the host.
func (p *Process) stdioIno(fd uint64, host *unix.Stat_t) uint64 {
	for i := range fd {
		var other unix.Stat_t
		if hfd := p.cfg.StdioFDs[i]; host.Ino != 0 && hfd >= 0 && unix.Fstat(hfd, &other) == nil &&
			other.Dev == host.Dev && other.Ino == host.Ino {
			return i + 1
		}
	}
	return fd + 1
}

func (p *Process) putStat(addr uint64, st *unix.Stat_t) uint64 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(st)), statSize)
	if _, err := p.cfg.Memory.CopyOut(arch.Addr(addr), b); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

func sysFstat(t *Task, a *[6]uint64) uint64 {
	st, e := t.stdioStat(a[0])
	if e != 0 {
		return errno(e)
	}
	return t.putStat(a[1], &st)
}

// sysIoctl serves the terminal requests on stdio through the host
// descriptor behind it, as Linux would answer them there (ENOTTY unless it
// is a terminal): TCGETS and TIOCGWINSZ copy out struct termios (36 bytes)
// and struct winsize (8 bytes); TCSETS, TCSETSW, TCSETSF and TIOCSWINSZ
// copy them in and set the host terminal, as the program would natively;
// TCFLSH, TCXONC, TCSBRK and TCSBRKP take their argument by value;
// FIONREAD and TIOCOUTQ copy out an int (FIONREAD answers on a pipe or
// file too). The requests about sessions and process groups are the
// guest's own (ttyJobIoctl). Every other request is ENOTTY, as Linux
// answers for a request a file does not support: TIOCSTI among them,
// which would put bytes in the host terminal's input, read by whatever
// reads it after mmvm.
func sysIoctl(t *Task, a *[6]uint64) uint64 {
	fd, req, arg := a[0], a[1], arch.Addr(a[2])
	if fd > 2 {
		return errno(unix.EBADF)
	}
	hfd := t.cfg.StdioFDs[fd]
	if hfd < 0 {
		return errno(unix.ENOTTY)
	}
	switch req {
	case unix.TCGETS:
		tio, err := unix.IoctlGetTermios(hfd, unix.TCGETS)
		if err != nil {
			return errno(toErrno(err))
		}
		b := encodeTermios(tio)
		return t.copyOutAll(arg, b[:])
	case unix.TIOCGWINSZ:
		ws, err := unix.IoctlGetWinsize(hfd, unix.TIOCGWINSZ)
		if err != nil {
			return errno(toErrno(err))
		}
		b := encodeWinsize(ws)
		return t.copyOutAll(arg, b[:])
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		r := t.setTermios(hfd, req, arg)
		if r == 0 && t.cfg.TerminalSet != nil {
			t.cfg.TerminalSet(int(fd))
		}
		return r
	case unix.TIOCSWINSZ:
		return t.setWinsize(hfd, arg)
	case unix.TCFLSH, unix.TCXONC, unix.TCSBRK, unix.TCSBRKP:
		if _, err := unix.IoctlGetTermios(hfd, unix.TCGETS); err != nil {
			return errno(toErrno(err))
		}
		if err := unix.IoctlSetInt(hfd, uint(req), int(arg)); err != nil {
			return errno(toErrno(err))
		}
		return 0
	case unix.TIOCINQ, unix.TIOCOUTQ:
		n, err := unix.IoctlGetInt(hfd, uint(req))
		if err != nil {
			return errno(toErrno(err))
		}
		return t.putInt32(arg, int32(n))
	}
	return errno(unix.ENOTTY)
}

// setTermios serves TCSETS, TCSETSW and TCSETSF: a descriptor that is no
// terminal is ENOTTY whatever the pointer; a terminal's new settings are
// read whole (EFAULT before anything changes).
func (t *Task) setTermios(hfd int, req uint64, arg arch.Addr) uint64 {
	tio, err := unix.IoctlGetTermios(hfd, unix.TCGETS)
	if err != nil {
		return errno(toErrno(err))
	}
	var b [termiosSize]byte
	if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	decodeTermios(&b, tio)
	if err := unix.IoctlSetTermios(hfd, uint(req), tio); err != nil {
		return errno(toErrno(err))
	}
	return 0
}

// setWinsize serves TIOCSWINSZ: ENOTTY for a descriptor that is no
// terminal, EFAULT, else the host terminal's new size (whose foreground
// group, mmvm's, the host's kernel sends SIGWINCH where it changed).
func (t *Task) setWinsize(hfd int, arg arch.Addr) uint64 {
	if _, err := unix.IoctlGetTermios(hfd, unix.TCGETS); err != nil {
		return errno(toErrno(err))
	}
	var b [8]byte
	if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	ws := &unix.Winsize{Row: binary.LittleEndian.Uint16(b[0:]), Col: binary.LittleEndian.Uint16(b[2:]),
		Xpixel: binary.LittleEndian.Uint16(b[4:]), Ypixel: binary.LittleEndian.Uint16(b[6:])}
	if err := unix.IoctlSetWinsize(hfd, unix.TIOCSWINSZ, ws); err != nil {
		return errno(toErrno(err))
	}
	return 0
}

// copyOutAll writes b at addr in guest memory: 0, or EFAULT if any of it
// cannot be written.
func (p *Process) copyOutAll(addr arch.Addr, b []byte) uint64 {
	if _, err := p.cfg.Memory.CopyOut(addr, b); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}
