package faultbench

import (
	"encoding/binary"

	"github.com/mmvm/mmvm/ring0"
)

// Hand-encoded user-mode (CPL 3) programs for the machine and the bare
// guest. Each encoder is named after the Intel-syntax instruction it emits;
// code_test.go decodes every program with x86asm and compares the listing.

func imm64(op []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(append([]byte(nil), op...), v)
}
func imm32(op []byte, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(append([]byte(nil), op...), v)
}

func movRDI(v uint64) []byte  { return imm64([]byte{0x48, 0xBF}, v) } // mov rdi, imm64
func movRCX(v uint64) []byte  { return imm64([]byte{0x48, 0xB9}, v) } // mov rcx, imm64
func movRSI(v uint64) []byte  { return imm64([]byte{0x48, 0xBE}, v) } // mov rsi, imm64
func movR8(v uint64) []byte   { return imm64([]byte{0x49, 0xB8}, v) } // mov r8, imm64
func movR12(v uint64) []byte  { return imm64([]byte{0x49, 0xBC}, v) } // mov r12, imm64
func movEAX(v uint32) []byte  { return imm32([]byte{0xB8}, v) }       // mov eax, imm32
func movEDX(v uint32) []byte  { return imm32([]byte{0xBA}, v) }       // mov edx, imm32
func movR10D(v uint32) []byte { return imm32([]byte{0x41, 0xBA}, v) } // mov r10d, imm32

var (
	xorEDI       = []byte{0x31, 0xFF}                                   // xor edi, edi
	xorR9D       = []byte{0x45, 0x31, 0xC9}                             // xor r9d, r9d
	movR8Minus1  = []byte{0x49, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF}     // mov r8, -1
	syscallInsn  = []byte{0x0F, 0x05}                                   // syscall
	movRDIRAX    = []byte{0x48, 0x89, 0xC7}                             // mov rdi, rax
	movRBXRAX    = []byte{0x48, 0x89, 0xC3}                             // mov rbx, rax
	movRDIRBX    = []byte{0x48, 0x89, 0xDF}                             // mov rdi, rbx
	decR12       = []byte{0x49, 0xFF, 0xCC}                             // dec r12
	loadRDXR8    = []byte{0x49, 0x8B, 0x10}                             // mov rdx, [r8]
	storeRSIRDX  = []byte{0xC6, 0x04, 0x16, 0x01}                       // mov byte ptr [rsi+rdx], 1
	addR8Eight   = []byte{0x49, 0x83, 0xC0, 0x08}                       // add r8, 8
	decRCX       = []byte{0x48, 0xFF, 0xC9}                             // dec rcx
	storeRDIByte = []byte{0xC6, 0x07, 0x01}                             // mov byte ptr [rdi], 1
	addRDIPage   = []byte{0x48, 0x81, 0xC7, 0x00, 0x10, 0x00, 0x00}     // add rdi, 0x1000
	userExit     = []byte{0xE6, ring0.PortUserFirst}                    // out 0xf0, al
	exitForever  = append(append([]byte(nil), userExit...), 0xEB, 0xFC) // out 0xf0, al; jmp .-2
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// jnzBack returns `jnz` back to the start of a loop body of n bytes that
// ends right before it (rel8 or rel32).
func jnzBack(n int) []byte {
	if n+2 <= 128 {
		return []byte{0x75, byte(-(n + 2))}
	}
	return imm32([]byte{0x0F, 0x85}, uint32(int32(-(n + 6))))
}

// touchProgram writes a byte to each of n consecutive pages from addr,
// then exits through the user port forever.
func touchProgram(addr, n uint64) []byte {
	body := cat(storeRDIByte, addRDIPage, decRCX)
	return cat(movRDI(addr), movRCX(n), body, jnzBack(len(body)), exitForever)
}

// randomTouchProgram writes a byte at base+offsets[i] for each of the n
// 8-byte offsets stored at table, in order, then exits forever.
func randomTouchProgram(base, table, n uint64) []byte {
	body := cat(loadRDXR8, storeRSIRDX, addR8Eight, decRCX)
	return cat(movRSI(base), movR8(table), movRCX(n), body, jnzBack(len(body)), exitForever)
}

// syscallLoop makes system call nr (no arguments) forever: each is one
// ring-0 exit.
func syscallLoop(nr uint32) []byte {
	body := cat(movEAX(nr), syscallInsn)
	return cat(body, []byte{0xEB, byte(-(len(body) + 2))})
}

// mmapCycleProgram repeats, cycles times: mmap length bytes of private
// anonymous memory, write a byte to each page, munmap it; then exits.
func mmapCycleProgram(cycles, length uint64) []byte {
	const prot, flags = 0x3, 0x22 // PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS
	touch := cat(storeRDIByte, addRDIPage, decRCX)
	body := cat(
		movEAX(9), xorEDI, movRSI(length), movEDX(prot), movR10D(flags), movR8Minus1, xorR9D, syscallInsn,
		movRDIRAX, movRBXRAX, movRCX(length/4096),
		touch, jnzBack(len(touch)),
		movEAX(11), movRDIRBX, movRSI(length), syscallInsn,
		decR12,
	)
	return cat(movR12(cycles), body, jnzBack(len(body)), exitForever)
}
