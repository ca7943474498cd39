package machine

import (
	"github.com/mmvm/mmvm/arch"
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

// DefaultFastPath is the FastPath a new Machine uses; `mmvm bench` measures
// each choice against the others (README, Benchmarks):
//   - Populate: the host backs whole fault-around units in one call, which
//     costs less than the guest's first touches taking a host fault a page;
//   - RawRun: entering KVM_RUN through the Go scheduler adds to every exit
//     the guest takes; deadlines still stop a guest that never exits,
//     through the runtime's preemption signal (see kvm.VCPU.SetRawRun;
//     TestMachineDeadline checks it with GOMAXPROCS 1), so with
//     GODEBUG=asyncpreemptoff=1 and one P a guest that never exits cannot
//     be stopped: turn RawRun off there;
//   - DirectResume only where KVM is PVM (kvm.Implementation): there
//     every guest ring-0 instruction is emulated, so skipping the stub's
//     `add rsp, 8; iretq` saves more than the special-register load
//     costs. Under QEMU and on hardware KVM the stub's return is as cheap
//     or cheaper (bench: "single fault, direct resume / via stub").
func DefaultFastPath() FastPath {
	return FastPath{Populate: true, RawRun: true, DirectResume: kvm.Implementation() == "kvm_pvm"}
}

// SetFastPath chooses how later Runs serve faults and system calls; New
// starts with DefaultFastPath.
func (m *Machine) SetFastPath(fp FastPath) { m.fast = fp }

// resumeDirect makes the next entry resume user mode at ctx: RIP, RSP and
// RFLAGS through the synced registers, the user CS and SS and ring 0's TR
// through the synced special registers. The stub's remaining instructions
// never run; its abandoned frame is overwritten by the next exception.
func (c *cpu) resumeDirect(ctx ring0.UserContext) error {
	s := c.vcpu.Sync()
	s.Regs.RIP, s.Regs.RSP, s.Regs.RFLAGS = ctx.RIP, ctx.RSP, ctx.RFLAGS
	s.Sregs.CS, s.Sregs.SS = userCS, userSS
	return c.markSregsDirty(kvm.SyncRegsGPR)
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
