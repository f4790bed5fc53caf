/* SPDX-License-Identifier: MIT */
/*
 * bg_finish.c - BLUEGREEN db FINISH ['conninfo']: the end of the rollback
 * window. On both sides of the blue/green (the database's current target
 * and the other one: PREPARE's, the last logical switch's, or CONNINFO):
 *
 *   FIN_DROP  list the subscriptions to drop: pgswitch's (pgswitch_<db>,
 *             pgswitch_rev_<db>, PREPARE's own names), and any a switch
 *             left disabled and detached (it has no slot to resume
 *             from), and pgswitch's publications; then, in one read-write
 *             transaction (the old side is fenced), each subscription
 *             disabled, detached and dropped, so DROP SUBSCRIPTION
 *             reaches for no remote slot, and the publications
 *   FIN_SLOTS every slot those subscriptions named, and pgswitch's own
 *             names, dropped on both sides once inactive (a walsender
 *             leaves a moment after its subscriber stopped), retried up
 *             to FIN_SLOT_WAIT_MS
 *
 * The old side stays fenced, as after a physical switch. An operator's
 * enabled subscription of another name is left alone.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "pool/pool.h"
#include "switch/bg_parse.h"
#include "switch/bluegreen.h"
#include "switch/sw_parse.h"
#include "switch/switchover.h"
#include "switch/swc.h"
#include "util/strq.h"

#define FIN_SLOT_WAIT_MS 5000
#define FIN_SLOT_POLL_MS 50
#define FIN_LIST_MAX	 2048

typedef enum fin_step {
	FIN_CONNECT,
	FIN_DROP,
	FIN_SLOTS,
	FIN_DONE,
} fin_step_t;

typedef struct fin_side {
	char host[256];
	int port;
	char ci[1400];
	swc_t *c;
	bool up;
	bool listed; /* FIN_DROP: the list came, the drop is out */
	char dropped[FIN_LIST_MAX];
} fin_side_t;

typedef struct bg_fin {
	pgs_ctx_t *ctx;
	char db[64];
	fin_side_t side[2]; /* 0: in use; 1: the other */
	int cur;
	fin_step_t step;
	int answered;
	int polls;
	char names[1024]; /* ours, as an SQL array */
	char slots[FIN_LIST_MAX];
	int nslots;
	int slots_left;
	bg_done_cb done;
	void *arg;
	uint64_t timer;
	char detail[1024];
} bg_fin_t;

static void fin_next(bg_fin_t *f);

#define note(f, ...) strq_appendf((f)->detail, sizeof((f)->detail), __VA_ARGS__)

static void add_name(char *list, size_t cap, const char *name)
{
	char lit[2 * BG_NAME_MAX + 3];
	if (!name || !*name)
		return;
	strq_quote(name, '\'', lit, sizeof(lit));
	if (strstr(list, lit))
		return;
	size_t off = strlen(list);
	snprintf(list + off, cap - off, "%s%s", off ? "," : "", lit);
}

static void fin_end(bg_fin_t *f)
{
	if (f->timer)
		ev_timer_del(f->ctx->loop, f->timer);
	f->timer = 0;
	for (int i = 0; i < 2; i++)
		swc_close(f->side[i].c);
	char msg[4096];
	size_t off = (size_t)snprintf(msg, sizeof(msg), "BLUEGREEN %s FINISH",
				      f->db);
	for (int i = 0; i < 2 && off < sizeof(msg); i++) {
		const fin_side_t *s = &f->side[i];
		if (!s->host[0] && !s->port)
			continue;
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
					"; %s:%d: %s", s->host, s->port,
					!s->up		? "not reached"
					: s->dropped[0] ? s->dropped
							: "nothing of ours");
	}
	if (f->detail[0] && off < sizeof(msg))
		snprintf(msg + off, sizeof(msg) - off, "; %s", f->detail);
	bool ok = f->side[0].up && f->slots_left == 0;
	if (ok)
		bg_forget(f->ctx, f->db);
	log_msg(&f->ctx->log, ok ? LOG_LOG : LOG_WARNING, "%s", msg);
	if (f->done)
		f->done(f->ctx, f->arg, ok, msg);
	free(f);
}

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg);

static bool ask(bg_fin_t *f, const char *sql)
{
	fin_side_t *s = &f->side[f->cur];
	if (s->c && swc_query(s->c, sql, on_result, f))
		return true;
	note(f, "%s:%d: control connection not usable", s->host, s->port);
	return false;
}

static void list_subs(bg_fin_t *f)
{
	char sql[4096];
	snprintf(sql, sizeof(sql),
		 "SELECT 's', s.subname, s.subenabled::text, s.subslotname "
		 "FROM pg_subscription s JOIN pg_database d ON d.oid = "
		 "s.subdbid AND d.datname = current_database() WHERE s.subname "
		 "= ANY(ARRAY[%s]::name[]) OR (NOT s.subenabled AND "
		 "s.subslotname IS NULL) UNION ALL SELECT 'p', pubname, NULL, "
		 "NULL FROM pg_publication WHERE pubname = "
		 "ANY(ARRAY[%s]::name[])",
		 f->names, f->names);
	if (!ask(f, sql))
		fin_next(f);
}

