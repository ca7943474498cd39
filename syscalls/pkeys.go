package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Memory protection keys and remap_file_pages. The guest's CPU has no
// OSPKE (mmvm leaves CR4.PKE clear, so CPUID.7:ECX.OSPKE reads 0), and
// Linux on such a CPU allocates no key: pkey_alloc and pkey_free are
// EINVAL (arch_set_user_pkey_access refuses key 0, the only one
// mm_pkey_alloc hands out there), and pkey_mprotect with a key other
// than -1 is EINVAL once mprotect's own checks pass.

// protSem is PROT_SEM, which mprotect accepts and ignores.
const protSem = 0x8

// sysPkeyAlloc: flags, access rights past PKEY_DISABLE_ACCESS|WRITE, or
// no key to give; all EINVAL, as Linux without OSPKE.
func sysPkeyAlloc(*Task, *[6]uint64) uint64 { return errno(unix.EINVAL) }

// sysPkeyFree: no key was ever allocated.
func sysPkeyFree(*Task, *[6]uint64) uint64 { return errno(unix.EINVAL) }

// sysPkeyMprotect is mprotect for key -1; for any other key it makes
// do_mprotect_pkey's checks, in its order (both PROT_GROWSDOWN and
// PROT_GROWSUP, an unaligned start: EINVAL; an empty length: 0; a
// wrapping range: ENOMEM; an unknown PROT_ bit: EINVAL), then refuses
// the key, which is not allocated (EINVAL).
func sysPkeyMprotect(t *Task, a *[6]uint64) uint64 {
	start, length, prot, pkey := a[0], a[1], a[2], int32(a[3])
	if pkey == -1 {
		return sysMprotect(t, a)
	}
	grows := prot & (unix.PROT_GROWSDOWN | unix.PROT_GROWSUP)
	prot &^= grows
	if grows == unix.PROT_GROWSDOWN|unix.PROT_GROWSUP || start&arch.PageMask != 0 {
		return errno(unix.EINVAL)
	}
	if length == 0 {
		return 0
	}
	if end := start + (length+arch.PageMask)&^arch.PageMask; end <= start {
		return errno(unix.ENOMEM)
	}
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|protSem) != 0 {
		return errno(unix.EINVAL)
	}
	return errno(unix.EINVAL)
}

// sysRemapFilePages is mm's RemapFilePages (Linux's emulation).
func sysRemapFilePages(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.RemapFilePages(a[0], a[1], a[2], a[3], a[4]) }))
}
