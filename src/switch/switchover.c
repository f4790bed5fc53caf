/* SPDX-License-Identifier: MIT */
/*
 * switchover.c - move a database to its streaming standby with a bounded
 * freeze and no client errors.
 *
 *   SWITCHOVER db TO 'host=.. port=..' [WITH (timeout='5s', max_lag='16MB',
 *       max_xact_age='2s', on_long_xact='refuse'|'wait'|'cancel',
 *       fence_old='on'|'off', dry_run='on')]
 *   SWITCHOVER db ABORT
 *   SHOW SWITCHOVER [db]
 *
 *   SW_IDLE
 *     |  SWITCHOVER
 *     v
 *   SW_CONNECT --- control connections to old primary and target (libpq,
 *     |            persistent, event-driven)
 *     v
 *   SW_PREFLIGHT - target in recovery, same system identifier, replay lag
 *     |            <= max_lag, no transaction older than max_xact_age on
 *     |            the old primary (blocker named), target max_connections
 *     |            fits. dry_run stops here. No traffic impact.
 *     v
 *   SW_FREEZE ---- the pool stops handing out servers: new transactions
 *     |            queue (latency, not errors); wait for in-flight ones
 *     |            (on_long_xact = wait | cancel | refuse)
 *     v
 *   SW_CAPTURE --- session mode: each session's own server builds its
 *     |            replay script (SETs, LISTENs, advisory locks, SQL
 *     |            PREPAREs) and names what cannot move (temp tables,
 *     |            WITH HOLD cursors); then the servers are detached, so
 *     |            the fence's terminations reach no client
 *     v
 *   SW_FENCE ----- old primary: ALTER SYSTEM default_transaction_read_only,
 *     |            reload, terminate other client backends, then read
 *     |            pg_current_wal_lsn() = the fence LSN
 *     v
 *   SW_CATCHUP --- poll the target's pg_last_wal_replay_lsn() on the open
 *     |            connection every 1 ms until >= fence LSN
 *     v
 *   SW_PROMOTE --- pg_promote(wait => false), poll pg_is_in_recovery()
 *     |            every 1 ms. Sending pg_promote is the point of no return.
 *     v
 *   SW_DONE ------ repoint the pool (generation bump: old servers close as
 *                  released), persist the new target to the file that
 *                  defines the database (write, fsync, rename), unfreeze:
 *                  queued transactions run on the new primary. Report.
 *
 * Any failure or the deadline before the point of no return goes to
 * SW_ABORTING: lift the fence if it was applied, unfreeze on the old
 * primary, report. The freeze always ends: the deadline is checked by the
 * janitor every 100 ms and by the phase timers.
 */
#include "switch/switchover.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin_int.h"
#include "auth/auth.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "switch/sw_admin.h"
#include "switch/swc.h"

typedef enum sw_state {
	SW_IDLE,
	SW_CONNECT,
	SW_PREFLIGHT,
	SW_FREEZE,
	SW_CAPTURE,
	SW_FENCE,
	SW_CATCHUP,
	SW_PROMOTE,
	SW_DONE,
	SW_ABORTING,
	SW_NSTATES
} sw_state_t;

static const char *const sw_names[] = {
	"idle",	 "connect", "preflight", "freeze", "capture",
	"fence", "catchup", "promote",	 "done",   "aborting",
};

typedef enum long_xact { LX_REFUSE, LX_WAIT, LX_CANCEL } long_xact_t;

typedef struct sw_opts {
	long timeout_ms;
	long long max_lag;
	long max_xact_age_ms;
	long_xact_t on_long_xact;
	bool fence_old;
	bool dry_run;
} sw_opts_t;

typedef struct sw_job {
	pgs_ctx_t *ctx;
	sw_state_t state;
	int step;
	char db[64];
	char old_host[256];
	int old_port;
	char new_host[256];
	int new_port;
	char conn_old[1024];
	char conn_new[1024];
	sw_opts_t o;
	swc_t *old;
	swc_t *neu;
	int ready;
	client_t *console;
	uint64_t console_id;
	int64_t t0;
	int64_t phase_us[SW_NSTATES];
	int64_t phase_start;
	int64_t deadline;
	int64_t freeze_start;
	int64_t freeze_deadline;
	char old_sysid[32];
	char fence_lsn[32];
	bool fenced;
	bool promoted;
	bool cancelled_long;
	int polls;
	int held;
	int sessions;
	uint64_t errors_at_start;
	uint64_t errors;
	int64_t max_hold_us;
	uint64_t timer;
	PGresult *res; /* the result being handled, during a callback */
	char result[64];
	char detail[512];
	char persisted[512];
} sw_job_t;

/* The switchover state kept across jobs: the running one and the last
 * report (SHOW SWITCHOVER). */
typedef struct sw_ctx {
	sw_job_t *job;
	sw_job_t last;
	bool have_last;
} sw_ctx_t;

static sw_ctx_t *swx(pgs_ctx_t *ctx)
{
	if (!ctx->sw)
		ctx->sw = calloc(1, sizeof(sw_ctx_t));
	return ctx->sw;
}

static pool_db_t *job_db(sw_job_t *j)
{
	return pool_db_find(j->ctx, j->db);
}

static int64_t now_us(sw_job_t *j)
{
	return ev_time_us();
	(void)j;
}

static void advance(sw_job_t *j);
static void finish(sw_job_t *j);

