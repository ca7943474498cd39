package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvmhost"
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

// stepReader returns its reads in order, then io.EOF; each waits for a
// tick of next, so that the terminal has taken the one before.
type stepReader struct {
	steps []struct {
		s   string
		err error
	}
	next chan struct{}
}

func (r *stepReader) Read(p []byte) (int, error) {
	<-r.next
	if len(r.steps) == 0 {
		return 0, io.EOF
	}
	step := r.steps[0]
	r.steps = r.steps[1:]
	return copy(p, step.s), step.err
}

// The outer terminal's end of file (kvmhost.ErrTerminalEOF) is one on the
// inner terminal: a read at a line's start returns nothing, a partial
// line is sent on, and reads go on after it, as natively.
func TestTerminalStdinEOFIsOneTime(t *testing.T) {
	in := &stepReader{steps: []struct {
		s   string
		err error
	}{{"first\n", nil}, {"", kvmhost.ErrTerminalEOF}, {"part", kvmhost.ErrTerminalEOF}, {"more\n", nil}}, next: make(chan struct{})}
	slave, stop, err := terminalStdin(in)
	if err != nil {
		t.Fatalf("terminalStdin: %v", err)
	}
	defer stop()
	defer slave.Close()
	buf := make([]byte, 100)
	for _, want := range []string{"first\n", "", "part", "more\n", ""} {
		select {
		case in.next <- struct{}{}:
		case <-time.After(5 * time.Second):
			t.Fatalf("the terminal stopped reading its input before %q", want)
		}
		n, _ := slave.Read(buf)
		if string(buf[:n]) != want {
			t.Errorf("read %q, want %q", buf[:n], want)
		}
	}
}

// terminalInput reports the end of file a terminal's reader sees, and a
// partial line the user's VEOF sent on, as kvmhost.ErrTerminalEOF, and
// reads on after it.
func TestTerminalInput(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	in := terminalInput{slave}
	buf := make([]byte, 100)
	for _, tc := range []struct {
		typed, want string
		err         error
	}{
		{"line\n", "line\n", nil},
		{"\x04", "", kvmhost.ErrTerminalEOF},
		{"part\x04", "part", kvmhost.ErrTerminalEOF},
		{"again\n", "again\n", nil},
	} {
		master.Write([]byte(tc.typed))
		n, err := in.Read(buf)
		if string(buf[:n]) != tc.want || err != tc.err {
			t.Errorf("typed %q: read %q, %v; want %q, %v", tc.typed, buf[:n], err, tc.want, tc.err)
		}
	}
}

// --qemu-tty carries what terminals() writes: each listed name, with the
// terminal the program is to see where one is given.
func TestParseQEMUTTY(t *testing.T) {
	got, err := parseQEMUTTY("stdin=/dev/pts/3:136:3:620:5:ctty,stdout")
	if err != nil {
		t.Fatal(err)
	}
	in, ok := got["stdin"]
	if !ok || in == nil || in.Path != "/dev/pts/3" || in.Rdev != unix.Mkdev(136, 3) || in.Mode != 0o620 || in.Gid != 5 || !in.Controlling {
		t.Errorf("stdin: %+v", in)
	}
	if out, ok := got["stdout"]; !ok || out != nil {
		t.Errorf("stdout: %+v, %v; want listed with no terminal", out, ok)
	}
	if _, ok := got["stderr"]; ok {
		t.Errorf("stderr listed")
	}
}
