/* events: timerfd, rt_sigqueueinfo and rt_tgsigqueueinfo (sigqueue),
 * process_vm_readv and process_vm_writev between processes, and
 * membarrier and kcmp, printing what Linux 6.1 and 6.18 answer alike (no readv of
 * a timerfd, no RSEQ or GET_REGISTRATIONS, no si_code near a limit that
 * moved). Timings print as ranges wide enough for a loaded host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "include/errname.h"

#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)

/* linux/membarrier.h, which musl-gcc does not reach. */
enum {
	MEMBARRIER_CMD_QUERY = 0,
	MEMBARRIER_CMD_GLOBAL = 1 << 0,
	MEMBARRIER_CMD_GLOBAL_EXPEDITED = 1 << 1,
	MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2,
	MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3,
	MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4,
	MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 5,
	MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 6,
	MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ = 1 << 7,
	MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ = 1 << 8,
	MEMBARRIER_CMD_GET_REGISTRATIONS = 1 << 9,
};

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm(int fd, int flags, long interval_ms, long value_ms) {
	struct itimerspec its = {{interval_ms / 1000, interval_ms % 1000 * 1000000}, {value_ms / 1000, value_ms % 1000 * 1000000}};
	if (timerfd_settime(fd, flags, &its, NULL) != 0)
		printf("settime: %s\n", res(-1));
}

static long ticks(int fd) {
	uint64_t v = 0;
	long r = read(fd, &v, sizeof v);
	return r == 8 ? (long)v : r;
}

/* waiter blocks in epoll_wait, poll or select on a timerfd that another
 * thread arms after it began to wait. */
struct waiter {
	int fd, how;
	long rc;
};

static void *wait_thread(void *arg) {
	struct waiter *w = arg;
	if (w->how == 0) {
		int ep = epoll_create1(0);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out;
		epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
		w->rc = epoll_wait(ep, &out, 1, 5000);
		if (w->rc == 1 && out.data.u32 != 7)
			w->rc = -2;
		close(ep);
	} else if (w->how == 1) {
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		w->rc = poll(&p, 1, 5000) == 1 ? p.revents : -1;
	} else {
		fd_set r;
		FD_ZERO(&r);
		FD_SET(w->fd, &r);
		struct timeval tv = {5, 0};
		w->rc = select(w->fd + 1, &r, NULL, NULL, &tv);
	}
	return NULL;
}

static void timerfds(void) {
	printf("timerfd_create bad flag: %s\n", res(timerfd_create(CLOCK_MONOTONIC, 1)));
	printf("timerfd_create CLOCK_PROCESS_CPUTIME_ID: %s\n", res(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0)));
	printf("timerfd_create CLOCK_MONOTONIC_RAW: %s\n", res(timerfd_create(CLOCK_MONOTONIC_RAW, 0)));
	long n;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	printf("F_GETFL %#x F_GETFD %d\n", fcntl(fd, F_GETFL), fcntl(fd, F_GETFD));
	char link[64] = {0}, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	readlink(path, link, sizeof link - 1);
	printf("link: %s\n", link);
	printf("read disarmed: %s\n", res(ticks(fd)));
	uint64_t v;
	printf("read 7 bytes: %s\n", res(read(fd, &v, 7)));
	printf("write: %s\n", res(write(fd, &v, 8)));
	struct itimerspec its = {{0, 0}, {0, 1000000000}};
	printf("settime nsec 1e9: %s\n", res(timerfd_settime(fd, 0, &its, NULL)));
	printf("settime flag 4: %s\n", res(timerfd_settime(fd, 4, &its, NULL)));
	printf("gettime of stdin: %s\n", res(timerfd_gettime(0, &its)));

	/* An absolute time past fires at once (on Linux, as soon as the
	 * timer interrupt comes: poll waits for it). */
	arm(fd, TFD_TIMER_ABSTIME, 0, 1);
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	int ready = poll(&p, 1, 5000);
	printf("abs past: poll %d revents %#x\n", ready, p.revents);
	n = ticks(fd);
	printf("ticks %ld, then %s\n", n, res(ticks(fd)));
	timerfd_gettime(fd, &its);
	printf("gettime after a one-shot: %ld.%09ld\n", (long)its.it_value.tv_sec, its.it_value.tv_nsec);

	/* A relative one-shot, waited for by a blocking read. */
	int b = timerfd_create(CLOCK_BOOTTIME, 0);
	long t0 = now_ms();
	arm(b, 0, 0, 30);
	n = ticks(b);
	long dt = now_ms() - t0;
	printf("one-shot: %ld tick, after >= 30ms: %d\n", n, dt >= 29);

	/* A periodic timer: a read counts the intervals that passed. */
	t0 = now_ms();
	arm(fd, 0, 10, 10);
	usleep(105000);
	n = ticks(fd);
	dt = now_ms() - t0;
	printf("periodic: a tick per 10ms passed (105ms or more): %d\n", n >= 8 && n >= dt / 10 - 2 && n <= dt / 10 + 1);
	timerfd_gettime(fd, &its);
	/* 0 where the next expiry is due but the kernel's timer has not run
	 * yet (timerfd_get_remaining clamps), which a loaded host shows. */
	printf("gettime: interval %ld.%09ld, value within it %d\n", (long)its.it_interval.tv_sec, its.it_interval.tv_nsec,
	       its.it_value.tv_sec == 0 && its.it_value.tv_nsec >= 0 && its.it_value.tv_nsec <= 10000000);
	arm(fd, 0, 0, 0);
	printf("disarmed: %s\n", res(ticks(fd)));

	/* CLOCK_REALTIME, absolute. */
	int r = timerfd_create(CLOCK_REALTIME, 0);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	rt.tv_nsec += 20000000;
	if (rt.tv_nsec >= 1000000000) {
		rt.tv_sec++;
		rt.tv_nsec -= 1000000000;
	}
	struct itimerspec abs = {{0, 0}, rt};
	printf("realtime abs, cancel on set: %s\n", res(timerfd_settime(r, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs, NULL)));
	printf("realtime: %ld tick\n", ticks(r));

	/* TFD_IOC_SET_TICKS. */
	uint64_t set = 0;
	printf("SET_TICKS 0: %s\n", res(ioctl(fd, TFD_IOC_SET_TICKS, &set)));
	set = 42;
	printf("SET_TICKS 42: %s\n", res(ioctl(fd, TFD_IOC_SET_TICKS, &set)));
	printf("read: %ld\n", ticks(fd));

	/* A timer armed by this thread wakes a wait in another. */
	static const char *hows[] = {"epoll_wait", "poll", "select"};
	for (int how = 0; how < 3; how++) {
		struct waiter w = {.fd = b, .how = how};
		pthread_t th;
		pthread_create(&th, NULL, wait_thread, &w);
		usleep(20000);
		arm(b, 0, 0, 10);
		pthread_join(th, NULL);
		n = ticks(b);
		printf("%s in another thread: %ld, then %ld tick\n", hows[how], w.rc, n);
	}
	close(fd);
	close(b);
	close(r);
}