static void add_dropped(fin_side_t *s, const char *what, const char *name)
{
	size_t d = strlen(s->dropped);
	snprintf(s->dropped + d, sizeof(s->dropped) - d, "%s%s %s",
		 d ? ", " : "", what, name);
}

static void drop_subs(bg_fin_t *f, PGresult *res)
{
	fin_side_t *s = &f->side[f->cur];
	size_t cap = 32768, off = 0;
	char *sql = malloc(cap);
	if (!sql) {
		note(f, "out of memory");
		fin_next(f);
		return;
	}
	off += (size_t)snprintf(sql, cap, "BEGIN READ WRITE; ");
	int n = res ? PQntuples(res) : 0;
	for (int i = 0; i < n && off < cap; i++) {
		char id[2 * BG_NAME_MAX + 3];
		bool sub = strcmp(swc_value(res, i, 0), "s") == 0;
		const char *name = swc_value(res, i, 1);
		const char *slot = swc_value(res, i, 3);
		strq_quote(name, '"', id, sizeof(id));
		if (!sub) {
			off += (size_t)snprintf(sql + off, cap - off,
						"DROP PUBLICATION %s; ", id);
			add_dropped(s, "publication", name);
			continue;
		}
		if (strcmp(swc_value(res, i, 2), "true") == 0)
			off += (size_t)snprintf(
				sql + off, cap - off,
				"ALTER SUBSCRIPTION %s DISABLE; ", id);
		if (slot) {
			off += (size_t)snprintf(sql + off, cap - off,
						"ALTER SUBSCRIPTION %s SET "
						"(slot_name = NONE); ",
						id);
			add_name(f->slots, sizeof(f->slots), slot);
		}
		off += (size_t)snprintf(sql + off, cap - off,
					"DROP SUBSCRIPTION %s; ", id);
		add_dropped(s, "subscription", name);
	}
	if (off < cap)
		off += (size_t)snprintf(sql + off, cap - off, "COMMIT");
	if (off >= cap) {
		note(f, "too many objects to drop at once");
		free(sql);
		fin_next(f);
		return;
	}
	if (!ask(f, sql))
		fin_next(f);
	free(sql);
}

static void drop_slots(bg_fin_t *f)
{
	char sql[6000];
	snprintf(
		sql, sizeof(sql),
		"WITH d AS (SELECT slot_name, "
		"pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
		"WHERE slot_name = ANY(ARRAY[%s]::name[]) AND NOT active) "
		"SELECT (SELECT count(*) FROM pg_replication_slots WHERE "
		"slot_name = ANY(ARRAY[%s]::name[]) AND active), (SELECT "
		"string_agg(slot_name, ', ') FROM d)",
		f->slots, f->slots);
	if (!ask(f, sql))
		fin_next(f);
}

static void on_timer(ev_loop_t *loop, void *data)
{
	bg_fin_t *f = data;
	(void)loop;
	f->timer = 0;
	drop_slots(f);
}

/* The next side, or the next step once both sides had this one. */
static void fin_next(bg_fin_t *f)
{
	for (;;) {
		if (f->cur == 0) {
			f->cur = 1;
		} else {
			f->cur = 0;
			f->step++;
		}
		if (f->step >= FIN_DONE) {
			fin_end(f);
			return;
		}
		if (f->side[f->cur].up)
			break;
	}
	if (f->step == FIN_DROP)
		list_subs(f); /* drop_subs() runs on its answer */
	else if (f->step == FIN_SLOTS) {
		f->polls = 0;
		drop_slots(f);
	}
}

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg)
{
	bg_fin_t *f = arg;
	fin_side_t *s = &f->side[f->cur];
	(void)c;
	if (err) {
		note(f, "%s:%d: %s", s->host, s->port, err);
		if (f->step == FIN_SLOTS)
			f->slots_left++;
		fin_next(f);
		return;
	}
	switch (f->step) {
	case FIN_DROP:
		if (!s->listed) {
			s->listed = true;
			drop_subs(f, res);
			return;
		}
		fin_next(f);
		return;
	case FIN_SLOTS: {
		const char *left = res ? swc_value(res, 0, 0) : NULL;
		if (res && swc_value(res, 0, 1))
			add_dropped(s, "slot", swc_value(res, 0, 1));
		if (left && strcmp(left, "0") != 0 &&
		    ++f->polls < FIN_SLOT_WAIT_MS / FIN_SLOT_POLL_MS) {
			f->timer = ev_timer_add(f->ctx->loop, FIN_SLOT_POLL_MS,
						on_timer, f);
			return;
		}
		if (left && strcmp(left, "0") != 0) {
			f->slots_left++;
			note(f, "%s:%d: a slot is still active", s->host,
			     s->port);
		}
		fin_next(f);
		return;
	}
	default:
		fin_next(f);
		return;
	}
}

