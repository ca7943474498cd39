package syscalls

import (
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// execve and execveat run a new program in the calling process, as Linux's
// fs/exec.c does, in its order:
//
//  1. The checks (prepareExec): the path is read (getname), the file it
//     names is found and checked (do_open_execat), then argv and envp are
//     counted and checked against the room the stack limit leaves them
//     (count, bprm_stack_limits), and their strings read (copy_strings).
//     AT_EXECVE_CHECK stops here with 0.
//  2. The other threads end (endOtherThreads, Linux's de_thread), their
//     calls finish (waitForCallsToEnd), and a thread other than the main
//     one takes over the PID (becomeLeader).
//  3. The thread's robust futexes are released in the old memory
//     (releaseOldMemory), and the machine replaces the memory
//     (Config.Exec), without the Process lock. Its errors leave the
//     process as it was but for step 2 and the robust futexes: Linux
//     checks the ELF file before its de_thread, mmvm's machine after.
//  4. What Linux's begin_new_exec and setup_new_exec reset (beginNewExec),
//     and the thread returns into the new program with the registers Exec
//     gave, the whole context replaced (the redirected return
//     rt_sigreturn uses).
//
// Host files run (a file of a view, or the program itself; a "#!" script
// runs its interpreter, execscript.go), and memfds
// (fexecve: execveat of the fd with AT_EMPTY_PATH) whose mode has an
// execute bit (not MFD_NOEXEC_SEAL's). /proc and /dev are EACCES, as
// Linux answers for a noexec mount. The new program sees guest names
// only (ExecProgram): the path it was exec'ed by, the file's guest path.

// Linux's bounds on execve's arguments (include/uapi/linux/binfmts.h,
// fs/exec.c).
const (
	// maxArgStrlen is MAX_ARG_STRLEN: one string's bytes with its NUL.
	maxArgStrlen = 32 * arch.PageSize
	// maxArgStrings is MAX_ARG_STRINGS: the most pointers argv or envp
	// may hold.
	maxArgStrings = 0x7fff_ffff
	// argMax is ARG_MAX: the room the strings always have, however
	// small the stack limit.
	argMax = 32 * arch.PageSize
	// stackLimitDefault is _STK_LIM: the strings never get more than 3/4
	// of it.
	stackLimitDefault = 8 << 20
	// atExecveCheck is AT_EXECVE_CHECK (Linux 6.14): check everything
	// execveat would, run nothing.
	atExecveCheck = 0x10000
	// execveatFlags are the flags execveat accepts.
	execveatFlags = unix.AT_SYMLINK_NOFOLLOW | unix.AT_EMPTY_PATH | atExecveCheck
)

// execImage is what one execve runs: the part of Linux's linux_binprm
// mmvm keeps.
type execImage struct {
	// filename is bprm->filename: the path as the program gave it, or
	// /dev/fd/N and /dev/fd/N/PATH for execveat relative to an fd.
	filename string
	// comm is the task name the new program gets: the last element of
	// filename, or the file's own name when an fd named the file
	// (execveat with AT_EMPTY_PATH; a memfd's is memfd:NAME).
	comm string
	// guestPath is the file's path in the guest with its symbolic links
	// resolved (what /proc/self/exe reads); hostPath the host file
	// behind it, which Config.Exec runs, or shared the memfd that holds
	// the program (one reference held, dropped by release).
	guestPath, hostPath string
	shared              SharedFile
	// argv and envp are the strings read; argv has at least one.
	argv, envp []string
	// pathInaccessible is Linux's BINPRM_FLAGS_PATH_INACCESSIBLE: the
	// file was named relative to a close-on-exec fd, so that the new
	// program cannot open it by filename.
	pathInaccessible bool
}

func sysExecve(t *Task, a *[6]uint64) uint64 {
	return t.execveat(atFDCWD, a[0], a[1], a[2], 0)
}

func sysExecveat(t *Task, a *[6]uint64) uint64 {
	return t.execveat(a[0], a[1], a[2], a[3], uint32(a[4]))
}

// execveat serves execve and execveat: ENOSYS where the machine runs no
// new programs (Config.Exec nil).
func (t *Task) execveat(dirfd, pathAddr, argvAddr, envpAddr uint64, flags uint32) uint64 {
	if t.cfg.Exec == nil {
		return errno(unix.ENOSYS)
	}
	img, e := t.prepareExec(dirfd, pathAddr, argvAddr, envpAddr, flags)
	if e != 0 {
		return errno(e)
	}
	if flags&atExecveCheck != 0 {
		img.release()
		return 0
	}
	t.waitForCallsToEnd(t.endOtherThreads())
	if t.Exited() {
		img.release()
		return errno(unix.EINTR) // killed meanwhile: the value reaches no one
	}
	t.becomeLeader()
	t.releaseOldMemory()
	var regs UserRegs
	var err error
	prog := ExecProgram{Filename: img.filename, GuestPath: img.guestPath, HostPath: img.hostPath, Shared: img.shared}
	t.withoutLock(func() { regs, err = t.cfg.Exec(t, prog, img.argv, img.envp) })
	if err != nil {
		img.release()
		return errno(toErrno(err))
	}
	t.beginNewExec(img)
	*t.regs = regs
	t.tsig.redirected = true
	t.execDone()
	return regs.RAX
}

// prepareExec makes every check execve makes before it changes anything,
// in Linux's order: the path, the file, the arguments, then a script's
// interpreter.
func (t *Task) prepareExec(dirfd, pathAddr, argvAddr, envpAddr uint64, flags uint32) (*execImage, unix.Errno) {
	name, e := t.copyInString(arch.Addr(pathAddr), pathMax)
	if e != 0 {
		return nil, e
	}
	if name == "" && flags&unix.AT_EMPTY_PATH == 0 {
		return nil, unix.ENOENT
	}
	if flags&^execveatFlags != 0 {
		return nil, unix.EINVAL
	}
	img, e := t.findExecFile(dirfd, name, flags)
	if e != 0 {
		return nil, e
	}
	room, e := t.readExecArgs(img, argvAddr, envpAddr)
	if e == 0 {
		e = t.loadScripts(img, &room)
	}
	if e != 0 {
		img.release()
		return nil, e
	}
	return img, 0
}

// release drops the reference img holds on a memfd's contents.
func (img *execImage) release() {
	if img.shared != nil {
		img.shared.DecRef()
		img.shared = nil
	}
}

// findExecFile finds the file execve runs (do_open_execat) and names it
// as Linux's alloc_bprm does: name against dirfd, following symbolic
// links unless AT_SYMLINK_NOFOLLOW, or, for an empty name under
// AT_EMPTY_PATH, the file dirfd names. A name made from a close-on-exec
// fd (/dev/fd/N...) is marked inaccessible, as alloc_bprm marks it.
func (t *Task) findExecFile(dirfd uint64, name string, flags uint32) (*execImage, unix.Errno) {
	fd := int32(dirfd)
	var img *execImage
	var e unix.Errno
	if name == "" {
		if img, e = t.findExecFD(fd); e != 0 {
			return nil, e
		}
		img.filename = fmt.Sprintf("/dev/fd/%d", fd)
		if fd == unix.AT_FDCWD {
			img.filename = ""
		}
		if img.comm == "" {
			img.comm = path.Base(img.guestPath)
		}
	} else {
		if img, e = t.findExecPath(dirfd, name, flags&unix.AT_SYMLINK_NOFOLLOW == 0); e != 0 {
			return nil, e
		}
		img.filename = name
		if fd != unix.AT_FDCWD && name[0] != '/' {
			img.filename = fmt.Sprintf("/dev/fd/%d/%s", fd, name)
		}
		img.comm = img.filename[strings.LastIndexByte(img.filename, '/')+1:]
	}
	if fd != unix.AT_FDCWD && (name == "" || name[0] != '/') {
		entry, ok := t.files().fds[fd]
		img.pathInaccessible = ok && entry.cloexec
	}
	return img, 0
}

// findExecPath finds name against dirfd. /proc/self/exe (the process's
// own exe link, by whatever path) is the running program's host file,
// as Linux's magic link is the file itself, whatever is at its path now.
func (t *Task) findExecPath(dirfd uint64, name string, follow bool) (*execImage, unix.Errno) {
	l, e := t.lookupName(dirfd, name, false)
	if e != 0 {
		return nil, e
	}
	if follow && l.node != nil && l.node == t.exeLink() {
		l.close()
		img := &execImage{guestPath: t.info.exe, hostPath: t.hostExe, shared: t.exeShared}
		if img.shared != nil {
			img.shared.IncRef()
		}
		return img, 0
	}
	if follow {
		l.close()
		if l, e = t.lookupName(dirfd, name, true); e != 0 {
			return nil, e
		}
	}
	defer l.close()
	return t.execFileOf(&l)
}

// exeLink is the /proc/<pid>/exe node, nil where there is none.
func (p *Process) exeLink() *node {
	l, e := p.fs().walk(p, "/proc/"+p.pidString()+"/exe", false, 0)
	if e != 0 {
		return nil
	}
	l.close()
	return l.node
}

// findExecFD finds the file fd names (execveat's AT_EMPTY_PATH; the
// working directory for AT_FDCWD). mmvm runs files by path: the fd's
// file is looked up again at the path it was opened by, and must still
// be the same file (else ENOENT: it was replaced or removed on the host).
// A memfd runs from its contents (execMemfd). A description that is no
// file of the guest's file system (stdio, a pipe, an eventfd, epoll) is
// EACCES, as Linux answers for what is no regular file.
func (t *Task) findExecFD(fd int32) (*execImage, unix.Errno) {
	guestPath := t.cwd()
	var opened *unix.Stat_t
	if fd != unix.AT_FDCWD {
		f, e := t.file(uint64(uint32(fd)))
		if e != 0 {
			return nil, e
		}
		if f.fs == nil {
			return nil, unix.EACCES
		}
		if f.fs.shm != nil {
			return execMemfd(&t.cred, f.fs)
		}
		if f.fs.st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, unix.ELOOP // an O_PATH|O_NOFOLLOW fd of a link
		}
		guestPath, opened = f.fs.path, &f.fs.st
	}
	l, e := t.fs().walk(t.Process, guestPath, true, 0)
	if e != 0 {
		return nil, e
	}
	defer l.close()
	if opened != nil {
		st, e := t.lookupStat(&l)
		if e != 0 || st.Dev != opened.Dev || st.Ino != opened.Ino || st.Mode&unix.S_IFMT != opened.Mode&unix.S_IFMT {
			return nil, unix.ENOENT
		}
	}
	return t.execFileOf(&l)
}

