package syscalls

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// itimerspec is a struct itimerspec: interval, then value.
func itimerspec(interval, value time.Duration) []byte {
	b := make([]byte, itimerspecSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(interval/time.Second))
	le.PutUint64(b[8:], uint64(interval%time.Second))
	le.PutUint64(b[16:], uint64(value/time.Second))
	le.PutUint64(b[24:], uint64(value%time.Second))
	return b
}

// TestTimerfdMatchesHost compares what does not depend on the time: the
// checks of the three calls, the fd's flags, disarmed and fired
// one-shot timers, an absolute time past, read's buffer rules, poll,
// TFD_IOC_SET_TICKS and write.
func TestTimerfdMatchesHost(t *testing.T) {
	w := newTwin(t)
	pfd := func(name string, off int, events uint16) {
		g, h := fdArg(name).values(w)
		binary.LittleEndian.PutUint32(w.guestBuf()[off:], uint32(g))
		binary.LittleEndian.PutUint32(w.host[off:], uint32(h))
		binary.LittleEndian.PutUint32(w.guestBuf()[off+4:], uint32(events))
		binary.LittleEndian.PutUint32(w.host[off+4:], uint32(events))
	}
	w.open("bad", "unknown flag", unix.SYS_TIMERFD_CREATE, num(unix.CLOCK_MONOTONIC), num(1))
	w.open("bad", "CLOCK_PROCESS_CPUTIME_ID", unix.SYS_TIMERFD_CREATE, num(unix.CLOCK_PROCESS_CPUTIME_ID), num(0))
	w.open("bad", "CLOCK_MONOTONIC_RAW", unix.SYS_TIMERFD_CREATE, num(unix.CLOCK_MONOTONIC_RAW), num(0))
	w.open("bad", "clock -1", unix.SYS_TIMERFD_CREATE, num(1<<32-1), num(0))
	w.open("m", "CLOCK_MONOTONIC nonblock cloexec", unix.SYS_TIMERFD_CREATE, num(unix.CLOCK_MONOTONIC), num(unix.TFD_NONBLOCK|unix.TFD_CLOEXEC))
	w.open("r", "CLOCK_REALTIME", unix.SYS_TIMERFD_CREATE, num(unix.CLOCK_REALTIME), num(0))
	w.open("b", "CLOCK_BOOTTIME nonblock", unix.SYS_TIMERFD_CREATE, num(unix.CLOCK_BOOTTIME), num(unix.TFD_NONBLOCK))
	w.open("a", "CLOCK_BOOTTIME_ALARM as root", unix.SYS_TIMERFD_CREATE, num(clockBoottimeAlrm), num(unix.TFD_NONBLOCK))
	w.open("e", "eventfd", unix.SYS_EVENTFD2, num(0), num(0))
	for _, fd := range []string{"m", "r", "b", "a"} {
		w.call("F_GETFL "+fd, unix.SYS_FCNTL, fdArg(fd), num(unix.F_GETFL))
		w.call("F_GETFD "+fd, unix.SYS_FCNTL, fdArg(fd), num(unix.F_GETFD))
	}
	w.set(0, make([]byte, 0x40))
	w.call("gettime disarmed", unix.SYS_TIMERFD_GETTIME, fdArg("m"), buf(0))
	w.call("gettime into a fault", unix.SYS_TIMERFD_GETTIME, fdArg("m"), faultAddr{})
	w.call("gettime of an eventfd", unix.SYS_TIMERFD_GETTIME, fdArg("e"), buf(0))
	w.call("gettime of fd 999", unix.SYS_TIMERFD_GETTIME, num(999), buf(0))
	w.call("read disarmed", unix.SYS_READ, fdArg("m"), buf(0), num(8))
	w.call("read 7 bytes", unix.SYS_READ, fdArg("m"), buf(0), num(7))
	w.call("write", unix.SYS_WRITE, fdArg("m"), buf(0), num(8))
	w.call("FIONREAD", unix.SYS_IOCTL, fdArg("m"), num(unix.TIOCINQ), buf(0))
	w.call("lseek", unix.SYS_LSEEK, fdArg("m"), num(0), num(0))

	w.set(0x100, itimerspec(0, time.Hour))
	w.call("settime of fd 999", unix.SYS_TIMERFD_SETTIME, num(999), num(0), buf(0x100), num(0))
	w.call("settime of an eventfd", unix.SYS_TIMERFD_SETTIME, fdArg("e"), num(0), buf(0x100), num(0))
	w.call("settime unknown flag", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(4), buf(0x100), num(0))
	w.call("settime unknown flag, fd 999", unix.SYS_TIMERFD_SETTIME, num(999), num(4), buf(0x100), num(0))
	w.call("settime from a fault", unix.SYS_TIMERFD_SETTIME, num(999), num(4), faultAddr{}, num(0))
	w.call("settime NULL", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(0), num(0), num(0))
	w.set(0x100, itimerspec(0, time.Hour))
	binary.LittleEndian.PutUint64(w.guestBuf()[0x118:], 1e9)
	binary.LittleEndian.PutUint64(w.host[0x118:], 1e9)
	w.call("settime nsec 1e9", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(0), buf(0x100), num(0))
	w.set(0x100, itimerspec(0, 0))
	w.call("settime 0 disarms", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(0), buf(0x100), buf(0))
	w.call("settime, the old into a fault", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(0), buf(0x100), faultAddr{})

	// An absolute time past fires before settime returns: one tick.
	w.set(0x100, itimerspec(0, time.Nanosecond))
	w.call("abs past", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(unix.TFD_TIMER_ABSTIME), buf(0x100), buf(0))
	w.set(0x40, make([]byte, 8))
	pfd("m", 0x40, unix.POLLIN|unix.POLLOUT)
	pfd("b", 0x48, unix.POLLIN|unix.POLLOUT)
	w.call("poll", unix.SYS_POLL, buf(0x40), num(2), num(0))
	w.same("revents", 0x46, 2)
	w.same("revents", 0x4e, 2)
	w.call("read 7 bytes with a tick", unix.SYS_READ, fdArg("m"), buf(0), num(7))
	w.call("read the tick", unix.SYS_READ, fdArg("m"), buf(0), num(8))
	w.call("read again", unix.SYS_READ, fdArg("m"), buf(0), num(8))
	w.call("gettime after a one-shot", unix.SYS_TIMERFD_GETTIME, fdArg("m"), buf(0))
	w.call("abs past again", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(unix.TFD_TIMER_ABSTIME), buf(0x100), buf(0))
	w.call("read into a fault loses it", unix.SYS_READ, fdArg("m"), faultAddr{}, num(8))
	w.call("read after", unix.SYS_READ, fdArg("m"), buf(0), num(8))
	w.call("abs past and settime again resets the ticks", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(unix.TFD_TIMER_ABSTIME), buf(0x100), buf(0))
	w.set(0x100, itimerspec(0, 0))
	w.call("disarm", unix.SYS_TIMERFD_SETTIME, fdArg("m"), num(0), buf(0x100), buf(0))
	w.call("read after the reset", unix.SYS_READ, fdArg("m"), buf(0), num(8))

	// A periodic timer from 1ns on CLOCK_MONOTONIC, every 10^6 s: one
	// tick (both clocks are younger), and gettime sets it for the next.
	w.set(0x100, itimerspec(1e6*time.Second, time.Nanosecond))
	w.call("periodic abs past", unix.SYS_TIMERFD_SETTIME, fdArg("b"), num(unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET), buf(0x100), buf(0))
	w.call("read periodic", unix.SYS_READ, fdArg("b"), buf(0), num(8))
	w.call("read periodic again", unix.SYS_READ, fdArg("b"), buf(0), num(8))

	// TFD_IOC_SET_TICKS.
	w.set(0x20, u64(0))
	w.call("SET_TICKS 0", unix.SYS_IOCTL, fdArg("m"), num(tfdIocSetTicks), buf(0x20))
	w.call("SET_TICKS from a fault", unix.SYS_IOCTL, fdArg("m"), num(tfdIocSetTicks), faultAddr{})
	w.set(0x20, u64(1<<40+5))
	w.call("SET_TICKS", unix.SYS_IOCTL, fdArg("m"), num(tfdIocSetTicks), buf(0x20))
	w.call("poll after SET_TICKS", unix.SYS_POLL, buf(0x40), num(1), num(0))
	w.same("revents", 0x46, 2)
	w.call("read SET_TICKS's", unix.SYS_READ, fdArg("m"), buf(0), num(8))
	w.call("other ioctl", unix.SYS_IOCTL, fdArg("m"), num(unix.TCGETS), buf(0x20))

	// readv takes the 8 bytes across buffers.
	iov := func(off, guest uint64, host uintptr, n uint64) {
		binary.LittleEndian.PutUint64(w.guestBuf()[off:], guest)
		binary.LittleEndian.PutUint64(w.guestBuf()[off+8:], n)
		binary.LittleEndian.PutUint64(w.host[off:], uint64(host))
		binary.LittleEndian.PutUint64(w.host[off+8:], n)
	}
	gb, hb := buf(0).values(w)
	iov(0x180, gb, uintptr(hb), 3)
	iov(0x190, gb+3, uintptr(hb)+3, 4)
	w.set(0x20, u64(0x0102030405060708))
	w.call("SET_TICKS", unix.SYS_IOCTL, fdArg("m"), num(tfdIocSetTicks), buf(0x20))
	w.call("readv 3+4", unix.SYS_READV, fdArg("m"), buf(0x180), num(2))
	iov(0x190, gb+3, uintptr(hb)+3, 5)
	w.call("readv 3+5", unix.SYS_READV, fdArg("m"), buf(0x180), num(2))
}

