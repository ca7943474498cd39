package machine

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/pagetable"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/syscalls"
)

// Config says how to build a Machine. The zero value is a usable default.
type Config struct {
	// Memory is the most guest memory, in bytes, the program may use
	// (the MemoryFile's limit, less what page tables and ring 0 take);
	// 0 means DefaultMemory. An allocation past it fails as Linux fails
	// one past its memory: mmap with ENOMEM, a fault with SIGKILL.
	Memory uint64
	// FaultAround is the unit private anonymous faults allocate and map;
	// 0 means 2 MiB, arch.PageSize turns fault-around off.
	FaultAround uint64
	// Limits are the program's resource limits; nil means mm's defaults.
	// Unless they set one, the overcommit policy is the host's, weighed
	// against Memory (guestLimits).
	Limits *mm.Limits
	// Stdin, Stdout and Stderr are the program's fds 0, 1 and 2; nil ones
	// read EOF or discard. StdioFDs are the host descriptors behind them
	// (for fstat and terminal ioctls), -1 where there is none; Terminals
	// what the guest sees of those that are terminals
	// (syscalls.Config.Terminals).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	StdioFDs       [3]int
	Terminals      [3]*syscalls.Terminal
	// TerminalSet is syscalls.Config.TerminalSet.
	TerminalSet func(i int)
	// UserPorts lets user mode `out` to ring0.PortUserFirst..PortUserLast;
	// Run then returns at each such exit (tests and benchmarks).
	UserPorts bool
	// DevicePath is the KVM device; "" means /dev/kvm.
	DevicePath string
	// Views are the host directories the program sees, read-only
	// (`mmvm run --dir`).
	Views []syscalls.View
	// Uname is what the program's uname reports; the zero value is this
	// machine's own (syscalls.HostUname).
	Uname syscalls.Uname
	// Vsyscall is how the legacy vsyscall page answers; the zero value
	// follows the host kernel (HostVsyscall).
	Vsyscall VsyscallMode
	// CheckCopyOnWrite makes every MemoryManager check that no page
	// changes while forks share it copy-on-write (mm's
	// Options.CopyOnWriteChanged); CopyOnWriteChanges returns what
	// changed. For tests: it doubles the memory of shared pages.
	CheckCopyOnWrite bool
}

// DefaultMemory is the guest memory limit when Config.Memory is 0.
const DefaultMemory = 1 << 30

// kernelReserve is what the MemoryFile holds beyond Config.Memory for ring 0
// and page tables: a page-table page per 2 MiB of guest memory (the worst
// case of 4 KiB leaves) plus upper levels and the ring-0 region.
func kernelReserve(mem uint64) uint64 {
	return mem/512 + 2<<20
}

// kernelVirt is where the ring-0 region is mapped: the start of the upper
// half, supervisor-only.
const kernelVirt = arch.KernelBase

// Machine is one micro-VM running one program, a vCPU per thread. Its
// methods are not safe for concurrent use; no thread runs between two Runs,
// where Stats reads the figures.
type Machine struct {
	cfg Config

	sys *kvm.System
	vm  *kvm.VM
	// boot is the first vCPU: the one New probes KVM with and Run runs
	// the program's first thread on. cpus are all the vCPUs, boot first;
	// a new slice is stored for each one added (under threadsMu), so
	// that a shootdown reads the list without a lock.
	boot *cpu
	cpus atomic.Pointer[[]*cpu]
	// cpusMu serializes adding vCPUs; maxCPUs is how many there may be
	// (maxCPUs, or fewer where KVM allows fewer).
	cpusMu  sync.Mutex
	maxCPUs int
	// threads are the goroutines running threads other than the first
	// (threads.go).
	threads threads
	// flushGen counts the shootdowns: a vCPU whose flushedGen is behind
	// it flushes before its next entry (shootdown.go). shootdowns and
	// shootdownKicks count them and the vCPUs they kicked, for Stats.
	flushGen       atomic.Uint64
	shootdowns     atomic.Uint64
	shootdownKicks atomic.Uint64

	mf *memfile.MemoryFile
	// pt are the kernel tables: ring 0's regions, the physmap and the
	// syscall trampoline, whose kernel half every process's page tables
	// share (process.go); as is their addressSpace, used at New by the
	// probes. tablesMu is the lock of every addressSpace (addressSpace.mu).
	pt       *pagetable.PageTables
	as       *addressSpace
	tablesMu sync.Mutex

	// first is the process New made, the one Run runs and whose end is
	// the VM's end; procs are every process not yet released, first
	// included (guarded by threads.mu).
	first *process
	procs []*process
	// forks and execs count the forks and execs served, for Stats.
	forks, execs atomic.Uint64
	// cowChanges are the changes Config.CheckCopyOnWrite found, under
	// cowMu (mm reports them from any vCPU's goroutine).
	cowMu      sync.Mutex
	cowChanges []error

	// MM is the first process's memory manager: the program's, replaced
	// when it execs another.
	MM *mm.MemoryManager
	// Process is the first process's system-call state.
	Process *syscalls.Process

	// fast and trace are how Run serves faults (SetFastPath) and where it
	// records their breakdown (SetFaultTrace, nil for none).
	fast  FastPath
	trace *FaultTrace
	// cpuid is what KVM supports, which every vCPU's CPUID and ring 0
	// are made from.
	cpuid []kvm.CPUIDEntry
	// hwcap is AT_HWCAP for programs (CPUID.1:EDX of the guest).
	hwcap uint64

	// platform is what New found out about KVM and chose (Platform);
	// paging is how MMUPaging saw KVM's paging.
	platform Platform
	paging   kvm.Paging
	// journal collects page-table stores to replay and freed tables to
	// hold back (TableSyncReplay only; nil otherwise); mailbox is the
	// MemoryFile range the replay stub reads its records from.
	journal *tableJournal
	mailbox memmap.FileRange
	// vcpuRan is set once a vCPU has run: before that KVM shadows
	// nothing and a journal needs no replay.
	vcpuRan atomic.Bool
	// replayStats counts the replays; the addressSpace's mu guards it
	// (replayTables runs under it), and Stats reads it between Runs.
	replayStats ReplayStats
	// vdso is the vDSO every program gets, and the guest's clock.
	vdso guestVDSO
}

