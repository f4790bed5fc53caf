/* SPDX-License-Identifier: MIT */
/*
 * switchover.h - the SWITCHOVER state machine (see switchover.c for the
 * diagram). The pooler core calls these hooks:
 *   sw_holds_client()   a frozen pool's waiting client is held by the
 *                       switchover (its own deadline applies, not
 *                       query_wait_timeout)
 *   sw_tick()           janitor pass: deadlines, polling
 *   sw_overlay_cfg()    after a (re)load: switchover_state_file overrides
 *                       the [databases] targets of the new config
 */
#ifndef PGSWITCH_SWITCHOVER_H
#define PGSWITCH_SWITCHOVER_H

#include <stdbool.h>

#include "pool/pool_types.h"

bool sw_holds_client(pgs_ctx_t *ctx, const client_t *c);
void sw_tick(pgs_ctx_t *ctx);
void sw_overlay_cfg(cfg_t *cfg);
/* A RELOAD while a switch is being persisted: keep the new target in the
 * freshly loaded NCFG (the file may not say it yet). */
void sw_pin_cfg(pgs_ctx_t *ctx, cfg_t *ncfg);
/* Release the switchover state (shutdown). */
void sw_free(pgs_ctx_t *ctx);

#endif
