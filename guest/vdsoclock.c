// vdsoclock: the clock calls a libc answers through the vDSO (clock_gettime
// for each clock, gettimeofday, time, clock_getres, sched_getcpu) agree with
// the system calls themselves and never go backwards from one to the other.
// Prints one "ok" line per check, the same natively and under mmvm; a
// failing check prints what it saw and the program exits 1.
//
//   vdsoclock          run the checks
//   vdsoclock loop N   call clock_gettime(CLOCK_MONOTONIC) N times (the
//                      test counting system-call exits runs this)
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int failed;

static long long nsOf(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static void check(int ok, const char *what, const char *detail) {
	if (ok) {
		printf("%s ok\n", what);
	} else {
		printf("%s FAILED: %s\n", what, detail);
		failed = 1;
	}
}

static long long sysClock(clockid_t id) {
	struct timespec t;
	if (syscall(SYS_clock_gettime, id, &t) != 0) {
		return -1;
	}
	return nsOf(t);
}

static long long libcClock(clockid_t id) {
	struct timespec t;
	if (clock_gettime(id, &t) != 0) {
		return -1;
	}
	return nsOf(t);
}

// checkClock: libc, syscall, libc readings in order never go backwards and
// lie within a second; a thousand libc readings never go backwards either.
static void checkClock(clockid_t id, const char *name) {
	char detail[200] = "";
	int ok = 1;
	for (int round = 0; round < 20 && ok; round++) {
		long long a = libcClock(id), b = sysClock(id), c = libcClock(id);
		if (a < 0 || b < 0 || c < 0 || a > b || b > c || c - a > 1000000000LL) {
			snprintf(detail, sizeof detail, "libc %lld, syscall %lld, libc %lld", a, b, c);
			ok = 0;
		}
	}
	long long prev = libcClock(id);
	for (int i = 0; i < 1000 && ok; i++) {
		long long now = libcClock(id);
		if (now < prev) {
			snprintf(detail, sizeof detail, "went back from %lld to %lld", prev, now);
			ok = 0;
		}
		prev = now;
	}
	char what[64];
	snprintf(what, sizeof what, "clock_gettime(%s)", name);
	check(ok, what, detail);
}

static void checkRes(clockid_t id, const char *name) {
	struct timespec a, b;
	char detail[200] = "", what[64];
	int ra = clock_getres(id, &a), rb = syscall(SYS_clock_getres, id, &b);
	snprintf(detail, sizeof detail, "libc %d %lld, syscall %d %lld", ra, nsOf(a), rb, nsOf(b));
	snprintf(what, sizeof what, "clock_getres(%s)", name);
	check(ra == 0 && rb == 0 && nsOf(a) == nsOf(b) && nsOf(a) > 0, what, detail);
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "loop") == 0) {
		long n = atol(argv[2]);
		struct timespec t;
		for (long i = 0; i < n; i++) {
			clock_gettime(CLOCK_MONOTONIC, &t);
		}
		printf("done\n");
		return 0;
	}
	const unsigned char *vdso = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	check(vdso != NULL && memcmp(vdso, ELFMAG, SELFMAG) == 0 && vdso[EI_CLASS] == ELFCLASS64 &&
		      ((const Elf64_Ehdr *)vdso)->e_type == ET_DYN,
	      "AT_SYSINFO_EHDR is an ELF shared object", "no vDSO");

	checkClock(CLOCK_REALTIME, "REALTIME");
	checkClock(CLOCK_MONOTONIC, "MONOTONIC");
	checkClock(CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW");
	checkClock(CLOCK_REALTIME_COARSE, "REALTIME_COARSE");
	checkClock(CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE");
	checkClock(CLOCK_BOOTTIME, "BOOTTIME");
	checkClock(CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME_ID");

	// Coarse clocks never run ahead of their fine clock.
	long long coarse = libcClock(CLOCK_MONOTONIC_COARSE), fine = libcClock(CLOCK_MONOTONIC);
	check(coarse <= fine, "MONOTONIC_COARSE <= MONOTONIC", "coarse ahead");

	char detail[200];
	struct timeval tv;
	long long t1 = libcClock(CLOCK_REALTIME);
	int r = gettimeofday(&tv, NULL);
	long long t2 = libcClock(CLOCK_REALTIME);
	long long us = tv.tv_sec * 1000000LL + tv.tv_usec;
	snprintf(detail, sizeof detail, "%d: %lld us between %lld and %lld ns", r, us, t1, t2);
	check(r == 0 && t1 / 1000 <= us && us <= t2 / 1000 && tv.tv_usec < 1000000, "gettimeofday", detail);

	struct timeval stv, tv2;
	r = syscall(SYS_gettimeofday, &stv, NULL);
	int r2 = gettimeofday(&tv2, NULL);
	snprintf(detail, sizeof detail, "syscall %d %ld.%06ld then libc %d %ld.%06ld", r, (long)stv.tv_sec, (long)stv.tv_usec, r2,
		 (long)tv2.tv_sec, (long)tv2.tv_usec);
	check(r == 0 && r2 == 0 && (stv.tv_sec < tv2.tv_sec || (stv.tv_sec == tv2.tv_sec && stv.tv_usec <= tv2.tv_usec)),
	      "gettimeofday after the syscall", detail);

	time_t a = time(NULL), tp = 0;
	time_t b = syscall(SYS_time, NULL);
	time_t c = time(&tp);
	gettimeofday(&tv, NULL);
	snprintf(detail, sizeof detail, "time %ld, syscall %ld, time %ld (%ld), gettimeofday %ld", (long)a, (long)b, (long)c, (long)tp,
		 (long)tv.tv_sec);
	check(a <= b && b <= c && c == tp && c <= tv.tv_sec && tv.tv_sec - a <= 1, "time", detail);

	checkRes(CLOCK_REALTIME, "REALTIME");
	checkRes(CLOCK_MONOTONIC, "MONOTONIC");
	checkRes(CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE");
	checkRes(CLOCK_BOOTTIME, "BOOTTIME");

	struct timespec ts;
	errno = 0;
	r = clock_gettime(1000, &ts);
	snprintf(detail, sizeof detail, "%d errno %d", r, errno);
	check(r == -1 && errno == EINVAL, "clock_gettime(1000) is EINVAL", detail);

	int cpu = sched_getcpu();
	unsigned scpu = 99, snode = 99;
	r = syscall(SYS_getcpu, &scpu, &snode, NULL);
	snprintf(detail, sizeof detail, "sched_getcpu %d, syscall %d cpu %u node %u", cpu, r, scpu, snode);
	check(cpu >= 0 && cpu < CPU_SETSIZE && r == 0 && snode == 0, "getcpu", detail);

	// A sleep lasts at least what it asked for on the clock read through
	// the vDSO, and the clocks stay consistent after it (mmvm re-anchors
	// them at system calls a second apart).
	long long s1 = libcClock(CLOCK_MONOTONIC);
	struct timespec req = {1, 100000000};
	r = nanosleep(&req, NULL);
	long long s2 = libcClock(CLOCK_MONOTONIC);
	snprintf(detail, sizeof detail, "%d: %lld ns", r, s2 - s1);
	check(r == 0 && s2 - s1 >= 1100000000LL && s2 - s1 < 6000000000LL, "nanosleep(1.1s) on MONOTONIC", detail);
	checkClock(CLOCK_MONOTONIC, "MONOTONIC");
	checkClock(CLOCK_REALTIME, "REALTIME");

	// The page below the vDSO is the kernel's data ([vvar]): mprotect
	// cannot make it writable.
	if (vdso != NULL) {
		errno = 0;
		r = mprotect((void *)(vdso - 4096), 4096, PROT_READ | PROT_WRITE);
		snprintf(detail, sizeof detail, "%d errno %d", r, errno);
		check(r == -1 && errno == EACCES, "mprotect([vvar], PROT_WRITE) is EACCES", detail);
	}
	return failed;
}
