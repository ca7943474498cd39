package ring0

import "github.com/mmvm/mmvm/x86enc"

// SyscallTouchProbe returns a user-mode (CPL 3) program that exercises the
// protocol end to end: it makes syscall nr (no arguments set), keeps its
// result in RBX, writes 1 to the byte at RDI (a page fault when the page is
// not mapped yet), reads it back into EAX and exits through PortUserFirst;
// re-entered, it repeats the exit forever. The caller sets RDI.
//
//	mov   eax, nr
//	syscall
//	mov   rbx, rax
//	mov   byte ptr [rdi], 1
//	movzx eax, byte ptr [rdi]
//	out   PortUserFirst, al
//	jmp   .-2                   ; back to the out
func SyscallTouchProbe(nr uint32) []x86enc.Instruction {
	userExit := x86enc.OutAL(PortUserFirst)
	return []x86enc.Instruction{
		x86enc.MovImm32(x86enc.RAX, nr), x86enc.Syscall, x86enc.Mov(x86enc.RBX, x86enc.RAX),
		x86enc.StoreByte(x86enc.RDI, 1), x86enc.LoadByteZX(x86enc.RAX, x86enc.RDI),
		userExit, x86enc.Jmp(int8(-2 - len(userExit.Bytes))),
	}
}