// execMemfd is the memfd f as the program execveat runs, named as Linux
// names it: /proc/self/exe and maps show its path ("/memfd:NAME
// (deleted)"), the task name is its dentry's, memfd:NAME. A mode without
// an execute bit (MFD_NOEXEC_SEAL's 0666) is EACCES, as inode_permission
// answers; contents that are no ELF are the machine's ENOEXEC.
func execMemfd(c *creds, f *fsFile) (*execImage, unix.Errno) {
	if f.node != nil && f.node.tmp != nil {
		return execTmpfsFile(c, f.node)
	}
	if f.st.Mode&0o111 == 0 {
		return nil, unix.EACCES
	}
	f.shm.IncRef()
	name := strings.TrimSuffix(strings.TrimPrefix(f.path, "/"), " (deleted)")
	return &execImage{guestPath: f.path, shared: f.shm, comm: name}, 0
}

// execTmpfsFile is tmpfs file n as the program execve runs, from its
// contents as a memfd's: EACCES where c may not execute it.
func execTmpfsFile(c *creds, n *node) (*execImage, unix.Errno) {
	st := tmpStat(n)
	if e := c.permission(&st, mayExec); e != 0 {
		return nil, e
	}
	n.shm.IncRef()
	return &execImage{guestPath: tmpPath(n), shared: n.shm, comm: n.tmp.name}, 0
}

