package syscalls

import (
	"encoding/binary"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Signals the program sends itself (kill, tkill, tgkill, and SIGPIPE from
// a write to a pipe with no reader) take Linux's default actions: the
// program is killed (exit status 128+sig), or the signal is ignored
// (SIGCHLD, SIGCONT, SIGURG, SIGWINCH), or it stops the program, which then
// waits as a stopped process does, until the run ends. A blocked signal
// stays pending until rt_sigprocmask unblocks it; an ignored one is dropped
// when sent, and a pending one when rt_sigaction makes it ignored.
//
// Handlers are not run yet: a signal whose action is a handler the program
// installed is dropped when it would be delivered, and counted by name in
// SignalStats (--stats says so). glibc's and musl's abort() rely on this
// being survivable: when a SIGABRT handler returns, they reset the action
// to SIG_DFL and raise SIGABRT again, which then kills the program.
//
// Signals become deliverable only where these calls make them so: the
// sending calls, rt_sigprocmask (unblocking) and rt_sigaction.

// signalState is the signal state beyond the recorded actions and mask.
type signalState struct {
	// pending has bit sig-1 set for each pending signal (one of each;
	// real-time signals do not queue).
	pending uint64
	// why says, for each pending signal, who sent it.
	why [65]string
	// killedBy is the signal that killed the program (0: none), reason
	// its origin.
	killedBy unix.Signal
	reason   string
	// notRun counts, by signal, signals dropped because their action was
	// a handler; stopped counts stop signals taken. Both are read by
	// SignalStats under Process.mu.
	notRun  map[unix.Signal]uint64
	stopped uint64
	// altSP and altSize are the sigaltstack the program set (size 0:
	// disabled); altFlags keeps its SS_AUTODISARM bit.
	altSP, altSize uint64
	altFlags       uint32
}

const (
	sigDFL = 0
	sigIGN = 1
)

// defaultIgnored are the signals whose default action is to ignore them;
// defaultStop those whose default action stops the process (Linux's
// sig_kernel_ignore and sig_kernel_stop sets). Every other signal's
// default action terminates the process (with a core dump for some, which
// changes nothing in the exit status).
const (
	defaultIgnored = 1<<(unix.SIGCHLD-1) | 1<<(unix.SIGCONT-1) | 1<<(unix.SIGURG-1) | 1<<(unix.SIGWINCH-1)
	defaultStop    = 1<<(unix.SIGSTOP-1) | 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1)
)

func sigBit(sig unix.Signal) uint64 { return 1 << (sig - 1) }

// handlerOf returns the sa_handler the program recorded for sig.
func (p *Process) handlerOf(sig unix.Signal) uint64 {
	if sig == unix.SIGKILL || sig == unix.SIGSTOP {
		return sigDFL
	}
	if act := p.sigactions[int(sig)]; len(act) >= 8 {
		return binary.LittleEndian.Uint64(act)
	}
	return sigDFL
}

// ignored says sig's action ignores it (Linux's sig_handler_ignored).
func (p *Process) ignored(sig unix.Signal) bool {
	h := p.handlerOf(sig)
	return h == sigIGN || h == sigDFL && defaultIgnored&sigBit(sig) != 0
}

// raise sends sig to the program from why: dropped if ignored and not
// blocked (blocked signals are never ignored: the action may change before
// they are unblocked), else made pending and delivered if it can be.
func (p *Process) raise(sig unix.Signal, why string) {
	if p.sigmask&sigBit(sig) == 0 && p.ignored(sig) {
		return
	}
	p.sig.pending |= sigBit(sig)
	p.sig.why[sig] = why
	p.deliverPending()
}

// deliverPending takes the action of each pending signal that is not
// blocked, lowest number first, until one kills the program.
func (p *Process) deliverPending() {
	for p.sig.killedBy == 0 && !p.exited {
		ready := p.sig.pending &^ p.sigmask
		if ready == 0 {
			return
		}
		sig := unix.Signal(1)
		for ready&1 == 0 {
			ready >>= 1
			sig++
		}
		p.sig.pending &^= sigBit(sig)
		p.act(sig)
	}
}

// act takes sig's action now that it is delivered.
func (p *Process) act(sig unix.Signal) {
	switch h := p.handlerOf(sig); {
	case h == sigIGN:
	case h != sigDFL:
		p.statsMu.Lock()
		if p.sig.notRun == nil {
			p.sig.notRun = make(map[unix.Signal]uint64)
		}
		p.sig.notRun[sig]++
		p.statsMu.Unlock()
	case defaultIgnored&sigBit(sig) != 0:
	case defaultStop&sigBit(sig) != 0:
		p.statsMu.Lock()
		p.sig.stopped++
		p.statsMu.Unlock()
		p.waitForever() // nothing will send SIGCONT
	default:
		p.sig.killedBy = sig
		p.sig.reason = fmt.Sprintf("%s (%s)", unix.SignalName(sig), p.sig.why[sig])
	}
}

// Signaled reports whether a signal's default action killed the program,
// which signal, and a one-line account of who sent it.
func (p *Process) Signaled() (unix.Signal, string, bool) {
	return p.sig.killedBy, p.sig.reason, p.sig.killedBy != 0
}

// SignalStats is what --stats reports about signals.
type SignalStats struct {
	// HandlerNotRun counts, by signal name, signals that were due to run
	// a handler the program installed: mmvm does not run handlers yet and
	// dropped them.
	HandlerNotRun map[string]uint64 `json:"handler_not_run,omitempty"`
	// Stopped counts stop signals taken (the program then waited for the
	// run to end); Pending names the blocked signals still pending.
	Stopped uint64   `json:"stopped,omitempty"`
	Pending []string `json:"pending,omitempty"`
}

// SignalStats returns the signal figures of the run so far. Pending is
// read without a lock and is exact only once the run has stopped.
func (p *Process) SignalStats() SignalStats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	s := SignalStats{Stopped: p.sig.stopped}
	if len(p.sig.notRun) > 0 {
		s.HandlerNotRun = make(map[string]uint64, len(p.sig.notRun))
		for sig, n := range p.sig.notRun {
			s.HandlerNotRun[signalName(sig)] = n
		}
	}
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if p.sig.pending&sigBit(sig) != 0 {
			s.Pending = append(s.Pending, signalName(sig))
		}
	}
	sort.Strings(s.Pending)
	return s
}

