package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// TestMemfdCalls checks memfd_create's argument checks (those the guest
// program memfd.c cannot compare with the host: MFD_HUGETLB's sizes),
// the fd calls on a memfd, and that
// closing the last fd frees its pages.
func TestMemfdCalls(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "memfd-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	p.cfg.NewSharedFile = func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) }
	copy(mem.mem, "t\x00")
	long := make([]byte, mfdNameMax+1)
	for i := range long {
		long[i] = 'n'
	}
	copy(mem.mem[0x100:], long)
	const data = base + 0x1000
	copy(mem.mem[0x1000:], "hello, memfd")
	for _, tc := range []struct {
		name string
		nr   uint64
		args [6]uint64
		want uint64
	}{
		{"unknown flag", unix.SYS_MEMFD_CREATE, [6]uint64{base, 0x40}, neg(unix.EINVAL)},
		{"huge size without MFD_HUGETLB", unix.SYS_MEMFD_CREATE, [6]uint64{base, unix.MFD_HUGE_2MB}, neg(unix.EINVAL)},
		{"MFD_EXEC|MFD_NOEXEC_SEAL", unix.SYS_MEMFD_CREATE, [6]uint64{base, mfdExec | mfdNoexecSeal}, neg(unix.EINVAL)},
		{"MFD_HUGETLB 1GB", unix.SYS_MEMFD_CREATE, [6]uint64{base, unix.MFD_HUGETLB | unix.MFD_HUGE_1GB}, neg(unix.ENODEV)},
		{"MFD_HUGETLB 64KB", unix.SYS_MEMFD_CREATE, [6]uint64{base, unix.MFD_HUGETLB | unix.MFD_HUGE_64KB}, neg(unix.ENODEV)},
		{"name unmapped", unix.SYS_MEMFD_CREATE, [6]uint64{0x1000, 0}, neg(unix.EFAULT)},
		{"name too long", unix.SYS_MEMFD_CREATE, [6]uint64{base + 0x100, 0}, neg(unix.EINVAL)},
		{"memfd", unix.SYS_MEMFD_CREATE, [6]uint64{base, unix.MFD_CLOEXEC}, 3},
		{"write", unix.SYS_WRITE, [6]uint64{3, data, 12}, 12},
		{"lseek end", unix.SYS_LSEEK, [6]uint64{3, 0, unix.SEEK_END}, 12},
		{"pread", unix.SYS_PREAD64, [6]uint64{3, data + 0x100, 5, 7}, 5},
		{"pwrite past the end", unix.SYS_PWRITE64, [6]uint64{3, data, 5, 8192}, 5},
		{"pwrite negative", unix.SYS_PWRITE64, [6]uint64{3, data, 5, 1 << 63}, neg(unix.EINVAL)},
		{"pwrite from unmapped", unix.SYS_PWRITE64, [6]uint64{3, 0x1000, 5, 0}, neg(unix.EFAULT)},
		{"pwrite on stdout", unix.SYS_PWRITE64, [6]uint64{1, data, 5, 0}, neg(unix.ESPIPE)},
		{"ftruncate", unix.SYS_FTRUNCATE, [6]uint64{3, 2}, 0},
		{"ftruncate negative", unix.SYS_FTRUNCATE, [6]uint64{3, 1 << 63}, neg(unix.EINVAL)},
		{"ftruncate stdout", unix.SYS_FTRUNCATE, [6]uint64{1, 0}, neg(unix.EINVAL)},
		{"ftruncate closed", unix.SYS_FTRUNCATE, [6]uint64{9, 0}, neg(unix.EBADF)},
		{"fallocate", unix.SYS_FALLOCATE, [6]uint64{3, 0, 0, 4096}, 0},
		{"fallocate punch", unix.SYS_FALLOCATE, [6]uint64{3, unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE, 0, 4096}, 0},
		{"fallocate punch without keep", unix.SYS_FALLOCATE, [6]uint64{3, unix.FALLOC_FL_PUNCH_HOLE, 0, 4096}, neg(unix.EOPNOTSUPP)},
		{"fallocate zero range", unix.SYS_FALLOCATE, [6]uint64{3, unix.FALLOC_FL_ZERO_RANGE, 0, 4096}, neg(unix.EOPNOTSUPP)},
		{"fallocate unknown mode", unix.SYS_FALLOCATE, [6]uint64{3, 0x100, 0, 4096}, neg(unix.EOPNOTSUPP)},
		{"fallocate empty", unix.SYS_FALLOCATE, [6]uint64{3, 0, 0, 0}, neg(unix.EINVAL)},
		{"fallocate overflow", unix.SYS_FALLOCATE, [6]uint64{3, 0, 1<<63 - 1, 2}, neg(unix.EFBIG)},
		{"fallocate stdout", unix.SYS_FALLOCATE, [6]uint64{1, 0, 0, 1}, neg(unix.ENODEV)},
		{"get seals", unix.SYS_FCNTL, [6]uint64{3, unix.F_GET_SEALS}, unix.F_SEAL_SEAL},
		{"add seals unsealable", unix.SYS_FCNTL, [6]uint64{3, unix.F_ADD_SEALS, unix.F_SEAL_GROW}, neg(unix.EPERM)},
		{"get seals of stdout", unix.SYS_FCNTL, [6]uint64{1, unix.F_GET_SEALS}, neg(unix.EINVAL)},
		{"noexec memfd", unix.SYS_MEMFD_CREATE, [6]uint64{base, mfdNoexecSeal}, 4},
		{"its seals", unix.SYS_FCNTL, [6]uint64{4, unix.F_GET_SEALS}, unix.F_SEAL_EXEC},
		{"close", unix.SYS_CLOSE, [6]uint64{4}, 0},
	} {
		if got := p.Syscall(tc.nr, tc.args); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, int64(got), int64(tc.want))
		}
	}
	if got := string(mem.mem[0x1100:0x1105]); got != "memfd" {
		t.Errorf("pread read %q, want \"memfd\"", got)
	}
	var st unix.Stat_t
	f, _ := p.file(3)
	st, _ = p.fsStat(f.fs)
	if st.Size != 4096 || st.Mode != unix.S_IFREG|0o777 || st.Dev != memfdDev || st.Blocks != 0 {
		t.Errorf("fstat: size %d mode %o dev %d blocks %d, want 4096, 100777, 1, 0 (written, truncated, fallocated to a page, punched)", st.Size, st.Mode, st.Dev, st.Blocks)
	}
	if p.Syscall(unix.SYS_CLOSE, [6]uint64{3}) != 0 {
		t.Fatal("close failed")
	}
	if a := mf.Stats().Allocated; a != 0 {
		t.Errorf("%d bytes still allocated after the last close", a)
	}
}

