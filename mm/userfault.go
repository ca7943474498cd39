package mm

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// userfaultfd(2), the memory side: a UserFaultFD is Linux's struct
// userfaultfd_ctx. It serves the address space it was made in (its mm;
// Linux's ctx->mm), whichever process later holds the file.
//
// Registering (UFFDIO_REGISTER) marks vmas with the context and a mode
// (vma.uffd, vma.uffdModes). A fault in a MISSING-registered private
// anonymous vma that finds no pma does not allocate: getPMAsLocked
// returns errUserFault, and fault-around never reaches into such a vma
// (faultAroundVMA), so every missing page is the handler's to fill. In
// a MINOR-registered shmem vma the same holds for pages the object holds
// but the vma does not map yet (UFFDIO_CONTINUE maps them). In a
// WP-registered one, a write to a pma marked uffdWP (UFFDIO_WRITEPROTECT,
// UFFDIO_COPY_MODE_WP) is the handler's before any copy-on-write; such a
// pma is mapped without Write, and protecting one unmaps it from the
// AddressSpace first, which flushes every vCPU's TLB before the guest
// runs again. Pages never present carry no protection: as on a kernel
// without uffd-wp pte markers, only present private anonymous pages are
// protected.
//
// What blocks where:
//   - A user fault (HandleThreadFault) queues a message on the context,
//     with mm's locks still held as Linux's handle_userfault queues its
//     uwq before it drops mmap_lock, and returns a *UserFaultWait. The
//     machine then blocks the faulting thread, with no mm lock held,
//     through the syscalls package (Task.WaitUserFault), until the wait
//     is ready (a COPY, ZEROPAGE, WAKE or UNREGISTER covering it, or the
//     context's release) or the thread is interrupted: a signal (taken,
//     then the instruction faults again) or its end. Either way the
//     message is withdrawn (Cancel), and the fault is retried.
//   - A copy to or from user memory (CopyIn, CopyOut with
//     IOOpts.UserFaults) does the same at the first missing page: it
//     returns what it copied and a *UserFaultWait; the caller waits with
//     no mm lock held and copies the rest. Without IOOpts.UserFaults (the
//     loader, /proc/pid/mem, UFFDIO_COPY's own source) or where the
//     context answers faults with SIGBUS or only serves user-mode
//     faults, the copy stops there with EFAULT.
//   - Because the message is queued under mm's locks and a fill takes
//     them too before it wakes, a fill either precedes the fault (which
//     then finds the page) or wakes its wait.
//   - An event (fork, mremap's move, MADV_DONTNEED/REMOVE, munmap) of a
//     context that asked for it is queued under mappingMu and kept in
//     mm.eventWaits; the memory call that made it (the machine's, with
//     no lock held) takes them (TakeEventWaits) and waits until each is
//     read, as Linux's producer waits in userfaultfd_event_wait_completion.
//     mm.eventWaits is per address space, so two threads' memory calls
//     at once may each wait for the other's event.
//
// Lock order: MemoryManager.mappingMu, then activeMu, then
// UserFaultFD.mu, then MemoryManager.eventMu (innermost; nothing is
// called with either held). A shmem object's lock (hasPage, fillPage) is
// taken under activeMu, as Translate's.
// Registration (vma.uffd, vma.uffdModes) is guarded by mappingMu like the
// rest of the vma.

// UFFD features (uffdio_api.features) and register modes, from
// include/uapi/linux/userfaultfd.h.
const (
	UffdFeaturePagefaultWP  = 1 << 0
	UffdFeatureEventFork    = 1 << 1
	UffdFeatureEventRemap   = 1 << 2
	UffdFeatureEventRemove  = 1 << 3
	UffdFeatureEventUnmap   = 1 << 6
	UffdFeatureSigbus       = 1 << 7
	UffdFeatureThreadID     = 1 << 8
	UffdFeatureExactAddress = 1 << 11
	UffdFeatureMissingShmem = 1 << 5
	UffdFeatureMissingHuge  = 1 << 4
	UffdFeatureMinorHuge    = 1 << 9
	UffdFeatureMinorShmem   = 1 << 10

	UffdRegisterModeMissing = 1 << 0
	UffdRegisterModeWP      = 1 << 1
	UffdRegisterModeMinor   = 1 << 2

	UffdCopyModeDontWake     = 1 << 0
	UffdCopyModeWP           = 1 << 1
	UffdZeropageModeDontWake = 1 << 0
	UffdContinueModeDontWake = 1 << 0
	UffdContinueModeWP       = 1 << 1

	// UFFDIO_WRITEPROTECT's modes.
	UffdWriteProtectModeWP       = 1 << 0
	UffdWriteProtectModeDontWake = 1 << 1

	// UffdEventPagefault is uffd_msg.event of a page fault, and
	// UffdPagefaultFlagWrite its flag for a write access.
	UffdEventPagefault     = 0x12
	UffdEventFork          = 0x13
	UffdEventRemap         = 0x14
	UffdEventRemove        = 0x15
	UffdEventUnmap         = 0x16
	UffdPagefaultFlagWrite = 1 << 0
	UffdPagefaultFlagWP    = 1 << 1
	UffdPagefaultFlagMinor = 1 << 2

	// The UFFDIO ioctl numbers' low byte (_UFFDIO_*), whose bits the
	// ioctls masks of UFFDIO_API and UFFDIO_REGISTER set.
	uffdioRegister   = 0x00
	uffdioUnregister = 0x01
	uffdioWake       = 0x02
	uffdioCopy       = 0x03
	uffdioZeropage   = 0x04
	uffdioWriteProt  = 0x06
	uffdioContinue   = 0x07
	uffdioAPI        = 0x3F
)

