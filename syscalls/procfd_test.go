package syscalls

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// openFDObjects opens the same kinds of file in the guest (through calls) and
// on the host, in the same order, and returns each kind's guest and host
// fd: both ends of a pipe, an eventfd, /dev/null read-write, a view file
// read-only (the host's: the same file), a view directory, and the view's
// root O_PATH.
type fdObject struct {
	kind        string
	guest, host int
}

func openFDObjects(t *testing.T, p *Process, mem *flatMemory, root string) []fdObject {
	t.Helper()
	var hp [2]int
	if err := unix.Pipe2(hp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if r := sc(p, unix.SYS_PIPE2, base+0x7000, 0); r != 0 {
		t.Fatalf("pipe2 = %d", r)
	}
	gp := [2]int{int(binary.LittleEndian.Uint32(mem.mem[0x7000:])), int(binary.LittleEndian.Uint32(mem.mem[0x7004:]))}
	hostOpen := func(name string, flags int) int {
		fd, err := unix.Open(name, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		return fd
	}
	hev, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	objs := []fdObject{
		{"pipe read end", gp[0], hp[0]},
		{"pipe write end", gp[1], hp[1]},
		{"eventfd", int(sc(p, unix.SYS_EVENTFD2, 0, 0)), hev},
		{"/dev/null", int(openPath(p, mem, "/dev/null", unix.O_RDWR)), hostOpen("/dev/null", unix.O_RDWR)},
		{"view file", int(openPath(p, mem, "/data/a.txt", unix.O_RDONLY)), hostOpen(filepath.Join(root, "a.txt"), unix.O_RDONLY)},
		{"view directory", int(openPath(p, mem, "/data/sub", unix.O_RDONLY|unix.O_DIRECTORY)), hostOpen(filepath.Join(root, "sub"), unix.O_RDONLY|unix.O_DIRECTORY)},
		{"O_PATH", int(openPath(p, mem, "/data", unix.O_PATH)), hostOpen(root, unix.O_PATH)},
	}
	t.Cleanup(func() {
		for _, o := range objs {
			unix.Close(o.host)
		}
	})
	for _, o := range objs {
		if o.guest < 0 {
			t.Fatalf("guest open of %s = %d", o.kind, o.guest)
		}
	}
	return objs
}

// TestProcSelfFDLikeHost compares /proc/self/fd/N of each kind of file
// with the host's: lstat's type and permissions, what stat shows, what
// readlink reads, and what open of the link, and of paths through it,
// answers.
func TestProcSelfFDLikeHost(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	objs := openFDObjects(t, p, mem, root)
	guestStat := func(nr uint64, name string) (unix.Stat_t, int64) {
		r := sc(p, nr, putStr(mem, 0x8000, name), base+0x1000)
		return *(*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x1000])), r
	}
	guestReadlink := func(name string) string {
		n := sc(p, unix.SYS_READLINK, putStr(mem, 0x8000, name), base+0x2000, 256)
		if n < 0 {
			return fmt.Sprintf("error %d", n)
		}
		return string(mem.mem[0x2000 : 0x2000+n])
	}
	for _, o := range objs {
		g, h := fmt.Sprintf("/proc/self/fd/%d", o.guest), fmt.Sprintf("/proc/self/fd/%d", o.host)
		var hst unix.Stat_t
		if err := unix.Lstat(h, &hst); err != nil {
			t.Fatal(err)
		}
		gst, r := guestStat(unix.SYS_LSTAT, g)
		if r != 0 || gst.Mode != hst.Mode || gst.Size != hst.Size || gst.Nlink != hst.Nlink {
			t.Errorf("%s: lstat = %d, mode %o size %d nlink %d; host mode %o size %d nlink %d", o.kind, r, gst.Mode, gst.Size, gst.Nlink, hst.Mode, hst.Size, hst.Nlink)
		}
		if err := unix.Stat(h, &hst); err != nil {
			t.Fatal(err)
		}
		gst, r = guestStat(unix.SYS_STAT, g)
		if r != 0 || gst.Mode != hst.Mode {
			t.Errorf("%s: stat = %d, mode %o; host %o", o.kind, r, gst.Mode, hst.Mode)
		}
		var fst [2]unix.Stat_t
		unix.Fstat(o.host, &fst[1])
		sc(p, unix.SYS_FSTAT, uint64(o.guest), base+0x1000)
		fst[0] = *(*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x1000]))
		if gst.Ino != fst[0].Ino || gst.Dev != fst[0].Dev {
			t.Errorf("%s: stat through the link shows %d:%d, fstat %d:%d", o.kind, gst.Dev, gst.Ino, fst[0].Dev, fst[0].Ino)
		}
		hostLink, err := os.Readlink(h)
		if err != nil {
			t.Fatal(err)
		}
		want := hostLink
		switch o.kind {
		case "pipe read end", "pipe write end":
			want = "pipe:[" + strconv.FormatUint(fst[0].Ino, 10) + "]"
			if hostLink != "pipe:["+strconv.FormatUint(fst[1].Ino, 10)+"]" {
				t.Errorf("host's pipe link %q, its inode %d", hostLink, fst[1].Ino)
			}
		case "view file", "view directory", "O_PATH":
			rel, _ := filepath.Rel(root, hostLink)
			want = filepath.Join("/data", rel)
		}
		if got := guestReadlink(g); got != want {
			t.Errorf("%s: readlink = %q, want %q (host %q)", o.kind, got, want, hostLink)
		}
		for _, flags := range []uint64{unix.O_RDONLY, unix.O_WRONLY, unix.O_PATH, unix.O_NOFOLLOW, unix.O_DIRECTORY, unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, unix.O_CREAT | unix.O_WRONLY} {
			hr := hostRet(unix.SYS_OPENAT, uintptr(0xffffff9c), cstr(h), uintptr(flags|unix.O_CLOEXEC))
			gr := openPath(p, mem, g, flags)
			if hr >= 0 {
				unix.Close(int(hr))
			}
			if gr >= 0 {
				sc(p, unix.SYS_CLOSE, uint64(gr))
			}
			if o.kind == "view file" && flags&unix.O_WRONLY != 0 && hr >= 0 && gr == -int64(unix.EROFS) {
				continue // the view is read-only, the host's file is not
			}
			if (hr >= 0) != (gr >= 0) || hr < 0 && hr != gr {
				t.Errorf("%s: open flags %#o = %d, host %d", o.kind, flags, gr, hr)
			}
		}
		for _, rest := range []string{"/x", "/", "/b.txt", "/missing", "/."} {
			hr := hostRet(unix.SYS_OPENAT, uintptr(0xffffff9c), cstr(h+rest), unix.O_RDONLY|unix.O_CLOEXEC)
			gr := openPath(p, mem, g+rest, unix.O_RDONLY)
			if hr >= 0 {
				unix.Close(int(hr))
			}
			if gr >= 0 {
				sc(p, unix.SYS_CLOSE, uint64(gr))
			}
			if (hr >= 0) != (gr >= 0) || hr < 0 && hr != gr {
				t.Errorf("%s: open of the link%s = %d, host %d", o.kind, rest, gr, hr)
			}
		}
	}
	for _, name := range []string{"999", "01", "abc", "-1"} {
		hr := hostRet(unix.SYS_OPENAT, uintptr(0xffffff9c), cstr("/proc/self/fd/"+name), unix.O_RDONLY|unix.O_CLOEXEC)
		hc := hostRet(unix.SYS_OPENAT, uintptr(0xffffff9c), cstr("/proc/self/fd/"+name), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC)
		if gr := openPath(p, mem, "/proc/self/fd/"+name, unix.O_RDONLY); gr != hr {
			t.Errorf("open fd/%s = %d, host %d", name, gr, hr)
		}
		if gc := openPath(p, mem, "/proc/self/fd/"+name, unix.O_CREAT|unix.O_WRONLY); gc != hc {
			t.Errorf("O_CREAT fd/%s = %d, host %d", name, gc, hc)
		}
	}
	var hst unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &hst); err != nil {
		t.Fatal(err)
	}
	gst, r := guestStat(unix.SYS_STAT, "/proc/self/fd")
	if r != 0 || gst.Mode != hst.Mode || gst.Size != int64(len(p.files().fds)) {
		t.Errorf("stat /proc/self/fd = %d, mode %o size %d; host mode %o, %d fds open", r, gst.Mode, gst.Size, hst.Mode, len(p.files().fds))
	}
	if got := guestReadlink("/proc/self/fd"); got != fmt.Sprintf("error %d", -int64(unix.EINVAL)) {
		t.Errorf("readlink of the directory = %s", got)
	}
}

