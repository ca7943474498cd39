package tests

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/x86enc"
)

// syscallLoop makes count system calls described by a table at table: seven
// words each (number, then RDI, RSI, RDX, R10, R8, R9); then it exits through
// the user port. RBX walks the table and R15 counts down (SYSCALL keeps
// both).
func syscallLoop(table uint64, count uint32) []byte {
	load := func(r x86enc.Reg, word int8) x86enc.Instruction { return x86enc.Load(r, x86enc.RBX, 8*word) }
	body := x86enc.Assemble(
		load(x86enc.RAX, 0), load(x86enc.RDI, 1), load(x86enc.RSI, 2), load(x86enc.RDX, 3),
		load(x86enc.R10, 4), load(x86enc.R8, 5), load(x86enc.R9, 6),
		x86enc.Syscall,
		x86enc.AddImm8(x86enc.RBX, 56),
		x86enc.Dec(x86enc.R15),
	)
	return cat(
		x86enc.MovImm64(x86enc.RBX, table).Bytes, x86enc.MovImm32(x86enc.R15, count).Bytes,
		body, x86enc.JnzBack(len(body)).Bytes, outUser0, jmpSelf)
}

// wildArg returns an argument a hostile program might pass: small numbers,
// addresses near its own mappings, page-unaligned values, huge lengths,
// kernel and non-canonical addresses, all-ones.
func wildArg(r *rand.Rand) uint64 {
	switch r.IntN(10) {
	case 0:
		return 0
	case 1:
		return uint64(r.IntN(16))
	case 2:
		return dataAddr + uint64(r.IntN(64))<<12
	case 3:
		return dataAddr + uint64(r.IntN(1<<20))
	case 4:
		return uint64(r.IntN(64)) << 12
	case 5:
		return ^uint64(0) - uint64(r.IntN(4096))
	case 6:
		return 0xffff_8000_0000_0000 + uint64(r.IntN(1<<30))
	case 7:
		return 0x0000_8000_0000_0000 - uint64(r.IntN(3))<<12
	case 8:
		return r.Uint64()
	}
	return uint64(1) << r.IntN(64)
}

// TestHostileSyscalls runs programs that make thousands of system calls
// with wild numbers and arguments. Whatever the program does to itself, mmvm
// must neither fail nor panic, mm's invariants must hold, and Close must find
// no leaked page.
func TestHostileSyscalls(t *testing.T) {
	const calls = 2000
	// Numbers: everything mmvm implements, plus unknown ones; not exit
	// (that ends the program early), nor the calls that may wait as long
	// as they are asked to or forever, on Linux too: sleeps, poll and
	// select, epoll_wait, pause, signals to itself (a stop signal waits
	// for a SIGCONT nothing sends), pipes and eventfds (a read of an empty
	// pipe whose writer is open, or of an eventfd at 0, waits for a writer
	// that is the reader itself).
	waits := map[uint64]bool{
		unix.SYS_EXIT: true, unix.SYS_EXIT_GROUP: true, unix.SYS_NANOSLEEP: true, unix.SYS_CLOCK_NANOSLEEP: true,
		unix.SYS_POLL: true, unix.SYS_PPOLL: true, unix.SYS_SELECT: true, unix.SYS_PSELECT6: true, unix.SYS_PAUSE: true,
		unix.SYS_RT_SIGSUSPEND: true, unix.SYS_KILL: true, unix.SYS_TKILL: true, unix.SYS_TGKILL: true,
		unix.SYS_PIPE: true, unix.SYS_PIPE2: true, unix.SYS_EVENTFD: true, unix.SYS_EVENTFD2: true,
		unix.SYS_EPOLL_WAIT: true, unix.SYS_EPOLL_PWAIT: true,
	}
	var numbers []uint64
	for nr := uint64(0); nr < 335; nr++ {
		if !waits[nr] {
			numbers = append(numbers, nr)
		}
	}
	memCalls := []uint64{unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_MREMAP, unix.SYS_MPROTECT, unix.SYS_BRK,
		unix.SYS_MADVISE, unix.SYS_MLOCK, unix.SYS_MLOCK2, unix.SYS_MUNLOCK, unix.SYS_MLOCKALL,
		unix.SYS_MUNLOCKALL, unix.SYS_MSYNC, unix.SYS_MINCORE, unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_READ}
	const table = 0x2000_0000
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		tab := make([]byte, calls*56)
		for i := 0; i < calls; i++ {
			nr := numbers[r.IntN(len(numbers))]
			if r.IntN(2) == 0 {
				nr = memCalls[r.IntN(len(memCalls))]
			}
			binary.LittleEndian.PutUint64(tab[i*56:], nr)
			for a := 1; a < 7; a++ {
				binary.LittleEndian.PutUint64(tab[i*56+a*8:], wildArg(r))
			}
		}
		m := newMachine(t, machine.Config{Memory: 128 << 20}, syscallLoop(table, calls))
		mapBytes(t, m, table, tab, unix.PROT_READ)
		if _, err := m.MM.MMap(dataAddr, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		stop, err := m.Run(ctx)
		cancel()
		if err != nil {
			t.Fatalf("seed %d: Run failed: %v", seed, err)
		}
		if stop.Kind == machine.StopDeadline {
			t.Fatalf("seed %d: the program hung", seed)
		}
		if err := m.MM.CheckInvariants(); err != nil {
			t.Errorf("seed %d: mm invariants: %v", seed, err)
		}
		st := m.Stats()
		t.Logf("seed %d: %v (port %#x) %s; %d syscall exits, %d unimplemented numbers", seed, stop.Kind, stop.Port, stop.Reason, st.Exits["syscall"], len(st.Unimplemented))
		if stop.Kind == machine.StopUserPort && stop.Port == ring0.PortUserFirst && st.Exits["syscall"] != calls {
			t.Errorf("seed %d: finished after %d syscalls, want %d", seed, st.Exits["syscall"], calls)
		}
	}
}

