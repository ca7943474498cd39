package syscalls

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Signals reach the program from itself (kill, tkill, tgkill, and SIGPIPE
// from a write to a pipe with no reader) and from its faults (HandleFault).
// A signal is made pending when sent and taken at the next return to user
// mode (returnToUser, signal_deliver.go), as Linux takes it on its way out
// of the kernel: a handler runs on a Linux signal frame, or the default
// action kills the program (exit status 128+sig), ignores the signal
// (SIGCHLD, SIGCONT, SIGURG, SIGWINCH) or stops the program, which then
// waits as a stopped process does, until the run ends. A blocked signal
// stays pending until it is unblocked; an ignored one is dropped when
// sent, and a pending one when rt_sigaction makes it ignored. A standard
// signal is pending at most once; real-time signals queue, each with its
// siginfo, up to RLIMIT_SIGPENDING queued signals in all.

// sigQueue is a set of pending signals: bit sig-1 of pending is set for
// each; queue[sig] holds what each sending carries into the handler's
// siginfo and who sent it (at most one for a standard signal; none when
// the sending found RLIMIT_SIGPENDING reached). A Process has one for the
// signals sent to the whole program, each Task one for its own.
type sigQueue struct {
	pending uint64
	queue   [65][]sigInfo
}

// signalState is the program's signal state beyond the recorded actions.
type signalState struct {
	// sigQueue holds the process-directed pending signals (kill, and a
	// SIGPIPE); queued counts the siginfos queued here and on every
	// Task, which RLIMIT_SIGPENDING bounds.
	sigQueue
	queued uint64
	// killedBy is the signal that killed the program (0: none), reason
	// its origin.
	killedBy unix.Signal
	reason   string
	// handled counts, by signal, the handlers run; stopped counts stop
	// signals taken. Both are read by SignalStats under Process.statsMu.
	handled map[unix.Signal]uint64
	stopped uint64
}

// taskSignals is a thread's own signal state.
type taskSignals struct {
	// sigQueue holds the thread-directed pending signals (tkill, tgkill,
	// a fault's).
	sigQueue
	// trap is the last fault's trap number, error code and CR2, which
	// every signal frame records (Linux's thread.trap_nr and friends).
	trap trapInfo
	// savedMask is the mask rt_sigsuspend replaced; restoreMask says it
	// must come back (into the handler's frame, or at the return to user
	// mode if no handler runs), as Linux's TIF_RESTORE_SIGMASK.
	savedMask   uint64
	restoreMask bool
	// redirected says the call or fault being finished changed the user
	// context beyond RAX: a handler's frame was set up, or rt_sigreturn
	// or a restart moved it.
	redirected bool
	// altSP and altSize are the sigaltstack the thread set (size 0:
	// disabled); altFlags keeps its SS_AUTODISARM bit.
	altSP, altSize uint64
	altFlags       uint32
}

const (
	sigDFL = 0
	sigIGN = 1
)

// sa_flags bits (asm/signal.h).
const (
	saSiginfo   = 0x4
	saRestorer  = 0x04000000
	saOnStack   = 0x08000000
	saRestart   = 0x10000000
	saNoDefer   = 0x40000000
	saResetHand = 0x80000000
)

// defaultIgnored are the signals whose default action is to ignore them;
// defaultStop those whose default action stops the process (Linux's
// sig_kernel_ignore and sig_kernel_stop sets). Every other signal's
// default action terminates the process (with a core dump for some, which
// changes nothing in the exit status). synchronous are those a fault
// raises, which Linux dequeues before any other (SYNCHRONOUS_MASK).
const (
	defaultIgnored = 1<<(unix.SIGCHLD-1) | 1<<(unix.SIGCONT-1) | 1<<(unix.SIGURG-1) | 1<<(unix.SIGWINCH-1)
	defaultStop    = 1<<(unix.SIGSTOP-1) | 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1)
	synchronous    = 1<<(unix.SIGSEGV-1) | 1<<(unix.SIGBUS-1) | 1<<(unix.SIGILL-1) | 1<<(unix.SIGTRAP-1) | 1<<(unix.SIGFPE-1) | 1<<(unix.SIGSYS-1)
)

func sigBit(sig unix.Signal) uint64 { return 1 << (sig - 1) }

// sigaction is a recorded struct sigaction, decoded.
type sigaction struct {
	handler, flags, restorer, mask uint64
}

// actionOf returns the action the program recorded for sig.
func (p *Process) actionOf(sig unix.Signal) sigaction {
	act := p.sigactions[int(sig)]
	if sig == unix.SIGKILL || sig == unix.SIGSTOP || len(act) < sigactionSize {
		return sigaction{}
	}
	le := binary.LittleEndian
	return sigaction{handler: le.Uint64(act), flags: le.Uint64(act[8:]), restorer: le.Uint64(act[16:]), mask: le.Uint64(act[sigactionMaskOffset:])}
}

// resetHandler makes sig's handler SIG_DFL, keeping the rest of the action
// (SA_RESETHAND, and a fault's signal that was blocked or ignored).
func (p *Process) resetHandler(sig unix.Signal) {
	if act := p.sigactions[int(sig)]; len(act) >= 8 {
		binary.LittleEndian.PutUint64(act, sigDFL)
	}
}

