package syscalls

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ipcCaller makes System V IPC and mqueue calls against one memory: the
// host kernel's (a Go buffer) or a test process's.
type ipcCaller struct {
	// proc is the test process the calls go to; nil for the host.
	proc *Process
	mem  []byte
	addr func(off int) uint64
	call func(nr uint64, a ...uint64) int64
}

// ipcBad is an address neither memory maps.
const ipcBad = 16

// hostIPCCaller makes the calls of the host, in f's thread.
func hostIPCCaller() *ipcCaller {
	mem := make([]byte, 1<<16)
	return &ipcCaller{
		mem:  mem,
		addr: func(off int) uint64 { return uint64(uintptr(unsafe.Pointer(&mem[off]))) },
		call: func(nr uint64, a ...uint64) int64 {
			var v [6]uintptr
			for i, x := range a {
				v[i] = uintptr(x)
			}
			r, _, e := unix.Syscall6(uintptr(nr), v[0], v[1], v[2], v[3], v[4], v[5])
			runtime.KeepAlive(mem)
			if e != 0 {
				return -int64(e)
			}
			return int64(r)
		},
	}
}

// vmIPCCaller makes the calls of a test process.
func vmIPCCaller(t *testing.T) *ipcCaller {
	p, mem, _ := newTestProcess(t)
	return &ipcCaller{
		proc: p,
		mem:  mem.mem,
		addr: func(off int) uint64 { return base + uint64(off) },
		call: func(nr uint64, a ...uint64) int64 {
			var v [6]uint64
			copy(v[:], a)
			return int64(p.Syscall(nr, v))
		},
	}
}

// inFreshIPC runs f on a thread of its own in a new IPC namespace, which
// the thread keeps until it ends (it is never unlocked), so that the
// host's answers start from a namespace as empty as a VM's; it skips the
// test where the host refuses (no root).
func inFreshIPC(t *testing.T, f func()) {
	t.Helper()
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err = unix.Unshare(unix.CLONE_NEWIPC); err == nil {
			f()
		}
	}()
	<-done
	if err != nil {
		t.Skipf("unshare(CLONE_NEWIPC): %v", err)
	}
}

