package syscalls

import (
	"encoding/binary"
	"math"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// epoll(7), as Linux's fs/eventpoll.c: an instance holds items, each a
// watched (file, fd) pair with the events asked for and the data to
// report. An item whose file notifies events it asked for joins the
// instance's ready list (see anon.go); epoll_wait takes items off the list
// in order, polls each again and reports those still ready. A
// level-triggered item goes back at the list's tail, an edge-triggered one
// waits for the next notify, an EPOLLONESHOT one is disabled until
// EPOLL_CTL_MOD. Adding or modifying an item polls it once, so a file
// already ready is reported once even edge-triggered. An item lives until
// EPOLL_CTL_DEL or the last close of its file's description (closing one
// of several fds of it is not enough), or of the instance.
//
// EPOLLEXCLUSIVE limits how many threads blocked in epoll_wait one event
// wakes; with one thread none is blocked when a file notifies, so it
// changes nothing but the checks epoll_ctl makes.

const (
	epollEventSize = 12 // sizeof(struct epoll_event), packed on x86-64
	// epollMaxEvents is Linux's EP_MAX_EVENTS: INT_MAX / 12.
	epollMaxEvents = (1<<31 - 1) / epollEventSize
	// epollMaxNests is Linux's EP_MAX_NESTS, how deep instances nest.
	epollMaxNests = 4
	// taskSizeMax is Linux's TASK_SIZE_MAX, the end of the user range
	// access_ok allows.
	taskSizeMax = uint64(arch.MaxUserAddr) - arch.PageSize

	epollExclusive = uint32(unix.EPOLLEXCLUSIVE)
	epollWakeup    = uint32(unix.EPOLLWAKEUP)
	epollOneshot   = uint32(unix.EPOLLONESHOT)
	epollET        = uint32(unix.EPOLLET)
	// epollPrivate are the bits that say how to report, not what.
	epollPrivate = epollWakeup | epollOneshot | epollET | epollExclusive
	// epollExclusiveOK are the only bits EPOLLEXCLUSIVE may come with.
	epollExclusiveOK = epollIn | epollOut | epollErr | epollHup | epollWakeup | epollET | epollExclusive
)

// epollInstance is the file epoll_create makes.
type epollInstance struct {
	// items are the watched (file, fd) pairs, in no order.
	items map[epollKey]*epollItem
	// ready is the ready list, in report order; an item is on it at most
	// once (its onReady says whether).
	ready []*epollItem
	// pollWait is where items of other instances watching this one
	// wait, and where a blocked epoll_wait waits.
	pollWait waitQueue
	// hostItems are the items whose file is a host descriptor (stdio
	// behind a pipe or terminal), whose readiness only the host knows.
	hostItems []*epollItem
	// watches counts the VM's items, this instance's among them.
	watches *epollWatches
}

// epollWatches bounds the items of all the VM's epoll instances, as
// Linux's fs.epoll.max_user_watches bounds a user's: each item lives in
// mmvm's memory, and without a bound a guest with many descriptors and
// instances could grow it without end. One per VM (processTree);
// guarded by the tree lock.
type epollWatches struct {
	// n is the items now.
	n int
	// max is max_user_watches once written (maxSet); until then the
	// default stands (epollMaxWatches).
	max    int64
	maxSet bool
}

// epItemCost is what Linux charges an item against the memory that sets
// max_user_watches' default: sizeof(struct epitem) + sizeof(struct
// eppoll_entry) on x86-64.
const epItemCost = 184

// epollMaxWatches is max_user_watches: as written, else Linux's default
// for a machine with the guest's memory (eventpoll_init: 4% of low
// memory, in items), unbounded without a memory limit.
func (p *Process) epollMaxWatches() int64 {
	if w := &p.tree.epollWatches; w.maxSet {
		return w.max
	}
	if p.cfg.MemoryLimit == 0 {
		return math.MaxInt64
	}
	pages := p.cfg.MemoryLimit / arch.PageSize
	return int64(pages / 25 * arch.PageSize / epItemCost)
}

type epollKey struct {
	file *openFile
	fd   int32
}

// epollItem is one watched (file, fd) pair (Linux's epitem).
type epollItem struct {
	ep  *epollInstance
	key epollKey
	// events are the events asked for with EPOLLERR and EPOLLHUP added,
	// and the epollPrivate bits; a fired EPOLLONESHOT leaves only the
	// private bits, which disables the item.
	events uint32
	data   uint64
	// wq is the queue it hangs on: its file's, nil for a file that
	// never notifies.
	wq      *waitQueue
	onReady bool
	// hostFD is the host descriptor behind a stdio file that may wait
	// (Process.waitable), whose readiness is asked of the host; -1 for
	// every other file. hostMask is what it polled last, hostCalls the
	// file's stdioCalls then.
	hostFD    int
	hostMask  uint32
	hostCalls uint64
}

func sysEpollCreate(t *Task, a *[6]uint64) uint64 {
	if int32(a[0]) <= 0 {
		return errno(unix.EINVAL)
	}
	return t.installAnon(newEpoll(&t.tree.epollWatches), unix.O_RDWR, false)
}

func sysEpollCreate1(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[0])
	if flags&^unix.EPOLL_CLOEXEC != 0 {
		return errno(unix.EINVAL)
	}
	return t.installAnon(newEpoll(&t.tree.epollWatches), unix.O_RDWR, flags != 0)
}

