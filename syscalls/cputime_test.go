package syscalls

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runOnThisThread binds the test's goroutine to its host thread and
// counts that thread's CPU time as p's main thread's, as a vCPU's run
// does; the returned function undoes it.
func runOnThisThread(p *Process) func() {
	runtime.LockOSThread()
	p.main.StartCPUClock()
	return func() {
		p.main.StopCPUClock()
		runtime.UnlockOSThread()
	}
}

// spinUntil burns the calling thread's CPU until done reports true or
// the thread has used limit of CPU time; it reports done's last answer.
func spinUntil(limit time.Duration, done func() bool) bool {
	start := ownThreadCPU()
	for ownThreadCPU()-start < limit {
		if done() {
			return true
		}
	}
	return done()
}

// readClock reads clock id with clock_gettime.
func readClock(t *testing.T, p *Process, mem *flatMemory, id int32) time.Duration {
	t.Helper()
	if r := p.Syscall(unix.SYS_CLOCK_GETTIME, [6]uint64{uint64(uint32(id)), sleepAddr}); r != 0 {
		t.Fatalf("clock_gettime(%d) = %d", id, int64(r))
	}
	b := mem.mem[sleepAddr-base:]
	return time.Duration(binary.LittleEndian.Uint64(b))*time.Second + time.Duration(binary.LittleEndian.Uint64(b[8:]))
}

// TestCPUClocksCountRunningTime: the CPU clocks, getrusage and times
// count the time the thread runs, not the time it sleeps.
func TestCPUClocksCountRunningTime(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	defer runOnThisThread(p)()
	spinUntil(60*time.Millisecond, func() bool { return false })
	clocks := []int32{unix.CLOCK_PROCESS_CPUTIME_ID, unix.CLOCK_THREAD_CPUTIME_ID,
		threadCPUClockID(0, cpuClockSched), threadCPUClockID(42, cpuClockProf),
		^0 << 3 /* process 0, PROF */, ^42<<3 | cpuClockVirt}
	var ran []time.Duration
	for _, id := range clocks {
		d := readClock(t, p, mem, id)
		if d < 50*time.Millisecond || d > 10*time.Second {
			t.Errorf("clock %d after 60ms of CPU reads %v", id, d)
		}
		ran = append(ran, d)
	}
	time.Sleep(300 * time.Millisecond)
	for i, id := range clocks {
		if d := readClock(t, p, mem, id) - ran[i]; d > 50*time.Millisecond {
			t.Errorf("clock %d advanced %v across a sleep of 300ms", id, d)
		}
	}
	for _, who := range []uint64{unix.RUSAGE_SELF, uint64(unix.RUSAGE_THREAD)} {
		if r := p.Syscall(unix.SYS_GETRUSAGE, [6]uint64{who, sleepAddr}); r != 0 {
			t.Fatalf("getrusage(%d) = %d", int64(who), int64(r))
		}
		b := mem.mem[sleepAddr-base:]
		utime := time.Duration(binary.LittleEndian.Uint64(b))*time.Second + time.Duration(binary.LittleEndian.Uint64(b[8:]))*time.Microsecond
		if utime < 50*time.Millisecond || utime > ran[0]+time.Second {
			t.Errorf("getrusage(%d) user time %v, CPU clock %v", int64(who), utime, ran[0])
		}
	}
	p.Syscall(unix.SYS_TIMES, [6]uint64{sleepAddr})
	if ticks := binary.LittleEndian.Uint64(mem.mem[sleepAddr-base:]); ticks < 5 {
		t.Errorf("times: tms_utime %d ticks after 60ms of CPU", ticks)
	}
}