// UffdFeatures are the features this implementation serves: UFFDIO_API
// reports them, and refuses any other bit (EINVAL).
// UFFD_FEATURE_PAGEFAULT_FLAG_WP is served as by a kernel with uffd-wp but
// without pte markers (CONFIG_PTE_MARKER_UFFD_WP): write protection of
// private anonymous memory's present pages only, so neither
// WP_HUGETLBFS_SHMEM, WP_UNPOPULATED nor WP_ASYNC is offered.
// MISSING_HUGETLBFS and MINOR_HUGETLBFS are offered as Linux offers them
// with an empty huge page pool: mmvm has none (MAP_HUGETLB, SHM_HUGETLB
// and MFD_HUGETLB fail), so no hugetlbfs range exists to register.
const UffdFeatures = UffdFeatureSigbus | UffdFeatureThreadID | UffdFeatureExactAddress | UffdFeatureMissingShmem |
	UffdFeatureEventFork | UffdFeatureEventRemap | UffdFeatureEventRemove | UffdFeatureEventUnmap |
	UffdFeaturePagefaultWP | UffdFeatureMinorShmem | UffdFeatureMissingHuge | UffdFeatureMinorHuge

// UffdAPIIoctls is what UFFDIO_API reports as uffdio_api.ioctls, and
// uffdRangeIoctls what UFFDIO_REGISTER reports as usable on the range:
// the ioctls implemented here; a WP registration adds
// UFFDIO_WRITEPROTECT (uffdWPIoctl), a MINOR one UFFDIO_CONTINUE
// (uffdContinueIoctl).
const (
	UffdAPIIoctls     = 1<<uffdioRegister | 1<<uffdioUnregister | 1<<uffdioAPI
	uffdRangeIoctls   = 1<<uffdioWake | 1<<uffdioCopy | 1<<uffdioZeropage
	uffdWPIoctl       = 1 << uffdioWriteProt
	uffdContinueIoctl = 1 << uffdioContinue
)

// UserFaultFD is a userfaultfd context: what the vmas registered with it
// report their faults to, and the queue of faults waiting for its
// handler. All methods are safe for concurrent use.
type UserFaultFD struct {
	// mm is the address space the context serves; userModeOnly is
	// UFFD_USER_MODE_ONLY (faults of kernel accesses, copies, get
	// SIGBUS's EFAULT); onQueue is called by a waiter once its fault is
	// queued (UserFaultWait.Notify). None changes after NewUserFaultFD.
	mm           *MemoryManager
	userModeOnly bool
	onQueue      func()

	// mu guards the fields below.
	mu sync.Mutex
	// features are the features UFFDIO_API enabled; initialized says
	// UFFDIO_API succeeded (Linux's UFFD_FEATURE_INITIALIZED bit).
	features    uint64
	initialized bool
	// released: the file was closed; vmas are unregistered and faults
	// no longer wait.
	released bool
	// pending are the faults no read has returned yet, oldest first;
	// read those a read returned, waiting for a wake. A wait is in at
	// most one of them, and in neither once ready.
	pending []*UserFaultWait
	read    []*UserFaultWait
	// events are the unread event messages (fork, remap, remove,
	// unmap), oldest first; a read returns them after the faults, as
	// Linux's event_wqh. Each one's producer waits until it is read.
	events []*UserFaultWait
}

// NewUserFaultFD makes a context serving mm (userfaultfd(2)).
// userModeOnly is UFFD_USER_MODE_ONLY. onQueue, if set, is called by
// UserFaultWait.Notify, with whatever locks the waiter holds but no mm
// lock: it tells the file's readers that a message is there.
func (mm *MemoryManager) NewUserFaultFD(userModeOnly bool, onQueue func()) *UserFaultFD {
	return &UserFaultFD{mm: mm, userModeOnly: userModeOnly, onQueue: onQueue}
}

