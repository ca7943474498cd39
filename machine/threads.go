package machine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/syscalls"
)

// # Threads
//
// Each guest thread runs on a vCPU of its own, all in parallel: the first
// thread on the boot vCPU in Run's goroutine, every other on the goroutine
// of its vCPU (cpuLoop), bound to one OS thread for the vCPU's life. A
// thread that ends leaves its vCPU idle for the next clone (KVM cannot
// destroy a vCPU, and its ring-0 region stays mapped).
//
// Run returns only when no thread runs guest code: when the program has
// ended (every thread's loop stops, woken by the syscalls package's
// Interrupt), or, at a deadline or a user-port exit of the first thread,
// once every other thread has parked: kicked out of KVM_RUN, it waits for
// the next Run to go on (or for Close).

// maxCPUs is how many vCPUs a Machine makes at most, and so how many of the
// program's threads can be alive at once: clone fails with EAGAIN past it
// (or past what KVM allows, KVM_CAP_MAX_VCPUS).
const maxCPUs = 256

// threads is the bookkeeping of the thread goroutines; mu guards all of it
// and cond is signalled on each change.
type threads struct {
	mu   sync.Mutex
	cond sync.Cond
	// idle are the vCPUs whose thread ended, ready for the next clone.
	idle []*cpu
	// running counts the thread goroutines running guest code or
	// serving it; parked the ones waiting for the next Run, which
	// startRun counts as running again before they wake.
	running, parked int
	// runSeq counts the Runs; ctx is the current one's context. A parked
	// thread goes on when runSeq moves.
	runSeq int
	ctx    context.Context
	// park asks running threads to park (Run is returning); closing asks
	// parked ones to end (Close).
	park, closing bool
	// err is the first error a thread's run loop returned: mmvm itself
	// failed, and Run reports it.
	err error
	// wg counts the vCPUs' goroutines (cpuLoop).
	wg sync.WaitGroup
}

// guestCPUs is how many CPUs the program sees: as many as the host lets
// mmvm run on (its threads' vCPUs run there, in parallel), within the most
// vCPUs and the 64 CPUs of one affinity word.
func (m *Machine) guestCPUs() int {
	n := runtime.NumCPU() // the host's affinity mask at start
	return min(max(n, 1), m.maxCPUs, 64)
}

// startThread is syscalls.Config.StartThread: it runs the new thread t from
// regs on a vCPU of its own.
func (m *Machine) startThread(t *syscalls.Task, regs syscalls.UserRegs) error {
	c, err := m.idleCPU()
	if err != nil {
		return err
	}
	c.task = t
	c.thread.Store(t)
	t.SetFPU(vcpuFPU{c})
	// A clone's thread starts with its creator's FPU state, a new
	// process's first thread with its parent's caller's (fork), any
	// other with the initial state idleCPU or newCPU left.
	start := t.StartFPU()
	if p := processOf(t); start == nil && p.sys == nil {
		start = p.startFPU
	}
	if start != nil {
		if err := (vcpuFPU{c}).RestoreFPU(start); err != nil {
			return fmt.Errorf("machine: loading vCPU %d's FPU for a new thread: %w", c.index, err)
		}
	}
	c.threadRegs = &regs
	c.user = ring0.UserContext{RIP: regs.RIP, RSP: regs.RSP, RFLAGS: regs.RFLAGS}
	c.started = false
	th := &m.threads
	th.mu.Lock()
	th.running++
	p := processOf(t)
	if p.sys == nil {
		p.sys = t.Process // a new process's first thread
	}
	p.threads++
	ctx := th.ctx
	th.mu.Unlock()
	c.start <- ctx
	return nil
}

// cpuLoop is the goroutine of a vCPU other than the boot one: bound to
// one OS thread for the vCPU's life (KVM makes a vCPU that moves between
// threads wait for an RCU grace period), it runs each thread startThread
// hands it, until Close closes c.start.
func (m *Machine) cpuLoop(c *cpu) {
	runtime.LockOSThread()
	defer m.threads.wg.Done()
	for ctx := range c.start {
		m.runThread(c, ctx)
	}
}

