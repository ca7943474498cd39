package syscalls

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// sockpair makes a socketpair of typ on both sides, named name+"0" and
// name+"1".
func (w *twin) sockpair(name string, typ uint64) {
	w.t.Helper()
	if r := sc(w.p, unix.SYS_SOCKETPAIR, unix.AF_UNIX, typ, 0, base+0x100); r != 0 {
		w.t.Fatalf("socketpair: %d", r)
	}
	h, err := unix.Socketpair(unix.AF_UNIX, int(typ), 0)
	if err != nil {
		w.t.Fatal(err)
	}
	b := w.mem.mem[0x100:]
	w.fds[name+"0"] = [2]int{int(binary.LittleEndian.Uint32(b)), h[0]}
	w.fds[name+"1"] = [2]int{int(binary.LittleEndian.Uint32(b[4:])), h[1]}
}

// msghdr writes a struct msghdr at off on both sides: one iovec (at
// off+56) of iovLen bytes at iovOff, and a control buffer of ctlLen bytes
// at ctlOff (ctlOff < 0: none).
func (w *twin) msghdr(off, iovOff int, iovLen uint64, ctlOff int, ctlLen uint64) {
	put := func(b []byte, addr func(int) uint64) {
		clear(b[off : off+72])
		binary.LittleEndian.PutUint64(b[off+16:], addr(off+56))
		binary.LittleEndian.PutUint64(b[off+24:], 1)
		if ctlOff >= 0 {
			binary.LittleEndian.PutUint64(b[off+32:], addr(ctlOff))
		}
		binary.LittleEndian.PutUint64(b[off+40:], ctlLen)
		binary.LittleEndian.PutUint64(b[off+56:], addr(iovOff))
		binary.LittleEndian.PutUint64(b[off+64:], iovLen)
	}
	put(w.guestBuf(), func(o int) uint64 { g, _ := buf(o).values(w); return g })
	put(w.host, func(o int) uint64 { _, h := buf(o).values(w); return h })
}

// cmsg writes a control message header at off on both sides.
func (w *twin) cmsg(off int, clen uint64, level, typ int32) {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, clen)
	binary.LittleEndian.PutUint32(b[8:], uint32(level))
	binary.LittleEndian.PutUint32(b[12:], uint32(typ))
	w.set(off, b)
}

// sameMsghdr requires the fields recvmsg writes back (msg_namelen,
// msg_controllen, msg_flags) to match.
func (w *twin) sameMsghdr(what string, off int) {
	w.t.Helper()
	w.same(what+": msg_namelen", off+8, 4)
	w.same(what+": msg_controllen", off+40, 8)
	w.same(what+": msg_flags", off+48, 4)
}

