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
	if addr&arch.PageMask != 0 {
		return unix.EINVAL
	}
	end := arch.Addr(addr + arch.PageAlign(length))
	if end < arch.Addr(addr) {
		return unix.EINVAL
	}
	if end == arch.Addr(addr) {
		return nil
	}
	pol, err := newMempolicy(lmode, modeFlags, nodes)
	if err != nil {
		return err
	}
	ar := arch.AddrRange{Start: arch.Addr(addr), End: end}
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

// GetMempolicy implements get_mempolicy(2) for the vma at addr (with
// MPOL_F_ADDR) or for the task (whose policy mm does not own: it is
// always MPOL_DEFAULT here). wantMask says the caller passed a node mask
// of maxnode bits; the mask is returned as words.
func (mm *MemoryManager) GetMempolicy(addr, flags, maxnode uint64, wantMask bool) (int32, []uint64, error) {
	if wantMask && maxnode < nrNodes {
		return 0, nil, unix.EINVAL
	}
	if flags&^(unix.MPOL_F_NODE|unix.MPOL_F_ADDR|unix.MPOL_F_MEMS_ALLOWED) != 0 {
		return 0, nil, unix.EINVAL
	}
	mask := func(m uint64) []uint64 {
		if !wantMask {
			return nil
		}
		words := make([]uint64, (maxnode+63)/64)
		words[0] = m
		return words
	}
	if flags&unix.MPOL_F_MEMS_ALLOWED != 0 {
		if flags&(unix.MPOL_F_NODE|unix.MPOL_F_ADDR) != 0 {
			return 0, nil, unix.EINVAL
		}
		return 0, mask(1), nil
	}
	var pol mempolicy
	if flags&unix.MPOL_F_ADDR != 0 {
		mm.mappingMu.RLock()
		vseg := mm.vmas.FindSegment(arch.Addr(addr))
		if vseg.Ok() {
			pol = vseg.ValuePtr().policy
		}
		mm.mappingMu.RUnlock()
		if !vseg.Ok() {
			return 0, nil, unix.EFAULT
		}
	} else if addr != 0 {
		return 0, nil, unix.EINVAL
	}
	mode := pol.mode | pol.flags
	if flags&unix.MPOL_F_NODE != 0 {
		if flags&unix.MPOL_F_ADDR == 0 {
			return 0, nil, unix.EINVAL
		}
		mode = 0 // the page at addr is on node 0
	}
	return mode, mask(pol.nodemask), nil
}
