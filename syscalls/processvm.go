package syscalls

import (
	"encoding/binary"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// process_vm_readv and process_vm_writev copy between the caller's
// buffers and another guest process's (or its own), as Linux's
// mm/process_vm_access.c: the local iovecs as readv's (EINVAL past
// UIO_MAXIOV or for a negative length, EFAULT for a buffer beyond user
// space, the total cut at MAX_RW_COUNT), then, if they hold anything,
// the remote ones (no address check); remote buffers all empty move
// nothing and name no process. The remote side is reached as Linux pins
// its pages, without FOLL_FORCE: an unmapped, unreadable (read) or
// unwritable (write) remote page ends the copy there. The bytes moved
// are returned if any were, else the error (EFAULT, ESRCH, EPERM).

// pvmChunk bounds the bytes moved through the host at a time.
const pvmChunk = 64 << 10

func sysProcessVMReadv(t *Task, a *[6]uint64) uint64  { return t.processVM(a, false) }
func sysProcessVMWritev(t *Task, a *[6]uint64) uint64 { return t.processVM(a, true) }

func (t *Task) processVM(a *[6]uint64, write bool) uint64 {
	pid, lvec, liovcnt, rvec, riovcnt, flags := a[0], a[1], a[2], a[3], a[4], a[5]
	if flags != 0 {
		return errno(unix.EINVAL)
	}
	local, e := t.iovecsFromUser(lvec, liovcnt)
	if e != 0 {
		return errno(e)
	}
	var total uint64
	for i := range local {
		s := &local[i]
		if end := s.base + s.length; end < s.base || end > taskSizeMax {
			return errno(unix.EFAULT) // access_ok
		}
		s.length = min(s.length, maxIO-total)
		total += s.length
	}
	if total == 0 {
		return 0
	}
	remote, e := t.iovecsFromUser(rvec, riovcnt)
	if e != 0 {
		return errno(e)
	}
	if !slices.ContainsFunc(remote, func(s iovSeg) bool { return s.length > 0 }) {
		return 0
	}
	target := t.tree.task(int(int32(pid)))
	if int32(pid) <= 0 || target == nil || target.Process.ended.Load() {
		return errno(unix.ESRCH)
	}
	if !t.mayAccess(target) {
		return errno(unix.EPERM)
	}
	lmem, rmem := t.cfg.Memory, target.cfg.Memory
	var done uint64
	li, loff := 0, uint64(0) // the local buffer and offset the next byte goes to or comes from
	buf := make([]byte, min(total, pvmChunk))
	for _, r := range remote {
		for roff := uint64(0); roff < r.length && done < total; {
			for local[li].length == loff {
				li, loff = li+1, 0
			}
			l := local[li]
			n := min(r.length-roff, l.length-loff, uint64(len(buf)))
			raddr, laddr := arch.Addr(r.base+roff), arch.Addr(l.base+loff)
			var moved uint64
			var ok bool
			if write {
				moved, ok = pvmMove(lmem.CopyIn, laddr, rmem.CopyOut, raddr, buf[:n])
			} else {
				moved, ok = pvmMove(rmem.CopyIn, raddr, lmem.CopyOut, laddr, buf[:n])
			}
			done += moved
			roff += moved
			loff += moved
			if !ok {
				if done > 0 {
					return done
				}
				return errno(unix.EFAULT)
			}
		}
	}
	return done
}

// pvmMove copies len(b) bytes from src at from to dst at to, through b;
// it returns the bytes that reached dst and false if either side
// faulted.
func pvmMove(src func(arch.Addr, []byte) (int, error), from arch.Addr, dst func(arch.Addr, []byte) (int, error), to arch.Addr, b []byte) (uint64, bool) {
	n, errIn := src(from, b)
	m, errOut := dst(to, b[:n])
	return uint64(m), errIn == nil && errOut == nil
}

// iovecsFromUser reads iovcnt iovecs at addr as Linux's iovec_from_user:
// EINVAL past UIO_MAXIOV or for a negative length, EFAULT for an
// unreadable array.
func (t *Task) iovecsFromUser(addr, iovcnt uint64) ([]iovSeg, unix.Errno) {
	if iovcnt > 1024 {
		return nil, unix.EINVAL
	}
	b := make([]byte, 16*iovcnt)
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b); err != nil {
		return nil, unix.EFAULT
	}
	segs := make([]iovSeg, iovcnt)
	for i := range segs {
		segs[i] = iovSeg{binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])}
		if int64(segs[i].length) < 0 {
			return nil, unix.EINVAL
		}
	}
	return segs, 0
}
