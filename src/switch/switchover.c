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
 *   SW_PREWARM --- open and log in the pools' connections to the target
 *     |            (parked: not handed out) while traffic still flows;
 *     |            record the coming fence in the fence journal
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
 *                  released), adopt the parked connections, persist the
 *                  new target to the file that defines the database
 *                  (write, fsync, rename), unfreeze: queued transactions
 *                  run on the new primary. Report.
 *
 * Any failure or the deadline before the point of no return goes to
 * SW_ABORTING: lift the fence if it was applied, unfreeze on the old
 * primary, report. The freeze always ends: the deadline is a one-shot
 * timer armed when the job starts, and the phase timers check it too.
 *
 * The fence journal (sw_persist.c) survives a kill -9: a restarted
 * pgswitch reports a fence left behind in SHOW SWITCHOVER, and
 * SWITCHOVER db ABORT lifts it (a lift-only job: SW_ABORTING straight
 * away) unless pg_promote may have been sent, when two writable primaries
 * would be worse than one read-only one.
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

#include "auth/auth.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/pool.h"
#include "pool/pool_freeze.h"
#include "proto/pgp.h"
#include "switch/sw_job.h"
#include "switch/sw_parse.h"
#include "switch/sw_persist.h"
#include "switch/sw_session.h"
#include "switch/swc.h"
#include "util/strq.h"

/* The switchover state kept across jobs: the running one and the last
 * report (SHOW SWITCHOVER). */
typedef struct sw_ctx {
	pgs_ctx_t *ctx;
	sw_job_t *job;
	sw_job_t last;
	bool have_last;
	/* The fence journal as last read or written. */
	bool journal_loaded;
	sw_fence_rec_t left[SW_JOURNAL_MAX];
	int nleft;
	int64_t next_autolift_us;
	uint64_t watch_timer; /* armed while fence records are left */
} sw_ctx_t;

static void journal_reload(sw_ctx_t *x, const cfg_t *cfg);

#define SW_WATCH_PERIOD_MS 100

static sw_ctx_t *swx(pgs_ctx_t *ctx)
{
	if (!ctx->sw) {
		ctx->sw = calloc(1, sizeof(sw_ctx_t));
		if (ctx->sw)
			((sw_ctx_t *)ctx->sw)->ctx = ctx;
	}
	sw_ctx_t *x = ctx->sw;
	if (x && !x->journal_loaded) {
		journal_reload(x, ctx->cfg);
		for (int i = 0; i < x->nleft; i++)
			log_msg(&ctx->log, LOG_WARNING,
				"switchover %s: a fence was left on %s:%d by a "
				"stopped pgswitch: see SHOW SWITCHOVER",
				x->left[i].db, x->left[i].old_host,
				x->left[i].old_port);
	}
	return x;
}

static const char *const sw_names[SW_NSTATES] = {
	"idle",	   "connect", "preflight", "prewarm", "freeze",
	"capture", "fence",   "catchup",   "promote", "handover",
	"reverse", "done",    "aborting",
};

const char *sw_state_name(sw_state_t st)
{
	return st >= 0 && st < SW_NSTATES ? sw_names[st] : "?";
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

static void finish(sw_job_t *j);
static void prewarm_start(sw_job_t *j);
static void persist_start(sw_job_t *j);
static void persist_done(sw_job_t *j);
static bool journal(sw_job_t *j, const char *phase);

void sw_enter(sw_job_t *j, sw_state_t st)
{
	int64_t now = now_us(j);
	j->phase_us[j->state] += now - j->phase_start;
	j->phase_start = now;
	j->state = st;
	j->step = 0;
	log_msg(&j->ctx->log, LOG_LOG, "switchover %s: phase %s (+%.1f ms)",
		j->db, sw_state_name(st), (double)(now - j->t0) / 1000.0);
}

/* ---- freeze bookkeeping ---- */

/* Added latency of every held client: the report's max, p50 and p99. */
typedef struct hold_stats {
	int64_t *v;
	int n, cap;
} hold_stats_t;

static void hold_add(hold_stats_t *h, int64_t us)
{
	if (h->n == h->cap) {
		int cap = h->cap ? h->cap * 2 : 64;
		int64_t *v = realloc(h->v, sizeof(*v) * (size_t)cap);
		if (!v)
			return;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = us;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void hold_done(sw_job_t *j, hold_stats_t *h)
{
	if (h->n > 0) {
		qsort(h->v, (size_t)h->n, sizeof(*h->v), cmp_i64);
		j->held += h->n;
		j->max_hold_us = h->v[h->n - 1];
		j->p50_hold_us = h->v[(h->n - 1) / 2];
		j->p99_hold_us = h->v[(h->n * 99 + 99) / 100 - 1];
	}
	free(h->v);
}

typedef struct hold_acc {
	hold_stats_t *h;
	int64_t now;
} hold_acc_t;

static void on_hold(void *arg, int64_t since_us)
{
	hold_acc_t *a = arg;
	hold_add(a->h, a->now - since_us);
}

static void set_frozen(sw_job_t *j, bool on)
{
	pool_db_t *db = job_db(j);
	if (!db || (!on && !db->frozen))
		return;
	if (on) {
		pool_db_freeze(db);
		j->freeze_start = now_us(j);
		return;
	}
	/* Account what the held clients saw as they are released: queued
	 * ones (transaction mode) and sessions held at a boundary. */
	hold_stats_t hs = {0};
	hold_acc_t acc = {.h = &hs, .now = now_us(j)};
	j->thaw_at = acc.now;
	pool_db_thaw(j->ctx, db, on_hold, &acc);
	hold_done(j, &hs);
}

/* ---- fence journal ---- */

static void arm_watch(sw_ctx_t *x);

static void journal_reload(sw_ctx_t *x, const cfg_t *cfg)
{
	x->nleft = sw_journal_load(cfg, x->left, SW_JOURNAL_MAX);
	x->journal_loaded = true;
	arm_watch(x);
}

static const sw_fence_rec_t *journal_find(sw_ctx_t *x, const char *db)
{
	for (int i = 0; i < x->nleft; i++)
		if (strcmp(x->left[i].db, db) == 0)
			return &x->left[i];
	return NULL;
}

/* Record (or advance) this job's fence. A fence we could not record is
 * one a restart could not lift: refuse to apply it. */
static bool journal(sw_job_t *j, const char *phase)
{
	sw_ctx_t *x = swx(j->ctx);
	sw_fence_rec_t r = {0};
	char err[512];
	snprintf(r.db, sizeof(r.db), "%s", j->db);
	snprintf(r.phase, sizeof(r.phase), "%s", phase);
	snprintf(r.old_host, sizeof(r.old_host), "%s", j->old_host);
	r.old_port = j->old_port;
	snprintf(r.new_host, sizeof(r.new_host), "%s", j->new_host);
	r.new_port = j->new_port;
	r.since = (long long)(ev_time_us() / 1000000);
	if (sw_journal_put(j->ctx->cfg, &r, err, sizeof(err)) < 0) {
		sw_fail(j, "cannot record the fence: %s", err);
		return false;
	}
	j->journaled = true;
	journal_reload(x, j->ctx->cfg);
	return true;
}

static void journal_drop(pgs_ctx_t *ctx, const char *db)
{
	char err[512];
	if (sw_journal_del(ctx->cfg, db, err, sizeof(err)) < 0)
		log_msg(&ctx->log, LOG_WARNING, "switchover %s: %s", db, err);
	journal_reload(swx(ctx), ctx->cfg);
}

/* An aborted switchover whose fence could not be lifted (the old primary
 * did not answer): say so in the record, after the resume, so SHOW
 * SWITCHOVER tells the truth and pgswitch retries the lift itself. */
static void journal_unlifted(sw_job_t *j)
{
	sw_fence_rec_t r = {0};
	char err[512];
	snprintf(r.db, sizeof(r.db), "%s", j->db);
	snprintf(r.phase, sizeof(r.phase), "unlifted");
	snprintf(r.old_host, sizeof(r.old_host), "%s", j->old_host);
	r.old_port = j->old_port;
	snprintf(r.new_host, sizeof(r.new_host), "%s", j->new_host);
	r.new_port = j->new_port;
	r.since = (long long)(ev_time_us() / 1000000);
	if (sw_journal_put(j->ctx->cfg, &r, err, sizeof(err)) < 0)
		log_msg(&j->ctx->log, LOG_WARNING, "switchover %s: %s", j->db,
			err);
	journal_reload(swx(j->ctx), j->ctx->cfg);
}

/* ---- control-connection plumbing ---- */

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg);

bool sw_ask(sw_job_t *j, swc_t *c, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sql)) {
		sw_fail(j, "control query too long");
		return false;
	}
	return sw_ask_sql(j, c, sql);
}

