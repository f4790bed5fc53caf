/* SPDX-License-Identifier: MIT */
#include "util/sdnotify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* sd_notify(3)'s addressing: "/path", or "@name" for the abstract
 * namespace, whose name has no terminating NUL and so counts in the
 * length. */
static int notify_addr(const char *path, struct sockaddr_un *un, socklen_t *sl)
{
	size_t len = strlen(path);
	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT;
	if (len > sizeof(un->sun_path) ||
	    (path[0] == '/' && len == sizeof(un->sun_path)))
		return -ENAMETOOLONG;
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, len);
	if (path[0] == '@')
		un->sun_path[0] = '\0';
	*sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	return 0;
}

int sdn_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	struct sockaddr_un un;
	socklen_t sl;
	int rc = notify_addr(path, &un, &sl);
	if (rc < 0)
		return rc;
	/* Non-blocking: a stalled systemd must not stall the event loop;
	 * a full receive queue loses the state, as with libsystemd. */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
			   (const struct sockaddr *)&un, sl);
	rc = n < 0 ? -errno : 1;
	close(fd);
	return rc;
}

int sdn_ready(void)
{
	return sdn_notify("READY=1");
}

int sdn_reloading(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return -errno;
	char msg[64];
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull +
			 (unsigned long long)ts.tv_nsec / 1000ull);
	return sdn_notify(msg);
}

int sdn_reloaded(bool ok)
{
	return sdn_notify(ok ? "READY=1\nSTATUS="
			     : "READY=1\nSTATUS=config reload failed (see the "
			       "log), running on the previous config");
}

int sdn_stopping(bool waiting)
{
	return sdn_notify(waiting ? "STOPPING=1\nSTATUS=shutting down, "
				    "waiting for clients to disconnect"
				  : "STOPPING=1");
}

int sdn_status(const char *text)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "STATUS=%s", text);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return sdn_notify(msg);
}

/* A whole decimal number, nothing else (LISTEN_* are machine-written: a
 * stray character means they are not systemd's). */
static int parse_num(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int prepare_fd(int fd)
{
	int fdf = fcntl(fd, F_GETFD);
	if (fdf < 0 || fcntl(fd, F_SETFD, fdf | FD_CLOEXEC) < 0)
		return -errno;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int take_fds(const char *pid_s, const char *n_s, int *fds, int max)
{
	long pid, n;
	if (!pid_s || !n_s)
		return 0;
	if (parse_num(pid_s, &pid) < 0 || pid == 0 || parse_num(n_s, &n) < 0 ||
	    n > INT_MAX - SDN_LISTEN_FDS_START)
		return -EINVAL;
	/* Set for another process, e.g. inherited from a parent that was
	 * activated itself: not ours to take. */
	if (pid != (long)getpid())
		return 0;
	if (n > max)
		return -E2BIG;
	for (int i = 0; i < (int)n; i++) {
		fds[i] = SDN_LISTEN_FDS_START + i;
		int rc = prepare_fd(fds[i]);
		if (rc < 0)
			return rc;
	}
	return (int)n;
}

int sdn_listen_fds(int *fds, int max)
{
	int rc = take_fds(getenv("LISTEN_PID"), getenv("LISTEN_FDS"), fds,
			  max < 0 ? 0 : max);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

static int is_listening_stream(int fd)
{
	int type = 0, acc = 0;
	socklen_t l = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -EPROTOTYPE;
	l = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0)
		return -errno;
	return acc ? 0 : -EINVAL;
}

static void unix_desc(const struct sockaddr_un *un, socklen_t sl, char *buf,
		      size_t len)
{
	size_t plen = sl > offsetof(struct sockaddr_un, sun_path)
			      ? sl - offsetof(struct sockaddr_un, sun_path)
			      : 0;
	if (plen > 0 && un->sun_path[0] == '\0') {
		snprintf(buf, len, "unix:@%.*s", (int)(plen - 1),
			 un->sun_path + 1);
		return;
	}
	snprintf(buf, len, "unix:%.*s", (int)strnlen(un->sun_path, plen),
		 un->sun_path);
}

int sdn_listener_desc(int fd, char *buf, size_t len)
{
	int rc = is_listening_stream(fd);
	if (rc < 0)
		return rc;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	char host[INET6_ADDRSTRLEN];
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%d", host, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%d", host, ntohs(in6->sin6_port));
	} else if (ss.ss_family == AF_UNIX) {
		unix_desc((const struct sockaddr_un *)&ss, sl, buf, len);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}
