package syscalls

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Addresses in the test memory the timer tests use.
const (
	itvAddr    = base + 0x400 // struct itimerval / itimerspec (new)
	oldItvAddr = base + 0x440 // the old one
	sigevAddr  = base + 0x500 // struct sigevent
	timerIDAt  = base + 0x580 // timer_t
	sleepAddr  = base + 0x600 // nanosleep's timespec
	actAddr    = base + 0x700 // struct sigaction
	maskAddr   = base + 0x780 // sigset_t
)

func putTimePair(mem *flatMemory, addr uint64, intervalSec, intervalSub, valueSec, valueSub uint64) {
	le := binary.LittleEndian
	b := mem.mem[addr-base:]
	le.PutUint64(b[0:], intervalSec)
	le.PutUint64(b[8:], intervalSub)
	le.PutUint64(b[16:], valueSec)
	le.PutUint64(b[24:], valueSub)
}

// timePair reads an itimerval or itimerspec as (interval, value) in the
// sub-second unit sub.
func timePair(mem *flatMemory, addr uint64, sub time.Duration) (interval, value time.Duration) {
	le := binary.LittleEndian
	b := mem.mem[addr-base:]
	interval = time.Duration(le.Uint64(b[0:]))*time.Second + time.Duration(le.Uint64(b[8:]))*sub
	value = time.Duration(le.Uint64(b[16:]))*time.Second + time.Duration(le.Uint64(b[24:]))*sub
	return
}

// blockSignals blocks set in the main thread, so that what the timers
// send stays pending for the test to see.
func blockSignals(t *testing.T, p *Process, mem *flatMemory, set uint64) {
	t.Helper()
	binary.LittleEndian.PutUint64(mem.mem[maskAddr-base:], set)
	if r := p.Syscall(unix.SYS_RT_SIGPROCMASK, [6]uint64{unix.SIG_BLOCK, maskAddr, 0, sigsetSize}); r != 0 {
		t.Fatalf("rt_sigprocmask = %d", int64(r))
	}
}

// takePending waits until sig is pending on q (the process's, or a
// thread's when task is not nil) and takes it, returning its siginfo and
// when it was seen; it fails the test after limit.
func takePending(t *testing.T, p *Process, task *Task, sig unix.Signal, limit time.Duration) sigInfo {
	t.Helper()
	for end := time.Now().Add(limit); ; time.Sleep(200 * time.Microsecond) {
		p.mu.Lock()
		q := &p.sig.sigQueue
		if task != nil {
			q = &task.tsig.sigQueue
		}
		if q.pending&sigBit(sig) != 0 {
			taker := p.main
			if task != nil {
				taker = task
			}
			saved := taker.sigmask
			taker.sigmask = ^sigBit(sig)
			got, info, ok := taker.dequeueFrom(q, taker.sigmask)
			taker.sigmask = saved
			p.mu.Unlock()
			if !ok || got != sig {
				t.Fatalf("dequeued %v %v, want %v", got, ok, sig)
			}
			return info
		}
		p.mu.Unlock()
		if time.Now().After(end) {
			t.Fatalf("%v not pending after %v", sig, limit)
		}
	}
}

// TestAlarm: alarm arms ITIMER_REAL once; SIGALRM from the kernel is
// pending when it fires, not before; alarm returns the seconds left,
// rounded as Linux rounds them.
func TestAlarm(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	blockSignals(t, p, mem, sigBit(unix.SIGALRM))
	if r := p.Syscall(unix.SYS_ALARM, [6]uint64{100}); r != 0 {
		t.Fatalf("first alarm = %d, want 0", r)
	}
	// 100 s left, less a little: rounds to 100.
	if r := p.Syscall(unix.SYS_ALARM, [6]uint64{0}); r != 100 {
		t.Errorf("alarm(0) after alarm(100) = %d, want 100", r)
	}
	if r := p.Syscall(unix.SYS_ALARM, [6]uint64{0}); r != 0 {
		t.Errorf("alarm(0) disarmed = %d, want 0", r)
	}
	// 300 ms left rounds to 1, never 0.
	putTimePair(mem, itvAddr, 0, 0, 0, 300000)
	if r := p.Syscall(unix.SYS_SETITIMER, [6]uint64{itimerReal, itvAddr, 0}); r != 0 {
		t.Fatalf("setitimer = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_ALARM, [6]uint64{1}); r != 1 {
		t.Errorf("alarm over 300 ms left = %d, want 1", r)
	}
	start := time.Now()
	info := takePending(t, p, nil, unix.SIGALRM, 5*time.Second)
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("alarm(1) fired after %v", took)
	}
	if info.code != siKernel || info.pid != 0 {
		t.Errorf("SIGALRM's siginfo %+v, want SI_KERNEL from pid 0", info)
	}
	if r := p.Syscall(unix.SYS_GETITIMER, [6]uint64{itimerReal, itvAddr}); r != 0 {
		t.Fatalf("getitimer = %d", int64(r))
	}
	if iv, v := timePair(mem, itvAddr, time.Microsecond); iv != 0 || v != 0 {
		t.Errorf("ITIMER_REAL after a one-shot fired: interval %v value %v, want 0 0", iv, v)
	}
}

