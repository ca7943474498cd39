package loader

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load. Load must never panic; when it
// accepts a file, the plan must satisfy every invariant the VM relies on and
// BuildStack must accept it.
func FuzzLoad(f *testing.F) {
	f.Add(minimalStatic().bytes())
	f.Add(minimalPIE().bytes())
	interp := minimalStatic()
	interp.progs[3].Type = 3 // PT_INTERP over the code bytes
	f.Add(interp.bytes())
	// Real static executables, when the guests have been built.
	if paths, _ := filepath.Glob("../out/guest/*"); len(paths) > 0 {
		for _, p := range paths[:min(len(paths), 4)] {
			if b, err := os.ReadFile(p); err == nil && len(b) < 1<<20 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		p, err := Load(bytes.NewReader(img), int64(len(img)), Options{})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			return
		}
		checkPlanInvariants(t, p)
		st, err := BuildStack(p, StackSpec{Argv: []string{"fuzz"}}, 0x7fff_ffff_f000)
		if err != nil {
			t.Fatalf("BuildStack on a loaded plan: %v", err)
		}
		d := decodeStack(t, st.Image, st.SP, st.Top)
		if d.auxv[AuxEntryPoint] != uint64(p.Entry) {
			t.Fatalf("AT_ENTRY %#x, plan entry %v", d.auxv[AuxEntryPoint], p.Entry)
		}
	})
}
