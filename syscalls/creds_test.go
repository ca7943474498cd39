package syscalls

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// statusLine returns the line of /proc/self/status that starts with name.
func statusLine(p *Process, name string) string {
	for _, l := range strings.Split(string(p.main.statusText()), "\n") {
		if strings.HasPrefix(l, name+":") {
			return l
		}
	}
	return ""
}

// TestCredentialChanges: the set*id calls as Linux's kernel/sys.c and
// cap_emulate_setxuid make them for root, one step after another in a
// fork's child (so that the root stays root), with the ids getresuid and
// /proc/self/status report and the capabilities capget and status
// report. Before, every set*id call was ENOSYS and status said root.
func TestCredentialChanges(t *testing.T) {
	h := newProcHarness(t)
	root := h.root.main
	child := h.fork(t, root)
	ids := func() [3]uint32 {
		t.Helper()
		if r := tc(child, unix.SYS_GETRESUID, bufAddr, bufAddr+4, bufAddr+8); r != 0 {
			t.Fatalf("getresuid = %d", r)
		}
		m := memOf(child.Process).mem[bufAddr-base:]
		return [3]uint32{binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint32(m[4:]), binary.LittleEndian.Uint32(m[8:])}
	}
	steps := []struct {
		name     string
		nr       uint64
		args     []uint64
		want     int64
		ids      [3]uint32
		eff, prm uint64
	}{
		{"setresgid 100 100 100", unix.SYS_SETRESGID, []uint64{100, 100, 100}, 0, [3]uint32{0, 0, 0}, allCaps, allCaps},
		{"setresuid 1000 1000 0: saved root keeps prm", unix.SYS_SETRESUID, []uint64{1000, 1000, 0}, 0, [3]uint32{1000, 1000, 0}, 0, allCaps},
		{"setresuid -1 0 -1: euid 0 again", unix.SYS_SETRESUID, []uint64{uint64(noID), 0, uint64(noID)}, 0, [3]uint32{1000, 0, 0}, allCaps, allCaps},
		{"setuid -1", unix.SYS_SETUID, []uint64{uint64(noID)}, neg64(unix.EINVAL), [3]uint32{1000, 0, 0}, allCaps, allCaps},
		{"setuid 1000 with CAP_SETUID: every id", unix.SYS_SETUID, []uint64{1000}, 0, [3]uint32{1000, 1000, 1000}, 0, 0},
		{"setuid 0 without", unix.SYS_SETUID, []uint64{0}, neg64(unix.EPERM), [3]uint32{1000, 1000, 1000}, 0, 0},
		{"setreuid 2000 -1 without", unix.SYS_SETREUID, []uint64{2000, uint64(noID)}, neg64(unix.EPERM), [3]uint32{1000, 1000, 1000}, 0, 0},
		{"setreuid -1 1000", unix.SYS_SETREUID, []uint64{uint64(noID), 1000}, 0, [3]uint32{1000, 1000, 1000}, 0, 0},
		{"setgid 100 (the real gid)", unix.SYS_SETGID, []uint64{100}, 0, [3]uint32{1000, 1000, 1000}, 0, 0},
		{"setgid 0 without", unix.SYS_SETGID, []uint64{0}, neg64(unix.EPERM), [3]uint32{1000, 1000, 1000}, 0, 0},
		{"setgroups without CAP_SETGID", unix.SYS_SETGROUPS, []uint64{0, 0}, neg64(unix.EPERM), [3]uint32{1000, 1000, 1000}, 0, 0},
		{"setfsuid 0 refused: the old fsuid", unix.SYS_SETFSUID, []uint64{0}, 1000, [3]uint32{1000, 1000, 1000}, 0, 0},
	}
	for _, s := range steps {
		if r := tc(child, s.nr, s.args...); r != s.want {
			t.Errorf("%s = %d, want %d", s.name, r, s.want)
		}
		if got := ids(); got != s.ids {
			t.Errorf("after %s: uids %v, want %v", s.name, got, s.ids)
		}
		if c := child.cred; c.capEff != s.eff || c.capPrm != s.prm {
			t.Errorf("after %s: eff %x prm %x, want %x %x", s.name, c.capEff, c.capPrm, s.eff, s.prm)
		}
	}
	if got, want := statusLine(child.Process, "Uid"), "Uid:\t1000\t1000\t1000\t1000"; got != want {
		t.Errorf("status: %q, want %q", got, want)
	}
	if got, want := statusLine(child.Process, "Gid"), "Gid:\t100\t100\t100\t100"; got != want {
		t.Errorf("status: %q, want %q", got, want)
	}
	if got, want := statusLine(child.Process, "CapEff"), "CapEff:\t0000000000000000"; got != want {
		t.Errorf("status: %q, want %q", got, want)
	}
	// The parent is untouched, and kill from the child to it is EPERM
	// now (check_kill_permission), signal 0 included.
	if c := root.cred; c.uid != 0 || c.capEff != allCaps {
		t.Errorf("the parent's credentials changed: %+v", c)
	}
	if r := tc(child, unix.SYS_KILL, uint64(root.cfg.PID), 0); r != neg64(unix.EPERM) {
		t.Errorf("kill(parent, 0) as 1000 = %d, want EPERM", r)
	}
	// A fork of the child inherits its credentials; exec as non-root
	// leaves only the ambient set (empty).
	grandchild := h.fork(t, child)
	if grandchild.cred.uid != 1000 || grandchild.cred.gid != 100 {
		t.Errorf("the fork's child has %+v, want its parent's", grandchild.cred)
	}
}

