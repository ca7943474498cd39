package syscalls

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Signals reach a process from itself and from the other processes of the
// VM (kill, tkill, tgkill), from the kernel's own sendings (SIGPIPE from a
// write to a pipe with no reader, a child's SIGCHLD, the parent-death
// signal) and from its faults (HandleFault). A signal is made pending
// when sent and taken at the next return to user mode (returnToUser,
// signal_deliver.go), as Linux takes it on its way out of the kernel: a
// handler runs on a Linux signal frame, or the default action kills the
// process (wait status sig, which a shell reports as 128+sig), ignores
// the signal (SIGCHLD, SIGCONT, SIGURG, SIGWINCH) or stops the program,
// which then waits as a stopped process does, until SIGCONT. A
// blocked signal stays pending until it is unblocked; an ignored one is
// dropped when sent, and a pending one when rt_sigaction makes it
// ignored. A standard signal is pending at most once; real-time signals
// queue, each with its siginfo, up to RLIMIT_SIGPENDING queued signals in
// all.

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
	// continued is closed by the next SIGCONT sent to the process, which
	// ends the stops its threads are in; nil until a stop makes it.
	continued chan struct{}
	// signalfdWait is notified at every signal made pending on the
	// process or any of its threads (Linux's signalfd_wqh): the
	// process's signalfds wait on it.
	signalfdWait waitQueue
}

