package syscalls

import (
	"encoding/binary"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// kcmp(2) compares a kernel object two tasks hold, as Linux's
// kernel/kcmp.c: 0 if it is the same, else 1 or 2 by an order that is
// the objects' identities obfuscated by a random cookie per kind, so
// that only equality means anything. The objects are mmvm's: an open
// file description, the address space (Process.space), the fd table,
// the fs state and the signal actions (a process's own: a thread shares
// them, a fork's child has copies). The guest does no block I/O and has
// no semaphores, so every task's io_context and SEM_UNDO list are NULL,
// as they are on Linux for such a task: KCMP_IO and KCMP_SYSVSEM say
// equal.

// The kinds of kcmp (linux/kcmp.h).
const (
	kcmpFile = iota
	kcmpVM
	kcmpFiles
	kcmpFS
	kcmpSighand
	kcmpIO
	kcmpSysvsem
	kcmpEpollTFD
	kcmpTypes
)

// kcmpEpollSlotSize is sizeof(struct kcmp_epoll_slot): efd, tfd, toff.
const kcmpEpollSlotSize = 12

func sysKcmp(t *Task, a *[6]uint64) uint64 {
	pid1, pid2, kind, idx1, idx2 := int32(a[0]), int32(a[1]), int32(a[2]), a[3], a[4]
	var t1, t2 *Task
	if pid1 > 0 {
		t1 = t.tree.task(int(pid1))
	}
	if pid2 > 0 {
		t2 = t.tree.task(int(pid2))
	}
	if t1 == nil || t2 == nil {
		return errno(unix.ESRCH)
	}
	if !t.mayAccess(t1) || !t.mayAccess(t2) {
		return errno(unix.EPERM)
	}
	p1, p2 := t1.Process, t2.Process
	switch kind {
	case kcmpFile:
		f1, f2 := p1.kcmpFile(idx1), p2.kcmpFile(idx2)
		if f1 == nil || f2 == nil {
			return errno(unix.EBADF)
		}
		return t.kcmpOrder(kcmpFile, uintptr(unsafe.Pointer(f1)), uintptr(unsafe.Pointer(f2)))
	case kcmpVM:
		return t.kcmpOrder(kcmpVM, p1.kcmpSpace(), p2.kcmpSpace())
	case kcmpFiles:
		return t.kcmpOrder(kcmpFiles, p1.kcmpFiles(), p2.kcmpFiles())
	case kcmpFS:
		return t.kcmpOrder(kcmpFS, p1.kcmpFiles(), p2.kcmpFiles()) // exit_fs and exit_files both at exit
	case kcmpSighand:
		return t.kcmpOrder(kcmpSighand, uintptr(unsafe.Pointer(&p1.sigactions)), uintptr(unsafe.Pointer(&p2.sigactions)))
	case kcmpIO, kcmpSysvsem:
		return 0
	case kcmpEpollTFD:
		return t.kcmpEpollTarget(p1, p2, idx1, arch.Addr(idx2))
	}
	return errno(unix.EINVAL)
}

// kcmpFile is the description fd idx names in p (an unsigned int: the
// high half of idx is dropped, as Linux's get_file_raw_ptr takes it);
// nil for none, or once p has ended (its files are gone, as Linux's
// exit_files).
func (p *Process) kcmpFile(idx uint64) *openFile {
	fd := uint32(idx)
	if p.ended.Load() || fd > 1<<31-1 {
		return nil
	}
	e, ok := p.files().fds[int32(fd)]
	if !ok {
		return nil
	}
	return e.file
}

// kcmpSpace is p's address space, 0 once p has ended (its mm is gone).
func (p *Process) kcmpSpace() uintptr {
	if p.ended.Load() {
		return 0
	}
	return uintptr(p.space)
}

// kcmpFiles is p's fd table, 0 once p has ended.
func (p *Process) kcmpFiles() uintptr {
	if p.ended.Load() {
		return 0
	}
	return uintptr(unsafe.Pointer(&p.fdt))
}

// kcmpOrder is Linux's kcmp_ptr: v1 and v2 obfuscated as kptr_obfuscate
// does, then 0 if equal, 1 if the first is less, 2 if greater, compared
// as signed longs.
func (t *Task) kcmpOrder(kind int, v1, v2 uintptr) uint64 {
	c := t.tree.kcmpCookies
	if c == nil {
		c = new([kcmpTypes][2]uint64)
		b := make([]byte, 16*kcmpTypes)
		t.cfg.Random(b)
		for i := range c {
			c[i][0] = binary.LittleEndian.Uint64(b[16*i:])
			c[i][1] = binary.LittleEndian.Uint64(b[16*i+8:]) | 1<<63 | 1
		}
		t.tree.kcmpCookies = c
	}
	o1 := int64((uint64(v1) ^ c[kind][0]) * c[kind][1])
	o2 := int64((uint64(v2) ^ c[kind][0]) * c[kind][1])
	switch {
	case o1 < o2:
		return 1
	case o1 > o2:
		return 2
	}
	return 0
}

// kcmpEpollTarget is Linux's kcmp_epoll_target: whether fd idx1 of p1
// is the file that p2's epoll instance (the slot's efd) watches as the
// toff-th item with fd tfd, in the instance's order (by file, then fd).
// EBADF for fds that name nothing, EFAULT for the slot, EINVAL for an
// efd that is no epoll instance, ENOENT for no such item.
func (t *Task) kcmpEpollTarget(p1, p2 *Process, idx1 uint64, slot arch.Addr) uint64 {
	f1 := p1.kcmpFile(idx1)
	if f1 == nil {
		return errno(unix.EBADF)
	}
	var b [kcmpEpollSlotSize]byte
	if _, err := t.cfg.Memory.CopyIn(slot, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	le := binary.LittleEndian
	efd, tfd, toff := le.Uint32(b[0:]), int32(le.Uint32(b[4:])), le.Uint32(b[8:])
	ef := p2.kcmpFile(uint64(efd))
	if ef == nil {
		return errno(unix.EBADF)
	}
	ep, ok := ef.anon.(*epollInstance)
	if !ok {
		return errno(unix.EINVAL)
	}
	var files []*openFile
	for k := range ep.items {
		if k.fd == tfd {
			files = append(files, k.file)
		}
	}
	slices.SortFunc(files, func(x, y *openFile) int {
		return compareUintptr(uintptr(unsafe.Pointer(x)), uintptr(unsafe.Pointer(y)))
	})
	if uint64(toff) >= uint64(len(files)) {
		return errno(unix.ENOENT)
	}
	return t.kcmpOrder(kcmpFile, uintptr(unsafe.Pointer(f1)), uintptr(unsafe.Pointer(files[toff])))
}

func compareUintptr(a, b uintptr) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
