package syscalls

import (
	"fmt"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// /proc/self/fd: a directory of one link per open fd of the process that
// looks, named by the fd's number. Reading a link gives the name Linux
// gives the file ("pipe:[INODE]", "anon_inode:[eventfd]", a path);
// following one reaches the open file itself, not its name (Linux's
// "magic" links): opening /proc/self/fd/N opens the same pipe, memfd or
// file again as a new open file description, stat shows the file, and a
// path under a directory's link continues from that directory.

// Inode numbers apart from every node's (fileSystem.nextIno): the link of
// fd N has fdLinkInoBase+N and its fdinfo file fdInfoInoBase+N; another
// process's /proc/<pid> has otherProcInoBase+3*pid, its fd and fdinfo
// directories the next two.
const (
	fdLinkInoBase    = 1 << 32
	otherProcInoBase = 2 << 32
	fdInfoInoBase    = 3 << 32
	// otherProcFileInoBase+8*pid+i is file i of otherProcFiles in
	// another process's /proc/<pid>, and the next its task directory.
	otherProcFileInoBase = 5 << 32
)

// otherProcDir is /proc/name as process p sees it when name is the pid
// of another process of the VM, nil if it is none: a directory holding
// that process's fd, fdinfo and task directories and the files that
// describe it (otherProcFiles), which ps and top read of every process.
func (p *Process) otherProcDir(name string) *node {
	pid, err := strconv.Atoi(name)
	if err != nil || strconv.Itoa(pid) != name {
		return nil
	}
	o := p.tree.procs[pid]
	if o == nil || o == p {
		return nil
	}
	ino := otherProcInoBase + 3*uint64(pid)
	fd := &node{kind: nodeDir, ino: ino + 1, children: map[string]*node{}, fdOf: o}
	info := &node{kind: nodeDir, ino: ino + 2, children: map[string]*node{}, fdOf: o, fdInfo: true}
	task := &node{kind: nodeDir, ino: otherProcFileInoBase + uint64(pid)*8 + uint64(len(otherProcFiles)), children: map[string]*node{}, taskOf: o}
	d := &node{kind: nodeDir, ino: ino, children: map[string]*node{"fd": fd, "fdinfo": info, "task": task}}
	for i, f := range otherProcFiles {
		gen := f.gen
		d.children[f.name] = &node{kind: nodeProc, ino: otherProcFileInoBase + uint64(pid)*8 + uint64(i), gen: func(*Process) []byte { return gen(o) }}
	}
	return d
}

// otherProcFiles are the files of another process's /proc/<pid>, each
// made for that process.
var otherProcFiles = []struct {
	name string
	gen  func(o *Process) []byte
}{
	{"cmdline", (*Process).cmdlineText},
	{"comm", func(o *Process) []byte { return append([]byte(commString(o.main.comm)), '\n') }},
	{"environ", (*Process).environText},
	{"stat", func(o *Process) []byte { return o.main.statText(true) }},
	{"statm", (*Process).statmText},
	{"status", func(o *Process) []byte { return o.main.statusText() }},
}

// fdDirOf is the process whose fds directory n lists, as process p sees
// it (/proc/self/fd lists p's own); nil if n is no fd directory.
func (fs *fileSystem) fdDirOf(p *Process, n *node) *Process {
	if n == fs.procFD && fs.procFD != nil {
		return p
	}
	if n.kind == nodeDir && !n.fdInfo {
		return n.fdOf
	}
	return nil
}

// fdInfoDirOf is the process whose fds fdinfo directory n describes, as
// process p sees it; nil if n is no fdinfo directory.
func (fs *fileSystem) fdInfoDirOf(p *Process, n *node) *Process {
	if n == fs.procFDInfo && fs.procFDInfo != nil {
		return p
	}
	if n.kind == nodeDir && n.fdInfo {
		return n.fdOf
	}
	return nil
}

// fdInfoFile returns /proc/self/fdinfo/name for process p, nil if name is
// not the decimal number of an open fd: a /proc file of its text
// (fdInfoText).
func (p *Process) fdInfoFile(name string) *node {
	if p.fdLink(name) == nil {
		return nil
	}
	fd, _ := strconv.Atoi(name)
	return &node{kind: nodeProc, ino: fdInfoInoBase + uint64(fd), gen: func(*Process) []byte { return p.fdInfoText(int32(fd)) }}
}

// fdInfoFiles are /proc/self/fdinfo's entries for process p, by name.
func (p *Process) fdInfoFiles() map[string]*node {
	out := make(map[string]*node, len(p.files().fds))
	for fd := range p.files().fds {
		name := strconv.Itoa(int(fd))
		out[name] = p.fdInfoFile(name)
	}
	return out
}

// fdInfoText is /proc/self/fdinfo/fd's text as Linux's seq_show: the
// position, the status flags in octal with O_CLOEXEC for a close-on-exec
// fd, the mount (0: the guest has no mount ids) and the inode fstat
// shows, then an eventfd's count and mode or a signalfd's set. An fd closed since is empty.
func (p *Process) fdInfoText(fd int32) []byte {
	e, ok := p.files().fds[fd]
	if !ok {
		return nil
	}
	f := e.file
	var pos int64
	if f.fs != nil {
		pos = f.fs.pos
	}
	flags := f.flags
	if e.cloexec {
		flags |= unix.O_CLOEXEC
	}
	st, _ := p.fdFileStat(f)
	b := fmt.Appendf(nil, "pos:\t%d\nflags:\t0%o\nmnt_id:\t0\nino:\t%d\n", pos, flags, st.Ino)
	if ev, ok := f.anon.(*eventFD); ok {
		b = fmt.Appendf(b, "eventfd-count: %16x\neventfd-id: %d\neventfd-semaphore: %d\n", ev.count, 0, boolInt(ev.semaphore))
	}
	if sfd, ok := f.anon.(*signalFD); ok {
		b = append(b, sfd.fdinfo()...)
	}
	if tfd, ok := f.anon.(*timerFD); ok {
		b = append(b, tfd.fdinfo()...)
	}
	return b
}

// fdLinkSize is the st_size Linux shows for every link of /proc/self/fd.
const fdLinkSize = 64

// fdLink returns the node of /proc/self/fd/name for process p, nil if
// name is not the decimal number, without leading zeros, of an open fd.
func (p *Process) fdLink(name string) *node {
	fd, err := strconv.ParseUint(name, 10, 31)
	if err != nil || strconv.FormatUint(fd, 10) != name {
		return nil
	}
	if _, ok := p.files().fds[int32(fd)]; !ok {
		return nil
	}
	return &node{kind: nodeFDLink, ino: fdLinkInoBase + fd, fd: int32(fd), fdOf: p}
}

// fdLinks are /proc/self/fd's entries for process p, by name.
func (p *Process) fdLinks() map[string]*node {
	out := make(map[string]*node, len(p.files().fds))
	for fd := range p.files().fds {
		name := strconv.Itoa(int(fd))
		out[name] = p.fdLink(name)
	}
	return out
}

// fdLinkText is what readlink of fd's link reads: a file of the guest's
// file system (a memfd's "/memfd:NAME (deleted)" included) by its guest
// path, a pipe end by its pipe's inode, an anon file by its kind, a
// terminal by its node's path, another stdio description by what the host's /proc says of the host descriptor behind
// it (the guest's stdio is the host's file; with no host descriptor, the
// link reads as an anonymous pipe, what mmvm feeds it through).
func (p *Process) fdLinkText(f *openFile) string {
	switch {
	case f.fs != nil:
		return f.fs.currentPath()
	case f.fifo != nil:
		return tmpPath(f.fifo)
	case f.pipe != nil:
		return fmt.Sprintf("pipe:[%d]", f.pipe.ino)
	case f.anon != nil:
		if s, ok := f.anon.(*socket); ok {
			return s.linkText()
		}
		return "anon_inode:[" + f.anon.anonName() + "]"
	}
	if f.devTTY != nil {
		return "/dev/tty"
	}
	if t := p.stdioTerminal(f.stdio); t != nil {
		return t.Path
	}
	if hfd := p.cfg.StdioFDs[f.stdio]; hfd >= 0 {
		if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(hfd)); err == nil {
			return target
		}
	}
	return "pipe:[0]"
}