// execFileOf checks that what l found can run, as Linux's may_open and
// inode_permission check it for MAY_EXEC: a symbolic link (not followed)
// is ELOOP; a directory, anything but a regular file, a regular file the
// thread may not execute (root: one without any execute bit), and a file
// of /proc (noexec) are EACCES. It returns the file's guest and host paths.
func (t *Task) execFileOf(l *lookup) (*execImage, unix.Errno) {
	st, e := t.lookupStat(l)
	if e != 0 {
		return nil, e
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return nil, unix.ELOOP
	case unix.S_IFREG:
	default:
		return nil, unix.EACCES
	}
	if e := t.cred.permission(&st, mayExec); e != 0 {
		return nil, e
	}
	if l.node != nil {
		if l.node.kind == nodeShm {
			return execTmpfsFile(&t.cred, l.node)
		}
		if l.node.kind != nodeHost {
			return nil, unix.EACCES
		}
		return &execImage{guestPath: l.path, hostPath: l.node.hostPath}, 0
	}
	hostPath, err := fdPath(l.hostFD)
	if err != nil {
		return nil, unix.ENOENT
	}
	return &execImage{guestPath: viewGuestPath(l.view, hostPath, l.path), hostPath: hostPath}, 0
}

// fdPath is the host path of host descriptor fd, every symbolic link
// resolved (the kernel's d_path of the file it names).
func fdPath(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// viewGuestPath is where the guest sees hostPath, a file beneath view v:
// v's guest path joined with the file's path within v's root, both with
// their links resolved, as /proc/self/exe shows a program (d_path within
// the mount it was found through). fallback is returned where hostPath
// is not beneath v's root (it cannot be, openat2 found it beneath).
func viewGuestPath(v *viewRoot, hostPath, fallback string) string {
	if v == nil {
		return fallback
	}
	root, err := fdPath(v.fd)
	if err != nil {
		return fallback
	}
	var rel string
	switch {
	case hostPath == root:
	case root == "/":
		rel = hostPath
	case strings.HasPrefix(hostPath, root+"/"):
		rel = hostPath[len(root):]
	default:
		return fallback
	}
	return path.Join(v.Guest, rel)
}

// readExecArgs reads argv and envp into img as Linux's
// do_execveat_common does: both counted first (EFAULT for an unreadable
// pointer, E2BIG past MAX_ARG_STRINGS), the room their strings have
// checked (execArgRoom), then the strings read, the file name first,
// then envp's and argv's, each from the last (so an E2BIG or EFAULT is
// the one Linux meets first). A NULL argv or envp is an empty one; an
// empty argv gets "" as argv[0], as Linux gives it, so that no program
// walks into envp from argv[1]. It returns the room left.
func (t *Task) readExecArgs(img *execImage, argvAddr, envpAddr uint64) (uint64, unix.Errno) {
	argc, e := t.countArgs(argvAddr)
	if e != 0 {
		return 0, e
	}
	envc, e := t.countArgs(envpAddr)
	if e != 0 {
		return 0, e
	}
	room, e := t.execArgRoom(argc, envc)
	if e != 0 {
		return 0, e
	}
	if e := takeArgRoom(&room, len(img.filename)); e != 0 {
		return 0, e
	}
	if img.envp, e = t.readArgStrings(envpAddr, envc, &room); e != 0 {
		return 0, e
	}
	if img.argv, e = t.readArgStrings(argvAddr, argc, &room); e != 0 {
		return 0, e
	}
	if argc == 0 {
		if e := takeArgRoom(&room, 0); e != 0 {
			return 0, e
		}
		img.argv = []string{""}
	}
	return room, 0
}

// argPtrChunk is how many pointers countArgs reads at a time.
const argPtrChunk = 64

// countArgs counts the pointers of the NULL-terminated array at addr
// (Linux's count): 0 for a NULL array, EFAULT where a pointer before the
// NULL cannot be read, E2BIG past MAX_ARG_STRINGS; EINTR if the run ends
// while it counts.
func (t *Task) countArgs(addr uint64) (int, unix.Errno) {
	if addr == 0 {
		return 0, 0
	}
	var b [argPtrChunk * 8]byte
	for n := 0; ; {
		if t.interrupted() {
			return 0, unix.EINTR
		}
		got, _ := t.cfg.Memory.CopyIn(arch.Addr(addr+uint64(n)*8), b[:])
		for i := 0; i+8 <= got; i += 8 {
			if binary.LittleEndian.Uint64(b[i:]) == 0 {
				return n, 0
			}
			if n >= maxArgStrings {
				return 0, unix.E2BIG
			}
			n++
		}
		if got < len(b) {
			return 0, unix.EFAULT
		}
	}
}

// execArgRoom is the room the strings have on the new program's stack
// (Linux's bprm_stack_limits): a quarter of RLIMIT_STACK, at most 3/4 of
// _STK_LIM, at least ARG_MAX, less the argv and envp pointers (at least
// one for argv, whose argv[0] Linux adds when it is empty); E2BIG when
// the pointers alone fill it.
func (t *Task) execArgRoom(argc, envc int) (uint64, unix.Errno) {
	room := min(stackLimitDefault/4*3, t.limit(unix.RLIMIT_STACK).Cur/4)
	room = max(room, argMax)
	ptrs := uint64(max(argc, 1)+envc) * 8
	if room <= ptrs {
		return 0, unix.E2BIG
	}
	return room - ptrs, 0
}

// takeArgRoom takes one string of n bytes (and its NUL) from room: E2BIG
// when it is longer than MAX_ARG_STRLEN or room has no place for it.
func takeArgRoom(room *uint64, n int) unix.Errno {
	size := uint64(n) + 1
	if size > maxArgStrlen || size > *room {
		return unix.E2BIG
	}
	*room -= size
	return 0
}

// readArgStrings reads the n strings the array at addr points to, the
// last first, as Linux's copy_strings: EFAULT for a pointer or string
// that cannot be read (a pointer that became NULL since countArgs
// included), E2BIG for one without a NUL in its first MAX_ARG_STRLEN
// bytes or that room has no place for; EINTR if the run ends meanwhile.
func (t *Task) readArgStrings(addr uint64, n int, room *uint64) ([]string, unix.Errno) {
	out := make([]string, n)
	for i := n - 1; i >= 0; i-- {
		if t.interrupted() {
			return nil, unix.EINTR
		}
		var b [8]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr+uint64(i)*8), b[:]); err != nil {
			return nil, unix.EFAULT
		}
		s, e := t.copyInString(arch.Addr(binary.LittleEndian.Uint64(b[:])), maxArgStrlen)
		if e == unix.ENAMETOOLONG {
			e = unix.E2BIG
		}
		if e != 0 {
			return nil, e
		}
		if e := takeArgRoom(room, len(s)); e != 0 {
			return nil, e
		}
		out[i] = s
	}
	return out, 0
}

