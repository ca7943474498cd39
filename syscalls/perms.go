package syscalls

import (
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Discretionary access control: the checks Linux's fs/namei.c
// (generic_permission, may_lookup, may_create, may_delete), fs/attr.c
// (setattr_prepare) and fs/open.c (do_faccessat) make against a thread's
// credentials, for every file of the guest's file system with the owner,
// group and mode its stat shows: a tmpfs file its own, a view's file the
// host's mode with the guest's root user and group (hostStat), the
// synthetic files theirs (0555 directories, 0444 /proc files, 0666
// devices, all root's). The identity is the thread's fsuid, fsgid and
// supplementary groups; the capabilities that override a check
// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
// CAP_CHOWN) are read from its effective set. A root thread holds all of
// them, so for it only exec's need of an execute bit remains.

// access is what a permission check asks for: Linux's MAY_EXEC,
// MAY_WRITE and MAY_READ, the bits of a mode's classes.
type access uint32

const (
	mayExec  access = 1
	mayWrite access = 2
	mayRead  access = 4
)

// accessOfOpen is what open asks of an existing file for its flags
// (build_open_flags' acc_mode): read, write or both by O_ACCMODE, and
// write for O_TRUNC.
func accessOfOpen(flags uint32) access {
	want := [4]access{mayRead, mayWrite, mayRead | mayWrite, mayRead | mayWrite}[flags&unix.O_ACCMODE]
	if flags&unix.O_TRUNC != 0 {
		want |= mayWrite
	}
	return want
}

// permission is Linux's generic_permission: c may access the file whose
// owner, group and mode st shows as want asks where the class of the mode
// that applies to c grants it, or a capability overrides the mode.
// EACCES otherwise.
func (c *creds) permission(st *unix.Stat_t, want access) unix.Errno {
	if c.modeGrants(st, want) || c.overridesMode(st, want) {
		return 0
	}
	return unix.EACCES
}

// modeGrants is acl_permission_check: the owner's class applies to the
// file's owner, the group's to a member of its group, the others' to the
// rest; only that class's bits count.
func (c *creds) modeGrants(st *unix.Stat_t, want access) bool {
	bits := st.Mode
	switch {
	case st.Uid == c.fsuid:
		bits >>= 6
	case c.inGroup(st.Gid):
		bits >>= 3
	}
	return want&^access(bits&7) == 0
}

// overridesMode is generic_permission's capability half: on a directory
// CAP_DAC_READ_SEARCH grants reading and searching, CAP_DAC_OVERRIDE
// everything; on any other file CAP_DAC_READ_SEARCH grants reading,
// CAP_DAC_OVERRIDE reading and writing, and executing only where some
// execute bit is set.
func (c *creds) overridesMode(st *unix.Stat_t, want access) bool {
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if want&mayWrite == 0 && c.capable(unix.CAP_DAC_READ_SEARCH) {
			return true
		}
		return c.capable(unix.CAP_DAC_OVERRIDE)
	}
	if want == mayRead && c.capable(unix.CAP_DAC_READ_SEARCH) {
		return true
	}
	if want&mayExec == 0 || st.Mode&0o111 != 0 {
		return c.capable(unix.CAP_DAC_OVERRIDE)
	}
	return false
}

// searchesAll says no directory can refuse c a search (the capabilities
// that override it): the walks need not look.
func (c *creds) searchesAll() bool {
	return c.capable(unix.CAP_DAC_OVERRIDE) || c.capable(unix.CAP_DAC_READ_SEARCH)
}

// inGroup is in_group_p: gid is c's fsgid or one of its supplementary
// groups.
func (c *creds) inGroup(gid uint32) bool {
	_, found := slices.BinarySearch(c.groups, gid)
	return gid == c.fsgid || found
}

// ownerOrCapable is inode_owner_or_capable: c owns a file owned by uid,
// or holds CAP_FOWNER.
func (c *creds) ownerOrCapable(uid uint32) bool {
	return uid == c.fsuid || c.capable(unix.CAP_FOWNER)
}

// inGroupOrCapable is in_group_or_capable: c may keep a setgid bit on a
// file of group gid.
func (c *creds) inGroupOrCapable(gid uint32) bool {
	return c.inGroup(gid) || c.capable(unix.CAP_FSETID)
}

// mayCreate is may_create's check of the directory a new name goes in:
// write and search permission.
func (c *creds) mayCreate(dir *unix.Stat_t) unix.Errno {
	return c.permission(dir, mayWrite|mayExec)
}

// mayDelete is may_delete's check of the directory a name leaves (unlink,
// rmdir, rename's old name and the new name it replaces): write and
// search permission on it, then its sticky bit, which lets only the
// owner of the file or of the directory (or CAP_FOWNER) remove the name
// (EPERM).
func (c *creds) mayDelete(dir, victim *unix.Stat_t) unix.Errno {
	if e := c.mayCreate(dir); e != 0 {
		return e
	}
	if c.stickyRefuses(dir, victim) {
		return unix.EPERM
	}
	return 0
}

