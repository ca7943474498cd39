package machine

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/syscalls"
)

// maxFaultRepeats is how many times in a row the same page fault (same
// RIP, address and error code, with no other exit between) is served
// before the program is killed: a first fault maps, and a second after
// mm found nothing to change is what a stale translation would give (the
// run loop flushes the TLB before every entry); a third means the access
// cannot succeed however often it is retried.
const maxFaultRepeats = 3

// faultRepeat watches for a page fault that repeats with no progress: mm
// resolves it (the page is mapped with the rights the access needs) yet
// the processor raises it again, which would otherwise spin forever. It
// happens when the access is not the one the page tables allow: an
// implicit supervisor access such as IRET's stack reads under QEMU's
// emulation with SMAP, for instance. Linux gives SIGSEGV where a fault
// cannot be resolved.
type faultRepeat struct {
	rip, addr, code uint64
	n               int
}

// reset forgets the last fault: any other exit shows progress.
func (f *faultRepeat) reset() { f.n = 0 }

// observe records a page fault and reports whether it is the
// maxFaultRepeats-th identical one in a row.
func (f *faultRepeat) observe(ev *ring0.Event) bool {
	if f.n > 0 && f.rip == ev.Context.RIP && f.addr == ev.FaultAddr && f.code == ev.ErrorCode {
		f.n++
	} else {
		f.rip, f.addr, f.code, f.n = ev.Context.RIP, ev.FaultAddr, ev.ErrorCode, 1
	}
	return f.n >= maxFaultRepeats
}

// repeatedFault is the signal a repeating fault gets: SIGSEGV
// (SEGV_ACCERR), as Linux gives an access the page tables cannot grant.
func repeatedFault(ev *ring0.Event) syscalls.Fault {
	return syscalls.Fault{Signal: unix.SIGSEGV, Code: segvAccErr, Addr: ev.FaultAddr, TrapNo: uint64(ring0.PageFault),
		ErrorCode: ev.ErrorCode | uint64(ring0.PFUser), PageFault: true, Why: fmt.Sprintf(
			"SIGSEGV (SEGV_ACCERR): page fault at %#x (%v) repeated %d times at rip %#x with nothing left to map: the access cannot succeed",
			ev.FaultAddr, ring0.PageFaultError(ev.ErrorCode), maxFaultRepeats, ev.Context.RIP)}
}

// segvAccErr is SIGSEGV's si_code for an access the mapping forbids.
const segvAccErr = 2
