package syscalls

import (
	"encoding/binary"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Processes are made here by a fake Config.Fork that copies the flat test
// memory (fork) or shares it (vfork), and a fake StartThread that hands
// the child's main thread to the test, which makes its calls with
// Task.Syscall as its vCPU's goroutine would.

// Addresses in the test memory the process tests use.
const (
	statusAddr = base + 0x4000
	rusageAddr = base + 0x4100
	infoAddr   = base + 0x4400
	fdsAddr    = base + 0x4800
	sigactAddr = base + 0x4900
	bufAddr    = base + 0x5000
)

type procHarness struct {
	root *Process
	mem  *flatMemory
	// started receives the main thread of each child StartThread starts.
	started chan startedThread
	// forkErr and startErr, when set, make Fork or StartThread fail;
	// released counts the release calls.
	forkErr, startErr error
	released          int
}

func newProcHarness(t *testing.T) *procHarness {
	t.Helper()
	p, mem, _ := newTestProcess(t)
	h := &procHarness{root: p, mem: mem, started: make(chan startedThread, 100)}
	p.cfg.StartThread = func(t *Task, regs UserRegs) error {
		if h.startErr != nil {
			return h.startErr
		}
		h.started <- startedThread{t, regs}
		return nil
	}
	p.cfg.Fork = func(caller *Task, share bool) (Config, func(), error) {
		parent := caller.Process
		if h.forkErr != nil {
			return Config{}, nil, h.forkErr
		}
		cfg := parent.cfg
		if !share {
			m := parent.cfg.Memory.(*flatMemory)
			cfg.Memory = &flatMemory{base: m.base, mem: append([]byte(nil), m.mem...)}
		}
		return cfg, func() { h.released++ }, nil
	}
	return h
}

// memOf is a process's flat memory.
func memOf(p *Process) *flatMemory { return p.cfg.Memory.(*flatMemory) }

// forkFrom makes parent call clone with flags and exit signal sig (as
// fork does with SIGCHLD) and returns the result and the child's main
// thread with the registers it was started from (nil if none started).
func (h *procHarness) forkFrom(t *testing.T, parent *Task, flags uint64, stack uint64) (uint64, *startedThread) {
	t.Helper()
	regs := parentRegs(flags, stack, ptidAddr, ctidAddr, 0)
	parent.HandleSyscall(&regs)
	select {
	case st := <-h.started:
		return regs.RAX, &st
	default:
		return regs.RAX, nil
	}
}

// fork makes parent fork and returns the child's main thread.
func (h *procHarness) fork(t *testing.T, parent *Task) *Task {
	t.Helper()
	pid, st := h.forkFrom(t, parent, uint64(unix.SIGCHLD), 0)
	if st == nil || int64(pid) <= 0 || int(pid) != st.t.cfg.PID {
		t.Fatalf("fork = %d, started %v", int64(pid), st)
	}
	return st.t
}

// tc makes thread t call nr and returns RAX as a signed value.
func tc(t *Task, nr uint64, args ...uint64) int64 {
	var a [6]uint64
	copy(a[:], args)
	return int64(t.Syscall(nr, a))
}

func TestForkMakesAChild(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	// State the child inherits: a signal mask, a handler, a sigaltstack,
	// the FS base, the umask; state it does not: a pending signal, a
	// timer.
	putWord(h.mem, bufAddr, 1<<(unix.SIGUSR2-1))
	if r := tc(parent, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, bufAddr, 0, sigsetSize); r != 0 {
		t.Fatal(r)
	}
	tc(parent, unix.SYS_KILL, 42, uint64(unix.SIGUSR2))
	act := h.mem.mem[sigactAddr-base : sigactAddr-base+sigactionSize]
	binary.LittleEndian.PutUint64(act, 0x401000)
	binary.LittleEndian.PutUint64(act[8:], saRestorer|saSiginfo)
	tc(parent, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), sigactAddr, 0, sigsetSize)
	tc(parent, unix.SYS_ALARM, 100)
	tc(parent, unix.SYS_UMASK, 0o077)
	tc(parent, unix.SYS_ARCH_PRCTL, archSetFS, 0x7000_0000)
	st := stackT(base+0x8000, 0, 0x2000)
	copy(h.mem.mem[bufAddr+0x100-base:], st[:])
	if r := tc(parent, unix.SYS_SIGALTSTACK, bufAddr+0x100, 0); r != 0 {
		t.Fatal(r)
	}

	flags := uint64(unix.SIGCHLD | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID)
	pid, started := h.forkFrom(t, parent, flags, childStack)
	if started == nil || pid != 43 {
		t.Fatalf("fork = %d, started %v; want pid 43, the next id", int64(pid), started)
	}
	child := started.t
	want := parentRegs(flags, childStack, ptidAddr, ctidAddr, 0)
	want.RAX, want.RSP = 0, childStack
	if started.regs != want {
		t.Errorf("child regs\n%+v, want\n%+v", started.regs, want)
	}
	if child.tid != 43 || child.cfg.PID != 43 || child.Process == h.root {
		t.Errorf("child tid %d pid %d", child.tid, child.cfg.PID)
	}
	// PARENT_SETTID in the parent's memory, CHILD_SETTID in the child's
	// (a copy: the parent's word stays 0).
	if got := getWord(h.mem, ptidAddr); got != 43 {
		t.Errorf("parent_tid %d", got)
	}
	if got, parentsWord := getWord(memOf(child.Process), ctidAddr), getWord(h.mem, ctidAddr); got != 43 || parentsWord != 0 {
		t.Errorf("child_tid %d in the child, %d in the parent", got, parentsWord)
	}
	if child.clearChildTID != ctidAddr || child.robustList != 0 {
		t.Errorf("clear_child_tid %#x, robust list %#x", child.clearChildTID, child.robustList)
	}
	if fs, dirty := child.FSBase(); fs != 0x7000_0000 || !dirty {
		t.Errorf("child FS base %#x dirty %v", fs, dirty)
	}
	if child.sigmask != 1<<(unix.SIGUSR2-1) || child.sig.pending != 0 || child.tsig.pending != 0 {
		t.Errorf("child mask %#x, pending %#x %#x", child.sigmask, child.sig.pending, child.tsig.pending)
	}
	if child.actionOf(unix.SIGUSR1).handler != 0x401000 {
		t.Error("the child lost the SIGUSR1 handler")
	}
	if child.tsig.altSP != base+0x8000 || child.tsig.altSize != 0x2000 {
		t.Errorf("child sigaltstack %#x+%#x", child.tsig.altSP, child.tsig.altSize)
	}
	if r := tc(child, unix.SYS_ALARM, 0); r != 0 {
		t.Errorf("the child inherited an alarm: %d s left", r)
	}
	if r := tc(child, unix.SYS_UMASK, 0o022); r != 0o077 {
		t.Errorf("child umask %#o", r)
	}
	if r := tc(child, unix.SYS_GETPPID); r != 42 {
		t.Errorf("child getppid %d", r)
	}
	if r := tc(parent, unix.SYS_GETPPID); r != 0 {
		t.Errorf("root getppid %d, want 0", r)
	}
	if r := tc(child, unix.SYS_GETPID); r != 43 {
		t.Errorf("child getpid %d", r)
	}
	// The next id skips every id in use.
	if r := tc(parent, unix.SYS_CLONE, threadFlags, childStack); r != 44 {
		t.Errorf("thread after the child: tid %d, want 44", r)
	}
	<-h.started

	// CLONE_CLEAR_SIGHAND resets the handler in the child, clone3's way.
	args := h.mem.mem[cloneArgsA-base : cloneArgsA-base+64]
	clear(args)
	binary.LittleEndian.PutUint64(args, cloneClearSighand)
	binary.LittleEndian.PutUint64(args[32:], uint64(unix.SIGCHLD))
	regs := UserRegs{RAX: unix.SYS_CLONE3, RDI: cloneArgsA, RSI: 64}
	parent.HandleSyscall(&regs)
	c2 := (<-h.started).t
	if int(regs.RAX) != c2.cfg.PID || c2.actionOf(unix.SIGUSR1).handler != sigDFL {
		t.Errorf("clone3 CLEAR_SIGHAND: %d, child handler %#x", int64(regs.RAX), c2.actionOf(unix.SIGUSR1).handler)
	}
}

