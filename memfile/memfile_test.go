package memfile

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

const (
	pg   = arch.PageSize
	huge = arch.HugePageSize
)

// newFile returns a MemoryFile of limit bytes that the test closes.
func newFile(t testing.TB, limit uint64) *MemoryFile {
	t.Helper()
	f, err := New(Options{Limit: limit, Name: "memfile-test"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

func mustAllocate(t testing.TB, f *MemoryFile, length uint64, opts AllocOpts) memmap.FileRange {
	t.Helper()
	fr, err := f.Allocate(length, opts)
	if err != nil {
		t.Fatalf("Allocate(%#x): %v", length, err)
	}
	return fr
}

func fr(start, end uint64) memmap.FileRange { return memmap.FileRange{Start: start, End: end} }

// refsAt returns the reference count of the page at off (0 if free).
func refsAt(f *MemoryFile, off uint64) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if seg := f.pages.FindSegment(off); seg.Ok() {
		return seg.Value().refs
	}
	return 0
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"zero limit", Options{}},
		{"unaligned limit", Options{Limit: pg + 1}},
		{"unaligned base", Options{Limit: pg, GuestPhysBase: pg}},
		{"overflowing range", Options{Limit: 4 * huge, GuestPhysBase: math.MaxUint64 &^ arch.HugePageMask}},
		{"limit past int64", Options{Limit: 1 << 63}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.opts)
			if !errors.Is(err, unix.EINVAL) {
				t.Errorf("New(%+v) = %v, %v; want EINVAL", tc.opts, f, err)
			}
			if f != nil {
				f.Close()
			}
		})
	}
}

func TestGuestPhysicalAndRegions(t *testing.T) {
	const base = 1 << 30
	f, err := New(Options{Limit: 8 * huge, GuestPhysBase: base})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Limit() != 8*huge || len(f.Mapping()) != 8*huge {
		t.Fatalf("Limit %#x, mapping %#x", f.Limit(), len(f.Mapping()))
	}
	if got := f.GuestPhysical(5 * pg); got != base+5*pg {
		t.Errorf("GuestPhysical = %#x", got)
	}
	for _, tc := range []struct {
		gpa  uint64
		off  uint64
		want bool
	}{
		{base, 0, true},
		{base + 8*huge - 1, 8*huge - 1, true},
		{base + 8*huge, 0, false},
		{base - 1, 0, false},
		{0, 0, false},
	} {
		off, ok := f.FileOffset(tc.gpa)
		if ok != tc.want || off != tc.off {
			t.Errorf("FileOffset(%#x) = %#x, %v; want %#x, %v", tc.gpa, off, ok, tc.off, tc.want)
		}
	}
	regions := f.Regions()
	if len(regions) != 1 {
		t.Fatalf("Regions = %v", regions)
	}
	r := regions[0]
	if r.GuestPhys != base || r.Size != 8*huge || r.HostAddr != uintptr(unsafePointer(f.Mapping())) {
		t.Errorf("Region = %+v", r)
	}
	if r.HostAddr&arch.PageMask != 0 {
		t.Errorf("host address %#x not page-aligned", r.HostAddr)
	}
}

func TestAllocateArgs(t *testing.T) {
	f := newFile(t, 16*pg)
	for _, tc := range []struct {
		name   string
		length uint64
		opts   AllocOpts
		want   error
	}{
		{"zero", 0, AllocOpts{}, unix.EINVAL},
		{"unaligned", pg + 1, AllocOpts{}, unix.EINVAL},
		{"negative kind", pg, AllocOpts{Kind: -1}, unix.EINVAL},
		{"unknown kind", pg, AllocOpts{Kind: NumKinds}, unix.EINVAL},
		{"past limit", 17 * pg, AllocOpts{}, unix.ENOMEM},
		{"huge", math.MaxUint64 &^ arch.PageMask, AllocOpts{}, unix.ENOMEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.Allocate(tc.length, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Allocate = %v, %v; want %v", got, err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Op != "allocate" || !strings.Contains(err.Error(), "memfile: allocate") {
				t.Errorf("error %v is not an *Error naming the op", err)
			}
		})
	}
	if s := f.Stats(); s.Allocated != 0 {
		t.Errorf("failed allocations left %#x allocated", s.Allocated)
	}
}

