package mm_test

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
	"golang.org/x/sys/unix"
)

// A MemoryManager over a MemoryFile, without a VM: mmap a private anonymous
// range, take the write fault the guest's first store would take, copy
// bytes in and out as a system call would, and print the address space as
// /proc/self/maps shows it. The FakeAddressSpace stands in for the page
// tables a machine.Machine programs.
func Example() {
	mf, err := memfile.New(memfile.Options{Limit: 64 << 20, Name: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mf.Close()
	m, err := mm.New(mm.Options{MemoryFile: mf, AddressSpace: mm.NewFakeAddressSpace()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Release()

	addr, err := m.MMap(0x1000_0000, 4*arch.PageSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.HandleUserFault(addr, arch.Write); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.CopyOut(addr+8, []byte("hello"), mm.IOOpts{}); err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 5)
	if _, err := m.CopyIn(addr+8, buf, mm.IOOpts{}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s at %v\n", buf, addr+8)
	fmt.Print(m.Maps())
	// Output:
	// hello at 0x10000008
	// 10000000-10004000 rw-p 00000000 00:00 0
}
