package syscalls

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The processes of one VM form a tree, as Linux's do: the first one (the
// root, made by NewProcess) and the children fork, vfork and clone make
// (fork.go), each with a parent, a process group and a session. Every
// Process of the tree shares one lock, the tree lock, which guards all of
// their state; a call that crosses processes (kill, a child's exit waking
// its parent's wait4) therefore takes no second lock and cannot
// deadlock, as Linux's tasklist_lock orders such work. PIDs and TIDs are
// one number space: a new id is never a live thread's, nor the PID of a
// process that is live or a zombie, nor a process group's or session's id
// still in use (Linux keeps a struct pid alive while any of these names
// it).

// processTree is the VM's process table.
type processTree struct {
	// mu is the tree lock: Process.mu of every process points here.
	mu sync.Mutex
	// procs are the processes by PID, live and zombie: a process leaves
	// when its parent reaps it (or at once when its parent ignores
	// SIGCHLD). root is the first process, the reaper of orphans that
	// have no child subreaper above them (Linux reparents to init); it
	// never leaves. Guarded by mu.
	procs map[int]*Process
	root  *Process
	// lastID is the id given last (newID). Guarded by mu.
	lastID int
	// lastSpace numbers address spaces (Process.space). Guarded by mu.
	lastSpace uint64
	// fdChanged is closed, and replaced, whenever a pipe's contents or
	// ends or an eventfd's counter change, so that a thread of any
	// process waiting on a pipe or in poll or select looks again
	// (pipe.go). Guarded by mu.
	fdChanged chan struct{}
	// childChanged is closed, and replaced, whenever a process ends or is
	// reparented, so that the threads waiting in wait4 or waitid look
	// again (wait.go). Guarded by mu.
	childChanged chan struct{}
	// pidfds are the open pidfds of every process, woken when a process
	// or thread ends (pidfd.go).
	pidfds map[*pidFD]struct{}
	// uts are the VM's UTS names once sethostname or setdomainname
	// changed one (uts.go); nil before, when the configured or host's
	// names stand. Guarded by mu.
	uts *Uname
	// kcmpCookies obfuscate the objects kcmp orders, per kind (kcmp.go);
	// made on first use. Guarded by mu.
	kcmpCookies *[kcmpTypes][2]uint64
	// sockets is the VM's abstract socket namespace (socket.go), made
	// on first use. Guarded by mu.
	sockets *sockNamespace
	// ctx is the run's context (SetContext), every process's; atomic,
	// read without mu.
	ctx atomic.Pointer[runContext]
	// futexes are the futex wait queues of every process (futex.go):
	// shared futex keys name the same word in any process.
	futexes futexTable
	// locks are the advisory file locks of every process (filelock.go).
	locks fileLocks
	// shm are the System V shared memory segments (shm.go), the VM's one
	// IPC namespace.
	shm shmRegistry
	// msgs and sems are the namespace's System V message queues (msg.go)
	// and semaphore sets (sem.go), ipcLim their tunables (ipcLimits),
	// mqueues its POSIX message queues (mqueue.go). Guarded by mu.
	msgs    msgRegistry
	sems    semRegistry
	ipcLim  ipcLimits
	mqueues mqRegistry
	// held is what the VM's pipes and sockets hold of the room their
	// data shares with IPC (held.go). Guarded by mu.
	held heldBytes
	// epollWatches counts and bounds the VM's epoll items (epoll.go).
	// Guarded by mu.
	epollWatches epollWatches
	// clones and calls are the figures CloneRefusals and Stats report,
	// for every process of the tree.
	clones cloneRefusals
	calls  callCounts
	// stdioTTY is the terminal behind each stdio description, nil for
	// none (terminal.go); set by NewProcess, the ttys' own fields then
	// guarded by mu.
	stdioTTY [3]*tty
}

