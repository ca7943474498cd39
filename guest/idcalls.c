// idcalls: credentials (the set*id and get*id calls, capget, capset, the
// capability prctls, setgroups) and what /proc/self/status says of them,
// across fork and execve; pidfds (pidfd_open, poll, pidfd_send_signal,
// pidfd_getfd, process_madvise, process_mrelease); protection keys;
// remap_file_pages; FIONREAD on a regular file; RLIMIT_NOFILE. Raw system
// calls, so that libc's broadcasts and wrappers stay out of it. Run as
// root; every line must match the native run. Capability masks are
// printed without CAP_SYS_RESOURCE, which a container may lack.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP_SYS_RESOURCE_BIT (1ULL << 24)
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static const char *self;

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerror(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

// status prints /proc/self/status's Uid, Gid, Groups and Cap lines.
static void status(const char *when) {
	char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0) {
		printf("%s: open status: %s\n", when, strerror(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	printf("%s:\n", when);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "Cap", 3)) {
			char name[16];
			unsigned long long v;
			if (sscanf(line, "%15[^:]:\t%llx", name, &v) == 2)
				printf("  %s %016llx\n", name, v & ~CAP_SYS_RESOURCE_BIT);
		} else if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7)) {
			printf("  %s|\n", line);
		}
	}
	fflush(stdout);
}

struct caphdr {
	uint32_t version;
	int pid;
};
struct capdata {
	uint32_t eff, prm, inh;
};

static void caps(const char *what) {
	struct caphdr h = {0x20080522, 0};
	struct capdata d[2];
	long r = syscall(SYS_capget, &h, d);
	if (r < 0) {
		show(what, r);
		return;
	}
	unsigned long long e = ((unsigned long long)d[1].eff << 32 | d[0].eff) & ~CAP_SYS_RESOURCE_BIT;
	unsigned long long p = ((unsigned long long)d[1].prm << 32 | d[0].prm) & ~CAP_SYS_RESOURCE_BIT;
	unsigned long long i = ((unsigned long long)d[1].inh << 32 | d[0].inh) & ~CAP_SYS_RESOURCE_BIT;
	printf("%s: eff %llx prm %llx inh %llx\n", what, e, p, i);
	fflush(stdout);
}

static void ids(const char *what) {
	unsigned r, e, s, gr, ge, gs;
	syscall(SYS_getresuid, &r, &e, &s);
	syscall(SYS_getresgid, &gr, &ge, &gs);
	printf("%s: uid %u %u %u (getuid %ld geteuid %ld) gid %u %u %u (getgid %ld getegid %ld) fsuid %ld fsgid %ld\n", what,
	       r, e, s, syscall(SYS_getuid), syscall(SYS_geteuid), gr, ge, gs, syscall(SYS_getgid), syscall(SYS_getegid),
	       syscall(SYS_setfsuid, -1), syscall(SYS_setfsgid, -1));
	fflush(stdout);
}

// inChild runs f in a forked child and reports how it ended.
static void inChild(const char *name, void (*f)(void)) {
	printf("-- %s\n", name);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		f();
		fflush(stdout);
		_exit(0);
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	waitid(P_PID, pid, &si, WEXITED);
	printf("-- %s ended: code %d status %d uid %u\n", name, si.si_code, si.si_status, (unsigned)si.si_uid);
	fflush(stdout);
}

static void execSelf(const char *arg) {
	char *argv[] = {(char *)self, (char *)arg, NULL};
	char *envp[] = {NULL};
	syscall(SYS_execve, self, argv, envp);
	show("execve", -1);
}

static void afterExec(void) {
	ids("after exec");
	caps("after exec");
	show("after exec PR_GET_KEEPCAPS", syscall(SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, 0));
	status("after exec status");
}

