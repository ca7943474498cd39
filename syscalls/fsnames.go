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
// but for its tmpfs mounts (tmpfs.go): each call checks its arguments and
// resolves its paths in Linux's order first, so that a missing directory
// is still ENOENT and an existing name given to mkdir still EEXIST; then a
// tmpfs takes the change, and anywhere else EROFS comes where Linux's
// mnt_want_write would refuse. /proc and /dev, writable mounts on Linux,
// answer as read-only ones.

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
	// node is the directory's synthetic node; nil for a view's.
	node *node
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
// EBADF for a relative path against a dirfd that is not open, EACCES for
// a directory on the way, or the one found, that the thread may not
// search.
func (t *Task) parentAt(dirfd uint64, addr arch.Addr) (parentName, unix.Errno) {
	p := t.Process
	name, e := p.copyInString(addr, pathMax)
	if e != 0 {
		return parentName{}, e
	}
	return t.parentOf(dirfd, name)
}

// parentOf is parentAt for a name already read.
func (t *Task) parentOf(dirfd uint64, name string) (parentName, unix.Errno) {
	p := t.Process
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
	dir, e := p.guestPathSearch(dirfd, dirPart, t.maySearch)
	if e != 0 {
		return parentName{}, e
	}
	if pn.kind != lastRoot {
		if e := t.maySearch(dir); e != 0 {
			return parentName{}, e
		}
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
	pn.dir, pn.dev, pn.node = dir, st.Dev, l.node
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

// createAt is Linux's filename_create and may_create, the start of mkdir,
// mknod, symlink (and a socket's bind): newNameAt's checks, then EACCES
// where the thread may not create in the directory (mayCreateIn). A nil
// error leaves the name to make in tmpfs directory pn.node.
func (t *Task) createAt(dirfd uint64, addr arch.Addr, wantDir bool) (parentName, unix.Errno) {
	pn, e := t.newNameAt(dirfd, addr, wantDir)
	if e != 0 {
		return pn, e
	}
	return pn, t.mayCreateIn(pn.node)
}

// newNameAt is Linux's filename_create, link's new name: EEXIST for "."
// or ".." or the root, or a name that exists; ENOENT for a missing name
// with a trailing slash where no directory is made; EROFS outside a
// tmpfs.
func (t *Task) newNameAt(dirfd uint64, addr arch.Addr, wantDir bool) (parentName, unix.Errno) {
	p := t.Process
	pn, e := t.parentAt(dirfd, addr)
	if e != 0 {
		return pn, e
	}
	return pn, p.createIn(pn, wantDir)
}

// createIn is createAt for a name whose directory parentOf found.
func (p *Process) createIn(pn parentName, wantDir bool) unix.Errno {
	if pn.kind != lastNorm || p.exists(pn) {
		return unix.EEXIST
	}
	if pn.slash && !wantDir {
		return unix.ENOENT
	}
	if !pn.node.isTmpDir() {
		return unix.EROFS
	}
	if len(pn.last) > tmpfsNameMax {
		return unix.ENAMETOOLONG
	}
	return 0
}

// mkdirat makes a directory with mode's permission bits (and sticky bit)
// less the umask.
func (t *Task) mkdirat(dirfd uint64, addr arch.Addr, mode uint32) unix.Errno {
	p := t.Process
	pn, e := t.createAt(dirfd, addr, true)
	if e != 0 {
		return e
	}
	_, e = p.tmpCreate(&t.cred, pn.node, pn.last, nodeDir, mode)
	return e
}

func sysMkdir(t *Task, a *[6]uint64) uint64 {
	return errno0(t.mkdirat(atFDCWD, arch.Addr(a[0]), uint32(a[1])))
}

func sysMkdirat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.mkdirat(a[0], arch.Addr(a[1]), uint32(a[2])))
}

