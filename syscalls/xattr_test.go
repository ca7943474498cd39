package syscalls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// The extended attribute calls are compared with the host kernel's
// answers: one script of calls (xattrScript) runs against a tmpfs the
// test mounts on the host, in a mount namespace of one locked thread, and
// against mmvm's /tmp; both transcripts must match line for line.

// outBuf is a script argument: an output buffer of that many bytes,
// whose first RAX bytes the transcript shows.
type outBuf int

// xattrSys runs one call with script arguments: string (a C string),
// []byte (input bytes), outBuf, or a number.
type xattrSys interface {
	// dir is the tmpfs's path.
	dir() string
	call(nr uint64, args ...any) (int64, []byte)
}

// hostXattrSys makes its calls on the host thread that runs it.
type hostXattrSys struct{ root string }

func (h *hostXattrSys) dir() string { return h.root }

func (h *hostXattrSys) call(nr uint64, args ...any) (int64, []byte) {
	var a [6]uintptr
	var out []byte
	var keep [][]byte
	for i, v := range args {
		switch v := v.(type) {
		case string:
			b := append([]byte(v), 0)
			keep = append(keep, b)
			a[i] = uintptr(unsafe.Pointer(&b[0]))
		case []byte:
			b := append([]byte(nil), v...)
			if len(b) == 0 {
				b = []byte{0}
			}
			keep = append(keep, b)
			a[i] = uintptr(unsafe.Pointer(&b[0]))
		case outBuf:
			out = make([]byte, int(v)+1)
			a[i] = uintptr(unsafe.Pointer(&out[0]))
		case int:
			a[i] = uintptr(v)
		case uint64:
			a[i] = uintptr(v)
		}
	}
	r, _, e := unix.Syscall6(uintptr(nr), a[0], a[1], a[2], a[3], a[4], a[5])
	runtime.KeepAlive(keep)
	if e != 0 {
		return -int64(e), nil
	}
	return int64(r), out
}

// guestXattrSys makes its calls in a test process, its arguments in the
// process's flat memory.
type guestXattrSys struct {
	p   *Process
	mem *flatMemory
}

func (g *guestXattrSys) dir() string { return "/tmp" }

func (g *guestXattrSys) call(nr uint64, args ...any) (int64, []byte) {
	var a [6]uint64
	off := 0
	var outAt, outLen int
	for i, v := range args {
		switch v := v.(type) {
		case string:
			copy(g.mem.mem[off:], v+"\x00")
			a[i] = uint64(base + off)
			off += len(v) + 1
		case []byte:
			copy(g.mem.mem[off:], v)
			a[i] = uint64(base + off)
			off += len(v) + 1
		case outBuf:
			outAt, outLen = off, int(v)
			clear(g.mem.mem[off : off+int(v)+1])
			a[i] = uint64(base + off)
			off += int(v) + 1
		case int:
			a[i] = uint64(v)
		case uint64:
			a[i] = v
		}
		off = (off + 15) &^ 15
	}
	r := int64(g.p.Syscall(nr, a))
	if outLen == 0 && outAt == 0 && !hasOut(args) {
		return r, nil
	}
	return r, append([]byte(nil), g.mem.mem[outAt:outAt+outLen+1]...)
}

func hasOut(args []any) bool {
	for _, v := range args {
		if _, ok := v.(outBuf); ok {
			return true
		}
	}
	return false
}

// xattrArgs is a struct xattr_args for the *xattrat calls, padded with
// tail to usize bytes.
func xattrArgs(value uint64, size, flags uint32, tail []byte) []byte {
	b := make([]byte, 16, 16+len(tail))
	binary.LittleEndian.PutUint64(b, value)
	binary.LittleEndian.PutUint32(b[8:], size)
	binary.LittleEndian.PutUint32(b[12:], flags)
	return append(b, tail...)
}

// transcript records a script's results.
type transcript struct {
	s     xattrSys
	lines []string
}

// do makes a call and records its result, and the bytes an outBuf got
// (RAX of them, at most its size).
func (tr *transcript) do(what string, nr uint64, args ...any) int64 {
	r, out := tr.s.call(nr, args...)
	line := fmt.Sprintf("%s = %s", what, retName(r))
	if out != nil && r > 0 && int(r) < len(out) {
		line += fmt.Sprintf(" %q", out[:r])
	}
	tr.lines = append(tr.lines, line)
	return r
}

// fd makes a call that returns an fd and records only whether it did.
func (tr *transcript) fd(what string, nr uint64, args ...any) int {
	r, _ := tr.s.call(nr, args...)
	ok := "fd"
	if r < 0 {
		ok = retName(r)
	}
	tr.lines = append(tr.lines, what+" = "+ok)
	return int(r)
}

func retName(r int64) string {
	if r < 0 {
		return unix.ErrnoName(unix.Errno(-r))
	}
	return fmt.Sprint(r)
}

// pair makes a pipe or socket pair into an outBuf and returns its fds.
func (tr *transcript) pair(what string, nr uint64, args ...any) (int, int) {
	r, out := tr.s.call(nr, args...)
	tr.lines = append(tr.lines, what+" = "+retName(r))
	return int(int32(binary.LittleEndian.Uint32(out))), int(int32(binary.LittleEndian.Uint32(out[4:])))
}

