package syscalls

import (
	"encoding/binary"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The calls that change names or metadata (unlink, rmdir, mkdir, mknod,
// link, symlink, rename, chmod, chown, truncate, utimensat and their
// relatives, creat) and the syncs. The guest's file system is read-only
// everywhere, so none of them changes anything: each answers what Linux
// answers on a read-only mount, checking its arguments and resolving its
// paths in Linux's order first, so that a missing directory is still
// ENOENT, an existing name given to mkdir still EEXIST, and EROFS comes
// where Linux's mnt_want_write would refuse. /proc and /dev, writable
// mounts on Linux, answer as read-only ones too.

// lastKind is what the final component of a path is, as Linux's
// filename_parentat reports it (LAST_NORM, LAST_ROOT, LAST_DOT,
// LAST_DOTDOT).
type lastKind int

const (
	lastNorm lastKind = iota
	lastRoot
	lastDot
	lastDotDot
)

// parentName is a path split as filename_parentat splits it: the
// directory that holds the final component, found and checked, and the
// final component itself.
type parentName struct {
	// dir is the cleaned absolute guest path of the directory; dev its
	// device, which names its mount.
	dir string
	dev uint64
	// last is the final component, kind what it is, and slash whether
	// the path ended in a slash after it.
	last  string
	kind  lastKind
	slash bool
}

// full is the cleaned absolute path of the final component.
func (pn parentName) full() string { return path.Join(pn.dir, pn.last) }

// parentAt reads the path at addr and finds the directory holding its
// final component against dirfd: EFAULT for a bad pointer, ENOENT for an
// empty path or a missing directory, ENOTDIR for one that is no directory,
// EBADF for a relative path against a dirfd that is not open.
func (p *Process) parentAt(dirfd uint64, addr arch.Addr) (parentName, unix.Errno) {
	name, e := p.copyInString(addr, pathMax)
	if e != 0 {
		return parentName{}, e
	}
	return p.parentOf(dirfd, name)
}

// parentOf is parentAt for a name already read.
func (p *Process) parentOf(dirfd uint64, name string) (parentName, unix.Errno) {
	if name == "" {
		return parentName{}, unix.ENOENT
	}
	trimmed := strings.TrimRight(name, "/")
	pn := parentName{slash: len(trimmed) < len(name)}
	dirPart := "."
	switch i := strings.LastIndexByte(trimmed, '/'); {
	case trimmed == "":
		pn.kind, dirPart = lastRoot, "/"
	case i >= 0:
		dirPart, pn.last = trimmed[:i+1], trimmed[i+1:]
	default:
		pn.last = trimmed
	}
	switch pn.last {
	case ".":
		pn.kind = lastDot
	case "..":
		pn.kind = lastDotDot
	}
	dir, e := p.guestPath(dirfd, dirPart)
	if e != 0 {
		return parentName{}, e
	}
	l, e := p.fs().walk(p, dir, true, 0)
	if e != 0 {
		return parentName{}, e
	}
	defer l.close()
	st, e := p.lookupStat(&l)
	if e != 0 {
		return parentName{}, e
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return parentName{}, unix.ENOTDIR
	}
	pn.dir, pn.dev = dir, st.Dev
	return pn, 0
}

// exists says whether the final component of pn names anything (a link
// itself, not followed).
func (p *Process) exists(pn parentName) bool {
	l, e := p.fs().walk(p, pn.full(), false, 0)
	if e != 0 {
		return false
	}
	l.close()
	return true
}

// createAt is Linux's filename_create for the read-only file system, the
// start of mkdir, mknod, symlink and link's new name: EEXIST for "." or
// ".." or the root, or a name that exists; ENOENT for a missing name
// with a trailing slash where no directory is made; else EROFS.
func (p *Process) createAt(dirfd uint64, addr arch.Addr, wantDir bool) unix.Errno {
	pn, e := p.parentAt(dirfd, addr)
	if e != 0 {
		return e
	}
	if pn.kind != lastNorm || p.exists(pn) {
		return unix.EEXIST
	}
	if pn.slash && !wantDir {
		return unix.ENOENT
	}
	return unix.EROFS
}

func sysMkdir(t *Task, a *[6]uint64) uint64 {
	return errno0(t.createAt(atFDCWD, arch.Addr(a[0]), true))
}

func sysMkdirat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.createAt(a[0], arch.Addr(a[1]), true))
}

