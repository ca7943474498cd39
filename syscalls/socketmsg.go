package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Socket messages: send and receive (sendto, recvfrom, sendmsg, recvmsg,
// sendmmsg, recvmmsg, and read, write, readv and writev on a socket),
// with their control messages. struct msghdr (56 bytes), struct cmsghdr
// (16 bytes, then the data, each header 8-byte aligned) and struct
// mmsghdr (a msghdr and a 32-bit length, 64 bytes) are x86-64 Linux's.

// Message flags mmvm serves.
const (
	msgOOB          = unix.MSG_OOB
	msgPeek         = unix.MSG_PEEK
	msgCtrunc       = unix.MSG_CTRUNC
	msgTrunc        = unix.MSG_TRUNC
	msgDontwait     = unix.MSG_DONTWAIT
	msgWaitall      = unix.MSG_WAITALL
	msgNosignal     = unix.MSG_NOSIGNAL
	msgWaitforone   = unix.MSG_WAITFORONE
	msgCmsgCloexec  = unix.MSG_CMSG_CLOEXEC
	msghdrSize      = 56
	mmsghdrSize     = 64
	cmsghdrSize     = 16
	scmMaxFD        = 253    // SCM_MAX_FD
	optmemMax       = 131072 // net.core.optmem_max
	uioMaxIOV       = 1024
	sizeofUcred     = 12
	sockMaxRWCount  = maxIO
	cmsgAlignedUnit = 8
)

func cmsgAlign(n uint64) uint64 { return (n + cmsgAlignedUnit - 1) &^ (cmsgAlignedUnit - 1) }

// sockData is where a send's bytes come from and a receive's go: guest
// buffers (iovCursor) or, for splice and sendfile, a host buffer.
type sockData interface {
	// move copies b to (out) or from the data at its cursor and
	// advances it; an error means a fault, with some of b maybe moved.
	move(b []byte, out bool) error
}

// hostBytes is a host buffer as sockData.
type hostBytes struct {
	b   []byte
	off int
}

func (h *hostBytes) move(b []byte, out bool) error {
	var n int
	if out {
		n = copy(h.b[h.off:], b)
	} else {
		n = copy(b, h.b[h.off:])
	}
	h.off += n
	return nil
}

// iovCursor walks a guest iovec array as one run of bytes.
type iovCursor struct {
	mem Memory
	iov []byte
	cnt uint64
	// i and off are where the next byte is: entry i, off bytes in.
	i, off uint64
}

func newIOVCursor(mem Memory, iov []byte, cnt uint64) *iovCursor {
	return &iovCursor{mem: mem, iov: iov, cnt: cnt}
}

// oneIOV is the cursor of one buffer.
func oneIOV(mem Memory, addr arch.Addr, n uint64) *iovCursor {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, uint64(addr))
	binary.LittleEndian.PutUint64(b[8:], n)
	return newIOVCursor(mem, b, 1)
}

// move copies b to (out) or from the guest at the cursor and advances
// it.
func (c *iovCursor) move(b []byte, out bool) error {
	for len(b) > 0 && c.i < c.cnt {
		base := binary.LittleEndian.Uint64(c.iov[16*c.i:])
		length := binary.LittleEndian.Uint64(c.iov[16*c.i+8:])
		if c.off >= length {
			c.i, c.off = c.i+1, 0
			continue
		}
		k := min(length-c.off, uint64(len(b)))
		var err error
		if out {
			_, err = c.mem.CopyOut(arch.Addr(base+c.off), b[:k])
		} else {
			_, err = c.mem.CopyIn(arch.Addr(base+c.off), b[:k])
		}
		if err != nil {
			return err
		}
		b = b[k:]
		c.off += k
	}
	return nil
}

// scm is the control of one message: fds passed and credentials.
type scm struct {
	files []*openFile
	cred  *ucred
}

// drop releases the fds an unsent message held.
func (c *scm) drop() {
	for _, f := range c.files {
		f.release()
	}
	c.files = nil
}

// sendArgs is one send: its bytes, where to (nil: the peer), control
// and flags.
type sendArgs struct {
	data  sockData
	total uint64
	to    []byte
	ctl   scm
	flags uint32
}

// recvArgs is one receive and, after it, what the caller writes back.
type recvArgs struct {
	data  sockData
	total uint64
	flags uint32
	// control and controllen are msg_control; controlUsed how much of
	// it was written.
	control     arch.Addr
	controllen  uint64
	controlUsed uint64
	// name is the sender's address (nil: none, msg_namelen 0);
	// msgFlags the flags recvmsg reports.
	name     []byte
	msgFlags uint32
}

