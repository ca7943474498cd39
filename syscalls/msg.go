package syscalls

import (
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// System V message queues (msgget, msgsnd, msgrcv, msgctl), as Linux's
// ipc/msg.c keeps them in the VM's one IPC namespace. A queue holds
// messages in the order they came; a receiver that finds none it wants
// waits on the queue's receiver list, and a sender that comes while it
// waits hands it the message directly (pipelined_send), first to the
// longest waiting receiver whose search the message meets; a sender that
// finds the queue full waits for any receive, IPC_SET or IPC_RMID to
// look again. Everything is guarded by the tree lock.

// Linux's defaults and fixed figures (include/uapi/linux/msg.h).
const (
	msgMaxDefault = 8192  // MSGMAX, /proc/sys/kernel/msgmax
	msgMnbDefault = 16384 // MSGMNB, /proc/sys/kernel/msgmnb
	msgMniDefault = 32000 // MSGMNI, /proc/sys/kernel/msgmni
	msgPool       = msgMniDefault * msgMnbDefault / 1024
	msgTQL        = msgMnbDefault
	msgMap        = msgMnbDefault
	msgSSZ        = 16
	msgSeg        = 0xffff // (MSGPOOL*1024)/MSGSSZ, capped at 0xffff
)

// msgrcv's flags and msgctl's commands.
const (
	ipcNowait   = 0o4000
	msgNoerror  = 0o10000
	msgExcept   = 0o20000
	msgCopy     = 0o40000
	msgStat     = 11
	msgInfo     = 12
	msgStatAny  = 13
	msqid64Size = 120 // struct msqid64_ds
	msginfoSize = 32  // struct msginfo
)

// msgSearch is how a receive picks its message (convert_mode).
type msgSearch int

const (
	searchAny       msgSearch = iota // msgtyp 0: the first
	searchEqual                      // msgtyp > 0: the first of that type
	searchNotEqual                   // msgtyp > 0 with MSG_EXCEPT: the first of another type
	searchLessEqual                  // msgtyp < 0: the first of the lowest type up to -msgtyp
	searchNumber                     // MSG_COPY: the msgtyp'th, from 0
)

// msgRegistry is the namespace's message queues, and the messages and
// bytes queued in all of them (MSG_INFO's msgmap and msgtql). Guarded by
// the tree lock.
type msgRegistry struct {
	ids             ipcIDs[*msgQueue]
	allMsgs, allLen int64
	// inFlight is the bytes of the messages sends hold, queued or not,
	// while their calls last (roomFor).
	inFlight uint64
}

// msgQueue is one queue: its msqid64_ds and what waits on it. Guarded by
// the tree lock.
type msgQueue struct {
	ipcPerm
	// msgs are the messages in the order they came; cbytes their bytes,
	// qbytes the most they may hold (and the most messages).
	msgs                []*msgMessage
	cbytes, qbytes      uint64
	stime, rtime, ctime int64
	lspid, lrpid        int32
	// receivers are the receives waiting, longest first.
	receivers []*msgReceiver
	// senders is closed, and replaced, when a sender waiting for room
	// must look again: a receive, IPC_SET, IPC_RMID.
	senders chan struct{}
}

// msgMessage is one message: its type and text.
type msgMessage struct {
	mtype int64
	text  []byte
}

// msgReceiver is a receive waiting on a queue. A send that meets its
// search takes it off the receivers and sets msg, or err E2BIG where
// the message is longer than maxSize; IPC_RMID sets err EIDRM, IPC_SET
// err EAGAIN (look again). done is closed when any of these is set.
type msgReceiver struct {
	mode    msgSearch
	mtype   int64
	maxSize int64
	tid     int32
	msg     *msgMessage
	err     unix.Errno
	done    chan struct{}
}

// matches is testmsg: whether m meets a search for mtype in mode.
func (m *msgMessage) matches(mtype int64, mode msgSearch) bool {
	switch mode {
	case searchEqual:
		return m.mtype == mtype
	case searchNotEqual:
		return m.mtype != mtype
	case searchLessEqual:
		return m.mtype <= mtype
	}
	return true
}

// find is find_msg: the index of the message a receive for mtype in
// mode takes, -1 for none.
func (q *msgQueue) find(mtype int64, mode msgSearch) int {
	found := -1
	for i, m := range q.msgs {
		if !m.matches(mtype, mode) {
			continue
		}
		switch mode {
		case searchNumber:
			if int64(i) == mtype {
				return i
			}
		case searchLessEqual:
			if m.mtype == 1 {
				return i
			}
			if found < 0 || m.mtype < q.msgs[found].mtype {
				found = i
			}
		default:
			return i
		}
	}
	return found
}

// fits is msg_fits_inqueue: a message of size bytes leaves the queue
// within qbytes bytes and qbytes messages.
func (q *msgQueue) fits(size uint64) bool {
	return size+q.cbytes <= q.qbytes && uint64(len(q.msgs))+1 <= q.qbytes
}

// sendersLookAgain wakes the senders waiting for room.
func (q *msgQueue) sendersLookAgain() {
	if q.senders != nil {
		close(q.senders)
		q.senders = nil
	}
}

// sendersChannel is the channel the next sendersLookAgain closes.
func (q *msgQueue) sendersChannel() <-chan struct{} {
	if q.senders == nil {
		q.senders = make(chan struct{})
	}
	return q.senders
}

// wakeReceivers ends every waiting receive with err (expunge_all).
func (q *msgQueue) wakeReceivers(err unix.Errno) {
	for _, r := range q.receivers {
		r.err = err
		close(r.done)
	}
	q.receivers = nil
}

// dropReceiver takes r off the receivers, if it is there.
func (q *msgQueue) dropReceiver(r *msgReceiver) {
	for i, x := range q.receivers {
		if x == r {
			q.receivers = append(q.receivers[:i:i], q.receivers[i+1:]...)
			return
		}
	}
}

// handOff is pipelined_send: the longest waiting receive whose search m
// meets takes it, and true is returned; one whose buffer is too small is
// ended with E2BIG on the way.
func (q *msgQueue) handOff(m *msgMessage, now int64) bool {
	for i := 0; i < len(q.receivers); {
		r := q.receivers[i]
		if !m.matches(r.mtype, r.mode) {
			i++
			continue
		}
		q.receivers = append(q.receivers[:i:i], q.receivers[i+1:]...)
		if int64(len(m.text)) > r.maxSize {
			r.err = unix.E2BIG
			close(r.done)
			continue
		}
		q.lrpid, q.rtime = r.tid, now
		r.msg = m
		close(r.done)
		return true
	}
	return false
}

// sysMsgget serves msgget(key, flags) as ipcget and newque: a new queue
// holds up to msgmnb bytes; ENOSPC at msgmni queues.
func sysMsgget(t *Task, a *[6]uint64) uint64 {
	key, flags := int32(a[0]), uint32(a[1])
	r := &t.tree.msgs
	return ipcGet(t, &r.ids, key, flags, nil, func() uint64 {
		lim := t.tree.ipcLimits()
		q := &msgQueue{ipcPerm: t.newIPCPerm(key, flags), qbytes: uint64(lim.msgMnb), ctime: t.cfg.Now().Unix()}
		if e := r.ids.add(q, lim.msgMni); e != 0 {
			return errno(e)
		}
		return uint64(q.id)
	})
}

// sysMsgsnd serves msgsnd(id, msgp, size, flags) as do_msgsnd: the type
// is read first (EFAULT), then EINVAL for a size past msgmax or a type
// below 1, the text (EFAULT), the queue (EINVAL), write access (EACCES);
// a queue without room waits (EAGAIN with IPC_NOWAIT; EIDRM if it is
// removed meanwhile; a signal interrupts, EINTR where a handler runs).
func sysMsgsnd(t *Task, a *[6]uint64) uint64 {
	id, addr, size, flags := int32(a[0]), a[1], a[2], uint32(a[3])
	var mt [8]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), mt[:]); err != nil {
		return errno(unix.EFAULT)
	}
	m := &msgMessage{mtype: int64(binary.LittleEndian.Uint64(mt[:]))}
	if size > uint64(t.tree.ipcLimits().msgMax) || id < 0 || m.mtype < 1 {
		return errno(unix.EINVAL)
	}
	if !t.roomFor(size) {
		return errno(unix.ENOMEM)
	}
	t.tree.msgs.inFlight += size
	defer func() { t.tree.msgs.inFlight -= size }()
	m.text = make([]byte, size)
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr+8), m.text); err != nil {
		return errno(unix.EFAULT)
	}
	r := &t.tree.msgs
	q, e := r.ids.byID(int(id))
	if e != 0 {
		return errno(e)
	}
	for {
		switch {
		case !t.ipcAllows(&q.ipcPerm, 0o222):
			return errno(unix.EACCES)
		case q.deleted:
			return errno(unix.EIDRM)
		case q.fits(size):
		case flags&ipcNowait != 0:
			return errno(unix.EAGAIN)
		default:
			why := t.block(q.sendersChannel(), nil)
			if q.deleted {
				return errno(unix.EIDRM)
			}
			switch why {
			case wokeSignal:
				return errno(errRestartNoHand)
			case wokeEnd:
				return errno(unix.EINTR)
			}
			continue
		}
		break
	}
	now := t.cfg.Now().Unix()
	q.lspid, q.stime = int32(t.cfg.PID), now
	if !q.handOff(m, now) {
		q.msgs = append(q.msgs, m)
		q.cbytes += size
		r.allMsgs++
		r.allLen += int64(size)
	}
	return 0
}

