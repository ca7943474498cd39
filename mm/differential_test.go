package mm_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/internal/mmdiff"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
	"golang.org/x/sys/unix"
)

// The differential test: the same operations on the host kernel (confined
// to mmdiff's window of this test process) and on a MemoryManager whose
// layout is that window, compared call by call. See package mmdiff and
// mmdiff.Differences for what is compared and what deliberately is not.

// differentialOps is how many operations TestDifferential runs.
const differentialOps = 20000

// differentialSeed picks TestDifferential's operations: go test -run
// '^TestDifferential$' ./mm/ -args -differential.seed=N tries others.
var differentialSeed = flag.Uint64("differential.seed", 1, "seed of TestDifferential's operations")

// mmSystem drives a MemoryManager through mmdiff.System: a FakeAddressSpace
// and a real MemoryFile behind it, the window's edges guarded by PROT_NONE
// shared mappings as on the host, and CheckInvariants after every
// operation.
type mmSystem struct {
	mm    *mm.MemoryManager
	as    *mm.FakeAddressSpace
	mf    *memfile.MemoryFile
	bad   error // the first invariant violation or non-errno error
	calls int   // of Layout
}

const guard = arch.PageSize

// hostLimits returns the limits a MemoryManager needs to agree with this
// process on the host: its RLIMIT_MEMLOCK and RLIMIT_STACK (how far a copy
// grows a grows-down mapping), and CAP_IPC_LOCK when the test runs as root
// (which lifts the first on the host).
func hostLimits() mm.Limits {
	l := mm.DefaultLimits()
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r) == nil {
		l.MemLock = r.Cur
	}
	if unix.Getrlimit(unix.RLIMIT_STACK, &r) == nil {
		l.Stack = r.Cur
	}
	l.CapIPCLock = hasCapIPCLock()
	return l
}

func hasCapIPCLock() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var caps uint64
			fmt.Sscanf(strings.TrimSpace(v), "%x", &caps)
			return caps&(1<<unix.CAP_IPC_LOCK) != 0
		}
	}
	return false
}

// hostMinAddr is the host's vm.mmap_min_addr, which mm must share to agree
// on hints and fixed addresses near zero (Linux's default, 64 KiB, when the
// file cannot be read).
func hostMinAddr() arch.Addr {
	b, err := os.ReadFile("/proc/sys/vm/mmap_min_addr")
	if err != nil {
		return 0x10000
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0x10000
	}
	return arch.Addr(v).MustRoundUp()
}

// hostZeroPage is whether the host maps the zero page (mmdiff.Host's
// ZeroPage), which the systems under test must match; set before a run.
var hostZeroPage = true

func newMMSystem() (mmdiff.System, error) {
	mf, err := memfile.New(memfile.Options{Limit: 1 << 30, Name: "mmdiff"})
	if err != nil {
		return nil, err
	}
	as := mm.NewFakeAddressSpace()
	lim := hostLimits()
	top := mm.DefaultTopOfUser
	m, err := mm.New(mm.Options{
		MemoryFile:   mf,
		AddressSpace: as,
		Layout: mm.Layout{
			MinAddr:   hostMinAddr(),
			MmapBase:  arch.Addr(mmdiff.Base + mmdiff.Size),
			TopOfUser: top,
			StackTop:  top,
		},
		Limits:     &lim,
		NoZeroPage: !hostZeroPage,
	})
	if err != nil {
		mf.Close()
		return nil, err
	}
	s := &mmSystem{mm: m, as: as, mf: mf}
	for _, g := range []uint64{mmdiff.Base - guard, mmdiff.Base + mmdiff.Size} {
		if _, err := m.MMap(g, guard, unix.PROT_NONE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, nil, 0); err != nil {
			s.Close()
			return nil, fmt.Errorf("guard at %#x: %w", g, err)
		}
	}
	return s, nil
}

func (s *mmSystem) Close() error {
	s.mm.Release()
	return s.mf.Close()
}

// errno turns mm's error into the errno Linux would return.
func (s *mmSystem) errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	if s.bad == nil {
		s.bad = fmt.Errorf("error without an errno: %w", err)
	}
	return unix.Errno(4095)
}

func (s *mmSystem) MMap(addr, length uint64, prot, flags, fd int, off uint64) (uint64, unix.Errno) {
	a, err := s.mm.MMap(addr, length, uint64(uint32(prot)), uint64(uint32(flags)), nil, off)
	return uint64(a), s.errno(err)
}

