package machine

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/syscalls"
)

// guestLimits are the limits mm enforces for cfg: cfg.Limits (if nil,
// mm's defaults with CAP_IPC_LOCK, which the guest holds as the root it
// runs as: RLIMIT_MEMLOCK is reported but does not bound mlock) with the
// host's overcommit policy applied to the guest's memory, so that mmap and
// brk refuse what the host would refuse of a machine that size. Where the
// policy cannot be read, the heuristic mode (Linux's default) applies.
func guestLimits(cfg Config) *mm.Limits {
	l := mm.DefaultLimits()
	l.CapIPCLock = true
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

// processLimits are the limits getrlimit reports: mm's, which it enforces,
// RLIMIT_NOFILE, which bounds the guest's fd table, at Linux's defaults
// (1024, hard 4096), RLIMIT_SIGPENDING, which bounds the queued signals,
// at the host's (Linux sizes it from the machine's memory), and the ones
// mmvm does not enforce at mmvm's own, as a child process inherits its
// parent's limits (inheritedLimits).
func processLimits(l mm.Limits) map[int]syscalls.Limit {
	lim := func(v uint64) syscalls.Limit {
		if v == mm.Unlimited {
			return syscalls.Limit{Cur: ^uint64(0), Max: ^uint64(0)}
		}
		return syscalls.Limit{Cur: v, Max: v}
	}
	out := map[int]syscalls.Limit{
		unix.RLIMIT_AS:         lim(l.AS),
		unix.RLIMIT_DATA:       lim(l.Data),
		unix.RLIMIT_MEMLOCK:    lim(l.MemLock),
		unix.RLIMIT_STACK:      lim(l.Stack),
		unix.RLIMIT_NOFILE:     {Cur: 1024, Max: 4096},
		unix.RLIMIT_SIGPENDING: hostSigpending(),
	}
	for res, def := range inheritedLimits {
		var hl unix.Rlimit
		if err := unix.Getrlimit(res, &hl); err == nil {
			def = syscalls.Limit{Cur: hl.Cur, Max: hl.Max}
		}
		out[res] = def
	}
	return out
}

// inheritedLimits are the limits mmvm does not enforce, which the program
// gets from mmvm as a process gets its parent's (ulimit -c, -e, -r, -u
// show what they show natively), each with Linux's initial value
// (INIT_RLIMITS) for a host that cannot tell its own.
var inheritedLimits = map[int]syscalls.Limit{
	unix.RLIMIT_CPU:      {Cur: ^uint64(0), Max: ^uint64(0)},
	unix.RLIMIT_FSIZE:    {Cur: ^uint64(0), Max: ^uint64(0)},
	unix.RLIMIT_CORE:     {Cur: 0, Max: ^uint64(0)},
	unix.RLIMIT_RSS:      {Cur: ^uint64(0), Max: ^uint64(0)},
	unix.RLIMIT_NPROC:    {Cur: 0, Max: 0},
	unix.RLIMIT_LOCKS:    {Cur: ^uint64(0), Max: ^uint64(0)},
	unix.RLIMIT_MSGQUEUE: {Cur: 819200, Max: 819200},
	unix.RLIMIT_NICE:     {Cur: 0, Max: 0},
	unix.RLIMIT_RTPRIO:   {Cur: 0, Max: 0},
	unix.RLIMIT_RTTIME:   {Cur: ^uint64(0), Max: ^uint64(0)},
}

// hostSigpending is the host's RLIMIT_SIGPENDING, or Linux's smallest
// default (max_threads/2 on a small machine) where it cannot be read or is
// unlimited: the guest's queue of signals must stay bounded.
func hostSigpending() syscalls.Limit {
	const fallback = 1024
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_SIGPENDING, &l); err != nil || l.Cur == unix.RLIM_INFINITY {
		return syscalls.Limit{Cur: fallback, Max: fallback}
	}
	return syscalls.Limit{Cur: l.Cur, Max: l.Max}
}
