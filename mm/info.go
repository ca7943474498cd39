package mm

import (
	"fmt"
	"strings"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// VMAInfo describes one vma, as /proc/pid/maps would show it.
type VMAInfo struct {
	Range arch.AddrRange
	// Perms are the requested permissions; MaxPerms what mprotect may
	// grant.
	Perms, MaxPerms arch.AccessType
	// Shared: MAP_SHARED ('s' in maps); otherwise private ('p').
	Shared bool
	// Offset is the mapped object's offset (0 for anonymous memory).
	Offset uint64
	// Dev and Inode identify the mapped object; zero for anonymous.
	Dev, Inode uint64
	// Name is the path, "[heap]", "[stack]", or "".
	Name      string
	GrowsDown bool
	MLockMode memmap.MLockMode
	// Resident is the number of bytes backed by pmas (guard pages are
	// not); none in a VM_PFNMAP vma ([vvar]), whose pages Linux's smaps
	// does not count, having no struct page behind them.
	Resident uint64
	// Flags are the vma's vm_flags as smaps' VmFlags line names them, in
	// Linux's order, each followed by a space.
	Flags string
	// Shmem: the vma maps shared memory (MAP_SHARED|MAP_ANONYMOUS, a
	// memfd), whose resident pages /proc/pid/status counts as RssShmem.
	Shmem bool
}

// String formats v as one line of /proc/pid/maps (show_map_vma): the
// fields end in a space, and a name, if any, follows at column 73 or, on a
// longer line, after one more space.
func (v VMAInfo) String() string {
	s := 'p'
	if v.Shared {
		s = 's'
	}
	line := fmt.Sprintf("%08x-%08x %s%c %08x %02x:%02x %d ", uint64(v.Range.Start), uint64(v.Range.End),
		v.Perms, s, v.Offset, v.Dev>>8, v.Dev&0xff, v.Inode)
	if v.Name != "" {
		line = fmt.Sprintf("%-72s %s", line, v.Name)
	}
	return line
}

// vmaInfoLocked describes the vma at vseg.
//
// Preconditions: mm.mappingMu is locked.
func vmaInfoLocked(mm *MemoryManager, vseg vmaSeg) VMAInfo {
	v := vseg.ValuePtr()
	info := VMAInfo{
		Range: vseg.Range(), Perms: v.realPerms, MaxPerms: v.maxPerms,
		Shared: !v.private, GrowsDown: v.growsDown, MLockMode: v.mlockMode,
		Flags: v.vmFlagNames(),
	}
	_, info.Shmem = v.mappable.(*SharedMemory)
	if v.id != nil {
		info.Offset = v.off
		info.Dev, info.Inode = v.id.DeviceID(), v.id.InodeID()
		if _, ok := v.id.(*SharedMemory); ok {
			info.Offset = v.off
		}
		info.Name = v.id.MappedName()
	}
	r := vseg.Range()
	switch {
	case info.Name != "":
	case r.Start < mm.brk.End && r.End > mm.brk.Start && v.isAnonymous(): // vma_is_initial_heap
		info.Name = "[heap]"
	case r.Start <= mm.stackStart && r.End >= mm.stackStart && mm.stackStart != 0:
		info.Name = "[stack]"
	}
	return info
}

// vmFlagNames names v's vm_flags as /proc/pid/smaps does
// (show_smap_vma_flags): two letters and a space for each flag set, in the
// order of Linux's bits. VM_SHARED and VM_MAYWRITE are what Linux keeps of
// a shared mapping: both go when the file was not opened for writing.
// There is no "sd": the host kernel (6.18) is built without soft-dirty
// tracking, so no vma carries VM_SOFTDIRTY.
func (v *vma) vmFlagNames() string {
	var b strings.Builder
	add := func(set bool, name string) {
		if set {
			b.WriteString(name)
			b.WriteByte(' ')
		}
	}
	f := v.flags
	add(v.realPerms.Read, "rd")
	add(v.realPerms.Write, "wr")
	add(v.realPerms.Execute, "ex")
	add(!v.private && v.maxPerms.Write, "sh")
	add(v.maxPerms.Read, "mr")
	add(v.maxPerms.Write, "mw")
	add(v.maxPerms.Execute, "me")
	add(!v.private, "ms")
	add(v.growsDown, "gd")
	add(v.uffdModes&UffdRegisterModeMissing != 0, "um")
	add(f&vmaPFNMap != 0, "pf")
	add(f&vmaMaybeGuard != 0, "gu")
	add(v.uffdModes&UffdRegisterModeWP != 0, "uw")
	add(v.mlockMode != memmap.MLockNone, "lo")
	add(f&vmaPFNMap != 0, "io")
	add(f&vmaSeqRead != 0, "sr")
	add(f&vmaRandRead != 0, "rr")
	add(f&vmaDontFork != 0, "dc")
	add(f&vmaDontExpand != 0, "de")
	add(v.mlockMode == memmap.MLockLazy, "lf")
	add(f&vmaAccount != 0, "ac")
	add(f&vmaNoReserve != 0, "nr")
	add(f&vmaWipeOnFork != 0, "wf")
	add(f&vmaDontDump != 0, "dd")
	add(f&vmaHugePage != 0, "hg")
	add(f&vmaNoHugePage != 0, "nh")
	add(f&vmaMergeable != 0, "mg")
	add(v.uffdModes&UffdRegisterModeMinor != 0, "ui")
	add(f&vmaDroppable != 0, "dp")
	add(f&vmaSealed != 0, "sl")
	return b.String()
}

// VMAs returns a description of every vma, in address order.
func (mm *MemoryManager) VMAs() []VMAInfo {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	var out []VMAInfo
	mm.settleLocked(arch.AddrRange{Start: 0, End: mm.layout.TopOfUser})
	for vseg := mm.vmas.FirstSegment(); vseg.Ok(); vseg = vseg.NextSegment() {
		info := vmaInfoLocked(mm, vseg)
		if vseg.ValuePtr().flags&vmaPFNMap == 0 {
			info.Resident = mm.residentLocked(vseg.Range())
		}
		out = append(out, info)
	}
	return out
}

// Maps returns the layout in /proc/pid/maps format.
func (mm *MemoryManager) Maps() string {
	var b strings.Builder
	for _, v := range mm.VMAs() {
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// SMaps returns an smaps-like summary: each vma's maps line followed by
// its size, resident and locked bytes, and its flags.
func (mm *MemoryManager) SMaps() string {
	var b strings.Builder
	for _, v := range mm.VMAs() {
		fmt.Fprintf(&b, "%s\nSize:           %8d kB\nRss:            %8d kB\nLocked:         %8d kB\n",
			v, v.Range.Length()>>10, v.Resident>>10, lockedBytes(v)>>10)
	}
	st := mm.Stats()
	fmt.Fprintf(&b, "Total: VmSize %d kB, VmRSS %d kB, VmHWM %d kB, VmData %d kB, VmStk %d kB, VmLck %d kB\n",
		st.VirtualSize>>10, st.RSS>>10, st.PeakRSS>>10, st.DataSize>>10, st.StackSize>>10, st.LockedSize>>10)
	return b.String()
}

func lockedBytes(v VMAInfo) uint64 {
	if v.MLockMode == memmap.MLockNone {
		return 0
	}
	return v.Resident
}

// Stats are a MemoryManager's accounting, as /proc/pid/status shows it.
type Stats struct {
	// VirtualSize is the bytes all vmas span (VmSize).
	VirtualSize uint64
	// RSS and PeakRSS are the bytes backed by pmas, now and at most
	// (VmRSS, VmHWM).
	RSS, PeakRSS uint64
	// DataSize is private writable non-stack memory (VmData).
	DataSize uint64
	// StackSize is grows-down memory (VmStk).
	StackSize uint64
	// LockedSize is the bytes of locked vmas (VmLck).
	LockedSize uint64
	// CodeSize is the program's code, the pages from start_code to
	// end_code, but no more than ExecSize (VmExe); LibSize is the rest of
	// ExecSize (VmLib), where ExecSize is the bytes of executable, not
	// writable, non-stack vmas (exec_vm).
	CodeSize, LibSize uint64
	// MapCount is the number of vmas.
	MapCount int
	// Faults counts faults that installed memory; MapCalls counts
	// AddressSpace.MapFile calls.
	Faults, MapCalls uint64
}

// Stats returns the current accounting.
func (mm *MemoryManager) Stats() Stats {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	var code uint64
	if !mm.code.Empty() {
		code = uint64(mm.code.End.MustRoundUp() - mm.code.Start.RoundDown())
	}
	code = min(code, mm.execAS)
	mm.settleLocked(arch.AddrRange{Start: 0, End: mm.layout.TopOfUser})
	return Stats{
		VirtualSize: mm.usageAS, RSS: mm.curRSS, PeakRSS: mm.maxRSS,
		DataSize: mm.dataAS, StackSize: mm.stackAS, LockedSize: mm.lockedAS,
		CodeSize: code, LibSize: mm.execAS - code,
		MapCount: mm.vmas.Len(), Faults: mm.faults, MapCalls: mm.mapCalls,
	}
}
