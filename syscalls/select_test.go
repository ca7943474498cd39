package syscalls

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The select tests' twin buffer: the three fd_sets (1024 fds, 128 bytes
// each), the timeout and pselect6's argument pack beyond the part call
// compares, the mask in it.
const (
	selMask    = 0x10 // sigset_t
	selTimeout = 0x40 // struct timeval or timespec: the time left differs
	selPack    = 0x50 // {const sigset_t *ss; size_t ss_len}: addresses differ
	selRead    = 0x80
	selWrite   = 0x100
	selExcept  = 0x180
	fdSetBytes = 128
)

// sameFDs gives the host fds of names the number their mmvm fds have
// (dup3 onto free numbers from 100 on, on both sides), so that one
// fd_set means the same fds to both.
func (w *twin) sameFDs(names ...string) {
	w.t.Helper()
	fd := 100
	for _, name := range names {
		for ; ; fd++ {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if _, e := w.p.file(uint64(fd)); err == unix.EBADF && e != 0 {
				break
			}
		}
		g, h := w.fds[name][0], w.fds[name][1]
		if r := sc(w.p, unix.SYS_DUP3, uint64(g), uint64(fd), 0); r != int64(fd) {
			w.t.Fatalf("dup3 in mmvm: %d", r)
		}
		if err := unix.Dup3(h, fd, 0); err != nil {
			w.t.Fatal(err)
		}
		sc(w.p, unix.SYS_CLOSE, uint64(g))
		unix.Close(h)
		w.fds[name] = [2]int{fd, fd}
		fd++
	}
}

// closedFD is an fd below 128 open on neither side.
func (w *twin) closedFD() int {
	for fd := 127; fd > 2; fd-- {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if _, e := w.p.file(uint64(fd)); err == unix.EBADF && e != 0 {
			return fd
		}
	}
	w.t.Fatal("no fd below 128 closed on both sides")
	return 0
}

// fdSet writes an fd_set holding the named fds and the numbers in extra
// at off on both sides.
func (w *twin) fdSet(off int, names []string, extra ...int) {
	b := make([]byte, fdSetBytes)
	for _, name := range names {
		extra = append(extra, w.fds[name][0])
	}
	for _, fd := range extra {
		b[fd/8] |= 1 << (fd % 8)
	}
	w.set(off, b)
}

// timeval writes a struct timeval (or timespec) at selTimeout on both sides.
func (w *twin) timeval(sec, frac int64) {
	w.set(selTimeout, append(u64(uint64(sec)), u64(uint64(frac))...))
}

// selectCall makes select(nfds, the three sets, the timeout) on both sides
// and compares the sets.
func (w *twin) selectCall(what string, nfds int64, sets [3]twinArg, tv twinArg) int64 {
	w.t.Helper()
	r := w.call(what, unix.SYS_SELECT, num(uint64(nfds)), sets[0], sets[1], sets[2], tv)
	w.same(what+": the sets", selRead, 3*fdSetBytes)
	return r
}

// fdSetOf reads the fds set at off of the mmvm buffer, for messages.
func (w *twin) fdSetOf(off int) []int {
	var fds []int
	for i, b := range w.guestBuf()[off : off+fdSetBytes] {
		for bit := range 8 {
			if b&(1<<bit) != 0 {
				fds = append(fds, i*8+bit)
			}
		}
	}
	return fds
}

var allSets = [3]twinArg{buf(selRead), buf(selWrite), buf(selExcept)}

