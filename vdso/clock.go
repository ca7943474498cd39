package vdso

import (
	"fmt"
	"time"
)

// Clock ids (<linux/time.h>) the vvar page serves.
const (
	ClockRealtime        = 0
	ClockMonotonic       = 1
	ClockProcessCPUTime  = 2
	ClockMonotonicRaw    = 4
	ClockRealtimeCoarse  = 5
	ClockMonotonicCoarse = 6
	ClockBoottime        = 7
)

// GuestClock is the guest's time: each clock the vvar page serves is a
// linear function of the guest TSC (Params), and the host's answers to
// the clock system calls are the same function of the TSC read from the
// vCPU at the call. The clocks start from the host's time when the clock
// is made and run at the TSC's rate as KVM reports it: REALTIME from the
// host's wall clock, MONOTONIC (and BOOTTIME and MONOTONIC_RAW, the guest
// never sleeping) from the monotonic origin the caller chooses, the
// _COARSE clocks as the same, rounded down to their resolution. The
// products are 128-bit, so no base overflows however long the guest runs
// without a refresh. REALTIME does not follow steps of the host's wall
// clock after the start.
//
// Refresh keeps the guest's clocks on the host's: at most once per
// refreshPeriod of host time it re-anchors every clock at the TSC now (each
// clock keeps its value there, so none jumps) and sets the rate of all but
// MONOTONIC_RAW so as to make up the difference between the guest's
// monotonic clock and the host's over the next period, within
// maxRateAdjust of the TSC's rate, as NTP slews Linux's clocks. A constant
// error in the reported TSC frequency then leaves the guest that error
// times refreshPeriod from the host (microseconds), not growing with the
// run. MONOTONIC_RAW keeps the TSC's rate, as Linux's is never slewed.
//
// A GuestClock is not safe for concurrent use: the machine serializes the
// reads and refreshes of its threads.
type GuestClock struct {
	params Params
	// mult is the TSC's rate as KVM reports it (Clock.Mult units).
	mult uint64
	// readTSC reads the guest TSC; last is the highest value it returned,
	// which stands in for it should a read fail.
	readTSC func() (uint64, error)
	last    uint64
	// hostMonotonic reads the host's monotonic clock (nil: no Refresh);
	// hostOffset is the guest's monotonic clock less the host's at the
	// start; nextRefresh is the host time Refresh next re-anchors at.
	hostMonotonic func() time.Duration
	hostOffset    time.Duration
	nextRefresh   time.Duration
}

const (
	// refreshPeriod is how often, in host time, Refresh re-anchors.
	refreshPeriod = time.Second
	// maxRateAdjust bounds how far Refresh moves the clocks' rate from
	// the TSC's (Linux's NTP slews by at most 500 ppm).
	maxRateAdjust = 500e-6
)

// GuestClockConfig is what NewGuestClock needs.
type GuestClockConfig struct {
	// TSCKHz is the guest TSC's frequency (KVM_GET_TSC_KHZ).
	TSCKHz uint64
	// ReadTSC reads the guest's TSC now.
	ReadTSC func() (uint64, error)
	// Now is the wall-clock time and Monotonic the monotonic clock's value
	// at the moment the clock starts.
	Now       time.Time
	Monotonic time.Duration
	// Resolution returns clock id's resolution (the host's clock_getres),
	// which the vDSO's clock_getres reports and the clock is rounded to.
	Resolution func(id int) time.Duration
	// HostMonotonic reads the host's monotonic clock, which Refresh keeps
	// the guest's on; nil turns Refresh off.
	HostMonotonic func() time.Duration
}

