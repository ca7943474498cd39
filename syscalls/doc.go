// Package syscalls serves a guest program's Linux x86-64 system calls on the
// host, with Linux's numbers and errno conventions. A Process holds the state
// those calls touch — the MemoryManager, the fd table (stdio, in-memory
// pipes, eventfds and epoll instances (anon.go), and the files of a
// read-only file system: views of host
// directories, /dev's null, zero and urandom, a /proc drawn from mm;
// view.go), the FS base, signal actions, pending signals, resource limits —
// and counts every call by name so that `mmvm run --stats` can report
// them. Signals the program sends itself or its faults raise run their
// handlers on Linux's signal frames, or take the default actions
// (signal_default.go, signal_deliver.go, signal_frame.go). Guest pointers are never
// trusted: every byte crosses through the guest Memory (mm's CopyIn and
// CopyOut), which faults pages in and checks permissions as a user access
// would. A call mmvm does not implement returns ENOSYS and is counted as
// such.
// The run's context (SetContext) reaches every call: when it ends, a call
// that waits or walks a long range returns EINTR within milliseconds.
package syscalls
