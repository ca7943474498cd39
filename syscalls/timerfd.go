package syscalls

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// timerfd(2): a timer whose expiries a read counts, as Linux's
// fs/timerfd.c. Its timer is a guestTimer (timers.go) that, instead of
// sending a signal, counts one tick, marks itself expired and wakes the
// fd's readers, its epoll items and every blocked poll and select. A
// periodic timer is not set again when it fires: as Linux's hrtimer
// callback, it stays expired until a read, timerfd_gettime or
// timerfd_settime moves it past now (forward), and a read then counts
// every interval that passed. So an edge-triggered epoll item sees one
// edge per read, as on Linux.
//
// The guest cannot set CLOCK_REALTIME, so TFD_TIMER_CANCEL_ON_SET is
// kept (fdinfo shows it) but never cancels a timer: no read is
// ECANCELED. The alarm clocks are their plain clocks: the guest is never
// suspended, and Linux's timerfd asks only CAP_WAKE_ALARM of them.

// timerfd_create's and timerfd_settime's flags (linux/timerfd.h).
const (
	tfdCreateFlags    = unix.TFD_CLOEXEC | unix.TFD_NONBLOCK
	tfdTimerAbstime   = unix.TFD_TIMER_ABSTIME
	tfdCancelOnSet    = unix.TFD_TIMER_CANCEL_ON_SET
	tfdSettimeFlags   = tfdTimerAbstime | tfdCancelOnSet
	tfdIocSetTicks    = 0x40085400 // _IOW('T', 0, __u64)
	clockRealtimeAlrm = 8          // CLOCK_REALTIME_ALARM
	clockBoottimeAlrm = 9          // CLOCK_BOOTTIME_ALARM
)

// timerFD is a timerfd. Its fields are guarded by Process.mu (the tree
// lock).
type timerFD struct {
	// tm is the timer; tm.fd is this file.
	tm *guestTimer
	// clockID is the clock timerfd_create was given, as fdinfo shows it.
	clockID int32
	// ticks counts the expiries since the last read or settime.
	ticks uint64
	// expired says the timer fired and, if periodic, has not been set
	// for its next expiry yet (Linux's ctx->expired).
	expired bool
	// settimeFlags are the last timerfd_settime's TFD_TIMER_* flags.
	settimeFlags uint32
	// released is set at the last close: the timer is never set again.
	released bool
	wq       waitQueue
}

func sysTimerfdCreate(t *Task, a *[6]uint64) uint64 {
	clock, flags := int32(a[0]), uint32(a[1])
	if flags&^tfdCreateFlags != 0 {
		return errno(unix.EINVAL)
	}
	tm := &guestTimer{p: t.Process}
	switch clock {
	case unix.CLOCK_REALTIME, clockRealtimeAlrm:
		tm.realtime = true
	case unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, clockBoottimeAlrm:
	default:
		return errno(unix.EINVAL)
	}
	if isAlarmClock(clock) && !t.cred.capable(unix.CAP_WAKE_ALARM) {
		return errno(unix.EPERM)
	}
	tfd := &timerFD{tm: tm, clockID: clock}
	tm.fd = tfd
	return t.installAnon(tfd, unix.O_RDWR|flags&unix.O_NONBLOCK, flags&unix.O_CLOEXEC != 0)
}

func isAlarmClock(clock int32) bool { return clock == clockRealtimeAlrm || clock == clockBoottimeAlrm }

// timerfdOf is the timerfd fd names: EBADF for no open fd, EINVAL for
// another file.
func (t *Task) timerfdOf(fd uint64) (*timerFD, unix.Errno) {
	f, e := t.file(fd)
	if e != 0 {
		return nil, e
	}
	if f.fs != nil && f.fs.pathOnly {
		return nil, unix.EBADF
	}
	tfd, ok := f.anon.(*timerFD)
	if !ok {
		return nil, unix.EINVAL
	}
	return tfd, 0
}

