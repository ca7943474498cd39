package syscalls

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The scheduling-policy calls, as Linux's kernel/sched/syscalls.c answers
// them: each thread keeps a policy, a real-time priority and
// SCHED_RESET_ON_FORK, which clone and fork inherit (or, with the flag,
// drop back to SCHED_OTHER and a non-negative nice), and which
// /proc/pid/stat reports. mmvm schedules no vCPU by them. SCHED_DEADLINE
// is refused (EINVAL) for want of its runtime, deadline and period, which
// a real deadline class would admit or not.

// Scheduling policies and flags (include/uapi/linux/sched.h).
const (
	schedOther       = 0
	schedFIFO        = 1
	schedRR          = 2
	schedBatch       = 3
	schedIdle        = 5
	schedDeadline    = 6
	schedExt         = 7
	schedResetOnFork = 0x40000000
	// sched_attr's sched_flags: SCHED_FLAG_RESET_ON_FORK, the flags
	// Linux knows (SCHED_FLAG_ALL), and KEEP_POLICY and KEEP_PARAMS.
	schedFlagResetOnFork = 0x01
	schedFlagAll         = 0x7f
	schedFlagKeepPolicy  = 0x08
	schedFlagKeepParams  = 0x10
	// The sizes of struct sched_attr: the first version, and the one
	// Linux 6.18 knows (with utilization clamps).
	schedAttrSize0 = 48
	schedAttrSize  = 56
	maxRTPrio      = 99
	// rrTimeslice is SCHED_RR's time slice, RR_TIMESLICE (100 ms).
	rrTimeslice = 100_000_000
)

// rtPolicy says policy is a real-time one.
func rtPolicy(policy uint32) bool { return policy == schedFIFO || policy == schedRR }

// sysSchedGetPriorityMax and sysSchedGetPriorityMin bound a policy's
// priority: 1 to 99 for the real-time ones, 0 for the others, EINVAL for
// an unknown one.
func sysSchedGetPriorityMax(t *Task, a *[6]uint64) uint64 {
	return schedPriorityBound(int32(a[0]), maxRTPrio)
}
func sysSchedGetPriorityMin(t *Task, a *[6]uint64) uint64 { return schedPriorityBound(int32(a[0]), 1) }

func schedPriorityBound(policy int32, rt uint64) uint64 {
	switch policy {
	case schedFIFO, schedRR:
		return rt
	case schedOther, schedBatch, schedIdle, schedDeadline, schedExt:
		return 0
	}
	return errno(unix.EINVAL)
}

// schedTarget is the thread pid names (0: the caller): EINVAL for a
// negative pid, ESRCH for none.
func (t *Task) schedTarget(pid uint64) (*Task, unix.Errno) {
	switch {
	case int32(pid) < 0:
		return nil, unix.EINVAL
	case pid == 0:
		return t, 0
	}
	if o := t.tree.task(int(int32(pid))); o != nil {
		return o, 0
	}
	return nil, unix.ESRCH
}

// sysSchedGetscheduler returns the thread's policy, with
// SCHED_RESET_ON_FORK.
func sysSchedGetscheduler(t *Task, a *[6]uint64) uint64 {
	o, e := t.schedTarget(a[0])
	if e != 0 {
		return errno(e)
	}
	policy := uint64(o.sched.policy)
	if o.sched.resetOnFork {
		policy |= schedResetOnFork
	}
	return policy
}

// sysSchedGetparam writes the thread's real-time priority (0 for the
// other policies); a NULL param or a negative pid is EINVAL.
func sysSchedGetparam(t *Task, a *[6]uint64) uint64 {
	if a[1] == 0 || int32(a[0]) < 0 {
		return errno(unix.EINVAL)
	}
	o, e := t.schedTarget(a[0])
	if e != 0 {
		return errno(e)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], o.sched.rtPrio)
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[1]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// sysSchedSetscheduler and sysSchedSetparam set a thread's policy and
// priority (setparam keeps the policy) as do_sched_setscheduler: a NULL
// param or a negative pid EINVAL, the param read (EFAULT), the thread
// (ESRCH), then schedSet's checks.
func sysSchedSetscheduler(t *Task, a *[6]uint64) uint64 {
	return t.schedSetFromParam(a[0], int32(a[1]), a[2])
}

func sysSchedSetparam(t *Task, a *[6]uint64) uint64 { return t.schedSetFromParam(a[0], -1, a[1]) }

func (t *Task) schedSetFromParam(pid uint64, policy int32, param uint64) uint64 {
	if param == 0 || int32(pid) < 0 {
		return errno(unix.EINVAL)
	}
	var b [4]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(param), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	o, e := t.schedTarget(pid)
	if e != 0 {
		return errno(e)
	}
	s := o.sched
	if policy >= 0 {
		s.resetOnFork = policy&schedResetOnFork != 0
		s.policy = uint32(policy &^ schedResetOnFork)
	}
	s.rtPrio = binary.LittleEndian.Uint32(b[:])
	return errno(t.schedSet(o, s, o.nice))
}