// xattrScript is the calls as root, on a tmpfs with no inode limit.
func xattrScript(tr *transcript) {
	d := tr.s.dir()
	f, dir, link, fifo, sticky := d+"/f", d+"/d", d+"/l", d+"/fifo", d+"/s"
	tr.do("chdir", unix.SYS_CHDIR, d) // the host thread's own: its fs_struct is unshared
	fd := tr.fd("open f", unix.SYS_OPEN, f, unix.O_CREAT|unix.O_RDWR, 0o644)
	tr.do("mkdir d", unix.SYS_MKDIR, dir, 0o755)
	tr.do("mkdir s", unix.SYS_MKDIR, sticky, 0o1777)
	tr.do("chmod s", unix.SYS_CHMOD, sticky, 0o1777)
	tr.do("symlink", unix.SYS_SYMLINK, f, link)
	tr.do("mknod fifo", unix.SYS_MKNOD, fifo, unix.S_IFIFO|0o644, 0)

	set := func(nr uint64, p, name string, v []byte, flags int) {
		tr.do(fmt.Sprintf("%s %s %s %d bytes %d", Name(nr), strings.TrimPrefix(p, d), name, len(v), flags), nr, p, name, v, len(v), flags)
	}
	get := func(nr uint64, p, name string, size int) {
		tr.do(fmt.Sprintf("%s %s %s %d", Name(nr), strings.TrimPrefix(p, d), name, size), nr, p, name, outBuf(size), size)
	}
	list := func(nr uint64, p string, size int) {
		tr.do(fmt.Sprintf("%s %s %d", Name(nr), strings.TrimPrefix(p, d), size), nr, p, outBuf(size), size)
	}
	for _, n := range []string{"user.b", "user.a", "trusted.z", "security.q", "user.zz"} {
		set(unix.SYS_SETXATTR, f, n, []byte(n[len(n)-1:]+"!"), 0)
	}
	set(unix.SYS_SETXATTR, f, "user.c", nil, 0)
	list(unix.SYS_LISTXATTR, f, 4096)
	list(unix.SYS_LISTXATTR, f, 0)
	list(unix.SYS_LISTXATTR, f, 3)
	get(unix.SYS_GETXATTR, f, "user.a", 0)
	get(unix.SYS_GETXATTR, f, "user.a", 1)
	get(unix.SYS_GETXATTR, f, "user.a", 100)
	get(unix.SYS_GETXATTR, f, "user.c", 10)
	get(unix.SYS_GETXATTR, f, "user.nope", 10)
	get(unix.SYS_GETXATTR, f, "security.q", 10)
	get(unix.SYS_GETXATTR, f, "trusted.z", 10)
	for _, n := range []string{"foo.bar", "user.", "user", "trusted.", "security.", "system.x", "system.sockprotoname"} {
		set(unix.SYS_SETXATTR, f, n, []byte("1"), 0)
		get(unix.SYS_GETXATTR, f, n, 10)
		tr.do("removexattr f "+n, unix.SYS_REMOVEXATTR, f, n)
	}
	set(unix.SYS_SETXATTR, f, "", []byte("1"), 0)
	set(unix.SYS_SETXATTR, f, "user."+strings.Repeat("n", 250), []byte("1"), 0)
	set(unix.SYS_SETXATTR, f, "user."+strings.Repeat("n", 251), []byte("1"), 0)
	get(unix.SYS_GETXATTR, f, "user."+strings.Repeat("n", 251), 10)
	set(unix.SYS_SETXATTR, f, "user.a", []byte("x"), unix.XATTR_CREATE)
	set(unix.SYS_SETXATTR, f, "user.n", []byte("x"), unix.XATTR_REPLACE)
	set(unix.SYS_SETXATTR, f, "user.a", []byte("new"), unix.XATTR_REPLACE)
	set(unix.SYS_SETXATTR, f, "user.n", []byte("x"), unix.XATTR_CREATE)
	set(unix.SYS_SETXATTR, f, "user.n", []byte("x"), 4)
	set(unix.SYS_SETXATTR, f, "user.n", []byte("x"), 3)
	set(unix.SYS_SETXATTR, f, "user.big", bytes.Repeat([]byte{7}, xattrSizeMax), 0)
	get(unix.SYS_GETXATTR, f, "user.big", 0)
	get(unix.SYS_GETXATTR, f, "user.big", xattrSizeMax-1)
	tr.do("setxattr 65537", unix.SYS_SETXATTR, f, "user.n", make([]byte, 16), xattrSizeMax+1, 0)
	tr.do("getxattr bad name", unix.SYS_GETXATTR, f, 8, outBuf(10), 10)
	tr.do("removexattr user.big", unix.SYS_REMOVEXATTR, f, "user.big")
	tr.do("removexattr user.nope", unix.SYS_REMOVEXATTR, f, "user.nope")
	tr.do("removexattr user.b", unix.SYS_REMOVEXATTR, f, "user.b")
	list(unix.SYS_LISTXATTR, f, 4096)
	tr.do("listxattr missing", unix.SYS_LISTXATTR, d+"/missing", outBuf(10), 10)

	// A symbolic link: user.* is for regular files and directories.
	set(unix.SYS_LSETXATTR, link, "user.x", []byte("1"), 0)
	get(unix.SYS_LGETXATTR, link, "user.x", 10)
	set(unix.SYS_LSETXATTR, link, "trusted.x", []byte("l"), 0)
	list(unix.SYS_LLISTXATTR, link, 100)
	get(unix.SYS_GETXATTR, link, "user.a", 10)
	list(unix.SYS_LISTXATTR, link, 100)
	set(unix.SYS_SETXATTR, dir, "user.x", []byte("d"), 0)
	list(unix.SYS_LISTXATTR, dir, 100)
	set(unix.SYS_SETXATTR, sticky, "user.x", []byte("s"), 0)
	set(unix.SYS_SETXATTR, fifo, "user.x", []byte("1"), 0)
	get(unix.SYS_GETXATTR, fifo, "user.x", 10)
	set(unix.SYS_SETXATTR, fifo, "trusted.x", []byte("p"), 0)
	list(unix.SYS_LISTXATTR, fifo, 100)

	// The fd forms, and O_PATH's EBADF.
	tr.do("fsetxattr", unix.SYS_FSETXATTR, fd, "user.fd", "v", 1, 0)
	tr.do("fgetxattr", unix.SYS_FGETXATTR, fd, "user.fd", outBuf(10), 10)
	tr.do("flistxattr", unix.SYS_FLISTXATTR, fd, outBuf(200), 200)
	tr.do("fremovexattr", unix.SYS_FREMOVEXATTR, fd, "user.fd")
	tr.do("fremovexattr again", unix.SYS_FREMOVEXATTR, fd, "user.fd")
	tr.do("fsetxattr bad fd", unix.SYS_FSETXATTR, 999, "user.fd", "v", 1, 0)
	tr.do("fsetxattr bad flags", unix.SYS_FSETXATTR, fd, "user.fd", "v", 1, 8)
	ro := tr.fd("open f O_RDONLY", unix.SYS_OPEN, f, unix.O_RDONLY, 0)
	tr.do("fsetxattr read-only fd", unix.SYS_FSETXATTR, ro, "user.ro", "v", 1, 0)
	opath := tr.fd("open f O_PATH", unix.SYS_OPEN, f, unix.O_PATH, 0)
	tr.do("fgetxattr O_PATH", unix.SYS_FGETXATTR, opath, "user.a", outBuf(10), 10)
	tr.do("fsetxattr O_PATH", unix.SYS_FSETXATTR, opath, "user.a", "v", 1, 0)
	tr.do("flistxattr O_PATH", unix.SYS_FLISTXATTR, opath, outBuf(10), 10)
	tr.do("fremovexattr O_PATH", unix.SYS_FREMOVEXATTR, opath, "user.a")
	dfd := tr.fd("open d", unix.SYS_OPEN, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	tr.do("fgetxattr dir", unix.SYS_FGETXATTR, dfd, "user.x", outBuf(10), 10)

	// The *at forms and struct xattr_args.
	for _, c := range []struct {
		what    string
		dirfd   int
		path    any
		atFlags int
		args    []byte
	}{
		{"fd empty", fd, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, nil)},
		{"fd NULL", fd, 0, unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, nil)},
		{"fd NULL no flag", fd, 0, 0, xattrArgs(0, 0, 0, nil)},
		{"fd empty no flag", fd, "", 0, xattrArgs(0, 0, 0, nil)},
		{"O_PATH empty", opath, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, nil)},
		{"cwd empty", unix.AT_FDCWD, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, nil)},
		{"dirfd relative", dfd, "../f", 0, xattrArgs(0, 0, 0, nil)},
		{"link nofollow", unix.AT_FDCWD, link, unix.AT_SYMLINK_NOFOLLOW, xattrArgs(0, 0, 0, nil)},
		{"bad at flags", unix.AT_FDCWD, f, 0x200, xattrArgs(0, 0, 0, nil)},
		{"short args", fd, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, nil)[:15]},
		{"zero tail", fd, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, make([]byte, 8))},
		{"nonzero tail", fd, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, []byte{0, 0, 1})},
		{"page tail", fd, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 0, make([]byte, 4096-15))},
		{"get flags", fd, "", unix.AT_EMPTY_PATH, xattrArgs(0, 0, 1, nil)},
	} {
		tr.do("getxattrat "+c.what, unix.SYS_GETXATTRAT, c.dirfd, c.path, c.atFlags, "user.a", c.args, len(c.args))
		tr.do("listxattrat "+c.what, unix.SYS_LISTXATTRAT, c.dirfd, c.path, c.atFlags, outBuf(200), 200)
	}
	tr.do("getxattrat NULL args", unix.SYS_GETXATTRAT, fd, "", unix.AT_EMPTY_PATH, "user.a", 0, 16)
	tr.do("setxattrat value", unix.SYS_SETXATTRAT, unix.AT_FDCWD, f, 0, "user.at", xattrArgs(0, 0, unix.XATTR_CREATE, nil), 16)
	tr.do("setxattrat again", unix.SYS_SETXATTRAT, unix.AT_FDCWD, f, 0, "user.at", xattrArgs(0, 0, unix.XATTR_CREATE, nil), 16)
	tr.do("setxattrat bad flags", unix.SYS_SETXATTRAT, unix.AT_FDCWD, f, 0, "user.at", xattrArgs(0, 0, 9, nil), 16)
	tr.do("setxattrat link", unix.SYS_SETXATTRAT, unix.AT_FDCWD, link, unix.AT_SYMLINK_NOFOLLOW, "trusted.at", xattrArgs(0, 0, 0, nil), 16)
	tr.do("removexattrat", unix.SYS_REMOVEXATTRAT, unix.AT_FDCWD, f, 0, "user.at")
	tr.do("removexattrat empty", unix.SYS_REMOVEXATTRAT, fd, "", unix.AT_EMPTY_PATH, "user.at")
	tr.do("removexattrat link", unix.SYS_REMOVEXATTRAT, unix.AT_FDCWD, link, unix.AT_SYMLINK_NOFOLLOW, "trusted.at")
	tr.do("setxattrat cwd empty", unix.SYS_SETXATTRAT, unix.AT_FDCWD, "", unix.AT_EMPTY_PATH, "user.at", xattrArgs(0, 0, 0, nil), 16)
	tr.do("removexattrat cwd empty", unix.SYS_REMOVEXATTRAT, unix.AT_FDCWD, "", unix.AT_EMPTY_PATH, "user.at")
	tr.do("removexattrat -5 empty", unix.SYS_REMOVEXATTRAT, -5, "", unix.AT_EMPTY_PATH, "user.at")
	tr.do("getxattrat -5 empty", unix.SYS_GETXATTRAT, -5, "", unix.AT_EMPTY_PATH, "user.at", xattrArgs(0, 0, 0, nil), 16)
	tr.do("removexattrat bad flags", unix.SYS_REMOVEXATTRAT, unix.AT_FDCWD, f, 1, "user.at")
	list(unix.SYS_LISTXATTR, f, 4096)

	// File capabilities: validated, converted, dropped by a write.
	caps := func(magic uint32, root uint32, size int) []byte {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint32(b, magic)
		binary.LittleEndian.PutUint32(b[4:], 1<<unix.CAP_NET_RAW)
		binary.LittleEndian.PutUint32(b[20:], root)
		return b[:size]
	}
	set(unix.SYS_SETXATTR, f, xattrCaps, []byte("abc"), 0)
	set(unix.SYS_SETXATTR, f, xattrCaps, caps(capRevision3, 0, 20), 0)
	set(unix.SYS_SETXATTR, f, xattrCaps, caps(capRevision2|capFlagsEff, 0, 20), 0)
	get(unix.SYS_GETXATTR, f, xattrCaps, 100)
	set(unix.SYS_SETXATTR, f, xattrCaps, caps(capRevision3|capFlagsEff|0x100, 0, 24), 0)
	get(unix.SYS_GETXATTR, f, xattrCaps, 100)
	get(unix.SYS_GETXATTR, f, xattrCaps, 0)
	set(unix.SYS_SETXATTR, f, xattrCaps, caps(capRevision3, 1000, 24), 0)
	get(unix.SYS_GETXATTR, f, xattrCaps, 100)
	get(unix.SYS_GETXATTR, f, xattrCaps, 10)
	set(unix.SYS_SETXATTR, f, xattrCaps, caps(capRevision3, noID, 24), 0)
	tr.do("write f", unix.SYS_WRITE, fd, "x", 1)
	get(unix.SYS_GETXATTR, f, xattrCaps, 100)
	set(unix.SYS_SETXATTR, f, xattrCaps, caps(capRevision2, 0, 20), 0)
	tr.do("chown f", unix.SYS_CHOWN, f, 0, 0)
	get(unix.SYS_GETXATTR, f, xattrCaps, 100)
	set(unix.SYS_SETXATTR, f, xattrCaps, nil, 0)
	get(unix.SYS_GETXATTR, f, xattrCaps, 100)
	tr.do("removexattr caps", unix.SYS_REMOVEXATTR, f, xattrCaps)

	// memfds are tmpfs files; pipes, sockets, anon inodes and /proc
	// have no handlers (sockets their protocol's name).
	mfd := tr.fd("memfd_create", unix.SYS_MEMFD_CREATE, "m", 0)
	tr.do("memfd fsetxattr", unix.SYS_FSETXATTR, mfd, "user.m", "v", 1, 0)
	tr.do("memfd fsetxattr trusted", unix.SYS_FSETXATTR, mfd, "trusted.m", "t", 1, 0)
	tr.do("memfd flistxattr", unix.SYS_FLISTXATTR, mfd, outBuf(100), 100)
	tr.do("memfd fgetxattr", unix.SYS_FGETXATTR, mfd, "user.m", outBuf(100), 100)
	// A list past XATTR_LIST_MAX: its length for size 0, E2BIG for a
	// buffer of XATTR_LIST_MAX or more, ERANGE below.
	for i := range 260 {
		name := fmt.Sprintf("user.%03d%s", i, strings.Repeat("x", 247))
		if r, _ := tr.s.call(unix.SYS_FSETXATTR, mfd, name, "", 0, 0); r != 0 {
			tr.lines = append(tr.lines, fmt.Sprintf("memfd fsetxattr %d = %s", i, retName(r)))
			break
		}
	}
	tr.do("memfd flistxattr long, size 0", unix.SYS_FLISTXATTR, mfd, 0, 0)
	r, _ := tr.s.call(unix.SYS_FLISTXATTR, mfd, outBuf(70000), 70000)
	tr.lines = append(tr.lines, "memfd flistxattr long, size 70000 = "+retName(r))
	r, _ = tr.s.call(unix.SYS_FLISTXATTR, mfd, outBuf(60000), 60000)
	tr.lines = append(tr.lines, "memfd flistxattr long, size 60000 = "+retName(r))
	tr.do("memfd fgetxattr size past XATTR_SIZE_MAX", unix.SYS_FGETXATTR, mfd, "user.m", outBuf(100), 1<<20)
	r0, w0 := tr.pair("pipe2", unix.SYS_PIPE2, outBuf(8), 0)
	s0, s1 := tr.pair("socketpair stream", unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM, 0, outBuf(8))
	d0, d1 := tr.pair("socketpair dgram", unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_DGRAM, 0, outBuf(8))
	efd := tr.fd("eventfd2", unix.SYS_EVENTFD2, 0, 0)
	for _, c := range []struct {
		what string
		fd   int
	}{{"pipe", r0}, {"stream", s0}, {"dgram", d0}, {"eventfd", efd}} {
		for _, n := range []string{"user.x", "trusted.x", "security.x", "system.sockprotoname", "foo.x", "security."} {
			tr.do(c.what+" fsetxattr "+n, unix.SYS_FSETXATTR, c.fd, n, "v", 1, 0)
			tr.do(c.what+" fgetxattr "+n, unix.SYS_FGETXATTR, c.fd, n, outBuf(100), 100)
			tr.do(c.what+" fremovexattr "+n, unix.SYS_FREMOVEXATTR, c.fd, n)
		}
		tr.do(c.what+" flistxattr", unix.SYS_FLISTXATTR, c.fd, outBuf(100), 100)
		tr.do(c.what+" flistxattr 0", unix.SYS_FLISTXATTR, c.fd, outBuf(0), 0)
		tr.do(c.what+" flistxattr 5", unix.SYS_FLISTXATTR, c.fd, outBuf(5), 5)
	}
	for _, p := range []struct{ label, path string }{
		{"status", "/proc/self/status"}, {"self", "/proc/self"}, {"pipe link", fmt.Sprintf("/proc/self/fd/%d", r0)},
		{"proc", "/proc"}, {"fd dir", "/proc/self/fd"}, {"sys", "/proc/sys/kernel/hostname"},
	} {
		for _, n := range []string{"user.x", "trusted.x", "security.x", "user."} {
			for _, nr := range []uint64{unix.SYS_GETXATTR, unix.SYS_LGETXATTR} {
				tr.do(fmt.Sprintf("%s %s %s", Name(nr), p.label, n), nr, p.path, n, outBuf(10), 10)
			}
			tr.do("setxattr "+p.label+" "+n, unix.SYS_SETXATTR, p.path, n, "1", 1, 0)
		}
		for _, nr := range []uint64{unix.SYS_LISTXATTR, unix.SYS_LLISTXATTR} {
			tr.do(Name(nr)+" "+p.label, nr, p.path, outBuf(100), 100)
		}
	}
	for _, c := range []int{fd, ro, opath, dfd, mfd, r0, w0, s0, s1, d0, d1, efd} {
		tr.s.call(unix.SYS_CLOSE, c)
	}
}

