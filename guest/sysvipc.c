/* sysvipc: System V message queues and semaphores as programs use them:
 * queues made private and by key, messages picked by type (first, equal,
 * lowest up to, except, MSG_COPY's n'th), truncation and E2BIG, a full
 * queue, receivers and senders that wait and are woken by a send, a
 * signal or IPC_RMID; semaphore sets with every semctl command, atomic
 * multi-operation semops, IPC_NOWAIT, timeouts, waiters woken in order,
 * SEM_UNDO applied at exit; the namespace's limits in /proc/sys/kernel
 * and what /proc/sysvipc lists; POSIX message queues: names, attributes
 * and their limits, priority order, full and empty queues with and
 * without waiting, mq_notify's signal, the status line a read gives and
 * poll's readiness. It expects an IPC namespace of its own
 * (the test starts the native run in a fresh one), so that ids start at
 * 0, and prints no pid or time, only whether each is the one expected. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "include/errname.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif
#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

struct msgbuf64 {
	long mtype;
	char mtext[64];
};

static void on_alarm(int sig) { (void)sig; }

static void pause_ms(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* wait_asleep waits (up to 10 s) until process pid sleeps, which the
 * children this program starts do only in the call they were made to
 * wait in. */
static void wait_asleep(pid_t pid) {
	char path[64], b[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 2000; i++) {
		int fd = open(path, O_RDONLY);
		long n = fd < 0 ? -1 : read(fd, b, sizeof b - 1);
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			b[n] = 0;
			char *p = strrchr(b, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return;
		}
		pause_ms(5);
	}
	printf("process %d never slept\n", (int)pid);
}

/* signal_when_asleep starts a child that sends sig to this process once
 * it sleeps, which it does next only in the call it is made to wait in,
 * and returns the child's pid for a waitpid after that call. */
static pid_t signal_when_asleep(int sig) {
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		wait_asleep(parent);
		kill(parent, sig);
		_exit(0);
	}
	return pid;
}

static int send(int q, long type, const char *text, int flags) {
	struct msgbuf64 m = {.mtype = type};
	strcpy(m.mtext, text);
	return msgsnd(q, &m, strlen(text), flags);
}

/* recv prints what msgrcv gives for type and flags, with a buffer of size. */
static void recv(const char *what, int q, size_t size, long type, int flags) {
	struct msgbuf64 m;
	memset(&m, 0, sizeof m);
	long n = msgrcv(q, &m, size, type, flags);
	if (n < 0)
		printf("%s: %s\n", what, res(-1));
	else
		printf("%s: %ld type=%ld text=%.*s\n", what, n, m.mtype, (int)n, m.mtext);
}

static void msgstat(const char *what, int q) {
	struct msqid_ds ds;
	if (msgctl(q, IPC_STAT, &ds) < 0) {
		printf("%s: IPC_STAT %s\n", what, res(-1));
		return;
	}
	printf("%s: key=%#x mode=%o qnum=%lu cbytes=%lu qbytes=%lu lspid=%s lrpid=%s stime=%s rtime=%s ctime=%s\n", what,
	       (unsigned)ds.msg_perm.__key, (unsigned)ds.msg_perm.mode, (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes,
	       ds.msg_lspid == getpid() ? "me" : ds.msg_lspid ? "other" : "0",
	       ds.msg_lrpid == getpid() ? "me" : ds.msg_lrpid ? "other" : "0", ds.msg_stime ? "set" : "0",
	       ds.msg_rtime ? "set" : "0", ds.msg_ctime ? "set" : "0");
}

/* sysvipcFile prints a /proc/sysvipc file's lines but for its pid and
 * time columns (the last n and those at pidcols). */
static void sysvipc_file(const char *path) {
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: %s\n", path, res(-1));
		return;
	}
	char line[512];
	printf("%s:\n", path);
	while (fgets(line, sizeof line, f)) {
		char *save, *tok = strtok_r(line, " \n", &save);
		int col = 0;
		int msg = strstr(path, "msg") != NULL;
		while (tok) {
			/* msg: key id perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime
			 * sem: key id perms nsems uid gid cuid cgid otime ctime */
			int skip = msg ? (col == 5 || col == 6 || col >= 11) : col >= 8;
			if (!skip)
				printf(" %s", tok);
			tok = strtok_r(NULL, " \n", &save);
			col++;
		}
		printf("\n");
	}
	fclose(f);
}

static void print_file(const char *path) {
	char b[256];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: %s\n", path, res(-1));
		return;
	}
	long n = read(fd, b, sizeof b - 1);
	close(fd);
	b[n > 0 ? n : 0] = 0;
	printf("%s: %s", path, b);
}

static int write_file(const char *path, const char *text) {
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	long n = write(fd, text, strlen(text));
	close(fd);
	return n;
}

