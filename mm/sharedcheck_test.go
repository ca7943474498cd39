package mm

import (
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// TestCopyOnWriteCheck checks Options.CopyOnWriteChanged: copy-on-write as
// it should be (either side's write copies) reports nothing, and a write
// into a shared page that bypasses it, as through a stale translation,
// is reported when the page stops being shared.
func TestCopyOnWriteCheck(t *testing.T) {
	var changes []error
	m, pas, mf := testMM(t, withFaultAround(arch.PageSize), func(o *Options) {
		o.CopyOnWriteChanged = func(err error) { changes = append(changes, err) }
	})
	a := anon(t, m, 0x1000_0000, 2*arch.PageSize, rw)
	for _, p := range []arch.Addr{a, a + arch.PageSize} {
		if err := m.HandleUserFault(p, arch.Write); err != nil {
			t.Fatal(err)
		}
	}
	pte, ok := pas.Lookup(a + arch.PageSize)
	if !ok {
		t.Fatal("the second page is not mapped after its fault")
	}
	c, err := m.Fork(NewFakeAddressSpace(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyOut(a, []byte("child"), IOOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(a, []byte("parent"), IOOpts{}); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Fatalf("copy-on-write as it should be reported %v", changes)
	}

	// The parent's old translation of the second page, used after the
	// fork: the write lands in the page the child shares.
	b, err := mf.MapInternal(memmap.FileRange{Start: pte.Offset, End: pte.Offset + arch.PageSize}, arch.Write)
	if err != nil {
		t.Fatal(err)
	}
	b[0x123] = 0x5a
	c.Release()
	if len(changes) != 1 || !strings.Contains(changes[0].Error(), "changed while it was shared") || !strings.Contains(changes[0].Error(), "byte 0x123") {
		t.Fatalf("a write into a shared page: reported %v, want one change at byte 0x123", changes)
	}
}
