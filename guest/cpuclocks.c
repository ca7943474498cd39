/*
 * cpuclocks: the CPU-time clocks and timers as a program uses them:
 * clock() and the CPU clocks stand still while the program sleeps and
 * count while it runs (its own thread's and another's), getrusage and
 * times agree, ITIMER_PROF and ITIMER_VIRTUAL fire as it runs with
 * SI_KERNEL, a timer_create timer on a CPU clock fires with SI_TIMER,
 * clock_getres and clock_nanosleep answer on the CPU clocks, and
 * a sleep on the process clock ends as another thread runs, a reaped
 * child's CPU time counts for its parent, and RLIMIT_CPU sends SIGXCPU
 * at the soft limit (raising it by a second) and SIGKILL at the hard one. Each line prints a fact that holds on
 * any machine, loaded or not, so that the output is the same natively
 * and under mmvm: every busy wait ends on CPU time, never on the wall
 * clock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double secs(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return -1;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *yes(int b) { return b ? "yes" : "no"; }

/* spin burns CPU until *done is set or the process has used limit
 * seconds more of CPU time. */
static void spin(volatile sig_atomic_t *done, double limit)
{
	double end = secs(CLOCK_PROCESS_CPUTIME_ID) + limit;
	while (!*done && secs(CLOCK_PROCESS_CPUTIME_ID) < end)
		for (volatile int i = 0; i < 10000; i++)
			;
}

static volatile sig_atomic_t fired, code, value;

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)ctx;
	fired++;
	code = si->si_code;
	value = si->si_value.sival_int;
}

static void handle(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(sig, &sa, NULL);
}

static void itimer(int which, int sig, const char *name)
{
	handle(sig);
	fired = 0;
	struct itimerval it = {{0, 20000}, {0, 20000}};
	setitimer(which, &it, NULL);
	spin(&fired, 10);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(which, &off, NULL);
	printf("%s fired within 10s of CPU: %s, si_code SI_KERNEL: %s\n", name, yes(fired > 0), yes(code == SI_KERNEL));
}

static volatile sig_atomic_t stop_worker;

static void *worker(void *arg)
{
	(void)arg;
	while (!stop_worker)
		;
	return NULL;
}

static volatile sig_atomic_t xcpu;
static int xcpu_pipe;

static void on_xcpu(int sig)
{
	(void)sig;
	struct rlimit rl;
	getrlimit(RLIMIT_CPU, &rl);
	char c = (char)('0' + rl.rlim_cur);
	if (write(xcpu_pipe, &c, 1) != 1)
		_exit(3);
}

