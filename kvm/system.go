package kvm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DevicePath is where Open looks for KVM.
const DevicePath = "/dev/kvm"

// fdHandle owns one file descriptor. Close is idempotent and safe against
// concurrent use: the first Close wins, later operations see ErrClosed.
type fdHandle struct {
	mu sync.RWMutex
	fd int // guarded by mu; -1 once closed
}

// get returns the fd with the read lock held; release with h.mu.RUnlock.
func (h *fdHandle) get() (int, error) {
	h.mu.RLock()
	if h.fd < 0 {
		h.mu.RUnlock()
		return -1, ErrClosed
	}
	return h.fd, nil
}

func (h *fdHandle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 {
		return nil
	}
	err := unix.Close(h.fd)
	h.fd = -1
	return err
}

// ioctl runs an ioctl with an integer (or no) argument.
func (h *fdHandle) ioctl(op string, req, arg uintptr) (uintptr, error) {
	fd, err := h.get()
	if err != nil {
		return 0, err
	}
	defer h.mu.RUnlock()
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if e != 0 {
		return 0, &IoctlError{Op: op, Err: e}
	}
	return r, nil
}

// ioctlPtr runs an ioctl whose argument points at memory the kernel reads or
// writes. p stays a pointer until the call so the garbage collector keeps
// (and, for stack objects, tracks) what it points at.
func (h *fdHandle) ioctlPtr(op string, req uintptr, p unsafe.Pointer) (uintptr, error) {
	fd, err := h.get()
	if err != nil {
		return 0, err
	}
	defer h.mu.RUnlock()
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
	if e != 0 {
		return 0, &IoctlError{Op: op, Err: e}
	}
	return r, nil
}

// System is an open /dev/kvm: the handle for system-wide queries and for
// creating VMs.
type System struct {
	h fdHandle
	// runSize is KVM_GET_VCPU_MMAP_SIZE, fixed for the system's life.
	runSize int
}

// Open opens /dev/kvm and checks that it speaks API version 12 and has
// every capability in RequiredCapabilities. Every failure wraps
// ErrUnavailable and says what to do.
func Open() (*System, error) { return OpenPath(DevicePath) }

// OpenPath is Open for a device node at another path (tests use it).
func OpenPath(path string) (*System, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openErrorFor(path, err)
	}
	s := &System{h: fdHandle{fd: fd}}
	if err := s.checkUsable(path); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkUsable is Open's argument check: API version, capabilities, run size.
func (s *System) checkUsable(path string) error {
	v, err := s.h.ioctl("KVM_GET_API_VERSION", reqGetAPIVersion, 0)
	if err != nil {
		return &OpenError{Path: path, Err: err, Hint: "not a KVM device?"}
	}
	if v != APIVersion {
		return &OpenError{Path: path, Err: fmt.Errorf("API version %d, want %d", v, APIVersion),
			Hint: "this kernel's KVM is too old or too new for mmvm"}
	}
	var missing []Capability
	for _, c := range RequiredCapabilities {
		if n, err := s.CheckExtension(c); err != nil || n <= 0 {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &OpenError{Path: path, Err: fmt.Errorf("missing capabilities %v", missing),
			Hint: "mmvm needs a Linux 4.11 or later KVM"}
	}
	size, err := s.h.ioctl("KVM_GET_VCPU_MMAP_SIZE", reqGetVCPUMmapSize, 0)
	if err != nil {
		return &OpenError{Path: path, Err: err, Hint: "KVM_GET_VCPU_MMAP_SIZE failed"}
	}
	if size < unsafe.Sizeof(runData{}) {
		return &OpenError{Path: path, Err: fmt.Errorf("vCPU mapping of %d bytes is smaller than struct kvm_run (%d)", size, unsafe.Sizeof(runData{})),
			Hint: "unsupported kernel"}
	}
	s.runSize = int(size)
	return nil
}

// Close closes /dev/kvm. VMs created from s stay usable.
func (s *System) Close() error { return s.h.close() }

// CheckExtension returns KVM_CHECK_EXTENSION's answer for c: 0 when absent,
// otherwise 1 or a capability-specific number (slots, a size, a bit mask).
func (s *System) CheckExtension(c Capability) (int, error) {
	r, err := s.h.ioctl("KVM_CHECK_EXTENSION("+c.String()+")", reqCheckExtension, uintptr(c))
	return int(r), err
}

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID: every CPUID leaf KVM can
// present to a guest, with the bits it can virtualise. Pass it (or an edited
// copy) to VCPU.SetCPUID.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	for n := 128; n <= 1<<14; n *= 2 {
		buf := newCPUIDBuffer(n)
		_, err := s.h.ioctlPtr("KVM_GET_SUPPORTED_CPUID", reqGetSupportedCPUID, buf.ptr())
		if errors.Is(err, unix.E2BIG) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf.entries(), nil
	}
	return nil, &IoctlError{Op: "KVM_GET_SUPPORTED_CPUID", Err: unix.E2BIG}
}

