package ring0

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/x86enc/x86enctest"
	"golang.org/x/arch/x86/x86asm"
)

func TestStubsDecode(t *testing.T) {
	for _, s := range codeStubs() {
		x86enctest.CheckDecodes(t, s.Name, s.Code)
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
		ops = append(ops, strings.Fields(x86enctest.Listing(in, pc))[0])
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
