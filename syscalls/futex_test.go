package syscalls

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// futexThreads returns n Processes standing for threads of one program:
// one memory, one futex table, each used by one goroutine.
func futexThreads(t *testing.T, n int) ([]*Process, *flatMemory) {
	t.Helper()
	p, mem, _ := newTestProcess(t)
	ps := []*Process{p}
	for len(ps) < n {
		q, _, _ := newTestProcess(t)
		q.cfg.Memory, q.futexes = mem, p.futexes
		ps = append(ps, q)
	}
	return ps, mem
}

// Futex words and a timespec in the test memory.
const (
	futexA  = base + 0x100
	futexB  = base + 0x200
	futexTS = base + 0x300
)

func putWord(mem *flatMemory, addr uint64, v uint32) {
	binary.LittleEndian.PutUint32(mem.mem[addr-base:], v)
}

func getWord(mem *flatMemory, addr uint64) uint32 {
	return binary.LittleEndian.Uint32(mem.mem[addr-base:])
}

func putTS(mem *flatMemory, d time.Duration) {
	binary.LittleEndian.PutUint64(mem.mem[futexTS-base:], uint64(d/time.Second))
	binary.LittleEndian.PutUint64(mem.mem[futexTS-base+8:], uint64(d%time.Second))
}

// waiters is how many threads wait on the private futex at addr.
func waiters(p *Process, addr uint64) int {
	p.futexes.mu.Lock()
	defer p.futexes.mu.Unlock()
	return len(p.futexes.queues[futexKey{space: p.space, id: addr}])
}

// startWait makes p wait on addr (op, val, timeout, val3) on its own
// goroutine, returns the channel its result arrives on, and returns once
// the waiter is queued (waiting counts the waiters expected then).
func startWait(t *testing.T, p *Process, addr, op uint64, val uint32, val3 uint32, waiting int) <-chan uint64 {
	t.Helper()
	done := make(chan uint64, 1)
	go func() { done <- p.Syscall(unix.SYS_FUTEX, [6]uint64{addr, op, uint64(val), 0, 0, uint64(val3)}) }()
	for end := time.Now().Add(5 * time.Second); waiters(p, addr) < waiting; {
		if time.Now().After(end) {
			t.Fatalf("no waiter queued on %#x", addr)
		}
		time.Sleep(time.Millisecond)
	}
	return done
}

func result1(t *testing.T, done <-chan uint64) uint64 {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("futex wait not woken")
	}
	return 0
}

const privWait, privWake = futexWait | futexPrivateFlag, futexWake | futexPrivateFlag

func TestFutexErrors(t *testing.T) {
	ps, mem := futexThreads(t, 1)
	p := ps[0]
	putWord(mem, futexA, 7)
	for _, c := range []struct {
		name string
		a    [6]uint64
		want uint64
	}{
		{"value differs", [6]uint64{futexA, privWait, 8}, neg(unix.EAGAIN)},
		{"unaligned wait", [6]uint64{futexA + 1, privWait, 7}, neg(unix.EINVAL)},
		{"unaligned wake", [6]uint64{futexA + 2, privWake, 1}, neg(unix.EINVAL)},
		{"unmapped word", [6]uint64{0x1000, privWait, 0}, neg(unix.EFAULT)},
		{"unmapped timeout", [6]uint64{futexA, privWait, 7, 0x1000}, neg(unix.EFAULT)},
		{"realtime with FUTEX_WAIT", [6]uint64{futexA, privWait | futexClockRealtime, 7}, neg(unix.ENOSYS)},
		{"wait bitset 0", [6]uint64{futexA, futexWaitBitset, 7, 0, 0, 0}, neg(unix.EINVAL)},
		{"wake bitset 0", [6]uint64{futexA, futexWakeBitset, 1, 0, 0, 0}, neg(unix.EINVAL)},
		{"FUTEX_LOCK_PI", [6]uint64{futexA, 6, 0}, neg(unix.ENOSYS)},
		{"requeue negative", [6]uint64{futexA, futexRequeue, 1, 1 << 31, futexB}, neg(unix.EINVAL)},
		{"cmp_requeue differs", [6]uint64{futexA, futexCmpRequeue, 1, 1, futexB, 8}, neg(unix.EAGAIN)},
		{"wake_op bad op", [6]uint64{futexA, futexWakeOp, 1, 1, futexB, 7 << 28}, neg(unix.ENOSYS)},
		{"wake nobody", [6]uint64{futexA, privWake, 1}, 0},
	} {
		if got := p.Syscall(unix.SYS_FUTEX, c.a); got != c.want {
			t.Errorf("%s: futex%v = %d, want %d", c.name, c.a, int64(got), int64(c.want))
		}
	}
	// An invalid timespec is EINVAL, before the word is looked at.
	binary.LittleEndian.PutUint64(mem.mem[futexTS-base+8:], 1e9)
	if got := p.Syscall(unix.SYS_FUTEX, [6]uint64{futexA, privWait, 8, futexTS}); got != neg(unix.EINVAL) {
		t.Errorf("unnormalized timeout: %d, want EINVAL", int64(got))
	}
}

