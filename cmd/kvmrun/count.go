package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// testCounter passes `go test -v` output through and counts the tests'
// results: every "--- PASS/FAIL/SKIP: Name" line, subtests included, and
// every benchmark's result line (a benchmark that fails or skips says so
// in a "--- FAIL/SKIP:" line, counted with the tests'). It also
// keeps what explains a test binary that died: the tests that started and
// never reported a result, and the first lines of a Go panic or fatal error.
type testCounter struct {
	// mu serializes the standard output and standard error writers, which
	// exec and kvmhost feed from goroutines of their own.
	mu               sync.Mutex
	w                io.Writer
	partial          []byte
	pass, fail, skip int
	bench            int // benchmarks that printed a result
	failed, skipped  []string
	// unfinished holds the tests with a "=== RUN" line and no result yet,
	// in the order they started.
	unfinished []string
	// crash holds up to crashLines lines from the first "panic:" or
	// "fatal error:" line on.
	crash []string
}

// crashLines bounds the crash excerpt: enough for the message and the
// failing goroutine's top frames.
const crashLines = 40

func newTestCounter(w io.Writer) *testCounter { return &testCounter{w: w} }

func (c *testCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.w.Write(p)
	c.partial = eachLine(c.partial, p, c.line)
	return n, err
}

// eachLine appends p to partial, calls f with every complete line in it
// (without its newline) and returns what is left of the last line.
func eachLine(partial, p []byte, f func(string)) []byte {
	partial = append(partial, p...)
	for {
		i := bytes.IndexByte(partial, '\n')
		if i < 0 {
			return partial
		}
		f(string(partial[:i]))
		partial = partial[i+1:]
	}
}

// Flush counts a last line that had no newline.
func (c *testCounter) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.line(string(c.partial))
		c.partial = nil
	}
}

func (c *testCounter) line(l string) {
	raw := strings.TrimRight(l, "\r")
	c.crashLine(raw)
	l = strings.TrimLeft(raw, " \t")
	if isBenchmarkResult(l) {
		c.bench++
		return
	}
	if name, ok := strings.CutPrefix(l, "=== RUN "); ok {
		c.unfinished = append(c.unfinished, strings.TrimSpace(name))
		return
	}
	for _, r := range []struct {
		prefix string
		count  *int
		names  *[]string
	}{{"--- PASS: ", &c.pass, nil}, {"--- FAIL: ", &c.fail, &c.failed}, {"--- SKIP: ", &c.skip, &c.skipped}} {
		if rest, ok := strings.CutPrefix(l, r.prefix); ok {
			*r.count++
			name, _, _ := strings.Cut(rest, " ")
			if r.names != nil {
				*r.names = append(*r.names, name)
			}
			c.finished(name)
		}
	}
}

// crashLine keeps raw in the crash excerpt if it starts one or continues
// one that is not yet full.
func (c *testCounter) crashLine(raw string) {
	if len(c.crash) > 0 && len(c.crash) < crashLines {
		c.crash = append(c.crash, raw)
	} else if len(c.crash) == 0 && (strings.HasPrefix(raw, "panic: ") || strings.HasPrefix(raw, "fatal error: ")) {
		c.crash = append(c.crash, raw)
	}
}

// Stderr returns a writer for the test binaries' standard error: it passes
// the text through to w and watches it for a crash (Go's runtime writes a
// panic there), counting nothing.
func (c *testCounter) Stderr(w io.Writer) io.Writer { return &crashWatcher{c: c, w: w} }

type crashWatcher struct {
	c       *testCounter
	w       io.Writer
	partial []byte
}

func (cw *crashWatcher) Write(p []byte) (int, error) {
	cw.c.mu.Lock()
	defer cw.c.mu.Unlock()
	n, err := cw.w.Write(p)
	cw.partial = eachLine(cw.partial, p, func(l string) { cw.c.crashLine(strings.TrimRight(l, "\r")) })
	return n, err
}

// finished takes a test that reported its result off the unfinished list.
func (c *testCounter) finished(name string) {
	for i := len(c.unfinished) - 1; i >= 0; i-- {
		if c.unfinished[i] == name {
			c.unfinished = append(c.unfinished[:i], c.unfinished[i+1:]...)
			return
		}
	}
}

// isBenchmarkResult reports whether l is a benchmark's result line: its
// name, its iterations and at least one "VALUE UNIT" pair, as
// "BenchmarkX-8   1   123 ns/op   4.5 x-ratio".
func isBenchmarkResult(l string) bool {
	f := strings.Fields(l)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return false
	}
	for _, c := range f[1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// linePrefixer writes each whole line it is given to w with prefix in
// front, under mu, so that the lines of kinds running at once interleave
// only whole.
type linePrefixer struct {
	mu      *sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func newLinePrefixer(mu *sync.Mutex, w io.Writer, prefix string) *linePrefixer {
	return &linePrefixer{mu: mu, w: w, prefix: prefix}
}

func (lp *linePrefixer) Write(p []byte) (int, error) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	var err error
	lp.partial = eachLine(lp.partial, p, func(l string) {
		if _, e := io.WriteString(lp.w, lp.prefix+l+"\n"); e != nil && err == nil {
			err = e
		}
	})
	return len(p), err
}

// Flush writes a last line that had no newline.
func (lp *linePrefixer) Flush() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if len(lp.partial) > 0 {
		io.WriteString(lp.w, lp.prefix+string(lp.partial)+"\n")
		lp.partial = nil
	}
}
