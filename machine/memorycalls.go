package machine

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/syscalls"
)

// memoryCalls serves the memory system calls from mm, which has all of
// syscalls.MemoryCalls but MMap: a file-backed mmap maps the Mappable
// syscalls found behind the fd (nil where there is none: mm answers
// EBADF). It is also the guest's memory as user accesses see it.
type memoryCalls struct{ *mm.MemoryManager }

var _ syscalls.MemoryCalls = memoryCalls{}
var _ syscalls.Memory = memoryCalls{}

// mm reads and modifies futex words atomically (FutexMemory).
var _ syscalls.FutexMemory = memoryCalls{}

func (c memoryCalls) CopyIn(addr arch.Addr, dst []byte) (int, error) {
	return c.MemoryManager.CopyIn(addr, dst, mm.IOOpts{})
}

func (c memoryCalls) CopyOut(addr arch.Addr, src []byte) (int, error) {
	return c.MemoryManager.CopyOut(addr, src, mm.IOOpts{})
}

func (c memoryCalls) MMap(addr, length, prot, flags uint64, file *syscalls.MmapFile, off uint64) (arch.Addr, error) {
	var mf *mm.MappedFile
	if file != nil {
		mf = &mm.MappedFile{Mappable: file.Mappable, Identity: file.Identity, Readable: file.Readable, Writable: file.Writable}
	}
	return c.MemoryManager.MMap(addr, length, prot, flags, mf, off)
}
