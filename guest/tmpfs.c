/*
 * tmpfs: a program's use of /tmp and /dev/shm, which Linux mounts as tmpfs
 * and mmvm gives the guest as its own. The test runs it natively with a
 * fresh tmpfs on each (a private mount namespace), so both runs start from
 * empty directories: files made, written, read, truncated and mapped;
 * directories made, listed (newest entry first, as 6.18's tmpfs lists
 * them), renamed and removed; links, modes, owners and times; an unlinked
 * file still open; O_TMPFILE; mkstemp and shm_open; statfs; and exec of a
 * copy of this program from /tmp. Each step prints what it got, errors by
 * name, so that the two runs can be compared line by line.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#define RENAME_EXCHANGE 2
#endif

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
	case EBUSY: return "EBUSY";
	case EBADF: return "EBADF";
	case ENXIO: return "ENXIO";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

static void res(const char *what, long r)
{
	printf("%s: %s\n", what, r < 0 ? errname(errno) : "ok");
}

static void st(const char *p)
{
	struct stat s;
	if (lstat(p, &s) < 0) {
		printf("stat %s: %s\n", p, errname(errno));
		return;
	}
	printf("stat %s: mode %o nlink %lu uid %u gid %u size %ld blocks %ld blksize %ld\n", p, s.st_mode,
	       (unsigned long)s.st_nlink, s.st_uid, s.st_gid, (long)s.st_size, (long)s.st_blocks, (long)s.st_blksize);
}

static void ls(const char *p)
{
	DIR *d = opendir(p);
	if (!d) {
		printf("ls %s: %s\n", p, errname(errno));
		return;
	}
	printf("ls %s:", p);
	struct dirent *e;
	while ((e = readdir(d)))
		printf(" %s(%d)", e->d_name, e->d_type);
	printf("\n");
	closedir(d);
}

static void cat(const char *p)
{
	char buf[256];
	int fd = open(p, O_RDONLY);
	if (fd < 0) {
		printf("cat %s: %s\n", p, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = 0;
	printf("cat %s: %zd %s\n", p, n, buf);
}

static void put(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		printf("put %s: %s\n", p, errname(errno));
	if (fd >= 0)
		close(fd);
}

static void files(void)
{
	res("mkdir /tmp/w", mkdir("/tmp/w", 0777));
	res("chdir", chdir("/tmp/w"));
	int fd = open("a", O_RDWR | O_CREAT | O_EXCL, 0666);
	res("create a", fd);
	res("create a again O_EXCL", open("a", O_RDWR | O_CREAT | O_EXCL, 0666));
	printf("write: %zd\n", write(fd, "hello, tmpfs\n", 13));
	printf("lseek end: %ld\n", (long)lseek(fd, 0, SEEK_END));
	printf("pwrite at 8192: %zd\n", pwrite(fd, "far", 3, 8192));
	st("a");
	char buf[32] = {0};
	printf("pread: %zd %s", pread(fd, buf, 13, 0), buf);
	res("ftruncate 5", ftruncate(fd, 5));
	st("a");
	close(fd);
	cat("a");
	fd = open("a", O_WRONLY | O_APPEND);
	printf("append: %zd\n", write(fd, "!!", 2));
	close(fd);
	cat("a");
	fd = open("a", O_RDONLY | O_TRUNC);
	close(fd);
	st("a");
	res("truncate a 100", truncate("a", 100));
	st("a");
	res("open new/ O_CREAT", open("nodir/", O_RDWR | O_CREAT, 0644));
	res("open missing/x O_CREAT", open("missing/x", O_RDWR | O_CREAT, 0644));
	char longname[300];
	memset(longname, 'n', 299);
	longname[299] = 0;
	res("create a long name", open(longname, O_RDWR | O_CREAT, 0644));
	res("access /tmp W_OK", access("/tmp", W_OK));
	res("access a W_OK", access("a", W_OK));
	res("access a X_OK", access("a", X_OK));
}

static void dirs(void)
{
	res("mkdir d", mkdir("d", 0750));
	res("mkdir d again", mkdir("d", 0750));
	res("mkdir d/e/f", mkdir("d/e/f", 0755));
	res("mkdir d/e", mkdir("d/e", 0755));
	put("d/e/x", "x");
	put("d/one", "1");
	put("d/two", "2");
	put("d/three", "3");
	res("unlink d/two", unlink("d/two"));
	put("d/two", "2 again");
	ls("d");
	st("d");
	st("d/e");
	res("rmdir d", rmdir("d"));
	res("rmdir d/one", rmdir("d/one"));
	res("unlink d", unlink("d"));
	res("unlink d/one/", unlink("d/one/"));
	res("unlink d/missing", unlink("d/missing"));
	res("rmdir d/.", rmdir("d/."));
	res("rmdir d/e/x/", rmdir("d/e/x/"));
	/* renames */
	res("rename one -> uno", rename("d/one", "d/uno"));
	res("rename uno -> two (replace)", rename("d/uno", "d/two"));
	cat("d/two");
	res("rename e -> three (dir over file)", rename("d/e", "d/three"));
	res("rename three -> e (file over dir)", rename("d/three", "d/e"));
	res("mkdir d/empty", mkdir("d/empty", 0755));
	res("rename e -> empty (dir over empty dir)", rename("d/e", "d/empty"));
	res("mkdir d/e2", mkdir("d/e2", 0755));
	put("d/e2/y", "y");
	res("rename empty -> e2 (over non-empty)", rename("d/empty", "d/e2"));
	res("rename d -> d/e2/sub (beneath itself)", rename("d", "d/e2/sub"));
	res("rename d/e2 -> d (onto an ancestor)", rename("d/e2", "d"));
	res("renameat2 NOREPLACE", syscall(SYS_renameat2, AT_FDCWD, "d/two", AT_FDCWD, "d/three", RENAME_NOREPLACE));
	res("renameat2 EXCHANGE", syscall(SYS_renameat2, AT_FDCWD, "d/two", AT_FDCWD, "d/e2", RENAME_EXCHANGE));
	st("d/two");
	st("d/e2");
	res("renameat2 EXCHANGE missing", syscall(SYS_renameat2, AT_FDCWD, "d/two", AT_FDCWD, "d/nothing", RENAME_EXCHANGE));
	res("rename to /", rename("d/three", "/three"));
	res("rename to /dev/shm", rename("d/three", "/dev/shm/three"));
	ls("d");
	ls("d/two");
}