static void rootCalls(void) {
	ids("start");
	caps("start");
	status("start status");
	show("getgroups(0)", syscall(SYS_getgroups, 0, NULL));

	// capget's versions.
	struct caphdr h = {0x12345, 0};
	struct capdata d[2];
	show("capget bad version, NULL data", syscall(SYS_capget, &h, NULL));
	printf("  version written back %x\n", h.version);
	h.version = 0x12345;
	show("capget bad version", syscall(SYS_capget, &h, d));
	printf("  version written back %x\n", h.version);
	h.version = 0x19980330;
	memset(d, 0xab, sizeof d);
	show("capget v1", syscall(SYS_capget, &h, d));
	printf("  second struct untouched %x\n", d[1].eff);
	h.version = 0x20080522;
	h.pid = -1;
	show("capget pid -1", syscall(SYS_capget, &h, d));
	h.pid = 999999;
	show("capget pid 999999", syscall(SYS_capget, &h, d));
	h.pid = getpid();
	show("capget own pid", syscall(SYS_capget, &h, d));
	show("capget bad data", syscall(SYS_capget, &h, (void *)8));
	show("capget bad header", syscall(SYS_capget, (void *)8, d));

	// The capability prctls.
	show("PR_CAPBSET_READ CAP_CHOWN", syscall(SYS_prctl, PR_CAPBSET_READ, 0, 0, 0, 0));
	show("PR_CAPBSET_READ 63", syscall(SYS_prctl, PR_CAPBSET_READ, 63, 0, 0, 0));
	show("PR_CAP_AMBIENT IS_SET CAP_KILL", syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 5, 0, 0));
	show("PR_CAP_AMBIENT RAISE without inheritable", syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 5, 0, 0));
	show("PR_CAP_AMBIENT bad", syscall(SYS_prctl, PR_CAP_AMBIENT, 9, 5, 0, 0));
	show("PR_GET_SECUREBITS", syscall(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0));

	// setgroups and getgroups.
	gid_t g[3] = {5, 3, 3}, out[4];
	show("setgroups 5 3 3", syscall(SYS_setgroups, 3, g));
	show("getgroups(4)", syscall(SYS_getgroups, 4, out));
	printf("  %u %u %u\n", out[0], out[1], out[2]);
	show("getgroups(2)", syscall(SYS_getgroups, 2, out));
	gid_t bad = (gid_t)-1;
	show("setgroups -1", syscall(SYS_setgroups, 1, &bad));
	show("setgroups 70000", syscall(SYS_setgroups, 70000, g));
	show("setgroups bad list", syscall(SYS_setgroups, 1, (void *)8));
	status("groups status");
	show("setgroups none", syscall(SYS_setgroups, 0, NULL));

	// setfsuid as root: the fs capabilities follow it.
	struct rlimit ml;
	getrlimit(RLIMIT_MEMLOCK, &ml);
	if (ml.rlim_cur != RLIM_INFINITY && ml.rlim_cur < (64 << 20)) {
		size_t n = (ml.rlim_cur + 2 * 4096) & ~4095UL;
		char *lk = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		show("mlock past RLIMIT_MEMLOCK as root", syscall(SYS_mlock, lk, n));
		munmap(lk, n);
	}
	show("setfsuid 1000", syscall(SYS_setfsuid, 1000));
	caps("fsuid 1000");
	show("setfsuid 0", syscall(SYS_setfsuid, 0));
	caps("fsuid 0");
	show("setuid -1", syscall(SYS_setuid, -1));
	show("setgid -1", syscall(SYS_setgid, -1));
}

