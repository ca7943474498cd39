package syscalls

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// onHostThread runs f on a locked host thread of its own with a UTS
// namespace of its own, which ends with it: its sethostname, personality,
// ioprio_set and setresuid touch no other thread.
func onHostThread(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a UTS namespace takes root")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with f
		if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
			errc <- err
			return
		}
		f()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Skipf("no UTS namespace here: %v", err)
	}
}

// unameLine records what uname shows: release, node, machine, domain.
func unameLine(tr *transcript) {
	r, out := tr.s.call(unix.SYS_UNAME, outBuf(6*utsField))
	field := func(i int) string {
		return unix.ByteSliceToString(out[i*utsField : (i+1)*utsField])
	}
	tr.lines = append(tr.lines, fmt.Sprintf("uname = %d release %q node %q machine %q domain %q", r, field(2), field(1), field(4), field(5)))
}

// identityScript is sethostname, setdomainname, personality and
// ioprio_set/ioprio_get of one thread, as root and then as uid 1000.
func identityScript(tr *transcript) {
	tr.do("sethostname 65", unix.SYS_SETHOSTNAME, "x", 65)
	tr.do("sethostname -1", unix.SYS_SETHOSTNAME, "x", -1)
	tr.do("sethostname bad", unix.SYS_SETHOSTNAME, 8, 3)
	tr.do("sethostname", unix.SYS_SETHOSTNAME, "guest-node", 10)
	tr.do("setdomainname", unix.SYS_SETDOMAINNAME, "guest.dom", 9)
	unameLine(tr)
	tr.do("sethostname NUL inside", unix.SYS_SETHOSTNAME, []byte("ab\x00cd"), 5)
	unameLine(tr)
	tr.do("sethostname 64", unix.SYS_SETHOSTNAME, strings.Repeat("h", 64), 64)
	unameLine(tr)
	tr.do("setdomainname empty", unix.SYS_SETDOMAINNAME, 0, 0)
	unameLine(tr)

	for _, v := range []uint64{0xffffffff, 0x12345678, 0xffffffff, 0xfffffffe, 0x1_ffff_ffff, uname26, 0xffffffff, perLinux32,
		perLinux32 | uname26, 0x1_0000_0000 | addrNoRandomize, 0xffffffff, 0} {
		tr.do(fmt.Sprintf("personality %#x", v), unix.SYS_PERSONALITY, v)
		if v&(uname26|perLinux32) != 0 {
			unameLine(tr)
		}
	}
	unameLine(tr)

	for _, v := range []int{2<<13 | 3, 2<<13 | 8, 2<<13 | 1<<3 | 1, 1<<13 | 7, 3 << 13, 3<<13 | 5, 4 << 13, 7 << 13, 5, 1 << 3, 0,
		1<<16 | 2<<13 | 6, -1, 2<<13 | 0x3ff<<3} {
		tr.do(fmt.Sprintf("ioprio_set %#x", v), unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, v)
		tr.do("ioprio_get", unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0)
	}
	for _, which := range []int{0, 4, -1} {
		tr.do(fmt.Sprintf("ioprio_get which %d", which), unix.SYS_IOPRIO_GET, which, 0)
		tr.do(fmt.Sprintf("ioprio_set which %d", which), unix.SYS_IOPRIO_SET, which, 0, 2<<13)
	}
	tr.do("ioprio_get missing", unix.SYS_IOPRIO_GET, ioprioWhoProcess, 999999)
	tr.do("ioprio_set missing", unix.SYS_IOPRIO_SET, ioprioWhoProcess, 999999, 2<<13)
	tr.do("ioprio_set missing, bad class", unix.SYS_IOPRIO_SET, ioprioWhoProcess, 999999, 5<<13)

	tr.do("setresuid", unix.SYS_SETRESUID, 1000, 1000, 1000)
	tr.do("sethostname unprivileged", unix.SYS_SETHOSTNAME, "x", 1)
	tr.do("sethostname unprivileged 65", unix.SYS_SETHOSTNAME, "x", 65)
	tr.do("setdomainname unprivileged", unix.SYS_SETDOMAINNAME, "x", 1)
	for _, v := range []int{1<<13 | 3, 2<<13 | 5, 3 << 13, 4 << 13} {
		tr.do(fmt.Sprintf("ioprio_set unprivileged %#x", v), unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, v)
	}
	tr.do("ioprio_get", unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0)
	tr.do("personality unprivileged", unix.SYS_PERSONALITY, addrNoRandomize)
}

// TestIdentityCallsLikeLinux compares sethostname, setdomainname,
// personality (uname's UNAME26 release and PER_LINUX32 machine) and a
// thread's ioprio with the host kernel's answers.
func TestIdentityCallsLikeLinux(t *testing.T) {
	var host []string
	onHostThread(t, func() {
		tr := &transcript{s: &hostXattrSys{}}
		identityScript(tr)
		host = tr.lines
	})
	p, mem := xattrProcess(t, 0)
	tr := &transcript{s: &guestXattrSys{p: p, mem: mem}}
	identityScript(tr)
	compareTranscripts(t, host, tr.lines)
}

