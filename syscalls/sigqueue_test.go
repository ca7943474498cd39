package syscalls

import (
	"encoding/binary"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// selfTID is the calling thread on each side: the test's main task and the
// host thread the test is locked to.
type selfTID struct{}

func (selfTID) values(w *twin) (uint64, uint64) { return uint64(w.p.main.tid), uint64(unix.Gettid()) }

// selfPID is the calling process on each side.
type selfPID struct{}

func (selfPID) values(w *twin) (uint64, uint64) { return uint64(w.p.cfg.PID), uint64(unix.Getpid()) }

// TestSigqueueinfoMatchesHost queues signals to the calling thread with
// rt_tgsigqueueinfo and takes them with rt_sigtimedwait, on both sides:
// the siginfo arrives as written but for si_signo, the si_code rules
// (EPERM for a forged one to another thread), E2BIG for an unknown
// layout with expansion bytes, and the argument checks of both calls.
func TestSigqueueinfoMatchesHost(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := newTwin(t)
	const sig = 36 // SIGRTMIN+2 to the kernel
	w.set(0x180, u64(1<<(sig-1)|1<<(unix.SIGUSR1-1)|1<<(unix.SIGSEGV-1)|1<<(unix.SIGSYS-1)))
	w.call("block", unix.SYS_RT_SIGPROCMASK, num(unix.SIG_BLOCK), buf(0x180), num(0), num(8))
	defer func() {
		// Take what the host queued but the test did not wait for
		// (mmvm having answered otherwise) before unblocking: a
		// SIGSEGV no fault raised would end the test binary.
		zero := hostMem(16)
		for hostRet(unix.SYS_RT_SIGTIMEDWAIT, hostAddr(w.host[0x180:]), 0, hostAddr(zero), 8) > 0 {
		}
		w.call("unblock", unix.SYS_RT_SIGPROCMASK, num(unix.SIG_UNBLOCK), buf(0x180), num(0), num(8))
	}()
	// info writes a siginfo_t at 0x100 with si_signo, si_code, a
	// padding byte, the union's first words and one expansion byte.
	info := func(signo, code int32, expansion byte) {
		b := make([]byte, siginfoSize)
		le := binary.LittleEndian
		le.PutUint32(b[0:], uint32(signo))
		le.PutUint32(b[4:], 3)
		le.PutUint32(b[8:], uint32(code))
		b[12] = 9
		le.PutUint32(b[16:], 1234)
		le.PutUint32(b[20:], 99)
		le.PutUint64(b[24:], 0x1122334455667788)
		b[40] = 5
		b[100] = expansion
		w.set(0x100, b)
	}
	wait := func(what string) {
		t.Helper()
		w.set(0x40, make([]byte, siginfoSize))
		w.call(what+": rt_sigtimedwait", unix.SYS_RT_SIGTIMEDWAIT, buf(0x180), buf(0x40), buf(0x1c0), num(8))
		w.same(what+": the siginfo", 0x40, siginfoSize)
	}
	w.set(0x1c0, make([]byte, 16)) // a zero timeout
	for _, c := range []struct {
		what        string
		signo, code int32
		expansion   byte
	}{
		{"SI_QUEUE", sig, -1, 0},
		{"SI_QUEUE of another signal", int32(unix.SIGUSR1), -1, 0},
		{"SI_QUEUE with expansion bytes", sig, -1, 1},
		{"SI_USER to itself", sig, 0, 0},
		{"SI_TKILL to itself", sig, siTkill, 0},
		{"SI_TIMER", sig, siTimer, 0},
		{"SI_KERNEL with expansion bytes", sig, siKernel, 1},
		{"SI_ASYNCNL with expansion bytes", sig, siAsyncNL, 1},
		{"SEGV_CPERR", int32(unix.SIGSEGV), 10, 1},
		{"SIGSEGV code 11", int32(unix.SIGSEGV), 11, 1},
		{"SIGSEGV code 11, no expansion", int32(unix.SIGSEGV), 11, 0},
		{"SIGUSR1 code 6", int32(unix.SIGUSR1), 6, 1},
		{"SIGUSR1 code 7", int32(unix.SIGUSR1), 7, 1},
		{"SYS_USER_DISPATCH", int32(unix.SIGSYS), 2, 1},
		{"SIGSYS code 3", int32(unix.SIGSYS), 3, 1},
		{"SIGSYS code 3 to signal 0", 0, 3, 1},
		{"unknown negative code", sig, -8, 1},
	} {
		// The signal sent is c.signo; the siginfo's si_signo is
		// always sig.
		info(sig, c.code, c.expansion)
		if w.call(c.what, unix.SYS_RT_TGSIGQUEUEINFO, selfPID{}, selfTID{}, num(c.signo), buf(0x100)) == 0 {
			wait(c.what)
		}
	}
	info(sig, -1, 0)
	w.call("signal 0", unix.SYS_RT_TGSIGQUEUEINFO, selfPID{}, selfTID{}, num(0), buf(0x100))
	w.call("signal 65", unix.SYS_RT_TGSIGQUEUEINFO, selfPID{}, selfTID{}, num(65), buf(0x100))
	w.call("tgid 0", unix.SYS_RT_TGSIGQUEUEINFO, num(0), selfTID{}, num(sig), buf(0x100))
	w.call("tid -1", unix.SYS_RT_TGSIGQUEUEINFO, selfPID{}, num(1<<32-1), num(sig), buf(0x100))
	w.call("a siginfo that faults", unix.SYS_RT_TGSIGQUEUEINFO, selfPID{}, selfTID{}, num(sig), faultAddr{})
	w.call("faults before the tids", unix.SYS_RT_TGSIGQUEUEINFO, num(0), num(0), num(sig), faultAddr{})
	w.call("no such thread", unix.SYS_RT_TGSIGQUEUEINFO, selfPID{}, num(1<<22+7), num(sig), buf(0x100))
	w.call("rt_sigqueueinfo, no such pid", unix.SYS_RT_SIGQUEUEINFO, num(1<<22+7), num(sig), buf(0x100))
	w.call("rt_sigqueueinfo, pid 0", unix.SYS_RT_SIGQUEUEINFO, num(0), num(sig), buf(0x100))
	w.call("rt_sigqueueinfo, pid -1", unix.SYS_RT_SIGQUEUEINFO, num(1<<32-1), num(sig), buf(0x100))
	w.call("rt_sigqueueinfo, signal 65", unix.SYS_RT_SIGQUEUEINFO, selfPID{}, num(65), buf(0x100))
	w.call("rt_sigqueueinfo, signal 0", unix.SYS_RT_SIGQUEUEINFO, selfPID{}, num(0), buf(0x100))
	w.call("rt_sigqueueinfo, a fault", unix.SYS_RT_SIGQUEUEINFO, selfPID{}, num(sig), faultAddr{})
	info(sig, 0, 0)
	w.call("SI_USER to pid 1", unix.SYS_RT_SIGQUEUEINFO, num(1), num(sig), buf(0x100))
	w.call("SI_USER to pid 1 before ESRCH", unix.SYS_RT_SIGQUEUEINFO, num(1<<22+7), num(sig), buf(0x100))
	w.call("SI_USER to another tid", unix.SYS_RT_TGSIGQUEUEINFO, num(1), num(1), num(sig), buf(0x100))
	info(sig, siTkill, 0)
	w.call("SI_TKILL to pid 1", unix.SYS_RT_SIGQUEUEINFO, num(1), num(sig), buf(0x100))
	info(sig, siKernel, 1)
	w.call("SI_KERNEL to pid 0", unix.SYS_RT_SIGQUEUEINFO, num(0), num(sig), buf(0x100))
	info(sig, 100, 1)
	w.call("E2BIG before EPERM", unix.SYS_RT_SIGQUEUEINFO, num(1), num(sig), buf(0x100))
}