static volatile sig_atomic_t got_code, got_int, got_pid_ok, got_signo;

static void on_rt(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	got_signo = sig;
	got_code = si->si_code;
	got_int = si->si_value.sival_int;
	got_pid_ok = si->si_pid == getpid() && si->si_uid == getuid();
}

#ifdef __GLIBC__
static void *take_rt2(void *arg) {
	siginfo_t in;
	int s = sigwaitinfo(arg, &in);
	printf("thread: signal %d code %d value %d from its process %d\n", s - SIGRTMIN, in.si_code, in.si_value.sival_int,
	       in.si_pid == getpid());
	return NULL;
}
#endif

static void sigqueues(void) {
	struct sigaction sa = {.sa_sigaction = on_rt, .sa_flags = SA_SIGINFO};
	sigaction(SIGRTMIN, &sa, NULL);
	union sigval sv = {.sival_int = 1234};
	printf("sigqueue to itself: %s", res(sigqueue(getpid(), SIGRTMIN, sv)));
	printf(", signal %d code %d value %d sender ok %d\n", got_signo - SIGRTMIN, got_code, got_int, got_pid_ok);

	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 77;
	got_code = 0;
	printf("rt_tgsigqueueinfo to itself: %s", res(syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGRTMIN, &si)));
	printf(", code %d value %d\n", got_code, got_int);
	si.si_code = SI_USER;
	got_code = -100;
	printf("SI_USER to itself: %s", res(syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si)));
	printf(", code %d\n", got_code);
	printf("tgid 0: %s\n", res(syscall(SYS_rt_tgsigqueueinfo, 0, (pid_t)syscall(SYS_gettid), SIGRTMIN, &si)));
	printf("signal 65: %s\n", res(syscall(SYS_rt_sigqueueinfo, getpid(), 65, &si)));
	printf("siginfo from a fault: %s\n", res(syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, (void *)8)));
	si.si_code = 100;
	((char *)&si)[100] = 1;
	printf("unknown si_code with expansion bytes: %s\n", res(syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si)));
	((char *)&si)[100] = 0;

#ifdef __GLIBC__
	/* glibc's pthread_sigqueue: rt_tgsigqueueinfo to one thread. */
	sigset_t tset;
	sigemptyset(&tset);
	sigaddset(&tset, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &tset, NULL);
	pthread_t th;
	pthread_create(&th, NULL, take_rt2, &tset);
	sv.sival_int = 4321;
	int q2 = pthread_sigqueue(th, SIGRTMIN + 2, sv);
	pthread_join(th, NULL); /* its line first */
	errno = q2;
	printf("pthread_sigqueue: %s\n", res(q2 ? -1 : 0));
	sigprocmask(SIG_UNBLOCK, &tset, NULL);