// UserFaultWait is a fault on a registered range that waits for the
// context's handler. It is the error a fault or copy returns; errors.Is(w,
// unix.EFAULT) holds, so a caller that does not wait fails as a copy of
// unmapped memory does.
type UserFaultWait struct {
	ctx *UserFaultFD
	// addr is the page that faulted; exact the faulting address; write
	// says it was a write; reason is 0 for a missing page, else the
	// message's UFFD_PAGEFAULT_FLAG_WP or _MINOR (errUserFault.reason);
	// tid the faulting thread (0 if unknown).
	addr   arch.Addr
	exact  arch.Addr
	write  bool
	reason uint64
	tid    int32
	// event is 0 for a page fault, else the event message's event, arg
	// its argument, and child, for a fork, the child's context.
	event uint8
	arg   [3]uint64
	child *UserFaultFD
	// ready is closed when the wait ends (ctx.mu).
	ready chan struct{}
}

func (w *UserFaultWait) Error() string {
	return fmt.Sprintf("userfault at %v waits for its handler", w.exact)
}

// Unwrap makes the wait an EFAULT to callers that do not wait.
func (w *UserFaultWait) Unwrap() error { return unix.EFAULT }

// Ready is closed when the fault may be retried.
func (w *UserFaultWait) Ready() <-chan struct{} { return w.ready }

// Notify tells the context's readers that the fault is queued.
func (w *UserFaultWait) Notify() {
	w.ctx.mu.Lock()
	f := w.ctx.onQueue
	w.ctx.mu.Unlock()
	if f != nil {
		f()
	}
}

// Cancel withdraws the fault's message if no wake took it yet: the
// faulting thread stopped waiting (Linux removes the uwq when
// handle_userfault returns, read or not).
func (w *UserFaultWait) Cancel() {
	u := w.ctx
	u.mu.Lock()
	defer u.mu.Unlock()
	u.finishLocked(w)
}

// finishLocked takes w off the queues and makes it ready. u.mu is held.
func (u *UserFaultFD) finishLocked(w *UserFaultWait) {
	u.pending = slices.DeleteFunc(u.pending, func(x *UserFaultWait) bool { return x == w })
	u.read = slices.DeleteFunc(u.read, func(x *UserFaultWait) bool { return x == w })
	u.events = slices.DeleteFunc(u.events, func(x *UserFaultWait) bool { return x == w })
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
}

// UserFaultWaitOf returns the wait err carries, if any.
func UserFaultWaitOf(err error) (*UserFaultWait, bool) {
	// Every fault and copy asks, so the chain is walked by hand: the
	// target errors.As takes escapes, an allocation each time.
	for ; err != nil; err = errors.Unwrap(err) {
		if w, ok := err.(*UserFaultWait); ok {
			return w, true
		}
	}
	return nil, false
}

// errUserFault is getPMAsLocked's account of a fault a userfaultfd
// handles: a missing page in a MISSING-registered vma (reason 0), a write
// to a write-protected page in a WP-registered one (UffdPagefaultFlagWP),
// or a page the shmem object holds but the vma does not map yet in a
// MINOR-registered one (UffdPagefaultFlagMinor). The caller decides
// whether to queue a message and wait, or to fail.
type errUserFault struct {
	ctx    *UserFaultFD
	addr   arch.Addr
	reason uint64
}

func (e *errUserFault) Error() string {
	switch e.reason {
	case UffdPagefaultFlagWP:
		return fmt.Sprintf("write to a write-protected page at %v in a userfaultfd range", e.addr)
	case UffdPagefaultFlagMinor:
		return fmt.Sprintf("minor fault at %v in a userfaultfd range", e.addr)
	}
	return fmt.Sprintf("missing page at %v in a userfaultfd range", e.addr)
}
func (e *errUserFault) Unwrap() error { return unix.EFAULT }

// userFaultOf returns the missing page err reports, if it is one.
func userFaultOf(err error) (*errUserFault, bool) {
	for ; err != nil; err = errors.Unwrap(err) {
		if e, ok := err.(*errUserFault); ok {
			return e, true
		}
	}
	return nil, false
}

// gapsGoToHandler reports whether faults on v's missing pages go to a
// userfaultfd, or (MINOR) those on pages its shmem object holds that v
// does not map yet: either way each page is the handler's to map, and
// the fault maps nothing around it.
func (v *vma) gapsGoToHandler() bool {
	return v.uffd != nil && v.uffdModes&(UffdRegisterModeMissing|UffdRegisterModeMinor) != 0
}

// queueLocked queues a message for the fault uf at addr (a user access
// if user, a write if write) and returns its wait; or, where the context does not wait, the
// error the fault gets: SIGBUS (UFFD_FEATURE_SIGBUS, or a kernel access
// under UFFD_USER_MODE_ONLY) or, for a released context, nil (the fault
// is retried, as Linux's VM_FAULT_NOPAGE).
//
// Preconditions: mm.mappingMu and mm.activeMu are locked.
func (u *UserFaultFD) queueLocked(uf *errUserFault, addr arch.Addr, write, user bool, tid int32) (*UserFaultWait, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.features&UffdFeatureSigbus != 0 || (u.userModeOnly && !user) {
		return nil, errUserFaultBus
	}
	w := &UserFaultWait{ctx: u, addr: addr.RoundDown(), exact: addr, write: write, reason: uf.reason, ready: make(chan struct{})}
	if u.features&UffdFeatureThreadID != 0 {
		w.tid = tid
	}
	if u.released {
		close(w.ready)
		return w, nil
	}
	u.pending = append(u.pending, w)
	return w, nil
}

