/* fsattrs: the file and identity calls programs make besides reading and
 * writing, printed where Linux 6.1 and 6.18 answer alike (the test
 * compares the output with a native run inside QEMU, whose kernel is
 * 6.1; 6.1 has no user.* attributes on tmpfs and no *xattrat calls,
 * which mmvm's unit tests compare with the host's 6.18):
 *
 *   xattr        trusted.* and security.* on tmpfs files, directories,
 *                links and FIFOs; XATTR_CREATE and XATTR_REPLACE; size 0
 *                queries; ERANGE; E2BIG; name length; unknown namespaces;
 *                user.* on a link or FIFO; file capabilities, dropped by
 *                a write; the fd forms on a memfd, a pipe, sockets and an
 *                eventfd; O_PATH's EBADF (lists printed sorted: 6.1 keeps
 *                insertion order, 6.18 descending names)
 *   getdents     the old getdents' struct linux_dirent, d_type in the
 *                record's last byte, against getdents64's
 *   personality  query, set, UNAME26 and PER_LINUX32 in uname,
 *                READ_IMPLIES_EXEC in mmap and mprotect, a fork's child
 *                and an exec (which drops READ_IMPLIES_EXEC), and
 *                ADDR_COMPAT_LAYOUT's bottom-up layout after an exec
 *   uts          sethostname and setdomainname (in a UTS namespace of its
 *                own natively), EINVAL, EPERM
 *   ioprio       ioprio_set and ioprio_get of the thread, the classes and
 *                levels, EINVAL and EPERM
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "include/errname.h"

static char buf[70000];

/* list prints a list's length and its names sorted. */
static void list(const char *what, long n) {
	printf("%s = %s", what, res(n));
	if (n > 0) {
		char *names[64];
		int k = 0;
		for (long i = 0; i < n && k < 64; i += strlen(buf + i) + 1)
			names[k++] = buf + i;
		for (int i = 0; i < k; i++)
			for (int j = i + 1; j < k; j++)
				if (strcmp(names[i], names[j]) > 0) {
					char *t = names[i];
					names[i] = names[j];
					names[j] = t;
				}
		for (int i = 0; i < k; i++)
			printf(" %s", names[i]);
	}
	printf("\n");
}

/* value prints a get's result and the bytes it got. */
static void value(const char *what, long n) {
	printf("%s = %s", what, res(n));
	if (n > 0 && n < 64) {
		printf(" \"");
		for (long i = 0; i < n; i++)
			printf(buf[i] >= 32 && buf[i] < 127 ? "%c" : "\\x%02x", (unsigned char)buf[i]);
		printf("\"");
	}
	printf("\n");
}

#define SET(what, call) printf("%s = %s\n", what, res(call))

