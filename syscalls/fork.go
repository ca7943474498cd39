package syscalls

import (
	"golang.org/x/sys/unix"
	"maps"

	"github.com/mmvm/mmvm/arch"
)

// New processes: fork(2), vfork(2), and clone and clone3 without
// CLONE_THREAD (CloneProcess, CloneVfork). The machine makes the child's
// memory (Config.Fork: a copy-on-write duplicate, or for vfork the
// parent's own) and runs its main thread (Config.StartThread); syscalls
// makes the rest of the child as Linux's copy_process does.

// cloneProcessFlags are the flags a new process may be asked for with.
// The others (sharing the fd table, the file-system state or the signal
// actions between processes, namespaces, pidfds, cgroups) are refused.
const cloneProcessFlags = unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PARENT | unix.CLONE_SETTLS |
	unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID |
	unix.CLONE_SYSVSEM | unix.CLONE_DETACHED | unix.CLONE_PTRACE | unix.CLONE_UNTRACED |
	unix.CLONE_IO | cloneClearSighand

// canFork says a request for a new process is one mmvm makes: the machine
// can make one, and the flags are among cloneProcessFlags (fork's, vfork's,
// posix_spawn's, or a child sharing the caller's memory alone, as
// CLONE_VM|SIGCHLD makes one).
func (t *Task) canFork(args *cloneArgs) bool {
	return t.cfg.Fork != nil && t.cfg.StartThread != nil && args.flags&^cloneProcessFlags == 0
}

// cloneProcess makes a child process, as Linux's copy_process and
// kernel_clone (for a request canFork accepted): the child's memory from
// Config.Fork (shared with the caller for CLONE_VM|CLONE_VFORK), its own
// PID, and what fork inherits (inherit). Its main thread starts with the
// caller's registers at the call, but RAX 0 and, when given, RSP the new
// stack. CLONE_PARENT_SETTID writes the PID in the caller's memory,
// CLONE_CHILD_SETTID in the child's, before the child runs (a write that
// faults is ignored). With CLONE_VFORK the caller then waits until the
// child execs or ends (waitVforkDone). It returns the child's PID; EPERM
// for a tls outside the user half, EINVAL for CLONE_PARENT from the root
// (Linux refuses it from init), EAGAIN past maxProcesses or when the
// machine cannot start the child (the child's Config has no StartThread,
// or it failed), or the error of Config.Fork. The child's Config gets the
// defaults NewProcess fills where Fork left them unset.
func (t *Task) cloneProcess(args *cloneArgs) uint64 {
	f := args.flags
	if f&unix.CLONE_SETTLS != 0 && (!arch.Addr(args.tls).IsCanonical() || arch.Addr(args.tls) >= arch.MaxUserAddr) {
		return errno(unix.EPERM)
	}
	if f&unix.CLONE_PARENT != 0 && t.Process == t.tree.root {
		return errno(unix.EINVAL)
	}
	if len(t.tree.procs) >= maxProcesses {
		return errno(unix.EAGAIN)
	}
	var cfg Config
	var release func()
	var err error
	t.withoutLock(func() { cfg, release, err = t.cfg.Fork(t, f&unix.CLONE_VM != 0) })
	if err != nil {
		return errno(toErrno(err))
	}
	switch {
	case t.Exited():
		// The caller's process ended while its memory was copied.
		release()
		return errno(unix.EINTR)
	case len(t.tree.procs) >= maxProcesses, cfg.StartThread == nil:
		// Other forks took the last places meanwhile, or the machine
		// gave the child no way to run.
		release()
		return errno(unix.EAGAIN)
	}
	cfg.PID = t.tree.newID()
	fillDefaults(&cfg)
	child := t.tree.newProcess(cfg)
	t.inherit(child, args)
	regs := *t.regs
	regs.RAX = 0
	if args.stack != 0 {
		regs.RSP = args.stack
	}
	if f&unix.CLONE_PARENT_SETTID != 0 {
		t.putTID(args.parentTID, child.cfg.PID)
	}
	if f&unix.CLONE_CHILD_SETTID != 0 {
		child.putTID(args.childTID, child.cfg.PID)
	}
	var done chan struct{}
	if f&unix.CLONE_VFORK != 0 {
		done = make(chan struct{})
		child.family.vforkDone = done
	}
	t.withoutLock(func() { err = child.cfg.StartThread(child.main, regs) })
	if err != nil {
		child.main.exitedThread.Store(true)
		child.ended.Store(true)
		child.closeFiles()
		child.reap()
		release()
		return errno(unix.EAGAIN)
	}
	if done != nil {
		t.waitVforkDone(done)
	}
	return uint64(child.cfg.PID)
}

