/* filelocks: advisory file locks on a /tmp file between a process and its
 * children: flock (per open file description: dup and fork share it,
 * conversion drops the old lock first), POSIX record locks (per process:
 * ranges split and merged, F_GETLK reporting the holder, a blocked
 * F_SETLKW woken by the unlock, EDEADLK for a cycle, all dropped at any
 * close of the file or at exit) and OFD locks, with Linux's errors. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "include/errname.h"

#define FILE_PATH "/tmp/filelocks.dat"

static pid_t parent;


static int setlk(int fd, int cmd, short type, short whence, off_t start, off_t len) {
	struct flock fl = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &fl);
}

/* getlk prints what F_GETLK (or F_OFD_GETLK) says of a write lock on
 * [start, start+len). */
static void getlk(const char *what, int fd, int cmd, off_t start, off_t len) {
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	if (fcntl(fd, cmd, &fl) < 0) {
		printf("%s: %s\n", what, res(-1));
		return;
	}
	if (fl.l_type == F_UNLCK) {
		printf("%s: unlocked\n", what);
		return;
	}
	printf("%s: %s start=%ld len=%ld pid=%s\n", what, fl.l_type == F_WRLCK ? "write" : "read", (long)fl.l_start,
	       (long)fl.l_len, fl.l_pid == parent ? "parent" : fl.l_pid == -1 ? "-1" : fl.l_pid == getpid() ? "me" : "child");
}

