package memfile

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkAllocateDecRef measures an Allocate followed by the DecRef that
// frees it (including the hole punch). The punch-only cases are the
// baseline: the fallocate(PUNCH_HOLE) syscall alone, so the ratio shows what
// the bookkeeping adds.
func BenchmarkAllocateDecRef(b *testing.B) {
	for _, length := range []uint64{pg, huge} {
		b.Run(fmt.Sprintf("alloc+decref/%dKiB", length>>10), func(b *testing.B) {
			f := newFile(b, 64*huge)
			for b.Loop() {
				r, err := f.Allocate(length, AllocOpts{})
				if err != nil {
					b.Fatal(err)
				}
				f.DecRef(r)
			}
		})
		b.Run(fmt.Sprintf("punch-only/%dKiB", length>>10), func(b *testing.B) {
			f := newFile(b, 64*huge)
			for b.Loop() {
				if err := punchHole(f.fd, 0, int64(length)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// With 4096 live 4 KiB allocations and 4 KiB holes between them, an
	// 8 KiB allocation scans every gap before it fits: the first-fit scan
	// is linear in the number of gaps.
	b.Run("alloc+decref/8KiB-past-4096-holes", func(b *testing.B) {
		f := newFile(b, 64*huge)
		r, err := f.Allocate(8192*pg, AllocOpts{})
		if err != nil {
			b.Fatal(err)
		}
		for p := r.Start + pg; p < r.End; p += 2 * pg {
			f.DecRef(fr(p, p+pg))
		}
		if n := f.pages.Len(); n != 4096 {
			b.Fatalf("%d segments, want 4096", n)
		}
		for b.Loop() {
			r, err := f.Allocate(2*pg, AllocOpts{})
			if err != nil {
				b.Fatal(err)
			}
			f.DecRef(r)
		}
	})
}

// BenchmarkPopulate2MiB measures backing 2 MiB of fresh memory (then freeing
// it) in three ways: Populate (MADV_POPULATE_WRITE), its fallocate
// fallback, and the baseline of touching one byte per page, one host page
// fault each.
func BenchmarkPopulate2MiB(b *testing.B) {
	run := func(b *testing.B, back func(f *MemoryFile, r []byte) error) {
		f := newFile(b, 64*huge)
		b.SetBytes(huge)
		for b.Loop() {
			fr, err := f.Allocate(huge, AllocOpts{})
			if err != nil {
				b.Fatal(err)
			}
			if err := back(f, f.Slice(fr)); err != nil {
				b.Fatal(err)
			}
			f.DecRef(fr)
		}
	}
	b.Run("populate", func(b *testing.B) {
		run(b, func(f *MemoryFile, r []byte) error {
			return unix.Madvise(r, unix.MADV_POPULATE_WRITE)
		})
	})
	b.Run("populate-api", func(b *testing.B) {
		f := newFile(b, 64*huge)
		b.SetBytes(huge)
		for b.Loop() {
			fr, err := f.Allocate(huge, AllocOpts{Populate: true})
			if err != nil {
				b.Fatal(err)
			}
			f.DecRef(fr)
		}
	})
	b.Run("fallocate-fallback", func(b *testing.B) {
		run(b, func(f *MemoryFile, r []byte) error {
			off := uint64(uintptr(unsafePointer(r)) - uintptr(unsafePointer(f.Mapping())))
			return unix.Fallocate(f.fd, 0, int64(off), int64(len(r)))
		})
	})
	b.Run("touch-each-page", func(b *testing.B) {
		run(b, func(_ *MemoryFile, r []byte) error {
			for i := 0; i < len(r); i += pg {
				r[i] = 1
			}
			return nil
		})
	})
}
