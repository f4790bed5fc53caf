/* SPDX-License-Identifier: MIT */
/*
 * bluegreen.h - the logical (blue/green) switchover, step 1: PREPARE a
 * database's new side as a logical replica of its current target, and
 * report its sync state. The console calls these (src/admin/bg_console.c);
 * main.c calls bg_free() at shutdown.
 */
#ifndef PGSWITCH_BLUEGREEN_H
#define PGSWITCH_BLUEGREEN_H

#include <stdbool.h>
#include <stddef.h>

#include "pool/pool_types.h"
#include "proto/pgp_types.h"
#include "switch/bg_types.h"

/* How PREPARE ended: OK, or MSG names the blockers. */
typedef void (*bg_done_cb)(pgs_ctx_t *ctx, void *arg, bool ok, const char *msg);
/* One SHOW BLUEGREEN row: N values, NULL for SQL NULL. */
typedef void (*bg_row_cb)(void *arg, const char *const *vals, int n);

#define BG_REPORT_COLS 10

/* The options PREPARE has without WITH. */
void bg_opts_default(bg_opts_t *o);
/* "WITH (k = 'v', ...)" (or nothing) into O; false with ERR set. */
bool bg_parse_with(const char *p, bg_opts_t *o, char *err, size_t el);
/* BLUEGREEN db PREPARE TO 'conninfo': 0: started, DONE is called when it
 * ends; -1: refused at once, ERR says why. */
int bg_prepare(pgs_ctx_t *ctx, const char *dbname, const char *conninfo,
	       const bg_opts_t *o, bg_done_cb done, void *arg, char *err,
	       size_t errlen);
/* SHOW BLUEGREEN's columns, BG_REPORT_COLS of them. */
const pgp_field_t *bg_report_fields(void);
/* SHOW BLUEGREEN [db]: the state the last poll saw, a row per table. */
void bg_report(pgs_ctx_t *ctx, const char *db, bg_row_cb cb, void *arg);
/* DB's PREPARE (its sides and names): false if there is none. */
bool bg_sides(pgs_ctx_t *ctx, const char *db, bg_sides_t *out);
/* Forget DB's PREPARE (FINISH dropped what it made). */
void bg_forget(pgs_ctx_t *ctx, const char *db);
/* BLUEGREEN db FINISH ['conninfo']: drop pgswitch's publications,
 * subscriptions and slots of DB on both sides (the rollback window
 * ends). CONNINFO names the other side when pgswitch knows none. 0:
 * started, DONE is called with a summary; -1: refused, ERR says why. */
int bg_finish(pgs_ctx_t *ctx, const char *db, const char *conninfo,
	      bg_done_cb done, void *arg, char *err, size_t errlen);

/* Release every blue/green (shutdown); the publication and subscription
 * stay, a later PREPARE adopts them. */
void bg_free(pgs_ctx_t *ctx);

#endif
