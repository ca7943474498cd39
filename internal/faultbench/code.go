package faultbench

import (
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/x86enc"
)

// User-mode (CPL 3) programs for the machine and the bare guest, encoded
// with x86enc; code_test.go decodes every program with x86asm and compares
// the listing.

// exitForever exits through the user port; re-entered, it exits again.
var exitForever = x86enc.Assemble(x86enc.OutAL(ring0.PortUserFirst), x86enc.Jmp(-4))

// loop is body followed by a jnz back to its start.
func loop(body ...x86enc.Instruction) []x86enc.Instruction {
	return append(body, x86enc.JnzBack(x86enc.Length(body...)))
}

// program assembles code followed by exitForever.
func program(code ...[]x86enc.Instruction) []byte {
	var b []byte
	for _, c := range code {
		b = append(b, x86enc.Assemble(c...)...)
	}
	return append(b, exitForever...)
}

// touchPages writes a byte to each of RCX consecutive pages from RDI.
func touchPages() []x86enc.Instruction {
	return loop(x86enc.StoreByte(x86enc.RDI, 1), x86enc.AddImm32(x86enc.RDI, 0x1000), x86enc.Dec(x86enc.RCX))
}

// touchProgram writes a byte to each of n consecutive pages from addr,
// then exits through the user port forever.
func touchProgram(addr, n uint64) []byte {
	return program([]x86enc.Instruction{x86enc.MovImm64(x86enc.RDI, addr), x86enc.MovImm64(x86enc.RCX, n)}, touchPages())
}

// randomTouchProgram writes a byte at base+offsets[i] for each of the n
// 8-byte offsets stored at table, in order, then exits forever.
func randomTouchProgram(base, table, n uint64) []byte {
	return program(
		[]x86enc.Instruction{x86enc.MovImm64(x86enc.RSI, base), x86enc.MovImm64(x86enc.R8, table), x86enc.MovImm64(x86enc.RCX, n)},
		loop(x86enc.Load(x86enc.RDX, x86enc.R8, 0), x86enc.StoreByteIndexed(x86enc.RSI, x86enc.RDX, 1),
			x86enc.AddImm8(x86enc.R8, 8), x86enc.Dec(x86enc.RCX)),
	)
}

// syscallLoop makes system call nr (no arguments) forever: each is one
// ring-0 exit.
func syscallLoop(nr uint32) []byte {
	body := []x86enc.Instruction{x86enc.MovImm32(x86enc.RAX, nr), x86enc.Syscall}
	return x86enc.Assemble(append(body, x86enc.Jmp(int8(-(x86enc.Length(body...) + 2))))...)
}

// syscallCountProgram makes system call nr (no arguments) n times, then
// exits forever. The counter lives in R12: SYSCALL overwrites RCX and R11.
func syscallCountProgram(nr uint32, n uint64) []byte {
	return program([]x86enc.Instruction{x86enc.MovImm64(x86enc.R12, n)},
		loop(x86enc.MovImm32(x86enc.RAX, nr), x86enc.Syscall, x86enc.Dec(x86enc.R12)))
}

// mmapCycleProgram repeats, cycles times: mmap length bytes of private
// anonymous memory, write a byte to each page, munmap it; then exits.
func mmapCycleProgram(cycles, length uint64) []byte {
	const prot, flags = 0x3, 0x22 // PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS
	var body []x86enc.Instruction
	body = append(body,
		x86enc.MovImm32(x86enc.RAX, 9), x86enc.Xor32(x86enc.RDI, x86enc.RDI), x86enc.MovImm64(x86enc.RSI, length),
		x86enc.MovImm32(x86enc.RDX, prot), x86enc.MovImm32(x86enc.R10, flags), x86enc.MovSignExtended(x86enc.R8, -1),
		x86enc.Xor32(x86enc.R9, x86enc.R9), x86enc.Syscall,
		x86enc.Mov(x86enc.RDI, x86enc.RAX), x86enc.Mov(x86enc.RBX, x86enc.RAX), x86enc.MovImm64(x86enc.RCX, length/4096))
	body = append(body, touchPages()...)
	body = append(body,
		x86enc.MovImm32(x86enc.RAX, 11), x86enc.Mov(x86enc.RDI, x86enc.RBX), x86enc.MovImm64(x86enc.RSI, length), x86enc.Syscall,
		x86enc.Dec(x86enc.R12))
	return program([]x86enc.Instruction{x86enc.MovImm64(x86enc.R12, cycles)}, loop(body...))
}