// NewGuestClock starts the guest's clocks at the guest TSC now.
func NewGuestClock(cfg GuestClockConfig) (*GuestClock, error) {
	if cfg.TSCKHz == 0 || cfg.TSCKHz > 1<<32 {
		return nil, fmt.Errorf("vdso: TSC frequency %d kHz", cfg.TSCKHz)
	}
	tsc, err := cfg.ReadTSC()
	if err != nil {
		return nil, fmt.Errorf("vdso: reading the guest TSC: %w", err)
	}
	// ns per cycle = 1e6 / kHz, in 32.32 fixed point.
	mult := uint64(1e6<<MultShift) / cfg.TSCKHz
	g := &GuestClock{readTSC: cfg.ReadTSC, last: tsc, mult: mult, hostMonotonic: cfg.HostMonotonic}
	if g.hostMonotonic != nil {
		h := g.hostMonotonic()
		g.hostOffset = cfg.Monotonic - h
		g.nextRefresh = h + refreshPeriod
	}
	g.params.TSCBase = tsc
	real, mono := uint64(cfg.Now.UnixNano()), uint64(cfg.Monotonic)
	for id, base := range map[int]uint64{
		ClockRealtime: real, ClockRealtimeCoarse: real,
		ClockMonotonic: mono, ClockMonotonicRaw: mono, ClockMonotonicCoarse: mono, ClockBoottime: mono,
	} {
		res := uint64(1)
		if cfg.Resolution != nil {
			res = max(uint64(cfg.Resolution(id)), 1)
		}
		g.params.Clocks[id] = Clock{Base: base, Mult: mult, Res: res}
	}
	return g, nil
}

// Refresh re-anchors the clocks and steers their rate toward the host's
// (see GuestClock) when refreshPeriod has passed since it last did, and
// reports whether it changed the parameters, which the caller then
// publishes (WriteVVar). The vCPU whose thread calls it is between two
// entries, so the TSC it anchors at precedes every read that thread makes
// with the new parameters; a thread on another vCPU that reads the vvar
// page meanwhile retries on the sequence count, and a TSC it read before
// the anchor reads as the anchor (the vDSO's clamp), so no clock goes back.
func (g *GuestClock) Refresh() bool {
	if g.hostMonotonic == nil {
		return false
	}
	h := g.hostMonotonic()
	if h < g.nextRefresh {
		return false
	}
	g.nextRefresh = h + refreshPeriod
	// Anchoring at a stale TSC (a failed read) could let the new rate
	// take a later reading below one the guest already made.
	t, err := g.readTSC()
	if err != nil || t < g.last {
		return false
	}
	g.last = t
	ahead := float64(int64(g.params.unrounded(ClockMonotonic, t)) - int64(h+g.hostOffset))
	adjust := min(max(1-ahead/float64(refreshPeriod), 1-maxRateAdjust), 1+maxRateAdjust)
	steered := uint64(float64(g.mult) * adjust)
	for id := range g.params.Clocks {
		c := &g.params.Clocks[id]
		if c.Mult == 0 {
			continue
		}
		c.Base = g.params.unrounded(id, t)
		c.Mult = steered
		if id == ClockMonotonicRaw {
			c.Mult = g.mult
		}
	}
	g.params.TSCBase = t
	return true
}

// Params returns the parameters to publish in the vvar page (WriteVVar).
func (g *GuestClock) Params() *Params { return &g.params }

// tsc reads the guest TSC, never going back.
func (g *GuestClock) tsc() uint64 {
	if t, err := g.readTSC(); err == nil && t > g.last {
		g.last = t
	}
	return g.last
}

// Nanos returns clock id now, as the vDSO would read it, and false for a
// clock the vDSO does not serve.
func (g *GuestClock) Nanos(id int) (int64, bool) {
	if id < 0 || id >= NumClocks || g.params.Clocks[id].Mult == 0 {
		return 0, false
	}
	ns, ok := g.params.Nanos(id, g.tsc())
	return int64(ns), ok
}

// Now returns CLOCK_REALTIME now.
func (g *GuestClock) Now() time.Time {
	ns, _ := g.Nanos(ClockRealtime)
	return time.Unix(0, ns)
}

// Monotonic returns CLOCK_MONOTONIC now.
func (g *GuestClock) Monotonic() time.Duration {
	ns, _ := g.Nanos(ClockMonotonic)
	return time.Duration(ns)
}
