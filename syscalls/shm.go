package syscalls

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
)

// System V shared memory (shmget, shmat, shmdt, shmctl), one IPC
// namespace per VM, as Linux's ipc/shm.c keeps it. A segment's pages are
// a SharedFile's (the shmem object a memfd also is); an attach maps it
// MAP_SHARED through mm with the segment as the vmas' identity, so that
// the segment's references are its vmas: shm_nattch counts vmas, as
// Linux's does (a vma split by mprotect counts twice, a fork's copies
// count), and the segment's vmas never merge (memmap.SeparateMappings).
// A segment removed with IPC_RMID stays, keyless, until its last vma
// goes.
//
// Lock order: shmRegistry.mu, then a SharedFile's own lock. A segment's
// DecRef, which mm calls with its own locks held, takes only the
// registry's lock, and drops its SharedFile after releasing it.

// Linux's defaults for an IPC namespace (include/uapi/linux/shm.h,
// ipc/util.h).
const (
	shmMax     = ^uint64(0) - 1<<24 // SHMMAX, SHMALL
	shmMin     = 1                  // SHMMIN
	shmMNI     = 4096               // SHMMNI, SHMSEG
	ipcMNI     = 32768              // IPCMNI: ids are seq<<15 | index
	ipcSeqMax  = 1<<31 - 1>>15      // ipcid_seq_max
	ipcMinScan = 64                 // ipc_min_cycle (RADIX_TREE_MAP_SIZE)
)

// shmget's and shmat's flags, and shmctl's commands.
const (
	ipcCreat    = 0o1000
	ipcExcl     = 0o2000
	shmHugeTLB  = 0o4000
	shmRdonly   = 0o10000
	shmRnd      = 0o20000
	shmRemap    = 0o40000
	shmExec     = 0o100000
	shmDest     = 0o1000 // mode: removed, waiting for its last detach
	shmLocked   = 0o2000 // mode: SHM_LOCK
	ipcRmid     = 0
	ipcSet      = 1
	ipcStat     = 2
	ipcInfo     = 3
	shmLock     = 11
	shmUnlock   = 12
	shmStat     = 13
	shmInfo     = 14
	shmStatAny  = 15
	shmid64Size = 112 // struct shmid64_ds
	shminfoSize = 72  // struct shminfo64
	shmInfoSize = 48  // struct shm_info
)

// shmRegistry is the VM's segments. Guarded by mu.
type shmRegistry struct {
	mu sync.Mutex
	// segs are the segments by index (an id's low 15 bits).
	segs map[int]*shmSegment
	// lastIdx and seq are ipc_idr_alloc's: the index given last, plus
	// one (0 before the first), and the sequence number new ids carry,
	// which advances when the indexes wrap; nextIdx is where the cyclic
	// search resumes.
	lastIdx, nextIdx, seq int
	// totPages are the pages of every segment's size (shm_tot).
	totPages uint64
}

// shmSegment is one segment: its ipc64_perm and shmid64_ds fields, its
// pages, and its vmas. It is the identity of the vmas that map it.
type shmSegment struct {
	reg  *shmRegistry
	file SharedFile
	// id, seq, size and madeKey (the key it was made with) are fixed at
	// shmget.
	id      int
	seq     int
	size    uint64
	madeKey int32
	// attaches counts the vmas that map the segment (shm_nattch).
	attaches atomic.Int64
	// The rest are guarded by reg.mu.
	key                  int32
	uid, gid, cuid, cgid uint32
	mode                 uint32
	atime, dtime, ctime  int64
	cpid, lpid           int32
}

var _ memmap.SeparateMappings = (*shmSegment)(nil)

// IncRef implements memmap.MappingIdentity: a vma maps the segment.
func (s *shmSegment) IncRef() { s.attaches.Add(1) }

// DecRef implements memmap.MappingIdentity: a vma that mapped the segment
// is gone; the last one of a removed segment destroys it.
func (s *shmSegment) DecRef() {
	if s.attaches.Add(-1) != 0 {
		return
	}
	s.reg.mu.Lock()
	destroy := s.mode&shmDest != 0 && s.attaches.Load() == 0 && s.reg.segs[s.id%ipcMNI] == s
	if destroy {
		s.reg.removeLocked(s)
	}
	s.reg.mu.Unlock()
	if destroy {
		s.file.DecRef()
	}
}

// SeparateMappings implements memmap.SeparateMappings.
func (s *shmSegment) SeparateMappings() {}