func TestForkFailures(t *testing.T) {
	h := newProcHarness(t)
	h.forkErr = unix.ENOMEM
	if r, st := h.forkFrom(t, h.root.main, uint64(unix.SIGCHLD), 0); r != neg(unix.ENOMEM) || st != nil {
		t.Errorf("fork with Fork failing: %d", int64(r))
	}
	h.forkErr = nil
	h.startErr = errors.New("no vCPU")
	if r, _ := h.forkFrom(t, h.root.main, uint64(unix.SIGCHLD), 0); r != neg(unix.EAGAIN) || h.released != 1 {
		t.Errorf("fork with StartThread failing: %d, released %d", int64(r), h.released)
	}
	if len(h.root.tree.procs) != 1 {
		t.Errorf("a failed fork left %d processes", len(h.root.tree.procs))
	}
	h.startErr = nil
	// Still refused: a process sharing the fd table; CLONE_PARENT from
	// the root.
	for _, c := range []struct {
		name  string
		flags uint64
		want  uint64
	}{
		{"CLONE_FILES", unix.CLONE_FILES | uint64(unix.SIGCHLD), neg(unix.ENOSYS)},
		{"CLONE_PARENT from the root", unix.CLONE_PARENT | uint64(unix.SIGCHLD), neg(unix.EINVAL)},
	} {
		if r, _ := h.forkFrom(t, h.root.main, c.flags, 0); r != c.want {
			t.Errorf("%s: %d, want %d", c.name, int64(r), int64(c.want))
		}
	}
	if got := h.root.CloneRefusals()[CloneProcess]; got != 1 {
		t.Errorf("refusals %d, want 1", got)
	}
}

// TestCloneVMChild checks clone(CLONE_VM|SIGCHLD), a process that shares
// its parent's memory without CLONE_VFORK (stress-ng's vm-rw makes one):
// it is made, in the parent's memory itself, the parent goes on without
// waiting for it, and the child has no alternate signal stack where the
// parent has one (Linux's copy_process clears it when the memory is
// shared).
func TestCloneVMChild(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	const ssAddr = base + 0x3000
	ss := h.mem.mem[ssAddr-base:]
	binary.LittleEndian.PutUint64(ss[0:], base+0x4000) // ss_sp
	binary.LittleEndian.PutUint32(ss[8:], 0)           // ss_flags
	binary.LittleEndian.PutUint64(ss[16:], 0x2000)     // ss_size
	if r := tc(parent, unix.SYS_SIGALTSTACK, ssAddr, 0); r != 0 {
		t.Fatalf("sigaltstack = %d", r)
	}
	pid, st := h.forkFrom(t, parent, unix.CLONE_VM|uint64(unix.SIGCHLD), 0)
	if st == nil || int64(pid) <= 0 || int(pid) != st.t.cfg.PID {
		t.Fatalf("clone(CLONE_VM|SIGCHLD) = %d, started %v", int64(pid), st)
	}
	if got := tc(parent, unix.SYS_SIGALTSTACK, 0, ssAddr); got != 0 || binary.LittleEndian.Uint64(ss[16:]) != 0x2000 {
		t.Errorf("the parent's alternate stack changed: %d, size %#x", got, binary.LittleEndian.Uint64(ss[16:]))
	}
	if st.t.cfg.Memory != h.root.cfg.Memory {
		t.Errorf("the child runs in memory of its own, not its parent's")
	}
	if st.t.Process == h.root || st.t.family.parent != h.root {
		t.Errorf("the child is no new process of the caller's")
	}
	if st.t.tsig.altSize != 0 || st.t.tsig.altSP != 0 {
		t.Errorf("the child has the alternate stack %#x+%#x, want none", st.t.tsig.altSP, st.t.tsig.altSize)
	}
}

// TestForkSharesPipes checks that a child's fds are the parent's open
// file descriptions: what the child writes the parent reads, and the read
// end sees EOF only when both closed the write end.
func TestForkSharesPipes(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	if r := tc(parent, unix.SYS_PIPE2, fdsAddr, unix.O_NONBLOCK|unix.O_CLOEXEC); r != 0 {
		t.Fatal(r)
	}
	rd, wr := uint64(getWord(h.mem, fdsAddr)), uint64(getWord(h.mem, fdsAddr+4))
	child := h.fork(t, parent)
	if !child.files().fds[int32(wr)].cloexec {
		t.Error("the child's fd lost close-on-exec")
	}
	copy(memOf(child.Process).mem[bufAddr-base:], "hi")
	if r := tc(child, unix.SYS_WRITE, wr, bufAddr, 2); r != 2 {
		t.Fatalf("child write %d", r)
	}
	if r := tc(parent, unix.SYS_READ, rd, bufAddr+0x100, 10); r != 2 || string(h.mem.mem[bufAddr+0x100-base:][:2]) != "hi" {
		t.Fatalf("parent read %d", r)
	}
	tc(parent, unix.SYS_CLOSE, wr)
	if r := tc(parent, unix.SYS_READ, rd, bufAddr+0x100, 10); r != neg64(unix.EAGAIN) {
		t.Errorf("read with the child's write end open: %d, want EAGAIN", r)
	}
	tc(child, unix.SYS_EXIT_GROUP, 0) // its fds close now, before any wait
	if r := tc(parent, unix.SYS_READ, rd, bufAddr+0x100, 10); r != 0 {
		t.Errorf("read after both closed the write end: %d, want EOF", r)
	}
}

