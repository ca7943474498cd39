package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/rangeset"
	"golang.org/x/sys/unix"
)

type (
	vmaSet = rangeset.Set[arch.Addr, vma]
	vmaSeg = rangeset.Seg[arch.Addr, vma]
)

// vmaFlags are the per-vma flags that, like Linux's vm_flags, keep two
// otherwise identical neighbours from merging.
type vmaFlags uint32

const (
	// vmaDontFork: MADV_DONTFORK (VM_DONTCOPY); Fork skips the vma.
	vmaDontFork vmaFlags = 1 << iota
	// vmaDontDump: MADV_DONTDUMP (VM_DONTDUMP).
	vmaDontDump
	// vmaWipeOnFork: MADV_WIPEONFORK; the child gets the vma empty.
	vmaWipeOnFork
	// vmaHugePage / vmaNoHugePage: MADV_HUGEPAGE / MADV_NOHUGEPAGE (and
	// MAP_STACK, which implies VM_NOHUGEPAGE).
	vmaHugePage
	vmaNoHugePage
	// vmaRandRead / vmaSeqRead: MADV_RANDOM / MADV_SEQUENTIAL.
	vmaRandRead
	vmaSeqRead
	// vmaNoReserve: MAP_NORESERVE (VM_NORESERVE).
	vmaNoReserve
	// vmaAccount: the vma is charged as committed memory (VM_ACCOUNT):
	// private writable mappings without MAP_NORESERVE.
	vmaAccount
	// vmaDroppable: MAP_DROPPABLE.
	vmaDroppable
	// vmaMergeable: MADV_MERGEABLE (KSM).
	vmaMergeable
	// vmaDontExpand: a special mapping such as the vDSO
	// (VM_DONTEXPAND).
	vmaDontExpand
	// vmaPFNMap: memory with no struct page behind it, as the vvar pages
	// (VM_PFNMAP | VM_IO).
	vmaPFNMap
	// vmaMaybeGuard: MADV_GUARD_INSTALL was applied somewhere in the vma
	// (VM_MAYBE_GUARD). It is sticky, as in Linux 6.18: removing the
	// guards leaves it, it never keeps two neighbours apart, and a merge
	// keeps it if either side had it.
	vmaMaybeGuard
	// vmaSealed: mseal(2) sealed the vma (VM_SEALED).
	vmaSealed
)

// vmaStickyFlags are the flags that do not keep neighbours from merging
// (VM_STICKY): the merged vma has each one either side had.
const vmaStickyFlags = vmaMaybeGuard

// vma is a virtual memory area: a range of addresses the program mapped,
// with one set of properties. vmas are stored by value in
// MemoryManager.vmas and guarded by mappingMu.
type vma struct {
	// mappable is what the vma maps; nil for a private anonymous vma,
	// whose pages come from the MemoryFile on fault. Shared anonymous
	// vmas map a SharedMemory mappable.
	mappable memmap.Mappable

	// off is the mappable offset of the vma's first byte. For anonymous
	// private vmas it is Linux's anon page offset in bytes (the address
	// the memory was first mapped at), kept so that vmas merge exactly
	// when Linux's do: two neighbours merge only if their offsets are
	// contiguous, which a move by mremap breaks.
	off uint64

	// id keeps mappable alive and names it; nil for anonymous private
	// vmas. The vma holds one reference on it.
	id memmap.MappingIdentity

	// realPerms are the permissions the program asked for (PROT_*).
	realPerms arch.AccessType
	// effectivePerms are what the hardware enforces.
	// Invariant: effectivePerms == realPerms.Effective().
	effectivePerms arch.AccessType
	// maxPerms bound realPerms (VM_MAY*). Invariant:
	// maxPerms == maxPerms.Effective() and maxPerms ⊇ effectivePerms.
	maxPerms arch.AccessType

	// private: writes go to a private copy (MAP_PRIVATE).
	private bool
	// growsDown: the vma is a stack that grows down on faults just below
	// it. Invariant: growsDown implies mappable == nil.
	growsDown bool
	// mlockMode is the vma's memory-locking mode.
	mlockMode memmap.MLockMode
	// flags are the remaining vm_flags that matter for merging.
	flags vmaFlags
	// policy is the vma's NUMA policy.
	policy mempolicy

	// anonVMA identifies Linux's anon_vma of a private vma: 0 until the
	// vma first gets private memory. Two neighbours with different
	// non-zero anonVMAs never merge, as in Linux.
	anonVMA uint64

	// uffd is the userfaultfd context the vma is registered with (nil
	// for none), and uffdModes its UFFDIO_REGISTER_MODE_* bits (Linux's
	// vm_userfaultfd_ctx and VM_UFFD_* flags). Invariant: uffdModes != 0
	// exactly when uffd != nil. Neighbours differing in either never
	// merge.
	uffd      *UserFaultFD
	uffdModes uint8
}

