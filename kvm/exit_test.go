package kvm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExitReasonNames(t *testing.T) {
	for _, tc := range []struct {
		r    ExitReason
		want string
	}{
		{ExitUnknown, "KVM_EXIT_UNKNOWN"},
		{ExitIO, "KVM_EXIT_IO"},
		{ExitHLT, "KVM_EXIT_HLT"},
		{ExitMMIO, "KVM_EXIT_MMIO"},
		{ExitShutdown, "KVM_EXIT_SHUTDOWN"},
		{ExitFailEntry, "KVM_EXIT_FAIL_ENTRY"},
		{ExitIntr, "KVM_EXIT_INTR"},
		{ExitInternalError, "KVM_EXIT_INTERNAL_ERROR"},
		{ExitSystemEvent, "KVM_EXIT_SYSTEM_EVENT"},
		{ExitX86RDMSR, "KVM_EXIT_X86_RDMSR"},
		{ExitNotify, "KVM_EXIT_NOTIFY"},
		{ExitMemoryFault, "KVM_EXIT_MEMORY_FAULT"},
		{ExitTDX, "KVM_EXIT_TDX"},
		{ExitReason(77), "KVM_EXIT_(77)"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("ExitReason(%d).String() = %q, want %q", uint32(tc.r), got, tc.want)
		}
	}
	// Every known number has a distinct name in the kernel's spelling.
	seen := map[string]bool{}
	for r := ExitReason(0); r < numKnownExitReasons; r++ {
		s := r.String()
		if !strings.HasPrefix(s, "KVM_EXIT_") || strings.Contains(s, "(") || seen[s] {
			t.Errorf("ExitReason(%d) has a bad or repeated name %q", r, s)
		}
		seen[s] = true
	}
}

func TestCapabilityNames(t *testing.T) {
	for _, tc := range []struct {
		c    Capability
		want string
	}{
		{CapUserMemory, "KVM_CAP_USER_MEMORY"},
		{CapSyncRegs, "KVM_CAP_SYNC_REGS"},
		{CapImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"},
		{CapNrMemslots, "KVM_CAP_NR_MEMSLOTS"},
		{CapXSave2, "KVM_CAP_XSAVE2"},
		{CapExtCPUID, "KVM_CAP_EXT_CPUID"},
		{Capability(100000), "KVM_CAP_(100000)"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Capability(%d).String() = %q, want %q", uint32(tc.c), got, tc.want)
		}
	}
}

func TestExitErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *ExitError
		want string
	}{
		{&ExitError{Reason: ExitShutdown, RIP: 0x1000, CPL: 3},
			"kvm: unexpected exit KVM_EXIT_SHUTDOWN at RIP 0x1000 (CPL 3)"},
		{&ExitError{Reason: ExitFailEntry, RIP: 0xfff0, HardwareReason: 0x80000021},
			"kvm: unexpected exit KVM_EXIT_FAIL_ENTRY at RIP 0xfff0 (CPL 0): hardware entry failure reason 0x80000021"},
		{&ExitError{Reason: ExitUnknown, RIP: 0x10, HardwareReason: 0x7b},
			"kvm: unexpected exit KVM_EXIT_UNKNOWN at RIP 0x10 (CPL 0): hardware exit reason 0x7b"},
		{&ExitError{Reason: ExitInternalError, RIP: 0x20, Suberror: 1, Data: []uint64{0x1, 0x2}},
			"kvm: unexpected exit KVM_EXIT_INTERNAL_ERROR at RIP 0x20 (CPL 0): suberror 1 (emulation failure), data [0x1 0x2]"},
		{&ExitError{Reason: ExitException, RIP: 0x30, Data: []uint64{14, 6}},
			"kvm: unexpected exit KVM_EXIT_EXCEPTION at RIP 0x30 (CPL 0): exception vector 14, error code 0x6"},
		{&ExitError{Reason: ExitMMIO, StateErr: ErrClosed},
			"kvm: unexpected exit KVM_EXIT_MMIO at RIP 0x0 (CPL 0) (registers unreadable: kvm: use of a closed handle)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestCPL(t *testing.T) {
	var s Sregs
	s.SS.DPL = 3
	if got := CPL(&s); got != 0 {
		t.Errorf("real mode: CPL %d, want 0", got)
	}
	s.CR0 = 1
	if got := CPL(&s); got != 3 {
		t.Errorf("protected mode, SS.DPL 3: CPL %d, want 3", got)
	}
}

func TestOpenMissingDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kvm")
	_, err := OpenPath(path)
	if err == nil {
		t.Fatal("OpenPath of a missing node succeeded")
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("error %v: want ErrUnavailable and ENOENT", err)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Path != path {
		t.Fatalf("error %v is not an *OpenError for %s", err, path)
	}
	if msg := err.Error(); !strings.Contains(msg, "make test-kvm") || !strings.Contains(msg, path) {
		t.Errorf("error %q does not name the path and say to use `make test-kvm`", msg)
	}
}

func TestOpenNotKVM(t *testing.T) {
	// A file that is not KVM: the API-version ioctl fails with ENOTTY.
	path := filepath.Join(t.TempDir(), "notkvm")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenPath(path)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, unix.ENOTTY) {
		t.Errorf("OpenPath(regular file) = %v, want ErrUnavailable and ENOTTY", err)
	}
}

func TestOpenPermissionHint(t *testing.T) {
	err := openErrorFor("/dev/kvm", unix.EACCES)
	if !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "kvm") || !strings.Contains(err.Error(), "group") {
		t.Errorf("EACCES error %q should name the kvm group", err)
	}
}

func TestFindCPUID(t *testing.T) {
	entries := []CPUIDEntry{
		{Function: 0, EAX: 0xd},
		{Function: 7, Index: 0, Flags: CPUIDFlagSignificantIndex, EBX: 1},
		{Function: 7, Index: 1, Flags: CPUIDFlagSignificantIndex, EBX: 2},
		{Function: 1, EBX: 3},
	}
	for _, tc := range []struct {
		fn, idx uint32
		ok      bool
		ebx     uint32
	}{{7, 0, true, 1}, {7, 1, true, 2}, {7, 2, false, 0}, {1, 5, true, 3}, {0x80000001, 0, false, 0}} {
		e, ok := FindCPUID(entries, tc.fn, tc.idx)
		if ok != tc.ok || e.EBX != tc.ebx {
			t.Errorf("FindCPUID(%#x, %d) = %+v, %v; want EBX %d, %v", tc.fn, tc.idx, e, ok, tc.ebx, tc.ok)
		}
	}
}

func TestCPUIDBufferRoundTrip(t *testing.T) {
	in := []CPUIDEntry{{Function: 1, EAX: 1}, {Function: 2, EDX: 0xdeadbeef}}
	b := cpuidBufferOf(in)
	if b.nent() != 2 {
		t.Fatalf("nent %d, want 2", b.nent())
	}
	out := b.entries()
	if len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
}
