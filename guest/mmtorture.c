/*
 * mmtorture: a self-checking exercise of mmap, munmap, mremap and mprotect.
 * Without signal delivery a guest cannot watch its own accesses fault, so
 * protections are checked the way the kernel enforces them on its own
 * accesses: a system call that must write into a read-only page (getrandom)
 * or read from a PROT_NONE page (write) fails with EFAULT. Whether a range is
 * mapped is checked with mprotect (ENOMEM on a hole) and MAP_FIXED_NOREPLACE
 * (EEXIST on a mapping). Contents are checked after every operation that
 * must keep them. Prints a PASS line per check and exits 0, or a FAIL line
 * with the values and exits 1. No addresses are printed.
 */
#include "sys.h"

#define P PAGE_SIZE

static int failures, passes;

static void check(const char *name, int ok) {
	put_str(ok ? "PASS " : "FAIL ");
	put_str(name);
	put_str("\n");
	if (ok)
		passes++;
	else
		failures++;
}

/* expect checks that a raw system call result r equals want (a value or a
 * negated errno), printing both on failure. */
static void expect(const char *name, long r, long want) {
	check(name, r == want);
	if (r != want) {
		put_str("     got ");
		put_i64(r);
		put_str(", want ");
		put_i64(want);
		put_str("\n");
	}
}

static uint8_t pattern(uint64_t page, uint64_t off) { return (uint8_t)(page * 13 + off * 7 + 1); }

static void fill_page(uint8_t *base, uint64_t page, uint64_t tag) {
	for (uint64_t j = 0; j < P; j++)
		base[page * P + j] = pattern(tag, j);
}

/* page_is reports whether page `page` of base holds pattern `tag` (or zeros
 * when tag is ~0). */
static int page_is(const uint8_t *base, uint64_t page, uint64_t tag) {
	for (uint64_t j = 0; j < P; j++) {
		uint8_t want = tag == ~0UL ? 0 : pattern(tag, j);
		if (base[page * P + j] != want)
			return 0;
	}
	return 1;
}

#define ZERO (~0UL)