// mknodat checks the file type first, as may_mknod does (EPERM for a
// directory, EINVAL for no type Linux knows; 0 is a regular file).
func (p *Process) mknodat(dirfd uint64, addr arch.Addr, mode uint32) unix.Errno {
	switch mode & unix.S_IFMT {
	case 0, unix.S_IFREG, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFDIR:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	return p.createAt(dirfd, addr, false)
}

func sysMknod(t *Task, a *[6]uint64) uint64 {
	return errno0(t.mknodat(atFDCWD, arch.Addr(a[0]), uint32(a[1])))
}

func sysMknodat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.mknodat(a[0], arch.Addr(a[1]), uint32(a[2])))
}

// symlinkat reads the target (ENOENT when empty) before making the name.
func (p *Process) symlinkat(target arch.Addr, dirfd uint64, addr arch.Addr) unix.Errno {
	s, e := p.copyInString(target, pathMax)
	if e != 0 {
		return e
	}
	if s == "" {
		return unix.ENOENT
	}
	return p.createAt(dirfd, addr, false)
}

func sysSymlink(t *Task, a *[6]uint64) uint64 {
	return errno0(t.symlinkat(arch.Addr(a[0]), atFDCWD, arch.Addr(a[1])))
}

func sysSymlinkat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.symlinkat(arch.Addr(a[0]), a[1], arch.Addr(a[2])))
}

// linkat checks its flags, finds the old file (following a final link
// only with AT_SYMLINK_FOLLOW; the dirfd's own file for AT_EMPTY_PATH and
// an empty path), then makes the new name.
func (p *Process) linkat(olddirfd uint64, oldAddr arch.Addr, newdirfd uint64, newAddr arch.Addr, flags uint64) unix.Errno {
	if uint32(flags)&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return unix.EINVAL
	}
	statFlags := uint32(flags) & unix.AT_EMPTY_PATH
	if flags&unix.AT_SYMLINK_FOLLOW == 0 {
		statFlags |= unix.AT_SYMLINK_NOFOLLOW
	}
	if _, _, e := p.statAt(olddirfd, oldAddr, statFlags); e != 0 {
		return e
	}
	return p.createAt(newdirfd, newAddr, false)
}

func sysLink(t *Task, a *[6]uint64) uint64 {
	return errno0(t.linkat(atFDCWD, arch.Addr(a[0]), atFDCWD, arch.Addr(a[1]), 0))
}

func sysLinkat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.linkat(a[0], arch.Addr(a[1]), a[2], arch.Addr(a[3]), a[4]))
}

// unlinkat removes nothing: EINVAL for flags other than AT_REMOVEDIR,
// rmdir's answers with it; EISDIR for "." or ".." or the root, else
// EROFS once the directory is found (Linux asks for write access to the
// mount before it looks the final component up).
func (p *Process) unlinkat(dirfd uint64, addr arch.Addr, flags uint64) unix.Errno {
	if uint32(flags)&^unix.AT_REMOVEDIR != 0 {
		return unix.EINVAL
	}
	if flags&unix.AT_REMOVEDIR != 0 {
		return p.rmdirat(dirfd, addr)
	}
	pn, e := p.parentAt(dirfd, addr)
	if e != 0 {
		return e
	}
	if pn.kind != lastNorm {
		return unix.EISDIR
	}
	return unix.EROFS
}

// rmdirat is do_rmdir: ENOTEMPTY for "..", EINVAL for ".", EBUSY for the
// root, else EROFS.
func (p *Process) rmdirat(dirfd uint64, addr arch.Addr) unix.Errno {
	pn, e := p.parentAt(dirfd, addr)
	if e != 0 {
		return e
	}
	switch pn.kind {
	case lastDotDot:
		return unix.ENOTEMPTY
	case lastDot:
		return unix.EINVAL
	case lastRoot:
		return unix.EBUSY
	}
	return unix.EROFS
}

func sysUnlink(t *Task, a *[6]uint64) uint64 {
	return errno0(t.unlinkat(atFDCWD, arch.Addr(a[0]), 0))
}

func sysUnlinkat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.unlinkat(a[0], arch.Addr(a[1]), a[2]))
}

func sysRmdir(t *Task, a *[6]uint64) uint64 {
	return errno0(t.rmdirat(atFDCWD, arch.Addr(a[0])))
}