// sysTimerfdSettime arms timerfd a[0] from the struct itimerspec at a[2]
// and writes the old setting at a[3] when it is not NULL, in Linux's
// order: EFAULT for the new setting, EINVAL for unknown flags or an
// invalid timespec, EBADF, EINVAL for a file that is no timerfd, EPERM
// for an alarm clock without CAP_WAKE_ALARM, then EFAULT for the old
// setting, the new one set.
func sysTimerfdSettime(t *Task, a *[6]uint64) uint64 {
	flags := uint32(a[1])
	var b [itimerspecSize]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[2]), b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	interval, okI := timespecDuration(b[0:])
	value, okV := timespecDuration(b[16:])
	if flags&^tfdSettimeFlags != 0 || !okI || !okV {
		return errno(unix.EINVAL)
	}
	tfd, e := t.timerfdOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if isAlarmClock(tfd.clockID) && !t.cred.capable(unix.CAP_WAKE_ALARM) {
		return errno(unix.EPERM)
	}
	tm := tfd.tm
	tfd.catchUp()
	tfd.forward(false)
	oldValue, oldInterval := tfd.remaining(), tm.interval
	tfd.ticks, tfd.expired = 0, false
	tfd.settimeFlags = flags & tfdSettimeFlags
	tm.arm(value, interval, flags&tfdTimerAbstime != 0)
	// Due already (an absolute time past): it fires before the call
	// returns, as Linux's hrtimer does on the way out.
	tfd.catchUp()
	if a[3] == 0 {
		return 0
	}
	return t.putItimerspec(a[3], oldValue, oldInterval)
}

// sysTimerfdGettime writes timerfd a[0]'s time to its next expiry and
// its interval at a[1]; a periodic timer that expired is first set for
// its next expiry, the intervals passed counted as ticks.
func sysTimerfdGettime(t *Task, a *[6]uint64) uint64 {
	tfd, e := t.timerfdOf(a[0])
	if e != 0 {
		return errno(e)
	}
	tfd.catchUp()
	tfd.forward(true)
	return t.putItimerspec(a[1], tfd.remaining(), tfd.tm.interval)
}

// expire is the timer's expiry (the guestTimer fired, due): one tick,
// and the readers and pollers told. A one-shot timer is disarmed; a
// periodic one waits, expired, for forward. p.mu must be held.
func (tfd *timerFD) expire() {
	tm := tfd.tm
	tm.gen++ // a host timer still to run finds itself stale
	if tm.host != nil {
		tm.host.Stop()
		tm.host = nil
	}
	tfd.ticks++
	tfd.expired = true
	if tm.interval == 0 {
		tm.expiry = 0
	}
	tfd.wq.notify(epollIn)
	tm.p.fdWaitersLookAgain()
}

// catchUp takes an expiry that is due but whose host timer has not run
// yet (it may run late on a busy host) as if it had: Linux's timer
// interrupt would have come, and a call that looks at the ticks or the
// time left must see it. p.mu must be held.
func (tfd *timerFD) catchUp() {
	tm := tfd.tm
	if !tfd.expired && tm.expiry != 0 && tm.now() >= tm.expiry {
		tm.fireLocked(tm.gen)
	}
}

// forward sets an expired periodic timer for its first expiry past now,
// as Linux's hrtimer_forward_now; count adds the intervals passed but the
// one expire counted to the ticks. p.mu must be held.
func (tfd *timerFD) forward(count bool) {
	tm := tfd.tm
	if !tfd.expired || tm.interval == 0 || tm.expiry == 0 {
		return
	}
	tfd.expired = false
	n := int64(1)
	if now := tm.now(); now >= tm.expiry {
		n = int64((now-tm.expiry)/tm.interval) + 1
	}
	tm.expiry = satAdd(tm.expiry, time.Duration(n)*tm.interval)
	if count {
		tfd.ticks += uint64(n - 1)
	}
	tm.gen++
	tm.schedule(0)
}