static void enter(sw_job_t *j, sw_state_t st)
{
	int64_t now = now_us(j);
	j->phase_us[j->state] += now - j->phase_start;
	j->phase_start = now;
	j->state = st;
	j->step = 0;
	log_msg(&j->ctx->log, LOG_LOG, "switchover %s: phase %s (+%.1f ms)",
		j->db, sw_names[st], (double)(now - j->t0) / 1000.0);
}

/* ---- freeze bookkeeping ---- */

static void set_frozen(sw_job_t *j, bool on)
{
	pool_db_t *db = job_db(j);
	if (!db)
		return;
	db->frozen = on;
	if (on) {
		j->freeze_start = now_us(j);
		return;
	}
	/* Account what the held clients saw, then release them: queued
	 * ones (transaction mode) and sessions held at a boundary. */
	int64_t now = now_us(j);
	list_node_t *n, *m;
	for (n = j->ctx->pools.next; n != &j->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db)
			continue;
		for (m = p->waiting_clients.head.next;
		     m != &p->waiting_clients.head; m = m->next) {
			client_t *c = list_entry(m, client_t, node);
			j->held++;
			if (now - c->wait_us > j->max_hold_us)
				j->max_hold_us = now - c->wait_us;
		}
		for (m = p->active_clients.head.next;
		     m != &p->active_clients.head; m = m->next) {
			client_t *c = list_entry(m, client_t, node);
			if (!c->held_us)
				continue;
			j->held++;
			if (now - c->held_us > j->max_hold_us)
				j->max_hold_us = now - c->held_us;
			c->held_us = 0;
		}
	}
	for (n = j->ctx->pools.next; n != &j->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db)
			continue;
		pool_kick(p);
		/* Held sessions go on; moved ones (LISTEN must keep
		 * receiving) get their new server now, not at their next
		 * query. */
		list_node_t *tmp;
		statlist_for_each_safe(m, tmp, &p->active_clients)
		{
			client_t *c = list_entry(m, client_t, node);
			if (!c->link && c->sw_replay && !c->sw_error)
				pool_request_server(c);
			else
				client_process(c);
		}
	}
}

bool sw_holds_client(pgs_ctx_t *ctx, const client_t *c)
{
	sw_ctx_t *x = ctx->sw;
	return x && x->job && c->pool && c->pool->db->frozen;
}

/* A linked server between two transactions of its client. */
static bool at_boundary(const server_t *s)
{
	return s->tx_status == 'I' && s->expect_rfq == 0 && !s->in_copy &&
	       s->swallow_rfq == 0 && s->fwd_left == 0 &&
	       (!s->link || s->link->fwd_left == 0);
}

/* Servers of the database with a transaction or query in flight. */
static int in_flight(sw_job_t *j, bool cancel)
{
	pool_db_t *db = job_db(j);
	int k = 0;
	list_node_t *n, *m;
	for (n = j->ctx->pools.next; n != &j->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db)
			continue;
		k += p->tested_servers.count + p->login_servers.count;
		for (m = p->active_servers.head.next;
		     m != &p->active_servers.head; m = m->next) {
			server_t *s = list_entry(m, server_t, node);
			if (at_boundary(s))
				continue;
			k++;
			if (cancel && s->expect_rfq > 0)
				server_cancel(j->ctx, s);
		}
	}
	return k;
}

/*
 * One query on the session's own backend returns its replay script and
 * what cannot move. Built server-side with format() so quoting is
 * PostgreSQL's. Advisory keys: objsubid 1 = one bigint key split into
 * classid (high) and objid (low); 2 = two int4 keys.
 */
static const char capture_sql[] =
	"SELECT concat_ws('; ', "
	"(SELECT string_agg(format('SET %I = %L', name, current_setting(name)),"
	" '; ') FROM pg_settings WHERE source = 'session'), "
	"(SELECT string_agg(format('LISTEN %I', ch), '; ') FROM "
	"pg_listening_channels() ch), "
	"(SELECT string_agg(format('SELECT %s(%s)', CASE WHEN mode = "
	"'ShareLock' THEN 'pg_advisory_lock_shared' ELSE 'pg_advisory_lock' "
	"END, CASE WHEN objsubid = 1 THEN ((classid::bigint << 32) | "
	"objid::bigint)::text ELSE format('%s, %s', classid::bigint - CASE "
	"WHEN classid::bigint > 2147483647 THEN 4294967296 ELSE 0 END, "
	"objid::bigint - CASE WHEN objid::bigint > 2147483647 THEN 4294967296 "
	"ELSE 0 END) END), '; ') FROM pg_locks WHERE locktype = 'advisory' "
	"AND pid = pg_backend_pid() AND granted), "
	"(SELECT string_agg(rtrim(statement, '; '), '; ') FROM "
	"pg_prepared_statements WHERE from_sql AND statement !~ ';\\s*\\S')), "
	"nullif(concat_ws(', ', CASE WHEN EXISTS (SELECT 1 FROM pg_class "
	"WHERE relnamespace = pg_my_temp_schema()) THEN 'its temporary "
	"tables' END, CASE WHEN EXISTS (SELECT 1 FROM pg_cursors WHERE "
	"is_holdable) THEN 'its WITH HOLD cursors' END, CASE WHEN EXISTS "
	"(SELECT 1 FROM pg_prepared_statements WHERE from_sql AND statement ~ "
	"';\\s*\\S') THEN 'a multi-statement PREPARE' END), '')";