// taskSignals is a thread's own signal state.
type taskSignals struct {
	// sigQueue holds the thread-directed pending signals (tkill, tgkill,
	// a fault's).
	sigQueue
	// trap is the last fault's trap number, error code and CR2, which
	// every signal frame records (Linux's thread.trap_nr and friends).
	trap trapInfo
	// realBlocked is the mask rt_sigtimedwait lowered for its wait
	// (Linux's real_blocked): a signal it blocked is not ignored when
	// sent meanwhile, as it would not be with the mask in place.
	realBlocked uint64
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

// queueSignal makes sig pending on q with info, as Linux's __send_signal:
// dropped if ignored and not blocked by blocked, the mask of the thread
// the signal is sent to (blocked signals are never ignored: the action
// may change before they are unblocked); a standard signal already
// pending on q is dropped (the first one's siginfo stays, legacy_queue);
// otherwise info is queued, unless RLIMIT_SIGPENDING signals are queued
// already: then a real-time signal sent other than by kill fails with
// EAGAIN, and any other is made pending without its siginfo. added says
// sig was made pending. p.mu must be held.
func (p *Process) queueSignal(q *sigQueue, blocked uint64, sig unix.Signal, info sigInfo) (added bool, e unix.Errno) {
	bit := sigBit(sig)
	if blocked&bit == 0 && p.ignored(sig) {
		return false, 0
	}
	if sig < sigRTMin && q.pending&bit != 0 {
		return false, 0
	}
	info.signo = int32(sig)
	if p.sig.queued < p.limit(unix.RLIMIT_SIGPENDING).Cur {
		q.queue[sig] = append(q.queue[sig], info)
		p.sig.queued++
	} else if sig >= sigRTMin && info.code != siUser {
		return false, unix.EAGAIN
	}
	q.pending |= bit
	p.sig.signalfdWait.notify(epollIn) // signalfd readers and their epoll items look again
	return true, 0
}

// sendToThread sends sig to thread t (tkill, tgkill, a fault, SIGPIPE),
// from thread self: it is pending on t alone, and wakes t (wakeUp) if t
// does not block it, as Linux's complete_signal does for a
// thread-directed signal. p.mu must be held.
func (t *Task) sendToThread(self *Task, sig unix.Signal, info sigInfo) unix.Errno {
	t.continueIfCont(sig)
	added, e := t.queueSignal(&t.tsig.sigQueue, t.sigmask|t.tsig.realBlocked, sig, info)
	if added && t.sigmask&sigBit(sig) == 0 && !t.Exited() {
		t.wakeUp(self)
	}
	return e
}

// sendToProcess sends sig to the program (kill), from thread self: it is
// pending on the process, for whichever thread takes it first, and the
// thread signalTarget picks is woken. Whether it is ignored is judged
// by the main thread's mask, as Linux judges it by the task kill found,
// the group leader. p.mu must be held.
func (p *Process) sendToProcess(self *Task, sig unix.Signal, info sigInfo) unix.Errno {
	p.continueIfCont(sig)
	added, e := p.queueSignal(&p.sig.sigQueue, p.main.sigmask|p.main.tsig.realBlocked, sig, info)
	if added {
		if t := p.signalTarget(sig); t != nil {
			t.wakeUp(self)
		}
	}
	return e
}

// continueIfCont ends the stops of p's threads when sig is SIGCONT,
// whatever its action or the threads' masks, as Linux's prepare_signal
// wakes a stopped thread group for any SIGCONT sent to it (the signal
// itself is then queued, or dropped when ignored, as any other). p.mu
// must be held.
func (p *Process) continueIfCont(sig unix.Signal) {
	if sig == unix.SIGCONT && p.sig.continued != nil {
		close(p.sig.continued)
		p.sig.continued = nil
	}
}

// signalTarget picks the thread that should take a process-directed sig,
// as Linux's complete_signal: the main thread if it is live and does not
// block sig, else the live thread of lowest TID that does not block it;
// nil if every thread blocks it (it stays pending until one unblocks it).
// p.mu must be held.
func (p *Process) signalTarget(sig unix.Signal) *Task {
	wants := func(t *Task) bool { return !t.Exited() && t.sigmask&sigBit(sig) == 0 }
	if wants(p.main) {
		return p.main
	}
	var best *Task
	for _, t := range p.tasks {
		if wants(t) && (best == nil || t.tid < best.tid) {
			best = t
		}
	}
	return best
}

// discard drops every pending signal in set, queued siginfo and all, from
// the process and from every thread, as Linux's do_sigaction does when
// an action becomes ignored. p.mu must be held.
func (p *Process) discard(set uint64) {
	p.discardFrom(&p.sig.sigQueue, set)
	for _, t := range p.tasks {
		p.discardFrom(&t.tsig.sigQueue, set)
	}
}

func (p *Process) discardFrom(q *sigQueue, set uint64) {
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if set&q.pending&sigBit(sig) != 0 {
			p.sig.queued -= uint64(len(q.queue[sig]))
			q.queue[sig] = nil
		}
	}
	q.pending &^= set
}

// force sends sig to the thread for a fault or a failed signal frame as
// Linux's force_sig_info does: a handler that is ignored or blocked cannot
// take it, so the action becomes SIG_DFL and sig is unblocked, and the
// default action kills the program.
func (t *Task) force(sig unix.Signal, info sigInfo) {
	h := t.handlerOf(sig)
	if blocked := t.sigmask&sigBit(sig) != 0; blocked || h == sigIGN {
		t.resetHandler(sig)
		t.sigmask &^= sigBit(sig)
	}
	_ = t.sendToThread(t, sig, info) // never EAGAIN: not a real-time signal
}

// dequeue takes the thread's next deliverable signal: from its own
// pending signals first, then from the process's, as Linux's
// dequeue_signal; within each, a synchronous one first, then the lowest
// number (next_signal). p.mu must be held.
func (t *Task) dequeue() (unix.Signal, sigInfo, bool) { return t.dequeueMasked(t.sigmask) }

// dequeueMasked is dequeue of a signal not in blocked (rt_sigtimedwait and
// signalfd take the signals of their set whatever the thread's mask).
func (t *Task) dequeueMasked(blocked uint64) (unix.Signal, sigInfo, bool) {
	if sig, info, ok := t.dequeueFrom(&t.tsig.sigQueue, blocked); ok {
		return sig, info, true
	}
	return t.dequeueFrom(&t.sig.sigQueue, blocked)
}

