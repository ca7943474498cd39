package vdso

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The vvar page's layout: vdso.asm reads these offsets (its SEQ, TSC_BASE,
// CLOCKS, BASE, MULT, RES), so both change together.
const (
	vvarSeq     = 0
	vvarTSCBase = 8
	vvarClocks  = 64
	clockSize   = 32
	clockBase   = 0
	clockMult   = 8
	clockRes    = 16
)

// NumClocks is how many clock ids the page describes (0..11, CLOCK_REALTIME
// to CLOCK_TAI); higher ids always fall back to the system call.
const NumClocks = 12

// MultShift is the fixed point of Clock.Mult: ns = cycles*Mult >> 32.
const MultShift = 32

// Clock is one clock id's parameters.
type Clock struct {
	// Base is the clock's value, in nanoseconds, at Params.TSCBase.
	Base uint64
	// Mult is nanoseconds per TSC cycle, << MultShift; 0 means the vDSO
	// does not serve this clock and calls the kernel.
	Mult uint64
	// Res is the clock's resolution in nanoseconds (clock_getres); the
	// value read is rounded down to a multiple of it. 0 or 1: none.
	Res uint64
}

// Params are what the vvar page holds.
type Params struct {
	// TSCBase is the guest TSC at which every Clock's Base holds.
	TSCBase uint64
	// Clocks are indexed by clock id.
	Clocks [NumClocks]Clock
}

// Nanos returns clock id's value at guest TSC tsc, in nanoseconds, with
// exactly the guest code's arithmetic, and false when the vDSO does not
// serve the clock (the system call answers it).
func (p *Params) Nanos(id int, tsc uint64) (uint64, bool) {
	if id < 0 || id >= NumClocks || p.Clocks[id].Mult == 0 {
		return 0, false
	}
	ns := p.unrounded(id, tsc)
	if r := p.Clocks[id].Res; r > 1 {
		ns -= ns % r
	}
	return ns, true
}

// unrounded is clock id's value at tsc before rounding to its resolution.
func (p *Params) unrounded(id int, tsc uint64) uint64 {
	c := &p.Clocks[id]
	delta := uint64(0)
	if tsc >= p.TSCBase {
		delta = tsc - p.TSCBase
	}
	hi, lo := bits.Mul64(delta, c.Mult)
	return c.Base + (hi<<(64-MultShift) | lo>>MultShift)
}

// WriteVVar publishes p in page (VVarDataSize bytes, the guest's vvar
// data page) as a seqlock writer: the sequence word is odd while the fields change, so
// that a guest reading concurrently retries. Writes of a Go value are seen
// by another CPU in program order on x86-64 (TSO), and the atomic stores of
// the sequence word keep the compiler from reordering around them.
//
// Preconditions: page is 8-byte aligned, VVarDataSize long; one writer at a
// time.
func WriteVVar(page []byte, p *Params) {
	_ = page[VVarDataSize-1]
	seq := (*uint32)(unsafe.Pointer(&page[vvarSeq]))
	s := atomic.LoadUint32(seq)
	atomic.StoreUint32(seq, s|1)
	store := func(off int, v uint64) { atomic.StoreUint64((*uint64)(unsafe.Pointer(&page[off])), v) }
	store(vvarTSCBase, p.TSCBase)
	for i, c := range p.Clocks {
		at := vvarClocks + i*clockSize
		store(at+clockBase, c.Base)
		store(at+clockMult, c.Mult)
		store(at+clockRes, c.Res)
	}
	atomic.StoreUint32(seq, (s|1)+1)
}

// ReadVVar decodes page as the guest sees it (for tests and statistics).
func ReadVVar(page []byte) Params {
	le := binary.LittleEndian
	p := Params{TSCBase: le.Uint64(page[vvarTSCBase:])}
	for i := range p.Clocks {
		at := vvarClocks + i*clockSize
		p.Clocks[i] = Clock{Base: le.Uint64(page[at+clockBase:]), Mult: le.Uint64(page[at+clockMult:]), Res: le.Uint64(page[at+clockRes:])}
	}
	return p
}
