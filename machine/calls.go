package machine

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/syscalls"
)

// memoryCalls serves the memory system calls from mm. The guest has no file
// system, so a file-backed mmap names no open file: EBADF, as Linux answers
// for an fd that is not open.
type memoryCalls struct{ mm *mm.MemoryManager }

var _ syscalls.MemoryCalls = memoryCalls{}
var _ syscalls.Memory = memoryCalls{}

func (c memoryCalls) CopyIn(addr arch.Addr, dst []byte) (int, error) {
	return c.mm.CopyIn(addr, dst, mm.IOOpts{})
}

func (c memoryCalls) CopyOut(addr arch.Addr, src []byte) (int, error) {
	return c.mm.CopyOut(addr, src, mm.IOOpts{})
}

func (c memoryCalls) Mmap(addr, length, prot, flags, fd, off uint64) (uint64, error) {
	if flags&unix.MAP_ANONYMOUS == 0 {
		return 0, unix.EBADF
	}
	a, err := c.mm.MMap(addr, length, prot, flags, nil, off)
	return uint64(a), err
}

func (c memoryCalls) Munmap(addr, length uint64) error { return c.mm.MUnmap(addr, length) }

func (c memoryCalls) Mremap(oldAddr, oldSize, newSize, flags, newAddr uint64) (uint64, error) {
	a, err := c.mm.MRemap(oldAddr, oldSize, newSize, flags, newAddr)
	return uint64(a), err
}

func (c memoryCalls) Mprotect(addr, length, prot uint64) error {
	return c.mm.MProtect(addr, length, prot)
}

// Brk returns the new break, or the unchanged one when the request fails,
// which is how brk(2) reports failure.
func (c memoryCalls) Brk(addr uint64) uint64 {
	a, _ := c.mm.Brk(addr)
	return uint64(a)
}

func (c memoryCalls) Madvise(addr, length, advice uint64) error {
	return c.mm.Madvise(addr, length, advice)
}

func (c memoryCalls) Mlock(addr, length, flags uint64) error {
	return c.mm.MLock2(addr, length, flags)
}

func (c memoryCalls) Munlock(addr, length uint64) error { return c.mm.MUnlock(addr, length) }
func (c memoryCalls) Mlockall(flags uint64) error       { return c.mm.MLockAll(flags) }
func (c memoryCalls) Munlockall() error                 { return c.mm.MUnlockAll() }

func (c memoryCalls) Msync(addr, length, flags uint64) error {
	return c.mm.MSync(addr, length, flags)
}

func (c memoryCalls) Mincore(addr, length uint64, vec []byte) error {
	return c.mm.MinCore(addr, length, vec)
}

// usage is the program's memory figures for sysinfo and getrusage.
func (m *Machine) usage() syscalls.Usage {
	s := m.MM.Stats()
	return syscalls.Usage{RSS: s.RSS, PeakRSS: s.PeakRSS, Faults: s.Faults}
}

// processLimits are the limits getrlimit reports: mm's, which it enforces,
// RLIMIT_NOFILE, which bounds the guest's fd table, at Linux's defaults
// (1024, hard 4096), and RLIMIT_SIGPENDING, which bounds the queued
// signals, at the host's (Linux sizes it from the machine's memory).
func processLimits(l mm.Limits) map[int]syscalls.Limit {
	lim := func(v uint64) syscalls.Limit {
		if v == mm.Unlimited {
			return syscalls.Limit{Cur: ^uint64(0), Max: ^uint64(0)}
		}
		return syscalls.Limit{Cur: v, Max: v}
	}
	return map[int]syscalls.Limit{
		unix.RLIMIT_AS:         lim(l.AS),
		unix.RLIMIT_DATA:       lim(l.Data),
		unix.RLIMIT_MEMLOCK:    lim(l.MemLock),
		unix.RLIMIT_STACK:      lim(l.Stack),
		unix.RLIMIT_NOFILE:     {Cur: 1024, Max: 4096},
		unix.RLIMIT_SIGPENDING: hostSigpending(),
	}
}

// hostSigpending is the host's RLIMIT_SIGPENDING, or Linux's smallest
// default (max_threads/2 on a small machine) where it cannot be read or is
// unlimited: the guest's queue of signals must stay bounded.
func hostSigpending() syscalls.Limit {
	const fallback = 1024
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_SIGPENDING, &l); err != nil || l.Cur == unix.RLIM_INFINITY {
		return syscalls.Limit{Cur: fallback, Max: fallback}
	}
	return syscalls.Limit{Cur: l.Cur, Max: l.Max}
}
