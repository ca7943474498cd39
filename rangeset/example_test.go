package rangeset_test

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/rangeset"
)

// A vma-like use: segments of address space backed by file offsets merge
// when their offsets continue, and split keeping each half's offset right.
func Example() {
	type backing struct{ off uint64 }
	s := rangeset.New(rangeset.Ops[arch.Addr, backing]{
		Merge: func(r1 arch.AddrRange, v1 backing, r2 arch.AddrRange, v2 backing) (backing, bool) {
			return v1, v1.off+r1.Length() == v2.off
		},
		Split: func(r arch.AddrRange, v backing, at arch.Addr) (backing, backing) {
			return v, backing{v.off + uint64(at-r.Start)}
		},
	})
	s.InsertRange(arch.AddrRange{Start: 0x1000, End: 0x3000}, backing{0})
	s.InsertRange(arch.AddrRange{Start: 0x3000, End: 0x5000}, backing{0x2000}) // continues: merges
	fmt.Println(s)

	// Unmap the middle page: the segment splits around the hole.
	s.RemoveRange(arch.AddrRange{Start: 0x2000, End: 0x3000})
	fmt.Println(s)
	for gap := range s.Gaps(arch.AddrRange{Start: 0x1000, End: 0x5000}) {
		fmt.Println("hole", gap.Range())
	}
	// Output:
	// {[0x1000, 0x5000) {0}}
	// {[0x1000, 0x2000) {0}, [0x3000, 0x5000) {8192}}
	// hole [0x2000, 0x3000)
}

// Choosing where a new mapping goes, as mm does for mmap: the highest gap
// below a bound with room for it, found through the gap index in O(log n).
func ExampleSet_LastGapAtLeast() {
	s := rangeset.New(rangeset.Ops[arch.Addr, string]{GapIndex: true})
	s.InsertRange(arch.AddrRange{Start: 0x10000, End: 0x12000}, "a")
	s.InsertRange(arch.AddrRange{Start: 0x13000, End: 0x20000}, "b")
	below := arch.AddrRange{Start: 0x1000, End: 0x20000}
	for _, length := range []uint64{0x1000, 0x2000} {
		gap := s.LastGapAtLeast(below, length)
		fmt.Printf("%#x bytes: gap %v, map at %v\n", length, gap.Range(), min(gap.End(), below.End)-arch.Addr(length))
	}
	// Output:
	// 0x1000 bytes: gap [0x12000, 0x13000), map at 0x12000
	// 0x2000 bytes: gap [0x0, 0x10000), map at 0xe000
}
