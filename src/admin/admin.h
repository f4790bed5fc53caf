/* SPDX-License-Identifier: MIT */
/*
 * admin.h - the "pgbouncer" pseudo-database console.
 *
 * Interface:
 *   admin_query()         run one simple-protocol query from a console
 *                         client; the reply is appended to its output
 *   admin_client_gone()   a console client closed: drop its pending wait
 *   admin_tick()          complete pending PAUSE / WAIT_CLOSE waits
 *   admin_is_db()         is NAME the console database?
 * Commands call pool/switch APIs; the console never touches sockets.
 */
#ifndef PGSWITCH_ADMIN_H
#define PGSWITCH_ADMIN_H

#include <stdbool.h>

#include "pool/pool_types.h"

bool admin_is_db(const char *name);
void admin_query(client_t *c, const char *sql);
void admin_client_gone(client_t *c);
void admin_tick(pgs_ctx_t *ctx);

#endif
