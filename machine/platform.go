package machine

import (
	"fmt"
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/pagetable"
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
	// VDSOClock says what the vDSO's clocks read: the TSC at the
	// frequency KVM reports, or the system calls and why.
	VDSOClock string `json:"vdso_clock"`
}

// String describes the platform in one line, for --stats and mmvm bench.
func (p Platform) String() string {
	mod := p.Module
	if mod == "" {
		mod = "KVM module unknown"
	}
	s := fmt.Sprintf("%s, %v (%s): page-table changes %v; syscall %v; 1 GiB pages %v",
		mod, p.Paging, p.PagingFact, p.TableSync, p.Syscall, map[bool]string{true: "used", false: "not offered"}[p.GiantPages])
	if p.VDSOClock != "" {
		s += "; vDSO clock " + p.VDSOClock
	}
	return s
}

// Platform returns what the Machine decided about its KVM.
func (m *Machine) Platform() Platform { return m.platform }

// choosePaging decides TableSync from how KVM pages: the flush alone only
// where KVM is known to use nested paging. Where that is unknown the VM
// starts out replaying and lets probeTableSync decide.
func (m *Machine) choosePaging() {
	paging, fact := kvm.MMUPaging()
	m.paging = paging
	m.platform.Module = kvm.Implementation()
	m.platform.Paging, m.platform.PagingFact = paging.String(), fact
	m.platform.TableSync = TableSyncReplay
	if paging == kvm.PagingNested {
		m.platform.TableSync = TableSyncFlush
	}
}

// settleTableSync runs probeTableSync where the paging is unknown and
// turns the replay off if host writes turn out to be seen.
func (m *Machine) settleTableSync() error {
	if m.paging != kvm.PagingUnknown {
		return nil
	}
	sync, err := m.boot.probeTableSync()
	if err != nil {
		return err
	}
	m.platform.TableSync = sync
	m.platform.PagingFact += "; self-test: " + map[TableSync]string{TableSyncFlush: "host writes seen", TableSyncReplay: "host writes not seen"}[sync]
	if sync == TableSyncFlush {
		m.pt.SetJournal(nil)
		m.journal.off = true // the tableAllocator's copy sees it too
		m.journal.releaseFreed()
		m.journal = nil
	}
	return nil
}

// probeDeadline bounds the start-up probe's KVM_RUN.
const probeDeadline = 5 * time.Second

// probeSyscallPath runs the trampoline's probe `syscall` once in user mode
// with LSTAR at the ring-0 stub. Where SYSCALL enters CPL 0 the stub exits
// on PortSyscall; where it stays at CPL 3 (PVM) fetching the supervisor-only
// stub faults, and the #PF stub exits with the stub's address as the
// faulting RIP. Anything else means this KVM does something mmvm does not
// know, which is an error rather than a guess.
func (c *cpu) probeSyscallPath() error {
	start := time.Now()
	l := c.kernel.Layout()
	if err := c.vcpu.SetRegs(&kvm.Regs{RIP: uint64(l.SyscallProbe), RFLAGS: ring0.UserRFLAGS}); err != nil {
		return fmt.Errorf("machine: probing SYSCALL: %w", err)
	}
	ev, err := c.runProbe()
	if err != nil {
		return fmt.Errorf("machine: probing SYSCALL: %w", err)
	}
	switch rip := c.vcpu.Sync().Regs.RIP; {
	case ev.Kind == ring0.EventSyscall && rip == uint64(l.SyscallEntry):
		c.m.platform.Syscall = ring0.SyscallToRing0
	case ev.Kind == ring0.EventException && ev.Vector == ring0.PageFault && ev.Context.RIP == uint64(l.SyscallEntry):
		c.m.platform.Syscall = ring0.SyscallInUser
	default:
		return fmt.Errorf("machine: probing SYSCALL: unexpected exit on port %#x at rip %#x (%v %v, frame rip %#x): this KVM runs SYSCALL in a way mmvm does not know",
			ev.Port, rip, ev.Kind, ev.Vector, ev.Context.RIP)
	}
	c.kernel.SetSyscallPath(c.m.platform.Syscall)
	if err := c.loadKernelMSRs(); err != nil {
		return err
	}
	c.m.platform.ProbeTime = time.Since(start)
	return nil
}

