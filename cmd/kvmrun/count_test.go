package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestTestCounter(t *testing.T) {
	out := "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n" +
		"    --- PASS: TestB/x (0.00s)\n    --- SKIP: TestB/y (0.00s)\n--- FAIL: TestB (0.01s)\r\n" +
		"--- SKIP: TestC (0.00s)\nPASS\n--- PASS: TestD (0.00s)"
	var sink bytes.Buffer
	c := newTestCounter(&sink)
	// Written in small pieces, as a pipe delivers it.
	for i := 0; i < len(out); i += 7 {
		c.Write([]byte(out[i:min(i+7, len(out))]))
	}
	c.Flush()
	if sink.String() != out {
		t.Errorf("output not passed through unchanged")
	}
	if c.pass != 3 || c.fail != 1 || c.skip != 2 {
		t.Errorf("counts pass %d fail %d skip %d, want 3 1 2", c.pass, c.fail, c.skip)
	}
	if strings.Join(c.failed, ",") != "TestB" || strings.Join(c.skipped, ",") != "TestB/y,TestC" {
		t.Errorf("failed %v skipped %v", c.failed, c.skipped)
	}
}

// Benchmarks' result lines are counted; their names alone, their logs and
// a failed benchmark's line are not results.
func TestTestCounterBenchmarks(t *testing.T) {
	out := "goos: linux\nBenchmarkShootdown\nBenchmarkShootdown/N=1\n" +
		"BenchmarkShootdown/N=1-2         \t       1\t1234567 ns/op\t  1.000 x-N1-mmvm\n" +
		"BenchmarkFirstTouchThreads-2   \t       1\t 99 ns/op\t 812.5 mmvm-1t-ns/page\n" +
		"--- BENCH: BenchmarkFirstTouchThreads-2\n    threadbench_test.go:51: mmvm: 2 vCPUs\n" +
		"--- FAIL: BenchmarkBroken\nBenchmarkBroken\nPASS\n"
	c := newTestCounter(io.Discard)
	c.Write([]byte(out))
	c.Flush()
	if c.bench != 2 || c.fail != 1 || c.pass != 0 {
		t.Errorf("benchmarks %d, fail %d, pass %d; want 2, 1, 0", c.bench, c.fail, c.pass)
	}
	if got := verdict("test", []testBinary{{pkg: "p"}}, []int{0}, &testCounter{bench: 2}); got != 0 {
		t.Errorf("benchmarks only: verdict = %d, want 0", got)
	}
}

func TestVerdict(t *testing.T) {
	bins := []testBinary{{pkg: "p"}}
	for _, tc := range []struct {
		name             string
		st               []int
		pass, fail, skip int
		want             int
	}{
		{"all pass", []int{0}, 3, 0, 0, 0},
		{"a skip fails", []int{0}, 3, 0, 1, 1},
		{"a failure", []int{1}, 2, 1, 0, 1},
		{"binary crashed", []int{2}, 3, 0, 0, 1},
		{"never finished", []int{-1}, 0, 0, 0, 1},
		{"nothing ran", []int{0}, 0, 0, 0, 1},
	} {
		c := &testCounter{pass: tc.pass, fail: tc.fail, skip: tc.skip}
		if got := verdict("test", bins, tc.st, c); got != tc.want {
			t.Errorf("%s: verdict = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// A binary that dies leaves the test it was running unfinished and its
// panic in the excerpt; tests that finished, subtests included, do not stay.
func TestTestCounterCrash(t *testing.T) {
	out := "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n=== RUN   TestB/x\n" +
		"    --- PASS: TestB/x (0.00s)\n=== RUN   TestB/y\n"
	// Go's runtime writes the panic to standard error.
	errOut := "some log line\npanic: runtime error: index out of range [3] with length 3\n\ngoroutine 7 [running]:\nmain.f()\n"
	c := newTestCounter(io.Discard)
	c.Write([]byte(out))
	c.Stderr(io.Discard).Write([]byte(errOut))
	c.Flush()
	if got := strings.Join(c.unfinished, ","); got != "TestB,TestB/y" {
		t.Errorf("unfinished %q, want TestB,TestB/y", got)
	}
	if len(c.crash) != 4 || c.crash[0] != "panic: runtime error: index out of range [3] with length 3" || c.crash[3] != "main.f()" {
		t.Errorf("crash excerpt %q", c.crash)
	}
}

// TestLinePrefixer checks that two writers sharing an output interleave
// only whole lines, each with its own prefix, and that a last line with no
// newline comes out at Flush.
func TestLinePrefixer(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	a, b := newLinePrefixer(&mu, &out, "a| "), newLinePrefixer(&mu, &out, "b| ")
	a.Write([]byte("one\ntw"))
	b.Write([]byte("x"))
	a.Write([]byte("o\n"))
	b.Write([]byte("y\nz"))
	a.Flush()
	b.Flush()
	if want := "a| one\na| two\nb| xy\nb| z\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestKindGroups checks that /dev/kvm runs alone and first, and the QEMU
// kinds together after it.
func TestKindGroups(t *testing.T) {
	host := kvmKind{name: "/dev/kvm"}
	g := kindGroups(append([]kvmKind{host}, qemuKinds...))
	if len(g) != 2 || len(g[0]) != 1 || g[0][0].cpu != "" || len(g[1]) != len(qemuKinds) {
		t.Errorf("groups %v", g)
	}
	if g := kindGroups(qemuKinds[:1]); len(g) != 1 || len(g[0]) != 1 {
		t.Errorf("one QEMU kind: groups %v", g)
	}
}