func neg64(e unix.Errno) int64 { return -int64(e) }

// TestWait4Statuses checks wait4's statuses against the ones the host
// reports for the same ends.
func TestWait4Statuses(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	hostStatus := func(args ...string) int {
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
		return int(ws)
	}
	for _, c := range []struct {
		name string
		end  func(child *Task)
		host []string
	}{
		{"exit(3)", func(c *Task) { tc(c, unix.SYS_EXIT, 3) }, []string{"sh", "-c", "exit 3"}},
		{"exit_group(300)", func(c *Task) { tc(c, unix.SYS_EXIT_GROUP, 300) }, []string{"sh", "-c", "exit 300"}},
		{"SIGKILL", func(c *Task) {
			tc(parent, unix.SYS_KILL, uint64(c.cfg.PID), uint64(unix.SIGKILL))
			tc(c, unix.SYS_GETPID)
		}, []string{"sh", "-c", "kill -KILL $$"}},
		{"SIGSEGV", func(c *Task) {
			var regs UserRegs
			c.HandleFault(&regs, Fault{Signal: unix.SIGSEGV, Code: segvMapErr, Addr: 8, Why: "test"})
		}, []string{"sh", "-c", "ulimit -c 0; kill -SEGV $$"}},
	} {
		child := h.fork(t, parent)
		if r := tc(parent, unix.SYS_WAIT4, uint64(child.cfg.PID), statusAddr, unix.WNOHANG, 0); r != 0 {
			t.Errorf("%s: WNOHANG with the child live: %d", c.name, r)
		}
		c.end(child)
		putWord(h.mem, statusAddr, 0xdeadbeef)
		if r := tc(parent, unix.SYS_WAIT4, 1<<64-1, statusAddr, 0, rusageAddr); r != int64(child.cfg.PID) {
			t.Errorf("%s: wait4 = %d, want %d", c.name, r, child.cfg.PID)
		}
		// mmvm writes no core: the host's core-dump bit (set where a
		// core_pattern pipe takes cores whatever RLIMIT_CORE says) is
		// left out.
		if got, want := int(getWord(h.mem, statusAddr)), hostStatus(c.host...)&^0x80; got != want {
			t.Errorf("%s: status %#x, the host's %#x", c.name, got, want)
		}
	}
	if r := tc(parent, unix.SYS_WAIT4, 1<<64-1, statusAddr, unix.WNOHANG, 0); r != neg64(unix.ECHILD) {
		t.Errorf("WNOHANG with no child: %d, want ECHILD", r)
	}
	// A status pointer that faults: EFAULT, with the child reaped, as the
	// host does.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hostPID := uintptr(cmd.Process.Pid)
	if r1, r2 := hostRet(unix.SYS_WAIT4, hostPID, 8, 0, 0), hostRet(unix.SYS_WAIT4, hostPID, 0, 0, 0); r1 != neg64(unix.EFAULT) || r2 != neg64(unix.ECHILD) {
		t.Fatalf("the host's wait4 with a bad status pointer: %d, then %d", r1, r2)
	}
	child := h.fork(t, parent)
	tc(child, unix.SYS_EXIT, 0)
	if r := tc(parent, unix.SYS_WAIT4, uint64(child.cfg.PID), 8, 0, 0); r != neg64(unix.EFAULT) {
		t.Errorf("wait4 with a bad status pointer: %d", r)
	}
	if r := tc(parent, unix.SYS_WAIT4, uint64(child.cfg.PID), 0, 0, 0); r != neg64(unix.ECHILD) {
		t.Errorf("wait4 after the EFAULT: %d, want ECHILD (reaped)", r)
	}
	// Checks before any wait, as the host's.
	for _, c := range []struct {
		name string
		args [4]uint64
	}{
		{"unknown option", [4]uint64{1<<64 - 1, 0, 0x10, 0}},
		{"WNOWAIT is waitid's", [4]uint64{1<<64 - 1, 0, wNowait, 0}},
		{"INT_MIN", [4]uint64{1 << 31, 0, 0, 0}},
		{"no such child", [4]uint64{12345, 0, 0, 0}},
		{"own pid", [4]uint64{42, 0, 0, 0}},
	} {
		a := c.args
		host := hostRet(unix.SYS_WAIT4, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]))
		if got := tc(parent, unix.SYS_WAIT4, a[0], a[1], a[2], a[3]); got != host {
			t.Errorf("%s: %d, the host's %d", c.name, got, host)
		}
	}
}

// TestWaitBlocks checks that a wait without WNOHANG waits for the child's
// end, and that a signal interrupts it.
func TestWaitBlocks(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	child := h.fork(t, parent)
	done := call(parent, unix.SYS_WAIT4, uint64(child.cfg.PID), statusAddr, 0, 0)
	select {
	case r := <-done:
		t.Fatalf("wait4 returned %d with the child live", int64(r))
	case <-time.After(20 * time.Millisecond):
	}
	tc(child, unix.SYS_EXIT_GROUP, 7)
	if r := <-done; int(r) != child.cfg.PID {
		t.Fatalf("wait4 = %d", int64(r))
	}
	h.root.mu.Lock()
	st := getWord(h.mem, statusAddr)
	h.root.mu.Unlock()
	if st != 7<<8 {
		t.Errorf("status %#x", st)
	}
	// A signal with a handler without SA_RESTART: EINTR.
	child = h.fork(t, parent)
	act := h.mem.mem[sigactAddr-base : sigactAddr-base+sigactionSize]
	clear(act)
	binary.LittleEndian.PutUint64(act, 0x401000)
	binary.LittleEndian.PutUint64(act[8:], saRestorer)
	binary.LittleEndian.PutUint64(act[16:], 0x401100)
	tc(parent, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), sigactAddr, 0, sigsetSize)
	regsDone := make(chan UserRegs, 1)
	go func() {
		regs := UserRegs{RAX: unix.SYS_WAIT4, RDI: 1<<64 - 1, RSP: base + 0xc000}
		parent.HandleSyscall(&regs)
		regsDone <- regs
	}()
	time.Sleep(20 * time.Millisecond)
	tc(child, unix.SYS_KILL, 42, uint64(unix.SIGUSR1))
	select {
	case regs := <-regsDone:
		// The handler runs; the frame's saved RAX is wait4's result.
		h.root.mu.Lock()
		saved := binary.LittleEndian.Uint64(h.mem.mem[regs.RSP+frameUC+ucMcontext+scRAX-base:])
		h.root.mu.Unlock()
		if regs.RIP != 0x401000 || saved != neg(unix.EINTR) {
			t.Errorf("interrupted wait4: rip %#x, saved rax %d", regs.RIP, int64(saved))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a signal did not interrupt wait4")
	}
	tc(child, unix.SYS_EXIT, 0)
}

