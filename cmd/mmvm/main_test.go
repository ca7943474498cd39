package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/kvmhost"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/syscalls"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"4096", 4096, true}, {"4K", 4 << 10, true}, {"2M", 2 << 20, true}, {"512m", 512 << 20, true},
		{"1G", 1 << 30, true}, {"1GiB", 1 << 30, true}, {"64MB", 64 << 20, true},
		{"", 0, false}, {"M", 0, false}, {"-1M", 0, false}, {"1.5G", 0, false}, {"1T", 0, false},
		{"99999999999999999999G", 0, false}, {"17179869184G", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, n := range []uint64{1, 4096, 2 << 20, 3 << 30, 1<<20 + 1} {
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Errorf("formatSize(%d) = %q does not parse back (%d, %v)", n, formatSize(n), back, err)
		}
	}
}

// TestRunFlagsForwardChosenFastPath checks that the mmvm inside QEMU is
// told the fast-path choices the user made, and only those: the others are
// its own defaults, for its own KVM.
func TestRunFlagsForwardChosenFastPath(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{nil, nil, []string{"--direct-resume", "--raw-kvm-run"}},
		{[]string{"--direct-resume", "--fault-trace"}, []string{"--direct-resume=true", "--fault-trace"}, []string{"--raw-kvm-run"}},
		{[]string{"--raw-kvm-run=false"}, []string{"--raw-kvm-run=false"}, []string{"--direct-resume"}},
		{[]string{"--direct-resume=false", "--raw-kvm-run"}, []string{"--direct-resume=false", "--raw-kvm-run=true"}, nil},
	} {
		fl := flag.NewFlagSet("run", flag.ContinueOnError)
		var f runFlags
		f.register(fl)
		if err := fl.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		f.noteSet(fl)
		got := strings.Join(f.args(""), " ")
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q: inner command line %q lacks %s", tc.args, got, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("%q: inner command line %q has %s", tc.args, got, n)
			}
		}
	}
}

// TestRunDirFlag: --dir is documented, made absolute, repeatable, and
// passed on to the mmvm inside QEMU.
func TestRunDirFlag(t *testing.T) {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	var help strings.Builder
	fl.SetOutput(&help)
	var f runFlags
	f.register(fl)
	runUsage(fl)()
	if !strings.Contains(help.String(), "-dir HOST[:GUEST]") || !strings.Contains(help.String(), "EROFS") {
		t.Errorf("mmvm run --help does not document --dir:\n%s", help.String())
	}
	if err := fl.Parse([]string{"--dir", ".", "--dir", "/tmp:/scratch", "x"}); err != nil {
		t.Fatal(err)
	}
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := []syscalls.View{{Host: wd, Guest: wd}, {Host: "/tmp", Guest: "/scratch"}}
	if got := f.views(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("views = %+v, want %+v", got, want)
	}
	if inner := strings.Join(f.args(""), " "); !strings.Contains(inner, "--dir "+wd+":"+wd+" --dir /tmp:/scratch") {
		t.Errorf("inner command line %q lacks the views", inner)
	}
}

// TestViewGuestPath checks how the mmvm outside QEMU finds the guest path
// of its working directory: beneath the innermost view holding it, links
// resolved; nothing where no view holds it.
func TestViewGuestPath(t *testing.T) {
	top := t.TempDir()
	for _, d := range []string{"a/b/c", "a/x", "other"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(top, "a", "b"), filepath.Join(top, "link")); err != nil {
		t.Fatal(err)
	}
	views := []syscalls.View{{Host: filepath.Join(top, "a"), Guest: "/g"}, {Host: filepath.Join(top, "a", "b"), Guest: "/inner"}}
	for _, tc := range []struct {
		host, want string
		ok         bool
	}{
		{filepath.Join(top, "a", "b", "c"), "/inner/c", true},
		{filepath.Join(top, "link", "c"), "/inner/c", true},
		{filepath.Join(top, "a", "x"), "/g/x", true},
		{filepath.Join(top, "a"), "/g", true},
		{filepath.Join(top, "other"), "", false},
		{filepath.Join(top, "missing"), "", false},
	} {
		if got, ok := viewGuestPath(views, tc.host); got != tc.want || ok != tc.ok {
			t.Errorf("viewGuestPath(%s) = %q, %v; want %q, %v", tc.host, got, ok, tc.want, tc.ok)
		}
	}
}

