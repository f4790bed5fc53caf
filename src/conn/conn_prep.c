/* SPDX-License-Identifier: MIT */
/*
 * conn_prep.c - protocol-level prepared statements in transaction and
 * statement pooling, as PgBouncer 1.21+ does them (see prep_types.h).
 *
 * Client side: a named Parse is interned and answered from the cache
 * when the server already has it; Bind and Describe of a named statement
 * are renamed to the server's name, after a Parse of our own when this
 * server lacks it; a Close is answered by us. Unnamed statements and
 * portals pass through untouched.
 *
 * Server side: every reply completes the request at the head of the
 * server's queue. An error in the extended protocol makes PostgreSQL
 * discard everything up to the next Sync, so the requests it will never
 * answer are dropped and their effects on the maps undone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "conn/conn.h"
#include "conn/conn_int.h"
#include "conn/prep.h"
#include "pool/pool.h"
#include "proto/pgp.h"

#define PREP_NAME_MAX 32 /* "PGBOUNCER_" + a 64-bit id */

bool client_prep_on(const client_t *c)
{
	return c->ctx->cfg->max_prepared_statements > 0 && c->pool &&
	       pool_mode(c->pool) != CFG_POOL_SESSION;
}

/* Length of the C string at P within N bytes, or -1 without its NUL. */
static int cstr_len(const uint8_t *p, uint32_t n)
{
	const uint8_t *z = memchr(p, 0, n);
	return z ? (int)(z - p) : -1;
}

prep_need_t client_prep_need(uint8_t type, const uint8_t *body, uint32_t have,
			     uint32_t len)
{
	uint32_t n = have < len ? have : len;
	switch (type) {
	case 'P':
		if (n < 1)
			return len ? PREP_NEED_WAIT : PREP_NEED_STREAM;
		return body[0] ? PREP_NEED_WHOLE : PREP_NEED_STREAM;
	case 'B': {
		/* portal name, then statement name */
		int pl = cstr_len(body, n);
		if (pl < 0)
			return have < len ? PREP_NEED_WAIT : PREP_NEED_STREAM;
		if ((uint32_t)pl + 1 >= n)
			return have < len ? PREP_NEED_WAIT : PREP_NEED_STREAM;
		return body[pl + 1] ? PREP_NEED_WHOLE : PREP_NEED_STREAM;
	}
	case 'D':
	case 'C':
		if (n < 2)
			return have < len ? PREP_NEED_WAIT : PREP_NEED_STREAM;
		return body[0] == 'S' && body[1] ? PREP_NEED_WHOLE
						 : PREP_NEED_STREAM;
	default:
		return PREP_NEED_STREAM;
	}
}

static prep_registry_t *reg(const client_t *c)
{
	return &c->ctx->prep;
}

static bool push(client_t *c, server_t *s, uint8_t type, prep_action_t act,
		 prep_stmt_t *st, char *cname)
{
	prep_req_t r = {.type = type,
			.action = (uint8_t)act,
			.stmt = st,
			.cname = cname};
	if (prep_q_push(&s->prepq, &r))
		return true;
	prep_unref(reg(c), st);
	free(cname);
	client_close(c, "54000", "too many pipelined requests");
	return false;
}

/* An answer the pooler owes the client for a request it did not send. */
static void write_fake(client_t *c, uint8_t type)
{
	uint8_t msg[5] = {type == 'P' ? '1' : '3', 0, 0, 0, 4};
	buf_append(&c->io.obuf, msg, sizeof(msg));
}

/* ST and CNAME (references taken over): a Close's statement and name,
 * given back if PostgreSQL would have skipped the Close. */
static bool push_fake(client_t *c, server_t *s, uint8_t type, char *cname,
		      prep_stmt_t *st)
{
	/* Nothing owed before it, and no reply half-way to the client:
	 * answer now. */
	if (s->prepq.n == 0 && s->fwd_left == 0) {
		write_fake(c, type);
		free(cname);
		prep_unref(reg(c), st);
		return true;
	}
	return push(c, s, type, PREP_FAKE, st, cname);
}

static bool oom(client_t *c)
{
	client_close(c, "53200", "out of memory");
	return false;
}

static void write_named(buf_t *b, uint8_t type, const char *pre, size_t prelen,
			const prep_stmt_t *st, const uint8_t *rest,
			uint32_t restlen)
{
	char name[PREP_NAME_MAX];
	int nl = prep_server_name(st, name, sizeof(name));
	size_t start = pgp_wr_begin(b, type);
	buf_append(b, pre, prelen);
	buf_append(b, name, (size_t)nl + 1);
	buf_append(b, rest, restlen);
	pgp_wr_end(b, start);
}

