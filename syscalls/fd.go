package syscalls

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The guest's file descriptors. Each fd names an openFile, the open file
// description that dup, dup2, dup3 and F_DUPFD share, which holds the
// status flags (F_GETFL, F_SETFL); the close-on-exec flag is the fd's own.
// An openFile is either one of the three stdio descriptions the program
// starts with, served by the stdio calls (sysRead, sysWrite, sysFstat, ...)
// under the stdio index it was created as, one end of a pipe made by
// pipe2, a file of the guest's file system, or an anon file (an eventfd or
// an epoll instance, anon.go). The table is made on first use with fds 0,
// 1 and 2.

// oLargefile is O_LARGEFILE as x86-64 Linux sets it on every file a
// 64-bit program opens and reports it in F_GETFL (x/sys has 0 there, the
// value open's callers pass on 64-bit).
const oLargefile = 0o100000

// nrOpen is Linux's fs.nr_open default: no fd is ever this large, whatever
// RLIMIT_NOFILE says.
const nrOpen = 1 << 20

// openFile is an open file description.
type openFile struct {
	// stdio is 0, 1 or 2 for the program's stdio descriptions, -1 for a
	// pipe end.
	stdio int
	// devTTY is /dev/tty's node for a stdio description /dev/tty opened
	// (terminal.go): its fstat and link are that node's.
	devTTY *node
	// pipe and writeEnd say which pipe end this is (stdio < 0); pipeRW
	// that it is both, a FIFO opened O_RDWR (fifo.go).
	pipe     *pipe
	writeEnd bool
	pipeRW   bool
	// fifo is the FIFO node a named pipe's end was opened by; nil for
	// an anonymous pipe's.
	fifo *node
	// fs is a file of the guest's file system (files.go); nil for stdio
	// and pipe ends.
	fs *fsFile
	// anon is an eventfd or epoll instance (anon.go); nil for the others.
	anon anonFile
	// epollItems are the epoll items watching this description
	// (epoll.go), removed at its last close.
	epollItems []*epollItem
	// stdioCalls counts the calls served on a stdio description
	// (viaStdio): a read or write of the host descriptor behind it may
	// have changed its readiness, which epoll then takes as an edge.
	stdioCalls uint64
	// flags are the status flags and the access mode, as F_GETFL reports
	// them.
	flags uint32
	// refs counts the fds naming this description.
	refs int
}

// fdEntry is one slot of the table.
type fdEntry struct {
	file    *openFile
	cloexec bool
}

// fdTable maps guest fds to open file descriptions.
type fdTable struct {
	fds map[int32]fdEntry
	// size is Linux's max_fds for this table, how many fds its arrays
	// would hold: fdTableBase at first, grown as expand_files grows it
	// when an fd at or past it is installed, never shrunk; a fork's copy
	// is sized by the highest fd open (forkSize). select looks at no fd
	// at or past it, and /proc's FDSize reports it.
	size uint64
}

// fdTableBase is Linux's NR_OPEN_DEFAULT (BITS_PER_LONG): the size of a
// table no fd has grown.
const fdTableBase = 64

// fdTableSize is the size Linux's alloc_fdtable gives a table that must
// hold fd nr: the fd array (8 bytes a slot) in a power of two of 1 KiB
// blocks, bounded by nrOpen.
func fdTableSize(nr uint64) uint64 {
	const perKiB = 1024 / 8
	size := uint64(perKiB) << bits.Len64(nr/perKiB) // roundup_pow_of_two(nr/perKiB + 1) blocks
	return min(size, nrOpen)
}

// forkSize is the size of a fork's copy of the table (Linux's dup_fd):
// enough for the words of the open-fd bitmap up to the highest fd open.
func (tab *fdTable) forkSize() uint64 {
	var highest uint64
	for fd := range tab.fds {
		highest = max(highest, uint64(fd))
	}
	if words := (highest/fdTableBase + 1) * fdTableBase; words > fdTableBase {
		return fdTableSize(words - 1)
	}
	return fdTableBase
}

// settableFlags are the status flags F_SETFL changes; the others it
// ignores, as Linux's setfl does.
const settableFlags = unix.O_APPEND | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME | unix.O_NONBLOCK

