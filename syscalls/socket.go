package syscalls

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// AF_UNIX sockets, entirely inside the VM, with Linux's net/unix
// semantics: socket and socketpair make them (SOCK_STREAM, SOCK_DGRAM,
// SOCK_SEQPACKET); bind names them in a tmpfs (a socket node, as a FIFO is
// a node: fifo.go) or in the abstract namespace (a leading NUL), or gives
// them an autobind name; listen, connect and accept join a stream or
// seqpacket pair through a listener's backlog; a datagram socket sends to
// a name or to the peer connect set. No host socket is made for the
// guest. AF_INET and AF_INET6 on the VM's loopback network
// (socketinet.go) and AF_NETLINK's NETLINK_ROUTE (socketnetlink.go) ride
// the same queues; every other family is EAFNOSUPPORT, what a kernel
// built without it answers.
//
// A socket is an anon file (anon.go): reads and writes, readv and writev,
// poll, select and epoll reach it through anonFile, and the socket calls
// find it by type. Each message a send makes is a sockMsg on the
// receiver's queue, charged to the sender's send buffer until it is read
// whole, as Linux charges an skb's truesize to sk_wmem_alloc: a blocking
// send waits while the charge is at or past SO_SNDBUF; a stream socket is
// writable for poll while its charge is at most a quarter of it
// (unix_writable). A datagram sent to a socket that is not connected back
// to the sender also waits while the receiver holds more than
// net.unix.max_dgram_qlen of them. Stream reads join messages, stopping
// after one that carried fds; datagram and seqpacket reads take one
// message each. SCM_RIGHTS carries open file descriptions (each holds a
// reference while in flight; a socket sent over itself is not collected,
// as Linux's garbage collector would), SCM_CREDENTIALS the sender's ids.
//
// Every socket, name table and message is guarded by the tree lock, as
// pipes are: a blocked call waits (Task.block) on the tree's fd change
// channel, which every change closes (fdWaitersLookAgain), and each
// socket's waitQueue tells its epoll items. MSG_OOB is not served
// (EOPNOTSUPP, Linux without CONFIG_AF_UNIX_OOB).

// Socket types, flags and limits as Linux has them.
const (
	sockTypeMask = 0xf
	// sockMax is SOCK_MAX: types at or past it are EINVAL.
	sockMax = 11
	// nproto is NPROTO: families at or past it are EAFNOSUPPORT.
	nproto = 46

	// sockWmemDefault and sockWmemMax are net.core.wmem_default and
	// wmem_max (rmem the same), Linux's defaults.
	sockWmemDefault = 212992
	sockWmemMax     = 212992
	// sockMinSndbuf and sockMinRcvbuf are SOCK_MIN_SNDBUF and
	// SOCK_MIN_RCVBUF.
	sockMinSndbuf = 4608
	sockMinRcvbuf = 2304
	// sockMaxDgramQlen is net.unix.max_dgram_qlen.
	sockMaxDgramQlen = 10
	// sockSomaxconn is net.core.somaxconn.
	sockSomaxconn = 4096
	// sockMsgOverhead is what each message costs the sender's buffer
	// beyond its bytes, about an skb's truesize overhead.
	sockMsgOverhead = 576
	// sockStreamChunk is the most one stream message holds
	// (SKB_MAX_HEAD(0) + UNIX_SKB_FRAGS_SZ).
	sockStreamChunk = 3776 + 32768
)

// Shutdown bits (sk_shutdown).
const (
	rcvShutdown  = 1
	sendShutdown = 2
	shutdownMask = 3
)

// sockState is a socket's sk_state as AF_UNIX uses it.
type sockState int

const (
	sockClosed      sockState = iota // TCP_CLOSE: unconnected
	sockListening                    // TCP_LISTEN
	sockEstablished                  // TCP_ESTABLISHED
)

// ucred is struct ucred: pid, uid, gid.
type ucred struct {
	pid      int32
	uid, gid uint32
}

// noCred is what a message sent with no credentials shows (pid 0, the
// overflow ids), and SO_PEERCRED of a socket that has no peer.
var noCred = ucred{pid: 0, uid: 65534, gid: 65534}

// sockName is a bound address: the bytes of sun_path getsockname returns
// (a path's with its NUL; an abstract name's, leading NUL included) and,
// for a path, the socket node it made.
type sockName struct {
	path []byte
	node *node
}

