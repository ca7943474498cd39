/* uffd: userfaultfd(2) with a handler thread serving the main thread's
 * faults: UFFDIO_API, REGISTER, COPY, ZEROPAGE, WAKE, UNREGISTER, the
 * messages read (blocking and through poll), a read(2) into a missing
 * page (the kernel's copy waits too), a signal delivered while a fault
 * waits (the fault is retried and queues a new message), and close waking
 * a waiting fault. Then write protection (UFFDIO_REGISTER_MODE_WP,
 * UFFDIO_WRITEPROTECT, UFFDIO_COPY_MODE_WP) of private anonymous memory:
 * a program's write and a read(2)'s copy into a protected page wait for
 * the handler with a WP message; pagemap's uffd-wp bit and smaps' "uw";
 * and a handler refused (EAGAIN) while a MADV_DONTNEED event is unread.
 * Last MINOR mode on a memfd's shared and private mappings: a read of a
 * page the file holds waits for UFFDIO_CONTINUE.
 * It prints only what Linux 6.1 and 6.18 answer alike:
 * no feature bits (6.18 has more), and the register ioctls masked to the
 * ones both report. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "include/errname.h"

/* include/uapi/linux/userfaultfd.h, spelled out: musl has no kernel
 * headers. */
struct uffd_msg {
	uint8_t event, reserved1;
	uint16_t reserved2;
	uint32_t reserved3;
	union {
		struct {
			uint64_t flags, address;
			union {
				uint32_t ptid;
			} feat;
		} pagefault;
		struct {
			uint64_t reserved1, reserved2, reserved3;
		} reserved;
	} arg;
} __attribute__((packed));
struct uffdio_api {
	uint64_t api, features, ioctls;
};
struct uffdio_range {
	uint64_t start, len;
};
struct uffdio_register {
	struct uffdio_range range;
	uint64_t mode, ioctls;
};
struct uffdio_copy {
	uint64_t dst, src, len, mode;
	int64_t copy;
};
struct uffdio_zeropage {
	struct uffdio_range range;
	uint64_t mode;
	int64_t zeropage;
};
#define UFFD_API 0xAA
#define UFFDIO_API _IOWR(0xAA, 0x3F, struct uffdio_api)
#define UFFDIO_REGISTER _IOWR(0xAA, 0x00, struct uffdio_register)
#define UFFDIO_UNREGISTER _IOR(0xAA, 0x01, struct uffdio_range)
#define UFFDIO_WAKE _IOR(0xAA, 0x02, struct uffdio_range)
#define UFFDIO_COPY _IOWR(0xAA, 0x03, struct uffdio_copy)
#define UFFDIO_ZEROPAGE _IOWR(0xAA, 0x04, struct uffdio_zeropage)
struct uffdio_writeprotect {
	struct uffdio_range range;
	uint64_t mode;
};
#define UFFDIO_WRITEPROTECT _IOWR(0xAA, 0x06, struct uffdio_writeprotect)
#define UFFDIO_WRITEPROTECT_MODE_WP 1
#define UFFDIO_WRITEPROTECT_MODE_DONTWAKE 2
#define UFFDIO_REGISTER_MODE_WP 2
#define UFFDIO_COPY_MODE_WP 2
#define UFFD_FEATURE_PAGEFAULT_FLAG_WP 1
#define UFFD_FEATURE_EVENT_REMOVE (1 << 3)
#define UFFD_PAGEFAULT_FLAG_WP 2
#define UFFD_EVENT_REMOVE 0x15
#define BOTH_WP_IOCTLS (BOTH_RANGE_IOCTLS | (1 << 6)) /* and WRITEPROTECT */
struct uffdio_continue {
	struct uffdio_range range;
	uint64_t mode;
	int64_t mapped;
};
#define UFFDIO_CONTINUE _IOWR(0xAA, 0x07, struct uffdio_continue)
#define UFFDIO_REGISTER_MODE_MINOR 4
#define UFFD_FEATURE_MINOR_SHMEM (1 << 10)
#define BOTH_MINOR_IOCTLS (BOTH_RANGE_IOCTLS | (1 << 7)) /* and CONTINUE */
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#define UFFD_EVENT_PAGEFAULT 0x12
#define UFFD_PAGEFAULT_FLAG_WRITE 1
#define UFFDIO_REGISTER_MODE_MISSING 1
#define UFFDIO_COPY_MODE_DONTWAKE 1
#define BOTH_RANGE_IOCTLS ((1 << 2) | (1 << 3) | (1 << 4)) /* WAKE, COPY, ZEROPAGE */

