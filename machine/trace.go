package machine

import (
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/ring0"
)

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
