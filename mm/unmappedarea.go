package mm

import (
	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// roundHintToMin rounds a hint down to a page and up to MinAddr.
func (mm *MemoryManager) roundHintToMin(addr arch.Addr) arch.Addr {
	addr = addr.RoundDown()
	if addr != 0 && addr < mm.layout.MinAddr {
		return mm.layout.MinAddr
	}
	return addr
}

// getUnmappedAreaLocked chooses where a mapping of length bytes goes
// (Linux's __get_unmapped_area on x86-64): addr itself if fixed, else the
// hint if it is free, else the highest free range below MmapBase (2 MiB
// aligned for private anonymous mappings of a multiple of 2 MiB, as
// Linux's THP alignment does), else bottom-up.
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) getUnmappedAreaLocked(addr arch.Addr, length uint64, fixed, map32, above4G, anonPrivate bool) (arch.Addr, error) {
	top := mm.layout.TopOfUser
	if length > uint64(top) {
		return 0, unix.ENOMEM
	}
	var start arch.Addr
	var err error
	if !fixed && anonPrivate && addr == 0 && length%arch.HugePageSize == 0 {
		start, err = mm.thpAlignedAreaLocked(length, map32, above4G)
	}
	if start == 0 {
		start, err = mm.archUnmappedAreaLocked(addr, length, fixed, map32, above4G)
	}
	if err != nil {
		return 0, err
	}
	if uint64(start) > ^uint64(0)-maxErrno {
		// Linux checks the result with IS_ERR_VALUE, so a MAP_FIXED
		// address in the last 4095 bytes reads as an errno.
		return 0, unix.Errno(-int64(start))
	}
	if uint64(start) > uint64(top)-length {
		return 0, unix.ENOMEM
	}
	if !start.IsPageAligned() {
		return 0, unix.EINVAL
	}
	if start < mm.layout.MinAddr {
		return 0, unix.EPERM
	}
	return start, nil
}

// thpAlignedAreaLocked searches for length+2MiB and places the mapping at
// the 2 MiB boundary in it nearest the top; 0 if there is no such room.
func (mm *MemoryManager) thpAlignedAreaLocked(length uint64, map32, above4G bool) (arch.Addr, error) {
	padded := length + arch.HugePageSize
	if padded < length {
		return 0, nil
	}
	start, err := mm.archUnmappedAreaLocked(0, padded, false, map32, above4G)
	if err != nil {
		return 0, nil
	}
	if sub := (-start) & arch.HugePageMask; sub != 0 {
		return start + sub, nil
	}
	if mm.layout.BottomUp {
		return start, nil // only a top-down search skips the aligned start
	}
	return start + arch.HugePageSize, nil
}

// archUnmappedAreaLocked is x86-64's arch_get_unmapped_area_topdown.
func (mm *MemoryManager) archUnmappedAreaLocked(addr arch.Addr, length uint64, fixed, map32, above4G bool) (arch.Addr, error) {
	top := mm.layout.TopOfUser
	if fixed {
		return addr, nil
	}
	if map32 {
		const begin, end = 0x40000000, 0x80000000
		if length > end {
			return 0, unix.ENOMEM
		}
		return mm.unmappedAreaBottomUpLocked(length, begin, end)
	}
	if addr != 0 {
		addr = addr.RoundDown()
		if uint64(addr) <= uint64(top)-length {
			next := mm.vmas.LowerBoundSegment(addr + 1)
			if vs := mm.vmas.FindSegment(addr); !vs.Ok() && (!next.Ok() || addr+arch.Addr(length) <= vmaStartGap(next)) {
				return addr, nil
			}
		}
	}
	if mm.layout.BottomUp {
		// arch_get_unmapped_area: from mmap_base up to TASK_SIZE.
		return mm.unmappedAreaBottomUpLocked(length, mm.layout.MmapBase, top)
	}
	low := arch.Addr(arch.PageSize)
	if above4G {
		low = 1 << 32
	}
	if start, err := mm.unmappedAreaTopDownLocked(length, low, mm.layout.MmapBase); err == nil {
		return start, nil
	}
	return mm.unmappedAreaBottomUpLocked(length, legacyMmapBase(top), top)
}

// maxErrno is Linux's MAX_ERRNO.
const maxErrno = 4095

// legacyMmapBase is TASK_UNMAPPED_BASE: where bottom-up search starts.
func legacyMmapBase(top arch.Addr) arch.Addr { return (top / 3).MustRoundUp() }

// unmappedAreaTopDownLocked finds the highest range of length bytes in
// [low, high) that is free and keeps grows-down vmas' guard gaps
// (unmapped_area_topdown). Each try is one O(log n) query of the vma set's
// gap index; a grows-down vma whose guard gap the highest fit would enter
// lowers high below the guard gap and tries again.
func (mm *MemoryManager) unmappedAreaTopDownLocked(length uint64, low, high arch.Addr) (arch.Addr, error) {
	low = max(low, mm.layout.MinAddr)
	for high > low && uint64(high-low) >= length {
		gap := mm.vmas.LastGapAtLeast(arch.AddrRange{Start: low, End: high}, length)
		if !gap.Ok() {
			return 0, unix.ENOMEM
		}
		end := min(gap.End(), high)
		if next := gap.NextSegment(); next.Ok() && next.ValuePtr().growsDown && vmaStartGap(next) < end {
			high = vmaStartGap(next)
			continue
		}
		return end - arch.Addr(length), nil
	}
	return 0, unix.ENOMEM
}

// unmappedAreaBottomUpLocked finds the lowest free range of length bytes
// in [low, high) (unmapped_area), with one O(log n) query of the gap index
// per try; a grows-down vma whose guard gap the lowest fit would enter
// raises low past that vma and tries again.
func (mm *MemoryManager) unmappedAreaBottomUpLocked(length uint64, low, high arch.Addr) (arch.Addr, error) {
	low = max(low, mm.layout.MinAddr)
	for high > low && uint64(high-low) >= length {
		gap := mm.vmas.FirstGapAtLeast(arch.AddrRange{Start: low, End: high}, length)
		if !gap.Ok() {
			return 0, unix.ENOMEM
		}
		start := max(gap.Start(), low)
		if next := gap.NextSegment(); next.Ok() && next.ValuePtr().growsDown && uint64(vmaStartGap(next)) < uint64(start)+length-1 {
			low = next.End()
			continue
		}
		return start, nil
	}
	return 0, unix.ENOMEM
}
