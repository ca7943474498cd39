package mm

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestFutexKey: a word of a shared mapping seen at two addresses has one
// key; a private mapping's words are keyed by address; an unmapped address
// is EFAULT.
func TestFutexKey(t *testing.T) {
	const shared, private = 0x10000000, 0x20000000
	m, _, _ := testMM(t, withFaultAround(page))
	if _, err := m.MMap(shared, 2*page, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	// mremap with old size 0 maps the same shared pages again elsewhere.
	alias, err := m.MRemap(shared, 0, 2*page, unix.MREMAP_MAYMOVE, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.MMap(private, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	k1, s1, err1 := m.FutexKey(shared + page + 8)
	k2, s2, err2 := m.FutexKey(alias + page + 8)
	if err1 != nil || err2 != nil || !s1 || !s2 || k1 != k2 {
		t.Errorf("shared word at two addresses: keys %#x,%v,%v and %#x,%v,%v; want one shared key", k1, s1, err1, k2, s2, err2)
	}
	if k3, _, _ := m.FutexKey(shared + 8); k3 == k1 {
		t.Errorf("another page of the shared mapping has the same key %#x", k3)
	}
	if k, s, err := m.FutexKey(private + 4); err != nil || s || k != private+4 {
		t.Errorf("private word: %#x,%v,%v; want its address, not shared", k, s, err)
	}
	if _, _, err := m.FutexKey(0x30000000); err != unix.EFAULT {
		t.Errorf("unmapped word: %v, want EFAULT", err)
	}
}
