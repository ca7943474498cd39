package syscalls

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// memfd_create and the calls that change a file's size or seals
// (ftruncate, fallocate, F_ADD_SEALS): a memfd is an fsFile whose contents
// are a SharedFile, the shmem object mm maps, so that reads and writes
// through the fd and every mapping of it see the same pages.

// SharedFile is a memfd's contents as the machine makes them (mm's
// SharedMemory): pages of the MemoryFile that mm maps (MAP_SHARED and
// MAP_PRIVATE) and the fd reads and writes. Errors are unix.Errno, as
// Linux's shmem answers. The fsFile holds one reference.
type SharedFile interface {
	MappableFile
	// Size is the file size; Blocks the bytes of pages backing it.
	Size() uint64
	Blocks() uint64
	ReadAt(dst []byte, off uint64) (int, error)
	WriteAt(src []byte, off uint64) (int, error)
	// Truncate sets the size; shrinking makes mapped pages past the
	// end SIGBUS.
	Truncate(size uint64) error
	// Allocate is fallocate mode 0 or FALLOC_FL_KEEP_SIZE; PunchHole
	// is FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE.
	Allocate(off, length uint64, keepSize bool) error
	PunchHole(off, length uint64) error
	// SeekData is lseek's SEEK_DATA (hole false) and SEEK_HOLE.
	SeekData(off uint64, hole bool) (uint64, error)
	// Seals and AddSeals are F_GET_SEALS and F_ADD_SEALS.
	Seals() uint32
	AddSeals(seals uint32) error
}

// SharedFileMaker makes an empty SharedFile named name (without
// "memfd:") whose seals start as seals.
type SharedFileMaker func(name string, seals uint32) SharedFile

// memfd_create's flags (include/uapi/linux/memfd.h).
const (
	mfdCloexec       = 0x1
	mfdAllowSealing  = 0x2
	mfdHugeTLB       = 0x4
	mfdNoexecSeal    = 0x8
	mfdExec          = 0x10
	mfdAllFlags      = mfdCloexec | mfdAllowSealing | mfdHugeTLB | mfdNoexecSeal | mfdExec
	mfdHugeSizeFlags = 0x3f << 26 // MFD_HUGE_MASK << MFD_HUGE_SHIFT
	// mfdNameMax is the longest name, NAME_MAX less "memfd:".
	mfdNameMax = 255 - len("memfd:")
)

// memfdDev is shmem's device (00:01), as fstat and /proc/self/maps show a
// memfd's.
const memfdDev = 1

// sysMemfdCreate checks as Linux's memfd_create does, in its order:
// unknown flags (huge page size bits only with MFD_HUGETLB), MFD_EXEC with
// MFD_NOEXEC_SEAL, then the name (EFAULT, EINVAL past 249 bytes).
// MFD_HUGETLB makes a file of a hugetlbfs with no huge pages (hugetlb.go),
// as Linux's on a machine with none reserved. The fd is opened O_RDWR; without MFD_ALLOW_SEALING
// F_SEAL_SEAL is set, so that no seal can be added; MFD_NOEXEC_SEAL makes
// the mode 0666 and sets F_SEAL_EXEC, sealing allowed.
func sysMemfdCreate(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[1])
	allowed := uint32(mfdAllFlags)
	if flags&mfdHugeTLB != 0 {
		allowed |= mfdHugeSizeFlags
	}
	if flags&^allowed != 0 {
		return errno(unix.EINVAL)
	}
	if flags&(mfdExec|mfdNoexecSeal) == mfdExec|mfdNoexecSeal {
		return errno(unix.EINVAL)
	}
	name, e := t.copyInString(arch.Addr(a[0]), mfdNameMax+1)
	if e == unix.ENAMETOOLONG {
		return errno(unix.EINVAL)
	}
	if e != 0 {
		return errno(e)
	}
	if flags&mfdHugeTLB != 0 {
		f, e := t.newHugetlbMemfd(name, flags)
		if e != 0 {
			return errno(e)
		}
		fd, e := t.lowestFree(0)
		if e != 0 {
			return errno(e)
		}
		t.install(fd, &openFile{stdio: -1, fs: f, flags: unix.O_RDWR | oLargefile}, flags&mfdCloexec != 0)
		return uint64(fd)
	}
	if t.cfg.NewSharedFile == nil {
		return errno(unix.ENOSYS)
	}
	fd, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	seals, mode := uint32(unix.F_SEAL_SEAL), uint32(0o777)
	switch {
	case flags&mfdNoexecSeal != 0:
		seals, mode = unix.F_SEAL_EXEC, 0o666
	case flags&mfdAllowSealing != 0:
		seals = 0
	}
	shm := t.cfg.NewSharedFile(name, seals)
	ts := unix.NsecToTimespec(time.Now().UnixNano())
	f := &fsFile{
		path: "/memfd:" + name + " (deleted)",
		st: unix.Stat_t{Dev: memfdDev, Ino: shm.InodeID(), Mode: unix.S_IFREG | mode, Blksize: arch.PageSize,
			Uid: guestID, Gid: guestID, Atim: ts, Mtim: ts, Ctim: ts},
		shm:    shm,
		xattrs: &xattrSet{},
	}
	f.holdXattrs()
	t.install(fd, &openFile{stdio: -1, fs: f, flags: unix.O_RDWR | oLargefile}, flags&mfdCloexec != 0)
	return uint64(fd)
}