// sysMsgrcv serves msgrcv(id, msgp, size, msgtyp, flags) as do_msgrcv:
// EINVAL for a negative id or size, and for MSG_COPY without IPC_NOWAIT
// or with MSG_EXCEPT; then the queue (EINVAL), read access (EACCES), and
// the message the search picks: E2BIG if longer than size without
// MSG_NOERROR (it stays queued), ENOMSG for none with IPC_NOWAIT, else a
// wait (EIDRM if the queue is removed, EINTR for a signal with a
// handler). MSG_COPY copies the msgtyp'th message, leaving it queued
// (EINVAL where it is longer than size or msgmax). It returns the bytes
// of text written.
func sysMsgrcv(t *Task, a *[6]uint64) uint64 {
	id, addr, size, mtype, flags := int32(a[0]), a[1], int64(a[2]), int64(a[3]), uint32(a[4])
	if id < 0 || size < 0 {
		return errno(unix.EINVAL)
	}
	copyMax := int64(-1)
	if flags&msgCopy != 0 {
		if flags&msgExcept != 0 || flags&ipcNowait == 0 {
			return errno(unix.EINVAL)
		}
		copyMax = min(size, int64(t.tree.ipcLimits().msgMax))
	}
	mode := msgSearchOf(&mtype, flags)
	r := &t.tree.msgs
	q, e := r.ids.byID(int(id))
	if e != 0 {
		return errno(e)
	}
	var m *msgMessage
	for m == nil {
		switch {
		case !t.ipcAllows(&q.ipcPerm, 0o444):
			return errno(unix.EACCES)
		case q.deleted:
			return errno(unix.EIDRM)
		}
		if i := q.find(mtype, mode); i >= 0 {
			m = q.msgs[i]
			switch {
			case size < int64(len(m.text)) && flags&msgNoerror == 0:
				return errno(unix.E2BIG)
			case copyMax >= 0 && int64(len(m.text)) > copyMax:
				return errno(unix.EINVAL)
			case copyMax < 0:
				q.take(r, i, t)
			}
			break
		}
		if flags&ipcNowait != 0 {
			return errno(unix.ENOMSG)
		}
		w := &msgReceiver{mode: mode, mtype: mtype, maxSize: size, tid: int32(t.tid), done: make(chan struct{})}
		if flags&msgNoerror != 0 {
			w.maxSize = math.MaxInt32
		}
		q.receivers = append(q.receivers, w)
		why := t.block(w.done, nil)
		if m = w.msg; m != nil {
			break
		}
		if w.err != 0 && w.err != unix.EAGAIN {
			return errno(w.err)
		}
		q.dropReceiver(w)
		switch why {
		case wokeSignal:
			return errno(errRestartNoHand)
		case wokeEnd:
			return errno(unix.EINTR)
		}
	}
	n := min(size, int64(len(m.text)))
	var mt [8]byte
	binary.LittleEndian.PutUint64(mt[:], uint64(m.mtype))
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), mt[:]); err != nil {
		return errno(unix.EFAULT)
	}
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr+8), m.text[:n]); err != nil {
		return errno(unix.EFAULT)
	}
	return uint64(n)
}

