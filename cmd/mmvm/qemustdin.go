package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvmhost"
	"github.com/mmvm/mmvm/syscalls"
)

// Inside QEMU the program's stdin arrives on the stdin channel, a stream.
// Where the outer mmvm's stdin is a terminal (--qemu-tty names stdin), the
// program gets a terminal there too, as it would natively: the slave of a
// pseudo-terminal of the QEMU guest, whose master the channel's bytes are
// written into. The outer terminal has already echoed and edited what the
// user typed, so what the inner one echoes is dropped. The outer
// terminal's end of file (the user's VEOF: a read that returns nothing, or
// a partial line) comes as kvmhost.ErrTerminalEOF, and the master writes
// the inner terminal's VEOF for it: a reader in canonical mode gets the
// partial line, or a read of 0 bytes at a line's start, and later reads
// go on, as on the outer terminal. At the channel's end the master writes
// VEOF too, which such a reader takes as the end of its input.

// terminalStdin starts feeding in into a new pseudo-terminal and returns
// its slave, which the caller closes after the run, and a stop function
// that closes the master.
func terminalStdin(in io.Reader) (slave *os.File, stop func(), err error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	go io.Copy(io.Discard, master) // the inner echo
	// The master's TCGETS answers the slave's settings. Its number is
	// taken now: the caller may close the slave, and stop the master,
	// while the feeder still runs (its writes then fail).
	mfd := int(master.Fd())
	veof := func() byte {
		if tio, err := unix.IoctlGetTermios(mfd, unix.TCGETS); err == nil {
			return tio.Cc[unix.VEOF]
		}
		return 4 // ^D, the default
	}
	go func() {
		buf := make([]byte, 4096)
		var last byte = '\n'
		for {
			n, rerr := in.Read(buf)
			if n > 0 {
				if _, err := master.Write(buf[:n]); err != nil {
					return
				}
				last = buf[n-1]
			}
			if errors.Is(rerr, kvmhost.ErrTerminalEOF) {
				if _, err := master.Write([]byte{veof()}); err != nil {
					return
				}
				last = '\n'
				continue
			}
			if rerr != nil {
				break
			}
		}
		eof := []byte{veof()}
		if last != '\n' {
			// The first VEOF ends the unterminated line; the second
			// reads as the end of the input.
			eof = append(eof, eof[0])
		}
		master.Write(eof)
	}()
	return slave, func() { master.Close() }, nil
}

// terminalInput reads a terminal (the outer mmvm's stdin) for the stdin
// channel: a read that returns nothing is the terminal's end of file, and
// in canonical mode one that returns a partial line (not ended by newline,
// VEOL or VEOL2) is one the user's VEOF sent on; both report
// kvmhost.ErrTerminalEOF, and reads go on after it.
type terminalInput struct{ f *os.File }

func (t terminalInput) Read(p []byte) (int, error) {
	n, err := t.f.Read(p)
	if err == io.EOF {
		return 0, kvmhost.ErrTerminalEOF
	}
	if n == 0 || err != nil {
		return n, err
	}
	tio, terr := unix.IoctlGetTermios(int(t.f.Fd()), unix.TCGETS)
	if terr != nil || tio.Lflag&unix.ICANON == 0 {
		return n, nil
	}
	switch c := p[n-1]; {
	case c == '\n', c != 0 && (c == tio.Cc[unix.VEOL] || c == tio.Cc[unix.VEOL2]):
		return n, nil
	}
	return n, kvmhost.ErrTerminalEOF
}

// qemuStdio is the program's stdio inside QEMU (--qemu-stdin): stdin the
// stdin channel, or a terminal fed from it (terminalStdin); stdout and
// stderr the QEMU guest's serial ports, which are terminals, shown as
// pipes where the outer mmvm's are none. Each outer terminal's settings
// are one pseudo-terminal's of the QEMU guest (stdin's where stdin is that
// terminal, else one of its own whose master is drained): the fds of the
// program's stdio on it answer the terminal calls there, it starts with
// the outer terminal's settings and size, and each change the program
// makes is sent to the outer mmvm, which makes it on its own terminal
// (terminalMessage), so that its input is read as the program asked.
type qemuStdio struct {
	stdin       io.Reader
	fds         [3]int
	terminals   [3]*syscalls.Terminal
	terminalSet func(i int)
	closers     []io.Closer
}

