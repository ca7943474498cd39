package mm

import (
	"slices"

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

// TestMRemapMoveSpansVMAs checks moves to a fixed address without
// resizing that span several vmas (Linux 6.17's remap_move), with the
// layouts and results a probe of Linux 6.18 printed for the same calls:
// vmas rw [0,4), r [5,7), rw [8,11) (in pages from base), bytes written at
// pages 1 and 9.
func TestMRemapMoveSpansVMAs(t *testing.T) {
	const base = 0x10000000
	type span struct {
		start, end uint64 // pages from base
		prot       uint64
	}
	mvFixed := uint64(unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED)
	for _, tc := range []struct {
		name      string
		off, n    uint64 // pages from base
		lock      uint64 // pages mlock'd from base first
		flags     uint64
		dst       uint64 // pages from base
		wantErr   error
		want      []span
		wantBytes map[uint64]byte // page from base -> first byte
	}{
		{
			name: "ThreeVMAsKeepTheirGaps", off: 1, n: 10, flags: mvFixed, dst: 0x40,
			want:      []span{{0, 1, rw}, {0x40, 0x43, rw}, {0x44, 0x46, unix.PROT_READ}, {0x47, 0x4a, rw}},
			wantBytes: map[uint64]byte{0x40: 'a', 0x48: 'c'},
		},
		{
			name: "DontUnmapLeavesAllSources", off: 1, n: 10, flags: mvFixed | unix.MREMAP_DONTUNMAP, dst: 0x40,
			want: []span{{0, 4, rw}, {5, 7, unix.PROT_READ}, {8, 11, rw},
				{0x40, 0x43, rw}, {0x44, 0x46, unix.PROT_READ}, {0x47, 0x4a, rw}},
			wantBytes: map[uint64]byte{1: 0, 9: 0, 0x40: 'a', 0x48: 'c'},
		},
		{
			// The locked vma [0,2) is left behind unlocked, equal to
			// [2,4) but apart from it, as on Linux; the walk goes on at
			// page 2 (mm once took the merged vma for a new one there).
			name: "DontUnmapOfLockedThenPlainVMA", lock: 2, off: 1, n: 3, flags: mvFixed | unix.MREMAP_DONTUNMAP, dst: 0x40,
			want:      []span{{0, 4, rw}, {5, 7, unix.PROT_READ}, {8, 11, rw}, {0x40, 0x43, rw}},
			wantBytes: map[uint64]byte{1: 0, 0x40: 'a'},
		},
		{
			name: "GapAtStartIsEFAULT", off: 4, n: 4, flags: mvFixed, dst: 0x40, wantErr: unix.EFAULT,
			want: []span{{0, 4, rw}, {5, 7, unix.PROT_READ}, {8, 11, rw}},
		},
		{
			name: "GapAtEndIsMoved", off: 2, n: 5, flags: mvFixed, dst: 0x40,
			want: []span{{0, 2, rw}, {8, 11, rw}, {0x40, 0x42, rw}, {0x43, 0x45, unix.PROT_READ}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := testMM(t, withFaultAround(page), withLimits(lockableLimits()))
			anon(t, m, base, 4*page, rw)
			anon(t, m, base+5*page, 2*page, unix.PROT_READ)
			anon(t, m, base+8*page, 3*page, rw)
			for a, b := range map[uint64]byte{1: 'a', 9: 'c'} {
				if _, err := m.CopyOut(arch.Addr(base+a*page), []byte{b}, IOOpts{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.lock != 0 {
				if err := m.MLock2(base, tc.lock*page, unix.MLOCK_ONFAULT); err != nil {
					t.Fatal(err)
				}
			}
			got, err := m.MRemap(base+tc.off*page, tc.n*page, tc.n*page, tc.flags, base+tc.dst*page)
			if tc.wantErr != nil {
				if err != tc.wantErr {
					t.Fatalf("MRemap: %v, want %v", err, tc.wantErr)
				}
			} else if err != nil || got != arch.Addr(base+tc.dst*page) {
				t.Fatalf("MRemap = %v, %v; want %#x", got, err, base+tc.dst*page)
			}
			var layout []span
			for _, v := range m.VMAs() {
				if v.Range.Start < base {
					continue
				}
				s := span{uint64(v.Range.Start-base) / page, uint64(v.Range.End-base) / page, protOf(v.Perms)}
				if n := len(layout); n > 0 && layout[n-1].end == s.start && layout[n-1].prot == s.prot {
					layout[n-1].end = s.end // compare as /proc/pid/maps coalesced
					continue
				}
				layout = append(layout, s)
			}
			if !slices.Equal(layout, tc.want) {
				t.Errorf("layout %v, want %v", layout, tc.want)
			}
			for p, want := range tc.wantBytes {
				if got := readByte(t, m, arch.Addr(base+p*page)); got != want {
					t.Errorf("page %#x holds %q, want %q", p, got, want)
				}
			}
		})
	}
}

func protOf(p arch.AccessType) uint64 {
	var prot uint64
	if p.Read {
		prot |= unix.PROT_READ
	}
	if p.Write {
		prot |= unix.PROT_WRITE
	}
	if p.Execute {
		prot |= unix.PROT_EXEC
	}
	return prot
}