// TestWaitidSiginfo checks waitid's checks and what it writes, against
// the host: which siginfo fields, at which offsets.
func TestWaitidSiginfo(t *testing.T) {
	var ru unix.Rusage
	if unsafe.Sizeof(unix.Siginfo{}) != siginfoSize || unsafe.Sizeof(ru) != rusageSize ||
		unsafe.Offsetof(ru.Maxrss) != rusageMaxRSS || unsafe.Offsetof(ru.Minflt) != rusageMinflt {
		t.Fatalf("siginfo_t %d bytes, rusage %d with maxrss at %d and minflt at %d: want %d, %d, %d, %d",
			unsafe.Sizeof(unix.Siginfo{}), unsafe.Sizeof(ru), unsafe.Offsetof(ru.Maxrss), unsafe.Offsetof(ru.Minflt),
			siginfoSize, rusageSize, rusageMaxRSS, rusageMinflt)
	}
	// The host: a child that exits 3, waited for with a siginfo and a
	// rusage full of 0xff.
	cmd := exec.Command("sh", "-c", "exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hostInfo := hostMem(siginfoSize)
	for i := range hostInfo {
		hostInfo[i] = 0xff
	}
	if r := hostRet(unix.SYS_WAITID, pPID, uintptr(cmd.Process.Pid), hostAddr(hostInfo), wExited, 0); r != 0 {
		t.Fatal(r)
	}
	binary.LittleEndian.PutUint32(hostInfo[siginfoPID:], 0) // the pids differ

	h := newProcHarness(t)
	parent := h.root.main
	child := h.fork(t, parent)
	tc(child, unix.SYS_EXIT_GROUP, 3)
	info := h.mem.mem[infoAddr-base : infoAddr-base+siginfoSize]
	for i := range info {
		info[i] = 0xff
	}
	// WNOWAIT reports and leaves the zombie.
	if r := tc(parent, unix.SYS_WAITID, pAll, 0, infoAddr, wExited|wNowait, 0); r != 0 {
		t.Fatal(r)
	}
	if pid := binary.LittleEndian.Uint32(info[siginfoPID:]); int(pid) != child.cfg.PID {
		t.Errorf("si_pid %d", pid)
	}
	if r := tc(parent, unix.SYS_WAITID, pPID, uint64(child.cfg.PID), infoAddr, wExited, rusageAddr); r != 0 {
		t.Fatal(r)
	}
	binary.LittleEndian.PutUint32(info[siginfoPID:], 0)
	if string(info) != string(hostInfo[:]) {
		t.Errorf("siginfo\n%x, the host's\n%x", info, hostInfo)
	}
	// Nothing to report with WNOHANG: the fields zeroed, si_pid too.
	child = h.fork(t, parent)
	for i := range info {
		info[i] = 0xff
	}
	if r := tc(parent, unix.SYS_WAITID, pAll, 0, infoAddr, wExited|wNohang, 0); r != 0 {
		t.Fatal(r)
	}
	if w := binary.LittleEndian.Uint32(info[siginfoSigno:]); w != 0 || binary.LittleEndian.Uint32(info[siginfoPID:]) != 0 || info[12] != 0xff {
		t.Errorf("WNOHANG with nothing: siginfo %x", info[:32])
	}
	// The host's errors and what they leave in the siginfo.
	for _, c := range []struct {
		name             string
		which, id, flags uint64
	}{
		{"no WEXITED", pAll, 0, wNohang},
		{"unknown option", pAll, 0, wExited | 0x10},
		{"P_PID 0", pPID, 0, wExited},
		{"P_PGID -1", pPGID, 1<<64 - 1, wExited},
		{"unknown idtype", 7, 0, wExited},
		{"P_PIDFD of a non-pidfd", pPIDFD, 1, wExited},
		{"no such child", pPID, 12345, wExited},
	} {
		for i := range hostInfo {
			hostInfo[i], info[i] = 0xff, 0xff
		}
		host := hostRet(unix.SYS_WAITID, uintptr(c.which), uintptr(c.id), hostAddr(hostInfo), uintptr(c.flags), 0)
		got := tc(parent, unix.SYS_WAITID, c.which, c.id, infoAddr, c.flags, 0)
		if got != host || string(info) != string(hostInfo[:]) {
			t.Errorf("%s: %d, siginfo %x; the host's %d, %x", c.name, got, info[:32], host, hostInfo[:32])
		}
	}
	tc(child, unix.SYS_EXIT, 0)
}

// TestSigchld checks the parent's SIGCHLD and its siginfo, and the
// automatic reaping SIG_IGN and SA_NOCLDWAIT ask for.
func TestSigchld(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	putWord(h.mem, bufAddr, 1<<(unix.SIGCHLD-1))
	tc(parent, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, bufAddr, 0, sigsetSize)
	child := h.fork(t, parent)
	tc(child, unix.SYS_EXIT_GROUP, 5)
	h.root.mu.Lock()
	infos := h.root.sig.queue[unix.SIGCHLD]
	h.root.mu.Unlock()
	if len(infos) != 1 {
		t.Fatalf("%d SIGCHLDs queued", len(infos))
	}
	si := infos[0].encode()
	le := binary.LittleEndian
	if le.Uint32(si[0:]) != uint32(unix.SIGCHLD) || le.Uint32(si[8:]) != cldExited ||
		int(le.Uint32(si[16:])) != child.cfg.PID || le.Uint32(si[20:]) != 0 || le.Uint32(si[24:]) != 5 {
		t.Errorf("SIGCHLD siginfo %x", si[:32])
	}
	// The layout is siginfo_t's: x/sys's Siginfo is the header alone, so
	// the offsets are checked against the host's waitid
	// (TestWaitidSiginfo), which writes the same fields.
	tc(parent, unix.SYS_WAIT4, 1<<64-1, 0, 0, 0)

	// Unblocked, with an SA_SIGINFO handler: the handler gets it (the
	// first SIGCHLD, still pending, is discarded by making it ignored).
	act := h.mem.mem[sigactAddr-base : sigactAddr-base+sigactionSize]
	clear(act)
	tc(parent, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), sigactAddr, 0, sigsetSize)
	binary.LittleEndian.PutUint64(act, 0x401000)
	binary.LittleEndian.PutUint64(act[8:], saRestorer|saSiginfo)
	tc(parent, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), sigactAddr, 0, sigsetSize)
	tc(parent, unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, bufAddr, 0, sigsetSize)
	child = h.fork(t, parent)
	tc(parent, unix.SYS_KILL, uint64(child.cfg.PID), uint64(unix.SIGTERM))
	tc(child, unix.SYS_GETPID) // takes the SIGTERM: killed
	regs := UserRegs{RAX: unix.SYS_GETPID, RSP: base + 0xc000}
	parent.HandleSyscall(&regs)
	if regs.RIP != 0x401000 || regs.RDI != uint64(unix.SIGCHLD) {
		t.Fatalf("no SIGCHLD handler ran: rip %#x rdi %d", regs.RIP, regs.RDI)
	}
	got := h.mem.mem[regs.RSI-base:][:siginfoSize]
	if le.Uint32(got[0:]) != uint32(unix.SIGCHLD) || le.Uint32(got[8:]) != cldKilled ||
		int(le.Uint32(got[16:])) != child.cfg.PID || le.Uint32(got[24:]) != uint32(unix.SIGTERM) {
		t.Errorf("the handler's siginfo %x", got[:32])
	}
	tc(parent, unix.SYS_WAIT4, 1<<64-1, 0, 0, 0)

	// SIG_IGN: no zombie, no signal; wait4 finds no child.
	clear(act)
	binary.LittleEndian.PutUint64(act, sigIGN)
	tc(parent, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), sigactAddr, 0, sigsetSize)
	child = h.fork(t, parent)
	tc(child, unix.SYS_EXIT, 1)
	if r := tc(parent, unix.SYS_WAIT4, 1<<64-1, 0, 0, 0); r != neg64(unix.ECHILD) {
		t.Errorf("wait4 with SIGCHLD ignored: %d, want ECHILD", r)
	}
	// SA_NOCLDWAIT with a handler: the signal comes, the zombie does not
	// stay.
	binary.LittleEndian.PutUint64(act, 0x401000)
	binary.LittleEndian.PutUint64(act[8:], saRestorer|saNoCldWait)
	tc(parent, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), sigactAddr, 0, sigsetSize)
	child = h.fork(t, parent)
	tc(child, unix.SYS_EXIT, 1)
	h.root.mu.Lock()
	pending := h.root.sig.pending&sigBit(unix.SIGCHLD) != 0
	_, zombie := h.root.tree.procs[child.cfg.PID]
	h.root.mu.Unlock()
	if !pending || zombie {
		t.Errorf("SA_NOCLDWAIT: SIGCHLD pending %v, zombie %v", pending, zombie)
	}
}