static void messages(void) {
	printf("msgget private: %s\n", res(msgget(IPC_PRIVATE, 0600)));
	printf("msgget key, no IPC_CREAT: %s\n", res(msgget(0x5151, 0600)));
	int q = msgget(0x5151, IPC_CREAT | 0640);
	printf("msgget key IPC_CREAT: %s\n", res(q));
	printf("again: %s\n", res(msgget(0x5151, 0600)));
	printf("IPC_CREAT|IPC_EXCL: %s\n", res(msgget(0x5151, IPC_CREAT | IPC_EXCL | 0600)));
	msgstat("new", q);

	printf("send type 0: %s\n", res(send(q, 0, "x", 0)));
	printf("send type -1: %s\n", res(send(q, -1, "x", 0)));
	struct msgbuf64 m = {.mtype = 1};
	printf("send past msgmax: %s\n", res(msgsnd(q, &m, 8193, 0)));
	printf("send bad id: %s\n", res(msgsnd(q + 1, &m, 1, 0)));
	printf("send bad address: %s\n", res(msgsnd(q, (void *)16, 1, 0)));
	const long types[] = {5, 3, 7, 3, 9, 2};
	const char *texts[] = {"five", "three", "seven", "three-b", "nine", "two"};
	for (int i = 0; i < 6; i++)
		if (send(q, types[i], texts[i], 0) < 0)
			printf("send %ld: %s\n", types[i], res(-1));
	msgstat("six queued", q);
	recv("copy 0", q, 64, 0, MSG_COPY | IPC_NOWAIT);
	recv("copy 4", q, 64, 4, MSG_COPY | IPC_NOWAIT);
	recv("copy 6", q, 64, 6, MSG_COPY | IPC_NOWAIT);
	recv("copy without IPC_NOWAIT", q, 64, 0, MSG_COPY);
	recv("copy with MSG_EXCEPT", q, 64, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT);
	recv("copy 0, small buffer", q, 2, 0, MSG_COPY | IPC_NOWAIT);
	recv("copy 0, small buffer, MSG_NOERROR", q, 2, 0, MSG_COPY | IPC_NOWAIT | MSG_NOERROR);
	recv("type 3", q, 64, 3, 0);
	recv("type <= 4", q, 64, -4, 0);
	recv("not type 5", q, 64, 5, MSG_EXCEPT);
	recv("small buffer", q, 2, 0, 0);
	recv("small buffer, MSG_NOERROR", q, 2, 0, MSG_NOERROR);
	recv("type 4, IPC_NOWAIT", q, 64, 4, IPC_NOWAIT);
	recv("any", q, 64, 0, 0);
	recv("any, the last", q, 64, 0, 0);
	recv("negative size", q, -1, 0, IPC_NOWAIT);
	recv("bad id", q + 1, 64, 0, IPC_NOWAIT);
	msgstat("drained", q);

	/* A full queue: its qbytes lowered with IPC_SET. */
	struct msqid_ds ds;
	msgctl(q, IPC_STAT, &ds);
	ds.msg_qbytes = 10;
	ds.msg_perm.mode = 0600;
	printf("IPC_SET qbytes 10: %s\n", res(msgctl(q, IPC_SET, &ds)));
	printf("send 6 bytes: %s\n", res(send(q, 1, "abcdef", 0)));
	printf("send 6 more, IPC_NOWAIT: %s\n", res(send(q, 1, "ghijkl", IPC_NOWAIT)));
	msgstat("full", q);

	/* A sender waiting for room, let in by a receive. */
	pid_t child = fork();
	if (child == 0) {
		printf("child: waiting send: %s\n", res(send(q, 2, "ghijkl", 0)));
		fflush(stdout);
		_exit(0);
	}
	wait_asleep(child);
	struct msgbuf64 got;
	long n = msgrcv(q, &got, 64, 0, 0);
	waitpid(child, NULL, 0);
	printf("parent: receive: %ld type=%ld\n", n, got.mtype);
	recv("parent: the waiting sender's", q, 64, 0, IPC_NOWAIT);
	msgstat("after", q);
	ds.msg_qbytes = 16384;
	msgctl(q, IPC_SET, &ds);

	/* Receivers waiting: a send hands each its message in turn; one whose
	 * buffer is too small gets E2BIG. */
	pid_t kids[3];
	for (int i = 0; i < 3; i++) {
		if ((kids[i] = fork()) == 0) {
			struct msgbuf64 m;
			long n = msgrcv(q, &m, i == 1 ? 2 : 64, 0, 0);
			_exit(n >= 0 ? (int)n : 100 + errno);
		}
		wait_asleep(kids[i]);
	}
	send(q, 4, "first", 0);
	int st;
	waitpid(kids[0], &st, 0);
	printf("child 0: exit %d\n", WEXITSTATUS(st));
	send(q, 4, "second!", 0);
	waitpid(kids[1], &st, 0);
	printf("child 1 (2-byte buffer): exit %d (E2BIG is %d)\n", WEXITSTATUS(st), 100 + E2BIG);
	waitpid(kids[2], &st, 0);
	printf("child 2: exit %d\n", WEXITSTATUS(st));
	msgstat("handed off", q);

	/* A receiver interrupted by a signal, even with SA_RESTART, and one
	 * woken by IPC_RMID. */
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &sa, NULL);
	pid_t alarmer = signal_when_asleep(SIGALRM);
	recv("receive, SIGALRM", q, 64, 0, 0);
	waitpid(alarmer, NULL, 0);
	child = fork();
	if (child == 0) {
		recv("child: receive, IPC_RMID", q, 64, 0, 0);
		fflush(stdout);
		_exit(0);
	}
	wait_asleep(child);
	fflush(stdout);
	long rm = msgctl(q, IPC_RMID, NULL);
	waitpid(child, NULL, 0);
	printf("IPC_RMID: %s\n", res(rm));
	printf("IPC_STAT removed: %s\n", res(msgctl(q, IPC_STAT, &ds)));
	printf("IPC_RMID again: %s\n", res(msgctl(q, IPC_RMID, NULL)));

	struct msginfo info;
	int q2 = msgget(0x5252, IPC_CREAT | 0644);
	send(q2, 1, "abc", 0);
	send(q2, 1, "defgh", 0);
	printf("IPC_INFO: %s", res(msgctl(0, IPC_INFO, (struct msqid_ds *)&info)));
	printf(" msgmax=%d msgmnb=%d msgmni=%d msgssz=%d msgseg=%u msgpool=%d msgmap=%d msgtql=%d\n", info.msgmax,
	       info.msgmnb, info.msgmni, info.msgssz, info.msgseg, info.msgpool, info.msgmap, info.msgtql);
	printf("MSG_INFO: %s", res(msgctl(0, MSG_INFO, (struct msqid_ds *)&info)));
	printf(" msgpool=%d msgmap=%d msgtql=%d\n", info.msgpool, info.msgmap, info.msgtql);
	printf("MSG_STAT index 0: %s\n", res(msgctl(0, MSG_STAT, &ds)));
	printf("MSG_STAT index 2: %s\n", res(msgctl(2, MSG_STAT, &ds)));
	printf("MSG_STAT_ANY index 2: %s\n", res(msgctl(2, MSG_STAT_ANY, &ds)));
	printf("bad command: %s\n", res(msgctl(q2, 99, &ds)));
	sysvipc_file("/proc/sysvipc/msg");
}

