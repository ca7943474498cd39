package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
)

// The benchmarks of guest threads: each runs a guest program that times
// itself (guest/firsttouch.c, guest/shootbench.c) natively and inside mmvm
// in the same benchmark and reports both figures and their ratios. Run
// them on real KVM with
//
//	make guests && MMVM_GUESTS=$PWD/out/guest go test ./tests/ -run '^$' -bench 'FirstTouchThreads|Shootdown' -benchtime 1x
//
// Under QEMU's emulated KVM (`make test-kvm`'s kinds; one CPU) the figures
// are counts, not speeds: two threads cannot be faster than one there.

// firstTouchMiB is how much memory BenchmarkFirstTouchThreads touches with
// one thread, then again with two.
const firstTouchMiB = 256

// firstTouchMemory is the Machine's memory for it: one touch's pages (the
// first touch's mapping is unmapped before the second) and room for the
// program, its page tables and the threads' stacks.
const firstTouchMemory = (firstTouchMiB + 128) << 20

// BenchmarkFirstTouchThreads runs guest/firsttouch.c (firsttouch-glibc
// 256 --bench): 256 MiB of fresh memory touched by one thread, then by
// two, each after an untimed touch, natively and inside mmvm. It reports
// ns per page of each and the ratios 2 threads / 1 thread (below 1 where
// two threads are faster; natively on one CPU it shows what is left of the
// order's effect) and mmvm / native.
func BenchmarkFirstTouchThreads(b *testing.B) {
	path := benchGuest(b, "firsttouch-glibc")
	args := []string{strconv.Itoa(firstTouchMiB), "--bench"}
	var native, mmvm map[int]float64
	for range b.N {
		out := runNativeTimed(b, path, args)
		native = addPerThreads(b, native, out, "page")
		out, st := runMachineTimed(b, path, args, firstTouchMemory)
		mmvm = addPerThreads(b, mmvm, out, "page")
		b.Logf("mmvm: %d vCPUs, %d faults, %d pages mapped, %v", st.VCPUs, st.Faults, st.PagesMapped, st.Platform)
	}
	for _, n := range []int{1, 2} {
		native[n] /= float64(b.N)
		mmvm[n] /= float64(b.N)
		b.ReportMetric(mmvm[n], fmt.Sprintf("mmvm-%dt-ns/page", n))
		b.ReportMetric(native[n], fmt.Sprintf("native-%dt-ns/page", n))
		b.ReportMetric(mmvm[n]/native[n], fmt.Sprintf("x-mmvm/native-%dt", n))
	}
	b.ReportMetric(mmvm[2]/mmvm[1], "x-2t/1t-mmvm")
	b.ReportMetric(native[2]/native[1], "x-2t/1t-native")
}

// shootbenchPairs is how many narrowing pairs BenchmarkShootdown times at
// each thread count.
const shootbenchPairs = 1000

// BenchmarkShootdown runs guest/shootbench.c (shootbench-glibc): with N-1
// threads spinning in user mode, the main thread times mprotect PROT_READ,
// mprotect PROT_READ|PROT_WRITE and a write to one page, each pair one
// narrowing change and so one TLB shootdown of every other vCPU. Each N
// runs as `shootbench K 1 N`, so that its baseline (no other thread) is
// measured in the same program; it reports ns per pair natively and inside
// mmvm, the ratio to N=1 of each, mmvm / native, and mmvm's shootdowns
// and vCPUs kicked per pair.
func BenchmarkShootdown(b *testing.B) {
	path := benchGuest(b, "shootbench-glibc")
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			args := []string{strconv.Itoa(shootbenchPairs), "1"}
			if n > 1 {
				args = append(args, strconv.Itoa(n))
			}
			var native, mmvm map[int]float64
			var shootdowns, kicks uint64
			for range b.N {
				out := runNativeTimed(b, path, args)
				native = addPerThreads(b, native, out, "pair")
				out, st := runMachineTimed(b, path, args, 256<<20)
				mmvm = addPerThreads(b, mmvm, out, "pair")
				shootdowns += st.Shootdowns
				kicks += st.ShootdownKicks
			}
			pairs := float64(b.N * shootbenchPairs)
			b.ReportMetric(mmvm[n]/float64(b.N), "mmvm-ns/pair")
			b.ReportMetric(native[n]/float64(b.N), "native-ns/pair")
			b.ReportMetric(mmvm[n]/mmvm[1], "x-N1-mmvm")
			b.ReportMetric(native[n]/native[1], "x-N1-native")
			b.ReportMetric(mmvm[n]/native[n], "x-mmvm/native")
			b.ReportMetric(float64(shootdowns)/pairs, "shootdowns/pair")
			b.ReportMetric(float64(kicks)/pairs, "kicks/pair")
		})
	}
}

