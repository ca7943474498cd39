package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestMembarrierMatchesHost runs membarrier's commands in the order that
// shows each rule on a fresh process on both sides (the host's test
// process registers nothing elsewhere): QUERY's mask, flags, EPERM
// before each registration, SYNC_CORE's registration leaving
// PRIVATE_EXPEDITED unregistered, GET_REGISTRATIONS, the RSEQ commands
// EINVAL as without CONFIG_RSEQ, unknown commands.
func TestMembarrierMatchesHost(t *testing.T) {
	w := newTwin(t)
	mb := func(what string, cmd, flags, cpu uint64) int64 {
		t.Helper()
		return w.call(what, unix.SYS_MEMBARRIER, num(cmd), num(flags), num(cpu))
	}
	// The host has rseq: its QUERY has the RSEQ bits, which mmvm's
	// leaves out, and its RSEQ commands work.
	if g, h := sc(w.p, unix.SYS_MEMBARRIER, 0, 0, 0), hostRet(unix.SYS_MEMBARRIER, 0, 0, 0); g != h&^(mbCmdPrivateRseq|mbCmdRegisterPrivateRseq) || g != mbCommands {
		t.Errorf("QUERY: mmvm %#x, the host %#x", g, h)
	}
	mb("QUERY with a flag", 0, 1, 0)
	mb("GET_REGISTRATIONS", mbCmdGetRegistrations, 0, 0)
	mb("PRIVATE_EXPEDITED unregistered", mbCmdPrivateExpedited, 0, 0)
	mb("SYNC_CORE unregistered", mbCmdPrivateSyncCore, 0, 0)
	mb("RSEQ with flag 2", mbCmdPrivateRseq, 2, 0)
	mb("REGISTER_SYNC_CORE", mbCmdRegisterPrivateSyncCore, 0, 0)
	mb("GET_REGISTRATIONS", mbCmdGetRegistrations, 0, 0)
	mb("PRIVATE_EXPEDITED with SYNC_CORE registered", mbCmdPrivateExpedited, 0, 0)
	mb("SYNC_CORE", mbCmdPrivateSyncCore, 0, 0)
	mb("SYNC_CORE with a flag", mbCmdPrivateSyncCore, 1, 0)
	mb("REGISTER_SYNC_CORE again", mbCmdRegisterPrivateSyncCore, 0, 0)
	mb("REGISTER_SYNC_CORE with a flag", mbCmdRegisterPrivateSyncCore, 1, 0)
	mb("GLOBAL_EXPEDITED unregistered", mbCmdGlobalExpedited, 0, 0)
	mb("REGISTER_GLOBAL_EXPEDITED", mbCmdRegisterGlobalExpedited, 0, 0)
	mb("GET_REGISTRATIONS", mbCmdGetRegistrations, 0, 0)
	mb("GLOBAL_EXPEDITED", mbCmdGlobalExpedited, 0, 0)
	mb("GLOBAL", mbCmdGlobal, 0, 0)
	mb("GLOBAL with a flag", mbCmdGlobal, 1, 0)
	mb("REGISTER_PRIVATE_EXPEDITED", mbCmdRegisterPrivateExpedited, 0, 0)
	mb("GET_REGISTRATIONS", mbCmdGetRegistrations, 0, 0)
	mb("PRIVATE_EXPEDITED", mbCmdPrivateExpedited, 0, 0)
	mb("PRIVATE_EXPEDITED, cpu_id ignored", mbCmdPrivateExpedited, 0, 1<<32-1)
	mb("PRIVATE_EXPEDITED with FLAG_CPU", mbCmdPrivateExpedited, 1, 0)
	for _, cmd := range []uint64{3, 1 << 10, 1<<32 - 1, 1 << 31, 1<<4 | 1<<3} {
		mb("unknown command", cmd, 0, 0)
	}
}

// TestMembarrierBarriers checks which threads each barrier waits for:
// the process's own for the private commands, every registered
// process's for GLOBAL_EXPEDITED, every thread for GLOBAL; and that
// RSEQ, unregistered, asks for none and fails.
func TestMembarrierBarriers(t *testing.T) {
	var picked []bool
	p, _, _ := newTestProcess(t)
	other, _, _ := newTestProcess(t)
	p.cfg.Barrier = func(self *Task, which func(*Task) bool) {
		if self != p.main {
			t.Errorf("Barrier's self is not the caller")
		}
		picked = []bool{which(p.main), which(other.main)}
	}
	for _, c := range []struct {
		what    string
		cmd     uint64
		want    int64
		barrier []bool
	}{
		{"GLOBAL", mbCmdGlobal, 0, []bool{true, true}},
		{"GLOBAL_EXPEDITED, none registered", mbCmdGlobalExpedited, 0, []bool{false, false}},
		{"REGISTER_GLOBAL_EXPEDITED", mbCmdRegisterGlobalExpedited, 0, nil},
		{"GLOBAL_EXPEDITED, the caller registered", mbCmdGlobalExpedited, 0, []bool{true, false}},
		{"PRIVATE_EXPEDITED unregistered", mbCmdPrivateExpedited, -int64(unix.EPERM), nil},
		{"REGISTER_PRIVATE_EXPEDITED", mbCmdRegisterPrivateExpedited, 0, nil},
		{"PRIVATE_EXPEDITED", mbCmdPrivateExpedited, 0, []bool{true, false}},
		{"REGISTER_PRIVATE_EXPEDITED_SYNC_CORE", mbCmdRegisterPrivateSyncCore, 0, nil},
		{"PRIVATE_EXPEDITED_SYNC_CORE", mbCmdPrivateSyncCore, 0, []bool{true, false}},
		{"PRIVATE_EXPEDITED_RSEQ", mbCmdPrivateRseq, -int64(unix.EINVAL), nil},
		{"REGISTER_PRIVATE_EXPEDITED_RSEQ", mbCmdRegisterPrivateRseq, -int64(unix.EINVAL), nil},
	} {
		picked = nil
		if r := sc(p, unix.SYS_MEMBARRIER, c.cmd, 0, 0); r != c.want {
			t.Errorf("%s: %d, want %d", c.what, r, c.want)
		}
		if len(picked) != len(c.barrier) || (picked != nil && (picked[0] != c.barrier[0] || picked[1] != c.barrier[1])) {
			t.Errorf("%s: the barrier picked %v, want %v", c.what, picked, c.barrier)
		}
	}
}
