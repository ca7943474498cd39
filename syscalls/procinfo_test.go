package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestGetgroups: the guest's root user has no supplementary groups
// (busybox id failed with "can't get groups" on ENOSYS); a negative size
// is EINVAL, as Linux's.
func TestGetgroups(t *testing.T) {
	p, _, _ := newTestProcess(t)
	for _, c := range []struct {
		size uint64
		want int64
	}{{0, 0}, {64, 0}, {uint64(1<<32 - 1), neg64(unix.EINVAL)}} {
		if r := sc(p, unix.SYS_GETGROUPS, c.size, base); r != c.want {
			t.Errorf("getgroups(%d) = %d, want %d", int32(c.size), r, c.want)
		}
	}
}
