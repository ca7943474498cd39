/*
 * timers: the asynchronous signal sources, built against musl
 * (timers-musl) and glibc (timers-glibc): alarm and pause, alarm's
 * rounding of the seconds left, a setitimer interval timer counted in
 * its handler, getitimer, a POSIX timer (timer_create with SIGEV_SIGNAL
 * and si_value, relative and TIMER_ABSTIME, timer_gettime,
 * timer_getoverrun, timer_delete), a signal reaching a busy loop,
 * SIGEV_THREAD_ID to the calling thread,
 * and SA_RESTART restarting a read of a pipe that SIGALRM interrupted
 * (the handler writes the byte the restarted read then gets). Every line
 * it prints is the same natively and under mmvm: times are printed only
 * as checks against bounds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;
static volatile int info_signo, info_code, info_value, info_count;
static int pipe_w = -1;

static void on_alarm(int sig) {
	(void)sig;
	alarms++;
	if (pipe_w >= 0) {
		char c = 'x';
		if (write(pipe_w, &c, 1) != 1)
			_exit(3);
	}
}

static void on_info(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	info_signo = sig;
	info_code = si->si_code;
	info_value = si->si_value.sival_int;
	info_count++;
}

static void handle(int sig, void (*fn)(int), int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		perror("sigaction");
}

static void handle_info(int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		perror("sigaction");
}

static long long now_ns(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* wait_for blocks in sigsuspend until *n reaches want. */
static void wait_for(volatile sig_atomic_t *n, int want) {
	sigset_t none;
	sigemptyset(&none);
	while (*n < want)
		sigsuspend(&none);
}

static void alarm_and_pause(void) {
	handle(SIGALRM, on_alarm, 0);
	unsigned first = alarm(10);
	unsigned left = alarm(0);
	printf("alarm: first %u, left after alarm(10) %u, disarmed %u\n", first, left, alarm(0));
	long long start = now_ns(CLOCK_MONOTONIC);
	alarm(1);
	int r = pause();
	int e = errno;
	long long took = now_ns(CLOCK_MONOTONIC) - start;
	printf("pause: %d %s, alarms %d, after at least 1s %d\n", r, strerror(e), (int)alarms, took >= 1000000000LL);
}

static void interval_timer(void) {
	alarms = 0;
	struct itimerval it = {{0, 20000}, {0, 30000}}, old, cur;
	long long start = now_ns(CLOCK_MONOTONIC);
	if (setitimer(ITIMER_REAL, &it, &old) != 0)
		perror("setitimer");
	getitimer(ITIMER_REAL, &cur);
	printf("setitimer: old %ld.%06ld/%ld.%06ld; interval %ld.%06ld, value within (0, 30ms] %d\n",
	       (long)old.it_value.tv_sec, (long)old.it_value.tv_usec, (long)old.it_interval.tv_sec, (long)old.it_interval.tv_usec,
	       (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec,
	       cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 30000);
	wait_for(&alarms, 3);
	long long took = now_ns(CLOCK_MONOTONIC) - start;
	struct itimerval zero = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &zero, &old);
	/* Another expiry may land between the wait and the disarm on a
	 * loaded machine, so the count is checked as a lower bound. */
	printf("setitimer: at least 3 alarms %d, after at least 70ms %d; old interval %ld.%06ld, value within (0, 20ms] %d\n", alarms >= 3,
	       took >= 70000000LL, (long)old.it_interval.tv_sec, (long)old.it_interval.tv_usec,
	       old.it_value.tv_sec == 0 && old.it_value.tv_usec > 0 && old.it_value.tv_usec <= 20000);
	errno = 0;
	int r = getitimer(3, &cur);
	printf("getitimer(3): %d %s\n", r, strerror(errno));
}

/* A timer's signal reaches a thread that runs guest code and makes no
 * system call. */
static void busy_loop(void) {
	alarms = 0;
	struct itimerval it = {{0, 0}, {0, 20000}};
	setitimer(ITIMER_REAL, &it, NULL);
	unsigned long spins = 0;
	while (alarms == 0)
		spins++;
	printf("busy loop: interrupted by %d alarm, spun %d\n", (int)alarms, spins > 0);
}

