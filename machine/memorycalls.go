package machine

import (
	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/syscalls"
)

// memoryCalls serves a process's memory system calls from its mm, which
// has all of syscalls.MemoryCalls but MMap: a file-backed mmap maps the
// Mappable syscalls found behind the fd (nil where there is none: mm
// answers EBADF). It is also the process's memory as user accesses see
// it. Each call goes to the process's mm of the moment: exec replaces it.
type memoryCalls struct{ p *process }

var _ syscalls.MemoryCalls = memoryCalls{}
var _ syscalls.Memory = memoryCalls{}
var _ syscalls.ForcedMemory = memoryCalls{}

// mm reads and modifies futex words atomically (FutexMemory).
var _ syscalls.FutexMemory = memoryCalls{}

// userfaultfds are served by mm's contexts (syscalls.UserFaults).
var _ syscalls.UserFaults = memoryCalls{}

// CopyIn and CopyOut are a system call's copies: at a missing page of a
// userfaultfd's range they wait, the Process lock released, for the
// handler to fill it, and go on (waitingCopy).
func (c memoryCalls) CopyIn(addr arch.Addr, dst []byte) (int, error) {
	return c.waitingCopy(func(done int) (int, error) {
		return c.p.mm().CopyIn(addr+arch.Addr(done), dst[done:], mm.IOOpts{UserFaults: true})
	})
}

func (c memoryCalls) CopyOut(addr arch.Addr, src []byte) (int, error) {
	return c.waitingCopy(func(done int) (int, error) {
		return c.p.mm().CopyOut(addr+arch.Addr(done), src[done:], mm.IOOpts{UserFaults: true})
	})
}

// waitingCopy calls copy with the bytes done so far until it ends other
// than at a userfault, waiting for each one's handler; a wait the
// process's end cut short is EFAULT. Called with the Process lock held
// (from a system call).
func (c memoryCalls) waitingCopy(copy func(done int) (int, error)) (int, error) {
	done := 0
	for {
		n, err := copy(done)
		done += n
		w, ok := mm.UserFaultWaitOf(err)
		if !ok {
			return done, err
		}
		if !c.p.sys.WaitUserFaultCopy(w) {
			return done, unix.EFAULT
		}
	}
}

// NewUserFault makes a userfaultfd context for the process's memory of
// the moment (syscalls.UserFaults).
func (c memoryCalls) NewUserFault(userModeOnly bool, onQueue func()) syscalls.UserFaultContext {
	return userFaultContext{c.p.mm().NewUserFaultFD(userModeOnly, onQueue)}
}

// waitUserfaultEvents waits, for the memory call that queued them on m
// (its caller holds no lock), until the userfaultfd event messages are
// read, as Linux's producer of an event does. Memory calls of two threads
// at once may each wait for the other's.
func (p *process) waitUserfaultEvents(m *mm.MemoryManager) {
	ws := m.TakeEventWaits()
	if len(ws) == 0 {
		return
	}
	out := make([]syscalls.UserFaultWait, len(ws))
	for i, w := range ws {
		out[i] = w
	}
	p.sys.WaitUserfaultEvents(out)
}

// userFaultContext is mm's context as syscalls sees it: a forked child's
// context comes out of ReadMessage as one too.
type userFaultContext struct{ *mm.UserFaultFD }

func (u userFaultContext) ReadMessage() (uint8, [3]uint64, syscalls.UserFaultContext, bool) {
	ev, arg, child, ok := u.UserFaultFD.ReadMessage()
	if child == nil {
		return ev, arg, nil, ok
	}
	return ev, arg, userFaultContext{child}, ok
}

// CopyInForced and CopyOutForced access memory as /proc/self/mem does
// (syscalls.ForcedMemory).
func (c memoryCalls) CopyInForced(addr arch.Addr, dst []byte) (int, error) {
	return c.p.mm().CopyIn(addr, dst, mm.IOOpts{IgnorePermissions: true})
}

func (c memoryCalls) CopyOutForced(addr arch.Addr, src []byte) (int, error) {
	return c.p.mm().CopyOut(addr, src, mm.IOOpts{IgnorePermissions: true})
}

func (c memoryCalls) MMap(addr, length, prot, flags uint64, file *syscalls.MmapFile, off uint64) (arch.Addr, error) {
	var mf *mm.MappedFile
	if file != nil {
		mf = &mm.MappedFile{Mappable: file.Mappable, Identity: file.Identity, Readable: file.Readable, Writable: file.Writable}
	}
	m := c.p.mm()
	defer c.p.waitUserfaultEvents(m) // UNMAP, of what MAP_FIXED replaces
	return m.MMap(addr, length, prot, flags, mf, off)
}

// MMap, MUnmap, MRemap and Madvise wait for the userfaultfd events they
// queue (UNMAP, REMAP, REMOVE) to be read.
func (c memoryCalls) MUnmap(addr, length uint64) error {
	m := c.p.mm()
	defer c.p.waitUserfaultEvents(m)
	return m.MUnmap(addr, length)
}