// endOtherThreads ends every thread of the process but t, as Linux's
// de_thread does (each killed, then each running its own exit while the
// memory is still the old one): each is Exited from now on and loses the
// signals pending on it alone, its robust futexes are marked
// FUTEX_OWNER_DIED and its clear_child_tid word zeroed and woken (the
// exit's mm_release), and it is woken from its wait and its vCPU kicked
// (wakeUp), so that its loop ends; the machine's Exec waits for that. The
// process itself goes on, its process-directed signals pending for t.
// It returns the threads it ended. p.mu must be held.
func (t *Task) endOtherThreads() []*Task {
	var ended []*Task
	for tid, o := range t.tasks {
		if o == t {
			continue
		}
		ended = append(ended, o)
		t.threadLeft(o)
		delete(t.tasks, tid)
		o.exitedThread.Store(true)
		t.sig.queued -= queuedIn(&o.tsig.sigQueue)
		o.tsig.sigQueue = sigQueue{}
		o.exitRobustList()
		o.clearChildTIDAtExit()
		o.wakeUp(t)
	}
	return ended
}

// endedCallPoll is how often waitForCallsToEnd looks again.
const endedCallPoll = 100 * time.Microsecond

// waitForCallsToEnd waits, with p.mu released, until none of the threads
// ended is inside a system call's handler any more (its regs are nil), as
// Linux's de_thread waits for the threads it killed to be gone: a call
// woken from its wait, or one that ran without the lock (an mm call, a
// thread's start), finishes its last writes (nanosleep's time left, say)
// before the machine replaces the memory. A thread not yet in its call
// when it was ended never enters it (HandleSyscall looks at Exited
// first). It returns early if t itself is ended (the process was killed).
// p.mu must be held.
func (t *Task) waitForCallsToEnd(ended []*Task) {
	for !t.Exited() && slices.ContainsFunc(ended, func(o *Task) bool { return o.regs != nil }) {
		t.withoutLock(func() { time.Sleep(endedCallPoll) })
	}
}

