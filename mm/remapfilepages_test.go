package mm

import (
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// TestRemapFilePages: Linux 6.18's emulation maps the vma's file again
// at page pgoff over the range, start and size taken down to pages, with
// the vma's protection; every check it makes is EINVAL, in its order.
func TestRemapFilePages(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(page))
	f := testFile(t, m, 4*page, 0)
	addr, err := m.MMap(0, 4*page, rw, unix.MAP_SHARED, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(4) {
		if _, err := m.CopyOut(addr+arch.Addr(i*page), []byte{'a' + byte(i)}, IOOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	pages := func() string {
		var s []byte
		for i := range uint64(4) {
			s = append(s, readByte(t, m, addr+arch.Addr(i*page)))
		}
		return string(s)
	}
	if err := m.RemapFilePages(uint64(addr), page, 0, 3, 0); err != nil {
		t.Fatalf("remap_file_pages(page 3 at 0) = %v", err)
	}
	if got := pages(); got != "dbcd" {
		t.Errorf("after page 3 at 0: %q, want dbcd", got)
	}
	// Unaligned start and size are taken down to pages.
	if err := m.RemapFilePages(uint64(addr)+2*page+5, 2*page+7, 0, 0, 0); err != nil {
		t.Fatalf("remap_file_pages(pages 0-1 at 2) = %v", err)
	}
	if got := pages(); got != "dbab" {
		t.Errorf("after pages 0-1 at 2: %q, want dbab", got)
	}
	anon, err := m.MMap(0, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name                            string
		start, size, prot, pgoff, flags uint64
	}{
		{"prot", uint64(addr), page, unix.PROT_READ, 0, 0},
		{"empty", uint64(addr), 100, 0, 0, 0},
		{"wrapping range", uint64(addr), ^uint64(0) &^ (page - 1), 0, 0, 0},
		{"wrapping pgoff", uint64(addr), page, 0, ^uint64(0), 0},
		{"no vma", 0x1000, page, 0, 0, 0},
		{"private vma", uint64(anon), page, 0, 0, 0},
		{"past the vma", uint64(addr) + 3*page, 2 * page, 0, 0, 0},
	} {
		if err := m.RemapFilePages(c.start, c.size, c.prot, c.pgoff, c.flags); err != unix.EINVAL {
			t.Errorf("remap_file_pages(%s) = %v, want EINVAL", c.name, err)
		}
	}
	if err := m.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
