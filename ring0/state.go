package ring0

// CPUFeatures are the optional protections the guest CPU offers, as the VM
// learns them from KVM_GET_SUPPORTED_CPUID. Each one set here is turned on in
// CR4.
type CPUFeatures struct {
	SMEP     bool // CPUID.7.0:EBX[7]: ring 0 cannot execute user pages
	SMAP     bool // CPUID.7.0:EBX[20]: ring 0 cannot touch user pages
	UMIP     bool // CPUID.7.0:ECX[2]: user mode cannot run SGDT, SIDT, SLDT, SMSW, STR
	FSGSBASE bool // CPUID.7.0:EBX[0]: user mode may run RDFSBASE/WRFSBASE (Linux enables it)
	XSAVE    bool // CPUID.1:ECX[26]: CR4.OSXSAVE; the VM must then also set XCR0
}

// IsAMD reports whether CPUID leaf 0's vendor string (EBX, EDX, ECX) is
// "AuthenticAMD": where Config.AvailableTSS may be set.
func IsAMD(leaf0EBX, leaf0ECX, leaf0EDX uint32) bool {
	// "Auth" "enti" "cAMD", little-endian, in EBX, EDX, ECX.
	return leaf0EBX == 0x68747541 && leaf0EDX == 0x69746e65 && leaf0ECX == 0x444d4163
}

// FeaturesFromCPUID decodes CPUFeatures from CPUID leaf 1 ECX and leaf 7
// subleaf 0 EBX and ECX.
func FeaturesFromCPUID(leaf1ECX, leaf7EBX, leaf7ECX uint32) CPUFeatures {
	return CPUFeatures{
		SMEP:     leaf7EBX&(1<<7) != 0,
		SMAP:     leaf7EBX&(1<<20) != 0,
		UMIP:     leaf7ECX&(1<<2) != 0,
		FSGSBASE: leaf7EBX&(1<<0) != 0,
		XSAVE:    leaf1ECX&(1<<26) != 0,
	}
}

// Control register and EFER bits.
const (
	CR0PE = 1 << 0  // protected mode
	CR0MP = 1 << 1  // monitor coprocessor
	CR0ET = 1 << 4  // extension type (hard-wired to 1)
	CR0NE = 1 << 5  // native x87 error reporting (#MF rather than IRQ 13)
	CR0WP = 1 << 16 // ring 0 honours read-only pages
	CR0AM = 1 << 18 // RFLAGS.AC enables alignment checks at CPL 3 (as Linux)
	CR0PG = 1 << 31 // paging

	CR4PAE        = 1 << 5
	CR4MCE        = 1 << 6 // deliver #MC rather than shut down
	CR4PGE        = 1 << 7 // global pages: the kernel region survives CR3 loads
	CR4OSFXSR     = 1 << 9
	CR4OSXMMEXCPT = 1 << 10
	CR4UMIP       = 1 << 11
	CR4FSGSBASE   = 1 << 16
	CR4OSXSAVE    = 1 << 18
	CR4SMEP       = 1 << 20
	CR4SMAP       = 1 << 21

	EFERSCE = 1 << 0  // SYSCALL/SYSRET
	EFERLME = 1 << 8  // long mode enable
	EFERLMA = 1 << 10 // long mode active (set by hand: the vCPU starts in long mode)
	EFERNXE = 1 << 11 // no-execute page bit
)

// RFLAGS bits.
const (
	RFLAGSCF       = 1 << 0
	RFLAGSReserved = 1 << 1 // always 1
	RFLAGSTF       = 1 << 8
	RFLAGSIF       = 1 << 9
	RFLAGSDF       = 1 << 10
	RFLAGSIOPL     = 3 << 12
	RFLAGSNT       = 1 << 14
	RFLAGSRF       = 1 << 16
	RFLAGSVM       = 1 << 17
	RFLAGSAC       = 1 << 18
	RFLAGSID       = 1 << 21

	// UserRFLAGS is the RFLAGS a user context starts with: interrupts
	// enabled (as under Linux), IOPL 0 so that the TSS I/O bitmap decides
	// which ports user mode may use.
	UserRFLAGS = RFLAGSReserved | RFLAGSIF

	// SyscallFlagMask (IA32_FMASK) is cleared in RFLAGS on SYSCALL: IF (no
	// interrupt inside the stub), TF (no single step into ring 0), DF and AC
	// (a sane ring 0), IOPL, NT and RF.
	SyscallFlagMask = RFLAGSTF | RFLAGSIF | RFLAGSDF | RFLAGSIOPL | RFLAGSNT | RFLAGSRF | RFLAGSAC

	// userFlagsMask are the RFLAGS bits user code can set itself (POPF at
	// CPL 3 with IOPL 0): the arithmetic flags, TF, DF, AC and ID.
	userFlagsMask = RFLAGSCF | 1<<2 | 1<<4 | 1<<6 | 1<<7 | RFLAGSTF | RFLAGSDF | 1<<11 | RFLAGSAC | RFLAGSID

	// sysretFlagsMask is what SYSRET keeps of R11 (SDM vol. 2B, SYSRET:
	// RFLAGS = (R11 & 3C7FD7H) | 2): RF and VM cleared, reserved bits clear.
	sysretFlagsMask = 0x3C7FD7
)

