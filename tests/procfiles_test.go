package tests

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/machine"
)

// statMasked are the fields of a /proc/<pid>/stat line (1-based) that
// differ from run to run or between a process of the host and one of
// mmvm's: ids, flags (PF_RANDOMIZE under ASLR), fault and time counters,
// the start time, the sizes, the addresses (which guest/procfiles.c
// checks against its own instead), the CPU it last ran on and the delay
// and guest times.
var statMasked = map[int]bool{1: true, 4: true, 5: true, 6: true, 9: true, 10: true, 11: true, 12: true, 13: true,
	14: true, 15: true, 16: true, 17: true, 22: true, 23: true, 24: true, 26: true, 27: true, 28: true, 39: true,
	42: true, 43: true, 44: true, 45: true, 46: true, 47: true, 48: true, 49: true, 50: true, 51: true}

// procfilesMasks replace, in guest/procfiles.c's output, the values that
// differ from run to run (times, loads, counters, pids, sizes in pages,
// the CPU clock) with their shape.
var procfilesMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)(^== /proc/self/statm\n)\d+ \d+ \d+ \d+ (\d+) \d+ (\d+)$`), "${1}N N N N $2 N $3"},
	{regexp.MustCompile(`(?m)(^== /proc/uptime\n)\d+\.\d\d \d+\.\d\d$`), "${1}U.UU I.II"},
	{regexp.MustCompile(`(?m)(^== /proc/loadavg\n)\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+$`), "${1}L.LL L.LL L.LL R/T P"},
	{regexp.MustCompile(`(?m)(^== /proc/sys/kernel/pid_max\n)\d+$`), "${1}N"},
	{regexp.MustCompile(`(?m)^(cpu MHz\t\t: )\d+\.\d+$`), "${1}M"},
}

// maskProcfiles masks procfiles' output for comparison: the stat line's
// varying fields (statMasked), then procfilesMasks.
func maskProcfiles(out []byte) []byte {
	lines := strings.Split(string(out), "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i-1] != "== /proc/self/stat" {
			continue
		}
		head, rest, ok := strings.Cut(lines[i], ") ")
		pid, comm, _ := strings.Cut(head, " (")
		if !ok {
			continue
		}
		fields := append([]string{pid, "(" + comm + ")"}, strings.Fields(rest)...)
		for j := range fields {
			if statMasked[j+1] {
				fields[j] = "N"
			}
		}
		lines[i] = strings.Join(fields, " ")
	}
	b := []byte(strings.Join(lines, "\n"))
	for _, m := range procfilesMasks {
		b = m.re.ReplaceAll(b, []byte(m.with))
	}
	return b
}

// TestProcFilesMatchNative runs guest/procfiles.c natively and in mmvm and
// compares its output with the varying values masked (maskProcfiles), and
// its exit status: the files' formats, what each must agree with, and the
// files the guest's machine shares with the host (cpuinfo, version, the
// CPU lists).
func TestProcFilesMatchNative(t *testing.T) {
	dir := guestDir(t)
	for _, name := range []string{"procfiles-musl", "procfiles-glibc"} {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			nOut, _, nStatus := runNative(t, path, nil)
			fp := machine.DefaultFastPath()
			vOut, vErr, stop := runInMachine(t, path, nil, fp)
			if stop.Status() != nStatus {
				t.Errorf("status: mmvm %d (%v %s, stderr %q), native %d", stop.Status(), stop.Kind, stop.Reason, vErr, nStatus)
			}
			if n, v := maskProcfiles(nOut), maskProcfiles(vOut); !bytes.Equal(n, v) {
				t.Errorf("output differs:\n%s", lineDiff(string(v), string(n)))
			}
		})
	}
}

// lineDiff lists the lines of mmvm's output and the native one's that
// differ, by line number.
func lineDiff(vm, native string) string {
	a, b := strings.Split(vm, "\n"), strings.Split(native, "\n")
	var out strings.Builder
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			out.WriteString("mmvm:   " + x + "\nnative: " + y + "\n")
		}
	}
	return out.String()
}
