package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/syscalls"
)

// processGuests are the guest programs that make processes
// (guest/forks.c, guest/forkbench.c in its --check mode and Rust's
// std::process in guest/spawn-rust.rs) with their
// arguments; TestProcessGuestsMatchNative runs them as
// TestGuestsMatchNative runs guestCases. Their children exec only
// /proc/self/exe, so they need no --dir. To keep the KVM suite's time
// (each case runs twice in mmvm, on both QEMU kinds), churn runs 100
// cycles here, with musl only (TestForkChurnLeaksNothing runs 1000), and
// cow 4 children with musl, 2 with glibc (each writes and checks 4 MiB,
// slow under emulation).
var processGuests = []struct {
	name string
	args []string
}{
	{"forks-glibc", []string{"cow", "2"}},
	{"forks-glibc", []string{"shared"}},
	{"forks-glibc", []string{"pipeline"}},
	{"forks-glibc", []string{"exec"}},
	{"forks-glibc", []string{"wait"}},
	{"forks-glibc", []string{"vfork"}},
	{"forks-glibc", []string{"pgrp"}},
	{"forks-musl", []string{"cow", "4"}},
	{"forks-musl", []string{"shared"}},
	{"forks-musl", []string{"pipeline"}},
	{"forks-musl", []string{"exec"}},
	{"forks-musl", []string{"wait"}},
	{"forks-musl", []string{"vfork"}},
	{"forks-musl", []string{"clonevm"}},
	{"forks-musl", []string{"pgrp"}},
	{"forks-musl", []string{"churn", "100"}},
	{"forkbench-musl", []string{"16", "20", "--check"}},
	{"spawn-rust", nil},
}

// TestProcessGuestsMatchNative runs every program of processGuests
// natively, where it must exit 0 (so that a case that fails on the host
// cannot pass by failing the same way in mmvm), then natively and inside
// mmvm, comparing stdout, stderr and exit status (matchNative).
func TestProcessGuestsMatchNative(t *testing.T) {
	dir := guestDir(t)
	for _, tc := range processGuests {
		t.Run(tc.name+argsName(tc.args), func(t *testing.T) {
			path, ok := guestProgram(t, dir, tc.name)
			if !ok {
				return
			}
			if out, errOut, status := runNative(t, path, tc.args); status != 0 {
				t.Fatalf("natively: status %d\nstdout:\n%s\nstderr:\n%s", status, out, errOut)
			}
			matchNative(t, dir, tc.name, tc.args)
		})
	}
}

// TestExecThroughViewShowsGuestPaths runs forks (whoami, execpath) from a
// view whose guest path differs from its host path, and requires the
// names the program is told of itself (AT_EXECFN, /proc/self/exe, its
// maps line, comm, status's Name) to be those Linux gives when the same
// file lies at the guest path: natively the program runs from a copy at
// TMP/guestbin, and TMP is cut from what it prints. The first process,
// one exec'ed by an absolute and by a relative path, and an exec of
// /proc/self/exe are each compared; no host path may show.
func TestExecThroughViewShowsGuestPaths(t *testing.T) {
	dir := guestDir(t)
	for _, name := range []string{"forks-glibc", "forks-musl"} {
		path, ok := guestProgram(t, dir, name)
		if !ok {
			continue
		}
		tmp, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		const guestDirPath = "/guestbin"
		native := filepath.Join(tmp, guestDirPath, name)
		if err := os.MkdirAll(filepath.Dir(native), 0o755); err != nil {
			t.Fatal(err)
		}
		prog, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(native, prog, 0o755); err != nil {
			t.Fatal(err)
		}
		guestProg := guestDirPath + "/" + name
		for _, args := range [][]string{
			{"whoami"},
			{"whoami", "again"},
			{"execpath", guestProg},
			{"execpath", "./" + name, guestDirPath},
		} {
			t.Run(name+argsName(args), func(t *testing.T) {
				nativeArgs := make([]string, len(args))
				for i, a := range args {
					nativeArgs[i] = a
					if strings.HasPrefix(a, guestDirPath) {
						nativeArgs[i] = tmp + a
					}
				}
				nOut, nErr, nStatus := runNative(t, native, nativeArgs)
				want := strings.ReplaceAll(string(nOut), tmp, "")
				if nStatus != 0 || !strings.Contains(want, "whoami: AT_EXECFN") {
					t.Fatalf("natively: status %d\nstdout:\n%s\nstderr:\n%s", nStatus, nOut, nErr)
				}
				out, errOut, stop := runInMachine(t, path, args, machine.DefaultFastPath(), syscalls.View{Host: dir, Guest: guestDirPath})
				if stop.Status() != 0 || string(out) != want {
					t.Errorf("in mmvm: status %d, stdout:\n%s\nstderr:\n%s\nwant status 0, stdout:\n%s", stop.Status(), out, errOut, want)
				}
				if hostDir, _ := filepath.EvalSymlinks(dir); strings.Contains(string(out), dir) || strings.Contains(string(out), hostDir) {
					t.Errorf("the guest was told the host directory %s:\n%s", dir, out)
				}
			})
		}
	}
}

