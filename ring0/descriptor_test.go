package ring0

import (
	"math/rand/v2"
	"testing"
)

// descFields is a segment descriptor taken apart bit by bit, following the
// SDM's figure rather than encodeDescriptor's code.
type descFields struct {
	base                       uint64
	rawLimit                   uint32 // the 20-bit field, unscaled
	typ, s, dpl, p, avl, l, db uint8
	g                          uint8
}

func decodeDesc(d uint64) descFields {
	field := func(lo, n uint) uint64 { return d >> lo & (1<<n - 1) }
	return descFields{
		base:     field(16, 24) | field(56, 8)<<24,
		rawLimit: uint32(field(0, 16) | field(48, 4)<<16),
		typ:      uint8(field(40, 4)),
		s:        uint8(field(44, 1)),
		dpl:      uint8(field(45, 2)),
		p:        uint8(field(47, 1)),
		avl:      uint8(field(52, 1)),
		l:        uint8(field(53, 1)),
		db:       uint8(field(54, 1)),
		g:        uint8(field(55, 1)),
	}
}

func TestSegmentDescriptors(t *testing.T) {
	for _, tc := range []struct {
		name string
		seg  Segment
		want descFields
		// raw is the encoding every long-mode kernel uses for a flat
		// segment with the accessed bit set (Linux's GDT_ENTRY_INIT values).
		raw uint64
	}{
		{"kernel code", KernelCodeSegment(), descFields{rawLimit: 0xFFFFF, typ: 0xB, s: 1, dpl: 0, p: 1, l: 1, db: 0, g: 1}, 0x00AF9B000000FFFF},
		{"kernel data", KernelDataSegment(), descFields{rawLimit: 0xFFFFF, typ: 0x3, s: 1, dpl: 0, p: 1, l: 0, db: 1, g: 1}, 0x00CF93000000FFFF},
		{"user data", UserDataSegment(), descFields{rawLimit: 0xFFFFF, typ: 0x3, s: 1, dpl: 3, p: 1, l: 0, db: 1, g: 1}, 0x00CFF3000000FFFF},
		{"user code", UserCodeSegment(), descFields{rawLimit: 0xFFFFF, typ: 0xB, s: 1, dpl: 3, p: 1, l: 1, db: 0, g: 1}, 0x00AFFB000000FFFF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := encodeDescriptor(tc.seg)
			if got := decodeDesc(d); got != tc.want {
				t.Errorf("fields %+v, want %+v", got, tc.want)
			}
			if d != tc.raw {
				t.Errorf("descriptor %#016x, want %#016x", d, tc.raw)
			}
			// A 64-bit code segment must not also claim a 32-bit default
			// operand size: L=1 with D=1 is reserved.
			if tc.seg.L && tc.seg.DB {
				t.Errorf("L and D/B both set")
			}
		})
	}
}

func TestDescriptorBaseLimitSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		s := Segment{Base: uint64(r.Uint32()), Limit: r.Uint32() & 0xFFFFF, Type: uint8(r.IntN(16)), DPL: uint8(r.IntN(4)), Present: r.IntN(2) == 1, S: r.IntN(2) == 1, AVL: r.IntN(2) == 1}
		f := decodeDesc(encodeDescriptor(s))
		if f.base != s.Base || f.rawLimit != s.Limit || f.typ != s.Type || f.dpl != s.DPL || f.p != uint8(bit(s.Present)) || f.s != uint8(bit(s.S)) || f.avl != uint8(bit(s.AVL)) || f.g != 0 {
			t.Fatalf("segment %+v decodes to %+v", s, f)
		}
	}
	// With G set the byte limit is stored in 4 KiB units.
	s := Segment{Limit: 0x12345FFF, G: true}
	if f := decodeDesc(encodeDescriptor(s)); f.rawLimit != 0x12345 || f.g != 1 {
		t.Errorf("granular limit field %#x g=%d, want 0x12345 g=1", f.rawLimit, f.g)
	}
}

func TestSystemDescriptor(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		base := r.Uint64()
		lim := r.Uint32() & 0xFFFFF
		lo, hi := encodeSystemDescriptor(Segment{Base: base, Limit: lim, Type: typeTSS64Busy, Present: true})
		f := decodeDesc(lo)
		gotBase := f.base | (hi&0xFFFFFFFF)<<32
		if gotBase != base || f.rawLimit != lim || f.typ != 0xB || f.s != 0 || f.p != 1 || f.dpl != 0 || f.g != 0 {
			t.Fatalf("TSS base %#x limit %#x: fields %+v high base %#x", base, lim, f, hi)
		}
		// Bits 8..12 of the high word must be zero (type field of the
		// upper half); bits 32..63 are reserved.
		if hi>>32 != 0 {
			t.Fatalf("high word %#x has reserved bits set", hi)
		}
	}
}

func TestGateEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		off := r.Uint64()
		sel := uint16(r.Uint32())
		ist := uint8(r.IntN(8))
		dpl := uint8(r.IntN(4))
		lo, hi := encodeGate(off, sel, ist, dpl)
		field := func(lo64 uint64, at, n uint) uint64 { return lo64 >> at & (1<<n - 1) }
		gotOff := field(lo, 0, 16) | field(lo, 48, 16)<<16 | field(hi, 0, 32)<<32
		switch {
		case gotOff != off:
			t.Fatalf("offset %#x decodes to %#x", off, gotOff)
		case uint16(field(lo, 16, 16)) != sel:
			t.Fatalf("selector %#x decodes to %#x", sel, field(lo, 16, 16))
		case uint8(field(lo, 32, 3)) != ist:
			t.Fatalf("IST %d decodes to %d", ist, field(lo, 32, 3))
		case field(lo, 35, 5) != 0:
			t.Fatalf("reserved bits 35..39 set: %#x", lo)
		case field(lo, 40, 4) != 0xE:
			t.Fatalf("type %#x, want 0xE (64-bit interrupt gate)", field(lo, 40, 4))
		case field(lo, 44, 1) != 0:
			t.Fatalf("S bit set in a gate")
		case uint8(field(lo, 45, 2)) != dpl:
			t.Fatalf("DPL %d decodes to %d", dpl, field(lo, 45, 2))
		case field(lo, 47, 1) != 1:
			t.Fatalf("gate not present")
		case hi>>32 != 0:
			t.Fatalf("reserved high bits set: %#x", hi)
		}
	}
}