func TestSocketMatchesHost(t *testing.T) {
	w := newTwin(t)
	i32 := func(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

	w.open("bad", "socket inet6", unix.SYS_SOCKET, num(unix.AF_INET6+100), num(unix.SOCK_STREAM), num(0))
	w.open("bad", "socket bad flags", unix.SYS_SOCKET, num(unix.AF_UNIX), num(unix.SOCK_STREAM|0x100), num(0))
	w.open("bad", "socket seqpacket protocol 2", unix.SYS_SOCKET, num(unix.AF_UNIX), num(unix.SOCK_SEQPACKET), num(2))
	w.open("bad", "socket type 10", unix.SYS_SOCKET, num(unix.AF_UNIX), num(10), num(0))
	w.open("bad", "socket type 11", unix.SYS_SOCKET, num(unix.AF_UNIX), num(11), num(0))
	w.call("socketpair into a fault", unix.SYS_SOCKETPAIR, num(unix.AF_UNIX), num(unix.SOCK_STREAM), num(0), faultAddr{})

	w.sockpair("d", unix.SOCK_DGRAM|unix.SOCK_NONBLOCK)
	w.call("F_GETFL", unix.SYS_FCNTL, fdArg("d0"), num(unix.F_GETFL))
	w.set(0, []byte("abcdefgh"))
	w.call("send 8", unix.SYS_SENDTO, fdArg("d0"), buf(0), num(8), num(0), num(0), num(0))
	w.call("FIONREAD", unix.SYS_IOCTL, fdArg("d1"), num(unix.SIOCINQ), buf(0x20))
	// recvmsg into 3 bytes: MSG_TRUNC, no control written.
	w.msghdr(0x80, 0x10, 3, -1, 0)
	w.call("recvmsg short", unix.SYS_RECVMSG, fdArg("d1"), buf(0x80), num(0))
	w.sameMsghdr("recvmsg short", 0x80)
	w.call("recvmsg empty", unix.SYS_RECVMSG, fdArg("d1"), buf(0x80), num(0))

	// sendmsg's control buffer: each bad length, then a skipped level.
	w.msghdr(0x80, 0, 4, 0x100, 8)
	w.call("controllen under a header", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.msghdr(0x80, 0, 4, 0x100, 32)
	w.cmsg(0x100, 8, unix.SOL_SOCKET, unix.SCM_RIGHTS)
	w.call("cmsg_len under a header", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.cmsg(0x100, 40, unix.SOL_SOCKET, unix.SCM_RIGHTS)
	w.call("cmsg_len past the buffer", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.cmsg(0x100, 16, unix.SOL_IP, 77)
	w.call("another level", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.cmsg(0x100, 18, unix.SOL_SOCKET, unix.SCM_CREDENTIALS)
	w.call("short SCM_CREDENTIALS", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.cmsg(0x100, 16, unix.SOL_SOCKET, 99)
	w.call("unknown type", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.msghdr(0x80, 0, 4, 0x100, 1<<40)
	w.call("controllen past optmem", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.msghdr(0x80, 0, 4, 0x100, 2048)
	w.call("controllen 2048 of zeros", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
	w.call("recv it", unix.SYS_RECVFROM, fdArg("d1"), buf(0x20), num(16), num(0), num(0), num(0))

	// SCM_RIGHTS into control buffers of every size around one fd's:
	// the header and flags written back match (the fd numbers differ).
	for _, ctl := range []uint64{0, 15, 16, 17, 19, 20, 23, 24, 32} {
		w.msghdr(0x80, 0, 4, 0x100, 24)
		w.cmsg(0x100, 20, unix.SOL_SOCKET, unix.SCM_RIGHTS)
		g, h := fdArg("d0").values(w)
		binary.LittleEndian.PutUint32(w.guestBuf()[0x110:], uint32(g))
		binary.LittleEndian.PutUint32(w.host[0x110:], uint32(h))
		w.call("send an fd", unix.SYS_SENDMSG, fdArg("d0"), buf(0x80), num(0))
		w.set(0x100, make([]byte, 32))
		w.msghdr(0x80, 0x10, 8, 0x100, ctl)
		what := fmt.Sprintf("recvmsg control %d", ctl)
		n := w.call(what, unix.SYS_RECVMSG, fdArg("d1"), buf(0x80), num(unix.MSG_CMSG_CLOEXEC))
		w.sameMsghdr(what, 0x80)
		w.same(what+": cmsghdr", 0x100, 16)
		if n >= 0 && ctl >= 20 {
			// Close the fd received on each side.
			gfd := binary.LittleEndian.Uint32(w.guestBuf()[0x110:])
			hfd := binary.LittleEndian.Uint32(w.host[0x110:])
			sc(w.p, unix.SYS_CLOSE, uint64(gfd))
			unix.Close(int(hfd))
		}
	}

	// getsockopt's lengths and setsockopt's checks.
	for _, l := range []int32{-1, 0, 1, 4, 100} {
		w.set(0x20, append(i32(0x7f7f7f7f), i32(l)...))
		w.call(fmt.Sprintf("SO_TYPE len %d", l), unix.SYS_GETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_TYPE), buf(0x20), buf(0x24))
	}
	// The pids differ (the guest's is its own): the ucred lies past what
	// call compares.
	w.set(0x180, make([]byte, 16))
	w.set(0x30, i32(100))
	w.call("SO_PEERCRED len 100", unix.SYS_GETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_PEERCRED), buf(0x180), buf(0x30))
	w.same("uid and gid", 0x184, 12)
	w.set(0x20, append(make([]byte, 16), i32(16)...))
	w.call("SO_RCVTIMEO unset", unix.SYS_GETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_RCVTIMEO), buf(0x20), buf(0x30))
	tv := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 1), 999999)
	w.set(0x20, tv)
	w.call("SO_RCVTIMEO set", unix.SYS_SETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_RCVTIMEO), buf(0x20), num(16))
	w.call("SO_RCVTIMEO get", unix.SYS_GETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_RCVTIMEO), buf(0x20), buf(0x30))
	w.call("SO_RCVTIMEO 15 bytes", unix.SYS_SETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_RCVTIMEO), buf(0x20), num(15))
	w.set(0x20, i32(1<<30))
	w.call("SO_SNDBUF huge", unix.SYS_SETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_SNDBUF), buf(0x20), num(4))
	w.set(0x20, append(make([]byte, 4), i32(4)...))
	w.call("SO_SNDBUF get", unix.SYS_GETSOCKOPT, fdArg("d1"), num(unix.SOL_SOCKET), num(unix.SO_SNDBUF), buf(0x20), buf(0x24))
	w.call("SO_PASSCRED from a fault", unix.SYS_SETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_PASSCRED), faultAddr{}, num(4))
	w.call("SO_PASSCRED len 3", unix.SYS_SETSOCKOPT, fdArg("d0"), num(unix.SOL_SOCKET), num(unix.SO_PASSCRED), buf(0x20), num(3))
	w.call("SOL_TCP", unix.SYS_GETSOCKOPT, fdArg("d0"), num(unix.SOL_TCP), num(1), buf(0x20), buf(0x24))

	// Names: a unique abstract one, then the lengths getsockname reports.
	name := fmt.Sprintf("\x00mmvm-socket-test-%d", os.Getpid())
	w.set(0x40, append([]byte{unix.AF_UNIX, 0}, name...))
	w.open("l", "socket", unix.SYS_SOCKET, num(unix.AF_UNIX), num(unix.SOCK_STREAM|unix.SOCK_NONBLOCK), num(0))
	g, h := fdArg("l").values(w)
	if r := sc(w.p, unix.SYS_BIND, g, base+twinBufOff+0x40, uint64(2+len(name))); r != 0 {
		t.Fatalf("bind: %d", r)
	}
	// The host's name must differ from nothing else on the host; mmvm's
	// namespace is its own.
	if err := unix.Bind(int(h), &unix.SockaddrUnix{Name: "@" + name[1:]}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []int32{0, 2, 5, 128} {
		w.set(0x20, i32(l))
		w.set(0x100, make([]byte, 128))
		w.call(fmt.Sprintf("getsockname len %d", l), unix.SYS_GETSOCKNAME, fdArg("l"), buf(0x100), buf(0x20))
		w.same("the name", 0x100, 128)
	}
	w.call("getpeername", unix.SYS_GETPEERNAME, fdArg("l"), buf(0x100), buf(0x20))
	w.call("listen", unix.SYS_LISTEN, fdArg("l"), num(0))
	w.call("accept nothing", unix.SYS_ACCEPT4, fdArg("l"), num(0), num(0), num(unix.SOCK_NONBLOCK))
}