// TestSetitimerInterval: an interval timer fires again and again; getitimer
// reports the time left and the interval; setitimer returns the old ones.
func TestSetitimerInterval(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	blockSignals(t, p, mem, sigBit(unix.SIGALRM))
	putTimePair(mem, itvAddr, 0, 20000, 0, 30000) // every 20 ms after 30 ms
	// The expiries are 30, 50 and 70 ms after the setitimer, whenever
	// this test gets to wait for them.
	start := time.Now()
	if r := p.Syscall(unix.SYS_SETITIMER, [6]uint64{itimerReal, itvAddr, oldItvAddr}); r != 0 {
		t.Fatalf("setitimer = %d", int64(r))
	}
	if iv, v := timePair(mem, oldItvAddr, time.Microsecond); iv != 0 || v != 0 {
		t.Errorf("old value %v %v, want zeros", iv, v)
	}
	if r := p.Syscall(unix.SYS_GETITIMER, [6]uint64{itimerReal, itvAddr}); r != 0 {
		t.Fatalf("getitimer = %d", int64(r))
	}
	if iv, v := timePair(mem, itvAddr, time.Microsecond); iv != 20*time.Millisecond || v <= 0 || v > 30*time.Millisecond {
		t.Errorf("getitimer: interval %v value %v, want 20ms and (0, 30ms]", iv, v)
	}
	for i := 0; i < 3; i++ {
		takePending(t, p, nil, unix.SIGALRM, 5*time.Second)
	}
	if took := time.Since(start); took < 70*time.Millisecond {
		t.Errorf("3 expiries in %v, want at least 70ms", took)
	}
	putTimePair(mem, itvAddr, 0, 0, 0, 0)
	if r := p.Syscall(unix.SYS_SETITIMER, [6]uint64{itimerReal, itvAddr, oldItvAddr}); r != 0 {
		t.Fatalf("setitimer(0) = %d", int64(r))
	}
	if iv, v := timePair(mem, oldItvAddr, time.Microsecond); iv != 20*time.Millisecond || v <= 0 || v > 20*time.Millisecond {
		t.Errorf("old setting interval %v value %v, want 20ms and (0, 20ms]", iv, v)
	}
	// Disarmed: nothing more comes.
	p.mu.Lock()
	p.sig.discardFromAll()
	p.mu.Unlock()
	time.Sleep(60 * time.Millisecond)
	p.mu.Lock()
	pending := p.sig.pending
	p.mu.Unlock()
	if pending != 0 {
		t.Errorf("a disarmed ITIMER_REAL still sends: pending %#x", pending)
	}
}

// discardFromAll empties the queue (tests).
func (s *signalState) discardFromAll() {
	for sig := range s.queue {
		s.queued -= uint64(len(s.queue[sig]))
		s.queue[sig] = nil
	}
	s.pending = 0
}

// TestItimerOthersKept: ITIMER_VIRTUAL and ITIMER_PROF report what was
// set while the process does not run (they count its CPU time, and no
// vCPU runs a test's threads).
func TestItimerOthersKept(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	for _, which := range []uint64{itimerVirtual, itimerProf} {
		putTimePair(mem, itvAddr, 1, 5, 2, 7)
		if r := p.Syscall(unix.SYS_SETITIMER, [6]uint64{which, itvAddr, 0}); r != 0 {
			t.Fatalf("setitimer(%d) = %d", which, int64(r))
		}
		if r := p.Syscall(unix.SYS_GETITIMER, [6]uint64{which, oldItvAddr}); r != 0 {
			t.Fatalf("getitimer(%d) = %d", which, int64(r))
		}
		if iv, v := timePair(mem, oldItvAddr, time.Microsecond); iv != time.Second+5*time.Microsecond || v != 2*time.Second+7*time.Microsecond {
			t.Errorf("timer %d reads %v %v", which, iv, v)
		}
	}
}