static void dropSaved(void) {
	show("setresgid 100 100 100", syscall(SYS_setresgid, 100, 100, 100));
	show("setresuid 1000 1000 0", syscall(SYS_setresuid, 1000, 1000, 0));
	ids("saved root");
	caps("saved root");
	status("saved root status");
	show("setgroups as non-root", syscall(SYS_setgroups, 0, NULL));
	show("setresuid -1 0 -1", syscall(SYS_setresuid, -1, 0, -1));
	caps("euid 0 again");
	show("setuid 1000 (root euid)", syscall(SYS_setuid, 1000));
	ids("all 1000");
	caps("all 1000");
	status("all 1000 status");
	struct rlimit ml;
	getrlimit(RLIMIT_MEMLOCK, &ml);
	if (ml.rlim_cur != RLIM_INFINITY && ml.rlim_cur < (64 << 20)) {
		size_t n = (ml.rlim_cur + 2 * 4096) & ~4095UL;
		char *lk = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		show("mlock past RLIMIT_MEMLOCK without CAP_IPC_LOCK", syscall(SYS_mlock, lk, n));
		munmap(lk, n);
	} else {
		printf("RLIMIT_MEMLOCK too large to test\n");
	}
	long nice = 20 - syscall(SYS_getpriority, PRIO_PROCESS, 0);
	show("setpriority self, nice + 1", syscall(SYS_setpriority, PRIO_PROCESS, 0, nice + 1));
	show("setpriority self, nice back down", syscall(SYS_setpriority, PRIO_PROCESS, 0, nice));
	show("setpriority root's process", syscall(SYS_setpriority, PRIO_PROCESS, getppid(), nice + 1));
	show("setuid 0", syscall(SYS_setuid, 0));
	show("setgid 0", syscall(SYS_setgid, 0));
	show("setgid 100", syscall(SYS_setgid, 100));
	show("setreuid -1 1000", syscall(SYS_setreuid, -1, 1000));
	show("setreuid 2000 -1", syscall(SYS_setreuid, 2000, -1));
	show("setresuid 1000 1000 1000", syscall(SYS_setresuid, 1000, 1000, 1000));
	show("setfsuid 0", syscall(SYS_setfsuid, 0));
	show("setfsgid 0", syscall(SYS_setfsgid, 0));
	struct caphdr h = {0x20080522, 0};
	struct capdata d[2] = {{1, 1, 0}, {0, 0, 0}};
	show("capset raise as 1000", syscall(SYS_capset, &h, d));
	h.pid = 1;
	show("capset other pid", syscall(SYS_capset, &h, d));
	show("kill parent as 1000 (sig 0)", syscall(SYS_kill, getppid(), 0));
	execSelf("after-exec");
}

static void keepCaps(void) {
	show("PR_SET_KEEPCAPS 1", syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0));
	show("PR_GET_SECUREBITS", syscall(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0));
	show("setreuid 1000 1000", syscall(SYS_setreuid, 1000, 1000));
	ids("keepcaps 1000");
	caps("keepcaps 1000");
	struct caphdr h = {0x20080522, 0};
	struct capdata d[2];
	syscall(SYS_capget, &h, d);
	d[0].eff = d[0].prm;
	d[1].eff = d[1].prm;
	d[0].inh = 1 << 5; // CAP_KILL
	show("capset eff = prm, inh CAP_KILL", syscall(SYS_capset, &h, d));
	show("PR_CAP_AMBIENT RAISE CAP_KILL", syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 5, 0, 0));
	show("PR_CAP_AMBIENT IS_SET CAP_KILL", syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 5, 0, 0));
	caps("raised again");
	status("raised again status");
	show("setuid 2000 (CAP_SETUID effective)", syscall(SYS_setuid, 2000));
	ids("2000");
	caps("2000");
	show("PR_CAPBSET_DROP CAP_CHOWN", syscall(SYS_prctl, PR_CAPBSET_DROP, 0, 0, 0, 0));
	execSelf("after-exec");
}

static void rootExec(void) {
	show("setresuid 1000 0 1000", syscall(SYS_setresuid, 1000, 0, 1000));
	caps("ruid 1000 euid 0");
	show("PR_CAPBSET_DROP CAP_CHOWN", syscall(SYS_prctl, PR_CAPBSET_DROP, 0, 0, 0, 0));
	show("PR_CAPBSET_READ CAP_CHOWN", syscall(SYS_prctl, PR_CAPBSET_READ, 0, 0, 0, 0));
	struct caphdr h = {0x20080522, 0};
	struct capdata d[2];
	syscall(SYS_capget, &h, d);
	d[0].eff &= ~(1u << 1);
	show("capset drop CAP_DAC_OVERRIDE from eff", syscall(SYS_capset, &h, d));
	d[0].prm &= ~(1u << 1);
	d[0].eff |= 1u << 1;
	show("capset eff not within prm", syscall(SYS_capset, &h, d));
	execSelf("after-exec");
}

static volatile int gotCode, gotPid;