#endif

	/* To a child: SI_QUEUE is delivered, SI_USER and SI_TKILL are EPERM. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int go[2];
	pipe(go);
	pid_t child = fork();
	if (child == 0) {
		siginfo_t in;
		int s = sigwaitinfo(&set, &in);
		printf("child: signal %d code %d value %d from its parent %d\n", s - SIGRTMIN, in.si_code, in.si_value.sival_int,
		       in.si_pid == getppid());
		fflush(stdout);
		_exit(0);
	}
	si.si_code = SI_USER;
	printf("SI_USER to a child: %s\n", res(syscall(SYS_rt_sigqueueinfo, child, SIGRTMIN + 1, &si)));
	si.si_code = SI_TKILL;
	printf("SI_TKILL to a child: %s\n", res(syscall(SYS_rt_sigqueueinfo, child, SIGRTMIN + 1, &si)));
	sv.sival_int = 5678;
	long q = sigqueue(child, SIGRTMIN + 1, sv);
	waitpid(child, NULL, 0); /* its line first */
	printf("sigqueue to a child: %s\n", res(q));
	printf("sigqueue to a reaped child: %s\n", res(sigqueue(child, SIGRTMIN + 1, sv)));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	close(go[0]);
	close(go[1]);
}

static char shared[64] = "the child's buffer, as it was at fork";

static void process_vm(void) {
	int up[2], down[2];
	pipe(up);
	pipe(down);
	pid_t child = fork();
	if (child == 0) {
		char c;
		write(up[1], "r", 1);
		read(down[0], &c, 1); /* the parent wrote into shared */
		printf("child sees: %s\n", shared);
		fflush(stdout);
		/* As uid 1000 it may not read its root parent. */
		setresuid(1000, 1000, 1000);
		char b[8];
		struct iovec l = {b, 8}, r = {shared, 8};
		printf("child as uid 1000 reads its parent: %s\n", res(process_vm_readv(getppid(), &l, 1, &r, 1, 0)));
		fflush(stdout);
		_exit(0);
	}
	char c, a[16] = {0}, b[32] = {0};
	read(up[0], &c, 1);
	struct iovec l[2] = {{a, 5}, {b, 11}}, r[2] = {{shared, 3}, {shared + 4, 13}};
	long n = process_vm_readv(child, l, 2, r, 2, 0);
	printf("readv 5+11 from 3+13: %s: %.5s|%.11s\n", res(n), a, b);
	printf("flags 1: %s\n", res(process_vm_readv(child, l, 2, r, 2, 1)));
	printf("liovcnt 1025: %s\n", res(process_vm_readv(child, l, 1025, r, 2, 0)));
	printf("local iovecs from a fault: %s\n", res(process_vm_readv(child, (void *)8, 1, r, 2, 0)));
	struct iovec bad = {(void *)8, 16};
	printf("remote fault: %s\n", res(process_vm_readv(child, l, 2, &bad, 1, 0)));
	struct iovec bad2[2] = {{shared, 4}, {(void *)8, 4}};
	printf("second remote faults: %s\n", res(process_vm_readv(child, l, 2, bad2, 2, 0)));
	struct iovec none = {shared, 0};
	printf("remote buffers empty: %s\n", res(process_vm_readv(child, l, 2, &none, 1, 0)));
	struct iovec wl = {"written by the parent", 22}, wr = {shared, 22};
	printf("writev: %s\n", res(process_vm_writev(child, &wl, 1, &wr, 1, 0)));
	write(down[1], "w", 1);
	waitpid(child, NULL, 0);
	printf("readv of a reaped child: %s\n", res(process_vm_readv(child, l, 2, r, 2, 0)));

	/* Itself, across the end of a mapping. */
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(m + 4096, 4096);
	memcpy(m + 4096 - 6, "edge!", 6);
	struct iovec el = {a, 16}, er = {m + 4096 - 6, 16};
	printf("itself, remote runs into a hole: %s: %s\n", res(process_vm_readv(getpid(), &el, 1, &er, 1, 0)), a);
	struct iovec hl = {m + 4096 - 3, 16}, hr = {b, 16};
	printf("itself, local runs into a hole: %s\n", res(process_vm_readv(getpid(), &hl, 1, &hr, 1, 0)));
	struct iovec ro = {(void *)"read-only", 9};
	printf("into read-only memory: %s\n", res(process_vm_writev(getpid(), &hr, 1, &ro, 1, 0)));
	munmap(m, 4096);
}

static volatile int spinning = 1;
static volatile long spins[4];