// readControl reads sendmsg's control messages as __scm_send: EINVAL
// for a header whose length is short of a header or runs past the
// buffer; SOL_SOCKET's SCM_RIGHTS (EBADF for an fd that is not open,
// EINVAL past SCM_MAX_FD in all) and SCM_CREDENTIALS (EINVAL for another
// length, EPERM for ids the caller may not claim) are taken, any other
// type of that level is EINVAL, other levels are skipped.
func (t *Task) readControl(addr arch.Addr, n uint64, c *scm) unix.Errno {
	if n > 1<<31-1 || n > optmemMax {
		return unix.ENOBUFS
	}
	b := make([]byte, n)
	if n > 0 {
		if _, err := t.cfg.Memory.CopyIn(addr, b); err != nil {
			return unix.EFAULT
		}
	}
	for off := uint64(0); off+cmsghdrSize <= n; {
		clen := binary.LittleEndian.Uint64(b[off:])
		if clen < cmsghdrSize || clen > n-off {
			c.drop()
			return unix.EINVAL
		}
		level := int32(binary.LittleEndian.Uint32(b[off+8:]))
		typ := int32(binary.LittleEndian.Uint32(b[off+12:]))
		data := b[off+cmsghdrSize : off+clen]
		if level == unix.SOL_SOCKET {
			if e := t.takeControl(typ, data, c); e != 0 {
				c.drop()
				return e
			}
		}
		off += cmsgAlign(clen)
	}
	return 0
}

// takeControl takes one SOL_SOCKET control message.
func (t *Task) takeControl(typ int32, data []byte, c *scm) unix.Errno {
	switch typ {
	case unix.SCM_RIGHTS:
		k := len(data) / 4
		if k == 0 {
			return 0
		}
		if len(c.files)+k > scmMaxFD {
			return unix.EINVAL
		}
		for i := range k {
			f, e := t.file(uint64(binary.LittleEndian.Uint32(data[4*i:])))
			if e != 0 {
				return e
			}
			f.refs++
			c.files = append(c.files, f)
		}
		return 0
	case unix.SCM_CREDENTIALS:
		if len(data) != sizeofUcred {
			return unix.EINVAL
		}
		u := ucred{
			pid: int32(binary.LittleEndian.Uint32(data)),
			uid: binary.LittleEndian.Uint32(data[4:]),
			gid: binary.LittleEndian.Uint32(data[8:]),
		}
		cr := &t.cred
		root := cr.euid == 0
		if u.pid != int32(t.cfg.PID) && !root ||
			u.uid != cr.uid && u.uid != cr.euid && u.uid != cr.suid && !root ||
			u.gid != cr.gid && u.gid != cr.egid && u.gid != cr.sgid && !root {
			return unix.EPERM
		}
		c.cred = &u
		return 0
	}
	return unix.EINVAL
}

// msgCred is the credentials a message from s to other carries: those
// sent, else the sender's when either end passes credentials (or other
// is an embryo), else none (maybe_add_creds).
func (t *Task) msgCred(s, other *socket, c *scm) ucred {
	if c.cred != nil {
		return *c.cred
	}
	if s.passcred || other.passcred || other.embryo {
		return t.sendCreds()
	}
	return noCred
}

// send serves every send on s through f.
func (t *Task) sockSend(s *socket, f *openFile, a *sendArgs) uint64 {
	if f.flags&unix.O_NONBLOCK != 0 {
		a.flags |= msgDontwait
	}
	defer t.fdWaitersLookAgain()
	switch {
	case s.isTCP():
		return t.tcpSend(s, a)
	case s.in != nil:
		return t.udpSend(s, a)
	case s.isNetlink():
		return t.netlinkSend(s, a)
	case s.typ == unix.SOCK_STREAM:
		return t.streamSend(s, a)
	}
	return t.dgramSend(s, a)
}

// waitSendRoom waits, as sock_alloc_send_pskb, until s's charge is under
// its send buffer: SO_ERROR, EPIPE once s is shut down for sending,
// sockWait's answers.
func (t *Task) waitSendRoom(s *socket, st *sockTimer) unix.Errno {
	for {
		if s.err != 0 {
			e := s.err
			s.err = 0
			return e
		}
		if s.shutdown&sendShutdown != 0 {
			return unix.EPIPE
		}
		if s.wmem < s.sndbuf {
			return 0
		}
		if e := t.sockWait(st); e != 0 {
			return e
		}
	}
}

