package ring0

import "encoding/binary"

// Segment is a segment register as the hypervisor loads it: the selector plus
// the descriptor cache (base, limit, attributes). Its fields mirror struct
// kvm_segment so the VM converts it field by field; ring0 does not import
// kvm. Limit is the byte limit (already scaled by G when G is set).
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8 // 4-bit type field: code/data or system type
	Present  bool
	DPL      uint8
	DB       bool // D/B: default operand size 32 (must be 0 for a 64-bit code segment)
	S        bool // code or data segment (false: system segment such as a TSS)
	L        bool // 64-bit code segment
	G        bool // limit counts 4 KiB units
	AVL      bool
	Unusable bool
}

// Segment types (SDM vol. 3A, tables 3-1 and 3-2). The accessed bit is set
// in the code and data types so that the CPU never writes the GDT when iretq
// loads CS and SS from it: the GDT can then be mapped read-only.
const (
	typeDataReadWriteAccessed = 0x3 // data, read/write, accessed
	typeCodeReadAccessed      = 0xB // code, execute/read, accessed
	typeTSS64Available        = 0x9
	typeTSS64Busy             = 0xB
	typeInterruptGate64       = 0xE
)

// Selectors. The order is fixed by SYSCALL and SYSRET (see STAR): kernel code,
// kernel data right after it; user data, then user code 64-bit.
const (
	selectorNull       = 0x00
	KernelCodeSelector = 0x08
	KernelDataSelector = 0x10
	UserDataSelector   = 0x18 | 3
	UserCodeSelector   = 0x20 | 3
	TSSSelector        = 0x28 // 16-byte descriptor: GDT entries 5 and 6
	gdtEntries         = 7
	GDTSize            = gdtEntries * 8
)

// flatLimit is the byte limit of a flat segment: 0xFFFFF pages of 4 KiB.
const flatLimit = 0xFFFFFFFF

// Flat segments for long mode. Base and limit are ignored for CS, DS, ES and
// SS in 64-bit mode, but KVM checks them against the guest state rules on
// entry, so they hold the values a real GDT load would give.
var (
	kernelCodeSegment = Segment{Limit: flatLimit, Selector: KernelCodeSelector, Type: typeCodeReadAccessed, Present: true, DPL: 0, S: true, L: true, G: true}
	kernelDataSegment = Segment{Limit: flatLimit, Selector: KernelDataSelector, Type: typeDataReadWriteAccessed, Present: true, DPL: 0, DB: true, S: true, G: true}
	userDataSegment   = Segment{Limit: flatLimit, Selector: UserDataSelector, Type: typeDataReadWriteAccessed, Present: true, DPL: 3, DB: true, S: true, G: true}
	userCodeSegment   = Segment{Limit: flatLimit, Selector: UserCodeSelector, Type: typeCodeReadAccessed, Present: true, DPL: 3, S: true, L: true, G: true}
)

// KernelCodeSegment returns CS as SYSCALL and the IDT gates load it.
func KernelCodeSegment() Segment { return kernelCodeSegment }

// KernelDataSegment returns SS as SYSCALL loads it.
func KernelDataSegment() Segment { return kernelDataSegment }

// UserCodeSegment returns CS for user mode, as SYSRET and iretq load it and as
// the host loads it to resume user mode directly.
func UserCodeSegment() Segment { return userCodeSegment }

// UserDataSegment returns SS (and DS, ES, FS, GS) for user mode.
func UserDataSegment() Segment { return userDataSegment }

// encodeDescriptor returns the 8-byte GDT descriptor for a code or data
// segment s (SDM vol. 3A, figure 3-8):
//
//	bits  0..15 limit 15:0      bits 16..39 base 23:0
//	bits 40..43 type            bit  44     S
//	bits 45..46 DPL             bit  47     P
//	bits 48..51 limit 19:16     bit  52     AVL
//	bit  53     L               bit  54     D/B
//	bit  55     G               bits 56..63 base 31:24
func encodeDescriptor(s Segment) uint64 {
	limit := uint64(s.Limit)
	if s.G {
		limit >>= 12
	}
	d := limit & 0xFFFF
	d |= (s.Base & 0xFFFFFF) << 16
	d |= uint64(s.Type&0xF) << 40
	d |= bit(s.S) << 44
	d |= uint64(s.DPL&3) << 45
	d |= bit(s.Present) << 47
	d |= (limit >> 16 & 0xF) << 48
	d |= bit(s.AVL) << 52
	d |= bit(s.L) << 53
	d |= bit(s.DB) << 54
	d |= bit(s.G) << 55
	d |= (s.Base >> 24 & 0xFF) << 56
	return d
}

// encodeSystemDescriptor returns the two 8-byte words of a 16-byte long-mode
// system descriptor (a TSS): the low word as for a segment, the high word
// holding base 63:32 (SDM vol. 3A, figure 8-4).
func encodeSystemDescriptor(s Segment) (lo, hi uint64) {
	return encodeDescriptor(s), s.Base >> 32
}

// encodeGate returns the 16-byte long-mode IDT gate for a handler at offset
// (SDM vol. 3A, figure 6-8):
//
//	bits  0..15 offset 15:0     bits 16..31 segment selector
//	bits 32..34 IST             bits 40..43 type (0xE: interrupt gate)
//	bits 45..46 DPL             bit  47     P
//	bits 48..63 offset 31:16    bits 64..95 offset 63:32
//
// An interrupt gate (not a trap gate) so that IF is clear in the stub.
func encodeGate(offset uint64, selector uint16, ist, dpl uint8) (lo, hi uint64) {
	lo = offset & 0xFFFF
	lo |= uint64(selector) << 16
	lo |= uint64(ist&7) << 32
	lo |= uint64(typeInterruptGate64) << 40
	lo |= uint64(dpl&3) << 45
	lo |= 1 << 47
	lo |= (offset >> 16 & 0xFFFF) << 48
	return lo, offset >> 32
}

func bit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func put64(b []byte, off uint64, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
func put16(b []byte, off uint64, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
func get64(b []byte, off uint64) uint64    { return binary.LittleEndian.Uint64(b[off:]) }
