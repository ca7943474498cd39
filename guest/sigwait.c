/*
 * sigwait: sigwaitinfo, sigtimedwait (rt_sigtimedwait) and signalfd, built
 * against musl (sigwait-musl) and glibc (sigwait-glibc): the signal taken
 * and its siginfo (code, sender, a timer's value, a child's status), the
 * order of several, timeouts (EAGAIN), a handled signal ending the wait
 * (EINTR), the argument checks, a signal pending on another thread
 * (not taken) or on the process (taken by whichever thread waits); a
 * signalfd's reads, its set's update, poll, epoll, fdinfo and its /proc
 * link. Every line is the same natively and under mmvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static const char *name(int sig) {
	static char b[32];
	if (sig >= SIGRTMIN)
		snprintf(b, sizeof b, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(b, sizeof b, "%s", sig == SIGUSR1 ? "SIGUSR1" : sig == SIGUSR2 ? "SIGUSR2" : sig == SIGCHLD ? "SIGCHLD" : "other");
	return b;
}

static void took(const char *what, int r, const siginfo_t *si) {
	if (r < 0) {
		printf("%s: -1 %s\n", what, strerror(errno));
		return;
	}
	printf("%s: %s code %d pid %s uid %d\n", what, name(r), si->si_code,
	       si->si_pid == getpid() ? "self" : si->si_pid == 0 ? "0" : "other", (int)si->si_uid);
}

static long ms_since(struct timespec *t0) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static volatile int alarms;
static void on_alarm(int sig) { (void)sig, alarms++; }

static sigset_t waitset;
static pthread_t main_thread;

static void *waiter(void *arg) {
	(void)arg;
	siginfo_t si;
	int r = sigwaitinfo(&waitset, &si);
	took("thread took", r, &si);
	return NULL;
}

static void *other(void *arg) {
	(void)arg;
	struct timespec zero = {0, 0};
	siginfo_t si;
	pthread_kill(main_thread, SIGUSR2);
	took("thread: main's signal", sigtimedwait(&waitset, &si, &zero), &si);
	return NULL;
}

static void *later(void *arg) {
	usleep(20000);
	kill(getpid(), (int)(intptr_t)arg);
	return NULL;
}

static void sigtimedwait_calls(void) {
	siginfo_t si;
	struct timespec zero = {0, 0}, t0;
	raise(SIGUSR1);
	took("raise", sigwaitinfo(&waitset, &si), &si);
	kill(getpid(), SIGUSR2);
	took("kill", sigwaitinfo(&waitset, &si), &si);
	raise(SIGUSR2);
	raise(SIGUSR1);
	took("two: first", sigtimedwait(&waitset, &si, &zero), &si);
	took("two: second", sigtimedwait(&waitset, &si, &zero), &si);
	took("none, timeout 0", sigtimedwait(&waitset, &si, &zero), &si);
	struct timespec t30 = {0, 30000000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	took("none, timeout 30ms", sigtimedwait(&waitset, &si, &t30), &si);
	printf("  waited 30ms: %s\n", ms_since(&t0) >= 30 ? "yes" : "no");
	struct timespec bad = {0, 1000000000}, negative = {-1, 0};
	took("nsec 1e9", sigtimedwait(&waitset, &si, &bad), &si);
	took("sec -1", sigtimedwait(&waitset, &si, &negative), &si);
	show("sigsetsize 4", syscall(SYS_rt_sigtimedwait, &waitset, &si, &zero, 4));
	show("set unmapped", syscall(SYS_rt_sigtimedwait, (void *)8, &si, &zero, 8));
	show("timeout unmapped", syscall(SYS_rt_sigtimedwait, &waitset, &si, (void *)8, 8));
	raise(SIGUSR1);
	show("info unmapped", syscall(SYS_rt_sigtimedwait, &waitset, (void *)8, &zero, 8));
	show("  taken anyway", syscall(SYS_rt_sigtimedwait, &waitset, NULL, &zero, 8));
	raise(SIGUSR1);
	show("info NULL", sigtimedwait(&waitset, NULL, &zero));

	raise(SIGRTMIN + 1);
	raise(SIGRTMIN + 1);
	raise(SIGRTMIN);
	took("real-time 1", sigtimedwait(&waitset, &si, &zero), &si);
	took("real-time 2", sigtimedwait(&waitset, &si, &zero), &si);
	took("real-time 3", sigtimedwait(&waitset, &si, &zero), &si);
	took("real-time 4", sigtimedwait(&waitset, &si, &zero), &si);

	signal(SIGALRM, on_alarm);
	struct itimerval it = {{0, 0}, {0, 20000}};
	setitimer(ITIMER_REAL, &it, NULL);
	struct timespec t2 = {2, 0};
	took("handled SIGALRM during the wait", sigtimedwait(&waitset, &si, &t2), &si);
	printf("  handler ran %d\n", alarms);

	signal(SIGUSR2, SIG_IGN);
	raise(SIGUSR2);
	took("ignored but blocked", sigtimedwait(&waitset, &si, &zero), &si);
	pthread_t th;
	pthread_create(&th, NULL, later, (void *)(intptr_t)SIGUSR2);
	took("ignored, sent during the wait", sigtimedwait(&waitset, &si, &t2), &si);
	pthread_join(th, NULL);
	signal(SIGUSR2, SIG_DFL);

	main_thread = pthread_self();
	pthread_create(&th, NULL, waiter, NULL);
	usleep(20000);
	kill(getpid(), SIGUSR1);
	pthread_join(th, NULL);
	pthread_create(&th, NULL, other, NULL);
	pthread_join(th, NULL);
	took("main: its own", sigtimedwait(&waitset, &si, &zero), &si);

	timer_t tm;
	struct sigevent ev = {0};
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGUSR1;
	ev.sigev_value.sival_int = 42;
	timer_create(CLOCK_MONOTONIC, &ev, &tm);
	struct itimerspec its = {{0, 0}, {0, 10000000}};
	timer_settime(tm, 0, &its, NULL);
	int r = sigwaitinfo(&waitset, &si);
	printf("timer: %s code %d value %d\n", name(r), si.si_code, si.si_value.sival_int);
	timer_delete(tm);

	pid_t child = fork();
	if (child == 0)
		_exit(3);
	r = sigwaitinfo(&waitset, &si);
	printf("child: %s code %d pid %s status %d\n", name(r), si.si_code, si.si_pid == child ? "child" : "other", si.si_status);
	waitpid(child, NULL, 0);
}

static void read_sfd(const char *what, int fd, size_t n) {
	struct signalfd_siginfo ss[4];
	memset(ss, 0, sizeof ss);
	long r = read(fd, ss, n);
	if (r < 0) {
		printf("%s: -1 %s\n", what, strerror(errno));
		return;
	}
	printf("%s: %ld\n", what, r);
	for (long i = 0; i < r / (long)sizeof ss[0]; i++)
		printf("  %s code %d pid %s uid %u int %d status %d\n", name(ss[i].ssi_signo), ss[i].ssi_code,
		       ss[i].ssi_pid == (uint32_t)getpid() ? "self" : ss[i].ssi_pid == 0 ? "0" : "other", ss[i].ssi_uid,
		       ss[i].ssi_int, ss[i].ssi_status);
}

static void signalfd_calls(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 1);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	show("signalfd", fd >= 0 ? 0 : -1);
	printf("  O_NONBLOCK %d FD_CLOEXEC %d O_RDWR %d\n", !!(fcntl(fd, F_GETFL) & O_NONBLOCK), fcntl(fd, F_GETFD),
	       (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	read_sfd("read, none pending", fd, sizeof(struct signalfd_siginfo));
	struct pollfd pfd = {fd, POLLIN, 0};
	show("poll, none pending", poll(&pfd, 1, 0));
	raise(SIGUSR1);
	show("poll, one pending", poll(&pfd, 1, 0));
	printf("  revents %#x\n", pfd.revents);
	read_sfd("read 100 bytes", fd, 100);
	read_sfd("read one", fd, sizeof(struct signalfd_siginfo));
	raise(SIGRTMIN + 1);
	raise(SIGUSR1);
	raise(SIGRTMIN + 1);
	raise(SIGUSR2);
	read_sfd("read four", fd, 4 * sizeof(struct signalfd_siginfo));
	siginfo_t si;
	struct timespec zero = {0, 0};
	took("  SIGUSR2 still pending", sigtimedwait(&waitset, &si, &zero), &si);

	char link[64] = {0}, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	readlink(path, link, sizeof link - 1);
	printf("link: %s\n", link);
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	char line[128];
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "sigmask", 7))
			printf("fdinfo %s", line);
	if (f)
		fclose(f);

	int ep = epoll_create1(0);
	struct epoll_event e = {EPOLLIN, {.u32 = 7}}, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
	show("epoll_wait, none pending", epoll_wait(ep, &got, 1, 0));
	raise(SIGRTMIN + 1);
	show("epoll_wait, one pending", epoll_wait(ep, &got, 1, 0));
	printf("  events %#x data %u\n", got.events, got.data.u32);
	read_sfd("read it", fd, sizeof(struct signalfd_siginfo));
	close(ep);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	show("signalfd update", signalfd(fd, &set, 0) == fd ? 0 : -1);
	raise(SIGUSR1);
	read_sfd("read SIGUSR1 after the update", fd, sizeof(struct signalfd_siginfo));
	took("  SIGUSR1 still pending", sigtimedwait(&waitset, &si, &zero), &si);
	show("write", write(fd, &set, 8));
	int p[2];
	pipe(p);
	show("signalfd on a pipe", signalfd(p[0], &set, 0));
	show("signalfd on a closed fd", signalfd(99, &set, 0));
	show("signalfd bad flags", signalfd(-1, &set, 1));
	show("signalfd sigsetsize 4", syscall(SYS_signalfd4, -1, &set, 4, 0));
	show("signalfd set unmapped", syscall(SYS_signalfd4, -1, (void *)8, 8, 0));

	int blocking = signalfd(-1, &set, 0);
	pthread_t th;
	pthread_create(&th, NULL, later, (void *)(intptr_t)SIGUSR2);
	read_sfd("blocking read", blocking, sizeof(struct signalfd_siginfo));
	pthread_join(th, NULL);

	timer_t tm;
	struct sigevent ev = {0};
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGUSR2;
	ev.sigev_value.sival_int = 77;
	timer_create(CLOCK_MONOTONIC, &ev, &tm);
	struct itimerspec its = {{0, 0}, {0, 10000000}};
	timer_settime(tm, 0, &its, NULL);
	read_sfd("timer", blocking, sizeof(struct signalfd_siginfo));
	timer_delete(tm);
	close(blocking);
	close(fd);
	close(p[0]);
	close(p[1]);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	sigemptyset(&waitset);
	sigaddset(&waitset, SIGUSR1);
	sigaddset(&waitset, SIGUSR2);
	sigaddset(&waitset, SIGRTMIN);
	sigaddset(&waitset, SIGRTMIN + 1);
	sigaddset(&waitset, SIGCHLD);
	sigprocmask(SIG_BLOCK, &waitset, NULL);
	sigtimedwait_calls();
	signalfd_calls();
	return 0;
}
