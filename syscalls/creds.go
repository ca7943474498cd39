package syscalls

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Credentials: the ids and capabilities of a thread, as Linux's struct
// cred, with its rules (kernel/sys.c, kernel/capability.c and
// security/commoncap.c) for a program in the initial user namespace with
// no file capabilities and no LSM. The guest starts as root with every
// capability; the ids and sets are the thread's own (a raw setuid changes
// only the caller's; libc broadcasts it to its threads), copied to a new
// thread or a fork's child, and kept by execve but for the changes
// cap_bprm_creds_from_file makes. Leaving root drops the capabilities as
// cap_emulate_setxuid does; /proc/self/status shows the main thread's.

// allCaps is every capability Linux knows (CAP_VALID_MASK): the set root
// starts with.
const allCaps = 1<<(unix.CAP_LAST_CAP+1) - 1

// capFSMask are the capabilities that follow the fsuid (CAP_FS_MASK):
// leaving fsuid 0 drops them from the effective set, returning to it
// raises the permitted ones.
const capFSMask = 1<<unix.CAP_CHOWN | 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH |
	1<<unix.CAP_FOWNER | 1<<unix.CAP_FSETID | 1<<unix.CAP_LINUX_IMMUTABLE | 1<<unix.CAP_MKNOD | 1<<unix.CAP_MAC_OVERRIDE

// noID is (uid_t)-1: "leave unchanged" for the set*id calls, and the one
// value no id may take (make_kuid's INVALID_UID in the initial namespace).
const noID = ^uint32(0)

// The securebits (prctl PR_SET_SECUREBITS), each bit with its lock
// above it: SECBIT_NOROOT (root gets no capabilities at execve),
// SECBIT_NO_SETUID_FIXUP (a change of uid leaves the capabilities),
// SECBIT_KEEP_CAPS (leaving root keeps the permitted set; execve clears
// it), SECBIT_NO_CAP_AMBIENT_RAISE, and 6.14's SECBIT_EXEC_RESTRICT_FILE
// and SECBIT_EXEC_DENY_INTERACTIVE, which mmvm keeps but never consults.
const (
	secbitNoroot            = 1 << 0
	secbitNoSetuidFixup     = 1 << 2
	secbitKeepCaps          = 1 << 4
	secbitKeepCapsLocked    = 1 << 5
	secbitNoCapAmbientRaise = 1 << 6
	secureAllBits           = 0x555
	secureAllLocks          = secureAllBits << 1
)

// creds are one thread's credentials (Linux's struct cred).
type creds struct {
	// uid, euid, suid and fsuid are the real, effective, saved and file
	// system user ids; the gids likewise.
	uid, euid, suid, fsuid uint32
	gid, egid, sgid, fsgid uint32
	// The capability sets, one bit per CAP_* number.
	capInh, capPrm, capEff, capBnd, capAmb uint64
	// groups are the supplementary groups, sorted (setgroups); never
	// changed in place, so that copies may share them.
	groups []uint32
	// securebits are prctl's PR_SET_SECUREBITS bits (secbit*),
	// SECBIT_KEEP_CAPS among them (PR_SET_KEEPCAPS).
	securebits uint32
}

// rootCreds are the credentials the guest starts with: root, every
// capability permitted, effective and in the bounding set.
func rootCreds() creds {
	return creds{capPrm: allCaps, capEff: allCaps, capBnd: allCaps}
}

// capable reports whether the effective set holds capability c.
func (c *creds) capable(cp int) bool { return c.capEff&(1<<cp) != 0 }

// fixSetuid adjusts the capabilities after a change of the real,
// effective or saved uid from old, as cap_emulate_setxuid: leaving every
// root id clears the permitted and effective sets (unless SECBIT_KEEP_CAPS) and
// the ambient one; leaving euid 0 clears the effective set, returning to
// it makes it the permitted one.
func (c *creds) fixSetuid(old creds) {
	if c.securebits&secbitNoSetuidFixup != 0 {
		return
	}
	if (old.uid == 0 || old.euid == 0 || old.suid == 0) && c.uid != 0 && c.euid != 0 && c.suid != 0 {
		if c.securebits&secbitKeepCaps == 0 {
			c.capPrm, c.capEff = 0, 0
		}
		c.capAmb = 0
	}
	if old.euid == 0 && c.euid != 0 {
		c.capEff = 0
	}
	if old.euid != 0 && c.euid == 0 {
		c.capEff = c.capPrm
	}
}

