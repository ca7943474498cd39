/*
 * procfd: /proc/self/fd as Linux serves it, built against musl
 * (procfd-musl) and glibc (procfd-glibc). It opens a pipe, an eventfd, an
 * epoll instance, a memfd, /dev/null, /dev/zero, / O_PATH, the program
 * itself and DIR/data.txt (DIR its first argument, a directory the test
 * shows the guest at the same path), then lists /proc/self/fd, reads and
 * stats each link, and opens files again through their links. What
 * differs between hosts (inode numbers, what stdio is) is printed only as
 * whether it agrees with what fstat and readlink say elsewhere, so every
 * line is the same natively and under mmvm.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char *link_of(int fd) {
	static char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return path;
}

/* readlink_of returns what readlink of fd's link reads, or an error. */
static char *readlink_of(int fd) {
	static char buf[4096];
	ssize_t n = readlink(link_of(fd), buf, sizeof buf - 1);
	if (n < 0)
		snprintf(buf, sizeof buf, "errno %d", errno);
	else
		buf[n] = 0;
	return buf;
}

/* fails prints what a call returned and, if it failed, its errno. */
static void fails(const char *what, int r) {
	int e = errno;
	printf("%s: %d errno %d\n", what, r, r < 0 ? e : 0);
}

/* reopen opens fd's link with flags and prints the errno it fails with. */
static int reopen(const char *what, int fd, int flags) {
	int r = open(link_of(fd), flags);
	if (r < 0)
		printf("reopen %s: errno %d\n", what, errno);
	return r;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: procfd DIR\n");
		return 2;
	}
	int p[2];
	if (pipe(p) != 0)
		return 1;
	int ev = eventfd(0, 0), ep = epoll_create1(0), mfd = memfd_create("procfd", 0);
	int null = open("/dev/null", O_RDWR), zero = open("/dev/zero", O_RDONLY), root = open("/", O_PATH);
	int exe = open("/proc/self/exe", O_RDONLY);
	char data[4096];
	snprintf(data, sizeof data, "%s/data.txt", argv[1]);
	int file = open(data, O_RDONLY);
	printf("fds: %d %d %d %d %d %d %d %d %d %d\n", p[0], p[1], ev, ep, mfd, null, zero, root, exe, file);

	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	printf("/proc/self/fd:");
	while ((e = readdir(d)) != NULL) {
		printf(" %s(%d)", e->d_name, e->d_type);
	}
	printf("\n");
	struct stat st, fst;
	if (stat("/proc/self/fd", &st) == 0)
		printf("stat /proc/self/fd: mode %o\n", st.st_mode); /* its size is 0 before Linux 6.2 */
	closedir(d);

	char exelink[4096];
	ssize_t k = readlink("/proc/self/exe", exelink, sizeof exelink - 1);
	exelink[k > 0 ? k : 0] = 0;
	for (int fd = 0; fd <= file; fd++) {
		char *text = readlink_of(fd);
		char want[64];
		if (fstat(fd, &fst) != 0)
			continue;
		snprintf(want, sizeof want, "pipe:[%lu]", (unsigned long)fst.st_ino);
		if (fd <= 2)
			printf("%d: readlink %s", fd, text[0] == '/' || strncmp(text, "pipe:[", 6) == 0 ? "reads a name" : text);
		else if (fd == p[0] || fd == p[1])
			printf("%d: readlink is pipe:[fstat's inode]: %s", fd, strcmp(text, want) == 0 ? "yes" : text);
		else if (fd == exe)
			printf("%d: readlink is /proc/self/exe's: %s", fd, strcmp(text, exelink) == 0 ? "yes" : text);
		else if (fd == file)
			printf("%d: readlink is DIR/data.txt: %s", fd, strcmp(text, data) == 0 ? "yes" : text);
		else
			printf("%d: readlink %s", fd, text);
		if (lstat(link_of(fd), &st) == 0)
			printf(", lstat %o size %ld nlink %ld", st.st_mode, (long)st.st_size, (long)st.st_nlink);
		if (stat(link_of(fd), &st) == 0)
			printf(", stat is fstat: %s", st.st_mode == fst.st_mode && st.st_ino == fst.st_ino && st.st_dev == fst.st_dev ? "yes" : "no");
		else
			printf(", stat errno %d", errno);
		printf("\n");
	}

	/* fdinfo: the position and flags lines, and an eventfd's count. */
	write(ev, "\2\0\0\0\0\0\0\0", 8);
	int infos[] = {p[0], p[1], ev, mfd, null, file};
	for (unsigned i = 0; i < sizeof infos / sizeof infos[0]; i++) {
		char path[64], text[512];
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", infos[i]);
		int fi = open(path, O_RDONLY);
		ssize_t tn = fi < 0 ? -1 : read(fi, text, sizeof text - 1);
		if (fi >= 0)
			close(fi);
		if (tn < 0) {
			printf("fdinfo/%d: errno %d\n", infos[i], errno);
			continue;
		}
		text[tn] = 0;
		char *mnt = strstr(text, "mnt_id:");
		char *count = strstr(text, "eventfd-count:");
		if (mnt)
			*mnt = 0;
		printf("fdinfo/%d: %s", infos[i], text);
		if (count)
			printf("%.*s\n", (int)strcspn(count, "\n"), count);
	}

	char buf[64] = {0};
	int w = reopen("pipe read end O_WRONLY", p[0], O_WRONLY);
	if (w >= 0) {
		ssize_t wn = write(w, "hi", 2);
		ssize_t rn = read(p[0], buf, sizeof buf);
		printf("write through it: %zd, the pipe reads %zd %s\n", wn, rn, buf);
		close(w);
	}
	int r = reopen("pipe write end O_RDONLY", p[1], O_RDONLY | O_NONBLOCK);
	if (r >= 0) {
		write(p[1], "yo", 2);
		memset(buf, 0, sizeof buf);
		ssize_t rn = read(r, buf, sizeof buf);
		printf("the write end's reopened read end reads %zd %s, flags %o\n", rn, buf, fcntl(r, F_GETFL));
		close(r);
	}
	write(mfd, "abc", 3);
	int m = reopen("memfd", mfd, O_RDWR);
	if (m >= 0) {
		memset(buf, 0, sizeof buf);
		ssize_t rn = read(m, buf, sizeof buf);
		printf("the reopened memfd reads %zd %s; the first stays at %ld\n", rn, buf, (long)lseek(mfd, 0, SEEK_CUR));
		struct stat a, b;
		fstat(m, &a);
		fstat(mfd, &b);
		printf("same memfd: %s\n", a.st_ino == b.st_ino ? "yes" : "no");
		close(m);
	}
	reopen("eventfd", ev, O_RDWR);
	reopen("epoll", ep, O_RDONLY);
	int nw = reopen("/dev/null O_WRONLY", null, O_WRONLY);
	if (nw >= 0)
		printf("/dev/null takes %zd\n", write(nw, "abc", 3));
	int x = reopen("exe", exe, O_RDONLY);
	if (x >= 0) {
		memset(buf, 0, sizeof buf);
		ssize_t rn = read(x, buf, 4);
		printf("the program reads %zd: %s\n", rn, buf[0] == 0x7f && strncmp(buf + 1, "ELF", 3) == 0 ? "ELF" : "?");
	}
	char first[6] = {0};
	read(file, first, 5);
	int f2 = reopen("file", file, O_RDONLY);
	if (f2 >= 0) {
		memset(buf, 0, sizeof buf);
		ssize_t rn = read(f2, buf, 5);
		printf("the reopened file reads %zd %s after the first read %s\n", rn, buf, first);
	}
	int z = reopen("/dev/zero", zero, O_RDONLY);
	if (z >= 0) {
		memset(buf, 1, sizeof buf);
		ssize_t rn = read(z, buf, 8);
		printf("/dev/zero reads %zd, byte %d\n", rn, buf[3]);
	}
	char path[128];
	snprintf(path, sizeof path, "/proc/self/fd/%d/x", p[0]);
	fails("a path under a pipe", open(path, O_RDONLY));
	fails("O_NOFOLLOW", open(link_of(p[0]), O_RDONLY | O_NOFOLLOW));
	fails("fd/999", open("/proc/self/fd/999", O_RDONLY));
	close(ev);
	fails("a closed fd's link", open(link_of(ev), O_RDONLY));
	printf("its readlink: %s\n", readlink_of(ev));
	return 0;
}
