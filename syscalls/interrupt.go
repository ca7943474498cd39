package syscalls

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// SetContext makes ctx the context of the calls served from now on: when it
// ends (the run's deadline, or a stop), a call that waits (nanosleep,
// clock_nanosleep, a read of stdin, a write to a full pipe) or walks a long
// range (mincore, MADV_POPULATE_*) returns EINTR within milliseconds, as a
// fatal signal would end it on Linux. machine.Run sets the context it was
// given; before any, it is Config.Context.
func (p *Process) SetContext(ctx context.Context) {
	if ctx == nil {
		ctx = context.Background()
	}
	p.ctx = ctx
}

// interrupted reports whether the current call must stop now.
func (p *Process) interrupted() bool { return p.ctx.Err() != nil }

// Stopping reports whether the run's context has ended, so that work done
// for the program on its behalf (mm's populate) stops at its next step, as
// Linux's stops when a fatal signal is pending. Safe only from the
// goroutine serving the program's calls.
func (p *Process) Stopping() bool { return p.ctx.Err() != nil }

// pollSlice is the longest a wait on a host descriptor goes without
// looking at the context: how late a cancel (without a deadline) may be
// seen. A deadline is waited for exactly.
const pollSlice = 10 * time.Millisecond

// waitHostFD waits until host descriptor fd is ready for events (POLLIN or
// POLLOUT; an error or hang-up counts as ready, the read or write that
// follows reports it). It returns EINTR if the context ends first.
func (p *Process) waitHostFD(fd int, events int16) unix.Errno {
	for {
		if p.interrupted() {
			return unix.EINTR
		}
		slice := pollSlice
		if d, ok := p.ctx.Deadline(); ok {
			slice = min(slice, max(time.Until(d), 0))
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(fds, int((slice+time.Millisecond-1)/time.Millisecond))
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		// Ready, or not pollable (the read or write itself then answers).
		return 0
	}
}

// sleep waits d on the guest's monotonic clock, or until the context ends (EINTR) and then returns the
// time left.
func (t *Task) sleep(d time.Duration) (time.Duration, unix.Errno) {
	if d <= 0 {
		return 0, 0
	}
	start := t.cfg.Monotonic()
	if sleepUntil(t, start, d) {
		return 0, 0
	}
	return max(d-(t.cfg.Monotonic()-start), 0), unix.EINTR
}
