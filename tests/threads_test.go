package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/machine"
)

// threadGuests are the guest programs that make threads (guest/threads.c,
// threads-exit.c, firsttouch.c, threads-rust.rs, go/threads, go/gosys, go/httploop; tlbshoot.c
// has TestTLBShootdownSeenByThreads),
// with their arguments; TestThreadGuestsMatchNative runs them as
// TestGuestsMatchNative runs guestCases.
var threadGuests = []struct {
	name string
	args []string
}{
	{"threads-glibc", nil},
	{"threads-musl", nil},
	{"threads-glibc", []string{"churn", "300"}}, // more threads over its life than a VM has vCPUs at most
	{"threads-musl", []string{"churn", "300"}},
	{"threads-glibc", []string{"fpu"}}, // a new thread starts with its creator's MXCSR and x87 control word
	{"threads-musl", []string{"fpu"}},
	{"threads-exit-glibc", []string{"main-exit"}},
	{"threads-exit-glibc", []string{"thread-exit"}},
	{"threads-exit-glibc", []string{"abort"}},
	{"threads-exit-glibc", []string{"segv"}},
	{"threads-exit-glibc", []string{"overflow"}},
	{"threads-exit-glibc", []string{"main-return"}},
	{"threads-exit-musl", []string{"main-exit"}},
	{"threads-exit-musl", []string{"thread-exit"}},
	{"threads-exit-musl", []string{"abort"}},
	{"threads-exit-musl", []string{"segv"}},
	{"threads-exit-musl", []string{"overflow"}},
	{"threads-exit-musl", []string{"main-return"}},
	{"firsttouch-glibc", []string{"16"}}, // 16 MiB twice
	{"threads-rust", nil},
	{"threads-go", []string{"pipeline"}},
	{"threads-go", []string{"gc"}},
	{"threads-go", []string{"timers"}},
	{"threads-go", []string{"primes"}},
	{"threads-go", []string{"procs"}},
	{"threads-go", []string{"signal"}},
	{"threads-go", []string{"lockthread"}},
	{"threads-go", []string{"cpuprofile"}},
	{"gosys", []string{"keepcaps"}}, // AllThreadsSyscall's prctl on every thread; per thread, cleared by execve
	{"gosys", []string{"selfexec"}}, // os.Executable, and a child exec'ed from it that panics
	{"httploop", nil},               // net/http over 127.0.0.1, a dual-stack listener, UDP
}

// TestThreadGuestsMatchNative runs every program of threadGuests natively
// and inside mmvm and compares stdout, stderr and exit status.
func TestThreadGuestsMatchNative(t *testing.T) {
	dir := guestDir(t)
	for _, tc := range threadGuests {
		t.Run(tc.name+argsName(tc.args), func(t *testing.T) {
			matchNative(t, dir, tc.name, tc.args)
		})
	}
}

// tlbshootRounds is how many times tlbshoot runs each case and way: a
// round costs about 0.1 s in mmvm inside the QEMU guest, and make test
// runs every case both ways on glibc and musl and on both QEMU kinds.
// `mmvm run out/guest/tlbshoot-musl 1000` is the longer run.
const tlbshootRounds = 10

// tlbshootVerdicts are the lines guest/tlbshoot.c prints when every round
// of every case went as Linux promises: an access made after the changing
// thread's munmap or mprotect returned faulted, or saw the page that
// replaced the old one, never the old page.
func tlbshootVerdicts(rounds int) []string {
	var lines []string
	for _, c := range []struct{ name, code string }{
		{"munmap", "SEGV_MAPERR"},
		{"munmap-write", "SEGV_MAPERR"},
		{"mprotect-none", "SEGV_ACCERR"},
		{"mprotect-ro", "SEGV_ACCERR"},
		{"remap", ""},
		{"replace", ""},
		{"madvise-dontneed", ""},
		{"mremap-move", "SEGV_MAPERR"},
	} {
		for _, who := range []string{"main changes, a thread accesses", "a thread changes, main accesses"} {
			if c.code != "" {
				lines = append(lines, fmt.Sprintf("case %s (%s): accessor faulted at the page (%s) in %d of %d rounds, no stale access",
					c.name, who, c.code, rounds, rounds))
			} else {
				lines = append(lines, fmt.Sprintf("case %s (%s): accessor saw the new page in %d of %d rounds, no stale read, no fault after the change",
					c.name, who, rounds, rounds))
			}
		}
	}
	return lines
}

// TestTLBShootdownSeenByThreads runs guest/tlbshoot.c natively and inside
// mmvm: one thread munmaps, mprotects, replaces, madvises away or mremaps
// a page that another thread keeps accessing, and an access after the change returned must fault or see
// the new page, on every round; the verdict lines must be exactly those of
// a kernel that shoots down the other CPUs' translations in time. Its
// control case, natively, shows that the check can fail: with no change
// made, every round reports a stale read.
func TestTLBShootdownSeenByThreads(t *testing.T) {
	dir := guestDir(t)
	want := strings.Join(tlbshootVerdicts(tlbshootRounds), "\n") + "\n"
	args := []string{fmt.Sprint(tlbshootRounds)}
	for _, name := range []string{"tlbshoot-glibc", "tlbshoot-musl"} {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			nOut, _, nStatus := runNative(t, path, args)
			if nStatus != 0 || string(nOut) != want {
				t.Fatalf("natively: status %d, stdout:\n%s\nwant status 0, stdout:\n%s", nStatus, nOut, want)
			}
			cOut, _, cStatus := runNative(t, path, []string{"5", "control"})
			stale := "FAIL: 0 rounds faulted at the page, 0 saw the new page, 5 stale accesses"
			if cStatus != 1 || strings.Count(string(cOut), stale) != 2 {
				t.Fatalf("natively, the control case: status %d, stdout:\n%s\nwant status 1 and two lines with %q", cStatus, cOut, stale)
			}
			out, errOut, stop := runInMachine(t, path, args, machine.DefaultFastPath())
			if stop.Status() != 0 || string(out) != want {
				t.Errorf("in mmvm: status %d (%v %s), stdout:\n%s\nstderr:\n%s\nwant status 0, stdout:\n%s",
					stop.Status(), stop.Kind, stop.Reason, out, errOut, want)
			}
		})
	}
}
