package syscalls

// Task is one thread of a Process: the state Linux keeps per thread
// (task_struct and thread_struct) as far as system calls see it. It
// embeds its Process, so that the calls it serves reach the shared state
// (fd table, signal actions, futexes) directly.
type Task struct {
	*Process
	// tid is the thread's id; the main task's is the PID.
	tid int
	// fpu is the vCPU's x87 and SSE state that this thread's signal
	// frames save and rt_sigreturn restores; nil leaves the FPU untouched.
	fpu FPU

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
	// regs is the user context of the system call being served
	// (HandleSyscall), nil between calls: rt_sigreturn rewrites it,
	// sigaltstack reads its RSP.
	regs *UserRegs
	// tsig is the thread's own signal state (signal_default.go).
	tsig taskSignals
}

// newTask returns a Task of p with id tid.
func (p *Process) newTask(tid int) *Task {
	return &Task{Process: p, tid: tid}
}

// MainTask returns the program's first thread, whose TID is the PID.
func (p *Process) MainTask() *Task { return p.main }

// TID returns the thread's id.
func (t *Task) TID() int { return t.tid }

// SetFPU makes f the FPU this thread's signal frames save and
// rt_sigreturn restores.
func (t *Task) SetFPU(f FPU) { t.fpu = f }

// FSBase returns the thread's FS base and whether it changed since the
// last call, in which case the vCPU must load it before resuming.
func (t *Task) FSBase() (uint64, bool) {
	d := t.fsBaseDirty
	t.fsBaseDirty = false
	return t.fsBase, d
}