// memfdStat is fstat of a memfd: its size and blocks now.
func memfdStat(f *fsFile) unix.Stat_t {
	st := f.st
	st.Size = int64(f.shm.Size())
	st.Blocks = int64(f.shm.Blocks() / 512)
	return st
}

// sysFtruncate checks as Linux's do_ftruncate does: EINVAL for a negative
// length, EBADF for an fd not open (or O_PATH), EINVAL for anything but a
// regular file opened for writing, which only a memfd is here.
func sysFtruncate(t *Task, a *[6]uint64) uint64 {
	if int64(a[1]) < 0 {
		return errno(unix.EINVAL)
	}
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil && f.fs.pathOnly {
		return errno(unix.EBADF)
	}
	if f.fs != nil && f.fs.huge != nil && f.flags&unix.O_ACCMODE != unix.O_RDONLY {
		return errno0(hugetlbTruncate(f.fs.huge, int64(a[1])))
	}
	if f.fs == nil || f.fs.shm == nil || f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return errno(unix.EINVAL)
	}
	if err := f.fs.shm.Truncate(a[1]); err != nil {
		return errno(toErrno(err))
	}
	if n := f.fs.node; n != nil && n.tmp != nil {
		n.tmp.mode = t.cred.killPrivs(n.tmp.mode, n.tmp.gid, false)
	}
	f.fs.modified()
	return 0
}

// sysFallocate checks as Linux's vfs_fallocate and shmem_fallocate do, in
// their order: the range, the mode, the fd's access, the file's type, the
// largest size; a memfd serves mode 0, FALLOC_FL_KEEP_SIZE (only the
// backing: its size stays) and FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
// any other mode is EOPNOTSUPP as shmem's.
func sysFallocate(t *Task, a *[6]uint64) uint64 {
	const supported = unix.FALLOC_FL_KEEP_SIZE | unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_NO_HIDE_STALE |
		unix.FALLOC_FL_COLLAPSE_RANGE | unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_INSERT_RANGE |
		unix.FALLOC_FL_UNSHARE_RANGE | 0x80 // FALLOC_FL_WRITE_ZEROES
	mode, off, length := uint32(a[1]), int64(a[2]), int64(a[3])
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs != nil && f.fs.pathOnly {
		return errno(unix.EBADF)
	}
	switch {
	case off < 0 || length <= 0:
		return errno(unix.EINVAL)
	case mode&^supported != 0:
		return errno(unix.EOPNOTSUPP)
	case mode&unix.FALLOC_FL_PUNCH_HOLE != 0 && mode&unix.FALLOC_FL_KEEP_SIZE == 0:
		return errno(unix.EOPNOTSUPP)
	case f.flags&unix.O_ACCMODE == unix.O_RDONLY:
		return errno(unix.EBADF)
	case f.pipe != nil:
		return errno(unix.ESPIPE)
	case f.fs != nil && f.fs.huge != nil:
		if mode&unix.FALLOC_FL_PUNCH_HOLE != 0 {
			return 0 // no page backs it
		}
		return errno(unix.ENOSPC) // the empty pool reserves nothing
	case f.fs == nil || f.fs.shm == nil:
		return errno(unix.ENODEV)
	case off+length < 0:
		return errno(unix.EFBIG)
	case mode&^(unix.FALLOC_FL_KEEP_SIZE|unix.FALLOC_FL_PUNCH_HOLE) != 0:
		return errno(unix.EOPNOTSUPP)
	}
	shm := f.fs.shm
	var err error
	if mode&unix.FALLOC_FL_PUNCH_HOLE != 0 {
		err = shm.PunchHole(uint64(off), uint64(length))
	} else {
		err = shm.Allocate(uint64(off), uint64(length), mode&unix.FALLOC_FL_KEEP_SIZE != 0)
	}
	if err == nil {
		f.fs.modified()
	}
	return result(0, err)
}

