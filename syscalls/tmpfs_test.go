package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// tmpfsProcess is a test process whose tmpfs files live in mf.
func tmpfsProcess(t *testing.T) (*Process, *flatMemory, *memfile.MemoryFile) {
	t.Helper()
	p, mem, _ := newTestProcess(t)
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "tmpfs-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	p.cfg.NewTmpfsFile = func(dev, ino uint64) TmpfsFile { return mm.NewTmpfsFile(mf, dev, ino) }
	return p, mem, mf
}

// TestTmpfsFreesPages checks the references a tmpfs file's pages live by:
// a name, an open fd; the last of them to go frees them, and so does the
// end of the VM (Close of the first process) for files still linked.
func TestTmpfsFreesPages(t *testing.T) {
	p, mem, mf := tmpfsProcess(t)
	data := putStr(mem, 0x2000, string(make([]byte, 3*4096)))
	fd := openPath(p, mem, "/tmp/a", unix.O_RDWR|unix.O_CREAT)
	if fd < 0 {
		t.Fatalf("open /tmp/a O_CREAT = %d", fd)
	}
	if r := sc(p, unix.SYS_WRITE, uint64(fd), data, 3*4096); r != 3*4096 {
		t.Fatalf("write = %d", r)
	}
	if a := mf.Stats().Allocated; a != 3*4096 {
		t.Fatalf("%d bytes allocated after writing 3 pages", a)
	}
	if r := sc(p, unix.SYS_UNLINK, putStr(mem, 0x1000, "/tmp/a")); r != 0 {
		t.Fatalf("unlink = %d", r)
	}
	if a := mf.Stats().Allocated; a != 3*4096 {
		t.Errorf("%d bytes allocated once unlinked but open, want the 3 pages", a)
	}
	if r := sc(p, unix.SYS_CLOSE, uint64(fd)); r != 0 {
		t.Fatalf("close = %d", r)
	}
	if a := mf.Stats().Allocated; a != 0 {
		t.Errorf("%d bytes allocated after the last close of an unlinked file", a)
	}

	// A file that stays linked, under a directory, lives until Close.
	if r := sc(p, unix.SYS_MKDIR, putStr(mem, 0x1000, "/dev/shm/d"), 0o755); r != 0 {
		t.Fatalf("mkdir = %d", r)
	}
	fd = openPath(p, mem, "/dev/shm/d/b", unix.O_WRONLY|unix.O_CREAT)
	if r := sc(p, unix.SYS_WRITE, uint64(fd), data, 4096); r != 4096 {
		t.Fatalf("write = %d", r)
	}
	sc(p, unix.SYS_CLOSE, uint64(fd))
	if a := mf.Stats().Allocated; a != 4096 {
		t.Errorf("%d bytes allocated for a closed, linked file of a page", a)
	}
	p.Close()
	if a := mf.Stats().Allocated; a != 0 {
		t.Errorf("%d bytes allocated after Close", a)
	}
}

// TestTmpfsMappedNames checks that /proc/self/maps' name of a tmpfs file
// (its contents' MappedName) follows renames of the file and of the
// directories above it, and reads " (deleted)" once unlinked.
func TestTmpfsMappedNames(t *testing.T) {
	p, mem, _ := tmpfsProcess(t)
	for _, dir := range []string{"/tmp/d", "/tmp/d/e"} {
		if r := sc(p, unix.SYS_MKDIR, putStr(mem, 0x1000, dir), 0o755); r != 0 {
			t.Fatalf("mkdir %s = %d", dir, r)
		}
	}
	fd := openPath(p, mem, "/tmp/d/e/f", unix.O_RDWR|unix.O_CREAT)
	f, _ := p.file(uint64(fd))
	shm := f.fs.shm.(*mm.SharedMemory)
	step := func(what, want string, nr uint64, args ...uint64) {
		t.Helper()
		if nr != 0 {
			if r := sc(p, nr, args...); r != 0 {
				t.Fatalf("%s = %d", what, r)
			}
		}
		if got := shm.MappedName(); got != want {
			t.Errorf("after %s: maps name %q, want %q", what, got, want)
		}
	}
	step("create", "/tmp/d/e/f", 0)
	step("rename of the file", "/tmp/d/e/g", unix.SYS_RENAME, putStr(mem, 0x1000, "/tmp/d/e/f"), putStr(mem, 0x1100, "/tmp/d/e/g"))
	step("rename of a directory above", "/tmp/x/e/g", unix.SYS_RENAME, putStr(mem, 0x1000, "/tmp/d"), putStr(mem, 0x1100, "/tmp/x"))
	step("unlink", "/tmp/x/e/g (deleted)", unix.SYS_UNLINK, putStr(mem, 0x1000, "/tmp/x/e/g"))
	if got := p.fdLinkText(f); got != "/tmp/x/e/g (deleted)" {
		t.Errorf("fd link %q, want the deleted path", got)
	}
	var st unix.Stat_t
	if st, _ = p.fsStat(f.fs); st.Nlink != 0 || st.Dev != shm.DeviceID() || st.Ino != shm.InodeID() {
		t.Errorf("fstat: nlink %d dev %d ino %d; maps dev %d ino %d", st.Nlink, st.Dev, st.Ino, shm.DeviceID(), shm.InodeID())
	}
}

