/* SPDX-License-Identifier: MIT */
/* sw_persist.h - switchover state on disk (see sw_persist.c). */
#ifndef PGSWITCH_SW_PERSIST_H
#define PGSWITCH_SW_PERSIST_H

#include <stddef.h>

#include "config/cfg_types.h"
#include "switch/sw_types.h"

/* Persist DB's new target HOST:PORT; OUT says where (or why not). */
int sw_persist_target(const cfg_t *cfg, const char *db, const char *host,
		      int port, char *out, size_t cap);

/* The switchover_state_file entries (none if it is not set). */
int sw_overlay_load(const cfg_t *cfg, sw_overlay_t *o, int max);

/* The fence journal: "<switchover_state_file or config file>.fence". */
void sw_journal_path(const cfg_t *cfg, char *out, size_t cap);
int sw_journal_load(const cfg_t *cfg, sw_fence_rec_t *recs, int max);
/* Add or replace REC (by database). */
int sw_journal_put(const cfg_t *cfg, const sw_fence_rec_t *rec, char *err,
		   size_t errlen);
int sw_journal_del(const cfg_t *cfg, const char *db, char *err, size_t errlen);

#endif
