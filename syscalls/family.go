package syscalls

import (
	"golang.org/x/sys/unix"
)

// The calls that read and change a process's place in the tree: its
// parent (getppid), process group (getpgid, getpgrp, setpgid) and session
// (getsid, setsid), with Linux's rules as kernel/sys.c has them.

// sysGetppid returns the parent's PID: 0 for the root, whose parent is
// outside the VM (as Linux answers in a pid namespace's init); the root's
// PID for an orphan it adopted.
func sysGetppid(t *Task, _ *[6]uint64) uint64 {
	if parent := t.family.parent; parent != nil {
		return uint64(parent.cfg.PID)
	}
	return 0
}

// processOf returns the process a pid_t argument names for getpgid,
// getsid and setpgid: the caller's for 0, else the process of the thread
// with that id (a zombie's main thread too, as Linux's find_task_by_vpid
// finds it); nil if none. p.mu must be held.
func (t *Task) processOf(pid int32) *Process {
	if pid == 0 {
		return t.Process
	}
	if pid < 0 {
		return nil
	}
	if o := t.tree.task(int(pid)); o != nil {
		return o.Process
	}
	return nil
}

// sysGetpgid returns the process group of a process (ESRCH if none).
func sysGetpgid(t *Task, a *[6]uint64) uint64 {
	p := t.processOf(int32(a[0]))
	if p == nil {
		return errno(unix.ESRCH)
	}
	return uint64(p.family.pgid)
}

// sysGetpgrp returns the caller's process group.
func sysGetpgrp(t *Task, _ *[6]uint64) uint64 { return uint64(t.family.pgid) }

// sysGetsid returns the session of a process (ESRCH if none): 0 for the
// session outside the VM the root starts in.
func sysGetsid(t *Task, a *[6]uint64) uint64 {
	p := t.processOf(int32(a[0]))
	if p == nil {
		return errno(unix.ESRCH)
	}
	return uint64(p.family.sid)
}

// sessionLeader says p leads its session (setsid made it): its session
// id is its PID.
func (p *Process) sessionLeader() bool { return p.family.sid == p.cfg.PID }

// sysSetpgid puts process pid (0: the caller) in process group pgid (0:
// its own PID), as Linux's setpgid: EINVAL for a negative pgid or a pid
// that names a thread other than a main one; ESRCH for a pid that is
// neither the caller nor a child of it; EPERM for a child in another
// session, for a session leader, or for a pgid that names no group of the
// caller's session (but the process's own PID); EACCES for a child that
// has exec'd since it was forked.
func sysSetpgid(t *Task, a *[6]uint64) uint64 {
	pid, pgid := int32(a[0]), int32(a[1])
	if pid == 0 {
		pid = int32(t.cfg.PID)
	}
	if pgid == 0 {
		pgid = pid
	}
	if pgid < 0 {
		return errno(unix.EINVAL)
	}
	if e := t.checkSetpgid(pid, pgid); e != 0 {
		return errno(e)
	}
	t.tree.task(int(pid)).family.pgid = int(pgid)
	return 0
}

// checkSetpgid is setpgid's checks, in Linux's order.
func (t *Task) checkSetpgid(pid, pgid int32) unix.Errno {
	target := t.tree.task(int(pid))
	if target == nil {
		return unix.ESRCH
	}
	p := target.Process
	if target != p.main {
		return unix.EINVAL
	}
	if p.family.parent == t.Process {
		if p.family.sid != t.family.sid {
			return unix.EPERM
		}
		if p.family.execed {
			return unix.EACCES
		}
	} else if p != t.Process {
		return unix.ESRCH
	}
	if p.sessionLeader() {
		return unix.EPERM
	}
	if pgid != pid && !t.groupInSession(int(pgid), t.family.sid) {
		return unix.EPERM
	}
	return 0
}

// groupInSession says a process of the tree (a zombie too) is in process
// group pgid and session sid. p.mu must be held.
func (t *Task) groupInSession(pgid, sid int) bool {
	for _, o := range t.tree.procs {
		if o.family.pgid == pgid && o.family.sid == sid {
			return true
		}
	}
	return false
}

// sysSetsid makes the caller the leader of a new session and of a new
// process group, both its PID, with no controlling terminal, and returns
// it; EPERM if it leads a
// session already or a process group of its PID exists (its own, or one
// whose leader is gone).
func sysSetsid(t *Task, _ *[6]uint64) uint64 {
	pid := t.cfg.PID
	if t.sessionLeader() {
		return errno(unix.EPERM)
	}
	for _, o := range t.tree.procs {
		if o.family.pgid == pid {
			return errno(unix.EPERM)
		}
	}
	t.family.sid, t.family.pgid, t.family.ctty = pid, pid, nil
	return uint64(pid)
}
