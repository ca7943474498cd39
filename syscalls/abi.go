package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Layouts of the Linux x86-64 structures the terminal calls copy between
// guest memory and the host. Each is written out field by field: a Go type
// from x/sys may carry more (unix.Termios is struct termios2, 44 bytes, with
// the two speed words that struct termios lacks), and copying its bytes
// would write past the guest's buffer. syscalls_abi_test.go checks every
// size against what the host kernel copies.
const (
	// termiosSize is sizeof(struct termios): c_iflag, c_oflag, c_cflag,
	// c_lflag (u32 each), c_line (u8) and c_cc[NCCS=19]; no padding.
	termiosSize = 36
	// winsizeSize is sizeof(struct winsize): ws_row, ws_col, ws_xpixel,
	// ws_ypixel (u16 each).
	winsizeSize = 8
	// timespecSize is sizeof(struct timespec) and of struct timeval:
	// two 64-bit words (seconds, then nanoseconds or microseconds).
	timespecSize = 16
)

// encodeTermios lays t out as struct termios.
func encodeTermios(t *unix.Termios) [termiosSize]byte {
	var b [termiosSize]byte
	le := binary.LittleEndian
	le.PutUint32(b[0:], t.Iflag)
	le.PutUint32(b[4:], t.Oflag)
	le.PutUint32(b[8:], t.Cflag)
	le.PutUint32(b[12:], t.Lflag)
	b[16] = t.Line
	copy(b[17:], t.Cc[:])
	return b
}

// decodeTermios reads struct termios into t's first fields; the speed
// words TCSETS does not carry are left as they are (the kernel derives the
// speeds from c_cflag's baud bits).
func decodeTermios(b *[termiosSize]byte, t *unix.Termios) {
	le := binary.LittleEndian
	t.Iflag = le.Uint32(b[0:])
	t.Oflag = le.Uint32(b[4:])
	t.Cflag = le.Uint32(b[8:])
	t.Lflag = le.Uint32(b[12:])
	t.Line = b[16]
	copy(t.Cc[:], b[17:])
}

// encodeWinsize lays w out as struct winsize.
func encodeWinsize(w *unix.Winsize) [winsizeSize]byte {
	var b [winsizeSize]byte
	le := binary.LittleEndian
	le.PutUint16(b[0:], w.Row)
	le.PutUint16(b[2:], w.Col)
	le.PutUint16(b[4:], w.Xpixel)
	le.PutUint16(b[6:], w.Ypixel)
	return b
}