/* Start the capture on every linked session server; returns how many. */
static int capture_start(sw_job_t *j)
{
	pool_db_t *db = job_db(j);
	int k = 0;
	list_node_t *n, *m;
	for (n = j->ctx->pools.next; n != &j->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db)
			continue;
		for (m = p->active_servers.head.next;
		     m != &p->active_servers.head; m = m->next) {
			server_t *s = list_entry(m, server_t, node);
			if (!s->link)
				continue;
			server_capture(s, capture_sql);
			k++;
		}
	}
	return k;
}

/* Captures still running; when none, detach the sessions. */
static int capture_pending(sw_job_t *j, bool detach)
{
	pool_db_t *db = job_db(j);
	int k = 0;
	list_node_t *n, *m, *tmp;
	for (n = j->ctx->pools.next; n != &j->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db)
			continue;
		statlist_for_each_safe(m, tmp, &p->active_servers)
		{
			server_t *s = list_entry(m, server_t, node);
			if (s->capturing || s->swallow_rfq > 0) {
				k++;
				continue;
			}
			if (!detach || !s->link)
				continue;
			client_t *c = s->link;
			c->link = NULL;
			s->link = NULL;
			server_close(s, "switchover: session moves to the new "
					"primary");
		}
	}
	return k;
}

/* ---- control-connection plumbing ---- */

static void fail(sw_job_t *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg);

static bool ask(sw_job_t *j, swc_t *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool ask(sw_job_t *j, swc_t *c, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (!c || !swc_query(c, sql, on_result, j)) {
		fail(j, "control connection not usable for: %.60s", sql);
		return false;
	}
	return true;
}

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg)
{
	sw_job_t *j = arg;
	(void)c;
	if (err) {
		fail(j, "%s: %s", c == j->old ? "old primary" : "target", err);
		return;
	}
	j->res = res;
	j->step++;
	advance(j);
	j->res = NULL;
}

static void on_connected(swc_t *c, PGresult *res, const char *err, void *arg)
{
	sw_job_t *j = arg;
	(void)res;
	if (err) {
		fail(j, "cannot connect to %s: %s",
		     c == j->old ? "old primary" : "target", err);
		return;
	}
	if (++j->ready == 2)
		advance(j);
}

static void on_timer(ev_loop_t *loop, void *data)
{
	sw_job_t *j = data;
	(void)loop;
	j->timer = 0;
	j->res = NULL; /* no query result belongs to a timer turn */
	advance(j);
}

static void later(sw_job_t *j, long ms)
{
	j->timer = ev_timer_add(j->ctx->loop, ms, on_timer, j);
}

#define val(row, col) swc_value(j->res, (row), (col))

/* ---- phases ---- */

static void preflight(sw_job_t *j)
{
	switch (j->step) {
	case 0:
		ask(j, j->neu,
		    "SELECT pg_is_in_recovery(), (SELECT system_identifier "
		    "FROM pg_control_system()), pg_last_wal_replay_lsn(), "
		    "current_setting('max_connections')::int");
		return;
	case 1: {
		if (!val(0, 0) || strcmp(val(0, 0), "t") != 0) {
			fail(j, "target is not a standby (pg_is_in_recovery() "
				"is false)");
			return;
		}
		int maxc = atoi(val(0, 3) ? val(0, 3) : "0");
		pool_db_t *db = job_db(j);
		int need = db && db->pool_size > 0
				   ? db->pool_size
				   : j->ctx->cfg->default_pool_size;
		if (maxc > 0 && need > maxc) {
			fail(j,
			     "target max_connections %d is below the pool "
			     "size %d",
			     maxc, need);
			return;
		}
		snprintf(j->old_sysid, sizeof(j->old_sysid), "%s",
			 val(0, 1) ? val(0, 1) : "");
		snprintf(j->fence_lsn, sizeof(j->fence_lsn), "%s",
			 val(0, 2) ? val(0, 2) : "0/0");
		ask(j, j->old,
		    "SELECT (SELECT system_identifier FROM "
		    "pg_control_system())::text = '%s', "
		    "pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')::bigint, "
		    "pg_is_in_recovery()",
		    j->old_sysid, j->fence_lsn);
		return;
	}
	case 2: {
		if (!val(0, 0) || strcmp(val(0, 0), "t") != 0) {
			fail(j, "target is not a standby of the current "
				"primary (system identifiers differ)");
			return;
		}
		if (val(0, 2) && strcmp(val(0, 2), "t") == 0) {
			fail(j, "the current target is itself in recovery");
			return;
		}
		long long lag = atoll(val(0, 1) ? val(0, 1) : "0");
		if (lag > j->o.max_lag) {
			fail(j, "replay lag %lld bytes is over max_lag %lld",
			     lag, j->o.max_lag);
			return;
		}
		ask(j, j->old,
		    "SELECT pid, usename, application_name, "
		    "to_char(xact_start, 'YYYY-MM-DD HH24:MI:SS'), "
		    "left(query, 80) FROM pg_stat_activity WHERE "
		    "backend_type = 'client backend' AND pid <> "
		    "pg_backend_pid() AND xact_start < now() - "
		    "interval '%ld milliseconds' ORDER BY xact_start LIMIT 1",
		    j->o.max_xact_age_ms);
		return;
	}
	case 3:
		if (val(0, 0) && j->o.on_long_xact == LX_REFUSE) {
			fail(j,
			     "long transaction on the old primary: pid %s "
			     "user %s application_name '%s' started %s: %s",
			     val(0, 0), val(0, 1) ? val(0, 1) : "",
			     val(0, 2) ? val(0, 2) : "", val(0, 3),
			     val(0, 4) ? val(0, 4) : "");
			return;
		}
		if (j->o.dry_run) {
			snprintf(j->result, sizeof(j->result), "dry run ok");
			finish(j);
			return;
		}
		enter(j, SW_FREEZE);
		set_frozen(j, true);
		/* The freeze may use what is left of the timeout, but keep
		 * a margin for fence, catch-up and promote. */
		j->freeze_deadline = j->freeze_start +
				     (j->deadline - j->freeze_start) * 2 / 3;
		advance(j);
		return;
	}
}