static void onUsr1(int sig, siginfo_t *si, void *ctx) {
	(void)sig;
	(void)ctx;
	gotCode = si->si_code;
	gotPid = si->si_pid;
}

// takeUsr1 says whether SIGUSR1, blocked, is pending, then takes it in a
// handler and prints its si_code and whether si_pid is ours.
static void takeUsr1(void) {
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigpending(&pending);
	printf("  SIGUSR1 pending %d\n", sigismember(&pending, SIGUSR1));
	struct sigaction sa = {0};
	sa.sa_sigaction = onUsr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	gotCode = gotPid = 0;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("  si_code %d si_pid %s\n", gotCode, gotPid == getpid() ? "ours" : gotPid == 4242 ? "4242" : "other");
	fflush(stdout);
}

// securebits: SECBIT_NO_SETUID_FIXUP keeps the capabilities across
// setuid, locks hold, SECBIT_NOROOT gives root nothing at execve.
static void securebits(void) {
	show("PR_SET_SECUREBITS unknown bit", syscall(SYS_prctl, PR_SET_SECUREBITS, 1 << 12, 0, 0, 0));
	show("PR_SET_SECUREBITS KEEP_CAPS|LOCKED", syscall(SYS_prctl, PR_SET_SECUREBITS, 0x30, 0, 0, 0));
	show("PR_SET_KEEPCAPS 0 when locked", syscall(SYS_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0));
	show("PR_SET_SECUREBITS unlock", syscall(SYS_prctl, PR_SET_SECUREBITS, 0x10, 0, 0, 0));
	show("PR_SET_SECUREBITS + NO_SETUID_FIXUP|NOROOT", syscall(SYS_prctl, PR_SET_SECUREBITS, 0x35, 0, 0, 0));
	show("PR_GET_SECUREBITS", syscall(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0));
	show("setresuid 1000 1000 1000", syscall(SYS_setresuid, 1000, 1000, 1000));
	caps("no fixup");
	show("setresuid 0 0 0 (CAP_SETUID kept)", syscall(SYS_setresuid, 0, 0, 0));
	execSelf("after-exec");
}