func (t *Task) dequeueFrom(q *sigQueue, blocked uint64) (unix.Signal, sigInfo, bool) {
	ready := q.pending &^ blocked
	if ready == 0 {
		return 0, sigInfo{}, false
	}
	if ready&synchronous != 0 {
		ready &= synchronous
	}
	sig := unix.Signal(bits.TrailingZeros64(ready) + 1)
	pending := q.queue[sig]
	if len(pending) == 0 {
		// Pending without a siginfo (the queue was full): Linux's
		// collect_signal gives SI_USER with no sender.
		q.pending &^= sigBit(sig)
		return sig, sigInfo{signo: int32(sig), code: siUser, why: "sent while RLIMIT_SIGPENDING signals were queued"}, true
	}
	info := pending[0]
	q.queue[sig] = pending[1:]
	t.sig.queued--
	if len(pending) == 1 {
		q.queue[sig] = nil
		q.pending &^= sigBit(sig)
	}
	if info.fromTimer() {
		t.timerDelivered(&info)
	}
	return sig, info, true
}

// actDefault takes sig's default action in thread t: nothing, a stop, or
// the end of the whole program. A stop is the calling thread's alone: it
// waits until a SIGCONT is sent to the process (ignored or not, blocked
// or not, as Linux's continues a stopped process), a signal it does not
// block is pending (mmvm keeps no stopped state, so any signal ends it),
// or the run ends; Linux would stop every thread until SIGCONT or
// SIGKILL.
func (t *Task) actDefault(sig unix.Signal, info *sigInfo) {
	switch {
	case defaultIgnored&sigBit(sig) != 0:
	case defaultStop&sigBit(sig) != 0:
		t.statsMu.Lock()
		t.sig.stopped++
		t.statsMu.Unlock()
		if t.sig.continued == nil {
			t.sig.continued = make(chan struct{})
		}
		t.block(t.sig.continued, nil)
	default:
		t.sig.killedBy = sig
		t.sig.reason = fmt.Sprintf("%s (%s)", unix.SignalName(sig), info.why)
		t.endProcess(t)
	}
}