// streamSend is unix_stream_sendmsg: no address may be given (EISCONN
// connected, EOPNOTSUPP not), ENOTCONN with no peer, EPIPE and SIGPIPE
// (unless MSG_NOSIGNAL) once shut down for sending or when the peer can
// read no more; the bytes go in messages of at most half the send buffer,
// each waiting for room, the fds with the first. A wait that ends returns
// the bytes sent so far, if any.
func (t *Task) streamSend(s *socket, a *sendArgs) uint64 {
	defer a.ctl.drop()
	if a.flags&msgOOB != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	if len(a.to) > 0 {
		if s.state == sockEstablished {
			return errno(unix.EISCONN)
		}
		return errno(unix.EOPNOTSUPP)
	}
	other := s.peer
	if other == nil {
		return errno(unix.ENOTCONN)
	}
	if s.shutdown&sendShutdown != 0 {
		if a.flags&msgNosignal == 0 {
			t.sockSignalPipe()
		}
		return errno(unix.EPIPE)
	}
	st := newSockTimer(a.flags&msgDontwait != 0, s.sndtimeo)
	defer st.stop()
	total := min(a.total, sockMaxRWCount)
	var sent uint64
	partial := func(e unix.Errno) uint64 {
		if sent > 0 {
			return sent
		}
		return errno(e)
	}
	for sent < total {
		size := min(total-sent, uint64(s.sndbuf/2-64), sockStreamChunk)
		if e := t.waitSendRoom(s, st); e != 0 {
			return partial(e)
		}
		if !t.roomFor(size + sockMsgOverhead) {
			return partial(unix.ENOBUFS)
		}
		buf := make([]byte, size)
		if a.data.move(buf, false) != nil {
			return partial(unix.EFAULT)
		}
		if other.dead || other.shutdown&rcvShutdown != 0 {
			if sent == 0 && a.flags&msgNosignal == 0 {
				t.sockSignalPipe()
			}
			return partial(unix.EPIPE)
		}
		m := &sockMsg{data: buf, from: s, charge: int(size) + sockMsgOverhead, cred: t.msgCred(s, other, &a.ctl)}
		m.files, a.ctl.files = a.ctl.files, nil
		s.charge(m)
		other.recvq = append(other.recvq, m)
		other.wq.notify(epollIn | epollRdNorm)
		t.fdWaitersLookAgain() // the reader may take it while this send waits for room
		sent += size
	}
	return sent
}

// dgramSend is unix_dgram_sendmsg, and unix_seqpacket_sendmsg before it
// (SO_ERROR, then ENOTCONN unconnected; an address is ignored).
func (t *Task) dgramSend(s *socket, a *sendArgs) uint64 {
	defer a.ctl.drop()
	if s.typ == unix.SOCK_SEQPACKET {
		if s.err != 0 {
			e := s.err
			s.err = 0
			return errno(e)
		}
		if s.state != sockEstablished {
			return errno(unix.ENOTCONN)
		}
		a.to = nil
	}
	if a.flags&msgOOB != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	var name []byte
	other := s.peer
	if len(a.to) > 0 {
		var e unix.Errno
		if name, e = unixName(a.to); e != 0 {
			return errno(e)
		}
		other = nil
	} else if other == nil {
		return errno(unix.ENOTCONN)
	}
	if s.passcred && s.name == nil {
		if e := s.autobind(); e != 0 {
			return errno(e)
		}
	}
	if a.total > uint64(s.sndbuf-32) {
		return errno(unix.EMSGSIZE)
	}
	st := newSockTimer(a.flags&msgDontwait != 0, s.sndtimeo)
	defer st.stop()
	if e := t.waitSendRoom(s, st); e != 0 {
		return errno(e)
	}
	if !t.roomFor(a.total + sockMsgOverhead) {
		return errno(unix.ENOBUFS)
	}
	buf := make([]byte, a.total)
	if a.data.move(buf, false) != nil {
		return errno(unix.EFAULT)
	}
	for {
		if other == nil {
			if name == nil {
				return errno(unix.ECONNRESET)
			}
			var e unix.Errno
			if other, e = t.lookupSocket(name, s.typ); e != 0 {
				return errno(e)
			}
		}
		if !other.maySendFrom(s) {
			return errno(unix.EPERM)
		}
		if other.dead {
			switch {
			case s.typ == unix.SOCK_SEQPACKET:
				return errno(unix.EPIPE)
			case s.peer == other:
				s.peer, s.state = nil, sockClosed
				s.dgramDisconnected(other)
				return errno(unix.ECONNREFUSED)
			}
			other = nil
			continue
		}
		if other.shutdown&rcvShutdown != 0 {
			return errno(unix.EPIPE)
		}
		if other != s && other.peer != s && other.recvqFull() {
			if e := t.sockWait(st); e != 0 {
				return errno(e)
			}
			continue
		}
		break
	}
	if !t.roomFor(uint64(len(buf)) + sockMsgOverhead) {
		return errno(unix.ENOBUFS)
	}
	m := &sockMsg{data: buf, from: s, charge: len(buf) + sockMsgOverhead, cred: t.msgCred(s, other, &a.ctl)}
	m.files, a.ctl.files = a.ctl.files, nil
	s.charge(m)
	other.recvq = append(other.recvq, m)
	other.wq.notify(epollIn | epollRdNorm)
	return a.total
}

