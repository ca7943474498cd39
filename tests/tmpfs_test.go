package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// freshTmpfsEnv, set in this test binary's environment, makes it a
// launcher instead: it mounts a fresh tmpfs on /tmp and /dev/shm and execs
// the program its arguments name, with an empty environment. The test
// starts it in a mount namespace of its own (runNativeFreshTmpfs), so the
// host's /tmp is neither seen nor touched.
const freshTmpfsEnv = "MMVM_TEST_FRESH_TMPFS"

func init() {
	if os.Getenv(freshTmpfsEnv) == "" {
		return
	}
	for _, dir := range []string{"/tmp", "/dev/shm"} {
		if err := os.MkdirAll(dir, 0o1777); err != nil {
			fmt.Fprintf(os.Stderr, "fresh tmpfs: %v\n", err)
			os.Exit(125)
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
			fmt.Fprintf(os.Stderr, "fresh tmpfs: mount %s: %v\n", dir, err)
			os.Exit(125)
		}
	}
	err := unix.Exec(os.Args[1], os.Args[1:], []string{})
	fmt.Fprintf(os.Stderr, "fresh tmpfs: exec %s: %v\n", os.Args[1], err)
	os.Exit(125)
}

// tmpfsGuests use /tmp and /dev/shm: natively they run on fresh tmpfs
// mounts, as empty as mmvm's.
var tmpfsGuests = map[string]bool{"tmpfs-musl": true, "tmpfs-glibc": true, "filelocks-musl": true, "filelocks-glibc": true, "perms-musl": true, "perms-glibc": true, "fdcopy-musl": true, "fdcopy-glibc": true, "sockets-musl": true, "sockets-glibc": true, "fsattrs-musl": true, "fsattrs-glibc": true}

// runNativeFreshTmpfs is runNative for a program that uses /tmp and
// /dev/shm: it runs in a private mount namespace with a fresh tmpfs on
// each (freshTmpfsEnv), which takes root, as the KVM tests have.
func runNativeFreshTmpfs(t *testing.T, path string, args []string) (stdout, stderr []byte, status int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	cmd := exec.Command(self, append([]string{path}, args...)...)
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = []string{freshTmpfsEnv + "=1"}
	cmd.SysProcAttr = &unix.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	status = runStatus(t, cmd)
	if status == 125 {
		t.Fatalf("native run on a fresh tmpfs: %s", e.Bytes())
	}
	return o.Bytes(), e.Bytes(), status
}
