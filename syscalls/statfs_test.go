package syscalls

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// TestStatfsLikeHost: statfs and fstatfs report, for each kind of file,
// the file system Linux reports for the same kind on the host: a view's
// file the host's own (its type, block size, blocks, name length, and
// flags with ST_RDONLY added: the view is read-only), /proc proc, /dev
// tmpfs (devtmpfs), a pipe pipefs, an eventfd anon_inodefs, a memfd
// tmpfs.
func TestStatfsLikeHost(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	at := uint64(base + 0x1000)
	guest := func(name string, r int64) unix.Statfs_t {
		t.Helper()
		if r != 0 {
			t.Fatalf("%s = %d", name, r)
		}
		return *(*unix.Statfs_t)(unsafe.Pointer(&mem.mem[at-base]))
	}
	host := func(name string) unix.Statfs_t {
		t.Helper()
		var sfs unix.Statfs_t
		if err := unix.Statfs(name, &sfs); err != nil {
			t.Fatal(err)
		}
		return sfs
	}
	hostFD := func(fd int) unix.Statfs_t {
		t.Helper()
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(fd, &sfs); err != nil {
			t.Fatal(err)
		}
		return sfs
	}
	same := func(what string, got, want unix.Statfs_t) {
		t.Helper()
		if got.Type != want.Type || got.Bsize != want.Bsize || got.Namelen != want.Namelen || got.Frsize != want.Frsize {
			t.Errorf("%s: type %#x bsize %d namelen %d frsize %d, host %#x %d %d %d",
				what, got.Type, got.Bsize, got.Namelen, got.Frsize, want.Type, want.Bsize, want.Namelen, want.Frsize)
		}
	}

	want := host(root + "/a.txt")
	got := guest("statfs /data/a.txt", sc(p, unix.SYS_STATFS, putStr(mem, 0x8000, "/data/a.txt"), at))
	same("a view's file", got, want)
	if got.Blocks != want.Blocks || got.Flags != want.Flags|unix.ST_RDONLY {
		t.Errorf("a view's file: blocks %d flags %#x, host %d %#x (+ST_RDONLY)", got.Blocks, got.Flags, want.Blocks, want.Flags)
	}
	fd := openPath(p, mem, "/data/sub", unix.O_RDONLY|unix.O_DIRECTORY)
	same("fstatfs of a view's directory", guest("fstatfs", sc(p, unix.SYS_FSTATFS, uint64(fd), at)), want)
	same("statfs /data", guest("statfs /data", sc(p, unix.SYS_STATFS, putStr(mem, 0x8000, "/data"), at)), want)

	same("/proc/self/maps", guest("statfs /proc/self/maps", sc(p, unix.SYS_STATFS, putStr(mem, 0x8000, "/proc/self/maps"), at)), host("/proc/self/maps"))
	same("/dev/null", guest("statfs /dev/null", sc(p, unix.SYS_STATFS, putStr(mem, 0x8000, "/dev/null"), at)), host("/dev/null"))
	if r := sc(p, unix.SYS_STATFS, putStr(mem, 0x8000, "/data/nothing"), at); r != neg64(unix.ENOENT) {
		t.Errorf("statfs of a missing file = %d, want ENOENT", r)
	}
	if r := sc(p, unix.SYS_FSTATFS, 99, at); r != neg64(unix.EBADF) {
		t.Errorf("fstatfs of a closed fd = %d, want EBADF", r)
	}

	var hp [2]int
	if err := unix.Pipe2(hp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hp[0])
	defer unix.Close(hp[1])
	if r := sc(p, unix.SYS_PIPE2, base+0x2000, 0); r != 0 {
		t.Fatal(r)
	}
	pr := uint64(binary.LittleEndian.Uint32(mem.mem[0x2000:]))
	same("a pipe", guest("fstatfs of a pipe", sc(p, unix.SYS_FSTATFS, pr, at)), hostFD(hp[0]))

	hev, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hev)
	ev := sc(p, unix.SYS_EVENTFD2, 0, 0)
	same("an eventfd", guest("fstatfs of an eventfd", sc(p, unix.SYS_FSTATFS, uint64(ev), at)), hostFD(hev))

	hm, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hm)
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "statfs-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	p.cfg.NewSharedFile = func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) }
	m := sc(p, unix.SYS_MEMFD_CREATE, putStr(mem, 0x8000, "x"), 0)
	same("a memfd", guest("fstatfs of a memfd", sc(p, unix.SYS_FSTATFS, uint64(m), at)), hostFD(hm))
}
