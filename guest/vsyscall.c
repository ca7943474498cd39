/* vsyscall: calls the legacy vsyscall page at 0xffffffffff600000, as
 * programs linked against a glibc older than 2.14 do, and checks what
 * Linux's execute-only emulation (vsyscall=xonly, the default) answers:
 * the three entry points run gettimeofday, time and getcpu and return to
 * the caller; reading or writing the page, calling it anywhere else,
 * with a bad stack or with a bad pointer is SIGSEGV with Linux's si_code
 * and si_addr. It also prints the page's line of /proc/self/maps. Under
 * vsyscall=none (Debian's 6.1 kernels) there is no line and every access
 * is the SIGSEGV of an unmapped address. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define VSYSCALL 0xffffffffff600000UL

typedef long (*gettimeofday_fn)(struct timeval *, struct timezone *);
typedef long (*time_fn)(long *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static sigjmp_buf env;
static volatile siginfo_t got;
static volatile unsigned long got_err, got_trapno, got_rip;

static void on_segv(int sig, siginfo_t *si, void *uc_) {
	ucontext_t *uc = uc_;
	(void)sig;
	got = *si;
	got_err = uc->uc_mcontext.gregs[REG_ERR];
	got_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	got_rip = uc->uc_mcontext.gregs[REG_RIP];
	siglongjmp(env, 1);
}

/* report prints what the SIGSEGV the last step raised carried: its code,
 * its address, and where the program was. full adds the page fault's
 * error code and trap number, which Linux sets only for a fault it
 * reports at an address. */
static void report(const char *what, int full) {
	printf("%s: SIGSEGV si_code=%d si_addr=%#lx rip=%s", what, got.si_code,
	       (unsigned long)got.si_addr, got_rip >= VSYSCALL ? "vsyscall page" : "caller");
	if (full)
		printf(" err=%lu trapno=%lu", got_err, got_trapno);
	printf("\n");
}

/* call_with_stack calls the vsyscall entry fn with rsp set to stack, so
 * that the emulation finds no return address to go back to. */
static void call_with_stack(unsigned long fn, unsigned long stack) {
	__asm__ volatile("mov %0, %%rsp\n\tjmp *%1\n" ::"r"(stack), "r"(fn) : "memory");
}

static void maps_line(void) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;
	if (!f) {
		printf("maps: cannot open\n");
		return;
	}
	while (fgets(line, sizeof line, f))
		if (strstr(line, "[vsyscall]")) {
			printf("maps: %s", line);
			found = 1;
		}
	fclose(f);
	if (!found)
		printf("maps: no [vsyscall] line\n");
}

int main(void) {
	static char altstack[65536];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER};
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	setvbuf(stdout, NULL, _IONBF, 0);

	maps_line();

	struct timeval tv = {0}, ref;
	struct timezone tz = {-1, -1};
	long rc, t = 0;
	unsigned cpu = 999, node = 999;
	gettimeofday(&ref, NULL);
	if (!sigsetjmp(env, 1)) {
		rc = ((gettimeofday_fn)VSYSCALL)(&tv, &tz);
		long skew = tv.tv_sec - ref.tv_sec;
		printf("gettimeofday: rc=%ld seconds within 2 of libc's: %d tz=%d,%d\n", rc, skew >= 0 && skew <= 2,
		       tz.tz_minuteswest, tz.tz_dsttime);
		printf("gettimeofday(NULL, NULL): rc=%ld\n", ((gettimeofday_fn)VSYSCALL)(NULL, NULL));
	} else
		report("gettimeofday", 1);
	if (!sigsetjmp(env, 1)) {
		rc = ((time_fn)(VSYSCALL + 0x400))(&t);
		printf("time: rc equals stored value: %d, within 2 of gettimeofday's: %d\n", rc == t,
		       rc - ref.tv_sec >= 0 && rc - ref.tv_sec <= 2);
		printf("time(NULL) positive: %d\n", ((time_fn)(VSYSCALL + 0x400))(NULL) > 0);
	} else
		report("time", 1);
	if (!sigsetjmp(env, 1)) {
		rc = ((getcpu_fn)(VSYSCALL + 0x800))(&cpu, &node, NULL);
		printf("getcpu: rc=%ld cpu valid: %d node=%u\n", rc, cpu < 4096, node);
		printf("getcpu(NULL, NULL): rc=%ld\n", ((getcpu_fn)(VSYSCALL + 0x800))(NULL, NULL, NULL));
	} else
		report("getcpu", 1);

	if (!sigsetjmp(env, 1)) {
		volatile unsigned char c = *(volatile unsigned char *)VSYSCALL;
		printf("read: survived %d\n", c);
	} else
		report("read", 1);
	if (!sigsetjmp(env, 1)) {
		*(volatile unsigned char *)(VSYSCALL + 8) = 1;
		printf("write: survived\n");
	} else
		report("write", 1);
	if (!sigsetjmp(env, 1)) {
		((time_fn)(VSYSCALL + 0x10))(NULL);
		printf("misaligned call: survived\n");
	} else
		report("misaligned call", 0);
	if (!sigsetjmp(env, 1)) {
		((time_fn)(VSYSCALL + 0xc00))(NULL);
		printf("fourth slot: survived\n");
	} else
		report("fourth slot", 0);
	if (!sigsetjmp(env, 1)) {
		((gettimeofday_fn)VSYSCALL)((struct timeval *)0x7ffffffffff8UL, NULL);
		printf("pointer past user space: survived\n");
	} else
		report("pointer past user space", 1);
	if (!sigsetjmp(env, 1)) {
		((time_fn)(VSYSCALL + 0x400))((long *)0x1000);
		printf("unmapped pointer: survived\n");
	} else
		report("unmapped pointer", 0);
	if (!sigsetjmp(env, 1)) {
		call_with_stack(VSYSCALL + 0x400, 0x1000);
		printf("bad stack: survived\n");
	} else
		report("bad stack", 0);

	if (!sigsetjmp(env, 1))
		printf("after the faults: gettimeofday rc=%ld\n", ((gettimeofday_fn)VSYSCALL)(&tv, NULL));
	else
		report("after the faults", 1);
	return 0;
}
