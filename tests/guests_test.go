package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/syscalls"
)

// guestCases are the guest programs (guest/) with the arguments they run
// with; each must behave inside mmvm exactly as it does natively.
var guestCases = []struct {
	name string
	args []string
}{
	{"hello", nil},
	{"hello-musl", []string{"one", "two"}},
	{"hello-pie", []string{"pie"}},
	{"touch", []string{"8", "4096"}},
	{"touch", []string{"16", "65536"}},
	{"mmtorture", nil},
	{"brkgrow", []string{"4"}},
	{"mallocchurn", []string{"200"}},
	{"nullderef", nil},
	{"writero", nil},
	{"stackoverflow", nil},
	{"remaploop", []string{"300"}}, // 10^4 rounds: out/mmvm run out/guest/remaploop 10000
	{"proccalls", nil},
	{"catstdin", nil}, // stdin at its end at once: nothing out, "0 <FNV basis>" on stderr
	{"abort-musl", nil},
	{"futex", nil},
	{"signals-musl", nil},
	{"signals-musl", []string{"blocked-segv"}},
	{"signals-musl", []string{"ignored-segv"}},
	{"signals-musl", []string{"abort"}},
	{"signals-glibc", nil},
	{"signals-glibc", []string{"blocked-segv"}},
	{"signals-glibc", []string{"abort"}},
	{"hello-glibc", []string{"one", "two"}},
	{"hello-gold", nil},
	{"hello-lld", []string{"lld"}},
	{"hello-rust", []string{"rust"}},
	{"stackoverflow-rust", nil},
	{"stackoverflow-rust", []string{"thread"}},
	{"files-musl", nil},
	{"files-glibc", nil},
	{"fsnames-musl", nil},
	{"fsnames-glibc", nil},
	{"vdsoclock-musl", nil},
	{"vdsoclock-glibc", nil},
	{"memfd-musl", nil},
	{"memfd-glibc", nil},
	{"tty-musl", nil},
	{"tty-glibc", nil},
	{"epoll-musl", nil},
	{"epoll-glibc", nil},
	{"timers-musl", nil},
	{"timers-glibc", nil},
	{"select-musl", nil},
	{"select-glibc", nil},
	{"procfd-musl", nil},
	{"procfd-glibc", nil},
	{"nicetimes-musl", nil},
	{"nicetimes-glibc", nil},
	{"smapsflags-musl", nil},
	{"smapsflags-glibc", nil},
	{"pagemap-musl", nil},
	{"residency-musl", nil},
	{"pagemap-glibc", nil},
	{"mlockroot-musl", nil},
	{"mlockroot-glibc", nil},
	{"tmpfs-musl", nil},
	{"tmpfs-glibc", nil},
	{"cpuclocks-musl", nil},
	{"cpuclocks-glibc", nil},
	{"idcalls-musl", nil},
	{"idcalls-glibc", nil},
	{"rlimits-musl", nil},
	{"rlimits-glibc", nil},
	{"vsyscall-musl", nil},
	{"vsyscall-glibc", nil},
	{"numa-musl", nil},
	{"numa-glibc", nil},
	{"sysvshm-musl", nil},
	{"sysvshm-glibc", nil},
	{"sysvipc-musl", nil},
	{"sysvipc-glibc", nil},
	{"filelocks-musl", nil},
	{"filelocks-glibc", nil},
	{"sched-musl", nil},
	{"sched-glibc", nil},
	{"fsattrs-musl", nil},
	{"fsattrs-glibc", nil},
	{"perms-musl", nil},
	{"perms-glibc", nil},
	{"fdcopy-musl", nil},
	{"fdcopy-glibc", nil},
	{"sigwait-musl", nil},
	{"sigwait-glibc", nil},
	{"events-musl", nil},
	{"events-glibc", nil},
	{"uffd-musl", nil},
	{"uffd-glibc", nil},
	{"procself-musl", nil},
	{"procself-glibc", nil},
	{"sockets-musl", nil},
	{"sockets-glibc", nil},
	{"inet-musl", nil},
	{"inet-glibc", nil},
	{"exectop-musl", nil},
	{"exectop-musl", []string{"9000"}}, // the strings take three pages
}

// dirGuests take as first argument a directory filesDir makes, which mmvm
// shows at the same path (--dir DIR).
var dirGuests = map[string]bool{"files-musl": true, "files-glibc": true, "fsnames-musl": true, "fsnames-glibc": true, "procfd-musl": true, "procfd-glibc": true}