// TestEnviron checks the program's environment: mmvm's own, each --env
// replacing its variable in place or added at the end; only --env's with
// --no-host-env, which the mmvm outside QEMU always passes in.
func TestEnviron(t *testing.T) {
	t.Setenv("MMVM_T_B", "2")
	host := os.Environ()
	f := runFlags{env: multiFlag{"MMVM_T_B=two", "MMVM_T_C=3=three"}}
	got := f.environ()
	b := slices.Index(host, "MMVM_T_B=2")
	if len(got) != len(host)+1 || b < 0 || got[b] != "MMVM_T_B=two" || got[len(got)-1] != "MMVM_T_C=3=three" {
		t.Errorf("environ = %q\nfrom %q", got, host)
	}
	inner := strings.Join(f.args(""), " ")
	if !strings.Contains(inner, "--no-host-env --env ") || !strings.Contains(inner, "--env MMVM_T_B=two") || strings.Contains(inner, "MMVM_T_B=2") {
		t.Errorf("inner command line %q does not pass the environment", inner)
	}
	f.noHostEnv = true
	if got, want := strings.Join(f.environ(), " "), "MMVM_T_B=two MMVM_T_C=3=three"; got != want {
		t.Errorf("--no-host-env: environ = %q, want %q", got, want)
	}
}

func TestRunFlagChecks(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{}, exitUsage},
		{[]string{"--mem", "3M", "x"}, exitUsage},
		{[]string{"--mem", "lots", "x"}, exitUsage},
		{[]string{"--fault-around", "12K", "x"}, exitUsage},
		{[]string{"--fault-around", "4M", "x"}, exitUsage},
		{[]string{"--env", "NOEQUALS", "x"}, exitUsage},
		{[]string{"--timeout", "-1s", "x"}, exitUsage},
		{[]string{"--dir", "/no/such/dir", "x"}, exitUsage},
		{[]string{"--dir", "main_test.go", "x"}, exitUsage}, // not a directory
		{[]string{"--dir", ".:relative", "x"}, exitUsage},
		{[]string{"--fault-log", "10", "x"}, exitUsage}, // no --stats-json to put them in
		{[]string{"--fault-log", "-1", "--stats-json", "s.json", "x"}, exitUsage},
		{[]string{"--qemu-tty", "stdio", "x"}, exitUsage},
		{[]string{"--qemu-tty", "stdin=/dev/pts/1:136:1", "x"}, exitUsage},
		{[]string{"--qemu-winsize", "24x80", "x"}, exitUsage},
		{[]string{"--cwd", "relative/dir", "x"}, exitUsage},
		{[]string{"--qemu-uname", `["Linux"]`, "x"}, exitUsage},
		{[]string{"--qemu-uname", "not json", "x"}, exitUsage},
		{[]string{"--no-such-flag", "x"}, exitUsage},
		{[]string{"/no/such/program"}, exitNotFound},
		{[]string{"--no-qemu", "main_test.go"}, exitMMVM}, // not an ELF: refused before any VM
		{[]string{"--help"}, 0},
	} {
		if got := runMain(tc.args); got != tc.want {
			t.Errorf("mmvm run %q = %d, want %d", tc.args, got, tc.want)
		}
	}
}

func TestStatsFilter(t *testing.T) {
	var out bytes.Buffer
	f := &statsFilter{out: &out}
	input := "guest says hi\n@" + "@partial marker-like\n" + statsMarker + `{"a":1}` + "\nlast line without newline"
	// Feed it in awkward pieces to exercise the line assembly.
	for i := 0; i < len(input); i += 3 {
		f.Write([]byte(input[i:min(i+3, len(input))]))
	}
	f.flush()
	if got, want := out.String(), "guest says hi\n@@partial marker-like\nlast line without newline"; got != want {
		t.Errorf("passed through %q, want %q", got, want)
	}
	if string(f.json) != `{"a":1}` {
		t.Errorf("kept JSON %q", f.json)
	}
}

