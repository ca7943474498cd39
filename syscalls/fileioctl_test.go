package syscalls

import (
	"fmt"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// fileIoctlTranscript makes one file of each kind through call (pipe2,
// eventfd2, socketpair, epoll_create1, /dev/null), with mem the call's scratch memory at address at, and
// records for each what the requests every file answers do: FIONBIO,
// FIOCLEX, FIONCLEX, FIOASYNC (with F_GETFL and F_GETFD after each),
// FIOQSIZE, and FIONBIO with an unreadable argument.
func fileIoctlTranscript(call func(nr uint64, a ...uint64) int64, mem []byte, at uint64) []string {
	var out []string
	fds := func(off int) (int64, int64) {
		return int64(int32(uint32(mem[off]) | uint32(mem[off+1])<<8 | uint32(mem[off+2])<<16 | uint32(mem[off+3])<<24)),
			int64(int32(uint32(mem[off+4]) | uint32(mem[off+5])<<8 | uint32(mem[off+6])<<16 | uint32(mem[off+7])<<24))
	}
	copy(mem[0x100:], "/dev/null\x00")
	var files []struct {
		name string
		fd   int64
	}
	add := func(name string, fd int64) {
		files = append(files, struct {
			name string
			fd   int64
		}{name, fd})
	}
	if call(unix.SYS_PIPE2, at, 0) == 0 {
		r, w := fds(0)
		add("pipe", r)
		defer call(unix.SYS_CLOSE, uint64(w))
	}
	add("eventfd", call(unix.SYS_EVENTFD2, 0, 0))
	if call(unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM, 0, at) == 0 {
		a, b := fds(0)
		add("socket", a)
		defer call(unix.SYS_CLOSE, uint64(b))
	}
	add("epoll", call(unix.SYS_EPOLL_CREATE1, 0))
	add("/dev/null", call(unix.SYS_OPENAT, uint64(unix.AT_FDCWD&0xffffffff), at+0x100, unix.O_RDWR))
	set := func(v uint32) uint64 {
		mem[0x80], mem[0x81], mem[0x82], mem[0x83] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		return at + 0x80
	}
	for _, f := range files {
		if f.fd < 0 {
			out = append(out, fmt.Sprintf("%s: %s", f.name, retName(f.fd)))
			continue
		}
		fd := uint64(f.fd)
		flags := func() string {
			fl, cl := call(unix.SYS_FCNTL, fd, unix.F_GETFL), call(unix.SYS_FCNTL, fd, unix.F_GETFD)
			return fmt.Sprintf("nonblock %v async %v cloexec %v", fl&unix.O_NONBLOCK != 0, fl&unix.O_ASYNC != 0, cl&unix.FD_CLOEXEC != 0)
		}
		for _, step := range []struct {
			what string
			req  uint64
			arg  func() uint64
		}{
			{"FIONBIO 1", fionbio, func() uint64 { return set(1) }},
			{"FIONBIO 0", fionbio, func() uint64 { return set(0) }},
			{"FIOCLEX", fioclex, func() uint64 { return 0 }},
			{"FIONCLEX", fionclex, func() uint64 { return 0 }},
			{"FIOASYNC 1", fioasync, func() uint64 { return set(1) }},
			{"FIOASYNC 0", fioasync, func() uint64 { return set(0) }},
			{"FIONBIO unreadable", fionbio, func() uint64 { return 8 }},
		} {
			r := call(unix.SYS_IOCTL, fd, step.req, step.arg())
			out = append(out, fmt.Sprintf("%s %s: %s; %s", f.name, step.what, retName(r), flags()))
		}
		clear(mem[0x88:0x90])
		r := call(unix.SYS_IOCTL, fd, fioqsize, at+0x88)
		out = append(out, fmt.Sprintf("%s FIOQSIZE: %s %x", f.name, retName(r), mem[0x88:0x90]))
		call(unix.SYS_CLOSE, fd)
	}
	return out
}

// TestFileIoctlsLikeLinux compares the requests every file answers
// (FIONBIO, FIOCLEX, FIONCLEX, FIOASYNC, FIOQSIZE) on each kind of file
// with the host kernel's answers.
func TestFileIoctlsLikeLinux(t *testing.T) {
	host := hostMem(4096)
	want := fileIoctlTranscript(func(nr uint64, a ...uint64) int64 {
		var v [6]uintptr
		for i, x := range a {
			v[i] = uintptr(x)
		}
		r, _, e := unix.Syscall6(uintptr(nr), v[0], v[1], v[2], v[3], v[4], v[5])
		if e != 0 {
			return -int64(e)
		}
		return int64(r)
	}, host, uint64(hostAddr(host)))

	p, mem, _ := newTestProcess(t)
	got := fileIoctlTranscript(func(nr uint64, a ...uint64) int64 {
		var v [6]uint64
		copy(v[:], a)
		return int64(p.Syscall(nr, v))
	}, mem.mem[:4096], base)
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("mmvm %q\n           host %q", g, w)
			}
		}
	}
}
