/* SPDX-License-Identifier: MIT */
/*
 * server_tls.c - TLS toward PostgreSQL servers, during a server login:
 * SSLRequest after the TCP connect, the one-byte answer, the handshake,
 * then the startup packet. server_tls_sslmode as PgBouncer (and libpq):
 * disable sends none; allow and prefer take 'N' for plain text; require
 * refuses 'N'; verify-ca and verify-full check the certificate (and the
 * host name) in the handshake. Unix sockets never use TLS.
 */
#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "conn/conn_int.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "tls/tls.h"

/* SSLRequest: length 8, code 1234.5679. */
static const uint8_t ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};

void server_tls_start(server_t *s)
{
	if (s->ctx->server_tls_mode == TLS_SSLMODE_DISABLE ||
	    s->addr.unix_sock) {
		server_send_startup(s);
		return;
	}
	buf_append(&s->io.obuf, ssl_request, sizeof(ssl_request));
	s->tls_step = SV_TLS_REQUESTED;
}

/* A handshake that fails is a connect failure, not a login refusal:
 * queued clients keep waiting for the retry (PgBouncer). */
static void tls_failed(server_t *s, const char *what, const char *err)
{
	server_log(s, LOG_WARNING, "%s: %s", what, err);
	if (s->pool && !server_parked(s))
		pool_connect_failed(s->pool);
	server_close(s, "%s: %s", what, err);
}

static bool handshake(server_t *s)
{
	char err[TLS_ERR_MAX] = "";
	s->io.tls_want_write = false;
	switch (tls_handshake(s->io.tls, err, sizeof(err))) {
	case TLS_OK:
		break;
	case TLS_WANT_READ:
		server_update_io(s);
		return false;
	case TLS_WANT_WRITE:
		s->io.tls_want_write = true;
		server_update_io(s);
		return false;
	case TLS_EOF:
		tls_failed(s, "TLS handshake failed",
			   "server closed the connection");
		return false;
	default:
		tls_failed(s, "TLS handshake failed", err);
		return false;
	}
	s->tls_step = SV_TLS_ON;
	server_send_startup(s);
	if (server_flush(s))
		server_update_io(s);
	return s->state != SV_JUSTFREE;
}

static bool answer(server_t *s)
{
	conn_io_t *io = &s->io;
	if (io->rpos >= io->rlen)
		return false;
	uint8_t b = io->rbuf[io->rpos++];
	if (b == 'N') {
		if (s->ctx->server_tls_mode >= TLS_SSLMODE_REQUIRE) {
			server_login_failed(s, "server refused SSL");
			return false;
		}
		s->tls_step = SV_TLS_NONE;
		server_send_startup(s);
		return true;
	}
	if (b != 'S') {
		server_login_failed(s, "bad response to SSLRequest");
		return false;
	}
	/* Whatever came with the 'S' was not encrypted: refuse it, as
	 * libpq does (CVE-2021-23222). */
	if (io->rpos < io->rlen) {
		server_login_failed(s, "received unencrypted data after SSL "
				       "response");
		return false;
	}
	io->rpos = io->rlen = 0;
	if (!s->ctx->server_tls) {
		server_login_failed(s, "server TLS is not configured");
		return false;
	}
	char err[TLS_ERR_MAX];
	const char *host = s->target_host[0] == '/' || !s->target_host[0]
				   ? NULL
				   : s->target_host;
	io->tls = tls_conn_new(s->ctx->server_tls, io->fd, host, NULL, 0, err,
			       sizeof(err));
	if (!io->tls) {
		tls_failed(s, "TLS setup failed", err);
		return false;
	}
	s->tls_step = SV_TLS_HANDSHAKE;
	return handshake(s);
}

bool server_tls_step(server_t *s)
{
	if (s->tls_step == SV_TLS_REQUESTED)
		return answer(s);
	if (s->tls_step == SV_TLS_HANDSHAKE)
		return handshake(s);
	return false;
}

int server_tls_cb_data(server_t *s, uint8_t *out, size_t cap)
{
	return s->io.tls ? tls_server_end_point(s->io.tls, out, cap) : -1;
}