// TestKVMRunGuest runs a guest program through `mmvm run` as a user would,
// with --stats-json, and checks its exit status and figures.
func TestKVMRunGuest(t *testing.T) {
	kvmtest.Open(t)
	dir := os.Getenv("MMVM_GUESTS")
	if dir == "" {
		t.Fatal("MMVM_GUESTS is not set: run through `make test-kvm`")
	}
	js := filepath.Join(t.TempDir(), "stats.json")
	const logged = 100
	status := runMain([]string{"--no-qemu", "--mem", "64M", "--fault-around", "4K", "--fault-trace", "--fault-log", fmt.Sprint(logged),
		"--stats-json", js, filepath.Join(dir, "touch"), "4", "4096"})
	if status != 0 {
		t.Fatalf("mmvm run touch: status %d", status)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("stats JSON: %v\n%s", err, b)
	}
	// 4 MiB touched page by page with fault-around off: at least 1024 faults.
	if r.Faults < 1024 || r.Exits["page_fault"] != r.Faults || r.FaultLatency.Count != r.Faults || r.FaultLatency.P50 <= 0 {
		t.Errorf("figures: faults %d, exits %v, latency %+v", r.Faults, r.Exits, r.FaultLatency)
	}
	if r.Stop != "exit" || r.Status != 0 || r.PeakRSS < 4<<20 {
		t.Errorf("stop %q status %d peak RSS %d", r.Stop, r.Status, r.PeakRSS)
	}
	if !strings.Contains(string(b), `"syscalls"`) {
		t.Errorf("no syscalls in %s", b)
	}
	if r.FastPath != machine.DefaultFastPath() {
		t.Errorf("fast path %v, want the default %v", r.FastPath, machine.DefaultFastPath())
	}
	if tr := r.FaultTrace; tr == nil {
		t.Error("--fault-trace gave no breakdown")
	} else if tr.Handle.Count != r.Faults || tr.Run.Count != r.Faults || tr.Run.P50 <= 0 || tr.Handle.P50 <= 0 || tr.Cycle.Count == 0 {
		t.Errorf("fault trace for %d faults: %+v", r.Faults, *tr)
	}
	// The first faults one by one: the touch loop's writes, a page each
	// (fault-around 4K), in time order, every part timed.
	if len(r.FaultLog) != logged || r.FaultsUnlogged != r.Faults-logged {
		t.Fatalf("fault log: %d records and %d unlogged for %d faults, want %d", len(r.FaultLog), r.FaultsUnlogged, r.Faults, logged)
	}
	writes := 0
	for i, rec := range r.FaultLog {
		if rec.Pages != 1 || rec.KVMRunNs <= 0 || rec.HandleNs <= 0 || rec.ResumeNs <= 0 || (i > 0 && rec.AtNs < r.FaultLog[i-1].AtNs) {
			t.Errorf("record %d: %+v", i, rec)
		}
		if rec.Write {
			writes++
		}
	}
	if writes < logged/2 {
		t.Errorf("only %d of %d logged faults were writes", writes, logged)
	}
	if status := runMain([]string{"--no-qemu", filepath.Join(dir, "nullderef")}); status != 139 {
		t.Errorf("mmvm run nullderef: status %d, want 139", status)
	}
}

// runMainOutput runs `mmvm run ARGS` in this process and returns what the
// program wrote on stdout (a file standing in for mmvm's) and the status.
func runMainOutput(t *testing.T, args []string) (string, int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = f
	status := runMain(args)
	os.Stdout = saved
	f.Close()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), status
}

