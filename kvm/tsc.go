package kvm

// HostTSC returns the host CPU's time-stamp counter (LFENCE; RDTSC), to
// compare with a guest's (VCPU.TSC): where the guest's user mode runs at
// the host's CPL 3 (PVM), its RDTSC is the host's.
func HostTSC() uint64
