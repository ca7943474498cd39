// Package mmdiff checks a memory manager against the host kernel: it runs
// one sequence of Linux memory system calls (mmap, munmap, mremap,
// mprotect, madvise with guard regions among its advice, mlock2, munlock,
// msync, mincore) plus reads and writes
// of memory against the host's own memory manager, confined to a reserved
// address window of the test process, and against the System under test,
// and after every call compares the result or errno, the layout of the
// window (ranges, permissions, shared or private) and the contents of
// memory. A divergence is shrunk by delta debugging to a short sequence
// printed as Go source that can be pasted into a regression test.
//
// The host side (Host) never touches memory outside its window: every
// operation is checked by Safe before it reaches the kernel. Read and
// Write ops are the kernel's own copies to and from user memory (pread and
// pwrite between a memfd and the window), so the host kernel decides where
// they stop and whether they grow a stack, and a fault is an errno, never
// a crash; the harness's own comparisons of contents read only pages the
// host's /proc/self/maps says are readable.
// The system under test is held to Linux 6.18's semantics. NewHost probes
// the host kernel once for the newer behaviour the operations rely on
// (Feature), each with a real call on a scratch mapping; on an older
// kernel the generator leaves out the operations that need what it lacks
// and Host.Omissions says which.
// Where Linux's outcome is legitimately not reproducible by a confined
// memory manager, the comparison is relaxed explicitly; Differences lists
// each relaxation and why.
package mmdiff
