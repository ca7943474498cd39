package syscalls

import (
	"encoding/binary"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// futex(2) operations and flags (linux/futex.h).
const (
	futexWait          = 0
	futexWake          = 1
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWakeOp        = 5
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivateFlag   = 128
	futexClockRealtime = 256
	futexCmdMask       = ^uint64(futexPrivateFlag | futexClockRealtime)
	// futexBitsetMatchAny is the bitset FUTEX_WAIT and FUTEX_WAKE imply.
	futexBitsetMatchAny = 0xffff_ffff
)

// FUTEX_WAKE_OP's operations and comparisons (linux/futex.h).
const (
	futexOpSet        = 0
	futexOpAdd        = 1
	futexOpOr         = 2
	futexOpAndN       = 3
	futexOpXor        = 4
	futexOpOpargShift = 8

	futexOpCmpEq = 0
	futexOpCmpNe = 1
	futexOpCmpLt = 2
	futexOpCmpLe = 3
	futexOpCmpGt = 4
	futexOpCmpGe = 5
)

// futexKey names a futex word. A private futex (FUTEX_PRIVATE_FLAG) is its
// virtual address in the process's address space, and so is one
// without the flag in a private mapping; one in a shared mapping is what
// Config.FutexKey says backs the address (the same word mapped MAP_SHARED
// at two addresses gives one key).
type futexKey struct {
	shared bool
	// space is the address space of a private key (Process.space): the
	// same address in two processes' own memories is two words.
	space uint64
	id    uint64
}

// futexWaiter is one thread blocked in FUTEX_WAIT or FUTEX_WAIT_BITSET.
// key, woken and its place in a queue are guarded by futexTable.mu; done
// is closed, under mu, when a wake takes it off its queue.
type futexWaiter struct {
	key    futexKey
	bitset uint32
	woken  bool
	done   chan struct{}
}

// futexTable is the futex wait queues of one program, shared by its
// threads: a FIFO of waiters per key. Every operation holds mu from its
// reads of futex words to its queue changes, so that a waiter's check of
// the word and its enqueueing are one step against any wake: a thread
// that stores a new value and then wakes cannot slip between the two.
// mu is held across the word's access, so it comes before mm's locks;
// mm never calls back into syscalls.
type futexTable struct {
	// mu guards queues and every futexWaiter's key, woken and queue place.
	mu sync.Mutex
	// queues holds, per key, the waiters in the order they began to wait;
	// an empty queue is deleted.
	queues map[futexKey][]*futexWaiter
}

// enqueue puts w at the end of its key's queue. mu must be held.
func (t *futexTable) enqueue(w *futexWaiter) {
	if t.queues == nil {
		t.queues = make(map[futexKey][]*futexWaiter)
	}
	t.queues[w.key] = append(t.queues[w.key], w)
}

// remove takes w off its key's queue, if it is there. mu must be held.
func (t *futexTable) remove(w *futexWaiter) {
	q := t.queues[w.key]
	for i, x := range q {
		if x == w {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	t.setQueue(w.key, q)
}

func (t *futexTable) setQueue(k futexKey, q []*futexWaiter) {
	if len(q) == 0 {
		delete(t.queues, k)
		return
	}
	t.queues[k] = q
}

// wakeLocked wakes up to n waiters on k whose bitset meets bitset, oldest
// first, and returns how many it woke. mu must be held.
func (t *futexTable) wakeLocked(k futexKey, n int, bitset uint32) int {
	q := t.queues[k]
	woke := 0
	kept := q[:0]
	for _, w := range q {
		if woke < n && w.bitset&bitset != 0 {
			w.woken = true
			close(w.done)
			woke++
			continue
		}
		kept = append(kept, w)
	}
	clear(q[len(kept):])
	t.setQueue(k, kept)
	return woke
}

// wake wakes up to n waiters on k (FUTEX_WAKE, and a thread's exit with
// CLONE_CHILD_CLEARTID).
func (t *futexTable) wake(k futexKey, n int, bitset uint32) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wakeLocked(k, n, bitset)
}

// requeueLocked wakes up to nWake waiters on from, then moves up to
// nRequeue of the rest to the end of to's queue; it returns how many it
// woke plus how many it moved, as FUTEX_CMP_REQUEUE does. mu must be held.
func (t *futexTable) requeueLocked(from, to futexKey, nWake, nRequeue int) int {
	woke := t.wakeLocked(from, nWake, futexBitsetMatchAny)
	if from == to {
		// Moving waiters to the end of their own queue changes nothing
		// Linux lets a program see but the count.
		return woke + min(nRequeue, len(t.queues[from]))
	}
	q := t.queues[from]
	moved := min(nRequeue, len(q))
	for _, w := range q[:moved] {
		w.key = to
		t.enqueue(w)
	}
	rest := append([]*futexWaiter(nil), q[moved:]...)
	t.setQueue(from, rest)
	return woke + moved
}

// waitDeadline is when a futex wait times out: never (ok false), or at
// the guest clock's reading at (monotonic, or REALTIME as Unix
// nanoseconds where realtime is set).
type waitDeadline struct {
	ok       bool
	realtime bool
	at       time.Duration
}

// left is how long until d on the guest's clocks.
func (d waitDeadline) left(p *Process) time.Duration {
	if d.realtime {
		return d.at - time.Duration(p.cfg.Now().UnixNano())
	}
	return d.at - p.cfg.Monotonic()
}

// futexBlock blocks the thread, w already enqueued, with p.mu released
// (block), until a wake, the deadline, a signal the thread does not block
// or the end of the thread or run, and returns 0, ETIMEDOUT, a restart
// code (ERESTARTSYS without a timeout, ERESTART_RESTARTBLOCK with one, as
// Linux's futex_wait) or EINTR. A wake that comes as the wait ends
// otherwise wins, as Linux reports a waiter a waker took off its queue as
// woken.
func (t *Task) futexBlock(w *futexWaiter, d waitDeadline) unix.Errno {
	var why unix.Errno
	for why == 0 {
		var timeout <-chan time.Time
		var tm *time.Timer
		if d.ok {
			left := d.left(t.Process)
			if left <= 0 {
				why = unix.ETIMEDOUT
				break
			}
			tm = time.NewTimer(left)
			timeout = tm.C
		}
		r := t.block(w.done, timeout)
		if tm != nil {
			tm.Stop()
		}
		switch r {
		case wokeReady:
			return 0
		case wokeSignal:
			why = errRestartSys
			if d.ok {
				why = errRestartRestartBlock
			}
		case wokeEnd:
			why = unix.EINTR
		}
		// wokeTimeout: the host's timer may run ahead of the guest's
		// clock: look again (see sleepUntil).
	}
	ft := t.futexes
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if w.woken {
		return 0
	}
	ft.remove(w)
	return why
}

// futexKeyOf returns the key of the futex word at addr: EINVAL for a word
// not 4-byte aligned, EFAULT for a shared futex at an address that maps
// nothing.
func (p *Process) futexKeyOf(addr uint64, private bool) (futexKey, unix.Errno) {
	if addr%4 != 0 {
		return futexKey{}, unix.EINVAL
	}
	if private || p.cfg.FutexKey == nil {
		return futexKey{space: p.space, id: addr}, 0
	}
	id, shared, err := p.cfg.FutexKey(arch.Addr(addr))
	if err != nil {
		return futexKey{}, unix.EFAULT
	}
	if !shared {
		return futexKey{space: p.space, id: addr}, 0
	}
	return futexKey{shared: true, id: id}, 0
}

// FutexMemory is guest memory that reads and modifies a futex word in one
// atomic access, as a store by the program on another vCPU may land at
// the same moment. Where Config.Memory implements it (mm does), futex's
// word accesses go through it; otherwise they are copies, atomic only
// against other futex calls.
type FutexMemory interface {
	// LoadFutexWord reads the aligned word at addr; EFAULT where the
	// program cannot read it.
	LoadFutexWord(addr arch.Addr) (uint32, error)
	// ModifyFutexWord replaces the aligned word at addr by op of its
	// value in one atomic step and returns the value replaced; EFAULT
	// where the program cannot write it.
	ModifyFutexWord(addr arch.Addr, op func(old uint32) uint32) (uint32, error)
}

// loadFutexWord reads the 32-bit futex word at addr (4-byte aligned).
func (p *Process) loadFutexWord(addr uint64) (uint32, unix.Errno) {
	if fm, ok := p.cfg.Memory.(FutexMemory); ok {
		v, err := fm.LoadFutexWord(arch.Addr(addr))
		if err != nil {
			return 0, unix.EFAULT
		}
		return v, 0
	}
	var b [4]byte
	if _, err := p.cfg.Memory.CopyIn(arch.Addr(addr), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return binary.LittleEndian.Uint32(b[:]), 0
}

// modifyFutexWord replaces the futex word at addr by op of its value and
// returns the value replaced; the table's lock must be held, which makes
// the copies' read and write one step against other futex calls where
// the memory has no atomic access.
func (p *Process) modifyFutexWord(addr uint64, op func(uint32) uint32) (uint32, unix.Errno) {
	if fm, ok := p.cfg.Memory.(FutexMemory); ok {
		old, err := fm.ModifyFutexWord(arch.Addr(addr), op)
		if err != nil {
			return 0, unix.EFAULT
		}
		return old, 0
	}
	old, e := p.loadFutexWord(addr)
	if e != 0 {
		return 0, e
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], op(old))
	if _, err := p.cfg.Memory.CopyOut(arch.Addr(addr), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return old, 0
}

// futexTimeout reads futex's timeout argument: for FUTEX_WAIT a relative
// time on the monotonic clock, for FUTEX_WAIT_BITSET an absolute time on
// the monotonic clock or, with FUTEX_CLOCK_REALTIME, the real-time clock.
// A null pointer waits for ever. EFAULT for an unreadable timespec, EINVAL
// for one Linux rejects (a negative or unnormalized time).
func (p *Process) futexTimeout(addr uint64, absolute, realtime bool) (waitDeadline, unix.Errno) {
	if addr == 0 {
		return waitDeadline{}, 0
	}
	var b [timespecSize]byte
	if _, err := p.cfg.Memory.CopyIn(arch.Addr(addr), b[:]); err != nil {
		return waitDeadline{}, unix.EFAULT
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return waitDeadline{}, unix.EINVAL
	}
	d := durationOf(sec, nsec)
	if absolute {
		return waitDeadline{ok: true, realtime: realtime, at: d}, 0
	}
	now := p.cfg.Monotonic()
	if d > math.MaxInt64-now {
		return waitDeadline{}, 0 // beyond any clock: for ever
	}
	return waitDeadline{ok: true, at: now + d}, 0
}

// sysFutex serves futex(2): uaddr, op, val, timeout (or val2), uaddr2,
// val3. The PI operations and FUTEX_WAIT_REQUEUE_PI are ENOSYS.
func sysFutex(t *Task, a *[6]uint64) uint64 {
	uaddr, op, val, uaddr2, val3 := a[0], a[1], uint32(a[2]), a[4], uint32(a[5])
	cmd := op & futexCmdMask
	private := op&futexPrivateFlag != 0
	realtime := op&futexClockRealtime != 0
	if realtime && cmd != futexWaitBitset {
		return errno(unix.ENOSYS)
	}
	switch cmd {
	case futexWait:
		d, e := t.futexTimeout(a[3], false, false)
		if e != 0 {
			return errno(e)
		}
		return errno(t.futexWait(uaddr, private, val, futexBitsetMatchAny, d))
	case futexWaitBitset:
		d, e := t.futexTimeout(a[3], true, realtime)
		if e != 0 {
			return errno(e)
		}
		if val3 == 0 {
			return errno(unix.EINVAL)
		}
		return errno(t.futexWait(uaddr, private, val, val3, d))
	case futexWake, futexWakeBitset:
		bitset := uint32(futexBitsetMatchAny)
		if cmd == futexWakeBitset {
			if val3 == 0 {
				return errno(unix.EINVAL)
			}
			bitset = val3
		}
		k, e := t.futexKeyOf(uaddr, private)
		if e != 0 {
			return errno(e)
		}
		return uint64(t.futexes.wake(k, futexCount(val), bitset))
	case futexRequeue, futexCmpRequeue:
		return t.futexRequeue(uaddr, uaddr2, private, int32(a[2]), int32(a[3]), cmd == futexCmpRequeue, val3)
	case futexWakeOp:
		return t.futexWakeOp(uaddr, uaddr2, private, val, uint32(a[3]), val3)
	}
	return errno(unix.ENOSYS)
}

// futexCount is a wake count as Linux's futex_wake and FUTEX_WAKE_OP use
// it: an int that is checked only after a waiter was woken, so that 0 or a
// negative count wakes one waiter.
func futexCount(v uint32) int {
	return max(int(int32(v)), 1)
}

// futexWait checks that the word at uaddr holds val (EAGAIN if not) and
// waits there until a wake whose bitset meets bitset, the deadline
// (ETIMEDOUT) or the run's end (EINTR).
func (t *Task) futexWait(uaddr uint64, private bool, val, bitset uint32, d waitDeadline) unix.Errno {
	k, e := t.futexKeyOf(uaddr, private)
	if e != 0 {
		return e
	}
	w := &futexWaiter{key: k, bitset: bitset, done: make(chan struct{})}
	ft := t.futexes
	ft.mu.Lock()
	cur, e := t.loadFutexWord(uaddr)
	if e == 0 && cur != val {
		e = unix.EAGAIN
	}
	if e != 0 {
		ft.mu.Unlock()
		return e
	}
	ft.enqueue(w)
	ft.mu.Unlock()
	return t.futexBlock(w, d)
}

// futexRequeue serves FUTEX_REQUEUE and FUTEX_CMP_REQUEUE: EINVAL for a
// negative count, EAGAIN when the word at uaddr is not val3 (CMP only).
func (p *Process) futexRequeue(uaddr, uaddr2 uint64, private bool, nWake, nRequeue int32, cmp bool, val3 uint32) uint64 {
	if nWake < 0 || nRequeue < 0 {
		return errno(unix.EINVAL)
	}
	from, e := p.futexKeyOf(uaddr, private)
	if e != 0 {
		return errno(e)
	}
	to, e := p.futexKeyOf(uaddr2, private)
	if e != 0 {
		return errno(e)
	}
	ft := p.futexes
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if cmp {
		cur, e := p.loadFutexWord(uaddr)
		if e != 0 {
			return errno(e)
		}
		if cur != val3 {
			return errno(unix.EAGAIN)
		}
	}
	return uint64(ft.requeueLocked(from, to, int(nWake), int(nRequeue)))
}

// futexWakeOp serves FUTEX_WAKE_OP: it applies val3's operation to the
// word at uaddr2, wakes up to nWake waiters on uaddr and, when val3's
// comparison holds for the word's old value, up to nWake2 on uaddr2.
// The read-modify-write is one atomic access where the memory is a
// FutexMemory.
func (p *Process) futexWakeOp(uaddr, uaddr2 uint64, private bool, nWake, nWake2, val3 uint32) uint64 {
	k1, e := p.futexKeyOf(uaddr, private)
	if e != 0 {
		return errno(e)
	}
	k2, e := p.futexKeyOf(uaddr2, private)
	if e != 0 {
		return errno(e)
	}
	op, cmp := (val3>>28)&0xf, (val3>>24)&0xf
	oparg := uint32(int32(val3<<8) >> 20)
	cmparg := int32(val3<<20) >> 20
	if op&futexOpOpargShift != 0 {
		// Linux warns about a shift outside 0..31 and masks it.
		oparg = 1 << (oparg & 31)
		op &^= futexOpOpargShift
	}
	var apply func(uint32) uint32
	switch op {
	case futexOpSet:
		apply = func(uint32) uint32 { return oparg }
	case futexOpAdd:
		apply = func(old uint32) uint32 { return old + oparg }
	case futexOpOr:
		apply = func(old uint32) uint32 { return old | oparg }
	case futexOpAndN:
		apply = func(old uint32) uint32 { return old &^ oparg }
	case futexOpXor:
		apply = func(old uint32) uint32 { return old ^ oparg }
	default:
		return errno(unix.ENOSYS)
	}
	ft := p.futexes
	ft.mu.Lock()
	defer ft.mu.Unlock()
	old, e := p.modifyFutexWord(uaddr2, apply)
	if e != 0 {
		return errno(e)
	}
	var hit bool
	switch o := int32(old); cmp {
	case futexOpCmpEq:
		hit = o == cmparg
	case futexOpCmpNe:
		hit = o != cmparg
	case futexOpCmpLt:
		hit = o < cmparg
	case futexOpCmpLe:
		hit = o <= cmparg
	case futexOpCmpGt:
		hit = o > cmparg
	case futexOpCmpGe:
		hit = o >= cmparg
	default:
		return errno(unix.ENOSYS)
	}
	woke := ft.wakeLocked(k1, futexCount(nWake), futexBitsetMatchAny)
	if hit {
		woke += ft.wakeLocked(k2, futexCount(nWake2), futexBitsetMatchAny)
	}
	return uint64(woke)
}
