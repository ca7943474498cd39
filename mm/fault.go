package mm

import (
	"errors"
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// FaultError says why a fault could not be resolved and which signal Linux
// would deliver for it. errors.Is(err, unix.EFAULT) holds for SIGSEGV.
type FaultError struct {
	// Addr is the faulting address and Access the access that faulted.
	Addr   arch.Addr
	Access arch.AccessType
	// Signal is SIGSEGV, SIGBUS, or SIGKILL when memory ran out (Linux's
	// OOM killer).
	Signal unix.Signal
	// Code is the si_code: SEGV_MAPERR (no vma, or a guard page of
	// MADV_GUARD_INSTALL), SEGV_ACCERR (the vma forbids the access) or
	// BUS_ADRERR.
	Code int
	// VMA describes the vma at Addr; nil if there is none.
	VMA *VMAInfo
	// Err is the underlying cause.
	Err error
}

// Error returns the one-line crash report.
func (e *FaultError) Error() string {
	code := map[int]string{segvMapErr: "SEGV_MAPERR", segvAccErr: "SEGV_ACCERR"}[e.Code]
	if e.Signal == unix.SIGBUS {
		code = "BUS_ADRERR"
	} else if e.Signal == unix.SIGKILL {
		code = "out of memory"
	}
	where := "no mapping"
	if e.VMA != nil {
		where = "in " + e.VMA.String()
	}
	return fmt.Sprintf("%s (%s) on %s access at %v, %s: %v", unix.SignalName(e.Signal), code, accessName(e.Access), e.Addr, where, e.Err)
}

// Unwrap returns the cause.
func (e *FaultError) Unwrap() error { return e.Err }

func accessName(at arch.AccessType) string {
	switch {
	case at.Execute:
		return "execute"
	case at.Write:
		return "write"
	}
	return "read"
}

// HandleUserFault resolves a guest page fault at addr for access at: it
// finds the vma (growing a stack down if addr is just below one), checks
// the access against it, obtains pmas (allocating a whole fault-around
// unit of private anonymous memory, translating a Mappable, or breaking
// copy-on-write) and maps them into the AddressSpace. On failure it
// returns a *FaultError naming the signal Linux would deliver.
func (mm *MemoryManager) HandleUserFault(addr arch.Addr, at arch.AccessType) error {
	return mm.HandleThreadFault(addr, at, 0)
}

// HandleThreadFault is HandleUserFault for the thread tid. A missing page
// of a vma registered with a userfaultfd returns a *UserFaultWait, its
// message queued (with tid where the context asked for thread ids): the
// caller waits for it with no mm lock held, then retries the fault (see
// userfault.go).
func (mm *MemoryManager) HandleThreadFault(addr arch.Addr, at arch.AccessType, tid int32) error {
	ar := arch.AddrRange{Start: addr.RoundDown(), End: addr.RoundDown() + arch.PageSize}
	if addr >= mm.layout.TopOfUser {
		return &FaultError{Addr: addr, Access: at, Signal: unix.SIGSEGV, Code: segvMapErr, Err: unix.EFAULT}
	}
	mm.mappingMu.RLock()
	vseg := mm.vmas.FindSegment(addr)
	var grewFrom arch.Addr // the stack's start before this fault grew it
	if !vseg.Ok() {
		mm.mappingMu.RUnlock()
		var err error
		if grewFrom, err = mm.growStack(addr, at); err != nil {
			return err
		}
		mm.mappingMu.RLock()
		vseg = mm.vmas.FindSegment(addr)
		if !vseg.Ok() {
			// Unmapped again by another thread in between.
			mm.mappingMu.RUnlock()
			return &FaultError{Addr: addr, Access: at, Signal: unix.SIGSEGV, Code: segvMapErr, Err: unix.EFAULT}
		}
	}
	defer mm.mappingMu.RUnlock()
	v := vseg.ValuePtr()
	if !v.effectivePerms.SupersetOf(at) {
		info := vmaInfoLocked(mm, vseg)
		return &FaultError{Addr: addr, Access: at, Signal: unix.SIGSEGV, Code: segvAccErr, VMA: &info, Err: unix.EFAULT}
	}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	around := mm.faultAroundVMA(ar, vseg, grewFrom)
	if err := mm.getPMAsLocked(vseg, ar, around, at); err != nil {
		if uf, ok := userFaultOf(err); ok {
			w, qerr := uf.ctx.queueLocked(uf, addr, at.Write, true, tid)
			if qerr == nil {
				return w
			}
			err = qerr
		}
		return mm.faultErrorLocked(vseg, addr, at, err)
	}
	mm.faults++
	mapAR := around
	if !v.isAnonymous() {
		// Map whatever the Mappable offered around the fault, but
		// nothing the fault did not ask for that is not backed.
		mapAR = ar
		if pseg := mm.pmas.FindSegment(ar.Start); pseg.Ok() {
			mapAR = pseg.Range().Intersect(around)
		}
	}
	if err := mm.mapASLocked(mapAR, MapOpts{Used: ar}); err != nil {
		return &FaultError{Addr: addr, Access: at, Signal: unix.SIGBUS, Code: busAdrErr, Err: err}
	}
	return nil
}

// faultAroundBound is the part of vseg's range a fault at ar may map
// around it. A fault that grew a stack down (grewFrom is the stack's old
// start, 0 if it grew none) maps only within the extension: the stack
// above it was there before, its touched pages are mapped already, and a
// program that walks its stack down a page at a time would otherwise map
// the same fault-around unit again at every page.
//
// Preconditions: mm.mappingMu is locked; vseg.Range() ⊇ ar.
func (mm *MemoryManager) faultAroundBound(vseg vmaSeg, ar arch.AddrRange, grewFrom arch.Addr) arch.AddrRange {
	bound := vseg.Range()
	if grewFrom != 0 && ar.End <= grewFrom && grewFrom < bound.End {
		bound.End = grewFrom
	}
	return bound
}

// faultErrorLocked converts an error obtaining pmas into a FaultError.
func (mm *MemoryManager) faultErrorLocked(vseg vmaSeg, addr arch.Addr, at arch.AccessType, err error) error {
	info := vmaInfoLocked(mm, vseg)
	fe := &FaultError{Addr: addr, Access: at, VMA: &info, Err: err}
	switch {
	case errors.Is(err, errGuardPage):
		// Linux's guard marker: VM_FAULT_SIGSEGV, which x86-64
		// reports as SEGV_MAPERR though a vma is there.
		fe.Signal, fe.Code = unix.SIGSEGV, segvMapErr
	case errIsBus(err):
		fe.Signal, fe.Code = unix.SIGBUS, busAdrErr
	case errors.Is(err, unix.ENOMEM):
		fe.Signal = unix.SIGKILL
	default:
		fe.Signal, fe.Code = unix.SIGBUS, busAdrErr
	}
	return fe
}

// growStack handles a fault at addr, which is in no vma: if the next vma
// above grows down and addr is within its reach, the vma is extended down
// to addr's page, as Linux's expand_stack does, and growStack returns its
// start before; otherwise it is a SEGV_MAPERR. It returns 0 if a vma
// covers addr already (another thread grew or mapped it meanwhile).
// CopyIn, CopyOut and ZeroOut use it too, for the address where a copy
// found no vma. It takes mappingMu for writing, so the caller must hold
// no mm lock.
func (mm *MemoryManager) growStack(addr arch.Addr, at arch.AccessType) (arch.Addr, error) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mapErr := &FaultError{Addr: addr, Access: at, Signal: unix.SIGSEGV, Code: segvMapErr, Err: unix.EFAULT}
	vseg, gap := mm.vmas.Find(addr)
	if vseg.Ok() {
		return 0, nil // grown or mapped meanwhile
	}
	next := gap.NextSegment()
	if !next.Ok() || !next.ValuePtr().growsDown {
		return 0, mapErr
	}
	oldStart := next.Start()
	if err := mm.expandStackLocked(next, addr.RoundDown()); err != nil {
		mapErr.Err = err
		return 0, mapErr
	}
	return oldStart, nil
}