static void sleep_ms(int ms) {
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* child runs f in a child process and waits for it. */
static void child(void (*f)(int), int fd) {
	pid_t pid = fork();
	if (pid == 0) {
		f(fd);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void child_flock(int fd) {
	printf("child: flock EX|NB on the inherited fd: %s\n", res(flock(fd, LOCK_EX | LOCK_NB)));
	int own = open(FILE_PATH, O_RDWR);
	printf("child: flock SH|NB on its own open: %s\n", res(flock(own, LOCK_SH | LOCK_NB)));
}

static void child_posix(int fd) {
	getlk("child: GETLK [5,6)", fd, F_GETLK, 5, 1);
	printf("child: SETLK read [0,5): %s\n", res(setlk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 5)));
	printf("child: SETLK write [20,30): %s\n", res(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 20, 10)));
	getlk("child: GETLK [20,21) of its own", fd, F_GETLK, 20, 1);
}

static void child_ranges(int fd) {
	getlk("child: GETLK [50,51)", fd, F_GETLK, 50, 1);
	getlk("child: GETLK [30,31)", fd, F_GETLK, 30, 1);
	getlk("child: GETLK [70,71)", fd, F_GETLK, 70, 1);
	getlk("child: GETLK [115,116)", fd, F_GETLK, 115, 1);
	getlk("child: GETLK [200,201)", fd, F_GETLK, 200, 1);
	getlk("child: GETLK [5,10) (negative length lock)", fd, F_GETLK, 5, 5);
}

static void child_after_close(int fd) {
	getlk("child: GETLK [0,1000) after the parent closed an fd", fd, F_GETLK, 0, 1000);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	parent = getpid();
	int fd = open(FILE_PATH, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char buf[100];
	memset(buf, 'l', sizeof buf);
	write(fd, buf, sizeof buf);

	/* flock. */
	int other = open(FILE_PATH, O_RDWR);
	int dupd = dup(fd);
	printf("flock EX: %s\n", res(flock(fd, LOCK_EX)));
	printf("flock EX|NB, another open: %s\n", res(flock(other, LOCK_EX | LOCK_NB)));
	printf("flock SH|NB, another open: %s\n", res(flock(other, LOCK_SH | LOCK_NB)));
	printf("flock EX through a dup: %s\n", res(flock(dupd, LOCK_EX | LOCK_NB)));
	child(child_flock, fd);
	printf("flock UN: %s\n", res(flock(fd, LOCK_UN)));
	printf("flock SH|NB, another open: %s\n", res(flock(other, LOCK_SH | LOCK_NB)));
	printf("flock SH|NB: %s\n", res(flock(fd, LOCK_SH | LOCK_NB)));
	printf("flock EX|NB converting, the other shares: %s\n", res(flock(fd, LOCK_EX | LOCK_NB)));
	printf("flock EX|NB, another open, after the failed conversion: %s\n", res(flock(other, LOCK_EX | LOCK_NB)));
	printf("flock op 0: %s\n", res(flock(fd, 0)));
	printf("flock op SH|EX: %s\n", res(flock(fd, LOCK_SH | LOCK_EX)));
	printf("flock bad fd: %s\n", res(flock(-1, LOCK_SH)));
	close(other); /* its last fd: its lock goes */
	printf("flock EX|NB after the holder's close: %s\n", res(flock(fd, LOCK_EX | LOCK_NB)));
	flock(fd, LOCK_UN);

	/* POSIX record locks. */
	printf("SETLK write [0,10): %s\n", res(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10)));
	getlk("GETLK of its own", fd, F_GETLK, 5, 1);
	child(child_posix, fd);
	getlk("GETLK [20,21) after the child's exit", fd, F_GETLK, 20, 1);
	printf("SETLK write [0,100): %s\n", res(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 100)));
	printf("SETLK unlock [40,60): %s\n", res(setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 40, 20)));
	printf("SETLK read [100,110): %s\n", res(setlk(fd, F_SETLK, F_RDLCK, SEEK_SET, 100, 10)));
	printf("SETLK read [110,120): %s\n", res(setlk(fd, F_SETLK, F_RDLCK, SEEK_CUR, 10, 10)));
	printf("SETLK read to EOF from END-10: %s\n", res(setlk(fd, F_SETLK, F_RDLCK, SEEK_END, 100, 0)));
	printf("SETLK write [5,10) by a negative length: %s\n", res(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, -5)));
	child(child_ranges, fd);
	printf("SETLK type 5: %s\n", res(setlk(fd, F_SETLK, 5, SEEK_SET, 0, 1)));
	printf("SETLK whence 7: %s\n", res(setlk(fd, F_SETLK, F_WRLCK, 7, 0, 1)));
	printf("SETLK start -1: %s\n", res(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, -1, 1)));
	printf("SETLK start 3 length -5: %s\n", res(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 3, -5)));
	printf("GETLK of F_UNLCK: %s\n", res(setlk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1)));
	printf("SETLK bad pointer: %s\n", res(fcntl(fd, F_SETLK, (struct flock *)8)));
	int ro = open(FILE_PATH, O_RDONLY), wo = open(FILE_PATH, O_WRONLY);
	printf("SETLK write on O_RDONLY: %s\n", res(setlk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1)));
	printf("SETLK read on O_WRONLY: %s\n", res(setlk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1)));
	close(ro); /* any close drops the process's POSIX locks on the file */
	close(wo);
	child(child_after_close, fd);

	/* A blocked F_SETLKW, woken by the unlock; a deadlock. */
	int p1[2], p2[2];
	pipe(p1);
	pipe(p2);
	setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		printf("child: SETLK write [1,2): %s\n", res(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1)));
		write(p1[1], "r", 1);
		int rc = setlk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
		read(p2[0], &c, 1); /* print after the parent's lines */
		printf("child: SETLKW write [0,1) (waited): %s\n", res(rc));
		_exit(0);
	}
	char c;
	read(p1[0], &c, 1);
	sleep_ms(200); /* the child is waiting */
	printf("SETLKW write [1,2), which the waiting child holds: %s\n", res(setlk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1)));
	printf("SETLK unlock [0,1): %s\n", res(setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1)));
	sleep_ms(200);
	getlk("GETLK [0,1) after the child's wait", fd, F_GETLK, 0, 1);
	write(p2[1], "x", 1);
	waitpid(pid, NULL, 0);

	/* OFD locks. */
	int ofd2 = open(FILE_PATH, O_RDWR);
	printf("OFD_SETLK with l_pid 1: %s\n", res(({
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10, .l_pid = 1};
		fcntl(fd, F_OFD_SETLK, &fl);
	})));
	printf("OFD_SETLK write [0,10): %s\n", res(setlk(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10)));
	getlk("OFD_GETLK from another open", ofd2, F_OFD_GETLK, 5, 1);
	getlk("GETLK from another open", ofd2, F_GETLK, 5, 1);
	printf("SETLK write [0,1) over the OFD lock: %s\n", res(setlk(ofd2, F_SETLK, F_WRLCK, SEEK_SET, 0, 1)));
	printf("OFD_SETLK write [0,1) from another open: %s\n", res(setlk(ofd2, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 1)));
	int fd3 = dup(fd);
	close(fd);
	getlk("OFD_GETLK after closing one of two fds", ofd2, F_OFD_GETLK, 5, 1);
	close(fd3);
	getlk("OFD_GETLK after the last close", ofd2, F_OFD_GETLK, 5, 1);
	unlink(FILE_PATH);
	return 0;
}
