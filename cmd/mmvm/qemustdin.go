package main

import (
	"io"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Inside QEMU the program's stdin arrives on the stdin channel, a stream.
// Where the outer mmvm's stdin is a terminal (--qemu-tty names stdin), the
// program gets a terminal there too, as it would natively: the slave of a
// pseudo-terminal of the QEMU guest, whose master the channel's bytes are
// written into. The outer terminal has already echoed and edited what the
// user typed, so what the inner one echoes is dropped. At the channel's end
// the master writes the terminal's end-of-file character (VEOF), which a
// reader in canonical mode takes as the end of its input.

// terminalStdin starts feeding in into a new pseudo-terminal and returns
// its slave, which the caller closes after the run, and a stop function
// that closes the master.
func terminalStdin(in io.Reader) (slave *os.File, stop func(), err error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	go io.Copy(io.Discard, master) // the inner echo
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
			if rerr != nil {
				break
			}
		}
		veof := byte(4) // ^D, the default
		if tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err == nil {
			veof = tio.Cc[unix.VEOF]
		}
		eof := []byte{veof}
		if last != '\n' {
			// The first VEOF ends the unterminated line; the second
			// reads as the end of the input.
			eof = append(eof, veof)
		}
		master.Write(eof)
	}()
	return slave, func() { master.Close() }, nil
}
