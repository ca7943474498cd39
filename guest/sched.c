/* sched: the scheduling-policy calls (sched_{get,set}scheduler,
 * sched_{get,set}param, sched_get_priority_{max,min},
 * sched_rr_get_interval, sched_{get,set}attr) and the file-hint calls
 * (fadvise64, readahead, sync_file_range), as programs such as chrt and
 * glibc's pthread attributes make them, with Linux's answers and errors;
 * the policy a fork inherits, or not (SCHED_RESET_ON_FORK). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "include/errname.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};


static void show(const char *what) {
	struct sched_param sp = {.sched_priority = -7};
	long pol = syscall(SYS_sched_getscheduler, 0);
	long rc = syscall(SYS_sched_getparam, 0, &sp);
	struct attr at;
	memset(&at, 0xa5, sizeof at);
	long ra = syscall(SYS_sched_getattr, 0, &at, sizeof at, 0);
	printf("%s: policy %s param %s prio %d; getattr %s size %u policy %u flags %#lx nice %d prio %u "
	       "runtime %lu deadline %lu period %lu util %u-%u\n",
	       what, res(pol), res(rc), sp.sched_priority, res(ra), at.size, at.policy, (unsigned long)at.flags, at.nice,
	       at.priority, (unsigned long)at.runtime, (unsigned long)at.deadline, (unsigned long)at.period, at.util_min,
	       at.util_max);
}

static long setsched(int policy, int prio) {
	struct sched_param sp = {.sched_priority = prio};
	return syscall(SYS_sched_setscheduler, 0, policy, &sp);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int p = -1; p <= 6; p++)
		printf("policy %d: max %s", p, res(syscall(SYS_sched_get_priority_max, p))),
		    printf(" min %s\n", res(syscall(SYS_sched_get_priority_min, p)));
	show("start");
	printf("getscheduler -1: %s\n", res(syscall(SYS_sched_getscheduler, -1)));
	printf("getscheduler 999999: %s\n", res(syscall(SYS_sched_getscheduler, 999999)));
	printf("getparam NULL: %s\n", res(syscall(SYS_sched_getparam, 0, NULL)));
	printf("getparam bad pointer: %s\n", res(syscall(SYS_sched_getparam, 0, (void *)8)));
	printf("setscheduler OTHER prio 1: %s\n", res(setsched(SCHED_OTHER, 1)));
	printf("setscheduler FIFO prio 0: %s\n", res(setsched(SCHED_FIFO, 0)));
	printf("setscheduler FIFO prio 100: %s\n", res(setsched(SCHED_FIFO, 100)));
	printf("setscheduler policy 4: %s\n", res(setsched(4, 0)));
	printf("setscheduler DEADLINE: %s\n", res(setsched(SCHED_DEADLINE, 0)));
	printf("setscheduler NULL param: %s\n", res(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL)));
	printf("setscheduler BATCH: %s\n", res(setsched(SCHED_BATCH, 0)));
	show("batch");
	printf("setscheduler IDLE|RESET_ON_FORK: %s\n", res(setsched(SCHED_IDLE | SCHED_RESET_ON_FORK, 0)));
	show("idle");
	printf("setscheduler RR 10: %s\n", res(setsched(SCHED_RR, 10)));
	show("rr");
	struct timespec ts = {-1, -1};
	long rc = syscall(SYS_sched_rr_get_interval, 0, &ts);
	printf("rr_get_interval under RR: %s %ld.%09ld\n", res(rc), (long)ts.tv_sec, ts.tv_nsec);
	struct sched_param sp = {.sched_priority = 20};
	printf("setparam 20: %s\n", res(syscall(SYS_sched_setparam, 0, &sp)));
	show("rr 20");
	sp.sched_priority = 0;
	printf("setparam 0 under RR: %s\n", res(syscall(SYS_sched_setparam, 0, &sp)));
	printf("setscheduler FIFO 5|RESET_ON_FORK: %s\n", res(setsched(SCHED_FIFO | SCHED_RESET_ON_FORK, 5)));
	show("fifo");
	ts.tv_sec = ts.tv_nsec = -1;
	rc = syscall(SYS_sched_rr_get_interval, 0, &ts);
	printf("rr_get_interval under FIFO: %s %ld.%09ld\n", res(rc), (long)ts.tv_sec, ts.tv_nsec);
	pid_t pid = fork();
	if (pid == 0) {
		show("child of a RESET_ON_FORK parent");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("setscheduler FIFO 5 (no reset): %s\n", res(setsched(SCHED_FIFO, 5)));
	pid = fork();
	if (pid == 0) {
		show("child");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("rr_get_interval bad pointer: %s\n", res(syscall(SYS_sched_rr_get_interval, 0, (void *)8)));
	printf("rr_get_interval -1: %s\n", res(syscall(SYS_sched_rr_get_interval, -1, &ts)));

	/* sched_setattr. */
	struct attr at = {.size = sizeof at, .policy = SCHED_OTHER, .nice = 5};
	printf("setattr OTHER nice 5: %s\n", res(syscall(SYS_sched_setattr, 0, &at, 0)));
	show("setattr");
	ts.tv_sec = ts.tv_nsec = -1;
	rc = syscall(SYS_sched_rr_get_interval, 0, &ts);
	printf("rr_get_interval under OTHER: %s, written: %d\n", res(rc), ts.tv_sec >= 0 && ts.tv_nsec >= 0);
	printf("getpriority after: %d\n", 20 - (int)syscall(SYS_getpriority, PRIO_PROCESS, 0));
	at.size = 40;
	rc = syscall(SYS_sched_setattr, 0, &at, 0);
	printf("setattr size 40: %s, size now %u\n", res(rc), at.size);
	at.size = 0;
	printf("setattr size 0 (the first version): %s\n", res(syscall(SYS_sched_setattr, 0, &at, 0)));
	at.size = sizeof at;
	printf("setattr flags 1: %s\n", res(syscall(SYS_sched_setattr, 0, &at, 1)));
	at.flags = 0x1000;
	printf("setattr sched_flags 0x1000: %s\n", res(syscall(SYS_sched_setattr, 0, &at, 0)));
	at.flags = 0;
	at.nice = 40;
	printf("setattr nice 40: %s\n", res(syscall(SYS_sched_setattr, 0, &at, 0)));
	show("nice 40");
	at.nice = 0;
	at.policy = 9;
	printf("setattr policy 9: %s\n", res(syscall(SYS_sched_setattr, 0, &at, 0)));
	printf("getattr size 10: %s\n", res(syscall(SYS_sched_getattr, 0, &at, 10, 0)));
	printf("getattr flags 1: %s\n", res(syscall(SYS_sched_getattr, 0, &at, sizeof at, 1)));
	{
		unsigned char big[128];
		memset(big, 0xee, sizeof big);
		long rc = syscall(SYS_sched_getattr, 0, big, sizeof big, 0);
		printf("getattr size 128: %s size field %u\n", res(rc), *(uint32_t *)big);
		memset(big, 0, sizeof big);
		*(uint32_t *)big = 128;
		big[100] = 1;
		rc = syscall(SYS_sched_setattr, 0, big, 0);
		printf("setattr with nonzero bytes past the struct: %s, size now %u\n", res(rc), *(uint32_t *)big);
	}

	/* File hints. */
	int fd = open("/proc/self/exe", O_RDONLY);
	int p[2];
	pipe(p);
	printf("fadvise SEQUENTIAL: %d\n", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
	printf("fadvise advice 9: %d\n", posix_fadvise(fd, 0, 0, 9));
	printf("fadvise len -1: %s\n", res(syscall(SYS_fadvise64, fd, 0, -1L, POSIX_FADV_NORMAL)));
	printf("fadvise pipe: %d\n", posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL));
	printf("fadvise bad fd: %d\n", posix_fadvise(99, 0, 0, POSIX_FADV_NORMAL));
	printf("readahead: %s\n", res(readahead(fd, 0, 4096)));
	printf("readahead pipe: %s\n", res(readahead(p[0], 0, 4096)));
	printf("readahead write-only: %s\n", res(readahead(p[1], 0, 4096)));
	printf("sync_file_range: %s\n", res(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)));
	printf("sync_file_range flags 8: %s\n", res(sync_file_range(fd, 0, 0, 8)));
	printf("sync_file_range offset -1: %s\n", res(sync_file_range(fd, -1, 0, 0)));
	printf("sync_file_range pipe: %s\n", res(sync_file_range(p[0], 0, 0, 0)));
	return 0;
}
