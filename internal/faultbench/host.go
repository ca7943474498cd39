package faultbench

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// NativeTouch writes one byte to each 4 KiB page of size bytes of fresh
// private anonymous host memory, from Go: the host kernel's own first-touch
// fault path. With thp the range asks for transparent huge pages.
func NativeTouch(size uint64, thp bool) (Touch, error) {
	// 2 MiB of slack to align the range, as THP needs.
	raw, err := unix.Mmap(-1, 0, int(size+arch.HugePageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return Touch{}, fmt.Errorf("faultbench: native touch: mmap %d bytes: %w", size, err)
	}
	defer unix.Munmap(raw)
	base := uintptr(unsafe.Pointer(&raw[0]))
	skip := (arch.HugePageSize - uint64(base)%arch.HugePageSize) % arch.HugePageSize
	b := raw[skip : skip+size]
	advice := unix.MADV_NOHUGEPAGE
	if thp {
		advice = unix.MADV_HUGEPAGE
	}
	// Without THP support in the kernel the advice fails; the touch is
	// then what the kernel does by default.
	_ = unix.Madvise(b, advice)
	start := time.Now()
	for i := uint64(0); i < size; i += arch.PageSize {
		b[i] = 1
	}
	return newTouch(size, time.Since(start), 0), nil
}

// userfaultfd ABI (linux/userfaultfd.h).
const (
	uffdAPI             = 0xAA
	uffdioAPI           = 0xc018aa3f // _IOWR(0xAA, 0x3F, struct uffdio_api)
	uffdioRegister      = 0xc020aa00 // _IOWR(0xAA, 0x00, struct uffdio_register)
	uffdioZeropage      = 0xc020aa04 // _IOWR(0xAA, 0x04, struct uffdio_zeropage)
	uffdRegisterMissing = 1
	uffdEventPagefault  = 0x12
	uffdMsgSize         = 32
)

type uffdioAPIArg struct{ API, Features, Ioctls uint64 }
type uffdioRegisterArg struct{ Start, Len, Mode, Ioctls uint64 }
type uffdioZeropageArg struct {
	Start, Len, Mode uint64
	Zeropage         int64
}

// ErrUserfaultfdRefused wraps the kernel's refusal of userfaultfd (not
// built in, or vm.unprivileged_userfaultfd=0 for a user without
// CAP_SYS_PTRACE): the baseline is then skipped with a note.
var ErrUserfaultfdRefused = errors.New("faultbench: the kernel refuses userfaultfd here")

// UserfaultfdRoundTrip reads one byte from each of n fresh pages registered
// with userfaultfd for missing pages; a goroutine on another thread answers
// each fault with UFFDIO_ZEROPAGE. Each page costs one full round trip:
// fault, wake the handler, ioctl, wake the faulting thread.
func UserfaultfdRoundTrip(n int) (Measure, error) {
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)
	if e != 0 {
		return Measure{}, fmt.Errorf("%w: userfaultfd: %v", ErrUserfaultfdRefused, e)
	}
	ufd := int(fd)
	defer unix.Close(ufd)
	api := uffdioAPIArg{API: uffdAPI}
	if err := ioctlPtr(ufd, uffdioAPI, unsafe.Pointer(&api)); err != nil {
		return Measure{}, fmt.Errorf("%w: UFFDIO_API: %v", ErrUserfaultfdRefused, err)
	}
	size := uint64(n) * arch.PageSize
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return Measure{}, fmt.Errorf("faultbench: userfaultfd: mmap: %w", err)
	}
	defer unix.Munmap(mem)
	_ = unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	reg := uffdioRegisterArg{Start: uint64(uintptr(unsafe.Pointer(&mem[0]))), Len: size, Mode: uffdRegisterMissing}
	if err := ioctlPtr(ufd, uffdioRegister, unsafe.Pointer(&reg)); err != nil {
		return Measure{}, fmt.Errorf("%w: UFFDIO_REGISTER: %v", ErrUserfaultfdRefused, err)
	}
	// The faulting goroutine blocks its thread inside the fault; the
	// handler needs a P of its own.
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	done := make(chan error, 1)
	go func() { done <- serveUserfaults(ufd, n) }()
	var h Histogram
	var sink byte
	start := time.Now()
	last := start
	for i := 0; i < n; i++ {
		sink += mem[uint64(i)*arch.PageSize]
		now := time.Now()
		h.Record(now.Sub(last))
		last = now
	}
	total := time.Since(start)
	if err := <-done; err != nil {
		return Measure{}, err
	}
	if sink != 0 {
		return Measure{}, errors.New("faultbench: userfaultfd: zero page read back non-zero")
	}
	return measureOf(&h, n, total), nil
}

// serveUserfaults answers n missing-page faults with the zero page.
func serveUserfaults(ufd, n int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var msg [uffdMsgSize]byte
	for served := 0; served < n; {
		if _, err := unix.Read(ufd, msg[:]); err != nil {
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			return fmt.Errorf("faultbench: userfaultfd: read: %w", err)
		}
		if msg[0] != uffdEventPagefault {
			continue
		}
		addr := *(*uint64)(unsafe.Pointer(&msg[16])) &^ arch.PageMask
		z := uffdioZeropageArg{Start: addr, Len: arch.PageSize}
		if err := ioctlPtr(ufd, uffdioZeropage, unsafe.Pointer(&z)); err != nil && err != unix.EEXIST {
			return fmt.Errorf("faultbench: UFFDIO_ZEROPAGE at %#x: %w", addr, err)
		}
		served++
	}
	return nil
}

func ioctlPtr(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}
