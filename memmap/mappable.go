package memmap

import (
	"errors"
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// Mappable is an object a MappingSpace can map: a mutable function from its
// page-aligned offsets to (File, file offset) pairs. mm tells a Mappable about
// every mapping of it (AddMapping, RemoveMapping, CopyMapping) so that the
// Mappable can call MappingSpace.Invalidate when a translation it handed out
// stops being valid (for example when the object is truncated).
//
// Preconditions common to every method: address and offset ranges passed in
// are non-empty, and addresses and offsets are page-aligned.
//
// Lock order: mm calls AddMapping, RemoveMapping and CopyMapping with its
// mapping lock held, and Translate with its pma lock held; a Mappable calls
// MappingSpace.Invalidate with none of its own locks that Translate needs.
type Mappable interface {
	// AddMapping records that ms maps addresses ar to offsets
	// [offset, offset+ar.Length()) of this Mappable. writable says whether
	// the mapping is shared and writable, so that Translate may later be
	// called for it with at.Write; it never changes for the mapping's life.
	//
	// Preconditions: offset+ar.Length() does not overflow.
	//
	// Postconditions: on success, ms receives Invalidate calls for ar until
	// the matching RemoveMapping; on error nothing was recorded.
	AddMapping(ms MappingSpace, ar arch.AddrRange, offset uint64, writable bool) error

	// RemoveMapping undoes an AddMapping (or part of one: mm splits
	// mappings, so ar may be a sub-range of what was added).
	//
	// Preconditions:
	//   - offset+ar.Length() does not overflow.
	//   - ms maps ar to offset through an earlier AddMapping or CopyMapping
	//     with the same writable.
	//
	// Postconditions: ms receives no more Invalidate calls for ar.
	RemoveMapping(ms MappingSpace, ar arch.AddrRange, offset uint64, writable bool)

	// CopyMapping records that the mapping at srcAR in ms is being copied to
	// dstAR in the same ms (mremap). srcAR and dstAR may differ in length,
	// and srcAR may be empty (mremap of a zero-length range of a shared
	// mapping). Most implementations treat it as AddMapping of dstAR.
	//
	// Preconditions:
	//   - offset+srcAR.Length() and offset+dstAR.Length() do not overflow.
	//   - the mapping at srcAR exists, with the same writable.
	//
	// Postconditions: as AddMapping for dstAR; srcAR is unaffected (mm
	// removes it separately).
	CopyMapping(ms MappingSpace, srcAR, dstAR arch.AddrRange, offset uint64, writable bool) error

	// Translate returns translations of at least required and at most
	// optional, permitting at least the accesses in at. If it cannot
	// translate all of required, it returns what it could (a prefix
	// starting at required.Start, possibly empty) and a non-nil error,
	// wrapped in *BusError if the program should get SIGBUS.
	//
	// The translations stay valid until the Mappable invalidates them
	// through MappingSpace.Invalidate or the caller removes its mapping.
	// The Mappable holds a reference on every File page it translates to
	// for as long as the translation is valid; callers that keep using the
	// pages beyond that take their own reference (File.IncRef).
	//
	// Preconditions:
	//   - required.Length() > 0 and optional.IsSupersetOf(required).
	//   - required and optional are page-aligned.
	//   - the caller has mapped every offset of optional through
	//     AddMapping, and serialises Translate against invalidation.
	//
	// Postconditions: see CheckTranslateResult.
	Translate(required, optional MappableRange, at arch.AccessType) ([]Translation, error)

	// InvalidateUnsavable invalidates translations that cannot survive
	// saving and restoring the VM (translations to host memory that is
	// not part of the saved state).
	//
	// Preconditions: no other method of the Mappable runs concurrently.
	InvalidateUnsavable() error
}

// Translation says that offsets Source of a Mappable are backed by File at
// [Offset, Offset+Source.Length()), with at most Perms allowed through it.
type Translation struct {
	// Source is the translated range of Mappable offsets; page-aligned.
	Source MappableRange

	// File backs the range.
	File File

	// Offset is the File offset that Source.Start translates to;
	// page-aligned.
	Offset uint64

	// Perms are the accesses that mappings of this translation may allow
	// (a read-only translation of a shared page yields Perms without Write,
	// so writes fault and the Mappable can break sharing).
	Perms arch.AccessType
}

// FileRange returns the range of File offsets t maps to.
func (t Translation) FileRange() FileRange {
	return FileRange{Start: t.Offset, End: t.Offset + t.Source.Length()}
}

// MappingSpace is an address space that maps Mappables: mm's
// MemoryManager.
type MappingSpace interface {
	// Invalidate tells the MappingSpace that translations it obtained for
	// the Mappable offsets mapped at ar are no longer valid; it must drop
	// them (and their host or guest page-table entries) before using the
	// Mappable's pages again.
	//
	// Preconditions: ar is non-empty and page-aligned. The caller holds no
	// lock that the MappingSpace takes to call Translate.
	Invalidate(ar arch.AddrRange, opts InvalidateOpts)
}

// InvalidateOpts modifies MappingSpace.Invalidate.
type InvalidateOpts struct {
	// InvalidatePrivate also discards private copies made from the
	// invalidated translations (their contents are lost): true when the
	// backing object itself went away, as on truncation.
	InvalidatePrivate bool
}

// ErrBadTranslateArgs is wrapped by CheckTranslateResult's error when the
// arguments to Translate broke its preconditions; the fault is the caller's.
var ErrBadTranslateArgs = errors.New("memmap: Translate called with invalid arguments")

// ErrBadTranslateResult is wrapped by CheckTranslateResult's error when a
// Translate result broke a postcondition; the fault is the Mappable's.
var ErrBadTranslateResult = errors.New("memmap: Translate result breaks its postconditions")

// CheckTranslateResult reports whether (ts, terr), returned by
// Mappable.Translate(required, optional, at), meets Translate's contract. It
// returns nil if so, an error wrapping ErrBadTranslateArgs if the arguments
// broke Translate's preconditions, and an error wrapping
// ErrBadTranslateResult naming the first broken postcondition otherwise.
//
// The postconditions are:
//   - every translation's Source is non-empty and page-aligned, lies within
//     optional, and its Offset is page-aligned and Offset+length does not
//     overflow; its File is not nil;
//   - translations are in increasing order of Source and contiguous, the
//     first one starting at or before required.Start (so containing it);
//   - every translation permits at least at;
//   - if terr is nil, the translations cover all of required.
func CheckTranslateResult(required, optional MappableRange, at arch.AccessType, ts []Translation, terr error) error {
	if err := checkTranslateArgs(required, optional); err != nil {
		return err
	}
	for i, t := range ts {
		if err := checkTranslation(i, t, optional, at); err != nil {
			return err
		}
		if i == 0 && !t.Source.Contains(required.Start) {
			return fmt.Errorf("%w: first translation %v does not contain required start %#x", ErrBadTranslateResult, t.Source, required.Start)
		}
		if i > 0 && ts[i-1].Source.End != t.Source.Start {
			return fmt.Errorf("%w: translation %d (%v) does not follow translation %d (%v)", ErrBadTranslateResult, i, t.Source, i-1, ts[i-1].Source)
		}
	}
	if terr != nil {
		return nil
	}
	if len(ts) == 0 {
		return fmt.Errorf("%w: no translations and no error for required %v", ErrBadTranslateResult, required)
	}
	if end := ts[len(ts)-1].Source.End; end < required.End {
		return fmt.Errorf("%w: translations end at %#x, before required end %#x, with no error", ErrBadTranslateResult, end, required.End)
	}
	return nil
}

// checkTranslateArgs checks Translate's preconditions on its ranges.
func checkTranslateArgs(required, optional MappableRange) error {
	switch {
	case !required.WellFormed() || required.Length() == 0:
		return fmt.Errorf("%w: required %v is empty or malformed", ErrBadTranslateArgs, required)
	case !required.IsPageAligned():
		return fmt.Errorf("%w: required %v is not page-aligned", ErrBadTranslateArgs, required)
	case !optional.WellFormed() || !optional.IsPageAligned():
		return fmt.Errorf("%w: optional %v is malformed or not page-aligned", ErrBadTranslateArgs, optional)
	case !optional.IsSupersetOf(required):
		return fmt.Errorf("%w: optional %v does not contain required %v", ErrBadTranslateArgs, optional, required)
	}
	return nil
}

// checkTranslation checks the postconditions that concern one translation
// on its own.
func checkTranslation(i int, t Translation, optional MappableRange, at arch.AccessType) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: translation %d (%v at offset %#x): %s", ErrBadTranslateResult, i, t.Source, t.Offset, why)
	}
	switch {
	case !t.Source.WellFormed() || t.Source.Length() == 0:
		return bad("empty or malformed source")
	case !t.Source.IsPageAligned():
		return bad("source not page-aligned")
	case t.Offset&arch.PageMask != 0:
		return bad("file offset not page-aligned")
	case t.Offset+t.Source.Length() < t.Offset:
		return bad("file range overflows")
	case t.File == nil:
		return bad("nil File")
	case !optional.IsSupersetOf(t.Source):
		return bad(fmt.Sprintf("source outside optional %v", optional))
	case !t.Perms.SupersetOf(at):
		return bad(fmt.Sprintf("permits %v, access %v required", t.Perms, at))
	}
	return nil
}
