package syscalls

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Threads are goroutines here: each Task's calls run on its own
// goroutine, as each vCPU's do under the machine, and Config.StartThread
// and Config.Interrupt are fakes that record what the machine is asked.

// threadFlags are the clone flags glibc's pthread_create passes, without
// the extras each test adds.
const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// Addresses in the test memory the thread tests use.
const (
	ptidAddr   = base + 0x2000
	ctidAddr   = base + 0x2010
	wordAddr   = base + 0x2020
	word2Addr  = base + 0x2030
	robustHead = base + 0x3000
	childStack = base + 0xe000
	cloneArgsA = base + 0x1000
)

// startedThread is one StartThread call.
type startedThread struct {
	t    *Task
	regs UserRegs
}

type threadHarness struct {
	p   *Process
	mem *flatMemory
	// started receives each thread StartThread was asked to start;
	// interrupts each Interrupt call.
	started    chan startedThread
	interrupts chan *Task
	// startErr, when set before a clone, makes StartThread fail.
	startErr error
}

func newThreadHarness(t *testing.T) *threadHarness {
	t.Helper()
	p, mem, _ := newTestProcess(t)
	h := &threadHarness{p: p, mem: mem, started: make(chan startedThread, 300), interrupts: make(chan *Task, 1000)}
	p.cfg.StartThread = func(t *Task, regs UserRegs) error {
		if h.startErr != nil {
			return h.startErr
		}
		h.started <- startedThread{t, regs}
		return nil
	}
	p.cfg.Interrupt = func(t *Task) {
		select {
		case h.interrupts <- t:
		default:
		}
	}
	return h
}

// parentRegs is the main thread's context at a clone: every register
// distinct, the clone's arguments in RDI, RSI, RDX, R10 and R8.
func parentRegs(flags, stack, ptid, ctid, tls uint64) UserRegs {
	return UserRegs{
		RAX: unix.SYS_CLONE, RDI: flags, RSI: stack, RDX: ptid, R10: ctid, R8: tls,
		R9: 0x909, R11: 0x246, R12: 0x1212, R13: 0x1313, R14: 0x1414, R15: 0x1515,
		RBP: 0xb0b0, RBX: 0xb1b1, RCX: 0x400102, RSP: base + 0xc000, RIP: 0x400102, RFLAGS: 0x246,
	}
}

// clone makes the main thread call clone with flags and returns the
// result and, if a thread was started, what StartThread got.
func (h *threadHarness) clone(t *testing.T, flags, stack, ptid, ctid, tls uint64) (uint64, *startedThread) {
	t.Helper()
	regs := parentRegs(flags, stack, ptid, ctid, tls)
	h.p.main.HandleSyscall(&regs)
	select {
	case st := <-h.started:
		return regs.RAX, &st
	default:
		return regs.RAX, nil
	}
}

// spawn starts a thread with plain pthread flags and returns it.
func (h *threadHarness) spawn(t *testing.T) *Task {
	t.Helper()
	tid, st := h.clone(t, threadFlags, childStack, 0, 0, 0)
	if st == nil || int64(tid) <= 0 {
		t.Fatalf("clone = %d, started %v", int64(tid), st)
	}
	return st.t
}

// word reads a 4-byte word of the test memory, under the Process lock
// (every copy of the calls is made under it).
func (h *threadHarness) word(addr uint64) uint32 {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return getWord(h.mem, addr)
}

// call makes t call nr on its own goroutine; the result arrives on the
// returned channel.
func call(t *Task, nr uint64, a ...uint64) <-chan uint64 {
	var args [6]uint64
	copy(args[:], a)
	done := make(chan uint64, 1)
	go func() { done <- t.Syscall(nr, args) }()
	return done
}

// waitQueued waits until n threads wait on the futex at addr, keyed as
// key says.
func waitQueued(t *testing.T, p *Process, key futexKey, n int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		p.futexes.mu.Lock()
		got := len(p.futexes.queues[key])
		p.futexes.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("no waiter queued on %+v", key)
		}
	}
}