// fdLinkStat is lstat of fd's link: a link whose owner bits say how the fd
// was opened (read: r-x, write: -wx, both: rwx, O_PATH: none), as Linux's
// proc_fd_link permissions.
func (p *Process) fdLinkStat(n *node) (unix.Stat_t, unix.Errno) {
	f, e := p.file(uint64(n.fd))
	if e != 0 {
		return unix.Stat_t{}, unix.ENOENT
	}
	ts := unix.NsecToTimespec(p.start.UnixNano())
	st := unix.Stat_t{Dev: procDev, Ino: n.ino, Nlink: 1, Mode: unix.S_IFLNK, Size: fdLinkSize, Blksize: 1024,
		Uid: guestID, Gid: guestID, Atim: ts, Mtim: ts, Ctim: ts}
	if f.flags&unix.O_PATH == 0 {
		switch f.flags & unix.O_ACCMODE {
		case unix.O_RDONLY:
			st.Mode |= 0o500
		case unix.O_WRONLY:
			st.Mode |= 0o300
		default:
			st.Mode |= 0o700
		}
	}
	return st, 0
}

// fdDirStat is stat of /proc/self/fd: a directory only its owner reads,
// whose size is the number of open fds (Linux's proc_fd_getattr).
func (p *Process) fdDirStat(n *node) unix.Stat_t {
	ts := unix.NsecToTimespec(p.start.UnixNano())
	return unix.Stat_t{Dev: procDev, Ino: n.ino, Nlink: 2, Mode: unix.S_IFDIR | 0o500, Size: int64(len(p.files().fds)),
		Blksize: 4096, Uid: guestID, Gid: guestID, Atim: ts, Mtim: ts, Ctim: ts}
}

