package syscalls

import (
	"golang.org/x/sys/unix"
)

// I/O priorities (ioprio_get, ioprio_set), as Linux 6.18's
// block/ioprio.c keeps them: each thread's value, a class (bits 13-15),
// a hint (bits 3-12) and a level (bits 0-2), inherited by its clones and
// forks. Nothing is scheduled by them. Every thread counts as one that
// has done I/O (an io_context): a group's or user's value reads a thread
// of class NONE by its scheduling policy and nice value.

// The ioprio classes and whose priority a call names.
const (
	ioprioClassNone  = 0
	ioprioClassRT    = 1
	ioprioClassBE    = 2
	ioprioClassIdle  = 3
	ioprioClassShift = 13
	ioprioNrLevels   = 8
	ioprioWhoProcess = 1
	ioprioWhoPgrp    = 2
	ioprioWhoUser    = 3
)

// ioprioCheck is ioprio_check_cap: EINVAL for an unknown class or a
// level given to class NONE, EPERM for the real-time class without
// CAP_SYS_NICE or CAP_SYS_ADMIN. Bits above the class are not looked at.
func (t *Task) ioprioCheck(ioprio int32) unix.Errno {
	level := ioprio & 7
	switch (ioprio >> ioprioClassShift) & 7 {
	case ioprioClassRT:
		if !t.cred.capable(unix.CAP_SYS_NICE) && !t.cred.capable(unix.CAP_SYS_ADMIN) {
			return unix.EPERM
		}
	case ioprioClassBE, ioprioClassIdle:
	case ioprioClassNone:
		if level != 0 {
			return unix.EINVAL
		}
	default:
		return unix.EINVAL
	}
	return 0
}

// setTaskIoprio is set_task_ioprio: EPERM unless o's real uid is the
// caller's effective or real one, or the caller holds CAP_SYS_NICE.
func (t *Task) setTaskIoprio(o *Task, ioprio int32) unix.Errno {
	if o.cred.uid != t.cred.euid && o.cred.uid != t.cred.uid && !t.cred.capable(unix.CAP_SYS_NICE) {
		return unix.EPERM
	}
	o.ioprio = uint16(ioprio)
	return 0
}

// effectiveIoprio is __get_task_ioprio: class NONE reads as the class of
// the thread's policy (idle, real-time or best-effort) at the level of
// its nice value.
func (o *Task) effectiveIoprio() uint16 {
	if o.ioprio>>ioprioClassShift != ioprioClassNone {
		return o.ioprio
	}
	class := uint16(ioprioClassBE)
	switch {
	case o.sched.policy == schedIdle:
		class = ioprioClassIdle
	case rtPolicy(o.sched.policy):
		class = ioprioClassRT
	}
	return class<<ioprioClassShift | uint16((o.nice+20)/5)
}

// ioprioTasks are the threads which and who name: a thread (0: the
// caller), a process group's threads (0: the caller's group) or a user's
// (by real uid). set says ioprio_set asks: its IOPRIO_WHO_USER 0 is root,
// where ioprio_get's is the caller's user. EINVAL for another which.
func (t *Task) ioprioTasks(which, who int32, set bool) ([]*Task, unix.Errno) {
	switch which {
	case ioprioWhoProcess:
		if who == 0 {
			return []*Task{t}, 0
		}
		if o := t.tree.task(int(who)); o != nil {
			return []*Task{o}, 0
		}
		return nil, 0
	case ioprioWhoPgrp:
		pgid := t.family.pgid
		if who != 0 {
			pgid = int(who)
		}
		var out []*Task
		for _, p := range t.tree.procs {
			if p.family.pgid == pgid && !p.ended.Load() {
				for _, o := range p.tasks {
					out = append(out, o)
				}
			}
		}
		return out, 0
	case ioprioWhoUser:
		uid := uint32(who)
		if who == 0 && !set {
			uid = t.cred.uid
		}
		var out []*Task
		for _, p := range t.tree.procs {
			if p.ended.Load() {
				continue
			}
			for _, o := range p.tasks {
				if o.cred.uid == uid {
					out = append(out, o)
				}
			}
		}
		return out, 0
	}
	return nil, unix.EINVAL
}

// sysIoprioSet checks the value first, then sets it on each thread
// named, stopping at the first that refuses; ESRCH where none is named.
func sysIoprioSet(t *Task, a *[6]uint64) uint64 {
	ioprio := int32(a[2])
	if e := t.ioprioCheck(ioprio); e != 0 {
		return errno(e)
	}
	tasks, e := t.ioprioTasks(int32(a[0]), int32(a[1]), true)
	if e != 0 {
		return errno(e)
	}
	if len(tasks) == 0 {
		return errno(unix.ESRCH)
	}
	for _, o := range tasks {
		if e := t.setTaskIoprio(o, ioprio); e != 0 {
			return errno(e)
		}
	}
	return 0
}

// sysIoprioGet reads a thread's value as set; for a group or user, the
// best (lowest) effective value of its threads. ESRCH where none is
// named.
func sysIoprioGet(t *Task, a *[6]uint64) uint64 {
	which := int32(a[0])
	tasks, e := t.ioprioTasks(which, int32(a[1]), false)
	if e != 0 {
		return errno(e)
	}
	if len(tasks) == 0 {
		return errno(unix.ESRCH)
	}
	if which == ioprioWhoProcess {
		return uint64(tasks[0].ioprio)
	}
	best := tasks[0].effectiveIoprio()
	for _, o := range tasks[1:] {
		best = min(best, o.effectiveIoprio())
	}
	return uint64(best)
}
