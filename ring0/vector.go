package ring0

import "fmt"

// Vector is an x86-64 exception vector, 0 through 31.
type Vector uint8

// The architectural exception vectors (Intel SDM vol. 3A, table 6-1; AMD APM
// vol. 2, table 8-1). Gaps are reserved vectors; they still get a gate and a
// stub so that every vector below 32 exits to the host with its own port.
const (
	DivideError               Vector = 0
	Debug                     Vector = 1
	NMI                       Vector = 2
	Breakpoint                Vector = 3
	Overflow                  Vector = 4
	BoundRange                Vector = 5
	InvalidOpcode             Vector = 6
	DeviceNotAvailable        Vector = 7
	DoubleFault               Vector = 8
	CoprocessorSegmentOverrun Vector = 9
	InvalidTSS                Vector = 10
	SegmentNotPresent         Vector = 11
	StackSegmentFault         Vector = 12
	GeneralProtection         Vector = 13
	PageFault                 Vector = 14
	X87FloatingPoint          Vector = 16
	AlignmentCheck            Vector = 17
	MachineCheck              Vector = 18
	SIMDFloatingPoint         Vector = 19
	Virtualization            Vector = 20
	ControlProtection         Vector = 21
	HypervisorInjection       Vector = 28
	VMMCommunication          Vector = 29
	Security                  Vector = 30
	NumVectors                       = 32 // gates in the IDT: vectors 0..31
	errorCodeVectors                 = 1<<DoubleFault | 1<<InvalidTSS | 1<<SegmentNotPresent | 1<<StackSegmentFault | 1<<GeneralProtection | 1<<PageFault | 1<<AlignmentCheck | 1<<ControlProtection | 1<<VMMCommunication | 1<<Security
)

// vectorInfo names each vector: its mnemonic and its SDM name. Reserved
// vectors are named by number.
var vectorInfo = [NumVectors]struct{ mnemonic, name string }{
	DivideError:               {"#DE", "divide error"},
	Debug:                     {"#DB", "debug"},
	NMI:                       {"NMI", "non-maskable interrupt"},
	Breakpoint:                {"#BP", "breakpoint"},
	Overflow:                  {"#OF", "overflow"},
	BoundRange:                {"#BR", "bound range exceeded"},
	InvalidOpcode:             {"#UD", "invalid opcode"},
	DeviceNotAvailable:        {"#NM", "device not available"},
	DoubleFault:               {"#DF", "double fault"},
	CoprocessorSegmentOverrun: {"#CSO", "coprocessor segment overrun"},
	InvalidTSS:                {"#TS", "invalid TSS"},
	SegmentNotPresent:         {"#NP", "segment not present"},
	StackSegmentFault:         {"#SS", "stack-segment fault"},
	GeneralProtection:         {"#GP", "general protection"},
	PageFault:                 {"#PF", "page fault"},
	15:                        {"#15", "reserved vector 15"},
	X87FloatingPoint:          {"#MF", "x87 floating-point error"},
	AlignmentCheck:            {"#AC", "alignment check"},
	MachineCheck:              {"#MC", "machine check"},
	SIMDFloatingPoint:         {"#XM", "SIMD floating-point"},
	Virtualization:            {"#VE", "virtualization exception"},
	ControlProtection:         {"#CP", "control protection"},
	22:                        {"#22", "reserved vector 22"},
	23:                        {"#23", "reserved vector 23"},
	24:                        {"#24", "reserved vector 24"},
	25:                        {"#25", "reserved vector 25"},
	26:                        {"#26", "reserved vector 26"},
	27:                        {"#27", "reserved vector 27"},
	HypervisorInjection:       {"#HV", "hypervisor injection"},
	VMMCommunication:          {"#VC", "VMM communication"},
	Security:                  {"#SX", "security exception"},
	31:                        {"#31", "reserved vector 31"},
}

// Valid reports whether v is one of the 32 exception vectors.
func (v Vector) Valid() bool { return v < NumVectors }

// HasErrorCode reports whether the CPU pushes an error code when it delivers
// v as an exception. The stub for such a vector must drop it before iretq.
func (v Vector) HasErrorCode() bool { return v.Valid() && errorCodeVectors&(1<<v) != 0 }

// Mnemonic returns the short name, such as "#PF".
func (v Vector) Mnemonic() string {
	if !v.Valid() {
		return fmt.Sprintf("vector %d", uint8(v))
	}
	return vectorInfo[v].mnemonic
}

// Name returns the descriptive name, such as "page fault".
func (v Vector) Name() string {
	if !v.Valid() {
		return fmt.Sprintf("vector %d", uint8(v))
	}
	return vectorInfo[v].name
}

// String returns "#PF (page fault)".
func (v Vector) String() string {
	if !v.Valid() {
		return v.Name()
	}
	return v.Mnemonic() + " (" + v.Name() + ")"
}

// IST returns the interrupt-stack-table slot (1..7) the gate for v uses, or
// 0 for the ordinary RSP0 stack. Vectors that may arrive while the CPU is
// already at CPL 0 on a stack it cannot trust get their own stack: #DF
// (the stack may be what faulted), NMI and #MC (they can arrive anywhere,
// including inside the syscall stub, which runs on the user's RSP), and #DB
// (a single step or data breakpoint can trigger inside the syscall stub too).
func (v Vector) IST() uint8 {
	switch v {
	case DoubleFault:
		return ISTDoubleFault
	case NMI:
		return ISTNMI
	case MachineCheck:
		return ISTMachineCheck
	case Debug:
		return ISTDebug
	}
	return 0
}

// Interrupt stack table slots (TSS.IST1..IST7 are numbered from 1).
const (
	ISTDoubleFault  = 1
	ISTNMI          = 2
	ISTMachineCheck = 3
	ISTDebug        = 4
	numIST          = 4 // IST stacks the layout reserves
)

// UserCallable reports whether user code may raise v itself with an `int n`
// instruction: the gate's DPL is 3. Only #BP is, so that `int3` reaches the
// host as a breakpoint (SIGTRAP under Linux) rather than a #GP. Every vector
// that has an error code must stay at DPL 0: `int n` pushes no error code, so
// a user-raised #PF would make the stub pop the wrong word.
func (v Vector) UserCallable() bool { return v == Breakpoint }