static void semstat(const char *what, int s) {
	struct semid_ds ds;
	union semun arg = {.buf = &ds};
	if (semctl(s, 0, IPC_STAT, arg) < 0) {
		printf("%s: IPC_STAT %s\n", what, res(-1));
		return;
	}
	printf("%s: key=%#x mode=%o nsems=%lu otime=%s ctime=%s\n", what, (unsigned)ds.sem_perm.__key,
	       (unsigned)ds.sem_perm.mode, (unsigned long)ds.sem_nsems, ds.sem_otime ? "set" : "0",
	       ds.sem_ctime ? "set" : "0");
}

static void semvals(const char *what, int s, int n) {
	unsigned short v[8];
	union semun arg = {.array = v};
	printf("%s: GETALL %s:", what, res(semctl(s, 0, GETALL, arg)));
	for (int i = 0; i < n; i++)
		printf(" %u", v[i]);
	printf("\n");
}

static int op(int s, unsigned short num, short sop, short flg) {
	struct sembuf b = {num, sop, flg};
	return semop(s, &b, 1);
}

static int thread_sem;

static void *thread_op(void *arg) {
	return (void *)(long)op(thread_sem, 0, (short)(long)arg, SEM_UNDO);
}

/* threads: a thread waiting in semop is woken by another thread's; the
 * SEM_UNDO adjustments of a process's threads are the process's, applied
 * when the process exits, not when the thread that made them does. */
