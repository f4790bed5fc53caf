/* SPDX-License-Identifier: MIT */
/*
 * sw_session.c - what a switchover does to the pool's own server
 * connections on the old primary: find the transactions still in flight,
 * and in session mode capture each session's state on its own backend
 * (docs/switchover.md: what moves and what does not).
 */
#include "switch/sw_session.h"

#include "conn/conn.h"
#include "pool/pool.h"

/* A linked server between two transactions of its client. */
static bool at_boundary(const server_t *s)
{
	return s->tx_status == 'I' && s->expect_rfq == 0 && !s->in_copy &&
	       !s->unsynced && s->swallow_rfq == 0 && s->fwd_left == 0 &&
	       (!s->link || s->link->fwd_left == 0);
}

int sw_in_flight(pgs_ctx_t *ctx, pool_db_t *db, bool cancel)
{
	int k = 0;
	list_node_t *n, *m;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
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
				server_cancel(ctx, s);
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

/*
 * WARM (before the freeze, session pools only): run the capture once on
 * every session server that is between transactions and drop the result.
 * A backend's first run of it loads its catalog caches (~10 ms); inside
 * the freeze, with a dozen sessions on two cores, that was most of the
 * capture. A client that sends meanwhile waits for that one query, with
 * no freeze. Otherwise (frozen, all at a boundary): capture for real.
 */
int sw_capture_start(pgs_ctx_t *ctx, pool_db_t *db, bool warm)
{
	int k = 0;
	list_node_t *n, *m, *tmp;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db || (warm && pool_mode(p) != CFG_POOL_SESSION))
			continue;
		/* Safe walk: a failed write closes the server. */
		statlist_for_each_safe(m, tmp, &p->active_servers)
		{
			server_t *s = list_entry(m, server_t, node);
			client_t *c = s->link;
			if (!c || (warm && (!at_boundary(s) ||
					    c->io.rpos != c->io.rlen)))
				continue;
			server_capture(s, capture_sql, !warm);
			k++;
		}
	}
	return k;
}

/* Captures still running; when none, detach the sessions. */
int sw_capture_pending(pgs_ctx_t *ctx, pool_db_t *db, bool detach)
{
	int k = 0;
	list_node_t *n, *m, *tmp;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
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
