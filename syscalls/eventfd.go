package syscalls

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// eventfd(2): a 64-bit counter. A write of exactly 8 bytes adds to it (at most to
// 2^64-2: a write that would pass that waits, or is EAGAIN); a read takes
// it whole and resets it to 0, or takes 1 with EFD_SEMAPHORE, and waits
// while it is 0 (EAGAIN with O_NONBLOCK). As Linux's fs/eventfd.c, a
// successful write notifies EPOLLIN and a read EPOLLOUT, whether the
// counter crossed 0 or not, so an edge-triggered epoll item sees every one.

// eventfdFlags are those eventfd2 takes; O_CLOEXEC and O_NONBLOCK are
// EFD_CLOEXEC and EFD_NONBLOCK.
const eventfdFlags = unix.EFD_SEMAPHORE | unix.O_CLOEXEC | unix.O_NONBLOCK

// eventfdMax is the largest value the counter may hold.
const eventfdMax = math.MaxUint64 - 1

type eventFD struct {
	count     uint64
	semaphore bool
	wq        waitQueue
}

func sysEventfd(t *Task, a *[6]uint64) uint64 {
	return newEventfd(t, uint32(a[0]), 0)
}

func sysEventfd2(t *Task, a *[6]uint64) uint64 {
	return newEventfd(t, uint32(a[0]), uint32(a[1]))
}

// newEventfd makes an eventfd counting from initval. Its description is
// O_RDWR plus O_NONBLOCK if asked (F_GETFL shows no O_LARGEFILE).
func newEventfd(t *Task, initval, flags uint32) uint64 {
	if flags&^eventfdFlags != 0 {
		return errno(unix.EINVAL)
	}
	ev := &eventFD{count: uint64(initval), semaphore: flags&unix.EFD_SEMAPHORE != 0}
	return t.installAnon(ev, unix.O_RDWR|flags&unix.O_NONBLOCK, flags&unix.O_CLOEXEC != 0)
}

// take removes what a read returns from the counter, waiting while it is
// 0 unless nonblock. The value is gone even if the copy to the program
// then faults, as in Linux.
func (ev *eventFD) take(t *Task, nonblock bool) (uint64, unix.Errno) {
	for ev.count == 0 {
		if nonblock {
			return 0, unix.EAGAIN
		}
		if e := t.waitChange(&ev.wq); e != 0 {
			return 0, e
		}
	}
	v := ev.count
	if ev.semaphore {
		v = 1
	}
	ev.count -= v
	ev.wq.notify(epollOut)
	t.fdWaitersLookAgain() // a blocked poll or select looks again
	return v, 0
}

// read is readv into the one buffer at addr.
func (ev *eventFD) read(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	var iov [16]byte
	binary.LittleEndian.PutUint64(iov[:], uint64(addr))
	binary.LittleEndian.PutUint64(iov[8:], n)
	return ev.readv(t, f, iov[:], 1, n)
}

// readv reads the counter into the buffers, which together must hold 8
// bytes: Linux's eventfd reads an iov_iter, not each buffer alone.
func (ev *eventFD) readv(t *Task, f *openFile, iov []byte, iovcnt, total uint64) uint64 {
	if total < 8 {
		return errno(unix.EINVAL)
	}
	v, e := ev.take(t, f.flags&unix.O_NONBLOCK != 0)
	if e != 0 {
		return errno(e)
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	rest := b[:]
	for i := uint64(0); i < iovcnt && len(rest) > 0; i++ {
		base := binary.LittleEndian.Uint64(iov[16*i:])
		k := min(binary.LittleEndian.Uint64(iov[16*i+8:]), uint64(len(rest)))
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(base), rest[:k]); err != nil {
			return errno(unix.EFAULT)
		}
		rest = rest[k:]
	}
	return 8
}

// write adds the 8-byte value at addr. A length other than 8 is EINVAL
// (Linux since 6.9; before, only a shorter one), and so is 2^64-1.
func (ev *eventFD) write(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	if n != 8 {
		return errno(unix.EINVAL)
	}
	var b [8]byte
	if _, err := t.cfg.Memory.CopyIn(addr, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	v := binary.LittleEndian.Uint64(b[:])
	if v == math.MaxUint64 {
		return errno(unix.EINVAL)
	}
	for eventfdMax-ev.count < v {
		if f.flags&unix.O_NONBLOCK != 0 {
			return errno(unix.EAGAIN)
		}
		if e := t.waitChange(&ev.wq); e != 0 {
			return errno(e)
		}
	}
	ev.count += v
	ev.wq.notify(epollIn)
	t.fdWaitersLookAgain()
	return 8
}

// writev writes each buffer in turn, as Linux does for a file with a
// write but no write_iter: each must hold 8 bytes.
func (ev *eventFD) writev(t *Task, f *openFile, iov []byte, iovcnt uint64) uint64 {
	return eachIOVec(iov, iovcnt, func(base, length, _ uint64) uint64 {
		return ev.write(t, f, arch.Addr(base), length)
	})
}

// pollMask is Linux's eventfd_poll.
func (ev *eventFD) pollMask(int) uint32 {
	var m uint32
	if ev.count > 0 {
		m |= epollIn
	}
	if ev.count == math.MaxUint64 {
		m |= epollErr
	}
	if ev.count < eventfdMax {
		m |= epollOut
	}
	return m
}

func (ev *eventFD) queue() *waitQueue { return &ev.wq }
func (ev *eventFD) release()          {}
func (ev *eventFD) anonName() string  { return "eventfd" }

// waitChange waits, with the Process lock released, until q is notified
// (0), a signal the thread does not block arrives (errRestartSys, which
// SA_RESTART turns into a restart, as Linux's eventfd_read's
// -ERESTARTSYS), or the thread or the run ends (EINTR).
func (t *Task) waitChange(q *waitQueue) unix.Errno {
	switch t.block(q.next(), nil) {
	case wokeSignal:
		return errRestartSys
	case wokeEnd:
		return unix.EINTR
	}
	return 0
}