// xattrUserScript is the calls as uid 1000 with no capabilities, on the
// files xattrScript left.
func xattrUserScript(tr *transcript) {
	d := tr.s.dir()
	f, sticky := d+"/f", d+"/s"
	tr.do("setresuid", unix.SYS_SETRESUID, 1000, 1000, 1000)
	for _, n := range []string{"user.a", "trusted.z", "security.q", "foo.x"} {
		tr.do("getxattr "+n, unix.SYS_GETXATTR, f, n, outBuf(10), 10)
		tr.do("setxattr "+n, unix.SYS_SETXATTR, f, n, "u", 1, 0)
		tr.do("removexattr "+n, unix.SYS_REMOVEXATTR, f, n)
	}
	tr.do("listxattr f", unix.SYS_LISTXATTR, f, outBuf(200), 200)
	tr.do("setxattr sticky", unix.SYS_SETXATTR, sticky, "user.y", "u", 1, 0)
	tr.do("getxattr sticky", unix.SYS_GETXATTR, sticky, "user.x", outBuf(10), 10)
	own := d + "/s/own"
	fd := tr.fd("open own", unix.SYS_OPEN, own, unix.O_CREAT|unix.O_RDWR, 0o600)
	tr.do("setxattr own user", unix.SYS_SETXATTR, own, "user.o", "o", 1, 0)
	tr.do("setxattr own trusted", unix.SYS_SETXATTR, own, "trusted.o", "o", 1, 0)
	tr.do("setxattr own security", unix.SYS_SETXATTR, own, "security.o", "o", 1, 0)
	caps := make([]byte, 20)
	binary.LittleEndian.PutUint32(caps, capRevision2)
	tr.do("setxattr own caps", unix.SYS_SETXATTR, own, xattrCaps, caps, 20, 0)
	tr.do("listxattr own", unix.SYS_LISTXATTR, own, outBuf(200), 200)
	tr.do("mkdir own dir", unix.SYS_MKDIR, d+"/s/od", 0o1777)
	tr.do("setxattr own sticky dir", unix.SYS_SETXATTR, d+"/s/od", "user.o", "o", 1, 0)
	tr.s.call(unix.SYS_CLOSE, fd)
}

