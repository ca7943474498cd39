package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The NUMA memory-policy calls, on a machine with one node (0), as Linux
// answers them there: mm keeps the vmas' policies (mbind) and knows where
// pages are; a thread's own policy (set_mempolicy) lives in its Task.

// maxNodeBits bounds a node mask the calls read or write: a page of bits
// (get_nodes, copy_nodes_to_user).
const maxNodeBits = arch.PageSize * 8

// mempolicyMoveAll is move_pages' MPOL_MF_MOVE_ALL, which needs
// CAP_SYS_NICE.
const mempolicyMoveAll = unix.MPOL_MF_MOVE_ALL

// copyInNodeMask reads the node mask of maxnode-1 bits at addr as Linux's
// get_nodes does: none for maxnode 0 or 1 or a NULL mask, EINVAL for more
// than a page of bits, EFAULT where it cannot be read. The words go to mm
// (ReadNodeMask and the calls that take a mask) with maxnode.
func (t *Task) copyInNodeMask(addr, maxnode uint64) ([]uint64, unix.Errno) {
	if maxnode <= 1 || addr == 0 {
		return nil, 0
	}
	bits := maxnode - 1
	if bits > maxNodeBits {
		return nil, unix.EINVAL
	}
	b := make([]byte, (bits+63)/64*8)
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b); err != nil {
		return nil, unix.EFAULT
	}
	words := make([]uint64, len(b)/8)
	for i := range words {
		words[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return words, 0
}

// copyOutNodeMask writes mask as a node mask of maxnode-1 bits at addr, as
// copy_nodes_to_user does: the bits rounded up to whole words, EINVAL for
// more than a page of them; the words past the first (the only node's)
// are zeroed.
func (t *Task) copyOutNodeMask(addr, maxnode, mask uint64) unix.Errno {
	n := (maxnode - 1 + 63) / 64 * 8
	if n > arch.PageSize {
		return unix.EINVAL
	}
	b := make([]byte, n)
	if n > 0 {
		binary.LittleEndian.PutUint64(b, mask)
	}
	if _, err := t.cfg.Memory.CopyOut(arch.Addr(addr), b); err != nil {
		return unix.EFAULT
	}
	return 0
}

// sysMbind serves mbind(addr, len, mode, nodemask, maxnode, flags): mm
// sets the range's policy, splitting and merging vmas by it.
func sysMbind(t *Task, a *[6]uint64) uint64 {
	words, e := t.copyInNodeMask(a[3], a[4])
	if e != 0 {
		return errno(e)
	}
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.MBind(a[0], a[1], a[2], words, a[4], a[5]) }))
}

// sysGetMempolicy serves get_mempolicy(mode, nodemask, maxnode, addr,
// flags): the vma's policy at addr (MPOL_F_ADDR), the thread's own, the
// allowed nodes (MPOL_F_MEMS_ALLOWED) or a node (MPOL_F_NODE), then the
// mode written (EFAULT) and the mask (copyOutNodeMask).
func sysGetMempolicy(t *Task, a *[6]uint64) uint64 {
	modeAddr, maskAddr, maxnode, addr, flags := a[0], a[1], a[2], a[3], a[4]
	var mode int32
	var mask uint64
	err := t.memoryCall(func() (err error) {
		mode, mask, err = t.cfg.Calls.GetMempolicy(addr, flags, maxnode, maskAddr != 0, t.mempolicy.mode, t.mempolicy.mask)
		return err
	})
	if err != nil {
		return result(0, err)
	}
	if modeAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(mode))
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(modeAddr), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
	}
	if maskAddr != 0 {
		return errno(t.copyOutNodeMask(maskAddr, maxnode, mask))
	}
	return 0
}

// sysSetMempolicy serves set_mempolicy(mode, nodemask, maxnode): the
// calling thread's policy, which its clones and forks inherit and exec
// keeps.
func sysSetMempolicy(t *Task, a *[6]uint64) uint64 {
	words, e := t.copyInNodeMask(a[1], a[2])
	if e != 0 {
		return errno(e)
	}
	mode, mask, err := t.cfg.Calls.NewTaskMempolicy(a[0], words, a[2])
	if err != nil {
		return result(0, err)
	}
	t.mempolicy = taskMempolicy{mode: mode, mask: mask}
	return 0
}

// sysSetMempolicyHomeNode serves set_mempolicy_home_node(addr, len,
// node, flags) through mm.
func sysSetMempolicyHomeNode(t *Task, a *[6]uint64) uint64 {
	return result(0, t.memoryCall(func() error { return t.cfg.Calls.SetHomeNode(a[0], a[1], a[2], a[3]) }))
}

