package syscalls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// viewTree makes a host directory to show at /data:
//
//	root/a.txt            "hello view\n"
//	root/sub/b.txt        "b\n"
//	root/link-in   -> a.txt           (stays inside)
//	root/dirlink   -> sub             (stays inside)
//	root/link-up   -> ../outside.txt  (leaves the root)
//	root/link-abs  -> <outside.txt>   (absolute, leaves the root)
//	root/link-proc -> /proc/self/maps (the guest's /proc, not the host's)
//	outside.txt           "secret\n"
func viewTree(t *testing.T) (root, outside string) {
	t.Helper()
	top := t.TempDir()
	root = filepath.Join(top, "root")
	outside = filepath.Join(top, "outside.txt")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "a.txt"), []byte("hello view\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sub", "b.txt"), []byte("b\n"), 0o644))
	must(os.WriteFile(outside, []byte("secret\n"), 0o644))
	must(os.Symlink("a.txt", filepath.Join(root, "link-in")))
	must(os.Symlink("sub", filepath.Join(root, "dirlink")))
	must(os.Symlink("../outside.txt", filepath.Join(root, "link-up")))
	must(os.Symlink(outside, filepath.Join(root, "link-abs")))
	must(os.Symlink("/proc/self/maps", filepath.Join(root, "link-proc")))
	return root, outside
}

// newViewProcess is a test Process that sees root at /data.
func newViewProcess(t *testing.T, root string) (*Process, *flatMemory) {
	t.Helper()
	p, mem, _ := newTestProcess(t)
	p.cfg.Views = []View{{Host: root, Guest: "/data"}}
	p.cfg.MemoryLimit = 64 << 20
	t.Cleanup(p.Close)
	return p, mem
}

// openPath opens name in the guest with flags.
func openPath(p *Process, mem *flatMemory, name string, flags uint64) int64 {
	return sc(p, unix.SYS_OPENAT, atFDCWD, putStr(mem, 0x8000, name), flags)
}

// readAll reads fd to its end through a guest buffer.
func readAll(t *testing.T, p *Process, mem *flatMemory, fd int64) string {
	t.Helper()
	var out []byte
	for {
		n := sc(p, unix.SYS_READ, uint64(fd), base+0x100, 64)
		if n < 0 {
			t.Fatalf("read(%d) = %d", fd, n)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, mem.mem[0x100:0x100+n]...)
	}
}

func TestViewResolution(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	for _, tc := range []struct {
		path  string
		flags uint64
		want  string // contents, or "" with errno
		errno unix.Errno
	}{
		{"/data/a.txt", unix.O_RDONLY, "hello view\n", 0},
		{"/data/sub/../a.txt", unix.O_RDONLY, "hello view\n", 0},
		{"/data/link-in", unix.O_RDONLY, "hello view\n", 0},
		{"/data/dirlink/b.txt", unix.O_RDONLY, "b\n", 0},
		{"/data/../outside.txt", unix.O_RDONLY, "", unix.ENOENT},
		{"/data/../../../../etc/passwd", unix.O_RDONLY, "", unix.ENOENT},
		{"/data/link-up", unix.O_RDONLY, "", unix.ENOENT},
		{"/data/link-abs", unix.O_RDONLY, "", unix.ENOENT},
		// The link's target is taken in the guest's file system: the
		// guest's own /proc (whose maps this test's Process leaves
		// empty), never the host's.
		{"/data/link-proc", unix.O_RDONLY, "", 0},
		{"/data/missing", unix.O_RDONLY, "", unix.ENOENT},
		{"/etc/passwd", unix.O_RDONLY, "", unix.ENOENT},
		{"/data/a.txt/x", unix.O_RDONLY, "", unix.ENOTDIR},
		{"/data/link-in", unix.O_RDONLY | unix.O_NOFOLLOW, "", unix.ELOOP},
		// A read-only file system: what Linux answers on a ro mount.
		{"/data/a.txt", unix.O_WRONLY, "", unix.EROFS},
		{"/data/a.txt", unix.O_RDWR, "", unix.EROFS},
		{"/data/a.txt", unix.O_RDONLY | unix.O_TRUNC, "", unix.EROFS},
		{"/data/a.txt", unix.O_RDONLY | unix.O_CREAT, "hello view\n", 0},
		{"/data/a.txt", unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL, "", unix.EEXIST},
		{"/data/new", unix.O_WRONLY | unix.O_CREAT, "", unix.EROFS},
		{"/data/nodir/new", unix.O_WRONLY | unix.O_CREAT, "", unix.ENOENT},
		{"/data", unix.O_WRONLY, "", unix.EISDIR},
		{"/data", unix.O_RDONLY | unix.O_CREAT, "", unix.EISDIR},
		{"/data/a.txt", unix.O_RDONLY | unix.O_DIRECTORY, "", unix.ENOTDIR},
		{"/data/a.txt/", unix.O_RDONLY, "", unix.ENOTDIR},
		{"/data", unix.O_TMPFILE | unix.O_RDWR, "", unix.EROFS},
		{"/dev/null", unix.O_RDWR, "", 0},
		{"/proc/self/maps", unix.O_WRONLY, "", unix.EACCES},
	} {
		fd := openPath(p, mem, tc.path, tc.flags)
		if tc.errno != 0 {
			if fd != -int64(tc.errno) {
				t.Errorf("open(%q, %#x) = %d, want %v", tc.path, tc.flags, fd, tc.errno)
			}
			if fd >= 0 {
				sc(p, unix.SYS_CLOSE, uint64(fd))
			}
			continue
		}
		if fd < 0 {
			t.Errorf("open(%q, %#x) = %d", tc.path, tc.flags, fd)
			continue
		}
		if got := readAll(t, p, mem, fd); got != tc.want {
			t.Errorf("open(%q): read %q, want %q", tc.path, got, tc.want)
		}
		if r := sc(p, unix.SYS_CLOSE, uint64(fd)); r != 0 {
			t.Errorf("close = %d", r)
		}
	}
}

