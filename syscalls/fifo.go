package syscalls

import (
	"golang.org/x/sys/unix"
)

// Named pipes: mknod (mkfifo) makes a FIFO node in a tmpfs, and each open
// of it is an end of the one pipe behind it, as Linux's fifo_open: a
// reader waits for a writer to open it and a writer for a reader (unless
// O_NONBLOCK: a reader then opens at once, a writer is ENXIO), and O_RDWR
// opens both ends at once, waiting for no one. The pipe lives while any
// end is open; the first open after the last close starts an empty one.
// Reads, writes, poll and epoll are the pipe's (pipe.go); fstat, the
// /proc/self/fd link and statfs show the node.

// openFIFO opens FIFO node n as openat's description with status flags.
func (t *Task) openFIFO(n *node, flags, status uint32) (*openFile, unix.Errno) {
	pp := n.fifo
	if pp == nil || pp.readers == 0 && pp.writers == 0 {
		pp = newPipe(&t.tree.held)
		pp.readers, pp.writers = 0, 0
		n.fifo = pp
	}
	nonblock := flags&unix.O_NONBLOCK != 0
	f := &openFile{stdio: -1, pipe: pp, fifo: n, flags: status}
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		pp.readers++
		pp.readOpens++
		t.fifoOpened(pp)
		if pp.writers == 0 && !nonblock {
			if e := t.fifoWait(&pp.writeOpens); e != 0 {
				pp.readers--
				pp.endClosed()
				pp.drop()
				return nil, e
			}
		}
	case unix.O_WRONLY:
		if nonblock && pp.readers == 0 {
			return nil, unix.ENXIO
		}
		f.writeEnd = true
		pp.writers++
		pp.writeOpens++
		t.fifoOpened(pp)
		if pp.readers == 0 {
			if e := t.fifoWait(&pp.readOpens); e != 0 {
				pp.writers--
				pp.endClosed()
				pp.drop()
				return nil, e
			}
		}
	case unix.O_RDWR:
		f.pipeRW = true
		pp.readers++
		pp.writers++
		pp.readOpens++
		pp.writeOpens++
		t.fifoOpened(pp)
	default:
		return nil, unix.EINVAL
	}
	return f, 0
}

// fifoOpened wakes those waiting for an end of pp to open.
func (t *Task) fifoOpened(pp *pipe) {
	pp.rdWait.notify(0)
	pp.wrWait.notify(0)
	t.fdWaitersLookAgain()
}

// fifoWait waits until *opens changes (an end of the other kind opened,
// whether or not it has closed again, as Linux's wait_for_partner): a
// signal ends the wait with ERESTARTSYS, the run's end with EINTR.
func (t *Task) fifoWait(opens *uint64) unix.Errno {
	start := *opens
	for *opens == start {
		switch t.block(t.fdWaitChannel(), nil) {
		case wokeSignal:
			return errRestartSys
		case wokeEnd:
			return unix.EINTR
		}
	}
	return 0
}

// readsPipe and writesPipe say whether f reads or writes its pipe: one
// end of a pipe or FIFO, or both for a FIFO opened O_RDWR.
func (f *openFile) readsPipe() bool  { return f.pipe != nil && (!f.writeEnd || f.pipeRW) }
func (f *openFile) writesPipe() bool { return f.pipe != nil && (f.writeEnd || f.pipeRW) }
