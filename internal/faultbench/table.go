package faultbench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mmvm/mmvm/machine"
)

func ns(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

func dur(d time.Duration) string { return ns(float64(d.Nanoseconds())) }

// touchPath names a first touch's fast path as machine.FastPath does.
func touchPath(t Touch) string {
	return machine.FastPath{DirectResume: t.DirectResume, Populate: t.Populate}.String()
}

func joinRatios(v []float64) string {
	p := make([]string, len(v))
	for i, x := range v {
		p[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(p, " ")
}

// WriteTable writes the report as plain-text tables.
func (r *Report) WriteTable(w io.Writer) {
	thp := r.HostHugePages
	if thp == "" {
		thp = "unknown"
	}
	fmt.Fprintf(w, "mmvm bench: %s; kernel %s (shmem huge pages: %s), %s, %d CPUs; %d MiB touched, %d single faults; %.0f s\n\n",
		r.Machine, r.Kernel, thp, r.GoVersion, r.CPUs, r.SizeBytes>>20, r.FaultCount, r.DurationS)
	if r.KVM != "" {
		fmt.Fprintf(w, "KVM: %s\n\n", r.KVM)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "round trip\tmean\tp50\tp90\tp99\tmax\t")
	row := func(name string, m Measure) {
		l := m.Latency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", name, ns(m.NsPerOp), dur(l.P50), dur(l.P90), dur(l.P99), dur(l.Max))
	}
	row("floor: raw user exit (bare guest)", r.Floor.UserExit)
	row("floor: ring-0 exit via stub (bare)", r.Floor.Ring0ExitStub)
	row("floor: ring-0 exit, direct resume (bare)", r.Floor.Ring0ExitDirect)
	row("user exit through Machine.Run", r.Floor.MachineUserExit)
	row("machine getpid via stub", r.Floor.MachineSyscallStub)
	row("machine getpid, direct resume", r.Floor.MachineSyscallDirect)
	row("minimal fault path via stub (pftest in Go)", r.Minimal.Stub)
	row("minimal fault path, direct resume", r.Minimal.Direct)
	for _, s := range r.Single {
		row("mmvm single fault: "+s.Name, s.Cycle)
	}
	if u := r.Host.Userfaultfd; u != nil {
		row("host userfaultfd round trip", *u)
	}
	tw.Flush()
	if r.Host.UserfaultfdNote != "" {
		fmt.Fprintf(w, "userfaultfd: %s\n", r.Host.UserfaultfdNote)
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "single-fault breakdown (mean)\tKVM_RUN\tdecode\tHandleUserFault\tpopulate\tresume\thost total\tallocs/fault\t")
	for _, s := range r.Single {
		b := s.Breakdown
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t\n", s.Name, ns(b.KVMRun.NsPerOp), ns(b.Decode.NsPerOp), ns(b.Handle.NsPerOp),
			ns(b.Populate.NsPerOp), ns(b.Resume.NsPerOp), ns(b.Host.NsPerOp), s.AllocsPerFault)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "first touch\tfast path\tns/page\tfaults\tfaults/GiB\t4K leaves\t2M leaves\t")
	touch := func(t Touch, fp string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%d\t%d\t\n", t.Name, fp, ns(t.NsPerPage), t.Faults, t.FaultsPerGiB, t.Leaves4K, t.Leaves2M)
	}
	for _, t := range r.Sequential {
		touch(t, touchPath(t))
	}
	touch(r.Random, touchPath(r.Random))
	fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\n", "native", "host", ns(r.Host.Native.NsPerPage))
	fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\n", "native THP", "host", ns(r.Host.NativeTHP.NsPerPage))
	l := r.Host.Limit
	fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\n", "machine limit", fmt.Sprintf("populate %s + touch %s", ns(l.PopulateNs), ns(l.GuestNs)), ns(l.NsPerPage))
	fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\n", "limit, unpopulated", "bare guest", ns(r.Host.LimitUnpopulated.NsPerPage))
	tw.Flush()
	c := r.Cycles
	fmt.Fprintf(w, "mmap/touch/munmap: %d cycles of %d MiB: %s per cycle, %s per page, %d faults, %d syscalls\n",
		c.Cycles, c.Bytes>>20, ns(c.NsPerCycle), ns(c.NsPerPage), c.Faults, c.Syscalls)

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "duel (alternating rounds)\tfast path\tours\tbaseline\tratio per round\tmedian\t")
	for _, d := range r.Duels {
		unit := "page"
		if d.P50 != nil {
			unit = "fault"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s/%s\t%s\t%.2f\t\n", d.Name, d.FastPath.String(), ns(d.OursNs), unit, ns(d.BaselineNs), unit,
			joinRatios(d.Mean.PerRound), d.Mean.Median)
		if d.P50 != nil {
			fmt.Fprintf(tw, "%s\t\t\t\t%s\t%.2f\t\n", "  same, p50 latencies", joinRatios(d.P50.PerRound), d.P50.Median)
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ratio\tvalue\ttarget\t\t")
	for _, q := range r.Ratios {
		verdict := ""
		if q.Pass != nil {
			verdict = "MISSED"
			if *q.Pass {
				verdict = "met"
			}
		}
		note := q.Note
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\n", q.Name, q.Value, q.Target, verdict, note)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
