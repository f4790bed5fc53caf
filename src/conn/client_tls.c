/* SPDX-License-Identifier: MIT */
/*
 * client_tls.c - TLS toward clients: SSLRequest, direct TLS (PostgreSQL
 * 17 sslnegotiation=direct), the handshake, client_tls_sslmode rules
 * (PgBouncer's: disable answers 'N'; allow and prefer take TLS when asked;
 * require refuses plain-text TCP; verify-ca and verify-full also want a
 * valid client certificate, which the handshake checks). Unix-socket
 * clients are never asked for TLS, as in PgBouncer.
 */
#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "conn/conn_int.h"
#include "pool/pool_types.h"
#include "tls/tls.h"

static bool start_tls(client_t *c, const uint8_t *prefix, size_t len)
{
	char err[TLS_ERR_MAX];
	c->io.tls = tls_conn_new(c->ctx->client_tls, c->io.fd, NULL, prefix,
				 len, err, sizeof(err));
	if (!c->io.tls) {
		client_close(c, NULL, "TLS setup failed: %s", err);
		return false;
	}
	c->auth_step = AUTH_STEP_TLS;
	return true;
}

void client_tls_request(client_t *c)
{
	conn_io_t *io = &c->io;
	if (!c->ctx->client_tls || c->io.tls) {
		buf_append(&io->obuf, "N", 1);
		return;
	}
	/* Bytes after an SSLRequest and before our answer were not sent
	 * under TLS: taking them would let a man in the middle inject them
	 * (CVE-2021-23214). */
	if (io->rpos < io->rlen) {
		client_close(c, "08P01",
			     "received unencrypted data after SSL request");
		return;
	}
	buf_append(&io->obuf, "S", 1);
	if (conn_io_flush(io) != 1) {
		client_close(c, NULL, "client unexpected eof");
		return;
	}
	start_tls(c, NULL, 0);
}

bool client_tls_direct(client_t *c)
{
	conn_io_t *io = &c->io;
	if (!c->ctx->client_tls || c->addr.unix_sock) {
		/* No plain-text error a TLS client could read. */
		client_close(c, NULL,
			     "direct TLS connection refused: TLS is "
			     "not enabled");
		return true;
	}
	const uint8_t *p = io->rbuf + io->rpos;
	size_t n = io->rlen - io->rpos;
	io->rpos = io->rlen;
	c->tls_direct = true;
	/* The ClientHello is here already: answer it now, no fd event
	 * will come for it. */
	if (start_tls(c, p, n) && client_tls_handshake(c))
		return true;
	return false;
}

bool client_tls_handshake(client_t *c)
{
	char err[TLS_ERR_MAX] = "";
	conn_io_t *io = &c->io;
	io->tls_want_write = false;
	switch (tls_handshake(io->tls, err, sizeof(err))) {
	case TLS_OK:
		break;
	case TLS_WANT_READ:
		return false;
	case TLS_WANT_WRITE:
		io->tls_want_write = true;
		return false;
	case TLS_EOF:
		client_close(c, NULL,
			     "client unexpected eof during TLS "
			     "handshake");
		return false;
	default:
		client_close(c, NULL, "TLS handshake failed: %s", err);
		return false;
	}
	/* PostgreSQL 17's rule: direct TLS only with ALPN "postgresql", so
	 * that a TLS connection meant for another service is not taken. */
	if (c->tls_direct && !tls_alpn_ok(io->tls)) {
		client_close(c, NULL,
			     "received direct SSL connection request without "
			     "ALPN protocol negotiation extension");
		return false;
	}
	c->auth_step = AUTH_STEP_STARTUP;
	/* The startup packet may sit decrypted inside OpenSSL already. */
	if (conn_io_read(io) == -2) {
		client_close(c, NULL, "client connection error");
		return false;
	}
	return true;
}

bool client_tls_required_ok(client_t *c)
{
	if (c->io.tls || c->addr.unix_sock ||
	    c->ctx->client_tls_mode < TLS_SSLMODE_REQUIRE)
		return true;
	client_close(c, "08P01", "SSL required");
	return false;
}

bool client_tls_peer_cn(client_t *c, char *out, size_t cap)
{
	return c->io.tls && tls_peer_verified(c->io.tls) &&
	       tls_peer_cert_cn(c->io.tls, out, cap);
}

int client_tls_cb_data(client_t *c, uint8_t *out, size_t cap)
{
	return c->io.tls ? tls_server_end_point(c->io.tls, out, cap) : -1;
}

const char *client_tls_describe(client_t *c, char *buf, size_t cap)
{
	if (!c->io.tls)
		return "no";
	snprintf(buf, cap, "%s/%s", tls_version(c->io.tls),
		 tls_cipher(c->io.tls));
	return buf;
}
