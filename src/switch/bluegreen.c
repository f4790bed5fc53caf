/* SPDX-License-Identifier: MIT */
/*
 * bluegreen.c - BLUEGREEN db PREPARE TO 'conninfo' [WITH (...)]: make the
 * new side a logical replica of the database's current target, then keep
 * SHOW BLUEGREEN's view of it fresh.
 *
 *   BG_CONNECTING ---- control connections to the old side (the current
 *     |                [databases] target) and the new side (swc.h)
 *     v
 *   BG_PREFLIGHT ----- old: wal_level, free slots and senders, the tables
 *     |                and their keys, extensions; new: not a standby,
 *     |                free workers, extensions available, which tables
 *     |                exist. Every blocker is collected, then named.
 *     v
 *   BG_COPYING_SCHEMA  only if the new side has none of the tables:
 *     |                pg_dump --schema-only | psql (bg_child.c)
 *     v
 *   BG_CREATING ------ CREATE PUBLICATION on the old side, CREATE
 *     |                SUBSCRIPTION on the new (ours already there, by
 *     |                name: adopted, so PREPARE is re-runnable)
 *     v
 *   BG_SYNCING <-> BG_READY  a poll every BG_POLL_MS on the control
 *                  connections: srsubstate of each table, slot lag, WAL
 *                  retained. READY when every table is 'r'.
 *
 * SHOW BLUEGREEN serves what the last poll saw: the console never waits.
 * Nothing is persisted by pgswitch: the publication and subscription are
 * the state, and a PREPARE after a restart adopts them.
 */
#include "switch/bluegreen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "pool/pool.h"
#include "switch/bg_child.h"
#include "switch/bg_parse.h"
#include "switch/sw_parse.h"
#include "switch/swc.h"
#include "util/strq.h"

#ifndef PGSWITCH_PG_BINDIR
#define PGSWITCH_PG_BINDIR "/usr/lib/postgresql/15/bin"
#endif

#define BG_POLL_MS    1000
#define BG_SQL_MAX    65536
#define BG_DETAIL_MAX 2048

typedef enum bg_step {
	ST_OLD_SETTINGS,
	ST_OLD_TABLES,
	ST_OLD_EXT,
	ST_NEW_SETTINGS,
	ST_NEW_EXT,
	ST_NEW_TABLES,
	ST_VERDICT, /* blockers, or the schema copy */
	ST_RECHECK, /* the copied schema has every table */
	ST_CREATE_PUB,
	ST_CREATE_SUB,
	ST_POLL_SLOT,
	ST_POLL_RELS,
	ST_POLL_LAG,
	ST_IDLE,
} bg_step_t;

typedef struct bg_table {
	char name[BG_TABLE_NAME_MAX];
	bool has_key;
	bool on_new;
	bg_relstate_t st;
} bg_table_t;

typedef struct bg {
	struct bg *next;
	pgs_ctx_t *ctx;
	bg_state_t state;
	bg_step_t step;
	char db[64];
	char target[300]; /* the new side, host:port */
	bg_sides_t sides;
	char conn_old[1024];
	char conn_new[1024];
	char sub_ci[1024]; /* the old side as the new one reaches it */
	bg_opts_t o;
	char pub[BG_NAME_MAX];
	char sub[BG_NAME_MAX];
	swc_t *old;
	swc_t *neu;
	int ready;
	bg_done_cb done; /* the PREPARE still waiting for its reply */
	void *done_arg;
	bg_table_t tables[BG_TABLES_MAX];
	int ntables;
	int nlisted; /* tables named in WITH (tables = ...) */
	char exts[1024];
	bool pub_exists, sub_exists, slot_exists;
	int missing; /* tables absent on the new side */
	bg_child_t *child;
	uint64_t timer;
	char *sql;
	char lag_bytes[32], lag_s[32], retained[32], wal_status[16];
	bool have_slot;
	const char *opening; /* inside swc_open() of this side */
	char open_err[512];  /* a connect that failed inside swc_open() */
	char blockers[BG_DETAIL_MAX];
	char detail[BG_DETAIL_MAX];
} bg_t;

/* pgs_ctx_t has no slot for this module (pool_types.h is src/pool's):
 * the blue/greens of the one context a process runs. */

static const char *const state_names[BG_NSTATES] = {
	"connecting", "preflight", "copying schema", "creating",
	"syncing",    "ready",	   "switched",	     "failed",
};

const char *bg_state_name(bg_state_t s)
{
	return s < BG_NSTATES ? state_names[s] : "?";
}

const char *bg_relstate_name(bg_relstate_t s)
{
	switch (s) {
	case BG_REL_UNKNOWN:
		return "unknown";
	case BG_REL_INIT:
		return "init";
	case BG_REL_COPYING:
		return "copying";
	case BG_REL_FINISHED:
		return "finished";
	case BG_REL_SYNCDONE:
		return "synchronized";
	case BG_REL_READY:
		return "ready";
	}
	return "?";
}