// memfdExecOutput is what forks memfd-exec prints on Linux 6.14 and later
// (checked on 6.18): MFD_NOEXEC_SEAL's memfd is EACCES, one holding no
// ELF or nothing ENOEXEC; the program run from a memfd by execveat's
// AT_EMPTY_PATH is told AT_EXECFN /dev/fd/N, its exe link and maps name
// the memfd's path, its task name is the memfd's own (6.14's
// comm_from_dentry: before it, the fd number); its exec of /proc/self/exe
// runs the memfd again.
const memfdExecOutput = `memfd-exec: MFD_NOEXEC_SEAL: EACCES
memfd-exec: no ELF: ENOEXEC
memfd-exec: empty: ENOEXEC
whoami: AT_EXECFN /dev/fd/6
whoami: /proc/self/exe -> /memfd:forks-program (deleted)
whoami: maps names the program /memfd:forks-program (deleted)
whoami: comm memfd:forks-pro
whoami: status Name:	memfd:forks-pro
whoami: AT_EXECFN /proc/self/exe
whoami: /proc/self/exe -> /memfd:forks-program (deleted)
whoami: maps names the program /memfd:forks-program (deleted)
whoami: comm exe
whoami: status Name:	exe
memfd-exec: child exited 0
`

// TestMemfdExecAsLinux runs forks memfd-exec inside mmvm and requires
// memfdExecOutput; natively too where the kernel is 6.14 or later (the
// QEMU guest's older kernel has no MFD_NOEXEC_SEAL and names the task
// after the fd, so there the rule stands alone).
func TestMemfdExecAsLinux(t *testing.T) {
	dir := guestDir(t)
	for _, name := range []string{"forks-glibc", "forks-musl"} {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			args := []string{"memfd-exec"}
			if kernelAtLeast(t, 6, 14) {
				if out, errOut, status := runNative(t, path, args); status != 0 || string(out) != memfdExecOutput {
					t.Fatalf("natively: status %d, stdout:\n%s\nstderr:\n%s\nwant status 0, stdout:\n%s", status, out, errOut, memfdExecOutput)
				}
			} else {
				t.Logf("the kernel here is older than 6.14: mmvm's output is checked against the rule alone")
			}
			out, errOut, stop := runInMachine(t, path, args, machine.DefaultFastPath())
			if stop.Status() != 0 || string(out) != memfdExecOutput {
				t.Errorf("in mmvm: status %d, stdout:\n%s\nstderr:\n%s\nwant status 0, stdout:\n%s", stop.Status(), out, errOut, memfdExecOutput)
			}
		})
	}
}

// kernelAtLeast says whether the running kernel is version major.minor or
// later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release[:], err)
	}
	return ma > major || ma == major && mi >= minor
}

// TestForkChurnLeaksNothing runs forks-musl churn (sequential fork,
// _exit, wait cycles) with 20 and then with 1000 children inside mmvm: at
// most one child lives at a time, so the peak of guest memory in use must
// not grow with the number of children (a page kept per child would add
// about 4 MiB over 980 more of them), and the host must have as many file
// descriptors open after the second run as after the first (the first
// may leave what the Go runtime and the KVM device open once).
func TestForkChurnLeaksNothing(t *testing.T) {
	dir := guestDir(t)
	path, _ := guestProgram(t, dir, "forks-musl")
	peak, fds := map[int]uint64{}, map[int]int{}
	kvmtest.Open(t) // the one /dev/kvm the test itself holds open, before counting
	for _, n := range []int{20, 1000} {
		out, st := runMachine(t, path, []string{"churn", strconv.Itoa(n)}, 256<<20)
		if want := fmt.Sprintf("churn %d ok\n", n); string(out) != want {
			t.Errorf("churn %d: stdout %q, want %q", n, out, want)
		}
		peak[n], fds[n] = st.MemoryFilePeak, hostFDs(t)
		t.Logf("churn %d: memory file peak %d KiB, %d page faults, %d host fds open after it", n, st.MemoryFilePeak>>10, st.Faults, fds[n])
	}
	const slack = 1 << 20
	if peak[1000] > peak[20]+slack {
		t.Errorf("memory file peak: %d KiB with 1000 children, %d KiB with 20: more than %d KiB more",
			peak[1000]>>10, peak[20]>>10, slack>>10)
	}
	if fds[1000] != fds[20] {
		t.Errorf("host fds open: %d after the run of 1000 children, %d after the run of 20", fds[1000], fds[20])
	}
}