func newEpoll(watches *epollWatches) *epollInstance {
	return &epollInstance{items: make(map[epollKey]*epollItem), watches: watches}
}

// epollOf returns the instance behind f, nil for any other file.
func epollOf(f *openFile) *epollInstance {
	ep, _ := f.anon.(*epollInstance)
	return ep
}

// sysEpollCtl checks in Linux's order: the event's copy, epfd, fd, that fd
// can be polled (EPERM), that epfd is an instance other than fd (EINVAL),
// EPOLLEXCLUSIVE's rules (EINVAL), nesting (ELOOP), then the op.
func sysEpollCtl(t *Task, a *[6]uint64) uint64 {
	op, fd := uint32(a[1]), a[2]
	var ev struct {
		events uint32
		data   uint64
	}
	hasEvent := op != unix.EPOLL_CTL_DEL
	if hasEvent {
		var b [epollEventSize]byte
		if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[3]), b[:]); err != nil {
			return errno(unix.EFAULT)
		}
		ev.events, ev.data = binary.LittleEndian.Uint32(b[:]), binary.LittleEndian.Uint64(b[4:])
	}
	epf, e := t.fileNotPath(a[0])
	if e != 0 {
		return errno(e)
	}
	tf, e := t.fileNotPath(fd)
	if e != 0 {
		return errno(e)
	}
	if !t.pollable(tf) {
		return errno(unix.EPERM)
	}
	// Without CAP_BLOCK_SUSPEND, EPOLLWAKEUP is dropped silently.
	ev.events &^= epollWakeup
	ep := epollOf(epf)
	if epf == tf || ep == nil {
		return errno(unix.EINVAL)
	}
	target := epollOf(tf)
	if hasEvent && ev.events&epollExclusive != 0 {
		if op == unix.EPOLL_CTL_MOD || op == unix.EPOLL_CTL_ADD && (target != nil || ev.events&^epollExclusiveOK != 0) {
			return errno(unix.EINVAL)
		}
	}
	if op == unix.EPOLL_CTL_ADD && target != nil && !ep.mayWatch(target) {
		return errno(unix.ELOOP)
	}
	key := epollKey{tf, int32(fd)}
	it := ep.items[key]
	switch op {
	case unix.EPOLL_CTL_ADD:
		if it != nil {
			return errno(unix.EEXIST)
		}
		if int64(ep.watches.n) >= t.epollMaxWatches() {
			return errno(unix.ENOSPC)
		}
		ep.insert(key, ev.events|epollErr|epollHup, ev.data, t.hostFDOf(tf))
		return 0
	case unix.EPOLL_CTL_DEL:
		if it == nil {
			return errno(unix.ENOENT)
		}
		it.remove()
		return 0
	case unix.EPOLL_CTL_MOD:
		if it == nil {
			return errno(unix.ENOENT)
		}
		if it.events&epollExclusive != 0 {
			return errno(unix.EINVAL)
		}
		it.modify(ev.events|epollErr|epollHup, ev.data)
		return 0
	}
	return errno(unix.EINVAL)
}

