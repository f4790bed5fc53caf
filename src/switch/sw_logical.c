/* SPDX-License-Identifier: MIT */
/*
 * sw_logical.c - SWITCHOVER db TO '...' WITH (mode = 'logical'): move a
 * database to a logical subscriber of its current target (a blue/green
 * made by BLUEGREEN PREPARE or by hand), across major versions.
 *
 * The common machine (switchover.c) runs connect, pre-warm, freeze,
 * capture and fence as for a standby; this file supplies what differs:
 *
 *   preflight  the target's subscription (named, or its only enabled
 *              one), every table synchronized, its slot on the old side
 *              and the slot's lag, room for a reverse slot, wal_level,
 *              the old side's sequences present on the target and within
 *              their bounds; then (not for a dry run) the publication
 *              the reverse replication will read, made ahead of time
 *   fence      the flush query also reads every sequence: with writes
 *              fenced off, their values are final
 *   catchup    the subscription's applied position: latest_end_lsn, the
 *              end the walsender last reported by keepalive, which the
 *              apply worker handles only after everything sent before
 *              it (not received_lsn, which runs ahead of apply)
 *   handover   on the target: create the reverse slot (nothing is being
 *              applied and the old side is fenced, so it starts after
 *              every forwarded change and no change comes back); then
 *              in one synchronous transaction set every sequence, and
 *              disable and detach the subscription. Its commit makes
 *              the target the writable side; the pool is repointed.
 *   reverse    after the resume: the old side subscribes to the target
 *              on that slot (copy_data = false), re-enabling the
 *              subscription a previous switch left detached there, so a
 *              ROLLBACK is the same operation backwards; the forward
 *              slot on the old side is dropped.
 *
 * An abort before the handover commit leaves the subscription as it was
 * and drops the reverse slot; the fence is lifted as in the physical
 * mode. Until the handover the old side is the only writable one, so a
 * pgswitch killed mid-freeze may lift its fence while the target still
 * subscribes (sw_lg_target_check_sql).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "switch/shadow.h"
#include "switch/sw_job.h"
#include "util/strq.h"

#define LG_SQL_MAX (1 << 20)

/* Preflight's sub-steps: a result moves j->step on by one. */
typedef enum lg_pre_step {
	LP_ASK_TARGET,
	LP_TARGET,    /* the subscription, on the target */
	LP_OLD,	      /* its slot, reverse candidate, sequences */
	LP_SEQUENCES, /* the sequences and the reverse publication */
	LP_LONG_XACT,
	LP_LIFTED, /* the target's fence from an earlier switch reset */
	LP_RELOADED,
	LP_SET_UP,
} lg_pre_step_t;

typedef enum lg_handover_step {
	LH_ASK_SLOT,
	LH_SLOT_MADE,
	LH_HANDED,
} lg_handover_step_t;

typedef enum lg_reverse_step {
	LR_ASK_SUBSCRIBE,
	LR_SUBSCRIBED,
	LR_SLOT_CHECKED,
} lg_reverse_step_t;

/* A logical fence's settling needs the target's say (lift_check). */
const char *sw_lg_target_check_sql(void)
{
	return "SELECT count(*) > 0 FROM pg_subscription s JOIN pg_database d "
	       "ON d.oid = s.subdbid WHERE d.datname = current_database() AND "
	       "s.subenabled";
}

/* The fence's flush (as FLUSH_SQL in switchover.c), and the sequences in
 * the same round trip. */
const char *const sw_lg_flush_sql =
	"SET synchronous_commit = on; BEGIN READ WRITE; SELECT "
	"pg_logical_emit_message(true, 'pgswitch', 'fence'); COMMIT; RESET "
	"synchronous_commit; SELECT pg_current_wal_flush_lsn(), (SELECT "
	"string_agg(format('(%L,%s::bigint)', format('%I.%I', schemaname, "
	"sequencename), last_value), ',') FROM pg_sequences WHERE last_value "
	"IS NOT NULL)";

