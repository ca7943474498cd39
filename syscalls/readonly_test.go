package syscalls

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// roPath is a path argument of a roPathCase, relative to the read-only
// directory (the view's /data in mmvm); roText is a string argument
// passed as it is (a symbolic link's target).
type (
	roPath string
	roText string
)

// roPathCases are the calls that change the file system, each made on a
// read-only mount of viewTree's directory by the host kernel (roHelper)
// and on the view in mmvm (TestReadOnlyLikeLinux): arguments are a
// roPath, a roText or a number.
var roPathCases = []struct {
	nr   uint64
	args []any
}{
	{unix.SYS_MKDIR, []any{roPath("new"), 0o755}},
	{unix.SYS_MKDIR, []any{roPath("a.txt"), 0o755}},
	{unix.SYS_MKDIR, []any{roPath("link-in"), 0o755}},
	{unix.SYS_MKDIR, []any{roPath("sub/."), 0o755}},
	{unix.SYS_MKDIR, []any{roPath("nodir/new"), 0o755}},
	{unix.SYS_MKDIR, []any{roPath("a.txt/new"), 0o755}},
	{unix.SYS_MKDIR, []any{roPath("new/"), 0o755}},
	{unix.SYS_MKDIRAT, []any{uint64(atFDCWD), roPath("sub/new"), 0o755}},
	{unix.SYS_MKNODAT, []any{uint64(atFDCWD), roPath("fifo"), unix.S_IFIFO | 0o644, 0}},
	{unix.SYS_MKNODAT, []any{uint64(atFDCWD), roPath("fifo"), unix.S_IFDIR | 0o644, 0}},
	{unix.SYS_MKNODAT, []any{uint64(atFDCWD), roPath("a.txt"), unix.S_IFIFO | 0o644, 0}},
	{unix.SYS_MKNOD, []any{roPath("fifo"), 0o170000, 0}},
	{unix.SYS_SYMLINK, []any{roText("x"), roPath("new")}},
	{unix.SYS_SYMLINK, []any{roText("x"), roPath("a.txt")}},
	{unix.SYS_SYMLINK, []any{roText(""), roPath("new")}},
	{unix.SYS_LINK, []any{roPath("a.txt"), roPath("new")}},
	{unix.SYS_LINK, []any{roPath("missing"), roPath("new")}},
	{unix.SYS_LINK, []any{roPath("a.txt"), roPath("sub")}},
	{unix.SYS_LINKAT, []any{uint64(atFDCWD), roPath("a.txt"), uint64(atFDCWD), roPath("new"), 0x8000}},
	{unix.SYS_UNLINK, []any{roPath("a.txt")}},
	{unix.SYS_UNLINK, []any{roPath("missing")}},
	{unix.SYS_UNLINK, []any{roPath("sub")}},
	{unix.SYS_UNLINK, []any{roPath("sub/..")}},
	{unix.SYS_UNLINK, []any{roPath("nodir/x")}},
	{unix.SYS_UNLINKAT, []any{uint64(atFDCWD), roPath("sub"), unix.AT_REMOVEDIR}},
	{unix.SYS_UNLINKAT, []any{uint64(atFDCWD), roPath("a.txt"), 1}},
	{unix.SYS_RMDIR, []any{roPath("sub")}},
	{unix.SYS_RMDIR, []any{roPath("sub/.")}},
	{unix.SYS_RMDIR, []any{roPath("sub/..")}},
	{unix.SYS_RMDIR, []any{roPath("missing")}},
	{unix.SYS_RMDIR, []any{roPath("a.txt/x")}},
	{unix.SYS_RENAME, []any{roPath("a.txt"), roPath("new")}},
	{unix.SYS_RENAME, []any{roPath("missing"), roPath("new")}},
	{unix.SYS_RENAME, []any{roPath("a.txt"), roPath("nodir/new")}},
	{unix.SYS_RENAME, []any{roPath("sub/."), roPath("new")}},
	{unix.SYS_RENAMEAT2, []any{uint64(atFDCWD), roPath("a.txt"), uint64(atFDCWD), roPath("new"), unix.RENAME_NOREPLACE | unix.RENAME_EXCHANGE}},
	{unix.SYS_RENAMEAT2, []any{uint64(atFDCWD), roPath("a.txt"), uint64(atFDCWD), roPath("sub/.."), unix.RENAME_NOREPLACE}},
	{unix.SYS_CHMOD, []any{roPath("a.txt"), 0o600}},
	{unix.SYS_CHMOD, []any{roPath("missing"), 0o600}},
	{unix.SYS_FCHMODAT, []any{uint64(atFDCWD), roPath("sub"), 0o700}},
	{unix.SYS_CHOWN, []any{roPath("a.txt"), 0, 0}},
	{unix.SYS_LCHOWN, []any{roPath("link-in"), 0, 0}},
	{unix.SYS_FCHOWNAT, []any{uint64(atFDCWD), roPath("a.txt"), 0, 0, 0x8000}},
	{unix.SYS_FCHOWNAT, []any{uint64(atFDCWD), roPath("link-in"), 0, 0, unix.AT_SYMLINK_NOFOLLOW}},
	{unix.SYS_TRUNCATE, []any{roPath("a.txt"), 0}},
	{unix.SYS_TRUNCATE, []any{roPath("sub"), 0}},
	{unix.SYS_TRUNCATE, []any{roPath("a.txt"), uint64(1<<64 - 1)}},
	{unix.SYS_TRUNCATE, []any{roPath("missing"), 0}},
	{unix.SYS_UTIMENSAT, []any{uint64(atFDCWD), roPath("a.txt"), 0, 0}},
	{unix.SYS_UTIMENSAT, []any{uint64(atFDCWD), roPath("missing"), 0, 0}},
	{unix.SYS_UTIMENSAT, []any{uint64(atFDCWD), roPath("link-in"), 0, unix.AT_SYMLINK_NOFOLLOW}},
	{unix.SYS_UTIMENSAT, []any{uint64(atFDCWD), roPath("a.txt"), 0, 0x8000}},
	{unix.SYS_UTIMES, []any{roPath("sub/b.txt"), 0}},
}

// roArgs lays out a roPathCase's arguments: str makes a string argument
// (a path already joined to its directory) and returns its address.
func roArgs(args []any, dir string, str func(string) uint64) [6]uint64 {
	var a [6]uint64
	for i, arg := range args {
		switch v := arg.(type) {
		case roPath:
			a[i] = str(dir + "/" + string(v))
		case roText:
			a[i] = str(string(v))
		case int:
			a[i] = uint64(v)
		case uint64:
			a[i] = v
		default:
			panic(fmt.Sprintf("roPathCases: argument %v", arg))
		}
	}
	return a
}

// roCaseName names a roPathCase in a failure.
func roCaseName(nr uint64, args []any) string {
	var parts []string
	for _, a := range args {
		parts = append(parts, fmt.Sprint(a))
	}
	return Name(nr) + "(" + strings.Join(parts, ", ") + ")"
}

// roPathHelper makes each of roPathCases on the host with dir read-only
// and prints its errno, one a line.
func roPathHelper(dir string) {
	for _, c := range roPathCases {
		a := roArgs(c.args, dir, func(s string) uint64 { return uint64(cstr(s)) })
		_, _, e := unix.Syscall6(uintptr(c.nr), uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		fmt.Println(int(e))
	}
}
