package syscalls

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Advisory file locks, as Linux's fs/locks.c keeps them for a local file
// system, among the VM's processes (nothing is locked on the host):
//   - flock(2) locks belong to an open file description: a dup or a
//     fork's copy shares it; the description's last close drops it.
//   - POSIX record locks (F_SETLK, F_SETLKW, F_GETLK) belong to a
//     process: byte ranges, merged and split as the owner changes them,
//     not inherited by fork, and all dropped when the process closes any
//     fd of the file.
//   - OFD locks (F_OFD_*) are record locks owned by the description.
//
// flock locks and record locks do not conflict with each other. A
// waiter (F_SETLKW, flock without LOCK_NB) looks again whenever any lock
// is dropped (fdWaitersLookAgain). The state lives in the process tree,
// guarded by the tree lock like the fd tables.

// fileLocks are the locks of every file, by lockFileOf's key.
type fileLocks map[any]*inodeLocks

// inodeLocks are one file's locks.
type inodeLocks struct {
	// flocks are the flock holders, each description at most once.
	flocks []flockHolder
	// ranges are the record locks, POSIX and OFD, each owner's sorted
	// by start and neither overlapping nor adjacent with the same type.
	ranges []rangeLock
}

type flockHolder struct {
	desc      *openFile
	exclusive bool
}

// rangeLock is a record lock of bytes [start, end); end is math.MaxUint64
// for "to the end of the file, however far it grows".
type rangeLock struct {
	// owner is the *Process of a POSIX lock, the *openFile of an OFD
	// lock; pid is what F_GETLK reports: the POSIX owner's pid, -1 for
	// an OFD lock.
	owner      any
	pid        int32
	write      bool
	start, end uint64
}

// lockFileOf is the key of the file f is open on: its device and inode
// for a file of the guest's file system or a memfd, the pipe for a pipe
// or FIFO end, the description itself for anything else.
func lockFileOf(f *openFile) any {
	switch {
	case f.fs != nil:
		return [2]uint64{f.fs.st.Dev, f.fs.st.Ino}
	case f.pipe != nil:
		return f.pipe
	}
	return f
}

// Record lock types and fcntl's lock commands.
const (
	fRdlck     = 0
	fWrlck     = 1
	fUnlck     = 2
	fOFDGetlk  = 36
	fOFDSetlk  = 37
	fOFDSetlkw = 38
	flockSize  = 32 // struct flock on x86-64
)

// flock(2)'s operations.
const (
	lockSh = 1
	lockEx = 2
	lockNb = 4
	lockUn = 8
)

func (fl fileLocks) of(key any) *inodeLocks {
	l := fl[key]
	if l == nil {
		l = &inodeLocks{}
		fl[key] = l
	}
	return l
}

// dropEmpty forgets a file with no locks left.
func (fl fileLocks) dropEmpty(key any) {
	if l := fl[key]; l != nil && len(l.flocks) == 0 && len(l.ranges) == 0 {
		delete(fl, key)
	}
}

// sysFlock serves flock(fd, op): an unknown op is EINVAL, an fd not open
// (or O_PATH) EBADF. LOCK_UN drops the description's lock; LOCK_SH and
// LOCK_EX take one, first dropping one of the other kind (a conversion is
// not atomic, as Linux's is not), waiting while another description holds
// a conflicting one unless LOCK_NB (EWOULDBLOCK).
func sysFlock(t *Task, a *[6]uint64) uint64 {
	op := uint32(a[1])
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil && f.fs.pathOnly {
		return errno(unix.EBADF)
	}
	var exclusive bool
	switch op &^ lockNb {
	case lockSh:
	case lockEx:
		exclusive = true
	case lockUn:
		t.dropFlock(f)
		return 0
	default:
		return errno(unix.EINVAL)
	}
	key := lockFileOf(f)
	locks := t.tree.locks.of(key)
	for i, h := range locks.flocks {
		if h.desc != f {
			continue
		}
		if h.exclusive == exclusive {
			return 0
		}
		locks.flocks = append(locks.flocks[:i], locks.flocks[i+1:]...)
		t.fdWaitersLookAgain()
		break
	}
	for {
		locks = t.tree.locks.of(key)
		if !flockConflicts(locks, f, exclusive) {
			locks.flocks = append(locks.flocks, flockHolder{desc: f, exclusive: exclusive})
			return 0
		}
		t.tree.locks.dropEmpty(key)
		if op&lockNb != 0 {
			return errno(unix.EWOULDBLOCK)
		}
		switch t.block(t.fdWaitChannel(), nil) {
		case wokeSignal:
			return errno(errRestartSys)
		case wokeEnd:
			return errno(unix.EINTR)
		}
	}
}

// flockConflicts says another description holds a flock lock that one of
// kind exclusive may not share.
func flockConflicts(l *inodeLocks, f *openFile, exclusive bool) bool {
	for _, h := range l.flocks {
		if h.desc != f && (exclusive || h.exclusive) {
			return true
		}
	}
	return false
}