static void freeze(sw_job_t *j)
{
	int64_t now = now_us(j);
	bool cancel = j->o.on_long_xact == LX_CANCEL &&
		      now - j->freeze_start > 100000 && !j->cancelled_long;
	int k = in_flight(j, cancel);
	if (cancel)
		j->cancelled_long = true;
	if (k == 0) {
		enter(j, SW_CAPTURE);
		j->sessions = capture_start(j);
		advance(j);
		return;
	}
	if (now > j->freeze_deadline) {
		fail(j,
		     "%d transaction(s) still in flight at the freeze "
		     "deadline",
		     k);
		return;
	}
	later(j, 1);
}

static void capture(sw_job_t *j)
{
	if (capture_pending(j, false) > 0) {
		if (now_us(j) > j->freeze_deadline) {
			fail(j, "session state capture did not finish");
			return;
		}
		later(j, 1);
		return;
	}
	capture_pending(j, true);
	enter(j, j->o.fence_old ? SW_FENCE : SW_CATCHUP);
	if (!j->o.fence_old)
		ask(j, j->old, "SELECT pg_current_wal_lsn()");
	else
		advance(j);
}

static void fence(sw_job_t *j)
{
	switch (j->step) {
	case 0:
		ask(j, j->old,
		    "ALTER SYSTEM SET default_transaction_read_only = on");
		return;
	case 1:
		j->fenced = true;
		ask(j, j->old, "SELECT pg_reload_conf()");
		return;
	case 2:
		ask(j, j->old,
		    "SELECT count(pg_terminate_backend(pid)) FROM "
		    "pg_stat_activity WHERE backend_type = 'client backend' "
		    "AND pid <> pg_backend_pid()");
		return;
	case 3:
		/* Walsenders ship only flushed WAL. With synchronous_commit
		 * off, the last commits wait for the WAL writer (up to
		 * wal_writer_delay): a synchronous commit here flushes all
		 * of it now. It must write WAL (a transactional logical
		 * message, no table touched) or PostgreSQL commits it
		 * asynchronously anyway. The fence LSN is then the end of
		 * that commit: everything before it is on the standby once
		 * it replays there. */
		ask(j, j->old,
		    "SET synchronous_commit = on; BEGIN READ WRITE; "
		    "SELECT pg_logical_emit_message(true, 'pgswitch', "
		    "'fence'); COMMIT; RESET synchronous_commit; "
		    "SELECT pg_current_wal_flush_lsn()");
		return;
	case 4:
		snprintf(j->fence_lsn, sizeof(j->fence_lsn), "%s",
			 val(0, 0) ? val(0, 0) : "");
		enter(j, SW_CATCHUP);
		j->step = 1; /* LSN known */
		advance(j);
		return;
	}
}

static void catchup(sw_job_t *j)
{
	if (j->step == 1 && j->fence_lsn[0] == 0 && val(0, 0))
		snprintf(j->fence_lsn, sizeof(j->fence_lsn), "%s", val(0, 0));
	if (j->step >= 2 && val(0, 0) && strcmp(val(0, 0), "t") == 0) {
		enter(j, SW_PROMOTE);
		ask(j, j->neu, "SELECT pg_promote(wait => false)");
		j->promoted = true; /* point of no return */
		return;
	}
	if (j->step >= 2)
		j->polls++;
	if (now_us(j) > j->deadline) {
		fail(j, "target did not replay %s before the deadline",
		     j->fence_lsn);
		return;
	}
	if (j->step >= 2 && (j->polls == 1 || j->polls % 50 == 0))
		log_msg(&j->ctx->log, LOG_DEBUG,
			"switchover %s: poll %d replay %s receive %s fence %s",
			j->db, j->polls, val(0, 1) ? val(0, 1) : "-",
			val(0, 2) ? val(0, 2) : "-", j->fence_lsn);
	ask(j, j->neu,
	    "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn, "
	    "pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn()",
	    j->fence_lsn);
}

static int persist(sw_job_t *j);

static void promote(sw_job_t *j)
{
	if (j->step >= 2 && val(0, 0) && strcmp(val(0, 0), "f") == 0) {
		pool_db_t *db = job_db(j);
		enter(j, SW_DONE);
		if (db) {
			free(db->host);
			db->host = strdup(j->new_host);
			db->port = j->new_port;
			db->generation++;
			pool_reconnect_db(j->ctx, db);
		}
		if (persist(j) < 0)
			log_msg(&j->ctx->log, LOG_WARNING, "switchover %s: %s",
				j->db, j->persisted);
		set_frozen(j, false);
		snprintf(j->result, sizeof(j->result), "switched");
		finish(j);
		return;
	}
	if (j->step >= 2)
		j->polls++;
	ask(j, j->neu, "SELECT pg_is_in_recovery()");
}

