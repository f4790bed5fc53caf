/* SPDX-License-Identifier: MIT */
/*
 * shadow.h - shadow reads of a blue/green (shadow.c): a sample of the
 * read-only statements of a database also run on the new side, results
 * compared by digest, counted in SHOW SHADOW, never returned to clients.
 * The console calls these; main.c calls shadow_reattach() after a RELOAD
 * and shadow_free() at shutdown.
 */
#ifndef PGSWITCH_SHADOW_H
#define PGSWITCH_SHADOW_H

#include <stdbool.h>
#include <stddef.h>

#include "pool/pool_types.h"
#include "proto/pgp_types.h"

#define SHADOW_REPORT_COLS 12

typedef void (*shadow_row_cb)(void *arg, const char *const *vals, int n);

/* Sample RATE (0..1; 0 stops) of DB's read-only queries onto HOST:PORT
 * (EXTRA: conninfo keywords for it). -1: refused, ERR says why. */
int shadow_set(pgs_ctx_t *ctx, const char *db, double rate, const char *host,
	       int port, const char *extra, char *err, size_t errlen);
/* True if DB has at least NEED clean shadow reads and no mismatch or
 * error; else WHY says what is missing. */
bool shadow_clean(pgs_ctx_t *ctx, const char *db, long need, char *why,
		  size_t cap);
const pgp_field_t *shadow_report_fields(void);
void shadow_report(pgs_ctx_t *ctx, const char *db, shadow_row_cb cb, void *arg);
/* The databases of a reloaded config get their taps back. */
void shadow_reattach(pgs_ctx_t *ctx);
void shadow_free(pgs_ctx_t *ctx);

#endif
