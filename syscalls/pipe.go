package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// A pipe is a byte queue between two of the guest's own fds, held on the
// host. The program is single-threaded, so nothing ever drains a pipe
// while the program waits on it: a read of an empty pipe whose write end
// is open, or a write to a full one, waits as Linux would — until the run
// ends (EINTR, or the bytes written so far) — unless the description is
// O_NONBLOCK (EAGAIN). Writes of at most pipeBuf bytes are atomic. A write
// with no read end open raises SIGPIPE and returns EPIPE.

const (
	// pipeDefaultSize is a new pipe's capacity, Linux's 16 pages.
	pipeDefaultSize = 16 * arch.PageSize
	// pipeMaxSize is fs.pipe-max-size's default, the most an unprivileged
	// F_SETPIPE_SZ may ask for.
	pipeMaxSize = 1 << 20
	// pipeBuf is PIPE_BUF: writes up to this size are atomic.
	pipeBuf = 4096
)

type pipe struct {
	// buf holds the unread bytes, oldest first.
	buf []byte
	// capacity is how many bytes buf may hold (F_GETPIPE_SZ).
	capacity uint32
	// readers and writers count the open descriptions of each end.
	readers, writers int
	// ino tells pipes apart in fstat.
	ino uint64
}

// pipeInodes numbers pipes for fstat.
var pipeInodes uint64

func newPipe() *pipe {
	pipeInodes++
	return &pipe{capacity: pipeDefaultSize, readers: 1, writers: 1, ino: pipeInodes}
}

func (pp *pipe) len() int     { return len(pp.buf) }
func (pp *pipe) room() uint64 { return uint64(pp.capacity) - uint64(len(pp.buf)) }

// resize sets the capacity to size rounded up to a power-of-two number of
// pages, as F_SETPIPE_SZ does: EPERM past pipeMaxSize, EBUSY below what the
// pipe holds.
func (pp *pipe) resize(size uint32) (uint32, unix.Errno) {
	if size > pipeMaxSize {
		return 0, unix.EPERM
	}
	n := uint32(arch.PageSize)
	for n < size {
		n <<= 1
	}
	if int(n) < len(pp.buf) {
		return 0, unix.EBUSY
	}
	pp.capacity = n
	return n, 0
}

// stat is what fstat reports for either end: a FIFO owned by the program's
// user, as Linux's pipefs reports it.
func (pp *pipe) stat() unix.Stat_t {
	return unix.Stat_t{Mode: unix.S_IFIFO | 0o600, Nlink: 1, Ino: pp.ino, Blksize: arch.PageSize}
}

// POLLRDNORM and POLLWRNORM, which x/sys does not name for Linux.
const (
	pollRdNorm = 0x40
	pollWrNorm = 0x100
)

// pollEvents is poll's answer for one end.
func (pp *pipe) pollEvents(writeEnd bool, events uint16) uint16 {
	var r uint16
	if writeEnd {
		if pp.room() > 0 {
			r |= events & (unix.POLLOUT | pollWrNorm)
		}
		if pp.readers == 0 {
			r |= unix.POLLERR
		}
		return r
	}
	if len(pp.buf) > 0 {
		r |= events & (unix.POLLIN | pollRdNorm)
	}
	if pp.writers == 0 {
		r |= unix.POLLHUP
	}
	return r
}

// pipeRead copies up to n bytes from f's pipe to addr. Bytes leave the pipe
// only once they are in guest memory.
func (p *Process) pipeRead(f *openFile, addr arch.Addr, n uint64) uint64 {
	pp := f.pipe
	if n == 0 {
		return 0
	}
	if len(pp.buf) == 0 {
		if pp.writers == 0 {
			return 0 // end of file
		}
		if f.flags&unix.O_NONBLOCK != 0 {
			return errno(unix.EAGAIN)
		}
		p.waitForever()
		return errno(unix.EINTR)
	}
	k := min(n, uint64(len(pp.buf)))
	got, err := p.cfg.Memory.CopyOut(addr, pp.buf[:k])
	if got == 0 && err != nil {
		return errno(unix.EFAULT)
	}
	pp.buf = append(pp.buf[:0], pp.buf[got:]...)
	return uint64(got)
}

// pipeWrite copies n bytes at addr into f's pipe, as much as fits.
func (p *Process) pipeWrite(f *openFile, addr arch.Addr, n uint64) uint64 {
	return p.pipeWriteFrom(f, n, func(b []byte) (int, error) { return p.cfg.Memory.CopyIn(addr, b) })
}

// pipeWriteFrom writes n bytes into f's pipe, read from guest memory by
// fill (which returns how many it read and an error if fewer), as one
// write: atomic when n <= pipeBuf, else as much as fits. The bytes enter
// the pipe only once they are read.
func (p *Process) pipeWriteFrom(f *openFile, n uint64, fill func([]byte) (int, error)) uint64 {
	pp := f.pipe
	if n == 0 {
		return 0
	}
	if pp.readers == 0 {
		p.raise(unix.SIGPIPE, "a write to a pipe with no reader")
		return errno(unix.EPIPE)
	}
	room := pp.room()
	k := min(n, room)
	if n <= pipeBuf && room < n {
		k = 0 // an atomic write goes in whole or not at all
	}
	if k == 0 {
		if f.flags&unix.O_NONBLOCK != 0 {
			return errno(unix.EAGAIN)
		}
		p.waitForever()
		return errno(unix.EINTR)
	}
	buf := make([]byte, k)
	got, err := fill(buf)
	if got == 0 && err != nil {
		return errno(unix.EFAULT)
	}
	pp.buf = append(pp.buf, buf[:got]...)
	if uint64(got) < n && err == nil && f.flags&unix.O_NONBLOCK == 0 {
		// A blocking write waits for room for the rest, which nothing
		// will make; the run's end interrupts it after a partial write.
		p.waitForever()
	}
	return uint64(got)
}

// pipeWritev writes the iovec array at iovAddr into f's pipe as one write,
// with writev's checks of the array (EINVAL for a negative length or
// total, before anything is written).
func (p *Process) pipeWritev(f *openFile, iovAddr arch.Addr, iovcnt uint64) uint64 {
	if iovcnt > 1024 { // UIO_MAXIOV
		return errno(unix.EINVAL)
	}
	iov := make([]byte, 16*iovcnt)
	if _, err := p.cfg.Memory.CopyIn(iovAddr, iov); err != nil {
		return errno(unix.EFAULT)
	}
	var total uint64
	for i := uint64(0); i < iovcnt; i++ {
		length := binary.LittleEndian.Uint64(iov[16*i+8:])
		total += length
		if int64(length) < 0 || int64(total) < 0 {
			return errno(unix.EINVAL)
		}
	}
	return p.pipeWriteFrom(f, min(total, maxIO), func(b []byte) (int, error) {
		done := 0
		for i := uint64(0); i < iovcnt && done < len(b); i++ {
			base := binary.LittleEndian.Uint64(iov[16*i:])
			length := min(binary.LittleEndian.Uint64(iov[16*i+8:]), uint64(len(b)-done))
			got, err := p.cfg.Memory.CopyIn(arch.Addr(base), b[done:done+int(length)])
			done += got
			if err != nil {
				return done, err
			}
		}
		return done, nil
	})
}

// waitForever blocks as a single-threaded process blocks on something only
// another process could change: until the run's context ends.
func (p *Process) waitForever() {
	<-p.cfg.Context.Done()
}
