/* hello: the smallest guest: one write(2), exit status 0. No libc. */
#include "sys.h"

int main(int argc, char **argv) {
	(void)argc;
	(void)argv;
	put_str("hello, world\n");
	return 0;
}