func TestReferenceCounting(t *testing.T) {
	f := newFile(t, 64*pg)
	a := mustAllocate(t, f, 4*pg, AllocOpts{})
	mid := fr(a.Start+pg, a.Start+3*pg)
	f.IncRef(mid)
	f.IncRef(fr(a.Start+2*pg, a.Start+3*pg))
	wantRefs := func(want ...uint64) {
		t.Helper()
		for i, w := range want {
			if got := refsAt(f, a.Start+uint64(i)*pg); got != w {
				t.Errorf("page %d: refs %d, want %d", i, got, w)
			}
		}
	}
	wantRefs(1, 2, 3, 1)
	f.DecRef(a)
	wantRefs(0, 1, 2, 0)
	if s := f.Stats(); s.Allocated != 2*pg {
		t.Errorf("Allocated = %#x, want 2 pages", s.Allocated)
	}
	if _, err := f.MapInternal(fr(a.Start, a.Start+pg), arch.Read); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("MapInternal of a freed page: %v", err)
	}
	f.DecRef(mid)
	wantRefs(0, 0, 1, 0)
	f.DecRef(fr(a.Start+2*pg, a.Start+3*pg))
	wantRefs(0, 0, 0, 0)
	if s := f.Stats(); s.Allocated != 0 {
		t.Errorf("Allocated = %#x after all references dropped", s.Allocated)
	}
	// Counts equal again after the changes: the bookkeeping re-merged.
	b := mustAllocate(t, f, 4*pg, AllocOpts{})
	f.IncRef(fr(b.Start, b.Start+2*pg))
	f.IncRef(fr(b.Start+2*pg, b.End))
	f.mu.Lock()
	n := f.pages.Len()
	f.mu.Unlock()
	if n != 1 {
		t.Errorf("equal counts left %d segments, want 1", n)
	}
}

func TestZeroAfterFree(t *testing.T) {
	for _, length := range []uint64{pg, 3 * pg, huge, 2*huge + 5*pg} {
		f := newFile(t, 8*huge)
		a := mustAllocate(t, f, length, AllocOpts{})
		secret := bytes.Repeat([]byte("secret!!"), int(length/8))
		copy(f.Slice(a), secret)
		f.DecRef(a)
		b := mustAllocate(t, f, length, AllocOpts{})
		if b != a {
			t.Fatalf("reallocation at %v, want the freed %v (first fit)", b, a)
		}
		view, err := f.MapInternal(b, arch.Read)
		if err != nil {
			t.Fatal(err)
		}
		if !isZero(view) {
			t.Errorf("length %#x: reallocated memory is not zero", length)
		}
	}
}

func TestLimit(t *testing.T) {
	f := newFile(t, 16*pg)
	var got []memmap.FileRange
	for range 16 {
		got = append(got, mustAllocate(t, f, pg, AllocOpts{}))
	}
	if _, err := f.Allocate(pg, AllocOpts{}); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("allocation past the limit: %v, want ENOMEM", err)
	}
	f.DecRef(got[7])
	if again := mustAllocate(t, f, pg, AllocOpts{}); again != got[7] {
		t.Errorf("after freeing %v, got %v", got[7], again)
	}
	if s := f.Stats(); s.Allocated != 16*pg || s.Peak != 16*pg || s.Limit != 16*pg {
		t.Errorf("Stats = %+v", s)
	}
}

func TestFragmentationENOMEM(t *testing.T) {
	f := newFile(t, 3*huge)
	a := mustAllocate(t, f, huge, AllocOpts{})
	b := mustAllocate(t, f, huge, AllocOpts{})
	mustAllocate(t, f, huge, AllocOpts{})
	// Free the second half of a and the first half of b: 2 MiB free, but
	// not 2 MiB-aligned.
	f.DecRef(fr(a.Start+huge/2, a.End))
	f.DecRef(fr(b.Start, b.Start+huge/2))
	if _, err := f.Allocate(huge, AllocOpts{}); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("unaligned free space satisfied a huge allocation: %v", err)
	}
	if got := mustAllocate(t, f, huge-pg, AllocOpts{}); got.Start != a.Start+huge/2 {
		t.Errorf("small allocation at %v, want it in the freed space", got)
	}
}

