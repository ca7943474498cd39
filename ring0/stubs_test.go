package ring0

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// checkDecodes decodes code with x86asm and checks that it is exactly the
// listed instructions: same lengths, same Intel syntax (with the one
// spelling x86asm differs in noted), nothing left over.
func checkDecodes(t *testing.T, name string, code []Instruction) {
	t.Helper()
	b := Assemble(code)
	pc := 0
	for i, want := range code {
		in, err := x86asm.Decode(b[pc:], 64)
		if err != nil {
			t.Fatalf("%s: instruction %d (%s) at %#x: %v", name, i, want.Asm, pc, err)
		}
		if in.Len != len(want.Bytes) {
			t.Fatalf("%s: %s decodes as %d bytes, listed as %d", name, want.Asm, in.Len, len(want.Bytes))
		}
		if got := listingOf(in, pc); got != want.Asm {
			t.Errorf("%s: bytes % x decode as %q, listed as %q", name, want.Bytes, got, want.Asm)
		}
		pc += in.Len
	}
	if pc != len(b) {
		t.Fatalf("%s: %d trailing bytes", name, len(b)-pc)
	}
}

// listingOf prints an instruction the way the listings spell it: x86asm's
// Intel syntax, except that relative branches are written as GNU as does
// (".+n" from the start of the instruction) and SYSRET's REX.W is spelled as
// the "q" suffix.
func listingOf(in x86asm.Inst, pc int) string {
	switch in.Op {
	case x86asm.SYSRET:
		if hasREXW(in) {
			return "sysretq"
		}
		return "sysret"
	case x86asm.MOVSQ:
		// x86asm spells out the implicit operands; the listing does not.
		return strings.TrimSuffix(x86asm.IntelSyntax(in, uint64(pc), nil), " qword ptr [rdi], qword ptr [rsi]")
	case x86asm.JMP, x86asm.JNE, x86asm.JE:
		if rel, ok := in.Args[0].(x86asm.Rel); ok {
			op := map[x86asm.Op]string{x86asm.JMP: "jmp", x86asm.JNE: "jnz", x86asm.JE: "jz"}[in.Op]
			return fmt.Sprintf("%s .%+d", op, int(rel)+in.Len)
		}
	}
	return x86asm.IntelSyntax(in, uint64(pc), nil)
}

func hasREXW(in x86asm.Inst) bool {
	for _, p := range in.Prefix {
		if p&x86asm.PrefixREX != 0 && p&x86asm.PrefixREXW != 0 {
			return true
		}
	}
	return false
}

func TestStubsDecode(t *testing.T) {
	for _, s := range codeStubs() {
		checkDecodes(t, s.Name, s.Code)
	}
}

// TestStubInstructionCounts pins the cost of each ring-0 path: on the device
// every ring-0 instruction is emulated (~2 µs), so a new one must be a
// deliberate change here.
func TestStubInstructionCounts(t *testing.T) {
	stubs := Stubs()
	if len(stubs) != NumVectors+1 {
		t.Fatalf("%d stubs, want %d", len(stubs), NumVectors+1)
	}
	for v := Vector(0); v < NumVectors; v++ {
		s := stubs[v]
		want := []string{"out", "iretq"}
		if v.HasErrorCode() {
			want = []string{"out", "add", "iretq"}
		}
		if got := mnemonics(t, s); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%v stub: %v, want %v", v, got, want)
		}
		if s.Code[0].Asm != fmt.Sprintf("out %#x, al", VectorPort(v)) {
			t.Errorf("%v stub exits with %q", v, s.Code[0].Asm)
		}
		if s.Size() > stubSlot || s.Offset != stubsOffset+uint64(v)*stubSlot {
			t.Errorf("%v stub at %#x, %d bytes", v, s.Offset, s.Size())
		}
	}
	sc := stubs[NumVectors]
	if got := mnemonics(t, sc); strings.Join(got, " ") != "out sysretq" {
		t.Errorf("syscall stub: %v, want [out sysretq]", got)
	}
	if sc.Code[0].Asm != fmt.Sprintf("out %#x, al", PortSyscall) {
		t.Errorf("syscall stub exits with %q", sc.Code[0].Asm)
	}
	// Whatever path, exactly one instruction runs before the exit.
	for _, s := range stubs {
		if s.ResumeOffset() != s.Offset+2 {
			t.Errorf("%s: resume offset %#x, stub at %#x", s.Name, s.ResumeOffset(), s.Offset)
		}
	}
}

func mnemonics(t *testing.T, s Stub) []string {
	t.Helper()
	b := s.Bytes()
	var ops []string
	for pc := 0; pc < len(b); {
		in, err := x86asm.Decode(b[pc:], 64)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		ops = append(ops, strings.Fields(listingOf(in, pc))[0])
		pc += in.Len
	}
	return ops
}

// TestStubsInMemory checks that New wrote each stub at its entry point and
// filled the rest of the code page with int3.
func TestStubsInMemory(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	l := k.Layout()
	used := make([]bool, RegionSize)
	for _, s := range codeStubs() {
		if !bytes.Equal(mem[s.Offset:s.Offset+uint64(s.Size())], s.Bytes()) {
			t.Errorf("%s: memory % x, want % x", s.Name, mem[s.Offset:s.Offset+uint64(s.Size())], s.Bytes())
		}
		for i := range s.Size() {
			used[s.Offset+uint64(i)] = true
		}
	}
	for off := l.Code.Offset; off < l.Code.Offset+l.Code.Size; off++ {
		if !used[off] && mem[off] != 0xCC {
			t.Fatalf("code byte %#x = %#x, want int3 fill", off, mem[off])
		}
	}
	if uint64(l.SyscallEntry-l.Virt) != Stubs()[NumVectors].Offset {
		t.Errorf("SyscallEntry %v", l.SyscallEntry)
	}
}

// assemble runs GNU as on src and returns the .text bytes, or skips when the
// toolchain is missing.
func assemble(t *testing.T, src string) []byte {
	t.Helper()
	as, err := exec.LookPath("as")
	if err != nil {
		t.Skip("GNU as not installed: the x86asm decoding test still covers the bytes")
	}
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		t.Skip("objcopy not installed")
	}
	dir := t.TempDir()
	s, o, bin := filepath.Join(dir, "a.s"), filepath.Join(dir, "a.o"), filepath.Join(dir, "a.bin")
	if err := os.WriteFile(s, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(as, "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s\n%s", err, out, src)
	}
	if out, err := exec.Command(objcopy, "-O", "binary", "-j", ".text", o, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestListingAssemblesToStubs(t *testing.T) {
	got := assemble(t, Listing())
	k, mem := newTestKernel(t, false, CPUFeatures{})
	l := k.Layout()
	want := mem[l.Code.Offset : l.Code.Offset+uint64(len(got))]
	if len(got) == 0 || !bytes.Equal(got, want) {
		t.Fatalf("as produced\n% x\nNew wrote\n% x", got, want)
	}
	all := codeStubs()
	last := all[len(all)-1]
	if uint64(len(got)) != last.Offset-stubsOffset+uint64(last.Size()) {
		t.Errorf("assembled %d bytes, stubs end at %#x", len(got), last.Offset-stubsOffset+uint64(last.Size()))
	}
}
