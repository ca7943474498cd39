/*
 * shootbench: what a TLB shootdown costs the thread that narrows a
 * translation while other threads run. N-1 threads spin in user mode
 * (arithmetic on a page of their own, no system call) while the main
 * thread times K pairs of mprotect(PROT_READ) and mprotect(PROT_READ |
 * PROT_WRITE) of one page, each pair followed by a write to the page.
 * Each pair narrows the page's translation once (the PROT_READ), so each
 * costs one shootdown of every other CPU the process runs on. Built
 * against glibc (shootbench-glibc) and musl (shootbench-musl).
 *
 * It prints, for each N given, the nanoseconds per pair; with --check it
 * prints instead only what does not depend on timing (the pairs made and
 * whether the page and every spinner's page hold what they must), so that
 * a run under mmvm compares with the native one.
 *
 *   shootbench K N... [--check]    e.g. shootbench 2000 1 2 4 8
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096
#define MAXTHREADS 64

/* spinner is one spinning thread's state; its page is its own memory. */
struct spinner {
	pthread_t th;
	uint64_t *page;
	uint64_t rounds; /* rounds of the page it made, read after the join */
};

static volatile int started; /* spinners in their loop (atomic adds) */
static volatile int stop;    /* set by main when the pairs are done */

static void *spin(void *arg)
{
	struct spinner *s = arg;
	uint64_t rounds = 0;
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		/* One round: every word of its page plus one. */
		for (int i = 0; i < PAGE / 8; i++)
			s->page[i] += 1;
		rounds++;
	}
	s->rounds = rounds;
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void *map_page(void)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("FAIL: mmap: %s\n", strerror(errno));
		exit(1);
	}
	return p;
}

/* pairs makes k narrowing pairs on a fresh page with n-1 spinners running
 * and returns the nanoseconds they took; it exits on any error. */
static uint64_t pairs(int n, long k, int check)
{
	struct spinner sp[MAXTHREADS];
	__atomic_store_n(&stop, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&started, 0, __ATOMIC_SEQ_CST);
	for (int i = 0; i < n - 1; i++) {
		sp[i].page = map_page();
		sp[i].rounds = 0;
		int err = pthread_create(&sp[i].th, NULL, spin, &sp[i]);
		if (err != 0) {
			printf("FAIL: pthread_create: %s\n", strerror(err));
			exit(1);
		}
	}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < n - 1)
		sched_yield();
	volatile uint64_t *page = map_page();
	page[0] = 0;
	uint64_t start = now_ns();
	for (long i = 0; i < k; i++) {
		if (mprotect((void *)page, PAGE, PROT_READ) != 0 ||
		    mprotect((void *)page, PAGE, PROT_READ | PROT_WRITE) != 0) {
			printf("FAIL: mprotect: %s\n", strerror(errno));
			exit(1);
		}
		page[0]++;
	}
	uint64_t took = now_ns() - start;
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	int ok = page[0] == (uint64_t)k;
	for (int i = 0; i < n - 1; i++) {
		pthread_join(sp[i].th, NULL);
		/* Every word of a spinner's page went up once a round (a
		 * round cut short by stop still finished its words). */
		for (int w = 0; w < PAGE / 8; w++)
			if (sp[i].page[w] != sp[i].rounds)
				ok = 0;
		munmap(sp[i].page, PAGE);
	}
	munmap((void *)page, PAGE);
	if (check)
		printf("%d thread(s): %ld pairs, pages %s\n", n, k, ok ? "right" : "WRONG");
	else
		printf("%d thread(s): %.1f ns/pair over %ld pairs\n", n, (double)took / k, k);
	if (!ok)
		exit(1);
	return took;
}

int main(int argc, char **argv)
{
	int check = argc > 1 && strcmp(argv[argc - 1], "--check") == 0;
	int nargs = argc - check;
	long k = nargs > 1 ? atol(argv[1]) : 0;
	if (k <= 0 || nargs < 3) {
		fprintf(stderr, "usage: shootbench K N... [--check]\n");
		return 2;
	}
	for (int a = 2; a < nargs; a++) {
		int n = atoi(argv[a]);
		if (n < 1 || n > MAXTHREADS) {
			fprintf(stderr, "shootbench: N %s: want 1..%d\n", argv[a], MAXTHREADS);
			return 2;
		}
		pairs(n, k, check);
	}
	return 0;
}
