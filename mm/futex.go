package mm

import (
	"unsafe"

	"github.com/mmvm/mmvm/arch"
)

// FutexKey names the futex word at addr for a futex call without
// FUTEX_PRIVATE_FLAG, as Linux's get_futex_key does: a word in a private
// mapping belongs to this address space alone (shared false: its address
// names it); a word in a shared mapping is named by the memory behind it,
// id being the host address of its byte in the MemoryFile's mapping,
// which is the same at every guest address the page is mapped at. The
// word's page is faulted in for reading first, as Linux's lookup does;
// EFAULT where the program cannot read addr. The id is only meaningful
// while the page stays mapped, which is as long as Linux's key holds too.
func (mm *MemoryManager) FutexKey(addr arch.Addr) (id uint64, shared bool, err error) {
	var host uintptr
	if _, err := mm.withMemory(addr, 1, arch.Read, IOOpts{}, func(b []byte, _ int) {
		host = uintptr(unsafe.Pointer(&b[0]))
	}); err != nil {
		return 0, false, err
	}
	mm.mappingMu.RLock()
	vseg := mm.vmas.FindSegment(addr)
	shared = vseg.Ok() && !vseg.ValuePtr().private
	mm.mappingMu.RUnlock()
	if !shared {
		return uint64(addr), false, nil
	}
	return uint64(host), true, nil
}
