/*
 * files: reads a directory the test prepares (argv[1]: data.txt of
 * 10000 bytes, byte i being 'a' + i % 26; sub/b.txt; link -> data.txt)
 * through the file calls, as mmvm shows it with --dir DIR and as Linux
 * does natively, and prints only what is the same under both: contents,
 * sizes, errno names, sorted directory listings, mapping permissions.
 * Then it touches a mapped page wholly past the end of the file: SIGBUS,
 * exit status 135.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#define SIZE 10000
#define PAGE 4096

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case ENOTDIR: return "ENOTDIR";
	case EACCES: return "EACCES";
	case EISDIR: return "EISDIR";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case ESPIPE: return "ESPIPE";
	case ENODEV: return "ENODEV";
	case ELOOP: return "ELOOP";
	case EEXIST: return "EEXIST";
	}
	return "other";
}

static char expect(long i) { return 'a' + i % 26; }

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void listdir(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		printf("opendir %s: %s\n", path, errname(errno));
		return;
	}
	char *names[64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64)
		names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("listing:");
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

/* maps prints the permissions of each /proc/self/maps line naming
 * data.txt, sorted. */
static void maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f) {
		printf("maps: %s\n", errname(errno));
		return;
	}
	char line[512], perms[8][8];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "/data.txt") && n < 8)
			sscanf(line, "%*s %7s", perms[n++]);
	fclose(f);
	qsort(perms, n, sizeof perms[0], (int (*)(const void *, const void *))strcmp);
	printf("maps of data.txt:");
	for (int i = 0; i < n; i++)
		printf(" %s", perms[i]);
	printf("\n");
}

/* mapsid says whether every /proc/self/maps line naming a path ending in
 * suffix shows st's device and inode, and there is one. */
static int mapsid(const char *suffix, const struct stat *st)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -errno;
	char line[512], name[256];
	unsigned maj, min;
	unsigned long ino;
	int found = 0, same = 1;
	while (fgets(line, sizeof line, f)) {
		name[0] = 0;
		if (sscanf(line, "%*s %*s %*s %x:%x %lu %255s", &maj, &min, &ino, name) < 3)
			continue;
		size_t n = strlen(name), k = strlen(suffix);
		if (n < k || strcmp(name + n - k, suffix))
			continue;
		found = 1;
		same &= maj == major(st->st_dev) && min == minor(st->st_dev) && ino == st->st_ino;
	}
	fclose(f);
	return found && same;
}

