package machine

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/pagetable"
)

// BenchmarkHandleUserFault is the host's share of a single-page fault with
// no VM: mm.HandleUserFault on a fresh page of a large private anonymous
// mapping, its allocation from the MemoryFile and the install into real
// page tables, as the run loop calls it (fault-around of one page). It
// reports the ratio to the host kernel's own first-touch fault of an
// anonymous page, timed in the same run (x-host-fault).
func BenchmarkHandleUserFault(b *testing.B) {
	const size = 1 << 30
	mf, err := memfile.New(memfile.Options{Limit: 2 * size})
	if err != nil {
		b.Fatal(err)
	}
	defer mf.Close()
	pt, err := pagetable.New(tableAllocator{mf: mf}, pagetable.Features{})
	if err != nil {
		b.Fatal(err)
	}
	defer pt.Release()
	as := &addressSpace{mf: mf, pt: pt, mu: new(sync.Mutex)}
	m, err := mm.New(mm.Options{MemoryFile: mf, AddressSpace: as, FaultAround: arch.PageSize})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release()
	a, err := m.MMap(0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	host := hostFirstTouchNs(b)
	next := a
	b.ReportAllocs()
	for b.Loop() {
		if next == a+size {
			b.StopTimer()
			if err := m.Madvise(uint64(a), size, unix.MADV_DONTNEED); err != nil {
				b.Fatal(err)
			}
			next = a
			b.StartTimer()
		}
		if err := m.HandleUserFault(next, arch.Write); err != nil {
			b.Fatal(err)
		}
		next += arch.PageSize
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/host, "x-host-fault")
}

// hostFirstTouchNs is the host kernel's cost of a first write to a page of
// fresh anonymous memory (no transparent huge pages), per page.
func hostFirstTouchNs(b *testing.B) float64 {
	const size = 64 << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(mem)
	_ = unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	start := time.Now()
	for i := 0; i < size; i += arch.PageSize {
		mem[i] = 1
	}
	return float64(time.Since(start).Nanoseconds()) / (size / arch.PageSize)
}
