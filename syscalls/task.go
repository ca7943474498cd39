package syscalls

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

func cryptoRandom(b []byte) { _, _ = rand.Read(b) }

// sysExit ends the calling thread (exit(2)); the program ends when its
// last thread does (thread.go).
func sysExit(t *Task, a *[6]uint64) uint64 {
	t.exitThread(int(a[0] & 0xff))
	return 0
}

// sysExitGroup ends the program, every thread of it.
func sysExitGroup(t *Task, a *[6]uint64) uint64 {
	t.exitGroup(int(a[0] & 0xff))
	return 0
}

const (
	archSetFS = 0x1002
	archGetFS = 0x1003
	archSetGS = 0x1001
	archGetGS = 0x1004
)

func sysArchPrctl(t *Task, a *[6]uint64) uint64 {
	switch a[0] {
	case archSetFS:
		if !arch.Addr(a[1]).IsCanonical() || arch.Addr(a[1]) >= arch.MaxUserAddr {
			return errno(unix.EPERM) // Linux refuses bases outside the user half
		}
		t.fsBase, t.fsBaseDirty = a[1], true
		return 0
	case archGetFS:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], t.fsBase)
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[1]), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		return 0
	case archSetGS, archGetGS:
		return errno(unix.EINVAL) // mmvm keeps GS for itself
	}
	return errno(unix.EINVAL)
}

func sysSetTIDAddress(t *Task, a *[6]uint64) uint64 {
	t.clearChildTID = a[0]
	return uint64(t.tid)
}

// robustListHeadSize is sizeof(struct robust_list_head), the only length
// set_robust_list takes.
const robustListHeadSize = 24

// sysSetRobustList records the thread's robust-futex list head, which
// get_robust_list reports and the thread's exit walks (exitRobustList).
func sysSetRobustList(t *Task, a *[6]uint64) uint64 {
	if a[1] != robustListHeadSize {
		return errno(unix.EINVAL)
	}
	t.robustList = a[0]
	return 0
}

// sysGetRobustList reports the robust list head of a thread: the caller
// (pid 0) or the live thread of that TID (ESRCH for any other), the
// length, then the head, as Linux writes them.
func sysGetRobustList(t *Task, a *[6]uint64) uint64 {
	target := t
	if pid := int32(a[0]); pid != 0 {
		if target = t.tasks[int(pid)]; target == nil {
			return errno(unix.ESRCH)
		}
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], robustListHeadSize)
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[2]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	binary.LittleEndian.PutUint64(b[:], target.robustList)
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[1]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

func sysGetpid(t *Task, _ *[6]uint64) uint64 { return uint64(t.cfg.PID) }

func sysGettid(t *Task, _ *[6]uint64) uint64 { return uint64(t.tid) }

// utsField is the size of each struct utsname field.
const utsField = 65

// Uname is what uname reports, struct utsname's six fields in order:
// sysname, nodename, release, version, machine, domainname.
type Uname [6]string

// HostUname is this machine's uname, what a program run natively here
// sees, which the guest sees too unless Config.Uname says otherwise.
var HostUname = sync.OnceValue(func() Uname {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return Uname{"Linux", "(none)", "", "", "x86_64", "(none)"}
	}
	var out Uname
	for i, f := range [][65]byte{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname} {
		out[i] = unix.ByteSliceToString(f[:])
	}
	return out
})