static void links(void)
{
	put("f", "file");
	res("link f g", link("f", "g"));
	res("link f g again", link("f", "g"));
	res("link d h (a directory)", link("d", "h"));
	res("link to /dev/shm", link("f", "/dev/shm/f"));
	st("f");
	struct stat a, b;
	stat("f", &a);
	stat("g", &b);
	printf("same inode: %d\n", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	res("symlink", symlink("f", "s"));
	res("symlink again", symlink("f", "s"));
	res("symlink dangling", symlink("nothing/here", "dl"));
	char buf[64] = {0};
	printf("readlink s: %zd %s\n", readlink("s", buf, sizeof buf), buf);
	st("s");
	cat("s");
	cat("dl");
	res("open dl O_CREAT", open("dl", O_RDWR | O_CREAT, 0644));
	res("symlink dl2 -> made", symlink("made", "dl2"));
	int made = open("dl2", O_WRONLY | O_CREAT, 0640);
	res("open dl2 O_CREAT", made);
	res("read of an O_WRONLY fd", read(made, buf, 1));
	close(made);
	st("made");
	res("open dl2 O_CREAT|O_EXCL", open("dl2", O_WRONLY | O_CREAT | O_EXCL, 0640));
	res("unlink dl2", unlink("dl2"));
	res("unlink made", unlink("made"));
	res("unlink f", unlink("f"));
	st("g");
	cat("s");
	/* chmod, chown, times */
	res("chmod g 4751", chmod("g", 04751));
	st("g");
	res("chown g 12 34", chown("g", 12, 34));
	st("g");
	res("lchown s 5 6", lchown("s", 5, 6));
	st("s");
	struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
	res("utimensat g", utimensat(AT_FDCWD, "g", ts, 0));
	struct stat t;
	stat("g", &t);
	printf("times: %ld.%ld %ld.%ld\n", (long)t.st_atim.tv_sec, t.st_atim.tv_nsec, (long)t.st_mtim.tv_sec, t.st_mtim.tv_nsec);
	struct timespec omit[2] = {{0, UTIME_OMIT}, {1300000000, 0}};
	res("utimensat g omit", utimensat(AT_FDCWD, "g", omit, 0));
	stat("g", &t);
	printf("times: %ld.%ld %ld.%ld\n", (long)t.st_atim.tv_sec, t.st_atim.tv_nsec, (long)t.st_mtim.tv_sec, t.st_mtim.tv_nsec);
	int fd = open("g", O_WRONLY);
	res("write g", write(fd, "x", 1));
	fstat(fd, &t);
	printf("write moved mtime: %d\n", t.st_mtim.tv_sec > 1300000000);
	res("fchmod", fchmod(fd, 0600));
	close(fd);
	st("g");
}

static void unlinkedOpen(void)
{
	put("u", "still here");
	int fd = open("u", O_RDWR);
	res("unlink u", unlink("u"));
	struct stat s;
	fstat(fd, &s);
	printf("unlinked nlink %lu size %ld\n", (unsigned long)s.st_nlink, (long)s.st_size);
	char link[64], p[64] = {0};
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	printf("readlink: %zd %s\n", readlink(link, p, sizeof p), p);
	char buf[32] = {0};
	printf("read: %zd %s\n", pread(fd, buf, sizeof buf, 0), buf);
	/* reopen through /proc/self/fd */
	int fd2 = open(link, O_RDONLY);
	memset(buf, 0, sizeof buf);
	printf("reopen read: %zd %s\n", read(fd2, buf, sizeof buf), buf);
	close(fd2);
	close(fd);

	fd = open("/tmp/w", O_TMPFILE | O_RDWR, 0600);
	res("O_TMPFILE", fd);
	write(fd, "anon", 4);
	fstat(fd, &s);
	printf("tmpfile nlink %lu mode %o\n", (unsigned long)s.st_nlink, s.st_mode);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	res("linkat tmpfile", linkat(AT_FDCWD, link, AT_FDCWD, "named", AT_SYMLINK_FOLLOW));
	close(fd);
	cat("named");
}

static void mapped(void)
{
	int fd = open("m", O_RDWR | O_CREAT, 0644);
	ftruncate(fd, 8192);
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("mmap: %s\n", errname(errno));
		return;
	}
	strcpy(p + 4096, "through the map");
	char buf[32] = {0};
	printf("pread after map write: %zd %s\n", pread(fd, buf, 15, 4096), buf);
	pwrite(fd, "THROUGH", 7, 4096);
	printf("map after pwrite: %.15s\n", p + 4096);
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	while (maps && fgets(line, sizeof line, maps))
		if (strstr(line, "/tmp/"))
			printf("maps: %s", strchr(line, '/'));
	if (maps)
		fclose(maps);
	res("rename m -> m2 while mapped", rename("m", "m2"));
	maps = fopen("/proc/self/maps", "r");
	while (maps && fgets(line, sizeof line, maps))
		if (strstr(line, "/tmp/"))
			printf("maps: %s", strchr(line, '/'));
	if (maps)
		fclose(maps);
	munmap(p, 8192);
	close(fd);
	st("m2");
}