// xattrSpaceScript fills a tmpfs of 4 inodes' room (shmem's free_ispace)
// with attributes.
func xattrSpaceScript(tr *transcript) {
	d := tr.s.dir()
	f := d + "/f"
	fd := tr.fd("open f", unix.SYS_OPEN, f, unix.O_CREAT|unix.O_RDWR, 0o644)
	room := 2*tmpfsInodeSpace - xattrSpaceBase - len("user.ab")
	statfs := func() {
		var st unix.Statfs_t
		r, out := tr.s.call(unix.SYS_STATFS, d, outBuf(int(unsafe.Sizeof(st))))
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st)), out)
		tr.lines = append(tr.lines, fmt.Sprintf("statfs = %d files %d ffree %d", r, st.Files, st.Ffree))
	}
	v := make([]byte, room+1)
	statfs()
	tr.do("set room+1", unix.SYS_SETXATTR, f, "user.ab", v, room+1, 0)
	tr.do("set room", unix.SYS_SETXATTR, f, "user.ab", v, room, 0)
	statfs()
	tr.do("replace same size", unix.SYS_SETXATTR, f, "user.ab", v, room, 0)
	tr.do("create existing", unix.SYS_SETXATTR, f, "user.ab", v, room, unix.XATTR_CREATE)
	tr.do("set empty", unix.SYS_SETXATTR, f, "user.c", v, 0, 0)
	tr.do("open g", unix.SYS_OPEN, d+"/g", unix.O_CREAT|unix.O_RDWR, 0o644)
	tr.do("remove", unix.SYS_REMOVEXATTR, f, "user.ab")
	statfs()
	tr.do("set half", unix.SYS_SETXATTR, f, "user.ab", v, room/2, 0)
	tr.do("set empty", unix.SYS_SETXATTR, f, "user.c", v, 0, 0)
	g := tr.fd("open g", unix.SYS_OPEN, d+"/g", unix.O_CREAT|unix.O_RDWR, 0o644)
	tr.do("set g", unix.SYS_SETXATTR, d+"/g", "trusted.g", v, 100, 0)
	statfs()
	tr.do("unlink g", unix.SYS_UNLINK, d+"/g")
	statfs()
	tr.do("set after unlink", unix.SYS_SETXATTR, f, "user.ab", v, room/2+tmpfsInodeSpace/2, 0)
	tr.s.call(unix.SYS_CLOSE, fd)
	tr.s.call(unix.SYS_CLOSE, g)
}

