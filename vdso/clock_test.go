package vdso

import (
	"errors"
	"testing"
	"time"
)

// Params.Nanos is base + cycles*mult >> 32, in 128 bits, rounded down to
// the resolution; a TSC below the base reads as the base.
func TestParamsNanos(t *testing.T) {
	const ghz2 = uint64(1e6<<MultShift) / 2_000_000 // 0.5 ns a cycle
	p := Params{TSCBase: 1000}
	p.Clocks[ClockMonotonic] = Clock{Base: 7, Mult: ghz2, Res: 1}
	p.Clocks[ClockMonotonicCoarse] = Clock{Base: 7, Mult: ghz2, Res: 4_000_000}
	p.Clocks[ClockRealtime] = Clock{Base: 1_700_000_000e9, Mult: 1 << MultShift}
	for _, tc := range []struct {
		id   int
		tsc  uint64
		want uint64
		ok   bool
	}{
		{ClockMonotonic, 1000, 7, true},
		{ClockMonotonic, 3000, 1007, true},
		{ClockMonotonic, 999, 7, true},
		{ClockMonotonic, 1000 + 2e9, 1e9 + 7, true},
		{ClockMonotonicCoarse, 1000 + 2e9 + 9e6, 1e9 + 4e6, true},
		{ClockMonotonicCoarse, 1000 + 7e6, 0, true},
		// Centuries of cycles at 1 ns: the 128-bit product does not wrap.
		{ClockRealtime, 1000 + 1<<62, 1_700_000_000e9 + 1<<62, true},
		{ClockProcessCPUTime, 5000, 0, false},
		{NumClocks, 5000, 0, false},
		{-1, 5000, 0, false},
	} {
		got, ok := p.Nanos(tc.id, tc.tsc)
		if got != tc.want || ok != tc.ok {
			t.Errorf("clock %d at TSC %d: %d %v, want %d %v", tc.id, tc.tsc, got, ok, tc.want, tc.ok)
		}
	}
}

// WriteVVar leaves the sequence even and two higher, and what it wrote
// reads back.
func TestWriteVVar(t *testing.T) {
	page := make([]uint64, VVarDataSize/8)
	b := unsafeBytes(page)
	var p Params
	p.TSCBase = 12345
	for i := range p.Clocks {
		p.Clocks[i] = Clock{Base: uint64(i) * 3, Mult: uint64(i) * 5, Res: uint64(i) * 7}
	}
	WriteVVar(b, &p)
	WriteVVar(b, &p)
	if seq := page[0] & 0xffff_ffff; seq != 4 {
		t.Errorf("sequence %d after two writes, want 4", seq)
	}
	if got := ReadVVar(b); got != p {
		t.Errorf("read back %+v, want %+v", got, p)
	}
}

// A GuestClock starts at the host's time, runs at the TSC's rate, never
// goes back when a TSC read fails, and leaves the CPU-time clocks to the
// system call.
func TestGuestClock(t *testing.T) {
	tsc, fail := uint64(5000), false
	start := time.Unix(1_700_000_000, 0)
	g, err := NewGuestClock(GuestClockConfig{
		TSCKHz: 1_000_000, // 1 GHz: a cycle a nanosecond
		ReadTSC: func() (uint64, error) {
			if fail {
				return 0, errors.New("no TSC")
			}
			return tsc, nil
		},
		Now: start, Monotonic: time.Second,
		Resolution: func(id int) time.Duration {
			if id == ClockRealtimeCoarse || id == ClockMonotonicCoarse {
				return 4 * time.Millisecond
			}
			return 1
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tsc += 2_500_000_000
	if got := g.Monotonic(); got != 3500*time.Millisecond {
		t.Errorf("Monotonic %v, want 3.5s", got)
	}
	if got := g.Now(); !got.Equal(start.Add(2500 * time.Millisecond)) {
		t.Errorf("Now %v", got)
	}
	tsc += 3_000_000
	if ns, _ := g.Nanos(ClockMonotonicCoarse); ns != int64(3500*time.Millisecond) {
		t.Errorf("coarse %d, want the 4 ms tick at 3.5s", ns)
	}
	if ns, _ := g.Nanos(ClockMonotonicRaw); ns != int64(3503*time.Millisecond) {
		t.Errorf("raw %d", ns)
	}
	fail = true
	if got := g.Monotonic(); got != 3503*time.Millisecond {
		t.Errorf("after a failed TSC read: %v, want the last value", got)
	}
	for _, id := range []int{ClockProcessCPUTime, 3, 8, 9, 10, 11, 12, -1} {
		if _, ok := g.Nanos(id); ok {
			t.Errorf("clock %d served", id)
		}
	}
	if _, err := NewGuestClock(GuestClockConfig{TSCKHz: 0, ReadTSC: func() (uint64, error) { return 0, nil }}); err == nil {
		t.Error("a clock without a TSC frequency started")
	}
}

// Refresh keeps the guest's monotonic clock within microseconds of the
// host's when the TSC runs 100 ppm faster than KVM reports, never moves a
// clock back when it re-anchors, leaves MONOTONIC_RAW at the TSC's rate,
// and slews no faster than maxRateAdjust.
func TestGuestClockRefresh(t *testing.T) {
	var host time.Duration
	tscAt := func(h time.Duration) uint64 { return 5000 + uint64(float64(h)*1.0001) } // 1.0001 GHz
	g, err := NewGuestClock(GuestClockConfig{
		TSCKHz:        1_000_000,
		ReadTSC:       func() (uint64, error) { return tscAt(host), nil },
		Now:           time.Unix(1_700_000_000, 0),
		Monotonic:     time.Second,
		HostMonotonic: func() time.Duration { return host },
	})
	if err != nil {
		t.Fatal(err)
	}
	mult := g.Params().Clocks[ClockMonotonicRaw].Mult
	if g.Refresh() {
		t.Error("refreshed before a period passed")
	}
	for step := range 600 {
		host += 250 * time.Millisecond
		before := map[int]int64{}
		for _, id := range []int{ClockRealtime, ClockMonotonic, ClockMonotonicRaw, ClockMonotonicCoarse, ClockBoottime} {
			before[id], _ = g.Nanos(id)
		}
		refreshed := g.Refresh()
		if refreshed != (step%4 == 3) {
			t.Fatalf("step %d: refreshed %v", step, refreshed)
		}
		for id, b := range before {
			if a, _ := g.Nanos(id); a != b {
				t.Fatalf("step %d: clock %d moved from %d to %d when re-anchored", step, id, b, a)
			}
		}
		p := g.Params()
		if p.Clocks[ClockMonotonicRaw].Mult != mult {
			t.Fatalf("MONOTONIC_RAW's rate changed to %d", p.Clocks[ClockMonotonicRaw].Mult)
		}
		if m := float64(p.Clocks[ClockMonotonic].Mult); m < float64(mult)*(1-maxRateAdjust)-1 || m > float64(mult)*(1+maxRateAdjust)+1 {
			t.Fatalf("rate %v, TSC's %d: slewed past %v", m, mult, maxRateAdjust)
		}
	}
	// 150 s of host time: unsteered, the guest would be 15 ms ahead.
	drift := g.Monotonic() - (host + time.Second)
	raw, _ := g.Nanos(ClockMonotonicRaw)
	t.Logf("after %v: MONOTONIC %v from the host's, MONOTONIC_RAW %v", host, drift, time.Duration(raw)-(host+time.Second))
	if drift < -200*time.Microsecond || drift > 200*time.Microsecond {
		t.Errorf("guest's MONOTONIC is %v from the host's", drift)
	}
}