// TestTmpfsWithoutMaker checks that a machine that makes no tmpfs files
// refuses to create one (ENOSYS) and changes nothing.
func TestTmpfsWithoutMaker(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	if fd := openPath(p, mem, "/tmp/a", unix.O_RDWR|unix.O_CREAT); fd != -int64(unix.ENOSYS) {
		t.Errorf("open O_CREAT = %d, want ENOSYS", fd)
	}
	if r := sc(p, unix.SYS_ACCESS, putStr(mem, 0x1000, "/tmp/a"), 0); r != -int64(unix.ENOENT) {
		t.Errorf("access = %d, want ENOENT", r)
	}
	if r := sc(p, unix.SYS_MKDIR, putStr(mem, 0x1000, "/tmp/d"), 0o755); r != 0 {
		t.Errorf("mkdir = %d: directories need no MemoryFile", r)
	}
}

// TestTmpfsInodeLimit checks that a tmpfs holds at most as many inodes as
// statfs reports (ENOSPC past them, as Linux's nr_inodes), whatever kind
// they are, and that a removed one makes room again.
func TestTmpfsInodeLimit(t *testing.T) {
	p, mem, _ := tmpfsProcess(t)
	p.cfg.MemoryLimit = 2 * 4096 * 8 // 8 inodes, the root one of them
	names := []struct {
		nr   uint64
		path string
	}{{unix.SYS_MKDIR, "/tmp/d"}, {unix.SYS_SYMLINK, "/tmp/l"}, {unix.SYS_MKNOD, "/tmp/f"}}
	for i := range 7 {
		nm := names[i%3]
		path := nm.path + string(rune('0'+i))
		var r int64
		if nm.nr == unix.SYS_SYMLINK {
			r = sc(p, nm.nr, putStr(mem, 0x1100, "target"), putStr(mem, 0x1000, path))
		} else {
			r = sc(p, nm.nr, putStr(mem, 0x1000, path), 0o644)
		}
		if r != 0 {
			t.Fatalf("making %s: %d", path, r)
		}
	}
	if fd := openPath(p, mem, "/tmp/full", unix.O_RDWR|unix.O_CREAT); fd != -int64(unix.ENOSPC) {
		t.Errorf("open O_CREAT in a full tmpfs = %d, want ENOSPC", fd)
	}
	if r := sc(p, unix.SYS_MKDIR, putStr(mem, 0x1000, "/tmp/full"), 0o755); r != -int64(unix.ENOSPC) {
		t.Errorf("mkdir in a full tmpfs = %d, want ENOSPC", r)
	}
	if fd := openPath(p, mem, "/dev/shm/other", unix.O_RDWR|unix.O_CREAT); fd < 0 {
		t.Errorf("open O_CREAT in another tmpfs = %d", fd)
	}
	if r := sc(p, unix.SYS_RMDIR, putStr(mem, 0x1000, "/tmp/d0")); r != 0 {
		t.Fatalf("rmdir = %d", r)
	}
	if fd := openPath(p, mem, "/tmp/full", unix.O_RDWR|unix.O_CREAT); fd < 0 {
		t.Errorf("open O_CREAT after a removal = %d", fd)
	}
}

