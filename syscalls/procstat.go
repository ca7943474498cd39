package syscalls

import (
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The per-process files of /proc that describe a process or one of its
// threads as a line of figures (stat, statm), its environment (environ),
// and /proc/self/task: one directory per live thread, named by its TID,
// holding that thread's stat, status and comm.

// ImageLayout is where the program's image lies in its address space, as
// Linux's mm_struct records it at execve and /proc/self/stat shows it:
// the text (the lowest start and highest file end of the executable
// segments), the data (the highest segment's start and file end), the
// break's start, the initial stack pointer (argc's address), and the
// argument and environment strings.
type ImageLayout struct {
	StartCode, EndCode, StartData, EndData, StartBrk, StartStack uint64
	ArgStart, ArgEnd, EnvStart, EnvEnd                           uint64
	// Auxv is the auxiliary vector on the stack, type and value in turn,
	// AT_NULL's pair last (/proc/self/auxv).
	Auxv []uint64
}

// SetImageLayout records the layout of the image the process now runs
// (the machine's loader calls it at the first load and at each execve).
func (p *Process) SetImageLayout(l ImageLayout) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info.layout = l
}

// SetEnvironment records the program's environment as execve gave it,
// for /proc/self/environ.
func (p *Process) SetEnvironment(envv []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info.envp = append([]string(nil), envv...)
}

// environText is /proc/self/environ: each variable with its NUL, as the
// program's stack received them.
func (p *Process) environText() []byte {
	var b []byte
	for _, e := range p.info.envp {
		b = append(append(b, e...), 0)
	}
	return b
}

// hostBoottime is the host's CLOCK_BOOTTIME: the clock /proc/uptime and
// a process's start time in /proc/self/stat count from.
func hostBoottime() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// clockTicks converts d to clock ticks (USER_HZ), as Linux's
// nsec_to_clock_t.
func clockTicks(d time.Duration) uint64 { return uint64(d / (time.Second / userHZ)) }

// taskState is a thread's state letter as /proc shows it: R for one
// running or serving a call (the thread that reads among them), S for
// one waiting in a call (interruptibly, as every wait of mmvm's), Z for
// a zombie's main thread.
func (t *Task) taskState() (letter byte, name string) {
	switch {
	case t.Process.isZombie() && t == t.main:
		return 'Z', "zombie"
	case t.sleeping:
		return 'S', "sleeping"
	}
	return 'R', "running"
}

// cpuTicks is the user and system time, in clock ticks, of the host
// thread that runs t (its vCPU's, which counts guest time as user time),
// read from the host's /proc as Linux's own figures; 0 before t's first
// call.
func (t *Task) cpuTicks() (user, sys uint64) {
	if t.hostTID == 0 {
		return 0, 0
	}
	b, err := fs.ReadFile(t.hostProc(), "self/task/"+strconv.Itoa(t.hostTID)+"/stat")
	if err != nil {
		return 0, 0
	}
	// The fields after the comm, which may hold spaces: utime and
	// stime are the 14th and 15th of the line, the 12th and 13th after
	// it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	user, _ = strconv.ParseUint(f[11], 10, 64)
	sys, _ = strconv.ParseUint(f[12], 10, 64)
	return user, sys
}

