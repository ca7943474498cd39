package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// userfaultfd(2) and /dev/userfaultfd, the file side (Linux's
// fs/userfaultfd.c); the memory side is mm's UserFaultFD (mm/userfault.go
// has the design: what blocks where).
//
// The file is an anon file ("anon_inode:[userfaultfd]", opened O_RDONLY).
// Its ioctls decode Linux's structs and call the context; read returns
// 32-byte struct uffd_msg, as many as fit and are queued, waiting only
// for the first (EAGAIN with O_NONBLOCK); poll is EPOLLERR before
// UFFDIO_API and on a blocking file, else EPOLLIN while a message is
// queued.
//
// A faulting thread (Task.WaitUserFault, from the machine's page-fault
// path), a system call's copy (Process.WaitUserFaultCopy) or an event's
// producer (Process.WaitUserfaultEvents: fork, munmap, mremap, madvise)
// tells the file's readers (notify) and waits, with the Process lock
// released. A read of UFFD_EVENT_FORK installs the child's context as a
// new fd of the reader.
// Fields of userfaultFile are guarded by the Process lock; the context
// has its own.

// UserFaultContext is a userfaultfd context in the memory manager;
// *mm.UserFaultFD implements it. The methods serve the UFFDIO ioctls with
// Linux's arguments and errors (see mm/userfault.go).
type UserFaultContext interface {
	API(features uint64) (uint64, error)
	Initialized() bool
	Register(start, length, mode uint64) (uint64, error)
	Unregister(start, length uint64) error
	Wake(start, length uint64) error
	// Copy and ZeroPage return the bytes filled, or -1 where the
	// arguments were refused before anything began (uffdio_copy.copy
	// is then not written).
	// Copy's readSrc reads the source from the caller's memory.
	Copy(dst, src, length, mode uint64, readSrc func(addr uint64, b []byte) error) (int64, error)
	ZeroPage(start, length, mode uint64) (int64, error)
	// WriteProtect serves UFFDIO_WRITEPROTECT; Continue, with results
	// as ZeroPage's, UFFDIO_CONTINUE.
	WriteProtect(start, length, mode uint64) error
	Continue(start, length, mode uint64) (int64, error)
	// Pending reports whether a message is queued; ReadMessage takes
	// the oldest: its event, its argument's three words and, for
	// UFFD_EVENT_FORK, the child's context, whose file the reader gets.
	Pending() bool
	ReadMessage() (event uint8, arg [3]uint64, child UserFaultContext, ok bool)
	// SetNotify sets the onQueue of a forked context (UserFaults).
	SetNotify(onQueue func())
	// Release is the last close.
	Release()
}

// UserFaultWait is a fault that waits for a userfaultfd's handler;
// *mm.UserFaultWait implements it.
type UserFaultWait interface {
	// Ready is closed when the fault may be retried; Notify tells the
	// context's readers of the queued message; Cancel withdraws it.
	Ready() <-chan struct{}
	Notify()
	Cancel()
}

// UserFaults is implemented by a MemoryCalls that serves userfaultfd:
// NewUserFault makes a context for the process's memory; onQueue is
// called by UserFaultWait.Notify with the Process lock held.
type UserFaults interface {
	NewUserFault(userModeOnly bool, onQueue func()) UserFaultContext
}

// The userfaultfd ABI (include/uapi/linux/userfaultfd.h).
const (
	uffdAPI          = 0xAA
	uffdUserModeOnly = 1
	uffdMsgSize      = 32
	uffdEventFork    = 0x13
	uffdFeatureFork  = 1 << 1

	uffdioAPIReq        = 0xC018AA3F // _IOWR(0xAA, 0x3F, struct uffdio_api): 24 bytes
	uffdioRegisterReq   = 0xC020AA00 // _IOWR(0xAA, 0x00, struct uffdio_register): 32
	uffdioUnregisterReq = 0x8010AA01 // _IOR(0xAA, 0x01, struct uffdio_range): 16
	uffdioWakeReq       = 0x8010AA02 // _IOR(0xAA, 0x02, struct uffdio_range)
	uffdioCopyReq       = 0xC028AA03 // _IOWR(0xAA, 0x03, struct uffdio_copy): 40
	uffdioZeropageReq   = 0xC020AA04 // _IOWR(0xAA, 0x04, struct uffdio_zeropage): 32
	uffdioWriteProtReq  = 0xC018AA06 // _IOWR(0xAA, 0x06, struct uffdio_writeprotect): 24
	uffdioContinueReq   = 0xC020AA07 // _IOWR(0xAA, 0x07, struct uffdio_continue): 32
	userfaultfdIOCNew   = 0xAA00     // _IO(0xAA, 0x00): /dev/userfaultfd's
)

