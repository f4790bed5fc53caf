/* SPDX-License-Identifier: MIT */
/*
 * mem.c - memory the connections share, and giving it back.
 *
 * An idle connection holds no buffer: reads borrow a block from a pool
 * when bytes arrive and return it once they are processed; output
 * buffers borrow one while they hold bytes (conn/io.c, util/buf.c). So
 * 10,000 idle clients cost their objects, not 10,000 buffers.
 *
 * The pools keep a hard maximum of free blocks, and each second give
 * back half of those nobody took in that second. Freed memory still counts as
 * RSS while glibc keeps it: small chunks freed in the middle of the heap are
 * not returned, only the top. After a burst of frees (many clients left),
 * malloc_trim() hands the free pages back, at most once a second. The
 * mmap threshold is pinned: glibc raises it whenever a large mmap'd
 * buffer is freed, after which big output buffers would come from the
 * heap and stay there as holes.
 */
#include <stdlib.h> /* defines __GLIBC__ on glibc */
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/pool_types.h"

#define MEM_TICK_US    1000000	      /* pool trims, at most this often */
#define MEM_MIN_KEEP   16	      /* free blocks every pool may keep */
#define MEM_KEEP_BYTES (8u << 20)     /* hard maximum kept free, per pool */
#define MEM_TRIM_BYTES (1024u * 1024) /* freed before malloc_trim() */
#define MEM_MMAP_MIN   (128 * 1024)   /* glibc's default, held fixed */

/* Client reads at least 8 KiB, server reads 32 KiB: a server's
 * reply streams through fewer, larger reads. */
static size_t client_rcap(const cfg_t *cfg)
{
	return cfg->pkt_buf > 8192 ? (size_t)cfg->pkt_buf : 8192;
}

static size_t server_rcap(const cfg_t *cfg)
{
	return cfg->pkt_buf > 32768 ? (size_t)cfg->pkt_buf : 32768;
}

static uint32_t keep_max(size_t size)
{
	size_t n = MEM_KEEP_BYTES / size;
	return n < MEM_MIN_KEEP ? MEM_MIN_KEEP : (uint32_t)n;
}

void conn_mem_init(pgs_ctx_t *ctx)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, MEM_MMAP_MIN);
	mallopt(M_TRIM_THRESHOLD, MEM_MMAP_MIN);
#endif
	conn_mem_t *m = &ctx->mem;
	size_t small = client_rcap(ctx->cfg);
	size_t large = server_rcap(ctx->cfg);
	/* Without a stack the pools still work, keeping nothing. */
	bufpool_init(&m->small, small, keep_max(small));
	bufpool_init(&m->large, large, keep_max(large));
	m->tick_us = m->trim_us = ev_now_us(ctx->loop);
}

void conn_mem_free(pgs_ctx_t *ctx)
{
	bufpool_destroy(&ctx->mem.small);
	bufpool_destroy(&ctx->mem.large);
}

void conn_mem_freed(pgs_ctx_t *ctx, size_t bytes)
{
	ctx->mem.freed_bytes += bytes;
}

bool conn_mem_due(pgs_ctx_t *ctx, int64_t now)
{
	return now - ctx->mem.tick_us >= MEM_TICK_US;
}

void conn_mem_tick(pgs_ctx_t *ctx, int64_t now)
{
	conn_mem_t *m = &ctx->mem;
	m->tick_us = now;
	bufpool_trim(&m->small, MEM_MIN_KEEP);
	bufpool_trim(&m->large, MEM_MIN_KEEP);
	uint64_t pf =
		m->small.freed * m->small.size + m->large.freed * m->large.size;
	m->freed_bytes += pf - m->pool_freed;
	m->pool_freed = pf;
	if (m->freed_bytes < MEM_TRIM_BYTES)
		return;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	m->freed_bytes = 0;
	m->trim_us = now;
	m->trims++;
}
