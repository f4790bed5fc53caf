/* SPDX-License-Identifier: MIT */
/*
 * takeover.h - PgBouncer's online restart (-R, --reboot).
 *
 * The old process's side: SUSPEND (stop reading every socket once its
 * buffers are empty; suspend_timeout drops the ones that do not empty)
 * and SHOW FDS (each row carries its socket with SCM_RIGHTS). The new
 * process's side: takeover_run() logs in to the old console, issues
 * SUSPEND, SHOW FDS, rebuilds listeners, clients and servers, then sends
 * SHUTDOWN and waits for the old process to go.
 *
 * Interface:
 *   tko_row_encode() / tko_row_decode()  a row <-> its 15 text columns
 *   tko_parse_data_row()                 split a DataRow body into columns
 *   admin_show_fds()                     the console's SHOW FDS
 *   admin_suspend_begin()                SUSPEND: start waiting for quiet
 *   admin_suspend_step()                 per loop turn: answer SUSPEND when
 *                                        quiet, apply suspend_timeout
 *   admin_suspend_end()                  RESUME: read and accept again
 *   takeover_run()                       the -R side
 */
#ifndef PGSWITCH_ADMIN_TAKEOVER_H
#define PGSWITCH_ADMIN_TAKEOVER_H

#include <stddef.h>

#include "conn/takeover_types.h"
#include "pool/pool_types.h"

/* Column texts of R into VALS (NULL: SQL NULL), using STORE (at least
 * TKO_STORE_MAX bytes) for the numbers and keys. */
#define TKO_STORE_MAX 256
void tko_row_encode(const tko_row_t *r, const char *vals[TKO_NCOLS],
		    char *store);
/* Fill R from column texts (NULL: SQL NULL). -1 when one is malformed or
 * does not fit. */
int tko_row_decode(const char *const vals[TKO_NCOLS], tko_row_t *r);
/* Split a DataRow body of LEN bytes into N columns, NUL-terminated copies
 * in OUT (CAP bytes); VALS[i] NULL for SQL NULL. -1 when malformed, not N
 * columns, or too large for OUT. */
int tko_parse_data_row(const uint8_t *body, size_t len, int n,
		       const char **vals, char *out, size_t cap);

void admin_show_fds(client_t *c);
void admin_suspend_begin(client_t *c);
void admin_suspend_step(pgs_ctx_t *ctx);
void admin_suspend_end(pgs_ctx_t *ctx);

/* Registers a listening socket that came over (main.c owns listeners). */
typedef int (*tko_listener_fn)(pgs_ctx_t *ctx, int fd, const char *desc);
/* 1: took over (listeners in ctx), 0: no old process to take over (boot
 * normally), -1: failed (logged; the old process was told to RESUME). */
int takeover_run(pgs_ctx_t *ctx, tko_listener_fn add_listener);

#endif
