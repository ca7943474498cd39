// Package x86enc hand-encodes the few x86-64 instructions mmvm's own guest
// code is made of: ring 0's stubs and probes, and the user programs that
// tests and benchmarks load. Each Instruction carries its bytes and its
// Intel-syntax listing, so that building mmvm needs no assembler and every
// program can be checked against a disassembler (see x86enctest).
//
// Listings follow x86asm's Intel syntax, except that a relative branch is
// written as GNU as writes it, from the start of the instruction: "jnz .-12".
package x86enc

import (
	"encoding/binary"
	"fmt"
)

// Instruction is one encoded instruction: its bytes and its listing.
type Instruction struct {
	Bytes []byte
	Asm   string
}

// Assemble concatenates instructions into machine code.
func Assemble(code ...Instruction) []byte {
	var b []byte
	for _, in := range code {
		b = append(b, in.Bytes...)
	}
	return b
}

// Length is the length in bytes of code.
func Length(code ...Instruction) int {
	n := 0
	for _, in := range code {
		n += len(in.Bytes)
	}
	return n
}

// Reg is a general-purpose register, numbered as the encoding numbers it.
type Reg uint8

// The general-purpose registers.
const (
	RAX Reg = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

var names64 = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}
var names32 = [16]string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"}

// String is the register's 64-bit name.
func (r Reg) String() string { return names64[r&15] }

// low is the register's number in ModRM and opcode bits; high its REX bit.
func (r Reg) low() byte  { return byte(r & 7) }
func (r Reg) high() byte { return byte(r>>3) & 1 }

// rex returns the REX prefix for operand size w and the registers in
// ModRM.reg (r), SIB.index (x) and ModRM.rm, SIB.base or the opcode (b),
// or nothing when none of its bits is needed.
func rex(w bool, r, x, b Reg) []byte {
	p := 0x40 | r.high()<<2 | x.high()<<1 | b.high()
	if w {
		p |= 8
	}
	if p == 0x40 {
		return nil
	}
	return []byte{p}
}

// modRM packs a ModRM byte.
func modRM(mod byte, reg, rm Reg) byte { return mod<<6 | reg.low()<<3 | rm.low() }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func imm32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// signedHex spells an immediate as x86asm does: -0x1, 0x8.
func signedHex(v int64) string {
	if v < 0 {
		return fmt.Sprintf("-%#x", -v)
	}
	return fmt.Sprintf("%#x", v)
}

// plainBase panics unless base can be addressed with a bare ModRM (no SIB,
// not RIP-relative): rsp, rbp, r12 and r13 need forms this package lacks.
func plainBase(base Reg) {
	if l := base.low(); l == 4 || l == 5 {
		panic(fmt.Sprintf("x86enc: %v as a base register is not encoded", base))
	}
}

// memOperand is ModRM (and disp8) for [base+disp] with reg in ModRM.reg.
func memOperand(reg, base Reg, disp int8) ([]byte, string) {
	plainBase(base)
	if disp == 0 {
		return []byte{modRM(0, reg, base)}, "[" + base.String() + "]"
	}
	return []byte{modRM(1, reg, base), byte(disp)}, fmt.Sprintf("[%v+%s]", base, signedHex(int64(disp)))
}

// MovImm64 is `mov r, imm64` (REX.W B8+r).
func MovImm64(r Reg, v uint64) Instruction {
	b := append(cat(rex(true, 0, 0, r), []byte{0xB8 + r.low()}), binary.LittleEndian.AppendUint64(nil, v)...)
	return Instruction{Bytes: b, Asm: fmt.Sprintf("mov %v, %#x", r, v)}
}

// MovImm32 is `mov r32, imm32` (B8+r), which zeroes the upper half.
func MovImm32(r Reg, v uint32) Instruction {
	b := cat(rex(false, 0, 0, r), []byte{0xB8 + r.low()}, imm32(v))
	return Instruction{Bytes: b, Asm: fmt.Sprintf("mov %s, %#x", names32[r], v)}
}

// MovSignExtended is `mov r, imm32` with the immediate sign-extended to 64
// bits (REX.W C7 /0).
func MovSignExtended(r Reg, v int32) Instruction {
	b := cat(rex(true, 0, 0, r), []byte{0xC7, modRM(3, 0, r)}, imm32(uint32(v)))
	return Instruction{Bytes: b, Asm: fmt.Sprintf("mov %v, %s", r, signedHex(int64(v)))}
}

