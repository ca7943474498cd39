package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

const (
	// pollfdSize is sizeof(struct pollfd): fd (s32), events and revents
	// (s16 each).
	pollfdSize = 8
	// maxPollFDs bounds nfds as Linux's fs.nr_open default does, whatever
	// RLIMIT_NOFILE says: more is EINVAL.
	maxPollFDs = 1 << 20
	// pollChunk is how many pollfds one copy step moves.
	pollChunk = 512
)

// sysPoll answers poll(2) for the descriptors a guest has: stdio is always
// ready (stdin readable, stdout and stderr writable, as a pipe or terminal
// with room usually is), a negative fd is skipped, any other fd is
// POLLNVAL. Rust's runtime polls fds 0-2 with no events at start-up to
// check that they are open, and aborts on ENOSYS. Since every polled fd is
// either ready or invalid, poll returns at once unless it is given no fd
// that reports anything; then it sleeps for the timeout (forever for a
// negative one) until the run's context ends it with EINTR.
func sysPoll(t *Task, a *[6]uint64) uint64 {
	addr, nfds, timeout := arch.Addr(a[0]), a[1], int32(a[2])
	if nfds > maxPollFDs || nfds > t.limit(unix.RLIMIT_NOFILE).Cur {
		return errno(unix.EINVAL)
	}
	var ready uint64
	buf := make([]byte, min(nfds, pollChunk)*pollfdSize)
	for done := uint64(0); done < nfds; {
		n := min(nfds-done, pollChunk)
		b := buf[:n*pollfdSize]
		at := addr + arch.Addr(done*pollfdSize)
		if _, err := t.cfg.Memory.CopyIn(at, b); err != nil {
			return errno(unix.EFAULT)
		}
		for i := uint64(0); i < n; i++ {
			e := b[i*pollfdSize:]
			revents := t.pollEvents(int32(binary.LittleEndian.Uint32(e)), binary.LittleEndian.Uint16(e[4:]))
			binary.LittleEndian.PutUint16(e[6:], revents)
			if revents != 0 {
				ready++
			}
		}
		if _, err := t.cfg.Memory.CopyOut(at, b); err != nil {
			return errno(unix.EFAULT)
		}
		done += n
	}
	if ready > 0 || timeout == 0 {
		return ready
	}
	var expired <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(time.Duration(timeout) * time.Millisecond)
		defer tm.Stop()
		expired = tm.C
	}
	select {
	case <-expired:
		return 0
	case <-t.ctx.Done():
		return errno(unix.EINTR)
	}
}

// stdioPollEvents returns revents for one pollfd.
func stdioPollEvents(fd int32, events uint16) uint16 {
	switch {
	case fd < 0:
		return 0
	case fd == 0:
		return events & unix.POLLIN
	case fd <= 2:
		return events & unix.POLLOUT
	}
	return unix.POLLNVAL
}