static void on_connected(swc_t *c, PGresult *res, const char *err, void *arg)
{
	bg_fin_t *f = arg;
	(void)res;
	int i = c == f->side[0].c ? 0 : 1;
	if (err)
		note(f, "%s:%d: %s", f->side[i].host, f->side[i].port, err);
	else
		f->side[i].up = true;
	if (++f->answered < (f->side[1].port ? 2 : 1))
		return;
	f->cur = 1; /* fin_next() moves to side 0 of FIN_DROP */
	f->step = FIN_CONNECT;
	fin_next(f);
}

static int say(char *err, size_t el, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int say(char *err, size_t el, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, el, fmt, ap);
	va_end(ap);
	return -1;
}

/* The side that is not DB's current target, from what pgswitch knows. */
static bool other_side(pgs_ctx_t *ctx, pool_db_t *db, const char *ci,
		       fin_side_t *o, bg_sides_t *bs, bool *have_bg)
{
	const char *cur = db->host ? db->host : "";
	char ah[256], bh[256];
	int ap, bp;
	*have_bg = bg_sides(ctx, db->name, bs);
	if (ci && *ci) {
		sw_conninfo_target(ci, o->host, sizeof(o->host), &o->port);
	} else if (*have_bg) {
		bool at_old = strcmp(bs->old_host, cur) == 0 &&
			      bs->old_port == db->port;
		snprintf(o->host, sizeof(o->host), "%s",
			 at_old ? bs->new_host : bs->old_host);
		o->port = at_old ? bs->new_port : bs->old_port;
	} else if (sw_last_logical(ctx, db->name, ah, sizeof(ah), &ap, bh,
				   &bp)) {
		bool at_a = strcmp(ah, cur) == 0 && ap == db->port;
		snprintf(o->host, sizeof(o->host), "%s", at_a ? bh : ah);
		o->port = at_a ? bp : ap;
	} else {
		return false;
	}
	char extra[1200];
	snprintf(extra, sizeof(extra),
		 "application_name='pgswitch bluegreen' %s",
		 ci && *ci ? ci : "");
	sw_control_conninfo(ctx, db, o->host, o->port, extra, o->ci,
			    sizeof(o->ci));
	return true;
}

int bg_finish(pgs_ctx_t *ctx, const char *dbname, const char *ci,
	      bg_done_cb done, void *arg, char *err, size_t errlen)
{
	pool_db_t *db = pool_db_lookup(ctx, dbname);
	if (!db)
		return say(err, errlen, "no such database: %s", dbname);
	bg_fin_t *f = calloc(1, sizeof(*f));
	if (!f)
		return say(err, errlen, "out of memory");
	f->ctx = ctx;
	snprintf(f->db, sizeof(f->db), "%s", dbname);
	bg_sides_t bs;
	bool have_bg;
	if (!other_side(ctx, db, ci, &f->side[1], &bs, &have_bg)) {
		free(f);
		return say(err, errlen,
			   "BLUEGREEN %s FINISH: pgswitch knows no other side "
			   "(no PREPARE or logical switch since it started): "
			   "name it, BLUEGREEN %s FINISH 'host=... port=...'",
			   dbname, dbname);
	}
	snprintf(f->side[0].host, sizeof(f->side[0].host), "%s",
		 db->host ? db->host : "");
	f->side[0].port = db->port;
	sw_control_conninfo(ctx, db, db->host, db->port,
			    "application_name='pgswitch bluegreen'",
			    f->side[0].ci, sizeof(f->side[0].ci));
	char name[BG_NAME_MAX];
	bg_default_name(db->name, name, sizeof(name));
	add_name(f->names, sizeof(f->names), name);
	char rev[BG_NAME_MAX + 8];
	snprintf(rev, sizeof(rev), "pgswitch_rev_%s", name + 9);
	add_name(f->names, sizeof(f->names), rev);
	if (have_bg) {
		add_name(f->names, sizeof(f->names), bs.pub);
		add_name(f->names, sizeof(f->names), bs.sub);
	}
	memcpy(f->slots, f->names, sizeof(f->names));
	f->done = done;
	f->arg = arg;
	log_msg(&ctx->log, LOG_LOG,
		"BLUEGREEN %s FINISH: dropping pgswitch's replication objects "
		"on %s:%d and %s:%d",
		dbname, f->side[0].host, f->side[0].port, f->side[1].host,
		f->side[1].port);
	for (int i = 0; i < 2; i++) {
		f->side[i].c =
			swc_open(ctx->loop, f->side[i].ci, on_connected, f);
		if (!f->side[i].c) {
			for (int k = 0; k < i; k++)
				swc_close(f->side[k].c);
			free(f);
			return say(err, errlen,
				   "cannot start a control connection");
		}
	}
	return 0;
}