// schedSet checks and applies a thread's new policy, priority and nice
// (__sched_setscheduler): an unknown policy, SCHED_DEADLINE (which a
// sched_param cannot describe) or a priority outside the policy's range
// is EINVAL; without CAP_SYS_NICE another user's thread is EPERM, and so
// is a real-time policy or priority above RLIMIT_RTPRIO, or a lower nice
// than RLIMIT_NICE allows.
func (t *Task) schedSet(o *Task, s schedState, nice int32) unix.Errno {
	switch s.policy {
	case schedOther, schedBatch, schedIdle:
		if s.rtPrio != 0 {
			return unix.EINVAL
		}
	case schedFIFO, schedRR:
		if s.rtPrio < 1 || s.rtPrio > maxRTPrio {
			return unix.EINVAL
		}
	default:
		return unix.EINVAL
	}
	if c := &t.cred; !c.capable(unix.CAP_SYS_NICE) {
		if c.euid != o.cred.uid && c.euid != o.cred.euid {
			return unix.EPERM
		}
		if rtPolicy(s.policy) && uint64(s.rtPrio) > t.limit(unix.RLIMIT_RTPRIO).Cur {
			return unix.EPERM
		}
		if nice < o.nice && uint64(20-nice) > t.limit(unix.RLIMIT_NICE).Cur {
			return unix.EPERM
		}
	}
	o.sched, o.nice = s, nice
	return 0
}

// sysSchedRRGetInterval writes the thread's time slice: RR_TIMESLICE for
// SCHED_RR, none for SCHED_FIFO, and for the fair policies the host's
// answer for mmvm's own thread, which those policies share.
func sysSchedRRGetInterval(t *Task, a *[6]uint64) uint64 {
	o, e := t.schedTarget(a[0])
	if e != 0 {
		return errno(e)
	}
	var ns int64
	switch o.sched.policy {
	case schedRR:
		ns = rrTimeslice
	case schedFIFO:
	default:
		var ts unix.Timespec
		if _, _, err := unix.Syscall(unix.SYS_SCHED_RR_GET_INTERVAL, 0, uintptr(unsafe.Pointer(&ts)), 0); err == 0 {
			ns = ts.Nano()
		}
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(ns/1e9))
	binary.LittleEndian.PutUint64(b[8:], uint64(ns%1e9))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(a[1]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// hostSchedAttr is the host's sched_attr for mmvm's own thread, whose
// fair-class fields (the slice as sched_runtime, the utilization clamps)
// the guest's fair threads report as theirs; zero where the host does
// not tell.
func hostSchedAttr() [schedAttrSize]byte {
	var b [schedAttrSize]byte
	unix.Syscall6(unix.SYS_SCHED_GETATTR, 0, uintptr(unsafe.Pointer(&b[0])), schedAttrSize, 0, 0, 0)
	return b
}

// sysSchedGetattr serves sched_getattr(pid, attr, size, flags): flags,
// a NULL attr, a negative pid or a size below the first version's or
// above a page are EINVAL; the thread ESRCH. It writes the attr Linux
// knows, cut to size, its size field what it wrote, and zeroes the rest
// of the caller's size (copy_struct_to_user).
func sysSchedGetattr(t *Task, a *[6]uint64) uint64 {
	pid, addr, size, flags := a[0], a[1], uint32(a[2]), uint32(a[3])
	if addr == 0 || int32(pid) < 0 || size < schedAttrSize0 || size > arch.PageSize || flags != 0 {
		return errno(unix.EINVAL)
	}
	o, e := t.schedTarget(pid)
	if e != 0 {
		return errno(e)
	}
	host := hostSchedAttr()
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(b[0:], min(size, schedAttrSize))
	le.PutUint32(b[4:], o.sched.policy)
	if o.sched.resetOnFork {
		le.PutUint64(b[8:], schedFlagResetOnFork)
	}
	if rtPolicy(o.sched.policy) {
		le.PutUint32(b[20:], o.sched.rtPrio)
	} else {
		le.PutUint32(b[16:], uint32(o.nice))
		copy(b[24:32], host[24:32]) // sched_runtime: the fair slice
	}
	if size >= schedAttrSize {
		copy(b[48:56], host[48:56]) // the utilization clamps
	}
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), b); err != nil {
		return errno(unix.EFAULT)
	}
	return 0
}

