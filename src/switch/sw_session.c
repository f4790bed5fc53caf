/* SPDX-License-Identifier: MIT */
/*
 * sw_session.c - what a switchover does to the pool's own server
 * connections on the old primary: find the transactions still in flight,
 * and in session mode capture each session's state on its own backend
 * (docs/switchover.md: what moves and what does not).
 */
#include "switch/sw_session.h"

#include "pool/pool_freeze.h"

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
	return pool_db_capture(ctx, db, capture_sql, warm);
}

int sw_capture_pending(pgs_ctx_t *ctx, pool_db_t *db, bool detach)
{
	return pool_db_capture_pending(ctx, db, detach,
				       "switchover: session moves to the new "
				       "primary");
}
