/*
 * mlockroot: the root the guest runs as holds CAP_IPC_LOCK, so
 * RLIMIT_MEMLOCK is reported but bounds nothing: mlock, mlock2, a
 * MAP_LOCKED mmap and mlockall(MCL_FUTURE) then a populated mmap, each of
 * twice the limit, succeed, and /proc/self/status counts what they lock.
 * Run as root natively, as the KVM tests do. Every line it prints is the
 * same natively and under mmvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void result(const char *what, long r)
{
	printf("%s: %s\n", what, r ? strerror(errno) : "ok");
}

static unsigned long vmlck_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = ~0UL;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %lu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

int main(void)
{
	struct rlimit rl;
	size_t len;
	char *p;

	if (getuid() != 0) {
		printf("not root\n");
		return 0;
	}
	getrlimit(RLIMIT_MEMLOCK, &rl);
	len = 2 * (rl.rlim_cur == RLIM_INFINITY ? 8 << 20 : rl.rlim_cur);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	result("mlock of twice the limit", mlock(p, len));
	printf("VmLck is the mapping: %d\n", vmlck_kb() == len >> 10);
	result("munlock", munlock(p, len));
	result("mlock2 onfault", syscall(SYS_mlock2, p, len, 1));
	munmap(p, len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	result("MAP_LOCKED mmap", p == MAP_FAILED);
	munmap(p, len);
	result("mlockall future", mlockall(MCL_FUTURE));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	result("mmap populate under MCL_FUTURE", p == MAP_FAILED);
	munlockall();
	return 0;
}
