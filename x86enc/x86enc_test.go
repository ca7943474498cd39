package x86enc_test

import (
	"bytes"
	"testing"

	"github.com/mmvm/mmvm/x86enc"
	"github.com/mmvm/mmvm/x86enc/x86enctest"
)

// TestEncodings checks each encoder against the bytes the Intel manual
// gives (as GNU as and the earlier hand encodings wrote them) and against
// the disassembler's listing.
func TestEncodings(t *testing.T) {
	for _, tc := range []struct {
		in   x86enc.Instruction
		want []byte
	}{
		{x86enc.MovImm64(x86enc.RDI, 0x1000_0000), []byte{0x48, 0xBF, 0, 0, 0, 0x10, 0, 0, 0, 0}},
		{x86enc.MovImm64(x86enc.R12, 2), []byte{0x49, 0xBC, 2, 0, 0, 0, 0, 0, 0, 0}},
		{x86enc.MovImm32(x86enc.RAX, 39), []byte{0xB8, 39, 0, 0, 0}},
		{x86enc.MovImm32(x86enc.R10, 0x22), []byte{0x41, 0xBA, 0x22, 0, 0, 0}},
		{x86enc.MovSignExtended(x86enc.R8, -1), []byte{0x49, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF}},
		{x86enc.Mov(x86enc.RBX, x86enc.RAX), []byte{0x48, 0x89, 0xC3}},
		{x86enc.Mov(x86enc.RSI, x86enc.RDI), []byte{0x48, 0x89, 0xFE}},
		{x86enc.Xor32(x86enc.RDI, x86enc.RDI), []byte{0x31, 0xFF}},
		{x86enc.Xor32(x86enc.R9, x86enc.R9), []byte{0x45, 0x31, 0xC9}},
		{x86enc.Test(x86enc.RDX, x86enc.RDX), []byte{0x48, 0x85, 0xD2}},
		{x86enc.Test(x86enc.R9, x86enc.R9), []byte{0x4D, 0x85, 0xC9}},
		{x86enc.Dec(x86enc.RCX), []byte{0x48, 0xFF, 0xC9}},
		{x86enc.Dec(x86enc.R12), []byte{0x49, 0xFF, 0xCC}},
		{x86enc.AddImm8(x86enc.RSP, 8), []byte{0x48, 0x83, 0xC4, 0x08}},
		{x86enc.AddImm8(x86enc.R8, 8), []byte{0x49, 0x83, 0xC0, 0x08}},
		{x86enc.AddImm32(x86enc.RDI, 0x1000), []byte{0x48, 0x81, 0xC7, 0x00, 0x10, 0x00, 0x00}},
		{x86enc.Div(x86enc.RCX), []byte{0x48, 0xF7, 0xF1}},
		{x86enc.Load(x86enc.RDI, x86enc.RBX, 0), []byte{0x48, 0x8B, 0x3B}},
		{x86enc.Load(x86enc.RCX, x86enc.RBX, 8), []byte{0x48, 0x8B, 0x4B, 0x08}},
		{x86enc.Load(x86enc.RDX, x86enc.R8, 0), []byte{0x49, 0x8B, 0x10}},
		{x86enc.Store(x86enc.RDI, x86enc.RAX), []byte{0x48, 0x89, 0x07}},
		{x86enc.LoadByteZX(x86enc.RAX, x86enc.RDI), []byte{0x0F, 0xB6, 0x07}},
		{x86enc.LoadByteZXRIP(x86enc.RAX, -0x20), []byte{0x0F, 0xB6, 0x05, 0xE0, 0xFF, 0xFF, 0xFF}},
		{x86enc.LoadAL(x86enc.RDI), []byte{0x8A, 0x07}},
		{x86enc.StoreAL(x86enc.RDI), []byte{0x88, 0x07}},
		{x86enc.StoreByte(x86enc.RDI, 1), []byte{0xC6, 0x07, 0x01}},
		{x86enc.StoreByteIndexed(x86enc.RSI, x86enc.RDX, 1), []byte{0xC6, 0x04, 0x16, 0x01}},
		{x86enc.OutAL(0xF0), []byte{0xE6, 0xF0}},
		{x86enc.Int(0x80), []byte{0xCD, 0x80}},
		{x86enc.JmpReg(x86enc.RDI), []byte{0xFF, 0xE7}},
		{x86enc.Jmp(-2), []byte{0xEB, 0xFE}},
		{x86enc.Jz(9), []byte{0x74, 0x09}},
		{x86enc.JnzBack(10), []byte{0x75, 0xF4}},
		{x86enc.JnzNear(-6), []byte{0x0F, 0x85, 0xFA, 0xFF, 0xFF, 0xFF}},
		{x86enc.JnzBack(200), []byte{0x0F, 0x85, 0x32, 0xFF, 0xFF, 0xFF}},
		{x86enc.Syscall, []byte{0x0F, 0x05}},
		{x86enc.Sysretq, []byte{0x48, 0x0F, 0x07}},
		{x86enc.Iretq, []byte{0x48, 0xCF}},
		{x86enc.RepMovsq, []byte{0xF3, 0x48, 0xA5}},
		{x86enc.Ud2, []byte{0x0F, 0x0B}},
		{x86enc.Hlt, []byte{0xF4}},
	} {
		if !bytes.Equal(tc.in.Bytes, tc.want) {
			t.Errorf("%s: % x, want % x", tc.in.Asm, tc.in.Bytes, tc.want)
		}
		x86enctest.CheckDecodes(t, tc.in.Asm, []x86enc.Instruction{tc.in})
	}
}

func TestUnencodedBasePanics(t *testing.T) {
	for _, base := range []x86enc.Reg{x86enc.RSP, x86enc.RBP, x86enc.R12, x86enc.R13} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("x86enc.Load from [%v] did not panic", base)
				}
			}()
			x86enc.Load(x86enc.RAX, base, 0)
		}()
	}
}
