package syscalls

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Socket names: bind, listen, connect, accept, getsockname and
// getpeername. A sockaddr_un is sa_family (2 bytes) and sun_path (108);
// a name is a path when sun_path starts with a byte other than NUL (the
// path ends at the first NUL, and the name getsockname returns is the
// path and its NUL), else an abstract name, every byte of the given
// length counting.

const (
	// sunPathOff is offsetof(struct sockaddr_un, sun_path).
	sunPathOff = 2
	// sockaddrUnSize is sizeof(struct sockaddr_un).
	sockaddrUnSize = 110
	// sockaddrStorageSize is sizeof(struct sockaddr_storage), the most
	// any call reads of an address.
	sockaddrStorageSize = 128
)

// sockAddrIn reads the address of length addrlen at addr, as
// move_addr_to_kernel: EINVAL for a length past sockaddr_storage (or
// negative), EFAULT for an unreadable one. A zero length reads nothing.
func (p *Process) sockAddrIn(addr arch.Addr, addrlen uint64) ([]byte, unix.Errno) {
	n := int32(addrlen)
	if n < 0 || n > sockaddrStorageSize {
		return nil, unix.EINVAL
	}
	b := make([]byte, n)
	if n == 0 {
		return b, 0
	}
	if _, err := p.cfg.Memory.CopyIn(addr, b); err != nil {
		return nil, unix.EFAULT
	}
	return b, 0
}

// unixName checks a sockaddr_un as unix_validate_addr (EINVAL for a
// length not past sun_path's start or past the struct, or another
// family) and returns the name it gives: a path's bytes up to its first
// NUL, with a NUL, or an abstract name's bytes.
func unixName(raw []byte) ([]byte, unix.Errno) {
	if len(raw) <= sunPathOff || len(raw) > sockaddrUnSize || binary.LittleEndian.Uint16(raw) != unix.AF_UNIX {
		return nil, unix.EINVAL
	}
	sun := raw[sunPathOff:]
	if sun[0] == 0 {
		return bytes.Clone(sun), 0
	}
	if i := bytes.IndexByte(sun, 0); i >= 0 {
		sun = sun[:i]
	}
	return append(bytes.Clone(sun), 0), 0
}

// sockAddrOut is the sockaddr_un of name: sa_family alone for none.
func sockAddrOut(name *sockName) []byte {
	b := []byte{unix.AF_UNIX, 0}
	if name != nil {
		b = append(b, name.path...)
	}
	return b
}

// putSockAddr writes addr to the guest as move_addr_to_user: it reads
// the buffer's length at lenAddr (EFAULT; EINVAL if negative), writes as
// much of addr as fits and the whole length back.
func (p *Process) putSockAddr(addr []byte, buf, lenAddr arch.Addr) unix.Errno {
	var lb [4]byte
	if _, err := p.cfg.Memory.CopyIn(lenAddr, lb[:]); err != nil {
		return unix.EFAULT
	}
	n := int32(binary.LittleEndian.Uint32(lb[:]))
	if n < 0 {
		return unix.EINVAL
	}
	if k := min(int(n), len(addr)); k > 0 {
		if _, err := p.cfg.Memory.CopyOut(buf, addr[:k]); err != nil {
			return unix.EFAULT
		}
	}
	putU32(lb[:], uint32(len(addr)))
	if _, err := p.cfg.Memory.CopyOut(lenAddr, lb[:]); err != nil {
		return unix.EFAULT
	}
	return 0
}