// MappedName implements memmap.MappingIdentity: shmem's name for the
// segment's file, which no directory holds, after the key the segment was
// made with.
func (s *shmSegment) MappedName() string {
	return fmt.Sprintf("/SYSV%08x (deleted)", uint32(s.madeKey))
}

// DeviceID implements memmap.MappingIdentity.
func (s *shmSegment) DeviceID() uint64 { return s.file.DeviceID() }

// InodeID implements memmap.MappingIdentity.
func (s *shmSegment) InodeID() uint64 { return s.file.InodeID() }

// Msync implements memmap.MappingIdentity.
func (s *shmSegment) Msync(fr memmap.MappableRange) error { return s.file.Msync(fr) }

// lookupLocked finds the segment with id (shm_obtain_object_check):
// EINVAL for a negative id, an empty index or another sequence number.
func (r *shmRegistry) lookupLocked(id int) (*shmSegment, unix.Errno) {
	if id < 0 {
		return nil, unix.EINVAL
	}
	s := r.segs[id%ipcMNI]
	if s == nil || s.seq != id/ipcMNI {
		return nil, unix.EINVAL
	}
	return s, 0
}

// allocLocked picks the new segment's index and sequence number as
// ipc_idr_alloc does: the next free index after the last given, below
// max(in use * 3/2, 64), wrapping; the sequence number advances when the
// index did not. ENOSPC at SHMMNI segments.
func (r *shmRegistry) allocLocked() (idx, seq int, e unix.Errno) {
	if len(r.segs) >= shmMNI {
		return 0, 0, unix.ENOSPC
	}
	limit := min(max(len(r.segs)*3/2, ipcMinScan), ipcMNI)
	idx = -1
	for i := range limit {
		c := (r.nextIdx + i) % limit
		if r.segs[c] == nil {
			idx = c
			break
		}
	}
	if idx < 0 {
		return 0, 0, unix.ENOSPC
	}
	if idx+1 <= r.lastIdx {
		if r.seq++; r.seq >= ipcSeqMax {
			r.seq = 0
		}
	}
	r.lastIdx, r.nextIdx = idx+1, idx+1
	return idx, r.seq, 0
}

// removeLocked takes s out of the registry (shm_destroy's part).
func (r *shmRegistry) removeLocked(s *shmSegment) {
	delete(r.segs, s.id%ipcMNI)
	r.totPages -= arch.PageAlign(s.size) >> arch.PageShift
}

// maxIdxLocked is ipc_get_maxidx: the highest index in use, -1 for none.
func (r *shmRegistry) maxIdxLocked() int {
	m := -1
	for i := range r.segs {
		m = max(m, i)
	}
	return m
}

// ipcPermitted is ipcperms for a segment (see ipcModeAllows).
func (t *Task) ipcPermitted(s *shmSegment, flag uint32) bool {
	return t.ipcModeAllows(s.uid, s.gid, s.cuid, s.cgid, s.mode, flag)
}

// ipcModeAllows is ipcperms: whether the caller may have the access in
// the low nine bits of flag (each class's rwx alike) to an object of the
// given ids and mode: the owner's or creator's bits for either's euid,
// the group's for a member of either group, else the others'; or
// CAP_IPC_OWNER.
func (t *Task) ipcModeAllows(uid, gid, cuid, cgid, mode, flag uint32) bool {
	requested := (flag>>6 | flag>>3 | flag) & 0o7
	granted := mode
	c := &t.cred
	switch {
	case c.euid == cuid || c.euid == uid:
		granted >>= 6
	case t.inGroup(cgid) || t.inGroup(gid):
		granted >>= 3
	}
	return requested&^granted == 0 || c.capable(unix.CAP_IPC_OWNER)
}

// inGroup is in_group_p: g is the caller's fsgid or a supplementary group.
func (t *Task) inGroup(g uint32) bool {
	if t.cred.fsgid == g {
		return true
	}
	for _, x := range t.cred.groups {
		if x == g {
			return true
		}
	}
	return false
}

