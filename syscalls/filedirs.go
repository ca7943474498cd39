package syscalls

import (
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Directories and links: getdents64, readlink, the working directory.

// dirents lists directory f: the host directory's entries (if a view
// backs it) in the host's order, "." and ".." where the host lists them,
// then the synthetic children, which shadow host entries of the same
// names; a directory with no host directory behind it lists "." and ".."
// first. Each entry has the inode number stat shows.
func (p *Process) dirents(f *fsFile) []dirent {
	if f.dentsMade {
		return f.dents
	}
	f.dentsMade = true
	dots := []dirent{{ino: f.st.Ino, typ: unix.DT_DIR, name: "."}, {ino: f.st.Ino, typ: unix.DT_DIR, name: ".."}}
	var out []dirent
	if f.host == nil {
		out = dots
	}
	var children map[string]*node
	if f.node != nil {
		children = p.fs().children(p, f.node)
	}
	if f.host != nil {
		var dirSt unix.Stat_t
		_ = unix.Fstat(int(f.host.Fd()), &dirSt)
		buf := make([]byte, 8192)
		fd := int(f.host.Fd())
		if _, err := unix.Seek(fd, 0, 0); err == nil {
			for {
				n, err := unix.Getdents(fd, buf)
				if err == unix.EINTR {
					continue
				}
				if err != nil || n <= 0 {
					break
				}
				for b := buf[:n]; len(b) >= 19; {
					reclen := int(binary.LittleEndian.Uint16(b[16:]))
					if reclen < 19 || reclen > len(b) {
						break
					}
					ino, typ := binary.LittleEndian.Uint64(b), b[18]
					name := string(b[19:reclen])
					if i := strings.IndexByte(name, 0); i >= 0 {
						name = name[:i]
					}
					b = b[reclen:]
					switch {
					case name == ".":
						out = append(out, dots[0])
						continue
					case name == "..":
						out = append(out, dots[1])
						continue
					case children[name] != nil:
						continue
					}
					_, gino := p.fs().hostIno(&unix.Stat_t{Dev: dirSt.Dev, Ino: ino})
					out = append(out, dirent{ino: gino, typ: typ, name: name})
				}
			}
		}
	}
	if !slices.ContainsFunc(out, func(d dirent) bool { return d.name == "." }) {
		// The host listing failed: "." and ".." still come first.
		out = append(dots, out...)
	}
	names := make([]string, 0, len(children))
	for name := range children {
		names = append(names, name)
	}
	sort.Strings(names)
	if f.node.isTmpDir() {
		tmpOrder(f.node, names)
	}
	if f.node != nil && (p.fs().fdDirOf(p, f.node) != nil || p.fs().fdInfoDirOf(p, f.node) != nil) {
		// The fds in numeric order, as Linux lists them.
		sort.Slice(names, func(i, j int) bool {
			a, _ := strconv.Atoi(names[i])
			b, _ := strconv.Atoi(names[j])
			return a < b
		})
	}
	for _, name := range names {
		c := children[name]
		st, e := p.nodeStat(c, path.Join(f.path, name))
		if e != 0 {
			continue
		}
		out = append(out, dirent{ino: st.Ino, typ: uint8(st.Mode & unix.S_IFMT >> 12), name: name})
	}
	f.dents = out
	return out
}

// getdents copies as many whole entries as fit in count bytes, each as
// record lays it out; d_off is the next entry's index, which lseek
// takes. EINVAL when not even one fits, ENOTDIR for a non-directory.
func (t *Task) getdents(a *[6]uint64, record func(d dirent, off uint64) []byte) uint64 {
	f, e := t.fsFileOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if f == nil || !f.isDir() {
		return errno(unix.ENOTDIR)
	}
	count := min(uint64(uint32(a[2])), maxIO)
	ents := t.dirents(f)
	var out []byte
	pos := f.pos
	for ; pos >= 0 && pos < int64(len(ents)); pos++ {
		rec := record(ents[pos], uint64(pos+1))
		if uint64(len(out)+len(rec)) > count {
			break
		}
		out = append(out, rec...)
	}
	if len(out) == 0 && pos < int64(len(ents)) && pos >= 0 {
		return errno(unix.EINVAL)
	}
	if len(out) > 0 {
		if r := t.copyOutAll(arch.Addr(a[1]), out); r != 0 {
			return r
		}
	}
	f.pos = pos
	return uint64(len(out))
}

// dirent64 is a struct linux_dirent64: d_ino, d_off, d_reclen, d_type,
// the name and its NUL, padded to 8 bytes.
func dirent64(d dirent, off uint64) []byte {
	reclen := (19 + len(d.name) + 1 + 7) &^ 7
	rec := make([]byte, reclen)
	binary.LittleEndian.PutUint64(rec, d.ino)
	binary.LittleEndian.PutUint64(rec[8:], off)
	binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
	rec[18] = d.typ
	copy(rec[19:], d.name)
	return rec
}

// direntOld is the old getdents' struct linux_dirent (fs/readdir.c's
// filldir): d_ino, d_off, d_reclen, the name and its NUL, padded to 8
// bytes with room for d_type, which is the record's last byte.
func direntOld(d dirent, off uint64) []byte {
	reclen := (18 + len(d.name) + 2 + 7) &^ 7
	rec := make([]byte, reclen)
	binary.LittleEndian.PutUint64(rec, d.ino)
	binary.LittleEndian.PutUint64(rec[8:], off)
	binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
	copy(rec[18:], d.name)
	rec[reclen-1] = d.typ
	return rec
}

func sysGetdents64(t *Task, a *[6]uint64) uint64 { return t.getdents(a, dirent64) }

// sysGetdents is the getdents that dietlibc, klibc and old binaries call.
func sysGetdents(t *Task, a *[6]uint64) uint64 { return t.getdents(a, direntOld) }

// readlinkat reads a symbolic link: a synthetic one's target, a view's
// link's host text, a link of /proc/self/fd's name of its file; EINVAL for anything else. The text is copied without a
// NUL, truncated to bufsiz.
func (t *Task) readlinkat(dirfd uint64, addr arch.Addr, buf arch.Addr, bufsiz uint64) uint64 {
	p := t.Process
	if int32(bufsiz) <= 0 {
		return errno(unix.EINVAL)
	}
	l, e := t.lookupAt(dirfd, addr, false)
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	var target string
	switch {
	case l.node != nil && l.node.kind == nodeSymlink:
		target = l.node.linkTarget(p)
	case l.node != nil && l.node.kind == nodeFDLink:
		o := l.node.fdOf
		f, e := o.file(uint64(l.node.fd))
		if e != 0 {
			return errno(unix.ENOENT)
		}
		target = o.fdLinkText(f)
	case l.fdFile != nil:
		return errno(unix.EINVAL)
	case l.node == nil:
		b := make([]byte, pathMax)
		n, err := unix.Readlinkat(l.hostFD, "", b)
		if err != nil {
			return errno(unix.EINVAL)
		}
		target = string(b[:n])
	default:
		return errno(unix.EINVAL)
	}
	out := []byte(target)[:min(len(target), int(int32(bufsiz)))]
	if r := p.copyOutAll(buf, out); r != 0 {
		return r
	}
	return uint64(len(out))
}

func sysReadlink(t *Task, a *[6]uint64) uint64 {
	return t.readlinkat(atFDCWD, arch.Addr(a[0]), arch.Addr(a[1]), a[2])
}

func sysReadlinkat(t *Task, a *[6]uint64) uint64 {
	return t.readlinkat(a[0], arch.Addr(a[1]), arch.Addr(a[2]), a[3])
}

// sysGetcwd reports the working directory: its length with the NUL,
// ERANGE when size is smaller.
func sysGetcwd(t *Task, a *[6]uint64) uint64 {
	cwd := t.cwd() + "\x00"
	if a[1] < uint64(len(cwd)) {
		return errno(unix.ERANGE)
	}
	if r := t.copyOutAll(arch.Addr(a[0]), []byte(cwd)); r != 0 {
		return r
	}
	return uint64(len(cwd))
}

// sysChdir makes a directory of the guest's file system the working
// directory: ENOTDIR for anything else, EACCES for one the thread may not
// search.
func sysChdir(t *Task, a *[6]uint64) uint64 {
	l, e := t.lookupAt(atFDCWD, arch.Addr(a[0]), true)
	if e != 0 {
		return errno(e)
	}
	defer l.close()
	st, e := t.lookupStat(&l)
	if e != 0 {
		return errno(e)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errno(unix.ENOTDIR)
	}
	if e := t.cred.permission(&st, mayExec); e != 0 {
		return errno(e)
	}
	t.info.cwd = l.resolvedPath()
	return 0
}

// SetWorkingDir makes the directory at guestPath, an absolute guest path,
// the working directory the program starts in, as a program on Linux
// starts in its parent's. It fails, changing nothing, where the guest's
// file system has no directory there.
func (p *Process) SetWorkingDir(guestPath string) error {
	if !path.IsAbs(guestPath) {
		return fmt.Errorf("working directory %q: not an absolute path", guestPath)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l, e := p.fs().walk(p, path.Clean(guestPath), true, 0)
	if e != 0 {
		return fmt.Errorf("working directory %s: %w", guestPath, e)
	}
	defer l.close()
	st, e := p.lookupStat(&l)
	if e != 0 {
		return fmt.Errorf("working directory %s: %w", guestPath, e)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("working directory %s: %w", guestPath, unix.ENOTDIR)
	}
	p.info.cwd = l.path
	return nil
}

func sysFchdir(t *Task, a *[6]uint64) uint64 {
	f, e := t.file(a[0])
	if e != 0 {
		return errno(e)
	}
	if f.fs == nil || !f.fs.isDir() {
		return errno(unix.ENOTDIR)
	}
	st, e := t.fsStat(f.fs)
	if e != 0 {
		return errno(e)
	}
	if e := t.cred.permission(&st, mayExec); e != 0 {
		return errno(e)
	}
	t.info.cwd = f.fs.currentPath()
	return 0
}