static long map_anon(void *addr, uint64_t len, int prot, int extra) {
	return sys_mmap(addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
}

/* is_unmapped reports whether [a, a+len) is free: mprotect fails with
 * ENOMEM on any hole. */
static int is_unmapped(void *a, uint64_t len) {
	for (uint64_t off = 0; off < len; off += P)
		if (sys_mprotect((uint8_t *)a + off, P, PROT_READ) != -ENOMEM)
			return 0;
	return 1;
}

static void test_anonymous(void) {
	long r = map_anon(NULL, 4 * P, PROT_READ | PROT_WRITE, 0);
	check("mmap 4 anonymous pages", !sys_failed(r) && r % P == 0);
	if (sys_failed(r))
		return;
	uint8_t *p = (uint8_t *)r;
	check("anonymous pages read zero", page_is(p, 0, ZERO) && page_is(p, 1, ZERO) && page_is(p, 2, ZERO) && page_is(p, 3, ZERO));
	for (int i = 0; i < 4; i++)
		fill_page(p, i, i);
	check("anonymous pages keep what is written", page_is(p, 0, 0) && page_is(p, 1, 1) && page_is(p, 2, 2) && page_is(p, 3, 3));

	expect("mprotect read-only", sys_mprotect(p, 4 * P, PROT_READ), 0);
	check("read-only pages keep their contents", page_is(p, 0, 0) && page_is(p, 3, 3));
	expect("the kernel cannot write a read-only page (getrandom: EFAULT)", sys_getrandom(p + P, 16, 0), -EFAULT);
	check("a failed kernel write leaves the page unchanged", page_is(p, 1, 1));
	expect("mprotect PROT_NONE on one page", sys_mprotect(p + 2 * P, P, PROT_NONE), 0);
	expect("the kernel cannot read a PROT_NONE page (write: EFAULT)", sys_write(1, p + 2 * P, 1), -EFAULT);
	expect("mprotect read-write again", sys_mprotect(p, 4 * P, PROT_READ | PROT_WRITE), 0);
	check("contents survive PROT_NONE and back", page_is(p, 2, 2));
	expect("the kernel can write a writable page (getrandom)", sys_getrandom(p + P, 16, 0), 16);
	fill_page(p, 1, 1);

	expect("munmap the middle of a mapping", sys_munmap(p + P, P), 0);
	check("the unmapped page is a hole", is_unmapped(p + P, P));
	check("the pages around the hole keep their contents", page_is(p, 0, 0) && page_is(p, 2, 2));
	expect("munmap of a hole succeeds", sys_munmap(p + P, P), 0);
	expect("MAP_FIXED_NOREPLACE over a mapping: EEXIST", map_anon(p, P, PROT_READ, MAP_FIXED_NOREPLACE), -EEXIST);
	expect("MAP_FIXED_NOREPLACE into the hole", map_anon(p + P, P, PROT_READ | PROT_WRITE, MAP_FIXED_NOREPLACE), (long)(p + P));
	check("the refilled hole reads zero", page_is(p, 1, ZERO));
	expect("MAP_FIXED replaces a mapped page", map_anon(p + 3 * P, P, PROT_READ | PROT_WRITE, MAP_FIXED), (long)(p + 3 * P));
	check("the replaced page reads zero, its neighbour is intact", page_is(p, 3, ZERO) && page_is(p, 2, 2));
	expect("munmap all 4 pages", sys_munmap(p, 4 * P), 0);
	check("all 4 pages are gone", is_unmapped(p, 4 * P));
}

static void test_mremap(void) {
	long r = map_anon(NULL, 4 * P, PROT_READ | PROT_WRITE, 0);
	check("mmap 4 pages for mremap", !sys_failed(r));
	if (sys_failed(r))
		return;
	uint8_t *p = (uint8_t *)r;
	for (int i = 0; i < 4; i++)
		fill_page(p, i, 10 + i);

	r = sys_mremap(p, 4 * P, 8 * P, MREMAP_MAYMOVE, NULL);
	check("mremap grows 4 pages to 8", !sys_failed(r));
	if (sys_failed(r))
		return;
	uint8_t *q = (uint8_t *)r;
	check("grown mapping keeps its contents", page_is(q, 0, 10) && page_is(q, 1, 11) && page_is(q, 2, 12) && page_is(q, 3, 13));
	check("grown pages read zero", page_is(q, 4, ZERO) && page_is(q, 7, ZERO));
	check("a moved mapping leaves no trace at its old place", q == p || is_unmapped(p, 4 * P));
	fill_page(q, 7, 17);

	expect("mremap shrinks 8 pages to 2 in place", sys_mremap(q, 8 * P, 2 * P, 0, NULL), (long)q);
	check("shrunk pages are gone", is_unmapped(q + 2 * P, 6 * P));
	check("the kept pages keep their contents", page_is(q, 0, 10) && page_is(q, 1, 11));

	r = map_anon(NULL, 2 * P, PROT_NONE, 0);
	check("reserve 2 pages as a target", !sys_failed(r));
	uint8_t *d = (uint8_t *)r;
	expect("mremap MREMAP_FIXED onto the target", sys_mremap(q, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, d), (long)d);
	check("moved pages keep their contents", page_is(d, 0, 10) && page_is(d, 1, 11));
	check("moved pages keep their protection (kernel write works)", sys_getrandom(d, 8, 0) == 8);
	fill_page(d, 0, 10);
	check("the source is gone after MREMAP_FIXED", is_unmapped(q, 2 * P));

	/* Split one mapping in two with mprotect: the second half blocks the
	 * first from growing in place. */
	expect("mprotect splits a mapping", sys_mprotect(d + P, P, PROT_READ), 0);
	expect("mremap cannot grow into the next mapping without MAYMOVE", sys_mremap(d, P, 2 * P, 0, NULL), -ENOMEM);
	r = sys_mremap(d, P, 3 * P, MREMAP_MAYMOVE, NULL);
	check("mremap with MAYMOVE moves around it", !sys_failed(r) && r != (long)d);
	if (!sys_failed(r)) {
		check("the moved first half keeps its contents, the rest reads zero",
		      page_is((uint8_t *)r, 0, 10) && page_is((uint8_t *)r, 1, ZERO) && page_is((uint8_t *)r, 2, ZERO));
		check("the moved first half left a hole", is_unmapped(d, P));
		check("the second half stayed read-only", sys_getrandom(d + P, 8, 0) == -EFAULT && page_is(d, 1, 11));
		sys_munmap((void *)r, 3 * P);
	}
	sys_munmap(d, 2 * P);
}

static void test_errors(void) {
	/* Two mapped pages with a hole after them. */
	long r = map_anon(NULL, 3 * P, PROT_READ | PROT_WRITE, 0);
	uint8_t *p = (uint8_t *)r;
	check("mmap 3 pages for the error checks", !sys_failed(r));
	if (sys_failed(r))
		return;
	expect("munmap the third to leave a hole", sys_munmap(p + 2 * P, P), 0);

	expect("mmap of length 0: EINVAL", map_anon(NULL, 0, PROT_READ, 0), -EINVAL);
	expect("mmap neither private nor shared: EINVAL", sys_mmap(NULL, P, PROT_READ, MAP_ANONYMOUS, -1, 0), -EINVAL);
	expect("mmap with an unaligned offset: EINVAL", sys_mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 100), -EINVAL);
	expect("mmap MAP_FIXED at an unaligned address: EINVAL", map_anon(p + 1, P, PROT_READ, MAP_FIXED), -EINVAL);
	expect("mmap of 1 EiB: ENOMEM", map_anon(NULL, 1UL << 60, PROT_READ, 0), -ENOMEM);
	expect("mmap of a file on a bad fd: EBADF", sys_mmap(NULL, P, PROT_READ, MAP_PRIVATE, 1000, 0), -EBADF);

	expect("munmap of an unaligned address: EINVAL", sys_munmap(p + 1, P), -EINVAL);
	expect("munmap of length 0: EINVAL", sys_munmap(p, 0), -EINVAL);
	expect("munmap in the kernel half: EINVAL", sys_munmap((void *)0xffff800000000000UL, P), -EINVAL);

	expect("mprotect of an unaligned address: EINVAL", sys_mprotect(p + 1, P, PROT_READ), -EINVAL);
	expect("mprotect with unknown bits: EINVAL", sys_mprotect(p, P, 0x40), -EINVAL);
	expect("mprotect of length 0 succeeds", sys_mprotect(p, 0, PROT_READ), 0);
	expect("mprotect across a hole: ENOMEM", sys_mprotect(p, 3 * P, PROT_READ), -ENOMEM);

	expect("mremap of an unaligned address: EINVAL", sys_mremap(p + 1, P, 2 * P, MREMAP_MAYMOVE, NULL), -EINVAL);
	expect("mremap to length 0: EINVAL", sys_mremap(p, P, 0, MREMAP_MAYMOVE, NULL), -EINVAL);
	expect("mremap MREMAP_FIXED without MAYMOVE: EINVAL", sys_mremap(p, P, P, MREMAP_FIXED, p + 8 * P), -EINVAL);
	expect("mremap with unknown flags: EINVAL", sys_mremap(p, P, P, 0x40, NULL), -EINVAL);
	sys_munmap(p, 2 * P);
	expect("mremap of a hole: EFAULT", sys_mremap(p + 2 * P, P, 2 * P, MREMAP_MAYMOVE, NULL), -EFAULT);
}

