package pagetable

import (
	"errors"
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// Reasons a range is refused; a *RangeError wraps one of them.
var (
	ErrMalformed     = errors.New("range ends before it starts")
	ErrUnaligned     = errors.New("address or length not page-aligned")
	ErrNonCanonical  = errors.New("range not within one canonical half")
	ErrKernelAddress = errors.New("user mapping in the kernel half")
	ErrPhysRange     = errors.New("physical range beyond 2^52")
	ErrReleased      = errors.New("page tables already released")
)

// RangeError reports arguments that Map, Unmap or Protect refused before
// changing anything.
type RangeError struct {
	Op    string         // "map", "unmap" or "protect"
	Range arch.AddrRange // the virtual range asked for
	Phys  uint64         // the physical address asked for (map only)
	Err   error          // one of the Err* reasons above
}

func (e *RangeError) Error() string {
	if e.Op == "map" {
		return fmt.Sprintf("pagetable: map %v to %#x: %v", e.Range, e.Phys, e.Err)
	}
	return fmt.Sprintf("pagetable: %s %v: %v", e.Op, e.Range, e.Err)
}

func (e *RangeError) Unwrap() error { return e.Err }

// checkArgs holds every argument check of Map, Unmap and Protect, in order:
// shape, alignment, canonical form, the user/kernel split, then the
// physical range (map only). user says the range will hold user mappings.
func (pt *PageTables) checkArgs(op string, va arch.AddrRange, pa uint64, user bool) error {
	if reason := pt.argReason(op, va, pa, user); reason != nil {
		return &RangeError{Op: op, Range: va, Phys: pa, Err: reason}
	}
	return nil
}

// argReason returns why checkArgs refuses its arguments, or nil.
func (pt *PageTables) argReason(op string, va arch.AddrRange, pa uint64, user bool) error {
	switch {
	case pt.root == nil:
		return ErrReleased
	case va.Start > va.End:
		return ErrMalformed
	case !va.IsPageAligned() || pa&arch.PageMask != 0:
		return ErrUnaligned
	case va.Empty():
		return nil
	case !va.Start.IsCanonical() || !(va.End - 1).IsCanonical() || (va.Start < arch.MaxUserAddr) != (va.End <= arch.MaxUserAddr):
		return ErrNonCanonical
	case (user || pt.sharesKernel) && va.End > arch.MaxUserAddr:
		return ErrKernelAddress
	case op == "map" && (pa >= maxPhys || va.Length() > maxPhys-pa):
		return ErrPhysRange
	}
	return nil
}

// tableMemoryError gives an allocation failure the operation's context.
func tableMemoryError(op string, va arch.AddrRange, err error) error {
	return fmt.Errorf("pagetable: %s %v: %w", op, va, err)
}