// sysShmget serves shmget(key, size, flags) as ipcget: IPC_PRIVATE
// always makes a segment; another key finds its segment (ENOENT without
// IPC_CREAT, EEXIST with IPC_EXCL, EINVAL if smaller than size, EACCES
// for the mode asked) or makes one (newseg: EINVAL for a size outside
// SHMMIN..SHMMAX, ENOSPC past SHMALL pages or SHMMNI segments). mmvm has
// no huge page pool: SHM_HUGETLB is ENOMEM, as Linux's hugetlb setup with
// none reserved.
func sysShmget(t *Task, a *[6]uint64) uint64 {
	key, size, flags := int32(a[0]), a[1], uint32(a[2])
	r := &t.tree.shm
	r.mu.Lock()
	if key != unix.IPC_PRIVATE {
		for _, s := range r.segs {
			if s.key != key {
				continue
			}
			var e unix.Errno
			switch {
			case flags&ipcCreat != 0 && flags&ipcExcl != 0:
				e = unix.EEXIST
			case s.size < size:
				e = unix.EINVAL
			case !t.ipcPermitted(s, flags):
				e = unix.EACCES
			}
			r.mu.Unlock()
			if e != 0 {
				return errno(e)
			}
			return uint64(s.id)
		}
		if flags&ipcCreat == 0 {
			r.mu.Unlock()
			return errno(unix.ENOENT)
		}
	}
	defer r.mu.Unlock()
	pages := arch.PageAlign(size) >> arch.PageShift
	switch {
	case size < shmMin || size > shmMax:
		return errno(unix.EINVAL)
	case pages<<arch.PageShift < size, r.totPages+pages < r.totPages, r.totPages+pages > shmMax:
		return errno(unix.ENOSPC)
	case flags&shmHugeTLB != 0:
		return errno(unix.ENOMEM)
	case t.cfg.NewSharedFile == nil:
		return errno(unix.ENOSYS)
	}
	idx, seq, e := r.allocLocked()
	if e != 0 {
		return errno(e)
	}
	file := t.cfg.NewSharedFile(fmt.Sprintf("SYSV%08x", uint32(key)), unix.F_SEAL_SEAL)
	if err := file.Truncate(size); err != nil {
		file.DecRef()
		return result(0, err)
	}
	s := &shmSegment{
		reg: r, file: file, id: seq*ipcMNI + idx, seq: seq, size: size, key: key, madeKey: key,
		uid: t.cred.euid, cuid: t.cred.euid, gid: t.cred.egid, cgid: t.cred.egid,
		mode: flags & 0o777, ctime: t.cfg.Now().Unix(), cpid: int32(t.cfg.PID),
	}
	if r.segs == nil {
		r.segs = make(map[int]*shmSegment)
	}
	r.segs[idx] = s
	r.totPages += pages
	return uint64(s.id)
}

// sysShmat serves shmat(id, addr, flags) as do_shmat: an unaligned addr
// is rounded down with SHM_RND (EINVAL to 0 with SHM_REMAP) or EINVAL;
// SHM_REMAP needs an address; then the segment (EINVAL), the access the
// flags ask (EACCES), and at a given address without SHM_REMAP nothing
// may be mapped there (EINVAL). The segment's size is mapped MAP_SHARED,
// read-only with SHM_RDONLY, executable with SHM_EXEC.
func sysShmat(t *Task, a *[6]uint64) uint64 {
	id, addr, flags := int32(a[0]), a[1], uint32(a[2])
	if id < 0 {
		return errno(unix.EINVAL)
	}
	mflags := uint64(unix.MAP_SHARED)
	if addr != 0 {
		if addr&arch.PageMask != 0 {
			if flags&shmRnd == 0 {
				return errno(unix.EINVAL)
			}
			if addr &^= arch.PageMask; addr == 0 && flags&shmRemap != 0 {
				return errno(unix.EINVAL)
			}
		}
		mflags |= unix.MAP_FIXED_NOREPLACE
		if flags&shmRemap != 0 {
			mflags = unix.MAP_SHARED | unix.MAP_FIXED
		}
	} else if flags&shmRemap != 0 {
		return errno(unix.EINVAL)
	}
	prot, access := uint64(unix.PROT_READ|unix.PROT_WRITE), uint32(0o666)
	if flags&shmRdonly != 0 {
		prot, access = unix.PROT_READ, 0o444
	}
	if flags&shmExec != 0 {
		prot |= unix.PROT_EXEC
		access |= 0o111
	}
	r := &t.tree.shm
	r.mu.Lock()
	s, e := r.lookupLocked(int(id))
	if e == 0 && !t.ipcPermitted(s, access) {
		e = unix.EACCES
	}
	if e != 0 {
		r.mu.Unlock()
		return errno(e)
	}
	// The attach in progress holds the segment, as Linux's nattch++
	// around do_mmap: an IPC_RMID meanwhile leaves it for this attach.
	s.IncRef()
	r.mu.Unlock()
	file := &MmapFile{Mappable: s.file, Identity: s, Readable: true, Writable: flags&shmRdonly == 0}
	var at arch.Addr
	err := t.memoryCall(func() (err error) {
		at, err = t.cfg.Calls.MMap(addr, s.size, prot, mflags, file, 0)
		return err
	})
	if err == nil {
		r.mu.Lock()
		s.atime, s.lpid = t.cfg.Now().Unix(), int32(t.cfg.PID)
		r.mu.Unlock()
	}
	s.DecRef()
	if toErrno(err) == unix.EEXIST {
		return errno(unix.EINVAL) // something is mapped at addr
	}
	return addrResult(at, err)
}