// becomeLeader makes t, when it is not the main thread, the process's
// main thread, as Linux's de_thread makes an exec'ing thread take over
// its group leader's place: t's TID becomes the PID (the new program's
// gettid is its getpid) and the process's exit status is t's from now
// on. p.mu must be held and every other thread ended.
func (t *Task) becomeLeader() {
	if t.Process.main == t {
		return
	}
	delete(t.tasks, t.tid)
	t.tid = t.cfg.PID
	t.tasks[t.tid] = t
	t.Process.main = t
}

// releaseOldMemory is what Linux's exec_mm_release does with the old
// memory before the machine discards it: t's robust futexes are marked
// FUTEX_OWNER_DIED, their waiters woken (what another process sharing the
// memory sees). It is done before Config.Exec, whose failure then leaves
// them marked: Linux, which checks the ELF file first, would not have
// marked them. Linux also zeroes and wakes t's clear_child_tid word where
// the old memory stays in use by another process (a vfork child's, its
// parent's): the vfork work adds that here; elsewhere the word is only
// forgotten (beginNewExec). p.mu must be held.
func (t *Task) releaseOldMemory() {
	t.exitRobustList()
}

// beginNewExec resets what Linux's begin_new_exec and setup_new_exec
// reset once the new program's memory is in place: the fds marked
// FD_CLOEXEC close; every signal action becomes SIG_DFL but the ignored
// ones, which stay SIG_IGN, all with no flags, mask or restorer (the
// blocked mask and pending signals stay); the alternate signal stack is
// gone (its SS_AUTODISARM flag stays, as Linux keeps sas_ss_flags); the
// POSIX timers are deleted with the signals of theirs still pending
// (alarm's and setitimer's go on); clear_child_tid and the robust list are
// forgotten; the FS base is 0 and the FPU in its initial state; the
// thread's credentials as execve makes them (creds.exec: SECBIT_KEEP_CAPS
// clear), and the process dumpable again unless its effective ids are
// not its real ones (begin_new_exec, under the host's fs.suid_dumpable);
// /proc/self/exe, /proc/self/cmdline and the task name show the new
// program.
func (t *Task) beginNewExec(img *execImage) {
	t.closeOnExec()
	t.execID++
	t.flushSignalHandlers()
	t.tsig.altSP, t.tsig.altSize = 0, 0
	t.tsig.restoreMask, t.tsig.trap = false, trapInfo{}
	t.deletePosixTimers()
	t.membarrier = 0 // membarrier_exec_mmap
	t.clearChildTID, t.robustList = 0, 0
	t.fsBase, t.fsBaseDirty = 0, true
	t.resetFPU()
	permitted := t.cred.capPrm
	t.cred.exec()
	t.execPersonality(permitted)
	t.info.notDumpable = (t.cred.euid != t.cred.uid || t.cred.egid != t.cred.gid) && !suidDumpable()
	t.credsChanged()
	t.memoryLimitsChanged()
	t.info.exe, t.hostExe = img.guestPath, img.hostPath
	if t.exeShared != nil {
		t.exeShared.DecRef()
	}
	t.exeShared, img.shared = img.shared, nil // the reference passes
	t.fs().addExe(t.Process)
	t.info.argv, t.info.envp = img.argv, img.envp
	t.comm = [taskCommLen]byte{}
	copy(t.comm[:taskCommLen-1], img.comm)
}