// dropFlock drops f's flock lock, if it holds one.
func (t *Task) dropFlock(f *openFile) {
	key := lockFileOf(f)
	l := t.tree.locks[key]
	if l == nil {
		return
	}
	for i, h := range l.flocks {
		if h.desc == f {
			l.flocks = append(l.flocks[:i], l.flocks[i+1:]...)
			t.fdWaitersLookAgain()
			break
		}
	}
	t.tree.locks.dropEmpty(key)
}

// releaseDescriptionLocks drops what the description f owns, at its last
// close: its flock lock and its OFD locks.
func (p *Process) releaseDescriptionLocks(f *openFile) {
	key := lockFileOf(f)
	l := p.tree.locks[key]
	if l == nil {
		return
	}
	for i, h := range l.flocks {
		if h.desc == f {
			l.flocks = append(l.flocks[:i], l.flocks[i+1:]...)
			break
		}
	}
	l.ranges = removeOwner(l.ranges, f)
	p.tree.locks.dropEmpty(key)
	p.fdWaitersLookAgain()
}

// releasePOSIXLocks drops every POSIX lock p holds on the file f is open
// on: any close of an fd of the file does, as Linux's locks_remove_posix.
func (p *Process) releasePOSIXLocks(f *openFile) {
	key := lockFileOf(f)
	l := p.tree.locks[key]
	if l == nil {
		return
	}
	if n := len(l.ranges); len(removeOwner(l.ranges, p)) != n {
		l.ranges = removeOwner(l.ranges, p)
		p.fdWaitersLookAgain()
	}
	p.tree.locks.dropEmpty(key)
}

// dropFD takes fd entry e out of p's use: p's mq_notify registration on
// a message queue and its POSIX locks on its file go, then the entry's
// reference on the description, and with the last one the description's
// own locks.
func (p *Process) dropFD(e fdEntry) {
	if mf, ok := e.file.anon.(*mqFile); ok {
		mf.flush(p)
	}
	if len(p.tree.locks) == 0 {
		e.file.release()
		return
	}
	p.releasePOSIXLocks(e.file)
	e.file.release()
	if e.file.refs == 0 {
		p.releaseDescriptionLocks(e.file)
	}
}

func removeOwner(ranges []rangeLock, owner any) []rangeLock {
	out := ranges[:0:0]
	for _, r := range ranges {
		if r.owner != owner {
			out = append(out, r)
		}
	}
	return out
}

// recordLockRange reads struct flock's range as flock64_to_posix_lock
// does: l_start from SEEK_SET, SEEK_CUR (the file position) or SEEK_END
// (the file's size), l_len 0 to the end of the file and negative for the
// bytes before l_start. EINVAL for another whence or a start before 0,
// EOVERFLOW past the largest offset.
func (t *Task) recordLockRange(f *openFile, whence int16, start, length int64) (uint64, uint64, unix.Errno) {
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		if f.fs != nil {
			start += f.fs.pos
		}
	case unix.SEEK_END:
		if f.fs != nil {
			start += t.fileSize(f)
		}
	default:
		return 0, 0, unix.EINVAL
	}
	if start < 0 {
		return 0, 0, unix.EINVAL
	}
	switch {
	case length > 0:
		end := start + length - 1
		if end < start {
			return 0, 0, unix.EOVERFLOW
		}
		return uint64(start), uint64(end) + 1, 0
	case length < 0:
		end := start
		if start += length; start < 0 {
			return 0, 0, unix.EINVAL
		}
		return uint64(start), uint64(end), 0
	}
	return uint64(start), math.MaxUint64, 0
}

// fileSize is the size SEEK_END counts from, as lseek finds it.
func (t *Task) fileSize(f *openFile) int64 {
	switch {
	case f.fs.shm != nil:
		return int64(f.fs.shm.Size())
	case f.fs.host != nil:
		var st unix.Stat_t
		if unix.Fstat(int(f.fs.host.Fd()), &st) == nil {
			return st.Size
		}
	}
	return f.fs.st.Size
}

