/* SPDX-License-Identifier: MIT */
/*
 * server_tls.c - TLS toward PostgreSQL servers: SSLRequest, the
 * handshake, server_tls_sslmode rules.
 */
#include "conn/conn.h"
#include "conn/conn_int.h"

int server_tls_cb_data(server_t *s, uint8_t *out, size_t cap)
{
	(void)s;
	(void)out;
	(void)cap;
	return -1;
}
