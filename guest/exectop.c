/*
 * exectop: what exec leaves at the top of the address space, in terms
 * that depend neither on where ASLR puts things nor on the kernel's
 * version. It prints, from /proc/self/maps, whether [vvar] (and
 * [vvar_vclock], which Linux 6.18 splits from it) and [vdso] are mapped
 * without a gap (where the first mmap goes relative to them depends on
 * the version: 6.1 randomizes the vDSO's place apart from mmap_base), and
 * how far the initial [stack] reaches below the pages of the argument
 * strings (Linux's setup_arg_pages: 128 KiB, stack_expand); then the
 * VmExe and VmLib lines of /proc/self/status (the program's text, and the
 * other executable mappings: the vDSO). "exectop N" first
 * executes itself again with an N-byte environment variable added, so
 * that the strings take more pages: the stack's size changes, the
 * distance below them does not. Every line it prints is the same
 * natively and under mmvm.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PG 4096UL

struct area {
	unsigned long start, end;
};

/* find reads the maps line named name into *a; 0 if there is none. */
static int find(const char *name, struct area *a)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		size_t n = strlen(line), k = strlen(name);
		if (n >= k && strcmp(line + n - k, name) == 0 &&
		    sscanf(line, "%lx-%lx", &a->start, &a->end) == 2) {
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

extern char **environ;

int main(int argc, char **argv)
{
	struct area vvar, vclock, vdso, stack;
	if (argc == 2) {
		size_t n = strtoul(argv[1], NULL, 10);
		char *big = malloc(n + 8);
		int envc = 0;
		while (environ[envc])
			envc++;
		char **env = calloc(envc + 2, sizeof *env);
		if (!big || !env)
			return 1;
		memcpy(big, "EXECTOP=", 8);
		memset(big + 8, 'x', n);
		big[n + 7] = 0;
		memcpy(env, environ, envc * sizeof *env);
		env[envc] = big;
		char *args[] = {argv[0], NULL};
		execve("/proc/self/exe", args, env);
		perror("execve");
		return 1;
	}
	if (!find("[vvar]", &vvar) || !find("[vdso]", &vdso)) {
		printf("no [vvar] and [vdso] in maps\n");
		return 1;
	}
	unsigned long above = vvar.end;
	if (find("[vvar_vclock]", &vclock) && vclock.start == above)
		above = vclock.end;
	printf("[vvar] to [vdso] without a gap: %s\n", above == vdso.start ? "yes" : "no");
	if (!find("[stack]", &stack)) {
		printf("no [stack] in maps\n");
		return 1;
	}
	unsigned long args = (unsigned long)argv[0] & ~(PG - 1);
	printf("[stack] reaches %lu KiB below the arguments' pages\n", (args - stack.start) / 1024);
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmExe:", 6) == 0 || strncmp(line, "VmLib:", 6) == 0)
			fputs(line, stdout);
	return 0;
}