func TestFutexTimeouts(t *testing.T) {
	ps, mem := futexThreads(t, 1)
	p := ps[0]
	p.cfg.Now = time.Now // a real-time deadline needs a clock that moves
	putWord(mem, futexA, 1)
	const d = 30 * time.Millisecond
	putTS(mem, d)
	start := time.Now()
	if got := p.Syscall(unix.SYS_FUTEX, [6]uint64{futexA, privWait, 1, futexTS}); got != neg(unix.ETIMEDOUT) {
		t.Errorf("relative wait: %d, want ETIMEDOUT", int64(got))
	}
	if el := time.Since(start); el < d {
		t.Errorf("relative wait timed out after %v, before %v", el, d)
	}
	// An absolute time on the monotonic clock that has passed.
	putTS(mem, p.cfg.Monotonic()-time.Second)
	if got := p.Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWaitBitset, 1, futexTS, 0, futexBitsetMatchAny}); got != neg(unix.ETIMEDOUT) {
		t.Errorf("absolute wait in the past: %d, want ETIMEDOUT", int64(got))
	}
	// The same time on the real-time clock is long past too; the value
	// is compared first.
	if got := p.Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWaitBitset | futexClockRealtime, 2, futexTS, 0, 1}); got != neg(unix.EAGAIN) {
		t.Errorf("absolute wait, value differs: %d, want EAGAIN", int64(got))
	}
	putTS(mem, time.Duration(p.cfg.Now().UnixNano())+d)
	start = time.Now()
	if got := p.Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWaitBitset | futexClockRealtime, 1, futexTS, 0, 1}); got != neg(unix.ETIMEDOUT) {
		t.Errorf("absolute real-time wait: %d, want ETIMEDOUT", int64(got))
	}
	if took := time.Since(start); took < d/2 {
		t.Errorf("absolute real-time wait of %v ended after %v", d, took)
	}
	if waiters(p, futexA) != 0 {
		t.Error("a timed-out waiter is still queued")
	}
}

func TestFutexWaitInterrupted(t *testing.T) {
	ps, mem := futexThreads(t, 1)
	p := ps[0]
	putWord(mem, futexA, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	p.SetContext(ctx)
	got, took := callWithin(t, p, unix.SYS_FUTEX, [6]uint64{futexA, privWait, 0}, 2*time.Second, nil)
	if got != neg(unix.EINTR) {
		t.Errorf("wait at the deadline: %d, want EINTR", int64(got))
	}
	if took > time.Second {
		t.Errorf("the deadline ended the wait after %v", took)
	}
	if waiters(p, futexA) != 0 {
		t.Error("an interrupted waiter is still queued")
	}
}

func TestFutexWakeOrderAndCounts(t *testing.T) {
	ps, mem := futexThreads(t, 4)
	putWord(mem, futexA, 3)
	var done []<-chan uint64
	for i, q := range ps[1:] {
		done = append(done, startWait(t, q, futexA, privWait, 3, 0, i+1))
	}
	// A count of 0 wakes one waiter, as Linux's futex_wake does.
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, privWake, 0}); got != 1 {
		t.Fatalf("wake 0 woke %d, want 1", got)
	}
	if r := result1(t, done[0]); r != 0 {
		t.Errorf("first waiter: %d, want 0", int64(r))
	}
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, privWake, 10}); got != 2 {
		t.Fatalf("wake 10 woke %d, want 2", got)
	}
	for _, d := range done[1:] {
		if r := result1(t, d); r != 0 {
			t.Errorf("waiter: %d, want 0", int64(r))
		}
	}
}