func TestSelectMatchesHost(t *testing.T) {
	w := newTwin(t)
	w.pipe("p", unix.O_NONBLOCK)
	w.pipe("q", 0)
	w.sameFDs("pr", "pw", "qr", "qw")
	pr, qr := w.fds["pr"][0], w.fds["qr"][0]
	top := int64(w.fds["qw"][0] + 1)
	all := []string{"pr", "pw", "qr", "qw"}
	zero := func() { w.timeval(0, 0) }

	zero()
	w.fdSet(selRead, all)
	w.fdSet(selWrite, all)
	w.fdSet(selExcept, all)
	w.selectCall("empty pipes: the write ends", top, allSets, buf(selTimeout))
	w.same("a zero timeout is left alone", selTimeout, 16)
	w.put("pw", 3)
	w.fdSet(selRead, all)
	w.fdSet(selWrite, all)
	w.fdSet(selExcept, all)
	w.selectCall("p holds bytes", top, allSets, buf(selTimeout))
	w.fdSet(selRead, all)
	w.selectCall("read set only", top, [3]twinArg{buf(selRead), num(0), num(0)}, buf(selTimeout))

	// Bits at and past nfds are neither checked nor kept.
	w.fdSet(selRead, all, int(top), int(top)+1, 700)
	w.fdSet(selWrite, nil, int(top)+3)
	w.fdSet(selExcept, nil)
	w.selectCall("bits past nfds, fds not open", top, allSets, buf(selTimeout))
	w.fdSet(selRead, []string{"pr", "qr"})
	w.selectCall("nfds cuts the set in its word", int64(qr), allSets, buf(selTimeout))
	w.fdSet(selRead, all)
	w.selectCall("nfds 0", 0, allSets, buf(selTimeout))

	// Errors: the sets are left as they were.
	w.fdSet(selRead, []string{"pr"}, int(top))
	w.selectCall("a set bit for an fd not open", top+1, allSets, buf(selTimeout))
	w.fdSet(selRead, nil)
	w.fdSet(selExcept, nil, w.closedFD())
	w.selectCall("an fd not open in the except set", top, allSets, buf(selTimeout))
	w.fdSet(selExcept, nil)
	w.selectCall("nfds negative", -1, allSets, buf(selTimeout))
	w.selectCall("nfds negative as an int", 1<<32|1<<31, allSets, buf(selTimeout))
	w.selectCall("read set unmapped", top, [3]twinArg{faultAddr{}, buf(selWrite), buf(selExcept)}, buf(selTimeout))
	w.selectCall("except set unmapped", top, [3]twinArg{buf(selRead), buf(selWrite), faultAddr{}}, buf(selTimeout))
	w.selectCall("timeout unmapped", top, allSets, faultAddr{})
	// Invalid: negative, or negative once the microseconds are carried
	// (the sum wrapping past the largest second, too).
	for _, tv := range [][2]int64{{-1, 0}, {0, -1}, {1, -1}, {0, -1e6}, {math.MaxInt64, 1e6}} {
		w.timeval(tv[0], tv[1])
		w.fdSet(selRead, all)
		w.selectCall(fmt.Sprintf("timeval %v", tv), top, allSets, buf(selTimeout))
		w.same("the timeval", selTimeout, 16)
	}

	// Microseconds past a second carry into the seconds; the time left
	// is written back.
	for _, tc := range []struct {
		sec, usec int64
		left      time.Duration
	}{{0, 1500000, 1500 * time.Millisecond}, {-1, 2e6, time.Second}} {
		w.timeval(tc.sec, tc.usec)
		w.fdSet(selRead, all)
		w.selectCall(fmt.Sprintf("timeval {%d, %d}, ready", tc.sec, tc.usec), top, allSets, buf(selTimeout))
		for _, side := range [][]byte{w.guestBuf(), w.host} {
			sec, usec := binary.LittleEndian.Uint64(side[selTimeout:]), binary.LittleEndian.Uint64(side[selTimeout+8:])
			left := time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
			if usec >= 1e6 || left > tc.left || left < tc.left-100*time.Millisecond {
				t.Errorf("time left after a ready select of %v: %d s %d us", tc.left, sec, usec)
			}
		}
	}

	// An O_PATH fd is open but cannot be polled: every set asks it.
	w.set(0x20, []byte("/\x00"))
	w.open("path", "open / O_PATH", unix.SYS_OPENAT, num(uint64(unix.AT_FDCWD&0xffffffff)), buf(0x20), num(unix.O_PATH))
	w.sameFDs("path")
	zero()
	w.fdSet(selRead, []string{"path"})
	w.fdSet(selWrite, []string{"path"})
	w.fdSet(selExcept, []string{"path"})
	w.selectCall("O_PATH fd", int64(w.fds["path"][0]+1), allSets, buf(selTimeout))

	// nfds is bounded by the fd table's size, 512 on both sides once fd
	// 300 has been used: set bits past it are not looked at and not
	// written.
	w.call("dup2 to 300", unix.SYS_DUP2, fdArg("pr"), num(300))
	w.call("close 300", unix.SYS_CLOSE, num(300))
	if g, h := procFDSize(t, w.p), hostFDSize(t); g != 512 || h != 512 {
		t.Fatalf("FDSize after fd 300: mmvm %d, the host %d, want 512", g, h)
	}
	w.fdSet(selRead, []string{"pr"}, 600, 1000)
	w.fdSet(selWrite, nil, 513)
	w.fdSet(selExcept, []string{"pw"}, 1023)
	if r := w.selectCall("nfds past the table's size", 1024, allSets, buf(selTimeout)); r != 1 {
		t.Errorf("select of 1024 with fds past the table's size set: %d, want 1", r)
	}
	if got := w.fdSetOf(selRead); len(got) != 3 || got[1] != 600 {
		t.Errorf("read set after a select of 1024: %v, want %d, 600 and 1000", got, pr)
	}
}

