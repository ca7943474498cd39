package syscalls

import (
	"slices"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Files without a path (Linux's anon_inode files): eventfds (eventfd.go)
// and epoll instances (epoll.go), and the wait queues through which a file
// whose readiness changes tells epoll about it.
//
// Readiness is pushed, as in Linux, not polled: a pipe end, an eventfd or an
// epoll instance owns a waitQueue and calls notify with the events that may
// have become ready (a pipe write: EPOLLIN; a read of a full pipe:
// EPOLLOUT; the last close of one end: everything) at the same points
// Linux's fs/pipe.c and fs/eventfd.c wake theirs. Each epoll item hanging
// on the queue then joins its instance's ready list, in Linux's order, so
// that level- and edge-triggered reports, and their order, are Linux's.
// The host tells nothing when a host descriptor behind stdio (a pipe or
// terminal) becomes ready, so epoll asks it (unix.Poll, without waiting)
// at every epoll_wait, and every pollSlice while one waits (epoll.go's
// pollHostItems says which edges that can see). Other files with no queue
// (stdio with no host descriptor that may wait, /dev/random) have a
// constant readiness, as poll.go takes it: polled when an item is added
// or modified, and a level-triggered item stays ready.
//
// A blocked call (a read of an eventfd at 0, epoll_wait with nothing ready)
// waits (Task.block, the Process lock released) on a queue's changed
// channel, its timeout, and what interrupts its thread: a signal it does
// not block, the end of the thread, the process or the run. Another
// thread's write to the pipe or eventfd notifies the queue and wakes it.
// Queues, items and ready lists are guarded by the Process lock, as the fd
// table is.

// anonFile is the file behind an openFile with no path and no pipe.
type anonFile interface {
	// read, readv, write and writev serve those calls on f, whose
	// description holds this file and the O_NONBLOCK flag.
	read(t *Task, f *openFile, addr arch.Addr, n uint64) uint64
	readv(t *Task, f *openFile, iov []byte, iovcnt, total uint64) uint64
	write(t *Task, f *openFile, addr arch.Addr, n uint64) uint64
	writev(t *Task, f *openFile, iov []byte, iovcnt uint64) uint64
	// pollMask returns the events ready now (EPOLLIN, EPOLLOUT, ...);
	// depth counts the epoll instances above this poll.
	pollMask(depth int) uint32
	// queue is where items watching the file wait.
	queue() *waitQueue
	// release frees what the file holds at its last close.
	release()
	// anonName is the kind of file, as /proc/self/fd's link names it
	// ("anon_inode:[eventfd]").
	anonName() string
}

// The readiness bits, as poll(2) and epoll(7) share them.
const (
	epollIn     = uint32(unix.EPOLLIN)
	epollOut    = uint32(unix.EPOLLOUT)
	epollErr    = uint32(unix.EPOLLERR)
	epollHup    = uint32(unix.EPOLLHUP)
	epollRdNorm = uint32(unix.EPOLLRDNORM)
	epollWrNorm = uint32(unix.EPOLLWRNORM)
)

// waitQueue is what a file whose readiness changes wakes (Linux's
// wait_queue_head_t).
type waitQueue struct {
	// items are the epoll items watching the file, in wake order: Linux
	// adds an item at the head of the queue, an EPOLLEXCLUSIVE one at the
	// tail.
	items []*epollItem
	// changed, once made, is closed by the next notify; a blocked call
	// waits on it.
	changed chan struct{}
}

// add hangs it on the queue.
func (q *waitQueue) add(it *epollItem) {
	if it.events&epollExclusive != 0 {
		q.items = append(q.items, it)
		return
	}
	q.items = slices.Insert(q.items, 0, it)
}

// remove takes it off the queue.
func (q *waitQueue) remove(it *epollItem) {
	if i := slices.Index(q.items, it); i >= 0 {
		q.items = slices.Delete(q.items, i, i+1)
	}
}

// notify tells the items and blocked calls that events (0: any) may have
// become ready.
func (q *waitQueue) notify(events uint32) {
	if q == nil {
		return
	}
	// A callback may remove nothing from this queue, but copy anyway:
	// a nested epoll's callback reaches other queues.
	for _, it := range slices.Clone(q.items) {
		it.wake(events)
	}
	if q.changed != nil {
		close(q.changed)
		q.changed = nil
	}
}

// next returns a channel closed at the next notify.
func (q *waitQueue) next() <-chan struct{} {
	if q.changed == nil {
		q.changed = make(chan struct{})
	}
	return q.changed
}

// Every anon file shares one inode, as Linux's anon_inode_inode: fstat
// shows the same device and inode for all, a mode of 0600 with no file
// type, and root as owner (the inode is made at boot).
const (
	anonInodeDev = 16 // 0:16, an anonymous device early in boot, as the host's
	anonInodeIno = 1
)

// anonStat is fstat of any anon file.
func (p *Process) anonStat() unix.Stat_t {
	ts := unix.NsecToTimespec(p.start.UnixNano())
	return unix.Stat_t{
		Dev: anonInodeDev, Ino: anonInodeIno, Mode: 0o600, Nlink: 1,
		Blksize: arch.PageSize, Atim: ts, Mtim: ts, Ctim: ts,
	}
}

// installAnon makes the lowest free fd name a new description of file with
// the given status flags.
func (t *Task) installAnon(file anonFile, flags uint32, cloexec bool) uint64 {
	fd, e := t.lowestFree(0)
	if e != 0 {
		return errno(e)
	}
	t.install(fd, &openFile{stdio: -1, anon: file, flags: flags}, cloexec)
	return uint64(fd)
}