func TestHugeAlignment(t *testing.T) {
	const base = 1 << 32
	f, err := New(Options{Limit: 64 * huge, GuestPhysBase: base})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, length := range []uint64{pg, huge, 3 * pg, huge + pg, 5 * pg, 3 * huge, 2 * pg, 2*huge - pg, huge} {
		a := mustAllocate(t, f, length, AllocOpts{})
		if a.Length() != length {
			t.Errorf("%d: got %v for length %#x", i, a, length)
		}
		if length >= huge && (a.Start%huge != 0 || f.GuestPhysical(a.Start)%huge != 0) {
			t.Errorf("%d: allocation %v of %#x not 2 MiB-aligned", i, a, length)
		}
		if a.Start%pg != 0 || a.End > f.Limit() {
			t.Errorf("%d: bad range %v", i, a)
		}
	}
}

func TestSmallAllocationsKeepChunksWhole(t *testing.T) {
	f := newFile(t, 4*huge)
	small := mustAllocate(t, f, pg, AllocOpts{}) // breaks chunk 0: every chunk is whole
	big := mustAllocate(t, f, 2*huge, AllocOpts{})
	if big.Start != huge {
		t.Fatalf("huge allocation at %v", big)
	}
	f.DecRef(big)
	// The next small allocation goes into the already broken chunk, next
	// to the first, not into the whole chunk at 2 MiB.
	if s2 := mustAllocate(t, f, pg, AllocOpts{}); s2.Start != small.End {
		t.Errorf("second small allocation at %v, want %#x", s2, small.End)
	}
	// A gap's unaligned tail, against the allocated range above it, is used
	// before the whole chunk below it.
	h := newFile(t, 4*huge)
	var chunks []memmap.FileRange
	for range 4 {
		chunks = append(chunks, mustAllocate(t, h, huge, AllocOpts{}))
	}
	h.DecRef(chunks[1])
	h.DecRef(fr(chunks[2].Start, chunks[2].Start+huge/2)) // free: [2M, 5M)
	if got := mustAllocate(t, h, 2*pg, AllocOpts{}); got != fr(5*huge/2-2*pg, 5*huge/2) {
		t.Errorf("small allocation at %v, want the end of the gap's tail", got)
	}
	if got := mustAllocate(t, h, huge, AllocOpts{}); got != chunks[1] {
		t.Errorf("huge allocation at %v, want the chunk kept whole at %v", got, chunks[1])
	}
	// When only whole chunks are left, small allocations still succeed.
	g := newFile(t, huge)
	if got := mustAllocate(t, g, pg, AllocOpts{}); got.Start != 0 {
		t.Errorf("allocation in an empty file at %v", got)
	}
}

// TestSearchFloorsKeepPlacement frees whole chunks below allocations and
// checks that the searches, which start at the floors, still find them: a
// small allocation placed above the freed chunks must not hide them from
// a huge one, and freeing a page low down makes it the next small fit.
func TestSearchFloorsKeepPlacement(t *testing.T) {
	f := newFile(t, 8*huge)
	var chunks []memmap.FileRange
	for range 3 {
		chunks = append(chunks, mustAllocate(t, f, huge, AllocOpts{}))
	}
	s1 := mustAllocate(t, f, pg, AllocOpts{})
	if s1.Start != 3*huge {
		t.Fatalf("small allocation at %v, want %#x", s1, 3*huge)
	}
	f.DecRef(chunks[0])
	f.DecRef(chunks[1])
	if s2 := mustAllocate(t, f, pg, AllocOpts{}); s2.Start != s1.End {
		t.Fatalf("second small allocation at %v, want %#x (keeping the freed chunks whole)", s2, s1.End)
	}
	if got := mustAllocate(t, f, huge, AllocOpts{}); got != chunks[0] {
		t.Errorf("huge allocation at %v, want the freed chunk %v", got, chunks[0])
	}
	hole := fr(chunks[2].Start+16*pg, chunks[2].Start+17*pg)
	f.DecRef(hole)
	if got := mustAllocate(t, f, pg, AllocOpts{}); got != hole {
		t.Errorf("small allocation at %v, want the freed page %v", got, hole)
	}
}

