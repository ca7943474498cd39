package mm

import (
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
	// Special: the file is one of Linux's special mappings, with the
	// vm_flags Linux gives it (SpecialNone for any other file).
	Special SpecialMapping
}

// SpecialMapping names the kinds of special mapping Linux installs at exec
// (_install_special_mapping), by the vm_flags they carry beyond their
// permissions.
type SpecialMapping uint8

const (
	// SpecialNone: an ordinary file.
	SpecialNone SpecialMapping = iota
	// SpecialCode: code such as the vDSO (VM_DONTEXPAND).
	SpecialCode
	// SpecialPFN: pages with no struct page behind them, such as [vvar]
	// (VM_DONTEXPAND | VM_PFNMAP | VM_IO | VM_DONTDUMP).
	SpecialPFN
)

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
	if mm.denyWriteExecLocked(req.v.realPerms.Execute, req.v.realPerms.Write, req.v.realPerms.Execute) {
		return mmapRequest{}, unix.EACCES
	}
	if mm.limits.Overcommit.accountable(&req.v) && !mm.enoughMemoryLocked(alen) {
		return mmapRequest{}, unix.ENOMEM
	}
	req.v.effectivePerms = req.v.realPerms.Effective()
	if req.v.mlockMode == memmap.MLockEager {
		req.populate = true
	}
	if req.v.flags&vmaDroppable != 0 {
		// Droppable memory is never locked: mlockall(MCL_FUTURE)'s
		// VM_LOCKED is cleared from the new vma (__mmap_complete),
		// after it was weighed against RLIMIT_MEMLOCK and asked for
		// the populate.
		req.v.mlockMode = memmap.MLockNone
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
	switch file.Special {
	case SpecialCode:
		req.v.flags |= vmaDontExpand
	case SpecialPFN:
		req.v.flags |= vmaDontExpand | vmaPFNMap | vmaDontDump
		req.v.maxPerms.Execute = false
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
	mm.userfaultUnmapLocked(ar)
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
	if !mm.asFitsLocked(n) {
		return false
	}
	if !v.isData() {
		return true
	}
	var replacedData uint64
	for vseg := range mm.vmas.Segments(ar) {
		if vseg.ValuePtr().isData() {
			replacedData += vseg.Range().Intersect(ar).Length()
		}
	}
	return mm.dataFitsLocked(ar.Length() - replacedData)
}