// sockRecv serves every receive on s through f, then writes the control
// messages; the caller writes the name and flags.
func (t *Task) sockRecv(s *socket, f *openFile, a *recvArgs) uint64 {
	if f.flags&unix.O_NONBLOCK != 0 {
		a.flags |= msgDontwait
	}
	var c scm
	var n uint64
	if s.typ == unix.SOCK_STREAM {
		n = t.streamRecv(s, a, &c)
	} else {
		n = t.dgramRecv(s, a, &c)
	}
	t.fdWaitersLookAgain()
	if int64(n) < 0 {
		c.drop()
		return n
	}
	t.putControl(a, &c, s.passcred && s.in == nil)
	return n
}

// streamRecv is unix_stream_read_generic: EINVAL unconnected; it joins
// messages until the buffer is full, the queue empty (having read at
// least one byte, or all with MSG_WAITALL), a message that carried fds
// is read, or, for a receiver passing credentials, one from another
// writer comes. With nothing read it waits, and reports SO_ERROR, or end
// of file once shut down for reading.
//
// A TCP socket reads the same way, with tcp_recvmsg's answers: ENOTCONN
// listening, and tcpRecvEmpty's when nothing is left.
func (t *Task) streamRecv(s *socket, a *recvArgs, c *scm) uint64 {
	if s.in != nil {
		if e := s.tcpRecvCheck(); e != 0 {
			return errno(e)
		}
	} else if s.state != sockEstablished {
		return errno(unix.EINVAL)
	}
	if a.flags&msgOOB != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	size := min(a.total, sockMaxRWCount)
	target := min(uint64(s.rcvlowat()), size) // sock_rcvlowat
	if a.flags&msgWaitall != 0 {
		target = size
	}
	target = max(target, 1)
	peek := a.flags&msgPeek != 0
	st := newSockTimer(a.flags&msgDontwait != 0, s.rcvtimeo)
	defer st.stop()
	var copied uint64
	var cred *ucred
	nameDone := false
	idx := 0 // the message to read next: past the head only while peeking
	for {
		if idx >= len(s.recvq) {
			if copied >= target {
				break
			}
			if s.in != nil {
				if copied > 0 && (s.err != 0 || s.shutdown&rcvShutdown != 0 || s.state == sockClosed) {
					break
				}
				eof, e := s.tcpRecvEmpty()
				if e != 0 {
					return errno(e)
				}
				if eof {
					break
				}
				if e := t.sockWait(st); e != 0 {
					if copied > 0 {
						break
					}
					return errno(e)
				}
				continue
			}
			if s.err != 0 {
				e := s.err
				s.err = 0
				return errno(e)
			}
			if s.shutdown&rcvShutdown != 0 {
				break
			}
			if e := t.sockWait(st); e != 0 {
				if copied > 0 {
					break
				}
				return errno(e)
			}
			continue
		}
		m := s.recvq[idx]
		if cred != nil && m.cred != *cred {
			break // never join messages of different writers
		}
		if s.passcred && cred == nil {
			mc := m.cred
			cred = &mc
			c.cred = cred
		}
		if !nameDone {
			a.name, nameDone = m.srcName(), true
		}
		k := min(uint64(len(m.data)-m.off), size)
		if a.data.move(m.data[m.off:m.off+int(k)], true) != nil {
			if copied == 0 {
				return errno(unix.EFAULT)
			}
			break
		}
		copied += k
		size -= k
		if peek {
			if len(m.files) > 0 {
				c.files = append(c.files, dupFiles(m.files)...)
				break
			}
			idx++
			if idx >= len(s.recvq) {
				break
			}
		} else {
			m.off += int(k)
			if len(m.files) > 0 {
				c.files = append(c.files, m.files...)
				m.files = nil
			}
			if m.off < len(m.data) {
				break
			}
			s.recvq = s.recvq[1:]
			m.uncharge()
			t.fdWaitersLookAgain() // the writer may send more while this read waits
			if len(c.files) > 0 {
				break
			}
		}
		if size == 0 {
			break
		}
	}
	return copied
}

