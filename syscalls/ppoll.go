package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// sysPpoll is poll with a struct timespec timeout (NULL: forever) and a
// signal mask in place for the wait, in Linux's order: the timeout's copy
// (EFAULT) and check (EINVAL), the mask (EINVAL for a size other than 8,
// EFAULT), then poll, whose wait (waitReady) a signal the mask lets
// through ends with ERESTARTNOHAND (EINTR once a handler runs). Where a
// timeout was given and is not zero, the time left is written back to it
// once poll ran (putTimeLeft).
func sysPpoll(t *Task, a *[6]uint64) uint64 {
	fds, nfds, tsAddr := arch.Addr(a[0]), a[1], arch.Addr(a[2])
	var ts relTimeout
	if tsAddr != 0 {
		var e unix.Errno
		if ts, e = t.readRelTimeout(tsAddr); e != 0 {
			return errno(e)
		}
	}
	start, polled := time.Now(), false
	r := t.withSigmask(a[3], a[4], errno(errRestartNoHand), func() uint64 {
		polled = true
		return t.poll(fds, nfds, ts.duration(tsAddr != 0))
	})
	if !polled {
		return r
	}
	return t.putTimeLeft(tsAddr, ts, start, false, r)
}

// relTimeout is a relative timeout as the program gave it, normalized
// (seconds at least 0, nanoseconds in [0, 1e9)) and kept whole, so that
// the time left written back is exact however long it is.
type relTimeout struct{ sec, nsec int64 }

// newRelTimeout checks a timeout as Linux's poll_select_set_timeout does
// (timespec64_valid): EINVAL for negative seconds or nanoseconds out of
// [0, 1e9).
func newRelTimeout(sec, nsec int64) (relTimeout, unix.Errno) {
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return relTimeout{}, unix.EINVAL
	}
	return relTimeout{sec, nsec}, 0
}

// zero reports a timeout of nothing: scan once, and write nothing back.
func (ts relTimeout) zero() bool { return ts.sec == 0 && ts.nsec == 0 }

// duration is the wait: the timeout when given is true, else -1
// (forever). Past 2^62 ns (146 years) is forever enough.
func (ts relTimeout) duration(given bool) time.Duration {
	if !given {
		return -1
	}
	const maxSec = int64(time.Duration(1<<62) / time.Second)
	return time.Duration(min(ts.sec, maxSec))*time.Second + time.Duration(ts.nsec)
}

// left is what remains of ts once elapsed has passed, never below zero.
func (ts relTimeout) left(elapsed time.Duration) (sec, nsec int64) {
	sec = ts.sec - int64(elapsed/time.Second)
	nsec = ts.nsec - int64(elapsed%time.Second)
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	if sec < 0 {
		return 0, 0
	}
	return sec, nsec
}

// readRelTimeout reads a relative struct timespec timeout: EFAULT, or
// EINVAL (newRelTimeout).
func (t *Task) readRelTimeout(addr arch.Addr) (relTimeout, unix.Errno) {
	var b [16]byte
	if _, err := t.cfg.Memory.CopyIn(addr, b[:]); err != nil {
		return relTimeout{}, unix.EFAULT
	}
	return newRelTimeout(int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:])))
}

// readTimeout is readRelTimeout as the wait's duration.
func (t *Task) readTimeout(addr arch.Addr) (time.Duration, unix.Errno) {
	ts, e := t.readRelTimeout(addr)
	return ts.duration(true), e
}

// putTimeLeft finishes a call with a timeout the program passed at addr
// (ppoll, select, pselect6; started at start, ending with r), as Linux's
// poll_select_finish: it writes back the time left (a struct timeval
// when timeval is set, else a struct timespec), unless there is no
// pointer or the timeout was zero. A fault there is ignored, except that
// a call interrupted to be restarted cannot be (it would wait its whole
// timeout again): ERESTARTNOHAND becomes EINTR.
func (t *Task) putTimeLeft(addr arch.Addr, ts relTimeout, start time.Time, timeval bool, r uint64) uint64 {
	if addr == 0 || ts.zero() {
		return r
	}
	sec, nsec := ts.left(time.Since(start))
	if timeval {
		nsec /= 1000
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(nsec))
	if _, err := t.cfg.Memory.CopyOut(addr, b[:]); err != nil && r == errno(errRestartNoHand) {
		return errno(unix.EINTR)
	}
	return r
}
