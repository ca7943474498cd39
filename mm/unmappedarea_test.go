package mm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// The linear searches below are the reference for the address search: the
// code that chose mmap's address before the vma set had a gap index, kept
// verbatim, O(n) in the gaps walked. TestUnmappedAreaMatchesLinear compares
// the indexed search with them; BenchmarkUnmappedArea measures both.

// unmappedAreaTopDownLinearLocked is unmappedAreaTopDownLocked as it was
// before the gap index: it walks the gaps down from high one by one.
func (mm *MemoryManager) unmappedAreaTopDownLinearLocked(length uint64, low, high arch.Addr) (arch.Addr, error) {
	low = max(low, mm.layout.MinAddr)
	for high > low && uint64(high-low) >= length {
		vseg, gap := mm.vmas.Find(high - 1)
		if vseg.Ok() {
			gap = vseg.PrevGap()
		}
		for ; gap.Ok(); gap = gap.PrevGap() {
			end := min(gap.End(), high)
			if end <= low {
				return 0, unix.ENOMEM
			}
			if begin := max(gap.Start(), low); end > begin && uint64(end-begin) >= length {
				break
			}
			if gap.Start() == 0 {
				return 0, unix.ENOMEM
			}
		}
		if !gap.Ok() {
			return 0, unix.ENOMEM
		}
		end := min(gap.End(), high)
		start := end - arch.Addr(length)
		if next := gap.NextSegment(); next.Ok() && next.ValuePtr().growsDown && vmaStartGap(next) < end {
			high = vmaStartGap(next)
			continue
		}
		return start, nil
	}
	return 0, unix.ENOMEM
}

// unmappedAreaBottomUpLinearLocked is unmappedAreaBottomUpLocked as it was
// before the gap index: it walks the gaps up from low one by one.
func (mm *MemoryManager) unmappedAreaBottomUpLinearLocked(length uint64, low, high arch.Addr) (arch.Addr, error) {
	low = max(low, mm.layout.MinAddr)
	for high > low && uint64(high-low) >= length {
		vseg, gap := mm.vmas.Find(low)
		if vseg.Ok() {
			gap = vseg.NextGap()
		}
		for ; gap.Ok(); gap = gap.NextGap() {
			begin := max(gap.Start(), low)
			if begin >= high || uint64(high-begin) < length {
				return 0, unix.ENOMEM
			}
			if end := min(gap.End(), high); end > begin && uint64(end-begin) >= length {
				break
			}
		}
		if !gap.Ok() {
			return 0, unix.ENOMEM
		}
		start := max(gap.Start(), low)
		if next := gap.NextSegment(); next.Ok() && next.ValuePtr().growsDown && uint64(vmaStartGap(next)) < uint64(start)+length-1 {
			low = next.End()
			continue
		}
		return start, nil
	}
	return 0, unix.ENOMEM
}

// searchLayout is a small address space, so that random vmas crowd it and
// grows-down guard gaps (256 pages) matter: 64 MiB, mmap base at 48 MiB.
var searchLayout = Layout{MinAddr: 0x10000, MmapBase: 48 << 20, TopOfUser: 64 << 20, StackTop: 64 << 20}

// randomVMALayout fills m (emptied first) with up to 300 random vmas, in
// one of three shapes: packed below the mmap base by hint-less mmaps (as a
// program mapping many small regions makes them), scattered by MAP_FIXED,
// or both. One in eight is grows-down; permissions alternate at random so
// that neighbours often stay apart.
func randomVMALayout(t *testing.T, m *MemoryManager, rng *rand.Rand) {
	t.Helper()
	m.Release()
	n := 1 + rng.IntN(300)
	shape := rng.IntN(3)
	for range n {
		prot := []uint64{unix.PROT_READ, rw}[rng.IntN(2)]
		flags := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS)
		if rng.IntN(8) == 0 {
			flags |= unix.MAP_GROWSDOWN
		}
		length := uint64(1+rng.IntN(8)) * page
		if rng.IntN(10) == 0 {
			length = uint64(1+rng.IntN(600)) * page
		}
		addr := uint64(0)
		if shape == 1 || (shape == 2 && rng.IntN(2) == 0) {
			flags |= unix.MAP_FIXED
			addr = uint64(searchLayout.MinAddr) + uint64(rng.IntN(int(searchLayout.TopOfUser-searchLayout.MinAddr)/page))*page
			addr = min(addr, uint64(searchLayout.TopOfUser)-length)
		}
		// A full address space refuses hint-less mmaps: that is fine.
		if _, err := m.MMap(addr, length, prot, flags, nil, 0); err != nil && err != unix.ENOMEM {
			t.Fatalf("mmap(%#x, %#x, flags %#x): %v", addr, length, flags, err)
		}
	}
}

