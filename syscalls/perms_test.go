package syscalls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPermission checks generic_permission's answers: the class of the
// mode that applies, and the capabilities that override it.
func TestPermission(t *testing.T) {
	user := creds{uid: 1000, euid: 1000, fsuid: 1000, gid: 1000, egid: 1000, fsgid: 1000, groups: []uint32{1000, 3000}}
	root := rootCreds()
	only := func(caps ...int) creds {
		c := user
		for _, cp := range caps {
			c.capEff |= 1 << cp
		}
		return c
	}
	file := func(mode, uid, gid uint32) unix.Stat_t {
		return unix.Stat_t{Mode: unix.S_IFREG | mode, Uid: uid, Gid: gid}
	}
	dir := func(mode, uid, gid uint32) unix.Stat_t {
		return unix.Stat_t{Mode: unix.S_IFDIR | mode, Uid: uid, Gid: gid}
	}
	for _, tc := range []struct {
		name string
		c    creds
		st   unix.Stat_t
		want access
		e    unix.Errno
	}{
		{"owner reads 0600", user, file(0o600, 1000, 0), mayRead, 0},
		{"owner class only: 0077 owner", user, file(0o077, 1000, 1000), mayRead, unix.EACCES},
		{"other reads 0600", user, file(0o600, 0, 0), mayRead, unix.EACCES},
		{"other reads 0604", user, file(0o604, 0, 0), mayRead, 0},
		{"group class only: 0604 in group", user, file(0o604, 0, 1000), mayRead, unix.EACCES},
		{"supplementary group reads 0640", user, file(0o640, 0, 3000), mayRead, 0},
		{"group writes 0460", user, file(0o460, 0, 3000), mayWrite, 0},
		{"read and write need both", user, file(0o644, 1000, 0), mayRead | mayWrite, 0},
		{"read and write of 0444", user, file(0o444, 1000, 0), mayRead | mayWrite, unix.EACCES},
		{"F_OK of 0000", user, file(0, 0, 0), 0, 0},
		{"root reads 0000", root, file(0, 0, 0), mayRead | mayWrite, 0},
		{"root executes 0644", root, file(0o644, 0, 0), mayExec, unix.EACCES},
		{"root executes 0100", root, file(0o100, 5, 5), mayExec, 0},
		{"root searches 0000 dir", root, dir(0, 0, 0), mayExec | mayWrite, 0},
		{"user searches 0700 dir", user, dir(0o700, 0, 0), mayExec, unix.EACCES},
		{"user searches 0711 dir", user, dir(0o711, 0, 0), mayExec, 0},
		{"user lists 0711 dir", user, dir(0o711, 0, 0), mayRead, unix.EACCES},
		{"DAC_READ_SEARCH reads 0000", only(unix.CAP_DAC_READ_SEARCH), file(0, 0, 0), mayRead, 0},
		{"DAC_READ_SEARCH writes 0000", only(unix.CAP_DAC_READ_SEARCH), file(0, 0, 0), mayWrite, unix.EACCES},
		{"DAC_READ_SEARCH lists 0000 dir", only(unix.CAP_DAC_READ_SEARCH), dir(0, 0, 0), mayRead | mayExec, 0},
		{"DAC_READ_SEARCH writes 0000 dir", only(unix.CAP_DAC_READ_SEARCH), dir(0, 0, 0), mayWrite | mayExec, unix.EACCES},
		{"DAC_OVERRIDE writes 0000 dir", only(unix.CAP_DAC_OVERRIDE), dir(0, 0, 0), mayWrite | mayExec, 0},
		{"DAC_OVERRIDE executes 0600", only(unix.CAP_DAC_OVERRIDE), file(0o600, 0, 0), mayExec, unix.EACCES},
		{"DAC_OVERRIDE executes 0001", only(unix.CAP_DAC_OVERRIDE), file(0o001, 0, 0), mayExec | mayRead, 0},
	} {
		if e := tc.c.permission(&tc.st, tc.want); e != tc.e {
			t.Errorf("%s: %v, want %v", tc.name, e, tc.e)
		}
	}
}

