package syscalls

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Task is one thread of a Process: the state Linux keeps per thread
// (task_struct and thread_struct) as far as system calls see it. It
// embeds its Process, so that the calls it serves reach the shared state
// (fd table, signal actions, futexes) directly.
//
// tid changes once at most, under mu, on the thread's own goroutine: a
// thread other than the main one that execs takes the PID (becomeLeader,
// exec.go); TID reads it without mu. The fields from fpu to tsig are
// guarded by the Process lock (mu): the thread's own calls read and write
// them under it, other threads read sigmask, robustList and tsig's pending
// signals and write tsig's pending signals under it; FSBase, called only on
// the thread's own goroutine between its calls, reads fsBase and
// fsBaseDirty without it, and clone fills a new Task's before the thread
// starts.
type Task struct {
	*Process
	// tid is the thread's id; the main task's is the PID.
	tid int
	// fpu is the vCPU's x87 and SSE state that this thread's signal
	// frames save and rt_sigreturn restores; nil leaves the FPU untouched.
	fpu FPU
	// startFPU is the FXSAVE image a thread made by clone starts with:
	// its creator's at the clone, as Linux's copy_thread copies the
	// parent's FPU state to the child; nil for any other thread (the
	// machine gives those their own: a fork's child its parent's, the
	// first thread the initial state). Set before StartThread, read by
	// the machine once as the thread starts.
	startFPU *[fxsaveSize]byte

	// fsBase is the FS segment base (TLS) the thread set with
	// arch_prctl; fsBaseDirty says the vCPU must load it before resuming.
	fsBase      uint64
	fsBaseDirty bool

	// clearChildTID is the set_tid_address pointer, kept for exit.
	clearChildTID uint64
	// robustList is the set_robust_list head, which get_robust_list
	// reports.
	robustList uint64
	// sigmask is the thread's blocked signals.
	sigmask uint64
	// nice is the thread's nice value, -20 to 19 (priority.go), which a
	// new thread or process inherits.
	nice int32
	// cred are the thread's ids and capabilities (creds.go), which a new
	// thread or a fork's child copies from its creator and execve
	// changes as Linux's cap_bprm_creds_from_file.
	cred creds
	// regs is the user context of the system call being served
	// (HandleSyscall), nil between calls: rt_sigreturn rewrites it,
	// sigaltstack reads its RSP.
	regs *UserRegs
	// tsig is the thread's own signal state (signal_default.go).
	tsig taskSignals

	// wake carries at most one token: a signal was made pending for the
	// thread, or it must end (block, wakeUp).
	wake chan struct{}
	// exitedThread is set, under mu, when the thread called exit(2) (or
	// was never started); read without mu. The program's end is
	// Process.ended: Exited reports either.
	exitedThread atomic.Bool
	// threadExitCode is the status the thread's exit(2) gave; guarded by
	// mu.
	threadExitCode int
	// cpu is the thread's CPU clock (cputime.go).
	cpu threadCPU
	// started is the host's boot time when the thread was made (its
	// start time in /proc/self/stat); hostTID the host thread that
	// serves its calls (its vCPU's), 0 before its first; sleeping says
	// it waits in a call (block), with mu released. Guarded by mu.
	started  time.Duration
	hostTID  int
	sleeping bool
	// sched is the thread's scheduling policy and real-time priority
	// (sched.go).
	sched schedState
	// mempolicy is the thread's own NUMA policy (set_mempolicy), which
	// its clones and forks inherit and exec keeps.
	mempolicy taskMempolicy
	// persona is the thread's personality (personality.go) and ioprio
	// its I/O priority (ioprio.go), both inherited by its clones and
	// forks; an exec keeps ioprio and changes persona as
	// execPersonality says.
	persona uint32
	ioprio  uint16
	// comm is the thread's name (PR_SET_NAME, PR_GET_NAME), NUL-padded:
	// a new thread or a fork's child takes its creator's, execve sets
	// it from the program's name; the main thread's names the process
	// (/proc/self/comm). Guarded by mu.
	comm [taskCommLen]byte
}

