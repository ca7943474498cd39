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
// marks with statsMarker, whose JSON it keeps.
type statsFilter struct {
	mu   sync.Mutex
	out  io.Writer
	line []byte // a partial line starting like the marker
	json []byte
}

func (s *statsFilter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if len(s.line) > 0 {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.line = append(s.line, p...)
				return n, nil
			}
			s.line = append(s.line, p[:i+1]...)
			p = p[i+1:]
			s.takeLine()
			continue
		}
		// Pass through up to a line start that could begin the marker.
		i := bytes.Index(p, []byte("\n"+statsMarker[:2]))
		start := 0
		if bytes.HasPrefix(p, []byte(statsMarker[:2])) {
			i, start = 0, 0
		} else if i >= 0 {
			start = i + 1
		}
		if i < 0 {
			_, err := s.out.Write(p)
			return n, err
		}
		if _, err := s.out.Write(p[:start]); err != nil {
			return n, err
		}
		p = p[start:]
		j := bytes.IndexByte(p, '\n')
		if j < 0 {
			s.line = append(s.line, p...)
			return n, nil
		}
		s.line = append(s.line, p[:j+1]...)
		p = p[j+1:]
		s.takeLine()
	}
	return n, nil
}

// takeLine keeps a complete marked line's JSON, or passes the line on.
func (s *statsFilter) takeLine() {
	if bytes.HasPrefix(s.line, []byte(statsMarker)) {
		s.json = bytes.TrimSpace(s.line[len(statsMarker):])
	} else {
		s.out.Write(s.line)
	}
	s.line = s.line[:0]
}

func (s *statsFilter) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.line) > 0 {
		s.takeLine()
	}
}
