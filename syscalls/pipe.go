package syscalls

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// A pipe is a ring of page-sized buffers between two of the guest's own
// fds, held on the host, filled as Linux fills them so that the same
// writes fit or do not: a write first tops up the last buffer with its
// length modulo the page size, when that fits in the buffer's page and
// the buffer is a write's own (not one splice put there, splice.go), and
// puts the rest into fresh pages, one slot each, while slots are free
// (capacity / page size of them). A write of at most a page is therefore
// atomic. A read of an empty pipe whose write end is open, or a write to
// a full one, waits as Linux's does for another thread to write or read
// (or for the other end to close), until a signal (ERESTARTSYS, or the
// bytes written so far) or the run's end (EINTR) — unless the description
// is O_NONBLOCK (EAGAIN). A write with no read end open raises SIGPIPE and
// returns EPIPE. A write that finds no room for a fresh page in the VM's
// room (held.go) stops there: ENOMEM, or the bytes written so far.
// O_DIRECT (packet mode) is accepted and recorded, but its packets are not
// kept apart.

const (
	// pipeDefaultSize is a new pipe's capacity, Linux's 16 pages.
	pipeDefaultSize = 16 * arch.PageSize
	// pipeMaxSize is fs.pipe-max-size's default, the most an unprivileged
	// F_SETPIPE_SZ may ask for.
	pipeMaxSize = 1 << 20
)

type pipe struct {
	// bufs are the occupied slots, oldest first.
	bufs []*pipeBuf
	// capacity is the slots' total size in bytes (F_GETPIPE_SZ).
	capacity uint32
	// readers and writers count the open descriptions of each end;
	// readOpens and writeOpens count every open of a FIFO's ends ever,
	// which an open waiting for the other end watches (fifo.go).
	readers, writers      int
	readOpens, writeOpens uint64
	// ino tells pipes apart in fstat.
	ino uint64
	// held is the VM's count that bufs are charged to, a page each
	// (held.go), from push to pop or the last end's close (drop).
	held *heldBytes
	// rdWait and wrWait are what the read and write ends' epoll items
	// wait on (anon.go), notified where Linux's pipe.c wakes them: every
	// write wakes readers, a read of a full pipe wakes writers, the last
	// close of one end wakes both.
	rdWait, wrWait waitQueue
}

// pipeBuf is one slot: page[off:end] is unread. merge says a write may
// add to its page (Linux's PIPE_BUF_FLAG_CAN_MERGE): a write's own
// buffers may, what splice, tee and vmsplice put there may not.
type pipeBuf struct {
	page     []byte
	off, end int
	merge    bool
}

// pipeInodes numbers pipes for fstat, across all Processes.
var pipeInodes atomic.Uint64

func newPipe(held *heldBytes) *pipe {
	return &pipe{capacity: pipeDefaultSize, readers: 1, writers: 1, ino: pipeInodes.Add(1), held: held}
}

// push adds b, a page of its own, as the newest slot, charging its page.
func (pp *pipe) push(b *pipeBuf) {
	pp.bufs = append(pp.bufs, b)
	pp.held.pipes += arch.PageSize
}

// pop drops the oldest slot, read to its end, and its page's charge.
func (pp *pipe) pop() {
	pp.bufs[0] = nil
	pp.bufs = pp.bufs[1:]
	pp.held.pipes -= arch.PageSize
}

// drop discards what is unread once no end is open, as Linux frees a
// pipe's buffers with its last file: a FIFO's next open starts an empty
// pipe (fifo.go).
func (pp *pipe) drop() {
	if pp.readers == 0 && pp.writers == 0 {
		pp.held.pipes -= uint64(len(pp.bufs)) * arch.PageSize
		pp.bufs = nil
	}
}

func (pp *pipe) slots() int { return int(pp.capacity / arch.PageSize) }
func (pp *pipe) full() bool { return len(pp.bufs) >= pp.slots() }

// len is the unread bytes (FIONREAD).
func (pp *pipe) len() int {
	n := 0
	for _, b := range pp.bufs {
		n += b.end - b.off
	}
	return n
}

