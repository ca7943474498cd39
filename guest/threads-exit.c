/*
 * threads-exit: how a process with several threads ends, built against
 * glibc (threads-exit-glibc) and musl (threads-exit-musl). argv[1] picks
 * the case; each prints what it did (flushed before it can be lost) and
 * ends with the status Linux gives it:
 *   main-exit    main calls pthread_exit; the process lives on in another
 *                thread, which joins main (glibc: the kernel clears main's
 *                tid on its exit) or waits, then prints and exit(3)s (3)
 *   thread-exit  a thread calls exit(7) while main blocks in pthread_join,
 *                another thread blocks in read and another spins (7)
 *   abort        a thread calls abort() while main blocks in join (134)
 *   segv         a thread dereferences NULL, no handler: the whole
 *                process dies of SIGSEGV (139)
 *   overflow     a thread recurses into the guard page below its stack:
 *                SIGSEGV kills the process (139)
 *   main-return  main returns 5 while threads block and spin (5)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void must(int err, const char *what)
{
	if (err != 0) {
		printf("FAIL: %s: %s\n", what, strerror(err));
		exit(1);
	}
}

static void say(const char *line)
{
	fputs(line, stdout);
	fflush(stdout);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Threads that must be ended by the process's end: one blocked in a
 * system call (read of a pipe nobody writes), one spinning in user mode. */
static int pipefd[2];
static volatile int spinning;

static void *blocked_reader(void *arg)
{
	char c;
	(void)arg;
	ssize_t n = read(pipefd[0], &c, 1);
	printf("FAIL: read returned %zd\n", n);
	fflush(stdout);
	return NULL;
}

static void *spinner(void *arg)
{
	(void)arg;
	for (;;)
		spinning = 1;
	return NULL;
}

static void start_bystanders(void)
{
	pthread_t r, s;
	if (pipe(pipefd) != 0) {
		perror("pipe");
		exit(1);
	}
	must(pthread_create(&r, NULL, blocked_reader, NULL), "pthread_create");
	must(pthread_create(&s, NULL, spinner, NULL), "pthread_create");
	while (!spinning)
		sched_yield();
}

static pthread_t main_thread;
static sem_t main_leaving;

static void *outlive_main(void *arg)
{
	(void)arg;
	while (sem_wait(&main_leaving) != 0)
		;
#ifdef __GLIBC__
	/* glibc's main thread is joinable and the kernel clears its tid
	 * (set_tid_address) when it exits. */
	void *ret;
	must(pthread_join(main_thread, &ret), "pthread_join main");
	printf("joined main: value %lu\n", (unsigned long)(uintptr_t)ret);
#else
	/* musl points main's clear-tid address elsewhere: give it time. */
	sleep_ms(50);
	printf("main has had time to exit\n");
#endif
	printf("thread: pid unchanged %d\n", getpid() == (pid_t)(uintptr_t)arg);
	say("thread exits the process with 3\n");
	exit(3);
}

static void main_exit(void)
{
	pthread_t th;
	main_thread = pthread_self();
	must(sem_init(&main_leaving, 0, 0), "sem_init");
	must(pthread_create(&th, NULL, outlive_main, (void *)(uintptr_t)getpid()), "pthread_create");
	say("main calls pthread_exit\n");
	sem_post(&main_leaving);
	pthread_exit((void *)99);
}

/* joining is posted once main has said it joins: the thread's line comes
 * after it whatever the scheduling; the sleep then lets main get into
 * pthread_join. */
static sem_t joining;

static void wait_for_main(void)
{
	while (sem_wait(&joining) != 0)
		;
	sleep_ms(10);
}

static void *exit7(void *arg)
{
	(void)arg;
	wait_for_main();
	say("thread calls exit(7)\n");
	exit(7);
}

static void *aborter(void *arg)
{
	(void)arg;
	wait_for_main();
	say("thread calls abort()\n");
	abort();
}

static void *segv(void *arg)
{
	(void)arg;
	wait_for_main();
	say("thread dereferences NULL\n");
	return (void *)(uintptr_t) * (volatile int *)(uintptr_t)arg;
}

/* recurse ends only when depth wraps, which the guard page forestalls. */
static uintptr_t recurse(uintptr_t depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	if (depth == UINTPTR_MAX)
		return 0;
	return recurse(depth + 1) + frame[0];
}

static void *overflow(void *arg)
{
	wait_for_main();
	say("thread recurses without end\n");
	return (void *)recurse((uintptr_t)arg);
}

/* main blocks in join of a thread that ends the process. */
static void join_one(void *(*fn)(void *))
{
	pthread_t th;
	start_bystanders();
	must(sem_init(&joining, 0, 0), "sem_init");
	must(pthread_create(&th, NULL, fn, NULL), "pthread_create");
	say("main joins\n");
	sem_post(&joining);
	pthread_join(th, NULL);
	say("FAIL: join returned\n");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	if (strcmp(c, "main-exit") == 0)
		main_exit();
	else if (strcmp(c, "thread-exit") == 0)
		join_one(exit7);
	else if (strcmp(c, "abort") == 0)
		join_one(aborter);
	else if (strcmp(c, "segv") == 0)
		join_one(segv);
	else if (strcmp(c, "overflow") == 0)
		join_one(overflow);
	else if (strcmp(c, "main-return") == 0) {
		start_bystanders();
		say("main returns 5\n");
		return 5;
	}
	fprintf(stderr, "usage: threads-exit main-exit|thread-exit|abort|segv|overflow|main-return\n");
	return 2;
}
