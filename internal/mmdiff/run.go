package mmdiff

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"golang.org/x/sys/unix"
)

// Options relax or tighten the comparison where a memory manager may
// legitimately differ from Linux (see Differences).
type Options struct {
	// SharedObjects compares the offset into the shared object of shared
	// mappings (and keeps mappings of different objects apart when
	// coalescing); set it when the system reports offsets and distinct
	// inodes per shared object as Linux does.
	SharedObjects bool
	// FreeDiscards says the system drops MADV_FREE'd private pages at
	// once (they read as zero). Linux drops them only under memory
	// pressure, so the host is made to do the same with MADV_DONTNEED on
	// exactly the vmas MADV_FREE processed. If false, the system must keep
	// the contents, as Linux does without pressure.
	FreeDiscards bool
	// CheckLocked compares the system's locked bytes with the bytes of the
	// host's locked vmas in the window, after calls that lock and every
	// LockEvery operations (0: 256). Reading the host's smaps costs about
	// a millisecond.
	CheckLocked bool
	LockEvery   int
	// SweepEvery compares up to 512 random readable pages of the window
	// after each SweepEvery operations (0: 256), and all of them at the end
	// of a run; the pages an operation names and a few random ones are
	// compared after every operation.
	SweepEvery int
}

// Divergence is a difference between the host and the system under test.
type Divergence struct {
	Index int // of the operation after which it showed
	Op    Op
	What  string
}

func (d *Divergence) Error() string {
	return fmt.Sprintf("op %d %v: %s", d.Index, d.Op, d.What)
}

// Runner applies operations to the host and a system and compares them.
type Runner struct {
	Host *Host
	Sys  System
	Opts Options

	layout []Mapping // the host's layout after the last step
	sample *rand.PCG
	steps  int
	// fast skips the comparison of layouts, locks and contents after each
	// step (Finish compares them once): for replaying long sequences
	// while shrinking.
	fast bool
}

// NewRunner starts a comparison from an empty window on both sides.
func NewRunner(h *Host, sys System, opts Options) (*Runner, error) {
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 256
	}
	if opts.LockEvery <= 0 {
		opts.LockEvery = 256
	}
	if err := h.Reset(); err != nil {
		return nil, err
	}
	r := &Runner{Host: h, Sys: sys, Opts: opts, sample: rand.NewPCG(1, 2)}
	if d, err := r.compareLayout(-1, Op{}); d != nil || err != nil {
		if err == nil {
			err = fmt.Errorf("mmdiff: the system's window is not empty at start: %s", d.What)
		}
		return nil, err
	}
	return r, nil
}

// Layout returns the host's layout after the last step (for generators).
func (r *Runner) Layout() []Mapping { return r.layout }