// stickyRefuses is check_sticky.
func (c *creds) stickyRefuses(dir, victim *unix.Stat_t) bool {
	return dir.Mode&unix.S_ISVTX != 0 && victim.Uid != c.fsuid && dir.Uid != c.fsuid && !c.capable(unix.CAP_FOWNER)
}

// mayChown is setattr_prepare's check of chown: the uid may change only
// with CAP_CHOWN (the owner may "change" it to itself), the gid with
// CAP_CHOWN or by the owner to one of its groups; -1 changes nothing.
func (c *creds) mayChown(st *unix.Stat_t, uid, gid uint32) unix.Errno {
	owner := st.Uid == c.fsuid
	capChown := c.capable(unix.CAP_CHOWN)
	if uid != noID && !(owner && uid == st.Uid) && !capChown {
		return unix.EPERM
	}
	if gid != noID && !(owner && (gid == st.Gid || c.inGroup(gid))) && !capChown {
		return unix.EPERM
	}
	return 0
}

// mayTouch is the check of utimensat's times: explicit times need the
// owner or CAP_FOWNER (EPERM); setting both to now (a NULL times) needs
// that or write permission (EACCES), as may_setattr's ATTR_TOUCH.
func (c *creds) mayTouch(st *unix.Stat_t, explicit bool) unix.Errno {
	switch {
	case c.ownerOrCapable(st.Uid):
		return 0
	case explicit:
		return unix.EPERM
	}
	return c.permission(st, mayWrite)
}

// killPrivs is what a change of a file's contents or owner leaves of mode
// (should_remove_suid and setattr_should_drop_sgid): a non-directory
// loses its setuid bit, and its setgid bit where that has group execute
// or c may not keep it, unless c holds CAP_FSETID (always for chown,
// which passes always).
func (c *creds) killPrivs(mode, gid uint32, always bool) uint32 {
	if mode&unix.S_IFMT == unix.S_IFDIR || !always && c.capable(unix.CAP_FSETID) {
		return mode
	}
	mode &^= unix.S_ISUID
	if mode&unix.S_ISGID != 0 && (mode&unix.S_IXGRP != 0 || !c.inGroupOrCapable(gid)) {
		mode &^= unix.S_ISGID
	}
	return mode
}

// newOwner is inode_init_owner with mode_strip_sgid: a new file in
// directory dir is c's fsuid's, and its fsgid's unless dir has its setgid
// bit, which gives dir's group (and, to a directory, the setgid bit); a
// setgid group-executable file made there loses the bit where c may not
// keep it.
func (c *creds) newOwner(dir *node, mode uint32) (uid, gid, m uint32) {
	if dir == nil || dir.tmp == nil || dir.tmp.mode&unix.S_ISGID == 0 {
		return c.fsuid, c.fsgid, mode
	}
	gid = dir.tmp.gid
	switch {
	case mode&unix.S_IFMT == unix.S_IFDIR:
		mode |= unix.S_ISGID
	case mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP && !c.inGroupOrCapable(gid):
		mode &^= unix.S_ISGID
	}
	return c.fsuid, gid, mode
}

// accessCreds are the credentials access and faccessat check with
// (do_faccessat's override): without AT_EACCESS the real uid and gid
// stand for the file system ones, and the capabilities are none for a
// non-root real uid, the permitted set for root.
func (c creds) accessCreds(flags uint64) creds {
	if flags&unix.AT_EACCESS != 0 {
		return c
	}
	c.fsuid, c.fsgid = c.uid, c.gid
	if c.securebits&secbitNoSetuidFixup == 0 {
		if c.uid != 0 {
			c.capEff = 0
		} else {
			c.capEff = c.capPrm
		}
	}
	return c
}

// maySearch checks search permission on each directory a walk passes
// through to reach the cleaned absolute path dir and look a name up in it,
// from the root down to dir itself (link_path_walk's may_lookup): EACCES
// at the first that refuses. A directory that is missing, or is no
// directory, ends the check with no error: the walk itself reports it.
// The directories inside a symbolic link's target are not each checked,
// only where the link leads.
func (t *Task) maySearch(dir string) unix.Errno {
	if t.cred.searchesAll() {
		return 0
	}
	at := "/"
	for _, name := range append(splitPath(dir), "") {
		l, e := t.fs().walk(t.Process, at, true, 0)
		if e != 0 {
			return 0
		}
		st, e := t.lookupStat(&l)
		l.close()
		if e != 0 || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return 0
		}
		if e := t.permissionOf(l.node, &st, mayExec); e != 0 {
			return e
		}
		at = path.Join(at, name)
	}
	return 0
}