// hostFDs is how many file descriptors the test process has open.
func hostFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// forkbenchRounds is how many fork cycles BenchmarkFork times at each
// size.
const forkbenchRounds = 200

// BenchmarkFork runs guest/forkbench.c (forkbench-glibc MiB 200): with
// MiB of private anonymous memory written, it times fork, the child's
// _exit and waitpid, natively and inside mmvm in the same benchmark. Run
// it on real KVM with
//
//	make guests && MMVM_GUESTS=$PWD/out/guest go test ./tests/ -run '^$' -bench Fork -benchtime 1x
//
// It reports ns per fork of each, mmvm / native, and mmvm's page faults
// per fork (the parent's copy-on-write faults after each fork included).
func BenchmarkFork(b *testing.B) {
	path := benchGuest(b, "forkbench-glibc")
	for _, mib := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("MiB=%d", mib), func(b *testing.B) {
			args := []string{strconv.Itoa(mib), strconv.Itoa(forkbenchRounds)}
			var native, mmvm float64
			var faults uint64
			for range b.N {
				native += nsPerFork(b, runNativeTimed(b, path, args), mib)
				out, st := runMachineTimed(b, path, args, uint64(mib+256)<<20)
				mmvm += nsPerFork(b, out, mib)
				faults += st.Faults
			}
			b.ReportMetric(mmvm/float64(b.N), "mmvm-ns/fork")
			b.ReportMetric(native/float64(b.N), "native-ns/fork")
			b.ReportMetric(mmvm/native, "x-mmvm/native")
			b.ReportMetric(float64(faults)/float64(b.N*forkbenchRounds), "mmvm-faults/fork")
		})
	}
}

// nsPerFork reads forkbench's line "MiB MiB: X ns/fork over N forks"; any
// other output fails.
func nsPerFork(tb testing.TB, out []byte, mib int) float64 {
	tb.Helper()
	var m, n int
	var ns float64
	line := strings.TrimSpace(string(out))
	if _, err := fmt.Sscanf(line, "%d MiB: %g ns/fork over %d forks", &m, &ns, &n); err != nil || m != mib || n != forkbenchRounds || ns <= 0 {
		tb.Fatalf("unexpected output %q (want \"%d MiB: X ns/fork over %d forks\")", line, mib, forkbenchRounds)
	}
	return ns
}

// runMachine runs the guest at path with args in a Machine of memory
// bytes, closed before it returns, and returns its stdout and figures; a
// nonzero status, a Close that finds a leak, or a page that changed while
// forks shared it (Config.CheckCopyOnWrite) fails. Unlike
// runMachineTimed it opens nothing of its own that outlives it, so that a
// test can count the host's descriptors.
func runMachine(t testing.TB, path string, args []string, memory uint64) ([]byte, machine.Stats) {
	t.Helper()
	var o, e bytes.Buffer
	m, err := machine.New(machine.Config{Memory: memory, Stdout: &o, Stderr: &e, StdioFDs: [3]int{-1, -1, -1}, CheckCopyOnWrite: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, err := range m.CopyOnWriteChanges() {
			t.Errorf("%s %v: %v", path, args, err)
		}
	}()
	if err := m.LoadProgram(path, append([]string{path}, args...), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if stop.Status() != 0 {
		t.Fatalf("in mmvm: %s %v: status %d (%v %s)\nstdout:\n%s\nstderr:\n%s", path, args, stop.Status(), stop.Kind, stop.Reason, o.Bytes(), e.Bytes())
	}
	return o.Bytes(), m.Stats()
}
