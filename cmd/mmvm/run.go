package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/kvmhost"
	"github.com/mmvm/mmvm/latency"
	"github.com/mmvm/mmvm/loader"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/syscalls"
)

// Exit statuses of mmvm itself, as env(1) and timeout(1) use them: the
// program's own status otherwise passes through unchanged.
const (
	exitUsage    = 2   // bad command line
	exitMMVM     = 125 // mmvm failed (no KVM, bad ELF, ...)
	exitTimeout  = 124 // --timeout expired
	exitNotFound = 127 // PROGRAM does not exist
)

type runFlags struct {
	mem         sizeFlag
	timeout     time.Duration
	faultAround sizeFlag
	stats       bool
	statsJSON   string
	faultTrace  bool
	faultLog    int
	maps        bool
	env         multiFlag
	// noHostEnv is --no-host-env: the program's environment is only
	// env, not mmvm's own with env's additions.
	noHostEnv bool
	dirs      multiFlag
	noQEMU    bool
	verbose   bool
	// direct and rawRun start as machine.DefaultFastPath's choices;
	// directSet and rawRunSet record that the command line set them, so
	// that the mmvm inside QEMU is told only what the user chose and
	// otherwise picks its own defaults for its own KVM.
	direct, directSet bool
	rawRun, rawRunSet bool
	// as is the name the program goes by (argv[0], reports) when mmvm runs
	// it from another path: inside the QEMU guest, where PROGRAM is copied.
	as string
	// exePath is the absolute path at which the program sees itself
	// (its /proc/self/exe, a file it can open and exec), where that is not
	// PROGRAM's own: inside the QEMU guest, PROGRAM's path outside.
	exePath string
	// qemuStdin makes the program's stdin the QEMU guest's stdin channel
	// (kvmhost.OpenStdin), which carries the outer mmvm's stdin.
	qemuStdin bool
	// qemuTTY lists which of stdin, stdout and stderr are terminals
	// outside QEMU (the outer mmvm's), each NAME or NAME=TERMINAL
	// (syscalls.FormatTerminal: what the program sees of it). Inside,
	// stdout and stderr are serial terminals, so the others are shown to
	// the program as pipes, as they are outside; stdin is a terminal only
	// where it is listed (terminalStdin). qemuWinsize is the outer
	// terminal's size, ROWS,COLS,XPIXEL,YPIXEL, and qemuTermios its
	// settings (formatTermios), given to the inner ones.
	qemuTTY, qemuWinsize, qemuTermios string
	// qemuUname is --qemu-uname: the outer host's uname, which the
	// program sees inside QEMU as it would outside (JSON, six strings).
	qemuUname string
	// vsyscall is --vsyscall: how the legacy vsyscall page answers.
	vsyscall machine.VsyscallMode
	// cwd is --cwd: the program's working directory, a guest path; ""
	// is where a view shows mmvm's own, else /.
	cwd string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (f *runFlags) register(fl *flag.FlagSet) {
	f.mem = machine.DefaultMemory
	f.faultAround = arch.HugePageSize
	fl.Var(&f.mem, "mem", "guest memory limit (multiple of 2M), e.g. 512M or 2G")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop the program after this long (e.g. 10s); exit status 124")
	fl.Var(&f.faultAround, "fault-around", "unit a private anonymous fault maps, a power of two from 4K to 2M")
	fl.BoolVar(&f.stats, "stats", false, "print page faults, exits, syscalls and memory figures to stderr")
	fl.StringVar(&f.statsJSON, "stats-json", "", "write the --stats figures as JSON to `FILE`")
	fl.BoolVar(&f.faultTrace, "fault-trace", false, "time the parts of every page fault (KVM_RUN, decode, HandleUserFault, populate, resume) for --stats and --stats-json")
	fl.IntVar(&f.faultLog, "fault-log", 0, "with --stats-json, also record the first `N` faults one by one (address, access, pages mapped, each part's time); implies --fault-trace")
	fl.BoolVar(&f.maps, "maps", false, "print the final memory layout in /proc/pid/maps format to stderr")
	fl.Var(&f.env, "env", "set an environment variable `K=V` for the program, over mmvm's own (repeatable)")
	fl.BoolVar(&f.noHostEnv, "no-host-env", false, "give the program only the --env variables, not mmvm's environment (which it otherwise inherits, as a program inherits its parent's)")
	fl.Var(&f.dirs, "dir", "show a host directory, `HOST[:GUEST]`: HOST read-only at GUEST in the program's file system (GUEST defaults to HOST; repeatable). Without it the program sees only itself, /proc, /dev (null, zero, full, urandom, random; fd, stdin, stdout, stderr), /etc/mtab (a link to /proc/self/mounts) and its own empty, writable tmpfs at /tmp and /dev/shm (in guest memory; a view at or beneath either replaces it); writes to a --dir file fail with EROFS, paths that leave it with ENOENT")
	fl.StringVar(&f.cwd, "cwd", "", "the program's working directory, a `GUEST` path (default: where a --dir view shows mmvm's working directory, as a program inherits its parent's; else /)")
	fl.Var(&f.vsyscall, "vsyscall", "how the legacy vsyscall page at 0xffffffffff600000 answers, as Linux's vsyscall= boot parameter: `MODE` xonly (calls to its entry points run gettimeofday, time and getcpu; reading it faults), none (no page), or host, the default: the host kernel's (xonly where its /proc/self/maps lists the page, else none)")
	fl.BoolVar(&f.noQEMU, "no-qemu", false, "without /dev/kvm, fail instead of running inside a QEMU guest")
	fl.BoolVar(&f.verbose, "v", false, "show the QEMU guest's progress when it is used")
	fl.StringVar(&f.as, "as", "", "run PROGRAM as `NAME`: its argv[0] and the name in reports (mmvm sets it inside QEMU)")
	fl.StringVar(&f.exePath, "exe-path", "", "the absolute `PATH` at which the program sees itself (/proc/self/exe, a file it can open and exec) and AT_EXECFN is argv[0] (mmvm sets it inside QEMU, to PROGRAM's path outside)")
	fl.BoolVar(&f.qemuStdin, "qemu-stdin", false, "read the program's stdin from the QEMU guest's stdin channel, which carries the outer mmvm's stdin (mmvm sets it inside QEMU)")
	fl.StringVar(&f.qemuUname, "qemu-uname", "", "the uname the program sees, as a JSON array of its six fields: the host's outside QEMU (mmvm sets it inside QEMU)")
	fl.StringVar(&f.qemuTTY, "qemu-tty", "", "which of `stdin,stdout,stderr` are terminals outside QEMU, each NAME=PATH:MAJOR:MINOR:MODE:GID[:ctty] or NAME; the program sees those as terminals and stdout and stderr otherwise as pipes (mmvm sets it inside QEMU)")
	fl.StringVar(&f.qemuWinsize, "qemu-winsize", "", "the `ROWS,COLS,XPIXEL,YPIXEL` of the terminal outside QEMU (mmvm sets it inside QEMU)")
	fl.StringVar(&f.qemuTermios, "qemu-termios", "", "the settings of the terminal outside QEMU, in `HEX` (mmvm sets it inside QEMU)")
	fp := machine.DefaultFastPath()
	fl.BoolVar(&f.direct, "direct-resume", fp.DirectResume, "resume the program from the host through sync registers, skipping the ring-0 stub's return (default: only on PVM KVM; see mmvm bench)")
	fl.BoolVar(&f.rawRun, "raw-kvm-run", fp.RawRun, "enter KVM_RUN without telling the Go scheduler (fewer µs per exit; see mmvm bench)")
}

// noteSet records which fast-path flags the parsed command line set.
func (f *runFlags) noteSet(fl *flag.FlagSet) {
	fl.Visit(func(v *flag.Flag) {
		f.directSet = f.directSet || v.Name == "direct-resume"
		f.rawRunSet = f.rawRunSet || v.Name == "raw-kvm-run"
	})
}

// args returns the flags as a command line for the mmvm inside QEMU.
func (f *runFlags) args(statsJSON string) []string {
	a := []string{"--no-qemu", "--qemu-stdin", "--mem", f.mem.String(), "--fault-around", f.faultAround.String()}
	if f.timeout > 0 {
		a = append(a, "--timeout", f.timeout.String())
	}
	if f.stats {
		a = append(a, "--stats")
	}
	if statsJSON != "" {
		a = append(a, "--stats-json", statsJSON)
	}
	if f.faultTrace {
		a = append(a, "--fault-trace")
	}
	if f.faultLog > 0 {
		a = append(a, "--fault-log", fmt.Sprint(f.faultLog))
	}
	if f.maps {
		a = append(a, "--maps")
	}
	if f.directSet {
		a = append(a, fmt.Sprintf("--direct-resume=%v", f.direct))
	}
	if f.rawRunSet {
		a = append(a, fmt.Sprintf("--raw-kvm-run=%v", f.rawRun))
	}
	// The inner mmvm's own environment is the QEMU guest's: pass the
	// program's whole environment instead.
	a = append(a, "--no-host-env")
	for _, e := range f.environ() {
		a = append(a, "--env", e)
	}
	for _, d := range f.dirs {
		a = append(a, "--dir", d)
	}
	if f.cwd != "" {
		a = append(a, "--cwd", f.cwd)
	}
	// The host's vsyscall page is this machine's, not the QEMU guest's.
	vs := f.vsyscall
	if vs == machine.VsyscallHost {
		vs = machine.HostVsyscall()
	}
	return append(a, "--vsyscall", vs.String())
}

func runUsage(fl *flag.FlagSet) func() {
	return func() {
		fmt.Fprint(fl.Output(), `Usage: mmvm run [flags] PROGRAM [ARGS...]

Runs the static x86-64 ELF PROGRAM in a KVM micro-VM. Its stdout and stderr
pass through; mmvm exits with its status, 128+signal when it is killed, 124
when --timeout expires, 125 when mmvm itself fails, 127 when PROGRAM is
missing. Without /dev/kvm the run happens inside a QEMU guest with nested KVM
(the first time installs qemu-system-x86 and fetches a kernel; needs root).

Flags:
`)
		fl.PrintDefaults()
	}
}

func runMain(args []string) int {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	var f runFlags
	f.register(fl)
	fl.Usage = runUsage(fl)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	f.noteSet(fl)
	if fl.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "mmvm run: no PROGRAM given: try `mmvm run out/guest/hello`")
		return exitUsage
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm run: %v\n", err)
		return exitUsage
	}
	prog := fl.Arg(0)
	if _, err := os.Stat(prog); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return exitNotFound
	}
	// A bad ELF is refused here, at once, rather than after booting a VM
	// (or a QEMU guest) to find out.
	if _, err := loader.LoadFile(prog, loader.Options{}); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return exitMMVM
	}
	if kerr := kvm.Available(); kerr != nil {
		if f.noQEMU {
			fmt.Fprintf(os.Stderr, "mmvm: %v\n(--no-qemu was given; without it mmvm runs the program inside a QEMU guest that has KVM)\n", kerr)
			return exitMMVM
		}
		return runInQEMU(&f, prog, fl.Args()[1:])
	}
	argv := fl.Args()
	if f.as != "" {
		argv[0] = f.as
	}
	return runDirect(&f, prog, argv)
}