func TestCloneThreadFlags(t *testing.T) {
	const tls = 0x7f00_0000_1000
	for _, c := range []struct {
		name  string
		extra uint64
	}{
		{"plain", 0},
		{"settls", unix.CLONE_SETTLS},
		{"parent_settid", unix.CLONE_PARENT_SETTID},
		{"child_settid", unix.CLONE_CHILD_SETTID},
		{"child_cleartid", unix.CLONE_CHILD_CLEARTID},
		{"glibc", unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID},
		{"all", unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID | unix.CLONE_DETACHED},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newThreadHarness(t)
			main := h.p.main
			main.fsBase = 0x7000_0000
			main.sigmask = sigBit(unix.SIGUSR2)
			main.tsig.altSP, main.tsig.altSize = base+0x8000, 0x4000
			_ = main.sendToThread(main, unix.SIGUSR2, sigInfo{code: siTkill}) // blocked: stays pending on main
			putWord(h.mem, ptidAddr, 0xdead)
			putWord(h.mem, ctidAddr, 0xbeef)
			flags := threadFlags | c.extra
			r, st := h.clone(t, flags, childStack, ptidAddr, ctidAddr, tls)
			if st == nil || int64(r) <= 0 {
				t.Fatalf("clone = %d, started %v", int64(r), st)
			}
			tid := int(r)
			child := st.t
			if child.TID() != tid || tid == h.p.cfg.PID || main.TID() != h.p.cfg.PID {
				t.Errorf("tid %d, child's TID %d, main's %d, pid %d", tid, child.TID(), main.TID(), h.p.cfg.PID)
			}
			want := parentRegs(flags, childStack, ptidAddr, ctidAddr, tls)
			want.RAX, want.RSP = 0, childStack
			if st.regs != want {
				t.Errorf("child regs\n%+v\nwant\n%+v", st.regs, want)
			}
			wantFS := uint64(0x7000_0000)
			if c.extra&unix.CLONE_SETTLS != 0 {
				wantFS = tls
			}
			if fs, changed := child.FSBase(); fs != wantFS || !changed {
				t.Errorf("child FS base %#x (changed %v), want %#x", fs, changed, wantFS)
			}
			wantWord := func(addr uint64, set bool, old uint32) {
				t.Helper()
				want := old
				if set {
					want = uint32(tid)
				}
				if got := getWord(h.mem, addr); got != want {
					t.Errorf("word at %#x = %#x, want %#x", addr, got, want)
				}
			}
			wantWord(ptidAddr, c.extra&unix.CLONE_PARENT_SETTID != 0, 0xdead)
			wantWord(ctidAddr, c.extra&unix.CLONE_CHILD_SETTID != 0, 0xbeef)
			wantClear := uint64(0)
			if c.extra&unix.CLONE_CHILD_CLEARTID != 0 {
				wantClear = ctidAddr
			}
			if child.clearChildTID != wantClear {
				t.Errorf("clear_child_tid %#x, want %#x", child.clearChildTID, wantClear)
			}
			if child.sigmask != main.sigmask || child.tsig.pending != 0 || child.tsig.altSize != 0 || main.tsig.altSize == 0 {
				t.Errorf("child mask %#x (main's %#x), pending %#x, altstack size %#x", child.sigmask, main.sigmask, child.tsig.pending, child.tsig.altSize)
			}
			if child.Exited() || child.Process != h.p {
				t.Error("the child is not a live thread of the process")
			}
			if got := h.p.CloneRefusals()[CloneThread]; got != 0 {
				t.Errorf("%d thread clones refused", got)
			}
		})
	}
}

// TestClone3Thread starts a thread with clone3, whose stack is its lowest
// address and size.
func TestClone3Thread(t *testing.T) {
	h := newThreadHarness(t)
	le := binary.LittleEndian
	b := h.mem.mem[cloneArgsA-base:]
	le.PutUint64(b[0:], threadFlags|unix.CLONE_SETTLS|unix.CLONE_PARENT_SETTID)
	le.PutUint64(b[24:], ptidAddr)    // parent_tid
	le.PutUint64(b[40:], base+0xd000) // stack
	le.PutUint64(b[48:], 0x1000)      // stack_size
	le.PutUint64(b[56:], 0x5000)      // tls
	regs := UserRegs{RAX: unix.SYS_CLONE3, RDI: cloneArgsA, RSI: cloneArgsSizeVer0, RIP: 0x400200, RSP: base + 0xc000}
	h.p.main.HandleSyscall(&regs)
	st := <-h.started
	if int(regs.RAX) != st.t.TID() || getWord(h.mem, ptidAddr) != uint32(st.t.TID()) {
		t.Errorf("clone3 = %d, thread %d, parent_tid %d", int64(regs.RAX), st.t.TID(), getWord(h.mem, ptidAddr))
	}
	if st.regs.RSP != base+0xe000 || st.regs.RIP != 0x400200 || st.regs.RAX != 0 || st.t.fsBase != 0x5000 {
		t.Errorf("child regs %+v, fs %#x", st.regs, st.t.fsBase)
	}
}

