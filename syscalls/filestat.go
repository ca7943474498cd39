package syscalls

import (
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The stats of the guest's files (stat, lstat, fstat, newfstatat, statx),
// each the guest's view: a view's file keeps the host's type, mode, size,
// link count and times, with a synthetic device and inode and the guest's
// own user and group; and access (perms.go checks it).

// lookupStat is the guest's struct stat of what l found.
func (p *Process) lookupStat(l *lookup) (unix.Stat_t, unix.Errno) {
	if l.fdFile != nil {
		return p.fdFileStat(l.fdFile)
	}
	if l.node != nil {
		st, e := p.nodeStat(l.node, l.path)
		if e == 0 {
			p.procOwner(&st, l.path)
		}
		return st, e
	}
	return p.hostStat(l.hostFD)
}

// hostStat is the guest's view of a host file: the host's type, mode,
// size, link count and times, a synthetic device and inode (fileSystem.
// hostIno), and the guest's own user and group.
func (p *Process) hostStat(fd int) (unix.Stat_t, unix.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return st, unix.EIO
	}
	st.Dev, st.Ino = p.fs().hostIno(&st)
	st.Uid, st.Gid = guestID, guestID
	st.Rdev = 0
	return st, 0
}

// nodeStat is the struct stat of a synthetic node: a directory backed by a
// view shows the host directory.
func (p *Process) nodeStat(n *node, guestPath string) (unix.Stat_t, unix.Errno) {
	if n.tmp != nil {
		return tmpStat(n), 0
	}
	ts := unix.NsecToTimespec(p.start.UnixNano())
	st := unix.Stat_t{Ino: n.ino, Nlink: 1, Blksize: 4096, Uid: guestID, Gid: guestID, Atim: ts, Mtim: ts, Ctim: ts}
	switch n.kind {
	case nodeDir:
		if o := p.fs().fdDirOf(p, n); o != nil {
			return o.fdDirStat(n), 0
		}
		if hl := p.fs().hostDir(n, guestPath); hl.hostFD >= 0 {
			defer hl.close()
			return p.hostStat(hl.hostFD)
		}
		st.Dev, st.Mode, st.Nlink = syntheticDev(guestPath), unix.S_IFDIR|0o555, 2
	case nodeFDLink:
		return n.fdOf.fdLinkStat(n)
	case nodeSymlink:
		st.Dev, st.Mode = procDev, unix.S_IFLNK|0o777
		if strings.HasPrefix(guestPath, "/dev/") {
			st.Dev = devDev
		}
		st.Size = int64(len(n.linkTarget(p)))
	case nodeProc:
		st.Dev, st.Mode, st.Blksize = syntheticDev(guestPath), unix.S_IFREG|0o444, 1024
		if strings.HasPrefix(guestPath, "/proc/sys/") {
			st.Mode = unix.S_IFREG | 0o644
		}
	case nodeDevice:
		st.Dev, st.Mode = devDev, unix.S_IFCHR|0o666
		st.Rdev = map[deviceKind]uint64{devNull: unix.Mkdev(1, 3), devZero: unix.Mkdev(1, 5), devURandom: unix.Mkdev(1, 9), devRandom: unix.Mkdev(1, 8), devFull: unix.Mkdev(1, 7), devTTY: unix.Mkdev(5, 0), devUserfaultfd: unix.Mkdev(10, 257)}[n.device]
		if n.device == devUserfaultfd {
			st.Mode = unix.S_IFCHR | 0o600
		}
		if n.device == devTTY {
			st.Gid = ttyGID
		}
	case nodeTerminal:
		return p.ttyStat(n.tty), 0
	case nodeHost:
		f, err := os.Open(n.hostPath)
		if err != nil {
			return st, unix.ENOENT
		}
		defer f.Close()
		return p.hostStat(int(f.Fd()))
	}
	return st, 0
}

// syntheticDev is the device of the synthetic directory or file at the
// cleaned absolute path guestPath: each of /proc, /dev and /sys is a
// mount of its own (mounts).
func syntheticDev(guestPath string) uint64 {
	for _, m := range []struct {
		dir string
		dev uint64
	}{{"/proc", procDev}, {"/dev/pts", devptsDev}, {"/dev", devDev}, {"/sys", sysDev}} {
		if pathWithin(guestPath, m.dir) {
			return m.dev
		}
	}
	return rootDev
}

