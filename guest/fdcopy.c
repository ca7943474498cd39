/*
 * fdcopy: sendfile, splice, tee, vmsplice and copy_file_range between
 * memfds, tmpfs files (/tmp and /dev/shm), pipes, a FIFO, the devices,
 * /proc files, an eventfd and the program's own file, built against musl
 * (fdcopy-musl) and glibc (fdcopy-glibc). Each call's result, the offsets
 * and positions it moves and the bytes it moves (compared with what they
 * should be) are printed; every line is the same natively (on fresh
 * tmpfs mounts) and under mmvm. The devices' splice reads, which Linux
 * 6.1 lacks, are left to the unit tests: the KVM tests' native runs are
 * on their QEMU guest's kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define SIZE 100000

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static unsigned char pat(long i) { return 'a' + (i * 7 + i / 4096) % 26; }

static long pos(int fd) { return lseek(fd, 0, SEEK_CUR); }

/* same says whether fd holds, at off, n bytes of the pattern from p on. */
static int same(int fd, long off, long n, long p) {
	static unsigned char buf[SIZE];
	if (pread(fd, buf, n, off) != n)
		return 0;
	for (long i = 0; i < n; i++)
		if (buf[i] != pat(p + i))
			return 0;
	return 1;
}

/* drain reads the pipe's read end rfd (made nonblocking) to its end and
 * says how many bytes it held and whether they were the pattern from p. */
static void drain(const char *what, int rfd, long p) {
	static unsigned char buf[SIZE * 2];
	int fl = fcntl(rfd, F_GETFL);
	fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
	long n = 0, r;
	while ((r = read(rfd, buf + n, sizeof buf - n)) > 0)
		n += r;
	fcntl(rfd, F_SETFL, fl);
	int ok = 1;
	for (long i = 0; i < n && p >= 0; i++)
		if (buf[i] != pat(p + i))
			ok = 0;
	printf("%s: %ld bytes%s\n", what, n, p < 0 ? "" : ok ? ", pattern" : ", WRONG");
}

static int source(const char *name) {
	static unsigned char buf[SIZE];
	int fd = memfd_create(name, 0);
	for (long i = 0; i < SIZE; i++)
		buf[i] = pat(i);
	if (write(fd, buf, SIZE) != SIZE)
		printf("write %s failed\n", name);
	return fd;
}

static int tmpfile_at(const char *path, int flags) {
	return open(path, flags | O_CREAT, 0644);
}