// dupFiles takes a reference on each of fs (MSG_PEEK's copies).
func dupFiles(fs []*openFile) []*openFile {
	for _, f := range fs {
		f.refs++
	}
	return append([]*openFile(nil), fs...)
}

// srcName is the address recvfrom reports of m: a UDP datagram's
// source, none for TCP, the AF_UNIX sender's name.
func (m *sockMsg) srcName() []byte {
	if m.src != nil {
		return m.src
	}
	if m.from != nil && m.from.in != nil {
		return nil
	}
	return sockNameOf(m.from)
}

// sockNameOf is the address a message from s shows recvfrom: nil (a
// zero length) for an unbound sender.
func sockNameOf(s *socket) []byte {
	if s == nil || s.name == nil {
		return nil
	}
	return sockAddrOut(s.name)
}

// dgramRecv is __unix_dgram_recvmsg, and unix_seqpacket_recvmsg before
// it (ENOTCONN unconnected): one message, MSG_TRUNC in the flags when
// the buffer was short (and its whole length returned with MSG_TRUNC
// asked). With none queued: SO_ERROR, 0 once shut down for reading (a
// nonblocking datagram socket says EAGAIN), ENOTCONN for a seqpacket
// socket no longer connected, else it waits.
func (t *Task) dgramRecv(s *socket, a *recvArgs, c *scm) uint64 {
	if s.typ == unix.SOCK_SEQPACKET && s.state != sockEstablished {
		return errno(unix.ENOTCONN)
	}
	if a.flags&msgOOB != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	st := newSockTimer(a.flags&msgDontwait != 0, s.rcvtimeo)
	defer st.stop()
	for {
		if s.err != 0 {
			e := s.err
			s.err = 0
			return errno(e)
		}
		if len(s.recvq) > 0 {
			break
		}
		if st.nonblock {
			if s.typ == unix.SOCK_SEQPACKET && s.shutdown&rcvShutdown != 0 {
				return 0
			}
			return errno(unix.EAGAIN)
		}
		if s.shutdown&rcvShutdown != 0 {
			return 0
		}
		if s.typ == unix.SOCK_SEQPACKET && s.state != sockEstablished {
			return errno(unix.ENOTCONN)
		}
		if e := t.sockWait(st); e != 0 && e != unix.EAGAIN {
			return errno(e)
		}
	}
	m := s.recvq[0]
	peek := a.flags&msgPeek != 0
	if !peek {
		s.recvq = s.recvq[1:]
		defer m.free()
	}
	a.name = m.srcName()
	size := min(a.total, uint64(len(m.data)))
	if size < uint64(len(m.data)) {
		a.msgFlags |= msgTrunc
	}
	if a.data.move(m.data[:size], true) != nil {
		return errno(unix.EFAULT)
	}
	mc := m.cred
	c.cred = &mc
	if peek {
		c.files = dupFiles(m.files)
	} else {
		c.files, m.files = m.files, nil
	}
	if a.flags&msgTrunc != 0 {
		return uint64(len(m.data))
	}
	return size
}