// fixSetfsuid adjusts the effective set after setfsuid changed the fsuid
// from old (cap_task_fix_setuid's LSM_SETID_FS).
func (c *creds) fixSetfsuid(old creds) {
	if c.securebits&secbitNoSetuidFixup != 0 {
		return
	}
	if old.fsuid == 0 && c.fsuid != 0 {
		c.capEff &^= capFSMask
	}
	if old.fsuid != 0 && c.fsuid == 0 {
		c.capEff |= c.capPrm & capFSMask
	}
}

// exec is what execve makes of the credentials of a program file with no
// set-id bits and no file capabilities (cap_bprm_creds_from_file): a root
// real or effective uid gets the bounding and inheritable sets permitted,
// a root effective uid has them effective; otherwise only the ambient set
// is permitted and effective, as for everyone under SECBIT_NOROOT. The
// saved and file system ids become the effective ones; SECBIT_KEEP_CAPS
// is cleared.
func (c *creds) exec() {
	c.capPrm = 0
	effective := false
	if root := c.securebits&secbitNoroot == 0; root && (c.euid == 0 || c.uid == 0) {
		c.capPrm = c.capBnd | c.capInh
		effective = c.euid == 0
	}
	c.suid, c.fsuid = c.euid, c.euid
	c.sgid, c.fsgid = c.egid, c.egid
	c.capPrm |= c.capAmb
	if effective {
		c.capEff = c.capPrm
	} else {
		c.capEff = c.capAmb
	}
	c.securebits &^= secbitKeepCaps
}

// idsChanged is commit_creds' rule for dumpability after a set*id call
// from old: a change of the effective or file system uid or gid leaves
// the process dumpable only where the host's fs.suid_dumpable is 1 (0,
// Linux's default, makes it not dumpable, and so its /proc files that
// others may not read root's: procOwner).
func (t *Task) idsChanged(old creds) {
	c := &t.cred
	if old.euid == c.euid && old.egid == c.egid && old.fsuid == c.fsuid && old.fsgid == c.fsgid {
		return
	}
	if !suidDumpable() {
		t.info.notDumpable = true
	}
}