// files returns the fd table, making it with the stdio fds on first use.
func (p *Process) files() *fdTable {
	if p.fdt.fds != nil {
		return &p.fdt
	}
	p.fdt.fds = make(map[int32]fdEntry)
	p.fdt.size = fdTableBase
	for i := range 3 {
		p.fdt.fds[int32(i)] = fdEntry{file: &openFile{stdio: i, flags: p.stdioFlags(i), refs: 1}}
	}
	return &p.fdt
}

// stdioFlags are the F_GETFL flags stdio description i starts with: those
// of the host descriptor behind it, or read-only stdin and write-only
// stdout and stderr where there is none. The guest's F_SETFL changes its
// own copy, never the host's descriptor (mmvm's own stdio).
func (p *Process) stdioFlags(i int) uint32 {
	if hfd := p.cfg.StdioFDs[i]; hfd >= 0 {
		if fl, err := unix.FcntlInt(uintptr(hfd), unix.F_GETFL, 0); err == nil {
			return uint32(fl)
		}
	}
	if i == 0 {
		return unix.O_RDONLY
	}
	return unix.O_WRONLY
}

// file returns the description fd names, or EBADF.
func (p *Process) file(fd uint64) (*openFile, unix.Errno) {
	// Linux's fd arguments are unsigned int: the upper half is ignored.
	if uint32(fd) >= nrOpen {
		return nil, unix.EBADF
	}
	e, ok := p.files().fds[int32(fd)]
	if !ok {
		return nil, unix.EBADF
	}
	return e.file, 0
}

// fdLimit is one more than the largest fd the program may have: its
// RLIMIT_NOFILE, bounded by nrOpen.
func (p *Process) fdLimit() uint64 {
	return min(p.limit(unix.RLIMIT_NOFILE).Cur, nrOpen)
}

// lowestFree returns the lowest free fd at or above from, or EMFILE.
func (p *Process) lowestFree(from uint64) (int32, unix.Errno) {
	tab, limit := p.files(), p.fdLimit()
	for fd := from; fd < limit; fd++ {
		if _, used := tab.fds[int32(fd)]; !used {
			return int32(fd), 0
		}
	}
	return 0, unix.EMFILE
}

// install makes fd name f, closing what it named before.
func (p *Process) install(fd int32, f *openFile, cloexec bool) {
	tab := p.files()
	if old, ok := tab.fds[fd]; ok {
		p.dropFD(old)
		p.fdWaitersLookAgain()
	}
	f.refs++
	tab.fds[fd] = fdEntry{file: f, cloexec: cloexec}
	if uint64(fd) >= tab.size {
		tab.size = fdTableSize(uint64(fd))
	}
}

// release drops one fd's reference; the last one closes a pipe end.
func (f *openFile) release() {
	f.refs--
	if f.refs > 0 {
		return
	}
	f.releaseEpollItems()
	if f.anon != nil {
		f.anon.release()
		return
	}
	if f.fs != nil {
		f.fs.closeFS()
		return
	}
	if f.pipe == nil {
		return
	}
	if f.writesPipe() {
		f.pipe.writers--
	}
	if f.readsPipe() {
		f.pipe.readers--
	}
	f.pipe.endClosed()
	f.pipe.drop()
}

func sysClose(t *Task, a *[6]uint64) uint64 {
	if _, e := t.file(a[0]); e != 0 {
		return errno(e)
	}
	tab := t.files()
	t.dropFD(tab.fds[int32(a[0])])
	delete(tab.fds, int32(a[0]))
	t.fdWaitersLookAgain() // a pipe end may have closed: its waiters look again
	return 0
}

// close_range's flags (include/uapi/linux/close_range.h).
const (
	closeRangeUnshare = 1 << 1
	closeRangeCloexec = 1 << 2
)