// expandStackLocked grows the grows-down vma vseg down to start (Linux's
// expand_downwards): the vma below must stay at least StackGuardGap away,
// and the stack within RLIMIT_STACK and RLIMIT_AS. As in Linux, the stack
// gets an anon_vma first (even if it then cannot grow), and the grown vma
// never merges with the one below: expand_downwards only moves the vma's
// start.
//
// Preconditions: mm.mappingMu is locked for writing; start < vseg.Start()
// and page-aligned.
func (mm *MemoryManager) expandStackLocked(vseg vmaSeg, start arch.Addr) error {
	if start < mm.layout.MinAddr {
		return unix.EPERM
	}
	if prev := vseg.PrevSegment(); prev.Ok() {
		// An accessible vma below, other than another stack, must
		// stay a guard gap away (stack_guard_gap).
		pv := prev.ValuePtr()
		if prev.End() > start || (!pv.growsDown && pv.effectivePerms.Any() && start-prev.End() < StackGuardGap) {
			return unix.ENOMEM
		}
	}
	mm.activeMu.Lock()
	mm.ensureAnonVMALocked(vseg)
	mm.activeMu.Unlock()
	grow := uint64(vseg.Start() - start)
	v := vseg.Value()
	size := uint64(vseg.End() - start)
	if size > mm.limits.Stack {
		return unix.ENOMEM
	}
	if !mm.mayExpandLocked(&v, grow) {
		return unix.ENOMEM
	}
	if !mm.mlockFutureOKLocked(v.mlockMode, grow) {
		return unix.ENOMEM
	}
	v.off -= grow
	if v.id != nil {
		v.id.IncRef()
	}
	ar := arch.AddrRange{Start: start, End: vseg.Start()}
	mm.addVMAStatsLocked(&v, ar.Length())
	ext := mm.vmas.InsertWithoutMerging(mm.vmas.FindGap(ar.Start), ar, v)
	// The extension merges with vseg (same properties, contiguous
	// offset), and only with it.
	mm.vmas.Merge(ext, ext.NextSegment())
	return nil
}

var _ memmap.MappingSpace = (*MemoryManager)(nil)
