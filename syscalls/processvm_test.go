package syscalls

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// edgeAddr is an address off bytes below the end of a mapping followed
// by an unmapped page, on both sides: the end of the test process's
// flat memory, and a host page whose next page is unmapped.
type edgeAddr struct {
	host []byte
	off  int
}

func (e edgeAddr) values(w *twin) (uint64, uint64) {
	return uint64(base + len(w.mem.mem) - e.off), uint64(uintptr(unsafe.Pointer(&e.host[0])) + uintptr(len(e.host)-e.off))
}

// TestProcessVMMatchesHost makes process_vm_readv and process_vm_writev
// of the calling process on both sides: the argument checks in Linux's
// order, copies between differently cut iovecs, a remote buffer that
// runs into an unmapped page (a partial copy, or EFAULT with nothing
// moved), a local one that does, and the remote process not found.
func TestProcessVMMatchesHost(t *testing.T) {
	w := newTwin(t)
	m, err := unix.Mmap(-1, 0, 2*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&m[pg])), pg, 0); e != 0 {
		t.Fatal(e)
	}
	hostEdge := m[:pg]
	for i := range 16 {
		hostEdge[pg-16+i] = byte(0xa0 + i)
		w.mem.mem[len(w.mem.mem)-16+i] = byte(0xa0 + i)
	}
	// iovecs at 0x100 onwards (past the compared bytes: they hold
	// host addresses); the data at 0 to 0x40.
	iov := func(off int, a twinArg, n uint64) {
		g, h := a.values(w)
		le := binary.LittleEndian
		le.PutUint64(w.guestBuf()[off:], g)
		le.PutUint64(w.guestBuf()[off+8:], n)
		le.PutUint64(w.host[off:], h)
		le.PutUint64(w.host[off+8:], n)
	}
	src := make([]byte, 0x20)
	for i := range src {
		src[i] = byte(i + 1)
	}
	w.set(0x80, src)
	w.set(0, make([]byte, 0x40))
	// local: 5 bytes at 0, 11 at 0x10; remote: 3 at 0x80, 13 at 0x90.
	iov(0x100, buf(0), 5)
	iov(0x110, buf(0x10), 11)
	iov(0x180, buf(0x80), 3)
	iov(0x190, buf(0x90), 13)
	r := func(what string, lcnt, rcnt, flags uint64) {
		t.Helper()
		w.call(what, unix.SYS_PROCESS_VM_READV, selfPID{}, buf(0x100), num(lcnt), buf(0x180), num(rcnt), num(flags))
	}
	wr := func(what string, lcnt, rcnt, flags uint64) {
		t.Helper()
		w.call(what, unix.SYS_PROCESS_VM_WRITEV, selfPID{}, buf(0x100), num(lcnt), buf(0x180), num(rcnt), num(flags))
	}
	r("readv 5+11 from 3+13", 2, 2, 0)
	r("flags 1", 2, 2, 1)
	r("liovcnt 1025", 1025, 2, 0)
	r("riovcnt 1025", 2, 1025, 0)
	w.set(0, make([]byte, 0x40))
	r("riovcnt 1: 3 bytes", 2, 1, 0)
	r("liovcnt 0", 0, 2, 0)
	w.call("local iovecs from a fault", unix.SYS_PROCESS_VM_READV, selfPID{}, faultAddr{}, num(1), buf(0x180), num(2), num(0))
	w.call("remote iovecs from a fault", unix.SYS_PROCESS_VM_READV, selfPID{}, buf(0x100), num(1), faultAddr{}, num(2), num(0))
	w.call("no pid, no bytes asked", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x100), num(0), buf(0x180), num(2), num(0))
	w.call("no pid", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x100), num(2), buf(0x180), num(2), num(0))
	w.call("pid 0", unix.SYS_PROCESS_VM_READV, num(0), buf(0x100), num(2), buf(0x180), num(2), num(0))
	w.call("pid -1", unix.SYS_PROCESS_VM_READV, num(1<<32-1), buf(0x100), num(2), buf(0x180), num(2), num(0))
	w.call("no pid, remote iovecs from a fault", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x100), num(2), faultAddr{}, num(2), num(0))
	w.call("no pid, flags 2", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x100), num(2), buf(0x180), num(2), num(2))
	iov(0x1a0, buf(0x90), 0)
	w.call("no pid, remote buffers empty", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x100), num(2), buf(0x1a0), num(1), num(0))
	iov(0x1a0, buf(0x90), 1<<63)
	w.call("no pid, negative remote length", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x100), num(2), buf(0x1a0), num(1), num(0))
	iov(0x120, buf(0x10), 1<<63)
	w.call("negative local length", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x120), num(1), buf(0x180), num(2), num(0))
	iov(0x120, num(0x7ffffffff000-8), 8)
	w.call("local buffer ending at TASK_SIZE", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x120), num(1), buf(0x180), num(2), num(0))
	iov(0x120, num(0x7ffffffff000-7), 8)
	w.call("local buffer ending past TASK_SIZE", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x120), num(1), buf(0x180), num(2), num(0))
	iov(0x120, num(0x7ffffffff000), 0)
	w.call("empty local buffer at TASK_SIZE", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x120), num(1), buf(0x180), num(2), num(0))
	iov(0x120, num(0x7ffffffff001), 0)
	iov(0x130, buf(0), 8)
	w.call("empty local buffer past TASK_SIZE", unix.SYS_PROCESS_VM_READV, num(1<<22+7), buf(0x120), num(2), buf(0x180), num(2), num(0))

	// A remote buffer running into an unmapped page: the bytes before.
	w.set(0, make([]byte, 0x40))
	iov(0x120, buf(0), 0x40)
	iov(0x1a0, edgeAddr{hostEdge, 16}, 32)
	iov(0x1b0, buf(0x80), 8)
	w.call("remote runs into a hole", unix.SYS_PROCESS_VM_READV, selfPID{}, buf(0x120), num(1), buf(0x1a0), num(2), num(0))
	iov(0x1a0, edgeAddr{hostEdge, 0}, 32)
	w.call("remote in a hole", unix.SYS_PROCESS_VM_READV, selfPID{}, buf(0x120), num(1), buf(0x1a0), num(2), num(0))
	iov(0x1a0, buf(0x80), 4)
	iov(0x1b0, faultAddr{}, 4)
	iov(0x1c0, buf(0x84), 4)
	w.call("second remote faults", unix.SYS_PROCESS_VM_READV, selfPID{}, buf(0x120), num(1), buf(0x1a0), num(3), num(0))
	// A local buffer running into an unmapped page.
	iov(0x120, edgeAddr{hostEdge, 4}, 16)
	iov(0x1a0, buf(0x80), 16)
	w.call("local runs into a hole", unix.SYS_PROCESS_VM_READV, selfPID{}, buf(0x120), num(1), buf(0x1a0), num(1), num(0))
	w.same("the edge", 0, 0x40)

	// writev: local 0x80.. to remote 0x00..
	w.set(0, make([]byte, 0x40))
	iov(0x100, buf(0x80), 7)
	iov(0x110, buf(0x87), 9)
	iov(0x180, buf(0x8), 10)
	iov(0x190, buf(0x20), 10)
	wr("writev 7+9 to 10+10", 2, 2, 0)
	iov(0x190, edgeAddr{hostEdge, 6}, 10)
	wr("writev into a hole", 2, 2, 0)
	iov(0x100, edgeAddr{hostEdge, 3}, 7)
	iov(0x180, buf(0x30), 10)
	wr("writev from a local hole", 1, 1, 0)
	if g, h := w.mem.mem[len(w.mem.mem)-16:], hostEdge[pg-16:]; string(g) != string(h) {
		t.Errorf("the edges differ: mmvm % x, host % x", g, h)
	}
}