// pidfds.
static void pidfds(void) {
	show("pidfd_open bad flags", syscall(SYS_pidfd_open, getpid(), 1));
	show("pidfd_open pid 0", syscall(SYS_pidfd_open, 0, 0));
	show("pidfd_open pid 999999", syscall(SYS_pidfd_open, 999999, 0));
	int self = syscall(SYS_pidfd_open, getpid(), 0);
	show("pidfd_open self", self);
	show("  F_GETFD", fcntl(self, F_GETFD));
	show("  F_GETFL", fcntl(self, F_GETFL) & ~O_LARGEFILE);
	int nb = syscall(SYS_pidfd_open, getpid(), O_NONBLOCK);
	show("  nonblock F_GETFL", fcntl(nb, F_GETFL) & ~O_LARGEFILE);
	char c;
	show("  read", read(self, &c, 1));
	struct pollfd p = {self, POLLIN, 0};
	show("  poll self", poll(&p, 1, 0));

	// Signals through the pidfd: to ourselves, SIGUSR1 blocked.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	show("pidfd_send_signal bad flags", syscall(SYS_pidfd_send_signal, self, SIGUSR1, NULL, 8));
	show("pidfd_send_signal two scopes", syscall(SYS_pidfd_send_signal, self, SIGUSR1, NULL, 3));
	show("pidfd_send_signal not a pidfd", syscall(SYS_pidfd_send_signal, 1, SIGUSR1, NULL, 0));
	show("pidfd_send_signal sig 65", syscall(SYS_pidfd_send_signal, self, 65, NULL, 0));
	show("pidfd_send_signal sig 0", syscall(SYS_pidfd_send_signal, self, 0, NULL, 0));
	show("pidfd_send_signal SIGUSR1", syscall(SYS_pidfd_send_signal, self, SIGUSR1, NULL, 0));
	takeUsr1();
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR1;
	si.si_code = -60;
	si.si_pid = 4242;
	show("pidfd_send_signal with siginfo", syscall(SYS_pidfd_send_signal, self, SIGUSR1, &si, 0));
	takeUsr1();
	si.si_signo = SIGUSR2;
	show("pidfd_send_signal signo mismatch", syscall(SYS_pidfd_send_signal, self, SIGUSR1, &si, 0));

	// A child: its pidfd polls readable once it has exited, HUP once reaped.
	int pp[2];
	pipe(pp);
	pid_t pid = fork();
	if (pid == 0) {
		char b;
		close(pp[1]);
		read(pp[0], &b, 1);
		_exit(7);
	}
	close(pp[0]);
	int child = syscall(SYS_pidfd_open, pid, 0);
	show("pidfd_open child", child >= 0);
	p = (struct pollfd){child, POLLIN, 0};
	show("poll live child", poll(&p, 1, 0));
	show("pidfd_getfd child's stdout", syscall(SYS_pidfd_getfd, child, 1, 0) >= 0);
	show("pidfd_getfd flags", syscall(SYS_pidfd_getfd, child, 1, 1));
	show("pidfd_getfd fd 99", syscall(SYS_pidfd_getfd, child, 99, 0));
	int mine = syscall(SYS_pidfd_getfd, self, pp[1], 0);
	show("pidfd_getfd own pipe end", mine >= 0);
	show("  F_GETFD", fcntl(mine, F_GETFD));
	show("process_mrelease live child", syscall(SYS_process_mrelease, child, 0));
	show("process_madvise child MADV_DONTNEED", syscall(SYS_process_madvise, child, NULL, 0, MADV_DONTNEED, 0));
	write(mine, "x", 1); // through the duplicate: the child reads it and exits
	p.revents = 0;
	show("poll until the child exits", poll(&p, 1, 5000));
	printf("  revents %x\n", p.revents);
	show("pidfd_send_signal zombie sig 0", syscall(SYS_pidfd_send_signal, child, 0, NULL, 0));
	show("process_mrelease zombie", syscall(SYS_process_mrelease, child, 0));
	show("process_madvise zombie", syscall(SYS_process_madvise, child, NULL, 0, MADV_COLD, 0));
	siginfo_t info;
	show("waitid P_PIDFD", syscall(SYS_waitid, P_PIDFD, child, &info, WEXITED, NULL));
	printf("  status %d\n", info.si_status);
	p.revents = 0;
	show("poll reaped child", poll(&p, 1, 0));
	printf("  POLLIN %d\n", !!(p.revents & POLLIN)); // Linux 6.9 adds POLLHUP
	show("pidfd_send_signal reaped", syscall(SYS_pidfd_send_signal, child, SIGKILL, NULL, 0));
	show("process_mrelease reaped", syscall(SYS_process_mrelease, child, 0));
	show("pidfd_open reaped pid", syscall(SYS_pidfd_open, pid, 0));

	// process_madvise and process_mrelease on ourselves.
	char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(m, 1, 4 * 4096);
	struct iovec iov[3] = {{m, 4096}, {m + 2 * 4096, 100}, {m + 3 * 4096, 0}};
	show("process_madvise self MADV_COLD", syscall(SYS_process_madvise, self, iov, 3, MADV_COLD, 0));
	printf("  bytes now %d %d %d %d\n", m[0], m[4096], m[2 * 4096], m[3 * 4096]);
	show("process_madvise flags", syscall(SYS_process_madvise, self, iov, 1, MADV_COLD, 1));
	show("process_madvise bad advice", syscall(SYS_process_madvise, self, iov, 1, 12345, 0));
	struct iovec bad[2] = {{m, 4096}, {m + 1, 4096}};
	show("process_madvise second unaligned", syscall(SYS_process_madvise, self, bad, 2, MADV_COLD, 0));
	show("process_madvise first unaligned", syscall(SYS_process_madvise, self, bad + 1, 1, MADV_COLD, 0));
	show("process_madvise bad iovec", syscall(SYS_process_madvise, self, (void *)8, 1, MADV_COLD, 0));
	show("process_madvise vlen 1025", syscall(SYS_process_madvise, self, iov, 1025, MADV_COLD, 0));
	show("process_madvise not a pidfd", syscall(SYS_process_madvise, 0, iov, 1, MADV_COLD, 0));
	show("process_mrelease self", syscall(SYS_process_mrelease, self, 0));
	show("process_mrelease flags", syscall(SYS_process_mrelease, self, 1));
	show("process_mrelease not a pidfd", syscall(SYS_process_mrelease, 0, 0));
	show("process_mrelease bad fd", syscall(SYS_process_mrelease, 99, 0));
}