// sysShmdt serves shmdt(addr) through mm's ShmDetach, which recognizes
// the segments' vmas; the detach is recorded on the segment it unmapped.
func sysShmdt(t *Task, a *[6]uint64) uint64 {
	var detached *shmSegment
	err := t.memoryCall(func() error {
		return t.cfg.Calls.ShmDetach(a[0], func(id memmap.MappingIdentity) (uint64, bool) {
			s, ok := id.(*shmSegment)
			if ok && detached == nil {
				detached = s
			}
			if !ok {
				return 0, false
			}
			return s.size, true
		})
	})
	if err == nil && detached != nil {
		r := &t.tree.shm
		r.mu.Lock()
		detached.dtime, detached.lpid = t.cfg.Now().Unix(), int32(t.cfg.PID)
		r.mu.Unlock()
	}
	return result(0, err)
}

// sysShmctl serves shmctl(id, cmd, buf) as ksys_shmctl with IPC_64 (the
// only layout x86-64 has; a cmd carrying the IPC_64 bit is unknown,
// EINVAL).
func sysShmctl(t *Task, a *[6]uint64) uint64 {
	id, cmd, buf := int32(a[0]), int32(a[1]), a[2]
	if cmd < 0 || id < 0 {
		return errno(unix.EINVAL)
	}
	r := &t.tree.shm
	switch cmd {
	case ipcInfo:
		b := make([]byte, shminfoSize)
		for i, v := range []uint64{shmMax, shmMin, shmMNI, shmMNI, shmMax} {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		r.mu.Lock()
		ret := max(r.maxIdxLocked(), 0)
		r.mu.Unlock()
		return t.copyOutResult(buf, b, uint64(ret))
	case shmInfo:
		b := make([]byte, shmInfoSize)
		r.mu.Lock()
		var rss uint64
		for _, s := range r.segs {
			rss += s.file.Blocks() >> arch.PageShift
		}
		binary.LittleEndian.PutUint32(b[0:], uint32(len(r.segs)))
		binary.LittleEndian.PutUint64(b[8:], r.totPages)
		binary.LittleEndian.PutUint64(b[16:], rss)
		ret := max(r.maxIdxLocked(), 0)
		r.mu.Unlock()
		return t.copyOutResult(buf, b, uint64(ret))
	case ipcStat, shmStat, shmStatAny:
		return t.shmStat(int(id), cmd, buf)
	case ipcSet:
		in := make([]byte, shmid64Size)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(buf), in); err != nil {
			return errno(unix.EFAULT)
		}
		return t.shmChange(int(id), func(s *shmSegment) unix.Errno {
			uid, gid := binary.LittleEndian.Uint32(in[4:]), binary.LittleEndian.Uint32(in[8:])
			if uid == ^uint32(0) || gid == ^uint32(0) {
				return unix.EINVAL
			}
			s.uid, s.gid = uid, gid
			s.mode = s.mode&^0o777 | binary.LittleEndian.Uint32(in[20:])&0o777
			s.ctime = t.cfg.Now().Unix()
			return 0
		})
	case ipcRmid:
		var gone *shmSegment
		ret := t.shmChange(int(id), func(s *shmSegment) unix.Errno {
			if s.attaches.Load() == 0 {
				r.removeLocked(s)
				gone = s
			} else {
				s.mode |= shmDest
				s.key = unix.IPC_PRIVATE
			}
			return 0
		})
		if gone != nil {
			gone.file.DecRef()
		}
		return ret
	case shmLock, shmUnlock:
		return t.shmLock(int(id), cmd == shmLock)
	}
	return errno(unix.EINVAL)
}

// copyOutResult writes b at addr and returns ret, or EFAULT.
func (t *Task) copyOutResult(addr uint64, b []byte, ret uint64) uint64 {
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), b); err != nil {
		return errno(unix.EFAULT)
	}
	return ret
}

