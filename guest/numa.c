/* numa: the NUMA memory-policy calls on a machine with one node, made
 * directly (as libnuma and numactl make them): mbind splits and merges
 * vmas by policy, get_mempolicy reads a vma's and the thread's policy
 * back, set_mempolicy sets the thread's, set_mempolicy_home_node,
 * migrate_pages and move_pages answer for node 0, and each call's bad
 * arguments get Linux's errors. Where Linux 6.1 (the QEMU guest's) and
 * 6.18 differ, it prints neither's answer: how vmas merge back when a
 * policy is reset (6.18 merges them all), NUMA balancing with
 * MPOL_PREFERRED_MANY (6.18 only), and move_pages of a page never
 * touched (-EFAULT on 6.1, -ENOENT on 6.18); mm's tests check 6.18's. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "include/errname.h"

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#define MPOL_PREFERRED_MANY 5
#define MPOL_WEIGHTED_INTERLEAVE 6
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_RELATIVE_NODES (1 << 14)
#define MPOL_F_NUMA_BALANCING (1 << 13)
#define MPOL_F_NODE (1 << 0)
#define MPOL_F_ADDR (1 << 1)
#define MPOL_F_MEMS_ALLOWED (1 << 2)
#define MPOL_MF_STRICT (1 << 0)
#define MPOL_MF_MOVE (1 << 1)
#define MPOL_MF_MOVE_ALL (1 << 2)

static long page;


static long mbind_(void *a, unsigned long len, int mode, unsigned long *mask, unsigned long maxnode, unsigned flags) {
	return syscall(SYS_mbind, a, len, mode, mask, maxnode, flags);
}

static long getpol(int *mode, unsigned long *mask, unsigned long maxnode, void *addr, unsigned long flags) {
	return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

/* vmas counts the maps lines that overlap [a, a+len). */
static int vmas(char *a, long len) {
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long s, e;
	char line[512];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s < (unsigned long)(a + len) && e > (unsigned long)a)
			n++;
	fclose(f);
	return n;
}

static void show_addr(const char *what, void *addr) {
	int mode = -7;
	unsigned long mask[2] = {0xdead, 0xbeef};
	long rc = getpol(&mode, mask, 128, addr, MPOL_F_ADDR);
	printf("%s: get_mempolicy(ADDR) %s mode=%d mask=%#lx,%#lx\n", what, res(rc), mode, mask[0], mask[1]);
}

static void show_task(const char *what) {
	int mode = -7;
	unsigned long mask[2] = {0xdead, 0xbeef};
	long rc = getpol(&mode, mask, 128, NULL, 0);
	printf("%s: get_mempolicy() %s mode=%d mask=%#lx,%#lx\n", what, res(rc), mode, mask[0], mask[1]);
}

