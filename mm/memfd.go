package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// A memfd is a SharedMemory with a name, a size that ftruncate, writes and
// fallocate change, and seals: what memfd_create returns. Its pages are
// the ones every MAP_SHARED mapping of it maps, so reads and writes
// through the fd and through mappings see each other at once; a
// MAP_PRIVATE mapping copies a page on its first write, as for any file.
// Shrinking it frees the pages past the new end and invalidates every
// mapping of them, private copies included (Linux's truncate with
// even_cows), so that the next access is SIGBUS.

// allSeals are the F_SEAL_* bits Linux knows (include/uapi/linux/fcntl.h).
const allSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_EXEC

// maxFileSize is Linux's MAX_LFS_FILESIZE on 64-bit.
const maxFileSize = 1<<63 - 1

// NewMemfd returns an empty memfd named name, holding one reference, whose
// seals start as seals (F_SEAL_SEAL without MFD_ALLOW_SEALING, so that no
// seal can ever be added).
func NewMemfd(mf MemoryFile, name string, seals uint32) *SharedMemory {
	s, _ := newSharedAnon(mf, 0)
	s.seals = seals
	s.SetMappedName("/memfd:" + name + " (deleted)")
	return s
}

// NewTmpfsFile returns an empty regular file of a tmpfs, holding one
// reference: a memfd by another name, whose device and inode number are
// the file's own (dev, ino) and whose seals are F_SEAL_SEAL, as Linux's
// shmem gives every file memfd_create did not make. Its name is set by
// SetMappedName.
func NewTmpfsFile(mf MemoryFile, dev, ino uint64) *SharedMemory {
	s, _ := newSharedAnon(mf, 0)
	s.dev, s.inode, s.seals = dev, ino, unix.F_SEAL_SEAL
	return s
}

// Size returns the object's size in bytes.
func (s *SharedMemory) Size() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Blocks returns how many bytes of pages back the object (fstat's
// st_blocks is this over 512).
func (s *SharedMemory) Blocks() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.pages)) * arch.PageSize
}

// ReadAt copies the object's bytes at off into dst, stopping at its size:
// the count copied, zero at or past the end. Holes read as zeros.
func (s *SharedMemory) ReadAt(dst []byte, off uint64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off >= s.size {
		return 0, nil
	}
	dst = dst[:min(uint64(len(dst)), s.size-off)]
	for done := 0; done < len(dst); {
		pos := off + uint64(done)
		page, in := pos&^arch.PageMask, pos&arch.PageMask
		chunk := dst[done:min(len(dst), done+int(arch.PageSize-in))]
		fo, ok := s.pages[page]
		if !ok {
			clear(chunk)
		} else {
			b, err := s.mf.MapInternal(memmap.FileRange{Start: fo + in, End: fo + in + uint64(len(chunk))}, arch.Read)
			if err != nil {
				return done, err
			}
			copy(chunk, b)
		}
		done += len(chunk)
	}
	return len(dst), nil
}

// WriteAt copies src into the object at off, growing it to off+len(src)
// if that is past its size: EFBIG past the largest file size, EPERM where
// F_SEAL_WRITE or F_SEAL_FUTURE_WRITE forbid writes or F_SEAL_GROW the
// growth. A page that cannot be allocated ends the write short (ENOSPC if
// nothing was written, as shmem answers).
func (s *SharedMemory) WriteAt(src []byte, off uint64) (int, error) {
	if len(src) == 0 {
		return 0, nil // generic_write_checks ends an empty write first
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		return 0, unix.EPERM
	}
	if off >= maxFileSize {
		return 0, unix.EFBIG
	}
	src = src[:min(uint64(len(src)), maxFileSize-off)]
	if end := off + uint64(len(src)); end > s.size && s.seals&unix.F_SEAL_GROW != 0 {
		return 0, unix.EPERM
	}
	done := 0
	for done < len(src) {
		pos := off + uint64(done)
		page, in := pos&^arch.PageMask, pos&arch.PageMask
		n := min(len(src)-done, int(arch.PageSize-in))
		fo, err := s.pageLocked(page)
		if err != nil {
			break
		}
		b, err := s.mf.MapInternal(memmap.FileRange{Start: fo + in, End: fo + in + uint64(n)}, arch.Write)
		if err != nil {
			break
		}
		copy(b, src[done:done+n])
		delete(s.unwritten, page)
		done += n
	}
	if end := off + uint64(done); done > 0 && end > s.size {
		s.size = end
	}
	if done == 0 && len(src) > 0 {
		return 0, unix.ENOSPC
	}
	return done, nil
}