// TestViewOfRootHidesHostProc: a view of / shows the host's files but never
// its /proc, neither by name (the guest's own /proc shadows it) nor through
// a relative link that climbs into it.
func TestViewOfRootHidesHostProc(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(strings.Repeat("../", strings.Count(dir, "/"))+"proc/self/maps", filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	p, mem, _ := newTestProcess(t)
	p.cfg.Views = []View{{Host: "/", Guest: "/"}}
	t.Cleanup(p.Close)
	// The link stays beneath the view's root, so openat2 follows it, to
	// the host's procfs, which no view shows.
	if fd := openPath(p, mem, filepath.Join(dir, "up"), unix.O_RDONLY); fd != -int64(unix.ENOENT) {
		t.Errorf("open of a link into the host's /proc = %d, want ENOENT", fd)
	}
	fd := openPath(p, mem, "/proc/self/status", unix.O_RDONLY)
	if fd < 0 {
		t.Fatalf("open /proc/self/status = %d", fd)
	}
	if s := readAll(t, p, mem, fd); !strings.Contains(s, "Pid:\t42\n") {
		t.Errorf("/proc/self/status is not the guest's:\n%s", s)
	}
}

func TestViewReadSeekStat(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	fd := uint64(openPath(p, mem, "/data/a.txt", unix.O_RDONLY))
	if int64(fd) < 0 {
		t.Fatalf("open = %d", int64(fd))
	}
	if n := sc(p, unix.SYS_PREAD64, fd, base+0x100, 100, 6); n != 5 || string(mem.mem[0x100:0x105]) != "view\n" {
		t.Errorf("pread at 6 = %d %q", n, mem.mem[0x100:0x100+max(n, 0)])
	}
	if n := sc(p, unix.SYS_PREAD64, fd, base+0x100, 100, 1<<63); n != -int64(unix.EINVAL) {
		t.Errorf("pread at a negative offset = %d", n)
	}
	for _, tc := range []struct {
		off    int64
		whence int
		want   int64
	}{{0, unix.SEEK_END, 11}, {-5, unix.SEEK_CUR, 6}, {3, unix.SEEK_SET, 3}, {-4, unix.SEEK_SET, -int64(unix.EINVAL)}, {0, 9, -int64(unix.EINVAL)}, {0, unix.SEEK_DATA, 0}} {
		if r := sc(p, unix.SYS_LSEEK, fd, uint64(tc.off), uint64(tc.whence)); r != tc.want {
			t.Errorf("lseek(%d, %d) = %d, want %d", tc.off, tc.whence, r, tc.want)
		}
	}
	// readv from offset 0 into two buffers.
	le := binary.LittleEndian
	le.PutUint64(mem.mem[0x200:], base+0x300)
	le.PutUint64(mem.mem[0x208:], 5)
	le.PutUint64(mem.mem[0x210:], base+0x400)
	le.PutUint64(mem.mem[0x218:], 100)
	if n := sc(p, unix.SYS_READV, fd, base+0x200, 2); n != 11 || string(mem.mem[0x300:0x305]) != "hello" || string(mem.mem[0x400:0x406]) != " view\n" {
		t.Errorf("readv = %d %q %q", n, mem.mem[0x300:0x305], mem.mem[0x400:0x406])
	}
	// preadv of "hello view\n" at 1 fills "ello " and "view\n" and leaves
	// the position where readv put it (11, the end).
	if n := sc(p, unix.SYS_PREADV, fd, base+0x200, 2, 1, 0xdead); n != 10 || string(mem.mem[0x300:0x305]) != "ello " || string(mem.mem[0x400:0x405]) != "view\n" {
		t.Errorf("preadv at 1 = %d %q %q", n, mem.mem[0x300:0x305], mem.mem[0x400:0x405])
	}
	if r := sc(p, unix.SYS_LSEEK, fd, 0, unix.SEEK_CUR); r != 11 {
		t.Errorf("preadv moved the position to %d", r)
	}
	if n := sc(p, unix.SYS_PREADV2, fd, base+0x200, 2, 1, 0, 1<<30); n != -int64(unix.EOPNOTSUPP) {
		t.Errorf("preadv2 with an unknown flag = %d", n)
	}
	if n := sc(p, unix.SYS_WRITE, fd, base, 1); n != -int64(unix.EBADF) {
		t.Errorf("write to a read-only fd = %d", n)
	}
	if r := sc(p, unix.SYS_FCNTL, fd, unix.F_GETFL); r != oLargefile {
		t.Errorf("F_GETFL = %#x, want O_LARGEFILE|O_RDONLY", r)
	}

	var host unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "a.txt"), &host); err != nil {
		t.Fatal(err)
	}
	if r := sc(p, unix.SYS_FSTAT, fd, base+0x1000); r != 0 {
		t.Fatalf("fstat = %d", r)
	}
	st := *(*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x1000]))
	if st.Size != 11 || st.Mode != host.Mode || st.Nlink != host.Nlink || st.Mtim != host.Mtim {
		t.Errorf("fstat: size %d mode %#o nlink %d mtime %v, want the host's %d %#o %d %v", st.Size, st.Mode, st.Nlink, st.Mtim, host.Size, host.Mode, host.Nlink, host.Mtim)
	}
	if st.Dev == host.Dev || st.Ino == host.Ino || st.Uid != guestID || st.Gid != guestID {
		t.Errorf("fstat shows host facts: dev %#x ino %d uid %d (host %#x %d %d)", st.Dev, st.Ino, st.Uid, host.Dev, host.Ino, host.Uid)
	}
	// The same file by another path (a link) is the same inode; another
	// file is not.
	for _, tc := range []struct {
		path  string
		flags uint64
		same  bool
	}{{"/data/link-in", 0, true}, {"/data/sub/b.txt", 0, false}, {"/data/link-in", unix.AT_SYMLINK_NOFOLLOW, false}} {
		if r := sc(p, unix.SYS_NEWFSTATAT, atFDCWD, putStr(mem, 0x8000, tc.path), base+0x2000, tc.flags); r != 0 {
			t.Fatalf("newfstatat(%s) = %d", tc.path, r)
		}
		o := *(*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x2000]))
		if (o.Ino == st.Ino && o.Dev == st.Dev) != tc.same {
			t.Errorf("newfstatat(%s): ino %d, a.txt's %d: same %v, want %v", tc.path, o.Ino, st.Ino, !tc.same, tc.same)
		}
	}
	// stat follows the link, lstat does not.
	if r := sc(p, unix.SYS_STAT, putStr(mem, 0x8000, "/data/link-in"), base+0x2000); r != 0 || (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x2000])).Ino != st.Ino {
		t.Errorf("stat of a link = %d, or another inode", r)
	}
	if r := sc(p, unix.SYS_LSTAT, putStr(mem, 0x8000, "/data/link-in"), base+0x2000); r != 0 || (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x2000])).Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("lstat of a link = %d, or not a link", r)
	}
	// AT_EMPTY_PATH is fstat; statx agrees with it.
	if r := sc(p, unix.SYS_NEWFSTATAT, fd, putStr(mem, 0x8000, ""), base+0x2000, unix.AT_EMPTY_PATH); r != 0 || !bytes.Equal(mem.mem[0x2000:0x2000+statSize], mem.mem[0x1000:0x1000+statSize]) {
		t.Errorf("newfstatat AT_EMPTY_PATH = %d, or differs from fstat", r)
	}
	if r := sc(p, unix.SYS_STATX, fd, putStr(mem, 0x8000, ""), unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, base+0x3000); r != 0 {
		t.Fatalf("statx = %d", r)
	}
	sx := *(*unix.Statx_t)(unsafe.Pointer(&mem.mem[0x3000]))
	if sx.Ino != st.Ino || sx.Size != 11 || uint32(sx.Mode) != st.Mode&0xffff || sx.Mtime.Sec != st.Mtim.Sec || unix.Mkdev(sx.Dev_major, sx.Dev_minor) != st.Dev {
		t.Errorf("statx %+v disagrees with fstat %+v", sx, st)
	}
	if r := sc(p, unix.SYS_STATX, atFDCWD, putStr(mem, 0x8000, "/data"), 0x8000_0000_0000_0000>>32, unix.STATX_BASIC_STATS, base+0x3000); r != -int64(unix.EINVAL) {
		t.Errorf("statx with unknown flags = %d", r)
	}
}