func (s *mmSystem) MUnmap(addr, length uint64) unix.Errno { return s.errno(s.mm.MUnmap(addr, length)) }

func (s *mmSystem) MRemap(oldAddr, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, unix.Errno) {
	a, err := s.mm.MRemap(oldAddr, oldLen, newLen, uint64(uint32(flags)), newAddr)
	return uint64(a), s.errno(err)
}

func (s *mmSystem) MProtect(addr, length uint64, prot int) unix.Errno {
	return s.errno(s.mm.MProtect(addr, length, uint64(uint32(prot))))
}

func (s *mmSystem) Madvise(addr, length uint64, advice int) unix.Errno {
	return s.errno(s.mm.Madvise(addr, length, uint64(uint32(advice))))
}

func (s *mmSystem) MLock(addr, length uint64, flags int) unix.Errno {
	return s.errno(s.mm.MLock2(addr, length, uint64(uint32(flags))))
}

func (s *mmSystem) MUnlock(addr, length uint64) unix.Errno {
	return s.errno(s.mm.MUnlock(addr, length))
}

func (s *mmSystem) MSync(addr, length uint64, flags int) unix.Errno {
	return s.errno(s.mm.MSync(addr, length, uint64(uint32(flags))))
}

func (s *mmSystem) MinCore(addr, length uint64, vec []byte) unix.Errno {
	return s.errno(s.mm.MinCore(addr, length, vec))
}

func (s *mmSystem) CopyOut(addr uint64, src []byte) (int, unix.Errno) {
	n, err := s.mm.CopyOut(arch.Addr(addr), src, mm.IOOpts{})
	return n, s.errno(err)
}

func (s *mmSystem) CopyIn(addr uint64, dst []byte) (int, unix.Errno) {
	n, err := s.mm.CopyIn(arch.Addr(addr), dst, mm.IOOpts{})
	return n, s.errno(err)
}

func (s *mmSystem) ZeroOut(addr, n uint64) (int, unix.Errno) {
	done, err := s.mm.ZeroOut(arch.Addr(addr), n, mm.IOOpts{})
	return int(done), s.errno(err)
}

// Layout is called once after every operation. It builds the layout from
// mm's vmas and, every sixteenth call, checks mm's invariants (including that
// the fake AddressSpace maps nothing outside a pma or beyond its
// permissions) and that mm's /proc/pid/maps dump says the same.
func (s *mmSystem) Layout() ([]mmdiff.Mapping, error) {
	s.calls++
	var ms []mmdiff.Mapping
	for _, v := range s.mm.VMAs() {
		if uint64(v.Range.End) <= mmdiff.Base || uint64(v.Range.Start) >= mmdiff.Base+mmdiff.Size {
			continue
		}
		ms = append(ms, mmdiff.Mapping{Start: uint64(v.Range.Start), End: uint64(v.Range.End),
			Perms: v.Perms, Shared: v.Shared, Offset: v.Offset, Inode: v.Inode, Name: v.Name})
	}
	if s.calls%16 == 1 && s.bad == nil {
		if err := s.mm.CheckInvariants(); err != nil {
			s.bad = fmt.Errorf("invariant: %w", err)
		} else if dump, err := mmdiff.ParseMaps([]byte(s.mm.Maps()), mmdiff.Base, mmdiff.Base+mmdiff.Size); err != nil {
			s.bad = fmt.Errorf("maps dump: %w", err)
		} else if !slices.Equal(dump, ms) {
			s.bad = fmt.Errorf("maps dump\n%sdiffers from the vmas\n%s", mmdiff.FormatLayout(dump), mmdiff.FormatLayout(ms))
		}
	}
	if s.bad != nil {
		return nil, s.bad
	}
	return ms, nil
}

func (s *mmSystem) LockedBytes() (uint64, bool) { return s.mm.Stats().LockedSize, true }

// differentialConfig is the comparison of mm with the host: mm keeps
// MADV_FREE'd contents (as Linux does without memory pressure) and
// reports shared anonymous objects and offsets as Linux does.
func differentialConfig(seed uint64, ops int) mmdiff.Config {
	return mmdiff.Config{
		NewSystem: newMMSystem,
		Options:   mmdiff.Options{SharedObjects: true, CheckLocked: true},
		Seed:      seed,
		Ops:       ops,
	}
}

