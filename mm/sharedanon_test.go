package mm

import (
	"slices"

	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// TestMadviseRemoveReachesEveryMapping checks that MADV_REMOVE of a shared
// anonymous range zeroes it for every mapping of the object, as shmem's
// hole punching does on Linux, and that a mapping keeps seeing the pages
// written through another one afterwards.
func TestMadviseRemoveReachesEveryMapping(t *testing.T) {
	const src = 0x10000000
	for _, tc := range []struct {
		name string
		// other returns how to reach the object's page at offset off
		// other than through src: a MemoryManager and an address.
		other func(t *testing.T, m *MemoryManager) (*MemoryManager, func(off uint64) arch.Addr)
	}{
		{
			// The moved copy MREMAP_DONTUNMAP makes of part of it, in the
			// same MemoryManager (mm once invalidated only the range
			// advised, so the copy kept the freed page).
			name: "DontUnmapCopy",
			other: func(t *testing.T, m *MemoryManager) (*MemoryManager, func(uint64) arch.Addr) {
				dst, err := m.MRemap(src+2*page, 2*page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_DONTUNMAP, 0)
				if err != nil {
					t.Fatal(err)
				}
				return m, func(off uint64) arch.Addr { return dst + arch.Addr(off-2*page) }
			},
		},
		{
			name: "Fork",
			other: func(t *testing.T, m *MemoryManager) (*MemoryManager, func(uint64) arch.Addr) {
				child, err := m.Fork(NewFakeAddressSpace(), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(child.Release)
				return child, func(off uint64) arch.Addr { return src + arch.Addr(off) }
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := testMM(t, withFaultAround(page))
			if _, err := m.MMap(src, 4*page, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
				t.Fatal(err)
			}
			const off = 3 * page
			if _, err := m.CopyOut(src+off, []byte{'x'}, IOOpts{}); err != nil {
				t.Fatal(err)
			}
			om, at := tc.other(t, m)
			if got := readByte(t, om, at(off)); got != 'x' {
				t.Fatalf("other mapping reads %q before MADV_REMOVE, want 'x'", got)
			}
			if err := m.Madvise(src, 4*page, unix.MADV_REMOVE); err != nil {
				t.Fatal(err)
			}
			if got := readByte(t, om, at(off)); got != 0 {
				t.Errorf("other mapping reads %q after MADV_REMOVE, want 0", got)
			}
			if _, err := om.CopyOut(at(off), []byte{'y'}, IOOpts{}); err != nil {
				t.Fatal(err)
			}
			if got := readByte(t, m, src+off); got != 'y' {
				t.Errorf("advised mapping reads %q after a write through the other, want 'y'", got)
			}
			if err := om.CheckInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSharedAnonMappingsFollowUnmap checks the object's record of its
// mappings as munmap cuts them: a hole in the middle leaves two parts at
// their own offsets, and unmapping the rest leaves none.
func TestSharedAnonMappingsFollowUnmap(t *testing.T) {
	const src = 0x10000000
	m, _, _ := testMM(t)
	if _, err := m.MMap(src, 4*page, rw, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	_, v := vmaAt(t, m, src)
	sa := v.mappable.(*SharedMemory)
	if err := m.MUnmap(src+page, page); err != nil {
		t.Fatal(err)
	}
	want := []sharedAnonMapping{
		{ms: m, ar: arch.AddrRange{Start: src, End: src + page}, off: 0, writable: true},
		{ms: m, ar: arch.AddrRange{Start: src + 2*page, End: src + 4*page}, off: 2 * page, writable: true},
	}
	if !slices.Equal(sa.mappings, want) {
		t.Errorf("mappings after a hole: %v, want %v", sa.mappings, want)
	}
	if err := m.MUnmap(src, 4*page); err != nil {
		t.Fatal(err)
	}
	if len(sa.mappings) != 0 {
		t.Errorf("mappings after unmapping all: %v, want none", sa.mappings)
	}
}
