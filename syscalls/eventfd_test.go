package syscalls

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestEventfdMatchesHost(t *testing.T) {
	w := newTwin(t)
	// pfd puts a pollfd for name at off.
	pfd := func(name string, off int, events uint16) {
		g, h := fdArg(name).values(w)
		binary.LittleEndian.PutUint32(w.guestBuf()[off:], uint32(g))
		binary.LittleEndian.PutUint32(w.host[off:], uint32(h))
		binary.LittleEndian.PutUint32(w.guestBuf()[off+4:], uint32(events))
		binary.LittleEndian.PutUint32(w.host[off+4:], uint32(events))
	}
	w.open("bad", "eventfd2 unknown flag", unix.SYS_EVENTFD2, num(0), num(4))
	w.open("e", "eventfd2 nonblock cloexec", unix.SYS_EVENTFD2, num(3), num(unix.EFD_NONBLOCK|unix.EFD_CLOEXEC))
	w.call("F_GETFL", unix.SYS_FCNTL, fdArg("e"), num(unix.F_GETFL))
	w.call("F_GETFD", unix.SYS_FCNTL, fdArg("e"), num(unix.F_GETFD))
	w.call("read 7 bytes", unix.SYS_READ, fdArg("e"), buf(0), num(7))
	w.call("read", unix.SYS_READ, fdArg("e"), buf(0), num(8))
	w.call("read at 0", unix.SYS_READ, fdArg("e"), buf(0), num(8))
	w.call("read into a fault", unix.SYS_READ, fdArg("e"), faultAddr{}, num(8))
	w.set(8, u64(5))
	w.call("write 7 bytes", unix.SYS_WRITE, fdArg("e"), buf(8), num(7))
	w.call("write from a fault", unix.SYS_WRITE, fdArg("e"), faultAddr{}, num(8))
	w.call("write 16 bytes", unix.SYS_WRITE, fdArg("e"), buf(8), num(16))
	w.call("write 5", unix.SYS_WRITE, fdArg("e"), buf(8), num(8))
	w.call("read into a fault loses the value", unix.SYS_READ, fdArg("e"), faultAddr{}, num(8))
	w.call("so the next read is EAGAIN", unix.SYS_READ, fdArg("e"), buf(0), num(8))
	w.set(8, u64(math.MaxUint64))
	w.call("write 2^64-1", unix.SYS_WRITE, fdArg("e"), buf(8), num(8))
	w.set(8, u64(math.MaxUint64-1))
	w.call("write 2^64-2", unix.SYS_WRITE, fdArg("e"), buf(8), num(8))
	w.set(8, u64(1))
	w.call("overflow", unix.SYS_WRITE, fdArg("e"), buf(8), num(8))
	w.set(16, make([]byte, 8))
	w.call("write 0 at the top", unix.SYS_WRITE, fdArg("e"), buf(16), num(8))
	w.set(0x40, make([]byte, 8))
	pfd("e", 0x40, unix.POLLIN|unix.POLLOUT)
	w.call("poll at the top", unix.SYS_POLL, buf(0x40), num(1), num(0))
	w.same("revents at the top", 0x46, 2)
	w.call("read the top", unix.SYS_READ, fdArg("e"), buf(0), num(8))
	w.call("lseek", unix.SYS_LSEEK, fdArg("e"), num(5), num(0))
	w.call("pread", unix.SYS_PREAD64, fdArg("e"), buf(0), num(8), num(0))
	w.call("FIONREAD", unix.SYS_IOCTL, fdArg("e"), num(unix.TIOCINQ), buf(0))
	// readv takes the 8 bytes across buffers; writev writes each alone.
	w.set(8, u64(0x0102030405060708))
	w.call("write", unix.SYS_WRITE, fdArg("e"), buf(8), num(8))
	iov := func(off, guest uint64, host uintptr, n uint64) {
		binary.LittleEndian.PutUint64(w.guestBuf()[off:], guest)
		binary.LittleEndian.PutUint64(w.guestBuf()[off+8:], n)
		binary.LittleEndian.PutUint64(w.host[off:], uint64(host))
		binary.LittleEndian.PutUint64(w.host[off+8:], n)
	}
	gb, hb := buf(0x100).values(w)
	iov(0x80, gb, uintptr(hb), 3)
	iov(0x90, gb+3, uintptr(hb)+3, 5)
	w.call("readv 3+5", unix.SYS_READV, fdArg("e"), buf(0x80), num(2))
	w.same("readv's bytes", 0x100, 8)
	iov(0x80, gb, uintptr(hb), 8)
	iov(0x90, gb+8, uintptr(hb)+8, 4)
	w.set(0x100, append(u64(7), 1, 2, 3, 4))
	w.call("writev 8+4", unix.SYS_WRITEV, fdArg("e"), buf(0x80), num(2))
	w.call("read 7", unix.SYS_READ, fdArg("e"), buf(0), num(8))

	// EFD_SEMAPHORE: each read takes 1.
	w.open("s", "eventfd semaphore", unix.SYS_EVENTFD2, num(2), num(unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK))
	w.call("F_GETFL", unix.SYS_FCNTL, fdArg("s"), num(unix.F_GETFL))
	w.call("read 1", unix.SYS_READ, fdArg("s"), buf(0), num(8))
	w.call("read 1 more", unix.SYS_READ, fdArg("s"), buf(0), num(8))
	w.call("then EAGAIN", unix.SYS_READ, fdArg("s"), buf(0), num(8))
	// eventfd(2) without flags: a blocking fd.
	w.open("b", "eventfd", unix.SYS_EVENTFD, num(0))
	w.call("F_GETFL blocking", unix.SYS_FCNTL, fdArg("b"), num(unix.F_GETFL))
	w.call("F_SETFL O_NONBLOCK", unix.SYS_FCNTL, fdArg("b"), num(unix.F_SETFL), num(unix.O_NONBLOCK))
	w.call("read at 0, now nonblocking", unix.SYS_READ, fdArg("b"), buf(0), num(8))
	// poll: readable with a count, writable below the top.
	pfd("s", 0x40, unix.POLLIN|unix.POLLOUT)
	pfd("b", 0x48, unix.POLLIN)
	w.call("poll", unix.SYS_POLL, buf(0x40), num(2), num(0))
	w.same("revents", 0x46, 2)
	w.same("revents", 0x4e, 2)
	w.set(8, u64(1))
	w.call("write 1", unix.SYS_WRITE, fdArg("b"), buf(8), num(8))
	w.call("poll again", unix.SYS_POLL, buf(0x40), num(2), num(0))
	w.same("revents", 0x46, 2)
	w.same("revents", 0x4e, 2)
}

