package mmdiff

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The window: every host operation stays inside [Base, Base+Size). Base
// lies in a part of the x86-64 user address space that neither Go's heap
// (arena hints at 0x00c0<<32 + n TiB), the race detector's shadow and
// metadata (0x2000.. to 0x4000<<32) nor the top-down mmap area (below the
// stack, near 0x7fxx<<32) use; NewHost checks that it is free.
const (
	Base uint64 = 0x4200_0000_0000
	Size uint64 = 256 << 20

	pageSize = 4096
	// taskSize is Linux's x86-64 TASK_SIZE with 4-level paging: no vma
	// lies at or above it.
	taskSize uint64 = 1<<47 - pageSize
	// lowLimit bounds the low addresses the generator uses as hostile
	// arguments; nothing is ever mapped below it (vm.mmap_min_addr and the
	// executable's load address are above).
	lowLimit uint64 = 0x10000
	// guardSize is the PROT_NONE shared mapping at each end of the window,
	// so that an mremap growing in place or a hint cannot leave it (the
	// system under test has the window's ends as its own limits).
	guardSize = pageSize

	madvSoftOffline = 101

	// maxAccess bounds the length of a Read, Write or Zero.
	maxAccess = 16 << 20
)

// ErrUnsafe is returned for an operation that could reach memory outside
// the window on the host; the generator never makes one.
var ErrUnsafe = errors.New("mmdiff: operation could touch host memory outside the window")

var hostInUse sync.Mutex

// Host drives the test process's own memory manager within the window.
// Only one Host exists at a time (the window is fixed); Close releases it.
type Host struct {
	mapsFD   int
	statusFD int
	smapsFD  int // opened on first use
	// ioFD is a memfd that Read, Write and Zero ops copy through
	// (pwrite from the window, pread into it), so that the host kernel's
	// own copies to and from user memory decide their outcome. Its first
	// maxAccess bytes hold data; the next maxAccess are a hole that Zero
	// reads.
	ioFD   int
	buf    []byte
	closed bool
	// lacking holds the features the probes found missing (set once by
	// NewHost), and omissions says what that leaves out, for the log.
	lacking   FeatureSet
	omissions []string
	// zeroPage: the host maps the zero page on read faults (probeZeroPage).
	zeroPage bool
	// thpWas is the process's THP-disable setting before open turned THP
	// off; Close puts it back.
	thpWas uintptr
}

var _ System = (*Host)(nil)

// NewHost checks that the window and its guards are free in
// /proc/self/maps and maps the guards.
func NewHost() (*Host, error) {
	if !hostInUse.TryLock() {
		return nil, errors.New("mmdiff: another Host holds the window")
	}
	h := &Host{mapsFD: -1, statusFD: -1, smapsFD: -1, ioFD: -1, buf: make([]byte, 64<<10)}
	if err := h.open(); err != nil {
		h.closeFDs()
		hostInUse.Unlock()
		return nil, err
	}
	return h, nil
}

