package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGetgroups: the guest's root user has no supplementary groups
// (busybox id failed with "can't get groups" on ENOSYS); a negative size
// is EINVAL, as Linux's.
func TestGetgroups(t *testing.T) {
	p, _, _ := newTestProcess(t)
	for _, c := range []struct {
		size uint64
		want int64
	}{{0, 0}, {64, 0}, {uint64(1<<32 - 1), neg64(unix.EINVAL)}} {
		if r := sc(p, unix.SYS_GETGROUPS, c.size, base); r != c.want {
			t.Errorf("getgroups(%d) = %d, want %d", int32(c.size), r, c.want)
		}
	}
}

// TestPriority: the first program's nice value is mmvm's own (getpriority
// answers as the host's does for the test), setpriority clamps to -20..19
// and a thread or process made afterwards inherits it; ESRCH for no
// thread, EINVAL for an unknown which, as Linux's.
func TestPriority(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	want, _, errno := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if r := tc(root, unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0); r != int64(want) {
		t.Errorf("getpriority(PRIO_PROCESS, 0) = %d, host %d", r, want)
	}
	for _, c := range []struct {
		set  int64
		want int64
	}{{5, 15}, {100, 1}, {-100, 40}, {-3, 23}} {
		if r := tc(root, unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, uint64(c.set)); r != 0 {
			t.Fatalf("setpriority(%d) = %d", c.set, r)
		}
		if r := tc(root, unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, uint64(root.cfg.PID)); r != c.want {
			t.Errorf("after setpriority(%d): getpriority = %d, want %d", c.set, r, c.want)
		}
	}
	child := h.fork(t, root)
	for _, which := range []uint64{unix.PRIO_PROCESS, unix.PRIO_PGRP, unix.PRIO_USER} {
		if r := tc(child, unix.SYS_GETPRIORITY, which, 0); r != 23 {
			t.Errorf("the child's getpriority(%d, 0) = %d, want its parent's 23", which, r)
		}
	}
	if r := tc(child, unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, 10); r != 0 {
		t.Fatal(r)
	}
	if r := tc(root, unix.SYS_GETPRIORITY, unix.PRIO_PGRP, 0); r != 23 {
		t.Errorf("getpriority(PRIO_PGRP) = %d, want the highest, 23", r)
	}
	for _, c := range []struct {
		which, who uint64
		want       int64
	}{{unix.PRIO_PROCESS, 99999, neg64(unix.ESRCH)}, {unix.PRIO_USER, 1000, neg64(unix.ESRCH)}, {7, 0, neg64(unix.EINVAL)}} {
		if r := tc(root, unix.SYS_GETPRIORITY, c.which, c.who); r != c.want {
			t.Errorf("getpriority(%d, %d) = %d, want %d", c.which, c.who, r, c.want)
		}
		if r := tc(root, unix.SYS_SETPRIORITY, c.which, c.who, 0); r != c.want {
			t.Errorf("setpriority(%d, %d) = %d, want %d", c.which, c.who, r, c.want)
		}
	}
}

// TestSetrlimit: setrlimit and prlimit64 change a process's limits as
// Linux's do_prlimit lets root (bash's ulimit -c 0 was EPERM): lowered or
// raised, inherited by a fork's child and changed there alone, the new
// RLIMIT_NOFILE bounding the fds; with Linux's errors in its order.
// A hard limit raised without CAP_SYS_RESOURCE is EPERM.
func TestSetrlimit(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	// putIn writes a struct rlimit into task's memory, put into the root's.
	putIn := func(task *Task, cur, max uint64) uint64 {
		mem := memOf(task.Process)
		binary.LittleEndian.PutUint64(mem.mem[bufAddr-base:], cur)
		binary.LittleEndian.PutUint64(mem.mem[bufAddr-base+8:], max)
		return bufAddr
	}
	put := func(cur, max uint64) uint64 { return putIn(root, cur, max) }
	get := func(task *Task, res uint64) Limit {
		t.Helper()
		if r := tc(task, unix.SYS_GETRLIMIT, res, bufAddr+16); r != 0 {
			t.Fatalf("getrlimit(%d) = %d", res, r)
		}
		b := memOf(task.Process).mem[bufAddr-base+16:]
		return Limit{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
	}
	if r := tc(root, unix.SYS_SETRLIMIT, unix.RLIMIT_CORE, put(0, 1<<20)); r != 0 {
		t.Fatalf("setrlimit(RLIMIT_CORE) = %d", r)
	}
	if l := get(root, unix.RLIMIT_CORE); l != (Limit{0, 1 << 20}) {
		t.Errorf("RLIMIT_CORE after setrlimit: %+v", l)
	}
	if r := tc(root, unix.SYS_SETRLIMIT, unix.RLIMIT_CORE, put(0, 2<<20)); r != 0 {
		t.Errorf("raising a hard limit as root = %d", r)
	}
	child := h.fork(t, root)
	if l := get(child, unix.RLIMIT_CORE); l != (Limit{0, 2 << 20}) {
		t.Errorf("the child's RLIMIT_CORE: %+v, want its parent's", l)
	}
	if r := tc(child, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_CORE, putIn(child, 5, 5), 0); r != 0 {
		t.Fatal(r)
	}
	if l := get(root, unix.RLIMIT_CORE); l != (Limit{0, 2 << 20}) {
		t.Errorf("the child's prlimit64 changed its parent's: %+v", l)
	}
	// RLIMIT_NOFILE 3: fds 0 to 2 only.
	if r := tc(root, unix.SYS_SETRLIMIT, unix.RLIMIT_NOFILE, put(3, 3)); r != 0 {
		t.Fatal(r)
	}
	if r := tc(root, unix.SYS_DUP2, 0, 5); r != neg64(unix.EBADF) {
		t.Errorf("dup2 past RLIMIT_NOFILE = %d, want EBADF", r)
	}
	for _, c := range []struct {
		name          string
		pid, res      uint64
		cur, max, new uint64 // new: the new limits' address, else put(cur, max)
		want          int64
	}{
		{"unreadable new limits before ESRCH", 99999, unix.RLIMIT_CORE, 0, 0, 0x1000, neg64(unix.EFAULT)},
		{"no such process", 99999, unix.RLIMIT_CORE, 0, 0, 0, neg64(unix.ESRCH)},
		{"no such resource", 0, rlimNLimits, 0, 0, 0, neg64(unix.EINVAL)},
		{"soft above hard", 0, unix.RLIMIT_CORE, 2, 1, 0, neg64(unix.EINVAL)},
		{"RLIMIT_NOFILE above nr_open", 0, unix.RLIMIT_NOFILE, 8, nrOpen + 1, 0, neg64(unix.EPERM)},
	} {
		addr := c.new
		if addr == 0 {
			addr = put(c.cur, c.max)
		}
		if r := tc(root, unix.SYS_PRLIMIT64, c.pid, c.res, addr, 0); r != c.want {
			t.Errorf("prlimit64, %s: %d, want %d", c.name, r, c.want)
		}
	}
}
