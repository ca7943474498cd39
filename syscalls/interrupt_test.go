package syscalls

import (
	"context"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostPipe returns a host pipe, closed when the test ends.
func hostOSPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// callWithin serves one call on another goroutine and returns its result
// and how long it took; it fails the test if the call has not returned
// within limit (then release, if not nil, is called to let it go).
func callWithin(t *testing.T, p *Process, nr uint64, a [6]uint64, limit time.Duration, release func()) (uint64, time.Duration) {
	t.Helper()
	type res struct {
		r uint64
		d time.Duration
	}
	done := make(chan res, 1)
	start := time.Now()
	go func() {
		r := p.Syscall(nr, a)
		done <- res{r, time.Since(start)}
	}()
	select {
	case r := <-done:
		return r.r, r.d
	case <-time.After(limit):
		t.Errorf("%s still running after %v", Name(nr), limit)
		if release != nil {
			release()
		}
		r := <-done
		return r.r, r.d
	}
}

// TestDeadlineEndsWaitingCalls runs each call that waits with a 50 ms
// deadline: each must return EINTR within milliseconds of it.
func TestDeadlineEndsWaitingCalls(t *testing.T) {
	const deadline = 50 * time.Millisecond
	// slack is generous: under the race detector on a loaded 2-core
	// machine a goroutine can wait 100 ms to be scheduled. What the bound
	// catches is a call that ignores the deadline (it would wait 30 s or
	// forever) or looks at it seldom.
	const slack = 250 * time.Millisecond
	run := func(t *testing.T, p *Process, nr uint64, a [6]uint64, release func()) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		p.SetContext(ctx)
		r, took := callWithin(t, p, nr, a, 5*time.Second, release)
		t.Logf("%s: %d after %v", Name(nr), int64(r), took)
		if r != neg(unix.EINTR) {
			t.Errorf("%s = %d, want EINTR", Name(nr), int64(r))
		}
		if took > deadline+slack {
			t.Errorf("%s returned %v after a %v deadline", Name(nr), took, deadline)
		}
	}
	t.Run("nanosleep", func(t *testing.T) {
		p, mem, _ := newTestProcess(t)
		binary.LittleEndian.PutUint64(mem.mem, 30) // 30 s
		run(t, p, unix.SYS_NANOSLEEP, [6]uint64{base, base + 16}, nil)
		if left := binary.LittleEndian.Uint64(mem.mem[16:]); left < 29 || left > 30 {
			t.Errorf("remaining %d s, want 29", left)
		}
	})
	t.Run("clock_nanosleep", func(t *testing.T) {
		p, mem, _ := newTestProcess(t)
		binary.LittleEndian.PutUint64(mem.mem, 30)
		run(t, p, unix.SYS_CLOCK_NANOSLEEP, [6]uint64{unix.CLOCK_MONOTONIC, 0, base, 0}, nil)
	})
	t.Run("read of stdin", func(t *testing.T) {
		p, _, _ := newTestProcess(t)
		r, w := hostOSPipe(t)
		p.cfg.Stdin, p.cfg.StdioFDs[0] = r, int(r.Fd())
		p.waitable = waitableFDs(p.cfg.StdioFDs)
		run(t, p, unix.SYS_READ, [6]uint64{0, base, 100}, func() { w.Write([]byte("x")) })
	})
	t.Run("write to a full pipe", func(t *testing.T) {
		p, _, _ := newTestProcess(t)
		r, w := hostOSPipe(t)
		fillPipe(t, w)
		p.cfg.Stdout, p.cfg.StdioFDs[1] = w, int(w.Fd())
		p.waitable = waitableFDs(p.cfg.StdioFDs)
		run(t, p, unix.SYS_WRITE, [6]uint64{1, base, 100}, func() { r.Read(make([]byte, 1<<20)) })
	})
}

// fillPipe writes to w until the pipe is full.
func fillPipe(t *testing.T, w *os.File) {
	t.Helper()
	fd := int(w.Fd()) // Fd puts the descriptor in blocking mode
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := unix.Write(fd, make([]byte, 4096)); err != nil {
			break
		}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
}

// TestReadFaultConsumesNothing reads stdin into an unmapped buffer: EFAULT,
// and the bytes stay in the pipe for the next read, as on Linux.
func TestReadFaultConsumesNothing(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	r, w := hostOSPipe(t)
	p.cfg.Stdin, p.cfg.StdioFDs[0] = r, int(r.Fd())
	p.waitable = waitableFDs(p.cfg.StdioFDs)
	w.Write([]byte("abcdef"))
	if got := p.Syscall(unix.SYS_READ, [6]uint64{0, 0x1000, 6}); got != neg(unix.EFAULT) {
		t.Errorf("read into an unmapped buffer = %d, want EFAULT", int64(got))
	}
	// A buffer with 2 writable bytes at the end of memory reads 2 bytes.
	end := uint64(base + len(mem.mem))
	if got := p.Syscall(unix.SYS_READ, [6]uint64{0, end - 2, 6}); got != 2 || string(mem.mem[len(mem.mem)-2:]) != "ab" {
		t.Errorf("read into a 2-byte buffer = %d (%q), want 2 (\"ab\")", int64(got), mem.mem[len(mem.mem)-2:])
	}
	if got := p.Syscall(unix.SYS_READ, [6]uint64{0, base, 6}); got != 4 || string(mem.mem[:4]) != "cdef" {
		t.Errorf("read after the faults = %d (%q), want 4 (\"cdef\")", int64(got), mem.mem[:4])
	}
}

// slowCalls is a MemoryCalls whose mincore takes 5 ms a step.
type slowCalls struct {
	MemoryCalls
	steps int
}

func (c *slowCalls) MinCore(addr, length uint64, vec []byte) error {
	c.steps++
	time.Sleep(5 * time.Millisecond)
	return nil
}

// TestDeadlineEndsLongWalks: mincore over 64 GiB looks at the context
// between steps. (A populate's steps are mm's: mm's
// TestPopulateInterrupted, and the machine wires mm to Stopping.)
func TestDeadlineEndsLongWalks(t *testing.T) {
	for _, tc := range []struct {
		nr uint64
		a  [6]uint64
	}{
		{unix.SYS_MINCORE, [6]uint64{1 << 40, 64 << 30, base}},
	} {
		p, _, _ := newTestProcess(t)
		calls := &slowCalls{}
		p.cfg.Calls = calls
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		p.SetContext(ctx)
		r, took := callWithin(t, p, tc.nr, tc.a, 10*time.Second, nil)
		cancel()
		t.Logf("%s over 64 GiB: %d after %v, %d steps", Name(tc.nr), int64(r), took, calls.steps)
		if r != neg(unix.EINTR) || took > 300*time.Millisecond { // the slack above
			t.Errorf("%s = %d after %v, want EINTR soon after 50 ms", Name(tc.nr), int64(r), took)
		}
	}
}
