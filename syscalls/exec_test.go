package syscalls

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// execMem lays out the same bytes in a guest memory and in host memory,
// so that mmvm and the host kernel can be given the same execve: strings
// and arrays of pointers, each pointer the address of its string on its
// own side.
type execMem struct {
	guest *flatMemory
	host  []byte
	off   int
}

// execAddr is one argument as mmvm and as the host see it.
type execAddr struct{ g, h uint64 }

func newExecMem(size int) *execMem {
	return &execMem{guest: &flatMemory{base: base, mem: make([]byte, size)}, host: hostMem(size)}
}

// at is the pair of addresses of offset off.
func (m *execMem) at(off int) execAddr {
	return execAddr{uint64(base + off), uint64(hostAddr(m.host[off:]))}
}

// bytes places b on both sides, 8-byte aligned.
func (m *execMem) bytes(b []byte) execAddr {
	off := m.off
	copy(m.guest.mem[off:], b)
	copy(m.host[off:], b)
	m.off = (off + len(b) + 7) &^ 7
	return m.at(off)
}

// str places s with its NUL.
func (m *execMem) str(s string) execAddr { return m.bytes(append([]byte(s), 0)) }

// strs places each string and a NULL-terminated array of pointers to them.
func (m *execMem) strs(ss ...string) execAddr {
	ptrs := make([]execAddr, len(ss))
	for i, s := range ss {
		ptrs[i] = m.str(s)
	}
	return m.array(ptrs...)
}

// array places a NULL-terminated array of the pointers elems.
func (m *execMem) array(elems ...execAddr) execAddr {
	off := m.off
	for i, e := range elems {
		binary.LittleEndian.PutUint64(m.guest.mem[off+8*i:], e.g)
		binary.LittleEndian.PutUint64(m.host[off+8*i:], e.h)
	}
	clear(m.guest.mem[off+8*len(elems) : off+8*len(elems)+8])
	clear(m.host[off+8*len(elems) : off+8*len(elems)+8])
	m.off = off + 8*(len(elems)+1)
	return m.at(off)
}

// num is the same number on both sides.
func num2(v uint64) execAddr { return execAddr{v, v} }

// execCase is one execve or execveat made on both sides: args builds its
// arguments (dirfd, path, argv, envp, flags; execve takes the middle
// three) in fresh memory.
type execCase struct {
	name string
	nr   uintptr
	args func(m *execMem) [5]execAddr
	want unix.Errno // the host's answer, checked too, so that no case is vacuous
}

