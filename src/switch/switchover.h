/* SPDX-License-Identifier: MIT */
/*
 * switchover.h - the SWITCHOVER state machine (see switchover.c for the
 * diagram). main.c calls these; the pooler core calls none of them (a
 * frozen database's waiting clients are held on the switchover's own
 * deadline, which is a timer of its own):
 *   sw_start()          at start: read the fence journal, report and
 *                       watch the fences a stopped pgswitch left
 *   sw_overlay_cfg()    after a (re)load: switchover_state_file overrides
 *                       the [databases] targets of the new config
 */
#ifndef PGSWITCH_SWITCHOVER_H
#define PGSWITCH_SWITCHOVER_H

#include <stdbool.h>

#include "pool/pool_types.h"
#include "proto/pgp_types.h"
#include "switch/sw_types.h"

/* How a job ended, for whoever started it (the console): OK, or MSG
 * says why not ("switchover db result: detail"). */
typedef void (*sw_done_cb)(pgs_ctx_t *ctx, void *arg, bool ok, const char *msg);
/* One SHOW SWITCHOVER row: N values, NULL for SQL NULL. */
typedef void (*sw_row_cb)(void *arg, const char *const *vals, int n);

#define SW_REPORT_COLS 15

/* Start moving DBNAME to the server CONNINFO names. 0: started, DONE is
 * called when it ends; -1: refused, ERR says why. */
int sw_begin(pgs_ctx_t *ctx, const char *dbname, const char *conninfo,
	     const sw_opts_t *o, sw_done_cb done, void *arg, char *err,
	     size_t errlen);
/* SWITCHOVER db ROLLBACK: the last logical switch of DB (this process
 * ran it), done backwards over its reverse subscription. As sw_begin. */
int sw_rollback(pgs_ctx_t *ctx, const char *dbname, const sw_opts_t *o,
		sw_done_cb done, void *arg, char *err, size_t errlen);
/* The two sides of DB's last logical switch (this process ran it):
 * false if there was none. */
bool sw_last_logical(pgs_ctx_t *ctx, const char *db, char *a_host, size_t hcap,
		     int *a_port, char *b_host, int *b_port);
/* SWITCHOVER db ABORT. 0: the running job was aborted (it reports
 * through its own DONE); 1: a lift of a fence left behind started, DONE
 * is called when it ends; -1: refused, ERR says why. */
int sw_abort(pgs_ctx_t *ctx, const char *db, sw_done_cb done, void *arg,
	     char *err, size_t errlen);
/* SHOW SWITCHOVER's columns, SW_REPORT_COLS of them. */
const pgp_field_t *sw_report_fields(void);
/* The running or last job's row. */
void sw_report_job(pgs_ctx_t *ctx, sw_row_cb cb, void *arg);
/* SHOW SWITCHOVER [db]: that row, fences left behind, and state-file
 * targets the config does not agree with. */
void sw_report(pgs_ctx_t *ctx, const char *db, sw_row_cb cb, void *arg);

void sw_start(pgs_ctx_t *ctx);
void sw_overlay_cfg(cfg_t *cfg);
/* A RELOAD while a switch is being persisted: keep the new target in the
 * freshly loaded NCFG (the file may not say it yet). */
void sw_pin_cfg(pgs_ctx_t *ctx, cfg_t *ncfg);
/* Release the switchover state (shutdown). */
void sw_free(pgs_ctx_t *ctx);

#endif