func (h *Host) open() error {
	var err error
	if h.mapsFD, err = unix.Open("/proc/self/maps", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("mmdiff: open /proc/self/maps: %w", err)
	}
	if h.statusFD, err = unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("mmdiff: open /proc/self/status: %w", err)
	}
	if h.ioFD, err = unix.MemfdCreate("mmdiff-io", unix.MFD_CLOEXEC); err != nil {
		return fmt.Errorf("mmdiff: memfd for reads and writes: %w", err)
	}
	if err := unix.Ftruncate(h.ioFD, 2*maxAccess); err != nil {
		return fmt.Errorf("mmdiff: size the memfd: %w", err)
	}
	text, err := h.readProc(h.mapsFD)
	if err != nil {
		return err
	}
	busy, err := ParseMaps(text, 0, lowLimit)
	if err != nil {
		return err
	}
	near, err := ParseMaps(text, Base-guardSize, Base+Size+guardSize)
	if err != nil {
		return err
	}
	if len(busy)+len(near) != 0 {
		return fmt.Errorf("mmdiff: the window or the low hostile range is in use:\n%s%s", FormatLayout(busy), FormatLayout(near))
	}
	// Without THP the host's read faults take the small zero page's path,
	// the one mm follows: Linux's huge zero page fault, where THP applies,
	// prepares an anon_vma that the small one does not, and merges differ.
	was, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_THP_DISABLE, 0, 0)
	if e != 0 {
		return fmt.Errorf("mmdiff: prctl(PR_GET_THP_DISABLE): %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_THP_DISABLE, 1, 0); e != 0 {
		return fmt.Errorf("mmdiff: prctl(PR_SET_THP_DISABLE): %w", e)
	}
	h.thpWas = was
	results, err := probeHost()
	if err != nil {
		return err
	}
	h.lacking, h.omissions = lackingFrom(kernelRelease(), results)
	if h.zeroPage, err = probeZeroPage(); err != nil {
		return err
	}
	for _, g := range []uint64{Base - guardSize, Base + Size} {
		if _, e := rawMMap(g, guardSize, unix.PROT_NONE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, -1, 0); e != 0 {
			return fmt.Errorf("mmdiff: map the window's guard at %#x: %w", g, e)
		}
	}
	return nil
}

// Lacking returns the features of Linux 6.18 the host kernel lacks, as
// its probes found them (a real call each on a scratch mapping in the
// window); Run leaves out the operations that need them.
func (h *Host) Lacking() FeatureSet { return h.lacking }

// Omissions returns one line for each feature the host lacks, naming the
// kernel, the call that failed and what the generator leaves out; none on
// a host with all of them.
func (h *Host) Omissions() []string { return h.omissions }

// Reset unmaps everything in the window (which also unlocks it).
func (h *Host) Reset() error {
	if _, _, e := unix.RawSyscall(unix.SYS_MUNMAP, uintptr(Base), uintptr(Size), 0); e != 0 {
		return fmt.Errorf("mmdiff: unmap the window: %w", e)
	}
	ms, err := h.Layout()
	if err != nil {
		return err
	}
	if len(ms) != 0 {
		return fmt.Errorf("mmdiff: window not empty after reset:\n%s", FormatLayout(ms))
	}
	return nil
}

// Close unmaps the window and its guards and lets another Host exist.
func (h *Host) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	defer hostInUse.Unlock()
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_THP_DISABLE, h.thpWas, 0)
	_, _, e := unix.RawSyscall(unix.SYS_MUNMAP, uintptr(Base-guardSize), uintptr(Size+2*guardSize), 0)
	h.closeFDs()
	if e != 0 {
		return fmt.Errorf("mmdiff: unmap the window: %w", e)
	}
	return nil
}

func (h *Host) closeFDs() {
	for _, fd := range []*int{&h.mapsFD, &h.statusFD, &h.smapsFD, &h.ioFD} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// readProc reads a whole /proc file from offset 0 into h.buf, growing it
// as needed.
func (h *Host) readProc(fd int) ([]byte, error) {
	for {
		n := 0
		for {
			m, err := unix.Pread(fd, h.buf[n:], int64(n))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("mmdiff: read /proc: %w", err)
			}
			if m == 0 {
				return h.buf[:n], nil
			}
			n += m
			if n == len(h.buf) {
				break
			}
		}
		h.buf = make([]byte, 2*len(h.buf))
	}
}

// Layout returns the host's mappings within the window.
func (h *Host) Layout() ([]Mapping, error) {
	text, err := h.readProc(h.mapsFD)
	if err != nil {
		return nil, err
	}
	return ParseMaps(text, Base, Base+Size)
}

// VmLck returns the process's locked bytes (VmLck of /proc/self/status):
// cheap, but not exact, for Linux's accounting can keep counting memory
// that is no longer locked (mremap with MREMAP_DONTUNMAP of a locked vma
// counts it twice and leaks the excess), so it only bounds what the
// generator locks.
func (h *Host) VmLck() uint64 {
	text, err := h.readProc(h.statusFD)
	if err != nil {
		return 0
	}
	i := bytes.Index(text, []byte("VmLck:"))
	if i < 0 {
		return 0
	}
	f := bytes.Fields(text[i+len("VmLck:"):])
	if len(f) < 1 {
		return 0
	}
	kb, _ := strconv.ParseUint(string(f[0]), 10, 64)
	return kb << 10
}