// signalName is sig's name, SIGRTMIN+n for the real-time ones.
func signalName(sig unix.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return fmt.Sprintf("SIGRT%d", int(sig))
}

// send finishes kill, tkill and tgkill once the target is known to be the
// program: EINVAL for an invalid signal, nothing for 0.
func (p *Process) send(sig uint64, call string) uint64 {
	s := int32(sig)
	if s < 0 || s > 64 {
		return errno(unix.EINVAL)
	}
	if s != 0 {
		p.raise(unix.Signal(s), "sent by the program itself with "+call)
	}
	return 0
}

// sysKill serves kill for the program alone: its own pid, process group 0
// (its own) or its own group by number (a shell makes it the group's
// leader) reach it; -1 reaches every process but the caller and init,
// which here is none (ESRCH), as is any other pid.
func sysKill(p *Process, a *[6]uint64) uint64 {
	pid, own := int32(a[0]), int32(p.cfg.PID)
	if pid != own && pid != 0 && pid != -own {
		return errno(unix.ESRCH)
	}
	return p.send(a[1], "kill")
}

func sysTkill(p *Process, a *[6]uint64) uint64 {
	tid := int32(a[0])
	if tid <= 0 {
		return errno(unix.EINVAL)
	}
	if tid != int32(p.cfg.PID) {
		return errno(unix.ESRCH)
	}
	return p.send(a[1], "tkill")
}

