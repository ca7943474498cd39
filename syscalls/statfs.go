package syscalls

import (
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// statfs and fstatfs describe the file system a file is on as the guest
// sees it: a view's file its host file system's figures, read-only (the
// view is a read-only mount) and with no file-system id (the guest learns
// no host numbers, as stat's synthetic devices hide them); /proc as
// Linux's procfs; /dev, the synthetic directories and memfds as a
// read-only tmpfs holding nothing; a pipe, an eventfd or epoll instance
// as Linux's pipefs and anon-inode file system; stdio as the host file
// system behind the host descriptor.

// Linux's file-system magic numbers (linux/magic.h) and statfs flags.
const (
	procSuperMagic  = 0x9fa0
	tmpfsMagic      = 0x01021994
	pipefsMagic     = 0x50495045
	anonInodeMagic  = 0x09041934
	stValid         = 0x20
	stRelatime      = 0x1000
	statfsNameLen   = 255
	statfsBlockSize = 4096
)

// statfsSize is sizeof(struct statfs) on x86-64.
const statfsSize = int(unsafe.Sizeof(unix.Statfs_t{}))

// syntheticStatfs is the struct statfs of a file system mmvm makes up:
// no blocks or inodes counted.
func syntheticStatfs(magic int64, flags int64) unix.Statfs_t {
	return unix.Statfs_t{Type: magic, Bsize: statfsBlockSize, Namelen: statfsNameLen, Frsize: statfsBlockSize, Flags: stValid | flags}
}

// hostStatfs is the guest's view of the host file system holding fd: its
// figures, read-only, with no fsid.
func hostStatfs(fd int) (unix.Statfs_t, unix.Errno) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return st, unix.EIO
	}
	st.Fsid = unix.Fsid{}
	st.Flags |= unix.ST_RDONLY
	return st, 0
}

// nodeStatfs is the struct statfs of a synthetic node at guestPath.
func (p *Process) nodeStatfs(n *node, guestPath string) (unix.Statfs_t, unix.Errno) {
	switch {
	case n.kind == nodeHost:
		f, err := os.Open(n.hostPath)
		if err != nil {
			return unix.Statfs_t{}, unix.ENOENT
		}
		defer f.Close()
		return hostStatfs(int(f.Fd()))
	case n.kind == nodeDir && n.view != nil:
		if hl := p.fs().hostDir(n, guestPath); hl.hostFD >= 0 {
			defer hl.close()
			return hostStatfs(hl.hostFD)
		}
	case guestPath == "/proc" || strings.HasPrefix(guestPath, "/proc/"):
		return syntheticStatfs(procSuperMagic, unix.ST_NOSUID|unix.ST_NODEV|unix.ST_NOEXEC|stRelatime), 0
	}
	return syntheticStatfs(tmpfsMagic, unix.ST_RDONLY|unix.ST_NOSUID), 0
}

// openStatfs is fstatfs of an open description (O_PATH included, as
// Linux's fstatfs takes it).
func (p *Process) openStatfs(f *openFile) (unix.Statfs_t, unix.Errno) {
	switch {
	case f.pipe != nil:
		return syntheticStatfs(pipefsMagic, 0), 0
	case f.anon != nil:
		return syntheticStatfs(anonInodeMagic, 0), 0
	case f.fs == nil:
		var st unix.Statfs_t
		if hfd := p.cfg.StdioFDs[f.stdio]; hfd >= 0 && unix.Fstatfs(hfd, &st) == nil {
			st.Fsid = unix.Fsid{}
			return st, 0
		}
		return syntheticStatfs(pipefsMagic, 0), 0
	case f.fs.shm != nil:
		return syntheticStatfs(tmpfsMagic, unix.ST_NOSUID|unix.ST_NODEV), 0
	case f.fs.host != nil:
		return hostStatfs(int(f.fs.host.Fd()))
	case f.fs.node != nil:
		return p.nodeStatfs(f.fs.node, f.fs.path)
	}
	// An O_PATH file of a view: its file system is its directory's.
	return p.pathStatfs(f.fs.path)
}

// pathStatfs is statfs of the guest path name (links followed).
func (p *Process) pathStatfs(name string) (unix.Statfs_t, unix.Errno) {
	l, e := p.fs().walk(p, name, true, 0)
	if e != 0 {
		return unix.Statfs_t{}, e
	}
	defer l.close()
	switch {
	case l.fdFile != nil:
		return p.openStatfs(l.fdFile)
	case l.node != nil:
		return p.nodeStatfs(l.node, l.path)
	}
	return hostStatfs(l.hostFD)
}

// putStatfs copies st out to addr (EFAULT where it cannot).
func (p *Process) putStatfs(addr uint64, st unix.Statfs_t) uint64 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&st)), statfsSize)
	return p.copyOutAll(arch.Addr(addr), b)
}

func sysStatfs(t *Task, a *[6]uint64) uint64 {
	name, e := t.copyInString(arch.Addr(a[0]), pathMax)
	if e != 0 {
		return errno(e)
	}
	l, e := t.lookupName(atFDCWD, name, true)
	if e != 0 {
		return errno(e)
	}
	var st unix.Statfs_t
	switch {
	case l.fdFile != nil:
		st, e = t.openStatfs(l.fdFile)
	case l.node != nil:
		st, e = t.nodeStatfs(l.node, l.path)
	default:
		st, e = hostStatfs(l.hostFD)
	}
	l.close()
	if e != 0 {
		return errno(e)
	}
	return t.putStatfs(a[1], st)
}

func sysFstatfs(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	st, e := t.openStatfs(f)
	if e != 0 {
		return errno(e)
	}
	return t.putStatfs(a[1], st)
}