func (c memoryCalls) MRemap(oldAddr, oldSize, newSize, flags, newAddr uint64) (arch.Addr, error) {
	m := c.p.mm()
	defer c.p.waitUserfaultEvents(m)
	return m.MRemap(oldAddr, oldSize, newSize, flags, newAddr)
}

func (c memoryCalls) MProtect(addr, length, prot uint64) error {
	return c.p.mm().MProtect(addr, length, prot)
}

func (c memoryCalls) Brk(addr uint64) (arch.Addr, error) { return c.p.mm().Brk(addr) }

func (c memoryCalls) Madvise(addr, length, advice uint64) error {
	m := c.p.mm()
	defer c.p.waitUserfaultEvents(m)
	return m.Madvise(addr, length, advice)
}

func (c memoryCalls) MLock2(addr, length, flags uint64) error {
	return c.p.mm().MLock2(addr, length, flags)
}

func (c memoryCalls) MSeal(addr, length, flags uint64) error {
	return c.p.mm().MSeal(addr, length, flags)
}

func (c memoryCalls) RemapFilePages(start, size, prot, pgoff, flags uint64) error {
	return c.p.mm().RemapFilePages(start, size, prot, pgoff, flags)
}

func (c memoryCalls) SetCapIPCLock(held bool) {
	m := c.p.mm()
	if l := m.Limits(); l.CapIPCLock != held {
		l.CapIPCLock = held
		m.SetLimits(l)
	}
}

func (c memoryCalls) SetMemoryLimit(resource int, soft uint64) {
	m := c.p.mm()
	l := m.Limits()
	switch resource {
	case unix.RLIMIT_AS:
		l.AS = soft
	case unix.RLIMIT_DATA:
		l.Data = soft
	case unix.RLIMIT_MEMLOCK:
		l.MemLock = soft
	case unix.RLIMIT_STACK:
		l.Stack = soft
	default:
		return
	}
	m.SetLimits(l)
}

func (c memoryCalls) SetMDWE(bits uint64, rest [3]uint64) error {
	return c.p.mm().SetMDWE(bits, rest)
}

func (c memoryCalls) MDWE(args [4]uint64) (uint64, error) { return c.p.mm().MDWE(args) }

func (c memoryCalls) SetTHPDisable(disable, flags uint64, rest [2]uint64) error {
	return c.p.mm().SetTHPDisable(disable, flags, rest)
}

func (c memoryCalls) THPDisable(args [4]uint64) (uint64, error) { return c.p.mm().THPDisable(args) }

func (c memoryCalls) MUnlock(addr, length uint64) error { return c.p.mm().MUnlock(addr, length) }
func (c memoryCalls) MLockAll(flags uint64) error       { return c.p.mm().MLockAll(flags) }
func (c memoryCalls) MUnlockAll() error                 { return c.p.mm().MUnlockAll() }

func (c memoryCalls) MSync(addr, length, flags uint64) error {
	return c.p.mm().MSync(addr, length, flags)
}

func (c memoryCalls) MinCore(addr, length uint64, vec []byte) error {
	return c.p.mm().MinCore(addr, length, vec)
}

func (c memoryCalls) LoadFutexWord(addr arch.Addr) (uint32, error) {
	return c.p.mm().LoadFutexWord(addr)
}

func (c memoryCalls) ModifyFutexWord(addr arch.Addr, op func(old uint32) uint32) (uint32, error) {
	return c.p.mm().ModifyFutexWord(addr, op)
}

func (c memoryCalls) MBind(addr, length, mode uint64, nodemask []uint64, maxnode, flags uint64) error {
	return c.p.mm().MBind(addr, length, mode, nodemask, maxnode, flags)
}

func (c memoryCalls) GetMempolicy(addr, flags, maxnode uint64, wantMask bool, taskMode int32, taskMask uint64) (int32, uint64, error) {
	return c.p.mm().GetMempolicy(addr, flags, maxnode, wantMask, mm.TaskMempolicy{Mode: taskMode, Mask: taskMask})
}

func (c memoryCalls) SetHomeNode(addr, length, node, flags uint64) error {
	return c.p.mm().SetHomeNode(addr, length, node, flags)
}

func (c memoryCalls) PageNodes(addrs []uint64, status []int32) { c.p.mm().PageNodes(addrs, status) }

func (c memoryCalls) NewTaskMempolicy(mode uint64, nodemask []uint64, maxnode uint64) (int32, uint64, error) {
	pol, err := mm.NewTaskMempolicy(mode, nodemask, maxnode)
	return pol.Mode, pol.Mask, err
}

func (c memoryCalls) ReadNodeMask(nodemask []uint64, maxnode uint64) (uint64, error) {
	return mm.ReadNodeMask(nodemask, maxnode)
}

func (c memoryCalls) ShmDetach(addr uint64, segment func(memmap.MappingIdentity) (uint64, bool)) error {
	return c.p.mm().ShmDetach(addr, segment)
}