// TestProcSelfFDListsFDs checks that getdents64 of /proc/self/fd and of
// /proc/<pid>/fd lists ".", "..", then every open fd (the directory's own
// included) in numeric order, each a DT_LNK.
func TestProcSelfFDListsFDs(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	openFDObjects(t, p, mem, root)
	if r := sc(p, unix.SYS_DUP2, 3, 12); r != 12 {
		t.Fatalf("dup2 = %d", r)
	}
	for _, dir := range []string{"/proc/self/fd", "/proc/42/fd"} {
		dfd := openPath(p, mem, dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if dfd < 0 {
			t.Fatalf("open %s = %d", dir, dfd)
		}
		var got []string
		for {
			n := sc(p, unix.SYS_GETDENTS64, uint64(dfd), base, 4096)
			if n < 0 {
				t.Fatalf("getdents64 = %d", n)
			}
			if n == 0 {
				break
			}
			for _, d := range parseDirents(mem.mem[:n]) {
				got = append(got, fmt.Sprintf("%s/%d", d.name, d.typ))
			}
		}
		want := []string{"./4", "../4"}
		for fd := range 13 {
			if fd == int(dfd) || fd <= 9 || fd == 12 {
				want = append(want, fmt.Sprintf("%d/%d", fd, unix.DT_LNK))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s lists %v, want %v", dir, got, want)
		}
		sc(p, unix.SYS_CLOSE, uint64(dfd))
	}
}

// TestProcSelfFDReopensMemfd checks that open of a memfd's link is the same
// memfd with a position of its own, and that O_TRUNC through it empties
// the memfd.
func TestProcSelfFDReopensMemfd(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "procfd-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	p.cfg.NewSharedFile = func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) }
	fd := sc(p, unix.SYS_MEMFD_CREATE, putStr(mem, 0x100, "m"), 0)
	copy(mem.mem[0x3000:], "abc")
	if n := sc(p, unix.SYS_WRITE, uint64(fd), base+0x3000, 3); n != 3 {
		t.Fatalf("write = %d", n)
	}
	link := fmt.Sprintf("/proc/self/fd/%d", fd)
	n := sc(p, unix.SYS_READLINK, putStr(mem, 0x8000, link), base+0x2000, 256)
	if got := string(mem.mem[0x2000 : 0x2000+max(n, 0)]); got != "/memfd:m (deleted)" {
		t.Errorf("readlink = %d %q", n, got)
	}
	again := openPath(p, mem, link, unix.O_RDWR)
	if got := readAll(t, p, mem, again); got != "abc" {
		t.Errorf("the reopened memfd reads %q", got)
	}
	if pos := sc(p, unix.SYS_LSEEK, uint64(fd), 0, unix.SEEK_CUR); pos != 3 {
		t.Errorf("the first description's position = %d", pos)
	}
	trunc := openPath(p, mem, link, unix.O_WRONLY|unix.O_TRUNC)
	if st := sc(p, unix.SYS_FSTAT, uint64(fd), base+0x1000); st != 0 || (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x1000])).Size != 0 {
		t.Errorf("O_TRUNC through the link left size %d", (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x1000])).Size)
	}
	for _, f := range []int64{fd, again, trunc} {
		sc(p, unix.SYS_CLOSE, uint64(f))
	}
}

