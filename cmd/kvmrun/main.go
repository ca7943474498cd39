// Command kvmrun runs what needs /dev/kvm: on this machine's KVM when it
// has one, otherwise inside a QEMU guest that has one (package kvmhost).
//
//	kvmrun test [-timeout D] [-run REGEX] [-bench REGEX [-benchtime T]] [-guests DIR] [-race] [-kinds K;K] [-parallel=false] PKG[:REGEX]...
//	    builds each package's tests statically, runs them (those matching
//	    REGEX, for a package whose other tests do not need KVM) with -test.v on
//	    each KVM kind (/dev/kvm alone first, then the QEMU kinds, at the same
//	    time unless -parallel=false or the machine has one CPU) and
//	    prints a count of KVM tests passed, failed and skipped; any failure
//	    or skip (a KVM test must really run) fails the run. -bench also runs
//	    the benchmarks matching its REGEX (-run '^$' runs only them), each
//	    for -benchtime (default 1x: one iteration), and counts them. With
//	    -race the tests are built with the race detector, and a race fails
//	    the test that saw it.
//	kvmrun exec [-timeout D] [-cpu MODEL] [-file HOST[:GUEST]]... [-dir HOSTDIR:GUESTDIR]... PROG [ARG...]
//	    runs the static program PROG in the QEMU guest, passing its stdout,
//	    stderr and exit status back.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/kvmhost"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var code int
	switch os.Args[1] {
	case "test":
		code = testMain(os.Args[2:])
	case "exec":
		code = execMain(os.Args[2:])
	default:
		usage()
	}
	os.Exit(code)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kvmrun test [-timeout D] [-run REGEX] [-bench REGEX [-benchtime T]] [-guests DIR] [-race] PKG[:REGEX]...\n       kvmrun exec [-timeout D] [-cpu MODEL] [-file HOST[:GUEST]]... [-dir HOSTDIR:GUESTDIR]... PROG [ARG...]")
	os.Exit(2)
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// execMain runs one program in the guest and exits with its status.
func execMain(args []string) int {
	fl := flag.NewFlagSet("exec", flag.ExitOnError)
	timeout := fl.Duration("timeout", 5*time.Minute, "hard limit for the whole run")
	cache := fl.String("cache", ".cache/kvmhost", "cache directory")
	cpu := fl.String("cpu", "max", "QEMU's -cpu model: max (SVM with nested paging) or max,npt=off (shadow paging)")
	var files, dirs multiFlag
	fl.Var(&files, "file", "HOST[:GUEST] file to put in the guest (default guest path /files/BASENAME)")
	fl.Var(&dirs, "dir", "HOSTDIR:GUESTDIR directory whose files go into the guest")
	fl.Parse(args)
	if fl.NArg() < 1 {
		usage()
	}
	prog := fl.Arg(0)
	spec := kvmhost.Spec{Timeout: *timeout, Stdout: os.Stdout, Stderr: os.Stderr, Log: os.Stderr, CacheDir: *cache, CPU: *cpu}
	guestProg := "/files/" + filepath.Base(prog)
	spec.Files = append(spec.Files, kvmhost.File{HostPath: prog, GuestPath: guestProg})
	for _, f := range files {
		host, guest, ok := strings.Cut(f, ":")
		if !ok {
			guest = "/files/" + filepath.Base(host)
		}
		spec.Files = append(spec.Files, kvmhost.File{HostPath: host, GuestPath: guest})
	}
	for _, d := range dirs {
		host, guest, ok := strings.Cut(d, ":")
		if !ok {
			fmt.Fprintf(os.Stderr, "kvmrun: -dir %q: want HOSTDIR:GUESTDIR\n", d)
			return 2
		}
		fs, err := kvmhost.FilesInDir(host, guest)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kvmrun:", err)
			return 2
		}
		spec.Files = append(spec.Files, fs...)
	}
	spec.Commands = []kvmhost.Command{{Path: guestProg, Args: fl.Args()[1:]}}
	res, err := kvmhost.Run(context.Background(), spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	return res.ExitStatus[0]
}

// guestsEnv names the directory of guest programs for tests that run them.
const guestsEnv = "MMVM_GUESTS"

// testBinary is one package's compiled tests.
type testBinary struct {
	pkg, dir, bin string
	run           string // -test.run for this package ("" for all)
}

// args are the test binary's arguments: the user's -run wins over the
// package's own selection.
func (b testBinary) args(common []string, run string) []string {
	if run == "" {
		run = b.run
	}
	args := append([]string(nil), common...)
	if run != "" {
		args = append(args, "-test.run="+run)
	}
	return args
}

