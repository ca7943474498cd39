/*
 * mallocchurn [ROUNDS]: churns musl's malloc with a fixed pseudo-random
 * sequence of malloc, calloc, realloc and free over 1024 slots, sizes from
 * a few bytes to 1 MiB (so that large blocks come from mmap and are moved
 * by mremap), and checks every block's contents before it is freed or
 * resized. The sequence depends only on the seed, never on addresses, so the
 * output is the same on every run. Prints a summary and exits 0, or prints
 * FAIL and exits 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024

struct block {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

static struct block slots[SLOTS];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void) {
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* pick_size returns mostly small sizes, some medium, a few large. */
static size_t pick_size(void) {
	uint64_t r = next() % 1000;
	if (r < 900)
		return 1 + next() % 512;
	if (r < 998)
		return 512 + next() % (32 << 10);
	return (128 << 10) + next() % (1 << 20);
}

static void fill(struct block *b, size_t from) {
	for (size_t i = from; i < b->size; i++)
		b->p[i] = (unsigned char)(b->tag + i * 31);
}

static int intact(const struct block *b, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (b->p[i] != (unsigned char)(b->tag + i * 31))
			return 0;
	return 1;
}

static int fail(const char *what, int slot) {
	printf("FAIL: %s (slot %d)\n", what, slot);
	return 1;
}

int main(int argc, char **argv) {
	long rounds = argc > 1 ? atol(argv[1]) : 100000;
	if (rounds <= 0) {
		fprintf(stderr, "usage: mallocchurn [ROUNDS (>0)]\n");
		return 2;
	}
	uint64_t mallocs = 0, callocs = 0, reallocs = 0, frees = 0, bytes = 0, peak_live = 0, live = 0;
	for (long round = 0; round < rounds; round++) {
		int s = (int)(next() % SLOTS);
		struct block *b = &slots[s];
		if (!b->p) {
			b->size = pick_size();
			b->tag = (unsigned char)next();
			if (next() % 4 == 0) {
				b->p = calloc(1, b->size);
				if (!b->p)
					return fail("calloc returned NULL", s);
				for (size_t i = 0; i < b->size; i++)
					if (b->p[i])
						return fail("calloc memory is not zero", s);
				callocs++;
			} else {
				b->p = malloc(b->size);
				if (!b->p)
					return fail("malloc returned NULL", s);
				mallocs++;
			}
			fill(b, 0);
			bytes += b->size;
			live += b->size;
		} else if (next() % 3 == 0) {
			size_t old = b->size, n = pick_size();
			if (!intact(b, old))
				return fail("block corrupted before realloc", s);
			unsigned char *q = realloc(b->p, n);
			if (!q)
				return fail("realloc returned NULL", s);
			b->p = q;
			b->size = n;
			if (!intact(b, old < n ? old : n))
				return fail("realloc lost contents", s);
			if (n > old)
				fill(b, old);
			live = live - old + n;
			bytes += n;
			reallocs++;
		} else {
			if (!intact(b, b->size))
				return fail("block corrupted before free", s);
			free(b->p);
			b->p = NULL;
			live -= b->size;
			frees++;
		}
		if (live > peak_live)
			peak_live = live;
	}
	for (int s = 0; s < SLOTS; s++) {
		if (slots[s].p) {
			if (!intact(&slots[s], slots[s].size))
				return fail("block corrupted at the end", s);
			free(slots[s].p);
			frees++;
		}
	}
	printf("mallocchurn: %ld rounds: %llu malloc, %llu calloc, %llu realloc, %llu free; %llu bytes requested, peak live %llu bytes\n",
	       rounds, (unsigned long long)mallocs, (unsigned long long)callocs, (unsigned long long)reallocs,
	       (unsigned long long)frees, (unsigned long long)bytes, (unsigned long long)peak_live);
	printf("PASS mallocchurn\n");
	return 0;
}