// TestAccessCreds: access checks as the real user, with no capabilities
// unless that is root; AT_EACCESS keeps the effective credentials.
func TestAccessCreds(t *testing.T) {
	c := rootCreds()
	c.uid, c.gid = 1000, 1000
	if a := c.accessCreds(0); a.fsuid != 1000 || a.fsgid != 1000 || a.capEff != 0 {
		t.Errorf("real 1000: fsuid %d fsgid %d caps %#x", a.fsuid, a.fsgid, a.capEff)
	}
	if a := c.accessCreds(unix.AT_EACCESS); a.fsuid != 0 || a.capEff != allCaps {
		t.Errorf("AT_EACCESS: fsuid %d caps %#x", a.fsuid, a.capEff)
	}
	c = rootCreds()
	c.capEff = 0
	if a := c.accessCreds(0); a.capEff != allCaps {
		t.Errorf("real root: caps %#x, want the permitted set", a.capEff)
	}
}

// TestViewPermissions: a view's files show the host's mode with the
// guest's root user and group, and a thread that left root gets what
// those allow, as natively: no reading a 0600 file, no search of a 0700
// directory, no listing of a 0711 one; W_OK of a file it could write is
// EROFS, of one it could not EACCES.
func TestViewPermissions(t *testing.T) {
	root, _ := viewTree(t)
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{"secret", 0o600}, {"open", 0o666}} {
		if err := os.WriteFile(filepath.Join(root, f.name), []byte("x\n"), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, f.name), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"d700", 0o700}, {"d711", 0o711}} {
		if err := os.Mkdir(filepath.Join(root, d.name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d.name, "f"), []byte("f\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, d.name), d.mode); err != nil {
			t.Fatal(err)
		}
	}
	p, mem := newViewProcess(t, root)
	if r := sc(p, unix.SYS_SETRESUID, 1000, 1000, 1000); r != 0 {
		t.Fatalf("setresuid = %d", r)
	}
	for _, tc := range []struct {
		path string
		want unix.Errno
	}{
		{"/data/a.txt", 0},
		{"/data/secret", unix.EACCES},
		{"/data/d700/f", unix.EACCES},
		{"/data/d711/f", 0},
		{"/data/d711", unix.EACCES},
		{"/data/d700/../a.txt", unix.EACCES},
	} {
		fd := openPath(p, mem, tc.path, unix.O_RDONLY)
		if fd >= 0 {
			sc(p, unix.SYS_CLOSE, uint64(fd))
			fd = 0
		}
		if fd != -int64(tc.want) {
			t.Errorf("open(%q) as 1000 = %d, want %d", tc.path, fd, -int64(tc.want))
		}
	}
	for _, tc := range []struct {
		path string
		mode uint64
		want unix.Errno
	}{
		{"/data/open", unix.R_OK, 0},
		{"/data/open", unix.W_OK, unix.EROFS},
		{"/data/a.txt", unix.W_OK, unix.EACCES},
		{"/data/secret", unix.R_OK, unix.EACCES},
		{"/data/secret", unix.F_OK, 0},
		{"/data/d700/f", unix.F_OK, unix.EACCES},
		{"/data/d711", unix.X_OK, 0},
	} {
		if r := sc(p, unix.SYS_ACCESS, putStr(mem, 0x8000, tc.path), tc.mode); r != -int64(tc.want) {
			t.Errorf("access(%q, %d) as 1000 = %d, want %d", tc.path, tc.mode, r, -int64(tc.want))
		}
	}
	if r := sc(p, unix.SYS_CHDIR, putStr(mem, 0x8000, "/data/d700")); r != -int64(unix.EACCES) {
		t.Errorf("chdir into a 0700 view directory as 1000 = %d, want EACCES", r)
	}
}

