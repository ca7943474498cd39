package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/internal/faultbench"
	"github.com/mmvm/mmvm/kvm"
)

// Default sizes. On real KVM the 1 GiB and 20000 faults; inside the
// QEMU guest (TCG, 20-40x slower than hardware and single-threaded) a
// quarter of the memory and a fifth of the faults keep a run near ten
// minutes while every figure still rests on thousands of samples.
const (
	defaultBenchSize       = 1 << 30
	defaultBenchFaults     = 20000
	defaultQEMUBenchSize   = 256 << 20
	defaultQEMUBenchFaults = 4000
)

type benchFlags struct {
	jsonPath string
	svgPath  string
	size     sizeFlag
	faults   int
	rounds   int
	noQEMU   bool
	verbose  bool
	// machine describes the machine for the report (set by the outer
	// mmvm for the one inside QEMU).
	machine string
}

func (f *benchFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&f.jsonPath, "json", "", "write the full report as JSON to `FILE`")
	fl.StringVar(&f.svgPath, "svg", "", "draw the latency histograms as an SVG picture into `FILE`")
	fl.Var(&f.size, "size", "fresh memory each first-touch measurement touches (multiple of 2M; default 1G, 256M inside QEMU)")
	fl.IntVar(&f.faults, "faults", 0, "single faults (and exits) per fault-path measurement (default 20000, 4000 inside QEMU)")
	fl.IntVar(&f.rounds, "rounds", 5, "alternating rounds for the two head-to-head targets (1 to 50)")
	fl.BoolVar(&f.noQEMU, "no-qemu", false, "without /dev/kvm, fail instead of running inside a QEMU guest")
	fl.BoolVar(&f.verbose, "v", false, "show the QEMU guest's progress when it is used")
	fl.StringVar(&f.machine, "machine", "", "describe the machine in the report (default: the CPU model)")
}

func (f *benchFlags) check() error {
	if f.size%arch.HugePageSize != 0 {
		return fmt.Errorf("--size %v: must be a multiple of 2M", f.size.String())
	}
	if f.faults < 0 {
		return fmt.Errorf("--faults %d: must not be negative", f.faults)
	}
	if f.rounds < 1 || f.rounds > 50 {
		return fmt.Errorf("--rounds %d: want 1 to 50", f.rounds)
	}
	if f.size != 0 && uint64(f.size) < uint64(f.rounds)*arch.HugePageSize {
		return fmt.Errorf("--size %v: %d rounds need at least %d MiB", f.size.String(), f.rounds, 2*f.rounds)
	}
	if f.faults != 0 && f.faults < f.rounds {
		return fmt.Errorf("--faults %d: %d rounds need at least as many faults", f.faults, f.rounds)
	}
	return nil
}

// defaults fills in the sizes for where the bench runs.
func (f *benchFlags) defaults(inQEMU bool) {
	if f.size == 0 {
		f.size = defaultBenchSize
		if inQEMU {
			f.size = defaultQEMUBenchSize
		}
	}
	if f.faults == 0 {
		f.faults = defaultBenchFaults
		if inQEMU {
			f.faults = defaultQEMUBenchFaults
		}
	}
}

func benchUsage(fl *flag.FlagSet) func() {
	return func() {
		fmt.Fprint(fl.Output(), `Usage: mmvm bench [flags]

Measures mmvm's page-fault path in one run, in one process: the raw exit
round trips (the floor), the minimal fault path a bare KVM guest can have,
mmvm's single faults under each fast-path choice with a breakdown, first
touches of fresh memory with fault-around 4K, 64K and 2M, random touch,
mmap/touch/munmap cycles, and the host's baselines (native first touch,
userfaultfd, and the machine's limit: a bare guest over memory populated in
bulk). The two timed targets are duels: mmvm and its baseline alternate
in --rounds rounds and the verdict is the median round's ratio. Prints
tables with the ratios; --json and --svg keep the figures.
Without /dev/kvm it runs inside a QEMU guest with nested KVM, where only
ratios and counts mean anything.

Flags:
`)
		fl.PrintDefaults()
	}
}

func benchMain(args []string) int {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	var f benchFlags
	f.register(fl)
	fl.Usage = benchUsage(fl)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mmvm bench: unexpected arguments %q\n", fl.Args())
		return exitUsage
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm bench: %v\n", err)
		return exitUsage
	}
	if kerr := kvm.Available(); kerr != nil {
		if f.noQEMU {
			fmt.Fprintf(os.Stderr, "mmvm: %v\n(--no-qemu was given; without it mmvm bench runs inside a QEMU guest that has KVM)\n", kerr)
			return exitMMVM
		}
		f.defaults(true)
		return benchInQEMU(&f)
	}
	f.defaults(false)
	return benchDirect(&f)
}

// benchDirect runs the bench on this machine's KVM.
func benchDirect(f *benchFlags) int {
	desc := f.machine
	if desc == "" {
		desc = "KVM on " + cpuModel()
	}
	progress := newProgress(os.Stderr)
	if f.jsonPath == "@stderr" {
		// Inside QEMU stderr is the serial console: a terminal, but
		// read line by line by the mmvm outside.
		progress.tty = false
	}
	rep, err := faultbench.Run(faultbench.Config{Size: uint64(f.size), Faults: f.faults, Rounds: f.rounds, Machine: desc, Progress: progress.step})
	progress.done()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmvm bench: %v\n", err)
		return exitMMVM
	}
	rep.WriteTable(os.Stdout)
	return writeBenchFiles(f, rep)
}

// writeBenchFiles writes --json (or the marked stderr line for the mmvm
// outside QEMU) and --svg.
func writeBenchFiles(f *benchFlags, rep *faultbench.Report) int {
	if f.jsonPath == "@stderr" {
		b, err := json.Marshal(rep)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mmvm bench: --json: %v\n", err)
			return exitMMVM
		}
		fmt.Fprintf(os.Stderr, "%s%s\n", statsMarker, b)
	} else if f.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(f.jsonPath, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mmvm bench: --json: %v\n", err)
			return exitMMVM
		}
	}
	if f.svgPath != "" {
		out, err := os.Create(f.svgPath)
		if err == nil {
			err = rep.WriteSVG(out)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mmvm bench: --svg: %v\n", err)
			return exitMMVM
		}
	}
	return 0
}

// cpuModel is /proc/cpuinfo's first model name.
func cpuModel() string {
	fh, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "an unknown CPU"
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "an unknown CPU"
}

// progress is the one-line progress report on stderr: rewritten in place
// on a terminal, one line per step otherwise (the QEMU console, a log).
type progress struct {
	w    io.Writer
	tty  bool
	used bool
}

func newProgress(w *os.File) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

func (p *progress) step(i, n int, what string) {
	p.used = true
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[Kmmvm bench [%d/%d] %s ...", i, n, what)
		return
	}
	fmt.Fprintf(p.w, "mmvm bench [%d/%d] %s\n", i, n, what)
}

func (p *progress) done() {
	if p.tty && p.used {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
