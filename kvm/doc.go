// Package kvm is a typed layer over the Linux KVM ioctl interface for
// x86-64, on golang.org/x/sys/unix: Open checks /dev/kvm (API version,
// required capabilities) and says what to do when it is missing; a System
// creates VMs; a VM holds memory slots (host memory, such as the
// MemoryFile's mapping, at guest-physical addresses) and vCPUs; a VCPU has
// its registers, special registers, MSRs, FPU/XSAVE and CPUID, and a Run
// that retries the EINTR Go's preemption signal causes, names every exit
// reason, exposes port-I/O and MMIO exit data in place, reads registers from
// the shared run structure (KVM_CAP_SYNC_REGS) instead of by ioctl, and can
// be stopped from another goroutine with Kick.
//
// Handles own their file descriptors and close them once; a VM closes the
// vCPUs it created. Struct layouts mirror the kernel's and are checked
// against its headers by the package's tests.
package kvm