// TestUTSNamesInProc checks that /proc/sys/kernel/hostname and
// domainname show the VM's names (up to a NUL), and that the host's stay.
func TestUTSNamesInProc(t *testing.T) {
	before, _ := os.Hostname()
	p, mem := xattrProcess(t, 0)
	g := &guestXattrSys{p: p, mem: mem}
	if r, _ := g.call(unix.SYS_SETHOSTNAME, []byte("vm\x00x"), 4); r != 0 {
		t.Fatalf("sethostname = %d", r)
	}
	if r, _ := g.call(unix.SYS_SETDOMAINNAME, "vm.dom", 6); r != 0 {
		t.Fatalf("setdomainname = %d", r)
	}
	for name, want := range map[string]string{"hostname": "vm\n", "domainname": "vm.dom\n"} {
		fd, _ := g.call(unix.SYS_OPEN, "/proc/sys/kernel/"+name, unix.O_RDONLY, 0)
		n, out := g.call(unix.SYS_READ, int(fd), outBuf(100), 100)
		if n < 0 || string(out[:n]) != want {
			t.Errorf("/proc/sys/kernel/%s = %d %q, want %q", name, n, out, want)
		}
	}
	if after, _ := os.Hostname(); after != before {
		t.Errorf("the host's name changed from %q to %q", before, after)
	}
}

// protRecorder is a MemoryCalls that records the prot mmap and mprotect
// are asked for.
type protRecorder struct {
	MemoryCalls
	prot uint64
}

func (r *protRecorder) MMap(addr, length, prot, flags uint64, file *MmapFile, off uint64) (arch.Addr, error) {
	r.prot = prot
	return 0x7000_0000, nil
}

func (r *protRecorder) MProtect(addr, length, prot uint64) error {
	r.prot = prot
	return nil
}

// hostMapsPerms is the permissions /proc/self/maps shows for the host
// mapping at addr.
func hostMapsPerms(t *testing.T, addr uintptr) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		var perms string
		if _, err := fmt.Sscanf(line, "%x-%x %s", &lo, &hi, &perms); err == nil && lo <= addr && addr < hi {
			return perms
		}
	}
	return ""
}

// TestReadImpliesExec: under READ_IMPLIES_EXEC, PROT_READ asks mm for
// PROT_EXEC too, in mmap and mprotect, as the host kernel maps it; an
// exec drops the flag, as x86-64's set_personality_64bit.
func TestReadImpliesExec(t *testing.T) {
	var hostMmap, hostMprotect, hostWrite string
	onHostThread(t, func() {
		unix.Syscall(unix.SYS_PERSONALITY, readImpliesExec, 0, 0)
		defer unix.Syscall(unix.SYS_PERSONALITY, 0, 0, 0)
		m, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return
		}
		defer unix.Munmap(m)
		addr := uintptr(unsafe.Pointer(&m[0]))
		hostMmap = hostMapsPerms(t, addr)
		unix.Mprotect(m, unix.PROT_NONE)
		unix.Mprotect(m, unix.PROT_READ)
		hostMprotect = hostMapsPerms(t, addr)
		unix.Mprotect(m, unix.PROT_WRITE)
		hostWrite = hostMapsPerms(t, addr)
	})
	want := map[string]uint64{"r-xp": unix.PROT_READ | unix.PROT_EXEC, "-w-p": unix.PROT_WRITE}
	if hostMmap != "r-xp" || hostMprotect != "r-xp" || hostWrite != "-w-p" {
		t.Fatalf("the host maps %q, %q, %q", hostMmap, hostMprotect, hostWrite)
	}
	p, _, _ := newTestProcess(t)
	rec := &protRecorder{}
	p.cfg.Calls = rec
	sc(p, unix.SYS_PERSONALITY, readImpliesExec)
	sc(p, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if rec.prot != want[hostMmap] {
		t.Errorf("mmap PROT_READ asks mm for prot %#x, the host maps %s", rec.prot, hostMmap)
	}
	sc(p, unix.SYS_MPROTECT, 0x7000_0000, 4096, unix.PROT_READ)
	if rec.prot != want[hostMprotect] {
		t.Errorf("mprotect PROT_READ asks mm for prot %#x, the host maps %s", rec.prot, hostMprotect)
	}
	sc(p, unix.SYS_MPROTECT, 0x7000_0000, 4096, unix.PROT_WRITE)
	if rec.prot != want[hostWrite] {
		t.Errorf("mprotect PROT_WRITE asks mm for prot %#x", rec.prot)
	}
	m := p.main
	m.persona |= uname26
	m.execPersonality(m.cred.capPrm)
	if m.persona != uname26 {
		t.Errorf("an exec leaves personality %#x, want UNAME26 alone", m.persona)
	}
	m.persona |= addrNoRandomize
	m.execPersonality(0)
	if m.persona != uname26 {
		t.Errorf("an exec that gains capabilities leaves %#x, want PER_CLEAR_ON_SETID cleared", m.persona)
	}
}