// TestTimerCalls: timer_create, timer_settime, timer_gettime,
// timer_getoverrun and timer_delete on CLOCK_MONOTONIC with SIGEV_SIGNAL.
func TestTimerCalls(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	le := binary.LittleEndian
	sig := unix.Signal(sigRTMin + 1)
	blockSignals(t, p, mem, sigBit(sig))
	ev := mem.mem[sigevAddr-base:]
	le.PutUint64(ev[0:], 0x1234abcd) // sigev_value
	le.PutUint32(ev[8:], uint32(sig))
	le.PutUint32(ev[12:], sigevSignal)
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, sigevAddr, timerIDAt}); r != 0 {
		t.Fatalf("timer_create = %d", int64(r))
	}
	id := uint64(le.Uint32(mem.mem[timerIDAt-base:]))
	// Disarmed: zeros.
	if r := p.Syscall(unix.SYS_TIMER_GETTIME, [6]uint64{id, itvAddr}); r != 0 {
		t.Fatalf("timer_gettime = %d", int64(r))
	}
	if iv, v := timePair(mem, itvAddr, 1); iv != 0 || v != 0 {
		t.Errorf("a new timer reads %v %v", iv, v)
	}
	// One shot in 20 ms.
	putTimePair(mem, itvAddr, 0, 0, 0, 20e6)
	start := time.Now()
	if r := p.Syscall(unix.SYS_TIMER_SETTIME, [6]uint64{id, 0, itvAddr, oldItvAddr}); r != 0 {
		t.Fatalf("timer_settime = %d", int64(r))
	}
	info := takePending(t, p, nil, sig, 5*time.Second)
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("fired after %v, want 20ms", took)
	}
	if info.code != siTimer || info.value != 0x1234abcd || info.timerID != int32(id) || info.overrun != 0 {
		t.Errorf("siginfo %+v", info)
	}
	b := info.encode()
	if int32(le.Uint32(b[8:])) != siTimer || le.Uint32(b[16:]) != uint32(id) || le.Uint64(b[24:]) != 0x1234abcd {
		t.Errorf("encoded siginfo % x", b[:32])
	}

	// An absolute time on CLOCK_MONOTONIC, as clock_gettime reads it,
	// 30 ms ahead, then every 1 ms while the signal stays pending: the
	// expiries not signalled are overruns, which the delivery reports
	// and timer_getoverrun repeats.
	if r := p.Syscall(unix.SYS_CLOCK_GETTIME, [6]uint64{unix.CLOCK_MONOTONIC, sleepAddr}); r != 0 {
		t.Fatalf("clock_gettime = %d", int64(r))
	}
	now := time.Duration(le.Uint64(mem.mem[sleepAddr-base:]))*time.Second + time.Duration(le.Uint64(mem.mem[sleepAddr-base+8:]))
	at := now + 30*time.Millisecond
	putTimePair(mem, itvAddr, 0, 1e6, uint64(at/time.Second), uint64(at%time.Second))
	if r := p.Syscall(unix.SYS_TIMER_SETTIME, [6]uint64{id, timerAbstime, itvAddr, 0}); r != 0 {
		t.Fatalf("timer_settime(TIMER_ABSTIME) = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_TIMER_GETTIME, [6]uint64{id, itvAddr}); r != 0 {
		t.Fatalf("timer_gettime = %d", int64(r))
	}
	if iv, v := timePair(mem, itvAddr, 1); iv != time.Millisecond || v <= 0 || v > 30*time.Millisecond {
		t.Errorf("timer_gettime: interval %v value %v, want 1ms and (0, 30ms]", iv, v)
	}
	for {
		p.mu.Lock()
		pending := p.sig.pending&sigBit(sig) != 0
		p.mu.Unlock()
		if pending {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if r := p.Syscall(unix.SYS_CLOCK_GETTIME, [6]uint64{unix.CLOCK_MONOTONIC, sleepAddr}); r != 0 {
		t.Fatalf("clock_gettime = %d", int64(r))
	}
	if seen := time.Duration(le.Uint64(mem.mem[sleepAddr-base:]))*time.Second + time.Duration(le.Uint64(mem.mem[sleepAddr-base+8:])); seen < at {
		t.Errorf("fired at %v on CLOCK_MONOTONIC, before %v", seen, at)
	}
	time.Sleep(30 * time.Millisecond)
	info = takePending(t, p, nil, sig, time.Second)
	if info.overrun < 5 {
		t.Errorf("overrun %d after 30 ms of a 1 ms timer pending", info.overrun)
	}
	if r := p.Syscall(unix.SYS_TIMER_GETOVERRUN, [6]uint64{id}); int32(r) != info.overrun {
		t.Errorf("timer_getoverrun = %d, the delivery said %d", int64(r), info.overrun)
	}
	if r := p.Syscall(unix.SYS_TIMER_DELETE, [6]uint64{id}); r != 0 {
		t.Fatalf("timer_delete = %d", int64(r))
	}
	for _, nr := range []uint64{unix.SYS_TIMER_DELETE, unix.SYS_TIMER_GETOVERRUN, unix.SYS_TIMER_GETTIME} {
		if r := p.Syscall(nr, [6]uint64{id, itvAddr}); r != neg(unix.EINVAL) {
			t.Errorf("%s of a deleted timer = %d, want EINVAL", Name(nr), int64(r))
		}
	}

	// SIGEV_NONE: armed, readable, silent. A NULL sigevent: SIGALRM
	// with the id as si_value.
	le.PutUint32(ev[12:], sigevNone)
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_REALTIME, sigevAddr, timerIDAt}); r != 0 {
		t.Fatalf("timer_create(SIGEV_NONE) = %d", int64(r))
	}
	id = uint64(le.Uint32(mem.mem[timerIDAt-base:]))
	p.mu.Lock()
	tm := p.timers.posix[int32(id)]
	p.mu.Unlock()
	if tm == nil || tm.notify != sigevNone || !tm.realtime {
		t.Fatalf("SIGEV_NONE timer %+v", tm)
	}
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, 0, timerIDAt}); r != 0 {
		t.Fatalf("timer_create(NULL) = %d", int64(r))
	}
	id2 := le.Uint32(mem.mem[timerIDAt-base:])
	p.mu.Lock()
	tm = p.timers.posix[int32(id2)]
	p.mu.Unlock()
	if tm == nil || tm.signo != unix.SIGALRM || tm.value != uint64(id2) || tm.target != nil {
		t.Errorf("timer_create(NULL) made %+v", tm)
	}
}