func TestViewDirectories(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	fd := uint64(openPath(p, mem, "/data", unix.O_RDONLY|unix.O_DIRECTORY))
	if int64(fd) < 0 {
		t.Fatalf("open dir = %d", int64(fd))
	}
	if n := sc(p, unix.SYS_READ, fd, base, 10); n != -int64(unix.EISDIR) {
		t.Errorf("read of a directory = %d", n)
	}
	if n := sc(p, unix.SYS_GETDENTS64, fd, base, 8); n != -int64(unix.EINVAL) {
		t.Errorf("getdents64 with no room = %d", n)
	}
	names := getdentsNames(t, p, mem, fd)
	want := []string{".", "..", "a.txt", "dirlink", "link-abs", "link-in", "link-proc", "link-up", "sub"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("getdents64: %v, want %v", names, want)
	}
	// rewinddir lists the directory again.
	if err := os.WriteFile(filepath.Join(root, "new.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sc(p, unix.SYS_LSEEK, fd, 0, unix.SEEK_SET); r != 0 {
		t.Fatalf("lseek of a directory to 0 = %d", r)
	}
	if names := getdentsNames(t, p, mem, fd); len(names) != len(want)+1 {
		t.Errorf("getdents64 after a rewind: %v, want new.txt too", names)
	}
	// openat against the directory fd; fchdir, then a relative open and
	// getcwd.
	if sub := sc(p, unix.SYS_OPENAT, fd, putStr(mem, 0x8000, "sub/b.txt"), 0); sub < 0 || readAll(t, p, mem, sub) != "b\n" {
		t.Errorf("openat(dirfd, sub/b.txt) = %d", sub)
	}
	if r := sc(p, unix.SYS_FCHDIR, fd); r != 0 {
		t.Fatalf("fchdir = %d", r)
	}
	if r := sc(p, unix.SYS_CHDIR, putStr(mem, 0x8000, "sub")); r != 0 {
		t.Fatalf("chdir sub = %d", r)
	}
	if r := sc(p, unix.SYS_GETCWD, base, 100); r != int64(len("/data/sub")+1) || string(mem.mem[:r]) != "/data/sub\x00" {
		t.Errorf("getcwd = %d %q", r, mem.mem[:max(r, 0)])
	}
	if f := openPath(p, mem, "b.txt", 0); f < 0 || readAll(t, p, mem, f) != "b\n" {
		t.Errorf("open(b.txt) in /data/sub = %d", f)
	}
	if r := sc(p, unix.SYS_CHDIR, putStr(mem, 0x8000, "/data/a.txt")); r != -int64(unix.ENOTDIR) {
		t.Errorf("chdir to a file = %d", r)
	}
	// The root lists the synthetic directories leading to the view,
	// /etc of /etc/mtab, and the tmpfs mount.
	rfd := uint64(openPath(p, mem, "/", unix.O_RDONLY|unix.O_DIRECTORY))
	if got := strings.Join(getdentsNames(t, p, mem, rfd), " "); got != ". .. data dev etc proc sys tmp" {
		t.Errorf("getdents64 of /: %s", got)
	}
	// readlink of a view's link, and of a file that is none.
	for _, tc := range []struct {
		path string
		want int64
		text string
	}{{"/data/link-in", 5, "a.txt"}, {"/data/a.txt", -int64(unix.EINVAL), ""}, {"/data/link-up", 14, "../outside.txt"}} {
		if r := sc(p, unix.SYS_READLINK, putStr(mem, 0x8000, tc.path), base, 100); r != tc.want || r > 0 && string(mem.mem[:r]) != tc.text {
			t.Errorf("readlink(%s) = %d %q", tc.path, r, mem.mem[:max(r, 0)])
		}
	}
	// access as the guest's root.
	for _, tc := range []struct {
		path string
		mode uint64
		want int64
	}{{"/data/a.txt", unix.R_OK, 0}, {"/data/a.txt", unix.W_OK, -int64(unix.EROFS)}, {"/data/a.txt", unix.X_OK, -int64(unix.EACCES)},
		{"/data/sub", unix.X_OK, 0}, {"/data/nope", unix.F_OK, -int64(unix.ENOENT)}, {"/dev/null", unix.W_OK, 0}} {
		if r := sc(p, unix.SYS_ACCESS, putStr(mem, 0x8000, tc.path), tc.mode); r != tc.want {
			t.Errorf("access(%s, %d) = %d, want %d", tc.path, tc.mode, r, tc.want)
		}
	}
}

// getdentsNames lists directory fd with a small buffer (several calls),
// sorted.
func getdentsNames(t *testing.T, p *Process, mem *flatMemory, fd uint64) []string {
	t.Helper()
	var names []string
	for {
		n := sc(p, unix.SYS_GETDENTS64, fd, base, 48)
		if n < 0 {
			t.Fatalf("getdents64 = %d", n)
		}
		if n == 0 {
			break
		}
		for _, d := range parseDirents(mem.mem[:n]) {
			names = append(names, d.name)
		}
	}
	sort.Strings(names)
	return names
}

// testDirent is one struct linux_dirent64 as a test reads it back.
type testDirent struct {
	name   string
	typ    uint8
	reclen uint16
}

// parseDirents splits what getdents64 wrote into its records.
func parseDirents(b []byte) []testDirent {
	var out []testDirent
	for len(b) >= 19 {
		reclen := binary.LittleEndian.Uint16(b[16:])
		name := b[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, testDirent{name: string(name), typ: b[18], reclen: reclen})
		b = b[reclen:]
	}
	return out
}

func TestDevices(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	t.Cleanup(p.Close)
	null := uint64(openPath(p, mem, "/dev/null", unix.O_RDWR))
	zero := uint64(openPath(p, mem, "/dev/zero", unix.O_RDWR))
	if int64(null) < 0 || int64(zero) < 0 {
		t.Fatalf("open = %d %d", int64(null), int64(zero))
	}
	if n := sc(p, unix.SYS_READ, null, base, 10); n != 0 {
		t.Errorf("read /dev/null = %d", n)
	}
	if n := sc(p, unix.SYS_WRITE, null, base, 10); n != 10 {
		t.Errorf("write /dev/null = %d", n)
	}
	mem.mem[5] = 7
	if n := sc(p, unix.SYS_READ, zero, base, 10); n != 10 || mem.mem[5] != 0 {
		t.Errorf("read /dev/zero = %d", n)
	}
	if r := sc(p, unix.SYS_LSEEK, zero, 100, unix.SEEK_SET); r != 0 {
		t.Errorf("lseek /dev/zero = %d", r)
	}
	if r := sc(p, unix.SYS_FSTAT, null, base); r != 0 || (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0])).Rdev != unix.Mkdev(1, 3) {
		t.Errorf("fstat /dev/null = %d", r)
	}
	// writev: /dev/null takes the bytes unread, /dev/urandom reads them
	// (EFAULT for a bad buffer), a read-only fd takes none.
	urandom := uint64(openPath(p, mem, "/dev/urandom", unix.O_WRONLY))
	ro := uint64(openPath(p, mem, "/dev/null", unix.O_RDONLY))
	le := binary.LittleEndian
	le.PutUint64(mem.mem[0x200:], 0x1000) // unmapped
	le.PutUint64(mem.mem[0x208:], 7)
	for _, tc := range []struct {
		fd   uint64
		want int64
	}{{null, 7}, {urandom, -int64(unix.EFAULT)}, {ro, -int64(unix.EBADF)}} {
		if r := sc(p, unix.SYS_WRITEV, tc.fd, base+0x200, 1); r != tc.want {
			t.Errorf("writev(fd %d) = %d, want %d", tc.fd, r, tc.want)
		}
	}
	if r := sc(p, unix.SYS_WRITEV, ro, base+0x200, 0); r != -int64(unix.EBADF) {
		t.Errorf("writev of nothing to a read-only fd = %d, want EBADF", r)
	}
	if r := sc(p, unix.SYS_WRITE, urandom, base, 16); r != 16 {
		t.Errorf("write /dev/urandom = %d", r)
	}

	// /dev/full as the host's: writes ENOSPC (even of nothing), reads
	// zeros, device 1:7.
	hfull, err := unix.Open("/dev/full", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no host /dev/full to compare with: %v", err)
	}
	defer unix.Close(hfull)
	full := uint64(openPath(p, mem, "/dev/full", unix.O_RDWR))
	if int64(full) < 0 {
		t.Fatalf("open /dev/full = %d", int64(full))
	}
	hb := hostMem(16)
	for _, n := range []uint64{0, 16} {
		want := hostRet(unix.SYS_WRITE, uintptr(hfull), hostAddr(hb), uintptr(n))
		if r := sc(p, unix.SYS_WRITE, full, base, n); r != want {
			t.Errorf("write(/dev/full, %d) = %d, host %d", n, r, want)
		}
	}
	mem.mem[3] = 7
	if r := sc(p, unix.SYS_READ, full, base, 8); r != 8 || mem.mem[3] != 0 {
		t.Errorf("read /dev/full = %d", r)
	}
	var hst unix.Stat_t
	if err := unix.Fstat(hfull, &hst); err != nil {
		t.Fatal(err)
	}
	if r := sc(p, unix.SYS_FSTAT, full, base); r != 0 || (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0])).Rdev != hst.Rdev {
		t.Errorf("fstat /dev/full = %d, rdev %#x, host %#x", r, (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0])).Rdev, hst.Rdev)
	}
}

