package mm

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// TestOvercommit follows each of Linux's overcommit modes against 1 GiB of
// guest memory: private writable mappings and brk are refused as
// __vm_enough_memory refuses them; other mappings are not weighed.
func TestOvercommit(t *testing.T) {
	const gib = 1 << 30
	const anonP = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	mmap := func(m *MemoryManager, length, prot, flags uint64) error {
		_, err := m.MMap(0, length, prot, flags, nil, 0)
		return err
	}
	limits := func(o Overcommit) Limits {
		l := DefaultLimits()
		l.Overcommit = o
		return l
	}
	brkBase := arch.Addr(0x1000_0000)
	brk := func(m *MemoryManager, grow uint64) bool {
		want := m.BrkRange().End + arch.Addr(grow)
		a, _ := m.Brk(uint64(want))
		return a == want
	}

	t.Run("heuristic", func(t *testing.T) {
		m, _, _ := testMM(t, withLimits(limits(Overcommit{Mode: OvercommitGuess, Memory: gib})))
		m.BrkSetup(brkBase, arch.AddrRange{})
		if err := mmap(m, 64*gib, rw, anonP); err != unix.ENOMEM {
			t.Errorf("64 GiB private writable = %v, want ENOMEM", err)
		}
		if err := mmap(m, gib+arch.PageSize, rw, anonP); err != unix.ENOMEM {
			t.Errorf("1 GiB + 4 KiB private writable = %v, want ENOMEM", err)
		}
		for _, ok := range []struct {
			name         string
			length, prot uint64
			flags        uint64
		}{
			{"1 GiB private writable", gib, rw, anonP},
			{"1 GiB private writable again (one request at a time)", gib, rw, anonP},
			{"64 GiB read-only", 64 * gib, unix.PROT_READ, anonP},
			{"64 GiB MAP_NORESERVE", 64 * gib, rw, anonP | unix.MAP_NORESERVE},
		} {
			if err := mmap(m, ok.length, ok.prot, ok.flags); err != nil {
				t.Errorf("%s = %v, want success", ok.name, err)
			}
		}
		if brk(m, 64<<40) {
			t.Error("a 64 TiB brk succeeded")
		}
		if !brk(m, 16<<20) {
			t.Error("a 16 MiB brk failed")
		}
	})
	t.Run("always", func(t *testing.T) {
		m, _, _ := testMM(t, withLimits(limits(Overcommit{Mode: OvercommitAlways, Memory: gib})))
		if err := mmap(m, 64*gib, rw, anonP); err != nil {
			t.Errorf("64 GiB private writable = %v, want success", err)
		}
	})
	t.Run("strict", func(t *testing.T) {
		m, _, _ := testMM(t, withLimits(limits(Overcommit{Mode: OvercommitNever, Memory: gib, Ratio: 50})))
		m.BrkSetup(brkBase, arch.AddrRange{})
		if err := mmap(m, 300<<20, rw, anonP); err != nil {
			t.Errorf("300 MiB of a 512 MiB commit limit = %v", err)
		}
		if err := mmap(m, 300<<20, rw, anonP); err != unix.ENOMEM {
			t.Errorf("300 MiB more = %v, want ENOMEM", err)
		}
		if err := mmap(m, 300<<20, rw, anonP|unix.MAP_NORESERVE); err != unix.ENOMEM {
			t.Errorf("300 MiB more with MAP_NORESERVE = %v, want ENOMEM (strict mode ignores it)", err)
		}
		if err := mmap(m, 300<<20, unix.PROT_READ, anonP); err != nil {
			t.Errorf("300 MiB read-only = %v, want success", err)
		}
		if brk(m, 300<<20) {
			t.Error("a 300 MiB brk past the commit limit succeeded")
		}
		if !brk(m, 100<<20) {
			t.Error("a 100 MiB brk within the commit limit failed")
		}
	})
}

func TestHostOvercommit(t *testing.T) {
	o, err := HostOvercommit(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host policy: %+v", o)
	if o.Memory != 1<<30 || o.Mode > OvercommitNever {
		t.Errorf("HostOvercommit = %+v", o)
	}
}
