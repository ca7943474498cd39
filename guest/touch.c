/*
 * touch MIB [STRIDE]: map MIB MiB of anonymous memory (default 64) and write
 * one byte every STRIDE bytes (default 4096), so that every page written is
 * first-touched: one page fault each. Then read the bytes back and print
 * what it did and a checksum. No libc: the only system calls are mmap,
 * munmap, write and exit_group.
 */
#include "sys.h"

int main(int argc, char **argv) {
	uint64_t mib = parse_u64(argc > 1 ? argv[1] : NULL, 64);
	uint64_t stride = parse_u64(argc > 2 ? argv[2] : NULL, 4096);
	if (mib == 0 || mib > (1 << 20) || stride == 0) {
		put_str("usage: touch [MIB (1..1048576)] [STRIDE (>0)]\n");
		return 2;
	}
	uint64_t len = mib << 20;
	long r = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed(r)) {
		put_str("touch: mmap failed: errno ");
		put_i64(-r);
		put_str("\n");
		return 1;
	}
	volatile uint8_t *p = (volatile uint8_t *)r;
	uint64_t touches = 0;
	for (uint64_t off = 0; off < len; off += stride) {
		p[off] = (uint8_t)(off / stride * 7 + 1);
		touches++;
	}
	uint64_t sum = 0;
	for (uint64_t off = 0; off < len; off += stride) {
		if (p[off] != (uint8_t)(off / stride * 7 + 1)) {
			put_str("touch: byte at offset ");
			put_u64(off);
			put_str(" lost its value\n");
			return 1;
		}
		sum = sum * 31 + p[off];
	}
	uint64_t pages = stride >= PAGE_SIZE ? touches : (len + PAGE_SIZE - 1) / PAGE_SIZE;
	put_str("touched ");
	put_u64(mib);
	put_str(" MiB at stride ");
	put_u64(stride);
	put_str(": ");
	put_u64(touches);
	put_str(" writes, ");
	put_u64(pages);
	put_str(" pages, checksum ");
	put_hex(sum);
	put_str("\n");
	if (sys_munmap((void *)p, len) != 0) {
		put_str("touch: munmap failed\n");
		return 1;
	}
	return 0;
}