// TestDevFDLinks checks /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr
// as Linux's udev makes them: links into /proc/self/fd, through which an
// open fd's file opens again (bash's process substitution, cat /dev/stdin).
func TestDevFDLinks(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	for name, want := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		n := sc(p, unix.SYS_READLINK, putStr(mem, 0x8000, name), base+0x100, 64)
		if got := string(mem.mem[0x100 : 0x100+max(n, 0)]); n < 0 || got != want {
			t.Errorf("readlink(%s) = %d %q, want %q", name, n, got, want)
		}
	}
	fd := openPath(p, mem, "/data/a.txt", unix.O_RDONLY)
	if fd < 0 {
		t.Fatalf("open /data/a.txt = %d", fd)
	}
	again := openPath(p, mem, "/dev/fd/"+strconv.FormatInt(fd, 10), unix.O_RDONLY)
	if again < 0 {
		t.Fatalf("open /dev/fd/%d = %d", fd, again)
	}
	if got := readAll(t, p, mem, again); got != "hello view\n" {
		t.Errorf("read through /dev/fd/%d = %q", fd, got)
	}
}

// procView is a ProcessView with fixed figures.
type procView struct{}

func (procView) Maps() string  { return "00400000-00401000 r-xp 00000000 00:30 2 /prog\n" }
func (procView) SMaps() string { return "" }
func (procView) Pagemap(start arch.Addr, entries []uint64) {
	for i := range entries {
		entries[i] = uint64(start)>>arch.PageShift + uint64(i)
	}
}
func (procView) VMAList() []ProcVMA {
	return []ProcVMA{
		{Start: 0x400000, End: 0x401000, Read: true, Exec: true, File: true, Offset: 0x1000, Dev: 0x30, Inode: 2, Name: "/prog"},
		{Start: 0x600000, End: 0x602000, Read: true, Write: true, Name: "[heap]"},
	}
}
func (procView) MemoryStatus() MemoryStatus {
	return MemoryStatus{VmSize: 8 << 20, VmRSS: 3 << 20, RssAnon: 1 << 20, RssFile: 2 << 20, THPEnabled: true}
}
func (procView) MmapMinAddr() uint64 { return 65536 }
func (procView) Overcommit() int     { return 1 }

