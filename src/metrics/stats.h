/* SPDX-License-Identifier: MIT */
/*
 * stats.h - per-pool counters and the stats_period averages.
 *   stats_tick()  called by the janitor; every stats_period computes
 *                 per-second averages and logs PgBouncer's stats line
 *   stats_sum()   add one pool's totals into an accumulator (SHOW STATS
 *                 per database)
 */
#ifndef PGSWITCH_STATS_H
#define PGSWITCH_STATS_H

#include <stdint.h>

#include "pool/pool_types.h"

void stats_tick(pgs_ctx_t *ctx, int64_t now_us);
void stats_add(stats_counters_t *acc, const stats_counters_t *x);

#endif