bool sw_ask_sql(sw_job_t *j, swc_t *c, const char *sql)
{
	if (!c || !swc_query(c, sql, on_result, j)) {
		sw_fail(j, "control connection not usable for: %.60s", sql);
		return false;
	}
	return true;
}

void sw_note(sw_job_t *j, const char *fmt, ...)
{
	char line[sizeof(j->detail)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	strq_appendf(j->detail, sizeof(j->detail), "%s", line);
}

static void on_soft(swc_t *c, PGresult *res, const char *err, void *arg)
{
	sw_job_t *j = arg;
	if (err) {
		sw_note(j, "%s: %s", c == j->old ? "old side" : "target", err);
		log_msg(&j->ctx->log, LOG_WARNING, "switchover %s: %s: %s",
			j->db, c == j->old ? "old side" : "target", err);
		res = NULL;
	}
	j->res = res;
	j->step++;
	sw_advance(j);
	j->res = NULL;
}

bool sw_ask_soft(sw_job_t *j, swc_t *c, const char *sql)
{
	if (c && swc_query(c, sql, on_soft, j))
		return true;
	sw_note(j, "control connection not usable for: %.60s", sql);
	return false;
}

static void on_result(swc_t *c, PGresult *res, const char *err, void *arg)
{
	sw_job_t *j = arg;
	(void)c;
	if (err) {
		sw_fail(j, "%s: %s", c == j->old ? "old primary" : "target",
			err);
		return;
	}
	j->res = res;
	j->step++;
	sw_advance(j);
	j->res = NULL;
}

static void on_connected(swc_t *c, PGresult *res, const char *err, void *arg)
{
	sw_job_t *j = arg;
	(void)res;
	if (err) {
		sw_fail(j, "cannot connect to %s: %s",
			c == j->old ? "old primary" : "target", err);
		return;
	}
	if (++j->ready == 2)
		sw_advance(j);
}

static void on_timer(ev_loop_t *loop, void *data)
{
	sw_job_t *j = data;
	(void)loop;
	j->timer = 0;
	j->res = NULL; /* no query result belongs to a timer turn */
	sw_advance(j);
}

void sw_later(sw_job_t *j, long ms)
{
	j->timer = ev_timer_add(j->ctx->loop, ms, on_timer, j);
}

#define val(row, col) swc_value(j->res, (row), (col))

/* ---- phases ---- */

static void preflight(sw_job_t *j)
{
	switch ((pf_step_t)j->step) {
	case PF_ASK_TARGET:
		sw_ask(j, j->neu,
		       "SELECT pg_is_in_recovery(), (SELECT system_identifier "
		       "FROM pg_control_system()), pg_last_wal_replay_lsn(), "
		       "current_setting('max_connections')::int");
		return;
	case PF_TARGET: {
		if (!val(0, 0) || strcmp(val(0, 0), "t") != 0) {
			sw_fail(j,
				"target is not a standby (pg_is_in_recovery() "
				"is false)");
			return;
		}
		int maxc = atoi(val(0, 3) ? val(0, 3) : "0");
		pool_db_t *db = job_db(j);
		int need = db && db->pool_size > 0
				   ? db->pool_size
				   : j->ctx->cfg->default_pool_size;
		if (maxc > 0 && need > maxc) {
			sw_fail(j,
				"target max_connections %d is below the pool "
				"size %d",
				maxc, need);
			return;
		}
		snprintf(j->old_sysid, sizeof(j->old_sysid), "%s",
			 val(0, 1) ? val(0, 1) : "");
		snprintf(j->fence_lsn, sizeof(j->fence_lsn), "%s",
			 val(0, 2) ? val(0, 2) : "0/0");
		sw_ask(j, j->old,
		       "SELECT (SELECT system_identifier FROM "
		       "pg_control_system())::text = '%s', "
		       "pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')::bigint, "
		       "pg_is_in_recovery()",
		       j->old_sysid, j->fence_lsn);
		return;
	}
	case PF_OLD: {
		if (!val(0, 0) || strcmp(val(0, 0), "t") != 0) {
			sw_fail(j, "target is not a standby of the current "
				   "primary (system identifiers differ)");
			return;
		}
		if (val(0, 2) && strcmp(val(0, 2), "t") == 0) {
			sw_fail(j, "the current target is itself in recovery");
			return;
		}
		long long lag = atoll(val(0, 1) ? val(0, 1) : "0");
		if (lag > j->o.max_lag) {
			sw_fail(j, "replay lag %lld bytes is over max_lag %lld",
				lag, j->o.max_lag);
			return;
		}
		sw_ask_long_xact(j);
		return;
	}
	case PF_LONG_XACT:
		if (sw_long_xact_ok(j))
			sw_preflight_done(j);
		return;
	}
}

void sw_preflight_done(sw_job_t *j)
{
	if (j->o.dry_run) {
		snprintf(j->result, sizeof(j->result), "dry run ok");
		finish(j);
		return;
	}
	sw_enter(j, SW_PREWARM);
	sw_advance(j);
}

void sw_ask_long_xact(sw_job_t *j)
{
	sw_ask(j, j->old,
	       "SELECT pid, usename, application_name, "
	       "to_char(xact_start, 'YYYY-MM-DD HH24:MI:SS'), "
	       "left(query, 80) FROM pg_stat_activity WHERE "
	       "backend_type = 'client backend' AND pid <> "
	       "pg_backend_pid() AND xact_start < now() - "
	       "interval '%ld milliseconds' ORDER BY xact_start LIMIT 1",
	       j->o.max_xact_age_ms);
}

bool sw_long_xact_ok(sw_job_t *j)
{
	/* No fence for reads: an old transaction elsewhere is no blocker. */
	if (val(0, 0) && j->o.on_long_xact == LX_REFUSE &&
	    j->o.traffic != SW_TRAFFIC_READ) {
		sw_fail(j,
			"long transaction on the old primary: pid %s "
			"user %s application_name '%s' started %s: %s",
			val(0, 0), val(0, 1) ? val(0, 1) : "",
			val(0, 2) ? val(0, 2) : "", val(0, 3),
			val(0, 4) ? val(0, 4) : "");
		return false;
	}
	return true;
}

static void prewarm_start(sw_job_t *j)
{
	pool_db_t *db = job_db(j);
	int64_t now = now_us(j);
	/* Logins take milliseconds; a slow target must not eat the budget
	 * of the phases that follow. */
	int64_t budget = (j->deadline - now) / 4;
	if (budget > 2000000)
		budget = 2000000;
	j->prewarm_deadline = now + budget;
	if (db)
		j->prewarm_started =
			pool_prewarm(j->ctx, db, j->new_host, j->new_port);
	sw_capture_start(j->ctx, job_db(j), true);
}

/* A synchronous commit that writes WAL: everything committed before it is
 * flushed and shipped now, not at the WAL writer's next tick. */
#define FLUSH_SQL                                                              \
	"SET synchronous_commit = on; BEGIN READ WRITE; SELECT "               \
	"pg_logical_emit_message(true, 'pgswitch', '%s'); COMMIT; RESET "      \
	"synchronous_commit; SELECT pg_current_wal_flush_lsn()"

/*
 * Pre-warm the target's connections and bring the target close to the
 * primary while traffic still flows: what the freeze then waits for in
 * catch-up is only the WAL of the freeze itself.
 */
static void prewarm(sw_job_t *j)
{
	if (j->step == PW_START) {
		prewarm_start(j);
		sw_ask(j, j->old, FLUSH_SQL, "prewarm");
		return;
	}
	if (j->step == PW_FLUSHED && j->res)
		snprintf(j->warm_lsn, sizeof(j->warm_lsn), "%s",
			 val(0, 0) ? val(0, 0) : "0/0");
	else if (j->res && val(0, 0) && strcmp(val(0, 0), "t") == 0)
		j->warm_caught = true;
	pool_db_t *db = job_db(j);
	int login = 0;
	int have = db ? pool_parked_count(j->ctx, db, &login) : 0;
	if (now_us(j) < j->prewarm_deadline && (login > 0 || !j->warm_caught)) {
		if (!j->warm_caught && j->res && j->o.mode == SW_MODE_LOGICAL) {
			char q[512];
			sw_lg_caught_sql(j, j->warm_lsn, q, sizeof(q));
			sw_ask_sql(j, j->neu, q);
		} else if (!j->warm_caught && j->res)
			sw_ask(j, j->neu,
			       "SELECT pg_last_wal_replay_lsn() >= "
			       "'%s'::pg_lsn",
			       j->warm_lsn);
		else
			sw_later(j, 1);
		return;
	}
	/* Whatever did not log in by now connects on demand later. */
	j->prewarm_ready = have - login;
	/* The fence is recorded before the freeze, so its fsync never
	 * stretches the blackout. A pgswitch killed from here on finds the
	 * record; lifting a fence that was not applied yet is harmless. */
	if (j->o.fence_old &&
	    !journal(j, j->o.mode == SW_MODE_LOGICAL ? "lfence" : "fence"))
		return;
	sw_enter(j, SW_FREEZE);
	set_frozen(j, true);
	/* The freeze may use what is left of the timeout, but keep a
	 * margin for fence, catch-up and promote. */
	j->freeze_deadline =
		j->freeze_start + (j->deadline - j->freeze_start) * 2 / 3;
	sw_advance(j);
}

static void freeze(sw_job_t *j)
{
	int64_t now = now_us(j);
	bool cancel = j->o.on_long_xact == LX_CANCEL &&
		      now - j->freeze_start > 100000 && !j->cancelled_long;
	int k = pool_db_in_flight(j->ctx, job_db(j), cancel);
	if (cancel)
		j->cancelled_long = true;
	if (k == 0) {
		sw_enter(j, SW_CAPTURE);
		j->sessions = sw_capture_start(j->ctx, job_db(j), false);
		sw_advance(j);
		return;
	}
	if (now > j->freeze_deadline) {
		sw_fail(j,
			"%d transaction(s) still in flight at the freeze "
			"deadline",
			k);
		return;
	}
	sw_later(j, 1);
}

static void capture(sw_job_t *j)
{
	if (sw_capture_pending(j->ctx, job_db(j), false) > 0) {
		if (now_us(j) > j->freeze_deadline) {
			sw_fail(j, "session state capture did not finish");
			return;
		}
		sw_later(j, 1);
		return;
	}
	sw_capture_pending(j->ctx, job_db(j), true);
	sw_enter(j, j->o.fence_old ? SW_FENCE : SW_CATCHUP);
	if (j->o.fence_old)
		sw_advance(j);
	else if (j->o.mode == SW_MODE_LOGICAL)
		sw_ask_sql(j, j->old, sw_lg_flush_sql);
	else
		sw_ask(j, j->old, "SELECT pg_current_wal_lsn()");
}

/* Our own idle servers on the old primary: not terminated by the fence
 * (they get no more work, and 20 backends exiting at once would slow the
 * fence's flush inside the freeze); they close after the switch. When
 * the list does not fit, every backend is terminated as before. */
static void fence(sw_job_t *j)
{
	switch ((fence_step_t)j->step) {
	case FE_READ_ONLY:
		/* Recorded before the freeze (prewarm). From the moment it is
		 * sent: the server may apply it even if its reply never
		 * reaches us. */
		j->fenced = true;
		sw_ask(j, j->old,
		       "ALTER SYSTEM SET default_transaction_read_only = on");
		return;
	case FE_RELOAD:
		j->fenced = true;
		sw_ask(j, j->old, "SELECT pg_reload_conf()");
		return;
	case FE_TERMINATE: {
		char pids[4096];
		pool_db_backend_pids(j->ctx, job_db(j), j->old_host,
				     j->old_port, pids, sizeof(pids));
		sw_ask(j, j->old,
		       "SELECT count(pg_terminate_backend(pid)) FROM "
		       "pg_stat_activity WHERE backend_type = 'client backend' "
		       "AND pid <> pg_backend_pid() AND pid <> ALL "
		       "('{%s}'::int[])",
		       pids);
		return;
	}
	case FE_FLUSH:
		/* Walsenders ship only flushed WAL. With synchronous_commit
		 * off, the last commits wait for the WAL writer (up to
		 * wal_writer_delay): a synchronous commit here flushes all
		 * of it now. It must write WAL (a transactional logical
		 * message, no table touched) or PostgreSQL commits it
		 * asynchronously anyway. The fence LSN is then the end of
		 * that commit: everything before it is on the standby once
		 * it replays there. */
		if (j->o.mode == SW_MODE_LOGICAL)
			sw_ask_sql(j, j->old, sw_lg_flush_sql);
		else
			sw_ask(j, j->old, FLUSH_SQL, "fence");
		return;
	case FE_LSN:
		snprintf(j->fence_lsn, sizeof(j->fence_lsn), "%s",
			 val(0, 0) ? val(0, 0) : "");
		if (j->o.mode == SW_MODE_LOGICAL)
			sw_lg_fenced(j);
		sw_enter(j, SW_CATCHUP);
		j->step = CU_ENTERED; /* LSN known */
		sw_advance(j);
		return;
	}
}

static void catchup(sw_job_t *j)
{
	if (j->step == CU_ENTERED && j->fence_lsn[0] == 0 && val(0, 0))
		snprintf(j->fence_lsn, sizeof(j->fence_lsn), "%s", val(0, 0));
	if (j->step >= CU_POLLED && val(0, 0) && strcmp(val(0, 0), "t") == 0 &&
	    j->o.traffic == SW_TRAFFIC_READ) {
		/* Reads move to a standby that stays one. */
		sw_cut_over(j, SW_DONE);
		return;
	}
	if (j->step >= CU_POLLED && val(0, 0) && strcmp(val(0, 0), "t") == 0) {
		sw_enter(j, SW_PROMOTE);
		/* No journal write here (it would be inside the freeze): a
		 * restarted pgswitch asks the target whether it was promoted
		 * before it lifts a fence left behind (lift_check). */
		sw_ask(j, j->neu, "SELECT pg_promote(wait => false)");
		j->promoted = true; /* point of no return */
		return;
	}
	if (j->step >= CU_POLLED)
		j->polls++;
	if (now_us(j) > j->deadline) {
		sw_fail(j, "target did not replay %s before the deadline",
			j->fence_lsn);
		return;
	}
	if (j->step >= CU_POLLED && (j->polls == 1 || j->polls % 50 == 0))
		log_msg(&j->ctx->log, LOG_DEBUG,
			"switchover %s: poll %d replay %s receive %s fence %s",
			j->db, j->polls, val(0, 1) ? val(0, 1) : "-",
			val(0, 2) ? val(0, 2) : "-", j->fence_lsn);
	sw_ask(j, j->neu,
	       "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn, "
	       "pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn()",
	       j->fence_lsn);
}

static void promote(sw_job_t *j)
{
	if (j->step >= CU_POLLED && val(0, 0) && strcmp(val(0, 0), "f") == 0) {
		sw_cut_over(j, SW_DONE);
		return;
	}
	if (j->step >= CU_POLLED)
		j->polls++;
	sw_ask(j, j->neu, "SELECT pg_is_in_recovery()");
}

void sw_cut_over(sw_job_t *j, sw_state_t next)
{
	pool_db_t *db = job_db(j);
	sw_enter(j, next);
	if (db)
		pool_db_retarget(j->ctx, db, j->new_host, j->new_port);
	/* Traffic first. The fsyncs of persisting run on a helper thread,
	 * so they stall neither the freeze nor the loop. A crash before
	 * they land restarts on the old primary, fenced: as one just before
	 * the switch would. */
	set_frozen(j, false);
	persist_start(j);
}

static void persist_start(sw_job_t *j)
{
	const cfg_t *cfg = j->ctx->cfg;
	sw_persist_t *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(j->persisted, sizeof(j->persisted),
			 "not persisted: out of memory");
		persist_done(j);
		return;
	}
	if (sw_persist_init(cfg, j->db, j->new_host, j->new_port, w) < 0) {
		snprintf(j->persisted, sizeof(j->persisted), "%s", w->out);
		free(w);
		persist_done(j);
		return;
	}
	w->drop_journal = j->journaled;
	j->writer = w;
	if (sw_persist_start(w) < 0) {
		sw_persist_run(w); /* no thread: write here */
		atomic_store(&w->done, true);
	}
	sw_advance(j);
}

