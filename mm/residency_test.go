package mm

import (
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// TestFaultAroundResidency: private anonymous memory that a fault mapped
// around the faulting page is resident (RSS, smaps' Rss, mincore,
// pagemap, move_pages) only where the program touched it, as Linux
// allocates such memory a page at a time; what was touched stays
// resident when mprotect, mremap or fork take the page tables' record
// away, and a system call's copy or populating touches too.
func TestFaultAroundResidency(t *testing.T) {
	m, as, _ := testMM(t, withFaultAround(64<<10))
	const W = 0x1000_0000
	a := anon(t, m, W, 8*page, rw)
	if err := m.HandleUserFault(a, arch.Write); err != nil {
		t.Fatal(err)
	}
	as.Touch(a + 2*page) // the program writes page 2 without a fault
	want := func(what string, m *MemoryManager, bits string) {
		t.Helper()
		vec := make([]byte, 8)
		if err := m.MinCore(uint64(a), 8*page, vec); err != nil {
			t.Fatal(err)
		}
		entries := make([]uint64, 8)
		m.Pagemap(a, entries)
		var n uint64
		for i, c := range bits {
			in := c == '1'
			if in {
				n += page
			}
			if (vec[i] == 1) != in || (entries[i]&PagemapPresent != 0) != in {
				t.Errorf("%s: page %d: mincore %d, pagemap %#x, want resident %v", what, i, vec[i], entries[i], in)
			}
		}
		if rss := m.Stats().RSS; rss != n {
			t.Errorf("%s: RSS %#x, want %#x", what, rss, n)
		}
		for _, v := range m.VMAs() {
			if v.Range.Start == a && v.Resident != n {
				t.Errorf("%s: smaps Rss %#x, want %#x", what, v.Resident, n)
			}
		}
		check(t, m)
	}
	want("after a fault and a touch", m, "10100000")
	status := make([]int32, 2)
	m.PageNodes([]uint64{uint64(a + 2*page), uint64(a + 3*page)}, status)
	if status[0] != 0 || status[1] != -int32(unix.ENOENT) {
		t.Errorf("move_pages on a touched and an untouched page: %v", status)
	}

	// mprotect down unmaps the pages: the record goes, the residency stays.
	as.Touch(a + 5*page)
	if err := m.MProtect(uint64(a), 8*page, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if err := m.MProtect(uint64(a), 8*page, rw); err != nil {
		t.Fatal(err)
	}
	want("after mprotect", m, "10100100")

	// A copy into page 6 touches it, as Linux's copy faults it in.
	if _, err := m.CopyOut(a+6*page+10, []byte{1}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	want("after a copy", m, "10100110")

	// mremap moves the pmas and unmaps the old range.
	if err := m.HandleUserFault(a, arch.Write); err != nil {
		t.Fatal(err)
	}
	as.Touch(a + 7*page)
	const W2 = 0x2000_0000
	anon(t, m, W2, 8*page, rw)
	if _, err := m.MRemap(uint64(a), 8*page, 8*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, W2); err != nil {
		t.Fatal(err)
	}
	a = W2
	want("after mremap", m, "10100111")

	// A fault on a page allocated already but untouched touches it.
	if err := m.HandleUserFault(a+3*page, arch.Read); err != nil {
		t.Fatal(err)
	}
	want("after a fault on an untouched page", m, "10110111")

	// fork keeps the parent's and gives the child what was resident.
	child, err := m.Fork(NewFakeAddressSpace(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	want("parent after fork", m, "10110111")
	want("child after fork", child, "10110111")

	// Populating touches what it populates.
	if err := m.Madvise(uint64(a), 2*page, unix.MADV_POPULATE_WRITE); err != nil {
		t.Fatal(err)
	}
	want("after MADV_POPULATE_WRITE", m, "11110111")
}

// TestFaultAroundPeakRSS: pages the program touched count in the peak RSS
// (VmHWM, ru_maxrss) even when munmap drops them before anything asked.
func TestFaultAroundPeakRSS(t *testing.T) {
	m, as, _ := testMM(t, withFaultAround(64<<10))
	a := anon(t, m, 0x1000_0000, 16*page, rw)
	if err := m.HandleUserFault(a, arch.Write); err != nil {
		t.Fatal(err)
	}
	for i := arch.Addr(1); i < 8; i++ {
		as.Touch(a + i*page)
	}
	if err := m.MUnmap(uint64(a), 16*page); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.RSS != 0 || s.PeakRSS != 8*page {
		t.Errorf("after munmap: RSS %#x, peak %#x, want 0 and 8 pages", s.RSS, s.PeakRSS)
	}
	check(t, m)
}