// inherit gives child, made by t's clone, what Linux's copy_process gives
// a new process: t's process's fd table (the same open file descriptions,
// close-on-exec flags and all), signal actions (with CLONE_CLEAR_SIGHAND,
// every handler but SIG_IGN reset), file system, working directory, umask,
// task name, command line and prctl settings but the parent-death signal
// and the subreaper mark; t's signal mask, FS base (or CLONE_SETTLS's tls)
// and alternate signal stack (none for CLONE_VM without CLONE_VFORK, as
// Linux's copy_process clears it: the child would run its handlers on the
// stack the caller's use); t's process group and session. It gets no
// pending signal and no timer. Its parent is t's process, and t the
// thread it is a child of (with CLONE_PARENT, those of t's process),
// told at the end by the exit signal (CSIGNAL; with CLONE_PARENT, the
// caller's own). A vfork child keys its private
// futexes in the memory it shares with t.
func (t *Task) inherit(child *Process, args *cloneArgs) {
	p, f := t.Process, args.flags
	child.family = family{parent: p, creator: t, pgid: p.family.pgid, sid: p.family.sid, ctty: p.family.ctty,
		exitSignal: unix.Signal(args.exitSignal)}
	if f&unix.CLONE_PARENT != 0 {
		child.family.parent, child.family.creator = p.family.parent, p.family.creator
		child.family.exitSignal = p.family.exitSignal
	}
	if f&unix.CLONE_VM != 0 {
		child.space = p.space
	}
	p.shareSemUndo(child, f&unix.CLONE_SYSVSEM != 0)
	child.fdt.fds = make(map[int32]fdEntry, len(p.files().fds))
	child.fdt.size = p.fdt.forkSize()
	for fd, e := range p.fdt.fds {
		e.file.refs++
		child.fdt.fds[fd] = e
	}
	for sig, act := range p.sigactions {
		child.sigactions[sig] = append([]byte(nil), act...)
	}
	if f&cloneClearSighand != 0 {
		child.flushSignalHandlers()
	}
	child.fsys, child.hostExe, child.exeShared = p.fs(), p.hostExe, p.exeShared
	if child.exeShared != nil {
		child.exeShared.IncRef()
	}
	child.info = p.info
	child.membarrier = p.membarrier
	child.limits = maps.Clone(p.limits)
	child.armCPULimit()
	child.info.argv = append([]string(nil), p.info.argv...)
	child.info.pdeathSig, child.info.subreaper = 0, false

	m := child.main
	m.sigmask = t.sigmask
	m.sched, m.nice = t.forkSched()
	m.comm = t.comm
	m.cred = t.cred
	m.mempolicy = t.mempolicy
	m.persona, m.ioprio = t.persona, t.ioprio
	m.fsBase, m.fsBaseDirty = t.fsBase, true
	if f&unix.CLONE_SETTLS != 0 {
		m.fsBase = args.tls
	}
	if f&unix.CLONE_CHILD_CLEARTID != 0 {
		m.clearChildTID = args.childTID
	}
	if f&(unix.CLONE_VM|unix.CLONE_VFORK) != unix.CLONE_VM {
		m.tsig.altSP, m.tsig.altSize, m.tsig.altFlags = t.tsig.altSP, t.tsig.altSize, t.tsig.altFlags
	}
}

// waitVforkDone waits, for vfork, until the child released its parent
// (releaseVforkParent closed done): Linux's wait_for_vfork_done, killable
// but not interruptible, so that a signal the caller may take waits until
// the child is done, and only a fatal one (or the end of the caller's
// process or the run) ends the wait early.
func (t *Task) waitVforkDone(done <-chan struct{}) {
	for {
		select {
		case <-t.wake:
		default:
		}
		select {
		case <-done:
			return
		default:
		}
		if t.Exited() || t.context().Err() != nil || t.fatalSignalPending() {
			return
		}
		ctxDone := t.context().Done()
		t.mu.Unlock()
		select {
		case <-done:
		case <-t.wake:
		case <-ctxDone:
		}
		t.mu.Lock()
	}
}

// fatalSignalPending says a signal pending on the thread and not blocked
// will kill the process when taken: SIGKILL, or one whose action is
// SIG_DFL and whose default action terminates (Linux's complete_signal
// turns such a signal into SIGKILL for every thread, which a killable
// wait sees). p.mu must be held.
func (t *Task) fatalSignalPending() bool {
	ready := (t.tsig.pending | t.sig.pending) &^ t.sigmask
	ready |= (t.tsig.pending | t.sig.pending) & sigBit(unix.SIGKILL)
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if ready&sigBit(sig) == 0 {
			continue
		}
		if sig == unix.SIGKILL {
			return true
		}
		if t.handlerOf(sig) == sigDFL && (defaultIgnored|defaultStop)&sigBit(sig) == 0 {
			return true
		}
	}
	return false
}
