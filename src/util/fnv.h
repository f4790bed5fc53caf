/* SPDX-License-Identifier: MIT */
/* fnv.h - FNV-1a, 64 bit: a streaming hash of bytes (result digests). */
#ifndef PGSWITCH_FNV_H
#define PGSWITCH_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME  0x100000001b3ull

static inline uint64_t fnv64(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV64_PRIME;
	}
	return h;
}

#endif