// errUserFaultBus is the error of a fault a userfaultfd answers with
// SIGBUS.
var errUserFaultBus = fmt.Errorf("mm: userfaultfd answers with SIGBUS: %w", unix.EFAULT)

// API serves UFFDIO_API: features are the features asked for. It returns
// the features available (UffdFeatures), and EINVAL for a bit outside
// them or a second successful call, as Linux 6.18.
func (u *UserFaultFD) API(features uint64) (uint64, error) {
	if features&^UffdFeatures != 0 {
		return 0, unix.EINVAL
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.initialized {
		return 0, unix.EINVAL
	}
	u.features, u.initialized = features, true
	return UffdFeatures, nil
}

// Initialized reports whether UFFDIO_API succeeded: until then the other
// ioctls and read are EINVAL and poll is EPOLLERR.
func (u *UserFaultFD) Initialized() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.initialized
}

func (u *UserFaultFD) Pending() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.pending) > 0 || len(u.events) > 0
}

// ReadMessage takes the oldest unread message, a page fault before any
// event: its uffd_msg event and the three 64-bit words of its argument
// (for a page fault: flags, address, and the thread id in the low half of
// the third), and for UFFD_EVENT_FORK the child's context, whose fd the
// reader gets (arg's first word's low half is for it). An event is
// complete once read: its producer goes on. ok is false if none waits.
func (u *UserFaultFD) ReadMessage() (event uint8, arg [3]uint64, child *UserFaultFD, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) == 0 {
		if len(u.events) == 0 {
			return 0, arg, nil, false
		}
		w := u.events[0]
		u.finishLocked(w)
		return w.event, w.arg, w.child, true
	}
	w := u.pending[0]
	u.pending = u.pending[1:]
	u.read = append(u.read, w)
	addr := w.addr
	if u.features&UffdFeatureExactAddress != 0 {
		addr = w.exact
	}
	if w.write {
		arg[0] = UffdPagefaultFlagWrite
	}
	arg[0] |= w.reason
	arg[1] = uint64(addr)
	arg[2] = uint64(uint32(w.tid))
	return UffdEventPagefault, arg, nil, true
}

// SetNotify sets what Notify calls (see NewUserFaultFD), for a forked
// context whose file is made when its event is read.
func (u *UserFaultFD) SetNotify(onQueue func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.onQueue = onQueue
}

// Pending reports whether a message waits to be read.
// wake ends the waits of faults on pages in ar, read or not (Linux's
// wake_userfault with userfaultfd_wake_function).
func (u *UserFaultFD) wake(ar arch.AddrRange) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, q := range [][]*UserFaultWait{slices.Clone(u.pending), slices.Clone(u.read)} {
		for _, w := range q {
			if ar.Contains(w.addr) {
				u.finishLocked(w)
			}
		}
	}
}

// Release is the last close of the file (userfaultfd_release): every vma
// registered with the context is unregistered, and every waiting fault
// retried.
func (u *UserFaultFD) Release() {
	mm := u.mm
	mm.mappingMu.Lock()
	all := arch.AddrRange{Start: 0, End: mm.layout.TopOfUser}
	for vseg := mm.vmas.FirstSegment(); vseg.Ok(); vseg = vseg.NextSegment() {
		if v := vseg.ValuePtr(); v.uffd == u {
			mm.clearUffdWPLocked(v, vseg.Range())
			v.uffd, v.uffdModes = nil, 0
		}
	}
	mm.vmas.MergeRange(all)
	mm.mappingMu.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.released = true
	for _, w := range slices.Concat(u.pending, u.read, u.events) {
		u.finishLocked(w)
		if w.child != nil {
			defer w.child.Release() // an unread fork's context goes too
		}
	}
}

// queueEventLocked queues an event message on u if u asked for it
// (feature), and records its wait for the caller of the operation to
// wait on (TakeEventWaits), as Linux's producer waits until the event is
// read.
//
// Preconditions: mm.mappingMu is locked (the context's mm's, or for a
// fork the parent's).
func (mm *MemoryManager) queueEventLocked(u *UserFaultFD, feature uint64, event uint8, arg [3]uint64, child *UserFaultFD) {
	u.mu.Lock()
	if u.features&feature == 0 || u.released {
		u.mu.Unlock()
		return
	}
	w := &UserFaultWait{ctx: u, event: event, arg: arg, child: child, ready: make(chan struct{})}
	u.events = append(u.events, w)
	u.mu.Unlock()
	mm.eventMu.Lock()
	mm.eventWaits = append(mm.eventWaits, w)
	mm.eventMu.Unlock()
}

