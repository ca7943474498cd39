package mm

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

const prGetMDWE = unix.PR_SET_MDWE + 1

func prctl(option, a2, a3, a4, a5 uint64) hop { return sys(unix.SYS_PRCTL, option, a2, a3, a4, a5) }

// mmFlagScenarios run on the host kernel and on mm (compareWithHost), each
// in a child process of its own (TestMMFlagsHostChild), since neither
// memory-deny-write-execute nor the THP opt-out is taken back.
var mmFlagScenarios = []struct {
	name string
	ops  []hop
}{
	{"memory-deny-write-execute", []hop{mapAnon(win, page, rw|unix.PROT_EXEC), prctl(prGetMDWE, 0, 0, 0, 0),
		prctl(unix.PR_SET_MDWE, unix.PR_MDWE_NO_INHERIT, 0, 0, 0), prctl(unix.PR_SET_MDWE, 4, 0, 0, 0), prctl(unix.PR_SET_MDWE, 1, 1, 0, 0),
		prctl(unix.PR_SET_MDWE, unix.PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0), prctl(prGetMDWE, 0, 0, 0, 0), prctl(prGetMDWE, 1, 0, 0, 0),
		prctl(unix.PR_SET_MDWE, 0, 0, 0, 0), prctl(unix.PR_SET_MDWE, 3, 0, 0, 0), prctl(unix.PR_SET_MDWE, 1, 0, 0, 0),
		mapAnon(win+page, page, rw|unix.PROT_EXEC), mapAnon(win+page, page, rw), sys(unix.SYS_MPROTECT, win+page, page, rw|unix.PROT_EXEC),
		sys(unix.SYS_MPROTECT, win+page, page, unix.PROT_READ|unix.PROT_EXEC), sys(unix.SYS_MPROTECT, win, page, unix.PROT_READ|unix.PROT_EXEC),
		sys(unix.SYS_MPROTECT, win, page, rw|unix.PROT_EXEC), sys(unix.SYS_MPROTECT, win, page, unix.PROT_EXEC), mapAnon(win+2*page, page, unix.PROT_EXEC)}},
	{"memory-deny-write-execute not inherited", []hop{prctl(unix.PR_SET_MDWE, 3, 0, 0, 0), prctl(prGetMDWE, 0, 0, 0, 0),
		prctl(unix.PR_SET_MDWE, 1, 0, 0, 0), prctl(unix.PR_SET_MDWE, 3, 0, 0, 0), mapAnon(win, page, rw|unix.PROT_EXEC)}},
	{"THP disable", []hop{prctl(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0), prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0), prctl(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0),
		prctl(unix.PR_SET_THP_DISABLE, 1, THPDisableExceptAdvised, 0, 0), prctl(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0),
		prctl(unix.PR_SET_THP_DISABLE, 0, THPDisableExceptAdvised, 0, 0), prctl(unix.PR_SET_THP_DISABLE, 1, 4, 0, 0), prctl(unix.PR_SET_THP_DISABLE, 1, 0, 1, 0),
		prctl(unix.PR_GET_THP_DISABLE, 1, 0, 0, 0), prctl(unix.PR_SET_THP_DISABLE, 0, 0, 0, 0), prctl(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)}},
}

// TestMMFlagsMatchHost runs each of mmFlagScenarios in a child process
// (this test binary, TestMMFlagsHostChild).
func TestMMFlagsMatchHost(t *testing.T) {
	for i, s := range mmFlagScenarios {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMMFlagsHostChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MM_FLAGS_CHILD="+strconv.Itoa(i))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s.name, err, out)
		}
	}
}

// TestMMFlagsHostChild is TestMMFlagsMatchHost's child: it runs the
// scenario MM_FLAGS_CHILD names.
func TestMMFlagsHostChild(t *testing.T) {
	i, err := strconv.Atoi(os.Getenv("MM_FLAGS_CHILD"))
	if err != nil {
		t.Skip("run by TestMMFlagsMatchHost")
	}
	s := mmFlagScenarios[i]
	compareWithHost(t, s.name, s.ops)
}

// TestMMFlagsFork: a child address space keeps the THP opt-out and
// memory-deny-write-execute, but not the latter with PR_MDWE_NO_INHERIT,
// as mm_init's mmf_init_flags; InheritFlags (execve) does the same.
func TestMMFlagsFork(t *testing.T) {
	for _, tc := range []struct {
		bits, want uint64
	}{{unix.PR_MDWE_REFUSE_EXEC_GAIN, unix.PR_MDWE_REFUSE_EXEC_GAIN}, {unix.PR_MDWE_REFUSE_EXEC_GAIN | unix.PR_MDWE_NO_INHERIT, 0}} {
		m, as, _ := testMM(t)
		if err := m.SetMDWE(tc.bits, [3]uint64{}); err != nil {
			t.Fatal(err)
		}
		if err := m.SetTHPDisable(1, 0, [2]uint64{}); err != nil {
			t.Fatal(err)
		}
		child, err := m.Fork(as, nil)
		if err != nil {
			t.Fatal(err)
		}
		execd, _, _ := testMM(t)
		execd.InheritFlags(m)
		for name, c := range map[string]*MemoryManager{"fork": child, "exec": execd} {
			if got, _ := c.MDWE([4]uint64{}); got != tc.want {
				t.Errorf("%s after PR_SET_MDWE %#x: %#x, want %#x", name, tc.bits, got, tc.want)
			}
			if got, _ := c.THPDisable([4]uint64{}); got != 1 {
				t.Errorf("%s: PR_GET_THP_DISABLE %d, want 1", name, got)
			}
			_, err := c.MMap(0, page, rw|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
			if denied := errnoOf(err) == unix.EACCES; denied != (tc.want != 0) {
				t.Errorf("%s: write+exec mmap: %v", name, err)
			}
		}
		child.Release()
	}
}
