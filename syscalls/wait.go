package syscalls

import (
	"encoding/binary"
	"math"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// wait4(2) and waitid(2), as Linux's do_wait serves them: a process waits
// for its children (those any of its threads made, and the orphans given
// to the root), reaps one that ended and reports its status. mmvm never
// stops or continues a process, so WUNTRACED, WSTOPPED and WCONTINUED are
// accepted and never report.

// The wait options (linux/wait.h).
const (
	wNohang    = 0x1
	wUntraced  = 0x2 // WSTOPPED for waitid
	wExited    = 0x4
	wContinued = 0x8
	wNowait    = 0x0100_0000
	wNothread  = 0x2000_0000
	wAll       = 0x4000_0000
	wClone     = 0x8000_0000
)

// waitid's idtype_t values.
const (
	pAll   = 0
	pPID   = 1
	pPGID  = 2
	pPIDFD = 3
)

// waitFor is what a wait looks for: any child, the child of one PID, or
// the children in one process group; flags are the options (WEXITED
// implied for wait4).
type waitFor struct {
	anyChild bool
	pid      int
	byPgid   bool
	pgid     int
	flags    uint32
}

// waitReport is what a wait found: the child's PID (0: none yet, with
// WNOHANG), its status as wait4 encodes it, and its memory figures.
type waitReport struct {
	pid    int
	status int
	usage  Usage
	// uid is the child's real uid (its main thread's), siginfo's si_uid.
	uid uint32
}

// eligible says child c is one w waits for (Linux's eligible_child): by
// pid or process group, and, without __WALL, a child whose exit signal is
// SIGCHLD unless __WCLONE asks for the others.
func (w *waitFor) eligible(c *Process) bool {
	switch {
	case w.byPgid && c.family.pgid != w.pgid, !w.anyChild && !w.byPgid && c.cfg.PID != w.pid:
		return false
	}
	if w.flags&wAll != 0 {
		return true
	}
	return (c.family.exitSignal != unix.SIGCHLD) == (w.flags&wClone != 0)
}

// wait waits for a child w names to have ended, as Linux's do_wait: a
// zombie is reported (and reaped, unless WNOWAIT) when WEXITED is asked
// for; a live child keeps the wait going, or, with WNOHANG, makes it
// report nothing (pid 0). ECHILD when no child is eligible; ERESTARTSYS
// when a signal the thread does not block arrives (EINTR, or a restart
// under SA_RESTART); EINTR at the end of the thread or the run. The
// children are those of every thread of the caller's process, or with
// __WNOTHREAD the calling thread's alone (family.creator).
func (t *Task) wait(w *waitFor) (waitReport, unix.Errno) {
	for {
		rep, eligible := t.findWaitable(w)
		switch {
		case rep.pid != 0:
			return rep, 0
		case !eligible:
			return waitReport{}, unix.ECHILD
		case w.flags&wNohang != 0:
			return waitReport{}, 0
		}
		switch t.block(t.tree.childWaitChannel(), nil) {
		case wokeSignal:
			return waitReport{}, errRestartSys
		case wokeEnd:
			return waitReport{}, unix.EINTR
		}
	}
}

// findWaitable looks once through the children w names, oldest (lowest
// PID) first: the first zombie it may report is reported (and reaped,
// unless WNOWAIT); eligible says some child is one w waits for, ended or
// not. p.mu must be held.
func (t *Task) findWaitable(w *waitFor) (rep waitReport, eligible bool) {
	var children []*Process
	for _, c := range t.tree.procs {
		if c.family.parent == t.Process && (w.flags&wNothread == 0 || c.family.creator == t) && w.eligible(c) {
			children = append(children, c)
		}
	}
	sort.Slice(children, func(i, j int) bool { return children[i].cfg.PID < children[j].cfg.PID })
	for _, c := range children {
		if c.isZombie() {
			// Linux's wait_task_zombie: nothing to report without
			// WEXITED, and the child does not count as waited for.
			if w.flags&wExited == 0 {
				continue
			}
			rep = waitReport{pid: c.cfg.PID, status: c.waitStatus(), usage: c.withDescendants(), uid: c.main.cred.uid}
			if w.flags&wNowait == 0 {
				c.reapedBy(t.Process)
			}
			return rep, true
		}
		eligible = true
	}
	return waitReport{}, eligible
}

// sysWait4 serves wait4(pid, wstatus, options, rusage): pid -1 any child,
// >0 that child, 0 the caller's process group, < -1 that group. The
// status and then the rusage are written after the child is reaped, as
// Linux writes them: a pointer that faults makes the call EFAULT with the
// child gone.
func sysWait4(t *Task, a *[6]uint64) uint64 {
	upid, statusAddr, options, ruAddr := int32(a[0]), a[1], uint32(a[2]), a[3]
	if options&^(wNohang|wUntraced|wContinued|wNothread|wClone|wAll) != 0 {
		return errno(unix.EINVAL)
	}
	if upid == math.MinInt32 {
		return errno(unix.ESRCH)
	}
	w := waitFor{flags: options | wExited}
	switch {
	case upid == -1:
		w.anyChild = true
	case upid < 0:
		w.byPgid, w.pgid = true, int(-upid)
	case upid == 0:
		w.byPgid, w.pgid = true, t.family.pgid
	default:
		w.pid = int(upid)
	}
	rep, e := t.wait(&w)
	if e != 0 {
		return errno(e)
	}
	if rep.pid == 0 {
		return 0
	}
	if statusAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(rep.status))
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(statusAddr), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	if ruAddr != 0 {
		ru := rusageOf(rep.usage)
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(ruAddr), ru[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return uint64(rep.pid)
}

// rusageOf is the struct rusage of u: its CPU time as user time
// (ru_utime; ru_stime 0, see cputime.go), the peak RSS (ru_maxrss, KiB)
// and minor faults (ru_minflt); every other counter 0. wait4 and waitid
// report it for a reaped child (as measured at the end, counting the
// descendants it reaped: withDescendants), getrusage for the caller and
// the reaped children.
func rusageOf(u Usage) [rusageSize]byte {
	var b [rusageSize]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(u.CPU/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(u.CPU%time.Second/time.Microsecond))
	binary.LittleEndian.PutUint64(b[rusageMaxRSS:], u.PeakRSS>>10)
	binary.LittleEndian.PutUint64(b[rusageMinflt:], u.Faults)
	return b
}

// siginfo_t fields waitid writes (offsets in the 128-byte siginfo_t).
const (
	siginfoSigno  = 0
	siginfoErrno  = 4
	siginfoCode   = 8
	siginfoPID    = 16
	siginfoUID    = 20
	siginfoStatus = 24
)

// sysWaitid serves waitid(idtype, id, infop, options, rusage) as Linux's:
// the checks of kernel_waitid (EINVAL for unknown options, for none of
// WEXITED, WSTOPPED and WCONTINUED, for an unknown idtype, a P_PID id
// below 1 or a negative P_PGID or P_PIDFD one; EBADF for a P_PIDFD id
// that is not a pidfd, whose O_NONBLOCK adds WNOHANG), then the wait; then, for a child found, the
// rusage, and in every case where infop is given (an error and a WNOHANG
// that found nothing too) si_signo (SIGCHLD for a child found, else 0),
// si_errno, si_code, si_pid, si_uid and si_status, each written alone as
// Linux writes them: the rest of the siginfo_t is left as it was. It
// returns 0 or the error.
func sysWaitid(t *Task, a *[6]uint64) uint64 {
	rep, e := t.waitid(int32(a[0]), int32(a[1]), uint32(a[3]))
	var signo, code, status int32
	if rep.pid != 0 {
		signo = sigchld
		code, status = childCode(rep.status)
		if a[4] != 0 {
			ru := rusageOf(rep.usage)
			if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[4]), ru[:]); err != nil {
				return errno(unix.EFAULT)
			}
		}
	}
	if infop := a[2]; infop != 0 {
		if infop+siginfoSize < infop || infop+siginfoSize > uint64(arch.MaxUserAddr) {
			return errno(unix.EFAULT) // user_write_access_begin's range check
		}
		var head [siginfoStatus + 4]byte
		le := binary.LittleEndian
		le.PutUint32(head[siginfoSigno:], uint32(signo))
		le.PutUint32(head[siginfoCode:], uint32(code))
		le.PutUint32(head[siginfoPID:], uint32(rep.pid))
		le.PutUint32(head[siginfoUID:], rep.uid)
		le.PutUint32(head[siginfoStatus:], uint32(status))
		for _, part := range [][2]int{{siginfoSigno, siginfoCode + 4}, {siginfoPID, siginfoStatus + 4}} {
			if _, err := t.cfg.Memory.CopyOut(arch.Addr(infop+uint64(part[0])), head[part[0]:part[1]]); err != nil {
				return errno(unix.EFAULT)
			}
		}
	}
	return errno0(e)
}

