package syscalls

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A path argument of a nameCase: a path under the view's root (the host
// directory, /data in the guest), or nothing (a NULL pointer).
type viewPath string

// noPath is a NULL path argument.
const noPath viewPath = "\x00"

// nameCases are the calls that change names or metadata whose answers on a
// read-only file system TestNameCallsLikeLinuxReadOnly takes from the host
// kernel: each argument is a viewPath or a number.
var nameCases = []struct {
	nr   uint64
	args []any
}{
	{unix.SYS_UNLINK, []any{viewPath("a.txt")}},
	{unix.SYS_UNLINK, []any{viewPath("new")}},
	{unix.SYS_UNLINK, []any{viewPath("sub")}},
	{unix.SYS_UNLINK, []any{viewPath("a.txt/")}},
	{unix.SYS_UNLINK, []any{viewPath("nodir/x")}},
	{unix.SYS_UNLINK, []any{viewPath("a.txt/x")}},
	{unix.SYS_UNLINK, []any{viewPath("sub/.")}},
	{unix.SYS_UNLINKAT, []any{uint64(atFDCWD), viewPath("sub"), uint64(unix.AT_REMOVEDIR)}},
	{unix.SYS_UNLINKAT, []any{uint64(atFDCWD), viewPath("a.txt"), uint64(0x100)}},
	{unix.SYS_RMDIR, []any{viewPath("sub")}},
	{unix.SYS_RMDIR, []any{viewPath("a.txt")}},
	{unix.SYS_RMDIR, []any{viewPath("new")}},
	{unix.SYS_RMDIR, []any{viewPath("sub/..")}},
	{unix.SYS_RMDIR, []any{viewPath("sub/.")}},
	{unix.SYS_MKDIR, []any{viewPath("new"), uint64(0o755)}},
	{unix.SYS_MKDIR, []any{viewPath("new/"), uint64(0o755)}},
	{unix.SYS_MKDIR, []any{viewPath("sub"), uint64(0o755)}},
	{unix.SYS_MKDIR, []any{viewPath("link-in"), uint64(0o755)}},
	{unix.SYS_MKDIR, []any{viewPath("sub/new"), uint64(0o755)}},
	{unix.SYS_MKDIR, []any{viewPath("nodir/new"), uint64(0o755)}},
	{unix.SYS_MKDIRAT, []any{uint64(atFDCWD), viewPath("sub/.."), uint64(0o755)}},
	{unix.SYS_MKNOD, []any{viewPath("new"), uint64(unix.S_IFIFO | 0o644), uint64(0)}},
	{unix.SYS_MKNOD, []any{viewPath("new/"), uint64(unix.S_IFREG | 0o644), uint64(0)}},
	{unix.SYS_MKNOD, []any{viewPath("new"), uint64(unix.S_IFDIR | 0o644), uint64(0)}},
	{unix.SYS_MKNOD, []any{viewPath("a.txt"), uint64(0), uint64(0)}},
	{unix.SYS_SYMLINK, []any{viewPath("a.txt"), viewPath("new")}},
	{unix.SYS_SYMLINK, []any{viewPath("a.txt"), viewPath("sub")}},
	{unix.SYS_LINK, []any{viewPath("a.txt"), viewPath("new")}},
	{unix.SYS_LINK, []any{viewPath("a.txt"), viewPath("sub/b.txt")}},
	{unix.SYS_LINK, []any{viewPath("missing"), viewPath("new")}},
	{unix.SYS_LINKAT, []any{uint64(atFDCWD), viewPath("link-in"), uint64(atFDCWD), viewPath("new"), uint64(unix.AT_SYMLINK_FOLLOW)}},
	{unix.SYS_RENAME, []any{viewPath("a.txt"), viewPath("new")}},
	{unix.SYS_RENAME, []any{viewPath("missing"), viewPath("new")}},
	{unix.SYS_RENAME, []any{viewPath("a.txt"), viewPath("sub/b.txt")}},
	{unix.SYS_RENAME, []any{viewPath("sub"), viewPath("sub/x")}},
	{unix.SYS_RENAME, []any{viewPath("sub/."), viewPath("x")}},
	{unix.SYS_RENAMEAT2, []any{uint64(atFDCWD), viewPath("a.txt"), uint64(atFDCWD), viewPath("sub/b.txt"), uint64(unix.RENAME_NOREPLACE)}},
	{unix.SYS_RENAMEAT2, []any{uint64(atFDCWD), viewPath("a.txt"), uint64(atFDCWD), viewPath("new"), uint64(unix.RENAME_EXCHANGE)}},
	{unix.SYS_CHMOD, []any{viewPath("a.txt"), uint64(0o600)}},
	{unix.SYS_CHMOD, []any{viewPath("sub"), uint64(0o700)}},
	{unix.SYS_CHMOD, []any{viewPath("link-in"), uint64(0o600)}},
	{unix.SYS_CHMOD, []any{viewPath("missing"), uint64(0o600)}},
	{unix.SYS_FCHMODAT, []any{uint64(atFDCWD), viewPath("a.txt"), uint64(0o600)}},
	{unix.SYS_CHOWN, []any{viewPath("a.txt"), uint64(0), uint64(0)}},
	{unix.SYS_LCHOWN, []any{viewPath("link-in"), uint64(0), uint64(0)}},
	{unix.SYS_FCHOWNAT, []any{uint64(atFDCWD), viewPath("sub"), uint64(0), uint64(0), uint64(0)}},
	{unix.SYS_TRUNCATE, []any{viewPath("a.txt"), uint64(0)}},
	{unix.SYS_TRUNCATE, []any{viewPath("link-in"), uint64(5)}},
	{unix.SYS_TRUNCATE, []any{viewPath("sub"), uint64(0)}},
	{unix.SYS_UTIMENSAT, []any{uint64(atFDCWD), viewPath("a.txt"), uint64(0), uint64(0)}},
	{unix.SYS_UTIMENSAT, []any{uint64(atFDCWD), viewPath("link-in"), uint64(0), uint64(unix.AT_SYMLINK_NOFOLLOW)}},
	{unix.SYS_UTIMENSAT, []any{uint64(atFDCWD), viewPath("missing"), uint64(0), uint64(0)}},
	{unix.SYS_UTIMES, []any{viewPath("sub"), uint64(0)}},
	{unix.SYS_UTIME, []any{viewPath("a.txt"), uint64(0)}},
	{unix.SYS_CREAT, []any{viewPath("new"), uint64(0o644)}},
	{unix.SYS_CREAT, []any{viewPath("a.txt"), uint64(0o644)}},
}