// testMain builds and runs the KVM test binaries and judges them.
func testMain(args []string) int {
	fl := flag.NewFlagSet("test", flag.ExitOnError)
	timeout := fl.Duration("timeout", 10*time.Minute, "hard limit for running the tests (QEMU included)")
	run := fl.String("run", "", "run only tests matching this regular expression")
	cache := fl.String("cache", ".cache/kvmhost", "cache directory")
	forceQEMU := fl.Bool("qemu", false, "run only in the QEMU guests, even when /dev/kvm works here")
	only := fl.String("kinds", "", "run only on these KVM kinds, separated by ';': host, or a QEMU -cpu value ("+strings.Join(kindNames(), "; ")+")")
	guests := fl.String("guests", "", "directory of guest programs the tests run; they find it in $"+guestsEnv)
	bench := fl.String("bench", "", "also run the benchmarks matching this regular expression")
	benchtime := fl.String("benchtime", "1x", "each benchmark's -test.benchtime (QEMU's figures are counts: one iteration is enough)")
	parallel := fl.Bool("parallel", runtime.NumCPU() >= 2, "run the QEMU kinds at the same time, each QEMU on a core of its own (the default with 2 or more CPUs); /dev/kvm's tests always run alone, first")
	race := fl.Bool("race", false, "build the tests with the race detector (cgo, linked statically; needs gcc); the QEMU guest gets "+fmt.Sprint(raceMemoryMiB)+" MiB for its shadow memory")
	fl.Parse(args)
	if fl.NArg() == 0 {
		usage()
	}
	start := time.Now()

	buildStart := time.Now()
	bins, err := buildTests(fl.Args(), filepath.Join(*cache, "bin"), *race)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvmrun:", err)
		return 1
	}
	buildTime := time.Since(buildStart)

	testArgs := []string{"-test.v", "-test.count=1", "-test.timeout=" + (*timeout).String()}
	if *bench != "" {
		testArgs = append(testArgs, "-test.bench="+*bench, "-test.benchtime="+*benchtime)
	}
	kinds := kvmKinds(*forceQEMU, *only)
	if len(kinds) == 0 {
		fmt.Fprintf(os.Stderr, "kvmrun: -kinds %q names no KVM kind (%s)\n", *only, strings.Join(kindNames(), ", "))
		return 2
	}
	ok := true
	var lines []string
	for _, group := range kindGroups(kinds) {
		together := *parallel && len(group) > 1
		if together {
			if err := kvmhost.Prepare(context.Background(), *cache, os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "kvmrun:", err)
				return 1
			}
		}
		results := make([]kindResult, len(group))
		var wg sync.WaitGroup
		for i, k := range group {
			fmt.Printf("kvmrun: == KVM tests on %s\n", k.name)
			stdout, stderr := io.Writer(os.Stdout), io.Writer(os.Stderr)
			if together {
				// Each line says which kind printed it.
				stdout, stderr = newLinePrefixer(&stdoutMu, os.Stdout, k.label+"| "), newLinePrefixer(&stderrMu, os.Stderr, k.label+"| ")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := &results[i]
				r.counter = newTestCounter(stdout)
				r.statuses, r.timings, r.err = k.run(bins, testArgs, *run, *guests, *timeout, *cache, *race, r.counter, stdout, stderr)
				r.counter.Flush()
				if f, ok := stdout.(*linePrefixer); ok {
					f.Flush()
					stderr.(*linePrefixer).Flush()
				}
			}()
			if !together {
				wg.Wait()
			}
		}
		wg.Wait()
		for i, k := range group {
			r := &results[i]
			if r.err != nil {
				fmt.Fprintln(os.Stderr, "kvmrun:", r.err)
				fmt.Printf("kvmrun: FAIL on %s: the tests did not complete\n", k.name)
				ok = false
			}
			fmt.Printf("kvmrun: time on %s: build %v, %s\n", k.name, buildTime.Round(time.Millisecond), r.timings)
			if verdict(k.name, bins, r.statuses, r.counter) != 0 {
				ok = false
			}
			line := fmt.Sprintf("kvmrun: %s: %d passed, %d failed, %d skipped", k.name, r.counter.pass, r.counter.fail, r.counter.skip)
			if *bench != "" {
				line += fmt.Sprintf("; %d benchmarks ran", r.counter.bench)
			}
			lines = append(lines, line)
		}
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("kvmrun: total %v\n", time.Since(start).Round(time.Millisecond))
	if !ok {
		fmt.Println("kvmrun: FAIL")
		return 1
	}
	fmt.Println("kvmrun: PASS")
	return 0
}

