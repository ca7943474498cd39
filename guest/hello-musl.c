/*
 * hello-musl: hello through musl's stdio, so that libc's start-up (auxv,
 * TLS set-up from AT_PHDR, stdio buffers) runs; prints its arguments.
 * Built both as a static and as a static-PIE executable.
 */
#include <stdio.h>

int main(int argc, char **argv) {
	printf("hello from musl, argc=%d\n", argc);
	for (int i = 1; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	return 0;
}
