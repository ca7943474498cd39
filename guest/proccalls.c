/*
 * proccalls: the fd, pipe, signal, sleep and process-information calls
 * ordinary programs make at start-up and on their way out, each printed as
 * a line that does not depend on the machine (only what Linux answers the
 * same everywhere: errnos, sizes, round trips), then SIGABRT sent to itself
 * with tgkill, so that the exit status is 134.
 */
#include "sys.h"

#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define F_DUPFD_CLOEXEC 1030
#define FD_CLOEXEC 1
#define O_NONBLOCK 04000
#define O_CLOEXEC 02000000
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define TIMER_ABSTIME 1
#define SIG_BLOCK 0
#define SIGABRT 6
#define SIGPIPE 13
#define SIGCHLD 17
#define PR_SET_NAME 15
#define PR_GET_NAME 16
#define SS_DISABLE 2
#define AT_FDCWD -100

struct timespec {
	long sec, nsec;
};

struct stack_t {
	void *sp;
	int flags;
	size_t size;
};

static void line(const char *what, long v) {
	put_str(what);
	put_str(" ");
	put_i64(v);
	put_str("\n");
}

static void fd_calls(void) {
	line("fcntl F_GETFD 1", syscall2(SYS_fcntl, 1, F_GETFD));
	line("fcntl F_GETFD 99", syscall2(SYS_fcntl, 99, F_GETFD));
	line("fcntl unknown", syscall2(SYS_fcntl, 1, 9999));
	line("dup 1", syscall1(SYS_dup, 1));
	line("close 3", syscall1(SYS_close, 3));
	line("close 3 again", syscall1(SYS_close, 3));
	line("dup2 1 1", syscall2(SYS_dup2, 1, 1));
	line("dup3 1 1", syscall3(SYS_dup3, 1, 1, 0));
	line("dup3 1 7 O_CLOEXEC", syscall3(SYS_dup3, 1, 7, O_CLOEXEC));
	line("fcntl F_GETFD 7", syscall2(SYS_fcntl, 7, F_GETFD));
	line("fcntl F_SETFD 7 0", syscall3(SYS_fcntl, 7, F_SETFD, 0));
	line("fcntl F_GETFD 7", syscall2(SYS_fcntl, 7, F_GETFD));
	line("fcntl F_DUPFD_CLOEXEC 1 5", syscall3(SYS_fcntl, 1, F_DUPFD_CLOEXEC, 5));
	line("fcntl F_GETFD 5", syscall2(SYS_fcntl, 5, F_GETFD));
	line("fcntl F_DUPFD 1 5", syscall3(SYS_fcntl, 1, F_DUPFD, 5));
	syscall1(SYS_close, 5);
	syscall1(SYS_close, 6);
	syscall1(SYS_close, 7);
	/* Writes through a dup reach the same place. */
	syscall2(SYS_dup2, 1, 9);
	sys_write(9, "through fd 9\n", 13);
	syscall1(SYS_close, 9);
}

static char page[8192];

static void pipe_calls(void) {
	int fds[2];
	line("pipe2 bad flags", syscall2(SYS_pipe2, (long)fds, 1));
	line("pipe2", syscall2(SYS_pipe2, (long)fds, O_NONBLOCK));
	line("read end", fds[0]);
	line("write end", fds[1]);
	line("F_GETFL read end", syscall2(SYS_fcntl, fds[0], F_GETFL));
	line("F_GETFL write end", syscall2(SYS_fcntl, fds[1], F_GETFL));
	line("read empty", syscall3(SYS_read, fds[0], (long)page, 10));
	line("write", sys_write(fds[1], "piped", 5));
	/* dup2 the write end elsewhere: one pipe, two fds. */
	line("dup2 write end 10", syscall2(SYS_dup2, fds[1], 10));
	line("write via 10", sys_write(10, "!", 1));
	long n = syscall3(SYS_read, fds[0], (long)page, sizeof page);
	line("read", n);
	if (n > 0) {
		sys_write(1, page, n);
		put_str("\n");
	}
	/* Fill it a page at a time. */
	long total = 0, r;
	while ((r = sys_write(fds[1], page, 4096)) > 0)
		total += r;
	line("filled", total);
	line("then", r);
	line("F_SETFL blocking", syscall3(SYS_fcntl, fds[0], F_SETFL, 0));
	line("F_GETFL read end", syscall2(SYS_fcntl, fds[0], F_GETFL));
	syscall1(SYS_close, fds[1]);
	syscall1(SYS_close, 10);
	total = 0;
	while ((r = syscall3(SYS_read, fds[0], (long)page, sizeof page)) > 0)
		total += r;
	line("drained", total);
	line("end of file", r);
	/* A write with no reader: SIGPIPE is blocked, so EPIPE, and SIGPIPE
	 * stays pending. */
	unsigned long set = 1UL << (SIGPIPE - 1), pending = 0;
	syscall4(SYS_rt_sigprocmask, SIG_BLOCK, (long)&set, 0, 8);
	syscall2(SYS_pipe2, (long)fds, 0);
	syscall1(SYS_close, fds[0]);
	line("write with no reader", sys_write(fds[1], "x", 1));
	syscall2(SYS_rt_sigpending, (long)&pending, 8);
	line("SIGPIPE pending", (pending >> (SIGPIPE - 1)) & 1);
	syscall1(SYS_close, fds[1]);
}