// TestReparent checks that an ended process's children go to the root,
// which reaps them.
func TestReparent(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	a := h.fork(t, root)
	b := h.fork(t, a)
	c := h.fork(t, a)
	tc(c, unix.SYS_EXIT, 9) // a zombie of a's when a ends
	tc(a, unix.SYS_EXIT_GROUP, 0)
	if r := tc(b, unix.SYS_GETPPID); r != 42 {
		t.Errorf("orphan's getppid %d, want the root's 42", r)
	}
	got := map[int64]uint32{}
	for range 2 {
		r := tc(root, unix.SYS_WAIT4, 1<<64-1, statusAddr, unix.WNOHANG, 0)
		got[r] = getWord(h.mem, statusAddr)
	}
	if got[int64(a.cfg.PID)] != 0 || got[int64(c.cfg.PID)] != 9<<8 || len(got) != 2 {
		t.Errorf("the root reaped %v", got)
	}
	tc(b, unix.SYS_EXIT, 0)
	if r := tc(root, unix.SYS_WAIT4, uint64(b.cfg.PID), 0, 0, 0); r != int64(b.cfg.PID) {
		t.Errorf("wait for the orphan: %d", r)
	}

	// A child subreaper adopts its descendants' orphans instead of the
	// root.
	s := h.fork(t, root)
	if r := tc(s, unix.SYS_PRCTL, unix.PR_SET_CHILD_SUBREAPER, 1); r != 0 {
		t.Fatal(r)
	}
	m := h.fork(t, s)
	g := h.fork(t, m)
	tc(m, unix.SYS_EXIT_GROUP, 0)
	if r := tc(g, unix.SYS_GETPPID); r != int64(s.cfg.PID) {
		t.Errorf("orphan's parent %d, want the subreaper %d", r, s.cfg.PID)
	}
}