// handlerOf returns the sa_handler the program recorded for sig.
func (p *Process) handlerOf(sig unix.Signal) uint64 { return p.actionOf(sig).handler }

// ignored says sig's action ignores it (Linux's sig_handler_ignored).
func (p *Process) ignored(sig unix.Signal) bool {
	h := p.handlerOf(sig)
	return h == sigIGN || h == sigDFL && defaultIgnored&sigBit(sig) != 0
}

// sigRTMin is the first real-time signal as the kernel numbers them.
const sigRTMin = 32

// raise sends sig to the program with info, as Linux's __send_signal:
// dropped if ignored and not blocked (blocked signals are never ignored:
// the action may change before they are unblocked); a standard signal
// already pending is dropped (the first one's siginfo stays, legacy_queue);
// otherwise info is queued, unless RLIMIT_SIGPENDING signals are queued
// already: then a real-time signal sent other than by kill fails with
// EAGAIN, and any other is made pending without its siginfo. The signal is
// taken at the next return to user mode.
func (t *Task) raise(sig unix.Signal, info sigInfo) unix.Errno {
	bit := sigBit(sig)
	if t.sigmask&bit == 0 && t.ignored(sig) {
		return 0
	}
	if sig < sigRTMin && t.sig.pending&bit != 0 {
		return 0
	}
	info.signo = int32(sig)
	if t.sig.queued < t.limit(unix.RLIMIT_SIGPENDING).Cur {
		t.sig.queue[sig] = append(t.sig.queue[sig], info)
		t.sig.queued++
	} else if sig >= sigRTMin && info.code != siUser {
		return unix.EAGAIN
	}
	t.sig.pending |= bit
	return 0
}

// discard drops every pending signal in set, queued siginfo and all.
func (p *Process) discard(set uint64) {
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if set&p.sig.pending&sigBit(sig) != 0 {
			p.sig.queued -= uint64(len(p.sig.queue[sig]))
			p.sig.queue[sig] = nil
		}
	}
	p.sig.pending &^= set
}

// force sends sig for a fault or a failed signal frame as Linux's
// force_sig_info does: a handler that is ignored or blocked cannot take it,
// so the action becomes SIG_DFL and sig is unblocked, and the default
// action kills the program.
func (t *Task) force(sig unix.Signal, info sigInfo) {
	h := t.handlerOf(sig)
	if blocked := t.sigmask&sigBit(sig) != 0; blocked || h == sigIGN {
		t.resetHandler(sig)
		t.sigmask &^= sigBit(sig)
	}
	_ = t.raise(sig, info) // never EAGAIN: not a real-time signal
}

// dequeue takes the next deliverable signal: a synchronous one first, then
// the lowest number (Linux's next_signal).
func (t *Task) dequeue() (unix.Signal, sigInfo, bool) {
	ready := t.sig.pending &^ t.sigmask
	if ready == 0 {
		return 0, sigInfo{}, false
	}
	if ready&synchronous != 0 {
		ready &= synchronous
	}
	sig := unix.Signal(bits.TrailingZeros64(ready) + 1)
	q := t.sig.queue[sig]
	if len(q) == 0 {
		// Pending without a siginfo (the queue was full): Linux's
		// collect_signal gives SI_USER with no sender.
		t.sig.pending &^= sigBit(sig)
		return sig, sigInfo{signo: int32(sig), code: siUser, why: "sent while RLIMIT_SIGPENDING signals were queued"}, true
	}
	info := q[0]
	t.sig.queue[sig] = q[1:]
	t.sig.queued--
	if len(q) == 1 {
		t.sig.queue[sig] = nil
		t.sig.pending &^= sigBit(sig)
	}
	return sig, info, true
}

// actDefault takes sig's default action.
func (p *Process) actDefault(sig unix.Signal, info *sigInfo) {
	switch {
	case defaultIgnored&sigBit(sig) != 0:
	case defaultStop&sigBit(sig) != 0:
		p.statsMu.Lock()
		p.sig.stopped++
		p.statsMu.Unlock()
		p.waitForever() // nothing will send SIGCONT
	default:
		p.sig.killedBy = sig
		p.sig.reason = fmt.Sprintf("%s (%s)", unix.SignalName(sig), info.why)
	}
}

// Signaled reports whether a signal's default action killed the program,
// which signal, and a one-line account of who sent it.
func (p *Process) Signaled() (unix.Signal, string, bool) {
	return p.sig.killedBy, p.sig.reason, p.sig.killedBy != 0
}

