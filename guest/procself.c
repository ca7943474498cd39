/*
 * procself: /proc/self/auxv (each pair what getauxval says, AT_NULL
 * last), oom_score_adj, oom_score, loginuid,
 * sessionid, /proc/filesystems' tmpfs and proc, and /proc/self/mem: reads
 * and writes of the program's own memory at an address, a write into a
 * read-only mapping and into the program's read-only data (FOLL_FORCE),
 * a read of a PROT_NONE page, EIO for an unmapped address, a read that
 * stops at one, lseek. Built against musl (procself-musl) and glibc
 * (procself-glibc); every line is the same natively and under mmvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static long slurp(const char *path, char *buf, long n) {
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	long got = 0, r;
	while (got < n - 1 && (r = read(fd, buf + got, n - 1 - got)) > 0)
		got += r;
	buf[got] = 0;
	close(fd);
	return got;
}

static const char rodata[] = "read-only data";

int main(void) {
	static char buf[65536];
	long n = slurp("/proc/self/auxv", buf, sizeof buf);
	uint64_t *av = (uint64_t *)buf;
	int match = n > 0 && n % 16 == 0, pagesz = 0;
	for (long i = 0; i + 1 < n / 8; i += 2) {
		if (av[i] == AT_NULL && i + 2 != n / 8)
			match = 0;
		/* glibc's getauxval(AT_HWCAP) is its own dl_hwcap, not the vector's. */
		if (av[i] != AT_NULL && av[i] != AT_HWCAP && av[i] != AT_HWCAP2 && getauxval(av[i]) != av[i + 1])
			match = 0;
		if (av[i] == AT_PAGESZ)
			pagesz = av[i + 1];
	}
	printf("auxv: pairs match getauxval %s, AT_NULL last %s, AT_PAGESZ %d\n", match ? "yes" : "no",
	       n >= 16 && av[n / 8 - 2] == AT_NULL ? "yes" : "no", pagesz);
	/* oom_score scales the program's pages by the machine's: a small
	 * program's is a little over 666 on any. */
	slurp("/proc/self/oom_score", buf, sizeof buf);
	printf("oom_score: %s\n", atoi(buf) >= 666 && atoi(buf) < 700 ? "a little over 666" : buf);
	const char *files[] = {"/proc/self/oom_score_adj", "/proc/self/loginuid", "/proc/self/sessionid"};
	for (int i = 0; i < 3; i++) {
		slurp(files[i], buf, sizeof buf);
		printf("%s: [%s]\n", files[i], buf);
	}
	slurp("/proc/filesystems", buf, sizeof buf);
	printf("filesystems: tmpfs %s proc %s\n", strstr(buf, "nodev\ttmpfs\n") ? "yes" : "no", strstr(buf, "nodev\tproc\n") ? "yes" : "no");

	int mem = open("/proc/self/mem", O_RDWR);
	show("open mem", mem >= 0 ? 0 : -1);
	static char data[] = "hello, mem";
	char got[64] = {0};
	show("pread a static", pread(mem, got, 10, (off_t)(uintptr_t)data));
	printf("  %s\n", got);
	show("pwrite a static", pwrite(mem, "HELLO", 5, (off_t)(uintptr_t)data));
	printf("  %s\n", data);
	char *ro = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(ro, "was writable");
	mprotect(ro, 8192, PROT_READ);
	show("pwrite a read-only page", pwrite(mem, "now", 3, (off_t)(uintptr_t)ro));
	printf("  %s\n", ro);
	const char *volatile rd = rodata;
	show("pwrite read-only data", pwrite(mem, "READ", 4, (off_t)(uintptr_t)rd));
	printf("  %s\n", rd);
	mprotect(ro, 4096, PROT_NONE);
	memset(got, 0, sizeof got);
	show("pread a PROT_NONE page", pread(mem, got, 12, (off_t)(uintptr_t)ro));
	printf("  %s\n", got);
	munmap(ro + 4096, 4096);
	static char big[8192];
	show("pread across the end of a mapping", pread(mem, big, 8192, (off_t)(uintptr_t)ro));
	show("pread unmapped", pread(mem, got, 4, (off_t)(uintptr_t)(ro + 4096)));
	show("pwrite unmapped", pwrite(mem, got, 4, (off_t)(uintptr_t)(ro + 4096)));
	show("pread address 0", pread(mem, got, 4, 0));
	show("lseek to a static", lseek(mem, (off_t)(uintptr_t)data, SEEK_SET) == (off_t)(uintptr_t)data ? 0 : -1);
	memset(got, 0, sizeof got);
	show("read there", read(mem, got, 10));
	printf("  %s, moved %ld\n", got, (long)(lseek(mem, 0, SEEK_CUR) - (off_t)(uintptr_t)data));
	show("lseek SEEK_END", lseek(mem, 0, SEEK_END));
	show("write from an unmapped buffer", syscall(SYS_pwrite64, mem, (void *)8, 4, (off_t)(uintptr_t)data));
	close(mem);
	int rdonly = open("/proc/self/mem", O_RDONLY);
	show("write to a read-only mem", pwrite(rdonly, "x", 1, (off_t)(uintptr_t)data));
	close(rdonly);
	return 0;
}
