// Package machine ties one micro-VM together: the MemoryFile registered as a
// KVM memory slot, the ring-0 stub mapped supervisor-only in the upper half,
// x86-64 page tables in guest memory programmed by mm through the
// AddressSpace this package implements, one vCPU per guest thread (each
// with a ring-0 region of its own, on its own OS thread, all in parallel:
// threads.go) that starts directly in user mode, and the run loop that
// serves each exit in Go — a user page fault
// through mm.HandleUserFault, a system call through package syscalls, any
// other exception, or a fault mm refuses, as the signal Linux would deliver
// (to a handler on its signal frame, signals.go) — and resumes the vCPU.
//
// # Lifecycle
//
// New opens /dev/kvm, builds everything and decides what depends on the KVM
// it found (Platform: how page-table changes reach the guest, where
// SYSCALL lands, what the vDSO's clocks read), from the module behind
// /dev/kvm and from a probe the vCPU runs once, and writes the vDSO into
// the MemoryFile (vdso.go); LoadProgram maps it into the program with the
// ELF's segments and the stack (or, for tests, code mapped and copied in
// through MM and SetUserContext) prepares a user context; Run runs
// it until the program exits, is killed by a signal, hits its deadline or
// (with Config.UserPorts) executes a user-mode probe `out`. Close releases the
// vCPU, the VM, the page tables, mm and the MemoryFile, leaving no
// descriptor, goroutine or MemoryFile page behind. The package Example runs
// a program from Go this way.
//
// # TLB coherence
//
// A page-table change that drops or narrows a translation is shot down
// before mm's call returns (shootdown.go): every vCPU in guest mode is
// kicked out of KVM_RUN, and each vCPU flushes before it next runs user
// code, by writing the special registers back through KVM_CAP_SYNC_REGS,
// which makes KVM load CR3 again and flush the guest's TLB. Where KVM shadows the guest's tables (PVM, or
// VT-x/SVM without nested paging) that is not enough: the run loop first
// has ring 0 store every changed entry again (replay.go). New translations
// over non-present entries need neither; a stale narrower entry at worst
// causes one spurious fault, which mm resolves as already mapped (and a
// fault that keeps repeating with nothing to map ends the program,
// faultrepeat.go).
package machine