static void rlimit_cpu(void)
{
	int fds[2];
	if (pipe(fds) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		xcpu_pipe = fds[1];
		signal(SIGXCPU, on_xcpu);
		struct rlimit rl = {1, 2};
		setrlimit(RLIMIT_CPU, &rl);
		static volatile sig_atomic_t never;
		spin(&never, 30);
		_exit(0);
	}
	close(fds[1]);
	char buf[16];
	int n = 0, r;
	while ((r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
	int status;
	waitpid(pid, &status, 0);
	printf("RLIMIT_CPU 1/2: SIGXCPU with the soft limit then at %s, then %s %d\n", buf,
	       WIFSIGNALED(status) ? "killed by signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* children: a reaped child's CPU time counts in RUSAGE_CHILDREN and
 * times's tms_cutime, and wait4's rusage; not before it is reaped. */
static void children(void)
{
	struct rusage before, ru, wru;
	getrusage(RUSAGE_CHILDREN, &before);
	pid_t pid = fork();
	if (pid == 0) {
		static volatile sig_atomic_t never;
		spin(&never, 0.2);
		_exit(0);
	}
	int status;
	wait4(pid, &status, 0, &wru);
	getrusage(RUSAGE_CHILDREN, &ru);
	struct tms tm;
	times(&tm);
	double b = before.ru_utime.tv_sec + before.ru_stime.tv_sec + (before.ru_utime.tv_usec + before.ru_stime.tv_usec) / 1e6;
	double a = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	double w = wru.ru_utime.tv_sec + wru.ru_stime.tv_sec + (wru.ru_utime.tv_usec + wru.ru_stime.tv_usec) / 1e6;
	printf("children's CPU time: none before 0.01s: %s, at least 0.15s after the reap: %s, wait4's at least 0.15s: %s, tms_cutime+tms_cstime at least 0.15s: %s\n",
	       yes(b < 0.01), yes(a - b >= 0.15), yes(w >= 0.15), yes((double)(tm.tms_cutime + tm.tms_cstime) / sysconf(_SC_CLK_TCK) >= 0.15));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);

	/* Asleep, no CPU time passes. */
	clock_t c0 = clock();
	struct timespec half = {0, 500 * 1000 * 1000};
	nanosleep(&half, NULL);
	double slept = (double)(clock() - c0) / CLOCKS_PER_SEC;
	printf("clock() across a 0.5s sleep under 0.1s: %s\n", yes(slept < 0.1));

	/* Running, it does, on every CPU clock. */
	static volatile sig_atomic_t never;
	double p0 = secs(CLOCK_PROCESS_CPUTIME_ID);
	spin(&never, 0.3);
	double p = secs(CLOCK_PROCESS_CPUTIME_ID) - p0;
	printf("process clock after 0.3s of CPU: %s\n", yes(p >= 0.3 && p < 5));
	printf("thread clock at least 0.3s: %s\n", yes(secs(CLOCK_THREAD_CPUTIME_ID) >= 0.3));
	clockid_t pc, tc;
	int e = clock_getcpuclockid(0, &pc);
	printf("clock_getcpuclockid(0): %s, reads at least 0.3s: %s\n", strerror(e), yes(secs(pc) >= 0.3));
	e = clock_getcpuclockid(getpid(), &pc);
	printf("clock_getcpuclockid(getpid()): %s, reads at least 0.3s: %s\n", strerror(e), yes(secs(pc) >= 0.3));
	e = pthread_getcpuclockid(pthread_self(), &tc);
	printf("pthread_getcpuclockid(self): %s, reads at least 0.3s: %s\n", strerror(e), yes(secs(tc) >= 0.3));
	e = clock_getcpuclockid(999999, &pc);
	printf("clock_getcpuclockid(no such process): %s\n", strerror(e));
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double rus = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("getrusage user+system at least 0.25s: %s\n", yes(rus >= 0.25));
	struct tms tm;
	times(&tm);
	printf("times user+system at least 0.25s: %s\n", yes((double)(tm.tms_utime + tm.tms_stime) / sysconf(_SC_CLK_TCK) >= 0.25));
	printf("clock() at least 0.25s: %s\n", yes((double)clock() / CLOCKS_PER_SEC >= 0.25));

	struct timespec res;
	clock_getres(CLOCK_PROCESS_CPUTIME_ID, &res);
	printf("clock_getres(CLOCK_PROCESS_CPUTIME_ID): %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
	clock_getres(CLOCK_THREAD_CPUTIME_ID, &res);
	printf("clock_getres(CLOCK_THREAD_CPUTIME_ID): %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
	struct timespec zero = {0, 0};
	printf("clock_nanosleep(CLOCK_THREAD_CPUTIME_ID): %s\n", strerror(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &zero, NULL)));
	printf("clock_nanosleep(own thread's clock): %s\n", strerror(clock_nanosleep(tc, 0, &zero, NULL)));
	printf("clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, past): %s\n", strerror(clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &zero, NULL)));

	itimer(ITIMER_PROF, SIGPROF, "ITIMER_PROF");
	itimer(ITIMER_VIRTUAL, SIGVTALRM, "ITIMER_VIRTUAL");

	/* A POSIX timer on the process's CPU clock. */
	handle(SIGRTMIN);
	fired = 0;
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	ev.sigev_value.sival_int = 1234;
	timer_t t;
	printf("timer_create(CLOCK_PROCESS_CPUTIME_ID): %s\n", strerror(timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &t) ? errno : 0));
	struct itimerspec its = {{0, 0}, {0, 50 * 1000 * 1000}};
	timer_settime(t, 0, &its, NULL);
	spin(&fired, 10);
	printf("it fired within 10s of CPU: %s, si_code SI_TIMER: %s, si_value 1234: %s\n", yes(fired > 0), yes(code == SI_TIMER), yes(value == 1234));
	timer_delete(t);

	/* Another thread's clock runs while this one sleeps. */
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	clockid_t wc;
	pthread_getcpuclockid(th, &wc);
	fired = 0;
	ev.sigev_value.sival_int = 99;
	timer_create(wc, &ev, &t);
	its.it_value.tv_nsec = 100 * 1000 * 1000;
	timer_settime(t, 0, &its, NULL);
	double mine = secs(CLOCK_THREAD_CPUTIME_ID);
	struct timespec tick = {0, 10 * 1000 * 1000};
	for (int i = 0; i < 3000 && !fired; i++)
		nanosleep(&tick, NULL);
	printf("the worker's CPU clock timer fired while main slept: %s, si_value 99: %s\n", yes(fired > 0), yes(value == 99));
	printf("main's own clock stood still meanwhile (under 0.1s more): %s\n", yes(secs(CLOCK_THREAD_CPUTIME_ID) - mine < 0.1));
	printf("the worker's clock at least 0.1s: %s\n", yes(secs(wc) >= 0.1));
	/* A sleep on the process clock ends as the worker runs. */
	struct timespec cpu100 = {0, 100 * 1000 * 1000};
	printf("clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0.1s) while the worker runs: %s\n",
	       strerror(clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &cpu100, NULL)));
	double w = secs(wc), m = secs(CLOCK_THREAD_CPUTIME_ID);
	printf("the process clock at least the two threads': %s\n", yes(secs(CLOCK_PROCESS_CPUTIME_ID) >= w + m));
	stop_worker = 1;
	pthread_join(th, NULL);
	timer_delete(t);
	w = secs(wc) < 0 ? w : secs(wc);
	m = secs(CLOCK_THREAD_CPUTIME_ID);
	printf("after the join, the process clock keeps the worker's time: %s\n", yes(secs(CLOCK_PROCESS_CPUTIME_ID) >= w + m));

	children();
	rlimit_cpu();
	return 0;
}
