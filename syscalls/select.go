package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// select(2) and pselect6(2), as Linux's fs/select.c: three fd_sets
// (bitmaps of unsigned longs, fd i at bit i%64 of word i/64) ask which fds
// are readable, writable and have an exceptional condition; the answer
// overwrites them. An fd's answer is its poll mask (Process.readiness)
// read through Linux's POLLIN_SET, POLLOUT_SET and POLLEX_SET, and the
// wait is poll's (waitReady).

const (
	// fdSetWordBits is how many fds one unsigned long of an fd_set holds.
	fdSetWordBits = 64
	// selectInSet, selectOutSet and selectExSet are the poll bits that
	// make an fd readable, writable or exceptional for select (Linux's
	// POLLIN_SET, POLLOUT_SET, POLLEX_SET): an fd closed while select
	// waits (POLLNVAL) is all three.
	selectInSet  = unix.POLLIN | pollRdNorm | pollRdBand | unix.POLLHUP | unix.POLLERR | unix.POLLNVAL
	selectOutSet = unix.POLLOUT | pollWrNorm | pollWrBand | unix.POLLERR | unix.POLLNVAL
	selectExSet  = unix.POLLPRI | unix.POLLNVAL
)

// sysSelect: select(nfds, readfds, writefds, exceptfds, struct timeval
// *timeout). The timeout (NULL: forever) is read first: EFAULT, EINVAL
// for negative seconds or microseconds once the microseconds past a
// second are carried into the seconds (Linux's kern_select). The time
// left is written back to it as a timeval (putTimeLeft), whatever
// select answered.
func sysSelect(t *Task, a *[6]uint64) uint64 {
	tvAddr := arch.Addr(a[4])
	var tv relTimeout
	if tvAddr != 0 {
		var b [16]byte
		if _, err := t.cfg.Memory.CopyIn(tvAddr, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		sec, usec := int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))
		var e unix.Errno
		// Linux's sum wraps as the C does; a wrapped sum is negative.
		if tv, e = newRelTimeout(sec+usec/1e6, usec%1e6*1000); e != 0 {
			return errno(e)
		}
	}
	start := time.Now()
	r := t.selectFDs(int32(a[0]), [3]arch.Addr{arch.Addr(a[1]), arch.Addr(a[2]), arch.Addr(a[3])}, tv.duration(tvAddr != 0))
	return t.putTimeLeft(tvAddr, tv, start, true, r)
}

// sysPselect6: pselect6(nfds, readfds, writefds, exceptfds, struct
// timespec *timeout, struct {const sigset_t *ss; size_t ss_len} *sig),
// checked in Linux's order: sig's copy (EFAULT), the timeout's copy
// (EFAULT) and check (EINVAL), the mask as ppoll's (a NULL ss is no
// mask; ss_len other than 8 is EINVAL; EFAULT), then select. The time
// left is written back as a timespec once select ran.
func sysPselect6(t *Task, a *[6]uint64) uint64 {
	var maskAddr, maskSize uint64
	if a[5] != 0 {
		var b [16]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[5]), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		maskAddr, maskSize = binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])
	}
	tsAddr := arch.Addr(a[4])
	var ts relTimeout
	if tsAddr != 0 {
		var e unix.Errno
		if ts, e = t.readRelTimeout(tsAddr); e != 0 {
			return errno(e)
		}
	}
	start, selected := time.Now(), false
	r := t.withSigmask(maskAddr, maskSize, errno(errRestartNoHand), func() uint64 {
		selected = true
		return t.selectFDs(int32(a[0]), [3]arch.Addr{arch.Addr(a[1]), arch.Addr(a[2]), arch.Addr(a[3])}, ts.duration(tsAddr != 0))
	})
	if !selected {
		return r
	}
	return t.putTimeLeft(tsAddr, ts, start, false, r)
}

// fdSets are select's three sets (read, write, except) over fds [0, n).
type fdSets struct {
	// n is how many fds the call looks at: nfds, bounded by the fd
	// table's size.
	n uint64
	// addrs are where the sets are in guest memory, 0 for a set not
	// given.
	addrs [3]arch.Addr
	// asked are the sets as the program gave them (zero where not
	// given), with the bits at and past n cleared; ready the answer.
	asked, ready [3][]uint64
}