// sysCloseRange serves close_range(first, last, flags) as Linux 6.18:
// unknown flags or first past last are EINVAL; every open fd from first
// to last closes, or with CLOSE_RANGE_CLOEXEC is marked close-on-exec.
// CLOSE_RANGE_UNSHARE first gives the caller a table of its own where it
// shares one; a table here is shared only by a process's threads, which
// mmvm does not part, so with other threads live it is EINVAL, and
// otherwise the table is already the caller's own.
func sysCloseRange(t *Task, a *[6]uint64) uint64 {
	first, last, flags := uint32(a[0]), uint32(a[1]), uint32(a[2])
	if flags&^(closeRangeUnshare|closeRangeCloexec) != 0 || first > last {
		return errno(unix.EINVAL)
	}
	if flags&closeRangeUnshare != 0 && len(t.Process.tasks) > 1 {
		return errno(unix.EINVAL)
	}
	tab := t.files()
	closed := false
	for fd, entry := range tab.fds {
		if fd < 0 || uint32(fd) < first || uint32(fd) > last {
			continue
		}
		if flags&closeRangeCloexec != 0 {
			entry.cloexec = true
			tab.fds[fd] = entry
			continue
		}
		t.dropFD(entry)
		delete(tab.fds, fd)
		closed = true
	}
	if closed {
		t.fdWaitersLookAgain() // a pipe end may have closed
	}
	return 0
}

func sysDup(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	fd, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	t.install(fd, f, false)
	return uint64(fd)
}

// sysDup2 is dup3 without flags, except that oldfd == newfd returns newfd
// once oldfd is known to be open.
func sysDup2(t *Task, a *[6]uint64) uint64 {
	if uint32(a[0]) == uint32(a[1]) {
		if _, e := t.file(a[0]); e != 0 {
			return errno(e)
		}
		return uint64(uint32(a[1]))
	}
	return dup3(t, a[0], a[1], 0)
}

func sysDup3(t *Task, a *[6]uint64) uint64 {
	return dup3(t, a[0], a[1], a[2])
}

// dup3 checks its arguments in Linux's order: flags, oldfd == newfd,
// newfd past the limit, then oldfd.
func dup3(t *Task, oldfd, newfd, flags uint64) uint64 {
	if uint32(flags)&^unix.O_CLOEXEC != 0 {
		return errno(unix.EINVAL)
	}
	if uint32(oldfd) == uint32(newfd) {
		return errno(unix.EINVAL)
	}
	if uint64(uint32(newfd)) >= t.fdLimit() {
		return errno(unix.EBADF)
	}
	f, e := t.file(oldfd)
	if e != 0 {
		return errno(e)
	}
	t.install(int32(newfd), f, flags&unix.O_CLOEXEC != 0)
	return uint64(uint32(newfd))
}

// fcntl commands mmvm serves beyond x/sys's names.
const (
	fSetPipeSz = 1031
	fGetPipeSz = 1032
)

// sysFcntl serves the fd commands (F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD,
// F_SETFD), the status flags (F_GETFL, F_SETFL) and a pipe's size
// (F_GETPIPE_SZ, F_SETPIPE_SZ) and a memfd's seals (F_GET_SEALS,
// F_ADD_SEALS), record locks (filelock.go). Any other command is EINVAL,
// Linux's answer for a command it does not know; leases and owners are
// not served.
func sysFcntl(t *Task, a *[6]uint64) uint64 {
	fd, cmd, arg := a[0], uint32(a[1]), a[2]
	f, e := t.file(fd)
	if e != 0 {
		return errno(e)
	}
	entry := t.files().fds[int32(fd)]
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		if uint64(uint32(arg)) >= t.fdLimit() {
			return errno(unix.EINVAL)
		}
		nfd, e := t.lowestFree(uint64(uint32(arg)))
		if e != 0 {
			return errno(e)
		}
		t.install(nfd, f, cmd == unix.F_DUPFD_CLOEXEC)
		return uint64(nfd)
	case unix.F_GETFD:
		if entry.cloexec {
			return unix.FD_CLOEXEC
		}
		return 0
	case unix.F_SETFD:
		entry.cloexec = arg&unix.FD_CLOEXEC != 0
		t.files().fds[int32(fd)] = entry
		return 0
	case unix.F_GETFL:
		return uint64(f.flags)
	case unix.F_SETFL:
		f.flags = f.flags&^settableFlags | uint32(arg)&settableFlags
		return 0
	case unix.F_GET_SEALS, unix.F_ADD_SEALS:
		return memfdSeals(f, cmd, arg)
	case unix.F_GETLK, unix.F_SETLK, unix.F_SETLKW, fOFDGetlk, fOFDSetlk, fOFDSetlkw:
		return t.recordLock(f, int(cmd), arg)
	case fGetPipeSz, fSetPipeSz:
		if f.pipe == nil {
			return errno(unix.EBADF)
		}
		if cmd == fGetPipeSz {
			return uint64(f.pipe.capacity)
		}
		n, e := f.pipe.resize(uint32(arg))
		if e == 0 {
			t.fdWaitersLookAgain() // more room: a waiting write looks again
		}
		return result(uint64(n), errOrNil(e))
	}
	return errno(unix.EINVAL)
}

