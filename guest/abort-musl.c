/*
 * abort-musl: musl's abort(), which raises SIGABRT with every signal
 * blocked (rt_sigprocmask, then tkill) and restores the mask, so the
 * signal is delivered when it is unblocked: the exit status is 134.
 */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
	puts("aborting");
	fflush(stdout);
	abort();
}