// sysSchedSetattr serves sched_setattr(pid, attr, flags): flags, a NULL
// attr or a negative pid EINVAL; the attr read as sched_copy_attr (size 0
// is the first version's; below it, above a page, or with nonzero bytes
// past what Linux knows, E2BIG with Linux's size written back); unknown
// sched_flags EINVAL; nice clamped to -20..19; KEEP_POLICY and
// KEEP_PARAMS keep what they name; then schedSet's checks.
func sysSchedSetattr(t *Task, a *[6]uint64) uint64 {
	pid, addr, flags := a[0], a[1], uint32(a[2])
	if addr == 0 || int32(pid) < 0 || flags != 0 {
		return errno(unix.EINVAL)
	}
	var sz [4]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), sz[:]); err != nil {
		return errno(unix.EFAULT)
	}
	le := binary.LittleEndian
	size := le.Uint32(sz[:])
	if size == 0 {
		size = schedAttrSize0
	}
	tooBig := func() uint64 {
		le.PutUint32(sz[:], schedAttrSize)
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), sz[:]); err != nil {
			return errno(unix.EFAULT)
		}
		return errno(unix.E2BIG)
	}
	if size < schedAttrSize0 || size > arch.PageSize {
		return tooBig()
	}
	b := make([]byte, size)
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b); err != nil {
		return errno(unix.EFAULT)
	}
	for _, x := range b[min(size, schedAttrSize):] {
		if x != 0 {
			return tooBig()
		}
	}
	policy, schedFlags := le.Uint32(b[4:]), le.Uint64(b[8:])
	nice, prio := int32(le.Uint32(b[16:])), le.Uint32(b[20:])
	if schedFlags&^schedFlagAll != 0 {
		return errno(unix.EINVAL)
	}
	nice = min(max(nice, minNice), maxNice)
	o, e := t.schedTarget(pid)
	if e != 0 {
		return errno(e)
	}
	s := schedState{policy: policy, rtPrio: prio, resetOnFork: schedFlags&schedFlagResetOnFork != 0}
	if schedFlags&schedFlagKeepPolicy != 0 {
		s.policy = o.sched.policy
	}
	if schedFlags&schedFlagKeepParams != 0 {
		s.rtPrio = o.sched.rtPrio
	}
	if rtPolicy(s.policy) || schedFlags&schedFlagKeepParams != 0 {
		nice = o.nice // only a fair policy takes the attr's nice
	}
	return errno(t.schedSet(o, s, nice))
}

// schedState is a thread's scheduling policy (schedOther, ...), its
// real-time priority (0 for the other policies) and
// SCHED_RESET_ON_FORK.
type schedState struct {
	policy, rtPrio uint32
	resetOnFork    bool
}

// forkSched is the scheduling state a new thread or process starts with:
// its creator's, or, where SCHED_RESET_ON_FORK is set, SCHED_OTHER and a
// nice no lower than 0 (sched_fork).
func (t *Task) forkSched() (schedState, int32) {
	if !t.sched.resetOnFork {
		return t.sched, t.nice
	}
	s := schedState{}
	if !rtPolicy(t.sched.policy) {
		s.policy = t.sched.policy
	}
	return s, max(t.nice, 0)
}

// File-hint calls: fadvise64, readahead and sync_file_range change no
// state mmvm keeps (its files' pages are in memory), so they answer as
// Linux does and do nothing more.

// sysFadvise64 serves fadvise64(fd, offset, len, advice): EBADF for an fd
// not open, ESPIPE for a pipe, EINVAL for a negative length, an unknown
// advice, or a file with no pages (an eventfd, an epoll instance).
func sysFadvise64(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.pipe != nil {
		return errno(unix.ESPIPE)
	}
	if int64(a[2]) < 0 || a[3] > unix.FADV_NOREUSE || f.anon != nil {
		return errno(unix.EINVAL)
	}
	return 0
}

// sysReadahead serves readahead(fd, offset, count): EBADF for an fd not
// open for reading, EINVAL for anything but a regular file.
func sysReadahead(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.flags&unix.O_ACCMODE == unix.O_WRONLY || f.fs != nil && f.fs.pathOnly {
		return errno(unix.EBADF)
	}
	if f.fs == nil || f.fs.st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errno(unix.EINVAL)
	}
	return 0
}

// sysSyncFileRange serves sync_file_range(fd, offset, nbytes, flags):
// unknown flags, a negative offset or length or a range past the largest
// offset EINVAL, an fd not open EBADF, a pipe or socket ESPIPE.
func sysSyncFileRange(t *Task, a *[6]uint64) uint64 {
	off, n, flags := int64(a[1]), int64(a[2]), a[3]
	if flags&^(unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER) != 0 ||
		off < 0 || n < 0 || off+n < off {
		return errno(unix.EINVAL)
	}
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs == nil {
		return errno(unix.ESPIPE)
	}
	switch f.fs.st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFBLK, unix.S_IFDIR, unix.S_IFLNK:
		return 0
	}
	return errno(unix.ESPIPE)
}
