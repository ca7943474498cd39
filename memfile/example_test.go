package memfile_test

import (
	"fmt"

	"github.com/mmvm/mmvm/memfile"
)

func Example() {
	f, err := memfile.New(memfile.Options{Limit: 64 << 20, GuestPhysBase: 1 << 30})
	if err != nil {
		panic(err)
	}
	defer f.Close()

	// 2 MiB or more: 2 MiB-aligned, so KVM can map it with a huge page.
	fr, err := f.Allocate(2<<20, memfile.AllocOpts{Kind: memfile.User, Populate: true})
	if err != nil {
		panic(err)
	}
	copy(f.Slice(fr), "hello") // Go writes guest memory in place
	fmt.Printf("guest-physical %#x, aligned %v\n", f.GuestPhysical(fr.Start), f.GuestPhysical(fr.Start)%(2<<20) == 0)

	f.DecRef(fr) // last reference: the memory goes back to the host
	s := f.Stats()
	fmt.Println("allocated", s.Allocated, "peak", s.Peak, "backed", s.Backed)
	// Output:
	// guest-physical 0x40000000, aligned true
	// allocated 0 peak 2097152 backed 0
}