// TestCloneThreadRefusals: no StartThread is ENOSYS as before; a failing
// StartThread, a bad tls and too many threads are Linux's errors, and a
// thread that was not started is forgotten.
func TestCloneThreadRefusals(t *testing.T) {
	h := newThreadHarness(t)
	h.p.cfg.StartThread = nil
	if r, _ := h.clone(t, threadFlags, childStack, 0, 0, 0); r != neg(unix.ENOSYS) || h.p.CloneRefusals()[CloneThread] != 1 {
		t.Errorf("clone without StartThread = %d, refusals %v", int64(r), h.p.CloneRefusals())
	}

	h = newThreadHarness(t)
	h.startErr = errors.New("no vCPU")
	r, _ := h.clone(t, threadFlags|unix.CLONE_PARENT_SETTID, childStack, ptidAddr, 0, 0)
	if r != neg(unix.EAGAIN) {
		t.Errorf("clone with a failing StartThread = %d, want EAGAIN", int64(r))
	}
	if tid := getWord(h.mem, ptidAddr); tid == 0 || h.p.Syscall(unix.SYS_TGKILL, [6]uint64{42, uint64(tid), 0}) != neg(unix.ESRCH) {
		t.Errorf("the thread that was not started (tid %d) can be signalled", tid)
	}
	h.startErr = nil

	if r, _ := h.clone(t, threadFlags|unix.CLONE_SETTLS, childStack, 0, 0, 1<<47); r != neg(unix.EPERM) {
		t.Errorf("clone with tls 1<<47 = %d, want EPERM", int64(r))
	}

	tids := map[int]bool{h.p.cfg.PID: true}
	for i := 1; i < maxThreads; i++ {
		c := h.spawn(t)
		if tids[c.TID()] {
			t.Fatalf("TID %d given twice", c.TID())
		}
		tids[c.TID()] = true
	}
	if r, _ := h.clone(t, threadFlags, childStack, 0, 0, 0); r != neg(unix.EAGAIN) {
		t.Errorf("clone of thread %d = %d, want EAGAIN", maxThreads+1, int64(r))
	}
}

// TestGettid: each thread has its TID, all share the PID; set_tid_address
// returns the TID.
func TestGettid(t *testing.T) {
	h := newThreadHarness(t)
	c := h.spawn(t)
	if got := <-call(c, unix.SYS_GETTID); got != uint64(c.TID()) {
		t.Errorf("child's gettid = %d, want %d", got, c.TID())
	}
	if got := <-call(c, unix.SYS_GETPID); got != 42 {
		t.Errorf("child's getpid = %d", got)
	}
	if got := <-call(c, unix.SYS_SET_TID_ADDRESS, ctidAddr); got != uint64(c.TID()) || c.clearChildTID != ctidAddr || h.p.main.clearChildTID != 0 {
		t.Errorf("child's set_tid_address = %d, clear_child_tid %#x, main's %#x", got, c.clearChildTID, h.p.main.clearChildTID)
	}
	if got := h.p.Syscall(unix.SYS_GETTID, [6]uint64{}); got != 42 {
		t.Errorf("main's gettid = %d", got)
	}
}

// TestThreadExitJoins: the exit of a thread with a clear_child_tid zeroes
// the word and wakes the thread waiting on it (pthread_join), keyed as a
// shared futex; the process lives on, and ends when its last thread exits,
// with the main thread's exit code (Linux reports the group leader's).
func TestThreadExitJoins(t *testing.T) {
	h := newThreadHarness(t)
	tid, st := h.clone(t, threadFlags|unix.CLONE_PARENT_SETTID|unix.CLONE_CHILD_CLEARTID, childStack, ctidAddr, ctidAddr, 0)
	if st == nil || getWord(h.mem, ctidAddr) != uint32(tid) {
		t.Fatalf("clone = %d, ctid %d", int64(tid), getWord(h.mem, ctidAddr))
	}
	child := st.t
	join := call(h.p.main, unix.SYS_FUTEX, ctidAddr, futexWait, tid) // shared: no FUTEX_PRIVATE_FLAG
	waitQueued(t, h.p, futexKey{space: h.p.space, id: ctidAddr}, 1)
	<-call(child, unix.SYS_EXIT, 7)
	if r := result1(t, join); r != 0 {
		t.Errorf("join's futex wait = %d, want 0 (woken)", int64(r))
	}
	if w := h.word(ctidAddr); w != 0 || !child.Exited() || h.p.main.Exited() {
		t.Errorf("after the exit: ctid %d, child exited %v, main exited %v", w, child.Exited(), h.p.main.Exited())
	}
	if exited, _ := h.p.Exited(); exited {
		t.Fatal("the process ended with a thread's exit")
	}
	if r := h.p.Syscall(unix.SYS_TGKILL, [6]uint64{42, tid, 0}); r != neg(unix.ESRCH) {
		t.Errorf("tgkill to an exited thread = %d, want ESRCH", int64(r))
	}
	// The main thread exits first, then the last thread: the status is
	// the main thread's.
	c2 := h.spawn(t)
	<-call(h.p.main, unix.SYS_EXIT, 3)
	if exited, _ := h.p.Exited(); exited || c2.Exited() {
		t.Fatal("the main thread's exit ended the process")
	}
	if got := <-call(c2, unix.SYS_GETPID); got != 42 {
		t.Errorf("getpid after the main thread's exit = %d", got)
	}
	<-call(c2, unix.SYS_EXIT, 9)
	if exited, code := h.p.Exited(); !exited || code != 3 || !c2.Exited() {
		t.Errorf("after the last exit: exited %v, status %d, want status 3", exited, code)
	}
}

