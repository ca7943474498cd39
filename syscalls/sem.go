package syscalls

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// System V semaphores (semget, semop, semtimedop, semctl), as Linux's
// ipc/sem.c keeps them in the VM's one IPC namespace. A semop's
// operations apply all or none, in array order; one that cannot go on
// waits in its set's queue, in arrival order, and every change of the
// set's values retries the waiting operations, the waits for zero first,
// then the others, oldest first, again from the start after each one
// that goes through (update_queue). SEM_UNDO adjustments are kept per
// process (shared by its threads, and with CLONE_SYSVSEM) and applied
// when the process ends; execve keeps them. Everything is guarded by the
// tree lock.

// Linux's defaults and fixed figures (include/uapi/linux/sem.h).
const (
	semMslDefault = 32000                         // SEMMSL, per set
	semMniDefault = 32000                         // SEMMNI, sets
	semMnsDefault = semMniDefault * semMslDefault // SEMMNS, in all sets
	semOpmDefault = 500                           // SEMOPM, per semop
	semVMX        = 32767                         // SEMVMX, a value's most
	semAEM        = semVMX                        // SEMAEM, an adjustment's most
	semUME        = semOpmDefault                 // SEMUME
	semUSZ        = 20                            // SEMUSZ
	semMNU        = semMnsDefault                 // SEMMNU
	semMap        = semMnsDefault                 // SEMMAP
)

// semop's flag and semctl's commands.
const (
	semUndo      = 0x1000
	semGetPID    = 11
	semGetVal    = 12
	semGetAll    = 13
	semGetNCnt   = 14
	semGetZCnt   = 15
	semSetVal    = 16
	semSetAll    = 17
	semStat      = 18
	semInfo      = 19
	semStatAny   = 20
	semid64Size  = 104 // struct semid64_ds
	seminfoSize  = 40  // struct seminfo
	sembufSize   = 6   // struct sembuf
	semTimespecs = 16  // struct __kernel_timespec
)

// semRegistry is the namespace's semaphore sets and the semaphores in
// all of them (used_sems). Guarded by the tree lock.
type semRegistry struct {
	ids  ipcIDs[*semSet]
	used int
}

// semSet is one set: its semid64_ds, its semaphores, the operations
// waiting and the undo records that name it. Guarded by the tree lock.
type semSet struct {
	ipcPerm
	sems         []semaphore
	otime, ctime int64
	// waiting are the semops that could not go on, in arrival order.
	waiting []*semWaiter
	// undos are the undo records of this set, one per process (list)
	// that used SEM_UNDO on it.
	undos map[*semUndoList][]int32
}

// semaphore is one semaphore's value and the process that changed it
// last (GETPID).
type semaphore struct {
	val int32
	pid int32
}

// semOp is one struct sembuf.
type semOp struct {
	num uint16
	op  int16
	flg int16
}

// semWaiter is a semop waiting in its set's queue. A retry that lets it
// through, or ends it with an error (ERANGE; EIDRM at IPC_RMID), sets
// done (err its result) and closes wake. blocking is the operation it
// waits on (GETNCNT and GETZCNT count it there).
type semWaiter struct {
	ops      []semOp
	undo     *semUndoList
	pid      int32
	alter    bool
	blocking semOp
	done     bool
	err      unix.Errno
	wake     chan struct{}
}

// semUndoList is the SEM_UNDO adjustments of a process (its threads'
// and, with CLONE_SYSVSEM, other processes' too): for each set it
// touched, one adjustment per semaphore, kept in the set's undos. refs
// counts the processes that share it. Guarded by the tree lock.
type semUndoList struct {
	sets map[*semSet]struct{}
	refs int
}

// apply performs ops on s all or none, in order (perform_atomic_semop):
// 1 (with blocking set) where one must wait, EAGAIN for that if it has
// IPC_NOWAIT, ERANGE for a value past SEMVMX or an adjustment past
// SEMAEM; 0 once every value (and the undo's adjustments) changed.
func (s *semSet) apply(w *semWaiter) unix.Errno {
	adj := s.undos[w.undo]
	for i, o := range w.ops {
		cur := &s.sems[o.num]
		v := cur.val + int32(o.op)
		var e unix.Errno
		switch {
		case o.op == 0 && cur.val != 0, v < 0:
			w.blocking = o
			e = errWouldWait
			if o.flg&ipcNowait != 0 {
				e = unix.EAGAIN
			}
		case v > semVMX:
			e = unix.ERANGE
		case o.flg&semUndo != 0:
			if u := adj[o.num] - int32(o.op); u < -semAEM-1 || u > semAEM {
				e = unix.ERANGE
			}
		}
		if e != 0 {
			for _, back := range w.ops[:i] {
				s.sems[back.num].val -= int32(back.op)
				if back.flg&semUndo != 0 {
					adj[back.num] += int32(back.op)
				}
			}
			return e
		}
		cur.val = v
		if o.flg&semUndo != 0 {
			adj[o.num] -= int32(o.op)
		}
	}
	for _, o := range w.ops {
		s.sems[o.num].pid = w.pid
	}
	return 0
}