static char *sql_alloc(sw_job_t *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* SQL of any length (table lists, sequence lists); NULL: the job
 * failed. */
static char *sql_alloc(sw_job_t *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = n >= 0 && n < LG_SQL_MAX ? malloc((size_t)n + 1) : NULL;
	if (!s) {
		sw_fail(j, "control query too long or out of memory");
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static bool ask_alloc(sw_job_t *j, swc_t *c, char *sql, bool soft)
{
	if (!sql)
		return false;
	bool ok = soft ? sw_ask_soft(j, c, sql) : sw_ask_sql(j, c, sql);
	free(sql);
	return ok;
}

/* Names come from catalogs or the operator: quoted, never trusted. */
#define QI(name, buf) strq_quote((name), '"', (buf), sizeof(buf))
#define QL(name, buf) strq_quote((name), '\'', (buf), sizeof(buf))

static bool is_t(const char *v)
{
	return v && strcmp(v, "t") == 0;
}

static void copy(char *dst, size_t cap, const char *v)
{
	snprintf(dst, cap, "%s", v ? v : "");
}

/* ---- preflight ---- */

static void ask_target(sw_job_t *j)
{
	char lit[2 * SW_NAME_MAX + 3];
	const char *name = j->o.subscription;
	ask_alloc(j, j->neu,
		  sql_alloc(j,
			    "SELECT pg_is_in_recovery(), "
			    "current_setting('wal_level'), s.oid::text, "
			    "s.subname, s.subslotname, s.subenabled, (SELECT "
			    "count(*) FROM pg_subscription_rel r WHERE "
			    "r.srsubid = s.oid AND r.srsubstate <> 'r'), "
			    "(SELECT string_agg(r.srrelid::regclass::text, ', "
			    "' ORDER BY r.srrelid) FROM pg_subscription_rel r "
			    "WHERE r.srsubid = s.oid), (SELECT count(*) FROM "
			    "pg_subscription x WHERE x.subdbid = d.oid AND "
			    "x.subenabled), (SELECT count(*) FROM "
			    "pg_replication_slots) < "
			    "current_setting('max_replication_slots')::int, "
			    "current_setting('default_transaction_read_only'), "
			    "(SELECT pid FROM pg_stat_subscription w WHERE "
			    "w.subid = s.oid AND w.relid IS NULL) FROM "
			    "pg_database d LEFT JOIN pg_subscription s ON "
			    "s.subdbid = d.oid AND %s%s WHERE d.datname = "
			    "current_database() ORDER BY s.subname LIMIT 1",
			    *name ? "s.subname = " : "s.subenabled",
			    *name ? QL(name, lit) : ""),
		  false);
}

#define BLOCK(...)                                                             \
	do {                                                                   \
		sw_note(j, __VA_ARGS__);                                       \
		blocked = true;                                                \
	} while (0)

/* The target's answer: which subscription, and is it ready. */
static bool target_ok(sw_job_t *j)
{
	sw_logical_t *lg = &j->lg;
	bool blocked = false;
	const char *named = j->o.subscription;
	if (is_t(sw_val(j, 0, 0)))
		BLOCK("the target is a standby (pg_is_in_recovery() is true): "
		      "use mode = 'physical'");
	if (!sw_val(j, 0, 2)) {
		if (*named)
			BLOCK("no subscription %s on the target", named);
		else
			BLOCK("the target has no enabled subscription in "
			      "this database: run BLUEGREEN %s PREPARE TO "
			      "'...' first, or name one with subscription = "
			      "'...'",
			      j->db);
		return false;
	}
	copy(lg->sub_oid, sizeof(lg->sub_oid), sw_val(j, 0, 2));
	copy(lg->sub, sizeof(lg->sub), sw_val(j, 0, 3));
	copy(lg->sub_slot, sizeof(lg->sub_slot), sw_val(j, 0, 4));
	free(lg->tables);
	lg->tables = sw_val(j, 0, 7) ? strdup(sw_val(j, 0, 7)) : NULL;
	long enabled = atol(sw_val(j, 0, 8) ? sw_val(j, 0, 8) : "0");
	if (!*named && enabled > 1)
		BLOCK("the target has %ld enabled subscriptions in this "
		      "database: name one with subscription = '...'",
		      enabled);
	if (!is_t(sw_val(j, 0, 5)))
		BLOCK("subscription %s on the target is disabled", lg->sub);
	if (!lg->sub_slot[0])
		BLOCK("subscription %s has no slot (slot_name = NONE)",
		      lg->sub);
	if (!lg->tables)
		BLOCK("subscription %s has no tables", lg->sub);
	const char *unsynced = sw_val(j, 0, 6);
	if (unsynced && strcmp(unsynced, "0") != 0)
		BLOCK("%s table(s) of subscription %s are not synchronized yet "
		      "(srsubstate <> 'r'): see SHOW BLUEGREEN",
		      unsynced, lg->sub);
	/* No reverse replication is no reason to refuse the switch, only
	 * the rollback: said in the report. */
	lg->no_reverse =
		!sw_val(j, 0, 1) || strcmp(sw_val(j, 0, 1), "logical") != 0;
	if (j->o.traffic == SW_TRAFFIC_READ)
		lg->no_reverse = true; /* nothing is handed over */
	else if (lg->no_reverse)
		sw_note(j,
			"no reverse replication (the target's wal_level is %s, "
			"not logical): no ROLLBACK",
			sw_val(j, 0, 1) ? sw_val(j, 0, 1) : "?");
	lg->target_fenced =
		sw_val(j, 0, 10) && strcmp(sw_val(j, 0, 10), "on") == 0;
	if (!lg->no_reverse && !is_t(sw_val(j, 0, 9)))
		BLOCK("the target has no free replication slot "
		      "(max_replication_slots) for the reverse replication");
	return !blocked;
}

/* An enabled subscription whose apply worker has not started yet (the
 * launcher starts at most one per wal_retrieve_retry_interval, so just
 * after a rollback re-enabled it): wait for it before the freeze, for up
 * to half the budget. True: waiting (or refused). */
static bool worker_missing(sw_job_t *j)
{
	if (!sw_val(j, 0, 2) || !is_t(sw_val(j, 0, 5)) || sw_val(j, 0, 11))
		return false;
	if (ev_time_us() < j->t0 + (j->deadline - j->t0) / 2) {
		j->step = LP_ASK_TARGET; /* the timer turn asks again */
		sw_later(j, 50);
		return true;
	}
	sw_fail(j,
		"the apply worker of subscription %s is not running "
		"(PostgreSQL "
		"starts one per wal_retrieve_retry_interval): retry, or see "
		"the "
		"target's log",
		sw_val(j, 0, 3));
	return true;
}

/* The reverse subscription's name when none is left to re-enable. */
static void rev_default(const sw_job_t *j, char *out, size_t cap)
{
	size_t o = (size_t)snprintf(out, cap, "pgswitch_rev_");
	for (const char *p = j->db; *p && o + 1 < cap && o < 60; p++)
		out[o++] =
			(*p >= 'A' && *p <= 'Z') ? (char)(*p + 32)
			: ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
				? *p
				: '_';
	out[o] = 0;
}

static void ask_old(sw_job_t *j)
{
	sw_logical_t *lg = &j->lg;
	char slot[2 * SW_NAME_MAX + 3], pref[2 * SW_NAME_MAX + 3];
	char def[SW_NAME_MAX];
	rev_default(j, def, sizeof(def));
	/* A rollback re-enables the subscription the switch before it left
	 * disabled and detached on this side (any such, when the forward
	 * one is our own reverse); otherwise only ours is reused. */
	bool any = strcmp(lg->sub, def) == 0;
	ask_alloc(j, j->old,
		  sql_alloc(j,
			    "SELECT pg_is_in_recovery(), (SELECT "
			    "pg_wal_lsn_diff(pg_current_wal_lsn(), "
			    "confirmed_flush_lsn)::bigint FROM "
			    "pg_replication_slots WHERE slot_name = %s), "
			    "c.subname, c.pub, (SELECT "
			    "string_agg(format('(%%L,%%s::bigint)', "
			    "format('%%I.%%I', schemaname, sequencename), "
			    "last_value), ',') FROM pg_sequences WHERE "
			    "last_value IS NOT NULL) FROM (SELECT 1) one LEFT "
			    "JOIN "
			    "LATERAL (SELECT s.subname, s.subpublications[1] "
			    "AS pub FROM pg_subscription s JOIN pg_database d "
			    "ON d.oid = s.subdbid AND d.datname = "
			    "current_database() WHERE NOT s.subenabled AND "
			    "s.subslotname IS NULL AND (%s OR s.subname = %s) "
			    "ORDER BY s.subname = %s DESC, s.subname LIMIT 1) "
			    "c ON true",
			    QL(lg->sub_slot, slot), any ? "true" : "false",
			    QL(lg->rev_sub[0] ? lg->rev_sub : def, pref), pref),
		  false);
}

static bool old_ok(sw_job_t *j)
{
	sw_logical_t *lg = &j->lg;
	bool blocked = false;
	if (is_t(sw_val(j, 0, 0)))
		BLOCK("the current target is itself in recovery");
	if (!sw_val(j, 0, 1))
		BLOCK("the slot %s of subscription %s is not on the old side",
		      lg->sub_slot, lg->sub);
	else if (atoll(sw_val(j, 0, 1)) > j->o.max_lag)
		BLOCK("subscription %s lags %s bytes behind, over max_lag "
		      "%lld",
		      lg->sub, sw_val(j, 0, 1), j->o.max_lag);
	lg->rev_exists = sw_val(j, 0, 2) != NULL;
	if (lg->rev_exists) {
		copy(lg->rev_sub, sizeof(lg->rev_sub), sw_val(j, 0, 2));
		copy(lg->rev_pub, sizeof(lg->rev_pub), sw_val(j, 0, 3));
	} else {
		rev_default(j, lg->rev_sub, sizeof(lg->rev_sub));
		memcpy(lg->rev_pub, lg->rev_sub, sizeof(lg->rev_pub));
	}
	/* The slot is named as CREATE SUBSCRIPTION would name it. */
	memcpy(lg->rev_slot, lg->rev_sub, sizeof(lg->rev_slot));
	char extra[SW_NAME_MAX + 32];
	snprintf(extra, sizeof(extra), " application_name=%s", lg->rev_sub);
	snprintf(lg->rev_ci, sizeof(lg->rev_ci), "%s%s", j->conn_new, extra);
	return !blocked;
}

/* The sequences the old side has now against the target's bounds (the
 * freeze sets them again, final), and what the reverse needs there. */
static void ask_sequences(sw_job_t *j, const char *seqs)
{
	sw_logical_t *lg = &j->lg;
	char pub[2 * SW_NAME_MAX + 3], slot[2 * SW_NAME_MAX + 3];
	ask_alloc(j, j->neu,
		  sql_alloc(j,
			    "SELECT (SELECT string_agg(v.n || CASE WHEN "
			    "q.sequencename IS NULL THEN ' (missing)' ELSE "
			    "format(' (%%s outside %%s..%%s)', v.val, "
			    "q.min_value, q.max_value) END, ', ') FROM (%s%s) "
			    "v(n, val) LEFT JOIN pg_sequences q ON "
			    "format('%%I.%%I', q.schemaname, q.sequencename) = "
			    "v.n WHERE q.sequencename IS NULL OR v.val > "
			    "q.max_value OR v.val < q.min_value), (SELECT "
			    "count(*) FROM pg_publication WHERE pubname = %s), "
			    "(SELECT count(*) FROM pg_replication_slots WHERE "
			    "slot_name = %s)",
			    seqs ? "VALUES "
				 : "SELECT NULL::text, NULL::bigint "
				   "WHERE false",
			    seqs ? seqs : "", QL(lg->rev_pub, pub),
			    QL(lg->rev_slot, slot)),
		  false);
}

static bool sequences_ok(sw_job_t *j, bool *stale_slot)
{
	sw_logical_t *lg = &j->lg;
	bool blocked = false;
	if (sw_val(j, 0, 0))
		BLOCK("sequences the target cannot take: %s", sw_val(j, 0, 0));
	lg->rev_pub_exists = sw_val(j, 0, 1) && strcmp(sw_val(j, 0, 1), "0");
	*stale_slot = sw_val(j, 0, 2) && strcmp(sw_val(j, 0, 2), "0") != 0;
	return !blocked;
}

/* Made before the freeze: a publication costs nothing until a slot reads
 * it. A reverse slot left by an aborted switch is dropped (unless in
 * use: then the handover refuses by its own error). */
static bool setup(sw_job_t *j, bool stale_slot)
{
	sw_logical_t *lg = &j->lg;
	char pub[2 * SW_NAME_MAX + 3], slot[2 * SW_NAME_MAX + 3];
	if (lg->no_reverse || (lg->rev_pub_exists && !stale_slot))
		return false;
	char *create = lg->rev_pub_exists
			       ? strdup("")
			       : sql_alloc(j,
					   "CREATE PUBLICATION %s FOR TABLE "
					   "%s; ",
					   QI(lg->rev_pub, pub), lg->tables);
	char *drop =
		stale_slot ? sql_alloc(j,
				       "SELECT pg_drop_replication_slot("
				       "slot_name) FROM pg_replication_slots "
				       "WHERE NOT active AND slot_name = %s; ",
				       QL(lg->rev_slot, slot))
			   : strdup("");
	if (create && drop)
		ask_alloc(j, j->neu, sql_alloc(j, "%s%sSELECT 1", create, drop),
			  false);
	else if (!create || !drop)
		sw_fail(j, "out of memory");
	free(create);
	free(drop);
	return true;
}

/* The blockers noted in the detail become the refusal. */
static void refuse(sw_job_t *j)
{
	char why[sizeof(j->detail)];
	memcpy(why, j->detail, sizeof(why));
	j->detail[0] = 0;
	sw_fail(j, "%s", why);
}

void sw_lg_preflight(sw_job_t *j)
{
	switch ((lg_pre_step_t)j->step) {
	case LP_ASK_TARGET: {
		char why[512];
		if (j->o.min_shadow_reads > 0 &&
		    !shadow_clean(j->ctx, j->db, j->o.min_shadow_reads, why,
				  sizeof(why))) {
			sw_fail(j, "%s", why);
			return;
		}
		ask_target(j);
		return;
	}
	case LP_TARGET:
		if (worker_missing(j))
			return;
		if (!target_ok(j)) {
			refuse(j);
			return;
		}
		ask_old(j);
		return;
	case LP_OLD:
		if (!old_ok(j)) {
			refuse(j);
			return;
		}
		/* Reads only: no sequence moves, nothing to set up. */
		if (j->o.traffic == SW_TRAFFIC_READ) {
			sw_preflight_done(j);
			return;
		}
		/* Names and bounds only: the values move in the freeze. */
		ask_sequences(j, sw_val(j, 0, 4));
		return;
	case LP_SEQUENCES:
		if (!sequences_ok(j, &j->lg.stale_slot)) {
			refuse(j);
			return;
		}
		sw_ask_long_xact(j);
		return;
	case LP_LONG_XACT:
		if (!sw_long_xact_ok(j))
			return;
		/* The target of a rollback is the side an earlier switch
		 * fenced: writable again, as any subscriber, before the
		 * pre-warm logs in to it. */
		if (!j->o.dry_run && j->lg.target_fenced) {
			sw_ask(j, j->neu,
			       "ALTER SYSTEM RESET "
			       "default_transaction_read_only");
			return;
		}
		j->step = LP_RELOADED;
		sw_lg_preflight(j);
		return;
	case LP_LIFTED:
		sw_ask(j, j->neu, "SELECT pg_reload_conf()");
		return;
	case LP_RELOADED:
		if (!j->o.dry_run && setup(j, j->lg.stale_slot))
			return;
		sw_preflight_done(j);
		return;
	default:
		sw_preflight_done(j);
		return;
	}
}

/* ---- the freeze ---- */

void sw_lg_caught_sql(const sw_job_t *j, const char *lsn, char *out, size_t cap)
{
	snprintf(out, cap,
		 "SELECT coalesce(bool_or(latest_end_lsn >= '%s'::pg_lsn), "
		 "false), max(latest_end_lsn)::text, max(received_lsn)::text "
		 "FROM pg_stat_subscription WHERE subid = %s AND relid IS NULL",
		 lsn, j->lg.sub_oid[0] ? j->lg.sub_oid : "0");
}

void sw_lg_fenced(sw_job_t *j)
{
	free(j->lg.seqs);
	j->lg.seqs = sw_val(j, 0, 1) ? strdup(sw_val(j, 0, 1)) : NULL;
}

void sw_lg_catchup(sw_job_t *j)
{
	char q[512];
	/* fence_old = off: the capture asked for the flush query instead */
	if (j->step == 1 && j->fence_lsn[0] == 0 && sw_val(j, 0, 0)) {
		copy(j->fence_lsn, sizeof(j->fence_lsn), sw_val(j, 0, 0));
		sw_lg_fenced(j);
	}
	if (j->step >= 2 && j->res) {
		if (is_t(sw_val(j, 0, 0)) && j->o.traffic == SW_TRAFFIC_READ) {
			/* Reads move; the subscription goes on feeding them. */
			sw_cut_over(j, SW_DONE);
			return;
		}
		if (is_t(sw_val(j, 0, 0))) {
			sw_enter(j, SW_HANDOVER);
			sw_advance(j);
			return;
		}
		j->polls++;
		if (ev_time_us() > j->deadline) {
			sw_fail(j,
				"subscription %s did not apply %s before the "
				"deadline (applied %s, received %s)",
				j->lg.sub, j->fence_lsn,
				sw_val(j, 0, 1) ? sw_val(j, 0, 1) : "-",
				sw_val(j, 0, 2) ? sw_val(j, 0, 2) : "-");
			return;
		}
		/* The applied end moves by keepalive, not by our asking:
		 * poll gently. The timer turn asks again. */
		j->step--;
		sw_later(j, 1);
		return;
	}
	sw_lg_caught_sql(j, j->fence_lsn, q, sizeof(q));
	sw_ask_sql(j, j->neu, q);
}

void sw_lg_handover(sw_job_t *j)
{
	sw_logical_t *lg = &j->lg;
	char slot[2 * SW_NAME_MAX + 3], sub[2 * SW_NAME_MAX + 3];
	switch ((lg_handover_step_t)j->step) {
	case LH_ASK_SLOT:
		if (lg->no_reverse) {
			j->step = LH_SLOT_MADE;
			sw_lg_handover(j);
			return;
		}
		ask_alloc(j, j->neu,
			  sql_alloc(j,
				    "SELECT lsn FROM "
				    "pg_create_logical_replication_slot(%s, "
				    "'pgoutput')",
				    QL(lg->rev_slot, slot)),
			  false);
		return;
	case LH_SLOT_MADE: {
		lg->rev_slot_made = !lg->no_reverse;
		/* One synchronous transaction: its commit flushes what the
		 * apply worker committed asynchronously before it, so what
		 * the old side had is durable here before clients come. */
		char *setval =
			lg->seqs ? sql_alloc(
					   j,
					   "SELECT count(setval(v.n::regclass, "
					   "v.val, true)) FROM (VALUES %s) "
					   "v(n, val); ",
					   lg->seqs)
				 : strdup("");
		if (!setval) {
			sw_fail(j, "out of memory");
			return;
		}
		lg->handing = true;
		if (!ask_alloc(
			    j, j->neu,
			    sql_alloc(j,
				      "SET synchronous_commit = on; BEGIN READ "
				      "WRITE; "
				      "%sALTER "
				      "SUBSCRIPTION %s DISABLE; ALTER "
				      "SUBSCRIPTION %s SET (slot_name = NONE); "
				      "COMMIT; RESET synchronous_commit",
				      setval, QI(lg->sub, sub), sub),
			    false))
			lg->handing = false;
		free(setval);
		return;
	}
	case LH_HANDED:
	default:
		/* The target is the writable side from here on. */
		lg->handing = false;
		j->promoted = true;
		log_msg(&j->ctx->log, LOG_LOG,
			"switchover %s: subscription %s disabled and detached, "
			"sequences set; reverse slot %s on the target",
			j->db, lg->sub, lg->rev_slot);
		sw_cut_over(j, SW_REVERSE);
		return;
	}
}

/* ---- after the resume ---- */

static void subscribe_back(sw_job_t *j)
{
	sw_logical_t *lg = &j->lg;
	char sub[2 * SW_NAME_MAX + 3], slot[2 * SW_NAME_MAX + 3];
	char pub[2 * SW_NAME_MAX + 3], ci[2 * sizeof(lg->rev_ci) + 3];
	char *q;
	if (lg->rev_exists)
		q = sql_alloc(j,
			      "BEGIN READ WRITE; ALTER SUBSCRIPTION %s SET "
			      "(slot_name = %s); ALTER SUBSCRIPTION %s ENABLE; "
			      "COMMIT",
			      QI(lg->rev_sub, sub), QL(lg->rev_slot, slot),
			      sub);
	else
		q = sql_alloc(j,
			      "BEGIN READ WRITE; CREATE SUBSCRIPTION %s "
			      "CONNECTION %s PUBLICATION %s WITH (create_slot "
			      "= false, slot_name = %s, copy_data = false); "
			      "COMMIT",
			      QI(lg->rev_sub, sub), QL(lg->rev_ci, ci),
			      QI(lg->rev_pub, pub), QL(lg->rev_slot, slot));
	if (!ask_alloc(j, j->old, q, true)) {
		j->step = LR_SUBSCRIBED;
		sw_advance(j);
	}
}

/* The forward slot holds WAL on the old side until dropped; its
 * walsender leaves a moment after the subscription was disabled. */
static void drop_forward_slot(sw_job_t *j)
{
	char slot[2 * SW_NAME_MAX + 3];
	QL(j->lg.sub_slot, slot);
	if (!ask_alloc(j, j->old,
		       sql_alloc(j,
				 "SELECT count(pg_drop_replication_slot("
				 "slot_name)) FROM pg_replication_slots WHERE "
				 "slot_name = %s AND NOT active; SELECT "
				 "count(*) FROM pg_replication_slots WHERE "
				 "slot_name = %s",
				 slot, slot),
		       true)) {
		j->step = LR_SLOT_CHECKED;
		j->lg.seq_polls = 1000;
		sw_advance(j);
	}
}

void sw_lg_reverse(sw_job_t *j)
{
	sw_logical_t *lg = &j->lg;
	switch ((lg_reverse_step_t)j->step) {
	case LR_ASK_SUBSCRIBE:
		if (!lg->no_reverse) {
			subscribe_back(j);
			return;
		}
		j->step = LR_SUBSCRIBED;
		/* fall through */
	case LR_SUBSCRIBED:
		if (j->res && !lg->no_reverse)
			log_msg(&j->ctx->log, LOG_LOG,
				"switchover %s: %s subscribes to the new "
				"side as %s (a ROLLBACK goes back over it)",
				j->db, j->old_host[0] ? j->old_host : "old",
				lg->rev_sub);
		drop_forward_slot(j);
		return;
	case LR_SLOT_CHECKED:
	default:
		if (j->res && sw_val(j, 0, 0) && strcmp(sw_val(j, 0, 0), "0") &&
		    ++lg->seq_polls < 300) {
			j->step = LR_SUBSCRIBED;
			sw_later(j, 10);
			return;
		}
		if (!j->res ||
		    (sw_val(j, 0, 0) && strcmp(sw_val(j, 0, 0), "0")))
			sw_note(j,
				"the forward slot %s is still on the old side: "
				"drop it there with SELECT "
				"pg_drop_replication_slot('%s')",
				lg->sub_slot, lg->sub_slot);
		sw_enter(j, SW_DONE);
		sw_advance(j);
		return;
	}
}

bool sw_lg_undo(sw_job_t *j)
{
	sw_logical_t *lg = &j->lg;
	char slot[2 * SW_NAME_MAX + 3];
	lg->handing = false; /* its answer came: an error, or none */
	if (lg->undoing) {
		lg->undoing = false;
		j->step = 0;
		return true;
	}
	if (!lg->rev_slot_made)
		return true;
	lg->rev_slot_made = false;
	if (j->neu && !swc_busy(j->neu)) {
		lg->undoing = true;
		char *q = sql_alloc(j, "SELECT pg_drop_replication_slot(%s)",
				    QL(lg->rev_slot, slot));
		if (q && sw_ask_soft(j, j->neu, q)) {
			free(q);
			return false;
		}
		free(q);
		lg->undoing = false;
	}
	sw_note(j, "the reverse slot %s may be left on the target",
		lg->rev_slot);
	return true;
}

void sw_lg_free(sw_job_t *j)
{
	free(j->lg.tables);
	free(j->lg.seqs);
	j->lg.tables = j->lg.seqs = NULL;
}

const char *sw_lg_step_name(const sw_job_t *j)
{
	static const char *const pre[] = {
		"ask target",	     "target answered",
		"old side answered", "sequences checked",
		"long xact checked", "fence reset",
		"reloaded",	     "set up"};
	static const char *const hand[] = {"make slot", "slot made",
					   "handed over"};
	static const char *const rev[] = {"subscribe back", "subscribed",
					  "slot checked"};
	int st = j->step;
	switch (j->state) {
	case SW_PREFLIGHT:
		return st >= 0 && st <= LP_SET_UP ? pre[st] : "set up";
	case SW_HANDOVER:
		return st >= 0 && st <= LH_HANDED ? hand[st] : "handed over";
	case SW_REVERSE:
		return st >= 0 && st <= LR_SLOT_CHECKED ? rev[st]
							: "slot checked";
	default:
		return "-";
	}
}
