package syscalls

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Extended attributes: setxattr, getxattr, listxattr and removexattr in
// their path (follow a final link), l (do not), f (an fd) and 6.13's *at
// forms, as Linux 6.18's fs/xattr.c serves them. Each call checks its
// arguments in Linux's order (the AT_* flags, the name, the size and
// value), finds the inode, then asks what Linux's xattr_permission asks
// (trusted.* wants CAP_SYS_ADMIN, user.* only on regular files and
// directories, the owner alone on a sticky directory, the file's mode
// for the rest), then what the capability LSM asks of security.*, then
// the file system's handlers:
//
//   - a tmpfs file or a memfd (Linux's shmem) keeps security.*,
//     trusted.* and user.* attributes (xattrSet), a tmpfs's within the
//     room its nr_inodes give it (tmpfs.xattrSpace), a memfd's without a
//     limit, as Linux's internal shm mount; POSIX ACL names are
//     EOPNOTSUPP, as on a tmpfs mounted without ACLs;
//   - a view's file shows the host file's attributes (read from the
//     host) and takes no change: set and remove are EROFS, as on a
//     read-only mount;
//   - mmvm's read-only synthetic files (/, /dev, /sys) know the names
//     Linux's tmpfs and sysfs know but keep none, and take no change
//     (EROFS);
//   - /proc, pipes, eventfds and the other anon inodes, hugetlbfs memfds,
//     terminals and stdio have no handlers (EOPNOTSUPP), as procfs,
//     pipefs, anon_inodefs, hugetlbfs and devpts;
//   - a socket has sockfs's read-only system.sockprotoname.
//
// Linux 6.18 lists a shmem inode's attributes in descending order of
// their names (its rbtree's), which listxattr keeps.

// Linux's limits (include/uapi/linux/limits.h and xattr.h).
const (
	xattrNameMax = 255   // XATTR_NAME_MAX
	xattrSizeMax = 65536 // XATTR_SIZE_MAX
	xattrListMax = 65536 // XATTR_LIST_MAX
	// xattrArgsSize is struct xattr_args' size (XATTR_ARGS_SIZE_VER0):
	// __u64 value, __u32 size, __u32 flags.
	xattrArgsSize = 16
	// xattrSpaceBase is what simple_xattr_space charges an attribute
	// beyond its name and value, and tmpfsInodeSpace what each inode
	// takes of a tmpfs's room (BOGO_INODE_SIZE).
	xattrSpaceBase  = 40
	tmpfsInodeSpace = 1024
)

// The namespaces.
const (
	xattrSecurity = "security."
	xattrSystem   = "system."
	xattrTrusted  = "trusted."
	xattrUser     = "user."
	// xattrCaps is the file capabilities' name, xattrSockProto sockfs's
	// attribute.
	xattrCaps      = "security.capability"
	xattrSockProto = "system.sockprotoname"
)

// xattrSet is one inode's extended attributes. It is guarded by the tree
// lock, as the inode that has it.
type xattrSet struct {
	// vals maps each full name ("user.x") to its value; nil while empty.
	vals map[string][]byte
	// holders counts the open files that reach the set: a memfd's
	// descriptions, or the fsFiles of a tmpfs node (holdXattrs,
	// closeFS). A FIFO's openers are not counted.
	holders int
	// loose is the VM's room where the set's space is charged there: a
	// memfd's set once it has attributes, a tmpfs node's while no name
	// links it; nil otherwise.
	loose *xattrRoom
}

// xattrRoom is the VM's room for the extended attributes no tmpfs's room
// holds: a memfd's, and those of a tmpfs file no name links (Linux's
// internal shm mount charges them nowhere). mmvm keeps attributes on its
// own heap, so these are bounded as one tmpfs's room (tmpfsRoom), and a
// set past it is ENOSPC; the space comes back when the last open file
// that reaches the set closes, or when a name links the file again.
// Guarded by the tree lock.
type xattrRoom struct {
	used uint64
}

// free is what is left of the room under limit inodes' worth (0: no
// limit).
func (r *xattrRoom) free(limit uint64) uint64 {
	if limit == 0 {
		return ^uint64(0)
	}
	if r.used >= limit*tmpfsInodeSpace {
		return 0
	}
	return limit*tmpfsInodeSpace - r.used
}

// charge moves the set's space onto room (nil: off the room it is on).
func (s *xattrSet) charge(room *xattrRoom) {
	if s.loose == room {
		return
	}
	space := s.space()
	if s.loose != nil {
		s.loose.used -= space
	}
	if room != nil {
		room.used += space
	}
	s.loose = room
}