// SignalStats is what --stats reports about signals.
type SignalStats struct {
	// Handled counts, by signal name, the handlers run.
	Handled map[string]uint64 `json:"handled,omitempty"`
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
	if len(p.sig.handled) > 0 {
		s.Handled = make(map[string]uint64, len(p.sig.handled))
		for sig, n := range p.sig.handled {
			s.Handled[signalName(sig)] = n
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
// program: EINVAL for an invalid signal, nothing for 0. The siginfo is
// Linux's for a signal a process sends: si_code SI_USER (kill) or SI_TKILL,
// the sender's pid and uid (0: the guest runs as root).
func (t *Task) send(sig uint64, code int32, call string) uint64 {
	s := int32(sig)
	if s < 0 || s > 64 {
		return errno(unix.EINVAL)
	}
	if s != 0 {
		if e := t.raise(unix.Signal(s), sigInfo{code: code, pid: uint32(t.cfg.PID), uid: 0, why: "sent by the program itself with " + call}); e != 0 {
			return errno(e)
		}
	}
	return 0
}

// sysKill serves kill for the program alone: its own pid, process group 0
// (its own) or its own group by number (a shell makes it the group's
// leader) reach it; -1 reaches every process but the caller and init,
// which here is none (ESRCH), as is any other pid.
func sysKill(t *Task, a *[6]uint64) uint64 {
	pid, own := int32(a[0]), int32(t.cfg.PID)
	if pid != own && pid != 0 && pid != -own {
		return errno(unix.ESRCH)
	}
	return t.send(a[1], siUser, "kill")
}

func sysTkill(t *Task, a *[6]uint64) uint64 {
	tid := int32(a[0])
	if tid <= 0 {
		return errno(unix.EINVAL)
	}
	if tid != int32(t.cfg.PID) {
		return errno(unix.ESRCH)
	}
	return t.send(a[1], siTkill, "tkill")
}

func sysTgkill(t *Task, a *[6]uint64) uint64 {
	tgid, tid := int32(a[0]), int32(a[1])
	if tgid <= 0 || tid <= 0 {
		return errno(unix.EINVAL)
	}
	if tgid != int32(t.cfg.PID) || tid != int32(t.cfg.PID) {
		return errno(unix.ESRCH)
	}
	return t.send(a[2], siTkill, "tgkill")
}

// sysRtSigactionFlush is rt_sigaction; a pending signal it makes ignored
// is discarded, as Linux's do_sigaction does.
func sysRtSigactionFlush(t *Task, a *[6]uint64) uint64 {
	r := sysRtSigaction(t, a)
	if r == 0 && a[1] != 0 {
		if sig := unix.Signal(a[0]); t.ignored(sig) {
			t.discard(sigBit(sig))
		}
	}
	return r
}

// sysRtSigpending copies out the pending signals that are blocked, in
// sigsetsize bytes (at most 8).
func sysRtSigpending(t *Task, a *[6]uint64) uint64 {
	if a[1] > sigsetSize {
		return errno(unix.EINVAL)
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], t.sig.pending&t.sigmask)
	return t.copyOutAll(arch.Addr(a[0]), b[:a[1]])
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

// sysSigaltstack sets the alternate signal stack and reports the old one,
// with Linux's checks: EPERM while running on the stack, EINVAL for flags
// other than 0, SS_ONSTACK or SS_DISABLE (each with SS_AUTODISARM), ENOMEM
// for an enabled stack smaller than MINSIGSTKSZ. Unlike Linux, which sets
// the new stack before it writes the old one, the old one is written
// first: an unwritable oss is EFAULT with nothing changed.
func sysSigaltstack(t *Task, a *[6]uint64) uint64 {
	uss, uoss := arch.Addr(a[0]), arch.Addr(a[1])
	var rsp uint64
	if t.regs != nil {
		rsp = t.regs.RSP
	}
	var nsp, nsize uint64
	var nflags uint32
	if uss != 0 {
		var b [stackTSize]byte
		if _, err := t.cfg.Memory.CopyIn(uss, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		nsp, nflags, nsize = binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint64(b[16:])
		if e := t.checkAltStack(nflags, nsize, rsp); e != 0 {
			return errno(e)
		}
	}
	if uoss != 0 {
		b := stackT(t.tsig.altSP, t.sasFlags(rsp)|t.tsig.altFlags, t.tsig.altSize)
		if _, err := t.cfg.Memory.CopyOut(uoss, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	if uss != 0 {
		_ = t.setAltStack(nsp, nflags, nsize, rsp)
	}
	return 0
}

// checkAltStack is do_sigaltstack's checks of a new stack, in its order.
func (t *Task) checkAltStack(flags uint32, size, rsp uint64) unix.Errno {
	if t.onSigStack(rsp) {
		return unix.EPERM
	}
	switch mode := flags &^ ssAutoDisarm; mode {
	case ssDisable:
	case 0, ssOnStack:
		if size < minSigStackSize {
			return unix.ENOMEM
		}
	default:
		return unix.EINVAL
	}
	return 0
}

// setAltStack checks and sets the alternate stack (rt_sigreturn restores
// the one its frame saved through it too).
func (t *Task) setAltStack(sp uint64, flags uint32, size, rsp uint64) unix.Errno {
	if e := t.checkAltStack(flags, size, rsp); e != 0 {
		return e
	}
	if flags&^ssAutoDisarm == ssDisable {
		sp, size = 0, 0
	}
	t.tsig.altSP, t.tsig.altSize = sp, size
	t.tsig.altFlags = flags & ssAutoDisarm
	return 0
}