// TestKVMRunInheritsEnvironment checks that the program gets mmvm's
// environment with --env's changes, as a program inherits its parent's,
// and only --env's with --no-host-env.
func TestKVMRunInheritsEnvironment(t *testing.T) {
	kvmtest.Open(t)
	busybox := os.Getenv("MMVM_BUSYBOX")
	if busybox == "" {
		busybox = "/bin/busybox"
	}
	t.Setenv("MMVM_TEST_INHERITED", "from mmvm")
	t.Setenv("MMVM_TEST_REPLACED", "old")
	run := func(args ...string) (string, int) {
		t.Helper()
		return runMainOutput(t, append([]string{"--no-qemu", "--env", "MMVM_TEST_REPLACED=new", "--env", "MMVM_TEST_ADDED=yes"}, args...))
	}
	script := `echo "$MMVM_TEST_INHERITED|$MMVM_TEST_REPLACED|$MMVM_TEST_ADDED"`
	out, status := run(busybox, "sh", "-c", script)
	if status != 0 || out != "from mmvm|new|yes\n" {
		t.Errorf("inherited: status %d, output %q", status, out)
	}
	out, status = run("--no-host-env", busybox, "sh", "-c", `echo "$MMVM_TEST_INHERITED|$MMVM_TEST_REPLACED|$MMVM_TEST_ADDED"`)
	if status != 0 || out != "|new|yes\n" {
		t.Errorf("--no-host-env: status %d, output %q", status, out)
	}
}

// TestKVMRunStartsInWorkingDir checks that the program starts where a
// view shows mmvm's working directory, as a program inherits its
// parent's, so that relative paths on its command line work as they do
// natively; --cwd names another directory; one the guest lacks is refused.
func TestKVMRunStartsInWorkingDir(t *testing.T) {
	kvmtest.Open(t)
	busybox := os.Getenv("MMVM_BUSYBOX")
	if busybox == "" {
		busybox = "/bin/busybox"
	}
	top := t.TempDir()
	if err := os.MkdirAll(filepath.Join(top, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "sub", "data.txt"), []byte("relative\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(filepath.Join(top, "sub")); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	run := func(args ...string) (string, int) {
		t.Helper()
		return runMainOutput(t, append([]string{"--no-qemu", "--dir", top + ":/w"}, args...))
	}
	if out, status := run(busybox, "sh", "-c", "pwd; cat data.txt"); status != 0 || out != "/w/sub\nrelative\n" {
		t.Errorf("in the view: status %d, output %q", status, out)
	}
	if out, status := run("--cwd", "/w", busybox, "cat", "sub/data.txt"); status != 0 || out != "relative\n" {
		t.Errorf("--cwd /w: status %d, output %q", status, out)
	}
	if _, status := run("--cwd", "/w/none", busybox, "true"); status != exitMMVM {
		t.Errorf("--cwd of a missing directory: status %d, want %d", status, exitMMVM)
	}
}

// TestReportNamesUnimplemented checks that --stats names the calls that
// were answered ENOSYS, in number order, and lists them apart from the
// implemented ones.
func TestReportNamesUnimplemented(t *testing.T) {
	r := report{Program: "p", Stop: "exit"}
	r.Syscalls = []syscalls.SyscallCount{{Name: "write", Count: 3}, {Name: "openat", Count: 2}, {Name: "poll", Count: 1}}
	r.Unimplemented = map[uint64]uint64{257: 2, 7: 1}
	var b bytes.Buffer
	r.print(&b)
	out := b.String()
	for _, want := range []string{"  syscalls         write 3\n", "  unimplemented     poll(#7)×1 openat(#257)×2 (answered ENOSYS)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--stats output lacks %q:\n%s", want, out)
		}
	}
}

// TestReportSaysCloneRefusals checks that --stats says what the refused
// clone requests asked for.
func TestReportSaysCloneRefusals(t *testing.T) {
	r := report{Program: "p", Stop: "exit"}
	r.CloneRefused = map[syscalls.CloneKind]uint64{syscalls.CloneVfork: 2, syscalls.CloneProcess: 1}
	var b bytes.Buffer
	r.print(&b)
	want := "  clone refused    new process×1 vfork×2 (answered ENOSYS)\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("--stats output lacks %q:\n%s", want, b.String())
	}
}

// TestReportSaysProcesses checks that --stats counts the processes a run
// made, and says nothing of them for a program that made none.
func TestReportSaysProcesses(t *testing.T) {
	r := report{Program: "p", Stop: "exit"}
	r.Processes, r.Forks, r.Execs = 4, 3, 2
	var b bytes.Buffer
	r.print(&b)
	want := "  processes        4 (forks 3, execs 2); the syscalls below are all processes'\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("--stats output lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	(&report{Program: "p", Stop: "exit"}).print(&b)
	if strings.Contains(b.String(), "processes") {
		t.Errorf("--stats reports processes for a program that made none:\n%s", b.String())
	}
}