// lookupSocket finds the socket of type typ bound to name, as
// unix_find_other: a path's walk errors (ENOENT, ENOTDIR, ...), EACCES
// for a tmpfs node the caller may not write, then ECONNREFUSED for a file
// that is no socket node or one no socket is bound to now, EPROTOTYPE for
// a socket of another type; an abstract name no socket of that type has,
// ECONNREFUSED.
func (t *Task) lookupSocket(name []byte, typ uint32) (*socket, unix.Errno) {
	p := t.Process
	if name[0] == 0 {
		s := p.sockNamespace().names[sockKey{typ, string(name)}]
		if s == nil {
			return nil, unix.ECONNREFUSED
		}
		return s, 0
	}
	abs, e := p.guestPath(atFDCWD, string(name[:len(name)-1]))
	if e != 0 {
		return nil, e
	}
	n, e := p.nodeOf(abs, true)
	if e != 0 {
		return nil, e
	}
	if n != nil && n.tmp != nil {
		st := tmpStat(n)
		if e := t.permissionOf(n, &st, mayWrite); e != 0 {
			return nil, e
		}
	}
	if n == nil || n.kind != nodeSocket || n.sock == nil {
		return nil, unix.ECONNREFUSED
	}
	if n.sock.typ != typ {
		return nil, unix.EPROTOTYPE
	}
	return n.sock, 0
}

func sysBind(t *Task, a *[6]uint64) uint64 {
	s, _, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	raw, e := t.sockAddrIn(arch.Addr(a[1]), a[2])
	if e != 0 {
		return errno(e)
	}
	if s.in != nil {
		return errno0(t.inetBind(s, raw))
	}
	if s.isNetlink() {
		return errno0(t.netlinkBind(s, raw))
	}
	return errno0(t.bind(s, raw))
}

// bind is unix_bind: a bare sa_family autobinds (nothing for a bound
// socket); a path makes a socket node (EADDRINUSE for a name that
// exists, EROFS outside a tmpfs, the walk's errors), an abstract name
// takes it (EADDRINUSE if taken); a socket bound already is EINVAL.
func (t *Task) bind(s *socket, raw []byte) unix.Errno {
	if len(raw) == sunPathOff && binary.LittleEndian.Uint16(raw) == unix.AF_UNIX {
		return s.autobind()
	}
	name, e := unixName(raw)
	if e != 0 {
		return e
	}
	if name[0] == 0 {
		if s.name != nil {
			return unix.EINVAL
		}
		k := sockKey{s.typ, string(name)}
		if s.ns.names[k] != nil {
			return unix.EADDRINUSE
		}
		s.ns.names[k] = s
		s.name = &sockName{path: name}
		return 0
	}
	pn, e := t.parentOf(atFDCWD, string(name[:len(name)-1]))
	if e != 0 {
		return e
	}
	if e := t.createIn(pn, false); e != 0 {
		if e == unix.EEXIST {
			return unix.EADDRINUSE
		}
		return e
	}
	if e := t.mayCreateIn(pn.node); e != 0 {
		return e
	}
	if s.name != nil {
		return unix.EINVAL
	}
	n, e := t.tmpCreate(&t.cred, pn.node, pn.last, nodeSocket, 0o777)
	if e != 0 {
		return e
	}
	n.sock = s
	s.name = &sockName{path: name, node: n}
	return 0
}

// sysListen is unix_listen: EOPNOTSUPP for a datagram socket, EINVAL
// unbound or connected; the backlog is taken as unsigned and bounded by
// somaxconn, and the caller's ids become what connect gives its peers.
func sysListen(t *Task, a *[6]uint64) uint64 {
	s, _, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if s.in != nil {
		return errno0(t.inetListen(s, uint32(a[1])))
	}
	if s.isNetlink() {
		return errno(unix.EOPNOTSUPP)
	}
	if s.typ == unix.SOCK_DGRAM {
		return errno(unix.EOPNOTSUPP)
	}
	if s.name == nil || s.state == sockEstablished {
		return errno(unix.EINVAL)
	}
	backlog := uint32(a[1])
	if backlog > sockSomaxconn {
		backlog = sockSomaxconn
	}
	s.maxBacklog = int(backlog)
	s.state = sockListening
	s.peerCred, s.hasPeerCred = t.peerCreds(), true
	s.wq.notify(0)
	t.fdWaitersLookAgain() // a connect waiting for room looks again
	return 0
}

func sysConnect(t *Task, a *[6]uint64) uint64 {
	s, f, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	raw, e := t.sockAddrIn(arch.Addr(a[1]), a[2])
	if e != 0 {
		return errno(e)
	}
	if s.in != nil {
		return errno0(t.inetConnect(s, f, raw))
	}
	if s.isNetlink() {
		return errno0(t.netlinkConnect(s, raw))
	}
	if s.typ == unix.SOCK_DGRAM {
		return errno0(t.dgramConnect(s, raw))
	}
	return errno0(t.streamConnect(s, f, raw))
}

