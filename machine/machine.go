package machine

import (
	"errors"
	"fmt"
	"io"

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
	// (for fstat and terminal ioctls), -1 where there is none.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	StdioFDs       [3]int
	// UserPorts lets user mode `out` to ring0.PortUserFirst..PortUserLast;
	// Run then returns at each such exit (tests and benchmarks).
	UserPorts bool
	// DevicePath is the KVM device; "" means /dev/kvm.
	DevicePath string
	// Views are the host directories the program sees, read-only
	// (`mmvm run --dir`).
	Views []syscalls.View
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

// Machine is one micro-VM running one program on one vCPU. Its methods are
// not safe for concurrent use, except Stop and Stats.
type Machine struct {
	cfg Config

	sys  *kvm.System
	vm   *kvm.VM
	vcpu *kvm.VCPU

	mf     *memfile.MemoryFile
	kernel *ring0.Kernel
	// kernelRegion is the ring-0 region's MemoryFile range.
	kernelRegion memmap.FileRange
	pt           *pagetable.PageTables
	as           *addressSpace

	// MM is the program's memory manager.
	MM *mm.MemoryManager
	// Process is the program's system-call state.
	Process *syscalls.Process

	// user is the user context Run starts from (SetUserContext); started
	// says the vCPU has run it already.
	user    ring0.UserContext
	started bool

	stats statsCollector
	// fast and trace are how Run serves faults (SetFastPath) and where it
	// records their breakdown (SetFaultTrace, nil for none).
	fast  FastPath
	trace *FaultTrace
	// taskRegister is TR as ring 0 loads it (see markSregsDirty).
	taskRegister kvm.Segment
	// hwcap is AT_HWCAP for programs (CPUID.1:EDX of the guest).
	hwcap uint64
	// cr3Toggle is whether CR3 carries the PWT bit now (see flushTLB).
	cr3Toggle bool

	// platform is what New found out about KVM and chose (Platform);
	// paging is how MMUPaging saw KVM's paging.
	platform Platform
	paging   kvm.Paging
	// journal collects page-table stores to replay and freed tables to
	// hold back (TableSyncReplay only; nil otherwise); mailbox is the
	// MemoryFile range the replay stub reads its records from.
	journal *tableJournal
	mailbox memmap.FileRange
	// vcpuRan is set once the vCPU has run: before that KVM shadows
	// nothing and a journal needs no replay.
	vcpuRan bool
	// outRIP is the address of the `out` the vCPU last stopped at, and
	// outPort its port: KVM completes it on the next entry only if RIP is
	// still there, so a replay that moves RIP in between must put it back
	// past the `out` (outLength). Zero once the host has moved RIP itself.
	outRIP      uint64
	outPort     uint16
	replayStats ReplayStats
	// repeat watches for a page fault that repeats without progress.
	repeat faultRepeat
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
	if err := m.buildKernel(cpuid); err != nil {
		return nil, err
	}
	if m.vcpu, err = m.vm.NewVCPU(0); err != nil {
		return nil, fmt.Errorf("machine: vCPU: %w", err)
	}
	if err := m.setupVCPU(cpuid); err != nil {
		return nil, err
	}
	if err := m.probeSyscallPath(); err != nil {
		return nil, err
	}
	if err := m.settleTableSync(); err != nil {
		return nil, err
	}
	if err := m.buildVDSO(); err != nil {
		return nil, err
	}
	// A populate stops between steps once the run's context has ended.
	stopping := func() bool { return m.Process != nil && m.Process.Stopping() }
	if m.MM, err = mm.New(mm.Options{MemoryFile: m.mf, AddressSpace: m.as, FaultAround: cfg.FaultAround, Limits: guestLimits(cfg), Interrupted: stopping}); err != nil {
		return nil, fmt.Errorf("machine: %w", err)
	}
	pcfg := syscalls.Config{
		Memory: memoryCalls{m.MM}, Calls: memoryCalls{m.MM},
		Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr, StdioFDs: cfg.StdioFDs,
		Limits:      processLimits(m.MM.Limits()),
		MemoryLimit: cfg.Memory, Usage: m.usage,
		FPU:    vcpuFPU{m},
		UserCS: ring0.UserCodeSelector, UserSS: ring0.UserDataSelector,
		Views: cfg.Views, View: processView{m.MM}, MapHostFile: m.mapHostFile,
		NewSharedFile: m.newSharedFile,
		FutexKey:      m.MM.FutexKey,
	}
	if c := m.vdso.clock; c != nil {
		// The system calls read the vDSO's clocks, so that the two agree.
		pcfg.Now, pcfg.Monotonic, pcfg.ClockNanos = c.Now, c.Monotonic, c.Nanos
	}
	m.Process = syscalls.NewProcess(pcfg)
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

// buildKernel lays out ring 0 in the MemoryFile, builds the page tables and
// maps the ring-0 region supervisor-only and global in the upper half.
func (m *Machine) buildKernel(cpuid []kvm.CPUIDEntry) error {
	var err error
	if m.kernelRegion, err = m.mf.Allocate(ring0.RegionSize, memfile.AllocOpts{Kind: memfile.Kernel}); err != nil {
		return fmt.Errorf("machine: ring-0 region: %w", err)
	}
	leaf0, _ := kvm.FindCPUID(cpuid, 0, 0)
	leaf1, _ := kvm.FindCPUID(cpuid, 1, 0)
	leaf7, _ := kvm.FindCPUID(cpuid, 7, 0)
	features := ring0.FeaturesFromCPUID(leaf1.ECX, leaf7.EBX, leaf7.ECX)
	// The guest gets no XSAVE: enabling it means managing XCR0 and XSAVE
	// areas for no benefit to the programs mmvm runs; CPUID says so too.
	features.XSAVE = false
	m.kernel, err = ring0.New(ring0.Config{
		Mem:          m.mf.Slice(m.kernelRegion),
		Phys:         m.mf.GuestPhysical(m.kernelRegion.Start),
		Virt:         kernelVirt,
		Features:     features,
		UserPorts:    m.cfg.UserPorts,
		AvailableTSS: ring0.IsAMD(leaf0.EBX, leaf0.ECX, leaf0.EDX),
	})
	if err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	if ext, ok := kvm.FindCPUID(cpuid, 0x8000_0001, 0); ok {
		m.platform.GiantPages = ext.EDX&(1<<26) != 0 // Page1GB
	}
	if m.platform.TableSync == TableSyncReplay {
		m.journal = newTableJournal(m.mf)
		if m.mailbox, err = m.mf.Allocate(mailboxSize, memfile.AllocOpts{Kind: memfile.Kernel}); err != nil {
			return fmt.Errorf("machine: replay mailbox: %w", err)
		}
	}
	if m.pt, err = pagetable.New(tableAllocator{m.mf, m.journal}, pagetable.Features{GiantPages: m.platform.GiantPages}); err != nil {
		return fmt.Errorf("machine: page tables: %w", err)
	}
	m.as = &addressSpace{mf: m.mf, pt: m.pt}
	layout := m.kernel.Layout()
	for _, mp := range layout.Mappings() {
		va := arch.AddrRange{Start: layout.VirtOf(mp.Offset), End: layout.VirtOf(mp.Offset + mp.Size)}
		if _, err := m.pt.Map(va, layout.PhysOf(mp.Offset), pagetable.MapOpts{Access: mp.Access, Global: true}); err != nil {
			return fmt.Errorf("machine: mapping ring 0: %w", err)
		}
	}
	tp := layout.TrampolineMapping()
	va := arch.AddrRange{Start: ring0.TrampolineVirt, End: ring0.TrampolineVirt + arch.Addr(tp.Size)}
	if _, err := m.pt.Map(va, layout.PhysOf(tp.Offset), pagetable.MapOpts{Access: tp.Access, User: true}); err != nil {
		return fmt.Errorf("machine: mapping the syscall trampoline: %w", err)
	}
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

func (m *Machine) setupVCPU(cpuid []kvm.CPUIDEntry) error {
	guest := guestCPUID(cpuid)
	m.hwcap = hwcapFromCPUID(guest)
	if err := m.vcpu.SetCPUID(guest); err != nil {
		return fmt.Errorf("machine: setting CPUID: %w", err)
	}
	if err := m.loadKernelMSRs(); err != nil {
		return err
	}
	var s kvm.Sregs
	if err := m.vcpu.GetSregs(&s); err != nil {
		return fmt.Errorf("machine: reading special registers: %w", err)
	}
	applySregs(&s, m.kernel.UserSpecialRegisters(m.pt.Root()))
	m.taskRegister = s.TR
	if err := m.vcpu.SetSregs(&s); err != nil {
		return fmt.Errorf("machine: setting special registers: %w", err)
	}
	want := kvm.SyncRegsGPR | kvm.SyncRegsSregs
	if m.vm.SyncRegsSupported()&want != want {
		return errors.New("machine: KVM lacks KVM_CAP_SYNC_REGS for registers and special registers; mmvm needs it to read exits without an ioctl each")
	}
	return m.vcpu.SetSyncRegs(want)
}

// loadKernelMSRs loads the MSRs ring 0 needs (SYSCALL's, above all) into
// the vCPU.
func (m *Machine) loadKernelMSRs() error {
	var msrs []kvm.MSR
	for _, r := range m.kernel.MSRs() {
		msrs = append(msrs, kvm.MSR{Index: r.Index, Data: r.Value})
	}
	if err := m.vcpu.SetMSRs(msrs); err != nil {
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
	m.user = ring0.UserContext{RIP: uint64(rip), RSP: uint64(rsp), RFLAGS: ring0.UserRFLAGS}
	m.started = false
	return nil
}

// MemoryFile returns the guest's MemoryFile.
func (m *Machine) MemoryFile() *memfile.MemoryFile { return m.mf }

// PageTables returns the guest's page tables (for tests and statistics).
func (m *Machine) PageTables() *pagetable.PageTables { return m.pt }

// Kernel returns the ring-0 state.
func (m *Machine) Kernel() *ring0.Kernel { return m.kernel }

// Close releases everything New built; it is safe on a partly built Machine
// and idempotent.
func (m *Machine) Close() error {
	var errs []error
	if m.Process != nil {
		// Its open files hold MemoryFile pages and host descriptors.
		m.Process.Close()
	}
	if m.MM != nil {
		m.MM.Release()
		m.MM = nil
	}
	if m.vcpu != nil {
		errs = append(errs, m.vcpu.Close())
		m.vcpu = nil
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
		m.pt = nil
	}
	if m.journal != nil {
		m.journal.releaseFreed()
		m.journal = nil
	}
	m.releaseVDSO()
	if m.mf != nil {
		if m.kernelRegion.Length() != 0 {
			m.mf.DecRef(m.kernelRegion)
		}
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
