package syscalls

import (
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// The open files of the guest's file system (view.go): open and openat
// make them, mmap maps them; fileio.go reads them, filestat.go stats them,
// filedirs.go lists directories and reads links. Every file is read-only
// but the devices: a write access to a view's file or directory is EROFS,
// as on a read-only mount.

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
	// shm is a memfd's contents (memfd.go), nil for any other file; the
	// fsFile holds one reference, dropped at close. st is its fstat but
	// for the size and blocks, which shm has.
	shm SharedFile
	// huge is a hugetlbfs memfd's size and seals (hugetlb.go), nil for
	// any other file.
	huge *hugetlbFile
	// xattrs are a memfd's extended attributes (xattr.go), shared by
	// every description that opens it; nil for any other file.
	xattrs *xattrSet
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

// xattrSetOf is the extended attributes f reaches and holds: a memfd's,
// or a tmpfs node's; nil for any other file.
func (f *fsFile) xattrSetOf() *xattrSet {
	switch {
	case f.xattrs != nil:
		return f.xattrs
	case f.node != nil && f.node.tmp != nil:
		return &f.node.tmp.xattrs
	}
	return nil
}

// holdXattrs counts f among the holders of its attributes' set.
func (f *fsFile) holdXattrs() {
	if s := f.xattrSetOf(); s != nil {
		s.holders++
	}
}

// closeFS releases what f holds.
func (f *fsFile) closeFS() {
	if s := f.xattrSetOf(); s != nil {
		// The last holder of a set no tmpfs's room charges gives its
		// space back to the VM's loose room.
		if s.holders--; s.holders == 0 {
			s.charge(nil)
		}
	}
	if f.host != nil {
		f.host.Close()
		f.host = nil
	}
	if f.mappable != nil {
		f.mappable.DecRef()
		f.mappable = nil
	}
	if f.shm != nil {
		f.shm.DecRef()
		f.shm = nil
	}
}

func (f *fsFile) isDir() bool { return f.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// guestPath makes name (read from the guest) absolute against dirfd as the
// *at calls do, and cleans it (cleanPath): ENOENT for an empty path, EBADF
// for a relative one against a dirfd that is not open, ENOTDIR against one
// that is no directory.
func (p *Process) guestPath(dirfd uint64, name string) (string, unix.Errno) {
	return p.guestPathSearch(dirfd, name, nil)
}

// guestPathSearch is guestPath where search, unless nil, checks each
// directory a ".." leaves (cleanPath).
func (p *Process) guestPathSearch(dirfd uint64, name string, search func(dir string) unix.Errno) (string, unix.Errno) {
	if name == "" {
		return "", unix.ENOENT
	}
	if name[0] == '/' {
		return p.cleanPath(name, search)
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
		base = f.fs.currentPath()
	}
	return p.cleanPath(base+"/"+name, search)
}

// cleanPath cleans the absolute path name as Linux's walk reads it: "."
// and empty names go, and ".." is the parent of the directory the path
// so far really is, its symbolic links followed (so that a/../x, with a
// a link to b/c, is b/x), the root's own parent the root. What comes
// before a ".." must exist and be a directory (ENOENT, ENOTDIR), as the
// walk needs it to, and search, unless nil, must let the walk look ".."
// up there (Task.maySearch). A path without ".." is cleaned lexically,
// which is the same.
func (p *Process) cleanPath(name string, search func(dir string) unix.Errno) (string, unix.Errno) {
	if !strings.Contains(name, "..") {
		return path.Clean(name), 0
	}
	cur := "/"
	for _, part := range strings.Split(name, "/") {
		switch part {
		case "", ".":
		case "..":
			if search != nil {
				if e := search(cur); e != 0 {
					return "", e
				}
			}
			l, e := p.fs().walk(p, cur, true, 0)
			if e != 0 {
				return "", e
			}
			st, e := p.lookupStat(&l)
			real := l.resolvedPath()
			l.close()
			if e != 0 {
				return "", e
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return "", unix.ENOTDIR
			}
			cur = path.Dir(real)
		default:
			cur = path.Join(cur, part)
		}
	}
	return cur, 0
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
func (t *Task) lookupAt(dirfd uint64, addr arch.Addr, follow bool) (lookup, unix.Errno) {
	p := t.Process
	name, e := p.copyInString(addr, pathMax)
	if e != 0 {
		return lookup{hostFD: -1}, e
	}
	return t.lookupName(dirfd, name, follow)
}

// lookupName finds name against dirfd, where the thread may search the
// directories on the way (maySearch).
func (t *Task) lookupName(dirfd uint64, name string, follow bool) (lookup, unix.Errno) {
	p := t.Process
	abs, e := p.guestPathSearch(dirfd, name, t.maySearch)
	if e != 0 {
		return lookup{hostFD: -1}, e
	}
	if abs != "/" {
		if e := t.maySearch(path.Dir(abs)); e != 0 {
			return lookup{hostFD: -1}, e
		}
	}
	// A trailing slash or "/." (which cleaning drops) names a directory
	// and follows a final link, as Linux's LOOKUP_FOLLOW|LOOKUP_DIRECTORY.
	dirOnly := strings.HasSuffix(name, "/") || strings.HasSuffix(name, "/.")
	if dirOnly {
		follow = true
	}
	l, e := p.fs().walk(p, abs, follow, 0)
	if e == 0 && dirOnly {
		st, se := p.lookupStat(&l)
		if se != 0 || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			l.close()
			return lookup{hostFD: -1}, unix.ENOTDIR
		}
	}
	return l, e
}

// openFlags are the flags open accepts (the rest Linux ignores).
const validOpenFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC |
	unix.O_APPEND | unix.O_NONBLOCK | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT | oLargefile |
	unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC | unix.O_SYNC | unix.O_PATH | unix.O_TMPFILE

// openat opens a file of the guest's file system, checking as Linux's
// do_filp_open and do_open do, in their order.
func (t *Task) openat(dirfd uint64, addr arch.Addr, flags, mode uint32) uint64 {
	p := t.Process
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
	l, e := t.lookupName(dirfd, name, follow)
	created := false
	if e == unix.ENOENT && flags&unix.O_CREAT != 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE {
		l, e = t.openCreate(abs, name, mode)
		created = e == 0
	}
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	st, e := p.lookupStat(&l)
	if e != 0 {
		return errno(e)
	}
	// The description keeps the flags Linux's do_dentry_open keeps (all
	// but O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, and O_CLOEXEC, the fd's).
	status := oLargefile | flags&(unix.O_ACCMODE|unix.O_APPEND|unix.O_NONBLOCK|unix.O_DSYNC|unix.O_ASYNC|unix.O_DIRECT|unix.O_NOATIME|unix.O_SYNC|unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if flags&unix.O_PATH != 0 {
		status = flags & (unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW)
	}
	if l.fdFile != nil {
		return p.openFDFile(l.fdFile, flags, uint32(status))
	}
	if e := t.openChecks(flags, write, created, &st, &l); e != 0 {
		return errno(e)
	}
	if l.node != nil && l.node.kind == nodeSocket && flags&unix.O_PATH == 0 {
		return errno(unix.ENXIO) // a socket node has no open
	}
	if l.node != nil && l.node.kind == nodeFIFO && flags&unix.O_PATH == 0 {
		if _, e := p.lowestFree(0); e != 0 {
			return errno(e)
		}
		of, e := t.openFIFO(l.node, flags, uint32(status))
		if e != 0 {
			return errno(e)
		}
		// The open may have waited, the tree lock released, while
		// other threads took fds: the fd is chosen only now.
		fd, e := p.lowestFree(0)
		if e != 0 {
			of.refs = 1
			of.release()
			return errno(e)
		}
		p.install(fd, of, flags&unix.O_CLOEXEC != 0)
		return uint64(fd)
	}
	if of, ok, e := p.openTerminalNode(l.node, flags, uint32(status)); ok {
		if e != 0 {
			return errno(e)
		}
		return p.installNew(of, flags&unix.O_CLOEXEC != 0)
	}
	f, e := p.openLookup(&t.cred, &l, flags, mode, &st, created)
	if e != 0 {
		return errno(e)
	}
	f.holdXattrs() // closeFS lets go
	fd, e := p.lowestFree(0)
	if e != 0 {
		f.closeFS()
		return errno(e)
	}
	p.install(fd, &openFile{stdio: -1, fs: f, flags: uint32(status)}, flags&unix.O_CLOEXEC != 0)
	return uint64(fd)
}

// openFDFile is openat of the open file a link of /proc/self/fd reached
// that is no file of the guest's file system (lookup.fdFile): no such file
// is a directory (O_DIRECTORY: ENOTDIR); the new description is
// reopenFD's.
func (p *Process) openFDFile(of *openFile, flags, status uint32) uint64 {
	if flags&unix.O_DIRECTORY != 0 {
		return errno(unix.ENOTDIR)
	}
	fd, e := p.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	nf, e := p.reopenFD(of, flags, status)
	if e != 0 {
		return errno(e)
	}
	p.install(fd, nf, flags&unix.O_CLOEXEC != 0)
	return uint64(fd)
}

// openChecks are do_open's and may_open's checks of the file found, in
// their order, for the thread on a read-only file system or a tmpfs: O_CREAT|
// O_EXCL of an existing file, O_CREAT or a write of a directory,
// O_DIRECTORY of a non-directory; O_TMPFILE wants to create in the
// directory; a file open made needs nothing more; O_TRUNC of a regular
// file wants a writable mount (EROFS); a final symbolic link not followed
// is ELOOP; then the file's permission for the access the flags ask
// (EACCES), O_NOATIME by neither owner nor CAP_FOWNER (EPERM), and a
// write of a view's file (EROFS) or of a /proc file (EACCES: mmvm's /proc
// takes no writes).
func (t *Task) openChecks(flags uint32, write, created bool, st *unix.Stat_t, l *lookup) unix.Errno {
	c := &t.cred
	typ := st.Mode & unix.S_IFMT
	if flags&unix.O_PATH != 0 {
		if flags&unix.O_DIRECTORY != 0 && typ != unix.S_IFDIR {
			return unix.ENOTDIR
		}
		return 0
	}
	if flags&unix.O_CREAT != 0 {
		if flags&unix.O_EXCL != 0 && !created {
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
		if l.node.isTmpDir() {
			return c.mayCreate(st)
		}
		return unix.EROFS // a directory of a read-only file system
	}
	if created {
		return 0
	}
	writable := l.node != nil && (l.node.tmp != nil || l.node.kind == nodeProc)
	if typ == unix.S_IFREG && flags&unix.O_TRUNC != 0 && !writable {
		return unix.EROFS
	}
	switch typ {
	case unix.S_IFLNK:
		return unix.ELOOP
	case unix.S_IFDIR:
		if write {
			return unix.EISDIR
		}
	}
	if e := t.permissionOf(l.node, st, accessOfOpen(flags)); e != 0 {
		return e
	}
	if flags&unix.O_NOATIME != 0 && !c.ownerOrCapable(st.Uid) {
		return unix.EPERM
	}
	switch {
	case !write, typ == unix.S_IFCHR: // the devices take writes
		return 0
	case l.node != nil && l.node.kind == nodeProc && l.node.writeAt == nil:
		return unix.EACCES
	case writable:
		return 0
	}
	return unix.EROFS
}

// openLookup makes the fsFile for what l found: a host regular file or
// directory is opened read-only (O_NONBLOCK, so that no open waits); any
// other host file (a device, FIFO or socket seen through a view) is
// EACCES, as Linux answers for a device on a nodev mount.
func (p *Process) openLookup(c *creds, l *lookup, flags, mode uint32, st *unix.Stat_t, created bool) (*fsFile, unix.Errno) {
	f := &fsFile{path: l.path, node: l.node, st: *st, pathOnly: flags&unix.O_PATH != 0}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		// A directory's path is where *at calls relative to it start.
		f.path = l.resolvedPath()
	}
	if f.pathOnly {
		return f, 0
	}
	if l.node != nil && l.node.tmp != nil {
		if e := p.openTmpfsFile(c, f, l.node, flags, mode, created); e != 0 {
			return nil, e
		}
		if l.node.kind == nodeShm || f.node != l.node {
			return f, 0 // a tmpfs file, or O_TMPFILE's new one
		}
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
// beneath the same view, or (found through /proc/self/fd, with no view)
// through the host's /proc link of its descriptor; a file that was
// replaced in between (another device and inode) is EACCES.
func reopen(l *lookup) (int, unix.Errno) {
	if l.view == nil {
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(l.hostFD), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, unix.EACCES
		}
		return fd, 0
	}
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

func sysOpen(t *Task, a *[6]uint64) uint64 {
	return t.openat(atFDCWD, arch.Addr(a[0]), uint32(a[1]), uint32(a[2]))
}

func sysOpenat(t *Task, a *[6]uint64) uint64 {
	return t.openat(a[0], arch.Addr(a[1]), uint32(a[2]), uint32(a[3]))
}

// mmapFile returns what fd maps as: a regular file's MappableFile (made at
// the first mmap), a memfd's SharedFile (memfdMmapFile), or anonymous
// memory for /dev/zero (Linux's mmap_zero: private is anonymous, shared is
// shared anonymous); ENODEV for anything else that is open, EBADF for what
// is not (or is O_PATH).
func (p *Process) mmapFile(fd, flags uint64) (file *MmapFile, anon, writeSealed bool, e unix.Errno) {
	of, e := p.file(fd)
	if e != 0 {
		return nil, false, false, e
	}
	if of.fs != nil && of.fs.shm != nil {
		file, writeSealed = memfdMmapFile(of, flags)
		return file, false, writeSealed, 0
	}
	if of.fs != nil && of.fs.huge != nil {
		return nil, false, false, unix.ENOMEM // no huge page can be reserved
	}
	file, anon, e = p.fsMmapFile(fd)
	return file, anon, false, e
}

// fsMmapFile is mmapFile for what is no memfd.
func (p *Process) fsMmapFile(fd uint64) (file *MmapFile, anon bool, e unix.Errno) {
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