// fileNotPath is file, but EBADF for an O_PATH description, which
// Linux's fdget does not return.
func (t *Task) fileNotPath(fd uint64) (*openFile, unix.Errno) {
	f, e := t.file(fd)
	if e == 0 && f.fs != nil && f.fs.pathOnly {
		return nil, unix.EBADF
	}
	return f, e
}

// pollable reports whether epoll may watch f (Linux's file_can_poll):
// pipes, anon files and stdio that is not a regular file or directory on
// the host; of the guest's files only /dev/random, which has a poll in
// Linux (regular files, directories, /proc, /dev/null, /dev/zero and
// /dev/urandom have none).
func (t *Task) pollable(f *openFile) bool {
	switch {
	case f.pipe != nil, f.anon != nil:
		return true
	case f.fs != nil:
		n := f.fs.node
		return n != nil && n.kind == nodeDevice && n.device == devRandom
	}
	st, e := t.stdioStat(uint64(f.stdio))
	if e != 0 {
		return false
	}
	typ := st.Mode & unix.S_IFMT
	return typ != unix.S_IFREG && typ != unix.S_IFDIR
}

// readyMask is what f is ready for now, all events asked; depth counts
// the instances above.
func readyMask(f *openFile, depth int) uint32 {
	const all = 0xffff
	switch {
	case f.anon != nil:
		return f.anon.pollMask(depth)
	case f.pipeRW:
		return uint32(f.pipe.pollEvents(false, all) | f.pipe.pollEvents(true, all))
	case f.pipe != nil:
		return uint32(f.pipe.pollEvents(f.writeEnd, all))
	case f.fs != nil:
		return epollIn | epollOut | epollRdNorm | epollWrNorm
	}
	return uint32(stdioPollEvents(f.stdio))
}

// queueOf is the queue an item for f hangs on; nil for a file whose
// readiness mmvm takes as constant.
func queueOf(f *openFile) *waitQueue {
	switch {
	case f.anon != nil:
		return f.anon.queue()
	case f.pipe != nil:
		if f.writeEnd {
			return &f.pipe.wrWait
		}
		return &f.pipe.rdWait
	}
	return nil
}

// mayWatch reports whether ep may watch target without a loop or a
// nesting deeper than Linux's EP_MAX_NESTS, counting both the instances
// below target and those above ep.
func (ep *epollInstance) mayWatch(target *epollInstance) bool {
	below := target.depthBelow(ep, 0)
	return below <= epollMaxNests && below+1+ep.depthAbove(0) <= epollMaxNests
}

// depthBelow is how many instances nest below ep (depth counts those
// above it on this path), or more than epollMaxNests if the walk reaches
// into (a loop).
func (ep *epollInstance) depthBelow(into *epollInstance, depth int) int {
	deepest := depth
	for k := range ep.items {
		child := epollOf(k.file)
		if child == nil {
			continue
		}
		if child == into || depth > epollMaxNests {
			return epollMaxNests + 1
		}
		deepest = max(deepest, child.depthBelow(into, depth+1))
	}
	return deepest
}

// depthAbove is how many instances watch ep, through any chain.
func (ep *epollInstance) depthAbove(depth int) int {
	deepest := depth
	for _, it := range ep.pollWait.items {
		deepest = max(deepest, it.ep.depthAbove(depth+1))
	}
	return deepest
}

