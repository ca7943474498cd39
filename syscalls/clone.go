package syscalls

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// clone's flags (linux/sched.h) that its checks and its classification
// read; unix.CLONE_* are the same values.
const (
	cloneSignalMask   = 0xff // CSIGNAL: the exit signal, clone(2) only
	cloneThreadFlags  = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD
	cloneThreadExtras = unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID |
		unix.CLONE_CHILD_CLEARTID | unix.CLONE_CHILD_SETTID | unix.CLONE_DETACHED
	// cloneLegacyFlags are the flags clone(2) can express (the low 32
	// bits but CSIGNAL); clone3 adds CLONE_CLEAR_SIGHAND and
	// CLONE_INTO_CGROUP.
	cloneLegacyFlags   = 0xffff_ffff &^ cloneSignalMask
	cloneClearSighand  = unix.CLONE_CLEAR_SIGHAND
	cloneIntoCgroup    = unix.CLONE_INTO_CGROUP
	cloneArgsSizeVer0  = 64 // struct clone_args up to tls
	cloneArgsSizeKnown = 88 // and set_tid, set_tid_size, cgroup (VER2)
)

// cloneArgs is one clone or clone3 request, as Linux's kernel_clone_args
// holds it after either entry point: flags without the exit signal, and
// the stack as the new task's first RSP.
type cloneArgs struct {
	flags      uint64
	exitSignal uint64
	stack      uint64
	parentTID  uint64
	childTID   uint64
	tls        uint64
}

// CloneKind is what a clone or clone3 asked for, as --stats reports the
// ones mmvm refused.
type CloneKind string

// The kinds of clone request.
const (
	// CloneThread: a thread of this program (CLONE_VM, CLONE_FS,
	// CLONE_FILES, CLONE_SIGHAND and CLONE_THREAD, as glibc, musl, Go and
	// Rust create them).
	CloneThread CloneKind = "thread"
	// CloneVfork: a child sharing the memory until it execs or exits
	// (CLONE_VM|CLONE_VFORK, as posix_spawn makes it).
	CloneVfork CloneKind = "vfork"
	// CloneProcess: any other child, fork's above all.
	CloneProcess CloneKind = "new process"
)

// cloneRefusals counts the clone requests answered ENOSYS, by kind. mu
// guards byKind: a thread counts while CloneRefusals may read from any
// goroutine.
type cloneRefusals struct {
	mu     sync.Mutex
	byKind map[CloneKind]uint64
}

func (c *cloneRefusals) add(k CloneKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKind == nil {
		c.byKind = make(map[CloneKind]uint64)
	}
	c.byKind[k]++
}

// CloneRefusals returns how many clone, clone3, fork and vfork requests
// of each kind, from every process of the VM, were answered ENOSYS: those
// that pass Linux's checks but ask for what mmvm does not make (a new
// process sharing the fd table, file-system state or memory without
// CLONE_VFORK, a namespace, a pidfd; see canFork), or any new process or
// thread where the machine makes none (Config.Fork, Config.StartThread
// nil), so that --stats says what the program asked for.
func (p *Process) CloneRefusals() map[CloneKind]uint64 {
	c := p.clones
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[CloneKind]uint64, len(c.byKind))
	for k, n := range c.byKind {
		out[k] = n
	}
	return out
}

// sysClone serves clone(2) with x86-64's argument order: flags (with the
// exit signal in CSIGNAL), the new stack, parent_tid, child_tid, tls.
func sysClone(t *Task, a *[6]uint64) uint64 {
	args := cloneArgs{
		flags:      a[0] & cloneLegacyFlags,
		exitSignal: a[0] & cloneSignalMask,
		stack:      a[1], parentTID: a[2], childTID: a[3], tls: a[4],
	}
	return t.clone(&args)
}

// sysClone3 serves clone3(2): a struct clone_args of size bytes at a[0].
func sysClone3(t *Task, a *[6]uint64) uint64 {
	args, e := t.readCloneArgs(a[0], a[1])
	if e != 0 {
		return errno(e)
	}
	return t.clone(&args)
}