// newVMASet returns an empty vma set whose neighbours merge as Linux's do.
// It keeps a gap index, so that choosing an address for a mapping finds a
// large enough gap in O(log n), as Linux's maple tree does, not by walking
// every gap on the way.
func newVMASet() *vmaSet {
	return rangeset.New(rangeset.Ops[arch.Addr, vma]{Merge: mergeVMAs, Split: splitVMA, GapIndex: true})
}

// mergeVMAs merges two adjacent vmas if Linux would (vma_merge): same
// object at contiguous offsets, same permissions and flags, compatible
// anon_vma, and an object whose mappings are not counted one by one
// (memmap.SeparateMappings). The merged vma keeps one identity reference;
// the other is dropped.
func mergeVMAs(r1 arch.AddrRange, v1 vma, r2 arch.AddrRange, v2 vma) (vma, bool) {
	if _, separate := v1.id.(memmap.SeparateMappings); separate {
		return vma{}, false
	}
	if v1.mappable != v2.mappable || v1.id != v2.id ||
		v1.off+r1.Length() != v2.off ||
		v1.realPerms != v2.realPerms || v1.maxPerms != v2.maxPerms ||
		v1.private != v2.private || v1.growsDown != v2.growsDown ||
		v1.mlockMode != v2.mlockMode || v1.flags&^vmaStickyFlags != v2.flags&^vmaStickyFlags ||
		v1.policy != v2.policy || v1.uffd != v2.uffd || v1.uffdModes != v2.uffdModes {
		return vma{}, false
	}
	if v1.anonVMA != 0 && v2.anonVMA != 0 && v1.anonVMA != v2.anonVMA {
		return vma{}, false
	}
	if v1.anonVMA == 0 {
		v1.anonVMA = v2.anonVMA
	}
	v1.flags |= v2.flags & vmaStickyFlags
	if v2.id != nil {
		v2.id.DecRef()
	}
	return v1, true
}

// splitVMA splits a vma at at: the upper half's offset moves on, and it
// takes its own identity reference.
func splitVMA(r arch.AddrRange, v vma, at arch.Addr) (vma, vma) {
	v2 := v
	v2.off += uint64(at - r.Start)
	if v2.id != nil {
		v2.id.IncRef()
	}
	return v, v2
}

// isData reports whether v counts towards RLIMIT_DATA (is_data_mapping).
func (v *vma) isData() bool { return v.realPerms.Write && v.private && !v.growsDown }

// isExec reports whether v counts as executable code (is_exec_mapping:
// VM_EXEC without VM_WRITE or VM_STACK), Linux's exec_vm.
func (v *vma) isExec() bool { return v.realPerms.Execute && !v.realPerms.Write && !v.growsDown }

// isAnonymous reports whether v is private anonymous memory.
func (v *vma) isAnonymous() bool { return v.mappable == nil }

// canWriteMappable reports whether writes through v reach its mappable.
func (v *vma) canWriteMappable() bool { return !v.private && v.maxPerms.Write }

// mappableRangeOf returns the mappable offsets of ar within vseg.
func mappableRangeOf(vseg vmaSeg, ar arch.AddrRange) memmap.MappableRange {
	v := vseg.ValuePtr()
	start := v.off + uint64(ar.Start-vseg.Start())
	return memmap.MappableRange{Start: start, End: start + ar.Length()}
}

