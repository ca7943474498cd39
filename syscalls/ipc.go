package syscalls

import (
	"encoding/binary"
	"slices"

	"golang.org/x/sys/unix"
)

// What System V message queues (msg.go) and semaphore sets (sem.go) share,
// as Linux's ipc/util.c gives it to both: an object's ipc64_perm, ids made
// of an index and a sequence number (ipc_addid), the key lookup of
// ipcget, and the owner check of IPC_SET and IPC_RMID. Shared memory
// (shm.go) keeps the same rules with its own registry, whose lock mm's
// callbacks need; these objects are guarded by the tree lock, which every
// call holds, so that a wait (block) and the change that ends it are
// ordered by it.

// ipcPerm is an object's struct kern_ipc_perm. Guarded by the tree lock.
type ipcPerm struct {
	// key is IPC_PRIVATE once the object is removed; id and seq are
	// fixed at creation.
	key                  int32
	id, seq              int
	uid, gid, cuid, cgid uint32
	mode                 uint32
	// deleted is set by IPC_RMID: a thread still waiting on the object
	// sees EIDRM.
	deleted bool
}

// ipcObject is what an ipcIDs table holds.
type ipcObject interface{ perm() *ipcPerm }

func (p *ipcPerm) perm() *ipcPerm { return p }

// ipcIDs is one kind's objects by index (an id's low 15 bits), and the
// state ipc_idr_alloc keeps to give new ids. Guarded by the tree lock.
type ipcIDs[T ipcObject] struct {
	objs map[int]T
	// lastIdx is the index given last plus one (0 before the first),
	// nextIdx where the cyclic search resumes, seq the sequence number
	// new ids carry, advanced when the indexes wrap.
	lastIdx, nextIdx, seq int
}

// add gives o an index and sequence number, as ipc_addid: ENOSPC once
// limit objects exist (a limit above IPCMNI is IPCMNI), else the next
// free index after the last given, below max(in use * 3/2, 64), wrapping;
// the sequence number advances when the index did not.
func (r *ipcIDs[T]) add(o T, limit int) unix.Errno {
	if len(r.objs) >= min(limit, ipcMNI) {
		return unix.ENOSPC
	}
	scan := min(max(len(r.objs)*3/2, ipcMinScan), ipcMNI)
	idx := -1
	for i := range scan {
		if c := (r.nextIdx + i) % scan; !r.has(c) {
			idx = c
			break
		}
	}
	if idx < 0 {
		return unix.ENOSPC
	}
	if idx+1 <= r.lastIdx {
		if r.seq++; r.seq >= ipcSeqMax {
			r.seq = 0
		}
	}
	r.lastIdx, r.nextIdx = idx+1, idx+1
	if r.objs == nil {
		r.objs = make(map[int]T)
	}
	p := o.perm()
	p.seq, p.id = r.seq, r.seq*ipcMNI+idx
	r.objs[idx] = o
	return 0
}

func (r *ipcIDs[T]) has(idx int) bool {
	_, ok := r.objs[idx]
	return ok
}

// remove takes o out of the table and marks it deleted (ipc_rmid).
func (r *ipcIDs[T]) remove(o T) {
	p := o.perm()
	delete(r.objs, p.id%ipcMNI)
	p.deleted = true
	p.key = unix.IPC_PRIVATE
}

// byID finds the object with id (ipc_obtain_object_check): EINVAL for a
// negative id, an empty index or another sequence number.
func (r *ipcIDs[T]) byID(id int) (T, unix.Errno) {
	var zero T
	if id < 0 {
		return zero, unix.EINVAL
	}
	o, ok := r.objs[id%ipcMNI]
	if !ok || o.perm().seq != id/ipcMNI {
		return zero, unix.EINVAL
	}
	return o, 0
}

// byIndex finds the object at the index id names (ipc_obtain_object_idr,
// for the *_STAT commands): EINVAL for none.
func (r *ipcIDs[T]) byIndex(id int) (T, unix.Errno) {
	o, ok := r.objs[id%ipcMNI]
	if !ok {
		return o, unix.EINVAL
	}
	return o, 0
}

// byKey finds the object with key, if any (ipc_findkey).
func (r *ipcIDs[T]) byKey(key int32) (T, bool) {
	for _, o := range r.objs {
		if o.perm().key == key {
			return o, true
		}
	}
	var zero T
	return zero, false
}

// maxIdx is ipc_get_maxidx: the highest index in use, -1 for none.
func (r *ipcIDs[T]) maxIdx() int {
	m := -1
	for i := range r.objs {
		m = max(m, i)
	}
	return m
}

// sorted is the objects in index order, as /proc/sysvipc lists them.
func (r *ipcIDs[T]) sorted() []T {
	idxs := make([]int, 0, len(r.objs))
	for i := range r.objs {
		idxs = append(idxs, i)
	}
	slices.Sort(idxs)
	out := make([]T, len(idxs))
	for i, x := range idxs {
		out[i] = r.objs[x]
	}
	return out
}

