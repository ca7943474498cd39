/*
 * firsttouch: the first touch of fresh anonymous memory (one write per
 * 4 KiB page) by one thread, then of as much again by two threads, each
 * touching its half, built against glibc (firsttouch-glibc). Each touch
 * is of a fresh mapping, unmapped before the next. The pages' words are
 * read back and summed, and the sums printed: nothing on stdout or stderr
 * depends on timing, so that a run under mmvm compares with the native
 * one. With --bench it prints, instead of the sums, the nanoseconds per
 * page of each touch (a benchmark: two threads must touch faster than one
 * where there are two CPUs to run them); it first makes one untimed touch
 * of as much with one thread, so that both timed touches follow one (the
 * first touch of a process's life also pays for what the kernel sets up
 * once, and a touch right after another finds its pages just freed).
 *
 *   firsttouch [MIB [--bench]]   MIB defaults to 256
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096
#define MAXTHREADS 2

struct part {
	char *base;
	size_t pages;
	size_t first; /* the index of base's page in the mapping */
};

static void *touch(void *arg)
{
	struct part *p = arg;
	for (size_t i = 0; i < p->pages; i++)
		*(volatile uint64_t *)(p->base + i * PAGE) = p->first + i + 1;
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* touch_with touches a fresh mapping of pages pages with n threads and
 * returns the nanoseconds it took; *sum is the sum of the words written. */
static uint64_t touch_with(size_t pages, int n, uint64_t *sum)
{
	char *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		printf("FAIL: mmap %zu pages: %s\n", pages, strerror(errno));
		exit(1);
	}
	struct part parts[MAXTHREADS];
	pthread_t th[MAXTHREADS];
	size_t each = pages / n;
	uint64_t start = now_ns();
	for (int i = 0; i < n; i++) {
		parts[i].base = m + i * each * PAGE;
		parts[i].first = i * each;
		parts[i].pages = i == n - 1 ? pages - i * each : each;
		/* The last part is touched by this thread, the others by new ones. */
		if (i < n - 1) {
			int err = pthread_create(&th[i], NULL, touch, &parts[i]);
			if (err != 0) {
				printf("FAIL: pthread_create: %s\n", strerror(err));
				exit(1);
			}
		}
	}
	touch(&parts[n - 1]);
	for (int i = 0; i < n - 1; i++)
		pthread_join(th[i], NULL);
	uint64_t took = now_ns() - start;
	uint64_t s = 0;
	for (size_t i = 0; i < pages; i++)
		s += *(volatile uint64_t *)(m + i * PAGE);
	*sum = s;
	munmap(m, pages * PAGE);
	return took;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 256;
	int bench = argc > 2 && strcmp(argv[2], "--bench") == 0;
	if (mib <= 0 || (argc > 2 && !bench)) {
		fprintf(stderr, "usage: firsttouch [MIB [--bench]]\n");
		return 2;
	}
	size_t pages = (size_t)mib << 20 >> 12;
	if (bench) {
		uint64_t sum;
		touch_with(pages, 1, &sum);
	}
	for (int n = 1; n <= MAXTHREADS; n++) {
		uint64_t sum;
		uint64_t took = touch_with(pages, n, &sum);
		uint64_t want = (uint64_t)pages * (pages + 1) / 2;
		if (bench)
			printf("%d thread(s): %.1f ns/page over %zu pages\n", n, (double)took / pages, pages);
		else
			printf("%d thread(s) touched %zu pages: sum %s\n", n, pages, sum == want ? "right" : "WRONG");
		if (sum != want)
			return 1;
	}
	return 0;
}