// TestCPUClockIDs: clock_gettime and clock_getres find the CPU clocks
// as Linux's pid_for_clock: EINVAL for which 3, a thread not of the
// caller's process, a process that does not exist.
func TestCPUClockIDs(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	for _, tc := range []struct {
		id   int32
		want unix.Errno
	}{
		{unix.CLOCK_PROCESS_CPUTIME_ID, 0},
		{threadCPUClockID(42, cpuClockSched), 0},
		{^0<<3 | cpuClockWhich, unix.EINVAL},
		{threadCPUClockID(0, cpuClockWhich), unix.EINVAL},
		{threadCPUClockID(4242, cpuClockSched), unix.EINVAL},
		{^4242<<3 | cpuClockSched, unix.EINVAL},
		{12, unix.EINVAL},
	} {
		for _, nr := range []uint64{unix.SYS_CLOCK_GETTIME, unix.SYS_CLOCK_GETRES} {
			if r := p.Syscall(nr, [6]uint64{uint64(uint32(tc.id)), sleepAddr}); r != errno(tc.want) && !(tc.want == 0 && r == 0) {
				t.Errorf("call %d on clock %d = %d, want %v", nr, tc.id, int64(r), tc.want)
			}
		}
	}
	for _, tc := range []struct {
		id   int32
		want time.Duration // 0: the host's
	}{
		{unix.CLOCK_PROCESS_CPUTIME_ID, 1},
		{unix.CLOCK_THREAD_CPUTIME_ID, 1},
		{^0 << 3, 0},
	} {
		p.Syscall(unix.SYS_CLOCK_GETRES, [6]uint64{uint64(uint32(tc.id)), sleepAddr})
		var host unix.Timespec
		if err := unix.ClockGetres(tc.id, &host); err != nil {
			t.Fatal(err)
		}
		if tc.want != 0 && time.Duration(host.Nano()) != tc.want {
			t.Errorf("host's clock_getres(%d) = %v", tc.id, time.Duration(host.Nano()))
		}
		if got := readRes(mem); got != time.Duration(host.Nano()) {
			t.Errorf("clock_getres(%d) = %v, host says %v", tc.id, got, time.Duration(host.Nano()))
		}
	}
}

func readRes(mem *flatMemory) time.Duration {
	b := mem.mem[sleepAddr-base:]
	return time.Duration(binary.LittleEndian.Uint64(b))*time.Second + time.Duration(binary.LittleEndian.Uint64(b[8:]))
}

// pendingHas says sig is pending on the process or on task.
func pendingHas(p *Process, task *Task, sig unix.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return (p.sig.pending|task.tsig.pending)&sigBit(sig) != 0
}

// TestCPUItimersFire: ITIMER_PROF and ITIMER_VIRTUAL fire as the process
// runs, with SI_KERNEL, and not while it sleeps.
func TestCPUItimersFire(t *testing.T) {
	for _, which := range []uint64{itimerProf, itimerVirtual} {
		p, mem, _ := newTestProcess(t)
		sig := itimerSignals[which]
		blockSignals(t, p, mem, sigBit(sig))
		stop := runOnThisThread(p)
		putTimePair(mem, itvAddr, 0, 0, 0, 100000) // 100ms of CPU, once
		if r := p.Syscall(unix.SYS_SETITIMER, [6]uint64{which, itvAddr, 0}); r != 0 {
			t.Fatalf("setitimer = %d", int64(r))
		}
		time.Sleep(300 * time.Millisecond)
		if pendingHas(p, p.main, sig) {
			t.Errorf("itimer %d fired while the process slept", which)
		}
		if !spinUntil(5*time.Second, func() bool { return pendingHas(p, p.main, sig) }) {
			t.Errorf("itimer %d did not fire in 5s of CPU", which)
		} else if info := takePending(t, p, nil, sig, time.Second); info.code != siKernel {
			t.Errorf("itimer %d: si_code %d", which, info.code)
		}
		stop()
		p.Close()
	}
}

// TestCPUTimerCreate: a timer_create timer on the thread's CPU clock,
// sent to the thread (Go's profiler's), fires as the thread runs with
// SI_TIMER.
func TestCPUTimerCreate(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	sig := unix.SIGPROF
	blockSignals(t, p, mem, sigBit(sig))
	defer runOnThisThread(p)()
	le := binary.LittleEndian
	ev := mem.mem[sigevAddr-base:]
	le.PutUint64(ev[0:], 77)
	le.PutUint32(ev[8:], uint32(sig))
	le.PutUint32(ev[12:], sigevSignal|sigevThreadID)
	le.PutUint32(ev[16:], 42)
	if r := p.Syscall(unix.SYS_TIMER_CREATE, [6]uint64{unix.CLOCK_THREAD_CPUTIME_ID, sigevAddr, timerIDAt}); r != 0 {
		t.Fatalf("timer_create = %d", int64(r))
	}
	id := uint64(le.Uint32(mem.mem[timerIDAt-base:]))
	putTimePair(mem, itvAddr, 0, 10e6, 0, 10e6)
	if r := p.Syscall(unix.SYS_TIMER_SETTIME, [6]uint64{id, 0, itvAddr, 0}); r != 0 {
		t.Fatalf("timer_settime = %d", int64(r))
	}
	if !spinUntil(5*time.Second, func() bool { return pendingHas(p, p.main, sig) }) {
		t.Fatal("no signal in 5s of CPU")
	}
	info := takePending(t, p, p.main, sig, time.Second)
	if info.code != siTimer || info.value != 77 {
		t.Errorf("siginfo %+v", info)
	}
}