// errWouldWait is apply's answer for an operation that must wait; never
// returned to the program.
const errWouldWait = unix.Errno(1 << 20)

// retry is update_queue after the values changed: the waiting semops
// that can go on now do, the waits for zero tried first, then the
// others oldest first, from the start again after each that goes
// through; one that fails (ERANGE) ends with its error. It reports
// whether any went through.
func (s *semSet) retry(now int64) bool {
	completed := false
	for again := true; again; {
		again = false
		for _, zero := range []bool{true, false} {
			for _, w := range s.waiting {
				if w.alter == zero || w.done {
					continue
				}
				e := s.apply(w)
				if e == errWouldWait {
					continue
				}
				w.done, w.err = true, e
				close(w.wake)
				if e == 0 {
					completed = true
					if w.alter {
						again = true
						break
					}
				}
			}
			if again {
				break
			}
		}
		s.dropDone()
	}
	if completed {
		s.otime = now
	}
	return completed
}

// dropDone takes the finished waiters off the queue.
func (s *semSet) dropDone() {
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		if !w.done {
			kept = append(kept, w)
		}
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
}

// count is count_semcnt: the waiting semops blocked on semaphore num by
// a decrement (GETNCNT) or a wait for zero (GETZCNT).
func (s *semSet) count(num uint16, zero bool) int {
	n := 0
	for _, w := range s.waiting {
		if b := w.blocking; !w.done && b.num == num && (zero && b.op == 0 || !zero && b.op < 0) {
			n++
		}
	}
	return n
}

// sysSemget serves semget(key, nsems, flags) as ksys_semget, ipcget and
// newary: EINVAL for nsems outside 0..semmsl (0 only for an existing
// set, which must have at least nsems), ENOSPC past semmns semaphores or
// semmni sets.
func sysSemget(t *Task, a *[6]uint64) uint64 {
	key, nsems, flags := int32(a[0]), int32(a[1]), uint32(a[2])
	lim := t.tree.ipcLimits()
	if nsems < 0 || int(nsems) > lim.semMsl {
		return errno(unix.EINVAL)
	}
	r := &t.tree.sems
	more := func(s *semSet) unix.Errno {
		if int(nsems) > len(s.sems) {
			return unix.EINVAL
		}
		return 0
	}
	return ipcGet(t, &r.ids, key, flags, more, func() uint64 {
		if nsems == 0 {
			return errno(unix.EINVAL)
		}
		if r.used+int(nsems) > lim.semMns {
			return errno(unix.ENOSPC)
		}
		if !t.roomFor(uint64(nsems) * semaphoreBytes) {
			return errno(unix.ENOMEM)
		}
		s := &semSet{ipcPerm: t.newIPCPerm(key, flags), sems: make([]semaphore, nsems), ctime: t.cfg.Now().Unix()}
		if e := r.ids.add(s, lim.semMni); e != 0 {
			return errno(e)
		}
		r.used += int(nsems)
		return uint64(s.id)
	})
}

// sysSemop serves semop(id, sops, nsops): semtimedop without a timeout.
func sysSemop(t *Task, a *[6]uint64) uint64 {
	return t.semTimedOp(int32(a[0]), a[1], a[2], 0)
}

// sysSemtimedop serves semtimedop(id, sops, nsops, timeout).
func sysSemtimedop(t *Task, a *[6]uint64) uint64 {
	return t.semTimedOp(int32(a[0]), a[1], a[2], a[3])
}

