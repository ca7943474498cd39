package pagetable

import (
	"errors"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// TestSharingKernel checks that an address space made by NewSharingKernel
// sees the kernel half of the one it shares, including translations added
// there later, keeps its user half to itself, refuses to change the kernel
// half, and frees only its own tables.
func TestSharingKernel(t *testing.T) {
	kernel, alloc := newTables(t, false, 64)
	const kva = uint64(arch.KernelBase) + 0x20_0000
	kopts := MapOpts{Access: arch.ReadWrite, Global: true}
	if _, err := kernel.Map(rng(kva, kva+arch.PageSize), 0x5000, kopts); err != nil {
		t.Fatal(err)
	}
	before := alloc.InUse()
	user, err := NewSharingKernel(alloc, Features{}, kernel)
	if err != nil {
		t.Fatal(err)
	}
	if pa, _, _, ok := user.Lookup(arch.Addr(kva)); !ok || pa != 0x5000 {
		t.Fatalf("shared kernel page: Lookup = %#x, %v; want 0x5000", pa, ok)
	}
	// Added after the sharing, under a root entry that existed before it.
	later := kva + 0x40_0000
	if _, err := kernel.Map(rng(later, later+arch.PageSize), 0x9000, kopts); err != nil {
		t.Fatal(err)
	}
	if pa, _, _, ok := user.Lookup(arch.Addr(later)); !ok || pa != 0x9000 {
		t.Fatalf("kernel page mapped after sharing: Lookup = %#x, %v; want 0x9000", pa, ok)
	}
	if _, err := user.Map(rng(0x40_0000, 0x40_2000), 0x7000, rw); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := kernel.Lookup(0x40_0000); ok {
		t.Fatal("a user mapping of the sharing address space shows in the kernel's")
	}
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"map", func() error { _, err := user.Map(rng(kva, kva+arch.PageSize), 0x6000, kopts); return err }},
		{"unmap", func() error { _, err := user.Unmap(rng(kva, kva+arch.PageSize)); return err }},
		{"protect", func() error {
			_, err := user.Protect(rng(kva, kva+arch.PageSize), MapOpts{Access: arch.Read})
			return err
		}},
	} {
		if err := op.do(); !errors.Is(err, ErrKernelAddress) {
			t.Errorf("%s of the shared kernel half: %v, want ErrKernelAddress", op.name, err)
		}
	}
	user.Release()
	if got := alloc.InUse(); got != before+1 {
		// The kernel's later mapping took one new level-1 table.
		t.Fatalf("after Release: %d tables in use, want %d (the kernel's alone)", got, before+1)
	}
	if pa, _, _, ok := kernel.Lookup(arch.Addr(later)); !ok || pa != 0x9000 {
		t.Fatalf("kernel page after the sharer's Release: Lookup = %#x, %v", pa, ok)
	}
}