// closeOnExec closes every fd marked FD_CLOEXEC (Linux's
// do_close_on_exec).
func (p *Process) closeOnExec() {
	tab := p.files()
	closed := false
	for fd, e := range tab.fds {
		if e.cloexec {
			p.dropFD(e)
			delete(tab.fds, fd)
			closed = true
		}
	}
	if closed {
		p.fdWaitersLookAgain() // a pipe end may have closed
	}
}

// flushSignalHandlers is Linux's flush_signal_handlers for execve: a
// handler becomes SIG_DFL, SIG_IGN stays, and every action loses its
// flags, mask and restorer.
func (p *Process) flushSignalHandlers() {
	for sig, act := range p.sigactions {
		if len(act) < 8 || binary.LittleEndian.Uint64(act) != sigIGN {
			delete(p.sigactions, sig)
			continue
		}
		ignored := make([]byte, sigactionSize)
		binary.LittleEndian.PutUint64(ignored, sigIGN)
		p.sigactions[sig] = ignored
	}
}

// deletePosixTimers deletes every timer_create timer and drops the
// signals of theirs that are pending, on the process and on t (the only
// thread left), as Linux's exec does (exit_itimers; flush_itimer_signals
// before 6.13): a signal whose every queued siginfo was a timer's is no
// longer pending.
func (t *Task) deletePosixTimers() {
	for id, tm := range t.timers.posix {
		tm.stop()
		delete(t.timers.posix, id)
	}
	t.dropTimerSignals(&t.sig.sigQueue)
	t.dropTimerSignals(&t.tsig.sigQueue)
}

