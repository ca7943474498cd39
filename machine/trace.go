package machine

import (
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/latency"
	"github.com/mmvm/mmvm/ring0"
)

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

// SetFaultTrace makes later Runs record every page fault's breakdown into
// tr (nil stops it). tr must not be read while Run runs.
func (m *Machine) SetFaultTrace(tr *FaultTrace) { m.trace = tr }

// faultRecorder times the parts of each page fault into a FaultTrace. The
// run loop calls its hooks at each step whether or not a trace is attached:
// every hook of a nil *faultRecorder does nothing, so the loop only
// orchestrates and the timing lives here.
type faultRecorder struct {
	tr *FaultTrace
	// enter and exit bound the last KVM_RUN; decoded, handled and
	// populated end the fault's later parts.
	enter, exit, decoded, handled, populated time.Time
	// pending: exit..populated belong to a fault whose resume is next;
	// logged: that fault is the last record of FaultTrace.Log.
	pending, logged bool
	// exits counts exits; lastFault is the exit count and lastFaultExit
	// the time of the last fault's exit (for FaultTrace.Cycle).
	exits, lastFault uint64
	lastFaultExit    time.Time
}

// newFaultRecorder returns a recorder into tr, or nil when tr is nil.
func newFaultRecorder(tr *FaultTrace) *faultRecorder {
	if tr == nil {
		return nil
	}
	return &faultRecorder{tr: tr}
}

// entering is called before each KVM_RUN at time now: it closes the resume
// part of the fault served last, if any.
func (r *faultRecorder) entering(now time.Time) {
	if r == nil {
		return
	}
	r.enter = now
	if !r.pending {
		return
	}
	r.pending = false
	resume := now.Sub(r.populated)
	r.tr.Resume.Record(resume)
	r.tr.Host.Record(now.Sub(r.exit))
	if r.logged {
		r.tr.Log[len(r.tr.Log)-1].ResumeNs = resume.Nanoseconds()
	}
}

// exited is called when KVM_RUN returns, at time now.
func (r *faultRecorder) exited(now time.Time) {
	if r == nil {
		return
	}
	r.exit = now
	r.exits++
}

// decodedExit is called once ring 0's exit is decoded.
func (r *faultRecorder) decodedExit() {
	if r != nil {
		r.decoded = time.Now()
	}
}

// handledFault is called once mm has resolved the fault.
func (r *faultRecorder) handledFault() {
	if r != nil {
		r.handled = time.Now()
	}
}

// populatedFault is called once the fault's memory is backed: it records
// the fault's parts and, while the log has room, the fault itself.
func (r *faultRecorder) populatedFault(ev *ring0.Event, at arch.AccessType, pages uint64) {
	if r == nil {
		return
	}
	tr := r.tr
	r.populated = time.Now()
	tr.Run.Record(r.exit.Sub(r.enter))
	tr.Decode.Record(r.decoded.Sub(r.exit))
	tr.Handle.Record(r.handled.Sub(r.decoded))
	tr.Populate.Record(r.populated.Sub(r.handled))
	if r.lastFault != 0 && r.lastFault == r.exits-1 {
		tr.Cycle.Record(r.exit.Sub(r.lastFaultExit))
	}
	r.lastFault, r.lastFaultExit = r.exits, r.exit
	r.pending = true
	r.logged = len(tr.Log) < cap(tr.Log)
	if !r.logged {
		tr.Unlogged++
		return
	}
	if len(tr.Log) == 0 {
		tr.origin = r.exit
	}
	tr.Log = append(tr.Log, FaultRecord{
		AtNs: r.exit.Sub(tr.origin).Nanoseconds(), Addr: ev.FaultAddr, Write: at.Write, Exec: at.Execute, Pages: pages,
		KVMRunNs: r.exit.Sub(r.enter).Nanoseconds(), DecodeNs: r.decoded.Sub(r.exit).Nanoseconds(),
		HandleNs: r.handled.Sub(r.decoded).Nanoseconds(), PopulateNs: r.populated.Sub(r.handled).Nanoseconds(),
	})
}
