package syscalls

import (
	"encoding/binary"
	"os"
	"path"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// The file calls on the guest's file system (view.go): open and openat,
// the reads, lseek, the stats, getdents64, readlink, access, chdir. Every
// file is read-only but the devices: a write access to a view's file or
// directory is EROFS, as on a read-only mount.

// fsFile is an open file of the guest's file system: the file behind an
// openFile that is neither stdio nor a pipe end.
type fsFile struct {
	// path is the guest path it was opened by (cleaned, absolute).
	path string
	// node is the synthetic node, nil for a file under a view.
	node *node
	// host is the host file or directory behind a file under a view or
	// the program's node, opened read-only; nil for synthetic nodes.
	host *os.File
	// st is what fstat shows (the guest's view), taken at open.
	st unix.Stat_t
	// pathOnly: opened with O_PATH; reads are EBADF.
	pathOnly bool
	// pos is the file position (an index into dents for a directory).
	pos int64
	// text is a /proc file's text, made at the first read (textMade).
	text     []byte
	textMade bool
	// dents are a directory's entries, listed at the first getdents64 or
	// lseek (dentsMade).
	dents     []dirent
	dentsMade bool
	// mappable is a regular host file as mm maps it, made at the first
	// mmap; the fsFile holds one reference, dropped at close.
	mappable MappableFile
}

// MappableFile is a host file as mm maps it: mm's Mappable and the
// identity /proc/self/maps names it by.
type MappableFile interface {
	memmap.Mappable
	memmap.MappingIdentity
}

// MmapFile is what a file-backed mmap maps: nil for MAP_ANONYMOUS.
type MmapFile struct {
	Mappable memmap.Mappable
	Identity memmap.MappingIdentity
	// Readable and Writable say how the fd was opened.
	Readable, Writable bool
}

// HostFileMapper makes the MappableFile of a host regular file: machine
// caches its pages in the MemoryFile (loader.ImageFile). It takes
// ownership of f, closing it when the MappableFile is released; size is the
// file's size, and name, dev and ino are what /proc/self/maps shows.
type HostFileMapper func(f *os.File, size int64, name string, dev, ino uint64) (MappableFile, error)

// dirent is one directory entry as getdents64 returns it.
type dirent struct {
	ino  uint64
	typ  uint8
	name string
}

// closeFS releases what f holds.
func (f *fsFile) closeFS() {
	if f.host != nil {
		f.host.Close()
		f.host = nil
	}
	if f.mappable != nil {
		f.mappable.DecRef()
		f.mappable = nil
	}
}

func (f *fsFile) isDir() bool { return f.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// guestPath makes name (read from the guest) absolute against dirfd as the
// *at calls do, and cleans it lexically: ENOENT for an empty path, EBADF
// for a relative one against a dirfd that is not open, ENOTDIR against one
// that is no directory.
func (p *Process) guestPath(dirfd uint64, name string) (string, unix.Errno) {
	if name == "" {
		return "", unix.ENOENT
	}
	if name[0] == '/' {
		return path.Clean(name), 0
	}
	base := p.cwd()
	if int32(dirfd) != unix.AT_FDCWD {
		f, e := p.file(dirfd)
		if e != 0 {
			return "", e
		}
		if f.fs == nil || !f.fs.isDir() {
			return "", unix.ENOTDIR
		}
		base = f.fs.path
	}
	return path.Clean(base + "/" + name), 0
}

// cwd is the guest's working directory.
func (p *Process) cwd() string {
	if p.info.cwd == "" {
		return "/"
	}
	return p.info.cwd
}

// lookupAt reads the path at addr and finds it against dirfd; follow says
// whether a final symbolic link is followed.
func (p *Process) lookupAt(dirfd uint64, addr arch.Addr, follow bool) (lookup, unix.Errno) {
	name, e := p.copyInString(addr, pathMax)
	if e != 0 {
		return lookup{hostFD: -1}, e
	}
	return p.lookupName(dirfd, name, follow)
}

// lookupName finds name against dirfd.
func (p *Process) lookupName(dirfd uint64, name string, follow bool) (lookup, unix.Errno) {
	abs, e := p.guestPath(dirfd, name)
	if e != 0 {
		return lookup{hostFD: -1}, e
	}
	if strings.HasSuffix(name, "/") {
		follow = true // a trailing slash follows, as Linux's LOOKUP_FOLLOW|LOOKUP_DIRECTORY
	}
	l, e := p.fs().walk(p, abs, follow, 0)
	if e == 0 && strings.HasSuffix(name, "/") {
		st, se := p.lookupStat(&l)
		if se != 0 || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			l.close()
			return lookup{hostFD: -1}, unix.ENOTDIR
		}
	}
	return l, e
}

// lookupStat is the guest's struct stat of what l found.
func (p *Process) lookupStat(l *lookup) (unix.Stat_t, unix.Errno) {
	if l.node != nil {
		return p.nodeStat(l.node, l.path)
	}
	return p.hostStat(l.hostFD)
}

// hostStat is the guest's view of a host file: the host's type, mode,
// size, link count and times, a synthetic device and inode (fileSystem.
// hostIno), and the guest's own user and group.
func (p *Process) hostStat(fd int) (unix.Stat_t, unix.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return st, unix.EIO
	}
	st.Dev, st.Ino = p.fs().hostIno(&st)
	st.Uid, st.Gid = guestID, guestID
	st.Rdev = 0
	return st, 0
}

