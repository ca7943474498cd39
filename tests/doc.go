// Package tests holds the tests that need a real KVM: they create VMs and
// run guest code. Without /dev/kvm they skip, except under `make test-kvm`,
// which runs them on /dev/kvm when the machine has it and otherwise inside
// a QEMU guest that has one (cmd/kvmrun, package kvmhost), where a skip
// counts as a failure.
package tests
