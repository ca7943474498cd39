package syscalls

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// runContext boxes the run's context so that it can be swapped atomically
// (SetContext) while threads read it.
type runContext struct{ ctx context.Context }

// SetContext makes ctx the context of the calls served from now on: when it
// ends (the run's deadline, or a stop), a call that waits (nanosleep,
// clock_nanosleep, futex, poll, select, a read of stdin, a write to a full pipe) or
// walks a long range (mincore, MADV_POPULATE_*) returns EINTR within
// milliseconds, as a fatal signal would end it on Linux. machine.Run sets
// the context it was given; before any, it is the first process's
// Config.Context. The context is every process's of the VM: SetContext
// on any of them sets it for all. Safe from any goroutine.
func (p *Process) SetContext(ctx context.Context) {
	if ctx == nil {
		ctx = context.Background()
	}
	p.tree.ctx.Store(&runContext{ctx})
}

// context is the run's context.
func (p *Process) context() context.Context { return p.tree.ctx.Load().ctx }

// interrupted reports whether a long call must stop now: the run's
// context ended, or the process did.
func (p *Process) interrupted() bool { return p.Stopping() }

// Stopping reports whether the run's context has ended or the program has
// ended (exit_group, a fatal signal), so that work done for the program on
// its behalf (mm's populate) stops at its next step, as Linux's stops when
// a fatal signal is pending. Safe from any goroutine, with or without the
// Process lock.
func (p *Process) Stopping() bool { return p.ended.Load() || p.context().Err() != nil }

// wakeReason is why a thread's wait (block) ended.
type wakeReason int

const (
	wokeNone wakeReason = iota
	// wokeReady: what the call waits for may have happened (its channel
	// fired); the caller looks again.
	wokeReady
	// wokeTimeout: the timer the call gave fired.
	wokeTimeout
	// wokeSignal: a signal the thread does not block is pending; the
	// call returns EINTR or a restart code.
	wokeSignal
	// wokeEnd: the thread or the process is ending, or the run's context
	// ended; the call returns EINTR and the thread goes no further.
	wokeEnd
)

// interruption says whether the thread must stop waiting now, and why;
// wokeNone if not. p.mu must be held.
func (t *Task) interruption() wakeReason {
	if t.Exited() || t.context().Err() != nil {
		return wokeEnd
	}
	if (t.tsig.pending|t.sig.pending)&^t.sigmask != 0 {
		return wokeSignal
	}
	return wokeNone
}

// block waits, with p.mu released, until ready fires (a closed or
// receiving channel; nil for none), timeout fires (nil for none), or the
// thread is interrupted (interruption): a signal it does not block, the
// end of the thread, the process or the run. p.mu must be held; it is held
// again when block returns. A wake-up on t.wake that finds no interruption
// (a signal another thread took first) goes back to waiting.
//
// The wake channel holds at most one token; a sender makes its signal
// pending, under p.mu, before it sends. block drains the channel before it
// looks, under p.mu, so a token it then receives is always newer than its
// last look.
func (t *Task) block(ready <-chan struct{}, timeout <-chan time.Time) wakeReason {
	for {
		select {
		case <-t.wake:
		default:
		}
		if r := t.interruption(); r != wokeNone {
			return r
		}
		done := t.context().Done()
		r := wokeNone
		t.sleeping = true
		t.mu.Unlock()
		select {
		case <-ready:
			r = wokeReady
		case <-timeout:
			r = wokeTimeout
		case <-t.wake:
		case <-done:
		}
		t.mu.Lock()
		t.sleeping = false
		if r != wokeNone {
			return r
		}
	}
}

// wakeUp tells t that it has a signal to take or must end: a wait it is
// in looks again, and, unless t is the caller (self, which takes its
// signals on its way out of the call anyway), Config.Interrupt kicks its
// vCPU out of guest mode so that it calls TakeSignals or sees Exited.
// p.mu must be held.
func (t *Task) wakeUp(self *Task) {
	select {
	case t.wake <- struct{}{}:
	default:
	}
	if t != self && t.cfg.Interrupt != nil {
		t.cfg.Interrupt(t)
	}
}

// pollSlice is the longest a wait on a host descriptor goes without
// looking at the context and the thread's signals: how late a cancel
// (without a deadline) or a signal may be seen. A deadline is waited for
// exactly.
const pollSlice = 10 * time.Millisecond

// waitHostFD waits until host descriptor fd is ready for events (POLLIN or
// POLLOUT; an error or hang-up counts as ready, the read or write that
// follows reports it), with p.mu released while it polls. Readiness is
// confirmed with p.mu held, so that the read or write that follows, made
// under the same hold, finds it: another thread cannot take the bytes
// between. It returns EINTR if the run or the thread ends first, and
// ERESTARTSYS if a signal the thread does not block arrives (the read or
// write then restarts under SA_RESTART, as Linux's pipe and tty ones do).
func (t *Task) waitHostFD(fd int, events int16) unix.Errno {
	for {
		if hostFDReady(fd, events, 0) {
			return 0
		}
		switch t.interruption() {
		case wokeEnd:
			return unix.EINTR
		case wokeSignal:
			return errRestartSys
		}
		slice := pollSlice
		if d, ok := t.context().Deadline(); ok {
			slice = min(slice, max(time.Until(d), 0))
		}
		t.mu.Unlock()
		hostFDReady(fd, events, slice)
		t.mu.Lock()
	}
}

// hostFDReady polls fd for events for up to wait: true when it is ready
// or cannot be polled (the read or write itself then answers).
func hostFDReady(fd int, events int16, wait time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := unix.Poll(fds, int((wait+time.Millisecond-1)/time.Millisecond))
	if err == unix.EINTR || (err == nil && n == 0) {
		return false
	}
	return true
}

// sleep waits d on the guest's monotonic clock, or until the thread is
// interrupted (EINTR), and then returns the time left.
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

// waitForInterruption blocks until the thread is interrupted: a wait on
// something no thread of the program will change.
func (t *Task) waitForInterruption() wakeReason { return t.block(nil, nil) }