// streamConnect is unix_stream_connect: it finds the listener, waits
// while its backlog is full (EAGAIN without waiting), and joins s to a
// new socket queued on the listener for accept. The state is checked
// only once the listener is found: EISCONN connected, EINVAL listening.
func (t *Task) streamConnect(s *socket, f *openFile, raw []byte) unix.Errno {
	name, e := unixName(raw)
	if e != 0 {
		return e
	}
	if s.passcred && s.name == nil {
		if e := s.autobind(); e != 0 {
			return e
		}
	}
	st := newSockTimer(f.flags&unix.O_NONBLOCK != 0, s.sndtimeo)
	defer st.stop()
	for {
		other, e := t.lookupSocket(name, s.typ)
		if e != 0 {
			return e
		}
		if other.state != sockListening || other.shutdown&rcvShutdown != 0 {
			return unix.ECONNREFUSED
		}
		if other.recvqFull() {
			if e := t.sockWait(st); e != 0 {
				return e
			}
			continue
		}
		switch s.state {
		case sockEstablished:
			return unix.EISCONN
		case sockListening:
			return unix.EINVAL
		}
		n := t.newSocket(s.typ)
		n.peer, n.state, n.embryo = s, sockEstablished, true
		n.peerCred, n.hasPeerCred = t.peerCreds(), true
		n.name = other.name
		s.peerCred, s.hasPeerCred = other.peerCred, other.hasPeerCred
		s.state, s.peer = sockEstablished, n
		other.backlog = append(other.backlog, n)
		other.wq.notify(epollIn | epollRdNorm)
		t.fdWaitersLookAgain()
		return 0
	}
}

// dgramConnect is unix_dgram_connect: AF_UNSPEC disconnects; any other
// name sets the peer sends go to (EPERM if that socket is connected to
// another). Leaving a peer drops what s holds from it, and tells it
// ECONNRESET where it was connected back to s.
func (t *Task) dgramConnect(s *socket, raw []byte) unix.Errno {
	if len(raw) < sunPathOff {
		return unix.EINVAL
	}
	var other *socket
	if binary.LittleEndian.Uint16(raw) != unix.AF_UNSPEC {
		name, e := unixName(raw)
		if e != 0 {
			return e
		}
		if s.passcred && s.name == nil {
			if e := s.autobind(); e != 0 {
				return e
			}
		}
		other, e = t.lookupSocket(name, s.typ)
		if e != 0 {
			return e
		}
		if !other.maySendFrom(s) {
			return unix.EPERM
		}
		s.state, other.state = sockEstablished, sockEstablished
	}
	old := s.peer
	s.peer = other
	if other == nil {
		s.state = sockClosed
	}
	if old != nil && old != other {
		s.dgramDisconnected(old)
		if old.peer == nil {
			old.state = sockClosed
		}
	}
	s.wq.notify(epollOut | epollWrNorm)
	t.fdWaitersLookAgain()
	return 0
}

// maySendFrom is unix_may_send: s takes datagrams from anyone while it
// has no peer, else only from its peer.
func (s *socket) maySendFrom(from *socket) bool { return s.peer == nil || s.peer == from }

// dgramDisconnected is unix_dgram_disconnected: s, which left old, drops
// its queue, and old, if alive and connected to s, gets ECONNRESET.
func (s *socket) dgramDisconnected(old *socket) {
	if len(s.recvq) == 0 {
		return
	}
	for _, m := range s.recvq {
		m.free()
	}
	s.recvq = nil
	if !old.dead && old.peer == s {
		old.err = unix.ECONNRESET
		old.wq.notify(epollErr)
	}
}

func sysAccept(t *Task, a *[6]uint64) uint64 {
	return t.accept(a[0], arch.Addr(a[1]), arch.Addr(a[2]), 0)
}

