package tests

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
)

// runClockLoop runs `vdsoclock loop n` and returns its system-call exits
// and the layout it ran in.
func runClockLoop(t *testing.T, path string, n int) (exits uint64, maps string) {
	t.Helper()
	kvmtest.Open(t)
	var o, e bytes.Buffer
	m, err := machine.New(machine.Config{Memory: 256 << 20, Stdout: &o, Stderr: &e, StdioFDs: [3]int{-1, -1, -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.LoadProgram(path, []string{path, "loop", strconv.Itoa(n)}, nil); err != nil {
		t.Fatal(err)
	}
	maps = m.MM.Maps()
	t.Logf("vDSO clock: %s", m.Platform().VDSOClock)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if stop.Status() != 0 || o.String() != "done\n" {
		t.Fatalf("loop %d: status %d (%v %s), stdout %q, stderr %q", n, stop.Status(), stop.Kind, stop.Reason, o.String(), e.String())
	}
	return m.Stats().Exits["syscall"], maps
}

// vdsoMaps matches [vvar], [vvar_vclock] and the vDSO in /proc/self/maps
// form: read-only, read-only, then read+execute, private, adjacent, no
// file.
var vdsoMaps = regexp.MustCompile(`(?m)^([0-9a-f]+)-([0-9a-f]+) r--p 00000000 00:00 0 +\[vvar\]\n([0-9a-f]+)-([0-9a-f]+) r--p 00000000 00:00 0 +\[vvar_vclock\]\n([0-9a-f]+)-([0-9a-f]+) r-xp 00000000 00:00 0 +\[vdso\]$`)

// TestVDSOClockMakesNoExits: 10^4 clock_gettime calls of a glibc and a musl
// program make no system call: a run of the loop exits to the host exactly
// as often as a run of none. Every program has [vvar], [vvar_vclock] and
// [vdso] mapped, four pages, two and two, adjacent, as Linux 6.18 maps
// them.
func TestVDSOClockMakesNoExits(t *testing.T) {
	dir := guestDir(t)
	for _, name := range []string{"vdsoclock-musl", "vdsoclock-glibc"} {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			none, maps := runClockLoop(t, path, 0)
			many, _ := runClockLoop(t, path, 10000)
			t.Logf("system-call exits: %d with no clock_gettime, %d with 10000", none, many)
			if many != none {
				t.Errorf("10000 clock_gettime calls made %d system-call exits", many-none)
			}
			mt := vdsoMaps.FindStringSubmatch(maps)
			if mt == nil {
				t.Fatalf("no adjacent [vvar], [vvar_vclock] and [vdso] in the maps:\n%s", maps)
			}
			var b [6]uint64
			for i := range b {
				b[i], _ = strconv.ParseUint(mt[i+1], 16, 64)
			}
			if b[1]-b[0] != 4*4096 || b[1] != b[2] || b[3]-b[2] != 2*4096 || b[3] != b[4] || b[5]-b[4] != 2*4096 {
				t.Errorf("[vvar] %#x-%#x, [vvar_vclock] %#x-%#x, [vdso] %#x-%#x: want four pages, two and two, adjacent", b[0], b[1], b[2], b[3], b[4], b[5])
			}
		})
	}
}
