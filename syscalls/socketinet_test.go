package syscalls

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// inetSys is where an inet scenario makes its calls: mmvm's Process or
// the host kernel, each with a buffer of inetBufSize bytes.
type inetSys interface {
	sys(nr uintptr, a ...uint64) int64
	addr(off int) uint64
	mem() []byte
}

const inetBufSize = 0x1000

type guestInet struct {
	p *Process
	m *flatMemory
}

func (g guestInet) sys(nr uintptr, a ...uint64) int64 { return sc(g.p, uint64(nr), a...) }
func (g guestInet) addr(off int) uint64               { return uint64(base + twinBufOff + off) }
func (g guestInet) mem() []byte                       { return g.m.mem[twinBufOff : twinBufOff+inetBufSize] }

type hostInet struct{ b []byte }

func (h hostInet) sys(nr uintptr, a ...uint64) int64 {
	u := make([]uintptr, len(a))
	for i, v := range a {
		u[i] = uintptr(v)
	}
	return hostRet(nr, u...)
}
func (h hostInet) addr(off int) uint64 { return uint64(hostAddr(h.b[off:])) }
func (h hostInet) mem() []byte         { return h.b }

// inetScript runs a scenario on one side and keeps its transcript: each
// call's result (an fd shows as "fd", an errno by name) and what it
// wrote that the scenario looks at. Ephemeral ports differ from run to
// run and show as "eph".
type inetScript struct {
	x   inetSys
	out []string
}

// Buffer layout: sockaddrs at 0x00 and 0x80, lengths and ints at 0x100,
// option values at 0x180, pollfds at 0x200, a msghdr at 0x300 (its
// iovec at 0x340, its name at 0x380), data at 0x400 and 0x800.
const (
	iaAddr  = 0x00
	iaAddr2 = 0x80
	iaLen   = 0x100
	iaOpt   = 0x180
	iaPoll  = 0x200
	iaMsg   = 0x300
	iaData  = 0x400
	iaData2 = 0x800
)

func (s *inetScript) log(format string, a ...any) { s.out = append(s.out, fmt.Sprintf(format, a...)) }

func resultText(r int64) string {
	if r < 0 {
		return unix.ErrnoName(unix.Errno(-r))
	}
	return fmt.Sprint(r)
}

// call makes a call and logs its result.
func (s *inetScript) call(what string, nr uintptr, a ...uint64) int64 {
	r := s.x.sys(nr, a...)
	s.log("%s: %s", what, resultText(r))
	return r
}

// fd makes a call that returns an fd and logs "fd" for one.
func (s *inetScript) fd(what string, nr uintptr, a ...uint64) uint64 {
	r := s.x.sys(nr, a...)
	if r >= 0 {
		s.log("%s: fd", what)
	} else {
		s.log("%s: %s", what, resultText(r))
	}
	return uint64(r)
}

func (s *inetScript) put32(off int, v uint32) { binary.LittleEndian.PutUint32(s.x.mem()[off:], v) }

// sin writes a sockaddr_in at off and returns its address.
func (s *inetScript) sin(off int, a string, port uint16) uint64 {
	b := s.x.mem()[off : off+16]
	clear(b)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	ip := netip.MustParseAddr(a).As4()
	copy(b[4:], ip[:])
	return s.x.addr(off)
}

// sin6 writes a sockaddr_in6 at off and returns its address.
func (s *inetScript) sin6(off int, a string, port uint16) uint64 {
	b := s.x.mem()[off : off+28]
	clear(b)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], port)
	ip := netip.MustParseAddr(a).As16()
	copy(b[8:], ip[:])
	return s.x.addr(off)
}

// addrText is a sockaddr's text, its port "eph" when ephemeral.
func addrText(b []byte) string {
	if len(b) < 2 {
		return fmt.Sprintf("len %d", len(b))
	}
	port := func() string {
		p := binary.BigEndian.Uint16(b[2:])
		if p >= ephemeralLow && p <= ephemeralHigh {
			return "eph"
		}
		return fmt.Sprint(p)
	}
	switch fam := binary.LittleEndian.Uint16(b); {
	case fam == unix.AF_INET && len(b) == 16:
		return fmt.Sprintf("%v:%s %x", netip.AddrFrom4([4]byte(b[4:8])), port(), b[8:])
	case fam == unix.AF_INET6 && len(b) == 28:
		return fmt.Sprintf("[%v]:%s %x %x", netip.AddrFrom16([16]byte(b[8:24])), port(), b[4:8], b[24:])
	}
	return fmt.Sprintf("%x", b)
}

// name calls getsockname (or getpeername) and logs the address.
func (s *inetScript) name(what string, nr uintptr, fd uint64) {
	s.put32(iaLen, 128)
	r := s.x.sys(nr, fd, s.x.addr(iaAddr2), s.x.addr(iaLen))
	if r < 0 {
		s.log("%s: %s", what, resultText(r))
		return
	}
	n := binary.LittleEndian.Uint32(s.x.mem()[iaLen:])
	s.log("%s: %s", what, addrText(s.x.mem()[iaAddr2:iaAddr2+int(n)]))
}