static void posix_timer(void) {
	int sig = SIGRTMIN + 1;
	handle_info(sig);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = 4242;
	timer_t id;
	if (timer_create(CLOCK_MONOTONIC, &ev, &id) != 0)
		perror("timer_create");
	struct itimerspec cur, spec = {{0, 0}, {0, 25000000}};
	timer_gettime(id, &cur);
	printf("timer: disarmed reads %ld.%09ld/%ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec,
	       (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, &old);
	long long start = now_ns(CLOCK_MONOTONIC);
	timer_settime(id, 0, &spec, NULL);
	timer_gettime(id, &cur);
	printf("timer: armed value within (0, 25ms] %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 25000000);
	sigsuspend(&old);
	long long took = now_ns(CLOCK_MONOTONIC) - start;
	printf("timer: signal SIGRTMIN+%d code SI_TIMER %d value %d count %d, after at least 25ms %d, overrun %d\n",
	       info_signo - SIGRTMIN, info_code == SI_TIMER, info_value, info_count, took >= 25000000LL, timer_getoverrun(id));

	/* TIMER_ABSTIME on CLOCK_REALTIME: the signal comes no earlier than
	 * clock_gettime says it should. */
	timer_t rid;
	ev.sigev_value.sival_int = 7;
	if (timer_create(CLOCK_REALTIME, &ev, &rid) != 0)
		perror("timer_create");
	long long at = now_ns(CLOCK_REALTIME) + 30000000LL;
	struct itimerspec abs = {{0, 0}, {at / 1000000000LL, at % 1000000000LL}};
	timer_settime(rid, TIMER_ABSTIME, &abs, NULL);
	sigsuspend(&old);
	printf("timer: abstime value %d count %d, not before its time %d\n", info_value, info_count, now_ns(CLOCK_REALTIME) >= at);

	/* A 1 ms interval while the signal is blocked: the expiries that
	 * find it pending are overruns. */
	struct itimerspec fast = {{0, 1000000}, {0, 1000000}};
	timer_settime(id, 0, &fast, NULL);
	struct timespec wait = {0, 30000000};
	nanosleep(&wait, NULL);
	sigsuspend(&old);
	int over = timer_getoverrun(id);
	struct itimerspec stop = {{0, 0}, {0, 0}}, was;
	timer_settime(id, 0, &stop, &was);
	printf("timer: overrun at least 10 %d, count %d, old interval %ld.%09ld\n", over >= 10, info_count,
	       (long)was.it_interval.tv_sec, was.it_interval.tv_nsec);
	sigprocmask(SIG_SETMASK, &old, NULL);

	struct itimerspec bad = {{0, 0}, {0, 1000000000}};
	errno = 0;
	int r = timer_settime(id, 0, &bad, NULL);
	printf("timer_settime(nsec 1e9): %d %s\n", r, strerror(errno));
	printf("timer_delete: %d %d\n", timer_delete(id), timer_delete(rid));
	int kid;
	errno = 0;
	r = syscall(SYS_timer_create, 99, NULL, &kid);
	printf("timer_create(clock 99): %d %s\n", r, strerror(errno));
	errno = 0;
	r = syscall(SYS_timer_gettime, 12345, &cur);
	printf("timer_gettime(no timer): %d %s\n", r, strerror(errno));
}

/* The kernel's struct sigevent, for SIGEV_THREAD_ID, which the libcs
 * spell differently. */
struct ksigevent {
	union sigval value;
	int signo, notify, tid;
	int pad[11];
};

static void thread_timer(void) {
	int sig = SIGRTMIN + 2;
	handle_info(sig);
	struct ksigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.value.sival_int = 99;
	ev.signo = sig;
	ev.notify = 4; /* SIGEV_THREAD_ID */
	ev.tid = (int)syscall(SYS_gettid);
	int kid;
	if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &kid) != 0)
		perror("timer_create(SIGEV_THREAD_ID)");
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, &old);
	struct itimerspec spec = {{0, 0}, {0, 10000000}};
	syscall(SYS_timer_settime, kid, 0, &spec, NULL);
	int before = info_count;
	sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("thread timer: SIGRTMIN+%d value %d code SI_TIMER %d, handled %d\n", info_signo - SIGRTMIN, info_value,
	       info_code == SI_TIMER, info_count - before);
	ev.tid = 0x3fffffff;
	errno = 0;
	int r = syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &kid);
	printf("timer_create(no such thread): %d %s\n", r, strerror(errno));
}

/* read of a pipe nobody writes, interrupted by SIGALRM whose handler
 * writes a byte: restarted under SA_RESTART (the read gets the byte),
 * EINTR without it. */
static void restart_read(int flags) {
	int p[2];
	if (pipe(p) != 0)
		perror("pipe");
	pipe_w = p[1];
	alarms = 0;
	handle(SIGALRM, on_alarm, flags);
	struct itimerval it = {{0, 0}, {0, 30000}};
	setitimer(ITIMER_REAL, &it, NULL);
	char c = 0;
	errno = 0;
	ssize_t n = read(p[0], &c, 1);
	int e = errno;
	if (n < 0 && read(p[0], &c, 1) != 1)
		c = '?';
	printf("read %s: %zd %s, alarms %d, byte %c\n", flags & SA_RESTART ? "SA_RESTART" : "no SA_RESTART", n,
	       n < 0 ? strerror(e) : "ok", (int)alarms, c);
	pipe_w = -1;
	close(p[0]);
	close(p[1]);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm_and_pause();
	interval_timer();
	busy_loop();
	posix_timer();
	thread_timer();
	restart_read(SA_RESTART);
	restart_read(0);
	return 0;
}