#define PAGE 4096
#define NPAGES 8

static int uffd;
static char *area;   /* NPAGES registered pages */
static char *source; /* a page of the pattern COPY takes */
static pthread_t main_thread;
static volatile sig_atomic_t got_signal;

/* The handler's lines go to hlog, printed after it ends: printed at once,
 * they would interleave with main's in whichever order the threads ran. */
static char hlog[4096];
static size_t hlen;
#define hprintf(...) (hlen += snprintf(hlog + hlen, sizeof hlog - hlen, __VA_ARGS__))

/* hres is res for the handler thread: res's buffer is main's. */
static const char *hres(long rc) {
	static char buf[64];
	return res_in(buf, sizeof buf, rc);
}

static void on_usr1(int sig) {
	(void)sig;
	got_signal = 1;
}

/* next_msg waits (poll, up to ms) for a message and reads it; -1 if none
 * came. */
static int next_msg(struct uffd_msg *m, int ms) {
	struct pollfd p = {.fd = uffd, .events = POLLIN};
	int n = poll(&p, 1, ms);
	if (n != 1)
		return -1;
	return read(uffd, m, sizeof *m) == sizeof *m ? 0 : -1;
}

static void print_msg(const char *what, const struct uffd_msg *m) {
	hprintf("handler: %s: event %#x write %d page %ld\n", what, m->event,
	       (int)(m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE),
	       (long)((char *)(uintptr_t)m->arg.pagefault.address - area) / PAGE);
}

static long copy_page(int idx, char fill, uint64_t mode) {
	memset(source, fill, PAGE);
	struct uffdio_copy c = {.dst = (uintptr_t)(area + idx * PAGE), .src = (uintptr_t)source, .len = PAGE, .mode = mode};
	long rc = ioctl(uffd, UFFDIO_COPY, &c);
	return rc < 0 ? rc : (long)c.copy;
}

/* handler serves, in order, the faults main makes. */
static void *handler(void *arg) {
	(void)arg;
	struct uffd_msg m;
	/* 1: a read of page 0, filled by COPY. */
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 1", &m);
	hprintf("handler: copy page 0: %ld\n", copy_page(0, 'a', 0));
	/* 2: a write to page 1, filled by ZEROPAGE. */
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 2", &m);
	struct uffdio_zeropage z = {.range = {(uintptr_t)(area + PAGE), PAGE}};
	long rc = ioctl(uffd, UFFDIO_ZEROPAGE, &z);
	hprintf("handler: zeropage page 1: %s (%lld)\n", hres(rc), (long long)z.zeropage);
	/* 3: read(2) into page 2: the kernel's copy faults. */
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 3 (read(2))", &m);
	hprintf("handler: copy page 2: %ld\n", copy_page(2, 'c', 0));
	/* 4: COPY with DONTWAKE, then WAKE. */
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 4", &m);
	hprintf("handler: copy page 3 dontwake: %ld\n", copy_page(3, 'd', UFFDIO_COPY_MODE_DONTWAKE));
	struct uffdio_range w = {(uintptr_t)(area + 3 * PAGE), PAGE};
	hprintf("handler: wake page 3: %s\n", hres(ioctl(uffd, UFFDIO_WAKE, &w)));
	/* 5: a signal while the fault waits: it is delivered, and the
	 * retried fault queues a new message. */
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 5", &m);
	pthread_kill(main_thread, SIGUSR1);
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 5 again after the signal", &m);
	hprintf("handler: copy page 4: %ld\n", copy_page(4, 'e', 0));
	/* 6: unregister wakes a waiting fault, which then fills with zeros. */
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 6", &m);
	struct uffdio_range u = {(uintptr_t)(area + 5 * PAGE), PAGE};
	hprintf("handler: unregister page 5: %s\n", hres(ioctl(uffd, UFFDIO_UNREGISTER, &u)));
	/* 7: close wakes a waiting fault. */
	if (next_msg(&m, 5000) == 0)
		print_msg("fault 7", &m);
	hprintf("handler: close: %s\n", hres(close(uffd)));
	return NULL;
}

