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
// with room usually is), a pipe end as its pipe stands, a negative fd is
// skipped, any other fd is POLLNVAL. Rust's runtime polls fds 0-2 with no
// events at start-up to check that they are open, and aborts on ENOSYS.
// When no fd reports anything, poll waits for the timeout (forever for a
// negative one), looking again whenever a pipe changes (another thread's
// read, write or close); a signal ends the wait with ERESTARTNOHAND
// (ERESTART_RESTARTBLOCK with a timeout), as Linux's, and the run's end
// with EINTR.
func sysPoll(t *Task, a *[6]uint64) uint64 {
	addr, nfds, timeout := arch.Addr(a[0]), a[1], int32(a[2])
	if nfds > maxPollFDs || nfds > t.limit(unix.RLIMIT_NOFILE).Cur {
		return errno(unix.EINVAL)
	}
	var expired <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(time.Duration(timeout) * time.Millisecond)
		defer tm.Stop()
		expired = tm.C
	}
	for {
		ready, r := t.pollOnce(addr, nfds)
		if r != 0 {
			return r
		}
		if ready > 0 || timeout == 0 {
			return ready
		}
		switch t.block(t.pipeWaitChannel(), expired) {
		case wokeTimeout:
			return 0
		case wokeSignal:
			if timeout > 0 {
				return errno(errRestartRestartBlock)
			}
			return errno(errRestartNoHand)
		case wokeEnd:
			return errno(unix.EINTR)
		}
	}
}

// pollOnce fills the revents of the nfds pollfds at addr and returns how
// many report anything, or (0, an errno for RAX).
func (t *Task) pollOnce(addr arch.Addr, nfds uint64) (ready, r uint64) {
	buf := make([]byte, min(nfds, pollChunk)*pollfdSize)
	for done := uint64(0); done < nfds; {
		n := min(nfds-done, pollChunk)
		b := buf[:n*pollfdSize]
		at := addr + arch.Addr(done*pollfdSize)
		if _, err := t.cfg.Memory.CopyIn(at, b); err != nil {
			return 0, errno(unix.EFAULT)
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
			return 0, errno(unix.EFAULT)
		}
		done += n
	}
	return ready, 0
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