// suidDumpable says whether the host's fs.suid_dumpable is 1: a process
// whose ids change stays dumpable.
func suidDumpable() bool {
	b, err := os.ReadFile("/proc/sys/fs/suid_dumpable")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// credsChanged tells mm whether the process now holds CAP_IPC_LOCK, as
// the calling thread's effective set says (Linux asks the thread that
// locks; mm keeps one answer for the process). Every call that may
// change the effective set ends with it, execve included.
func (t *Task) credsChanged() {
	if t.cfg.Calls != nil {
		t.cfg.Calls.SetCapIPCLock(t.cred.capable(unix.CAP_IPC_LOCK))
	}
}

func sysGetuid(t *Task, _ *[6]uint64) uint64  { return uint64(t.cred.uid) }
func sysGeteuid(t *Task, _ *[6]uint64) uint64 { return uint64(t.cred.euid) }
func sysGetgid(t *Task, _ *[6]uint64) uint64  { return uint64(t.cred.gid) }
func sysGetegid(t *Task, _ *[6]uint64) uint64 { return uint64(t.cred.egid) }

// putIDs writes ids as getresuid does, one 32-bit id after the other,
// each to its own address, stopping at the first that faults.
func (t *Task) putIDs(addrs [3]uint64, ids [3]uint32) uint64 {
	for i, a := range addrs {
		if r := t.putInt(a, ids[i]); r != 0 {
			return r
		}
	}
	return 0
}

func sysGetresuid(t *Task, a *[6]uint64) uint64 {
	c := &t.cred
	return t.putIDs([3]uint64{a[0], a[1], a[2]}, [3]uint32{c.uid, c.euid, c.suid})
}

func sysGetresgid(t *Task, a *[6]uint64) uint64 {
	c := &t.cred
	return t.putIDs([3]uint64{a[0], a[1], a[2]}, [3]uint32{c.gid, c.egid, c.sgid})
}

// sysSetuid is Linux's __sys_setuid: with CAP_SETUID every uid becomes
// uid; without, only the effective (and fs) uid may become the real or
// saved one.
func sysSetuid(t *Task, a *[6]uint64) uint64 {
	uid := uint32(a[0])
	if uid == noID {
		return errno(unix.EINVAL)
	}
	old, c := t.cred, &t.cred
	switch {
	case old.capable(unix.CAP_SETUID):
		c.uid, c.suid = uid, uid
	case uid != old.uid && uid != old.suid:
		return errno(unix.EPERM)
	}
	c.euid, c.fsuid = uid, uid
	c.fixSetuid(old)
	t.credsChanged()
	t.idsChanged(old)
	return 0
}

// sysSetgid is __sys_setgid, setuid's twin for the gids under
// CAP_SETGID; no capability follows a gid.
func sysSetgid(t *Task, a *[6]uint64) uint64 {
	gid := uint32(a[0])
	if gid == noID {
		return errno(unix.EINVAL)
	}
	old, c := t.cred, &t.cred
	switch {
	case c.capable(unix.CAP_SETGID):
		c.gid, c.egid, c.sgid, c.fsgid = gid, gid, gid, gid
	case gid == c.gid || gid == c.sgid:
		c.egid, c.fsgid = gid, gid
	default:
		return errno(unix.EPERM)
	}
	t.idsChanged(old)
	return 0
}

// setre is __sys_setreuid and __sys_setregid on ids (real, effective,
// saved, fs) with the capability that lifts their checks: the real id
// may become the real or effective one, the effective id any of the
// three; the saved id follows the effective one when the real id was
// given or the effective one became other than the old real one.
func setre(ids [4]*uint32, r, e uint32, privileged bool) unix.Errno {
	if r != noID && *ids[0] != r && *ids[1] != r && !privileged {
		return unix.EPERM
	}
	if e != noID && *ids[0] != e && *ids[1] != e && *ids[2] != e && !privileged {
		return unix.EPERM
	}
	oldReal := *ids[0]
	if r != noID {
		*ids[0] = r
	}
	if e != noID {
		*ids[1] = e
	}
	if r != noID || e != noID && e != oldReal {
		*ids[2] = *ids[1]
	}
	*ids[3] = *ids[1]
	return 0
}

func sysSetreuid(t *Task, a *[6]uint64) uint64 {
	old, c := t.cred, &t.cred
	if e := setre([4]*uint32{&c.uid, &c.euid, &c.suid, &c.fsuid}, uint32(a[0]), uint32(a[1]), old.capable(unix.CAP_SETUID)); e != 0 {
		return errno(e)
	}
	c.fixSetuid(old)
	t.credsChanged()
	t.idsChanged(old)
	return 0
}

func sysSetregid(t *Task, a *[6]uint64) uint64 {
	old, c := t.cred, &t.cred
	if e := setre([4]*uint32{&c.gid, &c.egid, &c.sgid, &c.fsgid}, uint32(a[0]), uint32(a[1]), c.capable(unix.CAP_SETGID)); e != 0 {
		return errno(e)
	}
	t.idsChanged(old)
	return 0
}

// setres is __sys_setresuid and __sys_setresgid: each id given (not -1)
// must be one of the three current ones unless privileged; the fs id
// follows the effective one.
func setres(ids [4]*uint32, r, e, s uint32, privileged bool) unix.Errno {
	isOld := func(v uint32) bool { return v == noID || v == *ids[0] || v == *ids[1] || v == *ids[2] }
	if !privileged && (!isOld(r) || !isOld(e) || !isOld(s)) {
		return unix.EPERM
	}
	for i, v := range [3]uint32{r, e, s} {
		if v != noID {
			*ids[i] = v
		}
	}
	*ids[3] = *ids[1]
	return 0
}

func sysSetresuid(t *Task, a *[6]uint64) uint64 {
	old, c := t.cred, &t.cred
	if e := setres([4]*uint32{&c.uid, &c.euid, &c.suid, &c.fsuid}, uint32(a[0]), uint32(a[1]), uint32(a[2]), old.capable(unix.CAP_SETUID)); e != 0 {
		return errno(e)
	}
	c.fixSetuid(old)
	t.credsChanged()
	t.idsChanged(old)
	return 0
}

func sysSetresgid(t *Task, a *[6]uint64) uint64 {
	old, c := t.cred, &t.cred
	if e := setres([4]*uint32{&c.gid, &c.egid, &c.sgid, &c.fsgid}, uint32(a[0]), uint32(a[1]), uint32(a[2]), c.capable(unix.CAP_SETGID)); e != 0 {
		return errno(e)
	}
	t.idsChanged(old)
	return 0
}

// sysSetfsuid sets the fs uid to one of the real, effective, saved or fs
// uids (any, with CAP_SETUID) and returns the old one whether it changed
// it or not, as Linux: the call has no error.
func sysSetfsuid(t *Task, a *[6]uint64) uint64 {
	old, c := t.cred, &t.cred
	uid := uint32(a[0])
	if uid != noID && (uid == old.uid || uid == old.euid || uid == old.suid || uid == old.fsuid || old.capable(unix.CAP_SETUID)) {
		c.fsuid = uid
		c.fixSetfsuid(old)
		t.idsChanged(old)
	}
	return uint64(old.fsuid)
}

func sysSetfsgid(t *Task, a *[6]uint64) uint64 {
	old, c := t.cred, &t.cred
	gid := uint32(a[0])
	if gid != noID && (gid == c.gid || gid == c.egid || gid == c.sgid || gid == c.fsgid || c.capable(unix.CAP_SETGID)) {
		c.fsgid = gid
		t.idsChanged(old)
	}
	return uint64(old.fsgid)
}

// ngroupsMax is NGROUPS_MAX: the most supplementary groups setgroups
// takes.
const ngroupsMax = 65536

// sysGetgroups writes the supplementary groups and returns how many
// there are, as Linux: EINVAL for a negative size, or a size other than 0
// too small for the list; size 0 only counts them.
func sysGetgroups(t *Task, a *[6]uint64) uint64 {
	size := int32(a[0])
	if size < 0 {
		return errno(unix.EINVAL)
	}
	g := t.cred.groups
	if size == 0 {
		return uint64(len(g))
	}
	if len(g) > int(size) {
		return errno(unix.EINVAL)
	}
	b := make([]byte, 4*len(g))
	for i, id := range g {
		binary.LittleEndian.PutUint32(b[4*i:], id)
	}
	if r := t.copyOutAll(arch.Addr(a[1]), b); r != 0 {
		return r
	}
	return uint64(len(g))
}

// sysSetgroups replaces the supplementary groups as Linux's setgroups:
// CAP_SETGID needed (EPERM), then the size checked against NGROUPS_MAX
// (EINVAL), the list read (EFAULT) and each id checked (-1: EINVAL).
func sysSetgroups(t *Task, a *[6]uint64) uint64 {
	if !t.cred.capable(unix.CAP_SETGID) {
		return errno(unix.EPERM)
	}
	size := uint32(a[0])
	if size > ngroupsMax {
		return errno(unix.EINVAL)
	}
	b := make([]byte, 4*size)
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(a[1]), b); err != nil {
		return errno(unix.EFAULT)
	}
	g := make([]uint32, size)
	for i := range g {
		if g[i] = binary.LittleEndian.Uint32(b[4*i:]); g[i] == noID {
			return errno(unix.EINVAL)
		}
	}
	slices.Sort(g)
	t.cred.groups = g
	return 0
}