// LockedBytes returns the bytes of the window's vmas that are mlocked
// ("lo" in /proc/self/smaps's VmFlags). Reading smaps walks the page
// tables of the whole process (about a millisecond), so the runner asks
// only after calls that lock and now and then.
func (h *Host) LockedBytes() (uint64, bool) {
	if h.smapsFD < 0 {
		fd, err := unix.Open("/proc/self/smaps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, false
		}
		h.smapsFD = fd
	}
	text, err := h.readProc(h.smapsFD)
	if err != nil {
		return 0, false
	}
	n, err := lockedInSMaps(text, Base, Base+Size)
	return n, err == nil
}

// lockedInSMaps sums the bytes within [lo, hi) of the vmas of smaps text
// whose VmFlags include "lo".
func lockedInSMaps(text []byte, lo, hi uint64) (uint64, error) {
	var total uint64
	var cur Mapping
	inside := false
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if len(line) > 0 && isHexDigit(line[0]) {
			m, err := parseMapsLine(string(line))
			if err != nil {
				return 0, err
			}
			cur, inside = m, m.End > lo && m.Start < hi
			continue
		}
		if inside && bytes.HasPrefix(line, []byte("VmFlags:")) {
			for _, f := range bytes.Fields(line[len("VmFlags:"):]) {
				if string(f) == "lo" {
					total += min(cur.End, hi) - max(cur.Start, lo)
				}
			}
		}
	}
	return total, nil
}

func isHexDigit(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

func rawMMap(addr, length uint64, prot, flags, fd int, off uint64) (uint64, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_MMAP, uintptr(addr), uintptr(length), uintptr(prot), uintptr(flags), uintptr(fd), uintptr(off))
	if e != 0 {
		return 0, e
	}
	return uint64(r), 0
}

func errnoOf(_, _ uintptr, e unix.Errno) unix.Errno { return e }

// MMap is mmap(2) on the host. A mapping Linux places outside the window
// (no hint, or a hint it could not honour) is left there for the caller to
// Remap.
func (h *Host) MMap(addr, length uint64, prot, flags, fd int, off uint64) (uint64, unix.Errno) {
	mustBeSafe(MMap(addr, length, prot, flags, fd, off))
	return rawMMap(addr, length, prot, flags, fd, off)
}

// MUnmap is munmap(2) on the host.
func (h *Host) MUnmap(addr, length uint64) unix.Errno {
	mustBeSafe(MUnmap(addr, length))
	return errnoOf(unix.RawSyscall(unix.SYS_MUNMAP, uintptr(addr), uintptr(length), 0))
}

// MRemap is mremap(2) on the host; a moved mapping may land outside the
// window, for the caller to Relocate.
func (h *Host) MRemap(oldAddr, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, unix.Errno) {
	mustBeSafe(MRemap(oldAddr, oldLen, newLen, flags, newAddr))
	r, _, e := unix.RawSyscall6(unix.SYS_MREMAP, uintptr(oldAddr), uintptr(oldLen), uintptr(newLen), uintptr(flags), uintptr(newAddr), 0)
	if e != 0 {
		return 0, e
	}
	return uint64(r), 0
}

// MProtect is mprotect(2) on the host.
func (h *Host) MProtect(addr, length uint64, prot int) unix.Errno {
	mustBeSafe(MProtect(addr, length, prot))
	return errnoOf(unix.RawSyscall(unix.SYS_MPROTECT, uintptr(addr), uintptr(length), uintptr(prot)))
}

// Madvise is madvise(2) on the host.
func (h *Host) Madvise(addr, length uint64, advice int) unix.Errno {
	mustBeSafe(Madvise(addr, length, advice))
	return errnoOf(unix.RawSyscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(advice)))
}