/* Make room for one more statement on S: Close the least recently used
 * ones, swallowing their CloseComplete. */
static bool evict(client_t *c, server_t *s)
{
	uint32_t max = (uint32_t)c->ctx->cfg->max_prepared_statements;
	while (s->prep->count >= max && s->prep->count > 0) {
		prep_stmt_t *old = prep_server_oldest(s->prep);
		prep_server_take(s->prep, old);
		write_named(&s->io.obuf, 'C', "S", 1, old, NULL, 0);
		if (!push(c, s, 'C', PREP_SKIP, old, NULL))
			return false;
	}
	return true;
}

/* Prepare ST on S (the Parse goes ahead of what needs it). */
static bool prepare_on(client_t *c, server_t *s, prep_stmt_t *st,
		       prep_action_t act, char *cname)
{
	if (!evict(c, s)) {
		free(cname);
		return false;
	}
	if (!prep_server_add(s->prep, st)) {
		free(cname);
		return oom(c);
	}
	write_named(&s->io.obuf, 'P', NULL, 0, st, st->body, st->len);
	c->pool->stats.total.server_parse_count++;
	prep_ref(st);
	return push(c, s, 'P', act, st, cname);
}

static bool maps_ready(client_t *c, server_t *s)
{
	if (!c->prep && !(c->prep = prep_client_new()))
		return oom(c);
	if (!s->prep && !(s->prep = prep_server_new()))
		return oom(c);
	return true;
}

static bool on_parse(client_t *c, server_t *s, const uint8_t *body,
		     uint32_t len)
{
	int nl = cstr_len(body, len);
	if (nl < 0 || len - (uint32_t)nl - 1 < 3) {
		client_close(c, "08P01", "invalid Parse message");
		return false;
	}
	const char *name = (const char *)body;
	prep_name_t *had = prep_client_entry(c->prep, name, (uint32_t)nl);
	if (had && had->tentative)
		prep_client_del(reg(c), c->prep, name, (uint32_t)nl, NULL);
	else if (had) {
		client_log(c, LOG_ERROR,
			   "prepared statement '%s' was already prepared",
			   name);
		client_close(c, "08P01",
			     "prepared statement name is already in use");
		return false;
	}
	if (c->prep->count >= PREP_CLIENT_MAX) {
		client_close(c, "54000", "too many prepared statements");
		return false;
	}
	prep_stmt_t *st =
		prep_intern(reg(c), body + nl + 1, len - (uint32_t)nl - 1);
	if (!st)
		return oom(c);
	prep_ref(st); /* one for the name, one kept here */
	if (!prep_client_add(reg(c), c->prep, name, (uint32_t)nl, st)) {
		prep_unref(reg(c), st);
		return oom(c);
	}
	c->pool->stats.total.client_parse_count++;
	char *cname = strdup(name);
	bool ok;
	if (!cname)
		ok = oom(c);
	else if (prep_server_has(s->prep, st))
		ok = push_fake(c, s, 'P', cname, NULL);
	else
		ok = prepare_on(c, s, st, PREP_FORWARD, cname);
	prep_unref(reg(c), st);
	return ok;
}

/* The client's statement NAME, prepared on S; NULL when the client was
 * closed for it. */
static prep_stmt_t *resolve(client_t *c, server_t *s, const char *name,
			    uint32_t nl)
{
	prep_stmt_t *st = prep_client_get(c->prep, name, nl);
	if (!st) {
		client_log(c, LOG_ERROR, "prepared statement '%s' not found",
			   name);
		client_close(c, "08P01", "prepared statement did not exist");
		return NULL;
	}
	if (prep_server_has(s->prep, st))
		return st;
	return prepare_on(c, s, st, PREP_SKIP, NULL) ? st : NULL;
}

static bool on_bind(client_t *c, server_t *s, const uint8_t *body, uint32_t len)
{
	int pl = cstr_len(body, len);
	int nl = pl < 0 ? -1 : cstr_len(body + pl + 1, len - (uint32_t)pl - 1);
	if (nl < 0) {
		client_close(c, "08P01", "invalid Bind message");
		return false;
	}
	const char *name = (const char *)body + pl + 1;
	prep_stmt_t *st = resolve(c, s, name, (uint32_t)nl);
	if (!st)
		return false;
	uint32_t skip = (uint32_t)pl + 1 + (uint32_t)nl + 1;
	write_named(&s->io.obuf, 'B', (const char *)body, (size_t)pl + 1, st,
		    body + skip, len - skip);
	c->pool->stats.total.bind_count++;
	return push(c, s, 'B', PREP_FORWARD, NULL, NULL);
}