// onHostTmpfs runs f on a fresh host tmpfs (mounted with opts) in a
// mount namespace of a locked thread of its own, which ends with it.
func onHostTmpfs(t *testing.T, opts string, f func(dir string)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs takes root")
	}
	dir := t.TempDir()
	// The unprivileged scripts reach it (the tmpfs root is 1777).
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the namespace
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
			errc <- err
			return
		}
		f(dir)
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Skipf("no private tmpfs here: %v", err)
	}
}

// xattrProcess is a test process with tmpfs files, memfds and memory
// enough for XATTR_SIZE_MAX values; memLimit sets its tmpfs's room.
func xattrProcess(t *testing.T, memLimit uint64) (*Process, *flatMemory) {
	t.Helper()
	mem := &flatMemory{base: base, mem: make([]byte, 1<<20)}
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "xattr-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	p := NewProcess(Config{
		Memory: mem, StdioFDs: [3]int{-1, -1, -1}, PID: 42, MemoryLimit: memLimit,
		Now:    time.Now,
		Random: func(b []byte) {},
		Limits: map[int]Limit{unix.RLIMIT_STACK: {8 << 20, 1 << 30}},
	})
	p.cfg.NewTmpfsFile = func(dev, ino uint64) TmpfsFile { return mm.NewTmpfsFile(mf, dev, ino) }
	p.cfg.NewSharedFile = func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) }
	t.Cleanup(p.Close)
	return p, mem
}

