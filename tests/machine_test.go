package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/x86enc"
)

// x86-64 user code for the tests below, encoded by x86enc; each helper
// returns one instruction's bytes, named after its Intel-syntax form.
func movRDI(v uint64) []byte { return x86enc.MovImm64(x86enc.RDI, v).Bytes }
func movRSI(v uint64) []byte { return x86enc.MovImm64(x86enc.RSI, v).Bytes }
func movRAX(v uint64) []byte { return x86enc.MovImm64(x86enc.RAX, v).Bytes }
func movECX(v uint32) []byte { return x86enc.MovImm32(x86enc.RCX, v).Bytes }
func movEDX(v uint32) []byte { return x86enc.MovImm32(x86enc.RDX, v).Bytes }
func movEAX(v uint32) []byte { return x86enc.MovImm32(x86enc.RAX, v).Bytes }
func movEDI(v uint32) []byte { return x86enc.MovImm32(x86enc.RDI, v).Bytes }

var (
	storeByteRDI = x86enc.StoreByte(x86enc.RDI, 1).Bytes
	storeRAXRDI  = x86enc.Store(x86enc.RDI, x86enc.RAX).Bytes
	loadRAXRDI   = x86enc.Load(x86enc.RAX, x86enc.RDI, 0).Bytes
	addRDIPage   = x86enc.AddImm32(x86enc.RDI, 0x1000).Bytes
	decRCX       = x86enc.Dec(x86enc.RCX).Bytes
	jmpRDI       = x86enc.JmpReg(x86enc.RDI).Bytes
	syscallInsn  = x86enc.Syscall.Bytes
	ud2          = x86enc.Ud2.Bytes
	jmpSelf      = x86enc.Jmp(-2).Bytes // jmp .
	outUser0     = x86enc.OutAL(ring0.PortUserFirst).Bytes
	outUser1     = x86enc.OutAL(ring0.PortUserFirst + 1).Bytes
)

func le64(v uint64) []byte       { return binary.LittleEndian.AppendUint64(nil, v) }
func le32(v uint32) []byte       { return binary.LittleEndian.AppendUint32(nil, v) }
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// touchLoop writes a byte to each of n pages from addr, then exits through
// the user port: one fault per page without fault-around.
func touchLoop(addr uint64, n uint32) []byte {
	body := cat(storeByteRDI, addRDIPage, decRCX)
	return cat(movRDI(addr), movECX(n), body, x86enc.JnzBack(len(body)).Bytes, outUser0, jmpSelf)
}

const (
	codeAddr  = 0x40_0000
	stackTop  = 0x7ff0_0000_0000
	dataAddr  = 0x1000_0000 // 2 MiB-aligned
	stackSize = 64 << 10
)

