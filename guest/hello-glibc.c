/*
 * hello-glibc: hello through glibc's stdio and malloc, linked statically by
 * GNU ld (hello-glibc), gold (hello-gold) or lld (hello-lld), whose layouts
 * differ: lld puts the RELRO and data segments on one file page. LINKER
 * names the linker in the output. Prints its arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LINKER
#define LINKER "ld"
#endif

int main(int argc, char **argv) {
	printf("hello from glibc linked by %s, argc=%d\n", LINKER, argc);
	for (int i = 1; i < argc; i++) {
		char *copy = strdup(argv[i]);
		if (copy == NULL)
			return 1;
		printf("argv[%d]=%s\n", i, copy);
		free(copy);
	}
	return 0;
}