// procFDSize is the FDSize line of mmvm's /proc/self/status.
func procFDSize(t *testing.T, p *Process) int {
	t.Helper()
	return fdSizeOf(t, string(p.main.statusText()))
}

// hostFDSize is the test process's own FDSize.
func hostFDSize(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	return fdSizeOf(t, string(b))
}

func fdSizeOf(t *testing.T, status string) int {
	t.Helper()
	for line := range strings.SplitSeq(status, "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "FDSize:\t%d", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no FDSize in %q", status)
	return 0
}

func TestPselect6MatchesHost(t *testing.T) {
	w := newTwin(t)
	w.pipe("p", unix.O_NONBLOCK)
	w.sameFDs("pr", "pw")
	top := int64(w.fds["pw"][0] + 1)
	all := []string{"pr", "pw"}
	// The pack holds the mask's address, which differs on the two sides.
	pack := func(ss bool, size uint64) {
		g, h := uint64(0), uint64(0)
		if ss {
			g, h = buf(selMask).values(w)
		}
		binary.LittleEndian.PutUint64(w.guestBuf()[selPack:], g)
		binary.LittleEndian.PutUint64(w.guestBuf()[selPack+8:], size)
		binary.LittleEndian.PutUint64(w.host[selPack:], h)
		binary.LittleEndian.PutUint64(w.host[selPack+8:], size)
	}
	call := func(what string, tv, sig twinArg) {
		w.t.Helper()
		w.fdSet(selRead, all)
		w.fdSet(selWrite, all)
		w.fdSet(selExcept, nil)
		w.call(what, unix.SYS_PSELECT6, num(uint64(top)), buf(selRead), buf(selWrite), buf(selExcept), tv, sig)
		w.same(what+": the sets", selRead, 3*fdSetBytes)
	}
	w.set(selMask, u64(0))
	w.timeval(0, 0)
	call("no pack", buf(selTimeout), num(0))
	pack(true, sigsetSize)
	call("with a mask", buf(selTimeout), buf(selPack))
	pack(true, 4)
	call("ss_len 4", buf(selTimeout), buf(selPack))
	pack(false, 4)
	call("no mask, ss_len 4", buf(selTimeout), buf(selPack))
	call("pack unmapped", buf(selTimeout), faultAddr{})
	call("pack and timeout unmapped", faultAddr{}, faultAddr{})
	binary.LittleEndian.PutUint64(w.guestBuf()[selPack:], 0x1000)
	binary.LittleEndian.PutUint64(w.guestBuf()[selPack+8:], sigsetSize)
	binary.LittleEndian.PutUint64(w.host[selPack:], uint64(guardPage(t)))
	binary.LittleEndian.PutUint64(w.host[selPack+8:], sigsetSize)
	call("mask unmapped", buf(selTimeout), buf(selPack))
	pack(true, sigsetSize)
	w.timeval(0, 1e9)
	call("nsec 1e9", buf(selTimeout), buf(selPack))
	w.timeval(-1, 0)
	call("negative sec", buf(selTimeout), buf(selPack))
	w.timeval(0, 1500000) // a timespec: 1.5 ms
	call("1.5 ms, ready", buf(selTimeout), buf(selPack))
	for _, side := range [][]byte{w.guestBuf(), w.host} {
		sec, nsec := binary.LittleEndian.Uint64(side[selTimeout:]), binary.LittleEndian.Uint64(side[selTimeout+8:])
		if sec != 0 || nsec > 1500000 || nsec == 0 {
			t.Errorf("time left after a ready pselect6 of 1.5 ms: %d s %d ns", sec, nsec)
		}
	}
}