// newMachine builds a Machine with the user ports open, its code mapped
// read+execute at codeAddr, a stack, and the user context at the code. It
// fails (rather than skips) when MMVM_REQUIRE_KVM is set and KVM is missing.
func newMachine(t *testing.T, cfg machine.Config, code []byte) *machine.Machine {
	t.Helper()
	kvmtest.Open(t) // skip, or fail under make test-kvm, without KVM
	cfg.UserPorts = true
	if cfg.Memory == 0 {
		cfg.Memory = 256 << 20
	}
	m, err := machine.New(cfg)
	if err != nil {
		t.Fatalf("machine.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	mapBytes(t, m, codeAddr, code, unix.PROT_READ|unix.PROT_EXEC)
	if _, err := m.MM.MMap(stackTop-stackSize, stackSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatalf("mapping the stack: %v", err)
	}
	if err := m.SetUserContext(codeAddr, stackTop); err != nil {
		t.Fatal(err)
	}
	return m
}

// mapBytes maps data (rounded up to pages) at addr with prot, private and
// anonymous, written as the loader writes (ignoring permissions).
func mapBytes(t *testing.T, m *machine.Machine, addr uint64, data []byte, prot uint64) {
	t.Helper()
	length, _ := arch.PageRoundUp(uint64(max(len(data), 1)))
	if _, err := m.MM.MMap(addr, length, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatalf("mmap at %#x: %v", addr, err)
	}
	if _, err := m.MM.CopyOut(arch.Addr(addr), data, mm.IOOpts{IgnorePermissions: true}); err != nil {
		t.Fatalf("writing %d bytes at %#x: %v", len(data), addr, err)
	}
}

func run(t *testing.T, m *machine.Machine, timeout time.Duration) machine.Stop {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return stop
}

func wantPort(t *testing.T, stop machine.Stop, port uint16) {
	t.Helper()
	if stop.Kind != machine.StopUserPort || stop.Port != port {
		t.Fatalf("stopped with %v (port %#x, %s %s), want user port %#x", stop.Kind, stop.Port, unix.SignalName(stop.Signal), stop.Reason, port)
	}
}

func wantSignal(t *testing.T, stop machine.Stop, sig unix.Signal, reason string) {
	t.Helper()
	if stop.Kind != machine.StopSignal || stop.Signal != sig {
		t.Fatalf("stopped with %v %v (%s), want %v", stop.Kind, stop.Signal, stop.Reason, sig)
	}
	if !strings.Contains(stop.Reason, reason) {
		t.Errorf("reason %q does not mention %q", stop.Reason, reason)
	}
	if stop.Status() != 128+int(sig) {
		t.Errorf("status %d, want %d", stop.Status(), 128+int(sig))
	}
	t.Logf("killed as expected: %s", stop.Reason)
}

// TestMachineTouchCountsFaults touches 1024 fresh pages and counts the
// faults: one per page without fault-around, one per 2 MiB with it.
func TestMachineTouchCountsFaults(t *testing.T) {
	const pages = 1024
	for _, tc := range []struct {
		around uint64
		faults uint64
	}{
		{arch.PageSize, pages},
		{arch.HugePageSize, pages / 512},
	} {
		m := newMachine(t, machine.Config{FaultAround: tc.around}, touchLoop(dataAddr, pages))
		if _, err := m.MM.MMap(dataAddr, pages*arch.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
			t.Fatal(err)
		}
		wantPort(t, run(t, m, time.Minute), ring0.PortUserFirst)
		st := m.Stats()
		// One more fault: the first instruction fetch maps the code page.
		if got := st.Faults - 1; got != tc.faults {
			t.Errorf("fault-around %d: %d data faults, want %d", tc.around, got, tc.faults)
		}
		t.Logf("fault-around %7d: %d faults, %d pages mapped, host latency p50 %v p99 %v", tc.around, st.Faults, st.PagesMapped, st.FaultLatency.P50, st.FaultLatency.P99)
	}
}

// TestMachineWriteReadBack writes a value from the guest and reads it back
// through the page tables and the MemoryFile from Go.
func TestMachineWriteReadBack(t *testing.T) {
	const val = 0x1122_3344_5566_7788
	m := newMachine(t, machine.Config{}, cat(movRDI(dataAddr+0x123), movRAX(val), storeRAXRDI, outUser0, jmpSelf))
	if _, err := m.MM.MMap(dataAddr, arch.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	wantPort(t, run(t, m, time.Minute), ring0.PortUserFirst)
	pa, _, opts, ok := m.PageTables().Lookup(dataAddr + 0x123)
	if !ok || !opts.User || !opts.Access.Write {
		t.Fatalf("Lookup: %#x %+v %v", pa, opts, ok)
	}
	off, ok := m.MemoryFile().FileOffset(pa)
	if !ok {
		t.Fatalf("pa %#x is outside the MemoryFile", pa)
	}
	b := m.MemoryFile().Slice(memmap.FileRange{Start: off, End: off + 8})
	if got := binary.LittleEndian.Uint64(b); got != val {
		t.Errorf("MemoryFile holds %#x, want %#x", got, val)
	}
	var viaMM [8]byte
	if _, err := m.MM.CopyIn(dataAddr+0x123, viaMM[:], mm.IOOpts{}); err != nil || binary.LittleEndian.Uint64(viaMM[:]) != val {
		t.Errorf("CopyIn: %x, %v", viaMM, err)
	}
}

// TestMachineProtectionFaults checks that each forbidden access kills the
// program with the signal Linux gives, and that nothing of the guest's
// kernel — its memory, its GDT, its page tables — is reachable from user
// mode.
func TestMachineProtectionFaults(t *testing.T) {
	ro := func(m *machine.Machine) {
		mapBytes(t, m, dataAddr, []byte{1}, unix.PROT_READ)
	}
	for _, tc := range []struct {
		name   string
		code   func(m *machine.Machine) []byte
		setup  func(m *machine.Machine)
		sig    unix.Signal
		reason string
	}{
		{"write to read-only page", func(*machine.Machine) []byte { return cat(movRDI(dataAddr), storeByteRDI) }, ro, unix.SIGSEGV, "SEGV_ACCERR"},
		{"execute non-executable page", func(*machine.Machine) []byte { return cat(movRDI(dataAddr), jmpRDI) }, ro, unix.SIGSEGV, "execute"},
		{"read unmapped page", func(*machine.Machine) []byte { return cat(movRDI(dataAddr), loadRAXRDI) }, nil, unix.SIGSEGV, "SEGV_MAPERR"},
		{"read kernel half", func(*machine.Machine) []byte { return cat(movRDI(uint64(arch.KernelBase)), loadRAXRDI) }, nil, unix.SIGSEGV, ""},
		{"read the GDT", func(m *machine.Machine) []byte {
			return cat(movRDI(uint64(m.Kernel().Layout().VirtOf(0))), loadRAXRDI)
		}, nil, unix.SIGSEGV, ""},
		{"read the page tables at their physical address", func(m *machine.Machine) []byte {
			return cat(movRDI(m.PageTables().Root()), loadRAXRDI)
		}, nil, unix.SIGSEGV, "SEGV_MAPERR"},
		{"read a non-canonical address", func(*machine.Machine) []byte { return cat(movRDI(0x8000_0000_0000), loadRAXRDI) }, nil, unix.SIGSEGV, "general"},
		{"undefined instruction", func(*machine.Machine) []byte { return ud2 }, nil, unix.SIGILL, "invalid opcode"},
		{"privileged instruction", func(*machine.Machine) []byte { return x86enc.Hlt.Bytes }, nil, unix.SIGSEGV, ""},
		{"divide by zero", func(*machine.Machine) []byte { return cat(movECX(0), x86enc.Div(x86enc.RCX).Bytes) }, nil, unix.SIGFPE, ""},
		{"out to a kernel port", func(*machine.Machine) []byte { return x86enc.OutAL(ring0.PortSyscall).Bytes }, nil, unix.SIGSEGV, ""},
		{"int 0x80 (no gate; #UD on PVM)", func(*machine.Machine) []byte { return x86enc.Int(0x80).Bytes }, nil, unix.SIGSEGV, ""},
		{"int 14 (gate not for user mode)", func(*machine.Machine) []byte { return x86enc.Int(0x0E).Bytes }, nil, unix.SIGSEGV, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Build once to learn the layout, then the real code.
			probe := newMachine(t, machine.Config{}, jmpSelf)
			code := tc.code(probe)
			m := newMachine(t, machine.Config{}, cat(code, outUser0, jmpSelf))
			if tc.setup != nil {
				tc.setup(m)
			}
			wantSignal(t, run(t, m, time.Minute), tc.sig, tc.reason)
		})
	}
}

// TestMachineGuardPage reads a page, has the host install a guard region
// over it (madvise MADV_GUARD_INSTALL) while the guest still holds a
// translation for it, and resumes: the next read must kill the program
// with Linux's SIGSEGV (SEGV_MAPERR), not read the old page through a
// stale TLB entry or page-table leaf.
func TestMachineGuardPage(t *testing.T) {
	const x = dataAddr
	code := cat(movRDI(x), loadRAXRDI, outUser0, loadRAXRDI, outUser1, jmpSelf)
	m := newMachine(t, machine.Config{}, code)
	mapBytes(t, m, x, bytes.Repeat([]byte{0xAA}, arch.PageSize), unix.PROT_READ|unix.PROT_WRITE)
	stop := run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst)
	if stop.Value != 0xAA {
		t.Fatalf("first read saw %#x, want 0xaa", stop.Value)
	}
	if err := m.MM.Madvise(x, arch.PageSize, unix.MADV_GUARD_INSTALL); err != nil {
		t.Fatalf("MADV_GUARD_INSTALL: %v", err)
	}
	wantSignal(t, run(t, m, time.Minute), unix.SIGSEGV, "guard")
}

// TestMachineNoStaleTLB reads page A at X, moves A away, maps B at X and
// reads again: the guest must see B, not a stale translation to A (A stays
// alive elsewhere, so its memory still holds A's bytes).
func TestMachineNoStaleTLB(t *testing.T) {
	const x, y = dataAddr, dataAddr + 0x10_0000
	code := cat(movRDI(x), loadRAXRDI, outUser0, loadRAXRDI, outUser1, jmpSelf)
	m := newMachine(t, machine.Config{FaultAround: arch.PageSize}, code)
	mapBytes(t, m, x, bytes.Repeat([]byte{0xAA}, arch.PageSize), unix.PROT_READ)
	stop := run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst)
	if stop.Value != 0xAA {
		t.Fatalf("first read saw %#x, want 0xaa", stop.Value)
	}
	if _, err := m.MM.MRemap(x, arch.PageSize, arch.PageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, y); err != nil {
		t.Fatalf("mremap: %v", err)
	}
	mapBytes(t, m, x, bytes.Repeat([]byte{0xBB}, arch.PageSize), unix.PROT_READ)
	stop = run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst+1)
	if stop.Value != 0xBB {
		t.Fatalf("after remapping, the guest read %#x: a stale TLB entry (want 0xbb)", stop.Value)
	}
	var a [1]byte
	if _, err := m.MM.CopyIn(y, a[:], mm.IOOpts{}); err != nil || a[0] != 0xAA {
		t.Errorf("A moved to %#x holds %#x (%v)", y, a[0], err)
	}
	if m.Stats().TLBFlushes == 0 {
		t.Error("no TLB flush was counted")
	}
}

