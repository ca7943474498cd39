package kvm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrUnavailable is wrapped by every error Open returns when this machine
// cannot give us a usable KVM (no device, no permission, wrong API version,
// a missing required capability). Tests that need KVM skip on it.
var ErrUnavailable = errors.New("kvm unavailable")

// ErrClosed is returned by operations on a closed System, VM or VCPU.
var ErrClosed = errors.New("kvm: use of a closed handle")

// ErrNotBound is returned by Run on a vCPU whose thread was never bound
// (see VCPU.BindThread).
var ErrNotBound = errors.New("kvm: vCPU not bound to an OS thread (call BindThread from the goroutine that runs it)")

// OpenError says why /dev/kvm could not be used, and what to do about it.
type OpenError struct {
	Path string
	// Err is the underlying cause: an errno from open or ioctl, or a
	// description of an API mismatch.
	Err error
	// Hint tells the user how to get a working KVM.
	Hint string
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("kvm: %s: %v: %s", e.Path, e.Err, e.Hint)
}

// Unwrap exposes both ErrUnavailable and the cause to errors.Is.
func (e *OpenError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// hintNoDevice is what to do on a machine without /dev/kvm. The QEMU runner
// (kvmhost, `make test-kvm`) exists for exactly this case.
const hintNoDevice = "no KVM on this machine; run KVM tests with `make test-kvm` " +
	"(or programs with `go run ./cmd/kvmrun`), which boots a QEMU guest that has /dev/kvm, " +
	"or load kvm_intel/kvm_amd on a host with VT-x/AMD-V"

// openErrorFor builds the error for a failed open(2) of path.
func openErrorFor(path string, err error) *OpenError {
	hint := hintNoDevice
	switch {
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		hint = "permission denied: run as root or join the group that owns " + path + " (usually kvm)"
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		hint = "the device node exists but no KVM module is loaded: modprobe kvm_intel or kvm_amd, or use `make test-kvm`"
	}
	return &OpenError{Path: path, Err: err, Hint: hint}
}

// IoctlError reports a failed ioctl, naming the operation.
type IoctlError struct {
	Op  string
	Err unix.Errno
}

func (e *IoctlError) Error() string { return "kvm: " + e.Op + ": " + e.Err.Error() }

// Unwrap lets errors.Is(err, unix.EINVAL) and friends work.
func (e *IoctlError) Unwrap() error { return e.Err }