// getopt logs an int option (or its errno).
func (s *inetScript) getopt(what string, fd uint64, level, name int) {
	s.put32(iaLen, 4)
	s.put32(iaOpt, 0x7f7f7f7f)
	r := s.x.sys(unix.SYS_GETSOCKOPT, fd, uint64(level), uint64(name), s.x.addr(iaOpt), s.x.addr(iaLen))
	if r < 0 {
		s.log("%s: %s", what, resultText(r))
		return
	}
	s.log("%s: %d len %d", what, int32(binary.LittleEndian.Uint32(s.x.mem()[iaOpt:])), binary.LittleEndian.Uint32(s.x.mem()[iaLen:]))
}

func (s *inetScript) setopt(what string, fd uint64, level, name int, v int32, optlen uint64) {
	s.put32(iaOpt, uint32(v))
	s.call(what, unix.SYS_SETSOCKOPT, fd, uint64(level), uint64(name), s.x.addr(iaOpt), optlen)
}

// poll logs the events one fd has now.
func (s *inetScript) poll(what string, fd uint64) {
	b := s.x.mem()[iaPoll:]
	binary.LittleEndian.PutUint32(b, uint32(fd))
	binary.LittleEndian.PutUint32(b[4:], 0xffff)
	r := s.x.sys(unix.SYS_POLL, s.x.addr(iaPoll), 1, 0)
	s.log("%s: %s %#x", what, resultText(r), binary.LittleEndian.Uint16(b[6:]))
}

// send sends text with MSG_NOSIGNAL and flags.
func (s *inetScript) send(what string, fd uint64, text string, flags uint64) int64 {
	copy(s.x.mem()[iaData:], text)
	return s.call(what, unix.SYS_SENDTO, fd, s.x.addr(iaData), uint64(len(text)), flags|unix.MSG_NOSIGNAL, 0, 0)
}

// recv receives up to n bytes and logs them; from also logs the address.
func (s *inetScript) recv(what string, fd uint64, n int, flags uint64, from bool) int64 {
	clear(s.x.mem()[iaData2 : iaData2+n])
	var a, l uint64
	if from {
		s.put32(iaLen, 128)
		a, l = s.x.addr(iaAddr2), s.x.addr(iaLen)
	}
	r := s.x.sys(unix.SYS_RECVFROM, fd, s.x.addr(iaData2), uint64(n), flags, a, l)
	if r < 0 {
		s.log("%s: %s", what, resultText(r))
		return r
	}
	text := fmt.Sprintf("%s: %d %q", what, r, s.x.mem()[iaData2:iaData2+min(int(r), n)])
	if from {
		k := binary.LittleEndian.Uint32(s.x.mem()[iaLen:])
		text += " from " + addrText(s.x.mem()[iaAddr2:iaAddr2+int(min(k, 128))])
	}
	s.log("%s", text)
	return r
}

// recvmsg receives into an n-byte buffer and logs the flags and name.
func (s *inetScript) recvmsg(what string, fd uint64, n int, flags uint64) {
	m := s.x.mem()
	clear(m[iaMsg : iaMsg+0x100])
	le := binary.LittleEndian
	le.PutUint64(m[iaMsg:], s.x.addr(iaMsg+0x80))
	le.PutUint32(m[iaMsg+8:], 128)
	le.PutUint64(m[iaMsg+16:], s.x.addr(iaMsg+0x40))
	le.PutUint64(m[iaMsg+24:], 1)
	le.PutUint64(m[iaMsg+0x40:], s.x.addr(iaData2))
	le.PutUint64(m[iaMsg+0x48:], uint64(n))
	r := s.x.sys(unix.SYS_RECVMSG, fd, s.x.addr(iaMsg), flags)
	if r < 0 {
		s.log("%s: %s", what, resultText(r))
		return
	}
	nl := le.Uint32(m[iaMsg+8:])
	s.log("%s: %d %q flags %#x name %s", what, r, m[iaData2:iaData2+min(int(r), n)], le.Uint32(m[iaMsg+48:]),
		addrText(m[iaMsg+0x80:iaMsg+0x80+int(min(nl, 128))]))
}

func (s *inetScript) close(fd uint64) { s.x.sys(unix.SYS_CLOSE, fd) }

func (s *inetScript) socket(what string, family, typ int) uint64 {
	return s.fd(what, unix.SYS_SOCKET, uint64(family), uint64(typ), 0)
}

