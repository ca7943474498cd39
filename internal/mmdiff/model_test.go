package mmdiff

import (
	"sort"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// model is a page-at-a-time memory manager for a few calls on private
// anonymous memory: enough to check the harness (a host that agrees with
// it over thousands of operations, and a planted bug the shrinker finds).
type model struct {
	pages map[uint64]*modelPage
	// brokenProtect plants a bug: mprotect of more than a page skips the
	// last page.
	brokenProtect bool
}

type modelPage struct {
	perms arch.AccessType
	data  []byte // nil: zero
	guard bool   // MADV_GUARD_INSTALL: every access faults
}

func newModel() *model { return &model{pages: map[uint64]*modelPage{}} }

// modelAccepts says which operations the model implements: well-formed
// calls on private anonymous memory at fixed addresses.
func modelAccepts(op Op) bool {
	plain := op.Addr%pageSize == 0 && op.Len%pageSize == 0 && op.Len > 0 && inWindow(op.Addr, op.Len)
	okProt := op.Prot == unix.PROT_NONE || op.Prot == unix.PROT_READ || op.Prot == unix.PROT_READ|unix.PROT_WRITE
	switch op.Kind {
	case KindMMap:
		return plain && okProt && op.Flags == unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED && op.FD == -1 && op.Off == 0
	case KindMUnmap:
		return plain
	case KindMProtect:
		return plain && okProt
	case KindMadvise:
		return plain && (op.Flags == unix.MADV_DONTNEED || op.Flags == unix.MADV_GUARD_INSTALL || op.Flags == unix.MADV_GUARD_REMOVE)
	case KindWrite, KindRead, KindZero:
		return true
	}
	return false
}

func (m *model) pagesOf(addr, length uint64) []uint64 {
	var ps []uint64
	for a := addr; a < addr+length; a += pageSize {
		ps = append(ps, a)
	}
	return ps
}

func (m *model) MMap(addr, length uint64, prot, flags, fd int, off uint64) (uint64, unix.Errno) {
	for _, a := range m.pagesOf(addr, length) {
		m.pages[a] = &modelPage{perms: arch.AccessFromProt(prot)}
	}
	return addr, 0
}

func (m *model) MUnmap(addr, length uint64) unix.Errno {
	for _, a := range m.pagesOf(addr, length) {
		delete(m.pages, a)
	}
	return 0
}

// MProtect changes pages from addr until the first hole, as Linux changes
// vmas until it meets one.
func (m *model) MProtect(addr, length uint64, prot int) unix.Errno {
	ps := m.pagesOf(addr, length)
	if m.brokenProtect && len(ps) > 1 {
		ps = ps[:len(ps)-1]
	}
	for _, a := range ps {
		p, ok := m.pages[a]
		if !ok {
			return unix.ENOMEM
		}
		p.perms = arch.AccessFromProt(prot)
	}
	return 0
}

func (m *model) Madvise(addr, length uint64, advice int) unix.Errno {
	e := unix.Errno(0)
	for _, a := range m.pagesOf(addr, length) {
		if p, ok := m.pages[a]; ok {
			switch advice {
			case unix.MADV_GUARD_INSTALL:
				p.data, p.guard = nil, true
			case unix.MADV_GUARD_REMOVE:
				p.guard = false
			default: // MADV_DONTNEED keeps guards
				p.data = nil
			}
		} else {
			e = unix.ENOMEM
		}
	}
	return e
}

func (m *model) copy(addr uint64, b []byte, write bool) (int, unix.Errno) {
	done := 0
	for done < len(b) {
		a := addr + uint64(done)
		pa := a &^ (pageSize - 1)
		p, ok := m.pages[pa]
		if !ok || p.guard || (write && !p.perms.Write) || (!write && !p.perms.Effective().Read) {
			return done, unix.EFAULT
		}
		if p.data == nil {
			p.data = make([]byte, pageSize)
		}
		n := copyPage(p.data[a-pa:], b[done:], write)
		done += n
	}
	return done, 0
}

func copyPage(page, b []byte, write bool) int {
	if write {
		return copy(page, b)
	}
	return copy(b, page)
}

func (m *model) CopyOut(addr uint64, src []byte) (int, unix.Errno) { return m.copy(addr, src, true) }
func (m *model) CopyIn(addr uint64, dst []byte) (int, unix.Errno)  { return m.copy(addr, dst, false) }
func (m *model) ZeroOut(addr, n uint64) (int, unix.Errno) {
	return m.copy(addr, make([]byte, n), true)
}

func (m *model) Layout() ([]Mapping, error) {
	addrs := make([]uint64, 0, len(m.pages))
	for a := range m.pages {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	var ms []Mapping
	for _, a := range addrs {
		ms = append(ms, Mapping{Start: a, End: a + pageSize, Perms: m.pages[a].perms})
	}
	return Coalesce(ms, false), nil
}

func (m *model) MRemap(uint64, uint64, uint64, int, uint64) (uint64, unix.Errno) {
	return 0, unix.ENOSYS
}
func (m *model) MLock(uint64, uint64, int) unix.Errno      { return unix.ENOSYS }
func (m *model) MUnlock(uint64, uint64) unix.Errno         { return unix.ENOSYS }
func (m *model) MSync(uint64, uint64, int) unix.Errno      { return unix.ENOSYS }
func (m *model) MinCore(uint64, uint64, []byte) unix.Errno { return unix.ENOSYS }
func (m *model) LockedBytes() (uint64, bool)               { return 0, false }