func sysTgkill(p *Process, a *[6]uint64) uint64 {
	tgid, tid := int32(a[0]), int32(a[1])
	if tgid <= 0 || tid <= 0 {
		return errno(unix.EINVAL)
	}
	if tgid != int32(p.cfg.PID) || tid != int32(p.cfg.PID) {
		return errno(unix.ESRCH)
	}
	return p.send(a[2], "tgkill")
}

// sysRtSigprocmaskDeliver is rt_sigprocmask, then the delivery of what it
// unblocked.
func sysRtSigprocmaskDeliver(p *Process, a *[6]uint64) uint64 {
	r := sysRtSigprocmask(p, a)
	p.deliverPending()
	return r
}

// sysRtSigactionFlush is rt_sigaction; a pending signal it makes ignored
// is discarded, as Linux's do_sigaction does.
func sysRtSigactionFlush(p *Process, a *[6]uint64) uint64 {
	r := sysRtSigaction(p, a)
	if r == 0 && a[1] != 0 {
		if sig := unix.Signal(a[0]); p.ignored(sig) {
			p.sig.pending &^= sigBit(sig)
		}
	}
	return r
}

// sysRtSigpending copies out the pending signals that are blocked, in
// sigsetsize bytes (at most 8).
func sysRtSigpending(p *Process, a *[6]uint64) uint64 {
	if a[1] > sigsetSize {
		return errno(unix.EINVAL)
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], p.sig.pending&p.sigmask)
	return p.copyOutAll(arch.Addr(a[0]), b[:a[1]])
}

// stack_t: ss_sp (8), ss_flags (int, then 4 bytes of padding), ss_size (8).
const (
	stackTSize   = 24
	ssOnStack    = 1
	ssDisable    = 2
	ssAutoDisarm = 1 << 31
	// minSigStackSize is MINSIGSTKSZ on x86-64.
	minSigStackSize = 2048
)

// sysSigaltstack records the alternate signal stack and reports the old
// one, with Linux's checks: EINVAL for flags other than 0, SS_ONSTACK or
// SS_DISABLE (each with SS_AUTODISARM), ENOMEM for an enabled stack
// smaller than MINSIGSTKSZ. The program never runs on it (handlers do not
// run), so SS_ONSTACK is never reported and EPERM never arises. Unlike
// Linux, which sets the new stack before it writes the old one, the old one
// is written first: an unwritable oss is EFAULT with nothing changed.
func sysSigaltstack(p *Process, a *[6]uint64) uint64 {
	uss, uoss := arch.Addr(a[0]), arch.Addr(a[1])
	var nsp, nsize uint64
	var nflags uint32
	if uss != 0 {
		var b [stackTSize]byte
		if _, err := p.cfg.Memory.CopyIn(uss, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		nsp, nflags, nsize = binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint64(b[16:])
		switch mode := nflags &^ ssAutoDisarm; mode {
		case ssDisable:
			nsp, nsize = 0, 0
		case 0, ssOnStack:
			if nsize < minSigStackSize {
				return errno(unix.ENOMEM)
			}
		default:
			return errno(unix.EINVAL)
		}
	}
	if uoss != 0 {
		var b [stackTSize]byte
		sp, size, flags := p.sig.altSP, p.sig.altSize, p.sig.altFlags
		if size == 0 {
			flags = ssDisable | flags&ssAutoDisarm
		}
		binary.LittleEndian.PutUint64(b[0:], sp)
		binary.LittleEndian.PutUint32(b[8:], flags)
		binary.LittleEndian.PutUint64(b[16:], size)
		if _, err := p.cfg.Memory.CopyOut(uoss, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	if uss != 0 {
		p.sig.altSP, p.sig.altSize = nsp, nsize
		p.sig.altFlags = nflags & ssAutoDisarm
	}
	return 0
}