// TestKernelMemoryFromTheTop interleaves user and kernel allocations, as
// a guest faulting page after page does with the page tables it needs: the
// user pages must stay one contiguous range from the bottom, the kernel
// pages one from the top, and a freed kernel page is the next one reused.
func TestKernelMemoryFromTheTop(t *testing.T) {
	const limit = 4 * huge
	f := newFile(t, limit)
	var kernel []memmap.FileRange
	for i := range 600 {
		if u := mustAllocate(t, f, pg, AllocOpts{Kind: User}); u.Start != uint64(i)*pg {
			t.Fatalf("user page %d at %v, want %#x", i, u, uint64(i)*pg)
		}
		if i%100 == 0 {
			k := mustAllocate(t, f, pg, AllocOpts{Kind: Kernel})
			if want := limit - uint64(len(kernel)+1)*pg; k.Start != want {
				t.Fatalf("kernel page %d at %v, want %#x", len(kernel), k, want)
			}
			kernel = append(kernel, k)
		}
	}
	f.DecRef(kernel[2])
	if k := mustAllocate(t, f, pg, AllocOpts{Kind: Kernel}); k != kernel[2] {
		t.Errorf("kernel page after a free at %v, want the freed %v", k, kernel[2])
	}
	if got := refsAt(f, 600*pg); got != 0 {
		t.Errorf("page after the user pages holds %d references", got)
	}
	// Two free pages, apart: a two-page kernel allocation has no room.
	g := newFile(t, 4*pg)
	var pages []memmap.FileRange
	for range 4 {
		pages = append(pages, mustAllocate(t, g, pg, AllocOpts{}))
	}
	g.DecRef(pages[1])
	g.DecRef(pages[3])
	if got, err := g.Allocate(2*pg, AllocOpts{Kind: Kernel}); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("two kernel pages in a fragmented file: %v, %v; want ENOMEM", got, err)
	}
	if got := mustAllocate(t, g, pg, AllocOpts{Kind: Kernel}); got != pages[3] {
		t.Errorf("one kernel page at %v, want the highest free page %v", got, pages[3])
	}
}

func TestBadReferenceRanges(t *testing.T) {
	f := newFile(t, 16*pg)
	a := mustAllocate(t, f, 4*pg, AllocOpts{})
	for _, tc := range []struct {
		name string
		r    memmap.FileRange
		want error
	}{
		{"empty", fr(a.Start, a.Start), unix.EINVAL},
		{"malformed", fr(a.End, a.Start), unix.EINVAL},
		{"unaligned start", fr(a.Start+1, a.End), unix.EINVAL},
		{"unaligned end", fr(a.Start, a.End-1), unix.EINVAL},
		{"past the file", fr(0, 17*pg), unix.EINVAL},
		{"free pages", fr(a.End, a.End+pg), ErrNotAllocated},
		{"partly free", fr(a.Start, a.End+pg), ErrNotAllocated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.TryIncRef(tc.r); !errors.Is(err, tc.want) {
				t.Errorf("TryIncRef(%v) = %v, want %v", tc.r, err, tc.want)
			}
			if err := f.TryDecRef(tc.r); !errors.Is(err, tc.want) {
				t.Errorf("TryDecRef(%v) = %v, want %v", tc.r, err, tc.want)
			}
			for name, op := range map[string]func(memmap.FileRange){"IncRef": f.IncRef, "DecRef": f.DecRef} {
				func() {
					defer func() {
						msg, _ := recover().(string)
						if !strings.Contains(msg, "memfile:") {
							t.Errorf("%s(%v) did not panic with a memfile error (got %q)", name, tc.r, msg)
						}
					}()
					op(tc.r)
				}()
			}
			// A rejected call changed nothing.
			for p := a.Start; p < a.End; p += pg {
				if refsAt(f, p) != 1 {
					t.Fatalf("page %#x has %d references after rejected calls", p, refsAt(f, p))
				}
			}
		})
	}
	// Dropping a reference twice is caught, not silently corrupting.
	f.DecRef(a)
	if err := f.TryDecRef(a); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("double DecRef: %v", err)
	}
}

func TestMapInternal(t *testing.T) {
	f := newFile(t, 16*pg)
	a := mustAllocate(t, f, 2*pg, AllocOpts{})
	view, err := f.MapInternal(fr(a.Start+10, a.Start+pg+20), arch.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if len(view) != pg+10 || cap(view) != len(view) {
		t.Fatalf("view len %d cap %d", len(view), cap(view))
	}
	copy(view, "no copy")
	// The view is the memfd itself: read it back through the descriptor.
	buf := make([]byte, 7)
	if _, err := unix.Pread(f.FD(), buf, int64(a.Start+10)); err != nil || string(buf) != "no copy" {
		t.Errorf("pread = %q, %v", buf, err)
	}
	if got := string(f.Slice(fr(a.Start+10, a.Start+17))); got != "no copy" {
		t.Errorf("Slice sees %q", got)
	}
	for _, bad := range []memmap.FileRange{fr(a.Start, a.Start), fr(0, 17*pg)} {
		if _, err := f.MapInternal(bad, arch.Read); !errors.Is(err, unix.EINVAL) {
			t.Errorf("MapInternal(%v) = %v, want EINVAL", bad, err)
		}
	}
	if _, err := f.MapInternal(fr(a.End-1, a.End+1), arch.Read); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("MapInternal reaching a free page: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Slice past the file did not panic")
		}
	}()
	f.Slice(fr(0, 17*pg))
}

