/*
 * fsnames: the calls that change names or metadata (unlink, rmdir, mkdir,
 * mknod, link, symlink, rename, chmod, chown, truncate, utimensat, creat)
 * and the syncs, each in a case whose answer does not depend on whether
 * the file system takes writes (a missing directory, an existing name,
 * "." or "..", a bad flag), so that it is the same natively, in the
 * directory the test prepares (argv[1], files.c's), and under mmvm, which
 * shows that directory read-only. Nothing here changes the directory.
 * Then /dev/stdout, /dev/stderr, /dev/stdin and /dev/fd, through which a
 * program opens its own stdio by name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EPERM: return "EPERM";
	case EBADF: return "EBADF";
	case EFAULT: return "EFAULT";
	case EROFS: return "EROFS";
	case ENOSYS: return "ENOSYS";
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

static char dir[4096];

/* at is argv[1]/name. */
static const char *at(const char *name)
{
	static char bufs[2][4096 + 64];
	static int i;
	i ^= 1;
	snprintf(bufs[i], sizeof bufs[i], "%s/%s", dir, name);
	return bufs[i];
}

/* show prints a call's answer: its errno name, or ok. */
static void show(const char *what, long r)
{
	printf("%-44s %s\n", what, r < 0 ? errname(errno) : "ok");
	errno = 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fsnames DIR\n");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);

	show("unlink nodir/x", unlink(at("nodir/x")));
	show("unlink data.txt/x", unlink(at("data.txt/x")));
	show("unlink sub/.", unlink(at("sub/.")));
	show("unlink sub/..", unlink(at("sub/..")));
	show("unlink empty", unlink(""));
	show("unlinkat bad flag", unlinkat(AT_FDCWD, at("data.txt"), 0x1));
	show("unlinkat AT_REMOVEDIR sub/.", unlinkat(AT_FDCWD, at("sub/."), AT_REMOVEDIR));
	show("rmdir sub/.", rmdir(at("sub/.")));
	show("rmdir sub/..", rmdir(at("sub/..")));
	show("rmdir /", rmdir("/"));
	show("rmdir nodir/x", rmdir(at("nodir/x")));
	show("mkdir sub", mkdir(at("sub"), 0755));
	show("mkdir data.txt", mkdir(at("data.txt"), 0755));
	show("mkdir sub/.", mkdir(at("sub/."), 0755));
	show("mkdir link (dangling or not, it exists)", mkdir(at("link"), 0755));
	show("mkdir nodir/x", mkdir(at("nodir/x"), 0755));
	show("mkdirat bad dirfd, relative", mkdirat(99, "x", 0755));
	show("mkdirat file dirfd, relative", syscall(SYS_mkdirat, 0, "x", 0755));
	show("mknod new S_IFDIR", mknod(at("new"), S_IFDIR | 0755, 0));
	show("mknod new bad type", syscall(SYS_mknod, at("new"), 0170000, 0));
	show("mknod data.txt", mknod(at("data.txt"), S_IFREG | 0644, 0));
	show("symlink x data.txt", symlink("x", at("data.txt")));
	show("symlink empty target", symlink("", at("new")));
	show("symlink x sub/..", symlink("x", at("sub/..")));
	show("link nodir/x new", link(at("nodir/x"), at("new")));
	show("link data.txt sub", link(at("data.txt"), at("sub")));
	show("linkat bad flag", linkat(AT_FDCWD, at("data.txt"), AT_FDCWD, at("new"), 0x2));
	show("rename sub/. new", rename(at("sub/."), at("new")));
	show("rename data.txt sub/..", rename(at("data.txt"), at("sub/..")));
	show("rename nodir/a new", rename(at("nodir/a"), at("new")));
	show("rename data.txt nodir/b", rename(at("data.txt"), at("nodir/b")));
	show("renameat2 NOREPLACE|EXCHANGE", syscall(SYS_renameat2, AT_FDCWD, at("data.txt"), AT_FDCWD, at("new"), 3));
	show("renameat2 unknown flag", syscall(SYS_renameat2, AT_FDCWD, at("data.txt"), AT_FDCWD, at("new"), 8));
	show("renameat2 NOREPLACE data.txt sub/..", syscall(SYS_renameat2, AT_FDCWD, at("data.txt"), AT_FDCWD, at("sub/.."), 1));
	show("chmod nodir", chmod(at("nodir"), 0644));
	show("chmod data.txt/x", chmod(at("data.txt/x"), 0644));
	show("chown nodir", chown(at("nodir"), 0, 0));
	show("lchown nodir", lchown(at("nodir"), 0, 0));
	show("fchownat bad flag", syscall(SYS_fchownat, AT_FDCWD, at("data.txt"), 0, 0, 0x2));
	show("truncate nodir", truncate(at("nodir"), 0));
	show("truncate sub", truncate(at("sub"), 0));
	show("truncate data.txt -1", syscall(SYS_truncate, at("data.txt"), -1L));
	show("truncate /dev/null", truncate("/dev/null", 0));
	show("utimensat nodir", utimensat(AT_FDCWD, at("nodir"), NULL, 0));
	struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
	show("utimensat bad nsec", utimensat(AT_FDCWD, at("data.txt"), bad, 0));
	struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
	show("utimensat nodir, both UTIME_OMIT", syscall(SYS_utimensat, AT_FDCWD, at("nodir"), omit, 0));
	show("utimensat bad flag", utimensat(AT_FDCWD, at("data.txt"), NULL, 0x2));
	show("utimensat NULL path, AT_FDCWD", syscall(SYS_utimensat, AT_FDCWD, NULL, NULL, 0));
	show("utimensat NULL path, flags", syscall(SYS_utimensat, 1, NULL, NULL, AT_SYMLINK_NOFOLLOW));
	struct timeval badtv[2] = {{0, 1000000}, {0, 0}};
	show("utimes bad usec", utimes(at("data.txt"), badtv));
	show("utimes nodir", utimes(at("nodir"), NULL));
	show("creat nodir/x", syscall(SYS_creat, at("nodir/x"), 0644));
	show("creat sub", syscall(SYS_creat, at("sub"), 0644));

	int p[2];
	if (pipe(p))
		return 1;
	int data = open(at("data.txt"), O_RDONLY);
	int null = open("/dev/null", O_RDWR);
	int path = open(at("data.txt"), O_PATH);
	show("fsync pipe", fsync(p[1]));
	show("fdatasync pipe", fdatasync(p[0]));
	show("fsync bad fd", fsync(99));
	show("fsync /dev/null", fsync(null));
	show("fsync O_PATH", fsync(path));
	show("fsync data.txt", fsync(data));
	show("fdatasync data.txt", fdatasync(data));
	show("fsync dir", fsync(open(dir, O_RDONLY | O_DIRECTORY)));
	show("syncfs bad fd", syscall(SYS_syncfs, 99));
	sync();
	show("fchmod pipe", fchmod(p[0], 0600));
	show("fchmod bad fd", fchmod(99, 0600));
	show("fchmod O_PATH", syscall(SYS_fchmod, path, 0600));
	show("fchown bad fd", fchown(99, 0, 0));

	/* /dev's links to the program's own stdio. */
	char target[64];
	const char *links[] = {"/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/fd"};
	for (unsigned i = 0; i < sizeof links / sizeof *links; i++) {
		ssize_t n = readlink(links[i], target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		struct stat st;
		int r = lstat(links[i], &st);
		printf("%s -> %s (%s), lstat %s link %d\n", links[i], target, n < 0 ? errname(errno) : "ok",
		       r ? errname(errno) : "ok", !r && S_ISLNK(st.st_mode));
	}
	fflush(stdout);
	int out = open("/dev/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	show("open /dev/stdout O_CREAT|O_TRUNC", out);
	if (out >= 0 && write(out, "written to /dev/stdout\n", 23) != 23)
		return 1;
	int fd1 = open("/dev/fd/1", O_WRONLY);
	show("open /dev/fd/1", fd1);
	if (fd1 >= 0 && write(fd1, "written to /dev/fd/1\n", 21) != 21)
		return 1;
	FILE *f = fopen("/dev/stdout", "w");
	if (!f) {
		printf("fopen /dev/stdout: %s\n", errname(errno));
		return 1;
	}
	fprintf(f, "fprintf to fopen(\"/dev/stdout\")\n");
	fclose(f);
	show("open /dev/stdin", open("/dev/stdin", O_RDONLY));
	show("open /dev/fd/99", open("/dev/fd/99", O_RDONLY));
	return 0;
}