// ipcGet is ipcget for a key other than IPC_PRIVATE: the existing
// object's id, EEXIST for IPC_CREAT|IPC_EXCL, more's error (the kind's
// own check), EACCES for the mode asked; with no object, ENOENT without
// IPC_CREAT, else make's answer.
func ipcGet[T ipcObject](t *Task, r *ipcIDs[T], key int32, flags uint32, more func(T) unix.Errno, make func() uint64) uint64 {
	if key == unix.IPC_PRIVATE {
		return make()
	}
	o, ok := r.byKey(key)
	if !ok {
		if flags&ipcCreat == 0 {
			return errno(unix.ENOENT)
		}
		return make()
	}
	if flags&ipcCreat != 0 && flags&ipcExcl != 0 {
		return errno(unix.EEXIST)
	}
	if more != nil {
		if e := more(o); e != 0 {
			return errno(e)
		}
	}
	if !t.ipcAllows(o.perm(), flags) {
		return errno(unix.EACCES)
	}
	return uint64(o.perm().id)
}

// newIPCPerm is a new object's ipc64_perm: the caller's effective ids as
// owner and creator, the low nine bits of flags as mode.
func (t *Task) newIPCPerm(key int32, flags uint32) ipcPerm {
	c := &t.cred
	return ipcPerm{key: key, uid: c.euid, cuid: c.euid, gid: c.egid, cgid: c.egid, mode: flags & 0o777}
}

// ipcAllows is ipcperms for p (see ipcPermitted).
func (t *Task) ipcAllows(p *ipcPerm, flag uint32) bool {
	return t.ipcModeAllows(p.uid, p.gid, p.cuid, p.cgid, p.mode, flag)
}

// ipcOwnerCheck is ipcctl_obtain_check's test for IPC_SET and IPC_RMID:
// the caller owns or made the object, or holds CAP_SYS_ADMIN; else EPERM.
func (t *Task) ipcOwnerCheck(p *ipcPerm) unix.Errno {
	if c := &t.cred; c.euid != p.uid && c.euid != p.cuid && !c.capable(unix.CAP_SYS_ADMIN) {
		return unix.EPERM
	}
	return 0
}

// ipcSetPerm is ipc_update_perm from an ipc64_perm at the start of b:
// the owner's ids (EINVAL for -1, which no id maps to) and the mode's low
// nine bits.
func ipcSetPerm(p *ipcPerm, b []byte) unix.Errno {
	uid, gid := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	if uid == ^uint32(0) || gid == ^uint32(0) {
		return unix.EINVAL
	}
	p.uid, p.gid = uid, gid
	p.mode = p.mode&^0o777 | binary.LittleEndian.Uint32(b[20:])&0o777
	return 0
}

// putIPC64Perm writes p as struct ipc64_perm (48 bytes) at the start of b.
func putIPC64Perm(b []byte, p *ipcPerm) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(p.key))
	le.PutUint32(b[4:], p.uid)
	le.PutUint32(b[8:], p.gid)
	le.PutUint32(b[12:], p.cuid)
	le.PutUint32(b[16:], p.cgid)
	le.PutUint32(b[20:], p.mode)
	le.PutUint16(b[24:], uint16(p.seq))
}

// ipcLimits are an IPC namespace's tunables that /proc/sys/kernel shows
// and root may change: msgmax, msgmnb and msgmni, and sem's four
// (semmsl, semmns, semopm, semmni). set says they hold Linux's defaults
// or what was written since (processTree.ipcLimits). Guarded by the
// tree lock.
type ipcLimits struct {
	set                            bool
	msgMax, msgMnb, msgMni         int
	semMsl, semMns, semOpm, semMni int
}

// ipcLimits returns the namespace's tunables, Linux's defaults until
// root writes them.
func (tr *processTree) ipcLimits() *ipcLimits {
	l := &tr.ipcLim
	if !l.set {
		*l = ipcLimits{set: true, msgMax: msgMaxDefault, msgMnb: msgMnbDefault, msgMni: msgMniDefault,
			semMsl: semMslDefault, semMns: semMnsDefault, semOpm: semOpmDefault, semMni: semMniDefault}
	}
	return l
}

// statTarget finds the object IPC_STAT (by id, byID) or MSG_STAT,
// SEM_STAT and their _ANY forms (by index) ask for: EINVAL for none,
// EACCES without read access but for the _ANY forms (anyReader), as
// ipc_obtain_object_check and ipcperms answer.
func statTarget[T ipcObject](t *Task, r *ipcIDs[T], id int, byID, anyReader bool) (T, unix.Errno) {
	var o T
	var e unix.Errno
	if byID {
		o, e = r.byID(id)
	} else {
		o, e = r.byIndex(id)
	}
	if e == 0 && !anyReader && !t.ipcAllows(o.perm(), 0o444) {
		e = unix.EACCES
	}
	return o, e
}

// semaphoreBytes is what one semaphore of a set takes of mmvm's memory
// (struct semaphore), for roomFor.
const semaphoreBytes = 8
