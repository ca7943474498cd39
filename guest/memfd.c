/*
 * memfd: memfd_create as Linux serves it, built against musl (memfd-musl)
 * and glibc (memfd-glibc). One memfd mapped MAP_SHARED twice at different
 * addresses and once at an offset, and MAP_PRIVATE once: writes through a
 * view, through write and pwrite are seen through every other view and
 * through read and pread; the private view copies on write. fstat,
 * lseek, mincore, fallocate (PUNCH_HOLE|KEEP_SIZE and mode 0), the memfd's
 * line in /proc/self/maps, seals, flag and name checks; then ftruncate
 * below mapped pages and the SIGBUS their access raises, caught by a
 * handler. Every line it prints is the same natively and under mmvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096L
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x10
#endif

static sigjmp_buf jump;
static volatile int bus_sig, bus_code;
static volatile uintptr_t bus_addr;

static void on_bus(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	bus_sig = sig;
	bus_code = si->si_code;
	bus_addr = (uintptr_t)si->si_addr;
	siglongjmp(jump, 1);
}

/* touch reads (or writes) the byte at p and says whether it faulted. */
static int touch(volatile char *p, int write) {
	bus_sig = 0;
	if (sigsetjmp(jump, 1) == 0) {
		if (write)
			*p = 'w';
		else
			(void)*p;
		return 0;
	}
	return 1;
}

