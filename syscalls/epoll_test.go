package syscalls

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/internal/cfacts"
)

// epollEventAt is where the epoll tests put the event epoll_ctl reads;
// the reported events go at offset 0 (at most 4 of them fit before it).
const epollEventAt = 0x30

// ctl makes epoll_ctl(ep, op, fd, {events, data}) on both sides.
func (w *twin) ctl(what string, op uint64, ep, fd string, events uint32, data uint64) int64 {
	w.t.Helper()
	var b [epollEventSize]byte
	binary.LittleEndian.PutUint32(b[:], events)
	binary.LittleEndian.PutUint64(b[4:], data)
	w.set(epollEventAt, b[:])
	return w.call(what, unix.SYS_EPOLL_CTL, fdArg(ep), num(op), fdArg(fd), buf(epollEventAt))
}

// wait makes epoll_wait(ep, buf(0), max, 0) on both sides: the reports
// (events and data) must be the same, in the same order.
func (w *twin) wait(what, ep string, max uint64) int64 {
	w.t.Helper()
	w.set(0, make([]byte, epollEventAt))
	return w.call(what, unix.SYS_EPOLL_WAIT, fdArg(ep), buf(0), num(max), num(0))
}

// put writes n bytes to a named fd on both sides.
func (w *twin) put(name string, n uint64) {
	w.t.Helper()
	w.call(fmt.Sprintf("write %d to %s", n, name), unix.SYS_WRITE, fdArg(name), buf(0x100), num(n))
}

// take reads up to n bytes of a named fd on both sides.
func (w *twin) take(name string, n uint64) {
	w.t.Helper()
	w.call(fmt.Sprintf("read %d from %s", n, name), unix.SYS_READ, fdArg(name), buf(0x100), num(n))
}

