/* SPDX-License-Identifier: MIT */
/*
 * tap.c - the digest of a sampled reply (conn_tap_t in conn_types.h), kept
 * on the server connection while the reply streams to the client: each
 * DataRow message, header included, hashed as its bytes pass; the row
 * hashes summed (order-insensitive); an ErrorResponse marks it failed.
 */
#include "conn/tap.h"

#include "pool/pool_types.h"
#include "util/fnv.h"

void conn_tap_offer(server_t *s, const char *sql, size_t len)
{
	const conn_tap_t *t = s->pool ? s->pool->db->tap : NULL;
	uint64_t token = t ? t->want(t->arg, sql, len) : 0;
	s->tap_token = token;
	s->tap_digest = s->tap_rows = 0;
	s->tap_in_row = s->tap_error = false;
}

void conn_tap_frame(server_t *s, uint8_t type)
{
	if (type == 'D') {
		s->tap_in_row = true;
		s->tap_row = FNV64_OFFSET;
	} else if (type == 'E') {
		s->tap_error = true;
	}
}

void conn_tap_bytes(server_t *s, const uint8_t *p, uint32_t n, bool last)
{
	s->tap_row = fnv64(s->tap_row, p, n);
	if (last) {
		s->tap_digest += s->tap_row;
		s->tap_rows++;
		s->tap_in_row = false;
	}
}

void conn_tap_finish(server_t *s)
{
	const conn_tap_t *t = s->pool ? s->pool->db->tap : NULL;
	uint64_t token = s->tap_token;
	s->tap_token = 0;
	if (t)
		t->done(t->arg, token, s->tap_digest, s->tap_rows,
			s->tap_error);
}
