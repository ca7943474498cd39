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

// clockFDMask and clockFD tell a dynamic clock's id (a negative id
// whose low three bits are 3: a clock device's fd), for which Linux has
// no sleep.
const (
	clockFDMask = 7
	clockFD     = 3
)

// sysClockNanosleep sleeps on the host against the clocks clock_gettime
// serves, checking as Linux does, in its order: the clock (EINVAL for one
// Linux does not know, EOPNOTSUPP for one it knows but has no sleep for:
// the thread CPU clock, the raw and coarse clocks, the dynamic clocks and
// the alarm clocks, for the guest has no RTC), the request (EFAULT, then
// EINVAL for a negative or unnormalized time), then, for a CPU clock of
// clock_getcpuclockid, the clock (EINVAL for the caller's own thread's
// or one there is no thread or process for). A relative sleep the run's
// end interrupts writes the time left to rem (ignored for TIMER_ABSTIME)
// and returns EINTR, or EFAULT when rem cannot be written. A sleep on a
// CPU clock ends when the clock reaches its end (sleepOnCPU): on the
// caller's own process's, only as its other threads run.
func sysClockNanosleep(t *Task, a *[6]uint64) uint64 {
	clock, flags, req, rem := int32(a[0]), a[1], arch.Addr(a[2]), arch.Addr(a[3])
	switch {
	case clock == unix.CLOCK_REALTIME, clock == unix.CLOCK_MONOTONIC, clock == unix.CLOCK_BOOTTIME,
		clock == unix.CLOCK_PROCESS_CPUTIME_ID:
	case clock < 0 && clock&clockFDMask != clockFD:
	case clock < 0, clock == unix.CLOCK_THREAD_CPUTIME_ID, clock == unix.CLOCK_MONOTONIC_RAW,
		clock == unix.CLOCK_REALTIME_COARSE, clock == unix.CLOCK_MONOTONIC_COARSE,
		clock == unix.CLOCK_REALTIME_ALARM, clock == unix.CLOCK_BOOTTIME_ALARM:
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
	if clock == unix.CLOCK_PROCESS_CPUTIME_ID || clock < 0 {
		return t.cpuNanosleep(clock, flags&timerAbstime != 0, d, rem)
	}
	if flags&timerAbstime != 0 {
		rem = 0
		switch clock {
		case unix.CLOCK_REALTIME:
			d = time.Unix(sec, nsec).Sub(t.cfg.Now())
		case unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME:
			d -= t.cfg.Monotonic()
		}
	}
	if d <= 0 {
		return 0
	}
	start := t.cfg.Monotonic()
	if sleepUntil(t, start, d) {
		return 0
	}
	return t.putSleepLeft(rem, max(d-(t.cfg.Monotonic()-start), 0))
}

// cpuNanosleep is clock_nanosleep on CPU clock id, checked as Linux's
// posix_cpu_nsleep: EINVAL for the caller's own thread's clock (it could
// never advance) and for a clock with no thread or process; a sleep to
// an end the clock has passed returns at once.
func (t *Task) cpuNanosleep(id int32, abs bool, d time.Duration, rem arch.Addr) uint64 {
	if id < 0 && id&cpuClockThread != 0 {
		if pid := int(^(id >> 3)); pid == 0 || pid == t.tid {
			return errno(unix.EINVAL)
		}
	}
	c, _, ok := t.cpuClockOf(id, false)
	if !ok {
		return errno(unix.EINVAL)
	}
	until := d
	if abs {
		rem = 0
	} else {
		until = satAdd(c.now(), d)
	}
	if t.sleepOnCPU(c, until) {
		return 0
	}
	return t.putSleepLeft(rem, max(until-c.now(), 0))
}

// putSleepLeft writes the time left of an interrupted sleep at rem (0:
// nowhere) and returns EINTR, or EFAULT if rem cannot be written.
func (t *Task) putSleepLeft(rem arch.Addr, left time.Duration) uint64 {
	if rem != 0 {
		if r := putTimespec(t, uint64(rem), int64(left/time.Second), int64(left%time.Second)); r != 0 {
			return r
		}
	}
	return errno(unix.EINTR)
}

// sleepOnCPU waits until CPU clock c reads until, and reports true, or
// returns false when a signal or the run's end interrupts it (block).
// It looks at the clock again after the least wall time in which the
// clock could get there (rate), but no sooner than cpuTimerPoll.
func (t *Task) sleepOnCPU(c cpuClock, until time.Duration) bool {
	for now := c.now(); now < until; now = c.now() {
		tm := time.NewTimer(max((until-now)/time.Duration(c.rate()), cpuTimerPoll))
		r := t.block(nil, tm.C)
		tm.Stop()
		if r != wokeTimeout {
			return false
		}
	}
	return true
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