func TestBackedFallsAfterFree(t *testing.T) {
	f := newFile(t, 8*huge)
	before := f.Stats().Backed
	a := mustAllocate(t, f, 2*huge, AllocOpts{Populate: true})
	populated := f.Stats().Backed
	if populated < before+2*huge {
		t.Fatalf("Backed %#x after populating 4 MiB (was %#x)", populated, before)
	}
	b := mustAllocate(t, f, 4*pg, AllocOpts{})
	for i := range 4 {
		f.Slice(b)[uint64(i)*pg] = 1 // touch each page
	}
	touched := f.Stats().Backed
	if touched < populated+4*pg {
		t.Errorf("Backed %#x after touching 4 more pages (was %#x)", touched, populated)
	}
	f.DecRef(a)
	if after := f.Stats().Backed; after > touched-2*huge {
		t.Errorf("Backed %#x after freeing 4 MiB (was %#x): memory not returned", after, touched)
	}
	f.DecRef(b)
	if s := f.Stats(); s.Backed != 0 || s.Allocated != 0 || s.Peak != 2*huge+4*pg {
		t.Errorf("Stats after freeing all = %+v", s)
	}
}

func TestKindStatistics(t *testing.T) {
	f := newFile(t, 64*pg)
	u := mustAllocate(t, f, 3*pg, AllocOpts{Kind: User})
	k := mustAllocate(t, f, 2*pg, AllocOpts{Kind: Kernel})
	s := f.Stats()
	if s.ByKind[User] != 3*pg || s.ByKind[Kernel] != 2*pg || s.Allocated != 5*pg {
		t.Errorf("Stats = %+v", s)
	}
	// The kinds stay apart even where the ranges touch.
	f.DecRef(fr(u.Start+2*pg, u.End))
	f.DecRef(fr(k.Start, k.Start+pg))
	if s := f.Stats(); s.ByKind[User] != 2*pg || s.ByKind[Kernel] != pg {
		t.Errorf("Stats = %+v", s)
	}
	if User.String() != "user" || Kernel.String() != "kernel" || Kind(9).String() != "Kind(9)" {
		t.Error("Kind.String")
	}
}

func TestPopulate(t *testing.T) {
	f := newFile(t, 4*huge)
	a := mustAllocate(t, f, huge, AllocOpts{})
	copy(f.Slice(a), "kept")
	if err := f.Populate(a); err != nil {
		t.Fatal(err)
	}
	if string(f.Slice(a)[:4]) != "kept" {
		t.Error("Populate changed the contents")
	}
	if b := f.Stats().Backed; b < huge {
		t.Errorf("Backed %#x after Populate", b)
	}
	if err := f.Populate(fr(a.End, a.End+pg)); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("Populate of free pages: %v", err)
	}
	if err := f.Populate(fr(a.Start, a.Start+1)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Populate of an unaligned range: %v", err)
	}
}

// withPopulate replaces the MADV_POPULATE_WRITE call for one test.
func withPopulate(t *testing.T, fn func([]byte) error) {
	saved := populateWrite
	populateWrite = fn
	populateUnsupported.Store(false)
	t.Cleanup(func() { populateWrite = saved; populateUnsupported.Store(false) })
}

