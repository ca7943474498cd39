/*
 * remaploop [ROUNDS]: map, fill, move, replace and unmap memory ROUNDS times
 * (default 10000), checking every word each time, so that a translation
 * that outlived the change that should have removed it shows as a stale
 * word. Each round maps 1..8 pages at a place that moves over 1 GiB (so
 * page tables are freed and reused all the time) and does one of:
 *
 *   move:     mremap the pages onto a second mapping, then map fresh pages
 *             at the old place: they must read zero while the moved pages
 *             keep the pattern, and writing the moved pages must not show
 *             through the fresh ones;
 *   replace:  mmap MAP_FIXED over the filled pages: they must read zero;
 *   discard:  madvise MADV_DONTNEED: the pages must read zero; then mremap
 *             them larger (in place or moved) and check again;
 *   protect:  mprotect read-only and back, then refill: the pattern holds.
 *
 * Prints the rounds and words checked; exits 1 at the first stale word.
 * No libc.
 */
#include "sys.h"

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define MADV_DONTNEED 4

static uint64_t checked;

static void fill(volatile uint64_t *p, uint64_t pages, uint64_t seed) {
	for (uint64_t i = 0; i < pages * WORDS; i++)
		p[i] = seed * 0x9e3779b97f4a7c15ULL + i;
}

static int check(volatile uint64_t *p, uint64_t pages, uint64_t seed, int zero, uint64_t round, const char *what) {
	for (uint64_t i = 0; i < pages * WORDS; i++) {
		uint64_t want = zero ? 0 : seed * 0x9e3779b97f4a7c15ULL + i;
		checked++;
		if (p[i] != want) {
			put_str("remaploop: round ");
			put_u64(round);
			put_str(": ");
			put_str(what);
			put_str(": word ");
			put_u64(i);
			put_str(" is ");
			put_hex(p[i]);
			put_str(", want ");
			put_hex(want);
			put_str("\n");
			return 1;
		}
	}
	return 0;
}

static void fail(const char *what, long r) {
	put_str("remaploop: ");
	put_str(what);
	put_str(" failed: errno ");
	put_i64(-r);
	put_str("\n");
	sys_exit(1);
}

static volatile uint64_t *map(void *at, uint64_t pages, int flags) {
	long r = sys_mmap(at, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (sys_failed(r)) {
		if (flags & MAP_FIXED_NOREPLACE)
			return map(NULL, pages, 0);
		fail("mmap", r);
	}
	return (volatile uint64_t *)r;
}

static void unmap(volatile uint64_t *p, uint64_t pages) {
	long r = sys_munmap((void *)p, pages * PAGE);
	if (sys_failed(r))
		fail("munmap", r);
}

int main(int argc, char **argv) {
	uint64_t rounds = parse_u64(argc > 1 ? argv[1] : NULL, 10000);
	if (rounds == 0 || rounds > 100000000) {
		put_str("usage: remaploop [ROUNDS (1..100000000)]\n");
		return 2;
	}
	const uint64_t base = 0x100000000000ULL;
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t n = 1 + r % 8;
		/* 2 MiB steps over 1 GiB, with a page offset: new page tables
		 * for most rounds, freed again when the round unmaps. */
		void *at = (void *)(base + ((r * 37) % 512) * 0x200000UL + (r % 5) * PAGE);
		volatile uint64_t *p = map(at, n, MAP_FIXED_NOREPLACE);
		if (check(p, n, 0, 1, r, "fresh pages"))
			return 1;
		fill(p, n, r);
		if (check(p, n, r, 0, r, "filled pages"))
			return 1;
		switch (r % 4) {
		case 0: { /* move */
			volatile uint64_t *q = map(NULL, n, 0);
			long m = sys_mremap((void *)p, n * PAGE, n * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)q);
			if (sys_failed(m))
				fail("mremap", m);
			if (check(q, n, r, 0, r, "moved pages"))
				return 1;
			volatile uint64_t *f = map((void *)p, n, MAP_FIXED);
			if (check(f, n, 0, 1, r, "fresh pages at the old place"))
				return 1;
			fill(q, n, r + 1);
			if (check(f, n, 0, 1, r, "fresh pages after writing the moved ones"))
				return 1;
			unmap(q, n);
			unmap(f, n);
			break;
		}
		case 1: /* replace */
			map((void *)p, n, MAP_FIXED);
			if (check(p, n, 0, 1, r, "pages mapped over"))
				return 1;
			unmap(p, n);
			break;
		case 2: { /* discard, then grow */
			long m = sys_madvise((void *)p, n * PAGE, MADV_DONTNEED);
			if (sys_failed(m))
				fail("madvise", m);
			if (check(p, n, 0, 1, r, "discarded pages"))
				return 1;
			fill(p, n, r);
			m = sys_mremap((void *)p, n * PAGE, 2 * n * PAGE, MREMAP_MAYMOVE, NULL);
			if (sys_failed(m))
				fail("mremap", m);
			volatile uint64_t *g = (volatile uint64_t *)m;
			if (check(g, n, r, 0, r, "grown pages") || check(g + n * WORDS, n, 0, 1, r, "pages grown into"))
				return 1;
			unmap(g, 2 * n);
			break;
		}
		case 3: { /* protect and back */
			long m = sys_mprotect((void *)p, n * PAGE, PROT_READ);
			if (!sys_failed(m))
				m = sys_mprotect((void *)p, n * PAGE, PROT_READ | PROT_WRITE);
			if (sys_failed(m))
				fail("mprotect", m);
			if (check(p, n, r, 0, r, "pages protected and back"))
				return 1;
			fill(p, n, r + 7);
			if (check(p, n, r + 7, 0, r, "pages refilled"))
				return 1;
			unmap(p, n);
			break;
		}
		}
	}
	put_str("remaploop: ");
	put_u64(rounds);
	put_str(" rounds, ");
	put_u64(checked);
	put_str(" words checked, none stale\n");
	return 0;
}
