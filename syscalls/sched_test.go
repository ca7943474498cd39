package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSchedPermissions checks what a thread without CAP_SYS_NICE may set
// (the guest programs run as root): a real-time policy above
// RLIMIT_RTPRIO (0 by default) and a nice below the current one past
// RLIMIT_NICE are EPERM; a fair policy is allowed.
func TestSchedPermissions(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.main.cred = creds{uid: 1000, euid: 1000, suid: 1000, fsuid: 1000}
	p.limits = map[int]Limit{unix.RLIMIT_RTPRIO: {0, 0}, unix.RLIMIT_NICE: {0, 0}}
	binary.LittleEndian.PutUint32(mem.mem[0:], 10)
	if r := p.Syscall(unix.SYS_SCHED_SETSCHEDULER, [6]uint64{0, schedFIFO, base}); r != neg(unix.EPERM) {
		t.Errorf("FIFO 10 without CAP_SYS_NICE: %d, want EPERM", int64(r))
	}
	binary.LittleEndian.PutUint32(mem.mem[0:], 0)
	if r := p.Syscall(unix.SYS_SCHED_SETSCHEDULER, [6]uint64{0, schedBatch, base}); r != 0 {
		t.Errorf("BATCH without CAP_SYS_NICE: %d, want 0", int64(r))
	}
	attr := make([]byte, schedAttrSize)
	binary.LittleEndian.PutUint32(attr[0:], schedAttrSize)
	binary.LittleEndian.PutUint32(attr[16:], uint32(0xfffffffb)) // nice -5
	copy(mem.mem[0x100:], attr)
	if r := p.Syscall(unix.SYS_SCHED_SETATTR, [6]uint64{0, base + 0x100, 0}); r != neg(unix.EPERM) {
		t.Errorf("nice -5 without CAP_SYS_NICE: %d, want EPERM", int64(r))
	}
	if r := p.Syscall(unix.SYS_SCHED_GETSCHEDULER, [6]uint64{0}); r != schedBatch {
		t.Errorf("policy %d after the refusals, want BATCH", int64(r))
	}
}
