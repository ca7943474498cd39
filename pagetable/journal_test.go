package pagetable

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/mmvm/mmvm/arch"
)

// shadowMMU models a hypervisor that shadows the guest's page tables (KVM
// without nested paging, PVM): it keeps a copy of every present entry it
// walked and trusts that copy until the guest stores to the entry (a
// journaled rewrite) or the table holding it is zapped (a freed table). It
// re-reads an entry it holds no copy of, as such hypervisors do on the
// fault a missing translation causes. If the journal missed a store, the
// shadow translates with a stale copy and disagrees with the tables.
type shadowMMU struct {
	alloc *HeapAllocator
	// copies maps an entry's host address to the value the shadow holds.
	copies map[*uint64]uint64
}

func newShadowMMU(alloc *HeapAllocator) *shadowMMU {
	return &shadowMMU{alloc: alloc, copies: map[*uint64]uint64{}}
}

// Rewritten implements Journal: the guest stored these entries again, so
// the shadow drops its copies (KVM zaps or refreshes them).
func (s *shadowMMU) Rewritten(first *uint64, n int) {
	for i := range unsafe.Slice(first, n) {
		delete(s.copies, &unsafe.Slice(first, n)[i])
	}
}

// zap drops every copy of the table at phys, as a hypervisor does when the
// guest's store to a freed table makes it zap that table's shadow.
func (s *shadowMMU) zap(t *[512]uint64) {
	for i := range t {
		delete(s.copies, &t[i])
	}
}

// translate walks from root through the shadow's copies, taking a copy of
// each present entry it reads fresh.
func (s *shadowMMU) translate(root *[512]uint64, va uint64) (pa uint64, o MapOpts, ok bool) {
	t := root
	for l := rootLevel; ; l-- {
		shift := levelShift(l)
		p := &t[(va>>shift)&indexMask]
		e, held := s.copies[p]
		if !held {
			e = *p
			if e&entryPresent == 0 {
				return 0, MapOpts{}, false
			}
			s.copies[p] = e
		}
		if e&entryPresent == 0 {
			return 0, MapOpts{}, false
		}
		if !isTable(e, l) {
			size := uint64(1) << shift
			return e&entryAddrMask&^(size-1) | va&(size-1), leafOpts(e), true
		}
		t = s.alloc.pages[(e&entryAddrMask-heapBase)>>arch.PageShift]
	}
}

// zappingAllocator zaps a table's shadow when pagetable frees it, before
// the HeapAllocator may hand it out again (the machine quarantines freed
// tables until the guest has zapped them).
type zappingAllocator struct {
	*HeapAllocator
	shadow *shadowMMU
}

func (z zappingAllocator) FreeTable(phys uint64) {
	z.shadow.zap(z.TableAt(phys))
	z.HeapAllocator.FreeTable(phys)
}

// TestJournalKeepsShadowCoherent runs random Map, Unmap and Protect calls
// while a shadowing MMU translates addresses of the window after each one:
// with the journal's stores replayed and freed tables zapped, the shadow
// must agree with Lookup everywhere, including after tables are freed and
// reused (the HeapAllocator reuses the last freed page first).
func TestJournalKeepsShadowCoherent(t *testing.T) {
	for _, giant := range []bool{false, true} {
		t.Run(map[bool]string{false: "4K-2M", true: "giant"}[giant], func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 0x5eed))
			heap := NewHeapAllocator(1 << 16)
			shadow := newShadowMMU(heap)
			pt, err := New(zappingAllocator{heap, shadow}, Features{GiantPages: giant})
			if err != nil {
				t.Fatal(err)
			}
			pt.SetJournal(shadow)
			w := newWindow(512*gib-4*mib, 8*mib, true)
			if giant {
				w = newWindow(gib-2*mib, gib+4*mib, true)
			}
			ops := 4000
			if testing.Short() {
				ops = 800
			}
			for i := range ops {
				first, n := randomSpan(rng, len(w.pages), 512)
				va := w.base + uint64(first)<<arch.PageShift
				end := va + uint64(n)<<arch.PageShift
				r := arch.AddrRange{Start: arch.Addr(va), End: arch.Addr(end)}
				o := randomOpts(rng, true)
				o.Global = false
				switch k := rng.IntN(3); k {
				case 0:
					_, err = pt.Map(r, randomPhys(rng, va, 2*mib), o)
				case 1:
					_, err = pt.Unmap(r)
				default:
					_, err = pt.Protect(r, o)
				}
				if err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
				// Probe the changed range, its edges and random pages.
				probes := []uint64{va, end - arch.PageSize, (va + end) / 2 &^ arch.PageMask}
				for range 16 {
					probes = append(probes, w.base+uint64(rng.IntN(len(w.pages)))<<arch.PageShift)
				}
				for _, p := range probes {
					wantPA, _, wantO, wantOK := pt.Lookup(arch.Addr(p))
					gotPA, gotO, gotOK := shadow.translate(pt.root, p)
					if gotOK != wantOK || (wantOK && (gotPA != wantPA || gotO != wantO)) {
						t.Fatalf("op %d: at %#x the shadow translates (%#x %+v %v), the tables (%#x %+v %v): a rewrite was not journaled",
							i, p, gotPA, gotO, gotOK, wantPA, wantO, wantOK)
					}
				}
			}
		})
	}
}

// TestJournalSilentWithoutChange checks that adding translations over
// non-present entries journals nothing: a shadowing hypervisor sees those
// on the fault they cause, and a replay of them would be wasted guest work.
func TestJournalSilentWithoutChange(t *testing.T) {
	heap := NewHeapAllocator(64)
	pt, err := New(heap, Features{})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	pt.SetJournal(journalFunc(func(_ *uint64, k int) { n += k }))
	r := arch.AddrRange{Start: 0x40_0000, End: 0x40_0000 + 16*arch.PageSize}
	if _, err := pt.Map(r, 0x100_0000, MapOpts{Access: arch.ReadWrite, User: true}); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a fresh mapping journaled %d entries, want 0", n)
	}
	// The same mapping again changes nothing either.
	if _, err := pt.Map(r, 0x100_0000, MapOpts{Access: arch.ReadWrite, User: true}); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("remapping identically journaled %d entries, want 0", n)
	}
	if _, err := pt.Protect(r, MapOpts{Access: arch.Read, User: true}); err != nil {
		t.Fatal(err)
	}
	if n != 16 {
		t.Fatalf("write-protecting 16 pages journaled %d entries, want 16", n)
	}
}

type journalFunc func(*uint64, int)

func (f journalFunc) Rewritten(first *uint64, n int) { f(first, n) }