// fsStat is fstat of an fsFile (O_PATH included).
func (p *Process) fsStat(f *fsFile) (unix.Stat_t, unix.Errno) {
	if f.node != nil && f.node.tmp != nil {
		return tmpStat(f.node), 0
	}
	if f.shm != nil {
		return memfdStat(f), 0
	}
	if f.huge != nil {
		return hugetlbStat(f), 0
	}
	if f.host != nil {
		return p.hostStat(int(f.host.Fd()))
	}
	return f.st, 0
}

// statAt serves newfstatat and statx's lookup: the stat of dirfd itself
// for AT_EMPTY_PATH and an empty path, else of the path.
func (t *Task) statAt(dirfd uint64, addr arch.Addr, flags uint32) (st unix.Stat_t, fdStat *openFile, e unix.Errno) {
	p := t.Process
	if flags&unix.AT_EMPTY_PATH != 0 {
		var first [1]byte
		if _, err := p.cfg.Memory.CopyIn(addr, first[:]); err != nil {
			return st, nil, unix.EFAULT
		}
		if first[0] == 0 {
			if int32(dirfd) == unix.AT_FDCWD {
				l, e := p.fs().walk(p, p.cwd(), true, 0)
				if e != 0 {
					return st, nil, e
				}
				defer l.close()
				st, e := p.lookupStat(&l)
				return st, nil, e
			}
			f, e := p.file(dirfd)
			if e != 0 {
				return st, nil, e
			}
			if f.fs == nil {
				return st, f, 0
			}
			st, e := p.fsStat(f.fs)
			return st, nil, e
		}
	}
	l, e := t.lookupAt(dirfd, addr, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if e != 0 {
		return st, nil, e
	}
	defer l.close()
	st, e = p.lookupStat(&l)
	return st, nil, e
}

// statPath is statAt's answer for newfstatat and statx, an fd's own where
// AT_EMPTY_PATH named stdio or a pipe end.
func (t *Task) statPath(dirfd uint64, addr arch.Addr, flags uint32) (unix.Stat_t, unix.Errno) {
	p := t.Process
	st, f, e := t.statAt(dirfd, addr, flags)
	if e == 0 && f != nil {
		return p.stdioOrPipeStat(f)
	}
	return st, e
}

// stdioOrPipeStat is fstat of a stdio description or a pipe end.
func (p *Process) stdioOrPipeStat(f *openFile) (unix.Stat_t, unix.Errno) {
	if f.fifo != nil {
		return tmpStat(f.fifo), 0
	}
	if f.pipe != nil {
		return f.pipe.stat(), 0
	}
	if s, ok := f.anon.(*socket); ok {
		return s.stat(), 0
	}
	if f.anon != nil {
		return p.anonStat(), 0
	}
	if f.devTTY != nil {
		return p.nodeStat(f.devTTY, "/dev/tty")
	}
	return p.stdioStat(uint64(f.stdio))
}

func sysStat(t *Task, a *[6]uint64) uint64 {
	return sysNewfstatatFile(t, &[6]uint64{atFDCWD, a[0], a[1], 0})
}

func sysLstat(t *Task, a *[6]uint64) uint64 {
	return sysNewfstatatFile(t, &[6]uint64{atFDCWD, a[0], a[1], unix.AT_SYMLINK_NOFOLLOW})
}

// sysNewfstatatFile serves newfstatat: EINVAL for unknown flags, then the
// lookup (statAt).
func sysNewfstatatFile(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT|unix.AT_EMPTY_PATH) != 0 {
		return errno(unix.EINVAL)
	}
	st, e := t.statPath(a[0], arch.Addr(a[1]), flags)
	if e != 0 {
		return errno(e)
	}
	return t.putStat(a[2], &st)
}

// statxSize is sizeof(struct statx): unix.Statx_t has its layout, which
// the ABI test checks against what the host kernel writes.
const statxSize = int(unsafe.Sizeof(unix.Statx_t{}))

// atStatxSyncType is AT_STATX_SYNC_TYPE: the statx flags that say how to
// sync (the value 3 of the two bits is invalid).
const atStatxSyncType = 0x6000

// statxReserved is STATX__RESERVED: mask bits no kernel may be asked for.
const statxReserved = 0x80000000