bg_relstate_t bg_relstate_from(char c)
{
	switch (c) {
	case 'i':
		return BG_REL_INIT;
	case 'd':
		return BG_REL_COPYING;
	case 'f':
		return BG_REL_FINISHED;
	case 's':
		return BG_REL_SYNCDONE;
	case 'r':
		return BG_REL_READY;
	default:
		return BG_REL_UNKNOWN;
	}
}

static bg_t *bg_find(pgs_ctx_t *ctx, const char *db)
{
	for (bg_t *b = ctx->bg; b; b = b->next)
		if (strcmp(b->db, db) == 0)
			return b;
	return NULL;
}

static void blocker(bg_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void blocker(bg_t *b, const char *fmt, ...)
{
	char line[BG_DETAIL_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	strq_appendf(b->blockers, sizeof(b->blockers), "%s", line);
}

static void close_conns(bg_t *b)
{
	swc_close(b->old);
	swc_close(b->neu);
	b->old = b->neu = NULL;
	b->ready = 0;
}

static void reply(bg_t *b, bool ok, const char *msg)
{
	bg_done_cb done = b->done;
	b->done = NULL;
	if (done)
		done(b->ctx, b->done_arg, ok, msg);
}

static void fail(bg_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(bg_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->detail, sizeof(b->detail), fmt, ap);
	va_end(ap);
	b->state = BG_FAILED;
	b->step = ST_IDLE;
	close_conns(b);
	bg_child_free(b->child);
	b->child = NULL;
	log_msg(&b->ctx->log, LOG_WARNING, "BLUEGREEN %s: %s", b->db,
		b->detail);
	char msg[BG_DETAIL_MAX + 100];
	snprintf(msg, sizeof(msg), "BLUEGREEN %s PREPARE: %s", b->db,
		 b->detail);
	reply(b, false, msg);
}

static void run_step(bg_t *b);

/* The old side's own tables as a SQL array: ARRAY['s.t', ...]::text[]. */
static bool tables_array(bg_t *b, size_t *o)
{
	if (!bg_cat(b->sql, BG_SQL_MAX, o, "ARRAY["))
		return false;
	for (int i = 0; i < b->ntables; i++)
		if ((i && !bg_cat(b->sql, BG_SQL_MAX, o, ",")) ||
		    !bg_lit(b->sql, BG_SQL_MAX, o, b->tables[i].name))
			return false;
	return bg_cat(b->sql, BG_SQL_MAX, o, "]::text[]");
}

static const char user_tables[] =
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.relkind = 'r' AND n.nspname <> 'information_schema'"
	" AND n.nspname !~ '^pg_'";

static const char has_key[] =
	"CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false"
	" WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid ="
	" c.oid AND i.indisreplident) ELSE EXISTS (SELECT 1 FROM pg_index i"
	" WHERE i.indrelid = c.oid AND i.indisprimary) END";

/* The SQL of a step, and which side runs it; false: nothing to send. */
static bool step_sql(bg_t *b, swc_t **side)
{
	size_t o = 0;
	char *s = b->sql;
	bool need_copy = b->o.copy_data;
	*side = b->old;
	switch (b->step) {
	case ST_OLD_SETTINGS:
		return bg_cat(s, BG_SQL_MAX, &o,
			      "SELECT current_setting('wal_level'),"
			      " current_setting('max_replication_slots')::int"
			      " - (SELECT count(*) FROM pg_replication_slots),"
			      " current_setting('max_wal_senders')::int -"
			      " (SELECT count(*) FROM pg_stat_replication),"
			      " (SELECT count(*) FROM pg_replication_slots"
			      " WHERE slot_name = '%s'),"
			      " (SELECT count(*) FROM pg_publication WHERE"
			      " pubname = '%s'), %d",
			      b->sub, b->pub, need_copy ? 2 : 1);
	case ST_OLD_TABLES:
		if (!bg_cat(s, BG_SQL_MAX, &o,
			    "SELECT n.nspname || '.' || c.relname, %s%s",
			    has_key, user_tables))
			return false;
		if (b->nlisted &&
		    (!bg_cat(s, BG_SQL_MAX, &o,
			     " AND n.nspname || '.' || c.relname"
			     " = ANY (") ||
		     !tables_array(b, &o) || !bg_cat(s, BG_SQL_MAX, &o, ")")))
			return false;
		return bg_cat(s, BG_SQL_MAX, &o, " ORDER BY 1");
	case ST_OLD_EXT:
		return bg_cat(s, BG_SQL_MAX, &o,
			      "SELECT extname FROM pg_extension WHERE extname"
			      " <> 'plpgsql' ORDER BY 1");
	case ST_NEW_SETTINGS:
		*side = b->neu;
		return bg_cat(
			s, BG_SQL_MAX, &o,
			"SELECT pg_is_in_recovery(),"
			" current_setting('max_logical_replication_workers')"
			"::int - (SELECT count(*) FROM pg_stat_activity WHERE"
			" backend_type = 'logical replication worker'),"
			" current_setting('max_worker_processes')::int -"
			" (SELECT count(*) FROM pg_stat_activity WHERE"
			" backend_type NOT IN ('client backend', 'autovacuum"
			" launcher', 'autovacuum worker', 'background writer',"
			" 'checkpointer', 'walwriter', 'startup', "
			"'walreceiver',"
			" 'walsender', 'archiver', 'standalone backend')),"
			" (SELECT count(*) FROM pg_subscription WHERE subname ="
			" '%s')",
			b->sub);
	case ST_NEW_EXT:
		*side = b->neu;
		if (!b->exts[0])
			return false;
		o = 0;
		if (!bg_cat(s, BG_SQL_MAX, &o,
			    "SELECT e FROM unnest(string_to_array(") ||
		    !bg_lit(s, BG_SQL_MAX, &o, b->exts))
			return false;
		return bg_cat(s, BG_SQL_MAX, &o,
			      ", ',')) e WHERE e NOT IN (SELECT name FROM"
			      " pg_available_extensions) ORDER BY 1");
	case ST_NEW_TABLES:
	case ST_RECHECK:
		*side = b->neu;
		if (!b->ntables)
			return false;
		return bg_cat(s, BG_SQL_MAX, &o,
			      "SELECT n.nspname || '.' || c.relname%s AND "
			      "n.nspname || '.' || c.relname = ANY (",
			      user_tables) &&
		       tables_array(b, &o) && bg_cat(s, BG_SQL_MAX, &o, ")");
	case ST_CREATE_PUB:
		if (b->pub_exists)
			return false;
		if (!bg_cat(s, BG_SQL_MAX, &o, "CREATE PUBLICATION \"%s\" FOR ",
			    b->pub))
			return false;
		if (!b->nlisted)
			return bg_cat(s, BG_SQL_MAX, &o, "ALL TABLES");
		if (!bg_cat(s, BG_SQL_MAX, &o, "TABLE "))
			return false;
		for (int i = 0; i < b->ntables; i++)
			if ((i && !bg_cat(s, BG_SQL_MAX, &o, ", ")) ||
			    !bg_qualified(s, BG_SQL_MAX, &o, b->tables[i].name))
				return false;
		return true;
	case ST_CREATE_SUB:
		*side = b->neu;
		if (b->sub_exists)
			return false;
		return bg_cat(s, BG_SQL_MAX, &o,
			      "CREATE SUBSCRIPTION \"%s\" CONNECTION ",
			      b->sub) &&
		       bg_lit(s, BG_SQL_MAX, &o, b->sub_ci) &&
		       bg_cat(s, BG_SQL_MAX, &o,
			      " PUBLICATION \"%s\" WITH (copy_data = %s)",
			      b->pub, b->o.copy_data ? "true" : "false");
	case ST_POLL_SLOT:
		return bg_cat(s, BG_SQL_MAX, &o,
			      "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(),"
			      " confirmed_flush_lsn)::bigint,"
			      " pg_wal_lsn_diff(pg_current_wal_lsn(),"
			      " restart_lsn)::bigint, wal_status FROM"
			      " pg_replication_slots WHERE slot_name = '%s'",
			      b->sub);
	case ST_POLL_RELS:
		*side = b->neu;
		return bg_cat(s, BG_SQL_MAX, &o,
			      "SELECT n.nspname || '.' || c.relname,"
			      " sr.srsubstate FROM pg_subscription_rel sr JOIN"
			      " pg_subscription s ON s.oid = sr.srsubid JOIN"
			      " pg_class c ON c.oid = sr.srrelid JOIN"
			      " pg_namespace n ON n.oid = c.relnamespace WHERE"
			      " s.subname = '%s' ORDER BY 1",
			      b->sub);
	case ST_POLL_LAG:
		*side = b->neu;
		return bg_cat(
			s, BG_SQL_MAX, &o,
			"SELECT round(extract(epoch FROM clock_timestamp()"
			" - coalesce(latest_end_time,"
			" last_msg_receipt_time))::numeric, 3) FROM"
			" pg_stat_subscription WHERE subname = '%s' AND"
			" relid IS NULL",
			b->sub);
	case ST_VERDICT:
	case ST_IDLE:
		return false;
	}
	return false;
}

static int ival(PGresult *res, int row, int col)
{
	const char *v = swc_value(res, row, col);
	return v ? atoi(v) : 0;
}

static bool tval(PGresult *res, int row, int col)
{
	const char *v = swc_value(res, row, col);
	return v && v[0] == 't';
}

/* A list of names (first column) as "a, b, c", bounded. */
static void name_list(PGresult *res, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; i < PQntuples(res); i++)
		if (!bg_cat(out, cap, &o, "%s%s", i ? ", " : "",
			    swc_value(res, i, 0))) {
			bg_cat(out, cap, &o, " ...");
			break;
		}
}

static void old_settings(bg_t *b, PGresult *res)
{
	const char *wl = swc_value(res, 0, 0);
	int need = ival(res, 0, 5);
	b->slot_exists = ival(res, 0, 3) > 0;
	b->pub_exists = ival(res, 0, 4) > 0;
	if (!wl || strcmp(wl, "logical") != 0)
		blocker(b, "wal_level = %s on the old side (logical needed)",
			wl ? wl : "?");
	/* An adopted slot is in use already; a table sync needs one more. */
	int free_slots = ival(res, 0, 1) + (b->slot_exists ? need : 0);
	if (free_slots < need)
		blocker(b,
			"max_replication_slots: %d free on the old side, %d "
			"needed",
			ival(res, 0, 1), need);
	if (ival(res, 0, 2) < need)
		blocker(b,
			"max_wal_senders: %d free on the old side, %d needed",
			ival(res, 0, 2), need);
}

static void old_tables(bg_t *b, PGresult *res)
{
	char listed[BG_TABLES_MAX][BG_TABLE_NAME_MAX];
	int nl = b->nlisted;
	for (int i = 0; i < nl; i++)
		memcpy(listed[i], b->tables[i].name, BG_TABLE_NAME_MAX);
	b->ntables = 0;
	char nokey[BG_DETAIL_MAX / 2] = "";
	size_t o = 0;
	for (int i = 0; i < PQntuples(res) && i < BG_TABLES_MAX; i++) {
		bg_table_t *t = &b->tables[b->ntables++];
		memset(t, 0, sizeof(*t));
		snprintf(t->name, sizeof(t->name), "%s", swc_value(res, i, 0));
		t->has_key = tval(res, i, 1);
		if (!t->has_key)
			bg_cat(nokey, sizeof(nokey), &o, "%s%s", o ? ", " : "",
			       t->name);
	}
	if (PQntuples(res) > BG_TABLES_MAX)
		blocker(b, "more than %d tables: name them in tables = '...'",
			BG_TABLES_MAX);
	if (nokey[0] && !b->o.allow_no_key)
		blocker(b,
			"no primary key or replica identity on the old side: "
			"%s (ALTER TABLE ... REPLICA IDENTITY FULL, or "
			"allow_no_key = on)",
			nokey);
	for (int i = 0; i < nl; i++) {
		int k = 0;
		while (k < b->ntables && strcmp(b->tables[k].name, listed[i]))
			k++;
		if (k == b->ntables)
			blocker(b, "no table %s on the old side", listed[i]);
	}
	if (!b->ntables && !nl)
		blocker(b, "no tables to replicate on the old side");
}

static void new_settings(bg_t *b, PGresult *res)
{
	int need = b->o.copy_data ? 2 : 1;
	b->sub_exists = ival(res, 0, 3) > 0;
	if (tval(res, 0, 0))
		blocker(b, "the new side is in recovery (a standby cannot "
			   "subscribe)");
	if (!b->sub_exists && ival(res, 0, 1) < need)
		blocker(b,
			"max_logical_replication_workers: %d free on the new "
			"side, %d needed",
			ival(res, 0, 1), need);
	if (!b->sub_exists && ival(res, 0, 2) < need)
		blocker(b,
			"max_worker_processes: %d free on the new side, %d "
			"needed",
			ival(res, 0, 2), need);
	if (b->slot_exists && !b->sub_exists)
		blocker(b,
			"replication slot %s exists on the old side but no "
			"subscription %s on the new side uses it (drop it, or "
			"choose another subscription name)",
			b->sub, b->sub);
}

/* Which of our tables the new side has; RECHECK: after the copy all. */
static void new_tables(bg_t *b, PGresult *res, bool recheck)
{
	for (int k = 0; k < b->ntables; k++)
		b->tables[k].on_new = false;
	for (int i = 0; i < PQntuples(res); i++)
		for (int k = 0; k < b->ntables; k++)
			if (strcmp(b->tables[k].name, swc_value(res, i, 0)) ==
			    0)
				b->tables[k].on_new = true;
	char miss[BG_DETAIL_MAX / 2] = "";
	size_t o = 0;
	b->missing = 0;
	for (int k = 0; k < b->ntables; k++)
		if (!b->tables[k].on_new) {
			b->missing++;
			bg_cat(miss, sizeof(miss), &o, "%s%s", o ? ", " : "",
			       b->tables[k].name);
		}
	if (b->missing && (recheck || b->missing < b->ntables))
		blocker(b,
			"%s on the new side: %s (create them, or start from a "
			"database with none of the tables: the schema is then "
			"copied)",
			recheck ? "the schema copy left tables missing"
				: "tables missing",
			miss);
}

static void on_copied(void *arg, bool ok, const char *err)
{
	bg_t *b = arg;
	char why[1024];
	/* ERR is the child's, freed here. */
	snprintf(why, sizeof(why), "%s", err ? err : "");
	bg_child_free(b->child);
	b->child = NULL;
	if (!ok) {
		fail(b, "schema copy failed: %s", why);
		return;
	}
	b->state = BG_PREFLIGHT;
	b->step = ST_RECHECK;
	run_step(b);
}

/* Blockers found: refuse. None, and the new side has no table: copy the
 * schema first. */
static bool verdict(bg_t *b)
{
	if (b->blockers[0]) {
		fail(b, "refused: %s", b->blockers);
		return false;
	}
	if (!b->missing)
		return true;
	/* pg_dump -t takes a pattern: quoted, a name is matched as is. */
	char quoted[BG_TABLES_MAX][BG_TABLE_NAME_MAX + 4];
	const char *names[BG_TABLES_MAX];
	for (int i = 0; i < b->ntables; i++) {
		size_t o = 0;
		bg_qualified(quoted[i], sizeof(quoted[i]), &o,
			     b->tables[i].name);
		names[i] = quoted[i];
	}
	const char *dir = getenv("PGSWITCH_PG_BINDIR");
	char err[512];
	b->state = BG_COPYING_SCHEMA;
	log_msg(&b->ctx->log, LOG_LOG,
		"BLUEGREEN %s: the new side has none of the %d tables: copying "
		"the schema",
		b->db, b->ntables);
	b->child = bg_child_schema_copy(
		b->ctx->loop, dir && *dir ? dir : PGSWITCH_PG_BINDIR,
		b->conn_old, b->conn_new, names, b->nlisted ? b->ntables : 0,
		on_copied, b, err, sizeof(err));
	if (!b->child)
		fail(b, "%s", err);
	return false;
}

static void poll_slot(bg_t *b, PGresult *res)
{
	b->have_slot = PQntuples(res) > 0;
	snprintf(b->lag_bytes, sizeof(b->lag_bytes), "%s",
		 b->have_slot && swc_value(res, 0, 0) ? swc_value(res, 0, 0)
						      : "");
	snprintf(b->retained, sizeof(b->retained), "%s",
		 b->have_slot && swc_value(res, 0, 1) ? swc_value(res, 0, 1)
						      : "");
	snprintf(b->wal_status, sizeof(b->wal_status), "%s",
		 b->have_slot && swc_value(res, 0, 2) ? swc_value(res, 0, 2)
						      : "");
}

static void poll_rels(bg_t *b, PGresult *res)
{
	for (int k = 0; k < b->ntables; k++)
		b->tables[k].st = BG_REL_UNKNOWN;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = swc_value(res, i, 0);
		const char *st = swc_value(res, i, 1);
		int k = 0;
		while (k < b->ntables && strcmp(b->tables[k].name, name))
			k++;
		if (k == b->ntables) {
			/* A table created since PREPARE (FOR ALL TABLES). */
			if (k == BG_TABLES_MAX)
				continue;
			memset(&b->tables[k], 0, sizeof(b->tables[k]));
			snprintf(b->tables[k].name, BG_TABLE_NAME_MAX, "%s",
				 name);
			b->ntables++;
		}
		b->tables[k].st = bg_relstate_from(st ? st[0] : 0);
	}
	bool all = b->ntables > 0;
	for (int k = 0; k < b->ntables; k++)
		all = all && b->tables[k].st == BG_REL_READY;
	bg_state_t was = b->state;
	b->state = all ? BG_READY : BG_SYNCING;
	if (was != b->state)
		log_msg(&b->ctx->log, LOG_LOG, "BLUEGREEN %s: %s", b->db,
			bg_state_name(b->state));
}

