package syscalls

import (
	"bytes"
	"encoding/binary"
	"path"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The calls that tell a program about itself and its machine, answered as
// Linux answers them for the processes of one VM, on the CPUs the
// machine gives them.

// procState is what these calls keep.
type procState struct {
	// exe is the program's path as readlink("/proc/self/exe") reports it;
	// argv its command line (/proc/self/cmdline), envp its environment
	// (/proc/self/environ), layout where its image lies
	// (/proc/self/stat).
	exe    string
	argv   []string
	envp   []string
	layout ImageLayout
	// cwd is the working directory ("" is "/").
	cwd string
	// umask is the file-creation mask xor'ed with defaultUmask, so that
	// the zero value is the default.
	umask uint32
	// pdeathSig, notDumpable, subreaper and noNewPrivs are prctl's
	// settings (the zero values are Linux's defaults, but for timerSlack,
	// 0 meaning the default).
	pdeathSig   uint32
	notDumpable bool
	subreaper   bool
	noNewPrivs  bool
	timerSlack  uint64
}

const (
	// taskCommLen is TASK_COMM_LEN: the task name with its NUL.
	taskCommLen = 16
	// defaultUmask is the mask a login shell usually hands its programs.
	defaultUmask = 0o022
	// pathMax is PATH_MAX, counting the NUL.
	pathMax = 4096
	// defaultTimerSlack is Linux's default timer slack, in nanoseconds.
	defaultTimerSlack = 50000
)

// SetExecutable records the program's guest path exe, absolute
// (/proc/self/exe is always absolute), and names the task after its last
// element, as execve does: GuestPathOf's where a view shows the program,
// else the path mmvm was given, made absolute.
//
// The guest sees the program at exe, read-only, and the file at hostPath
// on the host behind it, unless a view shows a file there already
// (SetExecutable must come before the program's first call).
func (p *Process) SetExecutable(exe, hostPath string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info.exe = exe
	p.hostExe = hostPath
	p.main.comm = [taskCommLen]byte{}
	copy(p.main.comm[:taskCommLen-1], path.Base(exe))
	if p.fsys != nil {
		p.fsys.addExe(p)
	}
}

// GuestPathOf is the guest path at which a view shows the host file
// hostPath: beneath the view whose host directory holds the file (its
// links resolved), the innermost first, where the guest's lookup of that
// path reaches the same host file (another view may shadow it). ok is
// false where no view shows it.
func (p *Process) GuestPathOf(hostPath string) (guestPath string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var want unix.Stat_t
	if unix.Stat(hostPath, &want) != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(hostPath)
	if err != nil {
		return "", false
	}
	fs := p.fs()
	views := append([]*viewRoot(nil), fs.views...)
	sort.SliceStable(views, func(i, j int) bool { return len(views[i].Host) > len(views[j].Host) })
	for _, v := range views {
		g := viewGuestPath(v, real, "")
		if g == "" {
			continue
		}
		l, e := fs.walk(p, g, true, 0)
		if e != 0 {
			continue
		}
		var st unix.Stat_t
		same := l.hostFD >= 0 && unix.Fstat(l.hostFD, &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino
		l.close()
		if same {
			return g, true
		}
	}
	return "", false
}

// SetCommandLine records the program's argv, for /proc/self/cmdline.
func (p *Process) SetCommandLine(argv []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info.argv = append([]string(nil), argv...)
}

// Usage is the program's memory figures, for sysinfo and getrusage.
type Usage struct {
	// RSS and PeakRSS are the resident bytes now and at most; Faults the
	// page faults that installed memory (minor faults: none reads a
	// disk).
	RSS, PeakRSS, Faults uint64
	// CPU is the CPU time of the process's threads (cputime.go): 0 in
	// what Config.Usage returns, the package fills it for an ended
	// process and its reaped children.
	CPU time.Duration
}

func (p *Process) usage() Usage {
	if p.cfg.Usage == nil {
		return Usage{}
	}
	return p.cfg.Usage()
}

// copyInString reads a NUL-terminated string of at most max bytes with
// its NUL: ENAMETOOLONG if longer, EFAULT if a byte it needs is
// unreadable.
func (p *Process) copyInString(addr arch.Addr, max int) (string, unix.Errno) {
	var out []byte
	buf := make([]byte, 256)
	for len(out) < max {
		chunk := buf[:min(len(buf), max-len(out))]
		n, err := p.cfg.Memory.CopyIn(addr+arch.Addr(len(out)), chunk)
		if i := bytes.IndexByte(chunk[:n], 0); i >= 0 {
			return string(append(out, chunk[:i]...)), 0
		}
		if err != nil {
			return "", unix.EFAULT
		}
		out = append(out, chunk[:n]...)
	}
	return "", unix.ENAMETOOLONG
}

// atFDCWD is AT_FDCWD as a raw argument.
const atFDCWD = uint64(1<<32 + unix.AT_FDCWD)

func sysUmask(t *Task, a *[6]uint64) uint64 {
	old := t.info.umask ^ defaultUmask
	t.info.umask = uint32(a[0])&0o777 ^ defaultUmask
	return uint64(old)
}

// cpuMaskSize is cpumask_size() for up to 64 CPUs: one unsigned long.
const cpuMaskSize = 8

// cpuMask is the CPUs the program may run on: CPUs 0 to Config.CPUs-1.
func (p *Process) cpuMask() uint64 {
	n := min(max(p.cfg.CPUs, 1), 64)
	if n == 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// knownPID says whether a pid_t argument names a process of the VM: 0
// (the caller), or the id of a thread of one (Linux's find_task_by_vpid
// finds any thread, and a zombie's main thread). p.mu must be held.
func (t *Task) knownPID(pid uint64) bool { return t.processOf(int32(pid)) != nil }

// sysGetcpu reports CPU 0 on node 0, the vCPU, as the vDSO's getcpu does;
// each of cpu and node is written when not null, EFAULT if either cannot
// be (Linux tries both).
func sysGetcpu(t *Task, a *[6]uint64) uint64 {
	var zero [4]byte
	failed := false
	for _, at := range a[:2] {
		if at != 0 {
			if _, err := t.cfg.Memory.CopyOut(arch.Addr(at), zero[:]); err != nil {
				failed = true
			}
		}
	}
	if failed {
		return errno(unix.EFAULT)
	}
	return 0
}

// sysSchedGetaffinity reports the program's CPUs (cpuMask), checking len as Linux does:
// EINVAL when it holds fewer bits than there are CPUs or is not a multiple
// of 8; it returns the bytes written, min(len, cpumask_size()).
func sysSchedGetaffinity(t *Task, a *[6]uint64) uint64 {
	n := uint64(uint32(a[1]))
	if n*8 < 1 || n&7 != 0 {
		return errno(unix.EINVAL)
	}
	if !t.knownPID(a[0]) {
		return errno(unix.ESRCH)
	}
	var mask [cpuMaskSize]byte
	binary.LittleEndian.PutUint64(mask[:], t.cpuMask())
	w := min(n, cpuMaskSize)
	if r := t.copyOutAll(arch.Addr(a[2]), mask[:w]); r != 0 {
		return r
	}
	return w
}

// sysSchedSetaffinity accepts any mask that contains one of the program's
// CPUs (and changes nothing: every vCPU runs on any host CPU): EFAULT for
// an unreadable mask (as much of it as Linux reads, min(len,
// cpumask_size())), ESRCH for another pid, EINVAL for a mask with none of
// them.
func sysSchedSetaffinity(t *Task, a *[6]uint64) uint64 {
	n := min(uint64(uint32(a[1])), cpuMaskSize)
	var mask [cpuMaskSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[2]), mask[:n]); err != nil {
		return errno(unix.EFAULT)
	}
	if !t.knownPID(a[0]) {
		return errno(unix.ESRCH)
	}
	if binary.LittleEndian.Uint64(mask[:])&t.cpuMask() == 0 {
		return errno(unix.EINVAL)
	}
	return 0
}

// struct sysinfo on x86-64: uptime and loads[3] (longs), totalram,
// freeram, sharedram, bufferram, totalswap, freeswap (unsigned longs),
// procs and pad (u16), 4 bytes of padding, totalhigh, freehigh (unsigned
// longs), mem_unit (u32) and the padding to 112 bytes.
const (
	sysinfoSize     = 112
	sysinfoTotalRAM = 32
	sysinfoFreeRAM  = 40
	sysinfoProcs    = 80
	sysinfoMemUnit  = 104
)

// sysSysinfo describes the guest's machine: its memory is the program's
// memory limit, of which what the program does not use is free; it has no
// swap, as many processes as the VM has threads (Linux's nr_threads), and
// its uptime and loads are the host's, as /proc/uptime and /proc/loadavg
// show them.
func sysSysinfo(t *Task, a *[6]uint64) uint64 {
	var b [sysinfoSize]byte
	le := binary.LittleEndian
	var host unix.Sysinfo_t
	if unix.Sysinfo(&host) == nil {
		le.PutUint64(b[0:], uint64(host.Uptime))
		for i, l := range host.Loads {
			le.PutUint64(b[8+8*i:], l)
		}
	} else {
		up := t.cfg.Monotonic()
		le.PutUint64(b[0:], uint64((up+time.Second-1)/time.Second))
	}
	total := t.cfg.MemoryLimit
	used := min(t.usage().RSS, total)
	le.PutUint64(b[sysinfoTotalRAM:], total)
	le.PutUint64(b[sysinfoFreeRAM:], total-used)
	le.PutUint16(b[sysinfoProcs:], uint16(min(t.tree.threads(), 0xffff)))
	le.PutUint32(b[sysinfoMemUnit:], 1)
	return t.copyOutAll(arch.Addr(a[0]), b[:])
}

// struct rusage on x86-64: ru_utime and ru_stime (struct timeval, 16 bytes
// each), then 14 longs from ru_maxrss (KiB) to ru_nivcsw.
const (
	rusageSize   = 144
	rusageMaxRSS = 32
	rusageMinflt = 64
)

// sysGetrusage reports, for the program (RUSAGE_SELF) or the calling
// thread (RUSAGE_THREAD): its CPU time (cputime.go), its peak RSS from mm
// and as minor faults mm's faults that installed memory; for
// RUSAGE_CHILDREN, the children it reaped with a wait and their reaped
// descendants: the sum of their CPU times, the largest peak RSS and the
// sum of the faults (rusageOf). The other counters are 0.
func sysGetrusage(t *Task, a *[6]uint64) uint64 {
	var b [rusageSize]byte
	switch int32(a[0]) {
	case unix.RUSAGE_SELF:
		u := t.usage()
		u.CPU = t.Process.cpuTime()
		b = rusageOf(u)
	case unix.RUSAGE_THREAD:
		u := t.usage()
		u.CPU = t.cpuTime()
		b = rusageOf(u)
	case unix.RUSAGE_CHILDREN:
		b = rusageOf(t.family.reapedChildren)
	default:
		return errno(unix.EINVAL)
	}
	return t.copyOutAll(arch.Addr(a[1]), b[:])
}

// userHZ is the unit of times's clock ticks (Linux's USER_HZ, what
// sysconf(_SC_CLK_TCK) reports).
const userHZ = 100

// sysTimes writes a struct tms (user and system time of the process and
// of its reaped children, as getrusage reports them, in clock ticks)
// where buf is not NULL (EFAULT where it cannot), and returns the
// clock-tick count of the monotonic clock clock_gettime reads: like
// Linux's, a count from an arbitrary start whose differences measure
// elapsed time.
func sysTimes(t *Task, a *[6]uint64) uint64 {
	if a[0] != 0 {
		var b [32]byte
		ticks := func(d time.Duration) uint64 { return uint64(d / (time.Second / userHZ)) }
		binary.LittleEndian.PutUint64(b[0:], ticks(t.Process.cpuTime()))
		binary.LittleEndian.PutUint64(b[16:], ticks(t.family.reapedChildren.CPU))
		if r := t.copyOutAll(arch.Addr(a[0]), b[:]); r != 0 {
			return r
		}
	}
	return uint64(t.cfg.Monotonic() / (time.Second / userHZ))
}

// prGetMDWE is PR_GET_MDWE, which x/sys/unix does not name.
const prGetMDWE = 66

// sysPrctl serves the options a process alone can use, as Linux answers
// them; any other option is EINVAL, Linux's answer for one it does not
// know.
func sysPrctl(t *Task, a *[6]uint64) uint64 {
	option, arg2 := a[0], a[1]
	switch option {
	case unix.PR_SET_NAME:
		// strncpy_from_user of at most 15 bytes: a NUL within the
		// readable part ends it.
		var name [taskCommLen - 1]byte
		n, err := t.cfg.Memory.CopyIn(arch.Addr(arg2), name[:])
		if i := bytes.IndexByte(name[:n], 0); i >= 0 {
			n, err = i, nil
		}
		if err != nil {
			return errno(unix.EFAULT)
		}
		t.comm = [taskCommLen]byte{}
		copy(t.comm[:], name[:n])
		return 0
	case unix.PR_GET_NAME:
		return t.copyOutAll(arch.Addr(arg2), t.comm[:])
	case unix.PR_SET_PDEATHSIG:
		if arg2 > 64 {
			return errno(unix.EINVAL)
		}
		t.info.pdeathSig = uint32(arg2)
		return 0
	case unix.PR_GET_PDEATHSIG:
		return t.putInt(arg2, t.info.pdeathSig)
	case unix.PR_GET_DUMPABLE:
		if t.info.notDumpable {
			return 0
		}
		return 1
	case unix.PR_SET_DUMPABLE:
		if arg2 > 1 {
			return errno(unix.EINVAL)
		}
		t.info.notDumpable = arg2 == 0
		return 0
	case unix.PR_SET_CHILD_SUBREAPER:
		t.info.subreaper = arg2 != 0
		return 0
	case unix.PR_GET_CHILD_SUBREAPER:
		var v uint32
		if t.info.subreaper {
			v = 1
		}
		return t.putInt(arg2, v)
	case unix.PR_SET_NO_NEW_PRIVS:
		if arg2 != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return errno(unix.EINVAL)
		}
		t.info.noNewPrivs = true
		return 0
	case unix.PR_GET_NO_NEW_PRIVS:
		if arg2 != 0 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return errno(unix.EINVAL)
		}
		if t.info.noNewPrivs {
			return 1
		}
		return 0
	case unix.PR_GET_TIMERSLACK:
		if t.info.timerSlack == 0 {
			return defaultTimerSlack
		}
		return t.info.timerSlack
	case unix.PR_SET_TIMERSLACK:
		t.info.timerSlack = arg2 // 0 restores the default
		return 0
	case unix.PR_CAPBSET_READ, unix.PR_CAPBSET_DROP, unix.PR_CAP_AMBIENT, unix.PR_GET_SECUREBITS,
		unix.PR_SET_SECUREBITS, unix.PR_GET_KEEPCAPS, unix.PR_SET_KEEPCAPS:
		return t.capPrctl(option, a)
	case unix.PR_GET_SECCOMP:
		return 0 // no seccomp filter
	case unix.PR_SET_MDWE:
		return result(0, t.cfg.Calls.SetMDWE(arg2, [3]uint64{a[2], a[3], a[4]}))
	case prGetMDWE:
		v, err := t.cfg.Calls.MDWE([4]uint64{arg2, a[2], a[3], a[4]})
		return result(v, err)
	case unix.PR_SET_THP_DISABLE:
		return result(0, t.cfg.Calls.SetTHPDisable(arg2, a[2], [2]uint64{a[3], a[4]}))
	case unix.PR_GET_THP_DISABLE:
		v, err := t.cfg.Calls.THPDisable([4]uint64{arg2, a[2], a[3], a[4]})
		return result(v, err)
	}
	return errno(unix.EINVAL)
}

// putInt writes a 32-bit int at addr.
func (p *Process) putInt(addr uint64, v uint32) uint64 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return p.copyOutAll(arch.Addr(addr), b[:])
}