func (f *runFlags) check() error {
	if f.mem == 0 || f.mem%arch.HugePageSize != 0 {
		return fmt.Errorf("--mem %v: must be a non-zero multiple of 2M", f.mem.String())
	}
	fa := uint64(f.faultAround)
	if fa < arch.PageSize || fa > arch.HugePageSize || fa&(fa-1) != 0 {
		return fmt.Errorf("--fault-around %v: must be a power of two from 4K to 2M", f.faultAround.String())
	}
	for _, e := range f.env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("--env %q: want K=V", e)
		}
	}
	for i, d := range f.dirs {
		v, err := syscalls.ParseView(d)
		if err != nil {
			return fmt.Errorf("--dir %q: want HOST or HOST:GUEST, GUEST absolute", d)
		}
		if fi, err := os.Stat(v.Host); err != nil || !fi.IsDir() {
			return fmt.Errorf("--dir %q: %s is not a directory", d, v.Host)
		}
		f.dirs[i] = v.Host + ":" + v.Guest // absolute, for the mmvm inside QEMU too
	}
	if _, err := parseQEMUTTY(f.qemuTTY); err != nil {
		return err
	}
	if _, err := parseWinsize(f.qemuWinsize); err != nil {
		return err
	}
	if _, err := parseTermios(f.qemuTermios); err != nil {
		return fmt.Errorf("--qemu-termios %q: %v", f.qemuTermios, err)
	}
	if f.qemuUname != "" {
		if _, err := f.uname(); err != nil {
			return fmt.Errorf("--qemu-uname %q: %v", f.qemuUname, err)
		}
	}
	if f.cwd != "" && !filepath.IsAbs(f.cwd) {
		return fmt.Errorf("--cwd %q: want an absolute guest path", f.cwd)
	}
	if f.exePath != "" && !filepath.IsAbs(f.exePath) {
		return fmt.Errorf("--exe-path %q: must be absolute", f.exePath)
	}
	if f.timeout < 0 {
		return fmt.Errorf("--timeout %v: must not be negative", f.timeout)
	}
	if f.faultLog < 0 || f.faultLog > maxFaultLog {
		return fmt.Errorf("--fault-log %d: want 0 to %d faults", f.faultLog, maxFaultLog)
	}
	if f.faultLog > 0 && f.statsJSON == "" {
		return fmt.Errorf("--fault-log %d: the records go into --stats-json FILE, which is missing", f.faultLog)
	}
	return nil
}