static void poll_lag(bg_t *b, PGresult *res)
{
	const char *v = swc_value(res, 0, 0);
	/* Nothing to apply: no lag, however long ago the last message. */
	if (b->have_slot && strcmp(b->lag_bytes, "0") == 0)
		v = "0";
	snprintf(b->lag_s, sizeof(b->lag_s), "%s", v ? v : "");
}

/* A result of B's step: false if the job ended or went off the loop. */
static bool handle(bg_t *b, PGresult *res)
{
	switch (b->step) {
	case ST_OLD_SETTINGS:
		old_settings(b, res);
		return true;
	case ST_OLD_TABLES:
		old_tables(b, res);
		return true;
	case ST_OLD_EXT:
		name_list(res, b->exts, sizeof(b->exts));
		/* ", " separated for the display; the query wants ','. */
		for (char *p = b->exts; (p = strstr(p, ", ")); p++)
			memmove(p + 1, p + 2, strlen(p + 2) + 1);
		return true;
	case ST_NEW_EXT:
		if (PQntuples(res)) {
			char miss[512];
			name_list(res, miss, sizeof(miss));
			blocker(b,
				"extensions used on the old side not "
				"available on the new side: %s",
				miss);
		}
		return true;
	case ST_NEW_SETTINGS:
		new_settings(b, res);
		return true;
	case ST_NEW_TABLES:
	case ST_RECHECK:
		new_tables(b, res, b->step == ST_RECHECK);
		if (b->step == ST_RECHECK && b->blockers[0]) {
			fail(b, "%s", b->blockers);
			return false;
		}
		return true;
	case ST_POLL_SLOT:
		poll_slot(b, res);
		return true;
	case ST_POLL_RELS:
		poll_rels(b, res);
		return true;
	case ST_POLL_LAG:
		poll_lag(b, res);
		return true;
	default:
		return true;
	}
}