// wantsEvent reports whether u asked for the event feature.
func (u *UserFaultFD) wantsEvent(feature uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.features&feature != 0
}

// TakeEventWaits returns, and forgets, the event messages the calls made
// so far queued (fork, mremap, madvise, munmap): the caller, a system
// call about to return, waits for each to be read, with no mm lock held.
func (mm *MemoryManager) TakeEventWaits() []*UserFaultWait {
	mm.eventMu.Lock()
	defer mm.eventMu.Unlock()
	ws := mm.eventWaits
	mm.eventWaits = nil
	return ws
}

// forkUserFaultLocked is dup_userfaultfd for the child's copy of v: a
// context with UFFD_FEATURE_EVENT_FORK gets a child context (one per
// parent context, in ctxs), registered on the child's vma, and a fork
// event; any other registration is dropped.
//
// Preconditions: mm.mappingMu is locked (the parent's).
func (mm *MemoryManager) forkUserFaultLocked(child *MemoryManager, v *vma, ctxs map[*UserFaultFD]*UserFaultFD) {
	if v.uffd == nil {
		return
	}
	parent := v.uffd
	if !parent.wantsEvent(UffdFeatureEventFork) {
		v.uffd, v.uffdModes = nil, 0
		return
	}
	c, ok := ctxs[parent]
	if !ok {
		parent.mu.Lock()
		c = &UserFaultFD{mm: child, userModeOnly: parent.userModeOnly, features: parent.features, initialized: true}
		parent.mu.Unlock()
		ctxs[parent] = c
		mm.queueEventLocked(parent, UffdFeatureEventFork, UffdEventFork, [3]uint64{}, c)
	}
	v.uffd = c
}

// validateUffdRange is Linux's validate_range for the context's mm:
// EINVAL for a start not page-aligned, or a range not page-sized, empty,
// below mmap_min_addr or past the user address space.
func (mm *MemoryManager) validateUffdRange(start, length uint64) error {
	if start%arch.PageSize != 0 {
		return unix.EINVAL
	}
	return mm.validateUffdUnalignedRange(start, length)
}

// validateUffdUnalignedRange is validate_unaligned_range: the checks of
// validateUffdRange but start's alignment (UFFDIO_COPY's source).
func (mm *MemoryManager) validateUffdUnalignedRange(start, length uint64) error {
	task := uint64(mm.layout.TopOfUser)
	switch {
	case length%arch.PageSize != 0, length == 0,
		start < uint64(mm.layout.MinAddr), start >= task,
		length > task-start, start+length <= start:
		return unix.EINVAL
	}
	return nil
}

// canUserfault is vma_can_userfault for what is implemented: anonymous
// memory (the heap, stacks, MAP_PRIVATE|MAP_ANONYMOUS) and shmem (shared
// anonymous memory, memfds, tmpfs files and System V segments, shared or
// private mappings), not MAP_DROPPABLE nor a special mapping. hugetlbfs,
// which Linux also serves, is refused (EINVAL) here.
func (v *vma) canUserfault() bool {
	if v.flags&(vmaDroppable|vmaPFNMap|vmaDontExpand) != 0 {
		return false
	}
	_, shmem := v.shmem()
	return v.isAnonymous() || shmem
}

// shmem returns the shmem object v maps, if it maps one (vma_is_shmem).
func (v *vma) shmem() (*SharedMemory, bool) {
	s, ok := v.mappable.(*SharedMemory)
	return s, ok
}

// firstUserFaultLocked returns the first page of gr, a gap in pmas within
// the vma vseg registered in MISSING or MINOR mode, whose fault goes to
// the userfaultfd, and the message's reason (errUserFault.reason): for
// anonymous memory the first page (missing); for shmem the first the
// object lacks in MISSING mode (shmem_get_folio_gfp's missing fault) or
// holds in MINOR mode (its minor fault).
//
// Preconditions: mm.mappingMu and mm.activeMu are locked.
func (mm *MemoryManager) firstUserFaultLocked(vseg vmaSeg, gr arch.AddrRange) (arch.Addr, uint64, bool) {
	v := vseg.ValuePtr()
	s, ok := v.shmem()
	if !ok {
		return gr.Start, 0, v.uffdModes&UffdRegisterModeMissing != 0
	}
	for a := gr.Start; a < gr.End; a += arch.PageSize {
		has := s.hasPage(mappableRangeOf(vseg, arch.AddrRange{Start: a, End: a + arch.PageSize}).Start)
		switch {
		case !has && v.uffdModes&UffdRegisterModeMissing != 0:
			return a, 0, true
		case has && v.uffdModes&UffdRegisterModeMinor != 0:
			return a, UffdPagefaultFlagMinor, true
		}
	}
	return 0, 0, false
}