/* SW_DONE: wait for the writer, then report. */
static void persist_done(sw_job_t *j)
{
	sw_persist_t *w = j->writer;
	if (w && !sw_persist_done(w)) {
		sw_later(j, 1);
		return;
	}
	if (w) {
		snprintf(j->persisted, sizeof(j->persisted), "%s", w->out);
		if (w->rc == 0 && w->overlay[0])
			/* The live config agrees with the overlay now, as a
			 * RELOAD would make it. */
			cfg_db_set_target(j->ctx->cfg, j->db, j->new_host,
					  j->new_port);
		/* The writer dropped the record, or kept it because the
		 * switch is not on disk (SHOW SWITCHOVER then says so). */
		j->journaled = false;
		journal_reload(swx(j->ctx), j->ctx->cfg);
		if (w->journal_err[0])
			log_msg(&j->ctx->log, LOG_WARNING, "switchover %s: %s",
				j->db, w->journal_err);
		if (w->rc < 0)
			log_msg(&j->ctx->log, LOG_WARNING, "switchover %s: %s",
				j->db, w->out);
		free(w);
		j->writer = NULL;
	} else {
		log_msg(&j->ctx->log, LOG_WARNING, "switchover %s: %s", j->db,
			j->persisted);
		j->journaled = false; /* not on disk: keep the record */
	}
	snprintf(j->result, sizeof(j->result), "switched");
	finish(j);
}

