package syscalls

import (
	"encoding/binary"
	"fmt"
	iofs "io/fs"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The process's /proc files beyond its memory maps and status: auxv,
// cgroup, the OOM killer's figures, the audit ids, and mem, its memory
// read and written as Linux's /proc/pid/mem does; and /proc/filesystems.

// ForcedMemory is a Memory that can also be read and written as Linux's
// /proc/pid/mem and ptrace do (FOLL_FORCE): against the vmas' maximum
// permissions, so that a write to a read-only private mapping breaks its
// copy-on-write instead of failing. Where Config.Memory is none,
// /proc/self/mem reads and writes nothing (EIO).
type ForcedMemory interface {
	CopyInForced(addr arch.Addr, dst []byte) (int, error)
	CopyOutForced(addr arch.Addr, src []byte) (int, error)
}

// addProcSelfFiles adds those files to /proc/self (self) and /proc.
func (p *Process) addProcSelfFiles(fs *fileSystem, self *node, text func(gen func(p *Process) []byte) *node) {
	self.children["auxv"] = text((*Process).auxvText)
	// mmvm has one cgroup, the cgroup2 root, as Linux shows a process in
	// it with cgroup v2 alone.
	self.children["cgroup"] = text(func(*Process) []byte { return []byte("0::/\n") })
	self.children["oom_score_adj"] = text(func(*Process) []byte { return []byte("0\n") })
	self.children["oom_adj"] = text(func(*Process) []byte { return []byte("0\n") })
	self.children["oom_score"] = text((*Process).oomScoreText)
	// No login session set an audit id: Linux's unset (uid_t)-1, printed
	// without a newline.
	self.children["loginuid"] = text(func(*Process) []byte { return []byte("4294967295") })
	self.children["sessionid"] = text(func(*Process) []byte { return []byte("4294967295") })
	mem := fs.newNode(nodeProc)
	mem.readAt = (*Process).memRead
	mem.writeAt = (*Process).memWrite
	self.children["mem"] = mem
	fs.mkdirAll("/proc").children["filesystems"] = text((*Process).filesystemsText)
}

// auxvText is /proc/self/auxv: the auxiliary vector the loader gave the
// program, AT_NULL's pair included, as Linux's saved_auxv.
func (p *Process) auxvText() []byte {
	b := make([]byte, 0, 8*len(p.info.layout.Auxv))
	for _, v := range p.info.layout.Auxv {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// oomScoreText is /proc/self/oom_score as Linux's proc_oom_score: the OOM
// badness (resident and page-table pages) scaled to the machine's pages
// and into [0, 2000]'s two thirds, with oom_score_adj 0.
func (p *Process) oomScoreText() []byte {
	total := max(p.cfg.MemoryLimit/arch.PageSize, 1)
	ms := p.view().MemoryStatus()
	badness := (ms.VmRSS + ms.VmPTE) / arch.PageSize
	return fmt.Appendf(nil, "%d\n", (1000+badness*1000/total)*2/3)
}

// filesystemsText is /proc/filesystems: the host's, as uname is (mmvm's
// own file systems, tmpfs, proc and sysfs, are among every Linux's).
func (p *Process) filesystemsText() []byte {
	b, err := iofs.ReadFile(p.hostProc(), "filesystems")
	if err != nil {
		return []byte("nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n")
	}
	return b
}

// memRead reads the process's memory at address off, a page at a time as
// Linux's mem_rw: what can be read before the first address that cannot
// (EIO if that is off itself).
func (p *Process) memRead(b []byte, off int64) (int, unix.Errno) {
	return p.memAccess(b, off, false)
}

// memWrite writes b into the process's memory at address off, as memRead
// reads it.
func (p *Process) memWrite(b []byte, off int64) (int, unix.Errno) {
	return p.memAccess(b, off, true)
}

func (p *Process) memAccess(b []byte, off int64, write bool) (int, unix.Errno) {
	fm, ok := p.cfg.Memory.(ForcedMemory)
	if !ok || off < 0 {
		return 0, unix.EIO
	}
	done := 0
	for done < len(b) {
		k := min(len(b)-done, arch.PageSize)
		addr := arch.Addr(uint64(off) + uint64(done))
		var n int
		if write {
			n, _ = fm.CopyOutForced(addr, b[done:done+k])
		} else {
			n, _ = fm.CopyInForced(addr, b[done:done+k])
		}
		done += n
		if n < k {
			break
		}
	}
	if done == 0 && len(b) > 0 {
		return 0, unix.EIO
	}
	return done, 0
}
