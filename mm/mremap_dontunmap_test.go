package mm

import (
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// vmaAt returns a copy of the vma holding a and its range.
func vmaAt(t *testing.T, m *MemoryManager, a arch.Addr) (arch.AddrRange, vma) {
	t.Helper()
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	vseg := m.vmas.FindSegment(a)
	if !vseg.Ok() {
		t.Fatalf("no vma at %v", a)
	}
	return vseg.Range(), vseg.Value()
}

// TestDontUnmapLeavesVMAAsLinux checks the vma MREMAP_DONTUNMAP leaves
// behind against what Linux 6.18 shows in /proc/self/smaps: it keeps
// VM_ACCOUNT ("ac"), loses its lock, is not split, and loses its anon_vma
// only when the whole vma moved, which an mprotect(PROT_NONE) then shows
// by dropping VM_ACCOUNT.
func TestDontUnmapLeavesVMAAsLinux(t *testing.T) {
	const src, dst = 0x10000000, 0x20000000
	for _, tc := range []struct {
		name          string
		moveLen       uint64
		wantAnonVMA   bool // the vma left behind still has its anon_vma
		wantAcctAfter bool // VM_ACCOUNT after mprotect(PROT_NONE)
	}{
		{name: "WholeVMA", moveLen: 4 * page, wantAnonVMA: false, wantAcctAfter: false},
		{name: "Prefix", moveLen: 2 * page, wantAnonVMA: true, wantAcctAfter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := testMM(t, withFaultAround(page), withLimits(lockableLimits()))
			anon(t, m, src, 4*page, rw)
			if err := m.MLock(src, 4*page); err != nil {
				t.Fatal(err)
			}
			if _, err := m.CopyOut(src, []byte{1}, IOOpts{}); err != nil {
				t.Fatal(err)
			}
			_, err := m.MRemap(src, tc.moveLen, tc.moveLen, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, dst)
			if err != nil {
				t.Fatal(err)
			}
			r, v := vmaAt(t, m, src)
			if want := (arch.AddrRange{Start: src, End: src + 4*page}); r != want {
				t.Errorf("vma left behind is %v, want %v (Linux does not split it)", r, want)
			}
			if v.flags&vmaAccount == 0 {
				t.Errorf("vma left behind lost VM_ACCOUNT")
			}
			if v.mlockMode != 0 {
				t.Errorf("vma left behind is still locked (%v)", v.mlockMode)
			}
			if got := v.anonVMA != 0; got != tc.wantAnonVMA {
				t.Errorf("vma left behind has an anon_vma: %v, want %v", got, tc.wantAnonVMA)
			}
			if err := m.MProtect(src, 4*page, unix.PROT_NONE); err != nil {
				t.Fatal(err)
			}
			if _, v := vmaAt(t, m, src); (v.flags&vmaAccount != 0) != tc.wantAcctAfter {
				t.Errorf("VM_ACCOUNT after mprotect(PROT_NONE): %v, want %v", v.flags&vmaAccount != 0, tc.wantAcctAfter)
			}
		})
	}
}

// lockableLimits are the default limits with CAP_IPC_LOCK, so that mlock
// never fails for RLIMIT_MEMLOCK.
func lockableLimits() Limits {
	l := DefaultLimits()
	l.CapIPCLock = true
	return l
}