// execTestFiles makes a directory holding garbage (executable, but no
// program: ENOEXEC), plain (not executable), sub (a directory) and link
// (a symbolic link to garbage), and returns it.
func execTestFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/garbage", []byte("garbage\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/plain", []byte("plain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("garbage", dir+"/link"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// execArgRoomFor is Linux's room for the strings of argc and envc
// pointers under stack limit cur (bprm_stack_limits).
func execArgRoomFor(cur uint64, argc, envc int) int {
	return int(max(min(6<<20, cur/4), 128<<10)) - (max(argc, 1)+envc)*8
}

// TestExecErrnosMatchHost makes failing execve and execveat calls in mmvm
// and on the host and requires the same errno: the path's errors, the
// file's, the arguments' (EFAULT, E2BIG at MAX_ARG_STRLEN and at the
// stack limit's room), in the order Linux meets them. No host call can
// succeed: the only executable file holds no program (ENOEXEC, which the
// fake machine answers for it too), and AT_EXECVE_CHECK runs nothing.
func TestExecErrnosMatchHost(t *testing.T) {
	dir := execTestFiles(t)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil {
		t.Fatal(err)
	}
	m := newExecMem(16 << 20)
	var execs []string
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "exec-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	p := NewProcess(Config{
		NewSharedFile: func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) },
		Memory:        m.guest, StdioFDs: [3]int{-1, -1, -1}, PID: 42,
		Limits: map[int]Limit{unix.RLIMIT_STACK: {rl.Cur, rl.Max}},
		Views:  []View{{Host: dir, Guest: dir}},
		Exec: func(_ *Task, prog ExecProgram, _, _ []string) (UserRegs, error) {
			execs = append(execs, prog.HostPath)
			return UserRegs{}, unix.ENOEXEC
		},
	})
	t.Cleanup(p.Close)

	// The fds, named, on both sides.
	fds := map[string]execAddr{"bad": num2(999)}
	open := func(name, file string, flags int) {
		g := sc(p, unix.SYS_OPENAT, atFDCWD, m.str(file).g, uint64(flags))
		h, err := unix.Open(file, flags, 0)
		if g < 0 || err != nil {
			t.Fatalf("open %s: mmvm %d, host %v", file, g, err)
		}
		t.Cleanup(func() { unix.Close(h) })
		fds[name] = execAddr{uint64(g), uint64(h)}
	}
	open("dir", dir, unix.O_RDONLY|unix.O_DIRECTORY)
	open("file", dir+"/garbage", unix.O_RDONLY)
	open("pathfile", dir+"/garbage", unix.O_PATH)
	open("pathlink", dir+"/link", unix.O_PATH|unix.O_NOFOLLOW)
	// memfds holding no program: one MFD_NOEXEC_SEAL made (mode 0666),
	// one plain (mode 0777).
	memfd := func(name string, flags int) {
		text := "not a program\n"
		g := sc(p, unix.SYS_MEMFD_CREATE, m.str(name).g, uint64(flags))
		h, err := unix.MemfdCreate(name, flags)
		if g < 0 || err != nil {
			t.Fatalf("memfd_create %s: mmvm %d, host %v", name, g, err)
		}
		t.Cleanup(func() { unix.Close(h) })
		if w := sc(p, unix.SYS_WRITE, uint64(g), m.str(text).g, uint64(len(text))); w != int64(len(text)) {
			t.Fatalf("write to the memfd: %d", w)
		}
		if _, err := unix.Write(h, []byte(text)); err != nil {
			t.Fatal(err)
		}
		fds[name] = execAddr{uint64(g), uint64(h)}
	}
	memfd("sealed", mfdNoexecSeal)
	memfd("memfd", 0)
	if r := sc(p, unix.SYS_PIPE2, m.at(0).g, 0); r != 0 {
		t.Fatal(r)
	}
	hp := hostPipe(t, 0)
	fds["pipe"] = execAddr{uint64(binary.LittleEndian.Uint32(m.guest.mem)), uint64(hp[0])}
	fault := execAddr{0x1000, uint64(guardPage(t))}
	cwd := num2(atFDCWD)
	garbage := dir + "/garbage"

	// execve(path, argv, envp) and execveat(dirfd, path, argv, envp,
	// flags), with a usual argv and envp unless given.
	execve := func(path func(m *execMem) execAddr, argvEnvp ...func(m *execMem) execAddr) func(m *execMem) [5]execAddr {
		return func(m *execMem) [5]execAddr {
			a := [5]execAddr{path(m)}
			a[1], a[2] = m.strs("prog", "-x"), m.strs("A=1")
			for i, f := range argvEnvp {
				a[1+i] = f(m)
			}
			return a
		}
	}
	execveat := func(dirfd execAddr, path func(m *execMem) execAddr, flags uint64, argvEnvp ...func(m *execMem) execAddr) func(m *execMem) [5]execAddr {
		return func(m *execMem) [5]execAddr {
			a := execve(path, argvEnvp...)(m)
			return [5]execAddr{dirfd, a[0], a[1], a[2], num2(flags)}
		}
	}
	str := func(s string) func(m *execMem) execAddr { return func(m *execMem) execAddr { return m.str(s) } }
	strs := func(ss ...string) func(m *execMem) execAddr {
		return func(m *execMem) execAddr { return m.strs(ss...) }
	}
	val := func(a execAddr) func(m *execMem) execAddr { return func(*execMem) execAddr { return a } }
	// ptrs is an array of the pointers each element makes, in order.
	ptrs := func(elems ...func(m *execMem) execAddr) func(m *execMem) execAddr {
		return func(m *execMem) execAddr {
			ps := make([]execAddr, len(elems))
			for i, e := range elems {
				ps[i] = e(m)
			}
			return m.array(ps...)
		}
	}
	long := func(n int) string { return strings.Repeat("a", n) }

	// The strings that fill the room exactly: filler strings of 64 KiB
	// and one of the rest, each with its pointer.
	fill := func(extra int) func(m *execMem) execAddr {
		for k := 0; ; k++ {
			rest := execArgRoomFor(rl.Cur, k+1, 0) - (len(garbage) + 1) - k*(1<<16) - 1
			if rest <= maxArgStrlen-1 {
				ss := make([]string, k+1)
				for i := range k {
					ss[i] = long(1<<16 - 1)
				}
				ss[k] = long(rest)
				if extra > 0 {
					ss[0] += long(extra)
				}
				return strs(ss...)
			}
		}
	}
	// Too many pointers for the room, before any string is read.
	tooManyPointers := func(m *execMem) execAddr {
		n := execArgRoomFor(rl.Cur, 1, 0) / 8
		x := m.str("x")
		ps := make([]execAddr, n)
		for i := range ps {
			ps[i] = x
		}
		return m.array(ps...)
	}

	cases := []execCase{
		{"a file that is no program", unix.SYS_EXECVE, execve(str(garbage)), unix.ENOEXEC},
		{"a file without an execute bit", unix.SYS_EXECVE, execve(str(dir + "/plain")), unix.EACCES},
		{"a directory", unix.SYS_EXECVE, execve(str(dir + "/sub")), unix.EACCES},
		{"a missing file", unix.SYS_EXECVE, execve(str(dir + "/missing")), unix.ENOENT},
		{"an empty path", unix.SYS_EXECVE, execve(str("")), unix.ENOENT},
		{"an unreadable path", unix.SYS_EXECVE, execve(val(fault)), unix.EFAULT},
		{"a path of PATH_MAX bytes", unix.SYS_EXECVE, execve(str("/" + long(pathMax-1))), unix.ENAMETOOLONG},
		{"a trailing slash", unix.SYS_EXECVE, execve(str(garbage + "/")), unix.ENOTDIR},
		{"a symbolic link", unix.SYS_EXECVE, execve(str(dir + "/link")), unix.ENOEXEC},
		{"/dev/null", unix.SYS_EXECVE, execve(str("/dev/null")), unix.EACCES},
		{"a /proc file", unix.SYS_EXECVE, execve(str("/proc/self/status")), unix.EACCES},
		{"a link not followed", unix.SYS_EXECVEAT, execveat(cwd, str(dir+"/link"), unix.AT_SYMLINK_NOFOLLOW), unix.ELOOP},
		{"an unknown flag", unix.SYS_EXECVEAT, execveat(cwd, str(garbage), 0x20000), unix.EINVAL},
		{"an unknown flag and an empty path", unix.SYS_EXECVEAT, execveat(cwd, str(""), 0x20000), unix.ENOENT},
		{"an unknown flag in the upper half", unix.SYS_EXECVEAT, execveat(cwd, str(garbage), 1<<40), unix.ENOEXEC},
		{"AT_EXECVE_CHECK", unix.SYS_EXECVEAT, execveat(cwd, str(garbage), atExecveCheck), 0},
		{"AT_EXECVE_CHECK of a file without an execute bit", unix.SYS_EXECVEAT, execveat(cwd, str(dir+"/plain"), atExecveCheck), unix.EACCES},
		{"AT_EXECVE_CHECK with an unreadable argv", unix.SYS_EXECVEAT, execveat(cwd, str(garbage), atExecveCheck, val(fault)), unix.EFAULT},
		{"relative to a directory fd", unix.SYS_EXECVEAT, execveat(fds["dir"], str("garbage"), 0), unix.ENOEXEC},
		{"relative to a file fd", unix.SYS_EXECVEAT, execveat(fds["file"], str("garbage"), 0), unix.ENOTDIR},
		{"relative to a bad fd", unix.SYS_EXECVEAT, execveat(fds["bad"], str("garbage"), 0), unix.EBADF},
		{"an absolute path and a bad fd", unix.SYS_EXECVEAT, execveat(fds["bad"], str(garbage), 0), unix.ENOEXEC},
		{"an fd's file", unix.SYS_EXECVEAT, execveat(fds["file"], str(""), unix.AT_EMPTY_PATH), unix.ENOEXEC},
		{"an O_PATH fd's file", unix.SYS_EXECVEAT, execveat(fds["pathfile"], str(""), unix.AT_EMPTY_PATH), unix.ENOEXEC},
		{"an O_PATH fd of a link", unix.SYS_EXECVEAT, execveat(fds["pathlink"], str(""), unix.AT_EMPTY_PATH), unix.ELOOP},
		{"a pipe", unix.SYS_EXECVEAT, execveat(fds["pipe"], str(""), unix.AT_EMPTY_PATH), unix.EACCES},
		{"a directory fd", unix.SYS_EXECVEAT, execveat(fds["dir"], str(""), unix.AT_EMPTY_PATH), unix.EACCES},
		{"the working directory", unix.SYS_EXECVEAT, execveat(cwd, str(""), unix.AT_EMPTY_PATH), unix.EACCES},
		{"a bad fd", unix.SYS_EXECVEAT, execveat(fds["bad"], str(""), unix.AT_EMPTY_PATH), unix.EBADF},
		{"a memfd made MFD_NOEXEC_SEAL", unix.SYS_EXECVEAT, execveat(fds["sealed"], str(""), unix.AT_EMPTY_PATH), unix.EACCES},
		{"a memfd holding no program", unix.SYS_EXECVEAT, execveat(fds["memfd"], str(""), unix.AT_EMPTY_PATH), unix.ENOEXEC},
		{"a NULL path with AT_EMPTY_PATH", unix.SYS_EXECVEAT, execveat(fds["file"], val(num2(0)), unix.AT_EMPTY_PATH), unix.EFAULT},
		{"an empty path without AT_EMPTY_PATH", unix.SYS_EXECVEAT, execveat(fds["file"], str(""), 0), unix.ENOENT},
		{"NULL argv and envp", unix.SYS_EXECVE, execve(str(garbage), val(num2(0)), val(num2(0))), unix.ENOEXEC},
		{"an unreadable argv", unix.SYS_EXECVE, execve(str(garbage), val(fault)), unix.EFAULT},
		{"an unreadable envp", unix.SYS_EXECVE, execve(str(garbage), strs("a"), val(fault)), unix.EFAULT},
		{"an unreadable argv string", unix.SYS_EXECVE, execve(str(garbage), ptrs(str("a"), val(fault))), unix.EFAULT},
		{"a file without an execute bit before argv", unix.SYS_EXECVE, execve(str(dir+"/plain"), val(fault)), unix.EACCES},
		{"the longest string", unix.SYS_EXECVE, execve(str(garbage), strs(long(maxArgStrlen-1))), unix.ENOEXEC},
		{"a string past MAX_ARG_STRLEN", unix.SYS_EXECVE, execve(str(garbage), strs(long(maxArgStrlen))), unix.E2BIG},
		{"envp's strings before argv's", unix.SYS_EXECVE, execve(str(garbage), strs(long(maxArgStrlen)), ptrs(val(fault))), unix.EFAULT},
		{"the last string first", unix.SYS_EXECVE, execve(str(garbage), ptrs(val(fault), str(long(maxArgStrlen)))), unix.E2BIG},
		{"the last string first, a fault", unix.SYS_EXECVE, execve(str(garbage), ptrs(str(long(maxArgStrlen)), val(fault))), unix.EFAULT},
		{"strings that fill the room", unix.SYS_EXECVE, execve(str(garbage), fill(0), val(num2(0))), unix.ENOEXEC},
		{"a byte more than the room", unix.SYS_EXECVE, execve(str(garbage), fill(1), val(num2(0))), unix.E2BIG},
		{"more pointers than the room", unix.SYS_EXECVE, execve(str(garbage), strs("a"), tooManyPointers), unix.E2BIG},
	}
	for _, c := range cases {
		m.off = 8
		a := c.args(m)
		var g [6]uint64
		var h [6]uintptr
		for i := range a {
			g[i], h[i] = a[i].g, uintptr(a[i].h)
		}
		execs = nil
		gr := int64(p.Syscall(uint64(c.nr), g))
		hr := hostRet(c.nr, h[:]...)
		runtime.KeepAlive(m)
		if gr != hr || hr != -int64(c.want) {
			t.Errorf("%s: mmvm %d, the host %d, want %d", c.name, gr, hr, -int64(c.want))
		}
		// The machine is asked only where every check passed.
		if called := len(execs) > 0; called != (c.want == unix.ENOEXEC) {
			t.Errorf("%s: the machine was asked to run %v", c.name, execs)
		}
	}
}

