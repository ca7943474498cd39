package mm

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memmap"
)

// shmIdentity stands for a System V segment: a shmem object whose vmas
// are counted one by one (memmap.SeparateMappings).
type shmIdentity struct {
	*SharedMemory
	vmas int
}

func (s *shmIdentity) IncRef()           { s.vmas++ }
func (s *shmIdentity) DecRef()           { s.vmas-- }
func (s *shmIdentity) SeparateMappings() {}

// TestShmDetach checks shmdt's walk (ShmDetach) and that a segment's vmas
// never merge: mprotect splits an attach in three and restoring the
// protection leaves three; shmdt at the attach's address unmaps all three
// and leaves another attach, whose offsets do not match, alone; EINVAL
// for an unaligned address or one with no attach at or above it.
func TestShmDetach(t *testing.T) {
	m, _, mf := testMM(t)
	shm := NewMemfd(mf, "SYSV00000000", unix.F_SEAL_SEAL)
	defer shm.DecRef()
	if err := shm.Truncate(3 * page); err != nil {
		t.Fatal(err)
	}
	seg := &shmIdentity{SharedMemory: shm}
	file := &MappedFile{Mappable: shm, Identity: seg, Readable: true, Writable: true}
	const W, X = 0x1000_0000, 0x2000_0000
	for _, at := range []uint64{W, X} {
		if _, err := m.MMap(at, 3*page, rw, unix.MAP_SHARED|unix.MAP_FIXED, file, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.MProtect(W+page, page, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if err := m.MProtect(W+page, page, rw); err != nil {
		t.Fatal(err)
	}
	if n := len(m.VMAs()); n != 4 || seg.vmas != 4 {
		t.Errorf("after mprotect and back: %d vmas, %d references; want 4 and 4 (no merge)", n, seg.vmas)
	}
	isSeg := func(id memmap.MappingIdentity) (uint64, bool) {
		if id == memmap.MappingIdentity(seg) {
			return 3 * page, true
		}
		return 0, false
	}
	if err := m.ShmDetach(W+1, isSeg); errnoOf(err) != unix.EINVAL {
		t.Errorf("unaligned: %v, want EINVAL", err)
	}
	if err := m.ShmDetach(W, isSeg); err != nil {
		t.Fatal(err)
	}
	if n := len(m.VMAs()); n != 1 || seg.vmas != 1 {
		t.Errorf("after shmdt: %d vmas, %d references; want the other attach alone", n, seg.vmas)
	}
	if err := m.ShmDetach(X+page, isSeg); errnoOf(err) != unix.EINVAL {
		t.Errorf("shmdt inside an attach: %v, want EINVAL (no vma at or above it starts where its offset says)", err)
	}
	if err := m.ShmDetach(X, isSeg); err != nil || seg.vmas != 0 {
		t.Errorf("shmdt of the other: %v, %d references left", err, seg.vmas)
	}
	if err := m.ShmDetach(W, isSeg); errnoOf(err) != unix.EINVAL {
		t.Errorf("shmdt with nothing attached: %v, want EINVAL", err)
	}
}
