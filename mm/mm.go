package mm

import (
	"fmt"
	"sync"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/rangeset"
	"golang.org/x/sys/unix"
)

// MemoryFile is what mm needs from the memory behind private and anonymous
// mappings: a memmap.File it can allocate fresh, zeroed pages from. The
// MemoryFile of package memfile implements it; tests may use that one.
type MemoryFile interface {
	memmap.File
	// Allocate returns length bytes of fresh zeroed pages, each holding
	// one reference, or an error wrapping unix.ENOMEM.
	Allocate(length uint64, opts memfile.AllocOpts) (memmap.FileRange, error)
}

// Layout is where things go in the guest's address space.
type Layout struct {
	// MinAddr is the lowest address a mapping may occupy (Linux's
	// vm.mmap_min_addr). MAP_FIXED below it fails with EPERM.
	MinAddr arch.Addr
	// MmapBase is the top of the area searched, top-down, for mappings
	// placed by the kernel (mm->mmap_base).
	MmapBase arch.Addr
	// TopOfUser is the end of the user address space (TASK_SIZE).
	TopOfUser arch.Addr
	// StackTop is where MapStack ends the initial stack.
	StackTop arch.Addr
	// BottomUp is Linux's legacy layout (mmap_is_legacy: personality's
	// ADDR_COMPAT_LAYOUT): mappings the kernel places are searched for
	// bottom-up from MmapBase, which is then TASK_UNMAPPED_BASE
	// (LegacyLayout).
	BottomUp bool
}

// DefaultTopOfUser is Linux's TASK_SIZE on x86-64 with 4-level paging: the
// last page below the canonical hole is never mapped.
const DefaultTopOfUser = arch.MaxUserAddr - arch.PageSize

// DefaultLayout returns Linux's layout without randomisation: the stack at
// the top of user space, mmap_base 128 MiB below it (x86's mmap_base: the
// stack rlimit plus the guard gap, 9 MiB for the default 8 MiB limit,
// raised to its 128 MiB minimum), mmap_min_addr 64 KiB.
func DefaultLayout() Layout {
	top := DefaultTopOfUser
	return Layout{
		MinAddr:   0x10000,
		MmapBase:  top - (128 << 20),
		TopOfUser: top,
		StackTop:  top,
	}
}

// LegacyLayout is DefaultLayout with x86-64's legacy mmap layout, which
// Linux picks at exec for a program whose personality has
// ADDR_COMPAT_LAYOUT: mmap_base is TASK_UNMAPPED_BASE, a third of the
// user address space, and searches go bottom-up from it (without
// randomisation).
func LegacyLayout() Layout {
	l := DefaultLayout()
	l.MmapBase, l.BottomUp = legacyMmapBase(l.TopOfUser), true
	return l
}

// Limits are the resource limits mm enforces, in bytes; Unlimited is
// RLIM_INFINITY.
type Limits struct {
	// AS is RLIMIT_AS: the most address space all vmas may span.
	AS uint64
	// Data is RLIMIT_DATA: the most private writable non-stack memory
	// (and, for brk, the heap plus the data segment).
	Data uint64
	// MemLock is RLIMIT_MEMLOCK: the most memory mlock may lock.
	MemLock uint64
	// Stack is RLIMIT_STACK: MapStack's initial size and the most a
	// grows-down stack may grow to.
	Stack uint64
	// MaxMapCount is vm.max_map_count: the most vmas.
	MaxMapCount int
	// CapIPCLock lifts MemLock, as CAP_IPC_LOCK does (for comparing with a
	// privileged host process).
	CapIPCLock bool
	// Overcommit is the policy mmap and brk follow for committed memory;
	// the zero value checks nothing.
	Overcommit Overcommit
}

// DefaultLimits returns Linux's default limits for an unprivileged process.
func DefaultLimits() Limits {
	return Limits{AS: Unlimited, Data: Unlimited, MemLock: DefaultMLockLimit,
		Stack: DefaultStackLimit, MaxMapCount: DefaultMaxMapCount}
}