// newTask returns a Task of p with id tid.
func (p *Process) newTask(tid int) *Task {
	return &Task{Process: p, tid: tid, wake: make(chan struct{}, 1), started: hostBoottime(), cred: rootCreds()}
}

// MainTask returns the program's first thread, whose TID is the PID.
func (p *Process) MainTask() *Task { return p.main }

// TID returns the thread's id.
func (t *Task) TID() int { return t.tid }

// SetFPU makes f the FPU this thread's signal frames save and
// rt_sigreturn restores.
func (t *Task) SetFPU(f FPU) { t.fpu = f }

// StartFPU is the FXSAVE image a new thread's FPU starts with, its
// creator's at the clone; nil where it is not one made by clone.
func (t *Task) StartFPU() *[fxsaveSize]byte { return t.startFPU }

// FSBase returns the thread's FS base and whether it changed since the
// last call, in which case the vCPU must load it before resuming.
func (t *Task) FSBase() (uint64, bool) {
	d := t.fsBaseDirty
	t.fsBaseDirty = false
	return t.fsBase, d
}

// Exited reports whether the thread has ended: it called exit(2), or the
// program ended (exit_group, the exit of its last thread, a fatal
// signal). Its vCPU must then stop. Safe from any goroutine.
func (t *Task) Exited() bool { return t.exitedThread.Load() || t.ended.Load() }

// Thread lifecycle: clone with CLONE_THREAD makes a Task (cloneThread),
// exit ends one (exitThread), exit_group, a fatal signal or the exit of
// the last live thread end them all (endProcess).

const (
	// maxThreads bounds the live threads of a program, as a kernel's
	// threads-max does (the guest runs as root, whom RLIMIT_NPROC does
	// not bind): clone fails with EAGAIN beyond it.
	maxThreads = 256
	// pidMax is Linux's PID_MAX_LIMIT on 64-bit, where TIDs wrap, and
	// reservedPIDs where they start again (RESERVED_PIDS).
	pidMax       = 4 << 20
	reservedPIDs = 300
)

// newTID returns an unused TID from the tree's id space (newID). p.mu
// must be held.
func (p *Process) newTID() int { return p.tree.newID() }

// cloneThread serves a clone that asked for a thread (CloneThread) when
// the machine can start one: the new Task shares the Process, and starts
// with the caller's registers at the call but RAX 0 and, when given, RSP
// the new stack; its FS base is tls with CLONE_SETTLS, else the caller's;
// it inherits the signal mask, but no pending signal and no alternate
// signal stack (Linux clears it for CLONE_VM without CLONE_VFORK); its
// FPU state is the caller's (StartFPU), ENOMEM where it cannot be read.
// CLONE_PARENT_SETTID and CLONE_CHILD_SETTID write the TID before the new
// thread runs (a write that faults is ignored, as Linux ignores it);
// CLONE_CHILD_CLEARTID makes child_tid its clear_child_tid. EPERM for a
// tls outside the user half (as arch_prctl's), EAGAIN past maxThreads or
// when the machine cannot start it. It returns the TID.
func (t *Task) cloneThread(args *cloneArgs) uint64 {
	f := args.flags
	if f&unix.CLONE_SETTLS != 0 && (!arch.Addr(args.tls).IsCanonical() || arch.Addr(args.tls) >= arch.MaxUserAddr) {
		return errno(unix.EPERM)
	}
	if len(t.tasks) >= maxThreads {
		return errno(unix.EAGAIN)
	}
	var fx *[fxsaveSize]byte
	if t.fpu != nil {
		fx = new([fxsaveSize]byte)
		if err := t.fpu.SaveFPU(fx); err != nil {
			return errno(unix.ENOMEM)
		}
	}
	child := t.newTask(t.newTID())
	child.startFPU = fx
	child.sigmask = t.sigmask
	child.comm = t.comm
	child.sched, child.nice = t.forkSched()
	child.cred = t.cred
	child.mempolicy = t.mempolicy
	child.persona, child.ioprio = t.persona, t.ioprio
	child.fsBase, child.fsBaseDirty = t.fsBase, true
	if f&unix.CLONE_SETTLS != 0 {
		child.fsBase = args.tls
	}
	if f&unix.CLONE_CHILD_CLEARTID != 0 {
		child.clearChildTID = args.childTID
	}
	regs := *t.regs
	regs.RAX = 0
	if args.stack != 0 {
		regs.RSP = args.stack
	}
	t.tasks[child.tid] = child
	if f&unix.CLONE_PARENT_SETTID != 0 {
		t.putTID(args.parentTID, child.tid)
	}
	if f&unix.CLONE_CHILD_SETTID != 0 {
		t.putTID(args.childTID, child.tid)
	}
	var err error
	t.withoutLock(func() { err = t.cfg.StartThread(child, regs) })
	if err != nil {
		child.exitedThread.Store(true)
		delete(t.tasks, child.tid)
		return errno(unix.EAGAIN)
	}
	return uint64(child.tid)
}