// unprivilegedUserfaultfd is vm.unprivileged_userfaultfd, Linux's default:
// without CAP_SYS_PTRACE only UFFD_USER_MODE_ONLY contexts may be made by
// the system call (/dev/userfaultfd's permissions gate the device).
const unprivilegedUserfaultfd = 0

// userfaultFile is the file of a userfaultfd.
type userfaultFile struct {
	ctx UserFaultContext
	// flags are the userfaultfd(2) flags the context was made with,
	// which a forked context's file takes too.
	flags int32
	// desc is the open file description holding the file, whose
	// O_NONBLOCK poll and read look at.
	desc *openFile
	wq   waitQueue
}

func sysUserfaultfd(t *Task, a *[6]uint64) uint64 {
	flags := int32(a[0])
	if flags&uffdUserModeOnly == 0 && unprivilegedUserfaultfd == 0 && !t.cred.capable(unix.CAP_SYS_PTRACE) {
		return errno(unix.EPERM)
	}
	return t.newUserfaultfd(flags)
}

// newUserfaultfd is new_userfaultfd: flags are O_CLOEXEC, O_NONBLOCK and
// UFFD_USER_MODE_ONLY.
func (t *Task) newUserfaultfd(flags int32) uint64 {
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly) != 0 {
		return errno(unix.EINVAL)
	}
	uf, ok := t.cfg.Calls.(UserFaults)
	if !ok {
		return errno(unix.ENOSYS)
	}
	fd, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	f := &userfaultFile{flags: flags}
	f.ctx = uf.NewUserFault(flags&uffdUserModeOnly != 0, f.notify(t.Process))
	t.installUserfaultFile(fd, f)
	return uint64(fd)
}

// notify is a context's onQueue: it tells f's readers, with the Process
// lock held.
func (f *userfaultFile) notify(p *Process) func() {
	return func() {
		f.wq.notify(epollIn)
		p.fdWaitersLookAgain()
	}
}

// installUserfaultFile makes fd name f, opened O_RDONLY with the
// O_NONBLOCK and O_CLOEXEC of its flags.
func (t *Task) installUserfaultFile(fd int32, f *userfaultFile) {
	f.desc = &openFile{stdio: -1, anon: f, flags: unix.O_RDONLY | uint32(f.flags)&unix.O_NONBLOCK}
	t.install(fd, f.desc, f.flags&unix.O_CLOEXEC != 0)
}

// WaitUserfaultEvents waits until each event message in ws is read, as
// Linux's producer of an event (fork, mremap, madvise, munmap) waits for
// the monitor; only the end of the process or the run ends it early. The
// caller, the producing call, holds no lock.
func (p *Process) WaitUserfaultEvents(ws []UserFaultWait) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range ws {
		p.WaitUserFaultCopy(w)
	}
}

// devUserfaultfdIoctl is /dev/userfaultfd's ioctl: USERFAULTFD_IOC_NEW
// makes a context with the flags in arg, without the system call's
// privilege check; anything else is EINVAL.
func devUserfaultfdIoctl(t *Task, req uint64, arg arch.Addr) uint64 {
	if uint32(req) != userfaultfdIOCNew {
		return errno(unix.EINVAL)
	}
	return t.newUserfaultfd(int32(arg))
}

