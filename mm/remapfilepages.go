package mm

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// RemapFilePages is remap_file_pages(2) as Linux 6.18 emulates it
// (mm/mmap.c): the call that once rewired a shared file mapping page by
// page now maps the file again, with MAP_FIXED, over [start, start+size)
// from page pgoff, with the permissions of the vma at start. Its checks,
// in Linux's order, are all EINVAL: prot not 0; start and size taken
// down to pages, an empty or wrapping range; a wrapping pgoff; no vma at
// start or one that is not shared; a range that runs past the vma into a
// hole or into a vma of another file or other flags. flags keeps only
// MAP_NONBLOCK; the new mapping is populated (MAP_POPULATE) and locked
// if the vma was (MAP_LOCKED). mmap's own errors are returned as they
// are.
func (mm *MemoryManager) RemapFilePages(start, size, prot, pgoff, flags uint64) error {
	if prot != 0 {
		return unix.EINVAL
	}
	start &^= arch.PageMask
	size &^= arch.PageMask
	if start+size <= start || pgoff+size>>arch.PageShift < pgoff {
		return unix.EINVAL
	}
	file, mprot, mflags, err := mm.remapFileTarget(arch.Addr(start), arch.Addr(start+size))
	if err != nil {
		return err
	}
	defer file.Identity.DecRef()
	_, err = mm.MMap(start, size, mprot, mflags|flags&unix.MAP_NONBLOCK, file, pgoff<<arch.PageShift)
	return err
}

// remapFileTarget checks that [start, end) lies in shared vmas of one
// file with the same flags, contiguous from the vma at start, and returns
// that file (with a reference on its identity, which the caller drops),
// the vma's protection and the mmap flags to map it again with.
func (mm *MemoryManager) remapFileTarget(start, end arch.Addr) (*MappedFile, uint64, uint64, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	vseg := mm.vmas.FindSegment(start)
	if !vseg.Ok() || vseg.Value().private || vseg.Value().mappable == nil {
		return nil, 0, 0, unix.EINVAL
	}
	v := vseg.Value()
	for seg := vseg; seg.End() < end; {
		next := seg.NextSegment()
		if !next.Ok() || next.Start() != seg.End() || !sameRemapTarget(v, next.Value()) {
			return nil, 0, 0, unix.EINVAL
		}
		seg = next
	}
	var prot uint64
	if v.realPerms.Read {
		prot |= unix.PROT_READ
	}
	if v.realPerms.Write {
		prot |= unix.PROT_WRITE
	}
	if v.realPerms.Execute {
		prot |= unix.PROT_EXEC
	}
	flags := uint64(unix.MAP_SHARED | unix.MAP_FIXED | unix.MAP_POPULATE)
	if v.mlockMode != memmap.MLockNone {
		flags |= unix.MAP_LOCKED
	}
	v.id.IncRef()
	file := &MappedFile{Mappable: v.mappable, Identity: v.id, Readable: v.maxPerms.Read, Writable: v.maxPerms.Write,
		NoExec: !v.maxPerms.Execute}
	return file, prot, flags, nil
}

// sameRemapTarget reports whether a vma after the first may be covered by
// the same remap_file_pages: the same file with the same flags.
func sameRemapTarget(first, v vma) bool {
	return v.id == first.id && v.mappable == first.mappable && !v.private &&
		v.realPerms == first.realPerms && v.maxPerms == first.maxPerms &&
		v.mlockMode == first.mlockMode && v.flags == first.flags
}
