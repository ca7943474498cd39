package machine

import (
	"fmt"
	"time"

	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/ring0"
)

// TableSync is how a page-table change that narrows or removes a
// translation reaches the guest's MMU.
type TableSync uint8

// Ways of making page-table changes visible.
const (
	// TableSyncFlush: the host writes the entries and the next entry
	// reloads CR3, which flushes the guest's TLB. Enough where the
	// processor walks the guest's tables itself (nested paging).
	TableSyncFlush TableSync = iota
	// TableSyncReplay: as TableSyncFlush, and ring 0 stores every changed
	// entry again before user code runs, so that a KVM that shadows the
	// guest's tables sees it (see replay.go). Correct on every KVM.
	TableSyncReplay
)

func (t TableSync) String() string {
	switch t {
	case TableSyncFlush:
		return "host writes + CR3 reload"
	case TableSyncReplay:
		return "replayed by ring 0"
	}
	return fmt.Sprintf("TableSync(%d)", uint8(t))
}

// MarshalText names the choice in JSON.
func (t TableSync) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (t *TableSync) UnmarshalText(b []byte) error {
	for _, c := range []TableSync{TableSyncFlush, TableSyncReplay} {
		if c.String() == string(b) {
			*t = c
			return nil
		}
	}
	return fmt.Errorf("machine: unknown table sync %q", b)
}

// Platform is what a Machine found out about its KVM when it started, and
// what it chose accordingly. It is decided once per VM, never by a flag.
type Platform struct {
	// Module is the kernel module behind /dev/kvm (kvm.Implementation),
	// "" if unknown.
	Module string `json:"module"`
	// Paging is how KVM translates guest addresses, and PagingFact what
	// that was read from (such as "kvm_amd npt=Y").
	Paging     string `json:"paging"`
	PagingFact string `json:"paging_fact"`
	// TableSync is how narrowing page-table changes reach the guest:
	// replayed by ring 0 unless KVM is known to use nested paging.
	TableSync TableSync `json:"table_sync"`
	// Syscall is where SYSCALL lands, from a probe the vCPU runs at start.
	Syscall ring0.SyscallPath `json:"syscall"`
	// GiantPages says whether 1 GiB leaves are used (CPUID's Page1GB).
	GiantPages bool `json:"giant_pages"`
	// ProbeTime is how long the start-up probe took.
	ProbeTime time.Duration `json:"probe_ns"`
}

// String describes the platform in one line, for --stats and mmvm bench.
func (p Platform) String() string {
	mod := p.Module
	if mod == "" {
		mod = "KVM module unknown"
	}
	return fmt.Sprintf("%s, %v (%s): page-table changes %v; syscall %v; 1 GiB pages %v",
		mod, p.Paging, p.PagingFact, p.TableSync, p.Syscall, map[bool]string{true: "used", false: "not offered"}[p.GiantPages])
}

// Platform returns what the Machine decided about its KVM.
func (m *Machine) Platform() Platform { return m.platform }

// choosePaging decides TableSync from how KVM pages: the flush alone only
// where KVM is known to use nested paging.
func (m *Machine) choosePaging() {
	paging, fact := kvm.MMUPaging()
	m.platform.Module = kvm.Implementation()
	m.platform.Paging, m.platform.PagingFact = paging.String(), fact
	m.platform.TableSync = TableSyncReplay
	if paging == kvm.PagingNested {
		m.platform.TableSync = TableSyncFlush
	}
}

// probeDeadline bounds the start-up probe's KVM_RUN.
const probeDeadline = 5 * time.Second

// probeSyscallPath runs the trampoline's probe `syscall` once in user mode
// with LSTAR at the ring-0 stub. Where SYSCALL enters CPL 0 the stub exits
// on PortSyscall; where it stays at CPL 3 (PVM) fetching the supervisor-only
// stub faults, and the #PF stub exits with the stub's address as the
// faulting RIP. Anything else means this KVM does something mmvm does not
// know, which is an error rather than a guess.
func (m *Machine) probeSyscallPath() error {
	start := time.Now()
	l := m.kernel.Layout()
	if err := m.vcpu.SetRegs(&kvm.Regs{RIP: uint64(l.SyscallProbe), RFLAGS: ring0.UserRFLAGS}); err != nil {
		return fmt.Errorf("machine: probing SYSCALL: %w", err)
	}
	var late bool
	watchdog := time.AfterFunc(probeDeadline, func() { late = true; _ = m.vcpu.Kick() })
	defer watchdog.Stop()
	m.vcpu.BindThread()
	defer m.vcpu.UnbindThread()
	for {
		reason, err := m.vcpu.Run()
		if err != nil {
			return fmt.Errorf("machine: probing SYSCALL: %w", err)
		}
		m.vcpuRan = true
		if reason == kvm.ExitIntr && !late {
			continue
		}
		io, isIO := m.vcpu.IO()
		if late || reason != kvm.ExitIO || !isIO {
			return fmt.Errorf("machine: probing SYSCALL: no exit of ring 0's protocol within %v (%v)", probeDeadline, m.vcpu.UnexpectedExit(reason))
		}
		e := m.exitOf(io.Port)
		ev, err := m.kernel.Decode(e)
		switch {
		case err == nil && io.Port == ring0.PortSyscall && e.RIP == uint64(l.SyscallEntry):
			m.platform.Syscall = ring0.SyscallToRing0
		case err == nil && ev.Kind == ring0.EventException && ev.Vector == ring0.PageFault && ev.Context.RIP == uint64(l.SyscallEntry):
			m.platform.Syscall = ring0.SyscallInUser
		default:
			return fmt.Errorf("machine: probing SYSCALL: unexpected exit on port %#x at rip %#x (%v %v, frame rip %#x, error %v): this KVM runs SYSCALL in a way mmvm does not know",
				io.Port, e.RIP, ev.Kind, ev.Vector, ev.Context.RIP, err)
		}
		break
	}
	m.kernel.SetSyscallPath(m.platform.Syscall)
	var msrs []kvm.MSR
	for _, r := range m.kernel.MSRs() {
		msrs = append(msrs, kvm.MSR{Index: r.Index, Data: r.Value})
	}
	if err := m.vcpu.SetMSRs(msrs); err != nil {
		return fmt.Errorf("machine: setting MSRs for the syscall path: %w", err)
	}
	m.platform.ProbeTime = time.Since(start)
	return nil
}
