package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// AF_NETLINK NETLINK_ROUTE, as far as programs ask it about the VM's
// one interface: RTM_GETLINK and RTM_GETADDR dumps answer lo (index 1,
// 127.0.0.1/8 and ::1/128), which glibc's getifaddrs and if_nameindex
// and Go's net.Interfaces read; any other request is answered with an
// NLMSG_ERROR of EOPNOTSUPP. Replies are datagrams on the socket's own
// queue, from the kernel (port 0), carrying the request's sequence
// number and the socket's port id. The interface ioctls (SIOCGIFCONF,
// SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFADDR) on
// any socket answer the same interface.

// Netlink message layout (struct nlmsghdr 16 bytes, ifinfomsg 16,
// ifaddrmsg 8, rtattr 4, each 4-byte aligned) and the loopback device.
const (
	nlmsghdrSize   = 16
	sockaddrNlSize = 12
	loIndex        = 1
	loMTU          = 65536
	// loFlags are lo's IFF_UP, IFF_LOOPBACK, IFF_RUNNING and, in
	// ifinfomsg's 32 bits, IFF_LOWER_UP.
	loFlags      = unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING
	loFlagsLower = loFlags | unix.IFF_LOWER_UP
	ifreqSize    = 40
	ifNameSize   = 16
)

// netlinkCreate checks socket's type and protocol for AF_NETLINK:
// SOCK_RAW or SOCK_DGRAM (else ESOCKTNOSUPPORT), NETLINK_ROUTE only
// (EPROTONOSUPPORT for the others, which mmvm has not).
func netlinkCreate(typ uint32, protocol int32) unix.Errno {
	if typ != unix.SOCK_RAW && typ != unix.SOCK_DGRAM {
		return unix.ESOCKTNOSUPPORT
	}
	if protocol < 0 || protocol >= 32 {
		return unix.EPROTONOSUPPORT
	}
	if protocol != unix.NETLINK_ROUTE {
		return unix.EPROTONOSUPPORT
	}
	return 0
}

// isNetlink says whether s is an AF_NETLINK socket.
func (s *socket) isNetlink() bool { return s.family == unix.AF_NETLINK }

// netlinkName is s's sockaddr_nl: its port id.
func (s *socket) netlinkName() []byte {
	b := make([]byte, sockaddrNlSize)
	binary.LittleEndian.PutUint16(b, unix.AF_NETLINK)
	binary.LittleEndian.PutUint32(b[4:], s.nlPort)
	return b
}

// netlinkAutobind gives s the port id Linux tries first, the process's
// id, or, taken, another.
func (t *Task) netlinkAutobind(s *socket) {
	if s.nlPort != 0 {
		return
	}
	ns := s.ns
	if ns.nlPorts == nil {
		ns.nlPorts = make(map[uint32]*socket)
	}
	port := uint32(t.cfg.PID)
	for next := int32(-4096); ns.nlPorts[port] != nil; next-- {
		port = uint32(next)
	}
	s.nlPort = port
	ns.nlPorts[port] = s
}

// netlinkBind is netlink_bind: EINVAL for a short address or another
// family; port 0 autobinds, another port is taken (EADDRINUSE) unless s
// has one already (EINVAL if it differs).
func (t *Task) netlinkBind(s *socket, raw []byte) unix.Errno {
	if len(raw) < sockaddrNlSize || binary.LittleEndian.Uint16(raw) != unix.AF_NETLINK {
		return unix.EINVAL
	}
	port := binary.LittleEndian.Uint32(raw[4:])
	if s.nlPort != 0 {
		if port != 0 && port != s.nlPort {
			return unix.EINVAL
		}
		return 0
	}
	if port == 0 {
		t.netlinkAutobind(s)
		return 0
	}
	if s.ns.nlPorts == nil {
		s.ns.nlPorts = make(map[uint32]*socket)
	}
	if s.ns.nlPorts[port] != nil {
		return unix.EADDRINUSE
	}
	s.nlPort = port
	s.ns.nlPorts[port] = s
	return 0
}

// netlinkRelease lets go of s's port id.
func (s *socket) netlinkRelease() {
	if s.nlPort != 0 && s.ns.nlPorts[s.nlPort] == s {
		delete(s.ns.nlPorts, s.nlPort)
	}
}

// netlinkSend is netlink_sendmsg to the kernel: the requests in the
// message are answered at once, onto s's queue.
func (t *Task) netlinkSend(s *socket, a *sendArgs) uint64 {
	defer a.ctl.drop()
	if a.flags&msgOOB != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	if len(a.to) > 0 {
		if len(a.to) < sockaddrNlSize || binary.LittleEndian.Uint16(a.to) != unix.AF_NETLINK {
			return errno(unix.EINVAL)
		}
		if binary.LittleEndian.Uint32(a.to[4:]) != 0 {
			return errno(unix.ECONNREFUSED) // no other netlink socket to reach
		}
	}
	if a.total > uint64(s.sndbuf-32) {
		return errno(unix.EMSGSIZE)
	}
	buf := make([]byte, a.total)
	if a.data.move(buf, false) != nil {
		return errno(unix.EFAULT)
	}
	t.netlinkAutobind(s)
	for off := 0; off+nlmsghdrSize <= len(buf); {
		n := int(binary.LittleEndian.Uint32(buf[off:]))
		if n < nlmsghdrSize || off+n > len(buf) {
			break
		}
		s.netlinkAnswer(buf[off : off+n])
		off += (n + 3) &^ 3
	}
	s.wq.notify(epollIn | epollRdNorm)
	return a.total
}