// msgSearchOf is convert_mode: the search msgrcv's msgtyp and flags ask
// for; a negative msgtyp becomes the highest type taken.
func msgSearchOf(mtype *int64, flags uint32) msgSearch {
	switch {
	case flags&msgCopy != 0:
		return searchNumber
	case *mtype == 0:
		return searchAny
	case *mtype < 0:
		if *mtype == math.MinInt64 {
			*mtype = math.MaxInt64
		} else {
			*mtype = -*mtype
		}
		return searchLessEqual
	case flags&msgExcept != 0:
		return searchNotEqual
	}
	return searchEqual
}

// take removes the i'th message as a receive by t does, and lets the
// senders waiting for room look again.
func (q *msgQueue) take(r *msgRegistry, i int, t *Task) {
	m := q.msgs[i]
	q.msgs = append(q.msgs[:i:i], q.msgs[i+1:]...)
	q.cbytes -= uint64(len(m.text))
	q.rtime, q.lrpid = t.cfg.Now().Unix(), int32(t.cfg.PID)
	r.allMsgs--
	r.allLen -= int64(len(m.text))
	q.sendersLookAgain()
}

// sysMsgctl serves msgctl(id, cmd, buf) as ksys_msgctl with IPC_64.
func sysMsgctl(t *Task, a *[6]uint64) uint64 {
	id, cmd, buf := int32(a[0]), int32(a[1]), a[2]
	if id < 0 || cmd < 0 {
		return errno(unix.EINVAL)
	}
	r := &t.tree.msgs
	switch cmd {
	case ipcInfo, msgInfo:
		return t.copyOutResult(buf, r.info(t.tree.ipcLimits(), cmd == msgInfo), uint64(max(r.ids.maxIdx(), 0)))
	case ipcStat, msgStat, msgStatAny:
		return t.msgStat(int(id), cmd, buf)
	case ipcSet:
		in := make([]byte, msqid64Size)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(buf), in); err != nil {
			return errno(unix.EFAULT)
		}
		q, e := t.msgOwned(int(id))
		if e != 0 {
			return errno(e)
		}
		qbytes := binary.LittleEndian.Uint64(in[88:])
		if qbytes > uint64(t.tree.ipcLimits().msgMnb) && !t.cred.capable(unix.CAP_SYS_RESOURCE) {
			return errno(unix.EPERM)
		}
		if e := ipcSetPerm(&q.ipcPerm, in); e != 0 {
			return errno(e)
		}
		q.qbytes, q.ctime = qbytes, t.cfg.Now().Unix()
		q.wakeReceivers(unix.EAGAIN)
		q.sendersLookAgain()
		return 0
	case ipcRmid:
		q, e := t.msgOwned(int(id))
		if e != 0 {
			return errno(e)
		}
		q.wakeReceivers(unix.EIDRM)
		r.ids.remove(q)
		q.sendersLookAgain()
		r.allMsgs -= int64(len(q.msgs))
		r.allLen -= int64(q.cbytes)
		q.msgs, q.cbytes = nil, 0
		return 0
	}
	return errno(unix.EINVAL)
}

