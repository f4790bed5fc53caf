/* SPDX-License-Identifier: MIT */
/*
 * peer_conn.c - a connection to a peer that carries one forwarded
 * CancelRequest: connect, send the 16 bytes, wait for the peer to close
 * (it closes once its own cancel is through), close. The scheduling is
 * src/pool/peer.c's; this file is the socket and the log lines, in
 * PgBouncer's words ("peer-2@unix:7200 ...").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "config/cfg.h"
#include "conn/conn.h"
#include "conn/conn_int.h"
#include "net/dns.h"
#include "net/sock.h"
#include "pool/peer.h"
#include "pool/pool.h"

static void on_io(ev_loop_t *loop, int fd, void *data, int mask);

void peer_log(pgs_ctx_t *ctx, int lvl, char kind, const void *ptr, int id,
	      const conn_addr_t *a, const char *fmt, ...)
{
	if (!log_enabled(&ctx->log, (log_level_t)lvl))
		return;
	char msg[1024], where[80];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_addr_str(a, where, sizeof(where));
	log_msg(&ctx->log, (log_level_t)lvl, "%c-%p: peer-%d@%s %s", kind, ptr,
		id, where, msg);
}

static int open_fd(pgs_ctx_t *ctx, const char *host, int port,
		   conn_addr_t *addr, char *err, size_t errlen)
{
	if (host[0] == '/' || dns_is_literal(host))
		return sock_connect(host, port, ctx->cfg->unix_socket_dir, NULL,
				    addr, err, errlen);
	struct sockaddr_storage ss;
	socklen_t sl;
	switch (conn_dns_lookup(ctx, host, port, &ss, &sl, err, errlen)) {
	case DNS_FOUND:
		return sock_connect_sa(&ss, sl, NULL, addr, err, errlen);
	case DNS_PENDING:
		/* The janitor's next launch finds it in the cache. */
		return -2;
	default:
		return -1;
	}
}

bool peer_conn_open(peer_t *p, const char *host, int port)
{
	pgs_ctx_t *ctx = p->ctx;
	char err[256] = "";
	conn_addr_t addr;
	memset(&addr, 0, sizeof(addr));
	int fd = open_fd(ctx, host, port, &addr, err, sizeof(err));
	if (fd == -2)
		return false;
	if (fd < 0) {
		log_msg(&ctx->log, LOG_WARNING, "%s", err);
		p->last_fail_us = ev_now_us(ctx->loop);
		return false;
	}
	peer_conn_t *conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(fd);
		return false;
	}
	conn->peer = p;
	conn->fd = fd;
	conn->addr = addr;
	conn->state = PEER_CONN_LOGIN;
	conn->connect_us = ev_now_us(ctx->loop);
	statlist_append(&p->login_conns, &conn->node);
	if (ev_io_set(ctx->loop, fd, EV_WRITE, on_io, conn) < 0) {
		peer_conn_close(conn, "connect failed");
		return false;
	}
	return true;
}

static void conn_log(peer_conn_t *conn, int lvl, const char *fmt,
		     const char *arg)
{
	peer_log(conn->peer->ctx, lvl, 'S', conn, conn->peer->id, &conn->addr,
		 fmt, arg);
}

static void conn_close(peer_conn_t *conn, const char *reason, bool failed)
{
	pgs_ctx_t *ctx = conn->peer->ctx;
	if (ctx->cfg->log_disconnections) {
		int64_t age =
			(ev_now_us(ctx->loop) - conn->connect_us) / 1000000;
		char why[600];
		snprintf(why, sizeof(why), "%s (age=%llds)", reason,
			 (long long)age);
		conn_log(conn, LOG_LOG, "closing because: %s", why);
	}
	ev_io_forget(ctx->loop, conn->fd);
	close(conn->fd);
	client_t *req = conn->req;
	conn->req = NULL;
	peer_conn_gone(conn, failed);
	free(conn);
	/* The request's socket closes now: libpq's cancel returns on it. */
	if (req)
		client_close(req, NULL, "%s", reason);
}

void peer_conn_close(peer_conn_t *conn, const char *reason)
{
	conn_close(conn, reason, conn->state == PEER_CONN_LOGIN);
}

static void on_connected(peer_conn_t *conn)
{
	pgs_ctx_t *ctx = conn->peer->ctx;
	char err[256];
	if (sock_connect_result(conn->fd, err, sizeof(err)) < 0) {
		conn_close(conn, "connect failed", true);
		return;
	}
	if (!peer_conn_up(conn)) {
		conn_close(conn,
			   "peer server was not necessary anymore, because "
			   "client cancel connection was already closed",
			   false);
		return;
	}
	if (ctx->cfg->log_connections) {
		char from[80] = "";
		conn_addr_t local;
		if (!conn->addr.unix_sock) {
			sock_local(conn->fd, &local);
			conn_addr_str(&local, from, sizeof(from));
		}
		if (from[0])
			conn_log(conn, LOG_LOG,
				 "new connection to server (from %s)", from);
		else
			conn_log(conn, LOG_LOG, "new connection to server%s",
				 "");
	}
}

static void on_io(ev_loop_t *loop, int fd, void *data, int mask)
{
	peer_conn_t *conn = data;
	(void)mask;
	if (conn->state == PEER_CONN_LOGIN) {
		on_connected(conn);
		return; /* closed, or writable next turn */
	}
	if (conn->sent < sizeof(conn->pkt)) {
		ssize_t n = send(fd, conn->pkt + conn->sent,
				 sizeof(conn->pkt) - conn->sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(conn, "server conn crashed?", false);
			return;
		}
		conn->sent = (uint8_t)(conn->sent + n);
		if (conn->sent == sizeof(conn->pkt))
			ev_io_set(loop, fd, EV_READ, on_io, conn);
		return;
	}
	/* The peer answers nothing: it closes once its cancel is through. */
	uint8_t junk[64];
	ssize_t n = recv(fd, junk, sizeof(junk), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0)
		conn_close(conn, "successfully sent cancel request", false);
	else if (n < 0)
		conn_close(conn, "server conn crashed?", false);
}