// Mov is `mov dst, src` of 64-bit registers (REX.W 89 /r).
func Mov(dst, src Reg) Instruction {
	return Instruction{Bytes: cat(rex(true, src, 0, dst), []byte{0x89, modRM(3, src, dst)}), Asm: fmt.Sprintf("mov %v, %v", dst, src)}
}

// Xor32 is `xor dst32, src32` (31 /r); Xor32(r, r) zeroes r.
func Xor32(dst, src Reg) Instruction {
	return Instruction{Bytes: cat(rex(false, src, 0, dst), []byte{0x31, modRM(3, src, dst)}), Asm: fmt.Sprintf("xor %s, %s", names32[dst], names32[src])}
}

// Test is `test a, b` of 64-bit registers (REX.W 85 /r).
func Test(a, b Reg) Instruction {
	return Instruction{Bytes: cat(rex(true, b, 0, a), []byte{0x85, modRM(3, b, a)}), Asm: fmt.Sprintf("test %v, %v", a, b)}
}

// Dec is `dec r` (REX.W FF /1).
func Dec(r Reg) Instruction {
	return Instruction{Bytes: cat(rex(true, 0, 0, r), []byte{0xFF, modRM(3, 1, r)}), Asm: fmt.Sprintf("dec %v", r)}
}

// AddImm8 is `add r, imm8` with the immediate sign-extended (REX.W 83 /0).
func AddImm8(r Reg, v int8) Instruction {
	b := cat(rex(true, 0, 0, r), []byte{0x83, modRM(3, 0, r), byte(v)})
	return Instruction{Bytes: b, Asm: fmt.Sprintf("add %v, %s", r, signedHex(int64(v)))}
}

// AddImm32 is `add r, imm32` with the immediate sign-extended (REX.W 81 /0).
func AddImm32(r Reg, v int32) Instruction {
	b := cat(rex(true, 0, 0, r), []byte{0x81, modRM(3, 0, r)}, imm32(uint32(v)))
	return Instruction{Bytes: b, Asm: fmt.Sprintf("add %v, %s", r, signedHex(int64(v)))}
}

// Div is `div r` (REX.W F7 /6): RDX:RAX divided by r.
func Div(r Reg) Instruction {
	return Instruction{Bytes: cat(rex(true, 0, 0, r), []byte{0xF7, modRM(3, 6, r)}), Asm: fmt.Sprintf("div %v", r)}
}

// Load is `mov dst, qword ptr [base+disp]` (REX.W 8B /r).
func Load(dst, base Reg, disp int8) Instruction {
	m, asm := memOperand(dst, base, disp)
	return Instruction{Bytes: cat(rex(true, dst, 0, base), []byte{0x8B}, m), Asm: fmt.Sprintf("mov %v, qword ptr %s", dst, asm)}
}

// Store is `mov qword ptr [base], src` (REX.W 89 /r).
func Store(base, src Reg) Instruction {
	m, asm := memOperand(src, base, 0)
	return Instruction{Bytes: cat(rex(true, src, 0, base), []byte{0x89}, m), Asm: fmt.Sprintf("mov qword ptr %s, %v", asm, src)}
}

// LoadByteZX is `movzx dst32, byte ptr [base]` (0F B6 /r).
func LoadByteZX(dst, base Reg) Instruction {
	m, asm := memOperand(dst, base, 0)
	return Instruction{Bytes: cat(rex(false, dst, 0, base), []byte{0x0F, 0xB6}, m), Asm: fmt.Sprintf("movzx %s, byte ptr %s", names32[dst], asm)}
}

// LoadByteZXRIP is `movzx dst32, byte ptr [rip+rel]` (0F B6 /r, mod 00 rm
// 101): rel counts from the end of the instruction, 7 bytes for dst below
// r8.
func LoadByteZXRIP(dst Reg, rel int32) Instruction {
	b := cat(rex(false, dst, 0, 0), []byte{0x0F, 0xB6, dst.low()<<3 | 5}, imm32(uint32(rel)))
	return Instruction{Bytes: b, Asm: fmt.Sprintf("movzx %s, byte ptr [rip+%#x]", names32[dst], uint32(rel))}
}