// semTimedOp is do_semtimedop: E2BIG for more than semopm operations,
// EINVAL for none or a negative id, the timeout (EFAULT, EINVAL) and the
// operations (EFAULT) read; then the set (EINVAL), EFBIG for a semaphore
// number past it, the access the operations need (EACCES: write to
// change, read to wait for zero); the operations apply at once (or
// EAGAIN, ERANGE), or the call waits until they can (EAGAIN when the
// timeout passes, EIDRM if the set is removed, EINTR for a signal).
func (t *Task) semTimedOp(id int32, addr, nsops, timeout uint64) uint64 {
	var ts []byte
	if timeout != 0 {
		ts = make([]byte, semTimespecs)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(timeout), ts); err != nil {
			return errno(unix.EFAULT)
		}
	}
	if nsops > uint64(t.tree.ipcLimits().semOpm) {
		return errno(unix.E2BIG)
	}
	if nsops < 1 {
		return errno(unix.EINVAL)
	}
	if !t.roomFor(nsops * sembufSize) {
		return errno(unix.ENOMEM)
	}
	b := make([]byte, nsops*sembufSize)
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b); err != nil {
		return errno(unix.EFAULT)
	}
	if id < 0 {
		return errno(unix.EINVAL)
	}
	var dl waitDeadline
	if ts != nil {
		sec, nsec := int64(binary.LittleEndian.Uint64(ts)), int64(binary.LittleEndian.Uint64(ts[8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return errno(unix.EINVAL)
		}
		dl = waitDeadline{ok: true, at: math.MaxInt64}
		if sec < math.MaxInt64/int64(time.Second) {
			dl.at = min(t.cfg.Monotonic()+time.Duration(sec)*time.Second+time.Duration(nsec), math.MaxInt64)
		}
	}
	w := &semWaiter{ops: make([]semOp, nsops), pid: int32(t.cfg.PID)}
	maxNum, undo := uint16(0), false
	for i := range w.ops {
		o := semOp{num: binary.LittleEndian.Uint16(b[6*i:]), op: int16(binary.LittleEndian.Uint16(b[6*i+2:])),
			flg: int16(binary.LittleEndian.Uint16(b[6*i+4:]))}
		w.ops[i] = o
		maxNum = max(maxNum, o.num)
		undo = undo || o.flg&semUndo != 0
		w.alter = w.alter || o.op != 0
	}
	s, e := t.tree.sems.ids.byID(int(id))
	if e != 0 {
		return errno(e)
	}
	if int(maxNum) >= len(s.sems) {
		return errno(unix.EFBIG)
	}
	access := uint32(0o444)
	if w.alter {
		access = 0o222
	}
	if !t.ipcAllows(&s.ipcPerm, access) {
		return errno(unix.EACCES)
	}
	if undo {
		w.undo = t.semUndoFor(s)
	}
	now := t.cfg.Now().Unix()
	switch e := s.apply(w); e {
	case 0:
		if w.alter {
			s.retry(now)
		}
		s.otime = now
		return 0
	case errWouldWait:
	default:
		return errno(e)
	}
	w.wake = make(chan struct{})
	s.waiting = append(s.waiting, w)
	for {
		var timer *time.Timer
		var fired <-chan time.Time
		if dl.ok {
			left := dl.left(t.Process)
			if left <= 0 {
				s.dropWaiter(w)
				return errno(unix.EAGAIN)
			}
			timer = time.NewTimer(left)
			fired = timer.C
		}
		why := t.block(w.wake, fired)
		if timer != nil {
			timer.Stop()
		}
		if w.done {
			return errno(w.err)
		}
		switch why {
		case wokeSignal, wokeEnd:
			s.dropWaiter(w)
			return errno(unix.EINTR)
		}
	}
}

// dropWaiter takes w off the queue, which may let others through: its
// place no longer holds anything up, but nothing changed that a retry
// would see.
func (s *semSet) dropWaiter(w *semWaiter) {
	for i, x := range s.waiting {
		if x == w {
			s.waiting = append(s.waiting[:i:i], s.waiting[i+1:]...)
			return
		}
	}
}

// semUndoFor is find_alloc_undo: the caller's undo list's record for s,
// made (all zero) on first use.
func (t *Task) semUndoFor(s *semSet) *semUndoList {
	p := t.Process
	if p.semUndo == nil {
		p.semUndo = &semUndoList{refs: 1}
	}
	u := p.semUndo
	if _, ok := s.undos[u]; !ok {
		if s.undos == nil {
			s.undos = make(map[*semUndoList][]int32)
		}
		if u.sets == nil {
			u.sets = make(map[*semSet]struct{})
		}
		s.undos[u] = make([]int32, len(s.sems))
		u.sets[s] = struct{}{}
	}
	return u
}

// releaseSemUndo is exit_sem: the process lets go of its undo list; the
// last process sharing it applies each adjustment to its set (a value
// clamped to 0..SEMVMX, the process recorded as the last to change it),
// whose waiting semops are then retried.
func (p *Process) releaseSemUndo() {
	u := p.semUndo
	if u == nil {
		return
	}
	p.semUndo = nil
	if u.refs--; u.refs > 0 {
		return
	}
	now := p.cfg.Now().Unix()
	for s := range u.sets {
		for _, w := range s.waiting {
			if w.undo == u && !w.done {
				w.done, w.err = true, unix.EINTR
				close(w.wake)
			}
		}
		s.dropDone()
		adj := s.undos[u]
		delete(s.undos, u)
		for i, v := range adj {
			if v == 0 {
				continue
			}
			sem := &s.sems[i]
			sem.val = min(max(sem.val+v, 0), semVMX)
			sem.pid = int32(p.cfg.PID)
		}
		s.retry(now)
		s.otime = now
	}
	u.sets = nil
}

// shareSemUndo gives child the caller's undo list (CLONE_SYSVSEM), or
// none.
func (p *Process) shareSemUndo(child *Process, share bool) {
	if share && p.semUndo != nil {
		p.semUndo.refs++
		child.semUndo = p.semUndo
	}
}

// sysSemctl serves semctl(id, num, cmd, arg) as ksys_semctl with IPC_64;
// arg is the union semun, passed by value: a pointer, or SETVAL's int.
func sysSemctl(t *Task, a *[6]uint64) uint64 {
	id, num, cmd, arg := int32(a[0]), int32(a[1]), int32(a[2]), a[3]
	if id < 0 {
		return errno(unix.EINVAL)
	}
	r := &t.tree.sems
	switch cmd {
	case ipcInfo, semInfo:
		return t.copyOutResult(arg, r.info(t.tree.ipcLimits(), cmd == semInfo), uint64(max(r.ids.maxIdx(), 0)))
	case ipcStat, semStat, semStatAny:
		return t.semStat(int(id), cmd, arg)
	case semGetAll, semGetVal, semGetPID, semGetNCnt, semGetZCnt, semSetAll:
		return t.semMain(int(id), num, cmd, arg)
	case semSetVal:
		return t.semSetVal(int(id), num, int32(arg))
	case ipcSet:
		in := make([]byte, semid64Size)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(arg), in); err != nil {
			return errno(unix.EFAULT)
		}
		s, e := t.semOwned(int(id))
		if e == 0 {
			e = ipcSetPerm(&s.ipcPerm, in)
		}
		if e != 0 {
			return errno(e)
		}
		s.ctime = t.cfg.Now().Unix()
		return 0
	case ipcRmid:
		s, e := t.semOwned(int(id))
		if e != 0 {
			return errno(e)
		}
		r.remove(s)
		return 0
	}
	return errno(unix.EINVAL)
}