// dropTimerSignals removes the POSIX timers' siginfos (SI_TIMER) from q,
// and the pending bit of a signal that then has none left, as Linux's
// __flush_itimer_signals (a signal pending without a siginfo stays).
func (p *Process) dropTimerSignals(q *sigQueue) {
	for sig := 1; sig <= 64; sig++ {
		infos := q.queue[sig]
		var kept []sigInfo
		for _, info := range infos {
			if !info.fromTimer() {
				kept = append(kept, info)
			}
		}
		if len(kept) == len(infos) {
			continue
		}
		p.sig.queued -= uint64(len(infos) - len(kept))
		q.queue[sig] = kept
		if len(kept) == 0 {
			q.pending &^= sigBit(unix.Signal(sig))
		}
	}
}

// resetFPU puts the thread's FPU in its initial state, as Linux's
// flush_thread does for the new program. A machine that cannot is past
// the point of no return: the process is killed with SIGSEGV, as Linux's
// bprm_execve kills it for a failure there.
func (t *Task) resetFPU() {
	if t.fpu == nil {
		return
	}
	fx := initFPU
	if err := t.fpu.RestoreFPU(&fx); err != nil {
		t.sig.killedBy = unix.SIGSEGV
		t.sig.reason = "execve could not reset the FPU: " + err.Error()
		t.endProcess(t)
	}
}

// execDone commits a successful execve in the process tree
// (execCommitted): the parent of a vfork child, waiting in vfork until the
// child execs or exits, goes on (Linux's mm_release, complete_vfork_done),
// and exit signals go back to SIGCHLD. p.mu is held.
func (t *Task) execDone() { t.execCommitted() }
