/* nullderef: writes through a NULL pointer; dies by SIGSEGV (status 139). */
#include "sys.h"

int main(int argc, char **argv) {
	(void)argc;
	(void)argv;
	put_str("writing through a NULL pointer\n");
	*(volatile int *)NULL = 42;
	put_str("FAIL: survived\n");
	return 1;
}
