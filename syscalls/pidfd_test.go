package syscalls

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPidfdLifecycle: a pidfd of a child as Linux 6.18 answers for it:
// not readable while the child lives; a poll waiting for it is woken by
// the child's exit (another thread's call) and sees EPOLLIN; once waitid
// P_PIDFD reaped it, EPOLLHUP too, and the calls that need the process
// are ESRCH. Before, pidfd_open was ENOSYS and waitid P_PIDFD EBADF.
func TestPidfdLifecycle(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	child := h.fork(t, root)
	fd := tc(root, unix.SYS_PIDFD_OPEN, uint64(child.cfg.PID), 0)
	if fd < 0 {
		t.Fatalf("pidfd_open = %d", fd)
	}
	if r := tc(root, unix.SYS_FCNTL, uint64(fd), unix.F_GETFD); r != unix.FD_CLOEXEC {
		t.Errorf("F_GETFD = %d, want FD_CLOEXEC", r)
	}
	pollfd := uint64(bufAddr)
	revents := func() uint16 { return binary.LittleEndian.Uint16(h.mem.mem[pollfd-base+6:]) }
	putWord(h.mem, pollfd, uint32(fd))
	putWord(h.mem, pollfd+4, unix.POLLIN)
	if r := tc(root, unix.SYS_POLL, pollfd, 1, 0); r != 0 {
		t.Errorf("poll of a live child's pidfd = %d, want 0", r)
	}
	done := make(chan int64)
	go func() { done <- tc(root, unix.SYS_POLL, pollfd, 1, 10000) }()
	time.Sleep(20 * time.Millisecond)
	tc(child, unix.SYS_EXIT_GROUP, 7)
	select {
	case r := <-done:
		if r != 1 || revents() != unix.POLLIN {
			t.Errorf("poll after the exit = %d, revents %#x, want 1, POLLIN", r, revents())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the child's exit did not wake the poll of its pidfd")
	}
	if r := tc(root, unix.SYS_PIDFD_GETFD, uint64(fd), 1, 0); r != neg64(unix.ESRCH) {
		t.Errorf("pidfd_getfd of a zombie = %d, want ESRCH", r)
	}
	if r := tc(root, unix.SYS_PIDFD_SEND_SIGNAL, uint64(fd), 0, 0, 0); r != 0 {
		t.Errorf("pidfd_send_signal(zombie, 0) = %d, want 0", r)
	}
	if r := tc(root, unix.SYS_WAITID, 3 /* P_PIDFD */, uint64(fd), bufAddr+0x100, unix.WEXITED); r != 0 {
		t.Fatalf("waitid(P_PIDFD) = %d", r)
	}
	if pid := binary.LittleEndian.Uint32(h.mem.mem[bufAddr+0x100-base+16:]); int(pid) != child.cfg.PID {
		t.Errorf("waitid(P_PIDFD) reaped %d, want %d", pid, child.cfg.PID)
	}
	if r := tc(root, unix.SYS_POLL, pollfd, 1, 0); r != 1 || revents() != unix.POLLIN|unix.POLLHUP {
		t.Errorf("poll of a reaped child's pidfd = %d, revents %#x, want POLLIN|POLLHUP", r, revents())
	}
	for _, c := range []struct {
		name string
		nr   uint64
		args []uint64
	}{
		{"pidfd_send_signal", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{uint64(fd), 0, 0, 0}},
		{"process_mrelease", unix.SYS_PROCESS_MRELEASE, []uint64{uint64(fd), 0}},
		{"pidfd_getfd", unix.SYS_PIDFD_GETFD, []uint64{uint64(fd), 1, 0}},
	} {
		if r := tc(root, c.nr, c.args...); r != neg64(unix.ESRCH) {
			t.Errorf("%s of a reaped child = %d, want ESRCH", c.name, r)
		}
	}
	if r := tc(root, unix.SYS_PIDFD_OPEN, uint64(child.cfg.PID), 0); r != neg64(unix.ESRCH) {
		t.Errorf("pidfd_open of a reaped pid = %d, want ESRCH", r)
	}
}

// TestPidfdSelf: what Linux 6.18 gives the caller's own pidfd and the
// PIDFD_SELF_* sentinels: process_madvise of any advice madvise takes
// (here MADV_DONTNEED; vlen 0 is 0), process_mrelease EINVAL (the
// process is not exiting), pidfd_getfd not taking the sentinels (EBADF),
// a nonblocking pidfd making waitid WNOHANG.
func TestPidfdSelf(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	rec := &madviseRecorder{}
	h.root.cfg.Calls = rec
	fd := tc(root, unix.SYS_PIDFD_OPEN, uint64(root.cfg.PID), unix.O_NONBLOCK)
	if fd < 0 {
		t.Fatalf("pidfd_open(self) = %d", fd)
	}
	iov := uint64(bufAddr)
	// The sentinels as an int argument: their 32 bits.
	thread, group := int32(pidfdSelfThread), int32(pidfdSelfThreadGroup)
	selfThread, selfGroup := uint64(uint32(thread)), uint64(uint32(group))
	binary.LittleEndian.PutUint64(h.mem.mem[iov-base:], bufAddr+0x1000)
	binary.LittleEndian.PutUint64(h.mem.mem[iov-base+8:], 100)
	for _, c := range []struct {
		name string
		nr   uint64
		args []uint64
		want int64
	}{
		{"process_madvise(self, MADV_DONTNEED)", unix.SYS_PROCESS_MADVISE, []uint64{uint64(fd), iov, 1, unix.MADV_DONTNEED, 0}, 100},
		{"process_madvise(vlen 0)", unix.SYS_PROCESS_MADVISE, []uint64{uint64(fd), iov, 0, 12345, 0}, 0},
		{"process_madvise(PIDFD_SELF_THREAD_GROUP)", unix.SYS_PROCESS_MADVISE, []uint64{selfGroup, iov, 1, unix.MADV_COLD, 0}, 100},
		{"process_madvise(flags)", unix.SYS_PROCESS_MADVISE, []uint64{uint64(fd), iov, 1, unix.MADV_COLD, 1}, neg64(unix.EINVAL)},
		{"process_mrelease(self)", unix.SYS_PROCESS_MRELEASE, []uint64{uint64(fd), 0}, neg64(unix.EINVAL)},
		{"process_mrelease(PIDFD_SELF_THREAD)", unix.SYS_PROCESS_MRELEASE, []uint64{selfThread, 0}, neg64(unix.EINVAL)},
		{"process_mrelease(stdout)", unix.SYS_PROCESS_MRELEASE, []uint64{1, 0}, neg64(unix.EBADF)},
		{"pidfd_send_signal(PIDFD_SELF_THREAD_GROUP, 0)", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{selfGroup, 0, 0, 0}, 0},
		{"pidfd_send_signal(-20000, 0)", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{uint64(uint32(0xffffb1e0)), 0, 0, 0}, neg64(unix.EBADF)},
		{"pidfd_getfd(PIDFD_SELF_THREAD_GROUP)", unix.SYS_PIDFD_GETFD, []uint64{selfGroup, 1, 0}, neg64(unix.EBADF)},
		{"pidfd_send_signal(two scopes)", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{uint64(fd), 0, 0, 3}, neg64(unix.EINVAL)},
	} {
		if r := tc(root, c.nr, c.args...); r != c.want {
			t.Errorf("%s = %d, want %d", c.name, r, c.want)
		}
	}
	if want := [][3]uint64{{bufAddr + 0x1000, 100, unix.MADV_DONTNEED}, {bufAddr + 0x1000, 100, unix.MADV_COLD}}; len(rec.calls) != 2 || rec.calls[0] != want[0] || rec.calls[1] != want[1] {
		t.Errorf("madvise calls %v, want %v", rec.calls, want)
	}
	child := h.fork(t, root)
	cfd := tc(root, unix.SYS_PIDFD_OPEN, uint64(child.cfg.PID), unix.O_NONBLOCK)
	if r := tc(root, unix.SYS_WAITID, 3 /* P_PIDFD */, uint64(cfd), bufAddr+0x100, unix.WEXITED); r != 0 {
		t.Errorf("waitid(P_PIDFD, nonblocking, live child) = %d, want 0 at once (WNOHANG)", r)
	}
}

// madviseRecorder is a MemoryCalls that records the madvise calls.
type madviseRecorder struct {
	MemoryCalls
	calls [][3]uint64
}

func (r *madviseRecorder) Madvise(addr, length, advice uint64) error {
	r.calls = append(r.calls, [3]uint64{addr, length, advice})
	return nil
}

// TestPidfdEpollWokenAtExit: an epoll instance watching a child's pidfd
// is told when the child ends (the pidfd's queue is notified at the
// exit, as Linux's do_notify_pidfd wakes wait_pidfd), and epoll_wait
// reports EPOLLIN.
func TestPidfdEpollWokenAtExit(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	child := h.fork(t, root)
	fd := tc(root, unix.SYS_PIDFD_OPEN, uint64(child.cfg.PID), 0)
	ep := tc(root, unix.SYS_EPOLL_CREATE1, 0)
	if fd < 0 || ep < 0 {
		t.Fatalf("pidfd_open = %d, epoll_create1 = %d", fd, ep)
	}
	ev := uint64(bufAddr)
	putWord(h.mem, ev, unix.EPOLLIN)
	if r := tc(root, unix.SYS_EPOLL_CTL, uint64(ep), unix.EPOLL_CTL_ADD, uint64(fd), ev); r != 0 {
		t.Fatalf("epoll_ctl = %d", r)
	}
	done := make(chan int64)
	go func() { done <- tc(root, unix.SYS_EPOLL_WAIT, uint64(ep), bufAddr+0x100, 4, 10000) }()
	time.Sleep(20 * time.Millisecond)
	tc(child, unix.SYS_EXIT_GROUP, 0)
	select {
	case r := <-done:
		if got := getWord(h.mem, bufAddr+0x100); r != 1 || got != unix.EPOLLIN {
			t.Errorf("epoll_wait = %d, events %#x, want 1, EPOLLIN", r, got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the child's exit did not wake epoll_wait on its pidfd")
	}
}

// TestProcessMreleaseDying: process_mrelease on a child that kill's
// SIGKILL has doomed but that has not ended yet is 0, as Linux's
// task_will_free_mem sees the group exit at once (mrelease_test kills,
// then releases); on a live child it is EINVAL.
func TestProcessMreleaseDying(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	child := h.fork(t, root)
	fd := tc(root, unix.SYS_PIDFD_OPEN, uint64(child.cfg.PID), 0)
	if fd < 0 {
		t.Fatalf("pidfd_open = %d", fd)
	}
	if r := tc(root, unix.SYS_PROCESS_MRELEASE, uint64(fd), 0); r != neg64(unix.EINVAL) {
		t.Errorf("process_mrelease(live child) = %d, want EINVAL", r)
	}
	if r := tc(root, unix.SYS_KILL, uint64(child.cfg.PID), uint64(unix.SIGKILL)); r != 0 {
		t.Fatalf("kill = %d", r)
	}
	if r := tc(root, unix.SYS_PROCESS_MRELEASE, uint64(fd), 0); r != 0 {
		t.Errorf("process_mrelease(killed child) = %d, want 0", r)
	}
}