// Step runs op on both sides and compares results, layout, locked bytes
// and contents. It returns a Divergence, or an error if the harness itself
// failed.
func (r *Runner) Step(i int, op Op) (*Divergence, error) {
	if err := Safe(op); err != nil {
		return nil, fmt.Errorf("op %d %v: %w", i, op, err)
	}
	r.steps++
	div := func(format string, args ...any) *Divergence {
		return &Divergence{Index: i, Op: op, What: fmt.Sprintf(format, args...)}
	}
	lacking := r.Host.Lacking()
	if r.fast && (op.Kind == KindMMap || op.Kind == KindMRemap || (op.Kind == KindMadvise && (op.Flags == unix.MADV_FREE || lacking != 0))) {
		hl, err := r.Host.Layout()
		if err != nil {
			return nil, err
		}
		r.layout = hl
	}
	pre := r.layout
	if f, blocked := lacking.Blocks(op, pre); blocked {
		return nil, fmt.Errorf("op %d %v: no %v: %w", i, op, f, ErrHostLacks)
	}
	var touched [][2]uint64 // ranges whose contents to compare
	touched = append(touched, [2]uint64{op.Addr, op.Len})
	switch op.Kind {
	case KindMMap:
		hr, he := r.Host.MMap(op.Addr, op.Len, op.Prot, op.Flags, op.FD, op.Off)
		sr, se := r.Sys.MMap(op.Addr, op.Len, op.Prot, op.Flags, op.FD, op.Off)
		remap := func(from, n, to uint64) error {
			return r.Host.Remap(from, n, to, op.Prot, op.Flags, op.FD, op.Off)
		}
		if d := r.placed(div, pre, hr, he, sr, se, op.Len, op.Addr, remap); d != nil {
			return d, nil
		}
		touched = append(touched, [2]uint64{sr, op.Len})
	case KindMRemap:
		var sr uint64
		var d *Divergence
		if shape := unplacedMove(op); shape != notUnplaced {
			sr, d = r.mremapSystemFirst(div, pre, op, shape)
		} else {
			hr, he := r.Host.MRemap(op.Addr, op.Len, op.NewLen, op.Flags, op.NewAddr)
			var se unix.Errno
			sr, se = r.Sys.MRemap(op.Addr, op.Len, op.NewLen, op.Flags, op.NewAddr)
			d = r.placed(div, pre, hr, he, sr, se, op.NewLen, 0, r.Host.Relocate)
		}
		if d != nil {
			return d, nil
		}
		touched = append(touched, [2]uint64{sr, op.NewLen})
	case KindMUnmap:
		if he, se := r.Host.MUnmap(op.Addr, op.Len), r.Sys.MUnmap(op.Addr, op.Len); he != se {
			return div("errno: host %s, system %s", errName(he), errName(se)), nil
		}
	case KindMProtect:
		if he, se := r.Host.MProtect(op.Addr, op.Len, op.Prot), r.Sys.MProtect(op.Addr, op.Len, op.Prot); he != se {
			return div("errno: host %s, system %s", errName(he), errName(se)), nil
		}
	case KindMadvise:
		he := r.Host.Madvise(op.Addr, op.Len, op.Flags)
		se := r.Sys.Madvise(op.Addr, op.Len, op.Flags)
		if he != se {
			return div("errno: host %s, system %s", errName(he), errName(se)), nil
		}
		if op.Flags == unix.MADV_FREE && r.Opts.FreeDiscards {
			r.discardFreed(pre, op, he)
		}
	case KindMLock:
		if he, se := r.Host.MLock(op.Addr, op.Len, op.Flags), r.Sys.MLock(op.Addr, op.Len, op.Flags); he != se {
			return div("errno: host %s, system %s", errName(he), errName(se)), nil
		}
	case KindMUnlock:
		if he, se := r.Host.MUnlock(op.Addr, op.Len), r.Sys.MUnlock(op.Addr, op.Len); he != se {
			return div("errno: host %s, system %s", errName(he), errName(se)), nil
		}
	case KindMSync:
		if he, se := r.Host.MSync(op.Addr, op.Len, op.Flags), r.Sys.MSync(op.Addr, op.Len, op.Flags); he != se {
			return div("errno: host %s, system %s", errName(he), errName(se)), nil
		}
	case KindMinCore:
		if d := r.mincore(div, op); d != nil {
			return d, nil
		}
	case KindWrite:
		data := Pattern(op.Seed, op.Len)
		hn, he := r.Host.CopyOut(op.Addr, data)
		sn, se := r.Sys.CopyOut(op.Addr, data)
		if hn != sn || he != se {
			return div("write: host wrote %d (%s), system %d (%s)", hn, errName(he), sn, errName(se)), nil
		}
	case KindZero:
		hn, he := r.Host.ZeroOut(op.Addr, op.Len)
		sn, se := r.Sys.ZeroOut(op.Addr, op.Len)
		if hn != sn || he != se {
			return div("zero: host cleared %d (%s), system %d (%s)", hn, errName(he), sn, errName(se)), nil
		}
	case KindRead:
		hb, sb := make([]byte, op.Len), make([]byte, op.Len)
		hn, he := r.Host.CopyIn(op.Addr, hb)
		sn, se := r.Sys.CopyIn(op.Addr, sb)
		if hn != sn || he != se {
			return div("read: host read %d (%s), system %d (%s)", hn, errName(he), sn, errName(se)), nil
		}
		if j := firstDiff(hb[:hn], sb[:sn]); j >= 0 {
			return div("read: byte %#x (address %#x) is %#x on the host, %#x on the system", j, op.Addr+uint64(j), hb[j], sb[j]), nil
		}
	default:
		return nil, fmt.Errorf("mmdiff: unknown op kind %v", op.Kind)
	}
	if r.fast {
		return nil, nil
	}
	// Mincore and msync never change Linux's layout, nor does a read,
	// write or clear within the host's mappings, so the layouts are
	// compared after the next call that may; a system that changed its
	// layout here is caught then, and shrinking keeps this call in the
	// reproducer. A copy that reached outside them may have grown a
	// grows-down vma, as the fault of a copy to or from user memory does.
	switch {
	case op.Kind == KindMinCore || op.Kind == KindMSync:
	case (op.Kind == KindWrite || op.Kind == KindRead || op.Kind == KindZero) && covered(pre, op.Addr, op.Len):
	default:
		if d, err := r.compareLayout(i, op); d != nil || err != nil {
			return d, err
		}
	}
	lockOp := op.Kind == KindMLock || op.Kind == KindMUnlock || (op.Kind == KindMMap && op.Flags&unix.MAP_LOCKED != 0)
	if r.Opts.CheckLocked && (lockOp || r.steps%r.Opts.LockEvery == 0) {
		hl, hok := r.Host.LockedBytes()
		sl, sok := r.Sys.LockedBytes()
		if hok && sok && hl != sl {
			return div("locked bytes: host %#x, system %#x", hl, sl), nil
		}
	}
	// The pages sampled depend on the operation, not on its place in the
	// sequence, so that a replay with other operations removed still
	// reads (and so faults in) the same pages around it.
	r.sample.Seed(opSeed(op))
	random := 2
	if r.steps%r.Opts.SweepEvery == 0 {
		random = 512
	}
	pages := r.pagesToCompare(touched, random, false)
	return r.compareContents(div, pages), nil
}