/* The write-protection part: its own context, area and handler. */
static int wfd;
static char *warea;

static long wprotect(int idx, int n, uint64_t mode) {
	struct uffdio_writeprotect w = {.range = {(uintptr_t)(warea + idx * PAGE), (uint64_t)n * PAGE}, .mode = mode};
	return ioctl(wfd, UFFDIO_WRITEPROTECT, &w);
}

/* wp_bits prints pagemap's present and uffd-wp bits of warea's pages. */
static void wp_bits(const char *when) {
	uint64_t e[4] = {0};
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	pread(fd, e, sizeof e, (off_t)((uintptr_t)warea / PAGE * 8));
	close(fd);
	printf("pagemap %s:", when);
	for (int i = 0; i < 4; i++)
		printf(" %d%d", (int)(e[i] >> 63 & 1), (int)(e[i] >> 57 & 1));
	printf("\n");
}

/* vmflag reports whether smaps' VmFlags of the vma at addr has flag. */
static int vmflag(void *addr, const char *flag) {
	static char smaps[1 << 16];
	int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, smaps + n, sizeof smaps - 1 - n)) > 0)
		n += r;
	close(fd);
	smaps[n] = 0;
	char head[32];
	snprintf(head, sizeof head, "%lx-", (unsigned long)(uintptr_t)addr);
	char *at = strstr(smaps, head);
	char *fl = at ? strstr(at, "VmFlags:") : NULL;
	char *eol = fl ? strchr(fl, '\n') : NULL;
	if (!eol)
		return -1;
	*eol = 0;
	char want[8];
	snprintf(want, sizeof want, " %s", flag);
	return strstr(fl, want) != NULL;
}

/* wp_handler serves the write-protection part's two faults. */
static void *wp_handler(void *arg) {
	(void)arg;
	struct uffd_msg m;
	struct pollfd p = {.fd = wfd, .events = POLLIN};
	/* 1: main writes page 0: unprotect, which wakes it. */
	if (poll(&p, 1, 5000) == 1 && read(wfd, &m, sizeof m) == sizeof m)
		hprintf("wp handler: event %#x flags %#llx page %ld\n", m.event, (unsigned long long)m.arg.pagefault.flags,
			(long)((char *)(uintptr_t)m.arg.pagefault.address - warea) / PAGE);
	hprintf("wp handler: unprotect page 0: %s\n", hres(wprotect(0, 1, 0)));
	/* 2: read(2) into page 1: unprotect without waking, then wake. */
	if (poll(&p, 1, 5000) == 1 && read(wfd, &m, sizeof m) == sizeof m)
		hprintf("wp handler: event %#x flags %#llx page %ld\n", m.event, (unsigned long long)m.arg.pagefault.flags,
			(long)((char *)(uintptr_t)m.arg.pagefault.address - warea) / PAGE);
	hprintf("wp handler: unprotect page 1 dontwake: %s\n",
		hres(wprotect(1, 1, UFFDIO_WRITEPROTECT_MODE_DONTWAKE)));
	struct uffdio_range w = {(uintptr_t)(warea + PAGE), PAGE};
	hprintf("wp handler: wake page 1: %s\n", hres(ioctl(wfd, UFFDIO_WAKE, &w)));
	return NULL;
}