// remaining is the time to the next expiry, 0 if disarmed or past
// (Linux's timerfd_get_remaining).
func (tfd *timerFD) remaining() time.Duration {
	if tfd.tm.expiry == 0 {
		return 0
	}
	return max(tfd.tm.expiry-tfd.tm.now(), 0)
}

// read is readv into the one buffer at addr.
func (tfd *timerFD) read(t *Task, f *openFile, addr arch.Addr, n uint64) uint64 {
	var iov [16]byte
	binary.LittleEndian.PutUint64(iov[:], uint64(addr))
	binary.LittleEndian.PutUint64(iov[8:], n)
	return tfd.readv(t, f, iov[:], 1, n)
}

// readv takes the ticks, waiting while there are none unless O_NONBLOCK
// (EAGAIN), and writes them as 8 bytes across the buffers, which must
// hold them (EINVAL), as Linux's timerfd_read_iter. The ticks are gone
// even if the copy then faults.
func (tfd *timerFD) readv(t *Task, f *openFile, iov []byte, iovcnt, total uint64) uint64 {
	if total < 8 {
		return errno(unix.EINVAL)
	}
	tfd.catchUp()
	for tfd.ticks == 0 {
		if f.flags&unix.O_NONBLOCK != 0 {
			return errno(unix.EAGAIN)
		}
		if e := t.waitChange(&tfd.wq); e != 0 {
			return errno(e)
		}
	}
	tfd.forward(true)
	v := tfd.ticks
	tfd.ticks, tfd.expired = 0, false
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if !t.copyToSegments(iovSegments(iov, iovcnt, 8), 0, b[:]) {
		return errno(unix.EFAULT)
	}
	return 8
}

// write and writev: a timerfd has no write (EINVAL).
func (tfd *timerFD) write(*Task, *openFile, arch.Addr, uint64) uint64 { return errno(unix.EINVAL) }
func (tfd *timerFD) writev(*Task, *openFile, []byte, uint64) uint64   { return errno(unix.EINVAL) }

// pollMask is Linux's timerfd_poll: readable with ticks.
func (tfd *timerFD) pollMask(int) uint32 {
	if tfd.ticks > 0 {
		return epollIn
	}
	return 0
}

func (tfd *timerFD) queue() *waitQueue { return &tfd.wq }
func (tfd *timerFD) anonName() string  { return "timerfd" }

// release stops the timer for good at the last close.
func (tfd *timerFD) release() {
	tfd.released = true
	tfd.tm.stop()
}

// ioctl serves TFD_IOC_SET_TICKS (the ticks the next read returns, not
// 0: EINVAL); anything else is ENOTTY.
func (tfd *timerFD) ioctl(t *Task, req uint64, arg arch.Addr) uint64 {
	if req != tfdIocSetTicks {
		return errno(unix.ENOTTY)
	}
	var b [8]byte
	if _, err := t.cfg.Memory.CopyIn(arg, b[:]); err != nil {
		return errno(unix.EFAULT)
	}
	v := binary.LittleEndian.Uint64(b[:])
	if v == 0 {
		return errno(unix.EINVAL)
	}
	tfd.ticks = v
	tfd.wq.notify(epollIn)
	t.fdWaitersLookAgain()
	return 0
}

// fdinfo is what /proc/self/fdinfo shows past the common lines (Linux's
// timerfd_show): the remaining time is not forwarded.
func (tfd *timerFD) fdinfo() string {
	rem, iv := tfd.remaining(), tfd.tm.interval
	return fmt.Sprintf("clockid: %d\nticks: %d\nsettime flags: 0%o\nit_value: (%d, %d)\nit_interval: (%d, %d)\n",
		tfd.clockID, tfd.ticks, tfd.settimeFlags,
		rem/time.Second, rem%time.Second, iv/time.Second, iv%time.Second)
}