// nodeStat is the struct stat of a synthetic node: a directory backed by a
// view shows the host directory.
func (p *Process) nodeStat(n *node, guestPath string) (unix.Stat_t, unix.Errno) {
	ts := unix.NsecToTimespec(p.start.UnixNano())
	st := unix.Stat_t{Ino: n.ino, Nlink: 1, Blksize: 4096, Uid: guestID, Gid: guestID, Atim: ts, Mtim: ts, Ctim: ts}
	switch n.kind {
	case nodeDir:
		if hl := p.fs().hostDir(n, guestPath); hl.hostFD >= 0 {
			defer hl.close()
			return p.hostStat(hl.hostFD)
		}
		st.Dev, st.Mode, st.Nlink = rootDev, unix.S_IFDIR|0o555, 2
		if strings.HasPrefix(guestPath, "/proc") {
			st.Dev = procDev
		}
	case nodeSymlink:
		st.Dev, st.Mode = procDev, unix.S_IFLNK|0o777
		st.Size = int64(len(n.linkTarget(p)))
	case nodeProc:
		st.Dev, st.Mode, st.Blksize = procDev, unix.S_IFREG|0o444, 1024
		if strings.HasPrefix(guestPath, "/proc/sys/") {
			st.Mode = unix.S_IFREG | 0o644
		}
	case nodeDevice:
		st.Dev, st.Mode = devDev, unix.S_IFCHR|0o666
		st.Rdev = map[deviceKind]uint64{devNull: unix.Mkdev(1, 3), devZero: unix.Mkdev(1, 5), devURandom: unix.Mkdev(1, 9)}[n.device]
	case nodeHost:
		f, err := os.Open(n.hostPath)
		if err != nil {
			return st, unix.ENOENT
		}
		defer f.Close()
		return p.hostStat(int(f.Fd()))
	}
	return st, 0
}

// openFlags are the flags open accepts (the rest Linux ignores).
const validOpenFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC |
	unix.O_APPEND | unix.O_NONBLOCK | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT | unix.O_LARGEFILE |
	unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC | unix.O_SYNC | unix.O_PATH | unix.O_TMPFILE

// openat opens a file of the guest's file system, checking as Linux's
// do_filp_open and do_open do, in their order.
func (p *Process) openat(dirfd uint64, addr arch.Addr, flags uint32) uint64 {
	flags &= validOpenFlags
	if flags&unix.O_TMPFILE == unix.O_TMPFILE && flags&unix.O_ACCMODE == unix.O_RDONLY {
		return errno(unix.EINVAL)
	}
	if flags&unix.O_PATH != 0 {
		flags &= unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	}
	write := flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	follow := flags&unix.O_NOFOLLOW == 0 && flags&(unix.O_CREAT|unix.O_EXCL) != unix.O_CREAT|unix.O_EXCL
	name, e := p.copyInString(addr, pathMax)
	if e != 0 {
		return errno(e)
	}
	abs, e := p.guestPath(dirfd, name)
	if e != 0 {
		return errno(e)
	}
	l, e := p.lookupName(dirfd, name, follow)
	if e == unix.ENOENT && flags&unix.O_CREAT != 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE && p.fs().parentExists(p, abs) {
		return errno(unix.EROFS)
	}
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	st, e := p.lookupStat(&l)
	if e != 0 {
		return errno(e)
	}
	if e := openChecks(flags, write, &st, &l); e != 0 {
		return errno(e)
	}
	f, e := p.openLookup(&l, flags, &st)
	if e != 0 {
		return errno(e)
	}
	fd, e := p.lowestFree(0)
	if e != 0 {
		f.closeFS()
		return errno(e)
	}
	status := unix.O_LARGEFILE | flags&(unix.O_ACCMODE|unix.O_APPEND|unix.O_NONBLOCK|unix.O_DSYNC|unix.O_ASYNC|unix.O_DIRECT|unix.O_NOATIME|unix.O_SYNC|unix.O_PATH)
	if flags&unix.O_PATH != 0 {
		status = flags & (unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW)
	}
	p.install(fd, &openFile{stdio: -1, fs: f, flags: uint32(status)}, flags&unix.O_CLOEXEC != 0)
	return uint64(fd)
}

