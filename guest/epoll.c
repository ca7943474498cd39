// epoll: eventfd, pipes and epoll as an event loop uses them, through
// libc (built against musl and glibc): level- and edge-triggered items,
// EPOLLONESHOT, timeouts, the ctl errors, a nested instance, and a
// signal handler that writes to a pipe (the self-pipe trick) waking an
// epoll_pwait; ppoll's timeout and mask. Every line it prints must be the same natively and under
// mmvm; it prints the data of each reported event, never an fd number.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static const char *errname(int e) {
	switch (e) {
	case 0: return "ok";
	case EAGAIN: return "EAGAIN";
	case EBADF: return "EBADF";
	case EEXIST: return "EEXIST";
	case EFAULT: return "EFAULT";
	case EINTR: return "EINTR";
	case EINVAL: return "EINVAL";
	case ELOOP: return "ELOOP";
	case ENOENT: return "ENOENT";
	case EPERM: return "EPERM";
	}
	return "other";
}

// ret prints what a call returned: its value, or -1 and the errno's name.
static void ret(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
}

// report prints an epoll_wait's result and the events it returned.
static void report(const char *what, int n, struct epoll_event *ev) {
	if (n < 0) {
		printf("%s: -1 %s\n", what, errname(errno));
		return;
	}
	printf("%s: %d", what, n);
	for (int i = 0; i < n; i++)
		printf(" [%llu %s%s%s%s]", (unsigned long long)ev[i].data.u64,
		       ev[i].events & EPOLLIN ? "IN" : "", ev[i].events & EPOLLOUT ? "OUT" : "",
		       ev[i].events & EPOLLHUP ? "HUP" : "", ev[i].events & EPOLLERR ? "ERR" : "");
	printf("\n");
}

static void wait0(const char *what, int ep, int max) {
	struct epoll_event ev[8];
	memset(ev, 0, sizeof ev);
	report(what, epoll_wait(ep, ev, max, 0), ev);
}