// Truncate sets the object's size (ftruncate): EPERM where F_SEAL_SHRINK or
// F_SEAL_GROW forbid the change. Not growing zeroes the rest of the new last
// page and frees every page past it, and invalidates their mappings,
// private copies included, so that their next access is SIGBUS.
//
// Preconditions: the caller holds no MemoryManager's activeMu.
func (s *SharedMemory) Truncate(size uint64) error {
	s.mu.Lock()
	if size < s.size && s.seals&unix.F_SEAL_SHRINK != 0 || size > s.size && s.seals&unix.F_SEAL_GROW != 0 {
		s.mu.Unlock()
		return unix.EPERM
	}
	old := s.size
	s.size = size
	if size > old {
		s.mu.Unlock()
		return nil
	}
	// Truncating to the size it has is a truncation too (shmem's
	// setattr): what lies past the size goes all the same.
	s.zeroLocked(size, pageRoundUp(size))
	// FALLOC_FL_KEEP_SIZE may have backed pages past the old size.
	gone := s.punchPagesLocked(memmap.MappableRange{Start: pageRoundUp(size), End: pageRoundUp(maxFileSize)})
	s.mu.Unlock()
	s.invalidate(gone, memmap.InvalidateOpts{InvalidatePrivate: true})
	return nil
}

// zeroLocked zeroes the object's bytes in [start, end), within one page;
// an unbacked page is zero already.
//
// Preconditions: s.mu is locked.
func (s *SharedMemory) zeroLocked(start, end uint64) {
	if start >= end {
		return
	}
	fo, ok := s.pages[start&^arch.PageMask]
	if !ok {
		return
	}
	in := start & arch.PageMask
	if b, err := s.mf.MapInternal(memmap.FileRange{Start: fo + in, End: fo + in + (end - start)}, arch.Write); err == nil {
		clear(b)
	}
}

// Allocate backs every page of [off, off+length) (fallocate mode 0),
// growing the size to off+length if that is past it unless keepSize
// (FALLOC_FL_KEEP_SIZE: pages past the size are backed all the same, as
// shmem's are): EPERM for a range past the size under F_SEAL_GROW, EFBIG
// past the largest file size, ENOSPC if pages run out, with the pages
// this call allocated freed again and the size unchanged (shmem's undo),
// so that a huge request leaves no memory taken.
func (s *SharedMemory) Allocate(off, length uint64, keepSize bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off > maxFileSize || length > maxFileSize-off {
		return unix.EFBIG
	}
	end := off + length
	if end > s.size && s.seals&unix.F_SEAL_GROW != 0 {
		return unix.EPERM
	}
	var added []uint64
	for page := off &^ arch.PageMask; page < end; page += arch.PageSize {
		if _, ok := s.pages[page]; ok {
			// A page fallocated before is initialized now, as
			// shmem's SGP_FALLOC does to a !Uptodate folio.
			delete(s.unwritten, page)
			continue
		}
		if _, err := s.pageLocked(page); err != nil {
			s.undoAllocateLocked(added)
			return unix.ENOSPC
		}
		if s.unwritten == nil {
			s.unwritten = make(map[uint64]struct{})
		}
		s.unwritten[page] = struct{}{}
		added = append(added, page)
	}
	if end > s.size && !keepSize {
		s.size = end
	}
	return nil
}

