package syscalls

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The calls that change the file system (mkdir, mknod, symlink, link,
// unlink, rmdir, rename, chmod, chown, truncate, utimensat and their *at
// forms) find what they name and then fail as Linux's fail on a read-only
// mount, in Linux's order: the path's own errors first (EFAULT, ENOENT,
// ENOTDIR, ELOOP), then a call that creates a name answers EEXIST where
// the name exists and EROFS where it does not (filename_create); one that
// removes or renames answers for "." and ".." and the root, then EROFS
// whether or not the name exists (mnt_want_write comes before the last
// lookup); one that changes a file answers EROFS once the file is found.

// lastKind is what a path's last component is, as Linux's last_type.
type lastKind int

const (
	lastNorm   lastKind = iota
	lastDot             // "."
	lastDotDot          // ".."
	lastRoot            // the path is "/" (or slashes only)
)

// splitLast splits a raw guest path (not cleaned: "a/." must stay "."
// for rmdir) into its parent, to be looked up against the dirfd, and the
// kind of its last component.
func splitLast(name string) (parent string, kind lastKind) {
	trimmed := strings.TrimRight(name, "/")
	if trimmed == "" {
		return "/", lastRoot
	}
	i := strings.LastIndexByte(trimmed, '/')
	parent = trimmed[:i+1]
	if parent == "" {
		parent = "."
	}
	switch trimmed[i+1:] {
	case ".":
		kind = lastDot
	case "..":
		kind = lastDotDot
	}
	return parent, kind
}

// readPath reads a path argument: EFAULT, ENAMETOOLONG, and ENOENT for an
// empty one, as getname.
func (p *Process) readPath(addr uint64) (string, unix.Errno) {
	name, e := p.copyInString(arch.Addr(addr), pathMax)
	if e == 0 && name == "" {
		e = unix.ENOENT
	}
	return name, e
}

// findParent finds name's parent directory against dirfd, as Linux's
// filename_parentat: ENOTDIR where it is no directory. It returns the
// last component's kind.
func (p *Process) findParent(dirfd uint64, name string) (lastKind, unix.Errno) {
	parent, kind := splitLast(name)
	l, e := p.lookupName(dirfd, parent, true)
	if e != 0 {
		return kind, e
	}
	defer l.close()
	st, e := p.lookupStat(&l)
	if e != 0 {
		return kind, e
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return kind, unix.ENOTDIR
	}
	return kind, 0
}

// createIn answers a call that would create name against dirfd
// (filename_create): the parent's errors, EEXIST for "." , ".." and "/"
// and for a name that exists (a dangling link too), else EROFS.
func (p *Process) createIn(dirfd, addr uint64) unix.Errno {
	name, e := p.readPath(addr)
	if e != 0 {
		return e
	}
	kind, e := p.findParent(dirfd, name)
	if e != 0 {
		return e
	}
	if kind != lastNorm {
		return unix.EEXIST
	}
	l, e := p.lookupName(dirfd, strings.TrimRight(name, "/"), false)
	switch e {
	case 0:
		l.close()
		return unix.EEXIST
	case unix.ENOENT:
		return unix.EROFS
	}
	return e
}

// removeIn answers unlink (dir false) or rmdir (dir true) of name against
// dirfd, as do_unlinkat and do_rmdir: the parent's errors; for rmdir
// ENOTEMPTY for "..", EINVAL for ".", EBUSY for "/"; for unlink EISDIR
// for any of them; then EROFS.
func (p *Process) removeIn(dirfd, addr uint64, dir bool) unix.Errno {
	name, e := p.readPath(addr)
	if e != 0 {
		return e
	}
	kind, e := p.findParent(dirfd, name)
	if e != 0 {
		return e
	}
	switch {
	case kind == lastNorm:
		return unix.EROFS
	case !dir:
		return unix.EISDIR
	case kind == lastDotDot:
		return unix.ENOTEMPTY
	case kind == lastDot:
		return unix.EINVAL
	}
	return unix.EBUSY
}

// changeAt answers a call that changes the file name names against dirfd
// (chmod, chown, utimensat): the lookup's errors, then EROFS.
func (p *Process) changeAt(dirfd, addr uint64, follow bool) unix.Errno {
	name, e := p.readPath(addr)
	if e != 0 {
		return e
	}
	l, e := p.lookupName(dirfd, name, follow)
	if e != 0 {
		return e
	}
	l.close()
	return unix.EROFS
}

func sysMkdir(t *Task, a *[6]uint64) uint64 { return errno(t.createIn(atFDCWD, a[0])) }

func sysMkdirat(t *Task, a *[6]uint64) uint64 { return errno(t.createIn(a[0], a[1])) }

func sysMknod(t *Task, a *[6]uint64) uint64 {
	return sysMknodat(t, &[6]uint64{atFDCWD, a[0], a[1], a[2]})
}

// sysMknodat checks the mode first, as may_mknod: a directory is EPERM,
// an unknown type EINVAL.
func sysMknodat(t *Task, a *[6]uint64) uint64 {
	switch uint32(a[2]) & unix.S_IFMT {
	case 0, unix.S_IFREG, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFDIR:
		return errno(unix.EPERM)
	default:
		return errno(unix.EINVAL)
	}
	return errno(t.createIn(a[0], a[1]))
}

func sysSymlink(t *Task, a *[6]uint64) uint64 {
	return sysSymlinkat(t, &[6]uint64{a[0], atFDCWD, a[1]})
}

// sysSymlinkat reads the target first (EFAULT; ENOENT when empty).
func sysSymlinkat(t *Task, a *[6]uint64) uint64 {
	if _, e := t.readPath(a[0]); e != 0 {
		return errno(e)
	}
	return errno(t.createIn(a[1], a[2]))
}

func sysLink(t *Task, a *[6]uint64) uint64 {
	return sysLinkat(t, &[6]uint64{atFDCWD, a[0], atFDCWD, a[1], 0})
}

// sysLinkat finds the old name first (following a final link only with
// AT_SYMLINK_FOLLOW), then answers for the new one.
func sysLinkat(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[4])
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return errno(unix.EINVAL)
	}
	name, e := t.copyInString(arch.Addr(a[1]), pathMax)
	if e != 0 {
		return errno(e)
	}
	if name == "" && flags&unix.AT_EMPTY_PATH == 0 {
		return errno(unix.ENOENT)
	}
	if name != "" {
		l, e := t.lookupName(a[0], name, flags&unix.AT_SYMLINK_FOLLOW != 0)
		if e != 0 {
			return errno(e)
		}
		l.close()
	} else if _, e := t.file(a[0]); e != 0 {
		return errno(e)
	}
	return errno(t.createIn(a[2], a[3]))
}

