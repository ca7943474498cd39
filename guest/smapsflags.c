/*
 * smapsflags: what /proc/self/smaps and /proc/self/maps say of mappings
 * made in different ways, built against musl (smapsflags-musl) and glibc
 * (smapsflags-glibc). For each mapping it prints the maps line from the
 * permissions on (addresses differ between runs; the line's end is marked,
 * since Linux ends a nameless line with a space), the names of the
 * smaps fields in order, and the VmFlags line: the flags mmap, mprotect,
 * mlock, mlock2, mlockall and madvise give a vma (rd wr ex sh mr mw me ms
 * gd lo sr rr dc de lf ac nr wf dd hg nh). The [vdso]'s VmFlags too.
 * What a kernel's configuration or CPU decides is left out: the KSM and
 * ProtectionKey fields and the sd (soft-dirty) flag; older kernels
 * name VM_LOCKONFAULT "??", printed as lf. Every line it prints is
 * the same natively and under mmvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096UL
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* show prints what smaps says of the vma holding addr (or named name, when
 * addr is 0), its inode number left out: a shmem inode's number differs
 * between runs. */
static void show(const char *what, void *addr, const char *name)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, fields = 0;

	if (!f) {
		printf("%s: fopen smaps: %s\n", what, strerror(errno));
		return;
	}
	printf("%s:", what);
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		char *sp = strchr(line, ' ');
		int is_head = sp && line[0] != ' ' && strchr(line, '-') && strchr(line, '-') < sp;

		if (is_head) {
			if (in)
				break;
			unsigned long start = 0, end = 0;
			char perms[8], dev[16];
			unsigned long off, ino;
			int name_at = 0;

			sscanf(line, "%lx-%lx", &start, &end);
			if (addr ? (unsigned long)addr >= start && (unsigned long)addr < end :
			    (n > strlen(name) + 1 && line[n - 1] == '\n' && strncmp(line + n - 1 - strlen(name), name, strlen(name)) == 0)) {
				in = 1;
				line[n - 1] = 0;
				sscanf(sp + 1, "%7s %lx %15s %lu %n", perms, &off, dev, &ino, &name_at);
				printf(" [%s %08lx %s INODE%s|]\n ", perms, off, dev, strchr(sp + 1, ' ') ? line + (sp + 1 - line) + name_at - 1 : "");
			}
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, "VmFlags:", 8) == 0) {
			char *sd = strstr(line, " sd "), *lf = strstr(line, " ?? ");

			if (sd)
				memmove(sd, sd + 3, strlen(sd + 3) + 1);
			if (lf)
				memcpy(lf + 1, "lf", 2);
			printf("\n %s", line);
			continue;
		}
		*strchr(line, ':') = 0;
		if (strcmp(line, "KSM") == 0 || strcmp(line, "ProtectionKey") == 0)
			continue;
		printf("%s%s", fields++ ? "," : "", line);
	}
	if (!in)
		printf(" not found\n");
	fclose(f);
}

static void *map(size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags, -1, 0);

	if (p == MAP_FAILED) {
		printf("mmap(%d, %#x): %s\n", prot, flags, strerror(errno));
		exit(1);
	}
	return p;
}

static void advised(const char *what, int advice)
{
	char *p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	if (madvise(p, 2 * PG, advice))
		printf("%s: madvise: %s\n", what, strerror(errno));
	else
		show(what, p, NULL);
	munmap(p, 2 * PG);
}

int main(void)
{
	char *p;

	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	p[0] = 1;
	show("private rw", p, NULL);
	munmap(p, 2 * PG);

	p = map(2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
	show("private none", p, NULL);
	mprotect(p, 2 * PG, PROT_READ | PROT_WRITE | PROT_EXEC);
	show("none then rwx", p, NULL);
	munmap(p, 2 * PG);

	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
	show("noreserve", p, NULL);
	munmap(p, 2 * PG);

	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
	p[0] = 1;
	show("shared rw", p, NULL);
	munmap(p, 2 * PG);

	p = map(2 * PG, PROT_READ, MAP_SHARED | MAP_ANONYMOUS);
	show("shared r", p, NULL);
	munmap(p, 2 * PG);

	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN);
	show("growsdown", p, NULL);
	munmap(p, 2 * PG);

	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	if (mlock(p, 2 * PG))
		printf("mlock: %s\n", strerror(errno));
	show("mlock", p, NULL);
	munlock(p, 2 * PG);
	show("munlock", p, NULL);
	if (syscall(SYS_mlock2, p, 2 * PG, MLOCK_ONFAULT))
		printf("mlock2: %s\n", strerror(errno));
	show("mlock2 onfault", p, NULL);
	munmap(p, 2 * PG);

	if (mlockall(MCL_FUTURE | MCL_ONFAULT))
		printf("mlockall: %s\n", strerror(errno));
	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	show("mlockall future onfault", p, NULL);
	munlockall();
	munmap(p, 2 * PG);

	advised("dontfork", MADV_DONTFORK);
	advised("dontdump", MADV_DONTDUMP);
	advised("wipeonfork", MADV_WIPEONFORK);
	advised("hugepage", MADV_HUGEPAGE);
	advised("nohugepage", MADV_NOHUGEPAGE);
	advised("random", MADV_RANDOM);
	advised("sequential", MADV_SEQUENTIAL);

	show("vdso", NULL, "[vdso]");
	return 0;
}
