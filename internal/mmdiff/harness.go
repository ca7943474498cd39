package mmdiff

import (
	"errors"
	"fmt"
	"time"
)

// Config describes one differential run.
type Config struct {
	// NewSystem returns a fresh system under test with an empty window;
	// it is called again for every replay while shrinking. A system that
	// is an io.Closer is closed after use.
	NewSystem func() (System, error)
	Options   Options
	Seed      uint64
	Ops       int
	// ShrinkTime bounds the time spent shrinking a divergence (0: 60 s).
	ShrinkTime time.Duration
	// Accept, if set, limits the generated operations to those it accepts
	// (for systems that implement only part of the calls).
	Accept func(Op) bool
}

// Result is the outcome of a run.
type Result struct {
	Ops        int         // operations run on both sides
	Divergence *Divergence // the first one, or nil
	// Reproducer is the shrunk sequence that still diverges, with the
	// divergence it shows.
	Reproducer      []Op
	ReproDivergence *Divergence
}

// Report formats r for a test log.
func (r Result) Report() string {
	if r.Divergence == nil {
		return fmt.Sprintf("%d operations, 0 divergences", r.Ops)
	}
	s := fmt.Sprintf("%d operations, divergence at %v\n", r.Ops, r.Divergence)
	if r.Reproducer != nil {
		s += fmt.Sprintf("minimal reproducer (%d ops), diverging at %v:\n[]mmdiff.Op{\n%s}\n", len(r.Reproducer), r.ReproDivergence, Listing(r.Reproducer))
	}
	return s
}

// Run generates cfg.Ops operations from cfg.Seed, runs them on the host
// and the system, and shrinks the first divergence.
func Run(h *Host, cfg Config) (Result, error) {
	return RunSource(h, cfg, NewRandSource(cfg.Seed), cfg.Ops)
}

// RunSource is Run with the generator's choices taken from src (for
// fuzzing: a ByteSource ends the run when it is exhausted).
func RunSource(h *Host, cfg Config, src Source, maxOps int) (Result, error) {
	var res Result
	sys, err := cfg.NewSystem()
	if err != nil {
		return res, err
	}
	defer closeSystem(sys)
	r, err := NewRunner(h, sys, cfg.Options)
	if err != nil {
		return res, err
	}
	gen := NewGen(src)
	gen.Lacking = h.Lacking()
	bs, _ := src.(*ByteSource)
	var ops []Op
	for i := 0; i < maxOps && (bs == nil || !bs.Exhausted()); i++ {
		locked := h.VmLck()
		op := gen.Next(r.Layout(), locked)
		for try := 0; cfg.Accept != nil && !cfg.Accept(op) && try < 1000; try++ {
			op = gen.Next(r.Layout(), locked)
		}
		if cfg.Accept != nil && !cfg.Accept(op) {
			continue
		}
		ops = append(ops, op)
		d, err := r.Step(i, op)
		res.Ops++
		if err != nil {
			return res, err
		}
		if d != nil {
			res.Divergence = d
			break
		}
	}
	if res.Divergence == nil {
		if res.Divergence, err = r.Finish(len(ops)); err != nil {
			return res, err
		}
	}
	if res.Divergence != nil {
		closeSystem(sys)
		res.Reproducer, res.ReproDivergence, err = Shrink(h, cfg, ops[:min(res.Divergence.Index+1, len(ops))])
	}
	return res, err
}

// Replay runs ops from an empty window on the host and a fresh system,
// sweeping all contents at the end, and returns the first divergence. An
// op that needs a feature the host lacks ends it with an error wrapping
// ErrHostLacks.
func Replay(h *Host, cfg Config, ops []Op) (*Divergence, error) {
	return replay(h, cfg, ops, len(ops) > fastReplay)
}

func replay(h *Host, cfg Config, ops []Op, fast bool) (*Divergence, error) {
	sys, err := cfg.NewSystem()
	if err != nil {
		return nil, err
	}
	defer closeSystem(sys)
	// Short replays check locking after every call; all sample contents
	// as a run does: the final sweep compares every page, and shrinking
	// keeps the sequence ending at the divergence.
	opts := cfg.Options
	if len(ops) <= fastReplay {
		opts.LockEvery = 1
	}
	r, err := NewRunner(h, sys, opts)
	if err != nil {
		return nil, err
	}
	// A long sequence may be replayed comparing results only, and
	// everything once at its end: a divergence in the layout or contents
	// usually outlives its cause. (Not always: the pages a full
	// comparison reads are faulted in on the system, and a bug may need
	// them; Shrink then replays in full.)
	r.fast = fast
	for i, op := range ops {
		if d, err := r.Step(i, op); d != nil || err != nil {
			return d, err
		}
	}
	return r.Finish(len(ops))
}

// fastReplay is the length above which Replay compares only results
// until the end.
const fastReplay = 200

// Shrink delta-debugs ops (ddmin over complements of chunks) to a short
// sequence that still diverges, within cfg.ShrinkTime.
func Shrink(h *Host, cfg Config, ops []Op) ([]Op, *Divergence, error) {
	limit := cfg.ShrinkTime
	if limit == 0 {
		limit = 60 * time.Second
	}
	deadline := time.Now().Add(limit)
	var herr error
	fast := true
	fails := func(cand []Op) *Divergence {
		if herr != nil {
			return nil
		}
		d, err := replay(h, cfg, cand, fast && len(cand) > fastReplay)
		if errors.Is(err, ErrHostLacks) {
			// Removing ops changed the layout so that an op now needs
			// a feature the host lacks: not a reproducer here.
			return nil
		}
		if err != nil {
			herr = err
		}
		return d
	}
	last := fails(ops)
	if last == nil {
		fast = false
		if last = fails(ops); last == nil {
			return nil, nil, herr
		}
	}
	ops = ops[:min(last.Index+1, len(ops))]
	// First look for a short suffix that diverges alone, from an empty
	// window: cheap, and often enough.
	for k := 16; k < len(ops) && time.Now().Before(deadline); k *= 2 {
		if d := fails(ops[len(ops)-k:]); d != nil {
			ops, last = ops[len(ops)-k:], d
			ops = ops[:min(d.Index+1, len(ops))]
			break
		}
	}
	n := 2
	for len(ops) >= 2 && time.Now().Before(deadline) {
		chunk := (len(ops) + n - 1) / n
		reduced := false
		for lo := 0; lo < len(ops) && time.Now().Before(deadline); lo += chunk {
			hi := min(lo+chunk, len(ops))
			cand := append(append([]Op(nil), ops[:lo]...), ops[hi:]...)
			if d := fails(cand); d != nil {
				last = d
				ops = cand[:min(d.Index+1, len(cand))]
				if d.Index < 0 || d.Index >= len(cand) { // found by the final sweep
					ops = cand
				}
				n = max(n-1, 2)
				reduced = true
				break
			}
		}
		if !reduced {
			if n >= len(ops) {
				break
			}
			n = min(2*n, len(ops))
		}
	}
	return ops, last, herr
}
