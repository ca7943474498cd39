/*
 * procfiles: the /proc and /sys files programs read to learn about
 * themselves and their machine, built against musl (procfiles-musl) and
 * glibc (procfiles-glibc). Run without arguments it execs itself with a
 * known environment; then, with a second thread (named "waiter")
 * waiting on a pipe, it
 * prints each file as it reads it, and checks what a file must agree
 * with (its own argv and environment, its own code, statm against stat,
 * uname against /proc/sys/kernel, sysinfo against /proc/uptime). What
 * differs from run to run (pids, times, addresses, counters) is printed
 * as it is; tests/procfiles_test.go masks those fields alone before it
 * compares the output with the native run's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

static char buf[1 << 20];

/* slurp reads path whole into buf, NUL-terminated; -1 if it cannot. */
static long slurp(const char *path) {
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: cannot open\n", path);
		return -1;
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return (long)n;
}

/* show prints path's text, NULs as '|'. */
static void show(const char *path) {
	long n = slurp(path);
	if (n < 0)
		return;
	printf("== %s\n", path);
	for (long i = 0; i < n; i++)
		putchar(buf[i] ? buf[i] : '|');
	if (n > 0 && buf[n - 1] != '\n')
		putchar('\n');
}

/* statFields splits a stat line into its 52 fields (the comm without
 * its parentheses); it returns how many there were. */
static int statFields(char *line, char **f, int max) {
	char *open = strchr(line, '('), *close = strrchr(line, ')');
	if (!open || !close)
		return 0;
	int n = 0;
	*open = 0;
	*close = 0;
	f[n++] = line;
	f[n++] = open + 1;
	for (char *s = strtok(close + 1, " \n"); s && n < max; s = strtok(NULL, " \n"))
		f[n++] = s;
	return n;
}

static int pipefd[2];

static void *waiter(void *arg) {
	(void)arg;
	char c;
	prctl(PR_SET_NAME, "waiter"); /* its own name, not the process's */
	return (void *)(long)read(pipefd[0], &c, 1);
}

static void checkStat(int argc, char **argv) {
	char line[4096], *f[64];
	if (slurp("/proc/self/stat") < 0)
		return;
	memcpy(line, buf, sizeof line - 1);
	line[sizeof line - 1] = 0;
	int n = statFields(line, f, 64);
	printf("stat fields: %d\n", n);
	if (n < 52)
		return;
	unsigned long v[53];
	for (int i = 0; i < n; i++)
		v[i + 1] = strtoul(f[i], NULL, 10);
	printf("stat pid is getpid: %d\n", (long)v[1] == (long)getpid());
	printf("stat ppid is getppid: %d\n", (long)v[4] == (long)getppid());
	printf("stat pgrp, session: %d %d\n", (long)v[5] == (long)getpgrp(), (long)v[6] == (long)getsid(0));
	printf("stat code holds main: %d\n", v[26] <= (unsigned long)&checkStat && (unsigned long)&checkStat < v[27]);
	printf("stat startstack is argc's: %d\n", v[28] == (unsigned long)argv - 8);
	printf("stat data before brk: %d\n", v[45] < v[46] && v[46] <= v[47] && v[47] <= (unsigned long)sbrk(0));
	unsigned long args = 0, envs = 0;
	for (int i = 0; i < argc; i++)
		args += strlen(argv[i]) + 1;
	for (char **e = environ; *e; e++)
		envs += strlen(*e) + 1;
	printf("stat args: %d %d\n", v[48] == (unsigned long)argv[0], v[49] - v[48] == args);
	printf("stat env: %d %d\n", v[50] == (unsigned long)environ[0], v[51] - v[50] == envs);
	unsigned long size, resident, shared, text, lib, data, dt;
	if (slurp("/proc/self/statm") < 0)
		return;
	if (sscanf(buf, "%lu %lu %lu %lu %lu %lu %lu", &size, &resident, &shared, &text, &lib, &data, &dt) != 7) {
		printf("statm: %s", buf);
		return;
	}
	long page = sysconf(_SC_PAGESIZE);
	printf("statm text is stat's code: %d\n", text == ((v[27] + page - 1) / page - v[26] / page));
	printf("statm lib dt: %lu %lu; shared <= resident <= size: %d\n", lib, dt, shared <= resident && resident <= size);
	printf("statm size is stat's vsize: %d\n", size * page == v[23]);
}

