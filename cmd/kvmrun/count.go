package main

import (
	"bytes"
	"io"
	"strings"
)

// testCounter passes `go test -v` output through and counts the tests'
// results: every "--- PASS/FAIL/SKIP: Name" line, subtests included.
type testCounter struct {
	w                io.Writer
	partial          []byte
	pass, fail, skip int
	failed, skipped  []string
}

func newTestCounter(w io.Writer) *testCounter { return &testCounter{w: w} }

func (c *testCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.line(string(c.partial[:i]))
		c.partial = c.partial[i+1:]
	}
	return n, err
}

// Flush counts a last line that had no newline.
func (c *testCounter) Flush() {
	if len(c.partial) > 0 {
		c.line(string(c.partial))
		c.partial = nil
	}
}

func (c *testCounter) line(l string) {
	l = strings.TrimRight(strings.TrimLeft(l, " \t"), "\r")
	for _, r := range []struct {
		prefix string
		count  *int
		names  *[]string
	}{{"--- PASS: ", &c.pass, nil}, {"--- FAIL: ", &c.fail, &c.failed}, {"--- SKIP: ", &c.skip, &c.skipped}} {
		if rest, ok := strings.CutPrefix(l, r.prefix); ok {
			*r.count++
			if r.names != nil {
				name, _, _ := strings.Cut(rest, " ")
				*r.names = append(*r.names, name)
			}
		}
	}
}