// idleCPU returns a vCPU for a new thread: an idle one, or a new one.
func (m *Machine) idleCPU() (*cpu, error) {
	th := &m.threads
	th.mu.Lock()
	if n := len(th.idle); n > 0 {
		c := th.idle[n-1]
		th.idle = th.idle[:n-1]
		th.mu.Unlock()
		// The new thread starts with the FPU's initial state, not with
		// what the ended one left in its registers.
		if err := (vcpuFPU{c}).RestoreFPU(&initialFPU); err != nil {
			return nil, fmt.Errorf("machine: resetting vCPU %d's FPU: %w", c.index, err)
		}
		return c, nil
	}
	th.mu.Unlock()
	m.cpusMu.Lock()
	defer m.cpusMu.Unlock()
	cpus := m.allCPUs()
	if len(cpus) >= m.maxCPUs {
		return nil, fmt.Errorf("machine: %d vCPUs, the most this VM runs", len(cpus))
	}
	// The new vCPU's ring-0 region is mapped while other vCPUs run:
	// only adding translations, under the addressSpace's lock.
	m.as.mu.Lock()
	c, err := m.newCPU(len(cpus))
	m.as.mu.Unlock()
	if err != nil {
		return nil, err
	}
	next := append(append([]*cpu(nil), cpus...), c)
	m.cpus.Store(&next)
	c.start = make(chan context.Context, 1)
	m.threads.wg.Add(1)
	go m.cpuLoop(c)
	return c, nil
}

// initialFPU is the FXSAVE image of the FPU's state after FNINIT and at
// reset: the x87 control word 0x37f (all exceptions masked, 64-bit
// precision) and MXCSR 0x1f80 (all SSE exceptions masked), every register
// zero.
var initialFPU = func() (fx [512]byte) {
	binary.LittleEndian.PutUint16(fx[0:], 0x37f)
	binary.LittleEndian.PutUint32(fx[24:], 0x1f80)
	return fx
}()

// runThread runs c's thread until it ends, the program ends, or mmvm
// fails; it parks whenever Run returns in between.
func (m *Machine) runThread(c *cpu, ctx context.Context) {
	th := &m.threads
	for {
		stop, err := c.run(ctx)
		th.mu.Lock()
		switch {
		case err != nil:
			if th.err == nil {
				th.err = fmt.Errorf("thread %d: %w", c.task.TID(), err)
			}
			th.mu.Unlock()
			m.Process.Kill(unix.SIGKILL, fmt.Sprintf("mmvm failed running thread %d: %v", c.task.TID(), err))
			th.mu.Lock()
		case stop.Kind == StopDeadline || stop.Kind == stopParked:
			seq := th.runSeq
			th.running--
			th.parked++
			th.cond.Broadcast()
			for th.runSeq == seq && !th.closing {
				th.cond.Wait()
			}
			if th.closing {
				th.mu.Unlock()
				return
			}
			// startRun counted this thread as running again, before
			// the Run could wait for the running ones.
			ctx = th.ctx
			th.mu.Unlock()
			continue
		}
		th.running--
		p := processOf(c.task)
		p.threads--
		var gone *processMemory
		forgotten := false
		if _, ended := m.processEnded(); c.task.Exited() && !ended {
			c.task = nil
			c.thread.Store(nil)
			th.idle = append(th.idle, c)
			gone, forgotten = m.processGone(p)
		}
		th.cond.Broadcast()
		th.mu.Unlock()
		if gone != nil {
			gone.release()
		}
		if forgotten {
			p.sys.MemoryReleased() // its parent learns of its end now
		}
		return
	}
}

// processGone forgets p if it has ended and no vCPU runs its threads any
// more (forgotten), and returns its memory for the caller to release
// (outside threads.mu: a release shoots down), or nil where other
// processes still run in it (processMemory.users). The first process
// stays until Close.
//
// Preconditions: threads.mu is locked.
func (m *Machine) processGone(p *process) (mem *processMemory, forgotten bool) {
	if p == m.first || p.threads > 0 || p.released || !p.sys.Ended() {
		return nil, false
	}
	p.released = true
	for i, q := range m.procs {
		if q == p {
			m.procs = append(m.procs[:i], m.procs[i+1:]...)
			break
		}
	}
	// Its files hold MemoryFile pages and host descriptors.
	p.sys.Close()
	if mem := p.mem.Load(); mem.dropUser() {
		return mem, true
	}
	return nil, true
}

