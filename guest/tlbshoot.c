/*
 * tlbshoot: a page-table change made by one thread must be seen by every
 * other thread of the process by the time the system call that made it
 * returns (Linux shoots down the other CPUs' TLB entries before munmap or
 * mprotect returns). Built against glibc (tlbshoot-glibc) and musl
 * (tlbshoot-musl).
 *
 * In each round one thread (the accessor) loops reading or writing the
 * first word of a page while another (the changer), once the accessor has
 * made ACCESSES accesses, changes the page's mapping and then sets a flag.
 * The accessor reads the flag before each access (x86 keeps two loads in
 * order), so an access made after it saw the flag comes after the change
 * returned: it must fault, or see the page that replaced the old one. A
 * fault is caught by a SIGSEGV handler that records si_addr and si_code
 * and siglongjmps back to the accessor. The accessor makes no system call
 * while it accesses (a translation it holds stays in its TLB), except a
 * sched_yield every YIELD_EVERY accesses, so that where both threads share
 * one CPU a round costs less than a time slice. The cases:
 *   munmap        read; munmap: must fault (SEGV_MAPERR at the page)
 *   munmap-write  write; munmap: likewise
 *   mprotect-none read; mprotect PROT_NONE: must fault (SEGV_ACCERR)
 *   mprotect-ro   write; mprotect PROT_READ: must fault (SEGV_ACCERR), and
 *                 the word the changer reads right after mprotect returned
 *                 must not change later (no write landed after it)
 *   remap         read; munmap, then mmap MAP_FIXED of a memfd page holding
 *                 NEW at the same address: after the flag, only NEW (a
 *                 fault is allowed only before it)
 *   replace       read; mmap MAP_FIXED of the memfd page straight over the
 *                 old one: never a fault; after the flag, only NEW
 *   madvise-dontneed  read; madvise MADV_DONTNEED: never a fault; after
 *                 the flag, only 0 (a fresh zero page)
 *   mremap-move   read; mremap MREMAP_MAYMOVE|MREMAP_FIXED to another
 *                 address: must fault (SEGV_MAPERR at the old address),
 *                 and the word must be found at the new one
 * Each case runs twice: the main thread changing while a thread accesses,
 * and a thread changing while the main thread accesses. One verdict line a
 * case and way, the same on every run when the kernel keeps its promise.
 * One more case runs only when named, to show that the check can fail:
 *   control       read; no change at all, only the flag: every round must
 *                 report a stale read (and the program exits 1)
 *
 *   tlbshoot [ROUNDS [CASE]]   ROUNDS defaults to 200; CASE to all but control
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096
#define ACCESSES 1000
#define YIELD_EVERY (1 << 16) /* accesses between the accessor's yields */
#define OLD 0x4f4c4421 /* the old page's word */
#define NEW 0x4e455721 /* the word of the page that replaces it */

enum change { UNMAP, PROTECT_NONE, PROTECT_RO, REMAP, REPLACE, DONTNEED, MOVE, NO_CHANGE };

/* must_fault: an access after the change must fault, with si_code
 * expected_code; otherwise it must read new_word. */
static int must_fault(enum change c)
{
	return c == UNMAP || c == PROTECT_NONE || c == PROTECT_RO || c == MOVE;
}

static int expected_code(enum change c)
{
	return c == UNMAP || c == MOVE ? SEGV_MAPERR : SEGV_ACCERR;
}

static int new_word(enum change c)
{
	return c == DONTNEED ? 0 : NEW;
}

struct kase {
	const char *name;
	enum change change;
	int write; /* the accessor writes rather than reads */
};

static const struct kase kases[] = {
	{"munmap", UNMAP, 0},
	{"munmap-write", UNMAP, 1},
	{"mprotect-none", PROTECT_NONE, 0},
	{"mprotect-ro", PROTECT_RO, 1},
	{"remap", REMAP, 0},
	{"replace", REPLACE, 0},
	{"madvise-dontneed", DONTNEED, 0},
	{"mremap-move", MOVE, 0},
	{"control", NO_CHANGE, 0},
};

/* What the two threads share for one case. The changer writes page and
 * the round's setup, then go; the accessor writes its round's results,
 * then done. accesses and changed are the race itself. */
struct shared {
	const struct kase *k;
	long rounds;
	volatile int *page;
	int go, done;     /* the round set up / finished by the accessor (futex words) */
	long accesses;    /* the accessor's successful accesses this round */
	int changed;      /* the change's system calls have returned */

	/* Accessor's tallies over all rounds. */
	long faults_at_page;  /* faulted at the page with the expected si_code */
	long wrong_faults;    /* faulted elsewhere, with another code, or when it must not */
	long stale;           /* accessed the old page after the flag */
	long saw_new;         /* saw the new word after the flag */
	long first_bad_round; /* 0: none */
	long first_bad_value;
	uintptr_t first_bad_addr;
	int first_bad_code;