static void aborting(sw_job_t *j)
{
	/* Lift the fence before traffic resumes on the old primary. */
	switch (j->step) {
	case 0:
		if (!j->fenced || !j->old || swc_busy(j->old)) {
			if (j->fenced)
				snprintf(j->detail + strlen(j->detail),
					 sizeof(j->detail) - strlen(j->detail),
					 "; fence may still be on: run "
					 "SWITCHOVER %s ABORT",
					 j->db);
			break;
		}
		ask(j, j->old,
		    "ALTER SYSTEM RESET default_transaction_read_only");
		return;
	case 1:
		ask(j, j->old, "SELECT pg_reload_conf()");
		return;
	case 2:
		j->fenced = false;
		break;
	}
	set_frozen(j, false);
	snprintf(j->result, sizeof(j->result), "aborted");
	finish(j);
}

static void advance(sw_job_t *j)
{
	switch (j->state) {
	case SW_CONNECT:
		enter(j, SW_PREFLIGHT);
		preflight(j);
		return;
	case SW_PREFLIGHT:
		preflight(j);
		return;
	case SW_FREEZE:
		freeze(j);
		return;
	case SW_CAPTURE:
		capture(j);
		return;
	case SW_FENCE:
		fence(j);
		return;
	case SW_CATCHUP:
		catchup(j);
		return;
	case SW_PROMOTE:
		promote(j);
		return;
	case SW_ABORTING:
		aborting(j);
		return;
	default:
		return;
	}
}

static void fail(sw_job_t *j, const char *fmt, ...)
{
	va_list ap;
	if (j->state == SW_ABORTING) {
		/* The fence could not be lifted: report, resume anyway. */
		j->step = 2;
		j->fenced = true;
		snprintf(j->detail + strlen(j->detail),
			 sizeof(j->detail) - strlen(j->detail),
			 "; fence may still be on: run SWITCHOVER %s ABORT",
			 j->db);
		set_frozen(j, false);
		snprintf(j->result, sizeof(j->result), "aborted");
		finish(j);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(j->detail, sizeof(j->detail), fmt, ap);
	va_end(ap);
	log_msg(&j->ctx->log, LOG_WARNING, "switchover %s: %s", j->db,
		j->detail);
	if (j->promoted) {
		/* Past the point of no return: keep polling the target. */
		later(j, 5);
		return;
	}
	if (j->timer) {
		ev_timer_del(j->ctx->loop, j->timer);
		j->timer = 0;
	}
	if (j->state <= SW_PREFLIGHT) {
		snprintf(j->result, sizeof(j->result), "refused");
		finish(j);
		return;
	}
	enter(j, SW_ABORTING);
	aborting(j);
}

/* ---- report ---- */

static client_t *job_console(sw_job_t *j)
{
	list_node_t *n;
	for (n = j->ctx->admin_clients.head.next;
	     n != &j->ctx->admin_clients.head; n = n->next) {
		client_t *c = list_entry(n, client_t, node);
		if (c == j->console && c->id == j->console_id)
			return c;
	}
	return NULL;
}

static void report_rows(client_t *c, const sw_job_t *j)
{
	static const pgp_field_t f[] = {
		{"database", PGP_OID_TEXT, -1},
		{"state", PGP_OID_TEXT, -1},
		{"result", PGP_OID_TEXT, -1},
		{"detail", PGP_OID_TEXT, -1},
		{"total_ms", PGP_OID_TEXT, -1},
		{"freeze_ms", PGP_OID_TEXT, -1},
		{"phases", PGP_OID_TEXT, -1},
		{"clients_held", PGP_OID_INT4, 4},
		{"max_added_latency_ms", PGP_OID_TEXT, -1},
		{"errors_returned", PGP_OID_INT4, 4},
		{"target", PGP_OID_TEXT, -1},
		{"persisted", PGP_OID_TEXT, -1},
	};
	admin_row_desc(c, f, 12);
	if (!j)
		return;
	char total[32], frz[32], phases[512], held[16], lat[32], tgt[300];
	int64_t end = j->state == SW_IDLE ? j->phase_start : ev_time_us();
	snprintf(total, sizeof(total), "%.1f", (double)(end - j->t0) / 1000.0);
	snprintf(frz, sizeof(frz), "%.1f",
		 j->freeze_start
			 ? (double)((j->state == SW_IDLE ? end : ev_time_us()) -
				    j->freeze_start) /
				   1000.0
			 : 0.0);
	size_t off = 0;
	phases[0] = 0;
	for (int i = SW_CONNECT; i < SW_NSTATES; i++) {
		if (!j->phase_us[i])
			continue;
		off += (size_t)snprintf(phases + off, sizeof(phases) - off,
					"%s%s=%.1f", off ? " " : "",
					sw_names[i],
					(double)j->phase_us[i] / 1000.0);
		if (off >= sizeof(phases))
			break;
	}
	char errs[24];
	snprintf(errs, sizeof(errs), "%llu", (unsigned long long)j->errors);
	snprintf(held, sizeof(held), "%d", j->held);
	snprintf(lat, sizeof(lat), "%.1f", (double)j->max_hold_us / 1000.0);
	snprintf(tgt, sizeof(tgt), "%s:%d", j->new_host, j->new_port);
	const char *v[12] = {j->db,	sw_names[j->state],
			     j->result, j->detail,
			     total,	frz,
			     phases,	held,
			     lat,	errs,
			     tgt,	j->persisted};
	admin_row(c, v, 12);
}

static void free_job(ev_loop_t *loop, void *data)
{
	(void)loop;
	free(data);
}

static void finish(sw_job_t *j)
{
	sw_ctx_t *x = swx(j->ctx);
	if (j->timer)
		ev_timer_del(j->ctx->loop, j->timer);
	j->timer = 0;
	j->phase_us[j->state] += now_us(j) - j->phase_start;
	j->phase_start = now_us(j);
	j->state = SW_IDLE;
	pool_db_t *db = job_db(j);
	if (db)
		j->errors = db->client_errors - j->errors_at_start;
	swc_close(j->old);
	swc_close(j->neu);
	j->old = j->neu = NULL;
	log_msg(&j->ctx->log, LOG_LOG,
		"switchover %s %s in %.1f ms (freeze %.1f ms, %d clients "
		"held, max added latency %.1f ms)%s%s",
		j->db, j->result, (double)(j->phase_start - j->t0) / 1000.0,
		j->freeze_start
			? (double)(j->phase_start - j->freeze_start) / 1000.0
			: 0.0,
		j->held, (double)j->max_hold_us / 1000.0,
		j->detail[0] ? ": " : "", j->detail);
	client_t *c = job_console(j);
	if (c) {
		c->admin_wait = 0;
		if (strcmp(j->result, "switched") == 0 ||
		    strcmp(j->result, "dry run ok") == 0) {
			report_rows(c, j);
			admin_ok(c, "SWITCHOVER");
		} else {
			admin_err(c, "switchover %s %s: %s", j->db, j->result,
				  j->detail);
		}
		client_process(c);
	}
	x->last = *j;
	x->last.res = NULL;
	x->have_last = true;
	x->job = NULL;
	/* finish() runs inside result callbacks whose frames still use j:
	 * free it once they have unwound. */
	ev_timer_add(j->ctx->loop, 0, free_job, j);
}

void sw_free(pgs_ctx_t *ctx)
{
	sw_ctx_t *x = ctx->sw;
	if (!x)
		return;
	if (x->job) {
		swc_close(x->job->old);
		swc_close(x->job->neu);
		free(x->job);
	}
	free(x);
	ctx->sw = NULL;
}

void sw_tick(pgs_ctx_t *ctx)
{
	sw_ctx_t *x = ctx->sw;
	if (!x || !x->job)
		return;
	sw_job_t *j = x->job;
	if (!j->promoted && j->state != SW_ABORTING &&
	    ev_time_us() > j->deadline + 50000)
		fail(j, "timeout after %ld ms", j->o.timeout_ms);
}

/* ---- persistence ---- */

/* Replace (or append) KEY=VALUE in a libpq-style connection string. */
static void set_connstr_key(char *out, size_t cap, const char *in,
			    const char *key, const char *value)
{
	size_t klen = strlen(key), o = 0;
	bool done = false;
	const char *p = in;
	out[0] = 0;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		bool quoted = false;
		while (*p && (quoted || !isspace((unsigned char)*p))) {
			if (*p == '\'')
				quoted = !quoted;
			p++;
		}
		size_t len = (size_t)(p - start);
		if (len > klen && strncmp(start, key, klen) == 0 &&
		    start[klen] == '=') {
			o += (size_t)snprintf(out + o, cap > o ? cap - o : 0,
					      "%s%s=%s", o ? " " : "", key,
					      value);
			done = true;
		} else {
			o += (size_t)snprintf(out + o, cap > o ? cap - o : 0,
					      "%s%.*s", o ? " " : "", (int)len,
					      start);
		}
	}
	if (!done)
		snprintf(out + o, cap > o ? cap - o : 0, "%s%s=%s",
			 o ? " " : "", key, value);
}

