package syscalls

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"

	"golang.org/x/sys/unix"
)

// AF_INET and AF_INET6 sockets on the VM's one network: the loopback
// interface lo, with 127.0.0.0/8 and ::1. TCP (SOCK_STREAM) and UDP
// (SOCK_DGRAM) ride the AF_UNIX machinery: a connection is a pair of
// sockets joined through a listener's backlog, a segment or datagram is
// a sockMsg on the receiver's queue. What differs is named here: addresses
// and ports (a port table per protocol, the VM's, with Linux's bind
// conflict rules, SO_REUSEADDR and SO_REUSEPORT, and ephemeral ports from
// ip_local_port_range), routing (a destination off loopback is
// ENETUNREACH, as Linux answers with only lo up), TCP's connection states
// (a connect completes at once, as on Linux's loopback; a nonblocking one
// still says EINPROGRESS; a close with unread data resets the peer; a
// send to a closed peer succeeds once and resets the sender), and UDP's
// delivery (a datagram to a port no socket has is dropped, and a
// connected sender learns ECONNREFUSED on its next call, as the ICMP
// error tells Linux's; a full receive buffer drops it).
//
// Every inetSock field is guarded by the tree lock, as its socket's.

// Protocol numbers and limits as Linux has them.
const (
	ipprotoMax = 263 // IPPROTO_MAX
	// ephemeralLow and ephemeralHigh are net.ipv4.ip_local_port_range.
	ephemeralLow  = 32768
	ephemeralHigh = 60999
	// protSock is net.ipv4.ip_unprivileged_port_start (PROT_SOCK).
	protSock = 1024
	// sockaddrInSize and sockaddrIn6Size are sizeof(struct
	// sockaddr_in) and sizeof(struct sockaddr_in6); sin6LenRFC2133 is
	// the shorter sockaddr_in6 Linux still takes (no sin6_scope_id).
	sockaddrInSize  = 16
	sockaddrIn6Size = 28
	sin6LenRFC2133  = 24
	// udpMaxPayload4 and udpMaxPayload6 are the most one UDP datagram
	// carries over IPv4 and IPv6.
	udpMaxPayload4 = 65535 - 20 - 8
	udpMaxPayload6 = 65535 - 8
	// tcpWmemDefault and tcpRmemDefault are net.ipv4.tcp_wmem and
	// tcp_rmem's defaults, a new TCP socket's SO_SNDBUF and SO_RCVBUF;
	// tcpSndbufConnected is the SO_SNDBUF Linux's autotuning gives a
	// connection on lo (its 65483-byte MSS) when it is made.
	tcpWmemDefault     = 16384
	tcpRmemDefault     = 131072
	tcpSndbufConnected = 3939840
	// tcpChunk is the most one TCP message holds: a 64 KiB GSO segment.
	tcpChunk = 65536
)

// inetSock is the inet part of a socket (Linux's inet_sock and the
// transport's), guarded by the tree lock.
type inetSock struct {
	// proto is IPPROTO_TCP or IPPROTO_UDP.
	proto int32
	// local is the bound address in the socket's family's form (IPv4
	// for AF_INET; IPv6, v4-mapped for IPv4, for AF_INET6): its port 0
	// while unbound, its address unspecified for a wildcard bind.
	local netip.AddrPort
	// remote is the peer's address while connected (TCP established,
	// connected UDP), in the same form.
	remote netip.AddrPort
	// bound: s is in the port table at local's port. A TCP socket a
	// reset or refusal closed has left it but still shows the port
	// (inet_put_port clears inet_num, not inet_sport).
	bound bool
	// userPort and userAddr: bind set the port or address
	// (SOCK_BINDPORT_LOCK, SOCK_BINDADDR_LOCK); a UDP disconnect keeps
	// only what the user bound.
	userPort, userAddr bool
	// v6only is IPV6_V6ONLY: an AF_INET6 socket that takes no IPv4.
	v6only bool
	// connecting is SS_CONNECTING: a nonblocking connect said
	// EINPROGRESS and the next connect reports how it ended.
	connecting bool
	// finRcvd is SOCK_DONE: the peer ended its side (a FIN came), so a
	// read past the data is end of file, before any SO_ERROR.
	finRcvd bool
	// sndbufSet: SO_SNDBUF was set (SOCK_SNDBUF_LOCK): a connection
	// keeps it rather than the autotuned size.
	sndbufSet bool
	// opts are the IP, IPv6 and TCP level options set (inetopt.go).
	opts map[inetOptKey]int32
}

// inetPortKey is a port of a protocol: the port table's key.
type inetPortKey struct {
	proto int32
	port  uint16
}

// isTCP says whether s is a TCP socket.
func (s *socket) isTCP() bool { return s.in != nil && s.in.proto == unix.IPPROTO_TCP }