func TestProcFiles(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.View = procView{}
	p.cfg.MemoryLimit = 64 << 20
	p.cfg.Usage = func() Usage { return Usage{RSS: 3 << 20} }
	p.SetExecutable("/prog", "")
	p.SetCommandLine([]string{"/prog", "x"})
	t.Cleanup(p.Close)
	for _, tc := range []struct{ path, want string }{
		{"/proc/self/maps", "00400000-00401000 r-xp 00000000 00:30 2 /prog\n"},
		{"/proc/42/maps", "00400000-00401000 r-xp 00000000 00:30 2 /prog\n"},
		{"/proc/self/cmdline", "/prog\x00x\x00"},
		{"/proc/self/comm", "prog\n"},
		{"/proc/sys/vm/mmap_min_addr", "65536\n"},
		{"/proc/sys/vm/overcommit_memory", "1\n"},
	} {
		fd := openPath(p, mem, tc.path, 0)
		if fd < 0 {
			t.Errorf("open(%s) = %d", tc.path, fd)
			continue
		}
		if got := readAll(t, p, mem, fd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
		}
		if r := sc(p, unix.SYS_LSEEK, uint64(fd), 0, unix.SEEK_END); r != -int64(unix.EINVAL) {
			t.Errorf("%s: lseek SEEK_END = %d, want EINVAL as seq_file", tc.path, r)
		}
	}
	fd := openPath(p, mem, "/proc/self/status", 0)
	status := readAll(t, p, mem, fd)
	for _, line := range []string{"Name:\tprog\n", "Pid:\t42\n", "VmSize:\t    8192 kB\n", "VmRSS:\t    3072 kB\n", "Uid:\t0\t0\t0\t0\n",
		"Groups:\t \nNStgid:\t42\nNSpid:\t42\n", "VmRSS:\t    3072 kB\nRssAnon:\t    1024 kB\nRssFile:\t    2048 kB\nRssShmem:\t       0 kB\n",
		"THP_enabled:\t1\n", "CapEff:\t000001ffffffffff\n", "Mems_allowed_list:\t0\n"} {
		if !strings.Contains(status, line) {
			t.Errorf("/proc/self/status lacks %q:\n%s", line, status)
		}
	}
	fd = openPath(p, mem, "/proc/meminfo", 0)
	meminfo := readAll(t, p, mem, fd)
	for _, line := range []string{"MemTotal:          65536 kB\n", "MemFree:           62464 kB\n", "SwapTotal:             0 kB\n"} {
		if !strings.Contains(meminfo, line) {
			t.Errorf("/proc/meminfo lacks %q:\n%s", line, meminfo)
		}
	}
	if r := sc(p, unix.SYS_READLINK, putStr(mem, 0x8000, "/proc/self"), base, 100); r != 2 || string(mem.mem[:2]) != "42" {
		t.Errorf("readlink /proc/self = %d %q", r, mem.mem[:max(r, 0)])
	}
}

// TestProcPagemap reads /proc/self/pagemap as Linux's pagemap_read: the
// entry of page N at offset 8N, EINVAL for an offset or count that is not
// a multiple of 8, and the end of the file at the top of user space.
func TestProcPagemap(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.View = procView{}
	t.Cleanup(p.Close)
	fd := uint64(openPath(p, mem, "/proc/self/pagemap", 0))
	if r := sc(p, unix.SYS_PREAD64, fd, base, 16, 0x400*8); r != 16 ||
		binary.LittleEndian.Uint64(mem.mem) != 0x400 || binary.LittleEndian.Uint64(mem.mem[8:]) != 0x401 {
		t.Errorf("pread of pages 0x400 and 0x401 = %d, % x", r, mem.mem[:16])
	}
	for _, c := range []struct{ count, off uint64 }{{8, 4}, {12, 0}, {4, 8}} {
		if r := sc(p, unix.SYS_PREAD64, fd, base, c.count, c.off); r != -int64(unix.EINVAL) {
			t.Errorf("pread of %d at %d = %d, want EINVAL", c.count, c.off, r)
		}
	}
	last := uint64(0x7ffffffff000>>12-1) * 8
	if r := sc(p, unix.SYS_PREAD64, fd, base, 16, last); r != 8 {
		t.Errorf("pread over the end of user space = %d, want 8", r)
	}
	if r := sc(p, unix.SYS_PREAD64, fd, base, 8, last+8); r != 0 {
		t.Errorf("pread past the end of user space = %d, want 0", r)
	}
}

// TestViewAbsoluteLinks: where a view's guest path is its host path, an
// absolute link into the view is found as it is natively; one into another
// view is found there; one out of every view is not.
func TestViewAbsoluteLinks(t *testing.T) {
	root, outside := viewTree(t)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "o.txt"), []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"abs-in": filepath.Join(root, "a.txt"), "abs-dir": filepath.Join(root, "sub"),
		"abs-other": filepath.Join(other, "o.txt"), "chain": "abs-in", "loop": "loop2", "loop2": filepath.Join(root, "loop"),
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	p, mem, _ := newTestProcess(t)
	p.cfg.Views = []View{{Host: root, Guest: root}, {Host: other, Guest: "/other"}}
	t.Cleanup(p.Close)
	for _, tc := range []struct {
		path, want string
		errno      unix.Errno
	}{
		{"abs-in", "hello view\n", 0},
		{"chain", "hello view\n", 0},
		{"abs-dir/b.txt", "b\n", 0},
		{"abs-other", "", unix.ENOENT}, // the other view is at /other, not at its host path
		{"link-abs", "", unix.ENOENT},  // outside.txt is in no view
		{"loop", "", unix.ELOOP},
	} {
		fd := openPath(p, mem, filepath.Join(root, tc.path), unix.O_RDONLY)
		if tc.errno != 0 {
			if fd != -int64(tc.errno) {
				t.Errorf("open(%s) = %d, want %v", tc.path, fd, tc.errno)
			}
			continue
		}
		if fd < 0 {
			t.Errorf("open(%s) = %d", tc.path, fd)
		} else if got := readAll(t, p, mem, fd); got != tc.want {
			t.Errorf("open(%s) read %q, want %q", tc.path, got, tc.want)
		}
	}
	_ = outside
}

