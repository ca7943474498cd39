package syscalls

import (
	"encoding/binary"
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
	if p.sigmask != 1<<9 {
		t.Errorf("mask %#x after a refused call, want %#x", p.sigmask, 1<<9)
	}
}