// recordLock serves fcntl's F_GETLK, F_SETLK, F_SETLKW and their OFD
// forms on f with the struct flock at addr, as fcntl_getlk and
// fcntl_setlk do.
func (t *Task) recordLock(f *openFile, cmd int, addr uint64) uint64 {
	var b [flockSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	le := binary.LittleEndian
	typ, whence := int16(le.Uint16(b[0:])), int16(le.Uint16(b[2:]))
	lstart, llen, lpid := int64(le.Uint64(b[8:])), int64(le.Uint64(b[16:])), int32(le.Uint32(b[24:]))
	ofd := cmd == fOFDGetlk || cmd == fOFDSetlk || cmd == fOFDSetlkw
	if ofd && lpid != 0 {
		return errno(unix.EINVAL)
	}
	var owner any = t.Process
	pid := int32(t.cfg.PID)
	if ofd {
		owner, pid = f, -1
	}
	if cmd == unix.F_GETLK || cmd == fOFDGetlk {
		if typ != fRdlck && typ != fWrlck {
			return errno(unix.EINVAL)
		}
		start, end, e := t.recordLockRange(f, whence, lstart, llen)
		if e != 0 {
			return errno(e)
		}
		c, found := t.recordConflict(f, owner, typ == fWrlck, start, end)
		if !found {
			le.PutUint16(b[0:], fUnlck)
		} else {
			writeFlock(b[:], c)
		}
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		return 0
	}
	switch typ {
	case fRdlck:
		if f.flags&unix.O_ACCMODE == unix.O_WRONLY || f.fs != nil && f.fs.pathOnly {
			return errno(unix.EBADF)
		}
	case fWrlck:
		if f.flags&unix.O_ACCMODE == unix.O_RDONLY || f.fs != nil && f.fs.pathOnly {
			return errno(unix.EBADF)
		}
	case fUnlck:
	default:
		return errno(unix.EINVAL)
	}
	start, end, e := t.recordLockRange(f, whence, lstart, llen)
	if e != 0 {
		return errno(e)
	}
	key := lockFileOf(f)
	if typ == fUnlck {
		l := t.tree.locks.of(key)
		l.ranges = setRange(l.ranges, rangeLock{owner: owner, pid: pid, start: start, end: end}, true)
		t.tree.locks.dropEmpty(key)
		t.fdWaitersLookAgain()
		return 0
	}
	for {
		if _, found := t.recordConflict(f, owner, typ == fWrlck, start, end); !found {
			l := t.tree.locks.of(key)
			l.ranges = setRange(l.ranges, rangeLock{owner: owner, pid: pid, write: typ == fWrlck, start: start, end: end}, false)
			t.fdWaitersLookAgain() // a write lock made a read lock may let others in
			return 0
		}
		c, _ := t.recordConflict(f, owner, typ == fWrlck, start, end)
		if cmd == unix.F_SETLK || cmd == fOFDSetlk {
			return errno(unix.EAGAIN)
		}
		if !ofd && t.lockDeadlock(c.owner) {
			return errno(unix.EDEADLK)
		}
		if !ofd {
			t.Process.lockBlocker = c.owner
		}
		r := t.block(t.fdWaitChannel(), nil)
		t.Process.lockBlocker = nil
		switch r {
		case wokeSignal:
			return errno(errRestartSys)
		case wokeEnd:
			return errno(unix.EINTR)
		}
	}
}

// lockDeadlock says that waiting for owner's POSIX lock would close a
// cycle: owner waits, directly or through others, for a lock of the
// caller's process (Linux's posix_locks_deadlock; OFD locks are not
// checked).
func (t *Task) lockDeadlock(owner any) bool {
	for i := 0; i < maxProcesses; i++ {
		p, ok := owner.(*Process)
		if !ok || p == nil {
			return false
		}
		if p == t.Process {
			return true
		}
		owner = p.lockBlocker
	}
	return false
}

// writeFlock writes the lock c into struct flock b, as posix_lock_to_flock.
func writeFlock(b []byte, c rangeLock) {
	le := binary.LittleEndian
	typ := uint16(fRdlck)
	if c.write {
		typ = fWrlck
	}
	le.PutUint16(b[0:], typ)
	le.PutUint16(b[2:], unix.SEEK_SET)
	le.PutUint64(b[8:], c.start)
	length := uint64(0)
	if c.end != math.MaxUint64 {
		length = c.end - c.start
	}
	le.PutUint64(b[16:], length)
	le.PutUint32(b[24:], uint32(c.pid))
}

// recordConflict finds a record lock of another owner on f's file that
// overlaps [start, end) and conflicts with a lock of kind write.
func (t *Task) recordConflict(f *openFile, owner any, write bool, start, end uint64) (rangeLock, bool) {
	l := t.tree.locks[lockFileOf(f)]
	if l == nil {
		return rangeLock{}, false
	}
	for _, r := range l.ranges {
		if r.owner != owner && r.start < end && start < r.end && (write || r.write) {
			return r, true
		}
	}
	return rangeLock{}, false
}

// setRange sets owner's lock on [n.start, n.end) to n (or removes it, for
// unlock), as posix_lock_inode: the owner's locks there are cut out, and
// the new lock merges with the owner's locks of its type that it touches.
func setRange(ranges []rangeLock, n rangeLock, unlock bool) []rangeLock {
	out := make([]rangeLock, 0, len(ranges)+2)
	for _, r := range ranges {
		if r.owner != n.owner || r.end < n.start || n.end < r.start {
			out = append(out, r)
			continue
		}
		if !unlock && r.write == n.write {
			// Adjacent or overlapping with the same type: merge.
			n.start, n.end = min(n.start, r.start), max(n.end, r.end)
			continue
		}
		if r.end == n.start || n.end == r.start {
			out = append(out, r) // adjacent, another type: stays whole
			continue
		}
		if r.start < n.start {
			left := r
			left.end = n.start
			out = append(out, left)
		}
		if n.end < r.end {
			right := r
			right.start = n.end
			out = append(out, right)
		}
	}
	if !unlock {
		out = append(out, n)
	}
	return out
}
