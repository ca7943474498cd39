package syscalls

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// sysMmap finds what a file-backed mmap maps (mmapFile) and passes the
// call to mm; an fd that is not open is EBADF, as Linux's fget answers
// before any other check.
func sysMmap(t *Task, a *[6]uint64) uint64 {
	flags := a[3]
	var file *MmapFile
	var writeSealed bool
	if flags&unix.MAP_ANONYMOUS == 0 {
		f, anon, sealed, e := t.mmapFile(a[4], flags)
		if e != 0 {
			return errno(e)
		}
		if anon {
			flags |= unix.MAP_ANONYMOUS
		}
		file, writeSealed = f, sealed
	}
	var addr arch.Addr
	var err error
	prot := t.readImpliesExec(a[2])
	mmap := func() { addr, err = t.cfg.Calls.MMap(a[0], a[1], prot, flags, file, a[5]) }
	if file == nil {
		t.withoutLock(mmap)
	} else {
		// The file stays referenced through the fd table only while
		// p.mu is held: another thread's close could release it.
		mmap()
	}
	if writeSealed && errors.Is(err, unix.EACCES) {
		// A shared writable mapping of a write-sealed memfd: what
		// Linux's memfd_check_seals_mmap answers.
		err = unix.EPERM
	}
	return addrResult(addr, err)
}

// addrResult is result for the calls that return an address.
func addrResult(a arch.Addr, err error) uint64 { return result(uint64(a), err) }

func sysMunmap(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MUnmap(a[0], a[1]) }))
}

func sysMremap(t *Task, a *[6]uint64) uint64 {
	var addr arch.Addr
	var err error
	t.withoutLock(func() { addr, err = t.cfg.Calls.MRemap(a[0], a[1], a[2], a[3], a[4]) })
	return addrResult(addr, err)
}

func sysMprotect(t *Task, a *[6]uint64) uint64 {
	prot := t.readImpliesExec(a[2])
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MProtect(a[0], a[1], prot) }))
}

// sysBrk returns the new break, or the unchanged one when the request
// fails, which is how brk(2) reports failure.
func sysBrk(t *Task, a *[6]uint64) uint64 {
	var brk arch.Addr
	t.withoutLock(func() { brk, _ = t.cfg.Calls.Brk(a[0]) })
	return uint64(brk)
}

// sysMadvise passes the call to mm, which also stops a MADV_POPULATE_*
// of a huge range between steps when the run's context ends (mm.Options'
// Interrupted, wired to Process.Stopping by the machine).
func sysMadvise(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.Madvise(a[0], a[1], a[2]) }))
}

func sysMlock(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MLock2(a[0], a[1], 0) }))
}

func sysMlock2(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MLock2(a[0], a[1], a[2]) }))
}

func sysMseal(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MSeal(a[0], a[1], a[2]) }))
}

func sysMunlock(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MUnlock(a[0], a[1]) }))
}

func sysMlockall(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MLockAll(a[0]) }))
}

func sysMunlockall(t *Task, _ *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MUnlockAll() }))
}

func sysMsync(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MSync(a[0], a[1], a[2]) }))
}

// mincoreChunk is how many pages one step of mincore covers: like Linux,
// mmvm fills and copies the vector a piece at a time, so a huge length costs
// no huge host buffer; between steps the call ends with EINTR if the run's
// context has ended.
const mincoreChunk = 4096

func sysMincore(t *Task, a *[6]uint64) uint64 {
	addr, length, vecAddr := a[0], a[1], a[2]
	if addr&arch.PageMask != 0 {
		return errno(unix.EINVAL)
	}
	if end, ok := arch.Addr(addr).AddLength(length); !ok || end > arch.MaxUserAddr {
		return errno(unix.ENOMEM)
	}
	pages := (length + arch.PageMask) >> arch.PageShift
	vec := make([]byte, min(pages, mincoreChunk))
	for done := uint64(0); done < pages; {
		if t.interrupted() {
			return errno(unix.EINTR)
		}
		n := min(pages-done, mincoreChunk)
		start := addr + done<<arch.PageShift
		if err := t.memoryCall(func() error { return t.cfg.Calls.MinCore(start, min(n<<arch.PageShift, addr+length-start), vec[:n]) }); err != nil {
			return result(0, err)
		}
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(vecAddr+done), vec[:n]); err != nil {
			return errno(unix.EFAULT)
		}
		done += n
	}
	return 0
}

// memoryCall runs mm's call f with p.mu released: mm has its own locks,
// and a call may populate GiBs, which must not hold up the other threads'
// calls.
func (t *Task) memoryCall(f func() error) error {
	var err error
	t.withoutLock(func() { err = f() })
	return err
}