// kvmKind is one KVM the tests run on: this machine's /dev/kvm, or a QEMU
// guest whose emulated AMD SVM gives a nested KVM, with nested paging (as
// on VT-x/SVM hosts) or without it (shadow paging, whose rules for page-table
// changes are those of the PVM KVM).
type kvmKind struct {
	name string
	// label prefixes the kind's output lines when kinds run at once.
	label string
	// cpu is QEMU's -cpu model; "" runs on this machine's /dev/kvm.
	cpu string
}

// The QEMU kinds. npt=off hides nested paging from the guest, so its
// kvm_amd falls back to shadow paging.
var qemuKinds = []kvmKind{
	{name: "QEMU SVM, nested paging", label: "nested", cpu: "max"},
	{name: "QEMU SVM, shadow paging", label: "shadow", cpu: "max,npt=off"},
}

// kindResult is what one kind's run gave.
type kindResult struct {
	counter  *testCounter
	statuses []int
	timings  string
	err      error
}

// stdoutMu and stderrMu serialize the kinds' prefixed lines.
var stdoutMu, stderrMu sync.Mutex

// kindGroups orders the runs: /dev/kvm alone (its tests include
// timings that other work on the machine would disturb), then the QEMU
// kinds, which may run together (-parallel: each QEMU guest has one vCPU,
// so each keeps one core busy).
func kindGroups(kinds []kvmKind) [][]kvmKind {
	var groups [][]kvmKind
	var qemu []kvmKind
	for _, k := range kinds {
		if k.cpu == "" {
			groups = append(groups, []kvmKind{k})
		} else {
			qemu = append(qemu, k)
		}
	}
	if len(qemu) > 0 {
		groups = append(groups, qemu)
	}
	return groups
}

func kindNames() []string {
	names := []string{"host"}
	for _, k := range qemuKinds {
		names = append(names, k.cpu)
	}
	return names
}

// kvmKinds returns every KVM the tests can reach: /dev/kvm when it works
// (unless qemuOnly), then each QEMU kind. only, when set, is a
// semicolon-separated list of kinds to keep: "host" or a QEMU -cpu value.
func kvmKinds(qemuOnly bool, only string) []kvmKind {
	var kinds []kvmKind
	if err := kvm.Available(); err != nil {
		fmt.Printf("kvmrun: no usable /dev/kvm here (%v): the tests run in QEMU guests only\n", err)
	} else if !qemuOnly {
		name := "/dev/kvm"
		if impl := kvm.Implementation(); impl != "" {
			name += " (" + impl + ")"
		}
		kinds = append(kinds, kvmKind{name: name})
	}
	kinds = append(kinds, qemuKinds...)
	if only == "" {
		return kinds
	}
	keep := map[string]bool{}
	for _, k := range strings.Split(only, ";") {
		keep[strings.TrimSpace(k)] = true
	}
	var out []kvmKind
	for _, k := range kinds {
		if (k.cpu == "" && keep["host"]) || (k.cpu != "" && keep[k.cpu]) {
			out = append(out, k)
		}
	}
	return out
}

// run runs the test binaries on the kind and returns each binary's exit
// status and where the time went.
func (k kvmKind) run(bins []testBinary, testArgs []string, run, guests string, timeout time.Duration, cache string, race bool, counter *testCounter, stdout, stderr io.Writer) ([]int, string, error) {
	if k.cpu == "" {
		runStart := time.Now()
		var env []string
		if guests != "" {
			abs, err := filepath.Abs(guests)
			if err != nil {
				return nil, "", err
			}
			env = append(env, guestsEnv+"="+abs)
		}
		st := runDirect(bins, testArgs, run, env, counter, counter.Stderr(stderr))
		return st, fmt.Sprintf("tests %v", time.Since(runStart).Round(time.Millisecond)), nil
	}
	spec := kvmhost.Spec{Timeout: timeout, Stdout: counter, Stderr: counter.Stderr(stderr), Log: stdout, CacheDir: cache, CPU: k.cpu}
	if race {
		spec.MemoryMiB = raceMemoryMiB
	}
	var env []string
	if guests != "" {
		fs, err := kvmhost.FilesInDir(guests, "/guests")
		if err != nil {
			return nil, "", fmt.Errorf("-guests: %w", err)
		}
		spec.Files = append(spec.Files, fs...)
		env = append(env, guestsEnv+"=/guests")
	}
	for _, b := range bins {
		guest := "/kvmtests/" + filepath.Base(b.bin)
		spec.Files = append(spec.Files, kvmhost.File{HostPath: b.bin, GuestPath: guest})
		spec.Commands = append(spec.Commands, kvmhost.Command{Path: guest, Args: b.args(testArgs, run), Env: env})
	}
	res, err := kvmhost.Run(context.Background(), spec)
	var st []int
	var timings string
	if res != nil {
		st, timings = res.ExitStatus, res.Timings.String()
	}
	return st, timings, err
}