// addrRangeOf returns the addresses of mappable offsets mr within vseg.
func addrRangeOf(vseg vmaSeg, mr memmap.MappableRange) arch.AddrRange {
	v := vseg.ValuePtr()
	start := vseg.Start() + arch.Addr(mr.Start-v.off)
	return arch.AddrRange{Start: start, End: start + arch.Addr(mr.Length())}
}

// vmaStartGap is where the free space needed below v begins: a grows-down
// vma keeps StackGuardGap free below it (vm_start_gap).
func vmaStartGap(vseg vmaSeg) arch.Addr {
	start := vseg.Start()
	if vseg.ValuePtr().growsDown {
		if start < StackGuardGap {
			return 0
		}
		return start - StackGuardGap
	}
	return start
}

// addVMAStatsLocked and removeVMAStatsLocked keep usageAS, lockedAS,
// dataAS, stackAS and execAS in step with a vma of length n entering or leaving.
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) addVMAStatsLocked(v *vma, n uint64) {
	mm.usageAS += n
	if v.mlockMode != memmap.MLockNone {
		mm.lockedAS += n
	}
	if v.isData() {
		mm.dataAS += n
	}
	if v.growsDown {
		mm.stackAS += n
	}
	if v.isExec() {
		mm.execAS += n
	}
}

func (mm *MemoryManager) removeVMAStatsLocked(v *vma, n uint64) {
	mm.usageAS -= n
	if v.mlockMode != memmap.MLockNone {
		mm.lockedAS -= n
	}
	if v.isData() {
		mm.dataAS -= n
	}
	if v.growsDown {
		mm.stackAS -= n
	}
	if v.isExec() {
		mm.execAS -= n
	}
}

// mayExpandLocked reports whether n more bytes of vmas with v's properties
// fit in RLIMIT_AS and RLIMIT_DATA (may_expand_vm).
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) mayExpandLocked(v *vma, n uint64) bool {
	return mm.asFitsLocked(n) && (!v.isData() || mm.dataFitsLocked(n))
}

// asFitsLocked reports whether n more bytes of vmas fit in RLIMIT_AS.
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) asFitsLocked(n uint64) bool {
	return n <= mm.limits.AS && mm.usageAS <= mm.limits.AS-n
}

// dataFitsLocked reports whether n more bytes of data vmas (vma.isData)
// fit in RLIMIT_DATA.
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) dataFitsLocked(n uint64) bool {
	return n <= mm.limits.Data && mm.dataAS <= mm.limits.Data-n
}

// mlockFutureOKLocked reports whether locking n more bytes stays within
// RLIMIT_MEMLOCK (mlock_future_ok).
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) mlockFutureOKLocked(mode memmap.MLockMode, n uint64) bool {
	if mode == memmap.MLockNone || mm.limits.CapIPCLock {
		return true
	}
	lockedPages := n>>arch.PageShift + mm.lockedAS>>arch.PageShift
	return lockedPages <= mm.limits.MemLock>>arch.PageShift
}

// canMLockLocked reports whether the process may lock memory at all
// (can_do_mlock).
func (mm *MemoryManager) canMLockLocked() bool {
	return mm.limits.CapIPCLock || mm.limits.MemLock != 0
}

// splitVMALocked splits the vma holding at at at, as Linux's split_vma: it
// fails with ENOMEM if the map count is already at its limit.
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) splitVMALocked(at arch.Addr) error {
	vseg := mm.vmas.FindSegment(at)
	if !vseg.Ok() || !vseg.Range().CanSplitAt(at) {
		return nil
	}
	if mm.vmas.Len() >= mm.limits.MaxMapCount {
		return unix.ENOMEM
	}
	mm.vmas.SplitAt(at)
	return nil
}

// isolateVMALocked splits vmas so that ar's bounds are vma boundaries, and
// returns the vma holding ar.Start (or the first one after it).
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) isolateVMALocked(ar arch.AddrRange) (vmaSeg, error) {
	if err := mm.splitVMALocked(ar.Start); err != nil {
		return vmaSeg{}, err
	}
	if err := mm.splitVMALocked(ar.End); err != nil {
		return vmaSeg{}, err
	}
	return mm.vmas.LowerBoundSegment(ar.Start), nil
}

