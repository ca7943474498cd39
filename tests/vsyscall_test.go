package tests

import (
	"bytes"
	"embed"
	"testing"

	"github.com/mmvm/mmvm/machine"
)

// vsyscallGolden are guest/vsyscall.c's stdout natively under each of
// Linux's vsyscall modes: testdata/vsyscall-xonly.out as Linux 6.18
// (vsyscall=xonly, its default) prints it, testdata/vsyscall-none.out as
// Debian's 6.1 kernel (vsyscall=none, the QEMU guest's) does. A host
// kernel has one mode, so the other can only be checked against its
// recorded run; TestVsyscallModes checks the record of the host's own
// mode against the host.
//
// They are embedded: the KVM tests run where the test binary is copied.
var vsyscallGolden = map[machine.VsyscallMode]string{
	machine.VsyscallXOnly: "testdata/vsyscall-xonly.out",
	machine.VsyscallNone:  "testdata/vsyscall-none.out",
}

//go:embed testdata/vsyscall-xonly.out testdata/vsyscall-none.out
var vsyscallTestdata embed.FS

// TestVsyscallModes runs guest/vsyscall.c under each vsyscall mode and
// compares its stdout with Linux's in that mode: calls to the three entry
// points return their call's answer under xonly, and every access is
// SIGSEGV under none; a bad call, a bad stack or a bad pointer gets the
// si_code and si_addr Linux gives.
func TestVsyscallModes(t *testing.T) {
	dir := guestDir(t)
	for _, name := range []string{"vsyscall-musl", "vsyscall-glibc"} {
		path, ok := guestProgram(t, dir, name)
		if !ok {
			continue
		}
		native, _, status := runNative(t, path, nil)
		for mode, file := range vsyscallGolden {
			want, err := vsyscallTestdata.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if mode == machine.HostVsyscall() && (status != 0 || !bytes.Equal(native, want)) {
				t.Errorf("%s natively (status %d) is not %s:\n%s", name, status, file, native)
			}
			out, _, stop := runConfigured(t, machine.Config{Vsyscall: mode}, path, nil, machine.DefaultFastPath())
			if stop.Status() != 0 || !bytes.Equal(out, want) {
				t.Errorf("%s under mmvm with vsyscall=%v: status %d (%s), stdout:\n%s\nwant:\n%s", name, mode, stop.Status(), stop.Reason, out, want)
			}
		}
	}
}