static void arm_poll(bg_t *b);

/* A poll round ended (or broke): the PREPARE still waiting gets its
 * reply, with the first view of the tables. */
static void round_done(bg_t *b)
{
	b->step = ST_IDLE;
	reply(b, true, NULL);
	arm_poll(b);
}

static void poll_error(bg_t *b, const char *side, const char *err)
{
	snprintf(b->detail, sizeof(b->detail), "poll of the %s side: %s", side,
		 err);
	close_conns(b);
	round_done(b);
}

static bool polling(const bg_t *b)
{
	return b->state == BG_SYNCING || b->state == BG_READY ||
	       b->state == BG_SWITCHED;
}

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg)
{
	bg_t *b = arg;
	const char *side = c == b->old ? "old" : "new";
	if (err) {
		if (polling(b))
			poll_error(b, side, err);
		else if (b->step == ST_CREATE_PUB || b->step == ST_CREATE_SUB)
			fail(b, "CREATE %s on the %s side: %s",
			     b->step == ST_CREATE_PUB ? "PUBLICATION"
						      : "SUBSCRIPTION",
			     side, err);
		else
			fail(b, "pre-flight on the %s side: %s", side, err);
		return;
	}
	if (!handle(b, res))
		return;
	if (b->step == ST_CREATE_PUB || b->step == ST_CREATE_SUB)
		log_msg(&b->ctx->log, LOG_LOG, "BLUEGREEN %s: %s %s created",
			b->db,
			b->step == ST_CREATE_PUB ? "publication"
						 : "subscription",
			b->step == ST_CREATE_PUB ? b->pub : b->sub);
	b->step = b->step == ST_VERDICT ? ST_CREATE_PUB : b->step + 1;
	run_step(b);
}

