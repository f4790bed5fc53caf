/* SPDX-License-Identifier: MIT */
/*
 * janitor.h - periodic maintenance: timeouts, pool refill, idle trim,
 * stats period, and RELOAD.
 *
 * Interface:
 *   janitor_start()  arm the periodic timer on the context's loop
 *   janitor_run()    one pass (also called by tests and admin commands)
 *   pool_reload()    load the config file into a new object and swap it
 *                    in only if it is valid; applies changed databases
 */
#ifndef PGSWITCH_JANITOR_H
#define PGSWITCH_JANITOR_H

#include "pool/pool_types.h"

#define JANITOR_PERIOD_MS 100

void janitor_start(pgs_ctx_t *ctx);
void janitor_run(pgs_ctx_t *ctx);
/* A graceful shutdown (SHUTDOWN WAIT_FOR_CLIENTS / WAIT_FOR_SERVERS,
 * SIGTERM, SIGINT): TCP listeners close, the Unix socket stays open for
 * the console; the janitor exits when the clients (or servers) are gone. */
void pgs_shutdown_begin(pgs_ctx_t *ctx, pgs_shutdown_t mode);
/* Returns 0 on success, -1 if the new config had errors (old kept);
 * ERR gets the first error "file:line: message". */
int pool_reload(pgs_ctx_t *ctx, char *err, size_t errlen);
/* Load the auth_file named by the current config (keeps the old one on
 * failure). */
void pool_load_authfile(pgs_ctx_t *ctx);
/* Load auth_ident_file and, for auth_type = hba, auth_hba_file; each
 * problem is logged as file:line. */
void pool_load_hba(pgs_ctx_t *ctx);
/* Make sure every [databases] entry has a pool_db (SHOW DATABASES). */
void pool_sync_dbs(pgs_ctx_t *ctx);

#endif
