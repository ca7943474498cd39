package mm

import (
	"fmt"
	"testing"
	"time"

	"github.com/mmvm/mmvm/arch"
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
