/*
 * nicetimes: times(2), getpriority and setpriority, as a program asks for
 * them, printing only what is the same natively and under mmvm: that
 * times's clock advances across a sleep, its EFAULT, the nice values a
 * process sets and its forked child inherits, and the errors for an
 * unknown which or a PID no process has. Run as root (the tests' native
 * runs are), which may lower a nice value.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EINVAL: return "EINVAL";
	case ESRCH: return "ESRCH";
	case EFAULT: return "EFAULT";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOSYS: return "ENOSYS";
	}
	return "other";
}

/* prio prints getpriority's answer as libc returns it. */
static void prio(const char *what, int which, int who)
{
	errno = 0;
	int r = getpriority(which, who);
	printf("getpriority %-22s %d %s\n", what, errno ? -1 : r, errname(errno));
}

int main(void)
{
	struct tms t0, t1;
	clock_t c0 = times(&t0);
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	clock_t c1 = times(&t1);
	long tick = sysconf(_SC_CLK_TCK);
	printf("times: %s, advanced %d, within a second %d, tick %ld\n", c0 == (clock_t)-1 ? errname(errno) : "ok",
	       c1 > c0, c1 - c0 < tick, tick);
	printf("times NULL buffer: %s\n", syscall(SYS_times, NULL) == -1 ? errname(errno) : "ok");
	long r = syscall(SYS_times, (void *)8);
	printf("times bad buffer: %s\n", r == -1 ? errname(errno) : "ok");

	prio("self", PRIO_PROCESS, 0);
	prio("own pid", PRIO_PROCESS, getpid());
	printf("setpriority 5: %s\n", setpriority(PRIO_PROCESS, 0, 5) ? errname(errno) : "ok");
	prio("self after 5", PRIO_PROCESS, 0);
	printf("nice(2): %d\n", nice(2));
	printf("setpriority 100 (clamped): %s\n", setpriority(PRIO_PROCESS, 0, 100) ? errname(errno) : "ok");
	prio("self after 100", PRIO_PROCESS, 0);
	printf("setpriority -3 as root: %s\n", setpriority(PRIO_PROCESS, 0, -3) ? errname(errno) : "ok");
	/* A group of its own: Linux's answer for PRIO_PGRP (or PRIO_USER)
	 * counts every process of it, outside the VM too. */
	printf("setpgid: %s\n", setpgid(0, 0) ? errname(errno) : "ok");
	prio("own group", PRIO_PGRP, 0);
	prio("own group by id", PRIO_PGRP, getpid());
	prio("no such pid", PRIO_PROCESS, 999999);
	prio("unknown which", 7, 0);
	printf("setpriority no such pid: %s\n", setpriority(PRIO_PROCESS, 999999, 1) ? errname(errno) : "ok");
	printf("raw getpriority: %ld\n", syscall(SYS_getpriority, PRIO_PROCESS, 0));
	fflush(stdout);

	pid_t child = fork();
	if (child == 0) {
		prio("in the child", PRIO_PROCESS, 0);
		setpriority(PRIO_PROCESS, 0, -7);
		prio("group with the child", PRIO_PGRP, 0);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	prio("self after the child", PRIO_PROCESS, 0);
	return 0;
}