// Register serves UFFDIO_REGISTER: it registers the vmas in [start,
// start+length) with the context in mode and returns the ioctls usable on
// the range. Holes in the range are allowed; a vma that cannot be
// registered is EINVAL, one registered with another context EBUSY.
func (u *UserFaultFD) Register(start, length, mode uint64) (uint64, error) {
	mm := u.mm
	if mode == 0 || mode&^(UffdRegisterModeMissing|UffdRegisterModeWP|UffdRegisterModeMinor) != 0 {
		return 0, unix.EINVAL
	}
	if err := mm.validateUffdRange(start, length); err != nil {
		return 0, err
	}
	ar := arch.AddrRange{Start: arch.Addr(start), End: arch.Addr(start + length)}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if err := u.checkRegisterLocked(ar, mode); err != nil {
		return 0, err
	}
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	for pos := ar.Start; pos < ar.End; {
		vseg := mm.vmas.LowerBoundSegment(pos)
		if !vseg.Ok() || vseg.Start() >= ar.End {
			break
		}
		r := vseg.Range().Intersect(ar)
		pos = r.End
		if v := vseg.ValuePtr(); v.uffd == u && v.uffdModes&uint8(mode) == uint8(mode) {
			continue
		}
		vseg, err := mm.isolateVMALocked(r)
		if err != nil {
			return 0, err
		}
		v := vseg.ValuePtr()
		if v.uffdModes&UffdRegisterModeWP != 0 && mode&UffdRegisterModeWP == 0 {
			// Linux leaves the uffd-wp bits, which a vma no longer
			// in WP mode ignores; mm drops them (pma.uffdWP).
			mm.activeMu.Lock()
			mm.writeProtectPMAsLocked(v, r, false)
			mm.activeMu.Unlock()
		}
		v.uffd, v.uffdModes = u, uint8(mode)
	}
	ioctls := uint64(uffdRangeIoctls)
	if mode&UffdRegisterModeWP != 0 {
		ioctls |= uffdWPIoctl
	}
	if mode&UffdRegisterModeMinor != 0 {
		ioctls |= uffdContinueIoctl
	}
	return ioctls, nil
}

// checkRegisterLocked checks every vma in ar before Register changes any:
// at least one vma there (EINVAL), each one registrable in mode (EINVAL)
// and registered with no other context (EBUSY).
//
// Preconditions: mm.mappingMu is locked.
func (u *UserFaultFD) checkRegisterLocked(ar arch.AddrRange, mode uint64) error {
	found := false
	for vseg := range u.mm.vmas.Segments(ar) {
		v := vseg.ValuePtr()
		if !v.canUserfault() {
			return unix.EINVAL
		}
		if mode&UffdRegisterModeWP != 0 && !v.isAnonymous() {
			// Write protection of shmem needs pte markers, which
			// a kernel without CONFIG_PTE_MARKER_UFFD_WP lacks.
			return unix.EINVAL
		}
		if _, shmem := v.shmem(); mode&UffdRegisterModeMinor != 0 && !shmem {
			return unix.EINVAL // minor faults are shmem's (and hugetlbfs's)
		}
		if !v.maxPerms.Write {
			// UFFDIO_COPY fills holes of a shared file: it must be
			// writable (VM_MAYWRITE).
			return unix.EPERM
		}
		if v.uffd != nil && v.uffd != u {
			return unix.EBUSY
		}
		found = true
	}
	if !found {
		return unix.EINVAL
	}
	return nil
}

// Unregister serves UFFDIO_UNREGISTER: the vmas in [start, start+length)
// lose their registration (whichever context's), and faults waiting on
// the pages there are woken.
func (u *UserFaultFD) Unregister(start, length uint64) error {
	mm := u.mm
	if err := mm.validateUffdRange(start, length); err != nil {
		return err
	}
	ar := arch.AddrRange{Start: arch.Addr(start), End: arch.Addr(start + length)}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	found := false
	for vseg := range mm.vmas.Segments(ar) {
		if !vseg.ValuePtr().canUserfault() {
			return unix.EINVAL
		}
		found = true
	}
	if !found {
		return unix.EINVAL
	}
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	for pos := ar.Start; pos < ar.End; {
		vseg := mm.vmas.LowerBoundSegment(pos)
		if !vseg.Ok() || vseg.Start() >= ar.End {
			break
		}
		r := vseg.Range().Intersect(ar)
		pos = r.End
		ctx := vseg.ValuePtr().uffd
		if ctx == nil {
			continue
		}
		ctx.wake(r)
		vseg, err := mm.isolateVMALocked(r)
		if err != nil {
			return err
		}
		v := vseg.ValuePtr()
		mm.clearUffdWPLocked(v, r)
		v.uffd, v.uffdModes = nil, 0
	}
	return nil
}

// clearUffdWPLocked drops the write protection of the pages in ar, within
// v, if v is registered in WP mode: v is about to lose the registration
// (userfaultfd_clear_vma).
//
// Preconditions: mm.mappingMu is locked; v ⊇ ar.
func (mm *MemoryManager) clearUffdWPLocked(v *vma, ar arch.AddrRange) {
	if v.uffdModes&UffdRegisterModeWP == 0 {
		return
	}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	mm.writeProtectPMAsLocked(v, ar, false)
}