// nlMsg appends one netlink message of type typ to b.
func nlMsg(b []byte, typ, flags uint16, seq, port uint32, body []byte) []byte {
	h := make([]byte, nlmsghdrSize)
	binary.LittleEndian.PutUint32(h, uint32(nlmsghdrSize+len(body)))
	binary.LittleEndian.PutUint16(h[4:], typ)
	binary.LittleEndian.PutUint16(h[6:], flags)
	binary.LittleEndian.PutUint32(h[8:], seq)
	binary.LittleEndian.PutUint32(h[12:], port)
	b = append(append(b, h...), body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rtAttr appends an rtattr of type typ to b.
func rtAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// loLink is lo's RTM_NEWLINK body: ifinfomsg and its name, MTU, queue
// length, state and addresses.
func loLink() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[2:], unix.ARPHRD_LOOPBACK)
	binary.LittleEndian.PutUint32(b[4:], loIndex)
	binary.LittleEndian.PutUint32(b[8:], loFlagsLower)
	b = rtAttr(b, unix.IFLA_IFNAME, []byte("lo\x00"))
	b = rtAttr(b, unix.IFLA_TXQLEN, binary.LittleEndian.AppendUint32(nil, 1000))
	b = rtAttr(b, unix.IFLA_OPERSTATE, []byte{0}) // IF_OPER_UNKNOWN, as lo's
	b = rtAttr(b, unix.IFLA_MTU, binary.LittleEndian.AppendUint32(nil, loMTU))
	b = rtAttr(b, unix.IFLA_ADDRESS, make([]byte, 6))
	b = rtAttr(b, unix.IFLA_BROADCAST, make([]byte, 6))
	return b
}

// loAddrs are lo's RTM_NEWADDR bodies of family (AF_UNSPEC: both).
func loAddrs(family byte) [][]byte {
	var out [][]byte
	if family == unix.AF_UNSPEC || family == unix.AF_INET {
		b := []byte{unix.AF_INET, 8, unix.IFA_F_PERMANENT, unix.RT_SCOPE_HOST, loIndex, 0, 0, 0}
		b = rtAttr(b, unix.IFA_ADDRESS, []byte{127, 0, 0, 1})
		b = rtAttr(b, unix.IFA_LOCAL, []byte{127, 0, 0, 1})
		b = rtAttr(b, unix.IFA_LABEL, []byte("lo\x00"))
		out = append(out, b)
	}
	if family == unix.AF_UNSPEC || family == unix.AF_INET6 {
		b := []byte{unix.AF_INET6, 128, unix.IFA_F_PERMANENT, unix.RT_SCOPE_HOST, loIndex, 0, 0, 0}
		one := loopback6.As16()
		b = rtAttr(b, unix.IFA_ADDRESS, one[:])
		out = append(out, b)
	}
	return out
}

// netlinkAnswer queues the reply to one request: a dump's messages and
// NLMSG_DONE, an NLMSG_ERROR for what mmvm does not serve, and an
// acknowledgment where asked.
func (s *socket) netlinkAnswer(req []byte) {
	typ := binary.LittleEndian.Uint16(req[4:])
	flags := binary.LittleEndian.Uint16(req[6:])
	seq := binary.LittleEndian.Uint32(req[8:])
	var family byte
	if len(req) > nlmsghdrSize {
		family = req[nlmsghdrSize]
	}
	var out []byte
	dump := flags&unix.NLM_F_DUMP == unix.NLM_F_DUMP
	switch {
	case typ < unix.NLMSG_MIN_TYPE:
		return // control messages are ignored, as netlink_rcv_skb does
	case typ == unix.RTM_GETLINK && dump:
		if family == unix.AF_UNSPEC || family == unix.AF_PACKET {
			out = nlMsg(out, unix.RTM_NEWLINK, unix.NLM_F_MULTI, seq, s.nlPort, loLink())
		}
	case typ == unix.RTM_GETADDR && dump:
		for _, a := range loAddrs(family) {
			out = nlMsg(out, unix.RTM_NEWADDR, unix.NLM_F_MULTI, seq, s.nlPort, a)
		}
	default:
		s.netlinkQueue(nlMsg(nil, unix.NLMSG_ERROR, 0, seq, s.nlPort, nlError(unix.EOPNOTSUPP, req)))
		return
	}
	out = nlMsg(out, unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, s.nlPort, make([]byte, 4))
	s.netlinkQueue(out)
	if flags&unix.NLM_F_ACK != 0 {
		s.netlinkQueue(nlMsg(nil, unix.NLMSG_ERROR, 0, seq, s.nlPort, nlError(0, req)))
	}
}

