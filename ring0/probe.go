package ring0

import (
	"encoding/binary"
	"fmt"
)

// User-mode probe programs: small position-independent CPL 3 code blobs that
// exercise the protocol end to end (a syscall, a page fault, the raw user
// exit). Tests and benchmarks of the VM load them into user memory; they are
// exported so that those packages need no assembler either. Registers the
// caller sets: noted per program.

// Assemble concatenates instructions into machine code.
func Assemble(code []Instruction) []byte {
	var b []byte
	for _, in := range code {
		b = append(b, in.Bytes...)
	}
	return b
}

func movEAXImm32(v uint32) Instruction {
	b := []byte{0xB8, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], v)
	return Instruction{Bytes: b, Asm: fmt.Sprintf("mov eax, %#x", v)}
}

func jmpRel8(rel int8) Instruction {
	return Instruction{Bytes: []byte{0xEB, byte(rel)}, Asm: fmt.Sprintf("jmp .%+d", int(rel)+2)}
}

func jnzRel8(rel int8) Instruction {
	return Instruction{Bytes: []byte{0x75, byte(rel)}, Asm: fmt.Sprintf("jnz .%+d", int(rel)+2)}
}

var (
	syscallInsn    = Instruction{Bytes: []byte{0x0F, 0x05}, Asm: "syscall"}
	movRBXRAX      = Instruction{Bytes: []byte{0x48, 0x89, 0xC3}, Asm: "mov rbx, rax"}
	storeByteRDI1  = Instruction{Bytes: []byte{0xC6, 0x07, 0x01}, Asm: "mov byte ptr [rdi], 0x1"}
	loadByteRDI    = Instruction{Bytes: []byte{0x0F, 0xB6, 0x07}, Asm: "movzx eax, byte ptr [rdi]"}
	addRDIPage     = Instruction{Bytes: []byte{0x48, 0x81, 0xC7, 0x00, 0x10, 0x00, 0x00}, Asm: "add rdi, 0x1000"}
	decRCX         = Instruction{Bytes: []byte{0x48, 0xFF, 0xC9}, Asm: "dec rcx"}
	userExitInsn   = outImm8AL(PortUserFirst)
	userExitLength = len(userExitInsn.Bytes)
)

// SyscallTouchProbe returns a program that makes syscall nr (no arguments
// set), keeps its result in RBX, writes 1 to the byte at RDI (a page fault
// when the page is not mapped yet), reads it back into EAX and exits through
// PortUserFirst; re-entered, it repeats the exit forever.
//
//	mov   eax, nr
//	syscall
//	mov   rbx, rax
//	mov   byte ptr [rdi], 1
//	movzx eax, byte ptr [rdi]
//	out   PortUserFirst, al
//	jmp   .-2                   ; back to the out
func SyscallTouchProbe(nr uint32) []Instruction {
	return []Instruction{
		movEAXImm32(nr), syscallInsn, movRBXRAX, storeByteRDI1, loadByteRDI,
		userExitInsn, jmpRel8(int8(-2 - userExitLength)),
	}
}

// TouchPagesProbe returns a program that writes one byte to each of RCX
// consecutive pages starting at RDI (RCX > 0), then exits through
// PortUserFirst forever. Each untouched page costs one page fault.
//
//	loop: mov  byte ptr [rdi], 1
//	      add  rdi, 0x1000
//	      dec  rcx
//	      jnz  loop
//	      out  PortUserFirst, al
//	      jmp  .-2
func TouchPagesProbe() []Instruction {
	body := []Instruction{storeByteRDI1, addRDIPage, decRCX}
	back := -len(Assemble(body)) - 2
	return append(body, jnzRel8(int8(back)), userExitInsn, jmpRel8(int8(-2-userExitLength)))
}

// UserExitProbe returns the raw user-mode exit loop that the fault path is
// measured against: each run of the vCPU is one `out` from CPL 3.
//
//	out PortUserFirst, al
//	jmp .-2
func UserExitProbe() []Instruction {
	return []Instruction{userExitInsn, jmpRel8(int8(-2 - userExitLength))}
}
