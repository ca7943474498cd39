package syscalls

import (
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