static void *dontneed(void *arg) {
	(void)arg;
	madvise(warea + 3 * PAGE, PAGE, MADV_DONTNEED);
	return NULL;
}

static void write_protection(void) {
	wfd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_EVENT_REMOVE};
	printf("wp: UFFDIO_API with PAGEFAULT_FLAG_WP: %s\n", res(ioctl(wfd, UFFDIO_API, &api)));
	warea = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	warea[0] = 'a';
	warea[PAGE] = 'b';
	/* Pages 2-3 start missing, whatever the fault filled around. */
	madvise(warea + 2 * PAGE, 2 * PAGE, MADV_DONTNEED);
	printf("wp: writeprotect unregistered: %s\n", res(wprotect(0, 1, UFFDIO_WRITEPROTECT_MODE_WP)));
	struct uffdio_register r = {.range = {(uintptr_t)warea, 4 * PAGE}, .mode = UFFDIO_REGISTER_MODE_WP};
	long rc = ioctl(wfd, UFFDIO_REGISTER, &r);
	printf("wp: register WP: %s, ioctls wake/copy/zeropage/writeprotect %#llx\n", res(rc),
	       (unsigned long long)(r.ioctls & BOTH_WP_IOCTLS));
	printf("wp: VmFlags uw %d um %d\n", vmflag(warea, "uw"), vmflag(warea, "um"));
	printf("wp: writeprotect WP|DONTWAKE: %s\n",
	       res(wprotect(0, 1, UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE)));
	printf("wp: writeprotect mode 4: %s\n", res(wprotect(0, 1, 4)));
	printf("wp: writeprotect pages 0-1: %s\n", res(wprotect(0, 2, UFFDIO_WRITEPROTECT_MODE_WP)));
	memset(source, 'w', PAGE);
	struct uffdio_copy c = {.dst = (uintptr_t)(warea + 2 * PAGE), .src = (uintptr_t)source, .len = PAGE, .mode = UFFDIO_COPY_MODE_WP};
	rc = ioctl(wfd, UFFDIO_COPY, &c);
	printf("wp: copy page 2 with MODE_WP: %s (%lld)\n", res(rc), (long long)c.copy);
	wp_bits("after protecting 0-2");
	printf("wp: page 0 reads %c, page 2 reads %c\n", warea[0], warea[2 * PAGE]);

	hlen = 0;
	pthread_t th;
	pthread_create(&th, NULL, wp_handler, NULL);
	volatile char *v = warea;
	v[0] = 'A';
	printf("wp: main wrote page 0: %c\n", v[0]);
	int fds[2];
	pipe(fds);
	write(fds[1], "pipe", 4);
	printf("wp: read(2) into page 1: %s\n", res(read(fds[0], warea + PAGE + 10, 4)));
	pthread_join(th, NULL);
	fputs(hlog, stdout);
	printf("wp: page 1 reads %c %.4s\n", warea[PAGE], warea + PAGE + 10);
	close(fds[0]);
	close(fds[1]);
	wp_bits("after the faults");

	/* An unread event refuses the handler's changes. */
	warea[3 * PAGE] = 'd';
	pthread_create(&th, NULL, dontneed, NULL);
	struct pollfd p = {.fd = wfd, .events = POLLIN};
	poll(&p, 1, 5000);
	printf("wp: writeprotect while an event is unread: %s\n", res(wprotect(3, 1, UFFDIO_WRITEPROTECT_MODE_WP)));
	c = (struct uffdio_copy){.dst = (uintptr_t)(warea + 3 * PAGE), .src = (uintptr_t)source, .len = PAGE};
	rc = ioctl(wfd, UFFDIO_COPY, &c);
	/* Not c.copy: 6.1 leaves it, 6.18 writes -EAGAIN. */
	printf("wp: copy while an event is unread: %s\n", res(rc));
	struct uffd_msg m;
	rc = read(wfd, &m, sizeof m);
	printf("wp: event read: %s, event %#x\n", res(rc), m.event);
	pthread_join(th, NULL);
	printf("wp: writeprotect after the event: %s\n", res(wprotect(2, 1, UFFDIO_WRITEPROTECT_MODE_WP)));

	struct uffdio_range u = {(uintptr_t)warea, 4 * PAGE};
	printf("wp: unregister: %s\n", res(ioctl(wfd, UFFDIO_UNREGISTER, &u)));
	wp_bits("after unregistering");
	printf("wp: VmFlags uw %d\n", vmflag(warea, "uw"));
	warea[2 * PAGE] = 'W';
	printf("wp: page 2 written after unregistering: %c\n", warea[2 * PAGE]);
	close(wfd);
}