func sysAccept4(t *Task, a *[6]uint64) uint64 {
	return t.accept(a[0], arch.Addr(a[1]), arch.Addr(a[2]), uint32(a[3]))
}

// accept is unix_accept behind __sys_accept4: EINVAL for flags other
// than SOCK_NONBLOCK and SOCK_CLOEXEC; EOPNOTSUPP for a datagram socket,
// EINVAL for one not listening (or shut down for reading while it
// waits); it waits for a connection (EAGAIN without waiting), writes the
// peer's name if asked, then installs the new socket.
func (t *Task) accept(fd uint64, addr, lenAddr arch.Addr, flags uint32) uint64 {
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return errno(unix.EINVAL)
	}
	s, f, e := t.socketOf(fd)
	if e != 0 {
		return errno(e)
	}
	if _, e := t.lowestFree(0); e != 0 {
		return errno(e)
	}
	if s.typ == unix.SOCK_DGRAM || s.isNetlink() {
		return errno(unix.EOPNOTSUPP)
	}
	if s.state != sockListening {
		return errno(unix.EINVAL)
	}
	st := newSockTimer(f.flags&unix.O_NONBLOCK != 0, s.rcvtimeo)
	defer st.stop()
	for len(s.backlog) == 0 {
		if s.err != 0 {
			e := s.err
			s.err = 0
			return errno(e)
		}
		if s.shutdown&rcvShutdown != 0 {
			return errno(unix.EINVAL)
		}
		if e := t.sockWait(st); e != 0 {
			return errno(e)
		}
		if s.state != sockListening {
			return errno(unix.EINVAL)
		}
	}
	n := s.backlog[0]
	s.backlog = s.backlog[1:]
	n.embryo = false
	n.passcred = s.passcred
	t.fdWaitersLookAgain() // a connect waiting for room looks again
	if addr != 0 {
		if e := t.putSockAddr(n.acceptedPeerName(), addr, lenAddr); e != 0 {
			n.release()
			return errno(e)
		}
	}
	nfd, e := t.lowestFree(0)
	if e != 0 {
		n.release()
		return errno(e)
	}
	t.install(nfd, sockFile(n, flags), flags&unix.SOCK_CLOEXEC != 0)
	return uint64(nfd)
}

// acceptedPeerName is the address accept writes of a new connection's
// peer.
func (s *socket) acceptedPeerName() []byte {
	if s.in != nil {
		return s.sockaddr(s.in.remote)
	}
	var peerName *sockName
	if s.peer != nil {
		peerName = s.peer.name
	}
	return sockAddrOut(peerName)
}

func sysGetsockname(t *Task, a *[6]uint64) uint64 {
	s, _, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if s.in != nil {
		return errno0(t.putSockAddr(s.inetName(), arch.Addr(a[1]), arch.Addr(a[2])))
	}
	if s.isNetlink() {
		return errno0(t.putSockAddr(s.netlinkName(), arch.Addr(a[1]), arch.Addr(a[2])))
	}
	return errno0(t.putSockAddr(sockAddrOut(s.name), arch.Addr(a[1]), arch.Addr(a[2])))
}

// sysGetpeername is ENOTCONN for a socket with no peer; a peer that has
// closed still names it, as Linux keeps the pointer.
func sysGetpeername(t *Task, a *[6]uint64) uint64 {
	s, _, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if s.in != nil {
		name, e := s.inetPeerName()
		if e != 0 {
			return errno(e)
		}
		return errno0(t.putSockAddr(name, arch.Addr(a[1]), arch.Addr(a[2])))
	}
	if s.isNetlink() {
		kernel := make([]byte, sockaddrNlSize) // its peer is the kernel
		binary.LittleEndian.PutUint16(kernel, unix.AF_NETLINK)
		return errno0(t.putSockAddr(kernel, arch.Addr(a[1]), arch.Addr(a[2])))
	}
	peer := s.peer
	if peer == nil {
		return errno(unix.ENOTCONN)
	}
	return errno0(t.putSockAddr(sockAddrOut(peer.name), arch.Addr(a[1]), arch.Addr(a[2])))
}