// openChecks are do_open's and may_open's checks of the file found, in
// their order, for a read-only file system under a root user: O_CREAT|
// O_EXCL of an existing file, O_CREAT or a write of a directory, O_DIRECTORY
// of a non-directory, a final symbolic link not followed, a write of a
// view's file (EROFS) or of a /proc file (EACCES: mmvm's /proc takes no
// writes).
func openChecks(flags uint32, write bool, st *unix.Stat_t, l *lookup) unix.Errno {
	typ := st.Mode & unix.S_IFMT
	if flags&unix.O_PATH != 0 {
		if flags&unix.O_DIRECTORY != 0 && typ != unix.S_IFDIR {
			return unix.ENOTDIR
		}
		return 0
	}
	if flags&unix.O_CREAT != 0 {
		if flags&unix.O_EXCL != 0 {
			return unix.EEXIST
		}
		if typ == unix.S_IFDIR {
			return unix.EISDIR
		}
	}
	if flags&unix.O_DIRECTORY != 0 && typ != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if flags&unix.O_TMPFILE == unix.O_TMPFILE {
		return unix.EROFS // a directory of a read-only file system
	}
	switch typ {
	case unix.S_IFLNK:
		return unix.ELOOP
	case unix.S_IFDIR:
		if write {
			return unix.EISDIR
		}
	case unix.S_IFCHR:
		return 0 // the devices take writes
	}
	if !write {
		return 0
	}
	if l.node != nil && l.node.kind == nodeProc {
		return unix.EACCES
	}
	return unix.EROFS
}

// openLookup makes the fsFile for what l found: a host regular file or
// directory is opened read-only (O_NONBLOCK, so that no open waits); any
// other host file (a device, FIFO or socket seen through a view) is
// EACCES, as Linux answers for a device on a nodev mount.
func (p *Process) openLookup(l *lookup, flags uint32, st *unix.Stat_t) (*fsFile, unix.Errno) {
	f := &fsFile{path: l.path, node: l.node, st: *st, pathOnly: flags&unix.O_PATH != 0}
	if f.pathOnly {
		return f, 0
	}
	typ := st.Mode & unix.S_IFMT
	var hf *os.File
	switch {
	case l.node == nil:
		if typ != unix.S_IFREG && typ != unix.S_IFDIR {
			return nil, unix.EACCES
		}
		fd, e := reopen(l)
		if e != 0 {
			return nil, e
		}
		hf = os.NewFile(uintptr(fd), l.path)
	case l.node.kind == nodeHost:
		var err error
		if hf, err = os.OpenFile(l.node.hostPath, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0); err != nil {
			return nil, unix.EACCES
		}
	case l.node.kind == nodeDir:
		hl := p.fs().hostDir(l.node, l.path)
		if hl.hostFD < 0 {
			return f, 0
		}
		defer hl.close()
		fd, e := reopen(&hl)
		if e != 0 {
			return nil, e
		}
		hf = os.NewFile(uintptr(fd), l.path)
	default:
		return f, 0
	}
	var now unix.Stat_t
	if unix.Fstat(int(hf.Fd()), &now) != nil || now.Mode&unix.S_IFMT != typ {
		hf.Close()
		return nil, unix.EACCES
	}
	f.host = hf
	return f, 0
}

// reopen opens read-only the host file l found O_PATH, by the same path
// beneath the same view; a file that was replaced in between (another
// device and inode) is EACCES.
func reopen(l *lookup) (int, unix.Errno) {
	fd, e := openBeneath(l.view, l.rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, l.follow)
	if e != 0 {
		return -1, e
	}
	var was, now unix.Stat_t
	if unix.Fstat(l.hostFD, &was) != nil || unix.Fstat(fd, &now) != nil || was.Dev != now.Dev || was.Ino != now.Ino {
		unix.Close(fd)
		return -1, unix.EACCES
	}
	return fd, 0
}

func sysOpen(p *Process, a *[6]uint64) uint64 {
	return p.openat(atFDCWD, arch.Addr(a[0]), uint32(a[1]))
}

func sysOpenat(p *Process, a *[6]uint64) uint64 {
	return p.openat(a[0], arch.Addr(a[1]), uint32(a[2]))
}

// fsFileOf returns fd's fsFile: EBADF for an fd not open or opened
// O_PATH; nil (with 0) for stdio and pipe ends.
func (p *Process) fsFileOf(fd uint64) (*fsFile, unix.Errno) {
	f, e := p.file(fd)
	if e != 0 {
		return nil, e
	}
	if f.fs != nil && f.fs.pathOnly {
		return nil, unix.EBADF
	}
	return f.fs, 0
}