// optionalGuests need a toolchain guest/Makefile may lack (glibc's libc.a,
// gold, lld, rustc; signals-glibc, files-glibc, memfd-glibc, tty-glibc,
// epoll-glibc, timers-glibc, select-glibc, procfd-glibc, smapsflags-glibc,
// pagemap-glibc, mlockroot-glibc, tmpfs-glibc, perms-glibc and vdsoclock-glibc are signals.c, files.c,
// memfd.c, tty.c, epoll.c, timers.c, select.c, procfd.c, smapsflags.c,
// pagemap.c, mlockroot.c, tmpfs.c, perms.c and vdsoclock.c against glibc, and likewise the threaded
// and the process guests' -glibc builds); where one was not built its case says so in the log and passes, since kvmrun fails a run in
// which a KVM test skips.
var optionalGuests = map[string]bool{"hello-glibc": true, "hello-gold": true, "hello-lld": true, "hello-rust": true, "signals-glibc": true, "files-glibc": true, "fsnames-glibc": true, "vdsoclock-glibc": true, "memfd-glibc": true, "tty-glibc": true, "ctty-glibc": true, "epoll-glibc": true, "timers-glibc": true, "select-glibc": true, "procfd-glibc": true, "nicetimes-glibc": true, "smapsflags-glibc": true, "pagemap-glibc": true, "mlockroot-glibc": true, "tmpfs-glibc": true, "idcalls-glibc": true, "rlimits-glibc": true, "perms-glibc": true, "fdcopy-glibc": true, "sigwait-glibc": true, "procself-glibc": true, "sockets-glibc": true, "inet-glibc": true, "uffd-glibc": true,
	"threads-glibc": true, "threads-exit-glibc": true, "tlbshoot-glibc": true, "shootbench-glibc": true, "firsttouch-glibc": true, "threads-rust": true, "stackoverflow-rust": true, "spawn-rust": true,
	"forks-glibc": true, "forkbench-glibc": true, "cpuclocks-glibc": true, "vsyscall-glibc": true, "numa-glibc": true, "sysvshm-glibc": true, "filelocks-glibc": true, "sched-glibc": true, "fsattrs-glibc": true, "events-glibc": true, "sysvipc-glibc": true}