static int write_atomic(const char *path, const char *data, size_t len,
			char *err, size_t errlen)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.pgswitch-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %.300s: %s", tmp,
			 strerror(errno));
		return -1;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %.300s: %s", tmp,
			 strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %.300s: %s", tmp,
			 strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename itself must survive a crash: fsync the directory. */
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return 0;
}

/* Rewrite line LINE of FILE to "NAME = CONNSTR". */
static int rewrite_line(const char *file, int line, const char *name,
			const char *connstr, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", file,
			 strerror(errno));
		return -1;
	}
	buf_t out;
	buf_init(&out, 64u << 20);
	char *ln = NULL;
	size_t cap = 0;
	ssize_t n;
	int no = 0;
	bool found = false;
	while ((n = getline(&ln, &cap, f)) >= 0) {
		if (++no == line) {
			buf_printf(&out, "%s = %s\n", name, connstr);
			found = true;
		} else {
			buf_append(&out, ln, (size_t)n);
		}
	}
	free(ln);
	fclose(f);
	int rc = -1;
	if (!found)
		snprintf(err, errlen, "%s has no line %d", file, line);
	else if (out.toobig)
		snprintf(err, errlen, "%s is too large", file);
	else
		rc = write_atomic(file, (const char *)out.data, out.len, err,
				  errlen);
	buf_free(&out);
	return rc;
}

