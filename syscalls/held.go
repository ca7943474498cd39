package syscalls

import "github.com/mmvm/mmvm/arch"

// The guest's data that mmvm keeps in its own memory for the VM's kernel
// objects shares one room, as large as the guest's memory
// (Config.MemoryLimit; 0: no bound): the pages of every pipe's occupied
// slots, the charge of every queued socket message, System V messages
// and semaphores, and what each POSIX message queue reserves. Linux keeps
// these in kernel memory charged to the task's memory cgroup; without a
// bound, a guest (a root that raised RLIMIT_NOFILE to nr_open and filled
// a pipe per pair of descriptors, or raised msgmax) could grow mmvm's
// heap until the host ran out. Past the room, the call that would take
// more fails as Linux's does when its allocation fails: a pipe write,
// splice, tee or vmsplice with ENOMEM (pipe_write), a socket send with
// ENOBUFS (sock_alloc_send_pskb), msgsnd, semget, semop and mq_open with
// ENOMEM — each after what it had already moved, as a partial count.

// heldBytes counts what pipes and sockets hold of the room; the IPC
// registries count their own. One per VM (processTree.held); pipes and
// sockets point at it. Guarded by the tree lock.
type heldBytes struct {
	// pipes is a page for each occupied pipe slot.
	pipes uint64
	// sockets is the charge of every socket message sent and not yet
	// read whole (sockMsg.charge).
	sockets uint64
}

// roomFor reports whether more bytes fit the room.
//
// Preconditions: the tree lock is held.
func (t *Task) roomFor(more uint64) bool {
	limit := t.cfg.MemoryLimit
	if limit == 0 {
		return true
	}
	tr := t.tree
	held := tr.held.pipes + tr.held.sockets
	held += uint64(tr.msgs.allLen) + tr.msgs.inFlight + uint64(tr.sems.used)*semaphoreBytes
	for _, c := range tr.mqueues.charged {
		held += c
	}
	return held <= limit && more <= limit-held
}

// pageRoom reports whether one more pipe page fits the room.
//
// Preconditions: the tree lock is held.
func (t *Task) pageRoom() bool { return t.roomFor(arch.PageSize) }