// inetScenario is what TestInetMatchesHost runs on both sides.
func inetScenario(s *inetScript) {
	const (
		stream = unix.SOCK_STREAM
		dgram  = unix.SOCK_DGRAM
		nb     = unix.SOCK_NONBLOCK
	)
	af, af6 := unix.AF_INET, unix.AF_INET6

	// socket's arguments.
	for _, c := range []struct {
		fam, typ, proto int
	}{
		{af, stream, 0}, {af, stream, unix.IPPROTO_TCP}, {af, stream, unix.IPPROTO_UDP}, {af, dgram, unix.IPPROTO_TCP},
		{af, dgram, unix.IPPROTO_UDP}, {af, unix.SOCK_SEQPACKET, 0}, {af, stream, -1}, {af, stream, 300},
		{af6, stream, 0}, {af6, dgram, 0}, {af6, unix.SOCK_SEQPACKET, 0}, {af6, stream, unix.IPPROTO_UDP},
	} {
		fd := s.fd(fmt.Sprintf("socket %d %d %d", c.fam, c.typ, c.proto), unix.SYS_SOCKET, uint64(c.fam), uint64(c.typ), uint64(int64(c.proto)))
		if int64(fd) >= 0 {
			s.close(fd)
		}
	}
	s.call("socketpair inet", unix.SYS_SOCKETPAIR, uint64(af), stream, 0, s.x.addr(iaLen))

	// A new socket's options, names and states.
	t := s.socket("tcp", af, stream)
	u := s.socket("udp", af, dgram)
	t6 := s.socket("tcp6", af6, stream)
	for _, fd := range []uint64{t, u, t6} {
		for _, o := range []struct {
			what        string
			level, name int
		}{
			{"SO_TYPE", unix.SOL_SOCKET, unix.SO_TYPE}, {"SO_DOMAIN", unix.SOL_SOCKET, unix.SO_DOMAIN},
			{"SO_PROTOCOL", unix.SOL_SOCKET, unix.SO_PROTOCOL}, {"SO_SNDBUF", unix.SOL_SOCKET, unix.SO_SNDBUF},
			{"SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF}, {"SO_ERROR", unix.SOL_SOCKET, unix.SO_ERROR},
			{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR}, {"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			{"SO_ACCEPTCONN", unix.SOL_SOCKET, unix.SO_ACCEPTCONN},
			{"TCP_NODELAY", unix.SOL_TCP, unix.TCP_NODELAY}, {"TCP_MAXSEG", unix.SOL_TCP, unix.TCP_MAXSEG},
			{"TCP_KEEPIDLE", unix.SOL_TCP, unix.TCP_KEEPIDLE}, {"TCP_KEEPINTVL", unix.SOL_TCP, unix.TCP_KEEPINTVL},
			{"TCP_KEEPCNT", unix.SOL_TCP, unix.TCP_KEEPCNT}, {"TCP_QUICKACK", unix.SOL_TCP, unix.TCP_QUICKACK},
			{"UDP_CORK", unix.SOL_UDP, unix.UDP_CORK}, {"IP_TOS", unix.SOL_IP, unix.IP_TOS}, {"IP_TTL", unix.SOL_IP, unix.IP_TTL},
			{"IP_MTU", unix.SOL_IP, unix.IP_MTU},
			{"IPV6_V6ONLY", unix.SOL_IPV6, unix.IPV6_V6ONLY}, {"IPV6_UNICAST_HOPS", unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS},
			{"IPV6_TCLASS", unix.SOL_IPV6, unix.IPV6_TCLASS},
		} {
			s.getopt(o.what, fd, o.level, o.name)
		}
		s.name("getsockname unbound", unix.SYS_GETSOCKNAME, fd)
		s.name("getpeername unbound", unix.SYS_GETPEERNAME, fd)
		s.poll("poll new", fd)
	}
	s.setopt("TCP_NODELAY 5", t, unix.SOL_TCP, unix.TCP_NODELAY, 5, 4)
	s.getopt("TCP_NODELAY", t, unix.SOL_TCP, unix.TCP_NODELAY)
	s.setopt("TCP_KEEPCNT 200", t, unix.SOL_TCP, unix.TCP_KEEPCNT, 200, 4)
	s.setopt("TCP_KEEPIDLE 0", t, unix.SOL_TCP, unix.TCP_KEEPIDLE, 0, 4)
	s.setopt("TCP_KEEPINTVL 30", t, unix.SOL_TCP, unix.TCP_KEEPINTVL, 30, 4)
	s.getopt("TCP_KEEPINTVL", t, unix.SOL_TCP, unix.TCP_KEEPINTVL)
	s.setopt("TCP_NODELAY len 2", t, unix.SOL_TCP, unix.TCP_NODELAY, 1, 2)
	s.setopt("IP_TTL -1", t, unix.SOL_IP, unix.IP_TTL, -1, 4)
	s.getopt("IP_TTL", t, unix.SOL_IP, unix.IP_TTL)
	s.setopt("IP_TTL 300", t, unix.SOL_IP, unix.IP_TTL, 300, 4)
	s.setopt("TCP_NODELAY on udp", u, unix.SOL_TCP, unix.TCP_NODELAY, 1, 4)
	s.setopt("IPV6_V6ONLY on inet", t, unix.SOL_IPV6, unix.IPV6_V6ONLY, 1, 4)
	s.setopt("SO_KEEPALIVE", t, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, 4)
	s.getopt("SO_KEEPALIVE", t, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	s.send("send unconnected tcp", t, "x", 0)
	s.recv("recv unconnected tcp", t, 4, unix.MSG_DONTWAIT, false)
	s.call("shutdown unconnected tcp", unix.SYS_SHUTDOWN, t, unix.SHUT_RDWR)
	s.send("send unconnected udp", u, "x", 0)
	s.recv("recv unconnected udp", u, 4, unix.MSG_DONTWAIT, false)
	s.call("listen udp", unix.SYS_LISTEN, u, 5)
	s.call("accept unlistening", unix.SYS_ACCEPT, t6, 0, 0)
	for _, fd := range []uint64{t, u, t6} {
		s.close(fd)
	}

	// bind's checks and conflicts.
	a := s.socket("a", af, stream)
	s.call("bind short", unix.SYS_BIND, a, s.sin(iaAddr, "127.0.0.1", 20001), 15)
	s.call("bind inet6 family", unix.SYS_BIND, a, s.sin6(iaAddr, "::1", 20001), 28)
	s.call("bind 10.0.0.1", unix.SYS_BIND, a, s.sin(iaAddr, "10.0.0.1", 20001), 16)
	s.call("bind 127.0.0.1:20001", unix.SYS_BIND, a, s.sin(iaAddr, "127.0.0.1", 20001), 16)
	s.name("getsockname bound", unix.SYS_GETSOCKNAME, a)
	s.call("bind again", unix.SYS_BIND, a, s.sin(iaAddr, "127.0.0.1", 20002), 16)
	b := s.socket("b", af, stream)
	s.call("bind taken", unix.SYS_BIND, b, s.sin(iaAddr, "127.0.0.1", 20001), 16)
	s.call("bind any taken", unix.SYS_BIND, b, s.sin(iaAddr, "0.0.0.0", 20001), 16)
	s.call("bind 127.0.0.2 same port", unix.SYS_BIND, b, s.sin(iaAddr, "127.0.0.2", 20001), 16)
	c := s.socket("c", af6, stream)
	s.call("bind [::]:20001", unix.SYS_BIND, c, s.sin6(iaAddr, "::", 20001), 28)
	s.call("bind [::1]:20001", unix.SYS_BIND, c, s.sin6(iaAddr, "::1", 20001), 28)
	s.getopt("IPV6_V6ONLY after ::1", c, unix.SOL_IPV6, unix.IPV6_V6ONLY)
	s.setopt("IPV6_V6ONLY bound", c, unix.SOL_IPV6, unix.IPV6_V6ONLY, 0, 4)
	s.close(c)
	c = s.socket("c", af6, stream)
	s.setopt("IPV6_V6ONLY 1", c, unix.SOL_IPV6, unix.IPV6_V6ONLY, 1, 4)
	s.call("bind v4-mapped v6only", unix.SYS_BIND, c, s.sin6(iaAddr, "::ffff:127.0.0.1", 20003), 28)
	s.call("bind [::]:20001 v6only", unix.SYS_BIND, c, s.sin6(iaAddr, "::", 20001), 28)
	s.close(c)
	c = s.socket("c", af6, stream)
	s.call("bind v4-mapped", unix.SYS_BIND, c, s.sin6(iaAddr, "::ffff:127.0.0.1", 20004), 28)
	s.name("getsockname v4-mapped", unix.SYS_GETSOCKNAME, c)
	s.call("bind [::ffff:10.0.0.1]", unix.SYS_BIND, s.socket("d", af6, stream), s.sin6(iaAddr, "::ffff:10.0.0.1", 20004), 28)
	s.call("bind [2001:db8::1]", unix.SYS_BIND, s.socket("e", af6, stream), s.sin6(iaAddr, "2001:db8::1", 20004), 28)
	s.call("bind inet6 short", unix.SYS_BIND, s.socket("f", af6, stream), s.sin6(iaAddr, "::1", 20004), 23)
	for _, fd := range []uint64{a, b, c} {
		s.close(fd)
	}
	// SO_REUSEADDR: two binds while neither listens; listen then fails
	// for the second, and a third bind fails once one listens.
	r1, r2, r3 := s.socket("r1", af, stream), s.socket("r2", af, stream), s.socket("r3", af, stream)
	for _, fd := range []uint64{r1, r2, r3} {
		s.setopt("SO_REUSEADDR", fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, 4)
	}
	s.call("bind r1", unix.SYS_BIND, r1, s.sin(iaAddr, "127.0.0.1", 20005), 16)
	s.call("bind r2", unix.SYS_BIND, r2, s.sin(iaAddr, "127.0.0.1", 20005), 16)
	s.call("listen r1", unix.SYS_LISTEN, r1, 5)
	s.call("listen r2", unix.SYS_LISTEN, r2, 5)
	s.call("bind r3", unix.SYS_BIND, r3, s.sin(iaAddr, "0.0.0.0", 20005), 16)
	for _, fd := range []uint64{r1, r2, r3} {
		s.close(fd)
	}
	// SO_REUSEPORT: two listeners.
	p1, p2 := s.socket("p1", af, stream), s.socket("p2", af, stream)
	for _, fd := range []uint64{p1, p2} {
		s.setopt("SO_REUSEPORT", fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1, 4)
		s.call("bind reuseport", unix.SYS_BIND, fd, s.sin(iaAddr, "127.0.0.1", 20006), 16)
		s.call("listen reuseport", unix.SYS_LISTEN, fd, 5)
	}
	s.close(p1)
	s.close(p2)
	// UDP and TCP ports are apart; port 0 picks an ephemeral one.
	ut, uu := s.socket("ut", af, stream), s.socket("uu", af, dgram)
	s.call("bind tcp 20007", unix.SYS_BIND, ut, s.sin(iaAddr, "127.0.0.1", 20007), 16)
	s.call("bind udp 20007", unix.SYS_BIND, uu, s.sin(iaAddr, "127.0.0.1", 20007), 16)
	s.close(ut)
	s.close(uu)
	e := s.socket("eph", af, stream)
	s.call("bind port 0", unix.SYS_BIND, e, s.sin(iaAddr, "0.0.0.0", 0), 16)
	s.name("getsockname port 0", unix.SYS_GETSOCKNAME, e)
	s.close(e)

	// A TCP connection: a nonblocking connect, accept, data, shutdown,
	// close.
	l := s.socket("listener", af, stream|nb)
	s.call("bind listener", unix.SYS_BIND, l, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	s.call("listen", unix.SYS_LISTEN, l, 4)
	s.getopt("SO_ACCEPTCONN", l, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	s.poll("poll listener", l)
	s.call("accept none", unix.SYS_ACCEPT4, l, 0, 0, unix.SOCK_NONBLOCK)
	s.call("connect listener", unix.SYS_CONNECT, l, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	cl := s.socket("client", af, stream|nb)
	s.call("connect nonblocking", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	s.poll("poll connecting", cl)
	s.poll("poll listener with one", l)
	s.call("connect again", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	s.call("connect once more", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	s.getopt("SO_ERROR", cl, unix.SOL_SOCKET, unix.SO_ERROR)
	s.getopt("TCP_MAXSEG connected", cl, unix.SOL_TCP, unix.TCP_MAXSEG)
	s.getopt("IP_MTU connected", cl, unix.SOL_IP, unix.IP_MTU)
	s.name("client name", unix.SYS_GETSOCKNAME, cl)
	s.name("client peer", unix.SYS_GETPEERNAME, cl)
	s.put32(iaLen, 128)
	sv := s.fd("accept4", unix.SYS_ACCEPT4, l, s.x.addr(iaAddr2), s.x.addr(iaLen), unix.SOCK_CLOEXEC)
	s.log("accepted from %s", addrText(s.x.mem()[iaAddr2:iaAddr2+16]))
	s.name("server name", unix.SYS_GETSOCKNAME, sv)
	s.name("server peer", unix.SYS_GETPEERNAME, sv)
	s.call("F_GETFD accepted", unix.SYS_FCNTL, sv, unix.F_GETFD)
	s.call("F_GETFL accepted", unix.SYS_FCNTL, sv, unix.F_GETFL)
	s.poll("poll server", sv)
	s.send("send hello", cl, "hello", 0)
	s.poll("poll server with data", sv)
	s.call("FIONREAD", unix.SYS_IOCTL, sv, unix.SIOCINQ, s.x.addr(iaOpt))
	s.log("FIONREAD says %d", binary.LittleEndian.Uint32(s.x.mem()[iaOpt:]))
	s.recv("recv peek", sv, 3, unix.MSG_PEEK, false)
	s.recv("recvfrom", sv, 10, 0, true)
	s.recv("recv nothing", sv, 10, unix.MSG_DONTWAIT, false)
	s.send("send abc", sv, "abc", 0)
	s.recv("recv waitall dontwait", cl, 10, unix.MSG_WAITALL|unix.MSG_DONTWAIT, false)
	s.send("send de", sv, "de", 0)
	s.recvmsg("recvmsg", cl, 10, 0)
	s.call("shutdown SHUT_WR", unix.SYS_SHUTDOWN, cl, unix.SHUT_WR)
	s.poll("poll after SHUT_WR", cl)
	s.poll("poll peer of SHUT_WR", sv)
	s.recv("recv FIN", sv, 10, 0, false)
	s.send("send after SHUT_WR", cl, "x", 0)
	s.send("send to half-closed", sv, "fgh", 0)
	s.recv("recv from half-closed", cl, 10, 0, false)
	s.close(sv)
	s.poll("poll peer closed", cl)
	s.recv("recv after close", cl, 10, unix.MSG_DONTWAIT, false)
	s.name("peer after close", unix.SYS_GETPEERNAME, cl)
	s.close(cl)

	// A close with unread data resets the peer; SO_LINGER 0 does too.
	cl = s.socket("client", af, stream)
	s.call("connect blocking", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	sv = s.fd("accept", unix.SYS_ACCEPT, l, 0, 0)
	s.send("send unread", cl, "unread", 0)
	s.close(sv)
	s.poll("poll reset", cl)
	s.recv("recv reset", cl, 10, 0, false)
	s.recv("recv after reset", cl, 10, 0, false)
	s.send("send after reset", cl, "x", 0)
	s.name("peer after reset", unix.SYS_GETPEERNAME, cl)
	s.getopt("SO_ERROR after reset", cl, unix.SOL_SOCKET, unix.SO_ERROR)
	s.close(cl)
	cl = s.socket("client", af, stream)
	s.call("connect blocking", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	sv = s.fd("accept", unix.SYS_ACCEPT, l, 0, 0)
	binary.LittleEndian.PutUint64(s.x.mem()[iaOpt:], 1)
	s.call("SO_LINGER 0", unix.SYS_SETSOCKOPT, sv, unix.SOL_SOCKET, unix.SO_LINGER, s.x.addr(iaOpt), 8)
	s.close(sv)
	s.recv("recv after linger reset", cl, 10, 0, false)
	s.close(cl)
	// A peer closed: the first send goes, the next is EPIPE.
	cl = s.socket("client", af, stream)
	s.call("connect blocking", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	sv = s.fd("accept", unix.SYS_ACCEPT, l, 0, 0)
	s.close(sv)
	s.send("send to closed", cl, "x", 0)
	s.poll("poll after its reset", cl)
	s.send("send to closed again", cl, "x", 0)
	s.recv("recv from closed", cl, 10, 0, false)
	s.close(cl)
	// Connecting to 0.0.0.0 reaches the loopback listener.
	cl = s.socket("client", af, stream)
	s.call("connect 0.0.0.0", unix.SYS_CONNECT, cl, s.sin(iaAddr, "0.0.0.0", 20010), 16)
	s.name("peer of 0.0.0.0", unix.SYS_GETPEERNAME, cl)
	s.close(cl)
	// A listener's close resets the connections it did not accept.
	cl = s.socket("client", af, stream)
	s.call("connect blocking", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20010), 16)
	s.close(l)
	s.recv("recv after listener closed", cl, 10, 0, false)
	s.close(cl)

	// No listener: ECONNREFUSED, at once or through SO_ERROR; off
	// loopback: ENETUNREACH.
	cl = s.socket("client", af, stream)
	s.call("connect refused", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20011), 16)
	s.name("name after refused", unix.SYS_GETSOCKNAME, cl)
	s.call("connect 10.1.2.3", unix.SYS_CONNECT, cl, s.sin(iaAddr, "10.1.2.3", 80), 16)
	s.call("connect short", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20011), 8)
	s.call("connect inet6 family", unix.SYS_CONNECT, cl, s.sin6(iaAddr, "::1", 20011), 28)
	s.close(cl)
	cl = s.socket("client", af, stream|nb)
	s.call("connect refused nonblocking", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20011), 16)
	s.poll("poll refused", cl)
	s.getopt("SO_ERROR refused", cl, unix.SOL_SOCKET, unix.SO_ERROR)
	s.close(cl)
	c6 := s.socket("client6", af6, stream)
	s.call("connect [2001:db8::1]", unix.SYS_CONNECT, c6, s.sin6(iaAddr, "2001:db8::1", 80), 28)
	s.call("connect [::1] refused", unix.SYS_CONNECT, c6, s.sin6(iaAddr, "::1", 20011), 28)
	s.close(c6)

	// Dual stack: a [::] listener takes IPv4, which it sees v4-mapped.
	l6 := s.socket("listener6", af6, stream)
	s.call("bind [::]:20020", unix.SYS_BIND, l6, s.sin6(iaAddr, "::", 20020), 28)
	s.call("listen6", unix.SYS_LISTEN, l6, 4)
	cl = s.socket("client", af, stream)
	s.call("connect v4 to dual", unix.SYS_CONNECT, cl, s.sin(iaAddr, "127.0.0.1", 20020), 16)
	s.put32(iaLen, 128)
	sv = s.fd("accept dual", unix.SYS_ACCEPT, l6, s.x.addr(iaAddr2), s.x.addr(iaLen))
	s.log("accepted from %s", addrText(s.x.mem()[iaAddr2:iaAddr2+28]))
	s.name("dual server name", unix.SYS_GETSOCKNAME, sv)
	s.close(sv)
	s.close(cl)
	c6 = s.socket("client6", af6, stream)
	s.call("connect [::1]:20020", unix.SYS_CONNECT, c6, s.sin6(iaAddr, "::1", 20020), 28)
	s.name("client6 name", unix.SYS_GETSOCKNAME, c6)
	sv = s.fd("accept6", unix.SYS_ACCEPT, l6, 0, 0)
	s.name("server6 peer", unix.SYS_GETPEERNAME, sv)
	s.close(sv)
	s.close(c6)
	c6 = s.socket("client6", af6, stream)
	s.call("connect [::ffff:127.0.0.1]:20020", unix.SYS_CONNECT, c6, s.sin6(iaAddr, "::ffff:127.0.0.1", 20020), 28)
	s.name("mapped client name", unix.SYS_GETSOCKNAME, c6)
	s.close(c6)
	s.close(l6)

	// UDP: addresses, boundaries, truncation, connected filters and
	// ECONNREFUSED.
	rx := s.socket("udp rx", af, dgram)
	tx := s.socket("udp tx", af, dgram)
	s.call("bind rx", unix.SYS_BIND, rx, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	copy(s.x.mem()[iaData:], "hello")
	s.call("sendto no address", unix.SYS_SENDTO, tx, s.x.addr(iaData), 5, 0, 0, 0)
	s.call("sendto rx", unix.SYS_SENDTO, tx, s.x.addr(iaData), 5, 0, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	s.name("tx autobound", unix.SYS_GETSOCKNAME, tx)
	s.call("sendto port 0", unix.SYS_SENDTO, tx, s.x.addr(iaData), 5, 0, s.sin(iaAddr, "127.0.0.1", 0), 16)
	s.call("sendto 10.0.0.1", unix.SYS_SENDTO, tx, s.x.addr(iaData), 5, 0, s.sin(iaAddr, "10.0.0.1", 9), 16)
	s.call("sendto short", unix.SYS_SENDTO, tx, s.x.addr(iaData), 5, 0, s.sin(iaAddr, "127.0.0.1", 20030), 12)
	s.call("sendto 65508", unix.SYS_SENDTO, tx, s.x.addr(0), 65508, 0, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	s.poll("poll rx", rx)
	s.call("FIONREAD udp", unix.SYS_IOCTL, rx, unix.SIOCINQ, s.x.addr(iaOpt))
	s.log("FIONREAD says %d", binary.LittleEndian.Uint32(s.x.mem()[iaOpt:]))
	s.recv("recvfrom truncated", rx, 3, unix.MSG_TRUNC, true)
	copy(s.x.mem()[iaData:], "onetwo")
	s.call("sendto one", unix.SYS_SENDTO, tx, s.x.addr(iaData), 3, 0, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	s.call("sendto two", unix.SYS_SENDTO, tx, s.x.addr(iaData+3), 3, 0, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	s.call("sendto empty", unix.SYS_SENDTO, tx, s.x.addr(iaData), 0, 0, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	s.recvmsg("recvmsg short", rx, 2, 0)
	s.recv("recv two", rx, 10, 0, true)
	s.recv("recv empty", rx, 10, 0, true)
	s.recv("recv none", rx, 10, unix.MSG_DONTWAIT, true)
	s.call("connect rx to 20031", unix.SYS_CONNECT, rx, s.sin(iaAddr, "127.0.0.1", 20031), 16)
	s.name("connected rx name", unix.SYS_GETSOCKNAME, rx)
	s.name("connected rx peer", unix.SYS_GETPEERNAME, rx)
	s.call("sendto filtered", unix.SYS_SENDTO, tx, s.x.addr(iaData), 3, 0, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	s.recv("recv filtered", rx, 10, unix.MSG_DONTWAIT, true)
	s.send("send to no socket", rx, "x", 0)
	s.poll("poll refused udp", rx)
	s.recv("recv refused", rx, 10, unix.MSG_DONTWAIT, false)
	s.send("send to no socket again", rx, "x", 0)
	s.send("send refused", rx, "x", 0)
	s.call("disconnect", unix.SYS_CONNECT, rx, s.sin(iaAddr, "0.0.0.0", 0), 2)
	binary.LittleEndian.PutUint16(s.x.mem()[iaAddr:], unix.AF_UNSPEC)
	s.call("disconnect", unix.SYS_CONNECT, rx, s.x.addr(iaAddr), 16)
	s.name("disconnected rx name", unix.SYS_GETSOCKNAME, rx)
	s.name("disconnected rx peer", unix.SYS_GETPEERNAME, rx)
	s.call("connect tx", unix.SYS_CONNECT, tx, s.sin(iaAddr, "127.0.0.1", 20030), 16)
	s.name("connected tx name", unix.SYS_GETSOCKNAME, tx)
	s.send("send connected", tx, "abc", 0)
	s.recv("recv connected", rx, 10, 0, true)
	s.call("shutdown udp", unix.SYS_SHUTDOWN, rx, unix.SHUT_RD)
	s.poll("poll udp shut", rx)
	s.close(rx)
	s.close(tx)
	// A dual-stack UDP socket sees IPv4 senders v4-mapped.
	rx = s.socket("udp6 rx", af6, dgram)
	tx = s.socket("udp tx", af, dgram)
	s.call("bind rx6", unix.SYS_BIND, rx, s.sin6(iaAddr, "::", 20032), 28)
	s.call("sendto rx6", unix.SYS_SENDTO, tx, s.x.addr(iaData), 3, 0, s.sin(iaAddr, "127.0.0.1", 20032), 16)
	s.recv("recv rx6", rx, 10, 0, true)
	s.call("sendto ::1 from rx6", unix.SYS_SENDTO, rx, s.x.addr(iaData), 3, 0, s.sin6(iaAddr, "::1", 20032), 28)
	s.recv("recv own", rx, 10, 0, true)
	s.close(rx)
	s.close(tx)

	netlinkScenario(s)

	// The limits a program reads.
	for _, path := range []string{"/proc/sys/net/ipv4/ip_local_port_range", "/proc/sys/net/core/somaxconn"} {
		copy(s.x.mem()[iaData:], path+"\x00")
		fd := s.x.sys(unix.SYS_OPEN, s.x.addr(iaData), unix.O_RDONLY)
		n := s.x.sys(unix.SYS_READ, uint64(fd), s.x.addr(iaData2), 64)
		s.log("%s: %q", path, s.x.mem()[iaData2:iaData2+int(max(n, 0))])
		s.close(uint64(fd))
	}
}

// inetHelperEnv makes the test binary run inetScenario on the host, in a
// network namespace of its own with lo up, and print its transcript.
const inetHelperEnv = "MMVM_TEST_INET"

func inetHelper() int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		fmt.Println("socket:", err)
		return 1
	}
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		fmt.Println("ifreq:", err)
		return 1
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		fmt.Println("lo up:", err)
		return 1
	}
	unix.Close(fd)
	s := &inetScript{x: hostInet{b: hostMem(inetBufSize)}}
	inetScenario(s)
	fmt.Print(strings.Join(s.out, "\n") + "\n")
	return 0
}

// TestInetMatchesHost runs inetScenario in mmvm and on the host kernel,
// in a fresh network namespace (unshare -n) where lo is the only
// interface, as the VM's, and requires the same transcript.
func TestInetMatchesHost(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1) for a network namespace")
	}
	cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), inetHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("no network namespace here: %v: %s", err, out)
	}
	host := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	p, mem, _ := newTestProcess(t)
	s := &inetScript{x: guestInet{p: p, m: mem}}
	inetScenario(s)
	for i := 0; i < max(len(host), len(s.out)); i++ {
		var g, h string
		if i < len(s.out) {
			g = s.out[i]
		}
		if i < len(host) {
			h = host[i]
		}
		if g != h {
			t.Errorf("line %d:\nmmvm %s\nhost %s", i+1, g, h)
		}
	}
}

// netlinkScenario dumps the links and addresses over NETLINK_ROUTE and
// asks the interface ioctls, logging what a program reads of them.
func netlinkScenario(s *inetScript) {
	le := binary.LittleEndian
	nl := s.fd("netlink socket", unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	s.fd("netlink stream", unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_STREAM, unix.NETLINK_ROUTE)
	m := s.x.mem()
	clear(m[iaAddr : iaAddr+12])
	le.PutUint16(m[iaAddr:], unix.AF_NETLINK)
	s.call("netlink bind", unix.SYS_BIND, nl, s.x.addr(iaAddr), 12)
	s.put32(iaLen, 128)
	s.call("netlink getsockname", unix.SYS_GETSOCKNAME, nl, s.x.addr(iaAddr2), s.x.addr(iaLen))
	port := le.Uint32(m[iaAddr2+4:])
	s.log("netlink name: len %d family %d port is pid %v", le.Uint32(m[iaLen:]), le.Uint16(m[iaAddr2:]), int64(port) == s.x.sys(unix.SYS_GETPID))
	for _, req := range []struct {
		typ    uint16
		family byte
	}{{unix.RTM_GETLINK, unix.AF_UNSPEC}, {unix.RTM_GETADDR, unix.AF_UNSPEC}, {unix.RTM_GETADDR, unix.AF_INET6}, {unix.RTM_GETROUTE + 100, 0}} {
		b := m[iaData : iaData+20]
		clear(b)
		le.PutUint32(b, 20)
		le.PutUint16(b[4:], req.typ)
		le.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
		le.PutUint32(b[8:], 1)
		b[16] = req.family
		s.call(fmt.Sprintf("netlink send %d", req.typ), unix.SYS_SENDTO, nl, s.x.addr(iaData), 20, 0, s.x.addr(iaAddr), 12)
		for done := false; !done; {
			n := s.x.sys(unix.SYS_RECVFROM, nl, s.x.addr(iaData2), 0x800, unix.MSG_DONTWAIT, 0, 0)
			if n <= 0 {
				s.log("netlink recv: %s", resultText(n))
				break
			}
			msgs, err := syscall.ParseNetlinkMessage(m[iaData2 : iaData2+int(n)])
			if err != nil {
				s.log("netlink parse: %v", err)
				break
			}
			for _, msg := range msgs {
				h := msg.Header
				line := fmt.Sprintf("netlink message type %d seq %d to us %v", h.Type, h.Seq, h.Pid == port)
				switch h.Type {
				case unix.NLMSG_DONE:
					done = true
				case unix.NLMSG_ERROR:
					line += fmt.Sprintf(" error %d", int32(le.Uint32(msg.Data)))
					done = true
				case unix.RTM_NEWLINK:
					line += fmt.Sprintf(" index %d flags %#x type %d", int32(le.Uint32(msg.Data[4:])), le.Uint32(msg.Data[8:]), le.Uint16(msg.Data[2:]))
					attrs, _ := syscall.ParseNetlinkRouteAttr(&msg)
					for _, a := range attrs {
						switch a.Attr.Type {
						case unix.IFLA_IFNAME:
							line += fmt.Sprintf(" name %q", a.Value)
						case unix.IFLA_MTU:
							line += fmt.Sprintf(" mtu %d", le.Uint32(a.Value))
						case unix.IFLA_ADDRESS:
							line += fmt.Sprintf(" hwaddr %x", a.Value)
						}
					}
				case unix.RTM_NEWADDR:
					d := msg.Data
					line += fmt.Sprintf(" family %d prefix %d scope %d index %d", d[0], d[1], d[3], le.Uint32(d[4:]))
					attrs, _ := syscall.ParseNetlinkRouteAttr(&msg)
					for _, a := range attrs {
						switch a.Attr.Type {
						case unix.IFA_ADDRESS, unix.IFA_LOCAL:
							ip, _ := netip.AddrFromSlice(a.Value)
							line += fmt.Sprintf(" %d=%v", a.Attr.Type, ip)
						case unix.IFA_LABEL:
							line += fmt.Sprintf(" label %q", a.Value)
						}
					}
				}
				s.log("%s", line)
			}
		}
	}
	s.close(nl)

	// The interface ioctls, on an inet socket.
	fd := s.socket("ioctl socket", unix.AF_INET, unix.SOCK_DGRAM)
	ifr := func(name string) uint64 {
		clear(m[iaData : iaData+40])
		copy(m[iaData:], name)
		return s.x.addr(iaData)
	}
	for _, c := range []struct {
		what string
		req  uint64
		name string
	}{
		{"SIOCGIFINDEX lo", unix.SIOCGIFINDEX, "lo"}, {"SIOCGIFINDEX eth0", unix.SIOCGIFINDEX, "eth0"},
		{"SIOCGIFFLAGS lo", unix.SIOCGIFFLAGS, "lo"}, {"SIOCGIFMTU lo", unix.SIOCGIFMTU, "lo"}, {"SIOCGIFADDR lo", unix.SIOCGIFADDR, "lo"},
	} {
		r := s.call(c.what, unix.SYS_IOCTL, fd, c.req, ifr(c.name))
		if r == 0 {
			s.log("%s: %x", c.what, m[iaData:iaData+40])
		}
	}
	p := ifr("")
	le.PutUint32(m[iaData+16:], 1)
	s.call("SIOCGIFNAME 1", unix.SYS_IOCTL, fd, unix.SIOCGIFNAME, p)
	s.log("SIOCGIFNAME 1: %q", m[iaData:iaData+16])
	clear(m[iaAddr : iaAddr+16])
	s.call("SIOCGIFCONF null", unix.SYS_IOCTL, fd, unix.SIOCGIFCONF, s.x.addr(iaAddr))
	s.log("SIOCGIFCONF null: len %d", le.Uint32(m[iaAddr:]))
	le.PutUint32(m[iaAddr:], 200)
	le.PutUint64(m[iaAddr+8:], s.x.addr(iaData2))
	s.call("SIOCGIFCONF", unix.SYS_IOCTL, fd, unix.SIOCGIFCONF, s.x.addr(iaAddr))
	s.log("SIOCGIFCONF: len %d %x", le.Uint32(m[iaAddr:]), m[iaData2:iaData2+40])
	s.close(fd)
}
