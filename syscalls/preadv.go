package syscalls

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// preadv2(2): readv at an offset, or at the file position for offset -1,
// with per-call flags, checked as Linux 6.18's do_preadv, do_readv,
// vfs_readv and kiocb_set_rw_flags check them (pwritev.go's writes are
// their twin).

// sysPreadv2 checks in Linux's order: an offset below -1 (EINVAL), the fd
// (EBADF, O_PATH too), at an offset a file with no position (ESPIPE for
// stdio, pipes and anon files), an fd not opened for reading (EBADF), a
// file with no read (an epoll instance: EINVAL), the iovec array
// (EINVAL, EFAULT), nothing to read (0), the offset plus the length past
// what a loff_t holds (EINVAL), then the flags (readFlagsErr). A pipe or
// eventfd read with RWF_NOWAIT does not wait, as under O_NONBLOCK. flags
// is a C int: the upper half is ignored.
func sysPreadv2(t *Task, a *[6]uint64) uint64 {
	fd, iovAddr, iovcnt, pos, flags := a[0], arch.Addr(a[1]), a[2], int64(a[3]), uint32(a[5])
	if pos < -1 {
		return errno(unix.EINVAL)
	}
	f, e := t.fileNotPath(fd)
	if e != 0 {
		return errno(e)
	}
	if pos >= 0 && f.fs == nil {
		return errno(unix.ESPIPE)
	}
	if f.flags&unix.O_ACCMODE == unix.O_WRONLY || f.pipe != nil && !f.readsPipe() {
		return errno(unix.EBADF)
	}
	if _, ok := f.anon.(*epollInstance); ok {
		return errno(unix.EINVAL)
	}
	_, total, e := t.readIOVec(iovAddr, iovcnt)
	if e != 0 {
		return errno(e)
	}
	if total == 0 {
		return 0
	}
	if pos >= 0 && pos+int64(min(total, maxIO)) < 0 {
		return errno(unix.EINVAL)
	}
	if e := t.readFlagsErr(f, flags); e != 0 {
		return errno(e)
	}
	if flags&rwfNowait != 0 && (f.pipe != nil || f.anon != nil) && f.flags&unix.O_NONBLOCK == 0 {
		// A read that may not wait holds p.mu throughout, so no other
		// thread sees the description's flags changed.
		f.flags |= unix.O_NONBLOCK
		defer func() { f.flags &^= unix.O_NONBLOCK }()
	}
	return t.readv(fd, uint64(iovAddr), iovcnt, pos)
}

// readFlagsErr is Linux's answer to a read of f with flags: a file whose
// read is no read_iter takes no flag but RWF_HIPRI (do_loop_readv_writev:
// EOPNOTSUPP); then, as kiocb_set_rw_flags: EOPNOTSUPP for a bit Linux
// does not know, EINVAL for RWF_APPEND with RWF_NOAPPEND, EOPNOTSUPP for
// RWF_NOWAIT on a file without FMODE_NOWAIT, for RWF_ATOMIC (for writes
// only) and for RWF_DONTCACHE on a file system without it (readFile).
func (p *Process) readFlagsErr(f *openFile, flags uint32) unix.Errno {
	rf := p.readFile(f, flags)
	switch {
	case !rf.iter && flags&^rwfHipri != 0:
		return unix.EOPNOTSUPP
	case flags&^rwfKnown != 0:
		return unix.EOPNOTSUPP
	case flags&(rwfAppend|rwfNoappend) == rwfAppend|rwfNoappend:
		return unix.EINVAL
	case flags&rwfNowait != 0 && !rf.nowait:
		return unix.EOPNOTSUPP
	case flags&rwfAtomic != 0:
		return unix.EOPNOTSUPP
	case flags&rwfDontcache != 0 && !rf.dontcache:
		return unix.EOPNOTSUPP
	}
	return 0
}

// readKind is what Linux's file behind an open file has that the read
// flags need: a read_iter (iter), FMODE_NOWAIT (nowait), and a file
// system with FOP_DONTCACHE (dontcache).
type readKind struct {
	iter, nowait, dontcache bool
}

// readFile is f's readKind as Linux's: a pipe, an eventfd, a device has
// a read_iter and FMODE_NOWAIT; so has stdio (taken as the pipe or
// terminal it usually is); a memfd (shmem) a read_iter only; a directory
// and a process's own /proc files (seq_read) none; /proc/meminfo and
// /proc/sys (seq_read_iter, proc_sys_read_iter) a read_iter only. A host
// file under a view has what the host's file system gives it: the host
// is asked, with the flags that need it.
func (p *Process) readFile(f *openFile, flags uint32) readKind {
	switch {
	case f.pipe != nil, f.anon != nil, f.fs == nil:
		return readKind{iter: true, nowait: true}
	case f.fs.shm != nil:
		return readKind{iter: true}
	case f.fs.isDir():
		return readKind{}
	case f.fs.host != nil:
		return readKind{iter: true,
			nowait:    hostTakesReadFlag(int(f.fs.host.Fd()), flags&rwfNowait),
			dontcache: hostTakesReadFlag(int(f.fs.host.Fd()), flags&rwfDontcache)}
	case f.fs.node != nil && f.fs.node.kind == nodeDevice:
		return readKind{iter: true, nowait: true}
	case f.fs.path == "/proc/meminfo" || strings.HasPrefix(f.fs.path, "/proc/sys/"):
		return readKind{iter: true}
	}
	return readKind{}
}

// hostTakesReadFlag says whether the host takes a read of host file fd
// with flag (0: nothing to ask): a one-byte read at offset 0, which moves
// nothing, is not refused with EOPNOTSUPP.
func hostTakesReadFlag(fd int, flag uint32) bool {
	if flag == 0 {
		return true
	}
	var b [1]byte
	_, err := unix.Preadv2(fd, [][]byte{b[:]}, 0, int(flag))
	return err != unix.EOPNOTSUPP
}
