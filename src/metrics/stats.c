/* SPDX-License-Identifier: MIT */
#include "metrics/stats.h"

#include <string.h>

#include "util/log.h"

void stats_add(stats_counters_t *acc, const stats_counters_t *x)
{
	acc->server_assignment_count += x->server_assignment_count;
	acc->xact_count += x->xact_count;
	acc->query_count += x->query_count;
	acc->bytes_received += x->bytes_received;
	acc->bytes_sent += x->bytes_sent;
	acc->xact_time_us += x->xact_time_us;
	acc->query_time_us += x->query_time_us;
	acc->wait_time_us += x->wait_time_us;
	acc->client_parse_count += x->client_parse_count;
	acc->server_parse_count += x->server_parse_count;
	acc->bind_count += x->bind_count;
}

static uint64_t per_sec(uint64_t cur, uint64_t prev, int64_t us)
{
	return us > 0 ? (cur - prev) * 1000000 / (uint64_t)us : 0;
}

static void average(stats_t *st, int64_t us)
{
	stats_counters_t *c = &st->total, *p = &st->prev, *a = &st->avg;
	a->xact_count = per_sec(c->xact_count, p->xact_count, us);
	a->query_count = per_sec(c->query_count, p->query_count, us);
	a->bytes_received = per_sec(c->bytes_received, p->bytes_received, us);
	a->bytes_sent = per_sec(c->bytes_sent, p->bytes_sent, us);
	a->server_assignment_count = per_sec(c->server_assignment_count,
					     p->server_assignment_count, us);
	a->client_parse_count =
		per_sec(c->client_parse_count, p->client_parse_count, us);
	a->server_parse_count =
		per_sec(c->server_parse_count, p->server_parse_count, us);
	a->bind_count = per_sec(c->bind_count, p->bind_count, us);
	uint64_t dq = c->query_count - p->query_count;
	uint64_t dx = c->xact_count - p->xact_count;
	uint64_t dw = c->server_assignment_count - p->server_assignment_count;
	st->avg_query_time =
		dq ? (c->query_time_us - p->query_time_us) / dq : 0;
	st->avg_xact_time = dx ? (c->xact_time_us - p->xact_time_us) / dx : 0;
	st->avg_wait_time = dw ? (c->wait_time_us - p->wait_time_us) / dw : 0;
	st->prev = *c;
}

void stats_tick(pgs_ctx_t *ctx, int64_t now_us)
{
	long period =
		ctx->cfg->stats_period > 0 ? ctx->cfg->stats_period : 60000;
	if (ctx->last_stats_us == 0) {
		ctx->last_stats_us = now_us;
		return;
	}
	int64_t us = now_us - ctx->last_stats_us;
	if (us < period * 1000)
		return;
	ctx->last_stats_us = now_us;

	stats_t all;
	memset(&all, 0, sizeof(all));
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		all.prev.xact_count += p->stats.prev.xact_count;
		stats_add(&all.total, &p->stats.total);
		average(&p->stats, us);
		stats_add(&all.avg, &p->stats.avg);
	}
	average(&ctx->admin_stats, us);
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next) {
		pool_db_t *db = list_entry(n, pool_db_t, node);
		memset(&db->stats.total, 0, sizeof(db->stats.total));
		list_node_t *m;
		for (m = ctx->pools.next; m != &ctx->pools; m = m->next) {
			pool_t *p = list_entry(m, pool_t, node);
			if (p->db == db)
				stats_add(&db->stats.total, &p->stats.total);
		}
		average(&db->stats, us);
	}
	if (!ctx->cfg->log_stats)
		return;
	uint64_t q = all.avg.query_count, x = all.avg.xact_count;
	log_msg(&ctx->log, LOG_LOG,
		"stats: %llu xacts/s, %llu queries/s, %llu client parses/s, "
		"%llu server parses/s, %llu binds/s, in %llu B/s, out %llu "
		"B/s, xact %llu us, query %llu us, wait %llu us",
		(unsigned long long)x, (unsigned long long)q,
		(unsigned long long)all.avg.client_parse_count, 0ULL,
		(unsigned long long)all.avg.bind_count,
		(unsigned long long)all.avg.bytes_received,
		(unsigned long long)all.avg.bytes_sent, 0ULL, 0ULL, 0ULL);
}
