package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvmhost"
	"github.com/mmvm/mmvm/syscalls"
)

// statsMarker starts the line on which the mmvm inside QEMU reports its
// --stats-json figures on stderr; the outer mmvm takes that line out of the
// stream and writes the file.
const statsMarker = "@@mmvm-stats-json@@ "

// guestRun is one mmvm command to run inside the QEMU guest.
type guestRun struct {
	// args are the inner mmvm's arguments (after its own path); files go
	// into the guest beside it.
	args  []string
	files []kvmhost.File
	// stdin is what the command reads from the stdin channel.
	stdin io.Reader
	// messages receives the inner mmvm's messages (kvmhost.SendMessage).
	messages func([]byte)
	// memory is the QEMU guest's memory; timeout bounds the whole run.
	memory  uint64
	timeout time.Duration
	verbose bool
}

// inQEMU runs this very binary (it must be static, as `make build` makes
// it) inside a QEMU guest with nested KVM: stdout passes through, stderr
// too except the marked figures line, which comes back as statsJSON. On
// failure it prints why and returns ok false.
func inQEMU(g guestRun) (status int, statsJSON []byte, ok bool) {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: finding my own binary for the QEMU guest: %v\n", err)
		return 0, nil, false
	}
	if err := checkStatic(self); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return 0, nil, false
	}
	stderr := &statsFilter{out: os.Stderr}
	var logBuf bytes.Buffer
	var log io.Writer = &logBuf
	if g.verbose {
		log = os.Stderr
	}
	spec := kvmhost.Spec{
		Files:     append([]kvmhost.File{{HostPath: self, GuestPath: "/mmvm/mmvm", Mode: 0o755}}, g.files...),
		Commands:  []kvmhost.Command{{Path: "/mmvm/mmvm", Args: g.args}},
		Timeout:   g.timeout,
		Stdin:     g.stdin,
		Messages:  g.messages,
		Stdout:    os.Stdout,
		Stderr:    stderr,
		Log:       log,
		CacheDir:  cacheDir(),
		MemoryMiB: int(max(512, g.memory>>20)),
	}
	res, err := kvmhost.Run(context.Background(), spec)
	stderr.flush()
	if err != nil {
		if tail := logBuf.Bytes(); len(tail) > 0 {
			os.Stderr.Write(tail[max(0, len(tail)-4000):])
		}
		fmt.Fprintf(os.Stderr, "mmvm: the QEMU guest failed: %v\n", err)
		var env *kvmhost.EnvError
		if errors.As(err, &env) {
			fmt.Fprintln(os.Stderr, "mmvm: or run on a machine with /dev/kvm")
		}
		return 0, nil, false
	}
	if len(res.ExitStatus) == 0 || res.ExitStatus[0] < 0 {
		fmt.Fprintln(os.Stderr, "mmvm: the QEMU guest ended before mmvm inside it did")
		return 0, nil, false
	}
	return res.ExitStatus[0], stderr.json, true
}

