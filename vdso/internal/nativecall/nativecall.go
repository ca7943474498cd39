//go:build amd64

// Package nativecall lets vdso's tests run the vDSO's code on the host: a
// call into a System V x86-64 function by address, and the host's TSC.
package nativecall

// Call3 calls the System V function at fn with integer arguments a0, a1
// and a2 and returns its RAX. It runs on the goroutine's stack, so fn must
// need little of it (the vDSO's functions push at most two return
// addresses), and must not block or call back into Go.
func Call3(fn, a0, a1, a2 uintptr) uintptr

// RDTSC returns the host's time-stamp counter, ordered after earlier loads
// (LFENCE; RDTSC), as the vDSO reads it.
func RDTSC() uint64