// family is a process's place in the tree. Guarded by the tree lock.
type family struct {
	// parent is the process wait4 reports this one to, nil for the root
	// (its parent is outside the VM). It becomes the root when the
	// parent ends (reparent).
	parent *Process
	// creator is the thread of the parent the process is a child of
	// (Linux's real_parent is a thread): the one that made it, until it
	// exits and another of the parent's live threads takes its children
	// (adoptChildren). wait's __WNOTHREAD looks only at the caller's.
	creator *Task
	// pgid and sid are the process group and session ids; 0 is the
	// session outside the VM the root starts in.
	pgid, sid int
	// ctty is the controlling terminal, nil for none (terminal.go):
	// inherited by a fork, dropped by setsid.
	ctty *tty
	// exitSignal is the signal the parent gets at the end (clone's
	// CSIGNAL; SIGCHLD for fork); 0 sends none. A child whose exit
	// signal is not SIGCHLD is a "clone child" for __WCLONE.
	exitSignal unix.Signal
	// execed says the process called execve since it was forked (Linux's
	// PF_FORKNOEXEC cleared): its parent may no longer setpgid it.
	execed bool
	// vforkDone, for a vfork child, is closed when the parent may go on:
	// the child exec'd, or its main thread or the process ended; nil
	// otherwise, and once closed.
	vforkDone chan struct{}
	// reaped says the parent collected the status: the process has left
	// procs.
	reaped bool
	// final is the memory figures at the end; reapedChildren those of
	// the children (and their descendants) this process reaped with a
	// wait, as Linux's cmaxrss and cmin_flt sum them: the larger peak
	// RSS, the sum of the faults. wait4's rusage reports both together,
	// getrusage(RUSAGE_CHILDREN) the second.
	final, reapedChildren Usage
	// finalSet says final holds the process's figures at its end.
	finalSet bool
}

// maxProcesses bounds the processes of a VM, live and zombie (the guest
// runs as root, whom RLIMIT_NPROC does not bind; this is its threads-max):
// fork fails with EAGAIN beyond it.
const maxProcesses = 1024

func newProcessTree(rootPID int, ctx context.Context) *processTree {
	tr := &processTree{procs: make(map[int]*Process), lastID: rootPID, locks: make(fileLocks)}
	tr.ctx.Store(&runContext{ctx})
	return tr
}

// newID returns an unused id for a thread or a process: the next after the
// last given, wrapping as Linux's pid allocator does. tr.mu must be held.
func (tr *processTree) newID() int {
	for {
		tr.lastID++
		if tr.lastID >= pidMax {
			tr.lastID = reservedPIDs
		}
		if !tr.idInUse(tr.lastID) {
			return tr.lastID
		}
	}
}

// idInUse says id names a process (live or zombie), a thread of one, a
// process group or a session. tr.mu must be held.
func (tr *processTree) idInUse(id int) bool {
	for pid, p := range tr.procs {
		if pid == id || p.family.pgid == id || p.family.sid == id || p.tasks[id] != nil {
			return true
		}
	}
	return false
}

// newSpace returns a new address space's number. tr.mu must be held, or
// tr not yet shared.
func (tr *processTree) newSpace() uint64 {
	tr.lastSpace++
	return tr.lastSpace
}

// task returns the thread of id tid in any process: a live thread, or the
// main thread of a process that is live or a zombie (Linux finds a zombie
// group leader by its TID); nil if none. tr.mu must be held.
func (tr *processTree) task(tid int) *Task {
	if p := tr.procs[tid]; p != nil {
		return p.main
	}
	for _, p := range tr.procs {
		if t := p.tasks[tid]; t != nil {
			return t
		}
	}
	return nil
}

// threads counts the live threads of every process that has not ended.
// tr.mu must be held.
func (tr *processTree) threads() int {
	n := 0
	for _, p := range tr.procs {
		if !p.ended.Load() {
			n += len(p.tasks)
		}
	}
	return n
}

// childrenChanged wakes every thread waiting for a child (wait.go), and
// the waiters of pidfds (pidfd.go).
// tr.mu must be held.
func (tr *processTree) childrenChanged() {
	if tr.childChanged != nil {
		close(tr.childChanged)
	}
	tr.childChanged = make(chan struct{})
	tr.pidfdsLookAgain()
}

// childWaitChannel is the channel the next childrenChanged closes. tr.mu
// must be held.
func (tr *processTree) childWaitChannel() <-chan struct{} {
	if tr.childChanged == nil {
		tr.childChanged = make(chan struct{})
	}
	return tr.childChanged
}

// PID returns the process's id, what getpid returns.
func (p *Process) PID() int { return p.cfg.PID }

// Processes returns every process of p's VM that its parent has not
// reaped, live or zombie, the first one (NewProcess's) first and then by
// PID: those the machine must kill (Kill) when the first one ends. Safe
// from any goroutine.
func (p *Process) Processes() []*Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	root := p.tree.root
	out := []*Process{root}
	for _, o := range p.tree.procs {
		if o != root {
			out = append(out, o)
		}
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].cfg.PID < out[1+j].cfg.PID })
	return out
}

