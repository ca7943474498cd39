// Package loader turns a static x86-64 ELF executable into what the VM needs
// to start it, without touching guest memory itself: a Plan (which page
// ranges to map from which file offsets with which permissions, where the
// zero-filled bss begins, where brk starts, the entry point and the values
// the auxiliary vector reports), the initial stack image the SysV x86-64 ABI
// prescribes (argc, argv, envp, auxv and their strings, RSP 16-byte aligned),
// and ImageFile, a memmap.Mappable over the ELF's bytes whose pages are read
// into the MemoryFile once and shared read-only, so that private mappings of
// the image are copy-on-write. Every check Linux's binfmt_elf makes, and a
// few stricter ones, happens in Load; a bad file gets one *Error whose Kind
// names the problem, so callers can test it with errors.Is. The package
// depends on arch, rangeset, memmap and memfile only (never on mm):
// applying a Plan to an address space is the VM's job.
package loader
