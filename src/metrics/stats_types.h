/* SPDX-License-Identifier: MIT */
#ifndef PGSWITCH_STATS_TYPES_H
#define PGSWITCH_STATS_TYPES_H

#include <stdint.h>

/* Counters updated on the data path; SHOW STATS reads them. */
typedef struct stats_counters {
	uint64_t server_assignment_count;
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t bytes_received;
	uint64_t bytes_sent;
	uint64_t xact_time_us;
	uint64_t query_time_us;
	uint64_t wait_time_us;
	uint64_t client_parse_count;
	uint64_t server_parse_count;
	uint64_t bind_count;
} stats_counters_t;

typedef struct stats {
	stats_counters_t total;
	stats_counters_t prev;	 /* totals at the last stats_period tick */
	stats_counters_t avg;	 /* per-second averages of the last period */
	uint64_t avg_query_time; /* us per query in the last period */
	uint64_t avg_xact_time;
	uint64_t avg_wait_time;
} stats_t;

#endif
