package kvmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"", "plain", "with space", "it's", `"$HOME" $(x) \n`, "a'b'c"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) through sh = %q, %v", s, out, err)
		}
	}
}

func TestInitScript(t *testing.T) {
	k := kernelIn("/k", "6.1")
	script := initScript(k, []Command{
		{Path: "/kvmtests/a.test", Args: []string{"-test.v", "it's"}},
		{Path: "/bin/prog", Env: []string{"A=1"}, Dir: "/work"},
	})
	for _, want := range []string{
		"insmod /lib/modules/irqbypass.ko", "insmod /lib/modules/kvm.ko", "insmod /lib/modules/kvm-amd.ko",
		`echo "$M start 0`, `'/kvmtests/a.test' '-test.v' 'it'\''s'`, `echo "$M exit 0 $st`,
		`cd '/work' && env 'A=1' '/bin/prog'`, `echo "$M exit 1 $st`,
		">/dev/ttyS1 2>/dev/console", "poweroff -f", "MMVM_REQUIRE_KVM=1",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("init script lacks %q:\n%s", want, script)
		}
	}
	// Modules load in order: irqbypass, kvm, kvm-amd.
	if i, j, l := strings.Index(script, "irqbypass.ko"), strings.Index(script, "/kvm.ko"), strings.Index(script, "kvm-amd.ko"); !(i < j && j < l) {
		t.Error("modules are not loaded in dependency order")
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("init script does not parse: %v\n%s", err, out)
		}
	}
}

// TestInitScriptLinearInArgs generates the script for a command with
// 100,000 arguments: the bytes allocated must stay within a small multiple
// of the script's size (building each line by repeated concatenation
// allocated gigabytes and took 12 s).
func TestInitScriptLinearInArgs(t *testing.T) {
	k := kernelIn("/k", "6.1")
	args := make([]string, 100_000)
	for i := range args {
		args[i] = fmt.Sprintf("arg%d", i)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	script := initScript(k, []Command{{Path: "/bin/prog", Args: args}})
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("100000 arguments: %d-byte script, %d bytes allocated, %v", len(script), alloc, took)
	if alloc > 16*uint64(len(script)) {
		t.Errorf("generating a %d-byte script allocated %d bytes: not linear in the arguments", len(script), alloc)
	}
	if !strings.Contains(script, "'/bin/prog' 'arg0' 'arg1' ") || !strings.Contains(script, " 'arg99999')") {
		t.Error("the command line lacks its arguments")
	}
}

// feed runs the console follower over text and returns what it saw.
func feed(text string, ncmds int) (f *follower, stderr, log string) {
	var se, lg bytes.Buffer
	spec := &Spec{Stderr: &se, Log: &lg, CPU: "max"}
	res := &Result{ExitStatus: make([]int, ncmds)}
	for i := range res.ExitStatus {
		res.ExitStatus[i] = -1
	}
	f = &follower{spec: spec, res: res, qemuStart: time.Now(), current: -1}
	f.follow(strings.NewReader(text))
	return f, se.String(), lg.String()
}

func TestFollowerRoutesAndStatuses(t *testing.T) {
	console := "\x1b[2JSeaBIOS\nboot noise\n" +
		marker + " init 2.50\n" +
		"init says hi\n" +
		marker + " kvm 3.0\n" +
		marker + " start 0 3.1\n" +
		"err line 1\nno newline" + marker + " exit 0 7 3.2\n" +
		marker + " start 1 3.3\n" + marker + " exit 1 0 3.4\n" +
		marker + " done 3.5\n[ 3.6] reboot: Power down\n"
	f, stderr, log := feed(console, 2)
	f.finish(nil, "")
	if f.err != nil {
		t.Fatalf("err = %v", f.err)
	}
	if stderr != "err line 1\nno newline" {
		t.Errorf("stderr = %q", stderr)
	}
	if strings.Contains(log, "SeaBIOS") || strings.Contains(log, "Power down") || !strings.Contains(log, "init says hi") {
		t.Errorf("log = %q: want /init's text only", log)
	}
	if got := f.res.ExitStatus; got[0] != 7 || got[1] != 0 {
		t.Errorf("statuses = %v, want [7 0]", got)
	}
	if f.res.Timings.GuestUptimeAtInit != "2.50" {
		t.Errorf("guest uptime = %q", f.res.Timings.GuestUptimeAtInit)
	}
}

func TestFollowerFailures(t *testing.T) {
	for _, tc := range []struct {
		name, console string
		waitErr       error
		want          []string
	}{
		{"silent", "", errors.New("signal: killed"), []string{"no serial output at all", "signal: killed"}},
		{"no init", "SeaBIOS\nKernel panic\n", nil, []string{"no output from the guest's /init", "Kernel panic"}},
		{"module", marker + " init 1\ninsmod: can't insert\n" + marker + " fail kvm-amd.ko refused to load\n[1.0] kvm: no hardware support for 'kvm_amd'\n" + marker + " done 2\n",
			nil, []string{"kvm-amd.ko refused to load", "needs a guest CPU with SVM", "no hardware support"}},
		{"died mid-command", marker + " init 1\n" + marker + " kvm 1\n" + marker + " start 0 1\npanic: boom\n", errors.New("exit status 1"),
			[]string{"while command 0 was running", "panic: boom"}},
	} {
		f, _, _ := feed(tc.console, 1)
		f.finish(tc.waitErr, "")
		var ge *GuestError
		if !errors.As(f.err, &ge) {
			t.Errorf("%s: err = %v, want a *GuestError", tc.name, f.err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(f.err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, f.err, w)
			}
		}
	}
}

func TestPrintable(t *testing.T) {
	if got := printable("\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\x07 ok\r"); got != "SeaBIOS ok" {
		t.Errorf("printable = %q", got)
	}
}

func TestCannotInstall(t *testing.T) {
	err := cannotInstall([]string{"qemu-system-x86", "cpio"}, false, true)
	var ee *EnvError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "not root") ||
		!strings.Contains(err.Error(), "apt-get install -y qemu-system-x86 cpio") {
		t.Errorf("not root: %v", err)
	}
	if err := cannotInstall([]string{"cpio"}, true, false); err == nil || !strings.Contains(err.Error(), "no apt-get") {
		t.Errorf("no apt: %v", err)
	}
	if err := cannotInstall([]string{"cpio"}, true, true); err != nil {
		t.Errorf("root with apt: %v", err)
	}
}

