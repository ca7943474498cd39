/*
 * brkgrow [MIB]: grows the program break by MIB MiB (default 16) one MiB at
 * a time, checking that every new page reads zero and keeps what is written
 * to it; shrinks it and grows it again, checking that the pages given back
 * come back zeroed; and checks brk's refusals (below the start, absurdly
 * high). Prints a PASS line per check and exits 0, or 1 on any failure. No
 * addresses are printed: they differ between runs on the host.
 */
#include "sys.h"

static int failures;

static void check(const char *name, int ok) {
	put_str(ok ? "PASS " : "FAIL ");
	put_str(name);
	put_str("\n");
	if (!ok)
		failures++;
}

/* pages_are reports whether every page of [a, a+len) holds v at offsets 0
 * and PAGE_SIZE-1. */
static int pages_are(volatile uint8_t *a, uint64_t len, uint8_t v) {
	for (uint64_t off = 0; off < len; off += PAGE_SIZE)
		if (a[off] != v || a[off + PAGE_SIZE - 1] != v)
			return 0;
	return 1;
}

static void fill(volatile uint8_t *a, uint64_t len, uint8_t v) {
	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		a[off] = v;
		a[off + PAGE_SIZE - 1] = v;
	}
}

int main(int argc, char **argv) {
	uint64_t mib = parse_u64(argc > 1 ? argv[1] : NULL, 16);
	if (mib == 0 || mib > 4096) {
		put_str("usage: brkgrow [MIB (1..4096)]\n");
		return 2;
	}
	const uint64_t step = 1UL << 20;
	uint64_t start = (uint64_t)sys_brk(NULL);
	check("brk(0) reports the same break twice", (uint64_t)sys_brk(NULL) == start);
	check("the initial break is page-aligned", start % PAGE_SIZE == 0);

	int grew = 1, zero = 1, kept = 1;
	for (uint64_t i = 0; i < mib; i++) {
		uint64_t want = start + (i + 1) * step;
		if ((uint64_t)sys_brk((void *)want) != want) {
			grew = 0;
			break;
		}
		volatile uint8_t *fresh = (volatile uint8_t *)(want - step);
		if (!pages_are(fresh, step, 0))
			zero = 0;
		fill(fresh, step, (uint8_t)(i + 1));
	}
	check("brk grows one MiB at a time", grew);
	if (!grew)
		return 1;
	check("new break pages read zero", zero);
	for (uint64_t i = 0; i < mib; i++)
		if (!pages_are((volatile uint8_t *)(start + i * step), step, (uint8_t)(i + 1)))
			kept = 0;
	check("break pages keep what was written", kept);

	uint64_t half = start + mib / 2 * step;
	check("brk shrinks", (uint64_t)sys_brk((void *)half) == half);
	uint64_t top = start + mib * step;
	check("brk grows back", (uint64_t)sys_brk((void *)top) == top);
	check("pages given back by shrinking come back zeroed", pages_are((volatile uint8_t *)half, top - half, 0));
	check("pages kept by shrinking keep their contents",
	      mib < 2 || pages_are((volatile uint8_t *)start, step, 1));

	check("brk below its start is refused", (uint64_t)sys_brk((void *)(start - PAGE_SIZE)) == top);
	check("brk into the kernel half is refused", (uint64_t)sys_brk((void *)0xffff800000001000UL) == top);
	uint64_t wall = top + 4 * step;
	long m = sys_mmap((void *)wall, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	check("a page maps above the break", (uint64_t)m == wall);
	check("brk over a mapping is refused", (uint64_t)sys_brk((void *)(wall + PAGE_SIZE)) == top);
	check("brk leaving no free page below a mapping is refused", (uint64_t)sys_brk((void *)wall) == top);
	check("brk leaving one free page below a mapping is allowed",
	      (uint64_t)sys_brk((void *)(wall - PAGE_SIZE)) == wall - PAGE_SIZE);
	check("brk shrinks back", (uint64_t)sys_brk((void *)top) == top);
	check("the mapping above the break survived",
	      sys_mmap((void *)wall, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == -EEXIST);
	sys_munmap((void *)wall, PAGE_SIZE);

	uint64_t odd = start + 100;
	check("brk keeps an unaligned break", (uint64_t)sys_brk((void *)odd) == odd);
	volatile uint8_t *last = (volatile uint8_t *)(start + PAGE_SIZE - 1);
	*last = 0x5a;
	check("the page holding an unaligned break is usable to its end", *last == 0x5a);
	check("brk returns to its start", (uint64_t)sys_brk((void *)start) == start);

	put_str("brkgrow: grew the break by ");
	put_u64(mib);
	put_str(" MiB in ");
	put_u64(mib);
	put_str(" steps\n");
	return failures ? 1 : 0;
}