static bool on_describe(client_t *c, server_t *s, const uint8_t *body,
			uint32_t len)
{
	int nl = cstr_len(body + 1, len - 1);
	if (nl < 0) {
		client_close(c, "08P01", "invalid Describe message");
		return false;
	}
	prep_stmt_t *st = resolve(c, s, (const char *)body + 1, (uint32_t)nl);
	if (!st)
		return false;
	write_named(&s->io.obuf, 'D', "S", 1, st, NULL, 0);
	return push(c, s, 'D', PREP_FORWARD, NULL, NULL);
}

static bool on_close(client_t *c, server_t *s, const uint8_t *body,
		     uint32_t len)
{
	int nl = cstr_len(body + 1, len - 1);
	if (nl < 0) {
		client_close(c, "08P01", "invalid Close message");
		return false;
	}
	/* The server keeps its copy for whoever prepares the same text:
	 * closing an unknown name is no error, as in PostgreSQL. The name
	 * and statement ride on the answer, to come back if an earlier
	 * error means PostgreSQL would have skipped this Close. */
	const char *name = (const char *)body + 1;
	prep_stmt_t *st = prep_client_get(c->prep, name, (uint32_t)nl);
	char *cname = NULL;
	if (st) {
		prep_ref(st);
		cname = strdup(name);
		prep_client_del(reg(c), c->prep, name, (uint32_t)nl, NULL);
	}
	return push_fake(c, s, 'C', cname, st);
}

static bool prep_message(client_t *c, server_t *s, uint8_t type,
			 const uint8_t *body, uint32_t len)
{
	if (s->prep_skip) {
		/* The server discards it anyway: pass it on unchanged. */
		size_t start = pgp_wr_begin(&s->io.obuf, type);
		buf_append(&s->io.obuf, body, len);
		pgp_wr_end(&s->io.obuf, start);
		return true;
	}
	if (!maps_ready(c, s))
		return false;
	switch (type) {
	case 'P':
		return on_parse(c, s, body, len);
	case 'B':
		return on_bind(c, s, body, len);
	case 'D':
		return on_describe(c, s, body, len);
	default:
		return on_close(c, s, body, len);
	}
}

bool client_prep_note(client_t *c, server_t *s, uint8_t type)
{
	switch (type) {
	case 'S':
		s->prep_skip = false;
		break;
	case 'P':
	case 'B':
	case 'D':
	case 'C':
	case 'E':
	case 'Q':
	case 'F':
		if (s->prep_skip)
			return true;
		break;
	default:
		return true; /* Flush, COPY data: no reply of their own */
	}
	return push(c, s, type, PREP_FORWARD, NULL, NULL);
}

bool client_prep_whole(client_t *c, server_t *s, uint8_t type,
		       const uint8_t *body, uint32_t len)
{
	s->unsynced = true;
	if (client_prep_need(type, body, len, len) == PREP_NEED_WHOLE)
		return prep_message(c, s, type, body, len);
	/* Gathered because its names were long, but unnamed after all. */
	size_t start = pgp_wr_begin(&s->io.obuf, type);
	buf_append(&s->io.obuf, body, len);
	pgp_wr_end(&s->io.obuf, start);
	return client_prep_note(c, s, type);
}

/* ---- replies ---- */

/* The request at the head that a reply of TYPE completes, or 0. */
static uint8_t completes(uint8_t type)
{
	switch (type) {
	case '1':
		return 'P';
	case '2':
		return 'B';
	case '3':
		return 'C';
	case 'T':
	case 'n':
		return 'D';
	case 'C':
	case 'I':
	case 's':
		return 'E';
	default:
		return 0;
	}
}

bool server_prep_reply_type(uint8_t type)
{
	return completes(type) || type == 'E' || type == 'Z';
}

/* Release a request's references; with UNDO (PostgreSQL failed or
 * skipped it), also reverse what it did to the server's map. A client's
 * name whose Parse failed stays, tentative: drivers (psycopg's pipeline)
 * Bind it again as if prepared, and PgBouncer prepares it then; a new
 * Parse of the name is taken too. */
