/*
 * pagemap: /proc/self/pagemap as Linux serves it, built against musl
 * (pagemap-musl) and glibc (pagemap-glibc). For pages in different states
 * it prints the entry's present, file and exclusive bits (never the frame
 * number itself, which is the machine's): a page never touched, one only
 * read (the zero page: every such page shows one frame), one written (its
 * own frame), shared memory, a page after MADV_DONTNEED, an unmapped
 * page; then the reads Linux refuses (an offset or count not a multiple
 * of 8). (Where the file ends depends on the kernel's paging levels;
 * syscalls' TestProcPagemap checks it.) Only touched
 * pages are looked at next to each other in a 2 MiB-aligned area, each
 * in its own 2 MiB, since how much one fault maps around it is the
 * kernel's choice. Every line it prints is the same natively and under
 * mmvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096UL
#define HUGE (2UL << 20)

static int fd;

static uint64_t entry(void *addr)
{
	uint64_t e = 0;
	ssize_t n = pread(fd, &e, 8, (uintptr_t)addr / PG * 8);

	if (n != 8)
		printf("pread: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	return e;
}

static uint64_t pfn(void *addr) { return entry(addr) & ((1ULL << 55) - 1); }

static void show(const char *what, void *addr)
{
	uint64_t e = entry(addr);

	printf("%-24s present %d file %d exclusive %d swapped %d\n", what,
	       (int)(e >> 63 & 1), (int)(e >> 61 & 1), (int)(e >> 56 & 1), (int)(e >> 62 & 1));
}

int main(void)
{
	char buf[16];
	char *area, *p, *s;
	ssize_t n;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0) {
		printf("open: %s\n", strerror(errno));
		return 1;
	}
	/* Four 2 MiB units, 2 MiB-aligned, one state each. */
	area = mmap(NULL, 5 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return 1;
	p = (char *)(((uintptr_t)area + HUGE - 1) & ~(HUGE - 1));
	madvise(p, 4 * HUGE, MADV_NOHUGEPAGE);
	show("untouched", p);
	if (*(volatile char *)(p + HUGE) || *(volatile char *)(p + 2 * HUGE))
		return 1;
	show("read", p + HUGE);
	printf("two read pages share a frame: %d\n", pfn(p + HUGE) == pfn(p + 2 * HUGE));
	p[3 * HUGE] = 1;
	show("written", p + 3 * HUGE);
	printf("written has its own frame: %d\n", pfn(p + 3 * HUGE) != pfn(p + HUGE));
	madvise(p + 3 * HUGE, HUGE, MADV_DONTNEED);
	show("after dontneed", p + 3 * HUGE);
	munmap(area, 5 * HUGE);
	show("unmapped", p);

	s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	s[0] = 1;
	show("shared written", s);
	munmap(s, 2 * PG);

	n = pread(fd, buf, 8, 4);
	printf("offset 4: %zd %s\n", n, strerror(errno));
	n = pread(fd, buf, 12, 0);
	printf("count 12: %zd %s\n", n, strerror(errno));
	close(fd);
	return 0;
}
