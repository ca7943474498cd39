// Package syscalls serves a guest program's Linux x86-64 system calls on the
// host, with Linux's numbers and errno conventions. A Process holds the state
// those calls touch — the MemoryManager, stdio, the FS base, recorded signal
// actions, resource limits — and counts every call by name so that `mmvm run
// --stats` can report them. Guest pointers are never trusted: every byte
// crosses through the guest Memory (mm's CopyIn and CopyOut), which faults
// pages in and checks permissions as a user access would. A call mmvm does
// not implement returns ENOSYS and is counted as such. The run's context
// (SetContext) reaches every call: when it ends, a call that waits or
// walks a long range returns EINTR within milliseconds.
package syscalls