/* SWITCHOVER db ABORT of a fence left behind: lift it only while the
 * target is still a standby. Its pg_promote may have been sent by the
 * pgswitch that stopped, and lifting the fence then would leave two
 * writable primaries. False: the job ended (refused) or waits. */
static bool lift_check(sw_job_t *j)
{
	if (j->target_checked)
		return true;
	bool logical = j->o.mode == SW_MODE_LOGICAL;
	if (j->step == 0) {
		sw_ask_sql(j, j->neu,
			   logical ? sw_lg_target_check_sql()
				   : "SELECT pg_is_in_recovery()");
		return false;
	}
	if (logical && (!val(0, 0) || strcmp(val(0, 0), "t") != 0)) {
		snprintf(
			j->detail, sizeof(j->detail),
			"the target %.80s:%d no longer subscribes (the "
			"logical switchover handed it the writes): lifting the "
			"fence on %.80s:%d would leave clients on both; point "
			"%.63s at %.80s:%d and RELOAD",
			j->new_host, j->new_port, j->old_host, j->old_port,
			j->db, j->new_host, j->new_port);
		snprintf(j->result, sizeof(j->result), "refused");
		finish(j);
		return false;
	}
	if (!val(0, 0) || strcmp(val(0, 0), "t") != 0) {
		snprintf(j->detail, sizeof(j->detail),
			 "the target %.80s:%d is not a standby (it was "
			 "promoted): lifting the fence on %.80s:%d would leave "
			 "two writable primaries; point %.63s at %.80s:%d and "
			 "RELOAD",
			 j->new_host, j->new_port, j->old_host, j->old_port,
			 j->db, j->new_host, j->new_port);
		snprintf(j->result, sizeof(j->result), "refused");
		finish(j);
		return false;
	}
	j->target_checked = true;
	j->step = 0;
	return true;
}