// insertVMALocked inserts v at ar, which must be free, merging it with its
// neighbours, and accounts for it. It does not call AddMapping.
//
// Preconditions: mm.mappingMu is locked for writing; ar is free and
// page-aligned; v holds a reference on v.id if any.
func (mm *MemoryManager) insertVMALocked(ar arch.AddrRange, v vma) vmaSeg {
	mm.addVMAStatsLocked(&v, ar.Length())
	return mm.vmas.Insert(mm.vmas.FindGap(ar.Start), ar, v)
}

// unmapLocked removes every vma and pma in ar, guard pmas included (as
// munmap drops Linux's guard markers), telling mappables and dropping
// references.
//
// Preconditions: mm.mappingMu is locked for writing; ar is page-aligned.
func (mm *MemoryManager) unmapLocked(ar arch.AddrRange) {
	if ar.Empty() {
		return
	}
	mm.activeMu.Lock()
	mm.invalidateLocked(ar, true, true)
	mm.removeGuardsLocked(ar)
	mm.activeMu.Unlock()
	mm.removeVMAsLocked(ar)
}

// removeVMAsLocked removes the vmas in ar (whose pmas must already be
// gone), telling their mappables.
//
// Preconditions: mm.mappingMu is locked for writing; no pma in ar.
func (mm *MemoryManager) removeVMAsLocked(ar arch.AddrRange) {
	vseg := mm.vmas.LowerBoundSegment(ar.Start)
	for vseg.Ok() && vseg.Start() < ar.End {
		vseg = mm.vmas.Isolate(vseg, ar)
		v := vseg.ValuePtr()
		vr := vseg.Range()
		if v.mappable != nil {
			v.mappable.RemoveMapping(mm, vr, v.off, v.canWriteMappable())
		}
		if v.id != nil {
			v.id.DecRef()
		}
		mm.removeVMAStatsLocked(v, vr.Length())
		vseg = mm.vmas.Remove(vseg).NextSegment()
	}
}

// overlapsVMALocked reports whether any vma intersects ar.
func (mm *MemoryManager) overlapsVMALocked(ar arch.AddrRange) bool {
	vseg := mm.vmas.LowerBoundSegment(ar.Start)
	return vseg.Ok() && vseg.Start() < ar.End
}

// newAnonVMALocked returns a fresh anon_vma identity.
//
// Preconditions: mm.activeMu is locked (faults hold only mappingMu's read
// lock).
func (mm *MemoryManager) newAnonVMALocked() uint64 {
	mm.nextAnonVMA++
	return mm.nextAnonVMA
}

// ensureAnonVMALocked gives the private vma at vseg an anon_vma before it
// first gets private memory, reusing a neighbour's where Linux would
// (find_mergeable_anon_vma: an adjacent vma identical but for its
// permissions, at a contiguous offset).
//
// Preconditions: mm.mappingMu is locked; mm.activeMu is locked.
func (mm *MemoryManager) ensureAnonVMALocked(vseg vmaSeg) {
	v := vseg.ValuePtr()
	if v.anonVMA != 0 || !v.private {
		return
	}
	compatible := func(a arch.AddrRange, av *vma, b arch.AddrRange, bv *vma) bool {
		return a.End == b.Start && av.mappable == bv.mappable && av.off+a.Length() == bv.off &&
			av.policy == bv.policy && av.flags&^vmaStickyFlags == bv.flags&^vmaStickyFlags && av.growsDown == bv.growsDown &&
			av.mlockMode == bv.mlockMode && av.private == bv.private && av.maxPerms == bv.maxPerms
	}
	if prev := vseg.PrevSegment(); prev.Ok() && prev.ValuePtr().anonVMA != 0 && compatible(prev.Range(), prev.ValuePtr(), vseg.Range(), v) {
		v.anonVMA = prev.ValuePtr().anonVMA
		return
	}
	if next := vseg.NextSegment(); next.Ok() && next.ValuePtr().anonVMA != 0 && compatible(vseg.Range(), v, next.Range(), next.ValuePtr()) {
		v.anonVMA = next.ValuePtr().anonVMA
		return
	}
	v.anonVMA = mm.newAnonVMALocked()
}