/* The MINOR part: a memfd of 4 pages, pages 0 and 1 written. */
static int mfd;
static char *mshared, *mprivate;

static long cont(char *addr, int n, uint64_t mode, int64_t *mapped) {
	struct uffdio_continue c = {.range = {(uintptr_t)addr, (uint64_t)n * PAGE}, .mode = mode};
	long rc = ioctl(mfd, UFFDIO_CONTINUE, &c);
	*mapped = c.mapped;
	return rc;
}

static void *minor_handler(void *arg) {
	(void)arg;
	struct uffd_msg m;
	struct pollfd p = {.fd = mfd, .events = POLLIN};
	for (int i = 0; i < 2; i++) {
		if (poll(&p, 1, 5000) != 1 || read(mfd, &m, sizeof m) != sizeof m)
			break;
		char *a = (char *)(uintptr_t)m.arg.pagefault.address;
		int shared = a >= mshared && a < mshared + 4 * PAGE;
		hprintf("minor handler: event %#x flags %#llx %s page %ld\n", m.event,
			(unsigned long long)m.arg.pagefault.flags, shared ? "shared" : "private",
			(long)(a - (shared ? mshared : mprivate)) / PAGE);
		int64_t mapped;
		long rc = cont(a, 1, 0, &mapped);
		hprintf("minor handler: continue: %s (%lld)\n", hres(rc), (long long)mapped);
	}
	return NULL;
}