// inetCreate checks socket's type and protocol for AF_INET and AF_INET6
// as inet_create and inet6_create: EINVAL for a protocol out of range,
// ESOCKTNOSUPPORT for a type neither has, EPROTONOSUPPORT for a protocol
// the type does not carry (and for raw and ping sockets, which mmvm has
// not). It returns the protocol (0 taken as the type's).
func inetCreate(typ uint32, protocol int32) (int32, unix.Errno) {
	if protocol < 0 || protocol >= ipprotoMax {
		return 0, unix.EINVAL
	}
	switch typ {
	case unix.SOCK_STREAM:
		if protocol == 0 || protocol == unix.IPPROTO_TCP {
			return unix.IPPROTO_TCP, 0
		}
	case unix.SOCK_DGRAM:
		if protocol == 0 || protocol == unix.IPPROTO_UDP {
			return unix.IPPROTO_UDP, 0
		}
	case unix.SOCK_RAW:
	default:
		return 0, unix.ESOCKTNOSUPPORT
	}
	return 0, unix.EPROTONOSUPPORT
}

// newInetSocket makes an unbound AF_INET or AF_INET6 socket: TCP's
// buffers are tcp_wmem and tcp_rmem's defaults, UDP's the core ones.
func (t *Task) newInetSocket(family uint16, typ uint32, proto int32) *socket {
	s := t.newSocket(typ)
	s.family = family
	s.in = &inetSock{proto: proto, local: netip.AddrPortFrom(anyAddr(family), 0)}
	if proto == unix.IPPROTO_TCP {
		s.sndbuf, s.rcvbuf = tcpWmemDefault, tcpRmemDefault
	}
	return s
}

// anyAddr is the family's wildcard address.
func anyAddr(family uint16) netip.Addr {
	if family == unix.AF_INET6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

var (
	loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	loopback6 = netip.IPv6Loopback()
)

// inFamily is a (unmapped) address in the socket's family's form: an
// AF_INET6 socket sees IPv4 as v4-mapped.
func (s *socket) inFamily(a netip.Addr) netip.Addr {
	if s.family == unix.AF_INET6 && a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

// sockaddr is the struct sockaddr_in or sockaddr_in6 of ap for the
// socket's family.
func (s *socket) sockaddr(ap netip.AddrPort) []byte {
	a := s.inFamily(ap.Addr().Unmap())
	if s.family == unix.AF_INET6 && ap.Addr().Is6() {
		a = ap.Addr()
	}
	if s.family == unix.AF_INET {
		b := make([]byte, sockaddrInSize)
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		a4 := a.As4()
		copy(b[4:], a4[:])
		return b
	}
	b := make([]byte, sockaddrIn6Size)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], ap.Port())
	a16 := a.As16()
	copy(b[8:], a16[:])
	return b
}

// parseSockaddr reads a sockaddr_in (len past 16 bytes ignored) or
// sockaddr_in6 of the socket's family: EINVAL for one shorter than the
// family's minimum, EAFNOSUPPORT for another family. unspecOK takes
// AF_UNSPEC as the socket's own family, as bind (with the any address)
// and UDP's sendto do.
func (s *socket) parseSockaddr(raw []byte, unspecOK bool) (netip.AddrPort, unix.Errno) {
	if s.family == unix.AF_INET {
		if len(raw) < sockaddrInSize {
			return netip.AddrPort{}, unix.EINVAL
		}
		fam := binary.LittleEndian.Uint16(raw)
		a := netip.AddrFrom4([4]byte(raw[4:8]))
		if fam != unix.AF_INET && !(unspecOK && fam == unix.AF_UNSPEC) {
			return netip.AddrPort{}, unix.EAFNOSUPPORT
		}
		return netip.AddrPortFrom(a, binary.BigEndian.Uint16(raw[2:])), 0
	}
	if len(raw) < sin6LenRFC2133 {
		return netip.AddrPort{}, unix.EINVAL
	}
	if binary.LittleEndian.Uint16(raw) != unix.AF_INET6 {
		return netip.AddrPort{}, unix.EAFNOSUPPORT
	}
	a := netip.AddrFrom16([16]byte(raw[8:24]))
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(raw[2:])), 0
}

// isLocal says whether the unmapped address a is one of lo's.
func isLocal(a netip.Addr) bool {
	if a.Is4() {
		return a.As4()[0] == 127
	}
	return a == loopback6
}

// route is the route to dst (in the socket's form) as Linux finds it
// with only lo up: the unmapped destination (an unspecified one is the
// loopback address, as ip_route_connect makes it) and the source
// address the socket sends from; ENETUNREACH for any address off lo or
// for IPv4 on an IPV6_V6ONLY socket.
func (s *socket) route(dst netip.Addr) (to, from netip.Addr, e unix.Errno) {
	mapped := dst.Is4In6()
	if mapped && s.in.v6only {
		return to, from, unix.ENETUNREACH
	}
	to = dst.Unmap()
	if to.IsUnspecified() {
		switch {
		case s.in.local.Addr().Unmap().Is4() && !s.in.local.Addr().IsUnspecified():
			to = s.in.local.Addr().Unmap()
		case to.Is4():
			to = loopback4
		default:
			to = loopback6
		}
	}
	if !isLocal(to) {
		return to, from, unix.ENETUNREACH
	}
	from = s.in.local.Addr().Unmap()
	if from.IsUnspecified() || from.Is4() != to.Is4() {
		from = loopback4
		if to.Is6() {
			from = loopback6
		}
	}
	return to, from, 0
}