// TestTimerfdTicks runs timers for real on both sides: a relative
// one-shot that a blocking read waits for, a periodic timer whose
// expiries a read counts as they pass, gettime's remaining time, and a
// read in one thread that another's settime makes return.
func TestTimerfdTicks(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	le := binary.LittleEndian
	fd := uint64(sc(p, unix.SYS_TIMERFD_CREATE, unix.CLOCK_MONOTONIC, 0))
	settime := func(flags uint64, interval, value time.Duration) {
		copy(mem.mem[0x100:], itimerspec(interval, value))
		if r := sc(p, unix.SYS_TIMERFD_SETTIME, fd, flags, base+0x100, 0); r != 0 {
			t.Fatalf("settime: %d", r)
		}
	}
	read := func() uint64 {
		if r := sc(p, unix.SYS_READ, fd, base+0x200, 8); r != 8 {
			t.Fatalf("read: %d", r)
		}
		return le.Uint64(mem.mem[0x200:])
	}
	hfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hfd)
	hread := func() uint64 {
		var b [8]byte
		if _, err := unix.Read(hfd, b[:]); err != nil {
			t.Fatal(err)
		}
		return le.Uint64(b[:])
	}
	hset := func(interval, value time.Duration) {
		its := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(interval)), Value: unix.NsecToTimespec(int64(value))}
		if err := unix.TimerfdSettime(hfd, 0, &its, nil); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	settime(0, 0, 20*time.Millisecond)
	hset(0, 20*time.Millisecond)
	if n, hn := read(), hread(); n != 1 || hn != 1 {
		t.Errorf("one-shot: %d ticks, the host %d", n, hn)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("one-shot read returned after %v", d)
	}

	settime(0, 10*time.Millisecond, 10*time.Millisecond)
	hset(10*time.Millisecond, 10*time.Millisecond)
	time.Sleep(105 * time.Millisecond)
	n, hn := read(), hread()
	if n < 9 || n > 11 || hn < 9 || hn > 11 {
		t.Errorf("periodic after 105ms: %d ticks, the host %d", n, hn)
	}
	if r := sc(p, unix.SYS_TIMERFD_GETTIME, fd, base+0x300); r != 0 {
		t.Fatalf("gettime: %d", r)
	}
	iv, val := le.Uint64(mem.mem[0x308:]), le.Uint64(mem.mem[0x318:])
	if le.Uint64(mem.mem[0x300:]) != 0 || iv != uint64(10*time.Millisecond) || le.Uint64(mem.mem[0x310:]) != 0 || val == 0 || val > uint64(10*time.Millisecond) {
		t.Errorf("gettime of the periodic timer: % x", mem.mem[0x300:0x320])
	}
	// fdinfo shows the clock, the flags and the interval.
	text := string(p.fdInfoText(int32(fd)))
	if !strings.Contains(text, "clockid: 1\n") || !strings.Contains(text, "settime flags: 00\n") || !strings.Contains(text, "it_interval: (0, 10000000)\n") {
		t.Errorf("fdinfo: %q", text)
	}
	settime(0, 0, 0)

	// A blocking read in another thread returns when the timer, set
	// after it began to wait, expires.
	var wg sync.WaitGroup
	wg.Add(1)
	var got int64
	go func() {
		defer wg.Done()
		got = sc(p, unix.SYS_READ, fd, base+0x400, 8)
	}()
	time.Sleep(20 * time.Millisecond)
	settime(0, 0, time.Millisecond)
	wg.Wait()
	if got != 8 || le.Uint64(mem.mem[0x400:]) != 1 {
		t.Errorf("blocked read: %d, %d ticks", got, le.Uint64(mem.mem[0x400:]))
	}
	if r := sc(p, unix.SYS_CLOSE, fd); r != 0 {
		t.Fatalf("close: %d", r)
	}
}

