package syscalls

import (
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The guest's tmpfs: /tmp and /dev/shm are writable file systems private
// to the VM, as Linux mounts tmpfs there. A regular file's contents are a
// TmpfsFile, pages of the MemoryFile that its reads, writes and every
// mapping of it share (a memfd by another name); its directories and
// symbolic links are nodes of the synthetic tree with a tmpAttr. Nothing
// of them reaches the host, and they go when the VM ends. Every process of
// the VM sees the same files (one fileSystem, under the tree lock). Each
// call checks the calling thread's permission as Linux's does
// (perms.go); what a thread makes is owned by its fsuid and fsgid
// (creds.newOwner). Every tmpfs, tmpAttr and node is guarded by the tree
// lock, as the rest of the file system; a file's contents also have their
// own lock.

// tmpfsMounts are where the guest's tmpfs instances are mounted, each
// unless a view is at or beneath that path (the user's view wins).
var tmpfsMounts = []string{"/dev/shm", "/tmp"}

// TmpfsFile is a tmpfs file's contents as the machine makes them (mm's
// SharedMemory): a SharedFile whose maps name follows the file's path.
type TmpfsFile interface {
	SharedFile
	// SetMappedName sets what /proc/self/maps names mappings of it by.
	SetMappedName(name string)
}

// TmpfsFileMaker makes an empty TmpfsFile, holding one reference, with
// the device and inode number its stat shows.
type TmpfsFileMaker func(dev, ino uint64) TmpfsFile

// tmpfs is one mounted tmpfs instance.
type tmpfs struct {
	// dev is its device; mount the guest path it is mounted at.
	dev   uint64
	mount string
	// root is its root directory.
	root *node
	// lastIno is the inode number last given: the root's is 1, the
	// files' count up from 2, as a fresh tmpfs numbers them.
	lastIno uint64
	// lastSeq is the order number last given to a directory entry.
	lastSeq uint64
	// inodes counts its nodes that a name links, the root's included;
	// tmpRoom keeps it within the limit statfs reports.
	inodes uint64
	// xattrSpace is what the extended attributes of those nodes take of
	// its room (xattrSpace each), which each inode's tmpfsInodeSpace
	// shares, as shmem's free_ispace.
	xattrSpace uint64
	// loose is the file system's room for the attributes of files no
	// name links while an open file still reaches them (xattrRoom).
	loose *xattrRoom
}

// tmpAttr is what a tmpfs node has beyond a synthetic one: its inode's
// metadata, what stat shows, and where it is linked.
type tmpAttr struct {
	fs *tmpfs
	// mode is the file type and permission bits.
	mode     uint32
	uid, gid uint32
	// nlink counts the names that link it, and a directory's "." and
	// its subdirectories' "..".
	nlink               uint32
	atime, mtime, ctime unix.Timespec
	// parent and name are where it was last linked, which its path
	// (tmpPath) is made of; they stay when nlink falls to 0, the path
	// then reading " (deleted)". The root's parent is nil.
	parent *node
	name   string
	// linkable: an O_TMPFILE file opened without O_EXCL, which linkat
	// may give a name though none links it (Linux's I_LINKABLE).
	linkable bool
	// order orders a directory's entries by when each name was linked:
	// Linux 6.18's tmpfs lists the newest first.
	order map[string]uint64
	// xattrs are its extended attributes (xattr.go).
	xattrs xattrSet
}

// tmpfsDevMinor is the first tmpfs device's minor number (after
// rootDev, procDev and devDev).
const tmpfsDevMinor = 0x23

// mountTmpfs mounts a new tmpfs at the cleaned absolute path at: a
// directory of mode 1777, the mode Linux gives a tmpfs root.
func (fs *fileSystem) mountTmpfs(at string) {
	t := &tmpfs{dev: unix.Mkdev(0, tmpfsDevMinor+uint32(len(fs.tmpfs))), mount: at, loose: &fs.looseXattrs}
	dir, name := path.Split(at)
	parent := fs.mkdirAll(path.Clean(dir))
	root := fs.newNode(nodeDir)
	t.root = root
	root.ino = t.newIno()
	now := nowTimespec()
	root.tmp = &tmpAttr{fs: t, mode: unix.S_IFDIR | 0o1777, nlink: 2, atime: now, mtime: now, ctime: now,
		name: at, order: make(map[string]uint64)}
	t.inodes = 1
	parent.children[name] = root
	fs.tmpfs = append(fs.tmpfs, t)
}

// mountTmpfsAll mounts each of tmpfsMounts that no view covers.
func (fs *fileSystem) mountTmpfsAll(views []View) {
	for _, at := range tmpfsMounts {
		covered := false
		for _, v := range views {
			if v.Guest == at || len(v.Guest) > len(at) && v.Guest[:len(at)+1] == at+"/" {
				covered = true
			}
		}
		if !covered {
			fs.mountTmpfs(at)
		}
	}
}

func (t *tmpfs) newIno() uint64 {
	t.lastIno++
	return t.lastIno
}

func nowTimespec() unix.Timespec { return unix.NsecToTimespec(time.Now().UnixNano()) }

// isTmpDir says whether n is a directory of a tmpfs.
func (n *node) isTmpDir() bool { return n != nil && n.tmp != nil && n.kind == nodeDir }

// tmpPath is where n is in the guest's file system, " (deleted)" after
// it once no name links it, as Linux's d_path.
func tmpPath(n *node) string {
	var names []string
	deleted := n.tmp.nlink == 0
	for c := n; c != nil; c = c.tmp.parent {
		names = append(names, c.tmp.name)
		if c.tmp.parent != nil && c.tmp.parent.children[c.tmp.name] != c {
			deleted = true // a directory on the way was removed
		}
	}
	p := ""
	for i := len(names) - 1; i >= 0; i-- {
		p = path.Join(p, names[i])
	}
	if deleted {
		p += " (deleted)"
	}
	return p
}

// tmpNew makes a node of the tmpfs of directory dir, of kind with mode
// (type and bits), owned as c makes it there (creds.newOwner), linked
// nowhere yet.
func (p *Process) tmpNew(c *creds, dir *node, kind nodeKind, mode uint32) *node {
	t := dir.tmp.fs
	n := p.fs().newNode(kind)
	n.ino = t.newIno()
	now := nowTimespec()
	uid, gid, mode := c.newOwner(dir, mode)
	n.tmp = &tmpAttr{fs: t, mode: mode, uid: uid, gid: gid, atime: now, mtime: now, ctime: now}
	if kind == nodeDir {
		n.tmp.order = make(map[string]uint64)
	}
	return n
}

// tmpLink links c into directory dir as name, which must be free: a
// directory's ".." counts in dir's links; a regular file's node holds a
// reference to its contents while any name links it.
func tmpLink(dir *node, name string, c *node) {
	if c.tmp.nlink == 0 {
		c.tmp.xattrs.charge(nil)
		c.tmp.fs.inodes++
		c.tmp.fs.xattrSpace += c.tmp.xattrs.space()
		switch c.kind {
		case nodeShm:
			c.shm.IncRef()
		case nodeDir:
			c.tmp.nlink = 1 // its "."
		}
	}
	c.tmp.nlink++
	tmpAttach(dir, name, c)
}

// lastSeqBump gives name the next order number in directory a.
func (a *tmpAttr) lastSeqBump(name string) {
	a.fs.lastSeq++
	a.order[name] = a.fs.lastSeq
}

// tmpUnlink removes name, which links c, from directory dir: a removed
// directory has no links left; a file whose last name goes drops its
// node's reference to its contents (open fds and mappings keep theirs).
func tmpUnlink(dir *node, name string, c *node) {
	delete(dir.children, name)
	delete(dir.tmp.order, name)
	if c.kind == nodeDir {
		c.tmp.nlink = 0
		dir.tmp.nlink--
	} else if c.tmp.nlink > 0 {
		c.tmp.nlink--
	}
	now := nowTimespec()
	dir.tmp.mtime, dir.tmp.ctime, c.tmp.ctime = now, now, now
	if c.tmp.nlink == 0 {
		c.tmp.fs.inodes--
		c.tmp.fs.xattrSpace -= c.tmp.xattrs.space()
		if c.tmp.xattrs.holders > 0 {
			c.tmp.xattrs.charge(c.tmp.fs.loose) // until the last close
		}
		if c.kind == nodeShm {
			c.shm.DecRef()
		}
	}
	tmpRenamed(c)
}

// tmpRenamed tells the contents of n, and of every file beneath it, their
// path now, which /proc/self/maps shows.
func tmpRenamed(n *node) {
	switch n.kind {
	case nodeShm:
		n.shm.SetMappedName(tmpPath(n))
	case nodeDir:
		for _, c := range n.children {
			if c.tmp != nil && c.tmp.parent == n {
				tmpRenamed(c)
			}
		}
	}
}

// tmpStat is the struct stat of tmpfs node n, as shmem_getattr fills it:
// a directory's size is 20 bytes an entry, "." and ".." included
// (BOGO_DIRENT_SIZE); a regular file's blocks are the pages backing it; a
// symbolic link's size is its target's length.
func tmpStat(n *node) unix.Stat_t {
	a := n.tmp
	st := unix.Stat_t{Dev: a.fs.dev, Ino: n.ino, Nlink: uint64(a.nlink), Mode: a.mode, Uid: a.uid, Gid: a.gid,
		Blksize: 4096, Atim: a.atime, Mtim: a.mtime, Ctim: a.ctime}
	switch n.kind {
	case nodeDir:
		st.Size = int64(len(n.children)+2) * 20
	case nodeShm:
		st.Size, st.Blocks = int64(n.shm.Size()), int64(n.shm.Blocks()/512)
	case nodeSymlink:
		st.Size = int64(len(n.linkTarget(nil)))
	}
	return st
}

// tmpOrder sorts names, entries of tmpfs directory dir, newest first.
func tmpOrder(dir *node, names []string) {
	sort.Slice(names, func(i, j int) bool { return dir.tmp.order[names[i]] > dir.tmp.order[names[j]] })
}

// tmpSize is a tmpfs's size in pages, half the guest's memory (Linux's
// default for a tmpfs), and how many inodes it holds, as many; 0 where
// the guest's memory is not known, for no limit.
func (p *Process) tmpSize() uint64 { return p.cfg.MemoryLimit / 2 / 4096 }

// tmpRoom is ENOSPC where tmpfs t has no room for another inode, as
// shmem_reserve_inode answers: its inodes and extended attributes take
// it all (tmpfs.freeSpace); the limit also bounds what a tmpfs's
// directories and links take of the host's memory.
func (p *Process) tmpRoom(t *tmpfs) unix.Errno {
	if limit := p.tmpSize(); limit != 0 && t.freeSpace(limit) < tmpfsInodeSpace {
		return unix.ENOSPC
	}
	return 0
}

// tmpStatfs is the statfs of tmpfs t (tmpSize).
func (p *Process) tmpStatfs(t *tmpfs) unix.Statfs_t {
	sfs := syntheticStatfs(unix.TMPFS_MAGIC, unix.ST_RELATIME)
	blocks := p.tmpSize()
	used := tmpUsage(t.root)
	sfs.Blocks, sfs.Files = blocks, blocks
	sfs.Bfree = blocks - min(blocks, used)
	sfs.Bavail, sfs.Ffree = sfs.Bfree, t.freeSpace(blocks)/tmpfsInodeSpace
	sfs.Fsid = unix.Fsid{Val: [2]int32{int32(unix.Major(t.dev)<<8 | unix.Minor(t.dev)), 0}}
	return sfs
}

// tmpUsage counts the pages backing the files beneath dir.
func tmpUsage(dir *node) uint64 {
	var pages uint64
	for _, c := range dir.children {
		switch c.kind {
		case nodeDir:
			pages += tmpUsage(c)
		case nodeShm:
			pages += c.shm.Blocks() / 4096
		}
	}
	return pages
}

// tmpRelease drops the references tmpfs t's files hold to their contents
// (Process.Close of the VM's last process).
func tmpRelease(dir *node) {
	for name, c := range dir.children {
		switch c.kind {
		case nodeDir:
			tmpRelease(c)
		case nodeShm:
			if c.tmp.nlink > 0 {
				c.tmp.nlink = 0
				c.shm.DecRef()
			}
		}
		delete(dir.children, name)
	}
}

// tmpfsNameMax is the longest name a tmpfs directory takes (NAME_MAX).
const tmpfsNameMax = 255

// tmpCreate makes a regular file, a directory or a FIFO named name in tmpfs
// directory dir with permission bits mode less the umask, owned as c makes
// it: ENAMETOOLONG for a name longer than NAME_MAX, ENOSPC for a tmpfs
// that is full, ENOSYS where the machine makes no tmpfs files. The caller
// has checked that c may create there (Task.mayCreateIn).
func (p *Process) tmpCreate(c *creds, dir *node, name string, kind nodeKind, mode uint32) (*node, unix.Errno) {
	if len(name) > tmpfsNameMax {
		return nil, unix.ENAMETOOLONG
	}
	if e := p.tmpRoom(dir.tmp.fs); e != 0 {
		return nil, e
	}
	n, e := p.tmpNewNode(c, dir, kind, mode)
	if e != 0 {
		return nil, e
	}
	tmpLink(dir, name, n)
	if n.kind == nodeShm {
		n.shm.DecRef() // the link holds one now
	}
	return n, 0
}

// tmpNewNode makes an unlinked node of the tmpfs of directory dir, owned
// as c makes it there: a regular file (nodeShm, its contents made, one
// reference held for the caller) or a directory, with mode's permission
// bits less the umask (a directory takes no setuid or setgid bit from
// mode, as vfs_mkdir).
func (p *Process) tmpNewNode(c *creds, dir *node, kind nodeKind, mode uint32) (*node, unix.Errno) {
	t := dir.tmp.fs
	typ := map[nodeKind]uint32{nodeShm: unix.S_IFREG, nodeDir: unix.S_IFDIR, nodeFIFO: unix.S_IFIFO, nodeSocket: unix.S_IFSOCK}[kind]
	if kind == nodeShm && p.cfg.NewTmpfsFile == nil {
		return nil, unix.ENOSYS
	}
	mode = mode & 0o7777 &^ (p.info.umask ^ defaultUmask)
	if kind == nodeDir {
		mode &= 0o1777
	}
	n := p.tmpNew(c, dir, kind, typ|mode)
	if kind == nodeShm {
		n.shm = p.cfg.NewTmpfsFile(t.dev, n.ino)
		n.shm.SetMappedName(path.Join(t.mount, "#"+strconv.FormatUint(n.ino, 10)) + " (deleted)")
	}
	return n, 0
}

// modified stamps a tmpfs file's modification and change times after its
// contents changed (a write, a truncate, fallocate), as file_modified.
func (f *fsFile) modified() {
	if f.node != nil && f.node.tmp != nil {
		now := nowTimespec()
		f.node.tmp.mtime, f.node.tmp.ctime = now, now
	}
}

// currentPath is where f's file is now: a tmpfs file's path changes with
// rename and unlink; any other file's is the path it was opened by.
func (f *fsFile) currentPath() string {
	if f.node != nil && f.node.tmp != nil {
		return tmpPath(f.node)
	}
	return f.path
}

// tmpParent is the tmpfs directory that would hold the cleaned absolute
// path name, and its final component; nil where the directory is none.
func (fs *fileSystem) tmpParent(p *Process, name string) (*node, string) {
	l, e := fs.walk(p, path.Dir(name), true, 0)
	if e != 0 {
		return nil, ""
	}
	l.close()
	if !l.node.isTmpDir() {
		return nil, ""
	}
	return l.node, path.Base(name)
}

// openCreate is the O_CREAT half of openat, for a name that does not
// exist: a regular file made in a tmpfs directory (EISDIR for a name
// ending in a slash), EROFS in any other existing directory, else the
// lookup's ENOENT. Where the name is a dangling symbolic link, the file is
// made where it points, as Linux's open follows it (ELOOP past
// maxSymlinks).
func (t *Task) openCreate(abs, name string, mode uint32) (lookup, unix.Errno) {
	return t.openCreateDepth(abs, name, mode, 0)
}

func (t *Task) openCreateDepth(abs, name string, mode uint32, depth int) (lookup, unix.Errno) {
	p := t.Process
	fs := p.fs()
	dir, last := fs.tmpParent(p, abs)
	if dir == nil {
		if fs.parentExists(p, abs) {
			return lookup{hostFD: -1}, unix.EROFS
		}
		return lookup{hostFD: -1}, unix.ENOENT
	}
	if strings.HasSuffix(name, "/") {
		return lookup{hostFD: -1}, unix.EISDIR
	}
	if l := dir.children[last]; l != nil {
		if l.kind != nodeSymlink {
			return lookup{hostFD: -1}, unix.ENOENT
		}
		if depth >= maxSymlinks {
			return lookup{hostFD: -1}, unix.ELOOP
		}
		target := l.linkTarget(p)
		if !strings.HasPrefix(target, "/") {
			target = path.Dir(abs) + "/" + target
		}
		return t.openCreateDepth(path.Clean(target), target, mode, depth+1)
	}
	if len(last) > tmpfsNameMax {
		return lookup{hostFD: -1}, unix.ENAMETOOLONG
	}
	if e := t.mayCreateIn(dir); e != 0 {
		return lookup{hostFD: -1}, e
	}
	c, e := p.tmpCreate(&t.cred, dir, last, nodeShm, mode)
	if e != 0 {
		return lookup{hostFD: -1}, e
	}
	return lookup{node: c, hostFD: -1, path: abs}, 0
}

// openTmpfsFile makes the fsFile of tmpfs node n for open by cr: a
// regular file opened O_TRUNC is truncated first (even read-only: open
// checked write permission), its setuid and setgid bits cleared as a
// truncate clears them, unless open made it. With
// O_TMPFILE n is the directory, and the file a new one no name links.
func (p *Process) openTmpfsFile(cr *creds, f *fsFile, n *node, flags, mode uint32, created bool) unix.Errno {
	if flags&unix.O_TMPFILE == unix.O_TMPFILE {
		c, e := p.tmpNewNode(cr, n, nodeShm, mode)
		if e != 0 {
			return e
		}
		c.tmp.parent, c.tmp.name = n, "#"+strconv.FormatUint(c.ino, 10)
		c.tmp.linkable = flags&unix.O_EXCL == 0
		f.node, f.shm, f.st, f.path = c, c.shm, tmpStat(c), tmpPath(c)
		return 0
	}
	if n.kind != nodeShm {
		return 0
	}
	if flags&unix.O_TRUNC != 0 && !created {
		n.tmp.mode = cr.killPrivs(n.tmp.mode, n.tmp.gid, false)
	}
	if flags&unix.O_TRUNC != 0 && !created && n.shm.Size() != 0 {
		if err := n.shm.Truncate(0); err != nil {
			return toErrno(err)
		}
		f.modified()
	}
	n.shm.IncRef()
	f.shm = n.shm
	return 0
}

// tmpRename renames from to to within one tmpfs, checking as
// do_renameat2 and vfs_rename do, in their order: ENOENT for a missing
// old name (or a missing new one to RENAME_EXCHANGE), EEXIST for an
// existing new one with RENAME_NOREPLACE, ENOTDIR for a non-directory
// named with a trailing slash, EINVAL for a directory moved beneath
// itself, ENOTEMPTY (EINVAL to exchange) for a new name that is an
// ancestor of the old; nothing for two names of one file; then c's
// permission and ENOTDIR and EISDIR for a directory and a non-directory
// in each other's place (mayRename), ENOTEMPTY for a directory replaced
// that has entries.
func tmpRename(c *creds, from, to parentName, flags uint64) unix.Errno {
	exchange := flags&unix.RENAME_EXCHANGE != 0
	old := from.node.children[from.last]
	if old == nil {
		return unix.ENOENT
	}
	target := to.node.children[to.last]
	switch {
	case flags&unix.RENAME_NOREPLACE != 0 && target != nil:
		return unix.EEXIST
	case exchange && target == nil:
		return unix.ENOENT
	case old.kind != nodeDir && (from.slash || !exchange && to.slash):
		return unix.ENOTDIR
	case exchange && target.kind != nodeDir && to.slash:
		return unix.ENOTDIR
	case tmpAncestor(old, to.node):
		return unix.EINVAL
	case target != nil && tmpAncestor(target, from.node):
		if exchange {
			return unix.EINVAL
		}
		return unix.ENOTEMPTY
	case old == target:
		return 0
	}
	if e := c.mayRename(from.node, old, to.node, target, exchange); e != 0 {
		return e
	}
	if exchange {
		tmpDetach(from.node, from.last, old)
		tmpDetach(to.node, to.last, target)
		tmpAttach(from.node, from.last, target)
		tmpAttach(to.node, to.last, old)
		return 0
	}
	if target != nil {
		if target.kind == nodeDir && len(target.children) > 0 {
			return unix.ENOTEMPTY
		}
		tmpUnlink(to.node, to.last, target)
	}
	tmpDetach(from.node, from.last, old)
	tmpAttach(to.node, to.last, old)
	return 0
}

// mayRename is vfs_rename's checks of c for moving old from directory
// fromDir to toDir, where target (nil for none) has the new name, in
// their order: c may delete the old name, and create the new one or
// delete the target (may_delete, whose EISDIR and ENOTDIR refuse a
// directory and a non-directory in each other's place unless exchanged);
// a directory that changes parents needs write permission on itself, to
// change its "..".
func (c *creds) mayRename(fromDir, old, toDir, target *node, exchange bool) unix.Errno {
	fromSt, oldSt, toSt := tmpStat(fromDir), tmpStat(old), tmpStat(toDir)
	if e := c.mayDelete(&fromSt, &oldSt); e != 0 {
		return e
	}
	if target == nil {
		if e := c.mayCreate(&toSt); e != 0 {
			return e
		}
	} else {
		targetSt := tmpStat(target)
		if e := c.mayDelete(&toSt, &targetSt); e != 0 {
			return e
		}
		switch {
		case exchange:
		case old.kind == nodeDir && target.kind != nodeDir:
			return unix.ENOTDIR
		case old.kind != nodeDir && target.kind == nodeDir:
			return unix.EISDIR
		}
	}
	if fromDir == toDir {
		return 0
	}
	if old.kind == nodeDir {
		if e := c.permission(&oldSt, mayWrite); e != 0 {
			return e
		}
	}
	if exchange && target.kind == nodeDir {
		targetSt := tmpStat(target)
		return c.permission(&targetSt, mayWrite)
	}
	return 0
}

// tmpAncestor says whether directory a is d or a directory above it.
func tmpAncestor(a, d *node) bool {
	for ; d != nil; d = d.tmp.parent {
		if d == a {
			return true
		}
	}
	return false
}

// tmpDetach takes name, which links c, out of directory dir for a rename:
// c keeps its links.
func tmpDetach(dir *node, name string, c *node) {
	delete(dir.children, name)
	delete(dir.tmp.order, name)
	if c.kind == nodeDir {
		dir.tmp.nlink--
	}
	now := nowTimespec()
	dir.tmp.mtime, dir.tmp.ctime = now, now
}

// tmpAttach links c, detached by a rename, into directory dir as name.
func tmpAttach(dir *node, name string, c *node) {
	dir.children[name] = c
	dir.tmp.lastSeqBump(name)
	if c.kind == nodeDir {
		dir.tmp.nlink++
	}
	c.tmp.parent, c.tmp.name = dir, name
	now := nowTimespec()
	dir.tmp.mtime, dir.tmp.ctime, c.tmp.ctime = now, now, now
	tmpRenamed(c)
}