// sysUname reports Config.Uname, else the host's: a program sees the
// system it runs on named as it is natively.
func sysUname(t *Task, a *[6]uint64) uint64 {
	names := personaUname(t.uname(), t.persona)
	var u [6 * utsField]byte
	for i, s := range names {
		copy(u[i*utsField:(i+1)*utsField-1], s) // each NUL-terminated
	}
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[0]), u[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

func putTimespec(t *Task, addr uint64, sec, nsec int64) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(nsec))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// sysClockGettime reads clock a[0], a clockid_t: an int, so only the low 32
// bits count, as on Linux. The CPU clocks (CLOCK_PROCESS_CPUTIME_ID,
// CLOCK_THREAD_CPUTIME_ID and the ids clock_getcpuclockid and
// pthread_getcpuclockid make) read the CPU time of cputime.go, which the
// vDSO leaves to this call, as Linux's does.
func sysClockGettime(t *Task, a *[6]uint64) uint64 {
	id := int32(a[0])
	if t.cfg.ClockNanos != nil && id >= 0 {
		if ns, ok := t.cfg.ClockNanos(int(id)); ok {
			return putTimespec(t, a[1], ns/1e9, ns%1e9)
		}
	}
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_COARSE:
		now := t.cfg.Now()
		return putTimespec(t, a[1], now.Unix(), int64(now.Nanosecond()))
	case unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_MONOTONIC_RAW,
		unix.CLOCK_BOOTTIME:
		d := t.cfg.Monotonic()
		return putTimespec(t, a[1], int64(d/time.Second), int64(d%time.Second))
	}
	c, _, ok := t.cpuClockOf(id, true)
	if !ok {
		return errno(unix.EINVAL)
	}
	d := c.now()
	return putTimespec(t, a[1], int64(d/time.Second), int64(d%time.Second))
}

// sysClockGetres reports the host's resolution of each clock mmvm serves
// (the guest reads the host's clocks), EINVAL for any other; a null res
// only checks the clock.
func sysClockGetres(t *Task, a *[6]uint64) uint64 {
	var res unix.Timespec
	switch id := int32(a[0]); id {
	case unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_COARSE,
		unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_MONOTONIC_RAW,
		unix.CLOCK_BOOTTIME:
		if err := unix.ClockGetres(id, &res); err != nil {
			res = unix.Timespec{Nsec: 1}
		}
	default:
		_, which, ok := t.cpuClockOf(id, false)
		if !ok {
			return errno(unix.EINVAL)
		}
		res = cpuClockResolution(which)
	}
	if a[1] == 0 {
		return 0
	}
	return putTimespec(t, a[1], res.Sec, res.Nsec)
}

func sysGettimeofday(t *Task, a *[6]uint64) uint64 {
	if a[0] != 0 {
		now := t.cfg.Now()
		if r := putTimespec(t, a[0], now.Unix(), int64(now.Nanosecond()/1000)); r != 0 {
			return r
		}
	}
	if a[1] != 0 {
		var tz [8]byte // UTC: minuteswest 0, dsttime 0
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[1]), tz[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return 0
}

func sysTime(t *Task, a *[6]uint64) uint64 {
	now := t.cfg.Now().Unix()
	if a[0] != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(now))
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[0]), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return uint64(now)
}

// maxRandom bounds one getrandom call, as Linux does (33554431 bytes).
const maxRandom = 1<<25 - 1

func sysGetrandom(t *Task, a *[6]uint64) uint64 {
	if a[2]&^(unix.GRND_NONBLOCK|unix.GRND_RANDOM|unix.GRND_INSECURE) != 0 {
		return errno(unix.EINVAL)
	}
	n := min(a[1], maxRandom)
	var done uint64
	buf := make([]byte, min(n, ioChunk))
	for done < n {
		c := min(n-done, ioChunk)
		t.cfg.Random(buf[:c])
		got, err := t.cfg.Memory.CopyOut(arch.Addr(a[0]+done), buf[:c])
		done += uint64(got)
		if err != nil {
			if done == 0 {
				return errno(unix.EFAULT)
			}
			break
		}
	}
	return done
}

// sigsetSize is the kernel's sigset_t size, which rt_sig* calls must pass.
const sigsetSize = 8

// sigactionSize is sizeof(struct sigaction) as the kernel sees it on x86-64.
const sigactionSize = 32

// unblockable are SIGKILL and SIGSTOP as sigset_t bits: no mask holds them.
const unblockable = 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)

// sigactionMaskOffset is where sa_mask lies in the kernel's struct
// sigaction (after sa_handler, sa_flags and sa_restorer).
const sigactionMaskOffset = 24