// readAt reads up to len(b) bytes of f at off: the host file, a /proc
// file's text, or a device. A directory is EISDIR.
func (p *Process) readAt(f *fsFile, b []byte, off int64) (int, unix.Errno) {
	if f.isDir() {
		return 0, unix.EISDIR
	}
	if f.host != nil {
		for {
			n, err := unix.Pread(int(f.host.Fd()), b, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, unix.EIO
			}
			return n, 0
		}
	}
	switch f.node.kind {
	case nodeProc:
		if !f.textMade {
			f.text, f.textMade = f.node.gen(p), true
		}
		if off >= int64(len(f.text)) {
			return 0, 0
		}
		return copy(b, f.text[off:]), 0
	case nodeDevice:
		switch f.node.device {
		case devNull:
			return 0, 0
		case devZero:
			clear(b)
			return len(b), 0
		case devURandom:
			p.cfg.Random(b)
			return len(b), 0
		}
	}
	return 0, unix.EINVAL
}

// readTo reads up to length bytes of f at off into guest memory at addr, a
// chunk at a time: the bytes read, or EFAULT if the first chunk could not
// be stored.
func (p *Process) readTo(f *fsFile, addr arch.Addr, length uint64, off int64) (uint64, unix.Errno) {
	length = min(length, maxIO)
	buf := make([]byte, min(length, ioChunk))
	var done uint64
	for done < length {
		want := min(length-done, ioChunk)
		n, e := p.readAt(f, buf[:want], off+int64(done))
		if e != 0 {
			if done == 0 {
				return 0, e
			}
			return done, 0
		}
		if n == 0 {
			break
		}
		wrote, err := p.cfg.Memory.CopyOut(addr+arch.Addr(done), buf[:n])
		done += uint64(wrote)
		if err != nil {
			if done == 0 {
				return 0, unix.EFAULT
			}
			break
		}
		if uint64(n) < want {
			break // a short read: the end of the file
		}
		if p.interrupted() {
			break
		}
	}
	return done, 0
}

// seekable says whether reads of f move a position (devices have none).
func (f *fsFile) seekable() bool {
	return f.node == nil || f.node.kind != nodeDevice
}

// fsRead serves read(2) on an fsFile.
func (p *Process) fsRead(f *fsFile, addr arch.Addr, length uint64) uint64 {
	n, e := p.readTo(f, addr, length, f.pos)
	if e != 0 {
		return errno(e)
	}
	if f.seekable() {
		f.pos += int64(n)
	}
	return n
}

func sysPread64(p *Process, a *[6]uint64) uint64 {
	f, e := p.fsFileOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if f == nil {
		return errno(unix.ESPIPE)
	}
	if int64(a[3]) < 0 {
		return errno(unix.EINVAL)
	}
	if f.node != nil && f.node.kind == nodeDevice {
		return p.fsRead(f, arch.Addr(a[1]), a[2])
	}
	n, e := p.readTo(f, arch.Addr(a[1]), a[2], int64(a[3]))
	return result(n, errOrNil(e))
}

func sysReadv(p *Process, a *[6]uint64) uint64 { return p.readv(a[0], a[1], a[2], -1) }

// sysPreadv reads at pos_l: on x86-64 pos_h adds nothing (Linux's
// pos_from_hilo shifts it out of a 64-bit loff_t).
func sysPreadv(p *Process, a *[6]uint64) uint64 {
	if int64(a[3]) < 0 {
		return errno(unix.EINVAL)
	}
	return p.readv(a[0], a[1], a[2], int64(a[3]))
}

// rwfSupported are the RWF_* flags preadv2 accepts (RWF_HIPRI, RWF_DSYNC,
// RWF_SYNC, RWF_NOWAIT, RWF_APPEND, RWF_NOAPPEND, RWF_ATOMIC, RWF_DONTCACHE);
// they change nothing for mmvm's reads.
const rwfSupported = 0xff

// sysPreadv2 is preadv, or readv at the file position for offset -1.
func sysPreadv2(p *Process, a *[6]uint64) uint64 {
	if a[5]&^rwfSupported != 0 {
		return errno(unix.EOPNOTSUPP)
	}
	if int64(a[3]) < -1 {
		return errno(unix.EINVAL)
	}
	return p.readv(a[0], a[1], a[2], int64(a[3]))
}

