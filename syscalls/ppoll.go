package syscalls

import (
	"encoding/binary"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// sysPpoll is poll with a struct timespec timeout (NULL: forever) and a
// signal mask in place for the wait, in Linux's order: the timeout's copy
// (EFAULT) and check (EINVAL), the mask (EINVAL for a size other than 8,
// EFAULT), then poll. The fds are polled once; if none is ready and the
// timeout is not zero, a signal the mask lets through ends the call with
// ERESTARTNOHAND (EINTR once a handler runs), or poll waits. The wait is
// poll's, in whole milliseconds rounded up (a timeout past 2^31-1 ms, 24
// days, waits forever). Where a timeout was given and is not zero, the
// time left is written back to it once poll ran, as Linux does (a fault
// there is ignored, but then the call is not restarted: EINTR).
func sysPpoll(t *Task, a *[6]uint64) uint64 {
	fds, nfds, tsAddr := a[0], a[1], arch.Addr(a[2])
	timeout := time.Duration(-1)
	if tsAddr != 0 {
		var e unix.Errno
		if timeout, e = t.readTimeout(tsAddr); e != 0 {
			return errno(e)
		}
	}
	start, polled := time.Now(), false
	r := t.withSigmask(a[3], a[4], errno(errRestartNoHand), func() uint64 {
		polled = true
		r := sysPoll(t, &[6]uint64{fds, nfds, 0})
		if r != 0 || timeout == 0 {
			return r
		}
		if t.interruption() == wokeSignal {
			return errno(errRestartNoHand)
		}
		return sysPoll(t, &[6]uint64{fds, nfds, uint64(pollTimeoutMs(timeout))})
	})
	if tsAddr == 0 || timeout == 0 || !polled {
		return r
	}
	left := max(timeout-time.Since(start), 0)
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(left/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(left%time.Second))
	if _, err := t.cfg.Memory.CopyOut(tsAddr, b[:]); err != nil && r == errno(errRestartNoHand) {
		return errno(unix.EINTR)
	}
	return r
}

// readTimeout reads a relative struct timespec timeout: EFAULT, or EINVAL
// for a negative one or nanoseconds out of [0, 1e9).
func (t *Task) readTimeout(addr arch.Addr) (time.Duration, unix.Errno) {
	var b [16]byte
	if _, err := t.cfg.Memory.CopyIn(addr, b[:]); err != nil {
		return 0, unix.EFAULT
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	// Past 2^62 ns (146 years) is forever enough.
	return time.Duration(min(sec, int64(time.Duration(1<<62)/time.Second)))*time.Second + time.Duration(nsec), 0
}

// pollTimeoutMs is timeout as poll's int milliseconds, rounded up; -1
// (forever) for a negative one or one past what an int holds.
func pollTimeoutMs(timeout time.Duration) int32 {
	ms := (timeout + time.Millisecond - 1) / time.Millisecond
	if timeout < 0 || ms > math.MaxInt32 {
		return -1
	}
	return int32(ms)
}
