/*
 * threads: POSIX threads as a program uses them, built against glibc
 * (threads-glibc) and musl (threads-musl). Every line is printed by the
 * main thread after the threads it describes have been joined, so that
 * no interleaving of the threads changes the output:
 *   - pthread_create/pthread_join of 4 and of 16 threads, each returning
 *     a value computed from its argument;
 *   - a counter that every thread increments under one mutex;
 *   - a condition-variable ping-pong between two threads;
 *   - __thread variables (initialised and zero) with a value of its own
 *     in each thread, checked after all threads wrote theirs (a barrier);
 *   - errno of its own in each thread, likewise;
 *   - a detached thread that signals its end through a semaphore;
 *   - pthread_exit from a nested call, its value read by pthread_join;
 *   - a thread on a stack the program mapped itself (pthread_attr_setstack);
 *   - gettid/getpid: a thread has a tid of its own and the process's pid;
 *   - a robust mutex held by a thread that exits: the next lock returns
 *     EOWNERDEAD (the kernel walks the dead thread's robust list);
 *   - signals: pthread_kill runs the handler in the thread named, and a
 *     signal sent to the process while main blocks it runs in the thread
 *     that does not; each thread's mask is its own;
 *   - sched_getaffinity names at least one CPU (printed as a boolean: the
 *     count differs between the host and a VM).
 * With the argument "fpu" it instead shows that a new thread starts with
 * its creator's FPU state, as Linux copies it at clone: main sets MXCSR's
 * rounding to toward-zero and the x87 control word's precision to 53 bits
 * and rounding to down, and a thread prints the MXCSR and control word it
 * finds and a float division rounded by them; that thread sets other modes
 * and makes a thread of its own, which prints those; then main, after
 * both ended, makes one more (its vCPU reused) that must see main's.
 * With the arguments "churn N" it instead creates and joins N threads,
 * four alive at a time: more threads over the program's life than a VM
 * has vCPUs unless the threads' vCPUs are reused.
 * How a process ends with threads in it is threads-exit.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXTHREADS 16

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("FAIL: %s\n", what);
		failures++;
	}
}

static void must(int err, const char *what)
{
	if (err != 0) {
		printf("FAIL: %s: %s\n", what, strerror(err));
		exit(1);
	}
}

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* create and join: each thread returns its argument squared. */
static void *square(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	return (void *)(n * n);
}

static void create_join(int n)
{
	pthread_t th[MAXTHREADS];
	uintptr_t sum = 0;
	for (int i = 0; i < n; i++)
		must(pthread_create(&th[i], NULL, square, (void *)(uintptr_t)(i + 1)), "pthread_create");
	for (int i = 0; i < n; i++) {
		void *ret;
		must(pthread_join(th[i], &ret), "pthread_join");
		sum += (uintptr_t)ret;
	}
	printf("create/join %d threads: sum of squares %lu\n", n, (unsigned long)sum);
}

/* A counter under a mutex: no increment may be lost. */
#define INCREMENTS 20000
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long counter;

static void *increment(void *arg)
{
	(void)arg;
	for (int i = 0; i < INCREMENTS; i++) {
		pthread_mutex_lock(&counter_lock);
		counter++;
		pthread_mutex_unlock(&counter_lock);
	}
	return NULL;
}

static void mutex_counter(int n)
{
	pthread_t th[MAXTHREADS];
	counter = 0;
	for (int i = 0; i < n; i++)
		must(pthread_create(&th[i], NULL, increment, NULL), "pthread_create");
	for (int i = 0; i < n; i++)
		must(pthread_join(th[i], NULL), "pthread_join");
	printf("mutex counter, %d threads x %d: %lu\n", n, INCREMENTS, counter);
}

/* Ping-pong: two threads hand a token back and forth through one
 * condition variable; each hand-off adds the round to a sum. */
#define ROUNDS 2000
static pthread_mutex_t pp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cond = PTHREAD_COND_INITIALIZER;
static int pp_turn;    /* whose turn: 0 or 1; guarded by pp_lock */
static long pp_sum[2]; /* pp_sum[i] written only by player i */

static void *player(void *arg)
{
	int me = (int)(uintptr_t)arg;
	for (int r = 0; r < ROUNDS; r++) {
		pthread_mutex_lock(&pp_lock);
		while (pp_turn != me)
			pthread_cond_wait(&pp_cond, &pp_lock);
		pp_sum[me] += r;
		pp_turn = 1 - me;
		pthread_cond_broadcast(&pp_cond);
		pthread_mutex_unlock(&pp_lock);
	}
	return NULL;
}

