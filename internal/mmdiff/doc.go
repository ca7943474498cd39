// Package mmdiff checks a memory manager against the host kernel: it runs
// one sequence of Linux memory system calls (mmap, munmap, mremap,
// mprotect, madvise, mlock2, munlock, msync, mincore) plus reads and writes
// of memory against the host's own memory manager, confined to a reserved
// address window of the test process, and against the System under test,
// and after every call compares the result or errno, the layout of the
// window (ranges, permissions, shared or private) and the contents of
// memory. A divergence is shrunk by delta debugging to a short sequence
// printed as Go source that can be pasted into a regression test.
//
// The host side (Host) never touches memory outside its window: every
// operation is checked by Safe before it reaches the kernel, and reads and
// writes go only to pages the host's /proc/self/maps says allow them.
// Where Linux's outcome is legitimately not reproducible by a confined
// memory manager, the comparison is relaxed explicitly; Differences lists
// each relaxation and why.
package mmdiff
