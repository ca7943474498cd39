/*
 * sysfuzz SEED COUNT: makes COUNT system calls with random numbers and wild
 * arguments (small numbers, addresses in and around an arena it maps,
 * kernel and non-canonical addresses, huge lengths, all-ones), the same
 * sequence for the same SEED, and prints how they ended: one line naming
 * the seed, the count, and how many returned each of the common errnos.
 *
 * It runs only inside mmvm (the tests never run it natively: random calls
 * are not safe on a host). To make COUNT calls it must survive them, so it
 * leaves out what ends or stops a program by design, on Linux too: exit,
 * signals to itself and handlers at wild addresses, alarms, sleeps, waits
 * with wild timeouts, futex waits, pipes and sockets (a read of an empty
 * pipe waits for a writer that is the reader itself), new processes; and
 * it keeps memory calls off its own image and stack, which Linux would let
 * it destroy. Everything else, mmvm must answer as Linux would: with a
 * result or an errno, never a crash of the host. It has no libc and no
 * thread-local storage, so arch_prctl and the like cannot break it.
 */
#include "sys.h"

/* The arena: mapped read-write at start, where address arguments point
 * half the time, so that calls find memory there to read and write. */
#define ARENA 0x100000000000UL
#define ARENA_SIZE (64UL << 20)

/* outFD is stdout duplicated out of reach of the wild fds (0..15, powers
 * of two, huge), for the summary. */
#define OUT_FD 999

/* The highest x86-64 system call number tried, a little past Linux's. */
#define MAX_NR 470

extern char __executable_start[], _end[];

static uint64_t rng;

/* next: xorshift64*. */
static uint64_t next(void) {
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717UL;
}

static uint64_t below(uint64_t n) { return next() % n; }

static int own(uint64_t addr, uint64_t len);
static uint64_t wild_any(void);

/* wild returns an argument a hostile program might pass, never one that
 * points into the program's own image or stack (any argument may be a
 * pointer the kernel writes through, and Linux would write there). */
static uint64_t wild(void) {
	for (;;) {
		uint64_t v = wild_any();
		if (!own(v, 0))
			return v;
	}
}

/* wild_any: small numbers, addresses in and around the arena, low pages,
 * all-ones and near it, kernel and non-canonical addresses, the top of the
 * user half, anything, 32-bit values, small negatives, powers of two. */
static uint64_t wild_any(void) {
	switch (below(12)) {
	case 0:
		return 0;
	case 1:
		return below(16);
	case 2:
		return ARENA + (below(ARENA_SIZE / PAGE_SIZE + 64) << 12);
	case 3:
		return ARENA + below(ARENA_SIZE);
	case 4:
		return below(64) << 12;
	case 5:
		return ~0UL - below(4096);
	case 6:
		return 0xffff800000000000UL + below(1UL << 30);
	case 7:
		return 0x0000800000000000UL + (below(3) << 12); /* just past the user half */
	case 8:
		return next();
	case 9:
		return below(1UL << 32);
	case 10:
		return -(long)below(200);
	}
	return 1UL << below(64);
}

/* lo and hi bound the program's own stack, as far as a memory call must
 * stay away from it (the stack, and the vDSO and vvar beside it). */
static uint64_t stack_lo, stack_hi;

/* own reports whether [addr, addr+len) (len 0 counting as one page)
 * reaches the program's image or stack. */
static int own(uint64_t addr, uint64_t len) {
	uint64_t end = addr + (len ? len : PAGE_SIZE);
	if (end < addr)
		end = ~0UL;
	uint64_t img_lo = (uint64_t)__executable_start & ~(PAGE_SIZE - 1);
	uint64_t img_hi = ((uint64_t)_end + (1UL << 20)) & ~(PAGE_SIZE - 1); /* with room for brk */
	return (addr < img_hi && end > img_lo) || (addr < stack_hi && end > stack_lo);
}

/* Numbers that end, stop or wait by design (see the top), or start
 * processes; each is replaced by getpid. */
static int excluded(uint64_t nr) {
	switch (nr) {
	case 0: case 19: case 17: case 295: case 327: /* read, readv, pread64, preadv, preadv2: stdin may wait */
	case 7: case 271: case 23: case 270: case 232: case 281: case 441: /* poll, ppoll, select, pselect6, epoll_wait/pwait/pwait2 */
	case 34: case 130: case 35: case 230: case 128: /* pause, rt_sigsuspend, nanosleep, clock_nanosleep, rt_sigtimedwait */
	case 37: case 38: case 222: case 223: case 283: case 286: /* alarm, setitimer, timer_create/settime, timerfd_create/settime */
	case 13: case 15: /* rt_sigaction (a handler at a wild address), rt_sigreturn */
	case 60: case 231: /* exit, exit_group */
	case 62: case 200: case 234: case 129: case 297: case 424: /* kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal */
	case 56: case 57: case 58: case 59: case 322: case 435: /* clone, fork, vfork, execve, execveat, clone3 */
	case 61: case 247: case 101: /* wait4, waitid, ptrace */
	case 202: case 449: case 454: case 455: case 456: /* futex, futex_waitv, futex_wake/wait/requeue */
	case 22: case 293: case 53: case 41: case 43: case 288: case 42: /* pipe, pipe2, socketpair, socket, accept, accept4, connect */
	case 275: case 276: case 278: case 40: /* splice, tee, vmsplice, sendfile */
	case 284: case 290: /* eventfd, eventfd2 */
	case 69: case 70: case 65: case 64: case 220: /* msgsnd, msgrcv, semop, semget, semtimedop */
	case 242: case 243: case 244: /* mq_timedsend, mq_timedreceive, mq_notify (a signal) */
	case 30: /* shmat: maps where it is told */
	case 310: case 311: /* process_vm_readv/writev */
	case 169: /* reboot */
	case 317: /* seccomp */
	case 440: /* process_madvise */
	case 436: /* close_range: would close the summary's fd */
	case 160: case 302: /* setrlimit, prlimit64: RLIMIT_CPU ends a program by design */
		return 1;
	}
	return 0;
}

