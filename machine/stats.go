package machine

import (
	"time"

	"github.com/mmvm/mmvm/latency"
	"github.com/mmvm/mmvm/syscalls"
)

// Exit kinds counted by the run loop.
const (
	exitPageFault = iota
	exitSyscall
	exitException
	exitUserPort
	exitInterrupt
	numExitKinds
)

// exitNames name the exit kinds: the keys of Stats.Exits.
var exitNames = [numExitKinds]string{
	exitPageFault: "page_fault",
	exitSyscall:   "syscall",
	exitException: "exception",
	exitUserPort:  "user_port",
	exitInterrupt: "interrupt",
}

// ExitKinds returns the keys Stats.Exits may have, in the order to list
// them.
func ExitKinds() []string { return append([]string(nil), exitNames[:]...) }

// statsCollector is what the run loop counts. Only the vCPU goroutine
// writes it; Stats reads it after Run returns.
type statsCollector struct {
	exits        [numExitKinds]uint64
	faults       uint64
	tlbFlushes   uint64
	faultLatency latency.Histogram
	// faultStart is when the exit of the page fault being served was
	// seen; faultPending says the next entry ends its latency sample.
	faultStart   time.Time
	faultPending bool
}

// add adds o's counts to s.
func (s *statsCollector) add(o *statsCollector) {
	for i, n := range o.exits {
		s.exits[i] += n
	}
	s.faults += o.faults
	s.tlbFlushes += o.tlbFlushes
	s.faultLatency.Merge(&o.faultLatency)
}

// Stats is a run's figures for --stats and --stats-json.
type Stats struct {
	// Faults is the number of user page faults mm resolved; PagesMapped
	// the 4 KiB pages their mappings (with fault-around) covered.
	Faults      uint64 `json:"page_faults"`
	PagesMapped uint64 `json:"pages_mapped"`
	// FaultLatency is the host's time from a page-fault exit to the
	// re-entry that resumes the program.
	FaultLatency latency.Summary   `json:"fault_latency"`
	Exits        map[string]uint64 `json:"exits"`
	TLBFlushes   uint64            `json:"tlb_flushes"`
	// VCPUs is how many vCPUs the program's threads ran on; Shootdowns
	// counts the narrowing page-table changes made while it had more
	// than one, and ShootdownKicks the vCPUs they kicked out of guest
	// mode (shootdown.go).
	// Processes is how many processes ran: the first, and one per fork
	// (Forks); Execs counts the execve calls that loaded a program.
	Processes      uint64                  `json:"processes"`
	Forks          uint64                  `json:"forks"`
	Execs          uint64                  `json:"execs"`
	VCPUs          int                     `json:"vcpus"`
	Shootdowns     uint64                  `json:"tlb_shootdowns"`
	ShootdownKicks uint64                  `json:"tlb_shootdown_kicks"`
	Syscalls       []syscalls.SyscallCount `json:"syscalls"`
	// Unimplemented counts the system calls answered ENOSYS, by number.
	Unimplemented map[uint64]uint64 `json:"unimplemented_syscalls"`
	// CloneRefused counts the clone and clone3 requests answered ENOSYS,
	// by what they asked for (a thread, vfork, a new process).
	CloneRefused map[syscalls.CloneKind]uint64 `json:"clone_refused,omitempty"`
	// Signals are the signals the program sent itself that it did not
	// see as Linux would show them (handlers mmvm did not run).
	Signals syscalls.SignalStats `json:"signals"`
	// Memory: MemoryFile peak and current use, the program's RSS, peak
	// RSS and virtual size, and table pages.
	MemoryFilePeak  uint64 `json:"memory_file_peak_bytes"`
	MemoryFileInUse uint64 `json:"memory_file_allocated_bytes"`
	MemoryFileHost  uint64 `json:"memory_file_host_bytes"`
	RSS             uint64 `json:"rss_bytes"`
	PeakRSS         uint64 `json:"peak_rss_bytes"`
	VirtualSize     uint64 `json:"virtual_size_bytes"`
	TablePages      int    `json:"page_table_pages"`
	// FastPath is how the runs served faults and system calls.
	FastPath FastPath `json:"fast_path"`
	// Platform is what the VM decided about its KVM; Replay counts the
	// replays of page-table stores (TableSyncReplay).
	Platform Platform    `json:"platform"`
	Replay   ReplayStats `json:"replay"`
}

// Stats returns the figures of the runs so far.
func (m *Machine) Stats() Stats {
	var st statsCollector
	for _, c := range m.allCPUs() {
		st.add(&c.stats)
	}
	s := Stats{
		Faults: st.faults, PagesMapped: m.first.mem.Load().as.pagesMapped(),
		FaultLatency:   st.faultLatency.Summary(),
		Exits:          make(map[string]uint64),
		TLBFlushes:     st.tlbFlushes,
		VCPUs:          len(m.allCPUs()),
		Processes:      1 + m.forks.Load(),
		Forks:          m.forks.Load(),
		Execs:          m.execs.Load(),
		Shootdowns:     m.shootdowns.Load(),
		ShootdownKicks: m.shootdownKicks.Load(),
		TablePages:     m.first.mem.Load().pt.TablePages(),
		FastPath:       m.fast,
		Platform:       m.platform,
		Replay:         m.replayStats,
	}
	for i, n := range st.exits {
		if n > 0 {
			s.Exits[exitNames[i]] = n
		}
	}
	s.Syscalls, s.Unimplemented = m.Process.Stats()
	s.Signals = m.Process.SignalStats()
	s.CloneRefused = m.Process.CloneRefusals()
	ms := m.mf.Stats()
	s.MemoryFilePeak, s.MemoryFileInUse, s.MemoryFileHost = ms.Peak, ms.Allocated, ms.Backed
	mst := m.MM.Stats()
	s.RSS, s.PeakRSS, s.VirtualSize = mst.RSS, mst.PeakRSS, mst.VirtualSize
	return s
}
