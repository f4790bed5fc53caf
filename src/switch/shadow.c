/* SPDX-License-Identifier: MIT */
/*
 * shadow.c - shadow reads (seed 003's diff tool, built in): a sample of a
 * database's read-only statements also runs on the blue/green's new side,
 * and the two results are compared by digest. Nothing of the shadow ever
 * reaches the client: the client's reply streams from the old side as
 * always, digested on the way (src/conn/tap.c); the shadow's runs on a
 * control connection of its own.
 *
 *   want()   the connection layer offers an autocommit simple Query: take
 *            one in 1/rate (a deterministic accumulator), if it looks
 *            read-only (SELECT / WITH / VALUES / TABLE, one statement, no
 *            nextval, locking clause or INTO) and the queue has room
 *   runner   one query at a time on the shadow connection, whose every
 *            transaction is read-only (default_transaction_read_only) and
 *            bounded (statement_timeout): a write that slipped through is
 *            an error there, never a change
 *   compare  once both sides answered: equal digests and row counts are a
 *            match; an error on the new side is counted (with its text);
 *            an error on the old side is the client's own, not compared
 *
 * A switchover may require N clean shadow reads first (min_shadow_reads).
 * Sampling stops once the database points at the shadow's target.
 */
#include "switch/shadow.h"
#include "switch/shadow_sql.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn/conn.h"
#include "pool/pool.h"
#include "switch/sw_parse.h"
#include "switch/swc.h"
#include "util/fnv.h"

#define SHADOW_QMAX	    64
#define SHADOW_SQL_MAX	    8192
#define SHADOW_RETRY_US	    1000000
#define SHADOW_STALE_US	    30000000
#define SHADOW_STMT_TIMEOUT "5000"

typedef struct sh_item {
	uint64_t token; /* 0: free slot */
	char *sql;
	int64_t at;
	bool sent, old_done, new_done, old_err, new_err;
	uint64_t old_digest, old_rows, new_digest, new_rows;
	char err[160];
} sh_item_t;

typedef struct shadow {
	struct shadow *next;
	pgs_ctx_t *ctx;
	char db[64];
	char host[256];
	int port;
	char ci[1600];
	double rate, acc;
	conn_tap_t tap;
	swc_t *c;
	bool up, busy;
	int64_t retry_at;
	uint64_t next_token;
	sh_item_t q[SHADOW_QMAX];
	uint64_t sampled, compared, matched, mismatched, errors, skipped;
	uint64_t old_errors;
	char last_mismatch[300];
	char last_error[300];
} shadow_t;

static shadow_t *find(pgs_ctx_t *ctx, const char *db)
{
	for (shadow_t *s = ctx->shadow; s; s = s->next)
		if (strcmp(s->db, db) == 0)
			return s;
	return NULL;
}