// shootbenchCheckPairs is how many pairs TestShootdownCounted makes.
const shootbenchCheckPairs = 100

// TestShootdownCounted runs guest/shootbench.c with one spinning thread
// (shootbench 100 2 --check) natively and inside mmvm: the output must
// match (every pair made, no word of the page or the spinner's page lost),
// and mmvm must have shot down the spinner's vCPU at least once a pair
// and kicked it out of guest mode: the change happens while it spins.
func TestShootdownCounted(t *testing.T) {
	dir := guestDir(t)
	args := []string{strconv.Itoa(shootbenchCheckPairs), "2", "--check"}
	for _, name := range []string{"shootbench-musl", "shootbench-glibc"} {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			want := fmt.Sprintf("2 thread(s): %d pairs, pages right\n", shootbenchCheckPairs)
			nOut, _, nStatus := runNative(t, path, args)
			if nStatus != 0 || string(nOut) != want {
				t.Fatalf("natively: status %d, stdout %q; want 0, %q", nStatus, nOut, want)
			}
			out, st := runMachineTimed(t, path, args, 256<<20)
			if string(out) != want {
				t.Errorf("in mmvm: stdout %q, want %q", out, want)
			}
			t.Logf("%d vCPUs, %d shootdowns, %d kicks", st.VCPUs, st.Shootdowns, st.ShootdownKicks)
			if st.VCPUs != 2 || st.Shootdowns < shootbenchCheckPairs || st.ShootdownKicks == 0 {
				t.Errorf("in mmvm: %d vCPUs, %d shootdowns, %d kicks; want 2 vCPUs, at least %d shootdowns (one a pair), some kicks",
					st.VCPUs, st.Shootdowns, st.ShootdownKicks, shootbenchCheckPairs)
			}
		})
	}
}

// benchGuest returns the path of guest program name, which a benchmark
// needs: without it the benchmark fails, saying what builds it.
func benchGuest(tb testing.TB, name string) string {
	tb.Helper()
	kvmtest.Open(tb)
	dir := os.Getenv("MMVM_GUESTS")
	if dir == "" {
		tb.Fatal("MMVM_GUESTS is not set: make guests, then MMVM_GUESTS=$PWD/out/guest go test -bench ...")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("guest program missing: %v (make guests builds it; %s needs glibc's libc.a)", err, name)
	}
	return path
}

// runNativeTimed runs a guest program that times itself on the host
// kernel and returns its stdout; any exit status but 0 fails.
func runNativeTimed(tb testing.TB, path string, args []string) []byte {
	tb.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = []string{}
	if err := cmd.Run(); err != nil {
		tb.Fatalf("natively: %s %v: %v\nstdout:\n%s\nstderr:\n%s", path, args, err, o.Bytes(), e.Bytes())
	}
	return o.Bytes()
}

// runMachineTimed runs a guest program in a fresh Machine with memory
// bytes of guest memory and returns its stdout and the run's Stats; any
// exit status but 0, or a Close that finds a leak, fails.
func runMachineTimed(tb testing.TB, path string, args []string, memory uint64) ([]byte, machine.Stats) {
	tb.Helper()
	kvmtest.Open(tb)
	return runMachine(tb, path, args, memory)
}

// addPerThreads adds to sum (made when nil) the "N thread(s): X ns/UNIT"
// lines of out, by N; a line of another shape fails.
func addPerThreads(tb testing.TB, sum map[int]float64, out []byte, unit string) map[int]float64 {
	tb.Helper()
	if sum == nil {
		sum = map[int]float64{}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var n int
		var ns float64
		var u string
		if _, err := fmt.Sscanf(line, "%d thread(s): %g ns/%s", &n, &ns, &u); err != nil || u != unit || ns <= 0 {
			tb.Fatalf("unexpected line %q (want \"N thread(s): X ns/%s ...\")", line, unit)
		}
		sum[n] += ns
	}
	return sum
}
