package syscalls

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// POSIX message queues (mq_open, mq_unlink, mq_timedsend,
// mq_timedreceive, mq_notify, mq_getsetattr), as Linux's ipc/mqueue.c
// keeps them in the IPC namespace's mqueue file system: a flat
// directory of queues by name (the C library strips the leading '/'), a
// queue living on while a descriptor holds it after mq_unlink. A queue
// holds at most maxmsg messages of at most msgsize bytes, the highest
// priority first, in arrival order within one; a receiver waiting on an
// empty queue is handed the next message directly, and a sender waiting
// on a full one has its message queued by the receive that makes room.
// A descriptor is an anon file here (its /proc/self/fd link says so)
// whose read gives the queue's status line and whose poll says whether a
// message waits (POLLIN) and whether one fits (POLLOUT). Everything is
// guarded by the tree lock.

// Linux's defaults and bounds (ipc/mqueue.c, include/linux/ipc_namespace.h).
const (
	mqMsgDefault     = 10      // DFLT_MSG, /proc/sys/fs/mqueue/msg_default
	mqMsgMax         = 10      // DFLT_MSGMAX, msg_max
	mqMsgsizeDefault = 8192    // DFLT_MSGSIZE, msgsize_default
	mqMsgsizeMax     = 8192    // DFLT_MSGSIZEMAX, msgsize_max
	mqQueuesMax      = 256     // DFLT_QUEUESMAX, queues_max
	mqHardMsgMax     = 65536   // HARD_MSGMAX
	mqHardMsgsizeMax = 1 << 24 // HARD_MSGSIZEMAX
	mqPrioMax        = 32768   // MQ_PRIO_MAX
	mqAttrSize       = 64      // struct mq_attr
	// mqMsgHeader and mqTreeNode are sizeof(struct msg_msg) and
	// sizeof(struct posix_msg_tree_node), which a queue's charge
	// against RLIMIT_MSGQUEUE counts.
	mqMsgHeader = 48
	mqTreeNode  = 48
	siMesgq     = -3 // SI_MESGQ
	nameMax     = 255
)

// mqRegistry is the namespace's mqueue file system. Guarded by the tree
// lock.
type mqRegistry struct {
	// names are the queues by name; count the queues that exist, named
	// or not (mq_queues_count).
	names map[string]*mqQueue
	count int
	// charged is each user's bytes charged against RLIMIT_MSGQUEUE.
	charged map[uint32]uint64
	// The /proc/sys/fs/mqueue tunables: msg_default, msg_max,
	// msgsize_default, msgsize_max and queues_max, Linux's defaults once
	// set is true (limits).
	set                                                 bool
	msgDefault, msgMax, sizeDefault, sizeMax, queuesMax int
}

// limits returns r with its tunables set: Linux's defaults until root
// writes them.
func (r *mqRegistry) limits() *mqRegistry {
	if !r.set {
		r.set = true
		r.msgDefault, r.msgMax, r.sizeDefault, r.sizeMax, r.queuesMax = mqMsgDefault, mqMsgMax, mqMsgsizeDefault, mqMsgsizeMax, mqQueuesMax
	}
	return r
}

// mqQueue is one queue. Guarded by the tree lock.
type mqQueue struct {
	// uid, gid and mode are its inode's; maxMsg and msgSize fixed at
	// creation; charge the bytes charged to owner's RLIMIT_MSGQUEUE.
	uid, gid, mode  uint32
	maxMsg, msgSize int64
	charge          uint64
	// msgs are the messages, highest priority first, in arrival order
	// within one; qsize is QSIZE, their bytes.
	msgs  []mqMessage
	qsize int64
	// senders and receivers are the calls waiting, longest first.
	senders, receivers []*mqWaiter
	// notifyOwner is the process to be told when a message comes to the
	// empty queue (nil for none), with how (SIGEV_SIGNAL or SIGEV_NONE),
	// the signal and its value.
	notifyOwner  *Process
	notifyKind   int32
	notifySigno  int32
	notifyValue  uint64
	notifyExecID uint64
	// refs counts the descriptions and the name that hold the queue.
	refs int
	// wq is what poll, select and epoll wait on.
	wq waitQueue
}

// mqMessage is one message.
type mqMessage struct {
	prio uint32
	text []byte
}

// mqWaiter is a call waiting on a queue: a sender with its message, or
// a receiver, handed msg. done is closed once it has what it waited for.
type mqWaiter struct {
	msg  mqMessage
	got  bool
	done chan struct{}
}