// placed compares the outcome of a call that returns an address. Linux
// places a mapping without a usable hint top-down from its mmap base,
// outside the window; then the system's choice must be a legal one (in the
// window, page-aligned, not overlapping anything, not the refused hint)
// and move puts the host's mapping there so that both go on identical
// (Host.Remap for mmap: a fresh mapping, nothing carried over from where
// Linux placed it; Host.Relocate for an mremap that mremapSystemFirst does
// not take, which must keep the pages).
func (r *Runner) placed(div func(string, ...any) *Divergence, pre []Mapping, hr uint64, he unix.Errno, sr uint64, se unix.Errno, length, hint uint64, move func(from, length, to uint64) error) *Divergence {
	if he != se {
		if he == 0 && !inWindow(hr, length) {
			_ = r.Host.unmapOutside(hr, length)
		}
		return div("errno: host %s, system %s", errName(he), errName(se))
	}
	if he != 0 {
		return nil
	}
	n := (length + pageSize - 1) &^ (pageSize - 1)
	if inWindow(hr, n) {
		if sr != hr {
			return div("address: host %#x, system %#x", hr, sr)
		}
		return nil
	}
	if why := illegalPlacement(pre, sr, n, hint); why != "" {
		_ = r.Host.unmapOutside(hr, n)
		return div("address: host placed it outside the window (%#x); the system's %#x is %s", hr, sr, why)
	}
	if err := move(hr, n, sr); err != nil {
		_ = r.Host.unmapOutside(hr, n)
		return div("harness: %v", err)
	}
	return nil
}

// illegalPlacement says why sr cannot be where a mapping of n bytes that
// Linux places by itself (outside the window) goes in the window with
// layout pre: it must be page-aligned, in the window, over nothing (for a
// move, not over the range moved either) and not at a hint Linux refused.
// It returns "" for a legal address.
func illegalPlacement(pre []Mapping, sr, n, hint uint64) string {
	switch {
	case sr%pageSize != 0 || !inWindow(sr, n):
		return "outside the window or unaligned"
	case !isFree(pre, sr, n):
		return "over an existing mapping"
	case hint != 0 && (sr == hint&^(pageSize-1)):
		return "at the hint, which Linux could not use"
	}
	return ""
}

// moveShape says how an mremap may move without the host being told
// where.
type moveShape uint8