// sysRtSigaction follows Linux's order: read the new action, validate,
// install it (its mask without SIGKILL and SIGSTOP), then write the old
// one, so that one buffer may serve as both.
func sysRtSigaction(t *Task, a *[6]uint64) uint64 {
	sig, actAddr, oldAddr := int(a[0]), a[1], a[2]
	if a[3] != sigsetSize {
		return errno(unix.EINVAL)
	}
	var act []byte
	if actAddr != 0 {
		act = make([]byte, sigactionSize)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(actAddr), act); err != nil {
			return errno(unix.EFAULT)
		}
	}
	if sig < 1 || sig > 64 || ((sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP)) && act != nil) {
		return errno(unix.EINVAL)
	}
	old := t.sigactions[sig]
	if act != nil {
		mask := binary.LittleEndian.Uint64(act[sigactionMaskOffset:])
		binary.LittleEndian.PutUint64(act[sigactionMaskOffset:], mask&^unblockable)
		t.sigactions[sig] = act
	}
	if oldAddr != 0 {
		if old == nil {
			old = make([]byte, sigactionSize)
		}
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(oldAddr), old); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return 0
}

// sysRtSigprocmask follows Linux's order: read the new set, validate how,
// change the mask, then write the old mask, so that one buffer may serve
// as both and a bad how writes nothing.
func sysRtSigprocmask(t *Task, a *[6]uint64) uint64 {
	how, set, oldset := a[0], a[1], a[2]
	if a[3] != sigsetSize {
		return errno(unix.EINVAL)
	}
	old := t.sigmask
	var b [8]byte
	if set != 0 {
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(set), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		m := binary.LittleEndian.Uint64(b[:]) &^ unblockable
		switch how {
		case unix.SIG_BLOCK:
			t.sigmask |= m
		case unix.SIG_UNBLOCK:
			t.sigmask &^= m
		case unix.SIG_SETMASK:
			t.sigmask = m
		default:
			return errno(unix.EINVAL)
		}
		if t.sigmask&^old&t.sig.pending != 0 {
			// A process-directed signal this thread may have been
			// woken for is now blocked here: another thread takes
			// it (Linux's retarget_shared_pending).
			t.retargetSignals()
		}
	}
	if oldset != 0 {
		binary.LittleEndian.PutUint64(b[:], old)
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(oldset), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return 0
}

const rlimInfinity = ^uint64(0)

func (p *Process) limit(res int) Limit {
	if l, ok := p.limits[res]; ok {
		return l
	}
	if l, ok := p.cfg.Limits[res]; ok {
		return l
	}
	return Limit{rlimInfinity, rlimInfinity}
}

func (p *Process) putLimit(addr uint64, l Limit) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], l.Cur)
	binary.LittleEndian.PutUint64(b[8:], l.Max)
	if _, err := p.cfg.Memory.CopyOut(arch.Addr(addr), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// rlimNLimits is RLIM_NLIMITS on Linux.
const rlimNLimits = 16

func sysGetrlimit(t *Task, a *[6]uint64) uint64 {
	if a[0] >= rlimNLimits {
		return errno(unix.EINVAL)
	}
	return t.putLimit(a[1], t.limit(int(a[0])))
}

// sysPrlimit64 reads and sets the limits of a process of the VM (pid 0
// the caller's, else that of the thread of id pid), as Linux's prlimit64
// and do_prlimit for a root caller, in their order: the new limits read
// (EFAULT), the process found (ESRCH), the resource checked (EINVAL), a
// soft limit above its hard one EINVAL, an RLIMIT_NOFILE above nr_open
// EPERM; any other change is allowed, raising included; then the old
// limits written (EFAULT, the change made). A raised hard limit wants
// CAP_SYS_RESOURCE (EPERM). The memory limits (RLIMIT_AS, RLIMIT_DATA,
// RLIMIT_MEMLOCK and RLIMIT_STACK) go to mm at once (memoryLimitsChanged).
func sysPrlimit64(t *Task, a *[6]uint64) uint64 {
	pid, res, newLim, oldLim := a[0], a[1], a[2], a[3]
	var l Limit
	if newLim != 0 {
		var b [16]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(newLim), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		l = Limit{Cur: binary.LittleEndian.Uint64(b[:]), Max: binary.LittleEndian.Uint64(b[8:])}
	}
	target := t.processOf(int32(pid))
	if target == nil {
		return errno(unix.ESRCH)
	}
	if res >= rlimNLimits {
		return errno(unix.EINVAL)
	}
	old := target.limit(int(res))
	if newLim != 0 {
		if e := target.checkNewLimit(int(res), l); e != 0 {
			return errno(e)
		}
		if l.Max > old.Max && !t.cred.capable(unix.CAP_SYS_RESOURCE) {
			return errno(unix.EPERM)
		}
		if target.limits == nil {
			target.limits = make(map[int]Limit)
		}
		target.limits[int(res)] = l
		if res == unix.RLIMIT_CPU {
			target.armCPULimit()
		}
		target.memoryLimitsChanged()
	}
	if oldLim != 0 {
		return t.putLimit(oldLim, old)
	}
	return 0
}

// sysSetrlimit sets the caller's limit, as prlimit64 of pid 0 without
// the old value.
func sysSetrlimit(t *Task, a *[6]uint64) uint64 {
	return sysPrlimit64(t, &[6]uint64{0, a[0], a[1], 0})
}

// checkNewLimit checks new limit l for res as do_prlimit does: EINVAL for
// a soft limit above the hard one, EPERM for RLIMIT_NOFILE above nr_open.
func (p *Process) checkNewLimit(res int, l Limit) unix.Errno {
	if l.Cur > l.Max {
		return unix.EINVAL
	}
	if res == unix.RLIMIT_NOFILE && l.Max > nrOpen {
		return unix.EPERM
	}
	return 0
}

// memoryLimits are the limits mm enforces.
var memoryLimits = []int{unix.RLIMIT_AS, unix.RLIMIT_DATA, unix.RLIMIT_MEMLOCK, unix.RLIMIT_STACK}

// memoryLimitsChanged gives mm the process's memory limits: after
// setrlimit and prlimit64, and after an exec, whose new memory starts
// with the machine's.
func (p *Process) memoryLimitsChanged() {
	if p.cfg.Calls == nil {
		return
	}
	for _, res := range memoryLimits {
		p.cfg.Calls.SetMemoryLimit(res, p.limit(res).Cur)
	}
}

// readTimespec reads a struct timespec and checks it as Linux's
// timespec64_valid does.
func (p *Process) readTimespec(addr uint64) (time.Duration, unix.Errno) {
	var b [16]byte
	if _, err := p.cfg.Memory.CopyIn(arch.Addr(addr), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	sec := int64(binary.LittleEndian.Uint64(b[:]))
	nsec := int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	if sec >= int64(math.MaxInt64/time.Second) {
		return math.MaxInt64, 0
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec), 0
}

// sleepFor sleeps d; interrupted (the run's context ended, as a signal
// would interrupt it), it writes the time left at rem when rem is not 0,
// and returns EINTR.
func (t *Task) sleepFor(d time.Duration, rem uint64) uint64 {
	left, e := t.sleep(d)
	if e == 0 {
		return 0
	}
	if rem != 0 {
		if r := putTimespec(t, rem, int64(left/time.Second), int64(left%time.Second)); r != 0 {
			return r
		}
	}
	return errno(e)
}

// sysNanosleep sleeps on the host; the run's context (its deadline, or a
// stop from another goroutine) interrupts it with EINTR, as a signal would.
func sysNanosleep(t *Task, a *[6]uint64) uint64 {
	d, e := t.readTimespec(a[0])
	if e != 0 {
		return errno(e)
	}
	return t.sleepFor(d, a[1])
}
