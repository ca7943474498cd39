package memmap

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// FileRange is a half-open range of byte offsets into a File.
type FileRange = arch.Range[uint64]

// MappableRange is a half-open range of byte offsets into a Mappable.
type MappableRange = arch.Range[uint64]

// File is reference-counted memory that can back guest mappings: every page
// of it carries a count of the references held on it, and a page whose count
// falls to zero is released by the File (its contents are lost). mm holds
// one reference on each page of File memory that a pma maps.
//
// The File interface has no way to take the first reference on a page;
// implementations provide one (the MemoryFile's Allocate returns pages
// holding exactly one reference).
//
// All methods may be called concurrently.
type File interface {
	// IncRef adds one reference to every page in fr.
	//
	// Preconditions:
	//   - fr.Start and fr.End are page-aligned and fr.Length() > 0.
	//   - The caller already holds at least one reference on every page
	//     in fr (IncRef never revives a freed page).
	//
	// Postconditions: each page's count is one higher; the pages stay
	// allocated at least until the caller drops the new references.
	IncRef(fr FileRange)

	// DecRef drops one reference from every page in fr; pages whose count
	// reaches zero are freed and may be handed out again by the File.
	//
	// Preconditions:
	//   - fr.Start and fr.End are page-aligned and fr.Length() > 0.
	//   - The caller holds at least one reference on every page in fr, and
	//     gives one of them up by this call.
	//
	// Postconditions: the caller must no longer use pages of fr on which it
	// held only the reference it dropped, nor any slice MapInternal returned
	// for them.
	DecRef(fr FileRange)

	// MapInternal returns the host's view of fr, for Go code to read and
	// (if at.Write) write the memory directly, without a copy. fr need not
	// be page-aligned.
	//
	// Preconditions:
	//   - fr.Length() > 0.
	//   - The caller holds at least one reference on every page in fr.
	//
	// Postconditions: on success the slice has length fr.Length() and stays
	// valid while a reference is held on every page it covers. Writes to it
	// are seen by every mapping of the same pages, including the guest's.
	MapInternal(fr FileRange, at arch.AccessType) ([]byte, error)

	// FD returns the host file descriptor behind the File, owned by the
	// File: callers must not close it, and must not use it after the File
	// is closed. Offsets of FileRanges are offsets into this descriptor.
	FD() int
}

// BusError may be returned (wrapping the real cause) by Mappable.Translate,
// or by anything else that resolves a fault, for failures that must reach the
// program as SIGBUS rather than SIGSEGV, as Linux does when a mapping covers
// no backing object (e.g. a file mapped past its end).
type BusError struct {
	// Err is the underlying cause.
	Err error
}

// Error implements error.
func (b *BusError) Error() string { return fmt.Sprintf("bus error: %v", b.Err) }

// Unwrap returns the underlying cause, for errors.Is and errors.As.
func (b *BusError) Unwrap() error { return b.Err }
