package tests

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/x86enc"
)

// More hand-encoded instructions for the guest programs below.
var (
	movRDXImm32 = func(v uint32) []byte { return x86enc.MovSignExtended(x86enc.RDX, int32(v)).Bytes }
	movR10D     = func(v uint32) []byte { return x86enc.MovImm32(x86enc.R10, v).Bytes }
)

// syscall3 loads a system call with up to three arguments and makes it.
func syscall3(nr uint32, a, b uint64, c uint32) []byte {
	return cat(movEAX(nr), movRDI(a), movRSI(b), movRDXImm32(c), syscallInsn)
}

// TestNarrowingSeenByGuest has the guest itself narrow or remove a
// translation it has just used, through a system call, and use it again:
// the second access must fail as under Linux, on every KVM kind (under
// shadow paging, only the replay of the page-table stores makes that so).
func TestNarrowingSeenByGuest(t *testing.T) {
	const x = dataAddr
	for _, tc := range []struct {
		name   string
		prot   uint64
		change []byte // the system call, after a first access
		access []byte // the access, first and again after the change
		reason string
	}{
		{"munmap then read", unix.PROT_READ, syscall3(unix.SYS_MUNMAP, x, arch.PageSize, 0), loadRAXRDI, "SEGV_MAPERR"},
		{"mprotect read-only then write", unix.PROT_READ | unix.PROT_WRITE, syscall3(unix.SYS_MPROTECT, x, arch.PageSize, unix.PROT_READ), storeByteRDI, "SEGV_ACCERR"},
		{"mprotect none then read", unix.PROT_READ, syscall3(unix.SYS_MPROTECT, x, arch.PageSize, unix.PROT_NONE), loadRAXRDI, "SEGV_ACCERR"},
		{"guard install then read", unix.PROT_READ, syscall3(unix.SYS_MADVISE, x, arch.PageSize, unix.MADV_GUARD_INSTALL), loadRAXRDI, "guard"},
		{"mremap away then read", unix.PROT_READ, cat(movEAX(unix.SYS_MREMAP), movRDI(x), movRSI(arch.PageSize), movRDXImm32(arch.PageSize),
			movR10D(unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED), x86enc.MovImm64(x86enc.R8, x+0x20_0000).Bytes, syscallInsn), loadRAXRDI, "SEGV_MAPERR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := cat(movRDI(x), tc.access, outUser0, tc.change, outUser1, movRDI(x), tc.access, ud2)
			m := newMachine(t, machine.Config{FaultAround: arch.PageSize}, code)
			mapBytes(t, m, x, bytes.Repeat([]byte{0xAA}, arch.PageSize), tc.prot)
			wantPort(t, run(t, m, time.Minute), ring0.PortUserFirst)
			stop := run(t, m, time.Minute)
			wantPort(t, stop, ring0.PortUserFirst+1)
			wantSignal(t, run(t, m, time.Minute), unix.SIGSEGV, tc.reason)
		})
	}
}

// TestFreedTableReuse keeps pages' frames alive while the table that
// mapped them is freed whole (its entries never cleared one by one) and
// then reused for another address: a KVM that shadows the guest's tables
// still holds the freed table's shadow, stale entries and all, and would
// translate the new address through it to the old frames unless the VM
// dropped that shadow before the table page came back.
func TestFreedTableReuse(t *testing.T) {
	const x, moved, y = 0x2000_0000, 0x4000_0000, 0x6000_0000 // 2 MiB spans, each its own table
	const pages = 4
	readAll := func(base uint64, port []byte) []byte {
		code := x86enc.MovSignExtended(x86enc.RBX, -1).Bytes
		for i := range uint64(pages) {
			code = cat(code, movRDI(base+i*arch.PageSize), loadRAXRDI, []byte{0x48, 0x21, 0xC3}) // and rbx, rax
		}
		return cat(code, x86enc.Mov(x86enc.RAX, x86enc.RBX).Bytes, port)
	}
	code := cat(readAll(x, outUser0), readAll(y, outUser1), jmpSelf)
	m := newMachine(t, machine.Config{FaultAround: arch.PageSize}, code)
	mapBytes(t, m, x, bytes.Repeat([]byte{0xAA}, arch.HugePageSize), unix.PROT_READ)
	stop := run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst)
	if stop.Value != 0xAA {
		t.Fatalf("first reads %#x", stop.Value)
	}
	// The frames move on (and stay alive); x's whole table goes at once.
	if _, err := m.MM.MRemap(x, arch.HugePageSize, arch.HugePageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, moved); err != nil {
		t.Fatal(err)
	}
	// y needs a table of its own: the MemoryFile hands out the freed one
	// again once the replay has let it go.
	mapBytes(t, m, y, bytes.Repeat([]byte{0xBB}, arch.HugePageSize), unix.PROT_READ)
	stop = run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst+1)
	if stop.Value != 0xBB {
		t.Fatalf("y reads %#x, want 0xbb: a stale shadow of x's freed table", stop.Value)
	}
	st := m.Stats()
	t.Logf("%v; replays %+v", st.Platform, st.Replay)
	if st.Platform.TableSync == machine.TableSyncReplay && (st.Replay.Replays == 0 || st.Replay.Tables == 0) {
		t.Errorf("shadow paging, but no replay dropped a freed table: %+v", st.Replay)
	}
}

