package syscalls

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Taking signals without a handler: rt_sigtimedwait (sigwaitinfo,
// sigtimedwait) and signalfd, as Linux's kernel/signal.c and
// fs/signalfd.c. Both take the pending signals of a set, blocked or not,
// from the calling thread's own pending signals first, then the
// process's, in dequeue's order, each with its siginfo.

// unwaitable are the signals no set of these calls takes.
const unwaitable = 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)

// sysRtSigtimedwait is rt_sigtimedwait(set, info, timeout, sigsetsize),
// checked as Linux's: the set's size (EINVAL), the set and the timeout
// (EFAULT), then the timeout's value (EINVAL). A signal of the set already
// pending is taken at once; else, unless the timeout is zero, the thread
// waits with the set unblocked: a signal of the set is taken, the timeout
// is EAGAIN, any other signal it does not block EINTR (its handler then
// runs), as the run's end. The signal's siginfo_t is written to info.
func sysRtSigtimedwait(t *Task, a *[6]uint64) uint64 {
	if a[3] != sigsetSize {
		return errno(unix.EINVAL)
	}
	var b [8]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[0]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	set := binary.LittleEndian.Uint64(b[:]) &^ unwaitable
	timeout := time.Duration(-1)
	if a[2] != 0 {
		var ts [16]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[2]), ts[:]); err != nil {
			return errno(unix.EFAULT)
		}
		sec, nsec := int64(binary.LittleEndian.Uint64(ts[:])), int64(binary.LittleEndian.Uint64(ts[8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return errno(unix.EINVAL)
		}
		timeout = durationOf(sec, nsec)
	}
	sig, info, e := t.sigtimedwait(set, timeout)
	if e != 0 {
		return errno(e)
	}
	if a[1] != 0 {
		si := info.encode()
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[1]), si[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return uint64(sig)
}

// sigtimedwait is Linux's do_sigtimedwait: timeout < 0 waits without
// end. While it waits, the mask is lowered by set, the old one kept as
// realBlocked.
func (t *Task) sigtimedwait(set uint64, timeout time.Duration) (unix.Signal, sigInfo, unix.Errno) {
	if sig, info, ok := t.dequeueMasked(^set); ok {
		return sig, info, 0
	}
	if timeout == 0 {
		return 0, sigInfo{}, unix.EAGAIN
	}
	saved := t.sigmask
	t.tsig.realBlocked = saved
	t.sigmask &^= set
	var timedOut bool
	if timeout < 0 {
		t.waitForInterruption()
	} else {
		timedOut = sleepUntil(t, t.cfg.Monotonic(), timeout)
	}
	t.sigmask, t.tsig.realBlocked = saved, 0
	if sig, info, ok := t.dequeueMasked(^set); ok {
		return sig, info, 0
	}
	if timedOut {
		return 0, sigInfo{}, unix.EAGAIN
	}
	return 0, sigInfo{}, unix.EINTR
}

// signalfdSiginfoSize is sizeof(struct signalfd_siginfo).
const signalfdSiginfoSize = 128

// signalFD is a signalfd: the set of signals its reads take.
type signalFD struct {
	mask uint64
	// owner is the process that made it, whose pending signals poll
	// and epoll look at (Linux looks at the polling thread's: a
	// signalfd a fork shares polls the parent's here).
	owner *Process
}

func sysSignalfd(t *Task, a *[6]uint64) uint64  { return t.signalfd(a[0], a[1], a[2], 0) }
func sysSignalfd4(t *Task, a *[6]uint64) uint64 { return t.signalfd(a[0], a[1], a[2], a[3]) }

// signalfd checks as Linux's signalfd4: the set's size (EINVAL), the set
// (EFAULT), the flags (SFD_CLOEXEC, SFD_NONBLOCK: EINVAL for others). fd
// -1 makes a signalfd (O_RDWR); any other fd must be one (EBADF, EINVAL),
// whose set is replaced.
func (t *Task) signalfd(ufd, maskAddr, size, flags uint64) uint64 {
	if size != sigsetSize {
		return errno(unix.EINVAL)
	}
	var b [8]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(maskAddr), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	if uint32(flags)&^(unix.O_CLOEXEC|unix.O_NONBLOCK) != 0 {
		return errno(unix.EINVAL)
	}
	mask := binary.LittleEndian.Uint64(b[:]) &^ unwaitable
	if int32(ufd) == -1 {
		sfd := &signalFD{mask: mask, owner: t.Process}
		return t.installAnon(sfd, unix.O_RDWR|uint32(flags)&unix.O_NONBLOCK, flags&unix.O_CLOEXEC != 0)
	}
	f, e := t.fdget(ufd)
	if e != 0 {
		return errno(e)
	}
	sfd, ok := f.anon.(*signalFD)
	if !ok {
		return errno(unix.EINVAL)
	}
	sfd.mask = mask
	t.sig.signalfdWait.notify(0)
	return uint64(uint32(ufd))
}

// read is readv into the one buffer at addr.
func (s *signalFD) read(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	var iov [16]byte
	binary.LittleEndian.PutUint64(iov[:], uint64(addr))
	binary.LittleEndian.PutUint64(iov[8:], n)
	return s.readv(t, f, iov[:], 1, n)
}

// readv takes as many signals of the set as the buffers hold whole
// signalfd_siginfo structures for (none: EINVAL), as Linux's
// signalfd_read_iter: the first waits unless O_NONBLOCK (EAGAIN), ending
// with ERESTARTSYS at a signal the thread does not block; the rest are
// taken only if pending. A signal whose structure cannot be stored is
// lost, and ends the read (EFAULT if it was the first).
func (s *signalFD) readv(t *Task, f *openFile, iov []byte, iovcnt, total uint64) uint64 {
	count := min(total, maxIO) / signalfdSiginfoSize
	if count == 0 {
		return errno(unix.EINVAL)
	}
	segs := iovSegments(iov, iovcnt, count*signalfdSiginfoSize)
	var done uint64
	for done < count {
		sig, info, ok := t.dequeueMasked(^s.mask)
		if !ok {
			if done > 0 {
				break
			}
			if f.flags&unix.O_NONBLOCK != 0 {
				return errno(unix.EAGAIN)
			}
			if e := t.waitChange(&t.sig.signalfdWait); e != 0 {
				return errno(e)
			}
			continue
		}
		b := signalfdSiginfo(sig, &info)
		if !t.copyToSegments(segs, done*signalfdSiginfoSize, b[:]) {
			if done == 0 {
				return errno(unix.EFAULT)
			}
			break
		}
		done++
	}
	return done * signalfdSiginfoSize
}

// copyToSegments copies b to the buffers segs, at off bytes into them.
func (p *Process) copyToSegments(segs []iovSeg, off uint64, b []byte) bool {
	for _, s := range segs {
		if len(b) == 0 {
			break
		}
		if off >= s.length {
			off -= s.length
			continue
		}
		k := min(s.length-off, uint64(len(b)))
		if _, err := p.cfg.Memory.CopyOut(arch.Addr(s.base+off), b[:k]); err != nil {
			return false
		}
		b, off = b[k:], 0
	}
	return true
}

// signalfdSiginfo lays info out as struct signalfd_siginfo, as Linux's
// signalfd_copyinfo: ssi_signo, ssi_errno, ssi_code, then by the siginfo's
// layout ssi_pid and ssi_uid (a sender's), ssi_status too (a child's),
// ssi_tid, ssi_overrun, ssi_ptr and ssi_int (a POSIX timer's), or
// ssi_addr (a fault's).
func signalfdSiginfo(sig unix.Signal, si *sigInfo) [signalfdSiginfoSize]byte {
	var b [signalfdSiginfoSize]byte
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(sig))
	le.PutUint32(b[8:], uint32(si.code))
	switch {
	case si.isChild():
		le.PutUint32(b[12:], si.pid)
		le.PutUint32(b[16:], si.uid)
		le.PutUint32(b[40:], uint32(si.status))
	case si.isFault():
		le.PutUint64(b[72:], si.addr)
	case si.code == siTimer:
		le.PutUint32(b[24:], uint32(si.timerID))
		le.PutUint32(b[32:], uint32(si.overrun))
		le.PutUint32(b[44:], uint32(si.value))
		le.PutUint64(b[48:], si.value)
	case si.code < 0:
		// SIL_RT: a sigqueue's, with its sigval.
		le.PutUint32(b[12:], si.pid)
		le.PutUint32(b[16:], si.uid)
		le.PutUint32(b[44:], uint32(si.value))
		le.PutUint64(b[48:], si.value)
	default:
		le.PutUint32(b[12:], si.pid)
		le.PutUint32(b[16:], si.uid)
	}
	return b
}

// write and writev: a signalfd has no write (EINVAL).
func (s *signalFD) write(*Task, *openFile, arch.Addr, uint64) uint64 { return errno(unix.EINVAL) }
func (s *signalFD) writev(*Task, *openFile, []byte, uint64) uint64   { return errno(unix.EINVAL) }

// pollMask is EPOLLIN while a signal of the set is pending on the owner
// or one of its threads.
func (s *signalFD) pollMask(int) uint32 {
	pending := s.owner.sig.pending
	for _, t := range s.owner.tasks {
		pending |= t.tsig.pending
	}
	if pending&s.mask != 0 {
		return epollIn
	}
	return 0
}

func (s *signalFD) queue() *waitQueue { return &s.owner.sig.signalfdWait }
func (s *signalFD) release()          {}
func (s *signalFD) anonName() string  { return "signalfd" }

// fdinfo is what /proc/self/fdinfo adds for a signalfd: its set.
func (s *signalFD) fdinfo() string { return fmt.Sprintf("sigmask:\t%016x\n", s.mask) }