// syscallTable encodes calls for syscallLoop: a number and six arguments
// each.
func syscallTable(calls ...[7]uint64) []byte {
	var tab []byte
	for _, c := range calls {
		for _, w := range c {
			tab = binary.LittleEndian.AppendUint64(tab, w)
		}
	}
	return tab
}

// TestDeadlineEndsSyscall: Run's deadline ends a system call being served
// (a 30 s nanosleep, a futex wait without timeout, stop with the 1 s
// deadline), and mincore over 64 GiB
// of sparse memory takes milliseconds (it took 20 s under QEMU).
func TestDeadlineEndsSyscall(t *testing.T) {
	const table = 0x2000_0000
	const huge = 0x100_0000_0000
	run := func(t *testing.T, cfg machine.Config, timeout time.Duration, calls ...[7]uint64) (machine.Stop, time.Duration) {
		m := newMachine(t, cfg, syscallLoop(table, uint32(len(calls))))
		mapBytes(t, m, table, syscallTable(calls...), unix.PROT_READ)
		if _, err := m.MM.MMap(dataAddr, 24<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := m.MM.CopyOut(dataAddr, le64(30), mm.IOOpts{}); err != nil { // a timespec of 30 s
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		stop, err := m.Run(ctx)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return stop, took
	}
	t.Run("nanosleep", func(t *testing.T) {
		stop, took := run(t, machine.Config{Memory: 64 << 20}, time.Second, [7]uint64{unix.SYS_NANOSLEEP, dataAddr, 0})
		t.Logf("30 s nanosleep with a 1 s deadline: %v after %v", stop.Kind, took)
		if stop.Kind != machine.StopDeadline || took > 3*time.Second {
			t.Errorf("stop %v after %v; want the deadline after 1 s", stop.Kind, took)
		}
	})
	t.Run("futex wait", func(t *testing.T) {
		// The word at dataAddr+64 is 0: a wait for 0 with no timeout.
		stop, took := run(t, machine.Config{Memory: 64 << 20}, time.Second, [7]uint64{unix.SYS_FUTEX, dataAddr + 64, 0 /* FUTEX_WAIT */, 0, 0})
		t.Logf("futex wait without timeout, 1 s deadline: %v after %v", stop.Kind, took)
		if stop.Kind != machine.StopDeadline || took > 3*time.Second {
			t.Errorf("stop %v after %v; want the deadline after 1 s", stop.Kind, took)
		}
	})
	t.Run("mincore over 64 GiB", func(t *testing.T) {
		stop, took := run(t, machine.Config{Memory: 64 << 20}, time.Minute,
			[7]uint64{unix.SYS_MMAP, huge, 64 << 30, unix.PROT_NONE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED, ^uint64(0), 0},
			[7]uint64{unix.SYS_MINCORE, huge, 64 << 30, dataAddr + 4096})
		t.Logf("mmap and mincore of 64 GiB: %v after %v", stop.Kind, took)
		if stop.Kind != machine.StopUserPort || took > 5*time.Second {
			t.Errorf("stop %v after %v; want the program's end within 5 s", stop.Kind, took)
		}
	})
	// Populating 1.5 GiB takes a good part of a second (seconds under
	// QEMU); mm stops between 16 MiB steps once the deadline has passed.
	const populate = 1536 << 20
	for _, tc := range []struct {
		name string
		call [7]uint64
	}{
		{"MAP_POPULATE of 1.5 GiB", [7]uint64{unix.SYS_MMAP, huge, populate, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED | unix.MAP_POPULATE, ^uint64(0), 0}},
		{"mlockall of 1.5 GiB", [7]uint64{unix.SYS_MLOCKALL, unix.MCL_CURRENT | unix.MCL_FUTURE}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := [][7]uint64{tc.call}
			if tc.call[0] == unix.SYS_MLOCKALL {
				calls = [][7]uint64{{unix.SYS_MMAP, huge, populate, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED, ^uint64(0), 0}, tc.call}
			}
			limits := mm.DefaultLimits()
			limits.MemLock = mm.Unlimited
			stop, took := run(t, machine.Config{Memory: 2 << 30, Limits: &limits}, 50*time.Millisecond, calls...)
			t.Logf("%s with a 50 ms deadline: %v after %v", tc.name, stop.Kind, took)
			if stop.Kind != machine.StopDeadline || took > 2*time.Second {
				t.Errorf("stop %v after %v; want the deadline within 2 s", stop.Kind, took)
			}
		})
	}
}

// tailWriter keeps the last bytes written to it and counts the rest: the
// fuzzer's wild writes to stdout can be tens of MiB, its summary is the
// last line.
type tailWriter struct {
	n    int64
	tail []byte
}

const tailKeep = 4096

func (w *tailWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.tail = append(w.tail, p...)
	if len(w.tail) > tailKeep {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-tailKeep:]...)
	}
	return len(p), nil
}

