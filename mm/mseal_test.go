package mm

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func mseal(addr, length, flags uint64) hop { return sys(unix.SYS_MSEAL, addr, length, flags) }

// msealScenarios run on the host kernel and on mm, compared op by op and
// by their final vmas and VmFlags (compareWithHost). Sealing is for good,
// so each runs in a child process of its own (TestMSealHostChild).
var msealScenarios = []struct {
	name string
	ops  []hop
}{
	{"arguments and holes seal nothing", []hop{mseal(win, page, 1), mseal(win+1, page, 0), mseal(win, 0, 0), mseal(win, ^uint64(0), 0),
		mseal(win, page, 0), mapAnon(win, page, rw), mseal(win, 2*page, 0), mapAnon(win+2*page, page, rw), mseal(win, 3*page, 0),
		sys(unix.SYS_MUNMAP, win, 3*page)}},
	{"unmap, map over and mprotect", []hop{mapAnon(win, 4*page, rw), wr(win+page, 5), mseal(win+page, 2*page, 0), mseal(win+page, page, 0),
		sys(unix.SYS_MUNMAP, win+page, page), sys(unix.SYS_MUNMAP, win, 2*page), sys(unix.SYS_MUNMAP, win+3*page, page),
		mapAnon(win+2*page, page, unix.PROT_READ), sys(unix.SYS_MMAP, win+page, page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, maxU, 0),
		mapAnon(win+3*page, page, rw), sys(unix.SYS_MPROTECT, win, 3*page, unix.PROT_READ), sys(unix.SYS_MPROTECT, win+page, page, rw), rd(win + page)}},
	{"mremap", []hop{mapAnon(win, 2*page, rw), wr(win, 7), mseal(win, 2*page, 0),
		sys(unix.SYS_MREMAP, win, 2*page, 4*page, 0, 0), sys(unix.SYS_MREMAP, win, 2*page, page, 0, 0), sys(unix.SYS_MREMAP, win, 2*page, 2*page, 0, 0),
		sys(unix.SYS_MREMAP, win, 2*page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, win+0x100000),
		sys(unix.SYS_MREMAP, win, 2*page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_DONTUNMAP, 0),
		mapAnon(win+0x100000, 2*page, rw), sys(unix.SYS_MREMAP, win+0x100000, 2*page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, win),
		sys(unix.SYS_MREMAP, win+0x100000, page, 2*page, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, win+page), rd(win)}},
	{"madvise discards only what the program could write", []hop{mapAnon(win, 2*page, unix.PROT_READ), mapAnon(win+2*page, 2*page, rw), wr(win+2*page, 3),
		mseal(win, 4*page, 0), sys(unix.SYS_MADVISE, win, page, unix.MADV_DONTNEED), sys(unix.SYS_MADVISE, win, page, unix.MADV_FREE),
		sys(unix.SYS_MADVISE, win, page, unix.MADV_DONTFORK), sys(unix.SYS_MADVISE, win, page, unix.MADV_WILLNEED), sys(unix.SYS_MADVISE, win, page, unix.MADV_RANDOM),
		sys(unix.SYS_MADVISE, win+2*page, page, unix.MADV_DONTNEED), rd(win + 2*page), sys(unix.SYS_MADVISE, win, 4*page, unix.MADV_DONTNEED),
		sys(unix.SYS_MADVISE, win, page, guardInstall)}},
	{"shared memory may be discarded", []hop{sys(unix.SYS_MMAP, win, 2*page, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED, maxU, 0),
		mseal(win, 2*page, 0), sys(unix.SYS_MADVISE, win, 2*page, unix.MADV_DONTNEED), sys(unix.SYS_MADVISE, win, page, unix.MADV_DONTFORK)}},
	{"sealed neighbours merge", []hop{mapAnon(win, page, rw), mapAnon(win+page, page, rw), sys(unix.SYS_MPROTECT, win+page, page, unix.PROT_READ),
		mseal(win, page, 0), sys(unix.SYS_MPROTECT, win+page, page, rw), mseal(win+page, page, 0), mapAnon(win+2*page, page, rw)}},
}

// TestMSealMatchesHost runs each of msealScenarios in a child process
// (this test binary, TestMSealHostChild), where the host's sealed vmas
// cannot outlive it.
func TestMSealMatchesHost(t *testing.T) {
	if _, e := runHost(mseal(win, page, 0)); e != unix.ENOMEM {
		t.Skipf("the host kernel has no mseal (an unmapped page: %v)", e)
	}
	for i, s := range msealScenarios {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMSealHostChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MM_MSEAL_CHILD="+strconv.Itoa(i))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s.name, err, out)
		}
	}
}

// TestMSealHostChild is TestMSealMatchesHost's child: it runs the
// scenario MM_MSEAL_CHILD names.
func TestMSealHostChild(t *testing.T) {
	i, err := strconv.Atoi(os.Getenv("MM_MSEAL_CHILD"))
	if err != nil {
		t.Skip("run by TestMSealMatchesHost")
	}
	s := msealScenarios[i]
	compareWithHost(t, s.name, s.ops)
}
