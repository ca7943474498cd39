// Package vdso is the virtual dynamic shared object mmvm maps into every
// program, as Linux maps its vDSO: an ELF shared object whose functions
// (__vdso_clock_gettime, __vdso_gettimeofday, __vdso_time,
// __vdso_clock_getres, __vdso_getcpu and their unprefixed weak aliases, all
// of version LINUX_2.6; Linux's getrandom is left out, which libcs take for
// an older kernel) answer the clock calls inside the guest, without the exit
// to the host a system call costs, and a vvar page the host writes the
// clock's parameters into. glibc, musl and the Go runtime find the object
// through AT_SYSINFO_EHDR and look its symbols up by name and version.
//
// The image is laid out as Linux 6.18 lays out its own, so that maps and
// the addresses of later mmaps are the same: [vvar] (four pages,
// read-only; the first is the data page), [vvar_vclock] (two read-only
// pages with nothing behind them: SIGBUS, as Linux without a paravirtual
// clock), then the ELF object (read+execute) whose code page reads the
// data page RIP-relative. A clock is the guest TSC scaled: the value of clock c at TSC
// t is base[c] + (t-tscBase)*mult[c] >> 32 nanoseconds, rounded down to
// res[c]; the host publishes base, tscBase, mult and res under a seqlock
// (Params, WriteVVar) and answers the same clocks' system calls with the
// same arithmetic (Params.Nanos) on the TSC it reads from the vCPU, so the
// two never disagree and a clock never goes backwards from one to the
// other. Clock ids the page does not serve (mult 0) fall back to the
// system call. The host re-anchors the bases at the TSC and slews mult
// toward its own clock once a second (GuestClock.Refresh), never moving a
// clock back.
//
// How the image is built. The code is hand-written assembly (vdso.asm),
// assembled by GNU as into code.go by `go generate ./vdso`, and committed:
// `go build` needs no toolchain, and TestCodeIsCurrent reassembles the
// source and fails if code.go differs. The ELF object around the code
// (headers, dynamic section, symbol and hash tables, version definitions)
// is built by this package in Go (ELF): it is a few fixed tables, which
// Go writes deterministically and tests parse with debug/elf, while a C
// vDSO built with gcc and ld would differ byte for byte from one
// toolchain version to the next, so no test could check that the
// committed image is the source's. The code is position-independent and
// the object has no relocations: glibc and musl relocate nothing in it.
package vdso