// randomSearch returns a random search: a length (usually whole pages,
// sometimes 0, unaligned, about a guard gap or larger than the space) and
// bounds (usually the ones mm passes, else random, sometimes unaligned or
// reversed).
func randomSearch(rng *rand.Rand) (length uint64, low, high arch.Addr) {
	top := searchLayout.TopOfUser
	switch rng.IntN(10) {
	case 0:
		length = 0
	case 1:
		length = uint64(1 + rng.IntN(1<<20))
	case 2:
		length = StackGuardGap + uint64(rng.IntN(512)-256)*page
	case 3:
		length = uint64(rng.IntN(int(top)/page+2)) * page
	default:
		length = uint64(1+rng.IntN(16)) * page
	}
	addr := func() arch.Addr {
		switch rng.IntN(8) {
		case 0:
			return []arch.Addr{0, page, searchLayout.MinAddr, searchLayout.MmapBase, top, legacyMmapBase(top)}[rng.IntN(6)]
		case 1:
			return arch.Addr(rng.IntN(int(top) + 1))
		default:
			return arch.Addr(rng.IntN(int(top)/page+1)) * page
		}
	}
	switch rng.IntN(3) {
	case 0: // as archUnmappedAreaLocked searches
		return length, page, searchLayout.MmapBase
	case 1:
		return length, legacyMmapBase(top), top
	}
	return length, addr(), addr()
}

// TestUnmappedAreaMatchesLinear compares the indexed top-down and bottom-up
// searches with the linear ones they replace, over thousands of random vma
// layouts and many random searches in each, and checks that the runs were
// not vacuous: both outcomes occur, and guard gaps changed answers.
func TestUnmappedAreaMatchesLinear(t *testing.T) {
	layouts, searches := 1500, 40
	if testing.Short() {
		layouts = 300
	}
	m, _, _ := testMM(t, func(o *Options) { o.Layout = searchLayout })
	rng := rand.New(rand.NewPCG(1, 2))
	var found, enomem, guarded int
	for layout := range layouts {
		randomVMALayout(t, m, rng)
		m.mappingMu.RLock()
		for range searches {
			length, low, high := randomSearch(rng)
			for _, dir := range []struct {
				name         string
				index, naive func(uint64, arch.Addr, arch.Addr) (arch.Addr, error)
			}{
				{"top-down", m.unmappedAreaTopDownLocked, m.unmappedAreaTopDownLinearLocked},
				{"bottom-up", m.unmappedAreaBottomUpLocked, m.unmappedAreaBottomUpLinearLocked},
			} {
				got, gotErr := dir.index(length, low, high)
				want, wantErr := dir.naive(length, low, high)
				if got != want || gotErr != wantErr {
					m.mappingMu.RUnlock()
					t.Fatalf("layout %d, %s search for %#x bytes in %v: got %v, %v; linear %v, %v\nvmas:\n%s",
						layout, dir.name, length, arch.AddrRange{Start: low, End: high}, got, gotErr, want, wantErr, m.vmaDump())
				}
				if gotErr != nil {
					enomem++
					continue
				}
				found++
				// Would the first fit, ignoring guard gaps, have been
				// the answer?
				r := arch.AddrRange{Start: max(low, searchLayout.MinAddr), End: high}
				if dir.name == "top-down" {
					if g := m.vmas.LastGapAtLeast(r, length); min(g.End(), high)-arch.Addr(length) != got {
						guarded++
					}
				} else if g := m.vmas.FirstGapAtLeast(r, length); max(g.Start(), r.Start) != got {
					guarded++
				}
			}
		}
		m.mappingMu.RUnlock()
	}
	t.Logf("%d layouts, %d searches: %d found, %d ENOMEM, %d moved by a guard gap", layouts, 2*layouts*searches, found, enomem, guarded)
	if found < layouts || enomem < layouts || guarded < layouts/10 {
		t.Errorf("too few of each outcome to trust the comparison: %d found, %d ENOMEM, %d guarded", found, enomem, guarded)
	}
}

// vmaDump lists the vmas for a failure message, grows-down ones marked.
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) vmaDump() string {
	var out string
	for r, v := range mm.vmas.All() {
		out += fmt.Sprintf("  %v growsDown=%v\n", r, v.growsDown)
	}
	return out
}

// TestLegacyLayoutBottomUp: under LegacyLayout (ADDR_COMPAT_LAYOUT) mmap
// places mappings upward from TASK_UNMAPPED_BASE, a third of the user
// address space (0x2aaaaaaab000 with 47-bit addresses, where Linux puts
// the first mapping of such a program without randomisation), a free hint
// still wins, and a 2 MiB anonymous mapping is aligned without skipping
// an aligned start.
func TestLegacyLayoutBottomUp(t *testing.T) {
	m, _, _ := testMM(t, func(o *Options) { o.Layout = LegacyLayout() })
	base := arch.Addr(0x2aaaaaaab000)
	if got := LegacyLayout().MmapBase; got != base {
		t.Fatalf("TASK_UNMAPPED_BASE %#x, want %#x", got, base)
	}
	mmap := func(hint, length uint64) arch.Addr {
		t.Helper()
		a, err := m.MMap(hint, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
		if err != nil {
			t.Fatalf("mmap: %v", err)
		}
		return a
	}
	if a := mmap(0, 4096); a != base {
		t.Errorf("first mapping at %#x, want %#x", a, base)
	}
	if a := mmap(0, 4096); a != base+4096 {
		t.Errorf("second mapping at %#x, want %#x", a, base+4096)
	}
	if a := mmap(0x10000000, 4096); a != 0x10000000 {
		t.Errorf("a free hint gives %#x", a)
	}
	huge := mmap(0, arch.HugePageSize)
	if huge%arch.HugePageSize != 0 || huge < base || huge >= base+2*arch.HugePageSize {
		t.Errorf("a 2 MiB mapping at %#x, want the first 2 MiB boundary above %#x", huge, base+2*4096)
	}
}