// shmStat serves IPC_STAT (by id), SHM_STAT and SHM_STAT_ANY (by index,
// returning the id): EINVAL for no segment, EACCES without read access
// (but for SHM_STAT_ANY), then the shmid64_ds.
func (t *Task) shmStat(id int, cmd int32, buf uint64) uint64 {
	r := &t.tree.shm
	r.mu.Lock()
	var s *shmSegment
	e := unix.Errno(0)
	if cmd == ipcStat {
		s, e = r.lookupLocked(id)
	} else if s = r.segs[id%ipcMNI]; s == nil {
		e = unix.EINVAL
	}
	if e == 0 && cmd != shmStatAny && !t.ipcPermitted(s, 0o444) {
		e = unix.EACCES
	}
	if e != 0 {
		r.mu.Unlock()
		return errno(e)
	}
	b := make([]byte, shmid64Size)
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(s.key))
	le.PutUint32(b[4:], s.uid)
	le.PutUint32(b[8:], s.gid)
	le.PutUint32(b[12:], s.cuid)
	le.PutUint32(b[16:], s.cgid)
	le.PutUint32(b[20:], s.mode)
	le.PutUint16(b[24:], uint16(s.seq))
	le.PutUint64(b[48:], s.size)
	le.PutUint64(b[56:], uint64(s.atime))
	le.PutUint64(b[64:], uint64(s.dtime))
	le.PutUint64(b[72:], uint64(s.ctime))
	le.PutUint32(b[80:], uint32(s.cpid))
	le.PutUint32(b[84:], uint32(s.lpid))
	le.PutUint64(b[88:], uint64(s.attaches.Load()))
	ret := uint64(0)
	if cmd != ipcStat {
		ret = uint64(s.id)
	}
	r.mu.Unlock()
	return t.copyOutResult(buf, b, ret)
}

// shmChange serves IPC_SET and IPC_RMID as shmctl_down: the segment
// (EINVAL), then the caller must be its owner or creator or hold
// CAP_SYS_ADMIN (EPERM); change runs under the registry's lock.
func (t *Task) shmChange(id int, change func(*shmSegment) unix.Errno) uint64 {
	r := &t.tree.shm
	r.mu.Lock()
	defer r.mu.Unlock()
	s, e := r.lookupLocked(id)
	if e != 0 {
		return errno(e)
	}
	if c := &t.cred; c.euid != s.uid && c.euid != s.cuid && !c.capable(unix.CAP_SYS_ADMIN) {
		return errno(unix.EPERM)
	}
	return errno(change(s))
}

// shmLock serves SHM_LOCK and SHM_UNLOCK: the segment (EINVAL); without
// CAP_IPC_LOCK the caller must own or have made it and, to lock, have a
// RLIMIT_MEMLOCK that holds its size (EPERM for none, ENOMEM for too
// little). The pages stay where they are (there is no swap); the mode
// shows SHM_LOCKED.
func (t *Task) shmLock(id int, lock bool) uint64 {
	r := &t.tree.shm
	r.mu.Lock()
	defer r.mu.Unlock()
	s, e := r.lookupLocked(id)
	if e != 0 {
		return errno(e)
	}
	if c := &t.cred; !c.capable(unix.CAP_IPC_LOCK) {
		if c.euid != s.uid && c.euid != s.cuid {
			return errno(unix.EPERM)
		}
		if limit := t.limit(unix.RLIMIT_MEMLOCK).Cur; lock && limit == 0 {
			return errno(unix.EPERM)
		} else if lock && s.mode&shmLocked == 0 && arch.PageAlign(s.size) > limit {
			return errno(unix.ENOMEM)
		}
	}
	if lock {
		s.mode |= shmLocked
	} else {
		s.mode &^= shmLocked
	}
	return 0
}

// sysvipcShmText is /proc/sysvipc/shm, as sysvipc_shm_proc_show prints
// it: a header, then a line for each segment in index order, its
// resident bytes as rss.
func (p *Process) sysvipcShmText() []byte {
	b := []byte("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n")
	r := &p.tree.shm
	r.mu.Lock()
	defer r.mu.Unlock()
	idxs := make([]int, 0, len(r.segs))
	for i := range r.segs {
		idxs = append(idxs, i)
	}
	slices.Sort(idxs)
	for _, i := range idxs {
		s := r.segs[i]
		b = fmt.Appendf(b, "%10d %10d  %4o %21d %5d %5d  %5d %5d %5d %5d %5d %10d %10d %10d %21d %21d\n",
			s.key, s.id, s.mode, s.size, s.cpid, s.lpid, s.attaches.Load(), s.uid, s.gid, s.cuid, s.cgid,
			s.atime, s.dtime, s.ctime, s.file.Blocks(), 0)
	}
	return b
}