// mknodat checks the file type first, as may_mknod does (EPERM for a
// directory, EINVAL for no type Linux knows; 0 is a regular file). A
// tmpfs makes regular files, FIFOs (fifo.go) and socket nodes, which no
// socket is bound to (connect: ECONNREFUSED); a device node it refuses
// (EPERM): mmvm has no such files.
func (t *Task) mknodat(dirfd uint64, addr arch.Addr, mode uint32) unix.Errno {
	p := t.Process
	switch mode & unix.S_IFMT {
	case 0, unix.S_IFREG, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFDIR:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	pn, e := t.createAt(dirfd, addr, false)
	if e != 0 {
		return e
	}
	kind := nodeShm
	switch mode & unix.S_IFMT {
	case 0, unix.S_IFREG:
	case unix.S_IFIFO:
		kind = nodeFIFO
	case unix.S_IFSOCK:
		kind = nodeSocket
	default:
		return unix.EPERM
	}
	_, e = p.tmpCreate(&t.cred, pn.node, pn.last, kind, mode)
	return e
}

func sysMknod(t *Task, a *[6]uint64) uint64 {
	return errno0(t.mknodat(atFDCWD, arch.Addr(a[0]), uint32(a[1])))
}

func sysMknodat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.mknodat(a[0], arch.Addr(a[1]), uint32(a[2])))
}

// symlinkat reads the target (ENOENT when empty) before making the name.
func (t *Task) symlinkat(target arch.Addr, dirfd uint64, addr arch.Addr) unix.Errno {
	p := t.Process
	s, e := p.copyInString(target, pathMax)
	if e != 0 {
		return e
	}
	if s == "" {
		return unix.ENOENT
	}
	pn, e := t.createAt(dirfd, addr, false)
	if e != 0 {
		return e
	}
	if e := p.tmpRoom(pn.node.tmp.fs); e != 0 {
		return e
	}
	l := p.tmpNew(&t.cred, pn.node, nodeSymlink, unix.S_IFLNK|0o777)
	l.linkTarget = func(*Process) string { return s }
	tmpLink(pn.node, pn.last, l)
	return 0
}

func sysSymlink(t *Task, a *[6]uint64) uint64 {
	return errno0(t.symlinkat(arch.Addr(a[0]), atFDCWD, arch.Addr(a[1])))
}

func sysSymlinkat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.symlinkat(arch.Addr(a[0]), a[1], arch.Addr(a[2])))
}

// linkat checks its flags, finds the old file (following a final link
// only with AT_SYMLINK_FOLLOW; the dirfd's own file for AT_EMPTY_PATH and
// an empty path), then makes the new name: EXDEV unless both are on the
// same tmpfs, EPERM where the host's fs.protected_hardlinks refuses the
// old file (mayLink), EACCES where the thread may not create in the new
// name's directory, EPERM for a directory, ENOENT for a file no name
// links (but O_TMPFILE's).
func (t *Task) linkat(olddirfd uint64, oldAddr arch.Addr, newdirfd uint64, newAddr arch.Addr, flags uint64) unix.Errno {
	p := t.Process
	if uint32(flags)&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return unix.EINVAL
	}
	old, e := t.nodeAt(olddirfd, oldAddr, flags&unix.AT_EMPTY_PATH != 0, flags&unix.AT_SYMLINK_FOLLOW != 0)
	if e != 0 {
		return e
	}
	pn, e := t.newNameAt(newdirfd, newAddr, false)
	if e != 0 {
		return e
	}
	if old == nil || old.tmp == nil || old.tmp.fs != pn.node.tmp.fs {
		return unix.EXDEV
	}
	if e := t.mayLink(old); e != 0 {
		return e
	}
	if e := t.mayCreateIn(pn.node); e != 0 {
		return e
	}
	switch {
	case old.kind == nodeDir:
		return unix.EPERM
	case old.tmp.nlink == 0 && !old.tmp.linkable:
		return unix.ENOENT
	case old.tmp.nlink == 0:
		if e := p.tmpRoom(old.tmp.fs); e != 0 {
			return e
		}
	}
	tmpLink(pn.node, pn.last, old)
	return 0
}

func sysLink(t *Task, a *[6]uint64) uint64 {
	return errno0(t.linkat(atFDCWD, arch.Addr(a[0]), atFDCWD, arch.Addr(a[1]), 0))
}

func sysLinkat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.linkat(a[0], arch.Addr(a[1]), a[2], arch.Addr(a[3]), a[4]))
}