// memfdWrite writes length bytes from the guest at addr into f's memfd (or
// tmpfs file) at off, a chunk at a time: the bytes written, or the first
// chunk's error.
func (p *Process) memfdWrite(f *fsFile, addr arch.Addr, length, off uint64) (uint64, unix.Errno) {
	shm := f.shm
	defer f.modified()
	length = min(length, maxIO)
	buf := make([]byte, min(length, ioChunk))
	var done uint64
	for done < length {
		n, err := p.cfg.Memory.CopyIn(addr+arch.Addr(done), buf[:min(length-done, ioChunk)])
		if n == 0 && err != nil {
			if done == 0 {
				return 0, unix.EFAULT
			}
			break
		}
		w, werr := shm.WriteAt(buf[:n], off+done)
		done += uint64(w)
		if werr != nil {
			if done == 0 {
				return 0, toErrno(werr)
			}
			break
		}
		if err != nil || w < n || p.interrupted() {
			break
		}
	}
	return done, 0
}

// memfdFileWrite is write(2) on a memfd: at the file position, or at the
// end with O_APPEND, moving the position past what was written.
func (p *Process) memfdFileWrite(f *openFile, addr arch.Addr, length uint64) uint64 {
	pos := uint64(f.fs.pos)
	if f.flags&unix.O_APPEND != 0 {
		pos = f.fs.shm.Size()
	}
	n, e := p.memfdWrite(f.fs, addr, length, pos)
	if e != 0 {
		return errno(e)
	}
	f.fs.pos = int64(pos + n)
	return n
}

// sysPwrite64 writes at an offset without moving the position: ESPIPE for
// stdio and pipes, EINVAL for a negative offset, EBADF unless opened for
// writing; a device takes it as write does; a memfd opened O_APPEND takes
// the bytes at its end whatever the offset, as Linux's pwrite does.
func sysPwrite64(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs == nil || f.fs.pathOnly {
		if f.fs != nil {
			return errno(unix.EBADF)
		}
		return errno(unix.ESPIPE)
	}
	if int64(a[3]) < 0 {
		return errno(unix.EINVAL)
	}
	if f.fs.node != nil && f.fs.node.writeAt != nil {
		if !fsWritable(f) {
			return errno(unix.EBADF)
		}
		n, e := t.writeAtFrom(f.fs, arch.Addr(a[1]), a[2], int64(a[3]))
		return result(n, errOrNil(e))
	}
	if f.fs.shm == nil {
		return t.fsWrite(f, arch.Addr(a[1]), a[2])
	}
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return errno(unix.EBADF)
	}
	off := a[3]
	if f.flags&unix.O_APPEND != 0 {
		off = f.fs.shm.Size() // Linux's pwrite appends to an O_APPEND file
	}
	t.removePrivs(f, a[2])
	n, e := t.memfdWrite(f.fs, arch.Addr(a[1]), a[2], off)
	return result(n, errOrNil(e))
}

// memfdSeals serves F_GET_SEALS and F_ADD_SEALS: EINVAL for a file that is
// no memfd, EPERM adding to one not opened for writing.
func memfdSeals(f *openFile, cmd uint32, arg uint64) uint64 {
	if f.fs != nil && f.fs.huge != nil {
		if cmd == unix.F_ADD_SEALS && f.flags&unix.O_ACCMODE == unix.O_RDONLY {
			return errno(unix.EPERM)
		}
		return hugetlbSeals(f.fs.huge, cmd, arg)
	}
	if f.fs == nil || f.fs.shm == nil {
		return errno(unix.EINVAL)
	}
	if cmd == unix.F_GET_SEALS {
		return uint64(f.fs.shm.Seals())
	}
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return errno(unix.EPERM)
	}
	return result(0, f.fs.shm.AddSeals(uint32(arg)))
}

// memfdMmapFile is what an mmap of a memfd maps. A shared mapping of a
// write-sealed memfd may never write (Linux clears VM_MAYWRITE), and one
// asking for PROT_WRITE is EPERM (writeSealed tells sysMmap to turn mm's
// EACCES into it).
func memfdMmapFile(f *openFile, flags uint64) (file *MmapFile, writeSealed bool) {
	shm := f.fs.shm
	writable := f.flags&unix.O_ACCMODE == unix.O_RDWR
	typ := flags & unix.MAP_TYPE
	if (typ == unix.MAP_SHARED || typ == unix.MAP_SHARED_VALIDATE) && shm.Seals()&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		writable, writeSealed = false, true
	}
	return &MmapFile{Mappable: shm, Identity: shm, Readable: true, Writable: writable}, writeSealed
}

// sysMemfdSecret is memfd_secret(2) as Linux answers it where secretmem
// is off (secretmem.enable=0, or a kernel built without
// CONFIG_SECRETMEM): ENOSYS. What it promises cannot be given: a guest's
// pages are MemoryFile pages the host maps, never out of its reach.
// Linux 6.18 has it on by default (a host that gives an fd), so a program
// must handle ENOSYS anyway, as it does on such kernels.
func sysMemfdSecret(*Task, *[6]uint64) uint64 { return errno(unix.ENOSYS) }