static void xattrs(void) {
	const char *f = "/tmp/xf", *d = "/tmp/xd", *l = "/tmp/xl", *p = "/tmp/xp";
	int fd = open(f, O_CREAT | O_RDWR, 0644);
	mkdir(d, 0755);
	symlink(f, l);
	mknod(p, S_IFIFO | 0644, 0);
	SET("setxattr trusted.b", setxattr(f, "trusted.b", "bb", 2, 0));
	SET("setxattr trusted.a", setxattr(f, "trusted.a", "a", 1, 0));
	SET("setxattr security.s", setxattr(f, "security.s", "sec", 3, 0));
	SET("setxattr trusted.empty", setxattr(f, "trusted.empty", "", 0, 0));
	list("listxattr", listxattr(f, buf, sizeof buf));
	list("listxattr size 0", listxattr(f, NULL, 0));
	list("listxattr size 3", listxattr(f, buf, 3));
	value("getxattr trusted.b", getxattr(f, "trusted.b", buf, 100));
	value("getxattr size 0", getxattr(f, "trusted.b", NULL, 0));
	value("getxattr size 1", getxattr(f, "trusted.b", buf, 1));
	value("getxattr trusted.empty", getxattr(f, "trusted.empty", buf, 100));
	value("getxattr missing", getxattr(f, "trusted.nope", buf, 100));
	value("getxattr security.s", getxattr(f, "security.s", buf, 100));
	SET("setxattr CREATE existing", setxattr(f, "trusted.a", "x", 1, XATTR_CREATE));
	SET("setxattr REPLACE missing", setxattr(f, "trusted.n", "x", 1, XATTR_REPLACE));
	SET("setxattr REPLACE", setxattr(f, "trusted.a", "new", 3, XATTR_REPLACE));
	value("getxattr replaced", getxattr(f, "trusted.a", buf, 100));
	SET("setxattr bad flags", setxattr(f, "trusted.n", "x", 1, 4));
	SET("setxattr foo.bar", setxattr(f, "foo.bar", "x", 1, 0));
	value("getxattr foo.bar", getxattr(f, "foo.bar", buf, 100));
	SET("setxattr trusted.", setxattr(f, "trusted.", "x", 1, 0));
	SET("setxattr empty name", setxattr(f, "", "x", 1, 0));
	char name[300];
	memset(name, 'n', sizeof name);
	memcpy(name, "trusted.", 8);
	name[255] = 0;
	SET("setxattr name 255", setxattr(f, name, "x", 1, 0));
	name[255] = 'n';
	name[256] = 0;
	SET("setxattr name 256", setxattr(f, name, "x", 1, 0));
	SET("setxattr 65536", setxattr(f, "trusted.big", buf, 65536, 0));
	value("getxattr 65536 size 0", getxattr(f, "trusted.big", NULL, 0));
	SET("setxattr 65537", setxattr(f, "trusted.n", buf, 65537, 0));
	SET("removexattr trusted.big", removexattr(f, "trusted.big"));
	SET("removexattr missing", removexattr(f, "trusted.nope"));
	SET("removexattr foo.bar", removexattr(f, "foo.bar"));

	SET("lsetxattr link user.x", lsetxattr(l, "user.x", "x", 1, 0));
	value("lgetxattr link user.x", lgetxattr(l, "user.x", buf, 100));
	SET("lsetxattr link trusted.l", lsetxattr(l, "trusted.l", "l", 1, 0));
	list("llistxattr link", llistxattr(l, buf, sizeof buf));
	list("listxattr through link", listxattr(l, buf, sizeof buf));
	SET("setxattr dir trusted.d", setxattr(d, "trusted.d", "d", 1, 0));
	list("listxattr dir", listxattr(d, buf, sizeof buf));
	SET("setxattr fifo user.x", setxattr(p, "user.x", "x", 1, 0));
	value("getxattr fifo user.x", getxattr(p, "user.x", buf, 100));
	SET("setxattr fifo trusted.p", setxattr(p, "trusted.p", "p", 1, 0));
	list("listxattr fifo", listxattr(p, buf, sizeof buf));

	SET("fsetxattr", fsetxattr(fd, "trusted.fd", "v", 1, 0));
	value("fgetxattr", fgetxattr(fd, "trusted.fd", buf, 100));
	SET("fremovexattr", fremovexattr(fd, "trusted.fd"));
	list("flistxattr", flistxattr(fd, buf, sizeof buf));
	int opath = open(f, O_PATH);
	value("fgetxattr O_PATH", fgetxattr(opath, "trusted.a", buf, 100));
	SET("fsetxattr O_PATH", fsetxattr(opath, "trusted.a", "v", 1, 0));
	SET("fsetxattr bad fd", fsetxattr(999, "trusted.a", "v", 1, 0));

	/* File capabilities: checked, kept, dropped by a write. */
	uint32_t caps[5] = {0x02000001, 1 << 13, 0, 0, 0};
	SET("setxattr caps 3 bytes", setxattr(f, "security.capability", caps, 3, 0));
	SET("setxattr caps v2", setxattr(f, "security.capability", caps, 20, 0));
	value("getxattr caps", getxattr(f, "security.capability", buf, 100));
	SET("write", write(fd, "x", 1));
	value("getxattr caps after write", getxattr(f, "security.capability", buf, 100));

	int m = memfd_create("m", 0), pp[2], ss[2], dg[2];
	SET("memfd fsetxattr", fsetxattr(m, "trusted.m", "m", 1, 0));
	list("memfd flistxattr", flistxattr(m, buf, sizeof buf));
	value("memfd fgetxattr", fgetxattr(m, "trusted.m", buf, 100));
	pipe(pp);
	socketpair(AF_UNIX, SOCK_STREAM, 0, ss);
	socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
	int e = eventfd(0, 0);
	struct {
		const char *what;
		int fd;
	} fds[] = {{"pipe", pp[0]}, {"stream", ss[0]}, {"dgram", dg[0]}, {"eventfd", e}};
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		const char *names[] = {"user.x", "trusted.x", "system.sockprotoname", "foo.x"};
		for (unsigned j = 0; j < sizeof names / sizeof names[0]; j++) {
			char what[100];
			snprintf(what, sizeof what, "%s fsetxattr %s", fds[i].what, names[j]);
			SET(what, fsetxattr(fds[i].fd, names[j], "v", 1, 0));
			snprintf(what, sizeof what, "%s fgetxattr %s", fds[i].what, names[j]);
			value(what, fgetxattr(fds[i].fd, names[j], buf, 100));
		}
		char what[100];
		snprintf(what, sizeof what, "%s flistxattr", fds[i].what);
		list(what, flistxattr(fds[i].fd, buf, sizeof buf));
	}
	value("getxattr /proc/self/status user.x", getxattr("/proc/self/status", "user.x", buf, 100));
	list("listxattr /proc/self/status", listxattr("/proc/self/status", buf, sizeof buf));
	value("getxattr /dev/null user.x", getxattr("/dev/null", "user.x", buf, 100));
}