// unlinkat is do_unlinkat: EINVAL for flags other than AT_REMOVEDIR,
// rmdir's answers with it; EISDIR for "." or ".." or the root; EROFS
// outside a tmpfs once the directory is found (Linux asks for write
// access to the mount before it looks the final component up); then
// ENOENT; for a name with a trailing slash EISDIR for a directory, else
// ENOTDIR; then where the thread may not delete the name (mayDeleteIn:
// EACCES, EPERM), EISDIR for a directory.
func (t *Task) unlinkat(dirfd uint64, addr arch.Addr, flags uint64) unix.Errno {
	if uint32(flags)&^unix.AT_REMOVEDIR != 0 {
		return unix.EINVAL
	}
	if flags&unix.AT_REMOVEDIR != 0 {
		return t.rmdirat(dirfd, addr)
	}
	pn, e := t.parentAt(dirfd, addr)
	if e != 0 {
		return e
	}
	if pn.kind != lastNorm {
		return unix.EISDIR
	}
	if !pn.node.isTmpDir() {
		return unix.EROFS
	}
	c := pn.node.children[pn.last]
	switch {
	case c == nil:
		return unix.ENOENT
	case pn.slash && c.kind == nodeDir:
		return unix.EISDIR
	case pn.slash:
		return unix.ENOTDIR
	}
	if e := t.mayDeleteIn(pn.node, c); e != 0 {
		return e
	}
	if c.kind == nodeDir {
		return unix.EISDIR
	}
	tmpUnlink(pn.node, pn.last, c)
	return 0
}

// rmdirat is do_rmdir: ENOTEMPTY for "..", EINVAL for ".", EBUSY for the
// root, EROFS outside a tmpfs, then ENOENT, EACCES or EPERM where the
// thread may not delete the name (mayDeleteIn), ENOTDIR for what is no
// directory, ENOTEMPTY for one with entries.
func (t *Task) rmdirat(dirfd uint64, addr arch.Addr) unix.Errno {
	pn, e := t.parentAt(dirfd, addr)
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
	if !pn.node.isTmpDir() {
		return unix.EROFS
	}
	c := pn.node.children[pn.last]
	if c == nil {
		return unix.ENOENT
	}
	if e := t.mayDeleteIn(pn.node, c); e != 0 {
		return e
	}
	switch {
	case c.kind != nodeDir:
		return unix.ENOTDIR
	case len(c.children) > 0:
		return unix.ENOTEMPTY
	}
	tmpUnlink(pn.node, pn.last, c)
	return 0
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
// root (EEXIST for the new one with RENAME_NOREPLACE), EROFS outside a
// tmpfs; a tmpfs renames (tmpRename). RENAME_WHITEOUT, which only
// overlayfs asks for, is EINVAL: mmvm makes no whiteout devices.
func (t *Task) renameat2(olddirfd uint64, oldAddr arch.Addr, newdirfd uint64, newAddr arch.Addr, flags uint64) unix.Errno {
	if uint32(flags)&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE|unix.RENAME_WHITEOUT) != 0 {
		return unix.EINVAL
	}
	if flags&(unix.RENAME_NOREPLACE|unix.RENAME_WHITEOUT) != 0 && flags&unix.RENAME_EXCHANGE != 0 {
		return unix.EINVAL
	}
	from, e := t.parentAt(olddirfd, oldAddr)
	if e != 0 {
		return e
	}
	to, e := t.parentAt(newdirfd, newAddr)
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
	case !from.node.isTmpDir():
		return unix.EROFS
	case flags&unix.RENAME_WHITEOUT != 0:
		return unix.EINVAL
	}
	return tmpRename(&t.cred, from, to, flags)
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
// found; a tmpfs file takes change, any other file of the guest's file
// system is EROFS, while stdio or a pipe end named by AT_EMPTY_PATH takes
// the change (Linux's pipefs and the terminal's devpts are writable),
// which mmvm does not keep.
func (t *Task) attrAt(dirfd uint64, addr arch.Addr, flags uint64, change func(*node) unix.Errno) unix.Errno {
	if uint32(flags)&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return unix.EINVAL
	}
	_, f, e := t.statAt(dirfd, addr, uint32(flags))
	if e != 0 {
		return e
	}
	if f != nil {
		return 0
	}
	n, e := t.nodeAt(dirfd, addr, flags&unix.AT_EMPTY_PATH != 0, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if e != 0 {
		return e
	}
	if n == nil || n.tmp == nil {
		return unix.EROFS
	}
	return change(n)
}

