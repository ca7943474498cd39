package machine

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/loader"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/pagetable"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/syscalls"
)

// # Processes
//
// Every guest process in the VM is a process here: the syscalls.Process
// serving its calls and its memory (processMemory): a MemoryManager and the
// page tables mm programs, whose user half is the process's own and whose
// kernel half is the Machine's kernel tables (pagetable.NewSharingKernel),
// so that every vCPU finds its ring 0 whichever process it runs. fork gives
// the child a copy-on-write duplicate of its parent's memory (mm.Fork) in
// page tables of its own; a CLONE_VM child (vfork's) runs in its parent's
// memory until it execs or exits; execve gives a process a new memory and
// leaves the old, which the last process to leave it releases. A vCPU runs the threads of one process at a time, on that process's
// page tables; one reused for another process loads the new process's
// (loadUserContext).
//
// A process's memory is released once the process has ended and no vCPU
// runs its threads any more (runThread); the first process, the one New
// made, keeps its until Close. The VM's run ends when the first process
// ends, and the others are killed then (finishRun).

// process is one guest process.
type process struct {
	m *Machine
	// sys serves the process's calls; set once, before any thread runs.
	sys *syscalls.Process
	// mem is the process's memory. It changes only at exec, on the
	// goroutine of the exec'ing thread, while no other thread of the
	// process runs; atomic for the readers on other goroutines (Stats
	// between runs, the Machine's MM).
	mem atomic.Pointer[processMemory]
	// threads counts the vCPUs running the process's threads (guarded by
	// the Machine's threads.mu); released says the process's memory
	// went back (runThread), also under threads.mu.
	threads  int
	released bool
	// startFPU is the FXSAVE image the process's first thread starts
	// with: its parent's caller's, as fork copies it; nil for the first
	// process (startThread reads it once).
	startFPU *[512]byte
}

// processMemory is one address space of a process: mm's state and the
// page tables it programs.
type processMemory struct {
	mm *mm.MemoryManager
	pt *pagetable.PageTables
	as *addressSpace
	// owner is the process it was made for, whose end interrupts its
	// populates (mm.Options.Interrupted).
	owner *process
	// users counts the processes that run in it: owner, and each child
	// made with CLONE_VM (vfork's among them), as Linux's mm_users, until
	// each execs or is forgotten. The one that drops it to 0 releases it
	// (dropUser): a CLONE_VM child without CLONE_VFORK may outlive its
	// parent, or see it exec, while it still runs in the memory.
	users atomic.Int32
}

// addUser records another process running in mem (fork with CLONE_VM).
// The caller runs in mem, so users is at least 1 and mem is not released.
func (mem *processMemory) addUser() { mem.users.Add(1) }

// dropUser records that a process no longer runs in mem and says whether
// it was the last, whose caller must release mem (or retire it, at exec).
func (mem *processMemory) dropUser() bool { return mem.users.Add(-1) == 0 }

// newMemory makes an empty address space for owner: page tables sharing
// the kernel half, the syscall trampoline mapped, and an addressSpace
// over them; its mm is the caller's to make.
func (m *Machine) newMemory(owner *process) (*processMemory, error) {
	held := &heldTables{}
	pt, err := pagetable.NewSharingKernel(tableAllocator{m.mf, m.journal, held}, pagetable.Features{GiantPages: m.platform.GiantPages}, m.pt)
	if err != nil {
		return nil, fmt.Errorf("machine: page tables: %w", err)
	}
	if m.journal != nil && !m.journal.off {
		pt.SetJournal(m.journal)
	}
	mem := &processMemory{pt: pt, as: m.newAddressSpace(pt, held), owner: owner}
	mem.users.Store(1)
	if err := m.mapTrampoline(mem.as); err != nil {
		mem.releaseTables()
		return nil, err
	}
	return mem, nil
}

// newMM makes the MemoryManager of a new program in mem, with Linux's
// legacy bottom-up layout where legacy says (syscalls.Task.LegacyLayout).
func (m *Machine) newMM(mem *processMemory, legacy bool) error {
	opts := mm.Options{MemoryFile: m.mf, AddressSpace: mem.as, FaultAround: m.cfg.FaultAround, Limits: guestLimits(m.cfg), Interrupted: mem.owner.stopping}
	if legacy {
		opts.Layout = mm.LegacyLayout()
	}
	if m.cfg.CheckCopyOnWrite {
		opts.CopyOnWriteChanged = m.copyOnWriteChanged
	}
	var err error
	mem.mm, err = mm.New(opts)
	if err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	return nil
}