// verdict prints the count and decides the exit status: every binary must
// exit 0, no test or benchmark may fail or skip, and at least one test or
// benchmark must run.
func verdict(kind string, bins []testBinary, statuses []int, c *testCounter) int {
	fmt.Printf("kvmrun: KVM tests on %s: %d passed, %d failed, %d skipped\n", kind, c.pass, c.fail, c.skip)
	ok := true
	for i, b := range bins {
		if i >= len(statuses) || statuses[i] != 0 {
			st := -1
			if i < len(statuses) {
				st = statuses[i]
			}
			fmt.Printf("kvmrun: %s: test binary exited with status %d\n", b.pkg, st)
			ok = false
		}
	}
	for _, n := range c.failed {
		fmt.Printf("kvmrun: FAILED %s\n", n)
	}
	for _, n := range c.skipped {
		fmt.Printf("kvmrun: SKIPPED %s (a KVM test must run: a skip is a failure here)\n", n)
	}
	if !ok {
		// A binary died: say where, so that the end of the log explains it.
		for _, n := range c.unfinished {
			fmt.Printf("kvmrun: NOT FINISHED %s\n", n)
		}
		for _, l := range c.crash {
			fmt.Printf("kvmrun: | %s\n", l)
		}
	}
	if c.fail > 0 || c.skip > 0 || c.pass+c.bench == 0 {
		ok = false
	}
	if !ok {
		return 1
	}
	return 0
}

// raceMemoryMiB is the QEMU guest's memory for tests built with the race
// detector, whose shadow memory (several times the Go heap) comes on top
// of the initramfs and the guests' memfds.
const raceMemoryMiB = 1024

// buildTests compiles each package's tests as a static binary. A spec is
// a package pattern, optionally followed by :REGEX selecting its KVM tests.
//
// The QEMU guest has no shared libraries, so every binary is static. Without
// the race detector cgo is off; with it, cgo must be on (the race runtime is
// C code calling libc), so the binary is linked externally with -static,
// libc included.
func buildTests(specs []string, binDir string, race bool) ([]testBinary, error) {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	var bins []testBinary
	for _, sp := range specs {
		pattern, run, _ := strings.Cut(sp, ":")
		out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{.Dir}} {{len .TestGoFiles}} {{len .XTestGoFiles}}", pattern).Output()
		if err != nil {
			return nil, fmt.Errorf("go list %s: %w", pattern, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) != 4 || (f[2] == "0" && f[3] == "0") {
				continue
			}
			name := strings.ReplaceAll(strings.TrimPrefix(f[0], "github.com/mmvm/mmvm/"), "/", "_")
			goArgs := []string{"test", "-c"}
			cgo := "CGO_ENABLED=0"
			if race {
				name += ".race"
				goArgs = append(goArgs, "-race", "-ldflags=-linkmode=external -extldflags=-static")
				cgo = "CGO_ENABLED=1"
			}
			b := testBinary{pkg: f[0], dir: f[1], bin: filepath.Join(binDir, name+".test"), run: run}
			cmd := exec.Command("go", append(goArgs, "-o", b.bin, b.pkg)...)
			cmd.Env = append(os.Environ(), cgo)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("building the tests of %s: %w", b.pkg, err)
			}
			bins = append(bins, b)
		}
	}
	if len(bins) == 0 {
		return nil, errors.New("no package with tests among " + strings.Join(specs, " "))
	}
	return bins, nil
}

// runDirect runs the binaries on this machine, in their package directory.
func runDirect(bins []testBinary, args []string, run string, env []string, stdout, stderr io.Writer) []int {
	var st []int
	for _, b := range bins {
		bin, _ := filepath.Abs(b.bin)
		cmd := exec.Command(bin, b.args(args, run)...)
		cmd.Dir = b.dir
		cmd.Env = append(append(os.Environ(), kvmtest.RequireEnv+"=1"), env...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			st = append(st, 0)
		case errors.As(err, &ee):
			st = append(st, ee.ExitCode())
		default:
			fmt.Fprintln(os.Stderr, "kvmrun:", err)
			st = append(st, -1)
		}
	}
	return st
}