// addrSpan is the set of local addresses a bound socket takes packets
// for, per IP version: none, one address, or all.
type addrSpan struct {
	v4all, v6all bool
	v4, v6       netip.Addr // the one address, if valid
}

func (s *socket) span() addrSpan {
	a := s.in.local.Addr()
	var sp addrSpan
	switch {
	case s.family == unix.AF_INET && a.IsUnspecified():
		sp.v4all = true
	case s.family == unix.AF_INET:
		sp.v4 = a
	case a.IsUnspecified():
		sp.v6all = true
		sp.v4all = !s.in.v6only
	case a.Is4In6() && a.Unmap().IsUnspecified():
		sp.v4all = true
	case a.Is4In6():
		sp.v4 = a.Unmap()
	default:
		sp.v6 = a
	}
	return sp
}

// overlaps says whether two spans share an address.
func (sp addrSpan) overlaps(o addrSpan) bool {
	v4 := (sp.v4all || sp.v4.IsValid()) && (o.v4all || o.v4.IsValid()) &&
		(sp.v4all || o.v4all || sp.v4 == o.v4)
	v6 := (sp.v6all || sp.v6.IsValid()) && (o.v6all || o.v6.IsValid()) &&
		(sp.v6all || o.v6all || sp.v6 == o.v6)
	return v4 || v6
}

// takes says whether the bound socket s takes packets to the unmapped
// address dst, and how well it matches (an exact address above a
// wildcard, AF_INET above AF_INET6 for IPv4, as compute_score).
func (s *socket) takes(dst netip.Addr) (bool, int) {
	sp := s.span()
	score := 1
	if s.family == unix.AF_INET {
		score++
	}
	if dst.Is4() {
		if sp.v4 == dst {
			return true, score + 4
		}
		return sp.v4all, score
	}
	if sp.v6 == dst {
		return true, score + 4
	}
	return sp.v6all, score
}

// ports is the VM's inet port table: the sockets bound to each port of
// each protocol, made on first use.
func (ns *sockNamespace) portUsers(k inetPortKey) []*socket { return ns.ports[k] }

func (ns *sockNamespace) addPort(k inetPortKey, s *socket) {
	if ns.ports == nil {
		ns.ports = make(map[inetPortKey][]*socket)
	}
	ns.ports[k] = append(ns.ports[k], s)
}

func (ns *sockNamespace) removePort(k inetPortKey, s *socket) {
	users := ns.ports[k]
	for i, o := range users {
		if o == s {
			users = append(users[:i:i], users[i+1:]...)
			break
		}
	}
	if len(users) == 0 {
		delete(ns.ports, k)
	} else {
		ns.ports[k] = users
	}
}

// portKey is s's entry in the port table.
func (s *socket) portKey() inetPortKey { return inetPortKey{s.in.proto, s.in.local.Port()} }

// bindConflict says whether s may not take port at its local address,
// as inet_bind_conflict: another socket on the port whose addresses
// overlap conflicts unless both set SO_REUSEADDR (and, for TCP, it is
// not listening) or both set SO_REUSEPORT with the same owner.
func (s *socket) bindConflict(port uint16) bool {
	sp := s.span()
	for _, o := range s.ns.portUsers(inetPortKey{s.in.proto, port}) {
		if o == s || !sp.overlaps(o.span()) {
			continue
		}
		if s.reuseaddr && o.reuseaddr && (!s.isTCP() || o.state != sockListening) {
			continue
		}
		if s.reuseport && o.reuseport && s.uid == o.uid {
			continue
		}
		return true
	}
	return false
}

// takePort puts s in the port table at port, or at a free ephemeral port
// for 0, as inet_csk_get_port and udp_lib_get_port: EADDRINUSE when it
// conflicts (or no ephemeral port is free).
func (s *socket) takePort(port uint16) unix.Errno {
	if port == 0 {
		n := ephemeralHigh - ephemeralLow + 1
		start := rand.IntN(n)
		for i := range n {
			p := uint16(ephemeralLow + (start+i)%n)
			if len(s.ns.portUsers(inetPortKey{s.in.proto, p})) == 0 {
				port = p
				break
			}
		}
		if port == 0 {
			return unix.EADDRINUSE
		}
	} else if s.bindConflict(port) {
		return unix.EADDRINUSE
	}
	s.in.local = netip.AddrPortFrom(s.in.local.Addr(), port)
	s.ns.addPort(s.portKey(), s)
	s.in.bound = true
	return 0
}

