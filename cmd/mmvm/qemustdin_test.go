package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTerminalStdin checks the terminal the program's stdin is inside QEMU
// when the outer mmvm's is one: it is a terminal, in canonical mode it
// reads the channel's lines, an unterminated last line, then the end of
// the input, and what it echoes goes nowhere the program reads.
func TestTerminalStdin(t *testing.T) {
	slave, stop, err := terminalStdin(strings.NewReader("first line\nno newline"))
	if err != nil {
		t.Fatalf("terminalStdin: %v", err)
	}
	defer stop()
	defer slave.Close()
	if _, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil {
		t.Fatalf("stdin is no terminal: TCGETS: %v", err)
	}
	type read struct {
		s   string
		err error
	}
	reads := make(chan read, 4)
	go func() {
		buf := make([]byte, 100)
		for {
			n, err := slave.Read(buf)
			reads <- read{string(buf[:n]), err}
			if n == 0 || err != nil {
				return
			}
		}
	}()
	for _, want := range []read{{"first line\n", nil}, {"no newline", nil}, {"", io.EOF}} {
		select {
		case got := <-reads:
			if got.s != want.s || (got.err == nil) != (want.err == nil) {
				t.Errorf("read %q, %v; want %q, %v", got.s, got.err, want.s, want.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no read; want %q", want.s)
		}
	}
}
