package mm

import (
	"fmt"
	"testing"
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/rangeset"
	"golang.org/x/sys/unix"
)

// benchMM returns a MemoryManager with n one-page vmas that cannot merge
// (alternating permissions) packed from 0x1000_0000 up, far below the
// mmap base, and a 3-page read-write vma at work for the measured
// operations.
func benchMM(b *testing.B, n int) (m *MemoryManager, work arch.Addr) {
	b.Helper()
	m, _, _ = testMM(b, withFaultAround(page), withLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: 0, Stack: 8 << 20, MaxMapCount: 1 << 20}))
	const base = 0x1000_0000
	for i := range n {
		prot := uint64(unix.PROT_READ)
		if i%2 == 1 {
			prot = rw
		}
		if _, err := m.MMap(base+uint64(i)*page, page, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
	work = base + arch.Addr(n/2)*page + 0x4000_0000
	if _, err := m.MMap(uint64(work), 3*page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		b.Fatal(err)
	}
	return m, work
}

var vmaCounts = []int{1, 1000, 100000}

// benchOps are the operations measured at each vma count; each call is
// one iteration.
var benchOps = []struct {
	name string
	op   func(m *MemoryManager, work arch.Addr) error
}{
	{"MMapMUnmap", func(m *MemoryManager, _ arch.Addr) error {
		a, err := m.MMap(0, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
		if err != nil {
			return err
		}
		return m.MUnmap(uint64(a), page)
	}},
	{"MMapHintMUnmap", func(m *MemoryManager, work arch.Addr) error {
		hint := uint64(work) + 0x100000
		a, err := m.MMap(hint, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
		if err != nil || uint64(a) != hint {
			return fmt.Errorf("hinted mmap at %v: %v", a, err)
		}
		return m.MUnmap(uint64(a), page)
	}},
	{"MProtectSplitMerge", func(m *MemoryManager, work arch.Addr) error {
		if err := m.MProtect(uint64(work)+page, page, unix.PROT_READ); err != nil {
			return err
		}
		return m.MProtect(uint64(work)+page, page, rw)
	}},
	{"FaultDontneed", func(m *MemoryManager, work arch.Addr) error {
		if err := m.HandleUserFault(work+page, arch.Write); err != nil {
			return err
		}
		return m.Madvise(uint64(work)+page, page, unix.MADV_DONTNEED)
	}},
}

func BenchmarkVMAs(b *testing.B) {
	for _, op := range benchOps {
		for _, n := range vmaCounts {
			b.Run(fmt.Sprintf("%s/vmas=%d", op.name, n), func(b *testing.B) {
				m, work := benchMM(b, n)
				for b.Loop() {
					if err := op.op(m, work); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkHostMMapMUnmap is the host kernel's mmap+munmap pair, the
// baseline for MMapMUnmap.
func BenchmarkHostMMapMUnmap(b *testing.B) {
	for b.Loop() {
		mem, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Munmap(mem); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScaling measures each operation at 1, 10^3 and 10^5 vmas in one
// run and logs the cost ratios to 1 vma (which should grow at most
// logarithmically), and the MMap+MUnmap pair's ratio to the host kernel's.
func BenchmarkScaling(b *testing.B) {
	for b.Loop() {
		host := nsPerOp(func() error {
			mem, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				return err
			}
			return unix.Munmap(mem)
		})
		for _, op := range benchOps {
			var base float64
			line := op.name + ":"
			for _, n := range vmaCounts {
				m, work := benchMM(b, n)
				ns := nsPerOp(func() error { return op.op(m, work) })
				if n == 1 {
					base = ns
				}
				line += fmt.Sprintf(" %d vmas %.0f ns (x%.2f)", n, ns, ns/base)
				if op.name == "MMapMUnmap" {
					line += fmt.Sprintf(" [x%.2f host]", ns/host)
				}
			}
			b.Log(line)
		}
		b.Logf("host mmap+munmap: %.0f ns", host)
	}
}

// nsPerOp times op over enough iterations to take about 100 ms.
func nsPerOp(op func() error) float64 {
	n := 1
	for {
		start := time.Now()
		for range n {
			if err := op(); err != nil {
				panic(err)
			}
		}
		if d := time.Since(start); d > 100*time.Millisecond || n > 1<<24 {
			return float64(d.Nanoseconds()) / float64(n)
		}
		n *= 4
	}
}

// packedCounts are the vma counts of the packed layouts: up to about
// vm.max_map_count (65530).
var packedCounts = []int{1000, 10000, 60000}

// packedMM returns a MemoryManager with n one-page vmas packed just below
// the mmap base, where n hint-less mmaps put them (each lands just below
// the one before), with alternating permissions so that they stay n vmas.
// Without gapIndex its vma set keeps no gap index, as before there was
// one: only mmapLinear may then choose addresses in it.
func packedMM(b *testing.B, n int, gapIndex bool) *MemoryManager {
	b.Helper()
	m, _, _ := testMM(b, withLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: 0, Stack: 8 << 20, MaxMapCount: 1 << 20}))
	if !gapIndex {
		m.vmas = rangeset.New(rangeset.Ops[arch.Addr, vma]{Merge: mergeVMAs, Split: splitVMA})
	}
	base := uint64(m.layout.MmapBase)
	for i := range n {
		prot := uint64(unix.PROT_READ)
		if i%2 == 1 {
			prot = rw
		}
		if _, err := m.MMap(base-uint64(i+1)*page, page, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
	if m.vmas.Len() != n {
		b.Fatalf("%d vmas; want %d", m.vmas.Len(), n)
	}
	return m
}

// mmapLinear is a hint-less private anonymous MMap as it ran before the gap
// index: the same decoding and mapping, with the address chosen by the
// linear top-down walk that x86-64's search (archUnmappedAreaLocked) runs
// for a hint-less mapping smaller than 2 MiB.
func (mm *MemoryManager) mmapLinear(length, prot uint64) (arch.Addr, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	addr, err := mm.unmappedAreaTopDownLinearLocked(length, arch.PageSize, mm.layout.MmapBase)
	if err != nil {
		addr, err = mm.unmappedAreaBottomUpLinearLocked(length, legacyMmapBase(mm.layout.TopOfUser), mm.layout.TopOfUser)
	}
	if err != nil {
		return 0, err
	}
	req, err := mm.decodeMMapLocked(addr, length, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0)
	if err != nil {
		return 0, err
	}
	return mm.mmapLocked(req)
}

// packedOps are a hint-less 4 KiB mmap through the gap index (MMap) and
// through the linear walk (mmapLinear, on a set without the index). Below n
// packed vmas both must land just below them, the walk passing all n.
var packedOps = []struct {
	name     string
	gapIndex bool
	mmap     func(m *MemoryManager) (arch.Addr, error)
}{
	{"index", true, func(m *MemoryManager) (arch.Addr, error) {
		return m.MMap(0, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
	}},
	{"linear", false, func(m *MemoryManager) (arch.Addr, error) { return m.mmapLinear(page, rw) }},
}

// mmapMUnmapPacked is one measured iteration: the mmap, a check of where it
// landed, and the munmap of it.
func mmapMUnmapPacked(m *MemoryManager, n int, mmap func(*MemoryManager) (arch.Addr, error)) error {
	a, err := mmap(m)
	if err != nil {
		return err
	}
	if want := m.layout.MmapBase - arch.Addr(n+1)*page; a != want {
		return fmt.Errorf("hint-less mmap below %d packed vmas at %v; want %v", n, a, want)
	}
	return m.MUnmap(uint64(a), page)
}

// BenchmarkMMapPacked is hint-less mmap+munmap of 4 KiB below n packed
// vmas, through the gap index and through the old linear walk.
func BenchmarkMMapPacked(b *testing.B) {
	for _, n := range packedCounts {
		for _, op := range packedOps {
			b.Run(fmt.Sprintf("vmas=%d/%s", n, op.name), func(b *testing.B) {
				m := packedMM(b, n, op.gapIndex)
				for b.Loop() {
					if err := mmapMUnmapPacked(m, n, op.mmap); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkUnmappedArea is the address search alone below n packed vmas:
// the indexed top-down search against the linear walk, on the same set.
func BenchmarkUnmappedArea(b *testing.B) {
	for _, n := range packedCounts {
		m := packedMM(b, n, true)
		want := m.layout.MmapBase - arch.Addr(n+1)*page
		for _, s := range []struct {
			name   string
			search func(uint64, arch.Addr, arch.Addr) (arch.Addr, error)
		}{{"index", m.unmappedAreaTopDownLocked}, {"linear", m.unmappedAreaTopDownLinearLocked}} {
			b.Run(fmt.Sprintf("vmas=%d/%s", n, s.name), func(b *testing.B) {
				m.mappingMu.RLock()
				defer m.mappingMu.RUnlock()
				for b.Loop() {
					if a, err := s.search(page, arch.PageSize, m.layout.MmapBase); err != nil || a != want {
						b.Fatalf("search found %v, %v; want %v", a, err, want)
					}
				}
			})
		}
	}
}

// BenchmarkMMapPackedRatio times BenchmarkMMapPacked's two ways in one run
// and logs their ratio at each vma count (linear / index).
func BenchmarkMMapPackedRatio(b *testing.B) {
	for b.Loop() {
		for _, n := range packedCounts {
			var ns [2]float64
			for i, op := range packedOps {
				m := packedMM(b, n, op.gapIndex)
				ns[i] = nsPerOp(func() error { return mmapMUnmapPacked(m, n, op.mmap) })
			}
			b.Logf("mmap+munmap below %d packed vmas: index %.0f ns, linear %.0f ns, linear/index x%.1f", n, ns[0], ns[1], ns[1]/ns[0])
		}
	}
}

// BenchmarkGapIndexCost is what keeping the gap index costs mutations: an
// mprotect that merges a packed one-page vma with both neighbours and one
// that splits it out again, with and without the index, below n packed
// vmas.
func BenchmarkGapIndexCost(b *testing.B) {
	for _, n := range packedCounts {
		for _, gapIndex := range []bool{true, false} {
			b.Run(fmt.Sprintf("vmas=%d/gapindex=%v", n, gapIndex), func(b *testing.B) {
				m := packedMM(b, n, gapIndex)
				// The vma n/2 (read-only if n/2 is even) between two of
				// the other kind.
				i := n/2 | 1
				addr := uint64(m.layout.MmapBase) - uint64(i+1)*page
				for b.Loop() {
					if err := m.MProtect(addr, page, unix.PROT_READ); err != nil {
						b.Fatal(err)
					}
					if err := m.MProtect(addr, page, rw); err != nil {
						b.Fatal(err)
					}
				}
				if m.vmas.Len() != n {
					b.Fatalf("%d vmas after the loop; want %d", m.vmas.Len(), n)
				}
			})
		}
	}
}

// BenchmarkZeroPageScan faults 1 GiB of fresh private anonymous memory in
// 2 MiB units, by reads (the zero page) and by writes (fresh memory) in the
// same run, and reports the time per 4 KiB page and the MemoryFile bytes
// allocated: a read scan must allocate nothing but the 2 MiB zero chunk.
func BenchmarkZeroPageScan(b *testing.B) {
	const size = 1 << 30
	for _, tc := range []struct {
		name string
		at   arch.AccessType
	}{{"read", arch.Read}, {"write", arch.Write}} {
		b.Run(tc.name, func(b *testing.B) {
			var allocated uint64
			for range b.N {
				mf, err := memfile.New(memfile.Options{Limit: size + 8<<20, Name: "mm-bench"})
				if err != nil {
					b.Fatal(err)
				}
				m, err := New(Options{MemoryFile: mf, AddressSpace: NewFakeAddressSpace()})
				if err != nil {
					b.Fatal(err)
				}
				a := anon(b, m, 0x4000_0000, size, rw)
				for off := uint64(0); off < size; off += arch.HugePageSize {
					if err := m.HandleUserFault(a+arch.Addr(off), tc.at); err != nil {
						b.Fatal(err)
					}
				}
				allocated = mf.Stats().ByKind[memfile.User]
				b.StopTimer()
				m.Release()
				mf.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(size/arch.PageSize), "ns/page")
			b.ReportMetric(float64(allocated), "bytes-allocated")
		})
	}
}