// copyOnWriteChanged records a change Config.CheckCopyOnWrite found.
func (m *Machine) copyOnWriteChanged(err error) {
	m.cowMu.Lock()
	defer m.cowMu.Unlock()
	m.cowChanges = append(m.cowChanges, err)
}

// CopyOnWriteChanges returns the pages Config.CheckCopyOnWrite found changed
// while forks shared them: each one is a write that went through a
// translation copy-on-write had removed. Pages still shared are checked
// when they stop being shared (Close releases every process's memory).
func (m *Machine) CopyOnWriteChanges() []error {
	m.cowMu.Lock()
	defer m.cowMu.Unlock()
	return slices.Clone(m.cowChanges)
}

// stopping is the Interrupted check of the process's mm: a populate stops
// between steps once the run's context has ended or the process was
// killed. p.sys is nil until the process's first thread starts, which is
// before the process makes any call.
func (p *process) stopping() bool { return p.sys != nil && p.sys.Stopping() }

// release returns mem's pages and page tables to the MemoryFile: no vCPU
// may run on its tables any more.
func (mem *processMemory) release() {
	if mem.mm != nil {
		mem.mm.Release() // unmaps everything, shot down
		mem.mm = nil
	}
	mem.releaseTables()
}

// releaseTables frees mem's page tables. The tables left (the root and the
// trampoline's) go like any freed table: held until a shootdown, or
// journaled for the replay that drops KVM's shadows of them.
func (mem *processMemory) releaseTables() {
	as := mem.as
	as.mu.Lock()
	defer as.mu.Unlock()
	mem.pt.Release()
	if as.narrowed != nil {
		as.narrowed()
	}
	as.releaseHeld()
}

// processConfig is the part of a process's syscalls.Config bound to its
// memory; the rest is the Machine's (New) or the parent's (fork).
func (p *process) processConfig(cfg *syscalls.Config) {
	cfg.Memory, cfg.Calls = memoryCalls{p}, memoryCalls{p}
	cfg.View = processView{p}
	cfg.FutexKey = func(addr arch.Addr) (uint64, bool, error) { return p.mm().FutexKey(addr) }
	cfg.Usage = p.usage
	cfg.Owner = p
	// The vCPU goroutine of its last thread releases an ended process's
	// memory and then says so (threads.go).
	cfg.AwaitsMemoryRelease = true
}

// mm is the process's MemoryManager now.
func (p *process) mm() *mm.MemoryManager { return p.mem.Load().mm }

// usage is the process's memory figures for sysinfo and getrusage.
func (p *process) usage() syscalls.Usage {
	s := p.mm().Stats()
	return syscalls.Usage{RSS: s.RSS, PeakRSS: s.PeakRSS, Faults: s.Faults}
}

// processOf returns the process a Task belongs to.
func processOf(t *syscalls.Task) *process { return t.Owner().(*process) }

// fork is syscalls.Config.Fork: the memory of a child of caller's
// process, and the FPU state its first thread starts with.
func (m *Machine) fork(caller *syscalls.Task, share bool) (syscalls.Config, func(), error) {
	parent := caller.Process
	pp := processOf(caller)
	child := &process{m: m}
	if c := m.cpuOf(caller); c != nil {
		fx, err := vcpuFPU{c}.image()
		if err != nil {
			return syscalls.Config{}, nil, fmt.Errorf("%w: machine: reading vCPU %d's FPU for fork: %v", unix.ENOMEM, c.index, err)
		}
		child.startFPU = &fx
	}
	if share {
		mem := pp.mem.Load()
		mem.addUser()
		child.mem.Store(mem)
	} else {
		mem, err := m.newMemory(child)
		if err != nil {
			return syscalls.Config{}, nil, fmt.Errorf("%w: %v", unix.ENOMEM, err)
		}
		if mem.mm, err = pp.mm().Fork(mem.as, child.stopping); err != nil {
			mem.release()
			return syscalls.Config{}, nil, err
		}
		child.mem.Store(mem)
		// A userfaultfd with UFFD_FEATURE_EVENT_FORK is told of the
		// child; the fork waits until the monitor reads it (fork is
		// called with no lock held).
		pp.waitUserfaultEvents(pp.mm())
	}
	cfg := parent.Config()
	child.processConfig(&cfg)
	cfg.FPU = nil // the child's first thread gets its vCPU's (startThread)
	m.addProcess(child)
	m.forks.Add(1)
	release := func() {
		th := &m.threads
		th.mu.Lock()
		for i, q := range m.procs {
			if q == child {
				m.procs = append(m.procs[:i], m.procs[i+1:]...)
				break
			}
		}
		child.released = true
		th.mu.Unlock()
		if mem := child.mem.Load(); mem.dropUser() {
			mem.release()
		}
	}
	return cfg, release, nil
}

