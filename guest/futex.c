// futex: the futex operations a single thread can observe, each printed
// with its result and errno, so that a run under mmvm can be compared with
// the native one: the value check (EAGAIN), timeouts relative and absolute
// on both clocks (ETIMEDOUT), wakes with nobody waiting, the checks (EINVAL,
// EFAULT, ENOSYS), FUTEX_CMP_REQUEUE's comparison, FUTEX_WAKE_OP's store,
// and a shared futex word mapped at two addresses. The clone and clone3
// checks that come before a thread is made are printed too.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// linux/futex.h, which musl-gcc does not see.
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_REQUEUE_PRIVATE (FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAIT_BITSET_PRIVATE (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_BITSET_PRIVATE (FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_ADD 1
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP(op, oparg, cmp, cmparg) \
	((((op) & 0xf) << 28) | (((cmp) & 0xf) << 24) | (((oparg) & 0xfff) << 12) | ((cmparg) & 0xfff))
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static const char *errname(int e) {
	switch (e) {
	case EAGAIN: return "EAGAIN";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case ENOSYS: return "ENOSYS";
	case E2BIG: return "E2BIG";
	case EINTR: return "EINTR";
	}
	return "other";
}

static long futex(void *uaddr, long op, long val, const void *timeout, void *uaddr2, long val3) {
	return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

static void show(const char *what, long r) {
	if (r < 0)
		printf("%-34s -1 %s\n", what, errname(errno));
	else
		printf("%-34s %ld\n", what, r);
}

static uint32_t word, word2;

int main(void) {
	struct timespec rel = {0, 20 * 1000 * 1000}, bad = {0, 1000000000}, now;
	word = 7;
	show("wait, value differs", futex(&word, FUTEX_WAIT_PRIVATE, 8, NULL, NULL, 0));
	show("wait 20ms", futex(&word, FUTEX_WAIT_PRIVATE, 7, &rel, NULL, 0));
	show("wait shared 20ms", futex(&word, FUTEX_WAIT, 7, &rel, NULL, 0));
	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_nsec += 20 * 1000 * 1000;
	if (now.tv_nsec >= 1000000000)
		now.tv_sec++, now.tv_nsec -= 1000000000;
	show("wait_bitset monotonic +20ms", futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 7, &now, NULL, FUTEX_BITSET_MATCH_ANY));
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_sec -= 1;
	show("wait_bitset realtime, past", futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 7, &now, NULL, 1));
	show("wait, realtime flag", futex(&word, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, 7, &rel, NULL, 0));
	show("wait, bad timespec", futex(&word, FUTEX_WAIT_PRIVATE, 7, &bad, NULL, 0));
	show("wait, unaligned", futex((char *)&word + 1, FUTEX_WAIT_PRIVATE, 7, &rel, NULL, 0));
	show("wait, null word", futex(NULL, FUTEX_WAIT_PRIVATE, 7, &rel, NULL, 0));
	show("wait_bitset, bitset 0", futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 7, NULL, NULL, 0));
	show("wake, nobody", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
	show("wake shared, nobody", futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0));
	show("wake_bitset, bitset 0", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0));
	show("cmp_requeue, differs", futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &word2, 8));
	show("cmp_requeue, same", futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &word2, 7));
	show("requeue, negative", futex(&word, FUTEX_REQUEUE_PRIVATE, 1, (void *)-1L, &word2, 0));
	word2 = 5;
	show("wake_op add 3", futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1, &word2,
	                            FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_GT, 1)));
	printf("word2 after add: %u\n", word2);
	show("wake_op bad op", futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1, &word2, FUTEX_OP(7, 3, FUTEX_OP_CMP_GT, 1)));
	printf("word2 after bad op: %u\n", word2);

	// A shared word seen at two addresses.
	uint32_t *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t *b = mremap(a, 0, 4096, MREMAP_MAYMOVE);
	if (a == MAP_FAILED || b == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	a[1] = 3;
	printf("alias reads %u\n", b[1]);
	show("shared wait at the alias 20ms", futex(&b[1], FUTEX_WAIT, 3, &rel, NULL, 0));
	show("shared wake at the alias", futex(&b[1], FUTEX_WAKE, 1, NULL, NULL, 0));

	// clone's checks come before anything is made.
	show("clone thread without sighand", syscall(SYS_clone, CLONE_VM | CLONE_THREAD, 0, 0, 0, 0));
	show("clone sighand without vm", syscall(SYS_clone, CLONE_SIGHAND, 0, 0, 0, 0));
	uint64_t args[11] = {0};
	show("clone3 size 8", syscall(SYS_clone3, args, 8));
	show("clone3 size 8192", syscall(SYS_clone3, args, 8192));
	args[5] = 4096; // a stack without a size
	show("clone3 stack without size", syscall(SYS_clone3, args, 88));
	return 0;
}