// nlError is an nlmsgerr: the negative errno (0 for an acknowledgment)
// and the request's header.
func nlError(e unix.Errno, req []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(-int32(e)))
	return append(b, req[:nlmsghdrSize]...)
}

// netlinkQueue puts one datagram from the kernel on s's queue; past
// its receive buffer the reply is dropped and the reader learns ENOBUFS,
// as a netlink overrun.
func (s *socket) netlinkQueue(b []byte) {
	if s.queuedCharge() > s.rcvbuf {
		s.err = unix.ENOBUFS
		return
	}
	from := make([]byte, sockaddrNlSize)
	binary.LittleEndian.PutUint16(from, unix.AF_NETLINK)
	s.recvq = append(s.recvq, &sockMsg{data: b, src: from, cred: noCred})
}

// ifreqIoctl serves the interface ioctls on a socket: the struct ifreq
// (40 bytes: a 16-byte name, then the value) names lo, or its index
// (ENODEV for any other); SIOCGIFCONF lists lo's IPv4 address. It says
// false for a request that is none of them.
func (t *Task) ifreqIoctl(req uint64, arg arch.Addr) (uint64, bool) {
	switch req {
	case unix.SIOCGIFCONF:
		return t.ifconf(arg), true
	case unix.SIOCGIFINDEX, unix.SIOCGIFNAME, unix.SIOCGIFFLAGS, unix.SIOCGIFMTU, unix.SIOCGIFADDR:
	default:
		return 0, false
	}
	ifr := make([]byte, ifreqSize)
	if _, err := t.cfg.Memory.CopyIn(arg, ifr); err != nil {
		return errno(unix.EFAULT), true
	}
	if req == unix.SIOCGIFNAME {
		if int32(binary.LittleEndian.Uint32(ifr[ifNameSize:])) != loIndex {
			return errno(unix.ENODEV), true
		}
		clear(ifr[:ifNameSize])
		copy(ifr, "lo")
		return t.copyOutAll(arg, ifr), true
	}
	name := ifr[:ifNameSize]
	if i := indexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	if string(name) != "lo" {
		return errno(unix.ENODEV), true
	}
	v := ifr[ifNameSize:]
	clear(v)
	switch req {
	case unix.SIOCGIFINDEX:
		binary.LittleEndian.PutUint32(v, loIndex)
	case unix.SIOCGIFFLAGS:
		binary.LittleEndian.PutUint16(v, loFlags)
	case unix.SIOCGIFMTU:
		binary.LittleEndian.PutUint32(v, loMTU)
	case unix.SIOCGIFADDR:
		binary.LittleEndian.PutUint16(v, unix.AF_INET)
		copy(v[4:], []byte{127, 0, 0, 1})
	}
	return t.copyOutAll(arg, ifr), true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// ifconf is SIOCGIFCONF: struct ifconf (a length, then a buffer
// pointer) gets lo's one IPv4 address as an ifreq if it fits; a null
// buffer asks only for the length.
func (t *Task) ifconf(arg arch.Addr) uint64 {
	var ic [16]byte
	if _, err := t.cfg.Memory.CopyIn(arg, ic[:]); err != nil {
		return errno(unix.EFAULT)
	}
	n := int32(binary.LittleEndian.Uint32(ic[:]))
	buf := arch.Addr(binary.LittleEndian.Uint64(ic[8:]))
	written := int32(ifreqSize)
	if buf != 0 {
		written = 0
		if n >= ifreqSize {
			ifr := make([]byte, ifreqSize)
			copy(ifr, "lo")
			binary.LittleEndian.PutUint16(ifr[ifNameSize:], unix.AF_INET)
			copy(ifr[ifNameSize+4:], []byte{127, 0, 0, 1})
			if _, err := t.cfg.Memory.CopyOut(buf, ifr); err != nil {
				return errno(unix.EFAULT)
			}
			written = ifreqSize
		}
	}
	binary.LittleEndian.PutUint32(ic[:], uint32(written))
	return t.copyOutAll(arg, ic[:4])
}

// netlinkConnect is netlink_connect: AF_UNSPEC forgets the destination;
// otherwise EINVAL for another family or a short address, and an unbound
// socket takes a port id. Only the kernel (port 0) is there to reach.
func (t *Task) netlinkConnect(s *socket, raw []byte) unix.Errno {
	if len(raw) < 2 {
		return unix.EINVAL
	}
	fam := binary.LittleEndian.Uint16(raw)
	if fam == unix.AF_UNSPEC {
		return 0
	}
	if fam != unix.AF_NETLINK || len(raw) < sockaddrNlSize {
		return unix.EINVAL
	}
	t.netlinkAutobind(s)
	return 0
}
