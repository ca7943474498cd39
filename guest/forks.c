/*
 * forks: processes as a program makes them, built against glibc
 * (forks-glibc) and musl (forks-musl). argv[1] picks the case; each prints
 * what held (booleans, statuses and errno names, never a pid, an address
 * or a time) and exits 0, or prints a "FAIL:" line and exits 1:
 *   cow [N]      N children (8) of a process whose 4 MiB anonymous
 *                mapping, global array and malloc'd buffer hold a
 *                pattern: each sees the pattern of the fork even though
 *                the parent has since overwritten its own copy, writes its
 *                own, reads it back and exits with a checksum of it; a
 *                child that only reads sees the data of the fork; the
 *                parent's copy holds what it wrote, every byte
 *   shared       MAP_SHARED anonymous memory is one memory between parent
 *                and child (writes seen both ways, while the child runs
 *                and after it ended), MAP_PRIVATE memory is not
 *   pipeline     a writer child (100000 lines on its stdout, a pipe) and a
 *                reader child (counting them on its stdin): the reader
 *                sees end of file only once every write end is closed
 *   exec         execve of /proc/self/exe: argv, envp, the pid, fds with
 *                and without close-on-exec, signal dispositions and mask
 *                across it; execve of a missing path fails with ENOENT
 *   wait         exit statuses as Linux reports them to waitpid and
 *                waitid, WNOHANG, WNOWAIT, ECHILD, SIGCHLD handled and
 *                ignored
 *   vfork        vfork shares memory until _exit or execve; posix_spawn
 *   clonevm      clone(CLONE_VM|SIGCHLD), a child process in its parent's
 *                memory without CLONE_VFORK: it starts with no alternate
 *                signal stack, sees its parent's writes, and goes on using
 *                the memory (mmap, writes, munmap) after its parent exited
 *   pgrp         process groups and sessions: setpgid, getpgid, setsid,
 *                getsid, kill of a group
 *   churn [N]    N (1000) sequential fork, _exit, wait cycles, each child
 *                writing a few pages: prints "churn N ok"
 *   whoami [again]  what the program is told of its own name: AT_EXECFN,
 *                /proc/self/exe, the path of its first mapping in
 *                /proc/self/maps, /proc/self/comm and status's Name; with
 *                "again" it then execs /proc/self/exe whoami
 *   execpath PATH [DIR]  chdir(DIR) if given, then execve(PATH) whoami
 *   memfd-exec   fexecve of a memfd holding this program (execveat with
 *                AT_EMPTY_PATH) runs it (whoami again, in a child); the
 *                refusals: MFD_NOEXEC_SEAL, no ELF, empty, with errno names
 * execchild and spawnchild are the programs exec and vfork run through
 * /proc/self/exe. Children print only while the parent waits for them,
 * and stdio is flushed before every fork, so that the output is the same
 * on every run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

extern char **environ;

static const char *self = "/proc/self/exe";

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case ECHILD: return "ECHILD";
	case EBADF: return "EBADF";
	case EPERM: return "EPERM";
	case ESRCH: return "ESRCH";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case ENOSYS: return "ENOSYS";
	case EINTR: return "EINTR";
	case ENOEXEC: return "ENOEXEC";
	case ETXTBSY: return "ETXTBSY";
	}
	return "other";
}

static const char *signame(int sig)
{
	switch (sig) {
	case SIGKILL: return "SIGKILL";
	case SIGSEGV: return "SIGSEGV";
	case SIGABRT: return "SIGABRT";
	case SIGTERM: return "SIGTERM";
	case SIGCHLD: return "SIGCHLD";
	case SIGBUS: return "SIGBUS";
	}
	return "other";
}

static const char *yesno(int b) { return b ? "yes" : "no"; }

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("FAIL: %s\n", what);
		failures++;
	}
}

/* die ends the process (parent or child) after a call that must not fail
 * failed. */
static void die(const char *what)
{
	printf("FAIL: %s: %s\n", what, errname(errno));
	exit(1);
}

/* xfork forks with stdio flushed, so that the child does not print again
 * what the parent printed before it. */
static pid_t xfork(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	return pid;
}

/* reap waits for child pid and returns its status. */
static int reap(pid_t pid)
{
	int status;
	pid_t r;
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r != pid)
		die("waitpid");
	return status;
}

/* describe says what a wait status is, as the W* macros read it. */
static const char *describe(int status)
{
	static char buf[64];
	if (WIFEXITED(status))
		snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof buf, "killed by %s", signame(WTERMSIG(status)));
	else
		snprintf(buf, sizeof buf, "status 0x%x", status);
	return buf;
}

static int exited(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

static void xpipe(int p[2])
{
	if (pipe(p) != 0)
		die("pipe");
}

/* ---- cow ---- */

#define COW_MAP (4 << 20)
#define COW_GLOBAL (64 << 10)
#define COW_HEAP (48 << 10)

/* The global array is initialised so that it lies in .data, memory the
 * program's file gives. */
static uint64_t cow_global[COW_GLOBAL / 8] = {1};

/* pattern is the word at index i (8 bytes each) of a region filled with
 * seed: each of its bytes differs between neighbouring words, pages and
 * seeds. Words, not bytes, keep the loops short in an emulated CPU. */
static uint64_t pattern(size_t i, unsigned seed)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull + (seed + 1) * 0xd1b54a32d192ed03ull;
	return x ^ x >> 29;
}