// openHostFDs counts the test process's open file descriptors.
func openHostFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestSyscallFuzzer runs the sysfuzz guest (guest/sysfuzz.c): 10^5 system
// calls with random numbers and wild arguments over four seeds. Each run
// must make every call and exit 0; afterwards mm's invariants hold, Close
// finds no leaked guest page, the host has as many fds as before, and the
// table of unimplemented numbers stayed bounded. The counts by errno go in
// the log.
func TestSyscallFuzzer(t *testing.T) {
	dir := guestDir(t)
	const seeds, perSeed = 4, 25000
	fdsBefore := openHostFDs(t)
	total := 0
	for seed := 1; seed <= seeds; seed++ {
		out := &tailWriter{}
		m, err := machine.New(machine.Config{Memory: 256 << 20, Stdout: out, Stderr: out, StdioFDs: [3]int{-1, -1, -1}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "sysfuzz")
		args := []string{path, strconv.Itoa(seed), strconv.Itoa(perSeed)}
		if err := m.LoadProgram(path, args, nil); err != nil {
			m.Close()
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		start := time.Now()
		stop, err := m.Run(ctx)
		took := time.Since(start)
		cancel()
		if err != nil {
			m.Close()
			t.Fatalf("seed %d: Run: %v", seed, err)
		}
		// The summary is the last line; the wild writes before it need
		// not end theirs, so it starts with a newline of its own.
		lines := strings.Split(strings.TrimRight(string(out.tail), "\n"), "\n")
		summary := lines[len(lines)-1]
		st := m.Stats()
		t.Logf("%s (%v, %d syscall exits, %d bytes of output, %d unimplemented numbers)", summary, took.Round(time.Millisecond), st.Exits["syscall"], out.n, len(st.Unimplemented))
		if stop.Kind != machine.StopExit || stop.ExitCode != 0 {
			t.Errorf("seed %d: %v %s (status %d); want exit 0 after %d calls", seed, stop.Kind, stop.Reason, stop.Status(), perSeed)
		}
		if want := fmt.Sprintf("sysfuzz seed %d: %d calls: ", seed, perSeed); !strings.HasPrefix(summary, want) {
			t.Errorf("seed %d: last line %q, want it to start %q", seed, summary, want)
		}
		if calls := st.Exits["syscall"]; calls < perSeed {
			t.Errorf("seed %d: %d syscall exits, want at least %d", seed, calls, perSeed)
		} else {
			total += int(calls)
		}
		if err := m.MM.CheckInvariants(); err != nil {
			t.Errorf("seed %d: mm invariants: %v", seed, err)
		}
		if len(st.Unimplemented) > 600 {
			t.Errorf("seed %d: %d distinct unimplemented numbers kept: the table must stay bounded", seed, len(st.Unimplemented))
		}
		if err := m.Close(); err != nil {
			t.Errorf("seed %d: Close: %v", seed, err)
		}
	}
	if after := openHostFDs(t); after != fdsBefore {
		t.Errorf("host fds: %d before, %d after: a leak", fdsBefore, after)
	}
	t.Logf("%d system calls in all", total)
}