func TestEpollCtlMatchesHost(t *testing.T) {
	w := newTwin(t)
	w.open("x", "epoll_create 0", unix.SYS_EPOLL_CREATE, num(0))
	w.open("x", "epoll_create -1", unix.SYS_EPOLL_CREATE, num(0xffffffff))
	w.open("x", "epoll_create1 unknown flag", unix.SYS_EPOLL_CREATE1, num(1))
	w.open("ep", "epoll_create 1", unix.SYS_EPOLL_CREATE, num(1))
	w.open("ep2", "epoll_create1 EPOLL_CLOEXEC", unix.SYS_EPOLL_CREATE1, num(unix.EPOLL_CLOEXEC))
	w.call("F_GETFL", unix.SYS_FCNTL, fdArg("ep2"), num(unix.F_GETFL))
	w.call("F_GETFD", unix.SYS_FCNTL, fdArg("ep2"), num(unix.F_GETFD))
	w.call("F_GETFD without cloexec", unix.SYS_FCNTL, fdArg("ep"), num(unix.F_GETFD))
	w.call("read", unix.SYS_READ, fdArg("ep"), buf(0), num(8))
	w.call("write", unix.SYS_WRITE, fdArg("ep"), buf(0), num(8))
	w.call("lseek", unix.SYS_LSEEK, fdArg("ep"), num(3), num(0))
	w.pipe("p", unix.O_NONBLOCK)
	w.open("e", "eventfd", unix.SYS_EVENTFD2, num(0), num(unix.EFD_NONBLOCK))
	w.fds["closed"] = [2]int{900, 900}
	const add, del, mod = unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_DEL, unix.EPOLL_CTL_MOD
	const in, out, et, one, excl = unix.EPOLLIN, unix.EPOLLOUT, unix.EPOLLET, unix.EPOLLONESHOT, unix.EPOLLEXCLUSIVE
	w.ctl("closed epfd", add, "closed", "pr", in, 1)
	w.ctl("closed fd", add, "ep", "closed", in, 1)
	w.ctl("epfd a pipe", add, "pr", "e", in, 1)
	w.ctl("epfd == fd", add, "ep", "ep", in, 1)
	w.ctl("unknown op", 7, "ep", "pr", in, 1)
	w.ctl("unknown op, closed fd", 7, "ep", "closed", in, 1)
	w.call("event unmapped", unix.SYS_EPOLL_CTL, fdArg("ep"), num(add), fdArg("pr"), faultAddr{})
	w.call("DEL ignores the event", unix.SYS_EPOLL_CTL, fdArg("ep"), num(del), fdArg("pr"), faultAddr{})
	w.ctl("DEL unwatched", del, "ep", "pr", 0, 0)
	w.ctl("MOD unwatched", mod, "ep", "pr", in, 0)
	w.ctl("ADD", add, "ep", "pr", in, 1)
	w.ctl("ADD again", add, "ep", "pr", in, 1)
	w.ctl("MOD", mod, "ep", "pr", in|et, 2)
	w.ctl("MOD EXCLUSIVE", mod, "ep", "pr", in|excl, 2)
	w.ctl("DEL", del, "ep", "pr", 0, 0)
	w.ctl("DEL again", del, "ep", "pr", 0, 0)
	w.ctl("EXCLUSIVE with RDNORM", add, "ep", "pr", in|excl|unix.EPOLLRDNORM, 1)
	w.ctl("EXCLUSIVE with ONESHOT", add, "ep", "pr", in|excl|one, 1)
	w.ctl("EXCLUSIVE of an instance", add, "ep", "ep2", in|excl, 1)
	w.ctl("EXCLUSIVE with IN, ET", add, "ep", "pr", in|excl|et, 1)
	w.ctl("MOD of an EXCLUSIVE item", mod, "ep", "pr", in, 1)
	w.ctl("EXCLUSIVE write end", add, "ep", "pw", out|excl|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLWAKEUP, 2)
	w.ctl("eventfd", add, "ep", "e", in|out|unix.EPOLLRDHUP|unix.EPOLLPRI, 3)
	w.wait("the write end and the eventfd are writable", "ep", 4)
	// Nesting: an instance in another, loops and depth.
	w.ctl("ep2 watches ep", add, "ep2", "ep", in, 9)
	w.ctl("ep watches ep2: a loop", add, "ep", "ep2", in, 9)
	w.wait("ep2 sees ep ready", "ep2", 4)
	// poll of an instance: readable while an item is ready.
	for i, name := range []string{"ep", "ep2", ""} {
		g, h := uint64(1<<31), uint64(1<<31) // negative: skipped
		if name != "" {
			g, h = fdArg(name).values(w)
		}
		off := 0x80 + 8*i
		binary.LittleEndian.PutUint32(w.guestBuf()[off:], uint32(g))
		binary.LittleEndian.PutUint32(w.host[off:], uint32(h))
		binary.LittleEndian.PutUint32(w.guestBuf()[off+4:], unix.POLLIN|unix.POLLOUT)
		binary.LittleEndian.PutUint32(w.host[off+4:], unix.POLLIN|unix.POLLOUT)
	}
	w.call("poll of instances", unix.SYS_POLL, buf(0x80), num(3), num(0))
	for i := range 3 {
		w.same("revents", 0x86+8*i, 2)
	}
	for i := range 6 {
		w.open(fmt.Sprint("n", i), "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	}
	for i := 1; i < 6; i++ {
		w.ctl(fmt.Sprintf("n%d watches n%d", i, i-1), add, fmt.Sprint("n", i), fmt.Sprint("n", i-1), in, uint64(i))
	}
	w.ctl("n0 watches ep2, under 5 levels", add, "n0", "ep2", in, 0)
	w.ctl("n2 watches ep2", add, "n2", "ep2", in, 0)
	w.ctl("n5 watches ep2", add, "n5", "ep2", in, 0)
	w.wait("epoll_wait on n5", "n5", 4)
	// epoll_wait's checks.
	w.call("maxevents 0", unix.SYS_EPOLL_WAIT, fdArg("ep"), buf(0), num(0), num(0))
	w.call("maxevents negative", unix.SYS_EPOLL_WAIT, fdArg("ep"), buf(0), num(0xffffffff), num(0))
	w.call("maxevents past EP_MAX_EVENTS", unix.SYS_EPOLL_WAIT, fdArg("ep"), buf(0), num(epollMaxEvents+1), num(0))
	w.call("maxevents past EP_MAX_EVENTS, closed fd", unix.SYS_EPOLL_WAIT, fdArg("closed"), buf(0), num(epollMaxEvents+1), num(0))
	w.call("events beyond user space", unix.SYS_EPOLL_WAIT, fdArg("closed"), num(taskSizeMax-12), num(2), num(0))
	w.call("events at the end of user space", unix.SYS_EPOLL_WAIT, fdArg("n0"), num(taskSizeMax-12), num(1), num(0))
	w.call("events beyond user space, epfd an eventfd", unix.SYS_EPOLL_WAIT, fdArg("e"), num(taskSizeMax-12), num(2), num(0))
	w.call("events in the kernel half", unix.SYS_EPOLL_WAIT, fdArg("ep"), num(0xffff800000000000), num(1), num(0))
	w.call("events unmapped", unix.SYS_EPOLL_WAIT, fdArg("ep"), faultAddr{}, num(1), num(0))
	w.wait("the events are still ready", "ep", 4)
	w.call("closed epfd", unix.SYS_EPOLL_WAIT, fdArg("closed"), buf(0), num(1), num(0))
	w.call("epfd an eventfd", unix.SYS_EPOLL_WAIT, fdArg("e"), buf(0), num(1), num(0))
	w.call("pwait sigsetsize 4", unix.SYS_EPOLL_PWAIT, fdArg("ep"), buf(0), num(1), num(0), buf(0x40), num(4))
	w.call("pwait mask unmapped", unix.SYS_EPOLL_PWAIT, fdArg("ep"), buf(0), num(1), num(0), faultAddr{}, num(8))
	w.call("pwait no mask, sigsetsize 4", unix.SYS_EPOLL_PWAIT, fdArg("ep"), buf(0), num(1), num(0), num(0), num(4))
	w.set(0x20, make([]byte, 16))
	w.call("pwait2 zero timeout", unix.SYS_EPOLL_PWAIT2, fdArg("e"), buf(0), num(1), buf(0x20), num(0), num(0))
	w.set(0x28, u64(1e9))
	w.call("pwait2 nsec 1e9", unix.SYS_EPOLL_PWAIT2, fdArg("ep"), buf(0), num(1), buf(0x20), num(0), num(0))
	w.set(0x20, u64(1<<63))
	w.call("pwait2 negative sec", unix.SYS_EPOLL_PWAIT2, fdArg("ep"), buf(0), num(1), buf(0x20), num(0), num(0))
	w.call("pwait2 timeout unmapped", unix.SYS_EPOLL_PWAIT2, fdArg("closed"), buf(0), num(1), faultAddr{}, num(0), num(0))
	w.set(0x20, make([]byte, 16))
	w.call("pwait2 bad sigsetsize after the timeout", unix.SYS_EPOLL_PWAIT2, fdArg("ep"), buf(0), num(1), buf(0x20), buf(0x40), num(9))
	w.call("pwait2", unix.SYS_EPOLL_PWAIT2, fdArg("ep"), buf(0), num(1), buf(0x20), num(0), num(0))
	w.close("ep2")
	w.wait("n2 after ep2 closed", "n2", 4)
}

func TestEpollPipeMatchesHost(t *testing.T) {
	w := newTwin(t)
	const add, mod = unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_MOD
	const in, out, et, one = unix.EPOLLIN, unix.EPOLLOUT, unix.EPOLLET, unix.EPOLLONESHOT
	w.pipe("a", unix.O_NONBLOCK)
	w.pipe("b", unix.O_NONBLOCK)
	w.open("lt", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	w.open("et", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	w.open("os", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	w.ctl("LT read end", add, "lt", "ar", in, 1)
	w.ctl("ET read end", add, "et", "ar", in|et, 1)
	w.ctl("oneshot read end", add, "os", "ar", in|one, 1)
	w.ctl("LT write end", add, "lt", "bw", out, 2)
	w.ctl("ET write end", add, "et", "bw", out|et, 2)
	w.wait("LT: the write end", "lt", 4)
	w.wait("LT: again", "lt", 4)
	w.wait("ET: the write end once", "et", 4)
	w.wait("ET: not again", "et", 4)
	w.wait("oneshot: empty", "os", 4)
	w.put("aw", 3)
	w.wait("LT: both", "lt", 4)
	w.wait("LT: both again", "lt", 4)
	w.wait("ET: the read end", "et", 4)
	w.wait("ET: not again", "et", 4)
	w.put("aw", 1)
	w.wait("ET: a write to a non-empty pipe is a new edge", "et", 4)
	w.wait("oneshot: reported", "os", 4)
	w.put("aw", 1)
	w.wait("oneshot: disabled", "os", 4)
	w.ctl("oneshot: MOD re-arms", mod, "os", "ar", in|one, 5)
	w.wait("oneshot: reported again", "os", 4)
	w.take("ar", 2)
	w.wait("ET: a read makes no edge for the reader", "et", 4)
	w.take("ar", 100)
	w.wait("LT: only the write end once drained", "lt", 4)
	w.wait("LT: maxevents 1", "lt", 1)
	// Fill pipe b: its write end stops being writable; a read of a full
	// pipe is an edge for the writer.
	w.put("bw", 60000)
	w.put("bw", 10000)
	w.wait("LT: full", "lt", 4)
	w.wait("ET: full", "et", 4)
	w.take("br", 10)
	w.wait("ET: a partial read of a full pipe is not enough room", "et", 4)
	w.take("br", 5000)
	w.wait("ET: a page free", "et", 4)
	w.take("br", 5000)
	w.wait("ET: a read of a pipe not full is no edge", "et", 4)
	w.wait("LT: room", "lt", 4)
	// Closing the write end: HUP for the reader.
	w.put("aw", 1)
	w.close("aw")
	w.wait("LT: IN and HUP", "lt", 4)
	w.wait("ET: the close is an edge", "et", 4)
	w.take("ar", 10)
	w.wait("LT: HUP alone", "lt", 4)
	// Closing the read end: ERR for the writer.
	w.close("br")
	w.wait("LT: ERR", "lt", 4)
	w.wait("ET: ERR", "et", 4)
}

func TestEpollEventfdMatchesHost(t *testing.T) {
	w := newTwin(t)
	const add, del = unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_DEL
	const in, out, et = unix.EPOLLIN, unix.EPOLLOUT, unix.EPOLLET
	w.open("ep", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	for i := range 3 {
		w.open(fmt.Sprint("e", i), "eventfd", unix.SYS_EVENTFD2, num(0), num(unix.EFD_NONBLOCK))
		w.ctl("LT", add, "ep", fmt.Sprint("e", i), in, uint64(10+i))
	}
	w.open("et", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	w.ctl("ET", add, "et", "e0", in|out|et, 20)
	w.wait("ET: writable at once", "et", 4)
	w.set(0x100, u64(1))
	for i := 2; i >= 0; i-- {
		w.put(fmt.Sprint("e", i), 8)
	}
	for i := range 5 {
		w.wait(fmt.Sprintf("LT round robin %d", i), "ep", 1)
	}
	w.wait("LT: all three", "ep", 4)
	w.wait("ET: written", "et", 4)
	w.set(0x100, u64(0))
	w.put("e0", 8)
	w.wait("ET: writing 0 is an edge", "et", 4)
	w.take("e0", 8)
	w.wait("ET: a read is an edge (EPOLLOUT)", "et", 4)
	w.wait("LT: e0 read", "ep", 4)
	// A description under two fds: two items, reported newest first; a
	// close of one fd leaves both; the last close removes them.
	w.open("d", "dup", unix.SYS_DUP, fdArg("e1"))
	w.ctl("the dup", add, "ep", "d", in, 30)
	w.close("e2")
	w.wait("e1 twice", "ep", 4)
	w.close("e1")
	w.wait("the closed fd's item lives on", "ep", 4)
	w.ctl("DEL of the closed fd", del, "ep", "d", 0, 0)
	w.wait("one item left", "ep", 4)
}

// TestEpollEventLayout checks struct epoll_event against the host's C
// headers (packed: 12 bytes, data at 4), and the same numbers fixed where
// gcc is missing.
func TestEpollEventLayout(t *testing.T) {
	ours := []uint64{epollEventSize, 0, 4}
	if fixed := []uint64{12, 0, 4}; fmt.Sprint(ours) != fmt.Sprint(fixed) {
		t.Errorf("struct epoll_event: mmvm %v, x86-64 Linux %v", ours, fixed)
	}
	if !cfacts.HaveGCC() {
		t.Skip("gcc not found; the fixed numbers were checked")
	}
	vals, err := cfacts.Eval(t.TempDir(), "#include <sys/epoll.h>\n", []string{
		"sizeof(struct epoll_event)", "offsetof(struct epoll_event, events)", "offsetof(struct epoll_event, data)",
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(vals) != fmt.Sprint(ours) {
		t.Errorf("struct epoll_event size, events, data: the headers say %v, mmvm has %v", vals, ours)
	}
}

// TestEpollWaitTimeouts checks epoll_wait's waits: a timeout that expires
// returns 0 after it, -1 waits until the run's context ends (EINTR), and a
// signal the pwait mask unblocks interrupts it at once, with the old mask
// kept for the handler's return.
func TestEpollWaitTimeouts(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	ep := uint64(sc(p, unix.SYS_EPOLL_CREATE1, 0))
	start := time.Now()
	if r := sc(p, unix.SYS_EPOLL_WAIT, ep, base, 1, 30); r != 0 {
		t.Errorf("epoll_wait 30 ms: %d", r)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("epoll_wait 30 ms returned after %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	p.SetContext(ctx)
	start = time.Now()
	if r := sc(p, unix.SYS_EPOLL_WAIT, ep, base, 1, 0xffffffff); r != -int64(unix.EINTR) {
		t.Errorf("epoll_wait -1: %d, want EINTR", r)
	}
	if d := time.Since(start); d < 35*time.Millisecond {
		t.Errorf("epoll_wait -1 returned after %v, before the context ended", d)
	}
	p.SetContext(context.Background())
	// SIGUSR1 blocked and pending, ignored (so nothing is delivered);
	// epoll_pwait's empty mask lets it interrupt the wait.
	binary.LittleEndian.PutUint64(mem.mem[0x100:], sigBit(unix.SIGUSR1))
	sc(p, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, base+0x100, 0, sigsetSize)
	clear(mem.mem[0x300:0x320])
	binary.LittleEndian.PutUint64(mem.mem[0x300:], 1) // SIG_IGN
	if r := sc(p, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), base+0x300, 0, sigsetSize); r != 0 {
		t.Fatalf("rt_sigaction SIG_IGN: %d", r)
	}
	p.sig.pending |= sigBit(unix.SIGUSR1)
	binary.LittleEndian.PutUint64(mem.mem[0x108:], 0)
	if r := sc(p, unix.SYS_EPOLL_PWAIT, ep, base, 1, 1000, base+0x108, sigsetSize); r != -int64(unix.EINTR) {
		t.Errorf("epoll_pwait with the signal unblocked: %d, want EINTR", r)
	}
	if p.MainTask().sigmask != sigBit(unix.SIGUSR1) {
		t.Errorf("mask after epoll_pwait: %#x, want SIGUSR1's", p.MainTask().sigmask)
	}
	// A wait that returns events restores the mask at once: the signal
	// stays pending.
	e := uint64(sc(p, unix.SYS_EVENTFD2, 1, 0))
	binary.LittleEndian.PutUint32(mem.mem[0x200:], unix.EPOLLIN)
	sc(p, unix.SYS_EPOLL_CTL, ep, unix.EPOLL_CTL_ADD, e, base+0x200)
	p.sig.pending |= sigBit(unix.SIGUSR1)
	if r := sc(p, unix.SYS_EPOLL_PWAIT, ep, base, 1, 1000, base+0x108, sigsetSize); r != 1 {
		t.Errorf("epoll_pwait with an event ready: %d, want 1", r)
	}
	if p.MainTask().sigmask != sigBit(unix.SIGUSR1) || p.sig.pending&sigBit(unix.SIGUSR1) == 0 {
		t.Errorf("after epoll_pwait with events: mask %#x, pending %#x", p.MainTask().sigmask, p.sig.pending)
	}
}

// TestEpollNotifyReachesWaiters checks the seam another thread will use:
// an eventfd's notify, from another goroutine, closes the channel a
// blocked epoll_wait on an instance watching it waits on, and the item is
// then ready.
func TestEpollNotifyReachesWaiters(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	ep := uint64(sc(p, unix.SYS_EPOLL_CREATE1, 0))
	e := uint64(sc(p, unix.SYS_EVENTFD2, 0, 0))
	binary.LittleEndian.PutUint32(mem.mem[0x200:], unix.EPOLLIN)
	sc(p, unix.SYS_EPOLL_CTL, ep, unix.EPOLL_CTL_ADD, e, base+0x200)
	f, _ := p.file(e)
	ev := f.anon.(*eventFD)
	epi := epollOf(mustFile(t, p, ep))
	wakeup := epi.pollWait.next()
	go func() {
		time.Sleep(20 * time.Millisecond)
		ev.count = 1
		ev.wq.notify(epollIn)
	}()
	<-wakeup
	if r := sc(p, unix.SYS_EPOLL_WAIT, ep, base, 1, 0); r != 1 {
		t.Errorf("epoll_wait after the notify: %d, want 1", r)
	}
}

func mustFile(t *testing.T, p *Process, fd uint64) *openFile {
	t.Helper()
	f, e := p.file(fd)
	if e != 0 {
		t.Fatal(e)
	}
	return f
}

// TestEpollCtlFilesMatchHost compares which of the guest's files epoll
// may watch (EPERM for a file with no poll) with the host's answer for
// the same files.
func TestEpollCtlFilesMatchHost(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newTwin(t)
	p, mem := newViewProcess(t, root)
	w.p, w.mem = p, mem
	w.open("ep", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	for _, f := range []struct{ guest, host string }{
		{"/data/f", filepath.Join(root, "f")}, {"/data", root},
		{"/dev/null", "/dev/null"}, {"/dev/zero", "/dev/zero"},
		{"/dev/urandom", "/dev/urandom"}, {"/dev/random", "/dev/random"},
	} {
		g := openPath(p, mem, f.guest, unix.O_RDONLY)
		h, err := unix.Open(f.host, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if g < 0 || err != nil {
			t.Fatalf("open %s: mmvm %d, the host %v", f.guest, g, err)
		}
		w.fds[f.guest] = [2]int{int(g), h}
		w.ctl("ADD "+f.guest, unix.EPOLL_CTL_ADD, "ep", f.guest, unix.EPOLLIN, 1)
	}
	w.wait("/dev/random", "ep", 4)
	g := openPath(p, mem, "/data/f", unix.O_PATH)
	h, err := unix.Open(filepath.Join(root, "f"), unix.O_PATH|unix.O_CLOEXEC, 0)
	if g < 0 || err != nil {
		t.Fatalf("open O_PATH: mmvm %d, the host %v", g, err)
	}
	w.fds["path"] = [2]int{int(g), h}
	w.ctl("ADD an O_PATH fd", unix.EPOLL_CTL_ADD, "ep", "path", unix.EPOLLIN, 1)
	w.call("epoll_wait on an O_PATH fd", unix.SYS_EPOLL_WAIT, fdArg("path"), buf(0), num(1), num(0))
}

// TestEpollCloseFreesItems checks that closing an instance takes its
// items off the files' queues, and that the last close of a watched file
// takes its items off the instance.
func TestEpollCloseFreesItems(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	sc(p, unix.SYS_PIPE2, base+0x100, 0)
	ep := uint64(sc(p, unix.SYS_EPOLL_CREATE1, 0))
	binary.LittleEndian.PutUint32(mem.mem[0x200:], unix.EPOLLIN)
	for _, fd := range []uint64{3, 4} {
		if r := sc(p, unix.SYS_EPOLL_CTL, ep, unix.EPOLL_CTL_ADD, fd, base+0x200); r != 0 {
			t.Fatalf("ADD %d: %d", fd, r)
		}
	}
	rf := mustFile(t, p, 3)
	inst := epollOf(mustFile(t, p, ep))
	sc(p, unix.SYS_CLOSE, 4)
	if len(inst.items) != 1 || len(inst.ready) != 1 {
		t.Errorf("after the write end's close: %d items, %d ready, want 1 and 1 (the read end's HUP)", len(inst.items), len(inst.ready))
	}
	sc(p, unix.SYS_CLOSE, ep)
	if len(rf.pipe.rdWait.items) != 0 || len(rf.epollItems) != 0 || len(inst.items) != 0 {
		t.Errorf("after the instance's close: the read end has %d waiting items and %d items, the instance %d",
			len(rf.pipe.rdWait.items), len(rf.epollItems), len(inst.items))
	}
}

// TestEpollHostStdinMatchesHost watches a stdin that is a host pipe: its
// readiness is the host's, level-triggered and edge-triggered (an edge
// being a new event, as polling sees it), compared with the host's epoll
// on the same pipe; and a blocked epoll_wait wakes when the pipe fills.
func TestEpollHostStdinMatchesHost(t *testing.T) {
	w := newTwin(t)
	hp := hostPipe(t, 0)
	w.p.cfg.StdioFDs[0] = hp[0]
	w.p.waitable = waitableFDs(w.p.cfg.StdioFDs)
	hd, err := unix.Dup(hp[0])
	if err != nil {
		t.Fatal(err)
	}
	w.fds["in"] = [2]int{0, hd}
	w.open("lt", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	w.open("et", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	w.ctl("LT stdin", unix.EPOLL_CTL_ADD, "lt", "in", unix.EPOLLIN, 1)
	w.ctl("ET stdin", unix.EPOLL_CTL_ADD, "et", "in", unix.EPOLLIN|unix.EPOLLET, 2)
	w.wait("LT: empty", "lt", 4)
	w.wait("ET: empty", "et", 4)
	hostWrite := func(s string) {
		if _, err := unix.Write(hp[1], []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	hostWrite("x")
	w.wait("LT: readable", "lt", 4)
	w.wait("LT: still readable", "lt", 4)
	w.wait("ET: readable", "et", 4)
	w.wait("ET: once", "et", 4)
	// The program reads stdin dry (the one pipe both sides watch), then
	// a byte comes before it waits again: a new edge.
	sd, err := unix.Dup(hp[0])
	if err != nil {
		t.Fatal(err)
	}
	stdin := os.NewFile(uintptr(sd), "stdin")
	defer stdin.Close()
	w.p.cfg.Stdin = stdin
	if r := sc(w.p, unix.SYS_READ, 0, base+0x100, 8); r != 1 {
		t.Fatalf("read of stdin: %d", r)
	}
	w.wait("LT: drained", "lt", 4)
	hostWrite("y")
	w.wait("ET: readable again after a read", "et", 4)
	if r := sc(w.p, unix.SYS_READ, 0, base+0x100, 8); r != 1 {
		t.Fatalf("read of stdin: %d", r)
	}
	// Blocked with nothing ready, until the host pipe gets a byte.
	go func() {
		time.Sleep(30 * time.Millisecond)
		hostWrite("z")
	}()
	start := time.Now()
	lt := uint64(w.fds["lt"][0])
	if r := sc(w.p, unix.SYS_EPOLL_WAIT, lt, base, 1, 5000); r != 1 {
		t.Errorf("epoll_wait for the host pipe: %d, want 1", r)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
		t.Errorf("epoll_wait for the host pipe returned after %v, want about 30 ms", d)
	}
}
