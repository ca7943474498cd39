/*
 * writero: writes into a string constant, which lives in a read-only
 * segment; dies by SIGSEGV (status 139).
 */
#include "sys.h"

static const char message[] = "read-only data\n";

int main(int argc, char **argv) {
	(void)argc;
	(void)argv;
	put_str("writing into read-only data\n");
	volatile char *p = (volatile char *)message;
	p[0] = 'R';
	put_str("FAIL: survived\n");
	return 1;
}
