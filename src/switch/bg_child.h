/* SPDX-License-Identifier: MIT */
/*
 * bg_child.h - the schema copy of BLUEGREEN PREPARE as a child process
 * (pg_dump --schema-only | psql), watched from the event loop: its stderr
 * is a pipe whose end of file says the pipeline is gone, then the exit
 * status is collected without blocking. Never logs.
 */
#ifndef PGSWITCH_BG_CHILD_H
#define PGSWITCH_BG_CHILD_H

#include <stdbool.h>
#include <stddef.h>

#include "ev/ev.h"

typedef struct bg_child bg_child_t;
/* OK false: ERR says why (the child's stderr, or its exit status). */
typedef void (*bg_child_cb)(void *arg, bool ok, const char *err);

/* Copy the schema of TABLES (N of them; N = 0: the whole database) from
 * OLD_CI to NEW_CI with BINDIR's pg_dump and psql. NULL: not started, ERR
 * says why; else CB is called once, from the loop. */
bg_child_t *bg_child_schema_copy(ev_loop_t *loop, const char *bindir,
				 const char *old_ci, const char *new_ci,
				 const char *const *tables, int n,
				 bg_child_cb cb, void *arg, char *err,
				 size_t el);
/* Stop watching; a child still running is sent SIGTERM and reaped
 * (waiting at most a second: this runs at shutdown). */
void bg_child_free(bg_child_t *ch);

#endif
