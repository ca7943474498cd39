package faultbench

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/ring0/ring0test"
)

// bareGuest is the smallest VM that can run user code over ring0: one memfd
// at guest-physical 0, page tables written by hand, ring0's GDT, TSS, IDT and
// stubs, no mm and no MemoryFile. The baselines run in it: the raw user
// exit, the ring-0 exit, the minimal fault path (the host writes one PTE per
// fault) and the machine's limit (2 MiB guest pages over memory the host
// populated in bulk).
//
// Guest-physical (= guest-virtual for user data) layout:
//
//	0x1000 PML4, 0x2000 PDPT (user half), 0x3000 PD of the first GiB,
//	0x4000 PT of the code and stack, 0x5000..0x7000 the kernel half's
//	PDPT, PD, PT, 0x8000.. one PD per GiB of data (bareMaxData),
//	0x10000 ring 0's region, 0x18000..0x1A000 the PDPT, PD and PT of
//	the syscall trampoline page, 0x20000 code, 0x21000 stack,
//	0x100000.. PT pages for the data when faults install 4 KiB PTEs,
//	bareDataBase.. the data.
type bareGuest struct {
	sys  *kvm.System
	vm   *kvm.VM
	cpu  *kvm.VCPU
	file *memfile.MemoryFile
	mem  []byte // file's mapping
	k    *ring0.Kernel
	data uint64 // bytes of data from bareDataBase
	tr   kvm.Segment
	// bound: the creating goroutine is locked to the vCPU's thread
	// (startBareGuest) until Close.
	bound bool
}

const (
	barePML4     = 0x1000
	barePDPTLo   = 0x2000
	barePDLo     = 0x3000
	barePTLo     = 0x4000
	barePDPTHi   = 0x5000
	barePDHi     = 0x6000
	barePTHi     = 0x7000
	bareDataPDs  = 0x8000
	bareKernel   = 0x10000
	barePDPTTr   = 0x18000
	barePDTr     = 0x19000
	barePTTr     = 0x1A000
	bareCode     = 0x20000
	bareStack    = 0x21000
	bareDataPTs  = 0x100000
	bareDataBase = 1 << 30
	bareMaxData  = 4 << 30 // 8 PD pages fit before bareKernel; PT pages before 16 MiB

	bareCodeVirt  = 0x40_0000
	bareStackVirt = 0x40_1000
	bareKernVirt  = arch.Addr(0xffff_ffff_8000_0000)

	pteP, pteW, pteU, ptePS = ring0test.PTEPresent, ring0test.PTEWrite, ring0test.PTEUser, ring0test.PTEHuge
	pteNX                   = ring0test.PTENX
)

// bareMode says how the data is mapped.
type bareMode int

const (
	// bareHuge maps all data up front with 2 MiB user pages.
	bareHuge bareMode = iota
	// bareFaulting leaves the data's 4 KiB PTEs empty: each first touch
	// faults and the host writes the PTE.
	bareFaulting
)

