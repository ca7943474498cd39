package syscalls

import (
	"time"

	"golang.org/x/sys/unix"
)

// memfd_create(MFD_HUGETLB): a file of a hugetlbfs whose pool of 2 MiB
// huge pages is empty, as Linux serves one on a machine with no huge
// pages reserved (mmvm has none: /proc/meminfo's HugePages_Total is 0).
// The file is made; its size may be set in whole huge pages (ftruncate;
// EINVAL otherwise) and reads as zeros, but no page can ever back it:
// mmap is ENOMEM and fallocate ENOSPC, as the failed reservation is; a
// write is EINVAL (hugetlbfs has none). Only the 2 MiB size exists
// (another MFD_HUGE_* is ENODEV).

// hugePageSize is the one huge page size, and its log2 as MFD_HUGE_*
// encodes it.
const (
	hugePageSize  = 2 << 20
	hugePageShift = 21
	mfdHugeShift  = 26
	mfdHugeMask   = 0x3f
)

// hugetlbFile is a hugetlbfs memfd's state: its size and seals.
type hugetlbFile struct {
	size  int64
	seals uint32
}

// hugetlbDev is the hugetlbfs mount's device that fstat shows.
var hugetlbDev = unix.Mkdev(0, 0x17)

// hugetlbIno numbers the hugetlbfs memfds.
var hugetlbIno uint64

// newHugetlbMemfd makes the fsFile of memfd_create(name, flags) with
// MFD_HUGETLB: ENODEV for a huge page size other than 2 MiB.
func (p *Process) newHugetlbMemfd(name string, flags uint32) (*fsFile, unix.Errno) {
	if size := flags >> mfdHugeShift & mfdHugeMask; size != 0 && size != hugePageShift {
		return nil, unix.ENODEV
	}
	seals := uint32(unix.F_SEAL_SEAL)
	if flags&mfdAllowSealing != 0 {
		seals = 0
	}
	hugetlbIno++
	ts := unix.NsecToTimespec(time.Now().UnixNano())
	return &fsFile{
		path: "/memfd:" + name + " (deleted)",
		st: unix.Stat_t{Dev: hugetlbDev, Ino: hugetlbIno, Nlink: 1, Mode: unix.S_IFREG | 0o777, Blksize: hugePageSize,
			Uid: guestID, Gid: guestID, Atim: ts, Mtim: ts, Ctim: ts},
		huge: &hugetlbFile{seals: seals},
	}, 0
}

// hugetlbStat is fstat of a hugetlbfs memfd: its size, no blocks.
func hugetlbStat(f *fsFile) unix.Stat_t {
	st := f.st
	st.Size = f.huge.size
	return st
}

// hugetlbTruncate is ftruncate: whole huge pages only (EINVAL), within
// the seals (EPERM).
func hugetlbTruncate(h *hugetlbFile, size int64) unix.Errno {
	switch {
	case size%hugePageSize != 0:
		return unix.EINVAL
	case size < h.size && h.seals&unix.F_SEAL_SHRINK != 0, size > h.size && h.seals&unix.F_SEAL_GROW != 0:
		return unix.EPERM
	}
	h.size = size
	return 0
}

// hugetlbSeals serves F_GET_SEALS and F_ADD_SEALS: EPERM once F_SEAL_SEAL
// is set, EINVAL for an unknown seal.
func hugetlbSeals(h *hugetlbFile, cmd uint32, arg uint64) uint64 {
	const known = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_EXEC
	if cmd == unix.F_GET_SEALS {
		return uint64(h.seals)
	}
	if uint32(arg)&^known != 0 {
		return errno(unix.EINVAL)
	}
	if h.seals&unix.F_SEAL_SEAL != 0 {
		return errno(unix.EPERM)
	}
	h.seals |= uint32(arg)
	return 0
}