func TestProcessGroupsAndSessions(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	if r := tc(root, unix.SYS_GETPGRP); r != 42 {
		t.Errorf("root's pgrp %d", r)
	}
	if r := tc(root, unix.SYS_GETSID, 0); r != 0 {
		t.Errorf("root's sid %d, want 0 (outside)", r)
	}
	if r := tc(root, unix.SYS_SETSID); r != neg64(unix.EPERM) {
		t.Errorf("setsid of a group leader: %d", r)
	}
	a := h.fork(t, root)
	b := h.fork(t, root)
	pa, pb := uint64(a.cfg.PID), uint64(b.cfg.PID)
	for _, c := range []struct {
		name string
		t    *Task
		nr   uint64
		args []uint64
		want int64
	}{
		{"child inherits pgid", a, unix.SYS_GETPGID, []uint64{0}, 42},
		{"getpgid of another", root, unix.SYS_GETPGID, []uint64{pa}, 42},
		{"getpgid of none", root, unix.SYS_GETPGID, []uint64{999}, neg64(unix.ESRCH)},
		{"parent moves a child to a group of its own", root, unix.SYS_SETPGID, []uint64{pa, 0}, 0},
		{"a's group", b, unix.SYS_GETPGID, []uint64{pa}, int64(pa)},
		{"parent moves b into a's group", root, unix.SYS_SETPGID, []uint64{pb, pa}, 0},
		{"b's group", b, unix.SYS_GETPGRP, nil, int64(pa)},
		{"negative pgid", root, unix.SYS_SETPGID, []uint64{pa, 1<<64 - 1}, neg64(unix.EINVAL)},
		{"no such group", root, unix.SYS_SETPGID, []uint64{pa, 777}, neg64(unix.EPERM)},
		{"not a child", a, unix.SYS_SETPGID, []uint64{pb, 0}, neg64(unix.ESRCH)},
		{"not a child: the parent", a, unix.SYS_SETPGID, []uint64{42, 0}, neg64(unix.ESRCH)},
		{"no such process", root, unix.SYS_SETPGID, []uint64{999, 0}, neg64(unix.ESRCH)},
		{"b back to the root's group", b, unix.SYS_SETPGID, []uint64{0, 42}, 0},
		{"setsid of a group leader", a, unix.SYS_SETSID, nil, neg64(unix.EPERM)},
		{"setsid", b, unix.SYS_SETSID, nil, int64(pb)},
		{"getsid", root, unix.SYS_GETSID, []uint64{pb}, int64(pb)},
		{"b leads its group", b, unix.SYS_GETPGRP, nil, int64(pb)},
		{"setsid twice", b, unix.SYS_SETSID, nil, neg64(unix.EPERM)},
		{"a session leader's group", b, unix.SYS_SETPGID, []uint64{0, 0}, neg64(unix.EPERM)},
		{"a child in another session", root, unix.SYS_SETPGID, []uint64{pb, 42}, neg64(unix.EPERM)},
		{"a group of another session", root, unix.SYS_SETPGID, []uint64{pa, pb}, neg64(unix.EPERM)},
	} {
		if got := tc(c.t, c.nr, c.args...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// A grandchild inherits b's session and group; a thread's id is not
	// a process for setpgid.
	g := h.fork(t, b)
	if r := tc(g, unix.SYS_GETSID, 0); r != int64(pb) {
		t.Errorf("grandchild's session %d", r)
	}
	tid := tc(root, unix.SYS_CLONE, threadFlags, childStack)
	if r := tc(root, unix.SYS_SETPGID, uint64(tid), 0); r != neg64(unix.EINVAL) {
		t.Errorf("setpgid of a thread: %d", r)
	}
	// After exec, the parent may no longer move the child.
	h.root.mu.Lock()
	a.execCommitted()
	h.root.mu.Unlock()
	if r := tc(root, unix.SYS_SETPGID, pa, 42); r != neg64(unix.EACCES) {
		t.Errorf("setpgid after exec: %d", r)
	}
}

func TestKillAcrossProcesses(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	a := h.fork(t, root)
	b := h.fork(t, root)
	pending := func(p *Process) uint64 {
		h.root.mu.Lock()
		defer h.root.mu.Unlock()
		r := p.sig.pending
		p.sig.pending = 0
		return r
	}
	blockAll := func(t *Task) {
		putWord(memOf(t.Process), bufAddr, 0xffffffff)
		tc(t, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, bufAddr, 0, sigsetSize)
	}
	blockAll(root)
	blockAll(a)
	blockAll(b)
	usr1 := sigBit(unix.SIGUSR1)
	if r := tc(root, unix.SYS_KILL, uint64(a.cfg.PID), uint64(unix.SIGUSR1)); r != 0 || pending(a.Process) != usr1 || pending(b.Process) != 0 {
		t.Errorf("kill(a): %d", r)
	}
	tc(root, unix.SYS_SETPGID, uint64(b.cfg.PID), 0)
	if r := tc(a, unix.SYS_KILL, uint64(-int64(b.cfg.PID)), uint64(unix.SIGUSR1)); r != 0 || pending(b.Process) != usr1 || pending(a.Process) != 0 {
		t.Errorf("kill(-pgid of b): %d", r)
	}
	if r := tc(a, unix.SYS_KILL, 0, uint64(unix.SIGUSR1)); r != 0 || pending(a.Process) != usr1 || pending(h.root) != usr1 || pending(b.Process) != 0 {
		t.Errorf("kill(0) from a: %d", r)
	}
	if r := tc(a, unix.SYS_KILL, 1<<64-1, uint64(unix.SIGUSR1)); r != 0 || pending(a.Process) != 0 || pending(b.Process) != usr1 || pending(h.root) != usr1 {
		t.Errorf("kill(-1) from a: %d (the root is pid 42, not init)", r)
	}
	if r := tc(a, unix.SYS_TGKILL, uint64(b.cfg.PID), uint64(b.cfg.PID), uint64(unix.SIGUSR2)); r != 0 || b.tsig.pending != sigBit(unix.SIGUSR2) {
		t.Errorf("tgkill(b): %d", r)
	}
	if r := tc(a, unix.SYS_TGKILL, 42, uint64(b.cfg.PID), uint64(unix.SIGUSR2)); r != neg64(unix.ESRCH) {
		t.Errorf("tgkill of b's thread under the root's tgid: %d", r)
	}
	for _, c := range []struct {
		name string
		pid  uint64
		sig  uint64
		want int64
	}{
		{"no such pid", 999, uint64(unix.SIGUSR1), neg64(unix.ESRCH)},
		{"no such group", uint64(1<<64 - 999), uint64(unix.SIGUSR1), neg64(unix.ESRCH)},
		{"INT_MIN", 1 << 31, uint64(unix.SIGUSR1), neg64(unix.ESRCH)},
		{"bad signal to a live process", uint64(b.cfg.PID), 65, neg64(unix.EINVAL)},
	} {
		if r := tc(a, unix.SYS_KILL, c.pid, c.sig); r != c.want {
			t.Errorf("%s: %d, want %d", c.name, r, c.want)
		}
	}
	// A zombie takes a signal without effect.
	tc(b, unix.SYS_EXIT_GROUP, 0)
	if r := tc(a, unix.SYS_KILL, uint64(b.cfg.PID), uint64(unix.SIGKILL)); r != 0 {
		t.Errorf("kill of a zombie: %d", r)
	}
	if r := tc(a, unix.SYS_TGKILL, uint64(b.cfg.PID), uint64(b.cfg.PID), uint64(unix.SIGKILL)); r != 0 {
		t.Errorf("tgkill of a zombie: %d", r)
	}
	tc(root, unix.SYS_WAIT4, uint64(b.cfg.PID), statusAddr, 0, 0)
	if st := getWord(h.mem, statusAddr); st != 0 {
		t.Errorf("the zombie's status changed to %#x", st)
	}
	if r := tc(a, unix.SYS_KILL, uint64(b.cfg.PID), 0); r != neg64(unix.ESRCH) {
		t.Errorf("kill of a reaped pid: %d", r)
	}
}

// TestVforkWaitsForTheChild checks that vfork's caller waits until the
// child execs or ends, whatever signal it gets meanwhile, and that the
// child shares its memory.
func TestVforkWaitsForTheChild(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	act := h.mem.mem[sigactAddr-base : sigactAddr-base+sigactionSize]
	binary.LittleEndian.PutUint64(act, 0x401000)
	binary.LittleEndian.PutUint64(act[8:], saRestorer)
	binary.LittleEndian.PutUint64(act[16:], 0x401100)
	tc(parent, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), sigactAddr, 0, sigsetSize)
	vfork := func() <-chan UserRegs {
		done := make(chan UserRegs, 1)
		go func() {
			regs := UserRegs{RAX: unix.SYS_VFORK, RSP: base + 0xc000}
			parent.HandleSyscall(&regs)
			done <- regs
		}()
		return done
	}
	for _, end := range []struct {
		name   string
		signal bool
		end    func(c *Task)
	}{
		{"exit, with a signal meanwhile", true, func(c *Task) { tc(c, unix.SYS_EXIT, 0) }},
		{"exec", false, func(c *Task) {
			c.mu.Lock()
			c.execCommitted()
			c.mu.Unlock()
		}},
	} {
		done := vfork()
		child := (<-h.started).t
		if child.cfg.Memory != h.root.cfg.Memory || child.space != h.root.space {
			t.Errorf("%s: the vfork child does not share the memory", end.name)
		}
		if end.signal {
			tc(child, unix.SYS_KILL, 42, uint64(unix.SIGUSR1))
		}
		select {
		case regs := <-done:
			t.Fatalf("%s: vfork returned %d before the child was done", end.name, int64(regs.RAX))
		case <-time.After(20 * time.Millisecond):
		}
		end.end(child)
		select {
		case regs := <-done:
			switch {
			case end.signal && regs.RIP != 0x401000:
				t.Errorf("%s: the handler did not run after vfork: rip %#x", end.name, regs.RIP)
			case !end.signal && int(regs.RAX) != child.cfg.PID:
				t.Errorf("%s: vfork = %d", end.name, int64(regs.RAX))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: vfork did not return", end.name)
		}
	}
	// A fatal signal ends the wait: the caller dies.
	done := vfork()
	child := (<-h.started).t
	tc(child, unix.SYS_KILL, 42, uint64(unix.SIGTERM))
	select {
	case <-done:
		if sig, _, killed := h.root.Signaled(); !killed || sig != unix.SIGTERM {
			t.Errorf("vfork caller not killed by SIGTERM: %v", sig)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not end the vfork wait")
	}
}

// TestChildRusage checks the figures wait4 and getrusage(RUSAGE_CHILDREN)
// report: a reaped child's, counting what it reaped itself.
func TestChildRusage(t *testing.T) {
	h := newProcHarness(t)
	forkMemory := h.root.cfg.Fork
	usage := map[int]Usage{}
	h.root.cfg.Fork = func(caller *Task, share bool) (Config, func(), error) {
		cfg, release, err := forkMemory(caller, share)
		n := len(usage) + 1
		u := Usage{PeakRSS: uint64(n) << 20, Faults: uint64(10 * n)}
		usage[n] = u
		cfg.Usage = func() Usage { return u }
		return cfg, release, err
	}
	root := h.root.main
	a := h.fork(t, root) // 1 MiB, 10 faults
	b := h.fork(t, a)    // 2 MiB, 20 faults
	c := h.fork(t, a)    // 3 MiB, 30 faults: ignored, a never waits for it
	tc(b, unix.SYS_EXIT, 0)
	tc(a, unix.SYS_WAIT4, uint64(b.cfg.PID), 0, 0, 0)
	tc(c, unix.SYS_EXIT, 0)
	tc(a, unix.SYS_EXIT, 0)
	rusage := h.mem.mem[rusageAddr-base : rusageAddr-base+rusageSize]
	for i := range rusage {
		rusage[i] = 0xff
	}
	le := binary.LittleEndian
	if r := tc(root, unix.SYS_WAIT4, uint64(a.cfg.PID), 0, 0, rusageAddr); r != int64(a.cfg.PID) {
		t.Fatal(r)
	}
	if maxrss, minflt, utime := le.Uint64(rusage[rusageMaxRSS:]), le.Uint64(rusage[rusageMinflt:]), le.Uint64(rusage); maxrss != 2<<10 || minflt != 30 || utime != 0 {
		t.Errorf("wait4's rusage: maxrss %d KiB, minflt %d, utime %d; want 2048, 30, 0", maxrss, minflt, utime)
	}
	clear(rusage)
	if r := tc(root, unix.SYS_GETRUSAGE, uint64(1<<64-1), rusageAddr); r != 0 || le.Uint64(rusage[rusageMaxRSS:]) != 2<<10 || le.Uint64(rusage[rusageMinflt:]) != 30 {
		t.Errorf("getrusage(RUSAGE_CHILDREN): %d, maxrss %d, minflt %d", r, le.Uint64(rusage[rusageMaxRSS:]), le.Uint64(rusage[rusageMinflt:]))
	}
}

func TestProcessesLists(t *testing.T) {
	h := newProcHarness(t)
	a := h.fork(t, h.root.main)
	b := h.fork(t, a)
	tc(b, unix.SYS_EXIT, 0) // a zombie of a's: listed until reaped
	got := []int{}
	for _, p := range b.Processes() {
		got = append(got, p.PID())
	}
	if len(got) != 3 || got[0] != 42 || got[1] != a.cfg.PID || got[2] != b.cfg.PID {
		t.Errorf("Processes %v", got)
	}
	tc(a, unix.SYS_WAIT4, 1<<64-1, 0, 0, 0)
	if n := len(h.root.Processes()); n != 2 {
		t.Errorf("%d processes after the reap", n)
	}
}

// TestCloneChildren checks clone's own kinds of child: one whose exit
// signal is not SIGCHLD waits only with __WCLONE or __WALL, and
// CLONE_PARENT makes a sibling.
func TestCloneChildren(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	a := h.fork(t, root)
	pid, st := h.forkFrom(t, a, 0, 0) // clone(0): no exit signal
	if st == nil {
		t.Fatalf("clone(0) = %d", int64(pid))
	}
	tc(st.t, unix.SYS_EXIT, 4)
	if r := tc(a, unix.SYS_WAIT4, 1<<64-1, 0, unix.WNOHANG, 0); r != neg64(unix.ECHILD) {
		t.Errorf("wait4 for a clone child without __WCLONE: %d, want ECHILD", r)
	}
	if r := tc(a, unix.SYS_WAITID, pAll, 0, 0, wExited|wAll|wNowait, 0); r != 0 {
		t.Errorf("waitid __WALL: %d", r)
	}
	if r := tc(a, unix.SYS_WAIT4, 1<<64-1, statusAddr, wClone, 0); r != int64(pid) || getWord(memOf(a.Process), statusAddr) != 4<<8 {
		t.Errorf("wait4 __WCLONE: %d", r)
	}
	// CLONE_PARENT from a: a child of the root, reporting with a's exit
	// signal (SIGCHLD).
	pid, st = h.forkFrom(t, a, unix.CLONE_PARENT, 0)
	if st == nil {
		t.Fatalf("clone(CLONE_PARENT) = %d", int64(pid))
	}
	if r := tc(st.t, unix.SYS_GETPPID); r != 42 {
		t.Errorf("CLONE_PARENT child's parent %d, want the root", r)
	}
	tc(st.t, unix.SYS_EXIT, 0)
	if r := tc(root, unix.SYS_WAIT4, pid, 0, 0, 0); r != int64(pid) {
		t.Errorf("the root's wait for its CLONE_PARENT child: %d", r)
	}
}

// TestProcessesRunConcurrently runs a parent and a child on their own
// goroutines, as their vCPUs would: a blocking pipe read in one process
// is woken by the other's write and by its exit, and a kill from one
// interrupts the other's pause.
func TestProcessesRunConcurrently(t *testing.T) {
	h := newProcHarness(t)
	parent := h.root.main
	if r := tc(parent, unix.SYS_PIPE2, fdsAddr, 0); r != 0 {
		t.Fatal(r)
	}
	rd, wr := uint64(getWord(h.mem, fdsAddr)), uint64(getWord(h.mem, fdsAddr+4))
	child := h.fork(t, parent)
	tc(parent, unix.SYS_CLOSE, wr)
	cmem := memOf(child.Process)
	copy(cmem.mem[bufAddr-base:], "ping")
	var total int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			r := tc(parent, unix.SYS_READ, rd, bufAddr+0x100, 100)
			if r <= 0 {
				return
			}
			total += r
		}
	}()
	for range 50 {
		if r := tc(child, unix.SYS_WRITE, wr, bufAddr, 4); r != 4 {
			t.Fatalf("child write %d", r)
		}
	}
	// The child blocks in pause until the parent's kill: SIGUSR1 with a
	// handler interrupts it.
	act := cmem.mem[sigactAddr-base : sigactAddr-base+sigactionSize]
	binary.LittleEndian.PutUint64(act, 0x401000)
	binary.LittleEndian.PutUint64(act[8:], saRestorer)
	tc(child, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), sigactAddr, 0, sigsetSize)
	paused := make(chan UserRegs, 1)
	go func() {
		regs := UserRegs{RAX: unix.SYS_PAUSE, RSP: base + 0xc000}
		child.HandleSyscall(&regs)
		paused <- regs
	}()
	time.Sleep(10 * time.Millisecond)
	if r := tc(parent, unix.SYS_KILL, uint64(child.cfg.PID), uint64(unix.SIGUSR1)); r != 0 {
		t.Fatal(r)
	}
	select {
	case regs := <-paused:
		if regs.RIP != 0x401000 {
			t.Errorf("the child's pause ended at rip %#x, not in the handler", regs.RIP)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("kill from the parent did not interrupt the child's pause")
	}
	tc(child, unix.SYS_EXIT_GROUP, 0)
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the parent's read saw no EOF at the child's exit")
	}
	if total != 200 {
		t.Errorf("the parent read %d bytes, want 200", total)
	}
}

