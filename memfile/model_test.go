package memfile

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// model is the reference the random test checks the MemoryFile against: a
// count and a content tag per allocated page.
type model struct {
	refs map[uint64]uint64 // page offset -> references; absent when free
	tags map[uint64]uint64 // page offset -> tag written at allocation
	runs []memmap.FileRange
}

func TestRandomAgainstModel(t *testing.T) {
	const limit = 8 * huge
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 0x6d6d766d))
		f := newFile(t, limit)
		m := model{refs: map[uint64]uint64{}, tags: map[uint64]uint64{}}
		var nextTag uint64 = 1
		for step := range 1500 {
			switch op := rng.IntN(10); {
			case op < 4: // allocate
				length := uint64(1+rng.IntN(8)) * pg
				if rng.IntN(10) == 0 {
					length = uint64(1+rng.IntN(2))*huge + uint64(rng.IntN(3))*pg
				}
				kind := Kind(rng.IntN(int(NumKinds)))
				want, wantOK := floorlessFit(f, length, kind)
				got, err := f.Allocate(length, AllocOpts{Kind: kind})
				if (err == nil) != wantOK || (err == nil && got != want) {
					t.Fatalf("seed %d step %d: Allocate(%#x) = %v, %v; a search from offset 0 picks %v, %v", seed, step, length, got, err, want, wantOK)
				}
				if errors.Is(err, unix.ENOMEM) {
					if uint64(len(m.refs))*pg+length <= limit && length < huge {
						// A small allocation fails only if no free run of
						// its length exists.
						if hasFreeRun(m.refs, length, limit) {
							t.Fatalf("seed %d step %d: ENOMEM for %#x with a free run available", seed, step, length)
						}
					}
					continue
				}
				if err != nil {
					t.Fatalf("seed %d step %d: Allocate: %v", seed, step, err)
				}
				if length >= huge && got.Start%huge != 0 {
					t.Fatalf("seed %d step %d: huge allocation %v unaligned", seed, step, got)
				}
				for p := got.Start; p < got.End; p += pg {
					if m.refs[p] != 0 {
						t.Fatalf("seed %d step %d: allocated page %#x that holds %d references", seed, step, p, m.refs[p])
					}
					page := f.Slice(fr(p, p+pg))
					if !isZero(page) {
						t.Fatalf("seed %d step %d: newly allocated page %#x not zero", seed, step, p)
					}
					m.refs[p] = 1
					m.tags[p] = nextTag
					binary.LittleEndian.PutUint64(page, nextTag)
					binary.LittleEndian.PutUint64(page[pg-8:], ^nextTag)
					nextTag++
				}
				m.runs = append(m.runs, got)
			case op < 6 && len(m.runs) > 0: // incref a sub-range of a run
				r := subRange(rng, m.runs[rng.IntN(len(m.runs))])
				if !allHeld(m.refs, r) {
					if err := f.TryIncRef(r); !errors.Is(err, ErrNotAllocated) {
						t.Fatalf("seed %d step %d: TryIncRef(%v) of partly free pages: %v", seed, step, r, err)
					}
					continue
				}
				f.IncRef(r)
				for p := r.Start; p < r.End; p += pg {
					m.refs[p]++
				}
			case len(m.runs) > 0: // decref a sub-range of a run
				i := rng.IntN(len(m.runs))
				r := subRange(rng, m.runs[i])
				if !allHeld(m.refs, r) {
					if err := f.TryDecRef(r); !errors.Is(err, ErrNotAllocated) {
						t.Fatalf("seed %d step %d: TryDecRef(%v) of partly free pages: %v", seed, step, r, err)
					}
					m.runs = append(m.runs[:i], m.runs[i+1:]...)
					continue
				}
				f.DecRef(r)
				for p := r.Start; p < r.End; p += pg {
					if m.refs[p]--; m.refs[p] == 0 {
						delete(m.refs, p)
						delete(m.tags, p)
					}
				}
			}
			if step%50 == 0 {
				checkModel(t, f, &m, limit)
			}
		}
		checkModel(t, f, &m, limit)
	}
}