func TestFutexBitset(t *testing.T) {
	ps, mem := futexThreads(t, 2)
	putWord(mem, futexA, 0)
	done := startWait(t, ps[1], futexA, futexWaitBitset|futexPrivateFlag, 0, 0b01, 1)
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWakeBitset | futexPrivateFlag, 1, 0, 0, 0b10}); got != 0 {
		t.Errorf("wake with a disjoint bitset woke %d", got)
	}
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWakeBitset | futexPrivateFlag, 1, 0, 0, 0b11}); got != 1 {
		t.Errorf("wake with a meeting bitset woke %d, want 1", got)
	}
	if r := result1(t, done); r != 0 {
		t.Errorf("waiter: %d", int64(r))
	}
}

func TestFutexCmpRequeue(t *testing.T) {
	ps, mem := futexThreads(t, 4)
	putWord(mem, futexA, 5)
	var done []<-chan uint64
	for i, q := range ps[1:] {
		done = append(done, startWait(t, q, futexA, privWait, 5, 0, i+1))
	}
	// Wake one, move one to B, leave one on A.
	got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexCmpRequeue | futexPrivateFlag, 1, 1, futexB, 5})
	if got != 2 {
		t.Fatalf("cmp_requeue = %d, want 2 (1 woken + 1 moved)", int64(got))
	}
	if r := result1(t, done[0]); r != 0 {
		t.Errorf("woken waiter: %d", int64(r))
	}
	if a, b := waiters(ps[0], futexA), waiters(ps[0], futexB); a != 1 || b != 1 {
		t.Fatalf("after requeue %d wait on A and %d on B, want 1 and 1", a, b)
	}
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexB, privWake, 5}); got != 1 {
		t.Errorf("wake B woke %d, want 1", got)
	}
	if r := result1(t, done[1]); r != 0 {
		t.Errorf("requeued waiter: %d", int64(r))
	}
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, privWake, 5}); got != 1 {
		t.Errorf("wake A woke %d, want 1", got)
	}
	if r := result1(t, done[2]); r != 0 {
		t.Errorf("last waiter: %d", int64(r))
	}
}

// wakeOp encodes FUTEX_WAKE_OP's val3 (FUTEX_OP in linux/futex.h).
func wakeOp(op, oparg, cmp, cmparg uint32) uint64 {
	return uint64((op&0xf)<<28 | (cmp&0xf)<<24 | (oparg&0xfff)<<12 | cmparg&0xfff)
}

func TestFutexWakeOp(t *testing.T) {
	ps, mem := futexThreads(t, 3)
	putWord(mem, futexA, 0)
	putWord(mem, futexB, 1)
	dA := startWait(t, ps[1], futexA, privWait, 0, 0, 1)
	dB := startWait(t, ps[2], futexB, privWait, 1, 0, 1)
	// B's old value 1 is not > 1: only A's waiter is woken; B becomes 1+4.
	got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWakeOp | futexPrivateFlag, 1, 1, futexB, wakeOp(futexOpAdd, 4, futexOpCmpGt, 1)})
	if got != 1 || getWord(mem, futexB) != 5 {
		t.Fatalf("wake_op add: woke %d, B = %d; want 1 and 5", int64(got), getWord(mem, futexB))
	}
	result1(t, dA)
	// B's waiter waits for 1, but it is woken regardless of the value.
	// Old value 5 >= -1 (a sign-extended cmparg): B's waiter is woken;
	// 1<<3 is ORed in.
	got = ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWakeOp | futexPrivateFlag, 1, 1, futexB, wakeOp(futexOpOr|futexOpOpargShift, 3, futexOpCmpGe, 0xfff)})
	if got != 1 || getWord(mem, futexB) != 5|8 {
		t.Fatalf("wake_op or: woke %d, B = %d; want 1 and 13", int64(got), getWord(mem, futexB))
	}
	if r := result1(t, dB); r != 0 {
		t.Errorf("B's waiter: %d", int64(r))
	}
}