// releasePort takes s out of the port table.
func (s *socket) releasePort() {
	if s.in.bound {
		s.ns.removePort(s.portKey(), s)
		s.in.bound = false
	}
}

// inetBind is inet_bind and inet6_bind: the address checks (EINVAL,
// EAFNOSUPPORT; EADDRNOTAVAIL for an address not lo's; EINVAL for IPv4
// on an IPV6_V6ONLY socket), EACCES for a port under 1024 without
// CAP_NET_BIND_SERVICE, EINVAL for a socket bound or connected, then the
// port. An AF_INET6 socket bound to an IPv6 address other than :: takes
// no IPv4 after (IPV6_V6ONLY reads 1), as Linux's.
func (t *Task) inetBind(s *socket, raw []byte) unix.Errno {
	ap, e := s.parseSockaddr(raw, s.family == unix.AF_INET)
	if e != 0 {
		return e
	}
	if s.family == unix.AF_INET && binary.LittleEndian.Uint16(raw) == unix.AF_UNSPEC && !ap.Addr().IsUnspecified() {
		return unix.EAFNOSUPPORT
	}
	a := ap.Addr()
	if a.Is4In6() && s.in.v6only {
		return unix.EINVAL
	}
	if u := a.Unmap(); !u.IsUnspecified() && !isLocal(u) {
		return unix.EADDRNOTAVAIL
	}
	if p := ap.Port(); p != 0 && p < protSock && !t.cred.capable(unix.CAP_NET_BIND_SERVICE) {
		return unix.EACCES
	}
	if s.state != sockClosed || s.in.bound {
		return unix.EINVAL
	}
	old := s.in.local
	s.in.local = netip.AddrPortFrom(a, 0)
	if e := s.takePort(ap.Port()); e != 0 {
		s.in.local = old
		return e
	}
	s.in.userPort = ap.Port() != 0
	s.in.userAddr = !a.IsUnspecified()
	if s.family == unix.AF_INET6 && !a.IsUnspecified() && !a.Is4In6() {
		s.in.v6only = true
	}
	return 0
}

// autobindInet gives an unbound socket an ephemeral port at its
// wildcard address.
func (s *socket) autobindInet() unix.Errno {
	if s.in.bound {
		return 0
	}
	return s.takePort(0)
}

// inetListen is inet_listen: EINVAL for a socket connected (or
// connecting); an unbound one takes an ephemeral port; EADDRINUSE where
// another socket listens on an overlapping address of the port (unless
// both set SO_REUSEPORT). The backlog is listen's, as for AF_UNIX.
func (t *Task) inetListen(s *socket, backlog uint32) unix.Errno {
	if s.in.proto != unix.IPPROTO_TCP {
		return unix.EOPNOTSUPP
	}
	if s.state == sockEstablished || s.in.connecting || (s.state == sockClosed && s.in.finRcvd) {
		return unix.EINVAL
	}
	if s.state != sockListening {
		if e := s.autobindInet(); e != 0 {
			return e
		}
		sp := s.span()
		for _, o := range s.ns.portUsers(s.portKey()) {
			if o != s && o.state == sockListening && sp.overlaps(o.span()) && !(s.reuseport && o.reuseport && s.uid == o.uid) {
				return unix.EADDRINUSE
			}
		}
	}
	s.maxBacklog = int(min(backlog, sockSomaxconn))
	s.state = sockListening
	s.wq.notify(0)
	t.fdWaitersLookAgain()
	return 0
}

// listenerFor finds the TCP listener that takes a connection to dst
// (unmapped) at port: the best match, as __inet_lookup_listener.
func (ns *sockNamespace) listenerFor(dst netip.Addr, port uint16) *socket {
	var best *socket
	bestScore := 0
	for _, o := range ns.portUsers(inetPortKey{unix.IPPROTO_TCP, port}) {
		if o.state != sockListening || o.dead || o.shutdown&rcvShutdown != 0 {
			continue
		}
		if ok, score := o.takes(dst); ok && score > bestScore {
			best, bestScore = o, score
		}
	}
	return best
}

