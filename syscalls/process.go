package syscalls

import (
	"context"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// Memory is the guest's memory as a user access sees it: copies fault pages
// in and respect the mapping's permissions. mm.MemoryManager implements it.
type Memory interface {
	// CopyIn reads len(dst) bytes at addr; it returns how many it read and,
	// if fewer than asked, an error (EFAULT for an unmapped or unreadable
	// address).
	CopyIn(addr arch.Addr, dst []byte) (int, error)
	// CopyOut writes src at addr, with the same contract as CopyIn.
	CopyOut(addr arch.Addr, src []byte) (int, error)
}

// MemoryCalls are the memory system calls, taking raw arguments and
// returning Linux's result or a unix.Errno, with mm's names and signatures:
// *mm.MemoryManager has every method but MMap, whose file the machine
// turns into mm's. Brk returns the new break or, with an error, the
// unchanged one (brk(2) reports failure so).
type MemoryCalls interface {
	// MMap maps file (nil for MAP_ANONYMOUS, or where the fd named
	// nothing mappable: mm then answers as Linux does for a bad fd).
	MMap(addr, length, prot, flags uint64, file *MmapFile, off uint64) (arch.Addr, error)
	MUnmap(addr, length uint64) error
	MRemap(oldAddr, oldSize, newSize, flags, newAddr uint64) (arch.Addr, error)
	MProtect(addr, length, prot uint64) error
	Brk(addr uint64) (arch.Addr, error)
	Madvise(addr, length, advice uint64) error
	MLock2(addr, length, flags uint64) error
	MSeal(addr, length, flags uint64) error
	// RemapFilePages is remap_file_pages(2), which Linux emulates by
	// mapping the vma's file again.
	RemapFilePages(start, size, prot, pgoff, flags uint64) error
	// SetCapIPCLock says whether the process's calls hold CAP_IPC_LOCK,
	// which lifts RLIMIT_MEMLOCK (mm's Limits.CapIPCLock); the memory a
	// process starts with, or an exec makes, assumes it does.
	SetCapIPCLock(held bool)
	// SetMemoryLimit sets the limit mm enforces for resource, one of
	// RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK and RLIMIT_STACK, to soft
	// (RLIM_INFINITY for none), as setrlimit does.
	SetMemoryLimit(resource int, soft uint64)
	// SetMDWE, MDWE, SetTHPDisable and THPDisable are prctl's
	// PR_SET_MDWE, PR_GET_MDWE, PR_SET_THP_DISABLE and PR_GET_THP_DISABLE,
	// with the arguments after the option.
	SetMDWE(bits uint64, rest [3]uint64) error
	MDWE(args [4]uint64) (uint64, error)
	SetTHPDisable(disable, flags uint64, rest [2]uint64) error
	THPDisable(args [4]uint64) (uint64, error)
	MUnlock(addr, length uint64) error
	MLockAll(flags uint64) error
	MUnlockAll() error
	MSync(addr, length, flags uint64) error
	// MinCore fills vec with one byte per page of [addr, addr+length), 1
	// where the page is resident; vec holds exactly that many bytes.
	MinCore(addr, length uint64, vec []byte) error
	// MBind, GetMempolicy, SetHomeNode, PageNodes, NewTaskMempolicy and
	// ReadNodeMask are mm's (mempolicy.go): mbind, get_mempolicy (with
	// the calling thread's own policy, taskMode and taskMask),
	// set_mempolicy_home_node, move_pages' query of where pages are,
	// set_mempolicy's check of a policy (returning the mode and mask
	// get_mempolicy reports of it), and get_nodes.
	MBind(addr, length, mode uint64, nodemask []uint64, maxnode, flags uint64) error
	GetMempolicy(addr, flags, maxnode uint64, wantMask bool, taskMode int32, taskMask uint64) (int32, uint64, error)
	SetHomeNode(addr, length, node, flags uint64) error
	PageNodes(addrs []uint64, status []int32)
	NewTaskMempolicy(mode uint64, nodemask []uint64, maxnode uint64) (int32, uint64, error)
	ReadNodeMask(nodemask []uint64, maxnode uint64) (uint64, error)
	// ShmDetach is shmdt(addr): it unmaps the vmas of one System V
	// segment attached at addr, those whose identity segment recognizes
	// (returning the segment's size).
	ShmDetach(addr uint64, segment func(memmap.MappingIdentity) (uint64, bool)) error
}

// Config is what a Process is created from.
type Config struct {
	Memory Memory
	Calls  MemoryCalls
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// StdioFDs are the host descriptors behind guest fds 0, 1 and 2, used to
	// answer fstat and the terminal ioctls as the host would; -1 where
	// there is none (the guest then sees a pipe-like character device).
	StdioFDs [3]int
	// Terminals are the terminals behind StdioFDs as the guest sees
	// them (terminal.go); nil where StdioFDs' is no terminal, or where
	// HostTerminal's answer for it is the one to use.
	Terminals [3]*Terminal
	// TerminalSet, where set, is called after the program changed the
	// settings of the terminal behind stdio fd i (TCSETS, TCSETSW or
	// TCSETSF on StdioFDs[i]), with the tree lock held: it must not call
	// into any Process.
	TerminalSet func(i int)
	// Context is the calls' context until SetContext replaces it: its end
	// interrupts waiting and long calls. Defaults to context.Background().
	Context context.Context
	// Uname is what uname reports; the zero value is HostUname().
	Uname Uname
	// PID is what getpid and gettid return.
	PID int
	// Now returns the wall-clock time; Monotonic the monotonic clock since
	// an arbitrary origin. Both default to the host's clocks.
	Now       func() time.Time
	Monotonic func() time.Duration
	// ClockNanos, when set, answers clock_gettime for the clock ids it
	// serves (ok true), in nanoseconds: the vDSO's clocks, which the
	// system call must read exactly as the vDSO does. Now and Monotonic
	// must then be its CLOCK_REALTIME and CLOCK_MONOTONIC.
	ClockNanos func(id int) (ns int64, ok bool)
	// Random fills b with random bytes (getrandom); defaults to crypto/rand.
	Random func(b []byte)
	// Limits are the resource limits getrlimit and prlimit64 report, by
	// RLIMIT_* number; absent ones are RLIM_INFINITY.
	Limits map[int]Limit
	// CPUs is how many CPUs the program sees (sched_getaffinity's mask,
	// 1 to 64): as many as its threads can run on at once. 0 means 1.
	CPUs int
	// MemoryLimit is the guest's memory, in bytes, as sysinfo reports
	// its total RAM; Usage returns the program's memory figures (sysinfo,
	// getrusage); nil reports zeros.
	MemoryLimit uint64
	Usage       func() Usage
	// FPU is the vCPU's x87 and SSE state, which signal frames save and
	// rt_sigreturn restores; nil runs handlers with the FPU untouched.
	FPU FPU
	// UserCS and UserSS are the selectors the program runs with, as
	// signal frames record them and rt_sigreturn must find them.
	UserCS, UserSS uint16
	// Views are the host directories the guest sees, read-only (view.go).
	Views []View
	// HostProc is the host's /proc, from which the guest's machine-wide
	// /proc files draw the host's figures (procsys.go); nil is
	// os.DirFS("/proc").
	HostProc fs.FS
	// HostSys is the host's /sys, from which each guest CPU's cache
	// directories draw those of the host CPU it runs on (procsys.go);
	// nil is os.DirFS("/sys").
	HostSys fs.FS
	// View is what /proc shows of the program's memory; nil shows none.
	View ProcessView
	// MapHostFile makes a host file mappable (mmap of a view's file); nil
	// makes such an mmap ENODEV.
	MapHostFile HostFileMapper
	// NewSharedFile makes a memfd's contents; nil makes memfd_create
	// ENOSYS.
	NewSharedFile SharedFileMaker
	// NewTmpfsFile makes a tmpfs file's contents; nil makes creating a
	// regular file in /tmp or /dev/shm ENOSYS.
	NewTmpfsFile TmpfsFileMaker
	// FutexKey names the futex word at addr for a futex call without
	// FUTEX_PRIVATE_FLAG, as Linux's get_futex_key does: shared false for
	// a word in a private mapping (its address names it), or, for one in
	// a shared mapping, shared true and an id that is the same for the
	// same backing word at whatever address it is mapped. An error means
	// the program cannot read addr (EFAULT). nil keys every futex by its
	// address. mm.MemoryManager.FutexKey implements it.
	FutexKey func(addr arch.Addr) (id uint64, shared bool, err error)
	// StartThread starts a vCPU that runs the new thread t from regs:
	// RAX 0, RSP the new stack, RIP after the clone's SYSCALL, with t's
	// FS base (t.FSBase reports it changed) and its own FPU, which the
	// machine gives t with t.SetFPU before t's first call, loaded with
	// t.StartFPU where that is set. It is called without the
	// Process lock, before clone returns to the parent; an error makes
	// clone fail with EAGAIN and t is forgotten. nil refuses threads:
	// clone answers ENOSYS, as for any other kind of child.
	StartThread func(t *Task, regs UserRegs) error
	// Interrupt makes t's vCPU leave guest mode soon (a kick), so that it
	// calls t.TakeSignals or sees t.Exited. It is called with the
	// Process lock (the tree lock) held, so it must not call into any
	// Process of the VM; safe from any goroutine; t may not be running
	// (yet, or any more). nil: the machine looks by itself.
	Interrupt func(t *Task)
	// Barrier returns once every vCPU that runs a thread for which
	// which returns true (self's excepted) has left guest mode, or never
	// was in it, since Barrier was called: a VM exit orders its memory
	// accesses as a full barrier and a serializing instruction would
	// (membarrier's expedited commands). It is called with the Process
	// lock held, so which must not take it, nor may Barrier call into
	// any Process; nil: the guest runs on one CPU at a time, and there
	// is nothing to wait for.
	Barrier func(self *Task, which func(*Task) bool)

	// Fork makes the memory of a new process, a child of caller's: with
	// shareMemory false a copy-on-write duplicate of parent's (fork, and
	// clone without CLONE_VM), with it true parent's memory itself
	// (CLONE_VM, vfork's among them: the child runs in it until it
	// execs or exits, and it lasts while any process runs in it); the child's first thread starts with caller's FPU state.
	// It returns the child's Config: the parent's, with the fields
	// bound to the memory (Memory, Calls, View, FutexKey, Usage, FPU,
	// Owner) the child's; syscalls sets its PID. release undoes the fork
	// while no thread of the child has started (a failure after it);
	// once its first thread started (StartThread with the child's main
	// Task), the machine releases the child's memory itself when the
	// child has ended and its threads have stopped. Called without the
	// Process lock. nil refuses new processes: clone answers ENOSYS.
	Fork func(caller *Task, shareMemory bool) (child Config, release func(), err error)
	// Exec replaces the memory of t's process with a new address space
	// holding the static ELF program prog, its stack built from argv and
	// envp as Linux builds it,
	// and releases the old memory (not the memory a vfork child shares
	// with its parent). It is called without the Process lock, after the
	// process's other threads were ended; it waits until their vCPUs
	// have stopped. It returns the registers t starts the new program
	// from (RIP, RSP, RFLAGS; every other register zero). An error is
	// execve's, a unix.Errno (ENOEXEC: not a static x86-64 ELF; ENOMEM;
	// EACCES), returned before anything changed. nil makes execve
	// ENOSYS.
	Exec func(t *Task, prog ExecProgram, argv, envp []string) (UserRegs, error)
	// AwaitsMemoryRelease says the machine calls MemoryReleased once the
	// ended process's memory is gone (its threads stopped, its vmas
	// unmapped): only then is its parent told of its end, as Linux's
	// exit_mm comes before exit_notify, so that a parent's wait returns
	// with the child's mappings gone (a System V segment's attach count,
	// a deleted file's pages). Without it the parent is told at once.
	AwaitsMemoryRelease bool
	// Owner is the machine's own handle of the process's memory, which
	// syscalls never looks at (Process.Owner returns it).
	Owner any
}

// ExecProgram is the program an execve runs, as Config.Exec gets it: the
// names the new program sees are the guest's, never a host path.
type ExecProgram struct {
	// Filename is the name the program was exec'ed by, as Linux's
	// bprm->filename (AT_EXECFN points to it): the path as the caller
	// gave it, or /dev/fd/N (execveat's AT_EMPTY_PATH).
	Filename string
	// GuestPath is the file's path in the guest, its links resolved:
	// /proc/self/exe and /proc/self/maps name the program by it.
	GuestPath string
	// HostPath is the host file a view shows at GuestPath; "" when
	// Shared is the program.
	HostPath string
	// Shared is the memfd whose contents are the program (fexecve), nil
	// for a host file. The caller holds a reference for the call; the
	// new program's mappings take their own.
	Shared SharedFile
}

// Limit is one resource limit.
type Limit struct{ Cur, Max uint64 }

// Process is one guest process's system-call state, shared by its threads
// (Task): each thread's calls run on that thread's own goroutine (its
// vCPU's), concurrently with the others'; the tree lock, which every
// Process of one VM shares, serializes them but for their waits and mm's
// calls (doc.go says what each lock guards). The exported methods are
// safe from any goroutine.
type Process struct {
	// mu is the tree lock, tree.mu: a thread holds it while it serves a
	// call, a fault or its signals, and releases it while it waits
	// (block, waitHostFD) and while mm serves a memory call. See doc.go
	// for the lock order and what it guards.
	mu *sync.Mutex
	// tree is the VM's process table (tree.go), shared by every Process
	// of the VM; never changes.
	tree *processTree

	cfg Config
	// start is when the Process was made: the times fstat reports.
	start time.Time
	// waitable are the host descriptors behind guest fds 0, 1 and 2 that
	// may make a read or write wait, -1 for the others (waitableFDs).
	waitable [3]int
	// limits are the limits setrlimit and prlimit64 changed, each
	// overriding Config.Limits' (nil: none changed); a fork's child gets
	// a copy. Guarded by mu.
	limits map[int]Limit

	// sigactions records rt_sigaction's actions as the guest laid them
	// out (struct sigaction).
	sigactions map[int][]byte

	exited   bool
	exitCode int

	// fsys is the guest's file system (view.go), built on first use and
	// shared with the children forked after; hostExe the program's file
	// on the host (SetExecutable).
	fsys    *fileSystem
	hostExe string
	// exeShared is the memfd the program runs from (fexecve), nil for a
	// host file; the Process holds a reference, which Close drops. An
	// exec of /proc/self/exe runs it again.
	exeShared SharedFile
	// semUndo is the process's SEM_UNDO adjustments (sem.go), nil until
	// it uses SEM_UNDO; shared with a CLONE_SYSVSEM child. Guarded by
	// the tree lock.
	semUndo *semUndoList
	// execID counts the process's execs (self_exec_id): an mq_notify
	// registration made before one sends no signal. Guarded by the
	// tree lock.
	execID uint64

	// fdt is the fd table (fd.go), sig the signal state beyond actions
	// and mask (signal_default.go), info what the process-information
	// calls keep (procinfo.go).
	fdt  fdTable
	sig  signalState
	info procState
	// timers are alarm's, setitimer's and timer_create's (timers.go).
	// Guarded by mu.
	timers timerState
	// membarrier is the process's membarrier registrations, Linux's
	// mm->membarrier_state bits (membarrier.go): a fork's child inherits
	// them, exec clears them. Guarded by mu.
	membarrier uint32

	// family is the process's place in the tree (tree.go): parent,
	// process group, session, exit status. Guarded by mu.
	family family

	// futexes are the futex wait queues (futex.go), the tree's, shared
	// by every process; the table has its own lock. space names the
	// address space private futex keys belong to (tree.go).
	futexes *futexTable
	space   uint64
	// clones counts the clone requests refused (clone.go); calls counts
	// the system calls by number, for Stats. Both are the tree's.
	clones *cloneRefusals
	calls  *callCounts
	// statsMu guards the signal figures SignalStats reads concurrently
	// (sig.handled, sig.stopped).
	statsMu sync.Mutex

	// main is the first thread, whose TID is the PID; it stays main
	// after it exits (Linux's group leader).
	main *Task
	// tasks are the live threads by TID (those that have not exited).
	// Guarded by mu.
	tasks map[int]*Task
	// exitedCPU is the CPU time of the threads that left tasks
	// (cputime.go). Guarded by mu.
	exitedCPU time.Duration
	// ended is set, under mu, when the program ends (exit_group, the
	// exit of its last thread, a fatal signal); read without mu.
	ended atomic.Bool
	// lockBlocker is the owner of the POSIX lock a thread of the process
	// waits for in F_SETLKW, for deadlock detection (filelock.go); nil
	// when none waits. Guarded by mu.
	lockBlocker any
	// exitUntold says the process has ended but its parent has not been
	// told yet: it waits for MemoryReleased (Config.AwaitsMemoryRelease).
	// Guarded by mu.
	exitUntold bool
}

// NewProcess returns the first Process of a new VM for cfg, filling
// defaults: the root of a new process tree, whose PID is cfg.PID (1 if
// 0), in a process group of its own within a session that lies outside
// the VM (getsid reports 0 for it, as Linux reports a session whose
// leader is outside the caller's pid namespace), with no parent in the
// VM (getppid reports 0).
func NewProcess(cfg Config) *Process {
	fillDefaults(&cfg)
	tr := newProcessTree(cfg.PID, cfg.Context)
	p := tr.newProcess(cfg)
	p.family.pgid = cfg.PID
	tr.setupTerminals(p)
	p.main.nice = hostNice()
	p.armCPULimit()
	tr.root = p
	return p
}

// fillDefaults fills what cfg leaves unset with NewProcess's defaults.
func fillDefaults(cfg *Config) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Monotonic == nil {
		start := time.Now()
		cfg.Monotonic = func() time.Duration { return time.Since(start) + time.Second }
	}
	if cfg.Random == nil {
		cfg.Random = cryptoRandom
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	if cfg.PID == 0 {
		cfg.PID = 1
	}
}

// newProcess returns a Process of tr for cfg (its defaults filled), with
// its main thread, entered in the table under cfg.PID. tr.mu must be
// held, or tr not yet shared.
func (tr *processTree) newProcess(cfg Config) *Process {
	p := &Process{
		mu:         &tr.mu,
		tree:       tr,
		cfg:        cfg,
		start:      cfg.Now(),
		waitable:   waitableFDs(cfg.StdioFDs),
		sigactions: make(map[int][]byte),
		futexes:    &tr.futexes,
		space:      tr.newSpace(),
		clones:     &tr.clones,
		calls:      &tr.calls,
	}
	p.main = p.newTask(cfg.PID)
	p.tasks = map[int]*Task{cfg.PID: p.main}
	p.main.fpu = cfg.FPU
	tr.procs[cfg.PID] = p
	return p
}

// Config returns the Config p was made from (a fork's child starts from
// its parent's).
func (p *Process) Config() Config { return p.cfg }

// Owner returns Config.Owner.
func (p *Process) Owner() any { return p.cfg.Owner }

// Ended reports whether the program has ended (exit_group, the exit of its
// last thread, a fatal signal). Safe from any goroutine, without a lock.
func (p *Process) Ended() bool { return p.ended.Load() }

// Exited reports whether the guest called exit or exit_group, and its status.
func (p *Process) Exited() (bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited, p.exitCode
}
