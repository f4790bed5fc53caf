/* SPDX-License-Identifier: MIT */
/*
 * sock.h - non-blocking sockets. Never logs: failures return -1 and a
 * message in the caller's ERR buffer (Redis anet style).
 */
#ifndef PGSWITCH_SOCK_H
#define PGSWITCH_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conn/conn_types.h"

typedef struct sock_opts {
	bool keepalive;
	int keepcnt, keepidle, keepintvl; /* 0 = system default */
	int user_timeout_ms;
	int sndbuf; /* 0 = system default */
} sock_opts_t;

/* Listen on ADDR:PORT (ADDR "*" = every address). Fills FDS (up to MAX)
 * and returns how many, or -1 with ERR. */
int sock_listen_tcp(const char *addr, int port, int backlog, bool reuseport,
		    int *fds, int max, char *err, size_t errlen);
/* TCP_DEFER_ACCEPT: accept() only once the client has sent data. */
void sock_defer_accept(int fd, int secs);
int sock_listen_unix(const char *dir, int port, int backlog, int mode,
		     char *err, size_t errlen);
/* Accept one connection (non-blocking, close-on-exec). -1 with errno. */
int sock_accept(int lfd, conn_addr_t *peer);
/* Start a non-blocking connect to an address already resolved, tuned by
 * OPTS (may be NULL) first; returns fd, or -1 with ERR. */
int sock_connect_sa(const struct sockaddr_storage *ss, socklen_t sl,
		    const sock_opts_t *opts, conn_addr_t *addr, char *err,
		    size_t errlen);
/* As sock_connect_sa for an IP literal or a unix socket: HOST NULL, ""
 * or starting with '/' means a unix socket in that dir (or UNIX_DIR). */
int sock_connect(const char *host, int port, const char *unix_dir,
		 const sock_opts_t *opts, conn_addr_t *addr, char *err,
		 size_t errlen);
/* After a connect completes: 0, or -1 with ERR. */
int sock_connect_result(int fd, char *err, size_t errlen);
void sock_tune(int fd, const sock_opts_t *o, bool tcp);

/*
 * Linux gives an accepted socket its listener's TCP_NODELAY and
 * SO_KEEPALIVE. Set on the listener (both ways, so a reload can turn
 * keepalive off), they cost no system call per login; the first
 * accepted socket checks that this kernel does so.
 */
typedef enum sock_inherit {
	SOCK_INHERIT_UNTESTED,
	SOCK_INHERIT_YES, /* tune only what the listener cannot carry */
	SOCK_INHERIT_NO,  /* tune every accepted socket in full */
} sock_inherit_t;

const char *sock_inherit_name(sock_inherit_t s);
/* A listening socket of the IPv4/IPv6 family (not a unix socket). */
bool sock_is_tcp(int fd);
/* Also for a socket already accepted: keepalive is set both ways. */
void sock_tune_listener(int fd, bool keepalive);
/* Whether FD carries TCP_NODELAY and SO_KEEPALIVE = KEEPALIVE. */
bool sock_has_listener_tuning(int fd, bool keepalive);
/* sock_tune() less TCP_NODELAY and SO_KEEPALIVE itself: what an
 * accepted socket needs when it inherited those. */
void sock_tune_accepted(int fd, const sock_opts_t *o);
void sock_local(int fd, conn_addr_t *a);
/* The other side of a connected socket (a socket taken over by -R). */
void sock_peer(int fd, conn_addr_t *a);
/* The uid of a Unix-socket peer (SO_PEERCRED): 0, or -1 with errno. */
int sock_peer_uid(int fd, uid_t *uid);

#endif