static void sleep_calls(void) {
	struct timespec t = {0, 1000000}, rem = {-1, -1}, now;
	line("clock_nanosleep 1ms", syscall4(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, (long)&t, (long)&rem));
	line("rem untouched", rem.sec == -1 && rem.nsec == -1);
	syscall2(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&now);
	now.nsec += 2000000;
	if (now.nsec >= 1000000000)
		now.sec++, now.nsec -= 1000000000;
	line("clock_nanosleep absolute", syscall4(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, (long)&now, 0));
	struct timespec past = {1, 0};
	line("clock_nanosleep realtime past", syscall4(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, (long)&past, 0));
	line("clock_nanosleep bad clock", syscall4(SYS_clock_nanosleep, 100, 0, (long)&t, 0));
	struct timespec bad = {0, 1000000000};
	line("clock_nanosleep bad nsec", syscall4(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, (long)&bad, 0));
}

static int ends_with(const char *s, long n, const char *suffix) {
	long m = str_len(suffix);
	if (n < m)
		return 0;
	for (long i = 0; i < m; i++)
		if (s[n - m + i] != suffix[i])
			return 0;
	return 1;
}

static void process_calls(void) {
	unsigned long mask[16];
	line("sched_getaffinity 8", syscall3(SYS_sched_getaffinity, 0, 8, (long)mask));
	line("sched_getaffinity 4", syscall3(SYS_sched_getaffinity, 0, 4, (long)mask));
	char buf[512];
	long n = syscall2(SYS_getcwd, (long)buf, sizeof buf);
	line("getcwd absolute", n > 1 && buf[0] == '/' && buf[n - 1] == 0);
	line("getcwd size 1", syscall2(SYS_getcwd, (long)buf, 1));
	syscall1(SYS_umask, 077);
	line("umask", syscall1(SYS_umask, 022));
	unsigned long si[14];
	line("sysinfo", syscall1(SYS_sysinfo, (long)si));
	line("totalram > 0", si[4] > 0 && ((unsigned int *)si)[26] > 0);
	long ru[18];
	line("getrusage", syscall2(SYS_getrusage, 0, (long)ru));
	line("maxrss > 0", ru[4] > 0);
	line("getrusage bad who", syscall2(SYS_getrusage, 5, (long)ru));
	char name[16];
	line("PR_SET_NAME", syscall2(SYS_prctl, PR_SET_NAME, (long)"proccalls-name-too-long"));
	line("PR_GET_NAME", syscall2(SYS_prctl, PR_GET_NAME, (long)name));
	put_str(name);
	put_str("\n");
	n = syscall3(SYS_readlink, (long)"/proc/self/exe", (long)buf, sizeof buf);
	line("readlink /proc/self/exe ends with proccalls", n > 0 && ends_with(buf, n, "/proccalls"));
	line("readlink bufsiz 0", syscall3(SYS_readlink, (long)"/proc/self/exe", (long)buf, 0));
	line("openat missing", syscall4(SYS_openat, AT_FDCWD, (long)"/nonexistent-mmvm/file", 0, 0));
	line("access missing", syscall2(SYS_access, (long)"/nonexistent-mmvm/file", 0));
}

static void signal_calls(void) {
	struct stack_t ss = {page, 0, sizeof page}, old;
	line("sigaltstack set", syscall2(SYS_sigaltstack, (long)&ss, 0));
	line("sigaltstack get", syscall2(SYS_sigaltstack, 0, (long)&old));
	line("same stack", old.sp == page && old.size == sizeof page && old.flags == 0);
	ss.flags = 5;
	line("sigaltstack bad flags", syscall2(SYS_sigaltstack, (long)&ss, 0));
	ss.flags = 0;
	ss.size = 100;
	line("sigaltstack small", syscall2(SYS_sigaltstack, (long)&ss, 0));
	ss.flags = SS_DISABLE;
	syscall2(SYS_sigaltstack, (long)&ss, 0);
	syscall2(SYS_sigaltstack, 0, (long)&old);
	line("disabled", old.flags);
	long pid = syscall0(SYS_getpid);
	line("kill SIGCHLD (ignored)", syscall2(SYS_kill, pid, SIGCHLD));
	line("kill probe", syscall2(SYS_kill, pid, 0));
	line("tgkill bad tid", syscall3(SYS_tgkill, pid, 0, SIGABRT));
}

int main(int argc, char **argv) {
	(void)argc, (void)argv;
	fd_calls();
	pipe_calls();
	sleep_calls();
	process_calls();
	signal_calls();
	put_str("aborting\n");
	syscall3(SYS_tgkill, syscall0(SYS_getpid), syscall0(SYS_gettid), SIGABRT);
	put_str("still alive\n");
	return 1;
}