// Wake serves UFFDIO_WAKE: faults waiting on pages in [start,
// start+length) are retried.
func (u *UserFaultFD) Wake(start, length uint64) error {
	if err := u.mm.validateUffdRange(start, length); err != nil {
		return err
	}
	u.wake(arch.AddrRange{Start: arch.Addr(start), End: arch.Addr(start + length)})
	return nil
}

// Copy serves UFFDIO_COPY: it fills the missing pages of [dst,
// dst+length) with the bytes at src, page by page, and wakes the faults
// waiting there unless mode has UFFDIO_COPY_MODE_DONTWAKE. It returns the
// bytes copied; if that is 0, the error of the first page: EEXIST for a
// page present, ENOENT for a range not within one registered vma, EFAULT
// for an unreadable source. Partial progress is a short count. An
// argument Linux refuses before it begins (a bad range or mode) returns
// -1 with the error: the struct's result field is then left as it was.
// The source is the caller's memory, which need not be the context's (a
// monitor serving a forked child's context): readSrc reads a page of it,
// with no mm lock held; nil reads the context's own memory.
func (u *UserFaultFD) Copy(dst, src, length, mode uint64, readSrc func(addr uint64, b []byte) error) (int64, error) {
	mm := u.mm
	if err := mm.validateUffdUnalignedRange(src, length); err != nil {
		return -1, err
	}
	if err := mm.validateUffdRange(dst, length); err != nil {
		return -1, err
	}
	if mode&^(UffdCopyModeDontWake|UffdCopyModeWP) != 0 {
		return -1, unix.EINVAL
	}
	if u.mmapChanging() {
		return 0, unix.EAGAIN
	}
	buf := make([]byte, arch.PageSize)
	fill := func(vseg vmaSeg, page arch.AddrRange) error {
		if s, ok := vseg.ValuePtr().shmem(); ok && !vseg.ValuePtr().private {
			return s.fillPage(mappableRangeOf(vseg, page).Start, buf)
		}
		if err := mm.allocatePMAsLocked(vseg, page, false); err != nil {
			return err
		}
		pseg := mm.pmas.FindSegment(page.Start)
		b, err := pseg.ValuePtr().file.MapInternal(fileRangeOf(pseg, page), arch.Write)
		if err != nil {
			return err
		}
		copy(b, buf)
		return nil
	}
	read := func(off uint64) error {
		if readSrc != nil {
			return readSrc(src+off, buf)
		}
		if _, err := mm.CopyIn(arch.Addr(src+off), buf, IOOpts{}); err != nil {
			return unix.EFAULT
		}
		return nil
	}
	return u.fill(dst, length, mode&UffdCopyModeWP != 0, mode&UffdCopyModeDontWake == 0, read, fill)
}

// Continue serves UFFDIO_CONTINUE: it maps the pages of [start,
// start+length) that the registered shmem vma's object holds but the vma
// does not map yet (the handler's answer to a minor fault), and wakes the
// faults waiting there unless UFFDIO_CONTINUE_MODE_DONTWAKE; MODE_WP maps
// them write-protected (EINVAL without a WP registration). A page the
// object lacks is EFAULT, one mapped already EEXIST; memory other than
// shmem EINVAL. Results as Copy's.
func (u *UserFaultFD) Continue(start, length, mode uint64) (int64, error) {
	mm := u.mm
	if err := mm.validateUffdRange(start, length); err != nil {
		return -1, err
	}
	if mode&^(UffdContinueModeDontWake|UffdContinueModeWP) != 0 {
		return -1, unix.EINVAL
	}
	if u.mmapChanging() {
		return 0, unix.EAGAIN
	}
	fill := func(vseg vmaSeg, page arch.AddrRange) error {
		s, ok := vseg.ValuePtr().shmem()
		if !ok {
			return unix.EINVAL
		}
		if !s.hasPage(mappableRangeOf(vseg, page).Start) {
			return unix.EFAULT
		}
		return mm.translatePMAsLocked(vseg, page, page, arch.Read)
	}
	return u.fill(start, length, mode&UffdContinueModeWP != 0, mode&UffdContinueModeDontWake == 0, nil, fill)
}

// ZeroPage serves UFFDIO_ZEROPAGE: as Copy, with the zero page (or fresh
// zeroed memory where mm maps no zero page) for each missing page; -1
// for arguments refused before it begins, as Copy.
func (u *UserFaultFD) ZeroPage(start, length, mode uint64) (int64, error) {
	mm := u.mm
	if err := mm.validateUffdRange(start, length); err != nil {
		return -1, err
	}
	if mode&^UffdZeropageModeDontWake != 0 {
		return -1, unix.EINVAL
	}
	if u.mmapChanging() {
		return 0, unix.EAGAIN
	}
	fill := func(vseg vmaSeg, page arch.AddrRange) error {
		if s, ok := vseg.ValuePtr().shmem(); ok && !vseg.ValuePtr().private {
			return s.fillPage(mappableRangeOf(vseg, page).Start, nil)
		}
		return mm.zeroPMAsLocked(vseg, page)
	}
	return u.fill(start, length, false, mode&UffdZeropageModeDontWake == 0, nil, fill)
}