// followFDLink is the walk through fd link n: to the open file itself when
// rest is empty, else on through rest from the directory it is (ENOTDIR
// for any other file, ENOENT once the fd is closed). A file of the guest's
// file system is found again as its lookup: its synthetic node, a new
// host descriptor of the same host file, or (opened O_PATH, which holds no
// host descriptor) its path; a memfd, pipe end, anon file or stdio
// description is the lookup's fdFile.
func (fs *fileSystem) followFDLink(p *Process, n *node, rest string, follow bool, depth int) (lookup, unix.Errno) {
	f, e := n.fdOf.file(uint64(n.fd))
	if e != 0 {
		return lookup{hostFD: -1}, unix.ENOENT
	}
	if rest != "" {
		if f.fs == nil || !f.fs.isDir() {
			return lookup{hostFD: -1}, unix.ENOTDIR
		}
		return fs.walk(p, path.Join(f.fs.currentPath(), rest), follow, depth+1)
	}
	switch {
	case f.fs != nil && f.fs.node != nil && f.fs.node.tmp != nil:
		// A tmpfs file is found as itself, linked or not.
		return lookup{node: f.fs.node, hostFD: -1, path: f.fs.currentPath()}, 0
	case f.fifo != nil:
		// A FIFO is opened again as the FIFO, as Linux's fifo_open.
		return lookup{node: f.fifo, hostFD: -1, path: tmpPath(f.fifo)}, 0
	case f.fs == nil || f.fs.shm != nil:
		return lookup{hostFD: -1, fdFile: f, path: n.fdOf.fdLinkText(f)}, 0
	case f.fs.node != nil:
		return lookup{node: f.fs.node, hostFD: -1, path: f.fs.path}, 0
	case f.fs.host != nil:
		fd, err := unix.FcntlInt(f.fs.host.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return lookup{hostFD: -1}, unix.ENFILE
		}
		return lookup{hostFD: fd, path: f.fs.path}, 0
	}
	return fs.walk(p, f.fs.path, follow, depth+1)
}

// fdFileStat is stat of the open file a followed link reached.
func (p *Process) fdFileStat(f *openFile) (unix.Stat_t, unix.Errno) {
	if f.fs != nil {
		return p.fsStat(f.fs)
	}
	return p.stdioOrPipeStat(f)
}

// reopenFD opens again the file a followed link reached (no file of the
// guest's file system but a memfd), as a new open file description with
// the status flags of flags: O_PATH gives a description that only names
// it; a pipe gives a new end of the same pipe, a memfd the same memfd
// (O_TRUNC empties it), stdio the same stdio (whose position, where it has
// one, is the host descriptor's: mmvm cannot open the host's file again);
// an anon file cannot be opened (ENXIO, as Linux's anon inodes).
func (p *Process) reopenFD(f *openFile, flags uint32, status uint32) (*openFile, unix.Errno) {
	if flags&unix.O_PATH != 0 {
		st, e := p.fdFileStat(f)
		if e != 0 {
			return nil, e
		}
		return &openFile{stdio: -1, fs: &fsFile{path: p.fdLinkText(f), st: st, pathOnly: true}, flags: status}, 0
	}
	acc := flags & unix.O_ACCMODE
	switch {
	case f.anon != nil:
		return nil, unix.ENXIO
	case f.pipe != nil:
		return reopenPipe(f.pipe, acc, status)
	case f.fs != nil:
		if flags&unix.O_TRUNC != 0 && acc != unix.O_RDONLY {
			if err := f.fs.shm.Truncate(0); err != nil {
				if e, ok := err.(unix.Errno); ok {
					return nil, e
				}
				return nil, unix.EIO
			}
		}
		f.fs.shm.IncRef()
		nf := *f.fs
		nf.pos, nf.mappable = 0, nil
		nf.holdXattrs()
		return &openFile{stdio: -1, fs: &nf, flags: status}, 0
	}
	return &openFile{stdio: f.stdio, devTTY: f.devTTY, flags: status}, 0
}

// reopenPipe opens one end of pp again: a read end for O_RDONLY, a write
// end for O_WRONLY. Linux's fifo_open gives a description that is both
// for O_RDWR, which mmvm's pipe ends cannot be: ENXIO.
func reopenPipe(pp *pipe, acc, status uint32) (*openFile, unix.Errno) {
	switch acc {
	case unix.O_RDONLY:
		pp.readers++
		return &openFile{stdio: -1, pipe: pp, flags: status}, 0
	case unix.O_WRONLY:
		pp.writers++
		return &openFile{stdio: -1, pipe: pp, writeEnd: true, flags: status}, 0
	}
	return nil, unix.ENXIO
}