// mqFile is an open description of a queue: the queue and read's
// position in its status line.
type mqFile struct {
	q   *mqQueue
	reg *mqRegistry
	pos int64
}

// insert is msg_insert: m goes after the messages of its priority or
// higher.
func (q *mqQueue) insert(m mqMessage) {
	i := 0
	for i < len(q.msgs) && q.msgs[i].prio >= m.prio {
		i++
	}
	q.msgs = slices.Insert(q.msgs, i, m)
	q.qsize += int64(len(m.text))
}

// get is msg_get: the first message, taken off the queue.
func (q *mqQueue) get() mqMessage {
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	q.qsize -= int64(len(m.text))
	return m
}

// changed tells poll, select and epoll the queue's readiness changed.
func (q *mqQueue) changed(t *Task) {
	q.wq.notify(0)
	t.fdWaitersLookAgain()
}

// owner is the process registered for notification, nil for none or
// one that has ended (its exit's close unregistered it).
func (q *mqQueue) owner() *Process {
	if q.notifyOwner != nil && q.notifyOwner.ended.Load() {
		q.notifyOwner = nil
	}
	return q.notifyOwner
}

// notify is __do_notify after a message came to the empty queue with no
// receiver waiting: the registered process gets its signal (SI_MESGQ,
// the sender's pid and uid, the value), unless it has exec'd since, and
// is unregistered.
func (q *mqQueue) notify(t *Task) {
	o := q.owner()
	if o == nil || len(q.msgs) != 1 {
		return
	}
	q.notifyOwner = nil
	if q.notifyKind == sigevSignal && q.notifySigno != 0 && o.execID == q.notifyExecID {
		info := sigInfo{code: siMesgq, pid: uint32(t.cfg.PID), uid: t.cred.uid, value: q.notifyValue, why: "mq_notify"}
		o.sendToProcess(t, unix.Signal(q.notifySigno), info)
	}
}

// sysMqOpen serves mq_open(name, flags, mode, attr) as do_mq_open: the
// attr (EFAULT), the name (EFAULT, ENOENT for "", ENAMETOOLONG, EACCES
// for "." and ".." and one holding '/'), then an existing queue
// (EEXIST for O_CREAT|O_EXCL, EINVAL for O_ACCMODE 3, EACCES for the
// access asked) or a new one with O_CREAT (ENOENT without); the
// descriptor is always close-on-exec.
func sysMqOpen(t *Task, a *[6]uint64) uint64 {
	nameAddr, flags, mode, attrAddr := a[0], int32(a[1]), uint32(a[2]), a[3]
	var attr []byte
	if attrAddr != 0 {
		attr = make([]byte, mqAttrSize)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(attrAddr), attr); err != nil {
			return errno(unix.EFAULT)
		}
	}
	name, e := t.copyInString(arch.Addr(nameAddr), pathMax)
	if e != 0 {
		return errno(e)
	}
	switch {
	case name == "":
		return errno(unix.ENOENT)
	case name == "." || name == "..":
		return errno(unix.EACCES)
	}
	for i := range len(name) {
		if name[i] == '/' {
			return errno(unix.EACCES)
		}
	}
	if len(name) > nameMax {
		return errno(unix.ENAMETOOLONG)
	}
	fd, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	r := t.tree.mqueues.limits()
	q, ok := r.names[name]
	if !ok {
		if flags&unix.O_CREAT == 0 {
			return errno(unix.ENOENT)
		}
		q, e = t.newMqQueue(r, mode, attr)
		if e != 0 {
			return errno(e)
		}
		if r.names == nil {
			r.names = make(map[string]*mqQueue)
		}
		r.names[name] = q
		q.refs++
	} else {
		switch acc := flags & unix.O_ACCMODE; {
		case flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL:
			return errno(unix.EEXIST)
		case acc == unix.O_ACCMODE:
			return errno(unix.EINVAL)
		case t.cred.permission(&unix.Stat_t{Uid: q.uid, Gid: q.gid, Mode: unix.S_IFREG | q.mode}, accessOfOpen(uint32(flags)&unix.O_ACCMODE)) != 0:
			return errno(unix.EACCES)
		}
	}
	q.refs++
	t.install(fd, &openFile{stdio: -1, anon: &mqFile{q: q, reg: r}, flags: uint32(flags) & (unix.O_ACCMODE | unix.O_NONBLOCK)}, true)
	return uint64(fd)
}