// compareTranscripts fails for each line where mmvm's differs from the
// host's.
func compareTranscripts(t *testing.T, host, guest []string) {
	t.Helper()
	for i := range max(len(host), len(guest)) {
		var h, g string
		if i < len(host) {
			h = host[i]
		}
		if i < len(guest) {
			g = guest[i]
		}
		if h != g {
			t.Errorf("line %d:\n host: %s\n mmvm: %s", i, h, g)
		}
	}
}

// TestXattrsLikeLinux compares the extended attribute calls on a tmpfs,
// memfds, pipes, sockets, eventfds and /proc with the host kernel's, as
// root and then as an unprivileged user.
func TestXattrsLikeLinux(t *testing.T) {
	var host []string
	onHostTmpfs(t, "", func(dir string) {
		tr := &transcript{s: &hostXattrSys{root: dir}}
		xattrScript(tr)
		xattrUserScript(tr)
		host = tr.lines
	})
	p, mem := xattrProcess(t, 0)
	tr := &transcript{s: &guestXattrSys{p: p, mem: mem}}
	xattrScript(tr)
	xattrUserScript(tr)
	compareTranscripts(t, host, tr.lines)
	if os.Getenv("MMVM_TEST_XATTR_DUMP") != "" {
		t.Logf("host transcript:\n%s", strings.Join(host, "\n"))
	}
}

