package machine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/pagetable"
	"github.com/mmvm/mmvm/ring0"
)

// # Narrowing page-table changes under shadow paging
//
// Where KVM shadows the guest's page tables (PVM; VT-x or SVM without
// nested paging), a present entry the host rewrites through its own mapping
// of guest memory keeps its old translation in KVM's shadow, whatever CR3
// load follows: a munmapped page would stay readable, a page made read-only
// writable. So the VM journals every such store (pagetable.Journal) and,
// before the vCPU next runs user code, detours it through ring 0's replay
// stub, which stores the same values again at CPL 0 where KVM sees them.
// A table page pagetable frees is held back (not returned to the
// MemoryFile) until the replay has dropped its shadow with a one-byte
// store: KVM would otherwise reuse that shadow, stale entries and all, when
// the page next became a table. The stub reaches entries, records and freed
// tables through the physmap, a supervisor-only, no-execute view of all
// guest-physical memory that only this VM kind maps.

// physmapVirt is where the physmap maps guest-physical address 0.
const physmapVirt arch.Addr = 0xffff_c000_0000_0000

// zapOffset is where in a freed table the replay's one-byte store goes.
// KVM drops a shadowed table on a write it finds misaligned for an entry,
// but takes a one-byte write at an entry's first byte for a status-bit
// update (Linux's clear_bit) and keeps the table; the second byte is
// misaligned for every entry size.
const zapOffset = 1

// Mailbox geometry: the run records (16 bytes: address, count) fill the
// first half, the zap records (8 bytes: address) the second. A journal
// larger than one mailbox is replayed in several detours.
const (
	mailboxSize    = 4 * arch.PageSize
	mailboxRuns    = mailboxSize / 2 / 16
	mailboxZaps    = mailboxSize / 2 / 8
	replayDeadline = 2 * time.Second
)

// entryRun is a run of rewritten page-table entries: the guest-physical
// address of the first and how many.
type entryRun struct {
	gpa uint64
	n   uint64
}

// tableJournal collects what the next replay must store: it is the
// pagetable.Journal of a VM that replays, and the tableAllocator's place
// for freed tables.
//
// The addressSpace's mu guards it: pagetable writes it during mm's calls,
// which hold mu, and any vCPU's goroutine replays and forgets it
// (replayTables) with mu held.
type tableJournal struct {
	mf *memfile.MemoryFile
	// base is the host address of the MemoryFile's mapping, where table
	// pages are written.
	base uintptr
	// runs are the entries rewritten since the last replay, adjacent ones
	// joined; freed are the table pages freed since then, still
	// referenced (held back from the MemoryFile until replayed).
	runs  []entryRun
	freed []uint64
	// off is set when the VM turned out not to need replays (its table
	// sync probe saw host writes): freed tables then go back at once.
	off bool
}

var _ pagetable.Journal = (*tableJournal)(nil)

func newTableJournal(mf *memfile.MemoryFile) *tableJournal {
	return &tableJournal{mf: mf, base: uintptr(unsafe.Pointer(&mf.Mapping()[0]))}
}

// Rewritten implements pagetable.Journal.
func (j *tableJournal) Rewritten(first *uint64, n int) {
	gpa := j.mf.GuestPhysical(uint64(uintptr(unsafe.Pointer(first)) - j.base))
	if k := len(j.runs); k > 0 && j.runs[k-1].gpa+8*j.runs[k-1].n == gpa {
		j.runs[k-1].n += uint64(n)
		return
	}
	j.runs = append(j.runs, entryRun{gpa: gpa, n: uint64(n)})
}

// empty reports whether there is nothing to replay.
func (j *tableJournal) empty() bool { return len(j.runs) == 0 && len(j.freed) == 0 }

// releaseFreed returns the held-back table pages to the MemoryFile and
// forgets the journal: called once the replay has run, or when there was
// nothing for it to do (no shadow exists before the vCPU first runs).
func (j *tableJournal) releaseFreed() {
	for _, gpa := range j.freed {
		off, _ := j.mf.FileOffset(gpa)
		j.mf.DecRef(memmap.FileRange{Start: off, End: off + arch.PageSize})
	}
	j.freed = j.freed[:0]
	j.runs = j.runs[:0]
}

