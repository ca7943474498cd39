/*
 * sockets: AF_UNIX sockets as a program uses them. socketpair of each
 * type (message boundaries, MSG_PEEK, MSG_TRUNC, short buffers), a forked
 * child talking to its parent, SCM_RIGHTS and SCM_CREDENTIALS, names in
 * /tmp and in the abstract namespace (bind, listen, connect, accept,
 * getsockname and getpeername lengths, autobind), datagrams to a name,
 * shutdown, EPIPE and SIGPIPE, nonblocking EAGAIN and filling a buffer,
 * poll readiness, options, fstat and /proc/self/fd, and the errors Linux
 * answers. The test runs it natively on a fresh /tmp; each step prints
 * what it got, errors by name, so that both runs compare line by line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case EPIPE: return "EPIPE";
	case ENOTCONN: return "ENOTCONN";
	case EISCONN: return "EISCONN";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EADDRINUSE: return "EADDRINUSE";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOTSOCK: return "ENOTSOCK";
	case EPROTOTYPE: return "EPROTOTYPE";
	case EMSGSIZE: return "EMSGSIZE";
	case EPERM: return "EPERM";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EFAULT: return "EFAULT";
	case EDOM: return "EDOM";
	case ENOBUFS: return "ENOBUFS";
	case EACCES: return "EACCES";
	case EMFILE: return "EMFILE";
	case ENXIO: return "ENXIO";
	case ESPIPE: return "ESPIPE";
	case EINTR: return "EINTR";
	case EROFS: return "EROFS";
	case ENOTDIR: return "ENOTDIR";
	default: return "other";
	}
}

/* R prints a call's result: its value, or -1 and the error's name. */
#define R(label, expr) do { \
	errno = 0; \
	long r_ = (long)(expr); \
	printf("%s: %ld %s\n", label, r_, r_ < 0 ? errname(errno) : ""); \
} while (0)

static volatile int sigpipes;

static void onpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static socklen_t unaddr(struct sockaddr_un *a, const char *path, int abstract)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (abstract) {
		memcpy(a->sun_path + 1, path, n);
		return offsetof(struct sockaddr_un, sun_path) + 1 + n;
	}
	memcpy(a->sun_path, path, n);
	return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

static void printname(const char *label, struct sockaddr_un *a, socklen_t len)
{
	printf("%s: len %u", label, (unsigned)len);
	if (len > offsetof(struct sockaddr_un, sun_path)) {
		if (a->sun_path[0])
			printf(" path %s", a->sun_path);
		else
			printf(" abstract %.*s", (int)(len - 3), a->sun_path + 1);
	}
	printf("\n");
}

static void pairs(void)
{
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	static const char *names[] = {"stream", "dgram", "seqpacket"};
	for (int i = 0; i < 3; i++) {
		int sv[2];
		char buf[64];
		printf("-- pair %s\n", names[i]);
		R("socketpair", socketpair(AF_UNIX, types[i], 0, sv));
		R("write abc", write(sv[0], "abc", 3));
		R("write defgh", write(sv[0], "defgh", 5));
		R("peek 2", recv(sv[1], buf, 2, MSG_PEEK));
		memset(buf, 0, sizeof buf);
		R("read 64", read(sv[1], buf, 64));
		printf("got %s\n", buf);
		R("write again", write(sv[0], "ijk", 3));
		memset(buf, 0, sizeof buf);
		struct iovec iov = {buf, 2};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		R("recvmsg 2", recvmsg(sv[1], &m, 0));
		printf("got %s flags trunc %d\n", buf, !!(m.msg_flags & MSG_TRUNC));
		if (types[i] != SOCK_STREAM) {
			R("write xyz", write(sv[1], "xyz", 3));
			R("recv 1 MSG_TRUNC", recv(sv[0], buf, 1, MSG_TRUNC));
			R("write empty", write(sv[0], "", 0));
			R("read empty", read(sv[1], buf, 10));
		}
		int v = -1;
		socklen_t len = sizeof v;
		R("SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len));
		printf("type %d len %u\n", v, (unsigned)len);
		R("SO_DOMAIN", getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len));
		printf("domain %d\n", v);
		R("SO_PROTOCOL", getsockopt(sv[0], SOL_SOCKET, SO_PROTOCOL, &v, &len));
		printf("protocol %d\n", v);
		R("SO_ACCEPTCONN", getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &len));
		printf("acceptconn %d\n", v);
		struct ucred uc;
		len = sizeof uc;
		R("SO_PEERCRED", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &len));
		printf("peercred pid ok %d uid %d gid %d len %u\n", uc.pid == getpid(), (int)uc.uid, (int)uc.gid, (unsigned)len);
		struct sockaddr_un a;
		len = sizeof a;
		R("getsockname", getsockname(sv[0], (struct sockaddr *)&a, &len));
		printname("name", &a, len);
		len = sizeof a;
		R("getpeername", getpeername(sv[0], (struct sockaddr *)&a, &len));
		printname("peer", &a, len);
		struct stat st;
		R("fstat", fstat(sv[0], &st));
		printf("S_ISSOCK %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
		char link[64], want[64];
		ssize_t n = readlink("/proc/self/fd/3", link, sizeof link - 1);
		link[n > 0 ? n : 0] = 0;
		snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)st.st_ino);
		printf("link matches %d\n", sv[0] == 3 && strcmp(link, want) == 0);
		R("lseek", lseek(sv[0], 0, SEEK_SET));
		R("close 0", close(sv[0]));
		if (types[i] == SOCK_DGRAM) {
			R("read nonblock after close", recv(sv[1], buf, 10, MSG_DONTWAIT));
			R("write after close", write(sv[1], "q", 1));
		} else {
			R("read after close", read(sv[1], buf, 10));
			R("write after close", send(sv[1], "q", 1, MSG_NOSIGNAL));
		}
		R("close 1", close(sv[1]));
	}
}