// TestExitGroupEndsThreads: exit_group from one thread ends every thread;
// one blocked in futex wait is woken (EINTR) and its vCPU kicked.
func TestExitGroupEndsThreads(t *testing.T) {
	h := newThreadHarness(t)
	c := h.spawn(t)
	c2 := h.spawn(t)
	waiting := call(c, unix.SYS_FUTEX, wordAddr, privWait, 0)
	waitQueued(t, h.p, futexKey{space: h.p.space, id: wordAddr}, 1)
	<-call(c2, unix.SYS_EXIT_GROUP, 5)
	if r := result1(t, waiting); r != neg(unix.EINTR) {
		t.Errorf("futex wait at exit_group = %d, want EINTR", int64(r))
	}
	if exited, code := h.p.Exited(); !exited || code != 5 {
		t.Errorf("exited %v, status %d", exited, code)
	}
	for _, task := range []*Task{h.p.main, c, c2} {
		if !task.Exited() {
			t.Errorf("thread %d not exited", task.TID())
		}
	}
	kicked := map[int]bool{}
	for len(h.interrupts) > 0 {
		kicked[(<-h.interrupts).TID()] = true
	}
	if !kicked[h.p.main.TID()] || !kicked[c.TID()] || kicked[c2.TID()] {
		t.Errorf("kicked %v: want the main thread and %d, not the caller %d", kicked, c.TID(), c2.TID())
	}
	if h.p.main.HandleSyscall(&UserRegs{RAX: unix.SYS_GETPID}) || h.p.main.TakeSignals(&UserRegs{}) {
		t.Error("a thread of an ended process still runs calls")
	}
}

// handlerRegs is a thread's context for a call that a SIGUSR1 handler may
// interrupt: the stack in the test memory.
func handlerRegs(nr uint64, a ...uint64) UserRegs {
	r := UserRegs{RAX: nr, RSP: childStack, RIP: 0x400300}
	args := []*uint64{&r.RDI, &r.RSI, &r.RDX, &r.R10, &r.R8, &r.R9}
	for i, v := range a {
		*args[i] = v
	}
	return r
}

// frameRAX is the RAX a handler's frame at rsp saved: the interrupted
// call's result.
func frameRAX(mem *flatMemory, rsp uint64) uint64 {
	return binary.LittleEndian.Uint64(mem.mem[rsp+frameUC+ucMcontext+scRAX-base:])
}