// sysStatx serves statx from the same view as newfstatat: the basic
// fields (STATX_BASIC_STATS), no birth time and no mount id.
func sysStatx(t *Task, a *[6]uint64) uint64 {
	flags, mask := uint32(a[2]), uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT|unix.AT_EMPTY_PATH|atStatxSyncType) != 0 ||
		flags&atStatxSyncType == atStatxSyncType || mask&statxReserved != 0 {
		return errno(unix.EINVAL)
	}
	st, e := t.statPath(a[0], arch.Addr(a[1]), flags)
	if e != 0 {
		return errno(e)
	}
	sx := statxOf(&st)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&sx)), statxSize)
	return t.copyOutAll(arch.Addr(a[4]), b)
}

// statxOf lays st out as struct statx.
func statxOf(st *unix.Stat_t) unix.Statx_t {
	ts := func(t unix.Timespec) unix.StatxTimestamp {
		return unix.StatxTimestamp{Sec: t.Sec, Nsec: uint32(t.Nsec)}
	}
	return unix.Statx_t{
		Mask:       unix.STATX_BASIC_STATS,
		Blksize:    uint32(st.Blksize),
		Nlink:      uint32(st.Nlink),
		Uid:        st.Uid,
		Gid:        st.Gid,
		Mode:       uint16(st.Mode),
		Ino:        st.Ino,
		Size:       uint64(st.Size),
		Blocks:     uint64(st.Blocks),
		Atime:      ts(st.Atim),
		Ctime:      ts(st.Ctim),
		Mtime:      ts(st.Mtim),
		Rdev_major: unix.Major(st.Rdev),
		Rdev_minor: unix.Minor(st.Rdev),
		Dev_major:  unix.Major(st.Dev),
		Dev_minor:  unix.Minor(st.Dev),
	}
}

// faccessat checks mode and flags as Linux does (EINVAL), then answers
// as the thread's real user unless AT_EACCESS (accessCreds): the search
// of the path and the file's permission for mode (EACCES; X_OK on a
// non-directory wants some execute bit even of root), then W_OK of a
// view's file (or the program) is EROFS.
func (t *Task) faccessat(dirfd uint64, addr arch.Addr, mode, flags uint64) uint64 {
	if uint32(mode)&^7 != 0 {
		return errno(unix.EINVAL)
	}
	if uint32(flags)&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return errno(unix.EINVAL)
	}
	return t.withCreds(t.cred.accessCreds(flags), func() uint64 {
		return t.accessChecks(dirfd, addr, access(mode), flags)
	})
}

// accessChecks is faccessat's lookup and checks, under the credentials it
// checks with.
func (t *Task) accessChecks(dirfd uint64, addr arch.Addr, want access, flags uint64) uint64 {
	st, f, e := t.statAt(dirfd, addr, uint32(flags))
	if e == 0 && f != nil {
		st, e = t.stdioOrPipeStat(f)
		if e == 0 && want&mayExec != 0 {
			return errno(unix.EACCES)
		}
		return result(0, errOrNil(e))
	}
	if e != 0 {
		return errno(e)
	}
	if e := t.cred.permission(&st, want); e != 0 {
		return errno(e)
	}
	typ := st.Mode & unix.S_IFMT
	if want&mayWrite != 0 && isViewDev(st.Dev) && (typ == unix.S_IFREG || typ == unix.S_IFDIR || typ == unix.S_IFLNK) {
		return errno(unix.EROFS)
	}
	return 0
}

func sysAccess(t *Task, a *[6]uint64) uint64 {
	return t.faccessat(atFDCWD, arch.Addr(a[0]), a[1], 0)
}

func sysFaccessat(t *Task, a *[6]uint64) uint64 {
	return t.faccessat(a[0], arch.Addr(a[1]), a[2], 0)
}

func sysFaccessat2(t *Task, a *[6]uint64) uint64 {
	return t.faccessat(a[0], arch.Addr(a[1]), a[2], a[3])
}

// isViewDev says whether dev is one of the synthetic devices a host file
// shows (fileSystem.hostIno): a file on the read-only file system.
func isViewDev(dev uint64) bool {
	return unix.Major(dev) == 0 && unix.Minor(dev) >= firstViewDev
}
