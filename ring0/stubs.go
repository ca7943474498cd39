package ring0

import (
	"fmt"
	"strings"

	"github.com/mmvm/mmvm/x86enc"
)

// Exit ports. Each ring-0 entry point exits to the host with one
// `out imm8, al` whose port names the event, so the host learns what
// happened from the KVM_EXIT_IO record alone. None of these ports is claimed
// by KVM's in-kernel devices (PIC 0x20/0xA0, PIT 0x40-0x43, 0x61, ELCR 0x4D0),
// so they reach user space even when the VM creates an in-kernel irqchip.
const (
	// PortVectorBase + v is the exit port of exception vector v (0xC0..0xDF).
	PortVectorBase = 0xC0
	// PortSyscall is the exit port of the SYSCALL entry.
	PortSyscall = 0xE0
	// PortUserFirst..PortUserLast are the only ports user mode (CPL 3) may
	// use, and only when Config.UserPorts is set: the raw user-mode exit
	// that tests and benchmarks measure. Every other port faults with #GP.
	PortUserFirst = 0xF0
	PortUserLast  = 0xF7
)

// VectorPort returns the exit port of vector v.
func VectorPort(v Vector) uint16 { return PortVectorBase + uint16(v) }

// Stub is one ring-0 entry point: the code an IDT gate or LSTAR points at.
type Stub struct {
	Name string
	// Offset is the stub's offset in the kernel region.
	Offset uint64
	// Code is the whole stub. Code[0] is always the exiting `out`; the rest
	// runs only when the host lets the stub resume user mode itself.
	Code []x86enc.Instruction
}

// Size returns the stub's length in bytes.
func (s Stub) Size() int { return x86enc.Length(s.Code...) }

// Bytes returns the stub's machine code.
func (s Stub) Bytes() []byte { return x86enc.Assemble(s.Code...) }

// ResumeOffset returns the offset, within the kernel region, of the
// instruction after the exiting `out`: where the vCPU continues when the host
// lets the stub resume user mode.
func (s Stub) ResumeOffset() uint64 { return s.Offset + uint64(len(s.Code[0].Bytes)) }

// stubSlot is the space each stub gets, so that stub addresses are
// computable: vector v's stub is at stubsOffset + v*stubSlot, the syscall
// entry right after the last vector.
const stubSlot = 16

// vectorStub is the handler of vector v:
//
//	out  PortVectorBase+v, al   ; exit: the host reads the port, the frame, CR2
//	add  rsp, 8                 ; only if v pushes an error code: drop it
//	iretq                       ; back to the interrupted context
func vectorStub(v Vector) Stub {
	code := []x86enc.Instruction{x86enc.OutAL(uint8(VectorPort(v)))}
	if v.HasErrorCode() {
		code = append(code, x86enc.AddImm8(x86enc.RSP, 8))
	}
	code = append(code, x86enc.Iretq)
	return Stub{Name: "vector_" + strings.TrimPrefix(v.Mnemonic(), "#"), Offset: stubsOffset + uint64(v)*stubSlot, Code: code}
}

// syscallStub is the LSTAR target. SYSCALL leaves the user RIP in RCX and
// RFLAGS in R11 and does not switch stacks; this code touches no memory, so it
// runs safely on the user's RSP:
//
//	out  PortSyscall, al   ; exit: the host reads RAX, RDI, RSI, RDX, R10, R8, R9
//	sysretq                ; RIP = RCX, RFLAGS = R11, CS/SS from STAR
func syscallStub() Stub {
	return Stub{Name: "syscall_entry", Offset: stubsOffset + NumVectors*stubSlot, Code: []x86enc.Instruction{x86enc.OutAL(PortSyscall), x86enc.Sysretq}}
}

// Stubs returns every ring-0 entry point: vectors 0..31 in order, then the
// syscall entry.
func Stubs() []Stub {
	s := make([]Stub, 0, NumVectors+1)
	for v := Vector(0); v < NumVectors; v++ {
		s = append(s, vectorStub(v))
	}
	return append(s, syscallStub())
}

// codeStubs returns every stub New writes on the code page: Stubs, then the
// replay stub.
func codeStubs() []Stub { return append(Stubs(), replayStub()) }

// Listing returns the stubs as a GNU as source (Intel syntax), with each
// stub at its offset relative to the start of the code page. Assembled, it
// yields exactly the bytes New writes there.
func Listing() string {
	var b strings.Builder
	b.WriteString(".intel_syntax noprefix\n.code64\n")
	for _, s := range codeStubs() {
		fmt.Fprintf(&b, ".org %#x, %#x\n%s:\n", s.Offset-stubsOffset, codeFill, s.Name)
		for _, in := range s.Code {
			fmt.Fprintf(&b, "\t%s\n", in.Asm)
		}
	}
	return b.String()
}