// exec is syscalls.Config.Exec: t's process gets a new memory holding the
// program prog, and the old one goes.
func (m *Machine) exec(t *syscalls.Task, prog syscalls.ExecProgram, argv, envp []string) (syscalls.UserRegs, error) {
	p := processOf(t)
	c := m.cpuOf(t)
	if c == nil {
		return syscalls.UserRegs{}, fmt.Errorf("%w: exec from a thread no vCPU runs", unix.EINVAL)
	}
	m.waitOthersStopped(p, c)
	mem, err := m.newMemory(p)
	if err != nil {
		return syscalls.UserRegs{}, fmt.Errorf("%w: %v", unix.ENOMEM, err)
	}
	if err := m.newMM(mem, t.LegacyLayout()); err != nil {
		mem.release()
		return syscalls.UserRegs{}, fmt.Errorf("%w: %v", unix.ENOMEM, err)
	}
	mem.mm.InheritFlags(p.mm())
	entry, sp, err := m.loadImage(mem, p.sys, prog, argv, envp)
	if err != nil {
		mem.release()
		return syscalls.UserRegs{}, execErrno(err)
	}
	// The new program starts with a fresh FPU.
	if err := (vcpuFPU{c}).RestoreFPU(&initialFPU); err != nil {
		mem.release()
		return syscalls.UserRegs{}, fmt.Errorf("%w: machine: resetting vCPU %d's FPU at exec: %v", unix.ENOMEM, c.index, err)
	}
	m.execs.Add(1)
	old := p.mem.Swap(mem)
	if old.dropUser() {
		// Released once the vCPU has run on the new tables (run):
		// until then KVM has the old root loaded for it.
		c.retired = old
	}
	if p == m.first {
		m.MM = mem.mm
	}
	// The vCPU loads the new tables before it next enters: flushTLB
	// takes the root from the process. Until then its synced CR3 names
	// the kernel tables, where a replay before that entry runs: the old
	// root is freed, and another vCPU's replay may hand it back to the
	// MemoryFile before this one's.
	c.vcpu.Sync().Sregs.CR3 = c.m.pt.Root()
	c.flushedGen = ^c.m.flushGen.Load()
	return syscalls.UserRegs{RIP: uint64(entry), RSP: uint64(sp), RFLAGS: ring0.UserRFLAGS}, nil
}

// execErrno is the errno execve reports for a program that did not load:
// E2BIG for arguments that do not fit, ENOEXEC for a file that is no
// static x86-64 ELF, the errno of a failed read, else ENOMEM.
func execErrno(err error) error {
	var le *loader.Error
	var e unix.Errno
	switch {
	case errors.Is(err, loader.KindArgs):
		return fmt.Errorf("%w: %v", unix.E2BIG, err)
	case errors.As(err, &le) && le.Kind != loader.KindIO:
		return fmt.Errorf("%w: %v", unix.ENOEXEC, err)
	case errors.As(err, &e):
		return err
	}
	return fmt.Errorf("%w: %v", unix.ENOMEM, err)
}

// cpuOf returns the vCPU running t, or nil.
func (m *Machine) cpuOf(t *syscalls.Task) *cpu {
	for _, c := range m.allCPUs() {
		if c.thread.Load() == t {
			return c
		}
	}
	return nil
}

// waitOthersStopped waits until no vCPU but self runs a thread of p: the
// syscalls package ended them before exec, and they stop at their next
// exit.
func (m *Machine) waitOthersStopped(p *process, self *cpu) {
	for spins := 0; ; spins++ {
		busy := false
		for _, c := range m.allCPUs() {
			if c != self && c.inRun.Load() && c.thread.Load() != nil && processOf(c.thread.Load()) == p {
				busy = true
				_ = c.vcpu.Kick()
			}
		}
		if !busy {
			return
		}
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}
