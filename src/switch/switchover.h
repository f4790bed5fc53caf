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

void sw_start(pgs_ctx_t *ctx);
void sw_overlay_cfg(cfg_t *cfg);
/* A RELOAD while a switch is being persisted: keep the new target in the
 * freshly loaded NCFG (the file may not say it yet). */
void sw_pin_cfg(pgs_ctx_t *ctx, cfg_t *ncfg);
/* Release the switchover state (shutdown). */
void sw_free(pgs_ctx_t *ctx);

#endif