// inetConnect is inet_stream_connect and tcp_v4_connect (tcp_v6_connect)
// for TCP, inet_dgram_connect for UDP.
func (t *Task) inetConnect(s *socket, f *openFile, raw []byte) unix.Errno {
	if len(raw) < 2 {
		return unix.EINVAL
	}
	if s.in.proto == unix.IPPROTO_UDP {
		return t.udpConnect(s, raw)
	}
	if binary.LittleEndian.Uint16(raw) == unix.AF_UNSPEC {
		return t.tcpDisconnect(s)
	}
	switch {
	case s.in.connecting:
		return t.connectOutcome(s)
	case s.state == sockEstablished:
		return unix.EISCONN
	case s.state == sockListening:
		return unix.EISCONN
	}
	ap, e := s.parseSockaddr(raw, false)
	if e != 0 {
		return e
	}
	to, from, e := s.route(ap.Addr())
	if e != 0 {
		return e
	}
	nonblock := f.flags&unix.O_NONBLOCK != 0
	st := newSockTimer(false, s.sndtimeo)
	defer st.stop()
	var l *socket
	for {
		l = s.ns.listenerFor(to, ap.Port())
		if l == nil || !l.recvqFull() || nonblock {
			break
		}
		// A full backlog drops the SYN, which the client sends again:
		// a blocking connect waits for room.
		if e := t.sockWait(st); e != 0 {
			if e == unix.EAGAIN {
				return unix.ETIMEDOUT
			}
			return e
		}
		if s.state != sockClosed || s.dead {
			return unix.EINVAL
		}
	}
	if !s.in.bound {
		if e := s.takePort(0); e != 0 {
			return unix.EADDRNOTAVAIL
		}
	}
	if s.in.local.Addr().Unmap().IsUnspecified() {
		s.in.local = netip.AddrPortFrom(s.inFamily(from), s.in.local.Port())
	}
	s.in.remote = netip.AddrPortFrom(s.inFamily(to), ap.Port())
	s.in.finRcvd = false
	if l == nil {
		if !nonblock {
			s.tcpClosed()
			return unix.ECONNREFUSED
		}
		s.err = unix.ECONNREFUSED
		s.in.connecting = true
		s.shutdown = shutdownMask
		s.wq.notify(epollErr)
		return unix.EINPROGRESS
	}
	t.joinListener(s, l, to, ap.Port())
	if nonblock {
		s.in.connecting = true
		return unix.EINPROGRESS
	}
	return 0
}

