/*
 * residency: which pages of a small private anonymous mapping Linux counts
 * as resident (smaps' Rss, mincore, pagemap's present bit) after the
 * program writes some of them: only those it wrote, however much a fault
 * maps around them. It checks that this survives what takes the page
 * tables' record away (mprotect down, mremap's move), that a system
 * call's copy into a page makes it resident like a write, and that
 * MLOCK_ONFAULT's vma with a page present has Rss below its Size (the
 * mm selftests' mlock2-tests judge lock-on-fault that way). Each vma is
 * four pages between PROT_NONE pages, so that no transparent huge page
 * can back it and no neighbour merges with it. It never reads a page it
 * did not write: a read maps Linux's zero page, which mincore counts and
 * Rss does not.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "include/errname.h"

#define PG 4096UL
#define NP 4

/* rss returns smaps' Rss in kB of the vma starting at start, -1 if none. */
static long rss(char *start)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = lo == (unsigned long)start;
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void show(const char *what, char *p)
{
	unsigned char vec[NP];
	char mc[NP + 1] = {0}, pm[NP + 1] = {0};
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (mincore(p, NP * PG, vec)) {
		printf("%s: mincore %s\n", what, res(-1));
		return;
	}
	for (int i = 0; i < NP; i++) {
		unsigned long long e = 0;

		mc[i] = '0' + (vec[i] & 1);
		if (pread(fd, &e, 8, (unsigned long)(p + i * PG) / PG * 8) != 8)
			pm[i] = '?';
		else
			pm[i] = '0' + (int)(e >> 63);
	}
	close(fd);
	printf("%-34s rss %ld kB, mincore %s, present %s\n", what, rss(p), mc, pm);
}

/* fresh maps NP read-write pages with a PROT_NONE page on each side. */
static char *fresh(void)
{
	char *r = mmap(NULL, (NP + 2) * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (r == MAP_FAILED) {
		printf("mmap: %s\n", res(-1));
		exit(1);
	}
	if (mmap(r + PG, NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		printf("mmap fixed: %s\n", res(-1));
		exit(1);
	}
	return r + PG;
}

int main(void)
{
	char *p = fresh();

	show("fresh", p);
	p[0] = 1;
	p[2 * PG] = 1;
	show("pages 0 and 2 written", p);
	printf("mprotect read-only: %s\n", res(mprotect(p, NP * PG, PROT_READ)));
	show("read-only", p);
	printf("mprotect read-write: %s\n", res(mprotect(p, NP * PG, PROT_READ | PROT_WRITE)));
	p[3 * PG] = 1;
	show("page 3 written", p);

	char *q = fresh();
	char *moved = mremap(p, NP * PG, NP * PG, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	printf("mremap: %s\n", moved == q ? "moved" : res(-1));
	show("moved", q);

	char *c = fresh();
	int fds[2];
	char msg[] = "copied";

	c[0] = 1;
	if (pipe(fds) || write(fds[1], msg, sizeof msg) != sizeof msg) {
		printf("pipe: %s\n", res(-1));
		return 1;
	}
	printf("read into page 1: %s\n", res(read(fds[0], c + PG + 100, sizeof msg)));
	show("page 0 written, page 1 read into", c);

	char *l = fresh();

	l[0] = 1;
	printf("mlock2 onfault: %s\n", res(mlock2(l, NP * PG, MLOCK_ONFAULT)));
	long r = rss(l);
	printf("lock-on-fault vma with a page present: Rss %s Size\n", r < (long)(NP * PG / 1024) ? "<" : ">=");
	show("locked on fault", l);
	return 0;
}