/* fill writes seed's pattern over p[0:n] (n bytes, a multiple of 8). */
static void fill(void *p, size_t n, unsigned seed)
{
	uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		w[i] = pattern(i, seed);
}

/* holds reports whether p[0:n] holds seed's pattern, every byte. */
static int holds(const void *p, size_t n, unsigned seed)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		if (w[i] != pattern(i, seed))
			return 0;
	return 1;
}

/* fnv adds the bytes p[0:n] to the FNV-1a hash h. */
static uint32_t fnv(uint32_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* sum adds the words of p[0:n] to the checksum h (FNV-1a's step over
 * 64-bit words). */
static uint64_t sum(uint64_t h, const void *p, size_t n)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ull;
	return h;
}

/* sum_pattern is sum over n bytes of seed's pattern, computed without
 * memory to hold them. */
static uint64_t sum_pattern(uint64_t h, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n / 8; i++)
		h = (h ^ pattern(i, seed)) * 0x100000001b3ull;
	return h;
}

#define SUM_BASIS 0xcbf29ce484222325ull

struct cow_regions {
	void *map, *global, *heap;
};

static void cow_fill(struct cow_regions *r, unsigned seed)
{
	fill(r->map, COW_MAP, seed);
	fill(r->global, COW_GLOBAL, seed);
	fill(r->heap, COW_HEAP, seed);
}

static int cow_holds(struct cow_regions *r, unsigned seed)
{
	return holds(r->map, COW_MAP, seed) && holds(r->global, COW_GLOBAL, seed) && holds(r->heap, COW_HEAP, seed);
}

/* fold is an exit status made of every byte of checksum h (a low byte of
 * the checksum depends only on the low bits of what it summed). */
static int fold(uint64_t h)
{
	h ^= h >> 32;
	h ^= h >> 16;
	return (h ^ h >> 8) & 0xff;
}

/* cow_status is the exit status a child gives for regions holding seed:
 * their checksum, folded. */
static int cow_status(unsigned seed)
{
	uint64_t h = SUM_BASIS;
	h = sum_pattern(h, COW_MAP, seed);
	h = sum_pattern(h, COW_GLOBAL, seed);
	h = sum_pattern(h, COW_HEAP, seed);
	return fold(h);
}

/* cow_child is a child of cow: it waits until the parent closed the go
 * pipe (the parent has then overwritten its own copy), checks that it
 * still sees the fork's pattern (seed 0), writes its own seed unless it
 * is 0 (the reader), and exits with the checksum of what it reads back. */
static void cow_child(struct cow_regions *r, int go, unsigned seed)
{
	char c;
	if (read(go, &c, 1) != 0)
		die("cow child: read of the go pipe");
	if (!cow_holds(r, 0)) {
		printf("FAIL: cow child %u: the memory does not hold the pattern of the fork\n", seed);
		exit(1);
	}
	if (seed != 0) {
		cow_fill(r, seed);
		if (!cow_holds(r, seed)) {
			printf("FAIL: cow child %u: its own pattern did not read back\n", seed);
			exit(1);
		}
	}
	uint64_t h = SUM_BASIS;
	h = sum(h, r->map, COW_MAP);
	h = sum(h, r->global, COW_GLOBAL);
	h = sum(h, r->heap, COW_HEAP);
	_exit(fold(h));
}

#define COW_MAXCHILDREN 64
#define COW_PARENT_SEED 200

static void cow(int n)
{
	if (n < 1 || n > COW_MAXCHILDREN) {
		printf("FAIL: cow: N %d: want 1..%d\n", n, COW_MAXCHILDREN);
		exit(1);
	}
	struct cow_regions r;
	r.map = mmap(NULL, COW_MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.map == MAP_FAILED)
		die("mmap");
	r.global = cow_global;
	r.heap = malloc(COW_HEAP);
	if (r.heap == NULL)
		die("malloc");
	cow_fill(&r, 0);

	int go[2];
	xpipe(go);
	pid_t pids[COW_MAXCHILDREN + 1];
	/* pids[0] only reads; pids[k] writes seed k. */
	for (int k = 0; k <= n; k++) {
		pids[k] = xfork();
		if (pids[k] == 0) {
			close(go[1]);
			cow_child(&r, go[0], k);
		}
	}
	close(go[0]);
	/* Every child shares the fork's pages with the parent until one of
	 * them writes: the parent writes first, while they wait. */
	cow_fill(&r, COW_PARENT_SEED);
	close(go[1]);

	printf("cow: %d writers and 1 reader forked; 4 MiB mapping, 64 KiB global array, 48 KiB malloc\n", n);
	int st = reap(pids[0]);
	check(exited(st, cow_status(0)), "cow: the reader's status is not the checksum of the fork's data");
	printf("reader: %s, the checksum of the data of the fork: %s\n", describe(st), yesno(exited(st, cow_status(0))));
	for (int k = 1; k <= n; k++) {
		st = reap(pids[k]);
		int ok = exited(st, cow_status(k));
		check(ok, "cow: a writer's status is not the checksum of its own pattern");
		printf("writer %d: %s, the checksum of its own pattern: %s\n", k, describe(st), yesno(ok));
	}
	int same = cow_holds(&r, COW_PARENT_SEED);
	check(same, "cow: the parent's copy changed");
	printf("cow: parent's copy holds what it wrote, every byte: %s\n", yesno(same));
	free(r.heap);
	munmap(r.map, COW_MAP);
}

