package kvmhost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File is a host file to put into the guest.
type File struct {
	HostPath  string
	GuestPath string // absolute path in the guest
	Mode      os.FileMode
}

// Command is one program to run in the guest.
type Command struct {
	Path string   // guest path of the program
	Args []string // arguments, not including argv[0]
	Env  []string // extra KEY=VALUE pairs
	Dir  string   // working directory in the guest ("/" if empty)
}

// Spec says what to run in the guest and where its output goes.
type Spec struct {
	Files    []File
	Commands []Command // run in order; each runs whatever the others' status
	// Timeout bounds the whole run, from preparing to QEMU's exit
	// (default 10 minutes). QEMU is killed when it passes.
	Timeout time.Duration
	// Stdout receives the commands' standard output, byte for byte;
	// Stderr their standard error. Nil discards.
	Stdout, Stderr io.Writer
	// Stdin is what a command reads from the stdin channel (OpenStdin in
	// the guest; the first command to open it gets all of it). Nil is an
	// empty input. It is read only once a command has opened the channel,
	// and may be left unread when QEMU ends first.
	Stdin io.Reader
	// Messages, where set, receives each message a command in the guest
	// sends the host with SendMessage, in order, on a goroutine of its
	// own; without it they are dropped.
	Messages func(msg []byte)
	// Log receives progress, the guest's boot messages and diagnostics.
	Log io.Writer
	// CacheDir holds the kernel, modules and per-run files between runs
	// (default .cache/kvmhost).
	CacheDir string
	// MemoryMiB is the guest's memory (default 512).
	MemoryMiB int
	// CPU is QEMU's -cpu model (default "max", which emulates AMD SVM with
	// nested paging; kvm_amd refuses CPUs without SVM).
	CPU string
}

// Timings says where the time of a Run went.
type Timings struct {
	Install   time.Duration // host packages (apt-get), when missing
	Kernel    time.Duration // kernel download and unpack, when not cached
	Initramfs time.Duration // staging and archiving the guest's files
	Boot      time.Duration // QEMU start to /init running
	KVMLoad   time.Duration // /init to /dev/kvm ready
	Commands  time.Duration // first command start to last command exit
	Shutdown  time.Duration // last exit to QEMU gone
	Total     time.Duration
	// GuestUptimeAtInit is the guest kernel's own boot time, in seconds.
	GuestUptimeAtInit string
}

func (t Timings) String() string {
	guest := ""
	if t.GuestUptimeAtInit != "" {
		guest = " (guest kernel " + t.GuestUptimeAtInit + "s)"
	}
	return fmt.Sprintf("install %v, kernel %v, initramfs %v, boot %v%s, kvm load %v, commands %v, shutdown %v, total %v",
		t.Install.Round(time.Millisecond), t.Kernel.Round(time.Millisecond), t.Initramfs.Round(time.Millisecond),
		t.Boot.Round(time.Millisecond), guest, t.KVMLoad.Round(time.Millisecond),
		t.Commands.Round(time.Millisecond), t.Shutdown.Round(time.Millisecond), t.Total.Round(time.Millisecond))
}

// Result is what a Run observed.
type Result struct {
	// ExitStatus has one entry per command: its exit status, or -1 if it
	// never finished.
	ExitStatus []int
	Timings    Timings
}

// GuestError reports a guest that did not run to its end: a module that
// would not load, a timeout, QEMU dying. Tail is the console's last lines.
type GuestError struct {
	What string
	Tail []string
	Err  error // ErrTimeout for a timeout, else nil
}

func (e *GuestError) Unwrap() error { return e.Err }

func (e *GuestError) Error() string {
	s := "kvmhost: " + e.What
	if len(e.Tail) > 0 {
		s += "\n--- last console lines ---\n" + strings.Join(e.Tail, "\n") + "\n---"
	}
	return s
}

// ErrTimeout is wrapped by the error of a Run that passed its Timeout.
var ErrTimeout = errors.New("kvmhost: timed out")

func (s *Spec) setDefaults() {
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Minute
	}
	if s.Stdout == nil {
		s.Stdout = io.Discard
	}
	if s.Stderr == nil {
		s.Stderr = io.Discard
	}
	if s.Log == nil {
		s.Log = io.Discard
	}
	if s.CacheDir == "" {
		s.CacheDir = filepath.Join(".cache", "kvmhost")
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = 512
	}
	if s.CPU == "" {
		s.CPU = "max"
	}
}

