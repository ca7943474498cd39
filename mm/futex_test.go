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

// TestFutexWordAccess: the futex word accesses check alignment and
// permissions, ModifyFutexWord breaks copy-on-write like a write, and
// concurrent modifications lose no update.
func TestFutexWordAccess(t *testing.T) {
	const rwAddr, roAddr = 0x10000000, 0x20000000
	m, _, _ := testMM(t, withFaultAround(page))
	if _, err := m.MMap(rwAddr, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.MMap(roAddr, page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	if v, err := m.LoadFutexWord(roAddr + 8); err != nil || v != 0 {
		t.Errorf("load of a fresh read-only word: %d, %v", v, err)
	}
	if _, err := m.ModifyFutexWord(roAddr+8, func(o uint32) uint32 { return o + 1 }); err != unix.EFAULT {
		t.Errorf("modify of a read-only word: %v, want EFAULT", err)
	}
	if _, err := m.LoadFutexWord(rwAddr + 2); err != unix.EINVAL {
		t.Errorf("load of an unaligned word: %v, want EINVAL", err)
	}
	if _, err := m.LoadFutexWord(0x30000000); err != unix.EFAULT {
		t.Errorf("load of an unmapped word: %v, want EFAULT", err)
	}
	const workers, each = 4, 1000
	done := make(chan error, workers)
	for range workers {
		go func() {
			for range each {
				if _, err := m.ModifyFutexWord(rwAddr+4, func(o uint32) uint32 { return o + 1 }); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	old, err := m.ModifyFutexWord(rwAddr+4, func(uint32) uint32 { return 0 })
	if err != nil || old != workers*each {
		t.Errorf("after %d concurrent increments the word is %d (%v)", workers*each, old, err)
	}
	var b [4]byte
	if _, err := m.CopyIn(rwAddr+4, b[:], IOOpts{}); err != nil || b != [4]byte{} {
		t.Errorf("CopyIn after the modification reads %v (%v), want zeros", b, err)
	}
}