/* olddents compares the old getdents' records of a directory with
 * getdents64's: the same names, types and offsets, reclen as
 * ALIGN(18 + namelen + 2, 8). */
static void olddents(void) {
	mkdir("/tmp/gd", 0755);
	mkdir("/tmp/gd/sub", 0755);
	close(open("/tmp/gd/file", O_CREAT | O_WRONLY, 0644));
	symlink("file", "/tmp/gd/link");
	mknod("/tmp/gd/fifo", S_IFIFO | 0644, 0);
	int fd = open("/tmp/gd", O_RDONLY | O_DIRECTORY);
	printf("getdents 8 bytes = %s\n", res(syscall(SYS_getdents, fd, buf, 8)));
	long n = syscall(SYS_getdents, fd, buf, 4096);
	printf("getdents = %s\n", n > 0 ? "some" : res(n));
	static char b64[4096];
	int fd64 = open("/tmp/gd", O_RDONLY | O_DIRECTORY);
	long n64 = syscall(SYS_getdents64, fd64, b64, sizeof b64);
	int entries = 0, bad = 0;
	char lines[16][64];
	int k = 0;
	for (long i = 0, j = 0; i < n && j < n64; entries++) {
		unsigned short reclen = *(unsigned short *)(buf + i + 16);
		const char *name = buf + i + 18;
		unsigned char type = buf[i + reclen - 1];
		unsigned short reclen64 = *(unsigned short *)(b64 + j + 16);
		const char *name64 = b64 + j + 19;
		if (strcmp(name, name64) != 0 || type != (unsigned char)b64[j + 18] ||
		    *(long *)(buf + i + 8) != *(long *)(b64 + j + 8) || reclen != ((18 + strlen(name) + 2 + 7) & ~7UL))
			bad++;
		if (k < 16)
			snprintf(lines[k++], sizeof lines[0], "%s type %d", name, type);
		i += reclen;
		j += reclen64;
	}
	/* The order is the file system's: sorted here. */
	for (int a = 0; a < k; a++)
		for (int b = a + 1; b < k; b++)
			if (strcmp(lines[a], lines[b]) > 0) {
				char t[64];
				memcpy(t, lines[a], sizeof t);
				memcpy(lines[a], lines[b], sizeof t);
				memcpy(lines[b], t, sizeof t);
			}
	for (int a = 0; a < k; a++)
		printf("  %s\n", lines[a]);
	printf("getdents entries %d, differing from getdents64 %d\n", entries, bad);
	printf("getdents at the end = %s\n", res(syscall(SYS_getdents, fd, buf, 4096)));
	int file = open("/tmp/gd/file", O_RDONLY);
	printf("getdents of a file = %s\n", res(syscall(SYS_getdents, file, buf, 4096)));
	close(fd);
	close(fd64);
	close(file);
}