// New builds a Machine: KVM VM and vCPU, MemoryFile, ring 0, page tables and
// an empty mm. Any failure undoes what was built.
func New(cfg Config) (m *Machine, err error) {
	if cfg.Memory == 0 {
		cfg.Memory = DefaultMemory
	}
	if cfg.Memory%arch.HugePageSize != 0 {
		return nil, fmt.Errorf("machine: memory size %d is not a multiple of 2 MiB", cfg.Memory)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	m = &Machine{cfg: cfg, fast: DefaultFastPath()}
	m.threads.cond.L = &m.threads.mu
	defer func() {
		if err != nil {
			m.Close()
			m = nil
		}
	}()
	if err := m.openKVM(); err != nil {
		return nil, err
	}
	if m.mf, err = memfile.New(memfile.Options{Limit: cfg.Memory + kernelReserve(cfg.Memory), Name: "mmvm-guest"}); err != nil {
		return nil, fmt.Errorf("machine: guest memory: %w", err)
	}
	for i, r := range m.mf.Regions() {
		if err := m.vm.SetMemorySlot(kvm.MemorySlot{Slot: uint32(i), GuestPhys: r.GuestPhys, Size: r.Size, HostAddr: r.HostAddr}); err != nil {
			return nil, fmt.Errorf("machine: memory slot %d: %w", i, err)
		}
	}
	cpuid, err := m.sys.SupportedCPUID()
	if err != nil {
		return nil, fmt.Errorf("machine: supported CPUID: %w", err)
	}
	m.choosePaging()
	m.cpuid = cpuid
	if err := m.buildTables(); err != nil {
		return nil, err
	}
	if m.boot, err = m.newCPU(0); err != nil {
		return nil, err
	}
	m.cpus.Store(&[]*cpu{m.boot})
	m.maxCPUs = maxCPUs
	if n, err := m.vm.CheckExtension(kvm.CapMaxVCPUs); err == nil && n > 0 {
		m.maxCPUs = min(maxCPUs, n)
	}
	if err := m.mapTrampoline(m.as); err != nil {
		return nil, err
	}
	if err := m.boot.probeSyscallPath(); err != nil {
		return nil, err
	}
	if err := m.settleTableSync(); err != nil {
		return nil, err
	}
	if err := m.buildVDSO(); err != nil {
		return nil, err
	}
	m.first = &process{m: m}
	mem, err := m.newMemory(m.first)
	if err != nil {
		return nil, err
	}
	m.first.mem.Store(mem)
	m.procs = []*process{m.first}
	if err := m.newMM(mem, false); err != nil {
		return nil, err
	}
	m.MM = mem.mm
	pcfg := syscalls.Config{
		Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr, StdioFDs: cfg.StdioFDs, Terminals: cfg.Terminals, TerminalSet: cfg.TerminalSet,
		Limits:      processLimits(m.MM.Limits()),
		MemoryLimit: cfg.Memory,
		UserCS:      ring0.UserCodeSelector, UserSS: ring0.UserDataSelector,
		Views: cfg.Views, Uname: cfg.Uname, MapHostFile: m.mapHostFile,
		NewSharedFile: m.newSharedFile,
		NewTmpfsFile:  m.newTmpfsFile,
		CPUs:          m.guestCPUs(),
		StartThread:   m.startThread,
		Interrupt:     m.interrupt,
		Barrier:       m.barrier,
		Fork:          m.fork,
		Exec:          m.exec,
	}
	m.first.processConfig(&pcfg)
	pcfg.FPU = vcpuFPU{m.boot}
	if m.vdso.clock != nil {
		// The system calls read the vDSO's clocks, so that the two agree.
		pcfg.Now, pcfg.Monotonic, pcfg.ClockNanos = m.clockNow, m.clockMonotonic, m.clockNanos
	}
	m.Process = syscalls.NewProcess(pcfg)
	m.first.sys = m.Process
	m.boot.task = m.Process.MainTask()
	m.boot.thread.Store(m.boot.task)
	return m, nil
}

func (m *Machine) openKVM() error {
	var err error
	if m.cfg.DevicePath == "" {
		m.sys, err = kvm.Open()
	} else {
		m.sys, err = kvm.OpenPath(m.cfg.DevicePath)
	}
	if err != nil {
		return err
	}
	if m.vm, err = m.sys.CreateVM(); err != nil {
		return fmt.Errorf("machine: creating the VM: %w", err)
	}
	return nil
}

// buildTables builds the page tables, with the physmap where page-table
// changes are replayed; each vCPU maps its own ring-0 region (newCPU).
func (m *Machine) buildTables() error {
	var err error
	if ext, ok := kvm.FindCPUID(m.cpuid, 0x8000_0001, 0); ok {
		m.platform.GiantPages = ext.EDX&(1<<26) != 0 // Page1GB
	}
	if m.platform.TableSync == TableSyncReplay {
		m.journal = newTableJournal(m.mf)
		if m.mailbox, err = m.mf.Allocate(mailboxSize, memfile.AllocOpts{Kind: memfile.Kernel}); err != nil {
			return fmt.Errorf("machine: replay mailbox: %w", err)
		}
	}
	held := &heldTables{}
	if m.pt, err = pagetable.New(tableAllocator{m.mf, m.journal, held}, pagetable.Features{GiantPages: m.platform.GiantPages}); err != nil {
		return fmt.Errorf("machine: page tables: %w", err)
	}
	m.as = m.newAddressSpace(m.pt, held)
	if m.journal != nil {
		if err := m.mapPhysmap(); err != nil {
			return err
		}
		// From here on every store that narrows a translation is
		// journaled for the replay.
		m.pt.SetJournal(m.journal)
	}
	return nil
}

// kernelVirtOf is where vCPU index's ring-0 region is mapped.
func kernelVirtOf(index int) arch.Addr {
	return kernelVirt + arch.Addr(index)*ring0.RegionSize
}

// newCPU makes vCPU index: its ring-0 region laid out in the MemoryFile and
// mapped supervisor-only and global at kernelVirtOf(index), the vCPU
// itself, its CPUID, MSRs and special registers.
func (m *Machine) newCPU(index int) (c *cpu, err error) {
	c = &cpu{m: m, index: index}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if c.kernelRegion, err = m.mf.Allocate(ring0.RegionSize, memfile.AllocOpts{Kind: memfile.Kernel}); err != nil {
		return nil, fmt.Errorf("machine: ring-0 region of vCPU %d: %w", index, err)
	}
	leaf0, _ := kvm.FindCPUID(m.cpuid, 0, 0)
	leaf1, _ := kvm.FindCPUID(m.cpuid, 1, 0)
	leaf7, _ := kvm.FindCPUID(m.cpuid, 7, 0)
	features := ring0.FeaturesFromCPUID(leaf1.ECX, leaf7.EBX, leaf7.ECX)
	// The guest gets no XSAVE: enabling it means managing XCR0 and XSAVE
	// areas for no benefit to the programs mmvm runs; CPUID says so too.
	features.XSAVE = false
	c.kernel, err = ring0.New(ring0.Config{
		Mem:          m.mf.Slice(c.kernelRegion),
		Phys:         m.mf.GuestPhysical(c.kernelRegion.Start),
		Virt:         kernelVirtOf(index),
		Features:     features,
		UserPorts:    m.cfg.UserPorts,
		AvailableTSS: ring0.IsAMD(leaf0.EBX, leaf0.ECX, leaf0.EDX),
	})
	if err != nil {
		return nil, fmt.Errorf("machine: %w", err)
	}
	if index > 0 {
		// vCPU 0 found out how SYSCALL enters (probeSyscallPath).
		c.kernel.SetSyscallPath(m.platform.Syscall)
	}
	layout := c.kernel.Layout()
	for _, mp := range layout.Mappings() {
		va := arch.AddrRange{Start: layout.VirtOf(mp.Offset), End: layout.VirtOf(mp.Offset + mp.Size)}
		if _, err := m.pt.Map(va, layout.PhysOf(mp.Offset), pagetable.MapOpts{Access: mp.Access, Global: true}); err != nil {
			return nil, fmt.Errorf("machine: mapping ring 0 of vCPU %d: %w", index, err)
		}
	}
	if c.vcpu, err = m.vm.NewVCPU(index); err != nil {
		return nil, fmt.Errorf("machine: vCPU %d: %w", index, err)
	}
	if err := c.setupVCPU(m.cpuid); err != nil {
		return nil, err
	}
	if err := m.alignTSC(c); err != nil {
		return nil, err
	}
	return c, nil
}

// mapTrampoline maps the syscall trampoline page in as's tables, user read
// + execute at ring0.TrampolineVirt: vCPU 0's, whose code every vCPU's runs
// (it only exits to the host).
func (m *Machine) mapTrampoline(as *addressSpace) error {
	layout := m.boot.kernel.Layout()
	tp := layout.TrampolineMapping()
	va := arch.AddrRange{Start: ring0.TrampolineVirt, End: ring0.TrampolineVirt + arch.Addr(tp.Size)}
	as.mu.Lock()
	defer as.mu.Unlock()
	if _, err := as.pt.Map(va, layout.PhysOf(tp.Offset), pagetable.MapOpts{Access: tp.Access, User: true}); err != nil {
		return fmt.Errorf("machine: mapping the syscall trampoline: %w", err)
	}
	return nil
}

// close releases what newCPU built; the vCPU must not be running.
func (c *cpu) close() error {
	var err error
	if c.vcpu != nil {
		err = c.vcpu.Close()
		c.vcpu = nil
	}
	if c.kernelRegion.Length() != 0 {
		c.m.mf.DecRef(c.kernelRegion)
		c.kernelRegion = memmap.FileRange{}
	}
	return err
}

// guestCPUID is the CPUID the guest sees: what KVM supports, without XSAVE
// (see buildKernel).
func guestCPUID(entries []kvm.CPUIDEntry) []kvm.CPUIDEntry {
	out := append([]kvm.CPUIDEntry(nil), entries...)
	for i := range out {
		if out[i].Function == 1 {
			out[i].ECX &^= 1<<26 | 1<<27 | 1<<28 // XSAVE, OSXSAVE, AVX
		}
		if out[i].Function == 7 && out[i].Index == 0 {
			out[i].EBX &^= 1<<5 | 1<<16 | 1<<30 | 1<<17 | 1<<28 | 1<<31 // AVX2, AVX-512 F/BW/DQ/CD/VL
		}
	}
	return out
}

func (c *cpu) setupVCPU(cpuid []kvm.CPUIDEntry) error {
	guest := guestCPUID(cpuid)
	c.m.hwcap = hwcapFromCPUID(guest)
	if err := c.vcpu.SetCPUID(guest); err != nil {
		return fmt.Errorf("machine: setting CPUID: %w", err)
	}
	if err := c.loadKernelMSRs(); err != nil {
		return err
	}
	var s kvm.Sregs
	if err := c.vcpu.GetSregs(&s); err != nil {
		return fmt.Errorf("machine: reading special registers: %w", err)
	}
	applySregs(&s, c.kernel.UserSpecialRegisters(c.m.pt.Root()))
	c.taskRegister = s.TR
	if err := c.vcpu.SetSregs(&s); err != nil {
		return fmt.Errorf("machine: setting special registers: %w", err)
	}
	c.loadedCR3 = s.CR3
	want := kvm.SyncRegsGPR | kvm.SyncRegsSregs
	if c.m.vm.SyncRegsSupported()&want != want {
		return errors.New("machine: KVM lacks KVM_CAP_SYNC_REGS for registers and special registers; mmvm needs it to read exits without an ioctl each")
	}
	return c.vcpu.SetSyncRegs(want)
}

// loadKernelMSRs loads the MSRs ring 0 needs (SYSCALL's, above all) into
// the vCPU.
func (c *cpu) loadKernelMSRs() error {
	var msrs []kvm.MSR
	for _, r := range c.kernel.MSRs() {
		msrs = append(msrs, kvm.MSR{Index: r.Index, Data: r.Value})
	}
	if err := c.vcpu.SetMSRs(msrs); err != nil {
		return fmt.Errorf("machine: setting MSRs: %w", err)
	}
	return nil
}

func segment(s ring0.Segment) kvm.Segment {
	b := func(v bool) uint8 {
		if v {
			return 1
		}
		return 0
	}
	return kvm.Segment{Base: s.Base, Limit: s.Limit, Selector: s.Selector, Type: s.Type,
		Present: b(s.Present), DPL: s.DPL, DB: b(s.DB), S: b(s.S), L: b(s.L), G: b(s.G),
		AVL: b(s.AVL), Unusable: b(s.Unusable)}
}

// applySregs copies ring 0's special registers into s, keeping what ring0
// does not set (the APIC base, the interrupt bitmap).
func applySregs(s *kvm.Sregs, r ring0.SpecialRegisters) {
	s.CS, s.DS, s.ES, s.FS, s.GS, s.SS = segment(r.CS), segment(r.DS), segment(r.ES), segment(r.FS), segment(r.GS), segment(r.SS)
	s.TR, s.LDT = segment(r.TR), segment(r.LDT)
	s.GDT = kvm.DTable{Base: r.GDT.Base, Limit: r.GDT.Limit}
	s.IDT = kvm.DTable{Base: r.IDT.Base, Limit: r.IDT.Limit}
	s.CR0, s.CR3, s.CR4, s.EFER = r.CR0, r.CR3, r.CR4, r.EFER
	s.CR2 = 0
}

// SetUserContext sets where the program starts: RIP, RSP, with the initial
// RFLAGS of a Linux process and every other register zero.
func (m *Machine) SetUserContext(rip, rsp arch.Addr) error {
	if !arch.Addr(rip).IsCanonical() || rip >= arch.MaxUserAddr || rsp >= arch.MaxUserAddr {
		return fmt.Errorf("machine: user context rip %v rsp %v outside the user half", rip, rsp)
	}
	m.boot.user = ring0.UserContext{RIP: uint64(rip), RSP: uint64(rsp), RFLAGS: ring0.UserRFLAGS}
	m.boot.started = false
	return nil
}

// MemoryFile returns the guest's MemoryFile.
func (m *Machine) MemoryFile() *memfile.MemoryFile { return m.mf }

// PageTables returns the first process's page tables (for tests and
// statistics).
func (m *Machine) PageTables() *pagetable.PageTables { return m.first.mem.Load().pt }

// Kernel returns the ring-0 state.
func (m *Machine) Kernel() *ring0.Kernel { return m.boot.kernel }

// Close releases everything New built; it is safe on a partly built Machine
// and idempotent.
func (m *Machine) Close() error {
	var errs []error
	if m.boot != nil {
		// The other threads' goroutines use everything below.
		m.stopThreads()
	}
	// Their open files hold MemoryFile pages and host descriptors; the
	// first process's Close, last, closes what they all share.
	for i := len(m.procs) - 1; i >= 0; i-- {
		if p := m.procs[i]; p.sys != nil {
			p.sys.Close()
		}
	}
	for _, p := range m.procs {
		if mem := p.mem.Load(); mem != nil && !p.released && mem.dropUser() {
			mem.release()
		}
		p.released = true
	}
	m.procs, m.MM = nil, nil
	if m.boot != nil {
		for _, c := range m.allCPUs() {
			errs = append(errs, c.close())
		}
		m.boot = nil
	}
	if m.vm != nil {
		errs = append(errs, m.vm.Close())
		m.vm = nil
	}
	if m.sys != nil {
		errs = append(errs, m.sys.Close())
		m.sys = nil
	}
	if m.pt != nil {
		m.pt.Release()
		m.as.releaseHeld() // no vCPU runs any more
		m.pt = nil
	}
	if m.journal != nil {
		m.journal.releaseFreed()
		m.journal = nil
	}
	m.releaseVDSO()
	if m.mf != nil {
		if m.mailbox.Length() != 0 {
			m.mf.DecRef(m.mailbox)
		}
		// Everything that held MemoryFile pages has let go: a page still
		// allocated is a reference leaked by mm, pagetable or the loader.
		if left := m.mf.Stats().Allocated; left != 0 {
			errs = append(errs, fmt.Errorf("machine: %d bytes of guest memory still referenced at Close: a reference leak", left))
		}
		errs = append(errs, m.mf.Close())
		m.mf = nil
	}
	return errors.Join(errs...)
}
