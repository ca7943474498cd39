package machine

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/mm"
)

// TestLimitsMmvmDoesNotEnforceAreInherited: the limits mmvm does not
// enforce (RLIMIT_CORE, RLIMIT_NICE, ...) are mmvm's own, as a child
// process's are its parent's; busybox's ulimit -a showed unlimited for
// the core size and the nice ceiling where the host had 0.
func TestLimitsMmvmDoesNotEnforceAreInherited(t *testing.T) {
	got := processLimits(mm.DefaultLimits())
	for _, res := range []int{unix.RLIMIT_CPU, unix.RLIMIT_FSIZE, unix.RLIMIT_CORE, unix.RLIMIT_RSS, unix.RLIMIT_NPROC,
		unix.RLIMIT_LOCKS, unix.RLIMIT_MSGQUEUE, unix.RLIMIT_NICE, unix.RLIMIT_RTPRIO, unix.RLIMIT_RTTIME} {
		var want unix.Rlimit
		if err := unix.Getrlimit(res, &want); err != nil {
			t.Fatal(err)
		}
		if l, ok := got[res]; !ok || l.Cur != want.Cur || l.Max != want.Max {
			t.Errorf("limit %d: %+v (set %v), host %+v", res, l, ok, want)
		}
	}
}
