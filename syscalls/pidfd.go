package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// pidfds (pidfd_open) name a process, or with PIDFD_THREAD one thread,
// as Linux's pidfs files: poll reports EPOLLIN once it has ended (a
// process when its last thread has, not at its main thread's early
// exit) and EPOLLHUP too once it is reaped; read and write are EINVAL.
// pidfd_send_signal, pidfd_getfd, process_madvise and process_mrelease
// take one, or PIDFD_SELF_THREAD and PIDFD_SELF_THREAD_GROUP for the
// caller. The tree wakes every pidfd's waiters when a process or thread
// ends (pidfdsLookAgain).

// pidfd_open's and pidfd_send_signal's flags, and the fds that name the
// caller.
const (
	pidfdThread = unix.O_EXCL // PIDFD_THREAD
	// pidfdSignalThread, pidfdSignalThreadGroup and
	// pidfdSignalProcessGroup are PIDFD_SIGNAL_*: whom the signal goes
	// to.
	pidfdSignalThread       = 1
	pidfdSignalThreadGroup  = 2
	pidfdSignalProcessGroup = 4
	pidfdSelfThread         = -10000 // PIDFD_SELF_THREAD
	pidfdSelfThreadGroup    = -10001 // PIDFD_SELF_THREAD_GROUP
)

// pidFD is the file of a pidfd.
type pidFD struct {
	// task is the thread the pidfd names: the main thread of a process
	// (thread false), or any thread (PIDFD_THREAD).
	task   *Task
	thread bool
	// tree holds the pidfds its ends wake; wq is where epoll items and
	// blocked calls wait.
	tree *processTree
	wq   waitQueue
}

// ended reports whether what f names has ended (EPOLLIN) and whether it
// is gone too (EPOLLHUP): reaped, for a process or a main thread, or,
// for another thread, exited (Linux reaps it at once).
func (f *pidFD) ended() (ended, gone bool) {
	p := f.task.Process
	if !f.thread || f.task == p.main {
		// delay_group_leader: a main thread that exited before its
		// process ended is not ready until the process is.
		return p.ended.Load(), p.family.reaped
	}
	ended = f.task.exitedThread.Load() || p.ended.Load()
	return ended, ended
}

// pollMask is Linux's pidfd_poll.
func (f *pidFD) pollMask(int) uint32 {
	switch ended, gone := f.ended(); {
	case gone:
		return epollIn | epollRdNorm | epollHup
	case ended:
		return epollIn | epollRdNorm
	}
	return 0
}

func (f *pidFD) read(*Task, *openFile, arch.Addr, uint64) uint64 { return errno(unix.EINVAL) }
func (f *pidFD) readv(*Task, *openFile, []byte, uint64, uint64) uint64 {
	return errno(unix.EINVAL)
}
func (f *pidFD) write(*Task, *openFile, arch.Addr, uint64) uint64 { return errno(unix.EINVAL) }
func (f *pidFD) writev(*Task, *openFile, []byte, uint64) uint64   { return errno(unix.EINVAL) }
func (f *pidFD) queue() *waitQueue                                { return &f.wq }
func (f *pidFD) release()                                         { delete(f.tree.pidfds, f) }
func (f *pidFD) anonName() string                                 { return "pidfd" }

// pidfdsLookAgain wakes the waiters of every pidfd, and every poll and
// select, after a process or thread ended or was reaped. tr.mu must be
// held.
func (tr *processTree) pidfdsLookAgain() {
	if len(tr.pidfds) == 0 {
		return
	}
	for f := range tr.pidfds {
		f.wq.notify(f.pollMask(0))
	}
	tr.root.fdWaitersLookAgain()
}

// sysPidfdOpen serves pidfd_open(pid, flags) as Linux: flags other than
// PIDFD_NONBLOCK and PIDFD_THREAD or a pid not above 0 are EINVAL; a pid
// that names no thread (a reaped one) ESRCH, one that names a thread but
// not a process without PIDFD_THREAD ENOENT. The fd is close-on-exec,
// its description O_RDWR with the flags given.
func sysPidfdOpen(t *Task, a *[6]uint64) uint64 {
	pid, flags := int32(a[0]), uint32(a[1])
	if flags&^(unix.O_NONBLOCK|pidfdThread) != 0 || pid <= 0 {
		return errno(unix.EINVAL)
	}
	target := t.tree.task(int(pid))
	if target == nil {
		return errno(unix.ESRCH)
	}
	thread := flags&pidfdThread != 0
	if !thread && target != target.main {
		return errno(unix.ENOENT)
	}
	return t.newPidfd(target, thread, flags)
}