// probeTableSync finds out, by trying, whether a host write that changes a
// present page-table entry reaches the guest after a CR3 reload: the vCPU
// runs the trampoline's table probe, which reads the first byte of
// ring0.TableProbeData (mapped to the trampoline page, whose first byte is
// the `out` opcode 0xE6) and makes a system call; the host remaps that page
// to the ring-0 tables page (whose first byte, the GDT's null descriptor,
// is 0), reloads CR3 and lets the probe read again. Reading 0 means the
// processor walked the tables again (nested paging); reading 0xE6 means a
// shadow of the old entry survived, and page-table changes must be
// replayed. The probe page is unmapped afterwards, the way the answer says.
// The syscall path must be known (probeSyscallPath) first.
func (c *cpu) probeTableSync() (TableSync, error) {
	l := c.kernel.Layout()
	page := arch.AddrRange{Start: ring0.TableProbeData, End: ring0.TableProbeData + arch.PageSize}
	userRO := pagetable.MapOpts{Access: arch.Read, User: true}
	journal := c.m.journal
	c.m.pt.SetJournal(nil) // the remap below must be a plain host write
	defer func() {
		if journal != nil {
			c.m.pt.SetJournal(journal)
		}
	}()
	if _, err := c.m.pt.Map(page, l.PhysOf(l.Trampoline.Offset), userRO); err != nil {
		return 0, fmt.Errorf("machine: probing page-table changes: %w", err)
	}
	// The vCPU stopped in ring 0 at the SYSCALL probe's exit: user mode
	// is loaded whole, segments included.
	if err := c.resumeDirect(ring0.UserContext{RIP: uint64(l.TableProbe), RFLAGS: ring0.UserRFLAGS}); err != nil {
		return 0, fmt.Errorf("machine: probing page-table changes: %w", err)
	}
	var seen [2]uint64
	for i := range seen {
		ev, err := c.runProbe()
		if err != nil {
			return 0, fmt.Errorf("machine: probing page-table changes: %w", err)
		}
		if ev.Kind != ring0.EventSyscall {
			return 0, fmt.Errorf("machine: probing page-table changes: exit %v %v at rip %#x, want a system call", ev.Kind, ev.Vector, ev.Context.RIP)
		}
		seen[i] = c.vcpu.Sync().Regs.RAX
		if i == 0 {
			if _, err := c.m.pt.Map(page, l.PhysOf(0), userRO); err != nil {
				return 0, fmt.Errorf("machine: probing page-table changes: %w", err)
			}
			c.vcpu.Sync().Sregs.CR3 = c.reloadCR3(c.m.pt.Root()) // resumeDirect below marks the sregs dirty
		}
		if err := c.resumeDirect(ev.Context); err != nil {
			return 0, err
		}
	}
	var sync TableSync
	switch seen {
	case [2]uint64{0xE6, 0}:
		sync = TableSyncFlush
	case [2]uint64{0xE6, 0xE6}:
		sync = TableSyncReplay
	default:
		return 0, fmt.Errorf("machine: probing page-table changes: the probe read %#x then %#x, want 0xe6 then 0 or 0xe6", seen[0], seen[1])
	}
	// The vCPU has run: under replay the unmapping is journaled and
	// replayed before the program's first instruction.
	if sync == TableSyncReplay && journal != nil {
		c.m.pt.SetJournal(journal)
	}
	c.m.as.mu.Lock()
	fl, err := c.m.pt.Unmap(page)
	c.m.as.changed(fl)
	c.m.as.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("machine: probing page-table changes: %w", err)
	}
	return sync, nil
}

// runProbe runs the vCPU, from the goroutine New runs on, to its next
// exit of ring 0's protocol (see runRing0).
func (c *cpu) runProbe() (ring0.Event, error) {
	c.vcpu.BindThread()
	defer c.vcpu.UnbindThread()
	return c.runRing0(probeDeadline)
}
