package ring0

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/x86enc"
	"github.com/mmvm/mmvm/x86enc/x86enctest"
	"golang.org/x/arch/x86/x86asm"
)

var probes = []struct {
	name string
	code []x86enc.Instruction
	// wantOps is the program's instruction sequence; branches give the
	// index of the instruction they jump to in wantTarget.
	wantOps    []string
	wantTarget map[int]int
}{
	{"SyscallTouchProbe", SyscallTouchProbe(39),
		[]string{"mov", "syscall", "mov", "mov", "movzx", "out", "jmp"}, map[int]int{6: 5}},
}

func TestProbesDecode(t *testing.T) {
	for _, p := range probes {
		x86enctest.CheckDecodes(t, p.name, p.code)
		b := x86enc.Assemble(p.code...)
		var starts []int
		var ops []string
		targets := map[int]int{}
		for pc := 0; pc < len(b); {
			in, err := x86asm.Decode(b[pc:], 64)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			starts = append(starts, pc)
			ops = append(ops, strings.Fields(x86enctest.Listing(in, pc))[0])
			if rel, ok := in.Args[0].(x86asm.Rel); ok {
				targets[len(ops)-1] = pc + in.Len + int(rel)
			}
			pc += in.Len
		}
		if strings.Join(ops, " ") != strings.Join(p.wantOps, " ") {
			t.Errorf("%s: %v, want %v", p.name, ops, p.wantOps)
		}
		for from, to := range p.wantTarget {
			if targets[from] != starts[to] {
				t.Errorf("%s: branch %d goes to %#x, want instruction %d at %#x", p.name, from, targets[from], to, starts[to])
			}
		}
		// Every probe ends in the user-port exit loop, so a resumed probe
		// keeps exiting rather than running off its end.
		if p.code[len(p.code)-2].Asm != "out 0xf0, al" {
			t.Errorf("%s: does not end in out 0xf0", p.name)
		}
	}
}

func TestProbesAssemble(t *testing.T) {
	for _, p := range probes {
		var src strings.Builder
		src.WriteString(".intel_syntax noprefix\n.code64\n")
		for _, in := range p.code {
			src.WriteString(in.Asm + "\n")
		}
		if got, want := assemble(t, src.String()), x86enc.Assemble(p.code...); !bytes.Equal(got, want) {
			t.Errorf("%s: as gives % x, probe is % x", p.name, got, want)
		}
	}
}
