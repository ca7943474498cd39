package syscalls

import (
	"golang.org/x/sys/unix"
)

// getpriority and setpriority keep each process's nice value as Linux's
// do, for processes, process groups and users (every process of the VM
// is the guest's root user's); mmvm's scheduling does not follow it.

// priorityTargets are the processes which and who name, as Linux's
// getpriority and setpriority find them: EINVAL for an unknown which;
// none found is the caller's ESRCH. Zombies count, as Linux finds them
// until they are reaped. A PRIO_PROCESS who is a process's PID or a
// thread's TID (Linux's nice is per thread; mmvm keeps one per process).
// The tree lock must be held.
func (t *Task) priorityTargets(which, who int) ([]*Process, unix.Errno) {
	var out []*Process
	switch which {
	case unix.PRIO_PROCESS:
		if who == 0 {
			return []*Process{t.Process}, 0
		}
		if o := t.tree.task(who); o != nil {
			out = append(out, o.Process)
		}
	case unix.PRIO_PGRP:
		if who == 0 {
			who = t.family.pgid
		}
		for _, p := range t.tree.procs {
			if p.family.pgid == who {
				out = append(out, p)
			}
		}
	case unix.PRIO_USER:
		if who != 0 && who != guestID {
			return nil, 0
		}
		for _, p := range t.tree.procs {
			out = append(out, p)
		}
	default:
		return nil, unix.EINVAL
	}
	return out, 0
}

// sysGetpriority returns 20 - nice of the highest priority (lowest nice)
// among the targets, the raw call's encoding, which libc turns back into
// a nice value.
func sysGetpriority(t *Task, a *[6]uint64) uint64 {
	ps, e := t.priorityTargets(int(int32(a[0])), int(int32(a[1])))
	if e != 0 {
		return errno(e)
	}
	if len(ps) == 0 {
		return errno(unix.ESRCH)
	}
	best := 19
	for _, p := range ps {
		best = min(best, p.family.nice)
	}
	return uint64(20 - best)
}

// sysSetpriority sets the nice value, clamped to [-20, 19], of every
// target; the guest's root user may lower it.
func sysSetpriority(t *Task, a *[6]uint64) uint64 {
	nice := min(max(int(int32(a[2])), -20), 19)
	ps, e := t.priorityTargets(int(int32(a[0])), int(int32(a[1])))
	if e != 0 {
		return errno(e)
	}
	if len(ps) == 0 {
		return errno(unix.ESRCH)
	}
	for _, p := range ps {
		p.family.nice = nice
	}
	return 0
}
