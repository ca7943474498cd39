/*
 * ctty: what a program sees of the terminal it was given on stdin, stdout
 * and stderr as its controlling terminal (a shell's foreground job), built
 * against musl (ctty-musl) and glibc (ctty-glibc): ttyname and the node it
 * names (stat against fstat), /proc/self/fd's links, /dev/pts listing the
 * node, /proc/self/stat's tty_nr and tpgid, /dev/tty (whose fd is
 * /dev/tty's own node, reaching the terminal), tcgetpgrp,
 * tcsetpgrp and tcgetsid, and in a child that makes a session of its own:
 * no controlling terminal, /dev/tty ENXIO, TIOCSCTTY of a terminal another
 * session holds EPERM; and in a child in a background group: SIGTTIN for
 * a read (EIO where ignored), SIGTTOU for tcsetattr, tcsetpgrp and a
 * write under TOSTOP (none where ignored). It prints relations, not numbers that differ from
 * run to run (the pty's number, the pids). Every line is the same natively
 * (run as a session leader with the pty as its controlling terminal) and
 * under mmvm.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void say(const char *what, int ok) { printf("%s: %s\n", what, ok ? "yes" : "no"); }

static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

/* statField returns field n (1-based) of /proc/self/stat, or -1. */
static long statField(int n) {
	char b[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return -1;
	size_t len = fread(b, 1, sizeof b - 1, f);
	fclose(f);
	b[len] = 0;
	char *p = strrchr(b, ')');
	if (!p)
		return -1;
	p += 2; /* field 3 */
	for (int i = 3; i < n; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return strtol(p, NULL, 10);
}

static void child(void) {
	printf("child setsid: %s\n", err(setsid()));
	say("child has no tty_nr", statField(7) == 0 && statField(8) == -1);
	int fd = open("/dev/tty", O_RDWR);
	printf("child open /dev/tty: %s\n", err(fd));
	errno = 0;
	printf("child tcgetpgrp: %s\n", err(tcgetpgrp(1)));
	printf("child TIOCSCTTY 0: %s\n", err(ioctl(1, TIOCSCTTY, 0)));
	fflush(stdout);
}

static volatile sig_atomic_t caught;

static void count(int sig) { (void)sig; caught++; }

/* on sets sig's handler (without SA_RESTART), or SIG_IGN where h is. */
static void on(int sig, void (*h)(int)) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sigaction(sig, &sa, NULL);
}

/* background runs in a child that left the foreground group: the
 * terminal refuses it what a background job may not do (SIGTTIN,
 * SIGTTOU), and it reports once back in the foreground group fg. */
static void background(pid_t fg) {
	char out[1024];
	int n = 0;
	char c;
	setpgid(0, 0);
	on(SIGTTIN, SIG_IGN);
	long r = read(0, &c, 1);
	n += snprintf(out + n, sizeof out - n, "bg read, SIGTTIN ignored: %s\n", err(r));
	on(SIGTTIN, count);
	r = read(0, &c, 1);
	n += snprintf(out + n, sizeof out - n, "bg read, SIGTTIN caught: %s, caught %d\n", err(r), caught);
	struct termios t;
	tcgetattr(0, &t);
	on(SIGTTOU, SIG_IGN);
	n += snprintf(out + n, sizeof out - n, "bg tcsetattr, SIGTTOU ignored: %s\n", err(tcsetattr(0, TCSANOW, &t)));
	on(SIGTTOU, count);
	caught = 0;
	r = tcsetattr(1, TCSANOW, &t);
	n += snprintf(out + n, sizeof out - n, "bg tcsetattr, SIGTTOU caught: %s, caught %d\n", err(r), caught);
	r = tcsetpgrp(2, getpgrp());
	n += snprintf(out + n, sizeof out - n, "bg tcsetpgrp: %s, caught %d\n", err(r), caught);
	r = write(1, "", 0);
	n += snprintf(out + n, sizeof out - n, "bg write under TOSTOP: %s, caught %d\n", err(r), caught);
	setpgid(0, fg);
	write(1, out, n);
}

int main(void) {
	for (int fd = 0; fd < 3; fd++)
		printf("isatty(%d) %d\n", fd, isatty(fd));
	char *name = ttyname(1);
	if (!name) {
		printf("ttyname(1): %s\n", strerror(errno));
		return 1;
	}
	say("ttyname is under /dev/pts", strncmp(name, "/dev/pts/", 9) == 0);
	char *name0 = strdup(name);
	say("ttyname(0) is ttyname(1)", ttyname(0) && strcmp(ttyname(0), name0) == 0);
	struct stat fst, nst;
	if (fstat(1, &fst) || stat(name0, &nst)) {
		printf("stat: %s\n", strerror(errno));
		return 1;
	}
	say("the node is the fd's file", fst.st_dev == nst.st_dev && fst.st_ino == nst.st_ino &&
	                                     fst.st_rdev == nst.st_rdev && fst.st_mode == nst.st_mode);
	printf("mode %o major %u\n", nst.st_mode & S_IFMT, major(nst.st_rdev));
	say("the node's name is its number", (unsigned)atoi(name0 + 9) == ((major(nst.st_rdev) - 136) << 8 | minor(nst.st_rdev)));
	char link[256];
	ssize_t n = readlink("/proc/self/fd/2", link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	say("/proc/self/fd/2 links to it", strcmp(link, name0) == 0);
	DIR *d = opendir("/dev/pts");
	int listed = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		listed |= strcmp(e->d_name, name0 + 9) == 0;
	say("/dev/pts lists it", listed);
	if (d)
		closedir(d);
	struct stat pts;
	say("/dev/pts holds it", stat("/dev/pts", &pts) == 0 && S_ISDIR(pts.st_mode) && pts.st_dev == nst.st_dev);
	long nr = statField(7);
	say("tty_nr is its device", nr == (long)((minor(nst.st_rdev) & 0xff) | major(nst.st_rdev) << 8 | (minor(nst.st_rdev) & ~0xffu) << 12));
	say("tpgid is our group", statField(8) == getpgrp());
	say("tcgetpgrp is our group", tcgetpgrp(0) == getpgrp());
	say("tcgetsid is our session", tcgetsid(2) == getsid(0));
	printf("tcsetpgrp ours: %s\n", err(tcsetpgrp(1, getpgrp())));
	errno = 0;
	printf("tcsetpgrp none: %s\n", err(tcsetpgrp(1, 0x3fffff)));
	int tty = open("/dev/tty", O_RDWR);
	printf("open /dev/tty: %s\n", err(tty));
	if (tty >= 0) {
		struct stat tst, dst;
		fstat(tty, &tst);
		stat("/dev/tty", &dst);
		say("its fd's file is /dev/tty", tst.st_rdev == dst.st_rdev && tst.st_ino == dst.st_ino && tst.st_dev == dst.st_dev);
		printf("its ttyname %s\n", ttyname(tty) ? ttyname(tty) : strerror(errno));
		say("it is our terminal", tcgetpgrp(tty) == getpgrp());
		dprintf(tty, "through /dev/tty\n");
		close(tty);
	}
	struct stat devtty;
	say("/dev/tty is 5,0", stat("/dev/tty", &devtty) == 0 && S_ISCHR(devtty.st_mode) && devtty.st_rdev == makedev(5, 0));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		child();
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	say("the parent keeps it", statField(7) == nr && tcgetpgrp(1) == getpgrp());
	struct termios t;
	tcgetattr(0, &t);
	t.c_lflag |= TOSTOP;
	tcsetattr(0, TCSANOW, &t);
	pid = fork();
	if (pid == 0) {
		background(getppid());
		_exit(0);
	}
	waitpid(pid, &st, 0);
	t.c_lflag &= ~TOSTOP;
	tcsetattr(0, TCSANOW, &t);
	say("the background child ended", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
