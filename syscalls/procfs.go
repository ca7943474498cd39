package syscalls

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// The guest's /proc: the program's own entries (/proc/self, a link to
// /proc/<pid>) and the machine-wide files programs read to size
// themselves, drawn from the program's real state through ProcessView.
// Each file's text is made when the program first reads it (Linux makes a
// seq_file's text at the first read too), so a file opened before an mmap
// and read after it shows the mapping.

// ProcessView is what /proc shows of the program's memory; machine
// implements it from mm.
type ProcessView interface {
	// Maps is /proc/self/maps: one line per vma in Linux's format.
	Maps() string
	// SMaps is /proc/self/smaps: each vma's maps line and its figures.
	SMaps() string
	// Pagemap fills entries with /proc/self/pagemap's entries for the
	// pages from address start on.
	Pagemap(start arch.Addr, entries []uint64)
	// VMAList is every vma, in address order, as PROCMAP_QUERY shows it.
	VMAList() []ProcVMA
	// MemoryStatus is the memory part of /proc/self/status.
	MemoryStatus() MemoryStatus
	// MmapMinAddr and Overcommit are /proc/sys/vm/mmap_min_addr and
	// /proc/sys/vm/overcommit_memory as the guest's memory follows them.
	MmapMinAddr() uint64
	Overcommit() int
}

// ProcVMA is one vma as the PROCMAP_QUERY ioctl of /proc/pid/maps
// describes it.
type ProcVMA struct {
	Start, End arch.Addr
	// Read, Write, Exec are its permissions; MayShare is VM_MAYSHARE
	// (MAP_SHARED).
	Read, Write, Exec, MayShare bool
	// File: the vma maps a file (Linux's vm_file); then Offset, Dev
	// (major<<8 | minor) and Inode say which and where.
	File               bool
	Offset, Dev, Inode uint64
	// Name is what maps shows after the inode: a path, [heap], [stack],
	// [vdso], or "".
	Name string
}

// MemoryStatus are the memory lines of /proc/self/status: the Vm* and
// Rss* figures in bytes, and whether THP is on (not PR_SET_THP_DISABLE).
type MemoryStatus struct {
	VmPeak, VmSize, VmLck, VmHWM, VmRSS, VmData, VmStk, VmExe, VmPTE uint64
	VmLib                                                            uint64
	RssAnon, RssFile, RssShmem                                       uint64
	THPEnabled                                                       bool
}