// resize sets the capacity to size rounded up to a power-of-two number of
// pages, as F_SETPIPE_SZ does: EPERM past pipeMaxSize, EBUSY with fewer
// slots than are occupied.
func (pp *pipe) resize(size uint32) (uint32, unix.Errno) {
	if size > pipeMaxSize {
		return 0, unix.EPERM
	}
	n := uint32(arch.PageSize)
	for n < size {
		n <<= 1
	}
	if int(n/arch.PageSize) < len(pp.bufs) {
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

// POLLRDNORM, POLLRDBAND, POLLWRNORM and POLLWRBAND, which x/sys does
// not name for Linux.
const (
	pollRdNorm = 0x40
	pollRdBand = 0x80
	pollWrNorm = 0x100
	pollWrBand = 0x200
)

// pollEvents is poll's answer for one end.
func (pp *pipe) pollEvents(writeEnd bool, events uint16) uint16 {
	var r uint16
	if writeEnd {
		if !pp.full() {
			r |= events & (unix.POLLOUT | pollWrNorm)
		}
		if pp.readers == 0 {
			r |= unix.POLLERR
		}
		return r
	}
	if len(pp.bufs) > 0 {
		r |= events & (unix.POLLIN | pollRdNorm)
	}
	if pp.writers == 0 {
		r |= unix.POLLHUP
	}
	return r
}

// pipeRead copies up to n bytes from f's pipe to addr, buffer by buffer.
// Bytes leave the pipe only once they are in guest memory. An empty pipe
// whose write end is open makes a blocking read wait for bytes (another
// thread's write) or for the write end to close; a signal ends the wait
// with ERESTARTSYS, as Linux's pipe_read, the run's end with EINTR.
func (t *Task) pipeRead(f *openFile, addr arch.Addr, n uint64) uint64 {
	pp := f.pipe
	if n == 0 {
		return 0
	}
	for len(pp.bufs) == 0 {
		if pp.writers == 0 {
			return 0 // end of file
		}
		if f.flags&unix.O_NONBLOCK != 0 {
			return errno(unix.EAGAIN)
		}
		switch t.block(t.fdWaitChannel(), nil) {
		case wokeSignal:
			return errno(errRestartSys)
		case wokeEnd:
			return errno(unix.EINTR)
		}
	}
	if pp.full() {
		defer pp.wrWait.notify(epollOut | epollWrNorm)
	}
	var done uint64
	for done < n && len(pp.bufs) > 0 {
		b := pp.bufs[0]
		k := min(n-done, uint64(b.end-b.off))
		if _, err := t.cfg.Memory.CopyOut(addr+arch.Addr(done), b.page[b.off:b.off+int(k)]); err != nil {
			if done == 0 {
				return errno(unix.EFAULT)
			}
			break
		}
		done += k
		b.off += int(k)
		if b.off == b.end {
			pp.pop()
		}
	}
	if done > 0 {
		t.fdWaitersLookAgain()
	}
	return done
}

// pipeWrite copies n bytes at addr into f's pipe, as much as fits.
func (t *Task) pipeWrite(f *openFile, addr arch.Addr, n uint64) uint64 {
	return t.pipeWriteFrom(f, n, func(off uint64, b []byte) error {
		_, err := t.cfg.Memory.CopyIn(addr+arch.Addr(off), b)
		return err
	})
}

// pipeWriteFrom writes n bytes into f's pipe, as Linux's pipe_write does,
// reading them from guest memory with read (bytes off to off+len(b) of the
// write). A read that faults ends the write: EFAULT if nothing was written.
func (t *Task) pipeWriteFrom(f *openFile, n uint64, read func(off uint64, b []byte) error) uint64 {
	pp := f.pipe
	if n == 0 {
		return 0
	}
	var done uint64
	defer func() {
		if done > 0 {
			t.fdWaitersLookAgain()
		}
	}()
	if pp.readers == 0 {
		t.sendPipeSignal()
		return errno(unix.EPIPE)
	}
	// Whatever the write's outcome, as Linux's pipe_write for a pipe that
	// has been polled.
	defer pp.rdWait.notify(epollIn | epollRdNorm)
	if chars := n % arch.PageSize; chars != 0 && len(pp.bufs) > 0 {
		if last := pp.bufs[len(pp.bufs)-1]; last.merge && last.end+int(chars) <= arch.PageSize {
			if read(0, last.page[last.end:last.end+int(chars)]) != nil {
				return errno(unix.EFAULT)
			}
			last.end += int(chars)
			done = chars
		}
	}
	// announced is how much of done the readers have been told of.
	var announced uint64
	for done < n {
		if pp.readers == 0 {
			// The last reader went while the write waited for room.
			t.sendPipeSignal()
			if done == 0 {
				return errno(unix.EPIPE)
			}
			return done
		}
		if pp.full() {
			if f.flags&unix.O_NONBLOCK != 0 {
				if done == 0 {
					return errno(unix.EAGAIN)
				}
				return done
			}
			// A blocking write waits for room: another thread's read.
			// The bytes it has put in are the readers' first, as
			// Linux's pipe_write wakes them before it sleeps: a
			// reader already waiting would otherwise never take
			// them, and each would wait for the other.
			if done > announced {
				pp.rdWait.notify(epollIn | epollRdNorm)
				t.fdWaitersLookAgain()
				announced = done
			}
			switch t.block(t.fdWaitChannel(), nil) {
			case wokeSignal:
				if done == 0 {
					return errno(errRestartSys)
				}
				return done
			case wokeEnd:
				if done == 0 {
					return errno(unix.EINTR)
				}
				return done
			}
			continue
		}
		if !t.pageRoom() {
			if done == 0 {
				return errno(unix.ENOMEM)
			}
			return done
		}
		k := min(n-done, arch.PageSize)
		b := &pipeBuf{page: make([]byte, arch.PageSize), end: int(k), merge: true}
		if read(done, b.page[:k]) != nil {
			if done == 0 {
				return errno(unix.EFAULT)
			}
			return done
		}
		pp.push(b)
		done += k
	}
	return done
}

// sendPipeSignal sends the writing thread SIGPIPE, as Linux's pipe_write
// does (send_sig: to the thread).
func (t *Task) sendPipeSignal() {
	_ = t.sendToThread(t, unix.SIGPIPE, sigInfo{code: siUser, pid: uint32(t.cfg.PID), why: "a write to a pipe with no reader"})
}

// pipeWritev writes the iovec array at iovAddr into f's pipe as one write,
// with writev's checks of the array (EINVAL for a negative length or
// total, before anything is written).
func (t *Task) pipeWritev(f *openFile, iovAddr arch.Addr, iovcnt uint64) uint64 {
	iov, total, e := t.readIOVec(iovAddr, iovcnt)
	if e != 0 {
		return errno(e)
	}
	return t.pipeWriteFrom(f, min(total, maxIO), func(off uint64, b []byte) error {
		// Bytes off to off+len(b) of the concatenated pieces.
		for i := uint64(0); i < iovcnt && len(b) > 0; i++ {
			base := binary.LittleEndian.Uint64(iov[16*i:])
			length := binary.LittleEndian.Uint64(iov[16*i+8:])
			if off >= length {
				off -= length
				continue
			}
			k := min(length-off, uint64(len(b)))
			if _, err := t.cfg.Memory.CopyIn(arch.Addr(base+off), b[:k]); err != nil {
				return err
			}
			b, off = b[k:], 0
		}
		return nil
	})
}

// fdWaitersLookAgain tells the threads (of every process) waiting on a
// pipe, or in poll or select, that a pipe's contents or ends or an
// eventfd's counter changed. p.mu must be held.
func (p *Process) fdWaitersLookAgain() {
	tr := p.tree
	if tr.fdChanged != nil {
		close(tr.fdChanged)
	}
	tr.fdChanged = make(chan struct{})
}

// fdWaitChannel is the channel the next fdWaitersLookAgain closes. p.mu
// must be held.
func (p *Process) fdWaitChannel() <-chan struct{} {
	tr := p.tree
	if tr.fdChanged == nil {
		tr.fdChanged = make(chan struct{})
	}
	return tr.fdChanged
}

// endClosed wakes both ends' waiters when the last description of one end
// has closed and the other end is still open.
func (pp *pipe) endClosed() {
	if (pp.readers == 0) != (pp.writers == 0) {
		pp.rdWait.notify(0)
		pp.wrWait.notify(0)
	}
}