// mapPhysmap maps all guest-physical memory at physmapVirt, supervisor-only,
// read/write, no-execute and global, for the replay stub.
func (m *Machine) mapPhysmap() error {
	for _, r := range m.mf.Regions() {
		va := arch.AddrRange{Start: physmapVirt + arch.Addr(r.GuestPhys)}
		va.End = va.Start + arch.Addr(r.Size)
		if _, err := m.pt.Map(va, r.GuestPhys, pagetable.MapOpts{Access: arch.ReadWrite, Global: true}); err != nil {
			return fmt.Errorf("machine: mapping the physmap: %w", err)
		}
	}
	return nil
}

// ReplayStats counts the replays that made narrowing page-table changes
// visible under shadow paging (zero where the processor walks the tables).
type ReplayStats struct {
	// Replays is how many times the vCPU was detoured through the replay
	// stub; Entries and Tables how many entries it stored again and how
	// many freed tables it dropped the shadows of.
	Replays uint64 `json:"replays"`
	Entries uint64 `json:"entries"`
	Tables  uint64 `json:"tables"`
	// Time is the time spent in replays, host work included.
	Time time.Duration `json:"time_ns"`
}

// replayTables makes the journaled page-table stores visible to a
// shadowing KVM before the vCPU runs user code again (see the top of this
// file). The vCPU's state is saved from the sync registers, the vCPU runs
// the replay stub at CPL 0 until it exits on PortReplay (once per mailbox
// load), and the state is put back, past the `out` the vCPU had stopped at
// if it had not been moved since (see outRIP).
//
// Preconditions: the addressSpace's mu is locked; the run structure's
// register copies are valid (the vCPU has exited once, or loadUserContext
// filled them).
func (c *cpu) replayTables() error {
	j := c.m.journal
	if j == nil || j.empty() {
		return nil
	}
	if !c.m.vcpuRan.Load() {
		// KVM shadows nothing before the vCPU first runs.
		j.releaseFreed()
		return nil
	}
	var ev kvm.VCPUEvents
	if err := c.vcpu.GetVCPUEvents(&ev); err != nil {
		return fmt.Errorf("%w: reading the vCPU's events: %w", errReplay, err)
	}
	if ev.Delivering() {
		// KVM injects the event again on the next entry, whatever
		// registers the detour loads: the stub would be entered through
		// the event's gate. The event goes to ring 0's stubs, which run
		// no user code and exit at once; the replay waits for that exit.
		return errEventInDelivery
	}
	start := time.Now()
	sync := c.vcpu.Sync()
	regs, sregs := sync.Regs, sync.Sregs
	if c.outRIP != 0 && regs.RIP == c.outRIP {
		regs.RIP += c.outLength(c.outPort, c.outRIP)
	}
	mb := c.m.mf.Slice(c.m.mailbox)
	mbVirt := uint64(physmapVirt) + c.m.mf.GuestPhysical(c.m.mailbox.Start)
	layout := c.kernel.Layout()
	runs, freed := j.runs, j.freed
	for len(runs) > 0 || len(freed) > 0 {
		nr, nz := min(len(runs), mailboxRuns), min(len(freed), mailboxZaps)
		for i, r := range runs[:nr] {
			put64(mb[16*i:], uint64(physmapVirt)+r.gpa)
			put64(mb[16*i+8:], r.n)
			c.m.replayStats.Entries += r.n
		}
		for i, gpa := range freed[:nz] {
			put64(mb[mailboxSize/2+8*i:], uint64(physmapVirt)+gpa+zapOffset)
		}
		c.m.replayStats.Tables += uint64(nz)
		sync.Regs = kvm.Regs{
			RIP: uint64(layout.ReplayEntry()), RSP: uint64(layout.RSP0), RFLAGS: ring0.RFLAGSReserved,
			RBX: mbVirt, RDX: uint64(nr), R8: mbVirt + mailboxSize/2, R9: uint64(nz),
		}
		sync.Sregs.CS, sync.Sregs.SS = kernelCS, kernelSS
		if err := c.markSregsDirty(kvm.SyncRegsGPR); err != nil {
			return err
		}
		if err := c.runReplayStub(); err != nil {
			return err
		}
		runs, freed = runs[nr:], freed[nz:]
	}
	j.releaseFreed()
	sync.Regs, sync.Sregs = regs, sregs
	c.outRIP = 0
	c.m.replayStats.Replays++
	c.m.replayStats.Time += time.Since(start)
	return c.markSregsDirty(kvm.SyncRegsGPR)
}