// The capget and capset header's versions, and how many 32-bit halves
// of each set their data holds.
const (
	capVersion1 = 0x19980330
	capVersion2 = 0x20071026
	capVersion3 = 0x20080522
	// capDataSize is sizeof(struct __user_cap_data_struct): effective,
	// permitted, inheritable, 32 bits each.
	capDataSize = 12
)

// capHeader reads the version of the header at addr as
// cap_validate_magic: the number of data structs the version takes, or,
// for a version Linux does not know, the version it prefers written back
// and EINVAL.
func (t *Task) capHeader(addr uint64) (n int, e unix.Errno) {
	var b [4]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	switch binary.LittleEndian.Uint32(b[:]) {
	case capVersion1:
		return 1, 0
	case capVersion2, capVersion3:
		return 2, 0
	}
	if t.putInt(addr, capVersion3) != 0 {
		return 0, unix.EFAULT
	}
	return 0, unix.EINVAL
}

// capPid reads the header's pid.
func (t *Task) capPid(header uint64) (int32, unix.Errno) {
	var b [4]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(header+4), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return int32(binary.LittleEndian.Uint32(b[:])), 0
}

// sysCapget writes the effective, permitted and inheritable sets of the
// thread the header names (0: the caller) as capget: a NULL data pointer
// only checks the version (an unknown one answered 0 once the preferred
// one is written back), a negative pid is EINVAL, an unknown one ESRCH;
// version 1 gets the low 32 bits only.
func sysCapget(t *Task, a *[6]uint64) uint64 {
	header, data := a[0], a[1]
	n, e := t.capHeader(header)
	if data == 0 || e != 0 {
		if data == 0 && e == unix.EINVAL {
			return 0
		}
		return errno(e)
	}
	pid, e := t.capPid(header)
	if e != 0 {
		return errno(e)
	}
	if pid < 0 {
		return errno(unix.EINVAL)
	}
	target := t
	if pid != 0 && int(pid) != t.tid {
		if target = t.tree.task(int(pid)); target == nil {
			return errno(unix.ESRCH)
		}
	}
	c := &target.cred
	b := make([]byte, 2*capDataSize)
	for i := range 2 {
		shift := 32 * i
		binary.LittleEndian.PutUint32(b[i*capDataSize:], uint32(c.capEff>>shift))
		binary.LittleEndian.PutUint32(b[i*capDataSize+4:], uint32(c.capPrm>>shift))
		binary.LittleEndian.PutUint32(b[i*capDataSize+8:], uint32(c.capInh>>shift))
	}
	return t.copyOutAll(arch.Addr(data), b[:n*capDataSize])
}

