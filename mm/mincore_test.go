package mm

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// TestMinCoreHugeSparseRange asks mincore about 64 GiB of PROT_NONE memory
// with a few resident pages, in the syscall layer's 16 MiB steps: it must
// report exactly those pages, and take well under a second (Linux: 10 ms;
// a lookup per page took 20 s).
func TestMinCoreHugeSparseRange(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(arch.PageSize))
	const size = 64 << 30
	start := uint64(anon(t, m, 0, size, unix.PROT_NONE))
	// Three resident pages: the first, one in the middle, the last.
	resident := []uint64{0, size / 2, size - arch.PageSize}
	for _, off := range resident {
		if err := m.MProtect(start+off, arch.PageSize, rw); err != nil {
			t.Fatal(err)
		}
		if err := m.HandleUserFault(arch.Addr(start+off), arch.Write); err != nil {
			t.Fatal(err)
		}
	}
	const step = 4096 // pages
	vec := make([]byte, step)
	var found []uint64
	begin := time.Now()
	for off := uint64(0); off < size; off += step * arch.PageSize {
		if err := m.MinCore(start+off, step*arch.PageSize, vec); err != nil {
			t.Fatalf("mincore at +%#x: %v", off, err)
		}
		for i, v := range vec {
			if v != 0 {
				found = append(found, off+uint64(i)*arch.PageSize)
			}
		}
	}
	took := time.Since(begin)
	t.Logf("mincore over 64 GiB in 16 MiB steps: %v", took)
	if len(found) != len(resident) || found[0] != resident[0] || found[1] != resident[1] || found[2] != resident[2] {
		t.Errorf("resident pages at %#x, want %#x", found, resident)
	}
	// Quiet, it takes about 1 s (4096 calls, 16 MiB of vec written);
	// walking the range a page at a time would take minutes. The bound
	// leaves room for a loaded 2-core host.
	if took > 8*time.Second {
		t.Errorf("mincore over 64 GiB took %v", took)
	}
	// A hole in the range is ENOMEM.
	if err := m.MinCore(start+size-arch.PageSize, 2*arch.PageSize, vec); err != unix.ENOMEM {
		t.Errorf("mincore over the end of the mapping = %v, want ENOMEM", err)
	}
}