// views are the --dir views, which check has validated.
func (f *runFlags) views() []syscalls.View {
	var vs []syscalls.View
	for _, d := range f.dirs {
		v, _ := syscalls.ParseView(d)
		vs = append(vs, v)
	}
	return vs
}

// environ is the program's environment: mmvm's own (unless
// --no-host-env) with each --env K=V replacing K's value where it has
// one, else added at the end, as env(1) does.
func (f *runFlags) environ() []string {
	var out []string
	if !f.noHostEnv {
		out = os.Environ()
	}
	for _, e := range f.env {
		k, _, _ := strings.Cut(e, "=")
		i := slices.IndexFunc(out, func(o string) bool { ok, _, _ := strings.Cut(o, "="); return ok == k })
		if i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// uname is --qemu-uname decoded; the zero Uname (the host's) without it.
func (f *runFlags) uname() (syscalls.Uname, error) {
	var u syscalls.Uname
	if f.qemuUname == "" {
		return u, nil
	}
	var fields []string
	if err := json.Unmarshal([]byte(f.qemuUname), &fields); err != nil {
		return u, err
	}
	if len(fields) != len(u) {
		return u, fmt.Errorf("want %d fields, got %d", len(u), len(fields))
	}
	copy(u[:], fields)
	return u, nil
}

// workingDir is the guest path the program starts in: --cwd, else where
// guestPathOf says a view shows mmvm's own working directory, else ""
// (the guest's /).
func (f *runFlags) workingDir(guestPathOf func(hostPath string) (string, bool)) string {
	if f.cwd != "" {
		return f.cwd
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	if g, ok := guestPathOf(wd); ok {
		return g
	}
	return ""
}

// maxFaultLog bounds --fault-log: the records are allocated up front,
// 72 bytes each (72 MiB at most), and travel in the --stats-json file.
const maxFaultLog = 1 << 20

// runDirect runs the program on this machine's KVM.
func runDirect(f *runFlags, path string, argv []string) int {
	prog := argv[0] // the name the program goes by
	var stdin io.Reader = os.Stdin
	stdioFDs := [3]int{0, 1, 2}
	var terminals [3]*syscalls.Terminal
	var terminalSet func(int)
	if f.qemuStdin {
		r, err := kvmhost.OpenStdin()
		if err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
			return exitMMVM
		}
		// The program's stdin is a stream, as from a pipe: no host
		// descriptor stands behind it; or a terminal where the outer
		// mmvm's is one (terminalStdin).
		q, err := newQEMUStdio(f, r)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
			return exitMMVM
		}
		defer q.close()
		stdin, stdioFDs, terminals, terminalSet = q.stdin, q.fds, q.terminals, q.terminalSet
	}
	uname, _ := f.uname() // check has parsed it
	m, err := machine.New(machine.Config{
		Memory: uint64(f.mem), FaultAround: uint64(f.faultAround),
		Stdin: stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdioFDs: stdioFDs, Terminals: terminals, TerminalSet: terminalSet, Views: f.views(), Uname: uname, Vsyscall: f.vsyscall,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return exitMMVM
	}
	defer func() {
		if err := m.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: closing the VM: %v\n", err)
		}
	}()
	fp := machine.DefaultFastPath()
	fp.DirectResume, fp.RawRun = f.direct, f.rawRun
	m.SetFastPath(fp)
	var trace *machine.FaultTrace
	if f.faultTrace || f.faultLog > 0 {
		trace = &machine.FaultTrace{Log: make([]machine.FaultRecord, 0, f.faultLog)}
		m.SetFaultTrace(trace)
	}
	env := f.environ()
	load := func() error { return m.LoadProgram(path, argv, env) }
	if f.exePath != "" {
		load = func() error { return m.LoadProgramAt(path, f.exePath, argv[0], argv, env) }
	}
	if err := load(); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return exitMMVM
	}
	if dir := f.workingDir(m.Process.GuestPathOf); dir != "" {
		if err := m.Process.SetWorkingDir(dir); err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: --cwd: %v\n", err)
			return exitMMVM
		}
	}
	ctx := context.Background()
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	stop, err := m.Run(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return exitMMVM
	}
	status := stop.Status()
	switch stop.Kind {
	case machine.StopSignal:
		fmt.Fprintf(os.Stderr, "mmvm: %s killed by %s\n", prog, stop.Reason)
	case machine.StopDeadline:
		fmt.Fprintf(os.Stderr, "mmvm: %s stopped: --timeout %v expired\n", prog, f.timeout)
		status = exitTimeout
	case machine.StopUserPort:
		fmt.Fprintf(os.Stderr, "mmvm: %s executed an unexpected `out` to port %#x\n", prog, stop.Port)
		status = exitMMVM
	}
	if f.maps {
		fmt.Fprint(os.Stderr, m.MM.Maps())
	}
	if f.stats || f.statsJSON != "" {
		st := report{Program: prog, Status: status, Stop: stop.Kind.String(), Stats: m.Stats()}
		if stop.Kind == machine.StopSignal {
			st.Signal = unix.SignalName(stop.Signal)
		}
		if trace != nil {
			sum := trace.Summary()
			st.FaultTrace = &sum
			st.FaultLog, st.FaultsUnlogged = trace.Log, trace.Unlogged
		}
		if f.stats {
			st.print(os.Stderr)
		}
		if f.statsJSON != "" {
			if err := st.writeJSON(f.statsJSON); err != nil {
				fmt.Fprintf(os.Stderr, "mmvm: --stats-json: %v\n", err)
				return exitMMVM
			}
		}
	}
	return status
}