// TestSocketRightsHoldFiles checks that an fd in flight keeps its file
// open, and that dropping the message (closing the socket that holds it)
// closes it: the pipe's reader then sees end of file.
func TestSocketRightsHoldFiles(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	if r := sc(p, unix.SYS_PIPE2, base+0x100, unix.O_NONBLOCK); r != 0 {
		t.Fatalf("pipe2 = %d", r)
	}
	rfd, wfd := binary.LittleEndian.Uint32(mem.mem[0x100:]), binary.LittleEndian.Uint32(mem.mem[0x104:])
	if r := sc(p, unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_DGRAM, 0, base+0x108); r != 0 {
		t.Fatalf("socketpair = %d", r)
	}
	s0, s1 := binary.LittleEndian.Uint32(mem.mem[0x108:]), binary.LittleEndian.Uint32(mem.mem[0x10c:])
	// msghdr at 0x200, iovec at 0x240 (4 bytes at 0x300), control at 0x280.
	m := mem.mem[0x200:]
	clear(m[:0x100])
	binary.LittleEndian.PutUint64(m[16:], base+0x240)
	binary.LittleEndian.PutUint64(m[24:], 1)
	binary.LittleEndian.PutUint64(m[32:], base+0x280)
	binary.LittleEndian.PutUint64(m[40:], 24)
	binary.LittleEndian.PutUint64(m[0x40:], base+0x300)
	binary.LittleEndian.PutUint64(m[0x48:], 4)
	binary.LittleEndian.PutUint64(m[0x80:], 20)
	binary.LittleEndian.PutUint32(m[0x88:], unix.SOL_SOCKET)
	binary.LittleEndian.PutUint32(m[0x8c:], unix.SCM_RIGHTS)
	binary.LittleEndian.PutUint32(m[0x90:], wfd)
	if r := sc(p, unix.SYS_SENDMSG, uint64(s0), base+0x200, 0); r != 4 {
		t.Fatalf("sendmsg = %d", r)
	}
	sc(p, unix.SYS_CLOSE, uint64(wfd))
	if r := sc(p, unix.SYS_READ, uint64(rfd), base+0x400, 1); r != -int64(unix.EAGAIN) {
		t.Fatalf("read with the write end in flight = %d, want EAGAIN", r)
	}
	sc(p, unix.SYS_CLOSE, uint64(s1))
	if r := sc(p, unix.SYS_READ, uint64(rfd), base+0x400, 1); r != 0 {
		t.Fatalf("read once the message is dropped = %d, want 0 (end of file)", r)
	}
	sc(p, unix.SYS_CLOSE, uint64(s0))
}

