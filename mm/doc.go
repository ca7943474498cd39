// Package mm is mmvm's memory manager: it keeps a guest's address space
// with Linux's semantics and programs it into an AddressSpace. What the
// program asked for (mmap, brk, the stack) is kept as vmas, virtual memory
// areas; what actually backs them is kept as pmas, platform mapping areas,
// each a range of addresses backed by a range of a memmap.File (the
// MemoryFile for private and anonymous memory, a Mappable's translation
// otherwise). Faults (HandleUserFault) and populating syscalls turn vmas
// into pmas and map them; the Linux-ABI entry points (MMap, MUnmap,
// MRemap, MProtect, Brk, MLock*, Madvise, MSync, MinCore, MBind,
// GetMempolicy) take raw syscall arguments and return Linux's result or
// its errno. Guard regions (MADV_GUARD_INSTALL) are guard pmas: per page,
// unbacked, never splitting a vma (pma.guard says what keeps and what
// drops them). README.md is the design write-up to read first; the package
// Example runs one MemoryManager over a MemoryFile, with no VM.
//
// Lock order (outermost first):
//
//	MemoryManager.mappingMu      vmas, brk, limits, accounting of vmas
//	  Mappable locks taken by AddMapping/RemoveMapping/CopyMapping
//	  MemoryManager.activeMu     pmas (guard pmas too), the AddressSpace, RSS
//	    Mappable locks taken by Translate
//	    privateRefs.mu           owners of private pages, shared with forks
//	    AddressSpace locks
//	    MemoryFile locks
//
// Fork holds the parent's locks only; the child is not yet visible.
// Growing a stack takes mappingMu for writing, so HandleUserFault and the
// copies (CopyIn, CopyOut, ZeroOut) drop their read locks before they
// grow one and look the vma up again afterwards.
// MappingIdentity.Msync is called with no mm lock held.
package mm