	/* Changer's tallies. */
	long late_writes; /* mprotect-ro: the word changed after mprotect returned */
	long errors;      /* a system call of the changer failed, or a moved word was not moved */
};

static int memfd = -1;

static long load(long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store(long *p, long v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* The hand-offs between rounds sleep on a futex, so that a thread waiting
 * for the next round leaves its CPU to the other one. */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static void post(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void await(int *p, int want)
{
	int v;
	while ((v = __atomic_load_n(p, __ATOMIC_ACQUIRE)) < want)
		syscall(SYS_futex, p, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

/* await_accesses waits, spinning (the accessor is busy accessing), until
 * the accessor has made ACCESSES accesses or ended the round. */
static void await_accesses(struct shared *s, int round)
{
	for (int i = 0; load(&s->accesses) < ACCESSES && __atomic_load_n(&s->done, __ATOMIC_ACQUIRE) < round; i++) {
		if (i < 200)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

/* The accessor's fault: where the handler jumps back to. */
static __thread sigjmp_buf fault_jump;
static __thread volatile int probing;
static __thread volatile uintptr_t fault_addr;
static __thread volatile int fault_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!probing) {
		/* A fault outside a probe is a real crash: die of it. */
		signal(sig, SIG_DFL);
		return;
	}
	probing = 0;
	fault_addr = (uintptr_t)si->si_addr;
	fault_code = si->si_code;
	siglongjmp(fault_jump, 1);
}

static void bad(struct shared *s, long round, long value, uintptr_t addr, int code)
{
	if (s->first_bad_round == 0) {
		s->first_bad_round = round;
		s->first_bad_value = value;
		s->first_bad_addr = addr;
		s->first_bad_code = code;
	}
}

/* access_round accesses the page until the round's outcome is known. */
static void access_round(struct shared *s, long round)
{
	const struct kase *k = s->k;
	volatile int *page = s->page;
	/* volatile: read again after siglongjmp. */
	volatile int faults = must_fault(k->change), want_code = expected_code(k->change), fresh = new_word(k->change);
	static __thread volatile long n;
	static __thread volatile int after;
	n = 0;
	after = 0;
	if (sigsetjmp(fault_jump, 1)) {
		if (faults && fault_addr == (uintptr_t)page && fault_code == want_code) {
			s->faults_at_page++;
			return;
		}
		if (k->change == REMAP && !after && fault_addr == (uintptr_t)page && fault_code == SEGV_MAPERR)
			goto again; /* between the munmap and the mmap: allowed */
		s->wrong_faults++;
		bad(s, round, -1, fault_addr, fault_code);
		return;
	}
again:
	for (;;) {
		int v;
		after = __atomic_load_n(&s->changed, __ATOMIC_ACQUIRE);
		probing = 1;
		if (k->write) {
			v = (int)n;
			*page = v;
		} else {
			v = *page;
		}
		probing = 0;
		n++;
		store(&s->accesses, n);
		/* Long past ACCESSES and still no change: the changer is not
		 * running beside us (one CPU for both, or a busy host). Give
		 * it the CPU rather than spin out a time slice; a change made
		 * meanwhile must still be seen on return. */
		if (n % YIELD_EVERY == 0)
			sched_yield();
		if (after) {
			if (!faults && v == fresh) {
				s->saw_new++;
				return;
			}
			s->stale++;
			bad(s, round, v, 0, 0);
			return;
		}
		if (!k->write && v != OLD && !(v == fresh && !faults)) {
			s->stale++;
			bad(s, round, v, 0, 0);
			return;
		}
	}
}

static void accessor(struct shared *s)
{
	for (long r = 1; r <= s->rounds; r++) {
		await(&s->go, (int)r);
		access_round(s, r);
		post(&s->done, (int)r);
	}
}

/* change changes page's mapping; target is where MOVE moves it. */
static void change(struct shared *s, void *page, void *target)
{
	int r = 0;
	switch (s->k->change) {
	case UNMAP:
		r = munmap(page, PAGE);
		break;
	case PROTECT_NONE:
		r = mprotect(page, PAGE, PROT_NONE);
		break;
	case PROTECT_RO:
		r = mprotect(page, PAGE, PROT_READ);
		break;
	case REMAP:
		r = munmap(page, PAGE);
		/* fall through */
	case REPLACE:
		if (r == 0 && mmap(page, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, 0) != page)
			r = -1;
		break;
	case DONTNEED:
		r = madvise(page, PAGE, MADV_DONTNEED);
		break;
	case MOVE:
		if (mremap(page, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target) != target)
			r = -1;
		break;
	case NO_CHANGE:
		break;
	}
	if (r != 0)
		s->errors++;
}

static void changer(struct shared *s)
{
	for (long r = 1; r <= s->rounds; r++) {
		void *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED) {
			printf("FAIL: mmap: %s\n", strerror(errno));
			exit(1);
		}
		/* Where MOVE moves the page: a mapping of its own, which the
		 * move replaces. */
		void *target = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (target == MAP_FAILED) {
			printf("FAIL: mmap: %s\n", strerror(errno));
			exit(1);
		}
		*(volatile int *)page = OLD;
		s->page = page;
		s->accesses = 0;
		__atomic_store_n(&s->changed, 0, __ATOMIC_RELEASE);
		post(&s->go, (int)r);

		await_accesses(s, (int)r);
		change(s, page, target);
		int before = 0;
		if (s->k->change == PROTECT_RO)
			before = *(volatile int *)page;
		__atomic_store_n(&s->changed, 1, __ATOMIC_RELEASE);
		await(&s->done, (int)r);
		if (s->k->change == PROTECT_RO && *(volatile int *)page != before)
			s->late_writes++;
		if (s->k->change == MOVE && *(volatile int *)target != OLD)
			s->errors++;
		munmap(page, PAGE);
		munmap(target, PAGE);
	}
}

static void *thread_accessor(void *arg)
{
	accessor(arg);
	return NULL;
}

static void *thread_changer(void *arg)
{
	changer(arg);
	return NULL;
}

static int run(const struct kase *k, long rounds, int main_changes)
{
	struct shared s;
	memset(&s, 0, sizeof s);
	s.k = k;
	s.rounds = rounds;
	pthread_t th;
	int err = pthread_create(&th, NULL, main_changes ? thread_accessor : thread_changer, &s);
	if (err != 0) {
		printf("FAIL: pthread_create: %s\n", strerror(err));
		exit(1);
	}
	if (main_changes)
		changer(&s);
	else
		accessor(&s);
	pthread_join(th, NULL);

	const char *who = main_changes ? "main changes, a thread accesses" : "a thread changes, main accesses";
	int ok = s.stale == 0 && s.wrong_faults == 0 && s.late_writes == 0 && s.errors == 0;
	int faults = must_fault(k->change);
	if (ok && faults)
		ok = s.faults_at_page == rounds;
	if (ok && !faults)
		ok = s.saw_new == rounds;
	if (ok && faults)
		printf("case %s (%s): accessor faulted at the page (%s) in %ld of %ld rounds, no stale access\n", k->name, who,
		       expected_code(k->change) == SEGV_MAPERR ? "SEGV_MAPERR" : "SEGV_ACCERR", s.faults_at_page, rounds);
	else if (ok)
		printf("case %s (%s): accessor saw the new page in %ld of %ld rounds, no stale read, no fault after the change\n",
		       k->name, who, s.saw_new, rounds);
	else {
		printf("case %s (%s): FAIL: %ld rounds faulted at the page, %ld saw the new page, %ld stale accesses, "
		       "%ld wrong faults, %ld late writes, %ld failed calls",
		       k->name, who, s.faults_at_page, s.saw_new, s.stale, s.wrong_faults, s.late_writes, s.errors);
		if (s.first_bad_round != 0 && s.first_bad_addr != 0)
			printf("; first bad round %ld: fault at %+ld from the page, si_code %d", s.first_bad_round,
			       (long)(s.first_bad_addr - (uintptr_t)s.page), s.first_bad_code);
		else if (s.first_bad_round != 0)
			printf("; first bad round %ld: accessed word %#x", s.first_bad_round, (unsigned)s.first_bad_value);
		printf("\n");
	}
	fflush(stdout);
	return ok;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 200;
	const char *only = argc > 2 ? argv[2] : NULL;
	if (rounds <= 0) {
		fprintf(stderr, "usage: tlbshoot [ROUNDS [CASE]]\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	memfd = (int)syscall(SYS_memfd_create, "tlbshoot", 0);
	int word = NEW;
	if (memfd < 0 || ftruncate(memfd, PAGE) != 0 || pwrite(memfd, &word, sizeof word, 0) != sizeof word) {
		printf("FAIL: memfd: %s\n", strerror(errno));
		return 1;
	}

	int ok = 1, ran = 0;
	for (size_t i = 0; i < sizeof kases / sizeof kases[0]; i++) {
		if (only != NULL ? strcmp(only, kases[i].name) != 0 : kases[i].change == NO_CHANGE)
			continue;
		ran = 1;
		ok &= run(&kases[i], rounds, 1);
		ok &= run(&kases[i], rounds, 0);
	}
	if (!ran) {
		fprintf(stderr, "tlbshoot: no case %s\n", only);
		return 2;
	}
	return !ok;
}
