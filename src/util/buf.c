/* SPDX-License-Identifier: MIT */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define BUF_DEFAULT_MAX (1u << 20)

void buf_init(buf_t *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void buf_init_pooled(buf_t *b, size_t max, bufpool_t *pool)
{
	buf_init(b, max);
	if (pool && pool->size > 0 && (max == 0 || pool->size <= max))
		b->pool = pool;
}

static void drop_storage(buf_t *b)
{
	if (b->pooled)
		bufpool_put(b->pool, b->data);
	else
		free(b->data);
	b->data = NULL;
	b->pooled = false;
	b->len = b->off = b->cap = 0;
}

void buf_free(buf_t *b)
{
	drop_storage(b);
}

void buf_release(buf_t *b)
{
	if (b->data && b->len == b->off)
		drop_storage(b);
}

void buf_reset(buf_t *b)
{
	b->len = b->off = 0;
	b->toobig = false;
}

void buf_compact(buf_t *b)
{
	if (b->off == 0)
		return;
	memmove(b->data, b->data + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
}

/* Out of line, so that an append that fits stays one compare. */
__attribute__((noinline)) static bool grow(buf_t *b, size_t n)
{
	size_t max = b->max ? b->max : BUF_DEFAULT_MAX;
	if (n > max || n > SIZE_MAX - b->len) {
		b->toobig = true;
		return false;
	}

	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (b->len + n <= b->cap)
		return true;
	/* Reclaim consumed space before growing. */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + n <= b->cap)
			return true;
	}
	if (b->len + n > max || b->len + n < b->len) {
		b->toobig = true;
		return false;
	}
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + n)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	uint8_t *p;
	if (b->pooled) {
		/* Outgrown its block: the block goes back to the pool. */
		p = malloc(ncap);
		if (p) {
			memcpy(p, b->data, b->len);
			bufpool_put(b->pool, b->data);
			b->pooled = false;
		}
	} else {
		p = realloc(b->data, ncap);
	}
	if (!p) {
		b->toobig = true;
		return false;
	}
	b->data = p;
	b->cap = ncap;
	return true;
}

bool buf_reserve(buf_t *b, size_t n)
{
	/* cap never exceeds max, so what fits is within it. */
	if (__builtin_expect(n <= b->cap - b->len, 1))
		return true;
	/* A drained pooled buffer filling again: once per reply. */
	if (!b->data && b->pool && n <= b->pool->size) {
		b->data = bufpool_get(b->pool);
		if (!b->data) {
			b->toobig = true;
			return false;
		}
		b->pooled = true;
		b->cap = b->pool->size;
		return true;
	}
	return grow(b, n);
}

bool buf_append(buf_t *b, const void *p, size_t n)
{
	if (!buf_reserve(b, n))
		return false;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return true;
}

bool buf_append_str(buf_t *b, const char *s)
{
	return buf_append(b, s, strlen(s) + 1);
}

bool buf_printf(buf_t *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	if ((size_t)n < sizeof(tmp))
		return buf_append(b, tmp, (size_t)n);
	if (!buf_reserve(b, (size_t)n + 1))
		return false;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return true;
}

void buf_consume(buf_t *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len) {
		b->off = b->len = 0;
		if (b->pooled) {
			bufpool_put(b->pool, b->data);
			b->data = NULL;
			b->cap = 0;
			b->pooled = false;
		}
	}
}