// addProc builds /proc in fs. The directory of the process's own pid
// (procSelf) is found under the pid of whichever process looks it up
// (children, walk), and its files show that process: every process of
// the VM shares the file system, and each sees itself in /proc.
func (p *Process) addProc(fs *fileSystem) {
	fs.procDir = fs.mkdirAll("/proc")
	self := fs.newNode(nodeDir)
	fs.procSelf = self
	link := fs.newNode(nodeSymlink)
	link.linkTarget = func(p *Process) string { return p.pidString() }
	fs.mkdirAll("/proc").children["self"] = link
	text := func(gen func(p *Process) []byte) *node {
		n := fs.newNode(nodeProc)
		n.gen = gen
		return n
	}
	maps := text(func(p *Process) []byte { return []byte(p.view().Maps()) })
	maps.ioctl = (*Task).procmapQuery
	self.children["maps"] = maps
	self.children["smaps"] = text(func(p *Process) []byte { return []byte(p.view().SMaps()) })
	pagemap := fs.newNode(nodeProc)
	pagemap.readAt = (*Process).pagemapRead
	self.children["pagemap"] = pagemap
	self.children["status"] = text(func(p *Process) []byte { return p.main.statusText() })
	self.children["cmdline"] = text((*Process).cmdlineText)
	self.children["comm"] = text(func(p *Process) []byte {
		return append([]byte(commString(p.main.comm)), '\n')
	})
	fs.procFD = fs.newNode(nodeDir)
	self.children["fd"] = fs.procFD
	fs.procFDInfo = fs.newNode(nodeDir)
	self.children["fdinfo"] = fs.procFDInfo
	self.children["environ"] = text((*Process).environText)
	self.children["limits"] = text((*Process).limitsText)
	for _, l := range []struct {
		name   string
		target func(p *Process) string
	}{{"cwd", (*Process).cwd}, {"root", func(*Process) string { return "/" }}} {
		n := fs.newNode(nodeSymlink)
		n.linkTarget = l.target
		self.children[l.name] = n
	}
	self.children["stat"] = text(func(p *Process) []byte { return p.main.statText(true) })
	self.children["statm"] = text((*Process).statmText)
	self.children["mounts"] = text((*Process).mountsText)
	self.children["mountinfo"] = text((*Process).mountinfoText)
	fs.procTask = fs.newNode(nodeDir)
	self.children["task"] = fs.procTask
	fs.mkdirAll("/proc").children["meminfo"] = text((*Process).meminfoText)
	p.addProcSelfFiles(fs, self, text)
	p.addMachineFiles(fs, text)
	vm := fs.mkdirAll("/proc/sys/vm")
	vm.children["mmap_min_addr"] = text(func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", p.view().MmapMinAddr()) })
	vm.children["unprivileged_userfaultfd"] = text(func(*Process) []byte { return fmt.Appendf(nil, "%d\n", unprivilegedUserfaultfd) })
	vm.children["overcommit_memory"] = text(func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", p.view().Overcommit()) })
}

// cmdlineText is /proc/self/cmdline: each argument with its NUL.
func (p *Process) cmdlineText() []byte {
	var b []byte
	for _, a := range p.info.argv {
		b = append(append(b, a...), 0)
	}
	return b
}

// view returns the ProcessView, or one that shows an empty address space.
func (p *Process) view() ProcessView {
	if p.cfg.View == nil {
		return emptyView{}
	}
	return p.cfg.View
}

type emptyView struct{}

func (emptyView) Maps() string                { return "" }
func (emptyView) SMaps() string               { return "" }
func (emptyView) Pagemap(arch.Addr, []uint64) {}
func (emptyView) VMAList() []ProcVMA          { return nil }
func (emptyView) MemoryStatus() MemoryStatus  { return MemoryStatus{} }
func (emptyView) MmapMinAddr() uint64         { return 0x10000 }
func (emptyView) Overcommit() int             { return 0 }

// pagemapEnd is the end of what /proc/self/pagemap describes: the top of
// user space (TASK_SIZE with 4-level paging).
const pagemapEnd = arch.Addr(0x7ffffffff000)

// pagemapRead reads /proc/self/pagemap as Linux's pagemap_read: one
// little-endian 64-bit entry per page, the entry of the page at address A
// at offset A/4096*8; an offset or count that is not a multiple of 8 is
// EINVAL, and the file ends at the top of user space. Its entries are made
// at every read, as Linux walks the page tables at every read.
func (p *Process) pagemapRead(b []byte, off int64) (int, unix.Errno) {
	const entry = 8
	if off%entry != 0 || len(b)%entry != 0 {
		return 0, unix.EINVAL
	}
	first := uint64(off) / entry
	if off < 0 || first >= uint64(pagemapEnd)>>arch.PageShift {
		return 0, 0
	}
	n := min(uint64(len(b)/entry), uint64(pagemapEnd)>>arch.PageShift-first)
	entries := make([]uint64, n)
	p.view().Pagemap(arch.Addr(first<<arch.PageShift), entries)
	for i, e := range entries {
		binary.LittleEndian.PutUint64(b[i*entry:], e)
	}
	return int(n) * entry, 0
}

// statusText is /proc/self/status (for the main thread) or
// /proc/self/task/TID/status (for thread t) in Linux's layout
// (proc_pid_status): its name, state, the thread's ids and capabilities
// (creds.go; the parent's pid, 0 for the root; one pid namespace), the
// process's memory figures, the thread's signal masks and queue, and the
// CPUs it may run on (cpuMask) on one memory node. The
// speculation-mitigation lines, which say what the host CPU is, are left
// out.
func (t *Task) statusText() []byte {
	p := t.Process
	var b strings.Builder
	pid := p.cfg.PID
	fmt.Fprintf(&b, "Name:\t%s\n", commString(t.comm))
	fmt.Fprintf(&b, "Umask:\t%04o\n", p.info.umask^defaultUmask)
	ppid := 0
	if parent := p.family.parent; parent != nil {
		ppid = parent.cfg.PID
	}
	letter, state := t.taskState()
	fmt.Fprintf(&b, "State:\t%c (%s)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", letter, state, pid, t.tid, ppid)
	b.WriteString(t.cred.statusIDs())
	fmt.Fprintf(&b, "FDSize:\t%d\n", p.files().size)
	b.WriteString(t.cred.statusGroups())
	fmt.Fprintf(&b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\nKthread:\t0\n", pid, t.tid, p.family.pgid, p.family.sid)
	m := p.view().MemoryStatus()
	if m.VmExe == 0 {
		m.VmExe = p.info.layout.textSize()
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"VmPeak", m.VmPeak}, {"VmSize", m.VmSize}, {"VmLck", m.VmLck}, {"VmPin", 0},
		{"VmHWM", m.VmHWM}, {"VmRSS", m.VmRSS}, {"RssAnon", m.RssAnon}, {"RssFile", m.RssFile},
		{"RssShmem", m.RssShmem}, {"VmData", m.VmData}, {"VmStk", m.VmStk},
		{"VmExe", m.VmExe}, {"VmLib", m.VmLib}, {"VmPTE", m.VmPTE}, {"VmSwap", 0}, {"HugetlbPages", 0},
	} {
		fmt.Fprintf(&b, "%s:\t%8d kB\n", f.name, f.v>>10)
	}
	fmt.Fprintf(&b, "CoreDumping:\t0\nTHP_enabled:\t%d\nuntag_mask:\t0xffffffffffffffff\n", boolInt(m.THPEnabled))
	fmt.Fprintf(&b, "Threads:\t%d\n", max(len(p.tasks), 1))
	fmt.Fprintf(&b, "SigQ:\t%d/%d\n", p.sig.queued, p.limit(unix.RLIMIT_SIGPENDING).Cur)
	ignored, caught := p.sigDispositions()
	fmt.Fprintf(&b, "SigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n",
		t.tsig.pending, p.sig.pending, t.sigmask, ignored, caught)
	b.WriteString(t.cred.statusCaps())
	fmt.Fprintf(&b, "NoNewPrivs:\t%d\nSeccomp:\t0\nSeccomp_filters:\t0\n", boolInt(p.info.noNewPrivs))
	fmt.Fprintf(&b, "Cpus_allowed:\t%s\nCpus_allowed_list:\t%s\n", cpuMaskHex(p.cpuMask(), p.cpus()), cpuListText(p.cpus()))
	// Mems_allowed as a kernel of 1024 nodes (NODES_SHIFT 10) prints it.
	fmt.Fprintf(&b, "Mems_allowed:\t%s00000001\nMems_allowed_list:\t0\n", strings.Repeat("00000000,", 31))
	fmt.Fprintf(&b, "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n")
	return []byte(b.String())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// meminfoText is /proc/meminfo for the guest's machine: its memory is the
// program's limit, of which what the program does not use is free; it has
// no swap, page cache or huge page pool.
func (p *Process) meminfoText() []byte {
	total := p.cfg.MemoryLimit
	used := min(p.usage().RSS, total)
	var b strings.Builder
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"MemTotal", total}, {"MemFree", total - used}, {"MemAvailable", total - used},
		{"Buffers", 0}, {"Cached", 0}, {"SwapCached", 0}, {"SwapTotal", 0}, {"SwapFree", 0},
		{"AnonPages", used}, {"Mapped", 0}, {"Shmem", 0},
	} {
		fmt.Fprintf(&b, "%-16s%8d kB\n", f.name+":", f.v>>10)
	}
	fmt.Fprintf(&b, "HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n")
	return []byte(b.String())
}
