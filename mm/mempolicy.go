package mm

import (
	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// mempolicy is a vma's NUMA policy (mbind). mm models a single node 0.
type mempolicy struct {
	mode     int32 // MPOL_*; MPOL_DEFAULT for none
	flags    int32 // MPOL_F_STATIC_NODES etc.
	nodemask uint64
	// homeNode is set_mempolicy_home_node's node plus one; 0 for none
	// (NUMA_NO_NODE).
	homeNode int32
}

// nrNodes is the number of NUMA nodes mm models (nr_node_ids).
const nrNodes = 1

// maxNumNodes is MAX_NUMNODES of a distribution kernel (NODES_SHIFT 10).
const maxNumNodes = 1 << 10

// MBind implements mbind(2) on a machine with one NUMA node. nodemask
// holds the words of the user's node mask (the syscall layer copies them
// in); maxnode is mbind's maxnode. Policies only affect which vmas merge.
func (mm *MemoryManager) MBind(addr, length, mode uint64, nodemask []uint64, maxnode, flags uint64) error {
	lmode := int32(mode)
	modeFlags := lmode & mpolModeFlags
	lmode &^= mpolModeFlags
	if uint32(lmode) >= mpolMax {
		return unix.EINVAL
	}
	if modeFlags&unix.MPOL_F_STATIC_NODES != 0 && modeFlags&unix.MPOL_F_RELATIVE_NODES != 0 {
		return unix.EINVAL
	}
	if modeFlags&unix.MPOL_F_NUMA_BALANCING != 0 && lmode != unix.MPOL_BIND && lmode != unix.MPOL_PREFERRED_MANY {
		return unix.EINVAL
	}
	nodes, err := readNodes(nodemask, maxnode)
	if err != nil {
		return err
	}
	if uint32(flags)&^mpolMFValid != 0 {
		return unix.EINVAL
	}
	if uint32(flags)&unix.MPOL_MF_MOVE_ALL != 0 {
		return unix.EPERM // needs CAP_SYS_NICE
	}
	ar, err := policyRange(addr, length)
	if err != nil || ar.Empty() {
		return err
	}
	pol, err := newMempolicy(lmode, modeFlags, nodes)
	if err != nil {
		return err
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if mm.vmas.SpanRange(ar) != ar.Length() {
		return unix.EFAULT // a hole in the range
	}
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	for pos := ar.Start; pos < ar.End; {
		vseg := mm.vmas.FindSegment(pos)
		next := min(ar.End, vseg.End())
		if vseg.ValuePtr().policy != pol {
			vseg, err = mm.isolateVMALocked(arch.AddrRange{Start: pos, End: next})
			if err != nil {
				return err
			}
			vseg.ValuePtr().policy = pol
		}
		pos = next
	}
	return nil
}

// policyRange is the range mbind and set_mempolicy_home_node act on:
// addr must be page-aligned and the range, length rounded up to pages,
// must not wrap (EINVAL); it may be empty, which they take as done.
func policyRange(addr, length uint64) (arch.AddrRange, error) {
	end := arch.Addr(addr + arch.PageAlign(length))
	if addr&arch.PageMask != 0 || end < arch.Addr(addr) {
		return arch.AddrRange{}, unix.EINVAL
	}
	return arch.AddrRange{Start: arch.Addr(addr), End: end}, nil
}

// readNodes reads maxnode-1 bits of nodemask (get_nodes).
func readNodes(nodemask []uint64, maxnode uint64) (uint64, error) {
	if maxnode == 0 {
		return 0, nil
	}
	bits := maxnode - 1
	if bits == 0 || nodemask == nil {
		return 0, nil
	}
	if bits > arch.PageSize*8 {
		return 0, unix.EINVAL
	}
	var nodes uint64
	for i := uint64(0); i < bits; i++ {
		w := i / 64
		if w >= uint64(len(nodemask)) {
			return 0, unix.EFAULT
		}
		if nodemask[w]>>(i%64)&1 == 0 {
			continue
		}
		if i >= maxNumNodes {
			return 0, unix.EINVAL
		}
		if i < 64 {
			nodes |= 1 << i
		} else {
			nodes |= 1 << 63 // a node that does not exist
		}
	}
	return nodes, nil
}

// newMempolicy builds a policy as mpol_new and mpol_set_nodemask do, on a
// machine whose only node is 0.
func newMempolicy(mode, flags int32, nodes uint64) (mempolicy, error) {
	static := flags&unix.MPOL_F_STATIC_NODES != 0
	relative := flags&unix.MPOL_F_RELATIVE_NODES != 0
	switch mode {
	case unix.MPOL_DEFAULT:
		if nodes != 0 {
			return mempolicy{}, unix.EINVAL
		}
		return mempolicy{}, nil
	case unix.MPOL_PREFERRED:
		if nodes == 0 {
			if static || relative {
				return mempolicy{}, unix.EINVAL
			}
			return mempolicy{mode: unix.MPOL_LOCAL}, nil
		}
	case unix.MPOL_LOCAL:
		if nodes != 0 || static || relative {
			return mempolicy{}, unix.EINVAL
		}
		return mempolicy{mode: unix.MPOL_LOCAL}, nil
	default:
		if nodes == 0 {
			return mempolicy{}, unix.EINVAL
		}
	}
	effective := nodes & 1
	if relative {
		effective = 1 // relative node numbers fold onto the allowed nodes
	}
	if effective == 0 {
		return mempolicy{}, unix.EINVAL
	}
	pol := mempolicy{mode: mode, flags: flags, nodemask: effective}
	if static || relative {
		pol.nodemask = nodes
	}
	return pol, nil
}

// TaskMempolicy is a thread's own NUMA policy (set_mempolicy), which the
// thread keeps, not its mm: what get_mempolicy reports of it, its mode
// with the mode flags and its node mask. The zero value is MPOL_DEFAULT.
type TaskMempolicy struct {
	Mode int32
	Mask uint64
}

// NewTaskMempolicy checks a policy as set_mempolicy does
// (sanitize_mpol_flags, get_nodes, mpol_new) on a machine with one node;
// nodemask and maxnode are as for MBind.
func NewTaskMempolicy(mode uint64, nodemask []uint64, maxnode uint64) (TaskMempolicy, error) {
	lmode := int32(mode)
	modeFlags := lmode & mpolModeFlags
	lmode &^= mpolModeFlags
	if uint32(lmode) >= mpolMax {
		return TaskMempolicy{}, unix.EINVAL
	}
	if modeFlags&unix.MPOL_F_STATIC_NODES != 0 && modeFlags&unix.MPOL_F_RELATIVE_NODES != 0 {
		return TaskMempolicy{}, unix.EINVAL
	}
	if modeFlags&unix.MPOL_F_NUMA_BALANCING != 0 && lmode != unix.MPOL_BIND && lmode != unix.MPOL_PREFERRED_MANY {
		return TaskMempolicy{}, unix.EINVAL
	}
	nodes, err := readNodes(nodemask, maxnode)
	if err != nil {
		return TaskMempolicy{}, err
	}
	pol, err := newMempolicy(lmode, modeFlags, nodes)
	if err != nil {
		return TaskMempolicy{}, err
	}
	return TaskMempolicy{Mode: pol.mode | pol.flags, Mask: pol.nodemask}, nil
}

// ReadNodeMask reads a node mask of maxnode-1 bits as the calls that take
// one do (get_nodes): EINVAL for more bits than a page holds or a node
// past MAX_NUMNODES, EFAULT where nodemask holds too few words. Nodes past
// 63 show as bit 63, a node that does not exist.
func ReadNodeMask(nodemask []uint64, maxnode uint64) (uint64, error) {
	return readNodes(nodemask, maxnode)
}

// GetMempolicy implements get_mempolicy(2) for the vma at addr (with
// MPOL_F_ADDR) or for the calling thread, whose policy is task: it
// returns the mode (or with MPOL_F_NODE a node) and the node mask, which
// the caller copies out as copy_nodes_to_user does. wantMask says the
// caller passed a node mask of maxnode bits.
func (mm *MemoryManager) GetMempolicy(addr, flags, maxnode uint64, wantMask bool, task TaskMempolicy) (int32, uint64, error) {
	if wantMask && maxnode < nrNodes {
		return 0, 0, unix.EINVAL
	}
	if flags&^(unix.MPOL_F_NODE|unix.MPOL_F_ADDR|unix.MPOL_F_MEMS_ALLOWED) != 0 {
		return 0, 0, unix.EINVAL
	}
	if flags&unix.MPOL_F_MEMS_ALLOWED != 0 {
		if flags&(unix.MPOL_F_NODE|unix.MPOL_F_ADDR) != 0 {
			return 0, 0, unix.EINVAL
		}
		return 0, 1, nil // the cpuset's nodes: node 0
	}
	if flags&unix.MPOL_F_ADDR == 0 {
		if addr != 0 {
			return 0, 0, unix.EINVAL
		}
		if flags&unix.MPOL_F_NODE != 0 {
			// The next node an interleaving thread policy allocates
			// on; no other policy has one.
			switch task.Mode &^ mpolModeFlags {
			case unix.MPOL_INTERLEAVE, unix.MPOL_WEIGHTED_INTERLEAVE:
				return 0, task.Mask, nil
			}
			return 0, 0, unix.EINVAL
		}
		return task.Mode, task.Mask, nil
	}
	mm.mappingMu.RLock()
	vseg := mm.vmas.FindSegment(arch.Addr(addr))
	var pol mempolicy
	if vseg.Ok() {
		pol = vseg.ValuePtr().policy
	}
	mm.mappingMu.RUnlock()
	if !vseg.Ok() {
		return 0, 0, unix.EFAULT
	}
	if flags&unix.MPOL_F_NODE != 0 {
		return 0, pol.nodemask, nil // the page at addr is on node 0
	}
	return pol.mode | pol.flags, pol.nodemask, nil
}

// SetHomeNode implements set_mempolicy_home_node(2): each vma in [addr,
// addr+length) that has an MPOL_BIND or MPOL_PREFERRED_MANY policy gets
// node as its home node, split off at the range's ends; a vma of another
// policy stops it (EOPNOTSUPP), one of the default policy is passed over,
// and ENOENT says no vma had a policy.
func (mm *MemoryManager) SetHomeNode(addr, length, node, flags uint64) error {
	if flags != 0 || node >= maxNumNodes || node >= nrNodes {
		return unix.EINVAL
	}
	ar, err := policyRange(addr, length)
	if err != nil || ar.Empty() {
		return err
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	defer mm.vmas.MergeRange(ar)
	defer mm.vmas.MergeAdjacent(ar)
	err = unix.ENOENT
	for vseg := mm.vmas.LowerBoundSegment(ar.Start); vseg.Ok() && vseg.Start() < ar.End; vseg = vseg.NextSegment() {
		pol := vseg.ValuePtr().policy
		switch pol.mode {
		case unix.MPOL_DEFAULT:
			continue
		case unix.MPOL_BIND, unix.MPOL_PREFERRED_MANY:
		default:
			return unix.EOPNOTSUPP
		}
		pol.homeNode = int32(node) + 1
		if vseg, err = mm.isolateVMALocked(vseg.Range().Intersect(ar)); err != nil {
			return err
		}
		vseg.ValuePtr().policy = pol
	}
	return err
}

// PageNodes answers move_pages(2)'s query for each address in addrs, into
// status: the node of the page mapped there (0, the only one), -ENOENT
// where its vma has no page mapped there, -EFAULT where no vma is.
func (mm *MemoryManager) PageNodes(addrs []uint64, status []int32) {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	for i, a := range addrs {
		at := arch.Addr(a).RoundDown()
		switch {
		case !mm.vmas.FindSegment(at).Ok():
			status[i] = -int32(unix.EFAULT)
		case !mm.mappedPageLocked(at):
			status[i] = -int32(unix.ENOENT)
		default:
			status[i] = 0
		}
	}
}

// mappedPageLocked says a pma (not a guard, nor memory the program has
// not touched) maps the page at addr.
//
// Preconditions: mm.mappingMu and mm.activeMu are locked.
func (mm *MemoryManager) mappedPageLocked(addr arch.Addr) bool {
	mm.settleLocked(arch.AddrRange{Start: addr, End: addr + arch.PageSize})
	pseg := mm.pmas.FindSegment(addr)
	return pseg.Ok() && !pseg.ValuePtr().guard && !pseg.ValuePtr().untouched
}