// readv reads into the iovcnt buffers at iovAddr, at the file position
// (pos < 0) or at pos, which it does not move (ESPIPE for stdio and pipes).
func (p *Process) readv(fd, iovAddr, iovcnt uint64, pos int64) uint64 {
	fsf, e := p.fsFileOf(fd)
	if e != 0 {
		return errno(e)
	}
	if fsf == nil && pos >= 0 {
		return errno(unix.ESPIPE)
	}
	iov, _, e := p.readIOVec(arch.Addr(iovAddr), iovcnt)
	if e != 0 {
		return errno(e)
	}
	var done uint64
	for i := uint64(0); i < iovcnt && done < maxIO; i++ {
		base := binary.LittleEndian.Uint64(iov[16*i:])
		length := min(binary.LittleEndian.Uint64(iov[16*i+8:]), maxIO-done)
		if length == 0 {
			continue
		}
		var r uint64
		switch {
		case fsf == nil:
			b := [6]uint64{fd, base, length}
			r = sysReadFile(p, &b)
		case pos >= 0 && fsf.seekable():
			n, e := p.readTo(fsf, arch.Addr(base), length, pos+int64(done))
			r = result(n, errOrNil(e))
		default:
			r = p.fsRead(fsf, arch.Addr(base), length)
		}
		if int64(r) < 0 {
			if done == 0 {
				return r
			}
			return done
		}
		done += r
		if r < length {
			break
		}
	}
	return done
}

// sysLseek moves an fsFile's position: SEEK_SET, SEEK_CUR, SEEK_END (a
// /proc file, whose size is unknown, refuses SEEK_END as Linux's seq_file
// does), SEEK_DATA and SEEK_HOLE on a host file (asked of the host); a
// device stays at 0. Stdio and pipes are ESPIPE.
func sysLseek(p *Process, a *[6]uint64) uint64 {
	f, e := p.fsFileOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if f == nil {
		return errno(unix.ESPIPE)
	}
	off, whence := int64(a[1]), uint32(a[2])
	if !f.seekable() {
		if whence > unix.SEEK_END {
			return errno(unix.EINVAL)
		}
		return 0
	}
	var pos int64
	switch whence {
	case unix.SEEK_SET:
		pos = off
	case unix.SEEK_CUR:
		pos = f.pos + off
	case unix.SEEK_END:
		if f.node != nil && f.node.kind == nodeProc || f.isDir() {
			return errno(unix.EINVAL)
		}
		pos = f.st.Size + off
		if f.host != nil {
			var st unix.Stat_t
			if unix.Fstat(int(f.host.Fd()), &st) == nil {
				pos = st.Size + off
			}
		}
	case unix.SEEK_DATA, unix.SEEK_HOLE:
		if f.host == nil || f.isDir() {
			return errno(unix.EINVAL)
		}
		n, err := unix.Seek(int(f.host.Fd()), off, int(whence))
		if err != nil {
			return errno(toErrno(err))
		}
		pos = n
	default:
		return errno(unix.EINVAL)
	}
	if pos < 0 {
		return errno(unix.EINVAL)
	}
	if pos == 0 && f.isDir() {
		f.dentsMade = false // rewinddir lists the directory again, as Linux does
	}
	f.pos = pos
	return uint64(pos)
}

// fsStat is fstat of an fsFile (O_PATH included).
func (p *Process) fsStat(f *fsFile) (unix.Stat_t, unix.Errno) {
	if f.host != nil {
		return p.hostStat(int(f.host.Fd()))
	}
	return f.st, 0
}

// statAt serves newfstatat and statx's lookup: the stat of dirfd itself
// for AT_EMPTY_PATH and an empty path, else of the path.
func (p *Process) statAt(dirfd uint64, addr arch.Addr, flags uint32) (st unix.Stat_t, fdStat *openFile, e unix.Errno) {
	if flags&unix.AT_EMPTY_PATH != 0 {
		var first [1]byte
		if _, err := p.cfg.Memory.CopyIn(addr, first[:]); err != nil {
			return st, nil, unix.EFAULT
		}
		if first[0] == 0 {
			if int32(dirfd) == unix.AT_FDCWD {
				l, e := p.fs().walk(p, p.cwd(), true, 0)
				if e != 0 {
					return st, nil, e
				}
				defer l.close()
				st, e := p.lookupStat(&l)
				return st, nil, e
			}
			f, e := p.file(dirfd)
			if e != 0 {
				return st, nil, e
			}
			if f.fs == nil {
				return st, f, 0
			}
			st, e := p.fsStat(f.fs)
			return st, nil, e
		}
	}
	l, e := p.lookupAt(dirfd, addr, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if e != 0 {
		return st, nil, e
	}
	defer l.close()
	st, e = p.lookupStat(&l)
	return st, nil, e
}

// stdioOrPipeStat is fstat of a stdio description or a pipe end.
func (p *Process) stdioOrPipeStat(f *openFile) (unix.Stat_t, unix.Errno) {
	if f.pipe != nil {
		return f.pipe.stat(), 0
	}
	return p.stdioStat(uint64(f.stdio))
}

func sysStat(p *Process, a *[6]uint64) uint64 {
	return sysNewfstatatFile(p, &[6]uint64{atFDCWD, a[0], a[1], 0})
}

func sysLstat(p *Process, a *[6]uint64) uint64 {
	return sysNewfstatatFile(p, &[6]uint64{atFDCWD, a[0], a[1], unix.AT_SYMLINK_NOFOLLOW})
}

// sysNewfstatatFile serves newfstatat: EINVAL for unknown flags, then the
// lookup (statAt).
func sysNewfstatatFile(p *Process, a *[6]uint64) uint64 {
	flags := uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT|unix.AT_EMPTY_PATH) != 0 {
		return errno(unix.EINVAL)
	}
	st, f, e := p.statAt(a[0], arch.Addr(a[1]), flags)
	if e == 0 && f != nil {
		st, e = p.stdioOrPipeStat(f)
	}
	if e != 0 {
		return errno(e)
	}
	return p.putStat(a[2], &st)
}

