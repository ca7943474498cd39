package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// pwritev(2) and pwritev2(2): writev at an offset, and with per-call
// flags, as Linux's do_pwritev, do_writev and vfs_writev check and
// write.

// The RWF_* flags of pwritev2 (and preadv2) that change what mmvm does or
// answers.
const (
	rwfHipri     = 0x1
	rwfNowait    = 0x8
	rwfAppend    = 0x10
	rwfNoappend  = 0x20
	rwfAtomic    = 0x40
	rwfDontcache = 0x80
	rwfNosignal  = 0x100
	// rwfKnown is Linux 6.18's RWF_SUPPORTED; any other bit is
	// EOPNOTSUPP.
	rwfKnown = 0x1ff
)

// sysPwritev writes at pos_l: on x86-64 pos_h adds nothing (as preadv's).
func sysPwritev(t *Task, a *[6]uint64) uint64 {
	if int64(a[3]) < 0 {
		return errno(unix.EINVAL)
	}
	return t.pwritev(a[0], arch.Addr(a[1]), a[2], int64(a[3]), 0)
}

// sysPwritev2 is pwritev with flags, or writev at the file position with
// flags for offset -1. flags is a C int: the upper half is ignored.
func sysPwritev2(t *Task, a *[6]uint64) uint64 {
	pos, flags := int64(a[3]), uint32(a[5])
	if pos == -1 {
		return t.writevFlags(a[0], arch.Addr(a[1]), a[2], flags)
	}
	if pos < 0 {
		return errno(unix.EINVAL)
	}
	return t.pwritev(a[0], arch.Addr(a[1]), a[2], pos, flags)
}

// pwritev writes the iovcnt buffers at iovAddr to fd at pos, which it does
// not move, checking in Linux's order: the fd (EBADF, O_PATH too), that it
// has a position (ESPIPE for stdio, pipes and anon files), that it was
// opened for writing (EBADF), the iovec array (EINVAL, EFAULT), nothing
// to write (0), pos plus the length past what a loff_t holds (EINVAL),
// the flags (writeFlagsErr). A memfd opened O_APPEND, or written with
// RWF_APPEND, takes the bytes at its end whatever pos says (as Linux's
// pwrite does), unless RWF_NOAPPEND; a device takes them as write does.
func (t *Task) pwritev(fd uint64, iovAddr arch.Addr, iovcnt uint64, pos int64, flags uint32) uint64 {
	f, e := t.fileNotPath(fd)
	if e != 0 {
		return errno(e)
	}
	if f.fs == nil {
		return errno(unix.ESPIPE)
	}
	if !fsWritable(f) {
		return errno(unix.EBADF)
	}
	iov, total, e := t.readIOVec(iovAddr, iovcnt)
	if e != 0 {
		return errno(e)
	}
	if total == 0 {
		return 0
	}
	if pos+int64(min(total, maxIO)) < 0 {
		return errno(unix.EINVAL)
	}
	if e := writeFlagsErr(f, flags); e != 0 {
		return errno(e)
	}
	if f.fs.shm == nil {
		return eachIOVec(iov, iovcnt, func(base, length, _ uint64) uint64 {
			return t.fsWrite(f, arch.Addr(base), length)
		})
	}
	if appends(f, flags) {
		pos = int64(f.fs.shm.Size())
	}
	t.removePrivs(f, total)
	return t.memfdWritev(f, iov, iovcnt, uint64(pos))
}

// writevFlags is pwritev2 at the file position (offset -1): writev, with
// the flags answered after writev's own checks (the fd, that it was
// opened for writing, the iovec array, nothing to write), as Linux's
// vfs_writev does. A memfd honours RWF_APPEND and RWF_NOAPPEND and moves
// its position past the bytes written; a pipe end honours RWF_NOWAIT (as
// O_NONBLOCK) and RWF_NOSIGNAL (EPIPE with no SIGPIPE).
func (t *Task) writevFlags(fd uint64, iovAddr arch.Addr, iovcnt uint64, flags uint32) uint64 {
	a := [6]uint64{fd, uint64(iovAddr), iovcnt}
	if flags == 0 {
		return sysWritevFile(t, &a)
	}
	f, e := t.fileNotPath(fd)
	if e != 0 {
		return errno(e)
	}
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return errno(unix.EBADF)
	}
	iov, total, e := t.readIOVec(iovAddr, iovcnt)
	if e != 0 {
		return errno(e)
	}
	if total == 0 {
		return 0
	}
	if e := writeFlagsErr(f, flags); e != 0 {
		return errno(e)
	}
	switch {
	case f.fs != nil && f.fs.shm != nil:
		pos := uint64(f.fs.pos)
		if appends(f, flags) {
			pos = f.fs.shm.Size()
		}
		t.removePrivs(f, total)
		r := t.memfdWritev(f, iov, iovcnt, pos)
		if int64(r) > 0 {
			f.fs.pos = int64(pos + r)
		}
		return r
	case f.writesPipe():
		if flags&rwfNosignal != 0 && f.pipe.readers == 0 {
			return errno(unix.EPIPE)
		}
		if flags&rwfNowait != 0 && f.flags&unix.O_NONBLOCK == 0 {
			// A write that may not wait holds p.mu throughout, so no
			// other thread sees the description's flags changed.
			f.flags |= unix.O_NONBLOCK
			defer func() { f.flags &^= unix.O_NONBLOCK }()
		}
	}
	return sysWritevFile(t, &a)
}

// memfdWritev writes the buffers of iov to f's memfd from pos on: the
// bytes written, or the first buffer's error.
func (t *Task) memfdWritev(f *openFile, iov []byte, iovcnt, pos uint64) uint64 {
	return eachIOVec(iov, iovcnt, func(base, length, done uint64) uint64 {
		n, e := t.memfdWrite(f.fs, arch.Addr(base), length, pos+done)
		return result(n, errOrNil(e))
	})
}

// appends says whether a write to memfd f with flags goes to its end:
// RWF_APPEND, or the description's O_APPEND unless RWF_NOAPPEND.
func appends(f *openFile, flags uint32) bool {
	return flags&rwfAppend != 0 || f.flags&unix.O_APPEND != 0 && flags&rwfNoappend == 0
}

// writeFlagsErr is Linux's kiocb_set_rw_flags's answer to a write of f
// with flags: EOPNOTSUPP for a bit Linux does not know; EINVAL for
// RWF_APPEND with RWF_NOAPPEND; EOPNOTSUPP for RWF_ATOMIC
// and RWF_DONTCACHE, which need direct I/O or a page cache none of the
// guest's files has; for RWF_NOWAIT on a memfd (shmem has no
// FMODE_NOWAIT); and for any flag but RWF_HIPRI on an anon file, whose
// writes are not write_iter (do_loop_readv_writev's rule).
func writeFlagsErr(f *openFile, flags uint32) unix.Errno {
	switch {
	case flags&^rwfKnown != 0:
		return unix.EOPNOTSUPP
	case flags&(rwfAppend|rwfNoappend) == rwfAppend|rwfNoappend:
		return unix.EINVAL
	case flags&(rwfAtomic|rwfDontcache) != 0:
		return unix.EOPNOTSUPP
	case f.anon != nil && flags&^rwfHipri != 0:
		return unix.EOPNOTSUPP
	case f.fs != nil && f.fs.shm != nil && flags&rwfNowait != 0:
		return unix.EOPNOTSUPP
	}
	return 0
}
