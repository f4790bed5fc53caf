/* SPDX-License-Identifier: MIT */
/* sw_persist.h - switchover state on disk (see sw_persist.c). */
#ifndef PGSWITCH_SW_PERSIST_H
#define PGSWITCH_SW_PERSIST_H

#include <stddef.h>

#include "config/cfg_types.h"
#include "switch/sw_types.h"

/*
 * Persisting DB's new target HOST:PORT, as a self-contained request:
 * sw_persist_init() copies what it needs out of CFG (returns -1 with OUT
 * set if there is nowhere to write), sw_persist_run() writes (the line of
 * the file that defines DB, or the switchover_state_file overlay) and,
 * with drop_journal, removes DB's fence record. sw_persist_start() runs
 * it on a detached helper thread; poll sw_persist_done(), then free W.
 */
int sw_persist_init(const cfg_t *cfg, const char *db, const char *host,
		    int port, sw_persist_t *w);
void sw_persist_run(sw_persist_t *w);
int sw_persist_start(sw_persist_t *w);
bool sw_persist_done(sw_persist_t *w);

/* The fence journal: "<switchover_state_file or config file>.fence". */
void sw_journal_path(const cfg_t *cfg, char *out, size_t cap);
int sw_journal_load(const cfg_t *cfg, sw_fence_rec_t *recs, int max);
/* Add or replace REC (by database). */
int sw_journal_put(const cfg_t *cfg, const sw_fence_rec_t *rec, char *err,
		   size_t errlen);
int sw_journal_del(const cfg_t *cfg, const char *db, char *err, size_t errlen);

#endif