func newHost(t testing.TB) *mmdiff.Host {
	t.Helper()
	h, err := mmdiff.NewHost()
	if err != nil {
		t.Skipf("the host window is unavailable: %v", err)
	}
	hostZeroPage = h.ZeroPage()
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func TestDifferential(t *testing.T) {
	ops := differentialOps
	if testing.Short() {
		ops = 2000
	}
	h := newHost(t)
	// An older host kernel lacks some of the Linux 6.18 behaviour mm
	// implements; the ops that need it are left out, and said so once.
	for _, l := range h.Omissions() {
		t.Logf("differential: %s", l)
	}
	t.Logf("differential: %s", h.ZeroPageLine())
	cfg := differentialConfig(*differentialSeed, ops)
	cfg.ShrinkTime = 3 * time.Minute
	start := time.Now()
	res, err := mmdiff.Run(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	divergences := 0
	if res.Divergence != nil {
		divergences = 1
	}
	t.Logf("differential: %d operations against the host kernel (seed %d), %d divergences (%v)", res.Ops, *differentialSeed, divergences, time.Since(start).Round(time.Millisecond))
	if res.Divergence != nil {
		t.Errorf("%s", res.Report())
	}
}

// FuzzDifferential decodes an operation sequence from the fuzz input (each
// byte steers one of the generator's choices) and compares mm with the
// host on it.
func FuzzDifferential(f *testing.F) {
	f.Add([]byte{0, 60, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte("mremap grows and moves, mprotect splits, madvise zeroes"))
	f.Add(make([]byte, 64))
	h := newHost(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := differentialConfig(0, 0)
		cfg.ShrinkTime = 10e9
		res, err := mmdiff.RunSource(h, cfg, mmdiff.NewByteSource(data), 500)
		if err != nil {
			t.Fatal(err)
		}
		if res.Divergence != nil {
			t.Errorf("%s", res.Report())
		}
	})
}

// differentialRegressions are minimal sequences on which mm once diverged
// from the host kernel, as the shrinker printed them.
var differentialRegressions = []struct {
	name string
	ops  []mmdiff.Op
}{
	{
		// CopyOut must write the pages before the one it cannot write:
		// here the last page lies past the end of the shared object
		// (SIGBUS on Linux), and mm wrote nothing.
		name: "CopyOutStopsAtPastEOFPage",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base, 0x10000, unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, -1, 0x0),
			mmdiff.MRemap(mmdiff.Base+0x2000, 0xe000, 0x14000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, mmdiff.Base+0x100000),
			mmdiff.Write(mmdiff.Base+0x100000+0xd000, 0x2000, 1),
		},
	},
	{
		// Linux's do_mmap takes a MAP_FIXED address in the last page of
		// the address space for an error value: -1 is -EPERM.
		name: "MapFixedAtMinusOneIsEPERM",
		ops: []mmdiff.Op{
			mmdiff.MMap(0xffffffffffffffff, 0x2000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
		},
	},
	{
		// MREMAP_DONTUNMAP of the first page of two: the second keeps its
		// data (mm zeroed it).
		name: "DontUnmapKeepsNeighbourPage",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf9f5000, 0x2000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xf9f564a, 0x2272, 2027),
			mmdiff.MRemap(mmdiff.Base+0xf9f5000, 0x1000, 0x1000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, mmdiff.Base+0xf9f7000),
		},
	},
	{
		// MREMAP_DONTUNMAP to a fixed address makes one new mapping there
		// (mm made a trail of copies every 0x33000 bytes).
		name: "DontUnmapFixedMapsOnce",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf604000, 0x35000, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MRemap(mmdiff.Base+0xf62d000, 0x2000, 0x2000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, mmdiff.Base+0xffbf000),
		},
	},
	{
		// MREMAP_DONTUNMAP of part of a read-only private mapping succeeds
		// (mm: ENOMEM).
		name: "DontUnmapPartOfMapping",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xfed3000, 0x3f000, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MRemap(mmdiff.Base+0xfed7000, 0x1000, 0x1000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, mmdiff.Base+0xfa1c000),
		},
	},
	{
		// The same from the start of a PROT_NONE mapping.
		name: "DontUnmapPrefixOfProtNone",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xc52b000, 0x3000, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MRemap(mmdiff.Base+0xc52b000, 0x2000, 0x2000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, mmdiff.Base+0xf225000),
		},
	},
	{
		// After MREMAP_DONTUNMAP moves the middle of a mapping away and
		// two mprotects split and rejoin the rest, Linux has merged the
		// range [0xfd51000, +0xc000) into one vma and grows it in place;
		// mm kept vmas apart there and fails with EFAULT (the old range
		// must lie in one vma), so merging differs.
		name: "MergeAfterDontUnmapThenGrow",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xfd29000, 0x34000, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MRemap(mmdiff.Base+0xfd3f000, 0x1e000, 0x1e000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, mmdiff.Base+0xf7f9000),
			mmdiff.MProtect(mmdiff.Base+0xfd54000, 0x8000, unix.PROT_NONE),
			mmdiff.MProtect(mmdiff.Base+0xfd3d000, 0x3e000, unix.PROT_READ|unix.PROT_WRITE),
			mmdiff.MRemap(mmdiff.Base+0xfd51000, 0xc000, 0x18000, 0, 0x0),
		},
	},
	{
		// Since Linux 6.17 a move to a fixed address without resizing may
		// span several vmas (here a locked and an unlocked one); mm moved
		// only the first.
		name: "MoveSpansSeveralVMAs",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xfa18000, 0x5dc000, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_POPULATE, -1, 0x0),
			mmdiff.MLock(mmdiff.Base+0xfeed000, 0x4d11, unix.MLOCK_ONFAULT),
			mmdiff.MRemap(mmdiff.Base+0xfeef000, 0x3c000, 0x3c000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, mmdiff.Base+0x7d72000),
		},
	},
	{
		// The same with the locked vma first and a hole after the range.
		name: "MoveSpansLockedAndPlainVMAs",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xfd77000, 0x4000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MMap(mmdiff.Base+0xf791000, 0x1000, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MMap(mmdiff.Base+0xf333000, 0x800000, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MLock(mmdiff.Base+0xf0ce000, 0x8000, unix.MLOCK_ONFAULT),
			mmdiff.MRemap(mmdiff.Base+0xf0ce000, 0x21000, 0x21000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP, mmdiff.Base+0xffd3000),
		},
	},
	{
		// A copy to user memory (read(2) into a buffer) in the hole below
		// a MAP_GROWSDOWN mapping faults through the page-fault path and
		// grows it, as a user fault would; mm's CopyOut said EFAULT.
		name: "CopyOutGrowsStack",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xfff0000, 0x10000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xffac83c, 0x16fa, 1),
		},
	},
	{
		// A copy from user memory (write(2) from a buffer) grows it too,
		// and reads zeros there.
		name: "CopyInGrowsStack",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xfff0000, 0x10000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xfff0000, 0x100, 2),
			mmdiff.Read(mmdiff.Base+0xffeff80, 0x1000),
		},
	},
	{
		// The hole below a grows-down mapping that lies within the stack
		// guard gap of an accessible mapping below is not the stack's to
		// grow into: a read there is EFAULT and nothing grows.
		name: "CopyInGuardGapFaults",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf000000, 0x1000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MMap(mmdiff.Base+0xf080000, 0x10000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.Read(mmdiff.Base+0xf07f800, 0x1000),
			mmdiff.Write(mmdiff.Base+0xf07f800, 0x1000, 3),
		},
	},
	{
		// Growing beyond RLIMIT_STACK fails, so the copy does.
		name: "CopyBeyondStackLimitFaults",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xff00000, 0x100000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.Read(mmdiff.Base+0xf7ff800, 0x100),
			mmdiff.Write(mmdiff.Base+0xf800000, 0x100, 4),
		},
	},
	{
		// A copy from a mapping into the hole above it, below a
		// grows-down mapping within the guard gap: it stops at the hole
		// with a short count.
		name: "CopyFromMappingIntoGuardGapStops",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf000000, 0x2000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MMap(mmdiff.Base+0xf003000, 0x1000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xf001f00, 0x200, 5),
			mmdiff.Read(mmdiff.Base+0xf001f00, 0x2000),
		},
	},
	{
		// A copy from a grows-down mapping across the hole into another
		// one above: no guard gap is kept from a stack, so the upper one
		// grows and the copy completes.
		name: "CopyAcrossHoleBetweenStacksGrows",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf000000, 0x2000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.MMap(mmdiff.Base+0xf004000, 0x2000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xf001800, 0x3000, 6),
			mmdiff.MProtect(mmdiff.Base+0xf000000, 0x6000, unix.PROT_READ),
		},
	},
	{
		// Clearing user memory (as read(2) of a file's hole does) grows
		// a stack the same way, and stops at the guard gap.
		name: "ZeroOutGrowsStack",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xfe00000, 0x4000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS|unix.MAP_GROWSDOWN, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xfe00000, 0x2000, 7),
			mmdiff.Zero(mmdiff.Base+0xfdfd800, 0x3000),
			mmdiff.MMap(mmdiff.Base+0xfd00000, 0x1000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xfd00000, 0x1000, 8),
			mmdiff.Zero(mmdiff.Base+0xfd00800, 0x1000),
		},
	},
	{
		// Guard pages through the whole harness: MADV_DONTNEED keeps
		// them (the host's copies and loads still fault there), a copy
		// stops at them, a move takes them along, GUARD_REMOVE gives
		// zeros back. It diverges if DONTNEED drops guards.
		name: "GuardPagesSurviveDontneedAndMove",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf000000, 0x8000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.Write(mmdiff.Base+0xf000000, 0x8000, 9),
			mmdiff.GuardInstall(mmdiff.Base+0xf002000, 0x2000),
			mmdiff.Madvise(mmdiff.Base+0xf000000, 0x8000, unix.MADV_DONTNEED),
			mmdiff.Write(mmdiff.Base+0xf001800, 0x1000, 10),
			mmdiff.MRemap(mmdiff.Base+0xf000000, 0x8000, 0x8000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, mmdiff.Base+0xf100000),
			mmdiff.Read(mmdiff.Base+0xf101000, 0x3000),
			mmdiff.GuardRemove(mmdiff.Base+0xf100000, 0x3000),
			mmdiff.Read(mmdiff.Base+0xf101000, 0x3000),
		},
	},
	{
		// A guard install refuses a locked vma after guarding the
		// vmas before it; the vmas are never split.
		name: "GuardInstallStopsAtLockedVMA",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf000000, 0x4000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MMap(mmdiff.Base+0xf004000, 0x4000, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MLock(mmdiff.Base+0xf004000, 0x1000, 0),
			mmdiff.GuardInstall(mmdiff.Base+0xf001000, 0x5000),
			mmdiff.Zero(mmdiff.Base+0xf000000, 0x4000),
			mmdiff.MLock(mmdiff.Base+0xf000000, 0x4000, 0),
			mmdiff.GuardRemove(mmdiff.Base+0xf000000, 0x8000),
			mmdiff.Write(mmdiff.Base+0xf000000, 0x4000, 11),
		},
	},
	{
		// Reading never-written private anonymous memory (the harness's
		// contents sweep) must not give its vma an anon_vma where the
		// host maps the zero page: Linux then merges the page mprotect
		// makes read-write with its neighbour, and mremap grows it in
		// place; mm kept them apart and failed the growth with EFAULT.
		name: "ZeroPageReadsKeepVMAsMergeable",
		ops: []mmdiff.Op{
			mmdiff.MMap(mmdiff.Base+0xf000000, 0x2c0000, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_ANONYMOUS, -1, 0x0),
			mmdiff.MProtect(mmdiff.Base+0xf0d3000, 0x3000, unix.PROT_READ|unix.PROT_WRITE),
			mmdiff.GuardInstall(mmdiff.Base+0xf088000, 0x8000),
			mmdiff.MProtect(mmdiff.Base+0xf0d2000, 0x3000, unix.PROT_READ|unix.PROT_WRITE),
			mmdiff.MRemap(mmdiff.Base+0xf0d2000, 0x3000, 0xd9000, 0, 0),
		},
	},
}

func TestDifferentialRegressions(t *testing.T) {
	h := newHost(t)
	for _, tc := range differentialRegressions {
		t.Run(tc.name, func(t *testing.T) {
			d, err := mmdiff.Replay(h, differentialConfig(0, 0), tc.ops)
			if errors.Is(err, mmdiff.ErrHostLacks) {
				t.Skipf("the host kernel cannot run this sequence as Linux 6.18 does: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if d != nil {
				t.Errorf("diverges from the host kernel: %v\n[]mmdiff.Op{\n%s}", d, mmdiff.Listing(tc.ops))
			}
		})
	}
}
