/*
 * forkbench: what a fork costs a process that has touched MiB of private
 * anonymous memory. It maps MiB, writes every page, then times ROUNDS
 * cycles of fork, the child's _exit(0) and the parent's waitpid: each fork
 * must make the child's copy-on-write view of every page, each exit and
 * wait must take it apart again. Built against glibc (forkbench-glibc)
 * and musl (forkbench-musl).
 *
 * It prints one line, "MiB MiB: X ns/fork over ROUNDS forks"; with
 * --check it prints instead only what does not depend on timing (the
 * forks made and whether every child saw the parent's pages and the
 * parent's pages still hold what it wrote), so that a run under mmvm
 * compares with the native one. In --check mode each child reads every
 * page before it exits.
 *
 *   forkbench MiB ROUNDS [--check]    e.g. forkbench 64 200
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* pages_hold reports whether the first word of every page of mem holds
 * the page's number plus one, as main wrote it. */
static int pages_hold(const uint64_t *mem, size_t pages)
{
	for (size_t i = 0; i < pages; i++)
		if (mem[i * (PAGE / 8)] != i + 1)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	int check = argc > 1 && strcmp(argv[argc - 1], "--check") == 0;
	int nargs = argc - check;
	long mib = nargs > 1 ? atol(argv[1]) : 0;
	long rounds = nargs > 2 ? atol(argv[2]) : 0;
	if (nargs != 3 || mib <= 0 || mib > 4096 || rounds <= 0) {
		fprintf(stderr, "usage: forkbench MiB ROUNDS [--check]\n");
		return 2;
	}
	size_t size = (size_t)mib << 20, pages = size / PAGE;
	uint64_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		printf("FAIL: mmap %ld MiB: %s\n", mib, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < pages; i++)
		mem[i * (PAGE / 8)] = i + 1;

	fflush(NULL);
	long bad = 0;
	uint64_t start = now_ns();
	for (long r = 0; r < rounds; r++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(check && !pages_hold(mem, pages) ? 1 : 0);
		if (pid < 0) {
			printf("FAIL: fork: %s\n", strerror(errno));
			return 1;
		}
		int st;
		if (waitpid(pid, &st, 0) != pid) {
			printf("FAIL: waitpid: %s\n", strerror(errno));
			return 1;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	uint64_t took = now_ns() - start;
	int ok = bad == 0 && pages_hold(mem, pages);
	if (check)
		printf("%ld MiB: %ld forks, pages %s\n", mib, rounds, ok ? "right" : "WRONG");
	else
		printf("%ld MiB: %.1f ns/fork over %ld forks\n", mib, (double)took / rounds, rounds);
	return ok ? 0 : 1;
}
