package faultbench

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/memfile"
)

// Config says how much to measure.
type Config struct {
	// Size is the fresh memory each first-touch measurement touches: a
	// non-zero multiple of 2 MiB.
	Size uint64
	// Faults is the number of single-page faults (and of exits for the
	// floors) each fault-path measurement times.
	Faults int
	// Rounds is how many alternating rounds each duel (the two
	// timed targets, see Duel) splits Faults and Size into; 0 means 5.
	Rounds int
	// Machine describes where the run happens, for the report.
	Machine string
	// Progress, if set, is told before each step starts.
	Progress func(step, steps int, what string)
}

func (c Config) check() error {
	if c.Size == 0 || c.Size%arch.HugePageSize != 0 || c.Size > bareMaxData {
		return fmt.Errorf("faultbench: size %d: want a non-zero multiple of 2 MiB up to %d: %w", c.Size, uint64(bareMaxData), unix.EINVAL)
	}
	if c.Faults <= 0 || c.Faults > 1<<20 {
		return fmt.Errorf("faultbench: faults %d: want 1 to %d: %w", c.Faults, 1<<20, unix.EINVAL)
	}
	if c.Rounds < 0 || c.Rounds > maxRounds {
		return fmt.Errorf("faultbench: rounds %d: want 1 to %d: %w", c.Rounds, maxRounds, unix.EINVAL)
	}
	if r := c.rounds(); uint64(c.Faults) < uint64(r) || c.Size < uint64(r)*arch.HugePageSize {
		return fmt.Errorf("faultbench: %d rounds need at least %d faults and %d MiB: %w", r, r, 2*r, unix.EINVAL)
	}
	return nil
}

// maxRounds bounds Config.Rounds; defaultRounds is what 0 means.
const (
	maxRounds     = 50
	defaultRounds = 5
)

func (c Config) rounds() int {
	if c.Rounds == 0 {
		return defaultRounds
	}
	return c.Rounds
}

