package syscalls

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPpollMatchesHost(t *testing.T) {
	w := newTwin(t)
	w.pipe("p", unix.O_NONBLOCK)
	// The pollfd at 0x80 (its fd differs on the two sides), the
	// timespec at 0x90, the mask at 0xa0; revents and the time left are
	// compared where they must agree.
	g, h := fdArg("pr").values(w)
	binary.LittleEndian.PutUint32(w.guestBuf()[0x80:], uint32(g))
	binary.LittleEndian.PutUint32(w.host[0x80:], uint32(h))
	w.set(0x84, []byte{unix.POLLIN, 0, 0, 0})
	timespec := func(sec, nsec uint64) { w.set(0x90, append(u64(sec), u64(nsec)...)) }
	left := func(what string, b []byte) time.Duration {
		return time.Duration(binary.LittleEndian.Uint64(b[0x90:]))*time.Second + time.Duration(binary.LittleEndian.Uint64(b[0x98:]))
	}
	w.set(0xa0, u64(0))
	timespec(0, 0)
	w.call("nothing ready, zero timeout", unix.SYS_PPOLL, buf(0x80), num(1), buf(0x90), num(0), num(0))
	w.same("the zero timeout is left alone", 0x90, 16)
	w.call("nfds's upper half ignored", unix.SYS_PPOLL, buf(0x80), num(1<<32|1), buf(0x90), num(0), num(0))
	w.call("poll, nfds's upper half ignored", unix.SYS_POLL, buf(0x80), num(1<<32|1), num(0))
	timespec(0, 1e9)
	w.call("nsec 1e9", unix.SYS_PPOLL, buf(0x80), num(1), buf(0x90), num(0), num(0))
	timespec(1<<63, 0)
	w.call("negative sec", unix.SYS_PPOLL, buf(0x80), num(1), buf(0x90), num(0), num(0))
	w.call("timeout unmapped", unix.SYS_PPOLL, buf(0x80), num(1), faultAddr{}, num(0), num(0))
	timespec(1, 0)
	w.call("sigsetsize 4", unix.SYS_PPOLL, buf(0x80), num(1), buf(0x90), buf(0xa0), num(4))
	w.call("mask unmapped", unix.SYS_PPOLL, buf(0x80), num(1), buf(0x90), faultAddr{}, num(8))
	w.same("a bad mask leaves the timeout alone", 0x90, 16)
	timespec(0, 0)
	w.call("no mask, sigsetsize 4", unix.SYS_PPOLL, buf(0x80), num(1), buf(0x90), num(0), num(4))
	timespec(1, 0)
	w.put("pw", 1)
	w.call("ready, with a mask", unix.SYS_PPOLL, buf(0x80), num(1), buf(0x90), buf(0xa0), num(8))
	w.same("revents", 0x86, 2)
	for _, side := range []struct {
		name string
		b    []byte
	}{{"mmvm", w.guestBuf()}, {"the host", w.host}} {
		if d := left("", side.b); d <= 900*time.Millisecond || d > time.Second {
			t.Errorf("%s: time left %v after a ready ppoll of 1 s", side.name, d)
		}
	}
	timespec(1, 0)
	w.call("pollfds unmapped", unix.SYS_PPOLL, faultAddr{}, num(1), buf(0x90), num(0), num(0))
	for _, side := range []struct {
		name string
		b    []byte
	}{{"mmvm", w.guestBuf()}, {"the host", w.host}} {
		if d := left("", side.b); d <= 900*time.Millisecond || d > time.Second {
			t.Errorf("%s: time left %v after a faulting ppoll of 1 s", side.name, d)
		}
	}
}

// TestPpollWaits checks ppoll's waits: a timeout with nothing ready waits
// it out and leaves 0; a signal its mask lets through ends it at once with
// ERESTARTNOHAND, the temporary mask kept for the handler.
func TestPpollWaits(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	sc(p, unix.SYS_PIPE2, base+0x100, 0)
	binary.LittleEndian.PutUint32(mem.mem[0x200:], 3)
	binary.LittleEndian.PutUint32(mem.mem[0x204:], unix.POLLIN)
	binary.LittleEndian.PutUint64(mem.mem[0x210:], 0)
	binary.LittleEndian.PutUint64(mem.mem[0x218:], 30e6)
	start := time.Now()
	if r := sc(p, unix.SYS_PPOLL, base+0x200, 1, base+0x210, 0, 0); r != 0 {
		t.Errorf("ppoll 30 ms: %d", r)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("ppoll 30 ms returned after %v", d)
	}
	if s, ns := binary.LittleEndian.Uint64(mem.mem[0x210:]), binary.LittleEndian.Uint64(mem.mem[0x218:]); s != 0 || ns != 0 {
		t.Errorf("time left after the timeout: %d s %d ns", s, ns)
	}
	mt := p.MainTask()
	mt.sigmask = sigBit(unix.SIGUSR1)
	p.sig.pending |= sigBit(unix.SIGUSR1)
	binary.LittleEndian.PutUint64(mem.mem[0x220:], 0)
	a := [6]uint64{base + 0x200, 1, 0, base + 0x220, sigsetSize}
	start = time.Now()
	p.mu.Lock() // as HandleSyscall holds it
	r := sysPpoll(mt, &a)
	p.mu.Unlock()
	if r != errno(errRestartNoHand) {
		t.Errorf("ppoll with SIGUSR1 let through: %d, want ERESTARTNOHAND", int64(r))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ppoll with a signal let through waited %v", d)
	}
	if mt.sigmask != 0 || !mt.tsig.restoreMask || mt.tsig.savedMask != sigBit(unix.SIGUSR1) {
		t.Errorf("mask %#x, restore %v, saved %#x: want the temporary mask in place until the handler", mt.sigmask, mt.tsig.restoreMask, mt.tsig.savedMask)
	}
}