// runInQEMU runs the same `mmvm run` inside the QEMU guest, with PROGRAM
// put beside mmvm (or found in a view's copy), and passes stdout, stderr
// and the exit status back. The program sees itself where it would here.
func runInQEMU(f *runFlags, prog string, args []string) int {
	fmt.Fprintln(os.Stderr, "mmvm: no /dev/kvm here: running inside a QEMU guest with nested KVM (slower; --no-qemu turns this off)")
	// The QEMU guest gets a copy of each --dir's regular files, under
	// /mmvm/dir/N (its /tmp, say, is a fresh file system), shown to the
	// program at the same GUEST path.
	var viewFiles [][]kvmhost.File
	var dirs multiFlag
	// The inner mmvm's own working directory is not this one: tell it
	// the guest path this one's maps to.
	f.cwd = f.workingDir(func(hostPath string) (string, bool) { return viewGuestPath(f.views(), hostPath) })
	for i, v := range f.views() {
		copyDir := fmt.Sprintf("/mmvm/dir/%d", i)
		files, err := kvmhost.FilesInDir(v.Host, copyDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: --dir %s: %v\n", v.Host, err)
			return exitMMVM
		}
		viewFiles = append(viewFiles, files)
		dirs = append(dirs, copyDir+":"+v.Guest)
	}
	run := qemuProgram(prog, f.views(), viewFiles)
	f.dirs = dirs
	var jsonArg string
	if f.statsJSON != "" {
		jsonArg = "@stderr"
	}
	inner := append(append([]string{"run"}, f.args(jsonArg)...), "--qemu-tty="+terminals(), "--qemu-winsize="+windowSize(), "--qemu-termios="+terminalSettings(), "--qemu-uname="+hostUnameJSON(), "--as", prog)
	if run.exePath != "" {
		inner = append(inner, "--exe-path", run.exePath)
	}
	files := slices.Concat(viewFiles...)
	if run.copy != nil {
		files = append([]kvmhost.File{*run.copy}, files...)
	}
	g := guestRun{
		args:     append(append(inner, run.path), args...),
		files:    files,
		stdin:    qemuStdin(),
		messages: terminalMessage,
		memory:   uint64(f.mem) + 256<<20,
		timeout:  time.Hour,
		verbose:  f.verbose,
	}
	if f.timeout > 0 {
		g.timeout = f.timeout + 10*time.Minute // boot, and installing QEMU the first time
	}
	status, js, ok := inQEMU(g)
	if !ok {
		return exitMMVM
	}
	if f.statsJSON != "" {
		if js == nil {
			fmt.Fprintln(os.Stderr, "mmvm: --stats-json: the guest reported no figures")
			return exitMMVM
		}
		var v any
		if err := json.Unmarshal(js, &v); err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: --stats-json: %v\n", err)
			return exitMMVM
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(f.statsJSON, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: --stats-json: %v\n", err)
			return exitMMVM
		}
	}
	return status
}

// hostUnameJSON is this machine's uname for --qemu-uname: the QEMU
// guest's kernel has its own, which the program is not to see.
func hostUnameJSON() string {
	u := syscalls.HostUname()
	b, _ := json.Marshal(u[:])
	return string(b)
}

// viewGuestPath is the guest path at which one of views shows hostPath:
// beneath the view whose host directory (links resolved) holds it, the
// innermost first; ok is false where none does.
func viewGuestPath(views []syscalls.View, hostPath string) (guestPath string, ok bool) {
	real, err := filepath.EvalSymlinks(hostPath)
	if err != nil {
		return "", false
	}
	longest := -1
	for _, v := range views {
		root, err := filepath.EvalSymlinks(v.Host)
		if err != nil || len(root) <= longest {
			continue
		}
		rel, err := filepath.Rel(root, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		guestPath, ok, longest = filepath.Join(v.Guest, rel), true, len(root)
	}
	return guestPath, ok
}

// terminals lists which of this process's stdin, stdout and stderr are
// terminals, for --qemu-tty: each as NAME=TERMINAL (syscalls.
// FormatTerminal), so that the program inside sees the terminal it would
// see here.
func terminals() string {
	var t []string
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		if term := syscalls.HostTerminal(i); term != nil {
			t = append(t, name+"="+syscalls.FormatTerminal(term))
		}
	}
	return strings.Join(t, ",")
}

// terminalSettings are the settings of the first of stdin, stdout and
// stderr that is a terminal, for --qemu-termios; "" where none is.
func terminalSettings() string {
	for i := range 3 {
		if t, err := unix.IoctlGetTermios(i, unix.TCGETS); err == nil {
			return formatTermios(t)
		}
	}
	return ""
}

// qemuStdin is what the stdin channel carries: this process's stdin, read
// as a terminal where it is one (terminalInput).
func qemuStdin() io.Reader {
	if isTerminal(os.Stdin) {
		return terminalInput{os.Stdin}
	}
	return os.Stdin
}

