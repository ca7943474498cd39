package mm

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// MappedFile is an open file as mmap sees it: what the syscall layer
// resolves mmap's fd to.
type MappedFile struct {
	// Mappable is the file's contents; Identity keeps it alive and names
	// it. MMap takes a reference on Identity for the new vma.
	Mappable memmap.Mappable
	Identity memmap.MappingIdentity
	// Readable and Writable: the file was opened for reading / writing.
	Readable, Writable bool
	// NoExec: the file lives on a noexec mount.
	NoExec bool
	// AppendOnly: the inode is append-only (chattr +a).
	AppendOnly bool
	// NoMayWrite: no mapping of it may ever be writable, private or
	// shared (no VM_MAYWRITE, as Linux's [vvar]): mmap and mprotect asking
	// for PROT_WRITE fail with EACCES.
	NoMayWrite bool
}

// mmapRequest is one mmap after its flags have been decoded: the vma to
// create and where.
type mmapRequest struct {
	addr      arch.Addr
	length    uint64
	fixed     bool // the address is not a hint
	noReplace bool // MAP_FIXED_NOREPLACE: fail with EEXIST on overlap
	map32     bool
	above4G   bool
	// sharedAnon: a MAP_SHARED|MAP_ANONYMOUS mapping, whose mappable is
	// created once the address is known.
	sharedAnon bool
	v          vma
	populate   bool
}

