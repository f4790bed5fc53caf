/* SPDX-License-Identifier: MIT */
#include "util/bufpool.h"

#include <stdlib.h>
#include <string.h>

int bufpool_init(bufpool_t *p, size_t size, uint32_t keep_max)
{
	memset(p, 0, sizeof(*p));
	p->size = size;
	p->free = keep_max ? calloc(keep_max, sizeof(*p->free)) : NULL;
	if (!p->free)
		return keep_max ? -1 : 0;
	p->keep_max = keep_max;
	return 0;
}

/* The fast get tests nfree against the low-water mark, so it has one
 * compare for both: only a new low (or an empty stack) comes here. */
void *bufpool_get_new(bufpool_t *p)
{
	if (p->nfree > 0) {
		p->low = p->nfree - 1;
		return p->free[--p->nfree];
	}
	void *b = malloc(p->size);
	if (b)
		p->alive++;
	return b;
}

void bufpool_put_full(bufpool_t *p, void *b)
{
	free(b);
	p->alive--;
	p->freed++;
}

void bufpool_destroy(bufpool_t *p)
{
	while (p->nfree > 0) {
		free(p->free[--p->nfree]);
		p->alive--;
	}
	free(p->free);
	p->free = NULL;
	p->keep_max = 0;
	p->low = 0;
}

uint32_t bufpool_trim(bufpool_t *p, uint32_t min_keep)
{
	/* The LOW blocks at the bottom of the stack sat unused all period:
	 * give half of them back (halving, so a steady load that touches
	 * them now and then does not pay a malloc each second). */
	uint32_t n = p->low / 2;
	if (p->nfree - n < min_keep)
		n = p->nfree > min_keep ? p->nfree - min_keep : 0;
	/* From the bottom: those are the blocks no cache has seen lately. */
	for (uint32_t i = 0; i < n; i++)
		free(p->free[i]);
	memmove(p->free, p->free + n, (p->nfree - n) * sizeof(*p->free));
	p->nfree -= n;
	p->alive -= n;
	p->freed += n;
	p->low = p->nfree;
	return n;
}