// timerErrnoCases are timer calls Linux refuses; each is made on the host
// and in the guest, with the same layout of arguments.
func TestTimerErrnosMatchHost(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	type sigevent struct {
		value        uint64
		signo, notif int32
		tid          int32
		_            [44]byte
	}
	if unsafe.Sizeof(sigevent{}) != sigeventSize {
		t.Fatalf("sigevent is %d bytes", unsafe.Sizeof(sigevent{}))
	}
	cases := []struct {
		name       string
		clock      int64
		ev         sigevent
		nullEvent  bool
		badIDOut   bool
		want       unix.Errno
		settimeNsc int64 // for timer_settime on an unknown id
	}{
		{name: "bad clock", clock: 99, want: unix.EINVAL},
		{name: "clock -1", clock: -1, want: unix.EINVAL},
		{name: "notify 3", clock: unix.CLOCK_MONOTONIC, ev: sigevent{signo: 10, notif: 3}, want: unix.EINVAL},
		{name: "signo 65", clock: unix.CLOCK_MONOTONIC, ev: sigevent{signo: 65, notif: sigevSignal}, want: unix.EINVAL},
		{name: "signo 0", clock: unix.CLOCK_MONOTONIC, ev: sigevent{signo: 0, notif: sigevSignal}, want: unix.EINVAL},
		{name: "thread id none", clock: unix.CLOCK_MONOTONIC, ev: sigevent{signo: 10, notif: sigevThreadID, tid: 0x3fffffff}, want: unix.EINVAL},
		{name: "bad id out", clock: unix.CLOCK_MONOTONIC, ev: sigevent{signo: 10, notif: sigevNone}, badIDOut: true, want: unix.EFAULT},
	}
	for _, c := range cases {
		ev := c.ev
		idOut := uintptr(0)
		hostID := hostMem(4)
		if !c.badIDOut {
			idOut = hostAddr(hostID)
		}
		_, _, he := unix.Syscall(unix.SYS_TIMER_CREATE, uintptr(c.clock), uintptr(unsafe.Pointer(&ev)), idOut)
		if he == 0 {
			unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(binary.LittleEndian.Uint32(hostID)), 0, 0)
		}
		b := mem.mem[sigevAddr-base:]
		binary.LittleEndian.PutUint64(b[0:], ev.value)
		binary.LittleEndian.PutUint32(b[8:], uint32(ev.signo))
		binary.LittleEndian.PutUint32(b[12:], uint32(ev.notif))
		binary.LittleEndian.PutUint32(b[16:], uint32(ev.tid))
		out := uint64(timerIDAt)
		if c.badIDOut {
			out = 0
		}
		r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{uint64(c.clock), sigevAddr, out})
		if he != c.want || r != neg(c.want) {
			t.Errorf("timer_create %s: host %v, mmvm %d; want %v", c.name, he, int64(r), c.want)
		}
	}
	// The sigevent unreadable.
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, 8, timerIDAt}); r != neg(unix.EFAULT) {
		t.Errorf("timer_create(bad sigevent) = %d", int64(r))
	}
	_, _, he := unix.Syscall(unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, 8, uintptr(unsafe.Pointer(new(int32))))
	if he != unix.EFAULT {
		t.Errorf("host timer_create(bad sigevent) = %v", he)
	}

	// timer_settime, gettime, getoverrun, delete on no timer; a NULL or
	// invalid setting.
	var spec [4]int64
	badSpec := [4]int64{0, 0, 0, 1e9}
	hostCalls := []struct {
		name string
		nr   uintptr
		a    [4]uintptr
		spec *[4]int64
	}{
		{"settime no timer", unix.SYS_TIMER_SETTIME, [4]uintptr{0x7777, 0, 1, 0}, &spec},
		{"settime NULL", unix.SYS_TIMER_SETTIME, [4]uintptr{0x7777, 0, 0, 0}, nil},
		{"settime bad nsec", unix.SYS_TIMER_SETTIME, [4]uintptr{0x7777, 0, 1, 0}, &badSpec},
		{"gettime no timer", unix.SYS_TIMER_GETTIME, [4]uintptr{0x7777, 1}, &spec},
		{"getoverrun no timer", unix.SYS_TIMER_GETOVERRUN, [4]uintptr{0x7777}, nil},
		{"delete no timer", unix.SYS_TIMER_DELETE, [4]uintptr{0x7777}, nil},
		{"getitimer 3", unix.SYS_GETITIMER, [4]uintptr{3, 1}, &spec},
		{"setitimer 3", unix.SYS_SETITIMER, [4]uintptr{3, 1, 0}, &spec},
		{"setitimer bad usec", unix.SYS_SETITIMER, [4]uintptr{itimerVirtual, 1, 0}, &[4]int64{0, 0, 0, 1e6}},
		{"setitimer bad out", unix.SYS_SETITIMER, [4]uintptr{itimerProf, 1, 8}, &spec},
		{"getitimer bad out", unix.SYS_GETITIMER, [4]uintptr{itimerProf, 8}, nil},
	}
	for _, c := range hostCalls {
		hostArgs, guestArgs := c.a, [6]uint64{uint64(c.a[0]), uint64(c.a[1]), uint64(c.a[2]), uint64(c.a[3])}
		for i, v := range c.a {
			if v == 1 && c.spec != nil { // the spec's place
				hs := hostMem(8 * len(c.spec))
				hostArgs[i] = hostAddr(hs)
				guestArgs[i] = itvAddr
				for j, w := range c.spec {
					binary.LittleEndian.PutUint64(hs[8*j:], uint64(w))
					binary.LittleEndian.PutUint64(mem.mem[itvAddr-base+8*j:], uint64(w))
				}
			}
		}
		_, _, he := unix.Syscall6(c.nr, hostArgs[0], hostArgs[1], hostArgs[2], hostArgs[3], 0, 0)
		r := p.Syscall(uint64(c.nr), guestArgs)
		if he == 0 || r != neg(he) {
			t.Errorf("%s: host %v, mmvm %d", c.name, he, int64(r))
		}
	}
}