// TestSelectWaits checks select's and pselect6's waits: a timeout with
// nothing ready is waited out and leaves 0 in the timeval; select with no
// fds sleeps; a signal the mask lets through ends pselect6 at once with
// ERESTARTNOHAND and the sets untouched, the temporary mask kept for the
// handler.
func TestSelectWaits(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	sc(p, unix.SYS_PIPE2, base+0x100, 0) // 3 and 4
	mem.mem[0x200] = 1 << 3
	binary.LittleEndian.PutUint64(mem.mem[0x210:], 0)
	binary.LittleEndian.PutUint64(mem.mem[0x218:], 30000)
	start := time.Now()
	if r := sc(p, unix.SYS_SELECT, 4, base+0x200, 0, 0, base+0x210); r != 0 {
		t.Errorf("select 30 ms: %d", r)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("select 30 ms returned after %v", d)
	}
	if s, us := binary.LittleEndian.Uint64(mem.mem[0x210:]), binary.LittleEndian.Uint64(mem.mem[0x218:]); s != 0 || us != 0 {
		t.Errorf("time left after the timeout: %d s %d us", s, us)
	}
	if mem.mem[0x200] != 0 {
		t.Errorf("read set after the timeout: %#x, want empty", mem.mem[0x200])
	}
	binary.LittleEndian.PutUint64(mem.mem[0x218:], 20000)
	start = time.Now()
	if r := sc(p, unix.SYS_SELECT, 0, 0, 0, 0, base+0x210); r != 0 {
		t.Errorf("select with no fds, 20 ms: %d", r)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("select with no fds, 20 ms, returned after %v", d)
	}

	mt := p.MainTask()
	mt.sigmask = sigBit(unix.SIGUSR1)
	p.sig.pending |= sigBit(unix.SIGUSR1)
	mem.mem[0x200] = 1 << 3
	binary.LittleEndian.PutUint64(mem.mem[0x220:], 0)
	binary.LittleEndian.PutUint64(mem.mem[0x230:], base+0x220)
	binary.LittleEndian.PutUint64(mem.mem[0x238:], sigsetSize)
	binary.LittleEndian.PutUint64(mem.mem[0x210:], 0) // a zero timeout too is interrupted
	binary.LittleEndian.PutUint64(mem.mem[0x218:], 0)
	a := [6]uint64{4, base + 0x200, 0, 0, base + 0x210, base + 0x230}
	p.mu.Lock() // as HandleSyscall holds it
	r := sysPselect6(mt, &a)
	p.mu.Unlock()
	if r != errno(errRestartNoHand) {
		t.Errorf("pselect6 with SIGUSR1 let through: %d, want ERESTARTNOHAND", int64(r))
	}
	if mem.mem[0x200] != 1<<3 {
		t.Errorf("read set after an interrupted pselect6: %#x, want as it was", mem.mem[0x200])
	}
	if mt.sigmask != 0 || !mt.tsig.restoreMask || mt.tsig.savedMask != sigBit(unix.SIGUSR1) {
		t.Errorf("mask %#x, restore %v, saved %#x: want the temporary mask in place until the handler", mt.sigmask, mt.tsig.restoreMask, mt.tsig.savedMask)
	}
}