// TestRlimitCPU: SIGXCPU at the soft limit, which then rises by a
// second, SIGKILL at the hard one.
func TestRlimitCPU(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	blockSignals(t, p, mem, sigBit(unix.SIGXCPU))
	defer runOnThisThread(p)()
	// The process is taken to have used 990ms already.
	p.mu.Lock()
	p.exitedCPU = 990 * time.Millisecond
	p.mu.Unlock()
	binary.LittleEndian.PutUint64(mem.mem[itvAddr-base:], 1)
	binary.LittleEndian.PutUint64(mem.mem[itvAddr-base+8:], 2)
	if r := p.Syscall(unix.SYS_SETRLIMIT, [6]uint64{unix.RLIMIT_CPU, itvAddr}); r != 0 {
		t.Fatalf("setrlimit = %d", int64(r))
	}
	if !spinUntil(5*time.Second, func() bool { return pendingHas(p, p.main, unix.SIGXCPU) }) {
		t.Fatal("no SIGXCPU")
	}
	p.Syscall(unix.SYS_GETRLIMIT, [6]uint64{unix.RLIMIT_CPU, itvAddr})
	if soft := binary.LittleEndian.Uint64(mem.mem[itvAddr-base:]); soft != 2 {
		t.Errorf("soft limit after SIGXCPU: %d, want 2", soft)
	}
	p.mu.Lock()
	p.exitedCPU = 1990 * time.Millisecond
	p.mu.Unlock()
	if !spinUntil(5*time.Second, func() bool { return pendingHas(p, p.main, unix.SIGKILL) }) {
		t.Fatal("no SIGKILL at the hard limit")
	}
	p.Syscall(unix.SYS_GETPID, [6]uint64{}) // takes it on the way out
	if sig, _, _ := p.Signaled(); sig != unix.SIGKILL {
		t.Errorf("killed by %v", sig)
	}
}

// TestCPUNanosleep: clock_nanosleep refuses the caller's own thread
// clock (EINVAL) and returns at once for an end its process clock has
// passed.
func TestCPUNanosleep(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	putTimePair(mem, sleepAddr, 0, 0, 0, 0) // a time every CPU clock has passed
	for _, tc := range []struct {
		id    int32
		flags uint64
		want  unix.Errno
	}{
		{threadCPUClockID(0, cpuClockSched), 0, unix.EINVAL},
		{threadCPUClockID(42, cpuClockSched), 0, unix.EINVAL},
		{unix.CLOCK_THREAD_CPUTIME_ID, 0, unix.EOPNOTSUPP},
		{unix.CLOCK_PROCESS_CPUTIME_ID, timerAbstime, 0},
		{^4242<<3 | cpuClockSched, timerAbstime, unix.EINVAL},
	} {
		r := p.Syscall(unix.SYS_CLOCK_NANOSLEEP, [6]uint64{uint64(uint32(tc.id)), tc.flags, sleepAddr, 0})
		if r != errno(tc.want) && !(tc.want == 0 && r == 0) {
			t.Errorf("clock_nanosleep(%d, %d) = %d, want %v", tc.id, tc.flags, int64(r), tc.want)
		}
	}
}

// TestCPUTimerPolledAtReturn: a CPU timer whose host timer is late (here
// never fires) fires as a thread returns to user mode past its time.
func TestCPUTimerPolledAtReturn(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	defer p.Close()
	blockSignals(t, p, mem, sigBit(unix.SIGPROF))
	defer runOnThisThread(p)()
	putTimePair(mem, itvAddr, 0, 0, 0, 20000) // 20ms of CPU, once
	if r := p.Syscall(unix.SYS_SETITIMER, [6]uint64{itimerProf, itvAddr, 0}); r != 0 {
		t.Fatalf("setitimer = %d", int64(r))
	}
	p.mu.Lock()
	tm := p.timers.itimers[itimerProf]
	tm.host.Stop() // the host timer never comes
	p.mu.Unlock()
	spinUntil(40*time.Millisecond, func() bool { return false })
	p.mu.Lock()
	late := !time.Now().Before(tm.pollAt)
	p.mu.Unlock()
	if !late {
		time.Sleep(30 * time.Millisecond) // the 20ms the host timer waits, and more
	}
	if pendingHas(p, p.main, unix.SIGPROF) {
		t.Fatal("SIGPROF pending before any return to user mode")
	}
	p.Syscall(unix.SYS_GETPID, [6]uint64{})
	if !pendingHas(p, p.main, unix.SIGPROF) {
		t.Error("no SIGPROF after a return to user mode past the timer's time")
	}
}
