package syscalls

import (
	"encoding/binary"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// PROCMAP_QUERY (Linux 6.11+): an ioctl of /proc/pid/maps that describes
// the vma at or after an address in a struct procmap_query.
const (
	procmapQuery = 0xc0686611 // _IOWR('f', 17, struct procmap_query)
	// procmapQuerySize is sizeof(struct procmap_query); procmapQueryMin
	// the least a caller may pass (up to query_addr).
	procmapQuerySize = 104
	procmapQueryMin  = 24

	procmapReadable       = 0x01
	procmapWritable       = 0x02
	procmapExecutable     = 0x04
	procmapShared         = 0x08
	procmapCoveringOrNext = 0x10
	procmapFileBacked     = 0x20
	procmapValidFlags     = 0x3f
)

// procmapQuery serves PROCMAP_QUERY as do_procmap_query: the argument's
// size, flags and buffers are checked, the first vma ending after
// query_addr that the flags accept is found (one covering query_addr
// unless PROCMAP_QUERY_COVERING_OR_NEXT_VMA), and its bounds, permissions,
// page size, file offset, device, inode and name go back; no vma is
// ENOENT, a name longer than the buffer ENAMETOOLONG. mmvm reads no build
// ID: build_id_size comes back 0.
func (t *Task) procmapQuery(req uint64, arg arch.Addr) uint64 {
	if req != procmapQuery {
		return errno(unix.ENOTTY)
	}
	le := binary.LittleEndian
	var sz [8]byte
	if _, err := t.cfg.Memory.CopyIn(arg, sz[:]); err != nil {
		return errno(unix.EFAULT)
	}
	usize := le.Uint64(sz[:])
	if usize > arch.PageSize {
		return errno(unix.E2BIG)
	}
	if usize < procmapQueryMin {
		return errno(unix.EINVAL)
	}
	buf := make([]byte, max(usize, procmapQuerySize))
	if n, err := t.cfg.Memory.CopyIn(arg, buf[:usize]); err != nil || uint64(n) != usize {
		return errno(unix.EFAULT)
	}
	for _, c := range buf[procmapQuerySize:usize] { // copy_struct_from_user
		if c != 0 {
			return errno(unix.E2BIG)
		}
	}
	q := buf[:procmapQuerySize]
	flags, addr := le.Uint64(q[8:]), le.Uint64(q[16:])
	nameSize, buildIDSize := le.Uint32(q[80:]), le.Uint32(q[84:])
	nameAddr, buildIDAddr := le.Uint64(q[88:]), le.Uint64(q[96:])
	if flags&^procmapValidFlags != 0 || (nameSize != 0) != (nameAddr != 0) || (buildIDSize != 0) != (buildIDAddr != 0) {
		return errno(unix.EINVAL)
	}
	var found *ProcVMA
	vmas := t.view().VMAList()
	for i := range vmas {
		v := &vmas[i]
		if uint64(v.End) <= addr {
			continue
		}
		if flags&procmapFileBacked != 0 && !v.File || flags&procmapReadable != 0 && !v.Read ||
			flags&procmapWritable != 0 && !v.Write || flags&procmapExecutable != 0 && !v.Exec ||
			flags&procmapShared != 0 && !v.MayShare {
			continue
		}
		if flags&procmapCoveringOrNext != 0 || uint64(v.Start) <= addr {
			found = v
		}
		break
	}
	if found == nil {
		return errno(unix.ENOENT)
	}
	le.PutUint64(q[24:], uint64(found.Start))
	le.PutUint64(q[32:], uint64(found.End))
	var vf uint64
	for _, b := range []struct {
		set  bool
		flag uint64
	}{{found.Read, procmapReadable}, {found.Write, procmapWritable}, {found.Exec, procmapExecutable}, {found.MayShare, procmapShared}} {
		if b.set {
			vf |= b.flag
		}
	}
	le.PutUint64(q[40:], vf)
	le.PutUint64(q[48:], arch.PageSize)
	var off, ino uint64
	var major, minor uint32
	if found.File {
		off, ino, major, minor = found.Offset, found.Inode, uint32(found.Dev>>8), uint32(found.Dev&0xff)
	}
	le.PutUint64(q[56:], off)
	le.PutUint64(q[64:], ino)
	le.PutUint32(q[72:], major)
	le.PutUint32(q[76:], minor)
	le.PutUint32(q[84:], 0) // build_id_size
	var name []byte
	if nameSize != 0 {
		if found.Name != "" {
			name = append([]byte(found.Name), 0)
			if len(name) > int(min(nameSize, pathMax)) {
				return errno(unix.ENAMETOOLONG)
			}
		}
		le.PutUint32(q[80:], uint32(len(name)))
	}
	if len(name) != 0 {
		if n, err := t.cfg.Memory.CopyOut(arch.Addr(nameAddr), name); err != nil || n != len(name) {
			return errno(unix.EFAULT)
		}
	}
	return t.copyOutAll(arg, q[:min(usize, procmapQuerySize)])
}