// TestFutexSharedKey: a shared futex is keyed by what Config.FutexKey
// says backs the word, so two addresses of one page are one futex; a
// private futex at the same addresses is two.
func TestFutexSharedKey(t *testing.T) {
	ps, mem := futexThreads(t, 2)
	alias := func(addr uint64) uint64 { return addr &^ 0x300 } // A and A+0x100 alias
	for _, p := range ps {
		p.cfg.FutexKey = func(a arch.Addr) (uint64, bool, error) {
			if a < base {
				return 0, false, unix.EFAULT
			}
			return alias(uint64(a)), true, nil
		}
	}
	putWord(mem, futexA, 0)
	done := make(chan uint64, 1)
	go func() { done <- ps[1].Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWait, 0}) }()
	key := futexKey{shared: true, id: alias(futexA)}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		ps[0].futexes.mu.Lock()
		n := len(ps[0].futexes.queues[key])
		ps[0].futexes.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("no shared waiter queued")
		}
	}
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA + 0x100, privWake, 1}); got != 0 {
		t.Errorf("a private wake at the alias woke %d", got)
	}
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{futexA + 0x100, futexWake, 1}); got != 1 {
		t.Errorf("a shared wake at the alias woke %d, want 1", got)
	}
	if r := result1(t, done); r != 0 {
		t.Errorf("shared waiter: %d", int64(r))
	}
	if got := ps[0].Syscall(unix.SYS_FUTEX, [6]uint64{0x1000, futexWake, 1}); got != neg(unix.EFAULT) {
		t.Errorf("shared wake of an unmapped word: %d, want EFAULT", int64(got))
	}
}

func TestRobustList(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	const head, out, outLen = base + 0x400, base + 0x500, base + 0x508
	if got := p.Syscall(unix.SYS_SET_ROBUST_LIST, [6]uint64{head, 23}); got != neg(unix.EINVAL) {
		t.Errorf("set_robust_list of length 23: %d, want EINVAL", int64(got))
	}
	if got := p.Syscall(unix.SYS_SET_ROBUST_LIST, [6]uint64{head, 24}); got != 0 {
		t.Fatalf("set_robust_list: %d", int64(got))
	}
	if got := p.Syscall(unix.SYS_GET_ROBUST_LIST, [6]uint64{0, out, outLen}); got != 0 {
		t.Fatalf("get_robust_list: %d", int64(got))
	}
	if h, n := binary.LittleEndian.Uint64(mem.mem[out-base:]), binary.LittleEndian.Uint64(mem.mem[outLen-base:]); h != head || n != 24 {
		t.Errorf("get_robust_list gave head %#x length %d, want %#x 24", h, n, uint64(head))
	}
	if got := p.Syscall(unix.SYS_GET_ROBUST_LIST, [6]uint64{42, out, outLen}); got != 0 {
		t.Errorf("get_robust_list of its own id: %d", int64(got))
	}
	if got := p.Syscall(unix.SYS_GET_ROBUST_LIST, [6]uint64{7, out, outLen}); got != neg(unix.ESRCH) {
		t.Errorf("get_robust_list of another id: %d, want ESRCH", int64(got))
	}
	if got := p.Syscall(unix.SYS_GET_ROBUST_LIST, [6]uint64{0, 0x1000, outLen}); got != neg(unix.EFAULT) {
		t.Errorf("get_robust_list to an unmapped head pointer: %d, want EFAULT", int64(got))
	}
}

// atomicMemory is flatMemory with the FutexMemory accesses, counted.
type atomicMemory struct {
	*flatMemory
	loads, modifies int
}

func (m *atomicMemory) LoadFutexWord(addr arch.Addr) (uint32, error) {
	m.loads++
	var b [4]byte
	_, err := m.CopyIn(addr, b[:])
	return binary.LittleEndian.Uint32(b[:]), err
}

func (m *atomicMemory) ModifyFutexWord(addr arch.Addr, op func(uint32) uint32) (uint32, error) {
	m.modifies++
	old, err := m.LoadFutexWord(addr)
	if err != nil {
		return 0, err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], op(old))
	_, err = m.CopyOut(addr, b[:])
	return old, err
}

// TestFutexUsesAtomicMemory: where the memory has atomic word accesses,
// the value check and FUTEX_WAKE_OP's store use them.
func TestFutexUsesAtomicMemory(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	am := &atomicMemory{flatMemory: mem}
	p.cfg.Memory = am
	putWord(mem, futexA, 1)
	if got := p.Syscall(unix.SYS_FUTEX, [6]uint64{futexA, privWait, 2}); got != neg(unix.EAGAIN) {
		t.Errorf("wait, value differs: %d", int64(got))
	}
	if got := p.Syscall(unix.SYS_FUTEX, [6]uint64{futexA, futexWakeOp | futexPrivateFlag, 1, 1, futexB, wakeOp(futexOpSet, 9, futexOpCmpEq, 0)}); got != 0 {
		t.Errorf("wake_op: %d", int64(got))
	}
	if am.loads == 0 || am.modifies != 1 || getWord(mem, futexB) != 9 {
		t.Errorf("%d atomic loads, %d modifies, B = %d; want loads, 1 modify and 9", am.loads, am.modifies, getWord(mem, futexB))
	}
}