// TestPollHostStdin: stdin behind a host pipe with nothing in it is not
// readable, so poll and select with a timeout wait it out and return 0
// (as the host's do on the same pipe); a byte arriving while they wait
// wakes them; stdin at its end (the write end closed) is readable.
func TestPollHostStdin(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	hp := hostPipe(t, 0)
	p.cfg.StdioFDs[0] = hp[0]
	p.waitable = waitableFDs(p.cfg.StdioFDs)
	// poll(stdin) at 0x100, its host twin in hostFds.
	binary.LittleEndian.PutUint32(mem.mem[0x100:], 0)
	binary.LittleEndian.PutUint32(mem.mem[0x104:], unix.POLLIN)
	hostFds := []unix.PollFd{{Fd: int32(hp[0]), Events: unix.POLLIN}}
	hostPoll := func() int {
		n, err := unix.Poll(hostFds, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := time.Now()
	if r, h := sc(p, unix.SYS_POLL, base+0x100, 1, 50), hostPoll(); r != int64(h) || r != 0 {
		t.Errorf("poll of an empty host pipe: %d, the host %d, want 0", r, h)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("poll of an empty host pipe for 50 ms returned after %v", d)
	}
	mem.mem[0x200] = 1
	binary.LittleEndian.PutUint64(mem.mem[0x210:], 0)
	binary.LittleEndian.PutUint64(mem.mem[0x218:], 20000)
	if r := sc(p, unix.SYS_SELECT, 1, base+0x200, 0, 0, base+0x210); r != 0 || mem.mem[0x200] != 0 {
		t.Errorf("select of an empty host pipe: %d, set %#x, want 0", r, mem.mem[0x200])
	}
	// Rust's start-up check: no events asked, none reported.
	binary.LittleEndian.PutUint32(mem.mem[0x104:], 0)
	if r := sc(p, unix.SYS_POLL, base+0x100, 1, 0); r != 0 || mem.mem[0x106] != 0 {
		t.Errorf("poll of stdin for no events: %d, revents %#x", r, mem.mem[0x106])
	}
	binary.LittleEndian.PutUint32(mem.mem[0x104:], unix.POLLIN)

	for _, call := range []struct {
		name string
		run  func() int64
	}{
		{"poll", func() int64 { return sc(p, unix.SYS_POLL, base+0x100, 1, 5000) }},
		{"select", func() int64 {
			mem.mem[0x200] = 1
			return sc(p, unix.SYS_SELECT, 1, base+0x200, 0, 0, 0)
		}},
	} {
		go func() {
			time.Sleep(30 * time.Millisecond)
			unix.Write(hp[1], []byte("x"))
		}()
		start := time.Now()
		if r := call.run(); r != 1 {
			t.Errorf("%s waiting for the host pipe: %d, want 1", call.name, r)
		}
		if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
			t.Errorf("%s waiting for the host pipe returned after %v, want about 30 ms", call.name, d)
		}
		var b [1]byte
		unix.Read(hp[0], b[:])
	}
	ended := hostPipe(t, 0)
	hd, err := unix.Dup(ended[0])
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hd)
	p.cfg.StdioFDs[0] = hd
	p.waitable = waitableFDs(p.cfg.StdioFDs)
	hostFds[0].Fd = int32(hd)
	unix.Close(ended[1])
	ended[1] = -1
	if r, h := sc(p, unix.SYS_POLL, base+0x100, 1, 0), hostPoll(); r != 1 || mem.mem[0x106] != byte(hostFds[0].Revents) {
		t.Errorf("poll of a host pipe at its end: %d, revents %#x, the host %d %#x", r, mem.mem[0x106], h, hostFds[0].Revents)
	}
}

// TestFDTableSizeMatchesHost: the fd table's size (select's bound,
// /proc's FDSize) grows as Linux's when a high fd is installed, never
// shrinks, and a fork's copy is sized by the highest fd open (dup_fd).
func TestFDTableSizeMatchesHost(t *testing.T) {
	h := newProcHarness(t)
	p := h.root
	if got := procFDSize(t, p); got != fdTableBase {
		t.Errorf("FDSize at first: %d, want %d", got, fdTableBase)
	}
	for _, fd := range []int{300, 1000} {
		if r := sc(p, unix.SYS_DUP2, 0, uint64(fd)); r != int64(fd) {
			t.Fatalf("dup2 to %d in mmvm: %d", fd, r)
		}
		sc(p, unix.SYS_CLOSE, uint64(fd))
		if err := unix.Dup2(0, fd); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		if g, hs := procFDSize(t, p), hostFDSize(t); g != hs {
			t.Errorf("FDSize after fd %d: mmvm %d, the host %d", fd, g, hs)
		}
	}
	// Only 0-2 open: the child's table is the base size.
	if got := procFDSize(t, h.fork(t, p.main).Process); got != fdTableBase {
		t.Errorf("FDSize of a child forked with fds 0-2: %d, want %d", got, fdTableBase)
	}
	// Fd 200 open: 256 slots hold it.
	sc(p, unix.SYS_DUP2, 0, 200)
	if got := procFDSize(t, h.fork(t, p.main).Process); got != 256 {
		t.Errorf("FDSize of a child forked with fd 200 open: %d, want 256", got)
	}
}
