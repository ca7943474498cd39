package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
)

// stdinGuests run with the argument "stdin" and stdin an empty host pipe
// (TestStdinPipeMatchesNative).
var stdinGuests = []string{"select-musl", "select-glibc"}

// waitWriter collects a program's stdout and closes seen once a line
// "waiting" has come.
type waitWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen chan struct{}
}

func newWaitWriter() *waitWriter { return &waitWriter{seen: make(chan struct{})} }

func (w *waitWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), "waiting\n")
	w.buf.Write(b)
	if !had && strings.Contains(w.buf.String(), "waiting\n") {
		close(w.seen)
	}
	return len(b), nil
}

func (w *waitWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// stdinPipe makes the pipe a program reads as stdin and feeds it: once
// out says "waiting", one byte, then the write end closes.
func stdinPipe(t *testing.T, out *waitWriter) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	go func() {
		select {
		case <-out.seen:
			w.Write([]byte("x"))
		case <-time.After(90 * time.Second):
		}
		w.Close()
	}()
	return r
}

// TestStdinPipeMatchesNative runs select.c's stdin checks natively and
// inside mmvm with stdin a host pipe that stays empty until the program
// says it waits: poll and select with a timeout wait it out and return 0
// (stdin's readiness is the host pipe's, not always readable), a
// blocking poll and select wake when the byte and then the end of file
// come.
func TestStdinPipeMatchesNative(t *testing.T) {
	dir := guestDir(t)
	for _, name := range stdinGuests {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			nOut, nErr := newWaitWriter(), &bytes.Buffer{}
			cmd := exec.Command(path, "stdin")
			cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = stdinPipe(t, nOut), nOut, nErr, []string{}
			nStatus := runStatus(t, cmd)

			kvmtest.Open(t)
			vOut, vErr := newWaitWriter(), &bytes.Buffer{}
			in := stdinPipe(t, vOut)
			m, err := machine.New(machine.Config{Memory: 256 << 20, Stdin: in, Stdout: vOut, Stderr: vErr, StdioFDs: [3]int{int(in.Fd()), -1, -1}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.LoadProgram(path, []string{path, "stdin"}, nil); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			stop, err := m.Run(ctx)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if stop.Status() != nStatus {
				t.Errorf("status: mmvm %d (%v %s), native %d", stop.Status(), stop.Kind, stop.Reason, nStatus)
			}
			if v, n := vOut.bytes(), nOut.bytes(); !bytes.Equal(v, n) {
				t.Errorf("stdout differs:\nmmvm:   %q\nnative: %q", v, n)
			}
			if !bytes.Equal(vErr.Bytes(), nErr.Bytes()) {
				t.Errorf("stderr differs:\nmmvm:   %q\nnative: %q", vErr.Bytes(), nErr.Bytes())
			}
			t.Logf("status %d, %d bytes of stdout; %s", nStatus, len(nOut.bytes()), stop.Reason)
		})
	}
}
