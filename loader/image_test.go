package loader

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
)

const pg = arch.PageSize

func newMemoryFile(t *testing.T, limit uint64) *memfile.MemoryFile {
	t.Helper()
	mf, err := memfile.New(memfile.Options{Limit: limit, Name: "loader-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	return mf
}

// randomBytes returns n bytes with no zero byte, so that zero-fill is
// visible.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(1 + r.IntN(255))
	}
	return b
}

// closeCounter is a ReaderAt that records Close.
type closeCounter struct {
	io.ReaderAt
	closes int
}

func (c *closeCounter) Close() error { c.closes++; return nil }

// noSpace is a MappingSpace that must never be invalidated: the image's
// translations never change.
type noSpace struct{ t *testing.T }

func (n noSpace) Invalidate(ar arch.AddrRange, _ memmap.InvalidateOpts) {
	n.t.Errorf("Invalidate(%v) called", ar)
}

func mr(start, end uint64) memmap.MappableRange { return memmap.MappableRange{Start: start, End: end} }

func ar(start, end uint64) arch.AddrRange {
	return arch.AddrRange{Start: arch.Addr(0x400000 + start), End: arch.Addr(0x400000 + end)}
}

// translate calls Translate and checks the result against the contract.
func translate(t *testing.T, f *ImageFile, req, opt memmap.MappableRange) ([]memmap.Translation, error) {
	t.Helper()
	ts, err := f.Translate(req, opt, arch.Read)
	if cerr := memmap.CheckTranslateResult(req, opt, arch.Read, ts, err); cerr != nil {
		t.Fatalf("Translate(%v, %v): %v", req, opt, cerr)
	}
	for _, tr := range ts {
		if tr.Perms.Write || !tr.Perms.Read {
			t.Errorf("translation %+v: perms %v, want read-only", tr, tr.Perms)
		}
	}
	return ts, err
}