static int add(int ep, int fd, uint32_t events, uint64_t data) {
	struct epoll_event e = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data) {
	struct epoll_event e = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

static long ms_since(struct timespec *t0) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int selfpipe[2];

static void onusr1(int sig) {
	(void)sig;
	char c = 's';
	if (write(selfpipe[1], &c, 1) != 1)
		_exit(3);
}

static void eventfds(void) {
	uint64_t v = 0;
	int e = eventfd(2, EFD_NONBLOCK | EFD_CLOEXEC);
	ret("eventfd read", read(e, &v, sizeof v));
	printf("value %llu\n", (unsigned long long)v);
	ret("eventfd read at 0", read(e, &v, sizeof v));
	ret("eventfd short read", read(e, &v, 4));
	v = 5;
	ret("eventfd write", write(e, &v, sizeof v));
	v = UINT64_MAX;
	ret("eventfd write 2^64-1", write(e, &v, sizeof v));
	v = UINT64_MAX - 6;
	ret("eventfd write to the top", write(e, &v, sizeof v));
	v = 1;
	ret("eventfd overflow", write(e, &v, sizeof v));
	ret("eventfd read the top", read(e, &v, sizeof v));
	printf("value %llu\n", (unsigned long long)v);
	close(e);
	int s = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	for (int i = 0; i < 4; i++) {
		v = 0;
		long r = read(s, &v, sizeof v);
		printf("semaphore read %ld value %llu\n", r, (unsigned long long)v);
	}
	close(s);
}

static void ctl_errors(void) {
	int ep = epoll_create1(EPOLL_CLOEXEC), p[2];
	if (pipe(p) < 0)
		_exit(2);
	ret("epoll_create 0", epoll_create(0));
	ret("epoll_create1 bad flag", epoll_create1(1));
	ret("ctl epfd == fd", add(ep, ep, EPOLLIN, 0));
	ret("ctl epfd a pipe", add(p[0], p[1], EPOLLIN, 0));
	ret("ctl closed fd", add(ep, 999, EPOLLIN, 0));
	ret("ctl /dev/null", add(ep, open("/dev/null", 0), EPOLLIN, 0));
	ret("ctl add", add(ep, p[0], EPOLLIN, 0));
	ret("ctl add again", add(ep, p[0], EPOLLIN, 0));
	ret("ctl mod exclusive", mod(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0));
	ret("ctl del", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	ret("ctl del again", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	ret("ctl mod unwatched", mod(ep, p[0], EPOLLIN, 0));
	ret("ctl exclusive oneshot", add(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0));
	struct epoll_event ev[1];
	ret("wait maxevents 0", epoll_wait(ep, ev, 0, 0));
	ret("wait on a pipe", epoll_wait(p[0], ev, 1, 0));
	int inner = epoll_create1(0);
	ret("nest", add(ep, inner, EPOLLIN, 7));
	ret("nest loop", add(inner, ep, EPOLLIN, 8));
	close(inner);
	close(p[0]);
	close(p[1]);
	close(ep);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	eventfds();
	ctl_errors();

	int lt = epoll_create1(0), et = epoll_create(1), os = epoll_create1(0);
	int a[2], b[2];
	if (pipe2(a, O_NONBLOCK) < 0 || pipe2(b, O_NONBLOCK) < 0)
		return 2;
	int e = eventfd(0, EFD_NONBLOCK);
	add(lt, a[0], EPOLLIN, 1);
	add(lt, b[1], EPOLLOUT, 2);
	add(lt, e, EPOLLIN, 3);
	add(et, a[0], EPOLLIN | EPOLLET, 11);
	add(et, b[1], EPOLLOUT | EPOLLET, 12);
	add(et, e, EPOLLIN | EPOLLOUT | EPOLLET, 13);
	add(os, a[0], EPOLLIN | EPOLLONESHOT, 21);
	wait0("LT idle", lt, 8);
	wait0("ET after add", et, 8);
	wait0("ET again", et, 8);
	char buf[70000];
	memset(buf, 'x', sizeof buf);
	ret("write a", write(a[1], buf, 3));
	uint64_t one = 1;
	ret("write e", write(e, &one, 8));
	wait0("LT ready", lt, 8);
	wait0("LT still ready", lt, 8);
	wait0("LT one at a time", lt, 1);
	wait0("LT next", lt, 1);
	wait0("ET edges", et, 8);
	wait0("ET nothing new", et, 8);
	ret("write a again", write(a[1], buf, 1));
	wait0("ET new edge on a", et, 8);
	wait0("oneshot", os, 8);
	wait0("oneshot disabled", os, 8);
	mod(os, a[0], EPOLLIN | EPOLLONESHOT, 22);
	wait0("oneshot re-armed", os, 8);
	ret("read a", read(a[0], buf, sizeof buf));
	ret("read e", read(e, &one, 8));
	wait0("LT drained", lt, 8);
	wait0("ET after reads", et, 8);
	ret("fill b", write(b[1], buf, sizeof buf));
	wait0("LT b full", lt, 8);
	ret("read b", read(b[0], buf, 8192));
	wait0("ET b has room", et, 8);
	ret("read b all", read(b[0], buf, sizeof buf));

	// Timeouts: nothing ready, so each waits its full time.
	struct epoll_event ev[8];
	int idle = epoll_create1(0);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int n = epoll_wait(idle, ev, 8, 50);
	printf("epoll_wait 50 ms: %d, waited at least 50 ms: %d\n", n, ms_since(&t0) >= 50);
	struct timespec ts = {0, 20 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = syscall(SYS_epoll_pwait2, idle, ev, 8, &ts, NULL, 0);
	printf("epoll_pwait2 20 ms: %d, waited at least 20 ms: %d\n", n, ms_since(&t0) >= 20);

	// A pipe the program wrote to wakes an infinite wait at once.
	ret("write a", write(a[1], "w", 1));
	n = epoll_wait(lt, ev, 8, -1);
	report("epoll_wait -1 with a written pipe", n, ev);
	ret("read a", read(a[0], buf, sizeof buf));

	// The self-pipe trick: SIGUSR1 blocked and pending; epoll_pwait's
	// mask lets its handler run, which writes to a pipe; the wait
	// returns EINTR and the next one sees the pipe.
	if (pipe2(selfpipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return 2;
	add(idle, selfpipe[0], EPOLLIN, 99);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onusr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t block, empty;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	kill(getpid(), SIGUSR1);
	n = epoll_pwait(idle, ev, 8, -1, &empty);
	report("epoll_pwait with SIGUSR1 pending", n, ev);
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("SIGUSR1 blocked again: %d\n", sigismember(&now, SIGUSR1));
	n = epoll_wait(idle, ev, 8, -1);
	report("epoll_wait after the handler", n, ev);

	// ppoll: a ready pipe returns at once and leaves most of the timeout;
	// nothing ready waits the timeout out.
	ret("write a", write(a[1], "p", 1));
	struct pollfd pfd = {.fd = a[0], .events = POLLIN};
	struct timespec pt = {1, 0};
	n = ppoll(&pfd, 1, &pt, &empty);
	printf("ppoll ready: %d revents %#x, time left over 900 ms: %d\n", n, pfd.revents,
	       pt.tv_sec * 1000 + pt.tv_nsec / 1000000 > 900);
	ret("read a", read(a[0], buf, sizeof buf));
	pt.tv_sec = 0;
	pt.tv_nsec = 10 * 1000 * 1000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = ppoll(&pfd, 1, &pt, NULL);
	printf("ppoll 10 ms: %d, waited at least 10 ms: %d\n", n, ms_since(&t0) >= 10);

	// Closing the write end: the reader sees HUP.
	close(a[1]);
	wait0("LT after close", lt, 8);
	wait0("ET after close", et, 8);
	printf("done\n");
	return 0;
}