// pkeys checks that the protection-key calls answer as Linux does on the
// CPU the program sees, and prints one line, the same with or without
// OSPKE, unless an answer differs: with OSPKE a key is given, used and
// freed; without, no key is given and only key -1 may be used.
static int pkeyBad;

static void pkeyWant(const char *what, long r, long want, int wantErrno) {
	if (r == want && (want >= 0 || errno == wantErrno))
		return;
	pkeyBad = 1;
	printf("  %s = %ld errno %d, want %ld errno %d\n", what, r, r < 0 ? errno : 0, want, wantErrno);
}

static void pkeys(void) {
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	char *m = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pkeyWant("pkey_alloc flags", syscall(SYS_pkey_alloc, 1, 0), -1, EINVAL);
	pkeyWant("pkey_alloc bad rights", syscall(SYS_pkey_alloc, 0, 4), -1, EINVAL);
	pkeyWant("pkey_mprotect key -1", syscall(SYS_pkey_mprotect, m, 4096, PROT_READ | PROT_WRITE, -1), 0, 0);
	m[0] = 1;
	pkeyWant("pkey_mprotect key -1 unmapped", syscall(SYS_pkey_mprotect, 4096, 4096, PROT_READ, -1), -1, ENOMEM);
	pkeyWant("pkey_mprotect key 1 length 0", syscall(SYS_pkey_mprotect, m, 0, PROT_READ, 1), 0, 0);
	pkeyWant("pkey_mprotect key 1 unaligned", syscall(SYS_pkey_mprotect, m + 1, 4096, PROT_READ, 1), -1, EINVAL);
	pkeyWant("pkey_mprotect key 1 wraps", syscall(SYS_pkey_mprotect, m, -4096L, PROT_READ, 1), -1, ENOMEM);
	pkeyWant("pkey_free 15", syscall(SYS_pkey_free, 15), -1, EINVAL);
	if (c & (1 << 4)) { // OSPKE
		long k = syscall(SYS_pkey_alloc, 0, 0);
		if (k < 1 || k > 15)
			pkeyWant("pkey_alloc", k, 1, 0);
		pkeyWant("pkey_mprotect the key", syscall(SYS_pkey_mprotect, m, 4096, PROT_READ, k), 0, 0);
		pkeyWant("pkey_free the key", syscall(SYS_pkey_free, k), 0, 0);
	} else {
		pkeyWant("pkey_alloc", syscall(SYS_pkey_alloc, 0, 0), -1, EINVAL);
		pkeyWant("pkey_free 0", syscall(SYS_pkey_free, 0), -1, EINVAL);
		pkeyWant("pkey_free 1", syscall(SYS_pkey_free, 1), -1, EINVAL);
		pkeyWant("pkey_mprotect key 0", syscall(SYS_pkey_mprotect, m, 4096, PROT_READ, 0), -1, EINVAL);
		pkeyWant("pkey_mprotect key 1 bad prot", syscall(SYS_pkey_mprotect, m, 4096, 0x100, 1), -1, EINVAL);
	}
	printf("pkeys: %s\n", pkeyBad ? "differ from Linux on this CPU" : "as Linux on this CPU");
}