// ipcScript makes the same calls on c, wherever it runs, and returns
// what each answered: results and errors in the order Linux checks its
// arguments, and the structures the calls write, how many bytes of them
// (the whole struct, as copy_to_user writes it) and their bytes but the
// times and pids.
func ipcScript(c *ipcCaller) []string {
	var out []string
	say := func(what string, r int64) {
		if r < 0 {
			out = append(out, fmt.Sprintf("%s: %v", what, unix.Errno(-r)))
			return
		}
		out = append(out, fmt.Sprintf("%s: %d", what, r))
	}
	const buf = 0x1000
	// written says how many bytes of the 0xaa-filled buffer a call wrote,
	// and shows them with the fields at mask (8 bytes each, or 4 for an
	// odd entry's offset+1) cleared.
	fill := func() {
		for i := range 256 {
			c.mem[buf+i] = 0xaa
		}
	}
	written := func(what string, mask ...int) {
		n := 0
		for i := range 256 {
			if c.mem[buf+i] != 0xaa {
				n = i + 1
			}
		}
		b := append([]byte(nil), c.mem[buf:buf+n]...)
		for _, m := range mask {
			w := 8
			if m%2 == 1 {
				m, w = m-1, 4
			}
			if m+w <= len(b) {
				clear(b[m : m+w])
			}
		}
		out = append(out, fmt.Sprintf("%s: %d bytes %x", what, n, b))
	}
	le := binary.LittleEndian

	// Message queues.
	q := c.call(unix.SYS_MSGGET, unix.IPC_PRIVATE, 0o640)
	say("msgget", q)
	fill()
	say("msgctl IPC_STAT", c.call(unix.SYS_MSGCTL, uint64(q), ipcStat, c.addr(buf)))
	written("msqid64_ds", 48, 56, 64, 97, 101)
	le.PutUint64(c.mem[0x2000:], 3)
	copy(c.mem[0x2008:], "hello")
	say("msgsnd", c.call(unix.SYS_MSGSND, uint64(q), c.addr(0x2000), 5, 0))
	say("msgsnd type 3 again", c.call(unix.SYS_MSGSND, uint64(q), c.addr(0x2000), 5, 0))
	fill()
	say("msgctl IPC_STAT", c.call(unix.SYS_MSGCTL, uint64(q), ipcStat, c.addr(buf)))
	written("msqid64_ds, two queued", 48, 56, 64, 97, 101)
	for _, cmd := range []uint64{ipcInfo, msgInfo} {
		fill()
		say(fmt.Sprintf("msgctl %d", cmd), c.call(unix.SYS_MSGCTL, 0, cmd, c.addr(buf)))
		written("msginfo")
	}
	say("msgctl IPC_64|IPC_STAT", c.call(unix.SYS_MSGCTL, uint64(q), 0x100|ipcStat, c.addr(buf)))
	say("msgctl IPC_SET bad address, bad id", c.call(unix.SYS_MSGCTL, uint64(q)+1, ipcSet, ipcBad))
	say("msgctl MSG_STAT bad address", c.call(unix.SYS_MSGCTL, uint64(q), msgStat, ipcBad))
	say("msgctl -1 IPC_INFO", c.call(unix.SYS_MSGCTL, ^uint64(0), ipcInfo, c.addr(buf)))
	say("msgsnd bad address, bad size", c.call(unix.SYS_MSGSND, uint64(q), ipcBad, 1<<20, 0))
	say("msgsnd bad id, bad size", c.call(unix.SYS_MSGSND, uint64(q)+1, c.addr(0x2000), 1<<20, 0))
	say("msgrcv MSG_COPY -1", c.call(unix.SYS_MSGRCV, uint64(q), c.addr(0x3000), 64, ^uint64(0), msgCopy|ipcNowait))
	say("msgrcv size -1", c.call(unix.SYS_MSGRCV, uint64(q), c.addr(0x3000), ^uint64(0), 0, ipcNowait))
	say("msgrcv bad id, MSG_COPY without IPC_NOWAIT", c.call(unix.SYS_MSGRCV, uint64(q)+1, c.addr(0x3000), 64, 0, msgCopy))
	say("msgrcv to a bad address", c.call(unix.SYS_MSGRCV, uint64(q), ipcBad, 64, 0, ipcNowait))
	say("msgrcv the other", c.call(unix.SYS_MSGRCV, uint64(q), c.addr(0x3000), 64, 0, ipcNowait))
	say("msgrcv none left", c.call(unix.SYS_MSGRCV, uint64(q), c.addr(0x3000), 64, 0, ipcNowait))
	say("msgctl IPC_RMID", c.call(unix.SYS_MSGCTL, uint64(q), ipcRmid, 0))

	// Semaphores.
	s := c.call(unix.SYS_SEMGET, unix.IPC_PRIVATE, 4, 0o600)
	say("semget", s)
	fill()
	say("semctl IPC_STAT", c.call(unix.SYS_SEMCTL, uint64(s), 0, ipcStat, c.addr(buf)))
	written("semid64_ds", 48, 64)
	for _, cmd := range []uint64{ipcInfo, semInfo} {
		fill()
		say(fmt.Sprintf("semctl %d", cmd), c.call(unix.SYS_SEMCTL, 0, 0, cmd, c.addr(buf)))
		written("seminfo")
	}
	fill()
	say("semctl GETALL", c.call(unix.SYS_SEMCTL, uint64(s), 0, semGetAll, c.addr(buf)))
	written("GETALL")
	say("semctl GETALL bad address", c.call(unix.SYS_SEMCTL, uint64(s), 0, semGetAll, ipcBad))
	say("semctl SETALL bad address", c.call(unix.SYS_SEMCTL, uint64(s), 0, semSetAll, ipcBad))
	say("semctl IPC_64|IPC_STAT", c.call(unix.SYS_SEMCTL, uint64(s), 0, 0x100|ipcStat, c.addr(buf)))
	say("semctl SETVAL 40000, bad id", c.call(unix.SYS_SEMCTL, uint64(s)+1, 0, semSetVal, 40000))
	say("semctl SETVAL num 4", c.call(unix.SYS_SEMCTL, uint64(s), 4, semSetVal, 1))
	say("semctl SETVAL high bits", c.call(unix.SYS_SEMCTL, uint64(s), 1, semSetVal, 1<<32|7))
	say("semctl GETVAL 1", c.call(unix.SYS_SEMCTL, uint64(s), 1, semGetVal, 0))
	say("semctl IPC_SET bad address", c.call(unix.SYS_SEMCTL, uint64(s), 0, ipcSet, ipcBad))
	sops := func(off int, num uint16, op int16, flg int16) {
		le.PutUint16(c.mem[off:], num)
		le.PutUint16(c.mem[off+2:], uint16(op))
		le.PutUint16(c.mem[off+4:], uint16(flg))
	}
	sops(0x4000, 0, -1, 0)
	sops(0x4006, 9, 1, 0)
	ts := func(off int, sec, nsec int64) {
		le.PutUint64(c.mem[off:], uint64(sec))
		le.PutUint64(c.mem[off+8:], uint64(nsec))
	}
	ts(0x5000, 0, 0)
	ts(0x5010, 0, 2e9)
	ts(0x5020, -1, 0)
	say("semtimedop none, bad timeout address", c.call(unix.SYS_SEMTIMEDOP, uint64(s), ipcBad, 0, ipcBad))
	say("semtimedop none", c.call(unix.SYS_SEMTIMEDOP, uint64(s), c.addr(0x4000), 0, c.addr(0x5000)))
	say("semtimedop 501, bad address", c.call(unix.SYS_SEMTIMEDOP, uint64(s), ipcBad, 501, 0))
	say("semtimedop bad address, id -1", c.call(unix.SYS_SEMTIMEDOP, ^uint64(0), ipcBad, 1, 0))
	say("semtimedop id -1, bad timeout", c.call(unix.SYS_SEMTIMEDOP, ^uint64(0), c.addr(0x4000), 1, c.addr(0x5010)))
	say("semtimedop num 9, bad timeout", c.call(unix.SYS_SEMTIMEDOP, uint64(s), c.addr(0x4006), 1, c.addr(0x5010)))
	say("semtimedop num 9, negative timeout", c.call(unix.SYS_SEMTIMEDOP, uint64(s), c.addr(0x4006), 1, c.addr(0x5020)))
	say("semtimedop num 9", c.call(unix.SYS_SEMTIMEDOP, uint64(s), c.addr(0x4006), 1, c.addr(0x5000)))
	sops(0x4000, 0, -1, 0)
	say("semtimedop -1, no time", c.call(unix.SYS_SEMTIMEDOP, uint64(s), c.addr(0x4000), 1, c.addr(0x5000)))
	sops(0x4000, 2, 3, semUndo)
	sops(0x4006, 2, -4, semUndo|ipcNowait)
	say("semop +3 -4 undo, IPC_NOWAIT", c.call(unix.SYS_SEMOP, uint64(s), c.addr(0x4000), 2))
	say("semctl GETVAL 2", c.call(unix.SYS_SEMCTL, uint64(s), 2, semGetVal, 0))
	sops(0x4006, 2, -3, semUndo)
	say("semop +3 -3 undo", c.call(unix.SYS_SEMOP, uint64(s), c.addr(0x4000), 2))
	say("semctl GETPID 2 set", boolInt64(c.call(unix.SYS_SEMCTL, uint64(s), 2, semGetPID, 0) > 0))
	say("semctl GETNCNT 0", c.call(unix.SYS_SEMCTL, uint64(s), 0, semGetNCnt, 0))
	say("semctl IPC_RMID", c.call(unix.SYS_SEMCTL, uint64(s), 0, ipcRmid, 0))

	// POSIX message queues.
	copy(c.mem[0x6000:], "ipc-test\x00")
	le.PutUint64(c.mem[0x6108:], 2)
	le.PutUint64(c.mem[0x6110:], 8)
	fd := c.call(unix.SYS_MQ_OPEN, c.addr(0x6000), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, c.addr(0x6100))
	say("mq_open", boolInt64(fd >= 0))
	fill()
	say("mq_getsetattr", c.call(unix.SYS_MQ_GETSETATTR, uint64(fd), 0, c.addr(buf)))
	written("mq_attr")
	le.PutUint64(c.mem[0x6200:], unix.O_NONBLOCK|unix.O_APPEND)
	say("mq_getsetattr bad flags, bad fd", c.call(unix.SYS_MQ_GETSETATTR, 999, c.addr(0x6200), 0))
	say("mq_getsetattr bad fd", c.call(unix.SYS_MQ_GETSETATTR, 999, 0, 0))
	say("mq_timedsend prio 40000, bad fd", c.call(unix.SYS_MQ_TIMEDSEND, 999, c.addr(0x6000), 1, 40000, 0))
	say("mq_timedsend bad timeout address, bad fd", c.call(unix.SYS_MQ_TIMEDSEND, 999, c.addr(0x6000), 1, 0, ipcBad))
	say("mq_timedsend 9 bytes, bad address", c.call(unix.SYS_MQ_TIMEDSEND, uint64(fd), ipcBad, 9, 0, 0))
	say("mq_timedsend bad address", c.call(unix.SYS_MQ_TIMEDSEND, uint64(fd), ipcBad, 8, 0, 0))
	say("mq_timedsend", c.call(unix.SYS_MQ_TIMEDSEND, uint64(fd), c.addr(0x6000), 8, 3, 0))
	say("mq_timedreceive 7 bytes", c.call(unix.SYS_MQ_TIMEDRECEIVE, uint64(fd), c.addr(0x7000), 7, 0, 0))
	say("mq_timedreceive bad prio address", c.call(unix.SYS_MQ_TIMEDRECEIVE, uint64(fd), c.addr(0x7000), 8, ipcBad, 0))
	say("mq_timedreceive bad timeout, empty", c.call(unix.SYS_MQ_TIMEDRECEIVE, uint64(fd), c.addr(0x7000), 8, 0, c.addr(0x5010)))
	say("mq_notify bad address", c.call(unix.SYS_MQ_NOTIFY, uint64(fd), ipcBad))
	say("mq_notify bad fd", c.call(unix.SYS_MQ_NOTIFY, 999, 0))
	say("mq_notify NULL, none registered", c.call(unix.SYS_MQ_NOTIFY, uint64(fd), 0))
	say("mq_timedsend on a pipe-less fd 0", c.call(unix.SYS_MQ_TIMEDSEND, 0, c.addr(0x6000), 1, 0, 0))
	say("close", c.call(unix.SYS_CLOSE, uint64(fd)))
	say("mq_unlink", c.call(unix.SYS_MQ_UNLINK, c.addr(0x6000)))
	say("mq_unlink bad address", c.call(unix.SYS_MQ_UNLINK, ipcBad))
	return out
}

