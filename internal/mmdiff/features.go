package mmdiff

import (
	"errors"
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// Feature is a piece of Linux memory-management behaviour the generator
// relies on that older host kernels lack. The system under test implements
// Linux 6.18's semantics; on a host without a feature the ops whose result
// depends on it would diverge for a reason that is not the system's bug, so
// the generator leaves them out (Gen.Lacking) and the runner refuses them
// (ErrHostLacks).
type Feature uint8

// The features the host is probed for, each by a real call on a scratch
// mapping in the window (NewHost).
const (
	// FeatGuard: madvise MADV_GUARD_INSTALL/REMOVE on private anonymous
	// memory (Linux 6.13).
	FeatGuard Feature = iota
	// FeatGuardShared: guard regions on shared (shmem-backed) mappings
	// (Linux 6.15; EINVAL before).
	FeatGuardShared
	// FeatMoveSpanning: mremap(MREMAP_FIXED) without resizing of a range
	// that spans several vmas (Linux 6.17; EFAULT before).
	FeatMoveSpanning
	// FeatDontUnmap: MREMAP_DONTUNMAP on private anonymous memory
	// (Linux 5.7).
	FeatDontUnmap
	// FeatDontUnmapShared: MREMAP_DONTUNMAP on shared mappings (Linux
	// 5.13; EINVAL before).
	FeatDontUnmapShared
	// FeatPopulate: madvise MADV_POPULATE_READ/WRITE (Linux 5.14).
	FeatPopulate
	// FeatDontneedLocked: madvise MADV_DONTNEED_LOCKED (Linux 5.18).
	FeatDontneedLocked
	// FeatCold: madvise MADV_COLD (Linux 5.4).
	FeatCold
	numFeatures
)

// FeatureSet is a set of Features; the zero value is empty.
type FeatureSet uint32

// Has reports whether f is in s.
func (s FeatureSet) Has(f Feature) bool { return s&(1<<f) != 0 }

// With returns s with f added.
func (s FeatureSet) With(f Feature) FeatureSet { return s | 1<<f }

// probe says how one Feature is tested on the host and what leaving it out
// means.
type probe struct {
	feature Feature
	// parent, when lacking, implies this one is lacking too (its own
	// probe fails for the parent's reason), so only the parent is logged.
	parent Feature
	what   string // "no <what>" in the log
	call   string // the call probed, in the log
	left   string // what the generator leaves out
	// run makes the call on scratch mappings it creates in
	// [Base, Base+probeSpan), which the caller clears afterwards; 0 means
	// the host has the feature.
	run func() unix.Errno
}

const noParent = numFeatures

// probeSpan is the part of the window the probes use.
const probeSpan = 64 * pageSize

var probes = []probe{
	{FeatGuard, noParent, "guard regions", "MADV_GUARD_INSTALL", "GuardInstall/GuardRemove ops not generated", func() unix.Errno {
		return probeMadvise(unix.MAP_PRIVATE, unix.MADV_GUARD_INSTALL, unix.MADV_GUARD_REMOVE)
	}},
	{FeatGuardShared, FeatGuard, "guard regions on shared mappings", "MADV_GUARD_INSTALL on MAP_SHARED", "GuardInstall/GuardRemove ops over a shared mapping not generated", func() unix.Errno {
		return probeMadvise(unix.MAP_SHARED, unix.MADV_GUARD_INSTALL, unix.MADV_GUARD_REMOVE)
	}},
	{FeatMoveSpanning, noParent, "mremap moves spanning several vmas", "mremap(MREMAP_FIXED) of two vmas", "mremap moves (MREMAP_FIXED, same size) of a range not within one vma not generated", probeMoveSpanning},
	{FeatDontUnmap, noParent, "MREMAP_DONTUNMAP", "mremap(MREMAP_DONTUNMAP) on MAP_PRIVATE", "mremap ops with MREMAP_DONTUNMAP not generated", func() unix.Errno {
		return probeDontUnmap(unix.MAP_PRIVATE)
	}},
	{FeatDontUnmapShared, FeatDontUnmap, "MREMAP_DONTUNMAP on shared mappings", "mremap(MREMAP_DONTUNMAP) on MAP_SHARED", "mremap ops with MREMAP_DONTUNMAP over a shared mapping not generated", func() unix.Errno {
		return probeDontUnmap(unix.MAP_SHARED)
	}},
	{FeatPopulate, noParent, "MADV_POPULATE_READ/WRITE", "MADV_POPULATE_READ/WRITE", "madvise(MADV_POPULATE_READ/WRITE) not generated", func() unix.Errno {
		return probeMadvise(unix.MAP_PRIVATE, unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE)
	}},
	{FeatDontneedLocked, noParent, "MADV_DONTNEED_LOCKED", "MADV_DONTNEED_LOCKED", "madvise(MADV_DONTNEED_LOCKED) not generated", func() unix.Errno {
		return probeMadvise(unix.MAP_PRIVATE, unix.MADV_DONTNEED_LOCKED)
	}},
	{FeatCold, noParent, "MADV_COLD", "MADV_COLD", "madvise(MADV_COLD) not generated", func() unix.Errno {
		return probeMadvise(unix.MAP_PRIVATE, unix.MADV_COLD)
	}},
}

// probeMadvise maps two read-write anonymous pages at Base with sharing
// flags and gives them each advice in turn; the first errno is returned.
func probeMadvise(sharing int, advice ...int) unix.Errno {
	if _, e := rawMMap(Base, 2*pageSize, unix.PROT_READ|unix.PROT_WRITE, sharing|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, -1, 0); e != 0 {
		return e
	}
	for _, a := range advice {
		if e := errnoOf(unix.RawSyscall(unix.SYS_MADVISE, uintptr(Base), pageSize, uintptr(a))); e != 0 {
			return e
		}
	}
	return 0
}

// probeMoveSpanning maps two pages at Base as two vmas (read-write, then
// read-only) and moves both at once to Base+16 pages.
func probeMoveSpanning() unix.Errno {
	if _, e := rawMMap(Base, 2*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, -1, 0); e != 0 {
		return e
	}
	if e := errnoOf(unix.RawSyscall(unix.SYS_MPROTECT, uintptr(Base+pageSize), pageSize, unix.PROT_READ)); e != 0 {
		return e
	}
	return probeRemap(Base, 2*pageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, Base+16*pageSize)
}

// probeDontUnmap maps a page at Base and moves it with MREMAP_DONTUNMAP to
// Base+16 pages.
func probeDontUnmap(sharing int) unix.Errno {
	if _, e := rawMMap(Base, pageSize, unix.PROT_READ|unix.PROT_WRITE, sharing|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, -1, 0); e != 0 {
		return e
	}
	return probeRemap(Base, pageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, Base+16*pageSize)
}

func probeRemap(addr, length uint64, flags int, to uint64) unix.Errno {
	r, _, e := unix.RawSyscall6(unix.SYS_MREMAP, uintptr(addr), uintptr(length), uintptr(length), uintptr(flags), uintptr(to), 0)
	if e == 0 && uint64(r) != to {
		return unix.EFAULT // moved elsewhere: not the call asked for
	}
	return e
}

// probeHost runs every probe in the empty window, clearing the probes'
// part of it after each, and returns the errno of each (0: present).
func probeHost() (map[Feature]unix.Errno, error) {
	res := map[Feature]unix.Errno{}
	for _, p := range probes {
		res[p.feature] = p.run()
		if e := errnoOf(unix.RawSyscall(unix.SYS_MUNMAP, uintptr(Base), probeSpan, 0)); e != 0 {
			return nil, fmt.Errorf("mmdiff: clear the window after probing %s: %w", p.call, e)
		}
	}
	return res, nil
}

// lackingFrom turns probe results into the set of features the host lacks
// and one log line for each that the generator leaves out, naming the
// host's kernel release (for the reader only: the probes decide).
func lackingFrom(release string, results map[Feature]unix.Errno) (FeatureSet, []string) {
	var lacking FeatureSet
	var lines []string
	for _, p := range probes {
		e := results[p.feature]
		if e == 0 {
			continue
		}
		lacking = lacking.With(p.feature)
		if p.parent != noParent && lacking.Has(p.parent) {
			continue
		}
		lines = append(lines, fmt.Sprintf("host kernel %s: no %s (%s %s); %s", release, p.what, p.call, errName(e), p.left))
	}
	return lacking, lines
}

// kernelRelease returns uname -r, for messages.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "(unknown)"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// ErrHostLacks is returned (wrapped) by Runner.Step for an operation whose
// result depends on a Feature the host lacks: replaying a sequence made on
// a newer host, or a shrinking candidate whose layout changed the op's
// shape. The generator never makes one.
var ErrHostLacks = errors.New("mmdiff: the host kernel lacks a feature this operation needs")

// Blocks returns the Feature in s (the host's lacking ones) that op needs,
// with the host's layout ms before op; ok is false when op needs none.
func (s FeatureSet) Blocks(op Op, ms []Mapping) (f Feature, ok bool) {
	if s == 0 {
		return 0, false
	}
	need := func(f Feature, cond bool) bool { return cond && s.Has(f) }
	switch op.Kind {
	case KindMadvise:
		switch op.Flags {
		case unix.MADV_GUARD_INSTALL, unix.MADV_GUARD_REMOVE:
			if need(FeatGuard, true) {
				return FeatGuard, true
			}
			if need(FeatGuardShared, overlapsShared(ms, op.Addr, op.Len)) {
				return FeatGuardShared, true
			}
		case unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE:
			if need(FeatPopulate, true) {
				return FeatPopulate, true
			}
		case unix.MADV_DONTNEED_LOCKED:
			if need(FeatDontneedLocked, true) {
				return FeatDontneedLocked, true
			}
		case unix.MADV_COLD:
			if need(FeatCold, true) {
				return FeatCold, true
			}
		}
	case KindMRemap:
		if op.Flags&unix.MREMAP_DONTUNMAP != 0 {
			if need(FeatDontUnmap, true) {
				return FeatDontUnmap, true
			}
			if need(FeatDontUnmapShared, overlapsShared(ms, op.Addr, op.Len)) {
				return FeatDontUnmapShared, true
			}
		}
		if need(FeatMoveSpanning, moveOnly(op) && spansSeveral(ms, op.Addr, op.Len)) {
			return FeatMoveSpanning, true
		}
	}
	return 0, false
}

// String names f as the probes' log does.
func (f Feature) String() string {
	for _, p := range probes {
		if p.feature == f {
			return p.what
		}
	}
	return fmt.Sprintf("Feature(%d)", f)
}

// moveOnly reports whether op is an mremap to a fixed address without a
// change of size (page-rounded), the shape Linux 6.17 lets span vmas.
func moveOnly(op Op) bool {
	return op.Flags&unix.MREMAP_FIXED != 0 && op.Len > 0 && op.Len <= math.MaxUint64-pageSize &&
		op.NewLen <= math.MaxUint64-pageSize && pageAlign(op.Len) == pageAlign(op.NewLen)
}

// rangeEnd returns the page-rounded end of [addr, addr+length), saturated
// at 2^64-1.
func rangeEnd(addr, length uint64) uint64 {
	end := addr + length
	if end < addr || end > math.MaxUint64-(pageSize-1) {
		return math.MaxUint64
	}
	return pageAlign(end)
}

// overlapsShared reports whether [addr, addr+length) overlaps a shared
// mapping of ms.
func overlapsShared(ms []Mapping, addr, length uint64) bool {
	lo, hi := addr&^(pageSize-1), rangeEnd(addr, length)
	for _, m := range ms {
		if m.Shared && m.Start < hi && lo < m.End {
			return true
		}
	}
	return false
}

// spansSeveral reports whether [addr, addr+length) overlaps a mapping of
// ms but does not lie within a single one (it covers parts of several, or
// a hole beside one): older kernels fail a move of it with EFAULT, 6.17
// may move it. A range over no mapping fails on every kernel.
func spansSeveral(ms []Mapping, addr, length uint64) bool {
	lo, hi := addr&^(pageSize-1), rangeEnd(addr, length)
	overlaps := false
	for _, m := range ms {
		if m.Start < hi && lo < m.End {
			if m.Start <= lo && hi <= m.End {
				return false
			}
			overlaps = true
		}
	}
	return overlaps
}