// socket is one AF_UNIX socket (Linux's unix_sock). Guarded by the tree
// lock.
type socket struct {
	typ uint32
	// family is AF_UNIX, AF_INET or AF_INET6; in is an inet socket's
	// addresses and state (socketinet.go), nil for AF_UNIX.
	family uint16
	in     *inetSock
	// nlPort is an AF_NETLINK socket's port id (socketnetlink.go), 0
	// while unbound.
	nlPort uint32
	ino    uint64
	state  sockState
	// peer is a connected socket's other end (stream, seqpacket) or a
	// datagram socket's default destination.
	peer *socket
	// name is the bound address; nil while unbound.
	name *sockName
	// ns is the VM's abstract namespace, where name may be.
	ns *sockNamespace
	// recvq are the messages sent to it, oldest first; a listener's
	// holds none, its backlog the embryo sockets connect made.
	recvq   []*sockMsg
	backlog []*socket
	// maxBacklog is listen's backlog, or max_dgram_qlen for a datagram
	// receiver (sk_max_ack_backlog).
	maxBacklog int
	// wmem is the charge of its messages not yet read (sk_wmem_alloc).
	wmem int
	// held is the VM's count that the messages it sends are held
	// against while queued (held.go).
	held *heldBytes
	// sndbuf and rcvbuf are SO_SNDBUF and SO_RCVBUF.
	sndbuf, rcvbuf int
	shutdown       uint8
	// err is SO_ERROR (sk_err).
	err unix.Errno
	// passcred, reuseaddr and linger are the options of those names.
	passcred, reuseaddr, reuseport bool
	linger                         [2]int32
	// opts are the other options set (socketopt.go).
	opts map[int32]int32
	// rcvtimeo and sndtimeo: 0 for no limit, negative for a call that
	// may not wait at all.
	rcvtimeo, sndtimeo time.Duration
	// peerCred is SO_PEERCRED; hasPeerCred false shows noCred's pid 0
	// and ids of -1.
	peerCred    ucred
	hasPeerCred bool
	// uid and gid own its inode (fstat).
	uid, gid uint32
	// dead: released; sends to it fail. A connected socket's peer
	// stays set when the peer dies, as Linux's unix_peer does.
	dead bool
	// embryo: made by connect, not yet accepted.
	embryo bool
	wq     waitQueue
}

// sockMsg is one message (an skb).
type sockMsg struct {
	data []byte
	// off is how much of a stream message has been read.
	off int
	// from is the sender, whose buffer charge is paid back when the
	// message goes; its name is the address recvfrom reports.
	from   *socket
	charge int
	// held is the VM's count the message is charged to while queued,
	// its data and sockMsgOverhead (held.go); nil for one charged to
	// nothing (netlink's answers).
	held *heldBytes
	// src is a UDP datagram's source address as its receiver's family
	// writes it (recvfrom), nil for the others.
	src []byte
	// files are SCM_RIGHTS descriptions in flight, each holding a
	// reference.
	files []*openFile
	cred  ucred
}

// sockNamespace is the VM's abstract socket names, by type and name.
type sockNamespace struct {
	names map[sockKey]*socket
	// ports are the inet sockets bound to each port (socketinet.go),
	// made on first use; nlPorts the netlink sockets by port id
	// (socketnetlink.go).
	ports   map[inetPortKey][]*socket
	nlPorts map[uint32]*socket
}

type sockKey struct {
	typ  uint32
	name string
}

// sockInodes numbers sockets for fstat and /proc/self/fd, across all
// Processes.
var sockInodes atomic.Uint64

// sockNamespace returns the tree's abstract namespace, made on first use.
func (p *Process) sockNamespace() *sockNamespace {
	tr := p.tree
	if tr.sockets == nil {
		tr.sockets = &sockNamespace{names: make(map[sockKey]*socket)}
	}
	return tr.sockets
}

// newSocket makes an unconnected socket of type typ owned by t's ids.
func (t *Task) newSocket(typ uint32) *socket {
	return &socket{
		typ: typ, family: unix.AF_UNIX, ino: sockInodes.Add(1), ns: t.sockNamespace(),
		maxBacklog: sockMaxDgramQlen, sndbuf: sockWmemDefault, rcvbuf: sockWmemDefault,
		uid: t.cred.fsuid, gid: t.cred.fsgid, held: &t.tree.held,
	}
}