/* mapsPerms prints the permissions /proc/self/maps shows at addr. */
static void mapsPerms(const char *what, void *addr) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= (unsigned long)addr && (unsigned long)addr < hi) {
			printf("%s: %s\n", what, perms);
			break;
		}
	}
	if (f)
		fclose(f);
}

static void personalities(const char *self) {
	struct utsname u;
	printf("personality query = %s\n", res(syscall(SYS_personality, 0xffffffffUL)));
	printf("personality 0x12345678 = %s\n", res(syscall(SYS_personality, 0x12345678UL)));
	printf("personality query = %#lx\n", (unsigned long)syscall(SYS_personality, 0xffffffffUL));
	printf("personality UNAME26 = %#lx\n", (unsigned long)syscall(SYS_personality, (unsigned long)UNAME26));
	uname(&u);
	printf("UNAME26 release starts 2.6.: %d\n", strncmp(u.release, "2.6.", 4) == 0);
	syscall(SYS_personality, (unsigned long)PER_LINUX32);
	uname(&u);
	printf("PER_LINUX32 machine %s\n", u.machine);
	syscall(SYS_personality, (unsigned long)READ_IMPLIES_EXEC);
	uname(&u);
	printf("READ_IMPLIES_EXEC machine %s\n", u.machine);
	void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mapsPerms("mmap PROT_READ", m);
	mprotect(m, 4096, PROT_READ | PROT_WRITE);
	mapsPerms("mprotect PROT_READ|PROT_WRITE", m);
	mprotect(m, 4096, PROT_WRITE);
	mapsPerms("mprotect PROT_WRITE", m);
	munmap(m, 4096);
	syscall(SYS_personality, (unsigned long)(READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | UNAME26));
	pid_t pid = fork();
	if (pid == 0) {
		printf("fork's child personality = %#lx\n", (unsigned long)syscall(SYS_personality, 0xffffffffUL));
		fflush(stdout);
		execl(self, self, "persona", (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child status %d\n", status);
	syscall(SYS_personality, (unsigned long)(ADDR_COMPAT_LAYOUT | ADDR_NO_RANDOMIZE));
	pid = fork();
	if (pid == 0) {
		execl(self, self, "layout", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	printf("layout child status %d\n", status);
	syscall(SYS_personality, 0UL);
}

static void uts(void) {
	/* Natively, a UTS namespace of its own, so that the machine's name
	 * stays; mmvm's names are the VM's already. */
	if (unshare(CLONE_NEWUTS) != 0 && errno != ENOSYS && errno != EINVAL) {
		printf("unshare: %s\n", errname(errno));
		return;
	}
	struct utsname u;
	printf("sethostname 65 = %s\n", res(sethostname(buf, 65)));
	printf("sethostname -1 = %s\n", res(syscall(SYS_sethostname, "x", -1L)));
	printf("sethostname = %s\n", res(sethostname("guest-node", 10)));
	printf("setdomainname = %s\n", res(setdomainname("guest.dom", 9)));
	uname(&u);
	printf("uname node %s domain %s\n", u.nodename, u.domainname);
	char b[100] = {0};
	int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
	read(fd, b, sizeof b - 1);
	close(fd);
	printf("/proc/sys/kernel/hostname %s", b);
	memset(b, 0, sizeof b);
	fd = open("/proc/sys/kernel/domainname", O_RDONLY);
	read(fd, b, sizeof b - 1);
	close(fd);
	printf("/proc/sys/kernel/domainname %s", b);
	gethostname(b, sizeof b);
	printf("gethostname %s\n", b);
}

static void ioprio(void) {
	int values[] = {2 << 13 | 3, 1 << 13 | 7, 3 << 13, 0, 2 << 13 | 7, 4 << 13, 5, 7 << 13};
	for (unsigned i = 0; i < sizeof values / sizeof values[0]; i++) {
		printf("ioprio_set %#x = %s", values[i], res(syscall(SYS_ioprio_set, 1, 0, values[i])));
		printf(", get %s\n", res(syscall(SYS_ioprio_get, 1, 0)));
	}
	printf("ioprio_get which 0 = %s\n", res(syscall(SYS_ioprio_get, 0, 0)));
	printf("ioprio_set which 4 = %s\n", res(syscall(SYS_ioprio_set, 4, 0, 2 << 13)));
	printf("ioprio_get of getpid = %s\n", res(syscall(SYS_ioprio_get, 1, getpid())));
}

/* dropped runs what an unprivileged user gets: EPERM for trusted.*
 * changes, sethostname and a real-time I/O class, ENODATA for trusted.*
 * reads, no trusted.* in a list. (security.* changes are EPERM too on
 * 6.18, but 6.1 leaves them to an LSM that may allow them.) */
static void dropped(void) {
	pid_t pid = fork();
	if (pid == 0) {
		if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0)
			_exit(1);
		printf("unprivileged setxattr trusted = %s\n", res(setxattr("/tmp/xf", "trusted.u", "u", 1, 0)));
		value("unprivileged getxattr trusted", getxattr("/tmp/xf", "trusted.a", buf, 100));
		value("unprivileged getxattr security", getxattr("/tmp/xf", "security.s", buf, 100));
		list("unprivileged listxattr", listxattr("/tmp/xf", buf, sizeof buf));
		printf("unprivileged sethostname = %s\n", res(sethostname("x", 1)));
		printf("unprivileged sethostname 65 = %s\n", res(sethostname(buf, 65)));
		printf("unprivileged ioprio RT = %s\n", res(syscall(SYS_ioprio_set, 1, 0, 1 << 13 | 3)));
		printf("unprivileged ioprio BE = %s\n", res(syscall(SYS_ioprio_set, 1, 0, 2 << 13 | 3)));
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("unprivileged child status %d\n", status);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "persona") == 0) {
		printf("after exec personality = %#lx\n", (unsigned long)syscall(SYS_personality, 0xffffffffUL));
		void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		mapsPerms("after exec mmap PROT_READ", m);
		printf("after exec mmap top-down: %d\n", (unsigned long)m > 0x7f0000000000UL);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "layout") == 0) {
		/* ADDR_COMPAT_LAYOUT (with ADDR_NO_RANDOMIZE): the legacy
		 * layout, mappings placed upward from TASK_UNMAPPED_BASE. */
		unsigned long a = (unsigned long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		unsigned long b = (unsigned long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		printf("legacy layout: personality %#lx, first mapping near TASK_UNMAPPED_BASE %d, next above it %d\n",
		       (unsigned long)syscall(SYS_personality, 0xffffffffUL), a >= 0x2aaaaaaab000UL && a < 0x2aaaaaaab000UL + (1UL << 30),
		       b > a);
		return 0;
	}
	xattrs();
	olddents();
	personalities("/proc/self/exe");
	uts();
	ioprio();
	dropped();
	return 0;
}
