package syscalls

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The host side of the tests that compare with the host kernel passes it
// buffers by address, as uintptr. Go memory must not be used there: once
// converted, nothing keeps a heap object alive or a stack object in place
// (a stack moves when it grows), and a host call that writes through a
// stale address corrupts whatever lives there now. hostMem gives memory
// outside Go's heap and stacks instead: mmap'd chunks, never freed while
// the test binary runs.
var hostArena struct {
	sync.Mutex
	free []byte
}

// hostMemChunk is how much hostMem maps at a time.
const hostMemChunk = 4 << 20

// hostMem returns n zeroed bytes the host kernel may read and write by
// address for as long as the test binary runs, 16-byte aligned.
func hostMem(n int) []byte {
	hostArena.Lock()
	defer hostArena.Unlock()
	size := (n + 15) &^ 15
	if size > len(hostArena.free) {
		b, err := unix.Mmap(-1, 0, max(hostMemChunk, size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			panic("hostMem: " + err.Error())
		}
		hostArena.free = b
	}
	b := hostArena.free[:n:n]
	hostArena.free = hostArena.free[size:]
	return b
}

// hostAddr is the address of b's first byte, for a host call.
func hostAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