// isZombie says the process has ended and its parent has not reaped it.
// p.mu must be held.
func (p *Process) isZombie() bool { return p.ended.Load() && !p.exitUntold && !p.family.reaped }

// waitStatus is the status wait4 reports for an ended process, as Linux
// encodes it: the exit code in bits 8-15, or the signal that killed it in
// bits 0-6. Bit 7 (a core dump) is never set: mmvm writes no core, and
// Linux sets it only when one was written. p.mu must be held.
func (p *Process) waitStatus() int {
	if p.sig.killedBy != 0 {
		return int(p.sig.killedBy) & 0x7f
	}
	return (p.exitCode & 0xff) << 8
}

// childCode is the si_code and si_status of an ended process's status, as
// SIGCHLD's and waitid's siginfo report them.
func childCode(status int) (code, st int32) {
	if status&0x7f == 0 {
		return cldExited, int32(status >> 8)
	}
	if status&0x80 != 0 {
		return cldDumped, int32(status & 0x7f)
	}
	return cldKilled, int32(status & 0x7f)
}

// SIGCHLD's si_code values (asm-generic/siginfo.h).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// saNoCldWait is SA_NOCLDWAIT: the children of a process whose SIGCHLD
// action has it are reaped when they end.
const saNoCldWait = 0x2

// exitProcess is a process's end as its parent and children see it,
// Linux's exit_notify and the work of do_exit before it: its fds close
// now (so that a pipe's reader sees EOF), its vfork parent goes on, its
// children go to their reaper (the nearest child subreaper, else the
// root), and its parent is told (notifyParent), now or once its memory is
// gone (MemoryReleased); its SEM_UNDO adjustments apply. The
// root's end is the VM's: it closes nothing (Close does) and has no parent
// to tell. p.mu must be held; p has ended.
func (p *Process) exitProcess() {
	p.releaseSemUndo()
	p.releaseVforkParent()
	final := p.usage()
	final.CPU = p.cpuTime()
	p.family.final, p.family.finalSet = final, true
	if p == p.tree.root {
		return
	}
	p.closeFiles()
	p.reparentChildren()
	if p.cfg.AwaitsMemoryRelease {
		p.exitUntold = true
		return
	}
	p.notifyParent()
}

// MemoryReleased tells the process, which has ended, that its memory is
// gone (Config.AwaitsMemoryRelease): its parent is told of its end now.
func (p *Process) MemoryReleased() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitUntold {
		p.exitUntold = false
		p.notifyParent()
	}
}

// closeFiles closes every fd of the process, as exit does, and lets go of
// the memfd the program ran from (the exe link's file).
func (p *Process) closeFiles() {
	p.releaseExe()
	if p.fdt.fds == nil {
		return
	}
	for fd, e := range p.fdt.fds {
		p.dropFD(e)
		delete(p.fdt.fds, fd)
	}
	p.fdWaitersLookAgain()
}

// releaseExe drops the process's reference on the memfd its program runs
// from, if any.
func (p *Process) releaseExe() {
	if p.exeShared != nil {
		p.exeShared.DecRef()
		p.exeShared = nil
	}
}

// reparentChildren gives the children of p, which is ending, to their new
// parent (reaper), as Linux's forget_original_parent: each then reports
// SIGCHLD at its end, one with a parent-death signal (PR_SET_PDEATHSIG)
// gets it now, and a zombie is reported to the new parent at once.
func (p *Process) reparentChildren() {
	reaper := p.reaper()
	for _, c := range p.tree.procs {
		if c.family.parent != p {
			continue
		}
		c.family.parent, c.family.creator = reaper, reaper.liveThread()
		c.family.exitSignal = unix.SIGCHLD
		if s := c.info.pdeathSig; s != 0 && !c.ended.Load() {
			_ = c.sendToProcess(nil, unix.Signal(s), sigInfo{code: siUser, pid: uint32(p.cfg.PID), why: "its parent ended (PR_SET_PDEATHSIG)"})
		}
		if c.isZombie() {
			c.notifyParent()
		}
	}
	p.tree.childrenChanged()
}

// liveThread is the thread of p that takes the children of one that exits
// (Linux's find_alive_thread): the main thread if it is live, else the
// live thread of lowest TID, else the main thread. p.mu must be held.
func (p *Process) liveThread() *Task {
	if !p.main.exitedThread.Load() {
		return p.main
	}
	var best *Task
	for _, t := range p.tasks {
		if best == nil || t.tid < best.tid {
			best = t
		}
	}
	if best == nil {
		return p.main
	}
	return best
}