// TestReportSaysSignals checks that --stats says which signals ran a
// handler, and which stayed pending.
func TestReportSaysSignals(t *testing.T) {
	r := report{Program: "p", Stop: "signal"}
	r.Signals = syscalls.SignalStats{Handled: map[string]uint64{"SIGUSR1": 2, "SIGABRT": 1}, Pending: []string{"SIGPIPE"}}
	var b bytes.Buffer
	r.print(&b)
	want := "  signals          SIGABRT×1 SIGUSR1×2 handled; blocked and pending: SIGPIPE\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("--stats output lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	(&report{Program: "p", Stop: "exit"}).print(&b)
	if strings.Contains(b.String(), "signals") {
		t.Errorf("--stats reports signals when there were none:\n%s", b.String())
	}
}

// TestQEMUProgram: the mmvm inside QEMU runs a view's copy of a program
// the view shows (the innermost view's), which its own views then show at
// the view's path; else a copy beside it, shown at the program's absolute
// path here, where the program finds itself as it would outside QEMU.
func TestQEMUProgram(t *testing.T) {
	views := []syscalls.View{{Host: "/srv", Guest: "/srv"}, {Host: "/srv/bin", Guest: "/bin"}, {Host: "/opt", Guest: "/o"}}
	files := [][]kvmhost.File{
		{{HostPath: "/srv/bin/tool", GuestPath: "/mmvm/dir/0/bin/tool"}, {HostPath: "/srv/x", GuestPath: "/mmvm/dir/0/x"}},
		{{HostPath: "/srv/bin/tool", GuestPath: "/mmvm/dir/1/tool"}},
		{{HostPath: "/opt/x", GuestPath: "/mmvm/dir/2/x"}},
	}
	for _, tc := range []struct {
		prog                string
		path, exePath, copy string
	}{
		{"/srv/bin/tool", "/mmvm/dir/1/tool", "", ""},
		{"/srv/x", "/mmvm/dir/0/x", "", ""},
		{"/srv/bin/../x", "/mmvm/dir/0/x", "", ""},
		{"/usr/bin/tool", "/mmvm/prog/tool", "/usr/bin/tool", "/usr/bin/tool"},
	} {
		run := qemuProgram(tc.prog, views, files)
		copied := ""
		if run.copy != nil {
			copied = run.copy.HostPath
			if run.copy.GuestPath != run.path {
				t.Errorf("%s: copied to %s, run from %s", tc.prog, run.copy.GuestPath, run.path)
			}
		}
		if run.path != tc.path || run.exePath != tc.exePath || copied != tc.copy {
			t.Errorf("%s: runs %q --exe-path %q, copy of %q; want %q, %q, %q", tc.prog, run.path, run.exePath, copied, tc.path, tc.exePath, tc.copy)
		}
	}
	wd, _ := os.Getwd()
	if run := qemuProgram("prog", nil, nil); run.exePath != filepath.Join(wd, "prog") {
		t.Errorf("a relative program's --exe-path %q, want %q", run.exePath, filepath.Join(wd, "prog"))
	}
}

// TestKVMRunExePath runs gosys selfexec with --exe-path, as the mmvm
// inside QEMU runs its copy of a program: the program finds itself at
// that path, not the copy's, and a child exec'ed from it runs.
func TestKVMRunExePath(t *testing.T) {
	kvmtest.Open(t)
	dir := os.Getenv("MMVM_GUESTS")
	if dir == "" {
		t.Fatal("MMVM_GUESTS is not set: run through `make test-kvm`")
	}
	const outside = "/opt/elsewhere/gosys"
	if status := runMain([]string{"--no-qemu", "--as", outside, "--exe-path", outside, filepath.Join(dir, "gosys"), "selfexec"}); status != 0 {
		t.Errorf("mmvm run --exe-path %s gosys selfexec: status %d, want 0", outside, status)
	}
	if status := runMain([]string{"--exe-path", "relative/gosys", filepath.Join(dir, "gosys"), "selfexec"}); status != exitUsage {
		t.Errorf("mmvm run --exe-path relative/gosys: status %d, want %d", status, exitUsage)
	}
}