// putTID writes tid, a 4-byte pid_t, at addr; a fault is ignored.
func (p *Process) putTID(addr uint64, tid int) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(tid))
	_, _ = p.cfg.Memory.CopyOut(arch.Addr(addr), b[:])
}

// withoutLock runs f with p.mu released (held on entry and on return):
// for work that may take long and needs none of the state p.mu guards.
func (t *Task) withoutLock(f func()) {
	t.mu.Unlock()
	defer t.mu.Lock()
	f()
}

// exitThread ends the calling thread with status code, as Linux's do_exit
// for one thread of several: the process-directed signals it would have
// taken go to another thread, its robust futexes are marked
// FUTEX_OWNER_DIED (exitRobustList), and its clear_child_tid word is
// zeroed and one waiter on it woken (the join of pthread_join); its child
// processes become another live thread's (adoptChildren); the exit of the
// main thread lets a vfork parent go on. The exit of the last live
// thread ends the program, whose exit status is then the main thread's
// (Linux reports the group leader's exit code).
func (t *Task) exitThread(code int) {
	t.threadExitCode = code
	t.threadLeft(t)
	delete(t.tasks, t.tid)
	t.exitedThread.Store(true)
	t.sig.queued -= queuedIn(&t.tsig.sigQueue)
	t.tsig.sigQueue = sigQueue{}
	if len(t.tasks) == 0 {
		t.Process.exited = true
		t.Process.exitCode = t.main.threadExitCode
		t.endProcess(t)
		return
	}
	t.retargetSignals()
	t.adoptChildren()
	t.tree.pidfdsLookAgain()
	t.exitRobustList()
	t.clearChildTIDAtExit()
	if t == t.main {
		t.releaseVforkParent()
	}
}

// queuedIn counts the siginfos queued on q.
func queuedIn(q *sigQueue) uint64 {
	var n uint64
	for _, infos := range q.queue {
		n += uint64(len(infos))
	}
	return n
}

// retargetSignals wakes, for each process-directed signal pending, a
// thread that can take it, now that the caller will not (Linux's
// retarget_shared_pending). p.mu must be held.
func (t *Task) retargetSignals() {
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if t.sig.pending&sigBit(sig) == 0 {
			continue
		}
		if o := t.signalTarget(sig); o != nil {
			o.wakeUp(t)
		}
	}
}

// clearChildTIDAtExit does what Linux's mm_release does for a thread with
// a clear_child_tid: it writes a 4-byte 0 there and wakes one waiter on
// that futex word, keyed as a futex without FUTEX_PRIVATE_FLAG is. A
// write that faults or a misaligned word is ignored, as Linux ignores it.
func (t *Task) clearChildTIDAtExit() {
	addr := t.clearChildTID
	if addr == 0 {
		return
	}
	t.clearChildTID = 0
	var zero [4]byte
	_, _ = t.cfg.Memory.CopyOut(arch.Addr(addr), zero[:])
	if k, e := t.futexKeyOf(addr, false); e == 0 {
		t.futexes.wake(k, 1, futexBitsetMatchAny)
	}
}