static void taskDir(void) {
	DIR *d = opendir("/proc/self/task");
	if (!d) {
		printf("/proc/self/task: cannot open\n");
		return;
	}
	int n = 0, self = 0;
	struct dirent *e;
	char path[300];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		int tid = atoi(e->d_name);
		if (tid == getpid())
			self = 1;
		for (int i = 0; i < 3; i++) {
			static const char *names[] = {"comm", "stat", "status"};
			snprintf(path, sizeof path, "/proc/self/task/%s/%s", e->d_name, names[i]);
			if (slurp(path) < 0)
				continue;
			if (i == 0) {
				printf("task %s comm: %s", tid == getpid() ? "main" : "other", buf);
			} else if (i == 1) {
				char *f[64];
				int k = statFields(buf, f, 64);
				printf("task %s stat: %d fields, tid %d, state %s, threads %s, exit signal %s\n",
				       tid == getpid() ? "main" : "other", k, atoi(f[0]) == tid, f[2], k > 19 ? f[19] : "?", k > 37 ? f[37] : "?");
			} else {
				char *pid = strstr(buf, "\nPid:\t"), *tgid = strstr(buf, "\nTgid:\t"), *state = strstr(buf, "\nState:\t");
				int len = state ? (int)strcspn(state + 8, "\n") : 0;
				printf("task %s status: pid %d tgid %d %.*s\n", tid == getpid() ? "main" : "other",
				       pid && atoi(pid + 6) == tid, tgid && atoi(tgid + 7) == getpid(), len, state ? state + 8 : "");
			}
		}
	}
	closedir(d);
	printf("tasks: %d, main among them: %d\n", n, self);
}

/* kernelFile prints /proc/sys/kernel/name and whether it is want. */
static void kernelFile(const char *name, const char *want) {
	char path[100];
	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	if (slurp(path) < 0)
		return;
	buf[strcspn(buf, "\n")] = 0;
	printf("kernel %s is uname's: %d\n", name, strcmp(buf, want) == 0);
}

/* lineShapes prints, for each line of path, its first word and how many
 * words it has. */
static void lineShapes(const char *path) {
	if (slurp(path) < 0)
		return;
	printf("== shapes of %s\n", path);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char first[64] = "";
		int words = 0, in = 0;
		sscanf(line, "%63s", first);
		for (char *c = line; *c; c++) {
			if (*c != ' ' && !in)
				words++;
			in = *c != ' ';
		}
		printf("%s %d\n", first, words);
	}
}

/* mountLine prints the line of path (mounts or mountinfo) for mount
 * point point, its fields up to the options. */
static void mountLine(const char *path, const char *point, int info) {
	if (slurp(path) < 0)
		return;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char a[5][256];
		if (!info && sscanf(line, "%255s %255s %255s", a[0], a[1], a[2]) == 3 && strcmp(a[1], point) == 0) {
			printf("%s: %s %s %s\n", path, a[0], a[1], a[2]);
		}
		if (info && sscanf(line, "%255s %255s %255s %255s %255s", a[0], a[1], a[2], a[3], a[4]) == 5 && strcmp(a[4], point) == 0) {
			char *dash = strstr(line, " - ");
			printf("%s: %s %s %s ... %s\n", path, a[2][0] == '0' ? "anon-dev" : "dev", a[3], a[4], dash ? dash + 3 : "no separator");
		}
	}
}

