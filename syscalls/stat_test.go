package syscalls

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestFstatShowsNoHostFacts fstats stdio behind a host pipe and a host
// file (fds 1 and 2 the same file): the guest sees the kind of each, but a
// synthetic device and inode, its own user and group, and mmvm's start as
// every time.
func TestFstatShowsNoHostFacts(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	r, _ := hostOSPipe(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("12345")
	p.cfg.StdioFDs = [3]int{int(r.Fd()), int(f.Fd()), int(f.Fd())}
	start := p.start.UnixNano()
	want := []struct {
		mode uint32
		ino  uint64
		size int64
	}{{unix.S_IFIFO | 0o600, 1, 0}, {unix.S_IFREG | 0o644, 2, 5}, {unix.S_IFREG | 0o644, 2, 5}}
	for fd, w := range want {
		if r := p.Syscall(unix.SYS_FSTAT, [6]uint64{uint64(fd), base}); r != 0 {
			t.Fatalf("fstat(%d) = %d", fd, int64(r))
		}
		st := *(*unix.Stat_t)(unsafe.Pointer(&mem.mem[0]))
		var host unix.Stat_t
		unix.Fstat(p.cfg.StdioFDs[fd], &host)
		if st.Dev != stdioDev || st.Ino != w.ino || st.Dev == host.Dev || st.Ino == host.Ino {
			t.Errorf("fd %d: dev %#x ino %d, want %#x, %d (host: %#x, %d)", fd, st.Dev, st.Ino, stdioDev, w.ino, host.Dev, host.Ino)
		}
		if st.Mode != w.mode || st.Size != w.size || st.Nlink != 1 {
			t.Errorf("fd %d: mode %#o size %d nlink %d, want %#o, %d, 1", fd, st.Mode, st.Size, st.Nlink, w.mode, w.size)
		}
		if st.Uid != guestID || st.Gid != guestID {
			t.Errorf("fd %d: uid %d gid %d, want the guest's %d", fd, st.Uid, st.Gid, guestID)
		}
		for _, ts := range []unix.Timespec{st.Atim, st.Mtim, st.Ctim} {
			if ts.Nano() != start {
				t.Errorf("fd %d: time %d, want mmvm's start %d", fd, ts.Nano(), start)
			}
		}
	}
}