// remove is freeary: every waiting semop ends with EIDRM, the undo
// records of the set go, and so does the set.
func (r *semRegistry) remove(s *semSet) {
	for _, w := range s.waiting {
		w.done, w.err = true, unix.EIDRM
		close(w.wake)
	}
	s.waiting = nil
	for u := range s.undos {
		delete(u.sets, s)
	}
	s.undos = nil
	r.ids.remove(s)
	r.used -= len(s.sems)
}

// info is IPC_INFO's or SEM_INFO's struct seminfo: the limits, and for
// SEM_INFO the sets and semaphores in use in place of semusz and semaem.
func (r *semRegistry) info(lim *ipcLimits, inUse bool) []byte {
	usz, aem := semUSZ, semAEM
	if inUse {
		usz, aem = len(r.ids.objs), r.used
	}
	b := make([]byte, seminfoSize)
	for i, v := range []int{semMap, lim.semMni, lim.semMns, semMNU, lim.semMsl, lim.semOpm, semUME, usz, semVMX, aem} {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

// semStat serves IPC_STAT (by id), SEM_STAT and SEM_STAT_ANY (by index,
// returning the id): EINVAL for no set, EACCES without read access (but
// for SEM_STAT_ANY), then the semid64_ds (EFAULT).
func (t *Task) semStat(id int, cmd int32, buf uint64) uint64 {
	s, e := statTarget(t, &t.tree.sems.ids, id, cmd == ipcStat, cmd == semStatAny)
	if e != 0 {
		return errno(e)
	}
	b := make([]byte, semid64Size)
	putIPC64Perm(b, &s.ipcPerm)
	le := binary.LittleEndian
	le.PutUint64(b[48:], uint64(s.otime))
	le.PutUint64(b[64:], uint64(s.ctime))
	le.PutUint64(b[80:], uint64(len(s.sems)))
	ret := uint64(0)
	if cmd != ipcStat {
		ret = uint64(s.id)
	}
	return t.copyOutResult(buf, b, ret)
}

// semMain is semctl_main: the set (EINVAL), read access (write for
// SETALL; EACCES); GETALL and SETALL move every value through the array
// at arg (EFAULT; ERANGE for a value past SEMVMX; SETALL clears every
// process's adjustments of the set); the others answer for semaphore num
// (EINVAL outside the set).
func (t *Task) semMain(id int, num, cmd int32, arg uint64) uint64 {
	s, e := t.tree.sems.ids.byID(id)
	if e != 0 {
		return errno(e)
	}
	access := uint32(0o444)
	if cmd == semSetAll {
		access = 0o222
	}
	if !t.ipcAllows(&s.ipcPerm, access) {
		return errno(unix.EACCES)
	}
	b := make([]byte, 2*len(s.sems))
	switch cmd {
	case semGetAll:
		for i, v := range s.sems {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v.val))
		}
		return t.copyOutResult(arg, b, 0)
	case semSetAll:
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(arg), b); err != nil {
			return errno(unix.EFAULT)
		}
		for i := range s.sems {
			if binary.LittleEndian.Uint16(b[2*i:]) > semVMX {
				return errno(unix.ERANGE)
			}
		}
		for i := range s.sems {
			s.sems[i] = semaphore{val: int32(binary.LittleEndian.Uint16(b[2*i:])), pid: int32(t.cfg.PID)}
		}
		for _, adj := range s.undos {
			clear(adj)
		}
		s.changed(t)
		return 0
	}
	if num < 0 || int(num) >= len(s.sems) {
		return errno(unix.EINVAL)
	}
	switch cmd {
	case semGetVal:
		return uint64(s.sems[num].val)
	case semGetPID:
		return uint64(s.sems[num].pid)
	case semGetNCnt:
		return uint64(s.count(uint16(num), false))
	}
	return uint64(s.count(uint16(num), true))
}

