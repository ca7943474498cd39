/*
 * tty: what a program sees of a terminal on stdout, built against musl
 * (tty-musl) and glibc (tty-glibc): isatty, the bytes TCGETS writes (struct
 * termios is 36 bytes on x86-64; a host writing more smashes libcs' stack
 * buffers), tcgetattr's flags, TIOCGWINSZ, tcsetattr of the same settings,
 * and stdio's buffering of a partial line against a raw write. On a pipe
 * every terminal call is ENOTTY. Every line is the same natively and under
 * mmvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* written returns how many leading bytes of a 64-byte buffer a raw
 * TCGETS of fd writes (the last byte changed under two different fills),
 * or -errno. */
static long written(int fd) {
	unsigned char a[64], b[64];
	memset(a, 0x5a, sizeof a);
	memset(b, 0xa5, sizeof b);
	long ra = syscall(SYS_ioctl, fd, TCGETS, a);
	long rb = syscall(SYS_ioctl, fd, TCGETS, b);
	if (ra < 0 || rb < 0)
		return -errno;
	long n = 0;
	for (int i = 0; i < 64; i++)
		if (a[i] != 0x5a || b[i] != 0xa5)
			n = i + 1;
	return n;
}

int main(void) {
	printf("isatty(1) %d\n", isatty(1));
	long n = written(1);
	if (n < 0)
		printf("TCGETS: %s\n", strerror(-n));
	else
		printf("TCGETS writes %ld bytes\n", n);
	struct termios t;
	if (tcgetattr(1, &t) == 0) {
		printf("tcgetattr: ICANON %d ECHO %d OPOST %d ONLCR %d ISIG %d\n", !!(t.c_lflag & ICANON), !!(t.c_lflag & ECHO),
		       !!(t.c_oflag & OPOST), !!(t.c_oflag & ONLCR), !!(t.c_lflag & ISIG));
		printf("tcsetattr same: %d\n", tcsetattr(1, TCSANOW, &t));
	} else {
		printf("tcgetattr: %s\n", strerror(errno));
	}
	struct winsize ws;
	if (ioctl(1, TIOCGWINSZ, &ws) == 0)
		printf("winsize %dx%d\n", ws.ws_row, ws.ws_col);
	else
		printf("TIOCGWINSZ: %s\n", strerror(errno));
	fflush(stdout);
	/* line-buffered on a terminal, fully buffered on a pipe: either way
	 * the partial line waits and the raw write goes first */
	printf("partial line");
	write(1, "[raw]", 5);
	printf(" ended\n");
	write(1, "[after newline]\n", 16);
	return 0;
}
