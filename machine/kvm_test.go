package machine

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/ring0"
)

// newKVMTestMachine builds a Machine with user ports and code mapped at
// 0x400000 read+execute, starting there.
func newKVMTestMachine(t *testing.T, cfg Config, code []byte) *Machine {
	t.Helper()
	kvmtest.Open(t)
	cfg.UserPorts = true
	cfg.Memory = 64 << 20
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	const codeAddr = 0x40_0000
	if _, err := m.MM.MMap(codeAddr, arch.PageSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.MM.CopyOut(codeAddr, code, mm.IOOpts{IgnorePermissions: true}); err != nil {
		t.Fatal(err)
	}
	const stackTop = 0x7fff_0000_0000
	if _, err := m.MM.MMap(stackTop-arch.PageSize, arch.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.SetUserContext(codeAddr, stackTop); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestKVMPlatform checks what New decided about the KVM it runs on: the
// SYSCALL probe's answer matches the module (only PVM keeps SYSCALL at
// CPL 3), and page-table changes are replayed unless KVM is known to use
// nested paging.
func TestKVMPlatform(t *testing.T) {
	m := newKVMTestMachine(t, Config{}, []byte{0xEB, 0xFE})
	p := m.Platform()
	t.Logf("platform: %v (probe %v)", p, p.ProbeTime)
	wantSyscall := ring0.SyscallToRing0
	if p.Module == "kvm_pvm" {
		wantSyscall = ring0.SyscallInUser
	}
	if p.Syscall != wantSyscall {
		t.Errorf("syscall path %v on %s, want %v", p.Syscall, p.Module, wantSyscall)
	}
	paging, _ := kvm.MMUPaging()
	if want := paging == kvm.PagingNested; (p.TableSync == TableSyncFlush) != want {
		t.Errorf("table sync %v with %v", p.TableSync, paging)
	}
	if (m.journal != nil) != (p.TableSync == TableSyncReplay) {
		t.Errorf("journal %v with table sync %v", m.journal != nil, p.TableSync)
	}
}

// TestKVMTrampolineSyscall serves system calls the way they arrive on PVM,
// where SYSCALL stays at CPL 3 and continues at LSTAR: the kernel is set to
// SyscallInUser and user code does what PVM's SYSCALL does (RCX = return
// address, R11 = flags, jump to LSTAR) by hand, here with IOPL 3 in R11,
// which the host must not resume with. A user `out` to the syscall port
// anywhere else is killed with SIGSEGV as the #GP it would be.
func TestKVMTrampolineSyscall(t *testing.T) {
	msg := "through the trampoline\n"
	const msgAddr = 0x40_0800
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	var code []byte
	code = append(code, 0xB8)
	code = append(code, le32(unix.SYS_WRITE)...) // mov eax, SYS_write
	code = append(code, 0xBF)
	code = append(code, le32(1)...) // mov edi, 1
	code = append(code, 0x48, 0xBE)
	code = append(code, le64(msgAddr)...) // mov rsi, msg
	code = append(code, 0xBA)
	code = append(code, le32(uint32(len(msg)))...) // mov edx, len
	code = append(code, 0x49, 0xBB)
	code = append(code, le64(ring0.UserRFLAGS|ring0.RFLAGSIOPL)...) // mov r11, IF|IOPL3
	code = append(code, 0x48, 0xBB)
	code = append(code, le64(uint64(ring0.TrampolineVirt))...) // mov rbx, trampoline
	code = append(code, 0x48, 0x8D, 0x0D)
	code = append(code, le32(2)...)                // lea rcx, [rip+2]: past the jmp
	code = append(code, 0xFF, 0xE3)                // jmp rbx
	code = append(code, 0x9C, 0x58)                // pushfq; pop rax
	code = append(code, 0x48, 0xC1, 0xE8, 0x08)    // shr rax, 8
	code = append(code, 0xE6, ring0.PortUserFirst) // out: AL = RFLAGS[15:8]
	code = append(code, 0xE6, ring0.PortSyscall)   // a forged syscall exit
	page := make([]byte, 0x800+len(msg))
	copy(page, code)
	copy(page[0x800:], msg)

	var out bytes.Buffer
	m := newKVMTestMachine(t, Config{Stdout: &out}, page)
	m.boot.kernel.SetSyscallPath(ring0.SyscallInUser)
	m.platform.Syscall = ring0.SyscallInUser
	if err := m.boot.vcpu.SetMSRs([]kvm.MSR{{Index: ring0.MSRLStar, Data: uint64(m.boot.kernel.Layout().UserSyscallEntry)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != StopUserPort {
		t.Fatalf("stopped with %v %v (%s), want the user port", stop.Kind, stop.Signal, stop.Reason)
	}
	if out.String() != msg {
		t.Errorf("stdout %q, want %q", out.String(), msg)
	}
	if iopl := uint64(stop.Value) << 8 & ring0.RFLAGSIOPL; iopl != 0 || uint64(stop.Value)<<8&ring0.RFLAGSIF == 0 {
		t.Errorf("resumed with RFLAGS[15:8] = %#x: IOPL or IF taken from the user's R11", stop.Value)
	}
	if n := m.Stats().Exits["syscall"]; n != 1 {
		t.Errorf("%d syscall exits, want 1", n)
	}
	stop, err = m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != StopSignal || stop.Signal != unix.SIGSEGV || !strings.Contains(stop.Reason, "#GP") {
		t.Errorf("a forged syscall exit: %v %v (%s), want SIGSEGV for #GP", stop.Kind, stop.Signal, stop.Reason)
	}
}

// TestKVMTableSyncProbe runs the page-table probe that decides TableSync
// where KVM's paging is unknown, here on a KVM whose paging is known, and
// checks that it agrees: host writes are seen under nested paging and not
// under shadow paging. Afterwards the probe page is gone and the machine
// runs a program that reads it into SIGSEGV.
func TestKVMTableSyncProbe(t *testing.T) {
	code := cat8([]byte{0x48, 0xBF}, binary.LittleEndian.AppendUint64(nil, uint64(ring0.TableProbeData)), // mov rdi, TableProbeData
		[]byte{0x48, 0x8B, 0x07}) // mov rax, [rdi]
	m := newKVMTestMachine(t, Config{}, code)
	got, err := m.boot.probeTableSync()
	if err != nil {
		t.Fatal(err)
	}
	paging, fact := kvm.MMUPaging()
	want := map[kvm.Paging]TableSync{kvm.PagingNested: TableSyncFlush, kvm.PagingShadow: TableSyncReplay}[paging]
	t.Logf("%v (%s): probe says %v", paging, fact, got)
	if paging != kvm.PagingUnknown && got != want {
		t.Errorf("the probe says %v on %v (%s), want %v", got, paging, fact, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != StopSignal || stop.Signal != unix.SIGSEGV {
		t.Errorf("reading the probe page after the probe: %v %v (%s), want SIGSEGV", stop.Kind, stop.Signal, stop.Reason)
	}
}

func cat8(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