// peerCreds are t's process id and ids as SO_PEERCRED reports them.
func (t *Task) peerCreds() ucred {
	return ucred{pid: int32(t.cfg.PID), uid: t.cred.euid, gid: t.cred.egid}
}

// sendCreds are the ids a message carries (SCM_CREDENTIALS): the real
// ones.
func (t *Task) sendCreds() ucred {
	return ucred{pid: int32(t.cfg.PID), uid: t.cred.uid, gid: t.cred.gid}
}

// connectionBased says whether s is a stream or seqpacket socket.
func (s *socket) connectionBased() bool { return s.typ != unix.SOCK_DGRAM }

// sockCreate checks socket and socketpair's arguments in Linux's order
// (__sock_create, then unix_create or inet_create) and returns the
// family, type, protocol (an inet socket's) and the SOCK_NONBLOCK and
// SOCK_CLOEXEC flags.
func sockCreate(family, typArg, protocol uint64) (fam uint16, typ uint32, proto int32, flags uint32, e unix.Errno) {
	typ = uint32(typArg) & sockTypeMask
	flags = uint32(typArg) &^ sockTypeMask
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, 0, 0, 0, unix.EINVAL
	}
	if int32(family) < 0 || int32(family) >= nproto {
		return 0, 0, 0, 0, unix.EAFNOSUPPORT
	}
	if typ >= sockMax {
		return 0, 0, 0, 0, unix.EINVAL
	}
	fam = uint16(family)
	switch fam {
	case unix.AF_UNIX:
	case unix.AF_INET, unix.AF_INET6:
		proto, e = inetCreate(typ, int32(protocol))
		return fam, typ, proto, flags, e
	case unix.AF_NETLINK:
		return fam, typ, int32(protocol), flags, netlinkCreate(typ, int32(protocol))
	default:
		return 0, 0, 0, 0, unix.EAFNOSUPPORT
	}
	if p := int32(protocol); p != 0 && p != unix.AF_UNIX {
		return 0, 0, 0, 0, unix.EPROTONOSUPPORT
	}
	switch typ {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
	case unix.SOCK_RAW:
		typ = unix.SOCK_DGRAM // as Linux's unix_create
	default:
		return 0, 0, 0, 0, unix.ESOCKTNOSUPPORT
	}
	return fam, typ, 0, flags, 0
}

func sysSocket(t *Task, a *[6]uint64) uint64 {
	fam, typ, proto, flags, e := sockCreate(a[0], a[1], a[2])
	if e != 0 {
		return errno(e)
	}
	switch fam {
	case unix.AF_INET, unix.AF_INET6:
		return t.installSocket(t.newInetSocket(fam, typ, proto), flags)
	case unix.AF_NETLINK:
		s := t.newSocket(typ)
		s.family = unix.AF_NETLINK
		return t.installSocket(s, flags)
	}
	return t.installSocket(t.newSocket(typ), flags)
}

// installSocket gives s the lowest free fd.
func (t *Task) installSocket(s *socket, flags uint32) uint64 {
	fd, e := t.lowestFree(0)
	if e != 0 {
		s.release()
		return errno(e)
	}
	t.install(fd, sockFile(s, flags), flags&unix.SOCK_CLOEXEC != 0)
	return uint64(fd)
}

// sockFile is a new description of s, O_RDWR plus O_NONBLOCK if flags
// ask.
func sockFile(s *socket, flags uint32) *openFile {
	return &openFile{stdio: -1, anon: s, flags: unix.O_RDWR | flags&unix.SOCK_NONBLOCK}
}

// sysSocketpair joins two new sockets and writes their fds to the
// guest's int[2] before installing them, as pipe2 does; inet has no
// pairs (EOPNOTSUPP).
func sysSocketpair(t *Task, a *[6]uint64) uint64 {
	fam, typ, _, flags, e := sockCreate(a[0], a[1], a[2])
	if e != 0 {
		return errno(e)
	}
	if fam != unix.AF_UNIX {
		return errno(unix.EOPNOTSUPP)
	}
	fd0, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	fd1, e := t.lowestFreeExcept(uint64(fd0)+1, fd0)
	if e != 0 {
		return errno(e)
	}
	var b [8]byte
	putU32(b[0:], uint32(fd0))
	putU32(b[4:], uint32(fd1))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[3]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	s0, s1 := t.newSocket(typ), t.newSocket(typ)
	s0.peer, s1.peer = s1, s0
	s0.state, s1.state = sockEstablished, sockEstablished
	s0.peerCred, s1.peerCred = t.peerCreds(), t.peerCreds()
	s0.hasPeerCred, s1.hasPeerCred = true, true
	cloexec := flags&unix.SOCK_CLOEXEC != 0
	t.install(fd0, sockFile(s0, flags), cloexec)
	t.install(fd1, sockFile(s1, flags), cloexec)
	return 0
}

