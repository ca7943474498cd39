package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

func sysMmap(p *Process, a *[6]uint64) uint64 {
	return result(p.cfg.Calls.Mmap(a[0], a[1], a[2], a[3], a[4], a[5]))
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

func sysMincore(p *Process, a *[6]uint64) uint64 {
	vec, err := p.cfg.Calls.Mincore(a[0], a[1])
	if err != nil {
		return result(0, err)
	}
	if _, err := p.cfg.Memory.CopyOut(arch.Addr(a[2]), vec); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}