// TestPopulateChunks checks that one page's PopulateChunks backs its
// whole chunk once, that later pages of the chunk cost no call, that a
// punched-out page makes the chunk be backed again, that pages handed out
// from a backed chunk read as zeros, and its argument checks.
func TestPopulateChunks(t *testing.T) {
	var calls []int
	withPopulate(t, func(b []byte) error {
		calls = append(calls, len(b))
		return unix.Madvise(b, unix.MADV_POPULATE_WRITE)
	})
	f := newFile(t, 4*huge)
	first := mustAllocate(t, f, pg, AllocOpts{})
	if err := f.PopulateChunks(first); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0] != huge {
		t.Fatalf("populate calls %v, want one of the whole chunk", calls)
	}
	if b := f.Stats().Backed; b < huge {
		t.Errorf("Backed %#x after backing a chunk", b)
	}
	var pages []memmap.FileRange
	for range 8 {
		p := mustAllocate(t, f, pg, AllocOpts{})
		if !isZero(f.Slice(p)) {
			t.Fatalf("page %v from a backed chunk not zero", p)
		}
		if err := f.PopulateChunks(p); err != nil {
			t.Fatal(err)
		}
		copy(f.Slice(p), "data")
		pages = append(pages, p)
	}
	if len(calls) != 1 {
		t.Errorf("populate calls %v after 8 more pages of the chunk, want still one", calls)
	}
	f.DecRef(pages[3])
	if err := f.PopulateChunks(pages[4]); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 {
		t.Errorf("populate calls %v after a page of the chunk was freed, want a second", calls)
	}
	if string(f.Slice(pages[4])[:4]) != "data" {
		t.Error("backing the chunk again changed a page's contents")
	}
	if p := mustAllocate(t, f, pg, AllocOpts{}); !isZero(f.Slice(p)) {
		t.Errorf("page %v reused from a backed chunk not zero", p)
	}
	// A range over two chunks backs both.
	big := mustAllocate(t, f, 2*huge, AllocOpts{})
	if err := f.PopulateChunks(fr(big.Start+huge-pg, big.Start+huge+pg)); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 {
		t.Errorf("populate calls %v for a range over two fresh chunks, want two more", calls)
	}
	if err := f.PopulateChunks(fr(big.End, big.End+pg)); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("PopulateChunks of a free page: %v", err)
	}
	if err := f.PopulateChunks(fr(0, 1)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("PopulateChunks of an unaligned range: %v", err)
	}
	withPopulate(t, func([]byte) error { return unix.ENOMEM })
	f.DecRef(pages[0])
	if err := f.PopulateChunks(pages[1]); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("PopulateChunks with the host out of memory: %v", err)
	}
}

func TestPopulateFallback(t *testing.T) {
	calls := 0
	withPopulate(t, func([]byte) error { calls++; return unix.EINVAL })
	f := newFile(t, 4*huge)
	for range 2 {
		a := mustAllocate(t, f, huge, AllocOpts{Populate: true})
		if b := f.Stats().Backed; b < a.End-a.Start {
			t.Errorf("Backed %#x after the fallback populated %v", b, a)
		}
	}
	if calls != 1 {
		t.Errorf("madvise tried %d times, want once (then remembered as unsupported)", calls)
	}
}

func TestPopulateFailure(t *testing.T) {
	interrupted := 0
	withPopulate(t, func([]byte) error {
		if interrupted < 2 {
			interrupted++
			return unix.EINTR
		}
		return unix.ENOMEM
	})
	f := newFile(t, 4*huge)
	if _, err := f.Allocate(huge, AllocOpts{Populate: true}); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("Allocate with failing populate: %v", err)
	}
	if interrupted != 2 {
		t.Errorf("EINTR retried %d times", interrupted)
	}
	if s := f.Stats(); s.Allocated != 0 {
		t.Errorf("failed populate left %#x allocated", s.Allocated)
	}
}

func TestDecommit(t *testing.T) {
	f := newFile(t, 4*huge)
	a := mustAllocate(t, f, huge, AllocOpts{Populate: true})
	for i := range f.Slice(a) {
		f.Slice(a)[i] = 0xa5
	}
	half := fr(a.Start, a.Start+huge/2)
	if err := f.Decommit(half); err != nil {
		t.Fatal(err)
	}
	// Check Backed before reading: a read fault on a shmem hole through a
	// shared mapping allocates a page again.
	if b := f.Stats().Backed; b > huge/2 {
		t.Errorf("Backed %#x after decommitting half of 2 MiB", b)
	}
	if !isZero(f.Slice(half)) {
		t.Error("decommitted memory not zero")
	}
	if f.Slice(a)[huge/2] != 0xa5 {
		t.Error("Decommit reached past its range")
	}
	if refsAt(f, a.Start) != 1 {
		t.Error("Decommit changed reference counts")
	}
	if err := f.Decommit(fr(0, 1)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Decommit of unaligned range: %v", err)
	}
}