// renameat2 is do_renameat2: its flags (EINVAL), both directories, EXDEV
// across mounts, EBUSY for an old or new name that is "." or ".." or the
// root (EEXIST for the new one with RENAME_NOREPLACE), else EROFS.
func (p *Process) renameat2(olddirfd uint64, oldAddr arch.Addr, newdirfd uint64, newAddr arch.Addr, flags uint64) unix.Errno {
	if uint32(flags)&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE|unix.RENAME_WHITEOUT) != 0 {
		return unix.EINVAL
	}
	if flags&(unix.RENAME_NOREPLACE|unix.RENAME_WHITEOUT) != 0 && flags&unix.RENAME_EXCHANGE != 0 {
		return unix.EINVAL
	}
	from, e := p.parentAt(olddirfd, oldAddr)
	if e != 0 {
		return e
	}
	to, e := p.parentAt(newdirfd, newAddr)
	if e != 0 {
		return e
	}
	switch {
	case from.dev != to.dev:
		return unix.EXDEV
	case from.kind != lastNorm:
		return unix.EBUSY
	case to.kind != lastNorm && flags&unix.RENAME_NOREPLACE != 0:
		return unix.EEXIST
	case to.kind != lastNorm:
		return unix.EBUSY
	}
	return unix.EROFS
}

func sysRename(t *Task, a *[6]uint64) uint64 {
	return errno0(t.renameat2(atFDCWD, arch.Addr(a[0]), atFDCWD, arch.Addr(a[1]), 0))
}

func sysRenameat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.renameat2(a[0], arch.Addr(a[1]), a[2], arch.Addr(a[3]), 0))
}

func sysRenameat2(t *Task, a *[6]uint64) uint64 {
	return errno0(t.renameat2(a[0], arch.Addr(a[1]), a[2], arch.Addr(a[3]), a[4]))
}

// attrAt is the path half of chmod, chown and utimes: flags other than
// AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH are EINVAL, then the file is
// found; a file of the guest's file system is EROFS, while stdio or a pipe
// end named by AT_EMPTY_PATH takes the change (Linux's pipefs and the
// terminal's devpts are writable), which mmvm does not keep.
func (p *Process) attrAt(dirfd uint64, addr arch.Addr, flags uint64) unix.Errno {
	if uint32(flags)&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return unix.EINVAL
	}
	_, f, e := p.statAt(dirfd, addr, uint32(flags))
	if e != 0 {
		return e
	}
	if f != nil {
		return 0
	}
	return unix.EROFS
}

// attrFD is the fd half (fchmod, fchown, futimens): EBADF for an fd that
// is not open or is O_PATH; a memfd (Linux's tmpfs), a pipe end, an
// eventfd or stdio takes the change (not kept), any other file of the
// guest's file system is EROFS.
func (p *Process) attrFD(fd uint64) unix.Errno {
	f, e := p.file(fd)
	if e != 0 {
		return e
	}
	if f.fs == nil {
		return 0
	}
	switch {
	case f.fs.pathOnly:
		return unix.EBADF
	case f.fs.shm != nil:
		return 0
	}
	return unix.EROFS
}

func sysChmod(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(atFDCWD, arch.Addr(a[0]), 0))
}

func sysFchmodat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(a[0], arch.Addr(a[1]), 0))
}

func sysFchmodat2(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(a[0], arch.Addr(a[1]), a[3]))
}

func sysFchmod(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrFD(a[0]))
}

func sysChown(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(atFDCWD, arch.Addr(a[0]), 0))
}

func sysLchown(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(atFDCWD, arch.Addr(a[0]), unix.AT_SYMLINK_NOFOLLOW))
}

func sysFchownat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(a[0], arch.Addr(a[1]), a[4]))
}

func sysFchown(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrFD(a[0]))
}

// truncate is do_sys_truncate: EINVAL for a negative length, then the
// file (links followed), EISDIR for a directory, EINVAL for anything but
// a regular file, else EROFS.
func (p *Process) truncate(addr arch.Addr, length int64) unix.Errno {
	if length < 0 {
		return unix.EINVAL
	}
	st, _, e := p.statAt(atFDCWD, addr, 0)
	if e != 0 {
		return e
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.EISDIR
	case unix.S_IFREG:
		return unix.EROFS
	}
	return unix.EINVAL
}

func sysTruncate(t *Task, a *[6]uint64) uint64 {
	return errno0(t.truncate(arch.Addr(a[0]), int64(a[1])))
}

// utimeOmit and utimeNow are the tv_nsec values utimensat takes besides
// a time (UTIME_OMIT, UTIME_NOW).
const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
)