// statText is /proc/self/stat (whole true: the process, its main thread's
// line with the figures of all its threads) or /proc/self/task/TID/stat
// (whole false: thread t alone), as Linux's do_task_stat lays out its 52
// fields. The CPU times are those of the host threads that run the
// threads (cpuTicks), and the start time counts from the host's boot, as /proc/uptime; the
// controlling terminal is ttyNr's (tty_nr 0, tpgid -1 for none), it runs on CPU
// 0 under SCHED_OTHER, and its flags (PF_*) are 0: mmvm randomises no
// address.
func (t *Task) statText(whole bool) []byte {
	p := t.Process
	m := p.view().MemoryStatus()
	lay := p.info.layout
	ppid := 0
	if parent := p.family.parent; parent != nil {
		ppid = parent.cfg.PID
	}
	state, _ := t.taskState()
	utime, stime := t.cpuTicks()
	pending, blocked := t.tsig.pending, t.sigmask
	minflt := p.usage().Faults
	var cminflt uint64
	if whole {
		pending |= p.sig.pending
		cminflt = p.family.reapedChildren.Faults
		utime, stime = 0, 0
		for _, o := range p.tasks {
			u, s := o.cpuTicks()
			utime, stime = utime+u, stime+s
		}
	}
	ignored, caught := p.sigDispositions()
	// The root's parent is outside the VM, which forked it: SIGCHLD. A
	// thread other than the main one has none (-1).
	exitSignal := int(p.family.exitSignal)
	if p.tree.root == p {
		exitSignal = int(unix.SIGCHLD)
	}
	if t != p.main {
		exitSignal = -1
	}
	const low31 = 0x7fffffff
	var b strings.Builder
	ttyNr, tpgid := p.ttyNr()
	fmt.Fprintf(&b, "%d (%s) %c %d %d %d %d %d 0", t.tid, commString(t.comm), state, ppid, p.family.pgid, p.family.sid, ttyNr, tpgid)
	fmt.Fprintf(&b, " %d %d 0 0 %d %d 0 0", minflt, cminflt, utime, stime)
	prio := 20 + t.nice // task_prio: the fair priority, or -1 less the real-time one
	if rtPolicy(t.sched.policy) {
		prio = -1 - int32(t.sched.rtPrio)
	}
	fmt.Fprintf(&b, " %d %d %d 0 %d", prio, t.nice, len(p.tasks), clockTicks(t.started))
	fmt.Fprintf(&b, " %d %d %d", m.VmSize, m.VmRSS>>12, p.limit(unix.RLIMIT_RSS).Cur)
	fmt.Fprintf(&b, " %d %d %d 0 0", lay.StartCode, lay.EndCode, lay.StartStack)
	fmt.Fprintf(&b, " %d %d %d %d", pending&low31, blocked&low31, ignored&low31, caught&low31)
	fmt.Fprintf(&b, " %d 0 0 %d 0 %d %d 0 0 0", boolInt(state == 'S'), exitSignal, t.sched.rtPrio, t.sched.policy)
	fmt.Fprintf(&b, " %d %d %d %d %d %d %d", lay.StartData, lay.EndData, lay.StartBrk, lay.ArgStart, lay.ArgEnd, lay.EnvStart, lay.EnvEnd)
	exitCode := 0
	if p.isZombie() {
		exitCode = p.waitStatus()
	}
	fmt.Fprintf(&b, " %d\n", exitCode)
	return []byte(b.String())
}

// statmText is /proc/self/statm, in pages: the size, the resident set,
// its shared part (file and shmem pages), the text, 0 (lib), the data
// and stack, 0 (dt), as Linux's proc_pid_statm.
func (p *Process) statmText() []byte {
	m := p.view().MemoryStatus()
	shared := m.RssFile + m.RssShmem
	return fmt.Appendf(nil, "%d %d %d %d 0 %d 0\n", m.VmSize>>12, (shared+m.RssAnon)>>12, shared>>12,
		p.info.layout.textSize()>>12, (m.VmData+m.VmStk)>>12)
}

// textSize is the bytes of whole pages the text spans (Linux's VmExe).
func (l ImageLayout) textSize() uint64 {
	if l.EndCode <= l.StartCode {
		return 0
	}
	return (l.EndCode+pageMask)&^pageMask - l.StartCode&^pageMask
}

const pageMask = 4095

// sigDispositions are the signals the process ignores and catches, as
// bitmasks (bit sig-1).
func (p *Process) sigDispositions() (ignored, caught uint64) {
	for sig, act := range p.sigactions {
		if len(act) < 8 || sig < 1 || sig > 64 {
			continue
		}
		switch h := leUint64(act); h {
		case 0: // SIG_DFL
		case 1: // SIG_IGN
			ignored |= 1 << (sig - 1)
		default:
			caught |= 1 << (sig - 1)
		}
	}
	return ignored, caught
}