// MSRIndexList returns KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and
// restores for a vCPU.
func (s *System) MSRIndexList() ([]uint32, error) {
	for n := 256; n <= 1<<14; n *= 2 {
		buf := make([]uint32, 1+n)
		buf[0] = uint32(n)
		_, err := s.h.ioctlPtr("KVM_GET_MSR_INDEX_LIST", reqGetMSRIndexList, unsafe.Pointer(&buf[0]))
		if errors.Is(err, unix.E2BIG) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[1 : 1+buf[0]], nil
	}
	return nil, &IoctlError{Op: "KVM_GET_MSR_INDEX_LIST", Err: unix.E2BIG}
}

// cpuidBuffer is struct kvm_cpuid2 with room for n entries, held in uint64s
// so that it is 8-byte aligned.
type cpuidBuffer []uint64

const cpuidEntryWords = int(unsafe.Sizeof(CPUIDEntry{}) / 8)

func newCPUIDBuffer(n int) cpuidBuffer {
	b := make(cpuidBuffer, 1+n*cpuidEntryWords)
	*(*uint32)(unsafe.Pointer(&b[0])) = uint32(n)
	return b
}

func (b cpuidBuffer) ptr() unsafe.Pointer { return unsafe.Pointer(&b[0]) }

func (b cpuidBuffer) nent() int { return int(*(*uint32)(unsafe.Pointer(&b[0]))) }

func (b cpuidBuffer) entries() []CPUIDEntry {
	all := unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&b[1])), (len(b)-1)/cpuidEntryWords)
	return append([]CPUIDEntry(nil), all[:b.nent()]...)
}

func cpuidBufferOf(entries []CPUIDEntry) cpuidBuffer {
	b := newCPUIDBuffer(len(entries))
	copy(unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&b[1])), len(entries)), entries)
	return b
}

// FindCPUID returns the entry for (function, index) in entries: the one
// with that index if its flags make the index significant, else the one
// for the function.
func FindCPUID(entries []CPUIDEntry, function, index uint32) (CPUIDEntry, bool) {
	for _, e := range entries {
		if e.Function != function {
			continue
		}
		if e.Flags&CPUIDFlagSignificantIndex == 0 || e.Index == index {
			return e, true
		}
	}
	return CPUIDEntry{}, false
}

// Available reports whether /dev/kvm can be opened and used here, with the
// reason when it cannot. Tests call it to decide whether to skip.
func Available() error {
	s, err := Open()
	if err != nil {
		return err
	}
	return s.Close()
}

// pageSize is the host page size, which memory slots must be aligned to.
var pageSize = uint64(os.Getpagesize())

// Implementation names the module behind this host's /dev/kvm, as
// /sys/module shows it: "kvm_pvm" (PVM, where a guest's ring 0 runs
// emulated instruction by instruction and each one costs microseconds),
// "kvm_intel" (VT-x), "kvm_amd" (SVM), or "" when there is no /dev/kvm,
// no such module, or sysfs cannot tell (a host can load kvm_pvm and still
// give a process no /dev/kvm). It only informs choices of speed, never of
// correctness.
func Implementation() string {
	if _, err := os.Stat(devKVMPath); err != nil {
		return ""
	}
	for _, name := range []string{"kvm_pvm", "kvm_intel", "kvm_amd"} {
		if _, err := os.Stat(filepath.Join(sysModuleDir, name)); err == nil {
			return name
		}
	}
	return ""
}

// sysModuleDir and devKVMPath are where Implementation looks; variables
// for tests.
var (
	sysModuleDir = "/sys/module"
	devKVMPath   = "/dev/kvm"
)