// execHarness is a process whose machine (Config.Exec) is a fake that
// records what it was asked and answers with regs or err.
type execHarness struct {
	*threadHarness
	dir string
	mu  sync.Mutex
	// asked are the calls of Exec.
	asked []execCall
	regs  UserRegs
	err   error
	// check runs inside Exec, on the calling thread's goroutine.
	check func(t *Task)
}

// execCall is one Exec call.
type execCall struct {
	t    *Task
	prog ExecProgram
	// hostPath is prog's HostPath.
	hostPath       string
	argv, envp     []string
	lockHeldDuring bool
}

// newExecHarness makes a thread harness whose process sees dir (with
// execTestFiles' files and prog, an executable, and ln, a link to it) at
// /bin, and whose program is /old/prog, the host file dir/old.
func newExecHarness(t *testing.T) *execHarness {
	t.Helper()
	dir := execTestFiles(t)
	for _, f := range []string{"prog", "old"} {
		if err := os.WriteFile(dir+"/"+f, []byte("\x7fELF"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("prog", dir+"/ln-with-a-long-name"); err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &execHarness{threadHarness: newThreadHarness(t), dir: dir}
	h.regs = UserRegs{RIP: 0x401000, RSP: 0x7fff_fffd_e000, RFLAGS: 0x202}
	h.p.cfg.Views = []View{{Host: dir, Guest: "/bin"}}
	h.p.cfg.Exec = func(task *Task, prog ExecProgram, argv, envp []string) (UserRegs, error) {
		held := !h.p.mu.TryLock()
		if !held {
			h.p.mu.Unlock()
		}
		if h.check != nil {
			h.check(task)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.asked = append(h.asked, execCall{task, prog, prog.HostPath, argv, envp, held})
		return h.regs, h.err
	}
	h.p.SetExecutable("/old/prog", dir+"/old")
	h.p.SetCommandLine([]string{"/old/prog", "arg"})
	t.Cleanup(h.p.Close)
	return h
}

// Where the exec tests keep their strings in the test memory.
const execArea = base + 0x5000

// argvAt writes the strings and a NULL-terminated array of pointers to
// them at addr, and returns the array's address (the strings follow it).
func argvAt(mem *flatMemory, addr uint64, ss ...string) uint64 {
	at := addr + uint64(8*(len(ss)+1))
	for i, s := range ss {
		binary.LittleEndian.PutUint64(mem.mem[addr-base+uint64(8*i):], at)
		at = putStr(mem, int(at-base), s) + uint64(len(s)+1)
	}
	binary.LittleEndian.PutUint64(mem.mem[addr-base+uint64(8*len(ss)):], 0)
	return addr
}

// execRegs is a context for execve(path, argv, envp) with every other
// register distinct.
func (h *execHarness) execRegs(path string, argv, envp []string) UserRegs {
	regs := parentRegs(0, 0, 0, 0, 0)
	regs.RAX = unix.SYS_EXECVE
	regs.RDI = putStr(h.mem, execArea-base, path)
	regs.RSI = argvAt(h.mem, execArea+0x400, argv...)
	regs.RDX = argvAt(h.mem, execArea+0x800, envp...)
	return regs
}

// readlink reads a link of the guest's file system.
func (h *execHarness) readlink(t *testing.T, name string) string {
	t.Helper()
	n := sc(h.p, unix.SYS_READLINK, putStr(h.mem, execArea+0xc00-base, name), execArea+0xd00, 256)
	if n < 0 {
		t.Fatalf("readlink %s = %d", name, n)
	}
	return string(h.mem.mem[execArea+0xd00-base : execArea+0xd00-base+uint64(n)])
}

// readFile reads a file of the guest's file system whole.
func (h *execHarness) readFile(t *testing.T, name string) string {
	t.Helper()
	fd := sc(h.p, unix.SYS_OPENAT, atFDCWD, putStr(h.mem, execArea+0xc00-base, name), unix.O_RDONLY)
	if fd < 0 {
		t.Fatalf("open %s = %d", name, fd)
	}
	defer sc(h.p, unix.SYS_CLOSE, uint64(fd))
	n := sc(h.p, unix.SYS_READ, uint64(fd), execArea+0xd00, 256)
	if n < 0 {
		t.Fatalf("read %s = %d", name, n)
	}
	return string(h.mem.mem[execArea+0xd00-base : execArea+0xd00-base+uint64(n)])
}

// taskName is PR_GET_NAME's answer.
func (h *execHarness) taskName(t *testing.T) string {
	t.Helper()
	if r := sc(h.p, unix.SYS_PRCTL, unix.PR_GET_NAME, execArea+0xe00); r != 0 {
		t.Fatalf("PR_GET_NAME = %d", r)
	}
	b := h.mem.mem[execArea+0xe00-base : execArea+0xe10-base]
	return string(b[:bytes.IndexByte(b, 0)])
}

// TestExecRunsTheProgram: a successful execve hands the machine the host
// file behind the path (its links resolved), argv and envp, without the
// Process lock; the thread returns into the new program with Exec's
// registers whole; and what Linux resets at exec is reset, what it keeps
// is kept.
func TestExecRunsTheProgram(t *testing.T) {
	h := newExecHarness(t)
	p, mem := h.p, h.mem
	le := binary.LittleEndian

	// Signal actions: SIGUSR1 caught, SIGUSR2 ignored, both with flags,
	// a mask and a restorer.
	act := uint64(execArea + 0x1000)
	for sig, handler := range map[unix.Signal]uint64{unix.SIGUSR1: testHandler, unix.SIGUSR2: sigIGN} {
		le.PutUint64(mem.mem[act-base:], handler)
		le.PutUint64(mem.mem[act-base+8:], saRestorer|saRestart|saOnStack)
		le.PutUint64(mem.mem[act-base+16:], testRestorer)
		le.PutUint64(mem.mem[act-base+24:], 1<<(unix.SIGTERM-1))
		if r := sc(p, unix.SYS_RT_SIGACTION, uint64(sig), act, 0, 8); r != 0 {
			t.Fatalf("rt_sigaction(%d) = %d", sig, r)
		}
	}
	// SIGUSR1, SIGRTMIN and SIGRTMIN+1 blocked; SIGUSR1 pending from
	// kill, SIGRTMIN from a POSIX timer, SIGRTMIN+1 from one aimed at the
	// thread; ITIMER_REAL armed.
	blocked := uint64(1<<(unix.SIGUSR1-1) | 1<<(sigRTMin-1) | 1<<sigRTMin)
	le.PutUint64(mem.mem[act-base:], blocked)
	if r := sc(p, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, act, 0, 8); r != 0 {
		t.Fatal(r)
	}
	if r := sc(p, unix.SYS_KILL, 42, uint64(unix.SIGUSR1)); r != 0 {
		t.Fatal(r)
	}
	ev := uint64(execArea + 0x1100)
	its := uint64(execArea + 0x1300)
	var timerIDs []uint64
	for i, notify := range []uint32{sigevSignal, sigevThreadID} {
		clear(mem.mem[ev-base : ev-base+sigeventSize])
		le.PutUint32(mem.mem[ev-base+8:], uint32(sigRTMin+i))
		le.PutUint32(mem.mem[ev-base+12:], notify)
		le.PutUint32(mem.mem[ev-base+16:], 42)
		if r := sc(p, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, ev, execArea+0x1200); r != 0 {
			t.Fatalf("timer_create = %d", r)
		}
		id := uint64(le.Uint32(mem.mem[execArea+0x1200-base:]))
		clear(mem.mem[its-base : its-base+itimerspecSize])
		le.PutUint64(mem.mem[its-base+24:], 1000) // it_value 1µs
		if r := sc(p, unix.SYS_TIMER_SETTIME, id, 0, its, 0); r != 0 {
			t.Fatalf("timer_settime = %d", r)
		}
		timerIDs = append(timerIDs, id)
	}
	pending := func() uint64 {
		if r := sc(p, unix.SYS_RT_SIGPENDING, execArea+0x1400, 8); r != 0 {
			t.Fatal(r)
		}
		return le.Uint64(mem.mem[execArea+0x1400-base:])
	}
	for end := time.Now().Add(5 * time.Second); pending() != blocked; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("pending %#x: the timers' signals never came", pending())
		}
	}
	if r := sc(p, unix.SYS_ALARM, 100); r != 0 {
		t.Fatal(r)
	}
	// An alternate stack with SS_AUTODISARM, clear_child_tid, a robust
	// list, an FS base, not dumpable, a changed FPU.
	ss := uint64(execArea + 0x1500)
	le.PutUint64(mem.mem[ss-base:], base+0x8000)
	le.PutUint32(mem.mem[ss-base+8:], ssAutoDisarm)
	le.PutUint64(mem.mem[ss-base+16:], 0x4000)
	if r := sc(p, unix.SYS_SIGALTSTACK, ss, 0); r != 0 {
		t.Fatalf("sigaltstack = %d", r)
	}
	sc(p, unix.SYS_SET_TID_ADDRESS, ctidAddr)
	sc(p, unix.SYS_SET_ROBUST_LIST, robustHead, robustListHeadSize)
	if r := sc(p, unix.SYS_ARCH_PRCTL, archSetFS, 0x7f00_0000_1000); r != 0 {
		t.Fatal(r)
	}
	p.main.FSBase()
	sc(p, unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0)
	fpu := &fakeFPU{}
	fpu.state[100] = 0xaa
	p.main.SetFPU(fpu)
	// fds: one close-on-exec, one not, a pipe with both ends
	// close-on-exec and a dup of its read end without.
	closing := sc(p, unix.SYS_OPENAT, atFDCWD, putStr(mem, 0x1600, "/bin/plain"), unix.O_RDONLY|unix.O_CLOEXEC)
	staying := sc(p, unix.SYS_OPENAT, atFDCWD, putStr(mem, 0x1600, "/bin/plain"), unix.O_RDONLY)
	if r := sc(p, unix.SYS_PIPE2, execArea+0x1700, unix.O_CLOEXEC); r != 0 || closing < 0 || staying < 0 {
		t.Fatalf("pipe2 %d, opens %d %d", r, closing, staying)
	}
	pipeR, pipeW := uint64(le.Uint32(mem.mem[execArea+0x1700-base:])), uint64(le.Uint32(mem.mem[execArea+0x1704-base:]))
	dupR := sc(p, unix.SYS_DUP, pipeR)

	regs := h.execRegs("/bin/ln-with-a-long-name", []string{"ln", "-x"}, []string{"A=1", "B=2"})
	if !p.main.HandleSyscall(&regs) {
		t.Fatalf("execve did not redirect the return: RAX %d", int64(regs.RAX))
	}
	if regs != h.regs {
		t.Errorf("registers after execve %+v, want Exec's %+v", regs, h.regs)
	}
	if len(h.asked) != 1 {
		t.Fatalf("Exec called %d times", len(h.asked))
	}
	c := h.asked[0]
	if c.t != p.main || c.hostPath != h.dir+"/prog" || !slices.Equal(c.argv, []string{"ln", "-x"}) || !slices.Equal(c.envp, []string{"A=1", "B=2"}) || c.lockHeldDuring {
		t.Errorf("Exec got %+v; want %s, argv, envp, without the Process lock", c, h.dir+"/prog")
	}
	// The new program's names are the guest's: the path it was exec'ed
	// by (AT_EXECFN) and the file's, its link resolved within the view.
	if c.prog.Filename != "/bin/ln-with-a-long-name" || c.prog.GuestPath != "/bin/prog" {
		t.Errorf("Exec got filename %q, guest path %q; want /bin/ln-with-a-long-name, /bin/prog", c.prog.Filename, c.prog.GuestPath)
	}

	// Kept: the mask, the pending kill, ITIMER_REAL, the ignored action
	// (with no flags, mask or restorer); reset: the handler, the timer and
	// its pending signal.
	if r := sc(p, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, act, 8); r != 0 || le.Uint64(mem.mem[act-base:]) != blocked {
		t.Errorf("mask after execve %#x, want %#x", le.Uint64(mem.mem[act-base:]), blocked)
	}
	if got := pending(); got != 1<<(unix.SIGUSR1-1) {
		t.Errorf("pending after execve %#x, want SIGUSR1's alone (the timers' dropped)", got)
	}
	for _, id := range timerIDs {
		if r := sc(p, unix.SYS_TIMER_GETTIME, id, its); r != int64(neg(unix.EINVAL)) {
			t.Errorf("timer_gettime(%d) after execve = %d, want EINVAL (deleted)", id, r)
		}
	}
	if r := sc(p, unix.SYS_ALARM, 0); r < 99 || r > 100 {
		t.Errorf("alarm after execve = %d, want ITIMER_REAL kept", r)
	}
	for sig, handler := range map[unix.Signal]uint64{unix.SIGUSR1: sigDFL, unix.SIGUSR2: sigIGN} {
		old := uint64(execArea + 0x1800)
		if r := sc(p, unix.SYS_RT_SIGACTION, uint64(sig), 0, old, 8); r != 0 {
			t.Fatal(r)
		}
		want := make([]byte, sigactionSize)
		want[0] = byte(handler)
		if got := mem.mem[old-base : old-base+sigactionSize]; !bytes.Equal(got, want) {
			t.Errorf("action of %v after execve % x, want % x", sig, got, want)
		}
	}
	// Gone: the alternate stack (SS_AUTODISARM stays), the robust list,
	// clear_child_tid, the FS base, the FPU's state; dumpable again.
	if r := sc(p, unix.SYS_SIGALTSTACK, 0, ss); r != 0 {
		t.Fatal(r)
	}
	if sp, fl, size := le.Uint64(mem.mem[ss-base:]), le.Uint32(mem.mem[ss-base+8:]), le.Uint64(mem.mem[ss-base+16:]); sp != 0 || fl != ssDisable|ssAutoDisarm || size != 0 {
		t.Errorf("sigaltstack after execve: sp %#x flags %#x size %#x, want 0, SS_DISABLE|SS_AUTODISARM, 0", sp, fl, size)
	}
	if r := sc(p, unix.SYS_GET_ROBUST_LIST, 0, execArea+0x1900, execArea+0x1908); r != 0 || le.Uint64(mem.mem[execArea+0x1900-base:]) != 0 {
		t.Errorf("robust list after execve %#x", le.Uint64(mem.mem[execArea+0x1900-base:]))
	}
	if p.main.clearChildTID != 0 {
		t.Errorf("clear_child_tid after execve %#x", p.main.clearChildTID)
	}
	if fs, dirty := p.main.FSBase(); fs != 0 || !dirty {
		t.Errorf("FS base after execve %#x (dirty %v), want 0 to load", fs, dirty)
	}
	if fpu.state != initFPU {
		t.Error("the FPU was not reset")
	}
	if r := sc(p, unix.SYS_PRCTL, unix.PR_GET_DUMPABLE); r != 1 {
		t.Errorf("PR_GET_DUMPABLE after execve = %d", r)
	}
	// The fds marked close-on-exec are closed; a pipe's read end stays
	// open through its dup.
	for fd, want := range map[uint64]int64{uint64(closing): int64(neg(unix.EBADF)), uint64(staying): 0, pipeR: int64(neg(unix.EBADF)), pipeW: int64(neg(unix.EBADF)), uint64(dupR): 0} {
		if r := sc(p, unix.SYS_FCNTL, fd, unix.F_GETFD); r != want {
			t.Errorf("F_GETFD of fd %d after execve = %d, want %d", fd, r, want)
		}
	}
	// The new program's name, command line and executable.
	if got := h.readlink(t, "/proc/self/exe"); got != "/bin/prog" {
		t.Errorf("/proc/self/exe after execve = %q, want /bin/prog", got)
	}
	if got := h.readFile(t, "/proc/self/cmdline"); got != "ln\x00-x\x00" {
		t.Errorf("/proc/self/cmdline after execve = %q", got)
	}
	if got := h.taskName(t); got != "ln-with-a-long-" {
		t.Errorf("task name after execve %q, want the link's name cut to 15 bytes", got)
	}
}

// TestExecProcSelfExe: /proc/self/exe runs the running program's host
// file, even where the guest's path to it shows another file now; its
// name is "exe", and /proc/self/exe still reads the program's path.
func TestExecProcSelfExe(t *testing.T) {
	h := newExecHarness(t)
	h.p.SetExecutable("/bin/prog", h.dir+"/old") // /bin/prog is the view's other file
	regs := h.execRegs("/proc/self/exe", []string{"sh"}, nil)
	h.p.main.HandleSyscall(&regs)
	if regs.RAX != 0 || len(h.asked) != 1 || h.asked[0].hostPath != h.dir+"/old" {
		t.Fatalf("execve(/proc/self/exe) = %d, Exec got %+v, want %s", int64(regs.RAX), h.asked, h.dir+"/old")
	}
	if got := h.taskName(t); got != "exe" {
		t.Errorf("task name %q, want exe", got)
	}
	if got := h.readlink(t, "/proc/self/exe"); got != "/bin/prog" {
		t.Errorf("/proc/self/exe = %q", got)
	}
	// With AT_SYMLINK_NOFOLLOW it is the link itself.
	regs = h.execRegs("/proc/self/exe", []string{"sh"}, nil)
	regs.RAX, regs.RDI, regs.RSI, regs.RDX, regs.R10, regs.R8 = unix.SYS_EXECVEAT, atFDCWD, regs.RDI, regs.RSI, regs.RDX, unix.AT_SYMLINK_NOFOLLOW
	h.p.main.HandleSyscall(&regs)
	if regs.RAX != neg(unix.ELOOP) {
		t.Errorf("execveat(/proc/self/exe, AT_SYMLINK_NOFOLLOW) = %d, want ELOOP", int64(regs.RAX))
	}
}

// TestExecveatNames: execveat of an fd (AT_EMPTY_PATH) names the task
// after the file itself; relative to a directory fd, after the path's
// last element. NULL argv and envp run the program with argv [""] and no
// environment.
func TestExecveatNames(t *testing.T) {
	h := newExecHarness(t)
	fd := sc(h.p, unix.SYS_OPENAT, atFDCWD, putStr(h.mem, 0x1600, "/bin/ln-with-a-long-name"), unix.O_PATH)
	dir := sc(h.p, unix.SYS_OPENAT, atFDCWD, putStr(h.mem, 0x1600, "/bin"), unix.O_RDONLY|unix.O_DIRECTORY)
	if fd < 0 || dir < 0 {
		t.Fatal(fd, dir)
	}
	for _, c := range []struct {
		dirfd uint64
		path  string
		flags uint64
		name  string
	}{
		{uint64(fd), "", unix.AT_EMPTY_PATH, "prog"},
		{uint64(dir), "ln-with-a-long-name", 0, "ln-with-a-long-"},
	} {
		h.asked = nil
		r := sc(h.p, unix.SYS_EXECVEAT, c.dirfd, putStr(h.mem, execArea-base, c.path), 0, 0, c.flags)
		if r != 0 || len(h.asked) != 1 {
			t.Fatalf("execveat(%d, %q) = %d", c.dirfd, c.path, r)
		}
		if a := h.asked[0]; a.hostPath != h.dir+"/prog" || !slices.Equal(a.argv, []string{""}) || len(a.envp) != 0 {
			t.Errorf("execveat(%d, %q): Exec got %+v", c.dirfd, c.path, a)
		}
		if got := h.taskName(t); got != c.name {
			t.Errorf("execveat(%d, %q): task name %q, want %q", c.dirfd, c.path, got, c.name)
		}
	}
}

// TestExecFailureChangesNothing: the machine's error is execve's, and the
// process is as it was: fds, actions, executable, command line, name.
func TestExecFailureChangesNothing(t *testing.T) {
	h := newExecHarness(t)
	h.err = unix.ENOEXEC
	fd := sc(h.p, unix.SYS_OPENAT, atFDCWD, putStr(h.mem, 0x1600, "/bin/plain"), unix.O_RDONLY|unix.O_CLOEXEC)
	act := uint64(execArea + 0x1000)
	binary.LittleEndian.PutUint64(h.mem.mem[act-base:], testHandler)
	binary.LittleEndian.PutUint64(h.mem.mem[act-base+8:], saRestorer)
	sc(h.p, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), act, 0, 8)
	regs := h.execRegs("/bin/prog", []string{"prog"}, nil)
	before := regs
	if h.p.main.HandleSyscall(&regs) || regs.RAX != neg(unix.ENOEXEC) {
		t.Fatalf("execve with the machine failing = %d", int64(regs.RAX))
	}
	if regs.RAX = before.RAX; regs != before {
		t.Errorf("registers changed: %+v", regs)
	}
	if r := sc(h.p, unix.SYS_FCNTL, uint64(fd), unix.F_GETFD); r != unix.FD_CLOEXEC {
		t.Errorf("F_GETFD after a failed execve = %d", r)
	}
	if h.p.handlerOf(unix.SIGUSR1) != testHandler {
		t.Error("the handler was reset")
	}
	if got := h.readlink(t, "/proc/self/exe"); got != "/old/prog" {
		t.Errorf("/proc/self/exe = %q", got)
	}
	if got := h.readFile(t, "/proc/self/cmdline"); got != "/old/prog\x00arg\x00" {
		t.Errorf("cmdline = %q", got)
	}
	if got := h.taskName(t); got != "prog" {
		t.Errorf("task name %q", got)
	}
	// Without a machine that runs programs, execve is ENOSYS.
	h.p.cfg.Exec = nil
	if r := sc(h.p, unix.SYS_EXECVE, putStr(h.mem, execArea-base, "/bin/prog"), 0, 0); r != int64(neg(unix.ENOSYS)) {
		t.Errorf("execve without Config.Exec = %d", r)
	}
}

// TestExecEndsOtherThreads: execve ends every other thread before the
// machine runs the new program: a waiting one is woken (EINTR), its
// clear_child_tid word zeroed, and it is Exited and out of its call (its
// last writes done: nanosleep's time left) when Exec is called.
func TestExecEndsOtherThreads(t *testing.T) {
	h := newExecHarness(t)
	tid, st := h.clone(t, threadFlags|unix.CLONE_PARENT_SETTID|unix.CLONE_CHILD_CLEARTID, childStack, ctidAddr, ctidAddr, 0)
	if st == nil {
		t.Fatalf("clone = %d", int64(tid))
	}
	c := st.t
	c2 := h.spawn(t)
	waiting := call(c, unix.SYS_FUTEX, wordAddr, privWait, 0)
	waitInCall(t, h.p, c)
	// A failed check, and AT_EXECVE_CHECK, end no thread.
	if r := sc(h.p, unix.SYS_EXECVE, putStr(h.mem, execArea-base, "/bin/missing"), 0, 0); r != int64(neg(unix.ENOENT)) || c.Exited() || c2.Exited() {
		t.Fatalf("execve of a missing file = %d; threads exited %v %v", r, c.Exited(), c2.Exited())
	}
	if r := sc(h.p, unix.SYS_EXECVEAT, atFDCWD, putStr(h.mem, execArea-base, "/bin/prog"), 0, 0, atExecveCheck); r != 0 || c.Exited() || c2.Exited() || len(h.asked) != 0 {
		t.Fatalf("execveat AT_EXECVE_CHECK = %d; threads exited %v %v; Exec asked %v", r, c.Exited(), c2.Exited(), h.asked)
	}
	const req, rem = base + 0x4100, base + 0x4200
	putTS(h.mem, 10*time.Second)
	copy(h.mem.mem[req-base:], h.mem.mem[futexTS-base:futexTS-base+16])
	sleeping := call(c2, unix.SYS_NANOSLEEP, req, rem)
	waitInCall(t, h.p, c2)
	var exitedAtExec, outOfCalls bool
	var remAtExec uint64
	h.check = func(*Task) {
		exitedAtExec = c.Exited() && c2.Exited()
		outOfCalls = c.regs == nil && c2.regs == nil
		remAtExec = binary.LittleEndian.Uint64(h.mem.mem[rem-base:])
	}
	regs := h.execRegs("/bin/prog", []string{"prog"}, nil)
	if !h.p.main.HandleSyscall(&regs) {
		t.Fatalf("execve = %d", int64(regs.RAX))
	}
	if r := result1(t, waiting); r != neg(unix.EINTR) {
		t.Errorf("the other thread's futex wait = %d, want EINTR", int64(r))
	}
	if r := result1(t, sleeping); r != neg(unix.EINTR) {
		t.Errorf("the other thread's nanosleep = %d, want EINTR", int64(r))
	}
	if !exitedAtExec || !outOfCalls || remAtExec == 0 || h.p.main.Exited() {
		t.Errorf("at Exec the other threads exited: %v, out of their calls: %v, nanosleep's time left %ds; main exited after: %v", exitedAtExec, outOfCalls, remAtExec, h.p.main.Exited())
	}
	if w := h.word(ctidAddr); w != 0 {
		t.Errorf("the ended thread's clear_child_tid word = %d, want 0", w)
	}
	h.p.mu.Lock()
	n := len(h.p.tasks)
	h.p.mu.Unlock()
	if n != 1 {
		t.Errorf("%d threads after execve", n)
	}
	if exited, _ := h.p.Exited(); exited {
		t.Error("the process ended")
	}
}

// waitInCall waits until task is inside a call's handler, as seen under
// the Process lock: a call that waits has then released the lock in its
// wait, and is waiting.
func waitInCall(t *testing.T, p *Process, task *Task) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		in := task.regs != nil
		p.mu.Unlock()
		if in {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("thread %d never entered its call", task.TID())
		}
	}
}