// MLock is mlock2(2) on the host.
func (h *Host) MLock(addr, length uint64, flags int) unix.Errno {
	mustBeSafe(MLock(addr, length, flags))
	return errnoOf(unix.RawSyscall(unix.SYS_MLOCK2, uintptr(addr), uintptr(length), uintptr(flags)))
}

// MUnlock is munlock(2) on the host.
func (h *Host) MUnlock(addr, length uint64) unix.Errno {
	mustBeSafe(MUnlock(addr, length))
	return errnoOf(unix.RawSyscall(unix.SYS_MUNLOCK, uintptr(addr), uintptr(length), 0))
}

// MSync is msync(2) on the host.
func (h *Host) MSync(addr, length uint64, flags int) unix.Errno {
	mustBeSafe(MSync(addr, length, flags))
	return errnoOf(unix.RawSyscall(unix.SYS_MSYNC, uintptr(addr), uintptr(length), uintptr(flags)))
}

// MinCore is mincore(2) on the host.
func (h *Host) MinCore(addr, length uint64, vec []byte) unix.Errno {
	mustBeSafe(MinCore(addr, length))
	if len(vec) < VecLen(addr, length) {
		panic("mmdiff: mincore vector too short")
	}
	return errnoOf(unix.RawSyscall(unix.SYS_MINCORE, uintptr(addr), uintptr(length), uintptr(unsafe.Pointer(&vec[0]))))
}

// Relocate moves the host mapping [from, from+length) to [to, to+length)
// with mremap(MREMAP_FIXED): it puts a mapping Linux placed outside the
// window where the system under test placed it. The caller has checked
// that the destination is free.
func (h *Host) Relocate(from, length, to uint64) error {
	if !inWindow(to, length) {
		return fmt.Errorf("mmdiff: relocate to [%#x, +%#x): %w", to, length, ErrUnsafe)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_MREMAP, uintptr(from), uintptr(length), uintptr(length), unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, uintptr(to), 0)
	if e != 0 {
		return fmt.Errorf("mmdiff: relocate [%#x, +%#x) to %#x: %w", from, length, to, e)
	}
	if uint64(r) != to {
		return fmt.Errorf("mmdiff: relocate to %#x landed at %#x", to, r)
	}
	return nil
}

// Remap replaces the host mapping [from, from+length), which mmap placed
// outside the window, with a fresh mapping of the same arguments at to
// (MAP_FIXED_NOREPLACE). Moving the placed mapping instead would carry
// over what it picked up outside the window: merged with a neighbour of
// the test process's own (Go runtime memory, say), it would keep that
// neighbour's anon_vma and page offset, and then fail to merge in the
// window where Linux, mapping there directly, would have merged it. A
// fresh mapping is what mmap at to would have made. The caller has checked
// that the destination is free.
func (h *Host) Remap(from, length, to uint64, prot, flags, fd int, off uint64) error {
	if !inWindow(to, length) {
		return fmt.Errorf("mmdiff: remap to [%#x, +%#x): %w", to, length, ErrUnsafe)
	}
	if err := h.unmapOutside(from, length); err != nil {
		return fmt.Errorf("mmdiff: remap: unmap [%#x, +%#x): %w", from, length, err)
	}
	flags = flags&^unix.MAP_FIXED | unix.MAP_FIXED_NOREPLACE
	r, e := rawMMap(to, length, prot, flags, fd, off)
	if e != 0 {
		return fmt.Errorf("mmdiff: remap [%#x, +%#x) at %#x: %w", from, length, to, e)
	}
	if r != to {
		_ = h.unmapOutside(r, length)
		return fmt.Errorf("mmdiff: remap at %#x landed at %#x", to, r)
	}
	return nil
}