/* test_many maps and unmaps many small mappings, checking each keeps its
 * own contents: the vma tree under churn. */
static void test_many(void) {
	enum { N = 256 };
	static uint8_t *maps[N];
	int ok = 1;
	for (int i = 0; i < N; i++) {
		long r = map_anon(NULL, 2 * P, PROT_READ | PROT_WRITE, 0);
		if (sys_failed(r)) {
			ok = 0;
			break;
		}
		maps[i] = (uint8_t *)r;
		maps[i][0] = (uint8_t)i;
		maps[i][2 * P - 1] = (uint8_t)~i;
	}
	check("256 small mappings", ok);
	if (!ok)
		return;
	for (int i = 0; i < N; i += 2)
		if (sys_munmap(maps[i], 2 * P) != 0)
			ok = 0;
	check("unmapping every other one", ok);
	for (int i = 1; i < N; i += 2)
		if (maps[i][0] != (uint8_t)i || maps[i][2 * P - 1] != (uint8_t)~i)
			ok = 0;
	check("the others keep their contents", ok);
	for (int i = 1; i < N; i += 2)
		if (sys_munmap(maps[i], 2 * P) != 0)
			ok = 0;
	check("unmapping the rest", ok);
}

int main(int argc, char **argv) {
	(void)argc;
	(void)argv;
	test_anonymous();
	test_mremap();
	test_errors();
	test_many();
	put_str("mmtorture: ");
	put_u64(passes);
	put_str(" passed, ");
	put_u64(failures);
	put_str(" failed\n");
	return failures ? 1 : 0;
}