// addProcess records a new process (fork).
func (m *Machine) addProcess(p *process) {
	th := &m.threads
	th.mu.Lock()
	defer th.mu.Unlock()
	m.procs = append(m.procs, p)
}

// killAll kills every process but the first, which has ended: the VM
// ends with it (orphans too).
func (m *Machine) killAll(why string) {
	th := &m.threads
	th.mu.Lock()
	procs := append([]*process(nil), m.procs...)
	th.mu.Unlock()
	for _, p := range procs {
		if p != m.first && p.sys != nil {
			p.sys.Kill(unix.SIGKILL, why)
		}
	}
}

// startRun lets parked threads go on under ctx.
func (m *Machine) startRun(ctx context.Context) {
	th := &m.threads
	th.mu.Lock()
	defer th.mu.Unlock()
	th.runSeq++
	th.ctx = ctx
	th.park = false
	th.running += th.parked
	th.parked = 0
	th.cond.Broadcast()
}

// finishRun returns once no thread runs guest code, parking the others
// unless the program ended, and reports a thread's failure. After the
// first thread ended alone it first waits for the program to end or ctx
// to, since the other threads go on without it.
func (m *Machine) finishRun(ctx context.Context, stop Stop, err error) (Stop, error) {
	th := &m.threads
	if err == nil && stop.Kind == stopThreadExit {
		stopWait := context.AfterFunc(ctx, func() {
			th.mu.Lock()
			th.cond.Broadcast()
			th.mu.Unlock()
		})
		th.mu.Lock()
		for th.running > 0 && ctx.Err() == nil {
			th.cond.Wait()
		}
		th.mu.Unlock()
		stopWait()
		if s, done := m.processEnded(); done {
			stop = s
		} else {
			stop = Stop{Kind: StopDeadline, Reason: ctx.Err().Error()}
		}
	}
	if _, ended := m.processEnded(); ended {
		m.killAll("the first process ended")
	}
	th.mu.Lock()
	th.park = true
	th.mu.Unlock()
	m.kickAll()
	th.mu.Lock()
	for th.running > 0 {
		th.cond.Wait()
	}
	if err == nil {
		err = th.err
	}
	th.mu.Unlock()
	if err != nil {
		return Stop{}, err
	}
	return stop, nil
}

// interrupt is syscalls.Config.Interrupt: it makes t's vCPU leave guest
// mode, so that its run loop takes t's pending signals or sees it ended.
func (m *Machine) interrupt(t *syscalls.Task) {
	for _, c := range m.allCPUs() {
		if c.thread.Load() == t {
			_ = c.vcpu.Kick()
			return
		}
	}
}

// kickAll makes every vCPU leave guest mode.
func (m *Machine) kickAll() {
	for _, c := range m.allCPUs() {
		_ = c.vcpu.Kick()
	}
}

// parking reports whether Run asked the threads to park.
func (m *Machine) parking() bool {
	th := &m.threads
	th.mu.Lock()
	defer th.mu.Unlock()
	return th.park
}

// stopThreads ends the thread goroutines, parked or running (Close).
func (m *Machine) stopThreads() {
	th := &m.threads
	th.mu.Lock()
	th.closing = true
	th.park = true
	th.cond.Broadcast()
	th.mu.Unlock()
	if m.Process != nil {
		m.Process.Kill(unix.SIGKILL, "the machine closed")
		m.killAll("the machine closed")
	}
	m.kickAll()
	for _, c := range m.allCPUs() {
		if c.start != nil {
			close(c.start)
		}
	}
	th.wg.Wait()
}

// errThreadUserPort is the error of a user-port exit on a thread other
// than the first: user ports are for tests and benchmarks of one thread.
var errThreadUserPort = errors.New("machine: user-port exit from a thread other than the first")
