package faultbench

import (
	"strings"
	"testing"

	"github.com/mmvm/mmvm/x86enc"
	"golang.org/x/arch/x86/x86asm"
)

// disasm decodes code completely, failing on any byte that does not decode.
func disasm(t *testing.T, code []byte) []string {
	t.Helper()
	var out []string
	for pc := 0; pc < len(code); {
		in, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			t.Fatalf("at %d: %v (% x)", pc, err, code[pc:])
		}
		out = append(out, strings.ToLower(x86asm.IntelSyntax(in, uint64(pc), nil)))
		pc += in.Len
	}
	return out
}

func TestProgramsDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []byte
		want []string
	}{
		{"touch", touchProgram(0x1000_0000, 3), []string{
			"mov rdi, 0x10000000", "mov rcx, 0x3", "mov byte ptr [rdi], 0x1", "add rdi, 0x1000", "dec rcx", "jnz 0x14",
			"out 0xf0, al", "jmp 0x23"}},
		{"random", randomTouchProgram(0x1000_0000, 0x80_0000, 5), []string{
			"mov rsi, 0x10000000", "mov r8, 0x800000", "mov rcx, 0x5", "mov rdx, qword ptr [r8]", "mov byte ptr [rsi+rdx], 0x1",
			"add r8, 0x8", "dec rcx", "jnz 0x1e", "out 0xf0, al", "jmp 0x2e"}},
		{"syscall loop", syscallLoop(39), []string{"mov eax, 0x27", "syscall", "jmp 0x0"}},
		{"syscall count", syscallCountProgram(39, 5), []string{
			"mov r12, 0x5", "mov eax, 0x27", "syscall", "dec r12", "jnz 0xa", "out 0xf0, al", "jmp 0x16"}},
		{"mmap cycles", mmapCycleProgram(2, 4<<20), []string{
			"mov r12, 0x2", "mov eax, 0x9", "xor edi, edi", "mov rsi, 0x400000", "mov edx, 0x3", "mov r10d, 0x22",
			"mov r8, -0x1", "xor r9d, r9d", "syscall", "mov rdi, rax", "mov rbx, rax", "mov rcx, 0x400",
			"mov byte ptr [rdi], 0x1", "add rdi, 0x1000", "dec rcx", "jnz 0x42", "mov eax, 0xb", "mov rdi, rbx",
			"mov rsi, 0x400000", "syscall", "dec r12", "jnz 0xa", "out 0xf0, al", "jmp 0x6a"}},
	} {
		// Every jump must land on an instruction of the listing: the
		// targets above are offsets checked by hand.
		got := disasm(t, tc.code)
		if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestJnzBackLong(t *testing.T) {
	body := make([]byte, 200)
	for i := range body {
		body[i] = 0x90 // nop
	}
	got := disasm(t, append(body, x86enc.JnzBack(len(body)).Bytes...))
	if last := got[len(got)-1]; last != "jnz 0x0" {
		t.Errorf("long jnz back decodes as %q, want jnz 0x0", last)
	}
}