static void *spin(void *arg) {
	long i = (long)arg;
	while (spinning)
		spins[i]++;
	return NULL;
}

static int eventfd_like(void) { return timerfd_create(CLOCK_MONOTONIC, 0); }

static long mb(int cmd, unsigned flags, int cpu) { return syscall(SYS_membarrier, cmd, flags, cpu); }

static void membarriers(void) {
	/* 6.1 has no GET_REGISTRATIONS; the RSEQ bits depend on rseq. */
	long q = mb(MEMBARRIER_CMD_QUERY, 0, 0);
	printf("QUERY: %#lx\n", q & ~(long)(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ | MEMBARRIER_CMD_GET_REGISTRATIONS));
	printf("QUERY with a flag: %s\n", res(mb(MEMBARRIER_CMD_QUERY, 1, 0)));
	printf("PRIVATE_EXPEDITED unregistered: %s\n", res(mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)));
	printf("SYNC_CORE unregistered: %s\n", res(mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0)));
	printf("REGISTER_SYNC_CORE: %s\n", res(mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0)));
	printf("PRIVATE_EXPEDITED still: %s\n", res(mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)));
	printf("GLOBAL_EXPEDITED unregistered: %s\n", res(mb(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0)));
	printf("REGISTER_GLOBAL_EXPEDITED: %s\n", res(mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0)));
	printf("GLOBAL: %s\n", res(mb(MEMBARRIER_CMD_GLOBAL, 0, 0)));
	printf("GLOBAL with a flag: %s\n", res(mb(MEMBARRIER_CMD_GLOBAL, 1, 0)));
	printf("REGISTER_PRIVATE_EXPEDITED: %s\n", res(mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0)));
	printf("unknown command 3: %s\n", res(mb(3, 0, 0)));
	pid_t child = fork();
	if (child == 0) {
		printf("child PRIVATE_EXPEDITED: %s\n", res(mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)));
		fflush(stdout);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	pthread_t th[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, spin, (void *)i);
	long bad = 0;
	for (int i = 0; i < 200; i++) {
		bad += mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0;
		bad += mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) != 0;
		bad += mb(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0;
	}
	spinning = 0;
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	printf("600 expedited barriers with 4 threads spinning: %ld failed\n", bad);
}

/* kcmp's answer with 1 and 2 (a random order) both "differ". */
static const char *kc(pid_t a, pid_t b, int type, unsigned long x, unsigned long y) {
	long r = syscall(SYS_kcmp, a, b, type, x, y);
	return r == 1 || r == 2 ? "differ" : r == 0 ? "same" : res(r);
}

static volatile pid_t thread_tid;

static void *idle(void *arg) {
	int *go = arg;
	char c;
	thread_tid = (pid_t)syscall(SYS_gettid);
	read(go[0], &c, 1);
	return NULL;
}

static void kcmps(void) {
	enum { FILE_ = 0, VM, FILES, FS, SIGHAND };
	pid_t me = getpid();
	int a = eventfd_like(), b = dup(a), c = eventfd_like();
	printf("kcmp FILE dup: %s, another: %s, no fd: %s\n", kc(me, me, FILE_, a, b), kc(me, me, FILE_, a, c), kc(me, me, FILE_, a, 999));
	printf("kcmp VM itself: %s\n", kc(me, me, VM, 0, 0));
	printf("kcmp kind 8: %s\n", kc(me, me, 8, 0, 0));
	printf("kcmp no pid: %s\n", kc(me, 1 << 22, VM, 0, 0));
	int go[2];
	pipe(go);
	pthread_t th;
	pthread_create(&th, NULL, idle, go);
	while (thread_tid == 0)
		usleep(1000);
	printf("kcmp with a thread: VM %s, FILES %s, FS %s, SIGHAND %s\n", kc(me, thread_tid, VM, 0, 0), kc(me, thread_tid, FILES, 0, 0),
	       kc(me, thread_tid, FS, 0, 0), kc(me, thread_tid, SIGHAND, 0, 0));
	int pr[2];
	pipe(pr);
	pid_t child = fork();
	if (child == 0) {
		char x;
		read(pr[0], &x, 1);
		_exit(0);
	}
	printf("kcmp with a child: FILE %s, VM %s, FILES %s, FS %s, SIGHAND %s\n", kc(me, child, FILE_, a, a), kc(me, child, VM, 0, 0),
	       kc(me, child, FILES, 0, 0), kc(me, child, FS, 0, 0), kc(me, child, SIGHAND, 0, 0));
	write(pr[1], "x", 1);
	waitpid(child, NULL, 0);
	write(go[1], "x", 1);
	pthread_join(th, NULL);
	close(a);
	close(b);
	close(c);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	timerfds();
	sigqueues();
	process_vm();
	membarriers();
	kcmps();
	return 0;
}