// MSR indices.
const (
	MSRSysenterCS   = 0x174
	MSRSysenterESP  = 0x175
	MSRSysenterEIP  = 0x176
	MSRStar         = 0xC0000081
	MSRLStar        = 0xC0000082
	MSRCStar        = 0xC0000083
	MSRSyscallMask  = 0xC0000084
	MSRFSBase       = 0xC0000100
	MSRGSBase       = 0xC0000101
	MSRKernelGSBase = 0xC0000102
)

// MSR is one model-specific register value to load.
type MSR struct {
	Index uint32
	Value uint64
}

// DescriptorTable is a GDTR or IDTR value.
type DescriptorTable struct {
	Base  uint64
	Limit uint16
}

// SpecialRegisters is the vCPU's segment, descriptor-table and control
// register state, shaped like struct kvm_sregs. CR3 is the page-table root,
// which the VM supplies; CR2 and CR8 start at zero.
type SpecialRegisters struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DescriptorTable
	CR0, CR3, CR4          uint64
	EFER                   uint64
}

// CR0 returns the CR0 value: protected mode, paging, WP, native FPU errors.
func (k *Kernel) CR0() uint64 { return CR0PE | CR0MP | CR0ET | CR0NE | CR0WP | CR0AM | CR0PG }

// CR4 returns the CR4 value: PAE, global pages, #MC delivery, SSE state, and
// each protection k's features allow.
func (k *Kernel) CR4() uint64 {
	cr4 := uint64(CR4PAE | CR4MCE | CR4PGE | CR4OSFXSR | CR4OSXMMEXCPT)
	f := k.features
	for _, opt := range []struct {
		on  bool
		bit uint64
	}{{f.SMEP, CR4SMEP}, {f.SMAP, CR4SMAP}, {f.UMIP, CR4UMIP}, {f.FSGSBASE, CR4FSGSBASE}, {f.XSAVE, CR4OSXSAVE}} {
		if opt.on {
			cr4 |= opt.bit
		}
	}
	return cr4
}

// EFER returns the EFER value: long mode active, SYSCALL, no-execute.
func (k *Kernel) EFER() uint64 { return EFERSCE | EFERLME | EFERLMA | EFERNXE }

// STAR returns the IA32_STAR value. SYSCALL loads CS from STAR[47:32] and SS
// from STAR[47:32]+8; SYSRET to 64-bit mode loads CS from STAR[63:48]+16 and
// SS from STAR[63:48]+8, both with RPL forced to 3. Hence the GDT order:
// kernel code, kernel data, user data, user code.
func (k *Kernel) STAR() uint64 {
	const sysretBase = ((UserDataSelector &^ 3) - 8) | 3 // 0x13: +8 = user data, +16 = user code
	return uint64(sysretBase)<<48 | uint64(KernelCodeSelector)<<32
}

// MSRs returns the MSR values the VM loads before the first run. SYSENTER is
// disabled (a zero SYSENTER_CS makes it fault, as 64-bit Linux programs
// never use it); the compatibility-mode SYSCALL target points at the same
// entry though no 32-bit code segment exists to reach it.
func (k *Kernel) MSRs() []MSR {
	entry := k.lstar()
	return []MSR{
		{MSRStar, k.STAR()},
		{MSRLStar, entry},
		{MSRCStar, entry},
		{MSRSyscallMask, SyscallFlagMask},
		{MSRKernelGSBase, 0},
		{MSRSysenterCS, 0},
		{MSRSysenterESP, 0},
		{MSRSysenterEIP, 0},
	}
}

// TaskRegister returns TR as the kernel state needs it. A host that writes
// the special registers back (a direct resume through sync regs) should
// load TR from here too: KVM on SVM reads TR back as busy whatever was set,
// which undoes Config.AvailableTSS.
func (k *Kernel) TaskRegister() Segment { return k.tssSegment() }

// nullLDT is the LDT register as Linux leaves it for a process without an
// LDT: a null selector, unusable, so that every selector with TI=1 faults
// with #GP instead of reading a descriptor from guest memory (the
// power-on LDT, present with base 0 and limit 0xFFFF, would read user
// addresses below 64 KiB).
var nullLDT = Segment{Type: 2, Unusable: true}

// UserSpecialRegisters returns the special registers for starting the vCPU
// directly in user mode (CPL 3) with page-table root cr3: no ring-0 boot code
// runs at all. FS and GS are flat user data segments with base 0; the VM
// sets FS.Base for arch_prctl(ARCH_SET_FS).
func (k *Kernel) UserSpecialRegisters(cr3 uint64) SpecialRegisters {
	l := k.layout
	return SpecialRegisters{
		CS: userCodeSegment,
		DS: userDataSegment, ES: userDataSegment, FS: userDataSegment, GS: userDataSegment, SS: userDataSegment,
		TR:   k.tssSegment(),
		LDT:  nullLDT,
		GDT:  DescriptorTable{Base: uint64(l.VirtOf(gdtOffset)), Limit: GDTSize - 1},
		IDT:  DescriptorTable{Base: uint64(l.VirtOf(idtOffset)), Limit: idtSize - 1},
		CR0:  k.CR0(),
		CR3:  cr3,
		CR4:  k.CR4(),
		EFER: k.EFER(),
	}
}
