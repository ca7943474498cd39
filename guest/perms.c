/*
 * perms: Linux's discretionary access control in /tmp for a program that
 * leaves root. As root it makes directories and files of various modes
 * and owners, then each part runs in a child that drops to uid and gid
 * 1000 (groups 1000 and 3000), or keeps only some capabilities
 * (PR_SET_KEEPCAPS and capset), or changes only its fsuid, and prints
 * what each call answers: open for reading, writing and truncating, the
 * search of each directory on a path, directory listing, creating,
 * removing and renaming names (the sticky bit of /tmp-like directories),
 * chmod, chown, utimensat, truncate, chdir, access and faccessat2
 * (AT_EACCESS, root's X_OK), exec. The test runs it natively on a fresh
 * tmpfs (a private mount namespace), so both runs start from an empty
 * /tmp; every line must match.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif
#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

// The capabilities, by number (linux/capability.h).
enum { CAP_CHOWN = 0, CAP_DAC_OVERRIDE = 1, CAP_DAC_READ_SEARCH = 2, CAP_FOWNER = 3, CAP_FSETID = 4 };

struct caphdr { uint32_t version; int pid; };
struct capdata { uint32_t eff, prm, inh; };

static const char *self;

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EEXIST: return "EEXIST";
	case EPERM: return "EPERM";
	case EXDEV: return "EXDEV";
	case EBADF: return "EBADF";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

static void res(const char *what, long r)
{
	printf("  %-44s %s\n", what, r < 0 ? errname(errno) : "ok");
	fflush(stdout);
}

// openRes opens and closes, printing the open's answer.
static void openRes(const char *what, const char *path, int flags)
{
	int fd = open(path, flags, 0644);
	res(what, fd);
	if (fd >= 0)
		close(fd);
}

// mode prints a file's mode, owner and group.
static void mode(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		printf("  stat %-39s %s\n", path, errname(errno));
		return;
	}
	printf("  stat %-39s %o %d:%d\n", path, st.st_mode, st.st_uid, st.st_gid);
}

// file makes path with mode, owned by uid:gid, holding a few bytes.
static void file(const char *path, int m, int uid, int gid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "data\n", 5) != 5) {
		printf("setup %s: %s\n", path, errname(errno));
		exit(1);
	}
	close(fd);
	if (chown(path, uid, gid) < 0 || chmod(path, m) < 0) {
		printf("setup %s: %s\n", path, errname(errno));
		exit(1);
	}
}

static void dir(const char *path, int m, int uid, int gid)
{
	if (mkdir(path, 0700) < 0 || chown(path, uid, gid) < 0 || chmod(path, m) < 0) {
		printf("setup %s: %s\n", path, errname(errno));
		exit(1);
	}
}

// setup makes the tree every part starts from, as root.
static void setup(void)
{
	dir("/tmp/p", 0755, 0, 0);
	dir("/tmp/p/d755", 0755, 0, 0);
	dir("/tmp/p/d777", 0777, 0, 0);
	dir("/tmp/p/d1777", 01777, 0, 0);
	dir("/tmp/p/d700", 0700, 0, 0);
	dir("/tmp/p/d711", 0711, 0, 0);
	dir("/tmp/p/d755/sub", 0755, 0, 0);
	dir("/tmp/p/d777/dir2000", 0755, 2000, 2000);
	dir("/tmp/p/d777/dir1000", 0755, 1000, 1000);
	dir("/tmp/p/d777/to", 0777, 0, 0);
	dir("/tmp/p/d1777/dir2000", 0777, 2000, 2000);
	dir("/tmp/p/sgid", 02777, 0, 3000);
	file("/tmp/p/d755/f644", 0644, 0, 0);
	file("/tmp/p/d755/f600", 0600, 0, 0);
	file("/tmp/p/d755/f666", 0666, 0, 0);
	file("/tmp/p/d755/f000", 0, 0, 0);
	file("/tmp/p/d755/x744", 0744, 0, 0);
	file("/tmp/p/d755/g1000", 0640, 0, 1000);
	file("/tmp/p/d755/g3000", 0460, 0, 3000);
	file("/tmp/p/d755/g2000", 0604, 0, 2000);
	file("/tmp/p/d755/mine", 0600, 1000, 1000);
	file("/tmp/p/d755/mine2000", 0600, 1000, 2000);
	file("/tmp/p/d755/suid", 06755, 1000, 1000);
	file("/tmp/p/d755/sgid", 02745, 1000, 1000);
	file("/tmp/p/d755/rootsuid", 04755, 0, 0);
	file("/tmp/p/d700/inner", 0644, 0, 0);
	file("/tmp/p/d711/inner", 0644, 0, 0);
	file("/tmp/p/d777/rootfile", 0644, 0, 0);
	file("/tmp/p/d777/mine", 0644, 1000, 1000);
	file("/tmp/p/d1777/rootfile", 0666, 0, 0);
	file("/tmp/p/d1777/file1000", 0600, 1000, 1000);
	file("/tmp/p/d1777/file2000", 0666, 2000, 2000);
	file("/tmp/p/d1777/dir2000/inner", 0666, 2000, 2000);
	// A copy of this program to exec.
	int in = open(self, O_RDONLY);
	int out = open("/tmp/p/d755/prog", O_WRONLY | O_CREAT | O_TRUNC, 0755);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, n) != n)
			exit(1);
	close(in);
	close(out);
	file("/tmp/p/d755/prog700", 0700, 0, 0);
}

// become leaves root for uid and gid 1000 with groups 1000 and 3000, as a
// program that drops privileges does.
static void become(void)
{
	uint32_t groups[] = {1000, 3000};
	if (syscall(SYS_setgroups, 2, groups) < 0 || syscall(SYS_setresgid, 1000, 1000, 1000) < 0 ||
	    syscall(SYS_setresuid, 1000, 1000, 1000) < 0) {
		printf("become: %s\n", errname(errno));
		exit(1);
	}
}

// keep leaves root for uid 1000 keeping only the capabilities in mask
// effective.
static void keep(uint32_t mask)
{
	uint32_t groups[] = {1000};
	if (syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || syscall(SYS_setgroups, 1, groups) < 0 ||
	    syscall(SYS_setresgid, 1000, 1000, 1000) < 0 || syscall(SYS_setresuid, 1000, 1000, 1000) < 0) {
		printf("keep: %s\n", errname(errno));
		exit(1);
	}
	struct caphdr h = {0x20080522, 0};
	struct capdata d[2] = {{mask, mask, 0}, {0, 0, 0}};
	if (syscall(SYS_capset, &h, d) < 0) {
		printf("capset: %s\n", errname(errno));
		exit(1);
	}
}

// part runs f in a child, after the tree is made afresh.
static void part(const char *name, void (*f)(void))
{
	printf("%s\n", name);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		f();
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("  child status %#x\n", status);
}

// procSelf prints what the process's own /proc files show and allow: a
// process that changed its ids is not dumpable, and its files that others
// may not read are root's.
static void procSelf(void)
{
	printf("  PR_GET_DUMPABLE %ld\n", (long)syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0));
	mode("/proc/self/");
	mode("/proc/self/status");
	mode("/proc/self/environ");
	mode("/proc/self/comm");
	mode("/proc/self/fd/");
	openRes("open /proc/self/environ", "/proc/self/environ", O_RDONLY);
	openRes("open /proc/self/status", "/proc/self/status", O_RDONLY);
	openRes("open /proc/self/comm", "/proc/self/comm", O_RDONLY);
}

static void opens(void)
{
	become();
	openRes("open f644 O_RDONLY", "/tmp/p/d755/f644", O_RDONLY);
	openRes("open f644 O_WRONLY", "/tmp/p/d755/f644", O_WRONLY);
	openRes("open f644 O_RDONLY|O_TRUNC", "/tmp/p/d755/f644", O_RDONLY | O_TRUNC);
	openRes("open f600 O_RDONLY", "/tmp/p/d755/f600", O_RDONLY);
	openRes("open f666 O_RDWR", "/tmp/p/d755/f666", O_RDWR);
	openRes("open f000 O_RDONLY", "/tmp/p/d755/f000", O_RDONLY);
	openRes("open f000 O_PATH", "/tmp/p/d755/f000", O_PATH);
	openRes("open g1000 (group r) O_RDONLY", "/tmp/p/d755/g1000", O_RDONLY);
	openRes("open g3000 (suppl. group, -r) O_RDONLY", "/tmp/p/d755/g3000", O_RDONLY);
	openRes("open g3000 O_WRONLY", "/tmp/p/d755/g3000", O_WRONLY);
	openRes("open g2000 (other r) O_RDONLY", "/tmp/p/d755/g2000", O_RDONLY);
	openRes("open mine O_RDWR", "/tmp/p/d755/mine", O_RDWR);
	openRes("open f644 O_RDONLY|O_NOATIME", "/tmp/p/d755/f644", O_RDONLY | O_NOATIME);
	openRes("open mine O_RDONLY|O_NOATIME", "/tmp/p/d755/mine", O_RDONLY | O_NOATIME);
	openRes("open d700/inner", "/tmp/p/d700/inner", O_RDONLY);
	openRes("open d700 O_RDONLY", "/tmp/p/d700", O_RDONLY | O_DIRECTORY);
	openRes("open d711/inner", "/tmp/p/d711/inner", O_RDONLY);
	openRes("open d711 O_RDONLY (list)", "/tmp/p/d711", O_RDONLY | O_DIRECTORY);
	openRes("open d711 O_PATH", "/tmp/p/d711", O_PATH);
	openRes("open d700/missing", "/tmp/p/d700/missing", O_RDONLY);
	openRes("open d700/../d755/f644", "/tmp/p/d700/../d755/f644", O_RDONLY);
	openRes("creat in d755", "/tmp/p/d755/new", O_WRONLY | O_CREAT);
	openRes("creat in d777", "/tmp/p/d777/new", O_WRONLY | O_CREAT);
	openRes("creat O_EXCL in d777", "/tmp/p/d777/new0", O_RDWR | O_CREAT | O_EXCL);
	openRes("O_CREAT of existing f644 in d755", "/tmp/p/d755/f644", O_RDONLY | O_CREAT);
	openRes("O_TMPFILE in d755", "/tmp/p/d755", O_RDWR | O_TMPFILE);
	openRes("O_TMPFILE in d777", "/tmp/p/d777", O_RDWR | O_TMPFILE);
	mode("/tmp/p/d777/new");
	struct stat st;
	res("stat d700/inner", stat("/tmp/p/d700/inner", &st));
	res("stat d700", stat("/tmp/p/d700", &st));
	res("stat d711/inner", stat("/tmp/p/d711/inner", &st));
	char buf[64];
	res("readlink d700/x", readlink("/tmp/p/d700/x", buf, sizeof buf));
	res("chdir d700", chdir("/tmp/p/d700"));
	res("chdir d711", chdir("/tmp/p/d711"));
	openRes("open inner (relative)", "inner", O_RDONLY);
	res("chdir /tmp/p", chdir("/tmp/p"));
	procSelf();
	openRes("open /proc/self/fd (list)", "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	openRes("open /proc/self/fdinfo/0", "/proc/self/fdinfo/0", O_RDONLY);
	DIR *d = opendir("/tmp/p/d755");
	int count = 0;
	while (d && readdir(d))
		count++;
	printf("  list d755: %d entries\n", count);
	if (d)
		closedir(d);
}

static void names(void)
{
	become();
	res("mkdir in d755", mkdir("/tmp/p/d755/x", 0755));
	res("mkdir existing in d755", mkdir("/tmp/p/d755/sub", 0755));
	res("mkdir in d700 (no search)", mkdir("/tmp/p/d700/x", 0755));
	res("mkdir in d777", mkdir("/tmp/p/d777/x", 0755));
	mode("/tmp/p/d777/x");
	res("mknod fifo in d755", mknod("/tmp/p/d755/fifo", S_IFIFO | 0644, 0));
	res("mknod fifo in d777", mknod("/tmp/p/d777/fifo", S_IFIFO | 0644, 0));
	res("symlink in d755", symlink("f644", "/tmp/p/d755/l"));
	res("symlink in d777", symlink("f644", "/tmp/p/d777/l"));
	res("link own file into d755", link("/tmp/p/d777/mine", "/tmp/p/d755/l2"));
	res("link own file into d777", link("/tmp/p/d777/mine", "/tmp/p/d777/l2"));
	// Root's files: EPERM where the kernel's fs.protected_hardlinks is
	// set, except a file the linker may read and write.
	res("link root's f644 into d777", link("/tmp/p/d755/f644", "/tmp/p/d777/l3"));
	res("link root's f666 into d777", link("/tmp/p/d755/f666", "/tmp/p/d777/l4"));
	res("unlink d755/f644", unlink("/tmp/p/d755/f644"));
	res("unlink d755/missing", unlink("/tmp/p/d755/missing"));
	res("unlink d755/sub", unlink("/tmp/p/d755/sub"));
	res("unlink d755/f644/ (slash)", unlink("/tmp/p/d755/f644/"));
	res("unlink d777/rootfile", unlink("/tmp/p/d777/rootfile"));
	res("unlink d700/inner", unlink("/tmp/p/d700/inner"));
	res("unlink d1777/rootfile (sticky)", unlink("/tmp/p/d1777/rootfile"));
	res("unlink d1777/file2000 (sticky)", unlink("/tmp/p/d1777/file2000"));
	res("unlink d1777/file1000 (own)", unlink("/tmp/p/d1777/file1000"));
	res("rmdir d755/sub", rmdir("/tmp/p/d755/sub"));
	res("rmdir d1777/dir2000 (sticky)", rmdir("/tmp/p/d1777/dir2000"));
	res("rmdir d777/dir1000", rmdir("/tmp/p/d777/dir1000"));
	res("rename d1777/file2000 (sticky)", rename("/tmp/p/d1777/file2000", "/tmp/p/d1777/y"));
	res("rename d777/mine into d755", rename("/tmp/p/d777/mine", "/tmp/p/d755/y"));
	res("rename d777/mine over d1777/rootfile", rename("/tmp/p/d777/mine", "/tmp/p/d1777/rootfile"));
	res("rename d777/dir2000 into d777/to", rename("/tmp/p/d777/dir2000", "/tmp/p/d777/to/dir2000"));
	res("rename d777/dir2000 in d777", rename("/tmp/p/d777/dir2000", "/tmp/p/d777/renamed"));
	res("rename d777/x (own dir) into d777/to", rename("/tmp/p/d777/x", "/tmp/p/d777/to/x"));
	res("rename d777/mine over d777/to (dir)", rename("/tmp/p/d777/mine", "/tmp/p/d777/to"));
	res("rename d777/mine d777/m", rename("/tmp/p/d777/mine", "/tmp/p/d777/m"));
	mode("/tmp/p/d777/m");
}

static void attrs(void)
{
	become();
	res("chmod f644 (root's)", chmod("/tmp/p/d755/f644", 0666));
	res("chmod mine 0640", chmod("/tmp/p/d755/mine", 0640));
	res("chmod mine2000 02750 (group not mine)", chmod("/tmp/p/d755/mine2000", 02750));
	mode("/tmp/p/d755/mine2000");
	res("chmod mine 02750 (own group)", chmod("/tmp/p/d755/mine", 02750));
	mode("/tmp/p/d755/mine");
	res("chown mine uid 2000", chown("/tmp/p/d755/mine", 2000, -1));
	res("chown mine uid 1000 (itself)", chown("/tmp/p/d755/mine", 1000, -1));
	res("chown mine gid 3000 (suppl.)", chown("/tmp/p/d755/mine", -1, 3000));
	mode("/tmp/p/d755/mine");
	res("chown mine gid 4000", chown("/tmp/p/d755/mine", -1, 4000));
	res("chown f644 gid 1000 (root's)", chown("/tmp/p/d755/f644", -1, 1000));
	res("chown suid -1 -1", chown("/tmp/p/d755/suid", -1, -1));
	mode("/tmp/p/d755/suid");
	res("chown sgid gid 3000", chown("/tmp/p/d755/sgid", -1, 3000));
	mode("/tmp/p/d755/sgid");
	struct timespec ts[2] = {{1000, 0}, {2000, 0}};
	struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	struct timespec half[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
	res("utimensat NULL f666 (writable)", utimensat(AT_FDCWD, "/tmp/p/d755/f666", NULL, 0));
	res("utimensat NULL f644", utimensat(AT_FDCWD, "/tmp/p/d755/f644", NULL, 0));
	res("utimensat NOW,NOW f666", utimensat(AT_FDCWD, "/tmp/p/d755/f666", now, 0));
	res("utimensat NOW,OMIT f666", utimensat(AT_FDCWD, "/tmp/p/d755/f666", half, 0));
	res("utimensat times f666", utimensat(AT_FDCWD, "/tmp/p/d755/f666", ts, 0));
	res("utimensat times mine", utimensat(AT_FDCWD, "/tmp/p/d755/mine", ts, 0));
	res("truncate f644", truncate("/tmp/p/d755/f644", 1));
	res("truncate f666", truncate("/tmp/p/d755/f666", 1));
	res("truncate d700/inner", truncate("/tmp/p/d700/inner", 1));
	res("chmod suid 06775", chmod("/tmp/p/d755/suid", 06775));
	res("truncate suid (own)", truncate("/tmp/p/d755/suid", 1));
	mode("/tmp/p/d755/suid");
	res("chmod suid 06755", chmod("/tmp/p/d755/suid", 06755));
	openRes("open suid O_WRONLY|O_TRUNC", "/tmp/p/d755/suid", O_WRONLY | O_TRUNC);
	mode("/tmp/p/d755/suid");
	res("chmod suid 06775 again", chmod("/tmp/p/d755/suid", 06775));
	int fd = open("/tmp/p/d755/suid", O_RDWR);
	res("write 0 bytes to suid", write(fd, "", 0));
	mode("/tmp/p/d755/suid");
	res("write suid", write(fd, "x", 1));
	mode("/tmp/p/d755/suid");
	close(fd);
	fd = open("/tmp/p/d755/sgid", O_RDWR);
	res("chmod sgid 02755", chmod("/tmp/p/d755/sgid", 02755));
	res("ftruncate sgid", ftruncate(fd, 0));
	close(fd);
	mode("/tmp/p/d755/sgid");
	res("mkdir in setgid dir", mkdir("/tmp/p/sgid/d", 0755));
	mode("/tmp/p/sgid/d");
	openRes("creat in setgid dir", "/tmp/p/sgid/f", O_CREAT | O_WRONLY);
	res("chmod it 02755", chmod("/tmp/p/sgid/f", 02755));
	mode("/tmp/p/sgid/f");
}

// accessAll prints access's answers for each mode on path.
static void accessAll(const char *name, const char *path, int flags)
{
	static const char *modes[] = {"F_OK", "X_OK", "W_OK", "W_OK|X_OK", "R_OK", "R_OK|X_OK", "R_OK|W_OK", "R_OK|W_OK|X_OK"};
	printf("  access %-20s", name);
	for (int m = 0; m < 8; m++) {
		long r = syscall(SYS_faccessat2, AT_FDCWD, path, m, flags);
		printf(" %s=%s", modes[m], r < 0 ? errname(errno) : "ok");
	}
	printf("\n");
}

static void accessAsRoot(void)
{
	procSelf();
	accessAll("f644", "/tmp/p/d755/f644", 0);
	accessAll("f000", "/tmp/p/d755/f000", 0);
	accessAll("x744", "/tmp/p/d755/x744", 0);
	accessAll("d700", "/tmp/p/d700", 0);
	accessAll("/proc/self/status", "/proc/self/status", 0);
}

static void accessAs1000(void)
{
	become();
	accessAll("f644", "/tmp/p/d755/f644", 0);
	accessAll("f600", "/tmp/p/d755/f600", 0);
	accessAll("g3000", "/tmp/p/d755/g3000", 0);
	accessAll("x744", "/tmp/p/d755/x744", 0);
	accessAll("mine", "/tmp/p/d755/mine", 0);
	accessAll("d711", "/tmp/p/d711", 0);
	accessAll("d700/inner", "/tmp/p/d700/inner", 0);
	accessAll("/dev/null", "/dev/null", 0);
	accessAll("/proc/self/status", "/proc/self/status", 0);
}

// accessReal has real uid 1000 and effective uid 0: access answers as
// the real user, faccessat2 with AT_EACCESS as the effective one.
static void accessReal(void)
{
	if (syscall(SYS_setresgid, 1000, 0, 0) < 0 || syscall(SYS_setresuid, 1000, 0, 0) < 0) {
		printf("setresuid: %s\n", errname(errno));
		return;
	}
	accessAll("f600", "/tmp/p/d755/f600", 0);
	accessAll("f600 AT_EACCESS", "/tmp/p/d755/f600", AT_EACCESS);
	accessAll("d700/inner", "/tmp/p/d700/inner", 0);
	accessAll("d700/inner AT_EACCESS", "/tmp/p/d700/inner", AT_EACCESS);
	accessAll("f644", "/tmp/p/d755/f644", 0);
	openRes("open f600 O_RDWR", "/tmp/p/d755/f600", O_RDWR);
	procSelf();
	char *argv[] = {"prog", "child", NULL};
	char *envp[] = {NULL};
	syscall(SYS_execve, "/tmp/p/d755/prog", argv, envp);
	res("execve prog", -1);
}

// accessFsuid changes only the fsuid: the checks follow it, the
// capabilities of the file system leave with it.
static void accessFsuid(void)
{
	syscall(SYS_setfsuid, 1000);
	openRes("fsuid 1000: open f600", "/tmp/p/d755/f600", O_RDONLY);
	openRes("fsuid 1000: open mine", "/tmp/p/d755/mine", O_RDWR);
	openRes("fsuid 1000: open d700/inner", "/tmp/p/d700/inner", O_RDONLY);
	res("fsuid 1000: mkdir in d777", mkdir("/tmp/p/d777/fsdir", 0700));
	mode("/tmp/p/d777/fsdir");
	res("fsuid 1000: kill(1, 0) still root", kill(getppid(), 0));
	syscall(SYS_setfsuid, 0);
	openRes("fsuid 0 again: open f600", "/tmp/p/d755/f600", O_RDONLY);
}

static void capsReadSearch(void)
{
	keep(1 << CAP_DAC_READ_SEARCH | 1 << CAP_FOWNER);
	openRes("open f600 O_RDONLY", "/tmp/p/d755/f600", O_RDONLY);
	openRes("open f600 O_RDWR", "/tmp/p/d755/f600", O_RDWR);
	openRes("open d700/inner", "/tmp/p/d700/inner", O_RDONLY);
	openRes("open d700 (list)", "/tmp/p/d700", O_RDONLY | O_DIRECTORY);
	res("mkdir in d755", mkdir("/tmp/p/d755/x", 0755));
	res("unlink d1777/rootfile (sticky, FOWNER)", unlink("/tmp/p/d1777/rootfile"));
	res("chmod f644 (FOWNER)", chmod("/tmp/p/d755/f644", 0664));
	res("utimensat times f644 (FOWNER)", utimensat(AT_FDCWD, "/tmp/p/d755/f644", (struct timespec[2]){{1, 0}, {2, 0}}, 0));
	res("chown f644 gid 1000", chown("/tmp/p/d755/f644", -1, 1000));
	res("chmod mine2000 02750 (no FSETID)", chmod("/tmp/p/d755/mine2000", 02750));
	mode("/tmp/p/d755/mine2000");
	accessAll("f600 AT_EACCESS", "/tmp/p/d755/f600", AT_EACCESS);
	accessAll("x744 AT_EACCESS", "/tmp/p/d755/x744", AT_EACCESS);
}

static void capsOverride(void)
{
	keep(1 << CAP_DAC_OVERRIDE | 1 << CAP_CHOWN | 1 << CAP_FSETID);
	openRes("open f600 O_RDWR", "/tmp/p/d755/f600", O_RDWR);
	openRes("open d700/inner O_RDWR", "/tmp/p/d700/inner", O_RDWR);
	res("mkdir in d755", mkdir("/tmp/p/d755/x", 0755));
	res("unlink d1777/rootfile (sticky)", unlink("/tmp/p/d1777/rootfile"));
	res("unlink d755/f666", unlink("/tmp/p/d755/f666"));
	res("chmod f644 (no FOWNER)", chmod("/tmp/p/d755/f644", 0664));
	res("utimensat NULL f644", utimensat(AT_FDCWD, "/tmp/p/d755/f644", NULL, 0));
	res("utimensat times f644", utimensat(AT_FDCWD, "/tmp/p/d755/f644", (struct timespec[2]){{1, 0}, {2, 0}}, 0));
	res("chown f644 1000:2000 (CHOWN)", chown("/tmp/p/d755/f644", 1000, 2000));
	mode("/tmp/p/d755/f644");
	res("chown rootsuid 1000:1000 (CHOWN)", chown("/tmp/p/d755/rootsuid", 1000, 1000));
	mode("/tmp/p/d755/rootsuid");
	res("chmod mine2000 02750 (FSETID)", chmod("/tmp/p/d755/mine2000", 02750));
	mode("/tmp/p/d755/mine2000");
	res("truncate suid (FSETID)", truncate("/tmp/p/d755/suid", 0));
	mode("/tmp/p/d755/suid");
	int fd = open("/tmp/p/d755/suid", O_WRONLY);
	res("pwrite suid (FSETID)", pwrite(fd, "x", 1, 0));
	close(fd);
	mode("/tmp/p/d755/suid");
	res("chmod mine2000 02770", chmod("/tmp/p/d755/mine2000", 02770));
	fd = open("/tmp/p/d755/mine2000", O_WRONLY);
	res("pwrite mine2000 (FSETID)", pwrite(fd, "x", 1, 0));
	close(fd);
	mode("/tmp/p/d755/mine2000");
	accessAll("x744 AT_EACCESS", "/tmp/p/d755/x744", AT_EACCESS);
	accessAll("f644 AT_EACCESS", "/tmp/p/d755/f644", AT_EACCESS);
	char *argv[] = {"prog", "child", NULL};
	char *envp[] = {NULL};
	fflush(stdout);
	syscall(SYS_execve, "/tmp/p/d755/f644", argv, envp);
	res("execve f644 (no x bit)", -1);
}

static void execs(void)
{
	become();
	char *argv[] = {"prog", "child", NULL};
	char *envp[] = {NULL};
	fflush(stdout);
	syscall(SYS_execve, "/tmp/p/d755/x744", argv, envp);
	res("execve x744", -1);
	syscall(SYS_execve, "/tmp/p/d755/prog700", argv, envp);
	res("execve prog700", -1);
	syscall(SYS_execve, "/tmp/p/d700/inner", argv, envp);
	res("execve d700/inner", -1);
	syscall(SYS_execve, "/tmp/p/d755/prog", argv, envp);
	res("execve prog", -1);
}

static void removeTree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char sub[512];
			snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			struct stat st;
			if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
				removeTree(sub);
			else
				unlink(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		printf("  exec'd as uid %d euid %d\n", (int)getuid(), (int)geteuid());
		procSelf();
		return 0;
	}
	self = argv[0];
	umask(0);
	static const struct {
		const char *name;
		void (*f)(void);
	} parts[] = {
		{"opens and searches as 1000", opens},
		{"names as 1000", names},
		{"attributes as 1000", attrs},
		{"access as root", accessAsRoot},
		{"access as 1000", accessAs1000},
		{"access as real 1000, effective root", accessReal},
		{"fsuid 1000", accessFsuid},
		{"DAC_READ_SEARCH and FOWNER kept", capsReadSearch},
		{"DAC_OVERRIDE, CHOWN and FSETID kept", capsOverride},
		{"exec as 1000", execs},
	};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		removeTree("/tmp/p");
		setup();
		part(parts[i].name, parts[i].f);
	}
	removeTree("/tmp/p");
	return 0;
}