/* ---- shared ---- */

#define SHARED_SIZE (64 << 10)

static void *map_anon(size_t n, int flags)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static void readbyte(int fd, const char *what)
{
	char c;
	if (read(fd, &c, 1) != 1)
		die(what);
}

static void writebyte(int fd, const char *what)
{
	if (write(fd, "x", 1) != 1)
		die(what);
}

static void shared(void)
{
	unsigned char *sh = map_anon(SHARED_SIZE, MAP_SHARED);
	unsigned char *fresh = map_anon(SHARED_SIZE, MAP_SHARED); /* first touched by the child */
	unsigned char *priv = map_anon(SHARED_SIZE, MAP_PRIVATE);
	fill(sh, SHARED_SIZE, 0);
	fill(priv, SHARED_SIZE, 0);

	/* A child that writes all three and exits. */
	pid_t pid = xfork();
	if (pid == 0) {
		fill(sh, SHARED_SIZE, 1);
		fill(fresh, SHARED_SIZE, 1);
		fill(priv, SHARED_SIZE, 1);
		_exit(0);
	}
	int st = reap(pid);
	check(exited(st, 0), "shared: the writing child failed");
	int seen = holds(sh, SHARED_SIZE, 1), fseen = holds(fresh, SHARED_SIZE, 1);
	int pseen = !holds(priv, SHARED_SIZE, 0), pkept = holds(priv, SHARED_SIZE, 0);
	check(seen, "shared: the child's write to MAP_SHARED memory is not seen");
	check(fseen, "shared: the child's write to untouched MAP_SHARED memory is not seen");
	check(pkept, "shared: the parent's MAP_PRIVATE memory changed");
	printf("shared: child %s\n", describe(st));
	printf("shared: child's write to MAP_SHARED seen by the parent after waitpid: %s\n", yesno(seen));
	printf("shared: child's write to MAP_SHARED pages nobody touched before seen: %s\n", yesno(fseen));
	printf("shared: child's write to MAP_PRIVATE seen by the parent: %s\n", yesno(pseen));

	/* Both ways while the child runs: the parent writes seed 2 and
	 * tells the child, which checks it, writes seed 3 and tells the
	 * parent, which checks it before the child may exit. */
	int p2c[2], c2p[2];
	xpipe(p2c);
	xpipe(c2p);
	pid = xfork();
	if (pid == 0) {
		close(p2c[1]);
		close(c2p[0]);
		readbyte(p2c[0], "shared child: read");
		int ok = holds(sh, SHARED_SIZE, 2);
		fill(sh, SHARED_SIZE, 3);
		writebyte(c2p[1], "shared child: write");
		char c;
		if (read(p2c[0], &c, 1) != 0) /* end of file: the parent checked */
			_exit(2);
		_exit(ok ? 0 : 1);
	}
	close(p2c[0]);
	close(c2p[1]);
	fill(sh, SHARED_SIZE, 2);
	writebyte(p2c[1], "shared: write");
	readbyte(c2p[0], "shared: read");
	int back = holds(sh, SHARED_SIZE, 3);
	close(p2c[1]);
	close(c2p[0]);
	st = reap(pid);
	check(exited(st, 0), "shared: the running child did not see the parent's write");
	check(back, "shared: the running child's write is not seen");
	printf("shared: parent's write seen by the running child: %s (%s)\n", yesno(exited(st, 0)), describe(st));
	printf("shared: running child's write seen by the parent: %s\n", yesno(back));
}

/* ---- pipeline ---- */

#define PIPELINE_LINES 100000