// newMqQueue is mqueue_create_attr and mqueue_get_inode: ENOSPC past
// queues_max (but with CAP_SYS_RESOURCE); with attr, EINVAL for a
// maxmsg or msgsize below 1 or above msg_max and msgsize_max (the hard
// bounds with CAP_SYS_RESOURCE), EOVERFLOW where their product
// overflows; EMFILE where the queue's bytes would take the owner past
// RLIMIT_MSGQUEUE.
func (t *Task) newMqQueue(r *mqRegistry, mode uint32, attr []byte) (*mqQueue, unix.Errno) {
	resource := t.cred.capable(unix.CAP_SYS_RESOURCE)
	if r.count >= r.queuesMax && !resource {
		return nil, unix.ENOSPC
	}
	q := &mqQueue{uid: t.cred.fsuid, gid: t.cred.fsgid, mode: mode &^ (t.info.umask ^ defaultUmask) & 0o7777,
		maxMsg: int64(r.msgDefault), msgSize: int64(r.sizeDefault)}
	if attr != nil {
		q.maxMsg, q.msgSize = int64(binary.LittleEndian.Uint64(attr[8:])), int64(binary.LittleEndian.Uint64(attr[16:]))
	}
	maxMsg, maxSize := int64(r.msgMax), int64(r.sizeMax)
	if resource {
		maxMsg, maxSize = mqHardMsgMax, mqHardMsgsizeMax
	}
	if q.maxMsg <= 0 || q.msgSize <= 0 || q.maxMsg > maxMsg || q.msgSize > maxSize {
		return nil, unix.EINVAL
	}
	if uint64(q.msgSize) > math.MaxUint64/uint64(q.maxMsg) {
		return nil, unix.EOVERFLOW
	}
	q.charge = uint64(q.maxMsg)*uint64(q.msgSize) + uint64(q.maxMsg)*mqMsgHeader + uint64(min(q.maxMsg, mqPrioMax))*mqTreeNode
	if r.charged[q.uid]+q.charge > t.limit(unix.RLIMIT_MSGQUEUE).Cur {
		return nil, unix.EMFILE
	}
	if !t.roomFor(q.charge) {
		return nil, unix.ENOMEM
	}
	if r.charged == nil {
		r.charged = make(map[uint32]uint64)
	}
	r.charged[q.uid] += q.charge
	r.count++
	return q, 0
}

// put drops a reference to q; the last frees its charge and its place
// under queues_max (mqueue_evict_inode).
func (r *mqRegistry) put(q *mqQueue) {
	if q.refs--; q.refs > 0 {
		return
	}
	r.charged[q.uid] -= q.charge
	r.count--
	q.msgs = nil
}

// sysMqUnlink serves mq_unlink(name): the name (as mq_open), ENOENT for
// none; the queue lives on while descriptors hold it.
func sysMqUnlink(t *Task, a *[6]uint64) uint64 {
	name, e := t.copyInString(arch.Addr(a[0]), pathMax)
	if e != 0 {
		return errno(e)
	}
	if name == "" {
		return errno(unix.ENOENT)
	}
	if len(name) > nameMax {
		return errno(unix.ENAMETOOLONG)
	}
	r := &t.tree.mqueues
	q, ok := r.names[name]
	if !ok {
		return errno(unix.ENOENT)
	}
	delete(r.names, name)
	r.put(q)
	return 0
}

// mqFileOf finds the queue behind descriptor fd: EBADF for none or
// another kind of file.
func (t *Task) mqFileOf(fd uint64) (*openFile, *mqFile, unix.Errno) {
	f, e := t.file(fd)
	if e != 0 {
		return nil, nil, unix.EBADF
	}
	mf, ok := f.anon.(*mqFile)
	if !ok {
		return nil, nil, unix.EBADF
	}
	return f, mf, 0
}

// mqDeadline reads mq_timedsend's and mq_timedreceive's absolute
// CLOCK_REALTIME timeout (EFAULT, EINVAL); none where addr is 0.
func (t *Task) mqDeadline(addr uint64) (waitDeadline, unix.Errno) {
	if addr == 0 {
		return waitDeadline{}, 0
	}
	d, e := t.readTimespec(addr)
	if e != 0 {
		return waitDeadline{}, e
	}
	return waitDeadline{ok: true, realtime: true, at: d}, 0
}