// LoadAL is `mov al, byte ptr [base]` (8A /r).
func LoadAL(base Reg) Instruction {
	m, asm := memOperand(RAX, base, 0)
	return Instruction{Bytes: cat(rex(false, 0, 0, base), []byte{0x8A}, m), Asm: "mov al, byte ptr " + asm}
}

// StoreAL is `mov byte ptr [base], al` (88 /r).
func StoreAL(base Reg) Instruction {
	m, asm := memOperand(RAX, base, 0)
	return Instruction{Bytes: cat(rex(false, 0, 0, base), []byte{0x88}, m), Asm: "mov byte ptr " + asm + ", al"}
}

// StoreByte is `mov byte ptr [base], imm8` (C6 /0).
func StoreByte(base Reg, v uint8) Instruction {
	m, asm := memOperand(0, base, 0)
	return Instruction{Bytes: cat(rex(false, 0, 0, base), []byte{0xC6}, m, []byte{v}), Asm: fmt.Sprintf("mov byte ptr %s, %#x", asm, v)}
}

// StoreByteIndexed is `mov byte ptr [base+index], imm8` (C6 /0 with a SIB
// byte of scale 1).
func StoreByteIndexed(base, index Reg, v uint8) Instruction {
	if base.low() == 5 || index == RSP {
		panic(fmt.Sprintf("x86enc: [%v+%v] is not encoded", base, index))
	}
	sib := index.low()<<3 | base.low()
	b := cat(rex(false, 0, index, base), []byte{0xC6, modRM(0, 0, RSP), sib, v})
	return Instruction{Bytes: b, Asm: fmt.Sprintf("mov byte ptr [%v+%v], %#x", base, index, v)}
}

// OutAL is `out port, al` (E6 ib): the exit to the host of every stub and
// of user programs allowed the user ports.
func OutAL(port uint8) Instruction {
	return Instruction{Bytes: []byte{0xE6, port}, Asm: fmt.Sprintf("out %#x, al", port)}
}

// Int is `int n` (CD ib).
func Int(n uint8) Instruction {
	return Instruction{Bytes: []byte{0xCD, n}, Asm: fmt.Sprintf("int %#x", n)}
}

// JmpReg is `jmp r` (FF /4).
func JmpReg(r Reg) Instruction {
	return Instruction{Bytes: cat(rex(false, 0, 0, r), []byte{0xFF, modRM(3, 4, r)}), Asm: fmt.Sprintf("jmp %v", r)}
}

// branch8 is a two-byte relative branch to rel bytes after its end.
func branch8(op byte, name string, rel int8) Instruction {
	return Instruction{Bytes: []byte{op, byte(rel)}, Asm: fmt.Sprintf("%s .%+d", name, int(rel)+2)}
}

// Jmp, Jnz and Jz are the short branches (EB, 75, 74 cb) to rel bytes after
// their end.
func Jmp(rel int8) Instruction { return branch8(0xEB, "jmp", rel) }
func Jnz(rel int8) Instruction { return branch8(0x75, "jnz", rel) }
func Jz(rel int8) Instruction  { return branch8(0x74, "jz", rel) }

// JnzNear is the near `jnz` (0F 85 cd) to rel bytes after its end.
func JnzNear(rel int32) Instruction {
	return Instruction{Bytes: cat([]byte{0x0F, 0x85}, imm32(uint32(rel))), Asm: fmt.Sprintf("jnz .%+d", int(rel)+6)}
}

// JnzBack is `jnz` back to the start of a loop body of n bytes that ends
// right before it: short where it reaches, else near.
func JnzBack(n int) Instruction {
	if n+2 <= 128 {
		return Jnz(int8(-(n + 2)))
	}
	return JnzNear(int32(-(n + 6)))
}

// Instructions without operands.
var (
	Syscall  = Instruction{Bytes: []byte{0x0F, 0x05}, Asm: "syscall"}
	Sysretq  = Instruction{Bytes: []byte{0x48, 0x0F, 0x07}, Asm: "sysretq"}
	Iretq    = Instruction{Bytes: []byte{0x48, 0xCF}, Asm: "iretq"}
	RepMovsq = Instruction{Bytes: []byte{0xF3, 0x48, 0xA5}, Asm: "rep movsq"}
	Ud2      = Instruction{Bytes: []byte{0x0F, 0x0B}, Asm: "ud2"}
	Hlt      = Instruction{Bytes: []byte{0xF4}, Asm: "hlt"}
)