// TestProcPidFDOfAnotherProcess checks /proc/<pid>/fd of another process
// of the VM: a child lists its parent's fds, not its own, reads their
// links, opens the parent's pipe through one, and finds a link gone once
// the parent closes its fd.
func TestProcPidFDOfAnotherProcess(t *testing.T) {
	h := newProcHarness(t)
	p := h.root
	if r := sc(p, unix.SYS_PIPE2, base+0x7000, 0); r != 0 {
		t.Fatalf("pipe2 = %d", r)
	}
	c := h.fork(t, p.main)
	cmem := c.cfg.Memory.(*flatMemory)
	if r := tc(c, unix.SYS_DUP3, 4, 9, 0); r != 9 {
		t.Fatalf("the child's dup3 = %d", r)
	}
	if r := tc(c, unix.SYS_CLOSE, 4); r != 0 {
		t.Fatalf("the child's close = %d", r)
	}
	list := func(dir string) []string {
		t.Helper()
		dfd := tc(c, unix.SYS_OPENAT, atFDCWD, putStr(cmem, 0x8000, dir), unix.O_RDONLY|unix.O_DIRECTORY)
		if dfd < 0 {
			t.Fatalf("open %s = %d", dir, dfd)
		}
		defer tc(c, unix.SYS_CLOSE, uint64(dfd))
		var names []string
		for {
			n := tc(c, unix.SYS_GETDENTS64, uint64(dfd), base, 4096)
			if n <= 0 {
				return names
			}
			for _, d := range parseDirents(cmem.mem[:n]) {
				names = append(names, d.name)
			}
		}
	}
	if got := fmt.Sprint(list("/proc/42/fd")); got != "[. .. 0 1 2 3 4]" {
		t.Errorf("the child lists /proc/42/fd as %s", got)
	}
	if got := fmt.Sprint(list("/proc/self/fd")); got != "[. .. 0 1 2 3 4 9]" { // 4: the directory's own fd
		t.Errorf("the child lists /proc/self/fd as %s", got)
	}
	f, _ := p.file(4)
	n := tc(c, unix.SYS_READLINK, putStr(cmem, 0x8000, "/proc/42/fd/4"), base+0x2000, 256)
	if got, want := string(cmem.mem[0x2000:0x2000+max(n, 0)]), fmt.Sprintf("pipe:[%d]", f.pipe.ino); got != want {
		t.Errorf("readlink of the parent's fd 4 = %d %q, want %q", n, got, want)
	}
	w := tc(c, unix.SYS_OPENAT, atFDCWD, putStr(cmem, 0x8000, "/proc/42/fd/3"), unix.O_WRONLY)
	copy(cmem.mem[0x3000:], "hi")
	if n := tc(c, unix.SYS_WRITE, uint64(w), base+0x3000, 2); n != 2 {
		t.Fatalf("the child's write through the parent's link = %d (fd %d)", n, w)
	}
	if n := sc(p, unix.SYS_READ, 3, base+0x3000, 8); n != 2 {
		t.Errorf("the parent's read = %d", n)
	}
	sc(p, unix.SYS_CLOSE, 4)
	if r := tc(c, unix.SYS_READLINK, putStr(cmem, 0x8000, "/proc/42/fd/4"), base+0x2000, 256); r != -int64(unix.ENOENT) {
		t.Errorf("readlink of a closed fd of the parent = %d", r)
	}
	if r := tc(c, unix.SYS_OPENAT, atFDCWD, putStr(cmem, 0x8000, "/proc/4242/fd"), unix.O_RDONLY); r != -int64(unix.ENOENT) {
		t.Errorf("open of a pid no process has = %d", r)
	}
}