static void note_str(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note_str(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
}

/* ---- comparing ---- */

static void item_free(sh_item_t *it)
{
	free(it->sql);
	memset(it, 0, sizeof(*it));
}

static void compare(shadow_t *s, sh_item_t *it)
{
	if (it->old_err) {
		s->old_errors++;
	} else if (it->new_err) {
		s->errors++;
		note_str(s->last_error, sizeof(s->last_error), "%.120s: %s",
			 it->sql, it->err);
	} else {
		s->compared++;
		if (it->old_digest == it->new_digest &&
		    it->old_rows == it->new_rows) {
			s->matched++;
		} else {
			s->mismatched++;
			note_str(s->last_mismatch, sizeof(s->last_mismatch),
				 "%.200s (rows: old %llu, new %llu)", it->sql,
				 (unsigned long long)it->old_rows,
				 (unsigned long long)it->new_rows);
		}
	}
	item_free(it);
}

/* The digest of a result as the wire would carry it: each row as the
 * DataRow message the old side sent (type, length, column count, each
 * column's length or -1 and its text bytes), hashed, the hashes summed. */
static void digest_result(PGresult *res, uint64_t *digest, uint64_t *rows)
{
	int nt = PQntuples(res), nf = PQnfields(res);
	uint64_t sum = 0;
	for (int r = 0; r < nt; r++) {
		uint32_t len = 4 + 2;
		for (int f = 0; f < nf; f++)
			len += 4 + (PQgetisnull(res, r, f)
					    ? 0
					    : (uint32_t)PQgetlength(res, r, f));
		unsigned char hdr[7] = {'D',
					(unsigned char)(len >> 24),
					(unsigned char)(len >> 16),
					(unsigned char)(len >> 8),
					(unsigned char)len,
					(unsigned char)(nf >> 8),
					(unsigned char)nf};
		uint64_t h = fnv64(FNV64_OFFSET, hdr, sizeof(hdr));
		for (int f = 0; f < nf; f++) {
			bool null = PQgetisnull(res, r, f);
			int32_t l = null ? -1 : PQgetlength(res, r, f);
			uint32_t u = (uint32_t)l;
			unsigned char lb[4] = {
				(unsigned char)(u >> 24),
				(unsigned char)(u >> 16),
				(unsigned char)(u >> 8),
				(unsigned char)u,
			};
			h = fnv64(h, lb, 4);
			if (!null)
				h = fnv64(h, PQgetvalue(res, r, f), (size_t)l);
		}
		sum += h;
	}
	*digest = sum;
	*rows = (uint64_t)nt;
}

/* ---- the shadow connection ---- */

static void run_next(shadow_t *s);

static sh_item_t *find_item(shadow_t *s, uint64_t token)
{
	for (int i = 0; i < SHADOW_QMAX; i++)
		if (s->q[i].token == token)
			return &s->q[i];
	return NULL;
}

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg)
{
	shadow_t *s = arg;
	(void)c;
	s->busy = false;
	sh_item_t *it = NULL;
	for (int i = 0; i < SHADOW_QMAX && !it; i++)
		if (s->q[i].token && s->q[i].sent && !s->q[i].new_done)
			it = &s->q[i];
	if (it) {
		it->new_done = true;
		if (err) {
			it->new_err = true;
			note_str(it->err, sizeof(it->err), "%s", err);
		} else {
			digest_result(res, &it->new_digest, &it->new_rows);
		}
		if (it->old_done)
			compare(s, it);
	}
	run_next(s);
}

static void on_connected(swc_t *c, PGresult *res, const char *err, void *arg)
{
	shadow_t *s = arg;
	(void)c;
	(void)res;
	if (err) {
		note_str(s->last_error, sizeof(s->last_error),
			 "cannot connect to %s:%d: %s", s->host, s->port, err);
		swc_close(s->c);
		s->c = NULL;
		s->retry_at = ev_time_us() + SHADOW_RETRY_US;
		return;
	}
	s->up = true;
	run_next(s);
}

static void run_next(shadow_t *s)
{
	if (!s->c) {
		if (ev_time_us() < s->retry_at)
			return;
		s->up = false;
		s->c = swc_open(s->ctx->loop, s->ci, on_connected, s);
		return;
	}
	if (!s->up || s->busy)
		return;
	sh_item_t *next = NULL;
	for (int i = 0; i < SHADOW_QMAX; i++) {
		sh_item_t *it = &s->q[i];
		if (it->token && !it->sent &&
		    (!next || it->token < next->token))
			next = it;
	}
	if (!next)
		return;
	next->sent = true;
	s->busy = true;
	if (!swc_query(s->c, next->sql, on_result, s)) {
		s->busy = false;
		next->new_done = next->new_err = true;
		note_str(next->err, sizeof(next->err), "connection lost");
		swc_close(s->c);
		s->c = NULL;
		s->retry_at = ev_time_us() + SHADOW_RETRY_US;
		if (next->old_done)
			compare(s, next);
	}
}