static void run_step(bg_t *b)
{
	for (;;) {
		if (b->step == ST_VERDICT) {
			if (!verdict(b))
				return;
			b->step = ST_CREATE_PUB;
		}
		if (b->step == ST_CREATE_PUB)
			b->state = BG_CREATING;
		if (b->step == ST_POLL_SLOT && b->state == BG_CREATING) {
			b->state = BG_SYNCING;
			log_msg(&b->ctx->log, LOG_LOG,
				"BLUEGREEN %s: publication %s, subscription "
				"%s: syncing",
				b->db, b->pub, b->sub);
		}
		if (b->step == ST_IDLE) {
			round_done(b);
			return;
		}
		swc_t *side = NULL;
		b->sql[0] = 0;
		if (!step_sql(b, &side)) {
			if (b->sql[0]) {
				fail(b, "a query does not fit in %d bytes",
				     BG_SQL_MAX);
				return;
			}
			b->step++; /* nothing to ask at this step */
			continue;
		}
		if (side && swc_query(side, b->sql, on_result, b))
			return;
		if (polling(b))
			poll_error(b, side == b->old ? "old" : "new",
				   "control connection lost");
		else
			fail(b, "cannot send a query on a control connection");
		return;
	}
}

static void on_connected(swc_t *c, PGresult *res, const char *err, void *arg)
{
	bg_t *b = arg;
	(void)res;
	const char *side = c == b->old ? "old" : "new";
	if (err && b->opening) {
		snprintf(b->open_err, sizeof(b->open_err),
			 "connect to the %s side: %s", b->opening, err);
		return;
	}
	if (err) {
		if (polling(b))
			poll_error(b, side, err);
		else
			fail(b, "connect to the %s side: %s", side, err);
		return;
	}
	if (++b->ready < 2)
		return;
	if (polling(b)) {
		b->step = ST_POLL_SLOT;
	} else {
		b->state = BG_PREFLIGHT;
		b->step = ST_OLD_SETTINGS;
	}
	run_step(b);
}