// insert adds an item for key, polling it once (Linux's ep_insert).
func (ep *epollInstance) insert(key epollKey, events uint32, data uint64, hostFD int) {
	it := &epollItem{ep: ep, key: key, events: events, data: data, wq: queueOf(key.file), hostFD: hostFD}
	ep.items[key] = it
	ep.watches.n++
	key.file.epollItems = append(key.file.epollItems, it)
	if it.wq != nil {
		it.wq.add(it)
	}
	if hostFD >= 0 {
		ep.hostItems = append(ep.hostItems, it)
	}
	it.hostCalls = key.file.stdioCalls
	if it.hostMask = it.mask(1); it.hostMask != 0 {
		ep.markReady(it)
	}
}

// hostFDOf is the host descriptor behind f whose readiness the host
// decides: stdio behind a pipe, terminal or other file that may wait; -1
// for every other file.
func (t *Task) hostFDOf(f *openFile) int {
	if f.pipe != nil || f.fs != nil || f.anon != nil || f.stdio < 0 || f.stdio > 2 {
		return -1
	}
	return t.waitable[f.stdio]
}

// pollHostItems asks the host about the items on host descriptors and
// puts those that became ready on the ready list: a level-triggered one
// whenever it polls ready, an edge-triggered one when it polls an event
// it did not before, or polls ready after the program read or wrote the
// descriptor (which may have drained it and let new bytes in since). Linux's
// edge for a pipe or terminal is each wake-up (each write by the other
// side), which polling cannot see: a second write to a pipe already
// readable, with no read between, is no new edge here; an edge after a
// read that left bytes behind is one Linux would not report.
func (ep *epollInstance) pollHostItems() {
	for _, it := range ep.hostItems {
		m, calls := it.mask(1), it.key.file.stdioCalls
		if m != 0 && (it.events&epollET == 0 || m&^it.hostMask != 0 || calls != it.hostCalls) {
			it.wake(0)
		}
		it.hostMask, it.hostCalls = m, calls
	}
}

// hostReady polls host descriptor fd without waiting, every event asked:
// what it is ready for, 0 if it cannot be polled.
func hostReady(fd int) uint32 {
	const all = unix.POLLIN | unix.POLLPRI | unix.POLLOUT | pollRdNorm | pollRdBand | pollWrNorm | pollWrBand | unix.POLLRDHUP
	fds := []unix.PollFd{{Fd: int32(fd), Events: all}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 || fds[0].Revents&unix.POLLNVAL != 0 {
			return 0
		}
		return uint32(uint16(fds[0].Revents))
	}
}

// modify sets an item's events and data, and polls it once (ep_modify).
func (it *epollItem) modify(events uint32, data uint64) {
	it.events, it.data = events, data
	it.hostCalls = it.key.file.stdioCalls
	if it.hostMask = it.mask(1); it.hostMask != 0 {
		it.ep.markReady(it)
	}
}

// remove takes an item off its queue, the ready list and its file.
func (it *epollItem) remove() {
	ep := it.ep
	if it.wq != nil {
		it.wq.remove(it)
	}
	if it.onReady {
		ep.ready = slices.DeleteFunc(ep.ready, func(x *epollItem) bool { return x == it })
		it.onReady = false
	}
	delete(ep.items, it.key)
	ep.watches.n--
	ep.hostItems = slices.DeleteFunc(ep.hostItems, func(x *epollItem) bool { return x == it })
	f := it.key.file
	f.epollItems = slices.DeleteFunc(f.epollItems, func(x *epollItem) bool { return x == it })
}

// releaseEpollItems removes the items watching f, at its last close.
func (f *openFile) releaseEpollItems() {
	for len(f.epollItems) > 0 {
		f.epollItems[0].remove()
	}
}

// anonName is the name Linux gives an epoll instance's inode.
func (ep *epollInstance) anonName() string { return "eventpoll" }

