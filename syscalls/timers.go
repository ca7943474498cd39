package syscalls

import (
	"encoding/binary"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Timers are the program's asynchronous signal sources, with Linux's
// semantics: alarm and setitimer's ITIMER_REAL (SIGALRM to the process on
// CLOCK_MONOTONIC, Linux's it_real_fn), ITIMER_VIRTUAL and ITIMER_PROF
// (SIGVTALRM and SIGPROF on the process's CPU clock), the POSIX timers of
// timer_create (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME or a CPU
// clock; SIGEV_SIGNAL to the process, SIGEV_THREAD_ID to one thread, or
// SIGEV_NONE) and RLIMIT_CPU (SIGXCPU at the soft limit and every second
// past it, SIGKILL at the hard one). Each armed timer is a host
// time.Timer whose function takes the Process lock and sends the signal
// as kill (process-directed) or tgkill (thread-directed) would, which
// wakes or kicks the thread that takes it (a vCPU running guest code
// leaves it for an interrupt exit: Config.Interrupt). Expiry is judged on
// the clocks clock_gettime serves (Config.Now, Config.Monotonic, the CPU
// clocks of cputime.go): a host timer that fires early is set again for
// the rest. A CPU clock advances only as its threads run, at most as
// fast as the wall clock times the threads that may run at once, so a
// CPU timer's host timer is set for the least wall time in which its
// clock could reach the expiry and looks again then, as Linux's tick
// looks at the running threads' CPU timers. A thread of the program that
// returns to user mode past that time looks at once (pollCPUTimers): the
// host timer's goroutine may wait for a Go P while the program's threads
// hold theirs (FastPath.RawRun), and each interval it comes late would
// be an overrun, a sample lost to a profiler. Every timer stops when the
// program ends or the Process is closed; no host timer outlives it. A
// timerfd's timer (timerfd.go) is a guestTimer too, which ticks its file
// instead of signalling and lives until the file's last close.

// timerState is the program's timers. Guarded by Process.mu.
type timerState struct {
	// itimers are ITIMER_REAL (alarm, setitimer), ITIMER_VIRTUAL and
	// ITIMER_PROF by which; each nil until first set.
	itimers [3]*guestTimer
	// cpuLimit enforces RLIMIT_CPU; nil until the soft limit is first
	// finite.
	cpuLimit *guestTimer
	// posix are timer_create's timers by id; nextID is the id to try
	// next (Linux's next_posix_timer_id).
	posix  map[int32]*guestTimer
	nextID int32
	// stopped is set when the program ends or the Process is closed:
	// no timer is armed again.
	stopped bool
	// cpuPollAt is no later than the earliest pollAt of the CPU timers
	// (zero: none is armed), when pollCPUTimers next looks at them.
	cpuPollAt time.Time
}

// guestTimer is one timer. Its fields are guarded by Process.mu.
type guestTimer struct {
	p *Process
	// id is the POSIX timer id, itimerID(which) for an itimer, or
	// cpuLimitID.
	id int32
	// realtime says expiry is on CLOCK_REALTIME (nanoseconds since the
	// epoch); cpu, when it names a thread or a process, that it is on
	// that CPU clock; else it is on CLOCK_MONOTONIC.
	realtime bool
	cpu      cpuClock
	// notify is the sigevent's SIGEV_* (SIGEV_SIGNAL for ITIMER_REAL),
	// signo and value the signal and its si_value, target the thread of
	// a SIGEV_THREAD_ID timer (nil: process-directed).
	notify int32
	signo  unix.Signal
	value  uint64
	target *Task
	// expiry is when the timer next fires, on its clock; 0: disarmed.
	// interval re-arms it after each expiry (0: one shot).
	expiry, interval time.Duration
	// overrun counts the expiries not signalled since the last signal
	// was delivered; overrunLast is what that delivery reported
	// (timer_getoverrun).
	overrun, overrunLast int64
	// host is the host timer that calls fire; gen is incremented at
	// each arm and stop, so that a host timer stopped too late to keep
	// its function from running finds itself stale.
	host *time.Timer
	gen  uint64
	// pollAt is when a CPU timer's host timer is to fire (zero: it has
	// none).
	pollAt time.Time
	// fd, when not nil, is the timerfd whose timer this is: an expiry
	// ticks it (timerFD.expire) instead of signalling, and the timer
	// lives as long as the file, not the process.
	fd *timerFD
}

// dead says the timer may not be set again: its process ended or was
// closed, or, for a timerfd's, the file was released.
func (tm *guestTimer) dead() bool {
	if tm.fd != nil {
		return tm.fd.released
	}
	return tm.p.timers.stopped
}

// sigevent's sigev_notify values (asm-generic/siginfo.h).
const (
	sigevSignal   = 0
	sigevNone     = 1
	sigevThread   = 2
	sigevThreadID = 4
)

// Sizes of the structures the timer calls exchange: struct sigevent,
// struct itimerspec (interval, then value, each a timespec) and struct
// itimerval (the same with timevals).
const (
	sigeventSize   = 64
	itimerspecSize = 32
	itimervalSize  = 32
)

// siTimer is the si_code of a POSIX timer's signal.
const siTimer = -2

// minTimerRearm is the shortest a periodic timer's host timer is set
// for: a shorter interval counts its expiries as overruns instead of
// firing the host timer as often.
const minTimerRearm = 100 * time.Microsecond

// cpuTimerPoll is the shortest a CPU timer's host timer is set for
// before the timer is due, and the shortest a sleep on a CPU clock waits
// between two looks at it: a CPU timer fires up to that late, as
// Linux's fire up to a tick late.
const cpuTimerPoll = time.Millisecond

// cpuLimitID is the id of the timer that enforces RLIMIT_CPU.
const cpuLimitID = -4

// itimerID is the id of itimer which.
func itimerID(which int32) int32 { return -1 - which }

// onCPU says the timer is on a CPU clock.
func (tm *guestTimer) onCPU() bool { return tm.cpu != cpuClock{} }

// now reads the timer's clock.
func (tm *guestTimer) now() time.Duration {
	switch {
	case tm.onCPU():
		return tm.cpu.now()
	case tm.realtime:
		return time.Duration(tm.p.cfg.Now().UnixNano())
	}
	return tm.p.cfg.Monotonic()
}

// remaining is the time until the timer fires; 0 if it is disarmed, 1ns
// if it is due (Linux never reports an armed timer as 0).
func (tm *guestTimer) remaining() time.Duration {
	if tm.expiry == 0 {
		return 0
	}
	return max(tm.expiry-tm.now(), 1)
}

// arm sets the timer to fire after value (at value on its clock when
// abs), then every interval; a zero value disarms it. p.mu must be held.
func (tm *guestTimer) arm(value, interval time.Duration, abs bool) {
	tm.stop()
	tm.interval = interval
	if value == 0 {
		return
	}
	if abs {
		tm.expiry = max(value, 1)
	} else {
		tm.expiry = satAdd(tm.now(), value)
	}
	tm.schedule(0)
}

// stop disarms the timer and its host timer. p.mu must be held.
func (tm *guestTimer) stop() {
	tm.gen++
	tm.expiry = 0
	tm.pollAt = time.Time{}
	if tm.host != nil {
		tm.host.Stop()
		tm.host = nil
	}
}

// schedule sets the host timer for the expiry, at least floor from now;
// for a CPU timer, for the least wall time in which its clock could get
// there, at least cpuTimerPoll if it is not due. p.mu must be held.
func (tm *guestTimer) schedule(floor time.Duration) {
	if tm.dead() {
		return
	}
	gen := tm.gen
	d := tm.expiry - tm.now()
	if tm.onCPU() && d > 0 {
		d = max(d/time.Duration(tm.cpu.rate()), cpuTimerPoll)
	}
	d = max(d, floor)
	tm.host = time.AfterFunc(d, func() { tm.fire(gen) })
	if tm.onCPU() {
		tm.pollAt = time.Now().Add(d)
		if at := &tm.p.timers.cpuPollAt; at.IsZero() || tm.pollAt.Before(*at) {
			*at = tm.pollAt
		}
	}
}

// fire runs on the host timer's goroutine: fireLocked.
func (tm *guestTimer) fire(gen uint64) {
	p := tm.p
	p.mu.Lock()
	defer p.mu.Unlock()
	tm.fireLocked(gen)
}

// fireLocked: if the timer is still the one armed (gen) and due on its
// clock, it signals and re-arms by its interval, counting the intervals
// that passed unsignalled as overruns. p.mu must be held.
func (tm *guestTimer) fireLocked(gen uint64) {
	p := tm.p
	if gen != tm.gen || tm.dead() || tm.expiry == 0 {
		return
	}
	tm.pollAt = time.Time{}
	now := tm.now()
	if now < tm.expiry {
		if !tm.onCPU() || !tm.cpu.stopped() {
			tm.schedule(0)
		}
		return
	}
	if tm.fd != nil {
		tm.fd.expire()
		return
	}
	if tm.id == cpuLimitID {
		p.cpuLimitReached(now)
		return
	}
	var missed int64
	switch {
	case tm.interval > 0 && tm.id < 0 && tm.onCPU():
		// Linux's check_cpu_itimer adds one interval per expiry: the
		// expiries that passed each get a signal, one host timer
		// apart, and none is skipped.
		tm.expiry = satAdd(tm.expiry, tm.interval)
	case tm.interval > 0:
		missed = int64((now - tm.expiry) / tm.interval)
		tm.expiry = satAdd(tm.expiry, time.Duration(missed+1)*tm.interval)
	default:
		tm.expiry = 0
	}
	tm.signal(missed)
	if tm.expiry != 0 {
		tm.schedule(minTimerRearm)
	}
}

// signal sends the timer's signal for one expiry, missed more having
// passed: for an itimer, its signal (SIGALRM, SIGVTALRM, SIGPROF) from
// the kernel (SI_KERNEL); for a POSIX timer a SI_TIMER siginfo, unless
// its last one is still pending, which then counts this expiry as an
// overrun (Linux keeps one sigqueue per timer). A SIGEV_THREAD_ID timer
// whose thread has exited sends nothing. p.mu must be held.
func (tm *guestTimer) signal(missed int64) {
	p := tm.p
	if tm.id < 0 {
		_ = p.sendToProcess(nil, tm.signo, sigInfo{code: siKernel, why: "an itimer expired"})
		return
	}
	tm.overrun = satAddInt(tm.overrun, missed)
	if tm.notify == sigevNone {
		return
	}
	if tm.queued() {
		tm.overrun = satAddInt(tm.overrun, 1)
		return
	}
	info := sigInfo{code: siTimer, timerID: tm.id, value: tm.value, why: "a POSIX timer expired"}
	if tm.target != nil {
		if !tm.target.Exited() {
			_ = tm.target.sendToThread(nil, tm.signo, info)
		}
		return
	}
	_ = p.sendToProcess(nil, tm.signo, info)
}

// pollCPUTimers looks at once at each CPU timer whose host timer is late
// (its pollAt has passed), in place of the host timer, which it stops.
// A thread calls it as it returns to user mode. p.mu must be held.
func (p *Process) pollCPUTimers() {
	at := p.timers.cpuPollAt
	if at.IsZero() {
		return
	}
	now := time.Now()
	if now.Before(at) {
		return
	}
	p.timers.cpuPollAt = time.Time{}
	poll := func(tm *guestTimer) {
		if tm == nil || tm.pollAt.IsZero() {
			return
		}
		if now.Before(tm.pollAt) {
			if next := &p.timers.cpuPollAt; next.IsZero() || tm.pollAt.Before(*next) {
				*next = tm.pollAt
			}
			return
		}
		// The host timer's function, should it be running already,
		// finds itself stale.
		tm.gen++
		if tm.host != nil {
			tm.host.Stop()
			tm.host = nil
		}
		tm.fireLocked(tm.gen)
	}
	for _, tm := range p.timers.itimers[itimerVirtual:] {
		poll(tm)
	}
	poll(p.timers.cpuLimit)
	for _, tm := range p.timers.posix {
		poll(tm)
	}
}

// queued says the timer's signal is pending, not yet delivered. p.mu
// must be held.
func (tm *guestTimer) queued() bool {
	q := &tm.p.sig.sigQueue
	if tm.target != nil {
		q = &tm.target.tsig.sigQueue
	}
	for _, info := range q.queue[tm.signo] {
		if info.fromTimer() && info.timerID == tm.id {
			return true
		}
	}
	return false
}

// timerDelivered completes a POSIX timer's siginfo as it is delivered:
// si_overrun is the expiries counted since the last delivery, which
// timer_getoverrun reports from now on (Linux's posixtimer_rearm). p.mu
// must be held.
func (p *Process) timerDelivered(info *sigInfo) {
	tm := p.timers.posix[info.timerID]
	if tm == nil {
		return
	}
	tm.overrunLast, tm.overrun = tm.overrun, 0
	info.overrun = int32(min(tm.overrunLast, math.MaxInt32))
}

// stopTimers stops every timer for good: the program ended or the
// Process is closed. p.mu must be held.
func (p *Process) stopTimers() {
	p.timers.stopped = true
	for _, tm := range p.timers.itimers {
		if tm != nil {
			tm.stop()
		}
	}
	if p.timers.cpuLimit != nil {
		p.timers.cpuLimit.stop()
	}
	for _, tm := range p.timers.posix {
		tm.stop()
	}
}

// armCPULimit sets the RLIMIT_CPU timer to fire when the process's CPU
// time reaches its soft limit, or disarms it for an infinite one, as
// Linux's update_rlimit_cpu. p.mu must be held.
func (p *Process) armCPULimit() {
	l := p.limit(unix.RLIMIT_CPU)
	tm := p.timers.cpuLimit
	if l.Cur == rlimInfinity {
		if tm != nil {
			tm.stop()
		}
		return
	}
	if tm == nil {
		tm = &guestTimer{p: p, id: cpuLimitID, cpu: cpuClock{process: p}}
		p.timers.cpuLimit = tm
	}
	tm.arm(limitSeconds(l.Cur), 0, true)
}

// cpuLimitReached acts on the process's CPU time now past its
// RLIMIT_CPU soft limit, as Linux's check_process_timers: at the hard
// limit SIGKILL, and nothing more; else SIGXCPU, the soft limit raised by
// a second (getrlimit shows it) and the timer set for it. Both come from
// the kernel (SI_KERNEL). p.mu must be held.
func (p *Process) cpuLimitReached(now time.Duration) {
	l := p.limit(unix.RLIMIT_CPU)
	if l.Cur == rlimInfinity {
		return
	}
	if l.Max != rlimInfinity && now >= limitSeconds(l.Max) {
		_ = p.sendToProcess(nil, unix.SIGKILL, sigInfo{code: siKernel, why: "RLIMIT_CPU's hard limit reached"})
		return
	}
	if now >= limitSeconds(l.Cur) {
		_ = p.sendToProcess(nil, unix.SIGXCPU, sigInfo{code: siKernel, why: "RLIMIT_CPU's soft limit reached"})
		if p.limits == nil {
			p.limits = make(map[int]Limit)
		}
		l.Cur++
		p.limits[unix.RLIMIT_CPU] = l
	}
	p.armCPULimit()
}

// limitSeconds is a limit in seconds as a duration, saturating.
func limitSeconds(secs uint64) time.Duration {
	return durationOf(int64(min(secs, math.MaxInt64)), 0)
}

func satAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satAddInt(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// ITIMER_* (linux/time.h).
const (
	itimerReal    = 0
	itimerVirtual = 1
	itimerProf    = 2
)

// itimerSignals are the itimers' signals by which.
var itimerSignals = [3]unix.Signal{unix.SIGALRM, unix.SIGVTALRM, unix.SIGPROF}

// itimerOf is itimer which, made on first use: ITIMER_REAL on
// CLOCK_MONOTONIC, ITIMER_VIRTUAL and ITIMER_PROF on the process's CPU
// clock (the whole of which is user time, see cputime.go); nil for an
// unknown which. p.mu must be held.
func (p *Process) itimerOf(which int32) *guestTimer {
	if which < itimerReal || which > itimerProf {
		return nil
	}
	if p.timers.itimers[which] == nil {
		tm := &guestTimer{p: p, id: itimerID(which), notify: sigevSignal, signo: itimerSignals[which]}
		if which != itimerReal {
			tm.cpu = cpuClock{process: p}
		}
		p.timers.itimers[which] = tm
	}
	return p.timers.itimers[which]
}

// itimer reads timer which's value and interval; ok false for an
// unknown which. p.mu must be held.
func (p *Process) itimer(which int32) (value, interval time.Duration, ok bool) {
	tm := p.itimerOf(which)
	if tm == nil {
		return 0, 0, false
	}
	return tm.remaining(), tm.interval, true
}

// setItimer sets timer which, which itimer has checked.
func (p *Process) setItimer(which int32, value, interval time.Duration) {
	p.itimerOf(which).arm(value, interval, false)
}

// sysAlarm sets ITIMER_REAL to fire once after a[0] seconds (0 disarms
// it) and returns the seconds that were left, rounded to the nearest
// second but never 0 for a timer still armed (Linux's alarm_setitimer).
func sysAlarm(t *Task, a *[6]uint64) uint64 {
	secs := uint32(a[0])
	old, _, _ := t.itimer(itimerReal)
	t.setItimer(itimerReal, time.Duration(secs)*time.Second, 0)
	s, us := int64(old/time.Second), int64(old%time.Second/time.Microsecond)
	if (s == 0 && us != 0) || us >= 500000 {
		s++
	}
	return uint64(s)
}

// sysGetitimer writes timer a[0]'s struct itimerval at a[1]: EINVAL for
// an unknown timer, EFAULT for an unwritable buffer.
func sysGetitimer(t *Task, a *[6]uint64) uint64 {
	value, interval, ok := t.itimer(int32(a[0]))
	if !ok {
		return errno(unix.EINVAL)
	}
	return t.putItimerval(a[1], value, interval)
}

// sysSetitimer sets timer a[0] from the struct itimerval at a[1] (NULL:
// disarm, as Linux still accepts) and writes the old one at a[2] when it
// is not NULL, in Linux's order: EFAULT for the new value, EINVAL for an
// unknown timer or an invalid timeval, then EFAULT for the old one with
// the new one set.
func sysSetitimer(t *Task, a *[6]uint64) uint64 {
	which := int32(a[0])
	var value, interval time.Duration
	if a[1] != 0 {
		var b [itimervalSize]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[1]), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		var okI, okV bool
		interval, okI = timevalDuration(b[0:])
		value, okV = timevalDuration(b[16:])
		if !okI || !okV {
			return errno(unix.EINVAL)
		}
	}
	oldValue, oldInterval, ok := t.itimer(which)
	if !ok {
		return errno(unix.EINVAL)
	}
	t.setItimer(which, value, interval)
	if a[2] == 0 {
		return 0
	}
	return t.putItimerval(a[2], oldValue, oldInterval)
}

// timevalDuration decodes a struct timeval; ok false for a negative or
// unnormalized one (Linux's timeval_valid).
func timevalDuration(b []byte) (time.Duration, bool) {
	sec, usec := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || usec < 0 || usec >= 1e6 {
		return 0, false
	}
	return durationOf(sec, usec*1e3), true
}

// putItimerval writes a struct itimerval; Linux rounds a remaining time
// below a microsecond up to one, so that an armed timer never reads 0.
func (t *Task) putItimerval(addr uint64, value, interval time.Duration) uint64 {
	var b [itimervalSize]byte
	le := binary.LittleEndian
	usecs := func(d time.Duration) int64 {
		if d > 0 && d < time.Microsecond {
			return 1
		}
		return int64(d % time.Second / time.Microsecond)
	}
	le.PutUint64(b[0:], uint64(interval/time.Second))
	le.PutUint64(b[8:], uint64(usecs(interval)))
	le.PutUint64(b[16:], uint64(value/time.Second))
	le.PutUint64(b[24:], uint64(usecs(value)))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// putItimerspec writes a struct itimerspec.
func (t *Task) putItimerspec(addr uint64, value, interval time.Duration) uint64 {
	var b [itimerspecSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(interval/time.Second))
	le.PutUint64(b[8:], uint64(interval%time.Second))
	le.PutUint64(b[16:], uint64(value/time.Second))
	le.PutUint64(b[24:], uint64(value%time.Second))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// timerClock says whether timer_create serves clock, and which kind of
// clock it is: CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME (the
// guest is never suspended, so these two agree, as clock_gettime has
// them agree), or a CPU clock (CLOCK_PROCESS_CPUTIME_ID,
// CLOCK_THREAD_CPUTIME_ID, or one of clock_getcpuclockid's, whose owner
// sysTimerCreate looks up later, as Linux does). A dynamic clock's id
// (clockFD) is EOPNOTSUPP, as Linux has no timers on those. The alarm
// clocks are EINVAL here, a gap: the guest has no RTC.
func timerClock(clock int32) (realtime, cpu bool, e unix.Errno) {
	switch {
	case clock == unix.CLOCK_REALTIME:
		return true, false, 0
	case clock == unix.CLOCK_MONOTONIC, clock == unix.CLOCK_BOOTTIME:
		return false, false, 0
	case clock == unix.CLOCK_PROCESS_CPUTIME_ID, clock == unix.CLOCK_THREAD_CPUTIME_ID:
		return false, true, 0
	case clock < 0 && clock&clockFDMask == clockFD:
		return false, false, unix.EOPNOTSUPP
	case clock < 0:
		return false, true, 0
	}
	return false, false, unix.EINVAL
}

// sysTimerCreate makes a POSIX timer on clock a[0], notifying as the
// struct sigevent at a[1] says (NULL: SIGALRM to the process with the
// timer id as si_value), and writes its id at a[2]; Linux's order of
// checks: EINVAL for the clock, EAGAIN past RLIMIT_SIGPENDING timers,
// EFAULT for the sigevent, EINVAL for a bad notification, EFAULT for the
// id, EINVAL for a CPU clock with no thread or process (the timer is
// then forgotten).
func sysTimerCreate(t *Task, a *[6]uint64) uint64 {
	realtime, onCPU, e := timerClock(int32(a[0]))
	if e != 0 {
		return errno(e)
	}
	if uint64(len(t.timers.posix)) >= t.limit(unix.RLIMIT_SIGPENDING).Cur {
		return errno(unix.EAGAIN)
	}
	id := t.freeTimerID()
	tm := &guestTimer{p: t.Process, id: id, realtime: realtime, notify: sigevSignal, signo: unix.SIGALRM, value: uint64(id)}
	if a[1] != 0 {
		if e := t.readSigevent(a[1], tm); e != 0 {
			return errno(e)
		}
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(id))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[2]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	if onCPU {
		c, _, ok := t.cpuClockOf(int32(a[0]), false)
		if !ok {
			return errno(unix.EINVAL)
		}
		tm.cpu = c
	}
	if t.timers.posix == nil {
		t.timers.posix = make(map[int32]*guestTimer)
	}
	t.timers.posix[id] = tm
	t.timers.nextID = (id + 1) & math.MaxInt32
	return 0
}

// freeTimerID is the first id from nextID on that no timer has.
func (p *Process) freeTimerID() int32 {
	id := p.timers.nextID
	for p.timers.posix[id] != nil {
		id = (id + 1) & math.MaxInt32
	}
	return id
}

// readSigevent reads a struct sigevent into tm as Linux's good_sigevent
// checks it: SIGEV_NONE; SIGEV_SIGNAL and SIGEV_THREAD (a signal to the
// process: glibc runs the thread itself) with a signal 1..64;
// SIGEV_SIGNAL|SIGEV_THREAD_ID with such a signal and the TID of a live
// thread of the program. Anything else is EINVAL.
func (t *Task) readSigevent(addr uint64, tm *guestTimer) unix.Errno {
	var b [sigeventSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b[:]); err != nil {
		return unix.EFAULT
	}
	le := binary.LittleEndian
	value, signo, notify := le.Uint64(b[0:]), int32(le.Uint32(b[8:])), int32(le.Uint32(b[12:]))
	tid := int32(le.Uint32(b[16:]))
	switch notify {
	case sigevSignal | sigevThreadID:
		target := t.tasks[int(tid)]
		if target == nil {
			return unix.EINVAL
		}
		tm.target = target
		fallthrough
	case sigevSignal, sigevThread:
		if signo <= 0 || signo > 64 {
			return unix.EINVAL
		}
	case sigevNone:
	default:
		return unix.EINVAL
	}
	tm.notify, tm.signo, tm.value = notify, unix.Signal(signo), value
	return 0
}

// posixTimer finds timer id (a timer_t: an int); nil if there is none.
func (p *Process) posixTimer(id uint64) *guestTimer {
	return p.timers.posix[int32(id)]
}

// sysTimerSettime arms timer a[0] from the struct itimerspec at a[2]
// (TIMER_ABSTIME in a[1]: its value is a time on the timer's clock) and
// writes the old setting at a[3] when it is not NULL, in Linux's order:
// EINVAL for a NULL new setting, EFAULT, EINVAL for an invalid timespec,
// EINVAL for an unknown timer, then EFAULT for the old setting, the new
// one set.
func sysTimerSettime(t *Task, a *[6]uint64) uint64 {
	if a[2] == 0 {
		return errno(unix.EINVAL)
	}
	var b [itimerspecSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[2]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	interval, okI := timespecDuration(b[0:])
	value, okV := timespecDuration(b[16:])
	if !okI || !okV {
		return errno(unix.EINVAL)
	}
	tm := t.posixTimer(a[0])
	if tm == nil {
		return errno(unix.EINVAL)
	}
	oldValue, oldInterval := tm.remaining(), tm.interval
	// Linux's common_timer_set forgets the overruns; an absolute time
	// already past fires at once.
	tm.overrun, tm.overrunLast = 0, 0
	tm.arm(value, interval, a[1]&timerAbstime != 0)
	if a[3] == 0 {
		return 0
	}
	return t.putItimerspec(a[3], oldValue, oldInterval)
}

// timespecDuration decodes a struct timespec; ok false for a negative or
// unnormalized one (Linux's timespec64_valid).
func timespecDuration(b []byte) (time.Duration, bool) {
	sec, nsec := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, false
	}
	return durationOf(sec, nsec), true
}

// sysTimerGettime writes timer a[0]'s time left and interval at a[1]:
// EINVAL for an unknown timer, EFAULT for an unwritable buffer.
func sysTimerGettime(t *Task, a *[6]uint64) uint64 {
	tm := t.posixTimer(a[0])
	if tm == nil {
		return errno(unix.EINVAL)
	}
	return t.putItimerspec(a[1], tm.remaining(), tm.interval)
}

// sysTimerGetoverrun returns the overrun count the timer's last
// delivered signal carried, at most INT_MAX (DELAYTIMER_MAX).
func sysTimerGetoverrun(t *Task, a *[6]uint64) uint64 {
	tm := t.posixTimer(a[0])
	if tm == nil {
		return errno(unix.EINVAL)
	}
	return uint64(min(tm.overrunLast, math.MaxInt32))
}

// sysTimerDelete disarms and forgets timer a[0]; a signal of its that is
// pending stays pending.
func sysTimerDelete(t *Task, a *[6]uint64) uint64 {
	tm := t.posixTimer(a[0])
	if tm == nil {
		return errno(unix.EINVAL)
	}
	tm.stop()
	delete(t.timers.posix, tm.id)
	return 0
}