// mqWait waits for w, on the queue's list, until it is done (0), the
// deadline passes (ETIMEDOUT) or a signal comes (ERESTARTSYS) or the
// thread ends (EINTR), as wq_sleep; a wait that ends otherwise takes w
// off the list with drop.
func (t *Task) mqWait(w *mqWaiter, dl waitDeadline, drop func()) unix.Errno {
	for {
		var timer *time.Timer
		var fired <-chan time.Time
		if dl.ok {
			left := dl.left(t.Process)
			if left <= 0 {
				drop()
				return unix.ETIMEDOUT
			}
			timer = time.NewTimer(left)
			fired = timer.C
		}
		why := t.block(w.done, fired)
		if timer != nil {
			timer.Stop()
		}
		if w.got {
			return 0
		}
		switch why {
		case wokeSignal:
			drop()
			return errRestartSys
		case wokeEnd:
			drop()
			return unix.EINTR
		}
	}
}

func dropWaiter(list *[]*mqWaiter, w *mqWaiter) {
	if i := slices.Index(*list, w); i >= 0 {
		*list = slices.Delete(*list, i, i+1)
	}
}

// sysMqTimedsend serves mq_timedsend(fd, msg, len, prio, timeout) as
// do_mq_timedsend: the timeout (EFAULT, EINVAL), EINVAL for a priority
// past MQ_PRIO_MAX, the descriptor (EBADF, also one not open for
// writing), EMSGSIZE past msgsize, the text (EFAULT); a full queue waits
// (EAGAIN with O_NONBLOCK, ETIMEDOUT at the timeout), else a waiting
// receiver takes the message, or it is queued.
func sysMqTimedsend(t *Task, a *[6]uint64) uint64 {
	fd, addr, size, prio := a[0], a[1], a[2], uint32(a[3])
	dl, e := t.mqDeadline(a[4])
	if e != 0 {
		return errno(e)
	}
	if prio >= mqPrioMax {
		return errno(unix.EINVAL)
	}
	f, mf, e := t.mqFileOf(fd)
	if e != 0 {
		return errno(e)
	}
	q := mf.q
	if acc := f.flags & unix.O_ACCMODE; acc != unix.O_WRONLY && acc != unix.O_RDWR {
		return errno(unix.EBADF)
	}
	if size > uint64(q.msgSize) {
		return errno(unix.EMSGSIZE)
	}
	m := mqMessage{prio: prio, text: make([]byte, size)}
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), m.text); err != nil {
		return errno(unix.EFAULT)
	}
	if int64(len(q.msgs)) == q.maxMsg {
		if f.flags&unix.O_NONBLOCK != 0 {
			return errno(unix.EAGAIN)
		}
		w := &mqWaiter{msg: m, done: make(chan struct{})}
		q.senders = append(q.senders, w)
		return errno(t.mqWait(w, dl, func() { dropWaiter(&q.senders, w) }))
	}
	if len(q.receivers) > 0 {
		w := q.receivers[0]
		q.receivers = q.receivers[1:]
		w.msg, w.got = m, true
		close(w.done)
	} else {
		q.insert(m)
		q.notify(t)
	}
	q.changed(t)
	return 0
}

// sysMqTimedreceive serves mq_timedreceive(fd, msg, len, prio, timeout)
// as do_mq_timedreceive: the timeout, the descriptor (EBADF, also one not
// open for reading), EMSGSIZE for a buffer smaller than msgsize; an empty
// queue waits (EAGAIN with O_NONBLOCK, ETIMEDOUT at the timeout); the
// first waiting sender's message then takes the place freed. It returns
// the message's length, its priority written at prio when that is not 0.
func sysMqTimedreceive(t *Task, a *[6]uint64) uint64 {
	fd, addr, size, prioAddr := a[0], a[1], a[2], a[3]
	dl, e := t.mqDeadline(a[4])
	if e != 0 {
		return errno(e)
	}
	f, mf, e := t.mqFileOf(fd)
	if e != 0 {
		return errno(e)
	}
	q := mf.q
	if acc := f.flags & unix.O_ACCMODE; acc != unix.O_RDONLY && acc != unix.O_RDWR {
		return errno(unix.EBADF)
	}
	if size < uint64(q.msgSize) {
		return errno(unix.EMSGSIZE)
	}
	var m mqMessage
	if len(q.msgs) == 0 {
		if f.flags&unix.O_NONBLOCK != 0 {
			return errno(unix.EAGAIN)
		}
		w := &mqWaiter{done: make(chan struct{})}
		q.receivers = append(q.receivers, w)
		if e := t.mqWait(w, dl, func() { dropWaiter(&q.receivers, w) }); e != 0 {
			return errno(e)
		}
		m = w.msg
	} else {
		m = q.get()
		if len(q.senders) > 0 {
			w := q.senders[0]
			q.senders = q.senders[1:]
			q.insert(w.msg)
			w.got = true
			close(w.done)
		}
		q.changed(t)
	}
	if prioAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], m.prio)
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(prioAddr), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), m.text); err != nil {
		return errno(unix.EFAULT)
	}
	return uint64(len(m.text))
}