// errOrNil turns a zero Errno into a nil error.
func errOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// sysPipe2 makes a pipe and its two fds, the lowest free ones, and writes
// them to the guest's int[2] before installing them: an unwritable array
// is EFAULT with no fd made.
func sysPipe2(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[1])
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return errno(unix.EINVAL)
	}
	rfd, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	wfd, e := t.lowestFreeExcept(uint64(rfd)+1, rfd)
	if e != 0 {
		return errno(e)
	}
	var b [8]byte
	putU32(b[0:], uint32(rfd))
	putU32(b[4:], uint32(wfd))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[0]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	pp := newPipe(&t.tree.held)
	status := flags & (unix.O_NONBLOCK | unix.O_DIRECT)
	cloexec := flags&unix.O_CLOEXEC != 0
	t.install(rfd, &openFile{stdio: -1, pipe: pp, flags: unix.O_RDONLY | status}, cloexec)
	t.install(wfd, &openFile{stdio: -1, pipe: pp, writeEnd: true, flags: unix.O_WRONLY | status}, cloexec)
	return 0
}

// lowestFreeExcept is lowestFree for a second fd while the first, taken,
// is not installed yet.
func (p *Process) lowestFreeExcept(from uint64, taken int32) (int32, unix.Errno) {
	fd, e := p.lowestFree(from)
	if e == 0 && fd == taken {
		return p.lowestFree(uint64(fd) + 1)
	}
	return fd, e
}