static void threads(void) {
	thread_sem = semget(IPC_PRIVATE, 1, 0600);
	pthread_t th;
	pthread_create(&th, NULL, thread_op, (void *)-1L);
	for (int i = 0; i < 2000 && semctl(thread_sem, 0, GETNCNT) != 1; i++)
		pause_ms(5);
	printf("thread waiting: GETNCNT %s\n", res(semctl(thread_sem, 0, GETNCNT)));
	op(thread_sem, 0, 1, 0);
	void *r;
	pthread_join(th, &r);
	printf("thread's semop: %ld, GETVAL %s\n", (long)r, res(semctl(thread_sem, 0, GETVAL)));
	pid_t child = fork();
	if (child == 0) {
		pthread_t t2;
		pthread_create(&t2, NULL, thread_op, (void *)2L);
		pthread_join(t2, &r);
		printf("child: thread's +2 with SEM_UNDO: %ld, after the thread: GETVAL %s\n", (long)r,
		       res(semctl(thread_sem, 0, GETVAL)));
		fflush(stdout);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	printf("after the child: GETVAL %s\n", res(semctl(thread_sem, 0, GETVAL)));
	semctl(thread_sem, 0, IPC_RMID);
}

static void semaphores(void) {
	pid_t kids[3], child;
	printf("semget nsems 0: %s\n", res(semget(IPC_PRIVATE, 0, 0600)));
	printf("semget nsems -1: %s\n", res(semget(IPC_PRIVATE, -1, 0600)));
	printf("semget nsems 32001: %s\n", res(semget(IPC_PRIVATE, 32001, 0600)));
	printf("semget key, no IPC_CREAT: %s\n", res(semget(0x5353, 3, 0600)));
	int s = semget(0x5353, 3, IPC_CREAT | 0600);
	printf("semget 3: %s\n", res(s));
	printf("again, 2: %s\n", res(semget(0x5353, 2, 0600)));
	printf("again, 0: %s\n", res(semget(0x5353, 0, 0600)));
	printf("again, 4: %s\n", res(semget(0x5353, 4, 0600)));
	printf("IPC_CREAT|IPC_EXCL: %s\n", res(semget(0x5353, 3, IPC_CREAT | IPC_EXCL | 0600)));
	semstat("new", s);
	semvals("new", s, 3);

	union semun arg = {.val = 5};
	printf("SETVAL 0 5: %s\n", res(semctl(s, 0, SETVAL, arg)));
	arg.val = 32768;
	printf("SETVAL 32768: %s\n", res(semctl(s, 0, SETVAL, arg)));
	arg.val = -1;
	printf("SETVAL -1: %s\n", res(semctl(s, 0, SETVAL, arg)));
	arg.val = 1;
	printf("SETVAL num 3: %s\n", res(semctl(s, 3, SETVAL, arg)));
	printf("GETVAL 0: %s\n", res(semctl(s, 0, GETVAL)));
	printf("GETVAL 3: %s\n", res(semctl(s, 3, GETVAL)));
	printf("GETPID 0 is me: %d\n", semctl(s, 0, GETPID) == getpid());
	printf("GETPID 1: %s\n", res(semctl(s, 1, GETPID)));
	unsigned short all[3] = {1, 2, 3};
	arg.array = all;
	printf("SETALL 1 2 3: %s\n", res(semctl(s, 0, SETALL, arg)));
	unsigned short big[3] = {1, 40000, 3};
	arg.array = big;
	printf("SETALL 40000: %s\n", res(semctl(s, 0, SETALL, arg)));
	semvals("set", s, 3);
	semstat("set", s);

	/* Atomic semops: all or none. */
	struct sembuf two[2] = {{0, -1, 0}, {1, -3, IPC_NOWAIT}};
	printf("semop -1,-3 IPC_NOWAIT: %s\n", res(semop(s, two, 2)));
	semvals("unchanged", s, 3);
	two[1].sem_op = -2;
	printf("semop -1,-2: %s\n", res(semop(s, two, 2)));
	semvals("both", s, 3);
	struct sembuf dup[3] = {{2, -1, 0}, {2, -1, 0}, {2, 0, IPC_NOWAIT}};
	printf("semop -1,-1,0 on one IPC_NOWAIT: %s\n", res(semop(s, dup, 3)));
	dup[2].sem_op = -1;
	printf("semop -1,-1,-1 on one: %s\n", res(semop(s, dup, 3)));
	semvals("all taken", s, 3);
	printf("semop +32768: %s\n", res(op(s, 0, 32767, 0) < 0 ? -1 : op(s, 0, 1, 0)));
	semvals("at most", s, 3);
	arg.val = 0;
	semctl(s, 0, SETVAL, arg);
	printf("semop num 3: %s\n", res(op(s, 3, 1, 0)));
	printf("semop none: %s\n", res(semop(s, two, 0)));
	printf("semop 501: %s\n", res(semop(s, two, 501)));
	printf("semop bad address: %s\n", res(semop(s, (void *)16, 1)));
	printf("semop bad id: %s\n", res(op(s + 1, 0, 1, 0)));
	printf("wait zero, IPC_NOWAIT: %s\n", res(op(s, 1, 0, IPC_NOWAIT)));
	printf("wait zero on 0: %s\n", res(op(s, 0, 0, 0)));
	struct sembuf dec = {0, -1, 0};
	struct timespec ts = {0, 50000000};
	printf("semtimedop 50ms: %s\n", res(semtimedop(s, &dec, 1, &ts)));
	ts.tv_nsec = 1000000000;
	printf("semtimedop bad timeout: %s\n", res(semtimedop(s, &dec, 1, &ts)));
	printf("semtimedop bad timeout address: %s\n", res(semtimedop(s, &dec, 1, (void *)16)));

	/* Waiters: counted by GETNCNT and GETZCNT, woken in the order they
	 * came, one by one; a waiter for zero wakes when the value reaches 0. */
	int fds[2];
	if (pipe(fds) < 0)
		return;
	arg.val = 1;
	semctl(s, 1, SETVAL, arg);
	for (int i = 0; i < 3; i++) {
		if ((kids[i] = fork()) == 0) {
			close(fds[0]);
			int r = op(s, 0, -1, 0);
			char c = '0' + i;
			if (r < 0)
				c = 'x';
			write(fds[1], &c, 1);
			_exit(0);
		}
		wait_asleep(kids[i]);
	}
	if ((child = fork()) == 0) {
		int r = op(s, 1, 0, 0);
		char c = r < 0 ? 'x' : 'z';
		write(fds[1], &c, 1);
		_exit(0);
	}
	wait_asleep(child);
	close(fds[1]);
	printf("GETNCNT 0: %s\n", res(semctl(s, 0, GETNCNT)));
	printf("GETZCNT 1: %s\n", res(semctl(s, 1, GETZCNT)));
	printf("GETNCNT 1: %s\n", res(semctl(s, 1, GETNCNT)));
	char order[8] = {0};
	for (int i = 0; i < 3; i++) {
		op(s, 0, 1, 0);
		read(fds[0], &order[i], 1);
	}
	op(s, 1, -1, 0);
	read(fds[0], &order[3], 1);
	printf("woken in order: %s\n", order);
	close(fds[0]);
	for (int i = 0; i < 4; i++)
		wait(NULL);
	semvals("after the waiters", s, 3);

	/* SEM_UNDO: a child's adjustments apply when it exits; SETVAL clears them. */
	arg.val = 5;
	semctl(s, 0, SETVAL, arg);
	if (fork() == 0) {
		op(s, 0, -2, SEM_UNDO);
		op(s, 1, 3, SEM_UNDO);
		op(s, 1, -1, SEM_UNDO);
		op(s, 2, 4, SEM_UNDO);
		union semun a = {.val = 7};
		semctl(s, 2, SETVAL, a);
		semvals("child before exit", s, 3);
		fflush(stdout);
		_exit(0);
	}
	wait(NULL);
	semvals("child exited", s, 3);
	if (fork() == 0) {
		op(s, 0, -5, SEM_UNDO);
		union semun a = {.val = 32767};
		semctl(s, 1, SETVAL, a);
		op(s, 1, -32767, SEM_UNDO);
		op(s, 1, 32767, 0);
		printf("child: undo past SEMAEM: %s\n", res(op(s, 1, -1, SEM_UNDO)));
		fflush(stdout);
		execl("/proc/self/exe", "sysvipc", "exec-undo", (char *)NULL);
		_exit(1);
	}
	wait(NULL);
	semvals("exec'd child exited", s, 3);

	/* A waiter interrupted by a signal, one woken by IPC_RMID. */
	arg.val = 0;
	semctl(s, 0, SETVAL, arg);
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &sa, NULL);
	pid_t alarmer = signal_when_asleep(SIGALRM);
	printf("semop, SIGALRM: %s\n", res(op(s, 0, -1, 0)));
	waitpid(alarmer, NULL, 0);
	child = fork();
	if (child == 0) {
		printf("child: semop, IPC_RMID: %s\n", res(op(s, 0, -1, 0)));
		fflush(stdout);
		_exit(0);
	}
	wait_asleep(child);
	fflush(stdout);
	int s2 = semget(0x5454, 8, IPC_CREAT | 0640);
	struct seminfo si;
	arg.__buf = &si;
	printf("IPC_INFO: %s", res(semctl(0, 0, IPC_INFO, arg)));
	printf(" semmap=%d semmni=%d semmns=%d semmnu=%d semmsl=%d semopm=%d semume=%d semusz=%d semvmx=%d semaem=%d\n",
	       si.semmap, si.semmni, si.semmns, si.semmnu, si.semmsl, si.semopm, si.semume, si.semusz, si.semvmx,
	       si.semaem);
	printf("SEM_INFO: %s", res(semctl(0, 0, SEM_INFO, arg)));
	printf(" semusz=%d semaem=%d\n", si.semusz, si.semaem);
	struct semid_ds ds;
	arg.buf = &ds;
	printf("SEM_STAT index 1: %s\n", res(semctl(1, 0, SEM_STAT, arg)));
	printf("SEM_STAT_ANY index 5: %s\n", res(semctl(5, 0, SEM_STAT_ANY, arg)));
	sysvipc_file("/proc/sysvipc/sem");
	long rm = semctl(s, 0, IPC_RMID);
	waitpid(child, NULL, 0);
	printf("IPC_RMID: %s\n", res(rm));
	printf("GETVAL removed: %s\n", res(semctl(s, 0, GETVAL)));
	ds.sem_perm.uid = 1;
	ds.sem_perm.mode = 0604;
	printf("IPC_SET: %s\n", res(semctl(s2, 0, IPC_SET, arg)));
	semstat("set", s2);
	printf("bad command: %s\n", res(semctl(s2, 0, 99)));
}