// undoAllocateLocked frees the pages a failed Allocate added. Nothing has
// mapped them: a fault would have taken them out of unwritten, and
// Allocate holds s.mu throughout.
//
// Preconditions: s.mu is locked.
func (s *SharedMemory) undoAllocateLocked(added []uint64) {
	for _, page := range added {
		fo := s.pages[page]
		s.mf.DecRef(memmap.FileRange{Start: fo, End: fo + arch.PageSize})
		delete(s.pages, page)
		delete(s.unwritten, page)
	}
}

// PunchHole makes [off, off+length) read as zeros without changing the size
// (FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE): whole pages are freed and
// their shared mappings invalidated (private copies stay, as Linux's
// hole punch leaves COWed pages), the partial pages at either end are
// zeroed in place. EPERM under F_SEAL_WRITE or F_SEAL_FUTURE_WRITE.
//
// Preconditions: the caller holds no MemoryManager's activeMu.
func (s *SharedMemory) PunchHole(off, length uint64) error {
	s.mu.Lock()
	if s.seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		s.mu.Unlock()
		return unix.EPERM
	}
	end := uint64(maxFileSize)
	if off < maxFileSize && length < maxFileSize-off {
		end = off + length
	}
	// Not bounded by the size: FALLOC_FL_KEEP_SIZE backs pages past it.
	first, last := pageRoundUp(off), end&^arch.PageMask
	if first > last { // within one page
		s.zeroLocked(off, end)
		s.mu.Unlock()
		return nil
	}
	s.zeroLocked(off, first)
	s.zeroLocked(last, end)
	var gone []sharedAnonMapping
	if first < last {
		gone = s.punchPagesLocked(memmap.MappableRange{Start: first, End: last})
	}
	s.mu.Unlock()
	s.invalidate(gone, memmap.InvalidateOpts{})
	return nil
}

// SeekData returns where lseek's SEEK_DATA (hole false) or SEEK_HOLE (hole
// true) from off lands: the first offset at or past off in a page that
// holds data (backed and faulted or written, shmem's uptodate folios; a
// page fallocate backed and nothing touched is a hole), or in a hole; the
// size counts as a hole. ENXIO for off at or past the size.
func (s *SharedMemory) SeekData(off uint64, hole bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off >= s.size {
		return 0, unix.ENXIO
	}
	first := off &^ arch.PageMask
	if hole {
		// Each step passes a page of data: as many as are backed.
		page := first
		for ; page < s.size && s.dataLocked(page); page += arch.PageSize {
		}
		return min(max(page, off), s.size), nil
	}
	found, data := uint64(0), false
	for page := range s.pages {
		if page >= first && page < s.size && s.dataLocked(page) && (!data || page < found) {
			found, data = page, true
		}
	}
	if !data {
		return 0, unix.ENXIO
	}
	return max(found, off), nil
}

// dataLocked reports whether the page at off holds data: it is backed and
// was faulted or written since fallocate backed it.
//
// Preconditions: s.mu is locked.
func (s *SharedMemory) dataLocked(off uint64) bool {
	_, backed := s.pages[off]
	_, unwritten := s.unwritten[off]
	return backed && !unwritten
}

// Seals returns the memfd's F_SEAL_* bits (F_GET_SEALS).
func (s *SharedMemory) Seals() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seals
}

// AddSeals adds seals (F_ADD_SEALS), with Linux's memfd_add_seals checks
// in its order: EINVAL for an unknown bit, EPERM once F_SEAL_SEAL is set,
// EBUSY for F_SEAL_WRITE while a mapping may write the object.
func (s *SharedMemory) AddSeals(seals uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seals&^allSeals != 0 {
		return unix.EINVAL
	}
	if s.seals&unix.F_SEAL_SEAL != 0 {
		return unix.EPERM
	}
	if seals&unix.F_SEAL_WRITE != 0 && s.seals&unix.F_SEAL_WRITE == 0 {
		for _, m := range s.mappings {
			if m.writable {
				return unix.EBUSY
			}
		}
	}
	s.seals |= seals
	return nil
}

// WriteSealed reports whether F_SEAL_WRITE or F_SEAL_FUTURE_WRITE is set:
// a new MAP_SHARED mapping may then never write.
func (s *SharedMemory) WriteSealed() bool {
	return s.Seals()&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0
}