func sysUnlink(t *Task, a *[6]uint64) uint64 { return errno(t.removeIn(atFDCWD, a[0], false)) }

func sysRmdir(t *Task, a *[6]uint64) uint64 { return errno(t.removeIn(atFDCWD, a[0], true)) }

func sysUnlinkat(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[2])
	if flags&^unix.AT_REMOVEDIR != 0 {
		return errno(unix.EINVAL)
	}
	return errno(t.removeIn(a[0], a[1], flags&unix.AT_REMOVEDIR != 0))
}

func sysRename(t *Task, a *[6]uint64) uint64 {
	return sysRenameat2(t, &[6]uint64{atFDCWD, a[0], atFDCWD, a[1], 0})
}

func sysRenameat(t *Task, a *[6]uint64) uint64 {
	return sysRenameat2(t, &[6]uint64{a[0], a[1], a[2], a[3], 0})
}

// renameFlags are RENAME_NOREPLACE, RENAME_EXCHANGE and RENAME_WHITEOUT.
const (
	renameNoreplace = 1 << 0
	renameExchange  = 1 << 1
	renameWhiteout  = 1 << 2
)

// sysRenameat2 checks the flags, both parents (the old one first), that
// neither last component is ".", ".." or "/" (EBUSY), then answers EROFS
// before it would look for the names themselves, as do_renameat2.
func sysRenameat2(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[4])
	if flags&^(renameNoreplace|renameExchange|renameWhiteout) != 0 ||
		flags&renameNoreplace != 0 && flags&renameExchange != 0 ||
		flags&renameWhiteout != 0 && flags&renameExchange != 0 {
		return errno(unix.EINVAL)
	}
	var kinds [2]lastKind
	for i, arg := range [][2]uint64{{a[0], a[1]}, {a[2], a[3]}} {
		name, e := t.readPath(arg[1])
		if e != 0 {
			return errno(e)
		}
		if kinds[i], e = t.findParent(arg[0], name); e != 0 {
			return errno(e)
		}
	}
	if kinds[0] != lastNorm {
		return errno(unix.EBUSY)
	}
	if kinds[1] != lastNorm {
		if flags&renameNoreplace != 0 {
			return errno(unix.EEXIST)
		}
		return errno(unix.EBUSY)
	}
	return errno(unix.EROFS)
}