// CopyOut writes src at addr with the host kernel's copy to user memory:
// pread(2) from a memfd holding src into the window. The kernel faults as
// the program would (a hole within reach of a grows-down vma grows it) and
// stops at the first page it cannot write. It returns the bytes written,
// with EFAULT if that is short, as System says.
func (h *Host) CopyOut(addr uint64, src []byte) (int, unix.Errno) {
	if len(src) == 0 {
		return 0, 0
	}
	if !inWindow(addr, uint64(len(src))) || len(src) > maxAccess {
		return 0, unix.EFAULT
	}
	if e := h.ioAll(unix.SYS_PWRITE64, src); e != 0 {
		panic(fmt.Sprintf("mmdiff: fill the memfd: %v", e))
	}
	return h.kernelCopy(unix.SYS_PREAD64, 0, addr, len(src))
}

// CopyIn reads into dst from addr with the host kernel's copy from user
// memory: pwrite(2) from the window into a memfd, then the bytes the
// kernel copied from the memfd into dst.
func (h *Host) CopyIn(addr uint64, dst []byte) (int, unix.Errno) {
	if len(dst) == 0 {
		return 0, 0
	}
	if !inWindow(addr, uint64(len(dst))) || len(dst) > maxAccess {
		return 0, unix.EFAULT
	}
	n, e := h.kernelCopy(unix.SYS_PWRITE64, 0, addr, len(dst))
	if e2 := h.ioAll(unix.SYS_PREAD64, dst[:n]); e2 != 0 {
		panic(fmt.Sprintf("mmdiff: read the memfd back: %v", e2))
	}
	return n, e
}

// ZeroOut clears n bytes at addr with the host kernel's copy of zeros to
// user memory: pread(2) of the memfd's hole into the window (not a read of
// /dev/zero, which stops early when a signal, such as the Go runtime's
// preemption, is pending). It returns what CopyOut does.
func (h *Host) ZeroOut(addr, n uint64) (int, unix.Errno) {
	if n == 0 {
		return 0, 0
	}
	if !inWindow(addr, n) || n > maxAccess {
		return 0, unix.EFAULT
	}
	return h.kernelCopy(unix.SYS_PREAD64, maxAccess, addr, int(n))
}

// kernelCopy makes the system call nr (pread64 or pwrite64) on the memfd
// at offset off with n bytes of the window at addr as its buffer, and
// returns what System's CopyIn and CopyOut return: the bytes the kernel
// copied, with EFAULT if that is short (a short count: it stopped at a
// fault after copying something; EFAULT: it copied nothing). Neither call
// stops early for a signal that is not fatal.
func (h *Host) kernelCopy(nr uintptr, off int64, addr uint64, n int) (int, unix.Errno) {
	for {
		r, _, e := unix.Syscall6(nr, uintptr(h.ioFD), uintptr(addr), uintptr(n), uintptr(off), 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EFAULT:
			return 0, unix.EFAULT
		case e != 0:
			panic(fmt.Sprintf("mmdiff: copy with system call %d at %#x: %v", nr, addr, e))
		case int(r) < n:
			return int(r), unix.EFAULT
		}
		return n, 0
	}
}

// ioAll reads (pread64) or writes (pwrite64) all of b at offset 0 of the
// memfd: b is Go memory, so only a harness bug can make that fail.
func (h *Host) ioAll(nr uintptr, b []byte) unix.Errno {
	for done := 0; done < len(b); {
		var n int
		var err error
		if nr == unix.SYS_PWRITE64 {
			n, err = unix.Pwrite(h.ioFD, b[done:], int64(done))
		} else {
			n, err = unix.Pread(h.ioFD, b[done:], int64(done))
		}
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			var e unix.Errno
			if !errors.As(err, &e) {
				e = unix.EIO
			}
			return e
		case n == 0:
			return unix.EIO
		}
		done += n
	}
	return 0
}