func boolInt64(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// TestIPCMatchesHost makes the same System V IPC and mqueue calls in a
// test process and, in a fresh IPC namespace, on the host kernel, and
// compares every answer: the errors in the order the host checks its
// arguments, and the structures' sizes (msqid64_ds 120 bytes, msginfo
// 32, semid64_ds 104, seminfo 40, mq_attr 64) and contents.
func TestIPCMatchesHost(t *testing.T) {
	var host []string
	inFreshIPC(t, func() { host = ipcScript(hostIPCCaller()) })
	vm := ipcScript(vmIPCCaller(t))
	for i := range max(len(host), len(vm)) {
		var h, v string
		if i < len(host) {
			h = host[i]
		}
		if i < len(vm) {
			v = vm[i]
		}
		if h != v {
			t.Errorf("mmvm: %s\n        host: %s", v, h)
		}
	}
	for _, want := range []string{"msqid64_ds: 120 bytes", "msginfo: 32 bytes", "semid64_ds: 104 bytes", "seminfo: 40 bytes", "mq_attr: 64 bytes"} {
		found := false
		for _, l := range vm {
			if len(l) >= len(want) && l[:len(want)] == want {
				found = true
			}
		}
		if !found {
			t.Errorf("no %q in mmvm's answers", want)
		}
	}
}

// TestIPCRoomBounded checks that the IPC objects' contents share a room
// as large as the guest's memory: semaphore sets, queued messages and
// POSIX queues past it are ENOMEM, and a removed object gives its room
// back, so that a guest's root cannot grow mmvm's heap without bound.
func TestIPCRoomBounded(t *testing.T) {
	c := vmIPCCaller(t)
	p := c.proc
	p.cfg.MemoryLimit = 600000 // two full semaphore sets and some messages
	want := func(what string, got int64, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s", what, retName(got))
		}
	}
	const semmsl = 32000 // 256000 bytes a set
	s1 := c.call(unix.SYS_SEMGET, 0, semmsl, unix.IPC_CREAT|0o600)
	want("first set", s1, s1 >= 0)
	s2 := c.call(unix.SYS_SEMGET, 0, semmsl, unix.IPC_CREAT|0o600)
	want("second set", s2, s2 >= 0)
	r := c.call(unix.SYS_SEMGET, 0, semmsl, unix.IPC_CREAT|0o600)
	want("third set", r, r == -int64(unix.ENOMEM))

	// 88000 bytes left: five queues of two 8192-byte messages fit, the
	// sixth's first does not.
	binary.LittleEndian.PutUint64(c.mem[0:], 1)
	var sent int
	var last int64
	for range 6 {
		q := c.call(unix.SYS_MSGGET, 0, unix.IPC_CREAT|0o600)
		if q < 0 {
			t.Fatalf("msgget: %s", retName(q))
		}
		for range 2 {
			if last = c.call(unix.SYS_MSGSND, uint64(q), c.addr(0), 8192, unix.IPC_NOWAIT); last != 0 {
				break
			}
			sent++
		}
	}
	want("messages past the room", last, sent == 10 && last == -int64(unix.ENOMEM))
	copy(c.mem[0x800:], "q\x00")
	r = c.call(unix.SYS_MQ_OPEN, c.addr(0x800), unix.O_CREAT|unix.O_RDWR, 0o600, 0)
	want("a POSIX queue past the room", r, r == -int64(unix.ENOMEM))

	// Removing a set gives its room back.
	r = c.call(unix.SYS_SEMCTL, uint64(s1), 0, unix.IPC_RMID, 0)
	want("IPC_RMID", r, r == 0)
	r = c.call(unix.SYS_MQ_OPEN, c.addr(0x800), unix.O_CREAT|unix.O_RDWR, 0o600, 0)
	want("a POSIX queue once a set is gone", r, r >= 0)
	r = c.call(unix.SYS_SEMGET, 0, semmsl, unix.IPC_CREAT|0o600)
	want("a set in what is left", r, r == -int64(unix.ENOMEM))
}
