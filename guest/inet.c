/*
 * inet: AF_INET and AF_INET6 sockets on lo as a program uses them. TCP:
 * bind (127.0.0.0/8, any, ::1, v4-mapped, conflicts, SO_REUSEADDR, an
 * ephemeral port, a privileged port as uid 1000), listen, a nonblocking
 * connect (EINPROGRESS, then writable, SO_ERROR), accept4, names, data
 * both ways with MSG_PEEK and MSG_WAITALL, shutdown, end of file, a reset
 * by a close with unread data, EPIPE and SIGPIPE, ECONNREFUSED and
 * ENETUNREACH, a forked client, epoll and select readiness. UDP:
 * sendto/recvfrom names, boundaries, MSG_TRUNC, connected sockets and the
 * ECONNREFUSED their next call reports. Struct sizes and option values.
 * It prints only what the QEMU guest's kernel (6.1) and newer ones answer
 * alike, errors by name; the test compares it with its native run.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "include/errname.h"

static int sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

/* name prints a sockaddr: its family, address and port ("eph" for an
 * ephemeral one). */
static void name(const char *what, const struct sockaddr_storage *ss, socklen_t len)
{
	char buf[64] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
		port = ntohs(sin6->sin6_port);
	}
	if (port >= 32768 && port <= 60999)
		printf("%s: len %u family %d %s port eph\n", what, (unsigned)len, ss->ss_family, buf);
	else
		printf("%s: len %u family %d %s port %d\n", what, (unsigned)len, ss->ss_family, buf, port);
}

static void sockname(const char *what, int fd, int peer)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t len = sizeof ss;
	int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
	if (rc < 0) {
		printf("%s: %s\n", what, res(rc));
		return;
	}
	name(what, &ss, len);
}

