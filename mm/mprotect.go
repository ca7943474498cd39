package mm

import (
	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// MProtect implements mprotect(2), including PROT_GROWSDOWN. As in Linux,
// a failure part way leaves the vmas before it changed.
func (mm *MemoryManager) MProtect(addr, length, prot uint64) error {
	grows := prot & (unix.PROT_GROWSDOWN | unix.PROT_GROWSUP)
	prot &^= grows
	if grows == unix.PROT_GROWSDOWN|unix.PROT_GROWSUP {
		return unix.EINVAL
	}
	if addr&arch.PageMask != 0 {
		return unix.EINVAL
	}
	if length == 0 {
		return nil
	}
	end := arch.Addr(addr + arch.PageAlign(length))
	if end <= arch.Addr(addr) {
		return unix.ENOMEM
	}
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|protSem) != 0 {
		return unix.EINVAL
	}
	perms := arch.AccessFromProt(int(prot & 7))
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	start := arch.Addr(addr)
	vseg := mm.vmas.LowerBoundSegment(start)
	if !vseg.Ok() || vseg.Start() >= end {
		return unix.ENOMEM
	}
	if grows&unix.PROT_GROWSDOWN != 0 {
		start = vseg.Start()
		if !vseg.ValuePtr().growsDown {
			return unix.EINVAL
		}
	} else {
		if vseg.Start() > start {
			return unix.ENOMEM
		}
		if grows&unix.PROT_GROWSUP != 0 {
			return unix.EINVAL // x86-64 has no grows-up vmas
		}
	}
	ar := arch.AddrRange{Start: start, End: end}
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	pos := start
	for pos < end {
		vseg = mm.vmas.FindSegment(pos)
		if !vseg.Ok() {
			return unix.ENOMEM
		}
		if err := mm.mprotectVMALocked(vseg, arch.AddrRange{Start: pos, End: min(end, vseg.End())}, perms); err != nil {
			return err
		}
		pos = min(end, mm.vmas.FindSegment(pos).End())
	}
	return nil
}

// mprotectVMALocked changes the permissions of ar within the vma vseg
// (mprotect_fixup).
func (mm *MemoryManager) mprotectVMALocked(vseg vmaSeg, ar arch.AddrRange, perms arch.AccessType) error {
	old := vseg.Value()
	if !old.maxPerms.SupersetOf(perms) {
		return unix.EACCES
	}
	if mm.denyWriteExecLocked(old.realPerms.Execute, perms.Write, perms.Execute) {
		return unix.EACCES
	}
	if old.flags&vmaSealed != 0 {
		return unix.EPERM
	}
	nv := old
	nv.realPerms = perms
	nv.effectivePerms = perms.Effective()
	if perms.Write {
		// Becoming data must fit in RLIMIT_DATA.
		if nv.isData() && !old.isData() && !mm.dataFitsLocked(ar.Length()) {
			return unix.ENOMEM
		}
		if old.flags&(vmaAccount|vmaNoReserve) == 0 && !old.realPerms.Write && old.private {
			nv.flags |= vmaAccount
		}
	} else if old.flags&vmaAccount != 0 && old.isAnonymous() && old.anonVMA == 0 {
		nv.flags &^= vmaAccount
	}
	if nv.realPerms == old.realPerms && nv.flags == old.flags {
		return nil
	}
	vseg, err := mm.isolateVMALocked(ar)
	if err != nil {
		return err
	}
	v := vseg.ValuePtr()
	mm.removeVMAStatsLocked(v, ar.Length())
	v.realPerms, v.effectivePerms, v.flags = nv.realPerms, nv.effectivePerms, nv.flags
	mm.addVMAStatsLocked(v, ar.Length())
	mm.activeMu.Lock()
	mm.refreshPMAPermsLocked(vseg, ar)
	mm.activeMu.Unlock()
	return nil
}
