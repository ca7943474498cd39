package main

import (
	"errors"
	"io"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvmhost"
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
	veof := func() byte {
		if tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err == nil {
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
