package ring0

import (
	"errors"
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// The kernel region: four pages, each with one kind of content so that each
// can be mapped with the least permission it needs.
//
//	page 0  tables      GDT, TSS (+ I/O bitmap), IDT      read-only, no-execute
//	page 1  code        32 vector stubs, syscall entry,   read + execute
//	                    replay stub
//	page 2  stacks      RSP0 stack and IST1..IST4 stacks  read/write, no-execute
//	page 3  trampoline  the user-mode syscall entry       user read + execute,
//	                    (see SyscallInUser)               at TrampolineVirt
//
// Nothing is ever written to the tables at run time: code and data
// descriptors carry the accessed bit, TR is loaded through the hypervisor
// (no LTR, so no busy-bit write) and long mode has no task switches.
const (
	gdtOffset    = 0x000
	tssOffset    = 0x040
	idtOffset    = 0x100
	stubsOffset  = 1 * arch.PageSize
	stacksOffset = 2 * arch.PageSize
	trampOffset  = 3 * arch.PageSize
	// RegionSize is how much of the kernel region ring0 uses.
	RegionSize = 4 * arch.PageSize

	// TrampolineVirt is where the VM maps the trampoline page, user-mode
	// read + execute: the last page below 2^47, which Linux never gives a
	// program (its TASK_SIZE ends a page earlier), so it is in no program's
	// address space and in none of its maps.
	TrampolineVirt = arch.MaxUserAddr - arch.PageSize

	idtSize = NumVectors * 16

	// A stub pushes nothing: a stack holds at most one hardware frame (48
	// bytes with an error code), plus a nested one if an NMI or #MC lands
	// while a stub runs. 512 bytes leave ample room.
	stackSize = 0x200

	codeFill = 0xCC // int3: unused code bytes trap rather than run on
)

// TSS geometry (SDM vol. 3A, figure 8-11).
const (
	tssRSP0     = 4
	tssIST1     = 36
	tssIOMapOff = 102
	tssBaseSize = 104
	// The I/O bitmap covers ports 0..255 (32 bytes) and is followed by the
	// 0xFF byte the CPU may read past the last bitmap byte.
	ioBitmapBytes = 32
	tssFullSize   = tssBaseSize + ioBitmapBytes + 1
)

// Config says where the kernel region lives and what the CPU offers.
type Config struct {
	// Mem is the host's view of the kernel region; at least RegionSize
	// bytes. New writes into it; nothing else may.
	Mem []byte
	// Phys is the guest-physical address of Mem[0]; page-aligned.
	Phys uint64
	// Virt is the kernel virtual address where Mem[0] is mapped; page-aligned
	// and in the upper half.
	Virt arch.Addr
	// Features are what CPUID allows; they turn on CR4 protections.
	Features CPUFeatures
	// UserPorts lets user mode `out` to PortUserFirst..PortUserLast (the raw
	// user-mode exit of tests and benchmarks). Without it every port faults
	// at CPL 3, as under Linux.
	UserPorts bool
	// AvailableTSS loads TR (and writes the GDT's TSS descriptor) as an
	// available rather than a busy 64-bit TSS. Only for AMD SVM, which does
	// not check TR's type on VMRUN: QEMU's emulation of the I/O permission
	// check (TCG, the nested KVM of kvmhost) refuses every port unless TR is
	// an available TSS, so UserPorts needs this there. Intel VMX refuses to
	// enter a long-mode guest whose TR is not busy, so never set it there.
	AvailableTSS bool
}

// Area is a part of the kernel region.
type Area struct {
	Offset uint64 // from the start of the region
	Size   uint64
}

// Layout says where everything is. Virtual addresses are kernel virtual
// addresses; add Phys-Virt for guest-physical ones.
type Layout struct {
	Phys uint64
	Virt arch.Addr
	Size uint64 // RegionSize

	GDT, TSS, IDT, Code, Stacks Area
	// Trampoline is the page the VM maps at TrampolineVirt for user mode.
	Trampoline Area
	// TSSLimit is the TSS segment limit (its size minus one).
	TSSLimit uint32

	// RSP0 is the top of the stack user-mode exceptions land on.
	RSP0 arch.Addr
	// IST[i] is the top of interrupt stack i+1 (IST1 is IST[0]); zero for
	// the unused slots.
	IST [7]arch.Addr

	// VectorEntry[v] is vector v's stub, SyscallEntry the ring-0 LSTAR
	// target (SyscallToRing0).
	VectorEntry  [NumVectors]arch.Addr
	SyscallEntry arch.Addr
	// UserSyscallEntry is the user-mode LSTAR target on the trampoline
	// page (SyscallInUser); SyscallProbe is the `syscall` instruction on
	// that page with which a VM finds out which path its KVM takes.
	UserSyscallEntry arch.Addr
	SyscallProbe     arch.Addr
	// TableProbe is the trampoline page's code that reads TableProbeData
	// around two system calls.
	TableProbe arch.Addr
}

// VirtOf returns the kernel virtual address of region offset off.
func (l Layout) VirtOf(off uint64) arch.Addr { return l.Virt + arch.Addr(off) }

// PhysOf returns the guest-physical address of region offset off.
func (l Layout) PhysOf(off uint64) uint64 { return l.Phys + off }

// Mapping is one part of the kernel region as the page tables must map it:
// supervisor-only, at Layout.Virt+Offset, guest-physical Layout.Phys+Offset.
type Mapping struct {
	Area
	Access arch.AccessType
}

// Mappings returns the kernel region's parts with the permissions each needs.
// They must be mapped supervisor-only (and may be global). The trampoline
// page is not among them: see TrampolineMapping.
func (l Layout) Mappings() []Mapping {
	return []Mapping{
		{Area: Area{Offset: 0, Size: arch.PageSize}, Access: arch.Read},
		{Area: l.Code, Access: arch.AccessType{Read: true, Execute: true}},
		{Area: Area{Offset: stacksOffset, Size: arch.PageSize}, Access: arch.ReadWrite},
	}
}

// TrampolineMapping is the trampoline page as the page tables must map it:
// user-mode read + execute at TrampolineVirt, guest-physical
// Layout.Phys+Offset.
func (l Layout) TrampolineMapping() Mapping {
	return Mapping{Area: l.Trampoline, Access: arch.AccessType{Read: true, Execute: true}}
}

// Kernel is the guest's kernel state, written into a kernel region.
type Kernel struct {
	// mem is the host view of the region (RegionSize bytes); immutable
	// after New except by the guest CPU pushing frames onto the stacks.
	mem      []byte
	layout   Layout
	features CPUFeatures
	trType   uint8 // typeTSS64Busy, or typeTSS64Available with Config.AvailableTSS
	// userPorts is Config.UserPorts; syscall is the path SYSCALL takes,
	// set once by SetSyscallPath before the vCPU first runs the program.
	userPorts bool
	syscall   SyscallPath
}

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("ring0: bad config")

// New lays out the GDT, TSS, IDT, stubs and stacks in cfg.Mem.
func New(cfg Config) (*Kernel, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	k := &Kernel{mem: cfg.Mem[:RegionSize:RegionSize], features: cfg.Features, trType: typeTSS64Busy, userPorts: cfg.UserPorts}
	if cfg.AvailableTSS {
		k.trType = typeTSS64Available
	}
	k.layout = newLayout(cfg)
	clear(k.mem)
	k.writeGDT()
	k.writeTSS()
	k.writeIDT()
	k.writeStubs()
	k.writeTrampoline()
	return k, nil
}

func checkConfig(cfg Config) error {
	switch {
	case len(cfg.Mem) < RegionSize:
		return fmt.Errorf("%w: region is %d bytes, need %d", ErrConfig, len(cfg.Mem), RegionSize)
	case cfg.Phys&arch.PageMask != 0:
		return fmt.Errorf("%w: guest-physical base %#x not page-aligned", ErrConfig, cfg.Phys)
	case cfg.Phys+RegionSize < cfg.Phys:
		return fmt.Errorf("%w: guest-physical range at %#x overflows", ErrConfig, cfg.Phys)
	case cfg.Virt&arch.PageMask != 0:
		return fmt.Errorf("%w: virtual base %v not page-aligned", ErrConfig, cfg.Virt)
	case cfg.Virt < arch.KernelBase:
		return fmt.Errorf("%w: virtual base %v not in the upper half", ErrConfig, cfg.Virt)
	case cfg.Virt+RegionSize < cfg.Virt:
		return fmt.Errorf("%w: virtual range at %v overflows", ErrConfig, cfg.Virt)
	}
	return nil
}

func newLayout(cfg Config) Layout {
	l := Layout{
		Phys:       cfg.Phys,
		Virt:       cfg.Virt,
		Size:       RegionSize,
		GDT:        Area{gdtOffset, GDTSize},
		IDT:        Area{idtOffset, idtSize},
		Code:       Area{stubsOffset, arch.PageSize},
		Stacks:     Area{stacksOffset, (1 + numIST) * stackSize},
		Trampoline: Area{trampOffset, arch.PageSize},
	}
	l.TSS = Area{tssOffset, tssFullSize}
	l.TSSLimit = uint32(l.TSS.Size - 1)
	// Stack 0 is RSP0's, stack i (1..numIST) is IST i's; a stack's top is
	// the start of the next one.
	l.RSP0 = l.VirtOf(stacksOffset + stackSize)
	for i := 1; i <= numIST; i++ {
		l.IST[i-1] = l.VirtOf(stacksOffset + uint64(i+1)*stackSize)
	}
	for v := Vector(0); v < NumVectors; v++ {
		l.VectorEntry[v] = l.VirtOf(vectorStub(v).Offset)
	}
	l.SyscallEntry = l.VirtOf(syscallStub().Offset)
	l.UserSyscallEntry = TrampolineVirt + userSyscallOffset
	l.SyscallProbe = TrampolineVirt + syscallProbeOffset
	l.TableProbe = TrampolineVirt + tableProbeOffset
	return l
}

// Layout returns where everything is.
func (k *Kernel) Layout() Layout { return k.layout }

// Features returns the CPU features the kernel state was built for.
func (k *Kernel) Features() CPUFeatures { return k.features }

func (k *Kernel) writeGDT() {
	put64(k.mem, gdtOffset+KernelCodeSelector, encodeDescriptor(kernelCodeSegment))
	put64(k.mem, gdtOffset+KernelDataSelector, encodeDescriptor(kernelDataSegment))
	put64(k.mem, gdtOffset+UserDataSelector&^3, encodeDescriptor(userDataSegment))
	put64(k.mem, gdtOffset+UserCodeSelector&^3, encodeDescriptor(userCodeSegment))
	lo, hi := encodeSystemDescriptor(k.tssSegment())
	put64(k.mem, gdtOffset+TSSSelector, lo)
	put64(k.mem, gdtOffset+TSSSelector+8, hi)
}

// tssSegment is TR. Busy, as LTR would have left it and as VMX entry
// requires of TR in long mode, unless Config.AvailableTSS says otherwise.
func (k *Kernel) tssSegment() Segment {
	return Segment{
		Base:     uint64(k.layout.VirtOf(tssOffset)),
		Limit:    k.layout.TSSLimit,
		Selector: TSSSelector,
		Type:     k.trType,
		Present:  true,
	}
}

func (k *Kernel) writeTSS() {
	l := k.layout
	put64(k.mem, tssOffset+tssRSP0, uint64(l.RSP0))
	for i, top := range l.IST {
		put64(k.mem, tssOffset+tssIST1+uint64(i)*8, uint64(top))
	}
	put16(k.mem, tssOffset+tssIOMapOff, tssBaseSize)
	k.writeIOBitmap()
}

// writeIOBitmap writes the TSS's I/O permission bitmap: user mode (IOPL is
// 0 there, so the bitmap decides) may use the user ports with
// Config.UserPorts, and PortSyscall with SyscallInUser (Decode treats such
// an exit from anywhere but the trampoline as the #GP it would otherwise
// be); every other port faults with #GP.
func (k *Kernel) writeIOBitmap() {
	bitmap := k.mem[tssOffset+tssBaseSize : tssOffset+tssFullSize]
	for i := range bitmap {
		bitmap[i] = 0xFF // a set bit denies the port
	}
	allow := func(p int) { bitmap[p/8] &^= 1 << (p % 8) }
	if k.userPorts {
		for p := PortUserFirst; p <= PortUserLast; p++ {
			allow(p)
		}
	}
	if k.syscall == SyscallInUser {
		allow(PortSyscall)
	}
}

func (k *Kernel) writeIDT() {
	for v := Vector(0); v < NumVectors; v++ {
		var dpl uint8
		if v.UserCallable() {
			dpl = 3
		}
		lo, hi := encodeGate(uint64(k.layout.VectorEntry[v]), KernelCodeSelector, v.IST(), dpl)
		put64(k.mem, idtOffset+uint64(v)*16, lo)
		put64(k.mem, idtOffset+uint64(v)*16+8, hi)
	}
}

func (k *Kernel) writeStubs() {
	code := k.mem[stubsOffset : stubsOffset+arch.PageSize]
	for i := range code {
		code[i] = codeFill
	}
	for _, s := range codeStubs() {
		copy(k.mem[s.Offset:], s.Bytes())
	}
}