// ioctl serves the UFFDIO ioctls. Before UFFDIO_API all others are
// EINVAL.
func (f *userfaultFile) ioctl(t *Task, req uint64, arg arch.Addr) uint64 {
	if uint32(req) != uffdioAPIReq && !f.ctx.Initialized() {
		return errno(unix.EINVAL)
	}
	switch uint32(req) {
	case uffdioAPIReq:
		return f.api(t, arg)
	case uffdioRegisterReq:
		return f.register(t, arg)
	case uffdioUnregisterReq, uffdioWakeReq:
		var b [16]byte
		if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		start, length := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
		if uint32(req) == uffdioWakeReq {
			return result(0, f.ctx.Wake(start, length))
		}
		return result(0, f.ctx.Unregister(start, length))
	case uffdioCopyReq:
		readSrc := func(addr uint64, b []byte) error {
			if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b); err != nil {
				return unix.EFAULT
			}
			return nil
		}
		return f.fill(t, arg, 40, func(w []uint64) (int64, error) { return f.ctx.Copy(w[0], w[1], w[2], w[3], readSrc) })
	case uffdioZeropageReq:
		return f.fill(t, arg, 32, func(w []uint64) (int64, error) { return f.ctx.ZeroPage(w[0], w[1], w[2]) })
	case uffdioContinueReq:
		return f.fill(t, arg, 32, func(w []uint64) (int64, error) { return f.ctx.Continue(w[0], w[1], w[2]) })
	case uffdioWriteProtReq:
		// struct uffdio_writeprotect {range, mode}: nothing written back.
		var b [24]byte
		if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		le := binary.LittleEndian
		return result(0, f.ctx.WriteProtect(le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:])))
	}
	return errno(unix.EINVAL)
}

// api is UFFDIO_API on struct uffdio_api {api, features, ioctls}: on
// success the available features and the ioctls are written back; on
// EINVAL the struct is zeroed, as Linux's userfaultfd_api does.
func (f *userfaultFile) api(t *Task, arg arch.Addr) uint64 {
	var b [24]byte
	if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	api, features := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
	var avail uint64
	var err error = unix.EINVAL
	switch {
	case api != uffdAPI:
	case features&uffdFeatureFork != 0 && !t.cred.capable(unix.CAP_SYS_PTRACE):
		err = unix.EPERM
	default:
		avail, err = f.ctx.API(features)
	}
	var out [24]byte
	if err == nil {
		binary.LittleEndian.PutUint64(out[0:], uffdAPI)
		binary.LittleEndian.PutUint64(out[8:], avail)
		binary.LittleEndian.PutUint64(out[16:], uffdAPIIoctls)
	}
	if _, cerr := t.cfg.Memory.CopyOut(arg, out[:]); cerr != nil {
		return errno(unix.EFAULT)
	}
	return result(0, err)
}

// uffdAPIIoctls is uffdio_api.ioctls: REGISTER, UNREGISTER and API.
const uffdAPIIoctls = 1<<0 | 1<<1 | 1<<0x3F

// register is UFFDIO_REGISTER on struct uffdio_register {range, mode,
// ioctls}: ioctls is written back on success.
func (f *userfaultFile) register(t *Task, arg arch.Addr) uint64 {
	var b [24]byte
	if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	le := binary.LittleEndian
	ioctls, err := f.ctx.Register(le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]))
	if err != nil {
		return result(0, err)
	}
	var out [8]byte
	le.PutUint64(out[:], ioctls)
	return t.copyOutAll(arg+24, out[:])
}

// fill is UFFDIO_COPY, UFFDIO_ZEROPAGE or UFFDIO_CONTINUE: the struct's size bytes at arg
// are 64-bit words, the last the result (bytes filled, or -errno), which
// is written back whatever happened. A partial fill is EAGAIN.
func (f *userfaultFile) fill(t *Task, arg arch.Addr, size int, op func(w []uint64) (int64, error)) uint64 {
	b := make([]byte, size)
	if _, err := t.cfg.Memory.CopyIn(arg, b[:size-8]); err != nil {
		return errno(unix.EFAULT)
	}
	w := make([]uint64, size/8-1)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	length := w[len(w)-2] // the range's length precedes mode
	if size == 40 {
		length = w[2]
	}
	n, err := op(w)
	if n < 0 {
		return result(0, err) // refused before it began: nothing written back
	}
	res := n
	if err != nil {
		res = -int64(toErrno(err))
	}
	var out [8]byte
	binary.LittleEndian.PutUint64(out[:], uint64(res))
	if _, cerr := t.cfg.Memory.CopyOut(arg+arch.Addr(size-8), out[:]); cerr != nil {
		return errno(unix.EFAULT)
	}
	if err != nil {
		return result(0, err)
	}
	if uint64(n) != length {
		return errno(unix.EAGAIN)
	}
	return 0
}