// semSetVal is semctl_setval: ERANGE for a value outside 0..SEMVMX, the
// set (EINVAL), num within it (EINVAL), write access (EACCES); every
// process's adjustment of the semaphore is cleared.
func (t *Task) semSetVal(id int, num, val int32) uint64 {
	if val < 0 || val > semVMX {
		return errno(unix.ERANGE)
	}
	s, e := t.tree.sems.ids.byID(id)
	switch {
	case e != 0:
		return errno(e)
	case num < 0 || int(num) >= len(s.sems):
		return errno(unix.EINVAL)
	case !t.ipcAllows(&s.ipcPerm, 0o222):
		return errno(unix.EACCES)
	}
	for _, adj := range s.undos {
		adj[num] = 0
	}
	s.sems[num] = semaphore{val: val, pid: int32(t.cfg.PID)}
	s.changed(t)
	return 0
}

// changed is what SETVAL and SETALL do after the values changed: the
// change time, and the waiting semops retried.
func (s *semSet) changed(t *Task) {
	now := t.cfg.Now().Unix()
	s.ctime = now
	s.retry(now)
}

// semOwned finds the set IPC_SET or IPC_RMID changes (EINVAL) and checks
// the caller may (EPERM).
func (t *Task) semOwned(id int) (*semSet, unix.Errno) {
	s, e := t.tree.sems.ids.byID(id)
	if e != 0 {
		return nil, e
	}
	return s, t.ipcOwnerCheck(&s.ipcPerm)
}

// sysvipcSemText is /proc/sysvipc/sem, as sysvipc_sem_proc_show prints
// it: a header, then a line for each set in index order.
func (p *Process) sysvipcSemText() []byte {
	b := []byte("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n")
	for _, s := range p.tree.sems.ids.sorted() {
		b = fmt.Appendf(b, "%10d %10d  %4o %10d %5d %5d %5d %5d %10d %10d\n",
			s.key, s.id, s.mode, len(s.sems), s.uid, s.gid, s.cuid, s.cgid, s.otime, s.ctime)
	}
	return b
}