// TestUserIretNeverSpins runs a legitimate user-mode iretq (it works
// natively). On hardware KVM it returns where the frame says; under QEMU's
// emulation with SMAP, IRET reads the user stack with supervisor rights and
// faults on a page mm has mapped with every right the access needs, again
// and again. Either way the program must not spin: it continues, or it
// ends with SIGSEGV once the fault has repeated with nothing left to map.
func TestUserIretNeverSpins(t *testing.T) {
	code := cat(
		x86enc.Mov(x86enc.RAX, x86enc.RSP).Bytes,
		[]byte{0x6A, ring0.UserDataSelector}, // push ss
		[]byte{0x50},                         // push rax
		[]byte{0x9C},                         // pushfq
		[]byte{0x6A, ring0.UserCodeSelector}, // push cs
		[]byte{0x48, 0x8D, 0x0D}, le32(3),    // lea rcx, [rip+3]: past push and iretq
		[]byte{0x51}, // push rcx
		x86enc.Iretq.Bytes,
		outUser0, jmpSelf)
	m := newMachine(t, machine.Config{}, code)
	stop := run(t, m, 30*time.Second)
	switch {
	case stop.Kind == machine.StopUserPort && stop.Port == ring0.PortUserFirst:
		t.Log("iretq returned to user mode as on hardware")
	case stop.Kind == machine.StopSignal && stop.Signal == unix.SIGSEGV && strings.Contains(stop.Reason, "repeated"):
		t.Logf("killed instead of spinning: %s", stop.Reason)
	default:
		t.Fatalf("stopped with %v %v (%s): neither returned nor ended", stop.Kind, stop.Signal, stop.Reason)
	}
}

// TestZeroPageBreakSeenByGuest reads fresh memory (the zero page, mapped
// read-only), writes one page of it (the copy-on-write break replaces a
// present translation with one to fresh memory), and reads both that page
// and its neighbour: the write must be seen, the neighbour still zero, and
// only the written page counted in RSS.
func TestZeroPageBreakSeenByGuest(t *testing.T) {
	const x = dataAddr
	code := cat(movRDI(x), loadRAXRDI, movRDI(x+arch.PageSize), loadRAXRDI, outUser0,
		movRDI(x), x86enc.StoreByte(x86enc.RDI, 0x5A).Bytes,
		movRDI(x), loadRAXRDI, outUser1,
		movRDI(x+arch.PageSize), loadRAXRDI, x86enc.OutAL(ring0.PortUserFirst+2).Bytes, jmpSelf)
	m := newMachine(t, machine.Config{}, code)
	if _, err := m.MM.MMap(x, arch.HugePageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	rss0 := m.MM.Stats().RSS
	stop := run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst)
	if stop.Value != 0 {
		t.Fatalf("fresh memory reads %#x", stop.Value)
	}
	if rss := m.MM.Stats().RSS; rss != rss0 {
		t.Errorf("reading fresh memory grew RSS by %d bytes, want 0 (the zero page)", rss-rss0)
	}
	stop = run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst+1)
	if stop.Value != 0x5A {
		t.Fatalf("after the write the page reads %#x, want 0x5a", stop.Value)
	}
	stop = run(t, m, time.Minute)
	wantPort(t, stop, ring0.PortUserFirst+2)
	if stop.Value != 0 {
		t.Fatalf("the neighbour of the written page reads %#x, want 0", stop.Value)
	}
	if rss := m.MM.Stats().RSS; rss-rss0 != arch.PageSize {
		t.Errorf("one write grew RSS by %d bytes, want one page", rss-rss0)
	}
	t.Logf("%v; replays %+v", m.Stats().Platform, m.Stats().Replay)
}