// checkSpec is Run's argument check.
func checkSpec(s *Spec) error {
	if len(s.Commands) == 0 {
		return errors.New("kvmhost: no commands to run")
	}
	for _, f := range s.Files {
		if !strings.HasPrefix(f.GuestPath, "/") {
			return fmt.Errorf("kvmhost: guest path %q is not absolute", f.GuestPath)
		}
		if _, err := os.Stat(f.HostPath); err != nil {
			return fmt.Errorf("kvmhost: %w", err)
		}
	}
	for _, c := range s.Commands {
		if !strings.HasPrefix(c.Path, "/") {
			return fmt.Errorf("kvmhost: command path %q is not absolute", c.Path)
		}
	}
	return nil
}

// Prepare installs what Run needs (QEMU, a static busybox, cpio) and
// fetches the guest kernel into cacheDir, if they are missing. Run does
// the same itself; callers that start several Runs at once call Prepare
// first, so that they do not install or download side by side.
func Prepare(ctx context.Context, cacheDir string, log io.Writer) error {
	if err := ensureTools(ctx, log); err != nil {
		return err
	}
	if err := checkQEMU(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	_, err := fetchKernel(ctx, cacheDir, log)
	return err
}

// Run boots a QEMU guest with /dev/kvm and runs spec's commands in it.
// The error is nil when the guest ran every command and powered off;
// the commands' own statuses are in Result.ExitStatus.
func Run(ctx context.Context, spec Spec) (*Result, error) {
	spec.setDefaults()
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, spec.Timeout, ErrTimeout)
	defer cancel()
	res := &Result{ExitStatus: make([]int, len(spec.Commands))}
	for i := range res.ExitStatus {
		res.ExitStatus[i] = -1
	}
	t := &res.Timings
	defer func() { t.Total = time.Since(start) }()

	mark := time.Now()
	if err := ensureTools(ctx, spec.Log); err != nil {
		return res, err
	}
	if err := checkQEMU(ctx); err != nil {
		return res, err
	}
	t.Install = time.Since(mark)

	if err := os.MkdirAll(spec.CacheDir, 0o755); err != nil {
		return res, err
	}
	mark = time.Now()
	k, err := fetchKernel(ctx, spec.CacheDir, spec.Log)
	if err != nil {
		return res, err
	}
	t.Kernel = time.Since(mark)

	mark = time.Now()
	work, err := os.MkdirTemp(spec.CacheDir, "run-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	initrd := filepath.Join(work, "initrd.cpio")
	if err := buildInitramfs(ctx, filepath.Join(work, "root"), initrd, stageFiles(k, spec)); err != nil {
		return res, err
	}
	t.Initramfs = time.Since(mark)

	err = boot(ctx, &spec, k, initrd, res)
	if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
		var ge *GuestError
		if errors.As(err, &ge) {
			ge.What = fmt.Sprintf("timed out after %v: %s", spec.Timeout, ge.What)
			ge.Err = ErrTimeout
			return res, ge
		}
		return res, fmt.Errorf("kvmhost: timed out after %v: %w", spec.Timeout, errors.Join(ErrTimeout, err))
	}
	return res, err
}

// stageFiles lists everything the initramfs holds.
func stageFiles(k *Kernel, spec Spec) []stageFile {
	files := []stageFile{
		{guest: "/init", data: []byte(initScript(k, spec.Commands)), mode: 0o755},
		{guest: "/bin/busybox", host: staticBusybox(), mode: 0o755},
	}
	for _, m := range k.Modules {
		files = append(files, stageFile{guest: "/lib/modules/" + filepath.Base(m), host: m, mode: 0o644})
	}
	for _, f := range spec.Files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o755
		}
		files = append(files, stageFile{guest: f.GuestPath, host: f.HostPath, mode: mode})
	}
	return files
}

