package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSigtimedwaitAndSignalfd checks that rt_sigtimedwait and a signalfd
// take blocked signals of their set with the siginfo Linux gives (the
// guest program sigwait.c compares the rest with the host), and that a
// signal of another set stays pending.
func TestSigtimedwaitAndSignalfd(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	le := binary.LittleEndian
	const (
		set     = base + 0x100 // sigset_t
		zero    = base + 0x110 // struct timespec {0, 0}
		info    = base + 0x200 // siginfo_t
		sfdBuf  = base + 0x400 // struct signalfd_siginfo[2]
		usr1    = 1 << (unix.SIGUSR1 - 1)
		usr2    = 1 << (unix.SIGUSR2 - 1)
		tgkill  = unix.SYS_TGKILL
		waitNr  = unix.SYS_RT_SIGTIMEDWAIT
		blockNr = unix.SYS_RT_SIGPROCMASK
	)
	le.PutUint64(mem.mem[0x100:], usr1|usr2)
	if r := p.Syscall(blockNr, [6]uint64{unix.SIG_BLOCK, set, 0, 8}); r != 0 {
		t.Fatalf("rt_sigprocmask: %d", int64(r))
	}
	tid := uint64(p.main.tid)
	p.Syscall(tgkill, [6]uint64{42, tid, uint64(unix.SIGUSR2)})
	if r := p.Syscall(waitNr, [6]uint64{set, info, zero, 8}); r != uint64(unix.SIGUSR2) {
		t.Fatalf("rt_sigtimedwait: %d, want SIGUSR2", int64(r))
	}
	if signo, code, pid := le.Uint32(mem.mem[0x200:]), int32(le.Uint32(mem.mem[0x208:])), le.Uint32(mem.mem[0x210:]); signo != uint32(unix.SIGUSR2) || code != siTkill || pid != 42 {
		t.Errorf("siginfo: signo %d code %d pid %d, want %d %d 42", signo, code, pid, unix.SIGUSR2, siTkill)
	}
	if r := p.Syscall(waitNr, [6]uint64{set, info, zero, 8}); r != neg(unix.EAGAIN) {
		t.Errorf("rt_sigtimedwait with none pending: %d, want EAGAIN", int64(r))
	}
	le.PutUint64(mem.mem[0x100:], usr1)
	fd := p.Syscall(unix.SYS_SIGNALFD4, [6]uint64{^uint64(0), set, 8, unix.O_NONBLOCK})
	if int64(fd) < 0 {
		t.Fatalf("signalfd4: %d", int64(fd))
	}
	p.Syscall(tgkill, [6]uint64{42, tid, uint64(unix.SIGUSR2)})
	p.Syscall(tgkill, [6]uint64{42, tid, uint64(unix.SIGUSR1)})
	if r := p.Syscall(unix.SYS_READ, [6]uint64{fd, sfdBuf, 256}); r != 128 {
		t.Fatalf("signalfd read: %d, want 128", int64(r))
	}
	if signo, code, pid := le.Uint32(mem.mem[0x400:]), int32(le.Uint32(mem.mem[0x408:])), le.Uint32(mem.mem[0x40c:]); signo != uint32(unix.SIGUSR1) || code != siTkill || pid != 42 {
		t.Errorf("signalfd_siginfo: signo %d code %d pid %d, want %d %d 42", signo, code, pid, unix.SIGUSR1, siTkill)
	}
	if p.main.tsig.pending != usr2 {
		t.Errorf("pending %#x, want SIGUSR2 alone", p.main.tsig.pending)
	}
}

// TestSignalfdSiginfoLayout checks struct signalfd_siginfo's fields for a
// POSIX timer's and a child's siginfo.
func TestSignalfdSiginfoLayout(t *testing.T) {
	le := binary.LittleEndian
	b := signalfdSiginfo(unix.SIGALRM, &sigInfo{signo: int32(unix.SIGALRM), code: siTimer, timerID: 3, overrun: 2, value: 0x1_0000_0007})
	if le.Uint32(b[24:]) != 3 || le.Uint32(b[32:]) != 2 || le.Uint32(b[44:]) != 7 || le.Uint64(b[48:]) != 0x1_0000_0007 {
		t.Errorf("timer: tid %d overrun %d int %d ptr %#x", le.Uint32(b[24:]), le.Uint32(b[32:]), le.Uint32(b[44:]), le.Uint64(b[48:]))
	}
	b = signalfdSiginfo(unix.SIGCHLD, &sigInfo{signo: int32(unix.SIGCHLD), code: 1, pid: 9, uid: 5, status: 3})
	if le.Uint32(b[12:]) != 9 || le.Uint32(b[16:]) != 5 || le.Uint32(b[40:]) != 3 {
		t.Errorf("child: pid %d uid %d status %d", le.Uint32(b[12:]), le.Uint32(b[16:]), le.Uint32(b[40:]))
	}
}