// TestMachineDeadline stops a guest spinning forever, entering KVM_RUN
// raw (the default) and through the scheduler, with one P: the deadline's
// timer then has to get the P away from the vCPU goroutine, which only the
// runtime's preemption signal interrupting KVM_RUN can do under RawRun.
func TestMachineDeadline(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, raw := range []bool{true, false} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			m := newMachine(t, machine.Config{}, jmpSelf)
			fp := machine.DefaultFastPath()
			fp.RawRun = raw
			m.SetFastPath(fp)
			start := time.Now()
			stop := run(t, m, 300*time.Millisecond)
			if stop.Kind != machine.StopDeadline {
				t.Fatalf("stopped with %v, want the deadline", stop.Kind)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %v to stop", d)
			}
		})
	}
}

// TestMachineSyscalls writes through write(2) and exits with exit(2).
func TestMachineSyscalls(t *testing.T) {
	msg := "hello from ring 3\n"
	var out bytes.Buffer
	code := cat(
		movEAX(unix.SYS_WRITE), movEDI(1), movRSI(codeAddr+0x800), movEDX(uint32(len(msg))), syscallInsn,
		movEDI(42), movEAX(unix.SYS_EXIT_GROUP), syscallInsn, ud2)
	page := make([]byte, 0x800+len(msg))
	copy(page, code)
	copy(page[0x800:], msg)
	m := newMachine(t, machine.Config{Stdout: &out}, page)
	stop := run(t, m, time.Minute)
	if stop.Kind != machine.StopExit || stop.Status() != 42 {
		t.Fatalf("stopped with %v status %d (%s)", stop.Kind, stop.Status(), stop.Reason)
	}
	if out.String() != msg {
		t.Errorf("stdout %q, want %q", out.String(), msg)
	}
}

// TestMachineCloseLeavesNothing builds machines, runs a program that maps,
// touches and syscalls, closes them, and checks that no file descriptor,
// goroutine or MemoryFile page is left (Close itself fails on a page still
// referenced).
func TestMachineCloseLeavesNothing(t *testing.T) {
	kvmtest.Open(t)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	fdsBefore, goBefore := fds(), runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		m, err := machine.New(machine.Config{Memory: 64 << 20, UserPorts: true})
		if err != nil {
			t.Fatal(err)
		}
		mapBytes(t, m, codeAddr, touchLoop(dataAddr, 600), unix.PROT_READ|unix.PROT_EXEC)
		if _, err := m.MM.MMap(dataAddr, 4<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
			t.Fatal(err)
		}
		if err := m.SetUserContext(codeAddr, stackTop); err != nil {
			t.Fatal(err)
		}
		wantPort(t, run(t, m, time.Minute), ring0.PortUserFirst)
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if after := fds(); after != fdsBefore {
		t.Errorf("%d descriptors before, %d after five machines", fdsBefore, after)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goBefore && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > goBefore {
		t.Errorf("%d goroutines before, %d after five machines", goBefore, after)
	}
}
