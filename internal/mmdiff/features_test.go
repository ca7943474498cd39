package mmdiff

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// featureLayout has what the feature filters look at: two adjacent private
// vmas (a move of a range across them spans several) and a shared mapping
// at the top of the window, where most generated addresses fall.
var featureLayout = []Mapping{
	{Start: Base + 0x10000, End: Base + 0x20000, Perms: arch.ReadWrite},
	{Start: Base + 0x20000, End: Base + 0x24000, Perms: arch.Read},
	{Start: Base + Size - 0x40000, End: Base + Size, Perms: arch.ReadWrite, Shared: true},
}

// needs reports, independently of FeatureSet.Blocks, whether op's result
// on featureLayout depends on f.
func needs(f Feature, op Op) bool {
	overShared := func() bool {
		sh := featureLayout[2]
		end := op.Addr + op.Len
		if end < op.Addr {
			end = ^uint64(0)
		}
		return op.Len > 0 && op.Addr < sh.End && end > sh.Start
	}
	guard := op.Kind == KindMadvise && (op.Flags == unix.MADV_GUARD_INSTALL || op.Flags == unix.MADV_GUARD_REMOVE)
	dontUnmap := op.Kind == KindMRemap && op.Flags&unix.MREMAP_DONTUNMAP != 0
	switch f {
	case FeatGuard:
		return guard
	case FeatGuardShared:
		return guard && overShared()
	case FeatDontUnmap:
		return dontUnmap
	case FeatDontUnmapShared:
		return dontUnmap && overShared()
	case FeatPopulate:
		return op.Kind == KindMadvise && (op.Flags == unix.MADV_POPULATE_READ || op.Flags == unix.MADV_POPULATE_WRITE)
	case FeatDontneedLocked:
		return op.Kind == KindMadvise && op.Flags == unix.MADV_DONTNEED_LOCKED
	case FeatCold:
		return op.Kind == KindMadvise && op.Flags == unix.MADV_COLD
	case FeatMoveSpanning:
		if op.Kind != KindMRemap || op.Flags&unix.MREMAP_FIXED == 0 || op.Len == 0 || op.Len > Size || op.NewLen > Size ||
			(op.Len+pageSize-1)/pageSize != (op.NewLen+pageSize-1)/pageSize {
			return false
		}
		lo, hi := op.Addr&^(pageSize-1), (op.Addr+op.Len+pageSize-1)&^(pageSize-1)
		inOne, touches := false, false
		for _, m := range featureLayout {
			if m.Start < hi && lo < m.End {
				touches = true
				inOne = inOne || (m.Start <= lo && hi <= m.End)
			}
		}
		return touches && !inOne
	}
	panic(f)
}

// TestGeneratorLeavesOutWhatTheHostLacks fakes a host lacking each feature
// in turn: the generator then never makes an op that needs it, while with
// nothing lacking the same seed makes many.
func TestGeneratorLeavesOutWhatTheHostLacks(t *testing.T) {
	const n = 30000
	for f := Feature(0); f < numFeatures; f++ {
		t.Run(f.String(), func(t *testing.T) {
			full, lacking := NewGen(NewRandSource(7)), NewGen(NewRandSource(7))
			lacking.Lacking = FeatureSet(0).With(f)
			made := 0
			for range n {
				if needs(f, full.Next(featureLayout, 0)) {
					made++
				}
				op := lacking.Next(featureLayout, 0)
				if needs(f, op) {
					t.Fatalf("host without %v: generated %v", f, op)
				}
				if Safe(op) != nil {
					t.Fatalf("generated unsafe %v", op)
				}
			}
			if made < 20 {
				t.Errorf("with nothing lacking only %d of %d ops need %v: the check above proves little", made, n, f)
			}
		})
	}
}

// TestGeneratorStreamUnchanged pins the ops seed 1 makes on a fixed
// layout with nothing lacking, as the generator made them before features
// were probed, so that seed 1's results on a 6.18 host stay comparable
// across sessions. A deliberate change of the generator updates it.
func TestGeneratorStreamUnchanged(t *testing.T) {
	g := NewGen(NewRandSource(1))
	h := fnv.New64a()
	for range 20000 {
		fmt.Fprintln(h, g.Next(featureLayout, 0).String())
	}
	if got, want := h.Sum64(), uint64(0xf8363a68c545b2f); got != want {
		t.Errorf("seed 1's op stream hashes to %#x, was %#x", got, want)
	}
}