// TestDotDotAfterLink checks that ".." is the parent of the directory a
// path really reaches, links followed, as Linux's walk takes it, not the
// lexical one; and that what comes before ".." must exist and be a
// directory.
func TestDotDotAfterLink(t *testing.T) {
	p, mem, _ := tmpfsProcess(t)
	for _, d := range []string{"/tmp/b", "/tmp/b/c"} {
		if r := sc(p, unix.SYS_MKDIR, putStr(mem, 0x1000, d), 0o755); r != 0 {
			t.Fatalf("mkdir %s = %d", d, r)
		}
	}
	if r := sc(p, unix.SYS_SYMLINK, putStr(mem, 0x1100, "b/c"), putStr(mem, 0x1000, "/tmp/a")); r != 0 {
		t.Fatalf("symlink = %d", r)
	}
	if fd := openPath(p, mem, "/tmp/a/../x", unix.O_RDWR|unix.O_CREAT); fd < 0 {
		t.Fatalf("open /tmp/a/../x O_CREAT = %d", fd)
	}
	for _, c := range []struct {
		path string
		want int64
	}{
		{"/tmp/b/x", 0},                            // made by a/../x
		{"/tmp/x", -int64(unix.ENOENT)},            // where lexical cleaning would have put it
		{"/tmp/nothing/../b", -int64(unix.ENOENT)}, // a missing directory before ".."
		{"/tmp/b/x/../c", -int64(unix.ENOTDIR)},    // a file before ".."
		{"/../../tmp/b/x", 0},                      // the root's parent is the root
	} {
		if r := sc(p, unix.SYS_ACCESS, putStr(mem, 0x1000, c.path), 0); r != c.want {
			t.Errorf("access %s = %d, want %d", c.path, r, c.want)
		}
	}
	if r := sc(p, unix.SYS_CHDIR, putStr(mem, 0x1000, "/tmp/a")); r != 0 {
		t.Fatalf("chdir = %d", r)
	}
	if r := sc(p, unix.SYS_ACCESS, putStr(mem, 0x1000, "../x"), 0); r != 0 {
		t.Errorf("access ../x from /tmp/a (really /tmp/b/c) = %d", r)
	}
}

// TestLinkToSlashNamesDir checks that a symbolic link whose target ends
// in a slash names a directory: followed as a path's last name to a file
// it is ENOTDIR, as Linux's walk of the link's body.
func TestLinkToSlashNamesDir(t *testing.T) {
	p, mem, _ := tmpfsProcess(t)
	if fd := openPath(p, mem, "/tmp/f", unix.O_RDWR|unix.O_CREAT); fd < 0 {
		t.Fatalf("create /tmp/f = %d", fd)
	}
	if r := sc(p, unix.SYS_MKDIR, putStr(mem, 0x1000, "/tmp/d"), 0o755); r != 0 {
		t.Fatalf("mkdir = %d", r)
	}
	for _, l := range [][2]string{{"f/", "/tmp/lf"}, {"/tmp/d/", "/tmp/ld"}, {"f", "/tmp/plain"}} {
		if r := sc(p, unix.SYS_SYMLINK, putStr(mem, 0x1100, l[0]), putStr(mem, 0x1000, l[1])); r != 0 {
			t.Fatalf("symlink %s = %d", l[1], r)
		}
	}
	for _, c := range []struct {
		path string
		want int64
	}{{"/tmp/lf", -int64(unix.ENOTDIR)}, {"/tmp/ld", 0}, {"/tmp/plain", 0}} {
		if r := sc(p, unix.SYS_ACCESS, putStr(mem, 0x1000, c.path), 0); r != c.want {
			t.Errorf("access %s = %d, want %d", c.path, r, c.want)
		}
	}
	if fd := openPath(p, mem, "/tmp/lf", unix.O_RDONLY); fd != -int64(unix.ENOTDIR) {
		t.Errorf("open of a link to \"f/\" = %d, want ENOTDIR", fd)
	}
}