/* ---- the tap ---- */

static bool points_at_target(const shadow_t *s)
{
	const pool_db_t *db = pool_db_find(s->ctx, s->db);
	return !db || (db->port == s->port &&
		       strcmp(db->host ? db->host : "", s->host) == 0);
}

static sh_item_t *free_slot(shadow_t *s, int64_t now)
{
	for (int i = 0; i < SHADOW_QMAX; i++) {
		sh_item_t *it = &s->q[i];
		/* The old side's reply never came (its server closed): the
		 * sample is given up. */
		if (it->token && now - it->at > SHADOW_STALE_US && !s->busy)
			item_free(it);
		if (!it->token)
			return it;
	}
	return NULL;
}

static uint64_t tap_want(void *arg, const char *sql, size_t len)
{
	shadow_t *s = arg;
	if (s->rate <= 0 || len >= SHADOW_SQL_MAX || points_at_target(s))
		return 0;
	s->acc += s->rate;
	if (s->acc < 1.0)
		return 0;
	s->acc -= 1.0;
	if (!shadow_looks_read_only(sql, len))
		return 0;
	int64_t now = ev_time_us();
	sh_item_t *it = free_slot(s, now);
	if (!it) {
		s->skipped++;
		return 0;
	}
	it->sql = malloc(len + 1);
	if (!it->sql) {
		s->skipped++;
		return 0;
	}
	memcpy(it->sql, sql, len);
	it->sql[len] = 0;
	it->token = ++s->next_token;
	it->at = now;
	s->sampled++;
	run_next(s);
	return it->token;
}

static void tap_done(void *arg, uint64_t token, uint64_t digest, uint64_t rows,
		     bool error)
{
	shadow_t *s = arg;
	sh_item_t *it = find_item(s, token);
	if (!it)
		return;
	it->old_done = true;
	it->old_err = error;
	it->old_digest = digest;
	it->old_rows = rows;
	if (it->new_done)
		compare(s, it);
}

/* ---- API ---- */

static void attach(shadow_t *s)
{
	pool_db_t *db = pool_db_find(s->ctx, s->db);
	if (db)
		db->tap = s->rate > 0 ? &s->tap : NULL;
}

int shadow_set(pgs_ctx_t *ctx, const char *dbname, double rate,
	       const char *host, int port, const char *extra, char *err,
	       size_t errlen)
{
	pool_db_t *db = pool_db_lookup(ctx, dbname);
	if (!db) {
		note_str(err, errlen, "no such database: %s", dbname);
		return -1;
	}
	if (rate < 0 || rate > 1) {
		note_str(err, errlen, "shadow_reads must be between 0 and 1");
		return -1;
	}
	shadow_t *s = find(ctx, dbname);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			note_str(err, errlen, "out of memory");
			return -1;
		}
		s->ctx = ctx;
		snprintf(s->db, sizeof(s->db), "%s", dbname);
		s->tap = (conn_tap_t){
			.want = tap_want, .done = tap_done, .arg = s};
		s->next = ctx->shadow;
		ctx->shadow = s;
	}
	if (host && (strcmp(host, s->host) != 0 || port != s->port)) {
		swc_close(s->c);
		s->c = NULL;
		s->up = s->busy = false;
		for (int i = 0; i < SHADOW_QMAX; i++)
			item_free(&s->q[i]);
		snprintf(s->host, sizeof(s->host), "%s", host);
		s->port = port;
		char opts[1300];
		snprintf(opts, sizeof(opts),
			 "application_name='pgswitch shadow' options='-c "
			 "default_transaction_read_only=on -c "
			 "statement_timeout=" SHADOW_STMT_TIMEOUT "' %s",
			 extra ? extra : "");
		sw_control_conninfo(ctx, db, host, port, opts, s->ci,
				    sizeof(s->ci));
	}
	s->rate = rate;
	attach(s);
	log_msg(&ctx->log, LOG_LOG,
		"BLUEGREEN %s SHADOW: %.4g of read-only queries also run on "
		"%s:%d",
		dbname, rate, s->host, s->port);
	return 0;
}