// TestViewNeverEscapes opens thousands of random paths made of names that
// climb, follow links in and out of the view, and name the host's files:
// every file a guest fd reads is one of the view's own (by host device and
// inode), never outside.txt or anything else of the host.
func TestViewNeverEscapes(t *testing.T) {
	root, outside := viewTree(t)
	inView := map[[2]uint64]bool{}
	err := filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		var st unix.Stat_t
		if err == nil && unix.Stat(path, &st) == nil {
			inView[[2]uint64{st.Dev, st.Ino}] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p, mem := newViewProcess(t, root)
	names := []string{"..", ".", "data", "a.txt", "sub", "b.txt", "link-in", "dirlink", "link-up", "link-abs",
		"link-proc", "outside.txt", "root", "tmp", "proc", "self", "exe", "dev", "null", filepath.Base(filepath.Dir(root))}
	r := rand.New(rand.NewPCG(1, 2))
	opened := 0
	if r := sc(p, unix.SYS_CHDIR, putStr(mem, 0x8000, "/data")); r != 0 {
		t.Fatalf("chdir = %d", r)
	}
	for range 10000 {
		var b strings.Builder
		if r.IntN(4) == 0 {
			b.WriteString("/")
		}
		for i := range 1 + r.IntN(6) {
			if i > 0 {
				b.WriteString("/")
			}
			b.WriteString(names[r.IntN(len(names))])
		}
		fd := openPath(p, mem, b.String(), uint64(r.IntN(2))*unix.O_NOFOLLOW)
		if fd < 0 {
			continue
		}
		f, _ := p.file(uint64(fd))
		if f.fs.host != nil {
			opened++
			var st unix.Stat_t
			if err := unix.Fstat(int(f.fs.host.Fd()), &st); err != nil {
				t.Fatal(err)
			}
			if !inView[[2]uint64{st.Dev, st.Ino}] {
				t.Errorf("open(%q) reached a host file outside the view (%s?)", b.String(), outside)
			}
		}
		sc(p, unix.SYS_CLOSE, uint64(fd))
	}
	t.Logf("%d of 10000 random paths opened a view's file", opened)
	if opened < 100 {
		t.Errorf("only %d of the random paths opened a view's file: the test tries too little", opened)
	}
}

// TestProcessCloseReleasesHostFDs: files the program leaves open are
// closed with the Process, and the views' roots too.
func TestProcessCloseReleasesHostFDs(t *testing.T) {
	root, _ := viewTree(t)
	before := openHostFDs(t)
	p, mem, _ := newTestProcess(t)
	p.cfg.Views = []View{{Host: root, Guest: "/data"}}
	for _, name := range []string{"/data/a.txt", "/data", "/data/sub/b.txt"} {
		if fd := openPath(p, mem, name, 0); fd < 0 {
			t.Fatalf("open %s = %d", name, fd)
		}
	}
	sc(p, unix.SYS_NEWFSTATAT, atFDCWD, putStr(mem, 0x8000, "/data/link-in"), base, 0)
	if openHostFDs(t) <= before {
		t.Fatal("no host descriptor is open for the guest's files")
	}
	p.Close()
	if after := openHostFDs(t); after != before {
		t.Errorf("%d host descriptors open after Close, %d before", after, before)
	}
}

func openHostFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestStatxLayout checks that struct statx as mmvm writes it has the size
// the host kernel writes.
func TestStatxLayout(t *testing.T) {
	buf := hostMem(statxSize + extentSlack)
	n, _ := written(t, buf, func() error {
		return rawCall(unix.SYS_STATX, 0, cstr("/"), 0, unix.STATX_BASIC_STATS, hostAddr(buf))
	})
	if n > statxSize || statxSize != 256 {
		t.Errorf("the host's statx writes %d bytes; mmvm's struct statx is %d", n, statxSize)
	}
	p, mem, _ := newTestProcess(t)
	t.Cleanup(p.Close)
	for i := range mem.mem[:statxSize+64] {
		mem.mem[i] = 0xaa
	}
	if r := sc(p, unix.SYS_STATX, atFDCWD, putStr(mem, 0x8000, "/dev/null"), 0, unix.STATX_BASIC_STATS, base); r != 0 {
		t.Fatalf("statx = %d", r)
	}
	for i := statxSize; i < statxSize+64; i++ {
		if mem.mem[i] != 0xaa {
			t.Fatalf("statx wrote byte %d, past struct statx", i)
		}
	}
}

func TestParseView(t *testing.T) {
	for _, tc := range []struct {
		in          string
		host, guest string
		bad         bool
	}{
		{"/srv", "/srv", "/srv", false},
		{"/srv/:/data/", "/srv", "/data", false},
		{"/srv:rel", "", "", true},
		{"", "", "", true},
		{"/srv:", "", "", true},
	} {
		v, err := ParseView(tc.in)
		if (err != nil) != tc.bad || !tc.bad && (v.Host != tc.host || v.Guest != tc.guest) {
			t.Errorf("ParseView(%q) = %+v, %v", tc.in, v, err)
		}
	}
}

// roCases are the opens and accesses whose answers on a read-only file
// system TestReadOnlyLikeLinux takes from the host kernel: a path under the
// view's root, open flags (access mode with accessMode set).
var roCases = []struct {
	path       string
	flags      uint64
	accessMode bool
}{
	{"a.txt", unix.O_WRONLY, false},
	{"a.txt", unix.O_RDWR, false},
	{"a.txt", unix.O_RDONLY | unix.O_TRUNC, false},
	{"a.txt", unix.O_RDONLY | unix.O_CREAT, false},
	{"a.txt", unix.O_WRONLY | unix.O_CREAT, false},
	{"a.txt", unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL, false},
	{"a.txt", unix.O_RDONLY | unix.O_DIRECTORY, false},
	{"a.txt/", unix.O_RDONLY, false},
	{"a.txt", unix.O_WRONLY | unix.O_APPEND, false},
	{"new", unix.O_WRONLY | unix.O_CREAT, false},
	{"new", unix.O_RDONLY | unix.O_CREAT, false},
	{"new", unix.O_RDONLY | unix.O_CREAT | unix.O_EXCL, false},
	{"nodir/new", unix.O_WRONLY | unix.O_CREAT, false},
	{"sub", unix.O_WRONLY, false},
	{"sub", unix.O_RDWR, false},
	{"sub", unix.O_RDONLY | unix.O_CREAT, false},
	{"sub", unix.O_TMPFILE | unix.O_RDWR, false},
	{"sub", unix.O_TMPFILE | unix.O_WRONLY, false},
	{"sub", unix.O_RDONLY | unix.O_TRUNC, false},
	{"link-in", unix.O_RDONLY | unix.O_NOFOLLOW, false},
	{"link-in", unix.O_WRONLY | unix.O_NOFOLLOW, false},
	{"link-in", unix.O_WRONLY, false},
	{"a.txt", unix.W_OK, true},
	{"a.txt", unix.X_OK, true},
	{"a.txt", unix.R_OK, true},
	{"sub", unix.W_OK, true},
	{"sub", unix.X_OK, true},
	{"link-in", unix.W_OK, true},
	{"missing", unix.W_OK, true},
}

// roHelperEnv makes the test binary the read-only helper: in a user and
// mount namespace of its own (unshare -rm), it bind-mounts the directory
// named by the variable read-only on itself and prints the host's answer
// to each of roCases, one errno number a line.
const roHelperEnv = "MMVM_TEST_RO_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(roHelperEnv); dir != "" {
		os.Exit(roHelper(dir))
	}
	if os.Getenv(scriptHelperEnv) != "" {
		os.Exit(scriptHelper())
	}
	if dir := os.Getenv(nameHelperEnv); dir != "" {
		os.Exit(nameHelper(dir))
	}
	if os.Getenv(inetHelperEnv) != "" {
		os.Exit(inetHelper())
	}
	os.Exit(m.Run())
}

func roHelper(dir string) int {
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		fmt.Println("bind:", err)
		return 1
	}
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		fmt.Println("remount:", err)
		return 1
	}
	for _, c := range roCases {
		var err error
		p := dir + "/" + c.path // not Join, which drops a trailing slash
		if c.accessMode {
			err = unix.Faccessat(unix.AT_FDCWD, p, uint32(c.flags), 0)
		} else {
			var fd int
			fd, err = unix.Open(p, int(c.flags), 0o644)
			if err == nil {
				unix.Close(fd)
			}
		}
		e, _ := err.(unix.Errno)
		fmt.Println(int(e))
	}
	roPathHelper(dir)
	return 0
}