static void limits(void) {
	print_file("/proc/sys/kernel/msgmax");
	print_file("/proc/sys/kernel/msgmnb");
	print_file("/proc/sys/kernel/msgmni");
	print_file("/proc/sys/kernel/sem");
	/* The namespace's own limits, which root may lower. */
	int before = msgget(IPC_PRIVATE, 0600);
	printf("write msgmni 1: %s\n", res(write_file("/proc/sys/kernel/msgmni", "1\n")));
	print_file("/proc/sys/kernel/msgmni");
	printf("msgget past msgmni: %s\n", res(msgget(IPC_PRIVATE, 0600)));
	printf("write msgmni 40000: %s\n", res(write_file("/proc/sys/kernel/msgmni", "40000\n")));
	printf("write msgmni x: %s\n", res(write_file("/proc/sys/kernel/msgmni", "x\n")));
	write_file("/proc/sys/kernel/msgmni", "32000\n");
	msgctl(before, IPC_RMID, NULL);
	printf("write msgmax 10: %s\n", res(write_file("/proc/sys/kernel/msgmax", "10")));
	int q = msgget(IPC_PRIVATE, 0600);
	printf("send 11 bytes: %s\n", res(send(q, 1, "0123456789a", 0)));
	write_file("/proc/sys/kernel/msgmax", "8192");
	printf("write msgmnb 100: %s\n", res(write_file("/proc/sys/kernel/msgmnb", "100")));
	int q2 = msgget(IPC_PRIVATE, 0600);
	msgstat("msgmnb 100", q2);
	write_file("/proc/sys/kernel/msgmnb", "16384");
	printf("write sem 4 40 3 5: %s\n", res(write_file("/proc/sys/kernel/sem", "4 40 3 5\n")));
	print_file("/proc/sys/kernel/sem");
	printf("semget 5: %s\n", res(semget(IPC_PRIVATE, 5, 0600)));
	int s = semget(IPC_PRIVATE, 4, 0600);
	struct sembuf four[4] = {{0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 1, 0}};
	printf("semop 4 > semopm 3: %s\n", res(semop(s, four, 4)));
	printf("write sem semmni 40000: %s\n", res(write_file("/proc/sys/kernel/sem", "4 40 3 40000\n")));
	print_file("/proc/sys/kernel/sem");
	write_file("/proc/sys/kernel/sem", "32000 1024000000 500 32000\n");
	msgctl(q, IPC_RMID, NULL);
	msgctl(q2, IPC_RMID, NULL);
	semctl(s, 0, IPC_RMID);
}