// fill is mfill_atomic: for each page of [dst, dst+length), read (if set,
// with no mm lock held) prepares the page's contents at its offset, and
// fillPage backs the page, which must be missing (EEXIST otherwise). The
// whole range must lie in one registered vma (ENOENT); wp asks for a
// write-protected copy, which needs a WP registration (EINVAL). It stops
// at the first error or a fatal signal (EINTR), wakes the faults on what
// it filled if wake, and returns the bytes filled or, if none, the error.
func (u *UserFaultFD) fill(dst, length uint64, wp, wake bool, read func(off uint64) error, fillPage func(vmaSeg, arch.AddrRange) error) (int64, error) {
	mm := u.mm
	var done uint64
	var err error
	for done < length {
		if read != nil {
			if err = read(done); err != nil {
				break
			}
		}
		if err = u.fillOne(arch.Addr(dst), length, arch.Addr(dst+done), wp, fillPage); err != nil {
			break
		}
		done += arch.PageSize
		if mm.interrupted != nil && mm.interrupted() {
			err = unix.EINTR
			break
		}
	}
	if done == 0 {
		return 0, err
	}
	if wake {
		u.wake(arch.AddrRange{Start: arch.Addr(dst), End: arch.Addr(dst + done)})
	}
	return int64(done), nil
}

// fillOne fills the page at addr, within the operation's range [dst,
// dst+length), under mm's locks.
func (u *UserFaultFD) fillOne(dst arch.Addr, length uint64, addr arch.Addr, wp bool, fillPage func(vmaSeg, arch.AddrRange) error) error {
	mm := u.mm
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	vseg := mm.vmas.FindSegment(dst)
	if !vseg.Ok() || uint64(vseg.End()-dst) < length || vseg.ValuePtr().uffd == nil {
		return unix.ENOENT
	}
	v := vseg.ValuePtr()
	if wp && v.uffdModes&UffdRegisterModeWP == 0 {
		return unix.EINVAL
	}
	if !v.canUserfault() {
		return unix.EINVAL
	}
	page := arch.AddrRange{Start: addr, End: addr + arch.PageSize}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if mm.pmas.FindSegment(addr).Ok() {
		return unix.EEXIST
	}
	if err := fillPage(vseg, page); err != nil {
		return err
	}
	if wp {
		// MFILL_ATOMIC_WP: the page is installed write-protected.
		mm.writeProtectPMAsLocked(v, page, true)
	}
	return nil
}

// mmapChanging reports whether an event message is unread (Linux's
// ctx->mmap_changing, raised from an event's start until it is read):
// the address space may be changing under the handler, whose fills and
// protection changes are refused with EAGAIN until it reads the event.
func (u *UserFaultFD) mmapChanging() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.events) > 0
}

// WriteProtect serves UFFDIO_WRITEPROTECT: it write-protects (mode's
// UFFDIO_WRITEPROTECT_MODE_WP) or unprotects the present pages of [start,
// start+length), whose vmas must all be registered in WP mode (ENOENT at
// the first that is not, with those before it changed, as Linux; ENOENT
// for a range with no vma). Unprotecting wakes the faults waiting there
// unless UFFDIO_WRITEPROTECT_MODE_DONTWAKE, which protecting refuses
// (EINVAL). EAGAIN while an event is unread.
func (u *UserFaultFD) WriteProtect(start, length, mode uint64) error {
	mm := u.mm
	if u.mmapChanging() {
		return unix.EAGAIN
	}
	if err := mm.validateUffdRange(start, length); err != nil {
		return err
	}
	if mode&^(UffdWriteProtectModeWP|UffdWriteProtectModeDontWake) != 0 {
		return unix.EINVAL
	}
	wp, dontWake := mode&UffdWriteProtectModeWP != 0, mode&UffdWriteProtectModeDontWake != 0
	if wp && dontWake {
		return unix.EINVAL
	}
	ar := arch.AddrRange{Start: arch.Addr(start), End: arch.Addr(start + length)}
	if err := u.writeProtect(ar, wp); err != nil {
		return err
	}
	if !wp && !dontWake {
		u.wake(ar)
	}
	return nil
}

// writeProtect is mwriteprotect_range.
func (u *UserFaultFD) writeProtect(ar arch.AddrRange, wp bool) error {
	mm := u.mm
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	err := error(unix.ENOENT)
	for vseg := range mm.vmas.Segments(ar) {
		v := vseg.ValuePtr()
		if v.uffd == nil || v.uffdModes&UffdRegisterModeWP == 0 {
			return unix.ENOENT
		}
		mm.writeProtectPMAsLocked(v, vseg.Range().Intersect(ar), wp)
		err = nil
	}
	return err
}