// statxSize is sizeof(struct statx): unix.Statx_t has its layout, which
// the ABI test checks against what the host kernel writes.
const statxSize = int(unsafe.Sizeof(unix.Statx_t{}))

// atStatxSyncType is AT_STATX_SYNC_TYPE: the statx flags that say how to
// sync (the value 3 of the two bits is invalid).
const atStatxSyncType = 0x6000

// statxReserved is STATX__RESERVED: mask bits no kernel may be asked for.
const statxReserved = 0x80000000

// sysStatx serves statx from the same view as newfstatat: the basic
// fields (STATX_BASIC_STATS), no birth time and no mount id.
func sysStatx(p *Process, a *[6]uint64) uint64 {
	flags, mask := uint32(a[2]), uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT|unix.AT_EMPTY_PATH|atStatxSyncType) != 0 ||
		flags&atStatxSyncType == atStatxSyncType || mask&statxReserved != 0 {
		return errno(unix.EINVAL)
	}
	st, f, e := p.statAt(a[0], arch.Addr(a[1]), flags)
	if e == 0 && f != nil {
		st, e = p.stdioOrPipeStat(f)
	}
	if e != 0 {
		return errno(e)
	}
	sx := statxOf(&st)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&sx)), statxSize)
	return p.copyOutAll(arch.Addr(a[4]), b)
}

// statxOf lays st out as struct statx.
func statxOf(st *unix.Stat_t) unix.Statx_t {
	ts := func(t unix.Timespec) unix.StatxTimestamp {
		return unix.StatxTimestamp{Sec: t.Sec, Nsec: uint32(t.Nsec)}
	}
	return unix.Statx_t{
		Mask:       unix.STATX_BASIC_STATS,
		Blksize:    uint32(st.Blksize),
		Nlink:      uint32(st.Nlink),
		Uid:        st.Uid,
		Gid:        st.Gid,
		Mode:       uint16(st.Mode),
		Ino:        st.Ino,
		Size:       uint64(st.Size),
		Blocks:     uint64(st.Blocks),
		Atime:      ts(st.Atim),
		Ctime:      ts(st.Ctim),
		Mtime:      ts(st.Mtim),
		Rdev_major: unix.Major(st.Rdev),
		Rdev_minor: unix.Minor(st.Rdev),
		Dev_major:  unix.Major(st.Dev),
		Dev_minor:  unix.Minor(st.Dev),
	}
}

// dirents lists directory f: ".", "..", then the host directory's entries
// (if a view backs it) with the synthetic children, which shadow host
// entries of the same names, each with the inode number stat shows.
func (p *Process) dirents(f *fsFile) []dirent {
	if f.dentsMade {
		return f.dents
	}
	f.dentsMade = true
	out := []dirent{{ino: f.st.Ino, typ: unix.DT_DIR, name: "."}, {ino: f.st.Ino, typ: unix.DT_DIR, name: ".."}}
	var children map[string]*node
	if f.node != nil {
		children = f.node.children
	}
	if f.host != nil {
		var dirSt unix.Stat_t
		_ = unix.Fstat(int(f.host.Fd()), &dirSt)
		buf := make([]byte, 8192)
		fd := int(f.host.Fd())
		if _, err := unix.Seek(fd, 0, 0); err == nil {
			for {
				n, err := unix.Getdents(fd, buf)
				if err == unix.EINTR {
					continue
				}
				if err != nil || n <= 0 {
					break
				}
				for b := buf[:n]; len(b) >= 19; {
					reclen := int(binary.LittleEndian.Uint16(b[16:]))
					if reclen < 19 || reclen > len(b) {
						break
					}
					ino, typ := binary.LittleEndian.Uint64(b), b[18]
					name := string(b[19:reclen])
					if i := strings.IndexByte(name, 0); i >= 0 {
						name = name[:i]
					}
					b = b[reclen:]
					if name == "." || name == ".." || children[name] != nil {
						continue
					}
					_, gino := p.fs().hostIno(&unix.Stat_t{Dev: dirSt.Dev, Ino: ino})
					out = append(out, dirent{ino: gino, typ: typ, name: name})
				}
			}
		}
	}
	names := make([]string, 0, len(children))
	for name := range children {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := children[name]
		st, e := p.nodeStat(c, path.Join(f.path, name))
		if e != 0 {
			continue
		}
		out = append(out, dirent{ino: st.Ino, typ: uint8(st.Mode & unix.S_IFMT >> 12), name: name})
	}
	f.dents = out
	return out
}

