/*
 * signals: signal handlers as Linux runs them for a single-threaded
 * program, built against glibc (signals-glibc) and musl (signals-musl).
 * Every line it prints is the same natively and under mmvm: signal
 * numbers, si_code, si_pid/si_uid against getpid/getuid, si_addr relative
 * to a mapping, the fault's trap number and error code from the ucontext,
 * masks inside and after handlers, FPU registers across a handler, the
 * alternate stack. With an argument it ends the way Linux ends it:
 *   blocked-segv  a fault while SIGSEGV is blocked kills (139)
 *   ignored-segv  a fault while SIGSEGV is ignored kills (139)
 *   abort         abort() after a SIGABRT handler returns (134)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t count;
static volatile int last_sig, last_code, pid_ok, uid_ok, blocked_in_handler, other_blocked;
static volatile uintptr_t last_addr;
static volatile long last_trapno, last_err;
static volatile int cr2_ok;
static sigjmp_buf jump;

static void on_info(int sig, siginfo_t *si, void *ucv) {
	ucontext_t *uc = ucv;
	sigset_t now;
	count++;
	last_sig = si->si_signo == sig ? sig : -1;
	last_code = si->si_code;
	pid_ok = si->si_pid == getpid();
	uid_ok = si->si_uid == getuid();
	last_addr = (uintptr_t)si->si_addr;
	last_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	last_err = uc->uc_mcontext.gregs[REG_ERR];
	cr2_ok = (uintptr_t)uc->uc_mcontext.gregs[REG_CR2] == (uintptr_t)si->si_addr;
	sigprocmask(SIG_BLOCK, NULL, &now);
	blocked_in_handler = sigismember(&now, sig);
	other_blocked = sigismember(&now, SIGUSR2);
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags, int mask_usr2) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (mask_usr2)
		sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(sig, &sa, NULL) != 0) {
		perror("sigaction");
		exit(2);
	}
}

static void report(const char *what) {
	printf("%s: count %d sig %d code %d pid %d uid %d blocked-in-handler %d usr2-blocked %d\n", what, (int)count,
	       last_sig, last_code, pid_ok, uid_ok, blocked_in_handler, other_blocked);
}

static int is_blocked(int sig) {
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	return sigismember(&now, sig);
}

/* The xmm registers before raise, clobbered by the handler, checked after. */
static void on_clobber(int sig, siginfo_t *si, void *uc) {
	(void)sig, (void)si, (void)uc;
	uint64_t junk[2] = {0xdeaddeaddeaddeadull, 0xbeefbeefbeefbeefull};
	uint32_t mxcsr = 0x1f80 | 0x6000; /* round toward zero */
	count++;
	__asm__ volatile("movdqu %0, %%xmm0\n movdqu %0, %%xmm1\n movdqu %0, %%xmm7\n movdqu %0, %%xmm8\n movdqu %0, %%xmm15\n ldmxcsr %1"
			 :
			 : "m"(junk), "m"(mxcsr)
			 : "xmm0", "xmm1", "xmm7", "xmm8", "xmm15");
}