// putControl writes a receive's control messages as scm_recv_unix:
// SCM_CREDENTIALS for a receiver passing credentials, then SCM_RIGHTS
// with as many of the fds as fit (each installed as the lowest free fd,
// close-on-exec with MSG_CMSG_CLOEXEC); what does not fit is closed and
// MSG_CTRUNC set. A message that does not fit whole is cut to the
// buffer, with MSG_CTRUNC.
func (t *Task) putControl(a *recvArgs, c *scm, passcred bool) {
	addr, left := a.control, a.controllen
	if passcred && c.cred != nil {
		var d [sizeofUcred]byte
		binary.LittleEndian.PutUint32(d[0:], uint32(c.cred.pid))
		binary.LittleEndian.PutUint32(d[4:], c.cred.uid)
		binary.LittleEndian.PutUint32(d[8:], c.cred.gid)
		t.putCmsg(&addr, &left, a, unix.SCM_CREDENTIALS, d[:])
	}
	if len(c.files) == 0 {
		a.controlUsed = a.controllen - left
		return
	}
	fdmax := uint64(0)
	if left > cmsghdrSize {
		fdmax = (left - cmsghdrSize) / 4
	}
	i := 0
	for ; i < len(c.files) && uint64(i) < fdmax; i++ {
		fd, e := t.lowestFree(0)
		if e != 0 {
			break
		}
		var b [4]byte
		putU32(b[:], uint32(fd))
		if _, err := t.cfg.Memory.CopyOut(addr+arch.Addr(cmsghdrSize+4*i), b[:]); err != nil {
			break
		}
		t.install(fd, c.files[i], a.flags&msgCmsgCloexec != 0)
		c.files[i].refs-- // install took the fd's reference; drop the message's
	}
	if i > 0 {
		var h [cmsghdrSize]byte
		clen := uint64(cmsghdrSize + 4*i)
		binary.LittleEndian.PutUint64(h[0:], clen)
		binary.LittleEndian.PutUint32(h[8:], unix.SOL_SOCKET)
		binary.LittleEndian.PutUint32(h[12:], unix.SCM_RIGHTS)
		_, _ = t.cfg.Memory.CopyOut(addr, h[:])
		adv := min(cmsgAlign(clen), left)
		left -= adv
	}
	if i < len(c.files) {
		a.msgFlags |= msgCtrunc
		for _, f := range c.files[i:] {
			f.release()
		}
	}
	c.files = nil
	a.controlUsed = a.controllen - left
}

// putCmsg writes one control message at *addr as put_cmsg, cut to what
// is left (MSG_CTRUNC), and moves past it.
func (t *Task) putCmsg(addr *arch.Addr, left *uint64, a *recvArgs, typ int32, data []byte) {
	if *addr == 0 || *left < cmsghdrSize {
		a.msgFlags |= msgCtrunc
		return
	}
	clen := uint64(cmsghdrSize + len(data))
	if *left < clen {
		a.msgFlags |= msgCtrunc
		clen = *left
	}
	b := make([]byte, clen)
	binary.LittleEndian.PutUint64(b[0:], clen)
	binary.LittleEndian.PutUint32(b[8:], unix.SOL_SOCKET)
	binary.LittleEndian.PutUint32(b[12:], uint32(typ))
	copy(b[cmsghdrSize:], data)
	if _, err := t.cfg.Memory.CopyOut(*addr, b); err != nil {
		return
	}
	adv := min(cmsgAlign(clen), *left)
	*addr += arch.Addr(adv)
	*left -= adv
}

// The calls.

func sysSendto(t *Task, a *[6]uint64) uint64 {
	s, f, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	sa := &sendArgs{data: oneIOV(t.cfg.Memory, arch.Addr(a[1]), a[2]), total: a[2], flags: uint32(a[3])}
	if a[4] != 0 {
		if sa.to, e = t.sockAddrIn(arch.Addr(a[4]), a[5]); e != 0 {
			return errno(e)
		}
	}
	return t.sockSend(s, f, sa)
}

func sysRecvfrom(t *Task, a *[6]uint64) uint64 {
	s, f, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	ra := &recvArgs{data: oneIOV(t.cfg.Memory, arch.Addr(a[1]), a[2]), total: a[2], flags: uint32(a[3])}
	n := t.sockRecv(s, f, ra)
	if int64(n) >= 0 && a[4] != 0 {
		if e := t.putSockAddr(ra.name, arch.Addr(a[4]), arch.Addr(a[5])); e != 0 {
			return errno(e)
		}
	}
	return n
}

// msghdr is a guest struct msghdr.
type msghdr struct {
	name       arch.Addr
	namelen    int32
	iov        arch.Addr
	iovlen     uint64
	control    arch.Addr
	controllen uint64
}