// sendMessage sends the outer mmvm a message (a variable for the tests).
var sendMessage = kvmhost.SendMessage

// stdioNames are --qemu-tty's names of stdin, stdout and stderr.
var stdioNames = [3]string{"stdin", "stdout", "stderr"}

func newQEMUStdio(f *runFlags, r io.Reader) (q *qemuStdio, err error) {
	q = &qemuStdio{stdin: r, fds: [3]int{-1, 1, 2}}
	defer func() {
		if err != nil {
			q.close()
		}
	}()
	ttys, _ := parseQEMUTTY(f.qemuTTY) // check has parsed them all
	ws, _ := parseWinsize(f.qemuWinsize)
	tio, _ := parseTermios(f.qemuTermios)
	for i, name := range stdioNames {
		term, ok := ttys[name]
		if !ok {
			if i > 0 {
				q.fds[i] = -1
			}
			continue
		}
		q.terminals[i] = term
		if same := q.sameTerminal(i); same >= 0 {
			q.fds[i] = q.fds[same]
			continue
		}
		if i == 0 {
			slave, stop, err := terminalStdin(r)
			if err != nil {
				return nil, fmt.Errorf("a terminal for stdin: %v", err)
			}
			q.closers = append(q.closers, closerFunc(stop), slave)
			q.stdin, q.fds[0] = slave, int(slave.Fd())
		} else {
			master, slave, err := pty.Open()
			if err != nil {
				return nil, fmt.Errorf("a terminal for %s: %v", name, err)
			}
			go io.Copy(io.Discard, master) // its echo, if any
			q.closers = append(q.closers, master, slave)
			q.fds[i] = int(slave.Fd())
		}
		if tio != nil {
			unix.IoctlSetTermios(q.fds[i], unix.TCSETS, tio)
		}
		if ws != nil {
			unix.IoctlSetWinsize(q.fds[i], unix.TIOCSWINSZ, ws)
		}
	}
	q.terminalSet = func(i int) {
		if t, err := unix.IoctlGetTermios(q.fds[i], unix.TCGETS); err == nil {
			sendMessage([]byte("termios " + stdioNames[i] + " " + formatTermios(t)))
		}
	}
	return q, nil
}

// sameTerminal is the lower stdio index whose outer terminal stdio i's
// is, or -1.
func (q *qemuStdio) sameTerminal(i int) int {
	for j := range i {
		if a, b := q.terminals[j], q.terminals[i]; a != nil && b != nil && a.Rdev == b.Rdev {
			return j
		}
	}
	return -1
}

func (q *qemuStdio) close() {
	for _, c := range slices.Backward(q.closers) {
		c.Close()
	}
}

type closerFunc func()

func (c closerFunc) Close() error { c(); return nil }

// formatTermios writes t as hex of its fields in order (x/sys's layout,
// without padding); parseTermios reads it back, nil for "".
func formatTermios(t *unix.Termios) string {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, t)
	return hex.EncodeToString(b.Bytes())
}

func parseTermios(s string) (*unix.Termios, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var t unix.Termios
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// terminalMessage is the outer mmvm's side of the inner one's
// terminalSet: "termios NAME HEX" sets the settings of this process's
// stdio NAME, where that is a terminal, as the program set them inside.
func terminalMessage(msg []byte) {
	f := strings.Fields(string(msg))
	if len(f) != 3 || f[0] != "termios" {
		return
	}
	i := slices.Index(stdioNames[:], f[1])
	t, err := parseTermios(f[2])
	if i < 0 || err != nil || t == nil {
		return
	}
	if _, err := unix.IoctlGetTermios(i, unix.TCGETS); err == nil {
		unix.IoctlSetTermios(i, unix.TCSETS, t)
	}
}
