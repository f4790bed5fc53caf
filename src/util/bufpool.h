/* SPDX-License-Identifier: MIT */
/*
 * bufpool.h - a free list of same-size I/O blocks (PgBouncer's iobuf
 * cache idea).
 *
 * A connection takes a block only while bytes are in flight and gives it
 * back when they are all processed, so an idle connection holds none:
 * memory follows the traffic, not the number of connections. Taking and
 * giving back is a stack pop and push, every transaction; malloc() runs
 * only when the stack is empty, free() only past its hard maximum, and
 * bufpool_trim() (once a second) halves a surplus the period did not
 * touch, so a burst's blocks drain away within seconds.
 */
#ifndef PGSWITCH_BUFPOOL_H
#define PGSWITCH_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct bufpool {
	void **free;	   /* kept free blocks, a stack */
	uint32_t nfree;	   /* on the stack */
	uint32_t keep_max; /* hard maximum of kept free blocks */
	uint32_t low;	   /* fewest on the stack since the last trim */
	uint32_t alive;	   /* allocated: handed out + kept */
	size_t size;	   /* of every block */
	uint64_t freed;	   /* blocks given back to malloc, ever */
} bufpool_t;

/* Blocks of SIZE bytes, at most KEEP_MAX of them kept free. -1 when the
 * stack cannot be allocated (the pool then works without keeping any). */
int bufpool_init(bufpool_t *p, size_t size, uint32_t keep_max);
/* Free every kept block; blocks still handed out stay the caller's. */
void bufpool_destroy(bufpool_t *p);
/* Free half of the kept blocks no one took since the last trim (at
 * least MIN_KEEP stay), then start a new period. Returns how many. */
uint32_t bufpool_trim(bufpool_t *p, uint32_t min_keep);

static inline uint32_t bufpool_used(const bufpool_t *p)
{
	return p->alive - p->nfree;
}

/* The slow halves: an empty stack, a full one. */
void *bufpool_get_new(bufpool_t *p);
void bufpool_put_full(bufpool_t *p, void *b);

/* A block of p->size bytes (contents undefined), or NULL. */
static inline void *bufpool_get(bufpool_t *p)
{
	if (__builtin_expect(p->nfree <= p->low, 0))
		return bufpool_get_new(p);
	return p->free[--p->nfree];
}

/* Give back a block bufpool_get() returned. */
static inline void bufpool_put(bufpool_t *p, void *b)
{
	if (__builtin_expect(p->nfree >= p->keep_max, 0)) {
		bufpool_put_full(p, b);
		return;
	}
	p->free[p->nfree++] = b;
}

#endif
