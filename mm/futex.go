package mm

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

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

// LoadFutexWord reads the 32-bit word at addr, which must be 4-byte
// aligned, in one atomic load, as futex's value check reads it, faulting
// it in; EFAULT where the program cannot read addr.
func (mm *MemoryManager) LoadFutexWord(addr arch.Addr) (uint32, error) {
	var v uint32
	err := mm.withFutexWord(addr, arch.Read, func(w *uint32) { v = atomic.LoadUint32(w) })
	return v, err
}

// ModifyFutexWord replaces the 32-bit word at addr, which must be 4-byte
// aligned, by op of its value in one atomic step against every other
// access (a compare-and-swap loop, so op may run more than once), as
// FUTEX_WAKE_OP's futex_atomic_op_inuser does; it returns the value
// replaced. The access is a write: it breaks copy-on-write, and is EFAULT
// where the program cannot write addr.
func (mm *MemoryManager) ModifyFutexWord(addr arch.Addr, op func(old uint32) uint32) (uint32, error) {
	var old uint32
	err := mm.withFutexWord(addr, arch.Write, func(w *uint32) {
		for {
			old = atomic.LoadUint32(w)
			if atomic.CompareAndSwapUint32(w, old, op(old)) {
				return
			}
		}
	})
	return old, err
}

// withFutexWord calls fn on the host view of the aligned word at addr
// after checking the access at, under mm's locks (withMemory): an aligned
// word never crosses a page, so it is one piece.
func (mm *MemoryManager) withFutexWord(addr arch.Addr, at arch.AccessType, fn func(w *uint32)) error {
	if addr%4 != 0 {
		return unix.EINVAL
	}
	_, err := mm.withMemory(addr, 4, at, IOOpts{}, func(b []byte, _ int) {
		fn((*uint32)(unsafe.Pointer(&b[0])))
	})
	return err
}