// TestHugetlbMemfd checks memfd_create(MFD_HUGETLB) as Linux 6.18 answers
// on a machine with no huge pages reserved: the file is made, its size
// set in whole huge pages, read as zeros, never written, mapped or
// allocated.
func TestHugetlbMemfd(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	copy(mem.mem, "h\x00")
	for _, tc := range []struct {
		name string
		nr   uint64
		args [6]uint64
		want uint64
	}{
		{"create", unix.SYS_MEMFD_CREATE, [6]uint64{base, unix.MFD_HUGETLB}, 3},
		{"create 2MB, sealing", unix.SYS_MEMFD_CREATE, [6]uint64{base, unix.MFD_HUGETLB | unix.MFD_HUGE_2MB | unix.MFD_ALLOW_SEALING}, 4},
		{"ftruncate a page", unix.SYS_FTRUNCATE, [6]uint64{3, 4096}, neg(unix.EINVAL)},
		{"ftruncate a huge page", unix.SYS_FTRUNCATE, [6]uint64{3, 2 << 20}, 0},
		{"lseek end", unix.SYS_LSEEK, [6]uint64{3, 0, unix.SEEK_END}, 2 << 20},
		{"pread", unix.SYS_PREAD64, [6]uint64{3, base + 0x100, 10, 0}, 10},
		{"pread at the end", unix.SYS_PREAD64, [6]uint64{3, base + 0x100, 10, 2 << 20}, 0},
		{"write", unix.SYS_WRITE, [6]uint64{3, base, 1}, neg(unix.EINVAL)},
		{"fallocate", unix.SYS_FALLOCATE, [6]uint64{3, 0, 0, 2 << 20}, neg(unix.ENOSPC)},
		{"mmap", unix.SYS_MMAP, [6]uint64{0, 2 << 20, unix.PROT_READ, unix.MAP_SHARED, 3, 0}, neg(unix.ENOMEM)},
		{"F_GET_SEALS", unix.SYS_FCNTL, [6]uint64{3, unix.F_GET_SEALS}, unix.F_SEAL_SEAL},
		{"F_ADD_SEALS sealed", unix.SYS_FCNTL, [6]uint64{3, unix.F_ADD_SEALS, unix.F_SEAL_GROW}, neg(unix.EPERM)},
		{"F_ADD_SEALS", unix.SYS_FCNTL, [6]uint64{4, unix.F_ADD_SEALS, unix.F_SEAL_GROW}, 0},
		{"ftruncate sealed grow", unix.SYS_FTRUNCATE, [6]uint64{4, 2 << 20}, neg(unix.EPERM)},
	} {
		if got := p.Syscall(tc.nr, tc.args); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, int64(got), int64(tc.want))
		}
	}
}
