package arch

import "fmt"

// Page and huge-page geometry of x86-64.
const (
	PageShift = 12
	PageSize  = 1 << PageShift // 4 KiB
	PageMask  = PageSize - 1

	HugePageShift = 21
	HugePageSize  = 1 << HugePageShift // 2 MiB
	HugePageMask  = HugePageSize - 1

	GiantPageShift = 30
	GiantPageSize  = 1 << GiantPageShift // 1 GiB
	GiantPageMask  = GiantPageSize - 1
)

// Canonical address layout with 4-level paging: user (lower) half ends at
// MaxUserAddr (exclusive), kernel (upper) half starts at KernelBase.
const (
	MaxUserAddr Addr = 0x0000_8000_0000_0000
	KernelBase  Addr = 0xffff_8000_0000_0000
)

// Addr is a virtual address.
type Addr uint64

// String formats a as a hexadecimal address.
func (a Addr) String() string { return fmt.Sprintf("%#x", uint64(a)) }

// RoundDown returns a rounded down to a page boundary.
func (a Addr) RoundDown() Addr { return a &^ PageMask }

// RoundUp returns a rounded up to a page boundary; ok is false if that
// overflows.
func (a Addr) RoundUp() (Addr, bool) {
	r := (a + PageMask).RoundDown()
	return r, r >= a
}

// MustRoundUp is RoundUp for callers that already know it cannot overflow;
// it panics if it does.
func (a Addr) MustRoundUp() Addr {
	r, ok := a.RoundUp()
	if !ok {
		panic(fmt.Sprintf("arch: RoundUp(%v) overflows", a))
	}
	return r
}

// HugeRoundDown returns a rounded down to a 2 MiB boundary.
func (a Addr) HugeRoundDown() Addr { return a &^ HugePageMask }

// HugeRoundUp returns a rounded up to a 2 MiB boundary; ok is false on
// overflow.
func (a Addr) HugeRoundUp() (Addr, bool) {
	r := (a + HugePageMask).HugeRoundDown()
	return r, r >= a
}

// AlignDown rounds a down to a multiple of align, a power of two.
func (a Addr) AlignDown(align uint64) Addr { return a &^ Addr(align-1) }

// AlignUp rounds a up to a multiple of align, a power of two; ok is false on
// overflow.
func (a Addr) AlignUp(align uint64) (Addr, bool) {
	r := (a + Addr(align-1)).AlignDown(align)
	return r, r >= a
}

// IsPageAligned reports whether a is a multiple of PageSize.
func (a Addr) IsPageAligned() bool { return a&PageMask == 0 }

// IsHugePageAligned reports whether a is a multiple of HugePageSize.
func (a Addr) IsHugePageAligned() bool { return a&HugePageMask == 0 }

// PageOffset returns a's offset within its page.
func (a Addr) PageOffset() uint64 { return uint64(a & PageMask) }

// AddLength returns a+length; ok is false if that overflows.
func (a Addr) AddLength(length uint64) (Addr, bool) {
	end := a + Addr(length)
	return end, end >= a
}

// ToRange returns [a, a+length); ok is false if the end overflows.
func (a Addr) ToRange(length uint64) (AddrRange, bool) {
	end, ok := a.AddLength(length)
	return AddrRange{a, end}, ok
}

// IsCanonical reports whether a is a canonical 48-bit address.
func (a Addr) IsCanonical() bool { return a < MaxUserAddr || a >= KernelBase }

// PageRoundUp rounds a length up to whole pages; ok is false on overflow.
func PageRoundUp(length uint64) (uint64, bool) {
	r, ok := Addr(length).RoundUp()
	return uint64(r), ok
}

// PageAlign is Linux's PAGE_ALIGN: length rounded up to whole pages,
// wrapping to 0 when that overflows. System calls round their lengths with
// it so that their checks see the wrapped value as Linux's do.
func PageAlign(length uint64) uint64 {
	r, _ := PageRoundUp(length)
	return r
}

// IsPageAlignedLength reports whether length is a multiple of PageSize.
func IsPageAlignedLength(length uint64) bool { return length&PageMask == 0 }
