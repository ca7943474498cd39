package machine

import (
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/internal/latency"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/ring0"
)

// FastPath chooses how the run loop serves user page faults (and system
// calls). Each choice is a trade that depends on the machine: mmvm bench
// measures each against the others in one run, and callers pick per machine
// with SetFastPath. The zero value is the plain path: resume through the
// ring-0 stub, let the guest's first touches fault host pages one at a time,
// enter KVM_RUN through the Go scheduler.
type FastPath struct {
	// DirectResume loads the interrupted user context (RIP, RSP, RFLAGS,
	// user CS and SS, and TR, see markSregsDirty) into the vCPU through
	// KVM_CAP_SYNC_REGS after a page fault or system call, so that no
	// ring-0 instruction runs after the exiting `out` (ring0's
	// Event.DirectResumes). It costs KVM a special-register load on entry
	// instead: cheaper where ring 0 is emulated (the device's nested PVM),
	// dearer where KVM's sregs path is slow (QEMU's TCG).
	DirectResume bool `json:"direct_resume"`
	// Populate backs every page a fault maps with host memory in one
	// MADV_POPULATE_WRITE (memfile.Populate) before the guest resumes,
	// instead of letting the guest's first touch of each 4 KiB page take a
	// host fault inside KVM. With a fault-around unit below 2 MiB the
	// whole 2 MiB MemoryFile chunk is backed at the first fault into it
	// (memfile.PopulateChunks), so that single-page faults populate in
	// bulk too.
	Populate bool `json:"populate"`
	// RawRun enters KVM_RUN with RawSyscall (kvm.VCPU.SetRawRun) while
	// the guest exits often: after a KVM_RUN that lasted a millisecond or
	// more, the next enters through the scheduler (see rawRunWithin).
	RawRun bool `json:"raw_run"`
}

// String names the choices: "stub", "direct+populate+raw".
func (fp FastPath) String() string {
	name := "stub"
	if fp.DirectResume {
		name = "direct"
	}
	if fp.Populate {
		name += "+populate"
	}
	if fp.RawRun {
		name += "+raw"
	}
	return name
}

// FaultTraceSummary is a FaultTrace's histograms summarized (see
// FaultTrace for what each part is).
type FaultTraceSummary struct {
	Run      latency.Summary `json:"kvm_run"`
	Decode   latency.Summary `json:"decode"`
	Handle   latency.Summary `json:"handle_user_fault"`
	Populate latency.Summary `json:"populate"`
	Resume   latency.Summary `json:"resume"`
	Host     latency.Summary `json:"host"`
	Cycle    latency.Summary `json:"cycle"`
}

// Summary summarizes every part of the trace.
func (tr *FaultTrace) Summary() FaultTraceSummary {
	return FaultTraceSummary{Run: tr.Run.Summary(), Decode: tr.Decode.Summary(), Handle: tr.Handle.Summary(),
		Populate: tr.Populate.Summary(), Resume: tr.Resume.Summary(), Host: tr.Host.Summary(), Cycle: tr.Cycle.Summary()}
}

// DefaultFastPath is the FastPath a new Machine uses, each choice from
// what `mmvm bench` measured (README, Benchmarks):
//   - Populate: the host populates whole fault-around units, 3x cheaper
//     than per-page host faults on the device machine and 0.7x the time of
//     2 MiB first touch without it under QEMU;
//   - RawRun: under QEMU, entering KVM_RUN through the Go scheduler costs
//     a single fault 1.5-4x as much; deadlines still stop a guest that
//     never exits, through the runtime's preemption signal (see
//     kvm.VCPU.SetRawRun; TestMachineDeadline checks it with GOMAXPROCS 1),
//     so with GODEBUG=asyncpreemptoff=1 and one P a guest that never exits
//     cannot be stopped: turn RawRun off there;
//   - DirectResume only where KVM is PVM (kvm.Implementation): there
//     every guest ring-0 instruction is emulated at about 2 µs, so skipping
//     the stub's `add rsp, 8; iretq` saves more than the special-register
//     load costs. Under QEMU and on hardware KVM the stub's return is as
//     cheap or cheaper (bench: "single fault, direct resume / via stub").
func DefaultFastPath() FastPath {
	return FastPath{Populate: true, RawRun: true, DirectResume: kvm.Implementation() == "kvm_pvm"}
}