// Signaled reports whether a signal's default action killed the program,
// which signal, and a one-line account of who sent it.
func (p *Process) Signaled() (unix.Signal, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
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

// SignalStats returns the signal figures of the run so far. Pending names
// the signals pending on the process or on any live thread.
func (p *Process) SignalStats() SignalStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending := p.sig.pending
	for _, t := range p.tasks {
		pending |= t.tsig.pending
	}
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
		if pending&sigBit(sig) != 0 {
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

// userSignal checks kill's, tkill's and tgkill's signal argument: EINVAL
// for an invalid signal; ok false for 0, which only checks the target.
// info is Linux's siginfo for a signal a process sends: si_code SI_USER
// (kill) or SI_TKILL, the sender's pid and real uid.
func (t *Task) userSignal(sig uint64, code int32, call string) (s unix.Signal, info sigInfo, ok bool, e unix.Errno) {
	n := int32(sig)
	if n < 0 || n > 64 {
		return 0, sigInfo{}, false, unix.EINVAL
	}
	info = sigInfo{code: code, pid: uint32(t.cfg.PID), uid: t.cred.uid, why: "sent by the program itself with " + call}
	return unix.Signal(n), info, n != 0, 0
}

// sysKill serves kill(pid, sig) as Linux's kill_something_info: pid > 0
// the process of that thread id, 0 the caller's process group, -1 every
// process but the caller's and those of PID 1 or below (init), < -1 the
// process group -pid. ESRCH when it names no process (a zombie counts, and
// takes the signal without effect), then EINVAL for an invalid signal;
// signal 0 only checks. A process group's kill succeeds if the signal
// reached one of them.
func sysKill(t *Task, a *[6]uint64) uint64 {
	targets := t.killTargets(int32(a[0]))
	if len(targets) == 0 {
		return errno(unix.ESRCH)
	}
	sig, info, ok, e := t.userSignal(a[1], siUser, "kill")
	if e != 0 {
		return errno(e)
	}
	e = unix.ESRCH
	for _, p := range targets {
		err := t.mayKill(p.main, sig)
		if err == 0 && ok && !p.ended.Load() {
			err = p.sendToProcess(t, sig, info)
		}
		if err == 0 || e != 0 {
			e = err
		}
	}
	return errno0(e)
}

// killTargets are the processes, live and zombie, kill's pid names, in
// PID order. p.mu must be held.
func (t *Task) killTargets(pid int32) []*Process {
	switch {
	case pid == math.MinInt32:
		return nil
	case pid > 0:
		if o := t.tree.task(int(pid)); o != nil {
			return []*Process{o.Process}
		}
		return nil
	}
	var out []*Process
	for _, p := range t.tree.procs {
		switch {
		case pid == -1 && p.cfg.PID > 1 && p != t.Process,
			pid == 0 && p.family.pgid == t.family.pgid,
			pid < -1 && p.family.pgid == int(-pid):
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cfg.PID < out[j].cfg.PID })
	return out
}

// sysTkill sends a signal to one thread, of any process, by TID.
func sysTkill(t *Task, a *[6]uint64) uint64 {
	tid := int32(a[0])
	if tid <= 0 {
		return errno(unix.EINVAL)
	}
	return t.signalThread(0, int(tid), a[1], "tkill")
}

// sysTgkill sends a signal to one thread by its thread group id (its
// process's PID) and TID.
func sysTgkill(t *Task, a *[6]uint64) uint64 {
	tgid, tid := int32(a[0]), int32(a[1])
	if tgid <= 0 || tid <= 0 {
		return errno(unix.EINVAL)
	}
	return t.signalThread(int(tgid), int(tid), a[2], "tgkill")
}

// signalThread finishes tkill and tgkill: ESRCH for a TID that names no
// thread (a live one, or a zombie's main thread, which takes the signal
// without effect) or one of a process other than tgid (when not 0), then
// EINVAL for an invalid signal, in Linux's order (do_send_specific finds
// the thread before check_kill_permission).
func (t *Task) signalThread(tgid, tid int, sig uint64, call string) uint64 {
	target := t.tree.task(tid)
	if target == nil || (tgid != 0 && target.cfg.PID != tgid) {
		return errno(unix.ESRCH)
	}
	s, info, ok, e := t.userSignal(sig, siTkill, call)
	if e == 0 {
		e = t.mayKill(target, s)
	}
	if e != 0 {
		return errno(e)
	}
	if ok && !target.Exited() {
		e = target.sendToThread(t, s, info)
	}
	return errno0(e)
}

// mayKill is Linux's check_kill_permission past the signal's validity,
// for a signal the caller sends to target: within the caller's own
// process, with CAP_KILL, or when the caller's real or effective uid is
// the target's real or saved one; else EPERM, but for SIGCONT within the
// caller's session.
func (t *Task) mayKill(target *Task, sig unix.Signal) unix.Errno {
	c, o := &t.cred, &target.cred
	switch {
	case target.Process == t.Process, c.capable(unix.CAP_KILL),
		c.euid == o.suid, c.euid == o.uid, c.uid == o.suid, c.uid == o.uid,
		sig == unix.SIGCONT && target.family.sid == t.family.sid:
		return 0
	}
	return unix.EPERM
}

// errno0 is errno for a call that returns 0 on success.
func errno0(e unix.Errno) uint64 {
	if e != 0 {
		return errno(e)
	}
	return 0
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
	binary.LittleEndian.PutUint64(b[:], (t.tsig.pending|t.sig.pending)&t.sigmask)
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