func TestPunchFailureStillZeroes(t *testing.T) {
	saved := punchHole
	punchHole = func(int, int64, int64) error { return unix.EOPNOTSUPP }
	defer func() { punchHole = saved }()
	f := newFile(t, 16*pg)
	a := mustAllocate(t, f, 2*pg, AllocOpts{})
	copy(f.Slice(a), "secret")
	f.DecRef(a)
	b := mustAllocate(t, f, 2*pg, AllocOpts{})
	if !isZero(f.Slice(b)) {
		t.Error("memory not zero after a failed hole punch")
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestCloseReleasesEverything(t *testing.T) {
	before := openFDs(t)
	f, err := New(Options{Limit: 4 * huge})
	if err != nil {
		t.Fatal(err)
	}
	if openFDs(t) != before+1 {
		t.Errorf("New opened %d descriptors, want 1", openFDs(t)-before)
	}
	flags, err := unix.FcntlInt(uintptr(f.FD()), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("memfd flags %#x, %v: not close-on-exec", flags, err)
	}
	a := mustAllocate(t, f, huge, AllocOpts{})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after Close, %d before", after, before)
	}
	if err := f.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Allocate(pg, AllocOpts{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Allocate after Close: %v", err)
	}
	if _, err := f.MapInternal(a, arch.Read); !errors.Is(err, ErrClosed) {
		t.Errorf("MapInternal after Close: %v", err)
	}
	if err := f.Populate(a); !errors.Is(err, ErrClosed) {
		t.Errorf("Populate after Close: %v", err)
	}
	if err := f.Decommit(a); !errors.Is(err, ErrClosed) {
		t.Errorf("Decommit after Close: %v", err)
	}
	if err := f.TryDecRef(a); !errors.Is(err, ErrClosed) {
		t.Errorf("TryDecRef after Close: %v", err)
	}
	f.IncRef(a) // no-ops, no panic
	f.DecRef(a)
	if s := f.Stats(); s.Backed != 0 || s.Allocated != 0 || s.Peak != huge {
		t.Errorf("Stats after Close = %+v", s)
	}
	// Many files opened and closed leak nothing.
	for range 20 {
		g, err := New(Options{Limit: huge})
		if err != nil {
			t.Fatal(err)
		}
		mustAllocate(t, g, pg, AllocOpts{Populate: true})
		g.Close()
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after 20 New/Close, %d before", after, before)
	}
}

// TestMappingHugeAligned checks that the host mapping starts 2 MiB-aligned
// (KVM maps a guest page huge only if host and guest addresses agree
// modulo 2 MiB) and that Close unmaps all of it.
func TestMappingHugeAligned(t *testing.T) {
	for _, limit := range []uint64{pg, huge, 3*huge + 5*pg} {
		f, err := New(Options{Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		m := f.Mapping()
		p := unsafe.Pointer(unsafe.SliceData(m))
		addr := uintptr(p)
		if addr%huge != 0 || uint64(len(m)) != limit {
			t.Errorf("limit %#x: mapping at %#x, %#x bytes; want 2 MiB-aligned, the limit long", limit, addr, len(m))
		}
		m[limit-1] = 1 // the whole mapping is there
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		// After Close the range is unmapped: msync reports ENOMEM.
		if err := unix.Msync(unsafe.Slice((*byte)(p), limit), unix.MS_ASYNC); !errors.Is(err, unix.ENOMEM) {
			t.Errorf("limit %#x: msync of the closed mapping: %v, want ENOMEM", limit, err)
		}
	}
}

func TestHostHugePages(t *testing.T) {
	old := shmemTHPPath
	t.Cleanup(func() { shmemTHPPath = old })
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"always within_size advise [never] deny force\n", "never"},
		{"always within_size [advise] never deny force\n", "advise"},
		{"[always] never\n", "always"},
		{"garbage\n", ""},
	} {
		shmemTHPPath = filepath.Join(dir, "shmem_enabled")
		if err := os.WriteFile(shmemTHPPath, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := HostHugePages(); got != tc.want {
			t.Errorf("%q: HostHugePages() = %q, want %q", tc.content, got, tc.want)
		}
	}
	shmemTHPPath = filepath.Join(dir, "missing")
	if got := HostHugePages(); got != "" {
		t.Errorf("no sysfs file: HostHugePages() = %q", got)
	}
}
