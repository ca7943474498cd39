package faultbench

import (
	"fmt"
	"slices"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/machine"
)

// Duel is a head-to-head measurement of mmvm against its baseline for one of
// the targets. The two are measured in alternating rounds, each
// round a fresh guest of each, and a ratio is taken per round: a change in
// the machine's load (other processes, the host's own scheduling, QEMU's
// translation caches warming) then hits both sides of a ratio alike instead
// of one whole measurement. The verdict rests on the median round.
type Duel struct {
	Name string `json:"name"`
	// FastPath is the machine's fast path for mmvm's side.
	FastPath machine.FastPath `json:"fast_path"`
	// Rounds is how many rounds ran; PerRound how much work each side did
	// in each (faults, or bytes touched).
	Rounds   int    `json:"rounds"`
	PerRound uint64 `json:"per_round"`
	// Mean is the per-round ratio of mean costs (wall time over the work,
	// everything included); P50 of the median latencies, where the
	// measurement has per-event latencies (single faults).
	Mean Spread  `json:"mean_ratio"`
	P50  *Spread `json:"p50_ratio,omitempty"`
	// OursNs and BaselineNs are the medians over the rounds of each side's
	// mean cost per unit (a fault, or a 4 KiB page).
	OursNs     float64 `json:"ours_ns"`
	BaselineNs float64 `json:"baseline_ns"`
}

// Spread is a ratio's median over the rounds and its range.
type Spread struct {
	Median   float64   `json:"median"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	PerRound []float64 `json:"per_round"`
}

func spreadOf(v []float64) Spread {
	s := Spread{PerRound: v}
	if len(v) == 0 {
		return s
	}
	sorted := slices.Sorted(slices.Values(v))
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	if n := len(sorted); n%2 == 1 {
		s.Median = sorted[n/2]
	} else {
		s.Median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return s
}

func median(v []float64) float64 { return spreadOf(v).Median }

// SingleFaultDuel pits mmvm's single faults (fault-around off) under fp
// against the minimal fault path resumed through the stub, as
// probes/pftest.c does: rounds of faults faults each, alternating. The
// ratio is mmvm's cost over the minimal path's (lower is better).
func SingleFaultDuel(rounds, faults int, fp machine.FastPath) (Duel, error) {
	d := Duel{Name: "single fault / minimal fault path", FastPath: fp, Rounds: rounds, PerRound: uint64(faults)}
	var mean, p50, ours, base []float64
	for round := range rounds {
		minimal, err := MinimalFaultPath(faults, false)
		if err != nil {
			return Duel{}, fmt.Errorf("round %d: %w", round+1, err)
		}
		run, err := SingleFaults("duel", faults, fp)
		if err != nil {
			return Duel{}, fmt.Errorf("round %d: %w", round+1, err)
		}
		mean = append(mean, div(run.NsPerFault, minimal.NsPerOp))
		p50 = append(p50, div(float64(run.Cycle.Latency.P50), float64(minimal.Latency.P50)))
		ours, base = append(ours, run.NsPerFault), append(base, minimal.NsPerOp)
	}
	d.Mean = spreadOf(mean)
	s := spreadOf(p50)
	d.P50 = &s
	d.OursNs, d.BaselineNs = median(ours), median(base)
	return d, nil
}

// FirstTouchDuel pits mmvm's sequential first touch of size bytes with
// 2 MiB fault-around under fp against the machine's limit (a bare guest
// over memfd memory populated in bulk first, population included), in
// rounds of fresh memory each. The ratio is the limit's time per page over
// mmvm's: a speed relative to the limit (higher is better, 1 is the limit).
func FirstTouchDuel(rounds int, size uint64, fp machine.FastPath) (Duel, error) {
	d := Duel{Name: "sequential touch 2M: machine limit / ours (speed)", FastPath: fp, Rounds: rounds, PerRound: size}
	var speed, ours, base []float64
	for round := range rounds {
		limit, err := MachineLimit(size, true)
		if err != nil {
			return Duel{}, fmt.Errorf("round %d: %w", round+1, err)
		}
		t, err := SequentialTouch("duel", size, arch.HugePageSize, fp)
		if err != nil {
			return Duel{}, fmt.Errorf("round %d: %w", round+1, err)
		}
		speed = append(speed, div(limit.NsPerPage, t.NsPerPage))
		ours, base = append(ours, t.NsPerPage), append(base, limit.NsPerPage)
	}
	d.Mean = spreadOf(speed)
	d.OursNs, d.BaselineNs = median(ours), median(base)
	return d, nil
}
