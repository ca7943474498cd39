package arch

import (
	"math"
	"testing"
)

func TestRoundUpOverflow(t *testing.T) {
	for _, tc := range []struct {
		in   Addr
		want Addr
		ok   bool
	}{
		{0, 0, true},
		{1, PageSize, true},
		{PageSize, PageSize, true},
		{PageSize + 1, 2 * PageSize, true},
		{math.MaxUint64 - PageSize + 1, math.MaxUint64 - PageSize + 1, true},
		{math.MaxUint64 - PageSize + 2, 0, false},
		{math.MaxUint64, 0, false},
	} {
		got, ok := tc.in.RoundUp()
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("RoundUp(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Addr(math.MaxUint64 - HugePageSize + 2).HugeRoundUp(); ok {
		t.Error("HugeRoundUp near the top did not report overflow")
	}
	if got, ok := Addr(HugePageSize + 1).HugeRoundUp(); !ok || got != 2*HugePageSize {
		t.Errorf("HugeRoundUp(2MiB+1) = %v, %v", got, ok)
	}
	if got, ok := Addr(5).AlignUp(8); !ok || got != 8 {
		t.Errorf("AlignUp(5, 8) = %v, %v", got, ok)
	}
	if got := Addr(0x1fff).AlignDown(0x1000); got != 0x1000 {
		t.Errorf("AlignDown = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustRoundUp did not panic on overflow")
		}
	}()
	Addr(math.MaxUint64).MustRoundUp()
}

func TestAddLength(t *testing.T) {
	if end, ok := Addr(10).AddLength(20); !ok || end != 30 {
		t.Errorf("AddLength = %v, %v", end, ok)
	}
	if _, ok := Addr(math.MaxUint64 - 5).AddLength(6); ok {
		t.Error("AddLength did not report overflow")
	}
	if _, ok := Addr(math.MaxUint64 - 5).AddLength(5); !ok {
		t.Error("AddLength reported overflow at exactly the top")
	}
	if r, ok := Addr(0x1000).ToRange(0x2000); !ok || r != (AddrRange{0x1000, 0x3000}) {
		t.Errorf("ToRange = %v, %v", r, ok)
	}
	if l, ok := PageRoundUp(1); !ok || l != PageSize {
		t.Errorf("PageRoundUp(1) = %v, %v", l, ok)
	}
	if _, ok := PageRoundUp(math.MaxUint64); ok {
		t.Error("PageRoundUp(max) did not overflow")
	}
	// PageAlign wraps as Linux's PAGE_ALIGN does.
	for _, tc := range []struct{ in, want uint64 }{
		{0, 0}, {1, PageSize}, {PageSize, PageSize}, {PageSize + 1, 2 * PageSize},
		{math.MaxUint64 - PageMask, math.MaxUint64 - PageMask}, {math.MaxUint64 - PageMask + 1, 0}, {math.MaxUint64, 0},
	} {
		if got := PageAlign(tc.in); got != tc.want {
			t.Errorf("PageAlign(%#x) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestRanges(t *testing.T) {
	r := AddrRange{0x1000, 0x3000}
	if r.Length() != 0x2000 || r.Empty() || !r.WellFormed() {
		t.Fatalf("basic properties of %v wrong", r)
	}
	if !r.Contains(0x1000) || !r.Contains(0x2fff) || r.Contains(0x3000) || r.Contains(0xfff) {
		t.Error("Contains is not half-open")
	}
	for _, tc := range []struct {
		o           AddrRange
		overlaps    bool
		superset    bool
		intersected AddrRange
	}{
		{AddrRange{0, 0x1000}, false, false, AddrRange{0x1000, 0x1000}},
		{AddrRange{0, 0x1001}, true, false, AddrRange{0x1000, 0x1001}},
		{AddrRange{0x1000, 0x3000}, true, true, r},
		{AddrRange{0x1800, 0x2000}, true, true, AddrRange{0x1800, 0x2000}},
		{AddrRange{0x2fff, 0x5000}, true, false, AddrRange{0x2fff, 0x3000}},
		{AddrRange{0x3000, 0x5000}, false, false, AddrRange{0x3000, 0x3000}},
		{AddrRange{0, 0x5000}, true, false, r},
	} {
		if got := r.Overlaps(tc.o); got != tc.overlaps {
			t.Errorf("%v.Overlaps(%v) = %v", r, tc.o, got)
		}
		if got := tc.o.Overlaps(r); got != tc.overlaps {
			t.Errorf("Overlaps not symmetric for %v", tc.o)
		}
		if got := r.IsSupersetOf(tc.o); got != tc.superset {
			t.Errorf("%v.IsSupersetOf(%v) = %v", r, tc.o, got)
		}
		if got := r.Intersect(tc.o); got != tc.intersected {
			t.Errorf("%v.Intersect(%v) = %v, want %v", r, tc.o, got, tc.intersected)
		}
	}
	if (AddrRange{0x2000, 0x2000}).Overlaps(r) || r.Overlaps(AddrRange{0x2000, 0x2000}) {
		t.Error("an empty range inside r overlaps it")
	}
	if !r.CanSplitAt(0x2000) || r.CanSplitAt(0x1000) || r.CanSplitAt(0x3000) {
		t.Error("CanSplitAt wrong at bounds")
	}
	if !r.IsPageAligned() || (AddrRange{1, 0x1000}).IsPageAligned() {
		t.Error("IsPageAligned wrong")
	}
	if !(AddrRange{0, MaxUserAddr}).IsUser() || (AddrRange{0, MaxUserAddr + 1}).IsUser() {
		t.Error("IsUser wrong at the top of the user half")
	}
	if Addr(MaxUserAddr).IsCanonical() || !Addr(MaxUserAddr-1).IsCanonical() || !KernelBase.IsCanonical() {
		t.Error("IsCanonical wrong at the half boundaries")
	}
}

func TestAccessTypes(t *testing.T) {
	for prot := 0; prot < 8; prot++ {
		if got := AccessFromProt(prot).Prot(); got != prot {
			t.Errorf("prot %d round-trips to %d", prot, got)
		}
	}
	if Write.Effective() != ReadWrite || Execute.Effective() != (AccessType{Read: true, Execute: true}) || NoAccess.Effective() != NoAccess {
		t.Error("Effective does not add read for write or execute")
	}
	if !ReadWrite.SupersetOf(Read) || Read.SupersetOf(Write) || !AnyAccess.SupersetOf(AnyAccess) || !NoAccess.SupersetOf(NoAccess) {
		t.Error("SupersetOf wrong")
	}
	if ReadWrite.Intersect(Execute) != NoAccess || AnyAccess.Intersect(Write) != Write {
		t.Error("Intersect wrong")
	}
	if Read.Union(Execute) != (AccessType{Read: true, Execute: true}) {
		t.Error("Union wrong")
	}
	if AnyAccess.String() != "rwx" || Write.String() != "-w-" || NoAccess.Any() || !Execute.Any() {
		t.Error("String or Any wrong")
	}
}