// socketOf returns the socket fd names: EBADF for no open fd, ENOTSOCK
// for another file.
func (p *Process) socketOf(fd uint64) (*socket, *openFile, unix.Errno) {
	f, e := p.file(fd)
	if e != 0 {
		return nil, nil, e
	}
	if f.fs != nil && f.fs.pathOnly {
		return nil, nil, unix.EBADF
	}
	s, ok := f.anon.(*socket)
	if !ok {
		return nil, nil, unix.ENOTSOCK
	}
	return s, f, 0
}

// release closes the socket at its last close, as unix_release_sock
// (inetRelease for an inet socket):
// its name goes, its peer (stream, seqpacket) sees both directions shut
// down and ECONNRESET if this end had unread messages, and what it held
// is freed; a listener's embryos are released as if connect had failed.
func (s *socket) release() {
	s.releaseAs(false)
}

func (s *socket) releaseAs(embryo bool) {
	if s.dead {
		return
	}
	s.dead = true
	if s.in != nil {
		s.inetRelease(embryo)
		return
	}
	if s.isNetlink() {
		s.netlinkRelease()
	}
	s.unbind()
	s.shutdown = shutdownMask
	state := s.state
	s.state = sockClosed
	if peer := s.peer; peer != nil {
		s.peer = nil
		if s.connectionBased() {
			peer.shutdown = shutdownMask
			if len(s.recvq) > 0 || embryo {
				peer.err = unix.ECONNRESET
			}
		}
		peer.wq.notify(0)
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

// unbind lets go of s's name: an abstract one leaves the namespace; a
// path's node stays, no longer naming a socket.
func (s *socket) unbind() {
	if s.name == nil {
		return
	}
	if s.name.node != nil {
		if s.name.node.sock == s {
			s.name.node.sock = nil
		}
	} else if k := (sockKey{s.typ, string(s.name.path)}); s.ns.names[k] == s {
		delete(s.ns.names, k)
	}
}

// free drops a message: its fds' references and its sender's charge.
func (m *sockMsg) free() {
	for _, f := range m.files {
		f.release()
	}
	m.files = nil
	m.uncharge()
}

// charge charges m, which s sends, to s's send buffer, until it is read
// whole or dropped (uncharge), and holds it against the VM's room.
func (s *socket) charge(m *sockMsg) {
	s.wmem += m.charge
	s.hold(m)
}

// hold counts m against the VM's room while it is queued.
func (s *socket) hold(m *sockMsg) {
	m.held = s.held
	m.held.sockets += m.heldBytes()
}

// heldBytes is what a queued message holds of the VM's room.
func (m *sockMsg) heldBytes() uint64 { return uint64(len(m.data)) + sockMsgOverhead }

// uncharge pays the message's charge back to its sender, who may now
// write, and its hold back to the VM's room.
func (m *sockMsg) uncharge() {
	if m.held != nil {
		m.held.sockets -= m.heldBytes()
		m.held = nil
	}
	if m.from != nil && m.charge > 0 {
		m.from.wmem -= m.charge
		m.charge = 0
		m.from.wq.notify(epollOut | epollWrNorm)
	}
}

// writable is unix_writable.
func (s *socket) writable() bool {
	return s.state != sockListening && s.wmem<<2 <= s.sndbuf
}

// recvqFull is unix_recvq_full: more messages (or embryos) queued than
// the backlog allows.
func (s *socket) recvqFull() bool {
	if s.state == sockListening {
		return len(s.backlog) > s.maxBacklog
	}
	return len(s.recvq) > s.maxBacklog
}

// pollMask is unix_poll for a stream socket, unix_dgram_poll for the
// others.
func (s *socket) pollMask(int) uint32 {
	switch {
	case s.isTCP():
		return s.tcpPollMask()
	case s.in != nil, s.isNetlink():
		return s.udpPollMask()
	}
	var m uint32
	if s.err != 0 {
		m |= epollErr
	}
	if s.shutdown == shutdownMask {
		m |= epollHup
	}
	if s.shutdown&rcvShutdown != 0 {
		m |= unix.EPOLLRDHUP | epollIn | epollRdNorm
	}
	if len(s.recvq) > 0 || len(s.backlog) > 0 {
		m |= epollIn | epollRdNorm
	}
	if s.state == sockClosed && (s.typ == unix.SOCK_STREAM || s.typ == unix.SOCK_SEQPACKET) {
		m |= epollHup
	}
	writable := s.writable()
	if s.typ != unix.SOCK_STREAM && writable {
		if o := s.peer; o != nil && o.peer != s && o.recvqFull() && !o.dead {
			writable = false
		}
	}
	if writable {
		m |= epollOut | epollWrNorm | unix.EPOLLWRBAND
	}
	return m
}

func (s *socket) queue() *waitQueue { return &s.wq }
func (s *socket) anonName() string  { return "socket" }

// linkText is what /proc/self/fd's link of a socket reads.
func (s *socket) linkText() string { return fmt.Sprintf("socket:[%d]", s.ino) }

// sockfsDev is the device of sockfs, where every socket's inode is.
const sockfsDev = 8

// stat is fstat of a socket: sockfs's inode, S_IFSOCK with every
// permission, owned by its creator.
func (s *socket) stat() unix.Stat_t {
	return unix.Stat_t{Dev: sockfsDev, Ino: s.ino, Mode: unix.S_IFSOCK | 0o777, Nlink: 1,
		Uid: s.uid, Gid: s.gid, Blksize: arch.PageSize}
}

// protoName is the name of the socket's protocol (Linux's struct
// proto), which sockfs gives its file and system.sockprotoname shows.
func (s *socket) protoName() string {
	if s.typ == unix.SOCK_STREAM {
		return "UNIX-STREAM"
	}
	return "UNIX"
}

// autobindName is a free abstract name of five hex digits, as
// unix_autobind picks from a random start.
func (ns *sockNamespace) autobindName(typ uint32) ([]byte, unix.Errno) {
	start := rand.Uint32() & 0xfffff
	for i := uint32(1); i <= 0x100000; i++ {
		name := []byte(fmt.Sprintf("\x00%05x", (start+i)&0xfffff))
		if _, used := ns.names[sockKey{typ, string(name)}]; !used {
			return name, 0
		}
	}
	return nil, unix.ENOSPC
}

// autobind gives an unbound socket an abstract name.
func (s *socket) autobind() unix.Errno {
	if s.name != nil {
		return 0
	}
	name, e := s.ns.autobindName(s.typ)
	if e != 0 {
		return e
	}
	s.name = &sockName{path: name}
	s.ns.names[sockKey{s.typ, string(name)}] = s
	return 0
}

// sockTimer is one blocking call's limit: SO_RCVTIMEO or SO_SNDTIMEO, or
// none, or nonblocking (O_NONBLOCK, MSG_DONTWAIT, or the limit passed).
type sockTimer struct {
	nonblock bool
	timer    *time.Timer
}

func newSockTimer(nonblock bool, limit time.Duration) *sockTimer {
	st := &sockTimer{nonblock: nonblock || limit < 0}
	if !st.nonblock && limit > 0 {
		st.timer = time.NewTimer(limit)
	}
	return st
}

func (st *sockTimer) stop() {
	if st.timer != nil {
		st.timer.Stop()
	}
}

// sockWait waits for a socket change: 0 to look again, EAGAIN when the
// call may not wait (or its limit passed), ERESTARTSYS for a signal
// (EINTR where a limit is set, as sock_intr_errno), EINTR at the end of
// the thread or the run.
func (t *Task) sockWait(st *sockTimer) unix.Errno {
	if st.nonblock {
		return unix.EAGAIN
	}
	var expired <-chan time.Time
	if st.timer != nil {
		expired = st.timer.C
	}
	switch t.block(t.fdWaitChannel(), expired) {
	case wokeSignal:
		if st.timer != nil {
			return unix.EINTR
		}
		return errRestartSys
	case wokeEnd:
		return unix.EINTR
	case wokeTimeout:
		st.nonblock = true
		return unix.EAGAIN
	}
	return 0
}

// sockSignalPipe sends the calling thread SIGPIPE, as a stream send to
// a shut down socket does (send_sig).
func (t *Task) sockSignalPipe() {
	_ = t.sendToThread(t, unix.SIGPIPE, sigInfo{code: siUser, pid: uint32(t.cfg.PID), why: "a send on a socket shut down for writing"})
}