static void aborting(sw_job_t *j)
{
	if (j->lift_only && !lift_check(j))
		return;
	if (j->o.mode == SW_MODE_LOGICAL && !sw_lg_undo(j))
		return;
	/* Lift the fence before traffic resumes on the old primary. */
	switch ((abort_step_t)j->step) {
	case AB_RESET:
		if (!j->fenced || !j->old || swc_busy(j->old)) {
			if (j->fenced)
				snprintf(j->detail + strlen(j->detail),
					 sizeof(j->detail) - strlen(j->detail),
					 "; fence may still be on: run "
					 "SWITCHOVER %s ABORT",
					 j->db);
			break;
		}
		sw_ask(j, j->old,
		       "ALTER SYSTEM RESET default_transaction_read_only");
		return;
	case AB_RELOAD:
		sw_ask(j, j->old, "SELECT pg_reload_conf()");
		return;
	case AB_LIFTED:
		j->fenced = false;
		break;
	}
	set_frozen(j, false);
	snprintf(j->result, sizeof(j->result), "%s",
		 j->lift_only ? "fence lifted" : "aborted");
	finish(j);
}

void sw_advance(sw_job_t *j)
{
	switch (j->state) {
	case SW_CONNECT:
		sw_enter(j, SW_PREFLIGHT);
		sw_advance(j);
		return;
	case SW_PREFLIGHT:
		if (j->o.mode == SW_MODE_LOGICAL)
			sw_lg_preflight(j);
		else
			preflight(j);
		return;
	case SW_PREWARM:
		prewarm(j);
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
		if (j->o.mode == SW_MODE_LOGICAL)
			sw_lg_catchup(j);
		else
			catchup(j);
		return;
	case SW_HANDOVER:
		sw_lg_handover(j);
		return;
	case SW_REVERSE:
		sw_lg_reverse(j);
		return;
	case SW_PROMOTE:
		promote(j);
		return;
	case SW_DONE:
		persist_done(j);
		return;
	case SW_ABORTING:
		aborting(j);
		return;
	default:
		return;
	}
}