// TestReadOnlyLikeLinux: each open and access of roCases, and each call
// of roPathCases, gets from mmvm the errno the host kernel gives on a
// read-only bind mount of the same directory, as the root of a user
// namespace (the guest runs as root).
func TestReadOnlyLikeLinux(t *testing.T) {
	root, _ := viewTree(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1) to make a read-only mount with")
	}
	cmd := exec.Command(unshare, "-rm", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roHelperEnv+"="+root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("no user and mount namespace for a read-only mount here: %v: %s", err, out)
	}
	host := strings.Fields(string(out))
	if len(host) != len(roCases)+len(roPathCases) {
		t.Fatalf("helper printed %q", out)
	}
	p, mem := newViewProcess(t, root)
	for i, c := range roCases {
		name := "/data/" + c.path
		var r int64
		if c.accessMode {
			r = sc(p, unix.SYS_ACCESS, putStr(mem, 0x8000, name), c.flags)
		} else {
			r = openPath(p, mem, name, c.flags)
			if r >= 0 {
				sc(p, unix.SYS_CLOSE, uint64(r))
				r = 0
			}
		}
		want, _ := strconv.Atoi(host[i])
		if r != -int64(want) {
			t.Errorf("%s(%s, %#o): mmvm %v, Linux on a read-only mount %v", map[bool]string{true: "access", false: "open"}[c.accessMode],
				c.path, c.flags, unix.Errno(-r), unix.Errno(want))
		}
	}
	for i, c := range roPathCases {
		off := 0x8000
		a := roArgs(c.args, "/data", func(s string) uint64 {
			addr := putStr(mem, off, s)
			off += len(s) + 1
			return addr
		})
		r := sc(p, c.nr, a[:]...)
		want, _ := strconv.Atoi(host[len(roCases)+i])
		if r != -int64(want) {
			t.Errorf("%s: mmvm %v, Linux on a read-only mount %v", roCaseName(c.nr, c.args), unix.Errno(-r), unix.Errno(want))
		}
	}
}

// TestGetdentsLayoutLikeHost: each struct linux_dirent64 mmvm writes for a
// view's directory has the record length and type the host kernel gives
// the same entry.
func TestGetdentsLayoutLikeHost(t *testing.T) {
	root, _ := viewTree(t)
	hfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hfd)
	buf := make([]byte, 4096)
	n, err := unix.Getdents(hfd, buf)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		reclen uint16
		typ    byte
	}
	records := func(b []byte) map[string]rec {
		m := map[string]rec{}
		for _, d := range parseDirents(b) {
			m[d.name] = rec{d.reclen, d.typ}
		}
		return m
	}
	host := records(buf[:n])
	p, mem := newViewProcess(t, root)
	fd := uint64(openPath(p, mem, "/data", unix.O_RDONLY|unix.O_DIRECTORY))
	got := sc(p, unix.SYS_GETDENTS64, fd, base, 4096)
	if got <= 0 {
		t.Fatalf("getdents64 = %d", got)
	}
	mine := records(mem.mem[:got])
	if len(mine) != len(host) {
		t.Errorf("mmvm lists %d entries, the host %d", len(mine), len(host))
	}
	for name, h := range host {
		if mine[name] != h {
			t.Errorf("%s: mmvm's record %+v, the host's %+v", name, mine[name], h)
		}
	}
}

// mmapRecorder is a MemoryCalls that records the mmap it is asked for.
type mmapRecorder struct {
	MemoryCalls
	flags uint64
	file  *MmapFile
}

func (m *mmapRecorder) MMap(addr, length, prot, flags uint64, file *MmapFile, off uint64) (arch.Addr, error) {
	m.flags, m.file = flags, file
	return 0x7000_0000, nil
}

// countedMappable is a MappableFile that counts its references.
type countedMappable struct {
	MappableFile
	refs *int
	f    *os.File
}

func (c countedMappable) IncRef() { *c.refs++ }
func (c countedMappable) DecRef() {
	if *c.refs--; *c.refs == 0 {
		c.f.Close()
	}
}

// TestMmapFiles: a view's file maps through one MappableFile, made at the
// first mmap, readable and not writable, released with the last fd;
// /dev/zero maps anonymous memory; what has no mmap is ENODEV, an O_PATH fd
// EBADF.
func TestMmapFiles(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	rec := &mmapRecorder{}
	p.cfg.Calls = rec
	refs, made := 0, 0
	p.cfg.MapHostFile = func(f *os.File, size int64, name string, dev, ino uint64) (MappableFile, error) {
		made++
		if size != 11 || name != "/data/a.txt" || !isViewDev(dev) {
			t.Errorf("MapHostFile(%d, %q, %#x)", size, name, dev)
		}
		refs++
		return countedMappable{refs: &refs, f: f}, nil
	}
	p.fs() // the views' roots stay open
	before := openHostFDs(t)
	fd := uint64(openPath(p, mem, "/data/a.txt", unix.O_RDONLY))
	dup := uint64(sc(p, unix.SYS_DUP, fd))
	for range 2 {
		if r := sc(p, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0); r != 0x7000_0000 {
			t.Fatalf("mmap = %#x", r)
		}
		if rec.file == nil || !rec.file.Readable || rec.file.Writable || rec.flags&unix.MAP_ANONYMOUS != 0 {
			t.Errorf("mmap passed %+v, flags %#x", rec.file, rec.flags)
		}
	}
	if made != 1 {
		t.Errorf("%d MappableFiles made for one open file, want 1", made)
	}
	sc(p, unix.SYS_CLOSE, fd)
	if refs != 1 {
		t.Errorf("%d references after closing one of two fds, want 1", refs)
	}
	sc(p, unix.SYS_CLOSE, dup)
	if refs != 0 || openHostFDs(t) != before {
		t.Errorf("%d references, %d host fds (%d before) after the last close", refs, openHostFDs(t), before)
	}
	zero := uint64(openPath(p, mem, "/dev/zero", unix.O_RDONLY))
	if r := sc(p, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, zero, 0); r != 0x7000_0000 || rec.file != nil || rec.flags&unix.MAP_ANONYMOUS == 0 {
		t.Errorf("mmap /dev/zero = %#x with %+v, flags %#x: want anonymous", r, rec.file, rec.flags)
	}
	for _, tc := range []struct {
		path  string
		flags uint64
		want  unix.Errno
	}{{"/dev/null", 0, unix.ENODEV}, {"/proc/self/maps", 0, unix.ENODEV}, {"/data", 0, unix.ENODEV}, {"/data/a.txt", unix.O_PATH, unix.EBADF}} {
		fd := uint64(openPath(p, mem, tc.path, tc.flags))
		if r := sc(p, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0); r != -int64(tc.want) {
			t.Errorf("mmap of %s = %d, want %v", tc.path, r, tc.want)
		}
	}
	if r := sc(p, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, 99, 0); r != -int64(unix.EBADF) {
		t.Errorf("mmap of fd 99 = %d, want EBADF", r)
	}
	// Pipes and stdio have no mmap.
	if r := sc(p, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, 1, 0); r != -int64(unix.ENODEV) {
		t.Errorf("mmap of stdout = %d, want ENODEV", r)
	}
}