// nodeAt finds the synthetic node a path names against dirfd (with
// emptyPath, an empty path names dirfd's own file, or the working
// directory for AT_FDCWD): nil for a view's file and for a description
// that is no file of the guest's file system.
func (t *Task) nodeAt(dirfd uint64, addr arch.Addr, emptyPath, follow bool) (*node, unix.Errno) {
	p := t.Process
	if emptyPath {
		var first [1]byte
		if _, err := p.cfg.Memory.CopyIn(addr, first[:]); err != nil {
			return nil, unix.EFAULT
		}
		if first[0] == 0 && int32(dirfd) != unix.AT_FDCWD {
			f, e := p.file(dirfd)
			if e != 0 || f.fs == nil {
				return nil, e
			}
			return f.fs.node, 0
		}
		if first[0] == 0 {
			return p.nodeOf(p.cwd(), true)
		}
	}
	l, e := t.lookupAt(dirfd, addr, follow)
	if e != 0 {
		return nil, e
	}
	l.close()
	return l.node, 0
}

// nodeOf is the synthetic node at the cleaned absolute path name.
func (p *Process) nodeOf(name string, follow bool) (*node, unix.Errno) {
	l, e := p.fs().walk(p, name, follow, 0)
	if e != 0 {
		return nil, e
	}
	l.close()
	return l.node, 0
}

// attrFD is the fd half (fchmod, fchown, futimens): EBADF for an fd that
// is not open or is O_PATH; a tmpfs file takes change; a memfd (Linux's
// tmpfs), a pipe end, an eventfd or stdio takes the change (not kept),
// any other file of the guest's file system is EROFS.
func (t *Task) attrFD(fd uint64, change func(*node) unix.Errno) unix.Errno {
	p := t.Process
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
	case f.fs.node != nil && f.fs.node.tmp != nil:
		return change(f.fs.node)
	case f.fs.shm != nil:
		return 0
	}
	return unix.EROFS
}

// chmodTo is chmod's change by c: the permission, setuid, setgid and
// sticky bits become mode's. A symbolic link's mode cannot change
// (fchmodat2 with AT_SYMLINK_NOFOLLOW: EOPNOTSUPP, as Linux's
// chmod_common); only the owner or CAP_FOWNER may change it (EPERM); the
// setgid bit stays only for a member of the file's group or CAP_FSETID
// (setattr_prepare).
func chmodTo(c *creds, mode uint32) func(*node) unix.Errno {
	return func(n *node) unix.Errno {
		if n.kind == nodeSymlink {
			return unix.EOPNOTSUPP
		}
		if !c.ownerOrCapable(n.tmp.uid) {
			return unix.EPERM
		}
		if !c.inGroupOrCapable(n.tmp.gid) {
			mode &^= unix.S_ISGID
		}
		n.tmp.mode = n.tmp.mode&unix.S_IFMT | mode&0o7777
		n.tmp.ctime = nowTimespec()
		return 0
	}
}

// chownTo is chown's change by c: uid and gid, each unchanged as -1, as
// mayChown allows (EPERM). As Linux's chown_common, a regular file loses
// its setuid bit, and its setgid bit where it has group execute or c may
// not keep it (killPrivs); a change of mode that needs is c's only as the
// owner or with CAP_FOWNER (EPERM), and the setgid bit stays only where c
// may keep it in the new group.
func chownTo(c *creds, uid, gid uint32) func(*node) unix.Errno {
	return func(n *node) unix.Errno {
		a := n.tmp
		st := tmpStat(n)
		if e := c.mayChown(&st, uid, gid); e != 0 {
			return e
		}
		mode := c.killPrivs(a.mode, a.gid, true)
		newGID := a.gid
		if gid != noID {
			newGID = gid
		}
		if mode != a.mode {
			if !c.ownerOrCapable(a.uid) {
				return unix.EPERM
			}
			if !c.inGroupOrCapable(newGID) {
				mode &^= unix.S_ISGID
			}
		}
		if uid != noID {
			a.uid = uid
		}
		a.gid, a.mode = newGID, mode
		if n.kind != nodeDir {
			killFileCaps(n)
		}
		a.ctime = nowTimespec()
		return 0
	}
}