// info is IPC_INFO's or MSG_INFO's struct msginfo: the limits, and for
// MSG_INFO the queues, messages and bytes in use in place of msgpool,
// msgmap and msgtql.
func (r *msgRegistry) info(lim *ipcLimits, inUse bool) []byte {
	pool, mp, tql := int64(msgPool), int64(msgMap), int64(msgTQL)
	if inUse {
		pool, mp, tql = int64(len(r.ids.objs)), min(r.allMsgs, math.MaxInt32), min(r.allLen, math.MaxInt32)
	}
	b := make([]byte, msginfoSize)
	for i, v := range []int64{pool, mp, int64(lim.msgMax), int64(lim.msgMnb), int64(lim.msgMni), msgSSZ, tql} {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	binary.LittleEndian.PutUint16(b[28:], msgSeg)
	return b
}

// msgStat serves IPC_STAT (by id), MSG_STAT and MSG_STAT_ANY (by index,
// returning the id): EINVAL for no queue, EACCES without read access (but
// for MSG_STAT_ANY), then the msqid64_ds (EFAULT).
func (t *Task) msgStat(id int, cmd int32, buf uint64) uint64 {
	q, e := statTarget(t, &t.tree.msgs.ids, id, cmd == ipcStat, cmd == msgStatAny)
	if e != 0 {
		return errno(e)
	}
	b := make([]byte, msqid64Size)
	putIPC64Perm(b, &q.ipcPerm)
	le := binary.LittleEndian
	le.PutUint64(b[48:], uint64(q.stime))
	le.PutUint64(b[56:], uint64(q.rtime))
	le.PutUint64(b[64:], uint64(q.ctime))
	le.PutUint64(b[72:], q.cbytes)
	le.PutUint64(b[80:], uint64(len(q.msgs)))
	le.PutUint64(b[88:], q.qbytes)
	le.PutUint32(b[96:], uint32(q.lspid))
	le.PutUint32(b[100:], uint32(q.lrpid))
	ret := uint64(0)
	if cmd != ipcStat {
		ret = uint64(q.id)
	}
	return t.copyOutResult(buf, b, ret)
}

// msgOwned finds the queue IPC_SET or IPC_RMID changes (EINVAL) and
// checks the caller may (EPERM).
func (t *Task) msgOwned(id int) (*msgQueue, unix.Errno) {
	q, e := t.tree.msgs.ids.byID(id)
	if e != 0 {
		return nil, e
	}
	return q, t.ipcOwnerCheck(&q.ipcPerm)
}

// sysvipcMsgText is /proc/sysvipc/msg, as sysvipc_msg_proc_show prints
// it: a header, then a line for each queue in index order.
func (p *Process) sysvipcMsgText() []byte {
	b := []byte("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n")
	for _, q := range p.tree.msgs.ids.sorted() {
		b = fmt.Appendf(b, "%10d %10d  %4o  %10d %10d %5d %5d %5d %5d %5d %5d %10d %10d %10d\n",
			q.key, q.id, q.mode, q.cbytes, len(q.msgs), q.lspid, q.lrpid, q.uid, q.gid, q.cuid, q.cgid,
			q.stime, q.rtime, q.ctime)
	}
	return b
}