static void minor_mode(void) {
	mfd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MINOR_SHMEM};
	printf("minor: UFFDIO_API with MINOR_SHMEM: %s\n", res(ioctl(mfd, UFFDIO_API, &api)));
	int fd = memfd_create("uffd-minor", MFD_CLOEXEC);
	ftruncate(fd, 4 * PAGE);
	pwrite(fd, "held", 4, 0);
	pwrite(fd, "HELD", 4, PAGE);
	mshared = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	mprivate = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	char *an = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uffdio_register r = {.range = {(uintptr_t)an, PAGE}, .mode = UFFDIO_REGISTER_MODE_MINOR};
	printf("minor: register anonymous memory: %s\n", res(ioctl(mfd, UFFDIO_REGISTER, &r)));
	r = (struct uffdio_register){.range = {(uintptr_t)mshared, 4 * PAGE}, .mode = UFFDIO_REGISTER_MODE_MINOR};
	long rc = ioctl(mfd, UFFDIO_REGISTER, &r);
	printf("minor: register shared: %s, ioctls %#llx\n", res(rc), (unsigned long long)(r.ioctls & BOTH_MINOR_IOCTLS));
	r = (struct uffdio_register){.range = {(uintptr_t)mprivate, 4 * PAGE},
				     .mode = UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_MISSING};
	rc = ioctl(mfd, UFFDIO_REGISTER, &r);
	printf("minor: register private MINOR|MISSING: %s, ioctls %#llx\n", res(rc),
	       (unsigned long long)(r.ioctls & BOTH_MINOR_IOCTLS));
	printf("minor: VmFlags ui %d\n", vmflag(mshared, "ui"));
	int64_t mapped = 0;
	rc = cont(mshared + 2 * PAGE, 1, 0, &mapped);
	printf("minor: continue a page the file lacks: %s (%lld)\n", res(rc), (long long)mapped);
	rc = cont(mshared, 1, 4, &mapped);
	printf("minor: continue mode 4: %s\n", res(rc));
	rc = cont(mshared, 1, 0, &mapped);
	printf("minor: continue shared page 0: %s (%lld)\n", res(rc), (long long)mapped);
	rc = cont(mshared, 1, 0, &mapped);
	printf("minor: continue it again: %s (%lld)\n", res(rc), (long long)mapped);
	printf("minor: shared page 0 reads %.4s\n", mshared);

	hlen = 0;
	pthread_t th;
	pthread_create(&th, NULL, minor_handler, NULL);
	volatile char *v = mshared + PAGE;
	char ch = v[0];
	printf("minor: shared page 1 reads %c\n", ch);
	v = mprivate + PAGE;
	ch = v[1];
	printf("minor: private page 1 reads %c\n", ch);
	pthread_join(th, NULL);
	fputs(hlog, stdout);
	struct uffdio_range u = {(uintptr_t)mshared, 4 * PAGE};
	printf("minor: unregister: %s\n", res(ioctl(mfd, UFFDIO_UNREGISTER, &u)));
	close(mfd);
	close(fd);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("sizeof uffd_msg %zu, pagefault.address at %zu, ptid at %zu\n", sizeof(struct uffd_msg),
	       offsetof(struct uffd_msg, arg.pagefault.address), offsetof(struct uffd_msg, arg.pagefault.feat.ptid));
	printf("userfaultfd(bad flags): %s\n", res(syscall(SYS_userfaultfd, 0x10)));
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	printf("userfaultfd: %s\n", uffd >= 0 ? "fd" : res(uffd));
	printf("F_GETFL: %#x, FD_CLOEXEC: %d\n", fcntl(uffd, F_GETFL) & ~0100000, fcntl(uffd, F_GETFD));
	char buf[64];
	long rc;
	printf("read before UFFDIO_API: %s\n", res(read(uffd, buf, sizeof buf)));
	struct pollfd p = {.fd = uffd, .events = POLLIN};
	rc = poll(&p, 1, 0);
	printf("poll before UFFDIO_API: %s revents %#x\n", res(rc), p.revents);
	struct uffdio_register r = {.range = {0x100000, PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	printf("register before UFFDIO_API: %s\n", res(ioctl(uffd, UFFDIO_REGISTER, &r)));
	struct uffdio_api api = {.api = 0xAB, .features = 0, .ioctls = 7};
	rc = ioctl(uffd, UFFDIO_API, &api);
	printf("UFFDIO_API api 0xAB: %s, struct zeroed %d\n", res(rc), api.api == 0 && api.features == 0 && api.ioctls == 0);
	api = (struct uffdio_api){.api = UFFD_API};
	rc = ioctl(uffd, UFFDIO_API, &api);
	printf("UFFDIO_API: %s, api %#llx ioctls %#llx\n", res(rc), (unsigned long long)api.api, (unsigned long long)api.ioctls);
	printf("write: %s\n", res(write(uffd, buf, 32)));

	area = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	source = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r = (struct uffdio_register){.range = {(uintptr_t)area + 1, PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	printf("register unaligned: %s\n", res(ioctl(uffd, UFFDIO_REGISTER, &r)));
	r = (struct uffdio_register){.range = {(uintptr_t)area, PAGE}, .mode = 0};
	printf("register mode 0: %s\n", res(ioctl(uffd, UFFDIO_REGISTER, &r)));
	r = (struct uffdio_register){.range = {(uintptr_t)area, NPAGES * PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	rc = ioctl(uffd, UFFDIO_REGISTER, &r);
	printf("register: %s, ioctls wake/copy/zeropage %#llx\n", res(rc), (unsigned long long)(r.ioctls & BOTH_RANGE_IOCTLS));
	printf("read, nothing queued: %s\n", res(read(uffd, buf, sizeof buf)));
	printf("read, 31 bytes: %s\n", res(read(uffd, buf, 31)));
	p.revents = 0;
	rc = poll(&p, 1, 0);
	printf("poll, nothing queued: %s revents %#x\n", res(rc), p.revents);

	/* Fills before any fault: a copy onto a present page is EEXIST. */
	printf("copy page 7: %ld\n", copy_page(7, 'h', 0));
	rc = copy_page(7, 'h', 0);
	printf("copy page 7 again: %s\n", res(rc));
	struct uffdio_zeropage z = {.range = {(uintptr_t)(area + 6 * PAGE), PAGE}, .mode = 2};
	printf("zeropage bad mode: %s\n", res(ioctl(uffd, UFFDIO_ZEROPAGE, &z)));
	struct uffdio_copy c = {.dst = (uintptr_t)(area + 6 * PAGE), .src = (uintptr_t)source, .len = 3 * PAGE};
	rc = ioctl(uffd, UFFDIO_COPY, &c);
	printf("copy past the vma: %s (%lld)\n", res(rc), (long long)c.copy);

	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	main_thread = pthread_self();
	pthread_t th;
	pthread_create(&th, NULL, handler, NULL);

	volatile char *v = area;
	char ch = v[0];
	printf("main: page 0 reads %c\n", ch);
	v[PAGE + 1] = 'b';
	ch = v[PAGE];
	printf("main: page 1 reads %c%c\n", ch ? 'x' : '0', v[PAGE + 1]);
	int fds[2];
	pipe(fds);
	write(fds[1], "pipe", 4);
	printf("main: read(2) into page 2: %s\n", res(read(fds[0], area + 2 * PAGE + 10, 4)));
	printf("main: page 2 reads %c %.4s %c\n", area[2 * PAGE], area + 2 * PAGE + 10, area[2 * PAGE + 20]);
	ch = v[3 * PAGE];
	printf("main: page 3 reads %c\n", ch);
	ch = v[4 * PAGE];
	printf("main: page 4 reads %c, signal handled %d\n", ch, (int)got_signal);
	ch = v[5 * PAGE];
	printf("main: page 5 reads %d\n", ch);
	ch = v[6 * PAGE];
	printf("main: page 6 reads %d\n", ch);
	pthread_join(th, NULL);
	fputs(hlog, stdout);
	ch = v[7 * PAGE];
	printf("main: page 7 reads %c\n", ch);

	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		printf("/dev/userfaultfd: %s\n", res(dev));
	} else {
		printf("USERFAULTFD_IOC_NEW bad flags: %s\n", res(ioctl(dev, USERFAULTFD_IOC_NEW, 0x10)));
		int fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
		printf("USERFAULTFD_IOC_NEW: %s\n", fd >= 0 ? "fd" : res(fd));
		printf("/dev/userfaultfd other ioctl: %s\n", res(ioctl(dev, _IO(0xAA, 0x01), 0)));
		api = (struct uffdio_api){.api = UFFD_API};
		printf("its UFFDIO_API: %s\n", res(ioctl(fd, UFFDIO_API, &api)));
		close(fd);
		close(dev);
	}
	int sysctl = open("/proc/sys/vm/unprivileged_userfaultfd", O_RDONLY);
	printf("unprivileged_userfaultfd readable: %d\n", sysctl >= 0 && read(sysctl, buf, sizeof buf) > 0);
	write_protection();
	minor_mode();
	return 0;
}