static struct sockaddr_in sin4(const char *a, int port)
{
	struct sockaddr_in s;
	memset(&s, 0, sizeof s);
	s.sin_family = AF_INET;
	s.sin_port = htons(port);
	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 sin6(const char *a, int port)
{
	struct sockaddr_in6 s;
	memset(&s, 0, sizeof s);
	s.sin6_family = AF_INET6;
	s.sin6_port = htons(port);
	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

#define SA(x) ((struct sockaddr *)&(x)), sizeof(x)

static int intopt(int fd, int level, int opt)
{
	int v = -7;
	socklen_t len = sizeof v;
	if (getsockopt(fd, level, opt, &v, &len) < 0)
		return -1000 - errno;
	return v;
}

static void pollfd(const char *what, int fd)
{
	struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDHUP, 0};
	int rc = poll(&p, 1, 0);
	printf("%s: %s", what, res(rc));
	if (rc > 0)
		printf(" %s%s%s%s%s", p.revents & POLLIN ? "IN " : "", p.revents & POLLOUT ? "OUT " : "",
		       p.revents & POLLERR ? "ERR " : "", p.revents & POLLHUP ? "HUP " : "", p.revents & POLLRDHUP ? "RDHUP" : "");
	printf("\n");
}

static void recvtext(const char *what, int fd, size_t n, int flags)
{
	char buf[256];
	ssize_t r = recv(fd, buf, n, flags);
	printf("%s: %s", what, res(r));
	if (r > 0)
		printf(" \"%.*s\"", (int)(r < (ssize_t)n ? r : (ssize_t)n), buf);
	printf("\n");
}

static void sizes(void)
{
	printf("sizes: sockaddr_in %zu sockaddr_in6 %zu sockaddr_storage %zu in6_addr %zu linger %zu\n",
	       sizeof(struct sockaddr_in), sizeof(struct sockaddr_in6), sizeof(struct sockaddr_storage),
	       sizeof(struct in6_addr), sizeof(struct linger));
}

static void creation(void)
{
	struct {
		int fam, type, proto;
	} c[] = {
		{AF_INET, SOCK_STREAM, 0}, {AF_INET, SOCK_STREAM, IPPROTO_TCP}, {AF_INET, SOCK_STREAM, IPPROTO_UDP},
		{AF_INET, SOCK_DGRAM, 0}, {AF_INET, SOCK_DGRAM, IPPROTO_TCP}, {AF_INET, SOCK_SEQPACKET, 0},
		{AF_INET6, SOCK_STREAM, 0}, {AF_INET6, SOCK_DGRAM, IPPROTO_UDP}, {AF_INET, SOCK_STREAM, -1},
	};
	for (unsigned i = 0; i < sizeof c / sizeof c[0]; i++) {
		int fd = socket(c[i].fam, c[i].type, c[i].proto);
		printf("socket(%d, %d, %d): %s", c[i].fam, c[i].type, c[i].proto, fd < 0 ? res(fd) : "fd");
		if (fd >= 0) {
			printf(" type %d domain %d protocol %d", intopt(fd, SOL_SOCKET, SO_TYPE),
			       intopt(fd, SOL_SOCKET, SO_DOMAIN), intopt(fd, SOL_SOCKET, SO_PROTOCOL));
			close(fd);
		}
		printf("\n");
	}
	int sv[2];
	printf("socketpair inet: %s\n", res(socketpair(AF_INET, SOCK_STREAM, 0, sv)));
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	printf("nonblock cloexec: fl %d fd %d\n", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, fcntl(fd, F_GETFD));
	printf("options: nodelay %d keepalive %d reuseaddr %d error %d v6only(inet) %d\n", intopt(fd, IPPROTO_TCP, TCP_NODELAY),
	       intopt(fd, SOL_SOCKET, SO_KEEPALIVE), intopt(fd, SOL_SOCKET, SO_REUSEADDR), intopt(fd, SOL_SOCKET, SO_ERROR),
	       intopt(fd, IPPROTO_IPV6, IPV6_V6ONLY) == -1000 - ENOPROTOOPT || intopt(fd, IPPROTO_IPV6, IPV6_V6ONLY) == -1000 - EOPNOTSUPP);
	int one = 1, nine = 9, big = 1000;
	printf("set nodelay %s", res(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)));
	printf(" keepalive %s", res(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one)));
	printf(" keepcnt %s", res(setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &nine, sizeof nine)));
	printf(" keepcnt 1000 %s", res(setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &big, sizeof big)));
	printf(" keepidle %s", res(setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &big, sizeof big)));
	printf(" keepintvl %s\n", res(setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &nine, sizeof nine)));
	printf("now: nodelay %d keepalive %d keepcnt %d keepidle %d keepintvl %d ttl %d\n", intopt(fd, IPPROTO_TCP, TCP_NODELAY),
	       intopt(fd, SOL_SOCKET, SO_KEEPALIVE), intopt(fd, IPPROTO_TCP, TCP_KEEPCNT), intopt(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	       intopt(fd, IPPROTO_TCP, TCP_KEEPINTVL), intopt(fd, IPPROTO_IP, IP_TTL));
	struct linger lg = {1, 5};
	socklen_t ll = sizeof lg;
	printf("linger: %s", res(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg)));
	memset(&lg, 0, sizeof lg);
	int rc = getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &ll);
	printf(" %s %d %d len %u\n", res(rc), lg.l_onoff, lg.l_linger, (unsigned)ll);
	sockname("unbound name", fd, 0);
	sockname("unbound peer", fd, 1);
	printf("send unconnected: %s\n", res(send(fd, "x", 1, MSG_NOSIGNAL)));
	printf("recv unconnected: %s\n", res(recv(fd, (char[4]){0}, 4, 0)));
	close(fd);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	printf("inet6: v6only %d\n", intopt(fd, IPPROTO_IPV6, IPV6_V6ONLY));
	sockname("unbound name6", fd, 0);
	close(fd);
}

