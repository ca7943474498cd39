package machine

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/loader"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/syscalls"
)

// memoryCalls serves the memory system calls from mm; a file-backed mmap
// maps the Mappable syscalls found behind the fd (nil where there is none:
// mm answers EBADF).
type memoryCalls struct{ mm *mm.MemoryManager }

var _ syscalls.MemoryCalls = memoryCalls{}
var _ syscalls.Memory = memoryCalls{}

func (c memoryCalls) CopyIn(addr arch.Addr, dst []byte) (int, error) {
	return c.mm.CopyIn(addr, dst, mm.IOOpts{})
}

func (c memoryCalls) CopyOut(addr arch.Addr, src []byte) (int, error) {
	return c.mm.CopyOut(addr, src, mm.IOOpts{})
}

func (c memoryCalls) Mmap(addr, length, prot, flags uint64, file *syscalls.MmapFile, off uint64) (uint64, error) {
	var mf *mm.MappedFile
	if file != nil {
		mf = &mm.MappedFile{Mappable: file.Mappable, Identity: file.Identity, Readable: file.Readable, Writable: file.Writable}
	}
	a, err := c.mm.MMap(addr, length, prot, flags, mf, off)
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

// processView is what the guest's /proc shows of the program: mm's vmas
// and figures.
type processView struct{ mm *mm.MemoryManager }

var _ syscalls.ProcessView = processView{}

func (v processView) Maps() string { return v.mm.Maps() }

// SMaps lays each vma out as Linux's /proc/pid/smaps does, with the
// figures mm keeps: every resident page counts as private and dirty (mm
// does not tell a file's cached page from a private copy of it), and as
// anonymous in a vma that maps no file; there is no swap and no sharing
// between processes, so Pss is Rss.
func (v processView) SMaps() string {
	var b strings.Builder
	for _, vi := range v.mm.VMAs() {
		b.WriteString(vi.String())
		b.WriteByte('\n')
		kb := func(name string, n uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", name+":", n>>10) }
		anon := uint64(0)
		if !vi.Shared && vi.Inode == 0 {
			anon = vi.Resident
		}
		locked := uint64(0)
		if vi.MLockMode != memmap.MLockNone {
			locked = vi.Resident
		}
		kb("Size", vi.Range.Length())
		kb("KernelPageSize", arch.PageSize)
		kb("MMUPageSize", arch.PageSize)
		kb("Rss", vi.Resident)
		kb("Pss", vi.Resident)
		kb("Shared_Clean", 0)
		kb("Shared_Dirty", 0)
		kb("Private_Clean", 0)
		kb("Private_Dirty", vi.Resident)
		kb("Referenced", vi.Resident)
		kb("Anonymous", anon)
		kb("Swap", 0)
		kb("Locked", locked)
	}
	return b.String()
}

func (v processView) MemoryStatus() syscalls.MemoryStatus {
	s := v.mm.Stats()
	return syscalls.MemoryStatus{
		VmPeak: s.VirtualSize, VmSize: s.VirtualSize, VmLck: s.LockedSize,
		VmHWM: s.PeakRSS, VmRSS: s.RSS, VmData: s.DataSize, VmStk: s.StackSize,
	}
}

func (v processView) MmapMinAddr() uint64 { return uint64(v.mm.Layout().MinAddr) }
func (v processView) Overcommit() int     { return v.mm.Limits().Overcommit.Mode }

// mapHostFile makes a host file mappable as the program's own image is: a
// loader.ImageFile caching its pages in the MemoryFile.
func (m *Machine) mapHostFile(f *os.File, size int64, name string, dev, ino uint64) (syscalls.MappableFile, error) {
	return loader.NewImageFile(m.mf, f, size, loader.ImageIdentity{Name: name, Device: dev, Inode: ino})
}