static void forked(void)
{
	int sv[2];
	char buf[32];
	printf("-- fork\n");
	R("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		ssize_t n = read(sv[1], buf, sizeof buf);
		for (ssize_t i = 0; i < n; i++)
			buf[i] ^= 0x20;
		write(sv[1], buf, n);
		struct ucred uc;
		socklen_t len = sizeof uc;
		getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &uc, &len);
		write(sv[1], &uc.pid, sizeof uc.pid);
		_exit(0);
	}
	close(sv[1]);
	R("write hello", write(sv[0], "hello", 5));
	memset(buf, 0, sizeof buf);
	R("read", read(sv[0], buf, 5));
	printf("got %s\n", buf);
	pid_t pp = 0;
	R("read pid", read(sv[0], &pp, sizeof pp));
	printf("child's peer is parent %d\n", pp == getpid());
	R("read eof", read(sv[0], buf, 5));
	int status;
	waitpid(pid, &status, 0);
	printf("child status %d\n", status);
	close(sv[0]);
}

static int sendfd(int s, int fd, const char *data)
{
	struct iovec iov = {(void *)data, strlen(data)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(s, &m, 0);
}

static void rights(void)
{
	int sv[2], p[2];
	char buf[32];
	printf("-- SCM_RIGHTS\n");
	R("socketpair", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	R("pipe", pipe(p));
	R("sendmsg fd", sendfd(sv[0], p[1], "fd"));
	close(p[1]);
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {buf, sizeof buf};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	R("recvmsg", recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	printf("controllen %zu level %d type %d len %zu ctrunc %d\n", (size_t)m.msg_controllen,
	       c ? c->cmsg_level : -1, c ? c->cmsg_type : -1, c ? (size_t)c->cmsg_len : 0, !!(m.msg_flags & MSG_CTRUNC));
	int fd = -1;
	if (c)
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
	R("cloexec", fcntl(fd, F_GETFD));
	R("write via passed fd", write(fd, "pipe!", 5));
	memset(buf, 0, sizeof buf);
	R("read pipe", read(p[0], buf, 5));
	printf("got %s\n", buf);
	close(fd);
	/* A buffer too short for the fd: MSG_CTRUNC, the fd closed. */
	R("pipe", pipe(p));
	R("sendmsg fd", sendfd(sv[0], p[1], "fd2"));
	close(p[1]);
	m.msg_controllen = sizeof(struct cmsghdr);
	R("recvmsg short control", recvmsg(sv[1], &m, 0));
	printf("controllen %zu ctrunc %d\n", (size_t)m.msg_controllen, !!(m.msg_flags & MSG_CTRUNC));
	R("read pipe sees eof", read(p[0], buf, 5));
	close(p[0]);
	/* No control buffer at all. */
	R("sendmsg fd", sendfd(sv[0], 1, "fd3"));
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	R("recvmsg no control", recvmsg(sv[1], &m, 0));
	printf("ctrunc %d\n", !!(m.msg_flags & MSG_CTRUNC));
	/* A bad fd and a bad cmsg_len. */
	R("sendmsg bad fd", sendfd(sv[0], 999, "x"));
	struct cmsghdr bad[2] = {{.cmsg_len = 8, .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS}};
	m.msg_control = bad;
	m.msg_controllen = sizeof bad;
	iov.iov_len = 1;
	R("sendmsg short cmsg_len", syscall(SYS_sendmsg, sv[0], &m, 0L));
	bad[0].cmsg_len = 1000;
	R("sendmsg long cmsg_len", syscall(SYS_sendmsg, sv[0], &m, 0L));
	bad[0].cmsg_len = sizeof(struct cmsghdr);
	bad[0].cmsg_type = 77;
	R("sendmsg unknown type", syscall(SYS_sendmsg, sv[0], &m, 0L));
	/* Stream: fds ride with the first bytes, and a read stops after them. */
	close(sv[0]);
	close(sv[1]);
	R("socketpair stream", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	R("write aa", write(sv[0], "aa", 2));
	R("sendmsg fd", sendfd(sv[0], 0, "bb"));
	R("write cc", write(sv[0], "cc", 2));
	memset(buf, 0, sizeof buf);
	iov.iov_base = buf;
	iov.iov_len = sizeof buf;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof u.buf;
	R("recvmsg", recvmsg(sv[1], &m, 0));
	c = CMSG_FIRSTHDR(&m);
	printf("got %s rights %d\n", buf, c && c->cmsg_type == SCM_RIGHTS);
	if (c) {
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
		close(fd);
	}
	memset(buf, 0, sizeof buf);
	R("read rest", read(sv[1], buf, sizeof buf));
	printf("got %s\n", buf);
	/* SCM_CREDENTIALS. */
	int one = 1;
	R("SO_PASSCRED", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
	R("write creds", write(sv[0], "cr", 2));
	m.msg_controllen = sizeof u.buf;
	R("recvmsg", recvmsg(sv[1], &m, 0));
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_type == SCM_CREDENTIALS) {
		struct ucred uc;
		memcpy(&uc, CMSG_DATA(c), sizeof uc);
		printf("creds pid ok %d uid %d gid %d len %zu\n", uc.pid == getpid(), (int)uc.uid, (int)uc.gid, (size_t)c->cmsg_len);
	} else {
		printf("no creds\n");
	}
	close(sv[0]);
	close(sv[1]);
}

static void named(int abstract)
{
	struct sockaddr_un a, b;
	socklen_t alen = unaddr(&a, abstract ? "mmvm-sockets-test" : "/tmp/sock.s", abstract);
	socklen_t len;
	char buf[32];
	printf("-- named %s\n", abstract ? "abstract" : "path");
	int c0 = socket(AF_UNIX, SOCK_STREAM, 0);
	R("connect nothing", connect(c0, (struct sockaddr *)&a, alen));
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	R("listen unbound", listen(l, 5));
	R("accept not listening", accept(l, NULL, NULL));
	R("bind", bind(l, (struct sockaddr *)&a, alen));
	R("bind again", bind(l, (struct sockaddr *)&a, alen));
	int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
	R("bind taken", bind(l2, (struct sockaddr *)&a, alen));
	close(l2);
	R("connect not listening", connect(c0, (struct sockaddr *)&a, alen));
	if (!abstract) {
		struct stat st;
		R("stat node", stat("/tmp/sock.s", &st));
		printf("S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
		R("open node", open("/tmp/sock.s", O_RDWR));
	}
	R("listen", listen(l, 1));
	len = sizeof b;
	R("getsockname", getsockname(l, (struct sockaddr *)&b, &len));
	printname("name", &b, len);
	len = 4;
	R("getsockname short", getsockname(l, (struct sockaddr *)&b, &len));
	printf("len %u\n", (unsigned)len);
	len = -1;
	R("getsockname negative", getsockname(l, (struct sockaddr *)&b, &len));
	R("getpeername listener", getpeername(l, (struct sockaddr *)&b, &len));
	int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	R("connect other type", connect(dg, (struct sockaddr *)&a, alen));
	close(dg);
	int acc = -1;
	{
		int fl = fcntl(l, F_GETFL);
		fcntl(l, F_SETFL, fl | O_NONBLOCK);
		R("accept nonblocking listener", accept(l, NULL, NULL));
		fcntl(l, F_SETFL, fl);
	}
	R("accept4 bad flags", syscall(SYS_accept4, l, 0L, 0L, 0x1234L));
	R("connect", connect(c0, (struct sockaddr *)&a, alen));
	R("connect again", connect(c0, (struct sockaddr *)&a, alen));
	struct pollfd pf = {l, POLLIN, 0};
	R("poll listener", poll(&pf, 1, 0));
	printf("revents %#x\n", pf.revents);
	R("write before accept", write(c0, "early", 5));
	len = sizeof b;
	acc = accept4(l, (struct sockaddr *)&b, &len, SOCK_CLOEXEC);
	printf("accept4: %d\n", acc >= 0);
	printname("accepted peer", &b, len);
	R("cloexec", fcntl(acc, F_GETFD));
	len = sizeof b;
	R("getsockname accepted", getsockname(acc, (struct sockaddr *)&b, &len));
	printname("name", &b, len);
	len = sizeof b;
	R("getpeername client", getpeername(c0, (struct sockaddr *)&b, &len));
	printname("peer", &b, len);
	memset(buf, 0, sizeof buf);
	len = sizeof b;
	R("recvfrom", recvfrom(acc, buf, sizeof buf, 0, (struct sockaddr *)&b, &len));
	printf("got %s fromlen %u\n", buf, (unsigned)len);
	R("send back", send(acc, "late", 4, 0));
	len = sizeof b;
	memset(buf, 0, sizeof buf);
	R("recvfrom client", recvfrom(c0, buf, sizeof buf, 0, (struct sockaddr *)&b, &len));
	printf("got %s\n", buf);
	printname("from", &b, len);
	R("sendto on stream", sendto(c0, "x", 1, 0, (struct sockaddr *)&a, alen));
	struct ucred uc;
	len = sizeof uc;
	R("SO_PEERCRED client", getsockopt(c0, SOL_SOCKET, SO_PEERCRED, &uc, &len));
	printf("pid ok %d\n", uc.pid == getpid());
	int v;
	len = sizeof v;
	R("SO_ACCEPTCONN", getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len));
	printf("acceptconn %d\n", v);
	/* Backlog 1: two pending connections fit, the third is EAGAIN. */
	int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int c3 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	R("connect c1", connect(c1, (struct sockaddr *)&a, alen));
	R("connect c2", connect(c2, (struct sockaddr *)&a, alen));
	R("connect c3 full", connect(c3, (struct sockaddr *)&a, alen));
	/* Closing the listener resets the pending ones. */
	close(l);
	R("read pending after listener close", read(c1, buf, 4));
	R("read again", read(c1, buf, 4));
	R("connect after close", connect(c3, (struct sockaddr *)&a, alen));
	close(c1);
	close(c2);
	close(c3);
	close(c0);
	close(acc);
	if (!abstract) {
		int l3 = socket(AF_UNIX, SOCK_STREAM, 0);
		R("bind existing file", bind(l3, (struct sockaddr *)&a, alen));
		R("unlink", unlink("/tmp/sock.s"));
		R("bind after unlink", bind(l3, (struct sockaddr *)&a, alen));
		R("unlink bound", unlink("/tmp/sock.s"));
		R("listen", listen(l3, 1));
		int c4 = socket(AF_UNIX, SOCK_STREAM, 0);
		R("connect unlinked", connect(c4, (struct sockaddr *)&a, alen));
		close(c4);
		close(l3);
		R("mknod socket", mknod("/tmp/mk.s", S_IFSOCK | 0600, 0));
		struct stat st;
		R("stat it", stat("/tmp/mk.s", &st));
		printf("S_ISSOCK %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
		c4 = socket(AF_UNIX, SOCK_STREAM, 0);
		R("connect to mknod's node", connect(c4, (struct sockaddr *)&b, unaddr(&b, "/tmp/mk.s", 0)));
		R("connect to a regular file", connect(c4, (struct sockaddr *)&b, unaddr(&b, "/proc/self/status", 0)));
		R("connect through a file", connect(c4, (struct sockaddr *)&b, unaddr(&b, "/proc/self/status/x", 0)));
		close(c4);
		R("bind missing dir", bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&b, unaddr(&b, "/tmp/nodir/x", 0)));
	}
}

static void dgrams(void)
{
	struct sockaddr_un a, b;
	socklen_t alen = unaddr(&a, "/tmp/dgram.s", 0), len;
	char buf[32];
	printf("-- datagrams to a name\n");
	int r = socket(AF_UNIX, SOCK_DGRAM, 0);
	R("bind", bind(r, (struct sockaddr *)&a, alen));
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	R("send unconnected", send(s, "x", 1, 0));
	R("sendto", sendto(s, "one", 3, 0, (struct sockaddr *)&a, alen));
	len = sizeof b;
	memset(buf, 0, sizeof buf);
	R("recvfrom unbound sender", recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&b, &len));
	printf("got %s fromlen %u\n", buf, (unsigned)len);
	b.sun_family = AF_UNIX;
	R("autobind", bind(s, (struct sockaddr *)&b, sizeof(sa_family_t)));
	len = sizeof b;
	R("getsockname", getsockname(s, (struct sockaddr *)&b, &len));
	printf("autobind len %u abstract %d\n", (unsigned)len, b.sun_path[0] == 0);
	R("autobind again", bind(s, (struct sockaddr *)&b, sizeof(sa_family_t)));
	R("sendto", sendto(s, "two", 3, 0, (struct sockaddr *)&a, alen));
	struct sockaddr_un from;
	len = sizeof from;
	R("recvfrom bound sender", recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &len));
	printf("fromlen %u same %d\n", (unsigned)len, memcmp(&from, &b, len) == 0);
	R("connect", connect(s, (struct sockaddr *)&a, alen));
	R("send connected", send(s, "three", 5, 0));
	R("recv", recv(r, buf, sizeof buf, 0));
	int t = socket(AF_UNIX, SOCK_DGRAM, 0);
	R("connect r to s", connect(r, (struct sockaddr *)&b, len));
	R("sendto from stranger", sendto(t, "x", 1, 0, (struct sockaddr *)&a, alen));
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	R("disconnect", connect(r, &unspec, sizeof unspec));
	R("sendto from stranger", sendto(t, "x", 1, 0, (struct sockaddr *)&a, alen));
	R("sendto missing", sendto(t, "x", 1, 0, (struct sockaddr *)&b, unaddr(&b, "/tmp/none.s", 0)));
	R("sendto bad family", sendto(t, "x", 1, MSG_DONTWAIT, &unspec, sizeof unspec));
	R("sendto too long addr", sendto(t, "x", 1, 0, (struct sockaddr *)&a, 200));
	/* The queue holds 10 datagrams from those not connected back. */
	int n = 0;
	while (sendto(t, "q", 1, MSG_DONTWAIT, (struct sockaddr *)&a, alen) == 1 && n < 100)
		n++;
	printf("queued %d then %s\n", n, errname(errno));
	struct pollfd pf = {t, POLLOUT, 0};
	R("poll stranger", poll(&pf, 1, 0));
	int sz = 0;
	R("FIONREAD", ioctl(r, FIONREAD, &sz));
	printf("fionread %d\n", sz);
	int big = 300000;
	char *huge = malloc(big);
	memset(huge, 'h', big);
	R("send too big", sendto(t, huge, big, 0, (struct sockaddr *)&a, alen));
	free(huge);
	close(r);
	R("send to closed peer", send(s, "x", 1, 0));
	R("send again", send(s, "x", 1, 0));
	close(s);
	close(t);
}

static void shutdowns(void)
{
	int sv[2];
	char buf[16];
	printf("-- shutdown\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	R("shutdown bad", shutdown(sv[0], 7));
	R("write", write(sv[0], "data", 4));
	R("shutdown WR", shutdown(sv[0], SHUT_WR));
	sigpipes = 0;
	R("write after SHUT_WR", write(sv[0], "x", 1));
	printf("sigpipes %d\n", sigpipes);
	R("send MSG_NOSIGNAL", send(sv[0], "x", 1, MSG_NOSIGNAL));
	printf("sigpipes %d\n", sigpipes);
	R("peer reads data", read(sv[1], buf, sizeof buf));
	R("peer reads eof", read(sv[1], buf, sizeof buf));
	struct pollfd pf[2] = {{sv[0], POLLIN | POLLOUT | POLLRDHUP, 0}, {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0}};
	R("poll", poll(pf, 2, 0));
	printf("revents %#x %#x\n", pf[0].revents, pf[1].revents);
	R("peer writes", write(sv[1], "back", 4));
	R("read back", read(sv[0], buf, sizeof buf));
	R("shutdown RD", shutdown(sv[1], SHUT_RD));
	R("write to shut reader", send(sv[0], "x", 1, MSG_NOSIGNAL));
	R("poll", poll(pf, 2, 0));
	printf("revents %#x %#x\n", pf[0].revents, pf[1].revents);
	close(sv[0]);
	close(sv[1]);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	R("shutdown unconnected", shutdown(s, SHUT_RDWR));
	R("read unconnected", read(s, buf, 1));
	R("write unconnected", write(s, buf, 1));
	struct pollfd p1 = {s, POLLIN | POLLOUT, 0};
	R("poll unconnected", poll(&p1, 1, 0));
	printf("revents %#x\n", p1.revents);
	close(s);
	/* Closing with unread data: the peer reads ECONNRESET. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[1], "unread", 6);
	write(sv[0], "pending", 7);
	close(sv[0]);
	R("read pending", read(sv[1], buf, sizeof buf));
	R("read reset", read(sv[1], buf, sizeof buf));
	R("read eof", read(sv[1], buf, sizeof buf));
	close(sv[1]);
	/* seqpacket: EPIPE without SIGPIPE? */
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
	close(sv[1]);
	sigpipes = 0;
	R("seqpacket write to closed", write(sv[0], "x", 1));
	printf("sigpipes %d\n", sigpipes);
	close(sv[0]);
}

static void nonblocking(void)
{
	int sv[2];
	char buf[4096];
	printf("-- nonblocking\n");
	R("socketpair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	R("F_GETFL nonblock", !!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
	R("read empty", read(sv[0], buf, 1));
	R("recv MSG_DONTWAIT", recv(sv[0], buf, 1, MSG_DONTWAIT));
	struct pollfd pf = {sv[0], POLLIN | POLLOUT, 0};
	R("poll", poll(&pf, 1, 0));
	printf("revents %#x\n", pf.revents);
	long total = 0;
	ssize_t n;
	memset(buf, 'z', sizeof buf);
	while ((n = write(sv[0], buf, sizeof buf)) > 0)
		total += n;
	printf("filled %d then %s\n", total > 100000 && total < 1000000, errname(errno));
	R("poll full", poll(&pf, 1, 0));
	printf("revents %#x\n", pf.revents);
	long got = 0;
	while ((n = read(sv[1], buf, sizeof buf)) > 0)
		got += n;
	printf("drained same %d then %s\n", got == total, errname(errno));
	R("poll drained", poll(&pf, 1, 0));
	printf("revents %#x\n", pf.revents);
	int v = 0;
	socklen_t len = sizeof v;
	R("SO_SNDBUF", getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
	printf("sndbuf %d\n", v);
	v = 10000;
	R("set SO_SNDBUF", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
	R("SO_SNDBUF", getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
	printf("sndbuf %d\n", v);
	v = 1;
	R("set SO_SNDBUF tiny", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
	R("SO_SNDBUF", getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
	printf("sndbuf %d\n", v);
	v = 1;
	R("set SO_RCVBUF tiny", setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
	R("SO_RCVBUF", getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, &len));
	printf("rcvbuf %d\n", v);
	R("set short", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, 2));
	R("set unknown", setsockopt(sv[0], SOL_SOCKET, 9999, &v, sizeof v));
	R("get unknown", getsockopt(sv[0], SOL_SOCKET, 9999, &v, &len));
	R("set other level", setsockopt(sv[0], 6, 1, &v, sizeof v));
	R("SO_REUSEADDR", setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
	R("SO_REUSEADDR", getsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &v, &len));
	printf("reuseaddr %d\n", v);
	struct linger lg = {1, 5};
	R("SO_LINGER", setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	memset(&lg, 0, sizeof lg);
	len = sizeof lg;
	R("SO_LINGER", getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, &len));
	printf("linger %d %d len %u\n", lg.l_onoff, lg.l_linger, (unsigned)len);
	R("SO_ERROR", getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &len));
	printf("error %d\n", v);
	close(sv[0]);
	close(sv[1]);
	/* A receive timeout. */
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	struct timeval tv = {0, 50000};
	R("SO_RCVTIMEO", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	memset(&tv, 0, sizeof tv);
	len = sizeof tv;
	R("SO_RCVTIMEO", getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &len));
	printf("rcvtimeo %ld.%06ld len %u\n", (long)tv.tv_sec, (long)tv.tv_usec, (unsigned)len);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	R("recv times out", recv(sv[0], buf, 1, 0));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("waited enough %d\n", ms >= 45);
	tv.tv_usec = 2000000;
	R("SO_RCVTIMEO bad usec", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	R("SO_RCVTIMEO short", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, 8));
	close(sv[0]);
	close(sv[1]);
}

static void onalarm(int sig)
{
	(void)sig;
}

static void blocking(void)
{
	int sv[2];
	char buf[8];
	printf("-- blocking\n");
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		write(sv[1], "late", 4);
		_exit(0);
	}
	memset(buf, 0, sizeof buf);
	R("blocking read", read(sv[0], buf, sizeof buf));
	printf("got %s\n", buf);
	waitpid(pid, NULL, 0);
	struct sigaction sa = {.sa_handler = onalarm};
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	R("read interrupted", read(sv[0], buf, sizeof buf));
	close(sv[0]);
	close(sv[1]);
}


static void transfers(void)
{
	int sv[2];
	printf("-- transfers\n");
	/* A megabyte through a small buffer, from a forked writer, checked. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int v = 8192;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
	enum { total = 1 << 20 };
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[1]);
		static unsigned char out[total];
		for (int i = 0; i < total; i++)
			out[i] = (unsigned char)(i * 7 + i / 251);
		ssize_t n = write(sv[0], out, total);
		_exit(n == total ? 0 : 1);
	}
	close(sv[0]);
	static unsigned char in[total];
	long got = 0;
	ssize_t n;
	while ((n = read(sv[1], in + got, total - got)) > 0)
		got += n;
	int bad = 0;
	for (int i = 0; i < total; i++)
		bad += in[i] != (unsigned char)(i * 7 + i / 251);
	int status;
	waitpid(pid, &status, 0);
	printf("got %ld bad %d writer status %d\n", got, bad, status);
	close(sv[1]);
	/* MSG_WAITALL waits for the whole buffer. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 4; i++) {
			usleep(20000);
			write(sv[0], "ab", 2);
		}
		_exit(0);
	}
	char buf[16] = {0};
	R("recv MSG_WAITALL", recv(sv[1], buf, 8, MSG_WAITALL));
	printf("got %s\n", buf);
	waitpid(pid, NULL, 0);
	/* MSG_PEEK across messages. */
	write(sv[0], "12", 2);
	write(sv[0], "345", 3);
	memset(buf, 0, sizeof buf);
	R("peek across", recv(sv[1], buf, sizeof buf, MSG_PEEK));
	printf("got %s\n", buf);
	R("FIONREAD", ioctl(sv[1], FIONREAD, &v));
	printf("fionread %d\n", v);
	struct iovec iov[3] = {{buf, 1}, {buf + 4, 2}, {buf + 8, 5}};
	memset(buf, '.', sizeof buf);
	buf[15] = 0;
	R("readv", readv(sv[1], iov, 3));
	printf("got %s\n", buf);
	struct iovec wv[2] = {{"wr", 2}, {"itev", 4}};
	R("writev", writev(sv[0], wv, 2));
	memset(buf, 0, sizeof buf);
	R("read", read(sv[1], buf, sizeof buf));
	printf("got %s\n", buf);
	close(sv[0]);
	close(sv[1]);
	/* sendmmsg and recvmmsg. */
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	struct mmsghdr mm[3];
	struct iovec mi[3] = {{"one", 3}, {"three", 5}, {"five!", 5}};
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		mm[i].msg_hdr.msg_iov = &mi[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	R("sendmmsg", sendmmsg(sv[0], mm, 3, 0));
	printf("lens %u %u %u\n", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
	char rb[3][8];
	struct iovec ri[3] = {{rb[0], 8}, {rb[1], 4}, {rb[2], 8}};
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		mm[i].msg_hdr.msg_iov = &ri[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	R("recvmmsg", recvmmsg(sv[1], mm, 3, MSG_DONTWAIT, NULL));
	printf("lens %u %u %u trunc %d\n", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len, !!(mm[1].msg_hdr.msg_flags & MSG_TRUNC));
	write(sv[0], "w1", 2);
	R("recvmmsg WAITFORONE", recvmmsg(sv[1], mm, 3, MSG_WAITFORONE, NULL));
	R("recvmmsg empty", recvmmsg(sv[1], mm, 3, MSG_DONTWAIT, NULL));
	close(sv[0]);
	close(sv[1]);
}

static void onusr1(int sig)
{
	(void)sig;
}

static void restarts(void)
{
	int sv[2];
	char buf[8];
	printf("-- restarts\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct sigaction sa = {.sa_handler = onusr1, .sa_flags = SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		usleep(50000);
		write(sv[1], "after", 5);
		_exit(0);
	}
	memset(buf, 0, sizeof buf);
	R("read restarted", read(sv[0], buf, sizeof buf));
	printf("got %s\n", buf);
	waitpid(pid, NULL, 0);
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, NULL);
	pid = fork();
	if (pid == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	R("read interrupted", read(sv[0], buf, sizeof buf));
	waitpid(pid, NULL, 0);
	/* A timeout set makes even SA_RESTART's read EINTR. */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	struct timeval tv = {5, 0};
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	pid = fork();
	if (pid == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	R("read with timeout interrupted", read(sv[0], buf, sizeof buf));
	waitpid(pid, NULL, 0);
	/* accept restarts too. */
	struct sockaddr_un a;
	socklen_t alen = unaddr(&a, "mmvm-restart", 1);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, alen);
	listen(l, 1);
	pid = fork();
	if (pid == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		usleep(50000);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		connect(c, (struct sockaddr *)&a, alen);
		write(c, "hi", 2);
		_exit(0);
	}
	int acc = accept(l, NULL, NULL);
	printf("accept restarted %d\n", acc >= 0);
	memset(buf, 0, sizeof buf);
	R("read", read(acc, buf, sizeof buf));
	printf("got %s\n", buf);
	waitpid(pid, NULL, 0);
	close(acc);
	close(l);
	close(sv[0]);
	close(sv[1]);
}

static void inherit(char *self)
{
	int sv[2];
	char buf[32];
	printf("-- exec\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int cl[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cl);
	pid_t pid = fork();
	if (pid == 0) {
		char fd[16], fd2[16];
		snprintf(fd, sizeof fd, "%d", sv[1]);
		snprintf(fd2, sizeof fd2, "%d", cl[1]);
		execl(self, self, "child", fd, fd2, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	close(cl[1]);
	memset(buf, 0, sizeof buf);
	R("read from exec'd child", read(sv[0], buf, sizeof buf));
	printf("got %s\n", buf);
	R("cloexec pair sees eof", read(cl[0], buf, sizeof buf));
	int status;
	waitpid(pid, &status, 0);
	printf("child status %d\n", status);
	close(sv[0]);
	close(cl[0]);
}

static void epolls(void)
{
	printf("-- epoll and select\n");
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.fd = sv[1]};
	R("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	struct epoll_event out[2];
	R("epoll_wait empty", epoll_wait(ep, out, 2, 0));
	write(sv[0], "x", 1);
	R("epoll_wait", epoll_wait(ep, out, 2, 0));
	printf("events %#x\n", out[0].events);
	R("epoll_wait edge gone", epoll_wait(ep, out, 2, 0));
	write(sv[0], "y", 1);
	R("epoll_wait new edge", epoll_wait(ep, out, 2, 0));
	pid_t pid = fork();
	if (pid == 0) {
		usleep(50000);
		close(sv[0]);
		_exit(0);
	}
	close(sv[0]);
	R("epoll_wait hangup", epoll_wait(ep, out, 2, 2000));
	printf("events %#x\n", out[0].events);
	waitpid(pid, NULL, 0);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(sv[1], &rs);
	struct timeval tv = {0, 0};
	R("select", select(sv[1] + 1, &rs, NULL, NULL, &tv));
	close(ep);
	close(sv[1]);
}

static void hostile(void)
{
	printf("-- bad arguments\n");
	int sv[2];
	char buf[16];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	struct iovec iov = {buf, sizeof buf};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	R("sendmsg bad msghdr", syscall(SYS_sendmsg, sv[0], (struct msghdr *)8, 0L));
	m.msg_iovlen = 1025;
	R("sendmsg too many iovs", syscall(SYS_sendmsg, sv[0], &m, 0L));
	m.msg_iovlen = 1;
	m.msg_iov = (struct iovec *)8;
	R("sendmsg bad iov", syscall(SYS_sendmsg, sv[0], &m, 0L));
	m.msg_iov = &iov;
	iov.iov_base = (void *)8;
	R("sendmsg bad buffer", syscall(SYS_sendmsg, sv[0], &m, 0L));
	iov.iov_base = buf;
	m.msg_control = (void *)8;
	m.msg_controllen = 64;
	R("sendmsg bad control", syscall(SYS_sendmsg, sv[0], &m, 0L));
	unsigned long huge = 1UL << 40; /* musl's msg_controllen is 32 bits and padding */
	memcpy((char *)&m + offsetof(struct msghdr, msg_controllen), &huge, sizeof huge);
	R("sendmsg huge controllen", syscall(SYS_sendmsg, sv[0], &m, 0L));
	m.msg_control = NULL;
	huge = 0;
	memcpy((char *)&m + offsetof(struct msghdr, msg_controllen), &huge, sizeof huge);
	m.msg_name = buf;
	m.msg_namelen = -1;
	R("sendmsg negative namelen", syscall(SYS_sendmsg, sv[0], &m, 0L));
	m.msg_name = NULL;
	m.msg_namelen = 0;
	R("send ok", send(sv[0], "ok", 2, 0));
	R("recv bad buffer", recv(sv[1], (void *)8, 2, 0));
	R("send ok", send(sv[0], "ok", 2, 0));
	socklen_t len = sizeof buf;
	R("recvfrom bad addrlen", recvfrom(sv[1], buf, 2, 0, (struct sockaddr *)&m, (socklen_t *)8));
	R("getsockname bad len", getsockname(sv[0], (struct sockaddr *)buf, (socklen_t *)8));
	R("getsockopt bad len", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, buf, (socklen_t *)8));
	len = 2;
	int v = 0x7f7f7f7f;
	R("getsockopt short", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len));
	printf("v %#x len %u\n", v, (unsigned)len);
	R("setsockopt bad value", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, (void *)8, 4));
	R("connect bad addr", connect(sv[0], (struct sockaddr *)8, 10));
	R("bind negative len", bind(sv[0], (struct sockaddr *)buf, -1));
	close(sv[0]);
	close(sv[1]);
}

static void permissions(void)
{
	struct sockaddr_un a, b;
	socklen_t alen = unaddr(&a, "/tmp/perm.s", 0);
	printf("-- permissions\n");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	R("bind", bind(l, (struct sockaddr *)&a, alen));
	R("listen", listen(l, 4));
	R("mkdir", mkdir("/tmp/rootdir", 0755));
	pid_t pid = fork();
	if (pid == 0) {
		if (setuid(1000) != 0)
			_exit(9);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		R("connect to 0755 as 1000", connect(c, (struct sockaddr *)&a, alen));
		R("bind in root's 0755 dir as 1000", bind(c, (struct sockaddr *)&b, unaddr(&b, "/tmp/rootdir/x.s", 0)));
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child status %d\n", status);
	R("chmod 0777", chmod("/tmp/perm.s", 0777));
	pid = fork();
	if (pid == 0) {
		if (setuid(1000) != 0)
			_exit(9);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		R("connect to 0777 as 1000", connect(c, (struct sockaddr *)&a, alen));
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("child status %d\n", status);
	close(l);
}

static void splices(void)
{
	int sv[2], p[2];
	char buf[32];
	printf("-- sendfile and splice\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int fd = open("/tmp/sendfile.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
	write(fd, "sendfile data", 13);
	off_t off = 4;
	R("sendfile to a socket", sendfile(sv[0], fd, &off, 100));
	printf("off %ld\n", (long)off);
	memset(buf, 0, sizeof buf);
	R("read", read(sv[1], buf, sizeof buf));
	printf("got %s\n", buf);
	pipe(p);
	write(sv[0], "spliced", 7);
	R("splice socket to pipe", splice(sv[1], NULL, p[1], NULL, 64, 0));
	memset(buf, 0, sizeof buf);
	R("read pipe", read(p[0], buf, sizeof buf));
	printf("got %s\n", buf);
	write(p[1], "back", 4);
	R("splice pipe to socket", splice(p[0], NULL, sv[0], NULL, 64, 0));
	memset(buf, 0, sizeof buf);
	R("read", read(sv[1], buf, sizeof buf));
	printf("got %s\n", buf);
	R("splice empty socket nonblock", splice(sv[1], NULL, p[1], NULL, 64, SPLICE_F_NONBLOCK));
	close(sv[1]);
	sigpipes = 0;
	lseek(fd, 0, SEEK_SET);
	R("sendfile to a closed peer", sendfile(sv[0], fd, NULL, 5));
	printf("sigpipes %d\n", sigpipes);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
	close(fd);
}

static void errors(void)
{
	printf("-- errors\n");
	R("socket inet", socket(AF_INET6 + 100, SOCK_STREAM, 0));
	R("socket bad type", socket(AF_UNIX, 99, 0));
	R("socket bad flags", socket(AF_UNIX, SOCK_STREAM | 0x100, 0));
	R("socket bad protocol", socket(AF_UNIX, SOCK_STREAM, 7));
	R("socket rdm", socket(AF_UNIX, SOCK_RDM, 0));
	int r = socket(AF_UNIX, SOCK_RAW, 0);
	int v;
	socklen_t len = sizeof v;
	getsockopt(r, SOL_SOCKET, SO_TYPE, &v, &len);
	printf("raw is type %d\n", v);
	close(r);
	R("socketpair bad family", socketpair(AF_UNIX + 100, SOCK_STREAM, 0, (int[2]){0}));
	R("socketpair bad pointer", syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, 8L));
	R("bind on pipe", bind(0, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "x"}, 5));
	R("bind bad fd", bind(999, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "x"}, 5));
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a = {AF_UNIX, "x"};
	R("bind short", bind(s, (struct sockaddr *)&a, 1));
	R("bind long", bind(s, (struct sockaddr *)&a, sizeof a + 1));
	R("bind too long", bind(s, (struct sockaddr *)&a, 200));
	a.sun_family = AF_INET;
	R("bind bad family", bind(s, (struct sockaddr *)&a, 5));
	R("listen dgram", listen(s, 1));
	R("accept dgram", accept(s, NULL, NULL));
	R("getpeername unconnected", getpeername(s, NULL, NULL));
	R("recv unconnected dgram nonblock", recv(s, &v, 1, MSG_DONTWAIT));
	R("send unconnected dgram", send(s, "x", 1, 0));
	close(s);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	R("send unconnected stream", send(s, "x", 1, MSG_NOSIGNAL));
	R("recv unconnected stream", recv(s, &v, 1, 0));
	R("connect bad family", connect(s, (struct sockaddr *)&a, 5));
	R("recv oob", recv(s, &v, 1, MSG_OOB));
	close(s);
	s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	R("send unconnected seqpacket", send(s, "x", 1, 0));
	R("recv unconnected seqpacket", recv(s, &v, 1, 0));
	close(s);
	R("getsockopt not socket", getsockopt(0, SOL_SOCKET, SO_TYPE, &v, &len));
	R("shutdown not socket", shutdown(1, SHUT_RD));
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "child") == 0) {
		int fd = atoi(argv[2]), fd2 = atoi(argv[3]);
		char name[64], link[64];
		snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(name, link, sizeof link - 1);
		int ok = n > 8 && strncmp(link, "socket:[", 8) == 0;
		dprintf(fd, "exec %s %s", ok ? "socket" : "?", fcntl(fd2, F_GETFD) < 0 ? "closed" : "open");
		return 3;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = {.sa_handler = onpipe};
	sigaction(SIGPIPE, &sa, NULL);
	pairs();
	forked();
	rights();
	named(0);
	named(1);
	dgrams();
	shutdowns();
	nonblocking();
	blocking();
	transfers();
	restarts();
	inherit(argv[0]);
	epolls();
	hostile();
	permissions();
	splices();
	errors();
	return 0;
}
