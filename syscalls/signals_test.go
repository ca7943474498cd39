package syscalls

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSignalCallsReadBeforeWrite checks Linux's order in rt_sigaction and
// rt_sigprocmask: the new value is read and validated before the old one
// is written, so one buffer may be both, and a refused call writes nothing.
func TestSignalCallsReadBeforeWrite(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	const kill, stop = 1 << (unix.SIGKILL - 1), 1 << (unix.SIGSTOP - 1)
	u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(mem.mem[off:]) }
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(mem.mem[off:], v) }

	// rt_sigaction(SIGUSR1, buf, buf): buf gets the old (default) action,
	// and the new one is installed, without SIGKILL and SIGSTOP in its mask.
	put(0, 0x401000)        // sa_handler
	put(8, 0x04000000)      // sa_flags: SA_RESTORER
	put(16, 0x402000)       // sa_restorer
	put(24, kill|stop|1<<1) // sa_mask: SIGKILL, SIGSTOP, SIGINT
	sig := uint64(unix.SIGUSR1)
	if r := p.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{sig, base, base, 8}); r != 0 {
		t.Fatalf("rt_sigaction(act == oldact) = %d", int64(r))
	}
	if u64(0) != 0 || u64(24) != 0 {
		t.Errorf("old action written back: handler %#x mask %#x, want the default (zeros)", u64(0), u64(24))
	}
	if r := p.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{sig, 0, base + 64, 8}); r != 0 {
		t.Fatalf("rt_sigaction(NULL, oldact) = %d", int64(r))
	}
	if u64(64) != 0x401000 || u64(64+16) != 0x402000 || u64(64+24) != 1<<1 {
		t.Errorf("stored action: handler %#x restorer %#x mask %#x; want 0x401000, 0x402000, %#x", u64(64), u64(80), u64(88), 1<<1)
	}
	// An invalid signal writes no old action.
	put(128, 0xdead)
	if r := p.Syscall(unix.SYS_RT_SIGACTION, [6]uint64{65, 0, base + 128, 8}); r != neg(unix.EINVAL) || u64(128) != 0xdead {
		t.Errorf("rt_sigaction(65) = %d, oldact %#x", int64(r), u64(128))
	}

	// rt_sigprocmask(SIG_BLOCK, buf, buf): the old mask (empty) comes
	// back, the new one takes effect, never with SIGKILL or SIGSTOP.
	put(0, kill|stop|1<<9)
	if r := p.Syscall(unix.SYS_RT_SIGPROCMASK, [6]uint64{unix.SIG_BLOCK, base, base, 8}); r != 0 || u64(0) != 0 {
		t.Fatalf("rt_sigprocmask(set == oldset) = %d, old %#x", int64(r), u64(0))
	}
	if r := p.Syscall(unix.SYS_RT_SIGPROCMASK, [6]uint64{unix.SIG_BLOCK, 0, base, 8}); r != 0 || u64(0) != 1<<9 {
		t.Errorf("mask %#x, want %#x", u64(0), 1<<9)
	}
	// A bad how is EINVAL and writes nothing.
	put(0, 1<<3)
	put(8, 0xdead)
	if r := p.Syscall(unix.SYS_RT_SIGPROCMASK, [6]uint64{7, base, base + 8, 8}); r != neg(unix.EINVAL) || u64(8) != 0xdead {
		t.Errorf("rt_sigprocmask(how 7) = %d, oldset %#x", int64(r), u64(8))
	}
	if p.main.sigmask != 1<<9 {
		t.Errorf("mask %#x after a refused call, want %#x", p.main.sigmask, 1<<9)
	}
}

// TestRealTimeSignalsQueue checks Linux's queueing: a real-time signal
// queues each sending, a standard one is pending once, and with
// RLIMIT_SIGPENDING signals queued a real-time tkill fails with EAGAIN
// while a kill is still made pending, without its siginfo.
func TestRealTimeSignalsQueue(t *testing.T) {
	p, _, _ := newTestProcess(t)
	p.cfg.Limits[unix.RLIMIT_SIGPENDING] = Limit{Cur: 3, Max: 3}
	const rt = unix.Signal(40)
	p.main.sigmask = sigBit(rt) | sigBit(rt+1) | sigBit(unix.SIGUSR1)
	for i := 0; i < 2; i++ {
		if r := p.Syscall(unix.SYS_TKILL, [6]uint64{42, uint64(rt)}); r != 0 {
			t.Fatalf("tkill %d = %d", i, int64(r))
		}
		if r := p.Syscall(unix.SYS_TKILL, [6]uint64{42, uint64(unix.SIGUSR1)}); r != 0 {
			t.Fatalf("tkill SIGUSR1 = %d", int64(r))
		}
	}
	// tkill's signals are the thread's own.
	own := &p.main.tsig.sigQueue
	if len(own.queue[rt]) != 2 || len(own.queue[unix.SIGUSR1]) != 1 || p.sig.queued != 3 {
		t.Fatalf("queued %d of %v, %d of SIGUSR1, %d in all", len(own.queue[rt]), rt, len(own.queue[unix.SIGUSR1]), p.sig.queued)
	}
	if r := p.Syscall(unix.SYS_TKILL, [6]uint64{42, uint64(rt)}); r != neg(unix.EAGAIN) {
		t.Errorf("tkill past RLIMIT_SIGPENDING = %d, want EAGAIN", int64(r))
	}
	if r := p.Syscall(unix.SYS_KILL, [6]uint64{42, uint64(rt + 1)}); r != 0 || p.sig.pending&sigBit(rt+1) == 0 {
		t.Errorf("kill past RLIMIT_SIGPENDING = %d, pending %#x: want it pending", int64(r), p.sig.pending)
	}
	p.main.sigmask = 0
	var got []unix.Signal
	for {
		sig, info, ok := p.main.dequeue()
		if !ok {
			break
		}
		if info.signo != int32(sig) {
			t.Errorf("%v dequeued with si_signo %d", sig, info.signo)
		}
		got = append(got, sig)
	}
	want := []unix.Signal{unix.SIGUSR1, rt, rt, rt + 1}
	if fmt.Sprint(got) != fmt.Sprint(want) || p.sig.queued != 0 || p.sig.pending|own.pending != 0 {
		t.Errorf("dequeued %v, want %v; %d left queued, pending %#x and %#x", got, want, p.sig.queued, p.sig.pending, own.pending)
	}
}
