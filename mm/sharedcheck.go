package mm

import (
	"bytes"
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// sharedPageCheck checks copy-on-write where it can go wrong unseen: in the
// page tables. Nobody may write a private page while two pmas share it (a
// write copies it first), so a page that changed between the moment a fork
// shared it and the moment it stopped being shared was written through a
// translation that copy-on-write should have removed, or left in a TLB or
// a hypervisor's shadow. It keeps a copy of each page while the page is
// shared and compares when the count of owners drops back to one
// (Options.CopyOnWriteChanged). It doubles the memory of shared pages: it
// is for tests.
//
// Its state is guarded by the privateRefs' mu, whose transitions it
// follows.
type sharedPageCheck struct {
	mf     MemoryFile
	report func(error)
	// copies holds each shared page's bytes as they were when it became
	// shared, by the page's MemoryFile offset.
	copies map[uint64][]byte
}

// shared records the bytes of fr, whose pages are gaining their second
// owner.
func (c *sharedPageCheck) shared(fr memmap.FileRange) {
	b, err := c.mf.MapInternal(fr, arch.Read)
	if err != nil {
		c.report(fmt.Errorf("mm: reading shared pages %v to check them: %w", fr, err))
		return
	}
	for off := fr.Start; off < fr.End; off += arch.PageSize {
		c.copies[off] = bytes.Clone(b[off-fr.Start : off-fr.Start+arch.PageSize])
	}
}

// unshared compares the pages of fr, down to one owner or none, with their
// copies and forgets them.
func (c *sharedPageCheck) unshared(fr memmap.FileRange) {
	b, err := c.mf.MapInternal(fr, arch.Read)
	if err != nil {
		c.report(fmt.Errorf("mm: reading shared pages %v to check them: %w", fr, err))
		return
	}
	for off := fr.Start; off < fr.End; off += arch.PageSize {
		saved, ok := c.copies[off]
		if !ok {
			continue
		}
		delete(c.copies, off)
		now := b[off-fr.Start : off-fr.Start+arch.PageSize]
		if i := firstDifference(saved, now); i >= 0 {
			c.report(fmt.Errorf("mm: MemoryFile page %#x changed while it was shared copy-on-write: byte %#x was %#x, is %#x", off, i, saved[i], now[i]))
		}
	}
}

// firstDifference is the index of the first byte where a and b differ, or
// -1.
func firstDifference(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