// TestProcSelfFDInfoLikeHost compares /proc/self/fdinfo/N's position and
// flags lines with the host's for each kind of file, requires the inode
// line to be fstat's, and an eventfd's count line to be the host's.
func TestProcSelfFDInfoLikeHost(t *testing.T) {
	root, _ := viewTree(t)
	p, mem := newViewProcess(t, root)
	objs := openFDObjects(t, p, mem, root)
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	for _, o := range objs {
		// The host's are close-on-exec; so are the guest's.
		sc(p, unix.SYS_FCNTL, uint64(o.guest), unix.F_SETFD, unix.FD_CLOEXEC)
		if o.kind == "eventfd" {
			unix.Write(o.host, one)
			copy(mem.mem[0x3000:], one)
			sc(p, unix.SYS_WRITE, uint64(o.guest), base+0x3000, 8)
		}
		if o.kind == "view file" {
			unix.Read(o.host, make([]byte, 3))
			sc(p, unix.SYS_READ, uint64(o.guest), base+0x3000, 3)
		}
	}
	names := getdentsNames(t, p, mem, uint64(openPath(p, mem, "/proc/self/fdinfo", unix.O_RDONLY|unix.O_DIRECTORY)))
	if len(names) != len(p.files().fds)+2 {
		t.Errorf("/proc/self/fdinfo lists %v", names)
	}
	for _, o := range objs {
		host, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", o.host))
		if err != nil {
			t.Fatal(err)
		}
		fd := openPath(p, mem, fmt.Sprintf("/proc/self/fdinfo/%d", o.guest), unix.O_RDONLY)
		guest := readAll(t, p, mem, fd)
		sc(p, unix.SYS_CLOSE, uint64(fd))
		hl, gl := strings.Split(string(host), "\n"), strings.Split(guest, "\n")
		if len(gl) < 4 || gl[0] != hl[0] || gl[1] != hl[1] {
			t.Errorf("%s: fdinfo\n%s\nthe host's\n%s", o.kind, guest, host)
			continue
		}
		sc(p, unix.SYS_FSTAT, uint64(o.guest), base+0x1000)
		if want := fmt.Sprintf("ino:\t%d", (*unix.Stat_t)(unsafe.Pointer(&mem.mem[0x1000])).Ino); gl[3] != want {
			t.Errorf("%s: fdinfo's %q, fstat's %q", o.kind, gl[3], want)
		}
		if o.kind == "eventfd" && (len(gl) < 5 || gl[4] != hl[4]) {
			t.Errorf("eventfd: fdinfo\n%s\nthe host's\n%s", guest, host)
		}
	}
}
