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
	"sync"
	"time"

	"github.com/mmvm/mmvm/kvmhost"
)

// statsMarker starts the line on which the mmvm inside QEMU reports its
// --stats-json figures on stderr; the outer mmvm takes that line out of the
// stream and writes the file.
const statsMarker = "@@mmvm-stats-json@@ "

// runInQEMU runs the same command inside a QEMU guest with nested KVM: this
// very binary (it must be static, as `make build` makes it) and PROGRAM are
// put into the guest, and the guest's stdout, stderr and exit status come
// back.
func runInQEMU(f *runFlags, prog string, args []string) int {
	fmt.Fprintln(os.Stderr, "mmvm: no /dev/kvm here: running inside a QEMU guest with nested KVM (slower; --no-qemu turns this off)")
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: finding my own binary for the QEMU guest: %v\n", err)
		return exitMMVM
	}
	if err := checkStatic(self); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return exitMMVM
	}
	guestProg := "/mmvm/prog/" + filepath.Base(prog)
	var jsonArg string
	if f.statsJSON != "" {
		jsonArg = "@stderr"
	}
	cmdArgs := append([]string{"run"}, f.args(jsonArg)...)
	cmdArgs = append(cmdArgs, guestProg)
	cmdArgs = append(cmdArgs, args...)

	stderr := &statsFilter{out: os.Stderr}
	var log io.Writer = io.Discard
	var logBuf bytes.Buffer
	if f.verbose {
		log = os.Stderr
	} else {
		log = &logBuf
	}
	timeout := time.Hour
	if f.timeout > 0 {
		timeout = f.timeout + 10*time.Minute // boot, and installing QEMU the first time
	}
	spec := kvmhost.Spec{
		Files: []kvmhost.File{
			{HostPath: self, GuestPath: "/mmvm/mmvm", Mode: 0o755},
			{HostPath: prog, GuestPath: guestProg, Mode: 0o755},
		},
		Commands:  []kvmhost.Command{{Path: "/mmvm/mmvm", Args: cmdArgs}},
		Timeout:   timeout,
		Stdout:    os.Stdout,
		Stderr:    stderr,
		Log:       log,
		CacheDir:  cacheDir(),
		MemoryMiB: int(max(512, uint64(f.mem)>>20+256)),
	}
	res, err := kvmhost.Run(context.Background(), spec)
	stderr.flush()
	if err != nil {
		if !f.verbose && logBuf.Len() > 0 {
			tail := logBuf.Bytes()
			if len(tail) > 4000 {
				tail = tail[len(tail)-4000:]
			}
			os.Stderr.Write(tail)
		}
		fmt.Fprintf(os.Stderr, "mmvm: the QEMU guest failed: %v\n", err)
		var env *kvmhost.EnvError
		if errors.As(err, &env) {
			fmt.Fprintln(os.Stderr, "mmvm: or run on a machine with /dev/kvm")
		}
		return exitMMVM
	}
	if f.statsJSON != "" {
		if stderr.json == nil {
			fmt.Fprintln(os.Stderr, "mmvm: --stats-json: the guest reported no figures")
			return exitMMVM
		}
		var v any
		if err := json.Unmarshal(stderr.json, &v); err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: --stats-json: %v\n", err)
			return exitMMVM
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(f.statsJSON, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "mmvm: --stats-json: %v\n", err)
			return exitMMVM
		}
	}
	if len(res.ExitStatus) == 0 || res.ExitStatus[0] < 0 {
		fmt.Fprintln(os.Stderr, "mmvm: the QEMU guest ended before the program did")
		return exitMMVM
	}
	return res.ExitStatus[0]
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