// read returns the queued messages that fit in n bytes: EINVAL before
// UFFDIO_API or for n under one message; waits for the first unless
// O_NONBLOCK (EAGAIN).
func (f *userfaultFile) read(t *Task, _ *openFile, addr arch.Addr, n uint64) uint64 {
	if !f.ctx.Initialized() {
		return errno(unix.EINVAL)
	}
	var done uint64
	nonblock := f.desc.flags&unix.O_NONBLOCK != 0
	for {
		if n-done < uffdMsgSize {
			if done == 0 {
				return errno(unix.EINVAL)
			}
			return done
		}
		event, arg, child, ok := f.ctx.ReadMessage()
		if ok && event == uffdEventFork {
			// resolve_userfault_fork: the reader gets the child's
			// context as a new fd, named in the message.
			fd, e := t.lowestFree(0)
			if e != 0 {
				child.Release()
				if done > 0 {
					return done
				}
				return errno(e)
			}
			cf := &userfaultFile{ctx: child, flags: f.flags}
			child.SetNotify(cf.notify(t.Process))
			t.installUserfaultFile(fd, cf)
			arg = [3]uint64{uint64(uint32(fd))}
		}
		if !ok {
			if done > 0 {
				return done
			}
			if nonblock {
				return errno(unix.EAGAIN)
			}
			if e := t.waitChange(&f.wq); e != 0 {
				return errno(e)
			}
			continue
		}
		msg := encodeUffdMsg(event, arg)
		if _, err := t.cfg.Memory.CopyOut(addr+arch.Addr(done), msg[:]); err != nil {
			if done > 0 {
				return done
			}
			return errno(unix.EFAULT)
		}
		done += uffdMsgSize
		nonblock = true // only the first message is waited for
	}
}

// encodeUffdMsg lays out struct uffd_msg: event (u8), three reserved
// fields to offset 8, then the argument union's 24 bytes.
func encodeUffdMsg(event uint8, arg [3]uint64) [uffdMsgSize]byte {
	var b [uffdMsgSize]byte
	b[0] = event
	for i, w := range arg {
		binary.LittleEndian.PutUint64(b[8+8*i:], w)
	}
	return b
}

// readv reads into the first buffer only as much as read would over the
// whole vector: Linux reads an iov_iter, which this approximates by the
// total length into consecutive buffers.
func (f *userfaultFile) readv(t *Task, of *openFile, iov []byte, iovcnt, total uint64) uint64 {
	if iovcnt == 0 {
		return f.read(t, of, 0, total)
	}
	base := binary.LittleEndian.Uint64(iov[0:])
	length := binary.LittleEndian.Uint64(iov[8:])
	return f.read(t, of, arch.Addr(base), length)
}

// write is EBADF: the file is open read-only.
func (f *userfaultFile) write(*Task, *openFile, arch.Addr, uint64) uint64 {
	return errno(unix.EBADF)
}

func (f *userfaultFile) writev(*Task, *openFile, []byte, uint64) uint64 {
	return errno(unix.EBADF)
}

// pollMask is userfaultfd_poll: EPOLLERR before UFFDIO_API and for a
// blocking file (poll cannot promise that read will not block), else
// EPOLLIN while a message is queued.
func (f *userfaultFile) pollMask(int) uint32 {
	if !f.ctx.Initialized() || f.desc.flags&unix.O_NONBLOCK == 0 {
		return epollErr
	}
	if f.ctx.Pending() {
		return epollIn
	}
	return 0
}

func (f *userfaultFile) queue() *waitQueue { return &f.wq }
func (f *userfaultFile) release()          { f.ctx.Release() }
func (f *userfaultFile) anonName() string  { return "[userfaultfd]" }

// WaitUserFault blocks the thread, whose user fault w is, until the
// fault may be retried, a signal it does not block is pending (the caller
// takes it, then the instruction faults again), or it ends; the fault's
// message is withdrawn then if no wake took it. The caller holds no lock.
func (t *Task) WaitUserFault(w UserFaultWait) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w.Notify()
	t.block(w.Ready(), nil)
	w.Cancel()
}

// WaitUserFaultCopy waits, for a system call copying to or from user
// memory, until w's fault may be retried. As Linux's copy_to_user, only
// the end of the process or the run ends the wait early (false: the copy
// fails with EFAULT); other signals wait for the copy. The Process lock
// is held, and released while waiting.
func (p *Process) WaitUserFaultCopy(w UserFaultWait) bool {
	w.Notify()
	defer w.Cancel()
	for {
		if p.Stopping() {
			return false
		}
		p.mu.Unlock()
		var ok bool
		select {
		case <-w.Ready():
			ok = true
		case <-p.context().Done():
		case <-time.After(pollSlice):
		}
		p.mu.Lock()
		if ok {
			return true
		}
	}
}
