/*
 * catstdin: copies stdin to stdout until end of file, then prints on
 * stderr how many bytes went through and a checksum of them (FNV-1a), so
 * that a test can tell a stream passed whole and unchanged.
 */
#include "sys.h"

int main(int argc, char **argv) {
	(void)argc, (void)argv;
	static char buf[65536];
	uint64_t total = 0, sum = 14695981039346656037UL;
	for (;;) {
		long n = syscall3(SYS_read, 0, (long)buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			sys_write(2, "catstdin: read failed\n", 22);
			return 1;
		}
		for (long i = 0; i < n; i++)
			sum = (sum ^ (unsigned char)buf[i]) * 1099511628211UL;
		total += n;
		for (long off = 0; off < n;) {
			long w = sys_write(1, buf + off, n - off);
			if (w <= 0)
				return 1;
			off += w;
		}
	}
	/* put_u64 and put_hex write to stdout; the figures go to stderr. */
	char line[64];
	int i = sizeof line;
	line[--i] = '\n';
	do {
		line[--i] = "0123456789abcdef"[sum & 15];
		sum >>= 4;
	} while (sum);
	line[--i] = ' ';
	do {
		line[--i] = '0' + total % 10;
		total /= 10;
	} while (total);
	sys_write(2, line + i, sizeof line - i);
	return 0;
}