// sysMqNotify serves mq_notify(fd, sevp) as do_mq_notify: the sigevent
// (EFAULT), EINVAL for a kind other than SIGEV_NONE, SIGEV_SIGNAL (with
// a valid signal) or SIGEV_THREAD; SIGEV_THREAD's cookie (EFAULT) and
// netlink socket, which mmvm has none of (EBADF, ENOTSOCK for a file
// that is no socket, EINVAL for one of another family); then the
// descriptor (EBADF). A null sevp removes the caller's registration;
// otherwise EBUSY where a process is registered.
func sysMqNotify(t *Task, a *[6]uint64) uint64 {
	fd, addr := a[0], a[1]
	var ev []byte
	if addr != 0 {
		ev = make([]byte, sigeventSize)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), ev); err != nil {
			return errno(unix.EFAULT)
		}
		kind, signo := int32(binary.LittleEndian.Uint32(ev[12:])), int32(binary.LittleEndian.Uint32(ev[8:]))
		switch kind {
		case sigevNone:
		case sigevSignal:
			if signo < 0 || signo > 64 {
				return errno(unix.EINVAL)
			}
		case sigevThread:
			cookie := make([]byte, 32)
			if _, err := t.cfg.Memory.CopyIn(arch.Addr(binary.LittleEndian.Uint64(ev)), cookie); err != nil {
				return errno(unix.EFAULT)
			}
			f, e := t.file(uint64(uint32(signo)))
			if e != 0 {
				return errno(unix.EBADF)
			}
			if _, ok := f.anon.(*socket); !ok {
				return errno(unix.ENOTSOCK)
			}
			return errno(unix.EINVAL)
		default:
			return errno(unix.EINVAL)
		}
	}
	_, mf, e := t.mqFileOf(fd)
	if e != 0 {
		return errno(e)
	}
	q := mf.q
	switch {
	case ev == nil:
		if q.owner() == t.Process {
			q.notifyOwner = nil
		}
	case q.owner() != nil:
		return errno(unix.EBUSY)
	default:
		q.notifyOwner, q.notifyExecID = t.Process, t.Process.execID
		q.notifyKind = int32(binary.LittleEndian.Uint32(ev[12:]))
		q.notifySigno = int32(binary.LittleEndian.Uint32(ev[8:]))
		q.notifyValue = binary.LittleEndian.Uint64(ev)
	}
	return 0
}

// sysMqGetsetattr serves mq_getsetattr(fd, new, old): new (EFAULT;
// EINVAL for a flag but O_NONBLOCK), the descriptor (EBADF); old gets
// the queue's attributes with the description's O_NONBLOCK, then new's
// O_NONBLOCK is the description's.
func sysMqGetsetattr(t *Task, a *[6]uint64) uint64 {
	fd, newAddr, oldAddr := a[0], a[1], a[2]
	var nb []byte
	if newAddr != 0 {
		nb = make([]byte, mqAttrSize)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(newAddr), nb); err != nil {
			return errno(unix.EFAULT)
		}
		if binary.LittleEndian.Uint64(nb)&^unix.O_NONBLOCK != 0 {
			return errno(unix.EINVAL)
		}
	}
	f, mf, e := t.mqFileOf(fd)
	if e != 0 {
		return errno(e)
	}
	q := mf.q
	old := make([]byte, mqAttrSize)
	le := binary.LittleEndian
	le.PutUint64(old[0:], uint64(f.flags&unix.O_NONBLOCK))
	le.PutUint64(old[8:], uint64(q.maxMsg))
	le.PutUint64(old[16:], uint64(q.msgSize))
	le.PutUint64(old[24:], uint64(len(q.msgs)))
	if nb != nil {
		f.flags = f.flags&^unix.O_NONBLOCK | uint32(le.Uint64(nb))&unix.O_NONBLOCK
	}
	if oldAddr == 0 {
		return 0
	}
	return t.copyOutResult(oldAddr, old, 0)
}