// readMsghdr reads the msghdr at addr as copy_msghdr_from_user: EFAULT,
// EINVAL for a negative name length (one past sockaddr_storage is cut to
// it; no name, 0), EMSGSIZE for more than UIO_MAXIOV buffers; then the
// iovec array (readIOVec's checks).
func (t *Task) readMsghdr(addr arch.Addr) (msghdr, []byte, uint64, unix.Errno) {
	var b [msghdrSize]byte
	if _, err := t.cfg.Memory.CopyIn(addr, b[:]); err != nil {
		return msghdr{}, nil, 0, unix.EFAULT
	}
	m := msghdr{
		name:       arch.Addr(binary.LittleEndian.Uint64(b[0:])),
		namelen:    int32(binary.LittleEndian.Uint32(b[8:])),
		iov:        arch.Addr(binary.LittleEndian.Uint64(b[16:])),
		iovlen:     binary.LittleEndian.Uint64(b[24:]),
		control:    arch.Addr(binary.LittleEndian.Uint64(b[32:])),
		controllen: binary.LittleEndian.Uint64(b[40:]),
	}
	if m.name == 0 {
		m.namelen = 0
	}
	if m.namelen < 0 {
		return m, nil, 0, unix.EINVAL
	}
	m.namelen = min(m.namelen, sockaddrStorageSize)
	if m.iovlen > uioMaxIOV {
		return m, nil, 0, unix.EMSGSIZE
	}
	iov, total, e := t.readIOVec(m.iov, m.iovlen)
	if e != 0 {
		return m, nil, 0, e
	}
	return m, iov, total, 0
}

func sysSendmsg(t *Task, a *[6]uint64) uint64 {
	s, f, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	return t.sendmsg(s, f, arch.Addr(a[1]), uint32(a[2]))
}

// sendmsg is ___sys_sendmsg.
func (t *Task) sendmsg(s *socket, f *openFile, addr arch.Addr, flags uint32) uint64 {
	m, iov, total, e := t.readMsghdr(addr)
	if e != 0 {
		return errno(e)
	}
	sa := &sendArgs{data: newIOVCursor(t.cfg.Memory, iov, m.iovlen), total: total, flags: flags}
	if m.namelen > 0 {
		if sa.to, e = t.sockAddrIn(m.name, uint64(m.namelen)); e != 0 {
			return errno(e)
		}
	}
	if e := t.readControl(m.control, m.controllen, &sa.ctl); e != 0 {
		return errno(e)
	}
	return t.sockSend(s, f, sa)
}

func sysRecvmsg(t *Task, a *[6]uint64) uint64 {
	s, f, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	return t.recvmsg(s, f, arch.Addr(a[1]), uint32(a[2]))
}