// TestSocketNamesGo checks that a closed socket's abstract name is free
// again and that its path stays as a node no socket is bound to.
func TestSocketNamesGo(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	addr := append([]byte{unix.AF_UNIX, 0, 0}, "name"...)
	copy(mem.mem[0x100:], addr)
	bindNew := func() (uint64, int64) {
		fd := sc(p, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM, 0)
		if fd < 0 {
			t.Fatalf("socket = %d", fd)
		}
		return uint64(fd), sc(p, unix.SYS_BIND, uint64(fd), base+0x100, uint64(len(addr)))
	}
	a, r := bindNew()
	if r != 0 {
		t.Fatalf("bind = %d", r)
	}
	b, r := bindNew()
	if r != -int64(unix.EADDRINUSE) {
		t.Fatalf("second bind = %d, want EADDRINUSE", r)
	}
	sc(p, unix.SYS_CLOSE, a)
	if r := sc(p, unix.SYS_BIND, b, base+0x100, uint64(len(addr))); r != 0 {
		t.Fatalf("bind after the first closed = %d", r)
	}
	if n := len(p.sockNamespace().names); n != 1 {
		t.Fatalf("%d abstract names, want 1", n)
	}
	sc(p, unix.SYS_CLOSE, b)
	if n := len(p.sockNamespace().names); n != 0 {
		t.Fatalf("%d abstract names after every close, want 0", n)
	}
}