// windowSize is the size of the first of stdin, stdout and stderr that is
// a terminal, for --qemu-winsize; "" where none is.
func windowSize() string {
	for i := range 3 {
		if ws, err := unix.IoctlGetWinsize(i, unix.TIOCGWINSZ); err == nil {
			return fmt.Sprintf("%d,%d,%d,%d", ws.Row, ws.Col, ws.Xpixel, ws.Ypixel)
		}
	}
	return ""
}

// isTerminal reports whether f is a terminal (TCGETS works on it).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// cacheDir is where the QEMU pieces are kept: $MMVM_CACHE, else the user's
// cache directory.
func cacheDir() string {
	if d := os.Getenv("MMVM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mmvm", "kvmhost")
	}
	return filepath.Join(os.TempDir(), "mmvm-kvmhost")
}

// qemuRun is how the mmvm inside the QEMU guest runs PROGRAM.
type qemuRun struct {
	// path is the file it runs; copy, where not nil, puts PROGRAM there.
	path string
	copy *kvmhost.File
	// exePath is its --exe-path: where the program sees itself.
	exePath string
}

// qemuProgram says how the mmvm inside QEMU runs prog, so that the
// program sees itself at the path it has here: where a view shows prog,
// the copy of it in that view's files (viewFiles[i] are views[i]'s; the
// innermost view's where several hold it), which the inner mmvm's views
// show at the view's path; else a copy beside the inner mmvm, shown at
// prog's absolute path here.
func qemuProgram(prog string, views []syscalls.View, viewFiles [][]kvmhost.File) qemuRun {
	abs, err := filepath.Abs(prog)
	if err != nil {
		abs = prog
	}
	var run qemuRun
	best := -1
	for i, files := range viewFiles {
		for _, vf := range files {
			if vf.HostPath == abs && len(views[i].Host) > best {
				run.path, best = vf.GuestPath, len(views[i].Host)
			}
		}
	}
	if best >= 0 {
		return run
	}
	run.path = "/mmvm/prog/" + filepath.Base(prog)
	run.copy = &kvmhost.File{HostPath: prog, GuestPath: run.path, Mode: 0o755}
	run.exePath = abs
	return run
}

// checkStatic refuses a dynamically linked mmvm: the QEMU guest has no
// dynamic linker or libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading my own binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, so it cannot run inside the QEMU guest: build it with CGO_ENABLED=0 (as `make build` does)", path)
		}
	}
	return nil
}

// statsFilter passes stderr through, except the one line the inner mmvm
// marks with statsMarker, whose JSON it keeps. Only a line that could still
// turn out to be the marker is held back; everything else passes at once.
type statsFilter struct {
	mu  sync.Mutex
	out io.Writer
	// line is the start of the current line, held while it could be the
	// marker; midLine says the current line has already been passed on.
	line    []byte
	midLine bool
	json    []byte
}

func (s *statsFilter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		end := bytes.IndexByte(p, '\n') + 1 // 0: no newline in p
		chunk := p
		if end > 0 {
			chunk = p[:end]
		}
		p = p[len(chunk):]
		if s.midLine {
			s.out.Write(chunk)
			s.midLine = end == 0
			continue
		}
		s.line = append(s.line, chunk...)
		switch {
		case end > 0:
			s.takeLine()
		case !bytes.HasPrefix([]byte(statsMarker), s.line) && !bytes.HasPrefix(s.line, []byte(statsMarker)):
			s.out.Write(s.line)
			s.line, s.midLine = s.line[:0], true
		}
	}
	return n, nil
}

// takeLine keeps a held line's JSON if it is the marked one, or passes the
// line on.
func (s *statsFilter) takeLine() {
	if bytes.HasPrefix(s.line, []byte(statsMarker)) {
		s.json = bytes.TrimSpace(s.line[len(statsMarker):])
	} else {
		s.out.Write(s.line)
	}
	s.line = s.line[:0]
}

// flush passes on or keeps what is held when the stream ends.
func (s *statsFilter) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.line) > 0 {
		s.takeLine()
	}
}
