package mmdiff

import (
	"math"
	"math/rand/v2"

	"golang.org/x/sys/unix"
)

// Source supplies the generator's choices.
type Source interface {
	// Intn returns a number in [0, n), n > 0.
	Intn(n int) int
}

// RandSource is a seeded pseudo-random Source.
type RandSource struct{ r *rand.Rand }

// NewRandSource returns a Source seeded with seed.
func NewRandSource(seed uint64) *RandSource {
	return &RandSource{rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

// Intn implements Source.
func (s *RandSource) Intn(n int) int { return s.r.IntN(n) }

// ByteSource takes its choices from fuzz input: one byte for a choice
// among at most 256, four otherwise; past the end every choice is 0.
type ByteSource struct {
	data []byte
	used int
}

// NewByteSource returns a Source reading data.
func NewByteSource(data []byte) *ByteSource { return &ByteSource{data: data} }

// Exhausted reports whether every byte has been used.
func (s *ByteSource) Exhausted() bool { return s.used >= len(s.data) }

// Intn implements Source.
func (s *ByteSource) Intn(n int) int {
	k := 1
	if n > 256 {
		k = 4
	}
	var v uint64
	for range k {
		v <<= 8
		if s.used < len(s.data) {
			v |= uint64(s.data[s.used])
		}
		s.used++
	}
	return int(v % uint64(n))
}

// Gen makes random operations aimed at the current layout: boundaries of
// existing mappings and the top of the window (where placement starts)
// are favoured, and a few arguments in every hundred are hostile
// (unaligned, overflowing, past the user address space, bad flags).
type Gen struct {
	src Source
	// LockBudget bounds the bytes the generated operations keep locked,
	// below RLIMIT_MEMLOCK on both sides (root is exempt on the host; the
	// system under test enforces the limit), so limits never decide.
	LockBudget uint64
	// MapBudget bounds the bytes mapped in the window, so the system under
	// test, confined to the window, never runs out of room where Linux,
	// with the whole address space, would not.
	MapBudget uint64
	// Lacking holds the features the host kernel lacks (Host.Lacking):
	// operations and shapes that need them are not generated. Empty, the
	// generator makes exactly the operations it makes on Linux 6.18.
	Lacking FeatureSet
}

// NewGen returns a generator drawing from src.
func NewGen(src Source) *Gen {
	return &Gen{src: src, LockBudget: 4 << 20, MapBudget: 32 << 20}
}

const (
	hotZone   = 16 << 20 // the top of the window, where top-down placement lands
	maxMapLen = 8 << 20  // the longest mapping made or grown to, bar hostile lengths
)

func (g *Gen) n(k int) int           { return g.src.Intn(k) }
func (g *Gen) pct(p int) bool        { return g.n(100) < p }
func pickOf[T any](g *Gen, xs []T) T { return xs[g.n(len(xs))] }
func pageAlign(v uint64) uint64      { return (v + pageSize - 1) &^ (pageSize - 1) }
func mappedBytes(ms []Mapping) (n uint64) {
	for _, m := range ms {
		n += m.End - m.Start
	}
	return n
}

// Next returns a safe operation for the host whose window has layout
// ms and locked bytes, and none that needs a feature in g.Lacking.
func (g *Gen) Next(ms []Mapping, locked uint64) Op {
	for range 8 {
		op := g.next(ms, locked)
		if _, blocked := g.Lacking.Blocks(op, ms); Safe(op) == nil && !blocked {
			return op
		}
	}
	return MinCore(Base, pageSize)
}

func (g *Gen) next(ms []Mapping, locked uint64) Op {
	full := mappedBytes(ms) > g.MapBudget
	k := g.n(100)
	switch {
	case k < 20 && !full:
		return g.mmap(ms, locked)
	case k < 30 || (k < 20 && full):
		a := g.addr(ms)
		return MUnmap(a, g.length(ms, a))
	case k < 42:
		return g.mremap(ms, locked, full)
	case k < 54:
		a := g.addr(ms)
		return MProtect(a, g.length(ms, a), g.prot(true))
	case k < 58:
		a := g.addr(ms)
		return Madvise(a, g.length(ms, a), g.advice())
	case k < 64:
		return g.guard(ms)
	case k < 68:
		a := g.addr(ms)
		l := g.length(ms, a)
		if locked+pageAlign(min(l, Size)) > g.LockBudget {
			return MUnlock(a, l)
		}
		return MLock(a, l, pickOf(g, []int{0, 0, unix.MLOCK_ONFAULT, 2}))
	case k < 71:
		a := g.addr(ms)
		return MUnlock(a, g.length(ms, a))
	case k < 75:
		a := g.addr(ms)
		return MSync(a, g.length(ms, a), pickOf(g, []int{unix.MS_ASYNC, unix.MS_SYNC, unix.MS_INVALIDATE,
			unix.MS_ASYNC | unix.MS_INVALIDATE, unix.MS_SYNC | unix.MS_INVALIDATE, 0, unix.MS_ASYNC | unix.MS_SYNC, 8}))
	case k < 79:
		a := g.addr(ms)
		return MinCore(a, g.length(ms, a))
	case k < 90:
		a, l := g.access(ms)
		return Write(a, l, uint64(g.n(1<<20)))
	case k < 93:
		a, l := g.access(ms)
		return Zero(a, l)
	default:
		a, l := g.access(ms)
		return Read(a, l)
	}
}

// addr picks an address: near a mapping's boundary, inside a mapping, in
// the hot zone, anywhere in the window, or (rarely) hostile.
func (g *Gen) addr(ms []Mapping) uint64 {
	var a uint64
	switch k := g.n(100); {
	case k < 40 && len(ms) > 0:
		m := pickOf(g, ms)
		a = m.Start
		if g.pct(50) {
			a = m.End
		}
		a += uint64(g.n(9)-4) * pageSize
	case k < 55 && len(ms) > 0:
		m := pickOf(g, ms)
		a = m.Start + uint64(g.n(int((m.End-m.Start)/pageSize)))*pageSize
	case k < 88:
		a = Base + Size - hotZone + uint64(g.n(hotZone/pageSize))*pageSize
	case k < 96:
		a = Base + uint64(g.n(int(Size/pageSize)))*pageSize
	default:
		return pickOf(g, []uint64{0, pageSize, 0x8000, taskSize, taskSize + pageSize, 1 << 47, 1 << 63, math.MaxUint64 &^ (pageSize - 1), math.MaxUint64})
	}
	if a < Base || a >= Base+Size {
		a = Base + Size - hotZone
	}
	if g.pct(4) {
		a += uint64(1 + g.n(pageSize-1))
	}
	return a
}

// length picks a length for a range at a: mostly a few pages, clamped to
// the window's end; sometimes a whole mapping, a huge page or more,
// unaligned, zero, or overflowing.
func (g *Gen) length(ms []Mapping, a uint64) uint64 {
	var l uint64
	switch k := g.n(100); {
	case k < 50:
		l = uint64(1+g.n(8)) * pageSize
	case k < 72:
		l = uint64(1+g.n(64)) * pageSize
	case k < 82 && len(ms) > 0:
		m := pickOf(g, ms)
		l = m.End - m.Start
		if g.pct(30) && m.End > a {
			l = m.End - a
		}
	case k < 86:
		l = uint64(512+g.n(600)) * pageSize
	case k < 93:
		l = uint64(g.n(8))*pageSize + uint64(1+g.n(pageSize-1))
	case k < 96:
		l = 0
	default:
		return pickOf(g, []uint64{math.MaxUint64, math.MaxUint64 - a + 1 + pageSize, math.MaxUint64 &^ (pageSize - 1), 1 << 63})
	}
	if a >= Base && a < Base+Size && l > Base+Size-a {
		l = Base + Size - a
	}
	if a < lowLimit && l > lowLimit-a {
		l = lowLimit - a
	}
	return l
}

func (g *Gen) prot(forMProtect bool) int {
	p := pickOf(g, []int{
		unix.PROT_READ | unix.PROT_WRITE, unix.PROT_READ | unix.PROT_WRITE, unix.PROT_READ | unix.PROT_WRITE,
		unix.PROT_READ, unix.PROT_READ, unix.PROT_NONE, unix.PROT_NONE,
		unix.PROT_READ | unix.PROT_EXEC, unix.PROT_WRITE, unix.PROT_EXEC,
		unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC,
	})
	if g.pct(4) {
		p |= pickOf(g, []int{0x8 /* PROT_SEM */, 0x10, 0x100})
	}
	if forMProtect && g.pct(4) {
		p |= pickOf(g, []int{unix.PROT_GROWSDOWN, unix.PROT_GROWSUP, unix.PROT_GROWSDOWN | unix.PROT_GROWSUP})
	}
	return p
}

func (g *Gen) advice() int {
	return pickOf(g, []int{
		unix.MADV_DONTNEED, unix.MADV_DONTNEED, unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_FREE,
		unix.MADV_WILLNEED, unix.MADV_NORMAL, unix.MADV_RANDOM, unix.MADV_SEQUENTIAL,
		unix.MADV_DONTFORK, unix.MADV_DOFORK, unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE,
		unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE, unix.MADV_REMOVE,
		unix.MADV_DONTDUMP, unix.MADV_DODUMP, unix.MADV_WIPEONFORK, unix.MADV_KEEPONFORK,
		unix.MADV_COLD, unix.MADV_DONTNEED_LOCKED,
		5, 7, 99, -1,
	})
}

// guard picks a GuardInstall (two in three) or a GuardRemove: mostly a
// few pages inside a mapping, so that later reads and writes run into the
// guards, sometimes any range madvise gets.
func (g *Gen) guard(ms []Mapping) Op {
	var a, l uint64
	if len(ms) > 0 && g.pct(70) {
		m := pickOf(g, ms)
		np := int((m.End - m.Start) / pageSize)
		a = m.Start + uint64(g.n(np))*pageSize
		l = uint64(1+g.n(min(np, 8))) * pageSize
		if l > Base+Size-a {
			l = Base + Size - a
		}
	} else {
		a = g.addr(ms)
		l = g.length(ms, a)
	}
	if g.pct(65) {
		return GuardInstall(a, l)
	}
	return GuardRemove(a, l)
}

func (g *Gen) mmap(ms []Mapping, locked uint64) Op {
	flags := pickOf(g, []int{unix.MAP_PRIVATE, unix.MAP_PRIVATE, unix.MAP_PRIVATE, unix.MAP_SHARED})
	switch k := g.n(100); {
	case k < 2:
		flags = unix.MAP_SHARED_VALIDATE
	case k < 4:
		flags = pickOf(g, []int{0, 0x4, 0xf})
	}
	if !g.pct(3) {
		flags |= unix.MAP_ANONYMOUS
	}
	var a uint64
	switch k := g.n(100); {
	case k < 25: // no hint
	case k < 50:
		// A hint: in the window, or past TASK_SIZE (unusable on both
		// sides); a low hint would be honoured outside the window.
		if a = g.addr(ms); a < lowLimit {
			a = 0
		}
	case k < 90:
		a = g.addr(ms)
		flags |= unix.MAP_FIXED
	default:
		a = g.addr(ms)
		flags |= unix.MAP_FIXED_NOREPLACE
		if g.pct(10) {
			flags |= unix.MAP_FIXED
		}
	}
	l := g.length(ms, a)
	if l > maxMapLen && l < 1<<62 {
		l = maxMapLen
	}
	for _, f := range []struct {
		bit, pct int
	}{{unix.MAP_POPULATE, 5}, {unix.MAP_NORESERVE, 5}, {unix.MAP_GROWSDOWN, 3}, {unix.MAP_STACK, 3}, {0x200000, 2}} {
		if g.pct(f.pct) {
			flags |= f.bit
		}
	}
	if g.pct(3) && locked+pageAlign(min(l, Size)) <= g.LockBudget {
		flags |= unix.MAP_LOCKED
	}
	fd, off := -1, uint64(0)
	if flags&unix.MAP_ANONYMOUS != 0 && g.pct(3) {
		fd = g.n(3)
	}
	switch k := g.n(100); {
	case k < 3:
		off = uint64(g.n(16)) * pageSize
	case k < 5:
		off = uint64(1 + g.n(pageSize-1))
	}
	return MMap(a, l, g.prot(false), flags, fd, off)
}

func (g *Gen) mremap(ms []Mapping, locked uint64, full bool) Op {
	var a, l uint64
	if len(ms) > 0 && g.pct(65) {
		m := pickOf(g, ms)
		np := int((m.End - m.Start) / pageSize)
		s := 0
		if g.pct(40) {
			s = g.n(np)
		}
		a = m.Start + uint64(s)*pageSize
		l = uint64(np-s) * pageSize
		if g.pct(30) {
			l = uint64(1+g.n(np-s)) * pageSize
		}
		if g.pct(5) {
			l = 0
		}
	} else {
		a = g.addr(ms)
		l = g.length(ms, a)
	}
	var nl uint64
	switch k := g.n(100); {
	case k < 35:
		nl = l + uint64(1+g.n(16))*pageSize
	case k < 60:
		nl = uint64(1+g.n(int(max(l/pageSize, 1)))) * pageSize
	case k < 70:
		nl = l
	case k < 75:
		nl = 0
	case k < 80:
		nl = l + uint64(1+g.n(pageSize-1))
	case k < 92:
		nl = l + uint64(g.n(512))*pageSize
	default:
		nl = pickOf(g, []uint64{math.MaxUint64, 1 << 63, taskSize, Size + pageSize})
	}
	if (full || locked+pageAlign(min(nl, Size)) > g.LockBudget) && nl > l {
		nl = l
	}
	if nl > maxMapLen && nl < 1<<62 {
		nl = maxMapLen
	}
	flags := pickOf(g, []int{0, 0, unix.MREMAP_MAYMOVE, unix.MREMAP_MAYMOVE, unix.MREMAP_MAYMOVE,
		unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED,
		unix.MREMAP_MAYMOVE | unix.MREMAP_DONTUNMAP, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED | unix.MREMAP_DONTUNMAP})
	switch k := g.n(100); {
	case k < 3:
		flags = unix.MREMAP_FIXED
	case k < 5:
		flags = unix.MREMAP_DONTUNMAP
	case k < 8:
		flags |= 8
	}
	if flags&unix.MREMAP_DONTUNMAP != 0 && g.pct(80) {
		nl = l
	}
	var na uint64
	if flags&unix.MREMAP_FIXED != 0 {
		na = g.addr(ms)
		if na >= Base && na < Base+Size && nl > Base+Size-na {
			na = Base + Size - pageAlign(nl)
		}
	} else if g.pct(10) {
		// A hint, as for mmap: a low one would be honoured outside the
		// window.
		if na = g.addr(ms); na < lowLimit {
			na = 0
		}
	}
	return MRemap(a, l, nl, flags, na)
}

// access picks a range for a Write or Read: mostly within a mapping,
// sometimes across its edge, never outside the window.
func (g *Gen) access(ms []Mapping) (uint64, uint64) {
	var a uint64
	if len(ms) > 0 && g.pct(85) {
		m := pickOf(g, ms)
		a = m.Start + uint64(g.n(int((m.End-m.Start)/pageSize)))*pageSize
	} else {
		a = Base + Size - hotZone + uint64(g.n(hotZone/pageSize))*pageSize
	}
	a += uint64(g.n(pageSize))
	l := uint64(1 + g.n(3*pageSize))
	if g.pct(10) {
		l = pageSize
		a &^= pageSize - 1
	}
	if l > Base+Size-a {
		l = Base + Size - a
	}
	return a, l
}