/* mqline prints what a read of queue descriptor fd gives, its pid as
 * "me" where it is this process's. */
static void mqline(const char *what, int fd) {
	char b[128];
	lseek(fd, 0, SEEK_SET);
	long n = read(fd, b, sizeof b - 1);
	if (n < 0) {
		printf("%s: read %s\n", what, res(-1));
		return;
	}
	b[n] = 0;
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	char *p = strstr(b, "NOTIFY_PID:");
	if (p && strncmp(p + 11, pid, strlen(pid)) == 0 && p[11 + strlen(pid)] == ' ') {
		p[11] = 0;
		printf("%s: %sme\n", what, b);
		return;
	}
	printf("%s: %s", what, b);
}

static void mqattr(const char *what, mqd_t q) {
	struct mq_attr a;
	if (mq_getattr(q, &a) < 0) {
		printf("%s: mq_getattr %s\n", what, res(-1));
		return;
	}
	printf("%s: flags=%#lx maxmsg=%ld msgsize=%ld curmsgs=%ld\n", what, (long)a.mq_flags, (long)a.mq_maxmsg,
	       (long)a.mq_msgsize, (long)a.mq_curmsgs);
}

static void mqrecv(const char *what, mqd_t q, size_t size) {
	char b[64];
	unsigned prio = 99;
	long n = mq_receive(q, b, size, &prio);
	if (n < 0)
		printf("%s: %s\n", what, res(-1));
	else
		printf("%s: %ld prio=%u text=%.*s\n", what, n, prio, (int)n, b);
}

static void mqpoll(const char *what, mqd_t q) {
	struct pollfd p = {.fd = q, .events = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM};
	int r = poll(&p, 1, 0);
	printf("%s: poll %d revents=%#x\n", what, r, p.revents);
}

static volatile int mq_signo, mq_code, mq_value, mq_from_me;

static void on_mq_signal(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	mq_signo = sig;
	mq_code = si->si_code;
	mq_value = si->si_value.sival_int;
	mq_from_me = si->si_pid == getpid();
}

static long raw_open(const char *name, int flags, struct mq_attr *attr) {
	return syscall(SYS_mq_open, name, flags, 0600, attr);
}