// boot runs QEMU and follows the guest until it powers off.
func boot(ctx context.Context, spec *Spec, k *Kernel, initrd string, res *Result) error {
	conR, conW, err := os.Pipe()
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		conR.Close()
		conW.Close()
		return err
	}
	var qemuOut bytes.Buffer
	cmd := exec.CommandContext(ctx, qemuBinary,
		"-accel", "tcg", "-cpu", spec.CPU, "-smp", "1", "-m", strconv.Itoa(spec.MemoryMiB),
		"-nic", "none", "-nographic", "-monitor", "none", "-no-reboot",
		"-kernel", k.Vmlinuz, "-initrd", initrd,
		// no_timer_check: under TCG on a loaded host the kernel's check
		// that the 8254 timer reaches the IO-APIC can miss its ticks and
		// panic ("IO-APIC + timer doesn't work!"); the timer works.
		"-append", "console=ttyS0 panic=-1 quiet no_timer_check",
		// ttyS0: console, stderr and markers; ttyS1: stdout; ttyS2: the
		// stdin channel, fed from QEMU's stdin.
		"-serial", "file:/dev/fd/3", "-serial", "file:/dev/fd/4",
		"-chardev", "stdio,id=stdin0,signal=off", "-serial", "chardev:stdin0")
	cmd.ExtraFiles = []*os.File{conW, outW}
	inR, inW, err := os.Pipe()
	if err != nil {
		conR.Close()
		outR.Close()
		conW.Close()
		outW.Close()
		return err
	}
	cmd.Stdin = inR
	// QEMU's stdout carries what the guest writes on the stdin channel's
	// port: SendMessage's frames.
	cmd.Stdout = &messageWriter{deliver: spec.Messages}
	cmd.Stderr = &qemuOut
	cmd.WaitDelay = 5 * time.Second
	qemuStart := time.Now()
	err = cmd.Start()
	conW.Close()
	outW.Close()
	inR.Close()
	if err != nil {
		conR.Close()
		outR.Close()
		inW.Close()
		return &EnvError{What: "cannot start " + qemuBinary, Fix: "install " + qemuPackage, Err: err}
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(spec.Stdout, outR)
		outR.Close()
	}()
	f := &follower{spec: spec, res: res, qemuStart: qemuStart, current: -1, stdin: inW}
	f.follow(conR)
	conR.Close()
	werr := cmd.Wait()
	inW.Close() // ends a copier still writing; one still reading Stdin is left to it
	wg.Wait()
	f.finish(werr, qemuOut.String())
	return f.err
}

// follower reads the console: it routes text to Log or Stderr, acts on
// /init's markers, times the phases and keeps the last lines.
type follower struct {
	spec      *Spec
	res       *Result
	qemuStart time.Time
	initAt    time.Time
	kvmAt     time.Time
	firstCmd  time.Time
	lastExit  time.Time
	current   int // index of the running command, -1 outside commands
	done      bool
	failure   string
	tail      []string
	err       error
	// stdin is the write end of QEMU's stdin, the stdin channel; the
	// copier starts on the first "stdin" marker (stdinStarted).
	stdin        *os.File
	stdinStarted bool
}

const tailLines = 40

func (f *follower) remember(line string) {
	f.tail = append(f.tail, printable(line))
	if len(f.tail) > tailLines {
		f.tail = f.tail[len(f.tail)-tailLines:]
	}
}

func (f *follower) follow(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			f.handle(line)
		}
		if err != nil {
			return
		}
	}
}

// handle processes one console line (with its newline, if it had one).
func (f *follower) handle(line string) {
	text := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	i := strings.Index(text, marker)
	if i < 0 {
		f.remember(text)
		f.route(line)
		return
	}
	if i > 0 {
		// Output without a final newline, then the marker.
		f.remember(text[:i])
		f.route(text[:i])
	}
	f.remember(text[i:])
	fields := strings.Fields(text[i+len(marker):])
	if len(fields) == 0 {
		return
	}
	now := time.Now()
	switch fields[0] {
	case "init":
		f.initAt = now
		if len(fields) > 1 {
			f.res.Timings.GuestUptimeAtInit = fields[1]
		}
		fmt.Fprintf(f.spec.Log, "kvmhost: guest /init running %v after QEMU started\n", now.Sub(f.qemuStart).Round(time.Millisecond))
	case "kvm":
		f.kvmAt = now
		fmt.Fprintf(f.spec.Log, "kvmhost: /dev/kvm ready in the guest (kvm_amd loaded)\n")
	case "start":
		if n, err := strconv.Atoi(field(fields, 1)); err == nil && n >= 0 && n < len(f.res.ExitStatus) {
			f.current = n
			if f.firstCmd.IsZero() {
				f.firstCmd = now
			}
		}
	case "exit":
		n, err1 := strconv.Atoi(field(fields, 1))
		st, err2 := strconv.Atoi(field(fields, 2))
		if err1 == nil && err2 == nil && n >= 0 && n < len(f.res.ExitStatus) {
			f.res.ExitStatus[n] = st
		}
		f.current = -1
		f.lastExit = now
	case "fail":
		f.failure = strings.Join(fields[1:], " ")
		fmt.Fprintf(f.spec.Log, "kvmhost: guest failed: %s; the guest's kernel log follows\n", f.failure)
	case "done":
		f.done = true
	case "stdin":
		f.startStdin()
	}
}

