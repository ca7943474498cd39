package mmdiff

import (
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// mirrorSystem answers mremap with a scripted address and shows the
// host's own layout and contents for everything else, so that a test sees
// what the runner does to the host around the system's answer.
type mirrorSystem struct {
	h *Host
	// to is what MRemap returns; hostBefore is the host's layout when
	// MRemap was called.
	to         uint64
	hostBefore []Mapping
}

func (m *mirrorSystem) MMap(uint64, uint64, int, int, int, uint64) (uint64, unix.Errno) {
	return 0, unix.ENOSYS
}
func (m *mirrorSystem) MUnmap(uint64, uint64) unix.Errno { return unix.ENOSYS }
func (m *mirrorSystem) MRemap(uint64, uint64, uint64, int, uint64) (uint64, unix.Errno) {
	m.hostBefore, _ = m.h.Layout()
	return m.to, 0
}
func (m *mirrorSystem) MProtect(uint64, uint64, int) unix.Errno   { return unix.ENOSYS }
func (m *mirrorSystem) Madvise(uint64, uint64, int) unix.Errno    { return unix.ENOSYS }
func (m *mirrorSystem) MLock(uint64, uint64, int) unix.Errno      { return unix.ENOSYS }
func (m *mirrorSystem) MUnlock(uint64, uint64) unix.Errno         { return unix.ENOSYS }
func (m *mirrorSystem) MSync(uint64, uint64, int) unix.Errno      { return unix.ENOSYS }
func (m *mirrorSystem) MinCore(uint64, uint64, []byte) unix.Errno { return unix.ENOSYS }
func (m *mirrorSystem) CopyOut(uint64, []byte) (int, unix.Errno)  { return 0, unix.ENOSYS }
func (m *mirrorSystem) ZeroOut(uint64, uint64) (int, unix.Errno)  { return 0, unix.ENOSYS }
func (m *mirrorSystem) Layout() ([]Mapping, error)                { return m.h.Layout() }
func (m *mirrorSystem) LockedBytes() (uint64, bool)               { return 0, false }
func (m *mirrorSystem) CopyIn(a uint64, b []byte) (int, unix.Errno) {
	return m.h.peek(m.layout(), a, b)
}
func (m *mirrorSystem) layout() []Mapping { l, _ := m.h.Layout(); return l }

// TestMRemapMovesRunSystemFirst: an mremap that Linux would place by
// itself (growth that cannot happen in place; MREMAP_DONTUNMAP without a
// hint) reaches the system first, and the host moves to the system's
// address with MREMAP_FIXED, its pages along; where Linux grows in place,
// the system must too, and a system address Linux could not have chosen
// diverges without the host moving at all.
func TestMRemapMovesRunSystemFirst(t *testing.T) {
	h := newTestHost(t)
	const (
		old     = Base + 0x100000
		blocker = old + 0x2000
	)
	rw := unix.PROT_READ | unix.PROT_WRITE
	fixed := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED
	for _, tc := range []struct {
		name    string
		blocked bool // a mapping right after the range stops growth in place
		op      Op
		to      uint64 // the system's answer
		div     string // "" or part of the divergence
		after   []Mapping
	}{
		{"GrowMoves", true, MRemap(old, 0x2000, 0x4000, unix.MREMAP_MAYMOVE, 0), Base + 0x200000, "",
			[]Mapping{{Start: blocker, End: blocker + 0x1000, Perms: arch.Read}, {Start: Base + 0x200000, End: Base + 0x204000, Perms: arch.ReadWrite}}},
		{"GrowMovesIgnoringHint", true, MRemap(old, 0x2000, 0x4000, unix.MREMAP_MAYMOVE, Base+0x300000), Base + 0x200000, "",
			[]Mapping{{Start: blocker, End: blocker + 0x1000, Perms: arch.Read}, {Start: Base + 0x200000, End: Base + 0x204000, Perms: arch.ReadWrite}}},
		{"DontUnmapMoves", false, MRemap(old, 0x2000, 0x2000, unix.MREMAP_MAYMOVE|unix.MREMAP_DONTUNMAP, 0), Base + 0x200000, "",
			[]Mapping{{Start: old, End: old + 0x2000, Perms: arch.ReadWrite}, {Start: Base + 0x200000, End: Base + 0x202000, Perms: arch.ReadWrite}}},
		{"GrowsInPlace", false, MRemap(old, 0x2000, 0x4000, unix.MREMAP_MAYMOVE, 0), old, "",
			[]Mapping{{Start: old, End: old + 0x4000, Perms: arch.ReadWrite}}},
		{"MovedThoughLinuxGrowsInPlace", false, MRemap(old, 0x2000, 0x4000, unix.MREMAP_MAYMOVE, 0), Base + 0x200000, "address: host 0x420000100000, system 0x420000200000", nil},
		{"KeptThoughLinuxMoves", true, MRemap(old, 0x2000, 0x4000, unix.MREMAP_MAYMOVE, 0), old, "cannot grow", nil},
		{"MovedOverAMapping", true, MRemap(old, 0x2000, 0x4000, unix.MREMAP_MAYMOVE, 0), blocker - 0x1000, "over an existing mapping", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := &mirrorSystem{h: h, to: tc.to}
			r, err := NewRunner(h, sys, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, e := h.MMap(old, 0x2000, rw, fixed, -1, 0); e != 0 {
				t.Fatal(e)
			}
			if tc.blocked {
				if _, e := h.MMap(blocker, 0x1000, unix.PROT_READ, fixed, -1, 0); e != 0 {
					t.Fatal(e)
				}
			}
			if n, e := h.CopyOut(old, Pattern(1, 0x2000)); n != 0x2000 || e != 0 {
				t.Fatal(n, e)
			}
			before, _ := h.Layout()
			if d, err := r.compareLayout(-1, Op{}); d != nil || err != nil {
				t.Fatal(d, err)
			}
			d, err := r.Step(0, tc.op)
			if err != nil {
				t.Fatal(err)
			}
			moves := tc.blocked || tc.op.Flags&unix.MREMAP_DONTUNMAP != 0
			if moves && !equalLayouts(sys.hostBefore, before) {
				t.Errorf("the host had changed before the system ran:\n%swas\n%s", FormatLayout(sys.hostBefore), FormatLayout(before))
			}
			after, _ := h.Layout()
			if tc.div != "" {
				if d == nil || !strings.Contains(d.What, tc.div) {
					t.Fatalf("divergence %v, want one saying %q", d, tc.div)
				}
				if tc.name != "MovedThoughLinuxGrowsInPlace" && !equalLayouts(after, before) {
					t.Errorf("the host changed:\n%s", FormatLayout(after))
				}
				return
			}
			if d != nil {
				t.Fatalf("divergence: %v", d)
			}
			for i := range after {
				after[i].Offset, after[i].Inode, after[i].Name = 0, 0, ""
			}
			if !equalLayouts(after, tc.after) {
				t.Fatalf("host layout\n%swant\n%s", FormatLayout(after), FormatLayout(tc.after))
			}
			got := make([]byte, 0x2000)
			if n, _ := h.peek(after, tc.to, got); n != len(got) || firstDiff(got, Pattern(1, 0x2000)) >= 0 {
				t.Errorf("the pages did not move to %#x", tc.to)
			}
		})
	}
}