// sysGetdents64 copies as many whole entries (struct linux_dirent64:
// d_ino, d_off, d_reclen, d_type, the name and its NUL, padded to 8 bytes)
// as fit in count bytes; d_off is the next entry's index, which lseek
// takes. EINVAL when not even one fits, ENOTDIR for a non-directory.
func sysGetdents64(p *Process, a *[6]uint64) uint64 {
	f, e := p.fsFileOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if f == nil || !f.isDir() {
		return errno(unix.ENOTDIR)
	}
	count := min(uint64(uint32(a[2])), maxIO)
	ents := p.dirents(f)
	var out []byte
	pos := f.pos
	for ; pos >= 0 && pos < int64(len(ents)); pos++ {
		d := ents[pos]
		reclen := (19 + len(d.name) + 1 + 7) &^ 7
		if uint64(len(out)+reclen) > count {
			break
		}
		rec := make([]byte, reclen)
		binary.LittleEndian.PutUint64(rec, d.ino)
		binary.LittleEndian.PutUint64(rec[8:], uint64(pos+1))
		binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
		rec[18] = d.typ
		copy(rec[19:], d.name)
		out = append(out, rec...)
	}
	if len(out) == 0 && pos < int64(len(ents)) && pos >= 0 {
		return errno(unix.EINVAL)
	}
	if len(out) > 0 {
		if r := p.copyOutAll(arch.Addr(a[1]), out); r != 0 {
			return r
		}
	}
	f.pos = pos
	return uint64(len(out))
}

// readlinkat reads a symbolic link: a synthetic one's target, a view's
// link's host text; EINVAL for anything else. The text is copied without a
// NUL, truncated to bufsiz.
func (p *Process) readlinkat(dirfd uint64, addr arch.Addr, buf arch.Addr, bufsiz uint64) uint64 {
	if int32(bufsiz) <= 0 {
		return errno(unix.EINVAL)
	}
	l, e := p.lookupAt(dirfd, addr, false)
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	var target string
	switch {
	case l.node != nil && l.node.kind == nodeSymlink:
		target = l.node.linkTarget(p)
	case l.node == nil:
		b := make([]byte, pathMax)
		n, err := unix.Readlinkat(l.hostFD, "", b)
		if err != nil {
			return errno(unix.EINVAL)
		}
		target = string(b[:n])
	default:
		return errno(unix.EINVAL)
	}
	t := []byte(target)[:min(len(target), int(int32(bufsiz)))]
	if r := p.copyOutAll(buf, t); r != 0 {
		return r
	}
	return uint64(len(t))
}

func sysReadlink(p *Process, a *[6]uint64) uint64 {
	return p.readlinkat(atFDCWD, arch.Addr(a[0]), arch.Addr(a[1]), a[2])
}

func sysReadlinkat(p *Process, a *[6]uint64) uint64 {
	return p.readlinkat(a[0], arch.Addr(a[1]), arch.Addr(a[2]), a[3])
}

// faccessat checks mode and flags as Linux does (EINVAL), then answers for
// the guest's root user: a file that exists is readable; W_OK of a view's
// file (or the program) is EROFS; X_OK wants an execute bit on a
// non-directory (EACCES).
func (p *Process) faccessat(dirfd uint64, addr arch.Addr, mode, flags uint64) uint64 {
	if uint32(mode)&^7 != 0 {
		return errno(unix.EINVAL)
	}
	if uint32(flags)&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return errno(unix.EINVAL)
	}
	st, f, e := p.statAt(dirfd, addr, uint32(flags))
	if e == 0 && f != nil {
		st, e = p.stdioOrPipeStat(f)
		if e == 0 && mode&unix.X_OK != 0 {
			return errno(unix.EACCES)
		}
		return result(0, errOrNil(e))
	}
	if e != 0 {
		return errno(e)
	}
	typ := st.Mode & unix.S_IFMT
	if mode&unix.W_OK != 0 && st.Dev >= unix.Mkdev(0, firstViewDev) && (typ == unix.S_IFREG || typ == unix.S_IFDIR || typ == unix.S_IFLNK) {
		return errno(unix.EROFS)
	}
	if mode&unix.X_OK != 0 && typ != unix.S_IFDIR && st.Mode&0o111 == 0 {
		return errno(unix.EACCES)
	}
	return 0
}

