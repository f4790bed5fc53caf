/* SPDX-License-Identifier: MIT */
/*
 * janitor.h - periodic maintenance: timeouts, pool refill, idle trim,
 * stats period, and RELOAD.
 *
 * Interface:
 *   janitor_start()  arm the periodic timer on the context's loop
 *   janitor_run()    one pass (also called by tests and admin commands)
 *   pool_cfg_read()  load the config file into a new object (RELOAD's
 *                    first half; main.c's reload runs the switchover's
 *                    overlay between the two)
 *   pool_cfg_apply() swap a valid new config in; applies changed databases
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
/* The config file as a new object, its diagnostics logged as file:line;
 * NULL if it has errors (ERR gets the first "file:line: message"). */
cfg_t *pool_cfg_read(pgs_ctx_t *ctx, char *err, size_t errlen);
/* Swap NCFG in (it is the context's from now on) and apply it. Returns
 * 0, or -1 when part of it (TLS) could not be applied: ERR says which. */
int pool_cfg_apply(pgs_ctx_t *ctx, cfg_t *ncfg, char *err, size_t errlen);
/* Load the auth_file named by the current config (keeps the old one on
 * failure). */
void pool_load_authfile(pgs_ctx_t *ctx);
/* Load auth_ident_file and, for auth_type = hba, auth_hba_file; each
 * problem is logged as file:line. */
void pool_load_hba(pgs_ctx_t *ctx);
/* Make sure every [databases] entry has a pool_db (SHOW DATABASES). */
void pool_sync_dbs(pgs_ctx_t *ctx);

#endif