// newPidfd installs a pidfd for target at the lowest free fd.
func (t *Task) newPidfd(target *Task, thread bool, flags uint32) uint64 {
	f := &pidFD{task: target, thread: thread, tree: t.tree}
	r := t.installAnon(f, unix.O_RDWR|flags, true)
	if int64(r) >= 0 {
		if t.tree.pidfds == nil {
			t.tree.pidfds = make(map[*pidFD]struct{})
		}
		t.tree.pidfds[f] = struct{}{}
	}
	return r
}

// pidfdOf returns the pidfd fd names, EBADF for an fd that is not open
// or not a pidfd; with self, PIDFD_SELF_THREAD and
// PIDFD_SELF_THREAD_GROUP name the caller's thread and process (as
// pidfd_send_signal, process_madvise and process_mrelease take them;
// pidfd_getfd does not).
func (t *Task) pidfdOf(fd uint64, self bool) (*pidFD, unix.Errno) {
	switch int32(fd) {
	case pidfdSelfThread:
		if self {
			return &pidFD{task: t, thread: true, tree: t.tree}, 0
		}
	case pidfdSelfThreadGroup:
		if self {
			return &pidFD{task: t.main, tree: t.tree}, 0
		}
	}
	f, e := t.file(fd)
	if e != 0 {
		return nil, e
	}
	pf, ok := f.anon.(*pidFD)
	if !ok {
		return nil, unix.EBADF
	}
	return pf, 0
}

// liveTask is Linux's pidfd_get_task: the thread or process f names,
// ESRCH once it is gone (reaped; a zombie process is still there).
func (f *pidFD) liveTask() (*Task, unix.Errno) {
	if _, gone := f.ended(); gone {
		return nil, unix.ESRCH
	}
	return f.task, 0
}

// sysPidfdSendSignal serves pidfd_send_signal(pidfd, sig, info, flags) as
// Linux, in its order: flags (at most one PIDFD_SIGNAL_*) EINVAL, the
// pidfd EBADF, the siginfo read (EFAULT; its si_signo must be sig,
// EINVAL; a si_code of the kernel's own or SI_TKILL only to the caller's
// process, EPERM), then the target gone ESRCH, an invalid signal
// EINVAL and one the caller may not send EPERM (mayKill); signal 0 only
// checks. Without flags a PIDFD_THREAD pidfd
// signals its thread, any other its process.
func sysPidfdSendSignal(t *Task, a *[6]uint64) uint64 {
	sig, infoAddr, flags := a[1], a[2], uint32(a[3])
	const scopes = pidfdSignalThread | pidfdSignalThreadGroup | pidfdSignalProcessGroup
	if flags&^scopes != 0 || flags&(flags-1) != 0 {
		return errno(unix.EINVAL)
	}
	pf, e := t.pidfdOf(a[0], true)
	if e != 0 {
		return errno(e)
	}
	scope := flags
	if scope == 0 {
		scope = pidfdSignalThreadGroup
		if pf.thread {
			scope = pidfdSignalThread
		}
	}
	code := int32(siUser)
	if scope == pidfdSignalThread {
		code = siTkill
	}
	s, info, ok, e := t.userSignal(sig, code, "pidfd_send_signal")
	if infoAddr != 0 {
		// si_signo, si_errno, si_code, then kill's si_pid and si_uid
		// at 16.
		var b [24]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(infoAddr), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		if uint64(int64(int32(binary.LittleEndian.Uint32(b[0:])))) != sig {
			return errno(unix.EINVAL)
		}
		info.code = int32(binary.LittleEndian.Uint32(b[8:]))
		info.pid, info.uid = binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:])
		self := pf.task.Process == t.Process && scope != pidfdSignalProcessGroup
		if !self && (info.code >= 0 || info.code == siTkill) {
			return errno(unix.EPERM)
		}
	}
	target, ge := pf.liveTask()
	if ge != 0 {
		return errno(ge)
	}
	if e == 0 && scope != pidfdSignalProcessGroup {
		e = t.mayKill(target, s)
	}
	if e != 0 || !ok {
		return errno0(e)
	}
	switch scope {
	case pidfdSignalThread:
		if !target.Exited() {
			e = target.sendToThread(t, s, info)
		}
	case pidfdSignalThreadGroup:
		if !target.ended.Load() {
			e = target.sendToProcess(t, s, info)
		}
	default:
		e = unix.ESRCH
		for _, p := range t.killTargets(-int32(target.family.pgid)) {
			err := t.mayKill(p.main, s)
			if err == 0 && !p.ended.Load() {
				err = p.sendToProcess(t, s, info)
			}
			if err == 0 || e != 0 {
				e = err
			}
		}
	}
	return errno0(e)
}

// mayAccess is Linux's ptrace_may_access for the calls that read another
// process (pidfd_getfd, process_madvise), for the guest's credentials:
// CAP_SYS_PTRACE, or real, effective and saved ids all the caller's.
func (t *Task) mayAccess(target *Task) bool {
	c, o := &t.cred, &target.cred
	if target.Process == t.Process || c.capable(unix.CAP_SYS_PTRACE) {
		return true
	}
	return c.uid == o.uid && c.uid == o.euid && c.uid == o.suid &&
		c.gid == o.gid && c.gid == o.egid && c.gid == o.sgid
}

