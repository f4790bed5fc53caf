/* SPDX-License-Identifier: MIT */
/*
 * swc.h - asynchronous control connections for the switchover: one
 * persistent libpq connection per server, driven by the event loop, so
 * polling an LSN costs one round trip and no process spawn.
 *
 * Interface:
 *   swc_open()   start connecting; CB gets (res=NULL, err=NULL) once ready
 *   swc_query()  send one simple query; CB gets the result (or an error)
 *   swc_close()  close (safe at any time, also from inside a callback:
 *                the free is deferred to the loop's next turn)
 * Never logs; errors come back as strings.
 */
#ifndef PGSWITCH_SWC_H
#define PGSWITCH_SWC_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "ev/ev.h"

typedef struct swc swc_t;
/* RES is owned by swc (cleared after the callback); ERR non-NULL on
 * failure. */
typedef void (*swc_cb)(swc_t *c, PGresult *res, const char *err, void *arg);

swc_t *swc_open(ev_loop_t *loop, const char *conninfo, swc_cb cb, void *arg);
bool swc_query(swc_t *c, const char *sql, swc_cb cb, void *arg);
bool swc_busy(const swc_t *c);
void swc_close(swc_t *c);
/* First column of the first row as text, or NULL. */
const char *swc_value(PGresult *res, int row, int col);

#endif