static void remapFilePages(void) {
	show("remap_file_pages prot", syscall(SYS_remap_file_pages, 0, 4096, PROT_READ, 0, 0));
	show("remap_file_pages empty", syscall(SYS_remap_file_pages, 4096, 100, 0, 0, 0));
	char *anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("remap_file_pages private", syscall(SYS_remap_file_pages, anon, 4096, 0, 0, 0));
	int fd = syscall(SYS_memfd_create, "rfp", 0);
	ftruncate(fd, 4 * 4096);
	char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	for (int i = 0; i < 4; i++)
		memset(m + i * 4096, 'a' + i, 4096);
	show("remap_file_pages page 3 at page 0", syscall(SYS_remap_file_pages, m, 4096, 0, 3, 0));
	printf("  pages %c %c %c %c\n", m[0], m[4096], m[2 * 4096], m[3 * 4096]);
	show("remap_file_pages 2 pages from 0 at page 2, unaligned", syscall(SYS_remap_file_pages, m + 2 * 4096 + 5, 2 * 4096 + 7, 0, 0, 0));
	printf("  pages %c %c %c %c\n", m[0], m[4096], m[2 * 4096], m[3 * 4096]);
	show("remap_file_pages past the vma", syscall(SYS_remap_file_pages, m + 3 * 4096, 2 * 4096, 0, 0, 0));
	munmap(m + 4096, 4096);
	show("remap_file_pages over a hole", syscall(SYS_remap_file_pages, m, 3 * 4096, 0, 0, 0));
	show("remap_file_pages pgoff wraps", syscall(SYS_remap_file_pages, m, 4096, 0, -1L, 0));
}

static void fionread(void) {
	int fd = syscall(SYS_memfd_create, "fionread", 0);
	write(fd, "hello, world", 12);
	int n = -1;
	show("FIONREAD memfd at end", ioctl(fd, FIONREAD, &n));
	printf("  %d\n", n);
	lseek(fd, 3, SEEK_SET);
	show("FIONREAD memfd at 3", ioctl(fd, FIONREAD, &n));
	printf("  %d\n", n);
	lseek(fd, 20, SEEK_SET);
	show("FIONREAD memfd past the end", ioctl(fd, FIONREAD, &n));
	printf("  %d\n", n);
	int st = open("/proc/self/status", O_RDONLY);
	show("FIONREAD /proc/self/status", ioctl(st, FIONREAD, &n));
	printf("  %d\n", n);
	int dir = open("/proc/self", O_RDONLY | O_DIRECTORY);
	show("FIONREAD directory", ioctl(dir, FIONREAD, &n));
	int path = open("/proc/self/status", O_PATH);
	show("FIONREAD O_PATH", ioctl(path, FIONREAD, &n));
	show("FIONREAD bad address", ioctl(fd, FIONREAD, (void *)8));
	close(fd);
	close(st);
	close(dir);
	close(path);
}

static void nofile(void) {
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	struct rlimit rl = {10, 20};
	show("setrlimit NOFILE 10 20", setrlimit(RLIMIT_NOFILE, &rl));
	int last = -1;
	for (;;) {
		int fd = dup(0);
		if (fd < 0) {
			show("dup at the limit", fd);
			break;
		}
		last = fd;
	}
	printf("  last fd %d\n", last);
	show("dup2 to 10", dup2(0, 10));
	show("dup2 to 9", dup2(0, 9));
	show("F_DUPFD 10", fcntl(0, F_DUPFD, 10));
	show("pidfd_open at the limit", syscall(SYS_pidfd_open, getpid(), 0));
	struct pollfd p[11] = {{0}};
	show("poll 11 fds", poll(p, 11, 0));
	rl.rlim_cur = 20;
	show("setrlimit NOFILE 20 20", setrlimit(RLIMIT_NOFILE, &rl));
	show("dup above 10", dup(0));
	rl.rlim_max = 1 << 21;
	show("setrlimit NOFILE above nr_open", setrlimit(RLIMIT_NOFILE, &rl));
}

int main(int argc, char **argv) {
	self = argv[0];
	if (argc > 1 && !strcmp(argv[1], "after-exec")) {
		afterExec();
		return 0;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	rootCalls();
	inChild("drop to 1000 keeping saved root", dropSaved);
	inChild("keep caps across setuid", keepCaps);
	inChild("exec with real uid 1000, effective root", rootExec);
	inChild("securebits", securebits);
	inChild("pidfds", pidfds);
	inChild("pkeys", pkeys);
	inChild("remap_file_pages", remapFilePages);
	inChild("FIONREAD", fionread);
	inChild("RLIMIT_NOFILE", nofile);
	ids("end");
	caps("end");
	return 0;
}