// contents reads what the translations map, in order.
func contents(t *testing.T, ts []memmap.Translation) []byte {
	t.Helper()
	var out []byte
	for _, tr := range ts {
		b, err := tr.File.MapInternal(tr.FileRange(), arch.Read)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func TestImageTranslate(t *testing.T) {
	mf := newMemoryFile(t, 16<<20)
	data := randomBytes(5*pg+123, 1) // the last page is partial
	src := &closeCounter{ReaderAt: bytes.NewReader(data)}
	f, err := NewImageFile(mf, src, int64(len(data)), ImageIdentity{Name: "/bin/x"})
	if err != nil {
		t.Fatal(err)
	}
	ms := noSpace{t}
	if err := f.AddMapping(ms, ar(0, 8*pg), 0, false); err != nil {
		t.Fatal(err)
	}

	ts, err := translate(t, f, mr(pg, 2*pg), mr(0, 8*pg))
	if err != nil {
		t.Fatal(err)
	}
	// The readahead window covers the whole (6-page) file.
	if len(ts) == 0 || ts[0].Source.Start != 0 || ts[len(ts)-1].Source.End != 6*pg {
		t.Fatalf("translations %+v, want [0, 6 pages)", ts)
	}
	got := contents(t, ts)
	if !bytes.Equal(got[:len(data)], data) {
		t.Error("cached pages differ from the file")
	}
	if !bytes.Equal(got[len(data):], make([]byte, 6*pg-len(data))) {
		t.Error("bytes past the end of the file in its last page are not zero")
	}
	if f.CachedPages() != 6 || mf.Stats().Allocated != 6*pg {
		t.Errorf("cached %d pages, allocated %d bytes; want 6 pages", f.CachedPages(), mf.Stats().Allocated)
	}

	// A second translation reuses the cache.
	ts2, err := translate(t, f, mr(3*pg, 4*pg), mr(3*pg, 4*pg))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts2) != 1 || ts2[0].Offset != offsetOf(ts, 3*pg) || mf.Stats().Allocated != 6*pg {
		t.Errorf("second Translate %+v did not reuse the cached page", ts2)
	}

	// Pages wholly past the end of the file: SIGBUS.
	var be *memmap.BusError
	if ts, err := translate(t, f, mr(6*pg, 7*pg), mr(0, 8*pg)); !errors.As(err, &be) || len(ts) != 0 {
		t.Errorf("past EOF: %v, %+v; want a BusError", err, ts)
	}
	ts, err = translate(t, f, mr(5*pg, 7*pg), mr(5*pg, 8*pg))
	if !errors.As(err, &be) || len(ts) != 1 || ts[0].Source != mr(5*pg, 6*pg) {
		t.Errorf("across EOF: %v, %+v; want the last file page and a BusError", err, ts)
	}

	// Writes are refused: private mappings copy instead.
	if _, err := f.Translate(mr(0, pg), mr(0, pg), arch.ReadWrite); !errors.Is(err, unix.EACCES) {
		t.Errorf("write translation: %v, want EACCES", err)
	}
	if err := f.AddMapping(ms, ar(0, pg), 0, true); !errors.Is(err, unix.EACCES) {
		t.Errorf("writable shared mapping: %v, want EACCES", err)
	}

	// mm's own references keep pages alive after the image lets go.
	held := ts2[0].FileRange()
	mf.IncRef(held)
	f.RemoveMapping(ms, ar(0, 8*pg), 0, false)
	if f.CachedPages() != 0 || mf.Stats().Allocated != pg {
		t.Errorf("after the last mapping went: %d cached, %d bytes allocated; want 0 and mm's one page", f.CachedPages(), mf.Stats().Allocated)
	}
	if b, err := mf.MapInternal(held, arch.Read); err != nil || !bytes.Equal(b, data[3*pg:4*pg]) {
		t.Errorf("page held by mm lost its contents: %v", err)
	}
	mf.DecRef(held)

	f.DecRef() // the creator's reference: releases the image
	if src.closes != 1 {
		t.Errorf("source closed %d times, want 1", src.closes)
	}
	if _, err := f.Translate(mr(0, pg), mr(0, pg), arch.Read); !errors.Is(err, ErrImageClosed) {
		t.Errorf("Translate after release: %v", err)
	}
	if err := f.AddMapping(ms, ar(0, pg), 0, false); !errors.Is(err, ErrImageClosed) {
		t.Errorf("AddMapping after release: %v", err)
	}
	if err := f.Close(); err != nil || src.closes != 1 {
		t.Errorf("second Close: %v, %d closes", err, src.closes)
	}
	if mf.Stats().Allocated != 0 {
		t.Errorf("%d bytes still allocated", mf.Stats().Allocated)
	}
}

// offsetOf returns the MemoryFile offset ts maps off to.
func offsetOf(ts []memmap.Translation, off uint64) uint64 {
	for _, tr := range ts {
		if tr.Source.Contains(off) {
			return tr.Offset + off - tr.Source.Start
		}
	}
	return ^uint64(0)
}

func TestImageMappingCounts(t *testing.T) {
	mf := newMemoryFile(t, 16<<20)
	data := randomBytes(8*pg, 2)
	f, err := NewImageFile(mf, bytes.NewReader(data), int64(len(data)), ImageIdentity{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms := noSpace{t}
	// Mapping A covers pages [0, 4), mapping B [2, 6); then A is removed in
	// two pieces, as mm removes split vmas, and B by mremap-like copy.
	if err := f.AddMapping(ms, ar(0, 4*pg), 0, false); err != nil {
		t.Fatal(err)
	}
	if err := f.AddMapping(ms, ar(0x100000, 0x100000+4*pg), 2*pg, false); err != nil {
		t.Fatal(err)
	}
	if _, err := translate(t, f, mr(0, pg), mr(0, 4*pg)); err != nil {
		t.Fatal(err)
	}
	if _, err := translate(t, f, mr(4*pg, 5*pg), mr(2*pg, 6*pg)); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		do     func()
		cached int
	}{
		{func() {}, 6},
		{func() { f.RemoveMapping(ms, ar(pg, 2*pg), pg, false) }, 5},                 // A's page 1
		{func() { f.RemoveMapping(ms, ar(2*pg, 4*pg), 2*pg, false) }, 5},             // A's pages 2, 3: B still maps them
		{func() { f.RemoveMapping(ms, ar(0, pg), 0, false) }, 4},                     // A's page 0
		{func() { f.CopyMapping(ms, ar(0, 4*pg), ar(9*pg, 13*pg), 2*pg, false) }, 4}, // B copied
		{func() { f.RemoveMapping(ms, ar(0x100000, 0x100000+4*pg), 2*pg, false) }, 4},
		{func() { f.RemoveMapping(ms, ar(9*pg, 13*pg), 2*pg, false) }, 0},
	} {
		step.do()
		if got := f.CachedPages(); got != step.cached {
			t.Fatalf("%d pages cached, want %d", got, step.cached)
		}
		if got := mf.Stats().Allocated; got != uint64(step.cached)*pg {
			t.Fatalf("%d bytes allocated, want %d pages", got, step.cached)
		}
	}
	if !f.mapped.IsEmpty() {
		t.Errorf("mapping counts left: %v", f.mapped)
	}
}

func TestImageReadahead(t *testing.T) {
	mf := newMemoryFile(t, 16<<20)
	data := randomBytes(40*pg, 3)
	f, err := NewImageFile(mf, bytes.NewReader(data), int64(len(data)), ImageIdentity{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.AddMapping(noSpace{t}, ar(0, 40*pg), 0, false)
	for _, tc := range []struct {
		req, opt, want memmap.MappableRange
	}{
		{mr(20*pg, 21*pg), mr(0, 40*pg), mr(16*pg, 32*pg)},
		{mr(20*pg, 21*pg), mr(18*pg, 22*pg), mr(18*pg, 22*pg)},
		{mr(31*pg, 34*pg), mr(0, 40*pg), mr(16*pg, 40*pg)},
		{mr(0, pg), mr(0, pg), mr(0, pg)},
	} {
		ts, err := translate(t, f, tc.req, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		got := mr(ts[0].Source.Start, ts[len(ts)-1].Source.End)
		if got != tc.want {
			t.Errorf("Translate(%v, %v) covered %v, want %v", tc.req, tc.opt, got, tc.want)
		}
		if !bytes.Equal(contents(t, ts), data[got.Start:got.End]) {
			t.Errorf("contents of %v differ from the file", got)
		}
	}
}

// failAfter fails reads at or past offset n.
type failAfter struct {
	r io.ReaderAt
	n int64
}

func (f failAfter) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > f.n {
		return 0, errDisk
	}
	return f.r.ReadAt(b, off)
}

func TestImageErrors(t *testing.T) {
	t.Run("read error", func(t *testing.T) {
		mf := newMemoryFile(t, 16<<20)
		data := randomBytes(4*pg, 4)
		f, _ := NewImageFile(mf, failAfter{bytes.NewReader(data), 2 * pg}, int64(len(data)), ImageIdentity{})
		defer f.Close()
		f.AddMapping(noSpace{t}, ar(0, 4*pg), 0, false)
		// Readahead over the bad pages fails, but required alone reads.
		if _, err := translate(t, f, mr(0, pg), mr(0, 4*pg)); err != nil {
			t.Errorf("required page readable: %v", err)
		}
		var be *memmap.BusError
		ts, err := translate(t, f, mr(2*pg, 3*pg), mr(0, 4*pg))
		if !errors.As(err, &be) || !errors.Is(err, errDisk) || len(ts) != 0 {
			t.Errorf("unreadable page: %v, %+v; want a BusError wrapping the cause", err, ts)
		}
		if f.CachedPages() != 1 || mf.Stats().Allocated != pg {
			t.Errorf("%d cached, %d allocated after failed reads: leaked pages", f.CachedPages(), mf.Stats().Allocated)
		}
	})
	t.Run("out of memory", func(t *testing.T) {
		mf := newMemoryFile(t, 4*pg)
		data := randomBytes(32*pg, 5)
		f, _ := NewImageFile(mf, bytes.NewReader(data), int64(len(data)), ImageIdentity{})
		defer f.Close()
		f.AddMapping(noSpace{t}, ar(0, 32*pg), 0, false)
		ts, err := translate(t, f, mr(pg, 2*pg), mr(0, 32*pg))
		if err != nil || len(ts) != 1 || ts[0].Source != mr(pg, 2*pg) {
			t.Errorf("readahead past the limit should fall back to required: %v, %+v", err, ts)
		}
		if _, err := translate(t, f, mr(8*pg, 13*pg), mr(8*pg, 13*pg)); !errors.Is(err, unix.ENOMEM) {
			t.Errorf("required past the limit: %v, want ENOMEM", err)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		mf := newMemoryFile(t, 4*pg)
		if _, err := NewImageFile(mf, bytes.NewReader(nil), -1, ImageIdentity{}); !errors.Is(err, unix.EINVAL) {
			t.Errorf("negative size: %v", err)
		}
		if _, err := NewImageFile(nil, bytes.NewReader(nil), 0, ImageIdentity{}); !errors.Is(err, unix.EINVAL) {
			t.Errorf("no MemoryFile: %v", err)
		}
	})
}

func TestImageConcurrent(t *testing.T) {
	mf := newMemoryFile(t, 16<<20)
	data := randomBytes(64*pg, 6)
	f, _ := NewImageFile(mf, bytes.NewReader(data), int64(len(data)), ImageIdentity{})
	defer f.Close()
	f.AddMapping(noSpace{t}, ar(0, 64*pg), 0, false)
	var wg sync.WaitGroup
	offsets := make([][]uint64, 4)
	for g := range offsets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			offsets[g] = make([]uint64, 64)
			for range 200 {
				p := uint64(r.IntN(64)) * pg
				ts, err := f.Translate(mr(p, p+pg), mr(0, 64*pg), arch.Read)
				if err != nil {
					t.Error(err)
					return
				}
				offsets[g][p/pg] = offsetOf(ts, p)
			}
		}()
	}
	wg.Wait()
	// Every goroutine saw the same cached page for each file page.
	for p := range 64 {
		var want uint64
		for g := range offsets {
			if o := offsets[g][p]; o != 0 && want != 0 && o != want {
				t.Errorf("page %d translated to %#x and %#x", p, want, o)
			} else if o != 0 {
				want = o
			}
		}
	}
	if f.CachedPages() != 64 || mf.Stats().Allocated != 64*pg {
		t.Errorf("%d cached, %d bytes allocated; want 64 pages each", f.CachedPages(), mf.Stats().Allocated)
	}
}

func TestOpenImage(t *testing.T) {
	mf := newMemoryFile(t, 16<<20)
	dir := t.TempDir()
	path := filepath.Join(dir, "prog")
	img := minimalStatic().bytes()
	if err := os.WriteFile(path, img, 0o755); err != nil {
		t.Fatal(err)
	}
	f, plan, err := OpenImage(path, mf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if f.MappedName() != path || f.InodeID() == 0 || f.Size() != uint64(fi.Size()) {
		t.Errorf("identity %q inode %d size %d", f.MappedName(), f.InodeID(), f.Size())
	}
	f.IncRef() // as mm does for a vma
	// Map the data segment the way the VM will, and read it back: its
	// last file page carries file bytes where ZeroTail says bss begins,
	// which is why the plan tells the VM to zero them.
	s := plan.Segments[1]
	off := s.Offset
	if err := f.AddMapping(noSpace{t}, s.FilePages, off, false); err != nil {
		t.Fatal(err)
	}
	ts, err := translate(t, f, mr(off, off+s.FilePages.Length()), mr(off, off+s.FilePages.Length()))
	if err != nil {
		t.Fatal(err)
	}
	page := contents(t, ts)
	dataAt := uint64(s.VAddr - s.FilePages.Start)
	if !bytes.Equal(page[dataAt:dataAt+s.FileSize], img[testDataOff:testDataOff+0x20]) {
		t.Error("segment bytes differ from the file")
	}
	f.RemoveMapping(noSpace{t}, s.FilePages, off, false)
	f.DecRef()
	f.DecRef()
	if mf.Stats().Allocated != 0 {
		t.Errorf("%d bytes allocated after the last reference", mf.Stats().Allocated)
	}

	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("#!/bin/sh\necho no\n"+string(make([]byte, 64))), 0o755)
	if _, _, err := OpenImage(bad, mf, Options{}); !errors.Is(err, KindNotELF) || !bytes.Contains([]byte(err.Error()), []byte(bad)) {
		t.Errorf("OpenImage of a script: %v", err)
	}
	if _, _, err := OpenImage(filepath.Join(dir, "none"), mf, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenImage of a missing file: %v", err)
	}
}