void shadow_reattach(pgs_ctx_t *ctx)
{
	for (shadow_t *s = ctx->shadow; s; s = s->next)
		attach(s);
}

bool shadow_clean(pgs_ctx_t *ctx, const char *db, long need, char *why,
		  size_t cap)
{
	const shadow_t *s = find(ctx, db);
	if (!s || s->rate <= 0) {
		note_str(why, cap,
			 "min_shadow_reads = %ld, but %s has no shadow reads "
			 "(BLUEGREEN %s SHADOW rate)",
			 need, db, db);
		return false;
	}
	if (s->mismatched || s->errors) {
		note_str(why, cap,
			 "shadow reads found %llu mismatch(es) and %llu "
			 "error(s) on %s:%d: %s",
			 (unsigned long long)s->mismatched,
			 (unsigned long long)s->errors, s->host, s->port,
			 s->last_mismatch[0] ? s->last_mismatch
					     : s->last_error);
		return false;
	}
	if (s->matched < (uint64_t)need) {
		note_str(why, cap,
			 "min_shadow_reads = %ld: %llu clean shadow read(s) "
			 "so far",
			 need, (unsigned long long)s->matched);
		return false;
	}
	return true;
}

static const pgp_field_t fields[SHADOW_REPORT_COLS] = {
	{"database", PGP_OID_TEXT, -1},	     {"target", PGP_OID_TEXT, -1},
	{"rate", PGP_OID_TEXT, -1},	     {"sampled", PGP_OID_INT8, 8},
	{"compared", PGP_OID_INT8, 8},	     {"matched", PGP_OID_INT8, 8},
	{"mismatched", PGP_OID_INT8, 8},     {"errors", PGP_OID_INT8, 8},
	{"old_errors", PGP_OID_INT8, 8},     {"skipped", PGP_OID_INT8, 8},
	{"last_mismatch", PGP_OID_TEXT, -1}, {"last_error", PGP_OID_TEXT, -1},
};

const pgp_field_t *shadow_report_fields(void)
{
	return fields;
}

void shadow_report(pgs_ctx_t *ctx, const char *db, shadow_row_cb cb, void *arg)
{
	for (const shadow_t *s = ctx->shadow; s; s = s->next) {
		if (db && *db && strcmp(db, s->db) != 0)
			continue;
		char tgt[300], rate[32], n[8][24];
		snprintf(tgt, sizeof(tgt), "%s:%d", s->host, s->port);
		snprintf(rate, sizeof(rate), "%g", s->rate);
		const uint64_t v[8] = {
			s->sampled, s->compared,   s->matched, s->mismatched,
			s->errors,  s->old_errors, s->skipped};
		for (int i = 0; i < 7; i++)
			snprintf(n[i], sizeof(n[i]), "%llu",
				 (unsigned long long)v[i]);
		const char *row[SHADOW_REPORT_COLS] = {
			s->db,
			tgt,
			rate,
			n[0],
			n[1],
			n[2],
			n[3],
			n[4],
			n[5],
			n[6],
			s->last_mismatch[0] ? s->last_mismatch : NULL,
			s->last_error[0] ? s->last_error : NULL};
		cb(arg, row, SHADOW_REPORT_COLS);
	}
}

void shadow_free(pgs_ctx_t *ctx)
{
	while (ctx->shadow) {
		shadow_t *s = ctx->shadow;
		ctx->shadow = s->next;
		pool_db_t *db = pool_db_find(ctx, s->db);
		if (db && db->tap == &s->tap)
			db->tap = NULL;
		swc_close(s->c);
		for (int i = 0; i < SHADOW_QMAX; i++)
			item_free(&s->q[i]);
		free(s);
	}
}