static void sendfile_calls(int m) {
	int t = tmpfile_at("/tmp/dst", O_RDWR | O_TRUNC);
	off_t off;
	lseek(m, 10, SEEK_SET);
	show("sendfile memfd->tmp", sendfile(t, m, NULL, 5000));
	printf("  pos in %ld out %ld, bytes %s\n", pos(m), pos(t), same(t, 0, 5000, 10) ? "same" : "differ");
	off = 20000;
	show("sendfile with offset", sendfile(t, m, &off, 3000));
	printf("  off %ld pos in %ld out %ld, bytes %s\n", (long)off, pos(m), pos(t), same(t, 5000, 3000, 20000) ? "same" : "differ");
	off = 99000;
	show("sendfile past the end", sendfile(t, m, &off, 5000));
	printf("  off %ld\n", (long)off);
	show("sendfile at the end", sendfile(t, m, &off, 5000));
	show("sendfile count 0", sendfile(t, m, NULL, 0));
	show("sendfile bad in", sendfile(t, 99, NULL, 1));
	show("sendfile bad out", sendfile(99, m, NULL, 1));
	int wo = open("/tmp/dst", O_WRONLY), ro = open("/tmp/dst", O_RDONLY);
	show("sendfile in O_WRONLY", sendfile(t, wo, NULL, 1));
	show("sendfile out O_RDONLY", sendfile(ro, m, NULL, 1));
	off = -1;
	show("sendfile offset -1", sendfile(t, m, &off, 1));
	printf("  off %ld\n", (long)off);
	show("sendfile count -1", sendfile(t, m, NULL, (size_t)-1));
	show("sendfile bad offset pointer", sendfile(t, m, (off_t *)8, 1));
	int fl = fcntl(t, F_GETFL);
	fcntl(t, F_SETFL, fl | O_APPEND);
	show("sendfile to O_APPEND", sendfile(t, m, NULL, 1));
	fcntl(t, F_SETFL, fl);

	int p[2];
	pipe(p);
	write(p[1], "abc", 3);
	off = 0;
	show("sendfile from a pipe with offset", sendfile(t, p[0], &off, 3));
	show("sendfile from a pipe", sendfile(t, p[0], NULL, 3));
	drain("  pipe still holds", p[0], -1);
	lseek(m, 100, SEEK_SET);
	show("sendfile into a pipe", sendfile(p[1], m, NULL, 200000));
	printf("  pos in %ld\n", pos(m));
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	show("sendfile into a full O_NONBLOCK pipe", sendfile(p[1], m, NULL, 10));
	drain("  pipe held", p[0], 100);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	show("sendfile into a pipe with no reader", sendfile(p[1], m, NULL, 10));
	close(p[1]);

	int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_RDWR), full = open("/dev/full", O_WRONLY);
	int ev = eventfd(0, 0), dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	pipe(p);
	show("sendfile null->pipe", sendfile(p[1], null, NULL, 10));
	show("sendfile memfd->full", sendfile(full, m, NULL, 10));
	off = SIZE;
	show("sendfile memfd at its end->full", sendfile(full, m, &off, 10));
	show("sendfile memfd->eventfd", sendfile(ev, m, NULL, 10));
	show("sendfile eventfd->pipe", sendfile(p[1], ev, NULL, 10));
	show("sendfile eventfd with offset", sendfile(p[1], ev, &off, 10));
	show("sendfile dir->null", sendfile(null, dir, NULL, 10));
	int status = open("/proc/self/status", O_RDONLY), version = open("/proc/version", O_RDONLY);
	show("sendfile /proc/self/status->pipe", sendfile(p[1], status, NULL, 10));
	static char b_[4096];
	long r = sendfile(p[1], version, NULL, 100000);
	printf("sendfile /proc/version->pipe: %s\n", r > 0 ? "> 0" : strerror(errno));
	show("sendfile /proc/version again", sendfile(p[1], version, NULL, 100000));
	while (read(p[0], b_, sizeof b_) == sizeof b_)
		;
	close(p[0]);
	close(p[1]);

	int exe = open("/proc/self/exe", O_RDONLY), copy = memfd_create("copy", 0);
	struct stat st;
	fstat(exe, &st);
	r = sendfile(copy, exe, NULL, 1 << 30);
	printf("sendfile exe->memfd: %s\n", r == st.st_size ? "its size" : "short");
	int same_bytes = 1;
	static char a[SIZE], b[SIZE];
	for (long o = 0; o < st.st_size; o += SIZE) {
		long n = pread(exe, a, SIZE, o);
		if (pread(copy, b, SIZE, o) != n || memcmp(a, b, n))
			same_bytes = 0;
	}
	printf("  bytes %s\n", same_bytes ? "same" : "differ");

	fflush(stdout);
	off = 0;
	r = sendfile(1, m, &off, 26);
	printf("\nsendfile memfd->stdout: %ld, off %ld\n", r, (long)off);
	close(exe);
	close(copy);
	close(zero);
	close(null);
	close(full);
	close(ev);
	close(dir);
	close(status);
	close(version);
	close(wo);
	close(ro);
	close(t);
}

