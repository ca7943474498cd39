package syscalls

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// twin makes the same calls in mmvm and on the host and requires the same
// results, errnos and buffer contents: the host kernel is the oracle. Fds
// are named, since the numbers differ; a buffer is bufSize bytes at the
// same offset on both sides whose first twinCompared bytes are compared
// after every call (beyond them lie what differs by nature: iovecs and
// pollfds, which hold host addresses and fds).
type twin struct {
	t    *testing.T
	p    *Process
	mem  *flatMemory
	host []byte
	fds  map[string][2]int // name → {mmvm fd, host fd}
}

const (
	twinBufOff = 0x1000 // the guest buffer's offset in flatMemory
	bufSize    = 512
	// twinCompared is how much of the buffers call compares.
	twinCompared = 0x40
)

func newTwin(t *testing.T) *twin {
	p, mem, _ := newTestProcess(t)
	w := &twin{t: t, p: p, mem: mem, host: hostMem(bufSize), fds: map[string][2]int{}}
	t.Cleanup(func() {
		for _, fd := range w.fds {
			unix.Close(fd[1])
		}
	})
	return w
}

// An argument of a twin call.
type twinArg interface {
	values(w *twin) (guest, host uint64)
}

// fdArg is a named fd.
type fdArg string

func (a fdArg) values(w *twin) (uint64, uint64) {
	fd, ok := w.fds[string(a)]
	if !ok {
		w.t.Fatalf("no fd %q", a)
	}
	return uint64(fd[0]), uint64(fd[1])
}

// num is the same number on both sides.
type num uint64

func (a num) values(*twin) (uint64, uint64) { return uint64(a), uint64(a) }

// buf is the address of offset off in the twin buffers.
type buf int

func (a buf) values(w *twin) (uint64, uint64) {
	return uint64(base + twinBufOff + int(a)), uint64(hostAddr(w.host[a:]))
}

// faultAddr is an address that faults on both sides.
type faultAddr struct{}

func (faultAddr) values(w *twin) (uint64, uint64) { return 0x1000, uint64(guardPage(w.t)) }

// set writes b at offset off of both buffers.
func (w *twin) set(off int, b []byte) {
	copy(w.mem.mem[twinBufOff+off:], b)
	copy(w.host[off:], b)
}

// guestBuf is the guest's twin buffer.
func (w *twin) guestBuf() []byte { return w.mem.mem[twinBufOff : twinBufOff+bufSize] }

// call makes syscall nr on both sides, requires the same result and
// buffers, and returns the result.
func (w *twin) call(what string, nr uintptr, args ...twinArg) int64 {
	w.t.Helper()
	var g [6]uint64
	var h [6]uintptr
	for i, a := range args {
		gv, hv := a.values(w)
		g[i], h[i] = gv, uintptr(hv)
	}
	gr := int64(w.p.Syscall(uint64(nr), g))
	hr := hostRet(nr, h[:]...)
	if gr != hr {
		w.t.Errorf("%s: mmvm %d, the host %d", what, gr, hr)
	}
	w.same(what, 0, twinCompared)
	return gr
}

// same requires the same bytes at off in both buffers.
func (w *twin) same(what string, off, n int) {
	w.t.Helper()
	g, h := w.guestBuf()[off:off+n], w.host[off:off+n]
	if !bytes.Equal(g, h) {
		w.t.Errorf("%s: buffers differ at %#x:\nmmvm %x\nhost %x", what, off, g, h)
		copy(h, g) // report each difference once
	}
}

// open makes a call that returns an fd on both sides and names it.
func (w *twin) open(name, what string, nr uintptr, args ...twinArg) {
	w.t.Helper()
	var g [6]uint64
	var h [6]uintptr
	for i, a := range args {
		gv, hv := a.values(w)
		g[i], h[i] = gv, uintptr(hv)
	}
	gr := int64(w.p.Syscall(uint64(nr), g))
	hr := hostRet(nr, h[:]...)
	if (gr < 0 || hr < 0) && gr != hr {
		w.t.Fatalf("%s: mmvm %d, the host %d", what, gr, hr)
	}
	if gr >= 0 {
		w.fds[name] = [2]int{int(gr), int(hr)}
	}
}

// pipe makes a pipe on both sides, named name+"r" and name+"w".
func (w *twin) pipe(name string, flags uint64) {
	w.t.Helper()
	if r := sc(w.p, unix.SYS_PIPE2, base+0x100, flags); r != 0 {
		w.t.Fatalf("pipe2: %d", r)
	}
	var h [2]int
	if err := unix.Pipe2(h[:], int(flags)); err != nil {
		w.t.Fatal(err)
	}
	b := w.mem.mem[0x100:]
	w.fds[name+"r"] = [2]int{int(b[0]) | int(b[1])<<8, h[0]}
	w.fds[name+"w"] = [2]int{int(b[4]) | int(b[5])<<8, h[1]}
}

// close closes a named fd on both sides.
func (w *twin) close(name string) {
	w.t.Helper()
	w.call("close "+name, unix.SYS_CLOSE, fdArg(name))
	delete(w.fds, name)
}