// TestTgkillInterruptsFutexWait: a tgkill to a thread blocked in futex
// wait kicks it and ends the wait: EINTR into the handler's frame without
// SA_RESTART, a restart of the futex call with it.
func TestTgkillInterruptsFutexWait(t *testing.T) {
	for _, restart := range []bool{false, true} {
		var flags uint64
		if restart {
			flags = saRestart
		}
		p, mem, _ := newSignalProcess(t, flags, 0)
		h := &threadHarness{p: p, mem: mem, started: make(chan startedThread, 1), interrupts: make(chan *Task, 10)}
		p.cfg.StartThread = func(t *Task, regs UserRegs) error { h.started <- startedThread{t, regs}; return nil }
		p.cfg.Interrupt = func(t *Task) { h.interrupts <- t }
		c := h.spawn(t)
		regs := handlerRegs(unix.SYS_FUTEX, wordAddr, privWait, 0)
		redirected := make(chan bool, 1)
		go func() { redirected <- c.HandleSyscall(&regs) }()
		waitQueued(t, p, futexKey{space: p.space, id: wordAddr}, 1)
		if r := p.Syscall(unix.SYS_TGKILL, [6]uint64{42, uint64(c.TID()), uint64(unix.SIGUSR1)}); r != 0 {
			t.Fatalf("tgkill = %d", int64(r))
		}
		if k := <-h.interrupts; k != c {
			t.Errorf("kicked thread %d, want %d", k.TID(), c.TID())
		}
		select {
		case red := <-redirected:
			if !red || regs.RIP != testHandler || regs.RDI != uint64(unix.SIGUSR1) {
				t.Fatalf("SA_RESTART %v: after the signal, redirected %v, regs %+v", restart, red, regs)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the futex wait was not interrupted")
		}
		wantRAX, wantRIP := neg(unix.EINTR), uint64(0x400300)
		if restart {
			wantRAX, wantRIP = unix.SYS_FUTEX, 0x400300-syscallInsnLen
		}
		sc := regs.RSP + frameUC + ucMcontext
		if got, rip := frameRAX(mem, regs.RSP), binary.LittleEndian.Uint64(mem.mem[sc+scRIP-base:]); got != wantRAX || rip != wantRIP {
			t.Errorf("SA_RESTART %v: the frame's rax %d, rip %#x; want %d, %#x", restart, int64(got), rip, int64(wantRAX), wantRIP)
		}
		if p.main.tsig.pending != 0 || waiters(p, wordAddr) != 0 {
			t.Errorf("the main thread has pending %#x; %d waiters left", p.main.tsig.pending, waiters(p, wordAddr))
		}
	}
}

// TestProcessSignalPicksThread: kill's signal goes to a thread that does
// not block it (the main thread blocks it here): that thread is kicked,
// its wait ends and it runs the handler; the main thread sees nothing.
func TestProcessSignalPicksThread(t *testing.T) {
	p, mem, _ := newSignalProcess(t, 0, 0)
	h := &threadHarness{p: p, mem: mem, started: make(chan startedThread, 2), interrupts: make(chan *Task, 10)}
	p.cfg.StartThread = func(t *Task, regs UserRegs) error { h.started <- startedThread{t, regs}; return nil }
	p.cfg.Interrupt = func(t *Task) { h.interrupts <- t }
	c1 := h.spawn(t)
	c2 := h.spawn(t)
	c1.sigmask = sigBit(unix.SIGUSR1)
	regs := handlerRegs(unix.SYS_NANOSLEEP, base+0x2100, 0)
	binary.LittleEndian.PutUint64(mem.mem[0x2100:], 1000) // 1000 s
	redirected := make(chan bool, 1)
	go func() { redirected <- c2.HandleSyscall(&regs) }()
	// Block SIGUSR1 in the main thread, then kill the process.
	binary.LittleEndian.PutUint64(mem.mem[0x2200:], sigBit(unix.SIGUSR1))
	if r := p.Syscall(unix.SYS_RT_SIGPROCMASK, [6]uint64{unix.SIG_BLOCK, base + 0x2200, 0, sigsetSize}); r != 0 {
		t.Fatalf("rt_sigprocmask = %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_KILL, [6]uint64{42, uint64(unix.SIGUSR1)}); r != 0 {
		t.Fatalf("kill = %d", int64(r))
	}
	if k := <-h.interrupts; k != c2 {
		t.Errorf("kicked thread %d, want %d (the one that does not block SIGUSR1)", k.TID(), c2.TID())
	}
	select {
	case red := <-redirected:
		if !red || regs.RIP != testHandler || frameRAX(mem, regs.RSP) != neg(unix.EINTR) {
			t.Errorf("nanosleep after kill: redirected %v, rip %#x, frame's rax %d", red, regs.RIP, int64(frameRAX(mem, regs.RSP)))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sleeping thread was not interrupted")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sig.pending != 0 || p.main.tsig.pending != 0 || c1.tsig.pending != 0 {
		t.Errorf("left pending: process %#x, main %#x, c1 %#x", p.sig.pending, p.main.tsig.pending, c1.tsig.pending)
	}
}

// TestTakeSignals: a signal sent to a running thread (not in a call) is
// taken at the interrupt exit its kick causes.
func TestTakeSignals(t *testing.T) {
	p, mem, _ := newSignalProcess(t, 0, 0)
	h := &threadHarness{p: p, mem: mem, started: make(chan startedThread, 1), interrupts: make(chan *Task, 10)}
	p.cfg.StartThread = func(t *Task, regs UserRegs) error { h.started <- startedThread{t, regs}; return nil }
	p.cfg.Interrupt = func(t *Task) { h.interrupts <- t }
	c := h.spawn(t)
	regs := UserRegs{RSP: childStack, RIP: 0x400400}
	if c.TakeSignals(&regs) {
		t.Fatal("TakeSignals with nothing pending changed the context")
	}
	if r := p.Syscall(unix.SYS_TKILL, [6]uint64{uint64(c.TID()), uint64(unix.SIGUSR1)}); r != 0 {
		t.Fatalf("tkill = %d", int64(r))
	}
	if k := <-h.interrupts; k != c {
		t.Fatalf("kicked %d", k.TID())
	}
	done := make(chan bool)
	go func() { done <- c.TakeSignals(&regs) }()
	if !<-done || regs.RIP != testHandler {
		t.Errorf("TakeSignals: rip %#x", regs.RIP)
	}
}

// TestFatalSignalEndsThreads: a signal whose default action kills, taken
// by one thread, ends the process and every thread.
func TestFatalSignalEndsThreads(t *testing.T) {
	h := newThreadHarness(t)
	c := h.spawn(t)
	waiting := call(h.p.main, unix.SYS_FUTEX, wordAddr, privWait, 0)
	waitQueued(t, h.p, futexKey{space: h.p.space, id: wordAddr}, 1)
	<-call(c, unix.SYS_TKILL, uint64(c.TID()), uint64(unix.SIGTERM))
	if r := result1(t, waiting); r != neg(unix.EINTR) {
		t.Errorf("main's futex wait = %d, want EINTR", int64(r))
	}
	if sig, _, killed := h.p.Signaled(); !killed || sig != unix.SIGTERM || !h.p.main.Exited() || !c.Exited() {
		t.Errorf("killed %v by %v; main exited %v, thread %v", killed, sig, h.p.main.Exited(), c.Exited())
	}
}

// TestPipeBetweenThreads: a read of an empty pipe waits for another
// thread's write; a write to a full pipe for another thread's read.
func TestPipeBetweenThreads(t *testing.T) {
	h := newThreadHarness(t)
	c := h.spawn(t)
	if r := h.p.Syscall(unix.SYS_PIPE2, [6]uint64{base + 0x2300, 0}); r != 0 {
		t.Fatalf("pipe2 = %d", int64(r))
	}
	rfd, wfd := uint64(getWord(h.mem, base+0x2300)), uint64(getWord(h.mem, base+0x2304))
	copy(h.mem.mem[0x2400:], "hello")
	read := call(c, unix.SYS_READ, rfd, base+0x2500, 100)
	time.Sleep(20 * time.Millisecond)
	if r := <-call(h.p.main, unix.SYS_WRITE, wfd, base+0x2400, 5); r != 5 {
		t.Fatalf("write = %d", int64(r))
	}
	if r := result1(t, read); r != 5 {
		t.Fatalf("read = %d", int64(r))
	}
	h.p.mu.Lock()
	got := string(h.mem.mem[0x2500:0x2505])
	h.p.mu.Unlock()
	if got != "hello" {
		t.Errorf("read %q", got)
	}
	// Fill the pipe (16 pages), then a 2-page write waits for a read.
	for i := 0; i < 16; i++ {
		if r := <-call(h.p.main, unix.SYS_WRITE, wfd, base+0x4000, 4096); r != 4096 {
			t.Fatalf("write %d = %d", i, int64(r))
		}
	}
	write := call(h.p.main, unix.SYS_WRITE, wfd, base+0x4000, 8192)
	time.Sleep(20 * time.Millisecond)
	select {
	case r := <-write:
		t.Fatalf("a write to a full pipe returned %d", int64(r))
	default:
	}
	for i := 0; i < 2; i++ {
		if r := <-call(c, unix.SYS_READ, rfd, base+0x6000, 4096); r != 4096 {
			t.Fatalf("read %d = %d", i, int64(r))
		}
	}
	if r := result1(t, write); r != 8192 {
		t.Errorf("the waiting write = %d, want 8192", int64(r))
	}
}

// TestPipeWriteWakesReaderBeforeWaitingForRoom: a write larger than the
// pipe's room wakes a reader already waiting on the empty pipe once it has
// filled the pipe, before it waits for room itself, as Linux's pipe_write;
// otherwise each waits for the other (a gzip -c piped to cat hung so).
func TestPipeWriteWakesReaderBeforeWaitingForRoom(t *testing.T) {
	h := newThreadHarness(t)
	c := h.spawn(t)
	if r := h.p.Syscall(unix.SYS_PIPE2, [6]uint64{base + 0x2300, 0}); r != 0 {
		t.Fatalf("pipe2 = %d", int64(r))
	}
	rfd, wfd := uint64(getWord(h.mem, base+0x2300)), uint64(getWord(h.mem, base+0x2304))
	if r := h.p.Syscall(unix.SYS_FCNTL, [6]uint64{wfd, fSetPipeSz, 4096}); r != 4096 {
		t.Fatalf("F_SETPIPE_SZ = %d", int64(r))
	}
	read := call(c, unix.SYS_READ, rfd, base+0x6000, 4096)
	time.Sleep(20 * time.Millisecond)
	write := call(h.p.main, unix.SYS_WRITE, wfd, base+0x4000, 8192)
	if r := result1(t, read); r != 4096 {
		t.Fatalf("the waiting read = %d, want 4096", int64(r))
	}
	if r := <-call(c, unix.SYS_READ, rfd, base+0x6000, 4096); r != 4096 {
		t.Fatalf("the second read = %d, want 4096", int64(r))
	}
	if r := result1(t, write); r != 8192 {
		t.Errorf("the write = %d, want 8192", int64(r))
	}
}

// TestRobustListOwnerDied: a thread's exit marks the robust futexes it
// owns FUTEX_OWNER_DIED, keeping FUTEX_WAITERS, and wakes a waiter where
// FUTEX_WAITERS was set; words it does not own are left alone; the
// pending entry is handled too; a cyclic list ends after
// ROBUST_LIST_LIMIT entries.
func TestRobustListOwnerDied(t *testing.T) {
	h := newThreadHarness(t)
	c := h.spawn(t)
	tid := uint32(c.TID())
	le := binary.LittleEndian
	m := h.mem.mem
	// Entries at 0x3100, 0x3200 and 0x3300 (pending), each with its
	// futex word at entry+16 (futex_offset 16).
	const offset = 16
	e1, e2, e3 := uint64(base+0x3100), uint64(base+0x3200), uint64(base+0x3300)
	le.PutUint64(m[robustHead-base:], e1)
	le.PutUint64(m[robustHead-base+8:], offset)
	le.PutUint64(m[robustHead-base+16:], e3)
	le.PutUint64(m[e1-base:], e2)
	le.PutUint64(m[e2-base:], robustHead)
	putWord(h.mem, e1+offset, tid|futexWaiters)
	putWord(h.mem, e2+offset, 12345) // another thread's
	putWord(h.mem, e3+offset, tid)
	if r := <-call(c, unix.SYS_SET_ROBUST_LIST, robustHead, robustListHeadSize); r != 0 {
		t.Fatalf("set_robust_list = %d", int64(r))
	}
	waiting := call(h.p.main, unix.SYS_FUTEX, e1+offset, futexWait, uint64(tid|futexWaiters))
	waitQueued(t, h.p, futexKey{space: h.p.space, id: e1 + offset}, 1)
	<-call(c, unix.SYS_EXIT, 0)
	if r := result1(t, waiting); r != 0 {
		t.Errorf("the waiter on the dead owner's lock = %d, want 0 (woken)", int64(r))
	}
	for _, w := range []struct {
		addr uint64
		want uint32
	}{{e1 + offset, futexWaiters | futexOwnerDied}, {e2 + offset, 12345}, {e3 + offset, futexOwnerDied}} {
		if got := h.word(w.addr); got != w.want {
			t.Errorf("word at %#x = %#x, want %#x", w.addr, got, w.want)
		}
	}

	// A list that points back at its first entry: the walk stops.
	c2 := h.spawn(t)
	h.p.mu.Lock()
	le.PutUint64(m[robustHead-base:], e1)
	le.PutUint64(m[robustHead-base+16:], 0)
	le.PutUint64(m[e1-base:], e1)
	putWord(h.mem, e1+offset, uint32(c2.TID()))
	h.p.mu.Unlock()
	<-call(c2, unix.SYS_SET_ROBUST_LIST, robustHead, robustListHeadSize)
	select {
	case <-call(c2, unix.SYS_EXIT, 0):
	case <-time.After(5 * time.Second):
		t.Fatal("the walk of a cyclic robust list did not end")
	}
	if got := h.word(e1 + offset); got != futexOwnerDied {
		t.Errorf("cyclic entry's word = %#x", got)
	}
}

// TestConcurrentCalls runs calls from 8 threads at once, with the stats
// read meanwhile; under -race it checks the locking.
func TestConcurrentCalls(t *testing.T) {
	h := newThreadHarness(t)
	if r := h.p.Syscall(unix.SYS_PIPE2, [6]uint64{base + 0x2300, unix.O_NONBLOCK}); r != 0 {
		t.Fatalf("pipe2 = %d", int64(r))
	}
	rfd, wfd := uint64(getWord(h.mem, base+0x2300)), uint64(getWord(h.mem, base+0x2304))
	tasks := []*Task{h.p.main}
	for len(tasks) < 8 {
		tasks = append(tasks, h.spawn(t))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.p.Stats()
			h.p.SignalStats()
			h.p.Exited()
			h.p.Stopping()
			for _, task := range tasks {
				task.Exited()
			}
		}
	}()
	for i, task := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := uint64(base + 0x8000 + i*0x100)
			for j := 0; j < 200; j++ {
				calls := [][7]uint64{
					{unix.SYS_GETTID},
					{unix.SYS_GETPID},
					{unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, own},
					{unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, own + 0x10, sigsetSize},
					{unix.SYS_WRITE, wfd, own, 8},
					{unix.SYS_READ, rfd, own + 0x20, 8},
					{unix.SYS_FUTEX, wordAddr, privWake, 1},
					{unix.SYS_KILL, 42, 0},
					{unix.SYS_TGKILL, 42, uint64(tasks[(i+1)%8].TID()), 0},
					{unix.SYS_DUP, 1},
					{unix.SYS_GETRLIMIT, unix.RLIMIT_STACK, own + 0x40},
				}
				c := calls[j%len(calls)]
				r := task.Syscall(c[0], [6]uint64(c[1:]))
				if c[0] == unix.SYS_DUP && int64(r) >= 0 {
					task.Syscall(unix.SYS_CLOSE, [6]uint64{r})
				}
				if c[0] == unix.SYS_GETTID && r != uint64(task.TID()) {
					t.Errorf("gettid = %d on thread %d", r, task.TID())
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	calls, _ := h.p.Stats()
	var n uint64
	for _, c := range calls {
		n += c.Count
	}
	if n < 8*200 {
		t.Errorf("%d calls counted, want at least %d", n, 8*200)
	}
}

// TestWaitsWokenByOtherThreads: rt_sigsuspend ends with another thread's
// tgkill (EINTR into the handler's frame), and poll with another thread's
// write to the pipe it polls.
func TestWaitsWokenByOtherThreads(t *testing.T) {
	p, mem, _ := newSignalProcess(t, 0, 0)
	h := &threadHarness{p: p, mem: mem, started: make(chan startedThread, 2), interrupts: make(chan *Task, 10)}
	p.cfg.StartThread = func(t *Task, regs UserRegs) error { h.started <- startedThread{t, regs}; return nil }
	p.cfg.Interrupt = func(t *Task) { h.interrupts <- t }
	c := h.spawn(t)
	binary.LittleEndian.PutUint64(mem.mem[0x2200:], 0) // the mask while suspended: none
	regs := handlerRegs(unix.SYS_RT_SIGSUSPEND, base+0x2200, sigsetSize)
	redirected := make(chan bool, 1)
	go func() { redirected <- c.HandleSyscall(&regs) }()
	time.Sleep(20 * time.Millisecond)
	if r := p.Syscall(unix.SYS_TGKILL, [6]uint64{42, uint64(c.TID()), uint64(unix.SIGUSR1)}); r != 0 {
		t.Fatalf("tgkill = %d", int64(r))
	}
	select {
	case red := <-redirected:
		if !red || regs.RIP != testHandler || frameRAX(mem, regs.RSP) != neg(unix.EINTR) {
			t.Errorf("rt_sigsuspend: redirected %v, rip %#x, frame's rax %d", red, regs.RIP, int64(frameRAX(mem, regs.RSP)))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("rt_sigsuspend was not ended by another thread's tgkill")
	}

	if r := p.Syscall(unix.SYS_PIPE2, [6]uint64{base + 0x2300, 0}); r != 0 {
		t.Fatalf("pipe2 = %d", int64(r))
	}
	rfd, wfd := getWord(mem, base+0x2300), getWord(mem, base+0x2304)
	le := binary.LittleEndian
	le.PutUint32(mem.mem[0x2400:], rfd)
	le.PutUint16(mem.mem[0x2404:], unix.POLLIN)
	polled := call(c, unix.SYS_POLL, base+0x2400, 1, uint64(^uint32(0))) // timeout -1
	time.Sleep(20 * time.Millisecond)
	if r := <-call(p.main, unix.SYS_WRITE, uint64(wfd), base+0x2500, 1); r != 1 {
		t.Fatalf("write = %d", int64(r))
	}
	if r := result1(t, polled); r != 1 {
		t.Fatalf("poll = %d, want 1", int64(r))
	}
	p.mu.Lock()
	rev := le.Uint16(mem.mem[0x2406:])
	p.mu.Unlock()
	if rev&unix.POLLIN == 0 {
		t.Errorf("revents %#x", rev)
	}

	// An eventfd written by another thread wakes poll and select as a
	// pipe does, not at their timeout.
	efd := p.Syscall(unix.SYS_EVENTFD2, [6]uint64{0, 0})
	if int64(efd) < 0 {
		t.Fatalf("eventfd2 = %d", int64(efd))
	}
	le.PutUint64(mem.mem[0x2500:], 1)
	for _, tc := range []struct {
		name string
		call func() <-chan uint64
	}{
		{"poll", func() <-chan uint64 {
			le.PutUint32(mem.mem[0x2400:], uint32(efd))
			le.PutUint32(mem.mem[0x2404:], unix.POLLIN)
			return call(c, unix.SYS_POLL, base+0x2400, 1, uint64(^uint32(0)))
		}},
		{"select", func() <-chan uint64 {
			le.PutUint64(mem.mem[0x2600:], 1<<efd)
			return call(c, unix.SYS_SELECT, efd+1, base+0x2600, 0, 0, 0)
		}},
	} {
		woken := tc.call()
		time.Sleep(20 * time.Millisecond)
		if r := <-call(p.main, unix.SYS_WRITE, efd, base+0x2500, 8); r != 8 {
			t.Fatalf("%s: eventfd write = %d", tc.name, int64(r))
		}
		select {
		case r := <-woken:
			if r != 1 {
				t.Errorf("%s = %d, want 1", tc.name, int64(r))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s was not woken by another thread's eventfd write", tc.name)
		}
		if r := <-call(p.main, unix.SYS_READ, efd, base+0x2700, 8); r != 8 {
			t.Fatalf("%s: eventfd read = %d", tc.name, int64(r))
		}
	}
}

// TestAffinityShowsTheCPUs checks that sched_getaffinity shows as many
// CPUs as the machine says the threads can run on (Config.CPUs), so that
// a runtime sizing its workers by it (Go's GOMAXPROCS, Rust's
// available_parallelism) uses them, and that sched_setaffinity takes a
// mask only if it holds one of them.
func TestAffinityShowsTheCPUs(t *testing.T) {
	mem := &flatMemory{base: base, mem: make([]byte, 1<<16)}
	p := NewProcess(Config{Memory: mem, StdioFDs: [3]int{-1, -1, -1}, CPUs: 4})
	le := binary.LittleEndian
	if r := sc(p, unix.SYS_SCHED_GETAFFINITY, 0, 8, base); r != 8 || le.Uint64(mem.mem) != 0xf {
		t.Errorf("sched_getaffinity with 4 CPUs = %d, mask %#x, want 8, 0xf", r, le.Uint64(mem.mem))
	}
	for _, tc := range []struct {
		mask uint64
		want int64
	}{{0x2, 0}, {0xff, 0}, {0x10, -int64(unix.EINVAL)}, {0, -int64(unix.EINVAL)}} {
		le.PutUint64(mem.mem, tc.mask)
		if r := sc(p, unix.SYS_SCHED_SETAFFINITY, 0, 8, base); r != tc.want {
			t.Errorf("sched_setaffinity %#x with 4 CPUs = %d, want %d", tc.mask, r, tc.want)
		}
	}
	p64 := NewProcess(Config{Memory: mem, StdioFDs: [3]int{-1, -1, -1}, CPUs: 64})
	if r := sc(p64, unix.SYS_SCHED_GETAFFINITY, 0, 8, base); r != 8 || le.Uint64(mem.mem) != ^uint64(0) {
		t.Errorf("sched_getaffinity with 64 CPUs = %d, mask %#x", r, le.Uint64(mem.mem))
	}
}
