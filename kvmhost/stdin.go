package kvmhost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The stdin channel carries Spec.Stdin to a command in the guest. A serial
// port has no end of file, so the bytes travel in frames on the third
// serial port (StdinPort, fed from QEMU's own stdin): a 4-byte
// little-endian length, then that many bytes; a zero length is the end of
// the input, and terminalEOFFrame a terminal's end of file, after which
// more input may come (ErrTerminalEOF). A UART drops what arrives before its port is opened, so the
// host sends nothing until the command, having opened the port in raw mode
// (OpenStdin), writes the "stdin" marker on the console.

// StdinPort is the guest's end of the stdin channel.
const StdinPort = "/dev/ttyS2"

// maxFrame bounds one frame's payload.
const maxFrame = 4096

// terminalEOFFrame is the length that marks a terminal's end of file.
const terminalEOFFrame = 0xffffffff

// ErrTerminalEOF is a terminal's end of file: what a read of a terminal
// returns when the user types the end-of-file character (VEOF) at the
// start of a line, or after a partial line, which it sends on at once.
// Unlike a pipe's end, reads go on after it and may return more. A
// Spec.Stdin that returns it (with or without bytes) has it carried
// through the channel and is read on; the reader OpenStdin returns
// returns it in turn.
var ErrTerminalEOF = errors.New("kvmhost: the terminal's end of file")

// writeFrames copies r to w as frames, ending with the zero-length frame
// after r's end of file; each ErrTerminalEOF goes as its frame, and the
// copy goes on. It returns the first error of either side.
func writeFrames(w io.Writer, r io.Reader) error {
	buf := make([]byte, 4+maxFrame)
	for {
		n, rerr := r.Read(buf[4:])
		if n > 0 {
			binary.LittleEndian.PutUint32(buf, uint32(n))
			if _, err := w.Write(buf[:4+n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			binary.LittleEndian.PutUint32(buf, 0)
			_, err := w.Write(buf[:4])
			return err
		}
		if errors.Is(rerr, ErrTerminalEOF) {
			binary.LittleEndian.PutUint32(buf, terminalEOFFrame)
			if _, err := w.Write(buf[:4]); err != nil {
				return err
			}
			continue
		}
		if rerr != nil {
			return rerr
		}
	}
}

// frameReader reads the payloads of frames from r until the end frame,
// returning ErrTerminalEOF for each terminal's end of file.
type frameReader struct {
	r    io.Reader
	left uint32 // payload bytes of the current frame not yet read
	eof  bool
}

func (f *frameReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for f.left == 0 {
		if f.eof {
			return 0, io.EOF
		}
		var hdr [4]byte
		if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
			return 0, fmt.Errorf("kvmhost: reading the stdin channel: %w", err)
		}
		f.left = binary.LittleEndian.Uint32(hdr[:])
		if f.left == terminalEOFFrame {
			f.left = 0
			return 0, ErrTerminalEOF
		}
		if f.left == 0 {
			f.eof = true
		} else if f.left > maxFrame {
			return 0, fmt.Errorf("kvmhost: stdin channel frame of %d bytes (at most %d): the channel is out of step", f.left, maxFrame)
		}
	}
	n, err := f.r.Read(p[:min(uint32(len(p)), f.left)])
	f.left -= uint32(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Messages from the guest to the host travel the other way on the same
// port, as frames of the same form (QEMU writes them on its stdout).

// messageWriter takes the guest's message frames, as QEMU's stdout, and
// hands each whole message to deliver (nil: drops them).
type messageWriter struct {
	deliver func([]byte)
	buf     []byte
}

func (m *messageWriter) Write(p []byte) (int, error) {
	m.buf = append(m.buf, p...)
	for len(m.buf) >= 4 {
		n := binary.LittleEndian.Uint32(m.buf)
		if n > maxFrame {
			m.buf = m.buf[:0] // out of step: nothing after can be trusted
			break
		}
		if uint32(len(m.buf)-4) < n {
			break
		}
		if m.deliver != nil {
			m.deliver(append([]byte(nil), m.buf[4:4+n]...))
		}
		m.buf = m.buf[4+n:]
	}
	return len(p), nil
}

// messagePort is the guest's end of the channel SendMessage writes,
// opened at the first message.
var messagePort struct {
	sync.Mutex
	f   *os.File
	err error
}

// SendMessage is for a command running in the guest: it sends msg (at
// most 4096 bytes) to the host's Spec.Messages.
func SendMessage(msg []byte) error {
	if len(msg) > maxFrame {
		return fmt.Errorf("kvmhost: a message of %d bytes (at most %d)", len(msg), maxFrame)
	}
	messagePort.Lock()
	defer messagePort.Unlock()
	if messagePort.f == nil && messagePort.err == nil {
		messagePort.f, messagePort.err = openRaw(StdinPort, os.O_WRONLY)
	}
	if messagePort.err != nil {
		return messagePort.err
	}
	frame := binary.LittleEndian.AppendUint32(nil, uint32(len(msg)))
	_, err := messagePort.f.Write(append(frame, msg...))
	return err
}

// openRaw opens the serial port path in raw mode (so that bytes pass
// unchanged), with flag's access.
func openRaw(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("kvmhost: opening the stdin channel: %w", err)
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("kvmhost: the stdin channel %s is no terminal: %w", path, err)
	}
	makeRaw(t)
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("kvmhost: setting the stdin channel raw: %w", err)
	}
	return f, nil
}

// OpenStdin is for a command running in the guest: it opens the stdin
// channel in raw mode, tells the host (on stderr, the console) to start
// sending, and returns the host's Spec.Stdin as a reader that ends where
// it ends.
func OpenStdin() (io.Reader, error) {
	f, err := openRaw(StdinPort, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%s stdin\n", marker)
	return &frameReader{r: f}, nil
}

// makeRaw sets t as cfmakeraw(3) does: bytes pass unchanged, one at a
// time, with no echo, signals or flow control.
func makeRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
}