static void others(void)
{
	char tmpl[] = "/tmp/w/stXXXXXX";
	int fd = mkstemp(tmpl);
	res("mkstemp", fd);
	printf("mkstemp name length %zu\n", strlen(tmpl));
	struct stat s;
	fstat(fd, &s);
	printf("mkstemp mode %o\n", s.st_mode);
	close(fd);
	res("unlink mkstemp's", unlink(tmpl));
	fd = shm_open("/mmvm-shm", O_RDWR | O_CREAT, 0600);
	res("shm_open", fd);
	ftruncate(fd, 4096);
	close(fd);
	st("/dev/shm/mmvm-shm");
	res("shm_unlink", shm_unlink("/mmvm-shm"));
	ls("/dev/shm");
	struct statfs f;
	statfs("/tmp", &f);
	printf("statfs /tmp: type %lx bsize %ld namelen %ld flags %lx free<=blocks %d\n", (long)f.f_type, (long)f.f_bsize,
	       (long)f.f_namelen, (long)f.f_flags, f.f_bfree <= f.f_blocks);
	statfs("/dev/shm", &f);
	printf("statfs /dev/shm: type %lx\n", (long)f.f_type);
	st("/tmp");
}

static void *fifoWriter(void *arg)
{
	(void)arg;
	int w = open("/tmp/w/fifo", O_WRONLY);
	usleep(100000); /* the reader's open returns meanwhile */
	ssize_t n = write(w, "from a thread", 13);
	printf("thread's write: %zd\n", n);
	close(w);
	return NULL;
}

