package syscalls

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPreadv2MatchesHost compares preadv2's checks and its flags with the
// host's on each kind of file the guest reads: a memfd, a pipe, an
// eventfd, an epoll instance, devices, /proc files and a directory.
func TestPreadv2MatchesHost(t *testing.T) {
	w := newMemfdTwin(t)
	w.set(0x20, []byte("m\x00"))
	w.open("m", "memfd_create", unix.SYS_MEMFD_CREATE, buf(0x20), num(0))
	w.set(pwData, []byte("0123456789abcdefghijklmnopqrstuv"))
	w.call("fill the memfd", unix.SYS_WRITE, fdArg("m"), buf(pwData), num(32))
	w.pipe("p", unix.O_NONBLOCK)
	w.open("ev", "eventfd2", unix.SYS_EVENTFD2, num(0), num(unix.EFD_NONBLOCK))
	w.open("ep", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	for i, name := range []string{"/dev/null", "/dev/zero", "/dev/urandom", "/proc/meminfo", "/proc/self/status", "/proc/sys/vm/overcommit_memory", "/"} {
		off := 0x40 + 0x40*i
		w.set(off, append([]byte(name), 0))
		w.open(name, "open "+name, unix.SYS_OPENAT, num(atFDCWD), buf(off), num(unix.O_RDONLY))
	}
	// Reads land at 0, which call compares; the iovec array is at pwIOV.
	w.iovecs([2]uint64{0, 8}, [2]uint64{8, 0})
	preadv2 := func(what, name string, iovcnt, pos, flags uint64) {
		t.Helper()
		w.set(0, make([]byte, 16))
		w.call(what, unix.SYS_PREADV2, fdArg(name), buf(pwIOV), num(iovcnt), num(pos), num(0), num(flags))
	}
	// refill puts a byte in the pipe and 1 in the eventfd, so that the
	// next read of either has something to read (a read that fails
	// leaves them, which the next read takes).
	refill := func() {
		t.Helper()
		w.set(0x30, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		w.call("refill the pipe", unix.SYS_WRITE, fdArg("pw"), buf(0x30), num(1))
		w.call("refill the eventfd", unix.SYS_WRITE, fdArg("ev"), buf(0x30), num(8))
	}
	const atPos = 1<<64 - 1
	flags := []uint64{0, unix.RWF_HIPRI, unix.RWF_DSYNC, unix.RWF_SYNC, unix.RWF_NOWAIT, unix.RWF_APPEND, unix.RWF_NOAPPEND,
		unix.RWF_APPEND | unix.RWF_NOAPPEND, rwfAtomic, rwfDontcache, rwfNosignal, 0x200, 1 << 40}
	for _, name := range []string{"m", "pr", "ev", "ep", "/dev/null", "/dev/zero", "/dev/urandom", "/proc/meminfo", "/proc/self/status", "/proc/sys/vm/overcommit_memory", "/"} {
		for _, fl := range flags {
			pos := uint64(2)
			if name == "pr" || name == "ev" || name == "ep" {
				refill()
				pos = atPos
			}
			differ := name == "/dev/urandom" || strings.HasPrefix(name, "/proc/")
			if differ {
				w.iovecs([2]uint64{0x100, 8}) // bytes that differ, past the compared part
			}
			preadv2(fmt.Sprintf("%s flags %#x", name, fl), name, 1, pos, fl)
			if differ {
				w.iovecs([2]uint64{0, 8}, [2]uint64{8, 0})
			}
		}
	}
	// The checks before the flags, in their order.
	preadv2("offset -2", "m", 1, 1<<64-2, 0x200)
	w.call("closed fd", unix.SYS_PREADV2, num(uint64(w.closedFD())), buf(pwIOV), num(1), num(0), num(0), num(0x200))
	preadv2("a pipe at an offset", "pr", 1, 0, 0x200)
	preadv2("a pipe's write end", "pw", 1, atPos, 0x200)
	preadv2("an epoll instance, no iovecs", "ep", 0, atPos, 0)
	preadv2("1025 iovecs", "m", 1025, 0, 0x200)
	w.call("iovecs unmapped", unix.SYS_PREADV2, fdArg("m"), faultAddr{}, num(1), num(0), num(0), num(0x200))
	preadv2("nothing to read", "m", 0, 0, 0x200)
	preadv2("two iovecs, the second empty", "m", 2, 0, 0x200)
	preadv2("offset plus length past a loff_t", "m", 1, 1<<63-3, 0x200)
	preadv2("an empty pipe, RWF_NOWAIT", "pr", 1, atPos, unix.RWF_NOWAIT)
	preadv2("an eventfd at 0, RWF_NOWAIT", "ev", 1, atPos, unix.RWF_NOWAIT)
}