// TestTimerfdAlarmNeedsCapability: without CAP_WAKE_ALARM the alarm
// clocks are EPERM at timerfd_create, and at timerfd_settime for a
// timerfd made while the thread held it, as Linux's timerfd checks
// both.
func TestTimerfdAlarmNeedsCapability(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	fd := uint64(sc(p, unix.SYS_TIMERFD_CREATE, clockRealtimeAlrm, 0))
	if int64(fd) < 0 {
		t.Fatalf("CLOCK_REALTIME_ALARM as root: %d", int64(fd))
	}
	p.main.cred.capEff &^= 1 << unix.CAP_WAKE_ALARM
	for _, clock := range []uint64{clockRealtimeAlrm, clockBoottimeAlrm} {
		if r := sc(p, unix.SYS_TIMERFD_CREATE, clock, 0); r != -int64(unix.EPERM) {
			t.Errorf("clock %d without CAP_WAKE_ALARM: %d, want EPERM", clock, r)
		}
	}
	if r := sc(p, unix.SYS_TIMERFD_CREATE, unix.CLOCK_MONOTONIC, 0); r < 0 {
		t.Errorf("CLOCK_MONOTONIC without CAP_WAKE_ALARM: %d", r)
	}
	copy(mem.mem[0x100:], itimerspec(0, time.Hour))
	if r := sc(p, unix.SYS_TIMERFD_SETTIME, fd, 0, base+0x100, 0); r != -int64(unix.EPERM) {
		t.Errorf("settime of an alarm timerfd without CAP_WAKE_ALARM: %d, want EPERM", r)
	}
}