// sysPidfdGetfd serves pidfd_getfd(pidfd, targetfd, flags): a new,
// close-on-exec fd of the caller naming the open file description that
// targetfd names in the pidfd's process. Flags EINVAL, the pidfd EBADF,
// the process gone ESRCH, not accessible EPERM, targetfd not open EBADF
// (ESRCH once the process ended and closed its files), then EMFILE.
func sysPidfdGetfd(t *Task, a *[6]uint64) uint64 {
	if uint32(a[2]) != 0 {
		return errno(unix.EINVAL)
	}
	pf, e := t.pidfdOf(a[0], false)
	if e != 0 {
		return errno(e)
	}
	target, e := pf.liveTask()
	if e != 0 {
		return errno(e)
	}
	if !t.mayAccess(target) {
		return errno(unix.EPERM)
	}
	f, e := target.file(a[1])
	if e != 0 {
		if target.ended.Load() {
			return errno(unix.ESRCH)
		}
		return errno(e)
	}
	fd, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	t.install(fd, f, true)
	return uint64(fd)
}

// processMadviseRemote are the advice values process_madvise takes for
// another process: MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED and
// MADV_COLLAPSE (process_madvise_remote_valid).
func processMadviseRemote(advice int32) bool {
	switch advice {
	case unix.MADV_COLD, unix.MADV_PAGEOUT, unix.MADV_WILLNEED, unix.MADV_COLLAPSE:
		return true
	}
	return false
}

// sysProcessMadvise serves process_madvise(pidfd, iov, vlen, advice,
// flags) as Linux 6.18: flags EINVAL, the iovec read (EINVAL, EFAULT),
// the pidfd (EBADF, ESRCH), access (EPERM); another process takes only
// the advice processMadviseRemote allows (EINVAL) and needs CAP_SYS_NICE
// (EPERM); the caller's own takes any madvise takes. Each range is
// advised in turn, as madvise would (a length that rounds to 0 skipped);
// the first failure stops it. The result is the bytes of the ranges
// done, or, if none was, the failure.
func sysProcessMadvise(t *Task, a *[6]uint64) uint64 {
	vec, vlen, advice := a[1], a[2], int32(a[3])
	if uint32(a[4]) != 0 {
		return errno(unix.EINVAL)
	}
	iov, _, e := t.readIOVec(arch.Addr(vec), vlen)
	if e != 0 {
		return errno(e)
	}
	pf, e := t.pidfdOf(a[0], true)
	if e != 0 {
		return errno(e)
	}
	target, e := pf.liveTask()
	if e == 0 && target.ended.Load() {
		e = unix.ESRCH // a zombie has no memory left (mm_access)
	}
	if e != 0 {
		return errno(e)
	}
	if !t.mayAccess(target) {
		return errno(unix.EPERM)
	}
	if target.Process != t.Process {
		if !processMadviseRemote(advice) {
			return errno(unix.EINVAL)
		}
		if !t.cred.capable(unix.CAP_SYS_NICE) {
			return errno(unix.EPERM)
		}
	}
	calls := target.cfg.Calls
	var done uint64
	var err error
	for i := uint64(0); i < vlen; i++ {
		base, length := binary.LittleEndian.Uint64(iov[16*i:]), binary.LittleEndian.Uint64(iov[16*i+8:])
		err = t.memoryCall(func() error { return calls.Madvise(base, length, uint64(uint32(advice))) })
		if err != nil {
			break
		}
		done += length
	}
	if done > 0 {
		return done
	}
	return result(0, err)
}

// sysProcessMrelease serves process_mrelease(pidfd, flags): flags EINVAL,
// the pidfd EBADF, a process that has ended (its memory gone) or was
// reaped ESRCH. A process with a fatal signal pending is dying, as
// Linux's task_will_free_mem sees one after kill's SIGKILL: 0, its memory
// going with its exit, which the signal has made certain (Linux reaps it
// in the call). Any other is not exiting: EINVAL.
func sysProcessMrelease(t *Task, a *[6]uint64) uint64 {
	if uint32(a[1]) != 0 {
		return errno(unix.EINVAL)
	}
	pf, e := t.pidfdOf(a[0], true)
	if e != 0 {
		return errno(e)
	}
	if ended, _ := pf.ended(); ended {
		return errno(unix.ESRCH)
	}
	if pf.task.Process.dying() {
		return 0
	}
	return errno(unix.EINVAL)
}

// dying reports whether a thread of p has a fatal signal pending. p.mu
// (the tree lock, which the calling thread holds) must be held.
func (p *Process) dying() bool {
	for _, t := range p.tasks {
		if t.fatalSignalPending() {
			return true
		}
	}
	return false
}
