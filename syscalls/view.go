package syscalls

import (
	"github.com/mmvm/mmvm/arch"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The guest's file system is a tree of synthetic nodes (the root, /dev,
// /proc, the directories leading to each view and to the program) over
// read-only views of host directories (`mmvm run --dir HOST:GUEST`). A
// guest path is made absolute and cleaned lexically, then walked through
// the synthetic nodes; where the walk reaches a directory node that a view
// backs and the next name is not one of its synthetic children, the rest
// of the path is opened on the host with openat2 relative to the view's
// root descriptor, with RESOLVE_BENEATH (no `..` or symbolic link may leave
// the root: Linux answers EXDEV, the guest sees ENOENT) and
// RESOLVE_NO_MAGICLINKS. Nothing else of the host is visible, but for the
// program itself at its own path.

// View is one host directory shown read-only in the guest.
type View struct {
	// Host is the host directory; Guest the absolute path the guest sees
	// it at.
	Host, Guest string
}

// ParseView parses `HOST[:GUEST]`: GUEST defaults to HOST; both are made
// absolute and cleaned (HOST against the current directory).
func ParseView(s string) (View, error) {
	host, guest, ok := strings.Cut(s, ":")
	if host == "" || ok && guest == "" {
		return View{}, &os.PathError{Op: "view", Path: s, Err: unix.EINVAL}
	}
	abs, err := absPath(host)
	if err != nil {
		return View{}, err
	}
	if !ok {
		guest = abs
	}
	if !strings.HasPrefix(guest, "/") {
		return View{}, &os.PathError{Op: "view", Path: s, Err: unix.EINVAL}
	}
	return View{Host: abs, Guest: path.Clean(guest)}, nil
}

func absPath(p string) (string, error) {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return path.Join(wd, p), nil
}

// nodeKind is what a synthetic node is.
type nodeKind int

const (
	nodeDir      nodeKind = iota // children, maybe over a view
	nodeSymlink                  // target
	nodeProc                     // a /proc file whose text gen makes
	nodeDevice                   // /dev/null, /dev/zero, /dev/full, /dev/urandom
	nodeHost                     // a host file at a host path (the program)
	nodeFDLink                   // a link of /proc/self/fd (procfd.go)
	nodeShm                      // a tmpfs regular file (tmpfs.go)
	nodeFIFO                     // a tmpfs named pipe (fifo.go)
	nodeTerminal                 // a terminal behind stdio (terminal.go)
	nodeSocket                   // a tmpfs socket node (socketaddr.go)
)

// deviceKind says which character device a nodeDevice is.
type deviceKind int

const (
	devNull deviceKind = iota + 1
	devZero
	devURandom
	devRandom // reads as devURandom: Linux's random no longer blocks once seeded
	devFull   // reads as devZero; every write is ENOSPC
	devTTY    // opens the controlling terminal (terminal.go)
	// devUserfaultfd makes userfaultfds (USERFAULTFD_IOC_NEW); read and
	// write are EINVAL.
	devUserfaultfd
)

// node is one synthetic file.
type node struct {
	kind nodeKind
	// ino is its inode number in the synthetic device.
	ino uint64
	// children are a directory's synthetic entries; they shadow the
	// view's entries of the same names.
	children map[string]*node
	// view is the host directory behind a directory node, if any, and
	// viewRel the node's path within it ("" for the view's root).
	view    *viewRoot
	viewRel string
	// target is a symbolic link's text (linkTarget makes it when set).
	linkTarget func(p *Process) string
	// gen makes a /proc file's text.
	gen func(p *Process) []byte
	// readAt, when set, reads a /proc file that has no text of its own
	// (pagemap) at an offset, as a device does.
	readAt func(p *Process, b []byte, off int64) (int, unix.Errno)
	// writeAt, when set, writes such a file (mem), which may then be
	// opened for writing.
	writeAt func(p *Process, b []byte, off int64) (int, unix.Errno)
	// ioctl, when set, serves ioctl(2) on the file (maps' PROCMAP_QUERY).
	ioctl func(t *Task, req uint64, arg arch.Addr) uint64
	// device is a nodeDevice's kind.
	device deviceKind
	// hostPath is a nodeHost's file on the host.
	hostPath string
	// fd is a nodeFDLink's fd; fdOf the process whose fd it is, and for
	// the fd or fdinfo directory of a process other than the one that
	// looks, that process, with fdInfo set for fdinfo (procfd.go).
	fd     int32
	fdOf   *Process
	fdInfo bool
	// taskOf is the process whose threads the task directory of a
	// process other than the one that looks lists (procstat.go).
	taskOf *Process
	// tmp is a tmpfs node's metadata (a directory, a symbolic link or a
	// nodeShm); nil for every other node.
	tmp *tmpAttr
	// shm is a nodeShm's contents, one reference held while a name
	// links it (tmpfs.go).
	shm TmpfsFile
	// fifo is a nodeFIFO's pipe while any end is open (fifo.go).
	fifo *pipe
	// tty is a nodeTerminal's terminal.
	tty *tty
	// sock is the socket bound to a nodeSocket, nil once it has closed
	// (or for mknod's node, which no socket was bound to).
	sock *socket
}

// viewRoot is an open view: its root descriptor, O_PATH, owned by the
// file system (closed by Process.Close).
type viewRoot struct {
	View
	fd int
}

// fileSystem is the guest's file system. It is built at the first path
// lookup and torn down by Process.Close.
type fileSystem struct {
	root *node
	// views are the open views' root descriptors.
	views []*viewRoot
	// nextIno numbers synthetic nodes.
	nextIno uint64
	// hostIDs gives each host (device, inode) seen through a view the
	// synthetic inode number the guest sees, and hostDevs each host device
	// its synthetic device: the guest learns which of its files are the
	// same (hard links, the same file through two views) but not the
	// host's numbers.
	hostIDs  map[[2]uint64]uint64
	hostDevs map[uint64]uint64
	// closed is set by Process.Close: the views' descriptors are gone,
	// and every lookup finds nothing.
	closed bool
	// procDir is /proc; procSelf the directory /proc shows under the pid
	// of the process that looks (addProc); procFD and procFDInfo its fd
	// and fdinfo directories, whose entries are that process's fds
	// (procfd.go), procTask its task directory, whose entries are that
	// process's threads (procstat.go).
	procDir, procSelf, procFD, procFDInfo, procTask *node
	// tmpfs are the mounted tmpfs instances (tmpfs.go).
	tmpfs []*tmpfs
	// looseXattrs holds the extended attributes no tmpfs's room holds
	// (xattr.go).
	looseXattrs xattrRoom
}

// Synthetic devices: major 0, as Linux numbers its anonymous devices.
var (
	// rootDev holds the synthetic directories; procDev /proc; devDev
	// /dev and the devices' own nodes (their st_rdev are Linux's); sysDev
	// /sys, after the tmpfs devices (tmpfsDevMinor on).
	rootDev = unix.Mkdev(0, 0x20)
	procDev = unix.Mkdev(0, 0x21)
	devDev  = unix.Mkdev(0, 0x22)
	// devptsDev holds /dev/pts and its terminals' nodes.
	devptsDev = unix.Mkdev(0, 0x2e)
	sysDev    = unix.Mkdev(0, 0x2f)
	// firstViewDev is the first device number views' files get.
	firstViewDev = uint32(0x30)
)

func (fs *fileSystem) newNode(kind nodeKind) *node {
	fs.nextIno++
	n := &node{kind: kind, ino: fs.nextIno}
	if kind == nodeDir {
		n.children = make(map[string]*node)
	}
	return n
}

// mkdirAll returns the directory node at the cleaned absolute path p,
// making synthetic directories on the way; a non-directory on the way is
// replaced.
func (fs *fileSystem) mkdirAll(p string) *node {
	n := fs.root
	for _, name := range splitPath(p) {
		c := n.children[name]
		if c == nil || c.kind != nodeDir {
			c = fs.newNode(nodeDir)
			if n.view != nil {
				// Under a view, a directory made on the way to
				// another still shows the view's entries.
				c.view, c.viewRel = n.view, path.Join(n.viewRel, name)
			}
			n.children[name] = c
		}
		n = c
	}
	return n
}

// addMtab links /etc/mtab to /proc/self/mounts, as Linux systems have it
// (systemd and util-linux make it so), for the programs that find the
// mounts through getmntent on /etc/mtab (stress-ng's tmpfs stressor, df).
// A view at or above /etc shows the host's instead.
func (fs *fileSystem) addMtab(views []View) {
	for _, v := range views {
		if g := path.Clean(v.Guest); g == "/" || g == "/etc" {
			return
		}
	}
	n := fs.newNode(nodeSymlink)
	n.linkTarget = func(*Process) string { return "/proc/self/mounts" }
	fs.mkdirAll("/etc").children["mtab"] = n
}

// add places c at the cleaned absolute path p.
func (fs *fileSystem) add(p string, c *node) {
	dir, name := path.Split(p)
	fs.mkdirAll(path.Clean(dir)).children[name] = c
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// fs returns the file system, building it on first use: the views, /dev,
// /proc, and the program at its own path unless a view shows it already.
func (p *Process) fs() *fileSystem {
	if p.fsys != nil {
		return p.fsys
	}
	fs := &fileSystem{hostIDs: make(map[[2]uint64]uint64), hostDevs: make(map[uint64]uint64)}
	p.fsys = fs
	fs.root = fs.newNode(nodeDir)
	for _, v := range sortViews(p.cfg.Views) {
		fd, err := unix.Open(v.Host, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			// The command line checked it; gone since, it shows as an
			// empty directory.
			fs.mkdirAll(v.Guest)
			continue
		}
		vr := &viewRoot{View: v, fd: fd}
		fs.views = append(fs.views, vr)
		d := fs.mkdirAll(v.Guest)
		d.view, d.viewRel = vr, ""
	}
	dev := fs.mkdirAll("/dev")
	// In a fixed order, so that each node's inode number is the same in
	// every run.
	for _, d := range []struct {
		name string
		kind deviceKind
	}{{"null", devNull}, {"random", devRandom}, {"urandom", devURandom}, {"zero", devZero}} {
		n := fs.newNode(nodeDevice)
		n.device = d.kind
		dev.children[d.name] = n
	}
	// The links udev makes on Linux: bash's process substitution opens
	// /dev/fd/N, and programs read /dev/stdin or write /dev/stdout.
	for _, l := range []struct{ name, target string }{
		{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	} {
		n := fs.newNode(nodeSymlink)
		target := l.target
		n.linkTarget = func(*Process) string { return target }
		dev.children[l.name] = n
	}
	fs.addMtab(p.cfg.Views)
	full := fs.newNode(nodeDevice)
	full.device = devFull
	dev.children["full"] = full
	uffd := fs.newNode(nodeDevice)
	uffd.device = devUserfaultfd
	uffd.ioctl = devUserfaultfdIoctl
	dev.children["userfaultfd"] = uffd
	fs.addTerminals(p.tree)
	fs.mountTmpfsAll(p.cfg.Views)
	p.addProc(fs)
	fs.addExe(p)
	return fs
}

// addExe adds /proc/self/exe once the program has a path (SetExecutable),
// and shows the program at that path, where nothing is there already.
func (fs *fileSystem) addExe(p *Process) {
	exe := p.info.exe
	if exe == "" {
		return
	}
	if fs.procSelf != nil && fs.procSelf.children["exe"] == nil {
		link := fs.newNode(nodeSymlink)
		link.linkTarget = func(p *Process) string { return p.info.exe }
		fs.procSelf.children["exe"] = link
	}
	if p.hostExe == "" {
		return
	}
	if l, e := fs.walk(p, exe, true, 0); e == 0 {
		l.close()
		return
	}
	n := fs.newNode(nodeHost)
	n.hostPath = p.hostExe
	fs.add(exe, n)
}

// sortViews orders views outermost first, so that a view inside another
// is a synthetic child of the outer one's node and shadows that part of it.
func sortViews(vs []View) []View {
	out := append([]View(nil), vs...)
	sort.SliceStable(out, func(i, j int) bool { return len(splitPath(out[i].Guest)) < len(splitPath(out[j].Guest)) })
	return out
}

// Close stops the process's timers and releases every open file it left
// open; Close of the root (the first process) releases the file system's
// host descriptors (the views' roots) too: every process of the VM shares
// that file system, so the machine closes the root last.
func (p *Process) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopTimers()
	p.releaseExe()
	if p.fdt.fds != nil {
		for fd, e := range p.fdt.fds {
			p.dropFD(e)
			delete(p.fdt.fds, fd)
		}
	}
	if p.fsys != nil && p == p.tree.root {
		for _, v := range p.fsys.views {
			unix.Close(v.fd)
		}
		p.fsys.views = nil
		for _, t := range p.fsys.tmpfs {
			tmpRelease(t.root)
		}
		p.fsys.closed = true
	}
}

// lookup is where a path led: a synthetic node, or a host file opened
// O_PATH under a view (hostFD >= 0, owned by the caller), with the guest
// path it has.
type lookup struct {
	node   *node
	hostFD int
	path   string
	// fdFile is the open file a link of /proc/self/fd reached when it
	// is no file of the guest's file system but a memfd (a pipe end, an
	// anon file, stdio, a memfd); node is nil and hostFD -1.
	fdFile *openFile
	// view, rel and follow are how hostFD was found, for reopen (view is
	// nil for a host descriptor a link of /proc/self/fd reached).
	view   *viewRoot
	rel    string
	follow bool
}

// resolvedPath is where what l found is in the guest with every symbolic
// link resolved, as Linux's d_path: a view's file by its host path's
// place in the view (openat2 may have followed host links that l.path,
// the path as asked, still names); anything else by l.path.
func (l *lookup) resolvedPath() string {
	if l.hostFD < 0 || l.view == nil {
		return l.path
	}
	hostPath, err := fdPath(l.hostFD)
	if err != nil {
		return l.path
	}
	return viewGuestPath(l.view, hostPath, l.path)
}

// close releases a lookup's host descriptor.
func (l *lookup) close() {
	if l.hostFD >= 0 {
		unix.Close(l.hostFD)
		l.hostFD = -1
	}
}

// maxSymlinks is how many synthetic links one lookup follows (Linux's
// MAXSYMLINKS).
const maxSymlinks = 40

// walk finds the cleaned absolute path name: follow says whether a final
// symbolic link is followed. Missing names, and paths a view refuses to
// resolve beneath its root, are ENOENT; a name under a non-directory is
// ENOTDIR.
func (fs *fileSystem) walk(p *Process, name string, follow bool, depth int) (lookup, unix.Errno) {
	if fs.closed {
		return lookup{hostFD: -1}, unix.ENOENT
	}
	parts := splitPath(name)
	n := fs.root
	for i, part := range parts {
		last := i == len(parts)-1
		if n.kind != nodeDir {
			return lookup{hostFD: -1}, unix.ENOTDIR
		}
		c := fs.child(p, n, part)
		if c == nil {
			if n.view != nil {
				rel := path.Join(n.viewRel, strings.Join(parts[i:], "/"))
				l, e := fs.openHost(n.view, rel, name, follow)
				if e == unix.EXDEV {
					base := "/" + strings.Join(parts[:i], "/")
					return fs.walkLinks(p, n, base, parts[i:], follow, depth)
				}
				return l, e
			}
			return lookup{hostFD: -1}, unix.ENOENT
		}
		if c.kind == nodeFDLink && (!last || follow) {
			if depth >= maxSymlinks {
				return lookup{hostFD: -1}, unix.ELOOP
			}
			return fs.followFDLink(p, c, strings.Join(parts[i+1:], "/"), follow, depth)
		}
		if c.kind == nodeSymlink && (!last || follow) {
			if depth >= maxSymlinks {
				return lookup{hostFD: -1}, unix.ELOOP
			}
			target := c.linkTarget(p)
			if !strings.HasPrefix(target, "/") {
				target = "/" + strings.Join(parts[:i], "/") + "/" + target
			}
			rest := strings.Join(parts[i+1:], "/")
			return fs.walkLinkTarget(p, target, rest, follow, depth+1)
		}
		n = c
	}
	return lookup{node: n, hostFD: -1, path: "/" + strings.Join(parts, "/")}, 0
}

// walkLinkTarget goes on with a walk at a symbolic link's absolute target
// and the rest of the path after the link: a target ending in a slash
// names a directory where the link is the path's last name (ENOTDIR for
// anything else), as Linux's walk of the link's body.
func (fs *fileSystem) walkLinkTarget(p *Process, target, rest string, follow bool, depth int) (lookup, unix.Errno) {
	l, e := fs.walk(p, path.Clean(target+"/"+rest), follow, depth)
	if e != 0 || rest != "" || !strings.HasSuffix(target, "/") && !strings.HasSuffix(target, "/.") {
		return l, e
	}
	st, se := p.lookupStat(&l)
	if se != 0 || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		l.close()
		return lookup{hostFD: -1}, unix.ENOTDIR
	}
	return l, 0
}

// child is directory n's synthetic entry name, as process p sees it: a
// child of n, or in /proc the directory of p's own pid. nil if none.
func (fs *fileSystem) child(p *Process, n *node, name string) *node {
	if n == fs.procDir && fs.procDir != nil {
		if name == p.pidString() {
			return fs.procSelf
		}
		if d := p.otherProcDir(name); d != nil {
			return d
		}
	}
	if o := fs.fdDirOf(p, n); o != nil {
		return o.fdLink(name)
	}
	if o := fs.fdInfoDirOf(p, n); o != nil {
		return o.fdInfoFile(name)
	}
	if n == fs.procTask && n != nil {
		return p.taskDir(name)
	}
	if n.taskOf != nil {
		return n.taskOf.taskDir(name)
	}
	return n.children[name]
}

// children are directory n's synthetic entries as process p sees them
// (child).
func (fs *fileSystem) children(p *Process, n *node) map[string]*node {
	if o := fs.fdDirOf(p, n); o != nil {
		return o.fdLinks()
	}
	if o := fs.fdInfoDirOf(p, n); o != nil {
		return o.fdInfoFiles()
	}
	if n == fs.procTask && n != nil {
		return p.taskDirs()
	}
	if n.taskOf != nil {
		return n.taskOf.taskDirs()
	}
	if n != fs.procDir || fs.procDir == nil {
		return n.children
	}
	out := make(map[string]*node, len(n.children)+len(p.tree.procs))
	for name, c := range n.children {
		out[name] = c
	}
	for pid := range p.tree.procs {
		name := strconv.Itoa(pid)
		if d := p.otherProcDir(name); d != nil {
			out[name] = d
		}
	}
	out[p.pidString()] = fs.procSelf
	return out
}

// hostDir finds the host directory behind directory node n (its
// lookup's hostFD is -1 where there is none).
func (fs *fileSystem) hostDir(n *node, guestPath string) lookup {
	if n.kind != nodeDir || n.view == nil {
		return lookup{hostFD: -1}
	}
	rel := n.viewRel
	if rel == "" {
		rel = "."
	}
	l, e := fs.openHost(n.view, rel, guestPath, true)
	if e != 0 {
		return lookup{hostFD: -1}
	}
	return l
}

// walkLinks resolves the names rest under view directory n (at guest path
// base) one at a time, when openat2 found that a symbolic link on the way
// leaves the view: each link's target is taken as the guest would take it,
// an absolute one from the guest's root, a relative one from the link's
// directory, and the walk goes on from there through the guest's file
// system. A target outside every view is then ENOENT; one inside a view
// (say an absolute link when the view's guest path is its host path) is
// found there. Every prefix is opened beneath the view's root, so no host
// file outside it is reached.
func (fs *fileSystem) walkLinks(p *Process, n *node, base string, rest []string, follow bool, depth int) (lookup, unix.Errno) {
	for i := range rest {
		last := i == len(rest)-1
		rel := path.Join(n.viewRel, strings.Join(rest[:i+1], "/"))
		fd, e := openBeneath(n.view, rel, unix.O_PATH, false)
		if e != 0 {
			if e == unix.EXDEV {
				e = unix.ENOENT
			}
			return lookup{hostFD: -1}, e
		}
		var st unix.Stat_t
		isLink := unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
		if !isLink || last && !follow {
			unix.Close(fd)
			continue
		}
		buf := make([]byte, pathMax)
		k, err := unix.Readlinkat(fd, "", buf)
		unix.Close(fd)
		if err != nil || k == 0 {
			return lookup{hostFD: -1}, unix.ENOENT
		}
		if depth >= maxSymlinks {
			return lookup{hostFD: -1}, unix.ELOOP
		}
		target := string(buf[:k])
		if !strings.HasPrefix(target, "/") {
			dirOnly := strings.HasSuffix(target, "/")
			target = path.Join(base, strings.Join(rest[:i], "/"), target)
			if dirOnly {
				target += "/" // kept for walkLinkTarget
			}
		}
		return fs.walkLinkTarget(p, target, strings.Join(rest[i+1:], "/"), follow, depth+1)
	}
	name := path.Join(base, strings.Join(rest, "/"))
	l, e := fs.openHost(n.view, path.Join(n.viewRel, strings.Join(rest, "/")), name, follow)
	if e == unix.EXDEV {
		e = unix.ENOENT // changed under us
	}
	return l, e
}

// openHost opens rel under view v as O_PATH, resolving beneath its root.
// Anything on the host's procfs or sysfs (reached through a view of /, say)
// is ENOENT: the guest's /proc is its own.
func (fs *fileSystem) openHost(v *viewRoot, rel, guestPath string, follow bool) (lookup, unix.Errno) {
	fd, e := openBeneath(v, rel, unix.O_PATH, follow)
	if e != 0 {
		return lookup{hostFD: -1}, e
	}
	return lookup{hostFD: fd, path: guestPath, view: v, rel: rel, follow: follow}, 0
}

// openBeneath opens rel under view v with flags (and O_CLOEXEC, and
// O_NOFOLLOW unless follow), resolving beneath its root.
func openBeneath(v *viewRoot, rel string, flags uint64, follow bool) (int, unix.Errno) {
	how := unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	if !follow {
		how.Flags |= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Openat2(v.fd, rel, &how)
		switch err {
		case nil:
			var sfs unix.Statfs_t
			if unix.Fstatfs(fd, &sfs) != nil || sfs.Type == unix.PROC_SUPER_MAGIC || sfs.Type == unix.SYSFS_MAGIC {
				unix.Close(fd)
				return -1, unix.ENOENT
			}
			return fd, 0
		case unix.EINTR, unix.EAGAIN:
			continue
		case unix.ELOOP, unix.ENOTDIR, unix.ENAMETOOLONG, unix.EACCES, unix.EXDEV:
			// ELOOP: a loop, a final link under O_NOFOLLOW, or a
			// magic link RESOLVE_NO_MAGICLINKS refused. EXDEV: a
			// link or `..` left the root (walk resolves such links
			// in the guest's file system).
			return -1, err.(unix.Errno)
		default:
			// Anything else the guest cannot tell from a missing
			// file.
			return -1, unix.ENOENT
		}
	}
}

// parentExists says whether the directory holding the cleaned absolute
// path name exists in the guest's file system: O_CREAT of a missing file
// there is EROFS (a read-only file system), elsewhere ENOENT.
func (fs *fileSystem) parentExists(p *Process, name string) bool {
	dir := path.Dir(name)
	l, e := fs.walk(p, dir, true, 0)
	if e != 0 {
		return false
	}
	defer l.close()
	if l.node != nil {
		// /proc/self/fd makes no links: O_CREAT there is ENOENT.
		return l.node.kind == nodeDir && fs.fdDirOf(p, l.node) == nil && fs.fdInfoDirOf(p, l.node) == nil
	}
	var st unix.Stat_t
	return unix.Fstat(l.hostFD, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// hostIno returns the synthetic device and inode the guest sees for a host
// file with st.
func (fs *fileSystem) hostIno(st *unix.Stat_t) (dev, ino uint64) {
	d, ok := fs.hostDevs[st.Dev]
	if !ok {
		d = unix.Mkdev(0, firstViewDev+uint32(len(fs.hostDevs)))
		fs.hostDevs[st.Dev] = d
	}
	key := [2]uint64{st.Dev, st.Ino}
	i, ok := fs.hostIDs[key]
	if !ok {
		i = uint64(len(fs.hostIDs)) + 2 // 1 is no one's: a root's number on some file systems
		fs.hostIDs[key] = i
	}
	return d, i
}

// FileIdentity returns the device and inode number the guest sees for the
// host file with st (the program's own file, say, as /proc/self/maps names
// it): the same as stat shows it through the guest's file system.
func (p *Process) FileIdentity(st *unix.Stat_t) (dev, ino uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fs().hostIno(st)
}

// pidString is the program's pid as /proc names it.
func (p *Process) pidString() string { return strconv.Itoa(p.cfg.PID) }