const (
	notUnplaced moveShape = iota
	// growOrMove: MREMAP_MAYMOVE alone, growing: Linux grows the range in
	// place if it can and otherwise moves it where its own mmap layout
	// says (it ignores new_address then), outside the window.
	growOrMove
	// dontUnmapNoHint: MREMAP_MAYMOVE|MREMAP_DONTUNMAP without a hint:
	// always a move, placed likewise.
	dontUnmapNoHint
)

// unplacedMove classifies op: the mremaps that Linux would move outside
// the window, into the test process's own part of the address space. Any
// other flags (MREMAP_FIXED, bad bits), a DONTUNMAP hint (Linux honours
// one it can use), no growth, or a range that is not a plain one in the
// window keep the host-first comparison.
func unplacedMove(op Op) moveShape {
	if op.Len == 0 || !inWindow(op.Addr, op.Len) || op.NewLen == 0 || op.NewLen > Size || op.Addr%pageSize != 0 {
		return notUnplaced
	}
	switch op.Flags {
	case unix.MREMAP_MAYMOVE:
		if pageAlign(op.NewLen) > pageAlign(op.Len) {
			return growOrMove
		}
	case unix.MREMAP_MAYMOVE | unix.MREMAP_DONTUNMAP:
		if op.NewAddr == 0 {
			return dontUnmapNoHint
		}
	}
	return notUnplaced
}

// mremapSystemFirst runs an mremap that Linux would place by itself (see
// unplacedMove) so that the host never places it outside the window: the
// host mapping moved in from there could carry an anon_vma of the test
// process's own memory next to where Linux put it, and then merge
// differently in the window. Whether Linux grows in place is asked first
// with the same call without MREMAP_MAYMOVE, which does exactly that where
// it can and otherwise fails with ENOMEM, changing nothing. Where Linux
// would move, the system runs first, its address is checked as placed
// checks one (legal in the window; Linux's own choice lies outside it, so
// it is not compared), and the host moves there with MREMAP_FIXED, which
// makes the same move at that address. It returns the system's address.
func (r *Runner) mremapSystemFirst(div func(string, ...any) *Divergence, pre []Mapping, op Op, shape moveShape) (uint64, *Divergence) {
	if shape == growOrMove {
		hr, he := r.Host.MRemap(op.Addr, op.Len, op.NewLen, 0, op.NewAddr)
		if he != unix.ENOMEM {
			sr, se := r.Sys.MRemap(op.Addr, op.Len, op.NewLen, op.Flags, op.NewAddr)
			return sr, r.placed(div, pre, hr, he, sr, se, op.NewLen, 0, r.Host.Relocate)
		}
	}
	sr, se := r.Sys.MRemap(op.Addr, op.Len, op.NewLen, op.Flags, op.NewAddr)
	if se != 0 {
		// Linux's own call decides; one that moved outside the window
		// is unmapped again by placed.
		hr, he := r.Host.MRemap(op.Addr, op.Len, op.NewLen, op.Flags, op.NewAddr)
		return sr, r.placed(div, pre, hr, he, sr, se, op.NewLen, 0, r.Host.Relocate)
	}
	n := pageAlign(op.NewLen)
	if sr == op.Addr && shape == growOrMove {
		return sr, div("address: the host cannot grow [%#x, +%#x) in place (without MREMAP_MAYMOVE: ENOMEM) and moves it; the system kept it at %#x", op.Addr, op.Len, sr)
	}
	if why := illegalPlacement(pre, sr, n, 0); why != "" {
		return sr, div("address: host places the move outside the window; the system's %#x is %s", sr, why)
	}
	hr, he := r.Host.MRemap(op.Addr, op.Len, op.NewLen, op.Flags|unix.MREMAP_FIXED, sr)
	if he != 0 {
		return sr, div("errno: host %s (moving with MREMAP_FIXED to the system's address), system ok at %#x", errName(he), sr)
	}
	if hr != sr {
		return sr, div("harness: the host's move to %#x landed at %#x", sr, hr)
	}
	return sr, nil
}