// TestChildSeesItselfInProc checks that /proc/self and /proc/<pid> are
// the caller's own, in the file system every process shares.
func TestChildSeesItselfInProc(t *testing.T) {
	h := newProcHarness(t)
	h.root.SetCommandLine([]string{"parent"})
	tc(h.root.main, unix.SYS_OPENAT, atFDCWD, putStr(h.mem, 0x100, "/proc"), unix.O_RDONLY|unix.O_DIRECTORY) // builds the file system
	child := h.fork(t, h.root.main)
	cmem := memOf(child.Process)
	child.info.argv = []string{"child"}
	for _, c := range []struct {
		path string
		want string
	}{
		{"/proc/self/cmdline", "child\x00"},
		{"/proc/43/cmdline", "child\x00"},
		{"/proc/42/cmdline", "parent\x00"},
		{"/proc/42/comm", "\n"},
	} {
		fd := tc(child, unix.SYS_OPENAT, atFDCWD, putStr(cmem, 0x100, c.path), unix.O_RDONLY)
		if fd < 0 {
			t.Errorf("open %s: %d", c.path, fd)
			continue
		}
		n := tc(child, unix.SYS_READ, uint64(fd), bufAddr, 100)
		if got := string(cmem.mem[bufAddr-base:][:max(n, 0)]); got != c.want {
			t.Errorf("%s: %q, want %q", c.path, got, c.want)
		}
	}
	if r := tc(child, unix.SYS_OPENAT, atFDCWD, putStr(cmem, 0x100, "/proc/42/maps"), unix.O_RDONLY); r != neg64(unix.ENOENT) {
		t.Errorf("another process's /proc/42/maps: %d, want ENOENT (not shown)", r)
	}
	fd := tc(child, unix.SYS_OPENAT, atFDCWD, putStr(cmem, 0x100, "/proc/self/status"), unix.O_RDONLY)
	n := tc(child, unix.SYS_READ, uint64(fd), bufAddr, 4096)
	if status := string(cmem.mem[bufAddr-base:][:max(n, 0)]); !strings.Contains(status, "\nPid:\t43\nPPid:\t42\n") {
		t.Errorf("the child's /proc/self/status:\n%s", status)
	}
	n = tc(child, unix.SYS_READLINK, putStr(cmem, 0x100, "/proc/self"), bufAddr, 100)
	if got := string(cmem.mem[bufAddr-base:][:max(n, 0)]); got != "43" {
		t.Errorf("readlink /proc/self in the child: %q", got)
	}
	// getdents of /proc lists every process, the caller's pid among them.
	fd = tc(child, unix.SYS_OPENAT, atFDCWD, putStr(cmem, 0x100, "/proc"), unix.O_RDONLY|unix.O_DIRECTORY)
	n = tc(child, unix.SYS_GETDENTS64, uint64(fd), bufAddr, 4096)
	names := map[string]bool{}
	for _, d := range parseDirents(cmem.mem[bufAddr-base:][:max(n, 0)]) {
		names[d.name] = true
	}
	if !names["43"] || !names["42"] {
		t.Errorf("/proc lists %v for the child", names)
	}
}