func sysChmod(t *Task, a *[6]uint64) uint64 { return errno(t.changeAt(atFDCWD, a[0], true)) }

func sysFchmodat(t *Task, a *[6]uint64) uint64 { return errno(t.changeAt(a[0], a[1], true)) }

func sysChown(t *Task, a *[6]uint64) uint64 { return errno(t.changeAt(atFDCWD, a[0], true)) }

func sysLchown(t *Task, a *[6]uint64) uint64 { return errno(t.changeAt(atFDCWD, a[0], false)) }

// sysFchownat takes AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH (an empty path
// is then the fd's own file, which cannot change either).
func sysFchownat(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[4])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return errno(unix.EINVAL)
	}
	return errno(t.changeAtOrFD(a[0], a[1], flags))
}

// changeAtOrFD is changeAt, or with AT_EMPTY_PATH and an empty path the
// file dirfd names: EROFS for a file of the guest's file system, ENOSYS
// for the others (a pipe, stdio), which mmvm does not change.
func (p *Process) changeAtOrFD(dirfd, addr uint64, flags uint32) unix.Errno {
	if flags&unix.AT_EMPTY_PATH != 0 {
		name, e := p.copyInString(arch.Addr(addr), pathMax)
		if e != 0 {
			return e
		}
		if name == "" {
			return p.changeFD(dirfd)
		}
	}
	return p.changeAt(dirfd, addr, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
}

// changeFD answers a change of the file fd names.
func (p *Process) changeFD(fd uint64) unix.Errno {
	if int32(fd) == unix.AT_FDCWD {
		return unix.EROFS
	}
	f, e := p.file(fd)
	if e != 0 {
		return e
	}
	if f.fs != nil && f.fs.shm == nil {
		return unix.EROFS
	}
	return unix.ENOSYS
}

// sysTruncate checks the length, finds the file (links followed), then:
// a directory is EISDIR, anything but a regular file EINVAL, else EROFS.
func sysTruncate(t *Task, a *[6]uint64) uint64 {
	if int64(a[1]) < 0 {
		return errno(unix.EINVAL)
	}
	name, e := t.readPath(a[0])
	if e != 0 {
		return errno(e)
	}
	l, e := t.lookupName(atFDCWD, name, true)
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	st, e := t.lookupStat(&l)
	if e != 0 {
		return errno(e)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return errno(unix.EISDIR)
	case unix.S_IFREG:
		return errno(unix.EROFS)
	}
	return errno(unix.EINVAL)
}

// sysUtimensat checks the flags, then the path (a NULL path is the fd's
// own file, as Linux allows).
func sysUtimensat(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return errno(unix.EINVAL)
	}
	if a[1] == 0 {
		return errno(t.changeFD(a[0]))
	}
	return errno(t.changeAtOrFD(a[0], a[1], flags))
}

func sysUtime(t *Task, a *[6]uint64) uint64 { return errno(t.changeAt(atFDCWD, a[0], true)) }

func sysFutimesat(t *Task, a *[6]uint64) uint64 {
	if a[1] == 0 {
		return errno(t.changeFD(a[0]))
	}
	return errno(t.changeAt(a[0], a[1], true))
}