// The kernel segments as KVM takes them, converted once.
var (
	kernelCS = segment(ring0.KernelCodeSegment())
	kernelSS = segment(ring0.KernelDataSegment())
)

// errReplay is wrapped by every failure of the replay stub.
var errReplay = errors.New("machine: replaying page-table stores in ring 0 failed")

// errEventInDelivery says the replay did not run because the vCPU is
// delivering an event (see replayTables); the journal is left as it was.
var errEventInDelivery = errors.New("machine: the vCPU is delivering an event")

// runReplayStub runs the vCPU until the replay stub exits.
func (c *cpu) runReplayStub() error {
	ev, err := c.runRing0(replayDeadline)
	switch rip := c.vcpu.Sync().Regs.RIP; {
	case err != nil:
		return fmt.Errorf("%w: %w", errReplay, err)
	case ev.Kind == ring0.EventReplay && rip == uint64(c.kernel.Layout().ReplayExitRIP()):
		return nil
	default:
		return fmt.Errorf("%w: exit on port %#x (%v %v, error code %#x, cr2 %#x) at rip %#x", errReplay, ev.Port, ev.Kind, ev.Vector, ev.ErrorCode, ev.FaultAddr, rip)
	}
}

// runRing0 runs the vCPU through code of the VM's own (a probe, the replay
// stub) to its next exit of ring 0's protocol and decodes it. A signal's
// EINTR re-enters; a watchdog kicks a vCPU that has not exited within
// deadline (PVM's emulator can livelock in KVM_RUN), which is an error.
// The caller's goroutine must be bound to the vCPU's thread.
func (c *cpu) runRing0(deadline time.Duration) (ring0.Event, error) {
	var late atomic.Bool
	watchdog := time.AfterFunc(deadline, func() { late.Store(true); _ = c.vcpu.Kick() })
	defer watchdog.Stop()
	for {
		reason, err := c.vcpu.Run()
		if err != nil {
			return ring0.Event{}, err
		}
		c.loadedCR3 = c.vcpu.Sync().Sregs.CR3
		c.m.vcpuRan.Store(true)
		c.ran = true
		if reason == kvm.ExitIntr && !late.Load() {
			continue
		}
		io, isIO := c.vcpu.IO()
		switch {
		case late.Load():
			return ring0.Event{}, fmt.Errorf("no exit within %v (rip %#x)", deadline, c.vcpu.Sync().Regs.RIP)
		case reason != kvm.ExitIO || !isIO:
			return ring0.Event{}, c.vcpu.UnexpectedExit(reason)
		}
		return c.kernel.Decode(c.exitOf(io.Port))
	}
}

// exitOf is the ring0.Exit of the IO exit on port the vCPU stopped at.
func (c *cpu) exitOf(port uint16) ring0.Exit {
	s := c.vcpu.Sync()
	return ring0.Exit{Port: port, RIP: s.Regs.RIP, RSP: s.Regs.RSP, RCX: s.Regs.RCX, R11: s.Regs.R11,
		RFLAGS: s.Regs.RFLAGS, CR2: s.Sregs.CR2, CPL: kvm.CPL(&s.Sregs)}
}

func put64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

// outLength is the length of the `out` the vCPU stopped at on port: two
// bytes (`out imm8, al`) for ring 0's protocol, whose every exit is one;
// for a user port, whichever form user code used (`out dx, al` is one byte).
func (c *cpu) outLength(port uint16, rip uint64) uint64 {
	if port < ring0.PortUserFirst || port > ring0.PortUserLast {
		return 2
	}
	pt := c.m.pt
	if c.task != nil {
		pt = c.mem().pt
	}
	pa, _, _, ok := pt.Lookup(arch.Addr(rip))
	if !ok {
		return 2
	}
	off, ok := c.m.mf.FileOffset(pa)
	if !ok {
		return 2
	}
	if c.m.mf.Slice(memmap.FileRange{Start: off &^ arch.PageMask, End: off&^arch.PageMask + arch.PageSize})[off&arch.PageMask] == 0xEE {
		return 1
	}
	return 2
}