void sw_fail(sw_job_t *j, const char *fmt, ...)
{
	va_list ap;
	if (j->state == SW_ABORTING) {
		/* The fence could not be lifted: report, resume anyway. */
		size_t off = strlen(j->detail);
		if (off)
			snprintf(j->detail + off, sizeof(j->detail) - off,
				 "; ");
		off = strlen(j->detail);
		va_start(ap, fmt);
		vsnprintf(j->detail + off, sizeof(j->detail) - off, fmt, ap);
		va_end(ap);
		off = strlen(j->detail);
		if (j->lift_only)
			snprintf(j->detail + off, sizeof(j->detail) - off,
				 "; the fence stays: run SWITCHOVER %s ABORT "
				 "again once both servers answer",
				 j->db);
		else
			snprintf(j->detail + off, sizeof(j->detail) - off,
				 "; fence may still be on: run SWITCHOVER %s "
				 "ABORT",
				 j->db);
		j->step = AB_LIFTED;
		j->fenced = true;
		set_frozen(j, false);
		snprintf(j->result, sizeof(j->result), "aborted");
		finish(j);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(j->detail, sizeof(j->detail), fmt, ap);
	va_end(ap);
	log_msg(&j->ctx->log,
		j->lift_only && !j->done ? LOG_DEBUG : LOG_WARNING,
		"switchover %s: %s", j->db, j->detail);
	log_msg(&j->ctx->log, LOG_DEBUG, "switchover %s: failed in %s at %s",
		j->db, sw_state_name(j->state), sw_step_name(j));
	if (j->promoted) {
		/* Past the point of no return: keep polling the target. */
		sw_later(j, 5);
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
	sw_enter(j, SW_ABORTING);
	aborting(j);
}

void sw_report_job(pgs_ctx_t *ctx, sw_row_cb cb, void *arg)
{
	sw_ctx_t *x = swx(ctx);
	const sw_job_t *j = x->job ? x->job : x->have_last ? &x->last : NULL;
	if (j)
		sw_report_row(j, cb, arg);
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
	if (j->deadline_timer)
		ev_timer_del(j->ctx->loop, j->deadline_timer);
	j->deadline_timer = 0;
	j->phase_us[j->state] += now_us(j) - j->phase_start;
	j->phase_start = now_us(j);
	j->state = SW_IDLE;
	pool_db_t *db = job_db(j);
	bool ok = strcmp(j->result, "switched") == 0 ||
		  strcmp(j->result, "dry run ok") == 0 ||
		  strcmp(j->result, "fence lifted") == 0;
	if (db) {
		j->errors = db->client_errors - j->errors_at_start;
		pool_drop_parked(j->ctx, db, "switchover did not switch");
	}
	/* The record goes once no fence of ours is left to lift: lifted,
	 * never applied, or on purpose (the old primary after a switch). */
	if (j->journaled && (!j->fenced || strcmp(j->result, "switched") == 0))
		journal_drop(j->ctx, j->db);
	else if (j->journaled && j->fenced && !j->lift_only)
		journal_unlifted(j);
	swc_close(j->old);
	swc_close(j->neu);
	j->old = j->neu = NULL;
	sw_lg_free(j);
	/* pgswitch's own retries of a lift say only when one works. */
	bool quiet = j->lift_only && !j->done && !ok;
	log_msg(&j->ctx->log, quiet ? LOG_DEBUG : LOG_LOG,
		"switchover %s %s in %.1f ms (freeze %.1f ms, %d clients "
		"held, max added latency %.1f ms)%s%s",
		j->db, j->result, (double)(j->phase_start - j->t0) / 1000.0,
		j->freeze_start
			? (double)((j->thaw_at ? j->thaw_at : j->phase_start) -
				   j->freeze_start) /
				  1000.0
			: 0.0,
		j->held, (double)j->max_hold_us / 1000.0,
		j->detail[0] ? ": " : "", j->detail);
	x->last = *j;
	x->last.res = NULL;
	x->last.writer = NULL;
	x->have_last = true;
	x->job = NULL;
	if (j->done) {
		char msg[768];
		snprintf(msg, sizeof(msg), "switchover %s %s: %s", j->db,
			 j->result, j->detail);
		j->done(j->ctx, j->done_arg, ok, msg);
	}
	/* finish() runs inside result callbacks whose frames still use j:
	 * free it once they have unwound. */
	ev_timer_add(j->ctx->loop, 0, free_job, j);
}

void sw_free(pgs_ctx_t *ctx)
{
	sw_ctx_t *x = ctx->sw;
	if (!x)
		return;
	if (x->watch_timer)
		ev_timer_del(ctx->loop, x->watch_timer);
	if (x->job) {
		if (x->job->timer)
			ev_timer_del(ctx->loop, x->job->timer);
		if (x->job->deadline_timer)
			ev_timer_del(ctx->loop, x->job->deadline_timer);
		sw_persist_t *w = x->job->writer;
		/* The writer thread owns W until it is done: let it land. */
		for (int i = 0; w && !sw_persist_done(w) && i < 5000; i++)
			usleep(1000);
		if (w && sw_persist_done(w))
			free(w);
		swc_close(x->job->old);
		swc_close(x->job->neu);
		free(x->job);
	}
	free(x);
	ctx->sw = NULL;
}

static int lift_left_fence(pgs_ctx_t *ctx, const sw_fence_rec_t *r,
			   sw_done_cb done, void *arg, char *err,
			   size_t errlen);

/* A fence our own aborted switchover could not lift is retried every few
 * seconds, until the old primary answers (a fence never outlives its
 * reason). Only "unlifted" records: after a stop, whether pg_promote was
 * sent is the operator's call. */
static void autolift(pgs_ctx_t *ctx, sw_ctx_t *x)
{
	int64_t now = ev_time_us();
	if (x->job || now < x->next_autolift_us)
		return;
	x->next_autolift_us = now + 5000000;
	for (int i = 0; i < x->nleft; i++) {
		if (strcmp(x->left[i].phase, "unlifted") != 0)
			continue;
		sw_fence_rec_t copy = x->left[i];
		lift_left_fence(ctx, &copy, NULL, NULL, NULL, 0);
		return; /* one job at a time */
	}
}

/* A fence record whose database the operator has since pointed at its
 * target is settled (the old primary stays fenced on purpose). */
static void journal_tick(pgs_ctx_t *ctx, sw_ctx_t *x)
{
	for (int i = 0; i < x->nleft && !x->job; i++) {
		const sw_fence_rec_t *r = &x->left[i];
		/* What the config files (and overlay) say, not the running
		 * pool: a switch whose persisting failed is not settled. */
		const cfg_db_t *e = cfg_find_db(ctx->cfg, r->db);
		if (!e || strcmp(e->host ? e->host : "", r->new_host) != 0 ||
		    e->port != r->new_port)
			continue;
		log_msg(&ctx->log, LOG_LOG,
			"switchover %s: now points at %s:%d; %s:%d stays "
			"fenced",
			r->db, r->new_host, r->new_port, r->old_host,
			r->old_port);
		char name[64];
		snprintf(name, sizeof(name), "%s", r->db);
		journal_drop(ctx, name);
		i = -1; /* the array was reloaded */
	}
}

void sw_pin_cfg(pgs_ctx_t *ctx, cfg_t *ncfg)
{
	sw_ctx_t *x = ctx->sw;
	if (x && x->job && x->job->promoted)
		cfg_db_set_target(ncfg, x->job->db, x->job->new_host,
				  x->job->new_port);
}

static void on_watch(ev_loop_t *loop, void *data)
{
	sw_ctx_t *x = data;
	(void)loop;
	x->watch_timer = 0;
	journal_tick(x->ctx, x);
	autolift(x->ctx, x);
	arm_watch(x);
}

/* Fence records left behind are watched (settled by a RELOAD, retried
 * lifts) only while there are some. */
static void arm_watch(sw_ctx_t *x)
{
	if (x->nleft > 0 && !x->watch_timer && x->ctx)
		x->watch_timer = ev_timer_add(x->ctx->loop, SW_WATCH_PERIOD_MS,
					      on_watch, x);
}

/* Past the deadline before the point of no return: resume on the old
 * primary. A lift-only job gives up on an old primary that is down. */
static void on_deadline(ev_loop_t *loop, void *data)
{
	sw_job_t *j = data;
	(void)loop;
	j->deadline_timer = 0;
	if (j->lift_only)
		sw_fail(j, "old primary %s:%d did not answer in time",
			j->old_host, j->old_port);
	else if (!j->promoted && j->state != SW_ABORTING && !j->lg.handing)
		sw_fail(j, "timeout after %ld ms", j->o.timeout_ms);
}

static void arm_deadline(sw_job_t *j)
{
	/* 50 ms of grace: the phase timers' own checks come first. */
	int64_t at = j->lift_only ? j->deadline : j->deadline + 50000;
	int64_t ms = (at - ev_time_us()) / 1000 + 1;
	j->deadline_timer = ev_timer_add(j->ctx->loop, ms > 0 ? (long)ms : 0,
					 on_deadline, j);
}

void sw_start(pgs_ctx_t *ctx)
{
	swx(ctx);
}

/* ---- starting, aborting, reporting ---- */

static int say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ERR (may be NULL) gets the reason; always returns -1. */
static int say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static sw_job_t *job_new(pgs_ctx_t *ctx, pool_db_t *db, const char *old_host,
			 int old_port, const char *new_host, int new_port,
			 const char *new_ci, sw_done_cb done, void *arg)
{
	sw_job_t *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->ctx = ctx;
	snprintf(j->db, sizeof(j->db), "%s", db->name);
	snprintf(j->old_host, sizeof(j->old_host), "%s", old_host);
	j->old_port = old_port;
	snprintf(j->new_host, sizeof(j->new_host), "%s", new_host);
	j->new_port = new_port;
	sw_control_conninfo(ctx, db, j->old_host, j->old_port, NULL,
			    j->conn_old, sizeof(j->conn_old));
	sw_control_conninfo(ctx, db, j->new_host, j->new_port, new_ci,
			    j->conn_new, sizeof(j->conn_new));
	j->t0 = j->phase_start = ev_time_us();
	j->errors_at_start = db->client_errors;
	j->done = done;
	j->done_arg = arg;
	swx(ctx)->job = j;
	return j;
}

/* SWITCHOVER db ABORT with no job running: lift a fence a stopped
 * pgswitch left behind, on one control connection to the old primary. */
static int lift_left_fence(pgs_ctx_t *ctx, const sw_fence_rec_t *r,
			   sw_done_cb done, void *arg, char *err, size_t errlen)
{
	pool_db_t *db = pool_db_lookup(ctx, r->db);
	if (strcmp(r->phase, "promote") == 0)
		return say(err, errlen,
			   "pg_promote may have been sent to %s:%d: lifting "
			   "the fence on %s:%d could leave two writable "
			   "primaries; point %s at %s:%d and RELOAD",
			   r->new_host, r->new_port, r->old_host, r->old_port,
			   r->db, r->new_host, r->new_port);
	if (!db)
		return say(err, errlen, "no such database: %s", r->db);
	sw_job_t *j = job_new(ctx, db, r->old_host, r->old_port, r->new_host,
			      r->new_port, NULL, done, arg);
	if (!j)
		return say(err, errlen, "out of memory");
	j->lift_only = true;
	j->journaled = true;
	if (strcmp(r->phase, "lfence") == 0)
		j->o.mode = SW_MODE_LOGICAL;
	j->fenced = true;
	j->state = SW_ABORTING;
	j->deadline = j->t0 + 10000000;
	arm_deadline(j);
	/* An aborted switchover never sent pg_promote: no need to ask the
	 * target (which may be the one that is down). Otherwise both
	 * control connections: the target is asked before the lift. */
	j->target_checked = strcmp(r->phase, "unlifted") == 0;
	j->ready = j->target_checked ? 1 : 0;
	log_msg(&ctx->log, done ? LOG_LOG : LOG_DEBUG,
		"%s %s: lifting the fence left on %s:%d",
		done ? "SWITCHOVER ABORT of" : "switchover", r->db, r->old_host,
		r->old_port);
	j->old = swc_open(ctx->loop, j->conn_old, on_connected, j);
	if (j->old && !j->target_checked)
		j->neu = swc_open(ctx->loop, j->conn_new, on_connected, j);
	if (!j->old || (!j->target_checked && !j->neu))
		sw_fail(j, "cannot start a control connection");
	return 1;
}

int sw_abort(pgs_ctx_t *ctx, const char *db, sw_done_cb done, void *arg,
	     char *err, size_t errlen)
{
	sw_ctx_t *x = swx(ctx);
	if (!x)
		return say(err, errlen, "out of memory");
	sw_job_t *j = x->job;
	if (!j || strcmp(j->db, db) != 0) {
		const sw_fence_rec_t *r = journal_find(x, db);
		if (!j && r) {
			sw_fence_rec_t copy = *r;
			return lift_left_fence(ctx, &copy, done, arg, err,
					       errlen);
		}
		return say(err, errlen, "no switchover of %s is running", db);
	}
	if (j->promoted)
		return say(err, errlen,
			   "switchover of %s is past the point of no return",
			   db);
	sw_fail(j, "aborted by SWITCHOVER %s ABORT", db);
	return 0;
}

static int begin(pgs_ctx_t *ctx, const char *dbname, const char *ci,
		 const sw_opts_t *o, const char *rev_hint, sw_done_cb done,
		 void *arg, char *err, size_t errlen);

int sw_begin(pgs_ctx_t *ctx, const char *dbname, const char *ci,
	     const sw_opts_t *o, sw_done_cb done, void *arg, char *err,
	     size_t errlen)
{
	return begin(ctx, dbname, ci, o, NULL, done, arg, err, errlen);
}

bool sw_last_logical(pgs_ctx_t *ctx, const char *db, char *a_host, size_t hcap,
		     int *a_port, char *b_host, int *b_port)
{
	sw_ctx_t *x = swx(ctx);
	const sw_job_t *l = x && x->have_last ? &x->last : NULL;
	if (!l || strcmp(l->db, db) != 0 || l->o.mode != SW_MODE_LOGICAL)
		return false;
	snprintf(a_host, hcap, "%s", l->old_host);
	*a_port = l->old_port;
	snprintf(b_host, hcap, "%s", l->new_host);
	*b_port = l->new_port;
	return true;
}

int sw_rollback(pgs_ctx_t *ctx, const char *dbname, const sw_opts_t *o,
		sw_done_cb done, void *arg, char *err, size_t errlen)
{
	sw_ctx_t *x = swx(ctx);
	const sw_job_t *l = x && x->have_last ? &x->last : NULL;
	if (!l || strcmp(l->db, dbname) != 0 ||
	    strcmp(l->result, "switched") != 0 || l->o.mode != SW_MODE_LOGICAL)
		return say(err, errlen,
			   "no logical switchover of %s to roll back (the "
			   "last one is kept until pgswitch restarts): use "
			   "SWITCHOVER %s TO 'host=... port=...' WITH (mode = "
			   "'logical')",
			   dbname, dbname);
	sw_opts_t back = *o;
	back.mode = SW_MODE_LOGICAL;
	if (!back.subscription[0])
		snprintf(back.subscription, sizeof(back.subscription), "%s",
			 l->lg.rev_sub);
	char ci[600], hint[SW_NAME_MAX];
	snprintf(ci, sizeof(ci), "host='%s' port=%d", l->old_host, l->old_port);
	/* Back over the reverse subscription; the forward one, left
	 * disabled and detached on the side we leave, is the way back. */
	snprintf(hint, sizeof(hint), "%s", l->lg.sub);
	return begin(ctx, dbname, ci, &back, hint, done, arg, err, errlen);
}

static int begin(pgs_ctx_t *ctx, const char *dbname, const char *ci,
		 const sw_opts_t *o, const char *rev_hint, sw_done_cb done,
		 void *arg, char *err, size_t errlen)
{
	pool_db_t *db = pool_db_lookup(ctx, dbname);
	if (!db)
		return say(err, errlen, "no such database: %s", dbname);
	sw_ctx_t *x = swx(ctx);
	if (!x)
		return say(err, errlen, "out of memory");
	if (x->job)
		return say(err, errlen, "a switchover of %s is already running",
			   x->job->db);
	char new_host[256];
	int new_port;
	sw_conninfo_target(ci, new_host, sizeof(new_host), &new_port);
	sw_job_t *j = job_new(ctx, db, db->host ? db->host : "", db->port,
			      new_host, new_port, ci, done, arg);
	if (!j)
		return say(err, errlen, "out of memory");
	j->o = *o;
	/* Reads only: the old side keeps its writes, nothing to fence. */
	if (o->traffic == SW_TRAFFIC_READ)
		j->o.fence_old = false;
	if (rev_hint)
		snprintf(j->lg.rev_sub, sizeof(j->lg.rev_sub), "%s", rev_hint);
	j->deadline = j->t0 + o->timeout_ms * 1000;
	arm_deadline(j);
	j->state = SW_CONNECT;
	log_msg(&ctx->log, LOG_LOG,
		"SWITCHOVER %s TO %s:%d command issued (%s%s, timeout %ld ms)",
		dbname, j->new_host, j->new_port, sw_mode_name(o->mode),
		o->traffic == SW_TRAFFIC_READ ? ", reads only" : "",
		o->timeout_ms);
	j->old = swc_open(ctx->loop, j->conn_old, on_connected, j);
	j->neu = swc_open(ctx->loop, j->conn_new, on_connected, j);
	if (!j->old || !j->neu)
		sw_fail(j, "cannot start control connections");
	return 0;
}

void sw_report(pgs_ctx_t *ctx, const char *db, sw_row_cb cb, void *arg)
{
	sw_ctx_t *x = swx(ctx);
	if (!x)
		return;
	const sw_job_t *j = x->job ? x->job : x->have_last ? &x->last : NULL;
	if (j && db && *db && strcmp(j->db, db) != 0)
		j = NULL;
	if (j)
		sw_report_row(j, cb, arg);
	for (int i = 0; i < x->nleft; i++) {
		const sw_fence_rec_t *r = &x->left[i];
		if ((db && *db && strcmp(r->db, db) != 0) ||
		    (x->job && strcmp(x->job->db, r->db) == 0))
			continue;
		sw_journal_row(r, cb, arg);
	}
	sw_overlay_rows(ctx->cfg, db, cb, arg);
}