func sysChmod(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(atFDCWD, arch.Addr(a[0]), 0, chmodTo(&t.cred, uint32(a[1]))))
}

func sysFchmodat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(a[0], arch.Addr(a[1]), 0, chmodTo(&t.cred, uint32(a[2]))))
}

func sysFchmodat2(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(a[0], arch.Addr(a[1]), a[3], chmodTo(&t.cred, uint32(a[2]))))
}

func sysFchmod(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrFD(a[0], chmodTo(&t.cred, uint32(a[1]))))
}

func sysChown(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(atFDCWD, arch.Addr(a[0]), 0, chownTo(&t.cred, uint32(a[1]), uint32(a[2]))))
}

func sysLchown(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(atFDCWD, arch.Addr(a[0]), unix.AT_SYMLINK_NOFOLLOW, chownTo(&t.cred, uint32(a[1]), uint32(a[2]))))
}

func sysFchownat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrAt(a[0], arch.Addr(a[1]), a[4], chownTo(&t.cred, uint32(a[2]), uint32(a[3]))))
}

func sysFchown(t *Task, a *[6]uint64) uint64 {
	return errno0(t.attrFD(a[0], chownTo(&t.cred, uint32(a[1]), uint32(a[2]))))
}

// truncate is do_sys_truncate: EINVAL for a negative length, then the
// file (links followed), EISDIR for a directory, EINVAL for anything but
// a regular file, EROFS but on a tmpfs, EACCES without write permission;
// a tmpfs sets the size (the times too where it changed, as
// shmem_setattr), and a writer without CAP_FSETID clears the setuid and
// setgid bits (killPrivs).
func (t *Task) truncate(addr arch.Addr, length int64) unix.Errno {
	if length < 0 {
		return unix.EINVAL
	}
	st, _, e := t.statAt(atFDCWD, addr, 0)
	if e != 0 {
		return e
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.EISDIR
	case unix.S_IFREG:
	default:
		return unix.EINVAL
	}
	n, e := t.nodeAt(atFDCWD, addr, false, true)
	if e != 0 {
		return e
	}
	if n == nil || n.kind != nodeShm {
		return unix.EROFS
	}
	if e := t.cred.permission(&st, mayWrite); e != 0 {
		return e
	}
	n.tmp.mode = t.cred.killPrivs(n.tmp.mode, n.tmp.gid, false)
	killFileCaps(n)
	if n.shm.Size() == uint64(length) {
		return 0
	}
	if err := n.shm.Truncate(uint64(length)); err != nil {
		return toErrno(err)
	}
	now := nowTimespec()
	n.tmp.mtime, n.tmp.ctime = now, now
	return 0
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

// utimes is do_utimes after the times were read (nil for no times: both
// now): EINVAL for a tv_nsec out of range, then the fd itself for a NULL
// path with a dirfd (flags must be 0), else the path (EFAULT for a NULL
// one).
func (t *Task) utimes(dirfd uint64, addr arch.Addr, times []unix.Timespec, flags uint64) unix.Errno {
	for _, ts := range times {
		if (ts.Nsec < 0 || ts.Nsec >= 1e9) && ts.Nsec != utimeNow && ts.Nsec != utimeOmit {
			return unix.EINVAL
		}
	}
	change := setTimes(&t.cred, times)
	if addr == 0 && int32(dirfd) != unix.AT_FDCWD {
		if flags != 0 {
			return unix.EINVAL
		}
		return t.attrFD(dirfd, change)
	}
	if addr == 0 {
		return unix.EFAULT
	}
	return t.attrAt(dirfd, addr, flags, change)
}

// setTimes is utimes' change by c: the access and modification times
// become times' (nil: both now; UTIME_NOW: now; UTIME_OMIT: unchanged),
// the change time now. Both now needs the owner, CAP_FOWNER or write
// permission, any other times the owner or CAP_FOWNER (mayTouch).
func setTimes(c *creds, times []unix.Timespec) func(*node) unix.Errno {
	explicit := times != nil && (times[0].Nsec != utimeNow || times[1].Nsec != utimeNow)
	return func(n *node) unix.Errno {
		st := tmpStat(n)
		if e := c.mayTouch(&st, explicit); e != 0 {
			return e
		}
		now := nowTimespec()
		set := func(dst *unix.Timespec, i int) {
			switch {
			case times == nil || times[i].Nsec == utimeNow:
				*dst = now
			case times[i].Nsec != utimeOmit:
				*dst = times[i]
			}
		}
		set(&n.tmp.atime, 0)
		set(&n.tmp.mtime, 1)
		n.tmp.ctime = now
		return 0
	}
}

// readTimes reads n pairs of 64-bit words at addr (timespecs, or timevals
// whose second word scale makes nanoseconds): EFAULT where they cannot be
// read.
func (p *Process) readTimes(addr arch.Addr, n int, scale int64) ([]unix.Timespec, unix.Errno) {
	b := make([]byte, 16*n)
	if _, err := p.cfg.Memory.CopyIn(addr, b); err != nil {
		return nil, unix.EFAULT
	}
	out := make([]unix.Timespec, n)
	for i := range out {
		out[i].Sec = int64(binary.LittleEndian.Uint64(b[16*i:]))
		out[i].Nsec = int64(binary.LittleEndian.Uint64(b[16*i+8:])) * scale
	}
	return out, 0
}

// sysUtimensat: times that are both UTIME_OMIT change nothing, and the
// path is not even looked at (0), as Linux.
func sysUtimensat(t *Task, a *[6]uint64) uint64 {
	var times []unix.Timespec
	if a[2] != 0 {
		var e unix.Errno
		if times, e = t.readTimes(arch.Addr(a[2]), 2, 1); e != 0 {
			return errno(e)
		}
		if times[0].Nsec == utimeOmit && times[1].Nsec == utimeOmit {
			return 0
		}
	}
	return errno0(t.utimes(a[0], arch.Addr(a[1]), times, a[3]))
}

// futimesat serves utimes and futimesat: each timeval's tv_usec must lie
// in [0, 1000000) (EINVAL).
func (t *Task) futimesat(dirfd uint64, addr, tv arch.Addr) unix.Errno {
	p := t.Process
	var times []unix.Timespec
	if tv != 0 {
		var e unix.Errno
		if times, e = p.readTimes(tv, 2, 1000); e != 0 {
			return e
		}
		for _, t := range times {
			if t.Nsec < 0 || t.Nsec >= 1e9 {
				return unix.EINVAL
			}
		}
	}
	return t.utimes(dirfd, addr, times, 0)
}

func sysUtimes(t *Task, a *[6]uint64) uint64 {
	return errno0(t.futimesat(atFDCWD, arch.Addr(a[0]), arch.Addr(a[1])))
}

func sysFutimesat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.futimesat(a[0], arch.Addr(a[1]), arch.Addr(a[2])))
}

// sysUtime reads its struct utimbuf: two seconds, the access and
// modification times.
func sysUtime(t *Task, a *[6]uint64) uint64 {
	var times []unix.Timespec
	if a[1] != 0 {
		var b [16]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[1]), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		times = []unix.Timespec{{Sec: int64(binary.LittleEndian.Uint64(b[:]))}, {Sec: int64(binary.LittleEndian.Uint64(b[8:]))}}
	}
	return errno0(t.utimes(atFDCWD, arch.Addr(a[0]), times, 0))
}

// sysCreat is open with O_CREAT|O_WRONLY|O_TRUNC.
func sysCreat(t *Task, a *[6]uint64) uint64 {
	return t.openat(atFDCWD, arch.Addr(a[0]), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(a[1]))
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