// filesDir makes the directory guest/files.c reads: data.txt (10000
// bytes, byte i 'a' + i%26), sub/b.txt and link -> data.txt.
func filesDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	for _, err := range []error{
		os.WriteFile(filepath.Join(dir, "data.txt"), data, 0o644),
		os.Mkdir(filepath.Join(dir, "sub"), 0o755),
		os.WriteFile(filepath.Join(dir, "sub", "b.txt"), []byte("b\n"), 0o644),
		os.Symlink("data.txt", filepath.Join(dir, "link")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// guestDir is where the built guest programs are: $MMVM_GUESTS, set by
// `make test-kvm` (kvmrun -guests); without it the test skips, or fails when
// KVM tests are required.
func guestDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MMVM_GUESTS")
	if dir == "" {
		if os.Getenv(kvmtest.RequireEnv) != "" {
			t.Fatal("MMVM_GUESTS is not set: run through `make test-kvm`, which builds the guests and passes them")
		}
		t.Skip("MMVM_GUESTS is not set: run through `make test-kvm`")
	}
	return dir
}

// runNative runs the program on the host kernel.
func runNative(t *testing.T, path string, args []string) (stdout, stderr []byte, status int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = []string{}
	status = runStatus(t, cmd) // before the buffers are read
	return o.Bytes(), e.Bytes(), status
}

// ipcGuests use System V IPC: natively they run in an IPC namespace of
// their own, as empty as mmvm's, so that their ids start at 0.
var ipcGuests = map[string]bool{"sysvshm-musl": true, "sysvshm-glibc": true, "sysvipc-musl": true, "sysvipc-glibc": true}

// runNativeFreshIPC is runNative in a new IPC namespace, which takes
// root, as the KVM tests have.
func runNativeFreshIPC(t *testing.T, path string, args []string) (stdout, stderr []byte, status int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	status = runStatus(t, cmd)
	return o.Bytes(), e.Bytes(), status
}

// runStatus runs cmd and returns its exit status as a shell reports it
// (128+signal for a program killed by one); a command that cannot run
// fails the test.
func runStatus(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatalf("running %s natively: %v", cmd.Path, err)
	return 0
}

// runInMachine runs the program in a fresh mmvm Machine with fast path fp,
// showing it views.
func runInMachine(t *testing.T, path string, args []string, fp machine.FastPath, views ...syscalls.View) (stdout, stderr []byte, stop machine.Stop) {
	t.Helper()
	return runConfigured(t, machine.Config{Views: views}, path, args, fp)
}

// runConfigured is runInMachine with the Machine's Config cfg, whose
// memory and stdio it sets.
func runConfigured(t *testing.T, cfg machine.Config, path string, args []string, fp machine.FastPath) (stdout, stderr []byte, stop machine.Stop) {
	t.Helper()
	kvmtest.Open(t)
	var o, e bytes.Buffer
	cfg.Memory, cfg.Stdout, cfg.Stderr, cfg.StdioFDs = 256<<20, &o, &e, [3]int{-1, -1, -1}
	m, err := machine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetFastPath(fp)
	if err := m.LoadProgram(path, append([]string{path}, args...), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stop, err = m.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return o.Bytes(), e.Bytes(), stop
}

// TestGuestsMatchNative runs every guest program natively and inside mmvm
// and compares stdout, stderr and exit status (matchNative).
func TestGuestsMatchNative(t *testing.T) {
	dir := guestDir(t)
	for _, tc := range guestCases {
		t.Run(tc.name+argsName(tc.args), func(t *testing.T) {
			matchNative(t, dir, tc.name, tc.args)
		})
	}
}

// guestProgram returns the path of guest program name in dir, failing
// the test if it is missing; an optional one that was not built (its
// toolchain is missing) is logged as not run, and ok is false.
func guestProgram(t *testing.T, dir, name string) (path string, ok bool) {
	t.Helper()
	path = filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		if optionalGuests[name] {
			t.Logf("NOT RUN: optional guest program not built: %v (make guests said which toolchain is missing)", err)
			return "", false
		}
		t.Fatalf("guest program missing: %v (make guests builds it)", err)
	}
	return path, true
}

// rustThreadID is the thread id Rust's std prints in a panic or a stack
// overflow ("thread 'main' (4242) has overflowed its stack"), a number
// mmvm does not choose as the host does; it is masked before stderrs are
// compared.
var rustThreadID = regexp.MustCompile(`thread '([^']*)' \(\d+\)`)

// matchNative runs guest program name from dir with args natively and
// inside mmvm and compares stdout, stderr (thread ids masked) and exit
// status, under the default fast path and with the other way of resuming
// the program (the default resumes through the stub except on PVM, where
// it resumes directly), so that both are checked on every machine.
func matchNative(t *testing.T, dir, name string, args []string) {
	t.Helper()
	def := machine.DefaultFastPath()
	other := def
	other.DirectResume = !def.DirectResume
	path, ok := guestProgram(t, dir, name)
	if !ok {
		return
	}
	var views []syscalls.View
	if dirGuests[name] {
		dir := filesDir(t)
		args = append([]string{dir}, args...)
		views = append(views, syscalls.View{Host: dir, Guest: dir})
	}
	var nOut, nErr []byte
	var nStatus int
	switch {
	case tmpfsGuests[name]:
		nOut, nErr, nStatus = runNativeFreshTmpfs(t, path, args)
	case ipcGuests[name]:
		nOut, nErr, nStatus = runNativeFreshIPC(t, path, args)
	default:
		nOut, nErr, nStatus = runNative(t, path, args)
	}
	for _, fp := range []machine.FastPath{def, other} {
		vOut, vErr, stop := runInMachine(t, path, args, fp, views...)
		if stop.Status() != nStatus {
			t.Errorf("%v: status: mmvm %d (%v %s), native %d", fp, stop.Status(), stop.Kind, stop.Reason, nStatus)
		}
		if !bytes.Equal(vOut, nOut) {
			t.Errorf("%v: stdout differs:\nmmvm:   %q\nnative: %q", fp, vOut, nOut)
		}
		if !bytes.Equal(rustThreadID.ReplaceAll(vErr, []byte("thread '$1' (TID)")), rustThreadID.ReplaceAll(nErr, []byte("thread '$1' (TID)"))) {
			t.Errorf("%v: stderr differs:\nmmvm:   %q\nnative: %q", fp, vErr, nErr)
		}
		t.Logf("%v: status %d, %d bytes of stdout; %s", fp, nStatus, len(nOut), stop.Reason)
	}
}

func argsName(args []string) string {
	s := ""
	for _, a := range args {
		s += "_" + a
	}
	return s
}