// joinListener makes the connection of s to the listener l: a new socket
// that inherits l's options, connected to s, queued for accept.
func (t *Task) joinListener(s, l *socket, to netip.Addr, port uint16) {
	n := &socket{}
	*n = *l
	n.ino = sockInodes.Add(1)
	n.wq = waitQueue{}
	n.recvq, n.backlog = nil, nil
	n.wmem, n.err, n.shutdown = 0, 0, 0
	n.opts = cloneMap(l.opts)
	in := *l.in
	in.opts = cloneMap(l.in.opts)
	n.in = &in
	n.in.local = netip.AddrPortFrom(n.inFamily(to), port)
	n.in.remote = netip.AddrPortFrom(n.inFamily(s.in.local.Addr().Unmap()), s.in.local.Port())
	n.in.connecting, n.in.finRcvd = false, false
	n.state, n.peer, n.embryo = sockEstablished, s, true
	n.maxBacklog = sockMaxDgramQlen
	s.state, s.peer = sockEstablished, n
	for _, x := range []*socket{n, s} {
		if !x.in.sndbufSet {
			x.sndbuf = tcpSndbufConnected
		}
	}
	s.ns.addPort(n.portKey(), n)
	l.backlog = append(l.backlog, n)
	l.wq.notify(epollIn | epollRdNorm)
	s.wq.notify(epollOut | epollWrNorm)
	t.fdWaitersLookAgain()
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// connectOutcome is a connect after one that said EINPROGRESS: 0 for the
// connection made (once; EISCONN after), its error if SO_ERROR still
// holds it, else ECONNABORTED, which leaves the socket free to connect
// again, as __inet_stream_connect's sock_error path.
func (t *Task) connectOutcome(s *socket) unix.Errno {
	s.in.connecting = false
	if s.state == sockEstablished {
		return 0
	}
	e := s.err
	s.err = 0
	if e == 0 {
		e = unix.ECONNABORTED
	}
	s.shutdown = 0
	s.tcpClosed()
	return e
}

// tcpClosed is tcp_set_state(TCP_CLOSE) for a socket that connected: it
// leaves its peer and the port table (unless the user bound the port;
// getsockname still shows it) and its source address unless bound.
func (s *socket) tcpClosed() {
	s.state, s.peer = sockClosed, nil
	s.in.remote = netip.AddrPort{}
	if !s.in.userAddr {
		s.in.local = netip.AddrPortFrom(anyAddr(s.family), s.in.local.Port())
	}
	if !s.in.userPort {
		s.releasePort()
	}
}

// unbindAuto lets go of what connect bound and the user did not: a
// failed connect leaves the socket as it was (tcp_set_state's
// inet_put_port).
func (s *socket) unbindAuto() {
	if !s.in.userAddr {
		s.in.local = netip.AddrPortFrom(anyAddr(s.family), s.in.local.Port())
	}
	if !s.in.userPort {
		s.releasePort()
		s.in.local = netip.AddrPortFrom(s.in.local.Addr(), 0)
	}
}

// tcpDisconnect is connect with AF_UNSPEC (tcp_disconnect): a connection
// is reset, a listener stops; the socket may connect or listen again.
func (t *Task) tcpDisconnect(s *socket) unix.Errno {
	switch s.state {
	case sockListening:
		for _, e := range s.backlog {
			e.releaseAs(true)
		}
		s.backlog = nil
	case sockEstablished:
		s.resetPeer()
	}
	s.state, s.shutdown, s.peer = sockClosed, 0, nil
	s.in.connecting, s.in.finRcvd = false, false
	s.in.remote = netip.AddrPort{}
	s.wq.notify(0)
	t.fdWaitersLookAgain()
	return 0
}

// resetPeer sends s's peer a reset (RST): it reads what it holds, then
// ECONNRESET (EPIPE where it had the peer's FIN: CLOSE_WAIT), then end of
// file; its sends fail with EPIPE.
func (s *socket) resetPeer() {
	o := s.peer
	if o == nil || o.dead || o.peer != s {
		return
	}
	o.err = unix.ECONNRESET
	if o.in.finRcvd {
		o.err = unix.EPIPE
	}
	o.tcpClosed()
	o.shutdown = shutdownMask
	o.wq.notify(epollErr | epollHup)
}

// udpConnect is inet_dgram_connect: AF_UNSPEC disconnects (a port the
// user did not bind goes back); else the destination's checks, an
// ephemeral port for an unbound socket, the source address, and the peer
// only whose datagrams it then takes.
func (t *Task) udpConnect(s *socket, raw []byte) unix.Errno {
	if binary.LittleEndian.Uint16(raw) == unix.AF_UNSPEC {
		s.state, s.in.remote = sockClosed, netip.AddrPort{}
		s.unbindAuto()
		return 0
	}
	ap, e := s.parseSockaddr(raw, false)
	if e != 0 {
		return e
	}
	to, from, e := s.route(ap.Addr())
	if e != 0 {
		return e
	}
	if e := s.autobindInet(); e != 0 {
		return e
	}
	if s.in.local.Addr().Unmap().IsUnspecified() {
		s.in.local = netip.AddrPortFrom(s.inFamily(from), s.in.local.Port())
	}
	s.in.remote = netip.AddrPortFrom(s.inFamily(to), ap.Port())
	s.state = sockEstablished
	return 0
}

// inetName is getsockname's address: the bound one (the wildcard and
// port 0 while unbound).
func (s *socket) inetName() []byte { return s.sockaddr(s.in.local) }

// inetPeerName is getpeername's: ENOTCONN unless connected (a TCP
// connection the peer ended still names it; a reset one does not).
func (s *socket) inetPeerName() ([]byte, unix.Errno) {
	if s.state != sockEstablished {
		return nil, unix.ENOTCONN
	}
	return s.sockaddr(s.in.remote), 0
}

// inetRelease is the last close of an inet socket: its port goes; a TCP
// connection resets its peer if unread data is left or SO_LINGER is on
// with no time (else the peer sees end of file and its next send is
// reset); a listener resets its unaccepted connections.
func (s *socket) inetRelease(embryo bool) {
	s.releasePort()
	state := s.state
	s.state = sockClosed
	s.shutdown = shutdownMask
	if peer := s.peer; peer != nil && s.isTCP() {
		switch {
		case len(s.recvq) > 0 || embryo || s.linger[0] != 0 && s.linger[1] == 0:
			s.resetPeer()
		case peer.peer == s:
			peer.finReceived()
		}
	}
	for _, m := range s.recvq {
		m.free()
	}
	s.recvq = nil
	if state == sockListening {
		for _, e := range s.backlog {
			e.releaseAs(true)
		}
	}
	s.backlog = nil
	s.wq.notify(0)
}

// tcpPollMask is tcp_poll.
func (s *socket) tcpPollMask() uint32 {
	if s.state == sockListening {
		if len(s.backlog) > 0 {
			return epollIn | epollRdNorm
		}
		return 0
	}
	var m uint32
	if s.shutdown == shutdownMask || s.state == sockClosed {
		m |= epollHup
	}
	if s.shutdown&rcvShutdown != 0 {
		m |= epollIn | epollRdNorm | unix.EPOLLRDHUP
	}
	if len(s.recvq) > 0 {
		m |= epollIn | epollRdNorm
	}
	if s.shutdown&sendShutdown != 0 || s.wmem < s.tcpSendLimit() {
		m |= epollOut | epollWrNorm
	}
	if s.err != 0 {
		m |= epollErr
	}
	return m
}

// udpPollMask is udp_poll (datagram_poll): always writable.
func (s *socket) udpPollMask() uint32 {
	var m uint32
	if s.err != 0 {
		m |= epollErr
	}
	if s.shutdown&rcvShutdown != 0 {
		m |= unix.EPOLLRDHUP | epollIn | epollRdNorm
	}
	if s.shutdown == shutdownMask {
		m |= epollHup
	}
	if len(s.recvq) > 0 {
		m |= epollIn | epollRdNorm
	}
	return m | epollOut | epollWrNorm | unix.EPOLLWRBAND
}

// tcpSendLimit is how much s's sends may have queued unread: its send
// buffer and the peer's receive window, about what Linux's loopback
// holds before a send waits.
func (s *socket) tcpSendLimit() int {
	n := s.sndbuf
	if o := s.peer; o != nil {
		n += o.rcvbuf
	}
	return n
}

// tcpSendError is sk_stream_error: EPIPE (SO_ERROR's error in its place
// if set) with SIGPIPE unless MSG_NOSIGNAL.
func (t *Task) tcpSendError(s *socket, flags uint32, e unix.Errno) uint64 {
	if e == unix.EPIPE && s.err != 0 {
		e = s.err
		s.err = 0
	}
	if e == unix.EPIPE && flags&msgNosignal == 0 {
		t.sockSignalPipe()
	}
	return errno(e)
}

// tcpSend is tcp_sendmsg: an address is ignored; a socket not connected
// reports SO_ERROR or EPIPE; a send after the peer's reset, or once shut
// down for sending, EPIPE; the bytes go in messages of at most 64 KiB,
// each waiting while the send limit is reached. A send to a peer that
// closed succeeds and resets this end (its next send: EPIPE). A wait
// that ends returns the bytes sent so far, if any.
func (t *Task) tcpSend(s *socket, a *sendArgs) uint64 {
	a.ctl.drop()
	if a.flags&msgOOB != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	if s.state != sockEstablished {
		if s.err != 0 {
			e := s.err
			s.err = 0
			return t.tcpSendError(s, a.flags, e)
		}
		return t.tcpSendError(s, a.flags, unix.EPIPE)
	}
	st := newSockTimer(a.flags&msgDontwait != 0, s.sndtimeo)
	defer st.stop()
	total := min(a.total, sockMaxRWCount)
	var sent uint64
	for sent < total || total == 0 {
		if s.err != 0 || s.shutdown&sendShutdown != 0 || s.state != sockEstablished {
			if sent > 0 {
				return sent
			}
			return t.tcpSendError(s, a.flags, unix.EPIPE)
		}
		if total == 0 {
			return 0
		}
		if s.wmem >= s.tcpSendLimit() {
			if e := t.sockWait(st); e != 0 {
				if sent > 0 {
					return sent
				}
				return errno(e)
			}
			continue
		}
		size := min(total-sent, tcpChunk)
		if !t.roomFor(size + sockMsgOverhead) {
			if sent > 0 {
				return sent
			}
			return errno(unix.ENOBUFS)
		}
		buf := make([]byte, size)
		if a.data.move(buf, false) != nil {
			if sent > 0 {
				return sent
			}
			return errno(unix.EFAULT)
		}
		sent += size
		other := s.peer
		if other == nil || other.dead {
			// The peer is gone: its RST answers this segment.
			s.err, s.shutdown = unix.EPIPE, shutdownMask
			s.tcpClosed()
			s.wq.notify(epollErr | epollHup)
			return sent
		}
		m := &sockMsg{data: buf, from: s, charge: int(size) + sockMsgOverhead, cred: noCred}
		s.charge(m)
		other.recvq = append(other.recvq, m)
		other.wq.notify(epollIn | epollRdNorm)
		t.fdWaitersLookAgain() // the reader may take it while this send waits for room
	}
	return sent
}

// tcpRecvCheck is what tcp_recvmsg says before it reads: ENOTCONN for a
// listener.
func (s *socket) tcpRecvCheck() unix.Errno {
	if s.state == sockListening {
		return unix.ENOTCONN
	}
	return 0
}

// tcpRecvEmpty is tcp_recvmsg with nothing (more) to read: end of file
// after the peer's FIN, SO_ERROR, end of file once shut down for
// reading, ENOTCONN for a socket never connected; else it waits (0).
func (s *socket) tcpRecvEmpty() (eof bool, e unix.Errno) {
	if s.in.finRcvd {
		return true, 0
	}
	if s.err != 0 {
		e := s.err
		s.err = 0
		return false, e
	}
	if s.shutdown&rcvShutdown != 0 {
		return true, 0
	}
	if s.state == sockClosed {
		return false, unix.ENOTCONN
	}
	return false, 0
}

// udpSend is udp_sendmsg (udpv6_sendmsg): the destination is the address
// given or the connected peer (EDESTADDRREQ for neither; EINVAL for port
// 0), routed (ENETUNREACH off lo); EMSGSIZE past what one datagram
// carries; an unbound socket takes an ephemeral port. The datagram goes
// to the socket that takes it, is dropped if that socket's receive
// buffer is full, and with none, the sender learns ECONNREFUSED if it
// is connected to that destination.
func (t *Task) udpSend(s *socket, a *sendArgs) uint64 {
	defer a.ctl.drop()
	if len(a.ctl.files) > 0 || a.ctl.cred != nil {
		return errno(unix.EINVAL)
	}
	if a.flags&msgOOB != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	var dst netip.AddrPort
	if len(a.to) > 0 && !(s.family == unix.AF_INET6 && len(a.to) >= 2 && binary.LittleEndian.Uint16(a.to) == unix.AF_UNSPEC) {
		if s.family == unix.AF_INET6 && len(a.to) < 2 {
			return errno(unix.EINVAL)
		}
		var e unix.Errno
		if dst, e = s.parseSockaddr(a.to, true); e != 0 {
			if e == unix.EAFNOSUPPORT && s.family == unix.AF_INET6 {
				e = unix.EINVAL
			}
			return errno(e)
		}
		if dst.Port() == 0 {
			return errno(unix.EINVAL)
		}
	} else {
		if s.state != sockEstablished {
			return errno(unix.EDESTADDRREQ)
		}
		dst = s.in.remote
	}
	to, from, e := s.route(dst.Addr())
	if e != 0 {
		return errno(e)
	}
	maxPayload := uint64(udpMaxPayload6)
	if to.Is4() {
		maxPayload = udpMaxPayload4
	}
	if a.total > maxPayload {
		return errno(unix.EMSGSIZE)
	}
	if s.err != 0 { // sock_alloc_send_pskb's sock_error
		e := s.err
		s.err = 0
		return errno(e)
	}
	if s.shutdown&sendShutdown != 0 {
		return errno(unix.EPIPE)
	}
	if e := s.autobindInet(); e != 0 {
		return errno(unix.EAGAIN)
	}
	if !t.roomFor(a.total + sockMsgOverhead) {
		return errno(unix.ENOBUFS)
	}
	buf := make([]byte, a.total)
	if a.data.move(buf, false) != nil {
		return errno(unix.EFAULT)
	}
	src := netip.AddrPortFrom(from, s.in.local.Port())
	r := s.ns.udpReceiver(to, dst.Port(), src)
	if r == nil {
		if s.state == sockEstablished && s.in.remote.Addr().Unmap() == to && s.in.remote.Port() == dst.Port() {
			s.err = unix.ECONNREFUSED
			s.wq.notify(epollErr)
		}
		return a.total
	}
	if r.queuedCharge() > r.rcvbuf {
		return a.total // dropped, as a full receive buffer drops it
	}
	m := &sockMsg{data: buf, src: r.sockaddr(src), cred: noCred}
	s.hold(m)
	r.recvq = append(r.recvq, m)
	r.wq.notify(epollIn | epollRdNorm)
	return a.total
}

// queuedCharge is what a UDP socket's queue costs its receive buffer
// (sk_rmem_alloc).
func (s *socket) queuedCharge() int {
	n := 0
	for _, m := range s.recvq {
		n += len(m.data) + sockMsgOverhead
	}
	return n
}

// udpReceiver is the UDP socket a datagram from src to dst:port goes to,
// as __udp4_lib_lookup: one that takes dst, and, if connected, only from
// src; the best scored.
func (ns *sockNamespace) udpReceiver(dst netip.Addr, port uint16, src netip.AddrPort) *socket {
	var best *socket
	bestScore := 0
	for _, o := range ns.portUsers(inetPortKey{unix.IPPROTO_UDP, port}) {
		if o.dead {
			continue
		}
		ok, score := o.takes(dst)
		if !ok {
			continue
		}
		if o.state == sockEstablished {
			if o.in.remote.Addr().Unmap() != src.Addr() || o.in.remote.Port() != src.Port() {
				continue
			}
			score += 8
		}
		if score > bestScore {
			best, bestScore = o, score
		}
	}
	return best
}

// finReceived is tcp_fin: s reads end of file after its data; if it
// sent its own FIN already, the connection is over (getpeername:
// ENOTCONN).
func (s *socket) finReceived() {
	s.shutdown |= rcvShutdown
	s.in.finRcvd = true
	if s.shutdown&sendShutdown != 0 {
		s.tcpClosed()
	}
	s.wq.notify(epollIn | epollRdNorm | unix.EPOLLRDHUP)
}

// inetShutdown is inet_shutdown: a socket not connected is ENOTCONN yet
// keeps the directions shut (a reader waiting wakes); a listener shut
// for reading stops listening; a TCP connection shut for sending sends
// its FIN, which the peer reads as end of file.
func (t *Task) inetShutdown(s *socket, mode uint8) unix.Errno {
	defer t.fdWaitersLookAgain()
	switch {
	case s.state == sockListening:
		if mode&rcvShutdown != 0 {
			return t.tcpDisconnect(s)
		}
		return 0
	case s.isTCP() && s.in.connecting && s.state != sockEstablished:
		return t.tcpDisconnect(s)
	}
	var e unix.Errno
	if s.state == sockClosed {
		e = unix.ENOTCONN
	}
	s.shutdown |= mode
	s.wq.notify(0)
	if o := s.peer; o != nil && s.isTCP() && mode&sendShutdown != 0 && o.peer == s {
		o.finReceived()
		if s.in.finRcvd {
			s.tcpClosed() // both FINs: TIME_WAIT, no longer connected
		}
	}
	return e
}