// statusLine is what a read of the descriptor gives (mqueue_read_file).
func (mf *mqFile) statusLine() []byte {
	q := mf.q
	kind, signo, pid := int32(0), int32(0), 0
	if o := q.owner(); o != nil {
		kind, pid = q.notifyKind, o.cfg.PID
		if kind == sigevSignal {
			signo = q.notifySigno
		}
	}
	return fmt.Appendf(nil, "QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n", q.qsize, kind, signo, pid)
}

// read gives the status line from the description's position on (EBADF
// where it is not open for reading).
func (mf *mqFile) read(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	if acc := f.flags & unix.O_ACCMODE; acc != unix.O_RDONLY && acc != unix.O_RDWR {
		return errno(unix.EBADF)
	}
	line := mf.statusLine()
	if mf.pos >= int64(len(line)) {
		return 0
	}
	b := line[mf.pos:]
	b = b[:min(uint64(len(b)), n)]
	if _, err := t.cfg.Memory.CopyOut(addr, b); err != nil {
		return errno(unix.EFAULT)
	}
	mf.pos += int64(len(b))
	return uint64(len(b))
}

// mqFileSize is what the mqueue file system gives a queue's inode as
// its size (FILENT_SIZE), which SEEK_END counts from.
const mqFileSize = 80

// seek is default_llseek on the description's position: EINVAL for a
// negative result or an unknown whence.
func (mf *mqFile) seek(off int64, whence uint32) uint64 {
	pos := off
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		pos += mf.pos
	case unix.SEEK_END:
		pos += mqFileSize
	default:
		return errno(unix.EINVAL)
	}
	if pos < 0 {
		return errno(unix.EINVAL)
	}
	mf.pos = pos
	return uint64(pos)
}

// readv reads into the first buffer with room.
func (mf *mqFile) readv(t *Task, f *openFile, iov []byte, iovcnt, total uint64) uint64 {
	for i := range iovcnt {
		if n := binary.LittleEndian.Uint64(iov[16*i+8:]); n > 0 {
			return mf.read(t, f, arch.Addr(binary.LittleEndian.Uint64(iov[16*i:])), n)
		}
	}
	return 0
}

// write is EBADF where the description is not open for writing, else
// EINVAL: the mqueue file system's files have no write.
func (mf *mqFile) write(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	if acc := f.flags & unix.O_ACCMODE; acc != unix.O_WRONLY && acc != unix.O_RDWR {
		return errno(unix.EBADF)
	}
	return errno(unix.EINVAL)
}

func (mf *mqFile) writev(t *Task, f *openFile, iov []byte, iovcnt uint64) uint64 {
	return mf.write(t, f, 0, 0)
}

// pollMask is mqueue_poll_file: readable with a message queued,
// writable with room for one.
func (mf *mqFile) pollMask(int) uint32 {
	var m uint32
	if len(mf.q.msgs) > 0 {
		m |= epollIn | epollRdNorm
	}
	if int64(len(mf.q.msgs)) < mf.q.maxMsg {
		m |= epollOut | epollWrNorm
	}
	return m
}

func (mf *mqFile) queue() *waitQueue { return &mf.q.wq }

// flush is mqueue_flush_file, at every close of a descriptor of the
// queue (and at exit): the closing process's notification registration
// goes.
func (mf *mqFile) flush(p *Process) {
	if mf.q.owner() == p {
		mf.q.notifyOwner = nil
	}
}

// release is the description's last close: the queue's reference goes.
func (mf *mqFile) release() {
	mf.reg.put(mf.q)
}

func (mf *mqFile) anonName() string { return "mqueue" }

// mqSysctls are /proc/sys/fs/mqueue's files, which root may write:
// msg_max and msg_default within 1..HARD_MSGMAX, msgsize_max and
// msgsize_default within 128..HARD_MSGSIZEMAX, queues_max any int.
var mqSysctls = []struct {
	name   string
	get    func(r *mqRegistry) *int
	lo, hi int
}{
	{"msg_default", func(r *mqRegistry) *int { return &r.msgDefault }, 1, mqHardMsgMax},
	{"msg_max", func(r *mqRegistry) *int { return &r.msgMax }, 1, mqHardMsgMax},
	{"msgsize_default", func(r *mqRegistry) *int { return &r.sizeDefault }, 128, mqHardMsgsizeMax},
	{"msgsize_max", func(r *mqRegistry) *int { return &r.sizeMax }, 128, mqHardMsgsizeMax},
	{"queues_max", func(r *mqRegistry) *int { return &r.queuesMax }, 0, math.MaxInt32},
}