static void mqueues(void) {
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = 0;
	printf("mq_open \"\": %s\n", res(raw_open("", O_RDWR | O_CREAT, NULL)));
	printf("mq_open \"a/b\": %s\n", res(raw_open("a/b", O_RDWR | O_CREAT, NULL)));
	printf("mq_open \".\": %s\n", res(raw_open(".", O_RDWR | O_CREAT, NULL)));
	printf("mq_open \"..\": %s\n", res(raw_open("..", O_RDWR | O_CREAT, NULL)));
	printf("mq_open 256 bytes: %s\n", res(raw_open(longname, O_RDWR | O_CREAT, NULL)));
	longname[255] = 0;
	long fd = raw_open(longname, O_RDWR | O_CREAT, NULL);
	printf("mq_open 255 bytes: %s\n", fd < 0 ? res(fd) : "ok");
	close(fd);
	printf("mq_unlink 255 bytes: %s\n", res(syscall(SYS_mq_unlink, longname)));
	printf("mq_open bad address: %s\n", res(raw_open((void *)16, O_RDWR, NULL)));
	printf("mq_open bad attr: %s\n", res(raw_open("q", O_RDWR | O_CREAT, (void *)16)));
	printf("mq_open missing: %s\n", res(mq_open("/q", O_RDWR)));
	struct mq_attr a = {.mq_maxmsg = 0, .mq_msgsize = 16};
	printf("mq_open maxmsg 0: %s\n", res(mq_open("/q", O_RDWR | O_CREAT, 0600, &a)));
	a.mq_maxmsg = 3;
	a.mq_msgsize = 0;
	printf("mq_open msgsize 0: %s\n", res(mq_open("/q", O_RDWR | O_CREAT, 0600, &a)));
	a.mq_maxmsg = 65537;
	a.mq_msgsize = 16;
	printf("mq_open maxmsg 65537: %s\n", res(mq_open("/q", O_RDWR | O_CREAT, 0600, &a)));
	a.mq_maxmsg = 3;
	mqd_t q = mq_open("/q", O_RDWR | O_CREAT, 0640, &a);
	printf("mq_open /q: %s\n", q < 0 ? res(q) : "ok");
	printf("close-on-exec: %d\n", fcntl(q, F_GETFD));
	mqattr("new", q);
	printf("O_CREAT|O_EXCL: %s\n", res(mq_open("/q", O_RDWR | O_CREAT | O_EXCL, 0600, &a)));
	printf("O_ACCMODE 3: %s\n", res(mq_open("/q", 3)));
	mqd_t wr = mq_open("/q", O_WRONLY);
	mqd_t rd = mq_open("/q", O_RDONLY | O_NONBLOCK);
	mqattr("read-only, O_NONBLOCK", rd);
	mqline("empty", q);
	mqpoll("empty", q);

	printf("send 17 bytes: %s\n", res(mq_send(q, "0123456789abcdefg", 17, 1)));
	printf("send prio 32768: %s\n", res(mq_send(q, "x", 1, 32768)));
	printf("send on read-only: %s\n", res(mq_send(rd, "x", 1, 1)));
	printf("send on stdin: %s\n", res(mq_send(0, "x", 1, 1)));
	printf("send 1: %s\n", res(mq_send(wr, "one", 3, 1)));
	printf("send 5: %s\n", res(mq_send(q, "five", 4, 5)));
	mqline("two queued", q);
	printf("send 5 again: %s\n", res(mq_send(q, "five-b", 6, 5)));
	mqline("full", q);
	mqpoll("full", q);
	mqattr("full", q);
	struct timespec past = {1, 0};
	printf("timedsend, past timeout: %s\n", res(mq_timedsend(q, "x", 1, 0, &past)));
	struct timespec bad = {1, 1000000000};
	printf("timedsend, bad timeout: %s\n", res(mq_timedsend(q, "x", 1, 0, &bad)));
	struct mq_attr nb = {.mq_flags = O_NONBLOCK}, old;
	printf("setattr O_NONBLOCK: %s\n", res(mq_setattr(q, &nb, &old)));
	printf("old flags: %#lx\n", (long)old.mq_flags);
	printf("send, O_NONBLOCK: %s\n", res(mq_send(q, "x", 1, 0)));
	nb.mq_flags = O_NONBLOCK | O_APPEND;
	printf("setattr O_APPEND: %s\n", res(mq_setattr(q, &nb, NULL)));
	nb.mq_flags = 0;
	mq_setattr(q, &nb, NULL);
	mqrecv("receive, 15-byte buffer", q, 15);
	mqrecv("receive on write-only", wr, 16);
	char b[16];
	printf("read on write-only: %s\n", res(read(wr, b, sizeof b)));
	printf("write: %s\n", res(write(q, "x", 1)));
	mqrecv("receive", q, 16);
	mqrecv("receive", rd, 16);
	mqrecv("receive", q, 16);
	mqline("drained", q);
	mqrecv("receive, O_NONBLOCK", rd, 16);
	printf("timedreceive, past timeout: %s\n", res(mq_timedreceive(q, b, 16, NULL, &past)));
	struct timespec soon;
	clock_gettime(CLOCK_REALTIME, &soon);
	soon.tv_nsec += 50000000;
	if (soon.tv_nsec >= 1000000000) {
		soon.tv_sec++;
		soon.tv_nsec -= 1000000000;
	}
	printf("timedreceive, 50ms: %s\n", res(mq_timedreceive(q, b, 16, NULL, &soon)));

	/* A receiver waiting is handed the message; a sender waiting on a
	 * full queue gets in when a receive makes room. */
	pid_t child = fork();
	if (child == 0) {
		mqrecv("child: waiting receive", q, 16);
		_exit(0);
	}
	wait_asleep(child);
	mq_send(q, "hand", 4, 7);
	waitpid(child, NULL, 0);
	mqline("handed over", q);
	for (int i = 0; i < 3; i++)
		mq_send(q, "fill", 4, i);
	child = fork();
	if (child == 0) {
		printf("child: waiting send: %s\n", res(mq_send(q, "late", 4, 9)));
		_exit(0);
	}
	wait_asleep(child);
	long n = mq_receive(q, b, 16, NULL);
	waitpid(child, NULL, 0);
	printf("parent: receive %ld\n", n);
	mqrecv("then", q, 16);
	mqrecv("then", q, 16);
	mqrecv("then", q, 16);

	/* A signal interrupts a wait, with SA_RESTART too? mq_receive is
	 * restarted: it is not. Without: EINTR. */
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	pid_t alarmer = signal_when_asleep(SIGALRM);
	mqrecv("receive, SIGALRM", q, 16);
	waitpid(alarmer, NULL, 0);

	/* mq_notify: a signal when a message comes to the empty queue. */
	struct sigaction ns = {.sa_sigaction = on_mq_signal, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &ns, NULL);
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	ev.sigev_value.sival_int = 42;
	printf("mq_notify SIGUSR1: %s\n", res(mq_notify(q, &ev)));
	mqline("registered", q);
	printf("mq_notify again: %s\n", res(mq_notify(q, &ev)));
	ev.sigev_signo = 65;
	printf("mq_notify signal 65: %s\n", res(mq_notify(q, &ev)));
	ev.sigev_notify = 7;
	printf("mq_notify kind 7: %s\n", res(mq_notify(q, &ev)));
	mq_send(q, "ping", 4, 0);
	printf("signal %d code %d value %d from me %d\n", mq_signo, mq_code, mq_value, mq_from_me);
	mqline("unregistered", q);
	mq_receive(q, b, 16, NULL);
	struct sigevent none = {.sigev_notify = SIGEV_NONE};
	printf("mq_notify SIGEV_NONE: %s\n", res(mq_notify(q, &none)));
	mqline("SIGEV_NONE", q);
	child = fork();
	if (child == 0) {
		printf("child: mq_notify: %s\n", res(mq_notify(q, &none)));
		printf("child: mq_notify NULL: %s\n", res(mq_notify(q, NULL)));
		_exit(0);
	}
	waitpid(child, NULL, 0);
	mqline("still", q);
	printf("mq_notify NULL: %s\n", res(mq_notify(q, NULL)));
	mqline("removed", q);
	mq_notify(q, &none);
	close(dup(q));
	mqline("registered, then a dup closed", q);
	int p[2];
	if (pipe(p) == 0) {
		char cookie[32] = {0};
		struct sigevent th = {.sigev_notify = SIGEV_THREAD, .sigev_signo = p[0]};
		th.sigev_value.sival_ptr = cookie;
		printf("raw SIGEV_THREAD, a pipe: %s\n", res(syscall(SYS_mq_notify, q, &th)));
		th.sigev_signo = 999;
		printf("raw SIGEV_THREAD, fd 999: %s\n", res(syscall(SYS_mq_notify, q, &th)));
		close(p[0]);
		close(p[1]);
	}

	/* The name goes at once, the queue with its last descriptor. */
	printf("mq_unlink: %s\n", res(mq_unlink("/q")));
	printf("mq_unlink again: %s\n", res(mq_unlink("/q")));
	printf("mq_open unlinked: %s\n", res(mq_open("/q", O_RDWR)));
	printf("send after unlink: %s\n", res(mq_send(q, "gone", 4, 0)));
	mqrecv("receive after unlink", q, 16);
	mq_close(q);
	mq_close(wr);
	mq_close(rd);

	/* Each queue is charged to its owner's RLIMIT_MSGQUEUE. */
	struct rlimit rl = {100000, 100000};
	setrlimit(RLIMIT_MSGQUEUE, &rl);
	mqd_t one = mq_open("/one", O_RDWR | O_CREAT, 0600, NULL);
	printf("default queue under 100000 bytes: %s\n", one < 0 ? res(one) : "ok");
	printf("a second: %s\n", res(mq_open("/two", O_RDWR | O_CREAT, 0600, NULL)));
	mq_close(one);
	mq_unlink("/one");
	print_file("/proc/sys/fs/mqueue/msg_max");
	print_file("/proc/sys/fs/mqueue/msgsize_max");
	print_file("/proc/sys/fs/mqueue/queues_max");
	print_file("/proc/sys/fs/mqueue/msg_default");
	print_file("/proc/sys/fs/mqueue/msgsize_default");
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "exec-undo") == 0) {
		/* execve keeps the adjustments; they apply when this image exits. */
		int s = semget(0x5353, 0, 0);
		semvals("exec'd child", s, 3);
		return 0;
	}
	messages();
	semaphores();
	threads();
	limits();
	mqueues();
	return 0;
}