static void fpu_survives(void) {
	uint64_t in[2] = {0x0123456789abcdefull, 0xfedcba9876543210ull}, out0[2], out8[2], out15[2];
	uint32_t mxcsr_in = 0x1f80 | 0x2000, mxcsr_out, mxcsr_saved; /* round down */
	install(SIGUSR1, on_clobber, 0, 0);
	count = 0;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr_saved));
	/* raise itself is a call, which may use xmm registers; do the
	 * system call directly so that nothing between sets and checks. */
	__asm__ volatile("movdqu %[in], %%xmm0\n movdqu %[in], %%xmm8\n movdqu %[in], %%xmm15\n ldmxcsr %[m]\n"
			 "mov %[nr], %%eax\n mov %[pid], %%edi\n mov %[sig], %%esi\n syscall\n"
			 "movdqu %%xmm0, %[o0]\n movdqu %%xmm8, %[o8]\n movdqu %%xmm15, %[o15]\n stmxcsr %[mo]"
			 : [o0] "=m"(out0), [o8] "=m"(out8), [o15] "=m"(out15), [mo] "=m"(mxcsr_out)
			 : [in] "m"(in), [m] "m"(mxcsr_in), [nr] "i"(62 /* kill */), [pid] "r"(getpid()), [sig] "i"(SIGUSR1)
			 : "rax", "rdi", "rsi", "rcx", "r11", "xmm0", "xmm8", "xmm15", "memory");
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr_saved));
	printf("fpu: handler ran %d, xmm0 %s, xmm8 %s, xmm15 %s, mxcsr %s\n", (int)count,
	       memcmp(in, out0, 16) ? "clobbered" : "kept", memcmp(in, out8, 16) ? "clobbered" : "kept",
	       memcmp(in, out15, 16) ? "clobbered" : "kept", mxcsr_out == mxcsr_in ? "kept" : "clobbered");
}

/* The handler sees a fresh FPU: MXCSR at its default. */
static volatile uint32_t handler_mxcsr;
static void on_mxcsr(int sig, siginfo_t *si, void *uc) {
	(void)sig, (void)si, (void)uc;
	uint32_t m;
	__asm__ volatile("stmxcsr %0" : "=m"(m));
	handler_mxcsr = m;
}

static char *page;
static long pagesz;

static void on_segv_fix(int sig, siginfo_t *si, void *uc) {
	on_info(sig, si, uc);
	if (mprotect(page, pagesz, PROT_READ | PROT_WRITE) != 0)
		_exit(3);
}