static void splice_calls(int m) {
	int t = tmpfile_at("/tmp/splice", O_RDWR | O_TRUNC);
	int p[2], q[2];
	loff_t off = 100, toff = 0;
	pipe(p);
	pipe(q);
	lseek(m, 0, SEEK_SET);
	show("splice memfd->pipe at 100", splice(m, &off, p[1], NULL, 200000, 0));
	printf("  off %ld pos %ld\n", (long)off, pos(m));
	show("splice pipe->tmp at 0", splice(p[0], NULL, t, &toff, 1000, 0));
	printf("  off %ld pos %ld, bytes %s\n", (long)toff, pos(t), same(t, 0, 1000, 100) ? "same" : "differ");
	show("splice pipe->tmp", splice(p[0], NULL, t, NULL, 1 << 20, 0));
	printf("  pos %ld, bytes %s\n", pos(t), same(t, 0, 64436, 1100) ? "same" : "differ");
	show("splice empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, t, NULL, 10, SPLICE_F_NONBLOCK));
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	show("splice empty O_NONBLOCK pipe", splice(p[0], NULL, t, NULL, 10, 0));
	fcntl(p[0], F_SETFL, 0);
	show("splice with pipe offset", splice(p[0], &off, t, NULL, 10, 0));
	show("splice pipe to itself", splice(p[0], NULL, p[1], NULL, 10, 0));
	show("splice file->file", splice(m, NULL, t, NULL, 10, 0));
	show("splice len 0", splice(m, NULL, t, NULL, 0, 0));
	show("splice bad flags", splice(m, NULL, p[1], NULL, 10, 0x100));
	show("splice from a write end", splice(p[1], NULL, t, NULL, 10, 0));
	show("splice bad fd", splice(99, NULL, t, NULL, 10, 0));
	show("splice bad offset pointer", splice(m, (loff_t *)8, p[1], NULL, 10, 0));

	/* pipe to pipe: a write of 10000 bytes is three buffers. */
	static char buf[SIZE];
	for (long i = 0; i < 10000; i++)
		buf[i] = pat(i);
	write(p[1], buf, 10000);
	show("splice pipe->pipe 5000", splice(p[0], NULL, q[1], NULL, 5000, 0));
	show("splice pipe->pipe rest", splice(p[0], NULL, q[1], NULL, 100000, 0));
	drain("  second pipe held", q[0], 0);
	show("splice empty pipe->pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, q[1], NULL, 10, SPLICE_F_NONBLOCK));

	/* What splice puts in a pipe is not topped up by a write. */
	int r1[2], r2[2];
	pipe(r1);
	pipe2(r2, O_NONBLOCK);
	fcntl(r1[1], F_SETPIPE_SZ, 4096);
	fcntl(r2[1], F_SETPIPE_SZ, 4096);
	fcntl(r1[1], F_SETFL, O_NONBLOCK);
	off = 0;
	show("splice 10 into a one-slot pipe", splice(m, &off, r1[1], NULL, 10, 0));
	show("  then write 1", write(r1[1], "x", 1));
	show("write 10 into a one-slot pipe", write(r2[1], "0123456789", 10));
	show("  then write 1", write(r2[1], "x", 1));
	drain("  first pipe held", r1[0], 0);
	drain("  second pipe held", r2[0], -1);

	int app = tmpfile_at("/tmp/app", O_WRONLY | O_APPEND);
	int null = open("/dev/null", O_WRONLY), zero = open("/dev/zero", O_RDONLY), full = open("/dev/full", O_WRONLY);
	write(p[1], "abcdef", 6);
	show("splice pipe->O_APPEND", splice(p[0], NULL, app, NULL, 10, 0));
	toff = -5;
	show("splice pipe->file at -5", splice(p[0], NULL, t, &toff, 10, 0));
	show("splice pipe->file len -1", splice(p[0], NULL, t, NULL, (size_t)-1, 0));
	show("splice pipe->full", splice(p[0], NULL, full, NULL, 10, 0));
	toff = 7;
	show("splice pipe->null at 7", splice(p[0], NULL, null, &toff, 4, 0));
	printf("  off %ld\n", (long)toff);
	drain("  pipe held", p[0], -1);
	close(p[1]);
	show("splice from a pipe with no writer", splice(p[0], NULL, t, NULL, 10, 0));
	close(p[0]);

	mkfifo("/tmp/fifo", 0600);
	int fifo = open("/tmp/fifo", O_RDWR);
	off = 500;
	show("splice memfd->fifo", splice(m, &off, fifo, NULL, 3000, 0));
	toff = 0;
	show("splice fifo->tmp", splice(fifo, NULL, t, &toff, 5000, 0));
	printf("  bytes %s\n", same(t, 0, 3000, 500) ? "same" : "differ");
	close(fifo);
	close(app);
	close(null);
	close(zero);
	close(full);
	close(q[0]);
	close(q[1]);
	close(r1[0]);
	close(r1[1]);
	close(r2[0]);
	close(r2[1]);
	close(t);
}

static void tee_calls(int m) {
	int a[2], b[2];
	char buf[64] = {0};
	pipe(a);
	pipe(b);
	write(a[1], "hello world", 11);
	show("tee 5", tee(a[0], b[1], 5, 0));
	show("tee 100", tee(a[0], b[1], 100, 0));
	show("  read copy", read(b[0], buf, sizeof buf));
	printf("  %s\n", buf);
	memset(buf, 0, sizeof buf);
	show("  read original", read(a[0], buf, sizeof buf));
	printf("  %s\n", buf);
	show("tee empty, SPLICE_F_NONBLOCK", tee(a[0], b[1], 10, SPLICE_F_NONBLOCK));
	show("tee same pipe", tee(a[0], a[1], 10, 0));
	show("tee file", tee(m, b[1], 10, 0));
	show("tee bad flags", tee(a[0], b[1], 10, 0x100));
	show("tee len 0 bad flags", tee(a[0], b[1], 0, 0x100));
	show("tee len 0", tee(a[0], b[1], 0, 0));
	show("tee from a write end", tee(a[1], b[1], 10, 0));
	close(a[1]);
	show("tee with no writer", tee(a[0], b[1], 10, 0));
	close(a[0]);
	close(b[0]);
	pipe(a);
	write(a[1], "x", 1);
	show("tee with no reader", tee(a[0], b[1], 10, 0));
	close(a[0]);
	close(a[1]);
	close(b[1]);
}

static void vmsplice_calls(int m) {
	int p[2];
	unsigned char *buf = aligned_alloc(4096, 4 * SIZE), *dst = malloc(SIZE);
	for (long i = 0; i < 4 * SIZE; i++)
		buf[i] = pat(i);
	pipe(p);
	struct iovec iov = {buf, 10000};
	show("vmsplice 10000", vmsplice(p[1], &iov, 1, 0));
	drain("  pipe held", p[0], 0);
	iov.iov_base = buf + 100;
	iov.iov_len = 20000;
	show("vmsplice 20000 at 100", vmsplice(p[1], &iov, 1, 0));
	drain("  pipe held", p[0], 100);
	struct iovec two[2] = {{buf + 4000, 200}, {buf + 4200, 100}};
	show("vmsplice two across a page", vmsplice(p[1], two, 2, 0));
	iov.iov_base = buf + 50;
	iov.iov_len = 3 * SIZE;
	show("vmsplice 300000 at 50", vmsplice(p[1], &iov, 1, 0));
	show("vmsplice into a full pipe, SPLICE_F_NONBLOCK", vmsplice(p[1], &iov, 1, SPLICE_F_NONBLOCK));
	struct iovec out[2] = {{dst, 1000}, {dst + 1000, SIZE - 1000}};
	show("vmsplice read", vmsplice(p[0], out, 2, 0));
	int ok = 1;
	for (long i = 0; i < 4000 && ok; i++)
		ok = dst[i] == (i < 300 ? pat(4000 + i) : pat(50 + i - 300));
	printf("  bytes %s\n", ok ? "same" : "differ");
	drain("  pipe held", p[0], -1);
	show("vmsplice read empty, SPLICE_F_NONBLOCK", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	show("vmsplice read empty O_NONBLOCK, SPLICE_F_NONBLOCK", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
	fcntl(p[0], F_SETFL, 0);
	show("vmsplice no segments", vmsplice(p[1], &iov, 0, 0));
	show("vmsplice bad flags", vmsplice(p[1], &iov, 1, 0x100));
	show("vmsplice file", vmsplice(m, &iov, 1, 0));
	show("vmsplice bad iovec", vmsplice(p[1], (struct iovec *)8, 1, 0));
	iov.iov_base = (void *)8;
	iov.iov_len = 10;
	show("vmsplice bad buffer", vmsplice(p[1], &iov, 1, 0));
	int r[2];
	pipe2(r, O_NONBLOCK);
	fcntl(r[1], F_SETPIPE_SZ, 4096);
	iov.iov_base = buf;
	iov.iov_len = 10;
	show("vmsplice 10 into a one-slot pipe", vmsplice(r[1], &iov, 1, 0));
	show("  then write 1", write(r[1], "x", 1));
	close(r[0]);
	show("vmsplice with no reader", vmsplice(r[1], &iov, 1, 0));
	close(r[1]);
	close(p[0]);
	close(p[1]);
	free(buf);
	free(dst);
}

static void copy_file_range_calls(int m) {
	int m2 = memfd_create("m2", 0);
	loff_t oi = 10, oo = 0;
	show("copy_file_range memfd->memfd", copy_file_range(m, &oi, m2, &oo, 5000, 0));
	printf("  off in %ld out %ld, bytes %s\n", (long)oi, (long)oo, same(m2, 0, 5000, 10) ? "same" : "differ");
	lseek(m, 0, SEEK_SET);
	lseek(m2, 0, SEEK_SET);
	show("copy_file_range positions", copy_file_range(m, NULL, m2, NULL, 1000, 0));
	printf("  pos in %ld out %ld\n", pos(m), pos(m2));
	oi = 0, oo = 0;
	int m3 = memfd_create("m3", 0);
	show("copy_file_range len -1", copy_file_range(m, &oi, m3, &oo, (size_t)-1, 0));
	oi = 99990;
	show("copy_file_range near the end", copy_file_range(m, &oi, m3, NULL, 100, 0));
	show("copy_file_range at the end", copy_file_range(m, &oi, m3, NULL, 100, 0));
	oi = -1;
	show("copy_file_range offset -1", copy_file_range(m, &oi, m3, NULL, 100, 0));
	show("copy_file_range offset -1 len 0", copy_file_range(m, &oi, m3, NULL, 0, 0));
	oi = 0;
	show("copy_file_range flags 1", copy_file_range(m, &oi, m3, NULL, 100, 1));
	show("copy_file_range bad offset pointer", copy_file_range(m, (loff_t *)8, m3, NULL, 100, 0));
	oi = 0, oo = 50;
	show("copy_file_range overlapping", copy_file_range(m, &oi, m, &oo, 100, 0));
	oo = 200000;
	show("copy_file_range same file apart", copy_file_range(m, &oi, m, &oo, 100, 0));
	int a = tmpfile_at("/tmp/a", O_RDWR | O_TRUNC), b = tmpfile_at("/tmp/b", O_RDWR | O_TRUNC);
	int s = tmpfile_at("/dev/shm/s", O_RDWR | O_TRUNC);
	oi = 0;
	show("copy_file_range memfd->tmp", copy_file_range(m, &oi, a, NULL, 100, 0));
	sendfile(a, m, &oi, 5000);
	lseek(a, 0, SEEK_SET);
	show("copy_file_range tmp->tmp", copy_file_range(a, NULL, b, NULL, 100000, 0));
	printf("  bytes %s\n", same(b, 0, 5000, 0) ? "same" : "differ");
	show("copy_file_range /tmp->/dev/shm", copy_file_range(a, &oi, s, NULL, 100, 0));
	int p[2];
	pipe(p);
	write(p[1], "abc", 3);
	show("copy_file_range pipe->tmp", copy_file_range(p[0], NULL, b, NULL, 3, 0));
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY), null = open("/dev/null", O_RDWR);
	show("copy_file_range dir->tmp", copy_file_range(dir, NULL, b, NULL, 3, 0));
	show("copy_file_range tmp->null", copy_file_range(a, NULL, null, NULL, 3, 0));
	int app = tmpfile_at("/tmp/b", O_WRONLY | O_APPEND), ro = open("/tmp/b", O_RDONLY), wo = open("/tmp/a", O_WRONLY);
	oi = 0;
	show("copy_file_range to O_APPEND", copy_file_range(a, &oi, app, NULL, 3, 0));
	show("copy_file_range to O_RDONLY", copy_file_range(a, &oi, ro, NULL, 3, 0));
	show("copy_file_range from O_WRONLY", copy_file_range(wo, &oi, b, NULL, 3, 0));
	show("copy_file_range bad fd", copy_file_range(99, &oi, b, NULL, 3, 0));
	int exe = open("/proc/self/exe", O_RDONLY);
	show("copy_file_range exe->tmp", copy_file_range(exe, NULL, b, NULL, 3, 0));
	int mi = open("/proc/meminfo", O_RDONLY);
	show("copy_file_range /proc/meminfo->tmp", copy_file_range(mi, NULL, b, NULL, 3, 0));
	close(mi);
	close(exe);
	close(app);
	close(ro);
	close(wo);
	close(dir);
	close(null);
	close(p[0]);
	close(p[1]);
	close(a);
	close(b);
	close(s);
	close(m2);
	close(m3);
}

int main(void) {
	int m = source("src");
	sendfile_calls(m);
	splice_calls(m);
	tee_calls(m);
	vmsplice_calls(m);
	copy_file_range_calls(m);
	return 0;
}