// TestTmpfsNewOwner: a new file is owned by the making thread's fsuid and
// fsgid, but in a setgid directory by the directory's group, a new
// directory there setgid too (inode_init_owner).
func TestTmpfsNewOwner(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.MemoryLimit = 64 << 20
	t.Cleanup(p.Close)
	for _, c := range []struct {
		nr   uint64
		args []uint64
	}{
		{unix.SYS_MKDIR, []uint64{putStr(mem, 0x8000, "/tmp/g"), 0o777}},
		{unix.SYS_CHOWN, []uint64{base + 0x8000, 0, 3000}},
		{unix.SYS_CHMOD, []uint64{base + 0x8000, 0o2777}},
		{unix.SYS_SETFSGID, []uint64{1000}},
		{unix.SYS_SETFSUID, []uint64{1000}},
		{unix.SYS_MKDIR, []uint64{putStr(mem, 0x8100, "/tmp/g/d"), 0o755}},
		{unix.SYS_MKDIR, []uint64{putStr(mem, 0x8200, "/tmp/mine"), 0o755}},
	} {
		if r := sc(p, c.nr, c.args...); r < 0 {
			t.Fatalf("call %d = %d", c.nr, r)
		}
	}
	for _, tc := range []struct {
		path           string
		uid, gid, mode uint32
	}{{"/tmp/g/d", 1000, 3000, unix.S_IFDIR | 0o2755}, {"/tmp/mine", 1000, 1000, unix.S_IFDIR | 0o755}} {
		n, e := p.main.nodeOf(tc.path, true)
		if e != 0 || n.tmp.uid != tc.uid || n.tmp.gid != tc.gid || n.tmp.mode != tc.mode {
			t.Errorf("%s: %v, %d:%d mode %o, want %d:%d mode %o", tc.path, e, n.tmp.uid, n.tmp.gid, n.tmp.mode, tc.uid, tc.gid, tc.mode)
		}
	}
}

// TestProcOwnerFollowsDumpable: a process that changes its ids is not
// dumpable (where the host's fs.suid_dumpable is 0, Linux's default), and
// its /proc files but the 0555 directories are root's, so that it may not
// read its 0400 environ; its /proc/<pid> directory is its own.
func TestProcOwnerFollowsDumpable(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	t.Cleanup(p.Close)
	dumpable := false
	if b, err := os.ReadFile("/proc/sys/fs/suid_dumpable"); err == nil && strings.TrimSpace(string(b)) == "1" {
		dumpable = true
	}
	if r := sc(p, unix.SYS_SETRESUID, 1000, 1000, 1000); r != 0 {
		t.Fatalf("setresuid = %d", r)
	}
	if r := sc(p, unix.SYS_PRCTL, unix.PR_GET_DUMPABLE); (r == 1) != dumpable {
		t.Errorf("PR_GET_DUMPABLE after setresuid = %d, host's suid_dumpable dumpable: %v", r, dumpable)
	}
	owner := uint32(0)
	if dumpable {
		owner = 1000
	}
	for _, tc := range []struct {
		path string
		mode uint32
		uid  uint32
	}{
		{"/proc/self/", unix.S_IFDIR | 0o555, 1000},
		{"/proc/self/environ", unix.S_IFREG | 0o400, owner},
		{"/proc/self/status", unix.S_IFREG | 0o444, owner},
	} {
		if r := sc(p, unix.SYS_STAT, putStr(mem, 0x8000, tc.path), base+0x2000); r != 0 {
			t.Fatalf("stat %s = %d", tc.path, r)
		}
		st := (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x2000]))
		if st.Mode != tc.mode || st.Uid != tc.uid {
			t.Errorf("%s: mode %o uid %d, want %o %d", tc.path, st.Mode, st.Uid, tc.mode, tc.uid)
		}
	}
	want := -int64(unix.EACCES)
	if dumpable {
		want = 3
	}
	if fd := openPath(p, mem, "/proc/self/environ", unix.O_RDONLY); fd != want {
		t.Errorf("open /proc/self/environ = %d, want %d", fd, want)
	}
}