static void on_segv_map(int sig, siginfo_t *si, void *uc) {
	on_info(sig, si, uc);
	if (mmap((void *)((uintptr_t)si->si_addr & ~(uintptr_t)(pagesz - 1)), pagesz, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		_exit(4);
}

static void on_jump(int sig, siginfo_t *si, void *uc) {
	on_info(sig, si, uc);
	siglongjmp(jump, 1);
}

static char *alt;
static size_t altsz;
static volatile int on_alt, alt_flags;
static void on_overflow(int sig, siginfo_t *si, void *uc) {
	char here;
	stack_t now;
	on_info(sig, si, uc);
	on_alt = &here >= alt && &here < alt + altsz;
	sigaltstack(NULL, &now);
	alt_flags = now.ss_flags;
	siglongjmp(jump, 1);
}

__attribute__((noinline)) static unsigned long recurse(unsigned long n) {
	volatile char buf[4096];
	buf[0] = (char)n;
	buf[sizeof buf - 1] = (char)n;
	if (n == ~0UL) /* never: keeps the compiler from calling this infinite */
		return 0;
	return recurse(n + 1) + buf[0] + buf[sizeof buf - 1];
}

static void on_abrt(int sig) {
	(void)sig;
	printf("SIGABRT handler returns\n");
	fflush(stdout);
}

int main(int argc, char **argv) {
	pagesz = sysconf(_SC_PAGESIZE);
	if (argc > 1 && strcmp(argv[1], "abort") == 0) {
		signal(SIGABRT, on_abrt);
		abort();
	}
	if (argc > 1 && (strcmp(argv[1], "blocked-segv") == 0 || strcmp(argv[1], "ignored-segv") == 0)) {
		install(SIGSEGV, on_info, 0, 0);
		if (argv[1][0] == 'b') {
			sigset_t s;
			sigemptyset(&s);
			sigaddset(&s, SIGSEGV);
			sigprocmask(SIG_BLOCK, &s, NULL);
		} else {
			signal(SIGSEGV, SIG_IGN);
		}
		printf("faulting with SIGSEGV %s\n", argv[1]);
		fflush(stdout);
		volatile int *volatile bad = (int *)16;
		*bad = 1;
		printf("survived\n");
		return 1;
	}

	/* raise: SI_TKILL from ourselves; the signal is blocked in its
	 * handler, SIGUSR2 too through sa_mask. */
	install(SIGUSR1, on_info, 0, 1);
	raise(SIGUSR1);
	report("raise SIGUSR1");
	printf("after handler: SIGUSR1 blocked %d\n", is_blocked(SIGUSR1));

	/* kill: SI_USER. SA_NODEFER leaves the signal unblocked inside. */
	install(SIGUSR2, on_info, SA_NODEFER, 0);
	kill(getpid(), SIGUSR2);
	report("kill SIGUSR2 nodefer");

	/* Blocked: pending until unblocked, delivered at the unblocking. */
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, &old);
	count = 0;
	raise(SIGUSR1);
	sigset_t pend;
	sigpending(&pend);
	printf("blocked: count %d pending %d\n", (int)count, sigismember(&pend, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);
	report("unblocked");

	/* sigsuspend: the pending signal is taken, the call returns EINTR,
	 * the mask comes back. */
	sigprocmask(SIG_BLOCK, &s, &old);
	count = 0;
	raise(SIGUSR1);
	sigset_t none;
	sigemptyset(&none);
	int r = sigsuspend(&none);
	printf("sigsuspend: %d eintr %d count %d blocked after %d\n", r, r == -1 && errno == EINTR, (int)count, is_blocked(SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* SA_RESETHAND: the handler runs once, the action is then SIG_DFL. */
	install(SIGUSR2, on_info, SA_RESETHAND, 0);
	count = 0;
	raise(SIGUSR2);
	struct sigaction cur;
	sigaction(SIGUSR2, NULL, &cur);
	printf("resethand: count %d now default %d\n", (int)count, cur.sa_handler == SIG_DFL);

	/* Real-time signals queue, standard ones do not: three of each
	 * sent while blocked run the handler four times in all. */
	install(SIGRTMIN, on_info, 0, 0);
	install(SIGUSR1, on_info, 0, 0);
	sigaddset(&s, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &s, &old);
	count = 0;
	for (int i = 0; i < 3; i++) {
		raise(SIGRTMIN);
		raise(SIGUSR1);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("queued: count %d last sig is SIGRTMIN %d\n", (int)count, last_sig == SIGRTMIN);

	/* Ignored signals are dropped. */
	signal(SIGUSR1, SIG_IGN);
	raise(SIGUSR1);
	printf("ignored: survived\n");

	fpu_survives();
	install(SIGUSR1, on_mxcsr, 0, 0);
	{
		uint32_t m = 0x1f80 | 0x4000, back = 0x1f80;
		__asm__ volatile("ldmxcsr %0" : : "m"(m));
		raise(SIGUSR1);
		__asm__ volatile("stmxcsr %0" : "=m"(m));
		__asm__ volatile("ldmxcsr %0" : : "m"(back));
		printf("handler mxcsr %#x, after %#x\n", (unsigned)handler_mxcsr, (unsigned)m);
	}

	/* A SIGSEGV handler that makes the page writable and returns: the
	 * write runs again and succeeds. */
	page = mmap(NULL, 4 * pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	install(SIGSEGV, on_segv_fix, 0, 0);
	count = 0;
	((volatile char *)page)[100] = 42;
	printf("segv accerr: count %d sig %d code %d addr +%ld trapno %ld err %#lx cr2 %d value %d\n", (int)count, last_sig,
	       last_code, (long)(last_addr - (uintptr_t)page), last_trapno, last_err, cr2_ok, page[100]);
	mprotect(page, pagesz, PROT_READ);
	count = 0;
	((volatile char *)page)[200] = 7;
	/* err is not printed: Linux keeps the page present read-only (7),
	 * mmvm's mprotect unmaps it (6). */
	printf("segv write to read-only: count %d code %d addr +%ld value %d\n", (int)count, last_code,
	       (long)(last_addr - (uintptr_t)page), page[200]);

	/* A handler that maps the missing page: SEGV_MAPERR, then the
	 * access reruns. */
	munmap(page + 2 * pagesz, pagesz);
	install(SIGSEGV, on_segv_map, 0, 0);
	count = 0;
	int v = ((volatile char *)page)[2 * pagesz + 5];
	((volatile char *)page)[2 * pagesz + 6] = 9;
	printf("segv maperr: count %d code %d addr +%ld err %#lx read %d wrote %d\n", (int)count, last_code,
	       (long)(last_addr - (uintptr_t)page), last_err, v, page[2 * pagesz + 6]);

	/* SIGFPE from a division by zero, left with siglongjmp, which
	 * restores the mask. */
	install(SIGFPE, on_jump, 0, 0);
	if (sigsetjmp(jump, 1) == 0) {
		volatile int zero = 0, one = 1;
		printf("never: %d\n", one / zero);
	}
	printf("sigfpe: sig %d code %d trapno %ld blocked after longjmp %d\n", last_sig, last_code, last_trapno, is_blocked(SIGFPE));

	/* SIGFPE from an SSE division by zero with the exception unmasked:
	 * FPE_FLTDIV, si_addr the divss itself. */
	if (sigsetjmp(jump, 1) == 0) {
		uint32_t m = 0x1f80 & ~(1u << 9);
		volatile float one = 1.0f, zero = 0.0f;
		float q;
		__asm__ volatile("ldmxcsr %0" : : "m"(m));
		__asm__ volatile("movss %1, %%xmm0\n divss %2, %%xmm0\n movss %%xmm0, %0" : "=m"(q) : "m"(one), "m"(zero) : "xmm0");
		printf("never: %f\n", q);
	}
	{
		uint32_t m = 0x1f80;
		__asm__ volatile("ldmxcsr %0" : : "m"(m));
	}
	printf("sse sigfpe: sig %d code %d trapno %ld err %ld\n", last_sig, last_code, last_trapno, last_err);

	/* SIGFPE from the x87 with invalid operations unmasked, raised at
	 * the next x87 instruction (#MF): FPE_FLTINV. */
	if (sigsetjmp(jump, 1) == 0) {
		uint16_t cw = 0x37f & ~1u;
		__asm__ volatile("fninit\n fldcw %0\n fldz\n fldz\n fdivp\n fwait\n fstp %%st(0)" : : "m"(cw));
	}
	__asm__ volatile("fninit");
	printf("x87 sigfpe: sig %d code %d trapno %ld\n", last_sig, last_code, last_trapno);

	/* SIGILL from ud2. */
	install(SIGILL, on_jump, 0, 0);
	if (sigsetjmp(jump, 1) == 0)
		__asm__ volatile("ud2");
	printf("sigill: sig %d code %d trapno %ld\n", last_sig, last_code, last_trapno);

	/* SIGTRAP from int3: SI_KERNEL, and the handler returns past it. */
	install(SIGTRAP, on_info, 0, 0);
	count = 0;
	__asm__ volatile("int3");
	printf("sigtrap: count %d sig %d code %#x trapno %ld\n", (int)count, last_sig, last_code, last_trapno);

	/* A stack overflow caught on the alternate stack. */
	altsz = 64 * 1024;
	alt = malloc(altsz);
	stack_t ss = {.ss_sp = alt, .ss_size = altsz, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0)
		perror("sigaltstack");
	install(SIGSEGV, on_overflow, SA_ONSTACK, 0);
	if (sigsetjmp(jump, 1) == 0) {
		recurse(0);
	}
	stack_t after;
	sigaltstack(NULL, &after);
	printf("overflow: sig %d code %d on alt stack %d flags inside %d after %d\n", last_sig, last_code, on_alt, alt_flags,
	       after.ss_flags);
	return 0;
}