// permissionOf is permission for the file st shows, synthetic node n (nil
// for a view's file): a process may search and list its own fd and fdinfo
// directories whatever their owner and mode, as Linux's
// proc_fd_permission lets it.
func (t *Task) permissionOf(n *node, st *unix.Stat_t, want access) unix.Errno {
	if n != nil && n.kind == nodeDir {
		fs := t.fs()
		if fs.fdDirOf(t.Process, n) == t.Process || fs.fdInfoDirOf(t.Process, n) == t.Process {
			return 0
		}
	}
	return t.cred.permission(st, want)
}

// withCreds runs f with c as the thread's credentials, as Linux's
// override_creds: access checks its file as the real user. The tree lock,
// held throughout, keeps other threads from seeing c.
func (t *Task) withCreds(c creds, f func() uint64) uint64 {
	saved := t.cred
	t.cred = c
	defer func() { t.cred = saved }()
	return f()
}

// mayCreateIn is may_create for a new name in tmpfs directory dir: write
// and search permission on it (EACCES). Every call that makes a name
// checks it once the name is known to be free: createAt does for mkdir,
// mknod, symlink and link (and for a socket's bind).
func (t *Task) mayCreateIn(dir *node) unix.Errno {
	st := tmpStat(dir)
	return t.cred.mayCreate(&st)
}

// mayDeleteIn is may_delete for name, which links c, in tmpfs directory
// dir (mayDelete).
func (t *Task) mayDeleteIn(dir, c *node) unix.Errno {
	dst, cst := tmpStat(dir), tmpStat(c)
	return t.cred.mayDelete(&dst, &cst)
}

// removePrivs is file_remove_privs before a write of length bytes (for
// writev, of length buffers) to f: a tmpfs file written by a thread
// without CAP_FSETID loses its setuid and setgid bits (killPrivs), and
// by any thread its file capabilities (killFileCaps).
func (t *Task) removePrivs(f *openFile, length uint64) {
	if length == 0 || f.fs == nil || f.fs.pathOnly || f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return
	}
	if n := f.fs.node; n != nil && n.tmp != nil && n.kind == nodeShm {
		n.tmp.mode = t.cred.killPrivs(n.tmp.mode, n.tmp.gid, false)
		killFileCaps(n)
	}
}

// mayLink is may_linkat: where the host's fs.protected_hardlinks is set,
// only the owner of a file (or CAP_FOWNER) may link it, unless it is a
// safe source: a regular file, neither setuid nor setgid and group
// executable, that the thread may read and write. EPERM otherwise.
func (t *Task) mayLink(n *node) unix.Errno {
	st := tmpStat(n)
	if !protectedHardlinks() || t.cred.ownerOrCapable(st.Uid) {
		return 0
	}
	safe := st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&unix.S_ISUID == 0 &&
		st.Mode&(unix.S_ISGID|unix.S_IXGRP) != unix.S_ISGID|unix.S_IXGRP && t.cred.permission(&st, mayRead|mayWrite) == 0
	if safe {
		return 0
	}
	return unix.EPERM
}

// protectedHardlinks says whether the host sets fs.protected_hardlinks,
// as it is asked at each link that needs it.
func protectedHardlinks() bool {
	b, err := os.ReadFile("/proc/sys/fs/protected_hardlinks")
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

// procModes are the modes of the files of a /proc/<pid> (and of its
// task/<tid>) directory that Linux makes other than 0444, or 0555 for a
// directory (fs/proc/base.c).
var procModes = map[string]uint32{"environ": 0o400, "auxv": 0o400, "pagemap": 0o400, "mem": 0o600, "comm": 0o644, "fd": 0o500, "fdinfo": 0o500}

// procOwner gives a file of /proc/<pid>, at the cleaned absolute path
// name, the mode (procModes) and owner Linux gives it (task_dump_owner):
// the process's effective uid and gid, but root's for any but a 0555
// directory while the process is not dumpable (after it changed its
// ids). The permission checks then read them as any file's.
func (p *Process) procOwner(st *unix.Stat_t, name string) {
	parts := splitPath(name)
	if len(parts) < 2 || parts[0] != "proc" {
		return
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return
	}
	o := p.tree.procs[pid]
	if o == nil || o.main == nil {
		return
	}
	if m, ok := procModes[parts[len(parts)-1]]; ok && (len(parts) == 3 || len(parts) == 5 && parts[2] == "task") {
		st.Mode = st.Mode&unix.S_IFMT | m
	}
	st.Uid, st.Gid = o.main.cred.euid, o.main.cred.egid
	if st.Mode != unix.S_IFDIR|0o555 && o.info.notDumpable {
		st.Uid, st.Gid = 0, 0
	}
}