// peek reads into b from the window at addr with plain loads, page by
// page, while the layout ms (the host's current one) says the page is
// readable (on x86-64 any of r, w, x makes it so): for comparing contents,
// which must not change the layout. Read ops use CopyIn instead.
func (h *Host) peek(ms []Mapping, addr uint64, b []byte) (int, unix.Errno) {
	if !inWindow(addr, uint64(len(b))) {
		return 0, unix.EFAULT
	}
	done := 0
	for done < len(b) {
		a := addr + uint64(done)
		m, ok := find(ms, a)
		if !ok || !m.Perms.Effective().Read {
			return done, unix.EFAULT
		}
		// Page by page: a page the layout allows can still fault (a
		// guard page of MADV_GUARD_INSTALL, which maps never show; SIGBUS
		// past the end of a shared object that mremap grew), and then
		// the copy stops at that page, as the kernel's does.
		n := int(min(uint64(len(b)-done), pageSize-a%pageSize))
		if err := hostAccess(a, b[done:done+n], false); err != nil {
			return done, unix.EFAULT
		}
		done += n
	}
	return done, 0
}

// hostAccess copies between b and host memory at addr. A fault (a guard
// page, a page past the end of its object, or a harness bug) comes back as
// an error instead of killing the test.
func hostAccess(addr uint64, b []byte, write bool) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fault: %v", r)
		}
	}()
	mem := hostBytes(addr, len(b))
	if write {
		copy(mem, b)
	} else {
		copy(b, mem)
	}
	return nil
}

// hostBytes views n bytes of the host's memory at addr. The memory is
// outside Go's heap, so the garbage collector and race detector ignore it.
func hostBytes(addr uint64, n int) []byte {
	p := uintptr(addr)
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&p))), n)
}

func mustBeSafe(op Op) {
	if err := Safe(op); err != nil {
		panic(fmt.Sprintf("%v: %v", op, err))
	}
}

// Safe reports whether op can run on the host without reaching memory
// outside the window. Each address range an op names must be inside the
// window, or be one Linux rejects or finds empty before walking into
// anything: a range whose page-rounded end wraps past 2^64, a range at or
// above TASK_SIZE, or (except for mappings at fixed addresses, which root
// may create there) a range below lowLimit.
func Safe(op Op) error {
	switch op.Kind {
	case KindMMap:
		if op.Flags&(unix.MAP_FIXED|unix.MAP_FIXED_NOREPLACE) != 0 && !safeRange(op.Addr, op.Len, false) {
			return ErrUnsafe
		}
		if op.Flags&unix.MAP_ANONYMOUS == 0 && op.FD != -1 {
			return ErrUnsafe // only anonymous memory: never map the test's own files
		}
		if op.Flags&0x40 != 0 { // MAP_32BIT: placement below 2 GiB
			return ErrUnsafe
		}
	case KindMRemap:
		if !safeRange(op.Addr, op.Len, true) {
			return ErrUnsafe
		}
		if op.Flags&unix.MREMAP_FIXED != 0 && !safeRange(op.NewAddr, op.NewLen, false) {
			return ErrUnsafe
		}
	case KindWrite, KindRead, KindZero:
		if !inWindow(op.Addr, op.Len) || op.Len > maxAccess {
			return ErrUnsafe
		}
	case KindMadvise:
		switch op.Flags {
		case unix.MADV_HWPOISON, madvSoftOffline:
			return ErrUnsafe
		}
		fallthrough
	default:
		if !safeRange(op.Addr, op.Len, true) {
			return ErrUnsafe
		}
	}
	return nil
}

func safeRange(addr, length uint64, lowOK bool) bool {
	if length == 0 || inWindow(addr, length) {
		return true
	}
	if addr >= taskSize {
		return true
	}
	// addr+length past 2^64 (so the page-rounded end wraps too): every
	// call rejects it before looking at a vma.
	if length > math.MaxUint64-addr {
		return true
	}
	return lowOK && addr < lowLimit && addr+length <= lowLimit
}

// inWindow reports whether [addr, addr+length), page-rounded, lies in the
// window.
func inWindow(addr, length uint64) bool {
	return addr >= Base && addr < Base+Size && length <= Base+Size-addr &&
		(addr+length+pageSize-1)&^(pageSize-1) <= Base+Size
}