// checkModel compares every page's count and contents, and the statistics.
func checkModel(t *testing.T, f *MemoryFile, m *model, limit uint64) {
	t.Helper()
	for p := uint64(0); p < limit; p += pg {
		if got, want := refsAt(f, p), m.refs[p]; got != want {
			t.Fatalf("page %#x: %d references, model %d", p, got, want)
		}
		if tag, ok := m.tags[p]; ok {
			page := f.Slice(fr(p, p+pg))
			if binary.LittleEndian.Uint64(page) != tag || binary.LittleEndian.Uint64(page[pg-8:]) != ^tag {
				t.Fatalf("page %#x lost its contents", p)
			}
		}
	}
	f.mu.Lock()
	freeFloor, chunkFloor, freeCeiling := f.freeFloor, f.chunkFloor, f.freeCeiling
	f.mu.Unlock()
	for p := freeCeiling; p < limit; p += pg {
		if m.refs[p] == 0 {
			t.Fatalf("page %#x is free, above the free ceiling %#x", p, freeCeiling)
		}
	}
	for p := uint64(0); p < freeFloor; p += pg {
		if m.refs[p] == 0 {
			t.Fatalf("page %#x is free, below the free floor %#x", p, freeFloor)
		}
	}
	for c := uint64(0); c < chunkFloor && c+huge <= limit; c += huge {
		if !hasFreeRun(pagesOf(m.refs, c, c+huge), huge, huge) {
			continue
		}
		t.Fatalf("chunk %#x is wholly free, below the chunk floor %#x", c, chunkFloor)
	}
	s := f.Stats()
	if want := uint64(len(m.refs)) * pg; s.Allocated != want || s.ByKind[User]+s.ByKind[Kernel] != want {
		t.Fatalf("Stats %+v, model %#x allocated", s, want)
	}
	// Only allocated pages were touched, and freed ones were returned.
	if s.Backed > s.Allocated {
		t.Fatalf("Backed %#x exceeds Allocated %#x", s.Backed, s.Allocated)
	}
}

// floorlessFit is where an allocation of length bytes goes by a search
// from offset 0, ignoring the search floors, which must not change it.
func floorlessFit(f *MemoryFile, length uint64, kind Kind) (memmap.FileRange, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	free, chunk, ceiling := f.freeFloor, f.chunkFloor, f.freeCeiling
	f.freeFloor, f.chunkFloor, f.freeCeiling = 0, 0, f.limit
	defer func() { f.freeFloor, f.chunkFloor, f.freeCeiling = free, chunk, ceiling }()
	if f.pages.Span()+length > f.limit {
		return memmap.FileRange{}, false
	}
	return f.findFreeLocked(length, kind)
}

// pagesOf returns the counts of the pages in [start, end), rebased to 0.
func pagesOf(refs map[uint64]uint64, start, end uint64) map[uint64]uint64 {
	out := map[uint64]uint64{}
	for p := start; p < end; p += pg {
		if n := refs[p]; n != 0 {
			out[p-start] = n
		}
	}
	return out
}

func subRange(rng *rand.Rand, r memmap.FileRange) memmap.FileRange {
	n := r.Length() / pg
	a := uint64(rng.IntN(int(n)))
	b := a + 1 + uint64(rng.IntN(int(n-a)))
	return fr(r.Start+a*pg, r.Start+b*pg)
}

func allHeld(refs map[uint64]uint64, r memmap.FileRange) bool {
	for p := r.Start; p < r.End; p += pg {
		if refs[p] == 0 {
			return false
		}
	}
	return true
}

func hasFreeRun(refs map[uint64]uint64, length, limit uint64) bool {
	run := uint64(0)
	for p := uint64(0); p < limit; p += pg {
		if refs[p] != 0 {
			run = 0
			continue
		}
		if run += pg; run >= length {
			return true
		}
	}
	return false
}

func TestConcurrentUse(t *testing.T) {
	f := newFile(t, 32*huge)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 150 {
				length := uint64(1+rng.IntN(16)) * pg
				if i%25 == 0 {
					length = huge
				}
				r, err := f.Allocate(length, AllocOpts{Populate: i%3 == 0})
				if err != nil {
					t.Errorf("goroutine %d: Allocate: %v", g, err)
					return
				}
				view, err := f.MapInternal(r, arch.ReadWrite)
				if err != nil {
					t.Errorf("goroutine %d: MapInternal: %v", g, err)
					return
				}
				if !isZero(view) {
					t.Errorf("goroutine %d: fresh allocation %v not zero", g, r)
				}
				for p := uint64(0); p < length; p += pg {
					binary.LittleEndian.PutUint64(view[p:], uint64(g)<<32|uint64(i))
				}
				f.IncRef(r)
				_ = f.Stats()
				f.DecRef(r)
				for p := uint64(0); p < length; p += pg {
					if got := binary.LittleEndian.Uint64(view[p:]); got != uint64(g)<<32|uint64(i) {
						t.Errorf("goroutine %d: page %#x overwritten by %#x", g, r.Start+p, got)
					}
				}
				f.DecRef(r)
			}
		}()
	}
	wg.Wait()
	if s := f.Stats(); s.Allocated != 0 || s.Backed != 0 {
		t.Errorf("after all goroutines freed everything: %+v", s)
	}
}
