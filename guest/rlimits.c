/*
 * rlimits: the memory limits a program sets itself, which mm enforces as
 * Linux does: RLIMIT_AS bounds the address space mmap and brk may add,
 * RLIMIT_DATA the private writable memory, RLIMIT_MEMLOCK what mlock may
 * lock once CAP_IPC_LOCK is gone (and a hard limit is raised only with
 * CAP_SYS_RESOURCE), RLIMIT_STACK how far the stack grows.
 * Each limit is set relative to what the program uses now (VmSize,
 * VmData from /proc/self/status), so that the answers are the same
 * natively and under mmvm, whose layouts differ.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* capget and capset's header and data (linux/capability.h, which musl
 * does not ship), version 3: two data structs. */
struct caphdr {
	unsigned version;
	int pid;
};
struct capdata {
	unsigned effective, permitted, inheritable;
};
#define CAP_IPC_LOCK_BIT 14
#define CAP_SYS_RESOURCE_BIT 24

static unsigned long statusKB(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long v = 0;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtoul(line + strlen(key) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void mapTry(const char *what, size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
	printf("%s: %s\n", what, p == MAP_FAILED ? strerror(errno) : "ok");
	if (p != MAP_FAILED)
		munmap(p, len);
}

int main(void)
{
	const size_t MiB = 1 << 20;
	unsigned long vm = statusKB("VmSize:") * 1024;
	struct rlimit r = {vm + 64 * MiB, RLIM_INFINITY};
	printf("setrlimit AS: %d\n", setrlimit(RLIMIT_AS, &r));
	mapTry("mmap 32 MiB under RLIMIT_AS", 32 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mapTry("mmap 128 MiB past RLIMIT_AS", 128 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	printf("sbrk 128 MiB past RLIMIT_AS: %s\n", sbrk(128 * MiB) == (void *)-1 ? strerror(errno) : "ok");
	r.rlim_cur = RLIM_INFINITY;
	printf("setrlimit AS back: %d\n", setrlimit(RLIMIT_AS, &r));
	mapTry("mmap 128 MiB again", 128 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	unsigned long data = statusKB("VmData:") * 1024;
	r.rlim_cur = data + 16 * MiB;
	printf("setrlimit DATA: %d\n", setrlimit(RLIMIT_DATA, &r));
	mapTry("private writable 64 MiB past RLIMIT_DATA", 64 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mapTry("read-only 64 MiB past RLIMIT_DATA", 64 * MiB, PROT_READ, MAP_PRIVATE);
	mapTry("shared 64 MiB past RLIMIT_DATA", 64 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED);
	r.rlim_cur = RLIM_INFINITY;
	setrlimit(RLIMIT_DATA, &r);

	/* Without CAP_IPC_LOCK, RLIMIT_MEMLOCK binds mlock. */
	struct caphdr h = {0x20080522, 0};
	struct capdata c[2];
	syscall(SYS_capget, &h, c);
	c[0].effective &= ~(1u << CAP_IPC_LOCK_BIT | 1u << CAP_SYS_RESOURCE_BIT);
	printf("drop CAP_IPC_LOCK and CAP_SYS_RESOURCE: %ld\n", syscall(SYS_capset, &h, c));
	r.rlim_cur = r.rlim_max = 64 * 1024;
	printf("setrlimit MEMLOCK 64 KiB: %d\n", setrlimit(RLIMIT_MEMLOCK, &r));
	void *p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mlock 32 KiB: %s\n", mlock(p, 32 * 1024) ? strerror(errno) : "ok");
	printf("mlock 1 MiB: %s\n", mlock(p, MiB) ? strerror(errno) : "ok");
	r.rlim_cur = r.rlim_max = 2 * MiB;
	printf("raise hard MEMLOCK without CAP_SYS_RESOURCE kept: %s\n", setrlimit(RLIMIT_MEMLOCK, &r) ? strerror(errno) : "ok");
	printf("mlock 1 MiB: %s\n", mlock(p, MiB) ? strerror(errno) : "ok");

	getrlimit(RLIMIT_STACK, &r);
	r.rlim_cur = 4 * MiB;
	printf("setrlimit STACK 4 MiB: %d\n", setrlimit(RLIMIT_STACK, &r));
	getrlimit(RLIMIT_STACK, &r);
	printf("RLIMIT_STACK now %lu KiB\n", (unsigned long)r.rlim_cur / 1024);
	return 0;
}
