package syscalls

import (
	"encoding/binary"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// timerAbstime is clock_nanosleep's TIMER_ABSTIME flag; Linux ignores
// every other flag bit.
const timerAbstime = 1

// sysClockNanosleep sleeps on the host against the clocks clock_gettime
// serves, checking as Linux does, in its order: the clock (EINVAL for one
// Linux does not know, EOPNOTSUPP for one it knows but has no sleep for:
// the thread CPU clock, the raw and coarse clocks, and the alarm clocks,
// for the guest has no RTC), the request (EFAULT, then EINVAL for a negative
// or unnormalized time). A relative sleep the run's end interrupts writes
// the time left to rem (ignored for TIMER_ABSTIME) and returns EINTR, or
// EFAULT when rem cannot be written. The process CPU clock reads as the
// monotonic one but is taken to stand still while the caller sleeps, so a
// sleep on it ends only with a signal or the run, unless it asks for no
// time.
func sysClockNanosleep(t *Task, a *[6]uint64) uint64 {
	clock, flags, req, rem := int32(a[0]), a[1], arch.Addr(a[2]), arch.Addr(a[3])
	switch clock {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_PROCESS_CPUTIME_ID:
	case unix.CLOCK_THREAD_CPUTIME_ID, unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_REALTIME_COARSE,
		unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
		return errno(unix.EOPNOTSUPP)
	default:
		// CLOCK_TAI is not served, as clock_gettime does not serve it.
		return errno(unix.EINVAL)
	}
	var b [timespecSize]byte
	if _, err := t.cfg.Memory.CopyIn(req, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return errno(unix.EINVAL)
	}
	d := durationOf(sec, nsec)
	if flags&timerAbstime != 0 {
		rem = 0
		switch clock {
		case unix.CLOCK_REALTIME:
			d = time.Unix(sec, nsec).Sub(t.cfg.Now())
		case unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME:
			d -= t.cfg.Monotonic()
		case unix.CLOCK_PROCESS_CPUTIME_ID:
			// The CPU clock reads as the monotonic one (clock_gettime),
			// and stands still while the program sleeps.
			if d <= t.cfg.Monotonic() {
				return 0
			}
			d = math.MaxInt64
		}
	} else if clock == unix.CLOCK_PROCESS_CPUTIME_ID && d > 0 {
		d = math.MaxInt64
	}
	if d <= 0 {
		return 0
	}
	start := t.cfg.Monotonic()
	if sleepUntil(t, start, d) {
		return 0
	}
	if rem != 0 {
		left := max(d-(t.cfg.Monotonic()-start), 0)
		if r := putTimespec(t, uint64(rem), int64(left/time.Second), int64(left%time.Second)); r != 0 {
			return r
		}
	}
	return errno(unix.EINTR)
}

// sleepUntil waits until the guest's monotonic clock has advanced d from
// start, and reports true, or returns false when a signal or the run's
// end interrupts it (block). The host's timer measures the host's clock,
// which the guest's (the TSC scaled, see package vdso) may trail by a
// little: a sleep ends only once the guest's own clock says d has passed,
// as a Linux sleep never ends early on the clock it sleeps on.
func sleepUntil(t *Task, start, d time.Duration) bool {
	for left := d - (t.cfg.Monotonic() - start); left > 0; left = d - (t.cfg.Monotonic() - start) {
		tm := time.NewTimer(left)
		r := t.block(nil, tm.C)
		tm.Stop()
		if r != wokeTimeout {
			return false
		}
	}
	return true
}

// durationOf is sec seconds and nsec nanoseconds, saturating.
func durationOf(sec, nsec int64) time.Duration {
	if sec >= int64(math.MaxInt64/time.Second)-1 {
		return math.MaxInt64
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec)
}