// sysCapset sets the caller's effective, permitted and inheritable sets
// as capset and cap_capset, in their order: the version, the pid (only
// the caller's: EPERM), the data read; then the new inheritable set must
// lie within the old inheritable and permitted ones (unless CAP_SETPCAP
// is effective) and within the old inheritable and bounding ones, the
// permitted within the old permitted, the effective within the new
// permitted (EPERM); the ambient set keeps what stays permitted and
// inheritable.
func sysCapset(t *Task, a *[6]uint64) uint64 {
	header, data := a[0], a[1]
	n, e := t.capHeader(header)
	if e != 0 {
		return errno(e)
	}
	pid, e := t.capPid(header)
	if e != 0 {
		return errno(e)
	}
	if pid != 0 && int(pid) != t.tid {
		return errno(unix.EPERM)
	}
	b := make([]byte, 2*capDataSize)
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(data), b[:n*capDataSize]); err != nil {
		return errno(unix.EFAULT)
	}
	set := func(off int) uint64 {
		return (uint64(binary.LittleEndian.Uint32(b[capDataSize+off:]))<<32 | uint64(binary.LittleEndian.Uint32(b[off:]))) & allCaps
	}
	eff, prm, inh := set(0), set(4), set(8)
	c := &t.cred
	switch {
	case !c.capable(unix.CAP_SETPCAP) && inh&^(c.capInh|c.capPrm) != 0,
		inh&^(c.capInh|c.capBnd) != 0,
		prm&^c.capPrm != 0,
		eff&^prm != 0:
		return errno(unix.EPERM)
	}
	c.capEff, c.capPrm, c.capInh = eff, prm, inh
	c.capAmb &= prm & inh
	t.credsChanged()
	return 0
}

