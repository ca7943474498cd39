package mmdiff

import "golang.org/x/sys/unix"

// System is a memory manager driven through Linux's memory system calls,
// with raw arguments and Linux's results: an address or 0, and 0 or the
// errno Linux would return. Host is one (the oracle); the memory manager
// under test is the other.
type System interface {
	MMap(addr, length uint64, prot, flags, fd int, off uint64) (uint64, unix.Errno)
	MUnmap(addr, length uint64) unix.Errno
	MRemap(oldAddr, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, unix.Errno)
	MProtect(addr, length uint64, prot int) unix.Errno
	Madvise(addr, length uint64, advice int) unix.Errno
	// MLock is mlock2; flags 0 is mlock.
	MLock(addr, length uint64, flags int) unix.Errno
	MUnlock(addr, length uint64) unix.Errno
	MSync(addr, length uint64, flags int) unix.Errno
	// MinCore fills vec, one byte a page from addr, as mincore does; vec
	// is at least VecLen(addr, length) long.
	MinCore(addr, length uint64, vec []byte) unix.Errno
	// CopyOut writes src at addr as the kernel's copy to user memory does:
	// it faults as the program would (growing a grows-down vma whose hole
	// it reaches), stops at the first page the program could not write
	// and returns how many bytes it wrote, with EFAULT if that is short.
	CopyOut(addr uint64, src []byte) (int, unix.Errno)
	// CopyIn reads into dst likewise.
	CopyIn(addr uint64, dst []byte) (int, unix.Errno)
	// ZeroOut writes n zero bytes at addr likewise.
	ZeroOut(addr, n uint64) (int, unix.Errno)
	// Layout returns the mappings within [Base, Base+Size), in address
	// order, as /proc/pid/maps shows them.
	Layout() ([]Mapping, error)
	// LockedBytes returns the bytes of mlocked vmas (VmLck); ok is false
	// when the system cannot say.
	LockedBytes() (n uint64, ok bool)
}

// VecLen returns how many bytes of vec mincore(addr, length) may write.
func VecLen(addr, length uint64) int {
	pages := length/pageSize + 1
	return int(min(pages, Size/pageSize+2))
}