static void pipeline(void)
{
	int p[2];
	xpipe(p);
	pid_t writer = xfork();
	if (writer == 0) {
		close(p[0]);
		if (dup2(p[1], 1) != 1)
			die("dup2");
		close(p[1]);
		for (int i = 0; i < PIPELINE_LINES; i++)
			printf("line %d of the writer\n", i);
		exit(0);
	}
	pid_t reader = xfork();
	if (reader == 0) {
		close(p[1]);
		if (dup2(p[0], 0) != 0)
			die("dup2");
		close(p[0]);
		char buf[8192];
		long lines = 0, bytes = 0;
		uint32_t h = 2166136261u;
		ssize_t n;
		while ((n = read(0, buf, sizeof buf)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				lines += buf[i] == '\n';
			bytes += n;
			h = fnv(h, (unsigned char *)buf, n);
		}
		if (n < 0)
			die("reader: read");
		printf("reader: %ld lines, %ld bytes, checksum %08x\n", lines, bytes, h);
		exit(0);
	}
	close(p[0]);
	/* The parent holds a write end until the writer has ended: the
	 * reader must not see end of file before the parent's line. */
	int ws = reap(writer);
	const char last[] = "the parent's line, after the writer ended\n";
	if (write(p[1], last, sizeof last - 1) != sizeof last - 1)
		die("pipeline: write");
	close(p[1]);
	int rs = reap(reader);
	check(exited(ws, 0) && exited(rs, 0), "pipeline: a child failed");
	printf("pipeline: writer %s", describe(ws));
	printf(", reader %s\n", describe(rs));
}

/* ---- exec ---- */

/* The fds exec hands its child, at numbers of their own. */
#define FD_CLOEXEC_NR 10
#define FD_PLAIN_NR 11

static void on_usr1(int sig) { (void)sig; }

/* execchild is what exec's child runs after execve. */
static int execchild(int argc, char **argv)
{
	printf("execchild: argc %d:", argc);
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	int n = 0;
	for (char **e = environ; *e; e++)
		printf("execchild: env[%d] %s\n", n++, *e);
	const char *v = getenv("FORKS_VAR");
	printf("execchild: FORKS_VAR=%s\n", v ? v : "(unset)");

	errno = 0;
	int r = fcntl(FD_CLOEXEC_NR, F_GETFD);
	printf("execchild: O_CLOEXEC fd after exec: fcntl F_GETFD %d %s\n", r, errname(r < 0 ? errno : 0));
	r = fcntl(FD_PLAIN_NR, F_GETFD);
	printf("execchild: plain fd after exec: fcntl F_GETFD %d %s\n", r, errname(r < 0 ? errno : 0));
	/* The parent wrote the pid it forked into the plain fd's pipe. */
	char buf[32];
	ssize_t got = read(FD_PLAIN_NR, buf, sizeof buf - 1);
	long pid = -1;
	if (got > 0) {
		buf[got] = 0;
		pid = strtol(buf, NULL, 10);
	}
	printf("execchild: getpid() is the pid the parent forked: %s\n", yesno(pid == getpid()));

	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	printf("execchild: handled SIGUSR1 is SIG_DFL after exec: %s\n", yesno(sa.sa_handler == SIG_DFL));
	sigaction(SIGUSR2, NULL, &sa);
	printf("execchild: ignored SIGUSR2 is still SIG_IGN: %s\n", yesno(sa.sa_handler == SIG_IGN));
	sigset_t mask;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	printf("execchild: blocked SIGTERM is still blocked: %s\n", yesno(sigismember(&mask, SIGTERM)));
	fflush(stdout);
	return 6;
}

static void exec_(void)
{
	int a[2], b[2];
	if (pipe2(a, O_CLOEXEC) != 0 || pipe(b) != 0)
		die("pipe");
	if (dup3(a[0], FD_CLOEXEC_NR, O_CLOEXEC) != FD_CLOEXEC_NR || dup2(b[0], FD_PLAIN_NR) != FD_PLAIN_NR)
		die("dup");
	close(a[0]);
	close(b[0]);
	pid_t pid = xfork();
	if (pid == 0) {
		close(a[1]);
		close(b[1]);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1;
		sigaction(SIGUSR1, &sa, NULL);
		signal(SIGUSR2, SIG_IGN);
		sigset_t mask;
		sigemptyset(&mask);
		sigaddset(&mask, SIGTERM);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		char *argv[] = {"forks", "execchild", "a", "b", NULL};
		char *envp[] = {"FORKS_VAR=through execve", "SECOND=2", NULL};
		execve(self, argv, envp);
		die("execve /proc/self/exe");
	}
	char buf[32];
	int len = snprintf(buf, sizeof buf, "%d\n", (int)pid);
	if (write(b[1], buf, len) != len)
		die("exec: write");
	int st = reap(pid);
	check(exited(st, 6), "exec: the exec'd child's status is not 6");
	printf("exec: child %s\n", describe(st));
	close(a[1]);
	close(b[1]);
	close(FD_CLOEXEC_NR);
	close(FD_PLAIN_NR);

	char *argv[] = {"forks", NULL};
	char *envp[] = {NULL};
	int r = execve("/nonexistent/forks-no-such-program", argv, envp);
	int e = errno;
	check(r == -1 && e == ENOENT, "exec: execve of a missing path did not fail with ENOENT");
	printf("exec: execve of a missing path: %d %s\n", r, errname(e));
}

/* ---- wait ---- */

/* child_doing forks a child that ends as how says and returns its pid. */
enum how { EXIT0, EXIT3, EXIT255, EXIT261, BLOCK, NULLWRITE, ABORT, EXIT42 };

static int release[2]; /* a BLOCK child reads it until end of file */

static pid_t child_doing(enum how how)
{
	pid_t pid = xfork();
	if (pid != 0)
		return pid;
	char c;
	switch (how) {
	case EXIT0: _exit(0);
	case EXIT3: exit(3);
	case EXIT255: _exit(255);
	case EXIT261: exit(261);
	case BLOCK:
		close(release[1]);
		while (read(release[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	case NULLWRITE:
		*(volatile int *)(uintptr_t)0 = 1;
		_exit(99);
	case ABORT: abort();
	case EXIT42: _exit(42);
	}
	_exit(98);
}

static void print_status(const char *what, int st)
{
	printf("wait: %s: WIFEXITED %d WEXITSTATUS %d WIFSIGNALED %d WTERMSIG %d\n", what,
	       WIFEXITED(st) ? 1 : 0, WIFEXITED(st) ? WEXITSTATUS(st) : 0,
	       WIFSIGNALED(st) ? 1 : 0, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static volatile sig_atomic_t sigchld_count, sigchld_exited;

static void on_sigchld(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	sigchld_count++;
	if (sig == SIGCHLD && si->si_code == CLD_EXITED && si->si_status == 0)
		sigchld_exited++;
}

static const char *cldname(int code)
{
	switch (code) {
	case CLD_EXITED: return "CLD_EXITED";
	case CLD_KILLED: return "CLD_KILLED";
	case CLD_DUMPED: return "CLD_DUMPED";
	}
	return "other";
}

static void wait_(void)
{
	/* No core files from the children killed by a fault; whether a core
	 * was dumped is not printed (it depends on the host's settings). */
	struct rlimit nocore = {0, 0};
	setrlimit(RLIMIT_CORE, &nocore);
	xpipe(release);

	print_status("exit(3)", reap(child_doing(EXIT3)));
	print_status("_exit(255)", reap(child_doing(EXIT255)));
	print_status("exit(261)", reap(child_doing(EXIT261)));
	pid_t pid = child_doing(BLOCK);
	if (kill(pid, SIGKILL) != 0)
		die("kill");
	print_status("SIGKILL", reap(pid));
	print_status("null write", reap(child_doing(NULLWRITE)));
	print_status("abort()", reap(child_doing(ABORT)));

	/* WNOHANG while the child blocks, then its end. */
	pid = child_doing(BLOCK);
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);
	printf("wait: WNOHANG on a live child: %d\n", (int)r);
	close(release[1]);
	st = reap(pid);
	printf("wait: the child after its pipe closed: %s\n", describe(st));
	xpipe(release);

	/* wait4 with a rusage. */
	pid = child_doing(EXIT42);
	struct rusage ru;
	r = wait4(pid, &st, 0, &ru);
	printf("wait: wait4: returned the pid: %s, %s\n", yesno(r == pid), describe(st));

	errno = 0;
	r = waitpid(-1, &st, 0);
	printf("wait: waitpid(-1) with no children: %d %s\n", (int)r, errname(errno));
	errno = 0;
	r = waitpid(pid, &st, WNOHANG);
	printf("wait: waitpid of a reaped child: %d %s\n", (int)r, errname(errno));

	/* waitid: an exit and a kill, WNOWAIT, WNOHANG. */
	siginfo_t si;
	pid = child_doing(EXIT42);
	memset(&si, 0, sizeof si);
	int ret = waitid(P_ALL, 0, &si, WEXITED | WNOWAIT);
	printf("wait: waitid WNOWAIT: %d si_signo %s si_code %s si_status %d si_pid is the child: %s\n", ret,
	       signame(si.si_signo), cldname(si.si_code), si.si_status, yesno(si.si_pid == pid));
	memset(&si, 0, sizeof si);
	ret = waitid(P_PID, pid, &si, WEXITED);
	printf("wait: waitid after WNOWAIT: %d si_code %s si_status %d si_pid is the child: %s\n", ret,
	       cldname(si.si_code), si.si_status, yesno(si.si_pid == pid));
	pid = child_doing(BLOCK);
	/* With no child to report, Linux zeroes the siginfo's fields. */
	memset(&si, 0xff, sizeof si);
	ret = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
	printf("wait: waitid WNOHANG on a live child: %d si_signo %d si_pid %d\n", ret, si.si_signo, (int)si.si_pid);
	kill(pid, SIGKILL);
	memset(&si, 0, sizeof si);
	ret = waitid(P_ALL, 0, &si, WEXITED);
	printf("wait: waitid of a SIGKILLed child: %d si_code %s si_status %s\n", ret, cldname(si.si_code), signame(si.si_status));
	errno = 0;
	ret = waitid(P_ALL, 0, &si, WEXITED);
	printf("wait: waitid with no children: %d %s\n", ret, errname(errno));

	/* A SIGCHLD handler: each child is waited for before the next is
	 * forked, and the signal is delivered before waitpid returns. */
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigchld;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, &old);
	for (int i = 0; i < 3; i++)
		reap(child_doing(EXIT0));
	printf("wait: SIGCHLD handler ran %d times for 3 children, si_code CLD_EXITED %d times\n",
	       (int)sigchld_count, (int)sigchld_exited);

	/* SIGCHLD ignored: the children are reaped as they end, and wait
	 * waits for all of them to end, then fails with ECHILD. */
	signal(SIGCHLD, SIG_IGN);
	for (int i = 0; i < 3; i++)
		child_doing(EXIT3);
	errno = 0;
	r = waitpid(-1, &st, 0);
	printf("wait: SIGCHLD SIG_IGN, 3 children: waitpid(-1) %d %s\n", (int)r, errname(errno));
	sigaction(SIGCHLD, &old, NULL);
	close(release[0]);
	close(release[1]);
}

/* ---- vfork ---- */

static volatile int vfork_var;

/* spawnchild is what vfork's execve and posix_spawn run: it prints its
 * argv[2] and exits 5. */
static int spawnchild(int argc, char **argv)
{
	printf("spawnchild: %s\n", argc > 2 ? argv[2] : "(no argument)");
	fflush(stdout);
	return 5;
}

static void vfork_(void)
{
	fflush(NULL);
	vfork_var = 0;
	pid_t pid = vfork();
	if (pid == 0) {
		vfork_var = 42;
		_exit(7);
	}
	if (pid < 0)
		die("vfork");
	int st = reap(pid);
	check(vfork_var == 42 && exited(st, 7), "vfork: the child's write or status is wrong");
	printf("vfork: child's write seen by the parent: %s; child %s\n", yesno(vfork_var == 42), describe(st));

	char *argv[] = {"forks", "spawnchild", "vfork+execve", NULL};
	char *envp[] = {NULL};
	fflush(NULL);
	pid = vfork();
	if (pid == 0) {
		execve(self, argv, envp);
		_exit(127);
	}
	if (pid < 0)
		die("vfork");
	st = reap(pid);
	check(exited(st, 5), "vfork: the exec'd child's status is not 5");
	printf("vfork: vfork+execve: child %s\n", describe(st));

	char *sargv[] = {"forks", "spawnchild", "posix_spawn", NULL};
	fflush(NULL);
	int err = posix_spawn(&pid, self, NULL, NULL, sargv, envp);
	if (err != 0) {
		printf("FAIL: posix_spawn: %s\n", errname(err));
		exit(1);
	}
	st = reap(pid);
	check(exited(st, 5), "posix_spawn: the child's status is not 5");
	printf("vfork: posix_spawn: returned %s, child %s\n", errname(err), describe(st));

	/* File actions: the child's stdout is a pipe the parent reads. */
	int p[2];
	xpipe(p);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	char *dargv[] = {"forks", "spawnchild", "posix_spawn with stdout a pipe", NULL};
	err = posix_spawn(&pid, self, &fa, NULL, dargv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (err != 0) {
		printf("FAIL: posix_spawn: %s\n", errname(err));
		exit(1);
	}
	close(p[1]);
	char buf[128];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += n;
	buf[got] = 0;
	close(p[0]);
	st = reap(pid);
	printf("vfork: posix_spawn's child wrote into the pipe: %s", buf);
	printf("vfork: posix_spawn with file actions: child %s\n", describe(st));

	err = posix_spawn(&pid, "/nonexistent/forks-no-such-program", NULL, NULL, sargv, envp);
	printf("vfork: posix_spawn of a missing path: %s\n", errname(err));
	if (err == 0)
		reap(pid);
}

/* ---- pgrp ---- */

static void pgrp(void)
{
	pid_t parent = getpid();
	pid_t sid = getsid(0);

	pid_t pid = xfork();
	if (pid == 0) {
		pid_t me = getpid();
		printf("pgrp: child's getppid() is the parent's getpid(): %s\n", yesno(getppid() == parent));
		printf("pgrp: child in the parent's process group before setpgid: %s\n", yesno(getpgrp() == getpgid(parent)));
		int r = setpgid(0, 0);
		printf("pgrp: setpgid(0, 0): %d\n", r);
		printf("pgrp: child's pgid is its pid: %s\n", yesno(getpgid(0) == me));
		printf("pgrp: getpgrp() == getpgid(0): %s\n", yesno(getpgrp() == getpgid(0)));
		printf("pgrp: child still in the parent's session: %s\n", yesno(getsid(0) == sid));
		errno = 0;
		r = setsid();
		printf("pgrp: setsid() of a group leader: %d %s\n", r, errname(errno));
		exit(0);
	}
	int st = reap(pid);
	check(exited(st, 0), "pgrp: the first child failed");

	pid = xfork();
	if (pid == 0) {
		pid_t me = getpid();
		pid_t r = setsid();
		printf("pgrp: setsid() of a child that leads no group returns its pid: %s\n", yesno(r == me));
		printf("pgrp: after setsid, getsid(0) is its pid: %s, getpgrp() is its pid: %s\n",
		       yesno(getsid(0) == me), yesno(getpgrp() == me));
		printf("pgrp: the parent's session is another: %s\n", yesno(getsid(parent) == sid && sid != me));
		exit(0);
	}
	st = reap(pid);
	check(exited(st, 0), "pgrp: the second child failed");

	/* kill(-pgid): three children in a group of their own, one outside
	 * it; all four block on a pipe. Parent and child both set each
	 * one's group, so that it is set before the kill whoever runs
	 * first. */
	int rel[2];
	xpipe(rel);
	pid_t kids[4];
	for (int i = 0; i < 4; i++) {
		kids[i] = xfork();
		if (kids[i] == 0) {
			close(rel[1]);
			if (i < 3)
				setpgid(0, i == 0 ? 0 : kids[0]);
			char c;
			while (read(rel[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		if (i < 3 && setpgid(kids[i], kids[0]) != 0)
			die("setpgid");
	}
	close(rel[0]);
	printf("pgrp: getpgid of the group's children is the leader's pid: %s\n",
	       yesno(getpgid(kids[1]) == kids[0] && getpgid(kids[2]) == kids[0]));
	int r = kill(-kids[0], SIGTERM);
	printf("pgrp: kill(-pgid, SIGTERM): %d\n", r);
	for (int i = 0; i < 3; i++)
		printf("pgrp: group member %d %s\n", i, describe(reap(kids[i])));
	close(rel[1]);
	printf("pgrp: child outside the group %s\n", describe(reap(kids[3])));
	errno = 0;
	r = kill(-kids[0], 0);
	printf("pgrp: kill of the group after all ended: %d %s\n", r, errname(errno));
}

/* ---- churn ---- */

static unsigned char churn_pages[4 * PAGE];

static void churn(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = xfork();
		if (pid == 0) {
			volatile unsigned char stack[2 * PAGE];
			unsigned sum = 0;
			for (int p = 0; p < 4; p++)
				churn_pages[p * PAGE] = (unsigned char)(i + p);
			stack[0] = stack[PAGE] = 1;
			for (int p = 0; p < 4; p++)
				sum += churn_pages[p * PAGE];
			_exit((sum + stack[0] + stack[PAGE]) & 0xff);
		}
		int st = reap(pid);
		int want = (int)((4 * i + 6 + 2) & 0xff);
		if (!exited(st, want)) {
			printf("FAIL: churn: child %ld %s, want exited %d\n", i, describe(st), want);
			exit(1);
		}
	}
	for (int p = 0; p < 4; p++)
		check(churn_pages[p * PAGE] == 0, "churn: a child's write reached the parent");
	printf("churn %ld ok\n", n);
}

/* read_text reads up to n-1 bytes of the file at path into buf, "?" if
 * it cannot, and cuts it at the first newline. */
static void read_text(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd < 0 ? -1 : read(fd, buf, n - 1);
	if (fd >= 0)
		close(fd);
	if (got < 0)
		got = snprintf(buf, n, "?");
	buf[got] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

static int whoami(int argc, char **argv)
{
	const char *execfn = (const char *)getauxval(AT_EXECFN);
	printf("whoami: AT_EXECFN %s\n", execfn ? execfn : "(none)");
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	buf[n < 0 ? 0 : n] = 0;
	printf("whoami: /proc/self/exe -> %s\n", buf);
	/* The first line of maps is the program's first segment: its path
	 * is what follows the inode, after the spaces. */
	read_text("/proc/self/maps", buf, sizeof buf);
	const char *name = strchr(buf, '/');
	printf("whoami: maps names the program %s\n", name ? name : "(nothing)");
	read_text("/proc/self/comm", buf, sizeof buf);
	printf("whoami: comm %s\n", buf);
	FILE *st = fopen("/proc/self/status", "r");
	if (st && fgets(buf, sizeof buf, st))
		printf("whoami: status %s", buf);
	if (st)
		fclose(st);
	if (argc > 2 && strcmp(argv[2], "again") == 0) {
		char *args[] = {"forks", "whoami", NULL};
		fflush(stdout);
		execve(self, args, environ);
		printf("FAIL: whoami: execve /proc/self/exe: %s\n", errname(errno));
		return 1;
	}
	return 0;
}

static int execpath(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: forks execpath PATH [DIR]\n");
		return 2;
	}
	if (argc > 3 && chdir(argv[3]) != 0) {
		printf("FAIL: execpath: chdir %s: %s\n", argv[3], errname(errno));
		return 1;
	}
	char *args[] = {"forks", "whoami", NULL};
	execve(argv[2], args, environ);
	printf("FAIL: execpath: execve %s: %s\n", argv[2], errname(errno));
	return 1;
}

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x8U
#endif

/* memfd_with makes a memfd named name with flags holding len bytes of
 * data. */
static int memfd_with(const char *name, unsigned flags, const void *data, size_t len)
{
	int fd = (int)syscall(SYS_memfd_create, name, flags);
	if (fd < 0)
		die("memfd_create");
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		die("memfd write");
	return fd;
}

/* fexec is execveat(fd, "", argv, environ, AT_EMPTY_PATH)'s errno. */
static int fexec(int fd)
{
	char *args[] = {"forks", "whoami", "again", NULL};
	syscall(SYS_execveat, fd, "", args, environ, AT_EMPTY_PATH);
	return errno;
}

static void memfd_exec(void)
{
	static char prog[16 << 20];
	int self_fd = open(self, O_RDONLY | O_CLOEXEC);
	ssize_t len = self_fd < 0 ? -1 : read(self_fd, prog, sizeof prog);
	if (len <= 0 || (size_t)len == sizeof prog)
		die("reading /proc/self/exe");
	close(self_fd);
	/* Linux before 6.3 has no MFD_NOEXEC_SEAL: memfd_create's EINVAL. */
	int sealed = (int)syscall(SYS_memfd_create, "sealed", MFD_NOEXEC_SEAL);
	if (sealed < 0) {
		printf("memfd-exec: MFD_NOEXEC_SEAL: memfd_create %s\n", errname(errno));
	} else {
		if (write(sealed, prog, (size_t)len) != len)
			die("memfd write");
		printf("memfd-exec: MFD_NOEXEC_SEAL: %s\n", errname(fexec(sealed)));
	}
	int text = memfd_with("text", 0, "not a program\n", 14);
	printf("memfd-exec: no ELF: %s\n", errname(fexec(text)));
	int empty = memfd_with("empty", 0, "", 0);
	printf("memfd-exec: empty: %s\n", errname(fexec(empty)));
	int fd = memfd_with("forks-program", MFD_CLOEXEC, prog, (size_t)len);
	pid_t pid = xfork();
	if (pid == 0) {
		printf("FAIL: memfd-exec: execveat: %s\n", errname(fexec(fd)));
		fflush(stdout);
		_exit(1);
	}
	printf("memfd-exec: child %s\n", describe(reap(pid)));
}

/* ---- clonevm ---- */

static volatile int cvm_flag;
static volatile pid_t cvm_parent;
static int cvm_pipe[2];
static char cvm_stack[64 * 1024] __attribute__((aligned(16)));
static char cvm_altstack[16 * 1024];

/* cvm_child runs in its parent's memory: it tells the parent it started,
 * waits for the parent's answer and end, then maps, writes and unmaps
 * memory of its own and reports through the pipe (its parent's stdio is
 * not its to use). */
static int cvm_child(void *arg)
{
	(void)arg;
	stack_t ss;
	int nostack = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE);
	cvm_flag = 1;
	while (cvm_flag != 2)
		sched_yield();
	int orphaned = 0;
	for (int i = 0; i < 20000 && !orphaned; i++) {
		orphaned = getppid() != cvm_parent;
		if (!orphaned)
			usleep(1000);
	}
	int memok = 0;
	char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		memset(m, 0x5a, 1 << 20);
		memok = m[0] == 0x5a && m[(1 << 20) - 1] == 0x5a && munmap(m, 1 << 20) == 0;
	}
	memset(cvm_altstack, 0xa5, sizeof cvm_altstack);
	memok = memok && cvm_altstack[sizeof cvm_altstack - 1] == (char)0xa5;
	char msg[160];
	int n = snprintf(msg, sizeof msg, "clonevm: child: no alternate stack %s; outlived its parent %s; its memory usable %s\n",
		yesno(nostack), yesno(orphaned), yesno(memok));
	if (write(cvm_pipe[1], msg, n) != n)
		return 1;
	return 0;
}

static void clonevm(void)
{
	xpipe(cvm_pipe);
	pid_t pid = xfork();
	if (pid == 0) {
		close(cvm_pipe[0]);
		stack_t ss = {.ss_sp = cvm_altstack, .ss_size = sizeof cvm_altstack};
		if (sigaltstack(&ss, NULL) != 0)
			die("sigaltstack");
		cvm_parent = getpid();
		if (clone(cvm_child, cvm_stack + sizeof cvm_stack, CLONE_VM | SIGCHLD, NULL) < 0)
			die("clone(CLONE_VM|SIGCHLD)");
		while (cvm_flag != 1)
			sched_yield();
		cvm_flag = 2;
		_exit(0);
	}
	close(cvm_pipe[1]);
	char buf[256];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof buf - 1 && (r = read(cvm_pipe[0], buf + got, sizeof buf - 1 - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read");
		got += r;
	}
	buf[got] = 0;
	close(cvm_pipe[0]);
	int st = reap(pid);
	check(exited(st, 0), "clonevm: the parent did not exit 0");
	check(strstr(buf, "no alternate stack yes; outlived its parent yes; its memory usable yes") != NULL,
		"clonevm: the child's report is not all yes");
	printf("clonevm: parent %s\n%s", describe(st), got ? buf : "clonevm: child: no report\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	if (strcmp(cmd, "execchild") == 0)
		return execchild(argc, argv);
	if (strcmp(cmd, "spawnchild") == 0)
		return spawnchild(argc, argv);
	if (strcmp(cmd, "whoami") == 0)
		return whoami(argc, argv);
	if (strcmp(cmd, "execpath") == 0)
		return execpath(argc, argv);
	if (strcmp(cmd, "cow") == 0)
		cow(argc > 2 ? atoi(argv[2]) : 8);
	else if (strcmp(cmd, "shared") == 0)
		shared();
	else if (strcmp(cmd, "pipeline") == 0)
		pipeline();
	else if (strcmp(cmd, "exec") == 0)
		exec_();
	else if (strcmp(cmd, "wait") == 0)
		wait_();
	else if (strcmp(cmd, "vfork") == 0)
		vfork_();
	else if (strcmp(cmd, "pgrp") == 0)
		pgrp();
	else if (strcmp(cmd, "clonevm") == 0)
		clonevm();
	else if (strcmp(cmd, "memfd-exec") == 0)
		memfd_exec();
	else if (strcmp(cmd, "churn") == 0)
		churn(argc > 2 ? atol(argv[2]) : 1000);
	else {
		fprintf(stderr, "usage: forks cow [N] | shared | pipeline | exec | wait | vfork | clonevm | pgrp | memfd-exec | whoami [again] | execpath PATH [DIR] | churn [N]\n");
		return 2;
	}
	return failures ? 1 : 0;
}