static void condvar_pingpong(void)
{
	pthread_t a, b;
	must(pthread_create(&a, NULL, player, (void *)0), "pthread_create");
	must(pthread_create(&b, NULL, player, (void *)1), "pthread_create");
	must(pthread_join(a, NULL), "pthread_join");
	must(pthread_join(b, NULL), "pthread_join");
	printf("condvar ping-pong, %d rounds: sums %ld %ld, turn %d\n", ROUNDS, pp_sum[0], pp_sum[1], pp_turn);
}

/* Thread-local storage and errno: every thread first writes its own, all
 * wait at a barrier, then each checks that what it reads is still its own. */
static __thread int tls_init = 1000;   /* .tdata */
static __thread long tls_zero[64];     /* .tbss */
static pthread_barrier_t tls_barrier;
static int tls_seen_init[MAXTHREADS], tls_ok[MAXTHREADS], errno_ok[MAXTHREADS];
static uintptr_t tls_addr[MAXTHREADS];

static void *tls_worker(void *arg)
{
	int i = (int)(uintptr_t)arg;
	long zeros = 0;
	for (int k = 0; k < 64; k++)
		zeros += tls_zero[k] != 0;
	tls_seen_init[i] = tls_init == 1000 && zeros == 0;
	tls_init = 2000 + i;
	tls_zero[i % 64] = i + 1;
	tls_addr[i] = (uintptr_t)&tls_init;
	/* An errno that differs between threads: even threads get EBADF,
	 * odd ones ENOENT. */
	int want = i % 2 ? ENOENT : EBADF;
	if (i % 2)
		open("/nonexistent/threads", O_RDONLY);
	else
		close(-1);
	pthread_barrier_wait(&tls_barrier);
	tls_ok[i] = tls_init == 2000 + i && tls_zero[i % 64] == i + 1;
	errno_ok[i] = errno == want;
	return NULL;
}

static void tls_errno(int n)
{
	pthread_t th[MAXTHREADS];
	must(pthread_barrier_init(&tls_barrier, NULL, n), "pthread_barrier_init");
	for (int i = 0; i < n; i++)
		must(pthread_create(&th[i], NULL, tls_worker, (void *)(uintptr_t)i), "pthread_create");
	for (int i = 0; i < n; i++)
		must(pthread_join(th[i], NULL), "pthread_join");
	pthread_barrier_destroy(&tls_barrier);
	int init = 0, own = 0, err = 0, distinct = 1;
	for (int i = 0; i < n; i++) {
		init += tls_seen_init[i];
		own += tls_ok[i];
		err += errno_ok[i];
		for (int j = 0; j < i; j++)
			distinct &= tls_addr[i] != tls_addr[j];
	}
	printf("tls, %d threads: %d saw the initial image, %d kept their own value, addresses distinct %d\n", n, init, own, distinct);
	printf("errno, %d threads: %d kept their own\n", n, err);
	printf("tls in main after the threads: %d\n", tls_init);
}

/* A detached thread cannot be joined; it says it is done through a
 * semaphore. */
static sem_t detached_done;
static int detached_value;

static void *detached(void *arg)
{
	detached_value = (int)(uintptr_t)arg * 3;
	sem_post(&detached_done);
	return NULL;
}

static void detach_semaphore(void)
{
	pthread_t th;
	must(sem_init(&detached_done, 0, 0), "sem_init");
	must(pthread_create(&th, NULL, detached, (void *)14), "pthread_create");
	must(pthread_detach(th), "pthread_detach");
	while (sem_wait(&detached_done) != 0)
		check(errno == EINTR, "sem_wait");
	printf("detached thread posted the semaphore: value %d\n", detached_value);
}

/* pthread_exit from below the thread's start function. */
static void leave(int depth)
{
	if (depth < 0)
		return;
	if (depth == 0)
		pthread_exit((void *)(uintptr_t)4242);
	leave(depth - 1);
	printf("FAIL: pthread_exit returned\n");
}

static void *exiting(void *arg)
{
	(void)arg;
	leave(5);
	return (void *)1;
}

static void exit_value(void)
{
	pthread_t th;
	void *ret;
	must(pthread_create(&th, NULL, exiting, NULL), "pthread_create");
	must(pthread_join(th, &ret), "pthread_join");
	printf("pthread_exit value read by join: %lu\n", (unsigned long)(uintptr_t)ret);
}

/* A thread on a stack this program mapped: its locals lie inside it. */
#define OWN_STACK (256 << 10)
static uintptr_t own_stack_local;

static void *on_own_stack(void *arg)
{
	int local = 1;
	own_stack_local = (uintptr_t)&local;
	return arg;
}

