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