// TestSocketWildArguments makes socket calls with wild arguments on
// nonblocking sockets of every kind and memory full of plausible
// pointers and lengths: each must end with a result or an errno, never a
// panic or a wait.
func TestSocketWildArguments(t *testing.T) {
	calls := []uint64{unix.SYS_BIND, unix.SYS_LISTEN, unix.SYS_CONNECT, unix.SYS_ACCEPT4,
		unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME, unix.SYS_SENDTO, unix.SYS_RECVFROM,
		unix.SYS_SENDMSG, unix.SYS_RECVMSG, unix.SYS_SENDMMSG, unix.SYS_RECVMMSG,
		unix.SYS_SHUTDOWN, unix.SYS_GETSOCKOPT, unix.SYS_SETSOCKOPT, unix.SYS_READ,
		unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_IOCTL}
	for seed := uint64(1); seed <= 4; seed++ {
		p, mem, _ := newTestProcess(t)
		rng := seed * 0x9e3779b97f4a7c15
		next := func() uint64 {
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			return rng
		}
		var fds []uint64
		for _, typ := range []uint64{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
			if r := sc(p, unix.SYS_SOCKETPAIR, unix.AF_UNIX, typ|unix.SOCK_NONBLOCK, 0, base); r != 0 {
				t.Fatalf("socketpair: %d", r)
			}
			fds = append(fds, uint64(binary.LittleEndian.Uint32(mem.mem)), uint64(binary.LittleEndian.Uint32(mem.mem[4:])))
			fds = append(fds, uint64(sc(p, unix.SYS_SOCKET, unix.AF_UNIX, typ|unix.SOCK_NONBLOCK, 0)))
		}
		word := func() uint64 {
			switch next() % 6 {
			case 0:
				return next() % 64
			case 1:
				return base + next()%uint64(len(mem.mem))
			case 2:
				return fds[next()%uint64(len(fds))]
			case 3:
				return next()
			case 4:
				return 16 + next()%32
			}
			return ^uint64(0) - next()%4
		}
		for i := range 20000 {
			if i%500 == 0 {
				for off := 0; off+8 <= len(mem.mem); off += 8 {
					binary.LittleEndian.PutUint64(mem.mem[off:], word())
				}
				// A sockaddr_un or two among them.
				copy(mem.mem[next()%0x8000:], []byte{unix.AF_UNIX, 0, 0, 'w', 'i', 'l', 'd'})
			}
			nr := calls[next()%uint64(len(calls))]
			a := [6]uint64{fds[next()%uint64(len(fds))], word(), word(), word(), word(), word()}
			if (nr == unix.SYS_SENDMSG || nr == unix.SYS_RECVMSG) && next()%2 == 0 {
				// A msghdr that holds together: one iovec, a name, and
				// control messages of wild lengths and fds.
				m := mem.mem[0x100:]
				binary.LittleEndian.PutUint64(m[0:], base+0x400)
				binary.LittleEndian.PutUint32(m[8:], uint32(next()%120))
				binary.LittleEndian.PutUint64(m[16:], base+0x200)
				binary.LittleEndian.PutUint64(m[24:], 1)
				binary.LittleEndian.PutUint64(m[32:], base+0x300)
				binary.LittleEndian.PutUint64(m[40:], next()%200)
				binary.LittleEndian.PutUint64(mem.mem[0x200:], base+0x600)
				binary.LittleEndian.PutUint64(mem.mem[0x208:], next()%300)
				for off := 0x300; off < 0x3c0; off += 4 {
					// Stdio's fds, mostly: a socket sent into its own
					// queue would stay (mmvm collects no cycles).
					binary.LittleEndian.PutUint32(mem.mem[off:], uint32(next()%4))
				}
				for c := 0x300; c < 0x3a0; c += 8 * (2 + int(next()%4)) {
					binary.LittleEndian.PutUint64(mem.mem[c:], 16+next()%24)
					binary.LittleEndian.PutUint32(mem.mem[c+8:], unix.SOL_SOCKET)
					binary.LittleEndian.PutUint32(mem.mem[c+12:], uint32(1+next()%2))
				}
				copy(mem.mem[0x400:], []byte{unix.AF_UNIX, 0, 0, 'w', 'i', 'l', 'd'})
				a[1], a[2] = base+0x100, next()%2*unix.MSG_PEEK|unix.MSG_CMSG_CLOEXEC*(next()%2)
			}
			if nr == unix.SYS_SETSOCKOPT && next()%2 == 0 {
				a[1], a[2], a[3], a[4] = unix.SOL_SOCKET, next()%70, base+next()%64, next()%24
			}
			if nr == unix.SYS_GETSOCKOPT && next()%2 == 0 {
				binary.LittleEndian.PutUint32(mem.mem[0x80:], uint32(next()%40))
				a[1], a[2], a[3], a[4] = unix.SOL_SOCKET, next()%70, base+0x40, base+0x80
			}
			if (nr == unix.SYS_BIND || nr == unix.SYS_CONNECT) && next()%2 == 0 {
				name := []byte{unix.AF_UNIX, 0, 0, byte('a' + next()%3)}
				copy(mem.mem[0x40:], name)
				a[1], a[2] = base+0x40, uint64(len(name))-next()%3
			}
			if nr == unix.SYS_LISTEN || nr == unix.SYS_SHUTDOWN {
				a[1] = next() % 4
			}
			switch nr {
			case unix.SYS_SENDTO, unix.SYS_RECVFROM, unix.SYS_READ, unix.SYS_WRITE:
				if next()%2 == 0 {
					a[1], a[2] = base+0x800, next()%128
				}
			}
			if nr == unix.SYS_SETSOCKOPT && a[2] == unix.SO_RCVTIMEO {
				a[2] = unix.SO_PASSCRED
			}
			p.Syscall(nr, a)
		}
		// Close everything: messages in flight, fds passed, names.
		for fd := uint64(0); fd < 256; fd++ {
			sc(p, unix.SYS_CLOSE, fd)
		}
	}
}
