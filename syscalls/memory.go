package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// sysMmap finds what a file-backed mmap maps (mmapFile) and passes the
// call to mm; an fd that is not open is EBADF, as Linux's fget answers
// before any other check.
func sysMmap(p *Process, a *[6]uint64) uint64 {
	flags := a[3]
	var file *MmapFile
	if flags&unix.MAP_ANONYMOUS == 0 {
		f, anon, e := p.mmapFile(a[4])
		if e != 0 {
			return errno(e)
		}
		if anon {
			flags |= unix.MAP_ANONYMOUS
		}
		file = f
	}
	return result(p.cfg.Calls.Mmap(a[0], a[1], a[2], flags, file, a[5]))
}

func sysMunmap(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Munmap(a[0], a[1]))
}

func sysMremap(p *Process, a *[6]uint64) uint64 {
	return result(p.cfg.Calls.Mremap(a[0], a[1], a[2], a[3], a[4]))
}

func sysMprotect(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Mprotect(a[0], a[1], a[2]))
}

func sysBrk(p *Process, a *[6]uint64) uint64 { return p.cfg.Calls.Brk(a[0]) }

// sysMadvise passes the call to mm, which also stops a MADV_POPULATE_*
// of a huge range between steps when the run's context ends (mm.Options'
// Interrupted, wired to Process.Stopping by the machine).
func sysMadvise(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Madvise(a[0], a[1], a[2]))
}

func sysMlock(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Mlock(a[0], a[1], 0))
}

func sysMlock2(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Mlock(a[0], a[1], a[2]))
}

func sysMunlock(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Munlock(a[0], a[1]))
}

func sysMlockall(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Mlockall(a[0]))
}

func sysMunlockall(p *Process, _ *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Munlockall())
}

func sysMsync(p *Process, a *[6]uint64) uint64 {
	return result(0, p.cfg.Calls.Msync(a[0], a[1], a[2]))
}

// mincoreChunk is how many pages one step of mincore covers: like Linux,
// mmvm fills and copies the vector a piece at a time, so a huge length costs
// no huge host buffer; between steps the call ends with EINTR if the run's
// context has ended.
const mincoreChunk = 4096

func sysMincore(p *Process, a *[6]uint64) uint64 {
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
		if p.interrupted() {
			return errno(unix.EINTR)
		}
		n := min(pages-done, mincoreChunk)
		start := addr + done<<arch.PageShift
		if err := p.cfg.Calls.Mincore(start, min(n<<arch.PageShift, addr+length-start), vec[:n]); err != nil {
			return result(0, err)
		}
		if _, err := p.cfg.Memory.CopyOut(arch.Addr(vecAddr+done), vec[:n]); err != nil {
			return errno(unix.EFAULT)
		}
		done += n
	}
	return 0
}
