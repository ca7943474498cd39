/*
 * stackoverflow: recurses with 4 KiB frames until the stack passes its
 * limit (RLIMIT_STACK, 8 MiB by default); dies by SIGSEGV (status 139). The
 * depth reached depends on the limit and the environment's size, so it is
 * not printed.
 */
#include "sys.h"

__attribute__((noinline)) static uint64_t recurse(uint64_t n) {
	volatile uint8_t frame[4096];
	frame[0] = (uint8_t)n;
	frame[sizeof frame - 1] = (uint8_t)n;
	if (n == ~0UL) /* never: keeps the compiler from calling this infinite */
		return 0;
	return recurse(n + 1) + frame[0] + frame[sizeof frame - 1];
}

int main(int argc, char **argv) {
	(void)argc;
	(void)argv;
	put_str("recursing until the stack overflows\n");
	recurse(0);
	put_str("FAIL: survived\n");
	return 1;
}
