package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// poll, ppoll (ppoll.go), select and pselect6 (select.go) share one
// readiness (Process.readiness: a file's poll mask, as Linux's vfs_poll
// returns it) and one wait (waitReady: Linux's do_poll and do_select
// loops); they differ in how they read the fds asked about and write the
// answers back.

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

// sysPoll answers poll(2): each pollfd's revents as pollEvents says (stdio
// as the host descriptor behind it stands, a pipe end as its pipe
// stands, a negative fd skipped, an fd not open POLLNVAL). Rust's
// runtime polls fds 0-2 with no events at start-up to check that they are
// open, and aborts on ENOSYS. When no fd reports anything, poll waits for
// the timeout in milliseconds (forever for a negative one) as waitReady
// does; a signal ends the wait with ERESTART_RESTARTBLOCK, as Linux's
// (whose restart_block mmvm does not keep: the call restarts whole).
func sysPoll(t *Task, a *[6]uint64) uint64 {
	ms := int32(a[2])
	timeout := time.Duration(-1)
	if ms >= 0 {
		timeout = time.Duration(ms) * time.Millisecond
	}
	r := t.poll(arch.Addr(a[0]), a[1], timeout)
	if r == errno(errRestartNoHand) {
		return errno(errRestartRestartBlock)
	}
	return r
}

// poll is the body of poll and ppoll (Linux's do_sys_poll): nfds, an
// unsigned int, past RLIMIT_NOFILE is EINVAL; the pollfds at addr are
// scanned until one reports anything or the wait ends (waitReady).
func (t *Task) poll(addr arch.Addr, nfds uint64, timeout time.Duration) uint64 {
	nfds = uint64(uint32(nfds))
	if nfds > maxPollFDs || nfds > t.limit(unix.RLIMIT_NOFILE).Cur {
		return errno(unix.EINVAL)
	}
	return t.waitReady(timeout, func() (uint64, bool, uint64) { return t.pollOnce(addr, nfds) })
}

// pollOnce fills the revents of the nfds pollfds at addr and returns how
// many report anything and whether any answer was the host's, or an
// errno for RAX.
func (t *Task) pollOnce(addr arch.Addr, nfds uint64) (ready uint64, host bool, r uint64) {
	buf := make([]byte, min(nfds, pollChunk)*pollfdSize)
	for done := uint64(0); done < nfds; {
		n := min(nfds-done, pollChunk)
		b := buf[:n*pollfdSize]
		at := addr + arch.Addr(done*pollfdSize)
		if _, err := t.cfg.Memory.CopyIn(at, b); err != nil {
			return 0, false, errno(unix.EFAULT)
		}
		for i := uint64(0); i < n; i++ {
			e := b[i*pollfdSize:]
			revents, h := t.pollEvents(int32(binary.LittleEndian.Uint32(e)), binary.LittleEndian.Uint16(e[4:]))
			binary.LittleEndian.PutUint16(e[6:], revents)
			host = host || h
			if revents != 0 {
				ready++
			}
		}
		if _, err := t.cfg.Memory.CopyOut(at, b); err != nil {
			return 0, false, errno(unix.EFAULT)
		}
		done += n
	}
	return ready, host, 0
}

// stdioPollEvents is what a stdio description with no host descriptor
// behind it is ready for: stdin reads (its end of file at once), stdout
// and stderr take writes (a Go writer takes everything).
func stdioPollEvents(stdio int) uint16 {
	if stdio == 0 {
		return unix.POLLIN | pollRdNorm
	}
	return unix.POLLOUT | pollWrNorm
}

// waitReady is the wait of poll, ppoll, select and pselect6, as Linux's
// do_poll and do_select loop: scan looks at every fd asked about once
// and returns how many are ready, whether any answer was the host's, or
// an errno for RAX (returned as it is). A scan that finds one ready ends
// the call with the count. One that finds none ends it with
// ERESTARTNOHAND if a signal the thread does not block is pending, EINTR
// if the run or the thread is ending, 0 if the timeout (zero: scan once;
// negative: never) has passed; otherwise waitReady waits and scans again.
// It waits for a pipe or eventfd to change (another thread's read, write
// or close) and, when a host descriptor was asked about (stdio behind a
// host pipe or terminal, which tells mmvm nothing when bytes arrive),
// pollSlice at most, so that input arriving there wakes it. A scan after
// the deadline is the last, as Linux's.
func (t *Task) waitReady(timeout time.Duration, scan func() (ready uint64, host bool, r uint64)) uint64 {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		ready, host, r := scan()
		if r != 0 {
			return r
		}
		if ready > 0 {
			return ready
		}
		switch t.interruption() {
		case wokeSignal:
			return errno(errRestartNoHand)
		case wokeEnd:
			return errno(unix.EINTR)
		}
		wait := time.Duration(-1) // forever
		if timeout >= 0 {
			if wait = time.Until(deadline); timeout == 0 || wait <= 0 {
				return 0
			}
		}
		if host && (wait < 0 || wait > pollSlice) {
			wait = pollSlice
		}
		var timer *time.Timer
		var expired <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		t.block(t.fdWaitChannel(), expired)
		if timer != nil {
			timer.Stop()
		}
	}
}