// selectFDs is the body of select and pselect6 (Linux's core_sys_select):
// nfds below 0 is EINVAL; past the fd table's size it is bounded by it,
// so that bits of fds at or past the size are neither read, checked nor
// written. The sets are read (EFAULT), every fd asked about must be open
// (EBADF), then the fds are scanned until one is ready or the wait ends
// (waitReady); with none ready, a signal ends the call with
// ERESTARTNOHAND and the sets as they were. Otherwise each set given is
// overwritten with its answer, one word per 64 fds up to n (EFAULT).
func (t *Task) selectFDs(nfds int32, addrs [3]arch.Addr, timeout time.Duration) uint64 {
	if nfds < 0 {
		return errno(unix.EINVAL)
	}
	s := fdSets{n: min(uint64(nfds), t.files().size), addrs: addrs}
	if e := t.readFDSets(&s); e != 0 {
		return errno(e)
	}
	end, e := t.selectEnd(&s)
	if e != 0 {
		return errno(e)
	}
	r := t.waitReady(timeout, func() (uint64, bool, uint64) {
		ready, host := t.selectOnce(&s, end)
		return ready, host, 0
	})
	if int64(r) < 0 {
		return r
	}
	if e := t.writeFDSets(&s); e != 0 {
		return errno(e)
	}
	return r
}

// words is how many unsigned longs cover n fds.
func (s *fdSets) words() uint64 { return (s.n + fdSetWordBits - 1) / fdSetWordBits }

// readFDSets reads the sets given, each words() unsigned longs, and
// clears the bits past n.
func (t *Task) readFDSets(s *fdSets) unix.Errno {
	words := s.words()
	b := make([]byte, words*8)
	for i, addr := range s.addrs {
		s.asked[i], s.ready[i] = make([]uint64, words), make([]uint64, words)
		if addr == 0 || words == 0 {
			continue
		}
		if _, err := t.cfg.Memory.CopyIn(addr, b); err != nil {
			return unix.EFAULT
		}
		for w := range s.asked[i] {
			s.asked[i][w] = binary.LittleEndian.Uint64(b[w*8:])
		}
		if r := s.n % fdSetWordBits; r != 0 {
			s.asked[i][words-1] &= 1<<r - 1
		}
	}
	return 0
}

// selectEnd checks that every fd asked about is open (Linux's
// max_select_fd; an O_PATH fd counts as open here, and is POLLNVAL once
// polled) and returns one past the highest, or EBADF.
func (t *Task) selectEnd(s *fdSets) (uint64, unix.Errno) {
	tab := t.files()
	var end uint64
	for w := range s.words() {
		bits := s.asked[0][w] | s.asked[1][w] | s.asked[2][w]
		for b := uint64(0); bits != 0; b, bits = b+1, bits>>1 {
			if bits&1 == 0 {
				continue
			}
			fd := w*fdSetWordBits + b
			if _, open := tab.fds[int32(fd)]; !open {
				return 0, unix.EBADF
			}
			end = fd + 1
		}
	}
	return end, 0
}

// selectOnce answers the sets for fds [0, end) into s.ready and returns
// how many answers are yes (an fd in two sets counts twice) and whether
// any was the host's.
func (t *Task) selectOnce(s *fdSets, end uint64) (ready uint64, host bool) {
	for i := range s.ready {
		clear(s.ready[i])
	}
	for w := range (end + fdSetWordBits - 1) / fdSetWordBits {
		bits := s.asked[0][w] | s.asked[1][w] | s.asked[2][w]
		for b := uint64(0); bits != 0; b, bits = b+1, bits>>1 {
			if bits&1 == 0 {
				continue
			}
			mask, h, ok := t.readiness(w*fdSetWordBits + b)
			if !ok {
				mask = unix.POLLNVAL
			}
			host = host || h
			for i, set := range [3]uint16{selectInSet, selectOutSet, selectExSet} {
				if s.asked[i][w]&(1<<b) != 0 && mask&set != 0 {
					s.ready[i][w] |= 1 << b
					ready++
				}
			}
		}
	}
	return ready, host
}

// writeFDSets overwrites each set given with its answer, in order: EFAULT
// at the first that cannot be written, leaving the later ones as they
// were.
func (t *Task) writeFDSets(s *fdSets) unix.Errno {
	b := make([]byte, s.words()*8)
	for i, addr := range s.addrs {
		if addr == 0 || len(b) == 0 {
			continue
		}
		for w, v := range s.ready[i] {
			binary.LittleEndian.PutUint64(b[w*8:], v)
		}
		if _, err := t.cfg.Memory.CopyOut(addr, b); err != nil {
			return unix.EFAULT
		}
	}
	return 0
}