static void finish(server_t *s, prep_req_t *e, bool undo)
{
	prep_registry_t *r = &s->ctx->prep;
	client_t *c = s->link;
	if (undo && e->type == 'P' && e->stmt && s->prep &&
	    e->action != PREP_FAKE && prep_server_take(s->prep, e->stmt))
		prep_unref(r, e->stmt);
	if (undo && e->type == 'P' && e->cname && c && c->prep) {
		prep_name_t *n = prep_client_entry(c->prep, e->cname,
						   (uint32_t)strlen(e->cname));
		if (n && (!e->stmt || n->stmt == e->stmt))
			n->tentative = true;
	}
	if (undo && e->type == 'C' && e->action == PREP_SKIP && e->stmt &&
	    s->prep)
		prep_server_add(s->prep, e->stmt); /* it is still there */
	if (undo && e->type == 'C' && e->action == PREP_FAKE && e->cname &&
	    e->stmt && c && c->prep) {
		uint32_t nl = (uint32_t)strlen(e->cname);
		if (!prep_client_get(c->prep, e->cname, nl)) {
			prep_ref(e->stmt);
			prep_client_add(r, c->prep, e->cname, nl, e->stmt);
		}
	}
	prep_unref(r, e->stmt);
	free(e->cname);
}

static void on_error(server_t *s)
{
	prep_queue_t *q = &s->prepq;
	prep_req_t *h = prep_q_head(q);
	if (!h || h->type == 'Q' || h->type == 'F' || h->type == 'S')
		return; /* its ReadyForQuery completes it */
	/* Everything up to the next Sync is discarded by the server,
	 * undone newest first: an eviction's Close must not bring back a
	 * statement whose own Parse failed before it. */
	uint32_t k = 0;
	while (k < q->n && prep_q_at(q, k)->type != 'S')
		k++;
	for (uint32_t i = k; i-- > 0;) {
		prep_req_t e = *prep_q_at(q, i);
		finish(s, &e, true);
	}
	for (uint32_t i = 0; i < k; i++)
		prep_q_pop(q);
	if (!prep_q_head(q))
		s->prep_skip = true; /* the Sync has not come yet */
}

void server_prep_copy_in(server_t *s)
{
	/* PostgreSQL ignores a Sync that arrives during COPY FROM STDIN:
	 * the one a driver sent right after the Execute gets no reply. */
	prep_queue_t *q = &s->prepq;
	prep_req_t *h = prep_q_head(q);
	if (!h || h->type != 'E' || q->n < 2 || prep_q_at(q, 1)->type != 'S')
		return;
	*prep_q_at(q, 1) = *h;
	prep_q_pop(q);
	if (s->expect_rfq > 0)
		s->expect_rfq--;
}

bool server_prep_reply(server_t *s, uint8_t type, const uint8_t *body,
		       uint32_t len)
{
	prep_queue_t *q = &s->prepq;
	prep_req_t *h = prep_q_head(q);
	if (type == 'C' && body && len >= 12 && body[len - 1] == 0 &&
	    (strcmp((const char *)body, "DISCARD ALL") == 0 ||
	     strcmp((const char *)body, "DEALLOCATE ALL") == 0))
		server_prep_discarded(s);
	if (!h)
		return true;
	if (type == 'E') {
		on_error(s);
		return true;
	}
	uint8_t want = completes(type);
	bool done = type == 'Z' ? (h->type == 'S' || h->type == 'Q' ||
				   h->type == 'F')
				: (want && h->type == want);
	if (!done)
		return true;
	prep_req_t e = *h;
	prep_q_pop(q);
	finish(s, &e, false);
	return e.action != PREP_SKIP;
}

void server_prep_fakes(server_t *s)
{
	prep_req_t *h;
	while ((h = prep_q_head(&s->prepq)) && h->action == PREP_FAKE) {
		prep_req_t e = *h;
		prep_q_pop(&s->prepq);
		if (s->link)
			write_fake(s->link, e.type);
		finish(s, &e, false);
	}
}

void server_prep_discarded(server_t *s)
{
	/* DISCARD ALL and DEALLOCATE ALL drop every statement of the
	 * session: ours on the server, and the client's names. */
	prep_registry_t *r = &s->ctx->prep;
	if (s->prep)
		prep_server_clear(r, s->prep);
	if (s->link && s->link->prep)
		prep_client_clear(r, s->link->prep);
}

void server_prep_free(server_t *s)
{
	prep_queue_t *q = &s->prepq;
	while (q->n) {
		prep_req_t e = *prep_q_head(q);
		prep_q_pop(q);
		finish(s, &e, false);
	}
	prep_q_free(&s->ctx->prep, q);
	prep_server_free(&s->ctx->prep, s->prep);
	s->prep = NULL;
	s->prep_skip = false;
}

void client_prep_free(client_t *c)
{
	prep_client_free(&c->ctx->prep, c->prep);
	c->prep = NULL;
	free(c->prep_big);
	c->prep_big = NULL;
}
