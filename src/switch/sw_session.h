/* SPDX-License-Identifier: MIT */
/* sw_session.h - the switchover's work on the pool's old-primary servers. */
#ifndef PGSWITCH_SW_SESSION_H
#define PGSWITCH_SW_SESSION_H

#include <stdbool.h>

#include "pool/pool_types.h"

/* Start the session-state capture on DB's linked servers (see
 * sw_session.c for WARM); returns how many were started. */
int sw_capture_start(pgs_ctx_t *ctx, pool_db_t *db, bool warm);
/* Captures still running; when none and DETACH, unlink every session
 * from its old server and close the server. */
int sw_capture_pending(pgs_ctx_t *ctx, pool_db_t *db, bool detach);

#endif
