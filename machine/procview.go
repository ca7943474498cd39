package machine

import (
	"fmt"
	"os"
	"strings"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/loader"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/syscalls"
)

// What the program's calls see of its own state: the figures sysinfo and
// getrusage report, its /proc, and the host files it maps.

// processView is what the guest's /proc shows of a process: its mm's
// vmas and figures.
type processView struct{ p *process }

var _ syscalls.ProcessView = processView{}

// Maps is the mm's vmas, then the vsyscall page where there is one, which
// Linux lists last (the gate vma) though no vma holds it.
func (v processView) Maps() string {
	if v.p.m.vsyscall() == VsyscallNone {
		return v.p.mm().Maps()
	}
	return v.p.mm().Maps() + syscalls.VsyscallMapsLine
}

// SMaps lays each vma out as Linux's /proc/pid/smaps does (__show_smap
// and show_smap_vma_flags), with the figures mm keeps: every resident page
// counts as private and dirty (mm does not tell a file's cached page from
// a private copy of it), and as anonymous in a vma that maps no file;
// there is no swap, no KSM, no transparent huge page and no sharing
// between processes, so Pss is Rss. THPeligible is 0: mm never maps a
// huge page. There is no ProtectionKey line, as on a host without pkeys.
func (v processView) SMaps() string {
	var b strings.Builder
	for _, vi := range v.p.mm().VMAs() {
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
		kb("Pss_Dirty", vi.Resident)
		kb("Shared_Clean", 0)
		kb("Shared_Dirty", 0)
		kb("Private_Clean", 0)
		kb("Private_Dirty", vi.Resident)
		kb("Referenced", vi.Resident)
		kb("Anonymous", anon)
		for _, name := range []string{"KSM", "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped",
			"Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss"} {
			kb(name, 0)
		}
		kb("Locked", locked)
		fmt.Fprintf(&b, "%-16s%8d\n", "THPeligible:", 0)
		fmt.Fprintf(&b, "VmFlags: %s\n", vi.Flags)
	}
	if v.p.m.vsyscall() != VsyscallNone {
		b.WriteString(vsyscallSMaps)
	}
	return b.String()
}

// vsyscallSMaps is the vsyscall page's smaps entry: nothing resident, and
// only VM_EXEC among its flags, as vsyscall=xonly leaves the gate vma.
var vsyscallSMaps = func() string {
	var b strings.Builder
	b.WriteString(syscalls.VsyscallMapsLine)
	kb := func(name string, n uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", name+":", n>>10) }
	kb("Size", arch.PageSize)
	kb("KernelPageSize", arch.PageSize)
	kb("MMUPageSize", arch.PageSize)
	for _, name := range []string{"Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
		"Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages", "ShmemPmdMapped",
		"FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked"} {
		kb(name, 0)
	}
	fmt.Fprintf(&b, "%-16s%8d\n", "THPeligible:", 0)
	b.WriteString("VmFlags: ex \n")
	return b.String()
}()

func (v processView) Pagemap(start arch.Addr, entries []uint64) { v.p.mm().Pagemap(start, entries) }

// VMAList describes each vma for PROCMAP_QUERY: a vma with an inode maps a
// file (shared memory included, as Linux's shmem file), the vDSO and
// [vvar] none.
func (v processView) VMAList() []syscalls.ProcVMA {
	infos := v.p.mm().VMAs()
	out := make([]syscalls.ProcVMA, len(infos))
	for i, vi := range infos {
		out[i] = syscalls.ProcVMA{
			Start: vi.Range.Start, End: vi.Range.End,
			Read: vi.Perms.Read, Write: vi.Perms.Write, Exec: vi.Perms.Execute, MayShare: vi.Shared,
			File: vi.Inode != 0, Offset: vi.Offset, Dev: vi.Dev, Inode: vi.Inode, Name: vi.Name,
		}
	}
	return out
}

func (v processView) MemoryStatus() syscalls.MemoryStatus {
	s := v.p.mm().Stats()
	st := syscalls.MemoryStatus{
		VmPeak: s.VirtualSize, VmSize: s.VirtualSize, VmLck: s.LockedSize,
		VmHWM: s.PeakRSS, VmRSS: s.RSS, VmData: s.DataSize, VmStk: s.StackSize,
		VmExe: s.CodeSize, VmLib: s.LibSize,
	}
	// RssAnon is private memory that maps no file, RssShmem shared
	// memory, RssFile the rest (mm does not tell a private copy of a
	// file's page from the file's own).
	for _, vi := range v.p.mm().VMAs() {
		switch {
		case vi.Shmem:
			st.RssShmem += vi.Resident
		case !vi.Shared && vi.Inode == 0:
			st.RssAnon += vi.Resident
		}
	}
	st.RssFile = s.RSS - min(s.RSS, st.RssAnon+st.RssShmem)
	thp, _ := v.p.mm().THPDisable([4]uint64{})
	st.THPEnabled = thp&1 == 0 || thp&mm.THPDisableExceptAdvised != 0
	return st
}

func (v processView) MmapMinAddr() uint64 { return uint64(v.p.mm().Layout().MinAddr) }
func (v processView) Overcommit() int     { return v.p.mm().Limits().Overcommit.Mode }

// mapHostFile makes a host file mappable as the program's own image is: a
// loader.ImageFile caching its pages in the MemoryFile.
func (m *Machine) mapHostFile(f *os.File, size int64, name string, dev, ino uint64) (syscalls.MappableFile, error) {
	return loader.NewImageFile(m.mf, f, size, loader.ImageIdentity{Name: name, Device: dev, Inode: ino})
}

// newSharedFile makes a memfd's contents: shmem pages of the MemoryFile
// that mm maps and the fd reads and writes.
func (m *Machine) newSharedFile(name string, seals uint32) syscalls.SharedFile {
	return mm.NewMemfd(m.mf, name, seals)
}

// newTmpfsFile makes a tmpfs file's contents, as newSharedFile a memfd's.
func (m *Machine) newTmpfsFile(dev, ino uint64) syscalls.TmpfsFile {
	return mm.NewTmpfsFile(m.mf, dev, ino)
}