// waitid is kernel_waitid's checks and wait.
func (t *Task) waitid(which, upid int32, options uint32) (waitReport, unix.Errno) {
	if options&^(wNohang|wNowait|wExited|wUntraced|wContinued|wNothread|wClone|wAll) != 0 ||
		options&(wExited|wUntraced|wContinued) == 0 {
		return waitReport{}, unix.EINVAL
	}
	w := waitFor{flags: options}
	switch which {
	case pAll:
		w.anyChild = true
	case pPID:
		if upid <= 0 {
			return waitReport{}, unix.EINVAL
		}
		w.pid = int(upid)
	case pPGID:
		if upid < 0 {
			return waitReport{}, unix.EINVAL
		}
		w.byPgid, w.pgid = true, int(upid)
		if upid == 0 {
			w.pgid = t.family.pgid
		}
	case pPIDFD:
		if upid < 0 {
			return waitReport{}, unix.EINVAL
		}
		pf, e := t.pidfdOf(uint64(upid), false)
		if e != 0 {
			return waitReport{}, e
		}
		w.pid = pf.task.tid
		if f, _ := t.file(uint64(upid)); f.flags&unix.O_NONBLOCK != 0 {
			w.flags |= wNohang
		}
	default:
		return waitReport{}, unix.EINVAL
	}
	return t.wait(&w)
}
