/*
 * sys.h: everything a -nostdlib guest needs, in one header: the process
 * entry point (_start reads argc and argv off the initial stack and calls
 * main), raw Linux x86-64 system calls through inline assembly, and a few
 * output helpers. No libc: what the program does is exactly the system calls
 * it makes, which is what mmvm's tests compare against the host.
 *
 * Include it from exactly one .c file per program.
 */
#ifndef MMVM_GUEST_SYS_H
#define MMVM_GUEST_SYS_H

typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uintptr_t;
typedef unsigned long uint64_t;
typedef unsigned int uint32_t;
typedef unsigned char uint8_t;

#define NULL ((void *)0)

/* System call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_rt_sigprocmask 14
#define SYS_access 21
#define SYS_dup 32
#define SYS_dup2 33
#define SYS_getpid 39
#define SYS_kill 62
#define SYS_fcntl 72
#define SYS_getcwd 79
#define SYS_readlink 89
#define SYS_umask 95
#define SYS_getrusage 98
#define SYS_sysinfo 99
#define SYS_rt_sigpending 127
#define SYS_sigaltstack 131
#define SYS_prctl 157
#define SYS_gettid 186
#define SYS_sched_getaffinity 204
#define SYS_clock_gettime 228
#define SYS_clock_nanosleep 230
#define SYS_tgkill 234
#define SYS_openat 257
#define SYS_dup3 292
#define SYS_pipe2 293
#define SYS_mmap 9
#define SYS_mprotect 10
#define SYS_munmap 11
#define SYS_brk 12
#define SYS_mremap 25
#define SYS_madvise 28
#define SYS_exit 60
#define SYS_exit_group 231
#define SYS_getrandom 318

#define PROT_NONE 0x0
#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4

#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2

#define EPERM 1
#define ENOENT 2
#define EBADF 9
#define ENOMEM 12
#define EFAULT 14
#define EEXIST 17
#define EINVAL 22
#define E2BIG 7
#define EAGAIN 11
#define EPIPE 32
#define ERANGE 34

#define PAGE_SIZE 4096UL

static inline long syscall0(long n) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
	return r;
}

static inline long syscall1(long n, long a) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a) : "rcx", "r11", "memory");
	return r;
}

static inline long syscall2(long n, long a, long b) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return r;
}

static inline long syscall3(long n, long a, long b, long c) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

static inline long syscall4(long n, long a, long b, long c, long d) {
	long r;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return r;
}

static inline long syscall5(long n, long a, long b, long c, long d, long e) {
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
	return r;
}

static inline long syscall6(long n, long a, long b, long c, long d, long e, long f) {
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
	return r;
}

/*
 * The wrappers return the kernel's raw result: a value, or -errno in
 * [-4095, -1]. sys_failed tells the two apart for pointer results.
 */
static inline int sys_failed(long r) { return (unsigned long)r > -4096UL; }

static inline long sys_write(int fd, const void *buf, size_t n) { return syscall3(SYS_write, fd, (long)buf, (long)n); }
static inline long sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off) {
	return syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
}
static inline long sys_munmap(void *addr, size_t len) { return syscall2(SYS_munmap, (long)addr, (long)len); }
static inline long sys_mprotect(void *addr, size_t len, int prot) { return syscall3(SYS_mprotect, (long)addr, (long)len, prot); }
static inline long sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
	return syscall5(SYS_mremap, (long)old, (long)old_len, (long)new_len, flags, (long)new_addr);
}
static inline long sys_brk(void *addr) { return syscall1(SYS_brk, (long)addr); }
static inline long sys_madvise(void *addr, size_t len, int advice) { return syscall3(SYS_madvise, (long)addr, (long)len, advice); }
static inline long sys_getrandom(void *buf, size_t n, unsigned flags) { return syscall3(SYS_getrandom, (long)buf, (long)n, flags); }

__attribute__((noreturn)) static inline void sys_exit(int status) {
	for (;;)
		syscall1(SYS_exit_group, status);
}

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *d, int c, size_t n) {
	void *r = d;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

void *memcpy(void *d, const void *s, size_t n) {
	void *r = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}

static inline size_t str_len(const char *s) {
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static inline int str_eq(const char *a, const char *b) {
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* fput_str writes s on fd; the put_ forms write on stdout. */
static inline void fput_str(int fd, const char *s) { sys_write(fd, s, str_len(s)); }
static inline void put_str(const char *s) { fput_str(1, s); }

/* fput_u64 writes v in decimal. */
static inline void fput_u64(int fd, uint64_t v) {
	char buf[24];
	int i = sizeof buf;
	do {
		buf[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	sys_write(fd, buf + i, sizeof buf - i);
}
static inline void put_u64(uint64_t v) { fput_u64(1, v); }

/* put_i64 writes v in decimal, with a sign if negative. */
static inline void put_i64(long v) {
	if (v < 0) {
		put_str("-");
		put_u64(-(uint64_t)v);
	} else {
		put_u64(v);
	}
}

/* fput_hex writes v as 0x-prefixed hexadecimal. */
static inline void fput_hex(int fd, uint64_t v) {
	char buf[18];
	int i = sizeof buf;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	sys_write(fd, buf + i, sizeof buf - i);
}
static inline void put_hex(uint64_t v) { fput_hex(1, v); }

/* parse_u64 parses a decimal number; it returns def for NULL or junk. */
static inline uint64_t parse_u64(const char *s, uint64_t def) {
	uint64_t v = 0;
	if (!s || !*s)
		return def;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return def;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int main(int argc, char **argv);

/* start_c receives the initial stack pointer: argc, then argv. */
__attribute__((used, noreturn)) void start_c(long *sp) {
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	sys_exit(main(argc, argv));
}

/*
 * _start: clear the frame pointer (end of backtraces), hand the initial
 * stack pointer to start_c and keep the stack 16-byte aligned at the call.
 */
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call start_c\n"
	"	hlt\n");

#endif