// MMap implements mmap(2) with its raw arguments: file is what fd refers
// to (nil if fd is not an open file; ignored with MAP_ANONYMOUS). It
// returns the mapping's address, or a unix.Errno as Linux would, with
// Linux's argument checks in Linux's order.
func (mm *MemoryManager) MMap(addr, length, prot, flags uint64, file *MappedFile, offset uint64) (arch.Addr, error) {
	if offset&arch.PageMask != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MAP_ANONYMOUS == 0 {
		if file == nil || file.Mappable == nil {
			return 0, unix.EBADF
		}
		if flags&unix.MAP_HUGETLB != 0 {
			return 0, unix.EINVAL // not a hugetlbfs file
		}
	} else {
		file = nil
		if flags&unix.MAP_HUGETLB != 0 {
			return 0, mmapHugeTLBError(flags)
		}
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	req, err := mm.decodeMMapLocked(arch.Addr(addr), length, prot, flags, file, offset>>arch.PageShift)
	if err != nil {
		return 0, err
	}
	return mm.mmapLocked(req)
}

// mmapHugeTLBError is what MAP_HUGETLB gets: mmvm has no huge page pool,
// so a valid huge page size fails as Linux's does with none reserved.
func mmapHugeTLBError(flags uint64) error {
	switch (flags & mapHugeMask) >> unix.MAP_HUGE_SHIFT {
	case 0, arch.HugePageShift, arch.GiantPageShift:
		return unix.ENOMEM
	}
	return unix.EINVAL
}

// decodeMMapLocked performs do_mmap's checks up to and including the
// choice of address, and returns the request.
//
// Preconditions: mm.mappingMu is locked for writing.
func (mm *MemoryManager) decodeMMapLocked(addr arch.Addr, length, prot, flags uint64, file *MappedFile, pgoff uint64) (mmapRequest, error) {
	if length == 0 {
		return mmapRequest{}, unix.EINVAL
	}
	if flags&unix.MAP_FIXED_NOREPLACE != 0 {
		flags |= unix.MAP_FIXED
	}
	fixed := flags&unix.MAP_FIXED != 0
	if !fixed {
		addr = mm.roundHintToMin(addr)
	}
	alen, ok := arch.PageRoundUp(length)
	if !ok || alen == 0 {
		return mmapRequest{}, unix.ENOMEM
	}
	if pgoff+alen>>arch.PageShift < pgoff {
		return mmapRequest{}, unix.EOVERFLOW
	}
	if mm.vmas.Len() > mm.limits.MaxMapCount {
		return mmapRequest{}, unix.ENOMEM
	}
	req := mmapRequest{
		length:    alen,
		fixed:     fixed,
		noReplace: flags&unix.MAP_FIXED_NOREPLACE != 0,
		map32:     flags&unix.MAP_32BIT != 0,
		above4G:   flags&unix.MAP_ABOVE4G != 0,
		populate:  flags&(unix.MAP_POPULATE|unix.MAP_NONBLOCK) == unix.MAP_POPULATE,
	}
	req.v = vma{
		realPerms: arch.AccessFromProt(int(prot & 7)),
		maxPerms:  arch.AnyAccess,
		private:   true,
		growsDown: flags&unix.MAP_GROWSDOWN != 0,
		mlockMode: mm.defMLockMode,
	}
	if flags&unix.MAP_LOCKED != 0 {
		req.v.mlockMode = max(req.v.mlockMode, memmap.MLockEager)
		if mm.defMLockMode == memmap.MLockLazy {
			req.v.mlockMode = memmap.MLockLazy
		}
	}
	if flags&unix.MAP_STACK != 0 {
		req.v.flags |= vmaNoHugePage
	}
	mapType := flags & unix.MAP_TYPE
	req.sharedAnon = file == nil && mapType == unix.MAP_SHARED
	start, err := mm.getUnmappedAreaLocked(addr, alen, fixed, req.map32, req.above4G, file == nil && !req.sharedAnon)
	if err != nil {
		return mmapRequest{}, err
	}
	req.addr = start
	if req.noReplace && mm.overlapsVMALocked(arch.AddrRange{Start: start, End: start + arch.Addr(alen)}) {
		return mmapRequest{}, unix.EEXIST
	}
	if flags&unix.MAP_LOCKED != 0 && !mm.canMLockLocked() {
		return mmapRequest{}, unix.EPERM
	}
	if !mm.mlockFutureOKLocked(req.v.mlockMode, alen) {
		return mmapRequest{}, unix.EAGAIN
	}
	if file != nil {
		if err := decodeFileMMap(&req, file, prot, flags, pgoff); err != nil {
			return mmapRequest{}, err
		}
	} else if err := decodeAnonMMap(&req, flags); err != nil {
		return mmapRequest{}, err
	}
	if flags&unix.MAP_NORESERVE != 0 {
		req.v.flags |= vmaNoReserve
	}
	if req.v.private && req.v.realPerms.Write && req.v.flags&vmaNoReserve == 0 {
		req.v.flags |= vmaAccount
	}
	if mm.limits.Overcommit.accountable(&req.v) && !mm.enoughMemoryLocked(alen) {
		return mmapRequest{}, unix.ENOMEM
	}
	req.v.effectivePerms = req.v.realPerms.Effective()
	if req.v.mlockMode == memmap.MLockEager {
		req.populate = true
	}
	return req, nil
}

// decodeFileMMap applies the checks and flags of a file-backed mmap
// (do_mmap's MAP_TYPE switch for files).
func decodeFileMMap(req *mmapRequest, file *MappedFile, prot, flags, pgoff uint64) error {
	// file_mmap_ok for a regular file: offsets up to MAX_LFS_FILESIZE.
	const maxFileSize = 1<<63 - 1
	if req.length > maxFileSize || pgoff > (maxFileSize-req.length)>>arch.PageShift {
		return unix.EOVERFLOW
	}
	switch flags & unix.MAP_TYPE {
	case unix.MAP_SHARED, unix.MAP_SHARED_VALIDATE:
		if flags&unix.MAP_TYPE == unix.MAP_SHARED {
			flags &= legacyMapMask
		}
		if flags&^legacyMapMask != 0 {
			return unix.EOPNOTSUPP
		}
		if prot&unix.PROT_WRITE != 0 && !file.Writable {
			return unix.EACCES
		}
		if file.AppendOnly && file.Writable {
			return unix.EACCES
		}
		req.v.private = false
		if !file.Writable {
			req.v.maxPerms.Write = false
		}
		fallthrough
	case unix.MAP_PRIVATE:
		if !file.Readable {
			return unix.EACCES
		}
		if file.NoMayWrite {
			if prot&unix.PROT_WRITE != 0 {
				return unix.EACCES
			}
			req.v.maxPerms.Write = false
		}
		if file.NoExec {
			if prot&unix.PROT_EXEC != 0 {
				return unix.EPERM
			}
			req.v.maxPerms.Execute = false
		}
		if req.v.growsDown {
			return unix.EINVAL
		}
	default:
		return unix.EINVAL
	}
	req.v.mappable = file.Mappable
	req.v.id = file.Identity
	req.v.off = pgoff << arch.PageShift
	return nil
}

// decodeAnonMMap applies the checks and flags of an anonymous mmap.
func decodeAnonMMap(req *mmapRequest, flags uint64) error {
	switch flags & unix.MAP_TYPE {
	case unix.MAP_SHARED:
		if req.v.growsDown {
			return unix.EINVAL
		}
		req.v.private = false
	case unix.MAP_DROPPABLE:
		if flags&(unix.MAP_LOCKED|unix.MAP_HUGETLB) != 0 || req.v.growsDown {
			return unix.EINVAL
		}
		req.v.flags |= vmaDroppable | vmaNoReserve | vmaWipeOnFork | vmaDontDump
		req.v.off = uint64(req.addr)
	case unix.MAP_PRIVATE:
		req.v.off = uint64(req.addr)
	default:
		return unix.EINVAL
	}
	return nil
}

// roundHintToMin rounds a hint down to a page and up to MinAddr.
func (mm *MemoryManager) roundHintToMin(addr arch.Addr) arch.Addr {
	addr = addr.RoundDown()
	if addr != 0 && addr < mm.layout.MinAddr {
		return mm.layout.MinAddr
	}
	return addr
}

// MMapWithOpts creates a mapping described by the typed options of
// package memmap: the entry point for the loader and for code that has
// already decoded mmap's flags. Errors are Linux's.
func (mm *MemoryManager) MMapWithOpts(opts memmap.MMapOpts) (arch.Addr, error) {
	req, err := checkMMapOpts(opts)
	if err != nil {
		return 0, err
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	req.v.mlockMode = max(req.v.mlockMode, mm.defMLockMode)
	start, err := mm.getUnmappedAreaLocked(req.addr, req.length, req.fixed, req.map32, false, req.v.mappable == nil)
	if err != nil {
		return 0, err
	}
	req.addr = start
	if req.v.mappable == nil {
		req.v.off = uint64(start)
	}
	if req.noReplace && mm.overlapsVMALocked(arch.AddrRange{Start: start, End: start + arch.Addr(req.length)}) {
		return 0, unix.EEXIST
	}
	if !mm.mlockFutureOKLocked(req.v.mlockMode, req.length) {
		return 0, unix.EAGAIN
	}
	if req.v.mlockMode == memmap.MLockEager {
		req.populate = true
	}
	return mm.mmapLocked(req)
}

// checkMMapOpts validates typed mmap options and converts them.
func checkMMapOpts(opts memmap.MMapOpts) (mmapRequest, error) {
	if opts.Length == 0 {
		return mmapRequest{}, unix.EINVAL
	}
	length, ok := arch.PageRoundUp(opts.Length)
	if !ok {
		return mmapRequest{}, unix.ENOMEM
	}
	if opts.Mappable != nil {
		if opts.Offset&arch.PageMask != 0 {
			return mmapRequest{}, unix.EINVAL
		}
		if opts.Offset+length < opts.Offset {
			return mmapRequest{}, unix.EOVERFLOW
		}
	}
	if !opts.Addr.IsPageAligned() && opts.Fixed {
		return mmapRequest{}, unix.EINVAL
	}
	switch {
	case !opts.MaxPerms.SupersetOf(opts.Perms):
		return mmapRequest{}, unix.EACCES
	case opts.Unmap && !opts.Fixed:
		return mmapRequest{}, unix.EINVAL
	case opts.GrowsDown && opts.Mappable != nil:
		return mmapRequest{}, unix.EINVAL
	}
	req := mmapRequest{
		addr: opts.Addr.RoundDown(), length: length, fixed: opts.Fixed,
		noReplace: opts.Fixed && !opts.Unmap, map32: opts.Map32Bit,
		populate: opts.Precommit,
		v: vma{
			mappable: opts.Mappable, id: opts.MappingIdentity, off: opts.Offset,
			realPerms: opts.Perms, effectivePerms: opts.Perms.Effective(),
			maxPerms: opts.MaxPerms.Effective(), private: opts.Private,
			growsDown: opts.GrowsDown, mlockMode: opts.MLockMode, hint: opts.Hint,
		},
	}
	if opts.Mappable == nil {
		req.v.id = nil
		req.v.off = 0
		req.sharedAnon = !opts.Private
	}
	if req.v.private && req.v.realPerms.Write {
		req.v.flags |= vmaAccount
	}
	return req, nil
}

// mmapLocked creates the vma of req at req.addr (mmap_region): it replaces
// what is mapped there, checks the address-space limits, tells the
// Mappable, and populates if asked.
//
// Preconditions: mm.mappingMu is locked for writing; req.addr is chosen.
func (mm *MemoryManager) mmapLocked(req mmapRequest) (arch.Addr, error) {
	ar := arch.AddrRange{Start: req.addr, End: req.addr + arch.Addr(req.length)}
	if err := mm.checkUnmapSplitLocked(ar); err != nil {
		return 0, err
	}
	replaced := mm.vmas.SpanRange(ar)
	if !mm.mayExpandReplacingLocked(&req.v, ar, req.length-replaced) {
		return 0, unix.ENOMEM
	}
	v := req.v
	if req.sharedAnon {
		sa, err := newSharedAnon(mm.mf, req.length)
		if err != nil {
			return 0, err
		}
		v.mappable, v.id, v.off = sa, sa, 0
	} else if v.id != nil {
		v.id.IncRef()
	}
	if v.mappable != nil {
		if err := v.mappable.AddMapping(mm, ar, v.off, v.canWriteMappable()); err != nil {
			if v.id != nil {
				v.id.DecRef()
			}
			return 0, err
		}
	}
	mm.unmapLocked(ar)
	vseg := mm.insertVMALocked(ar, v)
	if req.populate {
		mm.populateLocked(vseg, ar)
	}
	return ar.Start, nil
}

// mayExpandReplacingLocked is mayExpandLocked for n new bytes at ar,
// counting the data bytes ar replaces as freed.
func (mm *MemoryManager) mayExpandReplacingLocked(v *vma, ar arch.AddrRange, n uint64) bool {
	if n > mm.limits.AS || mm.usageAS > mm.limits.AS-n {
		return false
	}
	if v.isData() {
		var replacedData uint64
		for vseg := range mm.vmas.Segments(ar) {
			if vseg.ValuePtr().isData() {
				replacedData += vseg.Range().Intersect(ar).Length()
			}
		}
		need := ar.Length() - replacedData
		if need > mm.limits.Data || mm.dataAS > mm.limits.Data-need {
			return false
		}
	}
	return true
}

// checkUnmapSplitLocked fails with ENOMEM if unmapping ar would split one
// vma in two while the map count is at its limit.
func (mm *MemoryManager) checkUnmapSplitLocked(ar arch.AddrRange) error {
	vseg := mm.vmas.LowerBoundSegment(ar.Start)
	if vseg.Ok() && vseg.Start() < ar.Start && ar.End < vseg.End() && mm.vmas.Len() >= mm.limits.MaxMapCount {
		return unix.ENOMEM
	}
	return nil
}

// populateLocked backs and maps the vma vseg within ar, as MAP_POPULATE
// and mlock do; it returns the first error Linux's populate would report
// (callers translate or ignore it). Inaccessible vmas fail with EFAULT;
// lazily locked ones are skipped.
//
// Preconditions: mm.mappingMu is locked; vseg ⊇ ar.
func (mm *MemoryManager) populateLocked(vseg vmaSeg, ar arch.AddrRange) error {
	v := vseg.ValuePtr()
	if v.mlockMode == memmap.MLockLazy {
		return nil
	}
	if !v.effectivePerms.Any() {
		return unix.EFAULT
	}
	at := arch.Read
	if v.realPerms.Write && v.private {
		at = arch.Write
	}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if err := mm.getPMAsLocked(vseg, ar, ar, at); err != nil {
		return err
	}
	return mm.mapASLocked(ar, true)
}

// populateRangeLocked populates every vma in ar (__mm_populate); it stops
// at the first error and returns it.
func (mm *MemoryManager) populateRangeLocked(ar arch.AddrRange) error {
	for vseg := range mm.vmas.Segments(ar) {
		if err := mm.populateLocked(vseg, vseg.Range().Intersect(ar)); err != nil {
			return err
		}
	}
	return nil
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

// MUnmap implements munmap(2).
func (mm *MemoryManager) MUnmap(addr, length uint64) error {
	top := uint64(mm.layout.TopOfUser)
	if addr&arch.PageMask != 0 || addr > top || length > top-addr {
		return unix.EINVAL
	}
	alen, _ := arch.PageRoundUp(length)
	if alen == 0 {
		return unix.EINVAL
	}
	ar := arch.AddrRange{Start: arch.Addr(addr), End: arch.Addr(addr + alen)}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if err := mm.checkUnmapSplitLocked(ar); err != nil {
		return err
	}
	mm.unmapLocked(ar)
	return nil
}

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
	end := arch.Addr(addr) + arch.Addr((length+arch.PageMask)&^arch.PageMask)
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
	nv := old
	nv.realPerms = perms
	nv.effectivePerms = perms.Effective()
	if perms.Write {
		// Becoming data must fit in RLIMIT_DATA.
		if n := ar.Length(); nv.isData() && !old.isData() && (n > mm.limits.Data || mm.dataAS > mm.limits.Data-n) {
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

// BrkSetup sets the heap's start (and its end) to addr, unmapping any
// previous heap; dataSeg is the loader's data segment, which counts
// towards RLIMIT_DATA with the heap.
func (mm *MemoryManager) BrkSetup(addr arch.Addr, dataSeg arch.AddrRange) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if mm.brk.Length() != 0 {
		if end, ok := mm.brk.End.RoundUp(); ok {
			mm.unmapLocked(arch.AddrRange{Start: mm.brk.Start.RoundDown(), End: end})
		}
	}
	mm.brk = arch.AddrRange{Start: addr, End: addr}
	mm.dataSeg = dataSeg
}

// Brk implements brk(2): it returns the new break, or the old one (with
// the reason as error) when the request fails; the syscall returns the
// address either way.
func (mm *MemoryManager) Brk(addr uint64) (arch.Addr, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	old := mm.brk.End
	newBrk := arch.Addr(addr)
	if newBrk < mm.brk.Start {
		return old, unix.EINVAL
	}
	if mm.limits.Data != Unlimited && uint64(newBrk-mm.brk.Start)+mm.dataSeg.Length() > mm.limits.Data {
		return old, unix.ENOMEM
	}
	newPage, ok := newBrk.RoundUp()
	if !ok {
		return old, unix.ENOMEM
	}
	oldPage := old.MustRoundUp()
	switch {
	case newPage == oldPage:
		mm.brk.End = newBrk
		return newBrk, nil
	case newBrk <= old:
		return mm.shrinkBrkLocked(newBrk, newPage, oldPage)
	default:
		return mm.growBrkLocked(newBrk, newPage, oldPage)
	}
}

// shrinkBrkLocked lowers the break, unmapping [newPage, oldPage); as in
// Linux it fails if no vma is left there.
func (mm *MemoryManager) shrinkBrkLocked(newBrk, newPage, oldPage arch.Addr) (arch.Addr, error) {
	ar := arch.AddrRange{Start: newPage, End: oldPage}
	if !mm.overlapsVMALocked(ar) {
		return mm.brk.End, unix.ENOMEM
	}
	if err := mm.checkUnmapSplitLocked(ar); err != nil {
		return mm.brk.End, err
	}
	mm.brk.End = newBrk
	mm.unmapLocked(ar)
	return newBrk, nil
}

// growBrkLocked raises the break, mapping [oldPage, newPage) as heap.
func (mm *MemoryManager) growBrkLocked(newBrk, newPage, oldPage arch.Addr) (arch.Addr, error) {
	old := mm.brk.End
	// The heap must stay a page plus a stack guard gap below whatever
	// comes next.
	if next := mm.vmas.LowerBoundSegment(oldPage); next.Ok() && uint64(newPage)+arch.PageSize > uint64(vmaStartGap(next)) {
		return old, unix.ENOMEM
	}
	if newPage > mm.layout.TopOfUser {
		return old, unix.ENOMEM
	}
	v := vma{
		off: uint64(oldPage), realPerms: arch.ReadWrite, effectivePerms: arch.ReadWrite,
		maxPerms: arch.AnyAccess, private: true, mlockMode: mm.defMLockMode, flags: vmaAccount,
	}
	ar := arch.AddrRange{Start: oldPage, End: newPage}
	if !mm.mayExpandLocked(&v, ar.Length()) || mm.vmas.Len() > mm.limits.MaxMapCount {
		return old, unix.ENOMEM
	}
	if !mm.mlockFutureOKLocked(v.mlockMode, ar.Length()) || !mm.enoughMemoryLocked(ar.Length()) {
		return old, unix.ENOMEM
	}
	vseg := mm.insertVMALocked(ar, v)
	mm.brk.End = newBrk
	if v.mlockMode == memmap.MLockEager {
		_ = mm.populateLocked(vseg, ar) // errors surface on access, as in Linux
	}
	return newBrk, nil
}

// BrkRange returns the heap: [start_brk, brk).
func (mm *MemoryManager) BrkRange() arch.AddrRange {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	return mm.brk
}

// initialStackSize is how much of the stack MapStack maps up front; the
// rest grows on demand, up to RLIMIT_STACK (Linux's stack_expand).
const initialStackSize = 128 << 10

// MapStack maps the initial grows-down stack, ending at Layout.StackTop,
// and returns its range.
func (mm *MemoryManager) MapStack() (arch.AddrRange, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	size := min(uint64(initialStackSize), mm.limits.Stack&^arch.PageMask)
	if size == 0 {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: RLIMIT_STACK %#x is below a page: %w", mm.limits.Stack, unix.ENOMEM)
	}
	top := mm.layout.StackTop
	ar := arch.AddrRange{Start: top - arch.Addr(size), End: top}
	if mm.overlapsVMALocked(ar) {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: %v is already mapped: %w", ar, unix.EEXIST)
	}
	v := vma{
		off: uint64(ar.Start), realPerms: arch.ReadWrite, effectivePerms: arch.ReadWrite,
		maxPerms: arch.AnyAccess, private: true, growsDown: true, mlockMode: mm.defMLockMode,
		flags: vmaAccount,
	}
	if !mm.mayExpandLocked(&v, size) {
		return arch.AddrRange{}, fmt.Errorf("mm: MapStack: RLIMIT_AS: %w", unix.ENOMEM)
	}
	mm.insertVMALocked(ar, v)
	mm.stackStart = top - arch.PageSize
	return ar, nil
}
