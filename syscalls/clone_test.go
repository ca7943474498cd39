package syscalls

import (
	"encoding/binary"
	"maps"
	"testing"

	"golang.org/x/sys/unix"
)

// The flag sets the C libraries and runtimes create threads and children
// with.
const (
	glibcThread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
	goThread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD
	fork     = uint64(unix.SIGCHLD)
	spawn    = unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD) // glibc's posix_spawn
)

func TestCloneChecksAndRefusals(t *testing.T) {
	p, _, _ := newTestProcess(t)
	for _, c := range []struct {
		name  string
		flags uint64
		want  uint64
	}{
		{"glibc thread", glibcThread, neg(unix.ENOSYS)},
		{"Go thread", goThread, neg(unix.ENOSYS)},
		{"fork", fork, neg(unix.ENOSYS)},
		{"posix_spawn", spawn, neg(unix.ENOSYS)},
		{"thread without sighand", unix.CLONE_VM | unix.CLONE_THREAD, neg(unix.EINVAL)},
		{"sighand without vm", unix.CLONE_SIGHAND, neg(unix.EINVAL)},
		{"fs with a new mount namespace", unix.CLONE_FS | unix.CLONE_NEWNS, neg(unix.EINVAL)},
		{"fs with a new user namespace", unix.CLONE_FS | unix.CLONE_NEWUSER, neg(unix.EINVAL)},
	} {
		if got := p.Syscall(unix.SYS_CLONE, [6]uint64{c.flags, base + 0x1000}); got != c.want {
			t.Errorf("clone(%s): %d, want %d", c.name, int64(got), int64(c.want))
		}
	}
	want := map[CloneKind]uint64{CloneThread: 2, CloneProcess: 1, CloneVfork: 1}
	if got := p.CloneRefusals(); !maps.Equal(got, want) {
		t.Errorf("refusals %v, want %v", got, want)
	}
}

func TestClone3Args(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	const at = base + 0x2000
	put := func(flags, exitSignal, stack, stackSize uint64) {
		clear(mem.mem[at-base : at-base+arch4K])
		binary.LittleEndian.PutUint64(mem.mem[at-base:], flags)
		binary.LittleEndian.PutUint64(mem.mem[at-base+32:], exitSignal)
		binary.LittleEndian.PutUint64(mem.mem[at-base+40:], stack)
		binary.LittleEndian.PutUint64(mem.mem[at-base+48:], stackSize)
	}
	for _, c := range []struct {
		name                                string
		flags, exitSignal, stack, stackSize uint64
		size                                uint64
		tail                                bool // a nonzero byte past the known fields
		want                                uint64
	}{
		{"thread", glibcThread, 0, base, 0x1000, 88, false, neg(unix.ENOSYS)},
		{"fork", 0, uint64(unix.SIGCHLD), 0, 0, 64, false, neg(unix.ENOSYS)},
		{"size below VER0", glibcThread, 0, base, 0x1000, 56, false, neg(unix.EINVAL)},
		{"size above a page", glibcThread, 0, base, 0x1000, 4097, false, neg(unix.E2BIG)},
		{"larger, zero tail", glibcThread, 0, base, 0x1000, 128, false, neg(unix.ENOSYS)},
		{"larger, nonzero tail", glibcThread, 0, base, 0x1000, 128, true, neg(unix.E2BIG)},
		{"CSIGNAL bits in flags", glibcThread | 0x11, 0, base, 0x1000, 88, false, neg(unix.EINVAL)},
		{"CLONE_DETACHED", glibcThread | unix.CLONE_DETACHED, 0, base, 0x1000, 88, false, neg(unix.EINVAL)},
		{"exit signal 65", 0, 65, 0, 0, 88, false, neg(unix.EINVAL)},
		{"stack without size", glibcThread, 0, base, 0, 88, false, neg(unix.EINVAL)},
		{"size without stack", glibcThread, 0, 0, 0x1000, 88, false, neg(unix.EINVAL)},
		{"clear sighand with sighand", glibcThread | unix.CLONE_CLEAR_SIGHAND, 0, base, 0x1000, 88, false, neg(unix.EINVAL)},
		{"thread without sighand", unix.CLONE_VM | unix.CLONE_THREAD, 0, 0, 0, 88, false, neg(unix.EINVAL)},
	} {
		put(c.flags, c.exitSignal, c.stack, c.stackSize)
		if c.tail {
			mem.mem[at-base+100] = 1
		}
		if got := p.Syscall(unix.SYS_CLONE3, [6]uint64{at, c.size}); got != c.want {
			t.Errorf("clone3(%s): %d, want %d", c.name, int64(got), int64(c.want))
		}
	}
	if got := p.Syscall(unix.SYS_CLONE3, [6]uint64{0x1000, 88}); got != neg(unix.EFAULT) {
		t.Errorf("clone3 of unreadable args: %d, want EFAULT", int64(got))
	}
	want := map[CloneKind]uint64{CloneThread: 2, CloneProcess: 1}
	if got := p.CloneRefusals(); !maps.Equal(got, want) {
		t.Errorf("refusals %v, want %v", got, want)
	}
}

const arch4K = 4096