int main(void) {
	page = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IONBF, 0);
	/* Eight pages, then a page-sized hole (a + 8 * page) the program
	 * keeps free. */
	char *a = mmap(NULL, 9 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(a + 8 * page, page);
	unsigned long one = 1, two = 2, zero = 0, big[20] = {1};

	printf("numa_available: get_mempolicy(0,0,0,0,0) %s\n", res(getpol(NULL, NULL, 0, NULL, 0)));
	show_task("start");
	show_addr("fresh vma", a);

	printf("mbind BIND node 0 on page 2: %s\n", res(mbind_(a + 2 * page, page, MPOL_BIND, &one, 2, 0)));
	printf("vmas: %d\n", vmas(a, 8 * page));
	show_addr("page 2", a + 2 * page);
	show_addr("page 0", a);
	printf("mbind PREFERRED (no nodes) on page 3: %s\n", res(mbind_(a + 3 * page, page, MPOL_PREFERRED, NULL, 0, 0)));
	show_addr("page 3 (local)", a + 3 * page);
	printf("mbind INTERLEAVE|STATIC node 0 on page 4: %s\n",
	       res(mbind_(a + 4 * page, page, MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, &one, 64, 0)));
	show_addr("page 4", a + 4 * page);
	printf("mbind BIND|NUMA_BALANCING on page 5: %s\n",
	       res(mbind_(a + 5 * page, page, MPOL_BIND | MPOL_F_NUMA_BALANCING, &one, 2, 0)));
	printf("vmas: %d\n", vmas(a, 8 * page));
	printf("mbind node 1: %s\n", res(mbind_(a, page, MPOL_BIND, &two, 3, 0)));
	printf("mbind empty BIND: %s\n", res(mbind_(a, page, MPOL_BIND, &zero, 3, 0)));
	printf("mbind maxnode 1: %s\n", res(mbind_(a, page, MPOL_BIND, &one, 1, 0)));
	printf("mbind DEFAULT with a node: %s\n", res(mbind_(a, page, MPOL_DEFAULT, &one, 2, 0)));
	printf("mbind LOCAL with a node: %s\n", res(mbind_(a, page, MPOL_LOCAL, &one, 2, 0)));
	printf("mbind mode 7: %s\n", res(mbind_(a, page, 7, &one, 2, 0)));
	printf("mbind STATIC|RELATIVE: %s\n", res(mbind_(a, page, MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, &one, 2, 0)));
	printf("mbind NUMA_BALANCING on INTERLEAVE: %s\n", res(mbind_(a, page, MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, &one, 2, 0)));
	printf("mbind bad flags: %s\n", res(mbind_(a, page, MPOL_BIND, &one, 2, 8)));
	printf("mbind MOVE|STRICT: %s\n", res(mbind_(a, page, MPOL_BIND, &one, 2, MPOL_MF_MOVE | MPOL_MF_STRICT)));
	printf("mbind unaligned: %s\n", res(mbind_(a + 1, page, MPOL_BIND, &one, 2, 0)));
	printf("mbind over a hole: %s\n", res(mbind_(a + 7 * page, 2 * page, MPOL_BIND, &one, 2, 0)));
	printf("mbind length 0: %s\n", res(mbind_(a, 0, MPOL_BIND, &one, 2, 0)));
	printf("mbind bad mask pointer: %s\n", res(mbind_(a, page, MPOL_BIND, (unsigned long *)8, 2, 0)));
	printf("mbind maxnode past a page of bits: %s\n", res(mbind_(a, page, MPOL_BIND, big, page * 8 + 2, 0)));
	big[17] = 1;
	printf("mbind a node past MAX_NUMNODES: %s\n", res(mbind_(a, page, MPOL_BIND, big, 20 * 64, 0)));
	printf("mbind DEFAULT on all: %s\n", res(mbind_(a, 8 * page, MPOL_DEFAULT, NULL, 0, 0)));
	show_addr("page 4 after", a + 4 * page);

	printf("get_mempolicy bad flags: %s\n", res(getpol(NULL, NULL, 0, NULL, 8)));
	printf("get_mempolicy addr without ADDR: %s\n", res(getpol(NULL, NULL, 0, a, 0)));
	printf("get_mempolicy ADDR of nothing: %s\n", res(getpol(NULL, NULL, 0, a + 8 * page, MPOL_F_ADDR)));
	{
		unsigned long m = 0;
		printf("get_mempolicy mask with maxnode 0: %s\n", res(getpol(NULL, &m, 0, NULL, 0)));
	}
	{
		int mode = -7;
		unsigned long m[2] = {5, 5};
		long rc = getpol(&mode, m, 1, NULL, MPOL_F_MEMS_ALLOWED);
		printf("MEMS_ALLOWED maxnode 1: %s mode=%d mask=%lu,%lu\n", res(rc), mode, m[0], m[1]);
		rc = getpol(&mode, m, 200, NULL, MPOL_F_MEMS_ALLOWED);
		printf("MEMS_ALLOWED maxnode 200: %s mode=%d mask=%lu,%lu\n", res(rc), mode, m[0], m[1]);
		printf("MEMS_ALLOWED|ADDR: %s\n", res(getpol(&mode, m, 200, a, MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR)));
		a[0] = 1;
		mode = -7;
		rc = getpol(&mode, NULL, 0, a, MPOL_F_NODE | MPOL_F_ADDR);
		printf("NODE|ADDR of a touched page: %s node=%d\n", res(rc), mode);
		printf("NODE without ADDR, default policy: %s\n", res(getpol(&mode, NULL, 0, NULL, MPOL_F_NODE)));
		printf("get_mempolicy bad mode pointer: %s\n", res(getpol((int *)8, NULL, 0, NULL, 0)));
		printf("get_mempolicy mask past a page: %s\n", res(getpol(&mode, big, page * 8 + 65, NULL, 0)));
	}

	printf("set_mempolicy BIND node 0: %s\n", res(syscall(SYS_set_mempolicy, MPOL_BIND, &one, 2)));
	show_task("after BIND");
	printf("set_mempolicy INTERLEAVE: %s\n", res(syscall(SYS_set_mempolicy, MPOL_INTERLEAVE, &one, 2)));
	{
		int node = -7;
		long rc = getpol(&node, NULL, 0, NULL, MPOL_F_NODE);
		printf("NODE under INTERLEAVE: %s node=%d\n", res(rc), node);
	}
	printf("set_mempolicy PREFERRED empty: %s\n", res(syscall(SYS_set_mempolicy, MPOL_PREFERRED, NULL, 0)));
	show_task("after PREFERRED empty");
	printf("set_mempolicy BIND|RELATIVE node 1: %s\n", res(syscall(SYS_set_mempolicy, MPOL_BIND | MPOL_F_RELATIVE_NODES, &two, 3)));
	show_task("after BIND|RELATIVE");
	printf("set_mempolicy node 1: %s\n", res(syscall(SYS_set_mempolicy, MPOL_BIND, &two, 3)));
	printf("set_mempolicy mode 9: %s\n", res(syscall(SYS_set_mempolicy, 9, &one, 2)));
	printf("set_mempolicy DEFAULT: %s\n", res(syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0)));
	show_task("after DEFAULT");

	printf("home_node on default vmas: %s\n", res(syscall(SYS_set_mempolicy_home_node, a, 2 * page, 0, 0)));
	mbind_(a + page, page, MPOL_BIND, &one, 2, 0);
	printf("home_node on a BIND vma: %s\n", res(syscall(SYS_set_mempolicy_home_node, a + page, page, 0, 0)));
	mbind_(a + 2 * page, page, MPOL_INTERLEAVE, &one, 2, 0);
	printf("home_node on an INTERLEAVE vma: %s\n", res(syscall(SYS_set_mempolicy_home_node, a + 2 * page, page, 0, 0)));
	printf("home_node node 1: %s\n", res(syscall(SYS_set_mempolicy_home_node, a + page, page, 1, 0)));
	printf("home_node flags: %s\n", res(syscall(SYS_set_mempolicy_home_node, a + page, page, 0, 1)));
	printf("home_node unaligned: %s\n", res(syscall(SYS_set_mempolicy_home_node, a + 1, page, 0, 0)));
	printf("home_node over a hole: %s\n", res(syscall(SYS_set_mempolicy_home_node, a + 7 * page, 2 * page, 0, 0)));

	printf("migrate_pages 0->0: %s\n", res(syscall(SYS_migrate_pages, 0, 2, &one, &one)));
	printf("migrate_pages to node 1: %s\n", res(syscall(SYS_migrate_pages, 0, 3, &one, &two)));
	printf("migrate_pages no such pid: %s\n", res(syscall(SYS_migrate_pages, 999999, 2, &one, &one)));
	printf("migrate_pages bad mask: %s\n", res(syscall(SYS_migrate_pages, 0, 2, (unsigned long *)8, &one)));

	{
		void *pages[4] = {a, a + 5, a + 8 * page, a + 5};
		int status[4] = {-7, -7, -7, -7}, nodes[4] = {0, 0, 0, 0};
		long rc = syscall(SYS_move_pages, 0, 4, pages, NULL, status, 0);
		printf("move_pages stat: %s status=%d,%d,%d,%d\n", res(rc), status[0], status[1], status[2], status[3]);
		status[0] = status[1] = status[2] = status[3] = -7;
		rc = syscall(SYS_move_pages, 0, 4, pages, nodes, status, MPOL_MF_MOVE);
		printf("move_pages to node 0: %s status=%d,%d,%d,%d\n", res(rc), status[0], status[1], status[2], status[3]);
		nodes[0] = 1;
		rc = syscall(SYS_move_pages, 0, 1, pages, nodes, status, MPOL_MF_MOVE);
		printf("move_pages to node 1: %s status=%d\n", res(rc), status[0]);
		printf("move_pages bad flags: %s\n", res(syscall(SYS_move_pages, 0, 1, pages, NULL, status, 8)));
		printf("move_pages no such pid: %s\n", res(syscall(SYS_move_pages, 999999, 1, pages, NULL, status, 0)));
		printf("move_pages bad status: %s\n", res(syscall(SYS_move_pages, 0, 1, pages, NULL, (int *)8, 0)));
		printf("move_pages none: %s\n", res(syscall(SYS_move_pages, 0, 0, pages, NULL, status, 0)));
	}
	return 0;
}
