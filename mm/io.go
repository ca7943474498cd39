package mm

import (
	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// IOOpts modify CopyIn, CopyOut and ZeroOut.
type IOOpts struct {
	// IgnorePermissions checks accesses against the vmas' maximum
	// permissions rather than their current ones, as the loader and
	// ptrace need (writing a read-only private mapping then breaks
	// copy-on-write instead of failing).
	IgnorePermissions bool
	// UserFaults makes a copy that reaches a missing page of a range a
	// userfaultfd registered queue a fault message and return what it
	// copied with a *UserFaultWait, as a system call's copy_to_user or
	// copy_from_user waits for the handler; the caller waits and copies
	// the rest. Without it the copy stops there with EFAULT.
	UserFaults bool
}

// CopyIn reads len(dst) bytes of guest memory at addr as the program
// would, faulting pages in. It returns the bytes copied and, if that is
// short, an error (EFAULT for an address the program may not read).
func (mm *MemoryManager) CopyIn(addr arch.Addr, dst []byte, opts IOOpts) (int, error) {
	return mm.withMemory(addr, uint64(len(dst)), arch.Read, opts, func(b []byte, done int) {
		copy(dst[done:], b)
	})
}

// CopyOut writes src to guest memory at addr as the program would,
// breaking copy-on-write. It returns the bytes written and, if short, an
// error.
func (mm *MemoryManager) CopyOut(addr arch.Addr, src []byte, opts IOOpts) (int, error) {
	return mm.withMemory(addr, uint64(len(src)), arch.Write, opts, func(b []byte, done int) {
		copy(b, src[done:])
	})
}

// ZeroOut writes n zero bytes at addr, as CopyOut of zeros would.
func (mm *MemoryManager) ZeroOut(addr arch.Addr, n uint64, opts IOOpts) (uint64, error) {
	done, err := mm.withMemory(addr, n, arch.Write, opts, func(b []byte, _ int) {
		clear(b)
	})
	return uint64(done), err
}

// withMemory calls fn on the host view of each piece of [addr, addr+n) in
// order, after making sure the program could make the access at; done is
// the number of bytes before the piece.
//
// An address in no vma but within reach of a grows-down vma above grows
// that vma first, as a copy to or from user memory faults through Linux's
// normal page-fault path and so expands a stack as a user fault does.
// Growth needs mappingMu for writing while the copy holds it for reading,
// so the copy stops at the hole, releases its locks, grows the stack
// (growStack, shared with HandleUserFault) and resumes where it stopped;
// if the hole is back when it resumes (another thread unmapped the new
// pages), the copy ends there with EFAULT rather than growing again. With
// IgnorePermissions (the loader, ptrace) nothing grows: Linux reaches
// another process's memory through get_user_pages, which has not expanded
// stacks since 6.5.
func (mm *MemoryManager) withMemory(addr arch.Addr, n uint64, at arch.AccessType, opts IOOpts, fn func(b []byte, done int)) (int, error) {
	if n == 0 {
		return 0, nil
	}
	end, ok := addr.AddLength(n)
	if !ok || end > mm.layout.TopOfUser {
		end = mm.layout.TopOfUser
		if addr >= end {
			return 0, unix.EFAULT
		}
	}
	done := 0
	pos := addr
	grewAt, grew := arch.Addr(0), false
	for {
		var hole bool
		var err error
		done, pos, hole, err = mm.copyUntilHole(pos, end, done, at, opts, fn)
		if err != nil {
			return done, err
		}
		if !hole {
			break
		}
		if opts.IgnorePermissions || (grew && grewAt == pos.RoundDown()) {
			return done, unix.EFAULT
		}
		if _, err := mm.growStack(pos, at); err != nil {
			return done, unix.EFAULT
		}
		grewAt, grew = pos.RoundDown(), true
	}
	if end-addr < arch.Addr(n) {
		return done, unix.EFAULT
	}
	return done, nil
}

// copyUntilHole does withMemory's work for [pos, end) under mappingMu
// (for reading) and activeMu, starting with done bytes already copied. It
// returns the bytes copied so far and where it stopped: at end, at the
// first error, or (hole) at the first address in no vma, which the caller
// may grow a stack to cover before calling it again from there.
func (mm *MemoryManager) copyUntilHole(pos, end arch.Addr, done int, at arch.AccessType, opts IOOpts, fn func(b []byte, done int)) (int, arch.Addr, bool, error) {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	for pos < end {
		vseg := mm.vmas.FindSegment(pos)
		if !vseg.Ok() {
			return done, pos, true, nil
		}
		v := vseg.ValuePtr()
		perms := v.effectivePerms
		if opts.IgnorePermissions {
			perms = v.maxPerms
		}
		if !perms.SupersetOf(at) {
			return done, pos, false, unix.EFAULT
		}
		chunkEnd := min(end, vseg.End())
		pages := arch.AddrRange{Start: pos.RoundDown(), End: chunkEnd.MustRoundUp()}
		optional := pages
		if v.isAnonymous() {
			optional = mm.faultAroundVMA(pages, vseg, 0)
		}
		var failed error
		if err := mm.getPMAsLocked(vseg, pages, optional, at); err != nil {
			// Copy what is backed up to the first page that is not,
			// as a copy to user memory stops at the faulting page.
			failed = unix.EFAULT
			chunkEnd = mm.usableExtentLocked(pos, chunkEnd, at)
			if uf, ok := userFaultOf(err); ok && opts.UserFaults {
				failed = uf
			}
		}
		if pos < chunkEnd {
			// A copy uses the pages as the program's access would.
			mm.touchLocked(arch.AddrRange{Start: pos.RoundDown(), End: chunkEnd.MustRoundUp()})
		}
		for pos < chunkEnd {
			pseg := mm.pmas.FindSegment(pos)
			r := arch.AddrRange{Start: pos, End: min(chunkEnd, pseg.End())}
			b, err := pseg.ValuePtr().file.MapInternal(fileRangeOf(pseg, r), at)
			if err != nil {
				return done, pos, false, unix.EFAULT
			}
			fn(b, done)
			done += int(r.Length())
			pos = r.End
		}
		if uf, ok := failed.(*errUserFault); ok {
			w, err := uf.ctx.queueLocked(uf, max(pos, uf.addr), at.Write, false, 0)
			if err != nil {
				return done, pos, false, unix.EFAULT
			}
			return done, pos, false, w
		}
		if failed != nil {
			return done, pos, false, failed
		}
	}
	return done, pos, false, nil
}

// usableExtentLocked returns how far from pos (up to end) pmas allow at
// without a copy-on-write break still pending, a write-protected page for
// a write, or a guard page.
//
// Preconditions: mm.activeMu is locked.
func (mm *MemoryManager) usableExtentLocked(pos, end arch.Addr, at arch.AccessType) arch.Addr {
	for pos < end {
		pseg := mm.pmas.FindSegment(pos)
		if !pseg.Ok() {
			return pos
		}
		if p := pseg.ValuePtr(); p.guard || (at.Write && (p.needCOW || p.uffdWP)) {
			return pos
		}
		pos = min(end, pseg.End())
	}
	return end
}
