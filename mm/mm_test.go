package mm

import (
	"errors"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"golang.org/x/sys/unix"
)

const page = arch.PageSize

// testMM returns a MemoryManager over a real MemoryFile and a
// FakeAddressSpace, checking its invariants when the test ends.
func testMM(t testing.TB, opts ...func(*Options)) (*MemoryManager, *FakeAddressSpace, *memfile.MemoryFile) {
	t.Helper()
	mf, err := memfile.New(memfile.Options{Limit: 256 << 20, Name: "mm-test"})
	if err != nil {
		t.Fatalf("memfile.New: %v", err)
	}
	as := NewFakeAddressSpace()
	o := Options{MemoryFile: mf, AddressSpace: as}
	for _, f := range opts {
		f(&o)
	}
	m, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.CheckInvariants(); err != nil {
			t.Errorf("invariants at the end: %v", err)
		}
		m.Release()
		if st := mf.Stats(); st.Allocated != 0 {
			t.Errorf("%d bytes still allocated after Release: a reference leaked", st.Allocated)
		}
		mf.Close()
	})
	return m, as, mf
}

func withFaultAround(n uint64) func(*Options) { return func(o *Options) { o.FaultAround = n } }

func withLimits(l Limits) func(*Options) { return func(o *Options) { o.Limits = &l } }

// anon maps length bytes of private anonymous memory at addr (MAP_FIXED if
// addr != 0).
func anon(t testing.TB, m *MemoryManager, addr, length uint64, prot uint64) arch.Addr {
	t.Helper()
	flags := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS)
	if addr != 0 {
		flags |= unix.MAP_FIXED
	}
	a, err := m.MMap(addr, length, prot, flags, nil, 0)
	if err != nil {
		t.Fatalf("mmap(%#x, %#x, %d): %v", addr, length, prot, err)
	}
	return a
}

func check(t testing.TB, m *MemoryManager) {
	t.Helper()
	if err := m.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.Errno(0xffff)
}

// layout returns the vmas as "start-end perms" strings.
func layout(m *MemoryManager) []string {
	var out []string
	for _, v := range m.VMAs() {
		s := "p"
		if v.Shared {
			s = "s"
		}
		out = append(out, v.Range.String()+" "+v.Perms.String()+s)
	}
	return out
}

const rw = unix.PROT_READ | unix.PROT_WRITE

func TestMMapMUnmapBasic(t *testing.T) {
	m, _, _ := testMM(t)
	a := anon(t, m, 0, 3*page, rw)
	if a == 0 || !a.IsPageAligned() || a >= m.Layout().MmapBase {
		t.Fatalf("mmap returned %v", a)
	}
	if got := m.Stats().VirtualSize; got != 3*page {
		t.Errorf("VirtualSize = %#x", got)
	}
	if err := m.MUnmap(uint64(a)+page, page); err != nil {
		t.Fatal(err)
	}
	if got := len(m.VMAs()); got != 2 {
		t.Errorf("after punching a hole: %d vmas, want 2", got)
	}
	check(t, m)
}

func TestFaultAroundAllocatesUnit(t *testing.T) {
	for _, unit := range []uint64{page, 64 << 10, 2 << 20} {
		m, as, _ := testMM(t, withFaultAround(unit))
		a := anon(t, m, 0x10000000, 4<<20, rw)
		if err := m.HandleUserFault(a+0x1234, arch.Write); err != nil {
			t.Fatal(err)
		}
		_, _, pages := as.Counts()
		if pages != unit/page {
			t.Errorf("unit %#x: one fault mapped %d pages, want %d", unit, pages, unit/page)
		}
		// Only the page the program touched is resident, as on Linux.
		if rss := m.Stats().RSS; rss != page {
			t.Errorf("unit %#x: RSS %#x, want the touched page", unit, rss)
		}
		// Every page of the unit is now accessible without a fault, and
		// resident once the program touches it.
		last := (a + 0x1234).AlignDown(unit) + arch.Addr(unit) - 1
		if !as.Access(last, arch.Write) {
			t.Errorf("unit %#x: last page of the unit not mapped", unit)
		}
		as.Touch(last)
		if want := min(unit, 2*page); m.Stats().RSS != want {
			t.Errorf("unit %#x: RSS %#x after touching the unit's last page, want %#x", unit, m.Stats().RSS, want)
		}
		check(t, m)
	}
}
