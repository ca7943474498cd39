package syscalls

import "golang.org/x/sys/unix"

// membarrier(2), as Linux's kernel/sched/membarrier.c on x86-64 built
// without CONFIG_RSEQ (rseq is ENOSYS here): the RSEQ commands are
// EINVAL and QUERY leaves them out. A barrier on another thread is a VM
// exit of the vCPU that runs it (Config.Barrier): the expedited commands
// kick every vCPU in guest mode running a thread of the process (of
// every process registered for GLOBAL_EXPEDITED) and wait until it has
// left. MEMBARRIER_CMD_GLOBAL waits for the same of every thread of the
// VM, as synchronize_rcu waits for every CPU to pass a quiescent state.

// membarrier's commands (linux/membarrier.h).
const (
	mbCmdQuery                    = 0
	mbCmdGlobal                   = 1 << 0
	mbCmdGlobalExpedited          = 1 << 1
	mbCmdRegisterGlobalExpedited  = 1 << 2
	mbCmdPrivateExpedited         = 1 << 3
	mbCmdRegisterPrivateExpedited = 1 << 4
	mbCmdPrivateSyncCore          = 1 << 5
	mbCmdRegisterPrivateSyncCore  = 1 << 6
	mbCmdPrivateRseq              = 1 << 7
	mbCmdRegisterPrivateRseq      = 1 << 8
	mbCmdGetRegistrations         = 1 << 9
	mbCmdFlagCPU                  = 1 << 0
)

// mbCommands is what MEMBARRIER_CMD_QUERY returns: every command but the
// RSEQ ones.
const mbCommands = mbCmdGlobal | mbCmdGlobalExpedited | mbCmdRegisterGlobalExpedited |
	mbCmdPrivateExpedited | mbCmdRegisterPrivateExpedited | mbCmdPrivateSyncCore |
	mbCmdRegisterPrivateSyncCore | mbCmdGetRegistrations

// The bits of Process.membarrier, Linux's MEMBARRIER_STATE_*: a
// registration sets its own bit and then its READY bit, which the
// expedited command asks for. Registering SYNC_CORE sets the
// PRIVATE_EXPEDITED bit too, but not its READY bit.
const (
	mbPrivateReady  = 1 << 0
	mbPrivate       = 1 << 1
	mbGlobalReady   = 1 << 2
	mbGlobal        = 1 << 3
	mbSyncCoreReady = 1 << 4
	mbSyncCore      = 1 << 5
)

func sysMembarrier(t *Task, a *[6]uint64) uint64 {
	cmd, flags := int32(a[0]), uint32(a[1])
	if cmd == mbCmdPrivateRseq {
		if flags != 0 && flags != mbCmdFlagCPU {
			return errno(unix.EINVAL)
		}
	} else if flags != 0 {
		return errno(unix.EINVAL)
	}
	switch cmd {
	case mbCmdQuery:
		return mbCommands
	case mbCmdGlobal:
		t.barrier(func(*Task) bool { return true })
		return 0
	case mbCmdGlobalExpedited:
		t.barrier(func(o *Task) bool { return o.Process.membarrier&mbGlobalReady != 0 })
		return 0
	case mbCmdRegisterGlobalExpedited:
		t.membarrier |= mbGlobal | mbGlobalReady
		return 0
	case mbCmdPrivateExpedited, mbCmdPrivateSyncCore:
		ready := uint32(mbPrivateReady)
		if cmd == mbCmdPrivateSyncCore {
			ready = mbSyncCoreReady
		}
		if t.membarrier&ready == 0 {
			return errno(unix.EPERM)
		}
		p := t.Process
		t.barrier(func(o *Task) bool { return o.Process == p })
		return 0
	case mbCmdRegisterPrivateExpedited:
		t.membarrier |= mbPrivate | mbPrivateReady
		return 0
	case mbCmdRegisterPrivateSyncCore:
		t.membarrier |= mbPrivate | mbSyncCore | mbSyncCoreReady
		return 0
	case mbCmdGetRegistrations:
		return t.membarrierRegistrations()
	}
	return errno(unix.EINVAL) // the RSEQ commands too, as without CONFIG_RSEQ
}

// membarrierRegistrations is Linux's membarrier_get_registrations: the
// REGISTER command of each registration begun.
func (p *Process) membarrierRegistrations() uint64 {
	var r uint64
	for _, s := range []struct {
		bits uint32
		cmd  uint64
	}{
		{mbGlobal | mbGlobalReady, mbCmdRegisterGlobalExpedited},
		{mbPrivate | mbPrivateReady, mbCmdRegisterPrivateExpedited},
		{mbSyncCore | mbSyncCoreReady, mbCmdRegisterPrivateSyncCore},
	} {
		if p.membarrier&s.bits != 0 {
			r |= s.cmd
		}
	}
	return r
}

// barrier has every vCPU running a thread which picks, other than t's,
// pass a VM exit (Config.Barrier).
func (t *Task) barrier(which func(*Task) bool) {
	if t.cfg.Barrier != nil {
		t.cfg.Barrier(t, which)
	}
}
