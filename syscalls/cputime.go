package syscalls

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CPU time. A thread's CPU time is the running time of the host thread
// that runs its vCPU, counted only while it runs the thread
// (StartCPUClock to StopCPUClock): the time the guest runs in guest mode
// and the time mmvm serves its exits, on the host's scheduler clock (its
// sum_exec_runtime, in nanoseconds). A call that waits (block) leaves
// the host thread asleep, so a sleep adds nothing, as on Linux. The
// process's CPU time is the sum of its live threads' and of those that
// exited (Process.exitedCPU). This one figure serves every reader:
// clock_gettime's CPU clocks, getrusage, times, the CPU timers
// (ITIMER_VIRTUAL, ITIMER_PROF, timer_create on a CPU clock) and
// RLIMIT_CPU. mmvm does not tell the guest's user time from its system
// time (serving an exit is both the host's user and system time), so
// the whole is reported as user time and the system time is 0: the
// CPUCLOCK_PROF, CPUCLOCK_VIRT and CPUCLOCK_SCHED clocks all read it.

// threadCPU is a thread's CPU clock. Its fields are guarded by mu, a
// leaf lock: it may be taken with Process.mu held or not.
type threadCPU struct {
	mu sync.Mutex
	// used is the CPU time of the runs that ended.
	used time.Duration
	// hostTID is the host thread running the thread now (0: none), and
	// start that host thread's CPU clock when the run began.
	hostTID int
	start   time.Duration
}

// StartCPUClock starts counting the calling host thread's CPU time as
// t's: the machine calls it on the host thread that is to run t's vCPU,
// bound to it (runtime.LockOSThread), before entering the guest, and
// StopCPUClock on the same thread when it stops running t.
func (t *Task) StartCPUClock() {
	c := &t.cpu
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hostTID, c.start = unix.Gettid(), ownThreadCPU()
}

// StopCPUClock stops counting the calling host thread's CPU time as t's.
func (t *Task) StopCPUClock() {
	c := &t.cpu
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hostTID == 0 {
		return
	}
	c.used += max(ownThreadCPU()-c.start, 0)
	c.hostTID = 0
}

// cpuTime is t's CPU time now.
func (t *Task) cpuTime() time.Duration {
	c := &t.cpu
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hostTID == 0 {
		return c.used
	}
	now, ok := hostThreadCPU(c.hostTID)
	if !ok {
		return c.used
	}
	return c.used + max(now-c.start, 0)
}

// cpuTime is the process's CPU time now: that of its live threads and
// of those that exited; for an ended process, its CPU time at the end.
// p.mu must be held.
func (p *Process) cpuTime() time.Duration {
	if p.ended.Load() && p.family.finalSet {
		return p.family.final.CPU
	}
	sum := p.exitedCPU
	for _, t := range p.tasks {
		sum += t.cpuTime()
	}
	return sum
}

// threadLeft moves o's CPU time into the process's exited threads' as
// it leaves the live threads (Linux's __exit_signal adds it to
// sum_sched_runtime), so that the process's clock keeps counting it.
// p.mu must be held.
func (p *Process) threadLeft(o *Task) {
	p.exitedCPU += o.cpuTime()
}

// cpuRate is how many of the clock's threads may run at once: a CPU
// clock advances at most that many times as fast as the wall clock.
// p.mu must be held.
func (p *Process) cpuRate() int {
	return max(len(p.tasks), 1)
}

// ownThreadCPU is the calling host thread's CPU time.
func ownThreadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// hostThreadCPU is the CPU time of host thread tid of mmvm's process;
// ok false if there is no such thread any more.
func hostThreadCPU(tid int) (time.Duration, bool) {
	var ts unix.Timespec
	if unix.ClockGettime(threadCPUClockID(tid, cpuClockSched), &ts) != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// The CPU clocks' ids, as Linux encodes them (clock_getcpuclockid,
// pthread_getcpuclockid): ^pid << 3, a per-thread bit, and which of the
// process's or thread's clocks it reads.
const (
	cpuClockProf   = 0 // user and system time
	cpuClockVirt   = 1 // user time
	cpuClockSched  = 2 // the scheduler's running time
	cpuClockWhich  = 3 // the mask of which; 3 is no clock
	cpuClockThread = 4
)

// threadCPUClockID is the clock id of thread tid's clock which.
func threadCPUClockID(tid, which int) int32 {
	return int32(^tid<<3 | cpuClockThread | which)
}

// cpuClockOf finds the CPU clock id names, as Linux's pid_for_clock
// finds its owner: CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID
// the caller's process and thread; an encoded id with pid 0 the same; a
// thread clock a thread of the caller's process; a process clock a
// process of the VM named by its PID or, when gettime (clock_gettime
// alone), the caller by its TID. which is the id's clock (cpuClockProf,
// cpuClockVirt, cpuClockSched); ok false for anything else (EINVAL).
// p.mu must be held.
func (t *Task) cpuClockOf(id int32, gettime bool) (c cpuClock, which int, ok bool) {
	switch {
	case id == unix.CLOCK_PROCESS_CPUTIME_ID:
		return cpuClock{process: t.Process}, cpuClockSched, true
	case id == unix.CLOCK_THREAD_CPUTIME_ID:
		return cpuClock{thread: t}, cpuClockSched, true
	case id >= 0:
		return cpuClock{}, 0, false
	}
	which = int(id & cpuClockWhich)
	if which == cpuClockWhich {
		return cpuClock{}, 0, false
	}
	pid := int(^(id >> 3))
	if id&cpuClockThread != 0 {
		if pid == 0 {
			return cpuClock{thread: t}, which, true
		}
		o := t.tasks[pid]
		return cpuClock{thread: o}, which, o != nil
	}
	switch {
	case pid == 0:
		return cpuClock{process: t.Process}, which, true
	case gettime && pid == t.tid:
		return cpuClock{process: t.Process}, which, true
	}
	o := t.tree.procs[pid]
	return cpuClock{process: o}, which, o != nil
}

// cpuClock is a thread's CPU clock or a process's: one of the two is
// set.
type cpuClock struct {
	thread  *Task
	process *Process
}

// now reads the clock. p.mu must be held.
func (c cpuClock) now() time.Duration {
	if c.thread != nil {
		return c.thread.cpuTime()
	}
	return c.process.cpuTime()
}

// rate is how many times as fast as the wall clock the clock may
// advance. p.mu must be held.
func (c cpuClock) rate() int {
	if c.thread != nil {
		return 1
	}
	return c.process.cpuRate()
}

// stopped says the clock will never advance again: its thread exited,
// or its process ended. p.mu must be held.
func (c cpuClock) stopped() bool {
	if c.thread != nil {
		return c.thread.Exited()
	}
	return c.process.ended.Load()
}

// cpuClockResolution is clock_getres's answer for a CPU clock which, as
// the host's own: 1ns for the scheduler's clock, a tick for the others.
func cpuClockResolution(which int) unix.Timespec {
	var res unix.Timespec
	hostClock := int32(^0<<3 | which) // the host process's own clock which
	if unix.ClockGetres(hostClock, &res) != nil {
		res = unix.Timespec{Nsec: 1}
	}
	return res
}