// nameHelperEnv makes the test binary the helper of
// TestNameCallsLikeLinuxReadOnly, as roHelperEnv does for
// TestReadOnlyLikeLinux: it prints the host's answer to each of nameCases
// on a read-only bind mount of the directory the variable names.
const nameHelperEnv = "MMVM_TEST_RO_NAMES_DIR"

func nameHelper(dir string) int {
	if err := roBind(dir); err != nil {
		fmt.Println(err)
		return 1
	}
	for _, c := range nameCases {
		var a []uintptr
		for _, v := range c.args {
			switch v := v.(type) {
			case viewPath:
				if v == noPath {
					a = append(a, 0)
				} else {
					a = append(a, cstr(dir+"/"+string(v)))
				}
			case uint64:
				a = append(a, uintptr(v))
			}
		}
		fmt.Println(hostRet(uintptr(c.nr), a...))
	}
	return 0
}

// roBind bind-mounts dir read-only on itself.
func roBind(dir string) error {
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return nil
}

// TestNameCallsLikeLinuxReadOnly: each call of nameCases gets from mmvm the
// answer the host kernel gives on a read-only bind mount of the same
// directory, as the root of a user namespace: EROFS only where Linux's
// checks of the arguments and paths, in their order, left nothing else to
// say.
func TestNameCallsLikeLinuxReadOnly(t *testing.T) {
	root, _ := viewTree(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1) to make a read-only mount with")
	}
	cmd := exec.Command(unshare, "-rm", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nameHelperEnv+"="+root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("no user and mount namespace for a read-only mount here: %v: %s", err, out)
	}
	host := strings.Fields(string(out))
	if len(host) != len(nameCases) {
		t.Fatalf("helper printed %q", out)
	}
	p, mem := newViewProcess(t, root)
	for i, c := range nameCases {
		var a []uint64
		var desc []string
		for j, v := range c.args {
			switch v := v.(type) {
			case viewPath:
				desc = append(desc, strconv.Quote(string(v)))
				if v == noPath {
					a = append(a, 0)
				} else {
					a = append(a, putStr(mem, 0x8000+0x400*j, "/data/"+string(v)))
				}
			case uint64:
				desc = append(desc, fmt.Sprintf("%#x", v))
				a = append(a, v)
			}
		}
		got := sc(p, c.nr, a...)
		if got >= 0 {
			sc(p, unix.SYS_CLOSE, uint64(got)) // creat's fd, were it opened
			got = 0
		}
		want, _ := strconv.ParseInt(host[i], 10, 64)
		if want > 0 {
			want = 0
		}
		if got != want {
			t.Errorf("%s(%s): mmvm %v, Linux on a read-only mount %v", Name(c.nr), strings.Join(desc, ", "), unix.Errno(-got), unix.Errno(-want))
		}
	}
}