// The robust futex list (set_robust_list(2), Linux's
// Documentation/locking/robust-futex-ABI.rst): struct robust_list_head is
// the list's first link (a pointer to the next entry, whose low bit says
// the lock is PI), the signed offset from an entry to its futex word, and
// list_op_pending, the entry of a lock being taken or released.
const (
	futexWaiters    = 0x8000_0000
	futexOwnerDied  = 0x4000_0000
	futexTIDMask    = 0x3fff_ffff
	robustListLimit = 2048 // ROBUST_LIST_LIMIT: a walk's bound against cycles
)

// exitRobustList walks the exiting thread's robust list as Linux's
// exit_robust_list does: each entry's futex word (but list_op_pending's,
// handled last) that this thread owns gets FUTEX_OWNER_DIED, and one
// waiter is woken where FUTEX_WAITERS was set. The walk stops at the
// head, at a word it cannot read or that is misaligned, or after
// robustListLimit entries.
func (t *Task) exitRobustList() {
	head := t.robustList
	if head == 0 {
		return
	}
	var h [robustListHeadSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(head), h[:]); err != nil {
		return
	}
	le := binary.LittleEndian
	entry, offset, pending := le.Uint64(h[0:]), le.Uint64(h[8:]), le.Uint64(h[16:])
	pendingPI := pending&1 != 0
	pending &^= 1
	for limit := robustListLimit; entry&^1 != head && limit > 0; limit-- {
		pi := entry&1 != 0
		entry &^= 1
		var next [8]byte
		_, rerr := t.cfg.Memory.CopyIn(arch.Addr(entry), next[:])
		if entry != pending && !t.futexDeath(entry+offset, pi, false) {
			return
		}
		if rerr != nil {
			return
		}
		entry = le.Uint64(next[:])
	}
	if pending != 0 {
		t.futexDeath(pending+offset, pendingPI, true)
	}
}

// futexDeath is Linux's handle_futex_death for the word at addr: if the
// exiting thread owns it (its TID bits), they become FUTEX_OWNER_DIED,
// FUTEX_WAITERS kept, in one atomic step, and a waiter is woken where
// FUTEX_WAITERS was set (not for a PI lock). For the pending entry, an
// unowned non-PI word also gets a wake, for a waiter the exit may have
// left behind. false means the walk must stop: the word is misaligned or
// unreadable.
func (t *Task) futexDeath(addr uint64, pi, pendingOp bool) bool {
	if addr%4 != 0 {
		return false
	}
	ft := t.futexes
	ft.mu.Lock()
	defer ft.mu.Unlock()
	tid := uint32(t.tid)
	old, e := t.modifyFutexWord(addr, func(v uint32) uint32 {
		if v&futexTIDMask != tid {
			return v
		}
		return v&futexWaiters | futexOwnerDied
	})
	if e != 0 {
		return false
	}
	owner := old & futexTIDMask
	wake := (pendingOp && !pi && owner == 0) || (owner == tid && !pi && old&futexWaiters != 0)
	if wake {
		if k, e := t.futexKeyOf(addr, false); e == 0 {
			ft.wakeLocked(k, 1, futexBitsetMatchAny)
		}
	}
	return true
}

// exitGroup ends the program with status code (exit_group).
func (t *Task) exitGroup(code int) {
	if !t.ended.Load() {
		t.Process.exited = true
		t.Process.exitCode = code
	}
	t.endProcess(t)
}

// endProcess ends the program, from thread self (nil: from outside):
// every thread is Exited from now on, and every other one is woken from
// its wait and its vCPU kicked (wakeUp), so that its loop ends; the
// process becomes a zombie for its parent (exitProcess, tree.go). p.mu
// must be held.
func (p *Process) endProcess(self *Task) {
	if p.ended.Load() {
		return
	}
	p.ended.Store(true)
	p.stopTimers()
	for _, o := range p.tasks {
		if o != self {
			o.wakeUp(self)
		}
	}
	p.exitProcess()
}

// Kill ends the program as killed by sig, unless it has ended already:
// for what no handler can take (a fault the program cannot return from)
// and for mmvm's own failures. why is the account Signaled reports. Safe
// from any goroutine.
func (p *Process) Kill(sig unix.Signal, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended.Load() {
		return
	}
	p.sig.killedBy, p.sig.reason = sig, why
	p.endProcess(nil)
}