// printable drops terminal control sequences (the firmware clears the
// screen) and other control characters from a line kept for display.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x1b:
			// Skip ESC [ params final-byte, or ESC and one byte.
			j := i + 1
			if j < len(s) && s[j] == '[' {
				for j++; j < len(s) && (s[j] < 0x40 || s[j] > 0x7e); j++ {
				}
			}
			i = j
		case c == '\t' || c >= 0x20 && c != 0x7f:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func field(fs []string, i int) string {
	if i < len(fs) {
		return fs[i]
	}
	return ""
}

// startStdin starts copying Spec.Stdin into the stdin channel, once.
func (f *follower) startStdin() {
	if f.stdinStarted || f.stdin == nil {
		return
	}
	f.stdinStarted = true
	in := f.spec.Stdin
	if in == nil {
		in = strings.NewReader("")
	}
	go writeFrames(f.stdin, in) // ends at Stdin's end, or when QEMU is gone
}

// route sends console text to Stderr while a command runs and to Log
// while /init works; the firmware's and kernel's own output before /init
// and after the end is only kept in the tail (shown on failure).
func (f *follower) route(s string) {
	switch {
	case f.current >= 0:
		io.WriteString(f.spec.Stderr, s)
	case !f.initAt.IsZero() && !f.done:
		io.WriteString(f.spec.Log, s)
	}
}

// finish sets the timings and decides the error once QEMU is gone.
func (f *follower) finish(waitErr error, qemuOut string) {
	end := time.Now()
	t := &f.res.Timings
	if !f.initAt.IsZero() {
		t.Boot = f.initAt.Sub(f.qemuStart)
	}
	if !f.kvmAt.IsZero() && !f.initAt.IsZero() {
		t.KVMLoad = f.kvmAt.Sub(f.initAt)
	}
	if !f.firstCmd.IsZero() && !f.lastExit.IsZero() {
		t.Commands = f.lastExit.Sub(f.firstCmd)
		t.Shutdown = end.Sub(f.lastExit)
	}
	tail := f.tail
	if qemuOut = strings.TrimSpace(qemuOut); qemuOut != "" {
		tail = append(append([]string(nil), tail...), "(qemu) "+qemuOut)
	}
	switch {
	case f.failure != "":
		what := "guest: " + f.failure
		if strings.Contains(f.failure, "kvm-amd") {
			what += fmt.Sprintf(" (kvm_amd needs a guest CPU with SVM; QEMU ran with -cpu %s, use max or EPYC)", f.spec.CPU)
		}
		f.err = &GuestError{What: what, Tail: tail}
	case f.initAt.IsZero():
		what := "no output from the guest's /init"
		if len(f.tail) == 0 {
			what = "no serial output at all from the guest"
		}
		if waitErr != nil {
			what += " (qemu: " + waitErr.Error() + ")"
		}
		f.err = &GuestError{What: what, Tail: tail}
	case !f.done:
		what := "the guest stopped before /init reported the end"
		if f.current >= 0 {
			what = fmt.Sprintf("the guest stopped while command %d was running", f.current)
		}
		if waitErr != nil {
			what += " (qemu: " + waitErr.Error() + ")"
		}
		f.err = &GuestError{What: what, Tail: tail}
	case waitErr != nil:
		f.err = &GuestError{What: "qemu: " + waitErr.Error(), Tail: tail}
	}
}

// FilesInDir lists the regular files below hostDir as Files under
// guestDir, keeping their relative paths and modes (guest programs).
func FilesInDir(hostDir, guestDir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(hostDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(hostDir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, File{HostPath: p, GuestPath: filepath.ToSlash(filepath.Join(guestDir, rel)), Mode: info.Mode().Perm()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kvmhost: listing %s: %w", hostDir, err)
	}
	return files, nil
}