// utimes is do_utimes after the times were read (nsec holds their
// tv_nsec, nil for no times): EINVAL for a tv_nsec out of range, then the
// fd itself for a NULL path with a dirfd (flags must be 0), else the path
// (EFAULT for a NULL one).
func (p *Process) utimes(dirfd uint64, addr arch.Addr, nsec []int64, flags uint64) unix.Errno {
	for _, n := range nsec {
		if (n < 0 || n >= 1e9) && n != utimeNow && n != utimeOmit {
			return unix.EINVAL
		}
	}
	if addr == 0 && int32(dirfd) != unix.AT_FDCWD {
		if flags != 0 {
			return unix.EINVAL
		}
		return p.attrFD(dirfd)
	}
	if addr == 0 {
		return unix.EFAULT
	}
	return p.attrAt(dirfd, addr, flags)
}

// readTimes reads n pairs of 64-bit words at addr (timespecs or timevals)
// and returns the second word of each: EFAULT where they cannot be read.
func (p *Process) readTimes(addr arch.Addr, n int) ([]int64, unix.Errno) {
	b := make([]byte, 16*n)
	if _, err := p.cfg.Memory.CopyIn(addr, b); err != nil {
		return nil, unix.EFAULT
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[16*i+8:]))
	}
	return out, 0
}

// sysUtimensat: times that are both UTIME_OMIT change nothing, and the
// path is not even looked at (0), as Linux.
func sysUtimensat(t *Task, a *[6]uint64) uint64 {
	var nsec []int64
	if a[2] != 0 {
		var e unix.Errno
		if nsec, e = t.readTimes(arch.Addr(a[2]), 2); e != 0 {
			return errno(e)
		}
		if nsec[0] == utimeOmit && nsec[1] == utimeOmit {
			return 0
		}
	}
	return errno0(t.utimes(a[0], arch.Addr(a[1]), nsec, a[3]))
}

// futimesat serves utimes and futimesat: each timeval's tv_usec must lie
// in [0, 1000000) (EINVAL).
func (p *Process) futimesat(dirfd uint64, addr, tv arch.Addr) unix.Errno {
	if tv != 0 {
		usec, e := p.readTimes(tv, 2)
		if e != 0 {
			return e
		}
		for _, u := range usec {
			if u < 0 || u >= 1e6 {
				return unix.EINVAL
			}
		}
	}
	return p.utimes(dirfd, addr, nil, 0)
}

func sysUtimes(t *Task, a *[6]uint64) uint64 {
	return errno0(t.futimesat(atFDCWD, arch.Addr(a[0]), arch.Addr(a[1])))
}

func sysFutimesat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.futimesat(a[0], arch.Addr(a[1]), arch.Addr(a[2])))
}

// sysUtime reads its struct utimbuf (two seconds) for EFAULT alone.
func sysUtime(t *Task, a *[6]uint64) uint64 {
	if a[1] != 0 {
		var b [16]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[1]), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	return errno0(t.utimes(atFDCWD, arch.Addr(a[0]), nil, 0))
}

// sysCreat is open with O_CREAT|O_WRONLY|O_TRUNC.
func sysCreat(t *Task, a *[6]uint64) uint64 {
	return t.openat(atFDCWD, arch.Addr(a[0]), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
}

// fsync serves fsync and fdatasync: EBADF for an fd that is not open or
// is O_PATH; EINVAL for what has no fsync on Linux (a pipe, an eventfd or
// epoll instance, a device, a /proc file or directory); stdio asks the
// host descriptor behind it; the rest (a view's files, memfds, the
// synthetic directories) have nothing to write back.
func (p *Process) fsync(fd uint64) unix.Errno {
	f, e := p.file(fd)
	if e != 0 {
		return e
	}
	switch {
	case f.pipe != nil, f.anon != nil:
		return unix.EINVAL
	case f.fs == nil:
		if hfd := p.cfg.StdioFDs[f.stdio]; hfd >= 0 {
			if err := unix.Fsync(hfd); err != nil {
				if en, ok := err.(unix.Errno); ok {
					return en
				}
				return unix.EIO
			}
			return 0
		}
		return unix.EINVAL
	case f.fs.pathOnly:
		return unix.EBADF
	case f.fs.shm != nil, f.fs.node == nil:
		return 0
	}
	switch f.fs.node.kind {
	case nodeHost:
		return 0
	case nodeDir:
		if f.fs.path == "/proc" || strings.HasPrefix(f.fs.path, "/proc/") {
			return unix.EINVAL
		}
		return 0
	}
	return unix.EINVAL
}

func sysFsync(t *Task, a *[6]uint64) uint64 {
	return errno0(t.fsync(a[0]))
}

// sysSyncfs writes nothing back: EBADF for an fd that is not open.
func sysSyncfs(t *Task, a *[6]uint64) uint64 {
	_, e := t.file(a[0])
	return errno0(e)
}
