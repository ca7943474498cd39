package syscalls

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// statfs and fstatfs describe the file system a file is on, as Linux's
// do_statfs_native: a view's file the host's file system (statfs of the
// host file) marked read-only, as a read-only mount reports itself; the
// guest's own files their kinds' file systems: /proc proc, /dev and the
// synthetic directories tmpfs (Linux's devtmpfs and an initramfs's
// rootfs), a memfd shmem's tmpfs, a pipe pipefs, an eventfd or epoll
// instance anon_inodefs; stdio the host descriptor's.

// statfsNameMax is NAME_MAX, the longest name each file system takes.
const statfsNameMax = 255

// stValid is ST_VALID, which Linux's statfs sets in every f_flags.
const stValid = 0x20

// statfsSize is sizeof(struct statfs) on x86-64: unix.Statfs_t has its
// layout.
const statfsSize = int(unsafe.Sizeof(unix.Statfs_t{}))

// syntheticStatfs is the struct statfs of one of the guest's own file
// systems: magic type, page-sized blocks, no blocks or inodes counted (as
// Linux's proc, pipefs and anon_inodefs report), mounted with flags.
func syntheticStatfs(magic int64, flags int64) unix.Statfs_t {
	return unix.Statfs_t{
		Type:    magic,
		Bsize:   arch.PageSize,
		Frsize:  arch.PageSize,
		Namelen: statfsNameMax,
		Flags:   stValid | flags,
	}
}

// hostStatfs is the host's statfs of host descriptor fd, read-only as the
// view shows it, its fsid the synthetic device the guest's stat shows.
func (p *Process) hostStatfs(fd int, readOnly bool) (unix.Statfs_t, unix.Errno) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return sfs, toErrno(err)
	}
	if readOnly {
		sfs.Flags |= unix.ST_RDONLY
		if st, e := p.hostStat(fd); e == 0 {
			sfs.Fsid = unix.Fsid{Val: [2]int32{int32(unix.Major(st.Dev)<<8 | unix.Minor(st.Dev)), 0}}
		}
	}
	return sfs, 0
}

// statStatfs is the statfs of a guest file whose stat is st, for the
// guest's own files but a tmpfs's and a view's: /proc and /sys mounted
// nosuid, nodev and noexec as Linux's usually are, the rest tmpfs.
func statStatfs(st *unix.Stat_t) unix.Statfs_t {
	// The root and /dev are read-only, as the name calls answer there
	// (fsnames.go); /proc and /sys say rw, as Linux's, whose files
	// refuse writes one by one (EACCES).
	switch st.Dev {
	case procDev:
		return syntheticStatfs(unix.PROC_SUPER_MAGIC, unix.ST_NOSUID|unix.ST_NODEV|unix.ST_NOEXEC|unix.ST_RELATIME)
	case sysDev:
		return syntheticStatfs(unix.SYSFS_MAGIC, unix.ST_NOSUID|unix.ST_NODEV|unix.ST_NOEXEC|unix.ST_RELATIME)
	}
	return syntheticStatfs(unix.TMPFS_MAGIC, unix.ST_RDONLY|unix.ST_RELATIME)
}

// lookupStatfs is the statfs of what l found.
func (p *Process) lookupStatfs(l *lookup) (unix.Statfs_t, unix.Errno) {
	if l.fdFile != nil {
		return p.openFileStatfs(l.fdFile)
	}
	if l.hostFD >= 0 {
		return p.hostStatfs(l.hostFD, true)
	}
	if l.node.tmp != nil {
		return p.tmpStatfs(l.node.tmp.fs), 0
	}
	if l.node.kind == nodeDir {
		if hl := p.fs().hostDir(l.node, l.path); hl.hostFD >= 0 {
			defer hl.close()
			return p.hostStatfs(hl.hostFD, true)
		}
	}
	st, e := p.lookupStat(l)
	if e != 0 {
		return unix.Statfs_t{}, e
	}
	if l.node.kind == nodeHost {
		// The program at its own path: a file of the host's, shown
		// read-only.
		fd, err := unix.Open(l.node.hostPath, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return unix.Statfs_t{}, unix.ENOENT
		}
		defer unix.Close(fd)
		return p.hostStatfs(fd, true)
	}
	return statStatfs(&st), 0
}

// openFileStatfs is the statfs of the file f describes.
func (p *Process) openFileStatfs(f *openFile) (unix.Statfs_t, unix.Errno) {
	switch {
	case f.fs != nil && f.fs.node != nil && f.fs.node.tmp != nil:
		return p.tmpStatfs(f.fs.node.tmp.fs), 0
	case f.fs != nil && f.fs.shm != nil:
		return syntheticStatfs(unix.TMPFS_MAGIC, 0), 0
	case f.fs != nil && f.fs.huge != nil:
		st := syntheticStatfs(unix.HUGETLBFS_MAGIC, 0)
		st.Bsize = hugePageSize
		return st, 0
	case f.fs != nil && f.fs.host != nil:
		return p.hostStatfs(int(f.fs.host.Fd()), true)
	case f.fs != nil:
		return statStatfs(&f.fs.st), 0
	case f.fifo != nil:
		return p.tmpStatfs(f.fifo.tmp.fs), 0
	case f.anon != nil:
		if _, ok := f.anon.(*socket); ok {
			return syntheticStatfs(unix.SOCKFS_MAGIC, 0), 0
		}
		return syntheticStatfs(unix.ANON_INODE_FS_MAGIC, 0), 0
	case f.pipe != nil:
		return syntheticStatfs(unix.PIPEFS_MAGIC, 0), 0
	}
	if hfd := p.cfg.StdioFDs[f.stdio]; hfd >= 0 {
		return p.hostStatfs(hfd, false)
	}
	// No host descriptor behind it (a test's buffer): a pipe's, as
	// /proc/self/fd names it.
	return syntheticStatfs(unix.PIPEFS_MAGIC, 0), 0
}

func (p *Process) putStatfs(addr uint64, sfs *unix.Statfs_t) uint64 {
	return p.copyOutAll(arch.Addr(addr), unsafe.Slice((*byte)(unsafe.Pointer(sfs)), statfsSize))
}

// sysStatfs serves statfs: the path, links followed, then the answer.
func sysStatfs(t *Task, a *[6]uint64) uint64 {
	l, e := t.lookupAt(atFDCWD, arch.Addr(a[0]), true)
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	sfs, e := t.lookupStatfs(&l)
	if e != 0 {
		return errno(e)
	}
	return t.putStatfs(a[1], &sfs)
}

// sysFstatfs serves fstatfs, O_PATH fds included.
func sysFstatfs(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	sfs, e := t.openFileStatfs(f)
	if e != 0 {
		return errno(e)
	}
	return t.putStatfs(a[1], &sfs)
}