// release removes the instance's own items at its last close.
func (ep *epollInstance) release() {
	for _, it := range ep.items {
		it.remove()
	}
}

// mask is what an item reports now: its file's ready events that it
// asked for.
func (it *epollItem) mask(depth int) uint32 {
	if it.hostFD >= 0 {
		return hostReady(it.hostFD) & it.events
	}
	return readyMask(it.key.file, depth) & it.events
}

// wake is an item's callback (ep_poll_callback): a disabled item, or
// events it did not ask for, change nothing; otherwise it joins the ready
// list.
func (it *epollItem) wake(events uint32) {
	if it.events&^epollPrivate == 0 {
		return
	}
	if events != 0 && events&it.events == 0 {
		return
	}
	it.ep.markReady(it)
}

// markReady puts it at the ready list's tail, unless it is on it, and
// tells what watches the instance.
func (ep *epollInstance) markReady(it *epollItem) {
	if !it.onReady {
		it.onReady = true
		ep.ready = append(ep.ready, it)
	}
	ep.pollWait.notify(epollIn)
}

// The instance as a file: polled by poll or another instance, it is
// readable when an item on its ready list polls ready.

func (ep *epollInstance) pollMask(depth int) uint32 {
	ep.pollHostItems()
	// Items on the list that poll not ready leave it, as Linux's
	// ep_read_events_proc drops them.
	for len(ep.ready) > 0 {
		it := ep.ready[0]
		if it.mask(depth+1) != 0 {
			return epollIn | epollRdNorm
		}
		ep.ready, it.onReady = ep.ready[1:], false
	}
	return 0
}

func (ep *epollInstance) queue() *waitQueue { return &ep.pollWait }

func (ep *epollInstance) read(*Task, *openFile, arch.Addr, uint64) uint64 {
	return errno(unix.EINVAL)
}

func (ep *epollInstance) readv(*Task, *openFile, []byte, uint64, uint64) uint64 {
	return errno(unix.EINVAL)
}

func (ep *epollInstance) write(*Task, *openFile, arch.Addr, uint64) uint64 {
	return errno(unix.EINVAL)
}

func (ep *epollInstance) writev(*Task, *openFile, []byte, uint64) uint64 {
	return errno(unix.EINVAL)
}

// epollSend reports up to maxEvents ready items at addr (ep_send_events) and
// returns how many, or EFAULT if the first would not copy.
func (t *Task) epollSend(ep *epollInstance, addr arch.Addr, maxEvents int) (int, unix.Errno) {
	scan := ep.ready
	ep.ready = nil
	var relisted []*epollItem
	n := 0
	for len(scan) > 0 && n < maxEvents {
		it := scan[0]
		scan = scan[1:]
		it.onReady = false
		revents := it.mask(1)
		if revents == 0 {
			continue
		}
		var b [epollEventSize]byte
		binary.LittleEndian.PutUint32(b[:], revents)
		binary.LittleEndian.PutUint64(b[4:], it.data)
		if _, err := t.cfg.Memory.CopyOut(addr+arch.Addr(n*epollEventSize), b[:]); err != nil {
			it.onReady = true
			scan = append([]*epollItem{it}, scan...)
			if n == 0 {
				n = -1
			}
			break
		}
		n++
		switch {
		case it.events&epollOneshot != 0:
			it.events &= epollPrivate
		case it.events&epollET == 0:
			it.onReady = true
			relisted = append(relisted, it)
		}
	}
	// What was not scanned goes back first, as Linux splices it to the
	// list's head.
	ep.ready = append(append(scan, ep.ready...), relisted...)
	if n < 0 {
		return 0, unix.EFAULT
	}
	return n, 0
}