// TestTimerThreadID: a SIGEV_THREAD_ID timer's signal is pending on that
// thread alone, and kicks it.
func TestTimerThreadID(t *testing.T) {
	h := newThreadHarness(t)
	p, mem := h.p, h.mem
	defer p.Close()
	c := h.spawn(t)
	le := binary.LittleEndian
	ev := mem.mem[sigevAddr-base:]
	le.PutUint64(ev[0:], 77)
	le.PutUint32(ev[8:], uint32(unix.SIGUSR2))
	le.PutUint32(ev[12:], sigevSignal|sigevThreadID)
	le.PutUint32(ev[16:], uint32(c.TID()))
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, sigevAddr, timerIDAt}); r != 0 {
		t.Fatalf("timer_create = %d", int64(r))
	}
	c.sigmask = sigBit(unix.SIGUSR2) // so that it stays pending for the test
	putTimePair(mem, itvAddr, 0, 0, 0, 5e6)
	if r := p.Syscall(unix.SYS_TIMER_SETTIME, [6]uint64{uint64(le.Uint32(mem.mem[timerIDAt-base:])), 0, itvAddr, 0}); r != 0 {
		t.Fatalf("timer_settime = %d", int64(r))
	}
	info := takePending(t, p, c, unix.SIGUSR2, 5*time.Second)
	if info.value != 77 || info.code != siTimer {
		t.Errorf("siginfo %+v", info)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sig.pending != 0 || p.main.tsig.pending != 0 {
		t.Errorf("the process (%#x) or the main thread (%#x) has it pending", p.sig.pending, p.main.tsig.pending)
	}
}