func commString(comm [taskCommLen]byte) string {
	return strings.TrimRight(string(comm[:]), "\x00")
}

// Inode numbers of /proc/self/task, apart from every other node's: the
// directory of thread TID has taskInoBase+8*TID, its files the next ones.
const taskInoBase = 4 << 32

// taskFiles are what a thread's directory holds, each made for thread t.
var taskFiles = []struct {
	name string
	gen  func(t *Task) []byte
}{
	{"comm", func(t *Task) []byte { return append([]byte(commString(t.comm)), '\n') }},
	{"stat", func(t *Task) []byte { return t.statText(false) }},
	{"status", func(t *Task) []byte { return t.statusText() }},
}

// taskDir returns /proc/<pid>/task/name for process p: the directory of
// its live thread whose TID name is, nil if none.
func (p *Process) taskDir(name string) *node {
	tid, err := strconv.Atoi(name)
	if err != nil || strconv.Itoa(tid) != name || p.tasks[tid] == nil {
		return nil
	}
	ino := taskInoBase + 8*uint64(tid)
	d := &node{kind: nodeDir, ino: ino, children: make(map[string]*node, len(taskFiles))}
	for i, f := range taskFiles {
		gen := f.gen
		d.children[f.name] = &node{kind: nodeProc, ino: ino + 1 + uint64(i), gen: func(*Process) []byte {
			t := p.tasks[tid]
			if t == nil {
				return nil
			}
			return gen(t)
		}}
	}
	return d
}

// taskDirs are /proc/self/task's entries for process p, by name.
func (p *Process) taskDirs() map[string]*node {
	out := make(map[string]*node, len(p.tasks))
	for tid := range p.tasks {
		name := strconv.Itoa(tid)
		out[name] = p.taskDir(name)
	}
	return out
}

// limitRows are /proc/self/limits' rows, in RLIMIT_* order, with their
// units ("" for none), as Linux's lnames.
var limitRows = []struct {
	res         int
	name, units string
}{
	{unix.RLIMIT_CPU, "Max cpu time", "seconds"},
	{unix.RLIMIT_FSIZE, "Max file size", "bytes"},
	{unix.RLIMIT_DATA, "Max data size", "bytes"},
	{unix.RLIMIT_STACK, "Max stack size", "bytes"},
	{unix.RLIMIT_CORE, "Max core file size", "bytes"},
	{unix.RLIMIT_RSS, "Max resident set", "bytes"},
	{unix.RLIMIT_NPROC, "Max processes", "processes"},
	{unix.RLIMIT_NOFILE, "Max open files", "files"},
	{unix.RLIMIT_MEMLOCK, "Max locked memory", "bytes"},
	{unix.RLIMIT_AS, "Max address space", "bytes"},
	{unix.RLIMIT_LOCKS, "Max file locks", "locks"},
	{unix.RLIMIT_SIGPENDING, "Max pending signals", "signals"},
	{unix.RLIMIT_MSGQUEUE, "Max msgqueue size", "bytes"},
	{unix.RLIMIT_NICE, "Max nice priority", ""},
	{unix.RLIMIT_RTPRIO, "Max realtime priority", ""},
	{unix.RLIMIT_RTTIME, "Max realtime timeout", "us"},
}

// limitsText is /proc/self/limits as Linux's proc_pid_limits: the limits
// getrlimit reports, "unlimited" for RLIM_INFINITY.
func (p *Process) limitsText() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	value := func(v uint64) string {
		if v == rlimInfinity {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	for _, r := range limitRows {
		l := p.limit(r.res)
		fmt.Fprintf(&b, "%-25s %-20s %-20s ", r.name, value(l.Cur), value(l.Max))
		if r.units != "" {
			fmt.Fprintf(&b, "%-10s", r.units)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