// Options configure New.
type Options struct {
	// MemoryFile backs private and anonymous memory. Required.
	MemoryFile MemoryFile
	// AddressSpace is programmed with the mappings mm establishes; nil
	// leaves memory reachable only through CopyIn/CopyOut.
	AddressSpace AddressSpace
	// FaultAround is the unit private anonymous faults allocate and map:
	// a power of two from one page up; 0 means 2 MiB.
	FaultAround uint64
	// Layout; the zero value means DefaultLayout().
	Layout Layout
	// Limits; nil means DefaultLimits().
	Limits *Limits
	// NoZeroPage makes a read fault on private anonymous memory allocate
	// a page, as a Linux kernel booted with pvm_no_zero_page=1 does,
	// instead of mapping the shared zero page (see zeropage.go). For
	// comparing mm with such a host; programs want the default.
	NoZeroPage bool
	// Interrupted, when set, is asked between steps of a populate
	// (MAP_POPULATE, mlock, mlockall, MADV_POPULATE_*, a locked mremap's
	// growth) whether to stop: true ends it early, with EINTR where the
	// call reports populate's errors, as a pending fatal signal ends
	// Linux's. It is called with mm's locks held and must not call mm.
	Interrupted func() bool
	// CopyOnWriteChanged, when set, checks copy-on-write: each private
	// page a fork shares is copied aside, and when it stops being shared
	// a page that changed meanwhile is reported to CopyOnWriteChanged (see
	// sharedPageCheck). The MemoryManagers forked from this one share the
	// check. For tests: it doubles the memory of shared pages. It is
	// called with mm's locks held and must not call mm.
	CopyOnWriteChanged func(error)
}

// MemoryManager is a guest address space: its vmas (what the program asked
// for) and pmas (what backs them), kept with Linux's semantics. All exported
// methods are safe for concurrent use. See doc.go for the lock order.
type MemoryManager struct {
	// mf, faultAround, layout and zeroPage never change after New.
	mf          MemoryFile
	faultAround uint64
	layout      Layout
	// zeroPage: read faults on private anonymous memory map zeroChunk
	// (Options.NoZeroPage unset).
	zeroPage bool
	// interrupted is Options.Interrupted, or nil.
	interrupted func() bool

	// privateRefs counts, per page of mf, how many pmas (in this
	// MemoryManager and those forked from it) share private memory. It has
	// its own lock and is shared with forks.
	privateRefs *privateRefs

	// mappingMu guards vmas and the fields below it (Linux's mmap_lock).
	mappingMu sync.RWMutex

	// vmas are the virtual memory areas. Invariants: every vma is
	// page-aligned, non-empty and within [layout.MinAddr, layout.TopOfUser)
	// (MAP_FIXED below MinAddr is refused); no two adjacent vmas are
	// mergeable (mergeVMAs) after a syscall returns, except where Linux
	// too keeps them apart: the vma MREMAP_DONTUNMAP leaves behind keeps
	// its bounds after losing its lock.
	vmas *rangeset.Set[arch.Addr, vma]

	// brk is the heap: [start_brk, brk). brk.End need not be page-aligned;
	// the heap's vmas end at brk.End rounded up. Guarded by mappingMu.
	brk arch.AddrRange
	// dataSeg is the loader's data segment, counted against RLIMIT_DATA
	// by brk (start_data, end_data). Guarded by mappingMu.
	dataSeg arch.AddrRange
	// stackStart is the address MapStack placed the initial stack's top
	// at (start_stack), for naming "[stack]". Guarded by mappingMu.
	stackStart arch.Addr

	// usageAS is vmas.Span(); lockedAS the bytes of vmas with
	// mlockMode != MLockNone; dataAS the bytes of private writable
	// non-stack vmas (Linux's data_vm); stackAS the bytes of grows-down
	// vmas; execAS the bytes of executable, not writable, non-stack vmas
	// (exec_vm). All guarded by mappingMu and updated with every vma
	// change.
	usageAS  uint64
	lockedAS uint64
	dataAS   uint64
	stackAS  uint64
	execAS   uint64

	// code is the program's code as exec found it, [start_code,
	// end_code): from the lowest executable segment's start to the
	// highest one's file end, not page-aligned. Guarded by mappingMu.
	code arch.AddrRange

	// defMLockMode is the lock mode of new vmas (mlockall MCL_FUTURE).
	// Guarded by mappingMu.
	defMLockMode memmap.MLockMode

	// limits are the resource limits. Guarded by mappingMu.
	limits Limits

	// flags are the prctl settings (mmflags.go). Guarded by mappingMu.
	flags mmFlags

	// nextAnonVMA numbers anon_vma identities (see vma.anonVMA). Guarded
	// by mappingMu for writing vmas; it is only incremented with activeMu
	// also held (faults create anon_vmas under mappingMu's read lock).
	nextAnonVMA uint64

	// eventMu guards eventWaits: the userfaultfd event messages queued
	// by calls on this address space that their callers have not taken
	// to wait on yet (TakeEventWaits). Innermost of mm's locks.
	eventMu    sync.Mutex
	eventWaits []*UserFaultWait

	// activeMu guards pmas, as and the RSS counters (Linux's
	// page_table_lock). It is taken after mappingMu.
	activeMu sync.Mutex

	// pmas are the platform mapping areas: which File pages back which
	// addresses. Invariants: every pma is page-aligned and lies within
	// a vma; each pma holds one File reference on every page it maps, and
	// a private pma also counts once in privateRefs. Guarded by activeMu.
	pmas *rangeset.Set[arch.Addr, pma]

	// as is the AddressSpace mappings are programmed into; nil when there
	// is none. Every AddressSpace mapping lies within a pma and permits no
	// more than the pma's effectivePerms. Guarded by activeMu.
	as AddressSpace

	// guardBytes is the bytes of guard pmas (MADV_GUARD_INSTALL), so
	// that faults and copies look for guards only while there are some.
	// Guarded by activeMu.
	guardBytes uint64

	// curRSS is pmas.Span() less guard and zero pmas; maxRSS its peak.
	// Guarded by activeMu.
	curRSS uint64
	maxRSS uint64

	// faults counts HandleUserFault calls that installed memory; mapCalls
	// counts AddressSpace.MapFile calls. Guarded by activeMu; for tests
	// and statistics.
	faults   uint64
	mapCalls uint64

	// zeroChunk is 2 MiB of zeroed MemoryFile pages, 2 MiB-aligned, that
	// never-written private anonymous memory reads through (see
	// zeropage.go); empty until first needed. This MemoryManager holds
	// one reference on it besides those its zero pmas hold. Guarded by
	// activeMu.
	zeroChunk memmap.FileRange
}

