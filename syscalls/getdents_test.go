package syscalls

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// parseOldDirents reads struct linux_dirent records: d_ino, d_off,
// d_reclen, the name and its NUL, d_type in the record's last byte.
func parseOldDirents(t *testing.T, b []byte) map[string]testDirent {
	t.Helper()
	out := map[string]testDirent{}
	for len(b) > 0 {
		if len(b) < 20 {
			t.Fatalf("%d bytes left, no record", len(b))
		}
		reclen := binary.LittleEndian.Uint16(b[16:])
		if reclen%8 != 0 || int(reclen) > len(b) {
			t.Fatalf("d_reclen %d of %d bytes", reclen, len(b))
		}
		name := b[18:reclen]
		i := bytes.IndexByte(name, 0)
		if i < 0 {
			t.Fatalf("a name with no NUL in %q", name)
		}
		out[string(name[:i])] = testDirent{name: string(name[:i]), typ: b[reclen-1], reclen: reclen}
		b = b[reclen:]
	}
	return out
}

// TestOldGetdentsLikeHost: the old getdents (78) gives a view's
// directory the records, lengths and types the host kernel gives it; a
// buffer too small for one record is EINVAL, a file ENOTDIR.
func TestOldGetdentsLikeHost(t *testing.T) {
	root, _ := viewTree(t)
	hfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hfd)
	buf := make([]byte, 4096)
	small := hostRet(unix.SYS_GETDENTS, uintptr(hfd), uintptr(unsafe.Pointer(&buf[0])), 8)
	n := hostRet(unix.SYS_GETDENTS, uintptr(hfd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if n <= 0 {
		t.Fatalf("host getdents = %d", n)
	}
	host := parseOldDirents(t, buf[:n])

	p, mem := newViewProcess(t, root)
	fd := uint64(openPath(p, mem, "/data", unix.O_RDONLY|unix.O_DIRECTORY))
	if r := sc(p, unix.SYS_GETDENTS, fd, base, 8); r != small {
		t.Errorf("getdents of 8 bytes = %d, the host's %d", r, small)
	}
	got := sc(p, unix.SYS_GETDENTS, fd, base, 4096)
	if got != n {
		t.Errorf("getdents = %d bytes, the host's %d", got, n)
	}
	if got <= 0 {
		t.Fatalf("getdents = %d", got)
	}
	mine := parseOldDirents(t, mem.mem[:got])
	if len(mine) != len(host) {
		t.Errorf("mmvm lists %d entries, the host %d", len(mine), len(host))
	}
	for name, h := range host {
		if mine[name] != h {
			t.Errorf("%s: mmvm's record %+v, the host's %+v", name, mine[name], h)
		}
	}
	if r := sc(p, unix.SYS_GETDENTS, fd, base, 4096); r != 0 {
		t.Errorf("getdents at the end = %d", r)
	}
	file := uint64(openPath(p, mem, "/data/a.txt", unix.O_RDONLY))
	if r := sc(p, unix.SYS_GETDENTS, file, base, 4096); r != -int64(unix.ENOTDIR) {
		t.Errorf("getdents of a file = %d, want ENOTDIR", r)
	}
}
