package syscalls

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestABIOutCalls checks the structures the calls of fd.go,
// signal_default.go and procinfo.go copy out against the host kernel, as
// TestABIOut does: the same number of bytes written into a buffer of
// canaries, and where the answer is the same, the same bytes.
func TestABIOutCalls(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.MemoryLimit = 256 << 20
	p.SetExecutable("/prog", "")
	const at = 0x1000
	addr := uint64(base + at)
	u := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	closeHostPipe := func(b unsafe.Pointer) {
		fds := (*[2]int32)(b)
		unix.Close(int(fds[0]))
		unix.Close(int(fds[1]))
	}
	cases := []outCase{
		{name: "sysinfo (struct sysinfo)", size: sysinfoSize,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_SYSINFO, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_SYSINFO, a) },
			check: func(t *testing.T, b []byte) {
				if binary.LittleEndian.Uint64(b[sysinfoTotalRAM:]) == 0 || binary.LittleEndian.Uint32(b[sysinfoMemUnit:]) == 0 {
					t.Errorf("totalram %d, mem_unit %d", binary.LittleEndian.Uint64(b[sysinfoTotalRAM:]), binary.LittleEndian.Uint32(b[sysinfoMemUnit:]))
				}
			}},
		{name: "getrusage RUSAGE_SELF (struct rusage)", size: rusageSize,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_GETRUSAGE, unix.RUSAGE_SELF, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_GETRUSAGE, unix.RUSAGE_SELF, a) }},
		{name: "getrusage RUSAGE_CHILDREN (struct rusage)", size: rusageSize,
			host: func(b unsafe.Pointer) error {
				return rawCall(unix.SYS_GETRUSAGE, uintptr(1<<64-1), u(b))
			},
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_GETRUSAGE, 1<<64-1, a) }},
		{name: "sched_getaffinity len 8 (cpumask)", size: cpuMaskSize,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_SCHED_GETAFFINITY, 0, 8, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_SCHED_GETAFFINITY, 0, 8, a) }},
		{name: "prctl PR_GET_NAME (char[16])", size: taskCommLen,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_PRCTL, unix.PR_GET_NAME, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_PRCTL, unix.PR_GET_NAME, a) }},
		{name: "prctl PR_GET_PDEATHSIG (int)", size: 4, same: true,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_PRCTL, unix.PR_GET_PDEATHSIG, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_PRCTL, unix.PR_GET_PDEATHSIG, a) }},
		{name: "sigaltstack old (stack_t)", size: stackTSize,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_SIGALTSTACK, 0, u(b)) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_SIGALTSTACK, 0, a) }},
		{name: "rt_sigpending (sigset_t)", size: sigsetSize, same: true,
			host:  func(b unsafe.Pointer) error { return rawCall(unix.SYS_RT_SIGPENDING, u(b), sigsetSize) },
			guest: func(p *Process, a uint64) error { return guestCall(p, unix.SYS_RT_SIGPENDING, a, sigsetSize) }},
		{name: "pipe2 (int[2])", size: 8,
			host: func(b unsafe.Pointer) error {
				err := rawCall(unix.SYS_PIPE2, u(b), unix.O_CLOEXEC)
				closeHostPipe(b)
				return err
			},
			guest: func(p *Process, a uint64) error {
				err := guestCall(p, unix.SYS_PIPE2, a, 0)
				guestCall(p, unix.SYS_CLOSE, 3)
				guestCall(p, unix.SYS_CLOSE, 4)
				return err
			}},
	}
	runOutCases(t, p, mem.mem[at:], addr, cases)
}