// adoptChildren gives the children of thread t, which is exiting while
// its process goes on, to another live thread of the process, as Linux's
// forget_original_parent does within a thread group. p.mu must be held.
func (t *Task) adoptChildren() {
	heir := t.liveThread()
	for _, c := range t.tree.procs {
		if c.family.creator == t {
			c.family.creator = heir
		}
	}
}

// reaper is the process that adopts the children of p, as Linux's
// find_new_reaper finds it: the nearest ancestor that has not ended and
// made itself a child subreaper (PR_SET_CHILD_SUBREAPER), else the root
// (Linux's init).
func (p *Process) reaper() *Process {
	for a := p.family.parent; a != nil; a = a.family.parent {
		if a.info.subreaper && !a.ended.Load() {
			return a
		}
	}
	return p.tree.root
}

// notifyParent tells the parent of p, which has ended, as Linux's
// do_notify_parent does: the exit signal with the child's status in its
// siginfo, unless the parent ignores SIGCHLD (SIG_IGN), and every waiter
// of the parent woken. A parent whose SIGCHLD action is SIG_IGN or has
// SA_NOCLDWAIT reaps the child at once (no zombie is left); a parent that
// has ended does too, as init would.
func (p *Process) notifyParent() {
	parent := p.family.parent
	sig := p.family.exitSignal
	autoreap := parent.ended.Load()
	if sig == unix.SIGCHLD {
		act := parent.actionOf(unix.SIGCHLD)
		if act.handler == sigIGN || act.flags&saNoCldWait != 0 {
			autoreap = true
			if act.handler == sigIGN {
				sig = 0
			}
		}
	}
	if sig >= 1 && sig <= 64 && !parent.ended.Load() {
		code, status := childCode(p.waitStatus())
		_ = parent.sendToProcess(nil, sig, sigInfo{code: code, pid: uint32(p.cfg.PID), uid: p.main.cred.uid, status: status,
			why: "a child ended"})
	}
	if autoreap {
		p.reap()
	}
	p.tree.childrenChanged()
}

// withDescendants is p's figures and those of the children it reaped
// together (Linux's RUSAGE_BOTH), what wait4 reports for p.
func (p *Process) withDescendants() Usage {
	u, c := p.family.final, p.family.reapedChildren
	return Usage{PeakRSS: max(u.PeakRSS, c.PeakRSS), Faults: u.Faults + c.Faults, CPU: u.CPU + c.CPU}
}

// reapedBy removes p, ended, from the tree for a wait of its parent, whose
// figures of reaped children then count p's (Linux's wait_task_zombie).
func (p *Process) reapedBy(parent *Process) {
	u, c := p.withDescendants(), &parent.family.reapedChildren
	c.PeakRSS, c.Faults, c.CPU = max(c.PeakRSS, u.PeakRSS), c.Faults+u.Faults, c.CPU+u.CPU
	p.reap()
}

// reap removes p, ended, from the tree: its pid may be given again.
func (p *Process) reap() {
	p.family.reaped = true
	delete(p.tree.procs, p.cfg.PID)
}

// releaseVforkParent lets the parent of a vfork child go on, as Linux's
// complete_vfork_done: at the child's exec (execve must call it, with the
// tree lock held, once the new program is committed), at the exit of its
// main thread and at its end. It does nothing for other processes, or
// when done already. p.mu must be held.
func (p *Process) releaseVforkParent() {
	if p.family.vforkDone != nil {
		close(p.family.vforkDone)
		p.family.vforkDone = nil
	}
}

// execCommitted records, for execve, that the process now runs a new
// program in a new address space: its vfork parent goes on
// (releaseVforkParent), its parent may no longer change its process group
// (setpgid's EACCES), its private futexes are keyed in the new address
// space, and it and its children report their end with SIGCHLD whatever
// exit signal clone gave them (Linux's exit_notify resets the exit
// signal of a child when it or its parent exec'd since the fork). p.mu
// must be held.
func (p *Process) execCommitted() {
	p.releaseVforkParent()
	p.family.execed = true
	p.space = p.tree.newSpace()
	p.family.exitSignal = unix.SIGCHLD
	for _, c := range p.tree.procs {
		if c.family.parent == p {
			c.family.exitSignal = unix.SIGCHLD
		}
	}
}
