package mm

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"golang.org/x/sys/unix"
)

// MSync implements msync(2): MS_SYNC writes shared file mappings back
// through their identity; MS_INVALIDATE fails with EBUSY on locked vmas;
// unmapped parts give ENOMEM (at once for plain MS_ASYNC).
func (mm *MemoryManager) MSync(addr, length, flags uint64) error {
	f := uint32(flags) // an int in Linux's prototype
	switch {
	case f&^(unix.MS_ASYNC|unix.MS_INVALIDATE|unix.MS_SYNC) != 0:
		return unix.EINVAL
	case addr&arch.PageMask != 0:
		return unix.EINVAL
	case f&unix.MS_ASYNC != 0 && f&unix.MS_SYNC != 0:
		return unix.EINVAL
	}
	alen := (length + arch.PageMask) &^ arch.PageMask
	start := arch.Addr(addr)
	end := start + arch.Addr(alen)
	if end < start {
		return unix.ENOMEM
	}
	if end == start {
		return nil
	}
	var unmapped error
	mm.mappingMu.RLock()
	for {
		vseg := mm.vmas.LowerBoundSegment(start)
		if !vseg.Ok() {
			mm.mappingMu.RUnlock()
			return unix.ENOMEM
		}
		if start < vseg.Start() {
			if f == unix.MS_ASYNC {
				mm.mappingMu.RUnlock()
				return unix.ENOMEM
			}
			start = vseg.Start()
			if start >= end {
				mm.mappingMu.RUnlock()
				return unix.ENOMEM
			}
			unmapped = unix.ENOMEM
		}
		v := vseg.ValuePtr()
		if f&unix.MS_INVALIDATE != 0 && v.mlockMode != memmap.MLockNone {
			mm.mappingMu.RUnlock()
			return unix.EBUSY
		}
		r := arch.AddrRange{Start: start, End: min(end, vseg.End())}
		start = vseg.End()
		if f&unix.MS_SYNC != 0 && v.id != nil && !v.private {
			// Msync may take locks that precede mappingMu.
			id, mr := v.id, mappableRangeOf(vseg, r)
			id.IncRef()
			mm.mappingMu.RUnlock()
			err := id.Msync(mr)
			id.DecRef()
			if err != nil {
				return err
			}
			if start >= end {
				return unmapped
			}
			mm.mappingMu.RLock()
			continue
		}
		if start >= end {
			mm.mappingMu.RUnlock()
			return unmapped
		}
	}
}

// MinCore implements mincore(2): vec receives one byte per page, 1 if the
// page is resident. vec must hold a byte for every page of the range
// (EFAULT otherwise, as for an unwritable vector).
func (mm *MemoryManager) MinCore(addr, length uint64, vec []byte) error {
	if addr&arch.PageMask != 0 {
		return unix.EINVAL
	}
	top := uint64(mm.layout.TopOfUser)
	if length > top || addr > top-length {
		return unix.ENOMEM
	}
	pages := length >> arch.PageShift
	if length&arch.PageMask != 0 {
		pages++
	}
	if uint64(len(vec)) < pages {
		return unix.EFAULT
	}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	ar := arch.AddrRange{Start: arch.Addr(addr), End: arch.Addr(addr + pages<<arch.PageShift)}
	clear(vec[:pages])
	pos := ar.Start
	for vseg := range mm.vmas.Segments(ar) {
		if vseg.Start() > pos {
			return unix.ENOMEM
		}
		vr := vseg.Range().Intersect(ar)
		mm.minCoreVMALocked(vseg, vr, vec[(vr.Start-ar.Start)>>arch.PageShift:])
		pos = vr.End
	}
	if pos < ar.End {
		return unix.ENOMEM
	}
	return nil
}

// minCoreVMALocked sets vec[i] to 1 for each resident page i of vr, a
// range within vseg: one with a pma (not a guard), or a page a shared
// anonymous object holds. It walks the pmas rather than the pages, so a
// huge range with few pmas costs little.
//
// Preconditions: mm.mappingMu and mm.activeMu are locked; vec is zero.
func (mm *MemoryManager) minCoreVMALocked(vseg vmaSeg, vr arch.AddrRange, vec []byte) {
	for pseg := range mm.pmas.Segments(vr) {
		if pseg.ValuePtr().guard {
			continue
		}
		pr := pseg.Range().Intersect(vr)
		for i := (pr.Start - vr.Start) >> arch.PageShift; i < (pr.End-vr.Start)>>arch.PageShift; i++ {
			vec[i] = 1
		}
	}
	sa, ok := vseg.ValuePtr().mappable.(*sharedAnon)
	if !ok {
		return
	}
	for i, a := 0, vr.Start; a < vr.End; i, a = i+1, a+arch.PageSize {
		if vec[i] == 0 && sa.resident(mappableRangeOf(vseg, arch.AddrRange{Start: a, End: a + arch.PageSize}).Start) {
			vec[i] = 1
		}
	}
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
	end := arch.Addr(addr + (length+arch.PageMask)&^arch.PageMask)
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
