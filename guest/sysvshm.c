/* sysvshm: System V shared memory as programs use it: segments made
 * private and by key, attached (also at a chosen address, read-only,
 * twice, across fork), split by mprotect, detached, removed while still
 * attached, and every shmctl command, with the ids, modes, sizes, attach
 * counts and errors Linux gives. It expects an IPC namespace of its own
 * (the test starts the native run in a fresh one), so that ids start at 0. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "include/errname.h"

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif

static long page;
static sigjmp_buf env;
static volatile int segv_code;

static void on_segv(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	segv_code = si->si_code;
	siglongjmp(env, 1);
}


static const char *attach_res(void *p) {
	return p == (void *)-1 ? res(-1) : "ok";
}

/* statx prints what IPC_STAT says of id: times only as set or not, pids
 * relative to this process; last says whether to print the last detach's
 * time and the last attaching or detaching pid, which mmvm sets only at
 * shmat and shmdt, where Linux also sets them when a fork copies an
 * attach and when munmap, exit or exec ends one. */
static void statx(const char *what, int id, int last) {
	struct shmid_ds ds;
	memset(&ds, 0xa5, sizeof ds);
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		printf("%s: IPC_STAT %s\n", what, res(-1));
		return;
	}
	pid_t me = getpid();
	printf("%s: key=%#x mode=%o size=%zu nattch=%lu uid=%u gid=%u cuid=%u cgid=%u atime=%s ctime=%s cpid=%s", what,
	       (unsigned)ds.shm_perm.__key, (unsigned)ds.shm_perm.mode, (size_t)ds.shm_segsz,
	       (unsigned long)ds.shm_nattch, ds.shm_perm.uid, ds.shm_perm.gid, ds.shm_perm.cuid, ds.shm_perm.cgid,
	       ds.shm_atime ? "set" : "0", ds.shm_ctime ? "set" : "0", ds.shm_cpid == me ? "me" : "other");
	if (last)
		printf(" dtime=%s lpid=%s", ds.shm_dtime ? "set" : "0",
		       ds.shm_lpid == 0 ? "0" : ds.shm_lpid == me ? "me" : "other");
	printf("\n");
}

static void stat(const char *what, int id) { statx(what, id, 1); }

/* maps prints the maps lines that overlap [p, p+len), without the
 * addresses and the inode (shmem's own number). */
static void maps(const char *what, char *p, long len) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long s, e;
	while (fgets(line, sizeof line, f)) {
		char perms[8], dev[16], name[256] = "";
		unsigned long off, ino;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255[^\n]", &s, &e, perms, &off, dev, &ino, name) < 6)
			continue;
		if (s < (unsigned long)(p + len) && e > (unsigned long)p)
			printf("%s: +%ld pages %s %08lx %s %s\n", what, (long)(e - s) / page, perms, off, dev, name);
	}
	fclose(f);
}