// New returns an empty MemoryManager.
func New(opts Options) (*MemoryManager, error) {
	if opts.MemoryFile == nil {
		return nil, fmt.Errorf("mm: New: no MemoryFile: %w", unix.EINVAL)
	}
	unit := opts.FaultAround
	if unit == 0 {
		unit = arch.HugePageSize
	}
	if unit < arch.PageSize || unit&(unit-1) != 0 {
		return nil, fmt.Errorf("mm: New: fault-around unit %#x is not a power of two of at least a page: %w", unit, unix.EINVAL)
	}
	layout := opts.Layout
	if layout == (Layout{}) {
		layout = DefaultLayout()
	}
	if err := checkLayout(layout); err != nil {
		return nil, err
	}
	limits := DefaultLimits()
	if opts.Limits != nil {
		limits = *opts.Limits
	}
	mm := &MemoryManager{
		mf:          opts.MemoryFile,
		faultAround: unit,
		layout:      layout,
		privateRefs: newPrivateRefs(sharedPageCheckFor(opts)),
		vmas:        newVMASet(),
		pmas:        newPMASet(),
		as:          opts.AddressSpace,
		limits:      limits,
		zeroPage:    !opts.NoZeroPage,
		interrupted: opts.Interrupted,
	}
	return mm, nil
}

// sharedPageCheckFor is the check opts ask for, or nil.
func sharedPageCheckFor(opts Options) *sharedPageCheck {
	if opts.CopyOnWriteChanged == nil {
		return nil
	}
	return &sharedPageCheck{mf: opts.MemoryFile, report: opts.CopyOnWriteChanged, copies: map[uint64][]byte{}}
}

// checkLayout rejects layouts whose addresses are out of order or unaligned.
func checkLayout(l Layout) error {
	switch {
	case !l.MinAddr.IsPageAligned() || !l.MmapBase.IsPageAligned() || !l.TopOfUser.IsPageAligned() || !l.StackTop.IsPageAligned():
		return fmt.Errorf("mm: layout %+v is not page-aligned: %w", l, unix.EINVAL)
	case l.TopOfUser > arch.MaxUserAddr || l.MmapBase > l.TopOfUser || l.StackTop > l.TopOfUser || l.MinAddr >= l.MmapBase:
		return fmt.Errorf("mm: layout %+v is out of order: %w", l, unix.EINVAL)
	}
	return nil
}

// Layout returns the layout mm was created with.
func (mm *MemoryManager) Layout() Layout { return mm.layout }

// Limits returns the current resource limits.
func (mm *MemoryManager) Limits() Limits {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	return mm.limits
}

// SetLimits replaces the resource limits (setrlimit). Existing mappings are
// kept even if they exceed the new limits, as in Linux.
func (mm *MemoryManager) SetLimits(l Limits) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.limits = l
}

// SetAddressSpace installs as (which may be nil) as the AddressSpace mm
// programs; mappings are then established on demand, by faults.
func (mm *MemoryManager) SetAddressSpace(as AddressSpace) {
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if mm.as != nil {
		all := arch.AddrRange{Start: 0, End: mm.layout.TopOfUser}
		mm.settleLocked(all)
		mm.as.Unmap(all)
	}
	mm.as = as
}

// Release unmaps everything, dropping every reference mm holds on memory
// and Mappables, and releases the AddressSpace. mm is empty afterwards and
// may be reused.
func (mm *MemoryManager) Release() {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.unmapLocked(arch.AddrRange{Start: 0, End: mm.layout.TopOfUser})
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if mm.as != nil {
		mm.as.Release()
		mm.as = nil
	}
	if mm.zeroChunk.Length() != 0 {
		mm.mf.DecRef(mm.zeroChunk)
		mm.zeroChunk = memmap.FileRange{}
	}
}