// TestExecFromAThreadTakesThePID: a thread other than the main one that
// execs becomes the main thread, with the PID as its TID, and the
// process's exit status is its own.
func TestExecFromAThreadTakesThePID(t *testing.T) {
	h := newExecHarness(t)
	c, main := h.spawn(t), h.p.main
	path := putStr(h.mem, execArea-base, "/bin/prog")
	if r := <-call(c, unix.SYS_EXECVE, path, 0, 0); r != 0 {
		t.Fatalf("execve from a thread = %d", int64(r))
	}
	if !main.Exited() || h.p.MainTask() != c || c.Exited() {
		t.Fatalf("after execve: main task %p, want the thread %p (exited %v); the old main exited %v", h.p.MainTask(), c, c.Exited(), main.Exited())
	}
	if got := <-call(c, unix.SYS_GETTID); got != 42 {
		t.Errorf("gettid after execve = %d, want the PID", got)
	}
	<-call(c, unix.SYS_EXIT, 9)
	if exited, code := h.p.Exited(); !exited || code != 9 {
		t.Errorf("after the exit: exited %v, status %d, want 9", exited, code)
	}
}

// TestExecArguments: what execve reads of argv and envp beyond what the
// host can be asked: an array that runs into unmapped memory without its
// NULL, and arguments that arrive as given.
func TestExecArguments(t *testing.T) {
	h := newExecHarness(t)
	path := putStr(h.mem, execArea-base, "/bin/prog")
	end := uint64(base + len(h.mem.mem))
	x := putStr(h.mem, 0x4000, "x")
	for a := end - 16; a < end; a += 8 {
		binary.LittleEndian.PutUint64(h.mem.mem[a-base:], x)
	}
	if r := sc(h.p, unix.SYS_EXECVE, path, end-16, 0); r != int64(neg(unix.EFAULT)) {
		t.Errorf("argv without its NULL before unmapped memory = %d, want EFAULT", r)
	}
	if r := sc(h.p, unix.SYS_EXECVE, path, argvAt(h.mem, execArea+0x400, "a", "", "c"), argvAt(h.mem, execArea+0x800, "")); r != 0 {
		t.Fatalf("execve = %d", r)
	}
	if a := h.asked[0]; !slices.Equal(a.argv, []string{"a", "", "c"}) || !slices.Equal(a.envp, []string{""}) {
		t.Errorf("Exec got argv %q envp %q", a.argv, a.envp)
	}
	if len(h.asked) != 1 {
		t.Errorf("Exec asked %d times", len(h.asked))
	}
}

// TestExecViewGuestPath: /proc/self/exe after running a view's file is
// its guest path with the view's links resolved, wherever the view's
// host directory lies behind links of its own.
func TestExecViewGuestPath(t *testing.T) {
	h := newExecHarness(t)
	linked := filepath.Join(t.TempDir(), "linked")
	if err := os.Symlink(h.dir, linked); err != nil {
		t.Fatal(err)
	}
	h.p.cfg.Views = []View{{Host: linked, Guest: "/opt/x"}}
	if r := sc(h.p, unix.SYS_EXECVE, putStr(h.mem, execArea-base, "/opt/x/ln-with-a-long-name"), 0, 0); r != 0 {
		t.Fatalf("execve = %d", r)
	}
	if got := h.readlink(t, "/proc/self/exe"); got != "/opt/x/prog" {
		t.Errorf("/proc/self/exe = %q, want /opt/x/prog", got)
	}
	if h.asked[0].hostPath != h.dir+"/prog" {
		t.Errorf("Exec got %s, want %s", h.asked[0].hostPath, h.dir+"/prog")
	}
}