// discardFreed mirrors an immediate discard of MADV_FREE'd pages on the
// host: MADV_DONTNEED on each vma MADV_FREE processed, in order, up to the
// first one it refused.
func (r *Runner) discardFreed(pre []Mapping, op Op, he unix.Errno) {
	if he == 0 || he == unix.ENOMEM {
		r.Host.Madvise(op.Addr, op.Len, unix.MADV_DONTNEED)
		return
	}
	end := op.Addr + op.Len
	for _, m := range pre {
		s, e := max(m.Start, op.Addr), min(m.End, end)
		if s >= e {
			continue
		}
		if r.Host.Madvise(s, e-s, unix.MADV_FREE) != 0 {
			return
		}
		r.Host.Madvise(s, e-s, unix.MADV_DONTNEED)
	}
}

// mincore compares what is deterministic: the errno, that no byte has
// bits beyond bit 0, and that a page holding non-zero data is resident on
// both sides. Which other pages are resident depends on fault-around and
// reclaim, so it is not compared.
func (r *Runner) mincore(div func(string, ...any) *Divergence, op Op) *Divergence {
	n := VecLen(op.Addr, op.Len)
	hv, sv := make([]byte, n), make([]byte, n)
	he, se := r.Host.MinCore(op.Addr, op.Len, hv), r.Sys.MinCore(op.Addr, op.Len, sv)
	if he != se {
		return div("errno: host %s, system %s", errName(he), errName(se))
	}
	if he != 0 {
		return nil
	}
	pages := int((op.Len + pageSize - 1) / pageSize)
	page := make([]byte, pageSize)
	for j := 0; j < pages && j < n; j++ {
		if sv[j]&^1 != 0 {
			return div("mincore: page %d has byte %#x on the system", j, sv[j])
		}
		a := op.Addr + uint64(j)*pageSize
		if k, _ := r.Host.peek(r.layout, a, page); k == pageSize && !allZero(page) && sv[j]&1 == 0 {
			return div("mincore: page %#x holds data but the system says it is not resident", a)
		}
	}
	return nil
}

func (r *Runner) compareLayout(i int, op Op) (*Divergence, error) {
	hl, err := r.Host.Layout()
	if err != nil {
		return nil, err
	}
	r.layout = hl
	sl, err := r.Sys.Layout()
	if err != nil {
		return &Divergence{Index: i, Op: op, What: fmt.Sprintf("system layout: %v", err)}, nil
	}
	hc, sc := canonicalInodes(Coalesce(hl, r.Opts.SharedObjects)), canonicalInodes(Coalesce(sl, r.Opts.SharedObjects))
	if !equalLayouts(hc, sc) {
		return &Divergence{Index: i, Op: op, What: "layout differs (-host +system):\n" + layoutDiff(hc, sc)}, nil
	}
	return nil, nil
}

// canonicalInodes renumbers the shared objects of ms 1, 2, ... in order of
// first appearance: the host's and the system's inode numbers differ, but
// which mappings share an object must not.
func canonicalInodes(ms []Mapping) []Mapping {
	ids := map[uint64]uint64{}
	for i := range ms {
		if !ms[i].Shared {
			continue
		}
		id, ok := ids[ms[i].Inode]
		if !ok {
			id = uint64(len(ids) + 1)
			ids[ms[i].Inode] = id
		}
		ms[i].Inode = id
	}
	return ms
}

// layoutDiff lists the mappings only the host (-) or only the system (+)
// has, in address order.
func layoutDiff(h, s []Mapping) string {
	inH, inS := map[Mapping]bool{}, map[Mapping]bool{}
	for _, m := range h {
		inH[m] = true
	}
	for _, m := range s {
		inS[m] = true
	}
	var b strings.Builder
	i, j := 0, 0
	for i < len(h) || j < len(s) {
		switch {
		case j == len(s) || (i < len(h) && h[i].Start <= s[j].Start):
			if !inS[h[i]] {
				fmt.Fprintf(&b, "\t- %s\n", h[i])
			}
			i++
		default:
			if !inH[s[j]] {
				fmt.Fprintf(&b, "\t+ %s\n", s[j])
			}
			j++
		}
	}
	return b.String()
}