func sysPipe(t *Task, a *[6]uint64) uint64 {
	b := [6]uint64{a[0]}
	return sysPipe2(t, &b)
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// The stdio calls, served through the fd table: a stdio description is
// served by the stdio handler under its stdio index, an anon file by its
// own methods, a pipe end here.

// viaStdio calls h with the fd argument replaced by f's stdio index.
func viaStdio(t *Task, h handler, f *openFile, a *[6]uint64) uint64 {
	f.stdioCalls++
	b := *a
	b[0] = uint64(f.stdio)
	return h(t, &b)
}

func sysReadFile(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil {
		if f.fs.pathOnly || f.flags&unix.O_ACCMODE == unix.O_WRONLY {
			return errno(unix.EBADF)
		}
		return t.fsRead(f.fs, arch.Addr(a[1]), a[2])
	}
	if f.anon != nil {
		return f.anon.read(t, f, arch.Addr(a[1]), a[2])
	}
	if f.pipe == nil {
		return viaStdio(t, sysRead, f, a)
	}
	if !f.readsPipe() {
		return errno(unix.EBADF)
	}
	return t.pipeRead(f, arch.Addr(a[1]), a[2])
}

func sysWriteFile(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil {
		t.removePrivs(f, a[2])
		return t.fsWrite(f, arch.Addr(a[1]), a[2])
	}
	if f.anon != nil {
		return f.anon.write(t, f, arch.Addr(a[1]), a[2])
	}
	if f.pipe == nil {
		return viaStdio(t, sysWrite, f, a)
	}
	if !f.writesPipe() {
		return errno(unix.EBADF)
	}
	return t.pipeWrite(f, arch.Addr(a[1]), min(a[2], maxIO))
}

func sysWritevFile(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil {
		t.removePrivs(f, a[2])
		return t.fsWritev(f, arch.Addr(a[1]), a[2])
	}
	if f.anon != nil {
		iov, _, e := t.readIOVec(arch.Addr(a[1]), a[2])
		if e != 0 {
			return errno(e)
		}
		return f.anon.writev(t, f, iov, a[2])
	}
	if f.pipe == nil {
		return viaStdio(t, sysWritev, f, a)
	}
	if !f.writesPipe() {
		return errno(unix.EBADF)
	}
	return t.pipeWritev(f, arch.Addr(a[1]), a[2])
}

func sysFstatFile(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil {
		st, e := t.fsStat(f.fs)
		if e != 0 {
			return errno(e)
		}
		return t.putStat(a[1], &st)
	}
	if s, ok := f.anon.(*socket); ok {
		st := s.stat()
		return t.putStat(a[1], &st)
	}
	if f.anon != nil {
		st := t.anonStat()
		return t.putStat(a[1], &st)
	}
	if f.pipe == nil && f.devTTY == nil {
		return viaStdio(t, sysFstat, f, a)
	}
	return t.putPipeStat(f, a[1])
}

// putPipeStat writes the struct stat of f's pipe at addr: a FIFO's node's.
func (p *Process) putPipeStat(f *openFile, addr uint64) uint64 {
	st, _ := p.stdioOrPipeStat(f)
	return p.putStat(addr, &st)
}

// sysIoctlFile serves the requests every file answers (fileIoctl),
// FIONREAD on a pipe (the bytes it holds, an int) and on a regular file
// (fsFionread), and each kind of file's own; every other request on a
// pipe is ENOTTY.
func sysIoctlFile(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil && f.fs.pathOnly {
		return errno(unix.EBADF) // fdget does not return an O_PATH file
	}
	if r, ok := t.fileIoctl(a[0], f, a[1], arch.Addr(a[2])); ok {
		return r
	}
	if f.fs != nil && a[1] == unix.TIOCINQ { // FIONREAD
		return t.fsFionread(f.fs, arch.Addr(a[2]))
	}
	if f.fs != nil && f.fs.node != nil && f.fs.node.ioctl != nil {
		return f.fs.node.ioctl(t, a[1], arch.Addr(a[2]))
	}
	if s, ok := f.anon.(*socket); ok {
		return t.sockIoctl(s, f, a[1], arch.Addr(a[2]))
	}
	if tfd, ok := f.anon.(*timerFD); ok {
		return tfd.ioctl(t, a[1], arch.Addr(a[2]))
	}
	if uf, ok := f.anon.(*userfaultFile); ok {
		return uf.ioctl(t, a[1], arch.Addr(a[2]))
	}
	if f.fs != nil || f.anon != nil {
		return errno(unix.ENOTTY)
	}
	if f.pipe == nil {
		if term := t.stdioTerminal(f.stdio); term != nil {
			if r, ok := t.ttyJobIoctl(term, a[1], arch.Addr(a[2]), f.flags&unix.O_ACCMODE != unix.O_WRONLY); ok {
				return r
			}
			if e := t.ttyIoctlCheck(term, a[1]); e != 0 {
				return errno(e)
			}
		}
		return viaStdio(t, sysIoctl, f, a)
	}
	if a[1] != unix.TIOCINQ { // FIONREAD
		return errno(unix.ENOTTY)
	}
	var b [4]byte
	putU32(b[:], uint32(f.pipe.len()))
	return t.copyOutAll(arch.Addr(a[2]), b[:])
}

// The requests Linux's do_vfs_ioctl serves for every file (uapi
// asm-generic/ioctls.h), which x/sys names only as request numbers.
const (
	fionbio  = 0x5421
	fionclex = 0x5450
	fioclex  = 0x5451
	fioasync = 0x5452
	fioqsize = 0x5460
)

// fileIoctl serves the requests that Linux's do_vfs_ioctl answers for
// every file before the file's own ioctl sees them; ok is false for any
// other. FIOCLEX and FIONCLEX set and clear fd's close-on-exec flag;
// FIONBIO sets or clears the description's O_NONBLOCK, as F_SETFL does
// (stdio's copy, never mmvm's own descriptor); FIOASYNC its O_ASYNC where
// Linux's file has a fasync (pipes, sockets, terminals), else ENOTTY if
// the flag would change; FIOQSIZE writes the bytes a regular file,
// directory or symbolic link takes (inode_get_bytes: its 512-byte
// blocks) as a 64-bit integer, ENOTTY for any other file. Rust's std (Command::output reading a child's stdout and stderr)
// and others set O_NONBLOCK with FIONBIO.
func (t *Task) fileIoctl(fd uint64, f *openFile, req uint64, arg arch.Addr) (uint64, bool) {
	switch req {
	case fioclex, fionclex:
		tab := t.files()
		entry := tab.fds[int32(fd)]
		entry.cloexec = req == fioclex
		tab.fds[int32(fd)] = entry
		return 0, true
	case fionbio, fioasync:
		var b [4]byte
		if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
			return errno(unix.EFAULT), true
		}
		flag := uint32(unix.O_NONBLOCK)
		if req == fioasync {
			flag = unix.O_ASYNC
		}
		on := binary.LittleEndian.Uint32(b[:]) != 0
		if req == fioasync && on != (f.flags&flag != 0) && !t.hasFasync(f) {
			return errno(unix.ENOTTY), true
		}
		if on {
			f.flags |= flag
		} else {
			f.flags &^= flag
		}
		return 0, true
	case fioqsize:
		var st unix.Stat_t
		switch {
		case f.fs != nil:
			var e unix.Errno
			if st, e = t.fsStat(f.fs); e != 0 {
				return errno(e), true
			}
		case f.pipe == nil && f.anon == nil && f.devTTY == nil:
			var e unix.Errno
			if st, e = t.stdioStat(uint64(f.stdio)); e != 0 {
				return errno(e), true
			}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG, unix.S_IFDIR, unix.S_IFLNK:
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(st.Blocks)*512)
			return t.copyOutAll(arg, b[:]), true
		}
		return errno(unix.ENOTTY), true
	}
	return 0, false
}

