/* SPDX-License-Identifier: MIT */
#include "net/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Dotted quad without inet_ntop's sprintf: this runs twice per accept. */
static void ipv4_str(const uint8_t *b, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : 0;
	}
}

static void fill_addr(const struct sockaddr *sa, conn_addr_t *a)
{
	a->unix_sock = false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		ipv4_str((const uint8_t *)&in->sin_addr, a->host);
		a->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, a->host, sizeof(a->host));
		a->port = ntohs(in6->sin6_port);
	} else {
		memset(a, 0, sizeof(*a));
		snprintf(a->host, sizeof(a->host), "unix");
		a->unix_sock = true;
	}
}

int sock_listen_tcp(const char *addr, int port, int backlog, bool reuseport,
		    int *fds, int max, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *res, *ai;
	char portstr[16];
	int n = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *node = strcmp(addr, "*") == 0 ? NULL : addr;
	int rc = getaddrinfo(node, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "getaddrinfo(%s): %s", addr,
			 gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
				ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (reuseport)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				   sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				   sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, backlog) < 0) {
			snprintf(err, errlen, "bind/listen %s:%d: %s", addr,
				 port, strerror(errno));
			close(fd);
			continue;
		}
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == 0 && !err[0])
		snprintf(err, errlen, "no usable address for %s", addr);
	return n ? n : -1;
}

void sock_defer_accept(int fd, int secs)
{
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

int sock_listen_unix(const char *dir, int port, int backlog, int mode,
		     char *err, size_t errlen)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	int l = snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d",
			 dir, port);
	if (l < 0 || (size_t)l >= sizeof(un.sun_path)) {
		snprintf(err, errlen, "unix socket path too long: %s", dir);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(un.sun_path);
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    listen(fd, backlog) < 0) {
		snprintf(err, errlen, "bind %s: %s", un.sun_path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	chmod(un.sun_path, (mode_t)mode);
	return fd;
}

int sock_accept(int lfd, conn_addr_t *peer)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	fill_addr((struct sockaddr *)&ss, peer);
	return fd;
}

int sock_connect_sa(const struct sockaddr_storage *ss, socklen_t sl,
		    const sock_opts_t *opts, conn_addr_t *addr, char *err,
		    size_t errlen)
{
	if (ss->ss_family != AF_UNIX)
		fill_addr((const struct sockaddr *)ss, addr);
	int fd = socket(ss->ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Before the SYN: the window scale is fixed by the receive buffer
	 * at connect time. A buffer shrunk afterwards (tcp_socket_buffer)
	 * can never open the window to half the largest one advertised,
	 * and the peer then sends only on its persist timer: a streaming
	 * reply (COPY, WAL) stalls for seconds at a time. */
	if (opts)
		sock_tune(fd, opts, ss->ss_family != AF_UNIX);
	if (connect(fd, (const struct sockaddr *)ss, sl) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(err, errlen, "connect failed: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int sock_connect(const char *host, int port, const char *unix_dir,
		 const sock_opts_t *opts, conn_addr_t *addr, char *err,
		 size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	memset(addr, 0, sizeof(*addr));
	if (!host || !*host || host[0] == '/') {
		struct sockaddr_un *un = (void *)&ss;
		const char *dir = host && *host ? host : unix_dir;
		un->sun_family = AF_UNIX;
		int l = snprintf(un->sun_path, sizeof(un->sun_path),
				 "%s/.s.PGSQL.%d", dir ? dir : "/tmp", port);
		if (l < 0 || (size_t)l >= sizeof(un->sun_path)) {
			snprintf(err, errlen, "unix socket path too long");
			return -1;
		}
		sl = sizeof(*un);
		snprintf(addr->host, sizeof(addr->host), "unix");
		addr->unix_sock = true;
		addr->port = port;
	} else {
		struct addrinfo hints = {0}, *res;
		char portstr[16];
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		/* IP literals only: names are resolved off the loop
		 * (net/dns.c) and connected with sock_connect_sa(). */
		hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
		snprintf(portstr, sizeof(portstr), "%d", port);
		int rc = getaddrinfo(host, portstr, &hints, &res);
		if (rc != 0) {
			snprintf(err, errlen, "could not resolve %s: %s", host,
				 gai_strerror(rc));
			return -1;
		}
		memcpy(&ss, res->ai_addr, res->ai_addrlen);
		sl = res->ai_addrlen;
		freeaddrinfo(res);
	}
	return sock_connect_sa(&ss, sl, opts, addr, err, errlen);
}

int sock_connect_result(int fd, char *err, size_t errlen)
{
	int e = 0;
	socklen_t l = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
		e = errno;
	if (e) {
		snprintf(err, errlen, "connect failed: %s", strerror(e));
		return -1;
	}
	return 0;
}

static void tune_rest(int fd, const sock_opts_t *o)
{
	if (o->keepalive) {
		if (o->keepcnt)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &o->keepcnt,
				   sizeof(int));
		if (o->keepidle)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &o->keepidle,
				   sizeof(int));
		if (o->keepintvl)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL,
				   &o->keepintvl, sizeof(int));
	}
	if (o->user_timeout_ms)
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
			   &o->user_timeout_ms, sizeof(int));
	if (o->sndbuf) {
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(int));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->sndbuf, sizeof(int));
	}
}

void sock_tune(int fd, const sock_opts_t *o, bool tcp)
{
	int one = 1;
	if (!tcp)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->keepalive)
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	tune_rest(fd, o);
}

void sock_tune_accepted(int fd, const sock_opts_t *o)
{
	tune_rest(fd, o);
}

const char *sock_inherit_name(sock_inherit_t s)
{
	switch (s) {
	case SOCK_INHERIT_UNTESTED:
		return "untested";
	case SOCK_INHERIT_YES:
		return "yes";
	case SOCK_INHERIT_NO:
		return "no";
	}
	return "?";
}

bool sock_is_tcp(int fd)
{
	int dom = 0;
	socklen_t l = sizeof(dom);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0)
		return false;
	return dom == AF_INET || dom == AF_INET6;
}

void sock_tune_listener(int fd, bool keepalive)
{
	int one = 1, ka = keepalive ? 1 : 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &ka, sizeof(ka));
}

static int get_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, level, name, &v, &l) < 0)
		return -1;
	return v;
}

bool sock_has_listener_tuning(int fd, bool keepalive)
{
	return get_int(fd, IPPROTO_TCP, TCP_NODELAY) > 0 &&
	       (get_int(fd, SOL_SOCKET, SO_KEEPALIVE) > 0) == keepalive;
}

void sock_local(int fd, conn_addr_t *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(a, 0, sizeof(*a));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		fill_addr((struct sockaddr *)&ss, a);
}

void sock_peer(int fd, conn_addr_t *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(a, 0, sizeof(*a));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		fill_addr((struct sockaddr *)&ss, a);
}

int sock_peer_uid(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    len != sizeof(cr))
		return -1;
	*uid = cr.uid;
	return 0;
}