static int persist(sw_job_t *j)
{
	const cfg_t *cfg = j->ctx->cfg;
	char port[16], step1[2048], connstr[2048], err[512] = "";
	snprintf(port, sizeof(port), "%d", j->new_port);
	const char *overlay = cfg->switchover_state_file;
	if (overlay && *overlay) {
		char data[1024];
		int len = snprintf(data, sizeof(data),
				   "# pgswitch switchover overlay: applied on "
				   "every config load\n%s host=%s port=%d\n",
				   j->db, j->new_host, j->new_port);
		if (write_atomic(overlay, data, (size_t)len, err, sizeof(err)) <
		    0) {
			snprintf(j->persisted, sizeof(j->persisted), "%s", err);
			return -1;
		}
		snprintf(j->persisted, sizeof(j->persisted), "%s (overlay)",
			 overlay);
		return 0;
	}
	const cfg_db_t *e = cfg_find_db(cfg, j->db);
	if (!e || !e->file || !e->line) {
		snprintf(j->persisted, sizeof(j->persisted),
			 "not persisted: no [databases] line for %s", j->db);
		return -1;
	}
	set_connstr_key(step1, sizeof(step1), e->connstr ? e->connstr : "",
			"host", j->new_host);
	set_connstr_key(connstr, sizeof(connstr), step1, "port", port);
	if (rewrite_line(e->file, e->line, e->name, connstr, err, sizeof(err)) <
	    0) {
		snprintf(j->persisted, sizeof(j->persisted),
			 "not persisted: %.400s", err);
		return -1;
	}
	snprintf(j->persisted, sizeof(j->persisted), "%s:%d", e->file, e->line);
	return 0;
}

/* switchover_state_file overlay: "db host=H port=P" lines. */
void sw_apply_overlay(pgs_ctx_t *ctx, pool_db_t *db)
{
	const char *path = ctx->cfg->switchover_state_file;
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[1024], name[128], host[256];
	int port;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s host=%255s port=%d", name, host,
			   &port) != 3 ||
		    strcmp(name, db->name) != 0)
			continue;
		if (!db->host || strcmp(db->host, host) != 0 ||
		    db->port != port) {
			free(db->host);
			db->host = strdup(host);
			db->port = port;
			db->generation++;
		}
	}
	fclose(f);
}

/* ---- console ---- */

static long parse_ms(const char *v)
{
	char *end;
	double d = strtod(v, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (strcmp(end, "ms") == 0)
		return (long)d;
	if (strcmp(end, "min") == 0)
		return (long)(d * 60000);
	return (long)(d * 1000); /* "s" or bare seconds */
}

static long long parse_bytes(const char *v)
{
	char *end;
	double d = strtod(v, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (strcasecmp(end, "kb") == 0)
		d *= 1024;
	else if (strcasecmp(end, "mb") == 0)
		d *= 1024 * 1024;
	else if (strcasecmp(end, "gb") == 0)
		d *= 1024.0 * 1024 * 1024;
	return (long long)d;
}

static bool set_opt(sw_opts_t *o, const char *k, const char *v, char *err,
		    size_t errlen)
{
	bool on = strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 ||
		  strcmp(v, "1") == 0;
	if (strcasecmp(k, "timeout") == 0)
		o->timeout_ms = parse_ms(v);
	else if (strcasecmp(k, "max_lag") == 0)
		o->max_lag = parse_bytes(v);
	else if (strcasecmp(k, "max_xact_age") == 0)
		o->max_xact_age_ms = parse_ms(v);
	else if (strcasecmp(k, "on_long_xact") == 0) {
		if (strcasecmp(v, "refuse") == 0)
			o->on_long_xact = LX_REFUSE;
		else if (strcasecmp(v, "wait") == 0)
			o->on_long_xact = LX_WAIT;
		else if (strcasecmp(v, "cancel") == 0)
			o->on_long_xact = LX_CANCEL;
		else {
			snprintf(err, errlen, "invalid on_long_xact '%.64s'",
				 v);
			return false;
		}
	} else if (strcasecmp(k, "fence_old") == 0)
		o->fence_old = on;
	else if (strcasecmp(k, "dry_run") == 0)
		o->dry_run = on;
	else {
		snprintf(err, errlen, "unknown SWITCHOVER option '%s'", k);
		return false;
	}
	return true;
}

static const char *word(const char *p, char *out, size_t cap)
{
	size_t n = 0;
	while (isspace((unsigned char)*p))
		p++;
	while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '-')) {
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = 0;
	return n ? p : NULL;
}

static bool parse_with(const char *p, sw_opts_t *o, char *err, size_t el)
{
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == ';')
		return true;
	char kw[16];
	p = word(p, kw, sizeof(kw));
	if (!p || strcasecmp(kw, "with") != 0) {
		snprintf(err, el, "expected WITH (...)");
		return false;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p++ != '(') {
		snprintf(err, el, "expected ( after WITH");
		return false;
	}
	for (;;) {
		char k[64], v[256];
		p = word(p, k, sizeof(k));
		if (!p) {
			snprintf(err, el, "expected an option name");
			return false;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '=')
			p++;
		while (isspace((unsigned char)*p))
			p++;
		const char *q = admin_unquote(p, '\'', v, sizeof(v));
		if (!q)
			q = word(p, v, sizeof(v));
		if (!q) {
			snprintf(err, el, "expected a value for %s", k);
			return false;
		}
		if (!set_opt(o, k, v, err, el))
			return false;
		p = q;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ')')
			return true;
		snprintf(err, el, "expected , or ) in WITH");
		return false;
	}
}

/* host= and port= out of a conninfo string (keyword form). */
static void conninfo_target(const char *ci, char *host, size_t hcap, int *port)
{
	PQconninfoOption *opts = PQconninfoParse(ci, NULL);
	*port = 5432;
	host[0] = 0;
	if (!opts)
		return;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			snprintf(host, hcap, "%s", o->val);
		else if (strcmp(o->keyword, "port") == 0)
			*port = atoi(o->val);
	}
	PQconninfoFree(opts);
}