/* hasline says whether the text file path has a line starting with key. */
static int hasline(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char line[512];
	int found = 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, strlen(key)))
			found = 1;
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: files DIR\n");
		return 2;
	}
	char path[512], buf[PAGE];
	snprintf(path, sizeof path, "%s/data.txt", argv[1]);

	int fd = open(path, O_RDONLY);
	printf("open: %s\n", fd >= 0 ? "ok" : errname(errno));
	if (fd < 0)
		return 1;
	ssize_t n = read(fd, buf, 16);
	printf("read: %zd %.16s\n", n, buf);
	n = pread(fd, buf, 10, 4096);
	printf("pread at 4096: %zd %.10s\n", n, buf);
	printf("lseek end: %ld\n", (long)lseek(fd, 0, SEEK_END));
	printf("lseek cur -6: %ld\n", (long)lseek(fd, -6, SEEK_CUR));
	n = read(fd, buf, 100);
	printf("read at the end: %zd %.*s\n", n, (int)n, buf);
	printf("read at EOF: %zd\n", read(fd, buf, 100));
	errno = 0;
	long r = lseek(fd, -1, SEEK_SET);
	printf("lseek -1: %ld %s\n", r, errname(errno));
	char a[5], b[7];
	struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
	n = preadv(fd, iov, 2, 26);
	printf("preadv: %zd %.5s %.7s\n", n, a, b);
	lseek(fd, 52, SEEK_SET);
	n = readv(fd, iov, 2);
	printf("readv: %zd %.5s %.7s\n", n, a, b);
	struct stat st;
	fstat(fd, &st);
	printf("fstat: size %ld regular %d mode %o\n", (long)st.st_size, S_ISREG(st.st_mode), st.st_mode & 0777);
	struct stat st2;
	stat(path, &st2);
	printf("stat: size %ld same inode %d\n", (long)st2.st_size, st.st_dev == st2.st_dev && st.st_ino == st2.st_ino);
	printf("fcntl F_GETFL: %#o\n", fcntl(fd, F_GETFL) & ~0100000 /* O_LARGEFILE */);

	/* Private and shared read-only mappings, a whole file and a past-EOF
	 * page. */
	char *priv = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	char *shared = mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED) {
		printf("mmap: %s\n", errname(errno));
		return 1;
	}
	int same = 1, zero = 1;
	for (long i = 0; i < SIZE; i++)
		same &= priv[i] == expect(i) && shared[i] == expect(i);
	for (long i = SIZE; i < 3 * PAGE; i++)
		zero &= priv[i] == 0 && shared[i] == 0;
	printf("mmap: contents %d, zeros past EOF %d\n", same, zero);
	priv[0] = 'X';
	pread(fd, buf, 1, 0);
	printf("private write: mapping %c, shared %c, file %c\n", priv[0], shared[0], buf[0]);
	errno = 0;
	void *w = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("shared writable mmap of a read-only fd: %s\n", w == MAP_FAILED ? errname(errno) : "ok");
	errno = 0;
	printf("mprotect shared to write: %s\n", mprotect(shared, PAGE, PROT_READ | PROT_WRITE) ? errname(errno) : "ok");
	maps();
	printf("maps shows data.txt's device and inode: %d\n", mapsid("/data.txt", &st));
	struct stat exe;
	stat("/proc/self/exe", &exe);
	printf("maps shows the program's device and inode: %d\n", mapsid(strrchr(argv[0], '/') ? strrchr(argv[0], '/') : argv[0], &exe));

	/* Errors, links, directories. */
	char p2[600];
	snprintf(p2, sizeof p2, "%s/missing", argv[1]);
	errno = 0;
	printf("open missing: %s\n", open(p2, O_RDONLY) < 0 ? errname(errno) : "ok");
	snprintf(p2, sizeof p2, "%s/data.txt/x", argv[1]);
	errno = 0;
	printf("open under a file: %s\n", open(p2, O_RDONLY) < 0 ? errname(errno) : "ok");
	errno = 0;
	printf("open O_DIRECTORY of a file: %s\n", open(path, O_RDONLY | O_DIRECTORY) < 0 ? errname(errno) : "ok");
	snprintf(p2, sizeof p2, "%s/link", argv[1]);
	char target[64] = {0};
	n = readlink(p2, target, sizeof target - 1);
	printf("readlink: %zd %s\n", n, target);
	errno = 0;
	printf("open O_NOFOLLOW of a link: %s\n", open(p2, O_RDONLY | O_NOFOLLOW) < 0 ? errname(errno) : "ok");
	printf("access R_OK: %s\n", access(path, R_OK) ? errname(errno) : "ok");
	errno = 0;
	printf("read of a directory: ");
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	printf("%s\n", read(dfd, buf, 10) < 0 ? errname(errno) : "ok");
	int sub = openat(dfd, "sub/b.txt", O_RDONLY);
	n = read(sub, buf, 10);
	printf("openat dirfd sub/b.txt: %zd %.*s", n, (int)n, buf);
	listdir(argv[1]);
	snprintf(p2, sizeof p2, "%s/sub", argv[1]);
	printf("chdir: %s\n", chdir(p2) ? errname(errno) : "ok");
	printf("open relative: %s\n", open("b.txt", O_RDONLY) >= 0 ? "ok" : errname(errno));
	errno = 0;
	printf("lseek of a pipe: ");
	int pfd[2];
	pipe(pfd);
	printf("%s\n", lseek(pfd[0], 0, SEEK_SET) < 0 ? errname(errno) : "ok");

	/* The devices. */
	int null = open("/dev/null", O_RDWR), zfd = open("/dev/zero", O_RDONLY);
	printf("/dev/null: read %zd write %zd\n", read(null, buf, 10), write(null, "abc", 3));
	memset(buf, 1, 8);
	n = read(zfd, buf, 8);
	printf("/dev/zero: read %zd, zeros %d\n", n, !buf[0] && !buf[7]);
	char *z = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, zfd, 0);
	printf("/dev/zero mmap: %s\n", z != MAP_FAILED && !z[100] ? "zeros" : errname(errno));
	errno = 0;
	printf("/dev/null mmap: %s\n", mmap(0, PAGE, PROT_READ, MAP_PRIVATE, null, 0) == MAP_FAILED ? errname(errno) : "ok");

	/* /proc. */
	n = readlink("/proc/self/exe", target, sizeof target - 1);
	target[n > 0 ? n : 0] = 0;
	printf("/proc/self/exe ends in /files: %d\n", n > 6 && strstr(target, "/files") != NULL);
	printf("/proc/self/status Name: %d VmRSS: %d\n", hasline("/proc/self/status", "Name:"), hasline("/proc/self/status", "VmRSS:"));
	printf("/proc/meminfo MemTotal: %d\n", hasline("/proc/meminfo", "MemTotal:"));

	/* A page wholly past the end of the file: SIGBUS. */
	fflush(stdout);
	volatile char c = shared[3 * PAGE + 100];
	(void)c;
	printf("no SIGBUS\n");
	return 0;
}