// TestIoprioGroupsAndUsers: a process group's or user's priority is the
// best effective one of its threads, a thread of class NONE counting by
// its nice value and policy.
func TestIoprioGroupsAndUsers(t *testing.T) {
	p, _, _ := newTestProcess(t)
	for _, c := range []struct {
		what        string
		nr, a, b, c uint64
		want        int64
	}{
		{"group, nice 0", unix.SYS_IOPRIO_GET, ioprioWhoPgrp, 0, 0, ioprioClassBE<<13 | 4},
		{"user, nice 0", unix.SYS_IOPRIO_GET, ioprioWhoUser, 0, 0, ioprioClassBE<<13 | 4},
		{"nice 10", unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, 10, 0},
		{"group, nice 10", unix.SYS_IOPRIO_GET, ioprioWhoPgrp, 0, 0, ioprioClassBE<<13 | 6},
		{"set idle", unix.SYS_IOPRIO_SET, ioprioWhoPgrp, 0, ioprioClassIdle << 13, 0},
		{"thread", unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0, ioprioClassIdle << 13},
		{"user", unix.SYS_IOPRIO_GET, ioprioWhoUser, 0, 0, ioprioClassIdle << 13},
		{"missing group", unix.SYS_IOPRIO_GET, ioprioWhoPgrp, 999, 0, -int64(unix.ESRCH)},
		{"missing user", unix.SYS_IOPRIO_GET, ioprioWhoUser, 999, 0, -int64(unix.ESRCH)},
		{"set user 0 (root)", unix.SYS_IOPRIO_SET, ioprioWhoUser, 0, ioprioClassRT<<13 | 1, 0},
		{"thread after user 0", unix.SYS_IOPRIO_GET, ioprioWhoProcess, 42, 0, ioprioClassRT<<13 | 1},
	} {
		if got := sc(p, c.nr, c.a, c.b, c.c); got != c.want {
			t.Errorf("%s = %#x, want %#x", c.what, got, c.want)
		}
	}
}

// syslogScript is the syslog actions that change nothing on the host:
// opening and closing, the buffer's size, and arguments Linux refuses
// before it acts; then the same as uid 1000.
func syslogScript(tr *transcript) {
	calls := func(who string) {
		for _, c := range []struct {
			what   string
			action int
			buf    any
			length int
		}{
			{"close", syslogClose, outBuf(16), 16},
			{"open", syslogOpen, outBuf(16), 16},
			{"read 0 bytes", syslogRead, outBuf(16), 0},
			{"read NULL", syslogRead, 0, 16},
			{"read -1", syslogRead, outBuf(16), -1},
			{"read all NULL", syslogReadAll, 0, 16},
			{"read all -1", syslogReadAll, outBuf(16), -1},
			{"read clear NULL", syslogReadClear, 0, 16},
			{"console level 0", syslogConsoleLvl, 0, 0},
			{"console level 9", syslogConsoleLvl, 0, 9},
			{"size buffer", syslogSizeBuffer, 0, 0},
			{"action -1", -1, 0, 0},
			{"action 11", 11, 0, 0},
		} {
			tr.do(who+" syslog "+c.what, unix.SYS_SYSLOG, c.action, c.buf, c.length)
		}
	}
	calls("root")
	tr.do("setresuid", unix.SYS_SETRESUID, 1000, 1000, 1000)
	calls("user")
}

// TestSyslogLikeLinux compares the syslog actions that leave the host's
// log and console alone with the host kernel's answers, as root and as
// uid 1000, then checks that the VM's own log is empty.
func TestSyslogLikeLinux(t *testing.T) {
	var host []string
	onHostThread(t, func() {
		tr := &transcript{s: &hostXattrSys{}}
		syslogScript(tr)
		host = tr.lines
	})
	p, mem := xattrProcess(t, 0)
	g := &guestXattrSys{p: p, mem: mem}
	tr := &transcript{s: g}
	syslogScript(tr)
	compareTranscripts(t, host, tr.lines)

	p, mem = xattrProcess(t, 0)
	g = &guestXattrSys{p: p, mem: mem}
	for _, c := range []struct {
		what           string
		action, length int
	}{
		{"read all", syslogReadAll, 100}, {"read clear", syslogReadClear, 100}, {"clear", syslogClear, 0},
		{"console off", syslogConsoleOff, 0}, {"console on", syslogConsoleOn, 0}, {"console level 8", syslogConsoleLvl, 8},
		{"size unread", syslogSizeUnread, 0},
	} {
		if r, _ := g.call(unix.SYS_SYSLOG, c.action, outBuf(100), c.length); r != 0 {
			t.Errorf("syslog %s = %d, want 0 of an empty log", c.what, r)
		}
	}
}
