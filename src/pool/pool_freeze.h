/* SPDX-License-Identifier: MIT */
/*
 * pool_freeze.h - what an operation above the pool (the switchover) does
 * to one database's connections: freeze and thaw it, retarget it, capture
 * and detach its sessions, list its backends. The pool stays the only
 * place objects change lists (after PgBouncer's objects.c): src/switch
 * calls these and never walks a pool's lists itself.
 */
#ifndef PGSWITCH_POOL_FREEZE_H
#define PGSWITCH_POOL_FREEZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool/pool_types.h"

/* Called once per client a freeze held, with when its hold began. */
typedef void (*pool_hold_cb)(void *arg, int64_t since_us);

/* New transactions of DB queue (latency, not errors); a session is held
 * at its next transaction boundary. No server of DB is launched until
 * the thaw (the switchover's pre-warm goes around: pool_prewarm). */
void pool_db_freeze(pool_db_t *db);
/* End the freeze: HOLD (may be NULL) hears of each held client, then the
 * queue is served, moved sessions get their new server at once (LISTEN
 * must keep receiving) and held queries run. */
void pool_db_thaw(pgs_ctx_t *ctx, pool_db_t *db, pool_hold_cb hold, void *arg);
/* Point DB at HOST:PORT: servers of the old target close as they are
 * released, the parked connections to the new one become its servers. */
void pool_db_retarget(pgs_ctx_t *ctx, pool_db_t *db, const char *host,
		      int port);
/* DB's servers with a transaction or query in flight (or logging in, or
 * being reset); with CANCEL, a CancelRequest goes to each busy one. */
int pool_db_in_flight(pgs_ctx_t *ctx, pool_db_t *db, bool cancel);
/* Run SQL on DB's linked servers as a session capture (server_capture):
 * with WARM only session pools' servers at a boundary, the result
 * dropped. Returns how many were started. */
int pool_db_capture(pgs_ctx_t *ctx, pool_db_t *db, const char *sql, bool warm);
/* Captures of DB still running; when none and DETACH, every session is
 * unlinked from its server, which closes with REASON. */
int pool_db_capture_pending(pgs_ctx_t *ctx, pool_db_t *db, bool detach,
			    const char *reason);
/* Backend pids of DB's idle and used servers on HOST:PORT, as
 * "pid,pid,..." in OUT; "" if none or they do not fit. */
void pool_db_backend_pids(pgs_ctx_t *ctx, const pool_db_t *db, const char *host,
			  int port, char *out, size_t cap);

/* The user of DB's first pool, NULL if it has none. */
const char *pool_db_first_user(pgs_ctx_t *ctx, const pool_db_t *db);

#endif
