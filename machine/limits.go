package machine

import (
	"github.com/mmvm/mmvm/mm"
)

// guestLimits are the limits mm enforces for cfg: cfg.Limits (mm's
// defaults if nil) with the host's overcommit policy applied to the
// guest's memory, so that mmap and brk refuse what the host would refuse
// of a machine that size. Where the policy cannot be read, the heuristic
// mode (Linux's default) applies.
func guestLimits(cfg Config) *mm.Limits {
	l := mm.DefaultLimits()
	if cfg.Limits != nil {
		l = *cfg.Limits
	}
	if l.Overcommit.Memory != 0 {
		return &l // the caller chose a policy
	}
	o, err := mm.HostOvercommit(cfg.Memory)
	if err != nil {
		o = mm.Overcommit{Mode: mm.OvercommitGuess, Memory: cfg.Memory}
	}
	l.Overcommit = o
	return &l
}