// names are its names in the order Linux 6.18 lists a shmem inode's:
// descending.
func (s *xattrSet) names() []string {
	out := make([]string, 0, len(s.vals))
	for name := range s.vals {
		out = append(out, name)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// space is what the attributes take of a tmpfs's room.
func (s *xattrSet) space() uint64 {
	var n uint64
	for name, v := range s.vals {
		n += xattrSpace(name, len(v))
	}
	return n
}

// xattrSpace is simple_xattr_space: what one attribute takes.
func xattrSpace(name string, size int) uint64 {
	return uint64(xattrSpaceBase + len(name) + size)
}

// xattrFS is how the file system of an inode answers (see above).
type xattrFS int

const (
	xattrShmem    xattrFS = iota // tmpfs, memfds: kept
	xattrReadOnly                // mmvm's read-only synthetic files
	xattrView                    // a view's host file
	xattrNone                    // no handlers: procfs, pipefs, anon inodes
	xattrSock                    // sockfs
)

// xattrTarget is the inode a call reached.
type xattrTarget struct {
	fs xattrFS
	// st is its stat (type, owner, mode) for the permission checks; node
	// its synthetic node, nil for anything else.
	st   unix.Stat_t
	node *node
	// set keeps a shmem inode's attributes; tmp is the tmpfs whose room
	// they take while a name links node (nil for a memfd: no limit).
	set *xattrSet
	tmp *tmpfs
	// hostFD is a view's host file: opened O_PATH (hostPath) or for
	// reading; owned by the target where ownFD (release closes it).
	hostFD   int
	hostPath bool
	ownFD    bool
	// proto is a socket's protocol name (sockfs's dentry name).
	proto string
	// immutable: a /proc/<pid> or task/<tid> directory, which Linux
	// makes S_IMMUTABLE.
	immutable bool
}

// release closes the host descriptor the target owns.
func (x *xattrTarget) release() {
	if x.ownFD && x.hostFD >= 0 {
		unix.Close(x.hostFD)
		x.hostFD = -1
	}
}

// xattrFDTarget is the inode fd names, as fdget finds it: EBADF for an fd
// that is not open or is O_PATH.
func (p *Process) xattrFDTarget(fd uint64) (*xattrTarget, unix.Errno) {
	f, e := p.file(fd)
	if e != 0 {
		return nil, e
	}
	if f.fs != nil && f.fs.pathOnly {
		return nil, unix.EBADF
	}
	return p.openFileXattrTarget(f)
}

// openFileXattrTarget is the inode behind an open file.
func (p *Process) openFileXattrTarget(f *openFile) (*xattrTarget, unix.Errno) {
	st, e := p.fdFileStat(f)
	if e != 0 {
		return nil, e
	}
	x := &xattrTarget{fs: xattrNone, st: st, hostFD: -1}
	switch {
	case f.fs != nil && f.fs.node != nil && f.fs.node.tmp != nil:
		x.shmemNode(f.fs.node)
	case f.fs != nil && f.fs.shm != nil:
		x.fs, x.set = xattrShmem, f.fs.xattrs
	case f.fs != nil && f.fs.host != nil:
		x.fs, x.hostFD = xattrView, int(f.fs.host.Fd())
	case f.fs != nil && f.fs.node != nil:
		x.node = f.fs.node
		x.fs = p.nodeXattrFS(f.fs.node, f.fs.path)
		x.immutable = isProcPidDir(f.fs.path, st)
	case f.fifo != nil:
		x.shmemNode(f.fifo)
	case f.anon != nil:
		if s, ok := f.anon.(*socket); ok {
			x.fs, x.proto = xattrSock, s.protoName()
		}
	}
	return x, 0
}

// shmemNode makes x tmpfs node n.
func (x *xattrTarget) shmemNode(n *node) {
	x.fs, x.node, x.set, x.tmp = xattrShmem, n, &n.tmp.xattrs, n.tmp.fs
	x.st = tmpStat(n)
}

// nodeXattrFS is the file system of synthetic node n (no tmpfs node) at
// guest path name: /proc's files and links and the terminals have no
// handlers; the rest is read-only.
func (p *Process) nodeXattrFS(n *node, name string) xattrFS {
	switch {
	case n.kind == nodeProc, n.kind == nodeFDLink, n.kind == nodeTerminal, n.fdOf != nil, n.taskOf != nil,
		pathWithin(name, "/proc"):
		return xattrNone
	}
	return xattrReadOnly
}

// xattrPathTarget finds the inode a path names for the path and *at
// forms: with AT_EMPTY_PATH an empty or NULL path names dirfd itself, as
// getname_maybe_null; for AT_FDCWD the working directory where cwdOK
// (set and get), else EBADF (list and remove ask fdget for it). A final
// link is followed unless AT_SYMLINK_NOFOLLOW.
func (t *Task) xattrPathTarget(dirfd uint64, addr arch.Addr, flags uint32, cwdOK bool) (*xattrTarget, unix.Errno) {
	p := t.Process
	if flags&unix.AT_EMPTY_PATH != 0 {
		empty := addr == 0
		if !empty {
			var first [1]byte
			if _, err := p.cfg.Memory.CopyIn(addr, first[:]); err != nil {
				return nil, unix.EFAULT
			}
			empty = first[0] == 0
		}
		if empty && (int32(dirfd) >= 0 || !cwdOK) {
			return p.xattrFDTarget(dirfd)
		}
		if empty {
			if int32(dirfd) != unix.AT_FDCWD {
				return nil, unix.EBADF
			}
			l, e := p.fs().walk(p, p.cwd(), true, 0)
			if e != 0 {
				return nil, e
			}
			return p.lookupXattrTarget(&l)
		}
	}
	l, e := t.lookupAt(dirfd, addr, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if e != 0 {
		return nil, e
	}
	return p.lookupXattrTarget(&l)
}

// lookupXattrTarget is the inode l found; the target takes l's host
// descriptor.
func (p *Process) lookupXattrTarget(l *lookup) (*xattrTarget, unix.Errno) {
	if l.fdFile != nil {
		l.close()
		return p.openFileXattrTarget(l.fdFile)
	}
	st, e := p.lookupStat(l)
	if e != 0 {
		l.close()
		return nil, e
	}
	x := &xattrTarget{fs: xattrView, st: st, node: l.node, hostFD: l.hostFD, hostPath: true, ownFD: true}
	n := l.node
	switch {
	case n == nil:
	case n.tmp != nil:
		x.shmemNode(n)
	case n.kind == nodeHost:
		fd, err := unix.Open(n.hostPath, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, unix.ENOENT
		}
		x.hostFD = fd
	case n.kind == nodeDir && n.view != nil:
		hl := p.fs().hostDir(n, l.path)
		if hl.hostFD < 0 {
			x.fs = xattrReadOnly
			break
		}
		x.hostFD = hl.hostFD
	default:
		x.fs = p.nodeXattrFS(n, l.path)
		x.immutable = isProcPidDir(l.path, st)
	}
	return x, 0
}

// isProcPidDir says whether the file at the cleaned absolute guest path
// name with st is a /proc/<pid> or /proc/<pid>/task/<tid> directory.
func isProcPidDir(name string, st unix.Stat_t) bool {
	parts := splitPath(name)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || len(parts) < 2 || parts[0] != "proc" {
		return false
	}
	digits := func(s string) bool { _, err := strconv.ParseUint(s, 10, 32); return err == nil }
	switch len(parts) {
	case 2:
		return digits(parts[1])
	case 4:
		return digits(parts[1]) && parts[2] == "task" && digits(parts[3])
	}
	return false
}

// xattrPermission is xattr_permission, what the thread may do with
// attribute name of x (want: mayRead or mayWrite).
func (t *Task) xattrPermission(x *xattrTarget, name string, want access) unix.Errno {
	write := want&mayWrite != 0
	switch {
	case strings.HasPrefix(name, xattrSecurity), strings.HasPrefix(name, xattrSystem):
		return 0
	case strings.HasPrefix(name, xattrTrusted):
		if !t.cred.capable(unix.CAP_SYS_ADMIN) {
			if write {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		return 0
	case strings.HasPrefix(name, xattrUser):
		typ := x.st.Mode & unix.S_IFMT
		if typ != unix.S_IFREG && typ != unix.S_IFDIR {
			if write {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		if typ == unix.S_IFDIR && x.st.Mode&unix.S_ISVTX != 0 && write && !t.cred.ownerOrCapable(x.st.Uid) {
			return unix.EPERM
		}
	}
	return t.permissionOf(x.node, &x.st, want)
}

// resolveXattr is xattr_resolve_name for x's file system: 0 where a
// handler takes name, EINVAL for a bare prefix ("user."), EOPNOTSUPP
// where none does.
func (x *xattrTarget) resolveXattr(name string) unix.Errno {
	var prefixes []string
	switch x.fs {
	case xattrShmem, xattrReadOnly:
		prefixes = []string{xattrSecurity, xattrTrusted, xattrUser}
	case xattrSock:
		if name == xattrSockProto {
			return 0
		}
		prefixes = []string{xattrSecurity}
	default:
		return unix.EOPNOTSUPP
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(name, pre) {
			if name == pre {
				return unix.EINVAL
			}
			return 0
		}
	}
	return unix.EOPNOTSUPP
}

// isPosixACLName says whether name is a POSIX ACL's, which Linux's VFS
// serves itself (do_set_acl, do_get_acl).
func isPosixACLName(name string) bool {
	return name == "system.posix_acl_access" || name == "system.posix_acl_default"
}

// readXattrName is import_xattr_name: ERANGE for an empty name or one
// longer than XATTR_NAME_MAX, EFAULT where it cannot be read.
func (p *Process) readXattrName(addr arch.Addr) (string, unix.Errno) {
	name, e := p.copyInString(addr, xattrNameMax+1)
	switch {
	case e == unix.ENAMETOOLONG:
		return "", unix.ERANGE
	case e != 0:
		return "", e
	case name == "":
		return "", unix.ERANGE
	}
	return name, 0
}

// xattrValue is setxattr_copy after the flags: the name, then a value of
// size bytes (E2BIG past XATTR_SIZE_MAX, EFAULT where unreadable).
func (p *Process) xattrValue(nameAddr, valueAddr arch.Addr, size uint64) (string, []byte, unix.Errno) {
	name, e := p.readXattrName(nameAddr)
	if e != 0 {
		return "", nil, e
	}
	if size == 0 {
		return name, []byte{}, 0
	}
	if size > xattrSizeMax {
		return "", nil, unix.E2BIG
	}
	v := make([]byte, size)
	if _, err := p.cfg.Memory.CopyIn(valueAddr, v); err != nil {
		return "", nil, unix.EFAULT
	}
	return name, v, 0
}

// setXattr is do_setxattr on x once the arguments were read: EROFS for
// a read-only file system (mnt_want_write), EPERM for an immutable
// inode (may_write_xattr), file capabilities converted
// (cap_convert_nscap: an empty value too), xattr_permission, the capability LSM's check of
// security.* (CAP_SYS_ADMIN), then the handler.
func (t *Task) setXattr(x *xattrTarget, name string, value []byte, flags uint32) unix.Errno {
	if x.fs == xattrView || x.fs == xattrReadOnly {
		return unix.EROFS
	}
	if x.immutable {
		return unix.EPERM
	}
	if isPosixACLName(name) {
		return unix.EOPNOTSUPP
	}
	if name == xattrCaps {
		var e unix.Errno
		if value, e = t.convertFileCaps(value); e != 0 {
			return e
		}
	}
	if e := t.xattrPermission(x, name, mayWrite); e != 0 {
		return e
	}
	if strings.HasPrefix(name, xattrSecurity) && name != xattrCaps && !t.cred.capable(unix.CAP_SYS_ADMIN) {
		return unix.EPERM
	}
	if e := x.resolveXattr(name); e != 0 {
		return e
	}
	if x.fs != xattrShmem {
		return unix.EOPNOTSUPP // sockfs's handlers set nothing
	}
	return t.shmemSetXattr(x, name, value, flags)
}

// shmemSetXattr is shmem_xattr_handler_set and simple_xattr_set: a
// tmpfs file's new value takes room first (ENOSPC), then XATTR_CREATE of
// an existing name is EEXIST, XATTR_REPLACE of a missing one ENODATA;
// the old value's room comes back. value nil removes name. A memfd's or
// an unlinked file's value takes the VM's loose room (xattrRoom) the same
// way.
func (t *Task) shmemSetXattr(x *xattrTarget, name string, value []byte, flags uint32) unix.Errno {
	// A linked file's attributes take its tmpfs's room (tmpLink,
	// tmpUnlink); the others the VM's loose room.
	charged := x.tmp != nil && x.node.tmp.nlink > 0
	limit := t.tmpSize()
	room := &t.fs().looseXattrs
	if value != nil && charged && limit != 0 && x.tmp.freeSpace(limit) < xattrSpace(name, len(value)) {
		return unix.ENOSPC
	}
	if value != nil && !charged && room.free(limit) < xattrSpace(name, len(value)) {
		return unix.ENOSPC
	}
	old, exists := x.set.vals[name]
	switch {
	case exists && flags&unix.XATTR_CREATE != 0:
		return unix.EEXIST
	case !exists && flags&unix.XATTR_REPLACE != 0:
		return unix.ENODATA
	case !exists && value == nil:
		return 0
	}
	if !charged {
		x.set.charge(room) // what it has already, before the change
	}
	if value == nil {
		delete(x.set.vals, name)
	} else {
		if x.set.vals == nil {
			x.set.vals = make(map[string][]byte)
		}
		x.set.vals[name] = value
	}
	used := &room.used
	if charged {
		used = &x.tmp.xattrSpace
	}
	if value != nil {
		*used += xattrSpace(name, len(value))
	}
	if exists {
		*used -= xattrSpace(name, len(old))
	}
	if x.node != nil {
		x.node.tmp.ctime = nowTimespec()
	}
	return 0
}

// freeSpace is a tmpfs's room left (shmem's free_ispace): limit inodes'
// worth, less what its inodes and the attributes of its linked files
// take.
func (t *tmpfs) freeSpace(limit uint64) uint64 {
	used := t.inodes*tmpfsInodeSpace + t.xattrSpace
	if used >= limit*tmpfsInodeSpace {
		return 0
	}
	return limit*tmpfsInodeSpace - used
}

// File capabilities (security.capability): struct vfs_cap_data, 20
// bytes (revision 2), or struct vfs_ns_cap_data, 24 bytes with the uid
// that is root for them (revision 3).
const (
	capRevision2 = 0x02000000
	capRevision3 = 0x03000000
	capFlagsEff  = 0x000001
	capSize2     = 20
	capSize3     = 24
)

// fileCapsRevision is the revision of a valid value, 0 for none
// (validheader: the magic, less the effective flag, is the revision its
// size has).
func fileCapsRevision(v []byte) uint32 {
	if len(v) != capSize2 && len(v) != capSize3 {
		return 0
	}
	rev := binary.LittleEndian.Uint32(v) &^ capFlagsEff
	switch {
	case len(v) == capSize2 && rev == capRevision2, len(v) == capSize3 && rev == capRevision3:
		return rev
	}
	return 0
}

// convertFileCaps is cap_convert_nscap in the VM's one user namespace:
// EINVAL for a value that is neither revision, EPERM without
// CAP_SETFCAP; a revision 2 value is kept as it is, a revision 3 one as
// revision 3 with its root uid (EINVAL for -1).
func (t *Task) convertFileCaps(v []byte) ([]byte, unix.Errno) {
	rev := fileCapsRevision(v)
	if rev == 0 {
		return nil, unix.EINVAL
	}
	if !t.cred.capable(unix.CAP_SETFCAP) {
		return nil, unix.EPERM
	}
	if rev == capRevision2 {
		return v, 0
	}
	root := binary.LittleEndian.Uint32(v[20:])
	if root == noID {
		return nil, unix.EINVAL
	}
	out := make([]byte, capSize3)
	binary.LittleEndian.PutUint32(out, capRevision3|binary.LittleEndian.Uint32(v)&capFlagsEff)
	copy(out[4:20], v[4:20])
	binary.LittleEndian.PutUint32(out[20:], root)
	return out, 0
}

// fileCapsValue is what getxattr shows of a stored security.capability
// (cap_inode_getsecurity): revision 3 with a root uid other than 0 as it
// is; with root 0, as revision 2; a value of neither revision EINVAL.
func fileCapsValue(v []byte) ([]byte, unix.Errno) {
	switch fileCapsRevision(v) {
	case capRevision2:
		return v, 0
	case capRevision3:
		if binary.LittleEndian.Uint32(v[20:]) != 0 {
			return v, 0
		}
		out := make([]byte, capSize2)
		binary.LittleEndian.PutUint32(out, capRevision2|binary.LittleEndian.Uint32(v)&capFlagsEff)
		copy(out[4:], v[4:20])
		return out, 0
	}
	return nil, unix.EINVAL
}

// killFileCaps is security_inode_killpriv: a write, truncate or chown of
// a tmpfs file drops its non-empty file capabilities, whoever does it.
func killFileCaps(n *node) {
	if n == nil || n.tmp == nil || len(n.tmp.xattrs.vals[xattrCaps]) == 0 {
		return
	}
	old := n.tmp.xattrs.vals[xattrCaps]
	delete(n.tmp.xattrs.vals, xattrCaps)
	if n.tmp.nlink > 0 {
		n.tmp.fs.xattrSpace -= xattrSpace(xattrCaps, len(old))
	}
}

// getXattr is do_getxattr and vfs_getxattr: xattr_permission, then the
// value (size 0 asks only its length; a size too small is ERANGE),
// copied to addr.
func (t *Task) getXattr(x *xattrTarget, name string, addr arch.Addr, size uint64) (uint64, unix.Errno) {
	var v []byte
	var e unix.Errno
	if x.fs == xattrView && isPosixACLName(name) {
		v, e = x.hostGet(name)
	} else if isPosixACLName(name) {
		e = unix.EOPNOTSUPP
	} else {
		v, e = t.xattrValueOf(x, name)
	}
	if e != 0 {
		return 0, e
	}
	return t.copyOutXattr(v, addr, size, xattrSizeMax)
}

// xattrValueOf is name's value in x, after xattr_permission.
func (t *Task) xattrValueOf(x *xattrTarget, name string) ([]byte, unix.Errno) {
	if e := t.xattrPermission(x, name, mayRead); e != 0 {
		return nil, e
	}
	if x.fs == xattrView {
		return x.hostGet(name)
	}
	if e := x.resolveXattr(name); e != 0 {
		return nil, e
	}
	switch x.fs {
	case xattrSock:
		if name == xattrSockProto {
			return append([]byte(x.proto), 0), 0
		}
		return nil, unix.EOPNOTSUPP // sockfs's security handler reads nothing
	case xattrReadOnly:
		return nil, unix.ENODATA
	}
	v, ok := x.set.vals[name]
	if !ok {
		return nil, unix.ENODATA
	}
	if name == xattrCaps {
		return fileCapsValue(v)
	}
	return v, 0
}

// copyOutXattr writes v, a value or a list, to the guest buffer of size
// bytes at addr (clipped to max, as Linux allocates no more): its length
// for size 0, ERANGE where it does not fit (E2BIG where even max bytes
// would not), EFAULT where it cannot be written.
func (t *Task) copyOutXattr(v []byte, addr arch.Addr, size uint64, max uint64) (uint64, unix.Errno) {
	if size == 0 {
		return uint64(len(v)), 0
	}
	size = min(size, max)
	if uint64(len(v)) > size {
		if size >= max {
			return 0, unix.E2BIG
		}
		return 0, unix.ERANGE
	}
	if _, err := t.cfg.Memory.CopyOut(addr, v); err != nil {
		return 0, unix.EFAULT
	}
	return uint64(len(v)), 0
}

// listXattr is listxattr: every name x shows, each NUL-terminated
// (trusted.* only to a thread with CAP_SYS_ADMIN); no permission is
// asked.
func (t *Task) listXattr(x *xattrTarget, addr arch.Addr, size uint64) (uint64, unix.Errno) {
	var names []string
	switch x.fs {
	case xattrShmem:
		names = x.set.names()
	case xattrSock:
		names = []string{xattrSockProto}
	case xattrView:
		var e unix.Errno
		if names, e = x.hostList(); e != 0 {
			return 0, e
		}
	}
	var list []byte
	for _, name := range names {
		if strings.HasPrefix(name, xattrTrusted) && !t.cred.capable(unix.CAP_SYS_ADMIN) {
			continue
		}
		list = append(append(list, name...), 0)
	}
	return t.copyOutXattr(list, addr, size, xattrListMax)
}

// removeXattr is vfs_removexattr: EROFS for a read-only file system,
// EPERM for an immutable inode, xattr_permission, the capability LSM's checks (CAP_SETFCAP for file
// capabilities, CAP_SYS_ADMIN for the rest of security.*), then the
// handler (ENODATA for a name not there).
func (t *Task) removeXattr(x *xattrTarget, name string) unix.Errno {
	if x.fs == xattrView || x.fs == xattrReadOnly {
		return unix.EROFS
	}
	if x.immutable {
		return unix.EPERM
	}
	if isPosixACLName(name) {
		return unix.EOPNOTSUPP
	}
	if e := t.xattrPermission(x, name, mayWrite); e != 0 {
		return e
	}
	switch {
	case name == xattrCaps && !t.cred.capable(unix.CAP_SETFCAP):
		return unix.EPERM
	case strings.HasPrefix(name, xattrSecurity) && name != xattrCaps && !t.cred.capable(unix.CAP_SYS_ADMIN):
		return unix.EPERM
	}
	if e := x.resolveXattr(name); e != 0 {
		return e
	}
	switch x.fs {
	case xattrSock:
		// sockfs's security handler leaves the name to the LSM with
		// EAGAIN, which only a set turns into EOPNOTSUPP.
		if strings.HasPrefix(name, xattrSecurity) {
			return unix.EAGAIN
		}
		return unix.EOPNOTSUPP
	case xattrShmem:
		return t.shmemSetXattr(x, name, nil, unix.XATTR_REPLACE)
	}
	return unix.EOPNOTSUPP
}

// hostGet reads name of a view's host file.
func (x *xattrTarget) hostGet(name string) ([]byte, unix.Errno) {
	buf := make([]byte, xattrSizeMax)
	var n int
	var err error
	for {
		if x.hostPath {
			n, err = unix.Getxattr(procFDPath(x.hostFD), name, buf)
		} else {
			n, err = unix.Fgetxattr(x.hostFD, name, buf)
		}
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, hostXattrErrno(err)
	}
	return buf[:n], 0
}

// hostList lists the names of a view's host file.
func (x *xattrTarget) hostList() ([]string, unix.Errno) {
	for {
		var n int
		var err error
		if x.hostPath {
			n, err = unix.Listxattr(procFDPath(x.hostFD), nil)
		} else {
			n, err = unix.Flistxattr(x.hostFD, nil)
		}
		if err != nil {
			return nil, hostXattrErrno(err)
		}
		buf := make([]byte, n)
		if x.hostPath {
			n, err = unix.Listxattr(procFDPath(x.hostFD), buf)
		} else {
			n, err = unix.Flistxattr(x.hostFD, buf)
		}
		if err == unix.ERANGE || err == unix.EINTR {
			continue // grew in between
		}
		if err != nil {
			return nil, hostXattrErrno(err)
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, 0
	}
}

// procFDPath names host descriptor fd through the host's /proc, which a
// path call follows to an O_PATH descriptor's file itself (a symbolic
// link's own attributes included).
func procFDPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// hostXattrErrno is what the guest sees of the host's answer: the
// answers a file system gives pass; anything else is ENODATA.
func hostXattrErrno(err error) unix.Errno {
	switch e, _ := err.(unix.Errno); e {
	case unix.ENODATA, unix.EOPNOTSUPP, unix.EACCES, unix.EPERM, unix.E2BIG, unix.ERANGE, unix.EINVAL:
		return e
	}
	return unix.ENODATA
}

// atFlagsXattr are the AT_* flags the *xattrat calls take.
const atFlagsXattr = unix.AT_SYMLINK_NOFOLLOW | unix.AT_EMPTY_PATH

// readXattrArgs is copy_struct_from_user of a struct xattr_args of usize
// bytes: EINVAL below its first version's size, E2BIG past a page or
// for a non-zero byte past the struct's end, EFAULT where unreadable.
func (p *Process) readXattrArgs(addr arch.Addr, usize uint64) (value arch.Addr, size, flags uint32, e unix.Errno) {
	if usize < xattrArgsSize {
		return 0, 0, 0, unix.EINVAL
	}
	if usize > arch.PageSize {
		return 0, 0, 0, unix.E2BIG
	}
	b := make([]byte, usize)
	if _, err := p.cfg.Memory.CopyIn(addr, b); err != nil {
		return 0, 0, 0, unix.EFAULT
	}
	for _, c := range b[xattrArgsSize:] {
		if c != 0 {
			return 0, 0, 0, unix.E2BIG
		}
	}
	return arch.Addr(binary.LittleEndian.Uint64(b)), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:]), 0
}

// pathSetXattr is path_setxattrat.
func (t *Task) pathSetXattr(dirfd uint64, path arch.Addr, atFlags uint32, nameAddr, value arch.Addr, size uint64, flags uint32) unix.Errno {
	if atFlags&^atFlagsXattr != 0 || flags&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return unix.EINVAL
	}
	name, v, e := t.xattrValue(nameAddr, value, size)
	if e != 0 {
		return e
	}
	x, e := t.xattrPathTarget(dirfd, path, atFlags, true)
	if e != 0 {
		return e
	}
	defer x.release()
	return t.setXattr(x, name, v, flags)
}

func sysSetxattr(t *Task, a *[6]uint64) uint64 {
	return errno0(t.pathSetXattr(atFDCWD, arch.Addr(a[0]), 0, arch.Addr(a[1]), arch.Addr(a[2]), a[3], uint32(a[4])))
}

func sysLsetxattr(t *Task, a *[6]uint64) uint64 {
	return errno0(t.pathSetXattr(atFDCWD, arch.Addr(a[0]), unix.AT_SYMLINK_NOFOLLOW, arch.Addr(a[1]), arch.Addr(a[2]), a[3], uint32(a[4])))
}

// sysFsetxattr: the fd first (EBADF), then the arguments.
func sysFsetxattr(t *Task, a *[6]uint64) uint64 {
	x, e := t.xattrFDTarget(a[0])
	if e != 0 {
		return errno(e)
	}
	defer x.release()
	flags := uint32(a[4])
	if flags&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return errno(unix.EINVAL)
	}
	name, v, e := t.xattrValue(arch.Addr(a[1]), arch.Addr(a[2]), a[3])
	if e != 0 {
		return errno(e)
	}
	return errno0(t.setXattr(x, name, v, flags))
}

// sysSetxattrat reads its struct xattr_args first.
func sysSetxattrat(t *Task, a *[6]uint64) uint64 {
	value, size, flags, e := t.readXattrArgs(arch.Addr(a[4]), a[5])
	if e != 0 {
		return errno(e)
	}
	return errno0(t.pathSetXattr(a[0], arch.Addr(a[1]), uint32(a[2]), arch.Addr(a[3]), value, uint64(size), flags))
}

// pathGetXattr is path_getxattrat.
func (t *Task) pathGetXattr(dirfd uint64, path arch.Addr, atFlags uint32, nameAddr, value arch.Addr, size uint64) uint64 {
	if atFlags&^atFlagsXattr != 0 {
		return errno(unix.EINVAL)
	}
	name, e := t.readXattrName(nameAddr)
	if e != 0 {
		return errno(e)
	}
	x, e := t.xattrPathTarget(dirfd, path, atFlags, true)
	if e != 0 {
		return errno(e)
	}
	defer x.release()
	return xattrRet(t.getXattr(x, name, value, size))
}

// xattrRet is a length, or an error, as RAX takes it.
func xattrRet(n uint64, e unix.Errno) uint64 {
	if e != 0 {
		return errno(e)
	}
	return n
}

func sysGetxattr(t *Task, a *[6]uint64) uint64 {
	return t.pathGetXattr(atFDCWD, arch.Addr(a[0]), 0, arch.Addr(a[1]), arch.Addr(a[2]), a[3])
}

func sysLgetxattr(t *Task, a *[6]uint64) uint64 {
	return t.pathGetXattr(atFDCWD, arch.Addr(a[0]), unix.AT_SYMLINK_NOFOLLOW, arch.Addr(a[1]), arch.Addr(a[2]), a[3])
}

func sysFgetxattr(t *Task, a *[6]uint64) uint64 {
	x, e := t.xattrFDTarget(a[0])
	if e != 0 {
		return errno(e)
	}
	defer x.release()
	name, e := t.readXattrName(arch.Addr(a[1]))
	if e != 0 {
		return errno(e)
	}
	return xattrRet(t.getXattr(x, name, arch.Addr(a[2]), a[3]))
}

// sysGetxattrat reads its struct xattr_args first; its flags must be 0.
func sysGetxattrat(t *Task, a *[6]uint64) uint64 {
	value, size, flags, e := t.readXattrArgs(arch.Addr(a[4]), a[5])
	if e != 0 {
		return errno(e)
	}
	if flags != 0 {
		return errno(unix.EINVAL)
	}
	return t.pathGetXattr(a[0], arch.Addr(a[1]), uint32(a[2]), arch.Addr(a[3]), value, uint64(size))
}

// pathListXattr is path_listxattrat.
func (t *Task) pathListXattr(dirfd uint64, path arch.Addr, atFlags uint32, list arch.Addr, size uint64) uint64 {
	if atFlags&^atFlagsXattr != 0 {
		return errno(unix.EINVAL)
	}
	x, e := t.xattrPathTarget(dirfd, path, atFlags, false)
	if e != 0 {
		return errno(e)
	}
	defer x.release()
	return xattrRet(t.listXattr(x, list, size))
}

func sysListxattr(t *Task, a *[6]uint64) uint64 {
	return t.pathListXattr(atFDCWD, arch.Addr(a[0]), 0, arch.Addr(a[1]), a[2])
}

func sysLlistxattr(t *Task, a *[6]uint64) uint64 {
	return t.pathListXattr(atFDCWD, arch.Addr(a[0]), unix.AT_SYMLINK_NOFOLLOW, arch.Addr(a[1]), a[2])
}

func sysFlistxattr(t *Task, a *[6]uint64) uint64 {
	x, e := t.xattrFDTarget(a[0])
	if e != 0 {
		return errno(e)
	}
	defer x.release()
	return xattrRet(t.listXattr(x, arch.Addr(a[1]), a[2]))
}

func sysListxattrat(t *Task, a *[6]uint64) uint64 {
	return t.pathListXattr(a[0], arch.Addr(a[1]), uint32(a[2]), arch.Addr(a[3]), a[4])
}

// pathRemoveXattr is path_removexattrat.
func (t *Task) pathRemoveXattr(dirfd uint64, path arch.Addr, atFlags uint32, nameAddr arch.Addr) unix.Errno {
	if atFlags&^atFlagsXattr != 0 {
		return unix.EINVAL
	}
	name, e := t.readXattrName(nameAddr)
	if e != 0 {
		return e
	}
	x, e := t.xattrPathTarget(dirfd, path, atFlags, false)
	if e != 0 {
		return e
	}
	defer x.release()
	return t.removeXattr(x, name)
}

func sysRemovexattr(t *Task, a *[6]uint64) uint64 {
	return errno0(t.pathRemoveXattr(atFDCWD, arch.Addr(a[0]), 0, arch.Addr(a[1])))
}

func sysLremovexattr(t *Task, a *[6]uint64) uint64 {
	return errno0(t.pathRemoveXattr(atFDCWD, arch.Addr(a[0]), unix.AT_SYMLINK_NOFOLLOW, arch.Addr(a[1])))
}

func sysFremovexattr(t *Task, a *[6]uint64) uint64 {
	x, e := t.xattrFDTarget(a[0])
	if e != 0 {
		return errno(e)
	}
	defer x.release()
	name, e := t.readXattrName(arch.Addr(a[1]))
	if e != 0 {
		return errno(e)
	}
	return errno0(t.removeXattr(x, name))
}

func sysRemovexattrat(t *Task, a *[6]uint64) uint64 {
	return errno0(t.pathRemoveXattr(a[0], arch.Addr(a[1]), uint32(a[2]), arch.Addr(a[3])))
}