static void own_stack(void)
{
	char *stack = mmap(NULL, OWN_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack == MAP_FAILED) {
		printf("FAIL: mmap stack: %s\n", strerror(errno));
		exit(1);
	}
	pthread_attr_t attr;
	pthread_t th;
	void *ret;
	must(pthread_attr_init(&attr), "pthread_attr_init");
	must(pthread_attr_setstack(&attr, stack, OWN_STACK), "pthread_attr_setstack");
	must(pthread_create(&th, &attr, on_own_stack, (void *)7), "pthread_create");
	must(pthread_join(th, &ret), "pthread_join");
	pthread_attr_destroy(&attr);
	int inside = own_stack_local >= (uintptr_t)stack && own_stack_local < (uintptr_t)stack + OWN_STACK;
	printf("thread on a mapped stack: returned %lu, local inside the stack %d\n", (unsigned long)(uintptr_t)ret, inside);
	munmap(stack, OWN_STACK);
}

/* Identities: the thread's tid is its own, its pid the process's. */
static pid_t thread_tid, thread_pid;
static int self_differs;
static pthread_t main_self;

static void *identity(void *arg)
{
	(void)arg;
	thread_tid = tid();
	thread_pid = getpid();
	self_differs = !pthread_equal(pthread_self(), main_self);
	return NULL;
}

static void identities(void)
{
	pthread_t th;
	main_self = pthread_self();
	must(pthread_create(&th, NULL, identity, NULL), "pthread_create");
	must(pthread_join(th, NULL), "pthread_join");
	pid_t pid = getpid();
	printf("main: tid == pid %d\n", tid() == pid);
	printf("thread: tid != pid %d, tid > 0 %d, same pid %d, pthread_self differs %d\n",
	       thread_tid != pid, thread_tid > 0, thread_pid == pid, self_differs);
}

/* A robust mutex whose owner exits holding it. */
static pthread_mutex_t robust;

static void *lock_and_exit(void *arg)
{
	(void)arg;
	must(pthread_mutex_lock(&robust), "pthread_mutex_lock robust");
	return NULL;
}

static void robust_mutex(void)
{
	pthread_mutexattr_t attr;
	pthread_t th;
	must(pthread_mutexattr_init(&attr), "pthread_mutexattr_init");
	must(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST), "pthread_mutexattr_setrobust");
	must(pthread_mutex_init(&robust, &attr), "pthread_mutex_init");
	must(pthread_create(&th, NULL, lock_and_exit, NULL), "pthread_create");
	must(pthread_join(th, NULL), "pthread_join");
	int r = pthread_mutex_lock(&robust);
	int consistent = r == EOWNERDEAD ? pthread_mutex_consistent(&robust) : -1;
	int unlocked = pthread_mutex_unlock(&robust);
	int again = pthread_mutex_lock(&robust);
	printf("robust mutex after its owner exited: lock %s, consistent %d, unlock %d, lock again %d\n",
	       r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r), consistent, unlocked, again);
	pthread_mutex_unlock(&robust);
	pthread_mutexattr_destroy(&attr);
}

/* Signals and threads: which thread runs a handler. */
static sem_t sig_ready, sig_handled, sig_release;
static volatile pid_t handler_tid;
static pid_t target_tid;
static int target_mask_own;

static void on_signal(int sig)
{
	(void)sig;
	handler_tid = tid();
	sem_post(&sig_handled);
}

static void wait_sem(sem_t *s)
{
	while (sem_wait(s) != 0)
		check(errno == EINTR, "sem_wait");
}

static void *signal_target(void *arg)
{
	int unblock = (int)(uintptr_t)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	if (unblock)
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	target_tid = tid();
	sem_post(&sig_ready);
	wait_sem(&sig_release);
	sigset_t now;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	target_mask_own = !sigismember(&now, SIGUSR2);
	return NULL;
}

static void thread_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	must(sem_init(&sig_ready, 0, 0), "sem_init");
	must(sem_init(&sig_handled, 0, 0), "sem_init");
	must(sem_init(&sig_release, 0, 0), "sem_init");

	/* pthread_kill: the handler runs in the thread named. */
	pthread_t th;
	must(pthread_create(&th, NULL, signal_target, (void *)0), "pthread_create");
	wait_sem(&sig_ready);
	must(pthread_kill(th, SIGUSR1), "pthread_kill");
	wait_sem(&sig_handled);
	int in_target = handler_tid == target_tid;
	sem_post(&sig_release);
	must(pthread_join(th, NULL), "pthread_join");
	printf("pthread_kill: handler ran in the thread named %d\n", in_target);

	/* kill to the process while main blocks SIGUSR2 and the thread does
	 * not: the thread runs the handler; main's mask stays its own. */
	sigset_t set, old, now;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	must(pthread_create(&th, NULL, signal_target, (void *)1), "pthread_create");
	wait_sem(&sig_ready);
	handler_tid = 0;
	kill(getpid(), SIGUSR2);
	wait_sem(&sig_handled);
	in_target = handler_tid == target_tid;
	sem_post(&sig_release);
	must(pthread_join(th, NULL), "pthread_join");
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	int main_blocks = sigismember(&now, SIGUSR2);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	printf("kill to the process, blocked in main: handler ran in the thread %d, thread's mask its own %d, main still blocks it %d\n",
	       in_target, target_mask_own, main_blocks);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