// TestXattrSpaceLikeLinux compares a tmpfs's room for attributes, which
// its inodes share (nr_inodes=4: mmvm's tmpfs takes its inode limit from
// the guest's memory, a page per inode for half of it).
func TestXattrSpaceLikeLinux(t *testing.T) {
	var host []string
	onHostTmpfs(t, "nr_inodes=4", func(dir string) {
		tr := &transcript{s: &hostXattrSys{root: dir}}
		xattrSpaceScript(tr)
		host = tr.lines
	})
	if !strings.Contains(strings.Join(host, "\n"), "ENOSPC") {
		t.Fatalf("the host's tmpfs never ran out of room:\n%s", strings.Join(host, "\n"))
	}
	p, mem := xattrProcess(t, 4*2*4096)
	tr := &transcript{s: &guestXattrSys{p: p, mem: mem}}
	xattrSpaceScript(tr)
	compareTranscripts(t, host, tr.lines)
}

// TestXattrsOfViews checks a view's files: get and list show the host
// file's attributes (a link's own with the l forms; trusted.* only with
// CAP_SYS_ADMIN), set and remove are EROFS, as on a read-only mount.
func TestXattrsOfViews(t *testing.T) {
	root, _ := viewTree(t)
	a := filepath.Join(root, "a.txt")
	if err := unix.Setxattr(a, "user.host", []byte("hv"), 0); err != nil {
		t.Skipf("no user xattrs on the host's %s: %v", root, err)
	}
	if err := unix.Lsetxattr(filepath.Join(root, "link-in"), "trusted.link", []byte("lv"), 0); err != nil {
		t.Skipf("no trusted xattrs here: %v", err)
	}
	if err := unix.Setxattr(filepath.Join(root, "sub"), "trusted.dir", []byte("dv"), 0); err != nil {
		t.Fatal(err)
	}
	p, mem := xattrProcess(t, 0)
	p.cfg.Views = []View{{Host: root, Guest: "/data"}}
	g := &guestXattrSys{p: p, mem: mem}
	hostList := func(path string, follow bool) string {
		buf := make([]byte, 1024)
		var n int
		var err error
		if follow {
			n, err = unix.Listxattr(path, buf)
		} else {
			n, err = unix.Llistxattr(path, buf)
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	check := func(what string, wantR int64, want string, nr uint64, args ...any) {
		t.Helper()
		r, out := g.call(nr, args...)
		got := ""
		if r > 0 && out != nil {
			got = string(out[:r])
		}
		if r != wantR || got != want {
			t.Errorf("%s = %d %q, want %d %q", what, r, got, wantR, want)
		}
	}
	check("getxattr", 2, "hv", unix.SYS_GETXATTR, "/data/a.txt", "user.host", outBuf(10), 10)
	check("getxattr size 0", 2, "", unix.SYS_GETXATTR, "/data/a.txt", "user.host", 0, 0)
	check("getxattr small", -int64(unix.ERANGE), "", unix.SYS_GETXATTR, "/data/a.txt", "user.host", outBuf(1), 1)
	check("getxattr missing", -int64(unix.ENODATA), "", unix.SYS_GETXATTR, "/data/a.txt", "user.nope", outBuf(10), 10)
	check("getxattr through link", 2, "hv", unix.SYS_GETXATTR, "/data/link-in", "user.host", outBuf(10), 10)
	check("lgetxattr link", 2, "lv", unix.SYS_LGETXATTR, "/data/link-in", "trusted.link", outBuf(10), 10)
	check("lgetxattr link user", -int64(unix.ENODATA), "", unix.SYS_LGETXATTR, "/data/link-in", "user.host", outBuf(10), 10)
	check("getxattr dir", 2, "dv", unix.SYS_GETXATTR, "/data/sub", "trusted.dir", outBuf(10), 10)
	want := hostList(a, true)
	check("listxattr", int64(len(want)), want, unix.SYS_LISTXATTR, "/data/a.txt", outBuf(1024), 1024)
	want = hostList(filepath.Join(root, "link-in"), false)
	check("llistxattr link", int64(len(want)), want, unix.SYS_LLISTXATTR, "/data/link-in", outBuf(1024), 1024)
	want = hostList(root, true)
	check("listxattr view root", int64(len(want)), want, unix.SYS_LISTXATTR, "/data", outBuf(1024), 1024)
	for _, c := range []struct {
		what string
		nr   uint64
		args []any
	}{
		{"setxattr", unix.SYS_SETXATTR, []any{"/data/a.txt", "user.host", "x", 1, 0}},
		{"setxattr unknown namespace", unix.SYS_SETXATTR, []any{"/data/a.txt", "foo.x", "x", 1, 0}},
		{"lsetxattr link", unix.SYS_LSETXATTR, []any{"/data/link-in", "user.x", "x", 1, 0}},
		{"removexattr", unix.SYS_REMOVEXATTR, []any{"/data/a.txt", "user.host"}},
		{"setxattr root", unix.SYS_SETXATTR, []any{"/", "user.x", "x", 1, 0}},
		{"setxattr /dev/null", unix.SYS_SETXATTR, []any{"/dev/null", "trusted.x", "x", 1, 0}},
	} {
		check(c.what, -int64(unix.EROFS), "", c.nr, c.args...)
	}
	fd, _ := g.call(unix.SYS_OPEN, "/data/a.txt", unix.O_RDONLY, 0)
	check("fgetxattr", 2, "hv", unix.SYS_FGETXATTR, int(fd), "user.host", outBuf(10), 10)
	check("fsetxattr", -int64(unix.EROFS), "", unix.SYS_FSETXATTR, int(fd), "user.host", "x", 1, 0)
	check("fremovexattr", -int64(unix.EROFS), "", unix.SYS_FREMOVEXATTR, int(fd), "user.host")
	check("getxattr /dev/null", -int64(unix.ENODATA), "", unix.SYS_GETXATTR, "/dev/null", "trusted.x", outBuf(10), 10)
	check("listxattr /dev/null", 0, "", unix.SYS_LISTXATTR, "/dev/null", outBuf(10), 10)

	// Without CAP_SYS_ADMIN, trusted.* is neither listed nor read.
	if r, _ := g.call(unix.SYS_SETRESUID, 1000, 1000, 1000); r != 0 {
		t.Fatalf("setresuid = %d", r)
	}
	check("getxattr trusted unprivileged", -int64(unix.ENODATA), "", unix.SYS_GETXATTR, "/data/sub", "trusted.dir", outBuf(10), 10)
	check("listxattr dir unprivileged", 0, "", unix.SYS_LISTXATTR, "/data/sub", outBuf(10), 10)
	check("getxattr user unprivileged", 2, "hv", unix.SYS_GETXATTR, "/data/a.txt", "user.host", outBuf(10), 10)
}

// TestXattrLooseRoomBounded checks the room for the attributes no tmpfs's
// room holds (a memfd's, an unlinked file's): they are bounded as one
// tmpfs's room, VM-wide, and their space comes back when the last open
// file that reaches them closes, so a guest cannot grow mmvm's heap
// without limit nor lose the room to files that are gone.
func TestXattrLooseRoomBounded(t *testing.T) {
	p, mem := xattrProcess(t, 4*2*4096) // 4 inodes: 4 KiB of room
	g := &guestXattrSys{p: p, mem: mem}
	value := make([]byte, 2000) // 2046 bytes of room with "user.x"
	set := func(fd int64, name string, size int) int64 {
		r, _ := g.call(unix.SYS_FSETXATTR, int(fd), name, value, size, 0)
		return r
	}
	want := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %s, want %s", what, retName(got), retName(want))
		}
	}
	memfd := func(name string) int64 {
		fd, _ := g.call(unix.SYS_MEMFD_CREATE, name, 0)
		if fd < 0 {
			t.Fatalf("memfd_create: %s", retName(fd))
		}
		return fd
	}
	a, b := memfd("a"), memfd("b")
	want("a: user.a", set(a, "user.a", 2000), 0)
	want("a: user.b", set(a, "user.b", 2000), 0)
	want("a: past the room", set(a, "user.c", 100), -int64(unix.ENOSPC))
	want("b: the room is the VM's", set(b, "user.c", 100), -int64(unix.ENOSPC))
	dup, _ := g.call(unix.SYS_DUP, int(a))
	want("close a", int64(p.Syscall(unix.SYS_CLOSE, [6]uint64{uint64(a)})), 0)
	want("b: a's dup still holds it", set(b, "user.c", 100), -int64(unix.ENOSPC))
	want("close a's dup", int64(p.Syscall(unix.SYS_CLOSE, [6]uint64{uint64(dup)})), 0)
	want("b: a's room came back", set(b, "user.c", 100), 0)

	// A tmpfs file's attributes take its tmpfs's room while a name links
	// it, the loose room after, until its last close.
	f, _ := g.call(unix.SYS_OPENAT, -100, "/tmp/f", unix.O_CREAT|unix.O_RDWR, 0o600)
	if f < 0 {
		t.Fatalf("open /tmp/f: %s", retName(f))
	}
	want("f: user.f", set(f, "user.f", 2000), 0)
	want("b: f's are not in this room", set(b, "user.d", 2000), 0)
	want("b: room full", set(b, "user.e", 2000), -int64(unix.ENOSPC))
	want("b: remove user.d", func() int64 { r, _ := g.call(unix.SYS_FREMOVEXATTR, int(b), "user.d"); return r }(), 0)
	r, _ := g.call(unix.SYS_UNLINKAT, -100, "/tmp/f", 0)
	want("unlink /tmp/f", r, 0)
	want("b: the unlinked f's are in this room", set(b, "user.d", 2000), -int64(unix.ENOSPC))
	want("close f", int64(p.Syscall(unix.SYS_CLOSE, [6]uint64{uint64(f)})), 0)
	want("b: f's room came back", set(b, "user.d", 2000), 0)
}