// TestCredsExec: execve's capabilities (cap_bprm_creds_from_file without
// file capabilities): root's permitted set is the bounding set plus the
// inheritable one, effective only for euid 0; a non-root program gets
// only the ambient set; SECBIT_KEEP_CAPS is cleared, the saved and fs ids become
// the effective ones.
func TestCredsExec(t *testing.T) {
	for _, c := range []struct {
		name           string
		in             creds
		prm, eff, suid uint64
	}{
		{"root", rootCreds(), allCaps, allCaps, 0},
		{"ruid 1000 euid 0", creds{uid: 1000, suid: 1000, fsuid: 1000, capBnd: allCaps &^ 1, capPrm: allCaps, capEff: 2}, allCaps &^ 1, allCaps &^ 1, 0},
		{"ruid 0 euid 1000", creds{euid: 1000, capBnd: allCaps, capPrm: allCaps}, allCaps, 0, 1000},
		{"1000 with ambient", creds{uid: 1000, euid: 1000, suid: 1000, capBnd: allCaps, capPrm: allCaps, capInh: 1 << 5, capAmb: 1 << 5, securebits: secbitKeepCaps}, 1 << 5, 1 << 5, 1000},
		{"1000", creds{uid: 1000, euid: 1000, suid: 0, capBnd: allCaps, capPrm: allCaps, capEff: allCaps}, 0, 0, 1000},
		{"root under SECBIT_NOROOT", creds{capBnd: allCaps, capPrm: allCaps, capEff: allCaps, securebits: secbitNoroot}, 0, 0, 0},
	} {
		cr := c.in
		cr.exec()
		if cr.capPrm != c.prm || cr.capEff != c.eff || uint64(cr.suid) != c.suid || cr.fsuid != cr.euid || cr.securebits&secbitKeepCaps != 0 {
			t.Errorf("%s: after exec %+v, want prm %x eff %x suid %d", c.name, cr, c.prm, c.eff, c.suid)
		}
	}
}

// TestCapgetCapset: capget's and capset's headers, versions and checks
// in Linux's order.
func TestCapgetCapset(t *testing.T) {
	h := newProcHarness(t)
	task := h.root.main
	mem := memOf(h.root).mem
	hdr, data := uint64(bufAddr), uint64(bufAddr+16)
	put := func(version uint32, pid int32) {
		binary.LittleEndian.PutUint32(mem[hdr-base:], version)
		binary.LittleEndian.PutUint32(mem[hdr-base+4:], uint32(pid))
	}
	put(1, 0)
	if r := tc(task, unix.SYS_CAPGET, hdr, 0); r != 0 {
		t.Errorf("capget(bad version, NULL) = %d, want 0", r)
	}
	if v := binary.LittleEndian.Uint32(mem[hdr-base:]); v != capVersion3 {
		t.Errorf("version written back %x", v)
	}
	put(1, 0)
	if r := tc(task, unix.SYS_CAPGET, hdr, data); r != neg64(unix.EINVAL) {
		t.Errorf("capget(bad version) = %d, want EINVAL", r)
	}
	put(capVersion3, 0)
	if r := tc(task, unix.SYS_CAPGET, hdr, data); r != 0 {
		t.Fatal(r)
	}
	d := mem[data-base:]
	if eff := uint64(binary.LittleEndian.Uint32(d[12:]))<<32 | uint64(binary.LittleEndian.Uint32(d)); eff != allCaps {
		t.Errorf("capget: effective %x, want %x", eff, uint64(allCaps))
	}
	put(capVersion3, -1)
	if r := tc(task, unix.SYS_CAPGET, hdr, data); r != neg64(unix.EINVAL) {
		t.Errorf("capget(pid -1) = %d, want EINVAL", r)
	}
	put(capVersion3, 4242)
	if r := tc(task, unix.SYS_CAPGET, hdr, data); r != neg64(unix.ESRCH) {
		t.Errorf("capget(pid 4242) = %d, want ESRCH", r)
	}
	if r := tc(task, unix.SYS_CAPSET, hdr, data); r != neg64(unix.EPERM) {
		t.Errorf("capset(pid 4242) = %d, want EPERM", r)
	}
	// Drop CAP_CHOWN from the effective set, then try to have it back
	// effective without it permitted.
	put(capVersion3, 0)
	binary.LittleEndian.PutUint32(d, ^uint32(1))
	if r := tc(task, unix.SYS_CAPSET, hdr, data); r != 0 {
		t.Fatalf("capset = %d", r)
	}
	if task.cred.capEff != allCaps&^1 || !strings.HasSuffix(statusLine(h.root, "CapEff"), "000001fffffffffe") {
		t.Errorf("after capset: eff %x, status %q", task.cred.capEff, statusLine(h.root, "CapEff"))
	}
	binary.LittleEndian.PutUint32(d, ^uint32(0))
	binary.LittleEndian.PutUint32(d[4:], ^uint32(1))
	if r := tc(task, unix.SYS_CAPSET, hdr, data); r != neg64(unix.EPERM) {
		t.Errorf("capset(eff not within prm) = %d, want EPERM", r)
	}
	if r := tc(task, unix.SYS_PRCTL, unix.PR_CAPBSET_READ, 0); r != 1 {
		t.Errorf("PR_CAPBSET_READ(CAP_CHOWN) = %d", r)
	}
	if r := tc(task, unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, 5); r != neg64(unix.EPERM) {
		t.Errorf("PR_CAP_AMBIENT_RAISE without inheritable = %d, want EPERM", r)
	}
}
