package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// TestSpliceCalls checks sendfile, splice, tee and vmsplice between a
// memfd, two pipes and stdout (the guest program fdcopy.c compares the
// rest with the host): the results, the offsets they move, and that what
// they put in a pipe is not topped up by a later write.
func TestSpliceCalls(t *testing.T) {
	p, mem, out := newTestProcess(t)
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "splice-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	p.cfg.NewSharedFile = func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) }
	copy(mem.mem, "m\x00")
	const (
		data = base + 0x1000 // "hello, splice"
		off  = base + 0x200  // a loff_t
		fds  = base + 0x300  // the pipes' int[2]s
		iov  = base + 0x400  // one iovec: data, 5
		dst  = base + 0x2000
	)
	copy(mem.mem[0x1000:], "hello, splice")
	binary.LittleEndian.PutUint64(mem.mem[0x400:], data)
	binary.LittleEndian.PutUint64(mem.mem[0x408:], 5)
	setOff := func(v int64) { binary.LittleEndian.PutUint64(mem.mem[0x200:], uint64(v)) }
	for _, tc := range []struct {
		name    string
		nr      uint64
		args    [6]uint64
		want    uint64
		off     int64 // the loff_t at off after the call, when setOff is not -1
		pipeLen int   // fd 5's pipe's buffers after the call, when not -1
	}{
		{"memfd", unix.SYS_MEMFD_CREATE, [6]uint64{base, 0}, 3, -1, -1},
		{"write", unix.SYS_WRITE, [6]uint64{3, data, 13}, 13, -1, -1},
		{"pipe", unix.SYS_PIPE2, [6]uint64{fds, 0}, 0, -1, -1},     // 4, 5
		{"pipe", unix.SYS_PIPE2, [6]uint64{fds + 8, 0}, 0, -1, -1}, // 6, 7
		{"sendfile at 7", unix.SYS_SENDFILE, [6]uint64{5, 3, off, 100}, 6, 13, 1},
		{"write after it", unix.SYS_WRITE, [6]uint64{5, data, 1}, 1, -1, 2},
		{"write merges", unix.SYS_WRITE, [6]uint64{5, data, 1}, 1, -1, 2},
		{"tee", unix.SYS_TEE, [6]uint64{4, 7, 100, 0}, 8, -1, 2},
		{"splice pipe to stdout", unix.SYS_SPLICE, [6]uint64{6, 0, 1, 0, 100, 0}, 8, -1, -1},
		{"splice pipe to pipe", unix.SYS_SPLICE, [6]uint64{4, 0, 7, 0, 3, 0}, 3, -1, -1},
		{"vmsplice", unix.SYS_VMSPLICE, [6]uint64{7, iov, 1, 0}, 5, -1, -1},
		{"splice with offset on a pipe", unix.SYS_SPLICE, [6]uint64{6, off, 3, 0, 1, 0}, neg(unix.ESPIPE), -1, -1},
		{"sendfile to stdout", unix.SYS_SENDFILE, [6]uint64{1, 3, off, 5}, 5, 5, -1},
		{"sendfile to stdin", unix.SYS_SENDFILE, [6]uint64{0, 3, off, 5}, neg(unix.EBADF), 0, -1}, // written back unchanged
		{"copy_file_range memfd to stdout", unix.SYS_COPY_FILE_RANGE, [6]uint64{3, 0, 1, 0, 5, 0}, neg(unix.EINVAL), -1, -1},
	} {
		if tc.off != -1 {
			setOff(map[string]int64{"sendfile at 7": 7}[tc.name])
		}
		if got := p.Syscall(tc.nr, tc.args); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, int64(got), int64(tc.want))
		}
		if tc.off != -1 {
			if got := int64(binary.LittleEndian.Uint64(mem.mem[0x200:])); got != tc.off {
				t.Errorf("%s: offset %d, want %d", tc.name, got, tc.off)
			}
		}
		if tc.pipeLen != -1 {
			f, _ := p.file(5)
			if got := len(f.pipe.bufs); got != tc.pipeLen {
				t.Errorf("%s: %d pipe buffers, want %d", tc.name, got, tc.pipeLen)
			}
		}
	}
	if got, want := out.String(), "splicehhhello"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	p.Syscall(unix.SYS_FCNTL, [6]uint64{6, unix.F_SETFL, unix.O_NONBLOCK})
	if r := p.Syscall(unix.SYS_READ, [6]uint64{6, dst, 100}); r != 8 || string(mem.mem[0x2000:0x2008]) != "splhello" {
		t.Errorf("second pipe: %d bytes %q, want 8 \"splhello\"", int64(r), mem.mem[0x2000:0x2000+max(int(int64(r)), 0)])
	}
}

// TestProcPerProcess checks which /proc files are a process's own, which
// Linux gives no splice_read.
func TestProcPerProcess(t *testing.T) {
	for path, want := range map[string]bool{
		"/proc/self/status": true, "/proc/12/maps": true, "/proc/thread-self/comm": true,
		"/proc/meminfo": false, "/proc/sys/kernel/ostype": false, "/procx/self": false, "/proc/1x/a": false,
	} {
		if got := procPerProcess(path); got != want {
			t.Errorf("procPerProcess(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestSpliceDevices checks the devices' splice reads as Linux 6.18 serves
// them (6.1, the KVM tests' native kernel, has none for /dev/zero):
// /dev/zero is read from offset 0 pages, its offset left where it was;
// /dev/null cannot be read so (EINVAL) but takes what a pipe holds.
func TestSpliceDevices(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	copy(mem.mem, "/dev/zero\x00/dev/null\x00")
	const (
		off = base + 0x200 // a loff_t
		fds = base + 0x300 // the pipe's int[2]
	)
	binary.LittleEndian.PutUint64(mem.mem[0x200:], 12345)
	for _, tc := range []struct {
		name string
		nr   uint64
		args [6]uint64
		want uint64
	}{
		{"open /dev/zero", unix.SYS_OPEN, [6]uint64{base, unix.O_RDONLY}, 3},
		{"open /dev/null", unix.SYS_OPEN, [6]uint64{base + 10, unix.O_RDWR}, 4},
		{"pipe", unix.SYS_PIPE2, [6]uint64{fds, 0}, 0}, // 5, 6
		{"sendfile zero to null", unix.SYS_SENDFILE, [6]uint64{4, 3, 0, 5000}, 5000},
		{"splice zero to pipe", unix.SYS_SPLICE, [6]uint64{3, off, 6, 0, 100000, 0}, 65536},
		{"splice pipe to null", unix.SYS_SPLICE, [6]uint64{5, 0, 4, off, 100000, 0}, 65536},
		{"splice null to pipe", unix.SYS_SPLICE, [6]uint64{4, 0, 6, 0, 10, 0}, neg(unix.EINVAL)},
	} {
		if got := p.Syscall(tc.nr, tc.args); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, int64(got), int64(tc.want))
		}
	}
	if got := binary.LittleEndian.Uint64(mem.mem[0x200:]); got != 12345 {
		t.Errorf("offset %d, want 12345 (the devices' reads and writes leave it)", got)
	}
}