// FaultTrace receives a breakdown of every user page fault a Run serves
// (see SetFaultTrace). Timestamps are monotonic clock reads; recording
// allocates nothing.
type FaultTrace struct {
	// Run is the KVM_RUN that ended in the fault's exit: re-entering
	// the guest, the guest running up to the fault, the exception's
	// delivery to the ring-0 stub and the stub's `out` exiting to the host.
	Run latency.Histogram
	// Decode is ring0's decoding of the exit (port, frame, CR2).
	Decode latency.Histogram
	// Handle is mm.HandleUserFault: the vma lookup, allocation of the
	// fault-around unit, pmas and the page-table install.
	Handle latency.Histogram
	// Populate is the host populating the unit (FastPath.Populate).
	Populate latency.Histogram
	// Resume is the rest of the host's work before the next KVM_RUN:
	// the direct resume's register writes, TLB flush bookkeeping.
	Resume latency.Histogram
	// Host is the whole host side: from KVM_RUN's return to the next
	// KVM_RUN (Decode + Handle + Populate + Resume and the loop itself).
	Host latency.Histogram
	// Cycle is from one fault's exit to the next fault's exit when no
	// other exit came between: a whole fault as the guest pays for it
	// (host work, re-entry, the guest's run to its next fault, delivery
	// and exit).
	Cycle latency.Histogram

	// Log, if it has capacity, receives one FaultRecord per fault served
	// until it is full (the caller allocates it: recording allocates
	// nothing); Unlogged counts the faults after that.
	Log      []FaultRecord
	Unlogged uint64
	// origin is the first logged fault's exit, which FaultRecord.AtNs
	// counts from.
	origin time.Time
}

// FaultRecord is one page fault as FaultTrace.Log keeps it: where, what
// access, how many pages it mapped, and how long each part took (see
// FaultTrace for the parts).
type FaultRecord struct {
	// AtNs is the fault's exit, in nanoseconds after the first logged
	// fault's.
	AtNs int64  `json:"at_ns"`
	Addr uint64 `json:"addr"`
	// Write and Exec say what the access was (neither: a read).
	Write bool `json:"write,omitempty"`
	Exec  bool `json:"exec,omitempty"`
	// Pages is how many 4 KiB pages the fault mapped (its fault-around).
	Pages      uint64 `json:"pages"`
	KVMRunNs   int64  `json:"kvm_run_ns"`
	DecodeNs   int64  `json:"decode_ns"`
	HandleNs   int64  `json:"handle_ns"`
	PopulateNs int64  `json:"populate_ns"`
	// ResumeNs is 0 for a fault after which the guest never ran again.
	ResumeNs int64 `json:"resume_ns"`
}

// SetFastPath chooses how later Runs serve faults and system calls; New
// starts with DefaultFastPath.
func (m *Machine) SetFastPath(fp FastPath) { m.fast = fp }

// SetFaultTrace makes later Runs record every page fault's breakdown into
// tr (nil stops it). tr must not be read while Run runs.
func (m *Machine) SetFaultTrace(tr *FaultTrace) { m.trace = tr }

// resumeDirect makes the next entry resume user mode at ctx: RIP, RSP and
// RFLAGS through the synced registers, the user CS and SS and ring 0's TR
// through the synced special registers. The stub's remaining instructions
// never run; its abandoned frame is overwritten by the next exception.
func (m *Machine) resumeDirect(ctx ring0.UserContext) error {
	s := m.vcpu.Sync()
	s.Regs.RIP, s.Regs.RSP, s.Regs.RFLAGS = ctx.RIP, ctx.RSP, ctx.RFLAGS
	s.Sregs.CS, s.Sregs.SS = userCS, userSS
	return m.markSregsDirty(kvm.SyncRegsGPR)
}

// The user segments as KVM takes them, converted once.
var (
	userCS = segment(ring0.UserCodeSegment())
	userSS = segment(ring0.UserDataSegment())
)

// faultAroundUnit is the unit mm maps private anonymous faults in.
func (m *Machine) faultAroundUnit() uint64 {
	if m.cfg.FaultAround == 0 {
		return arch.HugePageSize
	}
	return m.cfg.FaultAround
}

// populateMapped backs with host memory what the fault just served mapped,
// as addressSpace.MapFile recorded it: each physically contiguous run in
// one call. A unit smaller than 2 MiB backs the whole MemoryFile chunks its
// runs lie in instead, once per chunk (memfile.PopulateChunks): the next
// faults into the chunk then find their memory backed, and a single-page
// fault costs no host fault in the guest nor a call of its own. A failure is
// ignored: populating only saves the guest's own host faults, which then
// happen as without it and fail (if the host is out of memory) the way they
// would have.
func (m *Machine) populateMapped(mapped []memmap.FileRange) {
	populate := m.mf.Populate
	if m.faultAroundUnit() < arch.HugePageSize {
		populate = m.mf.PopulateChunks
	}
	for _, fr := range mapped {
		_ = populate(fr)
	}
}

// LeafCounts walks the user page tables over ar and counts the present
// leaves by size: 4 KiB, 2 MiB and 1 GiB entries (for statistics and the
// benchmarks' check that 2 MiB fault-around installs 2 MiB leaves).
func (m *Machine) LeafCounts(ar arch.AddrRange) (small, huge, giant uint64) {
	for va := ar.Start; va < ar.End; {
		_, size, _, ok := m.pt.Lookup(va)
		if !ok {
			va += arch.PageSize
			continue
		}
		switch size {
		case arch.PageSize:
			small++
		case arch.HugePageSize:
			huge++
		default:
			giant++
		}
		next := va.AlignDown(size) + arch.Addr(size)
		if next <= va {
			break
		}
		va = next
	}
	return small, huge, giant
}