static void fifos(void)
{
	res("mkfifo", mkfifo("/tmp/w/fifo", 0640));
	res("mkfifo again", mkfifo("/tmp/w/fifo", 0640));
	st("/tmp/w/fifo");
	res("open for writing, O_NONBLOCK, no reader", open("/tmp/w/fifo", O_WRONLY | O_NONBLOCK));
	int r = open("/tmp/w/fifo", O_RDONLY | O_NONBLOCK);
	res("open for reading, O_NONBLOCK", r);
	char buf[64] = {0};
	printf("read with no writer: %zd\n", read(r, buf, sizeof buf));
	close(r);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int w = open("/tmp/w/fifo", O_WRONLY); /* waits for the reader */
		write(w, "through the fifo", 16);
		close(w);
		_exit(0);
	}
	r = open("/tmp/w/fifo", O_RDONLY); /* waits for the writer */
	res("open for reading", r);
	struct stat s;
	fstat(r, &s);
	printf("fstat: mode %o nlink %lu\n", s.st_mode, (unsigned long)s.st_nlink);
	ssize_t n, got = 0;
	while ((n = read(r, buf + got, sizeof buf - 1 - got)) > 0)
		got += n;
	printf("read: %zd %s\n", got, buf);
	close(r);
	int status;
	waitpid(pid, &status, 0);
	/* Two threads of one process open the two ends: each open waits
	 * for the other, and each must get an fd of its own. */
	pthread_t th;
	pthread_create(&th, NULL, fifoWriter, NULL);
	r = open("/tmp/w/fifo", O_RDONLY);
	memset(buf, 0, sizeof buf);
	got = 0;
	while ((n = read(r, buf + got, sizeof buf - 1 - got)) > 0)
		got += n;
	printf("read from a thread: %zd %s\n", got, buf);
	pthread_join(th, NULL);
	close(r);
	int rw = open("/tmp/w/fifo", O_RDWR);
	res("open O_RDWR", rw);
	printf("write to itself: %zd\n", write(rw, "loop", 4));
	memset(buf, 0, sizeof buf);
	printf("read from itself: %zd %s\n", read(rw, buf, sizeof buf), buf);
	close(rw);
	res("unlink fifo", unlink("/tmp/w/fifo"));
}

static void execCopy(const char *self)
{
	int in = open(self, O_RDONLY);
	int out = open("/tmp/w/copy", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		write(out, buf, n);
	close(in);
	close(out);
	char *argv[] = {"copy", "child", NULL};
	char *envp[] = {NULL};
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execve("/tmp/w/copy", argv, envp);
		printf("exec without x bit: %s\n", errname(errno));
		fflush(stdout);
		chmod("/tmp/w/copy", 0755);
		execve("/tmp/w/copy", argv, envp);
		printf("exec: %s\n", errname(errno));
		_exit(1);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child status %d\n", WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		char exe[64] = {0};
		readlink("/proc/self/exe", exe, sizeof exe - 1);
		printf("child runs from tmpfs as %s: exe %s\n", argv[0], exe);
		return 7;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	ls("/tmp");
	files();
	dirs();
	links();
	unlinkedOpen();
	mapped();
	others();
	fifos();
	ls("/tmp/w");
	execCopy("/proc/self/exe");
	return 0;
}
