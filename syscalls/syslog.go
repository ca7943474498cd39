package syscalls

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// syslog(2) (klogctl) on the VM's kernel log, which is empty: mmvm's
// kernel prints nothing. Each action is checked as Linux's do_syslog
// checks it (kernel/printk/printk.c): the caller's permission first
// (check_syslog_permissions: under the host's kernel.dmesg_restrict every
// action wants CAP_SYSLOG or CAP_SYS_ADMIN, else every one but reading
// all and the buffer's size; EPERM), then the arguments. A
// read then finds nothing: SYSLOG_ACTION_READ waits, as Linux's does for
// a message, until a signal; READ_ALL and READ_CLEAR copy none.

// The actions (include/linux/syslog.h).
const (
	syslogClose       = 0
	syslogOpen        = 1
	syslogRead        = 2
	syslogReadAll     = 3
	syslogReadClear   = 4
	syslogClear       = 5
	syslogConsoleOff  = 6
	syslogConsoleOn   = 7
	syslogConsoleLvl  = 8
	syslogSizeUnread  = 9
	syslogSizeBuffer  = 10
	syslogDefaultSize = 1 << 17 // CONFIG_LOG_BUF_SHIFT's default
)

// syslogRestricted is syslog_action_restricted.
func syslogRestricted(action int32) bool {
	if dmesgRestrict() {
		return true
	}
	return action != syslogReadAll && action != syslogSizeBuffer
}

// dmesgRestrict says whether the host sets kernel.dmesg_restrict.
func dmesgRestrict() bool {
	b, err := os.ReadFile("/proc/sys/kernel/dmesg_restrict")
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

// syslogBufferSize is the log buffer's size: the host kernel's, which
// SIZE_BUFFER shows natively, else Linux's default.
func syslogBufferSize() uint64 {
	if n, err := unix.Klogctl(syslogSizeBuffer, nil); err == nil && n > 0 {
		return uint64(n)
	}
	return syslogDefaultSize
}

func sysSyslog(t *Task, a *[6]uint64) uint64 {
	action, buf, length := int32(a[0]), arch.Addr(a[1]), int32(a[2])
	if syslogRestricted(action) && !t.cred.capable(unix.CAP_SYSLOG) && !t.cred.capable(unix.CAP_SYS_ADMIN) {
		return errno(unix.EPERM)
	}
	switch action {
	case syslogRead:
		if buf == 0 || length < 0 {
			return errno(unix.EINVAL)
		}
		if length == 0 {
			return 0
		}
		r := t.waitForSignal()
		if r == errno(errRestartNoHand) {
			r = errno(errRestartSys) // wait_event_interruptible's
		}
		return r
	case syslogReadAll, syslogReadClear:
		if buf == 0 || length < 0 {
			return errno(unix.EINVAL)
		}
		return 0
	case syslogConsoleLvl:
		if length < 1 || length > 8 {
			return errno(unix.EINVAL)
		}
		return 0
	case syslogSizeBuffer:
		return syslogBufferSize()
	case syslogClose, syslogOpen, syslogClear, syslogConsoleOff, syslogConsoleOn, syslogSizeUnread:
		return 0
	}
	return errno(unix.EINVAL)
}