// report is what --stats prints and --stats-json writes.
type report struct {
	Program string `json:"program"`
	Status  int    `json:"exit_status"`
	Stop    string `json:"stop"`
	Signal  string `json:"signal,omitempty"`
	machine.Stats
	// FaultTrace is the per-fault breakdown (--fault-trace).
	FaultTrace *machine.FaultTraceSummary `json:"fault_trace,omitempty"`
	// FaultLog is the first --fault-log faults, one by one;
	// FaultsUnlogged counts the faults after those.
	FaultLog       []machine.FaultRecord `json:"fault_log,omitempty"`
	FaultsUnlogged uint64                `json:"faults_unlogged,omitempty"`
}

// writeJSON writes the report to path; "@stderr" means one marked line on
// stderr, for the mmvm outside a QEMU guest to pick up (see runInQEMU).
func (r *report) writeJSON(path string) error {
	if path == "@stderr" {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(os.Stderr, "%s%s\n", statsMarker, b)
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (r *report) print(w io.Writer) {
	s := &r.Stats
	fmt.Fprintf(w, "mmvm stats: %s: %s, status %d\n", r.Program, r.Stop, r.Status)
	fl := s.FaultLatency
	fmt.Fprintf(w, "  page faults      %d (%d pages mapped with fault-around)\n", s.Faults, s.PagesMapped)
	fmt.Fprintf(w, "  fault latency    p50 %v  p90 %v  p99 %v  max %v  (host: exit to resume; fast path %v)\n", fl.P50, fl.P90, fl.P99, fl.Max, s.FastPath)
	if t := r.FaultTrace; t != nil {
		for _, part := range []struct {
			name string
			sum  latency.Summary
		}{
			{"KVM_RUN", t.Run}, {"decode", t.Decode}, {"HandleUserFault", t.Handle}, {"populate", t.Populate},
			{"resume", t.Resume}, {"host total", t.Host}, {"fault to fault", t.Cycle},
		} {
			l := part.sum
			fmt.Fprintf(w, "    %-16s n %-7d mean %-9v p50 %-9v p99 %-9v max %v\n", part.name, l.Count, l.Mean, l.P50, l.P99, l.Max)
		}
	}
	if n := len(r.FaultLog); n > 0 {
		fmt.Fprintf(w, "  fault log        %d faults recorded one by one in the --stats-json file (%d after those not)\n", n, r.FaultsUnlogged)
	}
	fmt.Fprintf(w, "  exits           ")
	for _, k := range machine.ExitKinds() {
		if n, ok := s.Exits[k]; ok {
			fmt.Fprintf(w, " %s %d", k, n)
		}
	}
	fmt.Fprintf(w, "  (TLB flushes %d)\n", s.TLBFlushes)
	if s.VCPUs > 1 {
		fmt.Fprintf(w, "  threads          %d vCPUs; %d TLB shootdowns kicked %d vCPUs out of guest mode\n", s.VCPUs, s.Shootdowns, s.ShootdownKicks)
	}
	if s.Processes > 1 {
		fmt.Fprintf(w, "  processes        %d (forks %d, execs %d); the syscalls below are all processes'\n", s.Processes, s.Forks, s.Execs)
	}
	// Unimplemented calls are counted by name too; they are listed on
	// their own line, by number, with their x86-64 names.
	unimplemented := make([]uint64, 0, len(s.Unimplemented))
	skip := make(map[string]bool, len(s.Unimplemented))
	for nr := range s.Unimplemented {
		unimplemented = append(unimplemented, nr)
		skip[syscalls.Name(nr)] = true
	}
	slices.Sort(unimplemented)
	fmt.Fprintf(w, "  syscalls        ")
	for _, c := range s.Syscalls {
		if !skip[c.Name] {
			fmt.Fprintf(w, " %s %d", c.Name, c.Count)
		}
	}
	fmt.Fprintln(w)
	if len(unimplemented) > 0 {
		fmt.Fprintf(w, "  unimplemented    ")
		for _, nr := range unimplemented {
			fmt.Fprintf(w, " %s(#%d)×%d", syscalls.Name(nr), nr, s.Unimplemented[nr])
		}
		fmt.Fprintln(w, " (answered ENOSYS)")
	}
	if len(s.CloneRefused) > 0 {
		kinds := slices.Sorted(maps.Keys(s.CloneRefused))
		fmt.Fprintf(w, "  clone refused   ")
		for _, k := range kinds {
			fmt.Fprintf(w, " %s×%d", k, s.CloneRefused[k])
		}
		fmt.Fprintln(w, " (answered ENOSYS)")
	}
	if sg := s.Signals; len(sg.Handled) > 0 || sg.Stopped > 0 || len(sg.Pending) > 0 {
		fmt.Fprintf(w, "  signals         ")
		names := make([]string, 0, len(sg.Handled))
		for n := range sg.Handled {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(w, " %s×%d", n, sg.Handled[n])
		}
		if len(names) > 0 {
			fmt.Fprintf(w, " handled;")
		}
		if sg.Stopped > 0 {
			fmt.Fprintf(w, " %d stop signal(s) stopped the program;", sg.Stopped)
		}
		if len(sg.Pending) > 0 {
			fmt.Fprintf(w, " blocked and pending: %s", strings.Join(sg.Pending, " "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  KVM              %v\n", s.Platform)
	if rp := s.Replay; rp.Replays > 0 {
		fmt.Fprintf(w, "  table replays    %d (%d entries, %d freed tables; %v in all)\n", rp.Replays, rp.Entries, rp.Tables, rp.Time)
	}
	fmt.Fprintf(w, "  memory           RSS %s, peak RSS %s, virtual %s\n", mib(s.RSS), mib(s.PeakRSS), mib(s.VirtualSize))
	fmt.Fprintf(w, "  MemoryFile       peak %s, allocated %s, host-backed %s, %d page-table pages\n", mib(s.MemoryFilePeak), mib(s.MemoryFileInUse), mib(s.MemoryFileHost), s.TablePages)
}

// parseQEMUTTY parses --qemu-tty: the terminals by stdio name, nil for
// one listed without its TERMINAL.
func parseQEMUTTY(s string) (map[string]*syscalls.Terminal, error) {
	out := make(map[string]*syscalls.Terminal)
	if s == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		name, desc, hasDesc := strings.Cut(item, "=")
		if name != "stdin" && name != "stdout" && name != "stderr" {
			return nil, fmt.Errorf("--qemu-tty %q: want a list of stdin, stdout and stderr", s)
		}
		var term *syscalls.Terminal
		if hasDesc {
			var ok bool
			if term, ok = syscalls.ParseTerminal(desc); !ok {
				return nil, fmt.Errorf("--qemu-tty %q: want %s=PATH:MAJOR:MINOR:MODE:GID[:ctty]", s, name)
			}
		}
		out[name] = term
	}
	return out, nil
}

// parseWinsize parses --qemu-winsize: nil for "".
func parseWinsize(s string) (*unix.Winsize, error) {
	if s == "" {
		return nil, nil
	}
	var ws unix.Winsize
	if n, err := fmt.Sscanf(s, "%d,%d,%d,%d", &ws.Row, &ws.Col, &ws.Xpixel, &ws.Ypixel); err != nil || n != 4 {
		return nil, fmt.Errorf("--qemu-winsize %q: want ROWS,COLS,XPIXEL,YPIXEL", s)
	}
	return &ws, nil
}