// mempolicyTarget finds the process pid names for migrate_pages and
// move_pages (0: the caller's): ESRCH for none or one that has ended,
// EPERM for one the caller may not read (ptrace_may_access).
func (t *Task) mempolicyTarget(pid uint64) (*Task, unix.Errno) {
	if pid == 0 || int(int32(pid)) == t.cfg.PID {
		return t, 0
	}
	if int32(pid) < 0 {
		return nil, unix.ESRCH
	}
	target := t.tree.task(int(int32(pid)))
	if target == nil || target.ended.Load() {
		return nil, unix.ESRCH
	}
	if !t.mayAccess(target) {
		return nil, unix.EPERM
	}
	return target, 0
}

// sysMigratePages serves migrate_pages(pid, maxnode, old, new): with one
// node nothing moves, so it answers 0 once the masks read and the target
// is found, as Linux does for node 0 to node 0; new nodes beyond node 0
// need CAP_SYS_NICE (EPERM), and none of node 0 among them is EINVAL.
func sysMigratePages(t *Task, a *[6]uint64) uint64 {
	pid, maxnode := a[0], a[1]
	oldWords, e := t.copyInNodeMask(a[2], maxnode)
	if e != 0 {
		return errno(e)
	}
	newWords, e := t.copyInNodeMask(a[3], maxnode)
	if e != 0 {
		return errno(e)
	}
	if _, err := t.cfg.Calls.ReadNodeMask(oldWords, maxnode); err != nil {
		return result(0, err)
	}
	nodes, err := t.cfg.Calls.ReadNodeMask(newWords, maxnode)
	if err != nil {
		return result(0, err)
	}
	if _, e := t.mempolicyTarget(pid); e != 0 {
		return errno(e)
	}
	if nodes&^1 != 0 && !t.cred.capable(unix.CAP_SYS_NICE) {
		return errno(unix.EPERM)
	}
	if nodes&1 == 0 {
		return errno(unix.EINVAL)
	}
	return 0
}

// movePagesChunk is how many pages move_pages takes in at a time, as
// Linux's do_pages_stat does.
const movePagesChunk = 16

// sysMovePages serves move_pages(pid, count, pages, nodes, status, flags):
// flags EINVAL, MPOL_MF_MOVE_ALL without CAP_SYS_NICE EPERM, the target
// (ESRCH, EPERM); then each page's status, its node or -ENOENT or
// -EFAULT (mm's PageNodes), in chunks. With nodes, each page's target
// node is read first: node 0 leaves the page where it is (the status as
// without nodes), another is ENODEV for the call, one past MAX_NUMNODES
// EINVAL.
func sysMovePages(t *Task, a *[6]uint64) uint64 {
	pid, count, pagesAddr, nodesAddr, statusAddr, flags := a[0], a[1], a[2], a[3], a[4], a[5]
	if flags&^(unix.MPOL_MF_MOVE|mempolicyMoveAll) != 0 {
		return errno(unix.EINVAL)
	}
	if flags&mempolicyMoveAll != 0 && !t.cred.capable(unix.CAP_SYS_NICE) {
		return errno(unix.EPERM)
	}
	target, e := t.mempolicyTarget(pid)
	if e != 0 {
		return errno(e)
	}
	calls := target.cfg.Calls
	addrs := make([]uint64, movePagesChunk)
	status := make([]int32, movePagesChunk)
	buf := make([]byte, 8*movePagesChunk)
	for done := uint64(0); done < count; {
		if t.interrupted() {
			return errno(unix.EINTR)
		}
		n := min(count-done, movePagesChunk)
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(pagesAddr+8*done), buf[:8*n]); err != nil {
			return errno(unix.EFAULT)
		}
		for i := range n {
			addrs[i] = binary.LittleEndian.Uint64(buf[8*i:])
		}
		if nodesAddr != 0 {
			if _, err := t.cfg.Memory.CopyIn(arch.Addr(nodesAddr+4*done), buf[:4*n]); err != nil {
				return errno(unix.EFAULT)
			}
			for i := range n {
				switch node := int32(binary.LittleEndian.Uint32(buf[4*i:])); {
				case node < 0 || node >= maxNumNodes:
					return errno(unix.EINVAL)
				case node != 0:
					return errno(unix.ENODEV) // no memory on that node
				}
			}
		}
		t.withoutLock(func() { calls.PageNodes(addrs[:n], status[:n]) })
		for i := range n {
			binary.LittleEndian.PutUint32(buf[4*i:], uint32(status[i]))
		}
		if _, err := t.cfg.Memory.CopyOut(arch.Addr(statusAddr+4*done), buf[:4*n]); err != nil {
			return errno(unix.EFAULT)
		}
		done += n
	}
	return 0
}

// maxNumNodes is MAX_NUMNODES of a distribution kernel (NODES_SHIFT 10).
const maxNumNodes = 1 << 10

// taskMempolicy is a thread's own NUMA policy as get_mempolicy reports
// it: its mode with the mode flags, and its node mask; the zero value is
// MPOL_DEFAULT.
type taskMempolicy struct {
	mode int32
	mask uint64
}
