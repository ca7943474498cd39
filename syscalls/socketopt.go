package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Socket options (SOL_SOCKET's; other levels AF_UNIX has none of:
// EOPNOTSUPP), shutdown, and a socket's ioctls.

// Options x/sys does not name for x86-64 under these names.
const (
	soRcvtimeoNew = 66
	soSndtimeoNew = 67
	soPeekOff     = 42
	// hz is the jiffy rate socket timeouts are kept in, as a kernel
	// built with HZ=250 (Debian's, and the host's) keeps them.
	hz = 250
)

// plainSockOpts are the SOL_SOCKET int options mmvm keeps but does not
// act on, with the value a new socket reports.
var plainSockOpts = map[int32]int32{
	unix.SO_DEBUG: 0, unix.SO_DONTROUTE: 0, unix.SO_BROADCAST: 0, unix.SO_KEEPALIVE: 0,
	unix.SO_OOBINLINE: 0, unix.SO_NO_CHECK: 0, unix.SO_PRIORITY: 0, unix.SO_SNDLOWAT: 1,
	unix.SO_TIMESTAMP: 0, unix.SO_TIMESTAMPNS: 0, unix.SO_PASSSEC: 0, unix.SO_MARK: 0,
	unix.SO_RXQ_OVFL: 0, unix.SO_WIFI_STATUS: 0, unix.SO_BUSY_POLL: 0,
}

// sockOpt returns the value of a plain option.
func (s *socket) sockOpt(name int32) int32 {
	if v, ok := s.opts[name]; ok {
		return v
	}
	return plainSockOpts[name]
}

func boolInt32(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// timeval is a socket timeout as getsockopt reports it, from the
// jiffies it is kept in: none (0) reads as zero.
func timevalOf(d time.Duration) []byte {
	b := make([]byte, 16)
	if d > 0 {
		j := int64(d / (time.Second / hz))
		binary.LittleEndian.PutUint64(b, uint64(j/hz))
		binary.LittleEndian.PutUint64(b[8:], uint64((j%hz)*1e6/hz))
	}
	return b
}

// sysGetsockopt is sk_getsockopt for SOL_SOCKET: EINVAL for a negative
// length, ENOPROTOOPT for an option it does not know; it writes as much
// of the value as the length allows and the length it wrote.
func sysGetsockopt(t *Task, a *[6]uint64) uint64 {
	s, _, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	level, name, val, lenAddr := int32(a[1]), int32(a[2]), arch.Addr(a[3]), arch.Addr(a[4])
	if level != unix.SOL_SOCKET && s.in == nil {
		return errno(unix.EOPNOTSUPP)
	}
	var lb [4]byte
	if _, err := t.cfg.Memory.CopyIn(lenAddr, lb[:]); err != nil {
		return errno(unix.EFAULT)
	}
	n := int32(binary.LittleEndian.Uint32(lb[:]))
	if n < 0 {
		return errno(unix.EINVAL)
	}
	var v []byte
	i32 := func(x int32) []byte {
		b := make([]byte, 4)
		putU32(b, uint32(x))
		return b
	}
	if level != unix.SOL_SOCKET {
		name = -1 // none of SOL_SOCKET's below
		if v, e = s.inetOptValue(level, int32(a[2])); e != 0 {
			return errno(e)
		}
	}
	switch name {
	case -1:
	case unix.SO_TYPE:
		v = i32(int32(s.typ))
	case unix.SO_DOMAIN:
		v = i32(int32(s.family))
	case unix.SO_PROTOCOL:
		v = i32(0)
		if s.in != nil {
			v = i32(s.in.proto)
		}
	case unix.SO_ERROR:
		v = i32(int32(s.err))
		s.err = 0
	case unix.SO_ACCEPTCONN:
		v = i32(boolInt32(s.state == sockListening))
	case unix.SO_SNDBUF:
		v = i32(int32(s.sndbuf))
	case unix.SO_RCVBUF:
		v = i32(int32(s.rcvbuf))
	case unix.SO_PASSCRED:
		v = i32(boolInt32(s.passcred))
	case unix.SO_REUSEADDR:
		v = i32(boolInt32(s.reuseaddr))
	case unix.SO_REUSEPORT:
		v = i32(boolInt32(s.reuseport))
	case unix.SO_RCVLOWAT:
		v = i32(s.rcvlowat())
	case soPeekOff:
		v = i32(-1)
	case unix.SO_LINGER:
		v = make([]byte, 8)
		putU32(v, uint32(boolInt32(s.linger[0] != 0)))
		putU32(v[4:], uint32(s.linger[1]))
	case unix.SO_RCVTIMEO, soRcvtimeoNew:
		v = timevalOf(s.rcvtimeo)
	case unix.SO_SNDTIMEO, soSndtimeoNew:
		v = timevalOf(s.sndtimeo)
	case unix.SO_PEERCRED:
		c := ucred{pid: 0, uid: ^uint32(0), gid: ^uint32(0)}
		if s.hasPeerCred {
			c = s.peerCred
		}
		v = make([]byte, sizeofUcred)
		putU32(v, uint32(c.pid))
		putU32(v[4:], c.uid)
		putU32(v[8:], c.gid)
	default:
		if _, ok := plainSockOpts[name]; !ok {
			return errno(unix.ENOPROTOOPT)
		}
		v = i32(s.sockOpt(name))
	}
	k := min(int(n), len(v))
	if _, err := t.cfg.Memory.CopyOut(val, v[:k]); err != nil && k > 0 {
		return errno(unix.EFAULT)
	}
	putU32(lb[:], uint32(k))
	if _, err := t.cfg.Memory.CopyOut(lenAddr, lb[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// sysSetsockopt is sk_setsockopt for SOL_SOCKET: EINVAL for a length
// short of an int (or of the option's struct), EFAULT, ENOPROTOOPT for
// an option it does not know.
func sysSetsockopt(t *Task, a *[6]uint64) uint64 {
	s, _, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	level, name, val, optlen := int32(a[1]), int32(a[2]), arch.Addr(a[3]), int32(a[4])
	if level != unix.SOL_SOCKET {
		if s.in != nil {
			return errno0(t.setInetOpt(s, level, name, val, optlen))
		}
		return errno(unix.EOPNOTSUPP)
	}
	if optlen < 4 {
		return errno(unix.EINVAL)
	}
	b := make([]byte, min(optlen, 16))
	if _, err := t.cfg.Memory.CopyIn(val, b[:4]); err != nil {
		return errno(unix.EFAULT)
	}
	v := int32(binary.LittleEndian.Uint32(b))
	switch name {
	case unix.SO_SNDBUF, unix.SO_SNDBUFFORCE:
		x := uint32(v)
		if name == unix.SO_SNDBUF {
			x = min(x, sockWmemMax)
		}
		x = min(x, 1<<30-1)
		s.sndbuf = max(int(x)*2, sockMinSndbuf)
		if s.in != nil {
			s.in.sndbufSet = true
		}
		s.wq.notify(epollOut | epollWrNorm)
		t.fdWaitersLookAgain()
	case unix.SO_RCVBUF, unix.SO_RCVBUFFORCE:
		x := uint32(v)
		if name == unix.SO_RCVBUF {
			x = min(x, sockWmemMax)
		}
		x = min(x, 1<<30-1)
		s.rcvbuf = max(int(x)*2, sockMinRcvbuf)
	case unix.SO_PASSCRED:
		s.passcred = v != 0
	case unix.SO_REUSEADDR:
		s.reuseaddr = v != 0
	case unix.SO_REUSEPORT:
		s.reuseport = v != 0
	case unix.SO_RCVLOWAT:
		if v < 0 {
			v = 1<<31 - 1
		}
		s.setOpt(unix.SO_RCVLOWAT, v)
	case unix.SO_LINGER:
		if optlen < 8 {
			return errno(unix.EINVAL)
		}
		if _, err := t.cfg.Memory.CopyIn(val, b[:8]); err != nil {
			return errno(unix.EFAULT)
		}
		s.linger[0] = boolInt32(v != 0)
		if v != 0 {
			s.linger[1] = int32(binary.LittleEndian.Uint32(b[4:]))
		}
	case unix.SO_RCVTIMEO, soRcvtimeoNew, unix.SO_SNDTIMEO, soSndtimeoNew:
		d, e := t.sockTimeoutIn(val, optlen)
		if e != 0 {
			return errno(e)
		}
		if name == unix.SO_RCVTIMEO || name == soRcvtimeoNew {
			s.rcvtimeo = d
		} else {
			s.sndtimeo = d
		}
	default:
		if _, ok := plainSockOpts[name]; !ok {
			return errno(unix.ENOPROTOOPT)
		}
		switch name {
		case unix.SO_DEBUG, unix.SO_DONTROUTE, unix.SO_BROADCAST, unix.SO_KEEPALIVE, unix.SO_OOBINLINE,
			unix.SO_NO_CHECK, unix.SO_TIMESTAMP, unix.SO_TIMESTAMPNS, unix.SO_PASSSEC, unix.SO_RXQ_OVFL, unix.SO_WIFI_STATUS:
			v = boolInt32(v != 0)
		}
		s.setOpt(name, v)
	}
	return 0
}

func (s *socket) setOpt(name, v int32) {
	if s.opts == nil {
		s.opts = make(map[int32]int32)
	}
	s.opts[name] = v
}

// rcvlowat is SO_RCVLOWAT (1 unless set).
func (s *socket) rcvlowat() int32 {
	if v, ok := s.opts[unix.SO_RCVLOWAT]; ok {
		return v
	}
	return 1
}

// sockTimeoutIn reads a struct timeval as sock_set_timeout: EINVAL for a
// shorter length, EDOM for microseconds out of range; zero is no limit,
// a negative time none at all (the call does not wait); the rest is
// rounded up to a jiffy.
func (t *Task) sockTimeoutIn(addr arch.Addr, optlen int32) (time.Duration, unix.Errno) {
	if optlen < 16 {
		return 0, unix.EINVAL
	}
	var b [16]byte
	if _, err := t.cfg.Memory.CopyIn(addr, b[:]); err != nil {
		return 0, unix.EFAULT
	}
	sec, usec := int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if usec < 0 || usec >= 1e6 {
		return 0, unix.EDOM
	}
	if sec < 0 {
		return -1, 0
	}
	if sec == 0 && usec == 0 {
		return 0, 0
	}
	if sec >= 1<<31 {
		return 0, 0 // past what Linux keeps: no limit
	}
	const usecPerJiffy = 1e6 / hz
	j := sec*hz + (usec+usecPerJiffy-1)/usecPerJiffy
	return time.Duration(j) * (time.Second / hz), 0
}

// sysShutdown is unix_shutdown: EINVAL for how past SHUT_RDWR; the
// directions shut stay shut, and a connected peer (stream, seqpacket)
// sees the mirror: it may not send where s may not read, and reads end of
// file where s may not send. An unconnected socket is no error.
func sysShutdown(t *Task, a *[6]uint64) uint64 {
	s, _, e := t.socketOf(a[0])
	if e != 0 {
		return errno(e)
	}
	how := int32(a[1])
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return errno(unix.EINVAL)
	}
	mode := uint8(how + 1)
	if s.in != nil {
		return errno0(t.inetShutdown(s, mode))
	}
	s.shutdown |= mode
	s.wq.notify(0)
	if o := s.peer; o != nil && s.connectionBased() {
		var pm uint8
		if mode&rcvShutdown != 0 {
			pm |= sendShutdown
		}
		if mode&sendShutdown != 0 {
			pm |= rcvShutdown
		}
		o.shutdown |= pm
		o.wq.notify(0)
	}
	t.fdWaitersLookAgain()
	return 0
}

// sockIoctl serves a socket's ioctls: SIOCINQ (FIONREAD: the unread
// bytes of a stream or seqpacket socket, the next datagram's length;
// EINVAL listening), SIOCOUTQ (the bytes sent and not yet read) and the
// interface ioctls (ifreqIoctl); any other is ENOTTY. FIONBIO is every
// file's (fileIoctl).
func (t *Task) sockIoctl(s *socket, f *openFile, req uint64, arg arch.Addr) uint64 {
	if r, ok := t.ifreqIoctl(req, arg); ok {
		return r
	}
	var v int32
	switch req {
	case unix.SIOCINQ:
		if s.state == sockListening {
			return errno(unix.EINVAL)
		}
		for _, m := range s.recvq {
			v += int32(len(m.data) - m.off)
			if s.typ == unix.SOCK_DGRAM {
				break
			}
		}
	case unix.SIOCOUTQ:
		// An inet send leaves nothing unacknowledged on lo.
		if s.in == nil {
			v = int32(s.wmem)
		}
	default:
		return errno(unix.ENOTTY)
	}
	var b [4]byte
	putU32(b[:], uint32(v))
	return t.copyOutAll(arg, b[:])
}