// TestTimerInterruptsWaits: a timer's signal with a handler ends a
// nanosleep with EINTR, and restarts a pipe read under SA_RESTART.
func TestTimerInterruptsWaits(t *testing.T) {
	for _, restart := range []bool{false, true} {
		p, mem, _ := newTestProcess(t)
		p.cfg.UserCS, p.cfg.UserSS = testUserCS, testUserSS
		le := binary.LittleEndian
		act := mem.mem[actAddr-base:]
		flags := uint64(saRestorer)
		if restart {
			flags |= saRestart
		}
		le.PutUint64(act[0:], testHandler)
		le.PutUint64(act[8:], flags)
		le.PutUint64(act[16:], testRestorer)
		if r := p.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{uint64(unix.SIGALRM), actAddr, 0, sigsetSize}); r != 0 {
			t.Fatalf("rt_sigaction = %d", int64(r))
		}
		if r := p.Syscall(unix.SYS_ALARM, [6]uint64{1}); r != 0 {
			t.Fatalf("alarm = %d", int64(r))
		}
		var regs UserRegs
		if restart {
			if r := p.Syscall(unix.SYS_PIPE2, [6]uint64{sleepAddr, 0}); r != 0 {
				t.Fatalf("pipe2 = %d", int64(r))
			}
			regs = handlerRegs(unix.SYS_READ, uint64(le.Uint32(mem.mem[sleepAddr-base:])), base+0x800, 16)
		} else {
			le.PutUint64(mem.mem[sleepAddr-base:], 30)
			regs = handlerRegs(unix.SYS_NANOSLEEP, sleepAddr, 0)
		}
		done := make(chan bool, 1)
		start := time.Now()
		go func() { done <- p.main.HandleSyscall(&regs) }()
		select {
		case red := <-done:
			took := time.Since(start)
			if !red || regs.RIP != testHandler || regs.RDI != uint64(unix.SIGALRM) || took < 900*time.Millisecond {
				t.Errorf("after %v: redirected %v, regs rip %#x rdi %d", took, red, regs.RIP, regs.RDI)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("SA_RESTART %v: the wait was not interrupted", restart)
		}
		sc := regs.RSP + frameUC + ucMcontext
		wantRAX, wantRIP := neg(unix.EINTR), uint64(0x400300)
		if restart {
			wantRAX, wantRIP = unix.SYS_READ, 0x400300-syscallInsnLen
		}
		if got, rip := frameRAX(mem, regs.RSP), le.Uint64(mem.mem[sc+scRIP-base:]); got != wantRAX || rip != wantRIP {
			t.Errorf("SA_RESTART %v: frame's rax %d rip %#x, want %d %#x", restart, int64(got), rip, int64(wantRAX), wantRIP)
		}
		p.Close()
	}
}