// epollWait is epoll_wait's body for any of its forms: timeout < 0 waits
// forever, 0 only polls.
// Its checks come in the order of Linux 6.18's do_epoll_wait: epfd open,
// maxevents, the events array within user space, epfd an instance.
func (t *Task) epollWait(epfd uint64, addr arch.Addr, maxEvents int32, timeout time.Duration) uint64 {
	f, e := t.fileNotPath(epfd)
	if e != 0 {
		return errno(e)
	}
	if maxEvents <= 0 || maxEvents > epollMaxEvents {
		return errno(unix.EINVAL)
	}
	if size := uint64(maxEvents) * epollEventSize; uint64(addr) > taskSizeMax-size {
		return errno(unix.EFAULT)
	}
	ep := epollOf(f)
	if ep == nil {
		return errno(unix.EINVAL)
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		ep.pollHostItems()
		if len(ep.ready) > 0 {
			n, e := t.epollSend(ep, addr, int(maxEvents))
			if e != 0 {
				return errno(e)
			}
			if n > 0 {
				return uint64(n)
			}
		}
		if timeout == 0 {
			return 0
		}
		// The host tells nothing when its descriptors become ready:
		// ask again every pollSlice while there are some.
		slice := time.Duration(-1)
		if len(ep.hostItems) > 0 {
			slice = pollSlice
		}
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return 0
			}
			if slice < 0 || left < slice {
				slice = left
			}
		}
		var timer *time.Timer
		var expired <-chan time.Time
		if slice >= 0 {
			timer = time.NewTimer(slice)
			expired = timer.C
		}
		r := t.block(ep.pollWait.next(), expired)
		if timer != nil {
			timer.Stop()
		}
		switch r {
		case wokeSignal, wokeEnd:
			// epoll_wait is never restarted (Linux's ep_poll: EINTR).
			return errno(unix.EINTR)
		}
		// Ready, a host poll due, or the deadline: look again.
	}
}

// epollTimeoutMs turns epoll_wait's int milliseconds into epollWait's
// timeout.
func epollTimeoutMs(ms int32) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

func sysEpollWait(t *Task, a *[6]uint64) uint64 {
	return t.epollWait(a[0], arch.Addr(a[1]), int32(a[2]), epollTimeoutMs(int32(a[3])))
}

func sysEpollPwait(t *Task, a *[6]uint64) uint64 {
	return t.withSigmask(a[4], a[5], errno(unix.EINTR), func() uint64 {
		return t.epollWait(a[0], arch.Addr(a[1]), int32(a[2]), epollTimeoutMs(int32(a[3])))
	})
}

// sysEpollPwait2 takes its timeout as a struct timespec (NULL: forever),
// checked before the mask.
func sysEpollPwait2(t *Task, a *[6]uint64) uint64 {
	timeout := time.Duration(-1)
	if a[3] != 0 {
		var e unix.Errno
		if timeout, e = t.readTimeout(arch.Addr(a[3])); e != 0 {
			return errno(e)
		}
	}
	return t.withSigmask(a[4], a[5], errno(unix.EINTR), func() uint64 {
		return t.epollWait(a[0], arch.Addr(a[1]), int32(a[2]), timeout)
	})
}

// withSigmask runs wait with the signal mask at maskAddr (none if 0) in
// place, as Linux's set_user_sigmask and restore_saved_sigmask_unless do
// for epoll_pwait and ppoll: if wait returns interrupted (their answer to a
// signal) the old mask returns only after a handler runs, whose frame
// records it; otherwise at once. A bad mask is answered before wait runs.
func (t *Task) withSigmask(maskAddr, size, interrupted uint64, wait func() uint64) uint64 {
	if maskAddr == 0 {
		return wait()
	}
	if size != sigsetSize {
		return errno(unix.EINVAL)
	}
	var b [8]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(maskAddr), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	t.tsig.savedMask, t.tsig.restoreMask = t.sigmask, true
	t.sigmask = binary.LittleEndian.Uint64(b[:]) &^ unblockable
	r := wait()
	if r != interrupted {
		t.sigmask, t.tsig.restoreMask = t.tsig.savedMask, false
	}
	return r
}
