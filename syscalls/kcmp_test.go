package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKcmpMatchesHost compares kcmp within the calling process on both
// sides: files the same through dup and different otherwise, the
// process-wide objects equal to themselves, KCMP_EPOLL_TFD's slot rules,
// and the errors. Unequal objects compare as 1 or 2 by a random order,
// so only "unequal" is compared.
func TestKcmpMatchesHost(t *testing.T) {
	w := newTwin(t)
	if r := hostRet(unix.SYS_KCMP, uintptr(unix.Getpid()), uintptr(unix.Getpid()), kcmpVM, 0, 0); r == -int64(unix.ENOSYS) {
		t.Skip("the host has no kcmp")
	}
	w.open("a", "eventfd", unix.SYS_EVENTFD2, num(0), num(0))
	w.open("b", "eventfd", unix.SYS_EVENTFD2, num(0), num(0))
	w.open("a2", "dup", unix.SYS_DUP, fdArg("a"))
	w.open("ep", "epoll_create1", unix.SYS_EPOLL_CREATE1, num(0))
	w.set(0x100, make([]byte, 16))
	w.call("EPOLL_CTL_ADD a", unix.SYS_EPOLL_CTL, fdArg("ep"), num(unix.EPOLL_CTL_ADD), fdArg("a"), buf(0x100))
	cmp := func(what string, kind uint64, x, y twinArg) {
		t.Helper()
		gx, hx := x.values(w)
		gy, hy := y.values(w)
		g := sc(w.p, unix.SYS_KCMP, uint64(w.p.cfg.PID), uint64(w.p.cfg.PID), kind, gx, gy)
		h := hostRet(unix.SYS_KCMP, uintptr(unix.Getpid()), uintptr(unix.Getpid()), uintptr(kind), uintptr(hx), uintptr(hy))
		if g == 2 {
			g = 1
		}
		if h == 2 {
			h = 1
		}
		if g != h {
			t.Errorf("%s: mmvm %d, the host %d (2 taken as 1)", what, g, h)
		}
	}
	cmp("the same fd", kcmpFile, fdArg("a"), fdArg("a"))
	cmp("a dup", kcmpFile, fdArg("a"), fdArg("a2"))
	cmp("another file", kcmpFile, fdArg("a"), fdArg("b"))
	cmp("no fd", kcmpFile, fdArg("a"), num(999))
	cmp("fd 2^32", kcmpFile, fdArg("a"), num(1<<32))
	for _, kind := range []uint64{kcmpVM, kcmpFiles, kcmpFS, kcmpSighand, kcmpIO, kcmpSysvsem} {
		cmp("itself", kind, num(0), num(0))
	}
	cmp("kind 8", kcmpTypes, num(0), num(0))
	cmp("kind -1", 1<<32-1, num(0), num(0))
	// slot puts a struct kcmp_epoll_slot at 0x180 on each side.
	slot := func(efd, tfd twinArg, toff uint32) {
		ge, he := efd.values(w)
		gt, ht := tfd.values(w)
		le := binary.LittleEndian
		le.PutUint32(w.guestBuf()[0x180:], uint32(ge))
		le.PutUint32(w.guestBuf()[0x184:], uint32(gt))
		le.PutUint32(w.guestBuf()[0x188:], toff)
		le.PutUint32(w.host[0x180:], uint32(he))
		le.PutUint32(w.host[0x184:], uint32(ht))
		le.PutUint32(w.host[0x188:], toff)
	}
	slot(fdArg("ep"), fdArg("a"), 0)
	cmp("EPOLL_TFD: a is the target", kcmpEpollTFD, fdArg("a"), buf(0x180))
	cmp("EPOLL_TFD: a dup is", kcmpEpollTFD, fdArg("a2"), buf(0x180))
	cmp("EPOLL_TFD: b is not", kcmpEpollTFD, fdArg("b"), buf(0x180))
	cmp("EPOLL_TFD: no fd", kcmpEpollTFD, num(999), buf(0x180))
	cmp("EPOLL_TFD: a slot that faults", kcmpEpollTFD, fdArg("a"), faultAddr{})
	slot(fdArg("ep"), fdArg("a"), 1)
	cmp("EPOLL_TFD: toff 1", kcmpEpollTFD, fdArg("a"), buf(0x180))
	slot(fdArg("ep"), fdArg("b"), 0)
	cmp("EPOLL_TFD: tfd not watched", kcmpEpollTFD, fdArg("a"), buf(0x180))
	slot(fdArg("b"), fdArg("a"), 0)
	cmp("EPOLL_TFD: efd no epoll", kcmpEpollTFD, fdArg("a"), buf(0x180))
	slot(num(999), fdArg("a"), 0)
	cmp("EPOLL_TFD: efd not open", kcmpEpollTFD, fdArg("a"), buf(0x180))

	w.call("no such pid", unix.SYS_KCMP, num(1<<22+7), selfPID{}, num(kcmpVM), num(0), num(0))
	w.call("pid 0", unix.SYS_KCMP, num(0), selfPID{}, num(kcmpVM), num(0), num(0))
	w.call("no such pid, kind 8", unix.SYS_KCMP, selfPID{}, num(1<<22+7), num(8), num(0), num(0))
}
