package syscalls

import "golang.org/x/sys/unix"

// getpriority and setpriority read and set threads' nice values, as
// Linux's kernel/sys.c: PRIO_PROCESS names one thread by its TID (0 the
// caller), PRIO_PGRP every thread of a process group (0 the caller's),
// PRIO_USER every thread whose real uid is who (0 the caller's). A
// change needs the target's real or effective uid to be the caller's
// effective one or CAP_SYS_NICE (EPERM), and lowering the value
// RLIMIT_NICE or CAP_SYS_NICE (EACCES), as set_one_prio. mmvm schedules
// no thread by it; the value is kept, inherited and reported.

// Linux's bounds on nice values.
const (
	minNice = -20
	maxNice = 19
)

// hostNice is mmvm's own nice value, which the first program inherits as
// a child process would; 0 where the host does not tell.
func hostNice() int32 {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - int32(prio) // the system call's encoding, as sysGetpriority's
}

// priorityTargets are the threads which and who name; EINVAL for an
// unknown which.
func (t *Task) priorityTargets(which, who int32) ([]*Task, unix.Errno) {
	switch which {
	case unix.PRIO_PROCESS:
		if who == 0 {
			return []*Task{t}, 0
		}
		if o := t.tree.task(int(who)); o != nil {
			return []*Task{o}, 0
		}
		return nil, 0
	case unix.PRIO_PGRP, unix.PRIO_USER:
		pgid, uid := int(who), uint32(who)
		if which == unix.PRIO_PGRP && who == 0 {
			pgid = t.family.pgid
		}
		if which == unix.PRIO_USER && who == 0 {
			uid = t.cred.uid
		}
		var out []*Task
		for _, p := range t.tree.procs {
			if which == unix.PRIO_PGRP && p.family.pgid != pgid {
				continue
			}
			for _, o := range p.tasks {
				if which == unix.PRIO_USER && o.cred.uid != uid {
					continue
				}
				out = append(out, o)
			}
		}
		return out, 0
	}
	return nil, unix.EINVAL
}

// sysGetpriority returns the highest priority among the threads named,
// as the system call encodes it: 20 - nice, from 40 (nice -20) to 1
// (nice 19); ESRCH if none.
func sysGetpriority(t *Task, a *[6]uint64) uint64 {
	targets, e := t.priorityTargets(int32(a[0]), int32(a[1]))
	if e != 0 {
		return errno(e)
	}
	if len(targets) == 0 {
		return errno(unix.ESRCH)
	}
	best := int32(0)
	for _, o := range targets {
		best = max(best, 20-o.nice)
	}
	return uint64(best)
}

// sysSetpriority sets the nice value of the threads named, clamped to
// -20..19, each that the caller may change (mayNice); ESRCH if none is
// named, else the last refusal, else 0, as Linux's loop of set_one_prio.
func sysSetpriority(t *Task, a *[6]uint64) uint64 {
	targets, e := t.priorityTargets(int32(a[0]), int32(a[1]))
	if e != 0 {
		return errno(e)
	}
	nice := min(max(int32(a[2]), minNice), maxNice)
	e = unix.ESRCH
	for _, o := range targets {
		if err := t.mayNice(o, nice); err != 0 {
			e = err
			continue
		}
		o.nice = nice
		if e == unix.ESRCH {
			e = 0
		}
	}
	return errno0(e)
}

// mayNice is set_one_prio's checks: EPERM unless the target's real or
// effective uid is the caller's effective one or the caller has
// CAP_SYS_NICE; EACCES for a lower value than the target's that
// RLIMIT_NICE (20 - nice) does not allow, without CAP_SYS_NICE.
func (t *Task) mayNice(o *Task, nice int32) unix.Errno {
	c, oc := &t.cred, &o.cred
	capNice := c.capable(unix.CAP_SYS_NICE)
	if oc.uid != c.euid && oc.euid != c.euid && !capNice {
		return unix.EPERM
	}
	if nice < o.nice && uint64(20-nice) > o.limit(unix.RLIMIT_NICE).Cur && !capNice {
		return unix.EACCES
	}
	return 0
}