static void check(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static long memfd(const char *name, unsigned flags) {
	return syscall(SYS_memfd_create, name, flags);
}

/* maps_lines prints the /proc/self/maps lines naming name, without the
 * addresses, device and inode: perms, offset and name. */
static void maps_lines(const char *name) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	if (!f) {
		printf("maps: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		char perms[8], dev[16], path[256] = "";
		unsigned long off, ino;
		if (!strstr(line, name))
			continue;
		if (sscanf(line, "%*x-%*x %7s %lx %15s %lu %255[^\n]", perms, &off, dev, &ino, path) < 4)
			continue;
		printf("maps: %s %lx %s %s\n", perms, off, dev, path);
	}
	fclose(f);
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_bus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, 0);
	setvbuf(stdout, 0, _IOLBF, 0);

	int fd = memfd("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	check("memfd_create", fd >= 3);
	check("cloexec", fcntl(fd, F_GETFD));
	check("getfl", fcntl(fd, F_GETFL) & ~O_LARGEFILE & 07777777);
	check("ftruncate", ftruncate(fd, 4 * PG));
	char *a = mmap(0, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(0, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *c = mmap(0, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * PG);
	char *p = mmap(0, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED || c == MAP_FAILED || p == MAP_FAILED) {
		printf("mmap: %s\n", strerror(errno));
		return 1;
	}
	printf("views differ: %d\n", a != b && b != c && a != c);

	/* a write through one view is seen through the others and the fd */
	strcpy(a + 100, "through a");
	char buf[64] = "";
	printf("b reads: %s\n", b + 100);
	check("pread", pread(fd, buf, 9, 100));
	printf("pread reads: %s\n", buf);
	printf("private reads: %s\n", p + 100);
	check("pwrite", pwrite(fd, "by pwrite", 10, 2 * PG + 7));
	printf("a reads: %s, c reads: %s\n", a + 2 * PG + 7, c + 7);
	strcpy(c + PG, "through c");
	printf("b reads: %s\n", b + 3 * PG);

	/* the private view copies on write; until then it follows the file */
	strcpy(p + 100, "private!!");
	printf("a after private write: %s, private: %s\n", a + 100, p + 100);
	strcpy(a + 200, "later");
	printf("private sees later shared write on an uncopied page: %s\n", p + 2 * PG + 7);

	/* write and lseek at the position */
	check("lseek end", lseek(fd, 0, SEEK_END));
	check("write past end", write(fd, "tail", 4));
	struct stat st;
	check("fstat", fstat(fd, &st));
	printf("size %ld mode %o nlink %ld blksize %ld\n", (long)st.st_size, st.st_mode, (long)st.st_nlink, (long)st.st_blksize);
	check("lseek set", lseek(fd, 100, SEEK_SET));
	memset(buf, 0, sizeof buf);
	check("read", read(fd, buf, 9));
	printf("read reads: %s\n", buf);
	check("append setfl", fcntl(fd, F_SETFL, O_APPEND));
	check("lseek set", lseek(fd, 0, SEEK_SET));
	check("append write", write(fd, "++", 2));
	check("position after append", lseek(fd, 0, SEEK_CUR));
	check("clear setfl", fcntl(fd, F_SETFL, 0));

	/* mincore, hole punching, fallocate */
	unsigned char vec[4];
	check("mincore", mincore(b, 4 * PG, vec));
	printf("resident %d%d%d%d\n", vec[0], vec[1], vec[2], vec[3]);
	check("punch", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PG));
	printf("after punch a[100]=%d b[100]=%d private[100]=%c\n", a[100], b[100], p[100]);
	check("punch partial", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * PG + 8, 3));
	printf("after partial punch: %s|%s\n", a + 2 * PG + 7, a + 2 * PG + 11);
	check("punch without keep", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, PG));
	check("zero range", fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, PG));
	check("fallocate grow", fallocate(fd, 0, 5 * PG, PG));
	check("size", lseek(fd, 0, SEEK_END));
	check("fallocate bad len", fallocate(fd, 0, 0, 0));
	int pfd[2];
	check("pipe", pipe(pfd));
	check("fallocate on a pipe", fallocate(pfd[1], 0, 0, PG));
	check("ftruncate a pipe", ftruncate(pfd[1], 0));
	maps_lines("memfd:guest");

	/* seals */
	check("get seals", fcntl(fd, F_GET_SEALS));
	check("seal write with shared writable views", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	check("seal shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	check("seal bad", fcntl(fd, F_ADD_SEALS, 0x1000));
	check("shrink sealed", ftruncate(fd, PG));
	check("grow", ftruncate(fd, 8 * PG));
	int fd2 = memfd("nosealing", 0);
	check("memfd no sealing", fd2 >= 0);
	check("cloexec", fcntl(fd2, F_GETFD));
	check("get seals", fcntl(fd2, F_GET_SEALS));
	check("add seals", fcntl(fd2, F_ADD_SEALS, F_SEAL_GROW));
	check("ftruncate", ftruncate(fd2, 2 * PG));
	char *s = mmap(0, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	check("mmap", s == MAP_FAILED ? -1 : 0);
	strcpy(s, "sealed");
	int fd3 = memfd("sealing", MFD_ALLOW_SEALING);
	check("ftruncate", ftruncate(fd3, 2 * PG));
	check("pwrite", pwrite(fd3, "abc", 3, 0));
	check("seal write", fcntl(fd3, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW));
	check("get seals", fcntl(fd3, F_GET_SEALS));
	check("write sealed", pwrite(fd3, "x", 1, 0));
	check("grow sealed", ftruncate(fd3, 3 * PG));
	check("mmap shared writable sealed", mmap(0, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd3, 0) == MAP_FAILED ? -1 : 0);
	char *r = mmap(0, PG, PROT_READ, MAP_SHARED, fd3, 0);
	check("mmap shared read-only sealed", r == MAP_FAILED ? -1 : 0);
	printf("sealed reads: %s\n", r);
	check("mprotect it writable", mprotect(r, PG, PROT_READ | PROT_WRITE));
	char *rp = mmap(0, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd3, 0);
	check("mmap private writable sealed", rp == MAP_FAILED ? -1 : 0);
	rp[0] = 'X';
	printf("private copy %s, file %s\n", rp, r);

	/* flags and names */
	check("bad flags", memfd("x", 0x40));
	char longname[300];
	memset(longname, 'n', sizeof longname);
	longname[249] = 0;
	int fd4 = memfd(longname, 0);
	check("name of 249", fd4 >= 0);
	longname[249] = 'n';
	longname[250] = 0;
	check("name of 250", memfd(longname, 0));
	check("bad name", memfd((char *)8, 0));
	check("ftruncate read-only fd", ftruncate(0, 0));
	check("ftruncate negative", ftruncate(fd, -1));

	/* SEEK_DATA and SEEK_HOLE */
	int fd6 = memfd("seek", 0);
	check("ftruncate", ftruncate(fd6, 5 * PG + 3));
	check("pwrite", pwrite(fd6, "d", 1, PG + 5));
	check("pwrite", pwrite(fd6, "e", 1, 4 * PG));
	check("data from 0", lseek(fd6, 0, SEEK_DATA));
	check("hole from PG+9", lseek(fd6, PG + 9, SEEK_HOLE));
	check("data from 2PG", lseek(fd6, 2 * PG, SEEK_DATA));
	check("hole from 4PG", lseek(fd6, 4 * PG, SEEK_HOLE));
	check("data past the last", lseek(fd6, 4 * PG + 1, SEEK_DATA) >= 0 ? lseek(fd6, 0, SEEK_CUR) : -1);
	check("data at the size", lseek(fd6, 5 * PG + 3, SEEK_DATA));
	check("hole negative", lseek(fd6, -1, SEEK_HOLE));
	check("close", close(fd6));

	/* truncation below mapped pages: SIGBUS on access, shared and private */
	check("unseal by new fd", 0);
	int fd5 = memfd("trunc", 0);
	check("ftruncate", ftruncate(fd5, 3 * PG));
	char *t = mmap(0, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd5, 0);
	char *tp = mmap(0, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd5, 0);
	t[2 * PG] = 'y';
	tp[2 * PG + 1] = 'z';
	tp[0] = 'q';
	check("ftruncate smaller", ftruncate(fd5, PG + 10));
	printf("tail of last page t[PG+10]=%d t[PG+9]=%d\n", t[PG + 10], t[PG + 9]);
	int f1 = touch(t + 2 * PG, 0);
	printf("shared read past end: faulted %d sig %d code %d addr +%#lx\n", f1, bus_sig, bus_code, (unsigned long)(bus_addr - (uintptr_t)t));
	int f2 = touch(tp + 2 * PG + 1, 0);
	printf("private copy past end: faulted %d sig %d code %d addr +%#lx\n", f2, bus_sig, bus_code, (unsigned long)(bus_addr - (uintptr_t)tp));
	int f3 = touch(t + PG + 100, 1);
	printf("shared write inside: faulted %d, private page 0 still %c\n", f3, tp[0]);
	check("ftruncate grows again", ftruncate(fd5, 3 * PG));
	int f4 = touch(t + 2 * PG, 0);
	printf("after growing: faulted %d reads %d\n", f4, t[2 * PG]);
	check("close", close(fd5));
	printf("mapping outlives the fd: %c\n", t[PG + 100]);
	check("munmap", munmap(t, 3 * PG));
	return 0;
}
