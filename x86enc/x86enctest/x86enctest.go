// Package x86enctest checks hand-encoded code against a disassembler
// (golang.org/x/arch's x86asm) in tests: every instruction must decode to
// its own length and listing.
package x86enctest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/x86enc"
	"golang.org/x/arch/x86/x86asm"
)

// CheckDecodes decodes code and checks that it is exactly the listed
// instructions: same lengths, same listings, nothing left over.
func CheckDecodes(t testing.TB, name string, code []x86enc.Instruction) {
	t.Helper()
	b := x86enc.Assemble(code...)
	pc := 0
	for i, want := range code {
		in, err := x86asm.Decode(b[pc:], 64)
		if err != nil {
			t.Fatalf("%s: instruction %d (%s) at %#x: %v", name, i, want.Asm, pc, err)
		}
		if in.Len != len(want.Bytes) {
			t.Fatalf("%s: %s decodes as %d bytes, listed as %d", name, want.Asm, in.Len, len(want.Bytes))
		}
		if got := Listing(in, pc); got != want.Asm {
			t.Errorf("%s: bytes % x decode as %q, listed as %q", name, want.Bytes, got, want.Asm)
		}
		pc += in.Len
	}
	if pc != len(b) {
		t.Fatalf("%s: %d trailing bytes", name, len(b)-pc)
	}
}

// Listing prints an instruction the way x86enc's listings spell it:
// x86asm's Intel syntax, except that relative branches are written as GNU
// as does (".+n" from the start of the instruction), SYSRET's REX.W is
// spelled as the "q" suffix and MOVSQ's implicit operands are left out.
func Listing(in x86asm.Inst, pc int) string {
	switch in.Op {
	case x86asm.SYSRET:
		if HasREXW(in) {
			return "sysretq"
		}
		return "sysret"
	case x86asm.MOVSQ:
		return strings.TrimSuffix(x86asm.IntelSyntax(in, uint64(pc), nil), " qword ptr [rdi], qword ptr [rsi]")
	case x86asm.JMP, x86asm.JNE, x86asm.JE:
		if rel, ok := in.Args[0].(x86asm.Rel); ok {
			op := map[x86asm.Op]string{x86asm.JMP: "jmp", x86asm.JNE: "jnz", x86asm.JE: "jz"}[in.Op]
			return fmt.Sprintf("%s .%+d", op, int(rel)+in.Len)
		}
	}
	return x86asm.IntelSyntax(in, uint64(pc), nil)
}

// HasREXW reports whether in carries a REX prefix with W set.
func HasREXW(in x86asm.Inst) bool {
	for _, p := range in.Prefix {
		if p&x86asm.PrefixREX != 0 && p&x86asm.PrefixREXW != 0 {
			return true
		}
	}
	return false
}