int main(int argc, char **argv) {
	if (argc < 2) {
		char *args[] = {argv[0], "child", "two words", NULL};
		char *env[] = {"A=1", "B=two words", "EMPTY=", NULL};
		execve("/proc/self/exe", args, env);
		perror("execve");
		return 1;
	}
	if (pipe(pipefd) != 0)
		return 1;
	pthread_t th;
	pthread_create(&th, NULL, waiter, NULL);
	/* Wait until the thread sleeps in its read. */
	for (int i = 0; i < 200; i++) {
		usleep(10000);
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		int sleeping = 0;
		while (d && (e = readdir(d))) {
			char path[300];
			snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
			if (e->d_name[0] != '.' && atoi(e->d_name) != getpid() && slurp(path) > 0 && strstr(buf, ") S "))
				sleeping = 1;
		}
		if (d)
			closedir(d);
		if (sleeping)
			break;
	}

	show("/proc/self/environ");
	show("/proc/self/cmdline");
	show("/proc/self/comm");
	show("/proc/self/stat");
	checkStat(argc, argv);
	show("/proc/self/statm");
	taskDir();

	/* limits: each row's name and units (the values are the parent's). */
	if (slurp("/proc/self/limits") >= 0) {
		printf("== limits\n");
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
			printf("%.25s|%s|\n", line, strlen(line) > 68 ? line + 68 : "");
	}
	char link[4096], cwd[4096];
	long n = readlink("/proc/self/cwd", link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	printf("cwd link is getcwd: %d\n", getcwd(cwd, sizeof cwd) && strcmp(cwd, link) == 0);
	n = readlink("/proc/self/root", link, sizeof link - 1);
	printf("root link: %.*s\n", (int)(n > 0 ? n : 0), link);

	struct utsname u;
	uname(&u);
	kernelFile("ostype", u.sysname);
	kernelFile("osrelease", u.release);
	kernelFile("hostname", u.nodename);
	kernelFile("version", u.version);
	show("/proc/sys/kernel/pid_max");
	show("/proc/sys/kernel/random/boot_id");
	if (slurp("/proc/sys/kernel/random/uuid") >= 0) {
		int v4 = strlen(buf) == 37 && buf[8] == '-' && buf[13] == '-' && buf[18] == '-' && buf[23] == '-' &&
			 buf[14] == '4' && strchr("89ab", buf[19]) && buf[36] == '\n';
		char first[64];
		memcpy(first, buf, sizeof first);
		slurp("/proc/sys/kernel/random/uuid");
		printf("uuid is a new version 4 one: %d %d\n", v4, strcmp(first, buf) != 0);
	}
	show("/proc/version");
	printf("version holds the release: %d\n", strstr(buf, u.release) != NULL);

	show("/proc/uptime");
	double up = 0;
	sscanf(buf, "%lf", &up);
	struct sysinfo si;
	sysinfo(&si);
	/* sysinfo rounds the boot time up, /proc/uptime down, and the two
	 * reads are apart: a second or two on a loaded machine. */
	printf("sysinfo uptime is /proc/uptime's: %d\n", (long)si.uptime >= (long)up - 1 && (long)si.uptime <= (long)up + 2);
	show("/proc/loadavg");
	lineShapes("/proc/stat");
	show("/proc/cpuinfo");
	show("/sys/devices/system/cpu/online");
	show("/sys/devices/system/cpu/possible");
	show("/sys/devices/system/cpu/present");
	printf("nprocs: %ld %ld\n", sysconf(_SC_NPROCESSORS_ONLN), sysconf(_SC_NPROCESSORS_CONF));

	mountLine("/proc/mounts", "/proc", 0);
	mountLine("/proc/self/mounts", "/proc", 0);
	mountLine("/proc/self/mountinfo", "/proc", 1);

	(void)!write(pipefd[1], "x", 1);
	pthread_join(th, NULL);
	return 0;
}
