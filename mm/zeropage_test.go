package mm

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
)

// TestZeroPageReadAllocatesNothing reads fresh private anonymous memory, 2
// MiB unit by unit, and checks Linux's zero-page semantics: nothing is
// allocated but the one zero chunk, RSS stays 0, mincore reports the pages
// resident, every mapping is read-only, the vma gets no anon_vma and the
// first write breaks one page into fresh memory.
func TestZeroPageReadAllocatesNothing(t *testing.T) {
	m, as, mf := testMM(t)
	const size = 64 << 20
	a := anon(t, m, 0x4000_0000, size, rw)
	for off := uint64(0); off < size; off += arch.HugePageSize {
		if err := m.HandleUserFault(a+arch.Addr(off), arch.Read); err != nil {
			t.Fatal(err)
		}
	}
	if got := mf.Stats().ByKind[memfile.User]; got > arch.HugePageSize {
		t.Errorf("reading %d MiB allocated %d bytes of user memory, want at most the 2 MiB zero chunk", size>>20, got)
	}
	if st := m.Stats(); st.RSS != 0 {
		t.Errorf("RSS %d after reads, want 0", st.RSS)
	}
	vec := make([]byte, size/arch.PageSize)
	if err := m.MinCore(uint64(a), size, vec); err != nil {
		t.Fatal(err)
	}
	for i, b := range vec {
		if b != 1 {
			t.Fatalf("mincore page %d = %d, want resident (the zero page)", i, b)
		}
	}
	if as.Access(a, arch.Write) || !as.Access(a, arch.Read) {
		t.Errorf("zero page mapped with write access, or not at all")
	}
	v := m.vmas.FindSegment(a).ValuePtr()
	if v.anonVMA != 0 {
		t.Errorf("reads gave the vma an anon_vma (%d)", v.anonVMA)
	}
	// The first write: one page of fresh memory, writable, counted.
	if err := m.HandleUserFault(a+5*arch.PageSize, arch.Write); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.RSS != arch.PageSize {
		t.Errorf("RSS %d after one write, want one page", st.RSS)
	}
	if !as.Access(a+5*arch.PageSize, arch.Write) || as.Access(a+4*arch.PageSize, arch.Write) {
		t.Errorf("after the write: page 5 writable %v, page 4 writable %v", as.Access(a+5*arch.PageSize, arch.Write), as.Access(a+4*arch.PageSize, arch.Write))
	}
	if v := m.vmas.FindSegment(a).ValuePtr(); v.anonVMA == 0 {
		t.Error("the write gave the vma no anon_vma")
	}
	// What the write put there is the program's; the zero chunk stays zero.
	if _, err := m.CopyOut(a+5*arch.PageSize, []byte{0xAB}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	var got [2]byte
	if _, err := m.CopyIn(a+5*arch.PageSize, got[:1], IOOpts{}); err != nil || got[0] != 0xAB {
		t.Errorf("written page reads %#x (%v)", got[0], err)
	}
	if _, err := m.CopyIn(a+6*arch.PageSize, got[1:], IOOpts{}); err != nil || got[1] != 0 {
		t.Errorf("zero page next to it reads %#x (%v)", got[1], err)
	}
	chunk := mf.Slice(m.zeroChunk)
	for i, b := range chunk {
		if b != 0 {
			t.Fatalf("zero chunk byte %#x = %#x", i, b)
		}
	}
}

// TestZeroPageCopiesAndZaps: a system call's read (CopyIn) maps nothing
// new but allocates nothing; its write (CopyOut) breaks the zero page;
// MADV_DONTNEED drops zero-page memory (mincore 0 again); fork shares it.
func TestZeroPageCopiesAndZaps(t *testing.T) {
	m, _, mf := testMM(t, withFaultAround(arch.PageSize))
	a := anon(t, m, 0x4000_0000, 4*arch.PageSize, rw)
	buf := make([]byte, 4*arch.PageSize)
	if _, err := m.CopyIn(a, buf, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.RSS != 0 || mf.Stats().ByKind[memfile.User] > arch.HugePageSize {
		t.Errorf("CopyIn of fresh memory: RSS %d, user memory %d", st.RSS, mf.Stats().ByKind[memfile.User])
	}
	child, err := m.Fork(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := child.Stats(); st.RSS != 0 {
		t.Errorf("the fork's RSS %d, want 0: it shares the zero page", st.RSS)
	}
	if _, err := child.CopyOut(a+arch.PageSize, []byte{7}, IOOpts{}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := m.CopyIn(a+arch.PageSize, b[:], IOOpts{}); err != nil || b[0] != 0 {
		t.Errorf("the parent sees the fork's write: %#x (%v)", b[0], err)
	}
	child.Release()
	if err := m.Madvise(uint64(a), 4*arch.PageSize, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	vec := make([]byte, 4)
	if err := m.MinCore(uint64(a), 4*arch.PageSize, vec); err != nil {
		t.Fatal(err)
	}
	if (vec[0] | vec[1] | vec[2] | vec[3]) != 0 {
		t.Errorf("mincore after MADV_DONTNEED: %v, want all 0", vec)
	}
}

// TestNoZeroPage is Options.NoZeroPage: a read allocates, as on a host
// booted with pvm_no_zero_page=1.
func TestNoZeroPage(t *testing.T) {
	m, _, _ := testMM(t, withFaultAround(arch.PageSize), func(o *Options) { o.NoZeroPage = true })
	a := anon(t, m, 0x4000_0000, 4*arch.PageSize, rw)
	if err := m.HandleUserFault(a, arch.Read); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.RSS != arch.PageSize {
		t.Errorf("RSS %d after a read without the zero page, want one page", st.RSS)
	}
	if m.zeroChunk.Length() != 0 {
		t.Error("a zero chunk was allocated")
	}
}