// TestTimersStopAtClose: Close and the program's end stop every timer:
// nothing is sent afterwards and no host timer or goroutine is left.
func TestTimersStopAtClose(t *testing.T) {
	for _, end := range []string{"Close", "exit_group"} {
		before := runtime.NumGoroutine()
		p, mem, _ := newTestProcess(t)
		blockSignals(t, p, mem, sigBit(unix.SIGALRM)|sigBit(unix.SIGUSR1))
		putTimePair(mem, itvAddr, 0, 1000, 0, 1000)
		if r := p.Syscall(unix.SYS_SETITIMER, [6]uint64{itimerReal, itvAddr, 0}); r != 0 {
			t.Fatalf("setitimer = %d", int64(r))
		}
		ev := mem.mem[sigevAddr-base:]
		binary.LittleEndian.PutUint32(ev[8:], uint32(unix.SIGUSR1))
		binary.LittleEndian.PutUint32(ev[12:], sigevSignal)
		for i := 0; i < 3; i++ {
			if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, sigevAddr, timerIDAt}); r != 0 {
				t.Fatalf("timer_create = %d", int64(r))
			}
			putTimePair(mem, itvAddr, 0, 1e6, 0, 1e6)
			id := uint64(binary.LittleEndian.Uint32(mem.mem[timerIDAt-base:]))
			if r := p.Syscall(unix.SYS_TIMER_SETTIME, [6]uint64{id, 0, itvAddr, 0}); r != 0 {
				t.Fatalf("timer_settime = %d", int64(r))
			}
		}
		takePending(t, p, nil, unix.SIGALRM, 5*time.Second)
		if end == "Close" {
			p.Close()
		} else {
			p.Syscall(unix.SYS_EXIT_GROUP, [6]uint64{0})
		}
		p.mu.Lock()
		p.sig.discardFromAll()
		hosts := 0
		for _, tm := range append([]*guestTimer{p.timers.itimers[itimerReal]}, mapValues(p.timers.posix)...) {
			if tm.host != nil || tm.expiry != 0 {
				hosts++
			}
		}
		p.mu.Unlock()
		if hosts != 0 {
			t.Errorf("%s: %d timers still armed", end, hosts)
		}
		time.Sleep(20 * time.Millisecond)
		p.mu.Lock()
		pending := p.sig.pending
		p.mu.Unlock()
		if pending != 0 {
			t.Errorf("%s: signals %#x sent after the end", end, pending)
		}
		p.Close()
		for end := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("%s: %d goroutines, %d before", end, n, before)
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestTimerCreateLimit: timers past RLIMIT_SIGPENDING are EAGAIN (each
// holds a preallocated siginfo in Linux); deleting one makes room, and
// ids are reused from the lowest free one after the last given.
func TestTimerCreateLimit(t *testing.T) {
	p, _, _ := newTestProcess(t)
	defer p.Close()
	p.cfg.Limits[unix.RLIMIT_SIGPENDING] = Limit{2, 2}
	le := binary.LittleEndian
	var ids []uint32
	for i := 0; i < 2; i++ {
		if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, 0, timerIDAt}); r != 0 {
			t.Fatalf("timer_create %d = %d", i, int64(r))
		}
		ids = append(ids, le.Uint32(p.cfg.Memory.(*flatMemory).mem[timerIDAt-base:]))
	}
	if ids[0] != 0 || ids[1] != 1 {
		t.Errorf("ids %v, want [0 1]", ids)
	}
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, 0, timerIDAt}); r != neg(unix.EAGAIN) {
		t.Errorf("timer_create past the limit = %d, want EAGAIN", int64(r))
	}
	if r := p.Syscall(unix.SYS_TIMER_DELETE, [6]uint64{0}); r != 0 {
		t.Fatalf("timer_delete = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_MONOTONIC, 0, timerIDAt}); r != 0 {
		t.Fatalf("timer_create after a delete = %d", int64(r))
	}
	if id := le.Uint32(p.cfg.Memory.(*flatMemory).mem[timerIDAt-base:]); id != 2 {
		t.Errorf("id after a delete %d, want 2 (the next, as Linux)", id)
	}
}
