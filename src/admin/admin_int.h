/* SPDX-License-Identifier: MIT */
/* admin_int.h - private to src/admin: console reply helpers. */
#ifndef PGSWITCH_ADMIN_INT_H
#define PGSWITCH_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "pool/pool_types.h"
#include "proto/pgp_types.h"

/* A console client's command that completes later (client_t.admin_wait). */
typedef enum admin_wait {
	ADMIN_WAIT_NONE,
	ADMIN_WAIT_PAUSE,
	ADMIN_WAIT_CLOSE,
	ADMIN_WAIT_SWITCHOVER, /* answered by the switchover's callback */
	ADMIN_WAIT_BLUEGREEN,  /* answered by BLUEGREEN's callback */
	ADMIN_WAIT_SUSPEND,    /* answered by admin_suspend_step() */
} admin_wait_t;

const char *admin_wait_name(admin_wait_t w);
/* The console client ID, if it is still there and still parked on W: a
 * command that completes later knows its console by id, as a closed
 * client's memory may hold another by then. */
client_t *admin_waiting(pgs_ctx_t *ctx, uint64_t id, admin_wait_t w);
/* A row callback (sw_row_cb, bg_row_cb) writing to console ARG. */
void admin_put_row(void *arg, const char *const *vals, int n);

#define ADMIN_WAIT_PERIOD_MS 100

/* Check the parked commands now, and on the console's timer while any
 * is left. */
void admin_arm_waits(pgs_ctx_t *ctx);
bool admin_is_db(const char *name);

void admin_err(client_t *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void admin_ok(client_t *c, const char *tag);
/* A result set: header, rows of text (NULL = SQL NULL), then "SHOW". */
void admin_row_desc(client_t *c, const pgp_field_t *f, int n);
void admin_row(client_t *c, const char *const *vals, int n);
/* SWITCHOVER ... and SHOW SWITCHOVER [db] (sw_console.c). */
void admin_switchover(client_t *c, const char *sql);
void admin_show_switchover(client_t *c, const char *db);
/* BLUEGREEN ... and SHOW BLUEGREEN [db] (bg_console.c). */
void admin_bluegreen(client_t *c, const char *sql);
void admin_show_bluegreen(client_t *c, const char *db);
void admin_show_shadow(client_t *c, const char *db);
/* SHOW <what>; false if unknown. */
bool admin_show(client_t *c, const char *what);

#endif
