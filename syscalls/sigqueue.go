package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// rt_sigqueueinfo and rt_tgsigqueueinfo send a signal with a siginfo the
// caller wrote (glibc's sigqueue and pthread_sigqueue), as Linux's
// kernel/signal.c: the first 48 bytes (struct kernel_siginfo: si_signo,
// si_errno, si_code, the padding and the 32-byte union) are kept as
// given, but si_signo, which becomes the signal sent; the rest of the
// 128 bytes must be zero unless the layout of that signal and si_code is
// known (E2BIG). A process
// may not forge a signal from the kernel or a kill (si_code >= 0 or
// SI_TKILL) to another thread (EPERM).

// siginfoKernelSize is sizeof(struct kernel_siginfo): the part of a
// siginfo_t the kernel keeps; the rest, to siginfoSize, is expansion.
const siginfoKernelSize = 48

// The limits of the signal-specific si_codes (asm-generic/siginfo.h's
// NSIG*), by signal, as Linux's sig_sicodes: a positive si_code up to
// the limit has a known layout. Signals not listed take NSIGPOLL.
var sigSpecificCodes = map[unix.Signal]int32{
	unix.SIGILL: 11, unix.SIGFPE: 15, unix.SIGSEGV: 10, unix.SIGBUS: 5,
	unix.SIGTRAP: 6, unix.SIGCHLD: 6, unix.SIGIO: 6, unix.SIGSYS: 2,
}

// siginfo_t si_codes at or below 0 that Linux knows (SI_DETHREAD,
// SI_ASYNCNL) and NSIGPOLL, the limit of a signal without codes of its own.
const (
	siDethread = -7
	siAsyncNL  = -60
	nsigPoll   = 6
)

// knownSiginfoLayout is Linux's known_siginfo_layout, on the signal sent
// (not the si_signo the caller wrote) and the caller's si_code.
func knownSiginfoLayout(sig unix.Signal, code int32) bool {
	switch {
	case code == siKernel:
		return true
	case code > siUser:
		limit, ok := sigSpecificCodes[sig]
		if !ok {
			limit = nsigPoll
		}
		return code <= limit
	}
	return code >= siDethread || code == siAsyncNL
}

func sysRtSigqueueinfo(t *Task, a *[6]uint64) uint64 {
	info, e := t.userSiginfo(a[2], a[1])
	if e != 0 {
		return errno(e)
	}
	pid := int32(a[0])
	if forged(info.code) && pid != int32(t.tid) {
		return errno(unix.EPERM)
	}
	// kill_pid_info: a thread id names its process; 0 and below none.
	var target *Task
	if pid > 0 {
		target = t.tree.task(int(pid))
	}
	if target == nil {
		return errno(unix.ESRCH)
	}
	n := int32(a[1])
	if n < 0 || n > 64 {
		return errno(unix.EINVAL)
	}
	sig := unix.Signal(n)
	if e := t.mayKill(target.Process.main, sig); e != 0 {
		return errno(e)
	}
	if sig == 0 || target.Process.ended.Load() {
		return 0
	}
	return errno0(target.Process.sendToProcess(t, sig, info))
}

func sysRtTgsigqueueinfo(t *Task, a *[6]uint64) uint64 {
	info, e := t.userSiginfo(a[3], a[2])
	if e != 0 {
		return errno(e)
	}
	tgid, tid := int32(a[0]), int32(a[1])
	if tgid <= 0 || tid <= 0 {
		return errno(unix.EINVAL)
	}
	if forged(info.code) && tid != int32(t.tid) {
		return errno(unix.EPERM)
	}
	// do_send_specific: the thread first, then the signal.
	target := t.tree.task(int(tid))
	if target == nil || target.cfg.PID != int(tgid) {
		return errno(unix.ESRCH)
	}
	n := int32(a[2])
	if n < 0 || n > 64 {
		return errno(unix.EINVAL)
	}
	sig := unix.Signal(n)
	if e := t.mayKill(target, sig); e != 0 {
		return errno(e)
	}
	if sig == 0 || target.Exited() {
		return 0
	}
	return errno0(target.sendToThread(t, sig, info))
}

// forged says a caller's si_code claims the signal came from the kernel
// or from kill or tkill, which only a thread signalling itself may claim.
func forged(code int32) bool { return code >= 0 || code == siTkill }

// userSiginfo reads the siginfo_t at addr for signal sig as Linux's
// __copy_siginfo_from_user: EFAULT if the kept part is unreadable; for a
// layout Linux does not know, EFAULT if the expansion is unreadable and
// E2BIG if it is not all zero. sig is checked later.
func (t *Task) userSiginfo(addr, sig uint64) (sigInfo, unix.Errno) {
	var b [siginfoSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b[:siginfoKernelSize]); err != nil {
		return sigInfo{}, unix.EFAULT
	}
	le := binary.LittleEndian
	info := sigInfo{code: int32(le.Uint32(b[8:])), why: "queued by the program with its own siginfo"}
	if !knownSiginfoLayout(unix.Signal(int32(sig)), info.code) {
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr+siginfoKernelSize), b[siginfoKernelSize:]); err != nil {
			return sigInfo{}, unix.EFAULT
		}
		for _, c := range b[siginfoKernelSize:] {
			if c != 0 {
				return sigInfo{}, unix.E2BIG
			}
		}
	}
	raw := [siginfoKernelSize - 4]byte(b[4:siginfoKernelSize])
	info.raw = &raw
	// The fields signalfd reads by layout, from the union at 16.
	u := b[16:]
	info.pid, info.uid = le.Uint32(u), le.Uint32(u[4:])
	info.addr = le.Uint64(u)
	info.timerID, info.overrun = int32(le.Uint32(u)), int32(le.Uint32(u[4:]))
	info.value = le.Uint64(u[8:])
	info.status = int32(le.Uint32(u[8:]))
	return info, 0
}
