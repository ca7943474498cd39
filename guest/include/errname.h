/* errname.h: errno's symbolic name, for guests that print the errors
 * their calls get (glibc's strerrorname_np, which musl lacks). */
#ifndef GUEST_ERRNAME_H
#define GUEST_ERRNAME_H

#include <errno.h>
#include <stdio.h>

static __attribute__((unused)) const char *errname(int e) {
	static const struct {
		int e;
		const char *name;
	} names[] = {
		{EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"}, {EINTR, "EINTR"}, {EIO, "EIO"},
		{ENXIO, "ENXIO"}, {E2BIG, "E2BIG"}, {ENOEXEC, "ENOEXEC"}, {EBADF, "EBADF"}, {ECHILD, "ECHILD"},
		{EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {EBUSY, "EBUSY"},
		{EEXIST, "EEXIST"}, {EXDEV, "EXDEV"}, {ENODEV, "ENODEV"}, {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},
		{EINVAL, "EINVAL"}, {ENFILE, "ENFILE"}, {EMFILE, "EMFILE"}, {ENOTTY, "ENOTTY"}, {EFBIG, "EFBIG"},
		{ENOSPC, "ENOSPC"}, {ESPIPE, "ESPIPE"}, {EROFS, "EROFS"}, {EMLINK, "EMLINK"}, {EPIPE, "EPIPE"},
		{ERANGE, "ERANGE"}, {EDEADLK, "EDEADLK"}, {ENAMETOOLONG, "ENAMETOOLONG"}, {ENOSYS, "ENOSYS"},
		{ENOTEMPTY, "ENOTEMPTY"}, {ELOOP, "ELOOP"}, {ENOMSG, "ENOMSG"}, {EIDRM, "EIDRM"},
		{ENODATA, "ENODATA"}, {EOVERFLOW, "EOVERFLOW"}, {EOPNOTSUPP, "EOPNOTSUPP"},
		{ETIMEDOUT, "ETIMEDOUT"}, {ENOTCONN, "ENOTCONN"}, {EISCONN, "EISCONN"},
		{EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ECONNREFUSED, "ECONNREFUSED"},
		{ECONNRESET, "ECONNRESET"}, {ECONNABORTED, "ECONNABORTED"}, {EINPROGRESS, "EINPROGRESS"},
		{EALREADY, "EALREADY"}, {ENETUNREACH, "ENETUNREACH"}, {EAFNOSUPPORT, "EAFNOSUPPORT"},
		{EPROTONOSUPPORT, "EPROTONOSUPPORT"}, {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
		{EDESTADDRREQ, "EDESTADDRREQ"}, {EMSGSIZE, "EMSGSIZE"}, {ENOPROTOOPT, "ENOPROTOOPT"},
		{ENOTSOCK, "ENOTSOCK"}, {EPROTOTYPE, "EPROTOTYPE"},
	};
	static char buf[32];
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].e == e)
			return names[i].name;
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

/* res_in writes into buf how the guests print a call's return: the
 * value, or -1 and errno's name. */
static __attribute__((unused)) const char *res_in(char *buf, size_t size, long rc) {
	if (rc >= 0)
		snprintf(buf, size, "%ld", rc);
	else
		snprintf(buf, size, "-1 %s", errname(errno));
	return buf;
}

/* res is res_in into one static buffer, for one thread's use. */
static __attribute__((unused)) const char *res(long rc) {
	static char buf[64];
	return res_in(buf, sizeof buf, rc);
}

#endif