int main(void) {
	page = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
	sigaction(SIGSEGV, &sa, NULL);

	int a = shmget(IPC_PRIVATE, 3 * page - 100, 0600);
	int b = shmget(IPC_PRIVATE, page, IPC_CREAT | 0644);
	printf("private ids: %d %d\n", a, b);
	stat("fresh", a);

	char *p = shmat(a, NULL, 0);
	printf("attach: %s\n", attach_res(p));
	memset(p, 'x', 3 * page - 100);
	p[3 * page - 1] = 'y'; /* past the size, within its last page */
	stat("attached", a);
	maps("attach", p, 3 * page);
	char *q = shmat(a, NULL, SHM_RDONLY);
	printf("second attach read-only: %s, sees the first's bytes: %d %d\n", attach_res(q), q[0] == 'x',
	       q[3 * page - 1] == 'y');
	stat("twice", a);
	maps("read-only", q, 3 * page);

	segv_code = 0;
	if (!sigsetjmp(env, 1)) {
		q[0] = 'z';
		printf("write to the read-only attach: survived\n");
	} else
		printf("write to the read-only attach: SIGSEGV code %d\n", segv_code);
	printf("mprotect the read-only attach writable: %s\n", res(mprotect(q, page, PROT_READ | PROT_WRITE)));

	printf("mprotect the middle page read-only: %s\n", res(mprotect(p + page, page, PROT_READ)));
	stat("split", a);
	printf("mprotect it back: %s\n", res(mprotect(p + page, page, PROT_READ | PROT_WRITE)));
	stat("restored", a);
	maps("restored", p, 3 * page);

	pid_t pid = fork();
	if (pid == 0) {
		struct shmid_ds ds;
		shmctl(a, IPC_STAT, &ds);
		printf("child: nattch=%lu sees %c\n", (unsigned long)ds.shm_nattch, p[5]);
		p[5] = 'c';
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("after the child: p[5]=%c\n", p[5]);
	statx("child gone", a, 0);

	printf("shmdt unaligned: %s\n", res(shmdt(p + 1)));
	printf("shmdt of no segment: %s\n", res(shmdt(&page)));
	printf("shmdt the split attach: %s\n", res(shmdt(p)));
	maps("after shmdt", p, 3 * page);
	stat("detached", a);
	printf("shmdt again: %s\n", res(shmdt(p)));

	/* Chosen addresses. */
	char *area = mmap(NULL, 8 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(area, 8 * page);
	printf("attach unaligned: %s\n", attach_res(shmat(b, area + 10, 0)));
	char *r = shmat(b, area + 10, SHM_RND);
	printf("attach unaligned with SHM_RND at the page below: %s %d\n", attach_res(r), r == area);
	printf("attach over it: %s\n", attach_res(shmat(b, area, 0)));
	printf("SHM_REMAP without an address: %s\n", attach_res(shmat(b, NULL, SHM_REMAP)));
	char *r2 = shmat(a, area, SHM_REMAP);
	printf("SHM_REMAP over it: %s %d, sees %c\n", attach_res(r2), r2 == area, r2[0]);
	stat("remapped a", a);
	statx("remapped b", b, 0);
	printf("attach a bad id: %s\n", attach_res(shmat(12345, NULL, 0)));
	printf("attach -1: %s\n", attach_res(shmat(-1, NULL, 0)));
	char *x = shmat(b, NULL, SHM_EXEC);
	printf("attach SHM_EXEC: %s\n", attach_res(x));
	maps("exec", x, page);
	shmdt(x);

	/* Keys. */
	int k = shmget(0x1234, 2 * page, IPC_CREAT | 0640);
	printf("key 0x1234: %d\n", k);
	printf("again: %s\n", res(shmget(0x1234, page, 0)));
	printf("again with IPC_CREAT: %s\n", res(shmget(0x1234, 2 * page, IPC_CREAT)));
	printf("IPC_EXCL: %s\n", res(shmget(0x1234, page, IPC_CREAT | IPC_EXCL | 0600)));
	printf("larger: %s\n", res(shmget(0x1234, 3 * page, 0)));
	printf("unknown key: %s\n", res(shmget(0x9999, page, 0)));
	printf("size 0: %s\n", res(shmget(IPC_PRIVATE, 0, 0600)));
	printf("size past SHMMAX: %s\n", res(shmget(IPC_PRIVATE, (size_t)-1, 0600)));
	printf("SHM_HUGETLB: %s\n", res(shmget(IPC_PRIVATE, 2 << 20, SHM_HUGETLB | 0600)));

	/* shmctl. */
	struct shmid_ds ds;
	memset(&ds, 0, sizeof ds);
	shmctl(k, IPC_STAT, &ds);
	ds.shm_perm.mode = 0604 | 01000;
	ds.shm_perm.uid = 7;
	ds.shm_perm.gid = 8;
	printf("IPC_SET: %s\n", res(shmctl(k, IPC_SET, &ds)));
	stat("set", k);
	ds.shm_perm.uid = (uid_t)-1;
	printf("IPC_SET uid -1: %s\n", res(shmctl(k, IPC_SET, &ds)));
	printf("IPC_SET bad pointer: %s\n", res(shmctl(k, IPC_SET, (struct shmid_ds *)8)));
	printf("IPC_STAT bad pointer: %s\n", res(shmctl(k, IPC_STAT, (struct shmid_ds *)8)));
	printf("IPC_STAT bad id: %s\n", res(shmctl(k + 32768, IPC_STAT, &ds)));
	printf("bad command: %s\n", res(shmctl(k, 99, &ds)));
	printf("SHM_LOCK: %s\n", res(shmctl(k, SHM_LOCK, NULL)));
	stat("locked", k);
	printf("SHM_UNLOCK: %s\n", res(shmctl(k, SHM_UNLOCK, NULL)));
	stat("unlocked", k);

	struct shminfo info;
	int maxidx = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
	printf("IPC_INFO: %d shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n", maxidx,
	       (unsigned long)info.shmmax, (unsigned long)info.shmmin, (unsigned long)info.shmmni,
	       (unsigned long)info.shmseg, (unsigned long)info.shmall);
	struct shm_info sinfo;
	maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	printf("SHM_INFO: %d used_ids=%d shm_tot=%lu shm_rss=%lu shm_swp=%lu\n", maxidx, sinfo.used_ids,
	       (unsigned long)sinfo.shm_tot, (unsigned long)sinfo.shm_rss, (unsigned long)sinfo.shm_swp);
	printf("SHM_STAT of index 1: %s\n", res(shmctl(1, SHM_STAT, &ds)));
	printf("SHM_STAT_ANY of index %d: %s\n", k & 0x7fff, res(shmctl(k & 0x7fff, SHM_STAT_ANY, &ds)));
	printf("SHM_STAT of an empty index: %s\n", res(shmctl(60, SHM_STAT, &ds)));

	/* /proc/sysvipc/shm, with its times and pids masked. */
	{
		FILE *f = fopen("/proc/sysvipc/shm", "r");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			long key, id, perms, size, cpid, lpid, nattch, uid, gid, cuid, cgid, at, dt, ct, rss, swp;
			if (sscanf(line, "%ld %ld %lo %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &key, &id, &perms,
				   &size, &cpid, &lpid, &nattch, &uid, &gid, &cuid, &cgid, &at, &dt, &ct, &rss, &swp) == 16)
				printf("sysvipc: key=%ld id=%ld perms=%lo size=%ld nattch=%ld ids=%ld,%ld,%ld,%ld times set=%d%d rss=%ld swap=%ld\n",
				       key, id, perms, size, nattch, uid, gid, cuid, cgid, at != 0, ct != 0, rss, swp);
			else
				printf("sysvipc: %s", line);
		}
		if (f)
			fclose(f);
		for (const char *const *n = (const char *const[]){"shmmax", "shmall", "shmmni", "shm_rmid_forced", NULL}; *n; n++) {
			char path[64];
			snprintf(path, sizeof path, "/proc/sys/kernel/%s", *n);
			f = fopen(path, "r");
			if (f && fgets(line, sizeof line, f))
				printf("%s: %s", *n, line);
			if (f)
				fclose(f);
		}
	}

	/* Removal while attached. */
	char *kp = shmat(k, NULL, 0);
	strcpy(kp, "kept");
	printf("IPC_RMID while attached: %s\n", res(shmctl(k, IPC_RMID, NULL)));
	stat("removed", k);
	printf("its key now: %s\n", res(shmget(0x1234, page, 0)));
	char *kp2 = shmat(k, NULL, 0);
	printf("attach the removed segment: %s, sees %s\n", attach_res(kp2), kp2 == (void *)-1 ? "-" : kp2);
	shmdt(kp2);
	shmdt(kp);
	stat("last detach", k);
	int k2 = shmget(0x1234, page, IPC_CREAT | 0600);
	printf("the key made anew: %d\n", k2);
	printf("IPC_RMID unattached: %s\n", res(shmctl(k2, IPC_RMID, NULL)));
	printf("IPC_RMID again: %s\n", res(shmctl(k2, IPC_RMID, NULL)));

	/* The data outlives its attaches while the segment stays. */
	shmdt(r2);
	char *again = shmat(a, NULL, 0);
	printf("reattached sees %c%c, %c\n", again[0], again[1], again[5]);
	shmdt(again);
	shmdt(r);
	shmctl(a, IPC_RMID, NULL);
	shmctl(b, IPC_RMID, NULL);
	int c = shmget(IPC_PRIVATE, page, 0600);
	printf("a new segment after removals: %d\n", c);
	shmctl(c, IPC_RMID, NULL);
	maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	printf("SHM_INFO at the end: %d used_ids=%d shm_tot=%lu\n", maxidx, sinfo.used_ids, (unsigned long)sinfo.shm_tot);
	return 0;
}
