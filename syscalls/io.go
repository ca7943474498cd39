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

func (p *Process) stdout(fd uint64) (io.Writer, bool) {
	switch fd {
	case 1:
		return p.cfg.Stdout, p.cfg.Stdout != nil
	case 2:
		return p.cfg.Stderr, p.cfg.Stderr != nil
	}
	return nil, false
}

// writeFrom copies length bytes at addr from guest memory to w in chunks.
// It returns the bytes written, or an errno if none were.
func (p *Process) writeFrom(w io.Writer, addr arch.Addr, length uint64) (uint64, unix.Errno) {
	if length > maxIO {
		length = maxIO
	}
	var done uint64
	buf := make([]byte, min(length, ioChunk))
	for done < length {
		n := min(length-done, ioChunk)
		got, err := p.cfg.Memory.CopyIn(addr+arch.Addr(done), buf[:n])
		if got > 0 {
			if _, werr := w.Write(buf[:got]); werr != nil {
				if done == 0 {
					return 0, unix.EIO
				}
				return done, 0
			}
			done += uint64(got)
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

func sysWrite(p *Process, a *[6]uint64) uint64 {
	w, ok := p.stdout(a[0])
	if !ok {
		return errno(unix.EBADF)
	}
	n, e := p.writeFrom(w, arch.Addr(a[1]), a[2])
	if e != 0 {
		return errno(e)
	}
	return n
}

func sysWritev(p *Process, a *[6]uint64) uint64 {
	w, ok := p.stdout(a[0])
	if !ok {
		return errno(unix.EBADF)
	}
	iovAddr, iovcnt := arch.Addr(a[1]), a[2]
	if iovcnt > 1024 { // UIO_MAXIOV
		return errno(unix.EINVAL)
	}
	iov := make([]byte, 16*iovcnt)
	if _, err := p.cfg.Memory.CopyIn(iovAddr, iov); err != nil {
		return errno(unix.EFAULT)
	}
	// Linux refuses a negative length or total (as ssize_t) before
	// writing anything, and silently truncates a total past maxIO.
	var total uint64
	for i := uint64(0); i < iovcnt; i++ {
		length := binary.LittleEndian.Uint64(iov[16*i+8:])
		total += length
		if int64(length) < 0 || int64(total) < 0 {
			return errno(unix.EINVAL)
		}
	}
	var done uint64
	for i := uint64(0); i < iovcnt; i++ {
		base := binary.LittleEndian.Uint64(iov[16*i:])
		length := binary.LittleEndian.Uint64(iov[16*i+8:])
		if length == 0 {
			continue
		}
		length = min(length, maxIO-done)
		n, e := p.writeFrom(w, arch.Addr(base), length)
		if e != 0 {
			if done == 0 {
				return errno(e)
			}
			return done
		}
		done += n
		if n < length || done >= maxIO {
			break
		}
	}
	return done
}

func sysRead(p *Process, a *[6]uint64) uint64 {
	if a[0] != 0 {
		return errno(unix.EBADF) // only stdin is readable
	}
	if p.cfg.Stdin == nil {
		return 0 // end of file
	}
	length := min(a[2], maxIO, ioChunk)
	if length == 0 {
		return 0
	}
	buf := make([]byte, length)
	n, err := p.cfg.Stdin.Read(buf)
	if n == 0 {
		if err == io.EOF || err == nil {
			return 0
		}
		return errno(unix.EIO)
	}
	if _, err := p.cfg.Memory.CopyOut(arch.Addr(a[1]), buf[:n]); err != nil {
		return errno(unix.EFAULT)
	}
	return uint64(n)
}

// statSize is sizeof(struct stat) on x86-64; unix.Stat_t has that layout.
const statSize = int(unsafe.Sizeof(unix.Stat_t{}))

// stdioStat answers fstat for guest fd: the host's own answer for the
// descriptor behind it, or a character device when there is none.
func (p *Process) stdioStat(fd uint64) (unix.Stat_t, unix.Errno) {
	var st unix.Stat_t
	if fd > 2 {
		return st, unix.EBADF
	}
	if hfd := p.cfg.StdioFDs[fd]; hfd >= 0 {
		if err := unix.Fstat(hfd, &st); err == nil {
			return st, 0
		}
	}
	st = unix.Stat_t{Mode: unix.S_IFCHR | 0o620, Nlink: 1, Blksize: 1024}
	return st, 0
}

func (p *Process) putStat(addr uint64, st *unix.Stat_t) uint64 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(st)), statSize)
	if _, err := p.cfg.Memory.CopyOut(arch.Addr(addr), b); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

func sysFstat(p *Process, a *[6]uint64) uint64 {
	st, e := p.stdioStat(a[0])
	if e != 0 {
		return errno(e)
	}
	return p.putStat(a[1], &st)
}

// sysNewfstatat supports only fstat's form: an fd with AT_EMPTY_PATH and an
// empty path, which is how musl and glibc implement fstat.
func sysNewfstatat(p *Process, a *[6]uint64) uint64 {
	var first [1]byte
	if _, err := p.cfg.Memory.CopyIn(arch.Addr(a[1]), first[:]); err != nil {
		return errno(unix.EFAULT)
	}
	if first[0] != 0 || a[3]&unix.AT_EMPTY_PATH == 0 {
		return errno(unix.ENOENT) // no file system in the guest
	}
	st, e := p.stdioStat(a[0])
	if e != 0 {
		return errno(e)
	}
	return p.putStat(a[2], &st)
}

// sysIoctl serves the terminal requests on stdio through the host
// descriptor behind it, as Linux would answer them there (ENOTTY unless it
// is a terminal): TCGETS and TIOCGWINSZ copy out struct termios (36 bytes)
// and struct winsize (8 bytes); TCSETS, TCSETSW and TCSETSF copy in struct
// termios and set the host terminal, as the program would natively. Every
// other request is ENOTTY, as Linux answers for a request a file does not
// support.
func sysIoctl(p *Process, a *[6]uint64) uint64 {
	fd, req, arg := a[0], a[1], arch.Addr(a[2])
	if fd > 2 {
		return errno(unix.EBADF)
	}
	hfd := p.cfg.StdioFDs[fd]
	switch req {
	case unix.TCGETS, unix.TCSETS, unix.TCSETSW, unix.TCSETSF, unix.TIOCGWINSZ:
		if hfd < 0 {
			return errno(unix.ENOTTY)
		}
	default:
		return errno(unix.ENOTTY)
	}
	switch req {
	case unix.TCGETS:
		t, err := unix.IoctlGetTermios(hfd, unix.TCGETS)
		if err != nil {
			return errno(toErrno(err))
		}
		b := encodeTermios(t)
		return p.copyOutAll(arg, b[:])
	case unix.TIOCGWINSZ:
		ws, err := unix.IoctlGetWinsize(hfd, unix.TIOCGWINSZ)
		if err != nil {
			return errno(toErrno(err))
		}
		b := encodeWinsize(ws)
		return p.copyOutAll(arg, b[:])
	}
	// TCSETS, TCSETSW, TCSETSF: a descriptor that is no terminal is ENOTTY
	// whatever the pointer; a terminal's new settings are read whole
	// (EFAULT before anything changes).
	t, err := unix.IoctlGetTermios(hfd, unix.TCGETS)
	if err != nil {
		return errno(toErrno(err))
	}
	var b [termiosSize]byte
	if _, err := p.cfg.Memory.CopyIn(arg, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	decodeTermios(&b, t)
	if err := unix.IoctlSetTermios(hfd, uint(req), t); err != nil {
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