/* Both control connections; false (with B->open_err) if one could not
 * even start. */
static bool open_conns(bg_t *b)
{
	b->ready = 0;
	b->open_err[0] = 0;
	b->opening = "old";
	b->old = swc_open(b->ctx->loop, b->conn_old, on_connected, b);
	b->opening = "new";
	if (b->old && !b->open_err[0])
		b->neu = swc_open(b->ctx->loop, b->conn_new, on_connected, b);
	b->opening = NULL;
	if (b->old && b->neu && !b->open_err[0])
		return true;
	if (!b->open_err[0])
		snprintf(b->open_err, sizeof(b->open_err),
			 "cannot start a control connection");
	close_conns(b);
	return false;
}

/* A logical SWITCHOVER moved the database off the old side: the forward
 * subscription is handed over, so its poll would only report it gone.
 * Back on the old side (a ROLLBACK), polling resumes. */
static bool switched_away(const bg_t *b)
{
	const pool_db_t *db = pool_db_find(b->ctx, b->db);
	return db && (db->port != b->sides.old_port ||
		      strcmp(db->host ? db->host : "", b->sides.old_host) != 0);
}

static void on_poll_timer(ev_loop_t *loop, void *data)
{
	bg_t *b = data;
	(void)loop;
	b->timer = 0;
	if (!polling(b) || b->step != ST_IDLE)
		return;
	if (switched_away(b)) {
		b->state = BG_SWITCHED;
		arm_poll(b);
		return;
	}
	if (b->state == BG_SWITCHED)
		b->state = BG_READY; /* the next round says which */
	if (b->old && b->neu) {
		b->step = ST_POLL_SLOT;
		run_step(b);
		return;
	}
	/* Lost in an earlier round: the connections are opened again. */
	close_conns(b);
	if (!open_conns(b)) {
		snprintf(b->detail, sizeof(b->detail), "poll: %s", b->open_err);
		arm_poll(b);
	}
}