// statusIDs are /proc/self/status's Uid and Gid lines for the
// credentials c (real, effective, saved, fs).
func (c *creds) statusIDs() string {
	return fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n",
		c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid)
}

// statusGroups is /proc/self/status's Groups line for c: each group
// followed by a space.
func (c *creds) statusGroups() string {
	var b strings.Builder
	b.WriteString("Groups:\t")
	for i, g := range c.groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", g)
	}
	b.WriteString(" \n")
	return b.String()
}

// statusCaps are /proc/self/status's Cap* lines for the credentials c.
func (c *creds) statusCaps() string {
	return fmt.Sprintf("CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		c.capInh, c.capPrm, c.capEff, c.capBnd, c.capAmb)
}

// capPrctl serves prctl's capability options as cap_task_prctl:
// PR_CAPBSET_READ and PR_CAPBSET_DROP (CAP_SETPCAP needed, before the
// capability is checked), PR_CAP_AMBIENT (a raise needs the capability
// permitted and inheritable, and no SECBIT_NO_CAP_AMBIENT_RAISE),
// PR_GET_SECUREBITS, PR_SET_SECUREBITS (EPERM to change a locked bit,
// to unlock, to set an unknown bit or without CAP_SETPCAP),
// PR_GET_KEEPCAPS and PR_SET_KEEPCAPS (EINVAL past 1, EPERM once
// locked).
func (t *Task) capPrctl(option uint64, a *[6]uint64) uint64 {
	c := &t.cred
	arg2, arg3 := a[1], a[2]
	valid := func(cp uint64) bool { return cp <= unix.CAP_LAST_CAP }
	switch option {
	case unix.PR_CAPBSET_READ:
		if !valid(arg2) {
			return errno(unix.EINVAL)
		}
		return c.capBnd >> arg2 & 1
	case unix.PR_CAPBSET_DROP:
		if !c.capable(unix.CAP_SETPCAP) {
			return errno(unix.EPERM)
		}
		if !valid(arg2) {
			return errno(unix.EINVAL)
		}
		c.capBnd &^= 1 << arg2
		return 0
	case unix.PR_GET_SECUREBITS:
		return uint64(c.securebits)
	case unix.PR_SET_SECUREBITS:
		old := uint64(c.securebits)
		if (old&secureAllLocks)>>1&(old^arg2) != 0 || old&secureAllLocks&^arg2 != 0 ||
			arg2&^(secureAllLocks|secureAllBits) != 0 || !c.capable(unix.CAP_SETPCAP) {
			return errno(unix.EPERM)
		}
		c.securebits = uint32(arg2)
		return 0
	case unix.PR_GET_KEEPCAPS:
		return uint64(c.securebits&secbitKeepCaps) >> 4
	case unix.PR_SET_KEEPCAPS:
		if arg2 > 1 {
			return errno(unix.EINVAL)
		}
		if c.securebits&secbitKeepCapsLocked != 0 {
			return errno(unix.EPERM)
		}
		c.securebits = c.securebits&^secbitKeepCaps | uint32(arg2)<<4
		return 0
	}
	if arg2 == unix.PR_CAP_AMBIENT_CLEAR_ALL {
		if arg3|a[3]|a[4] != 0 {
			return errno(unix.EINVAL)
		}
		c.capAmb = 0
		return 0
	}
	if !valid(arg3) || a[3]|a[4] != 0 {
		return errno(unix.EINVAL)
	}
	bit := uint64(1) << arg3
	switch arg2 {
	case unix.PR_CAP_AMBIENT_IS_SET:
		return c.capAmb >> arg3 & 1
	case unix.PR_CAP_AMBIENT_RAISE:
		if c.capPrm&bit == 0 || c.capInh&bit == 0 || c.securebits&secbitNoCapAmbientRaise != 0 {
			return errno(unix.EPERM)
		}
		c.capAmb |= bit
		return 0
	case unix.PR_CAP_AMBIENT_LOWER:
		c.capAmb &^= bit
		return 0
	}
	return errno(unix.EINVAL)
}