static void binds(void)
{
	int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in s = sin4("127.0.0.1", 20101);
	printf("bind short: %s\n", res(bind(a, (struct sockaddr *)&s, 15)));
	struct sockaddr_in off = sin4("10.0.0.1", 20101);
	printf("bind 10.0.0.1: %s\n", res(bind(a, SA(off))));
	printf("bind 127.0.0.1: %s\n", res(bind(a, SA(s))));
	sockname("bound", a, 0);
	printf("bind again: %s\n", res(bind(a, SA(s))));
	printf("bind taken: %s\n", res(bind(b, SA(s))));
	struct sockaddr_in any = sin4("0.0.0.0", 20101);
	printf("bind any taken: %s\n", res(bind(b, SA(any))));
	struct sockaddr_in other = sin4("127.0.0.2", 20101);
	printf("bind 127.0.0.2: %s\n", res(bind(b, SA(other))));
	close(a);
	close(b);
	a = socket(AF_INET, SOCK_STREAM, 0);
	b = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	s = sin4("127.0.0.1", 20102);
	printf("reuseaddr: %s", res(bind(a, SA(s))));
	printf(" %s", res(bind(b, SA(s))));
	printf(" listen %s", res(listen(a, 1)));
	printf(" listen %s\n", res(listen(b, 1)));
	close(a);
	close(b);
	a = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in zero = sin4("0.0.0.0", 0);
	printf("bind port 0: %s\n", res(bind(a, SA(zero))));
	sockname("ephemeral", a, 0);
	close(a);
	a = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 l6 = sin6("::1", 20103);
	int rc = bind(a, SA(l6));
	printf("bind ::1: %s v6only now %d\n", res(rc), intopt(a, IPPROTO_IPV6, IPV6_V6ONLY));
	sockname("bound6", a, 0);
	close(a);
	a = socket(AF_INET6, SOCK_STREAM, 0);
	b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in6 any6 = sin6("::", 20104);
	s = sin4("127.0.0.1", 20104);
	printf("dual: %s", res(bind(a, SA(any6))));
	printf(" inet same port %s\n", res(bind(b, SA(s))));
	close(a);
	close(b);
	a = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 m = sin6("::ffff:127.0.0.1", 20105);
	printf("v6only set: %s", res(setsockopt(a, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)));
	printf(" bind v4-mapped %s\n", res(bind(a, SA(m))));
	close(a);
	a = socket(AF_INET6, SOCK_STREAM, 0);
	printf("bind v4-mapped: %s\n", res(bind(a, SA(m))));
	sockname("mapped", a, 0);
	struct sockaddr_in6 doc = sin6("2001:db8::1", 20106);
	b = socket(AF_INET6, SOCK_STREAM, 0);
	printf("bind 2001:db8::1: %s\n", res(bind(b, SA(doc))));
	close(a);
	close(b);
	/* A privileged port needs CAP_NET_BIND_SERVICE: a child as uid 1000. */
	pid_t pid = fork();
	if (pid == 0) {
		if (setuid(1000) < 0)
			_exit(1);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in p = sin4("127.0.0.1", 80);
		printf("bind 80 as uid 1000: %s\n", res(bind(fd, SA(p))));
		p = sin4("127.0.0.1", 1024);
		printf("bind 1024 as uid 1000: %s\n", res(bind(fd, SA(p))));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	a = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in p = sin4("127.0.0.1", 80);
	printf("bind 80 as root: %s\n", res(bind(a, SA(p))));
	close(a);
}

static void tcp(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in s = sin4("127.0.0.1", 20110);
	printf("listener: %s", res(bind(l, SA(s))));
	int rc = listen(l, 8);
	printf(" %s acceptconn %d\n", res(rc), intopt(l, SOL_SOCKET, SO_ACCEPTCONN));
	pollfd("poll listener", l);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	printf("connect nonblocking: %s\n", res(connect(c, SA(s))));
	struct pollfd pw = {c, POLLOUT, 0};
	printf("poll for writable: %s", res(poll(&pw, 1, 5000)));
	printf(" %#x error %d\n", pw.revents, intopt(c, SOL_SOCKET, SO_ERROR));
	pollfd("poll listener with one", l);
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	int sv = accept4(l, (struct sockaddr *)&from, &fl, SOCK_CLOEXEC);
	printf("accept4: %s cloexec %d\n", sv < 0 ? res(sv) : "fd", fcntl(sv, F_GETFD));
	name("accepted from", &from, fl);
	printf("connect connected: %s\n", res(connect(c, SA(s))));
	sockname("client name", c, 0);
	sockname("client peer", c, 1);
	sockname("server name", sv, 0);
	sockname("server peer", sv, 1);
	pollfd("poll server", sv);
	printf("send: %s\n", res(send(c, "hello world", 11, 0)));
	pollfd("poll server with data", sv);
	int n = -1;
	rc = ioctl(sv, FIONREAD, &n);
	printf("FIONREAD: %s %d\n", res(rc), n);
	recvtext("recv peek", sv, 5, MSG_PEEK);
	recvtext("recv 5", sv, 5, 0);
	recvtext("recv waitall", sv, 6, MSG_WAITALL);
	recvtext("recv dontwait", sv, 6, MSG_DONTWAIT);
	struct iovec iov[2] = {{"ab", 2}, {"cdef", 4}};
	printf("writev: %s\n", res(writev(sv, iov, 2)));
	char buf[16];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	ssize_t r = recvfrom(c, buf, sizeof buf, 0, (struct sockaddr *)&ss, &sl);
	printf("recvfrom: %s \"%.*s\" addrlen %u\n", res(r), (int)(r > 0 ? r : 0), buf, (unsigned)sl);
	printf("shutdown SHUT_WR: %s\n", res(shutdown(c, SHUT_WR)));
	pollfd("poll after SHUT_WR", c);
	pollfd("poll peer of SHUT_WR", sv);
	recvtext("recv FIN", sv, 4, 0);
	printf("send after SHUT_WR: %s\n", res(send(c, "x", 1, MSG_NOSIGNAL)));
	printf("send to half-closed: %s\n", res(send(sv, "back", 4, 0)));
	recvtext("recv from half-closed", c, 10, 0);
	close(sv);
	recvtext("recv after both closed", c, 10, 0);
	close(c);

	/* Close with unread data resets the peer. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	printf("connect blocking: %s\n", res(connect(c, SA(s))));
	sv = accept(l, NULL, NULL);
	send(c, "unread", 6, 0);
	close(sv);
	pollfd("poll reset", c);
	recvtext("recv reset", c, 10, 0);
	recvtext("recv after reset", c, 10, 0);
	printf("send after reset: %s\n", res(send(c, "x", 1, MSG_NOSIGNAL)));
	close(c);

	/* A closed peer: one send goes, then EPIPE and SIGPIPE. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, SA(s));
	sv = accept(l, NULL, NULL);
	close(sv);
	pollfd("poll peer closed", c);
	printf("send to closed: %s\n", res(send(c, "x", 1, 0)));
	usleep(10000);
	printf("send again: %s", res(send(c, "x", 1, 0)));
	printf(" sigpipes %d\n", sigpipes);
	ssize_t wr = write(c, "x", 1);
	printf("write: %s sigpipes %d\n", res(wr), sigpipes);
	wr = send(c, "x", 1, MSG_NOSIGNAL);
	printf("send nosignal: %s sigpipes %d\n", res(wr), sigpipes);
	close(c);

	/* A forked client, bulk data through epoll. */
	pid_t pid = fork();
	if (pid == 0) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, SA(s)) < 0)
			_exit(2);
		static char big[1 << 20];
		for (size_t i = 0; i < sizeof big; i++)
			big[i] = (char)(i * 7);
		size_t off = 0;
		while (off < sizeof big) {
			ssize_t w = write(fd, big + off, sizeof big - off);
			if (w <= 0)
				_exit(3);
			off += w;
		}
		close(fd);
		_exit(0);
	}
	sv = accept(l, NULL, NULL);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = 7};
	epoll_ctl(ep, EPOLL_CTL_ADD, sv, &ev);
	unsigned long sum = 0, total = 0;
	int rdhup = 0;
	for (;;) {
		struct epoll_event got;
		if (epoll_wait(ep, &got, 1, 10000) != 1)
			break;
		static char rb[65536];
		ssize_t k = read(sv, rb, sizeof rb);
		if (k <= 0) {
			rdhup = (got.events & EPOLLRDHUP) != 0;
			break;
		}
		for (ssize_t i = 0; i < k; i++)
			sum = sum * 31 + (unsigned char)rb[i];
		total += k;
	}
	int st;
	waitpid(pid, &st, 0);
	printf("forked client: %lu bytes sum %lx rdhup %d exit %d\n", total, sum, rdhup, WEXITSTATUS(st));
	close(ep);
	close(sv);

	/* select sees a connection to accept. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, SA(s));
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(l, &rs);
	struct timeval tv = {1, 0};
	rc = select(l + 1, &rs, NULL, NULL, &tv);
	printf("select listener: %s readable %d\n", res(rc), FD_ISSET(l, &rs));
	close(c);
	close(l);

	/* No listener; off loopback. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in none = sin4("127.0.0.1", 20111);
	printf("connect refused: %s\n", res(connect(c, SA(none))));
	struct sockaddr_in far = sin4("10.1.2.3", 80);
	printf("connect 10.1.2.3: %s\n", res(connect(c, SA(far))));
	close(c);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	printf("connect refused nonblocking: %s\n", res(connect(c, SA(none))));
	struct pollfd pr = {c, POLLOUT, 0};
	printf("poll refused: %s", res(poll(&pr, 1, 5000)));
	printf(" %s%s error %d\n", pr.revents & POLLOUT ? "OUT " : "", pr.revents & POLLERR ? "ERR" : "", intopt(c, SOL_SOCKET, SO_ERROR));
	close(c);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 far6 = sin6("2001:db8::1", 80);
	printf("connect 2001:db8::1: %s\n", res(connect(c, SA(far6))));
	close(c);
}

static void dualstack(void)
{
	int l = socket(AF_INET6, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in6 any6 = sin6("::", 20120);
	printf("listener6: %s", res(bind(l, SA(any6))));
	printf(" %s\n", res(listen(l, 4)));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in s = sin4("127.0.0.1", 20120);
	printf("connect v4 to dual: %s\n", res(connect(c, SA(s))));
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	int sv = accept(l, (struct sockaddr *)&from, &fl);
	name("accepted v4", &from, fl);
	sockname("dual server name", sv, 0);
	close(sv);
	close(c);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 lo6 = sin6("::1", 20120);
	printf("connect ::1: %s\n", res(connect(c, SA(lo6))));
	fl = sizeof from;
	sv = accept(l, (struct sockaddr *)&from, &fl);
	name("accepted v6", &from, fl);
	printf("send6: %s\n", res(send(c, "six", 3, 0)));
	recvtext("recv6", sv, 10, 0);
	close(sv);
	close(c);
	close(l);
}

static void udp(void)
{
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in s = sin4("127.0.0.1", 20130);
	printf("udp bind: %s\n", res(bind(rx, SA(s))));
	pollfd("poll udp", rx);
	printf("send no address: %s\n", res(send(tx, "x", 1, 0)));
	printf("sendto: %s\n", res(sendto(tx, "datagram", 8, 0, SA(s))));
	sockname("udp autobound", tx, 0);
	struct sockaddr_in zero = sin4("127.0.0.1", 0);
	printf("sendto port 0: %s\n", res(sendto(tx, "x", 1, 0, SA(zero))));
	struct sockaddr_in far = sin4("10.0.0.1", 9);
	printf("sendto 10.0.0.1: %s\n", res(sendto(tx, "x", 1, 0, SA(far))));
	static char huge[65508];
	printf("sendto 65508: %s\n", res(sendto(tx, huge, sizeof huge, 0, SA(s))));
	pollfd("poll udp with one", rx);
	int n = -1;
	int rc = ioctl(rx, FIONREAD, &n);
	printf("FIONREAD: %s %d\n", res(rc), n);
	char buf[16];
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	ssize_t r = recvfrom(rx, buf, 4, MSG_TRUNC, (struct sockaddr *)&from, &fl);
	printf("recvfrom truncated: %s \"%.4s\"\n", res(r), buf);
	name("from", &from, fl);
	sendto(tx, "one", 3, 0, SA(s));
	sendto(tx, "two", 3, 0, SA(s));
	sendto(tx, "", 0, 0, SA(s));
	struct iovec iov = {buf, 2};
	struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
	r = recvmsg(rx, &mh, 0);
	printf("recvmsg short: %s flags %s namelen %u\n", res(r), mh.msg_flags & MSG_TRUNC ? "TRUNC" : "-", (unsigned)mh.msg_namelen);
	recvtext("recv two", rx, 10, 0);
	recvtext("recv empty", rx, 10, 0);
	recvtext("recv none", rx, 10, MSG_DONTWAIT);

	struct sockaddr_in gone = sin4("127.0.0.1", 20131);
	printf("connect to no socket: %s\n", res(connect(rx, SA(gone))));
	sockname("connected name", rx, 0);
	sockname("connected peer", rx, 1);
	printf("sendto filtered: %s\n", res(sendto(tx, "x", 1, 0, SA(s))));
	recvtext("recv filtered", rx, 10, MSG_DONTWAIT);
	printf("send to no socket: %s\n", res(send(rx, "x", 1, 0)));
	usleep(10000);
	pollfd("poll refused", rx);
	recvtext("recv refused", rx, 10, MSG_DONTWAIT);
	printf("send: %s\n", res(send(rx, "x", 1, 0)));
	usleep(10000);
	printf("send refused: %s\n", res(send(rx, "x", 1, 0)));
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	printf("disconnect: %s\n", res(connect(rx, &unspec, sizeof unspec)));
	sockname("disconnected peer", rx, 1);
	printf("connect tx: %s\n", res(connect(tx, SA(s))));
	printf("send connected: %s\n", res(send(tx, "abc", 3, 0)));
	fl = sizeof from;
	r = recvfrom(rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	printf("recv connected: %s \"%.*s\"\n", res(r), (int)(r > 0 ? r : 0), buf);
	close(rx);
	close(tx);

	rx = socket(AF_INET6, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in6 any6 = sin6("::", 20132);
	printf("udp6 bind: %s\n", res(bind(rx, SA(any6))));
	s = sin4("127.0.0.1", 20132);
	printf("sendto dual: %s\n", res(sendto(tx, "v4", 2, 0, SA(s))));
	fl = sizeof from;
	r = recvfrom(rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	printf("recv dual: %s\n", res(r));
	name("from v4", &from, fl);
	close(rx);
	close(tx);
}

/* getifaddrs (netlink's dumps) and if_nametoindex (an ioctl): lo's
 * entries only, since the QEMU guest may have other interfaces. */
static void interfaces(void)
{
	struct ifaddrs *ifa;
	printf("getifaddrs: %s\n", res(getifaddrs(&ifa)));
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, "lo") != 0 || !i->ifa_addr)
			continue;
		int fam = i->ifa_addr->sa_family;
		char a[64] = "-", m[64] = "-";
		if (fam == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof a);
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, m, sizeof m);
		} else if (fam == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, sizeof a);
		} else {
			continue; /* AF_PACKET's: glibc has it, musl not */
		}
		printf("lo: family %d %s mask %s up %d loopback %d\n", fam, a, m, (i->ifa_flags & IFF_UP) != 0,
		       (i->ifa_flags & IFF_LOOPBACK) != 0);
	}
	freeifaddrs(ifa);
	char name[IF_NAMESIZE] = "";
	printf("if_nametoindex lo: %u if_indextoname 1: %s\n", if_nametoindex("lo"), if_indextoname(1, name) ? name : "-");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, on_sigpipe);
	sizes();
	creation();
	binds();
	tcp();
	dualstack();
	udp();
	interfaces();
	return 0;
}
