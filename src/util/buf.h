/* SPDX-License-Identifier: MIT */
/*
 * buf.h - growable byte buffer with a mandatory hard maximum.
 *
 * Zero-initialised is a valid empty buffer. Appends past `max` fail and
 * set `toobig` instead of growing (curl's dynbuf idea), so a peer can
 * never make us allocate without bound.
 *
 * A pooled buffer (buf_init_pooled) takes its storage from a bufpool
 * while it holds bytes and gives it back the moment it is drained, so an
 * idle connection's output buffer costs nothing. Storage that outgrew the
 * pool's block size is kept through drains (a stream refills it at once)
 * until buf_release().
 */
#ifndef PGSWITCH_BUF_H
#define PGSWITCH_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bufpool.h"

typedef struct buf {
	uint8_t *data;
	size_t len; /* bytes stored */
	size_t off; /* bytes already consumed from the front */
	size_t cap;
	size_t max; /* hard limit on len; 0 means 1 MiB */
	bool toobig;
	bool pooled;	 /* data is a block of pool */
	bufpool_t *pool; /* NULL: plain malloc */
} buf_t;

void buf_init(buf_t *b, size_t max);
/* As buf_init, storage from POOL up to its block size. */
void buf_init_pooled(buf_t *b, size_t max, bufpool_t *pool);
/* Give back the storage of a drained buffer (no-op with bytes pending). */
void buf_release(buf_t *b);
void buf_free(buf_t *b);
/* Make room for N more bytes; false (and toobig) past the maximum. */
bool buf_reserve(buf_t *b, size_t n);
bool buf_append(buf_t *b, const void *p, size_t n);
bool buf_append_str(buf_t *b, const char *s); /* includes the NUL */
bool buf_printf(buf_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drop N consumed bytes from the front (cheap: moves an offset). */
void buf_consume(buf_t *b, size_t n);
void buf_reset(buf_t *b);
/* Move pending bytes to the front (off = 0). Writers that remember an
 * offset into the buffer call this first: buf_reserve() compacts only
 * while off > 0, so offsets stay valid after it. */
void buf_compact(buf_t *b);

static inline size_t buf_pending(const buf_t *b)
{
	return b->len - b->off;
}

static inline const uint8_t *buf_head(const buf_t *b)
{
	return b->data + b->off;
}

#endif