// TestEventfdStat compares fstat of an eventfd with the host's: the anon
// inode's mode, link count, size and block size, and that every anon file
// shares one inode.
func TestEventfdStat(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	efd, epfd := sc(p, unix.SYS_EVENTFD2, 0, 0), sc(p, unix.SYS_EPOLL_CREATE1, 0)
	hefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hefd)
	var h unix.Stat_t
	if err := unix.Fstat(hefd, &h); err != nil {
		t.Fatal(err)
	}
	stat := func(fd int64) unix.Stat_t {
		if r := sc(p, unix.SYS_FSTAT, uint64(fd), base+0x200); r != 0 {
			t.Fatalf("fstat: %d", r)
		}
		b := mem.mem[0x200:]
		return unix.Stat_t{Dev: binary.LittleEndian.Uint64(b), Ino: binary.LittleEndian.Uint64(b[8:]),
			Nlink: binary.LittleEndian.Uint64(b[16:]), Mode: binary.LittleEndian.Uint32(b[24:]),
			Uid: binary.LittleEndian.Uint32(b[28:]), Size: int64(binary.LittleEndian.Uint64(b[48:])),
			Blksize: int64(binary.LittleEndian.Uint64(b[56:]))}
	}
	g, ge := stat(efd), stat(epfd)
	if g.Mode != h.Mode || g.Nlink != h.Nlink || g.Size != h.Size || g.Blksize != h.Blksize || g.Uid != h.Uid {
		t.Errorf("fstat of an eventfd: mmvm %+v, the host %+v", g, h)
	}
	if g.Dev != ge.Dev || g.Ino != ge.Ino {
		t.Errorf("an eventfd and an epoll instance have different inodes: %d:%d, %d:%d", g.Dev, g.Ino, ge.Dev, ge.Ino)
	}
}

// TestEventfdBlockingReadWaits checks that a read of a blocking eventfd at
// 0 waits until the run's context ends (EINTR), and that a write that
// would pass the top waits the same way.
func TestEventfdBlockingReadWaits(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	fd := uint64(sc(p, unix.SYS_EVENTFD2, 0, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.SetContext(ctx)
	start := time.Now()
	if r := sc(p, unix.SYS_READ, fd, base, 8); r != -int64(unix.EINTR) {
		t.Errorf("blocking read at 0: %d, want EINTR", r)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("blocking read returned after %v, before the context ended", d)
	}
	p.SetContext(context.Background())
	copy(mem.mem, u64(math.MaxUint64-1))
	if r := sc(p, unix.SYS_WRITE, fd, base, 8); r != 8 {
		t.Fatalf("write: %d", r)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	p.SetContext(ctx)
	copy(mem.mem, u64(1))
	if r := sc(p, unix.SYS_WRITE, fd, base, 8); r != -int64(unix.EINTR) {
		t.Errorf("blocking write past the top: %d, want EINTR", r)
	}
}

// TestEventfdWakesWaiter checks the seam another thread will use: a
// notify of the queue a blocked read waits on lets it take the count.
func TestEventfdWakesWaiter(t *testing.T) {
	p, _, _ := newTestProcess(t)
	ev := &eventFD{}
	done := make(chan uint64)
	next := ev.wq.next()
	go func() {
		<-next
		done <- 0
	}()
	ev.count = 3
	ev.wq.notify(epollIn)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("notify did not wake the waiter")
	}
	v, e := ev.take(p.MainTask(), false)
	if v != 3 || e != 0 {
		t.Errorf("take = %d, %v", v, e)
	}
}