// recvmsg is ___sys_recvmsg: after the receive it writes the name (its
// length to msg_namelen), msg_flags and the control length used.
func (t *Task) recvmsg(s *socket, f *openFile, addr arch.Addr, flags uint32) uint64 {
	m, iov, total, e := t.readMsghdr(addr)
	if e != 0 {
		return errno(e)
	}
	// msg_flags starts as MSG_CMSG_CLOEXEC if asked, as Linux's does.
	ra := &recvArgs{data: newIOVCursor(t.cfg.Memory, iov, m.iovlen), total: total, flags: flags,
		control: m.control, controllen: m.controllen, msgFlags: flags & msgCmsgCloexec}
	n := t.sockRecv(s, f, ra)
	if int64(n) < 0 {
		return n
	}
	if m.name != 0 {
		if e := t.putSockAddr(ra.name, m.name, addr+8); e != 0 {
			return errno(e)
		}
	}
	var b [4]byte
	putU32(b[:], ra.msgFlags)
	if _, err := t.cfg.Memory.CopyOut(addr+48, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	var c [8]byte
	binary.LittleEndian.PutUint64(c[:], ra.controlUsed)
	if _, err := t.cfg.Memory.CopyOut(addr+40, c[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return n
}

// sysSendmmsg sends up to vlen messages (at most UIO_MAXIOV), writing
// each one's length; an error after the first returns the count sent.
func sysSendmmsg(t *Task, a *[6]uint64) uint64 {
	s, f, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	vec, vlen, flags := arch.Addr(a[1]), min(uint32(a[2]), uioMaxIOV), uint32(a[3])
	var done uint32
	for ; done < vlen; done++ {
		entry := vec + arch.Addr(done)*mmsghdrSize
		n := t.sendmsg(s, f, entry, flags)
		if int64(n) < 0 {
			if done > 0 {
				return uint64(done)
			}
			return n
		}
		var b [4]byte
		putU32(b[:], uint32(n))
		if _, err := t.cfg.Memory.CopyOut(entry+msghdrSize, b[:]); err != nil {
			if done == 0 {
				return errno(unix.EFAULT)
			}
			break
		}
	}
	return uint64(done)
}

// sysRecvmmsg receives up to vlen messages (at most UIO_MAXIOV), each
// one's length written after it; MSG_WAITFORONE makes every receive
// after the first nonblocking; a timeout is looked at after each
// message, as Linux's, and what is left of it written back (the
// timeout is read and checked before the fd). An error after the first
// message returns the count received.
func sysRecvmmsg(t *Task, a *[6]uint64) uint64 {
	vec, vlen, flags := arch.Addr(a[1]), min(uint32(a[2]), uioMaxIOV), uint32(a[3])
	var deadline time.Time
	if a[4] != 0 {
		var ts [16]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[4]), ts[:]); err != nil {
			return errno(unix.EFAULT)
		}
		sec, nsec := int64(binary.LittleEndian.Uint64(ts[:])), int64(binary.LittleEndian.Uint64(ts[8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return errno(unix.EINVAL)
		}
		sec = min(sec, 1<<32) // past any run's length, and no overflow
		deadline = time.Now().Add(time.Duration(sec)*time.Second + time.Duration(nsec))
	}
	s, f, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	var done uint32
	for done < vlen {
		entry := vec + arch.Addr(done)*mmsghdrSize
		n := t.recvmsg(s, f, entry, flags)
		if int64(n) < 0 {
			if done > 0 {
				break
			}
			return n
		}
		var b [4]byte
		putU32(b[:], uint32(n))
		if _, err := t.cfg.Memory.CopyOut(entry+msghdrSize, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		done++
		if flags&msgWaitforone != 0 {
			flags |= msgDontwait
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			break
		}
	}
	if a[4] != 0 {
		left := max(time.Until(deadline), 0)
		var ts [16]byte
		binary.LittleEndian.PutUint64(ts[:], uint64(left/time.Second))
		binary.LittleEndian.PutUint64(ts[8:], uint64(left%time.Second))
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[4]), ts[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return uint64(done)
}

// The anonFile calls: read and write are a receive and a send with no
// flags (a read of 0 bytes returns 0 at once, as sock_read_iter).

func (s *socket) read(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return t.sockRecv(s, f, &recvArgs{data: oneIOV(t.cfg.Memory, addr, n), total: n})
}

func (s *socket) readv(t *Task, f *openFile, iov []byte, iovcnt, total uint64) uint64 {
	if total == 0 {
		return 0
	}
	return t.sockRecv(s, f, &recvArgs{data: newIOVCursor(t.cfg.Memory, iov, iovcnt), total: total})
}

func (s *socket) write(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	return t.sockSend(s, f, &sendArgs{data: oneIOV(t.cfg.Memory, addr, n), total: n})
}

func (s *socket) writev(t *Task, f *openFile, iov []byte, iovcnt uint64) uint64 {
	var total uint64
	for i := uint64(0); i < iovcnt; i++ {
		total += binary.LittleEndian.Uint64(iov[16*i+8:])
	}
	return t.sockSend(s, f, &sendArgs{data: newIOVCursor(t.cfg.Memory, iov, iovcnt), total: total})
}

// spliceRead and spliceWrite serve splice and sendfile on a socket
// (anonSplicer): a receive into b (fds that came with the bytes are
// closed, as unix_stream_splice_read passes no control) and a send of b,
// nonblocking as asked.

func (s *socket) spliceRead(t *Task, f *openFile, b []byte, nonblock bool) (int, unix.Errno) {
	ra := &recvArgs{data: &hostBytes{b: b}, total: uint64(len(b))}
	if nonblock {
		ra.flags |= msgDontwait
	}
	return sockResult(t.sockRecv(s, f, ra))
}

func (s *socket) spliceWrite(t *Task, f *openFile, b []byte, nonblock bool) (int, unix.Errno) {
	sa := &sendArgs{data: &hostBytes{b: b}, total: uint64(len(b))}
	if nonblock {
		sa.flags |= msgDontwait
	}
	return sockResult(t.sockSend(s, f, sa))
}

// sockResult splits a call's RAX value into a count and an errno.
func sockResult(r uint64) (int, unix.Errno) {
	if int64(r) < 0 {
		return 0, unix.Errno(-int64(r))
	}
	return int(r), 0
}