func newBareGuest(data uint64, mode bareMode, code []byte) (g *bareGuest, err error) {
	if data%arch.HugePageSize != 0 || data > bareMaxData {
		return nil, fmt.Errorf("faultbench: bare guest data size %d: want a multiple of 2 MiB up to %d: %w", data, uint64(bareMaxData), unix.EINVAL)
	}
	g = &bareGuest{data: data}
	defer func() {
		if err != nil {
			g.Close()
			g = nil
		}
	}()
	if g.sys, err = kvm.Open(); err != nil {
		return nil, err
	}
	if g.vm, err = g.sys.CreateVM(); err != nil {
		return nil, err
	}
	size := uint64(bareDataBase) + data
	// The guest's memory is a MemoryFile's memfd, mapped as mmvm maps
	// its own (2 MiB-aligned, with huge-page advice), so that the
	// baselines get whatever the host gives mmvm; nothing is allocated
	// from it, the guest owns all of it.
	if g.file, err = memfile.New(memfile.Options{Limit: size, Name: "faultbench-bare"}); err != nil {
		return nil, err
	}
	g.mem = g.file.Mapping()
	if err = g.vm.SetMemorySlot(kvm.MemorySlot{Slot: 0, Size: size, HostAddr: uintptr(unsafe.Pointer(&g.mem[0]))}); err != nil {
		return nil, err
	}
	cpuid, err := g.sys.SupportedCPUID()
	if err != nil {
		return nil, err
	}
	if g.cpu, err = g.vm.NewVCPU(0); err != nil {
		return nil, err
	}
	// The baselines enter KVM_RUN as the C probes do, with no Go
	// scheduler bookkeeping around the ioctl: the cheapest entry there is.
	g.cpu.SetRawRun(true)
	if err = g.cpu.SetCPUID(cpuid); err != nil {
		return nil, err
	}
	l0, _ := kvm.FindCPUID(cpuid, 0, 0)
	l1, _ := kvm.FindCPUID(cpuid, 1, 0)
	l7, _ := kvm.FindCPUID(cpuid, 7, 0)
	features := ring0.FeaturesFromCPUID(l1.ECX, l7.EBX, l7.ECX)
	features.XSAVE = false
	g.k, err = ring0.New(ring0.Config{Mem: g.mem[bareKernel : bareKernel+ring0.RegionSize], Phys: bareKernel, Virt: bareKernVirt,
		Features: features, UserPorts: true, AvailableTSS: ring0.IsAMD(l0.EBX, l0.ECX, l0.EDX)})
	if err != nil {
		return nil, err
	}
	g.buildTables(mode)
	copy(g.mem[bareCode:bareCode+arch.PageSize], code)
	if err = g.loadState(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *bareGuest) buildTables(mode bareMode) {
	const inner = pteP | pteW | pteU
	t := ring0test.Tables(g.mem)
	t.Link(bareCodeVirt, inner, barePML4, barePDPTLo, barePDLo, barePTLo)
	t.Set(barePTLo, bareCodeVirt>>12&511, bareCode|pteP|pteU)
	t.Set(barePTLo, bareStackVirt>>12&511, bareStack|pteP|pteW|pteU|pteNX)
	for gib := uint64(0); gib*(1<<30) < g.data; gib++ {
		pd := bareDataPDs + gib*arch.PageSize
		t.Set(barePDPTLo, bareDataBase>>30+gib, pd|inner)
		for i := uint64(0); i < 512 && (gib*512+i)*arch.HugePageSize < g.data; i++ {
			va := bareDataBase + (gib*512+i)*arch.HugePageSize
			if mode == bareHuge {
				t.Set(pd, i, va|inner|ptePS)
			} else {
				t.Set(pd, i, g.dataPT(va)|inner)
			}
		}
	}
	l := g.k.Layout()
	tv := uint64(ring0.TrampolineVirt)
	t.Link(tv, inner, barePML4, barePDPTTr, barePDTr, barePTTr)
	t.Set(barePTTr, tv>>12&511, l.PhysOf(l.Trampoline.Offset)|pteP|pteU)
	t.MapKernel(l, barePML4, barePDPTHi, barePDHi, barePTHi)
}

// dataPT is the guest-physical address of the PT page that maps va.
func (g *bareGuest) dataPT(va uint64) uint64 {
	return bareDataPTs + (va-bareDataBase)>>21*arch.PageSize
}

func (g *bareGuest) loadState() error {
	r := g.k.UserSpecialRegisters(barePML4)
	var s kvm.Sregs
	if err := g.cpu.GetSregs(&s); err != nil {
		return err
	}
	s.CS, s.DS, s.ES, s.FS, s.GS, s.SS = ring0test.KVMSegment(r.CS), ring0test.KVMSegment(r.DS), ring0test.KVMSegment(r.ES), ring0test.KVMSegment(r.FS), ring0test.KVMSegment(r.GS), ring0test.KVMSegment(r.SS)
	s.TR, s.LDT = ring0test.KVMSegment(r.TR), ring0test.KVMSegment(r.LDT)
	s.GDT = kvm.DTable{Base: r.GDT.Base, Limit: r.GDT.Limit}
	s.IDT = kvm.DTable{Base: r.IDT.Base, Limit: r.IDT.Limit}
	s.CR0, s.CR3, s.CR4, s.EFER = r.CR0, r.CR3, r.CR4, r.EFER
	g.tr = s.TR
	if err := g.cpu.SetSregs(&s); err != nil {
		return err
	}
	var msrs []kvm.MSR
	for _, m := range g.k.MSRs() {
		msrs = append(msrs, kvm.MSR{Index: m.Index, Data: m.Value})
	}
	if err := g.cpu.SetMSRs(msrs); err != nil {
		return err
	}
	want := kvm.SyncRegsGPR | kvm.SyncRegsSregs
	if g.vm.SyncRegsSupported()&want != want {
		return errors.New("faultbench: KVM lacks KVM_CAP_SYNC_REGS for registers and special registers")
	}
	return g.cpu.SetSyncRegs(want)
}

// startBareGuest builds a bare guest, binds the calling goroutine to the
// vCPU's thread and puts the vCPU at the start of code; Close undoes all of
// it.
func startBareGuest(data uint64, mode bareMode, code []byte) (*bareGuest, error) {
	g, err := newBareGuest(data, mode, code)
	if err != nil {
		return nil, err
	}
	g.cpu.BindThread()
	g.bound = true
	regs := kvm.Regs{RIP: bareCodeVirt, RSP: bareStackVirt + arch.PageSize, RFLAGS: ring0.UserRFLAGS}
	if err := g.cpu.SetRegs(&regs); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// exitPort runs the vCPU to its next exit, which must be a one-byte `out`,
// and returns the port.
func (g *bareGuest) exitPort() (uint16, error) {
	for {
		reason, err := g.cpu.Run()
		if err != nil {
			return 0, err
		}
		switch reason {
		case kvm.ExitIO:
			io, _ := g.cpu.IO()
			return io.Port, nil
		case kvm.ExitIntr:
			continue
		}
		return 0, g.cpu.UnexpectedExit(reason)
	}
}

// resumeDirect loads the user context of the exit just decoded.
func (g *bareGuest) resumeDirect(ctx ring0.UserContext) error {
	s := g.cpu.Sync()
	s.Regs.RIP, s.Regs.RSP, s.Regs.RFLAGS = ctx.RIP, ctx.RSP, ctx.RFLAGS
	s.Sregs.CS, s.Sregs.SS = userCS, userSS
	s.Sregs.TR = g.tr
	return g.cpu.MarkSyncDirty(kvm.SyncRegsGPR | kvm.SyncRegsSregs)
}

var (
	userCS = ring0test.KVMSegment(ring0.UserCodeSegment())
	userSS = ring0test.KVMSegment(ring0.UserDataSegment())
)

func (g *bareGuest) decode(port uint16) (ring0.Event, error) {
	s := g.cpu.Sync()
	return g.k.Decode(ring0.Exit{Port: port, RIP: s.Regs.RIP, RSP: s.Regs.RSP, RCX: s.Regs.RCX, R11: s.Regs.R11,
		RFLAGS: s.Regs.RFLAGS, CR2: s.Sregs.CR2, CPL: kvm.CPL(&s.Sregs)})
}

// probeSyscall runs the guest (whose code must start with a SYSCALL) to its
// first exit to find where SYSCALL lands, as machine does: on a KVM where it
// stays at CPL 3 (PVM) the bare guest then takes the trampoline, as mmvm
// does there, and starts over.
func (g *bareGuest) probeSyscall() error {
	port, err := g.exitPort()
	if err != nil {
		return err
	}
	l := g.k.Layout()
	ev, derr := g.decode(port)
	switch {
	case port == ring0.PortSyscall:
		return nil
	case derr == nil && ev.Kind == ring0.EventException && ev.Vector == ring0.PageFault && ev.Context.RIP == uint64(l.SyscallEntry):
	default:
		return g.unexpected("SYSCALL probe", port)
	}
	g.k.SetSyscallPath(ring0.SyscallInUser)
	if err := g.cpu.SetMSRs([]kvm.MSR{{Index: ring0.MSRLStar, Data: uint64(l.UserSyscallEntry)}}); err != nil {
		return err
	}
	regs := kvm.Regs{RIP: bareCodeVirt, RSP: bareStackVirt + arch.PageSize, RFLAGS: ring0.UserRFLAGS}
	return g.cpu.SetRegs(&regs)
}

// Close releases the vCPU, the VM and the memory.
func (g *bareGuest) Close() {
	if g.bound {
		g.cpu.UnbindThread()
		g.bound = false
	}
	if g.cpu != nil {
		g.cpu.Close()
	}
	if g.vm != nil {
		g.vm.Close()
	}
	if g.sys != nil {
		g.sys.Close()
	}
	if g.file != nil {
		g.file.Close()
	}
}

// unexpected builds the error for an exit a measurement did not expect.
func (g *bareGuest) unexpected(what string, port uint16) error {
	ev, err := g.decode(port)
	if err != nil {
		return fmt.Errorf("faultbench: %s: exit on port %#x (%v)", what, port, err)
	}
	return fmt.Errorf("faultbench: %s: unexpected %v %v at rip %#x (error code %#x, cr2 %#x)", what, ev.Kind, ev.Vector, ev.Context.RIP, ev.ErrorCode, ev.FaultAddr)
}

// UserExitRoundTrip measures n raw user-mode exits: `out` at CPL 3, back to
// the host, straight back in.
func UserExitRoundTrip(n int) (Measure, error) {
	g, err := startBareGuest(arch.HugePageSize, bareHuge, exitForever)
	if err != nil {
		return Measure{}, err
	}
	defer g.Close()
	return timeExits(g, n, "user exit", func(port uint16) error {
		if port != ring0.PortUserFirst {
			return g.unexpected("user exit", port)
		}
		return nil
	})
}

// Ring0ExitRoundTrip measures n system calls that the host answers by doing
// nothing: SYSCALL, the entry stub's `out`, back in, and either the stub's
// sysretq or (direct) the host loading the user context. Where SYSCALL stays
// at CPL 3 (PVM) it is the trampoline's `out` instead, and the host always
// resumes directly, as mmvm does there.
func Ring0ExitRoundTrip(n int, direct bool) (Measure, error) {
	g, err := startBareGuest(arch.HugePageSize, bareHuge, syscallLoop(39))
	if err != nil {
		return Measure{}, err
	}
	defer g.Close()
	if err := g.probeSyscall(); err != nil {
		return Measure{}, fmt.Errorf("faultbench: ring-0 exit: %w", err)
	}
	direct = direct || g.k.SyscallPath() == ring0.SyscallInUser
	return timeExits(g, n, "ring-0 exit", func(port uint16) error {
		if port != ring0.PortSyscall {
			return g.unexpected("ring-0 exit", port)
		}
		if direct {
			ev, err := g.decode(port)
			if err != nil {
				return err
			}
			return g.resumeDirect(ev.Context)
		}
		return nil
	})
}

// timeExits runs one warm-up exit and then n timed exits, each served by
// serve, recording each round trip.
func timeExits(g *bareGuest, n int, what string, serve func(port uint16) error) (Measure, error) {
	var h Histogram
	port, err := g.exitPort()
	if err != nil {
		return Measure{}, fmt.Errorf("faultbench: %s: %w", what, err)
	}
	if err := serve(port); err != nil {
		return Measure{}, err
	}
	start := time.Now()
	last := start
	for i := 0; i < n; i++ {
		port, err := g.exitPort()
		if err != nil {
			return Measure{}, fmt.Errorf("faultbench: %s: %w", what, err)
		}
		now := time.Now()
		h.Record(now.Sub(last))
		if err := serve(port); err != nil {
			return Measure{}, err
		}
		last = time.Now()
	}
	return measureOf(&h, n, time.Since(start)), nil
}

// MinimalFaultPath is probes/pftest.c's fault path in Go: a CPL 3 loop
// touches n fresh pages; each #PF goes through ring0's IDT to the stub's
// `out`; the host reads CR2 from the synced special registers, writes the
// one PTE and resumes through the stub (`add rsp, 8; iretq`) or directly.
// As in pftest.c (MAP_POPULATE), the host backs the guest's memory before
// the clock starts: the path timed is the fault's alone.
func MinimalFaultPath(n int, direct bool) (Measure, error) {
	data := arch.Addr(uint64(n) * arch.PageSize)
	size, _ := data.HugeRoundUp()
	g, err := startBareGuest(uint64(size), bareFaulting, touchProgram(bareDataBase, uint64(n)))
	if err != nil {
		return Measure{}, err
	}
	defer g.Close()
	if err := unix.Madvise(g.mem[bareDataBase:bareDataBase+g.data], unix.MADV_POPULATE_WRITE); err != nil {
		return Measure{}, fmt.Errorf("faultbench: minimal fault path: MADV_POPULATE_WRITE: %w", err)
	}
	var h Histogram
	faults := 0
	start := time.Now()
	last := start
	pfPort := ring0.VectorPort(ring0.PageFault)
	for {
		port, err := g.exitPort()
		if err != nil {
			return Measure{}, fmt.Errorf("faultbench: minimal fault path: %w", err)
		}
		if port == ring0.PortUserFirst {
			break
		}
		if port != pfPort {
			return Measure{}, g.unexpected("minimal fault path", port)
		}
		now := time.Now()
		h.Record(now.Sub(last))
		va := g.cpu.Sync().Sregs.CR2 &^ arch.PageMask
		if va < bareDataBase || va >= bareDataBase+g.data {
			return Measure{}, g.unexpected("minimal fault path", port)
		}
		ring0test.Tables(g.mem).Set(g.dataPT(va), va>>12&511, va|pteP|pteW|pteU|pteNX)
		faults++
		if direct {
			ev, err := g.decode(port)
			if err != nil {
				return Measure{}, err
			}
			if err := g.resumeDirect(ev.Context); err != nil {
				return Measure{}, err
			}
		}
		last = time.Now()
	}
	if faults != n {
		return Measure{}, fmt.Errorf("faultbench: minimal fault path: %d faults for %d pages", faults, n)
	}
	return measureOf(&h, n, time.Since(start)), nil
}

// MachineLimit is probes/touchtest.c in Go: a bare guest with 2 MiB user
// pages touches every 4 KiB page of size bytes of memfd memory once. With
// populate the host first populates the memfd in bulk
// (MADV_POPULATE_WRITE), and that time is counted; without, each first
// touch takes a host fault inside KVM.
func MachineLimit(size uint64, populate bool) (Touch, error) {
	g, err := startBareGuest(size, bareHuge, touchProgram(bareDataBase, size/arch.PageSize))
	if err != nil {
		return Touch{}, err
	}
	defer g.Close()
	start := time.Now()
	if populate {
		if err := unix.Madvise(g.mem[bareDataBase:], unix.MADV_POPULATE_WRITE); err != nil {
			return Touch{}, fmt.Errorf("faultbench: MADV_POPULATE_WRITE: %w", err)
		}
	}
	populated := time.Now()
	port, err := g.exitPort()
	if err != nil {
		return Touch{}, fmt.Errorf("faultbench: machine limit: %w", err)
	}
	if port != ring0.PortUserFirst {
		return Touch{}, g.unexpected("machine limit", port)
	}
	end := time.Now()
	t := newTouch(size, end.Sub(start), 0)
	t.PopulateNs = float64(populated.Sub(start).Nanoseconds()) / float64(t.Pages)
	t.GuestNs = float64(end.Sub(populated).Nanoseconds()) / float64(t.Pages)
	return t, nil
}
