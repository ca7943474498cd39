// Package memmap holds the contracts between the memory manager (package mm)
// and the things it maps: a File is reference-counted memory that can be
// mapped into the guest and read by Go without a copy (the MemoryFile is the
// one File today); a Mappable is an object that translates its own offsets
// into File ranges and is told when an address space maps or unmaps it; a
// MappingSpace is what a Mappable calls back when earlier translations stop
// being valid; MLockMode is a mapping's locking behaviour. Every method
// documents the preconditions its caller must establish and the
// postconditions its implementation must deliver; CheckTranslateResult checks
// Translate's postconditions so that tests of any Mappable can use it.
// The package depends only on arch and never imports mm.
package memmap