// TestWaitNothread checks __WNOTHREAD: a thread's children are its own
// until it exits, when another thread of the process takes them.
func TestWaitNothread(t *testing.T) {
	h := newProcHarness(t)
	leader := h.root.main
	tid := tc(leader, unix.SYS_CLONE, threadFlags, childStack)
	t2 := (<-h.started).t
	if int64(t2.tid) != tid {
		t.Fatalf("thread %d, started %d", tid, t2.tid)
	}
	child := h.fork(t, t2)
	tc(child, unix.SYS_EXIT, 0)
	if r := tc(leader, unix.SYS_WAIT4, 1<<64-1, 0, unix.WNOHANG|wNothread, 0); r != neg64(unix.ECHILD) {
		t.Errorf("the main thread's __WNOTHREAD wait for t2's child: %d, want ECHILD", r)
	}
	if r := tc(leader, unix.SYS_WAITID, pAll, 0, 0, wExited|wNowait|wNohang, 0); r != 0 {
		t.Errorf("the main thread's wait for the process's children: %d", r)
	}
	tc(t2, unix.SYS_EXIT, 0)
	if r := tc(leader, unix.SYS_WAIT4, 1<<64-1, 0, unix.WNOHANG|wNothread, 0); r != int64(child.cfg.PID) {
		t.Errorf("the main thread's __WNOTHREAD wait after t2 exited: %d, want %d", r, child.cfg.PID)
	}
}

// TestSigcontEndsAStop: a process stopped by SIGSTOP goes on when another
// sends it SIGCONT, though SIGCONT's default action ignores it (a shell's
// `kill -CONT` of a stopped job hung until the run's end).
func TestSigcontEndsAStop(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	a := h.fork(t, root)
	done := make(chan int64, 1)
	go func() { done <- tc(a, unix.SYS_KILL, uint64(a.cfg.PID), uint64(unix.SIGSTOP)) }()
	select {
	case r := <-done:
		t.Fatalf("kill(self, SIGSTOP) returned %d without a stop", r)
	case <-time.After(100 * time.Millisecond):
	}
	if r := tc(root, unix.SYS_KILL, uint64(a.cfg.PID), uint64(unix.SIGCONT)); r != 0 {
		t.Fatalf("kill(a, SIGCONT) = %d", r)
	}
	select {
	case r := <-done:
		if r != 0 {
			t.Errorf("kill(self, SIGSTOP) = %d after the stop", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGCONT did not end the stop")
	}
}