static void arm_poll(bg_t *b)
{
	if (!b->timer && polling(b))
		b->timer = ev_timer_add(b->ctx->loop, BG_POLL_MS, on_poll_timer,
					b);
}

static void bg_destroy(bg_t *b)
{
	/* The console's reply owns memory of its own: it is always sent. */
	reply(b, false, "BLUEGREEN: pgswitch is shutting down");
	if (b->timer)
		ev_timer_del(b->ctx->loop, b->timer);
	bg_child_free(b->child);
	close_conns(b);
	free(b->sql);
	free(b);
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

static void unlink_bg(bg_t *b)
{
	for (bg_t **pp = &b->ctx->bg; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			return;
		}
}

static void fill_conninfo(bg_t *b, pgs_ctx_t *ctx, pool_db_t *db,
			  const char *ci)
{
	char host[256], extra[1200];
	int port;
	sw_conninfo_target(ci, host, sizeof(host), &port);
	snprintf(b->target, sizeof(b->target), "%s:%d", host[0] ? host : "/tmp",
		 port);
	snprintf(b->sides.old_host, sizeof(b->sides.old_host), "%s",
		 db->host ? db->host : "");
	b->sides.old_port = db->port;
	snprintf(b->sides.new_host, sizeof(b->sides.new_host), "%s", host);
	b->sides.new_port = port;
	snprintf(b->sides.new_extra, sizeof(b->sides.new_extra), "%s", ci);
	sw_control_conninfo(ctx, db, db->host, db->port,
			    "application_name='pgswitch bluegreen'",
			    b->conn_old, sizeof(b->conn_old));
	snprintf(extra, sizeof(extra),
		 "application_name='pgswitch bluegreen' %s", ci);
	sw_control_conninfo(ctx, db, host, port, extra, b->conn_new,
			    sizeof(b->conn_new));
	/* The walsender is known by the subscription's name, as it would be
	 * without pgswitch. */
	snprintf(extra, sizeof(extra), "application_name=%s", b->sub);
	sw_control_conninfo(ctx, db, db->host, db->port, extra, b->sub_ci,
			    sizeof(b->sub_ci));
}

int bg_prepare(pgs_ctx_t *ctx, const char *dbname, const char *conninfo,
	       const bg_opts_t *o, bg_done_cb done, void *arg, char *err,
	       size_t errlen)
{
	pool_db_t *db = pool_db_lookup(ctx, dbname);
	if (!db)
		return say(err, errlen, "no such database: %s", dbname);
	bg_t *was = bg_find(ctx, dbname);
	if (was && was->state != BG_FAILED)
		return say(err, errlen,
			   "BLUEGREEN %s: a blue/green exists already (state "
			   "%s, publication %s, subscription %s on %s)",
			   dbname, bg_state_name(was->state), was->pub,
			   was->sub, was->target);
	bg_t *b = calloc(1, sizeof(*b));
	if (!b || !(b->sql = malloc(BG_SQL_MAX))) {
		free(b);
		return say(err, errlen, "out of memory");
	}
	b->ctx = ctx;
	b->o = *o;
	snprintf(b->db, sizeof(b->db), "%s", dbname);
	bg_default_name(db->name, b->pub, sizeof(b->pub));
	memcpy(b->sub, b->pub, sizeof(b->sub));
	if (o->publication[0])
		snprintf(b->pub, sizeof(b->pub), "%s", o->publication);
	if (o->subscription[0])
		snprintf(b->sub, sizeof(b->sub), "%s", o->subscription);
	if (!o->all_tables) {
		char(*names)[BG_TABLE_NAME_MAX] =
			malloc(BG_TABLES_MAX * sizeof(*names));
		int n = names ? bg_split_tables(o->tables, names, BG_TABLES_MAX,
						err, errlen)
			      : say(err, errlen, "out of memory");
		for (int i = 0; i < n; i++)
			memcpy(b->tables[i].name, names[i], BG_TABLE_NAME_MAX);
		free(names);
		if (n < 0) {
			bg_destroy(b);
			return -1;
		}
		b->ntables = b->nlisted = n;
	}
	fill_conninfo(b, ctx, db, conninfo);
	if (was) {
		unlink_bg(was);
		bg_destroy(was);
	}
	b->next = ctx->bg;
	ctx->bg = b;
	if (!open_conns(b)) {
		/* Kept as failed: SHOW BLUEGREEN says why, as for a blocker. */
		b->state = BG_FAILED;
		snprintf(b->detail, sizeof(b->detail), "%s", b->open_err);
		return say(err, errlen, "BLUEGREEN %s PREPARE: %s", dbname,
			   b->open_err);
	}
	b->done = done;
	b->done_arg = arg;
	log_msg(&ctx->log, LOG_LOG,
		"BLUEGREEN %s PREPARE TO %s: publication %s, subscription %s",
		dbname, b->target, b->pub, b->sub);
	return 0;
}

static const pgp_field_t report_fields[BG_REPORT_COLS] = {
	{"database", PGP_OID_TEXT, -1},
	{"state", PGP_OID_TEXT, -1},
	{"table", PGP_OID_TEXT, -1},
	{"sync_state", PGP_OID_TEXT, -1},
	{"lag_bytes", PGP_OID_INT8, 8},
	{"lag_seconds", PGP_OID_NUMERIC, -1},
	{"slot_retained_wal", PGP_OID_INT8, 8},
	{"wal_status", PGP_OID_TEXT, -1},
	{"target", PGP_OID_TEXT, -1},
	{"detail", PGP_OID_TEXT, -1},
};

const pgp_field_t *bg_report_fields(void)
{
	return report_fields;
}

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

static void report_one(const bg_t *b, bg_row_cb cb, void *arg)
{
	bool live = polling(b) && b->state != BG_SWITCHED;
	char note[BG_DETAIL_MAX];
	if (b->state == BG_SWITCHED)
		snprintf(note, sizeof(note),
			 "switched to %s; the old side follows it over the "
			 "reverse subscription until BLUEGREEN %s FINISH",
			 b->target, b->db);
	const char *v[BG_REPORT_COLS] = {
		b->db,
		bg_state_name(b->state),
		NULL,
		NULL,
		live ? or_null(b->lag_bytes) : NULL,
		live ? or_null(b->lag_s) : NULL,
		live ? or_null(b->retained) : NULL,
		live ? or_null(b->wal_status) : NULL,
		b->target,
		b->state == BG_SWITCHED ? note : or_null(b->detail),
	};
	if (!b->ntables)
		cb(arg, v, BG_REPORT_COLS);
	for (int i = 0; i < b->ntables; i++) {
		v[2] = b->tables[i].name;
		v[3] = live ? bg_relstate_name(b->tables[i].st) : NULL;
		cb(arg, v, BG_REPORT_COLS);
	}
}

void bg_report(pgs_ctx_t *ctx, const char *db, bg_row_cb cb, void *arg)
{
	/* Oldest first: the list is pushed at its head. */
	const bg_t *stack[256];
	int n = 0;
	for (const bg_t *b = ctx->bg; b && n < 256; b = b->next)
		if (!db || strcmp(b->db, db) == 0)
			stack[n++] = b;
	while (n--)
		report_one(stack[n], cb, arg);
}

bool bg_sides(pgs_ctx_t *ctx, const char *db, bg_sides_t *out)
{
	bg_t *b = bg_find(ctx, db);
	if (!b)
		return false;
	*out = b->sides;
	memcpy(out->pub, b->pub, sizeof(out->pub));
	memcpy(out->sub, b->sub, sizeof(out->sub));
	return true;
}

void bg_forget(pgs_ctx_t *ctx, const char *db)
{
	bg_t *b = bg_find(ctx, db);
	if (b) {
		unlink_bg(b);
		bg_destroy(b);
	}
}

void bg_free(pgs_ctx_t *ctx)
{
	while (ctx->bg) {
		bg_t *b = ctx->bg;
		ctx->bg = b->next;
		bg_destroy(b);
	}
}