// TestGetdentsOrderLikeHost: getdents64 of a view's directory lists its
// entries in the host's order, "." and ".." included where the host puts
// them (a hashed directory lists them among the others), as a program
// that walks a directory natively sees them.
func TestGetdentsOrderLikeHost(t *testing.T) {
	root := t.TempDir()
	for i := range 40 {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("file%02d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names := func(b []byte) []string {
		var out []string
		for _, d := range parseDirents(b) {
			out = append(out, d.name)
		}
		return out
	}
	hfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hfd)
	buf := make([]byte, 8192)
	n, err := unix.Getdents(hfd, buf)
	if err != nil {
		t.Fatal(err)
	}
	host := names(buf[:n])
	p, mem := newViewProcess(t, root)
	fd := uint64(openPath(p, mem, "/data", unix.O_RDONLY|unix.O_DIRECTORY))
	got := sc(p, unix.SYS_GETDENTS64, fd, base, 8192)
	if got <= 0 {
		t.Fatalf("getdents64 = %d", got)
	}
	if mine := names(mem.mem[:got]); !slices.Equal(mine, host) {
		t.Errorf("mmvm lists\n%q\nthe host\n%q", mine, host)
	}
}

// TestProcmapQuery: the PROCMAP_QUERY ioctl of /proc/self/maps finds the
// vma covering an address, or the next one the flags accept, and fills
// struct procmap_query as Linux's do_procmap_query does.
func TestProcmapQuery(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.View = procView{}
	t.Cleanup(p.Close)
	fd := uint64(openPath(p, mem, "/proc/self/maps", 0))
	le := binary.LittleEndian
	query := func(addr, flags uint64, nameSize uint32) int64 {
		q := make([]byte, procmapQuerySize)
		le.PutUint64(q, procmapQuerySize)
		le.PutUint64(q[8:], flags)
		le.PutUint64(q[16:], addr)
		if nameSize != 0 {
			le.PutUint32(q[80:], nameSize)
			le.PutUint64(q[88:], base+0x200)
		}
		copy(mem.mem[0x100:], q)
		return sc(p, unix.SYS_IOCTL, fd, procmapQuery, base+0x100)
	}
	out := func(off int) uint64 { return le.Uint64(mem.mem[0x100+off:]) }
	if r := query(0x400800, 0, 64); r != 0 || out(24) != 0x400000 || out(32) != 0x401000 || out(40) != procmapReadable|procmapExecutable ||
		out(48) != 4096 || out(56) != 0x1000 || out(64) != 2 || le.Uint32(mem.mem[0x100+80:]) != 6 || string(mem.mem[0x200:0x206]) != "/prog\x00" {
		t.Errorf("query in /prog = %d, % x", r, mem.mem[0x100:0x100+procmapQuerySize])
	}
	if r := query(0x500000, 0, 0); r != -int64(unix.ENOENT) {
		t.Errorf("query in a hole = %d, want ENOENT", r)
	}
	if r := query(0x500000, procmapCoveringOrNext|procmapWritable, 0); r != 0 || out(24) != 0x600000 || out(56) != 0 || out(64) != 0 {
		t.Errorf("query of the next writable vma = %d, start %#x", r, out(24))
	}
	if r := query(0x400000, procmapCoveringOrNext|procmapShared, 0); r != -int64(unix.ENOENT) {
		t.Errorf("query of a shared vma = %d, want ENOENT", r)
	}
	if r := query(0x600000, 0, 6); r != -int64(unix.ENAMETOOLONG) {
		t.Errorf("query with a name buffer too small = %d, want ENAMETOOLONG", r)
	}
	if r := query(0x400000, 0x40, 0); r != -int64(unix.EINVAL) {
		t.Errorf("query with an unknown flag = %d, want EINVAL", r)
	}
	if r := sc(p, unix.SYS_IOCTL, fd, unix.TCGETS, base+0x100); r != -int64(unix.ENOTTY) {
		t.Errorf("TCGETS on maps = %d, want ENOTTY", r)
	}
}

// TestSetWorkingDir: the program starts in the directory SetWorkingDir
// names, so getcwd reports it and relative paths resolve under it; a
// path that is no directory in the guest is refused and changes nothing.
func TestSetWorkingDir(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "f.txt"), []byte("in sub\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, mem := newViewProcess(t, root)
	for _, bad := range []string{"/data/nope", "/data/sub/f.txt", "data/sub"} {
		if err := p.SetWorkingDir(bad); err == nil {
			t.Errorf("SetWorkingDir(%q) succeeded", bad)
		}
	}
	if err := p.SetWorkingDir("/data/sub/"); err != nil {
		t.Fatal(err)
	}
	if n := sc(p, unix.SYS_GETCWD, base, 64); n != int64(len("/data/sub"))+1 || string(mem.mem[:n-1]) != "/data/sub" {
		t.Errorf("getcwd = %d %q", n, mem.mem[:max(n, 0)])
	}
	fd := openPath(p, mem, "f.txt", unix.O_RDONLY)
	if fd < 0 {
		t.Fatalf("open of a relative path = %d", fd)
	}
	if got := readAll(t, p, mem, fd); got != "in sub\n" {
		t.Errorf("read %q", got)
	}
}

// TestViewLinkedDirResolved checks that a directory reached through a
// view's symbolic link is where the link leads, as Linux's d_path: getcwd
// after chdir, the fd link of an open, and paths relative to either.
func TestViewLinkedDirResolved(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	if r := sc(p, unix.SYS_CHDIR, putStr(mem, 0x8000, "/data/dirlink")); r != 0 {
		t.Fatalf("chdir /data/dirlink = %d", r)
	}
	if r := sc(p, unix.SYS_GETCWD, base, 100); r != int64(len("/data/sub")+1) || string(mem.mem[:r]) != "/data/sub\x00" {
		t.Errorf("getcwd after chdir through a link = %d %q, want /data/sub", r, mem.mem[:max(r, 0)])
	}
	fd := sc(p, unix.SYS_OPEN, putStr(mem, 0x8000, "/data/dirlink"), unix.O_RDONLY|unix.O_DIRECTORY)
	if fd < 0 {
		t.Fatalf("open /data/dirlink = %d", fd)
	}
	n := sc(p, unix.SYS_READLINK, putStr(mem, 0x8000, "/proc/self/fd/"+strconv.Itoa(int(fd))), base, 100)
	if got := string(mem.mem[:max(n, 0)]); got != "/data/sub" {
		t.Errorf("fd link of a directory opened through a link = %q, want /data/sub", got)
	}
	if f := sc(p, unix.SYS_OPENAT, uint64(fd), putStr(mem, 0x8000, "../a.txt"), 0); f < 0 {
		t.Errorf("openat(dirfd, ../a.txt) = %d", f)
	}
}