/* keepOffSelf re-draws the address arguments of the memory calls until
 * none reaches the program's own image or stack. */
static void keep_off_self(uint64_t nr, uint64_t *a) {
	for (int tries = 0; tries < 1000; tries++) {
		int bad = 0;
		switch (nr) {
		case 9: /* mmap: only MAP_FIXED replaces */
			bad = (a[3] & 0x10) && own(a[0], a[1]);
			break;
		case 10: case 11: case 28: case 26: case 149: case 150: case 237: case 216: case 329: case 462:
			/* mprotect, munmap, madvise, msync, mlock, munlock, mbind, remap_file_pages, pkey_mprotect, mseal */
			bad = own(a[0], a[1]);
			break;
		case 25: /* mremap: the old range, and the new one */
			bad = own(a[0], a[1]) || own(a[4], a[2]);
			break;
		case 12: /* brk */
			bad = own(a[0], 0);
			break;
		}
		if (!bad)
			return;
		for (int i = 0; i < 6; i++)
			a[i] = wild();
	}
	a[0] = ARENA;
}

static void out_u64(const char *name, uint64_t v) {
	fput_str(OUT_FD, name);
	fput_u64(OUT_FD, v);
}

int main(int argc, char **argv) {
	uint64_t seed = parse_u64(argc > 1 ? argv[1] : NULL, 1);
	uint64_t count = parse_u64(argc > 2 ? argv[2] : NULL, 10000);
	rng = seed * 0x9e3779b97f4a7c15UL + 1;

	uint64_t here = (uint64_t)&seed;
	stack_lo = (here - (64UL << 20)) & ~(PAGE_SIZE - 1);
	stack_hi = here + (64UL << 20);
	if (syscall2(SYS_dup2, 1, OUT_FD) != OUT_FD) {
		put_str("sysfuzz: dup2 of stdout failed\n");
		return 1;
	}
	if (sys_failed(sys_mmap((void *)ARENA, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0))) {
		fput_str(OUT_FD, "sysfuzz: mapping the arena failed\n");
		return 1;
	}

	/* by result: [0] success, [e] errno e (1..133), [134] larger errnos */
	static uint64_t results[135];
	uint64_t enosys_wild = 0;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t nr = below(MAX_NR + 1);
		int wild_nr = below(50) == 0;
		if (wild_nr)
			nr = wild() | 512; /* never a real number */
		else if (excluded(nr))
			nr = SYS_getpid;
		uint64_t a[6];
		for (int j = 0; j < 6; j++)
			a[j] = wild();
		if (!wild_nr)
			keep_off_self(nr, a);
		long r = syscall6((long)nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (wild_nr && r == -38)
			enosys_wild++;
		if (!sys_failed(r))
			results[0]++;
		else
			results[-r < 134 ? -r : 134]++;
	}

	/* After the wild writes' bytes, which need not end a line. */
	out_u64("\nsysfuzz seed ", seed);
	out_u64(": ", count);
	out_u64(" calls: ok ", results[0]);
	out_u64(", EPERM ", results[1]);
	out_u64(", ENOENT ", results[2]);
	out_u64(", EBADF ", results[9]);
	out_u64(", EAGAIN ", results[11]);
	out_u64(", ENOMEM ", results[12]);
	out_u64(", EACCES ", results[13]);
	out_u64(", EFAULT ", results[14]);
	out_u64(", EEXIST ", results[17]);
	out_u64(", EINVAL ", results[22]);
	out_u64(", ENOTTY ", results[25]);
	out_u64(", ENOSYS ", results[38]);
	uint64_t other = 0;
	for (int e = 1; e < 135; e++)
		if (e != 1 && e != 2 && e != 9 && e != 11 && e != 12 && e != 13 && e != 14 && e != 17 && e != 22 && e != 25 && e != 38)
			other += results[e];
	out_u64(", other errnos ", other);
	out_u64("; wild numbers answered ENOSYS ", enosys_wild);
	fput_str(OUT_FD, "\n");
	return 0;
}
