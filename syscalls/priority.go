package syscalls

import "golang.org/x/sys/unix"

// getpriority and setpriority read and set threads' nice values, as
// Linux's kernel/sys.c: PRIO_PROCESS names one thread by its TID (0 the
// caller), PRIO_PGRP every thread of a process group (0 the caller's),
// PRIO_USER every thread of a user (0 the caller's; every guest thread is
// root's). mmvm schedules no thread by it; the value is kept, inherited
// and reported.

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
		pgid := int(who)
		if which == unix.PRIO_PGRP && who == 0 {
			pgid = t.family.pgid
		}
		if which == unix.PRIO_USER && who != 0 && who != guestID {
			return nil, 0
		}
		var out []*Task
		for _, p := range t.tree.procs {
			if which == unix.PRIO_PGRP && p.family.pgid != pgid {
				continue
			}
			for _, o := range p.tasks {
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
// -20..19 (root may lower it as well as raise it); ESRCH if none.
func sysSetpriority(t *Task, a *[6]uint64) uint64 {
	targets, e := t.priorityTargets(int32(a[0]), int32(a[1]))
	if e != 0 {
		return errno(e)
	}
	if len(targets) == 0 {
		return errno(unix.ESRCH)
	}
	nice := min(max(int32(a[2]), minNice), maxNice)
	for _, o := range targets {
		o.nice = nice
	}
	return 0
}