func TestCheckSpecAndFilesInDir(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b"), []byte("b"), 0o644)
	files, err := FilesInDir(dir, "/guest")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].GuestPath != "/guest/a" || files[1].GuestPath != "/guest/sub/b" || files[1].Mode != 0o644 {
		t.Errorf("FilesInDir = %+v", files)
	}
	for _, tc := range []struct {
		spec Spec
		ok   bool
	}{
		{Spec{Files: files, Commands: []Command{{Path: "/guest/a"}}}, true},
		{Spec{}, false},
		{Spec{Commands: []Command{{Path: "relative"}}}, false},
		{Spec{Files: []File{{HostPath: filepath.Join(dir, "missing"), GuestPath: "/x"}}, Commands: []Command{{Path: "/x"}}}, false},
		{Spec{Files: []File{{HostPath: files[0].HostPath, GuestPath: "x"}}, Commands: []Command{{Path: "/x"}}}, false},
	} {
		if err := checkSpec(&tc.spec); (err == nil) != tc.ok {
			t.Errorf("checkSpec(%+v) = %v, want ok=%v", tc.spec, err, tc.ok)
		}
	}
}

// TestBuildInitramfsLeavesHostFilesAlone: staging a host file for the
// archive changes neither its mode (a file staged with other permissions
// is copied, since a chmod of a hard link is the host file's) nor, once
// the archive is made, its link count.
func TestBuildInitramfsLeavesHostFilesAlone(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("no cpio")
	}
	dir := t.TempDir()
	prog, data := filepath.Join(dir, "prog"), filepath.Join(dir, "data")
	os.WriteFile(prog, []byte("prog"), 0o600)
	os.WriteFile(data, []byte("data"), 0o644)
	os.Chmod(prog, 0o600)
	os.Chmod(data, 0o644)
	out := filepath.Join(dir, "initrd.cpio")
	files := []stageFile{{guest: "/p/prog", host: prog, mode: 0o755}, {guest: "/d/data", host: data, mode: 0o644}}
	if err := buildInitramfs(context.Background(), filepath.Join(dir, "root"), out, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{prog, 0o600}, {data, 0o644}} {
		var st unix.Stat_t
		if err := unix.Stat(f.path, &st); err != nil {
			t.Fatal(err)
		}
		if got := os.FileMode(st.Mode & 0o777); got != f.mode || st.Nlink != 1 {
			t.Errorf("%s: mode %v, %d links after the archive; want %v, 1", f.path, got, st.Nlink, f.mode)
		}
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Contains(b, []byte("p/prog")) || !bytes.Contains(b, []byte("data")) {
		t.Errorf("archive: %v, %d bytes", err, len(b))
	}
}

// TestOrderLikeHost: the archive makes a copied directory's entries in the
// host directory's own listing order (which the guest's rootfs then lists
// them in), its subdirectory's too, each parent before its children, and
// names with no host file after, by name.
func TestOrderLikeHost(t *testing.T) {
	host := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(host, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostOf := map[string]string{}
	var names []string
	for i := range 30 {
		for _, d := range []string{"", "sub"} {
			n := fmt.Sprintf("f%02d", i)
			if err := os.WriteFile(filepath.Join(host, d, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			rel := strings.TrimSuffix("mmvm/dir/0/"+d, "/") + "/" + n
			hostOf[rel] = filepath.Join(host, d, n)
			names = append(names, rel)
		}
	}
	names = append(names, "mmvm", "mmvm/dir", "mmvm/dir/0", "mmvm/dir/0/sub", "init", "bin", "bin/busybox")
	orderLikeHost(names, hostOf)
	listing := func(dir string) []string {
		d, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ns, err := d.Readdirnames(-1)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	var top, sub []string
	seen := map[string]bool{}
	for _, n := range names {
		if p := filepath.Dir(n); p != "." && !seen[p] {
			t.Errorf("%s comes before its parent", n)
		}
		seen[n] = true
		switch filepath.Dir(n) {
		case "mmvm/dir/0":
			top = append(top, filepath.Base(n))
		case "mmvm/dir/0/sub":
			sub = append(sub, filepath.Base(n))
		}
	}
	if want := listing(host); strings.Join(top, " ") != strings.Join(want, " ") {
		t.Errorf("copied directory in order\n%q\nthe host lists\n%q", top, want)
	}
	if want := listing(filepath.Join(host, "sub")); strings.Join(sub, " ") != strings.Join(want, " ") {
		t.Errorf("copied subdirectory in order\n%q\nthe host lists\n%q", sub, want)
	}
	if i, j := slicesIndex(names, "bin"), slicesIndex(names, "init"); i > j {
		t.Errorf("names with no host file not by name: %q", names)
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