// readCloneArgs reads and checks clone3's struct clone_args as Linux's
// copy_clone_args_from_user and clone3_args_valid do: EINVAL for a size
// below the first version's, E2BIG above a page or for nonzero bytes past
// the fields this kernel knows, EFAULT for unreadable memory, EINVAL for
// flags clone3 does not take, an exit signal that is no signal,
// CLONE_CLEAR_SIGHAND with CLONE_SIGHAND, a stack without a size or a
// size without a stack.
func (p *Process) readCloneArgs(addr, size uint64) (cloneArgs, unix.Errno) {
	if size < cloneArgsSizeVer0 {
		return cloneArgs{}, unix.EINVAL
	}
	if size > arch.PageSize {
		return cloneArgs{}, unix.E2BIG
	}
	b := make([]byte, size)
	if _, err := p.cfg.Memory.CopyIn(arch.Addr(addr), b); err != nil {
		return cloneArgs{}, unix.EFAULT
	}
	for _, c := range b[min(size, cloneArgsSizeKnown):] {
		if c != 0 {
			return cloneArgs{}, unix.E2BIG
		}
	}
	field := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
	// flags, pidfd, child_tid, parent_tid, exit_signal, stack,
	// stack_size, tls.
	args := cloneArgs{flags: field(0), childTID: field(2), parentTID: field(3),
		exitSignal: field(4), tls: field(7)}
	stack, stackSize := field(5), field(6)
	if args.flags&^(cloneLegacyFlags|unix.CLONE_NEWTIME|cloneClearSighand|cloneIntoCgroup) != 0 ||
		args.flags&unix.CLONE_DETACHED != 0 || args.exitSignal > 64 ||
		args.flags&(cloneClearSighand|unix.CLONE_SIGHAND) == cloneClearSighand|unix.CLONE_SIGHAND ||
		(stack == 0) != (stackSize == 0) {
		return cloneArgs{}, unix.EINVAL
	}
	if stack != 0 {
		args.stack = stack + stackSize // x86-64's stack grows down from the top
	}
	return args, 0
}

// sysFork serves fork(2): clone with SIGCHLD alone.
func sysFork(t *Task, _ *[6]uint64) uint64 {
	return t.clone(&cloneArgs{exitSignal: uint64(unix.SIGCHLD)})
}

// sysVfork serves vfork(2): clone with CLONE_VM, CLONE_VFORK and SIGCHLD.
func sysVfork(t *Task, _ *[6]uint64) uint64 {
	return t.clone(&cloneArgs{flags: unix.CLONE_VM | unix.CLONE_VFORK, exitSignal: uint64(unix.SIGCHLD)})
}

// clone makes Linux's checks of copy_process that depend on the flags
// alone (EINVAL for CLONE_FS with a new mount or user namespace,
// CLONE_THREAD without CLONE_SIGHAND, CLONE_SIGHAND without CLONE_VM),
// then starts a thread (cloneThread, thread.go) or makes a process
// (cloneProcess, fork.go) where the machine can; any other request is
// counted and answered ENOSYS.
func (t *Task) clone(args *cloneArgs) uint64 {
	f := args.flags
	switch {
	case f&(unix.CLONE_NEWNS|unix.CLONE_FS) == unix.CLONE_NEWNS|unix.CLONE_FS,
		f&(unix.CLONE_NEWUSER|unix.CLONE_FS) == unix.CLONE_NEWUSER|unix.CLONE_FS,
		f&unix.CLONE_THREAD != 0 && f&unix.CLONE_SIGHAND == 0,
		f&unix.CLONE_SIGHAND != 0 && f&unix.CLONE_VM == 0:
		return errno(unix.EINVAL)
	}
	kind := cloneKindOf(args)
	switch {
	case kind == CloneThread && t.cfg.StartThread != nil:
		return t.cloneThread(args)
	case kind != CloneThread && t.canFork(args):
		return t.cloneProcess(args)
	}
	t.clones.add(kind)
	return errno(unix.ENOSYS)
}

// cloneKindOf classifies a request that passed clone's checks.
func cloneKindOf(args *cloneArgs) CloneKind {
	switch f := args.flags; {
	case f&cloneThreadFlags == cloneThreadFlags && f&^(cloneThreadFlags|cloneThreadExtras) == 0 && args.exitSignal == 0:
		return CloneThread
	case f&(unix.CLONE_VM|unix.CLONE_VFORK) == unix.CLONE_VM|unix.CLONE_VFORK:
		return CloneVfork
	}
	return CloneProcess
}
