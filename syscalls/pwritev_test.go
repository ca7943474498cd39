package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// The pwritev tests' twin buffer: the bytes written at pwData, the iovec
// array at pwIOV (whose addresses differ on the two sides), what pread64
// reads back at 0 (compared by call).
const (
	pwData = 0x100
	pwIOV  = 0x180
)

// iovecs writes an iovec array at pwIOV on both sides: each piece is
// {offset in the buffer, length}.
func (w *twin) iovecs(pieces ...[2]uint64) {
	for i, pc := range pieces {
		g, h := buf(int(pc[0])).values(w)
		binary.LittleEndian.PutUint64(w.guestBuf()[pwIOV+16*i:], g)
		binary.LittleEndian.PutUint64(w.guestBuf()[pwIOV+16*i+8:], pc[1])
		binary.LittleEndian.PutUint64(w.host[pwIOV+16*i:], h)
		binary.LittleEndian.PutUint64(w.host[pwIOV+16*i+8:], pc[1])
	}
}

// newMemfdTwin is a twin whose mmvm side makes memfds.
func newMemfdTwin(t *testing.T) *twin {
	w := newTwin(t)
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "pwritev-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	w.p.cfg.NewSharedFile = func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) }
	return w
}

func TestPwritevMatchesHost(t *testing.T) {
	w := newMemfdTwin(t)
	w.set(0x20, []byte("m\x00"))
	w.open("m", "memfd_create", unix.SYS_MEMFD_CREATE, buf(0x20), num(0))
	w.open("a", "memfd_create", unix.SYS_MEMFD_CREATE, buf(0x20), num(0))
	w.pipe("p", unix.O_NONBLOCK)
	w.set(pwData, []byte("0123456789abcdefghijklmnopqrstuv"))
	// contents reads the memfd back into the compared part of the buffers.
	contents := func(what, name string) {
		w.t.Helper()
		w.set(0, make([]byte, 0x20))
		w.call(what+": contents", unix.SYS_PREAD64, fdArg(name), buf(0), num(0x20), num(0))
		w.call(what+": position", unix.SYS_LSEEK, fdArg(name), num(0), num(unix.SEEK_CUR))
	}
	pwritev := func(what, name string, iovcnt, pos uint64) {
		w.t.Helper()
		w.call(what, unix.SYS_PWRITEV, fdArg(name), buf(pwIOV), num(iovcnt), num(pos), num(0))
	}
	pwritev2 := func(what, name string, iovcnt, pos, flags uint64) {
		w.t.Helper()
		w.call(what, unix.SYS_PWRITEV2, fdArg(name), buf(pwIOV), num(iovcnt), num(pos), num(0), num(flags))
	}

	w.iovecs([2]uint64{pwData, 4}, [2]uint64{pwData + 10, 3}, [2]uint64{pwData, 0})
	pwritev("pwritev at 5", "m", 3, 5)
	contents("pwritev at 5", "m")
	pwritev("pwritev at 0", "m", 2, 0)
	contents("pwritev at 0", "m")
	pwritev("negative offset", "m", 2, 1<<63)
	pwritev("on a pipe", "pw", 2, 0)
	pwritev("on a pipe, negative offset", "pw", 2, 1<<63)
	w.call("on a closed fd", unix.SYS_PWRITEV, num(uint64(w.closedFD())), buf(pwIOV), num(2), num(0), num(0))
	pwritev("1025 iovecs", "m", 1025, 0)
	w.call("iovecs unmapped", unix.SYS_PWRITEV, fdArg("m"), faultAddr{}, num(2), num(0), num(0))
	pwritev("no iovecs", "m", 0, 0)
	pwritev("offset plus length past a loff_t", "m", 2, 1<<63-3)
	contents("after the errors", "m")

	// pwritev2: offset -1 is the file position, which moves.
	pwritev2("pwritev2 at -1", "m", 2, 1<<64-1, 0)
	pwritev2("pwritev2 at -1 again", "m", 2, 1<<64-1, unix.RWF_HIPRI)
	contents("pwritev2 at -1", "m")
	pwritev2("pwritev2 at -2", "m", 2, 1<<64-2, 0)
	pwritev2("an unknown flag", "m", 2, 0, 1<<20)
	pwritev2("an unknown flag, nothing to write", "m", 3, 0, 1<<20)
	pwritev2("an unknown flag in the upper half", "m", 2, 0, 1<<40)
	pwritev2("RWF_NOWAIT on a memfd", "m", 2, 0, unix.RWF_NOWAIT)
	pwritev2("RWF_NOWAIT on a memfd at -1", "m", 2, 1<<64-1, unix.RWF_NOWAIT)
	pwritev2("RWF_DSYNC|RWF_SYNC", "m", 2, 2, unix.RWF_DSYNC|unix.RWF_SYNC)
	contents("flags", "m")
	pwritev2("RWF_APPEND at 0", "m", 1, 0, unix.RWF_APPEND)
	contents("RWF_APPEND at 0", "m")
	pwritev2("RWF_APPEND at -1", "m", 1, 1<<64-1, unix.RWF_APPEND)
	contents("RWF_APPEND at -1", "m")

	// O_APPEND: pwrite and pwritev append whatever the offset, unless
	// RWF_NOAPPEND (RWF_APPEND winning over it).
	w.call("write", unix.SYS_WRITE, fdArg("a"), buf(pwData), num(10))
	w.call("O_APPEND", unix.SYS_FCNTL, fdArg("a"), num(unix.F_SETFL), num(unix.O_APPEND))
	w.call("pwrite64 O_APPEND at 0", unix.SYS_PWRITE64, fdArg("a"), buf(pwData+20), num(2), num(0))
	pwritev("pwritev O_APPEND at 0", "a", 1, 0)
	pwritev2("pwritev2 O_APPEND, RWF_NOAPPEND at 1", "a", 1, 1, unix.RWF_NOAPPEND)
	pwritev2("pwritev2 O_APPEND, RWF_NOAPPEND at -1", "a", 1, 1<<64-1, unix.RWF_NOAPPEND)
	pwritev2("pwritev2 RWF_APPEND|RWF_NOAPPEND at 0", "a", 1, 0, unix.RWF_APPEND|unix.RWF_NOAPPEND)
	contents("O_APPEND", "a")

	// A pipe: -1 only; RWF_NOWAIT is taken.
	pwritev2("pwritev2 on a pipe at -1", "pw", 2, 1<<64-1, 0)
	pwritev2("pwritev2 on a pipe at 0", "pw", 2, 0, 0)
	pwritev2("pwritev2 on a pipe, RWF_NOWAIT", "pw", 2, 1<<64-1, unix.RWF_NOWAIT)
	pwritev2("pwritev2 on a pipe's read end", "pr", 2, 1<<64-1, unix.RWF_NOWAIT)
	w.take("pr", 0x40)
	// RWF_NOSIGNAL (Linux 6.18): EPIPE with no SIGPIPE.
	w.close("pr")
	pwritev2("pwritev2 RWF_NOSIGNAL, no reader", "pw", 2, 1<<64-1, rwfNosignal)
	if sig, _, ok := w.p.Signaled(); ok {
		t.Errorf("a write with RWF_NOSIGNAL and no reader: the program was killed by %v", sig)
	}
	pwritev2("pwritev2, no reader", "pw", 2, 1<<64-1, 0)
	if sig, _, ok := w.p.Signaled(); !ok || sig != unix.SIGPIPE {
		t.Errorf("a write with no reader: killed %v by %v, want SIGPIPE", ok, sig)
	}
}
