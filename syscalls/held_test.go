package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHeldRoomBounded fills pipes and a socket pair past a small guest
// memory: the write or send that finds no room fails (ENOMEM, ENOBUFS)
// or stops short, reading or closing gives the room back, and nothing is
// held once every descriptor is closed.
func TestHeldRoomBounded(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	const pages = 40
	p.cfg.MemoryLimit = pages * 4096
	call := func(nr uint64, a ...uint64) int64 {
		var v [6]uint64
		copy(v[:], a)
		return int64(p.Syscall(nr, v))
	}
	want := func(what string, got, w int64) {
		t.Helper()
		if got != w {
			t.Errorf("%s: %s, want %s", what, retName(got), retName(w))
		}
	}
	fds := func(off int) (uint64, uint64) {
		return uint64(binary.LittleEndian.Uint32(mem.mem[off:])), uint64(binary.LittleEndian.Uint32(mem.mem[off+4:]))
	}
	var r, w [3]uint64
	for i := range 3 {
		want("pipe2", call(unix.SYS_PIPE2, base+uint64(8*i), unix.O_NONBLOCK), 0)
		r[i], w[i] = fds(8 * i)
	}
	want("socketpair", call(unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0, base+32), 0)
	s0, s1 := fds(32)

	const full = 16 * 4096 // a new pipe's capacity
	want("first pipe", call(unix.SYS_WRITE, w[0], base, full), full)
	want("second pipe", call(unix.SYS_WRITE, w[1], base, full), full)
	want("third pipe, past the room", call(unix.SYS_WRITE, w[2], base, full), (pages-32)*4096)
	want("third pipe, no room", call(unix.SYS_WRITE, w[2], base, 1), -int64(unix.ENOMEM))
	want("socket send, no room", call(unix.SYS_SENDTO, s0, base, 1000, 0, 0, 0), -int64(unix.ENOBUFS))

	want("read the first pipe", call(unix.SYS_READ, r[0], base, full), full)
	want("socket send", call(unix.SYS_SENDTO, s0, base, 1000, 0, 0, 0), 1000)
	want("first pipe again", call(unix.SYS_WRITE, w[0], base, full), full-4096)
	want("close the second pipe's read end", call(unix.SYS_CLOSE, r[1]), 0)
	want("close its write end", call(unix.SYS_CLOSE, w[1]), 0)
	want("third pipe, once the second is gone", call(unix.SYS_WRITE, w[2], base, full), full-(pages-32)*4096)

	for _, fd := range []uint64{r[0], w[0], r[2], w[2], s0, s1} {
		want("close", call(unix.SYS_CLOSE, fd), 0)
	}
	if h := p.tree.held; h != (heldBytes{}) {
		t.Errorf("held after every close: %+v, want none", h)
	}
}

// TestEpollWatchesBounded: the VM's epoll items stop at
// fs.epoll.max_user_watches, Linux's default for the guest's memory or
// what root writes there, with ENOSPC; removing an item or closing an
// instance gives its place back.
func TestEpollWatchesBounded(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.MemoryLimit = 4 << 20
	call := func(nr uint64, a ...uint64) int64 {
		var v [6]uint64
		copy(v[:], a)
		return int64(p.Syscall(nr, v))
	}
	const path = "/proc/sys/fs/epoll/max_user_watches"
	copy(mem.mem[0x100:], path+"\x00")
	fd := call(unix.SYS_OPENAT, uint64(unix.AT_FDCWD&0xffffffff), base+0x100, unix.O_RDWR)
	if fd < 0 {
		t.Fatalf("open %s: %s", path, retName(fd))
	}
	n := call(unix.SYS_PREAD64, uint64(fd), base+0x200, 64, 0)
	// 4 MiB is 1024 pages; 4% of them, in 184-byte items.
	if got, want := string(mem.mem[0x200:0x200+max(n, 0)]), "890\n"; got != want {
		t.Errorf("%s reads %q, want %q", path, got, want)
	}
	copy(mem.mem[0x200:], "3\n")
	if r := call(unix.SYS_PWRITE64, uint64(fd), base+0x200, 2, 0); r != 2 {
		t.Fatalf("write 3 to %s: %s", path, retName(r))
	}
	ep1, ep2 := call(unix.SYS_EPOLL_CREATE1, 0), call(unix.SYS_EPOLL_CREATE1, 0)
	var efds []uint64
	for range 4 {
		efds = append(efds, uint64(call(unix.SYS_EVENTFD2, 0, 0)))
	}
	binary.LittleEndian.PutUint32(mem.mem[0x300:], unix.EPOLLIN)
	add := func(ep int64, efd uint64) int64 {
		return call(unix.SYS_EPOLL_CTL, uint64(ep), unix.EPOLL_CTL_ADD, efd, base+0x300)
	}
	want := func(what string, got, w int64) {
		t.Helper()
		if got != w {
			t.Errorf("%s: %s, want %s", what, retName(got), retName(w))
		}
	}
	want("first", add(ep1, efds[0]), 0)
	want("second", add(ep1, efds[1]), 0)
	want("third, another instance", add(ep2, efds[0]), 0)
	want("fourth", add(ep2, efds[2]), -int64(unix.ENOSPC))
	want("EPOLL_CTL_DEL", call(unix.SYS_EPOLL_CTL, uint64(ep1), unix.EPOLL_CTL_DEL, efds[1], 0), 0)
	want("fourth after a DEL", add(ep2, efds[2]), 0)
	want("fifth", add(ep1, efds[3]), -int64(unix.ENOSPC))
	want("close an instance", call(unix.SYS_CLOSE, uint64(ep2)), 0)
	want("fifth after the close", add(ep1, efds[3]), 0)
	want("close a watched file", call(unix.SYS_CLOSE, efds[0]), 0)
	want("close the other instance", call(unix.SYS_CLOSE, uint64(ep1)), 0)
	if w := p.tree.epollWatches.n; w != 0 {
		t.Errorf("items after every instance closed: %d", w)
	}
	copy(mem.mem[0x200:], "-1\n")
	want("write -1", call(unix.SYS_PWRITE64, uint64(fd), base+0x200, 3, 0), -int64(unix.EINVAL))
}