func TestLackingFrom(t *testing.T) {
	all := func(over map[Feature]unix.Errno) map[Feature]unix.Errno {
		m := map[Feature]unix.Errno{}
		for f := Feature(0); f < numFeatures; f++ {
			m[f] = over[f]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		results map[Feature]unix.Errno
		lacking []Feature
		lines   []string
	}{
		{"6.18", all(nil), nil, nil},
		{"6.1", all(map[Feature]unix.Errno{FeatGuard: unix.EINVAL, FeatGuardShared: unix.EINVAL, FeatMoveSpanning: unix.EFAULT}),
			[]Feature{FeatGuard, FeatGuardShared, FeatMoveSpanning},
			[]string{
				"host kernel 6.1: no guard regions (MADV_GUARD_INSTALL EINVAL); GuardInstall/GuardRemove ops not generated",
				"host kernel 6.1: no mremap moves spanning several vmas (mremap(MREMAP_FIXED) of two vmas EFAULT); mremap moves (MREMAP_FIXED, same size) of a range not within one vma not generated",
			}},
		{"6.14", all(map[Feature]unix.Errno{FeatGuardShared: unix.EINVAL, FeatMoveSpanning: unix.EFAULT}),
			[]Feature{FeatGuardShared, FeatMoveSpanning},
			[]string{
				"host kernel 6.14: no guard regions on shared mappings (MADV_GUARD_INSTALL on MAP_SHARED EINVAL); GuardInstall/GuardRemove ops over a shared mapping not generated",
				"host kernel 6.14: no mremap moves spanning several vmas (mremap(MREMAP_FIXED) of two vmas EFAULT); mremap moves (MREMAP_FIXED, same size) of a range not within one vma not generated",
			}},
		{"5.10", all(map[Feature]unix.Errno{FeatGuard: unix.EINVAL, FeatGuardShared: unix.EINVAL, FeatMoveSpanning: unix.EFAULT,
			FeatDontUnmapShared: unix.EINVAL, FeatPopulate: unix.EINVAL, FeatDontneedLocked: unix.EINVAL}),
			[]Feature{FeatGuard, FeatGuardShared, FeatMoveSpanning, FeatDontUnmapShared, FeatPopulate, FeatDontneedLocked},
			[]string{
				"host kernel 5.10: no guard regions (MADV_GUARD_INSTALL EINVAL); GuardInstall/GuardRemove ops not generated",
				"host kernel 5.10: no mremap moves spanning several vmas (mremap(MREMAP_FIXED) of two vmas EFAULT); mremap moves (MREMAP_FIXED, same size) of a range not within one vma not generated",
				"host kernel 5.10: no MREMAP_DONTUNMAP on shared mappings (mremap(MREMAP_DONTUNMAP) on MAP_SHARED EINVAL); mremap ops with MREMAP_DONTUNMAP over a shared mapping not generated",
				"host kernel 5.10: no MADV_POPULATE_READ/WRITE (MADV_POPULATE_READ/WRITE EINVAL); madvise(MADV_POPULATE_READ/WRITE) not generated",
				"host kernel 5.10: no MADV_DONTNEED_LOCKED (MADV_DONTNEED_LOCKED EINVAL); madvise(MADV_DONTNEED_LOCKED) not generated",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, lines := lackingFrom(tc.name, tc.results)
			var want FeatureSet
			for _, f := range tc.lacking {
				want = want.With(f)
			}
			if got != want {
				t.Errorf("lacking %#x, want %#x", got, want)
			}
			if strings.Join(lines, "\n") != strings.Join(tc.lines, "\n") {
				t.Errorf("log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.lines, "\n"))
			}
		})
	}
}

// TestHostProbes runs the real probes: they leave the window empty, and
// a kernel at least as new as each feature has it (the release is read
// here only to know what to expect).
func TestHostProbes(t *testing.T) {
	h := newTestHost(t)
	for _, l := range h.Omissions() {
		t.Log(l)
	}
	ms, err := h.Layout()
	if err != nil || len(ms) != 0 {
		t.Fatalf("window after probing: %v, %v", ms, err)
	}
	major, minor, ok := parseRelease(kernelRelease())
	if !ok {
		t.Skipf("kernel release %q not understood", kernelRelease())
	}
	since := map[Feature][2]int{
		FeatGuard: {6, 13}, FeatGuardShared: {6, 15}, FeatMoveSpanning: {6, 17}, FeatDontUnmap: {5, 7},
		FeatDontUnmapShared: {5, 13}, FeatPopulate: {5, 14}, FeatDontneedLocked: {5, 18}, FeatCold: {5, 4},
	}
	for f := Feature(0); f < numFeatures; f++ {
		v := since[f]
		if (major > v[0] || major == v[0] && minor >= v[1]) && h.Lacking().Has(f) {
			t.Errorf("kernel %d.%d (since %d.%d) lacks %v by its probe", major, minor, v[0], v[1], f)
		}
	}
}

func parseRelease(r string) (int, int, bool) {
	a, rest, ok := strings.Cut(r, ".")
	if !ok {
		return 0, 0, false
	}
	b := rest
	if i := strings.IndexFunc(rest, func(c rune) bool { return c < '0' || c > '9' }); i >= 0 {
		b = rest[:i]
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil
}

// TestStepRefusesWhatTheHostLacks: a replayed sequence (made on a newer
// host) whose op needs a lacking feature ends with ErrHostLacks before the
// op reaches either side.
func TestStepRefusesWhatTheHostLacks(t *testing.T) {
	h := newTestHost(t)
	saved := h.lacking
	t.Cleanup(func() { h.lacking = saved })
	h.lacking = FeatureSet(0).With(FeatGuard).With(FeatMoveSpanning)
	cfg := Config{NewSystem: func() (System, error) { return newModel(), nil }}
	for _, ops := range [][]Op{
		{MMap(Base, 0x4000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, -1, 0), GuardInstall(Base, 0x1000)},
		{
			MMap(Base, 0x2000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, -1, 0),
			MMap(Base+0x2000, 0x2000, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, -1, 0),
			MRemap(Base+0x1000, 0x2000, 0x2000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, Base+0x100000),
		},
	} {
		d, err := Replay(h, cfg, ops)
		if !errors.Is(err, ErrHostLacks) {
			t.Errorf("replay of %v: %v, %v; want ErrHostLacks", ops[len(ops)-1], d, err)
		}
	}
	// A move within one vma needs nothing new.
	if f, blocked := h.lacking.Blocks(MRemap(Base+0x1000, 0x1000, 0x1000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, Base+0x100000),
		[]Mapping{{Start: Base, End: Base + 0x2000}, {Start: Base + 0x2000, End: Base + 0x4000}}); blocked {
		t.Errorf("a move within one vma blocked by %v", f)
	}
}