// hasFasync reports whether Linux's file like f has a fasync operation,
// which FIOASYNC needs: pipes and FIFOs, sockets and terminals do.
func (t *Task) hasFasync(f *openFile) bool {
	if _, ok := f.anon.(*socket); ok {
		return true
	}
	if f.pipe != nil || f.devTTY != nil {
		return true
	}
	return f.fs == nil && f.anon == nil && t.stdioTerminal(f.stdio) != nil
}

// pollEvents returns a pollfd's revents, as Linux's do_pollfd: what fd
// is ready for among events, POLLERR and POLLHUP (reported whether asked
// or not); POLLNVAL for an fd that is not open (or is O_PATH, which
// fdget does not return); nothing for a negative fd. host says the answer
// was the host's (readiness).
func (p *Process) pollEvents(fd int32, events uint16) (revents uint16, host bool) {
	if fd < 0 {
		return 0, false
	}
	mask, host, ok := p.readiness(uint64(fd))
	if !ok {
		return unix.POLLNVAL, false
	}
	return mask & (events | unix.POLLERR | unix.POLLHUP), host
}

// readiness is what the file fd names is ready for now, every event
// asked (the mask Linux's vfs_poll returns, which poll and select filter
// each their way): a pipe end by what its pipe holds and whether the
// other end is open, an anon file by its own poll, the guest's files
// always (Linux's DEFAULT_POLLMASK), stdio as stdioReadiness says. ok is
// false for an fd that is not open or is O_PATH. host says the answer
// was the host's, and may change with no notice to mmvm.
func (p *Process) readiness(fd uint64) (mask uint16, host, ok bool) {
	f, e := p.file(fd)
	if e != 0 || f.fs != nil && f.fs.pathOnly {
		return 0, false, false
	}
	if f.fs == nil && f.anon == nil && f.pipe == nil {
		mask, host = p.stdioReadiness(f.stdio)
		return mask, host, true
	}
	return uint16(readyMask(f, 0)), false, true
}

// stdioReadiness is what stdio description i is ready for: the host's
// answer for the host descriptor behind it, asked without waiting, with
// host true where that answer may change while the program waits (a
// pipe, terminal or socket: Process.waitable); with no host descriptor,
// stdioPollEvents.
func (p *Process) stdioReadiness(i int) (mask uint16, host bool) {
	if hfd := p.cfg.StdioFDs[i]; hfd >= 0 {
		return uint16(hostReady(hfd)), p.waitable[i] >= 0
	}
	return stdioPollEvents(i), false
}

// fsFionread answers FIONREAD on a file of the guest's file system as
// Linux's do_vfs_ioctl, before any ioctl of the file's own: for a
// regular file the size less the position, as an int (negative past the
// end); anything else has no such ioctl (ENOTTY).
func (t *Task) fsFionread(f *fsFile, addr arch.Addr) uint64 {
	st, e := t.fsStat(f)
	if e != 0 {
		return errno(e)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errno(unix.ENOTTY)
	}
	var b [4]byte
	putU32(b[:], uint32(st.Size-f.pos))
	return t.copyOutAll(addr, b[:])
}