/* Credentials for the control connections: the database's forced user,
 * else the first pool's user, with a plain password from userlist.txt. */
static void control_conninfo(pgs_ctx_t *ctx, pool_db_t *db, const char *host,
			     int port, const char *extra, char *out, size_t cap)
{
	const char *user = db->forced_user;
	const char *pw = db->password;
	list_node_t *n;
	for (n = ctx->pools.next; !user && n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db == db)
			user = p->user->name;
	}
	if (!user)
		user = "postgres";
	if (!pw && ctx->authfile) {
		const char *s = auth_file_lookup(ctx->authfile, user);
		if (s && auth_secret_kind(s) == AUTH_SECRET_PLAIN && *s)
			pw = s;
	}
	int o = snprintf(out, cap,
			 "host='%s' port=%d dbname='%s' user='%s' "
			 "application_name='pgswitch switchover' "
			 "connect_timeout=5",
			 host && *host ? host : "/tmp", port, db->dbname, user);
	if (pw && o > 0 && (size_t)o < cap)
		o += snprintf(out + o, cap - (size_t)o, " password='%s'", pw);
	if (extra && *extra && o > 0 && (size_t)o < cap)
		snprintf(out + o, cap - (size_t)o, " %s", extra);
}

static void cmd_abort(client_t *c, const char *db)
{
	sw_ctx_t *x = swx(c->ctx);
	sw_job_t *j = x->job;
	if (!j || strcmp(j->db, db) != 0) {
		admin_err(c, "no switchover of %s is running", db);
		return;
	}
	if (j->promoted) {
		admin_err(c, "switchover of %s is past the point of no return",
			  db);
		return;
	}
	fail(j, "aborted by SWITCHOVER %s ABORT", db);
	admin_ok(c, "SWITCHOVER");
}

void sw_admin_command(client_t *c, const char *sql)
{
	pgs_ctx_t *ctx = c->ctx;
	char dbname[64], kw[16], ci[1024], err[256] = "";
	const char *p = word(sql, kw, sizeof(kw)); /* SWITCHOVER */
	p = p ? word(p, dbname, sizeof(dbname)) : NULL;
	if (p)
		p = word(p, kw, sizeof(kw));
	if (!p) {
		admin_err(c, "usage: SWITCHOVER db TO 'conninfo' [WITH (...)] "
			     "| SWITCHOVER db ABORT");
		return;
	}
	if (strcasecmp(kw, "abort") == 0) {
		cmd_abort(c, dbname);
		return;
	}
	pool_db_t *db = pool_db_lookup(ctx, dbname);
	if (strcasecmp(kw, "to") != 0 || !db) {
		admin_err(c,
			  db ? "expected TO 'conninfo'"
			     : "no such database: %s",
			  dbname);
		return;
	}
	while (isspace((unsigned char)*p))
		p++;
	p = admin_unquote(p, '\'', ci, sizeof(ci));
	sw_opts_t o = {.timeout_ms = 5000,
		       .max_lag = 16ll << 20,
		       .max_xact_age_ms = 2000,
		       .on_long_xact = LX_REFUSE,
		       .fence_old = true};
	if (!p || !parse_with(p, &o, err, sizeof(err))) {
		admin_err(c, "%s", err[0] ? err : "expected TO 'conninfo'");
		return;
	}
	sw_ctx_t *x = swx(ctx);
	if (x->job) {
		admin_err(c, "a switchover of %s is already running",
			  x->job->db);
		return;
	}
	sw_job_t *j = calloc(1, sizeof(*j));
	if (!j) {
		admin_err(c, "out of memory");
		return;
	}
	j->ctx = ctx;
	j->o = o;
	snprintf(j->db, sizeof(j->db), "%s", dbname);
	snprintf(j->old_host, sizeof(j->old_host), "%s",
		 db->host ? db->host : "");
	j->old_port = db->port;
	conninfo_target(ci, j->new_host, sizeof(j->new_host), &j->new_port);
	control_conninfo(ctx, db, j->old_host, j->old_port, NULL, j->conn_old,
			 sizeof(j->conn_old));
	control_conninfo(ctx, db, j->new_host, j->new_port, ci, j->conn_new,
			 sizeof(j->conn_new));
	j->t0 = j->phase_start = ev_time_us();
	j->errors_at_start = db->client_errors;
	j->deadline = j->t0 + o.timeout_ms * 1000;
	j->state = SW_CONNECT;
	j->console = c;
	j->console_id = c->id;
	x->job = j;
	log_msg(&ctx->log, LOG_LOG,
		"SWITCHOVER %s TO %s:%d command issued (timeout %ld ms)",
		dbname, j->new_host, j->new_port, o.timeout_ms);
	c->admin_wait = ADMIN_WAIT_SWITCHOVER;
	j->old = swc_open(ctx->loop, j->conn_old, on_connected, j);
	j->neu = swc_open(ctx->loop, j->conn_new, on_connected, j);
	if (!j->old || !j->neu)
		fail(j, "cannot start control connections");
}

void sw_admin_show(client_t *c, const char *db)
{
	sw_ctx_t *x = swx(c->ctx);
	const sw_job_t *j = x->job ? x->job : x->have_last ? &x->last : NULL;
	if (j && db && *db && strcmp(j->db, db) != 0)
		j = NULL;
	report_rows(c, j);
	admin_ok(c, "SHOW");
}
