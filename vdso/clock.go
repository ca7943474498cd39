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
// never sleeping and nothing slewing its clock) from the monotonic origin
// the caller chooses, the _COARSE clocks as the same, rounded down to
// their resolution. With 128-bit products the function is exact for
// centuries of TSC cycles, so the base never needs renewing; the guest's
// clock drifts from the host's only by the error of the TSC frequency KVM
// reports.
//
// A GuestClock is used by the goroutine that runs the vCPU.
type GuestClock struct {
	params Params
	// readTSC reads the guest TSC; last is the highest value it returned,
	// which stands in for it should a read fail.
	readTSC func() (uint64, error)
	last    uint64
}

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
	g := &GuestClock{readTSC: cfg.ReadTSC, last: tsc}
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