// Report is one bench run: every measurement, the ratios between them and
// the targets of issue 7.
type Report struct {
	Machine   string `json:"machine"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	CPUs      int    `json:"cpus"`
	// HostHugePages is the host's shmem transparent huge page mode
	// (memfile.HostHugePages): whether the MemoryFile can get 2 MiB host
	// pages at all.
	HostHugePages string `json:"host_shmem_huge_pages"`
	// KVM is what a Machine decided about this KVM (machine.Platform):
	// the module, its paging, how page-table changes reach the guest and
	// where SYSCALL lands.
	KVM        string    `json:"kvm"`
	Started    time.Time `json:"started"`
	DurationS  float64   `json:"duration_s"`
	SizeBytes  uint64    `json:"size_bytes"`
	FaultCount int       `json:"faults"`

	Floor      Floor      `json:"floor"`
	Minimal    Minimal    `json:"minimal_fault_path"`
	Single     []FaultRun `json:"single_faults"`
	Sequential []Touch    `json:"sequential_touch"`
	Random     Touch      `json:"random_touch"`
	Cycles     Cycles     `json:"mmap_touch_munmap"`
	Host       Host       `json:"host"`
	// Duels are the two timed targets, measured head to head.
	Duels  []Duel   `json:"duels"`
	Ratios []Ratio  `json:"ratios"`
	Notes  []string `json:"notes,omitempty"`
}

// Floor is the cheapest round trips there are.
type Floor struct {
	// UserExit is a bare guest's `out` at CPL 3 and straight back in.
	UserExit Measure `json:"user_exit"`
	// Ring0ExitStub and Ring0ExitDirect are a bare guest's SYSCALL to
	// ring0's entry stub, its `out`, and the return: the stub's sysretq,
	// or the host loading the user context.
	Ring0ExitStub   Measure `json:"ring0_exit_stub"`
	Ring0ExitDirect Measure `json:"ring0_exit_direct"`
	// MachineUserExit is UserExit through Machine.Run (one Run per exit);
	// MachineSyscall* a getpid served by the machine.
	MachineUserExit      Measure `json:"machine_user_exit"`
	MachineSyscallStub   Measure `json:"machine_syscall_stub"`
	MachineSyscallDirect Measure `json:"machine_syscall_direct"`
}

// Minimal is pftest.c's fault path in Go, resumed both ways.
type Minimal struct {
	Stub   Measure `json:"stub"`
	Direct Measure `json:"direct"`
}

// Host is the baselines outside mmvm.
type Host struct {
	Native    Touch `json:"native_touch"`
	NativeTHP Touch `json:"native_touch_thp"`
	// Userfaultfd is nil when the kernel refused it (UserfaultfdNote says
	// why).
	Userfaultfd     *Measure `json:"userfaultfd,omitempty"`
	UserfaultfdNote string   `json:"userfaultfd_note,omitempty"`
	// Limit is the machine's limit: a bare guest over memory populated
	// in bulk first (population included); LimitUnpopulated the same
	// guest faulting host pages one at a time.
	Limit            Touch `json:"machine_limit"`
	LimitUnpopulated Touch `json:"machine_limit_unpopulated"`
}

// Ratio is one comparison of the report. Target, when set, is the goal
// (Pass says whether it is met); all ratios are of figures from this run.
type Ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target,omitempty"`
	Pass   *bool   `json:"pass,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// Fast paths the report compares.
var (
	plainPath    = machine.FastPath{}
	directPath   = machine.FastPath{DirectResume: true}
	populatePath = machine.FastPath{Populate: true}
	fullPath     = machine.FastPath{Populate: true, DirectResume: true}
	rawPath      = machine.FastPath{Populate: true, RawRun: true}
)

// Run measures everything of Report, in this process, one step at a time.
func Run(cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := &Report{Machine: cfg.Machine, Kernel: kernelRelease(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), HostHugePages: memfile.HostHugePages(),
		Started: time.Now(), SizeBytes: cfg.Size, FaultCount: cfg.Faults}
	n := cfg.Faults
	size := cfg.Size
	cycleLen := uint64(4 << 20)
	cycles := max(8, min(256, size/cycleLen/2))
	type step struct {
		what string
		do   func() error
	}
	var single [5]FaultRun
	var seq [6]Touch
	var duels [2]Duel
	rounds := cfg.rounds()
	fp := machine.DefaultFastPath()
	duelFaults := n / rounds
	duelSize := size / uint64(rounds) / arch.HugePageSize * arch.HugePageSize
	steps := []step{
		{"KVM: what a machine decides about it", func() (err error) { r.KVM, err = platformOf(); return }},
		{"floor: raw user exit (bare guest)", func() (err error) { r.Floor.UserExit, err = UserExitRoundTrip(n); return }},
		{"floor: ring-0 exit via stub (bare guest)", func() (err error) { r.Floor.Ring0ExitStub, err = Ring0ExitRoundTrip(n, false); return }},
		{"floor: ring-0 exit, direct resume (bare guest)", func() (err error) { r.Floor.Ring0ExitDirect, err = Ring0ExitRoundTrip(n, true); return }},
		{"floor: user exit through Machine.Run", func() (err error) { r.Floor.MachineUserExit, err = MachineUserExit(n); return }},
		{"floor: machine syscall via stub", func() (err error) { r.Floor.MachineSyscallStub, err = MachineSyscalls(n, plainPath); return }},
		{"floor: machine syscall, direct resume", func() (err error) { r.Floor.MachineSyscallDirect, err = MachineSyscalls(n, directPath); return }},
		{"minimal fault path via stub (bare guest)", func() (err error) { r.Minimal.Stub, err = MinimalFaultPath(n, false); return }},
		{"minimal fault path, direct resume (bare guest)", func() (err error) { r.Minimal.Direct, err = MinimalFaultPath(n, true); return }},
		{"single faults via stub", func() (err error) { single[0], err = singleFaults(n, populatePath); return }},
		{"single faults, direct resume", func() (err error) { single[1], err = singleFaults(n, fullPath); return }},
		{"single faults via stub, raw KVM_RUN", func() (err error) { single[2], err = singleFaults(n, rawPath); return }},
		{"single faults, direct resume, raw KVM_RUN", func() (err error) {
			single[3], err = singleFaults(n, machine.FastPath{DirectResume: true, Populate: true, RawRun: true})
			return
		}},
		{"single faults via stub, raw KVM_RUN, no populate", func() (err error) {
			single[4], err = singleFaults(n, machine.FastPath{RawRun: true})
			return
		}},
		{"sequential touch, fault-around 4K", func() (err error) {
			seq[0], err = SequentialTouch("4K", size, arch.PageSize, populatePath)
			return
		}},
		{"sequential touch, fault-around 64K", func() (err error) {
			seq[1], err = SequentialTouch("64K", size, 64<<10, populatePath)
			return
		}},
		{"sequential touch, fault-around 2M, no populate", func() (err error) {
			seq[2], err = SequentialTouch("2M plain", size, arch.HugePageSize, plainPath)
			return
		}},
		{"sequential touch, fault-around 2M", func() (err error) {
			seq[3], err = SequentialTouch("2M", size, arch.HugePageSize, populatePath)
			return
		}},
		{"sequential touch, fault-around 2M, direct resume", func() (err error) {
			seq[4], err = SequentialTouch("2M direct", size, arch.HugePageSize, fullPath)
			return
		}},
		{"sequential touch, fault-around 2M, raw KVM_RUN", func() (err error) {
			seq[5], err = SequentialTouch("2M raw", size, arch.HugePageSize, rawPath)
			return
		}},
		{"random touch, fault-around 2M", func() (err error) {
			r.Random, err = RandomTouch("random 2M", size, arch.HugePageSize, populatePath)
			return
		}},
		{"mmap/touch/munmap cycles", func() (err error) {
			r.Cycles, err = MMapCycles(cycles, cycleLen, arch.HugePageSize, populatePath)
			return
		}},
		{"host: native first touch", func() (err error) { r.Host.Native, err = NativeTouch(size, false); return }},
		{"host: native first touch, THP", func() (err error) { r.Host.NativeTHP, err = NativeTouch(size, true); return }},
		{"host: userfaultfd round trip", func() error {
			m, err := UserfaultfdRoundTrip(min(n, int(size/arch.PageSize)))
			if errors.Is(err, ErrUserfaultfdRefused) {
				r.Host.UserfaultfdNote = "skipped: " + err.Error()
				return nil
			}
			if err == nil {
				r.Host.Userfaultfd = &m
			}
			return err
		}},
		{fmt.Sprintf("duel: single faults against the minimal fault path, %d rounds of %d", rounds, duelFaults), func() (err error) {
			duels[0], err = SingleFaultDuel(rounds, duelFaults, fp)
			return
		}},
		{fmt.Sprintf("duel: 2M first touch against the machine limit, %d rounds of %d MiB", rounds, duelSize>>20), func() (err error) {
			duels[1], err = FirstTouchDuel(rounds, duelSize, fp)
			return
		}},
		{"machine limit: bare guest, 2M pages, populated memfd", func() (err error) { r.Host.Limit, err = MachineLimit(size, true); return }},
		{"machine limit: bare guest, 2M pages, unpopulated memfd", func() (err error) {
			r.Host.LimitUnpopulated, err = MachineLimit(size, false)
			return
		}},
	}
	for i, s := range steps {
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(steps), s.what)
		}
		if err := s.do(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	r.Single = single[:]
	r.Duels = duels[:]
	r.Sequential = seq[:]
	r.Host.Native.Name, r.Host.NativeTHP.Name = "native", "native THP"
	r.Host.Limit.Name, r.Host.LimitUnpopulated.Name = "limit", "limit unpopulated"
	r.DurationS = time.Since(r.Started).Seconds()
	r.computeRatios()
	if r.HostHugePages == "never" || r.HostHugePages == "deny" {
		r.Notes = append(r.Notes, "this host gives shared memory no transparent huge pages (shmem_enabled "+r.HostHugePages+
			"): every MemoryFile page is a 4 KiB host page; as root, `echo advise > /sys/kernel/mm/transparent_hugepage/shmem_enabled` lets a populated 2 MiB chunk be one (README, Benchmarks)")
	}
	return r, nil
}

// singleFaults is SingleFaults named after its fast path.
func singleFaults(n int, fp machine.FastPath) (FaultRun, error) {
	return SingleFaults(fp.String(), n, fp)
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return strings.TrimRight(string(u.Release[:]), "\x00")
}

// bestSingle returns the single-fault run with the lowest ns per fault.
func (r *Report) bestSingle() FaultRun {
	best := r.Single[0]
	for _, s := range r.Single[1:] {
		if s.NsPerFault < best.NsPerFault {
			best = s
		}
	}
	return best
}

func (r *Report) touch(name string) Touch {
	for _, t := range r.Sequential {
		if t.Name == name {
			return t
		}
	}
	return Touch{}
}

// bestTouch2M is the fastest sequential touch with 2 MiB fault-around.
func (r *Report) bestTouch2M() Touch {
	var best Touch
	for _, t := range r.Sequential {
		if t.FaultAround == arch.HugePageSize && (best.NsPerPage == 0 || t.NsPerPage < best.NsPerPage) {
			best = t
		}
	}
	return best
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func (r *Report) computeRatios() {
	pass := func(ok bool) *bool { return &ok }
	best := r.bestSingle()
	minimal := min(r.Minimal.Stub.NsPerOp, r.Minimal.Direct.NsPerOp)
	stub, direct := r.Single[0], r.Single[1]
	t2 := r.bestTouch2M()
	t2plain := r.touch("2M plain")
	t2pop := r.touch("2M")
	single, touch := r.Duels[0], r.Duels[1]
	note := func(d Duel, unit string) string {
		return fmt.Sprintf("median of %d alternating rounds (range %.2f-%.2f), fast path %s; ours %.0f ns/%s, baseline %.0f ns/%s",
			d.Rounds, d.Mean.Min, d.Mean.Max, d.FastPath.String(), d.OursNs, unit, d.BaselineNs, unit)
	}
	v := single.Mean.Median
	r.Ratios = append(r.Ratios,
		Ratio{Name: "single fault / minimal fault path (mean cost)", Value: v, Target: "<= 1.2", Pass: pass(v <= 1.2), Note: note(single, "fault")},
		Ratio{Name: "single fault / minimal fault path (p50 latency)", Value: single.P50.Median,
			Note: fmt.Sprintf("same rounds, range %.2f-%.2f", single.P50.Min, single.P50.Max)},
		Ratio{Name: "single fault / minimal fault path (one-shot, best of each)", Value: div(best.NsPerFault, minimal),
			Note: fmt.Sprintf("ours %s %.0f ns, minimal %.0f ns", best.Name, best.NsPerFault, minimal)},
		Ratio{Name: "single fault / raw user exit", Value: div(best.NsPerFault, r.Floor.UserExit.NsPerOp)},
		Ratio{Name: "minimal fault path / raw user exit", Value: div(minimal, r.Floor.UserExit.NsPerOp), Note: "device: 1.5-1.8"},
		Ratio{Name: "single fault, direct resume / via stub", Value: div(direct.NsPerFault, stub.NsPerFault), Note: "below 1: direct resume wins here"},
		Ratio{Name: "single fault, populated chunks / no populate (raw KVM_RUN)", Value: div(r.Single[2].NsPerFault, r.Single[4].NsPerFault),
			Note: "below 1: backing 2 MiB chunks in bulk wins"},
		Ratio{Name: "minimal fault path, direct / stub", Value: div(r.Minimal.Direct.NsPerOp, r.Minimal.Stub.NsPerOp)},
		Ratio{Name: "ring-0 exit, direct / stub", Value: div(r.Floor.Ring0ExitDirect.NsPerOp, r.Floor.Ring0ExitStub.NsPerOp)},
	)
	v = touch.Mean.Median
	r.Ratios = append(r.Ratios,
		Ratio{Name: "sequential touch 2M: machine limit / ours (speed)", Value: v, Target: ">= 0.9", Pass: pass(v >= 0.9), Note: note(touch, "page")},
		Ratio{Name: "sequential touch 2M: machine limit / ours (one-shot, best)", Value: div(r.Host.Limit.NsPerPage, t2.NsPerPage),
			Note: fmt.Sprintf("ours %s %.0f ns/page, limit %.0f ns/page", t2.Name, t2.NsPerPage, r.Host.Limit.NsPerPage)},
		Ratio{Name: "sequential touch 2M: native / ours (speed)", Value: div(r.Host.Native.NsPerPage, t2.NsPerPage)},
		Ratio{Name: "machine limit: native / limit (speed)", Value: div(r.Host.Native.NsPerPage, r.Host.Limit.NsPerPage), Note: "device: about 0.55"},
		Ratio{Name: "sequential touch 2M: populate / no populate (time)", Value: div(t2pop.NsPerPage, t2plain.NsPerPage), Note: "below 1: bulk population wins"},
	)
	r.Ratios = append(r.Ratios,
		Ratio{Name: "faults per GiB, 2M fault-around", Value: t2pop.FaultsPerGiB, Target: "<= 512", Pass: pass(t2pop.Faults > 0 && t2pop.FaultsPerGiB <= 512)},
		Ratio{Name: "4 KiB leaves over the 2M-fault-around range", Value: float64(t2pop.Leaves4K), Target: "0", Pass: pass(t2pop.Leaves4K == 0 && t2pop.Leaves2M > 0),
			Note: fmt.Sprintf("%d 2 MiB leaves", t2pop.Leaves2M)},
		Ratio{Name: "Go allocations per single fault", Value: stub.AllocsPerFault, Target: "< 0.01", Pass: pass(stub.AllocsPerFault < 0.01)},
	)
	if u := r.Host.Userfaultfd; u != nil {
		r.Ratios = append(r.Ratios, Ratio{Name: "single fault / userfaultfd round trip", Value: div(best.NsPerFault, u.NsPerOp)})
	}
}