func equalLayouts(a, b []Mapping) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pagesToCompare returns readable pages of the host layout: those in the
// touched ranges (at most 4 from each end of each) and random ones, or
// all of them.
func (r *Runner) pagesToCompare(touched [][2]uint64, random int, all bool) []uint64 {
	var readable []Mapping
	total := uint64(0)
	for _, m := range r.layout {
		if m.Perms.Effective().Read {
			readable = append(readable, m)
			total += (m.End - m.Start) / pageSize
		}
	}
	var pages []uint64
	if all {
		for _, m := range readable {
			for a := m.Start; a < m.End; a += pageSize {
				pages = append(pages, a)
			}
		}
		return pages
	}
	seen := map[uint64]bool{}
	add := func(a uint64) {
		if _, ok := find(readable, a); ok && !seen[a] {
			seen[a] = true
			pages = append(pages, a)
		}
	}
	for _, t := range touched {
		a, n := t[0]&^(pageSize-1), t[1]
		if !inWindow(a, n) {
			continue
		}
		np := (n + t[0] - a + pageSize - 1) / pageSize
		for j := uint64(0); j < np; j++ {
			if j == 4 && np > 8 {
				j = np - 4
			}
			add(a + j*pageSize)
		}
	}
	for k := 0; k < random && total > 0; k++ {
		j := r.sample.Uint64() % total
		for _, m := range readable {
			np := (m.End - m.Start) / pageSize
			if j < np {
				add(m.Start + j*pageSize)
				break
			}
			j -= np
		}
	}
	return pages
}

func (r *Runner) compareContents(div func(string, ...any) *Divergence, pages []uint64) *Divergence {
	hb, sb := make([]byte, pageSize), make([]byte, pageSize)
	for _, a := range pages {
		hn, he := r.Host.peek(r.layout, a, hb)
		sn, se := r.Sys.CopyIn(a, sb)
		if hn != sn || he != se {
			return div("contents: reading page %#x: host read %d bytes (%s), the system %d (%s)", a, hn, errName(he), sn, errName(se))
		}
		if j := firstDiff(hb, sb); j >= 0 {
			return div("contents: byte %#x of page %#x is %#x on the host, %#x on the system", j, a, hb[j], sb[j])
		}
	}
	return nil
}

// Finish compares the layout, locked bytes and every readable page, as
// the last step of a run.
func (r *Runner) Finish(i int) (*Divergence, error) {
	if d, err := r.compareLayout(i, Op{}); d != nil || err != nil {
		return d, err
	}
	if r.Opts.CheckLocked {
		hl, hok := r.Host.LockedBytes()
		sl, sok := r.Sys.LockedBytes()
		if hok && sok && hl != sl {
			return &Divergence{Index: i, What: fmt.Sprintf("at the end: locked bytes: host %#x, system %#x", hl, sl)}, nil
		}
	}
	return r.Sweep(i), nil
}

// Sweep compares the contents of every readable page.
func (r *Runner) Sweep(i int) *Divergence {
	div := func(format string, args ...any) *Divergence {
		return &Divergence{Index: i, What: "final sweep: " + fmt.Sprintf(format, args...)}
	}
	return r.compareContents(div, r.pagesToCompare(nil, 0, true))
}

// unmapOutside removes a mapping the host placed outside the window when
// the run is over.
func (h *Host) unmapOutside(addr, length uint64) error {
	n := (length + pageSize - 1) &^ (pageSize - 1)
	if inWindow(addr, n) || addr == 0 {
		return nil
	}
	return errnoAsError(errnoOf(unix.RawSyscall(unix.SYS_MUNMAP, uintptr(addr), uintptr(n), 0)))
}

// opSeed hashes op's arguments.
func opSeed(op Op) (uint64, uint64) {
	h := uint64(op.Kind)*0x9e3779b97f4a7c15 ^ op.Addr
	for _, v := range []uint64{op.Len, op.NewLen, op.NewAddr, uint64(op.Prot), uint64(op.Flags), uint64(op.FD), op.Off, op.Seed} {
		h = (h ^ v) * 0x100000001b3
	}
	return h, h >> 17
}

func errnoAsError(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func errName(e unix.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func closeSystem(s System) {
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
}