func sysAccess(p *Process, a *[6]uint64) uint64 {
	return p.faccessat(atFDCWD, arch.Addr(a[0]), a[1], 0)
}

func sysFaccessat(p *Process, a *[6]uint64) uint64 {
	return p.faccessat(a[0], arch.Addr(a[1]), a[2], 0)
}

func sysFaccessat2(p *Process, a *[6]uint64) uint64 {
	return p.faccessat(a[0], arch.Addr(a[1]), a[2], a[3])
}

// sysGetcwd reports the working directory: its length with the NUL,
// ERANGE when size is smaller.
func sysGetcwd(p *Process, a *[6]uint64) uint64 {
	cwd := p.cwd() + "\x00"
	if a[1] < uint64(len(cwd)) {
		return errno(unix.ERANGE)
	}
	if r := p.copyOutAll(arch.Addr(a[0]), []byte(cwd)); r != 0 {
		return r
	}
	return uint64(len(cwd))
}

// sysChdir makes a directory of the guest's file system the working
// directory: ENOTDIR for anything else.
func sysChdir(p *Process, a *[6]uint64) uint64 {
	l, e := p.lookupAt(atFDCWD, arch.Addr(a[0]), true)
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	st, e := p.lookupStat(&l)
	if e != 0 {
		return errno(e)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errno(unix.ENOTDIR)
	}
	p.info.cwd = l.path
	return 0
}

func sysFchdir(p *Process, a *[6]uint64) uint64 {
	f, e := p.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs == nil || !f.fs.isDir() {
		return errno(unix.ENOTDIR)
	}
	p.info.cwd = f.fs.path
	return 0
}

// mmapFile returns what fd maps as: a regular file's MappableFile (made at
// the first mmap), or anonymous memory for /dev/zero (Linux's mmap_zero:
// private is anonymous, shared is shared anonymous); ENODEV for anything
// else that is open, EBADF for what is not (or is O_PATH).
func (p *Process) mmapFile(fd uint64) (file *MmapFile, anon bool, e unix.Errno) {
	f, e := p.fsFileOf(fd)
	if e != 0 {
		return nil, false, e
	}
	if f == nil {
		return nil, false, unix.ENODEV
	}
	if f.node != nil && f.node.kind == nodeDevice && f.node.device == devZero {
		return nil, true, 0
	}
	if f.host == nil || f.isDir() || p.cfg.MapHostFile == nil {
		return nil, false, unix.ENODEV
	}
	if f.mappable == nil {
		dup, err := unix.FcntlInt(f.host.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, false, unix.ENFILE
		}
		hf := os.NewFile(uintptr(dup), f.path)
		st, se := p.fsStat(f)
		if se != 0 {
			hf.Close()
			return nil, false, se
		}
		mf, err := p.cfg.MapHostFile(hf, st.Size, f.path, st.Dev, st.Ino)
		if err != nil {
			hf.Close()
			return nil, false, unix.ENOMEM
		}
		f.mappable = mf
	}
	return &MmapFile{Mappable: f.mappable, Identity: f.mappable, Readable: true}, false, 0
}

// fsWrite serves write and writev on an fsFile: EBADF unless it was opened
// for writing, which only the devices allow; /dev/null and /dev/zero take
// every byte unread, /dev/urandom reads them first (EFAULT if it cannot),
// as Linux's write_null, write_zero and random_write_iter do.
func (p *Process) fsWrite(f *openFile, addr arch.Addr, length uint64) uint64 {
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY || f.fs.pathOnly || f.fs.node == nil || f.fs.node.kind != nodeDevice {
		return errno(unix.EBADF)
	}
	length = min(length, maxIO)
	if f.fs.node.device == devURandom && addr != 0 {
		buf := make([]byte, min(length, ioChunk))
		var done uint64
		for done < length {
			n, err := p.cfg.Memory.CopyIn(addr+arch.Addr(done), buf[:min(length-done, ioChunk)])
			done += uint64(n)
			if err != nil {
				if done == 0 {
					return errno(unix.EFAULT)
				}
				break
			}
		}
		return done
	}
	return length
}