static void affinity(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	int r = sched_getaffinity(0, sizeof set, &set);
	printf("sched_getaffinity: %d, cpus > 0 %d\n", r, CPU_COUNT(&set) > 0);
}

static void churn(long n)
{
	pthread_t th[4];
	uintptr_t sum = 0;
	long made = 0;
	while (made < n) {
		int k = 0;
		for (; k < 4 && made < n; k++, made++)
			must(pthread_create(&th[k], NULL, square, (void *)(uintptr_t)(made % 1000)), "pthread_create");
		for (int i = 0; i < k; i++) {
			void *ret;
			must(pthread_join(th[i], &ret), "pthread_join");
			sum += (uintptr_t)ret;
		}
	}
	printf("churn: %ld threads created and joined, 4 at a time: sum of squares %lu\n", made, (unsigned long)sum);
}

static unsigned read_mxcsr(void)
{
	unsigned v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void write_mxcsr(unsigned v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }

static unsigned short read_fcw(void)
{
	unsigned short v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void write_fcw(unsigned short v) { __asm__ volatile("fldcw %0" : : "m"(v)); }

/* fpu_report prints who sees which modes: MXCSR, the x87 control word,
 * and 1/3 and -1/3 divided in SSE (float) and in x87 (long double, stored
 * as double), whose last bits show the rounding in force. */
static void fpu_report(const char *who)
{
	volatile float one = 1.0f, three = 3.0f;
	float q = one / three, nq = -one / three;
	long double lone = 1.0L, lthree = 3.0L;
	long double lq;
	__asm__ volatile("fldt %1\n\tfldt %2\n\tfdivrp\n\tfstpt %0" : "=m"(lq) : "m"(lone), "m"(lthree));
	unsigned qb, nqb;
	memcpy(&qb, &q, 4);
	memcpy(&nqb, &nq, 4);
	unsigned long long lqb;
	memcpy(&lqb, &lq, 8); /* the mantissa: its low bits show precision and rounding */
	printf("fpu: %s: mxcsr %#x fcw %#x 1/3f %#x -1/3f %#x x87 1/3 mantissa %#llx\n",
	       who, read_mxcsr(), read_fcw(), qb, nqb, lqb);
}

static void *fpu_grandchild(void *arg)
{
	(void)arg;
	fpu_report("grandchild (made by a thread after it changed modes)");
	return NULL;
}

static void *fpu_child(void *arg)
{
	(void)arg;
	fpu_report("thread made by main");
	write_mxcsr((read_mxcsr() & ~0x6000u) | 0x2000u); /* round down */
	write_fcw((unsigned short)((read_fcw() & ~0xf00u) | 0x800u)); /* 24-bit precision, round up */
	pthread_t g;
	if (pthread_create(&g, NULL, fpu_grandchild, NULL) != 0 || pthread_join(g, NULL) != 0) {
		printf("fpu: pthread_create in a thread failed\n");
		failures++;
	}
	return NULL;
}

static void fpu_inherit(void)
{
	write_mxcsr((read_mxcsr() & ~0x6000u) | 0x6000u); /* toward zero */
	write_fcw((unsigned short)((read_fcw() & ~0xf00u) | 0x200u | 0x400u)); /* 53-bit precision, round down */
	fpu_report("main");
	for (int round = 0; round < 2; round++) {
		pthread_t th;
		if (pthread_create(&th, NULL, round == 0 ? fpu_child : fpu_grandchild, NULL) != 0 || pthread_join(th, NULL) != 0) {
			printf("fpu: pthread_create failed\n");
			failures++;
		}
	}
	fpu_report("main after");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "fpu") == 0) {
		fpu_inherit();
		return failures != 0;
	}
	if (argc == 3 && strcmp(argv[1], "churn") == 0) {
		churn(atol(argv[2]));
		return 0;
	}
	create_join(4);
	create_join(16);
	mutex_counter(4);
	mutex_counter(16);
	condvar_pingpong();
	tls_errno(4);
	tls_errno(16);
	detach_semaphore();
	exit_value();
	own_stack();
	identities();
	robust_mutex();
	thread_signals();
	affinity();
	printf("failures: %d\n", failures);
	return failures != 0;
}
