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

// Inside QEMU each outer terminal's settings are one pseudo-terminal's:
// stdin's for stdout on the same terminal, one of its own for stderr on
// another; each starts with the outer settings and size, and a change
// the program makes is sent out as a termios message the outer side
// reads back.
func TestQEMUStdioTerminals(t *testing.T) {
	var sent []string
	sendMessage = func(b []byte) error { sent = append(sent, string(b)); return nil }
	defer func() { sendMessage = kvmhost.SendMessage }()
	outer := unix.Termios{Iflag: unix.ICRNL, Oflag: unix.OPOST | unix.ONLCR, Cflag: unix.CS8 | unix.CREAD | unix.B38400,
		Lflag: unix.ICANON | unix.ECHO | unix.ISIG, Ispeed: unix.B38400, Ospeed: unix.B38400}
	outer.Cc[unix.VEOF], outer.Cc[unix.VMIN] = 4, 1
	f := &runFlags{qemuTTY: "stdin=/dev/pts/3:136:3:620:5:ctty,stdout=/dev/pts/3:136:3:620:5:ctty,stderr=/dev/pts/4:136:4:620:5",
		qemuWinsize: "30,100,0,0", qemuTermios: formatTermios(&outer)}
	q, err := newQEMUStdio(f, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if q.fds[0] < 0 || q.fds[1] != q.fds[0] || q.fds[2] < 0 || q.fds[2] == q.fds[0] {
		t.Fatalf("fds %v: want stdout on stdin's terminal, stderr on one of its own", q.fds)
	}
	for i, fd := range q.fds {
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil || tio.Lflag&(unix.ICANON|unix.ECHO) != unix.ICANON|unix.ECHO || tio.Oflag != outer.Oflag {
			t.Errorf("stdio %d: settings %+v, %v; want the outer ones", i, tio, err)
		}
		if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err != nil || ws.Row != 30 || ws.Col != 100 {
			t.Errorf("stdio %d: size %+v, %v; want 30x100", i, ws, err)
		}
	}
	raw := outer
	raw.Lflag &^= unix.ICANON | unix.ECHO
	if err := unix.IoctlSetTermios(q.fds[1], unix.TCSETS, &raw); err != nil {
		t.Fatal(err)
	}
	q.terminalSet(1)
	if len(sent) != 1 || !strings.HasPrefix(sent[0], "termios stdout ") {
		t.Fatalf("sent %q", sent)
	}
	got, err := parseTermios(strings.Fields(sent[0])[2])
	if err != nil || got.Lflag != raw.Lflag || got.Cc != raw.Cc {
		t.Errorf("the message's settings %+v, %v; want %+v", got, err, raw)
	}
}
